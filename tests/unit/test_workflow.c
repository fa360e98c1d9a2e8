/* Unit tests for src/workflow's stateless pieces: `when` and `depends`
 * expressions, {{...}} substitution, Kubernetes quantities. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/err.h"
#include "skiff/workflow.h"

/* ---- when ---- */

struct when_case {
    const char *expr;
    int rc;        /* 0 or SKIFF_EINVAL */
    bool value;
};

static const struct when_case when_cases[] = {
    /* numbers compare as numbers */
    {"0.97 > 0.95", 0, true},
    {"0.90 > 0.95", 0, false},
    {"10 > 9", 0, true},           /* as strings "10" < "9" */
    {"5 == 5.0", 0, true},
    {"1e3 >= 1000", 0, true},
    {"-1 < 0", 0, true},
    {"0x10 == 16", 0, true},
    /* strings compare as strings; bare words are strings */
    {"heads == heads", 0, true},
    {"abc == 'abc'", 0, true},
    {"'b' > 'a'", 0, true},
    {"'10' < '9'", 0, true},
    {"\"x y\" == 'x y'", 0, true},
    {"'it\\'s' == \"it's\"", 0, true},
    {"[my-value] == 'my-value'", 0, true},
    /* deep equality across types is false, not an error */
    {"'5' == 5", 0, false},
    {"'5' != 5", 0, true},
    {"true == 'true'", 0, false},
    /* logic */
    {"true && false", 0, false},
    {"true || false", 0, true},
    {"!false", 0, true},
    {"!(1 > 2) && (2 > 1 || x == y)", 0, true},
    {"1 < 2 && 2 < 3 && 3 < 4", 0, true},
    {"false && 1 > abc", 0, false},     /* short-circuit: the type error is not reached */
    {"true || 1 > abc", 0, true},
    {"'abc' =~ '^a.c$'", 0, true},
    {"'abc' !~ 'z'", 0, true},
    {"Succeeded == Succeeded", 0, true},
    /* errors */
    {"1 > abc", SKIFF_EINVAL, false},   /* mixed types with an ordering comparator */
    {"1 + 2", SKIFF_EINVAL, false},
    {"1", SKIFF_EINVAL, false},         /* not a boolean */
    {"my-value == 'my-value'", SKIFF_EINVAL, false},
    {"v1.2 == 'x'", SKIFF_EINVAL, false},
    {"1.2.3 == 1", SKIFF_EINVAL, false},
    {"3abc == 3", SKIFF_EINVAL, false},
    {"{{x}} == 1", SKIFF_EINVAL, false},
    {"(1 > 2", SKIFF_EINVAL, false},
    {"1 > 2)", SKIFF_EINVAL, false},
    {"'unclosed == 1", SKIFF_EINVAL, false},
    {"", SKIFF_EINVAL, false},
    {"&&", SKIFF_EINVAL, false},
    {"!1", SKIFF_EINVAL, false},
    {"a in (a, b)", SKIFF_EINVAL, false},
    {"1 =~ 'x'", SKIFF_EINVAL, false},
    {"'a' =~ '('", SKIFF_EINVAL, false},
};

static void test_when_table(void **state)
{
    for (size_t i = 0; i < sizeof when_cases / sizeof *when_cases; i++) {
        const struct when_case *c = &when_cases[i];
        struct skiff_err e = SKIFF_ERR_INIT;
        bool v = !c->value;
        int rc = skiff_workflow_when(c->expr, &v, &e);
        if (rc != c->rc || (rc == 0 && v != c->value))
            fail_msg("when '%s': rc %d value %d (%s), want rc %d value %d", c->expr, rc, v,
                     e.msg, c->rc, c->value);
        if (rc)
            assert_true(e.msg[0] != '\0');
    }
}

static void test_when_messages(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    bool v;
    assert_int_equal(skiff_workflow_when("0.9 > abc", &v, &e), SKIFF_EINVAL);
    assert_string_equal(e.msg, "Value 'abc' cannot be used with the comparator '>', it is not a "
                               "number");
    assert_int_equal(skiff_workflow_when("1 + 1 == 2", &v, &e), SKIFF_EINVAL);
    assert_non_null(strstr(e.msg, "Invalid token: '+ '"));
    assert_non_null(strstr(e.msg, "hint: try wrapping"));
    /* syntax only: type errors are not checked */
    assert_int_equal(skiff_workflow_when_check("0 > abc && 0 == 0", &e), 0);
    assert_int_equal(skiff_workflow_when_check("0 >> 3", &e), SKIFF_EINVAL);
}

