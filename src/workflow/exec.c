/* The executor: runs one workflow to its end in this process.
 *
 * Invariants
 *   - Nodes are only added, never removed; a node's index in e->nodes is
 *     stable, and its ID is the workflow name (root) or
 *     "<wf>-<fnv32a(node name)>" (spec §10.2).
 *   - A node's phase only moves forward along the diagram below; once
 *     fulfilled (Succeeded, Failed, Error, Skipped, Omitted) it never
 *     changes again.
 *   - Every Running pod node has a live child process (proc.pid), or a
 *     job whose replicas are children, or a created skiff object; only the
 *     loop in skiff_workflow_run_many reaps.
 *   - A pod node holds a ledger grant (sched.c) exactly while its
 *     processes may run: taken before the spawn, released when reaped.
 *   - children are the nodes a node contains (DAG -> tasks, TaskGroup ->
 *     items, Retry -> attempts, Steps -> StepGroups -> steps), which is
 *     what the tree printers need; Argo's DAG edges between tasks are
 *     not reproduced (docs/workflows.md).
 *
 * Node phases (the function making each transition):
 *
 *   Pending --start_pod--> Running --finish_pod--> Succeeded | Failed | Error
 *      |                                  (Failed when killed: deadline, OOM)
 *      +--step_pod (workflow deadline passed)--> Failed
 *      +--acquire (the ledger has no room)--> Pending, the reason as message
 *   resource pod: Pending --start_resource--> Running
 *                 --step_job (replicas reaped) / step_kind--> Succeeded | Failed | Error
 *                 Pending --kind_action (delete; or the store refused)--> Succeeded | Error
 *   Running (DAG, Steps, TaskGroup, Retry) --step_*--> Succeeded | Failed | Error
 *   (new) --add_call (when false)--> Skipped;  --step_dag (depends false)--> Omitted
 *
 * The loop: reconcile from the root (step), start what may start, reap
 * what exited (wait4 on each child's own pid, so that engines in several
 * threads coexist), sleep a little when nothing happened; after the root
 * is fulfilled, the onExit node is added and run the same way.
 */
#include "workflow_int.h"

#include "skiff/auth.h"
#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/resource.h"
#include "skiff/store.h"
#include "skiff/time.h"
#include "skiff/yaml.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define OUTPUT_MAX (256 << 10)   /* an output parameter or result: last 256 KiB */
#define STDERR_TAIL 3            /* lines of stderr in a failure message */
#define STOPPED "Stopped: interrupted"

enum phase { P_PENDING, P_RUNNING, P_SUCCEEDED, P_SKIPPED, P_FAILED, P_ERROR, P_OMITTED };
enum ntype { N_POD, N_STEPS, N_STEPGROUP, N_DAG, N_TASKGROUP, N_RETRY, N_SKIPPED };

static const char *const phase_names[] = {"Pending", "Running", "Succeeded", "Skipped",
                                          "Failed", "Error", "Omitted"};
static const char *const type_names[] = {"Pod", "Steps", "StepGroup", "DAG", "TaskGroup",
                                         "Retry", "Skipped"};

struct node {
    char *name, *display, *id, *tmpl_name, *message;
    enum ntype type;
    enum phase phase;
    int64_t started, finished;     /* wall clock, us; 0 = not yet */
    json_t *inputs, *outputs;      /* owned; NULL when none */
    size_t *children, nchildren, capchildren;
    long boundary;                 /* enclosing dag/steps node, -1 for the roots */
    bool exit_handler;             /* part of the onExit subtree */
    const json_t *tmpl;            /* borrowed from the workflow */
    const json_t *call;            /* the task or step that made it, or NULL */
    json_t *resolved;              /* pod: its template after substitution; owned */
    /* dag: node of each task (-1 = none yet); steps: node of each group */
    long *sub;
    size_t nsub, group;
    /* retry */
    int attempts;
    int64_t retry_at;              /* monotonic us of the next attempt; 0 = none */
    int64_t retry_first;           /* monotonic us when the first attempt started */
    /* pod */
    struct workflow__proc proc;
    bool spawned;
    int64_t deadline;              /* monotonic us, 0 = none */
    const char *kill_msg;          /* why we killed it, static */
    char *mem_text;                /* memory limit as written */
    char *dir;                     /* the step's folder */
    int64_t peak_memory;
    double cpu_seconds;
    /* resources from the process-wide ledger (sched.c) */
    struct workflow__grant grant;  /* held from start_pod to finish_pod */
    struct workflow__grant held;   /* what it held, for the status after release */
    char *waited;                  /* the first reason it stayed Pending; NULL = none */
    double gpu_seconds;            /* devices x seconds held */
    /* resource template */
    struct workflow__job *job;     /* a PyTorchJob's replicas; owned */
    int verdict;                   /* 1 succeeded, -1 failed, 0 not yet */
    char *verdict_msg;
    bool job_changed;              /* a replica exited since the last look */
    bool job_killed;               /* the leftover replicas were killed */
    const struct skiff_kind *kind; /* a skiff kind created in the store */
    json_t *res_obj;               /* the created object (skiff kind); owned */
    int64_t next_poll;             /* monotonic us of the next store read */
};

struct engine {
    struct skiff_workflow *wf;
    const struct skiff_workflow_run_opts *o;
    struct node *nodes;
    size_t n, cap;
    long root, exit_node;
    int64_t started, finished, start_mono, deadline;
    bool deadline_hit;             /* set once the workflow deadline passed, or on stop */
    bool stopped;                  /* opts->stop was raised */
    unsigned version;              /* bumped on every change */
    unsigned seen;                 /* version last given to on_change */
    json_t *globals;               /* [{name, value}] exported with globalName; owned */
    json_t *global_arts;           /* [{name, key, archive?}] likewise, artifacts; owned */
    struct skiff_blob *blob;       /* the artifact repository, opened at first use; owned */
    int rc;                        /* engine failure (out of memory) */
    struct skiff_err *err;
};

/* What {{tags}} see while resolving something of node `self`. */
struct scope {
    struct engine *e;
    long inputs;                   /* node whose inputs are inputs.parameters */
    long graph;                    /* dag or steps node for tasks.* / steps.* */
    long self;
    const json_t *item;
    char *scratch;                 /* last value made for a lookup (owned) */
};

static bool fulfilled(enum phase p)
{
    return p >= P_SUCCEEDED;
}

static void changed(struct engine *e)
{
    e->version++;
}

static void set_phase(struct engine *e, long i, enum phase p, const char *msg)
{
    struct node *nd = &e->nodes[i];
    if (fulfilled(nd->phase))
        return;
    nd->phase = p;
    if (msg) {
        free(nd->message);
        nd->message = strdup(msg);
    }
    if (fulfilled(p)) {
        nd->finished = skiff_time_now_us();
        if (!nd->started)
            nd->started = nd->finished;
    }
    changed(e);
}

static void set_message(struct engine *e, long i, const char *msg)
{
    struct node *nd = &e->nodes[i];
    if (nd->message && strcmp(nd->message, msg) == 0)
        return;
    free(nd->message);
    nd->message = strdup(msg);
    changed(e);
}

/* Adds a node; returns its index or -1 (out of memory, e->rc set). */
static long add_node(struct engine *e, const char *name, const char *display, enum ntype type,
                     long parent, long boundary)
{
    struct node *nd;
    char id[300];

    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 32;
        struct node *nn = realloc(e->nodes, cap * sizeof *nn);
        if (!nn)
            goto oom;
        e->nodes = nn;
        e->cap = cap;
    }
    if (parent >= 0) {
        struct node *p = &e->nodes[parent];
        if (p->nchildren == p->capchildren) {
            size_t cap = p->capchildren ? p->capchildren * 2 : 4;
            size_t *c = realloc(p->children, cap * sizeof *c);
            if (!c)
                goto oom;
            p->children = c;
            p->capchildren = cap;
        }
        p->children[p->nchildren++] = e->n;
    }
    nd = &e->nodes[e->n];
    memset(nd, 0, sizeof *nd);
    nd->proc.status_fd = -1;
    nd->grant.pool = nd->held.pool = -1;
    if (strcmp(name, e->wf->name) == 0)
        snprintf(id, sizeof id, "%s", e->wf->name);
    else
        snprintf(id, sizeof id, "%s-%u", e->wf->name, workflow__fnv32a(name));
    nd->name = strdup(name);
    nd->display = strdup(display);
    nd->id = strdup(id);
    nd->type = type;
    nd->boundary = boundary;
    nd->exit_handler = parent >= 0 && e->nodes[parent].exit_handler;
    if (!nd->name || !nd->display || !nd->id) {
        e->n++;
        goto oom;
    }
    changed(e);
    return (long)e->n++;
oom:
    e->rc = skiff_err_set(e->err, SKIFF_ENOMEM, "out of memory");
    return -1;
}

/* ---- variables ---- */

static long find_named(const json_t *arr, const char *name)
{
    const json_t *it;
    size_t i;
    json_array_foreach(arr, i, it) {
        const char *n = json_string_value(json_object_get(it, "name"));
        if (n && strcmp(n, name) == 0)
            return (long)i;
    }
    return -1;
}

static const char *param_value(const json_t *params, const char *name)
{
    long i = find_named(params, name);
    return i < 0 ? NULL : json_string_value(json_object_get(json_array_get(params, (size_t)i),
                                                            "value"));
}

static const char *keep(struct scope *s, char *v)
{
    free(s->scratch);
    s->scratch = v;
    return v;
}

/* The node made for task (or step) `name` of graph node g, or -1. */
static long graph_child(struct engine *e, long g, const char *name)
{
    struct node *gn = &e->nodes[g];
    if (gn->type == N_DAG) {
        long k = find_named(json_object_get(json_object_get(gn->tmpl, "dag"), "tasks"), name);
        return k < 0 ? -1 : gn->sub[k];
    }
    /* steps: search the groups made so far */
    for (size_t gi = 0; gi < gn->nsub; gi++) {
        struct node *grp;
        if (gn->sub[gi] < 0)
            continue;
        grp = &e->nodes[gn->sub[gi]];
        for (size_t c = 0; c < grp->nchildren; c++)
            if (strcmp(e->nodes[grp->children[c]].display, name) == 0)
                return (long)grp->children[c];
    }
    return -1;
}

static const char *node_ref(struct scope *s, long k, const char *what)
{
    struct node *nd;
    char buf[40];
    if (k < 0)
        return NULL;
    nd = &s->e->nodes[k];
    if (nd->type == N_TASKGROUP &&
        (strncmp(what, "outputs.parameters.", 19) == 0 || strcmp(what, "outputs.result") == 0)) {
        /* a fanned-out task: the values of its children as a JSON list (spec §5.2) */
        json_t *arr = json_array();
        const char *v;
        for (size_t c = 0; c < nd->nchildren; c++)
            if ((v = node_ref(s, (long)nd->children[c], what)))
                json_array_append_new(arr, json_string(v));
        v = keep(s, json_dumps(arr, JSON_COMPACT));
        json_decref(arr);
        return v;
    }
    if (strncmp(what, "outputs.parameters.", 19) == 0)
        return param_value(json_object_get(nd->outputs, "parameters"), what + 19);
    if (strncmp(what, "outputs.artifacts.", 18) == 0) {
        /* as a string, an artifact is its key in the repository */
        long a = find_named(json_object_get(nd->outputs, "artifacts"), what + 18);
        return a < 0 ? NULL
                     : json_string_value(json_object_get(
                           json_array_get(json_object_get(nd->outputs, "artifacts"), (size_t)a),
                           "key"));
    }
    if (strcmp(what, "outputs.result") == 0)
        return json_string_value(json_object_get(nd->outputs, "result"));
    if (strcmp(what, "exitCode") == 0)
        return json_string_value(json_object_get(nd->outputs, "exitCode"));
    if (strcmp(what, "status") == 0)
        return phase_names[nd->phase];
    if (strcmp(what, "id") == 0)
        return nd->id;
    if (strcmp(what, "startedAt") == 0 && nd->started)
        return keep(s, strdup(skiff_time_format(nd->started, buf, sizeof buf)));
    if (strcmp(what, "finishedAt") == 0 && nd->finished)
        return keep(s, strdup(skiff_time_format(nd->finished, buf, sizeof buf)));
    return NULL;
}

/* steps.S.outputs... of a fanned-out step: the JSON list of its items'
 * values, as for a dag's task group. NULL when S has no items. */
static const char *step_items_ref(struct scope *s, const char *step, const char *what)
{
    struct engine *e = s->e;
    struct node *gn = &e->nodes[s->graph];
    size_t len = strlen(step), found = 0;
    json_t *arr;
    const char *v;

    if (strncmp(what, "outputs.", 8) != 0)
        return NULL;
    arr = json_array();
    for (size_t gi = 0; gi < gn->nsub; gi++) {
        struct node *grp = gn->sub[gi] >= 0 ? &e->nodes[gn->sub[gi]] : NULL;
        for (size_t c = 0; grp && c < grp->nchildren; c++) {
            const char *d = e->nodes[grp->children[c]].display;
            if (strncmp(d, step, len) != 0 || d[len] != '(')
                continue;
            found++;
            if ((v = node_ref(s, (long)grp->children[c], what)))
                json_array_append_new(arr, json_string(v));
            grp = &e->nodes[gn->sub[gi]];
        }
    }
    v = found ? keep(s, json_dumps(arr, JSON_COMPACT)) : NULL;
    json_decref(arr);
    return v;
}

static const char *lookup(void *ctx, const char *name)
{
    struct scope *s = ctx;
    struct engine *e = s->e;
    const char *rest;
    char buf[64];

    if (strcmp(name, "workflow.name") == 0)
        return e->wf->name;
    if (strcmp(name, "workflow.uid") == 0)
        return e->wf->uid;
    if (strcmp(name, "workflow.namespace") == 0)
        return json_string_value(json_object_get(json_object_get(e->wf->obj, "metadata"),
                                                 "namespace"));
    if (strcmp(name, "workflow.mainEntrypoint") == 0)
        return json_string_value(json_object_get(e->wf->spec, "entrypoint"));
    if (strcmp(name, "workflow.serviceAccountName") == 0)
        return json_string_value(json_object_get(e->wf->spec, "serviceAccountName"));
    if (strcmp(name, "workflow.creationTimestamp") == 0)
        return keep(s, strdup(skiff_time_format(e->started, buf, sizeof buf)));
    if (strcmp(name, "workflow.scheduledTime") == 0)
        /* set on the children of a CronWorkflow (skiff_workflow_cron_child) */
        return json_string_value(json_object_get(
            json_object_get(json_object_get(e->wf->obj, "metadata"), "annotations"),
            SKIFF_WORKFLOW_SCHEDULED_TIME));
    if (strcmp(name, "workflow.status") == 0)
        return e->root >= 0 ? phase_names[e->nodes[e->root].phase] : "Running";
    if (strcmp(name, "workflow.duration") == 0) {
        snprintf(buf, sizeof buf, "%.6f", (skiff_time_now_us() - e->started) / 1e6);
        return keep(s, strdup(buf));
    }
    if (strcmp(name, "workflow.failures") == 0) {
        json_t *arr = json_array();
        for (size_t i = 0; i < e->n; i++) {
            struct node *nd = &e->nodes[i];
            if (nd->type == N_POD && (nd->phase == P_FAILED || nd->phase == P_ERROR))
                json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "displayName",
                                                     nd->display, "message",
                                                     nd->message ? nd->message : "",
                                                     "templateName",
                                                     nd->tmpl_name ? nd->tmpl_name : "",
                                                     "phase", phase_names[nd->phase]));
        }
        rest = keep(s, json_dumps(arr, JSON_COMPACT));
        json_decref(arr);
        return rest;
    }
    if (strcmp(name, "workflow.parameters") == 0 || strcmp(name, "workflow.parameters.json") == 0)
        return keep(s, json_dumps(e->wf->params, JSON_COMPACT));
    if (strncmp(name, "workflow.parameters.", 20) == 0)
        return param_value(e->wf->params, name + 20);
    if (strncmp(name, "workflow.outputs.parameters.", 28) == 0)
        return param_value(e->globals, name + 28);
    if (s->inputs >= 0) {
        json_t *in = json_object_get(e->nodes[s->inputs].inputs, "parameters");
        if (strncmp(name, "inputs.parameters.", 18) == 0)
            return param_value(in, name + 18);
        if (strcmp(name, "inputs.parameters") == 0)
            return keep(s, json_dumps(in ? in : json_array(), JSON_COMPACT));
        if (strncmp(name, "inputs.artifacts.", 17) == 0) {
            /* {{inputs.artifacts.A.path}}: where the step finds it */
            const json_t *arts = json_object_get(e->nodes[s->inputs].inputs, "artifacts");
            const char *dot = strrchr(name + 17, '.');
            char an[256];
            long a;
            if (!dot || strcmp(dot, ".path") != 0 || (size_t)(dot - name - 17) >= sizeof an)
                return NULL;
            memcpy(an, name + 17, (size_t)(dot - name - 17));
            an[dot - name - 17] = '\0';
            if ((a = find_named(arts, an)) < 0)
                return NULL;
            return json_string_value(json_object_get(json_array_get(arts, (size_t)a), "path"));
        }
    }
    if (s->item && strcmp(name, "item") == 0) {
        if (json_is_string(s->item))
            return json_string_value(s->item);
        return keep(s, json_is_object(s->item) || json_is_array(s->item)
                           ? json_dumps(s->item, JSON_COMPACT) : workflow__scalar(s->item));
    }
    if (s->item && strncmp(name, "item.", 5) == 0) {
        const json_t *f = json_object_get(s->item, name + 5);
        return f ? keep(s, json_is_object(f) || json_is_array(f) ? json_dumps(f, JSON_COMPACT)
                                                                  : workflow__scalar(f))
                 : NULL;
    }
    if (s->self >= 0) {
        if (strcmp(name, "node.name") == 0 || strcmp(name, "pod.name") == 0)
            return e->nodes[s->self].name;
        if (strcmp(name, "retries") == 0) {
            const char *open = strrchr(e->nodes[s->self].name, '(');
            return open ? keep(s, strndup(open + 1, strcspn(open + 1, ")"))) : "0";
        }
    }
    if (s->graph >= 0 && (strncmp(name, "tasks.", 6) == 0 || strncmp(name, "steps.", 6) == 0)) {
        char task[256];
        const char *dot = strchr(name + 6, '.');
        size_t n = dot ? (size_t)(dot - name - 6) : 0;
        if (!dot || n >= sizeof task)
            return NULL;
        memcpy(task, name + 6, n);
        task[n] = '\0';
        if (graph_child(e, s->graph, task) < 0 && e->nodes[s->graph].type == N_STEPS)
            return step_items_ref(s, task, dot + 1);
        return node_ref(s, graph_child(e, s->graph, task), dot + 1);
    }
    return NULL;
}

