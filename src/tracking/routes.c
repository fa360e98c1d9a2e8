/* The MLflow tracking REST API over the module's tables (tracking.c).
 *
 * Every endpoint is served under /api/2.0/mlflow/ and /ajax-api/2.0/mlflow/.
 * A handler reads its arguments (query parameters for GET, the JSON body
 * otherwise: tracking__args()), checks them as MLflow's handlers.py does, runs its
 * writes in one skiff_store_tx (so a check and the write it guards see the
 * same state), and answers with protobuf-JSON field names: int64 as JSON
 * numbers, IDs as strings, empty lists left out.
 */
#include "tracking/tracking_int.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "skiff/arena.h"
#include "skiff/err.h"
#include "skiff/time.h"

#define SCOPE_READ "tracking:read"
#define SCOPE_WRITE "tracking:write"
#define BODY_MAX (1 << 20)
#define BATCH_BODY_MAX (16 << 20)

/* Limits of mlflow/utils/validation.py */
#define MAX_KEY 250
#define MAX_PARAM_VALUE 6000
#define MAX_TAG_VALUE 8000
#define MAX_EXP_NAME 500
#define MAX_BATCH_METRICS 1000
#define MAX_BATCH_PARAMS 100
#define MAX_BATCH_TAGS 100
#define MAX_BATCH_TOTAL 1000
#define MAX_RESULTS 50000
#define DEFAULT_RESULTS 1000

#define MISSING TRACKING__MISSING

struct skiff_store_val tracking__v_text(const char *s)
{
    return (struct skiff_store_val){.type = SKIFF_VAL_TEXT, .s = s, .len = strlen(s)};
}

struct skiff_store_val tracking__v_int(int64_t i)
{
    return (struct skiff_store_val){.type = SKIFF_VAL_INT, .i = i};
}

int64_t tracking__now_ms(void)
{
    return skiff_time_now_us() / 1000;
}

/* ---- request arguments ---- */

/* The request's fields as one JSON object (caller decrefs): for GET the
 * query parameters named in `keys` (strings), otherwise the body. An empty
 * body is {}; a body that is a JSON string holding JSON (double-encoded, as
 * some clients send) is decoded once more. */
int tracking__args(struct skiff_http_req *req, const char *const *keys, json_t **out,
                struct skiff_err *err)
{
    json_error_t je;
    json_t *v;

    *out = NULL;
    if (strcmp(req->method, "GET") == 0) {
        if (!(v = json_object()))
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        for (size_t i = 0; keys && keys[i]; i++) {
            const char *q = skiff_http_query(req, keys[i]);
            if (q && json_object_set_new(v, keys[i], json_string(q)) != 0) {
                json_decref(v);
                return skiff_err_set(err, SKIFF_EINVAL, "query parameter '%s' is not UTF-8",
                                     keys[i]);
            }
        }
        *out = v;
        return 0;
    }
    if (req->body_len == 0) {
        *out = json_object();
        return *out ? 0 : skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    v = json_loadb(req->body, req->body_len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
    if (v && json_is_string(v)) {
        json_t *inner = json_loadb(json_string_value(v), json_string_length(v), 0, &je);
        json_decref(v);
        v = inner;
    }
    if (!v)
        return skiff_err_set(err, SKIFF_EPARSE, "malformed JSON in the request body: %s "
                             "(line %d, column %d)", je.text, je.line, je.column);
    if (!json_is_object(v)) {
        json_decref(v);
        return skiff_err_set(err, SKIFF_EPARSE, "the request body must be a JSON object");
    }
    *out = v;
    return 0;
}

int tracking__bad_value(const char *key, json_t *v, struct skiff_err *err)
{
    char *s = v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    int rc = skiff_err_set(err, SKIFF_EINVAL, "Invalid value %.200s for parameter '%s' supplied",
                           s ? s : "null", key);
    free(s);
    return rc;
}

/* A string field; integers are turned into their decimal text (experiment_id
 * may come as a number). *out is NULL when absent and not required. Arena
 * memory or borrowed from `o`. */
int tracking__get_str(struct skiff_arena *a, json_t *o, const char *key, bool required,
                   const char **out, struct skiff_err *err)
{
    json_t *v = json_object_get(o, key);

    *out = NULL;
    if (!v || json_is_null(v))
        return required ? skiff_err_set(err, SKIFF_EINVAL, MISSING, key) : 0;
    if (json_is_string(v)) {
        if (strlen(json_string_value(v)) != json_string_length(v))
            return skiff_err_set(err, SKIFF_EINVAL, "parameter '%s' holds a NUL byte", key);
        *out = json_string_value(v);
    } else if (json_is_integer(v)) {
        *out = skiff_arena_sprintf(a, "%lld", (long long)json_integer_value(v));
        if (!*out)
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    } else {
        return tracking__bad_value(key, v, err);
    }
    if (required && !**out)
        return skiff_err_set(err, SKIFF_EINVAL, MISSING, key);
    return 0;
}

bool tracking__parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;
    if (!*s)
        return false;
    v = strtoll(s, &end, 10);
    if (*end)
        return false;
    *out = v;
    return true;
}

/* An int64 field: a JSON integer or its decimal text (GET, proto-JSON). */
int tracking__get_int(json_t *o, const char *key, bool required, int64_t def, int64_t *out,
                   bool *present, struct skiff_err *err)
{
    json_t *v = json_object_get(o, key);

    *out = def;
    if (present)
        *present = false;
    if (!v || json_is_null(v))
        return required ? skiff_err_set(err, SKIFF_EINVAL, MISSING, key) : 0;
    if (json_is_integer(v))
        *out = json_integer_value(v);
    else if (!(json_is_string(v) && tracking__parse_i64(json_string_value(v), out)))
        return tracking__bad_value(key, v, err);
    if (present)
        *present = true;
    return 0;
}

/* A double: a JSON number, or "NaN", "Infinity", "-Infinity" (proto-JSON),
 * or a number's text. */
static int get_double(json_t *o, const char *key, bool required, double *out,
                      struct skiff_err *err)
{
    json_t *v = json_object_get(o, key);

    *out = 0;
    if (!v || json_is_null(v))
        return required ? skiff_err_set(err, SKIFF_EINVAL, MISSING, key) : 0;
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        if (strcmp(s, "NaN") == 0) { *out = NAN; return 0; }
        if (strcmp(s, "Infinity") == 0) { *out = INFINITY; return 0; }
        if (strcmp(s, "-Infinity") == 0) { *out = -INFINITY; return 0; }
        *out = strtod(s, &end);
        if (*s && !*end)
            return 0;
    }
    return tracking__bad_value(key, v, err);
}

/* run_id, or the deprecated run_uuid the client also sends */
static int get_run_id(struct skiff_arena *a, json_t *o, const char **out, struct skiff_err *err)
{
    int rc;
    if ((rc = tracking__get_str(a, o, "run_id", false, out, err)) || *out)
        return rc;
    if ((rc = tracking__get_str(a, o, "run_uuid", false, out, err)) || *out)
        return rc;
    return skiff_err_set(err, SKIFF_EINVAL, MISSING, "run_id");
}

int tracking__check_key(const char *what, const char *key, struct skiff_err *err)
{
    size_t n = strlen(key);
    if (n == 0)
        return skiff_err_set(err, SKIFF_EINVAL, MISSING, "key");
    if (n > MAX_KEY)
        return skiff_err_set(err, SKIFF_EINVAL, "%s name '%.40s...' had length %zu, which "
                             "exceeded length limit of %d", what, key, n, MAX_KEY);
    return 0;
}

int tracking__check_value(const char *what, const char *key, const char *value, size_t max,
                       struct skiff_err *err)
{
    size_t n = strlen(value);
    if (n > max)
        return skiff_err_set(err, SKIFF_EINVAL, "%s '%s' had value length %zu, which exceeded "
                             "length limit of %zu", what, key, n, max);
    return 0;
}

/* ---- responses ---- */

/* A double in its shortest form that reads back as the same value (as
 * Python's repr writes it: 0.95, not jansson's 17-digit 0.94999999999999996),
 * with ".0" kept on whole numbers so that it stays a float for the client.
 * Worked example: 0.1 + 0.2 needs 17 digits (0.30000000000000004), 0.95 only
 * 15. Finite values only (json_double turns the others into strings). */
static int emit_real(struct skiff_buf *b, double d)
{
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    if (!strpbrk(tmp, ".eE"))
        return skiff_buf_appendf(b, "%s.0", tmp);
    return skiff_buf_puts(b, tmp);
}

/* Writes `v` as compact JSON, keys in insertion order. */
static int emit_json(struct skiff_buf *b, json_t *v)
{
    const char *key;
    json_t *x;
    size_t i;
    int rc = 0, first = 1;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        rc = skiff_buf_putc(b, '{');
        json_object_foreach(v, key, x) {
            if (rc || (!first && (rc = skiff_buf_putc(b, ','))) ||
                (rc = skiff_buf_json_str(b, key)) || (rc = skiff_buf_putc(b, ':')) ||
                (rc = emit_json(b, x)))
                return rc ? rc : SKIFF_ENOMEM;
            first = 0;
        }
        return rc ? rc : skiff_buf_putc(b, '}');
    case JSON_ARRAY:
        rc = skiff_buf_putc(b, '[');
        json_array_foreach(v, i, x) {
            if (rc || (i && (rc = skiff_buf_putc(b, ','))) || (rc = emit_json(b, x)))
                return rc ? rc : SKIFF_ENOMEM;
        }
        return rc ? rc : skiff_buf_putc(b, ']');
    case JSON_STRING:
        /* values come from jansson-checked input: valid UTF-8, no NUL */
        return skiff_buf_json_str(b, json_string_value(v));
    case JSON_INTEGER:
        return skiff_buf_appendf(b, "%lld", (long long)json_integer_value(v));
    case JSON_REAL:
        return emit_real(b, json_real_value(v));
    case JSON_TRUE:
        return skiff_buf_puts(b, "true");
    case JSON_FALSE:
        return skiff_buf_puts(b, "false");
    default:
        return skiff_buf_puts(b, "null");
    }
}

/* Sends `v` (taken over) as the 200 body. */
int tracking__reply(struct skiff_http_resp *resp, json_t *v, struct skiff_err *err)
{
    int rc;

    if (!v)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory building the response");
    resp->status = 200;
    resp->content_type = "application/json";
    skiff_buf_reset(&resp->body);
    rc = emit_json(&resp->body, v);
    json_decref(v);
    return rc ? skiff_err_set(err, rc, "cannot build the response") : 0;
}

