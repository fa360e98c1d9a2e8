/* skiff features: the feature store from the command line. historical
 * reads the definitions and data files itself (no platform needed); plan
 * compares the files with the platform's stored definitions; materialize
 * fills the online store (here with -f, else on the platform); serve runs
 * the feature server alone; skew compares served values with recomputed
 * ones (include/skiff/online.h). */
#include "cli.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pthread.h>
#include <signal.h>

#include "skiff/auth.h"
#include "skiff/config.h"
#include "skiff/features.h"
#include "skiff/http.h"
#include "skiff/log.h"
#include "skiff/online.h"
#include "skiff/resource.h"
#include "skiff/store.h"
#include "skiff/time.h"

const char cmd_features_usage[] =
    "Usage: skiff features plan -f DEFS.yaml|DIR\n"
    "       skiff features apply -f DEFS.yaml|DIR\n"
    "       skiff features historical -f DEFS.yaml|DIR --service NAME --entities FILE.csv\n"
    "                                 [-o OUT.csv] [--full-feature-names] [--on-bad-row skip]\n"
    "                                 [--threads N]\n"
    "       skiff features materialize START END [-f DEFS] [-v VIEW]...\n"
    "       skiff features materialize-incremental END [-f DEFS] [-v VIEW]...\n"
    "       skiff features serve [-f DEFS] [--listen ADDR:PORT] [--home DIR]\n"
    "                            [--threads N]\n"
    "       skiff features skew -f DEFS --service NAME --served FILE.csv\n"
    "                           [--max-mismatch 0.01] [--tolerance 1e-6]\n\n"
    "plan: what `skiff apply -f` of the definitions would change on the platform,\n"
    "one line per object: + added, ~ changed (with the fields that differ), - only on\n"
    "the platform (apply keeps it); unchanged objects are counted. The files are\n"
    "checked first (references included), as historical checks them.\n\n"
    "apply: writes the added and changed objects to the platform, as `skiff apply`\n"
    "does, unless the result would break a FeatureService on the platform (a view or\n"
    "feature it reads would be gone, or change type): then nothing is written and the\n"
    "reason is printed (exit 1).\n\n"
    "historical: build training data: for each row of the entity file (its join-key columns and\n"
    "event_timestamp), each feature view of the service contributes its fields as of\n"
    "that time (the latest row with timestamp <= event_timestamp and >= event_timestamp\n"
    "- ttl; ties go to the latest created timestamp), its windowed aggregations over\n"
    "(event_timestamp - window, event_timestamp] and its derived fields. Unknown\n"
    "entities get empty cells. The output keeps the entity rows' order and columns,\n"
    "then one column per feature.\n\n"
    "Options:\n"
    "  -f, --filename PATH     the Entity, DataSource, FeatureView and FeatureService\n"
    "                          definitions: a YAML file or a folder of them\n"
    "  --service NAME          the FeatureService to retrieve\n"
    "  --entities FILE         CSV with a header: join keys, event_timestamp, any others\n"
    "  -o, --output FILE       write the CSV there (default: standard output)\n"
    "  --full-feature-names    name columns VIEW__FEATURE instead of FEATURE\n"
    "  --on-bad-row fail|skip  a source value that does not parse as its type fails\n"
    "                          with file:line:column (default), or skips its row\n"
    "  --threads N             worker threads for the join (default 2)\n\n"
    "When standard error is a terminal, progress bars show the reading of each source\n"
    "and the join (SKIFF_NO_PROGRESS=1 turns them off).\n\n"
    "materialize: copy into the online store, per online view, the latest row of each\n"
    "entity with START <= event time <= END (and, for aggregation views, the events\n"
    "of the longest window before END). A row never replaces a newer one, so a rerun\n"
    "(also after a run was killed) gives the same state. With -f the definitions and\n"
    "the sources are read here and the online store of the platform's config\n"
    "(SKIFF_HOME/config.yaml online_store: lmdb or redis://HOST:PORT) is written;\n"
    "without -f the platform does it (POST /materialize).\n"
    "materialize-incremental: the same from each view's last END (its watermark).\n\n"
    "serve: the feature server alone (POST /get-online-features, /push,\n"
    "/materialize, /materialize-incremental, GET /health) on the home's online store,\n"
    "with the definitions of -f or else those stored on the platform; tokens are\n"
    "verified with the home's signing key (scopes features:read, features:write).\n"
    "--threads N: HTTP workers (default one per CPU; with a Redis online store, where\n"
    "each lookup waits for a round trip, more threads, e.g. 4 per CPU, hide it).\n\n"
    "skew: recompute each row of a served-values file (join keys, event_timestamp,\n"
    "one column per feature; or a serving payload log, *.jsonl) by historical\n"
    "retrieval and report, per feature, the mismatch rate and the worst examples;\n"
    "exit 1 when a rate is above --max-mismatch (default 0.01; --tolerance is\n"
    "relative, default 1e-6).\n\n"
    "Exit codes: 0 done, 1 failed, 2 bad usage or bad input.\n\n"
    "Examples:\n"
    "  skiff features historical -f features/ --service fraud_detection_v3 \\\n"
    "      --entities labels.csv -o training.csv\n"
    "  skiff features historical -f repo.yaml --service fraud_detection_v3 \\\n"
    "      --entities labels.csv --full-feature-names | head\n";

