/* skiff demo: the fraud platform of examples/fraud, end to end, in a fresh
 * home, with live progress and a summary.
 *
 * The demo is the table `stages` below: each row is a name, what it does
 * (printed as it starts) and a function that reads and fills `struct demo`
 * (demo_int.h). Later capabilities (serving, traffic with a canary, the
 * drift monitor) are added as rows; nothing else changes. A stage returns
 * 0 (done), DEMO_SKIPPED (nothing to do: e.g. no model cleared the AUC bar,
 * so there is nothing to deploy) or an error code with err set, which ends
 * the demo.
 *
 * Lifecycle: options -> home (fresh) -> stages in order -> summary -> the
 * platform is stopped, unless --keep-running. A Ctrl-C at any point stops
 * the running command and the platform, then exits 130.
 */
#include "cli.h"
#include "demo_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "skiff/buf.h"
#include "skiff/time.h"
#include "skiff/yaml.h"

const char cmd_demo_usage[] =
    "Usage: skiff demo [--home DIR] [--users N] [--days D] [--auc-threshold X]\n"
    "                  [--keep-running]\n\n"
    "The fraud platform of examples/fraud end to end, in a fresh home: generates\n"
    "synthetic transactions up to now (the last two days drifted), starts the\n"
    "platform, applies the feature definitions and materializes the online store,\n"
    "runs the training pipeline (validate-data, engineer-features, train,\n"
    "evaluate, and register only when the AUC is above the bar) with live\n"
    "progress, deploys the InferenceService and the drift monitor, scores the\n"
    "users who paid in the last hour by user_id through the V2 protocol, sends\n"
    "10% of 500 requests to a canary of a second model version and promotes or\n"
    "rolls it back, runs the drift monitor over the served (drifted) traffic and\n"
    "saves its HTML report (HOME/drift-report.html), and ends with a\n"
    "summary: model version and AUC, the serving URL and a curl that scores a\n"
    "user, the canary's split and verdict, the drift verdict and the report. The\n"
    "platform is stopped at the end unless --keep-running.\n\n"
    "Options:\n"
    "  --home DIR          the platform home, empty or absent, not under /tmp\n"
    "                      (pipeline steps have a private /tmp); default a new\n"
    "                      /var/tmp/skiff-demo.XXXXXX\n"
    "  --users N           synthetic users (default 1000)\n"
    "  --days D            days of transactions (default 14; at least 3)\n"
    "  --auc-threshold X   the pipeline's registration bar (default 0.95)\n"
    "  --keep-running      leave the platform running at the end\n\n"
    "The example is read from $SKIFF_EXAMPLES/fraud, else ./examples/fraud, else\n"
    "examples/fraud next to the binary's build folder, and copied into the home.\n\n"
    "Exit codes: 0 done (also when no model cleared the bar), 1 a stage failed,\n"
    "2 bad usage, 130 interrupted.\n\n"
    "Examples:\n"
    "  skiff demo\n"
    "  skiff demo --users 200 --days 7 --keep-running\n"
    "  skiff demo --auc-threshold 0.999      # the register step is skipped\n";

#define DRIFT_DAYS 2     /* the drifted tail: the drift monitor's "current" */
#define HOLDOUT_DAYS 1   /* the pre-drift days the AUC is measured on */
#define HOME_MAX 512     /* so that every path built under the home fits */
#define RETRAIN_TEMPLATE "fraud-pipeline"   /* drift-monitor.yaml's retrain.workflowTemplate */

struct stage {
    const char *name;
    const char *what;
    int (*run)(struct demo *d, struct skiff_err *err);
};

static int st_data(struct demo *d, struct skiff_err *err);
static int st_platform(struct demo *d, struct skiff_err *err);
static int st_features(struct demo *d, struct skiff_err *err);
static int st_deploy(struct demo *d, struct skiff_err *err);

