/* The DriftMonitor controller of `skiff up`: runs each monitor on its
 * schedule (or when asked, POST .../run), keeps every run with its report,
 * writes the verdict into the monitor's status, alerts once per drift
 * episode and submits a retraining Workflow when drift has held long
 * enough.
 *
 * Invariants:
 *   - the store is the truth: runs live in table monitor_runs, reports in
 *     the blob store (drift/<monitor>/<run>.{json,html}), the episode state
 *     in status (driftingSince, alertedFor, retrainFor); nothing is kept in
 *     memory between polls;
 *   - one run at a time in this process (c->run_mu), and every status
 *     write happens under it after reading the object again, so the
 *     scheduler and the run route never overwrite each other;
 *   - a drift episode starts at the first drifted run after a run without
 *     drift (driftingSince = that run's time) and ends at the next run
 *     without drift (driftingSince removed). A failed run (data missing,
 *     bad file) changes nothing of it.
 *   - per episode: one alert (alertedFor = driftingSince once the webhook
 *     answered 2xx; retried on the next run otherwise) and one retraining
 *     workflow (retrainFor = driftingSince), submitted at the first run at
 *     which now - driftingSince >= retrain.after.
 *
 *   no drift --run: drift--> drifting (driftingSince, alert) --run: drift,
 *      ^                          |                         held >= after--> retrain submitted
 *      +------run: no drift-------+-------------------------------------------+
 */
#include "monitor_int.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/http.h"
#include "skiff/log.h"
#include "skiff/metrics.h"
#include "skiff/resource.h"
#include "skiff/store.h"
#include "skiff/time.h"
#include "skiff/tracking.h"
#include "skiff/workflow.h"

#define POLL_MS 500
#define DEFAULT_WINDOW_US (24 * 3600 * SKIFF_US_PER_SEC)
/* bytes of one reference or current: decompressed, a folder's files together */
#define MAX_INPUT ((size_t)4 << 30)

static const char *const migrations[] = {
    "CREATE TABLE monitor_runs ("
    " monitor TEXT NOT NULL, id INTEGER NOT NULL, trigger_kind TEXT NOT NULL,"
    " started_us INTEGER NOT NULL, ended_us INTEGER, phase TEXT NOT NULL,"
    " dataset_drift INTEGER, share REAL, n_columns INTEGER, n_drifted INTEGER,"
    " reference_rows INTEGER, current_rows INTEGER, message TEXT, columns TEXT,"
    " PRIMARY KEY (monitor, id))",
};

struct skiff_mon_controller {
    struct skiff_store *store;
    struct skiff_blob *blob;
    struct skiff_tracking *tracking;
    char *home, *url;
    const struct skiff_kind *k_mon, *k_wf;
    pthread_mutex_t run_mu;   /* one run at a time; status writes */
    pthread_mutex_t mu;       /* quit, cv */
    pthread_cond_t cv;
    bool quit, started;
    pthread_t thread;
    struct skiff_metric *m_share, *m_score, *m_detected, *m_runs, *m_alerts, *m_retrains;
};

/* ---- the spec ---- */

struct spec {
    const char *name;
    const char *ref_model, *ref_path, *isvc, *cur_path, *schedule, *webhook, *wt;
    const char *applied_from;
    int64_t window_us, after_us;
    const json_t *columns, *per_column, *params;
    struct skiff_mon_opts opts;
};

