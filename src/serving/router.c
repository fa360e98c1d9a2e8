/* The inference routes: V2 and V1 over every service on the port.
 *
 * One request: find the service by model name and pick a revision by the
 * traffic weights, both under the registry's read lock, leaving it with a
 * ref on each (route()); take a capacity slot or wait briefly in the
 * service's queue, else 429 (cap_acquire); parse the body straight into a
 * float matrix; load the model first if the revision was scaled to zero
 * (a cold start); predict; write the reply; hand the payload log a copy
 * (never waiting for it); count it; drop the refs. Nothing here blocks on
 * the controller except the registry lock's short write sections.
 */
#include "serving_int.h"

#include "skiff/arena.h"
#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/http.h"
#include "skiff/log.h"
#include "skiff/metrics.h"
#include "skiff/time.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define INFER_MAX_BODY (8u << 20)

/* ---- metrics ---- */

static struct serving__metrics g_metrics;
static pthread_once_t g_metrics_once = PTHREAD_ONCE_INIT;

static void metrics_init(void)
{
    static const double load_bounds[] = {0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 60};
    struct skiff_metrics *m = skiff_metrics_default();

    g_metrics.requests = skiff_metrics_counter(m, "skiff_serving_requests_total",
                                               "Inference requests by model, revision and "
                                               "status code.", "model,revision,code");
    g_metrics.latency = skiff_metrics_histogram(m, "skiff_serving_request_duration_seconds",
                                                "Inference latency (routing to reply) by model "
                                                "and revision.", "model,revision", NULL, 0);
    g_metrics.in_flight = skiff_metrics_gauge(m, "skiff_serving_in_flight",
                                              "Inference requests being served, by model.",
                                              "model");
    g_metrics.load_seconds = skiff_metrics_histogram(m, "skiff_serving_model_load_seconds",
                                                     "Time to load a revision's model and "
                                                     "answer its warm-up request.",
                                                     "model,revision", load_bounds,
                                                     sizeof load_bounds / sizeof *load_bounds);
    g_metrics.cold_starts = skiff_metrics_counter(m, "skiff_serving_cold_starts_total",
                                                  "Loads caused by a request to a model scaled "
                                                  "to zero.", "model,revision");
    g_metrics.log_dropped = skiff_metrics_counter(m, "skiff_serving_payload_log_dropped_total",
                                                  "Payload log records dropped because the "
                                                  "buffer was full, and CloudEvents the "
                                                  "logger's URL could not take.", "model");
    g_metrics.rollbacks = skiff_metrics_counter(m, "skiff_serving_canary_rollbacks_total",
                                                "Canaries rolled back by the automatic "
                                                "analysis.", "model");
}

const struct serving__metrics *serving__metrics(void)
{
    pthread_once(&g_metrics_once, metrics_init);
    return &g_metrics;
}

/* ---- per-thread randomness: traffic split, request ids ---- */

static uint64_t rnd(void)
{
    static _Thread_local uint64_t x;
    if (!x) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = (uint64_t)ts.tv_nsec ^ ((uint64_t)(uintptr_t)&ts << 17) ^ 0x9E3779B97F4A7C15ull;
    }
    /* xorshift64*: plenty for a traffic split, not for secrets */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    return x * 0x2545F4914F6CDD1Dull;
}

static void uuid4(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = rnd(), b = rnd();
    unsigned char by[16];
    int o = 0;

    memcpy(by, &a, 8);
    memcpy(by + 8, &b, 8);
    by[6] = (unsigned char)((by[6] & 0x0F) | 0x40);
    by[8] = (unsigned char)((by[8] & 0x3F) | 0x80);
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[by[i] >> 4];
        out[o++] = hex[by[i] & 15];
    }
    out[o] = '\0';
}

/* ---- routing ---- */

static struct serving__svc *find_svc(struct skiff_serving *s, const char *name)
{
    for (struct serving__svc *v = s->svcs; v; v = v->next)
        if (strcmp(v->name, name) == 0)
            return v;
    return NULL;
}

