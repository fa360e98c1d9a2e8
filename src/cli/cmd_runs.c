/* skiff runs: list and show tracking runs (the MLflow API of `skiff up`). */
#include "cli.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "skiff/buf.h"

const char cmd_runs_usage[] =
    "Usage: skiff runs list [--experiment NAME] [--filter EXPR] [-o json]\n"
    "       skiff runs get RUN_ID [-o yaml|json]\n\n"
    "List the runs of the tracking server, newest first, or show one run with\n"
    "its params, latest metrics and tags. Without --experiment, runs of every\n"
    "active experiment are listed. --filter takes MLflow's search syntax.\n\n"
    "Options:\n"
    "  --experiment NAME   only runs of this experiment\n"
    "  --filter EXPR       e.g. \"metrics.auc > 0.9 and params.lr = '0.1'\"\n"
    "  -o, --output FORMAT json (list), yaml or json (get; default yaml)\n\n"
    "Examples:\n"
    "  skiff runs list\n"
    "  skiff runs list --experiment fraud --filter \"metrics.auc > 0.9\"\n"
    "  skiff runs get 3f2a9c0e4b1d4e6f8a7b6c5d4e3f2a1b\n";

/* The server's MLflow error body ({"error_code", "message"}) arrives as the
 * message of cli_api's error: keep only its "message". */
static int api_fail(struct skiff_err *err)
{
    json_t *body = json_loads(err->msg, 0, NULL);
    const char *m = json_string_value(json_object_get(body, "message"));

    if (m) {
        char tmp[sizeof err->msg];
        snprintf(tmp, sizeof tmp, "%s", m);
        snprintf(err->msg, sizeof err->msg, "%s", tmp);
    }
    json_decref(body);
    return cli_fail(err);
}

/* Puts `s` into a filter as a single-quoted string ('' for a quote). */
static void quote(struct skiff_buf *b, const char *s)
{
    skiff_buf_putc(b, '\'');
    for (; *s; s++)
        if (*s == '\'')
            skiff_buf_puts(b, "''");
        else
            skiff_buf_putc(b, *s);
    skiff_buf_putc(b, '\'');
}

/* The ids of the experiments to search: the one named, or every active one. */
static int experiment_ids(const char *name, json_t **ids, struct skiff_err *err)
{
    struct skiff_buf f = SKIFF_BUF_INIT;
    json_t *req = NULL, *reply = NULL, *e;
    size_t i;
    int rc;

    *ids = json_array();
    req = json_pack("{s:i}", "max_results", 50000);
    if (name) {
        skiff_buf_puts(&f, "name = ");
        quote(&f, name);
        json_object_set_new(req, "filter", json_string(f.ptr));
    }
    if ((rc = cli_api("POST", "/api/2.0/mlflow/experiments/search", req, &reply, NULL, err)))
        goto out;
    json_array_foreach(json_object_get(reply, "experiments"), i, e)
        json_array_append(*ids, json_object_get(e, "experiment_id"));
    if (name && json_array_size(*ids) == 0)
        rc = skiff_err_set(err, SKIFF_ENOTFOUND, "no experiment named '%s'", name);
out:
    skiff_buf_release(&f);
    json_decref(req);
    json_decref(reply);
    return rc;
}

static const char *tag_of(const json_t *run, const char *key)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(json_object_get(run, "data"), "tags"), i, t)
        if (strcmp(json_string_value(json_object_get(t, "key")), key) == 0)
            return json_string_value(json_object_get(t, "value"));
    return NULL;
}

