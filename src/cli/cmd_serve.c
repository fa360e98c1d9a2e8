/* skiff serve: placeholder while the command is being written (replaced). */
#include "cli.h"

#include <stdio.h>

const char cmd_serve_usage[] = "Usage: skiff serve\n";

int cmd_serve(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_print_usage("serve");
    fprintf(stderr, "skiff serve: not built yet\n");
    return CLI_FAILED;
}