int tracking__reply_empty(struct skiff_http_resp *resp, struct skiff_err *err)
{
    return skiff_http_reply_json(resp, 200, "{}") ? skiff_err_set(err, SKIFF_ENOMEM,
                                                                   "out of memory") : 0;
}

/* A double as proto-JSON: non-finite values are strings. */
static json_t *json_double(double d)
{
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

/* Rows into an array of objects with the column names `names`. NULL
 * columns are left out (unset proto fields), except a metric's "value",
 * where NULL is how NaN is stored. */
struct collect {
    const char *const *names;
    json_t *arr;
};

static int collect_row(void *ctx, const struct skiff_store_val *cols, size_t ncols,
                       struct skiff_err *err)
{
    struct collect *c = ctx;
    json_t *o = json_object();

    if (!o)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    for (size_t i = 0; i < ncols && c->names[i]; i++) {
        json_t *v = NULL;
        switch (cols[i].type) {
        case SKIFF_VAL_NULL:
            if (strcmp(c->names[i], "value") == 0)
                v = json_string("NaN");
            break;
        case SKIFF_VAL_INT:
            v = strcmp(c->names[i], "value") == 0 ? json_real((double)cols[i].i)
                                                  : json_integer(cols[i].i);
            break;
        case SKIFF_VAL_REAL: v = json_double(cols[i].d); break;
        case SKIFF_VAL_TEXT: v = json_stringn(cols[i].s, cols[i].len); break;
        }
        if (v)
            json_object_set_new(o, c->names[i], v);
    }
    if (json_array_append_new(c->arr, o) != 0)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    return 0;
}

/* Runs `sql` and returns its rows as a new array (caller decrefs). */
int tracking__rows(struct skiff_store *s, const char *sql, const struct skiff_store_val *p,
                   size_t n, const char *const *names, json_t **out, struct skiff_err *err)
{
    struct collect c = {names, json_array()};
    int rc;

    *out = NULL;
    if (!c.arr)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if ((rc = skiff_store_query(s, sql, p, n, collect_row, &c, err))) {
        json_decref(c.arr);
        return rc;
    }
    *out = c.arr;
    return 0;
}

/* Sets o[key] = arr when arr is not empty (proto-JSON leaves empty lists
 * out); takes arr over. */
void tracking__set_list(json_t *o, const char *key, json_t *arr)
{
    if (json_array_size(arr) > 0)
        json_object_set_new(o, key, arr);
    else
        json_decref(arr);
}

int tracking__reply_page(struct skiff_http_resp *resp, const char *key, json_t *list, bool more,
                         int64_t next_offset, struct skiff_err *err)
{
    json_t *o = json_object();
    if (o && more) {
        char tok[64];
        tracking__token_encode(next_offset, tok, sizeof tok);
        json_object_set_new(o, "next_page_token", json_string(tok));
    }
    if (o)
        tracking__set_list(o, key, list);
    else
        json_decref(list);
    return tracking__reply(resp, o, err);
}

const char *const tracking__kv_names[] = {"key", "value", NULL};
static const char *const metric_names[] = {"key", "value", "timestamp", "step", NULL};

/* ---- experiments ---- */

bool tracking__all_digits(const char *s)
{
    if (!*s || strlen(s) > 18)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* Loads experiment `id` (decimal text) as an Experiment object (caller
 * decrefs). SKIFF_ENOTFOUND with MLflow's message when absent. */
static int exp_load(struct skiff_store *s, const char *id, json_t **out, struct skiff_err *err)
{
    static const char *const names[] = {"experiment_id", "name", "artifact_location",
                                        "lifecycle_stage", "last_update_time", "creation_time",
                                        NULL};
    struct skiff_store_val p;
    json_t *arr = NULL, *tags = NULL;
    int64_t n;
    int rc;

    *out = NULL;
    if (!tracking__all_digits(id) || !tracking__parse_i64(id, &n))
        return skiff_err_set(err, SKIFF_ENOTFOUND, "No Experiment with id=%s exists", id);
    p = tracking__v_int(n);
    if ((rc = tracking__rows(s, "SELECT CAST(experiment_id AS TEXT), name, artifact_location,"
                   " lifecycle_stage, last_update_time, creation_time FROM tracking_experiments"
                   " WHERE experiment_id = ?", &p, 1, names, &arr, err)))
        return rc;
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        return skiff_err_set(err, SKIFF_ENOTFOUND, "No Experiment with id=%s exists", id);
    }
    if ((rc = tracking__rows(
             s,
             "SELECT key, value FROM tracking_experiment_tags WHERE experiment_id = ?"
             " ORDER BY key",
             &p, 1, tracking__kv_names, &tags, err))) {
        json_decref(arr);
        return rc;
    }
    *out = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    tracking__set_list(*out, "tags", tags);
    return 0;
}

/* First column of the first row as text into ctx (a char[64]); "" if none */
int tracking__first_text(void *ctx, const struct skiff_store_val *cols, size_t ncols,
                      struct skiff_err *err)
{
    char *out = ctx;
    if (ncols && cols[0].type == SKIFF_VAL_TEXT && !out[0])
        snprintf(out, 64, "%.*s", (int)cols[0].len, cols[0].s);
    else if (ncols && cols[0].type == SKIFF_VAL_INT && !out[0])
        snprintf(out, 64, "%lld", (long long)cols[0].i);
    return 0;
}

static int h_exp_get(struct skiff_http_req *req, struct skiff_http_resp *resp,
                     struct skiff_err *err)
{
    static const char *const keys[] = {"experiment_id", NULL};
    struct skiff_tracking *t = req->ctx;
    json_t *a = NULL, *e = NULL;
    const char *id;
    int rc;

    if ((rc = tracking__args(req, keys, &a, err)) ||
        (rc = tracking__get_str(req->arena, a, "experiment_id", true, &id, err)) ||
        (rc = exp_load(t->store, id, &e, err)))
        goto out;
    rc = tracking__reply(resp, json_pack("{s:o}", "experiment", e), err);
    e = NULL;
out:
    json_decref(a);
    json_decref(e);
    return rc;
}

static int h_exp_get_by_name(struct skiff_http_req *req, struct skiff_http_resp *resp,
                             struct skiff_err *err)
{
    static const char *const keys[] = {"experiment_name", NULL};
    struct skiff_tracking *t = req->ctx;
    json_t *a = NULL, *e = NULL;
    const char *name;
    char id[64] = "";
    struct skiff_store_val p;
    int rc;

    if ((rc = tracking__args(req, keys, &a, err)) ||
        (rc = tracking__get_str(req->arena, a, "experiment_name", true, &name, err)))
        goto out;
    p = tracking__v_text(name);
    if ((rc = skiff_store_query(t->store, "SELECT experiment_id FROM tracking_experiments"
                                " WHERE name = ?", &p, 1, tracking__first_text, id, err)))
        goto out;
    if (!id[0]) {
        rc = skiff_err_set(err, SKIFF_ENOTFOUND, "Could not find experiment with name '%s'", name);
        goto out;
    }
    if ((rc = exp_load(t->store, id, &e, err)))
        goto out;
    rc = tracking__reply(resp, json_pack("{s:o}", "experiment", e), err);
    e = NULL;
out:
    json_decref(a);
    json_decref(e);
    return rc;
}

struct exp_create {
    const char *name, *artifact_location;
    json_t *tags;
    int64_t id;
};

static int tx_exp_create(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct exp_create *c = ctx;
    struct skiff_store_val p[6];
    char found[64] = "", loc[64];
    int64_t now = tracking__now_ms();
    size_t i;
    json_t *tag;
    int rc;

    p[0] = tracking__v_text(c->name);
    if ((rc = skiff_store_query(s, "SELECT experiment_id FROM tracking_experiments WHERE name = ?",
                                p, 1, tracking__first_text, found, err)))
        return rc;
    if (found[0])
        return skiff_err_set(err, SKIFF_EEXIST, "Experiment(name=%s) already exists.", c->name);
    found[0] = '\0';
    if ((rc = skiff_store_query(s,
                                "SELECT COALESCE(MAX(experiment_id), -1) + 1"
                                " FROM tracking_experiments",
                                NULL, 0, tracking__first_text, found, err)))
        return rc;
    tracking__parse_i64(found, &c->id);
    snprintf(loc, sizeof loc, "mlflow-artifacts:/%lld", (long long)c->id);
    p[0] = tracking__v_int(c->id);
    p[1] = tracking__v_text(c->name);
    p[2] = tracking__v_text(c->artifact_location ? c->artifact_location : loc);
    p[3] = tracking__v_int(now);
    p[4] = tracking__v_int(now);
    if ((rc = skiff_store_exec(s, "INSERT INTO tracking_experiments (experiment_id, name,"
                               " artifact_location, lifecycle_stage, creation_time,"
                               " last_update_time) VALUES (?, ?, ?, 'active', ?, ?)", p, 5, NULL,
                               err)))
        return rc;
    json_array_foreach(c->tags, i, tag) {
        p[1] = tracking__v_text(json_string_value(json_object_get(tag, "key")));
        p[2] = tracking__v_text(json_string_value(json_object_get(tag, "value")));
        if ((rc = skiff_store_exec(s, "INSERT INTO tracking_experiment_tags (experiment_id, key,"
                                   " value) VALUES (?, ?, ?) ON CONFLICT (experiment_id, key)"
                                   " DO UPDATE SET value = excluded.value", p, 3, NULL, err)))
            return rc;
    }
    return 0;
}

/* tags: [{key, value}] with string keys and values, checked against the
 * limits; returns the array borrowed from `a` (or NULL when absent). */
int tracking__get_tags(json_t *a, const char *field, size_t max_value, json_t **out,
                    struct skiff_err *err)
{
    json_t *tags = json_object_get(a, field), *tag;
    size_t i;
    int rc;

    *out = NULL;
    if (!tags || json_is_null(tags))
        return 0;
    if (!json_is_array(tags))
        return tracking__bad_value(field, tags, err);
    json_array_foreach(tags, i, tag) {
        json_t *k = json_object_get(tag, "key"), *v = json_object_get(tag, "value");
        if (!json_is_string(k) || !json_is_string(v))
            return tracking__bad_value(field, tag, err);
        if ((rc = tracking__check_key("Tag", json_string_value(k), err)) ||
            (rc = tracking__check_value("Tag", json_string_value(k), json_string_value(v),
                                        max_value, err)))
            return rc;
    }
    *out = tags;
    return 0;
}

static int h_exp_create(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct exp_create c = {0};
    json_t *a = NULL;
    char id[32];
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = tracking__get_str(req->arena, a, "name", true, &c.name, err)) ||
        (rc = tracking__get_str(req->arena, a, "artifact_location", false, &c.artifact_location,
                                err)) ||
        (rc = tracking__get_tags(a, "tags", MAX_TAG_VALUE, &c.tags, err)))
        goto out;
    if (strlen(c.name) > MAX_EXP_NAME) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "Experiment name exceeds the maximum length of %d",
                           MAX_EXP_NAME);
        goto out;
    }
    if (c.artifact_location && !*c.artifact_location)
        c.artifact_location = NULL;
    if ((rc = skiff_store_tx(t->store, tx_exp_create, &c, err)))
        goto out;
    snprintf(id, sizeof id, "%lld", (long long)c.id);
    rc = tracking__reply(resp, json_pack("{s:s}", "experiment_id", id), err);
