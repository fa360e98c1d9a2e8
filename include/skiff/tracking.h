/* Experiment tracking and model registry, speaking the MLflow REST API
 * (specs/mlflow.md).
 *
 * Experiments, runs, their metrics (full history plus the latest value per
 * key), params (immutable once logged), tags and dataset inputs, and the
 * model registry (registered models, versions, stages, aliases, tags) live in
 * the metadata store, in tables of this module (migrated with
 * skiff_store_migrate), so two skiff processes on one store see the same
 * runs. Artifacts live in the blob store, under "mlflow/": the proxied
 * mlflow-artifacts API streams uploads to it without holding them in memory.
 * The HTTP surface is one route table under /api/2.0/mlflow/ and
 * /api/2.0/mlflow-artifacts/ (and the /ajax-api/2.0/ aliases of the UI) with
 * MLflow's error bodies:
 *
 *   struct skiff_tracking *t;
 *   skiff_tracking_open(store, blob, &t, &err);
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

struct skiff_blob;
struct skiff_err;
struct skiff_store;
struct skiff_tracking;

/* Migrates the module's tables and makes sure experiment 0 ("Default")
 * exists. `s` and `blob` (where artifacts live: mlflow-artifacts:/<p> is
 * blob "mlflow/<p>") are borrowed and must outlive the handle. Caller frees
 * with skiff_tracking_close. Errors are the store's; SKIFF_EINVAL when `blob`
 * is NULL. */
int skiff_tracking_open(struct skiff_store *s, struct skiff_blob *blob,
                        struct skiff_tracking **out, struct skiff_err *err);
/* Frees the handle (not the store). Accepts NULL. */
void skiff_tracking_close(struct skiff_tracking *t);

/* The route table (static, `*n` entries); its ctx is the struct
 * skiff_tracking * from skiff_tracking_open. */
const struct skiff_route *skiff_tracking_routes(size_t *n);

/* Resolves a model or artifact URI to a local file path, in one place for
 * every consumer (serving, evaluation, the CLI):
 *
 *   models:/NAME/VERSION      that version's files (its storage location,
 *                             resolved again: usually mlflow-artifacts:/...)
 *   models:/NAME/STAGE        the highest version in stage STAGE (None,
 *                             Staging, Production, Archived; any case)
 *   models:/NAME/latest       the highest version
 *   models:/NAME@ALIAS        the version the alias names
 *   runs:/RUN_ID/PATH         <the run's artifact_uri>/PATH
 *   mlflow-artifacts:/PATH    the blob store's file for PATH (also with a
 *                             //host:port part, as the client writes them)
 *   file:///abs, /abs         the local path itself (the operator named it)
 *   relative/path             that path under the blob root
 *
 * The result (written to path_out[n]) is an absolute path; a blob path is
 * checked as skiff_blob_resolve does (no "..", no symlink out of the root).
 * The file need not exist. Errors: SKIFF_EINVAL for a malformed URI, an
 * unknown alias, a path that escapes; SKIFF_ENOTFOUND for an unknown model,
 * version or run. Thread-safe. */
int skiff_tracking_resolve_uri(struct skiff_tracking *t, const char *uri, char *path_out,
                               size_t n, struct skiff_err *err);

/* Error formatter for the table: {"error_code": "<MLflow ErrorCode>",
 * "message": "..."} with MLflow's status for that code (ENOTFOUND ->
 * RESOURCE_DOES_NOT_EXIST 404, EINVAL -> INVALID_PARAMETER_VALUE 400,
 * EEXIST -> RESOURCE_ALREADY_EXISTS 400, ...). Matches skiff_http_errfmt_cb. */
void skiff_tracking_errfmt(const struct skiff_err *err, struct skiff_http_resp *resp);

#endif