static const char *str_at(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Reads what a run needs; the validator (resource__validate_drift_monitor)
 * has checked the shapes, this checks what it could not (durations). */
static int parse_spec(const json_t *obj, struct spec *sp, struct skiff_err *err)
{
    const json_t *spec = json_object_get(obj, "spec"), *md = json_object_get(obj, "metadata");
    const json_t *ref = json_object_get(spec, "reference"), *cur = json_object_get(spec, "current");
    const json_t *alert = json_object_get(spec, "alert"), *re = json_object_get(spec, "retrain");
    const char *w, *t;

    memset(sp, 0, sizeof *sp);
    sp->opts = (struct skiff_mon_opts)SKIFF_MON_OPTS_INIT;
    sp->name = str_at(md, "name");
    sp->applied_from = str_at(json_object_get(md, "annotations"), SKIFF_ANNOTATION_APPLIED_FROM);
    sp->ref_model = str_at(ref, "model");
    sp->ref_path = str_at(ref, "path");
    sp->isvc = str_at(cur, "inferenceService");
    sp->cur_path = str_at(cur, "path");
    sp->schedule = str_at(spec, "schedule");
    sp->webhook = str_at(alert, "webhook");
    sp->wt = str_at(re, "workflowTemplate");
    sp->params = json_object_get(re, "parameters");
    sp->columns = json_object_get(spec, "columns");
    sp->per_column = json_object_get(spec, "perColumn");
    sp->window_us = DEFAULT_WINDOW_US;
    if (!sp->name || (!sp->ref_model && !sp->ref_path) || (!sp->isvc && !sp->cur_path))
        return skiff_err_set(err, SKIFF_EINVAL,
                             "a monitor needs spec.reference (model or path) and spec.current "
                             "(inferenceService or path), which the validator now requires "
                             "(this monitor was stored before: apply it again with them)");
    if ((w = str_at(cur, "window")) && skiff_duration_parse(w, &sp->window_us, err))
        return skiff_err_prefix(err, "spec.current.window");
    if ((w = str_at(re, "after")) && skiff_duration_parse(w, &sp->after_us, err))
        return skiff_err_prefix(err, "spec.retrain.after");
    if ((t = str_at(spec, "stattest")))
        sp->opts.stattest = (enum skiff_mon_test)skiff_mon_test_parse(t);
    if ((int)sp->opts.stattest < 0)
        return skiff_err_set(err, SKIFF_EINVAL, "spec.stattest: unknown test '%s'", t);
    if (json_is_number(json_object_get(spec, "stattestThreshold")))
        sp->opts.threshold = json_number_value(json_object_get(spec, "stattestThreshold"));
    if (json_is_number(json_object_get(spec, "driftShare")))
        sp->opts.drift_share = json_number_value(json_object_get(spec, "driftShare"));
    return 0;
}

/* A path from the spec: absolute as it is; relative against the folder the
 * object was applied from when the file is there, else the platform home. */
static void resolve_path(const struct skiff_mon_controller *c, const struct spec *sp,
                         const char *p, char *out, size_t n)
{
    struct stat st;
    if (p[0] == '/') {
        snprintf(out, n, "%s", p);
        return;
    }
    if (sp->applied_from) {
        snprintf(out, n, "%s/%s", sp->applied_from, p);
        if (stat(out, &st) == 0)
            return;
    }
    snprintf(out, n, "%s/%s", c->home, p);
}

/* The reference: a model version's training sample (reference/sample.csv
 * next to the model folder that `skiff train` logs), or a file. */
static int load_reference(struct skiff_mon_controller *c, const struct spec *sp,
                          struct skiff_mon_data **out, struct skiff_err *err)
{
    char path[4096], file[4200];
    if (sp->ref_path) {
        resolve_path(c, sp, sp->ref_path, file, sizeof file);
    } else {
        char *slash;
        if (!c->tracking)
            return skiff_err_set(err, SKIFF_EUNAVAIL, "no model registry to resolve '%s'",
                                 sp->ref_model);
        if (skiff_tracking_resolve_uri(c->tracking, sp->ref_model, path, sizeof path, err))
            return skiff_err_prefix(err, "spec.reference.model '%s'", sp->ref_model);
        /* .../artifacts/model -> .../artifacts/reference/sample.csv */
        while (strlen(path) > 1 && path[strlen(path) - 1] == '/')
            path[strlen(path) - 1] = '\0';
        if ((slash = strrchr(path, '/')))
            *slash = '\0';
        snprintf(file, sizeof file, "%s/reference/sample.csv", path);
    }
    if (skiff_mon_data_read_csv(file, MAX_INPUT, out, err))
        return skiff_err_prefix(err, "reference");
    return 0;
}

static int load_current(struct skiff_mon_controller *c, const struct spec *sp, int64_t now,
                        struct skiff_mon_data **out, struct skiff_err *err)
{
    char file[4200];
    if (sp->cur_path) {
        resolve_path(c, sp, sp->cur_path, file, sizeof file);
        if (skiff_mon_data_read_csv(file, MAX_INPUT, out, err))
            return skiff_err_prefix(err, "current");
        return 0;
    }
    snprintf(file, sizeof file, "%s/payloads/%s", c->home, sp->isvc);
    if (skiff_mon_data_read_payloads(file, now - sp->window_us, now, out, err))
        return skiff_err_prefix(err, "current (InferenceService '%s')", sp->isvc);
    return 0;
}

/* The model label of the metrics: the registered model's name, else the
 * InferenceService, else the monitor. */
static void model_label(const struct spec *sp, char *out, size_t n)
{
    const char *m = sp->ref_model;
    if (m && strncmp(m, "models:/", 8) == 0) {
        size_t k = strcspn(m + 8, "/@");
        snprintf(out, n, "%.*s", (int)k, m + 8);
    } else
        snprintf(out, n, "%s", sp->isvc ? sp->isvc : sp->name);
}

/* Replaces every byte that is not part of valid UTF-8 by '?': an error
 * message may quote a cell of a user's file, cut anywhere, and JSON (the
 * status, the run) takes only valid text. */
static void utf8_clean(char *s)
{
    unsigned char *p = (unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2
                : (*p & 0xf8) == 0xf0 ? 3 : -1;
        int k = 0;
        while (n > 0 && k < n && (p[k + 1] & 0xc0) == 0x80)
            k++;
        if (n < 0 || k != n) {
            *p++ = '?';
            continue;
        }
        p += n + 1;
    }
}

/* ---- runs ---- */

struct run {
    int64_t id, started_us, ended_us;
    const char *trigger;
    bool ok, drift;
    double share;
    size_t ncols, ndrift, nref, ncur;
    char message[SKIFF_ERR_MSG_MAX + SKIFF_ERR_WHERE_MAX + 64];
    json_t *columns;   /* {col: {test, score, threshold, drift}}; owned */
};

struct id_ctx {
    const char *monitor, *trigger;
    int64_t started_us, id;
};

static int max_id_row(void *ctx, const struct skiff_store_val *cols, size_t n,
                      struct skiff_err *err)
{
    struct id_ctx *x = ctx;
    x->id = n && cols[0].type == SKIFF_VAL_INT ? cols[0].i + 1 : 1;
    return 0;
}

/* Numbers the run (MAX + 1 in the transaction that inserts it). */
static int tx_new_run(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct id_ctx *x = ctx;
    struct skiff_store_val p[4] = {{.type = SKIFF_VAL_TEXT}};
    int rc;
    p[0].s = x->monitor, p[0].len = strlen(x->monitor);
    x->id = 1;
    if ((rc = skiff_store_query(s, "SELECT MAX(id) FROM monitor_runs WHERE monitor = ?", p, 1,
                                max_id_row, x, err)))
        return rc;
    p[1] = (struct skiff_store_val){.type = SKIFF_VAL_INT, .i = x->id};
    p[2] = (struct skiff_store_val){.type = SKIFF_VAL_TEXT, .s = x->trigger,
                                    .len = strlen(x->trigger)};
    p[3] = (struct skiff_store_val){.type = SKIFF_VAL_INT, .i = x->started_us};
    return skiff_store_exec(s,
                            "INSERT INTO monitor_runs"
                            " (monitor, id, trigger_kind, started_us, phase)"
                            " VALUES (?, ?, ?, ?, 'Running')",
                            p, 4, NULL, err);
}

static int save_run(struct skiff_mon_controller *c, const char *monitor, const struct run *r,
                    struct skiff_err *err)
{
    char *cols = r->columns ? json_dumps(r->columns, JSON_COMPACT) : NULL;
    struct skiff_store_val p[12];
    int rc;

#define V_INT(x) ((struct skiff_store_val){.type = SKIFF_VAL_INT, .i = (int64_t)(x)})
#define V_TEXT(x) ((struct skiff_store_val){.type = SKIFF_VAL_TEXT, .s = (x), .len = strlen(x)})
    p[0] = V_INT(r->ended_us);
    p[1] = V_TEXT(r->ok ? "Succeeded" : "Failed");
    p[2] = r->ok ? V_INT(r->drift) : (struct skiff_store_val){.type = SKIFF_VAL_NULL};
    p[3] = r->ok ? (struct skiff_store_val){.type = SKIFF_VAL_REAL, .d = r->share}
                 : (struct skiff_store_val){.type = SKIFF_VAL_NULL};
    p[4] = V_INT(r->ncols);
    p[5] = V_INT(r->ndrift);
    p[6] = V_INT(r->nref);
    p[7] = V_INT(r->ncur);
    p[8] = V_TEXT(r->message);
    p[9] = cols ? V_TEXT(cols) : (struct skiff_store_val){.type = SKIFF_VAL_NULL};
    p[10] = V_TEXT(monitor);
    p[11] = V_INT(r->id);
    rc = skiff_store_exec(c->store,
                          "UPDATE monitor_runs SET ended_us = ?, phase = ?, dataset_drift = ?,"
                          " share = ?, n_columns = ?, n_drifted = ?, reference_rows = ?,"
                          " current_rows = ?, message = ?, columns = ?"
                          " WHERE monitor = ? AND id = ?",
                          p, 12, NULL, err);
    free(cols);
    return rc;
}

/* The per-column summary a run keeps (and the metrics export). */
static json_t *column_summary(const struct skiff_mon_report *rep)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < rep->ncols; i++) {
        const struct skiff_mon_col_result *cr = &rep->cols[i];
        json_object_set_new(o, cr->name,
                            json_pack("{s:s,s:s,s:f,s:f,s:b}", "type",
                                      cr->kind == SKIFF_MON_NUM ? "num" : "cat", "stattest",
                                      skiff_mon_test_name(cr->test), "score",
                                      isfinite(cr->score) ? cr->score : 0.0, "threshold",
                                      cr->threshold, "drift", cr->drift));
    }
    return o;
}

