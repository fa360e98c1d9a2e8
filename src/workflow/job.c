/* `resource` templates: the PyTorchJob model (kubeflow.org/v1) and Argo's
 * success/failure conditions.
 *
 * A PyTorchJob's spec.pytorchReplicaSpecs names replica types (Master,
 * Worker) with a replica count and a pod template; locally each replica is
 * a process (spawned by exec.c). Ranks follow the training operator: the
 * Master is rank 0, Workers 1..n (without a Master, Workers 0..n-1);
 * WORLD_SIZE is the number of replicas of all types.
 *
 * Invariants
 *   - reps[] is in rank order and never changes after workflow__job_parse.
 *   - status.replicaStatuses.<type> = {active, succeeded, failed} counts
 *     the replicas of that type by state: not yet exited, exited 0, else
 *     (workflow__job_update recomputes it from reps[]).
 *
 * A replica's life (the function making each transition):
 *
 *   planned --(exec.c spawn)--> active --(exec.c reap)--> succeeded | failed
 *
 * Conditions (spec §11.3) use Kubernetes label-selector syntax whose keys are
 * gjson dot paths into the object: `status.replicaStatuses.Worker.succeeded
 * == 3`, `status.failed > 0, metadata.name`, `x in (a,b)`, `!x`.
 * Worked example: on {"status": {"replicaStatuses": {"Worker": {"succeeded":
 * 2}}}}, "status.replicaStatuses.Worker.succeeded > 1" reads "2", parses
 * both sides as int64 and holds; "... == 3" compares "2" with "3" as text
 * and fails.
 */
#include "workflow_int.h"

#include "skiff/err.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COND_MAX 4096
#define REQ_MAX 64

/* ---- gjson dot paths ---- */

const json_t *workflow__json_path(const json_t *obj, const char *path)
{
    char part[256];
    const json_t *cur = obj;

    while (cur && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof part)
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, part);
        } else if (json_is_array(cur)) {
            char *end;
            long idx = strtol(part, &end, 10);
            cur = *part && !*end && idx >= 0 ? json_array_get(cur, (size_t)idx) : NULL;
        } else {
            return NULL;
        }
        path += n;
        if (*path == '.')
            path++;
    }
    return cur;
}

/* ---- conditions ---- */

enum op { OP_EXISTS, OP_NOT_EXISTS, OP_EQ, OP_NE, OP_IN, OP_NOTIN, OP_GT, OP_LT };

struct req {
    enum op op;
    char key[256];
    char vals[8][64];
    int nvals;
    char text[320];     /* the requirement as written, for messages */
};

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static bool label_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/* A label value: at most 63 of [A-Za-z0-9_.-] (may be empty). */
static int read_value(const char **sp, char *out, struct skiff_err *err)
{
    const char *s = skip_ws(*sp);
    size_t n = 0;
    while (label_char(s[n]))
        n++;
    if (n > 63)
        return skiff_err_set(err, SKIFF_EINVAL, "condition value '%.*s' is longer than 63 "
                                                "characters", (int)n, s);
    memcpy(out, s, n);
    out[n] = '\0';
    *sp = skip_ws(s + n);
    return 0;
}

