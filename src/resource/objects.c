/* Stored resources: apply/create/get/list/delete on top of the metadata store.
 *
 * Invariants of a stored object (what the API server guarantees to clients,
 * as Kubernetes does):
 *   - metadata.uid is set at creation and never changes;
 *   - metadata.resourceVersion is the store's sequence value of the last
 *     write, as a decimal string; a write that changes nothing keeps it;
 *   - metadata.generation starts at 1 and grows by one each time spec changes;
 *   - status is written only through skiff_resource_set_status, so a user's
 *     apply never clobbers what a controller observed.
 * Writes of a kind with an admission callback (admission.c) are judged by
 * it first, under its lock, which is held through the write.
 */
#include "resource_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "skiff/err.h"
#include "skiff/store.h"
#include "skiff/time.h"

struct mutate_ctx {
    const struct skiff_kind *kind;
    json_t *obj;            /* the user's object (borrowed) */
    bool create_only;       /* POST: an existing object is an error */
    bool unchanged;         /* set when the write would change nothing */
    bool existed;
};

static void format_ts(int64_t us, char *buf, size_t n)
{
    /* creationTimestamp is RFC 3339 at second precision, as Kubernetes writes it */
    char full[40];
    skiff_time_format(us, full, sizeof full);
    snprintf(buf, n, "%.19sZ", full);
}

/* The document without metadata.resourceVersion/generation/uid/
 * creationTimestamp and status: what a user's apply can change. Caller
 * decrefs. */
json_t *resource__user_view(const json_t *doc)
{
    json_t *c = json_deep_copy(doc), *md;
    if (!c)
        return NULL;
    json_object_del(c, "status");
    md = json_object_get(c, "metadata");
    if (json_is_object(md)) {
        json_object_del(md, "resourceVersion");
        json_object_del(md, "generation");
        json_object_del(md, "uid");
        json_object_del(md, "creationTimestamp");
    }
    return c;
}

static int mutate_apply(const struct skiff_store_obj *cur, struct skiff_store_obj *next,
                        void *vctx, struct skiff_err *err)
{
    struct mutate_ctx *ctx = vctx;
    json_t *doc = NULL, *curdoc = NULL, *md, *given_rv;
    char rv[32], ts[40];
    int rc = 0;

    ctx->existed = cur != NULL;
    if (cur && ctx->create_only)
        return skiff_err_set(err, SKIFF_EEXIST, "%s \"%s\" already exists",
                             skiff_kind_qualified(ctx->kind), next->name);
    given_rv = json_object_get(json_object_get(ctx->obj, "metadata"), "resourceVersion");
    if (cur && json_is_string(given_rv) &&
        strtoll(json_string_value(given_rv), NULL, 10) != cur->resource_version)
        return skiff_err_set(err, SKIFF_ECONFLICT,
                             "%s \"%s\" was modified (resourceVersion %lld, yours is %s): "
                             "get the latest version and apply your change to it",
                             skiff_kind_qualified(ctx->kind), next->name,
                             (long long)cur->resource_version, json_string_value(given_rv));
    if (cur) {
        curdoc = json_loads(cur->doc, 0, NULL);
        if (!curdoc) {
            rc = skiff_err_set(err, SKIFF_EINTERNAL, "stored %s \"%s\" is not valid JSON",
                               next->kind, next->name);
            goto out;
        }
        json_t *a = resource__user_view(curdoc), *b = resource__user_view(ctx->obj);
        bool same = a && b && json_equal(a, b);
        json_decref(a);
        json_decref(b);
        if (same) {
            /* Nothing to write. Abort the transaction with a code the
             * caller recognises through ctx->unchanged. */
            ctx->unchanged = true;
            rc = SKIFF_EEXIST;
            goto out;
        }
    }

    doc = json_deep_copy(ctx->obj);
    if (!doc) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    json_object_del(doc, "status");
    if (curdoc && json_object_get(curdoc, "status"))
        json_object_set(doc, "status", json_object_get(curdoc, "status"));
    md = json_object_get(doc, "metadata");
    json_object_set_new(md, "name", json_string(next->name));
    json_object_del(md, "generateName");
    if (json_object_get(json_object_get(ctx->obj, "metadata"), "generateName"))
        json_object_set(md, "generateName",
                        json_object_get(json_object_get(ctx->obj, "metadata"), "generateName"));
    next->generation = cur ? cur->generation : 1;
    if (cur && !json_equal(json_object_get(curdoc, "spec"), json_object_get(doc, "spec")))
        next->generation++;
    snprintf(rv, sizeof rv, "%lld", (long long)next->resource_version);
    format_ts(next->created_us, ts, sizeof ts);
    json_object_set_new(md, "uid", json_string(next->uid));
    json_object_set_new(md, "resourceVersion", json_string(rv));
    json_object_set_new(md, "generation", json_integer(next->generation));
    json_object_set_new(md, "creationTimestamp", json_string(ts));
    next->doc = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!next->doc)
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
out:
    json_decref(doc);
    json_decref(curdoc);
    return rc;
}