/* Finds the service and picks its revision (an explicit `version`: the
 * revision of that name or number; else by traffic weight). On success
 * the caller holds a ref on both. */
static int route(struct skiff_serving *s, const char *name, const char *version,
                 struct serving__svc **svc_out, struct serving__rev **rev_out,
                 const struct serving__enrich **enrich, struct skiff_err *err)
{
    struct serving__svc *svc;
    struct serving__rev *rev = NULL;
    int rc = 0;

    pthread_rwlock_rdlock(&s->lock);
    if (!(svc = find_svc(s, name))) {
        rc = skiff_err_set(err, SKIFF_ENOTFOUND, "Model with name %s does not exist.", name);
        goto out;
    }
    if (version) {
        for (struct serving__rev *r = svc->revs; r && !rev; r = r->next)
            if (strcmp(r->name, version) == 0 || atoi(version) == r->number)
                rev = r;
        if (!rev) {
            rc = skiff_err_set(err, SKIFF_ENOTFOUND, "Model with name %s has no version %s.",
                               name, version);
            goto out;
        }
        if (rev->state != REV_READY && rev->state != REV_COLD) {
            rc = skiff_err_set(err, SKIFF_EUNAVAIL, "Model with name %s version %s is not "
                               "ready.", name, version);
            goto out;
        }
    } else if (svc->ntraffic == 0) {
        rc = skiff_err_set(err, SKIFF_EUNAVAIL, "Model with name %s is not ready.", name);
        goto out;
    } else if (svc->ntraffic == 1) {
        rev = svc->traffic[0].rev;
    } else {
        int pick = (int)(rnd() % 100);
        rev = pick < svc->traffic[0].percent ? svc->traffic[0].rev : svc->traffic[1].rev;
    }
    atomic_fetch_add(&svc->refs, 1);
    atomic_fetch_add(&rev->refs, 1);
    if (enrich)
        *enrich = svc->enrich && svc->enrich->fsvc ? svc->enrich : NULL;
    *svc_out = svc;
    *rev_out = rev;
out:
    pthread_rwlock_unlock(&s->lock);
    return rc;
}

static void unroute(struct serving__svc *svc, struct serving__rev *rev)
{
    serving__rev_put(rev);
    atomic_fetch_sub(&svc->refs, 1);
}

/* ---- capacity ---- */

static int cap_acquire(struct serving__svc *svc, struct skiff_err *err)
{
    struct timespec dl;
    int rc = 0;

    if (svc->limit <= 0)
        return 0;
    pthread_mutex_lock(&svc->cap_mu);
    if (svc->in_flight < svc->limit) {
        svc->in_flight++;
        goto out;
    }
    if (svc->waiting >= svc->queue_max) {
        rc = SKIFF_EBUSY;
        goto out;
    }
    svc->waiting++;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += svc->queue_wait_us / 1000000;
    dl.tv_nsec += (svc->queue_wait_us % 1000000) * 1000;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    while (svc->in_flight >= svc->limit)
        if (pthread_cond_timedwait(&svc->cap_cv, &svc->cap_mu, &dl) == ETIMEDOUT)
            break;
    svc->waiting--;
    if (svc->in_flight < svc->limit)
        svc->in_flight++;
    else
        rc = SKIFF_EBUSY;
out:
    pthread_mutex_unlock(&svc->cap_mu);
    if (rc)
        return skiff_err_set(err, SKIFF_EBUSY, "model '%s' is at capacity (%d in flight, %d "
                             "queued): retry later", svc->name, svc->limit, svc->queue_max);
    return 0;
}

static void cap_release(struct serving__svc *svc)
{
    if (svc->limit <= 0)
        return;
    pthread_mutex_lock(&svc->cap_mu);
    svc->in_flight--;
    pthread_cond_signal(&svc->cap_cv);
    pthread_mutex_unlock(&svc->cap_mu);
}

/* ---- errors ---- */

