/* skiff demo's pipeline stage: submits examples/fraud/pipeline.yaml to the
 * demo's platform and follows it to its end, showing each task as it
 * changes, then reads what it left: the evaluate step's AUC, whether the
 * register step ran, and the champion's version from the registry.
 *
 * The workflow is polled (GET /api/v1/workflows/NAME every 150 ms) rather
 * than watched: the same API every client has, and a missed intermediate
 * phase (a step that starts and ends between two polls) only shortens the
 * display, never the result, which comes from the final status.
 */
#include "cli.h"
#include "demo_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "skiff/buf.h"
#include "skiff/time.h"

#define DEMO_MAX_TASKS 32

static const char *icon(const char *phase)
{
    if (strcmp(phase, "Succeeded") == 0) return "✔";
    if (strcmp(phase, "Failed") == 0 || strcmp(phase, "Error") == 0) return "✖";
    if (strcmp(phase, "Skipped") == 0 || strcmp(phase, "Omitted") == 0) return "○";
    if (strcmp(phase, "Running") == 0) return "●";
    return "◷";
}

static bool final_phase(const char *phase)
{
    return strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0 ||
           strcmp(phase, "Error") == 0 || strcmp(phase, "Skipped") == 0 ||
           strcmp(phase, "Omitted") == 0;
}

/* The pipeline's tasks, in the order its dag lists them. */
struct task {
    const char *name;          /* borrowed from the stored workflow */
    char phase[16];            /* as last shown */
};

/* How long a node ran: finishedAt (or now) - startedAt, or -1 when it has
 * not started. */
static int64_t node_time(const json_t *node)
{
    int64_t a, b = skiff_time_now_us();
    const char *fin = demo__str(node, "finishedAt");
    const char *start = demo__str(node, "startedAt");
    if (!*start || skiff_time_parse(start, &a, NULL) ||
        (*fin && skiff_time_parse(fin, &b, NULL)))
        return -1;
    return b > a ? b - a : 0;
}

static size_t dag_tasks(const json_t *wf, struct task *t, size_t max)
{
    const json_t *spec = json_object_get(wf, "spec"), *tmpl, *task;
    const char *entry = demo__str(spec, "entrypoint");
    size_t i, j, n = 0;

    json_array_foreach(json_object_get(spec, "templates"), i, tmpl) {
        if (strcmp(demo__str(tmpl, "name"), entry) != 0)
            continue;
        json_array_foreach(json_object_get(json_object_get(tmpl, "dag"), "tasks"), j, task)
            if (n < max) {
                memset(&t[n], 0, sizeof t[n]);
                t[n++].name = demo__str(task, "name");
            }
    }
    return n;
}

/* The node of dag task `name` in status.nodes (NULL until it exists);
 * borrowed from nodes. */
static const json_t *task_node(const json_t *nodes, const char *name)
{
    const char *id;
    const json_t *n;
    json_object_foreach((json_t *)nodes, id, n)
        if (strcmp(demo__str(n, "displayName"), name) == 0 &&
            strcmp(demo__str(n, "type"), "DAG") != 0)
            return n;
    return NULL;
}

/* The value of output parameter `name` of a node, or NULL; borrowed from node. */
static const char *output_param(const json_t *node, const char *name)
{
    const json_t *p;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(node, "outputs"), "parameters"), i, p)
        if (strcmp(demo__str(p, "name"), name) == 0)
            return demo__str(p, "value");
    return NULL;
}

/* Prints the last lines of a failed step's stderr (its folder under
 * HOME/workflows/<workflow>/<node id>/). */
static void show_stderr_tail(const struct demo *d, const json_t *node)
{
    char path[DEMO_PATH_MAX + 600];
    char *text, *p;
    int lines = 0;

    snprintf(path, sizeof path, "%s/workflows/%s/%s/stderr.log", d->home, d->workflow,
             demo__str(node, "id"));
    if (!(text = demo__read_small(path)))
        return;
    for (p = text + strlen(text); p > text && lines < 8; p--)
        if (p[-1] == '\n')
            lines++;
    if (*text)
        printf("        %s\n", p == text ? text : p + 1);
    printf("        (whole log: skiff logs %s %s, or %s)\n", d->workflow,
           demo__str(node, "displayName"), path);
    free(text);
}

/* Shows each task as it changes: on a terminal one redrawn line for the
 * running ones (`drawn` is what it shows now) and a line per finished one;
 * in a pipe one line per change. */
static void show_tasks(struct demo *d, const json_t *nodes, struct task *t, size_t n,
                       struct skiff_buf *drawn)
{
    struct skiff_buf running = SKIFF_BUF_INIT;
    bool printed = false;

