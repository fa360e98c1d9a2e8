/* skiff register: a run's model as a new version of a registered model,
 * with its lineage (the shared part is mlf_register, mlflow.h, which
 * `skiff models register` uses too). */
#include "cli.h"
#include "mlflow.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char cmd_register_usage[] =
    "Usage: skiff register --run ID --name NAME [--alias ALIAS] [--path PATH]\n"
    "                      [--tag KEY=VALUE ...] [--version-out FILE]\n\n"
    "Register the run's model (runs:/ID/model) as a new version of the registered\n"
    "model NAME, created when missing. The version records its lineage: source\n"
    "runs:/ID/PATH, run_id, and tags (skiff.source_run and every --tag). With\n"
    "--alias the alias is pointed at the new version (models:/NAME@ALIAS). Prints\n"
    "the new version number.\n\n"
    "Options:\n"
    "  --run ID            the run that logged the model\n"
    "  --name NAME         the registered model\n"
    "  --alias ALIAS       point this alias at the new version (e.g. champion)\n"
    "  --path PATH         the model's folder in the run's artifacts (default model)\n"
    "  --tag KEY=VALUE     a tag on the new version (repeatable)\n"
    "  --version-out FILE  write the version number there\n\n"
    "Examples:\n"
    "  skiff register --run $(cat /tmp/run_id) --name fraud-detector --alias champion\n"
    "  skiff register --run 3f2a9c0e4b1d4e6f8a7b6c5d4e3f2a1b --name fraud-detector \\\n"
    "      --tag auc=0.981 --tag data=2026-01\n";

int cmd_register(int argc, char **argv)
{
    const char *run = NULL, *name = NULL, *alias = NULL, *rel = "model", *vout = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct mlf c = {0};
    json_t *tags = json_object();
    char *version = NULL, *source = NULL;
    int rc = CLI_OK;

    for (int i = 1; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--run") == 0           ? &run
                            : strcmp(argv[i], "--name") == 0        ? &name
                            : strcmp(argv[i], "--alias") == 0       ? &alias
                            : strcmp(argv[i], "--path") == 0        ? &rel
                            : strcmp(argv[i], "--version-out") == 0 ? &vout
                                                                    : NULL;
        if (!slot && strcmp(argv[i], "--tag") != 0) {
            rc = cli_usage_error("register", "unexpected argument '%s'", argv[i]);
            goto out;
        }
        if (i + 1 >= argc) {
            rc = cli_usage_error("register", "%s needs a value", argv[i]);
            goto out;
        }
        if (slot) {
            *slot = argv[++i];
        } else {
            char *eq = strchr(argv[++i], '=');
            if (!eq || eq == argv[i]) {
                rc = cli_usage_error("register", "--tag: '%s' is not KEY=VALUE", argv[i]);
                goto out;
            }
            *eq = 0;
            json_object_set_new(tags, argv[i], json_string(eq + 1));
        }
    }
    if (!run || !name) {
        rc = cli_usage_error("register", "--run and --name are required");
        goto out;
    }
    for (const char *p = run; *p; p++)
        if (!isxdigit((unsigned char)*p) || p - run >= 32) {
            rc = cli_usage_error("register", "'%s' is not a run id (32 hex digits)", run);
            goto out;
        }
    while (*rel == '/')
        rel++;
    json_object_set_new(tags, "skiff.source_run", json_string(run));
    if (mlf_open(&c, &err) || mlf_register(&c, run, rel, name, alias, tags, &version, &source,
                                           &err)) {
        rc = cli_fail(&err);
        goto out;
    }
    if (vout) {
        FILE *f = fopen(vout, "w");
        bool bad = !f || fputs(version, f) == EOF;
        if (f && fclose(f) != 0)
            bad = true;
        if (bad) {
            skiff_err_sys(&err, SKIFF_EIO, "cannot write '%s'", vout);
            rc = cli_fail(&err);
            goto out;
        }
    }
    fprintf(stderr, "registered %s version %s from %s%s%s\n", name, version, source,
            alias ? ", alias " : "", alias ? alias : "");
    printf("%s\n", version);
out:
    free(version);
    free(source);
    json_decref(tags);
    mlf_close(&c);
    return rc;
}