void skiff_serving_errfmt(const struct skiff_err *err, struct skiff_http_resp *resp)
{
    resp->status = skiff_err_http_status(err->code);
    resp->content_type = "application/json";
    skiff_buf_reset(&resp->body);
    if (skiff_buf_puts(&resp->body, "{\"error\":") ||
        skiff_buf_json_str(&resp->body, err->msg[0] ? err->msg
                                                    : skiff_err_default_msg(err->code)) ||
        skiff_buf_putc(&resp->body, '}'))
        skiff_buf_reset(&resp->body);
    /* a client told to come back should know when */
    if (err->code == SKIFF_EBUSY && resp->nheaders < SKIFF_HTTP_MAX_HEADERS) {
        resp->header_names[resp->nheaders] = "Retry-After";
        resp->header_values[resp->nheaders++] = "1";
    }
}

/* ---- one scoring ---- */

struct scored {
    float *x;
    double *y;
    size_t nrows, nfeat, nout;
};

/* Predicts x on rev, loading it first when it was scaled to zero. */
static int score(struct serving__rev *rev, const float *x, size_t nrows, double *y,
                 struct skiff_err *err)
{
    struct skiff_model *m = atomic_load(&rev->model);
    int rc;

    if (!m) {
        if ((rc = serving__rev_ensure(rev, true, err)))
            return rc;
        m = atomic_load(&rev->model);
        if (!m)
            return skiff_err_set(err, SKIFF_EUNAVAIL, "Model with name %s is not ready.",
                                 rev->svc->name);
    }
    return skiff_model_predict(m, x, nrows, y, err);
}

static void observe(struct serving__svc *svc, struct serving__rev *rev, int status,
                    int64_t t0, const double *y, size_t nrows, size_t nout)
{
    const struct serving__metrics *mt = serving__metrics();
    double secs = (double)(skiff_time_mono_us() - t0) / 1e6;
    char code[8];

    snprintf(code, sizeof code, "%d", status);
    skiff_metric_inc(mt->requests, (const char *[]){svc->name, rev->name, code}, 1);
    if (status < 400 || status >= 500)
        skiff_metric_observe(mt->latency, (const char *[]){svc->name, rev->name}, secs);
    atomic_store(&svc->last_request_us, skiff_time_mono_us());
    if (!svc->analysis.enabled || status == 429)
        return;
    /* counters for the automatic canary analysis (controller.c) */
    atomic_fetch_add(&rev->a_requests, 1);
    if (status >= 500)
        atomic_fetch_add(&rev->a_errors, 1);
    if (svc->analysis.max_p99_ms >= 0 && secs * 1e3 > svc->analysis.max_p99_ms)
        atomic_fetch_add(&rev->a_slow, 1);
    if (y && nrows) {
        double sum = 0, cur, next;
        for (size_t i = 0; i < nrows; i++)
            sum += y[i * nout];
        sum /= (double)nrows;
        cur = atomic_load(&rev->a_score_sum);
        do
            next = cur + sum;
        while (!atomic_compare_exchange_weak(&rev->a_score_sum, &cur, next));
    }
}

/* The raw bodies for the URL sink, in one block (request NUL response NUL). */
static bool copy_bodies(struct serving__logrec *rec, const struct skiff_http_req *req,
                        const struct skiff_http_resp *resp)
{
    size_t rl = rec->mode == 3 ? 0 : req->body_len;
    size_t sl = rec->mode == 2 ? 0 : resp->body.len;

    if (!(rec->body = malloc(rl + sl + 2)))
        return false;
    memcpy(rec->body, req->body, rl);
    rec->body[rl] = '\0';
    if (sl)
        memcpy(rec->body + rl + 1, resp->body.ptr, sl);
    rec->body[rl + 1 + sl] = '\0';
    rec->req_len = rl;
    rec->resp_len = sl;
    return true;
}

