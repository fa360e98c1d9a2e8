/* Unit tests for src/base/config.c: defaults, config.yaml, environment. */
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

#include "skiff/config.h"
#include "skiff/err.h"

static char dir[64];

static void write_config(const char *text)
{
    char path[128];
    FILE *f;
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    assert_non_null(test_tmpdir(dir, sizeof dir, "cfg"));
    unsetenv("SKIFF_LISTEN");
    unsetenv("SKIFF_STORE");
    unsetenv("SKIFF_TOKEN_TTL");
    return 0;
}

static int teardown(void **state)
{
    test_rmtree(dir);
    return 0;
}

static void test_defaults_without_a_file(void **state)
{
    struct skiff_config c;
    struct skiff_err err = SKIFF_ERR_INIT;
    char want[128];
    assert_int_equal(skiff_config_load(dir, &c, &err), 0);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    snprintf(want, sizeof want, "sqlite:%s/skiff.db", dir);
    assert_string_equal(c.store, want);
    assert_int_equal(c.token_ttl_s, 3600);
    assert_int_equal(c.admin_token_ttl_s, 30 * 86400);
}

static void test_file_then_environment(void **state)
{
    struct skiff_config c;
    struct skiff_err err = SKIFF_ERR_INIT;
    write_config("listen: 0.0.0.0:9000\ntoken_ttl: 15m\nstore: sqlite:${home}/other.db\n");
    assert_int_equal(skiff_config_load(dir, &c, &err), 0);
    assert_string_equal(c.listen, "0.0.0.0:9000");
    assert_int_equal(c.token_ttl_s, 900);
    assert_non_null(strstr(c.store, "/other.db"));
    setenv("SKIFF_LISTEN", "127.0.0.1:7000", 1);
    assert_int_equal(skiff_config_load(dir, &c, &err), 0);
    assert_string_equal(c.listen, "127.0.0.1:7000");
    unsetenv("SKIFF_LISTEN");
    assert_int_equal(skiff_config_set(&c, "listen", "127.0.0.1:1", &err), 0);
    assert_string_equal(c.listen, "127.0.0.1:1");
    assert_int_equal(skiff_config_set(&c, "nope", "x", &err), SKIFF_EINVAL);
}

static void test_errors_carry_the_position(void **state)
{
    struct skiff_config c;
    struct skiff_err err = SKIFF_ERR_INIT;
    write_config("listen: 127.0.0.1:1\nlistne: x\n");
    assert_int_equal(skiff_config_load(dir, &c, &err), SKIFF_EINVAL);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 9);    /* the key's value: "listne: x" */
    assert_non_null(strstr(err.where, "config.yaml"));
    assert_non_null(strstr(err.msg, "unknown config key 'listne'"));

    write_config("token_ttl: soon\n");
    assert_int_equal(skiff_config_load(dir, &c, &err), SKIFF_EINVAL);
    assert_int_equal(err.line, 1);
    assert_non_null(strstr(err.msg, "invalid duration 'soon'"));

    write_config("listen: [a, b]\n");
    assert_int_equal(skiff_config_load(dir, &c, &err), SKIFF_EINVAL);

    write_config("- just\n- a list\n");
    assert_int_equal(skiff_config_load(dir, &c, &err), SKIFF_EINVAL);

    write_config("listen: 127.0.0.1:1\n");
    setenv("SKIFF_TOKEN_TTL", "forever", 1);
    assert_int_equal(skiff_config_load(dir, &c, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "SKIFF_TOKEN_TTL"));
    unsetenv("SKIFF_TOKEN_TTL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults_without_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_then_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_carry_the_position, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
