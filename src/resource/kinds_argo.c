/* Argo kinds: Workflow, WorkflowTemplate, CronWorkflow (argo-workflows) and
 * Application (argo-cd), apiVersion argoproj.io/v1alpha1.
 *
 * What is checked is what Argo itself rejects at submit time and a reader
 * can see in the file: templates with unique names and exactly one type, an
 * entrypoint (and onExit) naming a template, dag tasks and steps naming a
 * template (or carrying templateRef/inline), dag dependencies naming tasks of
 * the same dag. Expressions (`when`, `depends`), parameter plumbing and
 * cycles are the workflow engine's to check (specs/argo-workflows.md).
 */
#include "resource_int.h"

#include "skiff/err.h"

#include <stdio.h>
#include <string.h>

/* A template has exactly one of these (Argo: "template type unspecified"). */
static const char *const template_types[] = {
    "container", "script", "dag", "steps", "resource", "suspend",
    "http", "containerSet", "data", "plugin", NULL,
};

/* `name` is a template of this spec. `templates` is NULL when the spec
 * takes templates from a workflowTemplateRef too: then any name may exist. */
static bool known_template(const json_t *templates, const char *name)
{
    return !templates || resource__find_named(templates, name) >= 0;
}

/* A dag task or a step calls a template by name, by templateRef or inline. */
static int check_call(const json_t *call, const char *ptr, const json_t *templates,
                      struct skiff_validation *v)
{
    char p[RESOURCE__PTR_MAX];
    const json_t *tmpl, *ref;
    int rc;

    if ((rc = resource__field(v, call, ptr, "template", RT_STRING, RF_NONEMPTY, &tmpl)) ||
        (rc = resource__field(v, call, ptr, "templateRef", RT_OBJECT, 0, &ref)))
        return rc;
    if (ref) {
        resource__ptr(p, ptr, "templateRef");
        if ((rc = resource__field(v, ref, p, "name", RT_STRING, RF_REQUIRED | RF_NONEMPTY, NULL)))
            return rc;
        return resource__field(v, ref, p, "template", RT_STRING, RF_REQUIRED | RF_NONEMPTY, NULL);
    }
    if (json_object_get(call, "inline"))
        return resource__field(v, call, ptr, "inline", RT_OBJECT, 0, NULL);
    resource__ptr(p, ptr, "template");
    if (!tmpl)
        return skiff_validation_fail(v, p, SKIFF_EINVAL,
                                     "missing required field (template, templateRef or inline)");
    if (!known_template(templates, json_string_value(tmpl)))
        return skiff_validation_fail(v, p, SKIFF_EINVAL, "unknown template \"%s\"",
                                     json_string_value(tmpl));
    return 0;
}

static int check_dag(const json_t *dag, const char *ptr, const json_t *templates,
                     struct skiff_validation *v)
{
    char tp[RESOURCE__PTR_MAX], p[RESOURCE__PTR_MAX], dp[RESOURCE__PTR_MAX];
    const json_t *tasks, *task, *deps, *dep;
    size_t i, j;
    int rc;

    if ((rc = resource__field(v, dag, ptr, "tasks", RT_ARRAY, RF_REQUIRED | RF_NONEMPTY,
                              &tasks)))
        return rc;
    resource__ptr(tp, ptr, "tasks");
    json_array_foreach(tasks, i, task) {
        const json_t *name;
        resource__ptr_idx(p, tp, i);
        if (!json_is_object(task))
            return skiff_validation_fail(v, p, SKIFF_EINVAL, "a dag task must be an object");
        if ((rc = resource__field(v, task, p, "name", RT_STRING, RF_REQUIRED | RF_NONEMPTY,
                                  &name)))
            return rc;
        if (resource__find_named(tasks, json_string_value(name)) != (long)i)
            return skiff_validation_fail(v, resource__ptr(dp, p, "name"), SKIFF_EINVAL,
                                         "duplicate task name \"%s\"", json_string_value(name));
        if ((rc = check_call(task, p, templates, v)) ||
            (rc = resource__string_list(v, task, p, "dependencies", 0)) ||
            (rc = resource__field(v, task, p, "depends", RT_STRING, 0, NULL)))
            return rc;
        if ((deps = json_object_get(task, "dependencies"))) {
            json_array_foreach(deps, j, dep) {
                if (resource__find_named(tasks, json_string_value(dep)) >= 0)
                    continue;
                resource__ptr(dp, p, "dependencies");
                return skiff_validation_fail(v, resource__ptr_idx(tp, dp, j), SKIFF_EINVAL,
                                             "unknown task \"%s\" (not a task of this dag)",
                                             json_string_value(dep));
            }
        }
    }
    return 0;
}

