/* Unit tests for the store's module tables (skiff_store_migrate, _exec,
 * _query, _tx; SQLite backend): per-module idempotent migrations, value
 * round trips of every type, transactions that commit and roll back, nested
 * calls inside a transaction, two writer threads, a database locked by
 * another writer (waited out, then SKIFF_EUNAVAIL), and bad SQL reported as
 * an error, never a crash. Each test gets its own folder under /tmp. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "skiff/err.h"
#include "skiff/store.h"

struct fixture {
    char dir[64];
    char db[PATH_MAX];
    struct skiff_store *s;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct skiff_err err = SKIFF_ERR_INIT;
    if (!f || !test_tmpdir(f->dir, sizeof f->dir, "storesql"))
        return -1;
    snprintf(f->db, sizeof f->db, "%s/skiff.db", f->dir);
    if (skiff_store_open(f->db, &f->s, &err) != 0) {
        fprintf(stderr, "skiff_store_open: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    skiff_store_close(f->s);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static struct skiff_store_val v_int(int64_t i)
{
    return (struct skiff_store_val){.type = SKIFF_VAL_INT, .i = i};
}

static struct skiff_store_val v_text(const char *s)
{
    return (struct skiff_store_val){.type = SKIFF_VAL_TEXT, .s = s, .len = strlen(s)};
}

/* Counts rows; remembers the first column of the last row as an integer. */
struct count {
    int rows;
    int64_t last;
};

static int count_rows(void *ctx, const struct skiff_store_val *cols, size_t ncols,
                      struct skiff_err *err)
{
    struct count *c = ctx;
    c->rows++;
    c->last = ncols ? cols[0].i : 0;
    return 0;
}

static int64_t scalar(struct skiff_store *s, const char *sql)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    struct count c = {0, -1};
    assert_int_equal(skiff_store_query(s, sql, NULL, 0, count_rows, &c, &err), 0);
    assert_int_equal(c.rows, 1);
    return c.last;
}

/* ---- migrations ---- */

static const char *const steps_a[] = {
    "CREATE TABLE a_items (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    "ALTER TABLE a_items ADD COLUMN size INTEGER; INSERT INTO a_items (name, size) VALUES ('x', 1)",
};
static const char *const steps_b[] = {
    "CREATE TABLE b_items (k TEXT PRIMARY KEY)",
};

static void test_migrate_idempotent_per_module(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;

    assert_int_equal(skiff_store_migrate(f->s, "a", steps_a, 1, &err), 0);
    assert_int_equal(skiff_store_migrate(f->s, "a", steps_a, 1, &err), 0);
    assert_int_equal(skiff_store_migrate(f->s, "a", steps_a, 2, &err), 0);
    assert_int_equal(skiff_store_migrate(f->s, "a", steps_a, 2, &err), 0);
    assert_int_equal(skiff_store_migrate(f->s, "b", steps_b, 1, &err), 0);
    /* step 2 ran once: one row */
    assert_int_equal(scalar(f->s, "SELECT count(*) FROM a_items"), 1);
    assert_int_equal(scalar(f->s, "SELECT version FROM skiff_module_schema WHERE module = 'a'"), 2);
    assert_int_equal(scalar(f->s, "SELECT version FROM skiff_module_schema WHERE module = 'b'"), 1);

    /* across a restart */
    skiff_store_close(f->s);
    assert_int_equal(skiff_store_open(f->db, &f->s, &err), 0);
    assert_int_equal(skiff_store_migrate(f->s, "a", steps_a, 2, &err), 0);
    assert_int_equal(scalar(f->s, "SELECT count(*) FROM a_items"), 1);

    /* an older skiff (fewer steps) on a newer database refuses */
    assert_int_equal(skiff_store_migrate(f->s, "a", steps_a, 1, &err), SKIFF_EIO);
    assert_non_null(strstr(err.msg, "newer"));
}

