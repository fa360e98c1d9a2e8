/* skiff serve: one InferenceService alone, the container entrypoint.
 *
 * The same server as in `skiff up` (src/serving), given the service from a
 * file instead of the store: load the file, validate it as `skiff apply`
 * would, load the model (and answer a warm-up) before listening, then
 * serve V2/V1, /healthz and /metrics until SIGINT/SIGTERM.
 *
 * Without a file it is a KServe model server (deploy/kserve/
 * servingruntime.yaml): `--model-name NAME --model-dir /mnt/models` make
 * the InferenceService {name, xgboost, storageUri DIR} that KServe's
 * controller would have handed a runtime. There KServe (or the mesh) puts
 * authentication in front, so `--auth none` opens the inference routes;
 * it is never the default and says so in the log.
 */
#include "cli.h"

#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skiff/auth.h"
#include "skiff/buf.h"
#include "skiff/http.h"
#include "skiff/log.h"
#include "skiff/metrics.h"
#include "skiff/resource.h"
#include "skiff/serving.h"
#include "skiff/yaml.h"

const char cmd_serve_usage[] =
    "Usage: skiff serve -f ISVC.yaml [--listen ADDR:PORT] [--model-dir DIR] [--home DIR]\n"
    "                   [--threads N] [--access-log] [--auth token|none]\n"
    "       skiff serve --model-name NAME --model-dir DIR [--listen ADDR:PORT] [...]\n\n"
    "Serve one InferenceService (serving.kserve.io/v1beta1) alone: the Open Inference\n"
    "Protocol (V2) and V1 on one port, as the platform does for every service.\n"
    "The model is loaded and answers a warm-up request before the port opens.\n"
    "The second form is the model server of a KServe ServingRuntime\n"
    "(deploy/kserve/servingruntime.yaml): the model KServe's storage initializer put\n"
    "in DIR, served as NAME, no file.\n\n"
    "Options:\n"
    "  -f, --filename FILE  the InferenceService (its first document of that kind)\n"
    "  --model-name NAME    without -f: the model's name in the routes (a DNS-1035\n"
    "                       label, as an InferenceService name)\n"
    "  --model-format F     without -f: the model format (xgboost, the default)\n"
    "  --auth token|none    token (default): inference routes need a bearer token;\n"
    "                       none: every route is open, for a cluster where KServe or\n"
    "                       the mesh authenticates in front (a warning is logged)\n"
    "  --listen ADDR:PORT   where to serve (default 127.0.0.1:8080; port 0 picks one,\n"
    "                       printed on stdout as the URL)\n"
    "  --model-dir DIR      load the model from DIR instead of spec's storageUri (as\n"
    "                       KServe's --model_dir=/mnt/models)\n"
    "  --home DIR           where tokens are verified from (signing.key) and payload\n"
    "                       logs go (payloads/); env SKIFF_HOME, default ./.skiff\n"
    "  --threads N          HTTP worker threads (default: the CPUs online; more only\n"
    "                       adds queueing: inference never blocks)\n"
    "  --access-log         one log line per request (off: it costs on the hot path)\n\n"
    "Routes: POST /v2/models/NAME/infer and /v1/models/NAME:predict need a token with\n"
    "scope serving:infer (skiff token --scope serving:infer); /v2/health/*,\n"
    "/v2/models/NAME/ready, /healthz and /metrics are open.\n"
    "storageUri: a path (relative to the file) or file://; models:/NAME@ALIAS,\n"
    "models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME/latest, runs:/ID/PATH\n"
    "and mlflow-artifacts:/ are fetched from the platform's registry at SKIFF_URL\n"
    "(token in SKIFF_TOKEN_FILE) into DIR/models/.\n\n"
    "Examples:\n"
    "  skiff serve -f fraud-isvc.yaml --listen 0.0.0.0:8080\n"
    "  skiff serve -f isvc.yaml --model-dir /mnt/models\n"
    "  skiff serve --model-name fraud --model-dir /mnt/models --listen 0.0.0.0:8080 \\\n"
    "              --auth none\n";


/* The file's first InferenceService, validated, with the file's folder as
 * its applied-from annotation (relative storageUris resolve there).
 * *obj is a new reference. */
