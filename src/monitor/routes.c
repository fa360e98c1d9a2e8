/* The drift monitor's routes (ctx: the controller):
 *   POST /api/v1/driftmonitors/{name}/run                 run now (monitor:write)
 *   GET  /api/v1/driftmonitors/{name}/runs                every run, newest first
 *   GET  /api/v1/driftmonitors/{name}/runs/{id}           one run
 *   GET  /api/v1/driftmonitors/{name}/runs/{id}/report    its HTML report
 *   GET  /api/v1/driftmonitors/{name}/runs/{id}/report.json  its JSON (Evidently's shape)
 */
#include "monitor_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/http.h"
#include "skiff/resource.h"
#include "skiff/store.h"

#define REPORT_CAP ((size_t)256 << 20)

static int h_run(struct skiff_http_req *req, struct skiff_http_resp *resp, struct skiff_err *err)
{
    struct skiff_mon_controller *c = req->ctx;
    json_t *run = NULL;
    char *text;
    int rc;

    if ((rc = skiff_mon_controller_run(c, skiff_http_param(req, "name"), "manual", &run, err)))
        return rc;
    text = json_dumps(run, JSON_COMPACT);
    json_decref(run);
    if (!text)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    rc = skiff_http_reply_json(resp, 200, text);
    free(text);
    return rc;
}

static json_t *col_text(const struct skiff_store_val *v)
{
    return v->type == SKIFF_VAL_TEXT ? json_loads(v->s, 0, NULL) : NULL;
}

static int64_t col_int(const struct skiff_store_val *v)
{
    return v->type == SKIFF_VAL_INT ? v->i : v->type == SKIFF_VAL_REAL ? (int64_t)v->d : 0;
}

/* monitor, id, trigger_kind, started_us, ended_us, phase, dataset_drift,
 * share, n_columns, n_drifted, reference_rows, current_rows, message, columns */
#define RUN_COLS                                                                        \
    "monitor, id, trigger_kind, started_us, ended_us, phase, dataset_drift, share,"      \
    " n_columns, n_drifted, reference_rows, current_rows, message, columns"

static int run_row(void *ctx, const struct skiff_store_val *v, size_t n, struct skiff_err *err)
{
    json_t *arr = ctx, *o;
    if (n < 14)
        return skiff_err_set(err, SKIFF_EINTERNAL, "monitor_runs: %zu columns", n);
    o = monitor__run_json(v[0].s, col_int(&v[1]), v[2].s, col_int(&v[3]), col_int(&v[4]), v[5].s,
                          v[6].type == SKIFF_VAL_NULL ? -1 : (int)col_int(&v[6]),
                          v[7].type == SKIFF_VAL_REAL ? v[7].d : 0, col_int(&v[8]),
                          col_int(&v[9]), col_int(&v[10]), col_int(&v[11]),
                          v[12].type == SKIFF_VAL_TEXT ? v[12].s : "", col_text(&v[13]));
    if (!o || json_array_append_new(arr, o))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    return 0;
}

/* The monitor must exist (404 otherwise, as for the object itself). */
static int check_monitor(struct skiff_mon_controller *c, const char *name, struct skiff_err *err)
{
    json_t *obj = NULL;
    int rc = skiff_resource_get(monitor__store(c), monitor__kind(c), name, &obj, err);
    json_decref(obj);
    return rc;
}

static int parse_id(const char *s, int64_t *id, struct skiff_err *err)
{
    char *end;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || end == s || *end || v <= 0)
        return skiff_err_set(err, SKIFF_EINVAL, "run id '%s' is not a positive integer",
                             s ? s : "");
    *id = v;
    return 0;
}

static int reply_obj(struct skiff_http_resp *resp, json_t *o, struct skiff_err *err)
{
    char *text = json_dumps(o, JSON_COMPACT);
    int rc;
    if (!text)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    rc = skiff_http_reply_json(resp, 200, text);
    free(text);
    return rc;
}

