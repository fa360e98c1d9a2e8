/* The feature store's HTTP API (include/skiff/features.h,
 * skiff_feat_routes):
 *
 *   POST /api/v1/features/historical        scope features:read
 *   {"feature_service": "fraud_detection_v3",
 *    "entities": {"user_id": ["u1", "u2"],
 *                 "event_timestamp": ["2026-11-27T09:00:00Z", 1795770000]},
 *    "full_feature_names": false}
 *   -> 200 {"user_id": ["u1", "u2"],
 *           "event_timestamp": ["2026-11-27T09:00:00Z", 1795770000],
 *           "tx_count_1h": [8, null], ...}
 *
 * The definitions are the stored Entity, DataSource, FeatureView and
 * FeatureService resources, read on each request (so an apply is seen by
 * the next request, and two platforms on one store agree), and the same
 * engine as `skiff features historical` computes the features. The
 * response is columnar: the entity columns as they were sent, then one
 * column per feature, one value per entity row, in the rows' order; null
 * where nothing was found. Timestamps come out in RFC 3339 UTC, booleans as
 * true/false, a NaN as null.
 */
#include "features_int.h"

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/http.h"
#include "skiff/resource.h"
#include "skiff/time.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCOPE_READ "features:read"
#define MAX_BODY (64u << 20)
#define MAX_ROWS 10000000u

int skiff_feat_stored_objects(struct skiff_store *store, json_t **out, struct skiff_err *err)
{
    static const char *const kinds[] = {"Entity", "DataSource", "FeatureView", "FeatureService"};
    json_t *all = json_array();
    int rc = 0;

    if (!all)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds && rc == 0; i++) {
        const struct skiff_kind *k = skiff_kind_lookup(kinds[i]);
        json_t *list = NULL;
        if (!k) {
            rc = skiff_err_set(err, SKIFF_EINTERNAL, "kind '%s' is not registered", kinds[i]);
            break;
        }
        if ((rc = skiff_resource_list(store, k, &list, err)) == 0 &&
            json_array_extend(all, list) != 0)
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        json_decref(list);
    }
    if (rc)
        json_decref(all);
    else
        *out = all;
    return rc;
}

/* One JSON cell of a typed entity column. */
static int set_entity_cell(struct skiff_feat_table *t, size_t col, size_t row, const json_t *v,
                           struct skiff_err *err)
{
    struct skiff_feat_column *c = &t->cols[col];
    char num[32];
    const char *s = json_string_value(v);

    if (json_is_null(v))
        return 0;
    if (c->type == SKIFF_FEAT_STRING) {
        if (json_is_integer(v)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            s = num;
        }
        if (!s)
            goto bad;
        return skiff_feat_table_set_str(t, row, col, s, strlen(s), err);
    }
    if (c->type == SKIFF_FEAT_UNIX_TIMESTAMP) {
        if (json_is_integer(v)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            s = num;
        }
        if (!s || skiff_time_parse(s, &c->i64[row], NULL))
            goto bad;
    } else if (json_is_integer(v) && c->i64) {
        c->i64[row] = json_integer_value(v);
        if (c->type == SKIFF_FEAT_INT32 && (c->i64[row] < INT32_MIN || c->i64[row] > INT32_MAX))
            goto bad;
    } else if (json_is_boolean(v) && c->type == SKIFF_FEAT_BOOL) {
        c->i64[row] = json_is_true(v);
    } else if (json_is_number(v) && c->f64) {
        c->f64[row] = json_number_value(v);
    } else {
        goto bad;
    }
    c->valid[row] = 1;
    return 0;
bad:
    return skiff_err_set(err, SKIFF_EINVAL, "entities.%s[%zu]: not a valid %s", c->name, row,
                         skiff_feat_type_name(c->type));
}

/* The entity table the engine reads: event_timestamp and the service's
 * join keys, typed. Other columns are only echoed back. */
static int entity_table(const struct skiff_feat_service *svc, const json_t *ents,
                        struct skiff_feat_table **out, struct skiff_err *err)
{
    const char *names[64];
    enum skiff_feat_type types[64];
    size_t n = 0, nrows;
    const json_t *ts = json_object_get(ents, "event_timestamp");
    int rc;

