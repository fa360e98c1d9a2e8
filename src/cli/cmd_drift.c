/* skiff drift: compare a current dataset with a reference one, column by
 * column, with Evidently's statistics (include/skiff/monitor.h). Reads the
 * two CSV files with the feature store's reader, every column as text, and
 * types each column here. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/buf.h"
#include "skiff/features.h"
#include "skiff/monitor.h"

const char cmd_drift_usage[] =
    "Usage: skiff drift --reference FILE --current FILE [--columns A,B,...]\n"
    "                   [--stattest TEST] [--threshold T] [--drift-share S]\n"
    "                   [--json OUT] [--html OUT]\n\n"
    "Compare the current dataset with the reference one as Evidently 0.4's\n"
    "DataDriftPreset does: one statistical test per column, then dataset drift when\n"
    "the share of drifted columns is at least the drift share.\n\n"
    "Both files are CSV with a header and the same columns. A column is numeric when\n"
    "every non-empty reference value parses as a number, categorical otherwise; a\n"
    "current value that does not parse in a numeric column is an error. Empty cells\n"
    "and pandas' missing markers (NA, NaN, null, None, ...) are missing and dropped;\n"
    "infinities are dropped and counted. A column named 'datetime' is not tested;\n"
    "'target' and 'prediction' are tested first, categorical when they hold fewer\n"
    "than 5 distinct numbers. The default test depends on the column (docs/drift.md):\n"
    "  numeric, > 5 distinct values:  K-S (reference <= 1000 rows), else Wasserstein\n"
    "  otherwise:  chi-square (> 2 values) or Z-test (reference <= 1000 rows),\n"
    "              else Jensen-Shannon\n\n"
    "Options:\n"
    "  --reference FILE     the reference data (CSV)\n"
    "  --current FILE       the current data (CSV)\n"
    "  --columns A,B        test only these columns, in this order\n"
    "  --stattest TEST      one test for every column: ks, chisquare, z, wasserstein,\n"
    "                       jensenshannon, psi\n"
    "  --threshold T        threshold for every column (default: the test's own,\n"
    "                       0.05 for p-values, 0.1 for distances and PSI)\n"
    "  --drift-share S      dataset drift when the drifted share >= S (default 0.5)\n"
    "  --json OUT           write Evidently's Report.as_dict() shape there ('-': stdout)\n"
    "  --html OUT           write a self-contained HTML report there\n\n"
    "Exit codes: 0 no dataset drift, 1 dataset drift, 2 bad usage, bad input or\n"
    "another failure (the message says which).\n\n"
    "Examples:\n"
    "  skiff drift --reference train.csv --current last_week.csv\n"
    "  skiff drift --reference train.csv --current today.csv --stattest psi \\\n"
    "      --threshold 0.2 --drift-share 0.3 --json drift.json --html drift.html\n"
    "  skiff drift --reference a.csv --current b.csv --columns amount,country --json -\n";

/* pandas.read_csv's default missing-value markers (besides the empty cell). */
static const char *const na_markers[] = {
    "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
};

static bool is_missing(const char *s)
{
    if (!s || !*s)
        return true;
    /* every marker is at most 8 bytes and starts with one of these: most
     * cells are decided without a strcmp */
    if (!strchr("#-1<Nn", *s) || strnlen(s, 9) > 8)
        return false;
    for (size_t i = 0; i < sizeof na_markers / sizeof *na_markers; i++)
        if (strcmp(s, na_markers[i]) == 0)
            return true;
    return false;
}

/* Clinger's fast path: a plain decimal of at most 15 digits is an integer
 * m < 2^53 divided by an exact power of ten, one correctly rounded IEEE
 * operation, so the result is strtod's. Example: "-0.125" -> -(125 / 1e3).
 * strtod was a third of the time at a million rows. */
