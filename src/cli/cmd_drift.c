/* skiff drift: compare a current dataset with a reference one, column by
 * column, with Evidently's statistics (include/skiff/monitor.h). The
 * monitor reads and types the two CSV files (skiff_mon_data_read_csv,
 * skiff_mon_columns); this file is options and output. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/buf.h"
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

/* The current file, read on a thread of its own while the main thread
 * reads the reference: the reader's serial parts (the text columns'
 * labels) then overlap. */
struct read_job {
    const char *path;
    struct skiff_mon_data *d;
    struct skiff_err err;
    int rc;
};

static void *read_main(void *arg)
{
    struct read_job *j = arg;
    j->rc = skiff_mon_data_read_csv(j->path, 0, &j->d, &j->err);
    return NULL;
}

static int read_both(const char *refp, const char *curp, struct skiff_mon_data **ref,
                     struct skiff_mon_data **cur, struct skiff_err *err)
{
    struct read_job j = {curp, NULL, SKIFF_ERR_INIT, 0};
    pthread_t th;
    bool threaded = pthread_create(&th, NULL, read_main, &j) == 0;
    int rc = skiff_mon_data_read_csv(refp, 0, ref, err);

    if (threaded)
        pthread_join(th, NULL);
    else
        read_main(&j);
    *cur = j.d;
    if (!rc && j.rc) {
        *err = j.err;
        rc = j.rc;
    }
    return rc;
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
    struct skiff_mon_data *ref = NULL, *cur = NULL;
    struct skiff_mon_report *rep = NULL;
    struct skiff_mon_colset *set = NULL;
    struct skiff_buf b = SKIFF_BUF_INIT;
    const char **names = NULL;
    char *list = NULL;
    size_t nnames = 0;
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
    if (read_both(refp, curp, &ref, &cur, &err))
        goto fail;
    if (columns) {
        char *save = NULL;
        if (!(list = strdup(columns)) || !(names = calloc(strlen(columns) + 1, sizeof *names))) {
            skiff_err_set(&err, SKIFF_ENOMEM, "out of memory");
            goto fail;
        }
        for (char *c = strtok_r(list, ",", &save); c; c = strtok_r(NULL, ",", &save))
            names[nnames++] = c;
    }
    if (skiff_mon_columns(ref, cur, names, nnames, SKIFF_MON_SAME_COLUMNS, &set, &err) ||
        skiff_mon_report_run(set->cols, set->n, &o, &rep, &err))
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
    free(names);
    free(list);
    skiff_buf_release(&b);
    skiff_mon_report_free(rep);
    skiff_mon_colset_free(set);
    skiff_mon_data_free(ref);
    skiff_mon_data_free(cur);
    return rc;
}
