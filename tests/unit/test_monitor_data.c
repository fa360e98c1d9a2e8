/* Datasets of the drift monitor: the CSV reader (quotes, CRLF, blank lines,
 * missing markers, errors with their line, the two-thread split), typing
 * and categorical codes, and payload logs over a window. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "monitor/monitor_int.h"
#include "skiff/err.h"
#include "skiff/monitor.h"
#include "skiff/time.h"
#include "testutil.h"

static struct skiff_mon_data *parse(const char *text)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_mon_data *d = NULL;
    int rc = skiff_mon_data_parse_csv(text, strlen(text), "t.csv", &d, &err);
    if (rc)
        fprintf(stderr, "%s:%d: %s\n", err.where, err.line, err.msg);
    assert_int_equal(rc, 0);
    return d;
}

/* The label of row i of column c, NULL when missing. */
static const char *label_of(struct skiff_mon_data *d, size_t c, size_t i)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    double *codes;
    char **labels;
    size_t nl;
    bool *ranked;
    assert_int_equal(monitor__data_codes(d, c, &codes, &labels, &nl, &ranked, &err), 0);
    if (isnan(codes[i]))
        return NULL;
    assert_true((size_t)codes[i] < nl);
    return labels[(size_t)codes[i]];
}

static void test_csv_shapes(void **state)
{
    /* BOM, CRLF, a blank line, quotes with a comma, a doubled quote and a
     * newline, NA markers, a last line without its newline */
    struct skiff_mon_data *d = parse("\xef\xbb\xbf" "a,\"b c\",t\r\n"
                                     "1,2.5,x\r\n"
                                     "\r\n"
                                     "\"3\",NA,\"y,\"\"z\"\"\n2\"\n"
                                     "-0.125,,null\n"
                                     "inf,1e3,x");
    const double *a, *b;
    (void)state;
    assert_int_equal(skiff_mon_data_rows(d), 4);
    assert_int_equal(skiff_mon_data_ncols(d), 3);
    assert_string_equal(skiff_mon_data_col_name(d, 1), "b c");
    a = monitor__data_num(d, 0), b = monitor__data_num(d, 1);
    assert_true(a[0] == 1 && a[1] == 3 && a[2] == -0.125 && isinf(a[3]));
    assert_true(b[0] == 2.5 && isnan(b[1]) && isnan(b[2]) && b[3] == 1000);
    assert_false(monitor__data_is_text(d, 0));
    assert_false(monitor__data_is_text(d, 1));
    assert_true(monitor__data_is_text(d, 2));
    assert_string_equal(label_of(d, 2, 0), "x");
    assert_string_equal(label_of(d, 2, 1), "y,\"z\"\n2");
    assert_null(label_of(d, 2, 2));
    assert_string_equal(label_of(d, 2, 3), "x");
    /* a numeric column as labels: pandas' str() of its numbers */
    assert_string_equal(label_of(d, 1, 0), "2.5");
    assert_string_equal(label_of(d, 1, 3), "1000.0");
    skiff_mon_data_free(d);
}

static void expect_error(const char *text, int code, int line, const char *needle)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_mon_data *d = NULL;
    assert_int_equal(skiff_mon_data_parse_csv(text, strlen(text), "t.csv", &d, &err), code);
    assert_null(d);
    assert_int_equal(err.line, line);
    if (!strstr(err.msg, needle))
        fail_msg("'%s' not in '%s'", needle, err.msg);
}

static void test_csv_errors(void **state)
{
    (void)state;
    expect_error("", SKIFF_EINVAL, 0, "no data rows");
    expect_error("a,b\n", SKIFF_EINVAL, 0, "no data rows");
    expect_error("a,b\n1,2\n3\n", SKIFF_EPARSE, 3, "1 fields, the header 2");
    expect_error("a,b\n1,2\n\n3,4,5\n", SKIFF_EPARSE, 4, "3 fields");
    expect_error("a,b\n1,\"2\n", SKIFF_EPARSE, 2, "not closed");
    expect_error("a,b\n1,\"2\"x\n", SKIFF_EPARSE, 2, "after a closing quote");
    expect_error("a,a\n1,2\n", SKIFF_EINVAL, 1, "'a' twice");
}

/* More than 4 MiB without a quote: read in two threads; the rows, a blank
 * line in the second half and the line of a text cell come out as from one. */