static int h_runs(struct skiff_http_req *req, struct skiff_http_resp *resp, struct skiff_err *err)
{
    struct skiff_mon_controller *c = req->ctx;
    const char *name = skiff_http_param(req, "name");
    struct skiff_store_val p = {.type = SKIFF_VAL_TEXT, .s = name, .len = strlen(name)};
    json_t *arr = json_array(), *o;
    int rc;

    if (!arr)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if ((rc = check_monitor(c, name, err)) ||
        (rc = skiff_store_query(monitor__store(c),
                                "SELECT " RUN_COLS " FROM monitor_runs WHERE monitor = ?"
                                " ORDER BY id DESC",
                                &p, 1, run_row, arr, err))) {
        json_decref(arr);
        return rc;
    }
    o = json_pack("{s:o}", "runs", arr);
    rc = reply_obj(resp, o, err);
    json_decref(o);
    return rc;
}

static int get_run(struct skiff_mon_controller *c, const char *name, const char *ids, json_t **out,
                   struct skiff_err *err)
{
    struct skiff_store_val p[2] = {{.type = SKIFF_VAL_TEXT, .s = name, .len = strlen(name)},
                                   {.type = SKIFF_VAL_INT}};
    json_t *arr = json_array();
    int rc;

    *out = NULL;
    if (!arr)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if ((rc = parse_id(ids, &p[1].i, err)) || (rc = check_monitor(c, name, err)) ||
        (rc = skiff_store_query(monitor__store(c),
                                "SELECT " RUN_COLS
                                " FROM monitor_runs WHERE monitor = ? AND id = ?",
                                p, 2, run_row, arr, err))) {
        json_decref(arr);
        return rc;
    }
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        return skiff_err_set(err, SKIFF_ENOTFOUND, "drift monitor '%s' has no run %s", name, ids);
    }
    *out = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    return 0;
}

static int h_run_get(struct skiff_http_req *req, struct skiff_http_resp *resp,
                     struct skiff_err *err)
{
    json_t *run;
    int rc = get_run(req->ctx, skiff_http_param(req, "name"), skiff_http_param(req, "id"), &run,
                     err);
    if (rc)
        return rc;
    rc = reply_obj(resp, run, err);
    json_decref(run);
    return rc;
}

static int report(struct skiff_http_req *req, struct skiff_http_resp *resp, const char *ext,
                  const char *type, struct skiff_err *err)
{
    struct skiff_mon_controller *c = req->ctx;
    const char *name = skiff_http_param(req, "name");
    struct skiff_buf b;
    json_t *run;
    char rel[600];
    int rc;

    if ((rc = get_run(c, name, skiff_http_param(req, "id"), &run, err)))
        return rc;
    if (!json_object_get(run, "report")) {
        json_decref(run);
        return skiff_err_set(err, SKIFF_ENOTFOUND, "run %s of '%s' failed: it has no report",
                             skiff_http_param(req, "id"), name);
    }
    snprintf(rel, sizeof rel, "drift/%s/%lld.%s", name,
             (long long)json_integer_value(json_object_get(run, "id")), ext);
    json_decref(run);
    skiff_buf_init(&b, REPORT_CAP);
    if ((rc = skiff_blob_get(monitor__blob(c), rel, &b, err)) == 0)
        rc = skiff_http_reply(resp, 200, type, b.ptr, b.len);
    skiff_buf_release(&b);
    return rc;
}

static int h_report(struct skiff_http_req *req, struct skiff_http_resp *resp,
                    struct skiff_err *err)
{
    return report(req, resp, "html", "text/html; charset=utf-8", err);
}

static int h_report_json(struct skiff_http_req *req, struct skiff_http_resp *resp,
                         struct skiff_err *err)
{
    return report(req, resp, "json", "application/json", err);
}

static const struct skiff_route routes[] = {
    {"POST", "/api/v1/driftmonitors/{name}/run", "monitor:write", h_run, 1 << 10},
    {"GET", "/api/v1/driftmonitors/{name}/runs", "monitor:read", h_runs, 0},
    {"GET", "/api/v1/driftmonitors/{name}/runs/{id}", "monitor:read", h_run_get, 0},
    {"GET", "/api/v1/driftmonitors/{name}/runs/{id}/report", "monitor:read", h_report, 0},
    {"GET", "/api/v1/driftmonitors/{name}/runs/{id}/report.json", "monitor:read", h_report_json,
     0},
};

const struct skiff_route *skiff_mon_routes(size_t *n)
{
    *n = sizeof routes / sizeof *routes;
    return routes;
}