static int historical(int argc, char **argv)
{
    const char *defs = NULL, *service = NULL, *entities = NULL, *output = NULL;
    struct skiff_feat_historical_opts o = {0};
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_feat_registry *reg = NULL;
    struct skiff_feat_table *ent = NULL, *feat = NULL;
    const struct skiff_feat_service *svc;
    FILE *f = stdout;
    size_t skipped = 0;
    int rc = CLI_OK;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if ((strcmp(a, "-f") == 0 || strcmp(a, "--filename") == 0) && val)
            defs = argv[++i];
        else if (strcmp(a, "--service") == 0 && val)
            service = argv[++i];
        else if (strcmp(a, "--entities") == 0 && val)
            entities = argv[++i];
        else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && val)
            output = argv[++i];
        else if (strcmp(a, "--full-feature-names") == 0)
            o.full_feature_names = true;
        else if (strcmp(a, "--on-bad-row") == 0 && val &&
                 (strcmp(val, "skip") == 0 || strcmp(val, "fail") == 0))
            o.skip_bad_rows = strcmp(argv[++i], "skip") == 0;
        else if (strcmp(a, "--threads") == 0 && val && atoi(val) > 0)
            o.threads = atoi(argv[++i]);
        else
            return cli_usage_error("features", "unexpected argument '%s'", a);
    }
    if (!defs || !service || !entities)
        return cli_usage_error("features", "historical needs -f DEFS, --service NAME and "
                                           "--entities FILE");
    /* bars only for a person watching: never into a log file or a pipe */
    o.progress = isatty(STDERR_FILENO) && !getenv("SKIFF_NO_PROGRESS");
    if (skiff_feat_registry_load(defs, &reg, &err))
        return cli_fail(&err);
    if (!(svc = skiff_feat_service_get(reg, service))) {
        skiff_err_set(&err, SKIFF_EINVAL, "no FeatureService '%s' in '%s'", service, defs);
        rc = cli_fail(&err);
        goto out;
    }
    if (skiff_feat_entities_read(svc, entities, &ent, &err) ||
        skiff_feat_historical(svc, ent, &o, &feat, &skipped, &err)) {
        rc = cli_fail(&err);
        goto out;
    }
    if (output && !(f = fopen(output, "w"))) {
        skiff_err_sys(&err, SKIFF_EIO, "cannot write '%s'", output);
        rc = cli_fail(&err);
        goto out;
    }
    {
        const struct skiff_feat_table *parts[2] = {ent, feat};
        if (skiff_feat_csv_write(f, parts, 2, &err))
            rc = cli_fail(&err);
    }
    if (skipped)
        fprintf(stderr, "skiff: skipped %zu source row%s with values that do not parse\n",
                skipped, skipped == 1 ? "" : "s");
    if (output && fclose(f) != 0 && rc == CLI_OK) {
        skiff_err_sys(&err, SKIFF_EIO, "cannot write '%s'", output);
        rc = cli_fail(&err);
    }
