/* skiff datagen: placeholder while the command is being written (replaced). */
#include "cli.h"

#include <stdio.h>

const char cmd_datagen_usage[] = "Usage: skiff datagen\n";

int cmd_datagen(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_print_usage("datagen");
    fprintf(stderr, "skiff datagen: not built yet\n");
    return CLI_FAILED;
}