static void test_migrate_bad_step_applies_nothing(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    static const char *const bad[] = {
        "CREATE TABLE c_ok (k TEXT)",
        "CREATE TABLE c_bad (k TEXT",
    };
    struct count c = {0, 0};

    assert_int_equal(skiff_store_migrate(f->s, "c", bad, 2, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "migration 2"));
    assert_int_equal(skiff_store_query(f->s, "SELECT name FROM sqlite_master WHERE name = 'c_ok'",
                                       NULL, 0, count_rows, &c, &err), 0);
    assert_int_equal(c.rows, 0);
    assert_int_equal(skiff_store_migrate(f->s, "", bad, 1, &err), SKIFF_EINVAL);
}

/* ---- exec / query ---- */

struct row {
    int rows;
    int types[4];
    int64_t i;
    double d;
    char *s;
    size_t len;
};

static int keep_row(void *ctx, const struct skiff_store_val *cols, size_t ncols,
                    struct skiff_err *err)
{
    struct row *r = ctx;
    assert_int_equal(ncols, 4);
    r->rows++;
    for (size_t i = 0; i < 4; i++)
        r->types[i] = cols[i].type;
    r->i = cols[0].i;
    r->d = cols[1].d;
    free(r->s);
    r->s = malloc(cols[2].len + 1);
    memcpy(r->s, cols[2].s, cols[2].len + 1);
    r->len = cols[2].len;
    return 0;
}

static void test_exec_query_round_trip(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    static const char *const steps[] = {"CREATE TABLE t (i INTEGER, d REAL, s TEXT, n TEXT)"};
    size_t big = 100000;
    char *long_text = malloc(big + 1);
    struct row r = {0};
    int64_t changes = -1;

    for (size_t i = 0; i < big; i++)
        long_text[i] = (char)('a' + i % 26);
    long_text[big] = '\0';
    assert_int_equal(skiff_store_migrate(f->s, "t", steps, 1, &err), 0);
    {
        struct skiff_store_val p[4] = {v_int(INT64_MIN + 1), {.type = SKIFF_VAL_REAL, .d = 0.1},
                                       v_text(long_text), {.type = SKIFF_VAL_NULL}};
        assert_int_equal(skiff_store_exec(f->s, "INSERT INTO t VALUES (?, ?, ?, ?)", p, 4,
                                          &changes, &err), 0);
        assert_int_equal(changes, 1);
    }
    assert_int_equal(skiff_store_query(f->s, "SELECT i, d, s, n FROM t", NULL, 0, keep_row, &r,
                                       &err), 0);
    assert_int_equal(r.rows, 1);
    assert_int_equal(r.types[0], SKIFF_VAL_INT);
    assert_int_equal(r.types[1], SKIFF_VAL_REAL);
    assert_int_equal(r.types[2], SKIFF_VAL_TEXT);
    assert_int_equal(r.types[3], SKIFF_VAL_NULL);
    assert_true(r.i == INT64_MIN + 1);
    assert_true(r.d == 0.1);
    assert_int_equal(r.len, big);
    assert_string_equal(r.s, long_text);

    /* a text parameter with an explicit length: only those bytes count */
    {
        struct skiff_store_val p[2] = {{.type = SKIFF_VAL_TEXT, .s = "abcdef", .len = 3},
                                       v_int(7)};
        assert_int_equal(skiff_store_exec(f->s, "UPDATE t SET s = ?, i = ?", p, 2, &changes,
                                          &err), 0);
        assert_int_equal(skiff_store_query(f->s, "SELECT i, d, s, n FROM t", NULL, 0, keep_row,
                                           &r, &err), 0);
        assert_string_equal(r.s, "abc");
        assert_int_equal(r.i, 7);
    }
    /* an embedded NUL survives: lengths, not terminators, delimit text */
    {
        struct skiff_store_val p[2] = {{.type = SKIFF_VAL_TEXT, .s = "a\0b", .len = 3}, v_int(8)};
        assert_int_equal(skiff_store_exec(f->s, "UPDATE t SET s = ?, i = ?", p, 2, NULL, &err), 0);
        assert_int_equal(skiff_store_query(f->s, "SELECT i, d, s, n FROM t", NULL, 0, keep_row,
                                           &r, &err), 0);
        assert_int_equal(r.len, 3);
        assert_memory_equal(r.s, "a\0b", 3);
    }
    /* the cached statement is reused with other values */
    for (int i = 0; i < 100; i++) {
        struct skiff_store_val p[4] = {v_int(i), {.type = SKIFF_VAL_REAL, .d = i / 2.0},
                                       v_text("x"), {.type = SKIFF_VAL_NULL}};
        assert_int_equal(skiff_store_exec(f->s, "INSERT INTO t VALUES (?, ?, ?, ?)", p, 4, NULL,
                                          &err), 0);
    }
    assert_int_equal(scalar(f->s, "SELECT count(*) FROM t"), 101);
    assert_int_equal(scalar(f->s, "SELECT sum(i) FROM t WHERE s = 'x'"), 4950);
    free(r.s);
    free(long_text);
}

