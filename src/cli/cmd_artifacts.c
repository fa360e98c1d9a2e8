/* skiff artifacts: a workflow's output artifacts on the platform: the list
 * (GET /api/v1/workflows/NAME/artifacts) or one of them, downloaded as it
 * is kept (GET /api/v1/workflows/NAME/artifacts/NODE/ARTIFACT). */
#include "cli.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/buf.h"
#include "skiff/http.h"

const char cmd_artifacts_usage[] =
    "Usage: skiff artifacts WORKFLOW [NODE ARTIFACT] [-o FILE]\n\n"
    "Without NODE and ARTIFACT, list the output artifacts the steps of WORKFLOW\n"
    "saved in the platform's artifact repository: node, artifact name, key and\n"
    "size in bytes. With them, download that artifact as it is kept (tar+gzip\n"
    "for a .tgz key, the file itself with archive none). NODE is a node's\n"
    "display name (as skiff get workflow WORKFLOW shows it, e.g. make(0:a) for\n"
    "an item of a fanned-out task) or its ID.\n\n"
    "Options:\n"
    "  -o, --output FILE   where to write the download (default: the key's last\n"
    "                      part, such as data.tgz, in the current folder; - is\n"
    "                      stdout)\n\n"
    "Examples:\n"
    "  skiff artifacts fraud-pipeline-x7k2p\n"
    "  skiff artifacts fraud-pipeline-x7k2p prepare data -o data.tgz\n"
    "  skiff artifacts fraud-pipeline-x7k2p prepare data -o - | tar -xzf -\n";

/* The list, one row per artifact. */
static int list(const char *name)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char path[700];
    json_t *reply = NULL;
    const json_t *it;
    size_t i, wn = 4, wa = 8;

    snprintf(path, sizeof path, "/api/v1/workflows/%s/artifacts", name);
    if (cli_api("GET", path, NULL, &reply, NULL, &err))
        return cli_fail(&err);
    json_array_foreach(json_object_get(reply, "items"), i, it) {
        size_t a = strlen(json_string_value(json_object_get(it, "node")));
        size_t b = strlen(json_string_value(json_object_get(it, "name")));
        wn = a > wn ? a : wn;
        wa = b > wa ? b : wa;
    }
    printf("%-*s  %-*s  %10s  %s\n", (int)wn, "NODE", (int)wa, "ARTIFACT", "SIZE", "KEY");
    json_array_foreach(json_object_get(reply, "items"), i, it)
        printf("%-*s  %-*s  %10lld  %s\n", (int)wn,
               json_string_value(json_object_get(it, "node")), (int)wa,
               json_string_value(json_object_get(it, "name")),
               (long long)json_integer_value(json_object_get(it, "size")),
               json_string_value(json_object_get(it, "key")));
    json_decref(reply);
    return CLI_OK;
}

/* Downloads one artifact to `out` (NULL: the key's file name; "-": stdout). */
static int download(const char *name, const char *node, const char *art, const char *out)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_http_result res = {0};
    struct skiff_buf path = SKIFF_BUF_INIT;
    char *en = NULL, *ea = NULL, *ew = NULL;
    char fname[512];
    FILE *f = NULL;
    int rc = CLI_OK;

    skiff_buf_init(&res.body, 0);
    skiff_buf_init(&res.headers, 0);
    /* display names such as "make(0:a)" travel percent-encoded */
    if (!(ew = curl_easy_escape(NULL, name, 0)) || !(en = curl_easy_escape(NULL, node, 0)) ||
        !(ea = curl_easy_escape(NULL, art, 0))) {
        rc = CLI_FAILED;
        goto out;
    }
    if ((skiff_buf_appendf(&path, "/api/v1/workflows/%s/artifacts/%s/%s", ew, en, ea) &&
         skiff_err_set(&err, SKIFF_ENOMEM, "out of memory")) ||
        cli_api_raw("GET", path.ptr, NULL, NULL, 0, &res, &err)) {
        rc = cli_fail(&err);
        goto out;
    }
    if (!out) {
        /* Content-Disposition: attachment; filename="data.tgz" */
        char cd[600], *q;
        snprintf(fname, sizeof fname, "%s", art);
        if (skiff_http_result_header(&res, "Content-Disposition", cd, sizeof cd) &&
            (q = strstr(cd, "filename=\"")) && strchr(q + 10, '"')) {
            q += 10;
            *strchr(q, '"') = '\0';
            if (*q && !strchr(q, '/') && strcmp(q, "..") != 0 && strcmp(q, ".") != 0)
                snprintf(fname, sizeof fname, "%s", q);
        }
        out = fname;
    }
    if (strcmp(out, "-") == 0) {
        f = stdout;
    } else if (!(f = fopen(out, "wb"))) {
        skiff_err_sys(&err, SKIFF_EIO, "cannot write '%s'", out);
        rc = cli_fail(&err);
        goto out;
    }
    if (fwrite(res.body.ptr ? res.body.ptr : "", 1, res.body.len, f) != res.body.len ||
        fflush(f) != 0) {
        skiff_err_sys(&err, SKIFF_EIO, "cannot write '%s'", out);
        rc = cli_fail(&err);
    }
    if (f != stdout && fclose(f) != 0 && rc == CLI_OK) {
        skiff_err_sys(&err, SKIFF_EIO, "cannot write '%s'", out);
        rc = cli_fail(&err);
    }
    if (rc == CLI_OK && f != stdout)
        fprintf(stderr, "%s: %zu bytes\n", out, res.body.len);
out:
    curl_free(ew);
    curl_free(en);
    curl_free(ea);
    skiff_buf_release(&path);
    skiff_buf_release(&res.body);
    skiff_buf_release(&res.headers);
    return rc;
}

int cmd_artifacts(int argc, char **argv)
{
    const char *args[3] = {NULL, NULL, NULL}, *out = NULL;
    int n = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) {
            if (++i >= argc)
                return cli_usage_error("artifacts", "-o needs a file name");
            out = argv[i];
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("artifacts", "unknown option '%s'", argv[i]);
        } else if (n < 3) {
            args[n++] = argv[i];
        } else {
            return cli_usage_error("artifacts", "unexpected argument '%s'", argv[i]);
        }
    }
    if (n != 1 && n != 3)
        return cli_usage_error("artifacts", "takes a workflow name, and a node and an artifact "
                                            "to download one");
    if (n == 1) {
        if (out)
            return cli_usage_error("artifacts", "-o needs NODE and ARTIFACT to download");
        return list(args[0]);
    }
    return download(args[0], args[1], args[2], out);
}
