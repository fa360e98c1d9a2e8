/* Unit tests for src/tracking: search filters and order_by turned into SQL
 * (text and parameters), bad filters refused with a message, page tokens,
 * the MLflow error format, and opening twice on one store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/arena.h"
#include "skiff/err.h"
#include "skiff/store.h"
#include "tracking/tracking_int.h"

struct built {
    struct skiff_arena *a;
    struct tracking__sql q;
};

static struct built *build(void)
{
    struct built *b = calloc(1, sizeof *b);
    b->a = skiff_arena_new(1 << 20);
    skiff_buf_init(&b->q.text, 64 << 10);
    b->q.arena = b->a;
    return b;
}

static void built_free(struct built *b)
{
    skiff_buf_release(&b->q.text);
    skiff_arena_free(b->a);
    free(b);
}

static void test_filter_worked_example(void **state)
{
    struct built *b = build();
    struct skiff_err err = SKIFF_ERR_INIT;

    assert_int_equal(tracking__runs_filter(&b->q, "metrics.auc > 0.9 and params.lr = '0.1' "
                                           "AND tags.`my tag` != \"y\" and "
                                           "attributes.status IN ('FINISHED', 'KILLED')", &err), 0);
    assert_non_null(strstr(b->q.text.ptr, "FROM tracking_latest_metrics m WHERE m.run_id = r.run_id"
                           " AND m.key = ? AND m.value > ?"));
    assert_non_null(strstr(b->q.text.ptr, "FROM tracking_params x"));
    assert_non_null(strstr(b->q.text.ptr, "x.value != ?"));
    assert_non_null(strstr(b->q.text.ptr, "r.status IN (?, ?)"));
    assert_int_equal(b->q.n, 8);
    assert_string_equal(b->q.params[0].s, "auc");
    assert_true(b->q.params[1].type == SKIFF_VAL_REAL && b->q.params[1].d == 0.9);
    assert_string_equal(b->q.params[2].s, "lr");
    assert_string_equal(b->q.params[3].s, "0.1");
    assert_string_equal(b->q.params[4].s, "my tag");
    assert_string_equal(b->q.params[5].s, "y");
    assert_string_equal(b->q.params[6].s, "FINISHED");
    assert_string_equal(b->q.params[7].s, "KILLED");
    built_free(b);
}

static void test_filter_keys_with_dots_and_quotes(void **state)
{
    struct built *b = build();
    struct skiff_err err = SKIFF_ERR_INIT;

    assert_int_equal(tracking__runs_filter(&b->q, "tags.mlflow.runName = 'it''s' and "
                                           "start_time >= 5 and run_name ILIKE '%A%'", &err), 0);
    assert_string_equal(b->q.params[0].s, "mlflow.runName");
    assert_string_equal(b->q.params[1].s, "it's");
    assert_true(b->q.params[2].type == SKIFF_VAL_INT && b->q.params[2].i == 5);
    assert_non_null(strstr(b->q.text.ptr, "lower(r.run_name) LIKE lower(?)"));
    built_free(b);
}

static void test_bad_filters(void **state)
{
    static const char *const bad[] = {
        "metrics.auc > 'high'",           /* metric compared with a string */
        "metrics.auc LIKE '%x'",          /* LIKE on a metric */
        "params.lr > '1'",                /* ordering on a param */
        "metrics.a > 1 or metrics.b > 1", /* OR is not in the grammar */
        "params.lr = '0.1",               /* unterminated string */
        "attributes.colour = 'red'",      /* unknown attribute */
        "status IN 'a'",                  /* IN without a list */
        "status IN ('a'",                 /* unterminated list */
        "metrics.auc ~ 1",                /* unknown operator */
        "= 1",                            /* no identifier */
        "start_time > soon",              /* not a number */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct built *b = build();
        struct skiff_err err = SKIFF_ERR_INIT;
        int rc = tracking__runs_filter(&b->q, bad[i], &err);
        if (rc != SKIFF_EINVAL)
            fail_msg("filter \"%s\" gave %d", bad[i], rc);
        assert_true(err.msg[0] != '\0');
        built_free(b);
    }
}

static void test_too_many_values(void **state)
{
    struct built *b = build();
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_buf f = SKIFF_BUF_INIT;

    for (int i = 0; i < 200; i++)
        skiff_buf_appendf(&f, "%sparams.p%d = 'v'", i ? " and " : "", i);
    assert_int_equal(tracking__runs_filter(&b->q, f.ptr, &err), SKIFF_EINVAL);
    skiff_buf_release(&f);
    built_free(b);
}

