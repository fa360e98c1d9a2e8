/* Derived-field comparisons: "max_risk_24h > 0.8" is a BOOL feature (1 or
 * 0), nulls stay null, and comparisons do not chain. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "skiff/err.h"
#include "skiff/features.h"

static double eval(const char *text, double a, double b, bool *is_value)
{
    const char *names[] = {"a", "b"};
    double vals[] = {a, b}, r = -1;
    uint8_t valid[] = {1, 1};
    struct skiff_feat_expr *e;
    struct skiff_err err = SKIFF_ERR_INIT;

    assert_int_equal(skiff_feat_expr_parse(text, names, 2, &e, &err), 0);
    *is_value = skiff_feat_expr_eval(e, vals, valid, &r);
    skiff_feat_expr_free(e);
    return r;
}

static void test_comparisons(void **state)
{
    struct { const char *text; double a, b, want; } cases[] = {
        {"a > 0.8", 0.81, 0, 1}, {"a > 0.8", 0.8, 0, 0},   {"a >= 0.8", 0.8, 0, 1},
        {"a < b", 1, 2, 1},      {"a <= b", 2, 2, 1},      {"a == b", 2, 2, 1},
        {"a != b", 2, 2, 0},     {"a+1 > b*2", 3, 1.5, 1}, {"(a > b) * 10 + 1", 2, 1, 11},
        {"-a < -b", 2, 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bool ok;
        double r = eval(cases[i].text, cases[i].a, cases[i].b, &ok);
        assert_true(ok);
        if (r != cases[i].want)
            fail_msg("%s with a=%g b=%g: %g, want %g", cases[i].text, cases[i].a, cases[i].b, r,
                     cases[i].want);
    }
}

static void test_null_and_errors(void **state)
{
    const char *names[] = {"a", "b"};
    double vals[] = {1, 2}, r;
    uint8_t valid[] = {1, 0};
    struct skiff_feat_expr *e;
    struct skiff_err err = SKIFF_ERR_INIT;

    assert_int_equal(skiff_feat_expr_parse("a < b", names, 2, &e, &err), 0);
    assert_false(skiff_feat_expr_eval(e, vals, valid, &r));   /* null operand: null, not 0 */
    skiff_feat_expr_free(e);

    assert_int_equal(skiff_feat_expr_parse("a < b < 3", names, 2, &e, &err), SKIFF_EINVAL);
    assert_null(e);
    assert_string_equal(err.msg, "expression \"a < b < 3\", position 7: comparisons do not "
                                 "chain (write (a < b) * (b < c))");
    skiff_err_clear(&err);
    assert_int_equal(skiff_feat_expr_parse("a <", names, 2, &e, &err), SKIFF_EINVAL);
    assert_string_equal(err.msg, "expression \"a <\", position 4: expected a number, a field or "
                                 "'(' at the end");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_comparisons),
        cmocka_unit_test(test_null_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
