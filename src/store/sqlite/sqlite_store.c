/* SQLite backend of the metadata store (the embedded default). All of the
 * store's SQL lives in this file.
 *
 * Invariants:
 *  - One connection per handle, used only with `lock` held: a connection
 *    must not run statements for two threads at once, and one thread's
 *    BEGIN..COMMIT must not take in another thread's statements. Different
 *    handles (threads or processes) on one file are serialised by SQLite:
 *    every write starts with BEGIN IMMEDIATE, which takes the database's
 *    write lock before the read, so a read-modify-write cannot interleave
 *    with another writer (no lost updates).
 *  - skiff_seq has one row: the last resource_version handed out. A write
 *    increments it inside its own transaction, so committed values grow
 *    across all kinds, are never reused and survive restarts (a rolled-back
 *    increment was never seen by anyone).
 *  - skiff_schema has one row: how many steps of `migrations` are applied.
 *    Steps run in one transaction under BEGIN IMMEDIATE, so of two processes
 *    opening a new file at once one migrates and the other sees the result.
 *  - journal_mode=WAL with synchronous=FULL: the WAL is fsynced at each
 *    COMMIT, so a write that returned survives a crash or power loss.
 *
 * A write, and the functions that move it on:
 *
 *   idle --begin_immediate--> in transaction --(statements)--> commit --> idle
 *                                   |  any failure, or mutate's error
 *                                   +--rollback--> idle
 *
 * Callbacks: skiff_store_update calls `mutate` with the lock held and the
 * transaction open; it must not call back into the same store and should be
 * quick (it holds the database's write lock).
 *
 * Module tables (skiff_store_exec/_query/_tx/_migrate):
 *  - `lock` is recursive so that the thread inside skiff_store_tx can run
 *    exec/query from its callback. `tx_depth` > 0 means a transaction of
 *    skiff_store_tx is open; only the thread holding `lock` reads or writes
 *    it, so a thread that takes the lock and sees tx_depth > 0 is the one
 *    that opened the transaction (any other thread would have blocked).
 *  - skiff_store_update/_delete open transactions of their own and refuse to
 *    run inside skiff_store_tx (their rollback would end the outer one).
 *  - `cache` holds prepared statements keyed by SQL text (least recently used
 *    replaced). An entry being stepped is `busy`: a nested call with the same
 *    SQL (from a row callback, inside a transaction) prepares a one-off
 *    statement instead of resetting the one in use.
 *  - SQLITE_BUSY never leaves this file as such: busy_timeout waits inside
 *    sqlite3_step, and the few immediate BUSY answers are retried with
 *    backoff until BUSY_TIMEOUT_MS, then reported as SKIFF_EUNAVAIL.
 */
#include "store/store_int.h"
#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/time.h"

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long a writer waits for another one before giving up. */
#define BUSY_TIMEOUT_MS 5000

/* Forward-only schema steps; step i takes version i to i+1. Append, never
 * edit a step that has shipped. */
static const char *const migrations[] = {
    /* 1: objects and the resource_version sequence */
    "CREATE TABLE skiff_objects ("
    "  kind TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  uid TEXT NOT NULL UNIQUE,"
    "  resource_version INTEGER NOT NULL,"
    "  generation INTEGER NOT NULL,"
    "  created_us INTEGER NOT NULL,"
    "  updated_us INTEGER NOT NULL,"
    "  doc TEXT NOT NULL CHECK (json_valid(doc)),"
    "  PRIMARY KEY (kind, name)"
    ") WITHOUT ROWID;"
    "CREATE TABLE skiff_seq ("
    "  id INTEGER PRIMARY KEY CHECK (id = 1),"
    "  value INTEGER NOT NULL"
    ");"
    "INSERT INTO skiff_seq (id, value) VALUES (1, 0);",
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof *migrations))

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_GET,
    ST_SEQ_NEXT,
    ST_UPSERT,
    ST_DELETE,
    ST_LIST,
    N_STMTS
};

static const char *const stmt_sql[N_STMTS] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_GET] = "SELECT uid, resource_version, generation, created_us, doc"
               " FROM skiff_objects WHERE kind = ?1 AND name = ?2",
    [ST_SEQ_NEXT] = "UPDATE skiff_seq SET value = value + 1 WHERE id = 1 RETURNING value",
    /* uid and created_us are written once, at creation */
    [ST_UPSERT] = "INSERT INTO skiff_objects (kind, name, uid, resource_version, generation,"
                  " created_us, updated_us, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                  " ON CONFLICT (kind, name) DO UPDATE SET"
                  " resource_version = excluded.resource_version,"
                  " generation = excluded.generation,"
                  " updated_us = excluded.updated_us, doc = excluded.doc",
    [ST_DELETE] = "DELETE FROM skiff_objects WHERE kind = ?1 AND name = ?2",
    [ST_LIST] = "SELECT uid, resource_version, generation, created_us, doc, name"
                " FROM skiff_objects WHERE kind = ?1 ORDER BY name",
};

