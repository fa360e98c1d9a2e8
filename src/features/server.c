/* The feature server: Feast's HTTP API over the online store
 * (include/skiff/online.h, skiff_online_routes; specs/feast.md 6).
 *
 *   POST /get-online-features      features:read
 *   POST /push                     features:write   (server_push.c)
 *   POST /write-to-online-store    features:write   (server_push.c)
 *   POST /materialize              features:write
 *   POST /materialize-incremental  features:write
 *   GET  /health                   open
 *
 * Definitions come from a registry loaded from files (`skiff features serve
 * -f`), or from the platform's stored resources (`skiff up`). Stored ones
 * are cached for one second, like Feast's registry cache (registry_ttl_sec),
 * so a lookup does not list the store: an apply is seen within a second.
 * A cached registry is reference-counted; a request keeps the one it
 * started with even when a newer one replaces it.
 *
 * get-online-features answers column-major (specs/feast.md 5.1): the join
 * keys sent, then the features; each column has values, statuses and
 * event_timestamps per entity row. The response is written straight into
 * the reply buffer, without building a JSON tree.
 */
#include "online_int.h"

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/http.h"
#include "skiff/resource.h"
#include "skiff/time.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCOPE_READ "features:read"
#define SCOPE_WRITE "features:write"
#define CACHE_US (1 * SKIFF_US_PER_SEC)

int skiff_online_server_new(struct skiff_online *o, struct skiff_store *store,
                            const struct skiff_feat_registry *reg,
                            struct skiff_online_server **out, struct skiff_err *err)
{
    struct skiff_online_server *s = calloc(1, sizeof *s);
    if (!s)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    s->o = o;
    s->store = store;
    s->fixed = reg;
    pthread_mutex_init(&s->mu, NULL);
    /* stored relative source paths resolve against the working folder, as
     * the historical API resolves them */
    if (!getcwd(s->base_dir, sizeof s->base_dir))
        snprintf(s->base_dir, sizeof s->base_dir, ".");
    *out = s;
    return 0;
}

static void cached_put(struct online__cached *c)
{
    if (c && --c->refs == 0) {
        skiff_feat_registry_free(c->reg);
        json_decref(c->objs);
        free(c);
    }
}

