/* Model serving: model runtimes, the Open Inference Protocol (V2) and V1,
 * the InferenceService controller (revisions, canary), capacity, payload
 * logging (specs/kserve.md, docs/serving.md).
 */
#ifndef SKIFF_SERVING_H
#define SKIFF_SERVING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct skiff_err;

/* ---- model runtimes (src/serving/model*.c) ---- */

/* Which code evaluates an XGBoost model: skiff's own flat tree runtime, or
 * libxgboost through its C API. Both load the same XGBoost JSON model and
 * agree to 1e-6 (to the bit except dart, docs/serving-runtimes.md). */
enum skiff_model_runtime {
    SKIFF_MODEL_NATIVE = 0,
    SKIFF_MODEL_XGBOOST,
};

struct skiff_model;

/* Loads an XGBoost model: `path` is an XGBoost JSON model file (or UBJSON /
 * legacy binary, converted by libxgboost), or an MLflow model folder (its
 * MLmodel names the file under flavors.xgboost.data; else the folder's
 * model.json / model.ubj / model.xgb / only *.json). Caller frees with
 * skiff_model_free (which accepts NULL). A malformed or hostile model is
 * SKIFF_EINVAL with err->where = the file and the JSON field in the
 * message; a missing path SKIFF_ENOTFOUND; an unsupported objective,
 * booster or categorical split SKIFF_EINVAL naming it. *out is NULL on
 * error. */
int skiff_model_load(const char *path, enum skiff_model_runtime rt, struct skiff_model **out,
                     struct skiff_err *err);
void skiff_model_free(struct skiff_model *m);

/* Number of input features; their names (from the model's feature_names,
 * else its MLflow signature's input columns; NULL when it has none, or i
 * is out of range). Names are borrowed until skiff_model_free. */
size_t skiff_model_nfeatures(const struct skiff_model *m);
const char *skiff_model_feature_name(const struct skiff_model *m, size_t i);
/* Values per row in predict's output (1 for binary:logistic, regression
 * and multi:softmax (the class index), the class count for
 * multi:softprob). */
size_t skiff_model_noutputs(const struct skiff_model *m);

/* Predicts nrows rows of x (row-major, nrows * nfeatures floats, NaN for a
 * missing value) into out (nrows * noutputs), as libxgboost's predict does
 * by default (transformed by the objective: probabilities for
 * binary:logistic). Safe to call from many threads at once on one model.
 * The native runtime cannot fail; the xgboost one returns SKIFF_EINTERNAL
 * with libxgboost's message. nrows 0 does nothing. */
int skiff_model_predict(const struct skiff_model *m, const float *x, size_t nrows, double *out,
                        struct skiff_err *err);

/* ---- payload log (src/serving/logger*.c) ----
 *
 * The file sink of spec.predictor.logger, read by the drift monitor and the
 * skew check: SKIFF_HOME/payloads/<isvc name>/<YYYY-MM-DD>.jsonl (UTC day),
 * one JSON object per scored row:
 *
 *   {"ts": "2026-11-27T12:00:00.123456Z", "id": "<request id>",
 *    "model": "<isvc name>", "revision": "<revision name>",
 *    "features": {"<name>": <number or null>, ...},
 *    "outputs": [<number>, ...]}
 *
 * Feature names are the model's feature_names (or the enriching service's
 * feature names, or "f0".."fN-1"); entity keys of an enriched request are
 * included under their own names.
 *
 * A logger.url of http(s):// replaces the file sink: KServe's CloudEvents
 * (binary mode, the raw request and response bodies), docs/serving.md. */

/* ---- server, controller (the rest of src/serving/) ---- */

/* The InferenceService server: V2 and V1 routes shared by every service on
 * one port, each service's revisions and canary split, capacity, scale to
 * zero, payload log and metrics. `skiff up` runs it with a store (a
 * controller thread reconciles the stored InferenceServices and writes
 * their status); `skiff serve -f isvc.yaml` runs it with one service given
 * by skiff_serving_apply. */
struct skiff_serving;
struct skiff_store;
struct skiff_tracking;
struct skiff_route;
struct skiff_online;

struct skiff_serving_opts {
    const char *home;                /* SKIFF_HOME: payload logs in home/payloads */
    struct skiff_store *store;       /* InferenceServices to reconcile; NULL: skiff serve */
    struct skiff_tracking *tracking; /* resolves models:/, runs:/, mlflow-artifacts:/; may be NULL */
    const char *model_dir;           /* skiff serve --model-dir: overrides every storageUri */
    struct skiff_online *online;     /* feature enrichment reads here; NULL: none */
    unsigned poll_ms;                /* controller period, default 200 */
};

/* Creates the server (no thread yet). Borrowed pointers in `o` must outlive
 * it. Caller frees with skiff_serving_close. */
int skiff_serving_open(const struct skiff_serving_opts *o, struct skiff_serving **out,
                       struct skiff_err *err);
/* Adds or updates one service from an InferenceService object (a
 * jansson json_t *), loading its new revision before this returns; the
 * object's folder for relative storageUris is its skiff.dev/applied-from
 * annotation. SKIFF_EINVAL / SKIFF_ENOTFOUND when the model cannot be
 * loaded. Thread-safe against requests. */
int skiff_serving_apply(struct skiff_serving *s, const void *isvc_json, struct skiff_err *err);
/* Starts the controller thread (reconcile, status, drains, idle unloads,
 * canary analysis). `base_url` (copied) is what status.url is built on. */
int skiff_serving_start(struct skiff_serving *s, const char *base_url, struct skiff_err *err);
/* Stops the thread, flushes the payload log, unloads everything. Only
 * after the HTTP server that routes to it has stopped. Accepts NULL. */
void skiff_serving_close(struct skiff_serving *s);

/* The route table (V2, V1); register with the struct skiff_serving * as
 * ctx and skiff_serving_errfmt as the error formatter. Static. */
const struct skiff_route *skiff_serving_routes(size_t *n);
/* Error bodies of the inference protocols: {"error": "<message>"}. */
struct skiff_http_resp;
void skiff_serving_errfmt(const struct skiff_err *err, struct skiff_http_resp *resp);

/* Scopes of the inference routes (tokens from `skiff token --scope`). */
#define SKIFF_SCOPE_SERVING_INFER "serving:infer"
#define SKIFF_SCOPE_SERVING_READ "serving:read"

#endif
