/* The workflow controller of `skiff up`: runs the Workflows applied
 * through the API, keeps their status in the store, fires CronWorkflows,
 * and serves log/stop/retry.
 *
 * Invariants:
 *   - the store is the truth: a Workflow is to be run exactly when its
 *     status.phase is not final (absent, Pending or Running); which
 *     workflows exist and which cron times were handled
 *     (status.lastScheduledTime) is never kept in memory between polls;
 *   - at most one run per workflow name: c->runs (under mu) holds the runs
 *     not yet joined, each on its own thread (the engine waits for its own
 *     children by pid, and the process-wide ledger shares GPUs and pools);
 *   - runs start (maybe_start) and stop/retry decide under mu, after
 *     reading the object again, so a workflow is never both started and
 *     ended by a stop;
 *   - no status is written once shutdown began: the steps the shutdown
 *     kills must not make the stored workflow Failed, so that the next
 *     `skiff up` resumes it.
 *
 * States of one Workflow, as this controller sees them (transitions name
 * the function that makes them):
 *
 *   (no phase) --maybe_start--> Running --run_one: the engine ends--> Succeeded|Failed|Error
 *      |                          |  ^                                   |
 *      +--run_one: load fails-----|--|--> Error                          |
 *      +--stop_workflow--> Failed ("Stopped")                            |
 *                                 |  +--maybe_start after a restart:     |
 *                                 |     resumed (ended steps kept)       |
 *                                 +--close / kill -9: stays Running      |
 *   Failed|Error --retry--> Running (only the Succeeded steps kept) <----+
 *
 * Thread-safety: open/start/close from one thread. The runner (polls,
 * starts runs), the cron thread, one thread per run and its status writer
 * (flusher, sharing only `pending` and `run_done` under the run's pmu) are
 * the controller's own; route handlers and stop/retry take mu.
 */
#include "workflow_int.h"

#include "skiff/auth.h"
#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/http.h"
#include "skiff/log.h"
#include "skiff/metrics.h"
#include "skiff/resource.h"
#include "skiff/store.h"
#include "skiff/time.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define POLL_MS 200
#define WRITE_EVERY_US (250 * 1000)
#define LOG_CAP (4 << 20)   /* bytes of one log file a log request returns (its end) */
#define MAX_RUNS 32         /* workflows running at once; more wait their turn */

/* One workflow being run, on its own thread. */
struct run {
    struct skiff_workflow_controller *c;
    struct run *next;                /* c->runs, under c->mu */
    json_t *obj;                     /* the stored Workflow when picked; owned */
    char name[254];
    char sub[320];                   /* its service account, as a token subject */
    char uid[40];                    /* its metadata.uid: the tokens' workload claim */
    pthread_t thread;
    volatile sig_atomic_t stop;      /* the engine kills its steps (close, stop) */
    bool done;                       /* under c->mu: the thread has ended; join it */
    pthread_mutex_t pmu;             /* guards pending and run_done */
    pthread_cond_t pcv;
    json_t *pending;                 /* newest status not yet written, or NULL */
    bool run_done;
};

struct skiff_workflow_controller {
    struct skiff_store *store;
    const struct skiff_auth *auth;
    char *url, *home;
    char *artifacts;               /* the artifact repository's root */
    int64_t token_ttl_s;
    int64_t cron_offset_s;           /* SKIFF_CRON_TEST_NOW_OFFSET: tests only */
    const struct skiff_kind *k_wf, *k_wt, *k_cron;

    pthread_t runner, cron;
    bool runner_started, cron_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool quit;                       /* under mu */
    struct run *runs;                /* under mu */
    size_t nruns;                    /* under mu */
    volatile sig_atomic_t shutdown;  /* raised by close: write nothing more */
};

static bool final_phase(const char *ph)
{
    return ph && (strcmp(ph, "Succeeded") == 0 || strcmp(ph, "Failed") == 0 ||
                  strcmp(ph, "Error") == 0);
}

static const char *phase_of(const json_t *obj)
{
    return json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
}

static void rfc3339(int64_t t, char *out, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Deadline `ms` from now for pthread_cond_timedwait. */
static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += ms * 1000000L;
    ts->tv_sec += ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

static void write_status(struct skiff_workflow_controller *c, const char *name,
                         const json_t *status)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    if (c->shutdown)
        return;
    if (skiff_resource_set_status(c->store, c->k_wf, name, (json_t *)status, &err))
        skiff_warn("workflow '%s': cannot write its status: %s", name, err.msg);
}