void skiff_online_server_free(struct skiff_online_server *s)
{
    if (!s)
        return;
    cached_put(s->cur);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* The registry to use for one request; *held is released with cached_put
 * under the lock (release_registry). */
int online__registry_acquire(struct skiff_online_server *s, const struct skiff_feat_registry **r,
                            struct online__cached **held, struct skiff_err *err)
{
    int64_t now = skiff_time_mono_us();
    struct online__cached *c;
    int rc;

    *held = NULL;
    if (s->fixed) {
        *r = s->fixed;
        return 0;
    }
    pthread_mutex_lock(&s->mu);
    if (s->cur && now - s->loaded_at < CACHE_US) {
        s->cur->refs++;
        *held = s->cur;
        *r = s->cur->reg;
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    pthread_mutex_unlock(&s->mu);
    /* (re)load outside the lock; two threads may both load: the later wins */
    if (!(c = calloc(1, sizeof *c)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if ((rc = skiff_feat_stored_objects(s->store, &c->objs, err)) ||
        (rc = skiff_feat_registry_from_objects(c->objs, s->base_dir, &c->reg, err))) {
        json_decref(c->objs);
        free(c);
        return rc;
    }
    c->refs = 2;   /* the server's and this request's */
    pthread_mutex_lock(&s->mu);
    cached_put(s->cur);
    s->cur = c;
    s->loaded_at = now;
    pthread_mutex_unlock(&s->mu);
    *held = c;
    *r = c->reg;
    return 0;
}

void online__registry_release(struct skiff_online_server *s, struct online__cached *held)
{
    if (!held)
        return;
    pthread_mutex_lock(&s->mu);
    cached_put(held);
    pthread_mutex_unlock(&s->mu);
}

json_t *online__parse_body(const struct skiff_http_req *req, struct skiff_err *err)
{
    json_error_t je;
    json_t *body = json_loadb(req->body, req->body_len, 0, &je);
    if (!body)
        skiff_err_set(err, SKIFF_EINVAL, "request body is not valid JSON: %s (line %d, column "
                      "%d)", je.text, je.line, je.column);
    else if (!json_is_object(body)) {
        skiff_err_set(err, SKIFF_EINVAL, "request body: want a JSON object");
        json_decref(body);
        body = NULL;
    }
    return body;
}

/* ---- POST /get-online-features ---- */

/* A service made from "view:feature" references: one projection per view,
 * in order of first mention. Memory: the struct's own arrays; names borrow
 * from the request and the registry. */
struct adhoc {
    struct skiff_feat_service svc;
    struct skiff_feat_projection proj[ONLINE_MAX_JOIN_KEYS];
    const char *feats[256];
};

static int adhoc_service(const struct skiff_feat_registry *reg, const json_t *refs,
                         struct adhoc *a, struct skiff_err *err)
{
    size_t n = json_array_size(refs), nf = 0;
    char view[256];
    memset(a, 0, sizeof *a);
    a->svc.name = "(features)";
    a->svc.proj = a->proj;
    if (n == 0 || n > 256)
        return skiff_err_set(err, SKIFF_EINVAL, "features: want 1 to 256 \"view:feature\" "
                             "references");
    /* group by view, keeping the first mention's order */
    for (size_t pass = 0; pass < n; pass++) {
        const char *ref = json_string_value(json_array_get(refs, pass)), *colon;
        const struct skiff_feat_view *v;
        size_t p;
        bool known = false;
        if (!ref || !(colon = strchr(ref, ':')) || colon == ref || !colon[1] ||
            (size_t)(colon - ref) >= sizeof view)
            return skiff_err_set(err, SKIFF_EINVAL, "features[%zu]: want \"view:feature\"",
                                 pass);
        snprintf(view, sizeof view, "%.*s", (int)(colon - ref), ref);
        if (!(v = skiff_feat_view_get(reg, view)))
            return skiff_err_set(err, SKIFF_ENOTFOUND, "features[%zu]: no FeatureView '%s'",
                                 pass, view);
        for (size_t k = 0; k < online__view_width(v); k++)
            known |= strcmp(online__view_feature(v, k), colon + 1) == 0;
        if (!known)
            return skiff_err_set(err, SKIFF_ENOTFOUND, "features[%zu]: FeatureView '%s' has "
                                 "no feature '%s'", pass, view, colon + 1);
        for (p = 0; p < a->svc.nproj && a->proj[p].view != v; p++)
            ;
        if (p == a->svc.nproj) {
            if (p == ONLINE_MAX_JOIN_KEYS)
                return skiff_err_set(err, SKIFF_EINVAL, "features: more than %d views",
                                     ONLINE_MAX_JOIN_KEYS);
            a->proj[p].view = v;
            a->svc.nproj++;
        }
    }
    /* each projection's features, contiguous in feats[] */
    for (size_t p = 0; p < a->svc.nproj; p++) {
        a->proj[p].features = &a->feats[nf];
        for (size_t i = 0; i < n; i++) {
            const char *ref = json_string_value(json_array_get(refs, i));
            size_t vl = strlen(a->proj[p].view->name);
            if (strncmp(ref, a->proj[p].view->name, vl) == 0 && ref[vl] == ':') {
                bool dup = false;
                for (size_t j = 0; j < a->proj[p].nfeatures; j++)
                    dup |= strcmp(a->proj[p].features[j], ref + vl + 1) == 0;
                if (!dup) {
                    a->feats[nf++] = ref + vl + 1;
                    a->proj[p].nfeatures++;
                }
            }
        }
    }
    return 0;
}

/* The text of entity cell v (string, integer or null) into buf. */
const char *online__entity_text(const json_t *v, char *buf, size_t n)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return NULL;
}

static int put_value(struct skiff_buf *b, const struct skiff_feat_value *x,
                     enum skiff_online_status st)
{
    char tmp[48];
    if (!x->valid || st != SKIFF_ONLINE_PRESENT)
        return skiff_buf_puts(b, "null");
    switch (x->type) {
    case SKIFF_FEAT_STRING:
        return skiff_buf_json_str(b, x->s ? x->s : "");
    case SKIFF_FEAT_BOOL:
        return skiff_buf_puts(b, x->i ? "true" : "false");
    case SKIFF_FEAT_UNIX_TIMESTAMP:
        return skiff_buf_appendf(b, "\"%s\"", features__time_str(x->i, tmp, sizeof tmp));
    case SKIFF_FEAT_DOUBLE:
    case SKIFF_FEAT_FLOAT:
        if (!isfinite(x->f))
            return skiff_buf_puts(b, "null");
        /* shortest text that reads back exactly; a point keeps it a float */
        snprintf(tmp, sizeof tmp, "%.15g", x->f);
        if (strtod(tmp, NULL) != x->f)
            snprintf(tmp, sizeof tmp, "%.17g", x->f);
        if (!strpbrk(tmp, ".eE"))
            strcat(tmp, ".0");
        return skiff_buf_puts(b, tmp);
    default:
        return skiff_buf_appendf(b, "%lld", (long long)x->i);
    }
}

static int h_get_online(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    struct skiff_online_server *s = req->ctx;
    const struct skiff_feat_registry *reg = NULL;
    struct online__cached *held = NULL;
    const struct skiff_feat_service *svc = NULL;
    struct adhoc *adhoc = NULL;
    json_t *body, *ents, *feats, *col;
    const char *svcname, *key, *knames[ONLINE_MAX_JOIN_KEYS];
    const json_t *kcols[ONLINE_MAX_JOIN_KEYS];
    size_t nk, nrows = 0, w = 0, fetched = 0;
    struct skiff_feat_value *vals = NULL;
    enum skiff_online_status *st = NULL;
    int64_t *ts = NULL, now = skiff_time_now_us();
    bool full;
    struct skiff_buf *b = &resp->body;
    int rc = 0;

    if (!(body = online__parse_body(req, err)))
        return err->code;
    svcname = json_string_value(json_object_get(body, "feature_service"));
    feats = json_object_get(body, "features");
    ents = json_object_get(body, "entities");
    full = json_is_true(json_object_get(body, "full_feature_names"));
    if ((!svcname && !json_is_array(feats)) || (svcname && json_is_array(feats)) ||
        !json_is_object(ents)) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "want {\"feature_service\": NAME or \"features\": "
                           "[\"view:feature\", ...], \"entities\": {JOIN_KEY: [...]}}");
        goto out;
    }
    if ((rc = online__registry_acquire(s, &reg, &held, err)))
        goto out;
    if (svcname) {
        if (!(svc = skiff_feat_service_get(reg, svcname))) {
            rc = skiff_err_set(err, SKIFF_ENOTFOUND, "no FeatureService '%s'", svcname);
            goto out;
        }
    } else {
        if (!(adhoc = malloc(sizeof *adhoc))) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = adhoc_service(reg, feats, adhoc, err)))
            goto out;
        svc = &adhoc->svc;
    }
    nk = online__service_keys(svc, knames, NULL, ONLINE_MAX_JOIN_KEYS);
    /* every join key given, every column given a join key, one length */
    json_object_foreach(ents, key, col) {
        size_t k = 0;
        while (k < nk && strcmp(knames[k], key) != 0)
            k++;
        if (k == nk) {
            char list[512] = "";
            for (size_t j = 0; j < nk; j++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'",
                         j ? ", " : "", knames[j]);
            rc = skiff_err_set(err, SKIFF_EINVAL, "entities.%s: not a join key of the features "
                               "asked for (join keys: %s)", key, list);
            goto out;
        }
        if (!json_is_array(col)) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "entities.%s: want an array", key);
            goto out;
        }
    }
    for (size_t k = 0; k < nk; k++) {
        kcols[k] = json_object_get(ents, knames[k]);
        if (!kcols[k]) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "entities: missing join key '%s'", knames[k]);
            goto out;
        }
        if (k == 0)
            nrows = json_array_size(kcols[k]);
        else if (json_array_size(kcols[k]) != nrows) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "entities.%s has %zu values, entities.%s %zu",
                               knames[k], json_array_size(kcols[k]), knames[0], nrows);
            goto out;
        }
    }
    if (nrows > ONLINE_MAX_ROWS) {
        rc = skiff_err_set(err, SKIFF_ETOOBIG, "more than %d entity rows", ONLINE_MAX_ROWS);
        goto out;
    }
    w = skiff_online_service_width(svc);
    if (!(vals = malloc((w * nrows + 1) * sizeof *vals)) ||
        !(st = malloc((w * nrows + 1) * sizeof *st)) || !(ts = malloc((w * nrows + 1) * sizeof *ts))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    /* metadata: the join keys in the request's order, then the features */
    skiff_buf_puts(b, "{\"metadata\":{\"feature_names\":[");
    {
        bool first = true;
        json_object_foreach(ents, key, col) {
            if (!first)
                skiff_buf_putc(b, ',');
            first = false;
            skiff_buf_json_str(b, key);
        }
        for (size_t i = 0; i < w; i++) {
            char name[600];
            if (full)
                snprintf(name, sizeof name, "%s__%s", skiff_online_service_view(svc, i),
                         skiff_online_service_feature(svc, i));
            else
                snprintf(name, sizeof name, "%s", skiff_online_service_feature(svc, i));
            if (!first)
                skiff_buf_putc(b, ',');
            first = false;
            skiff_buf_json_str(b, name);
        }
    }
    skiff_buf_puts(b, "]},\"results\":[");
    {
        bool first = true;
        json_object_foreach(ents, key, col) {
            size_t i;
            json_t *x;
            if (!first)
                skiff_buf_putc(b, ',');
            first = false;
            skiff_buf_puts(b, "{\"values\":");
            {
                char *t = json_dumps(col, JSON_COMPACT | JSON_ENCODE_ANY);
                if (!t) {
                    rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
                    goto out;
                }
                skiff_buf_puts(b, t);
                free(t);
            }
            skiff_buf_puts(b, ",\"statuses\":[");
            json_array_foreach(col, i, x)
                skiff_buf_puts(b, i ? ",\"PRESENT\"" : "\"PRESENT\"");
            skiff_buf_puts(b, "],\"event_timestamps\":[");
            json_array_foreach(col, i, x)
                skiff_buf_puts(b, i ? ",\"1970-01-01T00:00:00Z\"" : "\"1970-01-01T00:00:00Z\"");
            skiff_buf_puts(b, "]}");
        }
        /* the rows: all features of one row read together (one lookup per view) */
        for (size_t r = 0; r < nrows; r++) {
            char tb[ONLINE_MAX_JOIN_KEYS][32];
            const char *kv[ONLINE_MAX_JOIN_KEYS];
            struct online__row row;
            for (size_t k = 0; k < nk; k++)
                kv[k] = online__entity_text(json_array_get(kcols[k], r), tb[k], sizeof tb[k]);
            if ((rc = online__get_row(s->o, svc, kv, nk, now, vals + r * w, st + r * w,
                                      ts + r * w, &row, err)))
                goto out;
            /* strings borrow from the records, which are released before the
             * columns are written: copies (freed at the end) */
            for (size_t i = 0; i < w; i++) {
                struct skiff_feat_value *x = &vals[r * w + i];
                if (x->type == SKIFF_FEAT_STRING && x->s && !(x->s = strdup(x->s)) && rc == 0)
                    rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            }
            fetched = r + 1;
            online__row_release(s->o, &row);
            if (rc)
                goto out;
        }
        for (size_t i = 0; i < w; i++) {
            char tsb[48];
            if (!first)
                skiff_buf_putc(b, ',');
            first = false;
            skiff_buf_puts(b, "{\"values\":[");
            for (size_t r = 0; r < nrows; r++) {
                if (r)
                    skiff_buf_putc(b, ',');
                put_value(b, &vals[r * w + i], st[r * w + i]);
            }
            skiff_buf_puts(b, "],\"statuses\":[");
            for (size_t r = 0; r < nrows; r++)
                skiff_buf_appendf(b, "%s\"%s\"", r ? "," : "",
                                  skiff_online_status_name(st[r * w + i]));
            skiff_buf_puts(b, "],\"event_timestamps\":[");
            for (size_t r = 0; r < nrows; r++)
                skiff_buf_appendf(b, "%s\"%s\"", r ? "," : "",
                                  features__time_str(ts[r * w + i], tsb, sizeof tsb));
            skiff_buf_puts(b, "]}");
        }
    }
    if (skiff_buf_puts(b, "]}")) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    resp->status = 200;
    resp->content_type = "application/json";
out:
    for (size_t i = 0; i < w * fetched; i++)
        if (vals[i].type == SKIFF_FEAT_STRING)
            free((char *)vals[i].s);
    if (rc)
        skiff_buf_reset(b);
    free(vals);
    free(st);
    free(ts);
    free(adhoc);
    online__registry_release(s, held);
    json_decref(body);
    return rc;
}