    *out = NULL;
    if (!json_is_array(ts))
        return skiff_err_set(err, SKIFF_EINVAL, "entities.event_timestamp: want an array");
    nrows = json_array_size(ts);
    if (nrows > MAX_ROWS)
        return skiff_err_set(err, SKIFF_ETOOBIG, "more than %u entity rows", MAX_ROWS);
    names[n] = "event_timestamp";
    types[n++] = SKIFF_FEAT_UNIX_TIMESTAMP;
    for (size_t p = 0; p < svc->nproj; p++)
        for (size_t i = 0; i < svc->proj[p].view->nentities; i++) {
            const struct skiff_feat_entity *e = svc->proj[p].view->entities[i];
            size_t j = 0;
            while (j < n && strcmp(names[j], e->join_key) != 0)
                j++;
            if (j < n)
                continue;
            if (n == sizeof names / sizeof *names)
                return skiff_err_set(err, SKIFF_EINVAL, "more than 63 join keys");
            names[n] = e->join_key;
            types[n++] = e->type;
        }
    for (size_t i = 0; i < n; i++) {
        const json_t *col = json_object_get(ents, names[i]);
        if (!json_is_array(col))
            return skiff_err_set(err, SKIFF_EINVAL, "entities.%s: want an array (a join key of "
                                 "feature service '%s')", names[i], svc->name);
        if (json_array_size(col) != nrows)
            return skiff_err_set(err, SKIFF_EINVAL, "entities.%s has %zu values, "
                                 "entities.event_timestamp %zu", names[i], json_array_size(col),
                                 nrows);
    }
    if ((rc = skiff_feat_table_new("entities", names, types, n, out, err)) ||
        (rc = skiff_feat_table_grow(*out, nrows, err)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        const json_t *col = json_object_get(ents, names[i]);
        for (size_t r = 0; r < nrows; r++)
            if ((rc = set_entity_cell(*out, i, r, json_array_get(col, r), err)))
                goto out;
        if (i == 0)
            for (size_t r = 0; r < nrows; r++)
                if (!(*out)->cols[0].valid[r]) {
                    rc = skiff_err_set(err, SKIFF_EINVAL, "entities.event_timestamp[%zu] is "
                                       "null", r);
                    goto out;
                }
    }
out:
    if (rc) {
        skiff_feat_table_free(*out);
        *out = NULL;
    }
    return rc;
}

/* One feature column as a JSON array. */
static json_t *column_json(const struct skiff_feat_column *c, size_t nrows)
{
    json_t *a = json_array();
    char ts[40];
    for (size_t r = 0; a && r < nrows; r++) {
        json_t *v;
        if (!c->valid[r])
            v = json_null();
        else if (c->type == SKIFF_FEAT_STRING)
            v = json_string(c->pool + c->off[r]);
        else if (c->type == SKIFF_FEAT_BOOL)
            v = json_boolean(c->i64[r]);
        else if (c->type == SKIFF_FEAT_UNIX_TIMESTAMP)
            v = json_string(features__time_str(c->i64[r], ts, sizeof ts));
        else if (c->f64)
            v = isfinite(c->f64[r]) ? json_real(c->f64[r]) : json_null();
        else
            v = json_integer(c->i64[r]);
        if (!v || json_array_append_new(a, v)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static int h_historical(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    struct skiff_store *store = req->ctx;
    struct skiff_feat_historical_opts o = {0};
    struct skiff_feat_registry *reg = NULL;
    struct skiff_feat_table *ent = NULL, *feat = NULL;
    const struct skiff_feat_service *svc;
    json_t *body, *objs = NULL, *out = NULL, *ents, *v;
    const char *name, *key;
    char cwd[4096];
    json_error_t je;
    char *text = NULL;
    int rc = 0;

    if (!(body = json_loadb(req->body, req->body_len, 0, &je)))
        return skiff_err_set(err, SKIFF_EINVAL, "request body is not valid JSON: %s (line %d, "
                             "column %d)", je.text, je.line, je.column);
    name = json_string_value(json_object_get(body, "feature_service"));
    ents = json_object_get(body, "entities");
    o.full_feature_names = json_is_true(json_object_get(body, "full_feature_names"));
    if (!name || !json_is_object(ents)) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "want {\"feature_service\": NAME, \"entities\": "
                           "{\"event_timestamp\": [...], JOIN_KEY: [...]}}");
        goto out;
    }
    /* stored relative paths resolve against the platform's working folder */
    if (!getcwd(cwd, sizeof cwd))
        snprintf(cwd, sizeof cwd, ".");
    if ((rc = skiff_feat_stored_objects(store, &objs, err)) ||
        (rc = skiff_feat_registry_from_objects(objs, cwd, &reg, err)))
        goto out;
    if (!(svc = skiff_feat_service_get(reg, name))) {
        rc = skiff_err_set(err, SKIFF_ENOTFOUND, "no FeatureService '%s'", name);
        goto out;
    }
    if ((rc = entity_table(svc, ents, &ent, err)) ||
        (rc = skiff_feat_historical(svc, ent, &o, &feat, NULL, err)))
        goto out;
    if (!(out = json_object())) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    /* the entity columns as sent, then the features */
    json_object_foreach(ents, key, v)
        if (json_object_set(out, key, v)) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
    for (size_t i = 0; i < feat->ncols; i++) {
        json_t *col = column_json(&feat->cols[i], feat->nrows);
        if (!col || json_object_set_new(out, feat->cols[i].name, col)) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (!(text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    if (skiff_http_reply_json(resp, 200, text))
        rc = skiff_err_set(err, SKIFF_ENOMEM, "cannot build the response");
out:
    free(text);
    json_decref(out);
    skiff_feat_table_free(feat);
    skiff_feat_table_free(ent);
    skiff_feat_registry_free(reg);
    json_decref(objs);
    json_decref(body);
    return rc;
}

static const struct skiff_route feature_routes[] = {
    {"POST", "/api/v1/features/historical", SCOPE_READ, h_historical, MAX_BODY},
};

const struct skiff_route *skiff_feat_routes(size_t *n)
{
    *n = sizeof feature_routes / sizeof *feature_routes;
    return feature_routes;
}
