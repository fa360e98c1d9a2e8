/* The V2 request parser and tensor-to-matrix step (src/serving/v2_*.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serving/serving_int.h"
#include "skiff/arena.h"
#include "skiff/buf.h"
#include "skiff/err.h"

static int parse(const char *body, struct skiff_arena *a, struct serving__infer_req *r,
                 struct skiff_err *e)
{
    return serving__v2_parse(body, strlen(body), a, r, e);
}

static void test_each_datatype(void **state)
{
    static const struct {
        const char *dt, *data;
        double want[4];
    } cases[] = {
        {"FP32", "[1.5, -2, 3e2, 0.25]", {1.5, -2, 300, 0.25}},
        {"FP64", "[[1.5, -2], [3e-2, 4]]", {1.5, -2, 0.03, 4}},
        {"INT32", "[1, -2, 2147483647, 0]", {1, -2, 2147483647.0, 0}},
        {"INT64", "[1, 2, 3, -9000000000]", {1, 2, 3, -9e9}},
        {"BOOL", "[true, false, true, false]", {1, 0, 1, 0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct skiff_arena *a = skiff_arena_new(0);
        struct serving__infer_req r;
        struct skiff_err e = SKIFF_ERR_INIT;
        char body[512];
        snprintf(body, sizeof body, "{\"id\":\"7\",\"inputs\":[{\"name\":\"x\",\"shape\":[2,2],"
                 "\"datatype\":\"%s\",\"data\":%s}]}", cases[i].dt, cases[i].data);
        assert_int_equal(parse(body, a, &r, &e), 0);
        assert_string_equal(r.id, "7");
        assert_int_equal(r.ninputs, 1);
        assert_int_equal(r.inputs[0].n, 4);
        for (int k = 0; k < 4; k++)
            assert_true(r.inputs[0].data[k] == cases[i].want[k]);
        skiff_arena_free(a);
    }
}

static void test_bytes_and_params(void **state)
{
    struct skiff_arena *a = skiff_arena_new(0);
    struct serving__infer_req r;
    struct skiff_err e = SKIFF_ERR_INIT;
    const char *body = "{\"parameters\": {\"k\": [1, {\"x\": true}]}, \"inputs\": [{\"name\": "
                       "\"u\", \"datatype\": \"BYTES\", \"shape\": [2], \"data\": [\"a\\u00e9\", "
                       "\"2.5\"], \"parameters\": {\"content_type\": \"str\"}}], \"outputs\": "
                       "[{\"name\": \"output-0\", \"parameters\": {\"datatype\": \"FP32\"}}]}";
    float *x;
    size_t rows;

    assert_int_equal(parse(body, a, &r, &e), 0);
    assert_null(r.id);
    assert_int_equal(r.params_len, strlen("{\"k\": [1, {\"x\": true}]}"));
    assert_memory_equal(r.params, "{\"k\": [1, {\"x\": true}]}", r.params_len);
    assert_string_equal(r.inputs[0].strs[0], "a\xc3\xa9");
    assert_true(r.out_fp32);
    assert_int_equal(r.noutputs, 1);
    /* a BYTES value that is not a number cannot be a feature */
    assert_int_equal(serving__v2_matrix(&r, 2, NULL, a, &x, &rows, &e), SKIFF_EINVAL);
    assert_non_null(strstr(e.msg, "not a number"));
    skiff_arena_free(a);
}

static void test_errors(void **state)
{
    static const struct {
        const char *body, *msg;
        int code;
    } cases[] = {
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"FP32\",\"data\":[1]}]}",
         "shape [2] needs 2 elements", SKIFF_EINVAL},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[\"a\"]}]}",
         "invalid datatype", SKIFF_EINVAL},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT32\",\"data\":[1.5]}]}",
         "with a fraction", SKIFF_EINVAL},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"INT32\",\"data\":[3e9]}]}",
         "out of range", SKIFF_EINVAL},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"BOOL\",\"data\":[1]}]}",
         "true/false", SKIFF_EINVAL},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP16\",\"data\":[1]}]}",
         "binary data format", SKIFF_EINVAL},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP99\",\"data\":[1]}]}",
         "invalid datatype 'FP99'", SKIFF_EINVAL},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\"}]}",
         "'data' field is missing for input 'x'", SKIFF_EINVAL},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[-1],\"datatype\":\"FP32\",\"data\":[1]}]}",
         "non-negative", SKIFF_EINVAL},
        {"{\"inputs\":[]}", "'inputs' is missing or empty", SKIFF_EINVAL},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]",
         "Unrecognized request format", SKIFF_EPARSE},
        {"[1]", "must be a JSON object", SKIFF_EPARSE},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[01]}]}",
         "leading zero", SKIFF_EPARSE},
        {"{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
         "nesting too deep", SKIFF_EPARSE},
        {"{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]} x",
         "trailing", SKIFF_EPARSE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct skiff_arena *a = skiff_arena_new(0);
        struct serving__infer_req r;
        struct skiff_err e = SKIFF_ERR_INIT;
        int rc = parse(cases[i].body, a, &r, &e);
        if (rc != cases[i].code || !strstr(e.msg, cases[i].msg))
            fail_msg("case %zu: rc %d, message '%s' (want '%s')", i, rc, e.msg, cases[i].msg);
        skiff_arena_free(a);
    }
    /* every prefix of a valid body is an error, never a crash */
    {
        const char *body = "{\"id\":\"q\\\"\",\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],"
                           "\"datatype\":\"FP64\",\"data\":[[1.25e-3,-7]]}]}";
        for (size_t n = 0; n < strlen(body); n++) {
            struct skiff_arena *a = skiff_arena_new(0);
            struct serving__infer_req r;
            struct skiff_err e = SKIFF_ERR_INIT;
            char *cut = strndup(body, n);
            assert_int_not_equal(serving__v2_parse(cut, n, a, &r, &e), 0);
            free(cut);
            skiff_arena_free(a);
        }
    }
}

