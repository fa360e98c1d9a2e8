/* The drift report: clean each column, choose its test, decide dataset
 * drift, describe data quality, and write it out as Evidently's JSON. */
#include "monitor_int.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/buf.h"
#include "skiff/err.h"

/* Drops NaN (missing) and +-inf (counted) into a new array. */
static int clean(const double *x, size_t n, double **out, size_t *nout, size_t *missing,
                 size_t *infinite, struct skiff_err *err)
{
    double *v = malloc((n ? n : 1) * sizeof *v);
    size_t k = 0;
    if (!v)
        return skiff_err_set(err, SKIFF_ENOMEM, "cannot clean %zu values: out of memory", n);
    *missing = *infinite = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i]))
            (*missing)++;
        else if (isinf(x[i]))
            (*infinite)++;
        else
            v[k++] = x[i];
    }
    *out = v, *nout = k;
    return 0;
}

/* Quantile q of sorted s[n] with linear interpolation (numpy's default,
 * pandas describe): position q (n-1), lerp between its neighbours written
 * as numpy writes it. Example: s = [1,2,3,4], q = .25 -> pos .75 -> 1.75. */
static double quantile(const double *s, size_t n, double q)
{
    double pos = q * (double)(n - 1), t, a, b;
    size_t lo = (size_t)floor(pos);
    if (lo + 1 >= n)
        return s[n - 1];
    t = pos - (double)lo, a = s[lo], b = s[lo + 1];
    return t < 0.5 ? a + (b - a) * t : b - (b - a) * (1 - t);
}

static void quality(struct skiff_mon_quality *qa, enum skiff_mon_kind kind, const double *s,
                    size_t n, size_t rows, size_t missing, size_t infinite)
{
    memset(qa, 0, sizeof *qa);
    qa->rows = rows, qa->count = rows - missing, qa->missing = missing;
    qa->infinite = infinite, qa->most_common = -1;
    qa->mean = qa->std = qa->min = qa->p25 = qa->p50 = qa->p75 = qa->max = NAN;
    qa->unique = monitor__distinct(s, n);
    if (n == 0)
        return;
    if (kind == SKIFF_MON_NUM) {
        double sum = 0, ss = 0;
        for (size_t i = 0; i < n; i++)
            sum += s[i];
        qa->mean = sum / (double)n;
        for (size_t i = 0; i < n; i++)
            ss += (s[i] - qa->mean) * (s[i] - qa->mean);
        qa->std = n > 1 ? sqrt(ss / (double)(n - 1)) : NAN;   /* sample std, ddof 1 */
        qa->min = s[0], qa->max = s[n - 1];
        qa->p25 = quantile(s, n, 0.25), qa->p50 = quantile(s, n, 0.5);
        qa->p75 = quantile(s, n, 0.75);
    } else {
        /* the most frequent code; ties go to the smallest (sorted input) */
        for (size_t i = 0, j; i < n; i = j) {
            for (j = i; j < n && s[j] == s[i]; j++)
                ;
            if (j - i > qa->most_common_count)
                qa->most_common_count = j - i, qa->most_common = (long)s[i];
        }
    }
}

/* Counts for the plots: 10 equal bins over both datasets' range (numeric),
 * one bin per label (categorical). */
static int histograms(struct skiff_mon_col_result *cr, const double *rs, size_t nr,
                      const double *cs, size_t nc, struct skiff_err *err)
{
    if (cr->kind == SKIFF_MON_NUM) {
        cr->nbins = SKIFF_MON_HIST_BINS;
        cr->lo = fmin(rs[0], cs[0]), cr->hi = fmax(rs[nr - 1], cs[nc - 1]);
    } else {
        cr->nbins = cr->nlabels;
    }
    cr->ref_hist = calloc(cr->nbins ? cr->nbins : 1, sizeof *cr->ref_hist);
    cr->cur_hist = calloc(cr->nbins ? cr->nbins : 1, sizeof *cr->cur_hist);
    if (!cr->ref_hist || !cr->cur_hist)
        return skiff_err_set(err, SKIFF_ENOMEM, "cannot count a histogram: out of memory");
    for (int pass = 0; pass < 2; pass++) {
        const double *s = pass ? cs : rs;
        size_t n = pass ? nc : nr, *h = pass ? cr->cur_hist : cr->ref_hist;
        for (size_t i = 0; i < n; i++) {
            size_t b;
            if (cr->kind == SKIFF_MON_CAT) {
                b = (size_t)s[i];
                if (b >= cr->nbins)
                    continue;
            } else if (cr->hi > cr->lo) {
                b = (size_t)((s[i] - cr->lo) / (cr->hi - cr->lo) * (double)cr->nbins);
                if (b >= cr->nbins)
                    b = cr->nbins - 1;   /* the last bin is closed */
            } else {
                b = 0;
            }
            h[b]++;
        }
    }
    return 0;
}