out:
    skiff_feat_table_free(feat);
    skiff_feat_table_free(ent);
    skiff_feat_registry_free(reg);
    return rc;
}

/* The platform's objects of the four feature-store kinds, in one array. */
static int stored_objects(json_t **out, struct skiff_err *err)
{
    static const char *const plurals[] = {"entities", "datasources", "featureviews",
                                          "featureservices"};
    json_t *all = json_array();
    *out = NULL;
    if (!all)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    for (size_t i = 0; i < sizeof plurals / sizeof *plurals; i++) {
        char path[64];
        json_t *reply = NULL;
        snprintf(path, sizeof path, "/api/v1/%s", plurals[i]);
        if (cli_api("GET", path, NULL, &reply, NULL, err)) {
            json_decref(all);
            return err->code;
        }
        if (json_array_extend(all, json_object_get(reply, "items"))) {
            json_decref(reply);
            json_decref(all);
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        }
        json_decref(reply);
    }
    *out = all;
    return 0;
}

/* The plan's action ("add", "change", ...) for kind/name, or "". */
static const char *planned(const json_t *changes, const char *kind, const char *name)
{
    json_t *c;
    size_t i;
    json_array_foreach(changes, i, c) {
        const char *ck = json_string_value(json_object_get(c, "kind"));
        const char *cn = json_string_value(json_object_get(c, "name"));
        if (ck && cn && strcmp(ck, kind) == 0 && strcmp(cn, name) == 0)
            return json_string_value(json_object_get(c, "action"));
    }
    return "";
}

/* PUTs each added or changed object of the plan, as `skiff apply` does, in
 * an order the platform admits one object at a time
 * (skiff_feat_apply_order: a service's use of a field goes before the
 * field's removal, after its addition). */
static int apply_changes(const json_t *local, const json_t *stored, const json_t *changes,
                         struct skiff_err *err)
{
    size_t n = json_array_size(local), *order = calloc(n ? n : 1, sizeof *order);
    int rc;

    if (!order)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if ((rc = skiff_feat_apply_order(stored, local, order, err)))
        goto out;
    for (size_t k = 0; k < n; k++) {
        const json_t *o = json_array_get(local, order[k]);
        const char *kind = json_string_value(json_object_get(o, "kind"));
        const char *name = json_string_value(
            json_object_get(json_object_get(o, "metadata"), "name"));
        const char *action = kind && name ? planned(changes, kind, name) : "";
        const struct skiff_kind *sk = kind ? skiff_kind_lookup(kind) : NULL;
        struct cli_api_meta meta = {0};
        char path[1024];
        if (strcmp(action, "add") != 0 && strcmp(action, "change") != 0)
            continue;
        if (!sk) {
            rc = skiff_err_set(err, SKIFF_EINTERNAL, "unknown kind '%s' in the plan", kind);
            goto out;
        }
        snprintf(path, sizeof path, "/api/v1/%s/%s", sk->plural, name);
        if ((rc = cli_api("PUT", path, o, NULL, &meta, err))) {
            skiff_err_prefix(err, "%s/%s", kind, name);
            goto out;
        }
        printf("%s/%s %s\n", kind, name,
               meta.apply_result[0] ? meta.apply_result
                                    : strcmp(action, "add") == 0 ? "created" : "configured");
    }
out:
    free(order);
    return rc;
}