/* Substitutes every string inside v (in place). */
static int subst_json(json_t *v, struct scope *s, struct skiff_err *err)
{
    const char *key;
    json_t *it;
    size_t i;
    int rc;

    if (json_is_string(v)) {
        char *out;
        if (!strstr(json_string_value(v), "{{"))
            return 0;
        if ((rc = skiff_workflow_subst(json_string_value(v), lookup, s, &out, err)))
            return rc;
        json_string_set(v, out);
        free(out);
        return 0;
    }
    if (json_is_object(v)) {
        json_object_foreach(v, key, it)
            if ((rc = subst_json(it, s, err)))
                return rc;
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, it)
            if ((rc = subst_json(it, s, err)))
                return rc;
    }
    return 0;
}

static int subst_str(struct scope *s, const char *in, char **out, struct skiff_err *err)
{
    return skiff_workflow_subst(in, lookup, s, out, err);
}

/* ---- creating nodes for templates ---- */

static const json_t *retry_strategy(struct engine *e, const json_t *tmpl)
{
    const json_t *rs = json_object_get(tmpl, "retryStrategy");
    return rs ? rs : json_object_get(e->wf->spec, "retryStrategy");
}

static long json_int(const json_t *v, long dflt)
{
    if (json_is_integer(v))
        return (long)json_integer_value(v);
    if (json_is_string(v)) {
        char *end;
        long x = strtol(json_string_value(v), &end, 10);
        return *end ? dflt : x;
    }
    return dflt;
}

/* ---- artifacts between tasks (spec §4.5) ---- */

/* The artifact that `from` names, in scope s:
 * "{{tasks.T.outputs.artifacts.A}}" / "{{steps.S.outputs.artifacts.A}}"
 * (an output of a task or step of the enclosing dag or steps) or
 * "{{inputs.artifacts.A}}" (an input of the enclosing template, passed
 * on). Borrowed from the node that holds it; NULL with why[len] saying
 * why there is none. Validation has checked the shape and the names, so
 * a NULL here is a run-time absence (a skipped task, a missing optional
 * output). */
static const json_t *artifact_ref(struct scope *s, const char *from, char *why, size_t len)
{
    struct engine *e = s->e;
    char ref[512], *end, *p = ref, *sep;
    const json_t *arts, *a;
    long k;

    snprintf(ref, sizeof ref, "%s", from ? from : "");
    if (strncmp(p, "{{", 2) != 0 || !(end = strstr(p, "}}"))) {
        snprintf(why, len, "'%.300s' is not an artifact reference", ref);
        return NULL;
    }
    *end = '\0';
    for (p += 2; *p == ' '; p++)
        ;
    for (end = p + strlen(p); end > p && end[-1] == ' ';)
        *--end = '\0';
    if (strncmp(p, "workflow.outputs.artifacts.", 27) == 0) {
        k = find_named(e->global_arts, p + 27);
        if (k < 0)
            snprintf(why, len, "no step has exported the global artifact '%s' yet", p + 27);
        return k < 0 ? NULL : json_array_get(e->global_arts, (size_t)k);
    }
    if (strncmp(p, "inputs.artifacts.", 17) == 0) {
        if (s->inputs < 0)
            return NULL;
        arts = json_object_get(e->nodes[s->inputs].inputs, "artifacts");
        k = find_named(arts, p + 17);
        a = k < 0 ? NULL : json_array_get(arts, (size_t)k);
        if (!json_object_get(a, "key") && !json_object_get(a, "raw")) {
            snprintf(why, len, "the input artifact '%s' was not supplied", p + 17);
            return NULL;
        }
        return a;
    }
    if ((strncmp(p, "tasks.", 6) != 0 && strncmp(p, "steps.", 6) != 0) ||
        !(sep = strstr(p, ".outputs.artifacts.")) || s->graph < 0) {
        snprintf(why, len, "'{{%.300s}}' is not an artifact reference", p);
        return NULL;
    }
    *sep = '\0';
    k = graph_child(e, s->graph, p + 6);
    if (k < 0) {
        snprintf(why, len, "%.5s '%s' has not run", p, p + 6);
        return NULL;
    }
    if (e->nodes[k].type == N_TASKGROUP) {
        snprintf(why, len, "'%s' fans out (withItems/withParam): its artifacts cannot be "
                 "passed on", p + 6);
        return NULL;
    }
    arts = json_object_get(e->nodes[k].outputs, "artifacts");
    if ((k = find_named(arts, sep + 19)) < 0) {
        snprintf(why, len, "'%s' has no output artifact '%s' (%s)", p + 6, sep + 19,
                 phase_names[e->nodes[graph_child(e, s->graph, p + 6)].phase]);
        return NULL;
    }
    return json_array_get(arts, (size_t)k);
}

/* The artifact arguments of a task or step, resolved in scope s:
 * [{name, key, archive?} | {name, raw} | {name, why}], the last when the
 * source has no artifact now (the input decides whether that is fatal). */
static json_t *resolve_art_args(const json_t *call, struct scope *s)
{
    json_t *out = json_array();
    const json_t *a;
    size_t i;

    json_array_foreach(json_object_get(json_object_get(call, "arguments"), "artifacts"), i, a) {
        const char *n = json_string_value(json_object_get(a, "name"));
        const json_t *from = json_object_get(a, "from"), *got;
        char why[600] = "";
        if (!n)
            continue;
        if (!from) {
            if (json_is_object(json_object_get(a, "raw")))
                json_array_append_new(out, json_pack("{s:s, s:O}", "name", n, "raw",
                                                     json_object_get(a, "raw")));
            continue;
        }
        got = artifact_ref(s, json_string_value(from), why, sizeof why);
        if (got) {
            json_t *c = json_deep_copy(got);
            json_object_set_new(c, "name", json_string(n));
            json_object_del(c, "path");
            json_object_del(c, "optional");
            json_array_append_new(out, c);
        } else {
            json_array_append_new(out, json_pack("{s:s, s:s}", "name", n, "why", why));
        }
    }
    return out;
}

/* inputs.artifacts of template `tmpl` bound from `arts` (resolve_art_args):
 * [{name, path, key, archive?} | {name, path, raw} | {name, path}] (the
 * last for an optional input with nothing supplied). -1 with msg set when
 * a required one has nothing (spec §4.2: "was not supplied"). */
static int bind_artifacts(const json_t *tmpl, const json_t *arts, json_t *out, char *msg,
                          size_t len)
{
    const json_t *in;
    size_t k;

    json_array_foreach(json_object_get(json_object_get(tmpl, "inputs"), "artifacts"), k, in) {
        const char *an = json_string_value(json_object_get(in, "name"));
        long at = find_named(arts, an);
        const json_t *given = at < 0 ? NULL : json_array_get(arts, (size_t)at);
        json_t *b;
        if (!an)
            continue;
        if (given && (json_object_get(given, "key") || json_object_get(given, "raw"))) {
            b = json_deep_copy(given);
        } else if (json_object_get(in, "raw")) {
            b = json_pack("{s:s, s:O}", "name", an, "raw", json_object_get(in, "raw"));
        } else if (json_is_true(json_object_get(in, "optional"))) {
            b = json_pack("{s:s}", "name", an);
        } else {
            const char *why = json_string_value(json_object_get(given, "why"));
            snprintf(msg, len, "inputs.artifacts.%s was not supplied%s%s", an, why ? ": " : "",
                     why ? why : "");
            return -1;
        }
        if (json_object_get(in, "path"))
            json_object_set(b, "path", json_object_get(in, "path"));
        if (json_is_integer(json_object_get(in, "mode")))
            json_object_set(b, "mode", json_object_get(in, "mode"));
        json_array_append_new(out, b);
    }
    return 0;
}

/* A node running template `tmpl` with the (resolved) arguments `args`
 * (parameters) and `arts` (artifacts, resolve_art_args; may be NULL):
 * binds inputs (spec §4.2); a missing one makes the node Error. */
static long add_template_node(struct engine *e, const char *name, const char *display,
                              const json_t *tmpl, const json_t *args, const json_t *arts,
                              long parent, long boundary, const json_t *call)
{
    const char *type = workflow__template_type(tmpl);
    enum ntype t = strcmp(type, "dag") == 0     ? N_DAG
                   : strcmp(type, "steps") == 0 ? N_STEPS
                   : retry_strategy(e, tmpl)    ? N_RETRY
                                                : N_POD;
    long i = add_node(e, name, display, t, parent, boundary);
    const json_t *in;
    json_t *params;
    struct node *nd;
    size_t k;

    if (i < 0)
        return -1;
    nd = &e->nodes[i];
    nd->tmpl = tmpl;
    nd->call = call;
    nd->tmpl_name = skiff_strdup(json_string_value(json_object_get(tmpl, "name")));
    nd->started = skiff_time_now_us();
    nd->phase = t == N_POD ? P_PENDING : P_RUNNING;
    params = json_array();
    json_array_foreach(json_object_get(json_object_get(tmpl, "inputs"), "parameters"), k, in) {
        const char *pn = json_string_value(json_object_get(in, "name"));
        const char *given = param_value(args, pn);
        char *v = given ? strdup(given)
                        : workflow__scalar(json_object_get(in, "value")
                                               ? json_object_get(in, "value")
                                               : json_object_get(in, "default"));
        if (!v) {
            char msg[300];
            snprintf(msg, sizeof msg, "inputs.parameters.%s was not supplied", pn);
            json_decref(params);
            set_phase(e, i, P_ERROR, msg);
            return i;
        }
        json_array_append_new(params, json_pack("{s:s, s:s}", "name", pn, "value", v));
        free(v);
    }
    nd = &e->nodes[i];
    if (json_array_size(params))
        nd->inputs = json_pack("{s:o}", "parameters", params);
    else
        json_decref(params);
    if (json_array_size(json_object_get(json_object_get(tmpl, "inputs"), "artifacts"))) {
        json_t *bound = json_array();
        char msg[900];
        if (bind_artifacts(tmpl, arts, bound, msg, sizeof msg)) {
            json_decref(bound);
            set_phase(e, i, P_ERROR, msg);
            return i;
        }
        if (!nd->inputs)
            nd->inputs = json_object();
        json_object_set_new(nd->inputs, "artifacts", bound);
    }
    if (t == N_DAG || t == N_STEPS) {
        const json_t *list = t == N_DAG ? json_object_get(json_object_get(tmpl, "dag"), "tasks")
                                        : json_object_get(tmpl, "steps");
        nd->nsub = json_array_size(list);
        nd->sub = malloc((nd->nsub + 1) * sizeof *nd->sub);
        if (!nd->sub) {
            e->rc = skiff_err_set(e->err, SKIFF_ENOMEM, "out of memory");
            return -1;
        }
        for (k = 0; k < nd->nsub; k++)
            nd->sub[k] = -1;
    }
    return i;
}

/* The arguments of a task or step, resolved in scope s: [{name, value}]. */
static int resolve_args(const json_t *call, struct scope *s, json_t **out, struct skiff_err *err)
{
    const json_t *a;
    size_t i;
    *out = json_array();
    json_array_foreach(json_object_get(json_object_get(call, "arguments"), "parameters"), i, a) {
        char *raw = workflow__scalar(json_object_get(a, "value")), *v;
        int rc;
        if (!raw)
            continue;
        rc = subst_str(s, raw, &v, err);
        free(raw);
        if (rc)
            return rc;
        json_array_append_new(*out, json_pack("{s:s, s:s}", "name",
                                              json_string_value(json_object_get(a, "name")),
                                              "value", v));
        free(v);
    }
    return 0;
}

/* One task or step (or one item of it): `when`, then the template. */
static long add_call(struct engine *e, const json_t *call, const char *name, const char *display,
                     long parent, long graph, const json_t *item)
{
    struct scope s = {e, graph, graph, -1, item, NULL};
    struct skiff_err err = SKIFF_ERR_INIT;
    const char *when = json_string_value(json_object_get(call, "when"));
    const json_t *tmpl = workflow__template(e->wf, json_string_value(json_object_get(call,
                                                                                      "template")));
    json_t *args = NULL, *arts = NULL;
    char msg[SKIFF_ERR_MSG_MAX + 300];
    long i = -1;

    if (!tmpl) {
        /* validation rules this out; kept so a bad call cannot crash a run */
        snprintf(msg, sizeof msg, "unknown template");
        goto error;
    }
    if (when) {
        char *w;
        bool yes;
        if (subst_str(&s, when, &w, &err)) {
            snprintf(msg, sizeof msg, "%s", err.msg);
            goto error;
        }
        if (skiff_workflow_when(w, &yes, &err)) {
            snprintf(msg, sizeof msg, "Invalid 'when' expression '%s': %s", w, err.msg);
            free(w);
            goto error;
        }
        if (!yes) {
            snprintf(msg, sizeof msg, "when '%s' evaluated false", w);
            free(w);
            if ((i = add_node(e, name, display, N_SKIPPED, parent, graph)) >= 0) {
                e->nodes[i].tmpl_name =
                    skiff_strdup(json_string_value(json_object_get(tmpl, "name")));
                set_phase(e, i, P_SKIPPED, msg);
            }
            goto out;
        }
        free(w);
    }
    if (resolve_args(call, &s, &args, &err)) {
        snprintf(msg, sizeof msg, "%s", err.msg);
        goto error;
    }
    arts = resolve_art_args(call, &s);
    i = add_template_node(e, name, display, tmpl, args, arts, parent, graph, call);
    goto out;
error:
    if ((i = add_node(e, name, display, N_POD, parent, graph)) >= 0) {
        e->nodes[i].tmpl_name = skiff_strdup(json_string_value(json_object_get(tmpl, "name")));
        e->nodes[i].call = call;
        set_phase(e, i, P_ERROR, msg);
    }
out:
    free(s.scratch);
    json_decref(args);
    json_decref(arts);
    return i;
}

/* A task or step with withItems (a list) or withParam (a JSON list after
 * substitution) becomes a group of children named "<name>(<i>:<item>)";
 * `group_parent` receives them. Returns the number of items, or -1 with
 * msg set when withParam is not a list. */
