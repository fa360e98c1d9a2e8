/* skiff token: issue a short-lived token, signed with the platform's key.
 * Only someone who can read SKIFF_HOME/signing.key can do this: the same
 * person who can run `skiff up` there. */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/auth.h"
#include "skiff/config.h"
#include "skiff/time.h"

const char cmd_token_usage[] =
    "Usage: skiff token [--sub NAME] [--scope SCOPES] [--ttl DURATION] [--out FILE]\n\n"
    "Issue a token for a service account, signed with SKIFF_HOME/signing.key.\n"
    "Scopes are space-separated: resources:read, resources:write, or\n"
    "<area>:* for every verb of an area, or admin for everything.\n\n"
    "Options:\n"
    "  --sub NAME       the service account (default system:serviceaccount:default)\n"
    "  --scope SCOPES   granted scopes (default resources:read)\n"
    "  --ttl DURATION   lifetime, e.g. 15m, 1h (default: config token_ttl, 1h)\n"
    "  --out FILE       write the token to FILE (mode 0600) instead of stdout\n"
    "  --workload W     the workflow step it is for, \"<workflow uid>/<step>\": tracking\n"
    "                   records it on the runs the token creates (lineage)\n\n"
    "Examples:\n"
    "  skiff token --scope resources:read --out /tmp/reader.token\n"
    "  SKIFF_TOKEN_FILE=/tmp/reader.token skiff get workflows\n";

int cmd_token(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"sub", required_argument, NULL, 's'},
        {"scope", required_argument, NULL, 'c'},
        {"ttl", required_argument, NULL, 't'},
        {"out", required_argument, NULL, 'o'},
        {"workload", required_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_config cfg;
    struct skiff_auth *auth = NULL;
    const char *sub = "system:serviceaccount:default", *scope = "resources:read", *out = NULL;
    const char *ttl = NULL, *workload = NULL;
    char *tok = NULL;
    int64_t ttl_s;
    int opt, rc = CLI_OK;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 's': sub = optarg; break;
        case 'c': scope = optarg; break;
        case 't': ttl = optarg; break;
        case 'o': out = optarg; break;
        case 'w': workload = optarg; break;
        default: return cli_usage_error("token", "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error("token", "unexpected argument '%s'", argv[optind]);
    if (skiff_config_load(NULL, &cfg, &err))
        return cli_fail(&err);
    ttl_s = cfg.token_ttl_s;
    if (ttl) {
        int64_t us;
        if (skiff_duration_parse(ttl, &us, &err))
            return cli_fail(&err);
        ttl_s = us / SKIFF_US_PER_SEC;
        if (ttl_s <= 0)
            return cli_usage_error("token", "--ttl must be at least one second");
    }
    if (skiff_auth_open(cfg.home, &auth, &err) || skiff_auth_issue_workload(auth, sub, scope, workload, ttl_s, &tok, &err)) {
        rc = cli_fail(&err);
        goto out;
    }
    if (out) {
        if (skiff_auth_write_token_file(out, tok, &err))
            rc = cli_fail(&err);
    } else {
        puts(tok);
    }
out:
    free(tok);
    skiff_auth_free(auth);
    return rc;
}