static int plan(int argc, char **argv, bool apply)
{
    const char *defs = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_feat_registry *reg = NULL;
    json_t *stored = NULL, *changes = NULL, *c;
    size_t i, n[4] = {0, 0, 0, 0};   /* add, change, remove, unchanged */
    int rc = CLI_OK;

    for (int a = 1; a < argc; a++) {
        if ((strcmp(argv[a], "-f") == 0 || strcmp(argv[a], "--filename") == 0) && a + 1 < argc)
            defs = argv[++a];
        else
            return cli_usage_error("features", "unexpected argument '%s'", argv[a]);
    }
    if (!defs)
        return cli_usage_error("features", "%s needs -f DEFS", apply ? "apply" : "plan");
    if (skiff_feat_registry_load(defs, &reg, &err))
        return cli_fail(&err);
    if (stored_objects(&stored, &err) ||
        skiff_feat_plan(skiff_feat_registry_objects(reg), stored, &changes, &err)) {
        rc = cli_fail(&err);
        goto out;
    }
    if (apply) {
        /* nothing is written when the result would break a service in use */
        if (skiff_feat_plan_check(skiff_feat_registry_objects(reg), stored, &err) ||
            apply_changes(skiff_feat_registry_objects(reg), stored, changes, &err))
            rc = cli_fail(&err);
        goto out;
    }
    json_array_foreach(changes, i, c) {
        const char *action = json_string_value(json_object_get(c, "action"));
        const char *kind = json_string_value(json_object_get(c, "kind"));
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *f, *fields = json_object_get(c, "fields");
        size_t j;
        if (strcmp(action, "unchanged") == 0) {
            n[3]++;
        } else if (strcmp(action, "add") == 0) {
            n[0]++;
            printf("+ %s/%s\n", kind, name);
        } else if (strcmp(action, "remove") == 0) {
            n[2]++;
            printf("- %s/%s (only on the platform; apply keeps it)\n", kind, name);
        } else {
            n[1]++;
            printf("~ %s/%s:", kind, name);
            json_array_foreach(fields, j, f)
                printf("%s %s", j ? "," : "", json_string_value(f));
            printf("\n");
        }
    }
    printf("Plan: %zu to add, %zu to change, %zu unchanged, %zu only on the platform.\n", n[0],
           n[1], n[3], n[2]);
out:
    json_decref(changes);
    json_decref(stored);
    skiff_feat_registry_free(reg);
    return rc;
}

/* ---- online store: materialize, serve, skew ---- */

static int parse_time_arg(const char *s, int64_t *out)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    if (skiff_time_parse(s, out, &err))
        return cli_usage_error("features", "'%s' is not a time (RFC 3339 or epoch seconds)", s);
    return CLI_OK;
}

