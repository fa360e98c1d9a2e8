/* skiff train: placeholder while the command is being written (replaced). */
#include "cli.h"

#include <stdio.h>

const char cmd_train_usage[] = "Usage: skiff train\n";

int cmd_train(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_print_usage("train");
    fprintf(stderr, "skiff train: not built yet\n");
    return CLI_FAILED;
}
