/* Unit tests for the metadata store (src/store, SQLite backend): round
 * trips, the mutate contract, resource versions, uids, listing, conditional
 * delete, persistence, migrations, concurrent writers, bad files and URLs.
 * Each test gets its own folder under /tmp (removed afterwards). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skiff/err.h"
#include "skiff/store.h"
#include "skiff/time.h"

struct fixture {
    char dir[64];
    char db[PATH_MAX];
    struct skiff_store *s;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct skiff_err err = SKIFF_ERR_INIT;
    if (!f)
        return -1;
    if (!test_tmpdir(f->dir, sizeof f->dir, "store"))
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

/* ---- mutate callbacks ---- */

/* Stores ctx (a JSON string) and bumps the generation. */
static int set_doc(const struct skiff_store_obj *cur, struct skiff_store_obj *next, void *ctx,
                   struct skiff_err *err)
{
    next->doc = strdup(ctx);
    next->generation = cur ? cur->generation + 1 : 1;
    return next->doc ? 0 : skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
}

/* {"n":N} -> {"n":N+1} */
static int increment(const struct skiff_store_obj *cur, struct skiff_store_obj *next, void *ctx,
                     struct skiff_err *err)
{
    long n = 0;
    char buf[64];
    if (cur && sscanf(cur->doc, "{\"n\":%ld}", &n) != 1)
        return skiff_err_set(err, SKIFF_EINTERNAL, "bad counter '%s'", cur->doc);
    snprintf(buf, sizeof buf, "{\"n\":%ld}", n + 1);
    next->doc = strdup(buf);
    return 0;
}

/* Optimistic concurrency as the API does it: fail unless cur's
 * resource_version is the one the client read. Sets a doc first, to check
 * that the store frees it when the callback fails. */
static int expect_rv(const struct skiff_store_obj *cur, struct skiff_store_obj *next, void *ctx,
                     struct skiff_err *err)
{
    int64_t want = *(const int64_t *)ctx;
    next->doc = strdup("{\"should\":\"not be stored\"}");
    if (!cur || cur->resource_version != want)
        return skiff_err_set(err, SKIFF_ECONFLICT, "stale resourceVersion %lld",
                             (long long)want);
    return 0;
}

struct seen {
    int calls;
    bool had_cur;
    struct skiff_store_obj cur_copy, next_copy;
};

static int record(const struct skiff_store_obj *cur, struct skiff_store_obj *next, void *ctx,
                  struct skiff_err *err)
{
    struct seen *s = ctx;
    s->calls++;
    s->had_cur = cur != NULL;
    if (cur) {
        s->cur_copy = *cur;
        s->cur_copy.doc = NULL;
        assert_string_equal(cur->doc, "{\"v\":1}");
    }
    s->next_copy = *next;
    assert_null(next->doc);
    /* fields the store owns: changing them here must have no effect */
    strcpy(next->kind, "Other");
    strcpy(next->uid, "not-a-uid");
    next->resource_version = 1000000;
    next->created_us = 1;
    next->doc = strdup("{\"v\":2}");
    next->generation = 7;
    return 0;
}

static int no_doc(const struct skiff_store_obj *cur, struct skiff_store_obj *next, void *ctx,
                  struct skiff_err *err)
{
    return 0;
}

static void put(struct skiff_store *s, const char *kind, const char *name, const char *doc,
                struct skiff_store_obj *out)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    int rc = skiff_store_update(s, kind, name, set_doc, (void *)doc, out, &err);
    if (rc)
        fail_msg("update %s/%s: %s", kind, name, err.msg);
}

/* ---- tests ---- */