static void log_payload(struct serving__svc *svc, struct serving__rev *rev, const char *id,
                        const struct scored *sc, const struct serving__enrich *en,
                        char *const *keys, const struct skiff_http_req *req,
                        const struct skiff_http_resp *resp)
{
    struct serving__logrec *rec;
    const struct serving__sink *sink;

    if (!svc->log_mode || !rev->svc || !svc->logger)
        return;
    if (!(rec = calloc(1, sizeof *rec)))
        return;
    rec->ts_us = skiff_time_now_us();
    snprintf(rec->id, sizeof rec->id, "%s", id);
    rec->nrows = sc->nrows;
    rec->nfeat = sc->nfeat;
    rec->nout = sc->nout;
    rec->mode = svc->log_mode;
    if ((sink = atomic_load(&svc->sink))) {
        /* KServe's logger sends the bodies as they were, not the matrix */
        rec->sink = sink;
        if (!copy_bodies(rec, req, resp)) {
            free(rec);
            return;
        }
        atomic_fetch_add(&rev->refs, 1);
        rec->rev = rev;
        serving__logger_push(svc->logger, rec);
        return;
    }
    if (svc->log_mode != 3 && (rec->x = malloc(sc->nrows * sc->nfeat * sizeof *rec->x)))
        memcpy(rec->x, sc->x, sc->nrows * sc->nfeat * sizeof *rec->x);
    if (svc->log_mode != 2 && (rec->y = malloc(sc->nrows * sc->nout * sizeof *rec->y)))
        memcpy(rec->y, sc->y, sc->nrows * sc->nout * sizeof *rec->y);
    if (en && keys) {
        /* the entity values, copied into one block: pointers, then strings */
        size_t total = sc->nrows * sizeof(char *);
        char *p;
        for (size_t i = 0; i < sc->nrows; i++)
            total += strlen(keys[i]) + 1;
        if ((rec->keys = malloc(total))) {
            p = (char *)(rec->keys + sc->nrows);
            for (size_t i = 0; i < sc->nrows; i++) {
                size_t n = strlen(keys[i]) + 1;
                memcpy(p, keys[i], n);
                rec->keys[i] = p;
                p += n;
            }
            rec->enrich = en;
        }
    }
    atomic_fetch_add(&rev->refs, 1);
    rec->rev = rev;
    serving__logger_push(svc->logger, rec);
}

/* ---- V2 ---- */

static int write_v2(struct skiff_buf *b, const struct serving__svc *svc,
                    const struct serving__rev *rev, const char *id,
                    const struct serving__infer_req *r, const struct scored *sc)
{
    size_t n = sc->nrows * sc->nout;
    int rc = 0;

    rc |= skiff_buf_grow(b, 160 + strlen(id) + r->params_len + n * 24);
    rc |= skiff_buf_puts(b, "{\"model_name\":");
    rc |= skiff_buf_json_str(b, svc->name);
    rc |= skiff_buf_puts(b, ",\"model_version\":");
    rc |= skiff_buf_json_str(b, rev->name);
    rc |= skiff_buf_puts(b, ",\"id\":");
    rc |= skiff_buf_json_str(b, id);
    if (r->params) {
        rc |= skiff_buf_puts(b, ",\"parameters\":");
        rc |= skiff_buf_append(b, r->params, r->params_len);
    }
    rc |= skiff_buf_puts(b, ",\"outputs\":[{\"name\":\"output-0\",\"datatype\":");
    rc |= skiff_buf_puts(b, r->out_fp32 ? "\"FP32\"" : "\"FP64\"");
    if (sc->nout == 1)
        rc |= skiff_buf_appendf(b, ",\"shape\":[%zu],\"data\":[", sc->nrows);
    else
        rc |= skiff_buf_appendf(b, ",\"shape\":[%zu,%zu],\"data\":[", sc->nrows, sc->nout);
    for (size_t i = 0; i < n; i++) {
        if (i)
            rc |= skiff_buf_putc(b, ',');
        rc |= serving__json_double(b, sc->y[i], r->out_fp32);
    }
    rc |= skiff_buf_puts(b, "]}]}");
    return rc ? SKIFF_ENOMEM : 0;
}

