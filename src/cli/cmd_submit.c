/* skiff submit: a Workflow created on the platform (POST, so that
 * metadata.generateName works), optionally watched to its end. The file
 * is validated here first when it stands alone (no template references),
 * with file:line:column; the platform validates again on create. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skiff/buf.h"
#include "skiff/workflow.h"
#include "skiff/yaml.h"

const char cmd_submit_usage[] =
    "Usage: skiff submit FILE [-p NAME=VALUE ...] [--watch]\n\n"
    "Create the Workflow of FILE (argoproj.io/v1alpha1) on the platform, where\n"
    "the workflow controller runs it; a metadata.generateName gets its random\n"
    "suffix there. Prints the name. With --watch, prints the node tree as it\n"
    "changes until the workflow ends.\n\n"
    "Options:\n"
    "  -p, --parameter NAME=VALUE  set spec.arguments.parameters NAME\n"
    "  -w, --watch                 follow the run to its end\n\n"
    "Exit codes: 0 created (with --watch: Succeeded), 1 failed (with --watch:\n"
    "Failed or Error), 2 bad input.\n\n"
    "Examples:\n"
    "  skiff submit examples/seed/workflow.yaml --watch\n"
    "  skiff submit pipeline.yaml -p data-version=v3.2.1\n"
    "  skiff logs $(skiff submit pipeline.yaml) train\n";

#define MAX_PARAMS 256

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static const char *icon(const char *phase)
{
    if (strcmp(phase, "Succeeded") == 0) return "✔";
    if (strcmp(phase, "Failed") == 0 || strcmp(phase, "Error") == 0) return "✖";
    if (strcmp(phase, "Skipped") == 0 || strcmp(phase, "Omitted") == 0) return "○";
    if (strcmp(phase, "Running") == 0) return "●";
    return "◷";
}

static void tree(struct skiff_buf *b, const json_t *nodes, const json_t *n, int depth)
{
    const json_t *id;
    size_t i;
    if (!n || depth > 30)
        return;
    if (strcmp(str(n, "type"), "StepGroup") != 0)
        skiff_buf_appendf(b, "%*s%s %-30s %-10s %s\n", depth * 2, "", icon(str(n, "phase")),
                          str(n, "displayName"), str(n, "phase"), str(n, "message"));
    else
        depth--;
    json_array_foreach(json_object_get(n, "children"), i, id)
        tree(b, nodes, json_object_get(nodes, json_string_value(id)), depth + 1);
}

/* Polls the workflow until it ends, printing the tree when it changes. */
static int watch(const char *name)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_buf last = SKIFF_BUF_INIT;
    char path[600];
    int rc = CLI_FAILED;

    snprintf(path, sizeof path, "/api/v1/workflows/%s", name);
    for (;;) {
        struct skiff_buf b = SKIFF_BUF_INIT;
        json_t *obj = NULL, *st;
        const char *ph;
        if (cli_api("GET", path, NULL, &obj, NULL, &err)) {
            skiff_buf_release(&last);
            return cli_fail(&err);
        }
        st = json_object_get(obj, "status");
        ph = str(st, "phase");
        skiff_buf_appendf(&b, "%s: %s%s%s\n", name, *ph ? ph : "Pending",
                          *str(st, "message") ? " — " : "", str(st, "message"));
        tree(&b, json_object_get(st, "nodes"),
             json_object_get(json_object_get(st, "nodes"), name), 1);
        if (!last.len || strcmp(last.ptr, b.ptr) != 0) {
            fputs(b.ptr, stdout);
            putchar('\n');
            fflush(stdout);
            skiff_buf_release(&last);
            last = b;
        } else {
            skiff_buf_release(&b);
        }
        if (strcmp(ph, "Succeeded") == 0 || strcmp(ph, "Failed") == 0 ||
            strcmp(ph, "Error") == 0) {
            rc = strcmp(ph, "Succeeded") == 0 ? CLI_OK : CLI_FAILED;
            json_decref(obj);
            break;
        }
        json_decref(obj);
        usleep(300 * 1000);
    }
    skiff_buf_release(&last);
    return rc;
}

/* Sets spec.arguments.parameters[name].value; a name not declared is
 * an error, as `skiff run` and argo submit say. */
