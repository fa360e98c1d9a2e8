/* Experiment tracking, speaking the MLflow REST API (specs/mlflow.md).
 *
 * Experiments, runs, their metrics (full history plus the latest value per
 * key), params (immutable once logged) and tags live in the metadata store,
 * in tables of this module (migrated with skiff_store_migrate), so two skiff
 * processes on one store see the same runs. The HTTP surface is one route
 * table under /api/2.0/mlflow/ (and the /ajax-api/2.0/mlflow/ alias of the
 * UI) with MLflow's error bodies:
 *
 *   struct skiff_tracking *t;
 *   skiff_tracking_open(store, &t, &err);
 *   routes = skiff_tracking_routes(&n);
 *   skiff_http_add_routes(srv, routes, n, skiff_tracking_errfmt, t, &err);
 *   ...
 *   skiff_tracking_close(t);     after the server has stopped
 *
 * Scopes: "tracking:read" for reads, "tracking:write" for writes.
 * Thread-safety: handlers run on many threads at once; the store serialises.
 */
#ifndef SKIFF_TRACKING_H
#define SKIFF_TRACKING_H

#include <stddef.h>

#include "skiff/http.h"

struct skiff_err;
struct skiff_store;
struct skiff_tracking;

/* Migrates the module's tables and makes sure experiment 0 ("Default")
 * exists. `s` is borrowed and must outlive the handle. Caller frees with
 * skiff_tracking_close. Errors are the store's. */
int skiff_tracking_open(struct skiff_store *s, struct skiff_tracking **out, struct skiff_err *err);
/* Frees the handle (not the store). Accepts NULL. */
void skiff_tracking_close(struct skiff_tracking *t);

/* The route table (static, `*n` entries); its ctx is the struct
 * skiff_tracking * from skiff_tracking_open. */
const struct skiff_route *skiff_tracking_routes(size_t *n);

/* Error formatter for the table: {"error_code": "<MLflow ErrorCode>",
 * "message": "..."} with MLflow's status for that code (ENOTFOUND ->
 * RESOURCE_DOES_NOT_EXIST 404, EINVAL -> INVALID_PARAMETER_VALUE 400,
 * EEXIST -> RESOURCE_ALREADY_EXISTS 400, ...). Matches skiff_http_errfmt_cb. */
void skiff_tracking_errfmt(const struct skiff_err *err, struct skiff_http_resp *resp);

#endif
