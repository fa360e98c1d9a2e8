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
 * The statistics, the report and the datasets keep no state between calls
 * and are thread-safe (a dataset or report object is used by one thread at
 * a time). The DriftMonitor controller at the end is the stateful part: its
 * own comment says how.
 */
#ifndef SKIFF_MONITOR_H
#define SKIFF_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
    /* this column's own test and threshold (Evidently's per_column_stattest
     * and per_column_stattest_threshold): they win over skiff_mon_opts */
    enum skiff_mon_test test;    /* DEFAULT: the options' */
    bool has_threshold;
    double threshold;
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
 * SKIFF_EINVAL naming it (as Evidently; with several failing columns, the
 * first in order). Columns are tested on two threads (this one and one
 * more) when there are 200k values or more. Caller frees *out with
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

/* ---- datasets (src/monitor/data.c, columns.c, payload.c) ----
 *
 *   struct skiff_mon_data *ref, *cur;
 *   skiff_mon_data_read_csv("train.csv", 0, &ref, &err);
 *   skiff_mon_data_read_csv("today.csv", 0, &cur, &err);
 *   skiff_mon_columns(ref, cur, NULL, 0, SKIFF_MON_SAME_COLUMNS, &set, &err);
 *   skiff_mon_report_run(set->cols, set->n, &opts, &rep, &err);
 *   ... skiff_mon_report_free(rep); skiff_mon_colset_free(set);
 *   skiff_mon_data_free(cur); skiff_mon_data_free(ref);   (last: the rest borrows)
 */
struct skiff_mon_data;

/* Reads a CSV file with a header: quoted fields ("" inside), CRLF, a UTF-8
 * BOM; blank lines are skipped (as pandas); an empty cell and pandas'
 * NA markers (NA, NaN, null, None, N/A, ...) are missing. Every row must
 * have the header's number of fields (SKIFF_EPARSE with file:line). A file
 * without data rows is SKIFF_EINVAL ("no data rows"); larger than
 * max_bytes (0: 16 GiB; decompressed bytes, all files of a folder
 * together) SKIFF_ETOOBIG. Read 4 MiB at a time: memory is 8 bytes per
 * cell plus the distinct labels of text columns.
 *   - gzip: a file starting with gzip's magic bytes (whatever its name) is
 *     decompressed as it is read, concatenated members too; a truncated or
 *     corrupt one is SKIFF_EPARSE naming it.
 *   - a folder: its *.csv and *.csv.gz files (not hidden) in name order,
 *     one table; each has a header, which must be the first file's
 *     (SKIFF_EINVAL naming the file); errors name the file and its own
 *     line; none is SKIFF_EINVAL.
 * Caller frees *out with skiff_mon_data_free. */
int skiff_mon_data_read_csv(const char *path, size_t max_bytes, struct skiff_mon_data **out,
                            struct skiff_err *err);
/* The same over text[len] (copied); `name` is used in errors. */
int skiff_mon_data_parse_csv(const char *text, size_t len, const char *name,
                             struct skiff_mon_data **out, struct skiff_err *err);

/* Reads a payload log (include/skiff/serving.h, "payload log"): the files
 * dir/YYYY-MM-DD.jsonl of the UTC days that meet the window, keeping the
 * rows whose "ts" is in (from_us, to_us] (half-open, DESIGN.md); each
 * feature becomes a column (a number, null = missing, or a string). A line
 * that is not such an object is SKIFF_EPARSE with file:line; no row in the
 * window is SKIFF_ENOTFOUND ("no payloads of 'x' in the window ..."). Caller
 * frees *out with skiff_mon_data_free. */
int skiff_mon_data_read_payloads(const char *dir, int64_t from_us, int64_t to_us,
                                 struct skiff_mon_data **out, struct skiff_err *err);

void skiff_mon_data_free(struct skiff_mon_data *d);   /* accepts NULL */
size_t skiff_mon_data_rows(const struct skiff_mon_data *d);
size_t skiff_mon_data_ncols(const struct skiff_mon_data *d);
/* Column i's name, borrowed from d; NULL past the end. */
const char *skiff_mon_data_col_name(const struct skiff_mon_data *d, size_t i);

/* Columns ready for skiff_mon_report_run. */
struct skiff_mon_colset {
    struct skiff_mon_column *cols;
    size_t n;
    void **owned;   /* private: arrays freed with the set */
    size_t nowned;
};

/* Both datasets must have the same columns (else any current-only column
 * is ignored). */
#define SKIFF_MON_SAME_COLUMNS 1u