static int decode(const struct skiff_store_obj *o, json_t **out, struct skiff_err *err)
{
    json_error_t je;
    *out = json_loads(o->doc, 0, &je);
    if (!*out)
        return skiff_err_set(err, SKIFF_EINTERNAL, "stored %s \"%s\" is not valid JSON: %s",
                             o->kind, o->name, je.text);
    return 0;
}

static const char *obj_name(json_t *obj)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
}

static int write_obj(struct skiff_store *s, const struct skiff_kind *k, const char *name,
                     struct mutate_ctx *ctx, json_t **stored, struct skiff_err *err)
{
    struct skiff_store_obj o = {0};
    int rc = skiff_store_update(s, k->kind, name, mutate_apply, ctx, &o, err);

    if (rc && ctx->unchanged) {
        skiff_err_clear(err);
        rc = skiff_store_get(s, k->kind, name, &o, err);
    }
    if (rc == 0 && stored)
        rc = decode(&o, stored, err);
    skiff_store_obj_release(&o);
    return rc;
}

int skiff_resource_apply(struct skiff_store *s, const struct skiff_kind *k, json_t *obj,
                         json_t **stored, enum skiff_apply_result *result,
                         struct skiff_err *err)
{
    struct mutate_ctx ctx = {.kind = k, .obj = obj};
    const char *name = obj_name(obj);
    int rc;

    if (stored)
        *stored = NULL;
    if (!name)
        return skiff_err_set(err, SKIFF_EINVAL,
                             "metadata.name is required to apply (an object with only "
                             "metadata.generateName can only be created)");
    {
        bool held;
        rc = resource__admit_begin(s, k, name, obj, RESOURCE__ADMIT_APPLY, &held, err);
        if (rc == 0)
            rc = write_obj(s, k, name, &ctx, stored, err);
        resource__admit_end(held);
    }
    if (rc == 0 && result)
        *result = ctx.unchanged ? SKIFF_APPLY_UNCHANGED
                  : ctx.existed ? SKIFF_APPLY_CONFIGURED : SKIFF_APPLY_CREATED;
    return rc;
}

/* Kubernetes' generated-name alphabet: no vowels (no words), no 0/1/3 (no
 * look-alikes). */
static void random_suffix(char out[6])
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    unsigned char r[5];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        for (int i = 0; i < 5; i++)
            r[i] = (unsigned char)rand();
    for (int i = 0; i < 5; i++)
        out[i] = alphabet[r[i] % (sizeof alphabet - 1)];
    out[5] = '\0';
}

int skiff_resource_create(struct skiff_store *s, const struct skiff_kind *k, json_t *obj,
                          json_t **stored, struct skiff_err *err)
{
    struct mutate_ctx ctx = {.kind = k, .obj = obj, .create_only = true};
    const char *name = obj_name(obj), *gen;
    char buf[254], suffix[6];
    int rc;

    if (stored)
        *stored = NULL;
    if (name) {
        bool held;
        rc = resource__admit_begin(s, k, name, obj, RESOURCE__ADMIT_CREATE, &held, err);
        if (rc == 0)
            rc = write_obj(s, k, name, &ctx, stored, err);
        resource__admit_end(held);
        return rc;
    }
    gen = json_string_value(json_object_get(json_object_get(obj, "metadata"), "generateName"));
    if (!gen || !*gen)
        return skiff_err_set(err, SKIFF_EINVAL, "metadata.name or metadata.generateName is required");
    if (strlen(gen) > 58)
        return skiff_err_set(err, SKIFF_EINVAL, "metadata.generateName '%s' is too long", gen);
    /* a taken name is retried with a new suffix, as the API server does;
     * admission judges the object once, as a create of something new */
    bool held;
    if ((rc = resource__admit_begin(s, k, NULL, obj, RESOURCE__ADMIT_CREATE, &held, err))) {
        resource__admit_end(held);
        return rc;
    }
    for (int attempt = 0; attempt < 8; attempt++) {
        random_suffix(suffix);
        snprintf(buf, sizeof buf, "%s%s", gen, suffix);
        skiff_err_clear(err);
        rc = write_obj(s, k, buf, &ctx, stored, err);
        if (rc != SKIFF_EEXIST)
            break;
    }
    resource__admit_end(held);
    return rc;
}