/* Columns of ST_GET and ST_LIST, in this order. */
enum { COL_UID, COL_RV, COL_GEN, COL_CREATED, COL_DOC, COL_NAME };

/* Prepared statements kept for module SQL (see the invariants). */
#define STMT_CACHE 64

struct cached_stmt {
    char *sql;            /* malloc'd key; NULL = free slot */
    sqlite3_stmt *stmt;
    uint64_t used;        /* value of `tick` at the last use, for LRU */
    bool busy;
};

struct sqlite_store {
    pthread_mutex_t lock; /* recursive */
    int tx_depth;         /* open skiff_store_tx levels, read with `lock` held */
    uint64_t tick;
    struct cached_stmt cache[STMT_CACHE];
    sqlite3 *db;
    sqlite3_stmt *st[N_STMTS];
    int schema_version;
    char path[PATH_MAX];
};

/* ---- errors ---- */

/* SQLite's result code -> skiff's. */
static int map_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return SKIFF_EUNAVAIL;
    case SQLITE_NOMEM:
        return SKIFF_ENOMEM;
    case SQLITE_CONSTRAINT:
        return SKIFF_EINVAL;
    default:
        return SKIFF_EIO;
    }
}

/* Sets err from SQLite's last error on db: "store 'PATH': <what>: <why>".
 * Call right after the failing call (before any reset). */