static int materialize(int argc, char **argv, bool incremental)
{
    const char *defs = NULL, *pos[2] = {NULL, NULL}, *views[256];
    size_t npos = 0, nviews = 0;
    int64_t start = 0, end = 0;
    struct skiff_err err = SKIFF_ERR_INIT;
    int rc;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "-f") == 0 || strcmp(a, "--filename") == 0) && i + 1 < argc)
            defs = argv[++i];
        else if ((strcmp(a, "-v") == 0 || strcmp(a, "--views") == 0) && i + 1 < argc &&
                 nviews < 256)
            views[nviews++] = argv[++i];
        else if (a[0] != '-' && npos < 2)
            pos[npos++] = a;
        else
            return cli_usage_error("features", "unexpected argument '%s'", a);
    }
    if (npos != (incremental ? 1u : 2u))
        return cli_usage_error("features", incremental ? "materialize-incremental needs END"
                                                       : "materialize needs START and END");
    if ((!incremental && (rc = parse_time_arg(pos[0], &start))) ||
        (rc = parse_time_arg(pos[incremental ? 0 : 1], &end)))
        return rc;
    if (!incremental && start >= end)
        return cli_usage_error("features", "START must be before END");
    if (!defs) {
        /* the platform materializes with its own definitions and store */
        json_t *body = json_object(), *vl = json_array();
        char ts[48];
        if (!body || !vl)
            return cli_usage_error("features", "out of memory");
        for (size_t i = 0; i < nviews; i++)
            json_array_append_new(vl, json_string(views[i]));
        if (!incremental)
            json_object_set_new(body, "start_ts", json_string(skiff_time_format(start, ts, sizeof ts)));
        json_object_set_new(body, "end_ts", json_string(skiff_time_format(end, ts, sizeof ts)));
        json_object_set_new(body, "feature_views", nviews ? vl : json_null());
        if (!nviews)
            json_decref(vl);
        rc = cli_api("POST", incremental ? "/materialize-incremental" : "/materialize", body,
                     NULL, NULL, &err);
        json_decref(body);
        if (rc)
            return cli_fail(&err);
        printf("materialized\n");
        return CLI_OK;
    }
    {
        struct skiff_config cfg;
        struct skiff_feat_registry *reg = NULL;
        struct skiff_online *o = NULL;
        struct skiff_online_materialize_opts mo = {views, nviews, incremental,
                                                   isatty(STDERR_FILENO) &&
                                                       !getenv("SKIFF_NO_PROGRESS"),
                                                   stdout};
        rc = CLI_OK;
        if (skiff_config_load(NULL, &cfg, &err) || skiff_feat_registry_load(defs, &reg, &err) ||
            skiff_online_open(cfg.online_store, cfg.home, &o, &err) ||
            skiff_online_materialize(o, reg, start, end, &mo, &err))
            rc = cli_fail(&err);
        skiff_online_close(o);
        skiff_feat_registry_free(reg);
        return rc;
    }
}

static int serve(int argc, char **argv)
{
    const char *defs = NULL, *listen = NULL, *home = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_config cfg;
    struct skiff_feat_registry *reg = NULL;
    struct skiff_online *o = NULL;
    struct skiff_store *store = NULL;
    struct skiff_auth *auth = NULL;
    struct skiff_online_server *srv = NULL;
    struct skiff_http_server *http = NULL;
    struct skiff_http_opts ho;
    const struct skiff_route *routes, *probes;
    size_t nr, nprobes;
    int threads = 0;   /* --threads; 0: one per CPU (cli_cpu_threads) */
    sigset_t sigs;
    int sig, rc = CLI_OK;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "-f") == 0 || strcmp(a, "--filename") == 0) && i + 1 < argc)
            defs = argv[++i];
        else if (strcmp(a, "--listen") == 0 && i + 1 < argc)
            listen = argv[++i];
        else if (strcmp(a, "--home") == 0 && i + 1 < argc)
            home = argv[++i];
        else if (strcmp(a, "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
            if (threads < 1 || threads > 256)
                return cli_usage_error("features", "--threads wants 1..256, not '%s'", argv[i]);
        } else
            return cli_usage_error("features", "unexpected argument '%s'", a);
    }
    if (skiff_config_load(home, &cfg, &err) ||
        (listen && skiff_config_set(&cfg, "listen", listen, &err)))
        return cli_fail(&err);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if ((defs && skiff_feat_registry_load(defs, &reg, &err)) ||
        (!defs && skiff_store_open(cfg.store, &store, &err)) ||
        skiff_auth_open(cfg.home, &auth, &err) ||
        skiff_online_open(cfg.online_store, cfg.home, &o, &err) ||
        skiff_online_server_new(o, store, reg, &srv, &err)) {
        rc = cli_fail(&err);
        goto out;
    }
    skiff_http_opts_init(&ho);
    ho.listen = cfg.listen;
    ho.auth = auth;
    ho.threads = threads ? (unsigned)threads : cli_cpu_threads();
    routes = skiff_online_routes(&nr);
    probes = skiff_http_probe_routes(&nprobes);
    if (skiff_http_new(&ho, &http, &err) ||
        skiff_http_add_routes(http, probes, nprobes, NULL, NULL, &err) ||
        skiff_http_add_routes(http, routes, nr, NULL, srv, &err) ||
        skiff_http_start(http, &err)) {
        rc = cli_fail(&err);
        goto out;
    }
    skiff_info("feature server listening on port %d (online store %s)", skiff_http_port(http),
               cfg.online_store);
    fprintf(stderr, "listening on port %d\n", skiff_http_port(http));
    sigwait(&sigs, &sig);
