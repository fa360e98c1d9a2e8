/* skiff stop: ends a workflow on the platform (POST .../stop). */
#include "cli.h"

#include <stdio.h>

const char cmd_stop_usage[] =
    "Usage: skiff stop NAME\n\n"
    "Stop workflow NAME on the platform: its running steps are killed, nothing\n"
    "more starts, and it ends Failed with the message \"Stopped\". A workflow that\n"
    "has not started yet ends without running.\n\n"
    "Examples:\n"
    "  skiff stop fraud-pipeline-x7k2p\n"
    "  skiff stop nightly-retrain-1795770000 && skiff get workflow nightly-retrain-1795770000\n";

int cmd_stop(int argc, char **argv)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char path[600];

    if (argc != 2 || argv[1][0] == '-')
        return cli_usage_error("stop", "takes one workflow name");
    snprintf(path, sizeof path, "/api/v1/workflows/%s/stop", argv[1]);
    if (cli_api("POST", path, NULL, NULL, NULL, &err))
        return cli_fail(&err);
    printf("workflow.argoproj.io/%s stopping\n", argv[1]);
    return CLI_OK;
}