out:
    json_decref(a);
    return rc;
}

/* One UPDATE of one experiment by id (text); ENOTFOUND when no row matched. */
static int exp_write(struct skiff_store *s, const char *id, const char *sql,
                     const struct skiff_store_val *extra, size_t nextra, struct skiff_err *err)
{
    struct skiff_store_val p[4];
    int64_t n = -1, changes = 0;
    int rc;

    if (!tracking__all_digits(id) || !tracking__parse_i64(id, &n))
        return skiff_err_set(err, SKIFF_ENOTFOUND, "No Experiment with id=%s exists", id);
    for (size_t i = 0; i < nextra && i < 3; i++)
        p[i] = extra[i];
    p[nextra] = tracking__v_int(n);
    if ((rc = skiff_store_exec(s, sql, p, nextra + 1, &changes, err)))
        return rc;
    if (changes == 0)
        return skiff_err_set(err, SKIFF_ENOTFOUND, "No Experiment with id=%s exists", id);
    return 0;
}

struct exp_op {
    const char *id, *name, *key, *value;
    const char *stage;  /* delete / restore: the new lifecycle_stage */
};

static int tx_exp_update(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct exp_op *o = ctx;
    struct skiff_store_val p[2] = {tracking__v_text(o->name), tracking__v_int(tracking__now_ms())};
    char found[64] = "";
    int rc;

    if ((rc = skiff_store_query(s, "SELECT CAST(experiment_id AS TEXT) FROM tracking_experiments"
                                " WHERE name = ?", p, 1, tracking__first_text, found, err)))
        return rc;
    if (found[0] && strcmp(found, o->id) != 0)
        return skiff_err_set(err, SKIFF_EEXIST, "Experiment(name=%s) already exists.", o->name);
    return exp_write(s, o->id, "UPDATE tracking_experiments SET name = ?, last_update_time = ?"
                     " WHERE experiment_id = ?", p, 2, err);
}

static int tx_exp_stage(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct exp_op *o = ctx;
    struct skiff_store_val p[2] = {tracking__v_text(o->stage), tracking__v_int(tracking__now_ms())};
    int64_t n = -1;
    int rc;

    if ((rc = exp_write(s, o->id, "UPDATE tracking_experiments SET lifecycle_stage = ?,"
                        " last_update_time = ? WHERE experiment_id = ?", p, 2, err)))
        return rc;
    /* the experiment's runs follow it, as in MLflow's store */
    tracking__parse_i64(o->id, &n);
    p[1] = tracking__v_int(n);
    return skiff_store_exec(s, "UPDATE tracking_runs SET lifecycle_stage = ? WHERE"
                            " experiment_id = ?", p, 2, NULL, err);
}

static int tx_exp_tag(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct exp_op *o = ctx;
    struct skiff_store_val p[3];
    json_t *e = NULL;
    int64_t n = -1;
    int rc;

    if ((rc = exp_load(s, o->id, &e, err)))
        return rc;
    json_decref(e);
    tracking__parse_i64(o->id, &n);
    p[0] = tracking__v_int(n);
    p[1] = tracking__v_text(o->key);
    p[2] = tracking__v_text(o->value);
    return skiff_store_exec(s, "INSERT INTO tracking_experiment_tags (experiment_id, key, value)"
                            " VALUES (?, ?, ?) ON CONFLICT (experiment_id, key) DO UPDATE SET"
                            " value = excluded.value", p, 3, NULL, err);
}

static int tx_exp_del_tag(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct exp_op *o = ctx;
    struct skiff_store_val p[2];
    json_t *e = NULL;
    int64_t n = -1, changes = 0;
    int rc;

    if ((rc = exp_load(s, o->id, &e, err)))
        return rc;
    json_decref(e);
    tracking__parse_i64(o->id, &n);
    p[0] = tracking__v_int(n);
    p[1] = tracking__v_text(o->key);
    if ((rc = skiff_store_exec(s, "DELETE FROM tracking_experiment_tags WHERE experiment_id = ?"
                               " AND key = ?", p, 2, &changes, err)))
        return rc;
    return changes ? 0 : skiff_err_set(err, SKIFF_ENOTFOUND, "No tag with name: %s in "
                                       "experiment with id %s", o->key, o->id);
}

static int h_exp_update(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct exp_op o = {0};
    json_t *a = NULL;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = tracking__get_str(req->arena, a, "experiment_id", true, &o.id, err)) ||
        (rc = tracking__get_str(req->arena, a, "new_name", true, &o.name, err)) ||
        (rc = skiff_store_tx(t->store, tx_exp_update, &o, err)))
        goto out;
    rc = tracking__reply_empty(resp, err);
out:
    json_decref(a);
    return rc;
}

static int exp_stage(struct skiff_http_req *req, struct skiff_http_resp *resp, const char *stage,
                     struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct exp_op o = {.stage = stage};
    json_t *a = NULL;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = tracking__get_str(req->arena, a, "experiment_id", true, &o.id, err)))
        goto out;
    if (strcmp(stage, "deleted") == 0 && strcmp(o.id, "0") == 0) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "Cannot delete the default experiment '0'. "
                           "This is an internally reserved experiment.");
        goto out;
    }
    if ((rc = skiff_store_tx(t->store, tx_exp_stage, &o, err)))
        goto out;
    rc = tracking__reply_empty(resp, err);
out:
    json_decref(a);
    return rc;
}

static int h_exp_delete(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    return exp_stage(req, resp, "deleted", err);
}

static int h_exp_restore(struct skiff_http_req *req, struct skiff_http_resp *resp,
                         struct skiff_err *err)
{
    return exp_stage(req, resp, "active", err);
}

static int h_exp_set_tag(struct skiff_http_req *req, struct skiff_http_resp *resp,
                         struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct exp_op o = {0};
    json_t *a = NULL;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = tracking__get_str(req->arena, a, "experiment_id", true, &o.id, err)) ||
        (rc = tracking__get_str(req->arena, a, "key", true, &o.key, err)) ||
        (rc = tracking__get_str(req->arena, a, "value", true, &o.value, err)) ||
        (rc = tracking__check_key("Tag", o.key, err)) ||
        (rc = tracking__check_value("Tag", o.key, o.value, MAX_TAG_VALUE, err)) ||
        (rc = skiff_store_tx(t->store, tx_exp_tag, &o, err)))
        goto out;
    rc = tracking__reply_empty(resp, err);
out:
    json_decref(a);
    return rc;
}

static int h_exp_del_tag(struct skiff_http_req *req, struct skiff_http_resp *resp,
                         struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct exp_op o = {0};
    json_t *a = NULL;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = tracking__get_str(req->arena, a, "experiment_id", true, &o.id, err)) ||
        (rc = tracking__get_str(req->arena, a, "key", true, &o.key, err)) ||
        (rc = skiff_store_tx(t->store, tx_exp_del_tag, &o, err)))
        goto out;
    rc = tracking__reply_empty(resp, err);
out:
    json_decref(a);
    return rc;
}

/* ---- searches: shared pieces ---- */

/* view_type / run_view_type -> the lifecycle_stage to match, NULL = all */
static int view_type(struct skiff_arena *ar, json_t *a, const char *field, const char **stage,
                     struct skiff_err *err)
{
    const char *v;
    int rc;

    *stage = "active";
    if ((rc = tracking__get_str(ar, a, field, false, &v, err)) || !v)
        return rc;
    if (strcmp(v, "ACTIVE_ONLY") == 0 || strcmp(v, "1") == 0)
        *stage = "active";
    else if (strcmp(v, "DELETED_ONLY") == 0 || strcmp(v, "2") == 0)
        *stage = "deleted";
    else if (strcmp(v, "ALL") == 0 || strcmp(v, "3") == 0)
        *stage = NULL;
    else
        return skiff_err_set(err, SKIFF_EINVAL, "Invalid value %s for parameter '%s' supplied "
                             "(want ACTIVE_ONLY, DELETED_ONLY or ALL)", v, field);
    return 0;
}

int tracking__paging(struct skiff_arena *ar, json_t *a, int64_t *max, int64_t *offset,
                  struct skiff_err *err)
{
    const char *tok;
    int rc;

    if ((rc = tracking__get_int(a, "max_results", false, DEFAULT_RESULTS, max, NULL, err)) ||
        (rc = tracking__get_str(ar, a, "page_token", false, &tok, err)) ||
        (rc = tracking__token_decode(tok, offset, err)))
        return rc;
    if (*max < 1 || *max > MAX_RESULTS)
        return skiff_err_set(err, SKIFF_EINVAL, "Invalid value %lld for parameter "
                             "'max_results' supplied. It must be at most %d, and at least 1",
                             (long long)*max, MAX_RESULTS);
    return 0;
}

/* order_by: a list of strings, or one string (GET) */
int tracking__order_list(json_t *a, json_t **out, struct skiff_err *err)
{
    json_t *v = json_object_get(a, "order_by"), *x;
    size_t i;

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v)) {
        *out = json_pack("[O]", v);
        return *out ? 0 : skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    if (!json_is_array(v))
        return tracking__bad_value("order_by", v, err);
    json_array_foreach(v, i, x)
        if (!json_is_string(x))
            return tracking__bad_value("order_by", x, err);
    *out = json_incref(v);
    return 0;
}

/* Collects the first column of each row as strings into a JSON array. */
static int collect_ids(void *ctx, const struct skiff_store_val *cols, size_t ncols,
                       struct skiff_err *err)
{
    json_t *arr = ctx;
    if (ncols && cols[0].type == SKIFF_VAL_TEXT &&
        json_array_append_new(arr, json_stringn(cols[0].s, cols[0].len)) == 0)
        return 0;
    return skiff_err_set(err, SKIFF_ENOMEM, "out of memory listing results");
}

int tracking__sql_init(struct tracking__sql *q, struct skiff_arena *a)
{
    memset(q, 0, sizeof *q);
    /* ample: at most TRACKING__MAX_PARAMS terms of fixed SQL (search.c) */
    skiff_buf_init(&q->text, 256 << 10);
    q->arena = a;
    return 0;
}

