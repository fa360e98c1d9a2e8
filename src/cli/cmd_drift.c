/* skiff drift: compare a current dataset with a reference one, column by
 * column, with Evidently's statistics (include/skiff/monitor.h). The
 * monitor reads and types the two CSV files (skiff_mon_data_read_csv,
 * skiff_mon_columns); this file is options and output. Two subcommands
 * read a platform's DriftMonitor runs through its routes
 * (/api/v1/driftmonitors/NAME/runs...): `runs` lists them, `report`
 * downloads one's HTML (or JSON) report. */
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
#include "skiff/http.h"
#include "skiff/monitor.h"

const char cmd_drift_usage[] =
    "Usage: skiff drift --reference FILE --current FILE [--columns A,B,...]\n"
    "                   [--stattest TEST] [--threshold T] [--drift-share S]\n"
    "                   [--json OUT] [--html OUT]\n"
    "       skiff drift runs MONITOR [-o json]\n"
    "       skiff drift report MONITOR [RUN] [--json] [-o FILE]\n\n"
    "Compare the current dataset with the reference one as Evidently 0.4's\n"
    "DataDriftPreset does: one statistical test per column, then dataset drift when\n"
    "the share of drifted columns is at least the drift share.\n\n"
    "FILE is a CSV file with a header, plain or gzip-compressed (recognised by its\n"
    "content, whatever its name), or a folder whose *.csv and *.csv.gz files (same\n"
    "header) are read in name order as one table.\n\n"
    "Both datasets have the same columns. A column is numeric when\n"
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
    "  --reference FILE     the reference data (CSV, CSV.gz or a folder of them)\n"
    "  --current FILE       the current data (the same)\n"
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
    "A platform's DriftMonitor runs (SKIFF_URL, the token of SKIFF_HOME):\n"
    "  runs MONITOR         every run, newest first: id, start time, trigger,\n"
    "                       verdict (drift, no drift, failed), share of drifted\n"
    "                       columns; -o json prints the runs as the API gives them\n"
    "  report MONITOR [RUN] download run RUN's HTML report (default: the newest run\n"
    "                       that has one) to -o FILE ('-': stdout; default\n"
    "                       MONITOR-RUN.html); --json: Evidently's JSON instead\n"
    "  These exit 0, or 1 when the platform refuses or fails (an unknown monitor\n"
    "  or run, a failed run without a report), 2 for bad usage.\n\n"
    "Examples:\n"
    "  skiff drift --reference train.csv --current last_week.csv\n"
    "  skiff drift --reference train.csv --current today.csv --stattest psi \\\n"
    "      --threshold 0.2 --drift-share 0.3 --json drift.json --html drift.html\n"
    "  skiff drift --reference a.csv --current b.csv --columns amount,country --json -\n"
    "  skiff drift --reference train.csv.gz --current payloads/2026-11/ --html d.html\n"
    "  skiff drift runs fraud-drift\n"
    "  skiff drift report fraud-drift -o latest.html\n"
    "  skiff drift report fraud-drift 12 --json -o run12.json\n";

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

/* ---- runs of a platform's DriftMonitor ---- */

/* A monitor's name goes into a URL path: the kind's names (RFC 1123) never
 * need escaping, so anything else is refused here rather than sent. */
static bool name_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.' && *s != '_')
            return false;
    return true;
}

/* The monitor's runs, newest first, into *runs (an array; caller decrefs). */
static int list_runs(const char *name, json_t **runs, struct skiff_err *err)
{
    char path[512];
    json_t *reply = NULL;
    int rc;

    snprintf(path, sizeof path, "/api/v1/driftmonitors/%s/runs", name);
    if ((rc = cli_api("GET", path, NULL, &reply, NULL, err)))
        return rc;
    *runs = json_incref(json_object_get(reply, "runs"));
    json_decref(reply);
    if (!json_is_array(*runs)) {
        json_decref(*runs);
        *runs = NULL;
        return skiff_err_set(err, SKIFF_EINTERNAL, "the platform's reply has no runs");
    }
    return 0;
}

static const char *verdict(const json_t *run)
{
    const json_t *d = json_object_get(run, "datasetDrift");
    const char *phase = json_string_value(json_object_get(run, "phase"));
    if (phase && strcmp(phase, "Failed") == 0)
        return "failed";
    if (!json_is_boolean(d))
        return phase && strcmp(phase, "Running") == 0 ? "running" : "-";
    return json_is_true(d) ? "drift" : "no drift";
}