static bool fast_num(const char *s, double *v)
{
    static const double p10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    bool neg = false;
    uint64_t m = 0;
    int digits = 0, frac = 0;

    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    for (; *s >= '0' && *s <= '9'; s++, digits++)
        m = m * 10 + (uint64_t)(*s - '0');
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++, digits++, frac++)
            m = m * 10 + (uint64_t)(*s - '0');
    if (*s || digits == 0 || digits > 15)
        return false;
    *v = frac ? (double)m / p10[frac] : (double)m;
    if (neg)
        *v = -*v;
    return true;
}

/* A whole cell as a number: strtod must consume all of it. */
static bool parse_num(const char *s, double *v)
{
    char *end;
    if (fast_num(s, v))
        return true;
    if (isspace((unsigned char)*s))
        return false;
    errno = 0;
    *v = strtod(s, &end);
    return end != s && !*end;
}

/* One column being prepared: values of both datasets and, for a
 * categorical one, its sorted labels (borrowed from the tables). */
struct prep {
    struct skiff_mon_column col;
    double *ref, *cur;
    const char **labels;
    bool numeric;
};

/* Numbers of column c into out; a cell that is not a number is
 * SKIFF_EPARSE with its position, set in err only when `report`. */
static int fill_numeric(const struct skiff_feat_table *t, size_t c, double *out, bool report,
                        struct skiff_err *err)
{
    for (size_t i = 0; i < t->nrows; i++) {
        const char *s = skiff_feat_table_str(t, i, c);
        if (is_missing(s))
            out[i] = NAN;
        else if (!parse_num(s, &out[i]))
            return !report ? SKIFF_EPARSE
                           : skiff_err_at(err, SKIFF_EPARSE, t->name,
                                          t->line ? (int)t->line[i] : 0, 0,
                                          "column '%s' is numeric in the reference but '%s' "
                                          "is not a number", t->cols[c].name, s);
    }
    return 0;
}

/* Distinct labels by hashing (open addressing, FNV-1a): sorting every
 * cell's string with strcmp was the largest cost at a million rows. */
struct labelset {
    const char **keys;   /* slots: NULL when empty */
    size_t *ids;
    size_t cap, n;
    const char **labels; /* labels[id], in order of first appearance */
};

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int labelset_grow(struct labelset *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    const char **keys = calloc(cap, sizeof *keys), **labels;
    size_t *ids = calloc(cap, sizeof *ids);
    if (!keys || !ids || !(labels = realloc(t->labels, cap / 2 * sizeof *labels))) {
        free(keys), free(ids);
        return SKIFF_ENOMEM;
    }
    t->labels = labels;
    for (size_t i = 0; i < t->cap; i++) {
        size_t j;
        if (!t->keys[i])
            continue;
        for (j = hash_str(t->keys[i]) & (cap - 1); keys[j]; j = (j + 1) & (cap - 1))
            ;
        keys[j] = t->keys[i], ids[j] = t->ids[i];
    }
    free(t->keys), free(t->ids);
    t->keys = keys, t->ids = ids, t->cap = cap;
    return 0;
}

/* The id of s, added when new; -1 when out of memory. */
static long labelset_put(struct labelset *t, const char *s)
{
    size_t j;
    if ((t->n + 1) * 2 > t->cap && labelset_grow(t))
        return -1;
    for (j = hash_str(s) & (t->cap - 1); t->keys[j]; j = (j + 1) & (t->cap - 1))
        if (strcmp(t->keys[j], s) == 0)
            return (long)t->ids[j];
    t->keys[j] = s, t->ids[j] = t->n;
    t->labels[t->n] = s;
    return (long)t->n++;
}

static int cmp_label_ref(const void *a, const void *b, void *labels)
{
    const char *const *l = labels;
    return strcmp(l[*(const size_t *)a], l[*(const size_t *)b]);
}

/* Categorical codes for both datasets: provisional ids by hashing, then
 * the few distinct labels sorted and the ids mapped to their rank. */