static void test_when_never_crashes(void **state)
{
    static const char alphabet[] = "()!&|=<>~'\"[]{}.-+ 0123456789abcXYZ\\\t\x80\xff";
    char buf[64];
    char *deep = malloc(20001);
    unsigned seed = 12345;
    struct skiff_err e = SKIFF_ERR_INIT;
    bool v;

    for (int n = 0; n < 20000; n++) {
        size_t len = (seed = seed * 1103515245 + 12345) % (sizeof buf - 1);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245 + 12345;
            buf[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        buf[len] = '\0';
        int rc = skiff_workflow_when(buf, &v, &e);
        assert_true(rc == 0 || rc == SKIFF_EINVAL);
        rc = skiff_workflow_depends(buf, NULL, NULL, &v, &e);
        assert_true(rc == 0 || rc == SKIFF_EINVAL);
    }
    /* nesting deep enough to exhaust a naive recursion is an error */
    memset(deep, '(', 20000);
    deep[20000] = '\0';
    assert_int_equal(skiff_workflow_when(deep, &v, &e), SKIFF_EINVAL);
    memset(deep, '!', 20000);
    assert_int_equal(skiff_workflow_depends(deep, NULL, NULL, &v, &e), SKIFF_EINVAL);
    assert_int_equal(skiff_workflow_when(NULL, &v, &e), SKIFF_EINVAL);
    free(deep);
}

/* ---- depends ---- */

/* a Succeeded, b Failed, c Skipped; other names are unknown */
static int results(void *ctx, const char *task, const char *result, bool *out,
                   struct skiff_err *err)
{
    const char *phase = strcmp(task, "a") == 0   ? "Succeeded"
                        : strcmp(task, "b") == 0 ? "Failed"
                        : strcmp(task, "my-task") == 0 ? "Succeeded"
                        : strcmp(task, "c") == 0 ? "Skipped"
                                                 : NULL;
    (*(int *)ctx)++;
    if (!phase)
        return skiff_err_set(err, SKIFF_EINVAL, "unknown task \"%s\"", task);
    if (!result)
        *out = strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Skipped") == 0;
    else
        *out = strcmp(result, phase) == 0;
    return 0;
}

static void test_depends(void **state)
{
    static const struct { const char *expr; int rc; bool value; } cases[] = {
        {"a.Succeeded && (b.Failed || b.Skipped)", 0, true},
        {"a.Succeeded && b.Succeeded", 0, false},
        {"a", 0, true},
        {"c", 0, true},                 /* a bare name: Succeeded || Skipped */
        {"b", 0, false},
        {"!b.Succeeded", 0, true},
        {"my-task.Succeeded", 0, true},
        {"a && c && !(b.Succeeded)", 0, true},
        {"z.Succeeded", SKIFF_EINVAL, false},
        {"a.Succeeded &&", SKIFF_EINVAL, false},
        {"(a", SKIFF_EINVAL, false},
        {"a b", SKIFF_EINVAL, false},
        {"a == b", SKIFF_EINVAL, false},
        {".Succeeded", SKIFF_EINVAL, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct skiff_err e = SKIFF_ERR_INIT;
        int calls = 0;
        bool v = !cases[i].value;
        int rc = skiff_workflow_depends(cases[i].expr, results, &calls, &v, &e);
        if (rc != cases[i].rc || (rc == 0 && v != cases[i].value))
            fail_msg("depends '%s': rc %d value %d (%s)", cases[i].expr, rc, v, e.msg);
    }
}

/* ---- substitution ---- */

static const char *vars(void *ctx, const char *name)
{
    static const char *const kv[][2] = {
        {"workflow.name", "wf-1"},
        {"inputs.parameters.x", "42"},
        {"tasks.evaluate.outputs.parameters.auc", "0.97"},
        {"item", "a"},
        {"empty", ""},
    };
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
        if (strcmp(kv[i][0], name) == 0)
            return kv[i][1];
    return NULL;
}

static int count_tag(void *ctx, const char *name)
{
    (*(int *)ctx)++;
    return strcmp(name, "stop") == 0 ? SKIFF_ECONFLICT : 0;
}

static void test_subst(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    char *out;
    int n = 0;

    assert_int_equal(skiff_workflow_subst("{{tasks.evaluate.outputs.parameters.auc}} > 0.95",
                                          vars, NULL, &out, &e), 0);
    assert_string_equal(out, "0.97 > 0.95");
    free(out);
    assert_int_equal(skiff_workflow_subst("run {{ workflow.name }}/{{inputs.parameters.x}}"
                                          "{{empty}}-{{item}}", vars, NULL, &out, &e), 0);
    assert_string_equal(out, "run wf-1/42-a");
    free(out);
    assert_int_equal(skiff_workflow_subst("no tags { } }} {", vars, NULL, &out, &e), 0);
    assert_string_equal(out, "no tags { } }} {");
    free(out);
    assert_int_equal(skiff_workflow_subst("x {{tasks.nope.outputs.result}}", vars, NULL, &out,
                                          &e), SKIFF_ENOTFOUND);
    assert_null(out);
    assert_string_equal(e.msg, "unable to resolve {{tasks.nope.outputs.result}}");
    assert_int_equal(skiff_workflow_subst("x {{item", vars, NULL, &out, &e), SKIFF_EINVAL);
    assert_int_equal(skiff_workflow_subst("{{= 1 + 1 }}", vars, NULL, &out, &e), SKIFF_EINVAL);
    assert_non_null(strstr(e.msg, "expression tags"));
    assert_int_equal(skiff_workflow_subst("{{  }}", vars, NULL, &out, &e), SKIFF_EINVAL);

    assert_int_equal(skiff_workflow_tags("{{a}} {{ b }} {{c}}", count_tag, &n, &e), 0);
    assert_int_equal(n, 3);
    n = 0;
    assert_int_equal(skiff_workflow_tags("{{a}} {{stop}} {{c}}", count_tag, &n, &e),
                     SKIFF_ECONFLICT);
    assert_int_equal(n, 2);
}

static void test_subst_never_crashes(void **state)
{
    static const char alphabet[] = "{}= .abcitemworkflow\n\x01\xff";
    char buf[48];
    unsigned seed = 777;
    struct skiff_err e = SKIFF_ERR_INIT;
    double d;
    int n;

    for (int k = 0; k < 20000; k++) {
        size_t len = (seed = seed * 1103515245 + 12345) % (sizeof buf - 1);
        char *out = NULL;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245 + 12345;
            buf[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        buf[len] = '\0';
        int rc = skiff_workflow_subst(buf, vars, NULL, &out, &e);
        assert_true(rc == 0 || rc == SKIFF_EINVAL || rc == SKIFF_ENOTFOUND);
        assert_true((rc == 0) == (out != NULL));
        free(out);
        n = 0;
        rc = skiff_workflow_tags(buf, count_tag, &n, &e);
        assert_true(rc == 0 || rc == SKIFF_EINVAL || rc == SKIFF_ECONFLICT);
        rc = skiff_workflow_quantity(buf, &d, &e);
        assert_true(rc == 0 || rc == SKIFF_EINVAL);
    }
}

/* ---- quantities ---- */

static void test_quantity(void **state)
{
    static const struct { const char *q; double v; } ok[] = {
        {"512Mi", 536870912.0}, {"2Gi", 2147483648.0}, {"1G", 1e9}, {"1e9", 1e9},
        {"500m", 0.5},          {"2", 2},              {"0.5", 0.5}, {"64Ki", 65536},
        {"1k", 1000},           {"1.5Gi", 1610612736.0}, {"+1", 1},
    };
    static const char *const bad[] = {"", "Mi", "12Zi", "-1", "1 Gi", "inf", "nan", "0x10",
                                      "1Gib", "1e400", "10E", ".", "abc"};
    struct skiff_err e = SKIFF_ERR_INIT;
    double v;

    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        if (skiff_workflow_quantity(ok[i].q, &v, &e) != 0)
            fail_msg("'%s': %s", ok[i].q, e.msg);
        assert_true(fabs(v - ok[i].v) < 1e-9 * (ok[i].v > 1 ? ok[i].v : 1));
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (skiff_workflow_quantity(bad[i], &v, &e) != SKIFF_EINVAL)
            fail_msg("'%s' accepted", bad[i]);
    assert_non_null(strstr(e.msg, "invalid quantity"));
    assert_int_equal(skiff_workflow_quantity(NULL, &v, &e), SKIFF_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_when_table),
        cmocka_unit_test(test_when_messages),
        cmocka_unit_test(test_when_never_crashes),
        cmocka_unit_test(test_depends),
        cmocka_unit_test(test_subst),
        cmocka_unit_test(test_subst_never_crashes),
        cmocka_unit_test(test_quantity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