static void test_bad_sql_is_an_error(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_store_val one = v_int(1);

    assert_int_equal(skiff_store_exec(f->s, "SELEKT 1", NULL, 0, NULL, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "syntax error"));
    assert_int_equal(skiff_store_query(f->s, "SELECT * FROM no_such_table", NULL, 0, NULL, NULL,
                                       &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "no_such_table"));
    /* wrong parameter count */
    assert_int_equal(skiff_store_exec(f->s, "SELECT ?, ?", &one, 1, NULL, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_store_exec(f->s, "", NULL, 0, NULL, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_store_exec(f->s, "  ", NULL, 0, NULL, &err), SKIFF_EINVAL);
    /* a second statement is refused, not silently dropped */
    assert_int_equal(skiff_store_exec(f->s, "SELECT 1; SELECT 2", NULL, 0, NULL, &err),
                     SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "more than one"));
    assert_int_equal(skiff_store_exec(f->s, "SELECT 1;  ", NULL, 0, NULL, &err), 0);
    /* a constraint */
    assert_int_equal(skiff_store_exec(f->s, "CREATE TABLE u (k TEXT PRIMARY KEY)", NULL, 0, NULL,
                                      &err), 0);
    assert_int_equal(skiff_store_exec(f->s, "INSERT INTO u VALUES ('a')", NULL, 0, NULL, &err), 0);
    assert_int_equal(skiff_store_exec(f->s, "INSERT INTO u VALUES ('a')", NULL, 0, NULL, &err),
                     SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "UNIQUE"));
}

static int stop_at_first(void *ctx, const struct skiff_store_val *cols, size_t ncols,
                         struct skiff_err *err)
{
    return skiff_err_set(err, SKIFF_ENOTFOUND, "stop here");
}

static void test_row_callback_stops(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;

    assert_int_equal(skiff_store_query(f->s, "SELECT 1 UNION ALL SELECT 2", NULL, 0,
                                       stop_at_first, NULL, &err), SKIFF_ENOTFOUND);
    assert_string_equal(err.msg, "stop here");
    /* the statement was reset: it runs again, to the end */
    {
        struct count c = {0, 0};
        assert_int_equal(skiff_store_query(f->s, "SELECT 1 UNION ALL SELECT 2", NULL, 0,
                                           count_rows, &c, &err), 0);
        assert_int_equal(c.rows, 2);
        assert_int_equal(c.last, 2);
    }
}

/* ---- transactions ---- */

struct txctx {
    int fail;
    int n;
};

static int insert_rows(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct txctx *t = ctx;
    int rc;
    for (int i = 0; i < t->n; i++) {
        struct skiff_store_val p = v_int(i);
        if ((rc = skiff_store_exec(s, "INSERT INTO tx_items (v) VALUES (?)", &p, 1, NULL, err)))
            return rc;
    }
    if (t->fail)
        return skiff_err_set(err, SKIFF_ECONFLICT, "abort on purpose");
    return 0;
}