static const struct stage stages[] = {
    {"data", "synthetic transactions up to now, the last days drifted", st_data},
    {"platform", "skiff up in the demo's home", st_platform},
    {"features", "apply features.yaml (the seven features, fraud_features)", st_features},
    {"online", "materialize the features into the online store", demo__online},
    {"pipeline", "validate -> features -> train -> evaluate -> register if AUC > bar",
     demo__pipeline},
    {"deploy", "apply inferenceservice.yaml, drift-monitor.yaml and the retraining template",
     st_deploy},
    {"serve", "score recent payers by user_id alone (V2 infer, features from the online store)",
     demo__serve},
    {"canary", "a second model version at 10% of 500 requests, then promote or roll back",
     demo__canary},
    {"drift", "score the payers again, run the drift monitor on the payload log, save its report",
     demo__drift},
};
#define NSTAGES (sizeof stages / sizeof *stages)

/* Microseconds since a monotonic time. */
static int64_t since(int64_t mono_t0)
{
    return skiff_time_mono_us() - mono_t0;
}

/* ---- stages ---- */

static int st_data(struct demo *d, struct skiff_err *err)
{
    char users[16], days[16], drift[16], log[DEMO_PATH_MAX + 32], labels[DEMO_PATH_MAX + 32],
        train[DEMO_PATH_MAX + 32], holdout[DEMO_PATH_MAX + 32], tx[DEMO_PATH_MAX + 32];
    char start[40];
    char *argv[] = {"datagen", "fraud", "--users", users, "--days", days, "--drift-from", drift,
                    "--seed", "42", "--start", start, "-o", d->data, NULL};
    int rc;

    /* the data ends now (to the minute): serving reads the online store as
     * of the wall clock, so only recent data has fresh features */
    d->end_us = skiff_time_now_us() / (60 * 1000000LL) * (60 * 1000000LL);
    d->start_us = d->end_us - (int64_t)d->days * 86400LL * 1000000LL;
    skiff_time_format(d->start_us, start, sizeof start);
    snprintf(users, sizeof users, "%u", d->users);
    snprintf(days, sizeof days, "%u", d->days);
    snprintf(drift, sizeof drift, "%d", d->drift_from);
    demo__path_join(log, sizeof log, d->logs, "datagen.log");
    if ((rc = demo__run_self(d, log, NULL, argv, err)) != 0)
        return rc < 0 ? err->code
                      : skiff_err_set(err, SKIFF_EINTERNAL, "skiff datagen failed (exit %d; "
                                      "log: %s)", rc, log);
    demo__path_join(tx, sizeof tx, d->data, "transactions.csv");
    demo__path_join(labels, sizeof labels, d->data, "labels.csv");
    demo__path_join(train, sizeof train, d->data, "labels-train.csv");
    demo__path_join(holdout, sizeof holdout, d->data, "labels-holdout.csv");
    d->transactions = demo__count_rows(tx);
    /* the model learns from the days before the drift and is judged on the
     * last HOLDOUT_DAYS of them; the drifted days are what serving sees
     * later, so the drift monitor has something to find */
    if (demo__labels_split(labels, train, holdout, d->start_us, d->drift_from - HOLDOUT_DAYS,
                           HOLDOUT_DAYS, d->label_rows, err))
        return err->code;
    return 0;
}

static int st_platform(struct demo *d, struct skiff_err *err)
{
    return demo__platform_start(d, err);
}

static int apply(struct demo *d, const char *logname, const char *const files[],
                 struct skiff_err *err)
{
    char log[DEMO_PATH_MAX + 32], paths[4][DEMO_PATH_MAX + 64];
    char *argv[12];
    size_t n = 0;
    int rc;

    demo__path_join(log, sizeof log, d->logs, logname);
    argv[n++] = "apply";
    for (size_t i = 0; files[i] && i < 4; i++) {
        demo__path_join(paths[i], sizeof paths[i], d->repo, files[i]);
        argv[n++] = "-f";
        argv[n++] = paths[i];
    }
    argv[n] = NULL;
    if ((rc = demo__run_self(d, log, NULL, argv, err)) != 0)
        return rc < 0 ? err->code
                      : skiff_err_set(err, SKIFF_EINTERNAL, "skiff apply failed (exit %d; log: "
                                      "%s)", rc, log);
    return 0;
}

static int st_features(struct demo *d, struct skiff_err *err)
{
    static const char *const files[] = {"features.yaml", NULL};
    return apply(d, "apply-features.log", files, err);
}

/* pipeline.yaml as the WorkflowTemplate `fraud-pipeline` that the drift
 * monitor's retrain starts: the same definition (no second copy to keep in
 * step), kind WorkflowTemplate, with the demo's folders as the defaults of
 * data-dir and repo-dir. */