static int fill_categorical(struct prep *p, const struct skiff_feat_table *ref, size_t ri,
                            const struct skiff_feat_table *cur, size_t ci, struct skiff_err *err)
{
    struct labelset t = {0};
    size_t *order = NULL, *rank = NULL;
    int rc = 0;

    for (int pass = 0; pass < 2 && !rc; pass++) {
        const struct skiff_feat_table *tb = pass ? cur : ref;
        size_t c = pass ? ci : ri;
        double *out = pass ? p->cur : p->ref;
        for (size_t i = 0; i < tb->nrows; i++) {
            const char *s = skiff_feat_table_str(tb, i, c);
            long id;
            if (is_missing(s)) {
                out[i] = NAN;
                continue;
            }
            if ((id = labelset_put(&t, s)) < 0) {
                rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
                break;
            }
            out[i] = (double)id;
        }
    }
    if (!rc && (!(order = malloc((t.n + 1) * sizeof *order)) ||
                !(rank = malloc((t.n + 1) * sizeof *rank)) ||
                !(p->labels = malloc((t.n + 1) * sizeof *p->labels))))
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if (!rc) {
        for (size_t i = 0; i < t.n; i++)
            order[i] = i;
        qsort_r(order, t.n, sizeof *order, cmp_label_ref, t.labels);
        for (size_t i = 0; i < t.n; i++)
            rank[order[i]] = i, p->labels[i] = t.labels[order[i]];
        for (size_t i = 0; i < ref->nrows; i++)
            if (!isnan(p->ref[i]))
                p->ref[i] = (double)rank[(size_t)p->ref[i]];
        for (size_t i = 0; i < cur->nrows; i++)
            if (!isnan(p->cur[i]))
                p->cur[i] = (double)rank[(size_t)p->cur[i]];
        p->col.labels = p->labels, p->col.nlabels = t.n;
    }
    free(t.keys), free(t.ids), free(t.labels), free(order), free(rank);
    return rc;
}

/* Types and fills column `name` (index ri in ref, ci in cur). */
static int prepare(struct prep *p, const char *name, const struct skiff_feat_table *ref, size_t ri,
                   const struct skiff_feat_table *cur, size_t ci, struct skiff_err *err)
{
    memset(p, 0, sizeof *p);
    p->col.name = name;
    p->ref = malloc((ref->nrows ? ref->nrows : 1) * sizeof *p->ref);
    p->cur = malloc((cur->nrows ? cur->nrows : 1) * sizeof *p->cur);
    if (!p->ref || !p->cur)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    p->col.ref = p->ref, p->col.cur = p->cur;
    p->col.nref = ref->nrows, p->col.ncur = cur->nrows;
    /* numeric when every reference value parses (one strtod pass) */
    p->numeric = fill_numeric(ref, ri, p->ref, false, err) == 0;
    if (p->numeric) {
        p->col.kind = SKIFF_MON_NUM;
        if (fill_numeric(cur, ci, p->cur, true, err))
            return err->code;
        if (strcmp(name, "target") == 0 || strcmp(name, "prediction") == 0) {
            /* Evidently's task inference: fewer than 5 distinct numbers is a
             * classification target (categorical), unless a prediction holds
             * non-integer values (probabilities). */
            size_t k = 0;
            bool frac = false;
            double seen[5];
            for (size_t i = 0; i < ref->nrows && k < 5; i++) {
                size_t j = 0;
                if (isnan(p->ref[i]))
                    continue;
                frac |= p->ref[i] != floor(p->ref[i]);
                while (j < k && seen[j] != p->ref[i])
                    j++;
                if (j == k)
                    seen[k++] = p->ref[i];
            }
            if (k < 5 && !(frac && strcmp(name, "prediction") == 0))
                p->numeric = false;
        }
    }
    if (!p->numeric) {
        p->col.kind = SKIFF_MON_CAT;
        return fill_categorical(p, ref, ri, cur, ci, err);
    }
    return 0;
}

static int read_csv(const char *path, struct skiff_feat_table **t, struct skiff_err *err)
{
    struct skiff_feat_csv_opts o = {0};
    o.keep_others = true;   /* every column, as text: typing is ours */
    if (skiff_feat_csv_read(path, &o, t, NULL, err))
        return err->code;
    if ((*t)->nrows == 0)
        return skiff_err_at(err, SKIFF_EINVAL, path, 0, 0, "no data rows");
    return 0;
}

