/* Unit tests for src/base: errors, buffers, arena, time parsing, logging levels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/arena.h"
#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/log.h"
#include "skiff/time.h"

static void test_err_format_with_location(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    char buf[256];
    assert_int_equal(skiff_err_at(&e, SKIFF_EINVAL, "pipeline.yaml", 14, 7,
                                  "unknown template \"%s\"", "trainer"), SKIFF_EINVAL);
    assert_string_equal(skiff_err_format(&e, buf, sizeof buf),
                        "pipeline.yaml:14:7: unknown template \"trainer\"");
    skiff_err_prefix(&e, "applying");
    assert_string_equal(skiff_err_format(&e, buf, sizeof buf),
                        "pipeline.yaml:14:7: applying: unknown template \"trainer\"");
    assert_int_equal(skiff_err_http_status(SKIFF_ECONFLICT), 409);
    assert_string_equal(skiff_err_name(SKIFF_ENOTFOUND), "ENOTFOUND");
    assert_string_equal(skiff_err_name(9999), "UNKNOWN");
    assert_int_equal(skiff_err_http_status(-3), 500);
}

static void test_err_sys_cause(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    char buf[256];
    errno = ENOENT;
    skiff_err_sys(&e, SKIFF_EIO, "cannot open '%s'", "x.yaml");
    assert_int_equal(e.cause_errno, ENOENT);
    assert_string_equal(skiff_err_format(&e, buf, sizeof buf),
                        "cannot open 'x.yaml': No such file or directory");
    /* formatting into a tiny buffer truncates but terminates */
    skiff_err_format(&e, buf, 5);
    assert_string_equal(buf, "cann");
    skiff_err_clear(&e);
    assert_int_equal(e.code, 0);
    assert_int_equal(skiff_err_set(NULL, SKIFF_EIO, "ignored"), SKIFF_EIO);
}

static void test_buf_grow_cap_detach(void **state)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    assert_string_equal(b.ptr, "");
    for (int i = 0; i < 1000; i++)
        assert_int_equal(skiff_buf_appendf(&b, "%d,", i), 0);
    assert_true(skiff_str_startswith(b.ptr, "0,1,2,"));
    assert_true(skiff_str_endswith(b.ptr, "998,999,"));
    char *s = skiff_buf_detach(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.ptr, "");
    free(s);

    skiff_buf_init(&b, 8);
    assert_int_equal(skiff_buf_puts(&b, "12345678"), 0);
    assert_int_equal(skiff_buf_putc(&b, '9'), SKIFF_ETOOBIG);
    assert_string_equal(b.ptr, "12345678");  /* unchanged after a refused append */
    skiff_buf_reset(&b);
    assert_int_equal(skiff_buf_json_str(&b, "a\"\n"), 0);
    assert_string_equal(b.ptr, "\"a\\\"\\n\"");
    skiff_buf_release(&b);
    skiff_buf_release(NULL);
}

static void test_strings(void **state)
{
    char small[4];
    assert_true(skiff_str_ieq("InferenceService", "inferenceservice"));
    assert_false(skiff_str_ieq("isvc", NULL));
    assert_false(skiff_strlcpy(small, "abcdef", sizeof small));
    assert_string_equal(small, "abc");
    assert_true(skiff_strlcpy(small, "ab", sizeof small));
    assert_null(skiff_strdup(NULL));
}

static void test_arena(void **state)
{
    struct skiff_arena *a = skiff_arena_new(0);
    assert_non_null(a);
    char *first = skiff_arena_strdup(a, "hello");
    for (int i = 0; i < 5000; i++) {
        int *p = skiff_arena_alloc(a, sizeof(int) * 3);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % sizeof(void *), 0);
        p[0] = p[1] = p[2] = i;
    }
    void *big = skiff_arena_alloc(a, 100000);  /* larger than a block */
    assert_non_null(big);
    memset(big, 1, 100000);
    assert_string_equal(first, "hello");
    assert_string_equal(skiff_arena_sprintf(a, "%s-%d", "x", 7), "x-7");
    skiff_arena_reset(a);
    assert_int_equal(skiff_arena_used(a), 0);
    assert_non_null(skiff_arena_calloc(a, 10, 10));
    skiff_arena_free(a);

    /* a capped arena refuses past its cap */
    a = skiff_arena_new(1024);
    assert_non_null(skiff_arena_alloc(a, 1000));
    assert_null(skiff_arena_alloc(a, 100));
    assert_null(skiff_arena_calloc(a, SIZE_MAX / 2, 4));
    skiff_arena_free(a);
    skiff_arena_free(NULL);
}

