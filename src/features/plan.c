/* `skiff features plan`: what applying a set of definitions would change
 * on the platform (include/skiff/features.h, skiff_feat_plan).
 *
 * Objects are matched by (kind, metadata.name). Only `spec` is compared:
 * metadata.uid, resourceVersion, generation and status are the platform's.
 * A changed object lists the paths that differ, found by walking both specs
 * at once. Worked example: stored spec {ttl: 7d, fields: [{name: a, dtype:
 * INT64}]}, local {ttl: 1d, fields: [{name: a, dtype: DOUBLE}], online:
 * true} -> ["spec.ttl", "spec.fields[0].dtype", "spec.online"].
 */
#include "features_int.h"

#include "skiff/err.h"

#include <stdio.h>
#include <string.h>

static const char *const kinds[] = {"Entity", "DataSource", "FeatureView", "FeatureService"};

static bool feature_kind(const json_t *o)
{
    const char *k = json_string_value(json_object_get(o, "kind"));
    for (size_t i = 0; k && i < sizeof kinds / sizeof *kinds; i++)
        if (strcmp(k, kinds[i]) == 0)
            return true;
    return false;
}

static const char *obj_name(const json_t *o)
{
    return json_string_value(json_object_get(json_object_get(o, "metadata"), "name"));
}

static const json_t *find(const json_t *list, const char *kind, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(list, i, o) {
        const char *k = json_string_value(json_object_get(o, "kind")), *n = obj_name(o);
        if (k && n && strcmp(k, kind) == 0 && strcmp(n, name) == 0)
            return o;
    }
    return NULL;
}

/* Appends to `paths` every path under `path` where a and b differ (either
 * may be NULL: absent). Returns -1 when out of memory. */
static int diff(const json_t *a, const json_t *b, const char *path, json_t *paths)
{
    char sub[512];
    const char *key;
    json_t *v;

    if (json_equal((json_t *)a, (json_t *)b))
        return 0;
    if (json_is_object(a) && json_is_object(b)) {
        json_object_foreach((json_t *)a, key, v) {
            snprintf(sub, sizeof sub, "%s.%s", path, key);
            if (diff(v, json_object_get(b, key), sub, paths))
                return -1;
        }
        json_object_foreach((json_t *)b, key, v) {
            if (json_object_get(a, key))
                continue;
            snprintf(sub, sizeof sub, "%s.%s", path, key);
            if (json_array_append_new(paths, json_string(sub)))
                return -1;
        }
        return 0;
    }
    if (json_is_array(a) && json_is_array(b) && json_array_size(a) == json_array_size(b)) {
        for (size_t i = 0; i < json_array_size(a); i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            if (diff(json_array_get(a, i), json_array_get(b, i), sub, paths))
                return -1;
        }
        return 0;
    }
    return json_array_append_new(paths, json_string(path)) ? -1 : 0;
}

static int add(json_t *out, const char *kind, const char *name, const char *action,
               json_t *fields)
{
    json_t *e = json_pack("{s:s, s:s, s:s, s:o}", "kind", kind, "name", name, "action", action,
                          "fields", fields ? fields : json_array());
    return !e || json_array_append_new(out, e) ? -1 : 0;
}

int skiff_feat_plan(const json_t *local, const json_t *stored, json_t **out,
                    struct skiff_err *err)
{
    json_t *res = json_array(), *o;
    size_t i;

    *out = NULL;
    if (!res)
        goto nomem;
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        json_array_foreach(local, i, o) {
            const char *name = obj_name(o);
            const json_t *s;
            json_t *paths;
            if (!feature_kind(o) || !name ||
                strcmp(json_string_value(json_object_get(o, "kind")), kinds[k]) != 0)
                continue;
            if (!(s = find(stored, kinds[k], name))) {
                if (add(res, kinds[k], name, "add", NULL))
                    goto nomem;
                continue;
            }
            if (!(paths = json_array()) ||
                diff(json_object_get(s, "spec"), json_object_get(o, "spec"), "spec", paths)) {
                json_decref(paths);
                goto nomem;
            }
            if (add(res, kinds[k], name, json_array_size(paths) ? "change" : "unchanged", paths))
                goto nomem;
        }
        json_array_foreach(stored, i, o) {
            const char *name = obj_name(o), *kind = json_string_value(json_object_get(o, "kind"));
            if (!name || !kind || strcmp(kind, kinds[k]) != 0 || find(local, kinds[k], name))
                continue;
            if (add(res, kinds[k], name, "remove", NULL))
                goto nomem;
        }
    }
    *out = res;
    return 0;