static void test_order_by(void **state)
{
    struct built *b = build();
    struct skiff_err err = SKIFF_ERR_INIT;

    assert_int_equal(tracking__runs_order(&b->q, "metrics.auc DESC", &err), 0);
    assert_int_equal(tracking__runs_order(&b->q, "attributes.start_time", &err), 0);
    /* runs without the value sort last either way, as MLflow does */
    assert_non_null(strstr(b->q.text.ptr, "m.key = ?) DESC NULLS LAST, "));
    assert_non_null(strstr(b->q.text.ptr, "r.start_time ASC NULLS LAST, "));
    assert_int_equal(b->q.n, 1);
    assert_int_equal(tracking__runs_order(&b->q, "attributes.nope", &err), SKIFF_EINVAL);
    assert_int_equal(tracking__runs_order(&b->q, "metrics.auc DESC extra", &err), SKIFF_EINVAL);
    assert_int_equal(tracking__exps_order(&b->q, "name ASC", &err), 0);
    assert_int_equal(tracking__exps_order(&b->q, "tags.x", &err), SKIFF_EINVAL);
    assert_int_equal(tracking__exps_filter(&b->q, "name LIKE 'fr%' and tags.team = 'risk'", &err), 0);
    assert_int_equal(tracking__exps_filter(&b->q, "params.x = 'y'", &err), SKIFF_EINVAL);
    built_free(b);
}

static void test_page_tokens(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char tok[64];
    int64_t off = -1;

    tracking__token_encode(1000, tok, sizeof tok);
    /* base64 of {"offset": 1000}, as MLflow writes it */
    assert_string_equal(tok, "eyJvZmZzZXQiOiAxMDAwfQ==");
    assert_int_equal(tracking__token_decode(tok, &off, &err), 0);
    assert_int_equal(off, 1000);
    assert_int_equal(tracking__token_decode("", &off, &err), 0);
    assert_int_equal(off, 0);
    assert_int_equal(tracking__token_decode(NULL, &off, &err), 0);
    assert_int_equal(tracking__token_decode("!!", &off, &err), SKIFF_EINVAL);
    assert_int_equal(tracking__token_decode("aGVsbG8=", &off, &err), SKIFF_EINVAL);
    /* a negative offset */
    assert_int_equal(tracking__token_decode("eyJvZmZzZXQiOiAtMX0=", &off, &err), SKIFF_EINVAL);
}

static void test_error_format(void **state)
{
    static const struct { int code, status; const char *name; } map[] = {
        {SKIFF_ENOTFOUND, 404, "RESOURCE_DOES_NOT_EXIST"},
        {SKIFF_EINVAL, 400, "INVALID_PARAMETER_VALUE"},
        {SKIFF_EEXIST, 400, "RESOURCE_ALREADY_EXISTS"},
        {SKIFF_EPARSE, 400, "BAD_REQUEST"},
        {SKIFF_EUNAUTH, 401, "UNAUTHENTICATED"},
        {SKIFF_ETOOBIG, 413, "BAD_REQUEST"},
        {SKIFF_EUNAVAIL, 503, "TEMPORARILY_UNAVAILABLE"},
        {SKIFF_EIO, 500, "INTERNAL_ERROR"},
    };
    for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
        struct skiff_err err = SKIFF_ERR_INIT;
        struct skiff_http_resp resp = {.body = SKIFF_BUF_INIT};
        char want[128];
        skiff_err_set(&err, map[i].code, "say \"%s\"", "why");
        skiff_tracking_errfmt(&err, &resp);
        assert_int_equal(resp.status, map[i].status);
        snprintf(want, sizeof want, "{\"error_code\": \"%s\", \"message\": \"say \\\"why\\\"\"}",
                 map[i].name);
        assert_string_equal(resp.body.ptr, want);
        skiff_buf_release(&resp.body);
    }
}

struct count {
    int rows;
    int64_t v;
};

static int count_cb(void *ctx, const struct skiff_store_val *cols, size_t ncols,
                    struct skiff_err *err)
{
    struct count *c = ctx;
    c->rows++;
    c->v = cols[0].i;
    return 0;
}