struct status_ctx {
    json_t *status;
};

static int mutate_status(const struct skiff_store_obj *cur, struct skiff_store_obj *next,
                         void *vctx, struct skiff_err *err)
{
    struct status_ctx *ctx = vctx;
    json_t *doc, *md;
    char rv[32];
    int rc;

    if (!cur)
        return skiff_err_set(err, SKIFF_ENOTFOUND, "%s \"%s\" not found", next->kind, next->name);
    if ((rc = decode(cur, &doc, err)))
        return rc;
    json_object_set(doc, "status", ctx->status);
    md = json_object_get(doc, "metadata");
    snprintf(rv, sizeof rv, "%lld", (long long)next->resource_version);
    if (json_is_object(md))
        json_object_set_new(md, "resourceVersion", json_string(rv));
    next->generation = cur->generation;
    next->doc = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    return next->doc ? 0 : skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
}

int skiff_resource_set_status(struct skiff_store *s, const struct skiff_kind *k,
                              const char *name, json_t *status, struct skiff_err *err)
{
    struct status_ctx ctx = {status};
    return skiff_store_update(s, k->kind, name, mutate_status, &ctx, NULL, err);
}

int skiff_resource_get(struct skiff_store *s, const struct skiff_kind *k, const char *name,
                       json_t **out, struct skiff_err *err)
{
    struct skiff_store_obj o = {0};
    int rc;

    *out = NULL;
    rc = skiff_store_get(s, k->kind, name, &o, err);
    if (rc == SKIFF_ENOTFOUND)
        return skiff_err_set(err, SKIFF_ENOTFOUND, "%s \"%s\" not found",
                             skiff_kind_qualified(k), name);
    if (rc == 0)
        rc = decode(&o, out, err);
    skiff_store_obj_release(&o);
    return rc;
}

int skiff_resource_list(struct skiff_store *s, const struct skiff_kind *k, json_t **out,
                        struct skiff_err *err)
{
    struct skiff_store_obj *objs = NULL;
    size_t n = 0;
    json_t *arr;
    int rc;

    *out = NULL;
    if ((rc = skiff_store_list(s, k->kind, &objs, &n, err)))
        return rc;
    arr = json_array();
    for (size_t i = 0; i < n && arr; i++) {
        json_t *o;
        if ((rc = decode(&objs[i], &o, err))) {
            json_decref(arr);
            arr = NULL;
            break;
        }
        json_array_append_new(arr, o);
    }
    skiff_store_objs_free(objs, n);
    if (!arr)
        return rc ? rc : skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    *out = arr;
    return 0;
}

int skiff_resource_delete(struct skiff_store *s, const struct skiff_kind *k, const char *name,
                          struct skiff_err *err)
{
    bool held;
    int rc = resource__admit_begin(s, k, name, NULL, RESOURCE__ADMIT_DELETE, &held, err);
    if (rc == 0)
        rc = skiff_store_delete(s, k->kind, name, 0, NULL, err);
    resource__admit_end(held);
    if (rc == SKIFF_ENOTFOUND)
        return skiff_err_set(err, SKIFF_ENOTFOUND, "%s \"%s\" not found",
                             skiff_kind_qualified(k), name);
    return rc;
}

const char *skiff_kind_qualified(const struct skiff_kind *k)
{
    /* per thread, so messages built on two request threads never mix */
    static _Thread_local char buf[160];
    size_t i = 0;
    for (const char *p = k->kind; *p && i < 80; p++)
        buf[i++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
    snprintf(buf + i, sizeof buf - i, ".%s", k->group);
    return buf;
}
