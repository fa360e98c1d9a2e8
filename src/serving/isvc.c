/* From an InferenceService object to a service: revisions, configuration
 * (capacity, scale to zero, payload log, canary analysis) and the traffic
 * table, as KServe's Knative reconciler computes it (specs/kserve.md 4).
 *
 * Revisions: the predictor spec without the fields that only tune it
 * (canaryTrafficPercent, replicas, scale target, logger, timeout) is the
 * revision's key; a new key makes revision N+1, which is loaded and answers
 * its warm-up prediction before anything routes to it. A revision that
 * fails leaves latestReadyRevision, and so the traffic, where they were.
 *
 * Traffic, with L = latestReadyRevision, R = latestRolledoutRevision,
 * PR = previousRolledoutRevision and P = canaryTrafficPercent:
 *   R empty (first ready revision)     -> R = L, L takes 100 %
 *   P unset or 100, L != R (promotion) -> PR = R, R = L, L takes 100 %
 *   P set, L == R and PR non-empty     -> R = PR (the rollback rule: a split
 *                                         against the revision before)
 *   P set, R != L                      -> L takes P %, R takes 100 - P %
 * So canaryTrafficPercent: 0 on a canary sends everything back to R, and
 * removing it promotes. A canary the automatic analysis rolled back counts
 * as P = 0 until the predictor changes again or P is removed.
 */
#include "serving_int.h"

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/log.h"
#include "skiff/resource.h"
#include "skiff/time.h"
#include "skiff/tracking.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANN_RUNTIME "serving.skiff.dev/runtime"
#define ANN_GRACE "serving.skiff.dev/scale-to-zero-grace"
#define ANN_QUEUE "serving.skiff.dev/queue"
#define ANN_QUEUE_TIMEOUT "serving.skiff.dev/queue-timeout"
#define ANN_ANALYSIS "serving.skiff.dev/canary-analysis"

#define DEFAULT_GRACE_US (5 * 60 * SKIFF_US_PER_SEC)
#define DEFAULT_QUEUE_WAIT_US (100 * 1000)

/* Fields of a component that tune a revision rather than make a new one. */
static const char *const tuning_fields[] = {
    "canaryTrafficPercent", "minReplicas", "maxReplicas", "scaleTarget", "scaleMetric",
    "scaleMetricType", "containerConcurrency", "logger", "timeout", "autoScaling", "batcher",
    NULL,
};

static const char *annotation(const json_t *obj, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"), key));
}

static int int_field(const json_t *o, const char *key, int dflt)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

