/* The serving controller: the server's lifecycle, the thread that
 * reconciles stored InferenceServices (skiff up) and the periodic work of
 * every service: draining revisions that left the traffic table, unloading
 * idle models when minReplicas is 0, the automatic canary analysis, status.
 *
 * Thread-safety: reconcile, housekeeping and status run under ctl_mu (the
 * thread and skiff_serving_apply); routing state changes take the registry
 * write lock on top, for the few instructions of each change.
 */
#include "serving_int.h"

#include "skiff/err.h"
#include "skiff/log.h"
#include "skiff/metrics.h"
#include "skiff/resource.h"
#include "skiff/time.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_QUEUE_CAP 8192   /* payload records waiting for the writer */
#define MIN_CANARY_REQUESTS 20

int skiff_serving_open(const struct skiff_serving_opts *o, struct skiff_serving **out,
                       struct skiff_err *err)
{
    struct skiff_serving *s;
    char dir[4200];
    int rc;

    *out = NULL;
    if (!(s = calloc(1, sizeof *s)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    s->store = o->store;
    s->online = o->online;
    s->tracking = o->tracking;
    snprintf(s->home, sizeof s->home, "%s", o->home ? o->home : ".skiff");
    snprintf(s->model_dir, sizeof s->model_dir, "%s", o->model_dir ? o->model_dir : "");
    s->poll_ms = o->poll_ms ? o->poll_ms : 200;
    pthread_rwlock_init(&s->lock, NULL);
    pthread_mutex_init(&s->ctl_mu, NULL);
    (void)serving__metrics();
    snprintf(dir, sizeof dir, "%s/payloads", s->home);
    if ((rc = serving__logger_new(dir, LOG_QUEUE_CAP, &s->logger, err))) {
        skiff_serving_close(s);
        return rc;
    }
    *out = s;
    return 0;
}

int skiff_serving_apply(struct skiff_serving *s, const void *isvc_json, struct skiff_err *err)
{
    int rc;

    pthread_mutex_lock(&s->ctl_mu);
    rc = serving__reconcile(s, isvc_json, err);
    pthread_mutex_unlock(&s->ctl_mu);
    return rc;
}

/* ---- periodic work ---- */

static void reset_analysis(struct serving__rev *r)
{
    if (!r)
        return;
    atomic_store(&r->a_requests, 0);
    atomic_store(&r->a_errors, 0);
    atomic_store(&r->a_slow, 0);
    atomic_store(&r->a_score_sum, 0.0);
}

/* Judges the canary against the stable revision once the window is over
 * (and the canary had enough requests to judge). p99 over the limit is
 * read as "more than 1 % of the canary's requests were slower than it". */
static void analyse(struct skiff_serving *s, struct serving__svc *svc)
{
    struct serving__rev *stable, *canary;
    int64_t now = skiff_time_mono_us();
    long n, ns, errs, slow;
    double rate, shift = 0;
    char why[400] = "";

    if (!svc->analysis.enabled || svc->ntraffic != 2 || svc->traffic[1].percent == 0) {
        svc->analysis_start_us = 0;
        return;
    }
    stable = svc->traffic[0].rev;
    canary = svc->traffic[1].rev;
    if (!svc->analysis_start_us) {
        svc->analysis_start_us = now;
        reset_analysis(stable);
        reset_analysis(canary);
        return;
    }
    n = atomic_load(&canary->a_requests);
    if (now - svc->analysis_start_us < svc->analysis.window_us || n < MIN_CANARY_REQUESTS)
        return;
    ns = atomic_load(&stable->a_requests);
    errs = atomic_load(&canary->a_errors);
    slow = atomic_load(&canary->a_slow);
    rate = (double)errs / (double)n;
    if (ns > 0)
        shift = fabs(atomic_load(&canary->a_score_sum) / (double)n -
                     atomic_load(&stable->a_score_sum) / (double)ns);
    if (svc->analysis.max_error_rate >= 0 && rate > svc->analysis.max_error_rate)
        snprintf(why, sizeof why, "error rate %.4f > maxErrorRate %g over %ld requests", rate,
                 svc->analysis.max_error_rate, n);
    else if (svc->analysis.max_p99_ms >= 0 && (double)slow > 0.01 * (double)n)
        snprintf(why, sizeof why, "p99 latency over maxP99Ms %g (%ld of %ld requests slower)",
                 svc->analysis.max_p99_ms, slow, n);
    else if (svc->analysis.max_score_shift >= 0 && ns > 0 && shift > svc->analysis.max_score_shift)
        snprintf(why, sizeof why, "mean score shifted by %.4f > maxScoreShift %g (canary %ld, "
                 "stable %ld requests)", shift, svc->analysis.max_score_shift, n, ns);
    if (!why[0]) {
        /* a passed window: judge the next one afresh */
        svc->analysis_start_us = now;
        reset_analysis(stable);
        reset_analysis(canary);
        return;
    }
    snprintf(svc->analysis_event, sizeof svc->analysis_event, "canary %s rolled back: %s",
             canary->name, why);
    snprintf(svc->rolled_back_key, sizeof svc->rolled_back_key, "%s", canary->key);
    skiff_warn("InferenceService '%s': %s", svc->name, svc->analysis_event);
    skiff_metric_inc(serving__metrics()->rollbacks, (const char *[]){svc->name}, 1);
    pthread_rwlock_wrlock(&s->lock);
    svc->traffic[1].percent = 0;
    svc->traffic[0].percent = 100;
    pthread_rwlock_unlock(&s->lock);
    svc->analysis_start_us = 0;
}

void serving__housekeep(struct skiff_serving *s)
{
    int64_t now = skiff_time_mono_us();

    for (struct serving__svc *svc = s->svcs; svc; svc = svc->next) {
        /* sampled each tick rather than counted per request: no lock on the hot path */
        skiff_metric_set(serving__metrics()->in_flight, (const char *[]){svc->name},
                         atomic_load(&svc->active));
        analyse(s, svc);
        for (struct serving__rev *r = svc->revs; r; r = r->next) {
            bool routed = false, idle;
            if (r->state != REV_READY)
                continue;
            for (int i = 0; i < svc->ntraffic; i++)
                routed |= svc->traffic[i].rev == r && svc->traffic[i].percent > 0;
            idle = svc->min_replicas == 0 &&
                   now - atomic_load(&svc->last_request_us) > svc->idle_grace_us;
            /* drained (out of the table, no request inside) or idle: unload */
            if ((!routed || idle) && atomic_load(&r->model) && serving__rev_try_unload(r)) {
                skiff_info("InferenceService '%s': %s unloaded (%s)", svc->name, r->name,
                           routed ? "idle, scaled to zero" : "no traffic, drained");
                pthread_rwlock_wrlock(&s->lock);
                if (!atomic_load(&r->model))
                    r->state = REV_COLD;   /* loads again on demand: a cold start */
                pthread_rwlock_unlock(&s->lock);
            }
        }
    }
}

static bool listed(const json_t *objs, const char *name)
{
    size_t i;
    const json_t *o;

    json_array_foreach(objs, i, o) {
        const char *n = json_string_value(json_object_get(json_object_get(o, "metadata"), "name"));
        if (n && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

void serving__prune(struct skiff_serving *s, const json_t *objs)
{
    struct serving__svc **pp = &s->svcs;

    pthread_rwlock_wrlock(&s->lock);
    while (*pp) {
        struct serving__svc *v = *pp;
        if (listed(objs, v->name)) {
            pp = &v->next;
            continue;
        }
        *pp = v->next;
        v->removed = true;
        v->next = s->retired;
        s->retired = v;
        skiff_info("InferenceService '%s' deleted: its models unload once drained", v->name);
    }
    pthread_rwlock_unlock(&s->lock);
}

static void svc_free(struct serving__svc *v)
{
    struct serving__rev *r = v->revs, *n;
    for (; r; r = n) {
        n = r->next;
        serving__rev_free(r);
    }
    json_decref(v->last_status);
    serving__enrich_free(v->enrich);
    for (struct serving__sink *k = v->sinks, *o; k; k = o) {
        o = k->older;
        free(k);
    }
    pthread_mutex_destroy(&v->cap_mu);
    pthread_cond_destroy(&v->cap_cv);
    free(v);
}

static bool svc_idle(struct serving__svc *v)
{
    if (atomic_load(&v->refs))
        return false;
    for (struct serving__rev *r = v->revs; r; r = r->next)
        if (atomic_load(&r->refs))
            return false;
    return true;
}

void serving__reap(struct skiff_serving *s, bool all)
{
    struct serving__svc **pp = &s->retired;

    while (*pp) {
        struct serving__svc *v = *pp;
        if (!all && !svc_idle(v)) {
            pp = &v->next;
            continue;
        }
        *pp = v->next;
        svc_free(v);
    }
}

/* ---- the thread ---- */

static void write_status(struct skiff_serving *s, const struct skiff_kind *k,
                         struct serving__svc *svc)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    json_t *st = serving__status(s, svc);

    if (!st || (svc->last_status && json_equal(st, svc->last_status))) {
        json_decref(st);
        return;
    }
    if (skiff_resource_set_status(s->store, k, svc->name, st, &e) != 0) {
        if (e.code != SKIFF_ENOTFOUND)
            skiff_warn("InferenceService '%s': cannot write status: %s", svc->name, e.msg);
        json_decref(st);
        return;
    }
    json_decref(svc->last_status);
    svc->last_status = st;
}

static void tick(struct skiff_serving *s)
{
    const struct skiff_kind *k = skiff_kind_lookup("InferenceService");
    struct skiff_err e = SKIFF_ERR_INIT;
    json_t *objs = NULL;
    size_t i;
    json_t *o;

    pthread_mutex_lock(&s->ctl_mu);
    if (s->store && k && skiff_resource_list(s->store, k, &objs, &e) == 0) {
        json_array_foreach(objs, i, o) {
            struct skiff_err re = SKIFF_ERR_INIT;
            /* a failed revision is reported in its status, not here */
            (void)serving__reconcile(s, o, &re);
        }
        serving__prune(s, objs);
    } else if (s->store && k) {
        skiff_warn("serving controller: cannot list InferenceServices: %s", e.msg);
    }
    serving__housekeep(s);
    if (s->store && k)
        for (struct serving__svc *svc = s->svcs; svc; svc = svc->next)
            write_status(s, k, svc);
    pthread_mutex_unlock(&s->ctl_mu);
    json_decref(objs);
    serving__reap(s, false);
}

static void *run(void *arg)
{
    struct skiff_serving *s = arg;

    while (!atomic_load(&s->stop)) {
        struct timespec ts = {s->poll_ms / 1000, (long)(s->poll_ms % 1000) * 1000000L};
        tick(s);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int skiff_serving_start(struct skiff_serving *s, const char *base_url, struct skiff_err *err)
{
    snprintf(s->base_url, sizeof s->base_url, "%s", base_url ? base_url : "");
    serving__logger_set_source(s->logger, s->base_url);
    if (pthread_create(&s->thread, NULL, run, s) != 0)
        return skiff_err_set(err, SKIFF_ENOMEM, "cannot start the serving controller thread");
    s->started = true;
    return 0;
}

void skiff_serving_close(struct skiff_serving *s)
{
    struct serving__svc *v, *n;

    if (!s)
        return;
    atomic_store(&s->stop, true);
    if (s->started)
        pthread_join(s->thread, NULL);
    /* the writer drops its revision refs as it writes: before the frees */
    serving__logger_free(s->logger);
    for (v = s->svcs; v; v = n) {
        n = v->next;
        svc_free(v);
    }
    serving__reap(s, true);
    pthread_rwlock_destroy(&s->lock);
    pthread_mutex_destroy(&s->ctl_mu);
    free(s);
}
