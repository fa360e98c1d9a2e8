/* The feature store's admission callback: the breaking-change check of
 * `skiff features plan` / `skiff apply`, run by the API server on every
 * write of Entity, DataSource, FeatureView and FeatureService
 * (include/skiff/features.h, skiff_feat_admission_install).
 *
 * "In use" is a FeatureService stored on the platform whose definitions
 * resolve. Each is judged on its own closure (the service, its views, their
 * entities and sources, a push source's batchSource), not on the whole
 * platform, so one broken object elsewhere neither hides a break nor
 * blocks unrelated writes. Worked example: stored user (Entity), src
 * (DataSource), stats (FeatureView on src, fields a:INT64, b:DOUBLE) and
 * svc (FeatureService reading stats:a). A PUT of stats with fields [b] ->
 * svc's closure after the write does not resolve ("view 'stats' has no
 * feature 'a'"): refused. A PUT of stats with a:DOUBLE -> resolves, but
 * skiff_feat_plan_check sees a change of type: refused. A PUT adding field c
 * -> accepted. DELETE stats -> "no such FeatureView": refused; DELETE svc,
 * then DELETE stats -> nothing in use reads stats: accepted.
 */
#include "features_int.h"

#include "skiff/err.h"
#include "skiff/resource.h"

#include <stdlib.h>
#include <string.h>

#define ADMISSION_NAME "features.skiff.dev"

static const char *const admitted_kinds[] = {"Entity", "DataSource", "FeatureView",
                                             "FeatureService", NULL};

static const char *kind_of(const json_t *o)
{
    return json_string_value(json_object_get(o, "kind"));
}

static const char *name_of(const json_t *o)
{
    return json_string_value(json_object_get(json_object_get(o, "metadata"), "name"));
}

static json_t *find(const json_t *list, const char *kind, const char *name)
{
    size_t i;
    json_t *o;
    if (!name)
        return NULL;
    json_array_foreach(list, i, o) {
        const char *k = kind_of(o), *n = name_of(o);
        if (k && n && strcmp(k, kind) == 0 && strcmp(n, name) == 0)
            return o;
    }
    return NULL;
}

/* Appends `o` (when found and not there yet). Returns -1 when out of memory. */
static int add_once(json_t *out, json_t *o)
{
    size_t i;
    json_t *x;
    if (!o)
        return 0;
    json_array_foreach(out, i, x)
        if (x == o)
            return 0;
    return json_array_append(out, o) ? -1 : 0;
}

/* A source and, for a push source, its batchSource. */
static int add_source(json_t *out, const json_t *set, const char *name)
{
    json_t *src = find(set, "DataSource", name);
    const char *batch = json_string_value(json_object_get(
        json_object_get(json_object_get(src, "spec"), "push"), "batchSource"));
    if (add_once(out, src))
        return -1;
    return batch ? add_once(out, find(set, "DataSource", batch)) : 0;
}

/* The objects of `set` service `svc` needs, as a new array (caller
 * decrefs); NULL when out of memory. What is missing is left out: the
 * registry built from the closure then says what. */
static json_t *closure(const json_t *set, json_t *svc)
{
    json_t *out = json_array(), *f;
    const json_t *features = json_object_get(json_object_get(svc, "spec"), "features");
    size_t i, v0;

    if (!out || add_once(out, svc))
        goto nomem;
    v0 = json_array_size(out);
    json_array_foreach(features, i, f) {
        char view[256];
        const char *ref = json_is_string(f) ? json_string_value(f)
                          : json_string_value(json_object_get(f, "view"));
        if (!ref)
            ref = json_string_value(json_object_get(f, "featureView"));
        if (!ref)
            continue;
        snprintf(view, sizeof view, "%.*s", (int)strcspn(ref, ":"), ref);
        if (add_once(out, find(set, "FeatureView", view)))
            goto nomem;
    }
    for (i = v0; i < json_array_size(out); i++) {
        json_t *v = json_array_get(out, i), *e;
        const json_t *spec = json_object_get(v, "spec");
        size_t j;
        if (!kind_of(v) || strcmp(kind_of(v), "FeatureView") != 0)
            continue;
        json_array_foreach(json_object_get(spec, "entities"), j, e)
            if (add_once(out, find(set, "Entity", json_string_value(e))))
                goto nomem;
        if (add_source(out, set, json_string_value(json_object_get(spec, "source"))))
            goto nomem;
    }
    return out;
nomem:
    json_decref(out);
    return NULL;
}

