/* skiff validate: placeholder while the command is being written (replaced). */
#include "cli.h"

#include <stdio.h>

const char cmd_validate_usage[] = "Usage: skiff validate\n";

int cmd_validate(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_print_usage("validate");
    fprintf(stderr, "skiff validate: not built yet\n");
    return CLI_FAILED;
}
