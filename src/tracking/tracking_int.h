/* Declarations shared by the files of src/tracking/ (not public). */
#ifndef SKIFF_TRACKING_INT_H
#define SKIFF_TRACKING_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "skiff/buf.h"
#include "skiff/store.h"
#include "skiff/tracking.h"

struct skiff_arena;
struct skiff_err;

struct skiff_tracking {
    struct skiff_store *store;   /* borrowed */
    struct skiff_blob *blob;     /* borrowed: artifacts */
};

/* mlflow-artifacts:/<p> is blob TRACKING__BLOB_PREFIX "/<p>" (artifacts.c). */
#define TRACKING__BLOB_PREFIX "mlflow"
/* Uploads up to 5 GiB, streamed (never held in memory). */
#define TRACKING__ARTIFACT_MAX ((size_t)5 << 30)

/* Handlers of the mlflow-artifacts routes (artifacts.c); the route table is
 * in routes.c. */
int tracking__h_art_put(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err);
int tracking__h_art_get(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err);
int tracking__h_art_delete(struct skiff_http_req *req, struct skiff_http_resp *resp,
                           struct skiff_err *err);
int tracking__h_art_mpu(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err);
int tracking__h_art_list(struct skiff_http_req *req, struct skiff_http_resp *resp,
                         struct skiff_err *err);
/* Handlers of the model registry routes (registry.c). */
int tracking__h_rm_create(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err);
int tracking__h_rm_get(struct skiff_http_req *req, struct skiff_http_resp *resp,
                       struct skiff_err *err);
int tracking__h_rm_rename(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err);
int tracking__h_rm_update(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err);
int tracking__h_rm_delete(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err);
int tracking__h_rm_search(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err);
int tracking__h_rm_latest(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err);
int tracking__h_rm_set_tag(struct skiff_http_req *req, struct skiff_http_resp *resp,
                           struct skiff_err *err);
int tracking__h_rm_delete_tag(struct skiff_http_req *req, struct skiff_http_resp *resp,
                              struct skiff_err *err);
int tracking__h_alias_set(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err);
int tracking__h_alias_delete(struct skiff_http_req *req, struct skiff_http_resp *resp,
                             struct skiff_err *err);
int tracking__h_alias_get(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err);
int tracking__h_mv_create(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err);
int tracking__h_mv_get(struct skiff_http_req *req, struct skiff_http_resp *resp,
                       struct skiff_err *err);
int tracking__h_mv_update(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err);
int tracking__h_mv_delete(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err);
int tracking__h_mv_search(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err);
int tracking__h_mv_transition(struct skiff_http_req *req, struct skiff_http_resp *resp,
                              struct skiff_err *err);
int tracking__h_mv_download_uri(struct skiff_http_req *req, struct skiff_http_resp *resp,
                                struct skiff_err *err);
int tracking__h_mv_set_tag(struct skiff_http_req *req, struct skiff_http_resp *resp,
                           struct skiff_err *err);
int tracking__h_mv_delete_tag(struct skiff_http_req *req, struct skiff_http_resp *resp,
                              struct skiff_err *err);
/* Lists blob folder `rel` as an array of FileInfo (caller decrefs) whose
 * paths are `prefix`/<name>; a missing folder or a file is an empty list.
 * SKIFF_EINVAL for a path that escapes the root. */
int tracking__art_list(struct skiff_tracking *t, const char *rel, const char *prefix,
                       json_t **out, struct skiff_err *err);
/* Answers {"root_uri": ..., "files": [...]} (root_uri NULL: left out);
 * takes `files` over. */
int tracking__reply_files(struct skiff_http_resp *resp, const char *root_uri, json_t *files,
                          struct skiff_err *err);
/* The blob path (arena) of an mlflow-artifacts: URI (with or without a
 * //host:port part). SKIFF_EINVAL for another scheme. */
int tracking__uri_to_blob(struct skiff_arena *a, const char *uri, const char **rel,
                          struct skiff_err *err);

/* ---- shared by the handlers of routes.c and registry.c (defined in routes.c) ---- */

struct tracking__sql;

#define TRACKING__MISSING "Missing value for required parameter '%s'. See the API docs for " \
                          "more information about request parameters."

struct skiff_store_val tracking__v_text(const char *s);
struct skiff_store_val tracking__v_int(int64_t i);
int64_t tracking__now_ms(void);
/* The request's fields as one JSON object (caller decrefs): for GET the
 * query parameters named in `keys`, otherwise the JSON body ({} if empty;
 * a double-encoded body is decoded once more). SKIFF_EPARSE on bad JSON. */
int tracking__args(struct skiff_http_req *req, const char *const *keys, json_t **out,
                   struct skiff_err *err);
/* SKIFF_EINVAL "Invalid value ... for parameter 'key' supplied". */
int tracking__bad_value(const char *key, json_t *v, struct skiff_err *err);
/* A string field (integers become their text); *out NULL when absent and
 * not required; a required one must be non-empty. Arena or borrowed from o. */
int tracking__get_str(struct skiff_arena *a, json_t *o, const char *key, bool required,
                      const char **out, struct skiff_err *err);
bool tracking__parse_i64(const char *s, int64_t *out);
/* An int64 field: JSON integer or decimal text. */
int tracking__get_int(json_t *o, const char *key, bool required, int64_t def, int64_t *out,
                      bool *present, struct skiff_err *err);
/* MLflow's key and value length limits (SKIFF_EINVAL). */
int tracking__check_key(const char *what, const char *key, struct skiff_err *err);
int tracking__check_value(const char *what, const char *key, const char *value, size_t max,
                          struct skiff_err *err);