/* Runs a built id query: LIMIT max + 1 tells whether a next page exists. */
int tracking__page_ids(struct skiff_store *s, struct tracking__sql *q, int64_t max, int64_t offset,
                    json_t **ids, bool *more, struct skiff_err *err)
{
    int rc;

    *ids = NULL;
    if ((rc = skiff_buf_puts(&q->text, " LIMIT ? OFFSET ?")))
        return skiff_err_set(err, rc, "search query too long");
    if ((rc = tracking__param_int(q, max + 1, err)) || (rc = tracking__param_int(q, offset, err)))
        return rc;
    if (!(*ids = json_array()))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if ((rc = skiff_store_query(s, q->text.ptr, q->params, q->n, collect_ids, *ids, err))) {
        json_decref(*ids);
        *ids = NULL;
        return rc;
    }
    *more = (int64_t)json_array_size(*ids) > max;
    if (*more)
        json_array_remove(*ids, json_array_size(*ids) - 1);
    return 0;
}

static int h_exp_search(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    static const char *const keys[] = {"max_results", "page_token", "filter", "order_by",
                                       "view_type", NULL};
    struct skiff_tracking *t = req->ctx;
    struct tracking__sql q;
    json_t *a = NULL, *orders = NULL, *ids = NULL, *list = NULL, *o, *id;
    const char *stage, *filter;
    int64_t max, offset;
    bool more = false;
    size_t i;
    int rc;

    tracking__sql_init(&q, req->arena);
    if ((rc = tracking__args(req, keys, &a, err)) ||
        (rc = view_type(req->arena, a, "view_type", &stage, err)) ||
        (rc = tracking__paging(req->arena, a, &max, &offset, err)) ||
        (rc = tracking__get_str(req->arena, a, "filter", false, &filter, err)) ||
        (rc = tracking__order_list(a, &orders, err)))
        goto out;
    skiff_buf_puts(&q.text, "SELECT CAST(e.experiment_id AS TEXT) FROM tracking_experiments e"
                   " WHERE 1 = 1");
    if (stage) {
        skiff_buf_puts(&q.text, " AND e.lifecycle_stage = ?");
        if ((rc = tracking__param_text(&q, stage, err)))
            goto out;
    }
    if (filter && (rc = tracking__exps_filter(&q, filter, err)))
        goto out;
    skiff_buf_puts(&q.text, " ORDER BY ");
    json_array_foreach(orders, i, o)
        if ((rc = tracking__exps_order(&q, json_string_value(o), err)))
            goto out;
    skiff_buf_puts(&q.text, "e.creation_time DESC, e.experiment_id ASC");
    if ((rc = tracking__page_ids(t->store, &q, max, offset, &ids, &more, err)))
        goto out;
    if (!(list = json_array())) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    json_array_foreach(ids, i, id) {
        json_t *e;
        if ((rc = exp_load(t->store, json_string_value(id), &e, err)))
            goto out;
        json_array_append_new(list, e);
    }
    rc = tracking__reply_page(resp, "experiments", list, more, offset + max, err);
    list = NULL;
out:
    skiff_buf_release(&q.text);
    json_decref(a);
    json_decref(orders);
    json_decref(ids);
    json_decref(list);
    return rc;
}

/* ---- runs ---- */

static const char *const info_names[] = {"run_uuid", "experiment_id", "run_name", "user_id",
                                         "status", "start_time", "end_time", "artifact_uri",
                                         "lifecycle_stage", "run_id", NULL};
#define INFO_SQL "SELECT run_id, CAST(experiment_id AS TEXT), run_name, user_id, status," \
                 " start_time, end_time, artifact_uri, lifecycle_stage, run_id"          \
                 " FROM tracking_runs WHERE run_id = ?"

int tracking__run_info(struct skiff_store *s, const char *run_id, json_t **out,
                    struct skiff_err *err)
{
    struct skiff_store_val p = tracking__v_text(run_id);
    json_t *arr;
    int rc;

    *out = NULL;
    if ((rc = tracking__rows(s, INFO_SQL, &p, 1, info_names, &arr, err)))
        return rc;
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        return skiff_err_set(err, SKIFF_ENOTFOUND, "Run with id=%s not found", run_id);
    }
    *out = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    return 0;
}

/* One dataset input row -> {"tags": [...], "dataset": {...}}. */
static int input_row(void *ctx, const struct skiff_store_val *cols, size_t ncols,
                     struct skiff_err *err)
{
    static const char *const names[] = {"name", "digest", "source_type", "source", "schema",
                                        "profile"};
    json_t *list = ctx, *ds = json_object(), *tags, *in;

    for (size_t i = 0; i < 6 && i < ncols && ds; i++)
        if (cols[i].type == SKIFF_VAL_TEXT)
            json_object_set_new(ds, names[i], json_stringn(cols[i].s, cols[i].len));
    /* written by log-inputs as a JSON array; anything else shows no tags */
    tags = ncols > 6 && cols[6].type == SKIFF_VAL_TEXT ? json_loadb(cols[6].s, cols[6].len, 0, NULL)
                                                       : NULL;
    if (!json_is_array(tags)) {
        json_decref(tags);
        tags = json_array();
    }
    in = json_object();
    if (!ds || !tags || !in) {
        json_decref(ds);
        json_decref(tags);
        json_decref(in);
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    tracking__set_list(in, "tags", tags);
    json_object_set_new(in, "dataset", ds);
    if (json_array_append_new(list, in))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    return 0;
}

/* The run's inputs: {"dataset_inputs": [...]} or {} (caller decrefs). */
static int run_inputs(struct skiff_store *s, const char *run_id, json_t **out,
                      struct skiff_err *err)
{
    struct skiff_store_val p = tracking__v_text(run_id);
    json_t *list = json_array();
    int rc;

    *out = NULL;
    if (!list || !(*out = json_object())) {
        json_decref(list);
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    if ((rc = skiff_store_query(s, "SELECT name, digest, source_type, source, dataset_schema,"
                                " profile, tags FROM tracking_run_inputs WHERE run_id = ?"
                                " ORDER BY created, name, digest", &p, 1, input_row, list, err))) {
        json_decref(list);
        json_decref(*out);
        *out = NULL;
        return rc;
    }
    tracking__set_list(*out, "dataset_inputs", list);
    return 0;
}

/* The whole Run: info, data (latest metrics, params, tags) and, when
 * `inputs`, its inputs (datasets of runs/log-inputs), as get and search show. */
static int run_load(struct skiff_store *s, const char *run_id, bool inputs, json_t **out,
                    struct skiff_err *err)
{
    struct skiff_store_val p = tracking__v_text(run_id);
    json_t *info = NULL, *data = NULL, *m = NULL, *pa = NULL, *tg = NULL;
    int rc;

    *out = NULL;
    if ((rc = tracking__run_info(s, run_id, &info, err)) ||
        (rc = tracking__rows(s,
                             "SELECT key, value, timestamp, step FROM tracking_latest_metrics"
                             " WHERE run_id = ? ORDER BY key",
                             &p, 1, metric_names, &m, err)) ||
        (rc = tracking__rows(s,
                             "SELECT key, value FROM tracking_params WHERE run_id = ? ORDER BY key",
                             &p, 1, tracking__kv_names, &pa, err)) ||
        (rc =
             tracking__rows(s, "SELECT key, value FROM tracking_tags WHERE run_id = ? ORDER BY key",
                            &p, 1, tracking__kv_names, &tg, err)))
        goto out;
    data = json_object();
    tracking__set_list(data, "metrics", m);
    tracking__set_list(data, "params", pa);
    tracking__set_list(data, "tags", tg);
    m = pa = tg = NULL;
    *out = json_pack("{s:o, s:o}", "info", info, "data", data);
    info = data = NULL;
    if (!*out) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    if (inputs) {
        json_t *in;
        if ((rc = run_inputs(s, run_id, &in, err))) {
            json_decref(*out);
            *out = NULL;
            goto out;
        }
        json_object_set_new(*out, "inputs", in);
    }
out:
    json_decref(info);
    json_decref(data);
    json_decref(m);
    json_decref(pa);
    json_decref(tg);
    return rc;
}

/* Inside a transaction: the run exists (ENOTFOUND) and is active (EINVAL),
 * as MLflow requires before any write to it. */
int tracking__run_active(struct skiff_store *s, const char *run_id, struct skiff_err *err)
{
    struct skiff_store_val p = tracking__v_text(run_id);
    char stage[64] = "";
    int rc;

    if ((rc = skiff_store_query(s, "SELECT lifecycle_stage FROM tracking_runs WHERE run_id = ?",
                                &p, 1, tracking__first_text, stage, err)))
        return rc;
    if (!stage[0])
        return skiff_err_set(err, SKIFF_ENOTFOUND, "Run with id=%s not found", run_id);
    if (strcmp(stage, "active") != 0)
        return skiff_err_set(err, SKIFF_EINVAL, "The run %s must be in the 'active' state. "
                             "Current state is %s.", run_id, stage);
    return 0;
}

int tracking__put_tag(struct skiff_store *s, const char *run_id, const char *key, const char *value,
                   struct skiff_err *err)
{
    struct skiff_store_val p[3] = {tracking__v_text(run_id), tracking__v_text(key),
                                   tracking__v_text(value)};
    int rc;