static long add_items(struct engine *e, const json_t *call, const char *base, long group_parent,
                      long graph, char *msg, size_t msglen)
{
    const json_t *items = json_object_get(call, "withItems"), *it;
    json_t *owned = NULL;
    size_t i, n;

    if (!items) {
        struct scope s = {e, graph, graph, -1, NULL, NULL};
        struct skiff_err err = SKIFF_ERR_INIT;
        char *text = NULL;
        int rc = subst_str(&s, json_string_value(json_object_get(call, "withParam")), &text,
                           &err);
        free(s.scratch);
        if (rc) {
            snprintf(msg, msglen, "%s", err.msg);
            return -1;
        }
        owned = json_loads(text, JSON_DECODE_ANY, NULL);
        free(text);
        if (!json_is_array(owned)) {
            json_decref(owned);
            snprintf(msg, msglen, "withParam value could not be parsed as a JSON list");
            return -1;
        }
        items = owned;
    }
    json_array_foreach(items, i, it) {
        char *text = json_is_string(it) ? strdup(json_string_value(it))
                                        : json_dumps(it, JSON_COMPACT | JSON_ENCODE_ANY);
        char name[1024], display[512];
        snprintf(name, sizeof name, "%s(%zu:%s)", base, i, text ? text : "");
        snprintf(display, sizeof display, "%s(%zu:%s)",
                 json_string_value(json_object_get(call, "name")), i, text ? text : "");
        free(text);
        if (add_call(e, call, name, display, group_parent, graph, it) < 0)
            break;
    }
    n = json_array_size(items);
    json_decref(owned);
    return (long)n;
}

static bool fans_out(const json_t *call)
{
    return json_object_get(call, "withItems") || json_object_get(call, "withParam");
}

/* ---- pods ---- */

static long running_pods(struct engine *e, long boundary)
{
    long n = 0;
    for (size_t i = 0; i < e->n; i++)
        if (e->nodes[i].type == N_POD && e->nodes[i].phase == P_RUNNING &&
            (boundary < 0 || e->nodes[i].boundary == boundary))
            n++;
    return n;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

/* Removes a step folder left by an earlier run in the same run folder, so
 * that each step starts with an empty /tmp; never follows symlinks or
 * crosses into another file system. */
static void rmtree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static int mkdirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static int write_whole(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    size_t len = strlen(text), done = 0;
    if (fd < 0)
        return -1;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    return close(fd);
}

/* The last `max` bytes of a file, NUL-terminated; NULL when unreadable.
 * Caller frees. */
static char *read_tail(const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf;
    ssize_t n;
    size_t len = 0;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && (size_t)st.st_size > max)
        lseek(fd, st.st_size - (off_t)max, SEEK_SET);
    if (!(buf = malloc(max + 1))) {
        close(fd);
        return NULL;
    }
    while (len < max && (n = read(fd, buf + len, max - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    return buf;
}

/* Clears a secret before its memory goes back to the allocator. */
static void wipe(char *s)
{
    volatile char *p = s;
    while (*p)
        *p++ = '\0';
}

static void free_strv(char **v)
{
    for (size_t j = 0; v && v[j]; j++)
        free(v[j]);
    free(v);
}

/* Whether environ entry `kv` sets one of names[] ("NAME" each; "" skipped)
 * or one of the names of extra[] ("NAME=value", NULL-terminated). */
static bool env_named(const char *kv, const char *const *names, size_t n, char *const *extra)
{
    for (size_t k = 0; k < n; k++) {
        size_t len = strlen(names[k]);
        if (len && strncmp(kv, names[k], len) == 0 && kv[len] == '=')
            return true;
    }
    for (size_t x = 0; extra && extra[x]; x++) {
        size_t len = strcspn(extra[x], "=");
        if (strncmp(kv, extra[x], len + 1) == 0)
            return true;
    }
    return false;
}

/* The environment of a step process, NULL-terminated, malloc'd (free with
 * free_strv); NULL when out of memory. The engine's own environment, less
 * what the engine sets for the step, then the container's `env`, then
 * SKIFF_WORKFLOW, SKIFF_STEP, TMPDIR, PWD, SKIFF_URL, MLFLOW_TRACKING_URI,
 * CUDA_VISIBLE_DEVICES (the held GPUs; empty for a step that holds none
 * when the machine has some, so that it cannot take a GPU it was not
 * given: the article's first incident) and `extra` ("NAME=value" entries,
 * NULL-terminated, may be NULL). */
static char **make_env(struct engine *e, struct node *nd, const json_t *env, const char *tmp,
                       const char *work, const int *gpus, int ngpus, char *const *extra)
{
    const char *const own[] = {"TMPDIR", "SKIFF_STEP", "PWD", "SKIFF_WORKFLOW",
                               "CUDA_VISIBLE_DEVICES", e->o->skiff_url ? "SKIFF_URL" : "",
                               e->o->tracking_uri ? "MLFLOW_TRACKING_URI" : ""};
    size_t nenv = 0, nextra = 0, ne = 0;
    char **envp;
    const json_t *it;
    size_t k;

    while (extra && extra[nextra])
        nextra++;
    while (environ && environ[nenv])
        nenv++;
    envp = calloc(nenv + json_array_size(env) + nextra + 10, sizeof *envp);
    if (!envp)
        return NULL;
    for (size_t j = 0; j < nenv; j++) {
        if (env_named(environ[j], own, sizeof own / sizeof *own, extra))
            continue;
        if (!(envp[ne++] = strdup(environ[j])))
            goto oom;
    }
    json_array_foreach(env, k, it) {
        const char *n = json_string_value(json_object_get(it, "name"));
        char *v = workflow__scalar(json_object_get(it, "value"));
        if (n && v && (envp[ne] = malloc(strlen(n) + strlen(v) + 2)))
            sprintf(envp[ne++], "%s=%s", n, v);
        free(v);
    }
#define ADD_ENV(fmt, val)                                                              \
    do {                                                                               \
        if (!(envp[ne] = malloc(strlen(fmt) + strlen(val) + 1)))                       \
            goto oom;                                                                  \
        sprintf(envp[ne++], fmt, val);                                                 \
    } while (0)
    ADD_ENV("SKIFF_WORKFLOW=%s", e->wf->name);
    ADD_ENV("SKIFF_STEP=%s", nd->name);
    ADD_ENV("TMPDIR=%s", tmp);
    ADD_ENV("PWD=%s", work);
    if (e->o->skiff_url)
        ADD_ENV("SKIFF_URL=%s", e->o->skiff_url);
    if (e->o->tracking_uri)
        ADD_ENV("MLFLOW_TRACKING_URI=%s", e->o->tracking_uri);
    if (ngpus || workflow__sched_has_gpus()) {
        char devs[WORKFLOW__GPU_MAX * 4 + 1] = "";
        size_t off = 0;
        for (int g = 0; g < ngpus; g++)
            off += (size_t)snprintf(devs + off, sizeof devs - off, "%s%d", g ? "," : "",
                                    gpus[g]);
        ADD_ENV("CUDA_VISIBLE_DEVICES=%s", devs);
    }
    for (size_t x = 0; x < nextra; x++)
        ADD_ENV("%s", extra[x]);
#undef ADD_ENV
    return envp;
oom:
    free_strv(envp);
    return NULL;
}

/* A step's image may be skiff's own; here `skiff` as command[0] means this
 * binary, so that pipelines made of skiff commands run without skiff on
 * PATH (and run the same version as the engine). -1 when out of memory. */
static int self_command(char **argv)
{
    const char *self = workflow__self_exe();
    char *copy;
    if (!argv[0] || strcmp(argv[0], "skiff") != 0 || !self)
        return 0;
    if (!(copy = strdup(self)))
        return -1;
    free(argv[0]);
    argv[0] = copy;
    return 0;
}

/* The host path of a step's `path` (spec paths are the container's view):
 * /tmp/... in the step's tmp folder when it has a private /tmp, a
 * relative path in its work folder, any other absolute path as it is. */
static void step_path(const char *dir, bool private_tmp, const char *path, char *out, size_t n)
{
    if (private_tmp && (strcmp(path, "/tmp") == 0 || strncmp(path, "/tmp/", 5) == 0))
        snprintf(out, n, "%s/tmp%s", dir, path + 4);
    else if (path[0] == '/')
        snprintf(out, n, "%s", path);
    else
        snprintf(out, n, "%s/work/%s", dir, path);
}

/* The artifact repository, opened at the first artifact (many workflows
 * have none). NULL with err set when it cannot be opened. */
static struct skiff_blob *artifact_repo(struct engine *e, struct skiff_err *err)
{
    char root[1100];
    if (e->blob)
        return e->blob;
    if (e->o->artifact_root)
        snprintf(root, sizeof root, "%s", e->o->artifact_root);
    else
        snprintf(root, sizeof root, "%s/artifacts", e->o->run_dir);
    if (skiff_blob_open(root, &e->blob, err))
        return NULL;
    return e->blob;
}

/* nftw has no context argument: the mode goes through a thread-local, as
 * engines of the controller run on threads of their own */
static _Thread_local mode_t tree_mode;

static int chmod_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_F && S_ISREG(st->st_mode))
        chmod(path, tree_mode);
    return 0;
}

/* An input artifact's `mode` (spec §4.5): on the placed file, or on every
 * file of a placed folder (folders keep theirs, so they stay traversable). */
static void chmod_tree(const char *path, mode_t mode)
{
    tree_mode = mode;
    nftw(path, chmod_entry, 16, FTW_PHYS | FTW_MOUNT);
}

/* Puts the input artifacts of pod nd where its process will find them,
 * before it starts: a key from the repository (unpacked, or copied with
 * archive none) or raw data. 0, or -1 with msg set. */
static int place_inputs(struct engine *e, struct node *nd, char *msg, size_t len)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    bool private_tmp = workflow__private_tmp_works();
    const json_t *a;
    size_t k;

    json_array_foreach(json_object_get(nd->inputs, "artifacts"), k, a) {
        const char *an = json_string_value(json_object_get(a, "name"));
        const char *path = json_string_value(json_object_get(a, "path"));
        const char *key = json_string_value(json_object_get(a, "key"));
        const json_t *raw = json_object_get(a, "raw");
        char dest[1200], src[4200];
        struct skiff_blob *b;
        int rc = 0;

        if (!path || (!key && !raw))
            continue;   /* an optional input with nothing supplied */
        step_path(nd->dir, private_tmp, path, dest, sizeof dest);
        if (raw) {
            const char *data = json_string_value(json_object_get(raw, "data"));
            char parent[1200], *slash;
            snprintf(parent, sizeof parent, "%s", dest);
            if ((slash = strrchr(parent, '/')) && slash != parent) {
                *slash = '\0';
                mkdirs(parent);
            }
            if (write_whole(dest, data ? data : "", 0644) != 0)
                rc = skiff_err_sys(&err, SKIFF_EIO, "cannot write '%s'", dest);
        } else if (!(b = artifact_repo(e, &err)) ||
                   skiff_blob_resolve(b, key, src, sizeof src, &err)) {
            rc = err.code ? err.code : SKIFF_EIO;
        } else if (json_object_get(json_object_get(a, "archive"), "none")) {
            rc = workflow__copy_file(src, dest, &err);
        } else {
            rc = workflow__tgz_unpack(src, dest, &err);
        }
        if (!rc && json_is_integer(json_object_get(a, "mode")))
            chmod_tree(dest, (mode_t)json_integer_value(json_object_get(a, "mode")) & 0777);
        if (rc) {
            snprintf(msg, len, "cannot place input artifact '%s' at '%s': %s", an, path,
                     err.msg);
            return -1;
        }
    }
    return 0;
}

/* outputs.artifacts of pod nd (template t, resolved), after it exited 0:
 * each path (read in folder `dir`, as step_path says) packed (tar+gzip, or
 * as it is with archive none) into the repository under
 * workflows/<uid>/<node id>/<name>[.tgz], and recorded in
 * outputs.artifacts as {name, path, key, archive?}. A missing path is
 * skipped when the artifact is optional. 0, or -1 with msg set. */
static int save_outputs(struct engine *e, const struct node *nd, const char *dir,
                        bool private_tmp, const json_t *t, json_t *outputs,
                        struct skiff_buf *msg)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    const json_t *o;
    json_t *list = json_array();
    size_t k;
    int rc = 0;

    json_array_foreach(json_object_get(json_object_get(t, "outputs"), "artifacts"), k, o) {
        const char *an = json_string_value(json_object_get(o, "name"));
        const char *path = json_string_value(json_object_get(o, "path"));
        bool none = json_object_get(json_object_get(o, "archive"), "none") != NULL;
        char src[1200], key[900], tgz[1200];
        struct skiff_blob *b;
        struct stat st;
        int fd;

        if (!an || !path)
            continue;
        step_path(dir, private_tmp, path, src, sizeof src);
        if (stat(src, &st) != 0) {
            if (json_is_true(json_object_get(o, "optional")))
                continue;
            skiff_buf_appendf(msg, "cannot save output artifact '%s': '%s': %s", an, path,
                              strerror(errno));
            rc = -1;
            break;
        }
        if (none && !S_ISREG(st.st_mode)) {
            skiff_buf_appendf(msg, "cannot save output artifact '%s': '%s' is not a single "
                              "file, which archive none needs", an, path);
            rc = -1;
            break;
        }
        snprintf(key, sizeof key, "workflows/%s/%s/%s%s", e->wf->uid, nd->id, an,
                 none ? "" : ".tgz");
        snprintf(tgz, sizeof tgz, "%s/.artifact-%s.tgz", dir, an);
        if (!(b = artifact_repo(e, &err)) ||
            (!none && workflow__tgz_pack(src, tgz, &err))) {
            skiff_buf_appendf(msg, "cannot save output artifact '%s': %s", an, err.msg);
            rc = -1;
            break;
        }
        if ((fd = open(none ? src : tgz, O_RDONLY | O_CLOEXEC)) < 0) {
            skiff_buf_appendf(msg, "cannot save output artifact '%s': %s", an, strerror(errno));
            rc = -1;
            break;
        }
        rc = skiff_blob_put_fd(b, key, fd, &err);
        close(fd);
        if (!none)
            unlink(tgz);
        if (rc) {
            skiff_buf_appendf(msg, "cannot save output artifact '%s': %s", an, err.msg);
            rc = -1;
            break;
        }
        json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "name", an, "path", path,
                                              "key", key));
        if (none)
            json_object_set_new(json_array_get(list, json_array_size(list) - 1), "archive",
                                json_pack("{s:{}}", "none"));
    }
    if (json_array_size(list))
        json_object_set_new(outputs, "artifacts", list);
    else
        json_decref(list);
    return rc;
}

/* A step token lives no longer than the step may: its deadline
 * (activeDeadlineSeconds or timeout, the earlier) in seconds, 0 = none
 * (the controller's default lifetime then). */
static int64_t token_ttl(const json_t *tmpl)
{
    long ads = json_int(json_object_get(tmpl, "activeDeadlineSeconds"), 0);
    char *timeout = workflow__scalar(json_object_get(tmpl, "timeout"));
    int64_t t_us = 0, ttl = ads > 0 ? ads : 0;
    if (timeout && skiff_duration_parse(timeout, &t_us, NULL) == 0 && t_us > 0 &&
        (!ttl || (t_us + SKIFF_US_PER_SEC - 1) / SKIFF_US_PER_SEC < ttl))
        ttl = (t_us + SKIFF_US_PER_SEC - 1) / SKIFF_US_PER_SEC;
    free(timeout);
    return ttl;
}