static int h_v2_infer(struct skiff_http_req *req, struct skiff_http_resp *resp,
                      struct skiff_err *err)
{
    struct skiff_serving *s = req->ctx;
    struct serving__svc *svc;
    struct serving__rev *rev;
    const struct serving__enrich *en;
    struct serving__infer_req r;
    struct scored sc = {0};
    char idbuf[37], **keys = NULL;
    const char *id;
    int64_t t0 = skiff_time_mono_us();
    int rc, status;

    if ((rc = route(s, skiff_http_param(req, "name"), skiff_http_param(req, "version"), &svc,
                    &rev, &en, err)))
        return rc;
    if ((rc = cap_acquire(svc, err))) {
        observe(svc, rev, 429, t0, NULL, 0, 0);
        unroute(svc, rev);
        return rc;
    }
    atomic_fetch_add(&svc->active, 1);
    if ((rc = serving__v2_parse(req->body, req->body_len, req->arena, &r, err)))
        goto out;
    if (atomic_load(&rev->model) == NULL && (rc = serving__rev_ensure(rev, true, err)))
        goto out;
    sc.nfeat = rev->nfeat;
    sc.nout = rev->nout;
    if (en ? (rc = serving__enrich_matrix(s, en, &r, sc.nfeat, req->arena, &sc.x, &sc.nrows,
                                          &keys, err))
           : (rc = serving__v2_matrix(&r, sc.nfeat, (const char *const *)rev->feature_names,
                                      req->arena, &sc.x, &sc.nrows, err)))
        goto out;
    if (!(sc.y = skiff_arena_alloc(req->arena, sc.nrows * sc.nout * sizeof *sc.y))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = score(rev, sc.x, sc.nrows, sc.y, err)))
        goto out;
    if (!(id = r.id)) {
        uuid4(idbuf);
        id = idbuf;
    }
    resp->status = 200;
    if ((rc = write_v2(&resp->body, svc, rev, id, &r, &sc))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    log_payload(svc, rev, id, &sc, en, keys, req, resp);
out:
    atomic_fetch_sub(&svc->active, 1);
    cap_release(svc);
    status = rc ? skiff_err_http_status(rc) : 200;
    observe(svc, rev, status, t0, rc ? NULL : sc.y, sc.nrows, sc.nout);
    unroute(svc, rev);
    return rc;
}

/* Fills the metadata of one service from its latest ready revision. */
static int h_v2_model(struct skiff_http_req *req, struct skiff_http_resp *resp,
                      struct skiff_err *err)
{
    struct skiff_serving *s = req->ctx;
    const char *name = skiff_http_param(req, "name"), *version = skiff_http_param(req, "version");
    struct serving__svc *svc;
    struct serving__rev *rev;
    json_t *o, *arr, *in, *out, *shape;
    char *txt;
    int rc;

    if ((rc = route(s, name, version, &svc, &rev, NULL, err)))
        return rc;
    o = json_object();
    json_object_set_new(o, "name", json_string(svc->name));
    arr = json_array();
    pthread_rwlock_rdlock(&s->lock);
    for (struct serving__rev *r = svc->revs; r; r = r->next)
        if (r->state == REV_READY || r->state == REV_COLD)
            json_array_append_new(arr, json_string(r->name));
    pthread_rwlock_unlock(&s->lock);
    json_object_set_new(o, "versions", arr);
    json_object_set_new(o, "platform", json_string(rev->runtime == SKIFF_MODEL_XGBOOST
                                                       ? "xgboost" : "skiff-native-trees"));
    in = json_object();
    json_object_set_new(in, "name", json_string("input-0"));
    json_object_set_new(in, "datatype", json_string("FP32"));
    shape = json_pack("[iI]", -1, (json_int_t)rev->nfeat);
    json_object_set_new(in, "shape", shape);
    if (rev->feature_names) {
        json_t *names = json_array();
        for (size_t i = 0; i < rev->nfeat; i++)
            json_array_append_new(names, json_string(rev->feature_names[i]
                                                         ? rev->feature_names[i] : ""));
        json_object_set_new(in, "parameters", json_pack("{so}", "feature_names", names));
    }
    json_object_set_new(o, "inputs", json_pack("[o]", in));
    out = json_object();
    json_object_set_new(out, "name", json_string("output-0"));
    json_object_set_new(out, "datatype", json_string("FP64"));
    json_object_set_new(out, "shape", rev->nout == 1 ? json_pack("[i]", -1)
                                                     : json_pack("[iI]", -1, (json_int_t)rev->nout));
    json_object_set_new(o, "outputs", json_pack("[o]", out));
    unroute(svc, rev);
    txt = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!txt)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    rc = skiff_http_reply_json(resp, 200, txt);
    free(txt);
    return rc ? skiff_err_set(err, rc, "out of memory") : 0;
}