    if ((rc = skiff_store_exec(s, "INSERT INTO tracking_tags (run_id, key, value) VALUES (?, ?, ?)"
                               " ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
                               p, 3, NULL, err)))
        return rc;
    /* the run's name and this tag are one value in MLflow */
    if (strcmp(key, "mlflow.runName") == 0) {
        struct skiff_store_val q[2] = {tracking__v_text(value), tracking__v_text(run_id)};
        return skiff_store_exec(s, "UPDATE tracking_runs SET run_name = ? WHERE run_id = ?", q,
                                2, NULL, err);
    }
    return 0;
}

/* Params are immutable: the same value again is a no-op, another value is
 * MLflow's INVALID_PARAMETER_VALUE. */
static int put_param(struct skiff_store *s, const char *run_id, const char *key,
                     const char *value, struct skiff_err *err)
{
    struct skiff_store_val p[3] = {tracking__v_text(run_id), tracking__v_text(key),
                                   tracking__v_text(value)};
    struct skiff_store_val c[3] = {tracking__v_text(run_id), tracking__v_text(key),
                                   tracking__v_text(value)};
    char old[64] = "", same[64] = "";
    int64_t changes = 0;
    int rc;

    if ((rc = skiff_store_exec(s, "INSERT INTO tracking_params (run_id, key, value)"
                               " VALUES (?, ?, ?) ON CONFLICT (run_id, key) DO NOTHING", p, 3,
                               &changes, err)) || changes == 1)
        return rc;
    /* tracking__first_text keeps 63 bytes, enough for the message: compare the whole
     * value in SQL */
    if ((rc = skiff_store_query(s, "SELECT value FROM tracking_params WHERE run_id = ? AND key = ?",
                                p, 2, tracking__first_text, old, err)) ||
        (rc = skiff_store_query(s, "SELECT 'y' FROM tracking_params WHERE run_id = ? AND key = ?"
                                " AND value = ?", c, 3, tracking__first_text, same, err)))
        return rc;
    if (!same[0])
        return skiff_err_set(err, SKIFF_EINVAL, "Changing param values is not allowed. Param "
                             "with key='%s' was already logged with value='%s' for run "
                             "ID='%s'. Attempted logging new value '%.60s'.", key, old,
                             run_id, value);
    return 0;
}

static int put_metric(struct skiff_store *s, const char *run_id, const char *key, double value,
                      int64_t ts, int64_t step, struct skiff_err *err)
{
    struct skiff_store_val p[5] = {tracking__v_text(run_id), tracking__v_text(key),
                                   {.type = isnan(value) ? SKIFF_VAL_NULL : SKIFF_VAL_REAL,
                                    .d = value},
                                   tracking__v_int(ts), tracking__v_int(step)};
    int rc;

    if ((rc = skiff_store_exec(s, "INSERT INTO tracking_metrics (run_id, key, value, timestamp,"
                               " step) VALUES (?, ?, ?, ?, ?)", p, 5, NULL, err)))
        return rc;
    /* the latest point: larger step wins, then later timestamp, then larger
     * value (mlflow's sqlalchemy store) */
    return skiff_store_exec(s, "INSERT INTO tracking_latest_metrics (run_id, key, value,"
                            " timestamp, step) VALUES (?, ?, ?, ?, ?) ON CONFLICT (run_id, key)"
                            " DO UPDATE SET value = excluded.value, timestamp = excluded.timestamp,"
                            " step = excluded.step WHERE"
                            " excluded.step > tracking_latest_metrics.step OR"
                            " (excluded.step = tracking_latest_metrics.step AND"
                            " (excluded.timestamp > tracking_latest_metrics.timestamp OR"
                            " (excluded.timestamp = tracking_latest_metrics.timestamp AND"
                            " excluded.value > tracking_latest_metrics.value)))",
                            p, 5, NULL, err);
}

/* nbytes random bytes from getrandom(2) into out (EINTR retried). */
static int random_bytes(unsigned char *out, size_t nbytes, struct skiff_err *err)
{
    size_t got = 0;

    while (got < nbytes) {
        ssize_t n = getrandom(out + got, nbytes - got, 0);
        if (n < 0 && errno != EINTR)
            return skiff_err_sys(err, SKIFF_EINTERNAL, "cannot read random bytes for a run id");
        if (n > 0)
            got += (size_t)n;
    }
    return 0;
}

/* A run id: 16 random bytes as 32 lowercase hex characters (uuid4().hex
 * has the same shape). out holds 33 bytes. */
static int random_run_id(char *out, struct skiff_err *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[16];
    int rc;

    if ((rc = random_bytes(r, sizeof r, err)))
        return rc;
    for (size_t i = 0; i < sizeof r; i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 15];
    }
    out[2 * sizeof r] = '\0';
    return 0;
}

/* adjective-noun-NNN, at most 20 characters, as MLflow names runs */
static int random_run_name(char *out, size_t n, struct skiff_err *err)
{
    static const char *const adj[] = {"able", "brave", "calm", "eager", "fair", "gentle",
                                      "honest", "keen", "lucky", "merry", "proud", "quiet"};
    static const char *const noun[] = {"owl", "fox", "hawk", "elk", "wolf", "bee", "cod",
                                       "lynx", "mole", "ram", "yak", "wren"};
    unsigned char r[3];
    int rc;

    if ((rc = random_bytes(r, sizeof r, err)))
        return rc;
    snprintf(out, n, "%s-%s-%u", adj[r[0] % 12], noun[r[1] % 12], (unsigned)r[2] * 999u / 255u);
    return 0;
}

struct run_create {
    const char *exp_id, *user_id, *run_name;
    char workflow[256], step[256];   /* lineage from a step's token, or "" */
    int64_t start_time;
    json_t *tags;
    char run_id[33];
};

static int tx_run_create(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct run_create *c = ctx;
    json_t *e = NULL, *tag;
    char uri[600];
    const char *stage;
    struct skiff_store_val p[7];
    int64_t exp = 0;
    bool named = false;
    size_t i;
    int rc;

    if ((rc = exp_load(s, c->exp_id, &e, err)))
        return rc;
    stage = json_string_value(json_object_get(e, "lifecycle_stage"));
    if (!stage || strcmp(stage, "active") != 0) {
        json_decref(e);
        return skiff_err_set(err, SKIFF_EINVAL, "Could not create run under non-active "
                             "experiment with id %s.", c->exp_id);
    }
    snprintf(uri, sizeof uri, "%s/%s/artifacts",
             json_string_value(json_object_get(e, "artifact_location")), c->run_id);
    json_decref(e);
    tracking__parse_i64(c->exp_id, &exp);
    p[0] = tracking__v_text(c->run_id);
    p[1] = tracking__v_int(exp);
    p[2] = tracking__v_text(c->run_name);
    p[3] = tracking__v_text(c->user_id);
    p[4] = tracking__v_int(c->start_time);
    p[5] = tracking__v_text(uri);
    if ((rc = skiff_store_exec(s, "INSERT INTO tracking_runs (run_id, experiment_id, run_name,"
                               " user_id, status, start_time, end_time, artifact_uri,"
                               " lifecycle_stage) VALUES (?, ?, ?, ?, 'RUNNING', ?, NULL, ?,"
                               " 'active')", p, 6, NULL, err)))
        return rc;
    json_array_foreach(c->tags, i, tag) {
        const char *k = json_string_value(json_object_get(tag, "key"));
        if (strcmp(k, "mlflow.runName") == 0)
            named = true;
        if ((rc = tracking__put_tag(s, c->run_id, k,
                                    json_string_value(json_object_get(tag, "value")), err)))
            return rc;
    }
    /* after the client's tags: the signed token's word wins over a tag a
     * client may have set itself */
    if (c->workflow[0] &&
        ((rc = tracking__put_tag(s, c->run_id, "skiff.workflow", c->workflow, err)) ||
         (rc = tracking__put_tag(s, c->run_id, "skiff.step", c->step, err))))
        return rc;
    return named ? 0 : tracking__put_tag(s, c->run_id, "mlflow.runName", c->run_name, err);
}

/* A step's token carries "workload": "<workflow uid>/<step>" (auth.h). */
static void lineage_from_token(const struct skiff_http_req *req, struct run_create *c)
{
    const char *wl = req->claims ? req->claims->workload : "", *slash = strchr(wl, '/');
    if (!slash || slash == wl || !slash[1])
        return;
    snprintf(c->workflow, sizeof c->workflow, "%.*s", (int)(slash - wl), wl);
    snprintf(c->step, sizeof c->step, "%s", slash + 1);
}

static int h_run_create(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct run_create c = {0};
    json_t *a = NULL, *run = NULL, *tag;
    char name[32];
    size_t i;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = tracking__get_str(req->arena, a, "experiment_id", false, &c.exp_id, err)) ||
        (rc = tracking__get_str(req->arena, a, "user_id", false, &c.user_id, err)) ||
        (rc = tracking__get_str(req->arena, a, "run_name", false, &c.run_name, err)) ||
        (rc = tracking__get_int(a, "start_time", false, tracking__now_ms(), &c.start_time, NULL,
                                err)) ||
        (rc = tracking__get_tags(a, "tags", MAX_TAG_VALUE, &c.tags, err)))
        goto out;
    if (!c.exp_id || !*c.exp_id)
        c.exp_id = "0";
    if (!c.user_id)
        c.user_id = "";
    if (c.run_name && !*c.run_name)
        c.run_name = NULL;
    json_array_foreach(c.tags, i, tag) {
        const char *k = json_string_value(json_object_get(tag, "key"));
        const char *v = json_string_value(json_object_get(tag, "value"));
        if (strcmp(k, "mlflow.runName") != 0)
            continue;
        if (c.run_name && strcmp(c.run_name, v) != 0) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "Both 'run_name' argument and 'mlflow.runName'"
                               " tag are specified, but with different values (run_name='%s', "
                               "mlflow.runName='%s').", c.run_name, v);
            goto out;
        }
        c.run_name = v;
    }
    if (!c.run_name) {
        if ((rc = random_run_name(name, sizeof name, err)))
            goto out;
        c.run_name = name;
    }
    lineage_from_token(req, &c);
    if ((rc = random_run_id(c.run_id, err)) ||
        (rc = skiff_store_tx(t->store, tx_run_create, &c, err)) ||
        (rc = run_load(t->store, c.run_id, false, &run, err)))
        goto out;
    rc = tracking__reply(resp, json_pack("{s:o}", "run", run), err);
out:
    json_decref(a);
    return rc;
}

static int h_run_get(struct skiff_http_req *req, struct skiff_http_resp *resp,
                     struct skiff_err *err)
{
    static const char *const keys[] = {"run_id", "run_uuid", NULL};
    struct skiff_tracking *t = req->ctx;
    json_t *a = NULL, *run = NULL;
    const char *id;
    int rc;

    if ((rc = tracking__args(req, keys, &a, err)) || (rc = get_run_id(req->arena, a, &id, err)) ||
        (rc = run_load(t->store, id, true, &run, err)))
        goto out;
    rc = tracking__reply(resp, json_pack("{s:o}", "run", run), err);
out:
    json_decref(a);
    return rc;
}

/* One write to one run, in one transaction that first checks the run. */
struct run_op {
    const char *run_id, *key, *value;
    const char *status, *run_name, *stage;
    double dvalue;
    int64_t ts, step, end_time;
    bool has_end;
    json_t *metrics, *params, *tags;  /* log-batch, borrowed */
};

static int tx_log_metric(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct run_op *o = ctx;
    int rc = tracking__run_active(s, o->run_id, err);
    return rc ? rc : put_metric(s, o->run_id, o->key, o->dvalue, o->ts, o->step, err);
}

static int tx_log_param(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct run_op *o = ctx;
    int rc = tracking__run_active(s, o->run_id, err);
    return rc ? rc : put_param(s, o->run_id, o->key, o->value, err);
}

static int tx_set_tag(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct run_op *o = ctx;
    int rc = tracking__run_active(s, o->run_id, err);
    return rc ? rc : tracking__put_tag(s, o->run_id, o->key, o->value, err);
}