/* Applies spec.perColumn {col: {stattest, stattestThreshold}} to the
 * prepared columns. */
static int per_column(const struct spec *sp, struct skiff_mon_colset *set, struct skiff_err *err)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)sp->per_column, key, v) {
        size_t i;
        for (i = 0; i < set->n && strcmp(set->cols[i].name, key) != 0; i++)
            ;
        if (i == set->n)
            return skiff_err_set(err, SKIFF_EINVAL, "spec.perColumn: no column '%s' is tested",
                                 key);
        if (str_at(v, "stattest")) {
            int t = skiff_mon_test_parse(str_at(v, "stattest"));
            if (t < 0)
                return skiff_err_set(err, SKIFF_EINVAL, "spec.perColumn.%s.stattest: unknown "
                                     "test '%s'", key, str_at(v, "stattest"));
            set->cols[i].test = (enum skiff_mon_test)t;
        }
        if (json_is_number(json_object_get(v, "stattestThreshold"))) {
            set->cols[i].has_threshold = true;
            set->cols[i].threshold = json_number_value(json_object_get(v, "stattestThreshold"));
        }
    }
    return 0;
}

/* Reads both datasets, computes the report and stores its JSON and HTML.
 * Fills r (ok, counts, columns) or returns the error. */
static int compute(struct skiff_mon_controller *c, const struct spec *sp, struct run *r,
                   struct skiff_err *err)
{
    struct skiff_mon_data *ref = NULL, *cur = NULL;
    struct skiff_mon_colset *set = NULL;
    struct skiff_mon_report *rep = NULL;
    struct skiff_buf b = SKIFF_BUF_INIT;
    const char **names = NULL;
    size_t nnames = 0;
    char rel[600];
    int rc;