/* Parses `cond` into reqs[REQ_MAX]; returns 0 with *n set, or SKIFF_EINVAL. */
static int parse_cond(const char *cond, struct req *reqs, int *n, struct skiff_err *err)
{
    const char *s = cond;
    int rc;

    *n = 0;
    if (strlen(cond) > COND_MAX)
        return skiff_err_set(err, SKIFF_ETOOBIG, "condition longer than %d characters",
                             COND_MAX);
    s = skip_ws(s);
    if (!*s)
        return skiff_err_set(err, SKIFF_EINVAL, "empty condition");
    while (*s) {
        struct req *r = &reqs[*n];
        const char *start = s;
        size_t k = 0;
        if (*n == REQ_MAX)
            return skiff_err_set(err, SKIFF_EINVAL, "more than %d requirements", REQ_MAX);
        memset(r, 0, sizeof *r);
        r->op = OP_EXISTS;
        if (*s == '!') {
            r->op = OP_NOT_EXISTS;
            s = skip_ws(s + 1);
        }
        while (label_char(s[k]) || s[k] == '/')
            k++;
        if (k == 0 || k >= sizeof r->key)
            return skiff_err_set(err, SKIFF_EINVAL, "condition '%s': expected a key at '%s'",
                                 cond, s);
        memcpy(r->key, s, k);
        s = skip_ws(s + k);
        if (r->op == OP_NOT_EXISTS) {
            /* nothing follows */
        } else if (strncmp(s, "==", 2) == 0 || strncmp(s, "!=", 2) == 0 || *s == '=') {
            r->op = *s == '!' ? OP_NE : OP_EQ;
            s += *s == '=' && s[1] != '=' ? 1 : 2;
            if ((rc = read_value(&s, r->vals[0], err)))
                return rc;
            r->nvals = 1;
        } else if (*s == '>' || *s == '<') {
            r->op = *s == '>' ? OP_GT : OP_LT;
            s++;
            if ((rc = read_value(&s, r->vals[0], err)))
                return rc;
            r->nvals = 1;
        } else if ((strncmp(s, "in", 2) == 0 && !label_char(s[2])) ||
                   (strncmp(s, "notin", 5) == 0 && !label_char(s[5]))) {
            r->op = s[0] == 'i' ? OP_IN : OP_NOTIN;
            s = skip_ws(s + (r->op == OP_IN ? 2 : 5));
            if (*s != '(')
                return skiff_err_set(err, SKIFF_EINVAL, "condition '%s': expected '(' after "
                                                        "'%s'", cond,
                                     r->op == OP_IN ? "in" : "notin");
            s++;
            for (;;) {
                if (r->nvals == 8)
                    return skiff_err_set(err, SKIFF_EINVAL, "condition '%s': more than 8 "
                                                            "values in a set", cond);
                if ((rc = read_value(&s, r->vals[r->nvals++], err)))
                    return rc;
                if (*s == ',') {
                    s++;
                    continue;
                }
                if (*s == ')') {
                    s = skip_ws(s + 1);
                    break;
                }
                return skiff_err_set(err, SKIFF_EINVAL, "condition '%s': expected ',' or ')' "
                                                        "in a set", cond);
            }
        }
        if (*s && *s != ',')
            return skiff_err_set(err, SKIFF_EINVAL, "condition '%s': unexpected '%s'", cond, s);
        {
            /* the requirement as written, trimmed */
            size_t len = (size_t)(s - start);
            while (len && (start[len - 1] == ' ' || start[len - 1] == '\t'))
                len--;
            snprintf(r->text, sizeof r->text, "%.*s", (int)len, start);
        }
        (*n)++;
        if (*s == ',') {
            s = skip_ws(s + 1);
            if (!*s)
                return skiff_err_set(err, SKIFF_EINVAL, "condition '%s' ends with ','", cond);
        }
    }
    return 0;
}

int workflow__cond_check(const char *cond, struct skiff_err *err)
{
    struct req *reqs = malloc(REQ_MAX * sizeof *reqs);
    int n, rc;
    if (!reqs)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    rc = parse_cond(cond, reqs, &n, err);
    free(reqs);
    return rc;
}

/* gjson's String(): strings as they are, numbers and booleans as JSON. */
static bool value_text(const json_t *v, char *buf, size_t len)
{
    char *s;
    if (!v)
        return false;
    if (!(s = workflow__scalar(v))) {
        /* objects and arrays exist but are no label value */
        buf[0] = '\x01';
        buf[1] = '\0';
        return true;
    }
    snprintf(buf, len, "%s", s);
    free(s);
    return true;
}

static bool parse_i64(const char *s, long long *out)
{
    char *end;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return *s && !*end && errno == 0;
}