static char *revision_key(const json_t *obj, const json_t *pred)
{
    json_t *copy = json_deep_copy(pred), *wrap;
    const char *rt = annotation(obj, ANN_RUNTIME);
    char *txt;

    if (!copy)
        return NULL;
    for (size_t i = 0; tuning_fields[i]; i++)
        json_object_del(copy, tuning_fields[i]);
    wrap = json_pack("{s:o, s:s}", "predictor", copy, "runtime", rt ? rt : "");
    txt = wrap ? json_dumps(wrap, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(wrap);
    return txt;
}

/* The model implementation of the predictor: {format, storageUri}. */
static int model_of(const json_t *pred, const char **format, const char **uri,
                    struct skiff_err *err)
{
    const json_t *m = json_object_get(pred, "model");

    if (m) {
        *format = json_string_value(json_object_get(json_object_get(m, "modelFormat"), "name"));
        *uri = json_string_value(json_object_get(m, "storageUri"));
    } else if ((m = json_object_get(pred, "xgboost"))) {
        *format = "xgboost";
        *uri = json_string_value(json_object_get(m, "storageUri"));
    } else {
        return skiff_err_set(err, SKIFF_EINVAL, "no runtime found to support predictor with "
                             "custom containers (skiff serves modelFormat xgboost)");
    }
    if (!*format || strcmp(*format, "xgboost") != 0)
        return skiff_err_set(err, SKIFF_EINVAL, "no runtime found to support predictor with "
                             "model type: %s (skiff serves xgboost)",
                             *format ? *format : "(none)");
    if (!*uri)
        return skiff_err_set(err, SKIFF_EINVAL, "the predictor has no storageUri");
    return 0;
}

/* storageUri -> a local path (specs/kserve.md 1.2, issue 8). */
static int resolve_uri(struct skiff_serving *s, const json_t *obj, const char *uri, char *out,
                       size_t n, struct skiff_err *err)
{
    const char *from = annotation(obj, SKIFF_ANNOTATION_APPLIED_FROM);

    if (s->model_dir[0])
        return snprintf(out, n, "%s", s->model_dir) >= (int)n
                   ? skiff_err_set(err, SKIFF_EINVAL, "model dir too long") : 0;
    if (strncmp(uri, "file://", 7) == 0)
        uri += 7;
    if (uri[0] == '/')
        return snprintf(out, n, "%s", uri) >= (int)n
                   ? skiff_err_set(err, SKIFF_EINVAL, "storageUri too long") : 0;
    if (strncmp(uri, "models:/", 8) == 0 || strncmp(uri, "runs:/", 6) == 0 ||
        strncmp(uri, "mlflow-artifacts:", 17) == 0) {
        if (!s->tracking)
            return serving__remote_fetch(s->home, uri, out, n, err);
        return skiff_tracking_resolve_uri(s->tracking, uri, out, n, err);
    }
    if (strstr(uri, "://"))
        return skiff_err_set(err, SKIFF_EINVAL, "storageUri '%s': scheme not supported here "
                             "(a path, file://, models:/, runs:/ or mlflow-artifacts:/)", uri);
    /* a relative path: next to the file it was applied from */
    if (from)
        return snprintf(out, n, "%s/%s", from, uri) >= (int)n
                   ? skiff_err_set(err, SKIFF_EINVAL, "storageUri too long") : 0;
    if (s->tracking)
        return skiff_tracking_resolve_uri(s->tracking, uri, out, n, err);
    return snprintf(out, n, "%s", uri) >= (int)n
               ? skiff_err_set(err, SKIFF_EINVAL, "storageUri too long") : 0;
}

static struct serving__svc *svc_new(const char *name)
{
    struct serving__svc *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    snprintf(v->name, sizeof v->name, "%s", name);
    v->canary = -1;
    v->min_replicas = 1;
    v->idle_grace_us = DEFAULT_GRACE_US;
    v->queue_wait_us = DEFAULT_QUEUE_WAIT_US;
    pthread_mutex_init(&v->cap_mu, NULL);
    pthread_cond_init(&v->cap_cv, NULL);
    atomic_store(&v->last_request_us, skiff_time_mono_us());
    return v;
}

static struct serving__rev *rev_new(struct serving__svc *svc, int number, char *key)
{
    struct serving__rev *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->svc = svc;
    r->number = number;
    r->key = key;
    snprintf(r->name, sizeof r->name, "%s-predictor-%05d", svc->name, number);
    pthread_mutex_init(&r->load_mu, NULL);
    r->state = REV_LOADING;
    return r;
}

/* Makes and loads the revision for `key` (taken over). The new revision
 * is listed (so status shows it) before its load; it routes nowhere until
 * traffic() picks it. */
static void new_revision(struct skiff_serving *s, struct serving__svc *svc, const json_t *obj,
                         const json_t *pred, char *key)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    const char *format = NULL, *uri = NULL, *rt = annotation(obj, ANN_RUNTIME);
    struct serving__rev *r;
    int rc;

    if (!(r = rev_new(svc, ++svc->next_number, key))) {
        free(key);
        return;
    }
    r->runtime = rt && strcmp(rt, "xgboost") == 0 ? SKIFF_MODEL_XGBOOST : SKIFF_MODEL_NATIVE;
    pthread_rwlock_wrlock(&s->lock);
    r->next = svc->revs;
    svc->revs = r;
    svc->latest_created = r;
    pthread_rwlock_unlock(&s->lock);

    if (rt && strcmp(rt, "xgboost") != 0 && strcmp(rt, "native") != 0)
        rc = skiff_err_set(&e, SKIFF_EINVAL, "annotation %s: '%s' is not a runtime (native or "
                           "xgboost)", ANN_RUNTIME, rt);
    else if ((rc = model_of(pred, &format, &uri, &e)) == 0 &&
             (rc = resolve_uri(s, obj, uri, r->path, sizeof r->path, &e)) == 0)
        rc = serving__rev_ensure(r, false, &e);
    pthread_rwlock_wrlock(&s->lock);
    if (rc) {
        r->state = REV_FAILED;
        snprintf(r->message, sizeof r->message, "%s", e.msg);
    } else {
        r->state = REV_READY;
        svc->latest_ready = r;
    }
    pthread_rwlock_unlock(&s->lock);
    if (rc)
        skiff_warn("InferenceService '%s': revision %s failed: %s", svc->name, r->name, e.msg);
    else
        skiff_info("InferenceService '%s': revision %s ready (%s, loaded in %.1f ms)",
                   svc->name, r->name, r->path, r->load_seconds * 1e3);
}

