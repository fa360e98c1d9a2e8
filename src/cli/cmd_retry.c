/* skiff retry: runs a Failed workflow again from its failed steps
 * (POST .../retry). */
#include "cli.h"

#include <stdio.h>

const char cmd_retry_usage[] =
    "Usage: skiff retry NAME\n\n"
    "Run workflow NAME again, which ended Failed or Error: the steps that\n"
    "succeeded keep their results and outputs; the failed ones, and everything\n"
    "after them, run again.\n\n"
    "Examples:\n"
    "  skiff retry fraud-pipeline-x7k2p\n"
    "  skiff retry fraud-pipeline-x7k2p && skiff logs fraud-pipeline-x7k2p train\n";

int cmd_retry(int argc, char **argv)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char path[600];

    if (argc != 2 || argv[1][0] == '-')
        return cli_usage_error("retry", "takes one workflow name");
    snprintf(path, sizeof path, "/api/v1/workflows/%s/retry", argv[1]);
    if (cli_api("POST", path, NULL, NULL, NULL, &err))
        return cli_fail(&err);
    printf("workflow.argoproj.io/%s retrying\n", argv[1]);
    return CLI_OK;
}