static void test_open_twice(void **state)
{
    char dir[64], db[PATH_MAX], blobdir[PATH_MAX];
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_store *s;
    struct skiff_blob *blob;
    struct skiff_tracking *t1, *t2, *t3;
    struct count c = {0, 0};
    size_t n;

    assert_non_null(test_tmpdir(dir, sizeof dir, "tracking"));
    snprintf(db, sizeof db, "%s/skiff.db", dir);
    snprintf(blobdir, sizeof blobdir, "%s/artifacts", dir);
    assert_int_equal(skiff_store_open(db, &s, &err), 0);
    assert_int_equal(skiff_blob_open(blobdir, &blob, &err), 0);
    assert_int_equal(skiff_tracking_open(s, blob, &t1, &err), 0);
    assert_int_equal(skiff_tracking_open(s, blob, &t2, &err), 0);
    assert_int_equal(skiff_tracking_open(s, NULL, &t3, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_store_query(s, "SELECT count(*) FROM tracking_experiments", NULL, 0,
                                       count_cb, &c, &err), 0);
    assert_int_equal(c.v, 1);
    assert_non_null(skiff_tracking_routes(&n));
    assert_true(n > 0 && n % 2 == 0);   /* every route also under /ajax-api */
    skiff_tracking_close(t1);
    skiff_tracking_close(t2);
    skiff_tracking_close(NULL);
    skiff_blob_close(blob);
    skiff_store_close(s);
    test_rmtree(dir);
}

/* ---- model URI resolution ---- */

static void exec_ok(struct skiff_store *s, const char *sql)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    if (skiff_store_exec(s, sql, NULL, 0, NULL, &err) != 0)
        fail_msg("%s: %s", sql, err.msg);
}

static void expect_path(struct skiff_tracking *t, const char *uri, const char *want)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char got[PATH_MAX];

    if (skiff_tracking_resolve_uri(t, uri, got, sizeof got, &err) != 0)
        fail_msg("%s: %s", uri, err.msg);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got '%s', want '%s'", uri, got, want);
}

static void expect_fail(struct skiff_tracking *t, const char *uri, int code, const char *msg)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char got[PATH_MAX];

    if (skiff_tracking_resolve_uri(t, uri, got, sizeof got, &err) != code)
        fail_msg("%s: want error %d, got %d (%s)", uri, code, err.code, err.msg);
    if (msg && !strstr(err.msg, msg))
        fail_msg("%s: message '%s' lacks '%s'", uri, err.msg, msg);
}

