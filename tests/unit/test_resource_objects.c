/* Unit tests for src/resource/objects.c: stored objects over a real SQLite
 * store in a temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skiff/err.h"
#include "skiff/resource.h"
#include "skiff/store.h"

struct fixture {
    char dir[64];
    struct skiff_store *store;
    const struct skiff_kind *entity;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct skiff_err err = SKIFF_ERR_INIT;
    char url[128];
    assert_non_null(test_tmpdir(f->dir, sizeof f->dir, "res"));
    snprintf(url, sizeof url, "sqlite:%s/skiff.db", f->dir);
    assert_int_equal(skiff_store_open(url, &f->store, &err), 0);
    f->entity = skiff_kind_lookup("entity");
    assert_non_null(f->entity);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    skiff_store_close(f->store);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static json_t *entity(const char *name, const char *key)
{
    return json_pack("{s:s, s:s, s:{s:s}, s:{s:[s]}}", "apiVersion", "skiff.dev/v1", "kind",
                     "Entity", "metadata", "name", name, "spec", "joinKeys", key);
}

static const char *md(json_t *o, const char *k)
{
    return json_string_value(json_object_get(json_object_get(o, "metadata"), k));
}

static json_int_t generation(json_t *o)
{
    return json_integer_value(json_object_get(json_object_get(o, "metadata"), "generation"));
}

static void test_apply_stamps_metadata_and_tracks_generation(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    enum skiff_apply_result res;
    json_t *obj = entity("user", "user_id"), *s1, *s2, *s3;

    assert_int_equal(skiff_resource_apply(f->store, f->entity, obj, &s1, &res, &err), 0);
    assert_int_equal(res, SKIFF_APPLY_CREATED);
    assert_int_equal(strlen(md(s1, "uid")), 36);
    assert_int_equal(generation(s1), 1);
    assert_non_null(md(s1, "creationTimestamp"));

    /* same object again: nothing written, resourceVersion kept */
    assert_int_equal(skiff_resource_apply(f->store, f->entity, obj, &s2, &res, &err), 0);
    assert_int_equal(res, SKIFF_APPLY_UNCHANGED);
    assert_string_equal(md(s1, "resourceVersion"), md(s2, "resourceVersion"));

    /* a label change is a write but not a new generation */
    json_object_set_new(json_object_get(obj, "metadata"), "labels", json_pack("{s:s}", "a", "b"));
    json_decref(s2);
    assert_int_equal(skiff_resource_apply(f->store, f->entity, obj, &s2, &res, &err), 0);
    assert_int_equal(res, SKIFF_APPLY_CONFIGURED);
    assert_int_equal(generation(s2), 1);
    assert_true(atoll(md(s2, "resourceVersion")) > atoll(md(s1, "resourceVersion")));

    /* a spec change is a new generation; uid and creationTimestamp stay */
    json_array_set_new(json_object_get(json_object_get(obj, "spec"), "joinKeys"), 0,
                       json_string("account_id"));
    assert_int_equal(skiff_resource_apply(f->store, f->entity, obj, &s3, &res, &err), 0);
    assert_int_equal(generation(s3), 2);
    assert_string_equal(md(s1, "uid"), md(s3, "uid"));
    assert_string_equal(md(s1, "creationTimestamp"), md(s3, "creationTimestamp"));
    json_decref(s1);
    json_decref(s2);
    json_decref(s3);
    json_decref(obj);
}

static void test_stale_resource_version_conflicts(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *obj = entity("card", "card_id"), *s1, *s2, *cur;

    assert_int_equal(skiff_resource_apply(f->store, f->entity, obj, &s1, NULL, &err), 0);
    json_object_set_new(json_object_get(obj, "metadata"), "resourceVersion",
                        json_string(md(s1, "resourceVersion")));
    json_object_set_new(json_object_get(obj, "spec"), "description", json_string("v2"));
    assert_int_equal(skiff_resource_apply(f->store, f->entity, obj, &s2, NULL, &err), 0);
    /* obj still carries s1's resourceVersion */
    json_object_set_new(json_object_get(obj, "spec"), "description", json_string("v3"));
    assert_int_equal(skiff_resource_apply(f->store, f->entity, obj, NULL, NULL, &err),
                     SKIFF_ECONFLICT);
    assert_non_null(strstr(err.msg, "was modified"));
    assert_int_equal(skiff_resource_get(f->store, f->entity, "card", &cur, &err), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(cur, "spec"), "description")), "v2");
    json_decref(cur);
    json_decref(s1);
    json_decref(s2);
    json_decref(obj);
}

static void test_status_survives_user_apply(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *obj = entity("merchant", "merchant_id"), *status = json_pack("{s:s}", "phase", "Ready"), *cur;

    assert_int_equal(skiff_resource_apply(f->store, f->entity, obj, NULL, NULL, &err), 0);
    assert_int_equal(skiff_resource_set_status(f->store, f->entity, "merchant", status, &err), 0);
    /* the user's file has a status of its own: ignored */
    json_object_set_new(obj, "status", json_pack("{s:s}", "phase", "Forged"));
    json_object_set_new(json_object_get(obj, "spec"), "description", json_string("x"));
    assert_int_equal(skiff_resource_apply(f->store, f->entity, obj, &cur, NULL, &err), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(cur, "status"), "phase")), "Ready");
    json_decref(cur);
    assert_int_equal(skiff_resource_set_status(f->store, f->entity, "nobody", status, &err),
                     SKIFF_ENOTFOUND);
    json_decref(status);
    json_decref(obj);
}

static void test_create_generate_name_list_delete(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *obj = json_pack("{s:s, s:s, s:{s:s}, s:{s:[s]}}", "apiVersion", "skiff.dev/v1",
                            "kind", "Entity", "metadata", "generateName", "run-", "spec",
                            "joinKeys", "k"), *a, *b, *list;

    assert_int_equal(skiff_resource_create(f->store, f->entity, obj, &a, &err), 0);
    assert_int_equal(skiff_resource_create(f->store, f->entity, obj, &b, &err), 0);
    assert_int_equal(strlen(md(a, "name")), 9);
    assert_memory_equal(md(a, "name"), "run-", 4);
    assert_string_not_equal(md(a, "name"), md(b, "name"));
    assert_int_equal(skiff_resource_apply(f->store, f->entity, obj, NULL, NULL, &err), SKIFF_EINVAL);

    /* create of an existing name is EEXIST */
    json_t *named = entity(md(a, "name"), "k");
    assert_int_equal(skiff_resource_create(f->store, f->entity, named, NULL, &err), SKIFF_EEXIST);
    json_decref(named);

    assert_int_equal(skiff_resource_list(f->store, f->entity, &list, &err), 0);
    assert_int_equal(json_array_size(list), 2);
    /* ordered by name */
    assert_true(strcmp(md(json_array_get(list, 0), "name"), md(json_array_get(list, 1), "name")) < 0);
    json_decref(list);

    assert_int_equal(skiff_resource_delete(f->store, f->entity, md(a, "name"), &err), 0);
    assert_int_equal(skiff_resource_delete(f->store, f->entity, md(a, "name"), &err), SKIFF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "entity.skiff.dev"));
    assert_int_equal(skiff_resource_get(f->store, f->entity, md(a, "name"), &list, &err), SKIFF_ENOTFOUND);
    assert_null(list);
    json_decref(a);
    json_decref(b);
    json_decref(obj);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_apply_stamps_metadata_and_tracks_generation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_resource_version_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_survives_user_apply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_generate_name_list_delete, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