/* The run of workflow `name`, or NULL. Under c->mu. */
static struct run *find_run(struct skiff_workflow_controller *c, const char *name)
{
    for (struct run *r = c->runs; r; r = r->next)
        if (!r->done && strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

/* ---- one run ---- */

/* on_change: keeps a copy of the newest status for the flusher, which
 * writes it at most every WRITE_EVERY_US: a 200-task DAG changes much
 * faster than a store write is worth. */
static void on_change(const json_t *status, void *ctx)
{
    struct run *r = ctx;
    json_t *copy = json_deep_copy(status);
    pthread_mutex_lock(&r->pmu);
    json_decref(r->pending);
    r->pending = copy;
    pthread_mutex_unlock(&r->pmu);
}

/* The flusher thread of one run: writes r->pending every WRITE_EVERY_US
 * until the run ends. */
static void *flusher(void *arg)
{
    struct run *r = arg;
    pthread_mutex_lock(&r->pmu);
    while (!r->run_done) {
        struct timespec ts;
        deadline_in(&ts, WRITE_EVERY_US / 1000);
        pthread_cond_timedwait(&r->pcv, &r->pmu, &ts);
        if (r->pending && !r->run_done) {
            json_t *st = r->pending;
            r->pending = NULL;
            pthread_mutex_unlock(&r->pmu);
            write_status(r->c, r->name, st);
            json_decref(st);
            pthread_mutex_lock(&r->pmu);
        }
    }
    pthread_mutex_unlock(&r->pmu);
    return NULL;
}

/* step_token: a token for the workflow's service account, scoped to what a
 * step needs (log to tracking, read resources), living as long as the
 * step may, naming the step as its workload (lineage). Never logged. */
static int step_token(void *ctx, const char *step, int64_t ttl_s, char **token,
                      struct skiff_err *err)
{
    struct run *r = ctx;
    char workload[512];
    snprintf(workload, sizeof workload, "%s/%s", r->uid, step);
    return skiff_auth_issue_workload(r->c->auth, r->sub, "tracking:* resources:read", workload,
                                     ttl_s > 0 ? ttl_s : r->c->token_ttl_s, token, err);
}

static void fail_load(struct run *r, const struct skiff_err *e)
{
    char ts[64];
    json_t *st;

    rfc3339(time(NULL), ts, sizeof ts);
    st = json_pack("{s:s, s:s, s:s, s:s}", "phase", "Error", "message", e->msg, "startedAt",
                   ts, "finishedAt", ts);
    if (st)
        write_status(r->c, r->name, st);
    json_decref(st);
    skiff_warn("workflow '%s': %s", r->name, e->msg);
}

/* Per-step figures on /metrics, by template (a bounded label set, unlike
 * workflow names): steps by phase, CPU and GPU seconds, the last peak
 * memory. Counted once per step when its workflow ends; steps restored from
 * a previous run (`resume`) were counted by that run. */
static void record_step_metrics(const json_t *status, const json_t *resume)
{
    struct skiff_metrics *m = skiff_metrics_default();
    struct skiff_metric *steps = skiff_metrics_counter(
        m, "skiff_workflow_steps_total", "Workflow steps that ended, by template and phase.",
        "template,phase");
    struct skiff_metric *cpu = skiff_metrics_counter(
        m, "skiff_workflow_step_cpu_seconds_total", "CPU seconds used by workflow steps.",
        "template");
    struct skiff_metric *gpu = skiff_metrics_counter(
        m, "skiff_workflow_step_gpu_seconds_total", "GPU seconds held by workflow steps.",
        "template");
    struct skiff_metric *mem = skiff_metrics_gauge(
        m, "skiff_workflow_step_peak_memory_bytes",
        "Peak memory of the last step of each template.", "template");
    const json_t *nodes = json_object_get(status, "nodes"), *nd, *before;
    const char *id;

    json_object_foreach((json_t *)nodes, id, nd) {
        const char *type = json_string_value(json_object_get(nd, "type"));
        const char *phase = json_string_value(json_object_get(nd, "phase"));
        const char *tmpl = json_string_value(json_object_get(nd, "templateName"));
        const json_t *sk = json_object_get(nd, "skiff");
        if (!type || strcmp(type, "Pod") != 0 || !phase || !final_phase(phase) || !tmpl)
            continue;
        before = json_object_get(json_object_get(resume, "nodes"), id);
        if (before && final_phase(json_string_value(json_object_get(before, "phase"))))
            continue;
        skiff_metric_inc(steps, (const char *[]){tmpl, phase}, 1);
        if (!sk)
            continue;
        skiff_metric_inc(cpu, (const char *[]){tmpl},
                         json_number_value(json_object_get(sk, "cpuSeconds")));
        skiff_metric_inc(gpu, (const char *[]){tmpl},
                         json_number_value(json_object_get(sk, "gpuSeconds")));
        skiff_metric_set(mem, (const char *[]){tmpl},
                         json_number_value(json_object_get(sk, "peakMemoryBytes")));
    }
}

/* Loads the Workflow r->obj (its stored status dropped) against the
 * store's WorkflowTemplates and runs it to its end or to shutdown. */
static void run_one(struct run *r)
{
    struct skiff_workflow_controller *c = r->c;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_workflow *wf = NULL;
    struct skiff_workflow_run_opts ro = {0};
    json_t *copy = json_deep_copy(r->obj), *wts = NULL, *status = NULL;
    const json_t **tv = NULL;
    const char *sa;
    char dir[4600];
    size_t nt = 0, i;
    json_t *it;
    pthread_t fl;
    int rc;

    if (!copy) {
        skiff_warn("workflow '%s': out of memory", r->name);
        goto out;
    }
    json_object_del(copy, "status");
    if (skiff_resource_list(c->store, c->k_wt, &wts, &err)) {
        skiff_warn("workflow '%s': cannot list WorkflowTemplates: %s", r->name, err.msg);
        goto out;
    }
    nt = json_array_size(wts);
    if (nt && !(tv = calloc(nt, sizeof *tv)))
        goto out;
    json_array_foreach(wts, i, it)
        tv[i] = it;
    if (skiff_workflow_load_with(copy, NULL, 0, tv, nt, NULL, 0, &wf, &err)) {
        fail_load(r, &err);
        goto out;
    }
    sa = json_string_value(json_object_get(json_object_get(copy, "spec"), "serviceAccountName"));
    snprintf(r->sub, sizeof r->sub, "system:serviceaccount:%s", sa && *sa ? sa : "default");
    snprintf(r->uid, sizeof r->uid, "%s", skiff_workflow_uid(wf));
    snprintf(dir, sizeof dir, "%s/workflows/%s", c->home, r->name);
    ro.run_dir = dir;
    ro.skiff_url = c->url;
    ro.tracking_uri = c->url;
    ro.on_change = on_change;
    ro.ctx = r;
    ro.stop = &r->stop;
    ro.store = c->store;
    ro.step_token = step_token;
    ro.artifact_root = c->artifacts;
    /* nodes in the stored status: the run was interrupted (kill -9, a
     * restart) or is retried; the steps that ended keep their result */
    if (json_object_size(json_object_get(json_object_get(r->obj, "status"), "nodes")))
        ro.resume = json_object_get(r->obj, "status");
    skiff_info("workflow '%s': %s", r->name, ro.resume ? "resuming" : "running");
    if ((rc = pthread_create(&fl, NULL, flusher, r)) != 0) {
        skiff_warn("workflow '%s': cannot start its status writer: %s", r->name,
                   strerror(rc));
        goto out;
    }
    rc = skiff_workflow_run(wf, &ro, &status, &err);
    pthread_mutex_lock(&r->pmu);
    r->run_done = true;
    pthread_cond_signal(&r->pcv);
    pthread_mutex_unlock(&r->pmu);
    pthread_join(fl, NULL);
    if (rc) {
        fail_load(r, &err);
        goto out;
    }
    write_status(c, r->name, status);
    if (!c->shutdown && final_phase(json_string_value(json_object_get(status, "phase"))))
        record_step_metrics(status, ro.resume);
    if (!c->shutdown)
        skiff_info("workflow '%s': %s", r->name,
                   json_string_value(json_object_get(status, "phase")));
out:
    json_decref(status);
    skiff_workflow_free(wf);
    free(tv);
    json_decref(wts);
    json_decref(copy);
}

static void *run_main(void *arg)
{
    struct run *r = arg;
    run_one(r);
    pthread_mutex_lock(&r->c->mu);
    r->done = true;
    pthread_mutex_unlock(&r->c->mu);
    return NULL;
}

static void free_run(struct run *r)
{
    json_decref(r->pending);
    json_decref(r->obj);
    pthread_mutex_destroy(&r->pmu);
    pthread_cond_destroy(&r->pcv);
    free(r);
}

/* Joins and frees the runs whose thread has ended (all of them when
 * `all`, after close stopped them). */
static void join_runs(struct skiff_workflow_controller *c, bool all)
{
    struct run *ended = NULL, **pp;

    pthread_mutex_lock(&c->mu);
    for (pp = &c->runs; *pp;) {
        struct run *r = *pp;
        if (r->done || all) {
            *pp = r->next;
            r->next = ended;
            ended = r;
            c->nruns--;
        } else {
            pp = &r->next;
        }
    }
    pthread_mutex_unlock(&c->mu);
    while (ended) {
        struct run *r = ended;
        ended = r->next;
        pthread_join(r->thread, NULL);
        free_run(r);
    }
}

/* Starts a run for `name` unless it runs already, has ended meanwhile (a
 * stop), or MAX_RUNS are running. It is read again under mu, so that
 * stop and retry, which decide under mu, never race with the start. */
static void maybe_start(struct skiff_workflow_controller *c, const char *name)
{
    struct run *r = NULL;
    json_t *obj = NULL;
    int rc;

    pthread_mutex_lock(&c->mu);
    if (c->quit || c->nruns >= MAX_RUNS || find_run(c, name) ||
        skiff_resource_get(c->store, c->k_wf, name, &obj, NULL) != 0 ||
        final_phase(phase_of(obj)) || !(r = calloc(1, sizeof *r)))
        goto out;
    r->c = c;
    r->obj = obj;
    obj = NULL;
    snprintf(r->name, sizeof r->name, "%s", name);
    pthread_mutex_init(&r->pmu, NULL);
    pthread_cond_init(&r->pcv, NULL);
    if ((rc = pthread_create(&r->thread, NULL, run_main, r)) != 0) {
        skiff_warn("workflow '%s': cannot start a thread for it: %s", name, strerror(rc));
        free_run(r);
        goto out;
    }
    r->next = c->runs;
    c->runs = r;
    c->nruns++;
out:
    pthread_mutex_unlock(&c->mu);
    json_decref(obj);
}

/* One poll: joins ended runs, then starts one for every Workflow without
 * a final phase that is not running yet. */
static void poll_workflows(struct skiff_workflow_controller *c)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *all = NULL, *it;
    size_t i;

    join_runs(c, false);
    if (skiff_resource_list(c->store, c->k_wf, &all, &err)) {
        skiff_warn("workflow controller: cannot list workflows: %s", err.msg);
        return;
    }
    json_array_foreach(all, i, it) {
        const char *name = json_string_value(json_object_get(json_object_get(it, "metadata"),
                                                             "name"));
        if (name && !final_phase(phase_of(it)))
            maybe_start(c, name);
    }
    json_decref(all);
}

/* ---- CronWorkflows ---- */

/* Whether any schedule of `cw` has a time in (last, now]. */
static bool any_time_in(const struct skiff_workflow_cron *cw, int64_t last, int64_t now)
{
    size_t i;
    json_t *sch;
    json_array_foreach(cw->schedules, i, sch) {
        int64_t next;
        if (skiff_workflow_cron_next(json_string_value(sch), cw->timezone, last, &next, NULL) ==
                0 && next <= now)
            return true;
    }
    return false;
}

static void set_last(struct skiff_workflow_controller *c, const char *name, int64_t t)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char ts[64];
    json_t *st;