/* Publishes the service's CloudEvents sink (NULL url: the file sink).
 * Every sink made stays on the service's list until it is freed: queued
 * records borrow them. */
static void set_sink(struct serving__svc *svc, const json_t *obj, const char *url)
{
    const char *ns = json_string_value(json_object_get(json_object_get(obj, "metadata"),
                                                       "namespace"));
    struct serving__sink *n;

    if (!url) {
        atomic_store(&svc->sink, NULL);
        return;
    }
    if (!ns || !*ns)
        ns = "default";
    for (n = svc->sinks; n; n = n->older)
        if (strcmp(n->url, url) == 0 && strcmp(n->ns, ns) == 0)
            break;
    if (!n) {
        if (!(n = calloc(1, sizeof *n + strlen(url) + 1)))
            return;
        snprintf(n->ns, sizeof n->ns, "%s", ns);
        memcpy(n->url, url, strlen(url) + 1);
        n->older = svc->sinks;
        svc->sinks = n;
    }
    if (atomic_exchange(&svc->sink, n) != n)
        skiff_info("InferenceService '%s': payload log to %s (CloudEvents)", svc->name, url);
}

static void configure(struct skiff_serving *s, struct serving__svc *svc, const json_t *obj,
                      const json_t *pred)
{
    const json_t *logger = json_object_get(pred, "logger");
    const json_t *md = json_object_get(obj, "metadata");
    const char *metric = json_string_value(json_object_get(pred, "scaleMetric"));
    const char *a;
    int target = int_field(pred, "scaleTarget", 0);
    int maxr = int_field(pred, "maxReplicas", 0);
    int cc = int_field(pred, "containerConcurrency", 0);
    int64_t us;

    svc->generation = json_integer_value(json_object_get(md, "generation"));
    svc->canary = int_field(pred, "canaryTrafficPercent", -1);
    svc->min_replicas = int_field(pred, "minReplicas", 1);
    /* in-flight bound: concurrency target per replica times the replicas
     * allowed (a replica is a slot here, not a process) */
    svc->limit = 0;
    if (target > 0 && (!metric || strcmp(metric, "concurrency") == 0))
        svc->limit = target * (maxr > 0 ? maxr : 1);
    else if (cc > 0)
        svc->limit = cc * (maxr > 0 ? maxr : 1);
    svc->queue_max = svc->limit;
    if ((a = annotation(obj, ANN_QUEUE)))
        svc->queue_max = atoi(a) < 0 ? 0 : atoi(a);
    svc->queue_wait_us = DEFAULT_QUEUE_WAIT_US;
    if ((a = annotation(obj, ANN_QUEUE_TIMEOUT)) && skiff_duration_parse(a, &us, NULL) == 0)
        svc->queue_wait_us = us;
    svc->idle_grace_us = DEFAULT_GRACE_US;
    if ((a = annotation(obj, ANN_GRACE)) && skiff_duration_parse(a, &us, NULL) == 0)
        svc->idle_grace_us = us;
    svc->log_mode = 0;
    if (json_is_object(logger)) {
        const char *mode = json_string_value(json_object_get(logger, "mode"));
        const char *url = json_string_value(json_object_get(logger, "url"));
        svc->log_mode = !mode || strcmp(mode, "all") == 0 ? 1
                        : strcmp(mode, "request") == 0    ? 2
                        : strcmp(mode, "response") == 0   ? 3 : 1;
        if (url && strncmp(url, "file://", 7) != 0 && strncmp(url, "http://", 7) != 0 &&
            strncmp(url, "https://", 8) != 0) {
            skiff_warn("InferenceService '%s': logger url '%s' is neither http(s):// nor "
                       "file://; payloads go to the file sink under SKIFF_HOME/payloads",
                       svc->name, url);
            url = NULL;
        }
        if (url && strncmp(url, "file://", 7) == 0)
            url = NULL;
        set_sink(svc, obj, url);
    } else {
        set_sink(svc, obj, NULL);
    }
    svc->logger = s->logger;
    serving__enrich_configure(s, svc, obj);
    /* automatic canary analysis */
    memset(&svc->analysis, 0, sizeof svc->analysis);
    if ((a = annotation(obj, ANN_ANALYSIS))) {
        json_error_t je;
        json_t *j = json_loads(a, 0, &je);
        const char *w = json_string_value(json_object_get(j, "window"));
        const json_t *v;
        svc->analysis.enabled = json_is_object(j);
        svc->analysis.window_us = 60 * SKIFF_US_PER_SEC;
        if (w && skiff_duration_parse(w, &us, NULL) == 0)
            svc->analysis.window_us = us;
        v = json_object_get(j, "maxErrorRate");
        svc->analysis.max_error_rate = json_is_number(v) ? json_number_value(v) : -1;
        v = json_object_get(j, "maxP99Ms");
        svc->analysis.max_p99_ms = json_is_number(v) ? json_number_value(v) : -1;
        v = json_object_get(j, "maxScoreShift");
        svc->analysis.max_score_shift = json_is_number(v) ? json_number_value(v) : -1;
        if (!j)
            skiff_warn("InferenceService '%s': annotation %s is not JSON: %s", svc->name,
                       ANN_ANALYSIS, je.text);
        json_decref(j);
    }
}