static int cmp_prep_name(const void *a, const void *b)
{
    const struct prep *x = a, *y = b;
    return strcmp(x->col.name, y->col.name);
}

/* Evidently's order: target, prediction, numeric features by name, then
 * categorical features by name. */
static int rank(const struct prep *p)
{
    if (strcmp(p->col.name, "target") == 0)
        return 0;
    if (strcmp(p->col.name, "prediction") == 0)
        return 1;
    return p->numeric ? 2 : 3;
}

static int cmp_prep(const void *a, const void *b)
{
    int ra = rank(a), rb = rank(b);
    return ra != rb ? ra - rb : cmp_prep_name(a, b);
}

static int write_file(const char *path, const char *data, size_t len, struct skiff_err *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f)
        return skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", path);
    if (fwrite(data, 1, len, f) != len || (f != stdout ? fclose(f) : fflush(f)) != 0)
        return skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", path);
    return 0;
}

static void print_summary(const struct skiff_mon_report *r)
{
    printf("%-24s %-4s %-30s %12s %9s  %s\n", "COLUMN", "TYPE", "TEST", "SCORE", "THRESHOLD",
           "DRIFT");
    for (size_t i = 0; i < r->ncols; i++) {
        const struct skiff_mon_col_result *c = &r->cols[i];
        printf("%-24s %-4s %-30s %12.6g %9g  %s\n", c->name,
               c->kind == SKIFF_MON_NUM ? "num" : "cat", skiff_mon_test_display(c->test),
               c->score, c->threshold, c->drift ? "yes" : "no");
        if (c->n_new_cats) {
            printf("  new in current:");
            for (size_t k = 0; k < c->n_new_cats; k++)
                printf(" '%s'", c->labels[c->new_cats[k]]);
            printf("\n");
        }
        if (c->ref.infinite || c->cur.infinite)
            printf("  infinite values dropped: %zu reference, %zu current\n", c->ref.infinite,
                   c->cur.infinite);
    }
    printf("dataset drift: %s (%zu of %zu columns, share %.4g, drift share %g)\n",
           r->dataset_drift ? "yes" : "no", r->n_drifted, r->ncols, r->share, r->drift_share);
}

static bool parse_double(const char *s, double *v)
{
    char *end;
    *v = strtod(s, &end);
    return end != s && !*end && isfinite(*v);
}

