/* Unit tests for the online store (src/features/online*.c, materialize.c):
 * one suite run against both backends, LMDB in a temp folder and a real
 * redis-server started here on a free loopback port (stopped at the end).
 * Online values are checked against historical retrieval, the oracle the
 * online path must agree with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "features/online_int.h"
#include "skiff/err.h"
#include "skiff/features.h"
#include "skiff/online.h"
#include "skiff/time.h"
#include "testutil.h"

#define S SKIFF_US_PER_SEC
#define H (3600 * S)
#define T0 (INT64_C(1767225600) * S)   /* 2026-01-01T00:00:00Z */

struct backend {
    const char *name;
    char spec[512];
    char dir[256];
    int redis_port;
    pid_t redis_pid;
};

static struct backend lmdb_be = {.name = "lmdb"}, redis_be = {.name = "redis"};

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_non_null(f = fopen(path, "w"));
    fputs(text, f);
    fclose(f);
}

/* Two views: a profile (latest values, ttl 1h) and windowed aggregations
 * over transactions; one service of 7 features over both, and one of the
 * aggregations alone. */
static const char defs_yaml[] =
    "apiVersion: skiff.dev/v1\nkind: Entity\nmetadata: {name: user}\n"
    "spec: {joinKeys: [user_id], valueType: STRING}\n"
    "---\n"
    "apiVersion: skiff.dev/v1\nkind: DataSource\nmetadata: {name: profiles}\n"
    "spec:\n  file: {path: profiles.csv}\n  createdTimestampColumn: created\n"
    "---\n"
    "apiVersion: skiff.dev/v1\nkind: DataSource\nmetadata: {name: tx}\n"
    "spec:\n  file: {path: tx.csv}\n"
    "---\n"
    "apiVersion: skiff.dev/v1\nkind: FeatureView\nmetadata: {name: profile}\n"
    "spec:\n  entities: [user]\n  ttl: 1h\n  source: profiles\n"
    "  fields:\n  - {name: age, dtype: INT64}\n  - {name: score, dtype: DOUBLE}\n"
    "  - {name: country, dtype: STRING}\n"
    "---\n"
    "apiVersion: skiff.dev/v1\nkind: FeatureView\nmetadata: {name: user_tx}\n"
    "spec:\n  entities: [user]\n  source: tx\n"
    "  aggregations:\n"
    "  - {name: tx_count_1h, function: count, window: 1h}\n"
    "  - {name: amount_sum_1h, function: sum, column: amount, window: 1h}\n"
    "  - {name: amount_max_1d, function: max, column: amount, window: 1d}\n"
    "  - {name: amount_sd_1d, function: stddev, column: amount, window: 1d}\n"
    "  - {name: merchants_1d, function: count_distinct, column: merchant, window: 1d}\n"
    "  - {name: last_amount, function: last, column: amount, window: 1d}\n"
    "  derived:\n  - {name: avg_1h, expr: 'amount_sum_1h / tx_count_1h'}\n"
    "---\n"
    "apiVersion: skiff.dev/v1\nkind: FeatureService\nmetadata: {name: scoring}\n"
    "spec:\n  features:\n  - {view: profile, features: [age, score, country]}\n"
    "  - {view: user_tx, features: [tx_count_1h, amount_sum_1h, amount_max_1d, avg_1h]}\n"
    "---\n"
    "apiVersion: skiff.dev/v1\nkind: FeatureService\nmetadata: {name: tx_only}\n"
    "spec:\n  features: [user_tx]\n";

static const char profiles_csv[] =
    "user_id,event_timestamp,created,age,score,country\n"
    "u1,2026-01-01T09:00:00Z,2026-01-01T09:00:00Z,30,0.5,FR\n"
    "u1,2026-01-01T10:00:00Z,2026-01-01T10:05:00Z,31,0.7,DE\n"
    "u1,2026-01-01T10:00:00Z,2026-01-01T10:01:00Z,99,9.9,XX\n"   /* tie: older created */
    "u2,2026-01-01T08:00:00Z,,40,,US\n"                           /* null score */
    "u3,2026-01-01T12:00:00Z,,50,1.5,IT\n";                       /* after the window */

