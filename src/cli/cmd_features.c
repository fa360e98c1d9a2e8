/* skiff features: the feature store from the command line. historical
 * reads the definitions and data files itself (no platform needed); plan
 * compares the files with the platform's stored definitions. */
#include "cli.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skiff/features.h"
#include "skiff/resource.h"

const char cmd_features_usage[] =
    "Usage: skiff features plan -f DEFS.yaml|DIR\n"
    "       skiff features apply -f DEFS.yaml|DIR\n"
    "       skiff features historical -f DEFS.yaml|DIR --service NAME --entities FILE.csv\n"
    "                                 [-o OUT.csv] [--full-feature-names] [--on-bad-row skip]\n"
    "                                 [--threads N]\n\n"
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

/* PUTs each added or changed object of the plan, as `skiff apply` does. */
static int apply_changes(const json_t *local, const json_t *changes, struct skiff_err *err)
{
    json_t *c, *o = NULL;
    size_t i, j;

    json_array_foreach(changes, i, c) {
        const char *action = json_string_value(json_object_get(c, "action"));
        const char *kind = json_string_value(json_object_get(c, "kind"));
        const char *name = json_string_value(json_object_get(c, "name"));
        const struct skiff_kind *k = skiff_kind_lookup(kind);
        struct cli_api_meta meta = {0};
        char path[1024];
        if (strcmp(action, "add") != 0 && strcmp(action, "change") != 0)
            continue;
        json_array_foreach(local, j, o) {
            const char *ok = json_string_value(json_object_get(o, "kind"));
            const char *on = json_string_value(
                json_object_get(json_object_get(o, "metadata"), "name"));
            if (ok && on && strcmp(ok, kind) == 0 && strcmp(on, name) == 0)
                break;
        }
        if (!k || j == json_array_size(local))
            return skiff_err_set(err, SKIFF_EINTERNAL, "%s '%s' vanished from the plan", kind,
                                 name);
        snprintf(path, sizeof path, "/api/v1/%s/%s", k->plural, name);
        if (cli_api("PUT", path, o, NULL, &meta, err))
            return skiff_err_prefix(err, "%s/%s", kind, name);
        printf("%s/%s %s\n", kind, name,
               meta.apply_result[0] ? meta.apply_result
                                    : strcmp(action, "add") == 0 ? "created" : "configured");
    }
    return 0;
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
            apply_changes(skiff_feat_registry_objects(reg), changes, &err))
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

int cmd_features(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("features", "missing subcommand (plan, apply, historical)");
    if (strcmp(argv[1], "historical") == 0)
        return historical(argc - 1, argv + 1);
    if (strcmp(argv[1], "plan") == 0 || strcmp(argv[1], "apply") == 0)
        return plan(argc - 1, argv + 1, strcmp(argv[1], "apply") == 0);
    return cli_usage_error("features", "unknown subcommand '%s' (plan, apply, historical)",
                           argv[1]);
}
