/* skiff models: the model registry of the tracking server (MLflow's API). */
#include "cli.h"
#include "mlflow.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "skiff/buf.h"

const char cmd_models_usage[] =
    "Usage: skiff models list [-o json]\n"
    "       skiff models get NAME [-o yaml|json]\n"
    "       skiff models register --run RUN_ID --path PATH --name NAME\n"
    "       skiff models alias NAME VERSION ALIAS\n\n"
    "List registered models, show one with all its versions, register a run's\n"
    "artifact folder as a new version (the model is created if it does not exist\n"
    "yet), or point an alias at a version. An alias moves if it already exists;\n"
    "a model is then loaded as models:/NAME@ALIAS.\n\n"
    "Options:\n"
    "  --run RUN_ID     the run whose artifacts hold the model\n"
    "  --path PATH      the model's folder under the run's artifacts, e.g. model\n"
    "  --name NAME      the registered model's name\n"
    "  -o, --output F   json (list), yaml or json (get; default yaml)\n\n"
    "Examples:\n"
    "  skiff models register --run 3f2a9c0e4b1d4e6f8a7b6c5d4e3f2a1b --path model \\\n"
    "        --name fraud-detector\n"
    "  skiff models alias fraud-detector 3 champion\n"
    "  skiff models get fraud-detector\n"
    "  skiff models list\n";

#define API "/api/2.0/mlflow/"

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

/* Appends `s` percent-encoded for a query string (RFC 3986 unreserved kept). */
static void url_encode(struct skiff_buf *b, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            skiff_buf_putc(b, (char)c);
        else
            skiff_buf_appendf(b, "%%%02X", c);
    }
}

static int output_arg(int argc, char **argv, int *i, const char **format)
{
    if ((strcmp(argv[*i], "-o") == 0 || strcmp(argv[*i], "--output") == 0) && *i + 1 < argc) {
        *format = argv[++*i];
        return 1;
    }
    return 0;
}

static void aliases_text(const json_t *m, char *out, size_t n)
{
    size_t i, len = 0;
    json_t *a;

    out[0] = '\0';
    json_array_foreach(json_object_get(m, "aliases"), i, a) {
        int w = snprintf(out + len, n - len, "%s%s=v%s", len ? "," : "",
                         json_string_value(json_object_get(a, "alias")),
                         json_string_value(json_object_get(a, "version")));
        if (w < 0 || (size_t)w >= n - len)
            break;
        len += (size_t)w;
    }
    if (!out[0])
        snprintf(out, n, "-");
}