    rfc3339(t, ts, sizeof ts);
    if (!(st = json_pack("{s:s}", "lastScheduledTime", ts)))
        return;
    if (!c->shutdown && skiff_resource_set_status(c->store, c->k_cron, name, st, &err))
        skiff_warn("cronworkflow '%s': cannot write its status: %s", name, err.msg);
    json_decref(st);
}

/* The names of the cron's children that have not ended (a new array). */
static json_t *active_children(struct skiff_workflow_controller *c, const char *cron)
{
    json_t *all = NULL, *act = json_array(), *it;
    size_t i;

    if (!act || skiff_resource_list(c->store, c->k_wf, &all, NULL)) {
        json_decref(all);
        return act;
    }
    json_array_foreach(all, i, it) {
        const json_t *md = json_object_get(it, "metadata");
        const char *owner = json_string_value(
            json_object_get(json_object_get(md, "labels"), "workflows.argoproj.io/cron-workflow"));
        if (owner && strcmp(owner, cron) == 0 && !final_phase(phase_of(it)))
            json_array_append(act, json_object_get(md, "name"));
    }
    json_decref(all);
    return act;
}

static void fire(struct skiff_workflow_controller *c, const struct skiff_workflow_cron *cw,
                 int64_t when)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *act = active_children(c, cw->name), *child = NULL, *nm;
    size_t i;

    if (json_array_size(act) && cw->concurrency == SKIFF_WORKFLOW_FORBID) {
        skiff_info("cronworkflow '%s': skipped a run: an earlier one is active (Forbid)",
                   cw->name);
        goto out;
    }
    if (cw->concurrency == SKIFF_WORKFLOW_REPLACE)
        json_array_foreach(act, i, nm)
            skiff_workflow_controller_stop_workflow(c, json_string_value(nm), NULL);
    if (!(child = skiff_workflow_cron_child(cw, when)))
        goto out;
    if (skiff_resource_create(c->store, c->k_wf, child, NULL, &err) && err.code != SKIFF_EEXIST)
        skiff_warn("cronworkflow '%s': cannot create its workflow: %s", cw->name, err.msg);
    else
        skiff_info("cronworkflow '%s': created workflow '%s'", cw->name,
                   json_string_value(json_object_get(json_object_get(child, "metadata"),
                                                     "name")));
