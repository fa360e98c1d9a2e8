/* skiff get: list the resources of a kind, or show one. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "skiff/resource.h"

const char cmd_get_usage[] =
    "Usage: skiff get KIND [NAME] [-o yaml|json]\n\n"
    "List the resources of a kind as a table, or print one (or all) as YAML or\n"
    "JSON. KIND is a kind, its plural or a short name, in any case\n"
    "(InferenceService, inferenceservices, isvc).\n\n"
    "Options:\n"
    "  -o, --output FORMAT  yaml or json (default: a table)\n\n"
    "Examples:\n"
    "  skiff get workflows\n"
    "  skiff get isvc fraud-detector -o yaml\n"
    "  skiff get scaledjob -o json\n";

/* Parses KIND [NAME] [-o F] shared by get and describe. */
int cli_parse_kind_name(const char *cmd, int argc, char **argv, const char **kind,
                        const char **name, const char **format)
{
    *kind = *name = NULL;
    if (format)
        *format = NULL;
    for (int i = 1; i < argc; i++) {
        if (format && (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0)) {
            if (i + 1 >= argc)
                return cli_usage_error(cmd, "-o needs a format: yaml or json");
            *format = argv[++i];
        } else if (format && strncmp(argv[i], "-o", 2) == 0 && argv[i][2]) {
            *format = argv[i] + 2 + (argv[i][2] == '=');
        } else if (format && strncmp(argv[i], "--output=", 9) == 0) {
            *format = argv[i] + 9;
        } else if (argv[i][0] == '-') {
            return cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        } else if (!*kind) {
            *kind = argv[i];
        } else if (!*name) {
            *name = argv[i];
        } else {
            return cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!*kind)
        return cli_usage_error(cmd, "which kind? e.g. 'skiff %s workflows'", cmd);
    if (format && *format && strcmp(*format, "yaml") != 0 && strcmp(*format, "json") != 0)
        return cli_usage_error(cmd, "unknown output format '%s' (yaml or json)", *format);
    return CLI_OK;
}

int cmd_get(int argc, char **argv)
{
    const char *kname, *name, *format;
    const struct skiff_kind *k;
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *reply = NULL;
    char path[1024];
    int rc;

    if ((rc = cli_parse_kind_name("get", argc, argv, &kname, &name, &format)))
        return rc;
    if (!(k = cli_kind_arg("get", kname)))
        return CLI_USAGE;
    if (name)
        snprintf(path, sizeof path, "/api/v1/%s/%s", k->plural, name);
    else
        snprintf(path, sizeof path, "/api/v1/%s", k->plural);
    if (cli_api("GET", path, NULL, &reply, NULL, &err))
        return cli_fail(&err);
    if (format) {
        rc = cli_print_object(reply, format, &err) ? cli_fail(&err) : CLI_OK;
    } else if (name) {
        json_t *one = json_array();
        json_array_append(one, reply);
        cli_print_table(one);
        json_decref(one);
    } else if (json_array_size(json_object_get(reply, "items")) == 0) {
        fprintf(stderr, "No %s found.\n", k->plural);
    } else {
        cli_print_table(json_object_get(reply, "items"));
    }
    json_decref(reply);
    return rc;
}