static void test_round_trip(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_store_obj o, g;
    int64_t before = skiff_time_now_us();

    put(f->s, "Workflow", "train", "{\"spec\":{\"x\":1}}", &o);
    assert_string_equal(o.kind, "Workflow");
    assert_string_equal(o.name, "train");
    assert_string_equal(o.doc, "{\"spec\":{\"x\":1}}");
    assert_int_equal(o.resource_version, 1);
    assert_int_equal(o.generation, 1);
    assert_true(o.created_us >= before && o.created_us <= skiff_time_now_us());
    /* RFC 4122 v4: 8-4-4-4-12 lowercase hex, version 4, variant 10xx */
    assert_int_equal(strlen(o.uid), 36);
    assert_int_equal(o.uid[8], '-');
    assert_int_equal(o.uid[13], '-');
    assert_int_equal(o.uid[14], '4');
    assert_non_null(strchr("89ab", o.uid[19]));
    assert_int_equal(strspn(o.uid, "0123456789abcdef-"), 36);

    assert_int_equal(skiff_store_get(f->s, "Workflow", "train", &g, &err), 0);
    assert_string_equal(g.uid, o.uid);
    assert_string_equal(g.doc, o.doc);
    assert_int_equal(g.resource_version, o.resource_version);
    assert_int_equal(g.generation, o.generation);
    assert_int_equal(g.created_us, o.created_us);
    skiff_store_obj_release(&g);
    skiff_store_obj_release(&o);
    skiff_store_obj_release(&o);  /* twice is fine */
    skiff_store_obj_release(NULL);

    assert_int_equal(skiff_store_get(f->s, "Workflow", "nope", &g, &err), SKIFF_ENOTFOUND);
    assert_string_equal(err.msg, "Workflow 'nope' not found");
    assert_null(g.doc);
    assert_int_equal(skiff_store_get(f->s, "InferenceService", "train", &g, &err),
                     SKIFF_ENOTFOUND);
    /* out may be NULL */
    put(f->s, "Workflow", "other", "{}", NULL);
}

static void test_mutate_sees_cur(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_store_obj first, out;
    struct seen s = {0};

    assert_int_equal(skiff_store_update(f->s, "Role", "r", record, &s, NULL, &err), SKIFF_OK);
    assert_false(s.had_cur);
    assert_int_equal(s.next_copy.generation, 0);
    assert_string_equal(s.next_copy.kind, "Role");
    assert_string_equal(s.next_copy.name, "r");
    assert_int_equal(strlen(s.next_copy.uid), 36);
    assert_true(s.next_copy.resource_version > 0);
    /* the callback's changes to store-owned fields were ignored */
    assert_int_equal(skiff_store_get(f->s, "Role", "r", &first, &err), 0);
    assert_string_equal(first.uid, s.next_copy.uid);
    assert_int_equal(first.resource_version, s.next_copy.resource_version);
    assert_int_equal(first.created_us, s.next_copy.created_us);
    assert_int_equal(first.generation, 7);
    assert_string_equal(first.doc, "{\"v\":2}");
    assert_int_equal(skiff_store_get(f->s, "Other", "r", &out, &err), SKIFF_ENOTFOUND);
    skiff_store_obj_release(&first);

    put(f->s, "Role", "r", "{\"v\":1}", &first);
    memset(&s, 0, sizeof s);
    assert_int_equal(skiff_store_update(f->s, "Role", "r", record, &s, &out, &err), 0);
    assert_int_equal(s.calls, 1);
    assert_true(s.had_cur);
    assert_string_equal(s.cur_copy.uid, first.uid);
    assert_int_equal(s.cur_copy.resource_version, first.resource_version);
    assert_int_equal(s.cur_copy.generation, first.generation);
    assert_string_equal(s.next_copy.uid, first.uid);
    assert_int_equal(s.next_copy.created_us, first.created_us);
    assert_int_equal(s.next_copy.generation, first.generation);
    assert_int_equal(s.next_copy.resource_version, first.resource_version + 1);
    assert_int_equal(out.resource_version, first.resource_version + 1);
    assert_string_equal(out.kind, "Role");
    assert_string_equal(out.uid, first.uid);
    assert_int_equal(out.generation, 7);
    skiff_store_obj_release(&first);
    skiff_store_obj_release(&out);
}

