/* skiff run: one Workflow run to its end in this process, without a
 * platform (scripts, CI). Validation errors exit 2 with file:line:col; the
 * run's phase gives the exit code (0 Succeeded, 1 Failed or Error). On a
 * terminal the tree is redrawn as nodes change, as `argo get --watch`
 * prints it; otherwise the final tree is printed once. */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "skiff/buf.h"
#include "skiff/config.h"
#include "skiff/resource.h"
#include "skiff/time.h"
#include "skiff/workflow.h"
#include "skiff/yaml.h"

const char cmd_run_usage[] =
    "Usage: skiff run FILE... [-f TEMPLATES] [-p NAME=VALUE ...] [-o json] [--run-dir DIR]\n\n"
    "Run an Argo Workflow (argoproj.io/v1alpha1) to completion here, without a\n"
    "platform: each step is a host process with its own working folder, a\n"
    "private /tmp and its resources.limits enforced with cgroups. The file is\n"
    "validated first (errors with file:line:column, exit code 2). On a terminal\n"
    "the steps are shown as a live tree; otherwise the final tree is printed.\n"
    "Several files run side by side and share the machine's resources: a step\n"
    "whose requests (cpu, memory, nvidia.com/gpu) do not fit waits, Pending,\n"
    "with the reason as its message.\n\n"
    "Options:\n"
    "  -p, --parameter NAME=VALUE  override spec.arguments.parameters NAME\n"
    "  -f, --templates FILE        WorkflowTemplates that workflowTemplateRef and\n"
    "                              templateRef may name (repeatable)\n"
    "  -o, --output json           print the final Workflow object, status included\n"
    "  --run-dir DIR               where step folders and logs go\n"
    "                              (default: $SKIFF_HOME/runs/<name>-<uid prefix>;\n"
    "                              with several files, DIR/<name>)\n"
    "  -p applies to every file; -o json prints {\"items\": [...]} for several.\n\n"
    "Environment: SKIFF_GPUS=0,1 (the GPUs to hand out), SKIFF_POOLS (node\n"
    "pools, docs/workflows.md; or `pools` in $SKIFF_HOME/config.yaml).\n"
    "Artifacts between steps are kept in the config's `artifacts` folder.\n\n"
    "Exit codes: 0 Succeeded, 1 Failed or Error, 2 bad input.\n\n"
    "Examples:\n"
    "  skiff run examples/seed/workflow.yaml\n"
    "  skiff run pipeline.yaml -p data-version=v3.2.1 -o json > result.json\n"
    "  SKIFF_GPUS=0 skiff run train-a.yaml train-b.yaml\n";

#define MAX_PARAMS 256
#define MAX_FILES 64
#define MAX_TEMPLATE_FILES 16
#define MAX_TEMPLATES 256

/* Loads the WorkflowTemplates of `file` into tmpls (borrowed from *docs,
 * which the caller frees). 0, or a CLI exit code with the error printed. */
static int load_templates(const char *file, struct skiff_yaml_docs **docs, const json_t **tmpls,
                          size_t *n)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    if (skiff_yaml_load_file(file, docs, &err))
        return cli_fail(&err);
    for (size_t i = 0; i < skiff_yaml_count(*docs); i++) {
        struct skiff_validation v = {.docs = *docs, .doc_index = i, .err = &err};
        const struct skiff_kind *k = NULL;
        int rc = skiff_resource_validate(skiff_yaml_doc(*docs, i), &v, &k);
        skiff_validation_release(&v);
        if (rc)
            return cli_fail(&err);
        if (strcmp(k->kind, "WorkflowTemplate") != 0) {
            fprintf(stderr, "skiff: '%s' document %zu is a %s; -f takes WorkflowTemplates\n",
                    file, i + 1, k->kind);
            return CLI_USAGE;
        }
        if (*n == MAX_TEMPLATES) {
            fprintf(stderr, "skiff: more than %d WorkflowTemplates\n", MAX_TEMPLATES);
            return CLI_USAGE;
        }
        tmpls[(*n)++] = skiff_yaml_doc(*docs, i);
    }
    return 0;
}