static int nested(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct txctx inner = {0, 2};
    int rc;
    /* a query from inside, then an inner tx that joins this one */
    if (scalar(s, "SELECT count(*) FROM tx_items") != 0)
        return skiff_err_set(err, SKIFF_EINTERNAL, "unexpected rows");
    if ((rc = skiff_store_tx(s, insert_rows, &inner, err)))
        return rc;
    if (scalar(s, "SELECT count(*) FROM tx_items") != 2)
        return skiff_err_set(err, SKIFF_EINTERNAL, "inner rows not visible");
    return skiff_err_set(err, SKIFF_ECONFLICT, "roll all of it back");
}

static int noop_mutate(const struct skiff_store_obj *cur, struct skiff_store_obj *next, void *ctx,
                       struct skiff_err *err)
{
    next->doc = strdup("{}");
    return 0;
}

/* skiff_store_update opens its own transaction: inside skiff_store_tx it is
 * refused (its rollback would end the outer transaction) */
static int object_write_inside(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    int rc = skiff_store_update(s, "Thing", "a", noop_mutate, NULL, NULL, err);
    *(int *)ctx = rc;
    return 0;
}

static void test_object_writes_refused_inside_tx(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_store_obj o;
    int inner = -1;

    assert_int_equal(skiff_store_tx(f->s, object_write_inside, &inner, &err), 0);
    assert_int_equal(inner, SKIFF_EINVAL);
    assert_int_equal(skiff_store_get(f->s, "Thing", "a", &o, &err), SKIFF_ENOTFOUND);
    /* and outside it works as before */
    assert_int_equal(skiff_store_update(f->s, "Thing", "a", noop_mutate, NULL, NULL, &err), 0);
}

static void test_tx_commit_rollback_nested(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct txctx ok = {0, 3}, bad = {1, 5};

    assert_int_equal(skiff_store_exec(f->s, "CREATE TABLE tx_items (v INTEGER)", NULL, 0, NULL,
                                      &err), 0);
    assert_int_equal(skiff_store_tx(f->s, nested, NULL, &err), SKIFF_ECONFLICT);
    assert_int_equal(scalar(f->s, "SELECT count(*) FROM tx_items"), 0);
    assert_int_equal(skiff_store_tx(f->s, insert_rows, &ok, &err), 0);
    assert_int_equal(scalar(f->s, "SELECT count(*) FROM tx_items"), 3);
    assert_int_equal(skiff_store_tx(f->s, insert_rows, &bad, &err), SKIFF_ECONFLICT);
    assert_string_equal(err.msg, "abort on purpose");
    assert_int_equal(scalar(f->s, "SELECT count(*) FROM tx_items"), 3);
    assert_int_equal(skiff_store_tx(f->s, NULL, NULL, &err), SKIFF_EINVAL);
}

/* Writes rows from a row callback inside a transaction: the nested exec
 * must not disturb the statement being stepped. */
static int copy_row(void *ctx, const struct skiff_store_val *cols, size_t ncols,
                    struct skiff_err *err)
{
    struct skiff_store_val p = v_int(cols[0].i + 100);
    return skiff_store_exec(ctx, "INSERT INTO cp (v) VALUES (?)", &p, 1, NULL, err);
}

static int copy_all(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    return skiff_store_query(s, "SELECT v FROM cp WHERE v < 100", NULL, 0, copy_row, s, err);
}

static void test_exec_inside_query_inside_tx(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;

    assert_int_equal(skiff_store_exec(f->s, "CREATE TABLE cp (v INTEGER)", NULL, 0, NULL, &err), 0);
    assert_int_equal(skiff_store_exec(f->s, "INSERT INTO cp VALUES (1), (2), (3)", NULL, 0, NULL,
                                      &err), 0);
    assert_int_equal(skiff_store_tx(f->s, copy_all, NULL, &err), 0);
    assert_int_equal(scalar(f->s, "SELECT count(*) FROM cp"), 6);
    assert_int_equal(scalar(f->s, "SELECT max(v) FROM cp"), 103);
}

/* ---- two threads, and two handles (as two processes) ---- */