static int apply_retrain_template(struct demo *d, struct skiff_err *err)
{
    char file[DEMO_PATH_MAX + 32];
    struct skiff_yaml_docs *docs = NULL;
    json_t *obj, *p;
    size_t i;
    int rc;

    demo__path_join(file, sizeof file, d->repo, "pipeline.yaml");
    if (skiff_yaml_load_file(file, &docs, err))
        return err->code;
    obj = json_deep_copy(skiff_yaml_doc(docs, 0));
    skiff_yaml_free(docs);
    if (!obj || json_object_set_new(obj, "kind", json_string("WorkflowTemplate")) ||
        json_object_set_new(obj, "metadata", json_pack("{s:s, s:{s:s}}", "name", RETRAIN_TEMPLATE,
                                                       "labels", "app", "fraud-detector"))) {
        json_decref(obj);
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    json_array_foreach(json_object_get(json_object_get(json_object_get(obj, "spec"),
                                                       "arguments"), "parameters"), i, p) {
        if (strcmp(demo__str(p, "name"), "data-dir") == 0)
            json_object_set_new(p, "value", json_string(d->data));
        else if (strcmp(demo__str(p, "name"), "repo-dir") == 0)
            json_object_set_new(p, "value", json_string(d->repo));
    }
    rc = cli_api("PUT", "/api/v1/workflowtemplates/" RETRAIN_TEMPLATE, obj, NULL, NULL, err);
    json_decref(obj);
    return rc ? skiff_err_prefix(err, "WorkflowTemplate %s", RETRAIN_TEMPLATE) : 0;
}

static int st_deploy(struct demo *d, struct skiff_err *err)
{
    static const char *const files[] = {"inferenceservice.yaml", "drift-monitor.yaml", NULL};
    if (!d->registered)
        return DEMO_SKIPPED;
    if (apply_retrain_template(d, err) || apply(d, "apply-deploy.log", files, err))
        return err->code;
    d->deployed = true;
    return 0;
}

/* ---- summary ---- */

static void summary(struct demo *d, int64_t t0)
{
    printf("\nSummary (%.1fs)\n", (double)(skiff_time_mono_us() - t0) / 1e6);
    if (d->registered)
        printf("  model      fraud-detector version %s (alias champion), AUC %s, bar %s\n",
               *d->model_version ? d->model_version : "?", d->auc, d->auc_threshold);
    else if (*d->auc)
        printf("  model      none registered: AUC %s is not above the bar %s (register was "
               "skipped)\n", d->auc, d->auc_threshold);
    if (*d->run_id)
        printf("  run        %s (skiff runs get %s)\n", d->run_id, d->run_id);
    if (*d->workflow)
        printf("  pipeline   %s (skiff get workflow %s; skiff logs %s)\n", d->workflow,
               d->workflow, d->workflow);
    if (d->served) {
        printf("  serving    %s (features of %u users in the online store)\n", d->serving_url,
               d->online_users);
        printf("  score a user (token of scope serving:infer in %s):\n"
               "    curl -s -H \"Authorization: Bearer $(cat %s)\" \\\n"
               "      -d '{\"inputs\": [{\"name\": \"user_id\", \"datatype\": \"BYTES\", "
               "\"shape\": [1], \"data\": [\"%s\"]}]}' \\\n"
               "      %s/v2/models/fraud-detector/infer\n%s", d->token_file, d->token_file,
               d->curl_user, d->url,
               d->keep_running ? "" : "    (the platform stops now: --keep-running keeps it)\n");
    } else if (d->deployed) {
        printf("  serving    InferenceService fraud-detector applied, not serving (skiff "
               "describe isvc fraud-detector)\n");
    }
    if (d->canary_ran)
        printf("  canary     version %s (AUC %s) at 10%%: %u of %u requests (%.1f%%) answered "
               "by %s; %s: %s\n", d->canary_version, d->canary_auc, d->canary_hits[1],
               d->canary_sent, d->canary_sent ? 100.0 * d->canary_hits[1] / d->canary_sent : 0,
               d->canary_rev, d->promoted ? "promoted" : "rolled back", d->canary_why);
    if (d->drift_ran)
        printf("  drift      %s: %lld of %lld columns drifted (share %.2f), run %lld over %lld "
               "served rows; top: %s\n", d->dataset_drift ? "dataset drift" : "no dataset drift",
               d->drift_ndrift, d->drift_ncols, d->drift_share, d->drift_run, d->drift_rows,
               d->drift_top);
    if (*d->report)
        printf("  report     %s\n", d->report);
    printf("  home       %s (data in fraud/data, logs in logs/ and up.log)\n", d->home);
}

/* ---- options and setup ---- */

static bool parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    unsigned long v;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        return false;
    *out = (unsigned)v;
    return true;
}