static void test_time_parse(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    int64_t t;
    char buf[40];
    /* 2026-11-27T09:14:02Z = 1795770842 (date -u -d @1795770842) */
    assert_int_equal(skiff_time_parse("2026-11-27T09:14:02Z", &t, &e), 0);
    assert_int_equal(t, INT64_C(1795770842) * 1000000);
    assert_int_equal(skiff_time_parse("2026-11-27T10:14:02.5+01:00", &t, &e), 0);
    assert_int_equal(t, INT64_C(1795770842) * 1000000 + 500000);
    assert_int_equal(skiff_time_parse("2026-11-27T04:14:02-0500", &t, &e), 0);
    assert_int_equal(t, INT64_C(1795770842) * 1000000);
    assert_int_equal(skiff_time_parse("2026-11-27 09:14:02", &t, &e), 0);
    assert_int_equal(t, INT64_C(1795770842) * 1000000);
    assert_int_equal(skiff_time_parse("1970-01-01", &t, &e), 0);
    assert_int_equal(t, 0);
    assert_int_equal(skiff_time_parse("1795770842", &t, &e), 0);
    assert_int_equal(t, INT64_C(1795770842) * 1000000);
    assert_int_equal(skiff_time_parse("1795770842250", &t, &e), 0);
    assert_int_equal(t, INT64_C(1795770842250) * 1000);
    assert_int_equal(skiff_time_parse("1795770842.25", &t, &e), 0);
    assert_int_equal(t, INT64_C(1795770842250000));
    assert_int_equal(skiff_time_parse("2024-02-29T00:00:00Z", &t, &e), 0);
    assert_string_equal(skiff_time_format(t, buf, sizeof buf), "2024-02-29T00:00:00.000Z");
    /* bad input: errors, never garbage */
    const char *bad[] = {"", "2023-02-29", "2026-13-01", "2026-11-27T25:00Z", "yesterday",
                         "2026-11-27T09:14:02+", "12ab", "2026-11-27T09:14:02.Z"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(skiff_time_parse(bad[i], &t, &e), SKIFF_EINVAL);
        assert_non_null(strstr(e.msg, "invalid timestamp") ? e.msg : strstr(e.msg, "empty"));
    }
}

static void test_duration(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    int64_t d;
    char buf[32];
    assert_int_equal(skiff_duration_parse("7d", &d, &e), 0);
    assert_int_equal(d, INT64_C(7) * 86400 * 1000000);
    assert_string_equal(skiff_duration_format(d, buf, sizeof buf), "7d");
    assert_int_equal(skiff_duration_parse("90s", &d, &e), 0);
    assert_string_equal(skiff_duration_format(d, buf, sizeof buf), "1m30s");
    assert_int_equal(skiff_duration_parse("1h30m", &d, &e), 0);
    assert_int_equal(d, INT64_C(5400) * 1000000);
    assert_int_equal(skiff_duration_parse("1.5h", &d, &e), 0);
    assert_int_equal(d, INT64_C(5400) * 1000000);
    assert_int_equal(skiff_duration_parse("250ms", &d, &e), 0);
    assert_int_equal(d, 250000);
    assert_int_equal(skiff_duration_parse("30", &d, &e), 0);
    assert_int_equal(d, 30000000);
    assert_int_equal(skiff_duration_parse("2w", &d, &e), 0);
    assert_int_equal(d, INT64_C(14) * 86400 * 1000000);
    const char *bad[] = {"", "7x", "d", "-5s", "1h 30m", "5s3", "99999999999999999999d"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(skiff_duration_parse(bad[i], &d, &e), SKIFF_EINVAL);
}

static void test_log_levels(void **state)
{
    assert_int_equal(skiff_log_level_parse("DEBUG"), SKIFF_LOG_DEBUG);
    assert_int_equal(skiff_log_level_parse("warning"), SKIFF_LOG_WARN);
    assert_int_equal(skiff_log_level_parse("loud"), -1);
    skiff_log_set_level(SKIFF_LOG_WARN);
    assert_false(skiff_log_enabled(SKIFF_LOG_INFO));
    assert_true(skiff_log_enabled(SKIFF_LOG_ERROR));
    skiff_log_set_level(SKIFF_LOG_OFF);
    assert_false(skiff_log_enabled(SKIFF_LOG_ERROR));
    skiff_log(SKIFF_LOG_ERROR, "not printed");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_format_with_location),
        cmocka_unit_test(test_err_sys_cause),
        cmocka_unit_test(test_buf_grow_cap_detach),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_arena),
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_log_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
