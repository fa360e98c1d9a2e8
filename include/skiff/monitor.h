/* Drift monitoring: Evidently 0.4.x's statistical tests and its data-drift
 * report (specs/evidently.md), as a C library over columns of doubles.
 *
 * Columns are numeric ("num") or categorical ("cat"). A categorical column
 * holds codes 0..nlabels-1 into a label table sorted by strcmp, so that the
 * order of codes is the order of the values (UTF-8 byte order is code point
 * order, as Python's sorted() on str). Every test then works on doubles.
 *
 * Cleaning (skiff_mon_report_run): NaN is a missing value and is dropped, as
 * Evidently does. +-inf is dropped too and counted per column (Evidently's
 * DataDriftTable keeps infinities when a column has no NaN: a quirk skiff
 * does not copy, docs/drift.md). The statistic functions below take values
 * already cleaned: no NaN, no inf.
 *
 * Nothing here keeps state between calls; every function is thread-safe.
 */
#ifndef SKIFF_MONITOR_H
#define SKIFF_MONITOR_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct skiff_err;
struct skiff_buf;

enum skiff_mon_kind { SKIFF_MON_NUM, SKIFF_MON_CAT };

/* The tests: id, CLI name, Evidently's display name, default threshold, and
 * whether the score is a p-value (drift when small) or a distance (drift
 * when large). Decision rules (spec 3.2): ks p <= t; chisquare, z p < t;
 * wasserstein, jensenshannon, psi score >= t. */
#define SKIFF_MON_TESTS(X)                                                      \
    X(KS, "ks", "K-S p_value", 0.05, true)                                      \
    X(CHISQUARE, "chisquare", "chi-square p_value", 0.05, true)                 \
    X(Z, "z", "Z-test p_value", 0.05, true)                                     \
    X(WASSERSTEIN, "wasserstein", "Wasserstein distance (normed)", 0.1, false)  \
    X(JENSENSHANNON, "jensenshannon", "Jensen-Shannon distance", 0.1, false)    \
    X(PSI, "psi", "PSI", 0.1, false)

enum skiff_mon_test {
    SKIFF_MON_TEST_DEFAULT = 0,   /* Evidently's choice per column (spec 3.1) */
#define SKIFF__MON_TEST_ENUM(id, name, display, thr, pvalue) SKIFF_MON_TEST_##id,
    SKIFF_MON_TESTS(SKIFF__MON_TEST_ENUM)
#undef SKIFF__MON_TEST_ENUM
    SKIFF_MON_TEST_COUNT
};

/* "ks" -> SKIFF_MON_TEST_KS; -1 when unknown. */
int skiff_mon_test_parse(const char *name);
const char *skiff_mon_test_name(enum skiff_mon_test t);      /* "ks"; borrowed, static */
const char *skiff_mon_test_display(enum skiff_mon_test t);   /* "K-S p_value" */
double skiff_mon_test_default_threshold(enum skiff_mon_test t);
/* True when `score` means drift under threshold `t` for test `test`. */
bool skiff_mon_test_drifted(enum skiff_mon_test test, double score, double t);

/* Evidently's default test (spec 3.1): n_ref = cleaned reference size,
 * n_unique = distinct values of reference and current together. */
enum skiff_mon_test skiff_mon_default_test(enum skiff_mon_kind kind, size_t n_ref,
                                           size_t n_unique);

/* ---- statistics over cleaned samples (r: reference, c: current) ----
 * Each returns 0, SKIFF_EINVAL for an empty sample or SKIFF_ENOMEM; the
 * inputs are not modified. `kind` matters only where Evidently's binning
 * depends on it (PSI, Jensen-Shannon). */

/* Two-sample Kolmogorov-Smirnov, two-sided, as scipy.stats.ks_2samp with
 * method='auto': exact p-value when max(nr, nc) <= 10000, else the
 * asymptotic Kolmogorov distribution with n = round(nr*nc/(nr+nc)).
 * *stat is D (rounded to h/lcm(nr, nc) in the exact case, as scipy). */
int skiff_mon_ks(const double *r, size_t nr, const double *c, size_t nc, double *stat,
                 double *pvalue, struct skiff_err *err);
/* Wasserstein-1 distance divided by max(population std of r, 0.001). */
int skiff_mon_wasserstein(const double *r, size_t nr, const double *c, size_t nc,
                          double *score, struct skiff_err *err);
/* Population stability index over Evidently's bins with zero filling. */
int skiff_mon_psi(enum skiff_mon_kind kind, const double *r, size_t nr, const double *c,
                  size_t nc, double *score, struct skiff_err *err);