static int drift_runs(int argc, char **argv)
{
    const char *name = NULL, *format = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *runs = NULL, *r;
    size_t i;

    for (int a = 2; a < argc; a++) {
        if (strcmp(argv[a], "-o") == 0 && a + 1 < argc)
            format = argv[++a];
        else if (argv[a][0] != '-' && !name)
            name = argv[a];
        else
            return cli_usage_error("drift", "runs: unexpected argument '%s'", argv[a]);
    }
    if (!name)
        return cli_usage_error("drift", "runs needs the DriftMonitor's name");
    if (!name_ok(name))
        return cli_usage_error("drift", "'%s' is not a DriftMonitor name", name);
    if (format && strcmp(format, "json") != 0)
        return cli_usage_error("drift", "runs: -o takes json, not '%s'", format);
    if (list_runs(name, &runs, &err))
        return cli_fail(&err);
    if (format) {
        char *text = json_dumps(runs, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        json_decref(runs);
        if (!text) {
            skiff_err_set(&err, SKIFF_ENOMEM, "out of memory");
            return cli_fail(&err);
        }
        printf("%s\n", text);
        free(text);
        return CLI_OK;
    }
    printf("%-6s %-24s %-9s %-9s %7s %9s  %s\n", "ID", "STARTED", "TRIGGER", "VERDICT", "SHARE",
           "DRIFTED", "MESSAGE");
    json_array_foreach(runs, i, r) {
        const json_t *share = json_object_get(r, "shareOfDriftedColumns");
        const char *msg = json_string_value(json_object_get(r, "message"));
        char sh[32] = "-", dr[48] = "-";
        if (json_is_number(share))
            snprintf(sh, sizeof sh, "%.4g", json_number_value(share));
        if (json_is_boolean(json_object_get(r, "datasetDrift")))
            snprintf(dr, sizeof dr, "%lld/%lld",
                     (long long)json_integer_value(json_object_get(r, "numberOfDriftedColumns")),
                     (long long)json_integer_value(json_object_get(r, "numberOfColumns")));
        printf("%-6lld %-24s %-9s %-9s %7s %9s  %s\n",
               (long long)json_integer_value(json_object_get(r, "id")),
               json_string_value(json_object_get(r, "startTime"))
                   ? json_string_value(json_object_get(r, "startTime"))
                   : "-",
               json_string_value(json_object_get(r, "trigger"))
                   ? json_string_value(json_object_get(r, "trigger"))
                   : "-",
               verdict(r), sh, dr, msg ? msg : "");
    }
    if (json_array_size(runs) == 0)
        fprintf(stderr, "no runs of '%s' yet\n", name);
    json_decref(runs);
    return CLI_OK;
}

/* The newest run that has a report (a succeeded one); 0 when none. */
static long long newest_with_report(const json_t *runs)
{
    size_t i;
    const json_t *r;
    json_array_foreach(runs, i, r)
        if (json_is_string(json_object_get(r, "report")))
            return (long long)json_integer_value(json_object_get(r, "id"));
    return 0;
}

/* GET path's body as it is into *out (caller releases it with
 * skiff_buf_release): the HTML report is not JSON, which cli_api reads. */
static int get_raw(const char *path, struct skiff_buf *out, struct skiff_err *err)
{
    struct skiff_http_result res = {0};
    int rc = cli_api_raw("GET", path, NULL, NULL, 0, &res, err);
    if (rc)
        return rc;
    *out = res.body;
    skiff_buf_release(&res.headers);
    return 0;
}

static int drift_report(int argc, char **argv)
{
    const char *name = NULL, *runarg = NULL, *outp = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_buf body = SKIFF_BUF_INIT;
    char path[512], deflt[512];
    json_t *run = NULL;
    long long id = 0;
    bool as_json = false;
    int rc;

    for (int a = 2; a < argc; a++) {
        if (strcmp(argv[a], "-o") == 0 && a + 1 < argc)
            outp = argv[++a];
        else if (strcmp(argv[a], "--json") == 0)
            as_json = true;
        else if (argv[a][0] != '-' && !name)
            name = argv[a];
        else if (argv[a][0] != '-' && !runarg)
            runarg = argv[a];
        else
            return cli_usage_error("drift", "report: unexpected argument '%s'", argv[a]);
    }
    if (!name)
        return cli_usage_error("drift", "report needs the DriftMonitor's name");
    if (!name_ok(name))
        return cli_usage_error("drift", "'%s' is not a DriftMonitor name", name);
    if (runarg) {
        char *end;
        errno = 0;
        id = strtoll(runarg, &end, 10);
        if (end == runarg || *end || id <= 0 || errno)
            return cli_usage_error("drift", "report: RUN is a run id (1, 2, ...), not '%s'",
                                   runarg);
    } else {
        json_t *runs = NULL;
        if (list_runs(name, &runs, &err))
            return cli_fail(&err);
        id = newest_with_report(runs);
        json_decref(runs);
        if (!id) {
            skiff_err_set(&err, SKIFF_ENOTFOUND, "no run of '%s' has a report yet", name);
            return cli_fail(&err);
        }
    }
    /* the run first, through cli_api: its errors (no such monitor or run,
     * the token refused) come with the platform's message */
    snprintf(path, sizeof path, "/api/v1/driftmonitors/%s/runs/%lld", name, id);
    if (cli_api("GET", path, NULL, &run, NULL, &err))
        return cli_fail(&err);
    if (!json_is_string(json_object_get(run, "report"))) {
        const char *msg = json_string_value(json_object_get(run, "message"));
        skiff_err_set(&err, SKIFF_ENOTFOUND, "run %lld of '%s' has no report (%s%s%s)", id, name,
                      json_string_value(json_object_get(run, "phase")) ?
                          json_string_value(json_object_get(run, "phase")) : "?",
                      msg && *msg ? ": " : "", msg ? msg : "");
        json_decref(run);
        return cli_fail(&err);
    }
    json_decref(run);
    snprintf(path, sizeof path, "/api/v1/driftmonitors/%s/runs/%lld/report%s", name, id,
             as_json ? ".json" : "");
    if (!outp) {
        snprintf(deflt, sizeof deflt, "%s-%lld.%s", name, id, as_json ? "json" : "html");
        outp = deflt;
    }
    if ((rc = get_raw(path, &body, &err)) || (rc = write_file(outp, body.ptr, body.len, &err))) {
        skiff_buf_release(&body);
        return cli_fail(&err);
    }
    skiff_buf_release(&body);
    if (strcmp(outp, "-") != 0)
        fprintf(stderr, "run %lld of '%s': %s report written to %s\n", id, name,
                as_json ? "JSON" : "HTML", outp);
    return CLI_OK;
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

    if (argc > 1 && strcmp(argv[1], "runs") == 0)
        return drift_runs(argc, argv);
    if (argc > 1 && strcmp(argv[1], "report") == 0)
        return drift_report(argc, argv);
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