    if ((rc = load_reference(c, sp, &ref, err)) ||
        (rc = load_current(c, sp, r->started_us, &cur, err)))
        goto out;
    r->nref = skiff_mon_data_rows(ref), r->ncur = skiff_mon_data_rows(cur);
    if (json_array_size(sp->columns)) {
        if (!(names = calloc(json_array_size(sp->columns), sizeof *names))) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
        for (; nnames < json_array_size(sp->columns); nnames++)
            names[nnames] = json_string_value(json_array_get(sp->columns, nnames));
    }
    if ((rc = skiff_mon_columns(ref, cur, names, nnames, 0, &set, err)) ||
        (rc = per_column(sp, set, err)) ||
        (rc = skiff_mon_report_run(set->cols, set->n, &sp->opts, &rep, err)))
        goto out;
    r->ok = true;
    r->drift = rep->dataset_drift;
    r->share = rep->share;
    r->ncols = rep->ncols, r->ndrift = rep->n_drifted;
    r->columns = column_summary(rep);
    for (size_t i = 0; i < rep->ncols; i++)
        skiff_metric_set(c->m_score, (const char *[]){sp->name, rep->cols[i].name},
                         rep->cols[i].score);
    snprintf(rel, sizeof rel, "drift/%s/%lld.json", sp->name, (long long)r->id);
    if ((rc = skiff_mon_report_json_text(rep, &b, err)) ||
        (rc = skiff_blob_put(c->blob, rel, b.ptr, b.len, err)))
        goto out;
    skiff_buf_reset(&b);
    snprintf(rel, sizeof rel, "drift/%s/%lld.html", sp->name, (long long)r->id);
    if ((rc = skiff_mon_report_html(rep, &b, err)) ||
        (rc = skiff_blob_put(c->blob, rel, b.ptr, b.len, err)))
        goto out;
out:
    skiff_buf_release(&b);
    skiff_mon_report_free(rep);
    skiff_mon_colset_free(set);
    skiff_mon_data_free(cur);
    skiff_mon_data_free(ref);
    free(names);
    return rc;
}

/* ---- alert and retraining ---- */

