/* Loading a Workflow: validation before anything runs, and the parameters
 * after `-p` overrides. See skiff_workflow_load in include/skiff/workflow.h.
 *
 * Order of checks, each stopping at the first error (exit 2 in the CLI):
 *   resource validation (kinds_argo.c: types, names, template references) ->
 *   kind is Workflow, no workflowTemplateRef -> spec.arguments (overrides,
 *   values, enum) -> each template (type runnable here, command, outputs,
 *   quantities, retryStrategy, {{...}} references) -> each dag (depends and
 *   when syntax, cycles, inputs supplied) and steps -> the entrypoint's
 *   inputs.
 * Every error points at a JSON pointer, which skiff_validation_fail turns
 * into file:line:col when the YAML documents are given.
 */
#include "workflow_int.h"

#include "skiff/err.h"
#include "skiff/log.h"
#include "skiff/resource.h"
#include "skiff/yaml.h"
#include "skiff/time.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- small helpers shared by the module ---- */

uint32_t workflow__fnv32a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

char *workflow__scalar(const json_t *v)
{
    char buf[64];
    if (json_is_string(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v))
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : "false");
    else
        return NULL;
    if (json_is_real(v)) {
        /* shortest form that reads back: 0.95, not 0.94999999999999996 */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, json_real_value(v));
            if (strtod(buf, NULL) == json_real_value(v))
                break;
        }
    }
    return strdup(buf);
}

/* Both may be called with buf == base: the result is built aside first. */
const char *workflow__ptr(char *buf, const char *base, const char *key)
{
    char out[WORKFLOW__PTR_MAX];
    size_t n = (size_t)snprintf(out, sizeof out, "%s/", base);
    if (n >= sizeof out)
        n = sizeof out - 1;
    for (const char *k = key; *k && n + 3 < sizeof out; k++) {
        if (*k == '~' || *k == '/') {
            out[n++] = '~';
            out[n++] = *k == '~' ? '0' : '1';
        } else {
            out[n++] = *k;
        }
    }
    out[n] = '\0';
    memcpy(buf, out, n + 1);
    return buf;
}

const char *workflow__ptr_idx(char *buf, const char *base, size_t i)
{
    char out[WORKFLOW__PTR_MAX];
    if (snprintf(out, sizeof out, "%s/%zu", base, i) >= (int)sizeof out)
        out[sizeof out - 1] = '\0';
    memcpy(buf, out, strlen(out) + 1);
    return buf;
}

const json_t *workflow__template(const struct skiff_workflow *wf, const char *name)
{
    const json_t *t;
    size_t i;
    if (!name)
        return NULL;
    json_array_foreach(json_object_get(wf->spec, "templates"), i, t) {
        const char *n = json_string_value(json_object_get(t, "name"));
        if (n && strcmp(n, name) == 0)
            return t;
    }
    return NULL;
}

const char *workflow__template_type(const json_t *tmpl)
{
    static const char *const types[] = {"container", "script", "dag", "steps", "resource",
                                        "suspend", "http", "containerSet", "data", "plugin"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (json_object_get(tmpl, types[i]))
            return types[i];
    return NULL;
}

static long find_named(const json_t *arr, const char *name)
{
    const json_t *it;
    size_t i;
    json_array_foreach(arr, i, it) {
        const char *n = json_string_value(json_object_get(it, "name"));
        if (n && name && strcmp(n, name) == 0)
            return (long)i;
    }
    return -1;
}

/* ---- validation context ---- */

struct vctx {
    struct skiff_validation *v;
    const struct skiff_workflow *wf;
    const json_t *tmpl;          /* template being checked */
    const json_t *tasks;         /* its dag tasks, or NULL */
    const json_t *steps;         /* its step groups, or NULL */
    const char *ptr;             /* pointer of the string being checked */
    const char *tag_error;       /* set by check_tag: points at tag_msg */
    char tag_msg[600];
    long group;                  /* steps: the group being checked, -1 otherwise */
};

/* Names a {{tag}} may use (spec §5.2), besides inputs, parameters, tasks,
 * steps and item. */
static const char *const fixed_vars[] = {
    "workflow.name", "workflow.uid", "workflow.namespace", "workflow.status",
    "workflow.duration", "workflow.failures", "workflow.mainEntrypoint",
    "workflow.serviceAccountName", "workflow.creationTimestamp", "workflow.scheduledTime",
    "workflow.parameters",
    "workflow.parameters.json", "inputs.parameters", "pod.name", "node.name", "retries",
    "steps.name", "tasks.name", NULL,
};

static bool prefixed(const char *s, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(s, prefix, n) != 0)
        return false;
    *rest = s + n;
    return true;
}

/* `name` of a task (or step) in "tasks.NAME.rest": true when it exists. */
static bool known_node_ref(const char *rest, const json_t *tasks, const json_t *groups)
{
    char name[256];
    const char *dot = strchr(rest, '.');
    size_t n = dot ? (size_t)(dot - rest) : strlen(rest);
    const json_t *g;
    size_t i;

    if (n == 0 || n >= sizeof name)
        return false;
    memcpy(name, rest, n);
    name[n] = '\0';
    if (tasks)
        return find_named(tasks, name) >= 0;
    json_array_foreach(groups, i, g)
        if (find_named(g, name) >= 0)
            return true;
    return false;
}

static int check_tag(void *ctx, const char *name)
{
    struct vctx *c = ctx;
    const char *rest;

    for (size_t i = 0; fixed_vars[i]; i++)
        if (strcmp(name, fixed_vars[i]) == 0)
            return 0;
    if (strcmp(name, "item") == 0 || prefixed(name, "item.", &rest))
        return 0;
    if (prefixed(name, "inputs.parameters.", &rest)) {
        if (find_named(json_object_get(json_object_get(c->tmpl, "inputs"), "parameters"),
                       rest) >= 0)
            return 0;
    } else if (prefixed(name, "inputs.artifacts.", &rest)) {
        /* {{inputs.artifacts.A.path}}, or {{inputs.artifacts.A}} (a `from`),
         * of a declared input */
        const char *dot = strrchr(rest, '.');
        size_t n = dot && strcmp(dot, ".path") == 0 ? (size_t)(dot - rest) : strlen(rest);
        char an[256];
        if (n < sizeof an) {
            memcpy(an, rest, n);
            an[n] = '\0';
            if (find_named(json_object_get(json_object_get(c->tmpl, "inputs"), "artifacts"),
                           an) >= 0)
                return 0;
        }
    } else if (prefixed(name, "workflow.parameters.", &rest)) {
        if (find_named(c->wf->params, rest) >= 0)
            return 0;
    } else if (prefixed(name, "outputs.parameters.", &rest) ||
               prefixed(name, "workflow.outputs.parameters.", &rest) ||
               prefixed(name, "workflow.outputs.artifacts.", &rest)) {
        return 0;
    } else if (prefixed(name, "tasks.", &rest)) {
        if (c->tasks && known_node_ref(rest, c->tasks, NULL))
            return 0;
    } else if (prefixed(name, "steps.", &rest)) {
        if (c->steps && known_node_ref(rest, NULL, c->steps))
            return 0;
    }
    snprintf(c->tag_msg, sizeof c->tag_msg, "%s {{%s}}",
             strstr(name, "artifacts.") ? "unknown artifact reference" : "failed to resolve",
             name);
    c->tag_error = c->tag_msg;
    return SKIFF_EINVAL;
}

/* Checks the {{tags}} of every string under `node` (at pointer ptr). */
static int check_strings(struct vctx *c, const json_t *node, const char *ptr)
{
    char p[WORKFLOW__PTR_MAX];
    struct skiff_err e = SKIFF_ERR_INIT;
    const char *key;
    const json_t *it;
    size_t i;
    int rc;

    if (json_is_string(node)) {
        c->tag_error = NULL;
        if ((rc = skiff_workflow_tags(json_string_value(node), check_tag, c, &e)))
            return skiff_validation_fail(c->v, ptr, SKIFF_EINVAL, "%s",
                                         c->tag_error ? c->tag_error : e.msg);
        return 0;
    }
    if (json_is_object(node)) {
        json_object_foreach((json_t *)node, key, it) {
            if ((rc = check_strings(c, it, workflow__ptr(p, ptr, key))))
                return rc;
        }
    } else if (json_is_array(node)) {
        json_array_foreach(node, i, it)
            if ((rc = check_strings(c, it, workflow__ptr_idx(p, ptr, i))))
                return rc;
    }
    return 0;
}