out:
    skiff_http_free(http);
    skiff_online_server_free(srv);
    skiff_online_close(o);
    skiff_auth_free(auth);
    skiff_store_close(store);
    skiff_feat_registry_free(reg);
    return rc;
}

static int skew(int argc, char **argv)
{
    const char *defs = NULL, *service = NULL, *served = NULL;
    struct skiff_feat_skew_opts o = {.max_mismatch = 0.01, .tolerance = 1e-6};
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_feat_registry *reg = NULL;
    const struct skiff_feat_service *svc;
    bool failed = false;
    char *end;
    int rc = CLI_OK;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if ((strcmp(a, "-f") == 0 || strcmp(a, "--filename") == 0) && val)
            defs = argv[++i];
        else if (strcmp(a, "--service") == 0 && val)
            service = argv[++i];
        else if (strcmp(a, "--served") == 0 && val)
            served = argv[++i];
        else if (strcmp(a, "--max-mismatch") == 0 && val) {
            o.max_mismatch = strtod(argv[++i], &end);
            if (*end || o.max_mismatch < 0 || o.max_mismatch > 1)
                return cli_usage_error("features", "--max-mismatch: want a share in [0, 1]");
        } else if (strcmp(a, "--tolerance") == 0 && val) {
            o.tolerance = strtod(argv[++i], &end);
            if (*end || o.tolerance < 0)
                return cli_usage_error("features", "--tolerance: want a number >= 0");
        } else
            return cli_usage_error("features", "unexpected argument '%s'", a);
    }
    if (!defs || !service || !served)
        return cli_usage_error("features", "skew needs -f DEFS, --service NAME and --served "
                                           "FILE");
    if (skiff_feat_registry_load(defs, &reg, &err))
        return cli_fail(&err);
    if (!(svc = skiff_feat_service_get(reg, service))) {
        skiff_err_set(&err, SKIFF_EINVAL, "no FeatureService '%s' in '%s'", service, defs);
        rc = cli_fail(&err);
    } else if (skiff_feat_skew(svc, served, &o, stdout, &failed, &err)) {
        rc = cli_fail(&err);
    } else if (failed) {
        rc = CLI_FAILED;
    }
    skiff_feat_registry_free(reg);
    return rc;
}

int cmd_features(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("features", "missing subcommand (plan, apply, historical, "
                                           "materialize, materialize-incremental, serve, skew)");
    if (strcmp(argv[1], "materialize") == 0 || strcmp(argv[1], "materialize-incremental") == 0)
        return materialize(argc - 1, argv + 1, strcmp(argv[1], "materialize") != 0);
    if (strcmp(argv[1], "serve") == 0)
        return serve(argc - 1, argv + 1);
    if (strcmp(argv[1], "skew") == 0)
        return skew(argc - 1, argv + 1);
    if (strcmp(argv[1], "historical") == 0)
        return historical(argc - 1, argv + 1);
    if (strcmp(argv[1], "plan") == 0 || strcmp(argv[1], "apply") == 0)
        return plan(argc - 1, argv + 1, strcmp(argv[1], "apply") == 0);
    return cli_usage_error("features", "unknown subcommand '%s' (plan, apply, historical, "
                           "materialize, materialize-incremental, serve, skew)", argv[1]);
}