/* Posts the Slack-compatible message; 0 when the receiver answered 2xx. */
static int post_alert(const struct spec *sp, const struct run *r, const char *report_url,
                      struct skiff_err *err)
{
    struct skiff_http_result res = {0};
    struct skiff_buf cols = SKIFF_BUF_INIT;
    char text[2048];
    json_t *msg;
    char *body;
    const char *key;
    json_t *v;
    int rc;

    json_object_foreach(r->columns, key, v)
        if (json_is_true(json_object_get(v, "drift")))
            skiff_buf_appendf(&cols, "%s%s", cols.len ? ", " : "", key);
    snprintf(text, sizeof text,
             "Data drift detected by monitor '%s': %zu of %zu columns drifted (share %.3g, "
             "drift share %.3g): %s. Report: %s",
             sp->name, r->ndrift, r->ncols, r->share, sp->opts.drift_share,
             cols.len ? cols.ptr : "-", report_url);
    msg = json_pack("{s:s,s:[{s:s,s:{s:s,s:s}}]}", "text", text, "blocks", "type", "section",
                    "text", "type", "mrkdwn", "text", text);
    body = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    skiff_buf_release(&cols);
    if (!body)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    rc = skiff_http_request("POST", sp->webhook, NULL, "application/json", body, strlen(body),
                            &res, err);
    free(body);
    if (rc == 0 && (res.status < 200 || res.status > 299))
        rc = skiff_err_set(err, SKIFF_EUNAVAIL, "webhook answered HTTP %ld", res.status);
    skiff_buf_release(&res.body);
    skiff_buf_release(&res.headers);
    return rc;
}

/* Creates a Workflow from the WorkflowTemplate; its name into out. */
static int submit_retrain(struct skiff_mon_controller *c, const struct spec *sp, char *out,
                          size_t n, struct skiff_err *err)
{
    json_t *wf, *params = json_array(), *stored = NULL;
    const char *key;
    json_t *v;
    char gen[300];
    int rc;

    json_object_foreach((json_t *)sp->params, key, v) {
        json_t *val = json_is_string(v) ? json_incref(v) : json_string("");
        if (!json_is_string(v)) {
            char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
            json_decref(val);
            val = json_string(t ? t : "");
            free(t);
        }
        json_array_append_new(params, json_pack("{s:s,s:o}", "name", key, "value", val));
    }
    snprintf(gen, sizeof gen, "%.200s-retrain-", sp->name);
    wf = json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:{s:{s:s},s:{s:o}}}", "apiVersion",
                   "argoproj.io/v1alpha1", "kind", "Workflow", "metadata", "generateName", gen,
                   "labels", "skiff.dev/drift-monitor", sp->name, "spec", "workflowTemplateRef",
                   "name", sp->wt, "arguments", "parameters", params);
    if (!wf)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    rc = skiff_resource_create(c->store, c->k_wf, wf, &stored, err);
    if (rc == 0)
        snprintf(out, n, "%s",
                 json_string_value(json_object_get(json_object_get(stored, "metadata"), "name")));
    json_decref(stored);
    json_decref(wf);
    return rc;
}

/* ---- status ---- */

static void set_time(json_t *o, const char *key, int64_t us)
{
    char t[40];
    json_object_set_new(o, key, json_string(skiff_time_format(us, t, sizeof t)));
}

/* The new status after run r, alerting and retraining as the episode
 * requires. Called under run_mu with the object just read. */
