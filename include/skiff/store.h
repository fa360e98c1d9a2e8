/* Metadata store: one interface, several backends.
 *
 * The backend is chosen by URL: "sqlite:PATH" (or a plain path) is the
 * embedded default; "postgres://..." is the shared store of a cluster (a
 * later backend: callers do not change). Every backend keeps the same
 * invariants:
 *   - objects are keyed by (kind, name); each has a uid (kept across
 *     updates), a resource_version taken from one store-wide sequence that
 *     grows with every write, a generation and a creation time;
 *   - skiff_store_update runs read-modify-write as one transaction, so two
 *     processes on one database never lose an update;
 *   - the schema is migrated forward on open, under a lock, and the version
 *     recorded in table skiff_schema.
 *
 * Thread-safety: one struct skiff_store may be used from many threads (the
 * backend serialises or pools connections).
 */
#ifndef SKIFF_STORE_H
#define SKIFF_STORE_H

#include <stddef.h>
#include <stdint.h>

struct skiff_err;
struct skiff_store;

struct skiff_store_obj {
    char kind[64];
    char name[254];
    char uid[40];             /* RFC 4122 v4, assigned at creation */
    int64_t resource_version; /* store-wide sequence value of the last write */
    int64_t generation;       /* set by the caller's mutate callback */
    int64_t created_us;       /* UTC microseconds of creation */
    char *doc;                /* JSON text of the whole object; owned, see _release */
};

/* Frees obj->doc and clears it. Accepts NULL. */
void skiff_store_obj_release(struct skiff_store_obj *obj);

/* Opens (creating and migrating) the store at `url`. Caller frees with
 * skiff_store_close. */
int skiff_store_open(const char *url, struct skiff_store **out, struct skiff_err *err);
/* Closes, checkpointing the WAL. Accepts NULL. */
void skiff_store_close(struct skiff_store *s);

/* Schema version after migrations (for `skiff version` and tests). */
int skiff_store_schema_version(struct skiff_store *s);

/* Read one object. SKIFF_ENOTFOUND if absent. Caller releases `out`. */
int skiff_store_get(struct skiff_store *s, const char *kind, const char *name,
                    struct skiff_store_obj *out, struct skiff_err *err);

/* Read-modify-write in one transaction.
 * `mutate(cur, next, ctx, err)`: `cur` is the stored object or NULL when
 * absent; `next` arrives with kind, name, uid (cur's, or a new one),
 * created_us (cur's, or now), generation (cur's, or 0) and resource_version
 * (the value this write will get) filled in; the callback sets next->doc (a
 * malloc'd JSON string the store takes over) and next->generation, or returns
 * an error code to abort (e.g. SKIFF_ECONFLICT on a stale resourceVersion).
 * On success `out` (may be NULL) receives the stored object. */
typedef int (*skiff_store_mutate_cb)(const struct skiff_store_obj *cur,
                                     struct skiff_store_obj *next, void *ctx,
                                     struct skiff_err *err);
int skiff_store_update(struct skiff_store *s, const char *kind, const char *name,
                       skiff_store_mutate_cb mutate, void *ctx,
                       struct skiff_store_obj *out, struct skiff_err *err);

/* Delete. `expect_rv` > 0 makes it conditional (SKIFF_ECONFLICT if the
 * stored resource_version differs). SKIFF_ENOTFOUND if absent. `out` (may be
 * NULL) receives the deleted object. */
int skiff_store_delete(struct skiff_store *s, const char *kind, const char *name,
                       int64_t expect_rv, struct skiff_store_obj *out, struct skiff_err *err);

/* Every object of `kind`, ordered by name. `*objs` is a malloc'd array of
 * `*n` objects: free with skiff_store_objs_free. */
int skiff_store_list(struct skiff_store *s, const char *kind, struct skiff_store_obj **objs,
                     size_t *n, struct skiff_err *err);
void skiff_store_objs_free(struct skiff_store_obj *objs, size_t n);

/* ---- module tables: SQL for subsystems that own their own tables ----
 *
 * A subsystem (tracking, registry, ...) keeps its rows in tables of its own,
 * created by its own ordered migrations and reached with parameterised SQL.
 * The SQL is the portable subset SQLite and PostgreSQL share: '?'
 * placeholders (a backend rewrites them to its own form), INSERT ... ON
 * CONFLICT, no backend-specific functions.
 */

/* Brings `module`'s tables forward: steps[i] (one or more statements) takes
 * the module from version i to i+1. The version reached is recorded per
 * module (table skiff_module_schema), so steps already applied are skipped:
 * calling it at every start-up, from two processes at once, applies each step
 * exactly once (under BEGIN IMMEDIATE). Append steps, never edit a shipped
 * one. SKIFF_EIO if the stored version is newer than `n` (an older skiff on a
 * newer database); SKIFF_EINVAL with the database's message if a step fails,
 * and then nothing of this call is applied. */