int cmd_drift(int argc, char **argv)
{
    const char *refp = NULL, *curp = NULL, *columns = NULL, *json_out = NULL, *html_out = NULL;
    struct skiff_mon_opts o = SKIFF_MON_OPTS_INIT;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_feat_table *ref = NULL, *cur = NULL;
    struct skiff_mon_report *rep = NULL;
    struct skiff_mon_column *cols = NULL;
    struct prep *preps = NULL;
    struct skiff_buf b = SKIFF_BUF_INIT;
    char *list = NULL;
    size_t n = 0;
    int rc = CLI_OK;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--reference") == 0 && val)
            refp = argv[++i];
        else if (strcmp(a, "--current") == 0 && val)
            curp = argv[++i];
        else if (strcmp(a, "--columns") == 0 && val)
            columns = argv[++i];
        else if (strcmp(a, "--stattest") == 0 && val) {
            int t = skiff_mon_test_parse(val);
            if (t < 0)
                return cli_usage_error("drift", "unknown test '%s' (ks, chisquare, z, "
                                                "wasserstein, jensenshannon, psi)", val);
            o.stattest = (enum skiff_mon_test)t;
            i++;
        } else if (strcmp(a, "--threshold") == 0 && val) {
            if (!parse_double(val, &o.threshold) || o.threshold < 0)
                return cli_usage_error("drift", "--threshold wants a number >= 0, not '%s'", val);
            i++;
        } else if (strcmp(a, "--drift-share") == 0 && val) {
            if (!parse_double(val, &o.drift_share) || o.drift_share < 0 || o.drift_share > 1)
                return cli_usage_error("drift", "--drift-share wants a number in [0, 1], not "
                                                "'%s'", val);
            i++;
        } else if (strcmp(a, "--json") == 0 && val)
            json_out = argv[++i];
        else if (strcmp(a, "--html") == 0 && val)
            html_out = argv[++i];
        else
            return cli_usage_error("drift", "unexpected argument '%s'", a);
    }
    if (!refp || !curp)
        return cli_usage_error("drift", "needs --reference FILE and --current FILE");
    if (read_csv(refp, &ref, &err) || read_csv(curp, &cur, &err))
        goto fail;

    /* the columns to test, by index in each file */
    preps = calloc(ref->ncols + 1, sizeof *preps);
    if (!preps) {
        skiff_err_set(&err, SKIFF_ENOMEM, "out of memory");
        goto fail;
    }
    if (columns) {
        char *save = NULL;
        if (!(list = strdup(columns))) {
            skiff_err_set(&err, SKIFF_ENOMEM, "out of memory");
            goto fail;
        }
        for (char *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
            long ri = skiff_feat_table_col(ref, c), ci = skiff_feat_table_col(cur, c);
            if (ri < 0 || ci < 0) {
                skiff_err_at(&err, SKIFF_EINVAL, ri < 0 ? refp : curp, 1, 0,
                             "no column '%s' in the header", c);
                goto fail;
            }
            for (size_t k = 0; k < n; k++)
                if (strcmp(preps[k].col.name, c) == 0) {
                    skiff_err_set(&err, SKIFF_EINVAL, "--columns names '%s' twice", c);
                    goto fail;
                }
            if (prepare(&preps[n++], ref->cols[ri].name, ref, (size_t)ri, cur, (size_t)ci, &err))
                goto fail;
        }
    } else {
        for (size_t c = 0; c < cur->ncols; c++)
            if (skiff_feat_table_col(ref, cur->cols[c].name) < 0) {
                skiff_err_at(&err, SKIFF_EINVAL, refp, 1, 0,
                             "the files' columns differ: '%s' is in '%s' only",
                             cur->cols[c].name, curp);
                goto fail;
            }
        for (size_t c = 0; c < ref->ncols; c++) {
            long ci = skiff_feat_table_col(cur, ref->cols[c].name);
            if (ci < 0) {
                skiff_err_at(&err, SKIFF_EINVAL, curp, 1, 0,
                             "the files' columns differ: '%s' is in '%s' only",
                             ref->cols[c].name, refp);
                goto fail;
            }
            if (strcmp(ref->cols[c].name, "datetime") == 0)
                continue;   /* Evidently's datetime column is not drift-tested */
            if (prepare(&preps[n++], ref->cols[c].name, ref, c, cur, (size_t)ci, &err))
                goto fail;
        }
        qsort(preps, n, sizeof *preps, cmp_prep);
    }
    if (!(cols = calloc(n + 1, sizeof *cols))) {
        skiff_err_set(&err, SKIFF_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        cols[i] = preps[i].col;
    if (skiff_mon_report_run(cols, n, &o, &rep, &err))
        goto fail;
    if (json_out && (skiff_mon_report_json_text(rep, &b, &err) ||
                     write_file(json_out, b.ptr, b.len, &err)))
        goto fail;
    skiff_buf_reset(&b);
    if (html_out && (skiff_mon_report_html(rep, &b, &err) ||
                     write_file(html_out, b.ptr, b.len, &err)))
        goto fail;
    if (!json_out || strcmp(json_out, "-") != 0)
        print_summary(rep);
    rc = rep->dataset_drift ? CLI_FAILED : CLI_OK;
    goto out;
fail:
    cli_fail(&err);
    rc = CLI_USAGE;   /* 1 means drift: every failure is 2 */
out:
    for (size_t i = 0; preps && i < n; i++) {
        free(preps[i].ref);
        free(preps[i].cur);
        free(preps[i].labels);
    }
    free(preps);
    free(cols);
    free(list);
    skiff_buf_release(&b);
    skiff_mon_report_free(rep);
    skiff_feat_table_free(ref);
    skiff_feat_table_free(cur);
    return rc;
}