static json_t *next_status(struct skiff_mon_controller *c, const struct spec *sp,
                           const json_t *obj, const struct run *r)
{
    json_t *st = json_deep_copy(json_object_get(obj, "status"));
    char url[700], path[500];
    const char *since;
    int64_t since_us = 0;

    if (!json_is_object(st)) {
        json_decref(st);
        st = json_object();
    }
    if (!st)
        return NULL;
    snprintf(path, sizeof path, "/api/v1/driftmonitors/%s/runs/%lld/report", sp->name,
             (long long)r->id);
    snprintf(url, sizeof url, "%s%s", c->url ? c->url : "", path);
    set_time(st, "lastRun", r->started_us);
    json_object_set_new(st, "lastRunId", json_integer(r->id));
    json_object_set_new(st, "lastRunPhase", json_string(r->ok ? "Succeeded" : "Failed"));
    json_object_set_new(st, "message", json_string(r->message));
    if (!r->ok)
        return st;
    json_object_set_new(st, "lastReport", json_string(path));
    json_object_set_new(st, "datasetDrift", json_boolean(r->drift));
    json_object_set_new(st, "shareOfDriftedColumns", json_real(r->share));
    json_object_set_new(st, "numberOfColumns", json_integer((json_int_t)r->ncols));
    json_object_set_new(st, "numberOfDriftedColumns", json_integer((json_int_t)r->ndrift));
    if (!r->drift) {
        json_object_del(st, "driftingSince");
        return st;
    }
    if (!(since = str_at(st, "driftingSince")) || skiff_time_parse(since, &since_us, NULL)) {
        set_time(st, "driftingSince", r->started_us);
        since_us = r->started_us;
    }
    since = str_at(st, "driftingSince");
    if (sp->webhook &&
        !json_equal(json_object_get(st, "alertedFor"), json_object_get(st, "driftingSince"))) {
        struct skiff_err e = SKIFF_ERR_INIT;
        if (post_alert(sp, r, url, &e) == 0) {
            json_object_set_new(st, "alertedFor", json_string(since));
            set_time(st, "lastAlert", r->started_us);
            json_object_del(st, "alertError");
            skiff_metric_inc(c->m_alerts, (const char *[]){sp->name}, 1);
            skiff_info("drift monitor '%s': alerted %s", sp->name, sp->webhook);
        } else {
            json_object_set_new(st, "alertError", json_string(e.msg));
            skiff_warn("drift monitor '%s': cannot alert %s: %s (retried at the next run)",
                       sp->name, sp->webhook, e.msg);
        }
    }
    if (sp->wt && r->started_us - since_us >= sp->after_us &&
        !json_equal(json_object_get(st, "retrainFor"), json_object_get(st, "driftingSince"))) {
        struct skiff_err e = SKIFF_ERR_INIT;
        char wf[300];
        if (submit_retrain(c, sp, wf, sizeof wf, &e) == 0) {
            json_object_set_new(st, "retrainFor", json_string(since));
            json_object_set_new(st, "retrainWorkflow", json_string(wf));
            set_time(st, "retrainTime", r->started_us);
            json_object_del(st, "retrainError");
            skiff_metric_inc(c->m_retrains, (const char *[]){sp->name}, 1);
            skiff_info("drift monitor '%s': drift held since %s: submitted workflow '%s'",
                       sp->name, since, wf);
        } else {
            json_object_set_new(st, "retrainError", json_string(e.msg));
            skiff_warn("drift monitor '%s': cannot submit the retraining workflow: %s",
                       sp->name, e.msg);
        }
    }
    return st;
}

json_t *monitor__run_json(const char *monitor, int64_t id, const char *trigger, int64_t started,
                          int64_t ended, const char *phase, int drift, double share,
                          int64_t ncols, int64_t ndrift, int64_t nref, int64_t ncur,
                          const char *message, json_t *columns)
{
    char a[40], b[40], path[500];
    json_t *o;
    snprintf(path, sizeof path, "/api/v1/driftmonitors/%s/runs/%lld/report", monitor,
             (long long)id);
    o = json_pack("{s:s,s:I,s:s,s:s,s:s*,s:s,s:I,s:I,s:I,s:I,s:s}", "monitor", monitor, "id",
                  (json_int_t)id, "trigger", trigger, "startTime",
                  skiff_time_format(started, a, sizeof a), "endTime",
                  ended ? skiff_time_format(ended, b, sizeof b) : NULL, "phase", phase,
                  "numberOfColumns", (json_int_t)ncols, "numberOfDriftedColumns",
                  (json_int_t)ndrift, "referenceRows", (json_int_t)nref, "currentRows",
                  (json_int_t)ncur, "message", message ? message : "");
    if (!o) {
        json_decref(columns);
        return NULL;
    }
    if (drift >= 0) {
        json_object_set_new(o, "datasetDrift", json_boolean(drift));
        json_object_set_new(o, "shareOfDriftedColumns", json_real(share));
        json_object_set_new(o, "report", json_string(path));
    }
    json_object_set_new(o, "columns", columns ? columns : json_object());
    return o;
}