static int db_fail(const char *path, sqlite3 *db, int rc, struct skiff_err *err,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int db_fail(const char *path, sqlite3 *db, int rc, struct skiff_err *err,
                   const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return skiff_err_set(err, map_code(rc), "store '%s': %s: %s", path, what,
                         db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

/* ---- transactions ---- */

static void stmt_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Runs a statement that returns no rows. */
static int step_done(struct sqlite_store *st, int which, struct skiff_err *err, const char *what)
{
    int src = sqlite3_step(st->st[which]), rc = 0;
    if (src != SQLITE_DONE)
        rc = db_fail(st->path, st->db, src, err, "%s", what);
    stmt_done(st->st[which]);
    return rc;
}

/* Takes the write lock (idle -> in transaction). The busy timeout already
 * waits inside sqlite3_step; SQLite still answers SQLITE_BUSY at once in a
 * few cases (another connection recovering the WAL, a lock upgrade it
 * refuses to wait for), so BUSY is retried until BUSY_TIMEOUT_MS in all. */
static int begin_immediate(sqlite3 *db, sqlite3_stmt *begin, const char *path,
                           struct skiff_err *err)
{
    int64_t deadline = skiff_time_mono_us() + BUSY_TIMEOUT_MS * INT64_C(1000);
    struct timespec pause = {0, 2 * 1000 * 1000};

    for (;;) {
        int rc = begin ? sqlite3_step(begin) : sqlite3_exec(db, "BEGIN IMMEDIATE", 0, 0, 0);
        if (rc == SQLITE_DONE || rc == SQLITE_OK) {
            if (begin)
                sqlite3_reset(begin);
            return 0;
        }
        if ((rc & 0xff) != SQLITE_BUSY || skiff_time_mono_us() >= deadline) {
            rc = db_fail(path, db, rc, err, "cannot start a write");
            if (begin)
                sqlite3_reset(begin);
            return rc;
        }
        if (begin)
            sqlite3_reset(begin);
        nanosleep(&pause, NULL);
        if (pause.tv_nsec < 50 * 1000 * 1000)
            pause.tv_nsec *= 2;
    }
}

/* in transaction -> idle, discarding. SQLite may already have rolled back
 * by itself (after an I/O error or SQLITE_FULL), hence the autocommit test. */
static void rollback(struct sqlite_store *st)
{
    if (!sqlite3_get_autocommit(st->db)) {
        sqlite3_step(st->st[ST_ROLLBACK]);
        sqlite3_reset(st->st[ST_ROLLBACK]);
    }
}

/* ---- open, migrate, close ---- */

/* Runs a PRAGMA that answers one text value into out[n]. Switching to WAL
 * needs a moment of exclusive access, and SQLite answers SQLITE_BUSY for it
 * without calling the busy handler (two processes opening a new file at
 * once), so BUSY is retried here until BUSY_TIMEOUT_MS. */
static int pragma_text(sqlite3 *db, const char *sql, char *out, size_t n, int *sqlite_rc)
{
    int64_t deadline = skiff_time_mono_us() + BUSY_TIMEOUT_MS * INT64_C(1000);
    struct timespec pause = {0, 1000 * 1000};
    int rc;

    out[0] = '\0';
    for (;;) {
        sqlite3_stmt *s = NULL;
        rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(s);
            if (rc == SQLITE_ROW) {
                const unsigned char *t = sqlite3_column_text(s, 0);
                snprintf(out, n, "%s", t ? (const char *)t : "");
                rc = SQLITE_OK;
            } else if (rc == SQLITE_DONE) {
                rc = SQLITE_OK;
            }
        }
        sqlite3_finalize(s);
        if ((rc & 0xff) != SQLITE_BUSY || skiff_time_mono_us() >= deadline)
            break;
        nanosleep(&pause, NULL);
        if (pause.tv_nsec < 50 * 1000 * 1000)
            pause.tv_nsec *= 2;
    }
    *sqlite_rc = rc;
    return rc == SQLITE_OK ? 0 : -1;
}

/* Applies the missing steps of `migrations` (see the invariants) and
 * records the version reached in st->schema_version. */
static int migrate(struct sqlite_store *st, struct skiff_err *err)
{
    sqlite3_stmt *s = NULL;
    int rc, version = 0;

    if ((rc = begin_immediate(st->db, NULL, st->path, err)))
        return rc;
    rc = sqlite3_exec(st->db,
                      "CREATE TABLE IF NOT EXISTS skiff_schema ("
                      "  id INTEGER PRIMARY KEY CHECK (id = 1),"
                      "  version INTEGER NOT NULL)",
                      NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        rc = db_fail(st->path, st->db, rc, err, "cannot create table skiff_schema");
        goto out;
    }
    rc = sqlite3_prepare_v2(st->db, "SELECT version FROM skiff_schema WHERE id = 1", -1, &s,
                            NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        version = sqlite3_column_int(s, 0);
        rc = SQLITE_DONE;
    }
    if (rc != SQLITE_DONE) {
        rc = db_fail(st->path, st->db, rc, err, "cannot read the schema version");
        goto out;
    }
    sqlite3_finalize(s);
    s = NULL;
    if (version > N_MIGRATIONS || version < 0) {
        rc = skiff_err_set(err, SKIFF_EIO,
                           "store '%s' has schema version %d, newer than this skiff knows (%d): "
                           "upgrade skiff", st->path, version, N_MIGRATIONS);
        goto out;
    }
    for (int i = version; i < N_MIGRATIONS; i++) {
        rc = sqlite3_exec(st->db, migrations[i], NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            rc = db_fail(st->path, st->db, rc, err, "migration to schema version %d failed",
                         i + 1);
            goto out;
        }
    }
    if (version < N_MIGRATIONS) {
        char sql[128];
        snprintf(sql, sizeof sql,
                 "INSERT INTO skiff_schema (id, version) VALUES (1, %d)"
                 " ON CONFLICT (id) DO UPDATE SET version = excluded.version", N_MIGRATIONS);
        if ((rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL)) != SQLITE_OK) {
            rc = db_fail(st->path, st->db, rc, err, "cannot record the schema version");
            goto out;
        }
    }
    if ((rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
        rc = db_fail(st->path, st->db, rc, err, "cannot commit the migrations");
        goto out;
    }
    st->schema_version = N_MIGRATIONS;
    rc = 0;
out:
    sqlite3_finalize(s);
    if (rc && !sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static void sqlite_close(void *impl)
{
    struct sqlite_store *st = impl;

    if (!st)
        return;
    for (int i = 0; i < N_STMTS; i++)
        sqlite3_finalize(st->st[i]);
    for (int i = 0; i < STMT_CACHE; i++) {
        sqlite3_finalize(st->cache[i].stmt);
        free(st->cache[i].sql);
    }
    if (st->db) {
        /* fold the WAL into the database file now. PASSIVE never waits for
         * other handles' writers; when this is the last connection,
         * sqlite3_close checkpoints the rest and removes the WAL itself */
        sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        sqlite3_close(st->db);
    }
    pthread_mutex_destroy(&st->lock);
    free(st);
}

static int sqlite_open(const char *path, void **impl, struct skiff_err *err)
{
    struct sqlite_store *st;
    char mode[32];
    int rc, src;

    *impl = NULL;
    if (!(st = calloc(1, sizeof *st)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    {
        pthread_mutexattr_t ma;
        int bad = pthread_mutexattr_init(&ma) != 0;
        bad = bad || pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE) != 0;
        bad = bad || pthread_mutex_init(&st->lock, &ma) != 0;
        pthread_mutexattr_destroy(&ma);
        if (bad) {
            free(st);
            return skiff_err_set(err, SKIFF_EINTERNAL, "cannot create a mutex");
        }
    }
    if (!skiff_strlcpy(st->path, path, sizeof st->path)) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "store path '%.80s...' is too long", path);
        goto out;
    }
    /* NOMUTEX: `lock` already serialises every use of the connection */
    src = sqlite3_open_v2(path, &st->db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        rc = db_fail(path, st->db, src, err, "cannot open");
        goto out;
    }
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    /* the first statement reads the file header: a file that is not a
     * database (or is damaged) is reported here */
    if (pragma_text(st->db, "PRAGMA journal_mode=WAL", mode, sizeof mode, &src) != 0) {
        rc = db_fail(path, st->db, src, err, "cannot open");
        goto out;
    }
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0) {
        rc = skiff_err_set(err, SKIFF_EIO, "store '%s': cannot use write-ahead logging "
                           "(journal mode stays '%s'; is it on a network file system?)",
                           path, mode);
        goto out;
    }
    src = sqlite3_exec(st->db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", NULL, NULL,
                       NULL);
    if (src != SQLITE_OK) {
        rc = db_fail(path, st->db, src, err, "cannot set pragmas");
        goto out;
    }
    if ((rc = migrate(st, err)))
        goto out;
    for (int i = 0; i < N_STMTS; i++) {
        src = sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->st[i],
                                 NULL);
        if (src != SQLITE_OK) {
            rc = db_fail(path, st->db, src, err, "cannot prepare statement %d", i);
            goto out;
        }
    }
    *impl = st;
    st = NULL;
    rc = 0;
out:
    sqlite_close(st);
    return rc;
}

static int sqlite_schema_version(void *impl)
{
    return ((struct sqlite_store *)impl)->schema_version;
}

/* ---- reading rows ---- */

/* Fills obj (except kind and name) from a row of ST_GET or ST_LIST. */
static int read_row(struct sqlite_store *st, sqlite3_stmt *s, struct skiff_store_obj *obj,
                    struct skiff_err *err)
{
    const unsigned char *uid = sqlite3_column_text(s, COL_UID);
    const unsigned char *doc = sqlite3_column_text(s, COL_DOC);

    if (!uid || !doc)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading store '%s'", st->path);
    skiff_strlcpy(obj->uid, (const char *)uid, sizeof obj->uid);
    obj->resource_version = sqlite3_column_int64(s, COL_RV);
    obj->generation = sqlite3_column_int64(s, COL_GEN);
    obj->created_us = sqlite3_column_int64(s, COL_CREATED);
    if (!(obj->doc = strdup((const char *)doc)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading store '%s'", st->path);
    return 0;
}

/* Reads (kind, name) with ST_GET. Returns 0 with *found set, or an error. */
static int read_one(struct sqlite_store *st, const char *kind, const char *name,
                    struct skiff_store_obj *obj, int *found, struct skiff_err *err)
{
    sqlite3_stmt *s = st->st[ST_GET];
    int rc = 0, src;

    *found = 0;
    sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    src = sqlite3_step(s);
    if (src == SQLITE_ROW) {
        skiff_strlcpy(obj->kind, kind, sizeof obj->kind);
        skiff_strlcpy(obj->name, name, sizeof obj->name);
        if ((rc = read_row(st, s, obj, err)) == 0)
            *found = 1;
    } else if (src != SQLITE_DONE) {
        rc = db_fail(st->path, st->db, src, err, "cannot read %s '%s'", kind, name);
    }
    stmt_done(s);
    return rc;
}

static int sqlite_get(void *impl, const char *kind, const char *name,
                      struct skiff_store_obj *out, struct skiff_err *err)
{
    struct sqlite_store *st = impl;
    int rc, found;

    pthread_mutex_lock(&st->lock);
    rc = read_one(st, kind, name, out, &found, err);
    pthread_mutex_unlock(&st->lock);
    if (rc == 0 && !found)
        rc = skiff_err_set(err, SKIFF_ENOTFOUND, "%s '%s' not found", kind, name);
    return rc;
}

static int sqlite_list(void *impl, const char *kind, struct skiff_store_obj **objs, size_t *n,
                       struct skiff_err *err)
{
    struct sqlite_store *st = impl;
    sqlite3_stmt *s = st->st[ST_LIST];
    struct skiff_store_obj *arr = NULL;
    size_t len = 0, cap = 0;
    int rc = 0, src;

    pthread_mutex_lock(&st->lock);
    sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    while ((src = sqlite3_step(s)) == SQLITE_ROW) {
        const unsigned char *name = sqlite3_column_text(s, COL_NAME);
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct skiff_store_obj *p = realloc(arr, ncap * sizeof *arr);
            if (!p) {
                rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory listing %s", kind);
                goto out;
            }
            arr = p;
            cap = ncap;
        }
        memset(&arr[len], 0, sizeof arr[len]);
        skiff_strlcpy(arr[len].kind, kind, sizeof arr[len].kind);
        if (!name || !skiff_strlcpy(arr[len].name, (const char *)name, sizeof arr[len].name)) {
            rc = skiff_err_set(err, SKIFF_EIO, "store '%s': a %s has a name skiff cannot hold",
                               st->path, kind);
            goto out;
        }
        if ((rc = read_row(st, s, &arr[len], err))) {
            skiff_store_obj_release(&arr[len]);
            goto out;
        }
        len++;
    }
    if (src != SQLITE_DONE)
        rc = db_fail(st->path, st->db, src, err, "cannot list %s", kind);
out:
    stmt_done(s);
    pthread_mutex_unlock(&st->lock);
    if (rc) {
        skiff_store_objs_free(arr, len);
        return rc;
    }
    *objs = arr;
    *n = len;
    return 0;
}

/* ---- writing ---- */

static int sqlite_update(void *impl, const char *kind, const char *name,
                         skiff_store_mutate_cb mutate, void *ctx, struct skiff_store_obj *out,
                         struct skiff_err *err)
{
    struct sqlite_store *st = impl;
    struct skiff_store_obj cur = {0}, next = {0};
    sqlite3_stmt *s;
    int rc, src, found = 0;
    int64_t now = skiff_time_now_us();

    pthread_mutex_lock(&st->lock);
    if (st->tx_depth > 0) {
        pthread_mutex_unlock(&st->lock);
        return skiff_err_set(err, SKIFF_EINVAL, "store '%s': objects cannot be written inside "
                             "skiff_store_tx", st->path);
    }
    if ((rc = begin_immediate(st->db, st->st[ST_BEGIN], st->path, err)))
        goto out;
    if ((rc = read_one(st, kind, name, &cur, &found, err)))
        goto out;

    skiff_strlcpy(next.kind, kind, sizeof next.kind);
    skiff_strlcpy(next.name, name, sizeof next.name);
    if (found) {
        memcpy(next.uid, cur.uid, sizeof next.uid);
        next.created_us = cur.created_us;
        next.generation = cur.generation;
    } else {
        if ((rc = store__uuid_v4(next.uid, err)))
            goto out;
        next.created_us = now;
    }
    s = st->st[ST_SEQ_NEXT];
    src = sqlite3_step(s);
    if (src == SQLITE_ROW)
        next.resource_version = sqlite3_column_int64(s, 0);
    else
        rc = db_fail(st->path, st->db, src, err, "cannot take a resource version");
    stmt_done(s);
    if (rc)
        goto out;

    {
        /* the callback chooses doc and generation only; the key, uid,
         * creation time and version are the store's */
        struct skiff_store_obj keep = next;
        if ((rc = mutate(found ? &cur : NULL, &next, ctx, err)))
            goto out;
        memcpy(next.kind, keep.kind, sizeof next.kind);
        memcpy(next.name, keep.name, sizeof next.name);
        memcpy(next.uid, keep.uid, sizeof next.uid);
        next.created_us = keep.created_us;
        next.resource_version = keep.resource_version;
    }
    if (!next.doc) {
        rc = skiff_err_set(err, SKIFF_EINTERNAL, "update of %s '%s' produced no document", kind,
                           name);
        goto out;
    }

    s = st->st[ST_UPSERT];
    sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, next.uid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 4, next.resource_version);
    sqlite3_bind_int64(s, 5, next.generation);
    sqlite3_bind_int64(s, 6, next.created_us);
    sqlite3_bind_int64(s, 7, now);
    sqlite3_bind_text(s, 8, next.doc, -1, SQLITE_STATIC);
    src = sqlite3_step(s);
    if (src != SQLITE_DONE) {
        if ((src & 0xff) == SQLITE_CONSTRAINT)
            rc = skiff_err_set(err, SKIFF_EINVAL, "%s '%s': document is not valid JSON", kind,
                               name);
        else
            rc = db_fail(st->path, st->db, src, err, "cannot write %s '%s'", kind, name);
    }
    stmt_done(s);
    if (rc)
        goto out;
    if ((rc = step_done(st, ST_COMMIT, err, "cannot commit")))
        goto out;
    if (out) {
        *out = next;
        next.doc = NULL;
    }
out:
    if (rc)
        rollback(st);
    pthread_mutex_unlock(&st->lock);
    skiff_store_obj_release(&cur);
    skiff_store_obj_release(&next);
    return rc;
}

static int sqlite_delete(void *impl, const char *kind, const char *name, int64_t expect_rv,
                         struct skiff_store_obj *out, struct skiff_err *err)
{
    struct sqlite_store *st = impl;
    struct skiff_store_obj cur = {0};
    sqlite3_stmt *s;
    int rc, src, found = 0;

    pthread_mutex_lock(&st->lock);
    if (st->tx_depth > 0) {
        pthread_mutex_unlock(&st->lock);
        return skiff_err_set(err, SKIFF_EINVAL, "store '%s': objects cannot be written inside "
                             "skiff_store_tx", st->path);
    }
    if ((rc = begin_immediate(st->db, st->st[ST_BEGIN], st->path, err)))
        goto out;
    if ((rc = read_one(st, kind, name, &cur, &found, err)))
        goto out;
    if (!found) {
        rc = skiff_err_set(err, SKIFF_ENOTFOUND, "%s '%s' not found", kind, name);
        goto out;
    }
    if (expect_rv > 0 && cur.resource_version != expect_rv) {
        rc = skiff_err_set(err, SKIFF_ECONFLICT,
                           "%s '%s' has changed (resourceVersion %lld, expected %lld)", kind,
                           name, (long long)cur.resource_version, (long long)expect_rv);
        goto out;
    }
    s = st->st[ST_DELETE];
    sqlite3_bind_text(s, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, name, -1, SQLITE_STATIC);
    src = sqlite3_step(s);
    if (src != SQLITE_DONE)
        rc = db_fail(st->path, st->db, src, err, "cannot delete %s '%s'", kind, name);
    stmt_done(s);
    if (rc)
        goto out;
    if ((rc = step_done(st, ST_COMMIT, err, "cannot commit")))
        goto out;
    if (out) {
        *out = cur;
        cur.doc = NULL;
    }
out:
    if (rc)
        rollback(st);
    pthread_mutex_unlock(&st->lock);
    skiff_store_obj_release(&cur);
    return rc;
}

/* ---- module tables ---- */

/* A statement for `sql`: the cached one (marked busy) or, when that is in
 * use by an outer call on this thread, a one-off (*oneoff set: finalize it
 * instead of release_stmt). Prepare errors are the caller's: bad SQL is
 * SKIFF_EINVAL with SQLite's message. Called with `lock` held. */
static int get_stmt(struct sqlite_store *st, const char *sql, sqlite3_stmt **out, int *slot,
                    struct skiff_err *err)
{
    int victim = -1, src;
    sqlite3_stmt *stmt = NULL;

    *out = NULL;
    *slot = -1;
    st->tick++;
    for (int i = 0; i < STMT_CACHE; i++) {
        struct cached_stmt *c = &st->cache[i];
        if (c->sql && strcmp(c->sql, sql) == 0) {
            if (c->busy) {
                victim = -1;   /* nested use of the same SQL: an uncached one-off */
                break;
            }
            c->busy = true;
            c->used = st->tick;
            *out = c->stmt;
            *slot = i;
            return 0;
        }
        /* the slot to replace: a free one, else the least recently used
         * one not in use */
        if (c->busy)
            continue;
        if (victim < 0 || (st->cache[victim].sql &&
                           (!c->sql || c->used < st->cache[victim].used)))
            victim = i;
    }
    const char *tail = NULL;
    src = sqlite3_prepare_v3(st->db, sql, -1, victim >= 0 ? SQLITE_PREPARE_PERSISTENT : 0, &stmt,
                             &tail);
    if (src != SQLITE_OK) {
        int code = (src & 0xff) == SQLITE_ERROR ? SKIFF_EINVAL : map_code(src);
        sqlite3_finalize(stmt);
        return skiff_err_set(err, code, "store '%s': cannot prepare \"%.200s\": %s", st->path,
                             sql, sqlite3_errmsg(st->db));
    }
    if (!stmt)
        return skiff_err_set(err, SKIFF_EINVAL, "store '%s': \"%.200s\" holds no statement",
                             st->path, sql);
    /* a second statement would be silently ignored: refuse it instead */
    while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == ';'))
        tail++;
    if (tail && *tail) {
        sqlite3_finalize(stmt);
        return skiff_err_set(err, SKIFF_EINVAL, "store '%s': \"%.200s\" holds more than one "
                             "statement (run them one at a time)", st->path, sql);
    }
    if (victim >= 0) {
        char *key = strdup(sql);
        if (key) {
            struct cached_stmt *c = &st->cache[victim];
            sqlite3_finalize(c->stmt);
            free(c->sql);
            c->sql = key;
            c->stmt = stmt;
            c->used = st->tick;
            c->busy = true;
            *slot = victim;
        }
        /* out of memory for the key: run it as a one-off */
    }
    *out = stmt;
    return 0;
}