static int tx_delete_tag(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct run_op *o = ctx;
    struct skiff_store_val p[2] = {tracking__v_text(o->run_id), tracking__v_text(o->key)};
    int64_t changes = 0;
    int rc;

    if ((rc = tracking__run_active(s, o->run_id, err)) ||
        (rc = skiff_store_exec(s, "DELETE FROM tracking_tags WHERE run_id = ? AND key = ?", p, 2,
                               &changes, err)))
        return rc;
    if (changes == 0)
        return skiff_err_set(err, SKIFF_ENOTFOUND, "No tag with name: %s in run with id %s",
                             o->key, o->run_id);
    return 0;
}

static int h_log_metric(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct run_op o = {0};
    json_t *a = NULL;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = get_run_id(req->arena, a, &o.run_id, err)) ||
        (rc = tracking__get_str(req->arena, a, "key", true, &o.key, err)) ||
        (rc = get_double(a, "value", true, &o.dvalue, err)) ||
        (rc = tracking__get_int(a, "timestamp", true, 0, &o.ts, NULL, err)) ||
        (rc = tracking__get_int(a, "step", false, 0, &o.step, NULL, err)) ||
        (rc = tracking__check_key("Metric", o.key, err)) ||
        (rc = skiff_store_tx(t->store, tx_log_metric, &o, err)))
        goto out;
    rc = tracking__reply_empty(resp, err);
out:
    json_decref(a);
    return rc;
}

static int kv_op(struct skiff_http_req *req, struct skiff_http_resp *resp, skiff_store_tx_cb fn,
                 const char *what, size_t max_value, bool with_value, struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct run_op o = {0};
    json_t *a = NULL;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = get_run_id(req->arena, a, &o.run_id, err)) ||
        (rc = tracking__get_str(req->arena, a, "key", true, &o.key, err)) ||
        (with_value && (rc = tracking__get_str(req->arena, a, "value", true, &o.value, err))) ||
        (rc = tracking__check_key(what, o.key, err)) ||
        (with_value && (rc = tracking__check_value(what, o.key, o.value, max_value, err))) ||
        (rc = skiff_store_tx(t->store, fn, &o, err)))
        goto out;
    rc = tracking__reply_empty(resp, err);
out:
    json_decref(a);
    return rc;
}

static int h_log_param(struct skiff_http_req *req, struct skiff_http_resp *resp,
                       struct skiff_err *err)
{
    return kv_op(req, resp, tx_log_param, "Param", MAX_PARAM_VALUE, true, err);
}

static int h_set_tag(struct skiff_http_req *req, struct skiff_http_resp *resp,
                     struct skiff_err *err)
{
    return kv_op(req, resp, tx_set_tag, "Tag", MAX_TAG_VALUE, true, err);
}

static int h_delete_tag(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    return kv_op(req, resp, tx_delete_tag, "Tag", 0, false, err);
}

/* Checks a log-batch's metrics, params and tags before any is written. */
static int check_batch(struct run_op *o, struct skiff_err *err)
{
    size_t nm = json_array_size(o->metrics), np = json_array_size(o->params),
           nt = json_array_size(o->tags), i;
    json_t *x;
    int rc;

    if (nm > MAX_BATCH_METRICS || np > MAX_BATCH_PARAMS || nt > MAX_BATCH_TAGS ||
        nm + np + nt > MAX_BATCH_TOTAL)
        return skiff_err_set(err, SKIFF_EINVAL, "A batch logging request can contain at most "
                             "%d metrics, %d params and %d tags (%d in all); got %zu metrics, "
                             "%zu params and %zu tags", MAX_BATCH_METRICS, MAX_BATCH_PARAMS,
                             MAX_BATCH_TAGS, MAX_BATCH_TOTAL, nm, np, nt);
    json_array_foreach(o->metrics, i, x) {
        double d;
        int64_t n;
        json_t *k = json_object_get(x, "key");
        if (!json_is_object(x) || !json_is_string(k))
            return tracking__bad_value("metrics", x, err);
        if ((rc = tracking__check_key("Metric", json_string_value(k), err)) ||
            (rc = get_double(x, "value", true, &d, err)) ||
            (rc = tracking__get_int(x, "timestamp", true, 0, &n, NULL, err)) ||
            (rc = tracking__get_int(x, "step", false, 0, &n, NULL, err)))
            return rc;
    }
    json_array_foreach(o->params, i, x) {
        json_t *k = json_object_get(x, "key"), *v = json_object_get(x, "value");
        if (!json_is_object(x) || !json_is_string(k) || !json_is_string(v))
            return tracking__bad_value("params", x, err);
        if ((rc = tracking__check_key("Param", json_string_value(k), err)) ||
            (rc = tracking__check_value("Param", json_string_value(k), json_string_value(v),
                              MAX_PARAM_VALUE, err)))
            return rc;
    }
    return 0;
}

static int tx_log_batch(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct run_op *o = ctx;
    json_t *x;
    size_t i;
    int rc;

    if ((rc = tracking__run_active(s, o->run_id, err)))
        return rc;
    json_array_foreach(o->params, i, x)
        if ((rc = put_param(s, o->run_id, json_string_value(json_object_get(x, "key")),
                            json_string_value(json_object_get(x, "value")), err)))
            return rc;
    json_array_foreach(o->tags, i, x)
        if ((rc = tracking__put_tag(s, o->run_id, json_string_value(json_object_get(x, "key")),
                          json_string_value(json_object_get(x, "value")), err)))
            return rc;
    json_array_foreach(o->metrics, i, x) {
        double d;
        int64_t ts, step;
        /* checked by check_batch */
        get_double(x, "value", true, &d, NULL);
        tracking__get_int(x, "timestamp", true, 0, &ts, NULL, NULL);
        tracking__get_int(x, "step", false, 0, &step, NULL, NULL);
        if ((rc = put_metric(s, o->run_id, json_string_value(json_object_get(x, "key")), d, ts,
                             step, err)))
            return rc;
    }
    return 0;
}

static int h_log_batch(struct skiff_http_req *req, struct skiff_http_resp *resp,
                       struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct run_op o = {0};
    json_t *a = NULL;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = get_run_id(req->arena, a, &o.run_id, err)))
        goto out;
    o.metrics = json_object_get(a, "metrics");
    o.params = json_object_get(a, "params");
    if ((o.metrics && !json_is_array(o.metrics) && !json_is_null(o.metrics)) ||
        (o.params && !json_is_array(o.params) && !json_is_null(o.params))) {
        rc = tracking__bad_value(o.metrics && !json_is_array(o.metrics) ? "metrics" : "params",
                       o.metrics && !json_is_array(o.metrics) ? o.metrics : o.params, err);
        goto out;
    }
    if ((rc = tracking__get_tags(a, "tags", MAX_TAG_VALUE, &o.tags, err)) ||
        (rc = check_batch(&o, err)) || (rc = skiff_store_tx(t->store, tx_log_batch, &o, err)))
        goto out;
    rc = tracking__reply_empty(resp, err);
out:
    json_decref(a);
    return rc;
}

/* ---- runs/log-model (MLflow 2.x) and runs/log-inputs ---- */

#define LOG_MODEL_TAG "mlflow.log-model.history"

struct log_model {
    const char *run_id;
    json_t *model;       /* borrowed: the parsed model_json */
};

/* Appends the model to the run's history tag, read and written in one
 * transaction so two concurrent log-model calls both land. */
static int tx_log_model(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct log_model *m = ctx;
    struct skiff_store_val p[2] = {tracking__v_text(m->run_id), tracking__v_text(LOG_MODEL_TAG)};
    json_t *hist = NULL, *cur = NULL;
    char *text = NULL;
    int rc;

    if ((rc = tracking__run_active(s, m->run_id, err)) ||
        (rc = tracking__rows(s, "SELECT value FROM tracking_tags WHERE run_id = ? AND key = ?", p,
                             2, (const char *const[]){"value", NULL}, &cur, err)))
        goto out;
    if (json_array_size(cur)) {
        const char *v = json_string_value(json_object_get(json_array_get(cur, 0), "value"));
        hist = v ? json_loads(v, 0, NULL) : NULL;
    }
    /* a history someone overwrote with a non-list starts again */
    if (!json_is_array(hist)) {
        json_decref(hist);
        hist = json_array();
    }
    if (!hist || json_array_append(hist, m->model) ||
        !(text = json_dumps(hist, JSON_PRESERVE_ORDER | JSON_COMPACT))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    rc = tracking__put_tag(s, m->run_id, LOG_MODEL_TAG, text, err);
out:
    free(text);
    json_decref(hist);
    json_decref(cur);
    return rc;
}

static int h_log_model(struct skiff_http_req *req, struct skiff_http_resp *resp,
                       struct skiff_err *err)
{
    static const char *const need[] = {"artifact_path", "flavors", "utc_time_created", "run_id"};
    struct skiff_tracking *t = req->ctx;
    struct log_model m = {0};
    json_t *a = NULL, *model = NULL;
    const char *mj;
    json_error_t je;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = get_run_id(req->arena, a, &m.run_id, err)) ||
        (rc = tracking__get_str(req->arena, a, "model_json", true, &mj, err)))
        goto out;
    if (!(model = json_loads(mj, 0, &je)) || !json_is_object(model)) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "Malformed model info. \n %.200s\n`model_json` "
                           "must be a JSON object (%s)", mj, model ? "not an object" : je.text);
        goto out;
    }
    /* MLflow's handler refuses a model without these */
    for (size_t i = 0; i < sizeof need / sizeof *need; i++)
        if (!json_object_get(model, need[i])) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "Model json is missing mandatory fields: "
                               "'%s'", need[i]);
            goto out;
        }
    /* as Model.get_tags_dict: the history keeps what identifies the model,
     * not its signature or input example */
    json_object_del(model, "signature");
    json_object_del(model, "saved_input_example_info");
    json_object_del(model, "input_example");
    m.model = model;
    if ((rc = skiff_store_tx(t->store, tx_log_model, &m, err)))
        goto out;
    rc = tracking__reply_empty(resp, err);
out:
    json_decref(a);
    json_decref(model);
    return rc;
}

struct log_inputs {
    const char *run_id;
    json_t *datasets;    /* borrowed, checked by h_log_inputs */
};

