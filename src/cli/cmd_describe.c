/* skiff describe: one resource in detail. */
#include "cli.h"

#include <stdio.h>

#include "skiff/resource.h"

const char cmd_describe_usage[] =
    "Usage: skiff describe KIND NAME\n\n"
    "Show one resource: identity (uid, resourceVersion, generation, age),\n"
    "labels, annotations, spec and the status its controller wrote.\n\n"
    "Examples:\n"
    "  skiff describe isvc fraud-detector\n"
    "  skiff describe workflow fraud-pipeline-x7k2p\n";

int cmd_describe(int argc, char **argv)
{
    const char *kname, *name;
    const struct skiff_kind *k;
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *reply = NULL;
    char path[1024];
    int rc;

    if ((rc = cli_parse_kind_name("describe", argc, argv, &kname, &name, NULL)))
        return rc;
    if (!name)
        return cli_usage_error("describe", "which %s? give its name", kname);
    if (!(k = cli_kind_arg("describe", kname)))
        return CLI_USAGE;
    snprintf(path, sizeof path, "/api/v1/%s/%s", k->plural, name);
    if (cli_api("GET", path, NULL, &reply, NULL, &err))
        return cli_fail(&err);
    cli_describe(reply);
    json_decref(reply);
    return CLI_OK;
}