static void release_stmt(struct sqlite_store *st, sqlite3_stmt *stmt, int slot)
{
    if (!stmt)
        return;
    if (slot < 0) {
        sqlite3_finalize(stmt);
        return;
    }
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    st->cache[slot].busy = false;
}

static int bind_params(struct sqlite_store *st, sqlite3_stmt *stmt, const char *sql,
                       const struct skiff_store_val *params, size_t n, struct skiff_err *err)
{
    int want = sqlite3_bind_parameter_count(stmt), src = SQLITE_OK;

    if ((size_t)want != n)
        return skiff_err_set(err, SKIFF_EINVAL, "store '%s': \"%.200s\" takes %d parameters, "
                             "%zu given", st->path, sql, want, n);
    for (size_t i = 0; i < n && src == SQLITE_OK; i++) {
        const struct skiff_store_val *v = &params[i];
        int at = (int)i + 1;
        switch (v->type) {
        case SKIFF_VAL_NULL: src = sqlite3_bind_null(stmt, at); break;
        case SKIFF_VAL_INT: src = sqlite3_bind_int64(stmt, at, v->i); break;
        case SKIFF_VAL_REAL: src = sqlite3_bind_double(stmt, at, v->d); break;
        case SKIFF_VAL_TEXT:
            src = sqlite3_bind_text64(stmt, at, v->s ? v->s : "", v->s ? v->len : 0,
                                      SQLITE_STATIC, SQLITE_UTF8);
            break;
        default:
            return skiff_err_set(err, SKIFF_EINVAL, "parameter %zu has an unknown type %d",
                                 i + 1, (int)v->type);
        }
    }
    if (src != SQLITE_OK)
        return db_fail(st->path, st->db, src, err, "cannot bind parameters");
    return 0;
}

