/* Private to the model runtimes (src/serving/model*.c, tree*.c, xgb*.c):
 * the parsed XGBoost model, the native runtime's flat forest and the
 * libxgboost runtime's handle. The server's private header is serving_int.h;
 * nothing here is meant for it, it uses include/skiff/serving.h.
 *
 * Life of a model:
 *
 *   skiff_model_load ─▶ model__resolve_path (file, or MLflow folder's MLmodel)
 *                    ─▶ xgb__to_json        (only for .ubj / legacy binary files)
 *                    ─▶ model__parse_json   (every field checked, trees flattened:
 *                                            struct model__spec)
 *                    ─▶ xgb__open           (libxgboost runtime only)
 *                    ─▶ immutable; skiff_model_predict from any thread
 *                       (tree__predict | xgb__predict)
 *   skiff_model_free ─▶ xgb__close, model__spec_release
 *
 * A model never changes after load, which is what makes predict safe from
 * many threads on the native runtime without a lock.
 */
#ifndef SKIFF_SERVING_MODEL_INT_H
#define SKIFF_SERVING_MODEL_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "skiff/serving.h"

struct skiff_err;

/* Deepest tree accepted: xgboost's own max_depth is far below; a deeper
 * "tree" is a hostile file or a chain meant to exhaust something. */
#define MODEL__MAX_DEPTH 64
/* Most features and output groups accepted (sizes of per-row buffers). */
#define MODEL__MAX_FEATURES (1u << 20)
#define MODEL__MAX_GROUPS 4096
/* Largest model file read: 1,000 trees of depth 8 are about 50 MiB of
 * JSON; jansson's tree of a file takes several times its size. */
#define MODEL__FILE_MAX ((size_t)256 << 20)

/* What the objective does to the summed margin (libxgboost's PredTransform). */
enum model__transform {
    MODEL__IDENTITY = 0, /* reg:squarederror, binary:logitraw: the margin itself */
    MODEL__SIGMOID,      /* binary:logistic, reg:logistic: 1 / (1 + exp(-m)) in float */
    MODEL__EXP,          /* count:poisson, reg:gamma, reg:tweedie: exp(m) in float */
    MODEL__SOFTPROB,     /* multi:softprob: softmax over the groups, every class out */
    MODEL__SOFTMAX,      /* multi:softmax: index of the largest margin, one value out */
};

/* One node of the native runtime's forest, 12 bytes, so a depth-6 tree
 * (127 nodes) is 1.5 KiB and a 100-tree model stays in L2.
 * The two children of a split are adjacent (right = left + 1), so a step
 * down is `i = left + go_right` with no second index to load. A leaf
 * points at itself and never steps right: walking a tree is then exactly
 * `depth` steps for every row, with no branch on the data (tree.c). */
struct tree__node {
    float value;   /* split: threshold (x < value goes left); leaf: leaf value */
    uint32_t feat; /* split: feature index | TREE__DEFAULT_LEFT; leaf: TREE__LEAF */
    uint32_t left; /* split: index of the left child in forest.nodes; leaf: its own index */
};
#define TREE__LEAF 0x80000000u
#define TREE__DEFAULT_LEFT 0x40000000u
#define TREE__FEAT_MASK 0x3fffffffu

/* Every tree of a model, flattened breadth-first into one node array. */
struct tree__forest {
    struct tree__node *nodes; /* owned */
    size_t nnodes;
    uint32_t *root;   /* owned; ntrees: index of each tree's root in nodes */
    uint32_t *group;  /* owned; ntrees: output group each tree adds to */
    uint8_t *depth;   /* owned; ntrees: depth of each tree's deepest leaf */
    float *weight;    /* owned; ntrees dart weights, NULL for gbtree */
    size_t ntrees;
};

/* A model as read from XGBoost JSON, checked, before a runtime takes it. */
struct model__spec {
    size_t nfeatures;
    size_t ngroups;               /* num_class, or 1 */
    enum model__transform transform;
    char objective[64];           /* objective name as written, for messages */
    float base_margin;            /* base_score turned into a margin, as libxgboost does */
    char **feature_names;         /* owned; NULL, or nfeatures strings */
    struct tree__forest forest;   /* filled by the parse (the flat trees) */
};

struct model__xgb;

struct skiff_model {
    enum skiff_model_runtime rt;
    struct model__spec spec;
    size_t noutputs;
    struct model__xgb *xgb; /* owned; the libxgboost runtime, NULL for native */
};

/* ---- model_path.c ---- */

/* Resolves `path` (a model file, or an MLflow model folder) to the model
 * file to read. Caller frees *file. *names (may be NULL to skip) gets the
 * column names of the MLmodel's signature.inputs, a JSON array of strings
 * the caller decrefs, or NULL when there are none: MLflow's default
 * model.xgb does not keep feature names, its signature does.
 * SKIFF_ENOTFOUND / SKIFF_EINVAL. */
int model__resolve_path(const char *path, char **file, json_t **names, struct skiff_err *err);

/* ---- model_json.c ---- */

/* Reads an XGBoost JSON model from `root` (the parsed document) into *spec,
 * checking every field a runtime relies on and flattening the trees.
 * `file` names the file in errors. On error *spec is released. Caller
 * releases *spec with model__spec_release. */
int model__parse_json(const json_t *root, const char *file, struct model__spec *spec,
                      struct skiff_err *err);
void model__spec_release(struct model__spec *spec);

/* ---- tree.c: the native runtime ---- */

/* Predicts nrows rows (row-major x) into out (nrows * noutputs). Never
 * fails; reads only the spec, so any number of threads may call it. */
void tree__predict(const struct model__spec *spec, const float *x, size_t nrows, double *out);

/* ---- xgb.c: the libxgboost runtime ---- */

/* Loads `file` into libxgboost (nthread=1) and checks that it agrees with
 * the spec on feature and group counts. Caller closes with xgb__close. */
int xgb__open(const char *file, const struct model__spec *spec, struct model__xgb **out,
              struct skiff_err *err);
void xgb__close(struct model__xgb *x);
int xgb__predict(struct model__xgb *x, const float *data, size_t nrows, size_t nfeatures,
                 double *out, size_t nout, struct skiff_err *err);
/* Converts a non-JSON model file (binary .xgb, UBJSON .ubj) to XGBoost JSON
 * text with libxgboost. Caller frees *json. */
int xgb__to_json(const char *file, char **json, struct skiff_err *err);

#endif