static const char tx_csv[] =
    "user_id,event_timestamp,amount,merchant\n"
    "u1,2026-01-01T08:30:00Z,10,m1\n"
    "u1,2026-01-01T09:30:00Z,20,m2\n"
    "u1,2026-01-01T10:00:00Z,60,m2\n"
    "u1,2026-01-01T10:00:00Z,,m3\n"
    "u2,2026-01-01T07:00:00Z,5,m1\n"
    "u2,2026-01-01T09:59:00Z,7,m1\n"
    "u3,2026-01-01T11:00:00Z,100,m9\n";

struct fx {
    struct backend *be;
    char dir[256];
    struct skiff_feat_registry *reg;
    struct skiff_online *o;
};

static void flush_redis(struct backend *be)
{
    redisContext *c = redisConnect("127.0.0.1", be->redis_port);
    redisReply *r;
    assert_true(c && !c->err);
    r = redisCommand(c, "FLUSHALL");
    freeReplyObject(r);
    redisFree(c);
}

static int fx_setup(void **state)
{
    struct backend *be = *state;
    struct fx *f = calloc(1, sizeof *f);
    struct skiff_err err = SKIFF_ERR_INIT;
    char spec[600];

    f->be = be;
    if (!test_tmpdir(f->dir, sizeof f->dir, "online"))
        return -1;
    write_file(f->dir, "repo.yaml", defs_yaml);
    write_file(f->dir, "profiles.csv", profiles_csv);
    write_file(f->dir, "tx.csv", tx_csv);
    if (skiff_feat_registry_load(f->dir, &f->reg, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    if (be->redis_port) {
        flush_redis(be);
        snprintf(spec, sizeof spec, "%s", be->spec);
    } else {
        snprintf(spec, sizeof spec, "lmdb:%s/online", f->dir);
    }
    if (skiff_online_open(spec, NULL, &f->o, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    skiff_online_close(f->o);
    skiff_feat_registry_free(f->reg);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static void materialize(struct fx *f, int64_t start, int64_t end)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_online_materialize_opts mo = {0};
    if (skiff_online_materialize(f->o, f->reg, start, end, &mo, &err))
        fail_msg("materialize: %s", err.msg);
}

/* Historical retrieval of `svc` for one entity at t: the oracle. */
static struct skiff_feat_table *historical(struct fx *f, const struct skiff_feat_service *svc,
                                           const char *user, int64_t t)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    const char *names[] = {"event_timestamp", "user_id"};
    enum skiff_feat_type types[] = {SKIFF_FEAT_UNIX_TIMESTAMP, SKIFF_FEAT_STRING};
    struct skiff_feat_table *ent = NULL, *out = NULL;
    struct skiff_feat_historical_opts o = {.threads = 1};
    assert_int_equal(skiff_feat_table_new("ent", names, types, 2, &ent, &err), 0);
    assert_int_equal(skiff_feat_table_grow(ent, 1, &err), 0);
    ent->cols[0].i64[0] = t;
    ent->cols[0].valid[0] = 1;
    assert_int_equal(skiff_feat_table_set_str(ent, 0, 1, user, strlen(user), &err), 0);
    if (skiff_feat_historical(svc, ent, &o, &out, NULL, &err))
        fail_msg("historical: %s", err.msg);
    skiff_feat_table_free(ent);
    return out;
}

/* get_vector at t equals historical retrieval at t, feature by feature. */
static void expect_like_historical(struct fx *f, const char *service, const char *user,
                                   int64_t t)
{
    const struct skiff_feat_service *svc = skiff_feat_service_get(f->reg, service);
    struct skiff_err err = SKIFF_ERR_INIT;
    size_t w = skiff_online_service_width(svc);
    double vals[32];
    enum skiff_online_status st[32];
    int64_t ts[32];
    const char *keys[] = {user};
    struct skiff_feat_table *h;

    assert_true(w <= 32);
    if (skiff_online_get_vector(f->o, svc, keys, 1, t, vals, st, ts, &err))
        fail_msg("get_vector: %s", err.msg);
    h = historical(f, svc, user, t);
    assert_int_equal(h->ncols, w);
    for (size_t i = 0; i < w; i++) {
        const struct skiff_feat_column *c = &h->cols[i];
        if (c->type == SKIFF_FEAT_STRING) {
            assert_true(isnan(vals[i]));
            continue;
        }
        if (!c->valid[0]) {
            if (st[i] == SKIFF_ONLINE_PRESENT)
                fail_msg("%s %s at %lld: historical null, online %g", user, c->name,
                         (long long)t, vals[i]);
            assert_true(isnan(vals[i]));
            continue;
        }
        double want = c->f64 ? c->f64[0] : (double)c->i64[0];
        if (st[i] != SKIFF_ONLINE_PRESENT || fabs(vals[i] - want) > 1e-9 * (1 + fabs(want)))
            fail_msg("%s %s at %lld: historical %.17g, online %.17g (%s)", user, c->name,
                     (long long)t, want, vals[i], skiff_online_status_name(st[i]));
    }
    skiff_feat_table_free(h);
}

static void test_materialize_then_get_equals_historical(void **state)
{
    struct fx *f = *state;
    int64_t end = T0 + 10 * H;
    materialize(f, T0, end);
    expect_like_historical(f, "scoring", "u1", end);
    expect_like_historical(f, "scoring", "u2", end);
    expect_like_historical(f, "tx_only", "u1", end);
    expect_like_historical(f, "tx_only", "u2", end);
    /* aggregates slide with time, by the same code, also after end */
    expect_like_historical(f, "tx_only", "u1", end + 30 * 60 * S);
    expect_like_historical(f, "tx_only", "u1", end + 3 * H);
}

static void test_statuses_ttl_and_not_found(void **state)
{
    struct fx *f = *state;
    const struct skiff_feat_service *svc = skiff_feat_service_get(f->reg, "scoring");
    struct skiff_err err = SKIFF_ERR_INIT;
    double v[7];
    enum skiff_online_status st[7];
    int64_t ts[7];
    const char *u1[] = {"u1"}, *u2[] = {"u2"}, *u3[] = {"u3"}, *nobody[] = {"nobody"};
    int64_t end = T0 + 10 * H;

    materialize(f, T0, end);
    assert_int_equal(skiff_online_service_width(svc), 7);
    assert_string_equal(skiff_online_service_feature(svc, 0), "age");
    assert_string_equal(skiff_online_service_view(svc, 3), "user_tx");
    assert_string_equal(skiff_online_service_feature(svc, 6), "avg_1h");
    assert_int_equal(skiff_online_service_nkeys(svc), 1);
    assert_string_equal(skiff_online_service_key(svc, 0), "user_id");

    /* the latest row, the tie going to the later created time */
    assert_int_equal(skiff_online_get_vector(f->o, svc, u1, 1, end, v, st, ts, &err), 0);
    assert_int_equal(st[0], SKIFF_ONLINE_PRESENT);
    assert_true(v[0] == 31 && v[1] == 0.7);
    assert_true(isnan(v[2]));   /* STRING reads as NaN in a vector */
    assert_true(ts[0] == T0 + 10 * H);
    /* exactly ttl later: still fresh (inclusive); a microsecond more: too old */
    assert_int_equal(skiff_online_get_vector(f->o, svc, u1, 1, end + H, v, st, ts, &err), 0);
    assert_int_equal(st[0], SKIFF_ONLINE_PRESENT);
    assert_int_equal(skiff_online_get_vector(f->o, svc, u1, 1, end + H + 1, v, st, ts, &err), 0);
    assert_int_equal(st[0], SKIFF_ONLINE_OUTSIDE_MAX_AGE);
    assert_true(isnan(v[0]));
    /* u2's row at 08:00 is 2h old at 10:00; its null score is NOT_FOUND either way */
    assert_int_equal(skiff_online_get_vector(f->o, svc, u2, 1, end, v, st, ts, &err), 0);
    assert_int_equal(st[0], SKIFF_ONLINE_OUTSIDE_MAX_AGE);
    assert_int_equal(skiff_online_get_vector(f->o, svc, u2, 1, T0 + 8 * H, v, st, ts, &err), 0);
    assert_int_equal(st[0], SKIFF_ONLINE_PRESENT);
    assert_int_equal(st[1], SKIFF_ONLINE_NOT_FOUND);
    /* u3's rows are after the window: not materialized */
    assert_int_equal(skiff_online_get_vector(f->o, svc, u3, 1, end, v, st, ts, &err), 0);
    assert_int_equal(st[0], SKIFF_ONLINE_NOT_FOUND);
    /* an unknown entity: a status, not an error; timestamps 0 */
    assert_int_equal(skiff_online_get_vector(f->o, svc, nobody, 1, end, v, st, ts, &err), 0);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(st[i], SKIFF_ONLINE_NOT_FOUND);
        assert_true(isnan(v[i]));
        assert_true(ts[i] == 0);
    }
    /* statuses and timestamps may be NULL */
    assert_int_equal(skiff_online_get_vector(f->o, svc, u1, 1, end, v, NULL, NULL, &err), 0);
    assert_true(v[0] == 31);
    /* too few keys is an error */
    assert_int_equal(skiff_online_get_vector(f->o, svc, u1, 0, end, v, st, ts, &err),
                     SKIFF_EINVAL);
}

static void test_rerun_and_older_interval_change_nothing(void **state)
{
    struct fx *f = *state;
    const struct skiff_feat_service *svc = skiff_feat_service_get(f->reg, "scoring");
    struct skiff_err err = SKIFF_ERR_INIT;
    double a[7], b[7];
    enum skiff_online_status sa[7], sb[7];
    const char *u1[] = {"u1"};
    int64_t end = T0 + 10 * H;

    materialize(f, T0, end);
    assert_int_equal(skiff_online_get_vector(f->o, svc, u1, 1, end, a, sa, NULL, &err), 0);
    materialize(f, T0, end);                 /* the same run again */
    materialize(f, T0, T0 + 9 * H + 1800 * S);   /* an older interval: rows never go back */
    materialize(f, T0, end);
    assert_int_equal(skiff_online_get_vector(f->o, svc, u1, 1, end, b, sb, NULL, &err), 0);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(sa[i], sb[i]);
        assert_true((isnan(a[i]) && isnan(b[i])) || a[i] == b[i]);
    }
    expect_like_historical(f, "tx_only", "u1", end);
}

static void test_incremental_uses_the_watermark(void **state)
{
    struct fx *f = *state;
    const struct skiff_feat_service *svc = skiff_feat_service_get(f->reg, "scoring");
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_online_materialize_opts mo = {.incremental = true};
    const char *views[] = {"profile"};
    double v[7];
    enum skiff_online_status st[7];
    const char *u3[] = {"u3"};
    int64_t wm = 0;
    bool found = true;

    assert_int_equal(online__watermark_get(f->o, "profile", &wm, &found, &err), 0);
    assert_false(found);
    materialize(f, T0, T0 + 10 * H);
    assert_int_equal(online__watermark_get(f->o, "profile", &wm, &found, &err), 0);
    assert_true(found && wm == T0 + 10 * H);
    /* from the watermark to 12:00: u3's row arrives */
    mo.views = views;
    mo.nviews = 1;
    assert_int_equal(skiff_online_materialize(f->o, f->reg, 0, T0 + 12 * H, &mo, &err), 0);
    assert_int_equal(online__watermark_get(f->o, "profile", &wm, &found, &err), 0);
    assert_true(wm == T0 + 12 * H);
    assert_int_equal(skiff_online_get_vector(f->o, svc, u3, 1, T0 + 12 * H, v, st, NULL, &err),
                     0);
    assert_int_equal(st[0], SKIFF_ONLINE_PRESENT);
    assert_true(v[0] == 50);
    /* user_tx was not named: its watermark stayed */
    assert_int_equal(online__watermark_get(f->o, "user_tx", &wm, &found, &err), 0);
    assert_true(wm == T0 + 10 * H);
    /* bad requests */
    views[0] = "nope";
    assert_int_equal(skiff_online_materialize(f->o, f->reg, 0, T0, &mo, &err), SKIFF_ENOTFOUND);
    mo.incremental = false;
    mo.nviews = 0;
    assert_int_equal(skiff_online_materialize(f->o, f->reg, T0, T0, &mo, &err), SKIFF_EINVAL);
}

/* Pushed events, in random batches and out of time order, give at any t
 * after them what historical retrieval computes over the same events
 * (the CSV lists them in push order, so ties are ordered alike). */
static void test_push_property_random_streams(void **state)
{
    struct fx *f = *state;
    const struct skiff_feat_view *v = skiff_feat_view_get(f->reg, "user_tx");
    struct skiff_err err = SKIFF_ERR_INIT;
    static const char *users[] = {"a", "b", "c"};
    static const char *merchants[] = {"m1", "m2", "m3", "m4"};
    unsigned seed = 7;

    for (int round = 0; round < 6; round++) {
        char path[600], csv[65536];
        size_t len = (size_t)snprintf(csv, sizeof csv, "user_id,event_timestamp,amount,merchant\n");
        int n = 20 + rand_r(&seed) % 60;
        int64_t latest = 0;
        FILE *fp;

        if (f->be->redis_port)
            flush_redis(f->be);
        else {
            skiff_online_close(f->o);
            snprintf(path, sizeof path, "rm -rf %s/online", f->dir);
            assert_int_equal(system(path), 0);
            snprintf(path, sizeof path, "lmdb:%s/online", f->dir);
            assert_int_equal(skiff_online_open(path, NULL, &f->o, &err), 0);
        }
        for (int i = 0; i < n;) {
            int batch = 1 + rand_r(&seed) % 5;
            for (int j = 0; j < batch && i < n; j++, i++) {
                const char *u = users[rand_r(&seed) % 3];
                /* whole minutes over 30h: ties happen, windows of 1h and 1d both matter */
                int64_t ts = T0 + (int64_t)(rand_r(&seed) % (30 * 60)) * 60 * S;
                bool null_amount = rand_r(&seed) % 7 == 0;
                int amount = rand_r(&seed) % 100;
                const char *m = merchants[rand_r(&seed) % 4];
                char key[64];
                const char *kv[] = {u};
                struct online__ref ref = {key, online__key(v, kv, key, sizeof key), "user_tx"};
                struct skiff_feat_value vals[6];
                size_t off[2] = {0, 1};
                struct online__write w = {.v = v, .n = 1, .refs = &ref, .ev_off = off,
                                          .agg_ts = &ts, .agg_vals = vals};
                /* the columns of the 6 aggregations: -, amount x4, merchant */
                for (int a = 0; a < 6; a++) {
                    memset(&vals[a], 0, sizeof vals[a]);
                    vals[a].type = v->aggs[a].column_type;
                    vals[a].valid = a == 0 || (a == 4 ? true : !null_amount);
                    vals[a].i = amount;
                    vals[a].f = amount;
                }
                vals[4].s = m;
                if (online__write_rows(f->o, &w, &err))
                    fail_msg("push: %s", err.msg);
                if (null_amount)
                    len += (size_t)snprintf(csv + len, sizeof csv - len, "%s,%lld,,%s\n", u,
                                            (long long)(ts / S), m);
                else
                    len += (size_t)snprintf(csv + len, sizeof csv - len, "%s,%lld,%d,%s\n", u,
                                            (long long)(ts / S), amount, m);
                if (ts > latest)
                    latest = ts;
            }
        }
        snprintf(path, sizeof path, "%s/tx.csv", f->dir);
        assert_non_null(fp = fopen(path, "w"));
        fputs(csv, fp);
        fclose(fp);
        for (int k = 0; k < 3; k++) {
            int64_t t = latest + (int64_t)(rand_r(&seed) % (26 * 60)) * 60 * S;
            for (int u = 0; u < 3; u++)
                expect_like_historical(f, "tx_only", users[u], t);
        }
    }
}

static void test_record_codec_rejects_foreign_bytes(void **state)
{
    struct fx *f = *state;
    const struct skiff_feat_view *v = skiff_feat_view_get(f->reg, "profile");
    struct skiff_feat_value vals[3];
    enum skiff_online_status st[3];
    int64_t ts[3];
    struct skiff_feat_scratch sc = {NULL, 0};
    struct skiff_err err = SKIFF_ERR_INIT;
    char junk[64] = "not a record";
    struct online__rec r;
    bool stale = false;

    assert_int_equal(online__compute(v, junk, sizeof junk, T0, vals, st, ts, &sc, &err), 0);
    assert_int_equal(st[0], SKIFF_ONLINE_NOT_FOUND);
    assert_int_equal(online__rec_decode(v, junk, sizeof junk, &r, &stale, &err), 0);
    assert_true(stale);
    assert_true(r.event_ts == ONLINE_NO_ROW);
    online__rec_release(&r);
    /* a bad spec is an error, not a crash */
    struct skiff_online *o = NULL;
    assert_int_equal(skiff_online_open("memcached://x", NULL, &o, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_online_open("redis://127.0.0.1:1", NULL, &o, &err), SKIFF_EUNAVAIL);
    assert_int_equal(skiff_online_open("redis://:99999", NULL, &o, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_online_open("lmdb:/proc/skiff-no/such", NULL, &o, &err), SKIFF_EIO);
    assert_null(o);
}

/* One handle, many threads: readers see whole records (never a torn
 * write) while a writer pushes events for another entity. */
struct reader {
    struct fx *f;
    int bad;
};

static void *read_loop(void *arg)
{
    struct reader *r = arg;
    const struct skiff_feat_service *svc = skiff_feat_service_get(r->f->reg, "scoring");
    const char *u1[] = {"u1"};
    for (int i = 0; i < 2000; i++) {
        struct skiff_err err = SKIFF_ERR_INIT;
        double v[7];
        enum skiff_online_status st[7];
        if (skiff_online_get_vector(r->f->o, svc, u1, 1, T0 + 10 * H, v, st, NULL, &err) ||
            st[0] != SKIFF_ONLINE_PRESENT || v[0] != 31 || v[1] != 0.7)
            r->bad++;
    }
    return NULL;
}

static void test_threads_share_one_handle(void **state)
{
    struct fx *f = *state;
    const struct skiff_feat_view *v = skiff_feat_view_get(f->reg, "user_tx");
    struct skiff_err err = SKIFF_ERR_INIT;
    struct reader rd[4];
    pthread_t tid[4];

    materialize(f, T0, T0 + 10 * H);
    for (int i = 0; i < 4; i++) {
        rd[i] = (struct reader){f, 0};
        assert_int_equal(pthread_create(&tid[i], NULL, read_loop, &rd[i]), 0);
    }
    for (int i = 0; i < 200; i++) {
        char key[64];
        const char *kv[] = {"u9"};
        int64_t ts = T0 + i * S;
        struct online__ref ref = {key, online__key(v, kv, key, sizeof key), "user_tx"};
        struct skiff_feat_value vals[6] = {{0}};
        size_t off[2] = {0, 1};
        struct online__write w = {.v = v, .n = 1, .refs = &ref, .ev_off = off, .agg_ts = &ts,
                                  .agg_vals = vals};
        for (int a = 0; a < 6; a++) {
            vals[a].type = v->aggs[a].column_type;
            vals[a].valid = true;
            vals[a].f = vals[a].i = i;
        }
        vals[4].s = "m";
        assert_int_equal(online__write_rows(f->o, &w, &err), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(tid[i], NULL);
        assert_int_equal(rd[i].bad, 0);
    }
    expect_like_historical(f, "tx_only", "u1", T0 + 10 * H);
}

/* Two writers pushing events for one entity at once (two connections on
 * Redis, where WATCH/EXEC retries; serialised transactions on LMDB): no
 * event is lost. */
struct pusher {
    struct fx *f;
    int base, rc;
};

static void *push_loop(void *arg)
{
    struct pusher *p = arg;
    const struct skiff_feat_view *v = skiff_feat_view_get(p->f->reg, "user_tx");
    for (int i = 0; i < 100 && p->rc == 0; i++) {
        struct skiff_err err = SKIFF_ERR_INIT;
        char key[64];
        const char *kv[] = {"u7"};
        int64_t ts = T0 + (p->base + i) * S;
        struct online__ref ref = {key, online__key(v, kv, key, sizeof key), "user_tx"};
        struct skiff_feat_value vals[6] = {{0}};
        size_t off[2] = {0, 1};
        struct online__write w = {.v = v, .n = 1, .refs = &ref, .ev_off = off, .agg_ts = &ts,
                                  .agg_vals = vals};
        for (int a = 0; a < 6; a++) {
            vals[a].type = v->aggs[a].column_type;
            vals[a].valid = true;
            vals[a].f = vals[a].i = 1;
        }
        vals[4].s = "m";
        p->rc = online__write_rows(p->f->o, &w, &err);
    }
    return NULL;
}

static void test_concurrent_pushes_lose_nothing(void **state)
{
    struct fx *f = *state;
    const struct skiff_feat_service *svc = skiff_feat_service_get(f->reg, "tx_only");
    struct skiff_err err = SKIFF_ERR_INIT;
    struct pusher p[2] = {{f, 0, 0}, {f, 1000, 0}};
    pthread_t tid[2];
    const char *u7[] = {"u7"};
    double v[8];
    enum skiff_online_status st[8];

    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&tid[i], NULL, push_loop, &p[i]), 0);
    for (int i = 0; i < 2; i++) {
        pthread_join(tid[i], NULL);
        assert_int_equal(p[i].rc, 0);
    }
    assert_int_equal(skiff_online_get_vector(f->o, svc, u7, 1, T0 + 1200 * S, v, st, NULL, &err),
                     0);
    assert_int_equal(st[0], SKIFF_ONLINE_PRESENT);
    assert_true(v[0] == 200);   /* tx_count_1h: every event of both writers */
}

/* ---- redis-server for the second run ---- */

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    int s = socket(AF_INET, SOCK_STREAM, 0), port;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || getsockname(s, (struct sockaddr *)&a, &l))
        return -1;
    port = ntohs(a.sin_port);
    close(s);
    return port;
}