out:
    json_decref(child);
    json_decref(act);
}

static void poll_crons(struct skiff_workflow_controller *c)
{
    json_t *all = NULL, *it;
    size_t i;
    int64_t now = (int64_t)time(NULL) + c->cron_offset_s;

    if (skiff_resource_list(c->store, c->k_cron, &all, NULL))
        return;
    json_array_foreach(all, i, it) {
        struct skiff_workflow_cron *cw = NULL;
        json_t *copy = json_deep_copy(it);
        const char *lts = json_string_value(
            json_object_get(json_object_get(it, "status"), "lastScheduledTime"));
        int64_t last_us = 0, when = 0;

        if (copy)
            json_object_del(copy, "status");
        if (!copy || skiff_workflow_cron_load(copy, NULL, 0, &cw, NULL)) {
            json_decref(copy);
            continue;
        }
        json_decref(copy);
        /* first seen: times from now on count, none from before */
        if (!lts || skiff_time_parse(lts, &last_us, NULL) != 0)
            set_last(c, cw->name, now);
        else if (!cw->suspend &&
                 skiff_workflow_cron_due(cw, last_us / SKIFF_US_PER_SEC, now, &when, NULL) == 0) {
            if (when)
                fire(c, cw, when);
            if (when || any_time_in(cw, last_us / SKIFF_US_PER_SEC, now))
                set_last(c, cw->name, when ? when : now);
        }
        skiff_workflow_cron_free(cw);
    }
    json_decref(all);
}