static const char *icon(const char *phase)
{
    static const struct { const char *phase, *icon; } icons[] = {
        {"Pending", "◷"}, {"Running", "●"}, {"Succeeded", "✔"}, {"Skipped", "○"},
        {"Failed", "✖"},  {"Error", "⚠"},   {"Omitted", "-"},
    };
    for (size_t i = 0; i < sizeof icons / sizeof *icons; i++)
        if (phase && strcmp(phase, icons[i].phase) == 0)
            return icons[i].icon;
    return "?";
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* "4s", "1m5s", "2h": the short form argo prints. */
static void duration(const json_t *n, char *buf, size_t len)
{
    int64_t a, b;
    buf[0] = '\0';
    if (skiff_time_parse(str(n, "startedAt"), &a, NULL) != 0)
        return;
    if (skiff_time_parse(str(n, "finishedAt"), &b, NULL) != 0)
        b = skiff_time_now_us();
    b = (b - a) / SKIFF_US_PER_SEC * SKIFF_US_PER_SEC;
    if (b <= 0)
        snprintf(buf, len, "0s");
    else
        skiff_duration_format(b, buf, len);
}

static int by_start(const void *x, const void *y)
{
    const json_t *a = *(const json_t *const *)x, *b = *(const json_t *const *)y;
    int c = strcmp(str(a, "startedAt"), str(b, "startedAt"));
    return c ? c : strcmp(str(a, "displayName"), str(b, "displayName"));
}

/* The children shown under n: StepGroups are flattened into their
 * children, Omitted nodes hidden (argo get does both). */
static size_t shown_children(const json_t *nodes, const json_t *n, const json_t **out, size_t cap,
                             size_t k)
{
    const json_t *id;
    size_t i;
    json_array_foreach(json_object_get(n, "children"), i, id) {
        const json_t *c = json_object_get(nodes, json_string_value(id));
        if (!c)
            continue;
        if (strcmp(str(c, "type"), "StepGroup") == 0)
            k = shown_children(nodes, c, out, cap, k);
        else if (strcmp(str(c, "phase"), "Omitted") != 0 && k < cap)
            out[k++] = c;
    }
    return k;
}

static void row(struct skiff_buf *b, const json_t *nodes, const json_t *n, const char *prefix,
                const char *branch, int depth)
{
    const json_t *kids[512];
    size_t nk = 0;
    char dur[32], name[512], next[512];
    int width = 0;

    /* a Retry with one attempt is shown as that attempt, under the retry's name */
    if (strcmp(str(n, "type"), "Retry") != 0 ||
        json_array_size(json_object_get(n, "children")) > 1)
        nk = shown_children(nodes, n, kids, 512, 0);
    qsort(kids, nk, sizeof *kids, by_start);
    duration(n, dur, sizeof dur);
    snprintf(name, sizeof name, "%s%s%s %s", prefix, branch, icon(str(n, "phase")),
             str(n, "displayName"));
    /* pad by what the terminal shows: UTF-8 continuation bytes take no column */
    for (const char *c = name; *c; c++)
        width += ((unsigned char)*c & 0xC0) != 0x80;
    skiff_buf_appendf(b, "%s%*s %-20s %-8s %s\n", name, width < 40 ? 40 - width : 0, "",
                      str(n, "templateName"), dur, str(n, "message"));
    if (depth > 30)
        return;
    snprintf(next, sizeof next, "%s%s", prefix,
             !*branch ? " " : strcmp(branch, "├─") == 0 ? "│ " : "  ");
    for (size_t i = 0; i < nk; i++)
        row(b, nodes, kids[i], next, i + 1 == nk ? "└─" : "├─", depth + 1);
}

static void render(const json_t *status, const char *name, struct skiff_buf *b)
{
    const json_t *nodes = json_object_get(status, "nodes"), *root, *exit_node;
    char dur[32], exit_id[300];

    skiff_buf_appendf(b, "%-20s %s\n", "Name:", name);
    skiff_buf_appendf(b, "%-20s %s\n", "Status:", str(status, "phase"));
    if (json_object_get(status, "message"))
        skiff_buf_appendf(b, "%-20s %s\n", "Message:", str(status, "message"));
    skiff_buf_appendf(b, "%-20s %s\n", "Started:", str(status, "startedAt"));
    if (json_is_string(json_object_get(status, "finishedAt"))) {
        skiff_buf_appendf(b, "%-20s %s\n", "Finished:", str(status, "finishedAt"));
        duration(status, dur, sizeof dur);
        skiff_buf_appendf(b, "%-20s %s\n", "Duration:", dur);
    }
    skiff_buf_appendf(b, "%-20s %s\n", "Progress:", str(status, "progress"));
    skiff_buf_appendf(b, "%-20s %s\n\n", "Run folder:",
                      str(json_object_get(status, "skiff"), "runDir"));
    skiff_buf_appendf(b, "%-40s %-20s %-8s %s\n", "STEP", "TEMPLATE", "DURATION", "MESSAGE");
    if ((root = json_object_get(nodes, name)))
        row(b, nodes, root, "", "", 0);
    /* the exit handler's subtree, after a blank row */
    {
        const char *key;
        const json_t *n;
        exit_node = NULL;
        snprintf(exit_id, sizeof exit_id, "%s.onExit", name);
        json_object_foreach((json_t *)nodes, key, n)
            if (strcmp(str(n, "name"), exit_id) == 0)
                exit_node = n;
        if (exit_node) {
            skiff_buf_puts(b, "\n");
            row(b, nodes, exit_node, "", "", 0);
        }
    }
}

/* Ctrl-C or a SIGTERM: the engine kills the steps and ends the run (steps
 * are in their own process groups, so the terminal's signal misses them). */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

struct live {
    const char *name;
    int lines;      /* lines drawn last time, to move back over */
};

/* Appends `text` cut to `cols` terminal columns per line, so that no line
 * wraps and the cursor can move back over exactly what was drawn. */
static void append_clipped(struct skiff_buf *b, const char *text, int cols)
{
    int col = 0;
    for (const char *c = text; *c; c++) {
        bool cont = ((unsigned char)*c & 0xC0) == 0x80;
        if (*c == '\n') {
            col = 0;
        } else if (!cont && ++col > cols) {
            continue;
        } else if (cont && col > cols) {
            continue;
        }
        skiff_buf_putc(b, *c);
    }
}

static void redraw(const json_t *status, void *ctx)
{
    struct live *l = ctx;
    struct skiff_buf b = SKIFF_BUF_INIT, clipped = SKIFF_BUF_INIT;
    struct winsize ws;
    int lines = 0, cols = 80;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        cols = ws.ws_col - 1;
    render(status, l->name, &b);
    append_clipped(&clipped, b.ptr, cols);
    for (size_t i = 0; i < clipped.len; i++)
        lines += clipped.ptr[i] == '\n';
    if (l->lines)
        printf("\033[%dA\033[J", l->lines);
    fputs(clipped.ptr, stdout);
    fflush(stdout);
    l->lines = lines;
    skiff_buf_release(&b);
    skiff_buf_release(&clipped);
}

int cmd_run(int argc, char **argv)
{
    struct skiff_workflow_param params[MAX_PARAMS];
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_yaml_docs *docs = NULL;
    struct skiff_workflow *wfs[MAX_FILES] = {0};
    struct skiff_workflow_run_opts o[MAX_FILES];
    char dirs[MAX_FILES][4096];
    json_t *statuses[MAX_FILES] = {0};
    struct live live = {0};
    json_t *obj = NULL;
    const char *files[MAX_FILES], *output = NULL, *run_dir = NULL;
    const char *tfiles[MAX_TEMPLATE_FILES];
    struct skiff_yaml_docs *tdocs[MAX_TEMPLATE_FILES] = {0};
    const json_t *tmpls[MAX_TEMPLATES];
    size_t ntf = 0, ntmpl = 0;
    char *pbuf[MAX_PARAMS];
    size_t np = 0, nf = 0;
    int rc = CLI_USAGE;
    bool all_ok = true;
    struct sigaction sa;
    struct skiff_config cfg;   /* artifacts: the same repository `skiff up` uses */

    /* first, so that a signal during loading ends the run cleanly too */
    memset(&sa, 0, sizeof sa);
    memset(o, 0, sizeof o);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if ((strcmp(a, "-p") == 0 || strcmp(a, "--parameter") == 0) && i + 1 < argc)
            val = argv[++i];
        else if (strncmp(a, "--parameter=", 12) == 0)
            val = a + 12;
        if (val) {
            char *eq;
            if (np == MAX_PARAMS) {
                rc = cli_usage_error("run", "more than %d parameters", MAX_PARAMS);
                goto out;
            }
            if (!(eq = strchr(val, '=')) || eq == val) {
                rc = cli_usage_error("run", "-p takes NAME=VALUE, not '%s'", val);
                goto out;
            }
            pbuf[np] = strdup(val);
            if (!pbuf[np]) {
                rc = CLI_FAILED;
                goto out;
            }
            pbuf[np][eq - val] = '\0';
            params[np].name = pbuf[np];
            params[np].value = pbuf[np] + (eq - val) + 1;
            np++;
        } else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && i + 1 < argc) {
            output = argv[++i];
        } else if (strncmp(a, "-o", 2) == 0 && a[2] && a[2] != '-') {
            output = a + 2;
        } else if (strcmp(a, "--run-dir") == 0 && i + 1 < argc) {
            run_dir = argv[++i];
        } else if ((strcmp(a, "-f") == 0 || strcmp(a, "--templates") == 0) && i + 1 < argc) {
            if (ntf == MAX_TEMPLATE_FILES) {
                rc = cli_usage_error("run", "more than %d template files", MAX_TEMPLATE_FILES);
                goto out;
            }
            tfiles[ntf++] = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            rc = cli_usage_error("run", "unknown option '%s'", a);
            goto out;
        } else if (nf < MAX_FILES) {
            files[nf++] = a;
        } else {
            rc = cli_usage_error("run", "more than %d workflow files", MAX_FILES);
            goto out;
        }
    }
    if (!nf) {
        rc = cli_usage_error("run", "no workflow file given");
        goto out;
    }
    if (output && strcmp(output, "json") != 0) {
        rc = cli_usage_error("run", "unknown output format '%s' (json is supported)", output);
        goto out;
    }
    for (size_t f = 0; f < ntf; f++)
        if ((rc = load_templates(tfiles[f], &tdocs[f], tmpls, &ntmpl)))
            goto out;
    if (skiff_config_load(NULL, &cfg, &err) ||
        (cfg.pools[0] && skiff_workflow_set_pools(cfg.pools, &err))) {
        rc = cli_fail(&err);
        goto out;
    }
    skiff_workflow_set_artifact_max_unpacked(cfg.artifact_max_unpacked);
    rc = CLI_USAGE;
    for (size_t f = 0; f < nf; f++) {
        skiff_yaml_free(docs);
        docs = NULL;
        if (skiff_yaml_load_file(files[f], &docs, &err)) {
            rc = cli_fail(&err);
            goto out;
        }
        if (skiff_yaml_count(docs) != 1) {
            fprintf(stderr, "skiff: '%s' holds %zu documents; skiff run takes one Workflow "
                            "per file\n", files[f], skiff_yaml_count(docs));
            goto out;
        }
        if (skiff_workflow_load_with(skiff_yaml_doc(docs, 0), docs, 0, tmpls, ntmpl, params, np,
                                     &wfs[f], &err)) {
            rc = cli_fail(&err);
            goto out;
        }
        if (run_dir && nf == 1)
            snprintf(dirs[f], sizeof dirs[f], "%s", run_dir);
        else if (run_dir)
            snprintf(dirs[f], sizeof dirs[f], "%s/%s", run_dir, skiff_workflow_name(wfs[f]));
        else
            /* the uid keeps two runs of one fixed-name workflow apart */
            snprintf(dirs[f], sizeof dirs[f], "%s/runs/%s-%.8s", cli_home(),
                     skiff_workflow_name(wfs[f]), skiff_workflow_uid(wfs[f]));
        o[f].run_dir = dirs[f];
        o[f].skiff_url = getenv("SKIFF_URL");
        o[f].tracking_uri = getenv("MLFLOW_TRACKING_URI");
        o[f].stop = &stop_requested;
        o[f].artifact_root = cfg.artifacts;
    }
    live.name = skiff_workflow_name(wfs[0]);
    /* one live tree; several runs print their final trees */
    if (!output && nf == 1 && isatty(STDOUT_FILENO)) {
        o[0].on_change = redraw;
        o[0].ctx = &live;
    }
    if (skiff_workflow_run_many(wfs, o, nf, statuses, &err)) {
        rc = cli_fail(&err);
        if (rc == CLI_USAGE)
            rc = CLI_FAILED;
        goto out;
    }
    if (output) {
        json_t *items = nf > 1 ? json_array() : NULL;
        for (size_t f = 0; f < nf; f++) {
            json_t *w = skiff_workflow_object(wfs[f], statuses[f]);
            if (!w || (items && json_array_append_new(items, w))) {
                json_decref(items);
                rc = CLI_FAILED;
                goto out;
            }
            if (!items)
                obj = w;
        }
        if (items)
            obj = json_pack("{s:o}", "items", items);
        if (!obj || cli_print_object(obj, "json", &err)) {
            rc = cli_fail(&err);
            goto out;
        }
    } else if (o[0].on_change) {
        redraw(statuses[0], &live);
    } else {
        for (size_t f = 0; f < nf; f++) {
            struct skiff_buf b = SKIFF_BUF_INIT;
            render(statuses[f], skiff_workflow_name(wfs[f]), &b);
            fputs(b.ptr, stdout);
            if (f + 1 < nf)
                fputs("\n", stdout);
            skiff_buf_release(&b);
        }
    }
    for (size_t f = 0; f < nf; f++)
        all_ok &= strcmp(json_string_value(json_object_get(statuses[f], "phase")),
                         "Succeeded") == 0;
    rc = all_ok ? CLI_OK : CLI_FAILED;
out:
    for (size_t i = 0; i < np; i++)
        free(pbuf[i]);
    for (size_t f = 0; f < nf; f++) {
        json_decref(statuses[f]);
        skiff_workflow_free(wfs[f]);
    }
    json_decref(obj);
    skiff_yaml_free(docs);
    for (size_t f = 0; f < ntf; f++)
        skiff_yaml_free(tdocs[f]);
    return rc;
}
