/* Metadata store, generic layer: see include/skiff/store.h.
 *
 * Picks the backend from the URL and checks arguments once, so backends
 * (src/store/<backend>/) only see valid keys. Adding a backend: implement
 * struct store__backend (store_int.h) in one file and add its scheme to
 * pick_backend below.
 */
#include "store/store_int.h"
#include "skiff/buf.h"
#include "skiff/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct skiff_store {
    const struct store__backend *be;
    void *impl;
};

void skiff_store_obj_release(struct skiff_store_obj *obj)
{
    if (!obj)
        return;
    free(obj->doc);
    obj->doc = NULL;
}

void skiff_store_objs_free(struct skiff_store_obj *objs, size_t n)
{
    if (!objs)
        return;
    for (size_t i = 0; i < n; i++)
        skiff_store_obj_release(&objs[i]);
    free(objs);
}

int store__uuid_v4(char out[40], struct skiff_err *err)
{
    unsigned char r[16];
    size_t got = 0;

    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return skiff_err_sys(err, SKIFF_EINTERNAL, "cannot read random bytes for a uid");
        }
        got += (size_t)n;
    }
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);  /* version 4 */
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);  /* variant 10xx (RFC 4122) */
    snprintf(out, 40,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
             r[13], r[14], r[15]);
    return 0;
}

/* "sqlite:PATH", "sqlite:///abs/path" or a plain path -> sqlite with PATH;
 * "postgres://..." -> the PostgreSQL backend (not in this build). */
static int pick_backend(const char *url, const struct store__backend **be, const char **target,
                        struct skiff_err *err)
{
    if (skiff_str_startswith(url, "postgres://") || skiff_str_startswith(url, "postgresql://"))
        return skiff_err_set(err, SKIFF_EINVAL, "postgres store not available in this build");
    if (skiff_str_startswith(url, "sqlite:")) {
        url += strlen("sqlite:");
        if (skiff_str_startswith(url, "//"))
            url += 2;
    } else if (strstr(url, "://")) {
        return skiff_err_set(err, SKIFF_EINVAL,
                             "unknown store URL '%s' (want sqlite:PATH or postgres://...)", url);
    }
    if (!*url)
        return skiff_err_set(err, SKIFF_EINVAL, "store URL has no path");
    *be = &store__sqlite;
    *target = url;
    return 0;
}