static int redis_start(void **state)
{
    struct backend *be = &redis_be;
    char port[16];
    (void)state;
    if (!test_tmpdir(be->dir, sizeof be->dir, "online-redis"))
        return -1;
    be->redis_port = free_port();
    snprintf(port, sizeof port, "%d", be->redis_port);
    if ((be->redis_pid = fork()) == 0) {
        freopen("/dev/null", "w", stdout);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
               "--save", "", "--appendonly", "no", "--dir", be->dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        redisContext *c = redisConnect("127.0.0.1", be->redis_port);
        bool ok = c && !c->err;
        redisFree(c);
        if (ok) {
            snprintf(be->spec, sizeof be->spec, "redis://127.0.0.1:%d/3", be->redis_port);
            return 0;
        }
        usleep(20000);
    }
    fprintf(stderr, "redis-server did not start on port %d\n", be->redis_port);
    return -1;
}

static int redis_stop(void **state)
{
    (void)state;
    if (redis_be.redis_pid > 0) {
        kill(redis_be.redis_pid, SIGTERM);
        waitpid(redis_be.redis_pid, NULL, 0);
    }
    test_rmtree(redis_be.dir);
    return 0;
}

#define SUITE(be)                                                                              \
    {                                                                                          \
        cmocka_unit_test_prestate_setup_teardown(test_materialize_then_get_equals_historical, \
                                                 fx_setup, fx_teardown, &be),                  \
            cmocka_unit_test_prestate_setup_teardown(test_statuses_ttl_and_not_found,          \
                                                     fx_setup, fx_teardown, &be),              \
            cmocka_unit_test_prestate_setup_teardown(                                          \
                test_rerun_and_older_interval_change_nothing, fx_setup, fx_teardown, &be),     \
            cmocka_unit_test_prestate_setup_teardown(test_incremental_uses_the_watermark,      \
                                                     fx_setup, fx_teardown, &be),              \
            cmocka_unit_test_prestate_setup_teardown(test_push_property_random_streams,        \
                                                     fx_setup, fx_teardown, &be),              \
            cmocka_unit_test_prestate_setup_teardown(test_record_codec_rejects_foreign_bytes,  \
                                                     fx_setup, fx_teardown, &be),              \
            cmocka_unit_test_prestate_setup_teardown(test_threads_share_one_handle, fx_setup,  \
                                                     fx_teardown, &be),                        \
            cmocka_unit_test_prestate_setup_teardown(test_concurrent_pushes_lose_nothing,      \
                                                     fx_setup, fx_teardown, &be),              \
    }

int main(void)
{
    const struct CMUnitTest lmdb_tests[] = SUITE(lmdb_be);
    const struct CMUnitTest redis_tests[] = SUITE(redis_be);
    int failed = 0;
    failed += cmocka_run_group_tests_name("online.lmdb", lmdb_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("online.redis", redis_tests, redis_start, redis_stop);
    return failed;
}