static int tx_log_inputs(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct log_inputs *li = ctx;
    json_t *x;
    size_t i;
    int rc;

    if ((rc = tracking__run_active(s, li->run_id, err)))
        return rc;
    json_array_foreach(li->datasets, i, x) {
        json_t *ds = json_object_get(x, "dataset"), *tags = json_object_get(x, "tags");
        const char *sch = json_string_value(json_object_get(ds, "schema"));
        const char *prof = json_string_value(json_object_get(ds, "profile"));
        /* no tags is stored as "[]" (strdup: freed like json_dumps' text) */
        char *tj = json_is_array(tags) ? json_dumps(tags, JSON_COMPACT | JSON_PRESERVE_ORDER)
                                       : strdup("[]");
        struct skiff_store_val p[9] = {
            tracking__v_text(li->run_id),
            tracking__v_text(json_string_value(json_object_get(ds, "name"))),
            tracking__v_text(json_string_value(json_object_get(ds, "digest"))),
            tracking__v_text(json_string_value(json_object_get(ds, "source_type"))),
            tracking__v_text(json_string_value(json_object_get(ds, "source"))),
            sch ? tracking__v_text(sch) : (struct skiff_store_val){.type = SKIFF_VAL_NULL},
            prof ? tracking__v_text(prof) : (struct skiff_store_val){.type = SKIFF_VAL_NULL},
            tracking__v_text(tj ? tj : "[]"),
            tracking__v_int(tracking__now_ms() * 1000 + (int64_t)i)};
        if (!tj)
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        /* the same (name, digest) again is the same input: kept once */
        rc = skiff_store_exec(s, "INSERT INTO tracking_run_inputs (run_id, name, digest,"
                              " source_type, source, dataset_schema, profile, tags, created)"
                              " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                              p, 9, NULL, err);
        free(tj);
        if (rc)
            return rc;
    }
    return 0;
}

static int h_log_inputs(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    static const char *const need[] = {"name", "digest", "source_type", "source"};
    struct skiff_tracking *t = req->ctx;
    struct log_inputs li = {0};
    json_t *a = NULL, *x, *tags;
    size_t i;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = get_run_id(req->arena, a, &li.run_id, err)))
        goto out;
    li.datasets = json_object_get(a, "datasets");
    if (li.datasets && !json_is_array(li.datasets) && !json_is_null(li.datasets)) {
        rc = tracking__bad_value("datasets", li.datasets, err);
        goto out;
    }
    json_array_foreach(li.datasets, i, x) {
        json_t *ds = json_object_get(x, "dataset");
        if (!json_is_object(x) || !json_is_object(ds)) {
            rc = skiff_err_set(err, SKIFF_EINVAL, MISSING, "dataset");
            goto out;
        }
        for (size_t k = 0; k < sizeof need / sizeof *need; k++) {
            json_t *v = json_object_get(ds, need[k]);
            if (!json_is_string(v) || !json_string_length(v)) {
                rc = skiff_err_set(err, SKIFF_EINVAL, MISSING, need[k]);
                goto out;
            }
        }
        if ((rc = tracking__get_tags(x, "tags", MAX_TAG_VALUE, &tags, err)))
            goto out;
    }
    if ((rc = skiff_store_tx(t->store, tx_log_inputs, &li, err)))
        goto out;
    rc = tracking__reply_empty(resp, err);
out:
    json_decref(a);
    return rc;
}

/* GET artifacts/list: the files of a run's artifact folder `path`, with
 * paths relative to the run's root, and root_uri = its artifact_uri. */
static int h_artifacts_list(struct skiff_http_req *req, struct skiff_http_resp *resp,
                            struct skiff_err *err)
{
    static const char *const keys[] = {"run_id", "run_uuid", "path", "page_token", NULL};
    struct skiff_tracking *t = req->ctx;
    json_t *a = NULL, *info = NULL, *files = NULL;
    const char *run_id, *path, *uri, *root, *rel;
    int rc;

    if ((rc = tracking__args(req, keys, &a, err)) ||
        (rc = get_run_id(req->arena, a, &run_id, err)) ||
        (rc = tracking__get_str(req->arena, a, "path", false, &path, err)) ||
        (rc = tracking__run_info(t->store, run_id, &info, err)))
        goto out;
    uri = json_string_value(json_object_get(info, "artifact_uri"));
    if ((rc = tracking__uri_to_blob(req->arena, uri ? uri : "", &root, err)))
        goto out;
    if (!path)
        path = "";
    if (path[0] == '/') {
        rc = skiff_err_set(err, SKIFF_EINVAL, "Invalid path: '%s' is absolute", path);
        goto out;
    }
    rel = *path ? skiff_arena_sprintf(req->arena, "%s/%s", root, path) : root;
    if (!rel) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = tracking__art_list(t, rel, path, &files, err)))
        goto out;
    rc = tracking__reply_files(resp, uri, files, err);
out:
    json_decref(a);
    json_decref(info);
    return rc;
}

static int tx_run_update(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct run_op *o = ctx;
    struct skiff_store_val p[4] = {o->status ? tracking__v_text(o->status)
                                             : (struct skiff_store_val){.type = SKIFF_VAL_NULL},
                                   o->has_end ? tracking__v_int(o->end_time)
                                              : (struct skiff_store_val){.type = SKIFF_VAL_NULL},
                                   o->run_name ? tracking__v_text(o->run_name)
                                               : (struct skiff_store_val){.type = SKIFF_VAL_NULL},
                                   tracking__v_text(o->run_id)};
    int rc;

    if ((rc = tracking__run_active(s, o->run_id, err)) ||
        (rc = skiff_store_exec(s, "UPDATE tracking_runs SET status = COALESCE(?, status),"
                               " end_time = COALESCE(?, end_time), run_name = COALESCE(?, run_name)"
                               " WHERE run_id = ?", p, 4, NULL, err)))
        return rc;
    return o->run_name ? tracking__put_tag(s, o->run_id, "mlflow.runName", o->run_name, err) : 0;
}

static int h_run_update(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    static const char *const statuses[] = {"RUNNING", "SCHEDULED", "FINISHED", "FAILED",
                                           "KILLED"};
    struct skiff_tracking *t = req->ctx;
    struct run_op o = {0};
    json_t *a = NULL, *info = NULL;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = get_run_id(req->arena, a, &o.run_id, err)) ||
        (rc = tracking__get_str(req->arena, a, "status", false, &o.status, err)) ||
        (rc = tracking__get_int(a, "end_time", false, 0, &o.end_time, &o.has_end, err)) ||
        (rc = tracking__get_str(req->arena, a, "run_name", false, &o.run_name, err)))
        goto out;
    if (o.run_name && !*o.run_name)
        o.run_name = NULL;
    if (o.status) {
        size_t i;
        for (i = 0; i < sizeof statuses / sizeof *statuses; i++)
            if (strcmp(o.status, statuses[i]) == 0)
                break;
        if (i == sizeof statuses / sizeof *statuses) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "Invalid value %s for parameter 'status' "
                               "supplied (want RUNNING, SCHEDULED, FINISHED, FAILED or KILLED)",
                               o.status);
            goto out;
        }
    }
    if ((rc = skiff_store_tx(t->store, tx_run_update, &o, err)) ||
        (rc = tracking__run_info(t->store, o.run_id, &info, err)))
        goto out;
    rc = tracking__reply(resp, json_pack("{s:o}", "run_info", info), err);
out:
    json_decref(a);
    return rc;
}

static int tx_run_stage(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct run_op *o = ctx;
    struct skiff_store_val p[2] = {tracking__v_text(o->stage), tracking__v_text(o->run_id)};
    int64_t changes = 0;
    int rc;

    if ((rc = skiff_store_exec(s, "UPDATE tracking_runs SET lifecycle_stage = ? WHERE run_id = ?",
                               p, 2, &changes, err)))
        return rc;
    return changes ? 0 : skiff_err_set(err, SKIFF_ENOTFOUND, "Run with id=%s not found",
                                       o->run_id);
}

static int run_stage(struct skiff_http_req *req, struct skiff_http_resp *resp, const char *stage,
                     struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct run_op o = {.stage = stage};
    json_t *a = NULL;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = get_run_id(req->arena, a, &o.run_id, err)) ||
        (rc = skiff_store_tx(t->store, tx_run_stage, &o, err)))
        goto out;
    rc = tracking__reply_empty(resp, err);
out:
    json_decref(a);
    return rc;
}

static int h_run_delete(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    return run_stage(req, resp, "deleted", err);
}

static int h_run_restore(struct skiff_http_req *req, struct skiff_http_resp *resp,
                         struct skiff_err *err)
{
    return run_stage(req, resp, "active", err);
}

static int h_run_search(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct tracking__sql q;
    json_t *a = NULL, *orders = NULL, *ids = NULL, *list = NULL, *exps, *o, *x;
    const char *stage, *filter;
    int64_t max, offset;
    bool more = false;
    size_t i;
    int rc;

    tracking__sql_init(&q, req->arena);
    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = view_type(req->arena, a, "run_view_type", &stage, err)) ||
        (rc = tracking__paging(req->arena, a, &max, &offset, err)) ||
        (rc = tracking__get_str(req->arena, a, "filter", false, &filter, err)) ||
        (rc = tracking__order_list(a, &orders, err)))
        goto out;
    exps = json_object_get(a, "experiment_ids");
    if (exps && !json_is_array(exps)) {
        rc = tracking__bad_value("experiment_ids", exps, err);
        goto out;
    }
    /* The filter first: when it yields runs from an index (a param or tag
     * equality), the experiment test is written "+r.experiment_id" so that
     * SQLite, which has no statistics on a young database, drives the
     * query from that index rather than scanning every run of the
     * experiments (223 ms -> 38 ms over 100k runs). */
    skiff_buf_puts(&q.text, "SELECT r.run_id FROM tracking_runs r WHERE 1 = 1");
    if (filter && (rc = tracking__runs_filter(&q, filter, err)))
        goto out;
    skiff_buf_appendf(&q.text, " AND %sr.experiment_id IN (NULL", q.driven ? "+" : "");
    json_array_foreach(exps, i, x) {
        int64_t n;
        const char *s = json_is_string(x) ? json_string_value(x) : NULL;
        if (json_is_integer(x))
            n = json_integer_value(x);
        else if (!s || !tracking__all_digits(s) || !tracking__parse_i64(s, &n)) {
            rc = tracking__bad_value("experiment_ids", x, err);
            goto out;
        }
        skiff_buf_puts(&q.text, ", ?");
        if ((rc = tracking__param_int(&q, n, err)))
            goto out;
    }
    skiff_buf_puts(&q.text, ")");
    if (stage) {
        skiff_buf_puts(&q.text, " AND r.lifecycle_stage = ?");
        if ((rc = tracking__param_text(&q, stage, err)))
            goto out;
    }
    skiff_buf_puts(&q.text, " ORDER BY ");
    json_array_foreach(orders, i, o)
        if ((rc = tracking__runs_order(&q, json_string_value(o), err)))
            goto out;
    skiff_buf_puts(&q.text, "r.start_time DESC, r.run_id ASC");
    if ((rc = tracking__page_ids(t->store, &q, max, offset, &ids, &more, err)))
        goto out;
    if (!(list = json_array())) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    json_array_foreach(ids, i, x) {
        json_t *run;
        if ((rc = run_load(t->store, json_string_value(x), true, &run, err)))
            goto out;
        json_array_append_new(list, run);
    }
    rc = tracking__reply_page(resp, "runs", list, more, offset + max, err);
    list = NULL;