static int column(const struct skiff_mon_column *col, const struct skiff_mon_opts *o,
                  struct skiff_mon_col_result *cr, struct skiff_err *err)
{
    double *r = NULL, *c = NULL, *rs = NULL, *cs = NULL;
    size_t nr, nc, rmiss, rinf, cmiss, cinf;
    int rc;

    cr->kind = col->kind;
    cr->labels = col->labels, cr->nlabels = col->nlabels;
    if ((rc = clean(col->ref, col->nref, &r, &nr, &rmiss, &rinf, err)) ||
        (rc = clean(col->cur, col->ncur, &c, &nc, &cmiss, &cinf, err)))
        goto out;
    if (nr == 0 || nc == 0) {
        rc = skiff_err_set(err, SKIFF_EINVAL,
                           "an empty column '%s' was provided for the %s data: no value "
                           "left after dropping missing and infinite ones",
                           col->name, nr == 0 ? "reference" : "current");
        goto out;
    }
    /* the cleaned copies are ours: sort them in place */
    if ((rc = monitor__sort(r, nr, err)) || (rc = monitor__sort(c, nc, err)))
        goto out;
    rs = r, cs = c;
    /* Evidently's precedence (spec 3): the column's own test and
     * threshold, then the one for every column, then the defaults */
    cr->test = col->test != SKIFF_MON_TEST_DEFAULT ? col->test
               : o->stattest != SKIFF_MON_TEST_DEFAULT
                   ? o->stattest
                   : skiff_mon_default_test(col->kind, nr,
                                            monitor__distinct_union_upto(rs, nr, cs, nc, 6));
    cr->threshold = col->has_threshold ? col->threshold
                    : o->threshold >= 0 ? o->threshold
                                        : skiff_mon_test_default_threshold(cr->test);
    if ((rc = monitor__test_sorted(cr->test, col->kind, rs, nr, cs, nc, &cr->score, err)))
        goto out;
    cr->drift = skiff_mon_test_drifted(cr->test, cr->score, cr->threshold);
    quality(&cr->ref, col->kind, rs, nr, col->nref, rmiss, rinf);
    quality(&cr->cur, col->kind, cs, nc, col->ncur, cmiss, cinf);
    if (col->kind == SKIFF_MON_CAT) {
        /* categories only in current (reported by name) and unused ones */
        size_t nl = col->nlabels ? col->nlabels : 1;
        unsigned char *in = calloc(nl, 2);
        if (!in || !(cr->new_cats = calloc(nl, sizeof *cr->new_cats))) {
            free(in);
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < nr; i++)
            if ((size_t)rs[i] < col->nlabels)
                in[(size_t)rs[i] * 2] = 1;
        for (size_t i = 0; i < nc; i++)
            if ((size_t)cs[i] < col->nlabels)
                in[(size_t)cs[i] * 2 + 1] = 1;
        for (size_t i = 0; i < col->nlabels; i++) {
            if (in[2 * i + 1] && !in[2 * i])
                cr->new_cats[cr->n_new_cats++] = i;
            if (in[2 * i] && !in[2 * i + 1])
                cr->n_unused_cats++;
        }
        free(in);
    }
    rc = histograms(cr, rs, nr, cs, nc, err);
out:
    if (rc)
        skiff_err_prefix(err, "column '%s'", col->name);
    free(r), free(c);
    return rc;
}

void skiff_mon_report_free(struct skiff_mon_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ncols; i++) {
        free(r->cols[i].name);
        free(r->cols[i].new_cats);
        free(r->cols[i].ref_hist);
        free(r->cols[i].cur_hist);
    }
    free(r->cols);
    free(r);
}

/* Columns are independent: two threads take them in turn (the machine
 * the issue names has two cores). Each column's error is kept, and the
 * first one in column order is reported, as a sequential run would. */