    for (size_t i = 0; i < n; i++) {
        const json_t *node = task_node(nodes, t[i].name);
        const char *ph = node ? demo__str(node, "phase") : "";
        if (strcmp(ph, "Running") == 0)
            skiff_buf_appendf(&running, "  ● %s %.0fs", t[i].name,
                              (double)node_time(node) / 1e6);
        if (!*ph || strcmp(ph, t[i].phase) == 0)
            continue;
        snprintf(t[i].phase, sizeof t[i].phase, "%s", ph);
        if (final_phase(ph)) {
            const char *msg = demo__str(node, "message"), *auc = output_param(node, "auc");
            char extra[160] = "";
            bool ran = strcmp(ph, "Skipped") != 0 && strcmp(ph, "Omitted") != 0;
            if (auc)
                snprintf(extra, sizeof extra, "  AUC %s", auc);
            else if (*msg)
                snprintf(extra, sizeof extra, "  %s", msg);
            demo__result(d, icon(ph), ran ? node_time(node) : -1, "%-18s %-9s%s", t[i].name,
                         ph, extra);
            printed = true;
            if (strcmp(ph, "Failed") == 0 || strcmp(ph, "Error") == 0)
                show_stderr_tail(d, node);
        } else if (strcmp(ph, "Running") == 0 && !d->tty) {
            demo__result(d, icon(ph), -1, "%-18s %s", t[i].name, ph);
        }
    }
    if (d->tty && (printed || strcmp(running.ptr, drawn->ptr) != 0)) {
        printf("\r\033[K    %s", running.ptr);
        fflush(stdout);
        skiff_buf_reset(drawn);
        skiff_buf_puts(drawn, running.ptr);
    }
    skiff_buf_release(&running);
}

/* Fills d->model_version and d->run_id from the registry's champion alias. */
static void read_champion(struct demo *d)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *out = NULL;
    const json_t *mv;
    if (cli_api("GET", "/api/2.0/mlflow/registered-models/alias?name=fraud-detector&alias="
                       "champion", NULL, &out, NULL, &err) == 0) {
        mv = json_object_get(out, "model_version");
        snprintf(d->model_version, sizeof d->model_version, "%s", demo__str(mv, "version"));
        snprintf(d->run_id, sizeof d->run_id, "%s", demo__str(mv, "run_id"));
    }
    json_decref(out);
}

int demo__pipeline(struct demo *d, struct skiff_err *err)
{
    char log[DEMO_PATH_MAX + 32], out[DEMO_PATH_MAX + 32], file[DEMO_PATH_MAX + 32],
        p_data[DEMO_PATH_MAX + 32], p_repo[DEMO_PATH_MAX + 32], p_auc[64], path[400];
    char *argv[] = {"submit", file, "-p", p_data, "-p", p_repo, "-p", p_auc, NULL};
    struct task tasks[DEMO_MAX_TASKS];
    struct skiff_buf drawn = SKIFF_BUF_INIT;
    size_t ntasks = 0;
    json_t *wf = NULL;
    char *name;
    int rc;

    demo__path_join(log, sizeof log, d->logs, "submit.log");
    demo__path_join(out, sizeof out, d->logs, "submit.out");
    demo__path_join(file, sizeof file, d->repo, "pipeline.yaml");
    snprintf(p_data, sizeof p_data, "data-dir=%s", d->data);
    snprintf(p_repo, sizeof p_repo, "repo-dir=%s", d->repo);
    snprintf(p_auc, sizeof p_auc, "auc-threshold=%s", d->auc_threshold);
    if ((rc = demo__run_self(d, log, out, argv, err)) != 0)
        return rc < 0 ? err->code
                      : skiff_err_set(err, SKIFF_EINTERNAL, "skiff submit failed (exit %d; log: "
                                      "%s)", rc, log);
    if (!(name = demo__read_small(out)) || !*name) {
        free(name);
        return skiff_err_set(err, SKIFF_EINTERNAL, "skiff submit printed no workflow name");
    }
    snprintf(d->workflow, sizeof d->workflow, "%s", name);
    free(name);
    demo__result(d, "·", -1, "workflow %s", d->workflow);
    snprintf(path, sizeof path, "/api/v1/workflows/%s", d->workflow);

    for (;;) {
        json_t *cur = NULL;
        const json_t *st;
        const char *ph;
        struct timespec ts = {0, 150 * 1000000L};

        if (demo__stop) {
            rc = skiff_err_set(err, SKIFF_EINTERNAL, "interrupted");
            break;
        }
        if ((rc = cli_api("GET", path, NULL, &cur, NULL, err)) != 0)
            break;
        if (!wf) {
            /* the task list comes from the stored object, which outlives cur */
            wf = json_incref(cur);
            ntasks = dag_tasks(wf, tasks, DEMO_MAX_TASKS);
        }
        st = json_object_get(cur, "status");
        show_tasks(d, json_object_get(st, "nodes"), tasks, ntasks, &drawn);
        ph = demo__str(st, "phase");
        if (strcmp(ph, "Succeeded") == 0 || strcmp(ph, "Failed") == 0 ||
            strcmp(ph, "Error") == 0) {
            const json_t *ev = task_node(json_object_get(st, "nodes"), "evaluate");
            const json_t *reg = task_node(json_object_get(st, "nodes"), "register");
            if (d->tty)
                fputs("\r\033[K", stdout);
            if (ev && output_param(ev, "auc"))
                snprintf(d->auc, sizeof d->auc, "%s", output_param(ev, "auc"));
            d->registered = reg && strcmp(demo__str(reg, "phase"), "Succeeded") == 0;
            if (strcmp(ph, "Succeeded") != 0)
                rc = skiff_err_set(err, SKIFF_EINTERNAL, "workflow %s: %s%s%s", d->workflow, ph,
                                   *demo__str(st, "message") ? ": " : "", demo__str(st, "message"));
            json_decref(cur);
            break;
        }
        json_decref(cur);
        nanosleep(&ts, NULL);
    }
    json_decref(wf);
    skiff_buf_release(&drawn);
    if (rc == 0 && d->registered)
        read_champion(d);
    return rc;
}