/* steps: a list of groups, each a list of steps run in parallel. */
static int check_steps(const json_t *groups, const char *ptr, const json_t *templates,
                       struct skiff_validation *v)
{
    char gp[RESOURCE__PTR_MAX], p[RESOURCE__PTR_MAX];
    const json_t *group, *step;
    size_t i, j;
    int rc;

    json_array_foreach(groups, i, group) {
        resource__ptr_idx(gp, ptr, i);
        if (!json_is_array(group))
            return skiff_validation_fail(
                v, gp, SKIFF_EINVAL, "a step group must be a list of steps (\"- - name: ...\")");
        json_array_foreach(group, j, step) {
            resource__ptr_idx(p, gp, j);
            if (!json_is_object(step))
                return skiff_validation_fail(v, p, SKIFF_EINVAL, "a step must be an object");
            if ((rc = resource__field(v, step, p, "name", RT_STRING, RF_REQUIRED | RF_NONEMPTY,
                                      NULL)) ||
                (rc = check_call(step, p, templates, v)))
                return rc;
        }
    }
    return 0;
}

/* `known` is the list names are checked against (NULL: not checkable). */
static int check_template(const json_t *t, size_t i, const char *ptr, const json_t *templates,
                          const json_t *known, struct skiff_validation *v)
{
    char p[RESOURCE__PTR_MAX], np[RESOURCE__PTR_MAX];
    const json_t *name, *body;
    const char *type = NULL;
    int rc;

    if (!json_is_object(t))
        return skiff_validation_fail(v, ptr, SKIFF_EINVAL, "a template must be an object");
    if ((rc = resource__field(v, t, ptr, "name", RT_STRING, RF_REQUIRED | RF_NONEMPTY, &name)))
        return rc;
    if (resource__find_named(templates, json_string_value(name)) != (long)i)
        return skiff_validation_fail(v, resource__ptr(np, ptr, "name"), SKIFF_EINVAL,
                                     "duplicate template name \"%s\"", json_string_value(name));
    for (size_t k = 0; template_types[k]; k++) {
        if (!json_object_get(t, template_types[k]))
            continue;
        if (type)
            return skiff_validation_fail(v, resource__ptr(p, ptr, template_types[k]),
                                         SKIFF_EINVAL,
                                         "template \"%s\" has more than one type (%s and %s)",
                                         json_string_value(name), type, template_types[k]);
        type = template_types[k];
    }
    if (!type)
        return skiff_validation_fail(v, ptr, SKIFF_EINVAL,
                                     "template \"%s\" has no type: give it one of container, "
                                     "script, dag, steps, resource, suspend, http, "
                                     "containerSet, data or plugin",
                                     json_string_value(name));
    if (strcmp(type, "dag") == 0) {
        if ((rc = resource__field(v, t, ptr, "dag", RT_OBJECT, 0, &body)))
            return rc;
        return check_dag(body, resource__ptr(p, ptr, "dag"), known, v);
    }
    if (strcmp(type, "steps") == 0) {
        if ((rc = resource__field(v, t, ptr, "steps", RT_ARRAY, 0, &body)))
            return rc;
        return check_steps(body, resource__ptr(p, ptr, "steps"), known, v);
    }
    if (strcmp(type, "container") == 0 || strcmp(type, "script") == 0) {
        if ((rc = resource__field(v, t, ptr, type, RT_OBJECT, 0, &body)))
            return rc;
        return resource__field(v, body, resource__ptr(p, ptr, type), "image", RT_STRING, 0,
                               NULL);
    }
    if (strcmp(type, "resource") == 0) {
        if ((rc = resource__field(v, t, ptr, "resource", RT_OBJECT, 0, &body)))
            return rc;
        return resource__field(v, body, resource__ptr(p, ptr, "resource"), "action", RT_STRING,
                               RF_REQUIRED | RF_NONEMPTY, NULL);
    }
    return 0;
}

