/* skiff logs: a workflow's step logs from the platform
 * (GET /api/v1/workflows/NAME/log[?step=STEP]), as text. */
#include "cli.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skiff/buf.h"
#include "skiff/http.h"

const char cmd_logs_usage[] =
    "Usage: skiff logs NAME [STEP] [-f]\n\n"
    "Print the output (stdout, then stderr) of step STEP of workflow NAME, or\n"
    "of every step, each line prefixed with the step's name, in the order the\n"
    "steps ran. STEP is the name shown by skiff get workflow NAME.\n\n"
    "Options:\n"
    "  -f, --follow   keep printing what is added until the workflow ends\n\n"
    "Examples:\n"
    "  skiff logs fraud-pipeline-x7k2p\n"
    "  skiff logs fraud-pipeline-x7k2p train -f\n";

/* One GET of the log text into res->body; 0 or a CLI exit code printed. */
static int fetch(const char *url, const char *token, struct skiff_http_result *res)
{
    struct skiff_err err = SKIFF_ERR_INIT;

    /* skiff_http_request starts both buffers afresh: free the last ones */
    skiff_buf_release(&res->body);
    skiff_buf_release(&res->headers);
    skiff_buf_init(&res->body, 0);
    skiff_buf_init(&res->headers, 0);
    if (skiff_http_request("GET", url, token, NULL, NULL, 0, res, &err))
        return cli_fail(&err);
    if (res->status != 200) {
        json_t *reply = json_loadb(res->body.ptr, res->body.len, 0, NULL);
        const char *msg = json_string_value(
            json_object_get(json_object_get(reply, "error"), "message"));
        skiff_err_set(&err, res->status == 404 ? SKIFF_ENOTFOUND : SKIFF_EINTERNAL, "%s",
                      msg ? msg : "the platform refused the request");
        json_decref(reply);
        return cli_fail(&err);
    }
    return CLI_OK;
}

/* Whether workflow `name` has ended (or cannot be read: stop following). */
static bool ended(const char *name)
{
    char path[600];
    json_t *obj = NULL;
    const char *ph;
    bool done = true;

    snprintf(path, sizeof path, "/api/v1/workflows/%s", name);
    if (cli_api("GET", path, NULL, &obj, NULL, NULL) == 0) {
        ph = json_string_value(json_object_get(json_object_get(obj, "status"), "phase"));
        done = ph && (strcmp(ph, "Succeeded") == 0 || strcmp(ph, "Failed") == 0 ||
                      strcmp(ph, "Error") == 0);
    }
    json_decref(obj);
    return done;
}

int cmd_logs(int argc, char **argv)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_http_result res = {0};
    struct skiff_buf full = SKIFF_BUF_INIT;
    char *url = NULL, *token = NULL, *esc = NULL;
    const char *name = NULL, *step = NULL;
    bool follow = false;
    size_t shown = 0;
    int rc = CLI_OK;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--follow") == 0)
            follow = true;
        else if (argv[i][0] == '-')
            return cli_usage_error("logs", "unknown option '%s'", argv[i]);
        else if (!name)
            name = argv[i];
        else if (!step)
            step = argv[i];
        else
            return cli_usage_error("logs", "unexpected argument '%s'", argv[i]);
    }
    if (!name)
        return cli_usage_error("logs", "takes a workflow name and optionally a step");
    skiff_buf_init(&res.body, 0);
    skiff_buf_init(&res.headers, 0);
    if (cli_platform(&url, &token, &err)) {
        rc = cli_fail(&err);
        goto out;
    }
    skiff_buf_appendf(&full, "%s/api/v1/workflows/%s/log", url, name);
    if (step) {
        if (!(esc = curl_easy_escape(NULL, step, 0))) {
            rc = CLI_FAILED;
            goto out;
        }
        skiff_buf_appendf(&full, "?step=%s", esc);
    }
    /* following: the whole text again each time, printing what is new
     * (logs only grow while the workflow runs) */
    for (;;) {
        bool last = !follow || ended(name);
        if ((rc = fetch(full.ptr, token, &res)))
            break;
        if (res.body.len > shown) {
            fwrite(res.body.ptr + shown, 1, res.body.len - shown, stdout);
            fflush(stdout);
            shown = res.body.len;
        }
        if (last)
            break;
        usleep(500 * 1000);
    }
out:
    curl_free(esc);
    free(url);
    free(token);
    skiff_buf_release(&full);
    skiff_buf_release(&res.body);
    skiff_buf_release(&res.headers);
    return rc;
}
