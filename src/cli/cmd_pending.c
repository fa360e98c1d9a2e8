/* Temporary: commands being written in this change; replaced before commit of the CLI. */
#include "cli.h"
#include <stdio.h>
#define P(name, s) const char cmd_##name##_usage[] = "Usage: skiff " #name "\n"; \
    int cmd_##name(int argc, char **argv) { fprintf(stderr, "skiff: '%s' is not built yet\n", argv[0]); return CLI_FAILED; }
P(up, "") P(apply, "") P(get, "") P(describe, "") P(delete, "") P(token, "")
int cli_platform(char **url, char **token, struct skiff_err *err) { *url = *token = NULL; return skiff_err_set(err, SKIFF_EINTERNAL, "x"); }
const char *cli_home(void) { return ".skiff"; }
