/* skiff validate: check a data file against expectations (ml.h). */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "skiff/ml.h"

const char cmd_validate_usage[] =
    "Usage: skiff validate --data FILE --expect EXPECTATIONS.yaml [--report OUT.json]\n\n"
    "Check a CSV file against expectations: the columns there are (schema), their\n"
    "types, null rates, ranges, allowed values and uniqueness, and the row count.\n"
    "Every violation is listed, naming its column, with the count of offending\n"
    "values and the first one's line. A null is an empty cell.\n\n"
    "Expectations (YAML):\n"
    "  row_count: {min: 1000, max: 20000000}\n"
    "  strict: true              # columns not listed below are violations\n"
    "  columns:\n"
    "    transaction_id: {type: string, unique: true, not_null: true}\n"
    "    amount: {type: number, min: 0, max: 100000, max_null_fraction: 0.01}\n"
    "    is_fraud: {type: integer, allowed: [0, 1]}\n"
    "    event_timestamp: {type: timestamp}\n"
    "  Types: string, number, integer, boolean, timestamp (RFC 3339 or epoch).\n\n"
    "Options:\n"
    "  --data FILE        the data, CSV with a header (or a folder of CSV files)\n"
    "  --expect FILE      the expectations\n"
    "  --report OUT.json  write the report there as JSON ('-': stdout):\n"
    "                     {success, rows, checks, data, violations: [{column, check,\n"
    "                     message, observed}]}\n\n"
    "Exit codes: 0 valid, 1 violations (listed on stderr), 2 bad usage, an\n"
    "unreadable file or bad expectations (file:line:col).\n\n"
    "Examples:\n"
    "  skiff validate --data data/transactions.csv --expect expectations.yaml\n"
    "  skiff validate --data train.csv --expect train.yaml --report /tmp/validation.json\n";

int cmd_validate(int argc, char **argv)
{
    const char *data = NULL, *expect = NULL, *out = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_ml_expect *e = NULL;
    json_t *report = NULL, *v;
    size_t i, n;
    int rc = CLI_OK;

    for (int k = 1; k < argc; k++) {
        const char **slot = strcmp(argv[k], "--data") == 0     ? &data
                            : strcmp(argv[k], "--expect") == 0 ? &expect
                            : strcmp(argv[k], "--report") == 0 ? &out
                                                               : NULL;
        if (!slot)
            return cli_usage_error("validate", "unexpected argument '%s'", argv[k]);
        if (k + 1 >= argc)
            return cli_usage_error("validate", "%s needs a value", argv[k]);
        *slot = argv[++k];
    }
    if (!data || !expect)
        return cli_usage_error("validate", "--data and --expect are required");
    if (skiff_ml_expect_load(expect, &e, &err) ||
        skiff_ml_validate(e, data, isatty(STDERR_FILENO), &report, &err)) {
        /* unreadable data or expectations are bad input: exit 2 */
        cli_fail(&err);
        rc = CLI_USAGE;
        goto out;
    }
    if (out) {
        FILE *f = strcmp(out, "-") == 0 ? stdout : fopen(out, "w");
        int bad = !f || json_dumpf(report, f, JSON_INDENT(2)) != 0 || fputc('\n', f) == EOF;
        if (f && f != stdout && fclose(f) != 0)
            bad = 1;
        if (bad) {
            skiff_err_sys(&err, SKIFF_EIO, "cannot write the report to '%s'", out);
            rc = cli_fail(&err);
            goto out;
        }
    }
    n = json_array_size(json_object_get(report, "violations"));
    if (n == 0) {
        fprintf(out && strcmp(out, "-") == 0 ? stderr : stdout,
                "%s: valid (%lld rows, %lld checks)\n", data,
                (long long)json_integer_value(json_object_get(report, "rows")),
                (long long)json_integer_value(json_object_get(report, "checks")));
        goto out;
    }
    fprintf(stderr, "%s: %zu violation%s of %s (%lld rows, %lld checks):\n", data, n,
            n == 1 ? "" : "s", expect,
            (long long)json_integer_value(json_object_get(report, "rows")),
            (long long)json_integer_value(json_object_get(report, "checks")));
    json_array_foreach(json_object_get(report, "violations"), i, v)
        fprintf(stderr, "  - %s\n", json_string_value(json_object_get(v, "message")));
    rc = CLI_FAILED;
out:
    json_decref(report);
    skiff_ml_expect_free(e);
    return rc;
}
