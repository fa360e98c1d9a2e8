/* Unit tests for src/resource/admission.c: admission callbacks on the write
 * path (skiff_resource_set_admission), over a real SQLite store in a
 * temporary folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/err.h"
#include "skiff/resource.h"
#include "skiff/store.h"

/* What the callback saw, and what it answers. */
struct judge {
    int calls;
    bool had_old, had_new;
    char old_key[64], new_key[64];   /* spec.joinKeys[0] of each */
    int answer;
};

struct fixture {
    char dir[64];
    struct skiff_store *store;
    const struct skiff_kind *entity;
    struct judge j;
};

static const char *const entity_kinds[] = {"Entity", NULL};

static const char *key_of(const json_t *o)
{
    return json_string_value(json_array_get(json_object_get(json_object_get(o, "spec"),
                                                            "joinKeys"), 0));
}

static int judge_cb(struct skiff_store *s, const struct skiff_kind *k, const json_t *old_obj,
                    const json_t *new_obj, void *ctx, struct skiff_err *err)
{
    struct judge *j = ctx;
    (void)s;
    assert_string_equal(k->kind, "Entity");
    j->calls++;
    j->had_old = old_obj != NULL;
    j->had_new = new_obj != NULL;
    snprintf(j->old_key, sizeof j->old_key, "%s", old_obj ? key_of(old_obj) : "");
    snprintf(j->new_key, sizeof j->new_key, "%s", new_obj ? key_of(new_obj) : "");
    if (j->answer)
        return skiff_err_set(err, j->answer, "key '%s' is not allowed", j->new_key);
    return 0;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct skiff_err err = SKIFF_ERR_INIT;
    char url[128];
    assert_non_null(test_tmpdir(f->dir, sizeof f->dir, "adm"));
    snprintf(url, sizeof url, "sqlite:%s/skiff.db", f->dir);
    assert_int_equal(skiff_store_open(url, &f->store, &err), 0);
    f->entity = skiff_kind_lookup("entity");
    assert_non_null(f->entity);
    assert_int_equal(skiff_resource_set_admission("test.skiff.dev", entity_kinds, judge_cb,
                                                  &f->j, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    skiff_resource_set_admission("test.skiff.dev", entity_kinds, NULL, NULL, NULL);
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

static void apply_ok(struct fixture *f, const char *name, const char *key)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *o = entity(name, key);
    assert_int_equal(skiff_resource_apply(f->store, f->entity, o, NULL, NULL, &err), 0);
    json_decref(o);
}

static void test_apply_is_judged_with_old_and_new(void **state)
{
    struct fixture *f = *state;
    apply_ok(f, "user", "user_id");
    assert_int_equal(f->j.calls, 1);
    assert_false(f->j.had_old);
    assert_string_equal(f->j.new_key, "user_id");

    apply_ok(f, "user", "uid");
    assert_int_equal(f->j.calls, 2);
    assert_true(f->j.had_old && f->j.had_new);
    assert_string_equal(f->j.old_key, "user_id");
    assert_string_equal(f->j.new_key, "uid");

    /* an apply that changes nothing writes nothing and is not judged */
    apply_ok(f, "user", "uid");
    assert_int_equal(f->j.calls, 2);
}

static void test_a_denial_is_403_and_stores_nothing(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *o, *got;

    apply_ok(f, "user", "user_id");
    f->j.answer = SKIFF_ECONFLICT;
    o = entity("user", "bad");
    assert_int_equal(skiff_resource_apply(f->store, f->entity, o, NULL, NULL, &err),
                     SKIFF_EFORBIDDEN);
    assert_int_equal(skiff_err_http_status(err.code), 403);
    assert_string_equal(err.msg, "admission \"test.skiff.dev\" denied the request: "
                                 "key 'bad' is not allowed");
    json_decref(o);
    assert_int_equal(skiff_resource_get(f->store, f->entity, "user", &got, &err), 0);
    assert_string_equal(key_of(got), "user_id");
    json_decref(got);

    /* create, with a name and with generateName, is judged as well */
    skiff_err_clear(&err);
    o = entity("other", "bad");
    assert_int_equal(skiff_resource_create(f->store, f->entity, o, NULL, &err), SKIFF_EFORBIDDEN);
    json_decref(o);
    o = json_pack("{s:s, s:s, s:{s:s}, s:{s:[s]}}", "apiVersion", "skiff.dev/v1", "kind",
                  "Entity", "metadata", "generateName", "gen-", "spec", "joinKeys", "bad");
    skiff_err_clear(&err);
    assert_int_equal(skiff_resource_create(f->store, f->entity, o, NULL, &err), SKIFF_EFORBIDDEN);
    assert_false(f->j.had_old);
    json_decref(o);
    assert_int_equal(skiff_resource_list(f->store, f->entity, &got, &err), 0);
    assert_int_equal(json_array_size(got), 1);
    json_decref(got);
}

static void test_a_check_that_cannot_run_keeps_its_code(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *o = entity("user", "user_id");

    f->j.answer = SKIFF_EUNAVAIL;
    assert_int_equal(skiff_resource_apply(f->store, f->entity, o, NULL, NULL, &err),
                     SKIFF_EUNAVAIL);
    assert_non_null(strstr(err.msg, "admission \"test.skiff.dev\" failed: "));
    json_decref(o);
}

static void test_delete_is_judged_with_the_old_object(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;

    apply_ok(f, "user", "user_id");
    f->j.answer = SKIFF_ECONFLICT;
    assert_int_equal(skiff_resource_delete(f->store, f->entity, "user", &err), SKIFF_EFORBIDDEN);
    assert_true(f->j.had_old);
    assert_false(f->j.had_new);
    assert_string_equal(f->j.old_key, "user_id");
    f->j.answer = 0;
    skiff_err_clear(&err);
    assert_int_equal(skiff_resource_delete(f->store, f->entity, "user", &err), 0);
    /* deleting nothing is "not found", with nothing to judge */
    int calls = f->j.calls;
    assert_int_equal(skiff_resource_delete(f->store, f->entity, "user", &err), SKIFF_ENOTFOUND);
    assert_int_equal(f->j.calls, calls);
}

static void test_registration(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    static const char *const bad[] = {"Entity", "NoSuchKind", NULL};
    const struct skiff_kind *role = skiff_kind_lookup("Role");
    json_t *o;

    assert_int_equal(skiff_resource_set_admission("x", bad, judge_cb, &f->j, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "NoSuchKind"));
    /* other kinds are not judged */
    assert_non_null(role);
    o = json_pack("{s:s, s:s, s:{s:s}, s:{s:[]}}", "apiVersion", "skiff.dev/v1", "kind", "Role",
                  "metadata", "name", "r1", "spec", "rules");
    skiff_err_clear(&err);
    skiff_resource_apply(f->store, role, o, NULL, NULL, &err);
    json_decref(o);
    assert_int_equal(f->j.calls, 0);
    /* removed: writes go through unjudged */
    assert_int_equal(skiff_resource_set_admission("test.skiff.dev", entity_kinds, NULL, NULL,
                                                  &err), 0);
    f->j.answer = SKIFF_ECONFLICT;
    apply_ok(f, "user", "user_id");
    assert_int_equal(f->j.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_apply_is_judged_with_old_and_new, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_denial_is_403_and_stores_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_check_that_cannot_run_keeps_its_code, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_delete_is_judged_with_the_old_object, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_registration, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
