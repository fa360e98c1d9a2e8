/* The libxgboost runtime: the same model evaluated by libxgboost 1.7's C
 * API, in process. It is the reference the native runtime is checked
 * against, and the fallback for anything the native one refuses to guess.
 *
 * Threads: prediction goes through XGBoosterPredictFromDense ("inplace
 * predict"), which libxgboost 1.7 documents as thread-safe: its output
 * buffer lives in a per-thread, per-booster entry, and the booster is not
 * changed by it. What is not safe is the lazy configuration a booster
 * does on its first prediction, so xgb__open predicts once before the
 * model is shared. nthread is 1: a serving process gets its parallelism
 * from concurrent requests, and an OpenMP team per one-row call costs
 * more than the row.
 */
#include "model_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xgboost/c_api.h>

#include "skiff/err.h"

struct model__xgb {
    BoosterHandle h;
};

static int xgb_err(struct skiff_err *err, const char *what, const char *file)
{
    return skiff_err_at(err, SKIFF_EINVAL, file, 0, 0, "libxgboost cannot %s '%s': %s", what,
                        file, XGBGetLastError());
}

static int load(const char *file, BoosterHandle *h, struct skiff_err *err)
{
    if (XGBoosterCreate(NULL, 0, h) != 0)
        return skiff_err_set(err, SKIFF_EINTERNAL, "libxgboost cannot create a booster: %s",
                             XGBGetLastError());
    if (XGBoosterLoadModel(*h, file) != 0 || XGBoosterSetParam(*h, "nthread", "1") != 0) {
        int rc = xgb_err(err, "load model", file);
        XGBoosterFree(*h);
        *h = NULL;
        return rc;
    }
    return 0;
}

/* One call of inplace predict; *res is libxgboost's per-thread buffer,
 * valid until this thread's next call on this booster. */
static int predict_raw(BoosterHandle h, const float *data, size_t nrows, size_t nfeatures,
                       const float **res, bst_ulong *len, struct skiff_err *err)
{
    static const char config[] = "{\"type\": 0, \"training\": false, \"iteration_begin\": 0, "
                                 "\"iteration_end\": 0, \"strict_shape\": false, "
                                 "\"missing\": NaN, \"cache_id\": 0}";
    char arr[192];
    const bst_ulong *shape;
    bst_ulong dim;

    /* __array_interface__ of the caller's row-major float32 rows, read-only */
    snprintf(arr, sizeof arr,
             "{\"data\": [%" PRIuPTR ", true], \"shape\": [%zu, %zu], \"strides\": null, "
             "\"typestr\": \"<f4\", \"version\": 3}",
             (uintptr_t)data, nrows, nfeatures);
    if (XGBoosterPredictFromDense(h, arr, config, NULL, &shape, &dim, res) != 0)
        return skiff_err_set(err, SKIFF_EINTERNAL, "libxgboost predict failed: %s",
                             XGBGetLastError());
    *len = 1;
    for (bst_ulong i = 0; i < dim; i++)
        *len *= shape[i];
    return 0;
}

int xgb__open(const char *file, const struct model__spec *spec, struct model__xgb **out,
              struct skiff_err *err)
{
    struct model__xgb *x;
    bst_ulong nf = 0, len;
    const float *res;
    float *row = NULL;
    int rc;

    *out = NULL;
    if (!(x = calloc(1, sizeof *x)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory loading '%s'", file);
    if ((rc = load(file, &x->h, err)))
        goto fail;
    if (XGBoosterGetNumFeature(x->h, &nf) != 0 || nf != spec->nfeatures) {
        rc = skiff_err_at(err, SKIFF_EINVAL, file, 0, 0,
                          "libxgboost reads %llu features from the model, its JSON says %zu",
                          (unsigned long long)nf, spec->nfeatures);
        goto fail;
    }
    /* the first prediction configures the booster: do it before sharing */
    if (!(row = malloc(spec->nfeatures * sizeof *row))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory loading '%s'", file);
        goto fail;
    }
    for (size_t i = 0; i < spec->nfeatures; i++)
        row[i] = NAN;
    if ((rc = predict_raw(x->h, row, 1, spec->nfeatures, &res, &len, err)))
        goto fail;
    free(row);
    *out = x;
    return 0;
fail:
    free(row);
    xgb__close(x);
    return rc;
}

void xgb__close(struct model__xgb *x)
{
    if (!x)
        return;
    if (x->h)
        XGBoosterFree(x->h);
    free(x);
}

int xgb__predict(struct model__xgb *x, const float *data, size_t nrows, size_t nfeatures,
                 double *out, size_t nout, struct skiff_err *err)
{
    const float *res;
    bst_ulong len;
    int rc = predict_raw(x->h, data, nrows, nfeatures, &res, &len, err);
    if (rc)
        return rc;
    if (len != nrows * nout)
        return skiff_err_set(err, SKIFF_EINTERNAL,
                             "libxgboost returned %llu values for %zu rows of %zu outputs",
                             (unsigned long long)len, nrows, nout);
    for (size_t i = 0; i < len; i++)
        out[i] = res[i];
    return 0;
}

int xgb__to_json(const char *file, char **json, struct skiff_err *err)
{
    BoosterHandle h;
    bst_ulong len;
    const char *buf;
    int rc;

    *json = NULL;
    if ((rc = load(file, &h, err)))
        return rc;
    if (XGBoosterSaveModelToBuffer(h, "{\"format\": \"json\"}", &len, &buf) != 0) {
        rc = xgb_err(err, "convert to JSON", file);
    } else if (!(*json = malloc(len + 1))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory converting '%s'", file);
    } else {
        memcpy(*json, buf, len);
        (*json)[len] = '\0';
    }
    XGBoosterFree(h);
    return rc;
}