static int set_param(json_t *obj, const char *name, const char *value)
{
    json_t *ps = json_object_get(json_object_get(json_object_get(obj, "spec"), "arguments"),
                                 "parameters"), *p;
    size_t i;
    json_array_foreach(ps, i, p)
        if (strcmp(str(p, "name"), name) == 0)
            return json_object_set_new(p, "value", json_string(value)) ? -1 : 0;
    return -1;
}

int cmd_submit(int argc, char **argv)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_yaml_docs *docs = NULL;
    struct skiff_workflow_param params[MAX_PARAMS];
    struct skiff_workflow *wf = NULL;
    char *pbuf[MAX_PARAMS] = {0};
    const char *file = NULL;
    json_t *obj = NULL, *stored = NULL;
    bool want_watch = false;
    size_t np = 0;
    int rc = CLI_OK;
    char name[300];

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        if ((strcmp(a, "-p") == 0 || strcmp(a, "--parameter") == 0) && i + 1 < argc)
            val = argv[++i];
        else if (strncmp(a, "--parameter=", 12) == 0)
            val = a + 12;
        else if (strcmp(a, "-w") == 0 || strcmp(a, "--watch") == 0)
            want_watch = true;
        else if (a[0] == '-' && a[1]) {
            rc = cli_usage_error("submit", "unknown option '%s'", a);
            goto out;
        } else if (!file)
            file = a;
        else {
            rc = cli_usage_error("submit", "unexpected argument '%s'", a);
            goto out;
        }
        if (val) {
            const char *eq = strchr(val, '=');
            if (!eq || eq == val || np == MAX_PARAMS) {
                rc = cli_usage_error("submit", "-p takes NAME=VALUE (at most %d), not '%s'",
                                     MAX_PARAMS, val);
                goto out;
            }
            if (!(pbuf[np] = strdup(val))) {
                rc = CLI_FAILED;
                goto out;
            }
            pbuf[np][eq - val] = '\0';
            params[np].name = pbuf[np];
            params[np].value = pbuf[np] + (eq - val) + 1;
            np++;
        }
    }
    if (!file) {
        rc = cli_usage_error("submit", "which file? (skiff submit FILE)");
        goto out;
    }
    if (skiff_yaml_load_file(file, &docs, &err)) {
        rc = cli_fail(&err);
        goto out;
    }
    if (skiff_yaml_count(docs) != 1 ||
        strcmp(str(skiff_yaml_doc(docs, 0), "kind"), "Workflow") != 0) {
        rc = cli_usage_error("submit", "'%s' must hold one Workflow (apply WorkflowTemplates "
                                       "with skiff apply)", file);
        goto out;
    }
    /* stand-alone workflows are checked here, with positions in the file */
    {
        char *text = json_dumps(skiff_yaml_doc(docs, 0), JSON_COMPACT);
        bool refs = !text || strstr(text, "\"templateRef\"") ||
                    strstr(text, "\"workflowTemplateRef\"");
        free(text);
        if (!refs && skiff_workflow_load(skiff_yaml_doc(docs, 0), docs, 0, params, np, &wf,
                                         &err)) {
            rc = cli_fail(&err);
            goto out;
        }
    }
    if (!(obj = json_deep_copy(skiff_yaml_doc(docs, 0)))) {
        rc = CLI_FAILED;
        goto out;
    }
    for (size_t i = 0; i < np; i++)
        if (set_param(obj, params[i].name, params[i].value)) {
            rc = cli_usage_error("submit", "the workflow declares no parameter '%s'",
                                 params[i].name);
            goto out;
        }
    if (cli_api("POST", "/api/v1/workflows", obj, &stored, NULL, &err)) {
        rc = cli_fail(&err);
        goto out;
    }
    snprintf(name, sizeof name, "%s", str(json_object_get(stored, "metadata"), "name"));
    printf("%s\n", name);
    fflush(stdout);
    if (want_watch)
        rc = watch(name);
out:
    skiff_workflow_free(wf);
    json_decref(stored);
    json_decref(obj);
    skiff_yaml_free(docs);
    for (size_t i = 0; i < np; i++)
        free(pbuf[i]);
    return rc;
}