static void start_pod(struct engine *e, long i)
{
    struct node *nd = &e->nodes[i];
    struct scope s = {e, i, -1, i, NULL, NULL};
    struct skiff_err err = SKIFF_ERR_INIT;
    struct workflow__spawn sp = {0};
    json_t *t = json_deep_copy(nd->tmpl), *body, *res;
    const char *type = workflow__template_type(nd->tmpl);
    char work[1100], tmp[1100], out[1100], errp[1100], script[1200], cg[300];
    char **argv = NULL, **envp = NULL;
    char msg[SKIFF_ERR_MSG_MAX + 64], tokpath[1200] = "", *token = NULL;
    char *tokenv[3] = {NULL, NULL, NULL};
    size_t na = 0;
    const json_t *it;
    size_t k;

    if (!t || subst_json(t, &s, &err)) {
        snprintf(msg, sizeof msg, "%s", t ? err.msg : "out of memory");
        set_phase(e, i, P_ERROR, msg);
        goto out;
    }
    body = json_object_get(t, type);
    if (!(nd->dir = malloc(1024))) {
        set_phase(e, i, P_ERROR, "out of memory");
        goto out;
    }
    snprintf(nd->dir, 1024, "%s/%s", e->o->run_dir, nd->id);
    snprintf(work, sizeof work, "%s/work", nd->dir);
    snprintf(tmp, sizeof tmp, "%s/tmp", nd->dir);
    snprintf(out, sizeof out, "%s/stdout.log", nd->dir);
    snprintf(errp, sizeof errp, "%s/stderr.log", nd->dir);
    rmtree(nd->dir);
    if (mkdirs(work) != 0 || mkdirs(tmp) != 0 || chmod(tmp, 01777) != 0) {
        snprintf(msg, sizeof msg, "cannot make the step folder '%s': %s", nd->dir,
                 strerror(errno));
        set_phase(e, i, P_ERROR, msg);
        goto out;
    }
    if (place_inputs(e, nd, msg, sizeof msg)) {
        set_phase(e, i, P_ERROR, msg);
        goto out;
    }
    argv = calloc(json_array_size(json_object_get(body, "command")) +
                      json_array_size(json_object_get(body, "args")) + 2, sizeof *argv);
    if (!argv)
        goto oom;
    json_array_foreach(json_object_get(body, "command"), k, it)
        if (!(argv[na++] = workflow__scalar(it)))
            goto oom;
    json_array_foreach(json_object_get(body, "args"), k, it)
        if (!(argv[na++] = workflow__scalar(it)))
            goto oom;
    if (self_command(argv) != 0)
        goto oom;
    if (strcmp(type, "script") == 0) {
        /* spec §3.2: the source goes to a file whose path is the last argument */
        snprintf(script, sizeof script, "%s/script", tmp);
        if (write_whole(script, json_string_value(json_object_get(body, "source")), 0755) != 0) {
            snprintf(msg, sizeof msg, "cannot write the script '%.900s': %s", script,
                     strerror(errno));
            set_phase(e, i, P_ERROR, msg);
            goto out;
        }
        if (!(argv[na++] = strdup(script)))
            goto oom;
        sp.script_name = script;
    }
    if (e->o->step_token) {
        int64_t ttl = token_ttl(nd->tmpl);
        /* in the step's tmp folder, which the step sees as /tmp when it has
         * a private one (proc.c rewrites SKIFF_TOKEN_FILE then) */
        snprintf(tokpath, sizeof tokpath, "%s/.skiff-token", tmp);
        if (e->o->step_token(e->o->ctx, nd->display, ttl, &token, &err) ||
            skiff_auth_write_token_file(tokpath, token, &err)) {
            snprintf(msg, sizeof msg, "cannot give the step its token: %s", err.msg);
            set_phase(e, i, P_ERROR, msg);
            goto out;
        }
        if (!(tokenv[0] = malloc(strlen(tokpath) + 20)) ||
            !(tokenv[1] = malloc(strlen(token) + 30)))
            goto oom;
        sprintf(tokenv[0], "SKIFF_TOKEN_FILE=%s", tokpath);
        sprintf(tokenv[1], "MLFLOW_TRACKING_TOKEN=%s", token);
    }
    if (!(envp = make_env(e, nd, json_object_get(body, "env"), tmp, work, nd->grant.gpus,
                          nd->grant.ngpus, e->o->step_token ? tokenv : NULL)))
        goto oom;
    res = json_object_get(json_object_get(body, "resources"), "limits");
    if (json_object_get(res, "memory")) {
        double d;
        nd->mem_text = workflow__scalar(json_object_get(res, "memory"));
        if (!nd->mem_text || skiff_workflow_quantity(nd->mem_text, &d, &err)) {
            set_phase(e, i, P_ERROR, nd->mem_text ? err.msg : "bad memory limit");
            goto out;
        }
        sp.limits.memory = (int64_t)ceil(d);
        sp.limits.memory_text = nd->mem_text;
    }
    if (json_object_get(res, "cpu")) {
        char *c = workflow__scalar(json_object_get(res, "cpu"));
        int rc = !c || skiff_workflow_quantity(c, &sp.limits.cpu, &err);
        free(c);
        if (rc) {
            set_phase(e, i, P_ERROR, err.msg[0] ? err.msg : "bad cpu limit");
            goto out;
        }
    }
    snprintf(cg, sizeof cg, "%s-%d", nd->id, (int)getpid());
    sp.argv = argv;
    sp.envp = envp;
    sp.workdir = work;
    sp.tmpdir = tmp;
    sp.stdout_path = out;
    sp.stderr_path = errp;
    sp.cg_name = cg;
    sp.parent = getpid();
    if (workflow__spawn(&sp, &nd->proc, &err)) {
        skiff_err_format(&err, msg, sizeof msg);
        set_phase(e, i, P_ERROR, msg);
        goto out;
    }
    nd->spawned = true;
    nd->started = skiff_time_now_us();
    {
        /* activeDeadlineSeconds (the pod's) and timeout (the controller's)
         * both end the step; the earlier one wins */
        long ads = json_int(json_object_get(nd->tmpl, "activeDeadlineSeconds"), 0);
        char *timeout = workflow__scalar(json_object_get(nd->tmpl, "timeout"));
        int64_t t_us = 0, now = skiff_time_mono_us();
        if (ads > 0)
            nd->deadline = now + ads * SKIFF_US_PER_SEC;
        if (timeout && skiff_duration_parse(timeout, &t_us, NULL) == 0 && t_us > 0 &&
            (!nd->deadline || now + t_us < nd->deadline))
            nd->deadline = now + t_us;
        free(timeout);
    }
    set_phase(e, i, P_RUNNING, NULL);
    goto out;
oom:
    set_phase(e, i, P_ERROR, "out of memory");
out:
    /* the resolved template stays with the node: its outputs are read from it */
    json_decref(e->nodes[i].resolved);
    e->nodes[i].resolved = t;
    for (size_t j = 0; argv && argv[j]; j++)
        free(argv[j]);
    free(argv);
    free_strv(envp);
    free(s.scratch);
    /* the token dies with the step: a step that never ran loses it now */
    if (tokpath[0] && !nd->spawned)
        unlink(tokpath);
    if (token)
        wipe(token);
    if (tokenv[1])
        wipe(tokenv[1]);
    free(token);
    free(tokenv[0]);
    free(tokenv[1]);
}

static const char *signal_name(int sig)
{
    static const struct { int sig; const char *name; } names[] = {
        {SIGKILL, "SIGKILL"}, {SIGTERM, "SIGTERM"}, {SIGSEGV, "SIGSEGV"}, {SIGABRT, "SIGABRT"},
        {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},   {SIGILL, "SIGILL"},   {SIGINT, "SIGINT"},
        {SIGHUP, "SIGHUP"},   {SIGPIPE, "SIGPIPE"}, {SIGQUIT, "SIGQUIT"}, {SIGALRM, "SIGALRM"},
        {SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"}, {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"},
        {SIGSYS, "SIGSYS"},   {SIGTRAP, "SIGTRAP"},
    };
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (names[i].sig == sig)
            return names[i].name;
    return "an unknown signal";
}

/* "; stderr: a | b | c" from the last lines of the step's stderr. */
static void stderr_tail(const char *dir, struct skiff_buf *b)
{
    char path[1100], *text, *lines[STDERR_TAIL];
    size_t n = 0;

    snprintf(path, sizeof path, "%s/stderr.log", dir);
    if (!(text = read_tail(path, 4096)))
        return;
    for (char *end = text + strlen(text); end > text && n < STDERR_TAIL;) {
        char *start;
        while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
            *--end = '\0';
        if (end == text)
            break;
        start = end;
        while (start > text && start[-1] != '\n')
            start--;
        lines[n++] = start;
        end = start;
    }
    if (n)
        skiff_buf_puts(b, "; stderr: ");
    while (n-- > 0)
        skiff_buf_appendf(b, "%.200s%s", lines[n], n ? " | " : "");
    free(text);
}

static void trim(char *s)
{
    size_t n = strlen(s), st = 0;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    while (s[st] == ' ' || s[st] == '\t' || s[st] == '\n' || s[st] == '\r')
        st++;
    memmove(s, s + st, n - st + 1);
}

/* Output parameters, result and exitCode of a pod that exited 0. */
/* outputs.parameters of template t for a step whose folder is `dir`
 * (valueFrom.path; /tmp/... inside dir/tmp when it had a private /tmp),
 * or valueFrom.jsonPath ("{.metadata.name}") on `obj` for resource
 * templates; outputs.result from its stdout. 0, or -1 with msg set. */
static int collect_outputs(const char *dir, bool private_tmp, const json_t *obj, const json_t *t,
                           json_t *outputs, struct skiff_buf *msg)
{
    json_t *params = json_array();
    const json_t *o;
    char path[1100], *text;
    size_t k;

    json_array_foreach(json_object_get(json_object_get(t, "outputs"), "parameters"), k, o) {
        const char *name = json_string_value(json_object_get(o, "name"));
        const json_t *vf = json_object_get(o, "valueFrom");
        const char *p = json_string_value(json_object_get(vf, "path"));
        const char *jp = json_string_value(json_object_get(vf, "jsonPath"));
        char *v = NULL;
        if (jp && obj) {
            /* kubectl's "{.a.b}" as a dot path */
            char dot[512];
            size_t n;
            snprintf(dot, sizeof dot, "%s", jp + (jp[0] == '{'));
            n = strlen(dot);
            if (n && dot[n - 1] == '}')
                dot[n - 1] = '\0';
            v = workflow__scalar(workflow__json_path(obj, dot + (dot[0] == '.')));
            if (!v && json_object_get(vf, "default"))
                v = workflow__scalar(json_object_get(vf, "default"));
            if (!v) {
                skiff_buf_appendf(msg, "output parameter '%s': nothing at %s", name, jp);
                json_decref(params);
                return -1;
            }
        } else if (!p) {
            v = workflow__scalar(json_object_get(o, "value"));
        } else {
            /* /tmp/... is the step's own tmp folder when it had a private /tmp */
            if (private_tmp && strncmp(p, "/tmp/", 5) == 0)
                snprintf(path, sizeof path, "%s/tmp/%s", dir, p + 5);
            else if (p[0] == '/')
                snprintf(path, sizeof path, "%s", p);
            else
                snprintf(path, sizeof path, "%s/work/%s", dir, p);
            if ((v = read_tail(path, OUTPUT_MAX)))
                trim(v);
            else if (json_object_get(vf, "default"))
                v = workflow__scalar(json_object_get(vf, "default"));
            else {
                skiff_buf_appendf(msg, "cannot read output parameter '%s' from '%s': %s", name,
                                  p, strerror(errno));
                json_decref(params);
                return -1;
            }
        }
        json_array_append_new(params, json_pack("{s:s, s:s}", "name", name, "value", v ? v : ""));
        free(v);
    }
    if (json_array_size(params))
        json_object_set_new(outputs, "parameters", params);
    else
        json_decref(params);
    if (dir && snprintf(path, sizeof path, "%s/stdout.log", dir) > 0 &&
        (text = read_tail(path, OUTPUT_MAX))) {
        size_t n = strlen(text);
        if (n && text[n - 1] == '\n')   /* exactly one trailing newline goes (spec §3.3) */
            text[n - 1] = '\0';
        json_object_set_new(outputs, "result", json_string(text));
        free(text);
    }
    return 0;
}

/* outputs.parameters[].globalName: also {{workflow.outputs.parameters.G}}
 * and status.outputs.parameters (spec §4.3); the latest value wins. */
static void export_globals(struct engine *e, const json_t *t, const json_t *outputs)
{
    const json_t *o;
    size_t k;
    json_array_foreach(json_object_get(json_object_get(t, "outputs"), "parameters"), k, o) {
        const char *g = json_string_value(json_object_get(o, "globalName"));
        const char *v = param_value(json_object_get(outputs, "parameters"),
                                    json_string_value(json_object_get(o, "name")));
        long at;
        if (!g || !v)
            continue;
        if ((at = find_named(e->globals, g)) >= 0)
            json_array_remove(e->globals, (size_t)at);
        json_array_append_new(e->globals, json_pack("{s:s, s:s}", "name", g, "value", v));
    }
    /* artifacts likewise: {{workflow.outputs.artifacts.G}} and
     * status.outputs.artifacts name the same key in the repository */
    json_array_foreach(json_object_get(json_object_get(t, "outputs"), "artifacts"), k, o) {
        const char *g = json_string_value(json_object_get(o, "globalName"));
        const json_t *arts = json_object_get(outputs, "artifacts");
        long have = find_named(arts, json_string_value(json_object_get(o, "name")));
        json_t *c;
        long at;
        if (!g || have < 0 || !(c = json_deep_copy(json_array_get(arts, (size_t)have))))
            continue;
        json_object_set_new(c, "name", json_string(g));
        json_object_del(c, "path");
        if ((at = find_named(e->global_arts, g)) >= 0)
            json_array_remove(e->global_arts, (size_t)at);
        json_array_append_new(e->global_arts, c);
    }
}

static void finish_pod(struct engine *e, long i, int wstatus, const struct rusage *ru)
{
    struct node *nd = &e->nodes[i];
    struct workflow__exit x;
    struct skiff_buf msg = SKIFF_BUF_INIT;
    json_t *t = nd->resolved;
    json_t *outputs = json_object();
    enum phase ph;
    char code[16];

    workflow__proc_finish(&nd->proc, wstatus, ru, &x);
    nd->spawned = false;
    if (e->o->step_token && nd->dir) {
        char tokpath[1100];
        snprintf(tokpath, sizeof tokpath, "%s/tmp/.skiff-token", nd->dir);
        unlink(tokpath);
    }
    nd->gpu_seconds = nd->grant.ngpus * (double)(skiff_time_now_us() - nd->started) / 1e6;
    nd->held = nd->grant;
    workflow__sched_release(&nd->grant);
    nd->peak_memory = x.peak_memory;
    nd->cpu_seconds = x.cpu_seconds;
    snprintf(code, sizeof code, "%d", x.exit_code);
    json_object_set_new(outputs, "exitCode", json_string(code));
    if (nd->proc.exec_failed) {
        ph = P_ERROR;
        skiff_buf_appendf(&msg, "cannot run the command: %s", nd->proc.setup_msg);
    } else if (x.oom) {
        ph = P_FAILED;
        skiff_buf_appendf(&msg, "OOMKilled: used more than its %s memory limit",
                          nd->mem_text ? nd->mem_text : "");
    } else if (nd->kill_msg) {
        ph = P_FAILED;
        skiff_buf_puts(&msg, nd->kill_msg);
    } else if (x.signal) {
        ph = P_FAILED;
        skiff_buf_appendf(&msg, "killed by signal %s", signal_name(x.signal));
    } else if (x.exit_code != 0) {
        ph = P_FAILED;
        skiff_buf_appendf(&msg, "exit code %d", x.exit_code);
    } else {
        ph = collect_outputs(nd->dir, nd->proc.private_tmp, NULL, t, outputs, &msg) == 0 &&
                     save_outputs(e, nd, nd->dir, nd->proc.private_tmp, t, outputs, &msg) == 0
                 ? P_SUCCEEDED
                 : P_ERROR;
    }
    if (ph == P_FAILED && !nd->kill_msg)
        stderr_tail(nd->dir, &msg);
    if (nd->proc.setup_msg[0] && !nd->proc.exec_failed)
        skiff_buf_appendf(&msg, "%s%s", msg.len ? "; " : "", nd->proc.setup_msg);
    if (nd->proc.rlimit_only)
        skiff_buf_appendf(&msg, "%smemory limit enforced with rlimit only: no writable cgroup",
                          msg.len ? "; " : "");
    if (nd->proc.cg_join_failed)
        skiff_buf_appendf(&msg, "%smemory limit not enforced: cannot enter the cgroup",
                          msg.len ? "; " : "");
    if (ph == P_SUCCEEDED)
        export_globals(e, t, outputs);
    json_decref(nd->outputs);
    nd->outputs = outputs;
    set_phase(e, i, ph, msg.len ? msg.ptr : NULL);
    skiff_buf_release(&msg);
}

static void kill_job(struct node *nd);

static void kill_pod(struct node *nd, const char *why)
{
    if (nd->job && workflow__job_active(nd->job) && !nd->kill_msg) {
        nd->kill_msg = why;
        kill_job(nd);
        return;
    }
    if (!nd->spawned || nd->kill_msg)
        return;
    nd->kill_msg = why;
    kill(-nd->proc.pid, SIGKILL);
    kill(nd->proc.pid, SIGKILL);
}

/* ---- resource templates ---- */

static void kill_job(struct node *nd)
{
    for (size_t k = 0; k < nd->job->n; k++) {
        struct workflow__replica *r = &nd->job->reps[k];
        if (r->spawned && !r->exited) {
            r->killed = true;
            kill(-r->proc.pid, SIGKILL);
            kill(r->proc.pid, SIGKILL);
        }
    }
    nd->job_killed = true;
}

