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
 * agree to 1e-6. */
enum skiff_model_runtime {
    SKIFF_MODEL_NATIVE = 0,
    SKIFF_MODEL_XGBOOST,
};

struct skiff_model;

/* Loads an XGBoost model: `path` is an XGBoost JSON model file, or an MLflow
 * model folder (its MLmodel names the file under flavors.xgboost.data; else
 * the folder's only model.json / model.xgb / *.json). Caller frees with
 * skiff_model_free. A malformed model is SKIFF_EINVAL naming the file and
 * the JSON field. */
int skiff_model_load(const char *path, enum skiff_model_runtime rt, struct skiff_model **out,
                     struct skiff_err *err);
void skiff_model_free(struct skiff_model *m);

/* Number of input features; their names (from the model's feature_names;
 * NULL when the model has none). */
size_t skiff_model_nfeatures(const struct skiff_model *m);
const char *skiff_model_feature_name(const struct skiff_model *m, size_t i);
/* Values per row in predict's output (1 for binary:logistic and
 * regression, the class count for multi:softprob). */
size_t skiff_model_noutputs(const struct skiff_model *m);

/* Predicts nrows rows of x (row-major, nrows * nfeatures floats, NaN for a
 * missing value) into out (nrows * noutputs), as libxgboost's predict does
 * by default (transformed by the objective: probabilities for
 * binary:logistic). Safe to call from many threads at once on one model. */
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
 * included under their own names. */

/* ---- server, controller (the rest of src/serving/) ---- */

#endif