/* Columns of the current row into cols[ncols]. */
static void read_cols(sqlite3_stmt *stmt, struct skiff_store_val *cols, int ncols)
{
    for (int c = 0; c < ncols; c++) {
        struct skiff_store_val *v = &cols[c];
        memset(v, 0, sizeof *v);
        switch (sqlite3_column_type(stmt, c)) {
        case SQLITE_INTEGER:
            v->type = SKIFF_VAL_INT;
            v->i = sqlite3_column_int64(stmt, c);
            v->d = (double)v->i;
            break;
        case SQLITE_FLOAT:
            v->type = SKIFF_VAL_REAL;
            v->d = sqlite3_column_double(stmt, c);
            break;
        case SQLITE_NULL:
            v->type = SKIFF_VAL_NULL;
            break;
        default:
            v->type = SKIFF_VAL_TEXT;
            v->s = (const char *)sqlite3_column_text(stmt, c);
            v->len = (size_t)sqlite3_column_bytes(stmt, c);
            if (!v->s) {   /* out of memory converting: report as NULL-free "" */
                v->s = "";
                v->len = 0;
            }
            break;
        }
    }
}

/* Steps `sql` to the end, calling cb per row. SQLITE_BUSY before the first
 * row is retried with backoff until BUSY_TIMEOUT_MS (see the invariants).
 * Called with `lock` held. */