int skiff_mon_controller_run(struct skiff_mon_controller *c, const char *name,
                             const char *trigger, json_t **out, struct skiff_err *err)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct id_ctx ic = {name, trigger, skiff_time_now_us(), 0};
    struct run r = {0};
    struct spec sp;
    json_t *obj = NULL, *now_obj = NULL, *st = NULL;
    char model[300];
    bool bad_spec;
    int rc;

    if (out)
        *out = NULL;
    pthread_mutex_lock(&c->run_mu);
    if ((rc = skiff_resource_get(c->store, c->k_mon, name, &obj, err)))
        goto out;
    /* a spec the controller cannot run is a failed run, kept and reported
     * in status like one whose data is missing */
    bad_spec = parse_spec(obj, &sp, &e) != 0;
    sp.name = name;
    if ((rc = skiff_store_tx(c->store, tx_new_run, &ic, err)))
        goto out;
    r.id = ic.id, r.started_us = ic.started_us, r.trigger = trigger;
    if (bad_spec || compute(c, &sp, &r, &e)) {
        char f[sizeof r.message];
        snprintf(r.message, sizeof r.message, "%s", skiff_err_format(&e, f, sizeof f));
        skiff_warn("drift monitor '%s': run %lld failed: %s", name, (long long)r.id, r.message);
    } else
        snprintf(r.message, sizeof r.message, "%zu of %zu columns drifted (share %.4g): %s",
                 r.ndrift, r.ncols, r.share, r.drift ? "dataset drift" : "no dataset drift");
    utf8_clean(r.message);
    r.ended_us = skiff_time_now_us();
    if ((rc = save_run(c, name, &r, err)))
        goto out;
    model_label(&sp, model, sizeof model);
    skiff_metric_inc(c->m_runs,
                     (const char *[]){name, !r.ok ? "failed" : r.drift ? "drift" : "no_drift"}, 1);
    if (r.ok) {
        skiff_metric_set(c->m_share, (const char *[]){name, model}, r.share);
        skiff_metric_set(c->m_detected, (const char *[]){name}, r.drift ? 1 : 0);
    }
    /* the object again: an apply may have come in the meantime (sp stays
     * on the spec this run used, borrowed from obj) */
    if ((rc = skiff_resource_get(c->store, c->k_mon, name, &now_obj, err)))
        goto out;
    if (!(st = next_status(c, &sp, now_obj, &r)) ||
        (rc = skiff_resource_set_status(c->store, c->k_mon, name, st, err)))
        rc = rc ? rc : skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if (!rc && out)
        *out = monitor__run_json(name, r.id, trigger, r.started_us, r.ended_us,
                                 r.ok ? "Succeeded" : "Failed", r.ok ? r.drift : -1, r.share,
                                 (int64_t)r.ncols, (int64_t)r.ndrift, (int64_t)r.nref,
                                 (int64_t)r.ncur, r.message, json_incref(r.columns));
out:
    json_decref(r.columns);
    pthread_mutex_unlock(&c->run_mu);
    json_decref(st);
    json_decref(now_obj);
    json_decref(obj);
    return rc;
}

/* ---- the scheduler ---- */

/* Under run_mu: writes status.lastScheduledTime = now (reading it again). */
static void set_scheduled(struct skiff_mon_controller *c, const char *name, int64_t now_us)
{
    json_t *obj = NULL, *st;
    pthread_mutex_lock(&c->run_mu);
    if (skiff_resource_get(c->store, c->k_mon, name, &obj, NULL) == 0) {
        st = json_deep_copy(json_object_get(obj, "status"));
        if (!json_is_object(st)) {
            json_decref(st);
            st = json_object();
        }
        set_time(st, "lastScheduledTime", now_us);
        json_object_del(st, "scheduleError");   /* the schedule works (again) */
        skiff_resource_set_status(c->store, c->k_mon, name, st, NULL);
        json_decref(st);
    }
    pthread_mutex_unlock(&c->run_mu);
    json_decref(obj);
}

/* Under run_mu: writes status.scheduleError (reading the object again). */
static void set_schedule_error(struct skiff_mon_controller *c, const char *name, const char *msg)
{
    json_t *obj = NULL, *st;
    pthread_mutex_lock(&c->run_mu);
    if (skiff_resource_get(c->store, c->k_mon, name, &obj, NULL) == 0) {
        st = json_deep_copy(json_object_get(obj, "status"));
        if (!json_is_object(st)) {
            json_decref(st);
            st = json_object();
        }
        json_object_set_new(st, "scheduleError", json_string(msg));
        skiff_resource_set_status(c->store, c->k_mon, name, st, NULL);
        json_decref(st);
    }
    pthread_mutex_unlock(&c->run_mu);
    json_decref(obj);
    skiff_warn("drift monitor '%s': spec.schedule: %s (it never runs on its own)", name, msg);
}