static bool req_matches(const struct req *r, const json_t *obj)
{
    char have[512];
    bool exists = value_text(workflow__json_path(obj, r->key), have, sizeof have);
    long long a, b;

    switch (r->op) {
    case OP_EXISTS:
        return exists;
    case OP_NOT_EXISTS:
        return !exists;
    case OP_EQ:
        return exists && strcmp(have, r->vals[0]) == 0;
    case OP_NE:
        return !exists || strcmp(have, r->vals[0]) != 0;
    case OP_IN:
    case OP_NOTIN: {
        bool in = false;
        for (int k = 0; exists && k < r->nvals; k++)
            in |= strcmp(have, r->vals[k]) == 0;
        return r->op == OP_IN ? in : !in;
    }
    case OP_GT:
    case OP_LT:
        if (!exists || !parse_i64(have, &a) || !parse_i64(r->vals[0], &b))
            return false;
        return r->op == OP_GT ? a > b : a < b;
    }
    return false;
}

int workflow__cond_eval(const char *cond, const json_t *obj, bool any, bool *out, char *which,
                        size_t len, struct skiff_err *err)
{
    struct req *reqs = malloc(REQ_MAX * sizeof *reqs);
    int n, rc;

    *out = false;
    if (which && len)
        which[0] = '\0';
    if (!reqs)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if ((rc = parse_cond(cond, reqs, &n, err)))
        goto out;
    *out = !any;
    for (int k = 0; k < n; k++) {
        bool m = req_matches(&reqs[k], obj);
        if (any && m) {
            *out = true;
            if (which)
                snprintf(which, len, "%s", reqs[k].text);
            break;
        }
        if (!any && !m) {
            *out = false;
            break;
        }
    }
out:
    free(reqs);
    return rc;
}

/* ---- the PyTorchJob ---- */

bool workflow__job_kind(const json_t *obj)
{
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *k = json_string_value(json_object_get(obj, "kind"));
    return av && k && strcmp(av, "kubeflow.org/v1") == 0 && strcmp(k, "PyTorchJob") == 0;
}

static const char *const replica_types[] = {"Master", "Worker"};