/* Jensen-Shannon distance (natural log) over Evidently's bins. */
int skiff_mon_jensenshannon(enum skiff_mon_kind kind, const double *r, size_t nr,
                            const double *c, size_t nc, double *score, struct skiff_err *err);
/* Chi-square goodness of fit of current's value counts against
 * reference's scaled to current's size; p-value. One value in all: p = 1
 * (scipy answers NaN for 0 degrees of freedom). */
int skiff_mon_chisquare(const double *r, size_t nr, const double *c, size_t nc,
                        double *pvalue, struct skiff_err *err);
/* Z-test for two proportions of "not the smallest value"; p-value. */
int skiff_mon_ztest(const double *r, size_t nr, const double *c, size_t nc, double *pvalue,
                    struct skiff_err *err);

/* Special functions the tests use, exposed for their unit tests. */
double skiff_mon_chi2_sf(double x, double df);   /* upper tail of chi-square(df) */
double skiff_mon_kstwo_sf(double d, double n);   /* P(D_n >= d), Kolmogorov */

/* ---- the report ---- */

/* One column of both datasets. NaN marks a missing value; +-inf is allowed
 * (dropped and counted). Borrowed for the duration of the call. */
struct skiff_mon_column {
    const char *name;
    enum skiff_mon_kind kind;
    const double *ref, *cur;
    size_t nref, ncur;
    const char *const *labels;   /* cat: sorted by strcmp; code i is labels[i] */
    size_t nlabels;
};

struct skiff_mon_opts {
    enum skiff_mon_test stattest;   /* DEFAULT: Evidently's choice per column */
    double threshold;               /* < 0: the test's default threshold */
    double drift_share;             /* dataset drift when share >= this (default 0.5) */
};
#define SKIFF_MON_OPTS_INIT {SKIFF_MON_TEST_DEFAULT, -1.0, 0.5}

/* Data quality of one column in one dataset (Evidently's ColumnSummaryMetric
 * characteristics, unrounded). */
struct skiff_mon_quality {
    size_t rows, count, missing, infinite, unique;
    double mean, std, min, p25, p50, p75, max;   /* num only (NaN when count == 0) */
    long most_common;                            /* cat: code, -1 when none */
    size_t most_common_count;
};

#define SKIFF_MON_HIST_BINS 10

struct skiff_mon_col_result {
    char *name;
    enum skiff_mon_kind kind;
    enum skiff_mon_test test;
    double threshold, score;
    bool drift;
    struct skiff_mon_quality ref, cur;
    size_t *new_cats;        /* cat: codes present only in current */
    size_t n_new_cats, n_unused_cats;
    const char *const *labels;   /* borrowed from the input column */
    size_t nlabels;
    /* for plots: num: SKIFF_MON_HIST_BINS bins over [lo, hi] of both datasets;
     * cat: one bin per label. Counts of cleaned values. */
    double lo, hi;
    size_t nbins;
    size_t *ref_hist, *cur_hist;
};

struct skiff_mon_report {
    size_t ncols, n_drifted;
    double share, drift_share;
    bool dataset_drift;
    struct skiff_mon_col_result *cols;
};

/* Tests every column and decides dataset drift (spec 4.8): share of drifted
 * columns >= drift_share. A column empty after cleaning in either dataset is
 * SKIFF_EINVAL naming it (as Evidently). Caller frees *out with
 * skiff_mon_report_free; it borrows the columns' labels, which must outlive
 * it. */
int skiff_mon_report_run(const struct skiff_mon_column *cols, size_t ncols,
                         const struct skiff_mon_opts *o, struct skiff_mon_report **out,
                         struct skiff_err *err);
void skiff_mon_report_free(struct skiff_mon_report *r);

/* The report in the shape of Evidently's Report.as_dict() for
 * DataDriftPreset: metrics[0] DatasetDriftMetric, metrics[1] DataDriftTable
 * (drift_by_columns), then one ColumnSummaryMetric per column. New
 * reference. NULL when out of memory. */
json_t *skiff_mon_report_json(const struct skiff_mon_report *r);
/* The same as indented text appended to *out: every number in the shortest
 * form that reads back as the same double (0.05, not jansson's
 * 0.050000000000000003), as Python's json writes them. Returns 0,
 * SKIFF_ENOMEM or SKIFF_ETOOBIG (out unchanged then). */
int skiff_mon_report_json_text(const struct skiff_mon_report *r, struct skiff_buf *out,
                               struct skiff_err *err);

/* One self-contained HTML page (inline CSS and SVG, no script, no URL):
 * verdict, share, one histogram per column. Appends to *out; returns 0,
 * SKIFF_ENOMEM or SKIFF_ETOOBIG. */
int skiff_mon_report_html(const struct skiff_mon_report *r, struct skiff_buf *out,
                          struct skiff_err *err);

#endif