static int run_stmt(struct sqlite_store *st, const char *sql, const struct skiff_store_val *params,
                    size_t n, skiff_store_row_cb cb, void *ctx, int64_t *changes,
                    struct skiff_err *err)
{
    int64_t deadline = skiff_time_mono_us() + BUSY_TIMEOUT_MS * INT64_C(1000);
    struct timespec pause = {0, 1000 * 1000};
    struct skiff_store_val small[16], *cols = small;
    sqlite3_stmt *stmt = NULL;
    int slot = -1, rc, src, ncols;
    bool rows = false;

    if ((rc = get_stmt(st, sql, &stmt, &slot, err)))
        return rc;
    if ((rc = bind_params(st, stmt, sql, params, n, err)))
        goto out;
    ncols = sqlite3_column_count(stmt);
    if (ncols > (int)(sizeof small / sizeof *small) &&
        !(cols = malloc((size_t)ncols * sizeof *cols))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        src = sqlite3_step(stmt);
        if (src == SQLITE_ROW) {
            rows = true;
            if (!cb)
                continue;
            read_cols(stmt, cols, ncols);
            if ((rc = cb(ctx, cols, (size_t)ncols, err))) {
                if (!err || err->code == SKIFF_OK)
                    skiff_err_set(err, rc, "query stopped by its row callback");
                goto out;
            }
            continue;
        }
        if (src == SQLITE_DONE)
            break;
        if ((src & 0xff) == SQLITE_BUSY && !rows && skiff_time_mono_us() < deadline) {
            sqlite3_reset(stmt);
            nanosleep(&pause, NULL);
            if (pause.tv_nsec < 50 * 1000 * 1000)
                pause.tv_nsec *= 2;
            continue;
        }
        rc = db_fail(st->path, st->db, src, err, "\"%.200s\"", sql);
        goto out;
    }
    if (changes)
        *changes = sqlite3_changes64(st->db);
    rc = 0;
out:
    if (cols != small)
        free(cols);
    release_stmt(st, stmt, slot);
    return rc;
}