/* A free TCP port on 127.0.0.1 for MASTER_PORT (0 when none). */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = 0;

    if (fd < 0)
        return 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* The sum of the replicas' requests, with the Master's (else the first
 * replica's) nodeSelector and tolerations. */
static int job_request(const struct workflow__job *j, struct workflow__request *r,
                       struct skiff_err *err)
{
    memset(r, 0, sizeof *r);
    for (size_t k = 0; k < j->n; k++) {
        struct workflow__request one = {0};
        int rc = workflow__request_parse(json_object_get(j->reps[k].container, "resources"),
                                         &one, err);
        if (rc)
            return skiff_err_prefix(err, "%s %d", j->reps[k].type, j->reps[k].index);
        r->cpu += one.cpu;
        r->memory += one.memory;
        r->gpus += one.gpus;
    }
    {
        const json_t *specs =
            json_object_get(json_object_get(j->obj, "spec"), "pytorchReplicaSpecs");
        const json_t *ps = json_object_get(json_object_get(json_object_get(
                                               specs, j->reps[0].type), "template"), "spec");
        r->node_selector = json_object_get(ps, "nodeSelector");
        r->tolerations = json_object_get(ps, "tolerations");
    }
    return 0;
}

/* Spawns replica k of pod node i's job, with its share of the GPUs. */
static int spawn_replica(struct engine *e, long i, size_t k, int *next_gpu,
                         struct skiff_err *err)
{
    struct node *nd = &e->nodes[i];
    struct workflow__job *j = nd->job;
    struct workflow__replica *r = &j->reps[k];
    struct workflow__spawn sp = {0};
    struct workflow__request one = {0};
    const json_t *c = r->container, *it, *lim;
    char work[1200], tmp[1200], out[1200], errp[1200], cg[400], lower[16];
    char port[32], world[32], rank[32], ptype[48], pidx[32], who[600], tokpath[1300];
    char *extra[] = {"MASTER_ADDR=127.0.0.1", port, world, rank, ptype, pidx, NULL, NULL, NULL};
    char **argv = NULL, **envp = NULL, *mem_text = NULL, *token = NULL;
    size_t na = 0, idx;
    int rc = 0;

    for (size_t x = 0; x <= strlen(r->type); x++)
        lower[x] = (char)tolower((unsigned char)r->type[x]);
    if (!(r->dir = malloc(1100)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    snprintf(r->dir, 1100, "%s/%s-%d", nd->dir, lower, r->index);
    snprintf(work, sizeof work, "%s/work", r->dir);
    snprintf(tmp, sizeof tmp, "%s/tmp", r->dir);
    snprintf(out, sizeof out, "%s/stdout.log", r->dir);
    snprintf(errp, sizeof errp, "%s/stderr.log", r->dir);
    if (mkdirs(work) != 0 || mkdirs(tmp) != 0 || chmod(tmp, 01777) != 0)
        return skiff_err_sys(err, SKIFF_EIO, "cannot make the replica folder '%s'", r->dir);
    snprintf(port, sizeof port, "MASTER_PORT=%d", j->port);
    snprintf(world, sizeof world, "WORLD_SIZE=%zu", j->n);
    snprintf(rank, sizeof rank, "RANK=%d", r->rank);
    snprintf(ptype, sizeof ptype, "SKIFF_REPLICA_TYPE=%s", r->type);
    snprintf(pidx, sizeof pidx, "SKIFF_REPLICA_INDEX=%d", r->index);
    if (e->o->step_token) {
        /* each replica gets its own short-lived token, as steps do: the
         * workload is "<step>/<replica>", the file lies in its /tmp and
         * goes when the replica ends (finish_replica) */
        snprintf(who, sizeof who, "%s/%s-%d", nd->display, lower, r->index);
        snprintf(tokpath, sizeof tokpath, "%s/.skiff-token", tmp);
        if ((rc = e->o->step_token(e->o->ctx, who, token_ttl(nd->tmpl), &token, err)) ||
            (rc = skiff_auth_write_token_file(tokpath, token, err))) {
            skiff_err_prefix(err, "cannot give replica %s its token", who);
            goto out;
        }
        if (!(extra[6] = malloc(strlen(tokpath) + 20)) ||
            !(extra[7] = malloc(strlen(token) + 30)))
            goto oom;
        sprintf(extra[6], "SKIFF_TOKEN_FILE=%s", tokpath);
        sprintf(extra[7], "MLFLOW_TRACKING_TOKEN=%s", token);
    }
    workflow__request_parse(json_object_get(c, "resources"), &one, NULL);
    argv = calloc(json_array_size(json_object_get(c, "command")) +
                      json_array_size(json_object_get(c, "args")) + 1, sizeof *argv);
    if (!argv)
        goto oom;
    json_array_foreach(json_object_get(c, "command"), idx, it)
        if (!(argv[na++] = workflow__scalar(it)))
            goto oom;
    json_array_foreach(json_object_get(c, "args"), idx, it)
        if (!(argv[na++] = workflow__scalar(it)))
            goto oom;
    if (self_command(argv) != 0)
        goto oom;
    if (one.gpus > nd->grant.ngpus - *next_gpu)
        one.gpus = nd->grant.ngpus - *next_gpu;
    envp = make_env(e, nd, json_object_get(c, "env"), tmp, work, nd->grant.gpus + *next_gpu,
                    one.gpus, extra);
    *next_gpu += one.gpus;
    if (!envp)
        goto oom;
    lim = json_object_get(json_object_get(c, "resources"), "limits");
    if (json_object_get(lim, "memory")) {
        double d = 0;
        mem_text = workflow__scalar(json_object_get(lim, "memory"));
        if (mem_text && skiff_workflow_quantity(mem_text, &d, NULL) == 0) {
            sp.limits.memory = (int64_t)d;
            sp.limits.memory_text = mem_text;
        }
    }
    if (json_object_get(lim, "cpu")) {
        char *ct = workflow__scalar(json_object_get(lim, "cpu"));
        if (!ct || skiff_workflow_quantity(ct, &sp.limits.cpu, NULL) != 0)
            sp.limits.cpu = 0;
        free(ct);
    }
    snprintf(cg, sizeof cg, "%s-%s%d-%d", nd->id, lower, r->index, (int)getpid());
    sp.argv = argv;
    sp.envp = envp;
    sp.workdir = work;
    sp.tmpdir = tmp;
    sp.stdout_path = out;
    sp.stderr_path = errp;
    sp.cg_name = cg;
    sp.parent = getpid();
    if ((rc = workflow__spawn(&sp, &r->proc, err)) == 0)
        r->spawned = true;
    goto out;
oom:
    rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
out:
    free_strv(argv);
    free_strv(envp);
    free(mem_text);
    if (token) {
        if (!r->spawned)
            unlink(tokpath);   /* a replica that never ran loses its token now */
        wipe(token);
        free(token);
    }
    free(extra[6]);
    if (extra[7])
        wipe(extra[7]);
    free(extra[7]);
    return rc;
}

/* Makes the Workflow the owner of obj (setOwnerReference), as Argo sets
 * metadata.ownerReferences before kubectl runs. */
static void set_owner(struct engine *e, json_t *obj)
{
    json_t *meta = json_object_get(obj, "metadata");
    json_t *refs = json_object_get(meta, "ownerReferences");
    json_t *me = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion",
                           "argoproj.io/v1alpha1", "kind", "Workflow", "name", e->wf->name,
                           "uid", e->wf->uid, "controller", 1, "blockOwnerDeletion", 1);
    size_t k;
    json_t *r;

    if (!me || !json_is_object(meta))
        goto out;
    if (!json_is_array(refs)) {
        refs = json_array();
        json_object_set_new(meta, "ownerReferences", refs);
    }
    json_array_foreach(refs, k, r)
        if (json_equal(r, me))
            goto out;
    json_array_append(refs, me);
out:
    json_decref(me);
}

/* `action` on a skiff kind in the platform's store (controller mode):
 * `doc` is the manifest (an object; for a JSON patch the list of
 * operations, the target then from resource.flags). create and apply
 * write it, replace writes it over an existing object, patch merges it
 * (merge, strategic: RFC 7386) or applies it (json: RFC 6902) to the
 * stored object, get reads the object, delete removes it (a missing one is
 * fine: kubectl's --ignore-not-found) and ends the node at once. The
 * others leave the node Running with the object for step_kind. */
static void kind_action(struct engine *e, long i, json_t *doc, const char *action)
{
    struct node *nd = &e->nodes[i];
    const json_t *res = json_object_get(nd->resolved, "resource");
    const char *strategy = json_string_value(json_object_get(res, "mergeStrategy"));
    bool json_patch = strcmp(action, "patch") == 0 && strategy && strcmp(strategy, "json") == 0;
    bool owner = json_is_true(json_object_get(res, "setOwnerReference"));
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_validation v = {.err = &err};
    const struct skiff_kind *k = NULL;
    json_t *stored = NULL, *cur = NULL, *obj = NULL;
    char msg[SKIFF_ERR_MSG_MAX + 600], kind[128], name[256];
    int rc = 0;

    if (json_patch) {
        if (workflow__resource_target_flags(json_object_get(res, "flags"), kind, sizeof kind,
                                            name, sizeof name)) {
            set_phase(e, i, P_ERROR, "a JSON patch (mergeStrategy: json) names its target "
                                     "with flags: [KIND, NAME]");
            goto out;
        }
        if (!(k = skiff_kind_lookup(kind))) {
            snprintf(msg, sizeof msg, "resource kind '%s' is not one of skiff's kinds", kind);
            set_phase(e, i, P_ERROR, msg);
            goto out;
        }
        snprintf(kind, sizeof kind, "%s", k->kind);
    } else {
        const char *kd = json_string_value(json_object_get(doc, "kind"));
        const char *nm = json_string_value(json_object_get(json_object_get(doc, "metadata"),
                                                           "name"));
        snprintf(kind, sizeof kind, "%s", kd ? kd : "");
        snprintf(name, sizeof name, "%s", nm ? nm : "");
    }
    if (!e->o->store) {
        snprintf(msg, sizeof msg,
                 "cannot %s %s '%s': `skiff run` has no platform store; submit the "
                 "workflow to a platform (skiff up) to %s skiff kinds",
                 action, kind, name, action);
        set_phase(e, i, P_ERROR, msg);
        goto out;
    }
    if (!json_patch && !json_is_object(doc)) {
        set_phase(e, i, P_ERROR, "the manifest must be an object (a list of operations needs "
                                 "mergeStrategy: json)");
        goto out;
    }
    if (!k) {
        const char *av = json_string_value(json_object_get(doc, "apiVersion"));
        if ((rc = skiff_kind_for(av ? av : "", kind, &k, &err)))
            goto fail;
    }
    if (strcmp(action, "delete") == 0) {
        rc = skiff_resource_delete(e->o->store, k, name, &err);
        if (rc && rc != SKIFF_ENOTFOUND)
            goto fail;
        nd->started = skiff_time_now_us();
        set_phase(e, i, P_SUCCEEDED, rc ? "not found (nothing to delete)" : NULL);
        goto out;
    }
    if (strcmp(action, "create") != 0 && strcmp(action, "apply") != 0 &&
        (rc = skiff_resource_get(e->o->store, k, name, &cur, &err)))
        goto fail;
    if (strcmp(action, "get") == 0) {
        stored = cur;
        cur = NULL;
    } else {
        if (strcmp(action, "patch") == 0) {
            if (json_patch) {
                if ((rc = workflow__json_patch(cur, doc, &obj, &err)))
                    goto fail;
            } else if (!(obj = workflow__merge_patch(cur, doc))) {
                rc = skiff_err_set(&err, SKIFF_ENOMEM, "out of memory");
                goto fail;
            }
            /* what the store assigns: it keeps its own */
            json_object_del(obj, "status");
        } else {
            obj = json_incref(doc);
        }
        if (owner)
            set_owner(e, obj);
        if ((rc = skiff_resource_validate(obj, &v, &k)) == 0) {
            if (strcmp(action, "create") == 0)
                rc = skiff_resource_create(e->o->store, k, obj, &stored, &err);
            else
                rc = skiff_resource_apply(e->o->store, k, obj, &stored, NULL, &err);
        }
        if (rc)
            goto fail;
    }
    nd->kind = k;
    nd->res_obj = stored;
    stored = NULL;
    nd->started = skiff_time_now_us();
    set_phase(e, i, P_RUNNING, NULL);
    goto out;
fail: {
        char em[SKIFF_ERR_MSG_MAX];
        skiff_err_format(&err, em, sizeof em);
        snprintf(msg, sizeof msg, "cannot %s %s '%s': %s", action, kind, name, em);
        set_phase(e, i, P_ERROR, msg);
    }
out:
    skiff_validation_release(&v);
    json_decref(stored);
    json_decref(cur);
    json_decref(obj);
    json_decref(doc);
}

/* Pod node i of a `resource` template: substitutes and parses the
 * manifest, then runs a PyTorchJob's replicas (when the ledger has room
 * for all of them: else it stays Pending with the reason) or creates a
 * skiff kind. */
/* Takes what node i requests from the resource ledger. False while it does
 * not fit: the ledger's reason becomes the node's message (and the first
 * one is kept as why it waited). When it fits, a waiting reason is over. */
static bool hold_or_wait(struct engine *e, long i, const struct workflow__request *r)
{
    struct node *nd = &e->nodes[i];
    char holder[600], why[1024];

    /* the root pod's display name is the workflow's: name its template */
    snprintf(holder, sizeof holder, "%s/%s", e->wf->name,
             i == e->root && nd->tmpl_name ? nd->tmpl_name : nd->display);
    if (!workflow__sched_acquire(r, holder, &nd->grant, why, sizeof why)) {
        set_message(e, i, why);
        if (!nd->waited)
            nd->waited = strdup(why);
        return false;
    }
    if (nd->message) {
        free(nd->message);
        nd->message = NULL;
        changed(e);
    }
    return true;
}

static void start_resource(struct engine *e, long i)
{
    struct node *nd = &e->nodes[i];
    struct scope s = {e, i, -1, i, NULL, NULL};
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_yaml_docs *docs = NULL;
    struct workflow__request req;
    json_t *t = json_deep_copy(nd->tmpl), *obj = NULL, *meta;
    const json_t *res;
    const char *manifest, *action;
    char msg[SKIFF_ERR_MSG_MAX + 64];
    int next_gpu = 0;

    if (!t || subst_json(t, &s, &err)) {
        set_phase(e, i, P_ERROR, t ? err.msg : "out of memory");
        goto out;
    }
    res = json_object_get(t, "resource");
    manifest = json_string_value(json_object_get(res, "manifest"));
    action = json_string_value(json_object_get(res, "action"));
    if (!manifest || !action) {
        set_phase(e, i, P_ERROR, "resource needs action and manifest");
        goto out;
    }
    if (skiff_yaml_parse(manifest, strlen(manifest), "manifest", &docs, &err) ||
        skiff_yaml_count(docs) != 1) {
        skiff_err_format(&err, msg, sizeof msg);
        set_phase(e, i, P_ERROR, docs ? "the manifest must hold one object" : msg);
        goto out;
    }
    obj = json_deep_copy(skiff_yaml_doc(docs, 0));
    if (strcmp(action, "patch") == 0 && json_is_array(obj)) {
        /* a JSON patch: the list of operations, its target in flags */
        json_decref(nd->resolved);
        nd->resolved = t;
        t = NULL;
        kind_action(e, i, obj, action);
        obj = NULL;
        goto out;
    }
    meta = json_object_get(obj, "metadata");
    if (!json_is_object(meta) || !json_is_string(json_object_get(obj, "kind"))) {
        set_phase(e, i, P_ERROR, "Kind and name are both required but at least one of them "
                                 "is missing from the manifest");
        goto out;
    }
    if (!json_is_string(json_object_get(meta, "name"))) {
        const char *gen = json_string_value(json_object_get(meta, "generateName"));
        char suffix[8], name[300];
        if (strcmp(action, "create") != 0)
            gen = NULL;   /* only a create makes a name */
        if (!gen) {
            set_phase(e, i, P_ERROR, "Kind and name are both required but at least one of "
                                     "them is missing from the manifest");
            goto out;
        }
        workflow__random_chars(suffix, 5, "bcdfghjklmnpqrstvwxz2456789");
        snprintf(name, sizeof name, "%s%s", gen, suffix);
        json_object_set_new(meta, "name", json_string(name));
    }
    if (!workflow__job_kind(obj)) {
        json_decref(nd->resolved);
        nd->resolved = t;
        t = NULL;
        kind_action(e, i, obj, action);
        obj = NULL;
        goto out;
    }
    if (strcmp(action, "create") != 0 && strcmp(action, "apply") != 0) {
        set_phase(e, i, P_ERROR, "a PyTorchJob can only be created (or applied): its replicas "
                                 "belong to the node that creates it");
        goto out;
    }
    if (!nd->job) {
        if (workflow__job_parse(obj, &nd->job, &err)) {
            set_phase(e, i, P_ERROR, err.msg);
            goto out;
        }
        obj = NULL;
    }
    if (job_request(nd->job, &req, &err)) {
        set_phase(e, i, P_ERROR, err.msg);
        goto out;
    }
    if (!hold_or_wait(e, i, &req))
        goto out;
    if (!(nd->dir = malloc(1024))) {
        set_phase(e, i, P_ERROR, "out of memory");
        goto out;
    }
    snprintf(nd->dir, 1024, "%s/%s", e->o->run_dir, nd->id);
    rmtree(nd->dir);
    nd->job->port = free_port();
    for (size_t k = 0; k < nd->job->n; k++)
        if (spawn_replica(e, i, k, &next_gpu, &err)) {
            skiff_err_format(&err, msg, sizeof msg);
            nd->verdict = -1;
            nd->verdict_msg = strdup(msg);
            kill_job(nd);
            break;
        }
    nd->started = skiff_time_now_us();
    nd->job_changed = true;
    {
        long ads = json_int(json_object_get(nd->tmpl, "activeDeadlineSeconds"), 0);
        if (ads > 0)
            nd->deadline = skiff_time_mono_us() + ads * SKIFF_US_PER_SEC;
    }
    set_phase(e, i, P_RUNNING, NULL);
out:
    if (t) {
        json_decref(nd->resolved);
        nd->resolved = t;
    }
    json_decref(obj);
    skiff_yaml_free(docs);
    free(s.scratch);
}

/* A replica exited: its verdict and figures. */
static void finish_replica(struct node *nd, struct workflow__replica *r, int wstatus,
                           const struct rusage *ru)
{
    struct workflow__exit x;
    struct skiff_buf msg = SKIFF_BUF_INIT;

    workflow__proc_finish(&r->proc, wstatus, ru, &x);
    r->exited = true;
    if (r->dir) {
        /* the token dies with the replica */
        char tokpath[1200];
        snprintf(tokpath, sizeof tokpath, "%s/tmp/.skiff-token", r->dir);
        unlink(tokpath);
    }
    r->peak_memory = x.peak_memory;
    r->cpu_seconds = x.cpu_seconds;
    r->ok = !r->proc.exec_failed && !x.oom && !x.signal && x.exit_code == 0;
    if (r->proc.exec_failed)
        skiff_buf_appendf(&msg, "cannot run the command: %s", r->proc.setup_msg);
    else if (x.oom)
        skiff_buf_puts(&msg, "OOMKilled");
    else if (x.signal)
        skiff_buf_appendf(&msg, "killed by signal %s", signal_name(x.signal));
    else if (x.exit_code)
        skiff_buf_appendf(&msg, "exit code %d", x.exit_code);
    if (!r->ok && !r->proc.exec_failed)
        stderr_tail(r->dir, &msg);
    snprintf(r->msg, sizeof r->msg, "%s", msg.len ? msg.ptr : "");
    skiff_buf_release(&msg);
    workflow__job_update(nd->job);
    nd->job_changed = true;
}

/* Decides a running PyTorchJob node as Argo does (spec §11.3): any
 * failureCondition requirement true fails it, all successCondition
 * requirements true succeed it. Without conditions the training
 * operator's rule holds (the Master's success, any replica's failure).
 * Local processes cannot outlive the node: after a failure the replicas
 * left are killed, after a success they are waited for; the node ends once
 * all are reaped. */
static void step_job(struct engine *e, long i)
{
    struct node *nd = &e->nodes[i];
    struct workflow__job *j = nd->job;
    const json_t *res = json_object_get(nd->resolved, "resource");
    const char *fc = json_string_value(json_object_get(res, "failureCondition"));
    const char *sc = json_string_value(json_object_get(res, "successCondition"));
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_buf msg = SKIFF_BUF_INIT;
    json_t *outputs;
    int64_t peak = 0;
    double cpu = 0;
    bool hit = false;
    char which[400];
    size_t master = 0;

    if (!nd->verdict && nd->kill_msg) {
        nd->verdict = -1;
        nd->verdict_msg = strdup(nd->kill_msg);
    }
    if (!nd->verdict && nd->job_changed) {
        nd->job_changed = false;
        if (fc && workflow__cond_eval(fc, j->obj, true, &hit, which, sizeof which, &err)) {
            nd->verdict = -1;
            nd->verdict_msg = strdup(err.msg);
        } else if (hit) {
            char m[600];
            snprintf(m, sizeof m, "failure condition '%s' evaluated true", which);
            nd->verdict = -1;
            nd->verdict_msg = strdup(m);
        } else if (sc && workflow__cond_eval(sc, j->obj, false, &hit, NULL, 0, &err)) {
            nd->verdict = -1;
            nd->verdict_msg = strdup(err.msg);
        } else if (sc && hit) {
            nd->verdict = 1;
        } else if (!fc && !sc) {
            nd->verdict = workflow__job_default_result(j);
        }
        if (!nd->verdict && !workflow__job_active(j)) {
            char m[600];
            snprintf(m, sizeof m, "every replica exited without meeting the success condition "
                                  "'%s'", sc ? sc : "");
            nd->verdict = -1;
            nd->verdict_msg = strdup(m);
        }
        changed(e);
    }
    if (!nd->verdict)
        return;
    if (workflow__job_active(j)) {
        /* a failed job's leftovers are killed; after success the rest
         * (a Master writing its outputs) may finish on their own, within
         * the deadlines */
        if (nd->verdict < 0 && !nd->job_killed)
            kill_job(nd);
        return;
    }
    /* every replica reaped: the node ends */
    for (size_t k = 0; k < j->n; k++) {
        if (j->reps[k].peak_memory > peak)
            peak = j->reps[k].peak_memory;
        cpu += j->reps[k].cpu_seconds;
        if (strcmp(j->reps[k].type, "Master") == 0)
            master = k;
    }
    nd->peak_memory = peak;
    nd->cpu_seconds = cpu;
    nd->gpu_seconds = nd->grant.ngpus * (double)(skiff_time_now_us() - nd->started) / 1e6;
    nd->held = nd->grant;
    workflow__sched_release(&nd->grant);
    {
        /* status.conditions as the training operator writes them */
        json_t *st = json_object_get(j->obj, "status");
        json_object_set_new(st, "conditions",
                            json_pack("[{s:s, s:s}]", "type",
                                      nd->verdict > 0 ? "Succeeded" : "Failed", "status",
                                      "True"));
    }
    outputs = json_object();
    if (nd->verdict > 0) {
        const struct workflow__replica *m = &j->reps[master];
        /* the Master's folder holds the job's outputs, artifacts too */
        if (collect_outputs(m->dir, m->proc.private_tmp, j->obj, nd->resolved, outputs,
                            &msg) == 0 &&
            save_outputs(e, nd, m->dir, m->proc.private_tmp, nd->resolved, outputs, &msg) == 0) {
            json_decref(nd->outputs);
            nd->outputs = outputs;
            outputs = NULL;
            export_globals(e, nd->resolved, nd->outputs);
            set_phase(e, i, P_SUCCEEDED, NULL);
        } else {
            set_phase(e, i, P_ERROR, msg.ptr);
        }
    } else {
        skiff_buf_puts(&msg, nd->verdict_msg ? nd->verdict_msg : "the job failed");
        for (size_t k = 0; k < j->n; k++)
            if (j->reps[k].exited && !j->reps[k].ok && j->reps[k].msg[0] &&
                !j->reps[k].killed) {
                skiff_buf_appendf(&msg, "; %s %d: %s", j->reps[k].type, j->reps[k].index,
                                  j->reps[k].msg);
                break;
            }
        set_phase(e, i, P_FAILED, msg.ptr);
    }
    json_decref(outputs);
    skiff_buf_release(&msg);
}

/* A skiff kind created in the store: conditions read from the stored
 * object, once a second. */
static void step_kind(struct engine *e, long i)
{
    struct node *nd = &e->nodes[i];
    const json_t *res = json_object_get(nd->resolved, "resource");
    const char *fc = json_string_value(json_object_get(res, "failureCondition"));
    const char *sc = json_string_value(json_object_get(res, "successCondition"));
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_buf msg = SKIFF_BUF_INIT;
    int64_t now = skiff_time_mono_us();
    json_t *outputs = NULL;
    bool hit = false;
    char which[400];

    if (nd->kill_msg || (e->stopped && !nd->exit_handler)) {
        set_phase(e, i, P_FAILED, nd->kill_msg ? nd->kill_msg : STOPPED);
        return;
    }
    if (fc || sc) {
        json_t *cur = NULL;
        const char *name = json_string_value(
            json_object_get(json_object_get(nd->res_obj, "metadata"), "name"));
        if (now < nd->next_poll)
            return;
        nd->next_poll = now + SKIFF_US_PER_SEC;
        if (skiff_resource_get(e->o->store, nd->kind, name, &cur, &err)) {
            set_phase(e, i, P_ERROR, err.msg);
            return;
        }
        json_decref(nd->res_obj);
        nd->res_obj = cur;
        if (fc && (workflow__cond_eval(fc, cur, true, &hit, which, sizeof which, &err) || hit)) {
            char m[600];
            snprintf(m, sizeof m, "failure condition '%s' evaluated true", which);
            set_phase(e, i, hit ? P_FAILED : P_ERROR, hit ? m : err.msg);
            return;
        }
        if (sc && (workflow__cond_eval(sc, cur, false, &hit, NULL, 0, &err) || !hit)) {
            if (err.code)
                set_phase(e, i, P_ERROR, err.msg);
            return;
        }
    }
    outputs = json_object();
    if (json_array_size(json_object_get(json_object_get(nd->resolved, "outputs"),
                                        "artifacts"))) {
        /* validation refuses them for a manifest it could read; one made by
         * {{tags}} is only known now */
        set_phase(e, i, P_ERROR, "output artifacts of a resource template come from a "
                                 "PyTorchJob's Master; a skiff kind has no files");
    } else if (collect_outputs(NULL, false, nd->res_obj, nd->resolved, outputs, &msg) == 0) {
        json_decref(nd->outputs);
        nd->outputs = outputs;
        outputs = NULL;
        set_phase(e, i, P_SUCCEEDED, NULL);
    } else {
        set_phase(e, i, P_ERROR, msg.ptr);
    }
    json_decref(outputs);
    skiff_buf_release(&msg);
}

/* ---- reconcile ---- */

static void step(struct engine *e, long i);

/* Asks the ledger for what pod i requests. True when held (or nothing to
 * hold); false when it stays Pending (the reason becomes its message) or
 * when it failed (bad quantity after substitution: Error). */
static bool acquire(struct engine *e, long i)
{
    struct node *nd = &e->nodes[i];
    struct scope s = {e, i, -1, i, NULL, NULL};
    struct skiff_err err = SKIFF_ERR_INIT;
    struct workflow__request r = {0};
    const char *type = workflow__template_type(nd->tmpl);
    json_t *res = json_deep_copy(json_object_get(json_object_get(nd->tmpl, type), "resources"));
    bool ok = false;

    r.node_selector = json_object_get(nd->tmpl, "nodeSelector");
    if (!r.node_selector)
        r.node_selector = json_object_get(e->wf->spec, "nodeSelector");
    r.tolerations = json_object_get(nd->tmpl, "tolerations");
    if (!r.tolerations)
        r.tolerations = json_object_get(e->wf->spec, "tolerations");
    if ((res && subst_json(res, &s, &err)) || workflow__request_parse(res, &r, &err)) {
        set_phase(e, i, P_ERROR, err.msg);
        goto out;
    }
    ok = hold_or_wait(e, i, &r);
out:
    json_decref(res);
    free(s.scratch);
    return ok;
}

/* Resuming (opts->resume): a pod that ended in the earlier run of this
 * workflow (same node ID: node IDs are made from names, not from time)
 * ends again with the phase, message, outputs and times it had, without
 * running. Pods that were Pending or Running then run now. true when the
 * node was restored. */
static bool restore(struct engine *e, long i)
{
    struct node *nd = &e->nodes[i];
    const json_t *old = json_object_get(json_object_get(e->o->resume, "nodes"), nd->id);
    const char *ph = json_string_value(json_object_get(old, "phase"));
    const char *msg = json_string_value(json_object_get(old, "message"));
    const json_t *outs = json_object_get(old, "outputs");
    int64_t t0 = 0, t1 = 0;
    enum phase p;

    if (!ph)
        return false;
    if (strcmp(ph, "Succeeded") == 0)
        p = P_SUCCEEDED;
    else if (strcmp(ph, "Failed") == 0)
        p = P_FAILED;
    else if (strcmp(ph, "Error") == 0)
        p = P_ERROR;
    else
        return false;
    if (json_is_object(outs)) {
        json_decref(nd->outputs);
        nd->outputs = json_deep_copy(outs);
    }
    /* a restored step's globalName outputs are exported again, as when
     * it ran: later steps and status.outputs read them */
    if (p == P_SUCCEEDED)
        export_globals(e, nd->tmpl, nd->outputs);
    set_phase(e, i, p, msg);
    if (skiff_time_parse(json_string_value(json_object_get(old, "startedAt")), &t0, NULL) == 0 &&
        skiff_time_parse(json_string_value(json_object_get(old, "finishedAt")), &t1, NULL) == 0) {
        nd->started = t0;
        nd->finished = t1;
    }
    return true;
}

static void step_pod(struct engine *e, long i)
{
    struct node *nd = &e->nodes[i];
    long par = json_int(json_object_get(e->wf->spec, "parallelism"), 0);
    long tpar = nd->boundary >= 0
                    ? json_int(json_object_get(e->nodes[nd->boundary].tmpl, "parallelism"), 0)
                    : 0;

    if (nd->phase == P_RUNNING && nd->job) {
        step_job(e, i);
        return;
    }
    if (nd->phase == P_RUNNING && nd->kind) {
        step_kind(e, i);
        return;
    }
    if (nd->phase != P_PENDING)
        return;
    if (e->o->resume && restore(e, i))
        return;
    if ((e->deadline_hit && !nd->exit_handler) || e->stopped) {
        set_phase(e, i, P_FAILED, e->stopped ? STOPPED : "Step exceeded its deadline");
        return;
    }
    if (par > 0 && running_pods(e, -1) >= par)
        return;
    if (tpar > 0 && running_pods(e, nd->boundary) >= tpar)
        return;
    if (strcmp(workflow__template_type(nd->tmpl), "resource") == 0) {
        start_resource(e, i);
        return;
    }
    if (!acquire(e, i))
        return;
    start_pod(e, i);
    if (e->nodes[i].phase != P_RUNNING)
        workflow__sched_release(&e->nodes[i].grant);
}

static bool retry_allowed(const json_t *rs, enum phase last)
{
    const char *pol = json_string_value(json_object_get(rs, "retryPolicy"));
    if (!pol)
        pol = json_object_get(rs, "expression") ? "Always" : "OnFailure";
    if (strcmp(pol, "Always") == 0)
        return last == P_FAILED || last == P_ERROR;
    if (strcmp(pol, "OnError") == 0)
        return last == P_ERROR;
    return last == P_FAILED;   /* OnFailure, and OnTransientError as its nearest */
}

/* Backoff before attempt n+1 after n attempts (spec §9.2):
 * duration * factor^(n-1), clamped by cap. Worked example: duration 1s,
 * factor 2: waits 1s, 2s, 4s. */
static int64_t backoff_field(const json_t *rs, const char *key)
{
    char *text = workflow__scalar(json_object_get(json_object_get(rs, "backoff"), key));
    int64_t us = 0;
    if (text && skiff_duration_parse(text, &us, NULL) != 0)
        us = 0;   /* validated at load; a {{tag}} that resolved badly means none */
    free(text);
    return us;
}

static int64_t backoff_us(const json_t *rs, int attempts)
{
    const json_t *b = json_object_get(rs, "backoff");
    int64_t d = backoff_field(rs, "duration"), cap = backoff_field(rs, "cap");
    double factor = 1;

    if (!b || !json_object_get(rs, "limit"))
        return 0;   /* upstream waits only when limit is set */
    if (json_is_number(json_object_get(b, "factor")))
        factor = json_number_value(json_object_get(b, "factor"));
    else if (json_is_string(json_object_get(b, "factor")))
        factor = strtod(json_string_value(json_object_get(b, "factor")), NULL);
    if (factor > 0)
        d = (int64_t)((double)d * pow(factor, attempts - 1));
    if (cap > 0 && d > cap)
        d = cap;
    return d;
}

static void step_retry(struct engine *e, long i)
{
    struct node *nd = &e->nodes[i];
    const json_t *rs = retry_strategy(e, nd->tmpl);
    long limit = json_int(json_object_get(rs, "limit"), -1);
    long last = nd->nchildren ? (long)nd->children[nd->nchildren - 1] : -1;
    char name[1100], display[64], msg[SKIFF_ERR_MSG_MAX + 64];
    int64_t maxd = backoff_field(rs, "maxDuration"), now = skiff_time_mono_us();
    enum phase lp;

    if (last >= 0 && !fulfilled(e->nodes[last].phase)) {
        step(e, last);
        nd = &e->nodes[i];
        if (!fulfilled(e->nodes[last].phase))
            return;
    }
    if (last >= 0) {
        lp = e->nodes[last].phase;
        if (lp == P_SUCCEEDED) {
            json_decref(nd->outputs);
            nd->outputs = json_deep_copy(e->nodes[last].outputs);
            set_phase(e, i, P_SUCCEEDED, NULL);
            return;
        }
        if (!retry_allowed(rs, lp) || (limit >= 0 && nd->attempts > limit) ||
            (e->deadline_hit && !nd->exit_handler) || e->stopped) {
            snprintf(msg, sizeof msg, "%s%s%s",
                     limit >= 0 && nd->attempts > limit ? "No more retries left" : "",
                     limit >= 0 && nd->attempts > limit && e->nodes[last].message ? ": " : "",
                     e->nodes[last].message ? e->nodes[last].message : "");
            set_phase(e, i, lp, msg);
            return;
        }
        /* maxDuration bounds the whole from the first attempt (spec §9.2) */
        if (maxd > 0 && now >= nd->retry_first + maxd) {
            set_phase(e, i, lp, "Max duration limit exceeded");
            return;
        }
        if (!nd->retry_at) {
            int64_t wait = backoff_us(rs, nd->attempts);
            if (maxd > 0 && now + wait > nd->retry_first + maxd) {
                set_phase(e, i, lp, "Backoff would exceed max duration limit");
                return;
            }
            nd->retry_at = now + wait;
            if (wait > 0) {
                snprintf(msg, sizeof msg, "Backoff for %s",
                         skiff_duration_format(wait, display, sizeof display));
                set_message(e, i, msg);
            }
        }
        if (skiff_time_mono_us() < nd->retry_at)
            return;
    }
    nd->retry_at = 0;
    if (nd->attempts == 0)
        nd->retry_first = now;
    snprintf(name, sizeof name, "%s(%d)", nd->name, nd->attempts);
    snprintf(display, sizeof display, "%s(%d)", nd->display, nd->attempts);
    nd->attempts++;
    {
        long c = add_node(e, name, display, N_POD, i, e->nodes[i].boundary);
        if (c < 0)
            return;
        nd = &e->nodes[i];
        e->nodes[c].tmpl = nd->tmpl;
        e->nodes[c].call = nd->call;
        e->nodes[c].tmpl_name = skiff_strdup(nd->tmpl_name);
        e->nodes[c].inputs = json_deep_copy(nd->inputs);
        e->nodes[c].started = skiff_time_now_us();
        step(e, c);
        /* each attempt also ends at the max duration */
        if (maxd > 0 && e->nodes[c].spawned &&
            (!e->nodes[c].deadline || e->nodes[c].deadline > e->nodes[i].retry_first + maxd))
            e->nodes[c].deadline = e->nodes[i].retry_first + maxd;
    }
}

/* Result of a dependency, as `depends` reads it (spec §7.2). */
struct dep_ctx {
    struct engine *e;
    long dag;
    const json_t *tasks;
    bool waiting;          /* some dependency is not fulfilled yet */
};

static bool continue_on(const json_t *task, enum phase p)
{
    const json_t *co = json_object_get(task, "continueOn");
    return (p == P_FAILED && json_is_true(json_object_get(co, "failed"))) ||
           (p == P_ERROR && json_is_true(json_object_get(co, "error")));
}

static int dep_result(void *ctx, const char *task, const char *result, bool *out,
                      struct skiff_err *err)
{
    struct dep_ctx *d = ctx;
    long k = find_named(d->tasks, task), ni;
    struct node *nd;

    if (k < 0)
        return skiff_err_set(err, SKIFF_EINVAL, "unknown task \"%s\"", task);
    ni = d->e->nodes[d->dag].sub[k];
    if (ni < 0 || !fulfilled(d->e->nodes[ni].phase)) {
        d->waiting = true;
        *out = false;
        return 0;
    }
    nd = &d->e->nodes[ni];
    if (!result) {
        *out = nd->phase == P_SUCCEEDED || nd->phase == P_SKIPPED ||
               continue_on(json_array_get(d->tasks, (size_t)k), nd->phase);
    } else if (strcmp(result, "Succeeded") == 0) {
        *out = nd->phase == P_SUCCEEDED;
    } else if (strcmp(result, "Failed") == 0) {
        *out = nd->phase == P_FAILED;
    } else if (strcmp(result, "Errored") == 0) {
        *out = nd->phase == P_ERROR;
    } else if (strcmp(result, "Skipped") == 0) {
        *out = nd->phase == P_SKIPPED;
    } else if (strcmp(result, "Omitted") == 0) {
        *out = nd->phase == P_OMITTED;
    } else if (strcmp(result, "AnySucceeded") == 0 || strcmp(result, "AllFailed") == 0) {
        bool any = false, all = nd->nchildren > 0;
        for (size_t c = 0; c < nd->nchildren; c++) {
            enum phase p = d->e->nodes[nd->children[c]].phase;
            any = any || p == P_SUCCEEDED;
            all = all && p == P_FAILED;
        }
        *out = result[1] == 'n' ? any : all;
    } else {
        *out = false;   /* Daemoned: no daemons here */
    }
    return 0;
}

/* Whether a depends expression names task `tn` (as a whole word: task
 * names may hold '-', so "a" is not in "a-b"). */
static bool mentions(const char *depends, const char *tn)
{
    size_t len = strlen(tn);
    for (const char *hit = strstr(depends, tn); hit; hit = strstr(hit + 1, tn)) {
        bool before = hit > depends && (isalnum((unsigned char)hit[-1]) || hit[-1] == '-' ||
                                        hit[-1] == '_');
        bool after = isalnum((unsigned char)hit[len]) || hit[len] == '-' || hit[len] == '_';
        if (!before && !after)
            return true;
    }
    return false;
}

/* The phase of a target's branch (spec §7.5): its own when completed, else
 * the worst completed ancestor's. */
static enum phase branch_phase(struct engine *e, long dag, size_t k, int depth)
{
    const json_t *tasks = json_object_get(json_object_get(e->nodes[dag].tmpl, "dag"), "tasks");
    const json_t *task = json_array_get(tasks, k), *deps = json_object_get(task, "dependencies"),
                 *dep;
    const char *depends = json_string_value(json_object_get(task, "depends"));
    long ni = e->nodes[dag].sub[k];
    enum phase worst = P_SUCCEEDED;
    size_t j;

    if (ni >= 0 && e->nodes[ni].phase != P_SKIPPED && e->nodes[ni].phase != P_OMITTED)
        return continue_on(task, e->nodes[ni].phase) ? P_SUCCEEDED : e->nodes[ni].phase;
    if (depth > 256)
        return worst;
    json_array_foreach(deps, j, dep) {
        long d = find_named(tasks, json_string_value(dep));
        enum phase p = d >= 0 ? branch_phase(e, dag, (size_t)d, depth + 1) : P_SUCCEEDED;
        if (p == P_FAILED || (p == P_ERROR && worst != P_FAILED))
            worst = p;
    }
    if (depends) {
        /* the names of a depends expression, read as words */
        for (size_t t = 0; t < json_array_size(tasks); t++) {
            enum phase p;
            if (!mentions(depends, json_string_value(json_object_get(json_array_get(tasks, t),
                                                                     "name"))))
                continue;
            p = branch_phase(e, dag, t, depth + 1);
            if (p == P_FAILED || (p == P_ERROR && worst != P_FAILED))
                worst = p;
        }
    }
    return worst;
}

/* A dag or steps template's own outputs (spec §4.4). */
static void graph_outputs(struct engine *e, long i)
{
    struct node *nd = &e->nodes[i];
    struct scope s = {e, i, i, i, NULL, NULL};
    const json_t *o;
    json_t *params = json_array(), *arts = json_array();
    size_t k;

    json_array_foreach(json_object_get(json_object_get(nd->tmpl, "outputs"), "parameters"), k,
                       o) {
        const json_t *vf = json_object_get(o, "valueFrom");
        const char *from = json_string_value(json_object_get(vf, "parameter"));
        char *v = NULL;
        if (!from || subst_str(&s, from, &v, NULL)) {
            free(v);
            v = workflow__scalar(json_object_get(vf, "default"));
        }
        if (v)
            json_array_append_new(params, json_pack("{s:s, s:s}", "name",
                                                    json_string_value(json_object_get(o, "name")),
                                                    "value", v));
        free(v);
    }
    /* outputs.artifacts[].from: an artifact of a task or step inside (spec
     * §4.5), passed up under the template's own name; one that is absent
     * (a skipped task) is left out, and a caller that needs it says so */
    json_array_foreach(json_object_get(json_object_get(nd->tmpl, "outputs"), "artifacts"), k,
                       o) {
        char why[600];
        const json_t *got = artifact_ref(&s, json_string_value(json_object_get(o, "from")), why,
                                         sizeof why);
        json_t *c;
        if (!got || !(c = json_deep_copy(got)))
            continue;
        json_object_set(c, "name", json_object_get(o, "name"));
        json_object_del(c, "path");
        json_object_del(c, "optional");
        json_array_append_new(arts, c);
    }
    free(s.scratch);
    if (json_array_size(params) || json_array_size(arts)) {
        json_decref(e->nodes[i].outputs);
        e->nodes[i].outputs = json_object();
    }
    if (json_array_size(params))
        json_object_set(e->nodes[i].outputs, "parameters", params);
    if (json_array_size(arts))
        json_object_set(e->nodes[i].outputs, "artifacts", arts);
    json_decref(params);
    json_decref(arts);
    export_globals(e, e->nodes[i].tmpl, e->nodes[i].outputs);
}

static void step_dag(struct engine *e, long i)
{
    const json_t *tasks = json_object_get(json_object_get(e->nodes[i].tmpl, "dag"), "tasks");
    const json_t *task;
    bool all_done = true, *is_dep;
    enum phase result = P_SUCCEEDED;
    const char *failed_name = NULL;
    size_t k;

    json_array_foreach(tasks, k, task) {
        struct dep_ctx d = {e, i, tasks, false};
        struct skiff_err err = SKIFF_ERR_INIT;
        const char *tname = json_string_value(json_object_get(task, "name"));
        const char *depends = json_string_value(json_object_get(task, "depends"));
        const json_t *deps = json_object_get(task, "dependencies"), *dep;
        char name[1100];
        bool ok = true;
        size_t j;
        long ni = e->nodes[i].sub[k];

        if (ni >= 0) {
            if (!fulfilled(e->nodes[ni].phase))
                step(e, ni);
            if (!fulfilled(e->nodes[ni].phase))
                all_done = false;
            continue;
        }
        all_done = false;
        if (depends) {
            if (skiff_workflow_depends(depends, dep_result, &d, &ok, &err) != 0) {
                ok = false;
                d.waiting = false;
            }
        } else {
            json_array_foreach(deps, j, dep) {
                bool r = false;
                dep_result(&d, json_string_value(dep), NULL, &r, &err);
                ok = ok && r;
            }
        }
        if (d.waiting)
            continue;
        snprintf(name, sizeof name, "%s.%s", e->nodes[i].name, tname);
        if (!ok) {
            long o = add_node(e, name, tname, N_SKIPPED, i, i);
            if (o < 0)
                return;
            e->nodes[i].sub[k] = o;
            e->nodes[o].tmpl_name =
                skiff_strdup(json_string_value(json_object_get(task, "template")));
            set_phase(e, o, P_OMITTED, err.msg[0] ? err.msg : "omitted: depends condition not met");
            continue;
        }
        if (fans_out(task)) {
            char msg[SKIFF_ERR_MSG_MAX];
            long g = add_node(e, name, tname, N_TASKGROUP, i, i), items;
            if (g < 0)
                return;
            e->nodes[i].sub[k] = g;
            e->nodes[g].phase = P_RUNNING;
            e->nodes[g].started = skiff_time_now_us();
            e->nodes[g].call = task;
            e->nodes[g].tmpl_name =
                skiff_strdup(json_string_value(json_object_get(task, "template")));
            items = add_items(e, task, name, g, i, msg, sizeof msg);
            if (items < 0)
                set_phase(e, g, P_ERROR, msg);
            else if (items == 0)
                set_phase(e, g, P_SKIPPED, "Skipped, empty params");
            ni = g;
        } else {
            ni = add_call(e, task, name, tname, i, i, NULL);
            if (ni < 0)
                return;
            e->nodes[i].sub[k] = ni;
        }
        step(e, ni);
    }
    if (!all_done)
        return;
    if (!(is_dep = calloc(json_array_size(tasks) + 1, sizeof *is_dep))) {
        e->rc = skiff_err_set(e->err, SKIFF_ENOMEM, "out of memory");
        return;
    }
    /* targets: tasks no other task depends on (spec §7.5) */
    json_array_foreach(tasks, k, task) {
        const json_t *deps = json_object_get(task, "dependencies"), *dep;
        const char *depends = json_string_value(json_object_get(task, "depends"));
        size_t j;
        json_array_foreach(deps, j, dep) {
            long d = find_named(tasks, json_string_value(dep));
            if (d >= 0)
                is_dep[d] = true;
        }
        for (j = 0; depends && j < json_array_size(tasks); j++)
            if (mentions(depends, json_string_value(json_object_get(json_array_get(tasks, j),
                                                                    "name"))))
                is_dep[j] = true;
    }
    json_array_foreach(tasks, k, task) {
        enum phase p;
        if (is_dep[k])
            continue;
        p = branch_phase(e, i, k, 0);
        if (p == P_FAILED || (p == P_ERROR && result != P_FAILED)) {
            result = p;
            failed_name = json_string_value(json_object_get(task, "name"));
        }
    }
    free(is_dep);
    if (result == P_SUCCEEDED) {
        graph_outputs(e, i);
        set_phase(e, i, P_SUCCEEDED, NULL);
    } else {
        char msg[SKIFF_ERR_MSG_MAX + 256];
        snprintf(msg, sizeof msg, "child '%s' %s", failed_name,
                 result == P_FAILED ? "failed" : "errored");
        /* the message of the node that actually failed says more */
        for (size_t c = 0; c < e->nodes[i].nchildren; c++) {
            struct node *ch = &e->nodes[e->nodes[i].children[c]];
            if ((ch->phase == P_FAILED || ch->phase == P_ERROR) && ch->message &&
                ch->type != N_TASKGROUP) {
                snprintf(msg, sizeof msg, "%.200s: %.*s", ch->display, SKIFF_ERR_MSG_MAX,
                         ch->message);
                break;
            }
        }
        set_phase(e, i, result, msg);
    }
}

/* A TaskGroup or StepGroup: done when all its children are; Failed when
 * one failed that its task's continueOn does not cover. */
static void step_group(struct engine *e, long i)
{
    bool done = true;
    enum phase result = P_SUCCEEDED;
    const char *msg = NULL;

    if (fulfilled(e->nodes[i].phase))
        return;
    for (size_t c = 0; c < e->nodes[i].nchildren; c++) {
        long ch = (long)e->nodes[i].children[c];
        if (!fulfilled(e->nodes[ch].phase))
            step(e, ch);
        if (!fulfilled(e->nodes[ch].phase)) {
            done = false;
            continue;
        }
        if ((e->nodes[ch].phase == P_FAILED || e->nodes[ch].phase == P_ERROR) &&
            !continue_on(e->nodes[ch].call, e->nodes[ch].phase) && result == P_SUCCEEDED) {
            result = e->nodes[ch].phase;
            msg = e->nodes[ch].message;
        }
    }
    if (done) {
        char m[SKIFF_ERR_MSG_MAX];
        snprintf(m, sizeof m, "%s", msg ? msg : "");
        set_phase(e, i, result, msg ? m : NULL);
    }
}

static void step_steps(struct engine *e, long i)
{
    const json_t *groups = json_object_get(e->nodes[i].tmpl, "steps");

    while (e->nodes[i].group < e->nodes[i].nsub) {
        size_t g = e->nodes[i].group;
        long gn = e->nodes[i].sub[g];
        const json_t *st;
        size_t k;

        if (gn < 0) {
            char name[1100], display[32];
            snprintf(name, sizeof name, "%s[%zu]", e->nodes[i].name, g);
            snprintf(display, sizeof display, "[%zu]", g);
            if ((gn = add_node(e, name, display, N_STEPGROUP, i, i)) < 0)
                return;
            e->nodes[i].sub[g] = gn;
            e->nodes[gn].phase = P_RUNNING;
            e->nodes[gn].started = skiff_time_now_us();
            json_array_foreach(json_array_get(groups, g), k, st) {
                const char *sn = json_string_value(json_object_get(st, "name"));
                char sname[1300];
                snprintf(sname, sizeof sname, "%s.%s", name, sn);
                if (fans_out(st)) {
                    /* items are children of the group, as upstream lays them out */
                    char msg[SKIFF_ERR_MSG_MAX];
                    long items = add_items(e, st, sname, gn, i, msg, sizeof msg), x;
                    if (items > 0)
                        continue;
                    if ((x = add_node(e, sname, sn, items < 0 ? N_POD : N_SKIPPED, gn, i)) < 0)
                        return;
                    e->nodes[x].call = st;
                    set_phase(e, x, items < 0 ? P_ERROR : P_SKIPPED,
                              items < 0 ? msg : "Skipped, empty params");
                } else if (add_call(e, st, sname, sn, gn, i, NULL) < 0) {
                    return;
                }
            }
        }
        step_group(e, gn);
        if (!fulfilled(e->nodes[gn].phase))
            return;
        if (e->nodes[gn].phase != P_SUCCEEDED) {
            char msg[SKIFF_ERR_MSG_MAX + 64];
            snprintf(msg, sizeof msg, "%s", e->nodes[gn].message ? e->nodes[gn].message
                                                                 : "a step failed");
            set_phase(e, i, e->nodes[gn].phase, msg);
            return;
        }
        e->nodes[i].group++;
    }
    graph_outputs(e, i);
    set_phase(e, i, P_SUCCEEDED, NULL);
}

static void step(struct engine *e, long i)
{
    if (i < 0 || e->rc || fulfilled(e->nodes[i].phase))
        return;
    switch (e->nodes[i].type) {
    case N_POD: step_pod(e, i); break;
    case N_RETRY: step_retry(e, i); break;
    case N_DAG: step_dag(e, i); break;
    case N_STEPS: step_steps(e, i); break;
    case N_TASKGROUP:
    case N_STEPGROUP: step_group(e, i); break;
    case N_SKIPPED: break;
    }
}

/* ---- status ---- */

static json_t *node_json(struct engine *e, struct node *nd)
{
    char b1[40];
    json_t *o = json_object(), *ch = json_array();

    json_object_set_new(o, "id", json_string(nd->id));
    json_object_set_new(o, "name", json_string(nd->name));
    json_object_set_new(o, "displayName", json_string(nd->display));
    json_object_set_new(o, "type", json_string(type_names[nd->type]));
    if (nd->tmpl_name)
        json_object_set_new(o, "templateName", json_string(nd->tmpl_name));
    json_object_set_new(o, "phase", json_string(phase_names[nd->phase]));
    if (nd->boundary >= 0)
        json_object_set_new(o, "boundaryID", json_string(e->nodes[nd->boundary].id));
    if (nd->message)
        json_object_set_new(o, "message", json_string(nd->message));
    json_object_set_new(o, "startedAt", nd->started
                                            ? json_string(skiff_time_format(nd->started, b1,
                                                                            sizeof b1))
                                            : json_null());
    json_object_set_new(o, "finishedAt", nd->finished
                                             ? json_string(skiff_time_format(nd->finished, b1,
                                                                             sizeof b1))
                                             : json_null());
    if (nd->inputs)
        json_object_set(o, "inputs", nd->inputs);
    if (nd->outputs)
        json_object_set(o, "outputs", nd->outputs);
    for (size_t c = 0; c < nd->nchildren; c++)
        json_array_append_new(ch, json_string(e->nodes[nd->children[c]].id));
    if (json_array_size(ch))
        json_object_set_new(o, "children", ch);
    else
        json_decref(ch);
    if (nd->type == N_POD && (nd->peak_memory || nd->cpu_seconds)) {
        json_object_set_new(o, "resourcesDuration",
                            json_pack("{s:I, s:I}", "cpu",
                                      (json_int_t)ceil(nd->cpu_seconds),
                                      "memory",
                                      (json_int_t)ceil((double)nd->peak_memory / 1073741824.0 *
                                                       (nd->finished - nd->started) / 1e6)));
        json_object_set_new(o, "skiff", json_pack("{s:I, s:f}", "peakMemoryBytes",
                                                  (json_int_t)nd->peak_memory, "cpuSeconds",
                                                  nd->cpu_seconds));
    }
    if (nd->type == N_POD && (nd->gpu_seconds > 0 || nd->waited || nd->grant.pool >= 0 ||
                              nd->held.pool >= 0)) {
        const struct workflow__grant *gr = nd->grant.pool >= 0 ? &nd->grant : &nd->held;
        json_t *sk = json_object_get(o, "skiff");
        if (!sk) {
            sk = json_object();
            json_object_set_new(o, "skiff", sk);
        }
        if (gr->pool >= 0) {
            json_t *g = json_array();
            json_object_set_new(sk, "pool", json_string(gr->pool_name));
            for (int k = 0; k < gr->ngpus; k++)
                json_array_append_new(g, json_integer(gr->gpus[k]));
            json_object_set_new(sk, "gpus", g);
        }
        if (nd->gpu_seconds > 0)
            json_object_set_new(sk, "gpuSeconds", json_real(nd->gpu_seconds));
        if (nd->waited)
            json_object_set_new(sk, "waitedFor", json_string(nd->waited));
    }
    if (nd->job || nd->res_obj) {
        /* the object a resource template made, as kubectl would show it */
        const json_t *ob = nd->job ? nd->job->obj : nd->res_obj;
        json_t *sk = json_object_get(o, "skiff");
        if (!sk) {
            sk = json_object();
            json_object_set_new(o, "skiff", sk);
        }
        json_object_set_new(
            sk, "resource",
            json_pack("{s:O?, s:O?, s:O?, s:O?}", "apiVersion", json_object_get(ob, "apiVersion"),
                      "kind", json_object_get(ob, "kind"), "name",
                      json_object_get(json_object_get(ob, "metadata"), "name"), "status",
                      json_object_get(ob, "status")));
    }
    if (nd->dir)
        json_object_set_new(o, "hostNodeName", json_string("localhost"));
    return o;
}

static enum phase workflow_phase(struct engine *e, const char **msg)
{
    enum phase rp = e->nodes[e->root].phase;
    *msg = e->nodes[e->root].message;
    if (e->exit_node >= 0 && rp == P_SUCCEEDED) {
        enum phase xp = e->nodes[e->exit_node].phase;
        if (xp == P_FAILED || xp == P_ERROR) {
            *msg = e->nodes[e->exit_node].message;
            return xp;
        }
    }
    if (e->stopped) {
        *msg = STOPPED;
        return P_FAILED;
    }
    if (e->deadline_hit && rp != P_SUCCEEDED) {
        *msg = "Step exceeded its deadline";
        return P_FAILED;
    }
    return rp == P_SKIPPED || rp == P_OMITTED ? P_SUCCEEDED : rp;
}

static json_t *status_json(struct engine *e, bool final)
{
    json_t *st = json_object(), *nodes = json_object();
    char b[40];
    const char *msg = NULL;
    size_t pods = 0, done = 0;
    int64_t peak = 0;
    double cpu = 0;

    if (final) {
        json_object_set_new(st, "phase", json_string(phase_names[workflow_phase(e, &msg)]));
    } else {
        json_object_set_new(st, "phase", json_string("Running"));
    }
    json_object_set_new(st, "startedAt", json_string(skiff_time_format(e->started, b, sizeof b)));
    json_object_set_new(st, "finishedAt", final ? json_string(skiff_time_format(e->finished, b,
                                                                                sizeof b))
                                                : json_null());
    for (size_t i = 0; i < e->n; i++) {
        struct node *nd = &e->nodes[i];
        json_object_set_new(nodes, nd->id, node_json(e, nd));
        if (nd->type == N_POD) {
            pods++;
            done += nd->phase >= P_SUCCEEDED;
            cpu += nd->cpu_seconds;
            if (nd->peak_memory > peak)
                peak = nd->peak_memory;
        }
    }
    snprintf(b, sizeof b, "%zu/%zu", done, pods);
    json_object_set_new(st, "progress", json_string(b));
    if (msg)
        json_object_set_new(st, "message", json_string(msg));
    if (json_array_size(e->globals) || json_array_size(e->global_arts)) {
        json_t *outs = json_object();
        if (json_array_size(e->globals))
            json_object_set(outs, "parameters", e->globals);
        if (json_array_size(e->global_arts))
            json_object_set(outs, "artifacts", e->global_arts);
        json_object_set_new(st, "outputs", outs);
    }
    json_object_set_new(st, "nodes", nodes);
    json_object_set_new(st, "resourcesDuration", json_pack("{s:I}", "cpu", (json_int_t)ceil(cpu)));
    json_object_set_new(st, "skiff", json_pack("{s:I, s:f, s:s}", "peakMemoryBytes",
                                               (json_int_t)peak, "cpuSeconds", cpu, "runDir",
                                               e->o->run_dir));
    return st;
}

/* ---- the loop ---- */

/* Reaps exited steps of any of the n engines; returns how many. Each
 * child is waited for by its own pid, never wait4(-1): engines in other
 * threads of the process (the controller of `skiff up`) reap their own
 * children, and a wait for any child would steal their exits. */
static int reap(struct engine *es, size_t n)
{
    int k = 0, st;
    struct rusage ru;

    for (size_t j = 0; j < n; j++) {
        struct engine *e = &es[j];
        for (size_t i = 0; i < e->n; i++) {
            struct node *nd = &e->nodes[i];
            if (nd->spawned && wait4(nd->proc.pid, &st, WNOHANG, &ru) == nd->proc.pid) {
                finish_pod(e, (long)i, st, &ru);
                k++;
                continue;   /* a pod with a process has no job */
            }
            for (size_t r = 0; nd->job && r < nd->job->n; r++) {
                struct workflow__replica *rp = &nd->job->reps[r];
                if (rp->spawned && !rp->exited &&
                    wait4(rp->proc.pid, &st, WNOHANG, &ru) == rp->proc.pid) {
                    finish_replica(nd, rp, st, &ru);
                    changed(e);
                    k++;
                }
            }
        }
    }
    return k;
}

static void check_deadlines(struct engine *e)
{
    int64_t now = skiff_time_mono_us();
    if (e->o->stop && *e->o->stop && !e->stopped) {
        e->stopped = e->deadline_hit = true;
        changed(e);
        for (size_t i = 0; i < e->n; i++)
            kill_pod(&e->nodes[i], STOPPED);
    }
    if (e->deadline && now >= e->deadline && !e->deadline_hit) {
        e->deadline_hit = true;
        changed(e);
        for (size_t i = 0; i < e->n; i++)
            if (!e->nodes[i].exit_handler)
                kill_pod(&e->nodes[i], "Step exceeded its deadline");
    }
    for (size_t i = 0; i < e->n; i++)
        if ((e->nodes[i].spawned || e->nodes[i].job) && e->nodes[i].deadline &&
            now >= e->nodes[i].deadline)
            kill_pod(&e->nodes[i], "Pod was active on the node longer than the specified "
                                   "deadline (activeDeadlineSeconds)");
}

static void free_engine(struct engine *e)
{
    for (size_t i = 0; i < e->n; i++) {
        struct node *nd = &e->nodes[i];
        if (nd->spawned) {
            /* only after an engine failure: leave nothing running */
            int st;
            struct rusage ru;
            struct workflow__exit x;
            kill(-nd->proc.pid, SIGKILL);
            wait4(nd->proc.pid, &st, 0, &ru);
            workflow__proc_finish(&nd->proc, st, &ru, &x);
        }
        for (size_t k = 0; nd->job && k < nd->job->n; k++) {
            struct workflow__replica *r = &nd->job->reps[k];
            if (r->spawned && !r->exited) {
                int st;
                struct rusage ru;
                struct workflow__exit x;
                kill(-r->proc.pid, SIGKILL);
                wait4(r->proc.pid, &st, 0, &ru);
                workflow__proc_finish(&r->proc, st, &ru, &x);
            }
            free(r->dir);
        }
        workflow__job_free(nd->job);
        free(nd->verdict_msg);
        json_decref(nd->res_obj);
        workflow__sched_release(&nd->grant);
        free(nd->waited);
        free(nd->name);
        free(nd->display);
        free(nd->id);
        free(nd->tmpl_name);
        free(nd->message);
        free(nd->children);
        free(nd->sub);
        free(nd->mem_text);
        free(nd->dir);
        json_decref(nd->inputs);
        json_decref(nd->outputs);
        json_decref(nd->resolved);
    }
    free(e->nodes);
    json_decref(e->globals);
    json_decref(e->global_arts);
    skiff_blob_close(e->blob);
}

/* Sets up engine e for wf; 0 or an error (run folder). */
static int engine_begin(struct engine *e, struct skiff_workflow *wf,
                        const struct skiff_workflow_run_opts *opts, struct skiff_err *err)
{
    const json_t *entry;
    long ads;

    memset(e, 0, sizeof *e);
    e->wf = wf;
    e->o = opts;
    e->root = e->exit_node = -1;
    e->err = err;
    if (!opts || !opts->run_dir)
        return skiff_err_set(err, SKIFF_EINVAL, "no run folder given");
    if (mkdirs(opts->run_dir) != 0)
        return skiff_err_sys(err, SKIFF_EIO, "cannot make the run folder '%s'", opts->run_dir);
    e->globals = json_array();
    e->global_arts = json_array();
    e->started = skiff_time_now_us();
    e->start_mono = skiff_time_mono_us();
    if ((ads = json_int(json_object_get(wf->spec, "activeDeadlineSeconds"), 0)) > 0)
        e->deadline = e->start_mono + ads * SKIFF_US_PER_SEC;
    entry = workflow__template(wf, json_string_value(json_object_get(wf->spec, "entrypoint")));
    /* the entrypoint's inputs come from spec.arguments (after -p) */
    /* ... and its input artifacts from spec.arguments.artifacts (raw) */
    e->root = add_template_node(e, wf->name, wf->name, entry, wf->params,
                                json_object_get(json_object_get(wf->spec, "arguments"),
                                                "artifacts"),
                                -1, -1, NULL);
    return e->rc;
}

/* One pass of reconciliation; true once the run (onExit included) is over
 * or the engine failed (e->rc). */
static bool engine_tick(struct engine *e)
{
    const json_t *spec = e->wf->spec;
    long top;

    if (e->rc || e->root < 0)
        return true;
    check_deadlines(e);
    step(e, e->root);
    if (fulfilled(e->nodes[e->root].phase) && e->exit_node < 0 && !e->stopped &&
        json_string_value(json_object_get(spec, "onExit"))) {
        char name[300];
        snprintf(name, sizeof name, "%s.onExit", e->wf->name);
        e->exit_node = add_template_node(
            e, name, name,
            workflow__template(e->wf, json_string_value(json_object_get(spec, "onExit"))),
            e->wf->params, NULL, -1, -1, NULL);
        if (e->exit_node >= 0) {
            char *d = strdup("onExit");
            e->nodes[e->exit_node].exit_handler = true;
            if (d) {
                free(e->nodes[e->exit_node].display);
                e->nodes[e->exit_node].display = d;
            }
        }
        return e->rc != 0;
    }
    top = e->exit_node >= 0 ? e->exit_node : e->root;
    if (e->exit_node >= 0)
        step(e, e->exit_node);
    if (e->rc || (fulfilled(e->nodes[e->root].phase) && fulfilled(e->nodes[top].phase)))
        return true;
    if (e->version != e->seen && e->o->on_change) {
        json_t *st = status_json(e, false);
        e->seen = e->version;
        e->o->on_change(st, e->o->ctx);
        json_decref(st);
    }
    return false;
}

int skiff_workflow_run_many(struct skiff_workflow *const *wfs,
                            const struct skiff_workflow_run_opts *opts, size_t n,
                            json_t **statuses, struct skiff_err *err)
{
    struct engine *es = calloc(n ? n : 1, sizeof *es);
    bool *done = calloc(n ? n : 1, sizeof *done);
    size_t left = n, begun = 0;
    int rc = 0;

    for (size_t j = 0; j < n; j++)
        statuses[j] = NULL;
    if (!es || !done) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    workflow__cg_sweep();
    workflow__self_exe();   /* read now: the binary this run started as */
    for (; begun < n; begun++)
        if ((rc = engine_begin(&es[begun], wfs[begun], &opts[begun], err))) {
            begun++;
            goto out;
        }
    while (left > 0) {
        for (size_t j = 0; j < n; j++) {
            if (done[j] || !engine_tick(&es[j]))
                continue;
            if ((rc = es[j].rc))
                goto out;
            done[j] = true;
            left--;
            es[j].finished = skiff_time_now_us();
            statuses[j] = status_json(&es[j], true);
        }
        if (left > 0 && reap(es, n) == 0)
            usleep(2000);
    }
out:
    if (rc)
        for (size_t j = 0; j < n; j++) {
            json_decref(statuses[j]);
            statuses[j] = NULL;
        }
    for (size_t j = 0; j < begun; j++)
        free_engine(&es[j]);
    free(es);
    free(done);
    return rc;
}

int skiff_workflow_run(struct skiff_workflow *wf, const struct skiff_workflow_run_opts *opts,
                       json_t **status, struct skiff_err *err)
{
    *status = NULL;
    if (!opts)
        return skiff_err_set(err, SKIFF_EINVAL, "no run folder given");
    return skiff_workflow_run_many(&wf, opts, 1, status, err);
}