static void test_csv_two_halves(void **state)
{
    size_t n = 400000, cap = n * 24 + 64, len = 0;
    char *t = malloc(cap);
    struct skiff_mon_data *d;
    struct skiff_mon_colset *set = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    const double *x;
    (void)state;
    len += (size_t)sprintf(t + len, "x,y\n");
    for (size_t i = 0; i < n; i++) {
        if (i == 300000)
            len += (size_t)sprintf(t + len, "\n");
        len += (size_t)sprintf(t + len, i == 350000 ? "%zu,oops\n" : "%zu,%zu.5\n", i, i % 7);
    }
    d = parse(t);
    assert_int_equal(skiff_mon_data_rows(d), n);
    x = monitor__data_num(d, 0);
    for (size_t i = 0; i < n; i++)
        if (x[i] != (double)i)
            fail_msg("row %zu: %g", i, x[i]);
    assert_true(monitor__data_is_text(d, 1));
    /* y is numeric in the reference, text here: file:line of the cell */
    {
        struct skiff_mon_data *ref = parse("x,y\n1,2\n");
        assert_int_equal(skiff_mon_columns(ref, d, NULL, 0, SKIFF_MON_SAME_COLUMNS, &set, &err),
                         SKIFF_EPARSE);
        assert_int_equal(err.line, 350000 + 3);
        assert_non_null(strstr(err.msg, "'oops'"));
        assert_non_null(strstr(err.msg, "'y'"));
        skiff_mon_data_free(ref);
    }
    skiff_mon_data_free(d);
    free(t);
}

static void test_columns_types_and_codes(void **state)
{
    struct skiff_mon_data *ref = parse("z,city,target,datetime\n1,b,0,x\n2,a,1,y\n3,,1,z\n");
    struct skiff_mon_data *cur = parse("city,z,target,datetime\nc,4,0,x\na,5,1,y\n");
    struct skiff_mon_colset *set = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    (void)state;
    assert_int_equal(skiff_mon_columns(ref, cur, NULL, 0, SKIFF_MON_SAME_COLUMNS, &set, &err), 0);
    /* Evidently's order: target, numeric, categorical; datetime not tested */
    assert_int_equal(set->n, 3);
    assert_string_equal(set->cols[0].name, "target");
    assert_int_equal(set->cols[0].kind, SKIFF_MON_CAT);   /* 2 distinct numbers */
    assert_string_equal(set->cols[1].name, "z");
    assert_int_equal(set->cols[1].kind, SKIFF_MON_NUM);
    assert_string_equal(set->cols[2].name, "city");
    assert_int_equal(set->cols[2].nlabels, 3);
    assert_string_equal(set->cols[2].labels[0], "a");
    assert_string_equal(set->cols[2].labels[2], "c");
    assert_true(set->cols[2].ref[0] == 1 && set->cols[2].ref[1] == 0 && isnan(set->cols[2].ref[2]));
    assert_true(set->cols[2].cur[0] == 2 && set->cols[2].cur[1] == 0);
    skiff_mon_colset_free(set);
    skiff_mon_data_free(cur);
    skiff_mon_data_free(ref);

    ref = parse("a,b\n1,2\n");
    cur = parse("a,c\n1,2\n");
    assert_int_equal(skiff_mon_columns(ref, cur, NULL, 0, SKIFF_MON_SAME_COLUMNS, &set, &err),
                     SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "'c'"));
    {
        const char *names[] = {"a", "a"};
        assert_int_equal(skiff_mon_columns(ref, cur, names, 2, 0, &set, &err), SKIFF_EINVAL);
        assert_non_null(strstr(err.msg, "'a' twice"));
        assert_int_equal(skiff_mon_columns(ref, cur, names, 1, 0, &set, &err), 0);
        assert_int_equal(set->n, 1);
        skiff_mon_colset_free(set);
    }
    skiff_mon_data_free(cur);
    skiff_mon_data_free(ref);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_payload_window(void **state)
{
    char dir[256], path[400];
    struct skiff_mon_data *d = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    int64_t t0, t1;
    const double *amt;
    long ci;
    (void)state;
    assert_non_null(test_tmpdir(dir, sizeof dir, "payload"));
    snprintf(path, sizeof path, "%s/2026-11-26.jsonl", dir);
    write_text(path, "{\"ts\":\"2026-11-26T23:00:00Z\","
                     "\"features\":{\"amount\":1,\"kind\":\"a\"}}\n"
                     "{\"ts\":\"2026-11-26T22:00:00Z\",\"features\":{\"amount\":9}}\n");
    snprintf(path, sizeof path, "%s/2026-11-27.jsonl", dir);
    write_text(path, "{\"ts\":\"2026-11-27T01:00:00Z\",\"features\":{\"amount\":2,\"new\":7}}\n"
                     "{\"ts\":\"2026-11-27T02:00:00Z\","
                     "\"features\":{\"amount\":null,\"kind\":\"b\"}}\n"
                     "{\"ts\":\"2026-11-27T03:00:00Z\",\"features\":{\"amount\":3}}\n"
                     "{\"ts\":\"2026-11-27T03:30");   /* cut by a crash: skipped */
    assert_int_equal(skiff_time_parse("2026-11-26T22:00:00Z", &t0, NULL), 0);
    assert_int_equal(skiff_time_parse("2026-11-27T02:00:00Z", &t1, NULL), 0);
    /* (t0, t1]: 22:00 is out, 02:00 is in, 03:00 is out */
    assert_int_equal(skiff_mon_data_read_payloads(dir, t0, t1, &d, &err), 0);
    assert_int_equal(skiff_mon_data_rows(d), 3);
    ci = monitor__data_col(d, "amount");
    assert_true(ci >= 0);
    amt = monitor__data_num(d, (size_t)ci);
    assert_true(amt[0] == 1 && amt[1] == 2 && isnan(amt[2]));
    ci = monitor__data_col(d, "new");
    assert_true(ci >= 0 && isnan(monitor__data_num(d, (size_t)ci)[0]) &&
                monitor__data_num(d, (size_t)ci)[1] == 7);
    ci = monitor__data_col(d, "kind");
    assert_true(ci >= 0 && monitor__data_is_text(d, (size_t)ci));
    assert_string_equal(label_of(d, (size_t)ci, 0), "a");
    assert_null(label_of(d, (size_t)ci, 1));
    assert_string_equal(label_of(d, (size_t)ci, 2), "b");
    skiff_mon_data_free(d);

    /* nothing in the window */
    assert_int_equal(skiff_mon_data_read_payloads(dir, t1 + 7200000000LL, t1 + 9000000000LL, &d,
                                                  &err),
                     SKIFF_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no payloads"));
    /* a bad line that is not the last is an error with its line */
    snprintf(path, sizeof path, "%s/2026-11-28.jsonl", dir);
    write_text(path, "{\"ts\":\"2026-11-28T01:00:00Z\",\"features\":{\"a\":1}}\n"
                     "[1,2]\n"
                     "{\"ts\":\"2026-11-28T02:00:00Z\",\"features\":{\"a\":1}}\n");
    assert_int_equal(skiff_mon_data_read_payloads(dir, t1, t1 + 86400000000LL, &d, &err),
                     SKIFF_EPARSE);
    assert_int_equal(err.line, 2);
    test_rmtree(dir);
}

static struct skiff_mon_data *read_file(const char *path)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_mon_data *d = NULL;
    int rc = skiff_mon_data_read_csv(path, 0, &d, &err);
    if (rc)
        fprintf(stderr, "%s:%d: %s\n", err.where, err.line, err.msg);
    assert_int_equal(rc, 0);
    return d;
}