/* Types and codes the columns `names[nnames]` (in that order; each must be
 * in both datasets), or with names NULL every reference column but
 * "datetime", in Evidently's order (target, prediction, numeric by name,
 * categorical by name). A column is numeric when every non-missing
 * reference cell is a number; a current cell that is not is SKIFF_EPARSE
 * naming the current file:line, column and value. target / prediction
 * with fewer than 5 distinct numbers are categorical (Evidently's task
 * inference). Errors name the file and column (SKIFF_EINVAL). *out borrows
 * ref and cur (free it first); the categorical columns' codes are
 * renumbered in place over the labels of both, so a dataset's column goes
 * into one set only (SKIFF_EINTERNAL the second time). Free with
 * skiff_mon_colset_free. */
int skiff_mon_columns(struct skiff_mon_data *ref, struct skiff_mon_data *cur,
                      const char *const *names, size_t nnames, unsigned flags,
                      struct skiff_mon_colset **out, struct skiff_err *err);
void skiff_mon_colset_free(struct skiff_mon_colset *s);   /* accepts NULL */

/* ---- the DriftMonitor controller of `skiff up` (src/monitor/controller.c) ----
 *
 * For each DriftMonitor (skiff.dev/v1, docs/drift.md): on its cron
 * `schedule` (skiff_workflow_cron_next, checked every 500 ms against
 * status.lastScheduledTime) or when asked, reads the reference (a model
 * version's reference/sample.csv, or a file) and the current data (the
 * InferenceService's payload log over `window`, or a file), runs the
 * report, keeps the run (table monitor_runs) and its JSON and HTML (blob
 * drift/<monitor>/<id>.{json,html}), and writes status: lastRun,
 * lastRunId, lastRunPhase, message, datasetDrift, shareOfDriftedColumns,
 * driftingSince, alertedFor/lastAlert, retrainWorkflow/retrainFor. When a
 * drift episode starts it POSTs a Slack-compatible message to
 * spec.alert.webhook once; when drift has held for spec.retrain.after it
 * creates one Workflow from spec.retrain.workflowTemplate. Metrics:
 * skiff_drift_share{monitor,model}, skiff_drift_score{monitor,feature},
 * skiff_drift_detected{monitor}, skiff_drift_runs_total{monitor,result},
 * skiff_drift_alerts_total, skiff_drift_retrains_total. */
struct skiff_store;
struct skiff_blob;
struct skiff_tracking;
struct skiff_route;
struct skiff_mon_controller;

struct skiff_mon_controller_opts {
    struct skiff_store *store;        /* borrowed; outlives the controller */
    struct skiff_blob *blob;          /* reports; borrowed */
    struct skiff_tracking *tracking;  /* resolves models:/ URIs; borrowed, may be NULL */
    const char *home;                 /* SKIFF_HOME: payloads/, relative paths (copied) */
};

/* Migrates the module's table and makes the controller (no thread yet), so
 * that its routes can be registered first. Free with
 * skiff_mon_controller_close. Store errors, SKIFF_ENOMEM. */
int skiff_mon_controller_open(const struct skiff_mon_controller_opts *o,
                              struct skiff_mon_controller **out, struct skiff_err *err);
/* Starts the scheduler thread; `url` (copied) is the platform URL the
 * alert's report link starts with. SKIFF_EIO. Call once. */
int skiff_mon_controller_start(struct skiff_mon_controller *c, const char *url,
                               struct skiff_err *err);
/* Stops the thread (after the run in progress) and frees c. Accepts NULL. */
void skiff_mon_controller_close(struct skiff_mon_controller *c);

/* Runs monitor `name` now (`trigger` is recorded: "manual", "schedule").
 * A run whose data cannot be read is recorded as Failed with the message
 * and is not an error of this call. *out (may be NULL) receives the run
 * (caller json_decref's it). SKIFF_ENOTFOUND for an unknown monitor, store
 * errors. Thread-safe: runs are serialised. */
int skiff_mon_controller_run(struct skiff_mon_controller *c, const char *name,
                             const char *trigger, json_t **out, struct skiff_err *err);

/* The routes, registered with the controller as ctx (static table):
 *   POST /api/v1/driftmonitors/{name}/run                   (monitor:write)
 *   GET  /api/v1/driftmonitors/{name}/runs                  (monitor:read) newest first
 *   GET  /api/v1/driftmonitors/{name}/runs/{id}             (monitor:read)
 *   GET  /api/v1/driftmonitors/{name}/runs/{id}/report      (monitor:read) HTML
 *   GET  /api/v1/driftmonitors/{name}/runs/{id}/report.json (monitor:read) */
const struct skiff_route *skiff_mon_routes(size_t *n);

#endif