/* Sends `v` (taken over, may be NULL = out of memory) as the 200 body. */
int tracking__reply(struct skiff_http_resp *resp, json_t *v, struct skiff_err *err);
int tracking__reply_empty(struct skiff_http_resp *resp, struct skiff_err *err);
/* Runs `sql`; its rows as a new array of objects with keys `names` (NULL
 * columns left out). Caller decrefs *out. */
int tracking__rows(struct skiff_store *s, const char *sql, const struct skiff_store_val *p,
                   size_t n, const char *const *names, json_t **out, struct skiff_err *err);
/* o[key] = arr unless arr is empty; takes arr over. */
void tracking__set_list(json_t *o, const char *key, json_t *arr);
/* The answer of a paged search: {key: list, next_page_token} with the
 * token of `next_offset` when `more`. Takes `list` over. */
int tracking__reply_page(struct skiff_http_resp *resp, const char *key, json_t *list, bool more,
                         int64_t next_offset, struct skiff_err *err);
extern const char *const tracking__kv_names[];
bool tracking__all_digits(const char *s);
/* Row callback: first column as text into ctx (char[64]) if still empty. */
int tracking__first_text(void *ctx, const struct skiff_store_val *cols, size_t ncols,
                         struct skiff_err *err);
/* A tags field: NULL or a list of {key, value} within the limits; *out borrowed. */
int tracking__get_tags(json_t *a, const char *field, size_t max_value, json_t **out,
                       struct skiff_err *err);
/* max_results (1..50000, default 1000) and page_token of a search. */
int tracking__paging(struct skiff_arena *ar, json_t *a, int64_t *max, int64_t *offset,
                     struct skiff_err *err);
/* order_by as an array of strings (caller decrefs; NULL when absent). */
int tracking__order_list(json_t *a, json_t **out, struct skiff_err *err);
int tracking__sql_init(struct tracking__sql *q, struct skiff_arena *a);
/* Runs a built id query with LIMIT max + 1: ids (caller decrefs), *more. */
int tracking__page_ids(struct skiff_store *s, struct tracking__sql *q, int64_t max,
                       int64_t offset, json_t **ids, bool *more, struct skiff_err *err);
/* A run's RunInfo (caller decrefs); SKIFF_ENOTFOUND "Run with id=X not found". */
int tracking__run_info(struct skiff_store *s, const char *run_id, json_t **out,
                       struct skiff_err *err);
/* Inside a transaction: the run exists and is active. */
int tracking__run_active(struct skiff_store *s, const char *run_id, struct skiff_err *err);
int tracking__put_tag(struct skiff_store *s, const char *run_id, const char *key,
                      const char *value, struct skiff_err *err);

/* A SQL statement being built: text plus its '?' parameters in order.
 * Strings the parameters point to live in `arena`. */
#define TRACKING__MAX_PARAMS 256

struct tracking__sql {
    struct skiff_buf text;
    struct skiff_store_val params[TRACKING__MAX_PARAMS];
    size_t n;
    struct skiff_arena *arena;
    bool driven;   /* a filter produces the candidate runs from an index (run_id IN ...) */
};

/* Appends a parameter; SKIFF_EINVAL (a search too long) past TRACKING__MAX_PARAMS. */
int tracking__param_text(struct tracking__sql *q, const char *s, struct skiff_err *err);
int tracking__param_int(struct tracking__sql *q, int64_t v, struct skiff_err *err);
int tracking__param_real(struct tracking__sql *q, double v, struct skiff_err *err);

/* Appends to q->text " AND (<clause>)" for each clause of a runs/search
 * filter (MLflow's SearchUtils grammar: <entity>.<key> <op> <value> joined by
 * AND), over the table alias "r" (tracking_runs). SKIFF_EINVAL with a message
 * naming the offending part on a bad filter. */
int tracking__runs_filter(struct tracking__sql *q, const char *filter, struct skiff_err *err);
/* Appends one ORDER BY term (with its trailing ", ") for an order_by string
 * such as "metrics.auc DESC" or "attributes.start_time". */
int tracking__runs_order(struct tracking__sql *q, const char *order_by, struct skiff_err *err);
/* Experiments: filter on name (=, !=, LIKE, ILIKE) and order_by of
 * name/experiment_id/creation_time/last_update_time, over alias "e". */
int tracking__exps_filter(struct tracking__sql *q, const char *filter, struct skiff_err *err);
int tracking__exps_order(struct tracking__sql *q, const char *order_by, struct skiff_err *err);

/* Registry searches (search.c): registered-models/search filter on name
 * and tags.<key> over alias "m"; model-versions/search on name, run_id,
 * source_path, version_number and tags.<key> over alias "v". order_by of
 * name / creation_timestamp / last_updated_timestamp (/ version_number). */
int tracking__models_filter(struct tracking__sql *q, const char *filter, struct skiff_err *err);
int tracking__versions_filter(struct tracking__sql *q, const char *filter, struct skiff_err *err);
int tracking__models_order(struct tracking__sql *q, const char *order_by, struct skiff_err *err);
int tracking__versions_order(struct tracking__sql *q, const char *order_by,
                             struct skiff_err *err);

/* page_token: base64 of {"offset": N}, as MLflow makes it. `tok` NULL or ""
 * is offset 0. encode writes into out[n] (64 bytes are enough). */
int tracking__token_decode(const char *tok, int64_t *offset, struct skiff_err *err);
void tracking__token_encode(int64_t offset, char *out, size_t n);

#endif
