/* Unit tests for src/features/admit.c: the admission's judgement
 * (skiff_feat_admit_check) and the sending order of a set of changes
 * (skiff_feat_apply_order), on definitions held in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "skiff/err.h"
#include "skiff/features.h"

/* The admission's header comment's example: user, src, stats (a, b), svc
 * reading stats:a; plus a push source over src. */
#define ENTITY "{\"apiVersion\":\"skiff.dev/v1\",\"kind\":\"Entity\",\"metadata\":{\"name\":" \
               "\"user\"},\"spec\":{\"joinKeys\":[\"user_id\"]}}"
#define SOURCE "{\"apiVersion\":\"skiff.dev/v1\",\"kind\":\"DataSource\",\"metadata\":{\"name\":" \
               "\"src\"},\"spec\":{\"file\":{\"path\":\"x.csv\"}}}"
#define PUSH "{\"apiVersion\":\"skiff.dev/v1\",\"kind\":\"DataSource\",\"metadata\":{\"name\":" \
             "\"src_push\"},\"spec\":{\"push\":{\"batchSource\":\"src\"}}}"

static json_t *view(const char *name, const char *source, const char *fields)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"apiVersion\":\"skiff.dev/v1\",\"kind\":\"FeatureView\",\"metadata\":{\"name\":"
             "\"%s\"},\"spec\":{\"entities\":[\"user\"],\"source\":\"%s\",\"fields\":[%s]}}",
             name, source, fields);
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    return o;
}

static json_t *service(const char *name, const char *features)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"apiVersion\":\"skiff.dev/v1\",\"kind\":\"FeatureService\",\"metadata\":"
             "{\"name\":\"%s\"},\"spec\":{\"features\":[%s]}}", name, features);
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    return o;
}

#define AB "{\"name\":\"a\",\"dtype\":\"INT64\"},{\"name\":\"b\",\"dtype\":\"DOUBLE\"}"

static json_t *platform(void)
{
    json_t *all = json_array();
    json_array_append_new(all, json_loads(ENTITY, 0, NULL));
    json_array_append_new(all, json_loads(SOURCE, 0, NULL));
    json_array_append_new(all, json_loads(PUSH, 0, NULL));
    json_array_append_new(all, view("stats", "src", AB));
    json_array_append_new(all, service("svc", "\"stats:a\""));
    return all;
}

static int check(const json_t *stored, const char *kind, const char *name, json_t *obj,
                 struct skiff_err *err)
{
    int rc;
    skiff_err_clear(err);
    rc = skiff_feat_admit_check(stored, kind, name, obj, err);
    json_decref(obj);
    return rc;
}

static void test_the_worked_example(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *p = platform();
    (void)state;

    /* drop a: svc no longer resolves */
    assert_int_equal(check(p, "FeatureView", "stats",
                           view("stats", "src", "{\"name\":\"b\",\"dtype\":\"DOUBLE\"}"), &err),
                     SKIFF_ECONFLICT);
    assert_non_null(strstr(err.msg, "the change breaks FeatureService 'svc', which is in use"));
    assert_non_null(strstr(err.msg, "view 'stats' has no feature 'a'"));
    /* a changes type */
    assert_int_equal(check(p, "FeatureView", "stats",
                           view("stats", "src", "{\"name\":\"a\",\"dtype\":\"DOUBLE\"}"), &err),
                     SKIFF_ECONFLICT);
    assert_non_null(strstr(err.msg, "as INT64: it would become DOUBLE"));
    /* b is not read by svc: dropping it, or adding c, is fine */
    assert_int_equal(check(p, "FeatureView", "stats",
                           view("stats", "src", "{\"name\":\"a\",\"dtype\":\"INT64\"}"), &err), 0);
    assert_int_equal(check(p, "FeatureView", "stats",
                           view("stats", "src", AB ",{\"name\":\"c\",\"dtype\":\"BOOL\"}"), &err),
                     0);
    /* the view moves to the push source: it still resolves */
    assert_int_equal(check(p, "FeatureView", "stats", view("stats", "src_push", AB), &err), 0);
    /* deletes: the view, its source, its entity are in use; the service is not */
    assert_int_equal(check(p, "FeatureView", "stats", NULL, &err), SKIFF_ECONFLICT);
    assert_non_null(strstr(err.msg, "no such FeatureView"));
    assert_int_equal(check(p, "DataSource", "src", NULL, &err), SKIFF_ECONFLICT);
    assert_int_equal(check(p, "Entity", "user", NULL, &err), SKIFF_ECONFLICT);
    assert_int_equal(check(p, "FeatureService", "svc", NULL, &err), 0);
    /* the push source is not used by anything: it may go */
    assert_int_equal(check(p, "DataSource", "src_push", NULL, &err), 0);
    json_decref(p);
}

