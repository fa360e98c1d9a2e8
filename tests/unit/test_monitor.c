/* Unit tests for src/monitor: the worked examples of specs/evidently.md 5,
 * the default test table, decision rules, the report and its outputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/monitor.h"
#include "monitor/monitor_int.h"

#define CLOSE(a, b, tol) assert_true(fabs((a) - (b)) <= (tol) * fmax(1.0, fabs(b)))

/* Codes: n0 copies of 0, n1 of 1, ... into out; returns the length. */
static size_t counts(double *out, const size_t *n, size_t k)
{
    size_t len = 0;
    for (size_t v = 0; v < k; v++)
        for (size_t i = 0; i < n[v]; i++)
            out[len++] = (double)v;
    return len;
}

static void test_example_a_categorical(void **state)
{
    /* ref {a:50,b:30,c:20}, cur {a:30,b:30,c:30,d:10} */
    double r[100], c[100], s;
    size_t nr = counts(r, (size_t[]){50, 30, 20}, 3), nc = counts(c, (size_t[]){30, 30, 30, 10}, 4);
    struct skiff_err err = SKIFF_ERR_INIT;

    assert_int_equal(skiff_mon_default_test(SKIFF_MON_CAT, nr, 4), SKIFF_MON_TEST_CHISQUARE);
    assert_int_equal(skiff_mon_chisquare(r, nr, c, nc, &s, &err), 0);
    assert_true(s == 0.0);
    assert_int_equal(skiff_mon_psi(SKIFF_MON_CAT, r, nr, c, nc, &s, &err), 0);
    CLOSE(s, 0.8327963879343301, 1e-12);
    assert_int_equal(skiff_mon_jensenshannon(SKIFF_MON_CAT, r, nr, c, nc, &s, &err), 0);
    CLOSE(s, 0.22874617893301474, 1e-12);
}

static void test_example_b_ztest(void **state)
{
    double r[100], c[100], p;
    size_t nr = counts(r, (size_t[]){70, 30}, 2), nc = counts(c, (size_t[]){55, 45}, 2);
    struct skiff_err err = SKIFF_ERR_INIT;

    assert_int_equal(skiff_mon_default_test(SKIFF_MON_NUM, nr, 2), SKIFF_MON_TEST_Z);
    assert_int_equal(skiff_mon_ztest(r, nr, c, nc, &p, &err), 0);
    /* 2 (1 - Phi(2.1908902300206647)) */
    CLOSE(p, 0.028459736916310, 1e-9);
    assert_true(skiff_mon_test_drifted(SKIFF_MON_TEST_Z, p, 0.05));
    /* the same single value on both sides: p = 1 */
    assert_int_equal(skiff_mon_ztest(r, 10, r, 20, &p, &err), 0);
    assert_true(p == 1.0);
}

static void test_example_c_chisquare(void **state)
{
    double r[100], c[100], p;
    size_t nr = counts(r, (size_t[]){40, 35, 25}, 3), nc = counts(c, (size_t[]){30, 30, 40}, 3);
    struct skiff_err err = SKIFF_ERR_INIT;

    assert_int_equal(skiff_mon_chisquare(r, nr, c, nc, &p, &err), 0);
    CLOSE(p, 0.002226904315802756, 1e-12);
    /* chi2.sf at 2 dof is exp(-x/2); other dof from scipy */
    CLOSE(skiff_mon_chi2_sf(12.214285714285715, 2), exp(-12.214285714285715 / 2), 1e-14);
    CLOSE(skiff_mon_chi2_sf(3.0, 5), 0.6999858358786276, 1e-12);
    CLOSE(skiff_mon_chi2_sf(40.0, 3) / 1.065509033425585e-08, 1.0, 1e-9);
    assert_true(skiff_mon_chi2_sf(INFINITY, 3) == 0.0);
}