static bool has_tag(const char *s)
{
    return s && strstr(s, "{{");
}

static int check_quantities(struct skiff_validation *v, const json_t *res, const char *ptr)
{
    static const char *const sections[] = {"limits", "requests"};
    char sp[WORKFLOW__PTR_MAX], p[WORKFLOW__PTR_MAX];

    for (size_t s = 0; s < 2; s++) {
        const json_t *sec = json_object_get(res, sections[s]);
        static const char *const keys[] = {"memory", "cpu", WORKFLOW__GPU_KEY};
        workflow__ptr(sp, ptr, sections[s]);
        for (size_t k = 0; k < 3; k++) {
            const json_t *q = json_object_get(sec, keys[k]);
            struct skiff_err e = SKIFF_ERR_INIT;
            char *text;
            double d;
            int rc;
            if (!q)
                continue;
            workflow__ptr(p, sp, keys[k]);
            if (!(text = workflow__scalar(q)))
                return skiff_validation_fail(v, p, SKIFF_EINVAL,
                                             "%s must be a quantity such as \"512Mi\"", keys[k]);
            rc = has_tag(text) ? 0 : skiff_workflow_quantity(text, &d, &e);
            free(text);
            if (rc)
                return skiff_validation_fail(v, p, SKIFF_EINVAL, "%s", e.msg);
            if (k == 2 && !has_tag(json_string_value(q)) && d != floor(d))
                return skiff_validation_fail(v, p, SKIFF_EINVAL,
                                             "nvidia.com/gpu must be a whole number of "
                                             "devices");
        }
    }
    return 0;
}

/* A request that no node pool could ever hold fails now rather than wait
 * forever (the ledger is src/workflow/sched.c). Requests with {{tags}} are
 * checked when the step starts. */
static int check_fit(struct vctx *c, const json_t *t, const json_t *res, const char *ptr)
{
    struct workflow__request r = {0};
    struct skiff_err e = SKIFF_ERR_INIT;
    char *dump = res ? json_dumps(res, JSON_COMPACT) : NULL;
    bool tagged = dump && strstr(dump, "{{");
    char p[WORKFLOW__PTR_MAX];

    free(dump);
    if (tagged || workflow__request_parse(res, &r, &e))
        return 0;
    r.node_selector = json_object_get(t, "nodeSelector");
    if (!r.node_selector)
        r.node_selector = json_object_get(c->wf->spec, "nodeSelector");
    r.tolerations = json_object_get(t, "tolerations");
    if (!r.tolerations)
        r.tolerations = json_object_get(c->wf->spec, "tolerations");
    if (!r.cpu && !r.memory && !r.gpus && !r.node_selector && !r.tolerations)
        return 0;
    if (workflow__sched_check(&r, &e) == 0)
        return 0;
    return skiff_validation_fail(c->v, res ? workflow__ptr(p, ptr, "resources") : ptr,
                                 SKIFF_EINVAL, "%s", e.msg);
}

/* An int or a string holding one, as Argo's IntOrString. */
static int check_int_or_string(struct skiff_validation *v, const json_t *o, const char *ptr,
                               const char *key)
{
    const json_t *x = json_object_get(o, key);
    char p[WORKFLOW__PTR_MAX];
    const char *s;
    char *end;

    if (!x || json_is_integer(x))
        return 0;
    s = json_string_value(x);
    if (s && (has_tag(s) || (strtol(s, &end, 10), *s && !*end)))
        return 0;
    return skiff_validation_fail(v, workflow__ptr(p, ptr, key), SKIFF_EINVAL,
                                 "%s must be an integer", key);
}

static int check_retry(struct skiff_validation *v, const json_t *rs, const char *ptr)
{
    char p[WORKFLOW__PTR_MAX], bp[WORKFLOW__PTR_MAX];
    const json_t *b, *pol;
    int rc;

    if (!rs)
        return 0;
    if (!json_is_object(rs))
        return skiff_validation_fail(v, ptr, SKIFF_EINVAL, "retryStrategy must be an object");
    if ((rc = check_int_or_string(v, rs, ptr, "limit")))
        return rc;
    pol = json_object_get(rs, "retryPolicy");
    if (pol && (!json_is_string(pol) ||
                (strcmp(json_string_value(pol), "Always") != 0 &&
                 strcmp(json_string_value(pol), "OnFailure") != 0 &&
                 strcmp(json_string_value(pol), "OnError") != 0 &&
                 strcmp(json_string_value(pol), "OnTransientError") != 0)))
        return skiff_validation_fail(v, workflow__ptr(p, ptr, "retryPolicy"), SKIFF_EINVAL,
                                     "retryPolicy must be Always, OnFailure, OnError or "
                                     "OnTransientError");
    if (!(b = json_object_get(rs, "backoff")))
        return 0;
    workflow__ptr(bp, ptr, "backoff");
    static const char *const durs[] = {"duration", "maxDuration", "cap"};
    for (size_t i = 0; i < 3; i++) {
        const json_t *d = json_object_get(b, durs[i]);
        struct skiff_err e = SKIFF_ERR_INIT;
        char *text;
        int64_t us;
        if (!d)
            continue;
        text = workflow__scalar(d);
        rc = !text ? SKIFF_EINVAL : has_tag(text) ? 0 : skiff_duration_parse(text, &us, &e);
        free(text);
        if (rc)
            return skiff_validation_fail(v, workflow__ptr(p, bp, durs[i]), SKIFF_EINVAL,
                                         "invalid duration%s%s", e.msg[0] ? ": " : "", e.msg);
    }
    if (json_object_get(b, "factor") && !json_is_number(json_object_get(b, "factor")) &&
        !json_is_string(json_object_get(b, "factor")))
        return skiff_validation_fail(v, workflow__ptr(p, bp, "factor"), SKIFF_EINVAL,
                                     "factor must be a number");
    return 0;
}

/* Each input of the called template without a default or value must be
 * given by the caller's arguments (spec §4.2). */
static int check_call_inputs(struct vctx *c, const json_t *call, const char *ptr)
{
    const char *tname = json_string_value(json_object_get(call, "template"));
    const json_t *t = workflow__template(c->wf, tname), *in, *args;
    size_t i;

    if (!t)
        return 0;
    args = json_object_get(json_object_get(call, "arguments"), "parameters");
    json_array_foreach(json_object_get(json_object_get(t, "inputs"), "parameters"), i, in) {
        const char *n = json_string_value(json_object_get(in, "name"));
        char p[WORKFLOW__PTR_MAX];
        if (json_object_get(in, "value") || json_object_get(in, "default"))
            continue;
        if (n && find_named(args, n) >= 0)
            continue;
        return skiff_validation_fail(c->v, workflow__ptr(p, ptr, "arguments"), SKIFF_EINVAL,
                                     "inputs.parameters.%s was not supplied (template \"%s\" "
                                     "needs it)", n ? n : "", tname);
    }
    return 0;
}

/* ---- artifacts (spec §4.5) ---- */

/* Artifact locations of Argo that the local engine has no client for. */
static const char *const remote_locations[] = {
    "s3", "gcs", "http", "git", "artifactory", "hdfs", "oss", "azure", "s3Key", NULL,
};

/* An artifact name becomes a file name in the repository: letters,
 * digits, '-', '_' and '.', not starting with '.'. */