static int h_v2_model_ready(struct skiff_http_req *req, struct skiff_http_resp *resp,
                            struct skiff_err *err)
{
    struct skiff_serving *s = req->ctx;
    struct serving__svc *svc;
    struct serving__rev *rev;
    int rc = route(s, skiff_http_param(req, "name"), skiff_http_param(req, "version"), &svc,
                   &rev, NULL, err);

    if (rc)
        return rc;
    unroute(svc, rev);
    rc = skiff_buf_puts(&resp->body, "{\"name\":");
    rc |= skiff_buf_json_str(&resp->body, svc->name);
    rc |= skiff_buf_puts(&resp->body, ",\"ready\":true}");
    return rc ? skiff_err_set(err, SKIFF_ENOMEM, "out of memory") : 0;
}

static int h_v2_live(struct skiff_http_req *req, struct skiff_http_resp *resp,
                     struct skiff_err *err)
{
    return skiff_http_reply_json(resp, 200, "{\"live\":true}");
}

static int h_v2_ready(struct skiff_http_req *req, struct skiff_http_resp *resp,
                      struct skiff_err *err)
{
    struct skiff_serving *s = req->ctx;
    bool ready = true;

    pthread_rwlock_rdlock(&s->lock);
    for (struct serving__svc *v = s->svcs; v; v = v->next)
        ready &= v->ntraffic > 0;
    pthread_rwlock_unlock(&s->lock);
    if (!ready)
        return skiff_err_set(err, SKIFF_EUNAVAIL, "Server is not ready.");
    return skiff_http_reply_json(resp, 200, "{\"ready\":true}");
}

static int h_v2_server(struct skiff_http_req *req, struct skiff_http_resp *resp,
                       struct skiff_err *err)
{
    return skiff_http_reply_json(resp, 200, "{\"name\":\"skiff\",\"version\":\"" SKIFF_VERSION
                                            "\",\"extensions\":[]}");
}

static int list_models(struct skiff_serving *s, struct skiff_http_resp *resp,
                       struct skiff_err *err)
{
    int rc = skiff_buf_puts(&resp->body, "{\"models\":[");
    bool first = true;

    pthread_rwlock_rdlock(&s->lock);
    for (struct serving__svc *v = s->svcs; v; v = v->next) {
        if (!first)
            rc |= skiff_buf_putc(&resp->body, ',');
        rc |= skiff_buf_json_str(&resp->body, v->name);
        first = false;
    }
    pthread_rwlock_unlock(&s->lock);
    rc |= skiff_buf_puts(&resp->body, "]}");
    return rc ? skiff_err_set(err, SKIFF_ENOMEM, "out of memory") : 0;
}

static int h_models(struct skiff_http_req *req, struct skiff_http_resp *resp,
                    struct skiff_err *err)
{
    return list_models(req->ctx, resp, err);
}

/* ---- V1 ---- */

/* One instance: a list of numbers (the features in order) or an object
 * keyed by feature name. */
