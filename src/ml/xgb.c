/* XGBoost through its C API (ml.h): train, save, load, predict.
 *
 * Every XGBoost call returns 0 or -1 with the reason in XGBGetLastError();
 * XGB() turns that into a skiff error and jumps to the function's cleanup.
 * A parameter XGBoost refuses surfaces at XGBoosterSetParam or at the first
 * update (it checks lazily), so both are reported as SKIFF_EINVAL.
 */
#include "ml_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xgboost/c_api.h>

#include "skiff/err.h"

struct skiff_ml_model {
    BoosterHandle h;
    char **names;    /* copies of the feature names (XGBoost's are only borrowed) */
    size_t nfeat;
};

#define XGB(call, code, ...)                                                  \
    do {                                                                      \
        if ((call) != 0) {                                                    \
            rc = skiff_err_set(err, code, "%s", XGBGetLastError());          \
            skiff_err_prefix(err, __VA_ARGS__);                               \
            goto out;                                                         \
        }                                                                     \
    } while (0)

/* A DMatrix of rows [from, to) of d, with labels and feature names. */
static int make_dmatrix(const struct skiff_ml_data *d, size_t from, size_t to, DMatrixHandle *out,
                        struct skiff_err *err)
{
    DMatrixHandle m = NULL;
    int rc = 0;
    XGB(XGDMatrixCreateFromMat(d->x + from * d->nfeat, (bst_ulong)(to - from),
                               (bst_ulong)d->nfeat, NAN, &m),
        SKIFF_EINTERNAL, "xgboost cannot take the data");
    if (d->y) {
        float *lab = malloc((to - from ? to - from : 1) * sizeof *lab);
        int bad;
        if (!lab) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = from; i < to; i++)
            lab[i - from] = (float)d->y[i];
        bad = XGDMatrixSetFloatInfo(m, "label", lab, (bst_ulong)(to - from));
        free(lab);
        XGB(bad, SKIFF_EINTERNAL, "xgboost cannot take the labels");
    }
    XGB(XGDMatrixSetStrFeatureInfo(m, "feature_name", (const char **)d->names,
                                   (bst_ulong)d->nfeat),
        SKIFF_EINVAL, "xgboost refuses the feature names");
    XGB(XGDMatrixSetStrFeatureInfo(m, "feature_type", d->types, (bst_ulong)d->nfeat),
        SKIFF_EINVAL, "xgboost refuses the feature types");
    *out = m;
    m = NULL;
out:
    if (m)
        XGDMatrixFree(m);
    return rc;
}

/* "[3]\ttrain-auc:0.98\tvalid-auc:0.97" -> pairs. Returns how many. */
static size_t parse_eval(const char *s, struct skiff_ml_eval *ev, size_t max)
{
    size_t n = 0;
    const char *p = strchr(s, '\t');
    while (p && n < max) {
        const char *colon, *next;
        size_t len;
        p++;
        colon = strchr(p, ':');
        next = strchr(p, '\t');
        if (!colon || (next && colon > next))
            break;
        len = (size_t)(colon - p);
        if (len >= sizeof ev[n].name)
            len = sizeof ev[n].name - 1;
        memcpy(ev[n].name, p, len);
        ev[n].name[len] = 0;
        ev[n].value = strtod(colon + 1, NULL);
        n++;
        p = next;
    }
    return n;
}

static bool is_rounds_key(const char *k)
{
    return strcmp(k, "num_boost_round") == 0 || strcmp(k, "n_estimators") == 0 ||
           strcmp(k, "rounds") == 0 || strcmp(k, "num_round") == 0;
}

static int copy_names(struct skiff_ml_model *m, const char *const *names, size_t n,
                      struct skiff_err *err)
{
    m->names = calloc(n ? n : 1, sizeof *m->names);
    if (!m->names)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!(m->names[i] = strdup(names[i])))
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        m->nfeat++;
    }
    return 0;
}