struct pool {
    const struct skiff_mon_column *cols;
    const struct skiff_mon_opts *o;
    struct skiff_mon_report *r;
    struct skiff_err *errs;
    int *rcs;
    size_t next;
    pthread_mutex_t mu;
};

static void *pool_main(void *arg)
{
    struct pool *p = arg;
    for (;;) {
        size_t i;
        pthread_mutex_lock(&p->mu);
        i = p->next++;
        pthread_mutex_unlock(&p->mu);
        if (i >= p->r->ncols)
            return NULL;
        if (!(p->r->cols[i].name = strdup(p->cols[i].name)))
            p->rcs[i] = skiff_err_set(&p->errs[i], SKIFF_ENOMEM, "out of memory");
        else
            p->rcs[i] = column(&p->cols[i], p->o, &p->r->cols[i], &p->errs[i]);
    }
}

#define PARALLEL_MIN_VALUES 200000   /* below this a thread costs more than it saves */

int skiff_mon_report_run(const struct skiff_mon_column *cols, size_t ncols,
                         const struct skiff_mon_opts *o, struct skiff_mon_report **out,
                         struct skiff_err *err)
{
    struct skiff_mon_report *r;
    struct pool p = {cols, o, NULL, NULL, NULL, 0, PTHREAD_MUTEX_INITIALIZER};
    size_t values = 0;
    pthread_t th;
    bool two = false;
    int rc = 0;