/* spec.arguments.parameters: each needs a name. */
static int check_arguments(const json_t *spec, const char *ptr, struct skiff_validation *v)
{
    char ap[RESOURCE__PTR_MAX], pp[RESOURCE__PTR_MAX], p[RESOURCE__PTR_MAX];
    const json_t *args, *params, *it;
    size_t i;
    int rc;

    if ((rc = resource__field(v, spec, ptr, "arguments", RT_OBJECT, 0, &args)) || !args)
        return rc;
    resource__ptr(ap, ptr, "arguments");
    if ((rc = resource__field(v, args, ap, "parameters", RT_ARRAY, 0, &params)) || !params)
        return rc;
    resource__ptr(pp, ap, "parameters");
    json_array_foreach(params, i, it) {
        resource__ptr_idx(p, pp, i);
        if (!json_is_object(it))
            return skiff_validation_fail(v, p, SKIFF_EINVAL, "a parameter must be an object");
        if ((rc = resource__field(v, it, p, "name", RT_STRING, RF_REQUIRED | RF_NONEMPTY, NULL)))
            return rc;
    }
    return 0;
}

/* A WorkflowSpec at `ptr` (spec, or a CronWorkflow's spec.workflowSpec). */
static int check_workflow_spec(const json_t *spec, const char *ptr, bool need_entrypoint,
                               struct skiff_validation *v)
{
    char p[RESOURCE__PTR_MAX], tp[RESOURCE__PTR_MAX];
    const json_t *ref, *templates, *known, *t, *entry, *on_exit;
    size_t i;
    int rc;

    if ((rc = resource__field(v, spec, ptr, "workflowTemplateRef", RT_OBJECT, 0, &ref)))
        return rc;
    if (ref && (rc = resource__field(v, ref, resource__ptr(p, ptr, "workflowTemplateRef"), "name",
                                     RT_STRING, RF_REQUIRED | RF_NONEMPTY, NULL)))
        return rc;
    if ((rc = resource__field(v, spec, ptr, "templates", RT_ARRAY,
                              ref ? 0 : RF_REQUIRED | RF_NONEMPTY, &templates)))
        return rc;
    /* with a workflowTemplateRef, names may refer to the referenced templates */
    known = ref ? NULL : templates;
    resource__ptr(tp, ptr, "templates");
    if (templates) {
        json_array_foreach(templates, i, t) {
            if ((rc = check_template(t, i, resource__ptr_idx(p, tp, i), templates, known, v)))
                return rc;
        }
    }
    if ((rc = resource__field(v, spec, ptr, "entrypoint", RT_STRING,
                              need_entrypoint && !ref ? RF_REQUIRED | RF_NONEMPTY : RF_NONEMPTY,
                              &entry)) ||
        (rc = resource__field(v, spec, ptr, "onExit", RT_STRING, RF_NONEMPTY, &on_exit)))
        return rc;
    if (entry && !known_template(known, json_string_value(entry)))
        return skiff_validation_fail(v, resource__ptr(p, ptr, "entrypoint"), SKIFF_EINVAL,
                                     "unknown template \"%s\"", json_string_value(entry));
    if (on_exit && !known_template(known, json_string_value(on_exit)))
        return skiff_validation_fail(v, resource__ptr(p, ptr, "onExit"), SKIFF_EINVAL,
                                     "unknown template \"%s\"", json_string_value(on_exit));
    return check_arguments(spec, ptr, v);
}

int resource__validate_workflow(const json_t *obj, struct skiff_validation *v)
{
    return check_workflow_spec(json_object_get(obj, "spec"), "/spec", true, v);
}