/* examples/fraud: $SKIFF_EXAMPLES/fraud, ./examples/fraud, or next to the
 * binary's build folder (build/skiff -> examples/fraud). */
static int find_examples(struct demo *d, struct skiff_err *err)
{
    char cand[3][DEMO_PATH_MAX], dir[PATH_MAX], probe[DEMO_PATH_MAX + 32];
    const char *env = getenv("SKIFF_EXAMPLES");
    char *slash;
    size_t n = 0;
    int w;

    if (env && *env)
        demo__path_join(cand[n++], sizeof cand[0], env, "fraud");
    demo__path_join(cand[n++], sizeof cand[0], "examples", "fraud");
    w = snprintf(dir, sizeof dir, "%s", d->self);
    if (w > 0 && (size_t)w < sizeof dir && (slash = strrchr(dir, '/'))) {
        *slash = '\0';
        demo__path_join(cand[n++], sizeof cand[0], dir, "../examples/fraud");
    }
    for (size_t i = 0; i < n; i++) {
        char *abs;
        demo__path_join(probe, sizeof probe, cand[i], "pipeline.yaml");
        if (access(probe, R_OK) == 0 && (abs = realpath(cand[i], NULL))) {
            snprintf(d->examples, sizeof d->examples, "%s", abs);
            free(abs);
            return 0;
        }
    }
    return skiff_err_set(err, SKIFF_EINVAL, "cannot find examples/fraud (looked in %s%s"
                         "./examples and next to %s): set SKIFF_EXAMPLES to the examples folder",
                         env && *env ? env : "", env && *env ? ", " : "", d->self);
}

static bool under_tmp(const char *path)
{
    return strncmp(path, "/tmp/", 5) == 0 || strcmp(path, "/tmp") == 0;
}

/* A fresh home: --home (empty or absent) or a new /var/tmp/skiff-demo.XXXXXX. */
static int make_home(struct demo *d, const char *want, struct skiff_err *err)
{
    char *abs;
    int rc;
    if (want) {
        char cwd[PATH_MAX];
        /* checked before anything is created, and again once links are resolved */
        if (under_tmp(want) || (want[0] != '/' && getcwd(cwd, sizeof cwd) && under_tmp(cwd)))
            return skiff_err_set(err, SKIFF_EINVAL, "--home '%s' is under /tmp, which each "
                                 "pipeline step sees as its own private /tmp: choose a folder "
                                 "elsewhere (e.g. /var/tmp)", want);
        if (mkdir(want, 0700) != 0 && errno != EEXIST)
            return skiff_err_sys(err, SKIFF_EINVAL, "cannot create --home '%s'", want);
        if (!(abs = realpath(want, NULL)))
            return skiff_err_sys(err, SKIFF_EINVAL, "--home '%s'", want);
        if (strlen(abs) >= HOME_MAX || under_tmp(abs)) {
            rc = skiff_err_set(err, SKIFF_EINVAL, strlen(abs) >= HOME_MAX
                               ? "--home '%s' is too long" : "--home '%s' is under /tmp, "
                               "which each pipeline step sees as its own private /tmp", abs);
            free(abs);
            return rc;
        }
        snprintf(d->home, sizeof d->home, "%s", abs);
        free(abs);
        {
            char probe[DEMO_PATH_MAX + 32];
            demo__path_join(probe, sizeof probe, d->home, "skiff.db");
            if (access(probe, F_OK) == 0)
                return skiff_err_set(err, SKIFF_EINVAL, "--home '%s' already holds a platform; "
                                     "the demo needs a fresh one", d->home);
        }
    } else {
        char tmpl[] = "/var/tmp/skiff-demo.XXXXXX";
        if (!mkdtemp(tmpl))
            return skiff_err_sys(err, SKIFF_EIO, "cannot create a home under /var/tmp");
        snprintf(d->home, sizeof d->home, "%s", tmpl);
    }
    demo__path_join(d->repo, sizeof d->repo, d->home, "fraud");
    demo__path_join(d->data, sizeof d->data, d->repo, "data");
    demo__path_join(d->logs, sizeof d->logs, d->home, "logs");
    if (mkdir(d->logs, 0755) != 0 && errno != EEXIST)
        return skiff_err_sys(err, SKIFF_EIO, "cannot create '%s'", d->logs);
    return demo__copy_folder(d->examples, d->repo, err);
}