/* ---- POST /materialize, /materialize-incremental ---- */

static int parse_ts(const json_t *body, const char *field, int64_t *out, struct skiff_err *err)
{
    const json_t *v = json_object_get(body, field);
    char num[32];
    const char *s = json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
        s = num;
    }
    if (!s)
        return skiff_err_set(err, SKIFF_EINVAL, "%s: want a timestamp (RFC 3339 or epoch "
                             "seconds)", field);
    if (skiff_time_parse(s, out, err))
        return skiff_err_prefix(err, "%s", field);
    return 0;
}

static int do_materialize(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err, bool incremental)
{
    struct skiff_online_server *s = req->ctx;
    const struct skiff_feat_registry *reg = NULL;
    struct online__cached *held = NULL;
    struct skiff_online_materialize_opts mo = {0};
    const char *views[256];
    json_t *body, *fv, *x;
    int64_t start = 0, end = 0;
    size_t i;
    int rc = 0;

    if (!(body = online__parse_body(req, err)))
        return err->code;
    fv = json_object_get(body, "feature_views");
    if ((!incremental && (rc = parse_ts(body, "start_ts", &start, err))) ||
        (rc = parse_ts(body, "end_ts", &end, err)))
        goto out;
    if (fv && !json_is_null(fv)) {
        if (!json_is_array(fv) || json_array_size(fv) > 256) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "feature_views: want an array of names");
            goto out;
        }
        json_array_foreach(fv, i, x) {
            if (!(views[i] = json_string_value(x))) {
                rc = skiff_err_set(err, SKIFF_EINVAL, "feature_views[%zu]: want a name", i);
                goto out;
            }
        }
        mo.views = views;
        mo.nviews = json_array_size(fv);
    }
    mo.incremental = incremental;
    if ((rc = online__registry_acquire(s, &reg, &held, err)) ||
        (rc = skiff_online_materialize(s->o, reg, start, end, &mo, err)))
        goto out;
    rc = skiff_http_reply_json(resp, 200, "null") ? skiff_err_set(err, SKIFF_ENOMEM, "out of "
                                                                  "memory") : 0;
