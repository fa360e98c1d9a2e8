/* WorkflowTemplates: `spec.workflowTemplateRef` and `templateRef` resolved
 * before validation, by copying what they name into the Workflow (spec
 * §1.1). The engine then sees one self-contained Workflow.
 *
 * - workflowTemplateRef {name}: the WorkflowTemplate's spec, with every
 *   field the Workflow sets overriding it, and spec.arguments.parameters
 *   merged by name (the Workflow's win).
 * - templateRef {name, template} in a dag task or a step: the template is
 *   copied in as "<WorkflowTemplate>/<template>" and the call rewritten to
 *   `template: "<WorkflowTemplate>/<template>"`. Inside a copied template,
 *   `template: x` means the WorkflowTemplate's own x, copied in the same way
 *   (as Argo resolves it in the template's owner).
 */
#include "workflow_int.h"

#include "skiff/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCOPE_SEP "/"

static const json_t *find_wt(const json_t *const *wts, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++) {
        const char *k = json_string_value(json_object_get(wts[i], "kind"));
        const char *nm = json_string_value(
            json_object_get(json_object_get(wts[i], "metadata"), "name"));
        if (k && nm && strcmp(k, "WorkflowTemplate") == 0 && strcmp(nm, name) == 0)
            return wts[i];
    }
    return NULL;
}

static const json_t *find_template(const json_t *spec, const char *name)
{
    const json_t *t;
    size_t i;
    json_array_foreach(json_object_get(spec, "templates"), i, t) {
        const char *n = json_string_value(json_object_get(t, "name"));
        if (n && name && strcmp(n, name) == 0)
            return t;
    }
    return NULL;
}

/* Copies template `tname` of WorkflowTemplate `wt` into templates as
 * "<wt>/<tname>" unless already there; 0 or SKIFF_EINVAL / SKIFF_ENOTFOUND. */