out:
    skiff_buf_release(&q.text);
    json_decref(a);
    json_decref(orders);
    json_decref(ids);
    json_decref(list);
    return rc;
}

static int h_metric_history(struct skiff_http_req *req, struct skiff_http_resp *resp,
                            struct skiff_err *err)
{
    static const char *const keys[] = {"run_id", "run_uuid", "metric_key", "max_results",
                                       "page_token", NULL};
    struct skiff_tracking *t = req->ctx;
    json_t *a = NULL, *info = NULL, *pts = NULL, *o;
    const char *run_id, *key, *tok;
    int64_t max, offset;
    bool paged;
    int rc;

    if ((rc = tracking__args(req, keys, &a, err)) ||
        (rc = get_run_id(req->arena, a, &run_id, err)) ||
        (rc = tracking__get_str(req->arena, a, "metric_key", true, &key, err)) ||
        (rc = tracking__get_int(a, "max_results", false, INT64_MAX / 4, &max, &paged, err)) ||
        (rc = tracking__get_str(req->arena, a, "page_token", false, &tok, err)) ||
        (rc = tracking__token_decode(tok, &offset, err)) ||
        (rc = tracking__run_info(t->store, run_id, &info, err)))
        goto out;
    if (max < 1) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "Invalid value %lld for parameter 'max_results' "
                           "supplied", (long long)max);
        goto out;
    }
    {
        struct skiff_store_val p[4] = {tracking__v_text(run_id), tracking__v_text(key),
                                       tracking__v_int(max + 1), tracking__v_int(offset)};
        if ((rc = tracking__rows(
                 t->store,
                 "SELECT key, value, timestamp, step FROM tracking_metrics"
                 " WHERE run_id = ? AND key = ? ORDER BY timestamp, step LIMIT ? OFFSET ?",
                 p, 4, metric_names, &pts, err)))
            goto out;
    }
    o = json_object();
    if (paged && (int64_t)json_array_size(pts) > max) {
        char tk[64];
        json_array_remove(pts, json_array_size(pts) - 1);
        tracking__token_encode(offset + max, tk, sizeof tk);
        json_object_set_new(o, "next_page_token", json_string(tk));
    }
    tracking__set_list(o, "metrics", pts);
    pts = NULL;
    rc = tracking__reply(resp, o, err);
out:
    json_decref(a);
    json_decref(info);
    json_decref(pts);
    return rc;
}

/* Each endpoint twice: the API prefix and the UI's /ajax-api alias. */
#define ROUTE(m, p, scope, h, max)                                  \
    {m, "/api/2.0/mlflow/" p, scope, h, max},                       \
    {m, "/ajax-api/2.0/mlflow/" p, scope, h, max}

static const struct skiff_route routes[] = {
    ROUTE("POST", "experiments/create", SCOPE_WRITE, h_exp_create, BODY_MAX),
    ROUTE("GET", "experiments/get", SCOPE_READ, h_exp_get, 0),
    ROUTE("GET", "experiments/get-by-name", SCOPE_READ, h_exp_get_by_name, 0),
    ROUTE("POST", "experiments/search", SCOPE_READ, h_exp_search, BODY_MAX),
    ROUTE("GET", "experiments/search", SCOPE_READ, h_exp_search, 0),
    ROUTE("POST", "experiments/update", SCOPE_WRITE, h_exp_update, BODY_MAX),
    ROUTE("POST", "experiments/delete", SCOPE_WRITE, h_exp_delete, BODY_MAX),
    ROUTE("POST", "experiments/restore", SCOPE_WRITE, h_exp_restore, BODY_MAX),
    ROUTE("POST", "experiments/set-experiment-tag", SCOPE_WRITE, h_exp_set_tag, BODY_MAX),
    ROUTE("POST", "experiments/delete-experiment-tag", SCOPE_WRITE, h_exp_del_tag, BODY_MAX),
    ROUTE("POST", "runs/create", SCOPE_WRITE, h_run_create, BODY_MAX),
    ROUTE("GET", "runs/get", SCOPE_READ, h_run_get, 0),
    ROUTE("POST", "runs/update", SCOPE_WRITE, h_run_update, BODY_MAX),
    ROUTE("POST", "runs/delete", SCOPE_WRITE, h_run_delete, BODY_MAX),
    ROUTE("POST", "runs/restore", SCOPE_WRITE, h_run_restore, BODY_MAX),
    ROUTE("POST", "runs/log-metric", SCOPE_WRITE, h_log_metric, BODY_MAX),
    ROUTE("POST", "runs/log-parameter", SCOPE_WRITE, h_log_param, BODY_MAX),
    ROUTE("POST", "runs/set-tag", SCOPE_WRITE, h_set_tag, BODY_MAX),
    ROUTE("POST", "runs/delete-tag", SCOPE_WRITE, h_delete_tag, BODY_MAX),
    ROUTE("POST", "runs/log-batch", SCOPE_WRITE, h_log_batch, BATCH_BODY_MAX),
    ROUTE("POST", "runs/search", SCOPE_READ, h_run_search, BODY_MAX),
    ROUTE("GET", "metrics/get-history", SCOPE_READ, h_metric_history, 0),
    ROUTE("POST", "runs/log-model", SCOPE_WRITE, h_log_model, BATCH_BODY_MAX),
    ROUTE("POST", "runs/log-inputs", SCOPE_WRITE, h_log_inputs, BATCH_BODY_MAX),
    ROUTE("GET", "artifacts/list", SCOPE_READ, h_artifacts_list, 0),
    /* model registry (registry.c) */
    ROUTE("POST", "registered-models/create", SCOPE_WRITE, tracking__h_rm_create, BODY_MAX),
    ROUTE("GET", "registered-models/get", SCOPE_READ, tracking__h_rm_get, 0),
    ROUTE("POST", "registered-models/rename", SCOPE_WRITE, tracking__h_rm_rename, BODY_MAX),
    ROUTE("PATCH", "registered-models/update", SCOPE_WRITE, tracking__h_rm_update, BODY_MAX),
    ROUTE("DELETE", "registered-models/delete", SCOPE_WRITE, tracking__h_rm_delete, BODY_MAX),
    ROUTE("GET", "registered-models/search", SCOPE_READ, tracking__h_rm_search, 0),
    ROUTE("POST", "registered-models/get-latest-versions", SCOPE_READ, tracking__h_rm_latest,
          BODY_MAX),
    ROUTE("GET", "registered-models/get-latest-versions", SCOPE_READ, tracking__h_rm_latest, 0),
    ROUTE("POST", "registered-models/set-tag", SCOPE_WRITE, tracking__h_rm_set_tag, BODY_MAX),
    ROUTE("DELETE", "registered-models/delete-tag", SCOPE_WRITE, tracking__h_rm_delete_tag,
          BODY_MAX),
    ROUTE("POST", "registered-models/alias", SCOPE_WRITE, tracking__h_alias_set, BODY_MAX),
    ROUTE("DELETE", "registered-models/alias", SCOPE_WRITE, tracking__h_alias_delete, BODY_MAX),
    ROUTE("GET", "registered-models/alias", SCOPE_READ, tracking__h_alias_get, 0),
    ROUTE("POST", "model-versions/create", SCOPE_WRITE, tracking__h_mv_create, BODY_MAX),
    ROUTE("GET", "model-versions/get", SCOPE_READ, tracking__h_mv_get, 0),
    ROUTE("PATCH", "model-versions/update", SCOPE_WRITE, tracking__h_mv_update, BODY_MAX),
    ROUTE("DELETE", "model-versions/delete", SCOPE_WRITE, tracking__h_mv_delete, BODY_MAX),
    ROUTE("GET", "model-versions/search", SCOPE_READ, tracking__h_mv_search, 0),
    ROUTE("POST", "model-versions/transition-stage", SCOPE_WRITE, tracking__h_mv_transition,
          BODY_MAX),
    ROUTE("GET", "model-versions/get-download-uri", SCOPE_READ, tracking__h_mv_download_uri, 0),
    ROUTE("POST", "model-versions/set-tag", SCOPE_WRITE, tracking__h_mv_set_tag, BODY_MAX),
    ROUTE("DELETE", "model-versions/delete-tag", SCOPE_WRITE, tracking__h_mv_delete_tag,
          BODY_MAX),
    /* proxied artifacts: bodies streamed to disk, never held in memory */
    {"PUT", "/api/2.0/mlflow-artifacts/artifacts/{path...}", SCOPE_WRITE, tracking__h_art_put,
     SKIFF_HTTP_STREAM | TRACKING__ARTIFACT_MAX},
    {"GET", "/api/2.0/mlflow-artifacts/artifacts/{path...}", SCOPE_READ, tracking__h_art_get, 0},
    {"DELETE", "/api/2.0/mlflow-artifacts/artifacts/{path...}", SCOPE_WRITE,
     tracking__h_art_delete, 0},
    {"GET", "/api/2.0/mlflow-artifacts/artifacts", SCOPE_READ, tracking__h_art_list, 0},
    {"POST", "/api/2.0/mlflow-artifacts/mpu/{op}/{path...}", SCOPE_WRITE, tracking__h_art_mpu,
     BODY_MAX},
    {"PUT", "/ajax-api/2.0/mlflow-artifacts/artifacts/{path...}", SCOPE_WRITE,
     tracking__h_art_put, SKIFF_HTTP_STREAM | TRACKING__ARTIFACT_MAX},
    {"GET", "/ajax-api/2.0/mlflow-artifacts/artifacts/{path...}", SCOPE_READ,
     tracking__h_art_get, 0},
    {"DELETE", "/ajax-api/2.0/mlflow-artifacts/artifacts/{path...}", SCOPE_WRITE,
     tracking__h_art_delete, 0},
    {"GET", "/ajax-api/2.0/mlflow-artifacts/artifacts", SCOPE_READ, tracking__h_art_list, 0},
    {"POST", "/ajax-api/2.0/mlflow-artifacts/mpu/{op}/{path...}", SCOPE_WRITE,
     tracking__h_art_mpu, BODY_MAX},
};

const struct skiff_route *skiff_tracking_routes(size_t *n)
{
    *n = sizeof routes / sizeof *routes;
    return routes;
}