/* The platform's feature objects after the write: `stored` without the
 * object of (kind, name), plus new_obj when there is one. Caller decrefs;
 * NULL when out of memory. */
static json_t *after_write(const json_t *stored, const char *kind, const char *name,
                           const json_t *new_obj)
{
    json_t *out = json_array(), *o;
    size_t i;
    if (!out)
        return NULL;
    json_array_foreach(stored, i, o) {
        const char *k = kind_of(o), *n = name_of(o);
        if (k && n && kind && name && strcmp(k, kind) == 0 && strcmp(n, name) == 0)
            continue;
        if (json_array_append(out, o))
            goto nomem;
    }
    if (new_obj && json_array_append(out, (json_t *)new_obj))
        goto nomem;
    return out;
nomem:
    json_decref(out);
    return NULL;
}

/* Builds service `svc`'s closure in `set` into a registry: *reg is NULL
 * (and *why says why) when it does not resolve. *clo gets the closure
 * (caller decrefs both). SKIFF_ENOMEM is the only error. */
static int resolve(const json_t *set, json_t *svc, json_t **clo,
                   struct skiff_feat_registry **reg, struct skiff_err *why)
{
    *reg = NULL;
    if (!(*clo = closure(set, svc)))
        return SKIFF_ENOMEM;
    if (skiff_feat_registry_from_objects(*clo, ".", reg, why) && why->code == SKIFF_ENOMEM)
        return SKIFF_ENOMEM;
    return 0;
}

/* A view a service reads whole (no feature list) must keep every feature
 * it has: the service's columns are the view's, and a model trained on
 * them would lose one. Adding features is fine. */
static int check_whole_views(const struct skiff_feat_service *before,
                             const struct skiff_feat_registry *after, struct skiff_err *err)
{
    for (size_t p = 0; p < before->nproj; p++) {
        const struct skiff_feat_view *ov = before->proj[p].view, *nv;
        if (before->proj[p].nfeatures || !(nv = skiff_feat_view_get(after, ov->name)))
            continue;
        size_t n = ov->nfields + ov->naggs + ov->nderived;
        for (size_t k = 0; k < n; k++) {
            const char *f = k < ov->nfields ? ov->fields[k].name
                            : k < ov->nfields + ov->naggs ? ov->aggs[k - ov->nfields].name
                            : ov->derived[k - ov->nfields - ov->naggs].name;
            bool found = false;
            for (size_t j = 0; j < nv->nfields && !found; j++)
                found = strcmp(nv->fields[j].name, f) == 0;
            for (size_t j = 0; j < nv->naggs && !found; j++)
                found = strcmp(nv->aggs[j].name, f) == 0;
            for (size_t j = 0; j < nv->nderived && !found; j++)
                found = strcmp(nv->derived[j].name, f) == 0;
            if (!found)
                return skiff_err_set(err, SKIFF_ECONFLICT,
                                     "the change breaks FeatureService '%s', which reads every "
                                     "feature of view '%s': '%s' would be gone", before->name,
                                     ov->name, f);
        }
    }
    return 0;
}

/* Judges the write (`stored` -> `after`) against one stored service. */
static int check_service(const json_t *stored, const json_t *after, json_t *svc,
                         struct skiff_err *err)
{
    struct skiff_err why = SKIFF_ERR_INIT;
    struct skiff_feat_registry *rb = NULL, *ra = NULL;
    json_t *before_c = NULL, *after_c = NULL, *now;
    int rc;