static int v1_row(const json_t *inst, size_t i, const struct serving__rev *rev, float *row,
                  struct skiff_err *err)
{
    if (json_is_array(inst)) {
        if (json_array_size(inst) != rev->nfeat)
            return skiff_err_set(err, SKIFF_EINVAL, "instance %zu has %zu values; the model "
                                 "takes %zu features", i, json_array_size(inst), rev->nfeat);
        for (size_t f = 0; f < rev->nfeat; f++) {
            const json_t *v = json_array_get(inst, f);
            if (json_is_null(v))
                row[f] = NAN;
            else if (json_is_number(v))
                row[f] = (float)json_number_value(v);
            else
                return skiff_err_set(err, SKIFF_EINVAL, "instance %zu value %zu is not a "
                                     "number", i, f);
        }
        return 0;
    }
    if (json_is_object(inst) && rev->feature_names) {
        for (size_t f = 0; f < rev->nfeat; f++) {
            const json_t *v = json_object_get(inst, rev->feature_names[f]);
            if (!v || json_is_null(v))
                row[f] = NAN;
            else if (json_is_number(v))
                row[f] = (float)json_number_value(v);
            else
                return skiff_err_set(err, SKIFF_EINVAL, "instance %zu: '%s' is not a number",
                                     i, rev->feature_names[f]);
        }
        return 0;
    }
    return skiff_err_set(err, SKIFF_EINVAL, "instance %zu must be a list of %zu numbers%s", i,
                         rev->nfeat, rev->feature_names ? " or an object keyed by feature name"
                                                        : "");
}

/* An enriched V1 request: each instance an object carrying the entity key
 * ({"user_id": "u1"} or {"user_id": 42}); *keys (arena) gets the values. */
static int v1_keys(const json_t *inst, const struct serving__enrich *en,
                   struct skiff_arena *a, char ***keys, struct skiff_err *err)
{
    size_t n = json_array_size(inst);
    char **k = skiff_arena_alloc(a, n * sizeof *k);

    if (!k)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(json_array_get(inst, i), en->key);
        if (json_is_string(v))
            k[i] = skiff_arena_strdup(a, json_string_value(v));
        else if (json_is_integer(v))
            k[i] = skiff_arena_sprintf(a, "%lld", (long long)json_integer_value(v));
        else
            return skiff_err_set(err, SKIFF_EINVAL, "this model reads its features from "
                                 "FeatureService '%s': instance %zu must be an object with "
                                 "'%s' (the entity key, a string or an integer)", en->service,
                                 i, en->key);
        if (!k[i])
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    *keys = k;
    return 0;
}

static int h_v1_predict(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    struct skiff_serving *s = req->ctx;
    struct serving__svc *svc;
    struct serving__rev *rev;
    const struct serving__enrich *en;
    struct scored sc = {0};
    json_t *body = NULL, *inst;
    json_error_t je;
    char idbuf[37], **keys = NULL;
    int64_t t0 = skiff_time_mono_us();
    int rc, status;

    if ((rc = route(s, skiff_http_param(req, "name"), NULL, &svc, &rev, &en, err)))
        return rc;
    if ((rc = cap_acquire(svc, err))) {
        observe(svc, rev, 429, t0, NULL, 0, 0);
        unroute(svc, rev);
        return rc;
    }
    atomic_fetch_add(&svc->active, 1);
    if (!(body = json_loadb(req->body, req->body_len, 0, &je)) || !json_is_object(body)) {
        rc = skiff_err_set(err, SKIFF_EPARSE, "Unrecognized request format: %s",
                           body ? "the body must be a JSON object" : je.text);
        goto out;
    }
    inst = json_object_get(body, "instances");
    if (!json_is_array(inst)) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "Expected \"instances\" to be a list");
        goto out;
    }
    if (json_array_size(inst) == 0) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "\"instances\" is empty");
        goto out;
    }
    if (atomic_load(&rev->model) == NULL && (rc = serving__rev_ensure(rev, true, err)))
        goto out;
    sc.nfeat = rev->nfeat;
    sc.nout = rev->nout;
    sc.nrows = json_array_size(inst);
    if (en) {
        if ((rc = v1_keys(inst, en, req->arena, &keys, err)) ||
            (rc = serving__enrich_rows(s, en, keys, sc.nrows, sc.nfeat, req->arena, &sc.x,
                                       err)))
            goto out;
    } else {
        sc.x = skiff_arena_alloc(req->arena, sc.nrows * sc.nfeat * sizeof *sc.x);
    }
    sc.y = skiff_arena_alloc(req->arena, sc.nrows * sc.nout * sizeof *sc.y);
    if (!sc.x || !sc.y) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < sc.nrows && !en; i++)
        if ((rc = v1_row(json_array_get(inst, i), i, rev, sc.x + i * sc.nfeat, err)))
            goto out;
    if ((rc = score(rev, sc.x, sc.nrows, sc.y, err)))
        goto out;
    rc = skiff_buf_puts(&resp->body, "{\"predictions\":[");
    for (size_t i = 0; i < sc.nrows; i++) {
        if (i)
            rc |= skiff_buf_putc(&resp->body, ',');
        if (sc.nout == 1) {
            rc |= serving__json_double(&resp->body, sc.y[i], false);
            continue;
        }
        rc |= skiff_buf_putc(&resp->body, '[');
        for (size_t k = 0; k < sc.nout; k++) {
            if (k)
                rc |= skiff_buf_putc(&resp->body, ',');
            rc |= serving__json_double(&resp->body, sc.y[i * sc.nout + k], false);
        }
        rc |= skiff_buf_putc(&resp->body, ']');
    }
    rc |= skiff_buf_puts(&resp->body, "]}");
    if (rc) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    uuid4(idbuf);
    log_payload(svc, rev, idbuf, &sc, en, keys, req, resp);
