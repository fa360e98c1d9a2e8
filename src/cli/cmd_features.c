/* skiff features: the feature store from the command line. Offline
 * commands read the definitions and data files themselves; no platform is
 * needed. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/features.h"

const char cmd_features_usage[] =
    "Usage: skiff features historical -f DEFS.yaml|DIR --service NAME --entities FILE.csv\n"
    "                                 [-o OUT.csv] [--full-feature-names] [--on-bad-row skip]\n"
    "                                 [--threads N]\n\n"
    "Build training data: for each row of the entity file (its join-key columns and\n"
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
    "Exit codes: 0 done, 1 failed, 2 bad usage or bad input.\n\n"
    "Examples:\n"
    "  skiff features historical -f features/ --service fraud_detection_v3 \\\n"
    "      --entities labels.csv -o training.csv\n"
    "  skiff features historical -f repo.yaml --service fraud_detection_v3 \\\n"
    "      --entities labels.csv --full-feature-names | head\n";

static int historical(int argc, char **argv)
{
    const char *defs = NULL, *service = NULL, *entities = NULL, *output = NULL;
    struct skiff_feat_historical_opts o = {false, false, 0};
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

int cmd_features(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("features", "missing subcommand (historical)");
    if (strcmp(argv[1], "historical") == 0)
        return historical(argc - 1, argv + 1);
    return cli_usage_error("features", "unknown subcommand '%s' (historical)", argv[1]);
}