static void test_whole_view_services_keep_every_feature(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *p = platform();
    (void)state;

    json_array_append_new(p, service("all", "{\"view\":\"stats\"}"));
    assert_int_equal(check(p, "FeatureView", "stats",
                           view("stats", "src", "{\"name\":\"a\",\"dtype\":\"INT64\"}"), &err),
                     SKIFF_ECONFLICT);
    assert_non_null(strstr(err.msg, "FeatureService 'all', which reads every feature of view "
                                    "'stats': 'b' would be gone"));
    json_decref(p);
}

static void test_what_does_not_work_today_is_not_in_use(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *p = platform();
    (void)state;

    /* a service whose view does not exist yet: accepted, and it does not
     * stand in the way of later writes */
    assert_int_equal(check(p, "FeatureService", "later", service("later", "\"soon\""), &err), 0);
    json_array_append_new(p, service("later", "\"soon:x\""));
    assert_int_equal(check(p, "FeatureView", "stats",
                           view("stats", "src", "{\"name\":\"a\",\"dtype\":\"INT64\"}"), &err), 0);
    json_decref(p);
}

static void test_a_push_sources_batch_source_is_in_use(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *p = json_array();
    (void)state;

    json_array_append_new(p, json_loads(ENTITY, 0, NULL));
    json_array_append_new(p, json_loads(SOURCE, 0, NULL));
    json_array_append_new(p, json_loads(PUSH, 0, NULL));
    json_array_append_new(p, view("pv", "src_push", AB));
    json_array_append_new(p, service("psvc", "\"pv\""));
    assert_int_equal(check(p, "DataSource", "src", NULL, &err), SKIFF_ECONFLICT);
    assert_non_null(strstr(err.msg, "push source 'src_push' reads batchSource 'src'"));
    json_decref(p);
}

static void test_apply_order(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *p = platform(), *local = json_array();
    size_t order[2];
    (void)state;

    /* contract: stats drops a, svc switches to b; in the files view first */
    json_array_append_new(local, view("stats", "src", "{\"name\":\"b\",\"dtype\":\"DOUBLE\"}"));
    json_array_append_new(local, service("svc", "\"stats:b\""));
    assert_int_equal(skiff_feat_apply_order(p, local, order, &err), 0);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 0);
    json_decref(local);

    /* expand: stats gains c, svc reads it: view first, the files' order */
    local = json_array();
    json_array_append_new(local, view("stats", "src", AB ",{\"name\":\"c\",\"dtype\":\"BOOL\"}"));
    json_array_append_new(local, service("svc", "\"stats:c\""));
    assert_int_equal(skiff_feat_apply_order(p, local, order, &err), 0);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 1);
    json_decref(local);

    /* rename a -> a2 while svc switches: no order works */
    local = json_array();
    json_array_append_new(local, view("stats", "src",
                                      "{\"name\":\"a2\",\"dtype\":\"INT64\"},"
                                      "{\"name\":\"b\",\"dtype\":\"DOUBLE\"}"));
    json_array_append_new(local, service("svc", "\"stats:a2\""));
    assert_int_equal(skiff_feat_apply_order(p, local, order, &err), SKIFF_ECONFLICT);
    assert_non_null(strstr(err.msg, "no order of the changes"));
    assert_non_null(strstr(err.msg, "has no feature 'a'"));
    json_decref(local);
    json_decref(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_worked_example),
        cmocka_unit_test(test_whole_view_services_keep_every_feature),
        cmocka_unit_test(test_what_does_not_work_today_is_not_in_use),
        cmocka_unit_test(test_a_push_sources_batch_source_is_in_use),
        cmocka_unit_test(test_apply_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