out:
    online__registry_release(s, held);
    json_decref(body);
    return rc;
}

static int h_materialize(struct skiff_http_req *req, struct skiff_http_resp *resp,
                         struct skiff_err *err)
{
    return do_materialize(req, resp, err, false);
}

static int h_materialize_incremental(struct skiff_http_req *req, struct skiff_http_resp *resp,
                                     struct skiff_err *err)
{
    return do_materialize(req, resp, err, true);
}

static int h_health(struct skiff_http_req *req, struct skiff_http_resp *resp,
                    struct skiff_err *err)
{
    return skiff_http_reply_json(resp, 200, "{\"status\":\"ok\"}");
}

static const struct skiff_route online_routes[] = {
    {"POST", "/get-online-features", SCOPE_READ, h_get_online, 1u << 20},
    {"POST", "/push", SCOPE_WRITE, online__h_push, 8u << 20},
    {"POST", "/write-to-online-store", SCOPE_WRITE, online__h_write_online, 8u << 20},
    {"POST", "/materialize", SCOPE_WRITE, h_materialize, 1u << 16},
    {"POST", "/materialize-incremental", SCOPE_WRITE, h_materialize_incremental, 1u << 16},
    {"GET", "/health", SKIFF_SCOPE_OPEN, h_health, 0},
};

const struct skiff_route *skiff_online_routes(size_t *n)
{
    *n = sizeof online_routes / sizeof *online_routes;
    return online_routes;
}