int skiff_ml_train(const struct skiff_ml_data *d, const struct skiff_ml_train_opts *o,
                   struct skiff_ml_model **out, int *rounds_out, struct skiff_err *err)
{
    DMatrixHandle mats[2] = {NULL, NULL};
    const char *mat_names[2] = {"train", "valid"};
    struct skiff_ml_model *m = NULL;
    size_t ntrain = d->nrows, nmats = 1;
    bool has_objective = false, has_metric = false;
    int rounds = o->rounds, rc = 0;

    *out = NULL;
    if (!d->y)
        return skiff_err_set(err, SKIFF_EINVAL, "training needs a label column");
    if (o->valid_fraction < 0 || o->valid_fraction > 0.9)
        return skiff_err_at(err, SKIFF_EINVAL, "--valid-fraction", 0, 0,
                            "the validation fraction must be within 0 .. 0.9");
    if (o->valid_fraction > 0) {
        size_t nvalid = (size_t)((double)d->nrows * o->valid_fraction);
        if (nvalid == 0 || nvalid == d->nrows)
            return skiff_err_at(err, SKIFF_EINVAL, "--valid-fraction", 0, 0,
                                "%zu rows cannot be split %.2f for validation", d->nrows,
                                o->valid_fraction);
        ntrain = d->nrows - nvalid;
    }
    for (size_t i = 0; i < o->nparams; i++) {
        const char *k = o->params[i].key;
        has_objective |= strcmp(k, "objective") == 0;
        has_metric |= strcmp(k, "eval_metric") == 0;
        if (is_rounds_key(k) && o->rounds <= 0) {
            char *end;
            long r = strtol(o->params[i].value, &end, 10);
            if (*end || r < 1 || r > 100000)
                return skiff_err_at(err, SKIFF_EINVAL, k, 0, 0,
                                    "'%s' is not a number of rounds (1 .. 100000)",
                                    o->params[i].value);
            rounds = (int)r;
        }
    }
    if (rounds <= 0)
        rounds = 100;

    m = calloc(1, sizeof *m);
    if (!m)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if ((rc = make_dmatrix(d, 0, ntrain, &mats[0], err)))
        goto out;
    if (ntrain < d->nrows) {
        if ((rc = make_dmatrix(d, ntrain, d->nrows, &mats[1], err)))
            goto out;
        nmats = 2;
    }
    XGB(XGBoosterCreate(mats, nmats, &m->h), SKIFF_EINTERNAL, "cannot create a booster");
    /* the booster keeps its own copy of the names (python's Booster does
     * the same): that is what XGBoosterSaveModel writes */
    XGB(XGBoosterSetStrFeatureInfo(m->h, "feature_name", (const char **)d->names,
                                   (bst_ulong)d->nfeat),
        SKIFF_EINVAL, "xgboost refuses the feature names");
    XGB(XGBoosterSetStrFeatureInfo(m->h, "feature_type", d->types, (bst_ulong)d->nfeat),
        SKIFF_EINVAL, "xgboost refuses the feature types");
    if (!has_objective)
        XGB(XGBoosterSetParam(m->h, "objective", "binary:logistic"), SKIFF_EINTERNAL,
            "objective");
    if (!has_metric) {
        XGB(XGBoosterSetParam(m->h, "eval_metric", "auc"), SKIFF_EINTERNAL, "eval_metric");
        XGB(XGBoosterSetParam(m->h, "eval_metric", "logloss"), SKIFF_EINTERNAL, "eval_metric");
    }
    for (size_t i = 0; i < o->nparams; i++) {
        if (is_rounds_key(o->params[i].key))
            continue;
        XGB(XGBoosterSetParam(m->h, o->params[i].key, o->params[i].value), SKIFF_EINVAL,
            "parameter '%s' = '%s'", o->params[i].key, o->params[i].value);
    }
    for (int it = 0; it < rounds; it++) {
        const char *text;
        struct skiff_ml_eval ev[16];
        XGB(XGBoosterUpdateOneIter(m->h, it, mats[0]), SKIFF_EINVAL, "training round %d", it);
        if (o->on_round) {
            XGB(XGBoosterEvalOneIter(m->h, it, mats, mat_names, (bst_ulong)nmats, &text),
                SKIFF_EINVAL, "evaluating round %d", it);
            o->on_round(o->ctx, it, ev, parse_eval(text, ev, 16));
        }
    }
    if ((rc = copy_names(m, (const char *const *)d->names, d->nfeat, err)))
        goto out;
    if (rounds_out)
        *rounds_out = rounds;
    *out = m;
    m = NULL;
out:
    for (size_t i = 0; i < 2; i++)
        if (mats[i])
            XGDMatrixFree(mats[i]);
    skiff_ml_model_free(m);
    return rc;
}