/* A file of several chunks (4 MiB each): quoted cells with newlines fall
 * on chunk boundaries, a column turns out text only after the first chunk
 * (its earlier rows are read again), and rows and labels come out as from
 * one piece. */
static void test_csv_chunks(void **state)
{
    char dir[256], path[400];
    size_t n = 300000;
    FILE *f;
    struct skiff_mon_data *d;
    const double *x;
    (void)state;
    assert_non_null(test_tmpdir(dir, sizeof dir, "chunks"));
    snprintf(path, sizeof path, "%s/big.csv", dir);
    assert_non_null(f = fopen(path, "w"));
    fprintf(f, "x,note,late,raw\n");   /* raw: a quote inside an unquoted field */
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%zu,\"n%zu\n\"\"q\"\"\",%s,x\"y\n", i, i % 5,
                i == n - 2 ? "word" : (i % 2 ? "1" : "2.5"));
    fclose(f);
    d = read_file(path);
    assert_int_equal(skiff_mon_data_rows(d), n);
    x = monitor__data_num(d, 0);
    for (size_t i = 0; i < n; i++)
        if (x[i] != (double)i)
            fail_msg("row %zu: %g", i, x[i]);
    assert_true(monitor__data_is_text(d, 1));
    assert_true(monitor__data_is_text(d, 2));
    for (size_t i = 0; i < n; i += 9973) {
        char want[32];
        snprintf(want, sizeof want, "n%zu\n\"q\"", i % 5);
        assert_string_equal(label_of(d, 1, i), want);
        assert_string_equal(label_of(d, 2, i), i % 2 ? "1" : "2.5");
        assert_string_equal(label_of(d, 3, i), "x\"y");
    }
    assert_string_equal(label_of(d, 2, n - 2), "word");
    skiff_mon_data_free(d);

    /* an error in a later chunk names its line */
    assert_non_null(f = fopen(path, "w"));
    fprintf(f, "x,y\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, i == n - 10 ? "%zu\n" : "%zu,1\n", i);
    fclose(f);
    {
        struct skiff_err err = SKIFF_ERR_INIT;
        assert_int_equal(skiff_mon_data_read_csv(path, 0, &d, &err), SKIFF_EPARSE);
        assert_int_equal(err.line, (int)(n - 10 + 2));
        /* and a cap on the size */
        assert_int_equal(skiff_mon_data_read_csv(path, 1000, &d, &err), SKIFF_ETOOBIG);
    }
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_shapes),
        cmocka_unit_test(test_csv_errors),
        cmocka_unit_test(test_csv_two_halves),
        cmocka_unit_test(test_csv_chunks),
        cmocka_unit_test(test_columns_types_and_codes),
        cmocka_unit_test(test_payload_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
