/* ML steps: synthetic data, data validation, metrics and XGBoost training.
 *
 * What the CLI's datagen, validate, train and evaluate commands share
 * (docs/ml.md). Nothing here talks HTTP: logging to tracking is the CLI's
 * job (src/cli/mlflow_client.c). Tables are the feature store's
 * (include/skiff/features.h). Nothing here keeps global state; each call is
 * safe to make from several threads on different arguments.
 */
#ifndef SKIFF_ML_H
#define SKIFF_ML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct skiff_buf;
struct skiff_err;
struct skiff_feat_table;
typedef struct json_t json_t;

/* ---- datagen ---- */

struct skiff_ml_datagen_opts {
    uint32_t users;       /* 1 .. 999999 */
    uint32_t days;        /* 1 .. 3650 */
    int32_t drift_from;   /* first drifted day (0-based), or -1 for none */
    uint64_t seed;
    int64_t start_us;     /* first day's midnight, UTC µs */
    /* called after each day is written (may be NULL): a progress bar */
    void (*progress)(void *ctx, uint32_t days_done, uint32_t days);
    void *progress_ctx;
};

struct skiff_ml_datagen_stats {
    uint64_t rows, frauds;
    uint32_t merchants;
};

/* Writes DIR/transactions.csv, DIR/labels.csv and DIR/meta.json (the folder
 * is created when missing): seeded synthetic card transactions with fraud
 * episodes (docs/ml.md "Synthetic data"). The same options give the same
 * bytes. Errors: SKIFF_EINVAL for options out of range, SKIFF_EIO when a
 * file cannot be written. */
int skiff_ml_datagen_fraud(const char *dir, const struct skiff_ml_datagen_opts *o,
                           struct skiff_ml_datagen_stats *stats, struct skiff_err *err);

/* ---- metrics (binary classification) ----
 *
 * y holds 0/1 labels, p scores (probabilities for log loss). The values are
 * scikit-learn's (docs/ml.md "Metrics" has the formulas and a worked
 * example), so a run's numbers can be checked against it to 1e-9. */

/* ROC AUC: the trapezoid area under the ROC curve whose points are the
 * distinct score thresholds, as roc_auc_score (ties count one half).
 * SKIFF_EINVAL when y holds one class only (the AUC is undefined). */
int skiff_ml_roc_auc(const double *y, const double *p, size_t n, double *out,
                     struct skiff_err *err);
/* Average precision, as average_precision_score: sum over the distinct
 * thresholds, high to low, of (R_k - R_{k-1}) * P_k. SKIFF_EINVAL without
 * positives. */
int skiff_ml_average_precision(const double *y, const double *p, size_t n, double *out,
                               struct skiff_err *err);
/* Mean binary cross-entropy, as log_loss with eps="auto": p clipped to
 * [eps, 1 - eps], eps = DBL_EPSILON. SKIFF_EINVAL when n is 0. */
int skiff_ml_log_loss(const double *y, const double *p, size_t n, double *out,
                      struct skiff_err *err);

struct skiff_ml_confusion {
    uint64_t tp, fp, tn, fn;
    double precision, recall, f1, accuracy;   /* 0 where the ratio is 0/0, as sklearn */
};
/* Predicted positive when p >= threshold. */
void skiff_ml_confusion(const double *y, const double *p, size_t n, double threshold,
                        struct skiff_ml_confusion *out);

/* ---- data for training and scoring ---- */

/* A numeric matrix read from CSV: what XGBoost is given. */
struct skiff_ml_data {
    size_t nrows, nfeat;
    float *x;            /* nrows * nfeat, row-major; NaN is a missing value */
    double *y;           /* the label column, or NULL when none was asked for */
    char **names;        /* nfeat feature names */
    const char **types;  /* nfeat XGBoost feature types: "int" or "float" (static) */
};

struct skiff_ml_data_opts {
    const char *label;              /* label column (must be numeric), or NULL */
    const char *const *drop;        /* columns never used as features */
    size_t ndrop;
    const char *const *features;    /* exactly these features, in this order (a model's
                                       feature_names); NULL: every numeric column but
                                       the label, the dropped and timestamp columns */
    size_t nfeatures;
    bool progress;                  /* progress bar on stderr while reading */
};

/* Reads a CSV file (skiff_feat_csv_read) into a matrix. A column is numeric
 * when every non-empty cell parses as a number; empty cells and NA/NaN/null
 * are missing (NaN). Without opts->features, STRING columns and columns
 * named *timestamp*, *_at, date or datetime are left out. Errors:
 * SKIFF_EINVAL naming the column (no label column, a non-numeric label or
 * requested feature, labels other than numbers), the reader's SKIFF_EPARSE
 * with file:line:col. Caller frees *out with skiff_ml_data_free. */
