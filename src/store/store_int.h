/* Declarations shared by the files of src/store/ (not part of the public API).
 *
 * A metadata backend is one vtable and one file (src/store/<backend>/). The
 * generic layer (store.c) picks the backend from the URL and runs the checks
 * every backend would repeat (argument presence, key lengths) before calling
 * it, so a backend sees only valid keys and non-NULL out-parameters.
 */
#ifndef SKIFF_STORE_INT_H
#define SKIFF_STORE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "skiff/store.h"

struct skiff_err;

/* What each backend implements. `impl` is the backend's own state, created
 * by open and freed by close. Every function may be called from many
 * threads at once on one impl: the backend serialises or pools. */
struct store__backend {
    const char *name;  /* "sqlite", "postgres": for messages */
    /* `target` is what follows the scheme ("sqlite:" stripped, a plain path
     * as is, or the whole "postgres://..." URL). */
    int (*open)(const char *target, void **impl, struct skiff_err *err);
    void (*close)(void *impl);
    int (*schema_version)(void *impl);
    int (*get)(void *impl, const char *kind, const char *name, struct skiff_store_obj *out,
               struct skiff_err *err);
    int (*update)(void *impl, const char *kind, const char *name, skiff_store_mutate_cb mutate,
                  void *ctx, struct skiff_store_obj *out, struct skiff_err *err);
    int (*del)(void *impl, const char *kind, const char *name, int64_t expect_rv,
               struct skiff_store_obj *out, struct skiff_err *err);
    int (*list)(void *impl, const char *kind, struct skiff_store_obj **objs, size_t *n,
                struct skiff_err *err);
    /* module tables (store.h): arguments already checked */
    int (*migrate)(void *impl, const char *module, const char *const *steps, size_t n,
                   struct skiff_err *err);
    int (*exec)(void *impl, const char *sql, const struct skiff_store_val *params, size_t n,
                int64_t *changes, struct skiff_err *err);
    int (*query)(void *impl, const char *sql, const struct skiff_store_val *params, size_t n,
                 skiff_store_row_cb cb, void *ctx, struct skiff_err *err);
    /* BEGIN IMMEDIATE, call fn(fctx), COMMIT or ROLLBACK; joins an open
     * transaction of the calling thread */
    int (*tx)(void *impl, int (*fn)(void *fctx, struct skiff_err *err), void *fctx,
              struct skiff_err *err);
};

extern const struct store__backend store__sqlite;

/* Writes a fresh RFC 4122 version 4 uuid ("xxxxxxxx-xxxx-4xxx-yxxx-
 * xxxxxxxxxxxx", lowercase, 36 characters) into out[40], from getrandom(2). */
int store__uuid_v4(char out[40], struct skiff_err *err);

#endif