/* ---- threads ---- */

/* Waits POLL_MS or until close; false when closing. */
static bool nap(struct skiff_workflow_controller *c)
{
    struct timespec ts;
    bool go;
    pthread_mutex_lock(&c->mu);
    if (!c->quit) {
        deadline_in(&ts, POLL_MS);
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    go = !c->quit;
    pthread_mutex_unlock(&c->mu);
    return go;
}

static void *runner_main(void *arg)
{
    struct skiff_workflow_controller *c = arg;
    while (nap(c))
        poll_workflows(c);
    return NULL;
}

static void *cron_main(void *arg)
{
    struct skiff_workflow_controller *c = arg;
    while (nap(c))
        poll_crons(c);
    return NULL;
}

int skiff_workflow_controller_open(const struct skiff_workflow_controller_opts *o,
                                   struct skiff_workflow_controller **out,
                                   struct skiff_err *err)
{
    struct skiff_workflow_controller *c;
    const char *off = getenv("SKIFF_CRON_TEST_NOW_OFFSET");

    *out = NULL;
    if (o->pools && *o->pools && skiff_workflow_set_pools(o->pools, err))
        return err->code;
    if (!(c = calloc(1, sizeof *c)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->store = o->store;
    c->auth = o->auth;
    c->token_ttl_s = o->token_ttl_s > 0 ? o->token_ttl_s : 3600;
    c->cron_offset_s = off ? strtoll(off, NULL, 10) : 0;
    c->k_wf = skiff_kind_lookup("Workflow");
    c->k_wt = skiff_kind_lookup("WorkflowTemplate");
    c->k_cron = skiff_kind_lookup("CronWorkflow");
    c->url = strdup("");
    c->home = strdup(o->home ? o->home : ".");
    if (o->artifacts)
        c->artifacts = strdup(o->artifacts);
    else if (c->home && (c->artifacts = malloc(strlen(c->home) + 16)))
        sprintf(c->artifacts, "%s/artifacts", c->home);
    if (!c->url || !c->home || !c->artifacts || !c->k_wf || !c->k_wt || !c->k_cron) {
        skiff_workflow_controller_close(c);
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    *out = c;
    return 0;
}

int skiff_workflow_controller_start(struct skiff_workflow_controller *c, const char *url,
                                    struct skiff_err *err)
{
    char *u = strdup(url ? url : "");
    int rc;

    if (!u)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    free(c->url);
    c->url = u;
    if ((rc = pthread_create(&c->runner, NULL, runner_main, c)) != 0) {
        errno = rc;
        return skiff_err_sys(err, SKIFF_EIO, "cannot start the workflow controller");
    }
    c->runner_started = true;
    if ((rc = pthread_create(&c->cron, NULL, cron_main, c)) != 0) {
        errno = rc;
        return skiff_err_sys(err, SKIFF_EIO, "cannot start the cron controller");
    }
    c->cron_started = true;
    return 0;
}

void skiff_workflow_controller_close(struct skiff_workflow_controller *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->quit = true;
    c->shutdown = 1;
    for (struct run *r = c->runs; r; r = r->next)
        r->stop = 1;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->runner_started)
        pthread_join(c->runner, NULL);
    if (c->cron_started)
        pthread_join(c->cron, NULL);
    join_runs(c, true);   /* nothing starts a run any more */
    free(c->url);
    free(c->home);
    free(c->artifacts);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

/* ---- stop, retry ---- */

int skiff_workflow_controller_stop_workflow(struct skiff_workflow_controller *c,
                                            const char *name, struct skiff_err *err)
{
    json_t *obj = NULL, *st = NULL;
    struct run *r;
    char ts[64];
    int rc;

    pthread_mutex_lock(&c->mu);
    if ((rc = skiff_resource_get(c->store, c->k_wf, name, &obj, err)))
        goto out;
    if (final_phase(phase_of(obj))) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "workflow '%s' has already ended (%s)", name,
                           phase_of(obj));
        goto out;
    }
    if ((r = find_run(c, name))) {
        r->stop = 1;   /* the engine ends it Failed, "Stopped: interrupted" */
        goto out;
    }
    rfc3339(time(NULL), ts, sizeof ts);
    st = json_deep_copy(json_object_get(obj, "status"));
    if (!json_is_object(st)) {
        json_decref(st);
        st = json_object();
    }
    if (!st || json_object_set_new(st, "phase", json_string("Failed")) ||
        json_object_set_new(st, "message", json_string("Stopped")) ||
        json_object_set_new(st, "finishedAt", json_string(ts))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    if (!json_object_get(st, "startedAt"))
        json_object_set_new(st, "startedAt", json_string(ts));
    rc = skiff_resource_set_status(c->store, c->k_wf, name, st, err);
out:
    pthread_mutex_unlock(&c->mu);
    json_decref(st);
    json_decref(obj);
    return rc;
}

int skiff_workflow_controller_retry(struct skiff_workflow_controller *c, const char *name,
                                    struct skiff_err *err)
{
    json_t *obj = NULL, *st = NULL, *nodes = NULL, *nd;
    const char *ph, *id, *started;
    int rc;

    pthread_mutex_lock(&c->mu);
    if ((rc = skiff_resource_get(c->store, c->k_wf, name, &obj, err)))
        goto out;
    ph = phase_of(obj);
    if (!ph || (strcmp(ph, "Failed") != 0 && strcmp(ph, "Error") != 0) || find_run(c, name)) {
        rc = skiff_err_set(err, SKIFF_EINVAL,
                           "workflow '%s' cannot be retried: it is %s (only Failed or Error)",
                           name, ph ? ph : "not started");
        goto out;
    }
    if (!(nodes = json_object()) ||
        !(st = json_pack("{s:s, s:s}", "phase", "Running", "message", "retrying"))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    /* what the engine resumes from: the steps that succeeded (restore) */
    json_object_foreach(json_object_get(json_object_get(obj, "status"), "nodes"), id, nd) {
        const char *t = json_string_value(json_object_get(nd, "type"));
        const char *p = json_string_value(json_object_get(nd, "phase"));
        if (t && p && strcmp(t, "Pod") == 0 && strcmp(p, "Succeeded") == 0)
            json_object_set(nodes, id, nd);
    }
    started = json_string_value(json_object_get(json_object_get(obj, "status"), "startedAt"));
    if (started)
        json_object_set_new(st, "startedAt", json_string(started));
    json_object_set(st, "nodes", nodes);
    rc = skiff_resource_set_status(c->store, c->k_wf, name, st, err);
out:
    pthread_mutex_unlock(&c->mu);
    json_decref(nodes);
    json_decref(st);
    json_decref(obj);
    return rc;
}

/* ---- routes ---- */

/* Appends the last LOG_CAP bytes of `path` (absent: nothing), each line
 * prefixed with `prefix` when it is set. */
static int append_log(struct skiff_buf *b, const char *path, const char *prefix)
{
    FILE *f = fopen(path, "rb");
    char line[8192];
    long size;
    bool bol = true;
    int rc = 0;

    if (!f)
        return 0;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > LOG_CAP)
        fseek(f, size - LOG_CAP, SEEK_SET);
    else
        fseek(f, 0, SEEK_SET);
    while (rc == 0 && fgets(line, sizeof line, f)) {
        if (bol && prefix)
            rc = skiff_buf_puts(b, prefix);
        if (rc == 0)
            rc = skiff_buf_puts(b, line);
        bol = strchr(line, '\n') != NULL;
    }
    if (rc == 0 && !bol)
        rc = skiff_buf_putc(b, '\n');
    fclose(f);
    return rc;
}

static int h_log(struct skiff_http_req *req, struct skiff_http_resp *resp,
                 struct skiff_err *err)
{
    struct skiff_workflow_controller *c = req->ctx;
    const char *name = skiff_http_param(req, "name"), *step = skiff_http_query(req, "step");
    const char *id;
    struct skiff_buf b = SKIFF_BUF_INIT;
    json_t *obj = NULL, *nd;
    char path[8192], prefix[300];
    bool found = false;
    int rc;

    if (strchr(name, '/') || strcmp(name, "..") == 0 || strcmp(name, ".") == 0)
        return skiff_err_set(err, SKIFF_EINVAL, "bad workflow name '%s'", name);
    if ((rc = skiff_resource_get(c->store, c->k_wf, name, &obj, err)))
        return rc;
    json_object_foreach(json_object_get(json_object_get(obj, "status"), "nodes"), id, nd) {
        const char *t = json_string_value(json_object_get(nd, "type"));
        const char *disp = json_string_value(json_object_get(nd, "displayName"));
        if (!t || strcmp(t, "Pod") != 0 || !disp || strchr(id, '/') || id[0] == '.')
            continue;
        if (step && strcmp(step, disp) != 0)
            continue;
        found = true;
        snprintf(prefix, sizeof prefix, "%s: ", disp);
        snprintf(path, sizeof path, "%s/workflows/%s/%s/stdout.log", c->home, name, id);
        rc = append_log(&b, path, step ? NULL : prefix);
        snprintf(path, sizeof path, "%s/workflows/%s/%s/stderr.log", c->home, name, id);
        if (rc == 0)
            rc = append_log(&b, path, step ? NULL : prefix);
        if (rc)
            break;
    }
    json_decref(obj);
    if (rc)
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    else if (step && !found)
        rc = skiff_err_set(err, SKIFF_ENOTFOUND, "workflow '%s' has no step '%s' (yet)", name,
                           step);
    else
        rc = skiff_http_reply(resp, 200, "text/plain; charset=utf-8", b.len ? b.ptr : "",
                              b.len);
    skiff_buf_release(&b);
    return rc;
}

/* GET /api/v1/workflows/{name}/artifacts/{node}/{artifact}: the stored
 * output artifact of a node (its ID or display name), as kept in the
 * repository (tar+gzip, or the file itself with archive none), streamed
 * from the file. */
static int h_artifact(struct skiff_http_req *req, struct skiff_http_resp *resp,
                      struct skiff_err *err)
{
    struct skiff_workflow_controller *c = req->ctx;
    const char *name = skiff_http_param(req, "name"), *want = skiff_http_param(req, "node");
    const char *art = skiff_http_param(req, "artifact"), *id, *key = NULL;
    struct skiff_blob *blob = NULL;
    json_t *obj = NULL, *nd;
    char path[4200], disp[600];
    struct stat st;
    int rc, fd;

    if ((rc = skiff_resource_get(c->store, c->k_wf, name, &obj, err)))
        return rc;
    json_object_foreach(json_object_get(json_object_get(obj, "status"), "nodes"), id, nd) {
        const char *d = json_string_value(json_object_get(nd, "displayName"));
        const json_t *arts = json_object_get(json_object_get(nd, "outputs"), "artifacts"), *a;
        size_t k;
        if (strcmp(id, want) != 0 && (!d || strcmp(d, want) != 0))
            continue;
        json_array_foreach(arts, k, a) {
            const char *an = json_string_value(json_object_get(a, "name"));
            if (an && strcmp(an, art) == 0 && json_is_string(json_object_get(a, "key")))
                key = json_string_value(json_object_get(a, "key"));
        }
        if (key)
            break;
    }
    if (!key) {
        rc = skiff_err_set(err, SKIFF_ENOTFOUND, "workflow '%s' has no output artifact '%s' of "
                           "node '%s'", name, art, want);
        goto out;
    }
    /* the key came from the status, which a client may have written: only
     * workflow artifacts are served (not, say, the tracking server's), and
     * the blob store refuses paths that leave the repository */
    if (strncmp(key, "workflows/", 10) != 0) {
        rc = skiff_err_set(err, SKIFF_ENOTFOUND, "'%s' is not a workflow artifact", key);
        goto out;
    }
    if ((rc = skiff_blob_open(c->artifacts, &blob, err)) ||
        (rc = skiff_blob_resolve(blob, key, path, sizeof path, err)))
        goto out;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        rc = skiff_err_sys(err, errno == ENOENT ? SKIFF_ENOTFOUND : SKIFF_EIO,
                           "cannot read artifact '%s'", key);
        goto out;
    }
    snprintf(disp, sizeof disp, "attachment; filename=\"%.400s\"", strrchr(key, '/') + 1);
    skiff_http_add_header(resp, "Content-Disposition", disp);
    {
        size_t kl = strlen(key);
        rc = skiff_http_reply_fd(resp, 200,
                                 kl > 4 && strcmp(key + kl - 4, ".tgz") == 0
                                     ? "application/gzip"
                                     : "application/octet-stream",
                                 fd, (uint64_t)st.st_size);
    }
out:
    skiff_blob_close(blob);
    json_decref(obj);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* GET /api/v1/workflows/{name}/artifacts: every output artifact its
 * nodes recorded, {"items": [{node, id, name, key, size}]} in node-ID
 * order, size the stored bytes (-1 when the file is gone). */
static int h_artifacts(struct skiff_http_req *req, struct skiff_http_resp *resp,
                       struct skiff_err *err)
{
    struct skiff_workflow_controller *c = req->ctx;
    const char *name = skiff_http_param(req, "name");
    struct skiff_blob *blob = NULL;
    json_t *obj = NULL, *items = json_array(), *nodes;
    const char **ids = NULL;
    char *text = NULL;
    size_t n = 0;
    int rc;

    if (!items)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if ((rc = skiff_resource_get(c->store, c->k_wf, name, &obj, err)) ||
        (rc = skiff_blob_open(c->artifacts, &blob, err)))
        goto out;
    nodes = json_object_get(json_object_get(obj, "status"), "nodes");
    /* a stable order for people and tests: by node ID */
    if (!(ids = calloc(json_object_size(nodes) + 1, sizeof *ids))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    {
        const char *id;
        json_t *nd;
        json_object_foreach(nodes, id, nd)
            ids[n++] = id;
    }
    qsort(ids, n, sizeof *ids, cmp_str);
    for (size_t i = 0; i < n; i++) {
        json_t *nd = json_object_get(nodes, ids[i]);
        const json_t *a;
        size_t k;
        json_array_foreach(json_object_get(json_object_get(nd, "outputs"), "artifacts"), k, a) {
            const char *an = json_string_value(json_object_get(a, "name"));
            const char *key = json_string_value(json_object_get(a, "key"));
            const char *d = json_string_value(json_object_get(nd, "displayName"));
            char path[4200];
            struct stat st;
            struct skiff_err e2 = SKIFF_ERR_INIT;
            json_int_t size = -1;
            if (!an || !key || strncmp(key, "workflows/", 10) != 0)
                continue;
            if (skiff_blob_resolve(blob, key, path, sizeof path, &e2) == 0 &&
                stat(path, &st) == 0)
                size = (json_int_t)st.st_size;
            json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s, s:I}", "node",
                                                   d ? d : ids[i], "id", ids[i], "name", an,
                                                   "key", key, "size", size));
        }
    }
    {
        json_t *reply = json_pack("{s:O}", "items", items);
        text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
        json_decref(reply);
    }
    rc = text ? skiff_http_reply_json(resp, 200, text)
              : skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
out:
    free(text);
    free(ids);
    skiff_blob_close(blob);
    json_decref(items);
    json_decref(obj);
    return rc;
}

static int h_stop(struct skiff_http_req *req, struct skiff_http_resp *resp,
                  struct skiff_err *err)
{
    int rc = skiff_workflow_controller_stop_workflow(req->ctx, skiff_http_param(req, "name"),
                                                     err);
    return rc ? rc : skiff_http_reply_json(resp, 200, "{\"status\":\"stopping\"}");
}

static int h_retry(struct skiff_http_req *req, struct skiff_http_resp *resp,
                   struct skiff_err *err)
{
    int rc = skiff_workflow_controller_retry(req->ctx, skiff_http_param(req, "name"), err);
    return rc ? rc : skiff_http_reply_json(resp, 200, "{\"status\":\"retrying\"}");
}

static const struct skiff_route workflow_routes[] = {
    {"GET", "/api/v1/workflows/{name}/log", "resources:read", h_log, 0},
    {"GET", "/api/v1/workflows/{name}/artifacts", "resources:read", h_artifacts, 0},
    {"GET", "/api/v1/workflows/{name}/artifacts/{node}/{artifact}", "resources:read",
     h_artifact, 0},
    {"POST", "/api/v1/workflows/{name}/stop", "resources:write", h_stop, 0},
    {"POST", "/api/v1/workflows/{name}/retry", "resources:write", h_retry, 0},
};

const struct skiff_route *skiff_workflow_routes(size_t *n)
{
    *n = sizeof workflow_routes / sizeof *workflow_routes;
    return workflow_routes;
}