static void print_runs(const json_t *runs)
{
    size_t i;
    json_t *r;

    printf("%-32s  %-20s  %-9s  %-10s  %-19s  %s\n", "RUN ID", "NAME", "STATUS", "EXPERIMENT",
           "STARTED (UTC)", "WORKFLOW");
    json_array_foreach(runs, i, r) {
        const json_t *info = json_object_get(r, "info");
        time_t start = (time_t)(json_integer_value(json_object_get(info, "start_time")) / 1000);
        const char *wf = tag_of(r, "skiff.workflow");
        char when[32];
        struct tm tm;
        gmtime_r(&start, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        printf("%-32s  %-20s  %-9s  %-10s  %-19s  %s\n",
               json_string_value(json_object_get(info, "run_id")),
               json_string_value(json_object_get(info, "run_name")),
               json_string_value(json_object_get(info, "status")),
               json_string_value(json_object_get(info, "experiment_id")), when, wf ? wf : "-");
    }
}

static int runs_list(int argc, char **argv)
{
    const char *exp = NULL, *filter = NULL, *format = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *ids = NULL, *req = NULL, *reply = NULL, *all = json_array();
    int rc = CLI_OK;

    for (int i = 2; i < argc; i++) {
        if ((strcmp(argv[i], "--experiment") == 0 || strcmp(argv[i], "--filter") == 0 ||
             strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 >= argc) {
            rc = cli_usage_error("runs", "%s needs a value", argv[i]);
            goto out;
        }
        if (strcmp(argv[i], "--experiment") == 0)
            exp = argv[++i];
        else if (strcmp(argv[i], "--filter") == 0)
            filter = argv[++i];
        else if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0)
            format = argv[++i];
        else {
            rc = cli_usage_error("runs", "unexpected argument '%s'", argv[i]);
            goto out;
        }
    }
    if (format && strcmp(format, "json") != 0) {
        rc = cli_usage_error("runs", "runs list prints a table or json, not '%s'", format);
        goto out;
    }
    if (experiment_ids(exp, &ids, &err)) {
        rc = api_fail(&err);
        goto out;
    }
    /* page through: the server caps a page, a list shows everything */
    for (const char *token = NULL;;) {
        json_t *page;
        req = json_pack("{s:O, s:i}", "experiment_ids", ids, "max_results", 1000);
        if (filter)
            json_object_set_new(req, "filter", json_string(filter));
        if (token)
            json_object_set_new(req, "page_token", json_string(token));
        json_decref(reply);
        reply = NULL;
        if (cli_api("POST", "/api/2.0/mlflow/runs/search", req, &reply, NULL, &err)) {
            rc = api_fail(&err);
            goto out;
        }
        json_decref(req);
        req = NULL;
        page = json_object_get(reply, "runs");
        json_array_extend(all, page);
        token = json_string_value(json_object_get(reply, "next_page_token"));
        if (!token)
            break;
    }
    if (format) {
        json_t *o = json_pack("{s:O}", "runs", all);
        rc = cli_print_object(o, "json", &err) ? cli_fail(&err) : CLI_OK;
        json_decref(o);
    } else if (json_array_size(all) == 0) {
        printf("No runs found.\n");
    } else {
        print_runs(all);
    }
out:
    json_decref(ids);
    json_decref(req);
    json_decref(reply);
    json_decref(all);
    return rc;
}

static int runs_get(int argc, char **argv)
{
    const char *id = NULL, *format = "yaml";
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *reply = NULL;
    char path[128];
    int rc;

    for (int i = 2; i < argc; i++) {
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc)
            format = argv[++i];
        else if (argv[i][0] != '-' && !id)
            id = argv[i];
        else
            return cli_usage_error("runs", "unexpected argument '%s'", argv[i]);
    }
    if (!id)
        return cli_usage_error("runs", "which run? e.g. 'skiff runs get RUN_ID'");
    if (strcmp(format, "yaml") != 0 && strcmp(format, "json") != 0)
        return cli_usage_error("runs", "unknown output format '%s' (yaml or json)", format);
    /* a run id is 32 hex digits: nothing in it needs URL encoding */
    for (const char *p = id; *p; p++)
        if (!isxdigit((unsigned char)*p) || p - id >= 32)
            return cli_usage_error("runs", "'%s' is not a run id (32 hex digits)", id);
    snprintf(path, sizeof path, "/api/2.0/mlflow/runs/get?run_id=%s", id);
    if (cli_api("GET", path, NULL, &reply, NULL, &err))
        return api_fail(&err);
    rc = cli_print_object(json_object_get(reply, "run"), format, &err) ? cli_fail(&err) : CLI_OK;
    json_decref(reply);
    return rc;
}

int cmd_runs(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("runs", "missing subcommand (list or get)");
    if (strcmp(argv[1], "list") == 0)
        return runs_list(argc, argv);
    if (strcmp(argv[1], "get") == 0)
        return runs_get(argc, argv);
    return cli_usage_error("runs", "unknown subcommand '%s' (list or get)", argv[1]);
}