static void test_resolve_uri(void **state)
{
    char dir[64], db[PATH_MAX], blobdir[PATH_MAX], root[PATH_MAX], want[PATH_MAX + 128];
    char small[8];
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_store *s;
    struct skiff_blob *blob;
    struct skiff_tracking *t;
    const char *run = "0123456789abcdef0123456789abcdef";

    assert_non_null(test_tmpdir(dir, sizeof dir, "tracking-uri"));
    snprintf(db, sizeof db, "%s/skiff.db", dir);
    snprintf(blobdir, sizeof blobdir, "%s/artifacts", dir);
    assert_int_equal(skiff_store_open(db, &s, &err), 0);
    assert_int_equal(skiff_blob_open(blobdir, &blob, &err), 0);
    assert_int_equal(skiff_tracking_open(s, blob, &t, &err), 0);
    assert_non_null(realpath(blobdir, root));

    /* a run of experiment 0 and a model with three versions:
     * 1 in Production (alias champion), 2 in Staging from runs:/, 3 None
     * pointing at version 1 via models:/ */
    exec_ok(s, "INSERT INTO tracking_runs VALUES ('0123456789abcdef0123456789abcdef', 0, 'r',"
               " 'u', 'FINISHED', 1, 2, 'mlflow-artifacts:/0/0123456789abcdef0123456789abcdef"
               "/artifacts', 'active')");
    exec_ok(s, "INSERT INTO tracking_registered_models VALUES ('fraud-detector', 1, 1, NULL)");
    exec_ok(s, "INSERT INTO tracking_model_versions VALUES ('fraud-detector', 1, 1, 1, '',"
               " 'Production', 'src1', 'mlflow-artifacts:/0/0123456789abcdef0123456789abcdef"
               "/artifacts/model', NULL, '', 'READY')");
    exec_ok(s, "INSERT INTO tracking_model_versions VALUES ('fraud-detector', 2, 2, 2, '',"
               " 'Staging', 'src2', 'runs:/0123456789abcdef0123456789abcdef/model2', NULL, '',"
               " 'READY')");
    exec_ok(s, "INSERT INTO tracking_model_versions VALUES ('fraud-detector', 3, 3, 3, '',"
               " 'None', 'src3', 'models:/fraud-detector/1', NULL, '', 'READY')");
    exec_ok(s, "INSERT INTO tracking_model_aliases VALUES ('fraud-detector', 'champion', 1)");
    /* two versions pointing at each other: a loop */
    exec_ok(s, "INSERT INTO tracking_registered_models VALUES ('loop', 1, 1, NULL)");
    exec_ok(s, "INSERT INTO tracking_model_versions VALUES ('loop', 1, 1, 1, '', 'None', 's',"
               " 'models:/loop/2', NULL, '', 'READY')");
    exec_ok(s, "INSERT INTO tracking_model_versions VALUES ('loop', 2, 1, 1, '', 'None', 's',"
               " 'models:/loop/1', NULL, '', 'READY')");

    snprintf(want, sizeof want, "%s/mlflow/0/%s/artifacts/model", root, run);
    expect_path(t, "models:/fraud-detector/1", want);
    expect_path(t, "models:/fraud-detector@champion", want);
    expect_path(t, "models:/fraud-detector/production", want);
    expect_path(t, "models:/fraud-detector/3", want);       /* via models:/fraud-detector/1 */
    expect_path(t, "runs:/0123456789abcdef0123456789abcdef/model", want);
    expect_path(t, "mlflow-artifacts:/0/0123456789abcdef0123456789abcdef/artifacts/model", want);
    expect_path(t, "mlflow-artifacts://localhost:5000/0/0123456789abcdef0123456789abcdef"
                   "/artifacts/model", want);
    snprintf(want, sizeof want, "%s/mlflow/0/%s/artifacts/model2", root, run);
    expect_path(t, "models:/fraud-detector/Staging", want);
    snprintf(want, sizeof want, "%s/mlflow/0/%s/artifacts/model", root, run);
    expect_path(t, "models:/fraud-detector/latest", want);   /* version 3 -> version 1 */
    expect_path(t, "models:/fraud-detector@latest", want);
    snprintf(want, sizeof want, "%s/some/file.bin", root);
    expect_path(t, "some/file.bin", want);
    expect_path(t, "/opt/models/x.json", "/opt/models/x.json");
    expect_path(t, "file:///opt/models/x.json", "/opt/models/x.json");

    expect_fail(t, "models:/fraud-detector@nope", SKIFF_EINVAL, "alias nope not found");
    expect_fail(t, "models:/fraud-detector/9", SKIFF_ENOTFOUND, "version=9");
    expect_fail(t, "models:/unknown/1", SKIFF_ENOTFOUND, "name=unknown");
    expect_fail(t, "models:/fraud-detector/Archived", SKIFF_ENOTFOUND, "no version in stage");
    expect_fail(t, "models:/fraud-detector/bogus", SKIFF_EINVAL, "not a version");
    expect_fail(t, "models:/fraud-detector", SKIFF_EINVAL, "invalid model URI");
    expect_fail(t, "models:/a/b/1", SKIFF_EINVAL, "invalid model URI");
    expect_fail(t, "models:/@x", SKIFF_EINVAL, "invalid model URI");
    expect_fail(t, "models:/loop/1", SKIFF_EINVAL, "hops");
    expect_fail(t, "runs:/ffffffffffffffffffffffffffffffff/m", SKIFF_ENOTFOUND, "not found");
    expect_fail(t, "runs:/0123456789abcdef0123456789abcdef/../../x", SKIFF_EINVAL, "..");
    expect_fail(t, "mlflow-artifacts:/0/../../../etc/passwd", SKIFF_EINVAL, NULL);
    expect_fail(t, "../etc/passwd", SKIFF_EINVAL, NULL);
    expect_fail(t, "s3://bucket/x", SKIFF_EINVAL, "unknown scheme");
    assert_int_equal(skiff_tracking_resolve_uri(t, "/a/long/path", small, sizeof small, &err),
                     SKIFF_EINVAL);

    skiff_tracking_close(t);
    skiff_blob_close(blob);
    skiff_store_close(s);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_worked_example),
        cmocka_unit_test(test_filter_keys_with_dots_and_quotes),
        cmocka_unit_test(test_bad_filters),
        cmocka_unit_test(test_too_many_values),
        cmocka_unit_test(test_order_by),
        cmocka_unit_test(test_page_tokens),
        cmocka_unit_test(test_error_format),
        cmocka_unit_test(test_open_twice),
        cmocka_unit_test(test_resolve_uri),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