    if ((rc = resolve(stored, svc, &before_c, &rb, &why)) || !rb)
        goto out;   /* not in use: it does not work today */
    if (!(now = find(after, "FeatureService", name_of(svc))))
        goto out;   /* the write deletes the service itself */
    skiff_err_clear(&why);
    if ((rc = resolve(after, now, &after_c, &ra, &why)))
        goto out;
    if (!ra) {
        rc = skiff_err_set(err, SKIFF_ECONFLICT,
                           "the change breaks FeatureService '%s', which is in use: %s",
                           name_of(svc), why.msg);
        goto out;
    }
    /* it still resolves: the features it reads must all stay, with their types */
    if ((rc = check_whole_views(skiff_feat_service_get(rb, name_of(svc)), ra, err)) == 0)
        rc = skiff_feat_plan_check(after_c, before_c, err);
out:
    skiff_feat_registry_free(rb);
    skiff_feat_registry_free(ra);
    json_decref(before_c);
    json_decref(after_c);
    return rc == SKIFF_ENOMEM ? skiff_err_set(err, rc, "out of memory") : rc;
}

int skiff_feat_admit_check(const json_t *stored, const char *kind, const char *name,
                           const json_t *new_obj, struct skiff_err *err)
{
    json_t *after = after_write(stored, kind, name, new_obj), *o;
    size_t i;
    int rc = 0;

    if (!after)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    json_array_foreach(stored, i, o) {
        const char *k = kind_of(o);
        if (k && strcmp(k, "FeatureService") == 0 && (rc = check_service(stored, after, o, err)))
            break;
    }
    json_decref(after);
    return rc;
}

static int admit(struct skiff_store *s, const struct skiff_kind *k, const json_t *old_obj,
                 const json_t *new_obj, void *ctx, struct skiff_err *err)
{
    json_t *stored = NULL;
    int rc;

    (void)ctx;
    if ((rc = skiff_feat_stored_objects(s, &stored, err)))
        return rc;
    rc = skiff_feat_admit_check(stored, k->kind, name_of(new_obj ? new_obj : old_obj), new_obj,
                                err);
    json_decref(stored);
    return rc;
}

int skiff_feat_apply_order(const json_t *stored, const json_t *local, size_t *order,
                           struct skiff_err *err)
{
    size_t n = json_array_size(local), done = 0;
    json_t *state = json_deep_copy(stored);
    bool *sent = calloc(n + 1, sizeof *sent);
    int rc = 0;

    if (!state || !sent) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    /* greedy: the first object (in the files' order) the state admits goes
     * next; each step admits at least one or none will ever be */
    while (done < n && rc == 0) {
        struct skiff_err first = SKIFF_ERR_INIT;
        size_t pick = n;
        for (size_t i = 0; i < n && pick == n; i++) {
            json_t *o = json_array_get(local, i);
            struct skiff_err e = SKIFF_ERR_INIT;
            if (sent[i])
                continue;
            rc = skiff_feat_admit_check(state, kind_of(o), name_of(o), o, &e);
            if (rc == SKIFF_ENOMEM) {
                *err = e;
                goto out;
            }
            if (rc == 0)
                pick = i;
            else if (first.code == 0)
                first = e;
        }
        rc = 0;
        if (pick == n) {
            *err = first;
            rc = skiff_err_prefix(err, "no order of the changes keeps every FeatureService in "
                                       "use working (the platform checks each object as it "
                                       "arrives: add new features first, switch the services "
                                       "to them, then remove the old ones)");
            goto out;
        }
        json_t *next = after_write(state, kind_of(json_array_get(local, pick)),
                                   name_of(json_array_get(local, pick)),
                                   json_array_get(local, pick));
        if (!next) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
        json_decref(state);
        state = next;
        sent[pick] = true;
        order[done++] = pick;
    }
out:
    json_decref(state);
    free(sent);
    return rc;
}

int skiff_feat_admission_install(struct skiff_err *err)
{
    return skiff_resource_set_admission(ADMISSION_NAME, admitted_kinds, admit, NULL, err);
}

void skiff_feat_admission_remove(void)
{
    skiff_resource_set_admission(ADMISSION_NAME, admitted_kinds, NULL, NULL, NULL);
}