static void test_example_d_numeric(void **state)
{
    double r[100], c[100], s, d, p;
    struct skiff_err err = SKIFF_ERR_INIT;

    for (int i = 0; i < 100; i++)
        r[i] = i, c[i] = 50 + i;
    assert_int_equal(skiff_mon_psi(SKIFF_MON_NUM, r, 100, c, 100, &s, &err), 0);
    CLOSE(s, 7.414532745869386, 1e-12);
    assert_int_equal(skiff_mon_jensenshannon(SKIFF_MON_NUM, r, 100, c, 100, &s, &err), 0);
    CLOSE(s, 0.5887050112577373, 1e-12);
    assert_int_equal(skiff_mon_wasserstein(r, 100, c, 100, &s, &err), 0);
    CLOSE(s, 1.7321374166049877, 1e-12);
    assert_int_equal(skiff_mon_ks(r, 100, c, 100, &d, &p, &err), 0);
    assert_true(d == 0.5);
    CLOSE(p / 1.0024645454361508e-11, 1.0, 1e-9);   /* scipy */
}

static void test_example_e_ks_exact(void **state)
{
    /* n = 20 each, D = 0.25: r = 0..19, c = 5..24 shifts the ECDF by 5/20 */
    double r[20], c[20], d, p;
    struct skiff_err err = SKIFF_ERR_INIT;

    for (int i = 0; i < 20; i++)
        r[i] = i, c[i] = i + 5;
    assert_int_equal(skiff_mon_ks(r, 20, c, 20, &d, &p, &err), 0);
    assert_true(d == 0.25);
    CLOSE(p, 0.571336004933722, 1e-12);
    assert_false(skiff_mon_test_drifted(SKIFF_MON_TEST_KS, p, 0.05));
    /* unequal sizes: the lattice-path recursion (scipy: 0.062288669185220906) */
    assert_int_equal(skiff_mon_ks(r, 20, r, 10, &d, &p, &err), 0);
    assert_true(d == 0.5);
    CLOSE(p, 0.062288669185220906, 1e-12);
    /* identical samples: h = 0, p = 1 */
    assert_int_equal(skiff_mon_ks(r, 20, r, 20, &d, &p, &err), 0);
    assert_true(p == 1.0 && d == 0.0);
}

static void test_kstwo_regimes(void **state)
{
    /* values from scipy.stats.kstwo.sf */
    CLOSE(skiff_mon_kstwo_sf(0.02, 5739), 0.02000810268540017, 1e-9);   /* Pelz-Good */
    CLOSE(skiff_mon_kstwo_sf(0.05, 5739) / 6.576769835850985e-13, 1.0, 1e-9); /* Smirnov */
    assert_true(skiff_mon_kstwo_sf(1.0, 100) == 0.0);
    assert_true(skiff_mon_kstwo_sf(0.001, 100) == 1.0);
}