int skiff_store_open(const char *url, struct skiff_store **out, struct skiff_err *err)
{
    const struct store__backend *be = NULL;
    const char *target = NULL;
    struct skiff_store *s;
    int rc;

    *out = NULL;
    if (!url || !*url)
        return skiff_err_set(err, SKIFF_EINVAL, "empty store URL");
    if ((rc = pick_backend(url, &be, &target, err)))
        return rc;
    if (!(s = calloc(1, sizeof *s)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    s->be = be;
    if ((rc = be->open(target, &s->impl, err))) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void skiff_store_close(struct skiff_store *s)
{
    if (!s)
        return;
    s->be->close(s->impl);
    free(s);
}

int skiff_store_schema_version(struct skiff_store *s)
{
    return s->be->schema_version(s->impl);
}

/* Keys must fit struct skiff_store_obj, so what is stored can be read back. */
static int check_key(const char *kind, const char *name, struct skiff_err *err)
{
    struct skiff_store_obj o;

    if (!kind || !*kind || strlen(kind) >= sizeof o.kind)
        return skiff_err_set(err, SKIFF_EINVAL, "invalid kind '%.80s' (want 1 to %zu bytes)",
                             kind ? kind : "", sizeof o.kind - 1);
    if (!name || !*name || strlen(name) >= sizeof o.name)
        return skiff_err_set(err, SKIFF_EINVAL, "invalid name '%.80s' of %s (want 1 to %zu bytes)",
                             name ? name : "", kind, sizeof o.name - 1);
    return 0;
}

int skiff_store_get(struct skiff_store *s, const char *kind, const char *name,
                    struct skiff_store_obj *out, struct skiff_err *err)
{
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = check_key(kind, name, err)))
        return rc;
    return s->be->get(s->impl, kind, name, out, err);
}

int skiff_store_update(struct skiff_store *s, const char *kind, const char *name,
                       skiff_store_mutate_cb mutate, void *ctx, struct skiff_store_obj *out,
                       struct skiff_err *err)
{
    int rc;

    if (out)
        memset(out, 0, sizeof *out);
    if ((rc = check_key(kind, name, err)))
        return rc;
    if (!mutate)
        return skiff_err_set(err, SKIFF_EINVAL, "update of %s '%s' without a mutate callback",
                             kind, name);
    return s->be->update(s->impl, kind, name, mutate, ctx, out, err);
}

int skiff_store_delete(struct skiff_store *s, const char *kind, const char *name,
                       int64_t expect_rv, struct skiff_store_obj *out, struct skiff_err *err)
{
    int rc;

    if (out)
        memset(out, 0, sizeof *out);
    if ((rc = check_key(kind, name, err)))
        return rc;
    return s->be->del(s->impl, kind, name, expect_rv, out, err);
}

int skiff_store_list(struct skiff_store *s, const char *kind, struct skiff_store_obj **objs,
                     size_t *n, struct skiff_err *err)
{
    struct skiff_store_obj o;

    *objs = NULL;
    *n = 0;
    if (!kind || !*kind || strlen(kind) >= sizeof o.kind)
        return skiff_err_set(err, SKIFF_EINVAL, "invalid kind '%.80s' (want 1 to %zu bytes)",
                             kind ? kind : "", sizeof o.kind - 1);
    return s->be->list(s->impl, kind, objs, n, err);
}

/* ---- module tables ---- */

int skiff_store_migrate(struct skiff_store *s, const char *module, const char *const *steps,
                        size_t n, struct skiff_err *err)
{
    if (!module || !*module || strlen(module) > 64)
        return skiff_err_set(err, SKIFF_EINVAL, "invalid module name '%.80s' for migrations",
                             module ? module : "");
    if (n && !steps)
        return skiff_err_set(err, SKIFF_EINVAL, "migrations of '%s' without steps", module);
    for (size_t i = 0; i < n; i++)
        if (!steps[i] || !*steps[i])
            return skiff_err_set(err, SKIFF_EINVAL, "migration %zu of '%s' is empty", i + 1,
                                 module);
    return s->be->migrate(s->impl, module, steps, n, err);
}

static int check_sql(const char *sql, const struct skiff_store_val *params, size_t n,
                     struct skiff_err *err)
{
    if (!sql || !*sql)
        return skiff_err_set(err, SKIFF_EINVAL, "empty SQL statement");
    if (n && !params)
        return skiff_err_set(err, SKIFF_EINVAL, "%zu parameters announced, none given", n);
    for (size_t i = 0; i < n; i++)
        if (params[i].type == SKIFF_VAL_TEXT && !params[i].s && params[i].len)
            return skiff_err_set(err, SKIFF_EINVAL, "text parameter %zu has no data", i + 1);
    return 0;
}

int skiff_store_exec(struct skiff_store *s, const char *sql, const struct skiff_store_val *params,
                     size_t n, int64_t *changes, struct skiff_err *err)
{
    int rc;

    if (changes)
        *changes = 0;
    if ((rc = check_sql(sql, params, n, err)))
        return rc;
    return s->be->exec(s->impl, sql, params, n, changes, err);
}

int skiff_store_query(struct skiff_store *s, const char *sql, const struct skiff_store_val *params,
                      size_t n, skiff_store_row_cb cb, void *ctx, struct skiff_err *err)
{
    int rc;

    if ((rc = check_sql(sql, params, n, err)))
        return rc;
    return s->be->query(s->impl, sql, params, n, cb, ctx, err);
}

/* The backend's transaction knows nothing of struct skiff_store: this
 * carries the handle to the caller's fn. */
struct tx_call {
    struct skiff_store *s;
    skiff_store_tx_cb fn;
    void *ctx;
};

static int tx_trampoline(void *fctx, struct skiff_err *err)
{
    struct tx_call *c = fctx;
    return c->fn(c->s, c->ctx, err);
}

int skiff_store_tx(struct skiff_store *s, skiff_store_tx_cb fn, void *ctx, struct skiff_err *err)
{
    struct tx_call c = {s, fn, ctx};

    if (!fn)
        return skiff_err_set(err, SKIFF_EINVAL, "transaction without a function");
    return s->be->tx(s->impl, tx_trampoline, &c, err);
}