/* Every command the demo runs, and the platform's steps, talk to this home's
 * platform and find `skiff` on PATH (a step's command is `skiff ...`). */
static int set_environment(const struct demo *d, struct skiff_err *err)
{
    struct skiff_buf path = SKIFF_BUF_INIT;
    const char *old = getenv("PATH");
    char dir[PATH_MAX], *slash;
    int rc;

    snprintf(dir, sizeof dir, "%s", d->self);
    if ((slash = strrchr(dir, '/')))
        *slash = '\0';
    skiff_buf_appendf(&path, "%s%s%s", dir, old && *old ? ":" : "", old ? old : "");
    rc = setenv("PATH", path.ptr, 1) || setenv("SKIFF_HOME", d->home, 1) ||
         setenv("SKIFF_NO_PROGRESS", "1", 1) || unsetenv("SKIFF_URL") ||
         unsetenv("SKIFF_TOKEN_FILE") || unsetenv("SKIFF_LISTEN");
    skiff_buf_release(&path);
    return rc ? skiff_err_sys(err, SKIFF_EINTERNAL, "cannot set the environment") : 0;
}

int cmd_demo(int argc, char **argv)
{
    struct demo d;
    struct skiff_err err = SKIFF_ERR_INIT;
    const char *home = NULL;
    int64_t t0 = skiff_time_mono_us();
    ssize_t n;
    int rc = CLI_OK;

    if (cli_wants_help(argc, argv))
        return cli_print_usage("demo");
    memset(&d, 0, sizeof d);
    d.users = 1000;
    d.days = 14;
    snprintf(d.auc_threshold, sizeof d.auc_threshold, "0.95");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--keep-running") == 0) {
            d.keep_running = true;
            continue;
        }
        if (!val)
            return cli_usage_error("demo", "unexpected argument '%s'", a);
        if (strcmp(a, "--home") == 0)
            home = val;
        else if (strcmp(a, "--users") == 0) {
            if (!parse_uint(val, 1, 999999, &d.users))
                return cli_usage_error("demo", "--users takes 1 to 999999, not '%s'", val);
        } else if (strcmp(a, "--days") == 0) {
            if (!parse_uint(val, DRIFT_DAYS + HOLDOUT_DAYS + 1, 3650, &d.days))
                return cli_usage_error("demo", "--days takes %d to 3650, not '%s'",
                                       DRIFT_DAYS + HOLDOUT_DAYS + 1, val);
        } else if (strcmp(a, "--auc-threshold") == 0) {
            char *end;
            double x = strtod(val, &end);
            if (end == val || *end || !(x >= 0 && x <= 1))
                return cli_usage_error("demo", "--auc-threshold takes a number in [0, 1], "
                                               "not '%s'", val);
            snprintf(d.auc_threshold, sizeof d.auc_threshold, "%s", val);
        } else
            return cli_usage_error("demo", "unexpected argument '%s'", a);
        i++;
    }
    d.drift_from = (int)d.days - DRIFT_DAYS;
    d.tty = isatty(STDOUT_FILENO) && !getenv("SKIFF_NO_PROGRESS");
    if ((n = readlink("/proc/self/exe", d.self, sizeof d.self - 1)) <= 0) {
        skiff_err_sys(&err, SKIFF_EINTERNAL, "cannot find this binary (/proc/self/exe)");
        return cli_fail(&err);
    }
    d.self[n] = '\0';
    if (find_examples(&d, &err) || make_home(&d, home, &err) || set_environment(&d, &err))
        return cli_fail(&err);
    demo__signals();

    printf("skiff demo: the fraud platform end to end\n  home %s, %u users x %u days, "
           "drift from day %d, AUC bar %s\n", d.home, d.users, d.days, d.drift_from,
           d.auc_threshold);
    for (size_t i = 0; i < NSTAGES && rc == CLI_OK; i++) {
        int64_t ts = skiff_time_mono_us();
        int r;
        printf("\n[%zu/%zu] %-9s %s\n", i + 1, NSTAGES, stages[i].name, stages[i].what);
        fflush(stdout);
        r = stages[i].run(&d, &err);
        if (demo__stop) {
            if (d.tty)
                fputs("\r\033[K", stdout);
            printf("      ✖ interrupted\n");
            rc = 130;
        } else if (r == DEMO_SKIPPED) {
            demo__result(&d, "○", since(ts), "skipped: %s",
                         d.registered ? "nothing to do" : "no model was registered");
        } else if (r != 0) {
            char msg[SKIFF_ERR_MSG_MAX + SKIFF_ERR_WHERE_MAX + 64];
            skiff_err_format(&err, msg, sizeof msg);
            demo__result(&d, "✖", since(ts), "%s", msg);
            rc = CLI_FAILED;
        } else if (strcmp(stages[i].name, "data") == 0) {
            demo__result(&d, "✔", since(ts), "%llu transactions; %llu rows to train on, %llu "
                         "to measure the AUC on, the rest drifted",
                         (unsigned long long)d.transactions,
                         (unsigned long long)d.label_rows[0],
                         (unsigned long long)d.label_rows[1]);
        } else if (strcmp(stages[i].name, "platform") == 0) {
            demo__result(&d, "✔", since(ts), "%s (pid %d, log %s/up.log)", d.url,
                         (int)d.up_pid, d.home);
        } else if (strcmp(stages[i].name, "pipeline") == 0) {
            demo__result(&d, "✔", since(ts), "%s Succeeded: %s", d.workflow,
                         d.registered ? "model registered as champion" : "register was skipped");
        } else if (strcmp(stages[i].name, "deploy") == 0) {
            demo__result(&d, "✔", since(ts), "InferenceService fraud-detector, DriftMonitor "
                         "fraud-detector-drift, WorkflowTemplate %s", RETRAIN_TEMPLATE);
        } else if (strcmp(stages[i].name, "online") == 0) {
            demo__result(&d, "✔", since(ts), "%u users with all seven features in the online "
                         "store", d.online_users);
        } else if (strcmp(stages[i].name, "serve") == 0) {
            demo__result(&d, "✔", since(ts), "fraud-detector Ready at %s", d.serving_url);
        } else if (strcmp(stages[i].name, "canary") == 0) {
            demo__result(&d, "✔", since(ts), "canary version %s %s (%u of %u requests, "
                         "%.1f%%, went to it)", d.canary_version,
                         d.promoted ? "promoted" : "rolled back", d.canary_hits[1],
                         d.canary_sent, 100.0 * d.canary_hits[1] / d.canary_sent);
        } else if (strcmp(stages[i].name, "drift") == 0) {
            demo__result(&d, "✔", since(ts), "%s: %lld of %lld columns drifted (share %.2f); "
                         "top: %s; report %s", d.dataset_drift ? "dataset drift"
                         : "no dataset drift", d.drift_ndrift, d.drift_ncols, d.drift_share,
                         d.drift_top, d.report);
        } else {
            demo__result(&d, "✔", since(ts), "done");
        }
    }
    if (rc != 130 && !demo__stop)
        summary(&d, t0);
    if (demo__stop)   /* also a Ctrl-C after the last stage */
        rc = 130;
    free(d.payers);
    if (d.keep_running && d.up_pid > 0 && rc != 130) {
        printf("\nThe platform keeps running (pid %d) at %s:\n"
               "  export SKIFF_HOME=%s\n  skiff get workflows; skiff models get fraud-detector\n"
               "  stop it with: kill %d\n", (int)d.up_pid, d.url, d.home, (int)d.up_pid);
    } else if (d.up_pid > 0) {
        int up = demo__platform_stop(&d);
        printf("\nplatform stopped%s\n", up == 0 ? "" : " (it did not exit cleanly: see up.log)");
    }
    fflush(stdout);
    return rc;
}