static void test_conflict_leaves_row(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_store_obj o, g;
    int64_t stale, rv;

    put(f->s, "Application", "app", "{\"rev\":\"a\"}", &o);
    stale = o.resource_version;
    skiff_store_obj_release(&o);
    put(f->s, "Application", "app", "{\"rev\":\"b\"}", &o);
    rv = o.resource_version;
    skiff_store_obj_release(&o);

    assert_int_equal(skiff_store_update(f->s, "Application", "app", expect_rv, &stale, &o, &err),
                     SKIFF_ECONFLICT);
    assert_string_equal(err.msg, "stale resourceVersion 1");
    assert_null(o.doc);
    assert_int_equal(skiff_store_get(f->s, "Application", "app", &g, &err), 0);
    assert_string_equal(g.doc, "{\"rev\":\"b\"}");
    assert_int_equal(g.resource_version, rv);
    assert_int_equal(g.generation, 2);
    skiff_store_obj_release(&g);
    /* creation refused by the callback: nothing is created */
    assert_int_equal(skiff_store_update(f->s, "Application", "new", expect_rv, &stale, NULL,
                                        &err), SKIFF_ECONFLICT);
    assert_int_equal(skiff_store_get(f->s, "Application", "new", &g, &err), SKIFF_ENOTFOUND);

    /* the store is usable afterwards and the versions still grow */
    assert_int_equal(skiff_store_update(f->s, "Application", "app", expect_rv, &rv, &o, &err), 0);
    assert_true(o.resource_version > rv);
    skiff_store_obj_release(&o);
    put(f->s, "Application", "app", "{\"rev\":\"c\"}", &o);
    assert_int_equal(o.generation, 3);
    skiff_store_obj_release(&o);
}

static void test_rv_increases_across_kinds(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    static const char *kinds[] = {"Workflow", "CronWorkflow", "InferenceService", "ScaledJob"};
    struct skiff_store_obj o;
    int64_t last = 0;

    for (int i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i % 3);
        put(f->s, kinds[i % 4], name, "{}", &o);
        assert_true(o.resource_version > last);
        last = o.resource_version;
        skiff_store_obj_release(&o);
    }
    /* a delete does not rewind the sequence */
    assert_int_equal(skiff_store_delete(f->s, "ScaledJob", "n2", 0, NULL, &err), 0);
    put(f->s, "ScaledJob", "n2", "{}", &o);
    assert_true(o.resource_version > last);
    skiff_store_obj_release(&o);
}

static void test_uid_kept_and_renewed(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_store_obj a, b, c;

    put(f->s, "Entity", "customer", "{\"v\":1}", &a);
    put(f->s, "Entity", "customer", "{\"v\":2}", &b);
    assert_string_equal(a.uid, b.uid);
    assert_int_equal(a.created_us, b.created_us);
    assert_int_equal(skiff_store_delete(f->s, "Entity", "customer", 0, NULL, &err), 0);
    /* a new object under an old name is a new object */
    put(f->s, "Entity", "customer", "{\"v\":3}", &c);
    assert_string_not_equal(a.uid, c.uid);
    assert_int_equal(c.generation, 1);
    skiff_store_obj_release(&a);
    skiff_store_obj_release(&b);
    skiff_store_obj_release(&c);
    /* two objects never share a uid */
    put(f->s, "Entity", "merchant", "{}", &a);
    put(f->s, "Entity", "device", "{}", &b);
    assert_string_not_equal(a.uid, b.uid);
    skiff_store_obj_release(&a);
    skiff_store_obj_release(&b);
}

static void test_list_order(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    static const char *names[] = {"b", "a", "c", "a-1", "B", "aa"};
    static const char *sorted[] = {"B", "a", "a-1", "aa", "b", "c"};
    struct skiff_store_obj *objs = NULL;
    size_t n = 99;

    assert_int_equal(skiff_store_list(f->s, "FeatureView", &objs, &n, &err), 0);
    assert_int_equal(n, 0);
    skiff_store_objs_free(objs, n);

    for (size_t i = 0; i < 6; i++) {
        char doc[32];
        snprintf(doc, sizeof doc, "{\"i\":%zu}", i);
        put(f->s, "FeatureView", names[i], doc, NULL);
    }
    put(f->s, "FeatureService", "a", "{}", NULL);
    /* more than the first allocation of the result array */
    for (int i = 0; i < 40; i++) {
        char name[16];
        snprintf(name, sizeof name, "z%02d", i);
        put(f->s, "FeatureView", name, "{}", NULL);
    }
    assert_int_equal(skiff_store_list(f->s, "FeatureView", &objs, &n, &err), 0);
    assert_int_equal(n, 46);
    for (size_t i = 0; i < 6; i++) {
        assert_string_equal(objs[i].name, sorted[i]);
        assert_string_equal(objs[i].kind, "FeatureView");
        assert_int_equal(strlen(objs[i].uid), 36);
    }
    assert_string_equal(objs[1].doc, "{\"i\":1}");
    assert_string_equal(objs[45].name, "z39");
    skiff_store_objs_free(objs, n);
    skiff_store_objs_free(NULL, 0);
}