static int import(json_t *templates, const json_t *const *wts, size_t n, const char *wt,
                  const char *tname, char *full, size_t len, struct skiff_err *err)
{
    const json_t *w = find_wt(wts, n, wt), *t;
    json_t *copy;

    if (!w)
        return skiff_err_set(err, SKIFF_ENOTFOUND,
                             "WorkflowTemplate '%s' not found (give its file with -f)",
                             wt ? wt : "");
    if (!(t = find_template(json_object_get(w, "spec"), tname)))
        return skiff_err_set(err, SKIFF_ENOTFOUND, "template '%s' not found in "
                                                   "WorkflowTemplate '%s'",
                             tname ? tname : "", wt);
    snprintf(full, len, "%s" SCOPE_SEP "%s", wt, tname);
    {
        const json_t *it;
        size_t i;
        json_array_foreach(templates, i, it) {
            const char *nm = json_string_value(json_object_get(it, "name"));
            if (nm && strcmp(nm, full) == 0)
                return 0;
        }
    }
    if (!(copy = json_deep_copy(t)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    json_object_set_new(copy, "name", json_string(full));
    /* remembers the owner for the calls inside it */
    json_object_set_new(copy, "x-skiff-scope", json_string(wt));
    return json_array_append_new(templates, copy) ? skiff_err_set(err, SKIFF_ENOMEM,
                                                                  "out of memory")
                                                  : 0;
}

/* Rewrites one call (a dag task or a step) of a template whose owner is
 * `scope` (NULL: the Workflow itself). */
static int rewrite_call(json_t *call, const char *scope, json_t *templates,
                        const json_t *const *wts, size_t n, struct skiff_err *err)
{
    const json_t *ref = json_object_get(call, "templateRef");
    char full[600];
    int rc;

    if (ref) {
        if ((rc = import(templates, wts, n, json_string_value(json_object_get(ref, "name")),
                         json_string_value(json_object_get(ref, "template")), full,
                         sizeof full, err)))
            return rc;
        json_object_del(call, "templateRef");
        json_object_set_new(call, "template", json_string(full));
        return 0;
    }
    if (scope && json_is_string(json_object_get(call, "template"))) {
        if ((rc = import(templates, wts, n, scope,
                         json_string_value(json_object_get(call, "template")), full,
                         sizeof full, err)))
            return rc;
        json_object_set_new(call, "template", json_string(full));
    }
    return 0;
}

static int merge_arguments(json_t *spec, const json_t *mine)
{
    json_t *args = json_object_get(spec, "arguments");
    json_t *params;
    const json_t *p;
    size_t i;

    if (!json_is_object(args)) {
        args = json_object();
        json_object_set_new(spec, "arguments", args);
    }
    params = json_object_get(args, "parameters");
    if (!json_is_array(params)) {
        params = json_array();
        json_object_set_new(args, "parameters", params);
    }
    json_array_foreach(json_object_get(mine, "parameters"), i, p) {
        const char *name = json_string_value(json_object_get(p, "name"));
        const json_t *q;
        size_t j;
        bool replaced = false;
        json_array_foreach(params, j, q) {
            const char *qn = json_string_value(json_object_get(q, "name"));
            if (name && qn && strcmp(name, qn) == 0) {
                json_array_set_new(params, j, json_deep_copy(p));
                replaced = true;
                break;
            }
        }
        if (!replaced && json_array_append_new(params, json_deep_copy(p)))
            return -1;
    }
    return 0;
}

int workflow__expand_refs(const json_t *obj, const json_t *const *wts, size_t n, json_t **out,
                          char *where, size_t wlen, struct skiff_err *err)
{
    json_t *w = json_deep_copy(obj), *spec, *templates;
    const json_t *ref;
    size_t i;
    int rc = 0;

    *out = NULL;
    where[0] = '\0';
    if (!w)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    spec = json_object_get(w, "spec");
    if ((ref = json_object_get(spec, "workflowTemplateRef"))) {
        const char *name = json_string_value(json_object_get(ref, "name"));
        const json_t *wt = find_wt(wts, n, name);
        json_t *merged;
        const char *key;
        json_t *val;
        if (json_is_true(json_object_get(ref, "clusterScope"))) {
            snprintf(where, wlen, "/spec/workflowTemplateRef/clusterScope");
            rc = skiff_err_set(err, SKIFF_EINVAL, "ClusterWorkflowTemplates are not supported");
            goto out;
        }
        if (!wt) {
            snprintf(where, wlen, "/spec/workflowTemplateRef/name");
            rc = skiff_err_set(err, SKIFF_ENOTFOUND,
                               "WorkflowTemplate '%s' not found (give its file with -f)",
                               name ? name : "");
            goto out;
        }
        if (!(merged = json_deep_copy(json_object_get(wt, "spec")))) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
        json_object_foreach(spec, key, val) {
            if (strcmp(key, "workflowTemplateRef") == 0 || strcmp(key, "arguments") == 0)
                continue;
            json_object_set(merged, key, val);
        }
        if (merge_arguments(merged, json_object_get(spec, "arguments"))) {
            json_decref(merged);
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
        json_object_set_new(w, "spec", merged);
        spec = merged;
    }
    templates = json_object_get(spec, "templates");
    if (!json_is_array(templates)) {
        templates = json_array();
        json_object_set_new(spec, "templates", templates);
    }
    /* the array grows while imported templates are rewritten in turn */
    for (i = 0; i < json_array_size(templates); i++) {
        json_t *t = json_array_get(templates, i);
        const char *scope = json_string_value(json_object_get(t, "x-skiff-scope"));
        json_t *call, *group;
        size_t k, g;
        json_array_foreach(json_object_get(json_object_get(t, "dag"), "tasks"), k, call)
            if ((rc = rewrite_call(call, scope, templates, wts, n, err))) {
                snprintf(where, wlen, "/spec/templates/%zu/dag/tasks/%zu", i, k);
                goto out;
            }
        json_array_foreach(json_object_get(t, "steps"), g, group)
            json_array_foreach(group, k, call)
                if ((rc = rewrite_call(call, scope, templates, wts, n, err))) {
                    snprintf(where, wlen, "/spec/templates/%zu/steps/%zu/%zu", i, g, k);
                    goto out;
                }
    }
    json_array_foreach(templates, i, ref)
        json_object_del((json_t *)ref, "x-skiff-scope");
    *out = w;
    w = NULL;
out:
    json_decref(w);
    return rc;
}