int skiff_ml_model_save(const struct skiff_ml_model *m, const char *path, struct skiff_err *err)
{
    int rc = 0;
    XGB(XGBoosterSaveModel(m->h, path), SKIFF_EIO, "cannot save the model to '%s'", path);
out:
    return rc;
}

int skiff_ml_model_load(const char *path, struct skiff_ml_model **out, struct skiff_err *err)
{
    struct skiff_ml_model *m = calloc(1, sizeof *m);
    const char **names = NULL;
    bst_ulong n = 0;
    int rc = 0;

    *out = NULL;
    if (!m)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    XGB(XGBoosterCreate(NULL, 0, &m->h), SKIFF_EINTERNAL, "cannot create a booster");
    XGB(XGBoosterLoadModel(m->h, path), SKIFF_EINVAL, "cannot load the model '%s'", path);
    XGB(XGBoosterGetStrFeatureInfo(m->h, "feature_name", &n, &names), SKIFF_EINVAL,
        "cannot read the model's feature names");
    if ((rc = copy_names(m, names, (size_t)n, err)))
        goto out;
    *out = m;
    m = NULL;
out:
    skiff_ml_model_free(m);
    return rc;
}

const char *const *skiff_ml_model_features(const struct skiff_ml_model *m, size_t *n)
{
    *n = m->nfeat;
    return m->nfeat ? (const char *const *)m->names : NULL;
}

int skiff_ml_predict(const struct skiff_ml_model *m, const struct skiff_ml_data *d, double *out,
                     struct skiff_err *err)
{
    DMatrixHandle dm = NULL;
    bst_ulong const *shape;
    bst_ulong dim;
    const float *res;
    size_t total = 1;
    int rc;

    /* labels are not needed to predict; a copy without them keeps
     * make_dmatrix simple */
    struct skiff_ml_data nolab = *d;
    nolab.y = NULL;
    if ((rc = make_dmatrix(&nolab, 0, d->nrows, &dm, err)))
        return rc;
    XGB(XGBoosterPredictFromDMatrix(m->h, dm,
                                    "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
                                    "\"iteration_end\": 0, \"strict_shape\": false}",
                                    &shape, &dim, &res),
        SKIFF_EINVAL, "cannot predict");
    for (bst_ulong i = 0; i < dim; i++)
        total *= (size_t)shape[i];
    if (total != d->nrows) {
        rc = skiff_err_set(err, SKIFF_EINVAL,
                           "the model gives %zu values for %zu rows (not a binary classifier?)",
                           total, d->nrows);
        goto out;
    }
    for (size_t i = 0; i < d->nrows; i++)
        out[i] = (double)res[i];
out:
    XGDMatrixFree(dm);
    return rc;
}

void skiff_ml_model_free(struct skiff_ml_model *m)
{
    if (!m)
        return;
    if (m->h)
        XGBoosterFree(m->h);
    for (size_t i = 0; i < m->nfeat; i++)
        free(m->names[i]);
    free(m->names);
    free(m);
}