static int sqlite_exec(void *impl, const char *sql, const struct skiff_store_val *params, size_t n,
                       int64_t *changes, struct skiff_err *err)
{
    struct sqlite_store *st = impl;
    int rc;

    pthread_mutex_lock(&st->lock);
    rc = run_stmt(st, sql, params, n, NULL, NULL, changes, err);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

static int sqlite_query(void *impl, const char *sql, const struct skiff_store_val *params,
                        size_t n, skiff_store_row_cb cb, void *ctx, struct skiff_err *err)
{
    struct sqlite_store *st = impl;
    int rc;

    pthread_mutex_lock(&st->lock);
    rc = run_stmt(st, sql, params, n, cb, ctx, NULL, err);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

/* idle --begin_immediate--> in transaction (tx_depth 1) --fn--> commit | rollback --> idle.
 * A call from inside fn (tx_depth > 0 with the lock taken: the same thread)
 * only runs its fn in the open transaction. */
static int sqlite_tx(void *impl, int (*fn)(void *fctx, struct skiff_err *err), void *fctx,
                     struct skiff_err *err)
{
    struct sqlite_store *st = impl;
    int rc;

    pthread_mutex_lock(&st->lock);
    if (st->tx_depth > 0) {
        st->tx_depth++;
        rc = fn(fctx, err);
        st->tx_depth--;
        pthread_mutex_unlock(&st->lock);
        return rc;
    }
    if ((rc = begin_immediate(st->db, st->st[ST_BEGIN], st->path, err)))
        goto out;
    st->tx_depth = 1;
    rc = fn(fctx, err);
    st->tx_depth = 0;
    if (rc == 0 && (rc = step_done(st, ST_COMMIT, err, "cannot commit")) == 0)
        goto out;
    if (err && err->code == SKIFF_OK)
        skiff_err_set(err, rc, "transaction failed");
    rollback(st);
out:
    pthread_mutex_unlock(&st->lock);
    return rc;
}

static int read_version(void *ctx, const struct skiff_store_val *cols, size_t ncols,
                        struct skiff_err *err)
{
    *(int64_t *)ctx = ncols > 0 ? cols[0].i : 0;
    return 0;
}

/* Per-module migrations (store.h), all in one BEGIN IMMEDIATE transaction:
 * of two processes starting at once, the second waits for the first's
 * COMMIT and then finds the version already recorded. */
static int sqlite_migrate(void *impl, const char *module, const char *const *steps, size_t n,
                          struct skiff_err *err)
{
    struct sqlite_store *st = impl;
    struct skiff_store_val key = {.type = SKIFF_VAL_TEXT, .s = module, .len = strlen(module)};
    int64_t version = 0;
    int rc, src;

    pthread_mutex_lock(&st->lock);
    if (st->tx_depth > 0) {
        pthread_mutex_unlock(&st->lock);
        return skiff_err_set(err, SKIFF_EINVAL, "migrations of '%s' inside a transaction",
                             module);
    }
    if ((rc = begin_immediate(st->db, st->st[ST_BEGIN], st->path, err)))
        goto out;
    src = sqlite3_exec(st->db,
                       "CREATE TABLE IF NOT EXISTS skiff_module_schema ("
                       "  module TEXT PRIMARY KEY,"
                       "  version INTEGER NOT NULL)",
                       NULL, NULL, NULL);
    if (src != SQLITE_OK) {
        rc = db_fail(st->path, st->db, src, err, "cannot create table skiff_module_schema");
        goto out;
    }
    if ((rc = run_stmt(st, "SELECT version FROM skiff_module_schema WHERE module = ?", &key, 1,
                       read_version, &version, NULL, err)))
        goto out;
    if (version < 0 || (uint64_t)version > n) {
        rc = skiff_err_set(err, SKIFF_EIO,
                           "store '%s': module '%s' has schema version %lld, newer than this "
                           "skiff knows (%zu): upgrade skiff", st->path, module,
                           (long long)version, n);
        goto out;
    }
    for (size_t i = (size_t)version; i < n; i++) {
        if ((src = sqlite3_exec(st->db, steps[i], NULL, NULL, NULL)) != SQLITE_OK) {
            rc = skiff_err_set(err, (src & 0xff) == SQLITE_ERROR ? SKIFF_EINVAL : map_code(src),
                               "store '%s': migration %zu of module '%s' failed: %s", st->path,
                               i + 1, module, sqlite3_errmsg(st->db));
            goto out;
        }
    }
    if ((size_t)version < n) {
        struct skiff_store_val p[2] = {key, {.type = SKIFF_VAL_INT, .i = (int64_t)n}};
        if ((rc = run_stmt(st, "INSERT INTO skiff_module_schema (module, version) VALUES (?, ?)"
                           " ON CONFLICT (module) DO UPDATE SET version = excluded.version",
                           p, 2, NULL, NULL, NULL, err)))
            goto out;
    }
    rc = step_done(st, ST_COMMIT, err, "cannot commit the migrations");
out:
    if (rc)
        rollback(st);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

const struct store__backend store__sqlite = {
    .name = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .schema_version = sqlite_schema_version,
    .get = sqlite_get,
    .update = sqlite_update,
    .del = sqlite_delete,
    .list = sqlite_list,
    .migrate = sqlite_migrate,
    .exec = sqlite_exec,
    .query = sqlite_query,
    .tx = sqlite_tx,
};
