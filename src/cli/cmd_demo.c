/* skiff demo: placeholder while the command is being written (replaced). */
#include "cli.h"

#include <stdio.h>

const char cmd_demo_usage[] = "Usage: skiff demo\n";

int cmd_demo(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_print_usage("demo");
    fprintf(stderr, "skiff demo: not built yet\n");
    return CLI_FAILED;
}