static bool artifact_name_ok(const char *n)
{
    if (!n || !*n || n[0] == '.' || strlen(n) > 128)
        return false;
    for (const char *p = n; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return false;
    return true;
}

/* Where an input artifact may be placed: under /tmp (the step's own) or
 * relative to its working folder, never through "..": the rest of the
 * file system is the host's. */
static bool input_path_ok(const char *path)
{
    const char *seg = path;
    if (path[0] == '/' && strcmp(path, "/tmp") != 0 && strncmp(path, "/tmp/", 5) != 0)
        return false;
    for (const char *p = path;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        if (p - seg == 2 && seg[0] == '.' && seg[1] == '.')
            return false;
        if (!*p)
            return true;
        seg = p + 1;
    }
}

static int check_location(struct vctx *c, const json_t *a, const char *p)
{
    char q[WORKFLOW__PTR_MAX];
    for (size_t k = 0; remote_locations[k]; k++)
        if (json_object_get(a, remote_locations[k]))
            return skiff_validation_fail(c->v, workflow__ptr(q, p, remote_locations[k]),
                                         SKIFF_EINVAL,
                                         "artifact location '%s' is not supported by the local "
                                         "engine: pass artifacts between tasks with `from`, or "
                                         "give `raw.data`", remote_locations[k]);
    if (json_object_get(a, "raw") &&
        !json_is_string(json_object_get(json_object_get(a, "raw"), "data")))
        return skiff_validation_fail(c->v, workflow__ptr(q, p, "raw"), SKIFF_EINVAL,
                                     "raw artifacts need a string `data`");
    return 0;
}

/* inputs.artifacts and outputs.artifacts of template t (of `type`). */
static int check_artifact_decls(struct vctx *c, const json_t *t, const char *type,
                                const char *ptr)
{
    static const char *const dirs[] = {"inputs", "outputs"};
    bool pod = strcmp(type, "container") == 0 || strcmp(type, "script") == 0;
    char lp[WORKFLOW__PTR_MAX], p[WORKFLOW__PTR_MAX], q[WORKFLOW__PTR_MAX];
    const json_t *a;
    size_t i;
    int rc;

    for (size_t d = 0; d < 2; d++) {
        const json_t *list = json_object_get(json_object_get(t, dirs[d]), "artifacts");
        workflow__ptr(lp, workflow__ptr(lp, ptr, dirs[d]), "artifacts");
        if (list && !json_is_array(list))
            return skiff_validation_fail(c->v, lp, SKIFF_EINVAL, "%s.artifacts must be a list",
                                         dirs[d]);
        if (d == 0 && json_array_size(list) && strcmp(type, "resource") == 0)
            return skiff_validation_fail(c->v, lp, SKIFF_EINVAL,
                                         "inputs.artifacts of a resource template are not "
                                         "supported by the local engine yet");
        json_array_foreach(list, i, a) {
            const char *n = json_string_value(json_object_get(a, "name"));
            const char *path = json_string_value(json_object_get(a, "path"));
            const json_t *arch = json_object_get(a, "archive");
            workflow__ptr_idx(p, lp, i);
            if (!artifact_name_ok(n))
                return skiff_validation_fail(c->v, workflow__ptr(q, p, "name"), SKIFF_EINVAL,
                                             "an artifact needs a name of letters, digits, "
                                             "'-', '_' and '.'");
            if (find_named(list, n) != (long)i)
                return skiff_validation_fail(c->v, workflow__ptr(q, p, "name"), SKIFF_EINVAL,
                                             "artifact \"%s\" is declared twice", n);
            if ((rc = check_location(c, a, p)))
                return rc;
            if (json_object_get(a, "globalName") &&
                !artifact_name_ok(json_string_value(json_object_get(a, "globalName"))))
                return skiff_validation_fail(c->v, workflow__ptr(q, p, "globalName"),
                                             SKIFF_EINVAL, "globalName needs letters, digits, "
                                             "'-', '_' and '.'");
            if ((pod || (d == 1 && strcmp(type, "resource") == 0)) && !path)
                return skiff_validation_fail(c->v, p, SKIFF_EINVAL,
                                             "artifact \"%s\" needs a path", n);
            if (d == 0 && path && !input_path_ok(path))
                return skiff_validation_fail(c->v, workflow__ptr(q, p, "path"), SKIFF_EINVAL,
                                             "input artifact \"%s\": the local engine places "
                                             "inputs under /tmp (the step's own) or relative to "
                                             "its working folder, not at '%s' on the host", n,
                                             path);
            if ((d == 0 || pod) && json_object_get(a, "from"))
                return skiff_validation_fail(c->v, workflow__ptr(q, p, "from"), SKIFF_EINVAL,
                                             "%s", d == 0
                                                       ? "`from` belongs in the caller's "
                                                         "arguments.artifacts"
                                                       : "a step's output artifact comes "
                                                         "from its `path`, not `from`");
            if (json_object_get(a, "mode") &&
                (!json_is_integer(json_object_get(a, "mode")) ||
                 json_integer_value(json_object_get(a, "mode")) < 0 ||
                 json_integer_value(json_object_get(a, "mode")) > 0777))
                return skiff_validation_fail(c->v, workflow__ptr(q, p, "mode"), SKIFF_EINVAL,
                                             "mode must be a file mode from 0 to 0777, "
                                             "such as 0755 (octal, as Kubernetes reads it)");
            if (d == 1 && arch &&
                !(json_is_object(arch) && json_object_size(arch) == 1 &&
                  (json_object_get(arch, "none") || json_object_get(arch, "tar"))))
                return skiff_validation_fail(c->v, workflow__ptr(q, p, "archive"), SKIFF_EINVAL,
                                             "archive must be {none: {}} or {tar: {...}} "
                                             "(zip is not supported by the local engine)");
        }
    }
    return 0;
}

/* A `from` (at pointer q) in the template being checked: one tag naming
 * an output artifact of a task (dag) or step (steps template) whose
 * template declares it, or an input artifact of the template. */
static int check_from(struct vctx *c, const char *from, const char *q)
{
    char ref[300], *end, *r = ref, *sep, owner[256];
    const json_t *src = NULL;

    snprintf(ref, sizeof ref, "%s", from);
    if (strncmp(r, "{{", 2) != 0 || !(end = strstr(r, "}}")) || end[2])
        return skiff_validation_fail(c->v, q, SKIFF_EINVAL,
                                     "unknown artifact reference '%s': write "
                                     "\"{{tasks.T.outputs.artifacts.NAME}}\", "
                                     "\"{{steps.S.outputs.artifacts.NAME}}\", "
                                     "\"{{inputs.artifacts.NAME}}\" or "
                                     "\"{{workflow.outputs.artifacts.NAME}}\"", from);
    *end = '\0';
    for (r += 2; *r == ' '; r++)
        ;
    for (end = r + strlen(r); end > r && end[-1] == ' ';)
        *--end = '\0';
    if (strncmp(r, "workflow.outputs.artifacts.", 27) == 0) {
        /* some template must export it (globalName) */
        const json_t *t, *a;
        size_t ti, ai;
        json_array_foreach(json_object_get(c->wf->spec, "templates"), ti, t)
            json_array_foreach(json_object_get(json_object_get(t, "outputs"), "artifacts"), ai,
                               a) {
                const char *g = json_string_value(json_object_get(a, "globalName"));
                if (g && strcmp(g, r + 27) == 0)
                    return 0;
            }
        return skiff_validation_fail(c->v, q, SKIFF_EINVAL,
                                     "unknown artifact reference '%s': no output artifact has "
                                     "globalName \"%s\"", from, r + 27);
    }
    if (strncmp(r, "inputs.artifacts.", 17) == 0) {
        if (find_named(json_object_get(json_object_get(c->tmpl, "inputs"), "artifacts"),
                       r + 17) < 0)
            return skiff_validation_fail(c->v, q, SKIFF_EINVAL,
                                         "unknown artifact reference '%s': template \"%s\" "
                                         "has no input artifact \"%s\"", from,
                                         json_string_value(json_object_get(c->tmpl, "name")),
                                         r + 17);
        return 0;
    }
    if (!(sep = strstr(r, ".outputs.artifacts.")) ||
        (strncmp(r, "tasks.", 6) != 0 && strncmp(r, "steps.", 6) != 0) ||
        (size_t)(sep - r - 6) >= sizeof owner)
        return skiff_validation_fail(c->v, q, SKIFF_EINVAL, "unknown artifact reference '%s'",
                                     from);
    memcpy(owner, r + 6, (size_t)(sep - r - 6));
    owner[sep - r - 6] = '\0';
    if (r[0] == 't' && c->tasks) {
        long k = find_named(c->tasks, owner);
        if (k >= 0)
            src = json_array_get(c->tasks, (size_t)k);
    } else if (r[0] == 's' && c->steps) {
        const json_t *g;
        size_t gi;
        json_array_foreach(c->steps, gi, g) {
            long k = find_named(g, owner);
            if (k < 0)
                continue;
            /* a step's outputs exist once its group has run */
            if (c->group >= 0 && (long)gi >= c->group)
                return skiff_validation_fail(c->v, q, SKIFF_EINVAL,
                                             "unknown artifact reference '%s': step \"%s\" "
                                             "runs in group %zu, not before this one", from,
                                             owner, gi);
            src = json_array_get(g, (size_t)k);
        }
    }
    if (!src)
        return skiff_validation_fail(c->v, q, SKIFF_EINVAL,
                                     "unknown artifact reference '%s': no %s named \"%s\" in "
                                     "this %s", from, r[0] == 't' ? "task" : "step", owner,
                                     c->tasks ? "dag" : "steps template");
    if (json_object_get(src, "withItems") || json_object_get(src, "withParam"))
        /* Argo keeps each expanded node's outputs on that node and
         * aggregates only parameters (a JSON list): there is no one
         * artifact to pass on */
        return skiff_validation_fail(c->v, q, SKIFF_EINVAL,
                                     "unknown artifact reference '%s': %s \"%s\" fans out "
                                     "(withItems/withParam); each item's node keeps its own "
                                     "output artifacts, which are not aggregated (only "
                                     "parameters are, as a JSON list)", from,
                                     r[0] == 't' ? "task" : "step", owner);
    src = workflow__template(c->wf, json_string_value(json_object_get(src, "template")));
    if (src &&
        find_named(json_object_get(json_object_get(src, "outputs"), "artifacts"), sep + 19) < 0)
        return skiff_validation_fail(c->v, q, SKIFF_EINVAL,
                                     "unknown artifact reference '%s': template \"%s\" "
                                     "declares no output artifact \"%s\"", from,
                                     json_string_value(json_object_get(src, "name")), sep + 19);
    return 0;
}

/* outputs.artifacts of a dag or steps template: each comes `from` inside. */
static int check_graph_outputs(struct vctx *c, const json_t *t, const char *ptr)
{
    char lp[WORKFLOW__PTR_MAX], p[WORKFLOW__PTR_MAX];
    const json_t *a;
    size_t i;
    int rc;

    if (strcmp(workflow__template_type(t), "dag") != 0 &&
        strcmp(workflow__template_type(t), "steps") != 0)
        return 0;
    workflow__ptr(lp, workflow__ptr(lp, ptr, "outputs"), "artifacts");
    json_array_foreach(json_object_get(json_object_get(t, "outputs"), "artifacts"), i, a) {
        const char *from = json_string_value(json_object_get(a, "from"));
        workflow__ptr_idx(p, lp, i);
        if (!from)
            return skiff_validation_fail(c->v, p, SKIFF_EINVAL,
                                         "an output artifact of a dag or steps template needs "
                                         "`from`");
        if ((rc = check_from(c, from, workflow__ptr(p, p, "from"))))
            return rc;
    }
    return 0;
}

/* arguments.artifacts of a task or step (at ptr) of the template being
 * checked: each names an input of the callee and comes `from` an output
 * artifact of a task (dag) or step (steps) that declares it, or from an
 * input of the template; and every input the callee needs is given. */
static int check_call_artifacts(struct vctx *c, const json_t *call, const char *ptr)
{
    const char *tname = json_string_value(json_object_get(call, "template"));
    const json_t *callee = workflow__template(c->wf, tname);
    const json_t *args = json_object_get(json_object_get(call, "arguments"), "artifacts");
    const json_t *ins = json_object_get(json_object_get(callee, "inputs"), "artifacts");
    char lp[WORKFLOW__PTR_MAX], p[WORKFLOW__PTR_MAX], q[WORKFLOW__PTR_MAX];
    const json_t *a, *in;
    size_t i;
    int rc;

    workflow__ptr(lp, workflow__ptr(lp, ptr, "arguments"), "artifacts");
    if (args && !json_is_array(args))
        return skiff_validation_fail(c->v, lp, SKIFF_EINVAL,
                                     "arguments.artifacts must be a list");
    json_array_foreach(args, i, a) {
        const char *n = json_string_value(json_object_get(a, "name"));
        const char *from = json_string_value(json_object_get(a, "from"));
        workflow__ptr_idx(p, lp, i);
        if (!n)
            return skiff_validation_fail(c->v, p, SKIFF_EINVAL, "an artifact needs a name");
        if (callee && find_named(ins, n) < 0)
            return skiff_validation_fail(c->v, workflow__ptr(q, p, "name"), SKIFF_EINVAL,
                                         "template \"%s\" has no input artifact \"%s\"", tname,
                                         n);
        if ((rc = check_location(c, a, p)))
            return rc;
        if (!from) {
            if (!json_object_get(a, "raw"))
                return skiff_validation_fail(c->v, p, SKIFF_EINVAL,
                                             "artifact \"%s\" needs `from` or `raw`", n);
            continue;
        }
        if ((rc = check_from(c, from, workflow__ptr(q, p, "from"))))
            return rc;
    }
    json_array_foreach(ins, i, in) {
        const char *n = json_string_value(json_object_get(in, "name"));
        if (json_is_true(json_object_get(in, "optional")) || json_object_get(in, "raw") ||
            find_named(args, n) >= 0)
            continue;
        return skiff_validation_fail(c->v, workflow__ptr(p, ptr, "arguments"), SKIFF_EINVAL,
                                     "inputs.artifacts.%s was not supplied (template \"%s\" "
                                     "needs it)", n ? n : "", tname);
    }
    return 0;
}

/* ---- dags ---- */

struct dep_collect {
    const json_t *tasks;
    long deps[256];
    size_t n;
    const char *bad;
};

static int collect_dep(void *ctx, const char *task, const char *result, bool *out,
                       struct skiff_err *err)
{
    static const char *const results[] = {"Succeeded", "Failed", "Errored", "Skipped",
                                          "Omitted", "Daemoned", "AnySucceeded", "AllFailed",
                                          NULL};
    struct dep_collect *d = ctx;
    long i = find_named(d->tasks, task);
    bool ok = result == NULL;

    for (size_t k = 0; !ok && results[k]; k++)
        ok = strcmp(results[k], result) == 0;
    if (!ok)
        return skiff_err_set(err, SKIFF_EINVAL, "task result '%s' for task '%s' is invalid",
                             result, task);
    if (i < 0)
        return skiff_err_set(err, SKIFF_EINVAL, "unknown task \"%s\" (not a task of this dag)",
                             task);
    if (d->n < sizeof d->deps / sizeof *d->deps)
        d->deps[d->n++] = i;
    *out = true;
    return 0;
}

/* The tasks that task i depends on, into d (validates depends). */
static int task_deps(struct vctx *c, const json_t *task, const char *ptr, struct dep_collect *d)
{
    const json_t *deps = json_object_get(task, "dependencies"), *dep;
    const char *depends = json_string_value(json_object_get(task, "depends"));
    struct skiff_err e = SKIFF_ERR_INIT;
    char p[WORKFLOW__PTR_MAX];
    size_t i;

    d->tasks = c->tasks;
    d->n = 0;
    if (deps && depends)
        return skiff_validation_fail(c->v, workflow__ptr(p, ptr, "depends"), SKIFF_EINVAL,
                                     "use either dependencies or depends, not both");
    json_array_foreach(deps, i, dep) {
        long k = find_named(c->tasks, json_string_value(dep));
        if (k >= 0 && d->n < sizeof d->deps / sizeof *d->deps)
            d->deps[d->n++] = k;
    }
    if (depends && skiff_workflow_depends(depends, collect_dep, d, NULL, &e))
        return skiff_validation_fail(c->v, workflow__ptr(p, ptr, "depends"), SKIFF_EINVAL,
                                     "invalid depends '%s': %s", depends, e.msg);
    return 0;
}

/* Depth-first search for a cycle: color 0 new, 1 on the stack, 2 done. */
static int find_cycle(struct vctx *c, const char *tp, size_t i, unsigned char *color,
                      size_t *stack, size_t depth)
{
    struct dep_collect d;
    char p[WORKFLOW__PTR_MAX];
    int rc;

    color[i] = 1;
    stack[depth] = i;
    workflow__ptr_idx(p, tp, i);
    if ((rc = task_deps(c, json_array_get(c->tasks, i), p, &d)))
        return rc;
    for (size_t k = 0; k < d.n; k++) {
        size_t j = (size_t)d.deps[k];
        if (color[j] == 1) {
            char path[1024] = "";
            size_t n = 0;
            for (size_t s = 0; s <= depth; s++)
                if (stack[s] == j)
                    n = s;
            for (size_t s = n; s <= depth; s++)
                snprintf(path + strlen(path), sizeof path - strlen(path), "%s -> ",
                         json_string_value(json_object_get(json_array_get(c->tasks, stack[s]),
                                                           "name")));
            snprintf(path + strlen(path), sizeof path - strlen(path), "%s",
                     json_string_value(json_object_get(json_array_get(c->tasks, j), "name")));
            return skiff_validation_fail(
                c->v, workflow__ptr(p, p, json_object_get(json_array_get(c->tasks, i), "depends")
                                              ? "depends" : "dependencies"),
                SKIFF_EINVAL, "cycle in dag: %s", path);
        }
        if (color[j] == 0 && (rc = find_cycle(c, tp, j, color, stack, depth + 1)))
            return rc;
    }
    color[i] = 2;
    return 0;
}

static int check_when(struct vctx *c, const json_t *call, const char *ptr)
{
    const char *when = json_string_value(json_object_get(call, "when"));
    struct skiff_err e = SKIFF_ERR_INIT;
    char p[WORKFLOW__PTR_MAX];
    char *text = NULL;
    int rc = 0;

    if (!when)
        return 0;
    /* the tags are unknown until run time: check the syntax with each one
     * standing for a number, which fits every position a value can take */
    {
        size_t n = strlen(when);
        text = malloc(n + 1);
        if (!text)
            return skiff_err_set(c->v->err, SKIFF_ENOMEM, "out of memory");
        size_t o = 0;
        for (size_t i = 0; i < n;) {
            const char *close;
            if (when[i] == '{' && when[i + 1] == '{' && (close = strstr(when + i, "}}"))) {
                text[o++] = '0';
                i = (size_t)(close + 2 - when);
            } else {
                text[o++] = when[i++];
            }
        }
        text[o] = '\0';
    }
    if (skiff_workflow_when_check(text, &e))
        rc = skiff_validation_fail(c->v, workflow__ptr(p, ptr, "when"), SKIFF_EINVAL,
                                   "Invalid 'when' expression '%s': %s", when, e.msg);
    free(text);
    return rc;
}

/* A call names a template of this workflow: templateRef needs the
 * platform's WorkflowTemplates and inline templates are not run yet. */
static int check_callee(struct vctx *c, const json_t *call, const char *ptr)
{
    char p[WORKFLOW__PTR_MAX];
    if (json_object_get(call, "templateRef"))
        return skiff_validation_fail(c->v, workflow__ptr(p, ptr, "templateRef"), SKIFF_EINVAL,
                                     "templateRef needs its WorkflowTemplate (skiff run -f "
                                     "FILE)");
    if (!workflow__template(c->wf, json_string_value(json_object_get(call, "template"))))
        return skiff_validation_fail(c->v, workflow__ptr(p, ptr, "template"), SKIFF_EINVAL,
                                     "the local engine runs calls to named templates of this "
                                     "workflow only (no inline templates yet)");
    return 0;
}

/* withItems is a list, withParam a string (a JSON list once substituted);
 * not both. withSequence is not supported yet. */
static int check_loop(struct skiff_validation *v, const json_t *call, const char *ptr)
{
    const json_t *items = json_object_get(call, "withItems");
    const json_t *param = json_object_get(call, "withParam");
    char p[WORKFLOW__PTR_MAX];

    if (items && !json_is_array(items))
        return skiff_validation_fail(v, workflow__ptr(p, ptr, "withItems"), SKIFF_EINVAL,
                                     "withItems must be a list");
    if (param && !json_is_string(param))
        return skiff_validation_fail(v, workflow__ptr(p, ptr, "withParam"), SKIFF_EINVAL,
                                     "withParam must be a string holding a JSON list");
    if (items && param)
        return skiff_validation_fail(v, workflow__ptr(p, ptr, "withParam"), SKIFF_EINVAL,
                                     "use either withItems or withParam, not both");
    if (json_object_get(call, "withSequence"))
        return skiff_validation_fail(v, workflow__ptr(p, ptr, "withSequence"), SKIFF_EINVAL,
                                     "withSequence is not supported by the local engine yet");
    return 0;
}

/* Whether task `target` is task i or one of its ancestors (through
 * dependencies / depends); seen[] marks visited tasks. The dag has no
 * cycle (checked before). */
static bool reaches(struct vctx *c, const char *tp, size_t i, size_t target,
                    unsigned char *seen)
{
    struct dep_collect d;
    char p[WORKFLOW__PTR_MAX];

    if (i == target)
        return true;
    if (seen[i])
        return false;
    seen[i] = 1;
    if (task_deps(c, json_array_get(c->tasks, i), workflow__ptr_idx(p, tp, i), &d))
        return false;
    for (size_t k = 0; k < d.n; k++)
        if (reaches(c, tp, (size_t)d.deps[k], target, seen))
            return true;
    return false;
}

/* A task's artifacts `from` tasks.T: T must run before it, so T must be
 * an ancestor (Argo resolves a task's references in its ancestors' scope).
 * Without that, the task would start at once and miss the artifact. */
static int check_artifact_ancestry(struct vctx *c, const char *tp, size_t i,
                                   unsigned char *seen)
{
    const json_t *task = json_array_get(c->tasks, i), *a;
    char p[WORKFLOW__PTR_MAX], q[WORKFLOW__PTR_MAX];
    size_t k, n = json_array_size(c->tasks);

    json_array_foreach(json_object_get(json_object_get(task, "arguments"), "artifacts"), k, a) {
        const char *from = json_string_value(json_object_get(a, "from")), *sep, *t;
        char owner[256];
        long j;
        if (!from || !(t = strstr(from, "tasks.")) || !(sep = strstr(t, ".outputs.")) ||
            (size_t)(sep - t - 6) >= sizeof owner)
            continue;
        memcpy(owner, t + 6, (size_t)(sep - t - 6));
        owner[sep - t - 6] = '\0';
        if ((j = find_named(c->tasks, owner)) < 0)
            continue;
        memset(seen, 0, n);
        if ((size_t)j != i && reaches(c, tp, i, (size_t)j, seen))
            continue;
        workflow__ptr_idx(p, tp, i);
        workflow__ptr(q, workflow__ptr_idx(q, workflow__ptr(q, workflow__ptr(q, p, "arguments"),
                                                             "artifacts"), k), "from");
        return skiff_validation_fail(c->v, q, SKIFF_EINVAL,
                                     "unknown artifact reference '%s': task \"%s\" does not "
                                     "depend on \"%s\" (add it to dependencies or depends)",
                                     from, json_string_value(json_object_get(task, "name")),
                                     owner);
    }
    return 0;
}

static int check_dag(struct vctx *c, const json_t *dag, const char *ptr)
{
    char tp[WORKFLOW__PTR_MAX], p[WORKFLOW__PTR_MAX];
    const json_t *task;
    size_t i, n = json_array_size(c->tasks);
    unsigned char *color = calloc(n + 1, 1);
    size_t *stack = calloc(n + 1, sizeof *stack);
    int rc = 0;

    if (!color || !stack) {
        rc = skiff_err_set(c->v->err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    workflow__ptr(tp, ptr, "tasks");
    json_array_foreach(c->tasks, i, task) {
        workflow__ptr_idx(p, tp, i);
        if ((rc = check_callee(c, task, p)) || (rc = check_when(c, task, p)) ||
            (rc = check_call_inputs(c, task, p)) || (rc = check_call_artifacts(c, task, p)))
            goto out;
        if ((rc = check_loop(c->v, task, p)))
            goto out;
    }
    for (i = 0; i < n; i++)
        if (color[i] == 0 && (rc = find_cycle(c, tp, i, color, stack, 0)))
            goto out;
    /* no cycle: an artifact may now be checked to come from an ancestor */
    json_array_foreach(c->tasks, i, task)
        if ((rc = check_artifact_ancestry(c, tp, i, color)))
            goto out;
out:
    free(color);
    free(stack);
    return rc;
}

static int check_steps(struct vctx *c, const char *ptr)
{
    char gp[WORKFLOW__PTR_MAX], p[WORKFLOW__PTR_MAX];
    const json_t *g, *step;
    size_t i, j;
    int rc;

    json_array_foreach(c->steps, i, g) {
        workflow__ptr_idx(gp, ptr, i);
        json_array_foreach(g, j, step) {
            workflow__ptr_idx(p, gp, j);
            c->group = (long)i;
            rc = check_callee(c, step, p);
            if (!rc && !(rc = check_when(c, step, p)) && !(rc = check_call_inputs(c, step, p)))
                rc = check_call_artifacts(c, step, p);
            c->group = -1;
            if (rc)
                return rc;
            if ((rc = check_loop(c->v, step, p)))
                return rc;
        }
    }
    return 0;
}

/* A `resource` template (spec §11): create or apply of a PyTorchJob
 * (kubeflow.org/v1) or of a skiff kind; conditions in label-selector
 * syntax; outputs from valueFrom.path (the Master's), .jsonPath or value.
 * A manifest with {{tags}} is checked when the step starts. */
static int check_resource(struct vctx *c, const json_t *t, const json_t *body, const char *ptr,
                          const char *bp)
{
    static const char *const conds[] = {"successCondition", "failureCondition"};
    const char *action = json_string_value(json_object_get(body, "action"));
    const char *manifest = json_string_value(json_object_get(body, "manifest"));
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_yaml_docs *docs = NULL;
    struct workflow__job *job = NULL;
    char p[WORKFLOW__PTR_MAX];
    const json_t *out;
    size_t i;
    int rc = 0;

    const char *strategy = json_string_value(json_object_get(body, "mergeStrategy"));
    bool json_patch;

    workflow__ptr(p, bp, "action");
    if (!workflow__resource_action_known(action))
        return skiff_validation_fail(c->v, p, SKIFF_EINVAL,
                                     "unknown resource action '%s' (get, create, apply, delete, "
                                     "replace, patch)", action ? action : "");
    if (json_object_get(body, "mergeStrategy") &&
        (!strategy || (strcmp(strategy, "merge") != 0 && strcmp(strategy, "json") != 0 &&
                       strcmp(strategy, "strategic") != 0)))
        return skiff_validation_fail(c->v, workflow__ptr(p, bp, "mergeStrategy"), SKIFF_EINVAL,
                                     "unknown mergeStrategy '%s' (strategic, merge, json)",
                                     strategy ? strategy : "");
    json_patch = strcmp(action, "patch") == 0 && strategy && strcmp(strategy, "json") == 0;
    if (!manifest)
        return skiff_validation_fail(c->v, workflow__ptr(p, bp, "manifest"), SKIFF_EINVAL,
                                     "resource.manifest is required (manifestFrom is not "
                                     "supported yet)");
    if (strcmp(action, "delete") == 0) {
        /* kubectl delete --ignore-not-found -o name: nothing to wait for or read */
        for (size_t k = 0; k < 2; k++)
            if (json_object_get(body, conds[k]))
                return skiff_validation_fail(c->v, workflow__ptr(p, bp, conds[k]),
                                             SKIFF_EINVAL, "a delete finishes at once: it has "
                                                           "no object to wait on (%s)", conds[k]);
        if (json_object_get(t, "outputs"))
            return skiff_validation_fail(c->v, workflow__ptr(p, ptr, "outputs"), SKIFF_EINVAL,
                                         "a delete has no outputs");
    }
    if (json_patch) {
        /* the manifest is the list of operations: the target is in flags */
        const json_t *flags = json_object_get(body, "flags");
        char kind[128], name[256];
        if (workflow__resource_target_flags(flags, kind, sizeof kind, name, sizeof name))
            return skiff_validation_fail(c->v, workflow__ptr(p, bp, "flags"), SKIFF_EINVAL,
                                         "a JSON patch (mergeStrategy: json) names its target "
                                         "with flags: [KIND, NAME] or [KIND/NAME]");
        if (!has_tag(kind) && !skiff_kind_lookup(kind))
            return skiff_validation_fail(c->v, workflow__ptr(p, bp, "flags"), SKIFF_EINVAL,
                                         "resource kind '%s' is not one of skiff's kinds (a "
                                         "PyTorchJob cannot be patched: its replicas belong to "
                                         "the node that created it)", kind);
    }
    for (size_t k = 0; k < 2; k++) {
        const char *cond = json_string_value(json_object_get(body, conds[k]));
        if (cond && !has_tag(cond) && workflow__cond_check(cond, &e))
            return skiff_validation_fail(c->v, workflow__ptr(p, bp, conds[k]), SKIFF_EINVAL,
                                         "%s", e.msg);
    }
    json_array_foreach(json_object_get(json_object_get(t, "outputs"), "parameters"), i, out) {
        const json_t *vf = json_object_get(out, "valueFrom");
        char op[WORKFLOW__PTR_MAX];
        workflow__ptr_idx(op, workflow__ptr(p, workflow__ptr(p, ptr, "outputs"), "parameters"),
                          i);
        if (!json_is_string(json_object_get(out, "name")))
            return skiff_validation_fail(c->v, op, SKIFF_EINVAL,
                                         "an output parameter needs a name");
        if (!json_is_string(json_object_get(vf, "path")) &&
            !json_is_string(json_object_get(vf, "jsonPath")) && !json_object_get(out, "value"))
            return skiff_validation_fail(c->v, op, SKIFF_EINVAL,
                                         "output parameter \"%s\" needs valueFrom.path or "
                                         "valueFrom.jsonPath (jqFilter is not supported)",
                                         json_string_value(json_object_get(out, "name")));
    }
    if (has_tag(manifest))
        return 0;
    workflow__ptr(p, bp, "manifest");
    if (skiff_yaml_parse(manifest, strlen(manifest), "manifest", &docs, &e) ||
        skiff_yaml_count(docs) != 1) {
        rc = skiff_validation_fail(c->v, p, SKIFF_EINVAL, "the manifest must be one YAML "
                                                           "object%s%s",
                                   e.msg[0] ? ": " : "", e.msg);
        goto out;
    }
    if (json_patch) {
        size_t bad;
        if (workflow__json_patch_check(skiff_yaml_doc(docs, 0), &bad, &e))
            rc = skiff_validation_fail(c->v, p, SKIFF_EINVAL, "bad JSON patch: %s", e.msg);
        goto out;
    }
    {
        const json_t *obj = skiff_yaml_doc(docs, 0);
        const char *av = json_string_value(json_object_get(obj, "apiVersion"));
        const char *kind = json_string_value(json_object_get(obj, "kind"));
        const struct skiff_kind *k;
        if (!json_is_object(obj)) {
            rc = skiff_validation_fail(c->v, p, SKIFF_EINVAL,
                                       "the manifest of a %s must be an object with apiVersion, "
                                       "kind and metadata.name%s", action,
                                       strcmp(action, "patch") == 0
                                           ? " (a list of operations needs mergeStrategy: json)"
                                           : "");
            goto out;
        }
        if (workflow__job_kind(obj) && strcmp(action, "create") != 0 &&
            strcmp(action, "apply") != 0) {
            rc = skiff_validation_fail(c->v, workflow__ptr(p, bp, "action"), SKIFF_EINVAL,
                                       "a PyTorchJob can only be created (or applied): its "
                                       "replicas belong to the node that creates it, so '%s' "
                                       "has nothing to act on", action);
            goto out;
        }
        if (strcmp(action, "create") != 0 &&
            !json_is_string(json_object_get(json_object_get(obj, "metadata"), "name"))) {
            rc = skiff_validation_fail(c->v, p, SKIFF_EINVAL,
                                       "Kind and name are both required: a %s needs "
                                       "metadata.name (generateName is for create)", action);
            goto out;
        }
        if (workflow__job_kind(obj)) {
            struct workflow__request r;
            json_t *copy = json_deep_copy(obj);
            if (!copy || workflow__job_parse(copy, &job, &e)) {
                json_decref(copy);
                rc = skiff_validation_fail(c->v, p, SKIFF_EINVAL, "%s",
                                           copy ? e.msg : "out of memory");
                goto out;
            }
            memset(&r, 0, sizeof r);
            for (size_t x = 0; x < job->n; x++) {
                struct workflow__request one = {0};
                if (workflow__request_parse(json_object_get(job->reps[x].container,
                                                            "resources"), &one, &e)) {
                    rc = skiff_validation_fail(c->v, p, SKIFF_EINVAL, "%s %d: %s",
                                               job->reps[x].type, job->reps[x].index, e.msg);
                    goto out;
                }
                r.cpu += one.cpu;
                r.memory += one.memory;
                r.gpus += one.gpus;
            }
            if ((r.cpu || r.memory || r.gpus) && workflow__sched_check(&r, &e)) {
                rc = skiff_validation_fail(c->v, p, SKIFF_EINVAL, "the PyTorchJob's replicas "
                                                                   "together: %s", e.msg);
                goto out;
            }
        } else if (!kind || skiff_kind_for(av ? av : "", kind, &k, &e)) {
            rc = skiff_validation_fail(c->v, p, SKIFF_EINVAL,
                                       "resource kind '%s' (%s) is not supported locally: "
                                       "PyTorchJob (kubeflow.org/v1) and skiff's kinds are",
                                       kind ? kind : "", av ? av : "no apiVersion");
            goto out;
        } else if (json_array_size(json_object_get(json_object_get(t, "outputs"),
                                                   "artifacts"))) {
            rc = skiff_validation_fail(c->v, workflow__ptr(p, ptr, "outputs"), SKIFF_EINVAL,
                                       "output artifacts of a resource template come from a "
                                       "PyTorchJob's Master; a %s has no files", kind);
            goto out;
        }
    }
out:
    if (job) {
        workflow__job_free(job);
    }
    skiff_yaml_free(docs);
    return rc;
}

static int check_template(struct vctx *c, const json_t *t, const char *ptr)
{
    const char *type = workflow__template_type(t);
    char p[WORKFLOW__PTR_MAX], bp[WORKFLOW__PTR_MAX];
    const json_t *body, *out;
    size_t i;
    int rc;

    c->tmpl = t;
    c->tasks = c->steps = NULL;
    if (strcmp(type, "container") != 0 && strcmp(type, "script") != 0 &&
        strcmp(type, "dag") != 0 && strcmp(type, "steps") != 0 && strcmp(type, "resource") != 0)
        return skiff_validation_fail(c->v, workflow__ptr(p, ptr, type), SKIFF_EINVAL,
                                     "template type '%s' is not supported by the local engine "
                                     "yet (container, script, resource, dag and steps are)",
                                     type);
    body = json_object_get(t, type);
    workflow__ptr(bp, ptr, type);
    if ((rc = check_artifact_decls(c, t, type, ptr)))
        return rc;
    if (strcmp(type, "resource") == 0)
        return check_resource(c, t, body, ptr, bp);
    if (strcmp(type, "container") == 0 || strcmp(type, "script") == 0) {
        const json_t *cmd = json_object_get(body, "command"), *a;
        if (!json_is_array(cmd) || json_array_size(cmd) == 0)
            return skiff_validation_fail(c->v, workflow__ptr(p, bp, "command"), SKIFF_EINVAL,
                                         "%s.command is required: the step runs as a host "
                                         "process, without the image's entrypoint", type);
        json_array_foreach(cmd, i, a)
            if (!json_is_string(a) && !json_is_number(a))
                return skiff_validation_fail(c->v, workflow__ptr_idx(p, workflow__ptr(p, bp,
                                             "command"), i), SKIFF_EINVAL,
                                             "command entries must be strings");
        if (strcmp(type, "script") == 0 && !json_is_string(json_object_get(body, "source")))
            return skiff_validation_fail(c->v, workflow__ptr(p, bp, "source"), SKIFF_EINVAL,
                                         "script.source is required");
        if ((rc = check_quantities(c->v, json_object_get(body, "resources"),
                                   workflow__ptr(p, bp, "resources"))) ||
            (rc = check_fit(c, t, json_object_get(body, "resources"), bp)))
            return rc;
        json_array_foreach(json_object_get(json_object_get(t, "outputs"), "parameters"), i,
                           out) {
            char op[WORKFLOW__PTR_MAX];
            workflow__ptr_idx(op, workflow__ptr(p, workflow__ptr(p, ptr, "outputs"),
                                                "parameters"), i);
            if (!json_is_string(json_object_get(out, "name")))
                return skiff_validation_fail(c->v, op, SKIFF_EINVAL,
                                             "an output parameter needs a name");
            if (!json_is_string(json_object_get(json_object_get(out, "valueFrom"), "path")) &&
                !json_object_get(out, "value"))
                return skiff_validation_fail(c->v, op, SKIFF_EINVAL,
                                             "output parameter \"%s\" needs valueFrom.path",
                                             json_string_value(json_object_get(out, "name")));
        }
    } else if (strcmp(type, "dag") == 0) {
        c->tasks = json_object_get(body, "tasks");
    } else {
        c->steps = body;
    }
    if (json_object_get(t, "timeout")) {
        char *text = workflow__scalar(json_object_get(t, "timeout"));
        int64_t us;
        rc = !text ? SKIFF_EINVAL : has_tag(text) ? 0 : skiff_duration_parse(text, &us, NULL);
        free(text);
        if (rc)
            return skiff_validation_fail(c->v, workflow__ptr(p, ptr, "timeout"), SKIFF_EINVAL,
                                         "timeout must be a duration such as \"30s\" or \"5m\"");
    }
    if ((rc = check_retry(c->v, json_object_get(t, "retryStrategy"),
                          workflow__ptr(p, ptr, "retryStrategy"))) ||
        (rc = check_int_or_string(c->v, t, ptr, "activeDeadlineSeconds")) ||
        (rc = check_int_or_string(c->v, t, ptr, "parallelism")))
        return rc;
    /* inputs: each a named parameter */
    json_array_foreach(json_object_get(json_object_get(t, "inputs"), "parameters"), i, out) {
        char ip[WORKFLOW__PTR_MAX];
        if (!json_is_string(json_object_get(out, "name")))
            return skiff_validation_fail(
                c->v, workflow__ptr_idx(ip, workflow__ptr(ip, workflow__ptr(ip, ptr, "inputs"),
                                                          "parameters"), i),
                SKIFF_EINVAL, "an input parameter needs a name");
    }
    if ((rc = check_strings(c, t, ptr)) || (rc = check_graph_outputs(c, t, ptr)))
        return rc;
    if (c->tasks)
        return check_dag(c, body, bp);
    if (c->steps)
        return check_steps(c, bp);
    return 0;
}

/* spec.arguments.parameters after `-p` overrides, into wf->params. */
static int bind_arguments(struct skiff_workflow *wf, struct skiff_validation *v,
                          const struct skiff_workflow_param *params, size_t nparams)
{
    const json_t *args = json_object_get(json_object_get(wf->spec, "arguments"), "parameters");
    const json_t *a;
    char p[WORKFLOW__PTR_MAX];
    size_t i;

    for (size_t k = 0; k < nparams; k++)
        if (find_named(args, params[k].name) < 0)
            return skiff_err_set(v->err, SKIFF_EINVAL,
                                 "parameter '%s' is not declared in spec.arguments.parameters",
                                 params[k].name);
    json_array_foreach(args, i, a) {
        const char *name = json_string_value(json_object_get(a, "name"));
        const json_t *en = json_object_get(a, "enum"), *e;
        char *value = NULL;
        size_t j;
        bool in_enum = false;

        workflow__ptr_idx(p, "/spec/arguments/parameters", i);
        for (size_t k = nparams; k-- > 0;)
            if (strcmp(params[k].name, name) == 0) {
                value = strdup(params[k].value);
                break;
            }
        if (!value && json_object_get(a, "value"))
            value = workflow__scalar(json_object_get(a, "value"));
        if (!value)
            return skiff_validation_fail(v, p, SKIFF_EINVAL,
                                         "spec.arguments.%s.value or spec.arguments.%s.valueFrom "
                                         "is required (or give -p %s=VALUE)", name, name, name);
        json_array_foreach(en, j, e) {
            char *s = workflow__scalar(e);
            in_enum = in_enum || (s && strcmp(s, value) == 0);
            free(s);
        }
        if (en && !in_enum) {
            int rc = skiff_validation_fail(v, workflow__ptr(p, p, "enum"), SKIFF_EINVAL,
                                           "spec.arguments.%s.value should be present in "
                                           "spec.arguments.%s.enum list", name, name);
            free(value);
            return rc;
        }
        json_array_append_new(wf->params, json_pack("{s:s, s:s}", "name", name, "value", value));
        free(value);
    }
    return 0;
}

void workflow__random_chars(char *out, size_t n, const char *alphabet)
{
    unsigned char r[64];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    size_t got = 0, alen = strlen(alphabet);

    if (fd >= 0) {
        ssize_t k = read(fd, r, n < sizeof r ? n : sizeof r);
        got = k > 0 ? (size_t)k : 0;
        close(fd);
    }
    for (size_t i = 0; i < n; i++) {
        /* without /dev/urandom the time and pid still make names differ */
        unsigned v = i < got ? r[i] : (unsigned)(getpid() * 31 + i * 7 + (size_t)time(NULL));
        out[i] = alphabet[v % alen];
    }
    out[n] = '\0';
}

int skiff_workflow_load(const json_t *obj, const struct skiff_yaml_docs *docs, size_t doc_index,
                        const struct skiff_workflow_param *params, size_t nparams,
                        struct skiff_workflow **out, struct skiff_err *err)
{
    struct skiff_validation v = {.docs = docs, .doc_index = doc_index, .err = err};
    struct skiff_workflow *wf = NULL;
    const struct skiff_kind *kind;
    const json_t *meta, *t, *entry_t;
    struct vctx c;
    char p[WORKFLOW__PTR_MAX], u[40];
    size_t i;
    int rc;

    *out = NULL;
    skiff_err_clear(err);   /* validation keeps only the first error it sees */
    if ((rc = skiff_resource_validate(obj, &v, &kind)))
        goto out;
    if (strcmp(kind->kind, "Workflow") != 0) {
        rc = skiff_validation_fail(&v, "/kind", SKIFF_EINVAL,
                                   "skiff run takes a Workflow, not a %s", kind->kind);
        goto out;
    }
    if (!(wf = calloc(1, sizeof *wf)) || !(wf->obj = json_deep_copy(obj)) ||
        !(wf->params = json_array())) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    wf->spec = json_object_get(wf->obj, "spec");
    if (json_object_get(wf->spec, "workflowTemplateRef")) {
        rc = skiff_validation_fail(&v, "/spec/workflowTemplateRef", SKIFF_EINVAL,
                                   "workflowTemplateRef needs its WorkflowTemplate (skiff run "
                                   "-f FILE)");
        goto out;
    }
    if ((rc = bind_arguments(wf, &v, params, nparams)))
        goto out;
    c = (struct vctx){.v = &v, .wf = wf, .group = -1};
    json_array_foreach(json_object_get(wf->spec, "templates"), i, t) {
        workflow__ptr_idx(p, "/spec/templates", i);
        if ((rc = check_template(&c, t, p)))
            goto out;
    }
    if ((rc = check_retry(&v, json_object_get(wf->spec, "retryStrategy"),
                          "/spec/retryStrategy")) ||
        (rc = check_int_or_string(&v, wf->spec, "/spec", "activeDeadlineSeconds")) ||
        (rc = check_int_or_string(&v, wf->spec, "/spec", "parallelism")))
        goto out;
    /* the entrypoint's inputs come from spec.arguments */
    entry_t = workflow__template(wf, json_string_value(json_object_get(wf->spec, "entrypoint")));
    json_array_foreach(json_object_get(json_object_get(entry_t, "inputs"), "parameters"), i, t) {
        const char *n = json_string_value(json_object_get(t, "name"));
        if (json_object_get(t, "value") || json_object_get(t, "default") ||
            find_named(wf->params, n) >= 0)
            continue;
        rc = skiff_validation_fail(&v, "/spec/entrypoint", SKIFF_EINVAL,
                                   "inputs.parameters.%s was not supplied (the entrypoint needs "
                                   "it in spec.arguments.parameters)", n);
        goto out;
    }
    /* ... and its input artifacts from spec.arguments.artifacts (raw data:
     * nothing has run yet for a `from`) */
    {
        const json_t *args = json_object_get(json_object_get(wf->spec, "arguments"),
                                             "artifacts");
        json_array_foreach(args, i, t) {
            workflow__ptr_idx(p, "/spec/arguments/artifacts", i);
            if (!json_is_string(json_object_get(t, "name")) ||
                !json_object_get(t, "raw") || json_object_get(t, "from")) {
                rc = skiff_validation_fail(&v, p, SKIFF_EINVAL,
                                           "spec.arguments.artifacts need a name and raw.data "
                                           "(the local engine has no remote locations)");
                goto out;
            }
            if ((rc = check_location(&c, t, p)))
                goto out;
        }
        json_array_foreach(json_object_get(json_object_get(entry_t, "inputs"), "artifacts"), i,
                           t) {
            const char *n = json_string_value(json_object_get(t, "name"));
            if (json_is_true(json_object_get(t, "optional")) || json_object_get(t, "raw") ||
                find_named(args, n) >= 0)
                continue;
            rc = skiff_validation_fail(&v, "/spec/entrypoint", SKIFF_EINVAL,
                                       "inputs.artifacts.%s was not supplied (the entrypoint "
                                       "needs it in spec.arguments.artifacts)", n);
            goto out;
        }
    }

    meta = json_object_get(wf->obj, "metadata");
    if (json_is_string(json_object_get(meta, "name"))) {
        wf->name = strdup(json_string_value(json_object_get(meta, "name")));
    } else {
        char suffix[6];
        workflow__random_chars(suffix, 5, "bcdfghjklmnpqrstvwxz2456789");
        wf->name = malloc(strlen(json_string_value(json_object_get(meta, "generateName"))) + 6);
        if (wf->name)
            sprintf(wf->name, "%s%s", json_string_value(json_object_get(meta, "generateName")),
                    suffix);
    }
    workflow__random_chars(u, 32, "0123456789abcdef");
    wf->uid = malloc(37);
    if (!wf->name || !wf->uid) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    u[12] = '4';   /* a version-4 UUID */
    snprintf(wf->uid, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", u, u + 8, u + 12, u + 16, u + 20);
    /* a stored Workflow (the controller) keeps the uid the store gave it:
     * {{workflow.uid}} and the steps' lineage must not change on a resume */
    if (json_is_string(json_object_get(meta, "uid")) &&
        strlen(json_string_value(json_object_get(meta, "uid"))) == 36)
        snprintf(wf->uid, 37, "%s", json_string_value(json_object_get(meta, "uid")));
    json_object_set_new((json_t *)meta, "name", json_string(wf->name));
    json_object_set_new((json_t *)meta, "uid", json_string(wf->uid));
    if (!json_object_get(meta, "namespace"))
        json_object_set_new((json_t *)meta, "namespace", json_string("default"));
    *out = wf;
    wf = NULL;
out:
    for (size_t k = 0; k < v.nwarnings; k++)
        skiff_warn("%s", v.warnings[k]);
    skiff_validation_release(&v);
    skiff_workflow_free(wf);
    return rc;
}

static bool mentions_refs(const json_t *v)
{
    const char *key;
    const json_t *it;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, key, it)
            if (strcmp(key, "templateRef") == 0 || strcmp(key, "workflowTemplateRef") == 0 ||
                mentions_refs(it))
                return true;
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, it)
            if (mentions_refs(it))
                return true;
    }
    return false;
}

int skiff_workflow_load_with(const json_t *obj, const struct skiff_yaml_docs *docs,
                             size_t doc_index, const json_t *const *templates, size_t ntemplates,
                             const struct skiff_workflow_param *params, size_t nparams,
                             struct skiff_workflow **out, struct skiff_err *err)
{
    struct skiff_validation v = {.docs = docs, .doc_index = doc_index, .err = err};
    const struct skiff_kind *kind;
    json_t *expanded = NULL;
    char where[WORKFLOW__PTR_MAX];
    bool whole;
    int rc;

    *out = NULL;
    if (!ntemplates || !mentions_refs(json_object_get(obj, "spec")))
        return skiff_workflow_load(obj, docs, doc_index, params, nparams, out, err);
    skiff_err_clear(err);
    /* the file as written first, so that its errors have positions */
    if ((rc = skiff_resource_validate(obj, &v, &kind)))
        goto out;
    whole = json_object_get(json_object_get(obj, "spec"), "workflowTemplateRef") != NULL;
    if ((rc = workflow__expand_refs(obj, templates, ntemplates, &expanded, where, sizeof where,
                                    err))) {
        char msg[SKIFF_ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->msg);
        skiff_err_clear(err);
        rc = skiff_validation_fail(&v, where, SKIFF_EINVAL, "%s", msg);
        goto out;
    }
    /* with a workflowTemplateRef the spec is the template's: positions in
     * this file would point at the wrong lines, so the engine's checks
     * name fields only */
    rc = skiff_workflow_load(expanded, whole ? NULL : docs, doc_index, params, nparams, out, err);
out:
    skiff_validation_release(&v);
    json_decref(expanded);
    return rc;
}

void skiff_workflow_free(struct skiff_workflow *wf)
{
    if (!wf)
        return;
    json_decref(wf->obj);
    json_decref(wf->params);
    free(wf->name);
    free(wf->uid);
    free(wf);
}

const char *skiff_workflow_name(const struct skiff_workflow *wf)
{
    return wf->name;
}

const char *skiff_workflow_uid(const struct skiff_workflow *wf)
{
    return wf->uid;
}

json_t *skiff_workflow_object(const struct skiff_workflow *wf, const json_t *status)
{
    json_t *o = json_deep_copy(wf->obj);
    if (o && status)
        json_object_set_new(o, "status", json_deep_copy(status));
    return o;
}