    *out = NULL;
    if (ncols == 0)
        return skiff_err_set(err, SKIFF_EINVAL, "no columns to compare");
    if (!(o->drift_share >= 0 && o->drift_share <= 1))
        return skiff_err_set(err, SKIFF_EINVAL, "drift share %g is not within [0, 1]",
                             o->drift_share);
    if (!(r = calloc(1, sizeof *r)) || !(r->cols = calloc(ncols, sizeof *r->cols)) ||
        !(p.errs = calloc(ncols, sizeof *p.errs)) || !(p.rcs = calloc(ncols, sizeof *p.rcs))) {
        if (r)
            free(r->cols);
        free(r), free(p.errs);
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    r->ncols = ncols;
    r->drift_share = o->drift_share;
    p.r = r;
    for (size_t i = 0; i < ncols; i++)
        values += cols[i].nref + cols[i].ncur;
    if (ncols > 1 && values >= PARALLEL_MIN_VALUES)
        two = pthread_create(&th, NULL, pool_main, &p) == 0;
    pool_main(&p);
    if (two)
        pthread_join(th, NULL);
    for (size_t i = 0; i < ncols && !rc; i++) {
        if ((rc = p.rcs[i]))
            *err = p.errs[i];
        else
            r->n_drifted += r->cols[i].drift;
    }
    free(p.errs), free(p.rcs);
    pthread_mutex_destroy(&p.mu);
    if (rc) {
        skiff_mon_report_free(r);
        return rc;
    }
    /* spec 4.8: share = drifted / tested; drift when share >= drift_share.
     * E.g. 2 of 4 with drift_share .5 -> share .5 -> dataset drift. */
    r->share = (double)r->n_drifted / (double)ncols;
    r->dataset_drift = r->share >= o->drift_share;
    *out = r;
    return 0;
}

/* ---- JSON ---- */

/* A number, or null where JSON has none (NaN, inf). */
static json_t *num(double x) { return isfinite(x) ? json_real(x) : json_null(); }

/* Evidently rounds summary characteristics to 2 decimals (np.round). */
static json_t *num2(double x)
{
    return isfinite(x) ? json_real(round(x * 100) / 100) : json_null();
}

/* round(100 a / b, 2), Evidently's percentages */
static double pct(size_t a, size_t b)
{
    return b ? round(100.0 * (double)a / (double)b * 100) / 100 : 0;
}

static json_t *distribution(const struct skiff_mon_col_result *c, const size_t *h, size_t n)
{
    json_t *x = json_array(), *y = json_array(), *d;
    for (size_t i = 0; i < c->nbins; i++) {
        if (c->kind == SKIFF_MON_NUM) {
            double w = (c->hi - c->lo) / (double)c->nbins;
            json_array_append_new(x, num(c->lo + (double)i * w));
            /* density, as np.histogram(density=True) */
            json_array_append_new(y, num(w > 0 ? (double)h[i] / ((double)n * w) : 0));
        } else {
            json_array_append_new(x, json_string(c->labels[i]));
            json_array_append_new(y, json_integer((json_int_t)h[i]));
        }
    }
    if (c->kind == SKIFF_MON_NUM)
        json_array_append_new(x, num(c->hi));
    d = json_pack("{s:{s:o,s:o}}", "small_distribution", "x", x, "y", y);
    return d;
}

static json_t *characteristics(const struct skiff_mon_col_result *c,
                               const struct skiff_mon_quality *q, bool current)
{
    json_t *o = json_pack("{s:I,s:I,s:I,s:f,s:I,s:f}", "number_of_rows", (json_int_t)q->rows,
                          "count", (json_int_t)q->count, "missing", (json_int_t)q->missing,
                          "missing_percentage", pct(q->missing, q->rows), "unique",
                          (json_int_t)q->unique, "unique_percentage", pct(q->unique, q->rows));
    if (!o)
        return NULL;
    if (c->kind == SKIFF_MON_NUM) {
        json_object_set_new(o, "mean", num2(q->mean));
        json_object_set_new(o, "std", num2(q->std));
        json_object_set_new(o, "min", num2(q->min));
        json_object_set_new(o, "p25", num2(q->p25));
        json_object_set_new(o, "p50", num2(q->p50));
        json_object_set_new(o, "p75", num2(q->p75));
        json_object_set_new(o, "max", num2(q->max));
        json_object_set_new(o, "infinite_count", json_integer((json_int_t)q->infinite));
        json_object_set_new(o, "infinite_percentage", json_real(pct(q->infinite, q->rows)));
    } else {
        json_object_set_new(o, "most_common",
                            q->most_common >= 0 ? json_string(c->labels[q->most_common])
                                                : json_null());
        json_object_set_new(o, "most_common_percentage",
                            json_real(pct(q->most_common_count, q->rows)));
        if (current) {
            json_t *names = json_array();
            for (size_t i = 0; i < c->n_new_cats; i++)
                json_array_append_new(names, json_string(c->labels[c->new_cats[i]]));
            json_object_set_new(o, "new_in_current_values_count",
                                json_integer((json_int_t)c->n_new_cats));
            json_object_set_new(o, "unused_in_current_values_count",
                                json_integer((json_int_t)c->n_unused_cats));
            json_object_set_new(o, "new_in_current_values", names);
        }
    }
    return o;
}

json_t *skiff_mon_report_json(const struct skiff_mon_report *r)
{
    json_t *root = NULL, *metrics, *by = json_object(), *m;
    /* DataDriftTable always decides with Evidently's default share 0.5,
     * whatever the preset's drift_share (spec 1). */
    m = json_pack("{s:s,s:{s:f,s:I,s:I,s:f,s:b}}", "metric", "DatasetDriftMetric", "result",
                  "drift_share", r->drift_share, "number_of_columns", (json_int_t)r->ncols,
                  "number_of_drifted_columns", (json_int_t)r->n_drifted,
                  "share_of_drifted_columns", r->share, "dataset_drift", r->dataset_drift);
    if (!by || !m)
        goto fail;
    metrics = json_array();
    root = json_pack("{s:o}", "metrics", metrics);
    if (!root)
        goto fail;
    json_array_append_new(metrics, m);
    m = NULL;
    for (size_t i = 0; i < r->ncols; i++) {
        const struct skiff_mon_col_result *c = &r->cols[i];
        json_t *cd = json_pack(
            "{s:s,s:s,s:s,s:f,s:o,s:b,s:o,s:o}", "column_name", c->name, "column_type",
            c->kind == SKIFF_MON_NUM ? "num" : "cat", "stattest_name",
            skiff_mon_test_display(c->test), "stattest_threshold", c->threshold,
            "drift_score", num(c->score), "drift_detected", c->drift, "current",
            distribution(c, c->cur_hist, c->cur.count - c->cur.infinite), "reference",
            distribution(c, c->ref_hist, c->ref.count - c->ref.infinite));
        if (!cd || json_object_set_new(by, c->name, cd))
            goto fail;
    }
    m = json_pack("{s:s,s:{s:I,s:I,s:f,s:b,s:O}}", "metric", "DataDriftTable", "result",
                  "number_of_columns", (json_int_t)r->ncols, "number_of_drifted_columns",
                  (json_int_t)r->n_drifted, "share_of_drifted_columns", r->share,
                  "dataset_drift", r->share >= 0.5, "drift_by_columns", by);
    if (!m || json_array_append_new(metrics, m))
        goto fail;
    m = NULL;
    for (size_t i = 0; i < r->ncols; i++) {
        const struct skiff_mon_col_result *c = &r->cols[i];
        json_t *s = json_pack("{s:s,s:{s:s,s:s,s:o,s:o}}", "metric", "ColumnSummaryMetric",
                              "result", "column_name", c->name, "column_type",
                              c->kind == SKIFF_MON_NUM ? "num" : "cat",
                              "reference_characteristics", characteristics(c, &c->ref, false),
                              "current_characteristics", characteristics(c, &c->cur, true));
        if (!s || json_array_append_new(metrics, s))
            goto fail;
    }
    json_decref(by);
    return root;
fail:
    json_decref(by);
    json_decref(m);
    json_decref(root);
    return NULL;
}

/* ---- JSON text ----
 * jansson writes every real with 17 digits (a 0.05 threshold comes out as
 * 0.050000000000000003); this writer uses the shortest form that reads back
 * as the same double, as Python's json does, and 2-space indentation. */

static int real_text(struct skiff_buf *b, double x)
{
    char t[40];
    int rc;
    for (int p = 1; p <= 17; p++) {
        snprintf(t, sizeof t, "%.*g", p, x);
        if (strtod(t, NULL) == x)
            break;
    }
    if ((rc = skiff_buf_puts(b, t)))
        return rc;
    /* stays a float for the reader: 1.0, not 1 */
    return strpbrk(t, ".en") ? 0 : skiff_buf_puts(b, ".0");
}

static int indent(struct skiff_buf *b, int depth)
{
    int rc = skiff_buf_putc(b, '\n');
    for (int i = 0; i < depth && !rc; i++)
        rc = skiff_buf_puts(b, "  ");
    return rc;
}

/* Appends j; returns 0, SKIFF_ENOMEM or SKIFF_ETOOBIG. */
static int dump(struct skiff_buf *b, const json_t *j, int depth)
{
    const char *key;
    json_t *v;
    size_t i, n = 0;
    int rc = 0;

    switch (json_typeof(j)) {
    case JSON_OBJECT:
        rc = skiff_buf_putc(b, '{');
        json_object_foreach((json_t *)j, key, v) {
            if (rc || (n++ && (rc = skiff_buf_putc(b, ','))) || (rc = indent(b, depth + 1)) ||
                (rc = skiff_buf_json_str(b, key)) || (rc = skiff_buf_puts(b, ": ")) ||
                (rc = dump(b, v, depth + 1)))
                return rc;
        }
        if (!rc && n)
            rc = indent(b, depth);
        return rc ? rc : skiff_buf_putc(b, '}');
    case JSON_ARRAY:
        rc = skiff_buf_putc(b, '[');
        json_array_foreach(j, i, v) {
            if (rc || (i && (rc = skiff_buf_putc(b, ','))) || (rc = indent(b, depth + 1)) ||
                (rc = dump(b, v, depth + 1)))
                return rc;
        }
        if (!rc && json_array_size(j))
            rc = indent(b, depth);
        return rc ? rc : skiff_buf_putc(b, ']');
    case JSON_STRING:
        return skiff_buf_json_str(b, json_string_value(j));
    case JSON_INTEGER:
        return skiff_buf_appendf(b, "%lld", (long long)json_integer_value(j));
    case JSON_REAL:
        return real_text(b, json_real_value(j));
    case JSON_TRUE:
        return skiff_buf_puts(b, "true");
    case JSON_FALSE:
        return skiff_buf_puts(b, "false");
    default:
        return skiff_buf_puts(b, "null");
    }
}

int skiff_mon_report_json_text(const struct skiff_mon_report *r, struct skiff_buf *out,
                               struct skiff_err *err)
{
    json_t *j = skiff_mon_report_json(r);
    size_t start = out->len;
    int rc;

    if (!j)
        return skiff_err_set(err, SKIFF_ENOMEM, "cannot build the JSON report: out of memory");
    rc = dump(out, j, 0);
    json_decref(j);
    if (!rc)
        rc = skiff_buf_putc(out, '\n');
    if (rc) {
        out->len = start;   /* nothing half-written */
        out->ptr[start] = '\0';
        return skiff_err_set(err, rc, "cannot write the JSON report: %s",
                             skiff_err_default_msg(rc));
    }
    return 0;
}
