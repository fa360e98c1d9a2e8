/* skiff evaluate: placeholder while the command is being written (replaced). */
#include "cli.h"

#include <stdio.h>

const char cmd_evaluate_usage[] = "Usage: skiff evaluate\n";

int cmd_evaluate(int argc, char **argv)
{
    if (cli_wants_help(argc, argv))
        return cli_print_usage("evaluate");
    fprintf(stderr, "skiff evaluate: not built yet\n");
    return CLI_FAILED;
}
