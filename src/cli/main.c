/* skiff: one binary, subcommands dispatched from one table (cli.h). */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/log.h"

static const struct cli_command commands[] = {
#define CLI__ROW(name, summary) {#name, cmd_##name, summary, cmd_##name##_usage},
    CLI_COMMANDS(CLI__ROW)
#undef CLI__ROW
};

const struct cli_command *cli_commands(int *n)
{
    *n = (int)(sizeof commands / sizeof *commands);
    return commands;
}

const struct cli_command *cli_find(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int cli_fail(const struct skiff_err *err)
{
    char msg[SKIFF_ERR_MSG_MAX + SKIFF_ERR_WHERE_MAX + 64];
    skiff_err_format(err, msg, sizeof msg);
    fprintf(stderr, "skiff: %s\n", msg);
    switch (err->code) {
    case SKIFF_EINVAL:
    case SKIFF_EPARSE:
    case SKIFF_ETOOBIG:
        return CLI_USAGE;
    default:
        return CLI_FAILED;
    }
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "skiff %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun 'skiff %s --help' for usage.\n", cmd);
    return CLI_USAGE;
}

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}

int cli_print_usage(const char *cmd)
{
    const struct cli_command *c = cli_find(cmd);
    if (!c)
        return CLI_USAGE;
    fputs(c->usage, stdout);
    return CLI_OK;
}

static void print_overview(FILE *f)
{
    int n;
    const struct cli_command *cs = cli_commands(&n);
    fprintf(f, "skiff: the ML platform in one binary\n\n"
               "Usage: skiff COMMAND [ARGS...]\n\nCommands:\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "  %-10s %s\n", cs[i].name, cs[i].summary);
    fprintf(f, "\nExamples:\n"
               "  skiff up                          start the platform in ./.skiff\n"
               "  skiff apply -f examples/          apply every YAML file in a folder\n"
               "  skiff get isvc                    list InferenceServices\n\n"
               "Run 'skiff help COMMAND' or 'skiff COMMAND --help' for a command's options.\n");
}

const char cmd_help_usage[] =
    "Usage: skiff help [COMMAND]\n\n"
    "Show the list of commands, or one command's usage.\n\n"
    "Examples:\n"
    "  skiff help\n"
    "  skiff help apply\n";

int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        print_overview(stdout);
        return CLI_OK;
    }
    if (!cli_find(argv[1])) {
        fprintf(stderr, "skiff: unknown command '%s'\n\n", argv[1]);
        print_overview(stderr);
        return CLI_USAGE;
    }
    return cli_print_usage(argv[1]);
}

const char cmd_version_usage[] =
    "Usage: skiff version\n\nPrint skiff's version.\n\nExample:\n  skiff version\n";

int cmd_version(int argc, char **argv)
{
    printf("skiff %s\n", SKIFF_VERSION);
    return CLI_OK;
}

int main(int argc, char **argv)
{
    const struct cli_command *c;

    if (skiff_log_init() != 0)
        fprintf(stderr, "skiff: ignoring unknown SKIFF_LOG level '%s' (use debug, info, warn, error)\n",
                getenv("SKIFF_LOG"));
    if (argc < 2) {
        print_overview(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_overview(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(1, argv + 1);
    c = cli_find(argv[1]);
    if (!c) {
        fprintf(stderr, "skiff: unknown command '%s'\n\n", argv[1]);
        print_overview(stderr);
        return CLI_USAGE;
    }
    if (cli_wants_help(argc - 1, argv + 1))
        return cli_print_usage(c->name);
    return c->run(argc - 1, argv + 1);
}