static void test_defaults_and_rules(void **state)
{
    assert_int_equal(skiff_mon_default_test(SKIFF_MON_NUM, 1000, 6), SKIFF_MON_TEST_KS);
    assert_int_equal(skiff_mon_default_test(SKIFF_MON_NUM, 1001, 6), SKIFF_MON_TEST_WASSERSTEIN);
    assert_int_equal(skiff_mon_default_test(SKIFF_MON_NUM, 1001, 5), SKIFF_MON_TEST_JENSENSHANNON);
    assert_int_equal(skiff_mon_default_test(SKIFF_MON_NUM, 10, 3), SKIFF_MON_TEST_CHISQUARE);
    assert_int_equal(skiff_mon_default_test(SKIFF_MON_CAT, 10, 50), SKIFF_MON_TEST_CHISQUARE);
    assert_int_equal(skiff_mon_default_test(SKIFF_MON_CAT, 5000, 2), SKIFF_MON_TEST_JENSENSHANNON);
    /* K-S drifts at p == threshold, chi-square does not; distances at >= */
    assert_true(skiff_mon_test_drifted(SKIFF_MON_TEST_KS, 0.05, 0.05));
    assert_false(skiff_mon_test_drifted(SKIFF_MON_TEST_CHISQUARE, 0.05, 0.05));
    assert_true(skiff_mon_test_drifted(SKIFF_MON_TEST_PSI, 0.1, 0.1));
    assert_int_equal(skiff_mon_test_parse("psi"), SKIFF_MON_TEST_PSI);
    assert_int_equal(skiff_mon_test_parse("default"), -1);
    assert_string_equal(skiff_mon_test_display(SKIFF_MON_TEST_WASSERSTEIN),
                        "Wasserstein distance (normed)");
    assert_true(skiff_mon_test_default_threshold(SKIFF_MON_TEST_JENSENSHANNON) == 0.1);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_radix_sort(void **state)
{
    /* signs, zeros of both signs, subnormals, huge values, duplicates; past
     * 4096 values the radix sort runs, below it qsort: same order */
    enum { N = 20000 };
    double *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *s = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    uint64_t st = 42;

    for (int i = 0; i < N; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = ((double)(st >> 11) / 9007199254740992.0 - 0.5) * pow(10, (int)(st % 40) - 20);
    }
    x[0] = -0.0, x[1] = 0.0, x[2] = 5e-324, x[3] = -1e308, x[4] = 1e308, x[5] = x[6];
    memcpy(y, x, N * sizeof *y);
    qsort(y, N, sizeof *y, cmp_dbl);
    for (int n = 2000; n <= N; n += N - 2000) {
        assert_int_equal(monitor__sorted(x, (size_t)n, &s, &err), 0);
        for (int i = 1; i < n; i++)
            assert_true(s[i - 1] <= s[i]);
        free(s);
    }
    assert_int_equal(monitor__sorted(x, N, &s, &err), 0);
    for (int i = 0; i < N; i++)
        assert_true(s[i] == y[i]);
    assert_true(s[0] == -1e308 && s[N - 1] == 1e308);
    assert_int_equal(monitor__distinct(s, N), N - 2);   /* -0 == 0, x[5] == x[6] */
    free(s);
    assert_int_equal(monitor__sorted(x, 0, &s, &err), 0);
    free(s), free(x), free(y);
}

static void test_empty_sample(void **state)
{
    double x = 1, s;
    struct skiff_err err = SKIFF_ERR_INIT;
    assert_int_equal(skiff_mon_psi(SKIFF_MON_NUM, &x, 0, &x, 1, &s, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "reference"));
}

static void test_report(void **state)
{
    static const char *const labels[] = {"a", "b", "new"};
    double nr[200], nc[200], cr[200], cc[200];
    struct skiff_mon_column cols[2];
    struct skiff_mon_opts o = SKIFF_MON_OPTS_INIT;
    struct skiff_mon_report *rep = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_buf b = SKIFF_BUF_INIT;
    json_t *j, *col;

    for (int i = 0; i < 200; i++) {
        nr[i] = i % 50, nc[i] = i % 50 + 0.5;
        cr[i] = i % 2, cc[i] = i % 3;
    }
    nr[3] = NAN, nr[4] = INFINITY, nc[7] = -INFINITY;
    cols[0] = (struct skiff_mon_column){"x", SKIFF_MON_NUM, nr, nc, 200, 200, NULL, 0,
                                        SKIFF_MON_TEST_DEFAULT, false, 0};
    cols[1] = (struct skiff_mon_column){"c", SKIFF_MON_CAT, cr, cc, 200, 200, labels, 3,
                                        SKIFF_MON_TEST_DEFAULT, false, 0};
    assert_int_equal(skiff_mon_report_run(cols, 2, &o, &rep, &err), 0);
    assert_int_equal(rep->cols[0].test, SKIFF_MON_TEST_KS);
    assert_false(rep->cols[0].drift);
    assert_int_equal(rep->cols[0].ref.missing, 1);
    assert_int_equal(rep->cols[0].ref.infinite, 1);
    assert_int_equal(rep->cols[0].cur.infinite, 1);
    assert_int_equal(rep->cols[1].test, SKIFF_MON_TEST_CHISQUARE);
    assert_true(rep->cols[1].drift);
    assert_int_equal(rep->cols[1].n_new_cats, 1);
    assert_int_equal(rep->cols[1].new_cats[0], 2);
    assert_int_equal(rep->n_drifted, 1);
    assert_true(rep->dataset_drift);   /* 1 of 2 >= 0.5 */

    j = skiff_mon_report_json(rep);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(
        json_object_get(json_array_get(json_object_get(j, "metrics"), 0), "result"),
        "dataset_drift")));
    col = json_array_get(json_object_get(j, "metrics"), 1);
    col = json_object_get(json_object_get(json_object_get(col, "result"), "drift_by_columns"), "c");
    assert_string_equal(json_string_value(json_object_get(col, "stattest_name")),
                        "chi-square p_value");
    assert_string_equal(json_string_value(json_object_get(col, "column_type")), "cat");
    json_decref(j);

    assert_int_equal(skiff_mon_report_json_text(rep, &b, &err), 0);
    assert_non_null(strstr(b.ptr, "\"stattest_threshold\": 0.05,"));
    assert_non_null(strstr(b.ptr, "\"share_of_drifted_columns\": 0.5,"));
    assert_non_null(strstr(b.ptr, "\"number_of_columns\": 2,"));
    skiff_buf_release(&b);
    skiff_buf_init(&b, 300);
    assert_int_equal(skiff_mon_report_json_text(rep, &b, &err), SKIFF_ETOOBIG);
    assert_int_equal(b.len, 0);
    skiff_buf_release(&b);
    skiff_buf_init(&b, 0);

    assert_int_equal(skiff_mon_report_html(rep, &b, &err), 0);
    assert_non_null(strstr(b.ptr, "Dataset drift detected"));
    assert_non_null(strstr(b.ptr, "new in current: new"));
    assert_null(strstr(b.ptr, "<script"));
    skiff_buf_release(&b);

    /* a capped buffer: ETOOBIG and nothing half-written */
    skiff_buf_init(&b, 100);
    assert_int_equal(skiff_mon_report_html(rep, &b, &err), SKIFF_ETOOBIG);
    assert_int_equal(b.len, 0);
    skiff_buf_release(&b);
    skiff_mon_report_free(rep);

    /* drift share above the share: no dataset drift */
    o.drift_share = 0.6;
    assert_int_equal(skiff_mon_report_run(cols, 2, &o, &rep, &err), 0);
    assert_false(rep->dataset_drift);
    skiff_mon_report_free(rep);
    skiff_mon_report_free(NULL);
}

static void test_report_empty_column(void **state)
{
    double r[3] = {NAN, INFINITY, NAN}, c[2] = {1, 2};
    struct skiff_mon_column col = {"gone", SKIFF_MON_NUM, r, c, 3, 2, NULL, 0,
                                   SKIFF_MON_TEST_DEFAULT, false, 0};
    struct skiff_mon_opts o = SKIFF_MON_OPTS_INIT;
    struct skiff_mon_report *rep = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;

    assert_int_equal(skiff_mon_report_run(&col, 1, &o, &rep, &err), SKIFF_EINVAL);
    assert_null(rep);
    assert_non_null(strstr(err.msg, "empty column 'gone'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_a_categorical),
        cmocka_unit_test(test_example_b_ztest),
        cmocka_unit_test(test_example_c_chisquare),
        cmocka_unit_test(test_example_d_numeric),
        cmocka_unit_test(test_example_e_ks_exact),
        cmocka_unit_test(test_kstwo_regimes),
        cmocka_unit_test(test_defaults_and_rules),
        cmocka_unit_test(test_radix_sort),
        cmocka_unit_test(test_empty_sample),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_report_empty_column),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