nomem:
    json_decref(res);
    return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
}

const json_t *skiff_feat_registry_objects(const struct skiff_feat_registry *r)
{
    return r->docs;
}

/* The type of feature `name` of view v, or -1 when it has none. */
static int feature_type_of(const struct skiff_feat_view *v, const char *name)
{
    for (size_t i = 0; i < v->nfields; i++)
        if (strcmp(v->fields[i].name, name) == 0)
            return (int)v->fields[i].type;
    for (size_t i = 0; i < v->naggs; i++)
        if (strcmp(v->aggs[i].name, name) == 0)
            return (int)v->aggs[i].out_type;
    for (size_t i = 0; i < v->nderived; i++)
        if (strcmp(v->derived[i].name, name) == 0)
            return (int)SKIFF_FEAT_DOUBLE;
    return -1;
}

/* Whether every feature a service of `before` reads keeps its type in
 * `after` (where the same service, built, still resolves). */
static int check_types(const struct skiff_feat_registry *before,
                       const struct skiff_feat_registry *after, struct skiff_err *err)
{
    for (size_t s = 0; s < before->nservices; s++) {
        const struct skiff_feat_service *old = &before->services[s];
        const struct skiff_feat_service *cur = skiff_feat_service_get(after, old->name);
        for (size_t p = 0; cur && p < cur->nproj; p++) {
            const struct skiff_feat_projection *pr = &cur->proj[p];
            const struct skiff_feat_view *ov = skiff_feat_view_get(before, pr->view->name);
            size_t n = pr->nfeatures ? pr->nfeatures
                                     : pr->view->nfields + pr->view->naggs + pr->view->nderived;
            for (size_t k = 0; ov && k < n; k++) {
                const char *f = pr->nfeatures ? pr->features[k]
                                : k < pr->view->nfields ? pr->view->fields[k].name
                                : k < pr->view->nfields + pr->view->naggs
                                    ? pr->view->aggs[k - pr->view->nfields].name
                                    : pr->view->derived[k - pr->view->nfields - pr->view->naggs]
                                          .name;
                int was = feature_type_of(ov, f), now = feature_type_of(pr->view, f);
                if (was >= 0 && was != now)
                    return skiff_err_set(err, SKIFF_ECONFLICT,
                                         "the change breaks FeatureService '%s', which reads "
                                         "'%s:%s' as %s: it would become %s", old->name,
                                         pr->view->name, f,
                                         skiff_feat_type_name((enum skiff_feat_type)was),
                                         skiff_feat_type_name((enum skiff_feat_type)now));
            }
        }
    }
    return 0;
}

int skiff_feat_plan_check(const json_t *local, const json_t *stored, struct skiff_err *err)
{
    struct skiff_feat_registry *before = NULL, *after = NULL;
    struct skiff_err ignored = SKIFF_ERR_INIT;
    json_t *merged = json_array(), *o;
    size_t i;
    int rc = 0;

    if (!merged)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    /* the platform after the apply: its objects, those of the files replacing them */
    json_array_foreach(stored, i, o) {
        const char *kind = json_string_value(json_object_get(o, "kind")), *name = obj_name(o);
        if (feature_kind(o) && kind && name && !find(local, kind, name) &&
            json_array_append(merged, o)) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
    }
    json_array_foreach(local, i, o)
        if (feature_kind(o) && json_array_append(merged, o)) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
    if ((rc = skiff_feat_registry_from_objects(merged, ".", &after, err))) {
        /* a service (or view) on the platform no longer resolves */
        rc = SKIFF_ECONFLICT;
        err->code = rc;
        skiff_err_prefix(err, "the change breaks the platform's definitions");
        goto out;
    }
    /* types only where the platform's own definitions resolve today */
    if (skiff_feat_registry_from_objects(stored, ".", &before, &ignored) == 0)
        rc = check_types(before, after, err);
out:
    skiff_feat_registry_free(before);
    skiff_feat_registry_free(after);
    json_decref(merged);
    return rc;
}
