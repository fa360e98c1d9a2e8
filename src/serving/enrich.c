/* Feature enrichment: a request that carries only the entity key (say
 * user_id) is scored on the feature vector read in-process from the online
 * store, in the FeatureService's order (DESIGN.md, "serving hot path").
 *
 *   metadata.annotations:
 *     serving.skiff.dev/feature-service: scoring      # a stored FeatureService
 *     serving.skiff.dev/entity-key: user_id           # the input with the keys
 *     serving.skiff.dev/missing-features: reject      # or default (NaN: missing)
 *
 * The registry is built from the stored feature objects when the service
 * is configured (and again when the annotations change); requests read the
 * published struct serving__enrich, which is never freed before the
 * service is.
 */
#include "serving_int.h"

#include "skiff/arena.h"
#include "skiff/err.h"
#include "skiff/features.h"
#include "skiff/log.h"
#include "skiff/online.h"
#include "skiff/resource.h"
#include "skiff/time.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANN_SERVICE "serving.skiff.dev/feature-service"
#define ANN_KEY "serving.skiff.dev/entity-key"
#define ANN_MISSING "serving.skiff.dev/missing-features"

static const char *annotation(const json_t *obj, const char *key)
{
    return json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "metadata"), "annotations"), key));
}

void serving__enrich_free(struct serving__enrich *e)
{
    while (e) {
        struct serving__enrich *o = e->older;
        skiff_feat_registry_free(e->reg);
        free(e);
        e = o;
    }
}

void serving__enrich_configure(struct skiff_serving *s, struct serving__svc *svc,
                               const json_t *obj)
{
    const char *name = annotation(obj, ANN_SERVICE), *key = annotation(obj, ANN_KEY);
    const char *missing = annotation(obj, ANN_MISSING);
    struct skiff_err e = SKIFF_ERR_INIT;
    struct serving__enrich *en, *cur = svc->enrich;
    json_t *objs;
    bool reject = missing && strcmp(missing, "reject") == 0;

    svc->enrich_problem[0] = '\0';
    if (!name) {
        if (cur && cur->fsvc) {
            /* annotation removed: requests carry their features again */
            pthread_rwlock_wrlock(&s->lock);
            en = calloc(1, sizeof *en);
            if (en) {
                en->older = cur;
                svc->enrich = en;   /* an empty one: fsvc NULL means "off" */
            }
            pthread_rwlock_unlock(&s->lock);
        }
        return;
    }
    if (!key)
        key = "user_id";
    if (cur && cur->fsvc && strcmp(cur->service, name) == 0 && strcmp(cur->key, key) == 0 &&
        cur->reject == reject)
        return;
    if (missing && strcmp(missing, "reject") != 0 && strcmp(missing, "default") != 0) {
        snprintf(svc->enrich_problem, sizeof svc->enrich_problem, "annotation %s: '%s' is not "
                 "a policy (reject or default)", ANN_MISSING, missing);
        return;
    }
    if (!s->store || !s->online) {
        snprintf(svc->enrich_problem, sizeof svc->enrich_problem, "feature enrichment needs "
                 "the platform's online store (skiff up)");
        return;
    }
    if (!(en = calloc(1, sizeof *en)))
        return;
    snprintf(en->service, sizeof en->service, "%s", name);
    snprintf(en->key, sizeof en->key, "%s", key);
    en->reject = reject;
    objs = NULL;
    if (skiff_feat_stored_objects(s->store, &objs, &e) != 0 ||
        skiff_feat_registry_from_objects(objs, NULL, &en->reg, &e) != 0 ||
        !(en->fsvc = skiff_feat_service_get(en->reg, name))) {
        snprintf(svc->enrich_problem, sizeof svc->enrich_problem, "FeatureService '%s': %s",
                 name, e.msg[0] ? e.msg : "not found");
        json_decref(objs);
        serving__enrich_free(en);
        return;
    }
    json_decref(objs);
    if (skiff_online_service_nkeys(en->fsvc) != 1) {
        snprintf(svc->enrich_problem, sizeof svc->enrich_problem, "FeatureService '%s' has %zu "
                 "join keys; enrichment reads one", name, skiff_online_service_nkeys(en->fsvc));
        serving__enrich_free(en);
        return;
    }
    en->width = skiff_online_service_width(en->fsvc);
    pthread_rwlock_wrlock(&s->lock);
    en->older = cur;
    svc->enrich = en;
    pthread_rwlock_unlock(&s->lock);
    skiff_info("InferenceService '%s': enriched from FeatureService '%s' (%zu features) by "
               "'%s'", svc->name, name, en->width, key);
}