int resource__validate_workflow_template(const json_t *obj, struct skiff_validation *v)
{
    return check_workflow_spec(json_object_get(obj, "spec"), "/spec", false, v);
}

int resource__validate_cron_workflow(const json_t *obj, struct skiff_validation *v)
{
    const json_t *spec = json_object_get(obj, "spec"), *schedules, *schedule, *ws;
    int rc;

    if ((rc = resource__string_list(v, spec, "/spec", "schedules", 0)) ||
        (rc = resource__field(v, spec, "/spec", "schedules", RT_ARRAY, 0, &schedules)) ||
        (rc = resource__field(v, spec, "/spec", "schedule", RT_STRING, RF_NONEMPTY, &schedule)))
        return rc;
    if ((!schedules || json_array_size(schedules) == 0) && !schedule)
        return skiff_validation_fail(v, "/spec/schedules", SKIFF_EINVAL,
                                     "missing required field (schedules: a list of cron "
                                     "expressions)");
    if (schedule)
        skiff_validation_warn(v, "/spec/schedule",
                              "Argo Workflows v4.0 removed schedule; use schedules: ['%s']",
                              json_string_value(schedule));
    if ((rc = resource__field(v, spec, "/spec", "timezone", RT_STRING, 0, NULL)) ||
        (rc = resource__field(v, spec, "/spec", "workflowSpec", RT_OBJECT, RF_REQUIRED, &ws)))
        return rc;
    return check_workflow_spec(ws, "/spec/workflowSpec", true, v);
}

/* Argo CD: project, a source (or sources) with a repoURL, and a destination
 * by server or by name (one, not both). */
static int check_source(const json_t *src, const char *ptr, struct skiff_validation *v)
{
    if (!json_is_object(src))
        return skiff_validation_fail(v, ptr, SKIFF_EINVAL, "a source must be an object");
    return resource__field(v, src, ptr, "repoURL", RT_STRING, RF_REQUIRED | RF_NONEMPTY, NULL);
}

int resource__validate_application(const json_t *obj, struct skiff_validation *v)
{
    char p[RESOURCE__PTR_MAX];
    const json_t *spec = json_object_get(obj, "spec"), *src, *srcs, *dest, *server, *name, *it;
    size_t i;
    int rc;

    if ((rc = resource__field(v, spec, "/spec", "project", RT_STRING, RF_REQUIRED | RF_NONEMPTY,
                              NULL)) ||
        (rc = resource__field(v, spec, "/spec", "source", RT_OBJECT, 0, &src)) ||
        (rc = resource__field(v, spec, "/spec", "sources", RT_ARRAY, 0, &srcs)))
        return rc;
    if (!src && (!srcs || json_array_size(srcs) == 0))
        return skiff_validation_fail(v, "/spec/source", SKIFF_EINVAL,
                                     "missing required field (source, or sources)");
    if (src && (rc = check_source(src, "/spec/source", v)))
        return rc;
    if (srcs) {
        json_array_foreach(srcs, i, it) {
            if ((rc = check_source(it, resource__ptr_idx(p, "/spec/sources", i), v)))
                return rc;
        }
    }
    if ((rc = resource__field(v, spec, "/spec", "destination", RT_OBJECT, RF_REQUIRED, &dest)) ||
        (rc = resource__field(v, dest, "/spec/destination", "server", RT_STRING, RF_NONEMPTY,
                              &server)) ||
        (rc = resource__field(v, dest, "/spec/destination", "name", RT_STRING, RF_NONEMPTY,
                              &name)) ||
        (rc = resource__field(v, dest, "/spec/destination", "namespace", RT_STRING, 0, NULL)))
        return rc;
    if (!server && !name)
        return skiff_validation_fail(v, "/spec/destination/server", SKIFF_EINVAL,
                                     "missing required field (server, or name)");
    if (server && name)
        return skiff_validation_fail(v, "/spec/destination/name", SKIFF_EINVAL,
                                     "set server or name, not both");
    return 0;
}