static int load_isvc(const char *file, json_t **obj, struct skiff_err *err)
{
    struct skiff_yaml_docs *docs = NULL;
    char dir[PATH_MAX], *slash;
    int rc;

    *obj = NULL;
    if ((rc = skiff_yaml_load_file(file, &docs, err)))
        return rc;
    for (size_t i = 0; i < skiff_yaml_count(docs) && !*obj; i++) {
        json_t *d = skiff_yaml_doc(docs, i);
        struct skiff_validation v = {docs, i, err, NULL, 0};
        const struct skiff_kind *k;
        const char *kind = json_string_value(json_object_get(d, "kind"));

        if (!kind || strcmp(kind, "InferenceService") != 0)
            continue;
        rc = skiff_resource_validate(d, &v, &k);
        for (size_t w = 0; w < v.nwarnings; w++)
            fprintf(stderr, "warning: %s\n", v.warnings[w]);
        skiff_validation_release(&v);
        if (rc)
            goto out;
        *obj = json_deep_copy(d);
    }
    if (!*obj) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "%s: no InferenceService in the file", file);
        goto out;
    }
    if (!realpath(file, dir)) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot resolve '%s'", file);
        goto out;
    }
    if ((slash = strrchr(dir, '/')))
        *slash = '\0';
    {
        json_t *md = json_object_get(*obj, "metadata"), *ann = json_object_get(md, "annotations");
        if (!json_is_object(ann)) {
            ann = json_object();
            json_object_set_new(md, "annotations", ann);
        }
        json_object_set_new(ann, SKIFF_ANNOTATION_APPLIED_FROM, json_string(dir));
    }
out:
    if (rc) {
        json_decref(*obj);
        *obj = NULL;
    }
    skiff_yaml_free(docs);
    return rc;
}

/* The InferenceService KServe's controller describes to a runtime: name,
 * format and the model folder. Validated as a file would be. *obj new. */
static int make_isvc(const char *name, const char *format, const char *dir, json_t **obj,
                     struct skiff_err *err)
{
    struct skiff_validation v = {NULL, 0, err, NULL, 0};
    const struct skiff_kind *k;
    int rc;

    *obj = json_pack("{s:s, s:s, s:{s:s}, s:{s:{s:{s:{s:s}, s:s}}}}", "apiVersion",
                     "serving.kserve.io/v1beta1", "kind", "InferenceService", "metadata",
                     "name", name, "spec", "predictor", "model", "modelFormat", "name", format,
                     "storageUri", dir);
    if (!*obj)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    rc = skiff_resource_validate(*obj, &v, &k);
    skiff_validation_release(&v);
    if (rc) {
        json_decref(*obj);
        *obj = NULL;
        return skiff_err_prefix(err, "--model-name/--model-format");
    }
    return 0;
}

/* The serving routes with every scope opened (--auth none). Caller frees. */
static struct skiff_route *open_routes(const struct skiff_route *rr, size_t n)
{
    struct skiff_route *o = malloc(n * sizeof *o);

    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        o[i] = rr[i];
        o[i].scope = SKIFF_SCOPE_OPEN;
    }
    return o;
}