static void poll_monitors(struct skiff_mon_controller *c)
{
    json_t *all = NULL, *it;
    size_t i;

    if (skiff_resource_list(c->store, c->k_mon, &all, NULL))
        return;
    json_array_foreach(all, i, it) {
        const char *name = str_at(json_object_get(it, "metadata"), "name");
        const char *sched = str_at(json_object_get(it, "spec"), "schedule");
        const char *last = str_at(json_object_get(it, "status"), "lastScheduledTime");
        int64_t now = skiff_time_now_us(), last_us = 0, next = 0;
        struct skiff_err e = SKIFF_ERR_INIT;

        if (!name || !sched)
            continue;
        /* first seen: times from now on count */
        if (!last || skiff_time_parse(last, &last_us, NULL)) {
            set_scheduled(c, name, now);
            continue;
        }
        if (skiff_workflow_cron_next(sched, NULL, last_us / SKIFF_US_PER_SEC, &next, &e)) {
            /* the validator cannot reach the cron parser: say it here, once */
            if (!json_object_get(json_object_get(it, "status"), "scheduleError"))
                set_schedule_error(c, name, e.msg);
            continue;
        }
        if (next * SKIFF_US_PER_SEC > now)
            continue;
        set_scheduled(c, name, now);   /* a missed time is not caught up twice */
        skiff_mon_controller_run(c, name, "schedule", NULL, NULL);
    }
    json_decref(all);
}

static bool nap(struct skiff_mon_controller *c)
{
    struct timespec ts;
    bool go;
    pthread_mutex_lock(&c->mu);
    if (!c->quit) {
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)POLL_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    }
    go = !c->quit;
    pthread_mutex_unlock(&c->mu);
    return go;
}

static void *main_loop(void *arg)
{
    struct skiff_mon_controller *c = arg;
    while (nap(c))
        poll_monitors(c);
    return NULL;
}

int skiff_mon_controller_open(const struct skiff_mon_controller_opts *o,
                              struct skiff_mon_controller **out, struct skiff_err *err)
{
    struct skiff_mon_controller *c;
    struct skiff_metrics *m = skiff_metrics_default();
    int rc;

    *out = NULL;
    if ((rc = skiff_store_migrate(o->store, "monitor", migrations,
                                  sizeof migrations / sizeof *migrations, err)))
        return rc;
    if (!(c = calloc(1, sizeof *c)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    pthread_mutex_init(&c->run_mu, NULL);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->store = o->store, c->blob = o->blob, c->tracking = o->tracking;
    c->home = strdup(o->home ? o->home : ".");
    c->url = strdup("");
    c->k_mon = skiff_kind_lookup("DriftMonitor");
    c->k_wf = skiff_kind_lookup("Workflow");
    c->m_share = skiff_metrics_gauge(m, "skiff_drift_share",
                                     "Share of drifted columns at the monitor's last run.",
                                     "monitor,model");
    c->m_score = skiff_metrics_gauge(m, "skiff_drift_score",
                                     "Drift score of each feature at the monitor's last run "
                                     "(p-value or distance, by its test).",
                                     "monitor,feature");
    c->m_detected = skiff_metrics_gauge(m, "skiff_drift_detected",
                                        "1 when the monitor's last run found dataset drift.",
                                        "monitor");
    c->m_runs = skiff_metrics_counter(m, "skiff_drift_runs_total",
                                      "Drift monitor runs by result (drift, no_drift, failed).",
                                      "monitor,result");
    c->m_alerts = skiff_metrics_counter(m, "skiff_drift_alerts_total",
                                        "Drift alerts delivered to the webhook.", "monitor");
    c->m_retrains = skiff_metrics_counter(m, "skiff_drift_retrains_total",
                                          "Retraining workflows submitted.", "monitor");
    if (!c->home || !c->url || !c->k_mon || !c->k_wf) {
        skiff_mon_controller_close(c);
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    *out = c;
    return 0;
}

int skiff_mon_controller_start(struct skiff_mon_controller *c, const char *url,
                               struct skiff_err *err)
{
    char *u = strdup(url ? url : "");
    if (!u)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    free(c->url);
    c->url = u;
    if (pthread_create(&c->thread, NULL, main_loop, c) != 0)
        return skiff_err_sys(err, SKIFF_EIO, "cannot start the drift monitor controller");
    c->started = true;
    return 0;
}

void skiff_mon_controller_close(struct skiff_mon_controller *c)
{
    if (!c)
        return;
    if (c->started) {
        pthread_mutex_lock(&c->mu);
        c->quit = true;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
    }
    pthread_mutex_destroy(&c->run_mu);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c->home);
    free(c->url);
    free(c);
}

struct skiff_store *monitor__store(const struct skiff_mon_controller *c) { return c->store; }
struct skiff_blob *monitor__blob(const struct skiff_mon_controller *c) { return c->blob; }
const struct skiff_kind *monitor__kind(const struct skiff_mon_controller *c) { return c->k_mon; }