out:
    json_decref(body);
    atomic_fetch_sub(&svc->active, 1);
    cap_release(svc);
    status = rc ? skiff_err_http_status(rc) : 200;
    observe(svc, rev, status, t0, rc ? NULL : sc.y, sc.nrows, sc.nout);
    unroute(svc, rev);
    return rc;
}

static int h_v1_model(struct skiff_http_req *req, struct skiff_http_resp *resp,
                      struct skiff_err *err)
{
    return h_v2_model_ready(req, resp, err);
}

static int h_v1_models(struct skiff_http_req *req, struct skiff_http_resp *resp,
                       struct skiff_err *err)
{
    return list_models(req->ctx, resp, err);
}

static const struct skiff_route serving_routes[] = {
    {"GET", "/v2", SKIFF_SCOPE_SERVING_READ, h_v2_server, 0},
    {"GET", "/v2/health/live", SKIFF_SCOPE_OPEN, h_v2_live, 0},
    {"GET", "/v2/health/ready", SKIFF_SCOPE_OPEN, h_v2_ready, 0},
    {"GET", "/v2/models", SKIFF_SCOPE_SERVING_READ, h_models, 0},
    {"GET", "/v2/models/{name}", SKIFF_SCOPE_SERVING_READ, h_v2_model, 0},
    {"GET", "/v2/models/{name}/versions/{version}", SKIFF_SCOPE_SERVING_READ, h_v2_model, 0},
    {"GET", "/v2/models/{name}/ready", SKIFF_SCOPE_OPEN, h_v2_model_ready, 0},
    {"GET", "/v2/models/{name}/versions/{version}/ready", SKIFF_SCOPE_OPEN, h_v2_model_ready, 0},
    {"POST", "/v2/models/{name}/infer", SKIFF_SCOPE_SERVING_INFER, h_v2_infer, INFER_MAX_BODY},
    {"POST", "/v2/models/{name}/versions/{version}/infer", SKIFF_SCOPE_SERVING_INFER,
     h_v2_infer, INFER_MAX_BODY},
    {"GET", "/v1/models", SKIFF_SCOPE_SERVING_READ, h_v1_models, 0},
    {"GET", "/v1/models/{name}", SKIFF_SCOPE_OPEN, h_v1_model, 0},
    {"POST", "/v1/models/{name}:predict", SKIFF_SCOPE_SERVING_INFER, h_v1_predict,
     INFER_MAX_BODY},
};

const struct skiff_route *skiff_serving_routes(size_t *n)
{
    *n = sizeof serving_routes / sizeof *serving_routes;
    return serving_routes;
}