struct worker {
    struct skiff_store *s;
    int id;
    int rc;
};

static int one_insert(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct worker *w = ctx;
    struct skiff_store_val p[2] = {v_int(w->id), v_int(0)};
    int rc;
    if ((rc = skiff_store_exec(s, "INSERT INTO par (who, n) VALUES (?, ?)", p, 2, NULL, err)))
        return rc;
    /* read-modify-write inside the transaction: no lost updates */
    return skiff_store_exec(s, "UPDATE counter SET n = n + 1", NULL, 0, NULL, err);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct skiff_err err = SKIFF_ERR_INIT;
    for (int i = 0; i < 500 && w->rc == 0; i++)
        w->rc = skiff_store_tx(w->s, one_insert, w, &err);
    if (w->rc)
        fprintf(stderr, "worker %d: %s\n", w->id, err.msg);
    return NULL;
}

static void test_two_threads_two_handles(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_store *other;
    struct worker w[3];
    pthread_t t[3];
    static const char *const steps[] = {
        "CREATE TABLE par (who INTEGER, n INTEGER);"
        "CREATE TABLE counter (n INTEGER); INSERT INTO counter VALUES (0)",
    };

    assert_int_equal(skiff_store_migrate(f->s, "par", steps, 1, &err), 0);
    assert_int_equal(skiff_store_open(f->db, &other, &err), 0);
    assert_int_equal(skiff_store_migrate(other, "par", steps, 1, &err), 0);
    /* two threads on one handle, one on a second handle (another process) */
    w[0] = (struct worker){f->s, 1, 0};
    w[1] = (struct worker){f->s, 2, 0};
    w[2] = (struct worker){other, 3, 0};
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].rc, 0);
    }
    assert_int_equal(scalar(f->s, "SELECT count(*) FROM par"), 1500);
    assert_int_equal(scalar(f->s, "SELECT n FROM counter"), 1500);
    assert_int_equal(scalar(f->s, "SELECT count(*) FROM par WHERE who = 3"), 500);
    skiff_store_close(other);
}

/* ---- a database locked by another writer ---- */

struct locker {
    sqlite3 *db;
    int hold_ms;
};

static void *release_later(void *arg)
{
    struct locker *l = arg;
    struct timespec ts = {l->hold_ms / 1000, (long)(l->hold_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    sqlite3_exec(l->db, "COMMIT", NULL, NULL, NULL);
    return NULL;
}

static void test_busy_is_waited_out_then_unavailable(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct locker l = {NULL, 300};
    struct skiff_store_val one = v_int(1);
    pthread_t t;

    assert_int_equal(skiff_store_exec(f->s, "CREATE TABLE busy (v INTEGER)", NULL, 0, NULL, &err),
                     0);
    /* another connection (as another process) holds the write lock */
    assert_int_equal(sqlite3_open(f->db, &l.db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(l.db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    /* a short hold is waited out: the write succeeds */
    assert_int_equal(pthread_create(&t, NULL, release_later, &l), 0);
    assert_int_equal(skiff_store_exec(f->s, "INSERT INTO busy VALUES (?)", &one, 1, NULL, &err), 0);
    pthread_join(t, NULL);

    /* a lock held past the bound is SKIFF_EUNAVAIL, never SQLITE_BUSY */
    assert_int_equal(sqlite3_exec(l.db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(skiff_store_exec(f->s, "INSERT INTO busy VALUES (?)", &one, 1, NULL, &err),
                     SKIFF_EUNAVAIL);
    assert_non_null(strstr(err.msg, "locked"));
    sqlite3_exec(l.db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(l.db);
    assert_int_equal(scalar(f->s, "SELECT count(*) FROM busy"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_idempotent_per_module, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_bad_step_applies_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_query_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_sql_is_an_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_callback_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tx_commit_rollback_nested, setup, teardown),
        cmocka_unit_test_setup_teardown(test_object_writes_refused_inside_tx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_inside_query_inside_tx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_threads_two_handles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_is_waited_out_then_unavailable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