int workflow__job_parse(json_t *obj, struct workflow__job **out, struct skiff_err *err)
{
    const json_t *specs = json_object_get(json_object_get(obj, "spec"), "pytorchReplicaSpecs");
    struct workflow__job *j = NULL;
    size_t total = 0, r = 0;
    const char *key;
    const json_t *v;

    *out = NULL;
    if (!json_is_object(specs) || json_object_size(specs) == 0)
        return skiff_err_set(err, SKIFF_EINVAL, "PyTorchJob needs spec.pytorchReplicaSpecs");
    json_object_foreach((json_t *)specs, key, v) {
        const json_t *reps = json_object_get(v, "replicas");
        const json_t *c = json_array_get(
            json_object_get(json_object_get(json_object_get(v, "template"), "spec"),
                            "containers"), 0);
        const json_t *cmd = json_object_get(c, "command");
        if (strcmp(key, "Master") != 0 && strcmp(key, "Worker") != 0)
            return skiff_err_set(err, SKIFF_EINVAL, "PyTorchJob replica type '%s' is not "
                                                    "Master or Worker", key);
        if (reps && (!json_is_integer(reps) || json_integer_value(reps) < 0 ||
                     json_integer_value(reps) > 64))
            return skiff_err_set(err, SKIFF_EINVAL, "pytorchReplicaSpecs.%s.replicas must be "
                                                    "an integer from 0 to 64", key);
        if (strcmp(key, "Master") == 0 && reps && json_integer_value(reps) > 1)
            return skiff_err_set(err, SKIFF_EINVAL, "a PyTorchJob has at most 1 Master");
        if (!json_is_array(cmd) || json_array_size(cmd) == 0)
            return skiff_err_set(err, SKIFF_EINVAL,
                                 "pytorchReplicaSpecs.%s.template.spec.containers[0].command "
                                 "is required: replicas run as host processes, without the "
                                 "image's entrypoint", key);
        total += reps ? (size_t)json_integer_value(reps) : 1;
    }
    if (total == 0)
        return skiff_err_set(err, SKIFF_EINVAL, "PyTorchJob has no replicas");
    if (!(j = calloc(1, sizeof *j)) || !(j->reps = calloc(total, sizeof *j->reps))) {
        free(j);
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    for (size_t t = 0; t < 2; t++) {
        const json_t *spec = json_object_get(specs, replica_types[t]);
        const json_t *reps = json_object_get(spec, "replicas");
        size_t n = !spec ? 0 : reps ? (size_t)json_integer_value(reps) : 1;
        for (size_t k = 0; k < n; k++, r++) {
            struct workflow__replica *rp = &j->reps[r];
            snprintf(rp->type, sizeof rp->type, "%s", replica_types[t]);
            rp->index = (int)k;
            rp->rank = (int)r;
            rp->container = json_array_get(
                json_object_get(json_object_get(json_object_get(spec, "template"), "spec"),
                                "containers"), 0);
            rp->proc.status_fd = -1;
        }
    }
    j->n = total;
    j->obj = obj;
    workflow__job_update(j);
    *out = j;
    return 0;
}

void workflow__job_update(struct workflow__job *j)
{
    json_t *st = json_object_get(j->obj, "status");
    json_t *rs = json_object();

    if (!json_is_object(st)) {
        st = json_object();
        json_object_set_new(j->obj, "status", st);
    }
    for (size_t t = 0; t < 2; t++) {
        int active = 0, ok = 0, failed = 0, any = 0;
        for (size_t k = 0; k < j->n; k++) {
            const struct workflow__replica *r = &j->reps[k];
            if (strcmp(r->type, replica_types[t]) != 0)
                continue;
            any++;
            if (!r->exited)
                active++;
            else if (r->ok)
                ok++;
            else
                failed++;
        }
        if (any)
            json_object_set_new(rs, replica_types[t],
                                json_pack("{s:i, s:i, s:i}", "active", active, "succeeded", ok,
                                          "failed", failed));
    }
    json_object_set_new(st, "replicaStatuses", rs);
}

bool workflow__job_active(const struct workflow__job *j)
{
    for (size_t k = 0; j && k < j->n; k++)
        if (j->reps[k].spawned && !j->reps[k].exited)
            return true;
    return false;
}

int workflow__job_default_result(const struct workflow__job *j)
{
    bool master_ok = false, has_master = false, all_ok = true;
    for (size_t k = 0; k < j->n; k++) {
        const struct workflow__replica *r = &j->reps[k];
        if (r->exited && !r->ok)
            return -1;
        all_ok &= r->exited && r->ok;
        if (strcmp(r->type, "Master") == 0) {
            has_master = true;
            master_ok = r->exited && r->ok;
        }
    }
    /* the training operator: the Master's success is the job's */
    return (has_master ? master_ok : all_ok) ? 1 : 0;
}

void workflow__job_free(struct workflow__job *j)
{
    if (!j)
        return;
    json_decref(j->obj);
    free(j->reps);
    free(j);
}

/* ---- actions (spec §11.2) ---- */

bool workflow__resource_action_known(const char *action)
{
    static const char *const actions[] = {"get", "create", "apply", "delete", "replace",
                                          "patch", NULL};
    for (size_t k = 0; action && actions[k]; k++)
        if (strcmp(actions[k], action) == 0)
            return true;
    return false;
}

int workflow__resource_target_flags(const json_t *flags, char *kind, size_t klen, char *name,
                                    size_t nlen)
{
    const char *a = json_string_value(json_array_get(flags, 0));
    const char *b = json_string_value(json_array_get(flags, 1));
    const char *slash;

    if (!json_is_array(flags) || !a)
        return -1;
    if (json_array_size(flags) == 1 && (slash = strchr(a, '/')) && slash[1]) {
        /* kubectl's KIND/NAME */
        snprintf(kind, klen, "%.*s", (int)(slash - a), a);
        snprintf(name, nlen, "%s", slash + 1);
        return 0;
    }
    if (json_array_size(flags) != 2 || !b || !*a || !*b)
        return -1;
    snprintf(kind, klen, "%s", a);
    snprintf(name, nlen, "%s", b);
    return 0;
}