int cmd_serve(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"filename", required_argument, NULL, 'f'},
        {"listen", required_argument, NULL, 'l'},
        {"model-dir", required_argument, NULL, 'm'},
        {"home", required_argument, NULL, 'H'},
        {"threads", required_argument, NULL, 't'},
        {"access-log", no_argument, NULL, 'a'},
        {"model-name", required_argument, NULL, 'n'},
        {"model-format", required_argument, NULL, 'F'},
        {"auth", required_argument, NULL, 'A'},
        {NULL, 0, NULL, 0},
    };
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_serving_opts so = {0};
    struct skiff_serving *srv = NULL;
    struct skiff_http_opts ho;
    struct skiff_http_server *http = NULL;
    struct skiff_auth *auth = NULL;
    const char *file = NULL, *listen = "127.0.0.1:8080", *home = NULL;
    const char *model_name = NULL, *model_format = "xgboost";
    const struct skiff_route *rr, *probes;
    struct skiff_route *opened = NULL;
    json_t *obj = NULL;
    sigset_t sigs;
    size_t nr, nprobes;
    int opt, sig, rc, threads = 0;
    bool access_log = false, no_auth = false;

    if (cli_wants_help(argc, argv))
        return cli_print_usage("serve");
    optind = 1;
    while ((opt = getopt_long(argc, argv, "f:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'f': file = optarg; break;
        case 'l': listen = optarg; break;
        case 'm': so.model_dir = optarg; break;
        case 'H': home = optarg; break;
        case 't':
            threads = atoi(optarg);
            if (threads < 1 || threads > 256)
                return cli_usage_error("serve", "--threads wants 1..256, not '%s'", optarg);
            break;
        case 'a': access_log = true; break;
        case 'n': model_name = optarg; break;
        case 'F': model_format = optarg; break;
        case 'A':
            if (strcmp(optarg, "none") != 0 && strcmp(optarg, "token") != 0)
                return cli_usage_error("serve", "--auth wants token or none, not '%s'", optarg);
            no_auth = strcmp(optarg, "none") == 0;
            break;
        default: return cli_usage_error("serve", "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error("serve", "unexpected argument '%s'", argv[optind]);
    if (file && model_name)
        return cli_usage_error("serve", "give -f ISVC.yaml or --model-name, not both");
    if (!file && !model_name)
        return cli_usage_error("serve", "-f ISVC.yaml (or --model-name NAME --model-dir DIR) "
                               "is required");
    if (model_name && !so.model_dir)
        return cli_usage_error("serve", "--model-name needs --model-dir DIR (where the model "
                               "is, e.g. /mnt/models)");
    if (!home)
        home = cli_home();
    if ((rc = file ? load_isvc(file, &obj, &err)
                   : make_isvc(model_name, model_format, so.model_dir, &obj, &err)))
        return rc == SKIFF_EINVAL || rc == SKIFF_EPARSE ? (cli_fail(&err), CLI_USAGE)
                                                        : cli_fail(&err);

    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    so.home = home;
    if (no_auth)
        skiff_warn("--auth none: the inference routes take requests without a token; only "
                   "behind a proxy or mesh that authenticates them (KServe's)");
    if ((!no_auth && (rc = skiff_auth_open(home, &auth, &err))) ||
        (rc = skiff_serving_open(&so, &srv, &err)) ||
        (rc = skiff_serving_apply(srv, obj, &err)))
        goto out;
    skiff_http_opts_init(&ho);
    ho.listen = listen;
    ho.auth = auth;
    ho.threads = threads ? (unsigned)threads : cli_cpu_threads();
    ho.access_log = access_log;
    rr = skiff_serving_routes(&nr);
    if (no_auth) {
        if (!(opened = open_routes(rr, nr))) {
            rc = skiff_err_set(&err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
        rr = opened;
    }
    probes = skiff_http_probe_routes(&nprobes);
    if ((rc = skiff_http_new(&ho, &http, &err)) ||
        (rc = skiff_http_add_routes(http, probes, nprobes, NULL, NULL, &err)) ||
        (rc = skiff_http_add_routes(http, rr, nr, skiff_serving_errfmt, srv, &err)) ||
        (rc = skiff_http_start(http, &err)))
        goto out;
    {
        char url[300], host[256];
        const char *colon = strrchr(listen, ':');
        snprintf(host, sizeof host, "%.*s", (int)(colon ? colon - listen : 0), listen);
        if (!strcmp(host, "0.0.0.0") || !host[0])
            snprintf(host, sizeof host, "127.0.0.1");
        snprintf(url, sizeof url, "http://%s:%d", host, skiff_http_port(http));
        if ((rc = skiff_serving_start(srv, url, &err)))
            goto out;
        printf("%s\n", url);
        fflush(stdout);
        skiff_info("serving '%s' on %s",
                   json_string_value(json_object_get(json_object_get(obj, "metadata"), "name")),
                   url);
    }
    sigwait(&sigs, &sig);
    skiff_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
out:
    skiff_http_free(http);
    free(opened);   /* the server borrowed it */
    skiff_serving_close(srv);
    skiff_auth_free(auth);
    json_decref(obj);
    if (rc)
        return cli_fail(&err);
    return CLI_OK;
}