/* The traffic rules of the file comment; then the new table is published. */
static void traffic(struct skiff_serving *s, struct serving__svc *svc)
{
    struct serving__rev *L = svc->latest_ready;
    int P = svc->canary;
    struct serving__traffic t[2];
    int nt = 0;
    bool aborted = L && svc->rolled_back_key[0] && L->key &&
                   strncmp(L->key, svc->rolled_back_key, sizeof svc->rolled_back_key - 1) == 0;

    if (!L)
        return;
    if (aborted && P >= 0 && P < 100)
        P = 0;
    if (aborted && (P < 0 || P == 100))
        svc->rolled_back_key[0] = '\0';   /* the user promoted it anyway */
    if (!svc->rolled) {
        svc->rolled = L;
    } else if ((P < 0 || P == 100) && L != svc->rolled) {
        svc->prev_rolled = svc->rolled;
        svc->rolled = L;
    } else if (P >= 0 && P < 100 && L == svc->rolled && svc->prev_rolled &&
               svc->prev_rolled != L) {
        svc->rolled = svc->prev_rolled;
    }
    if (P >= 0 && P < 100 && svc->rolled != L) {
        struct skiff_err e = SKIFF_ERR_INIT;
        /* the stable side must be loaded (it may have been drained) */
        if (atomic_load(&svc->rolled->model) == NULL &&
            serving__rev_ensure(svc->rolled, false, &e) != 0) {
            skiff_warn("InferenceService '%s': cannot reload %s: %s", svc->name,
                       svc->rolled->name, e.msg);
        }
        t[nt++] = (struct serving__traffic){svc->rolled, 100 - P, false};
        t[nt++] = (struct serving__traffic){L, P, true};
    } else {
        t[nt++] = (struct serving__traffic){L, 100, true};
    }
    pthread_rwlock_wrlock(&s->lock);
    memcpy(svc->traffic, t, sizeof t);
    svc->ntraffic = nt;
    pthread_rwlock_unlock(&s->lock);
}