/* An entity value as text: strings as they are, integers without a
 * fraction ("42", as the online store keys them). */
static const char *key_text(const struct serving__tensor *t, size_t i, struct skiff_arena *a)
{
    double v;

    if (t->strs)
        return t->strs[i];
    v = t->data[i];
    if (v == floor(v) && fabs(v) < 9e15)
        return skiff_arena_sprintf(a, "%lld", (long long)v);
    return skiff_arena_sprintf(a, "%.17g", v);
}

int serving__enrich_rows(struct skiff_serving *s, const struct serving__enrich *en,
                         char **keys, size_t n, size_t nfeat, struct skiff_arena *a, float **x,
                         struct skiff_err *err)
{
    enum skiff_online_status *st;
    double *v;
    float *m;
    int64_t now = skiff_time_now_us();
    int rc;

    if (en->width != nfeat)
        return skiff_err_set(err, SKIFF_EINTERNAL, "FeatureService '%s' yields %zu features; "
                             "the model takes %zu", en->service, en->width, nfeat);
    m = skiff_arena_alloc(a, n * nfeat * sizeof *m);
    v = skiff_arena_alloc(a, nfeat * sizeof *v);
    st = skiff_arena_alloc(a, nfeat * sizeof *st);
    if (!m || !v || !st)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    for (size_t row = 0; row < n; row++) {
        const char *kv = keys[row];
        if ((rc = skiff_online_get_vector(s->online, en->fsvc, &kv, 1, now, v, st, NULL, err)))
            return rc;
        for (size_t f = 0; f < nfeat; f++) {
            if (st[f] != SKIFF_ONLINE_PRESENT && en->reject)
                return skiff_err_set(err, SKIFF_EINVAL, "%s '%s': feature '%s' is %s (the "
                                     "service's policy is reject)", en->key, kv,
                                     skiff_online_service_feature(en->fsvc, f),
                                     skiff_online_status_name(st[f]));
            m[row * nfeat + f] = st[f] == SKIFF_ONLINE_PRESENT ? (float)v[f] : NAN;
        }
    }
    *x = m;
    return 0;
}

int serving__enrich_matrix(struct skiff_serving *s, const struct serving__enrich *en,
                           const struct serving__infer_req *r, size_t nfeat,
                           struct skiff_arena *a, float **x, size_t *nrows, char ***keys,
                           struct skiff_err *err)
{
    const struct serving__tensor *t = NULL;
    char **k;
    int rc;

    for (size_t i = 0; i < r->ninputs && !t; i++)
        if (strcmp(r->inputs[i].name, en->key) == 0)
            t = &r->inputs[i];
    if (!t)
        return skiff_err_set(err, SKIFF_EINVAL, "this model reads its features from "
                             "FeatureService '%s': send input '%s' (the entity keys), shape "
                             "[n]", en->service, en->key);
    if (!(t->ndim == 1 || (t->ndim == 2 && t->shape[1] == 1)) || t->n == 0)
        return skiff_err_set(err, SKIFF_EINVAL, "input '%s' must have shape [n] or [n, 1] with "
                             "n > 0", en->key);
    if (t->dtype == DT_BOOL || t->dtype == DT_FP32 || t->dtype == DT_FP64)
        return skiff_err_set(err, SKIFF_EINVAL, "input '%s': entity keys are BYTES or integers, "
                             "not %s", en->key, serving__dtype_name(t->dtype));
    if (!(k = skiff_arena_alloc(a, t->n * sizeof *k)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    for (size_t row = 0; row < t->n; row++)
        if (!(k[row] = (char *)key_text(t, row, a)))
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if ((rc = serving__enrich_rows(s, en, k, t->n, nfeat, a, x, err)))
        return rc;
    *nrows = t->n;
    *keys = k;
    return 0;
}
