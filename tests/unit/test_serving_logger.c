/* The payload log's file sink (src/serving/logger.c): line format, daily
 * files per service, revision refs dropped once written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serving/serving_int.h"
#include "skiff/err.h"
#include "testutil.h"

static struct serving__logrec *rec(struct serving__rev *rev, int64_t ts, const char *id, int mode)
{
    struct serving__logrec *r = calloc(1, sizeof *r);
    r->ts_us = ts;
    snprintf(r->id, sizeof r->id, "%s", id);
    r->nrows = 2;
    r->nfeat = 2;
    r->nout = 1;
    r->mode = mode;
    if (mode != 3) {
        r->x = malloc(4 * sizeof *r->x);
        r->x[0] = 1.5f, r->x[1] = NAN, r->x[2] = -2, r->x[3] = 0.25f;
    }
    if (mode != 2) {
        r->y = malloc(2 * sizeof *r->y);
        r->y[0] = 0.125, r->y[1] = 0.875;
    }
    atomic_fetch_add(&rev->refs, 1);
    r->rev = rev;
    return r;
}

static void test_lines_and_days(void **state)
{
    char dir[256], path[512], line[1024];
    struct serving__svc svc;
    struct serving__rev rev;
    struct serving__logger *l;
    struct skiff_err e = SKIFF_ERR_INIT;
    char *names[] = {"amount", "age"};
    FILE *f;
    int n = 0;

    memset(&svc, 0, sizeof svc);
    memset(&rev, 0, sizeof rev);
    snprintf(svc.name, sizeof svc.name, "fraud");
    snprintf(rev.name, sizeof rev.name, "fraud-predictor-00002");
    rev.svc = &svc;
    rev.feature_names = names;
    rev.nfeat = 2;
    assert_non_null(test_tmpdir(dir, sizeof dir, "payloads"));
    assert_int_equal(serving__logger_new(dir, 16, &l, &e), 0);
    /* 2026-11-27T23:59:59.5Z and the next day */
    serving__logger_push(l, rec(&rev, 1795823999500000, "a\"1", 1));
    serving__logger_push(l, rec(&rev, 1795824000000001, "b", 3));
    serving__logger_flush(l);
    assert_int_equal(atomic_load(&rev.refs), 0);

    snprintf(path, sizeof path, "%s/fraud/2026-11-27.jsonl", dir);
    assert_non_null(f = fopen(path, "r"));
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *o = json_loads(line, 0, &je);
        assert_non_null(o);
        assert_string_equal(json_string_value(json_object_get(o, "ts")),
                            "2026-11-27T23:59:59.500000Z");
        assert_string_equal(json_string_value(json_object_get(o, "id")), "a\"1");
        assert_string_equal(json_string_value(json_object_get(o, "revision")),
                            "fraud-predictor-00002");
        if (n == 0) {
            assert_true(json_number_value(json_object_get(json_object_get(o, "features"),
                                                          "amount")) == 1.5);
            /* a missing value is null */
            assert_true(json_is_null(json_object_get(json_object_get(o, "features"), "age")));
            assert_true(json_number_value(json_array_get(json_object_get(o, "outputs"), 0)) ==
                        0.125);
        }
        json_decref(o);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 2);
    snprintf(path, sizeof path, "%s/fraud/2026-11-28.jsonl", dir);
    assert_non_null(f = fopen(path, "r"));
    assert_non_null(fgets(line, sizeof line, f));
    assert_null(strstr(line, "features"));   /* mode response: outputs only */
    assert_non_null(strstr(line, "\"outputs\":[0.125]"));
    fclose(f);
    serving__logger_free(l);
    test_rmtree(dir);
}

/* CloudEvents attributes as header values: nothing a client sends in a
 * request id can start another header line. */
static void test_ce_header_value(void **state)
{
    char out[64];

    serving__ce_header_value("pay-1", out, sizeof out);
    assert_string_equal(out, "pay-1");
    serving__ce_header_value("a b\r\nx-evil: \"1\"%", out, sizeof out);
    assert_string_equal(out, "a%20b%0D%0Ax-evil:%20%221%22%25");
    serving__ce_header_value("caf\xc3\xa9", out, sizeof out);
    assert_string_equal(out, "caf%C3%A9");
    /* truncated at a whole escape, always terminated */
    serving__ce_header_value("ab  ", out, 6);
    assert_string_equal(out, "ab%20");
}

/* A URL-sink record whose receiver is down: the writer gives up (no file
 * written), drops the revision ref and frees the bodies. */
static void test_url_sink_down(void **state)
{
    char dir[256], path[512];
    struct serving__svc svc;
    struct serving__rev rev;
    struct serving__logger *l;
    struct serving__sink *sink = calloc(1, sizeof *sink + 64);
    struct serving__logrec *r;
    struct skiff_err e = SKIFF_ERR_INIT;
    FILE *f;

    memset(&svc, 0, sizeof svc);
    memset(&rev, 0, sizeof rev);
    snprintf(svc.name, sizeof svc.name, "fraud");
    snprintf(rev.name, sizeof rev.name, "fraud-predictor-00001");
    rev.svc = &svc;
    snprintf(sink->ns, sizeof sink->ns, "default");
    /* port 1 on loopback: nothing listens, the connection is refused */
    snprintf(sink->url, 64, "http://127.0.0.1:1/");
    assert_non_null(test_tmpdir(dir, sizeof dir, "payloads-ce"));
    assert_int_equal(serving__logger_new(dir, 4, &l, &e), 0);
    serving__logger_set_source(l, "http://127.0.0.1:8080");
    for (int i = 0; i < 3; i++) {
        r = rec(&rev, 1795823999500000, "ce", 1);
        r->sink = sink;
        r->body = malloc(17);
        memcpy(r->body, "{\"inputs\":[]}\0{}", 17);
        r->req_len = 13;
        r->resp_len = 2;
        serving__logger_push(l, r);
    }
    serving__logger_flush(l);
    assert_int_equal(atomic_load(&rev.refs), 0);
    snprintf(path, sizeof path, "%s/fraud/2026-11-27.jsonl", dir);
    assert_null(f = fopen(path, "r"));
    serving__logger_free(l);
    free(sink);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_and_days),
        cmocka_unit_test(test_ce_header_value),
        cmocka_unit_test(test_url_sink_down),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