/* The fast number path agrees with strtod on every number it takes. */
static void test_numbers_exact(void **state)
{
    srand(42);
    for (int i = 0; i < 20000; i++) {
        struct skiff_arena *a = skiff_arena_new(0);
        struct serving__infer_req r;
        struct skiff_err e = SKIFF_ERR_INIT;
        char num[64], body[256];
        double v = ((double)rand() / RAND_MAX - 0.5) * pow(10, rand() % 30 - 15);
        snprintf(num, sizeof num, i % 3 == 0 ? "%.17g" : i % 3 == 1 ? "%.6f" : "%.3e", v);
        snprintf(body, sizeof body, "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":"
                 "\"FP64\",\"data\":[%s]}]}", num);
        assert_int_equal(parse(body, a, &r, &e), 0);
        if (r.inputs[0].data[0] != strtod(num, NULL))
            fail_msg("%s read as %.17g", num, r.inputs[0].data[0]);
        /* FP32 may take the long double path: the float it becomes is the same */
        snprintf(body, sizeof body, "{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":"
                 "\"FP32\",\"data\":[%s]}]}", num);
        assert_int_equal(parse(body, a, &r, &e), 0);
        if ((float)r.inputs[0].data[0] != (float)strtod(num, NULL))
            fail_msg("%s read as float %.9g", num, (double)(float)r.inputs[0].data[0]);
        skiff_arena_free(a);
    }
}

static void test_matrix(void **state)
{
    struct skiff_arena *a = skiff_arena_new(0);
    struct serving__infer_req r;
    struct skiff_err e = SKIFF_ERR_INIT;
    const char *names[] = {"amount", "age"};
    float *x;
    size_t rows;

    /* [n, k] */
    assert_int_equal(parse("{\"inputs\":[{\"name\":\"x\",\"shape\":[2,2],\"datatype\":\"FP32\","
                           "\"data\":[1,2,3,4]}]}", a, &r, &e), 0);
    assert_int_equal(serving__v2_matrix(&r, 2, names, a, &x, &rows, &e), 0);
    assert_int_equal(rows, 2);
    assert_true(x[0] == 1 && x[3] == 4);
    assert_int_equal(serving__v2_matrix(&r, 3, names, a, &x, &rows, &e), SKIFF_EINVAL);
    assert_non_null(strstr(e.msg, "takes 3 features"));
    /* one input per feature, matched by name whatever the order */
    assert_int_equal(parse("{\"inputs\":[{\"name\":\"age\",\"shape\":[2],\"datatype\":\"INT64\","
                           "\"data\":[30,40]},{\"name\":\"amount\",\"shape\":[2,1],\"datatype\":"
                           "\"FP64\",\"data\":[[9.5],[7]]}]}", a, &r, &e), 0);
    assert_int_equal(serving__v2_matrix(&r, 2, names, a, &x, &rows, &e), 0);
    assert_int_equal(rows, 2);
    assert_true(x[0] == 9.5f && x[1] == 30 && x[2] == 7 && x[3] == 40);
    skiff_arena_free(a);
}

static void test_json_double(void **state)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    serving__json_double(&b, 0.1, false);
    skiff_buf_putc(&b, ' ');
    serving__json_double(&b, NAN, false);
    skiff_buf_putc(&b, ' ');
    serving__json_double(&b, 0.1, true);
    assert_string_equal(b.ptr, "0.10000000000000001 null 0.100000001");
    /* every number reads back exactly, and looks as printf's %.17g (%.9g)
     * does but for the rare value whose last digit is a rounding tie */
    srand(7);
    {
        int differ = 0;
        for (int i = 0; i < 200000; i++) {
            double v = ((double)rand() / RAND_MAX - 0.3) * pow(10, rand() % 50 - 25);
            char want[48];
            bool fp32 = i % 2;
            if (i % 1000 == 0)
                v = (double)(rand() % 100000);   /* integers, trailing zeros */
            skiff_buf_reset(&b);
            serving__json_double(&b, v, fp32);
            if (fp32 ? strtof(b.ptr, NULL) != (float)v : strtod(b.ptr, NULL) != v)
                fail_msg("%.17g printed as %s does not read back", v, b.ptr);
            snprintf(want, sizeof want, fp32 ? "%.9g" : "%.17g", fp32 ? (double)(float)v : v);
            if (strcmp(want, b.ptr) != 0 && differ++ < 5)
                print_message("differs from printf: %s vs %s\n", b.ptr, want);
        }
        assert_true(differ < 200);
    }
    skiff_buf_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_datatype), cmocka_unit_test(test_bytes_and_params),
        cmocka_unit_test(test_errors),        cmocka_unit_test(test_numbers_exact),
        cmocka_unit_test(test_matrix),        cmocka_unit_test(test_json_double),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
