/* Revisions: loading a model, its warm-up, unloading it when drained or
 * idle (states and invariants in serving_int.h).
 *
 * The race between a request that finds the model and the controller that
 * unloads it is settled with `refs` and sequentially consistent atomics:
 * a request takes its ref (router.c, under the registry read lock) before
 * it reads `model`; the unloader swaps `model` to NULL and only then looks
 * at `refs`. Either the unloader sees the request's ref and puts the model
 * back, or the request reads NULL and reloads under load_mu, after the
 * unloader, which holds load_mu, has finished.
 */
#include "serving_int.h"

#include "skiff/err.h"
#include "skiff/log.h"
#include "skiff/metrics.h"
#include "skiff/time.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void serving__rev_put(struct serving__rev *r)
{
    if (r)
        atomic_fetch_sub(&r->refs, 1);
}

static void free_names(struct serving__rev *r)
{
    if (r->feature_names)
        for (size_t i = 0; i < r->nfeat; i++)
            free(r->feature_names[i]);
    free(r->feature_names);
    r->feature_names = NULL;
}

/* One prediction on a row of missing values: the model answers before it
 * takes traffic (a model that cannot predict never becomes READY). */
static int warm_up(struct serving__rev *r, struct skiff_model *m, struct skiff_err *err)
{
    float *x = malloc((r->nfeat ? r->nfeat : 1) * sizeof *x);
    double *y = malloc((r->nout ? r->nout : 1) * sizeof *y);
    int rc;

    if (!x || !y) {
        free(x);
        free(y);
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < r->nfeat; i++)
        x[i] = NAN;
    rc = skiff_model_predict(m, x, 1, y, err);
    if (rc == 0)
        for (size_t i = 0; i < r->nout; i++)
            if (isnan(y[i]))
                rc = skiff_err_set(err, SKIFF_EINVAL, "warm-up prediction is NaN");
    free(x);
    free(y);
    return rc ? skiff_err_prefix(err, "model '%s' failed its warm-up request", r->path) : 0;
}

int serving__rev_ensure(struct serving__rev *r, bool cold, struct skiff_err *err)
{
    const struct serving__metrics *mt = serving__metrics();
    struct skiff_model *m = NULL;
    int64_t t0;
    int rc = 0;

    pthread_mutex_lock(&r->load_mu);
    if (atomic_load(&r->model))
        goto out;
    t0 = skiff_time_mono_us();
    if ((rc = skiff_model_load(r->path, r->runtime, &m, err)))
        goto out;
    r->nout = skiff_model_noutputs(m);
    if (!r->feature_names || r->nfeat != skiff_model_nfeatures(m)) {
        free_names(r);
        r->nfeat = skiff_model_nfeatures(m);
        if (r->nfeat && skiff_model_feature_name(m, 0)) {
            r->feature_names = calloc(r->nfeat, sizeof *r->feature_names);
            for (size_t i = 0; r->feature_names && i < r->nfeat; i++) {
                const char *n = skiff_model_feature_name(m, i);
                r->feature_names[i] = strdup(n ? n : "");
            }
        }
    }
    if ((rc = warm_up(r, m, err))) {
        skiff_model_free(m);
        goto out;
    }
    r->load_seconds = (double)(skiff_time_mono_us() - t0) / 1e6;
    skiff_metric_observe(mt->load_seconds, (const char *[]){r->svc->name, r->name},
                         r->load_seconds);
    if (cold) {
        skiff_metric_inc(mt->cold_starts, (const char *[]){r->svc->name, r->name}, 1);
        skiff_info("cold start of '%s' (%s): loaded in %.1f ms", r->svc->name, r->name,
                   r->load_seconds * 1e3);
    }
    atomic_store(&r->model, m);
    if (r->state == REV_COLD)
        r->state = REV_READY;
out:
    pthread_mutex_unlock(&r->load_mu);
    return rc;
}

bool serving__rev_try_unload(struct serving__rev *r)
{
    struct skiff_model *m;
    bool done = false;

    if (atomic_load(&r->refs) != 0)
        return atomic_load(&r->model) == NULL;
    pthread_mutex_lock(&r->load_mu);
    m = atomic_exchange(&r->model, NULL);
    if (!m) {
        done = true;
    } else if (atomic_load(&r->refs) != 0) {
        atomic_store(&r->model, m);   /* a request came in: keep it */
    } else {
        skiff_model_free(m);
        done = true;
    }
    pthread_mutex_unlock(&r->load_mu);
    return done;
}

void serving__rev_free(struct serving__rev *r)
{
    if (!r)
        return;
    skiff_model_free(atomic_load(&r->model));
    free_names(r);
    free(r->key);
    pthread_mutex_destroy(&r->load_mu);
    free(r);
}