int skiff_ml_data_load(const char *path, const struct skiff_ml_data_opts *o,
                       struct skiff_ml_data **out, struct skiff_err *err);
void skiff_ml_data_free(struct skiff_ml_data *d);

/* Writes up to `max` rows chosen at random (seeded) as CSV with a header of
 * the feature names, features only: the reference sample a drift monitor
 * compares live data with. Rows keep their file order. */
int skiff_ml_data_write_sample(const struct skiff_ml_data *d, size_t max, uint64_t seed,
                               const char *path, struct skiff_err *err);

/* ---- XGBoost ---- */

struct skiff_ml_model;   /* a booster (opaque) */

struct skiff_ml_param {
    const char *key, *value;
};

/* One evaluation result of one round, e.g. ("valid-auc", 0.981). */
struct skiff_ml_eval {
    char name[64];
    double value;
};

struct skiff_ml_train_opts {
    const struct skiff_ml_param *params;   /* XGBoost parameters, in order; later wins */
    size_t nparams;
    int rounds;                 /* boosting rounds; 0: num_boost_round / n_estimators /
                                   rounds from params, else 100 */
    double valid_fraction;      /* the last rows held out for per-round metrics, 0..0.9 */
    /* called after each round with that round's evaluations (may be NULL) */
    void (*on_round)(void *ctx, int round, const struct skiff_ml_eval *ev, size_t nev);
    void *ctx;
};

/* Trains a booster on d (which must have labels): objective
 * binary:logistic and eval_metric auc + logloss unless params say
 * otherwise. Every round is evaluated on "train" and, with a validation
 * split, on "valid". The feature names and types go into the model.
 * *rounds_out (may be NULL) is the rounds trained. Errors: SKIFF_EINVAL for
 * a parameter XGBoost refuses (its message), no rows. Caller frees *out. */
int skiff_ml_train(const struct skiff_ml_data *d, const struct skiff_ml_train_opts *o,
                   struct skiff_ml_model **out, int *rounds_out, struct skiff_err *err);

/* Saves as XGBoost JSON (path ends in .json) or UBJSON (.ubj). */
int skiff_ml_model_save(const struct skiff_ml_model *m, const char *path, struct skiff_err *err);
/* Loads a model file python xgboost or skiff saved. Caller frees *out. */
int skiff_ml_model_load(const char *path, struct skiff_ml_model **out, struct skiff_err *err);
/* The model's feature names (borrowed until the model is freed), or NULL
 * with *n = 0 when it has none. */
const char *const *skiff_ml_model_features(const struct skiff_ml_model *m, size_t *n);
/* Scores every row of d: out[nrows] (probabilities for binary:logistic). */
int skiff_ml_predict(const struct skiff_ml_model *m, const struct skiff_ml_data *d, double *out,
                     struct skiff_err *err);
void skiff_ml_model_free(struct skiff_ml_model *m);

/* The MLmodel file of a model logged at artifact path "model": flavors
 * python_function (loader mlflow.xgboost) and xgboost (model.json), the run
 * id, the time and a signature with the feature names. Appends to out. */
int skiff_ml_mlmodel_text(const char *run_id, const struct skiff_ml_data *d,
                          struct skiff_buf *out, struct skiff_err *err);

/* ---- validation ----
 *
 * Expectations (YAML, docs/ml.md "Validation"):
 *   row_count: {min: 1000, max: 20000000}
 *   strict: true                 # columns not listed are violations
 *   columns:
 *     amount: {type: number, min: 0, max: 100000, max_null_fraction: 0.01}
 *     is_fraud: {type: integer, allowed: [0, 1], not_null: true}
 *     transaction_id: {type: string, unique: true}
 *     event_timestamp: {type: timestamp}
 * Types: string, number, integer, boolean, timestamp. */

struct skiff_ml_expect;

/* Loads and checks an expectations file: bad YAML is SKIFF_EPARSE and an
 * unknown key or a wrong value SKIFF_EINVAL, both at file:line:col. Caller
 * frees *out with skiff_ml_expect_free. */
int skiff_ml_expect_load(const char *path, struct skiff_ml_expect **out, struct skiff_err *err);
void skiff_ml_expect_free(struct skiff_ml_expect *e);

/* Checks the CSV file at data_path. *report (caller decrefs) is
 *   {"success": bool, "rows": N, "checks": N, "data": path,
 *    "violations": [{"column", "check", "message", "observed"}]}
 * A violation is not an error: errors are files that cannot be read. */
int skiff_ml_validate(const struct skiff_ml_expect *e, const char *data_path, bool progress,
                      json_t **report, struct skiff_err *err);

#endif