static int models_list(int argc, char **argv)
{
    const char *format = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_buf path = SKIFF_BUF_INIT;
    json_t *reply = NULL, *all = json_array(), *m;
    const char *token = NULL;
    size_t i;
    int rc = CLI_OK;

    for (int k = 2; k < argc; k++)
        if (!output_arg(argc, argv, &k, &format)) {
            rc = cli_usage_error("models", "unexpected argument '%s'", argv[k]);
            goto out;
        }
    if (format && strcmp(format, "json") != 0) {
        rc = cli_usage_error("models", "models list prints a table or json, not '%s'", format);
        goto out;
    }
    do {
        skiff_buf_reset(&path);
        skiff_buf_puts(&path, API "registered-models/search?max_results=1000");
        if (token) {
            skiff_buf_puts(&path, "&page_token=");
            url_encode(&path, token);
        }
        json_decref(reply);
        reply = NULL;
        if (cli_api("GET", path.ptr, NULL, &reply, NULL, &err)) {
            rc = api_fail(&err);
            goto out;
        }
        json_array_extend(all, json_object_get(reply, "registered_models"));
        token = json_string_value(json_object_get(reply, "next_page_token"));
    } while (token);
    if (format) {
        json_t *o = json_pack("{s:O}", "registered_models", all);
        rc = cli_print_object(o, "json", &err) ? cli_fail(&err) : CLI_OK;
        json_decref(o);
        goto out;
    }
    if (json_array_size(all) == 0) {
        printf("No registered models.\n");
        goto out;
    }
    printf("%-30s  %-7s  %-19s  %s\n", "NAME", "LATEST", "UPDATED (UTC)", "ALIASES");
    json_array_foreach(all, i, m) {
        json_t *v;
        size_t k;
        long long latest = 0;
        char when[32], al[256];
        time_t t = (time_t)(json_integer_value(json_object_get(m, "last_updated_timestamp")) /
                            1000);
        struct tm tm;
        json_array_foreach(json_object_get(m, "latest_versions"), k, v) {
            long long n = atoll(json_string_value(json_object_get(v, "version")));
            if (n > latest)
                latest = n;
        }
        gmtime_r(&t, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        aliases_text(m, al, sizeof al);
        if (latest)
            printf("%-30s  %-7lld  %-19s  %s\n", json_string_value(json_object_get(m, "name")),
                   latest, when, al);
        else
            printf("%-30s  %-7s  %-19s  %s\n", json_string_value(json_object_get(m, "name")),
                   "-", when, al);
    }
out:
    skiff_buf_release(&path);
    json_decref(reply);
    json_decref(all);
    return rc;
}

static int models_get(int argc, char **argv)
{
    const char *name = NULL, *format = "yaml";
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_buf path = SKIFF_BUF_INIT, filter = SKIFF_BUF_INIT;
    json_t *model = NULL, *versions = NULL, *m, *list;
    int rc = CLI_OK;

    for (int i = 2; i < argc; i++) {
        if (output_arg(argc, argv, &i, &format))
            continue;
        if (argv[i][0] == '-' || name) {
            rc = cli_usage_error("models", "unexpected argument '%s'", argv[i]);
            goto out;
        }
        name = argv[i];
    }
    if (!name) {
        rc = cli_usage_error("models", "which model? e.g. 'skiff models get fraud-detector'");
        goto out;
    }
    if (strcmp(format, "yaml") != 0 && strcmp(format, "json") != 0) {
        rc = cli_usage_error("models", "unknown output format '%s' (yaml or json)", format);
        goto out;
    }
    skiff_buf_puts(&path, API "registered-models/get?name=");
    url_encode(&path, name);
    if (cli_api("GET", path.ptr, NULL, &model, NULL, &err)) {
        rc = api_fail(&err);
        goto out;
    }
    /* every version, newest first, not only the latest per stage */
    skiff_buf_puts(&filter, "name = '");
    for (const char *p = name; *p; p++)
        skiff_buf_puts(&filter, *p == '\'' ? "''" : (char[2]){*p, 0});
    skiff_buf_putc(&filter, '\'');
    skiff_buf_reset(&path);
    skiff_buf_puts(&path, API "model-versions/search?order_by=version_number+DESC&filter=");
    url_encode(&path, filter.ptr);
    if (cli_api("GET", path.ptr, NULL, &versions, NULL, &err)) {
        rc = api_fail(&err);
        goto out;
    }
    m = json_object_get(model, "registered_model");
    json_object_del(m, "latest_versions");
    list = json_object_get(versions, "model_versions");
    json_object_set_new(m, "versions", list ? json_incref(list) : json_array());
    rc = cli_print_object(m, format, &err) ? cli_fail(&err) : CLI_OK;
out:
    skiff_buf_release(&path);
    skiff_buf_release(&filter);
    json_decref(model);
    json_decref(versions);
    return rc;
}

static int models_register(int argc, char **argv)
{
    const char *run = NULL, *rel = NULL, *name = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct mlf c = {0};
    char *uri = NULL, *source = NULL, *version = NULL;
    int rc = CLI_OK;

    for (int i = 2; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--run") == 0    ? &run
                            : strcmp(argv[i], "--path") == 0 ? &rel
                            : strcmp(argv[i], "--name") == 0 ? &name
                                                             : NULL;
        if (!slot)
            return cli_usage_error("models", "unexpected argument '%s'", argv[i]);
        if (i + 1 >= argc)
            return cli_usage_error("models", "%s needs a value", argv[i]);
        *slot = argv[++i];
    }
    if (!run || !rel || !name)
        return cli_usage_error("models", "register needs --run, --path and --name");
    for (const char *p = run; *p; p++)
        if (!isxdigit((unsigned char)*p) || p - run >= 32)
            return cli_usage_error("models", "'%s' is not a run id (32 hex digits)", run);
    while (*rel == '/')
        rel++;
    /* the source is the folder itself (artifact_uri/path), as mlflow's
     * create_model_version with a resolved location; skiff register uses
     * runs:/ (same function, mlflow.h) */
    if (mlf_open(&c, &err) || mlf_run_info(&c, run, &uri, &err)) {
        rc = api_fail(&err);
        goto out;
    }
    if (!(source = malloc(strlen(uri) + strlen(rel) + 2))) {
        rc = cli_fail(&(struct skiff_err){.code = SKIFF_ENOMEM, .msg = "out of memory"});
        goto out;
    }
    sprintf(source, "%s/%s", uri, rel);
    if (mlf_register(&c, run, rel, name, NULL, NULL, &version, &source, &err)) {
        rc = api_fail(&err);
        goto out;
    }
    printf("registered %s version %s from %s\n", name, version, source);
out:
    free(uri);
    free(source);
    free(version);
    mlf_close(&c);
    return rc;
}

static int models_alias(int argc, char **argv)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *req;
    int rc;

    if (argc != 5)
        return cli_usage_error("models", "alias takes NAME VERSION ALIAS, e.g. "
                               "'skiff models alias fraud-detector 3 champion'");
    req = json_pack("{s:s, s:s, s:s}", "name", argv[2], "alias", argv[4], "version", argv[3]);
    rc = cli_api("POST", API "registered-models/alias", req, NULL, NULL, &err);
    json_decref(req);
    if (rc)
        return api_fail(&err);
    printf("models:/%s@%s -> version %s\n", argv[2], argv[4], argv[3]);
    return CLI_OK;
}

int cmd_models(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("models", "missing subcommand (list, get, register or alias)");
    if (strcmp(argv[1], "list") == 0)
        return models_list(argc, argv);
    if (strcmp(argv[1], "get") == 0)
        return models_get(argc, argv);
    if (strcmp(argv[1], "register") == 0)
        return models_register(argc, argv);
    if (strcmp(argv[1], "alias") == 0)
        return models_alias(argc, argv);
    return cli_usage_error("models", "unknown subcommand '%s' (list, get, register or alias)",
                           argv[1]);
}