int serving__reconcile(struct skiff_serving *s, const json_t *obj, struct skiff_err *err)
{
    const json_t *md = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(md, "name"));
    const json_t *pred = json_object_get(json_object_get(obj, "spec"), "predictor");
    struct serving__svc *svc;
    char *key;

    if (!name || !json_is_object(pred))
        return skiff_err_set(err, SKIFF_EINVAL, "an InferenceService needs metadata.name and "
                             "spec.predictor");
    for (svc = s->svcs; svc && strcmp(svc->name, name) != 0; svc = svc->next)
        ;
    if (!svc) {
        const char *lc = json_string_value(json_object_get(json_object_get(json_object_get(
            json_object_get(obj, "status"), "components"), "predictor"), "latestCreatedRevision"));
        const char *dash = lc ? strrchr(lc, '-') : NULL;
        if (!(svc = svc_new(name)))
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        /* after a restart the stored spec's revision keeps its number, so
         * that revision names stay the ones status and metrics showed */
        if (dash && atoi(dash + 1) > 0)
            svc->next_number = atoi(dash + 1) - 1;
        pthread_rwlock_wrlock(&s->lock);
        svc->next = s->svcs;
        s->svcs = svc;
        pthread_rwlock_unlock(&s->lock);
    }
    {
        /* an object seen as it is needs nothing (unless enrichment waits for
         * its FeatureService): requests read the configuration unlocked, so
         * it is rewritten only when it changed */
        const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
        if (rv && strcmp(rv, svc->seen_rv) == 0 && !svc->enrich_problem[0] &&
            svc->latest_created)
            return svc->latest_created->state == REV_FAILED
                       ? skiff_err_set(err, SKIFF_EINVAL, "%s", svc->latest_created->message)
                       : 0;
        snprintf(svc->seen_rv, sizeof svc->seen_rv, "%s", rv ? rv : "");
    }
    configure(s, svc, obj, pred);
    if (!(key = revision_key(obj, pred)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if (!svc->latest_created || strcmp(svc->latest_created->key, key) != 0)
        new_revision(s, svc, obj, pred, key);
    else
        free(key);
    traffic(s, svc);
    if (svc->latest_created && svc->latest_created->state == REV_FAILED)
        return skiff_err_set(err, SKIFF_EINVAL, "%s", svc->latest_created->message);
    return 0;
}

/* ---- status (specs/kserve.md 1.5) ---- */

static json_t *condition(const json_t *old, const char *type, bool ok, const char *reason,
                         const char *msg)
{
    const json_t *c;
    size_t i;
    char ts[40];
    const char *when = NULL;

    json_array_foreach(json_object_get(old, "conditions"), i, c) {
        if (strcmp(json_string_value(json_object_get(c, "type")) ?: "", type) == 0 &&
            strcmp(json_string_value(json_object_get(c, "status")) ?: "", ok ? "True" : "False") == 0)
            when = json_string_value(json_object_get(c, "lastTransitionTime"));
    }
    if (!when)
        when = skiff_time_format(skiff_time_now_us(), ts, sizeof ts);
    c = json_pack("{s:s, s:s, s:s}", "type", type, "status", ok ? "True" : "False",
                  "lastTransitionTime", when);
    if (reason)
        json_object_set_new((json_t *)c, "reason", json_string(reason));
    if (msg && *msg)
        json_object_set_new((json_t *)c, "message", json_string(msg));
    return (json_t *)c;
}

json_t *serving__status(struct skiff_serving *s, struct serving__svc *svc)
{
    json_t *st = json_object(), *comp = json_object(), *conds = json_array(), *tr = json_array();
    struct serving__rev *lc = svc->latest_created;
    bool ready = svc->ntraffic > 0;
    const char *reason = NULL;
    char msg[1500] = "";

    if (s->base_url[0]) {
        char url[600];
        snprintf(url, sizeof url, "%s/v2/models/%s", s->base_url, svc->name);
        json_object_set_new(st, "url", json_string(url));
        json_object_set_new(st, "address", json_pack("{s:s}", "url", url));
    }
    json_object_set_new(st, "observedGeneration", json_integer(svc->generation));
    json_object_set_new(st, "deploymentMode", json_string("Knative"));
    if (lc && lc->state == REV_FAILED) {
        reason = "RevisionFailed";
        snprintf(msg, sizeof msg, "revision %s: %s", lc->name, lc->message);
    } else if (!ready) {
        reason = "Loading";
    }
    json_array_append_new(conds, condition(svc->last_status, "PredictorReady", ready,
                                           ready ? NULL : reason, ready ? NULL : msg));
    json_array_append_new(conds, condition(svc->last_status, "Ready", ready,
                                           ready ? NULL : reason, ready ? NULL : msg));
    json_array_append_new(conds, condition(svc->last_status, "LatestDeploymentReady",
                                           lc && lc->state == REV_READY,
                                           lc && lc->state == REV_FAILED ? "RevisionFailed" : NULL,
                                           lc && lc->state == REV_FAILED ? msg : NULL));
    if (svc->enrich_problem[0])
        json_array_append_new(conds, condition(svc->last_status, "FeaturesReady", false,
                                               "EnrichmentFailed", svc->enrich_problem));
    if (svc->analysis_event[0])
        json_array_append_new(conds, condition(svc->last_status, "CanaryRolledBack", true,
                                               "CanaryAnalysisFailed", svc->analysis_event));
    json_object_set_new(st, "conditions", conds);
    if (lc)
        json_object_set_new(comp, "latestCreatedRevision", json_string(lc->name));
    if (svc->latest_ready)
        json_object_set_new(comp, "latestReadyRevision", json_string(svc->latest_ready->name));
    if (svc->rolled)
        json_object_set_new(comp, "latestRolledoutRevision", json_string(svc->rolled->name));
    if (svc->prev_rolled)
        json_object_set_new(comp, "previousRolledoutRevision",
                            json_string(svc->prev_rolled->name));
    for (int i = 0; i < svc->ntraffic; i++) {
        const struct serving__traffic *t = &svc->traffic[i];
        json_array_append_new(tr, json_pack("{s:s, s:b, s:i, s:s}", "revisionName",
                                            t->rev->name, "latestRevision", t->latest,
                                            "percent", t->percent, "tag",
                                            t->latest ? "latest" : "prev"));
    }
    json_object_set_new(comp, "traffic", tr);
    json_object_set_new(st, "components", json_pack("{s:o}", "predictor", comp));
    json_object_set_new(st, "modelStatus",
                        json_pack("{s:s, s:{s:s, s:s}}", "transitionStatus",
                                  lc && lc->state == REV_FAILED ? "BlockedByFailedLoad"
                                  : lc && lc->state == REV_LOADING ? "InProgress" : "UpToDate",
                                  "states", "activeModelState", ready ? "Loaded" : "Pending",
                                  "targetModelState",
                                  lc && lc->state == REV_FAILED ? "FailedToLoad"
                                  : lc && lc->state == REV_LOADING ? "Loading" : "Loaded"));
    if (lc && lc->state == REV_FAILED)
        json_object_set_new(json_object_get(st, "modelStatus"), "lastFailureInfo",
                            json_pack("{s:s, s:s, s:s}", "reason", "ModelLoadFailed", "message",
                                      lc->message, "modelRevisionName", lc->name));
    return st;
}