static void test_conditional_delete(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_store_obj o, d;

    put(f->s, "DriftMonitor", "m", "{\"a\":1}", &o);
    assert_int_equal(skiff_store_delete(f->s, "DriftMonitor", "m", o.resource_version + 5, &d,
                                        &err), SKIFF_ECONFLICT);
    assert_non_null(strstr(err.msg, "DriftMonitor 'm' has changed"));
    assert_null(d.doc);
    assert_int_equal(skiff_store_get(f->s, "DriftMonitor", "m", &d, &err), 0);
    skiff_store_obj_release(&d);
    assert_int_equal(skiff_store_delete(f->s, "DriftMonitor", "m", o.resource_version, &d, &err),
                     0);
    assert_string_equal(d.doc, "{\"a\":1}");
    assert_string_equal(d.uid, o.uid);
    assert_string_equal(d.name, "m");
    assert_int_equal(d.resource_version, o.resource_version);
    skiff_store_obj_release(&d);
    assert_int_equal(skiff_store_get(f->s, "DriftMonitor", "m", &d, &err), SKIFF_ENOTFOUND);
    assert_int_equal(skiff_store_delete(f->s, "DriftMonitor", "m", 0, &d, &err), SKIFF_ENOTFOUND);
    assert_int_equal(skiff_store_delete(f->s, "DriftMonitor", "m", o.resource_version, NULL,
                                        &err), SKIFF_ENOTFOUND);
    skiff_store_obj_release(&o);
    /* unconditional */
    put(f->s, "DriftMonitor", "m2", "{}", NULL);
    assert_int_equal(skiff_store_delete(f->s, "DriftMonitor", "m2", 0, NULL, &err), 0);
}

static void test_reopen_persists(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_store_obj a, b, g;
    struct skiff_store_obj *objs;
    size_t n;
    char url[PATH_MAX + 16];

    put(f->s, "Workflow", "w1", "{\"x\":\"one\"}", &a);
    put(f->s, "InferenceService", "fraud", "{\"y\":2}", NULL);
    put(f->s, "InferenceService", "fraud", "{\"y\":3}", NULL);
    assert_int_equal(skiff_store_get(f->s, "InferenceService", "fraud", &b, &err), 0);
    skiff_store_close(f->s);
    f->s = NULL;

    /* the same file through the URL form */
    snprintf(url, sizeof url, "sqlite:%s", f->db);
    assert_int_equal(skiff_store_open(url, &f->s, &err), 0);
    assert_int_equal(skiff_store_schema_version(f->s), 1);
    assert_int_equal(skiff_store_get(f->s, "Workflow", "w1", &g, &err), 0);
    assert_string_equal(g.doc, a.doc);
    assert_string_equal(g.uid, a.uid);
    assert_int_equal(g.resource_version, a.resource_version);
    assert_int_equal(g.created_us, a.created_us);
    skiff_store_obj_release(&g);
    assert_int_equal(skiff_store_get(f->s, "InferenceService", "fraud", &g, &err), 0);
    assert_string_equal(g.doc, "{\"y\":3}");
    assert_int_equal(g.generation, 2);
    assert_int_equal(g.resource_version, b.resource_version);
    skiff_store_obj_release(&g);
    assert_int_equal(skiff_store_list(f->s, "InferenceService", &objs, &n, &err), 0);
    assert_int_equal(n, 1);
    skiff_store_objs_free(objs, n);
    /* the sequence survived too */
    put(f->s, "Workflow", "w2", "{}", &g);
    assert_int_equal(g.resource_version, b.resource_version + 1);
    skiff_store_obj_release(&g);
    skiff_store_obj_release(&a);
    skiff_store_obj_release(&b);
}

