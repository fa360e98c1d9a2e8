/* skiff delete: delete resources by kind and name. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "skiff/resource.h"

const char cmd_delete_usage[] =
    "Usage: skiff delete KIND NAME [NAME...]\n\n"
    "Delete resources. A name that does not exist is an error (exit 1) unless\n"
    "--ignore-not-found is given.\n\n"
    "Options:\n"
    "  --ignore-not-found  succeed when a resource is already gone\n\n"
    "Examples:\n"
    "  skiff delete isvc fraud-detector\n"
    "  skiff delete workflows run-a run-b\n";

int cmd_delete(int argc, char **argv)
{
    const char *names[256];
    const char *kname = NULL;
    const struct skiff_kind *k;
    size_t n = 0;
    bool ignore = false;
    int rc = CLI_OK;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--ignore-not-found") == 0)
            ignore = true;
        else if (argv[i][0] == '-')
            return cli_usage_error("delete", "unknown option '%s'", argv[i]);
        else if (!kname)
            kname = argv[i];
        else if (n < sizeof names / sizeof *names)
            names[n++] = argv[i];
        else
            return cli_usage_error("delete", "too many names");
    }
    if (!kname || n == 0)
        return cli_usage_error("delete", "give a kind and at least one name");
    if (!(k = cli_kind_arg("delete", kname)))
        return CLI_USAGE;
    for (size_t i = 0; i < n; i++) {
        struct skiff_err err = SKIFF_ERR_INIT;
        char path[1024];
        snprintf(path, sizeof path, "/api/v1/%s/%s", k->plural, names[i]);
        if (cli_api("DELETE", path, NULL, NULL, NULL, &err)) {
            if (!(ignore && err.code == SKIFF_ENOTFOUND))
                rc = cli_fail(&err);
            continue;
        }
        printf("%s \"%s\" deleted\n", skiff_kind_qualified(k), names[i]);
    }
    return rc;
}