int skiff_store_migrate(struct skiff_store *s, const char *module, const char *const *steps,
                        size_t n, struct skiff_err *err);

/* One SQL value: a parameter, or a column of a result row. `s` is not
 * necessarily NUL-terminated past `len` for parameters; row values are
 * NUL-terminated. */
struct skiff_store_val {
    enum skiff_store_type { SKIFF_VAL_NULL, SKIFF_VAL_INT, SKIFF_VAL_REAL, SKIFF_VAL_TEXT } type;
    int64_t i;
    double d;
    const char *s;
    size_t len;
};

/* Runs one statement that returns no rows, binding params[0..n) to its '?'
 * placeholders in order. `changes` (may be NULL) receives the number of rows
 * it inserted, updated or deleted. Outside skiff_store_tx the statement is
 * its own transaction. Statements are prepared once and cached by SQL text,
 * so repeated calls do not re-parse. Errors: SKIFF_EINVAL with the database's
 * message for bad SQL or a violated constraint; SKIFF_EUNAVAIL when the
 * database stayed locked by another writer past the retry bound (a few
 * seconds); SKIFF_EIO otherwise. Thread-safe. */
int skiff_store_exec(struct skiff_store *s, const char *sql, const struct skiff_store_val *params,
                     size_t n, int64_t *changes, struct skiff_err *err);

/* Called once per result row with its columns. The TEXT pointers are valid
 * only during the call (copy what you keep). A non-zero return stops the
 * query and is returned by skiff_store_query (set err before). */
typedef int (*skiff_store_row_cb)(void *ctx, const struct skiff_store_val *cols, size_t ncols,
                                  struct skiff_err *err);

/* Runs one statement and calls `cb` for each row (cb may be NULL to only run
 * it). Same binding, caching, errors and thread safety as skiff_store_exec.
 * The callback runs with the store's connection held: it must not call into
 * the store from another thread and wait for it; calling exec/query from the
 * callback itself is allowed only inside skiff_store_tx. */
int skiff_store_query(struct skiff_store *s, const char *sql, const struct skiff_store_val *params,
                      size_t n, skiff_store_row_cb cb, void *ctx, struct skiff_err *err);

/* Runs fn in one write transaction: BEGIN IMMEDIATE, fn, COMMIT; ROLLBACK if
 * fn returns non-zero (that code is returned, err as fn set it) or the
 * commit fails. skiff_store_exec/_query called by fn on the same thread run
 * inside the transaction; other threads wait until it ends, so keep fn short.
 * A skiff_store_tx inside fn joins the outer transaction. Busy databases are
 * retried as in skiff_store_exec (then SKIFF_EUNAVAIL). */
typedef int (*skiff_store_tx_cb)(struct skiff_store *s, void *ctx, struct skiff_err *err);
int skiff_store_tx(struct skiff_store *s, skiff_store_tx_cb fn, void *ctx, struct skiff_err *err);

/* ---- blob store: artifact files under one root directory ---- */

struct skiff_blob;
struct skiff_buf;

/* Opens (creating) the blob root, e.g. SKIFF_HOME/artifacts. Caller frees
 * with skiff_blob_close. */
int skiff_blob_open(const char *root, struct skiff_blob **out, struct skiff_err *err);
void skiff_blob_close(struct skiff_blob *b);

/* Turns a relative path into an absolute one under the root, refusing (with
 * SKIFF_EINVAL) absolute paths, ".." segments, NUL bytes and symlinks that
 * lead outside the root. `abs` receives the path. */
int skiff_blob_resolve(const struct skiff_blob *b, const char *rel, char *abs, size_t n,
                       struct skiff_err *err);
/* Writes a whole file atomically (temp file + fsync + rename), creating
 * parent folders. */
int skiff_blob_put(struct skiff_blob *b, const char *rel, const void *data, size_t n,
                   struct skiff_err *err);
/* Copies from an open file descriptor until EOF (streams; never holds the
 * whole file in memory). */
int skiff_blob_put_fd(struct skiff_blob *b, const char *rel, int fd, struct skiff_err *err);
/* Reads a whole file into `out` (which may carry a cap). */
int skiff_blob_get(struct skiff_blob *b, const char *rel, struct skiff_buf *out,
                   struct skiff_err *err);
/* Removes a file, or a folder and everything in it. */
int skiff_blob_delete(struct skiff_blob *b, const char *rel, struct skiff_err *err);
/* Appends to `out` a JSON array of the entries directly under `rel`:
 * [{"path":"model/MLmodel","is_dir":false,"file_size":123}, ...] (paths
 * relative to the root, sorted). */
int skiff_blob_list(struct skiff_blob *b, const char *rel, struct skiff_buf *out,
                    struct skiff_err *err);

#endif