static void test_schema_and_pragmas(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_store *s2 = NULL;
    sqlite3 *db;
    sqlite3_stmt *st;

    assert_int_equal(skiff_store_schema_version(f->s), 1);
    put(f->s, "Workflow", "w", "{}", NULL);
    /* look at the file with sqlite itself */
    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT version FROM skiff_schema", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT value FROM skiff_seq", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);

    /* a second open does not migrate again */
    assert_int_equal(skiff_store_open(f->db, &s2, &err), 0);
    assert_int_equal(skiff_store_schema_version(s2), 1);
    skiff_store_close(s2);
    s2 = NULL;

    /* a file from a newer skiff is refused, not downgraded */
    assert_int_equal(sqlite3_exec(db, "UPDATE skiff_schema SET version = 99", 0, 0, 0),
                     SQLITE_OK);
    assert_int_equal(skiff_store_open(f->db, &s2, &err), SKIFF_EIO);
    assert_non_null(strstr(err.msg, "schema version 99, newer than this skiff"));
    assert_null(s2);
    sqlite3_close(db);
}

struct worker {
    struct skiff_store *s;
    int n, failures;
    struct skiff_err err;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->n; i++)
        if (skiff_store_update(w->s, "Counter", "c", increment, NULL, NULL, &w->err) != 0)
            w->failures++;
    return NULL;
}

static void run_two(struct skiff_store *a, struct skiff_store *b, struct skiff_store *check)
{
    struct worker w[2] = {{a, 200, 0, SKIFF_ERR_INIT}, {b, 200, 0, SKIFF_ERR_INIT}};
    pthread_t t[2];
    struct skiff_store_obj o;
    struct skiff_err err = SKIFF_ERR_INIT;

    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < 2; i++)
        if (w[i].failures)
            fail_msg("worker %d: %d failures, last: %s", i, w[i].failures, w[i].err.msg);
    assert_int_equal(skiff_store_get(check, "Counter", "c", &o, &err), 0);
    assert_string_equal(o.doc, "{\"n\":400}");
    assert_int_equal(o.resource_version, 400);
    skiff_store_obj_release(&o);
}

static void test_threads_one_handle(void **state)
{
    struct fixture *f = *state;
    run_two(f->s, f->s, f->s);
}

static void test_threads_two_handles(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_store *other = NULL;

    assert_int_equal(skiff_store_open(f->db, &other, &err), 0);
    run_two(f->s, other, other);
    skiff_store_close(other);
}

/* Two handles opening a brand-new file at the same moment: one migrates,
 * the other sees its work (BEGIN IMMEDIATE around the migration). */
struct opener {
    const char *path;
    struct skiff_store *s;
    int rc;
    struct skiff_err err;
};

static void *open_it(void *arg)
{
    struct opener *o = arg;
    o->rc = skiff_store_open(o->path, &o->s, &o->err);
    return NULL;
}

