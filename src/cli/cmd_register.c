/* skiff register: placeholder while the command is being written (replaced). */
#include "cli.h"

#include <stdio.h>

const char cmd_register_usage[] = "Usage: skiff register\n";

int cmd_register(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_print_usage("register");
    fprintf(stderr, "skiff register: not built yet\n");
    return CLI_FAILED;
}