static void test_concurrent_first_open(void **state)
{
    struct fixture *f = *state;
    char path[PATH_MAX];
    struct opener o[4];
    pthread_t t[4];

    snprintf(path, sizeof path, "%s/fresh.db", f->dir);
    for (int i = 0; i < 4; i++) {
        memset(&o[i], 0, sizeof o[i]);
        o[i].path = path;
        assert_int_equal(pthread_create(&t[i], NULL, open_it, &o[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        if (o[i].rc)
            fail_msg("open %d: %s", i, o[i].err.msg);
        assert_int_equal(skiff_store_schema_version(o[i].s), 1);
    }
    put(o[0].s, "Workflow", "w", "{}", NULL);
    {
        struct skiff_store_obj g;
        struct skiff_err err = SKIFF_ERR_INIT;
        assert_int_equal(skiff_store_get(o[3].s, "Workflow", "w", &g, &err), 0);
        assert_int_equal(g.resource_version, 1);
        skiff_store_obj_release(&g);
    }
    for (int i = 0; i < 4; i++)
        skiff_store_close(o[i].s);
}

static void test_bad_files(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_store *s = NULL;
    char path[PATH_MAX];
    FILE *fp;

    /* text where a database should be */
    snprintf(path, sizeof path, "%s/notes.txt", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 100; i++)
        fprintf(fp, "this is not a database, line %d\n", i);
    fclose(fp);
    assert_int_equal(skiff_store_open(path, &s, &err), SKIFF_EIO);
    assert_null(s);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "not a database"));

    /* a database header followed by garbage */
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("SQLite format 3", fp);
    fputc('\0', fp);
    for (int i = 0; i < 8192; i++)
        fputc(i * 7 & 0xff, fp);
    fclose(fp);
    assert_int_equal(skiff_store_open(path, &s, &err), SKIFF_EIO);
    assert_non_null(strstr(err.msg, path));

    /* a folder, and a path whose folder does not exist */
    assert_int_equal(skiff_store_open(f->dir, &s, &err), SKIFF_EIO);
    assert_non_null(strstr(err.msg, f->dir));
    snprintf(path, sizeof path, "%s/no/such/dir/skiff.db", f->dir);
    assert_int_equal(skiff_store_open(path, &s, &err), SKIFF_EIO);
    assert_non_null(strstr(err.msg, path));
}

static void test_urls_and_arguments(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_store *s = NULL;
    struct skiff_store_obj o;
    char url[PATH_MAX + 16], longname[300];

    assert_int_equal(skiff_store_open("postgres://skiff@db:5432/skiff", &s, &err), SKIFF_EINVAL);
    assert_string_equal(err.msg, "postgres store not available in this build");
    assert_int_equal(skiff_store_open("postgresql://db/skiff", &s, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_store_open("mysql://db/skiff", &s, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_store_open("", &s, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_store_open("sqlite:", &s, &err), SKIFF_EINVAL);
    assert_null(s);
    /* sqlite:///abs/path is the same file */
    snprintf(url, sizeof url, "sqlite://%s", f->db);
    assert_int_equal(skiff_store_open(url, &s, &err), 0);
    put(f->s, "Workflow", "w", "{}", NULL);
    assert_int_equal(skiff_store_get(s, "Workflow", "w", &o, &err), 0);
    skiff_store_obj_release(&o);
    skiff_store_close(s);
    skiff_store_close(NULL);

    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(skiff_store_update(f->s, "", "x", set_doc, "{}", NULL, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_store_update(f->s, "Workflow", longname, set_doc, "{}", NULL, &err),
                     SKIFF_EINVAL);
    longname[253] = '\0';  /* 253 bytes: the longest name that fits */
    put(f->s, "Workflow", longname, "{}", NULL);
    assert_int_equal(skiff_store_get(f->s, "Workflow", longname, &o, &err), 0);
    assert_string_equal(o.name, longname);
    skiff_store_obj_release(&o);
    assert_int_equal(skiff_store_get(f->s, NULL, "x", &o, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_store_delete(f->s, "Workflow", "", 0, NULL, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_store_update(f->s, "Workflow", "x", NULL, NULL, NULL, &err),
                     SKIFF_EINVAL);
    {
        struct skiff_store_obj *objs;
        size_t n;
        assert_int_equal(skiff_store_list(f->s, "", &objs, &n, &err), SKIFF_EINVAL);
    }

    /* documents must be JSON; a callback that sets none is a bug, reported */
    put(f->s, "Workflow", "w", "{\"ok\":true}", NULL);
    assert_int_equal(skiff_store_update(f->s, "Workflow", "w", set_doc, "{not json", &o, &err),
                     SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "not valid JSON"));
    assert_int_equal(skiff_store_update(f->s, "Workflow", "w", no_doc, NULL, &o, &err),
                     SKIFF_EINTERNAL);
    assert_int_equal(skiff_store_get(f->s, "Workflow", "w", &o, &err), 0);
    assert_string_equal(o.doc, "{\"ok\":true}");
    skiff_store_obj_release(&o);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_round_trip),
        T(test_mutate_sees_cur),
        T(test_conflict_leaves_row),
        T(test_rv_increases_across_kinds),
        T(test_uid_kept_and_renewed),
        T(test_list_order),
        T(test_conditional_delete),
        T(test_reopen_persists),
        T(test_schema_and_pragmas),
        T(test_threads_one_handle),
        T(test_threads_two_handles),
        T(test_concurrent_first_open),
        T(test_bad_files),
        T(test_urls_and_arguments),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
