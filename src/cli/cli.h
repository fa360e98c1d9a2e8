/* The command table and what every command shares.
 *
 * Adding a command (docs/architecture.md): write src/cli/cmd_<name>.c with
 * `int cmd_<name>(int argc, char **argv)` and its usage text, declare both
 * here, add one row to the table in main.c.
 *
 * Exit codes: 0 success, 1 the operation failed, 2 bad usage or bad input.
 */
#ifndef SKIFF_CLI_H
#define SKIFF_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct skiff_kind;

#include "skiff/err.h"

enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);   /* argv[0] is the command name */
    const char *summary;                 /* one line for `skiff help` */
    const char *usage;                   /* full text for `skiff help NAME` */
};

const struct cli_command *cli_find(const char *name);
const struct cli_command *cli_commands(int *n);

/* Prints "skiff: <formatted error>" to stderr and returns the exit code that
 * goes with it (2 for bad input, 1 otherwise). */
int cli_fail(const struct skiff_err *err);
/* Prints "skiff NAME: <msg>" and a pointer to --help; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* True when argv holds -h or --help: the command prints its usage. */
bool cli_wants_help(int argc, char **argv);
int cli_print_usage(const char *cmd);

/* Where the platform is and how to reach it: SKIFF_URL (default from
 * SKIFF_LISTEN or http://127.0.0.1:8080) and the token from SKIFF_TOKEN_FILE
 * or SKIFF_HOME/admin.token. Caller frees both. */
int cli_platform(char **url, char **token, struct skiff_err *err);
const char *cli_home(void);   /* SKIFF_HOME or ./.skiff; borrowed */

struct cli_api_meta {
    long status;
    char apply_result[16];   /* "created" | "configured" | "unchanged" | "" */
};

/* One call to the platform's API: `path` such as "/api/v1/workflows".
 * `body` (may be NULL) is sent as JSON; the JSON reply goes to *out (caller
 * decrefs; may be NULL). An HTTP error status becomes a skiff error with the
 * server's message (400 -> EINVAL, 404 -> ENOTFOUND, 409 -> ECONFLICT ...). */
int cli_api(const char *method, const char *path, const json_t *body, json_t **out,
            struct cli_api_meta *meta, struct skiff_err *err);

/* The same call with any body and the reply as it comes (an HTML report,
 * an artifact): `res` gets status, headers and body (caller releases
 * res->body and res->headers with skiff_buf_release when 0 is returned; on
 * an error nothing is left to release). A status >= 400 is an error made
 * from the platform's JSON message, as cli_api makes it. */
struct skiff_http_result;
int cli_api_raw(const char *method, const char *path, const char *content_type,
                const void *body, size_t len, struct skiff_http_result *res,
                struct skiff_err *err);

/* HTTP worker threads for a server whose handlers compute and never wait
 * (skiff serve, skiff features serve): one per online CPU, since more only
 * queue behind each other and stretch the tail latency. */
unsigned cli_cpu_threads(void);

/* Output (src/cli/output.c). */
void cli_print_table(const json_t *items);
/* format "yaml" or "json". */
int cli_print_object(const json_t *obj, const char *format, struct skiff_err *err);
void cli_describe(const json_t *obj);

/* Parses "KIND [NAME] [-o FORMAT]" (format NULL: no -o accepted). Returns
 * CLI_OK or CLI_USAGE after printing the problem. */
int cli_parse_kind_name(const char *cmd, int argc, char **argv, const char **kind,
                        const char **name, const char **format);

/* The kind named on the command line (kind, plural or short name, any
 * case); prints the error and returns NULL when unknown. */
const struct skiff_kind *cli_kind_arg(const char *cmd, const char *name);

#define CLI_COMMANDS(X)                                                              \
    X(up, "run the platform: API, tracking, features, serving, controllers")        \
    X(apply, "create or update resources from YAML files")                           \
    X(get, "list resources or show one")                                             \
    X(describe, "show one resource in detail")                                       \
    X(delete, "delete a resource")                                                   \
    X(run, "run a workflow to completion here, without a platform")                  \
    X(submit, "create a workflow on the platform, optionally watch it")             \
    X(logs, "print a workflow's step logs")                                          \
    X(artifacts, "list a workflow's output artifacts, download one")                \
    X(stop, "stop a running workflow")                                               \
    X(retry, "run a failed workflow again from its failed steps")                   \
    X(token, "issue a short-lived token for a service account")                      \
    X(features, "feature store: training data, materialize, online serving, skew")   \
    X(drift, "compare datasets for drift (Evidently's statistics); monitor runs")  \
    X(datagen, "generate seeded synthetic data (fraud transactions)")                \
    X(validate, "check a data file against expectations")                            \
    X(train, "train an XGBoost model and log it to tracking")                        \
    X(evaluate, "score a run's model on labelled data, log the metrics")             \
    X(register, "register a run's model as a new model version")                     \
    X(serve, "serve InferenceServices (KServe V1/V2 protocol) without a platform")   \
    X(demo, "the fraud platform end to end in a fresh home")                         \
    X(runs, "tracking runs: list them, show one")                                    \
    X(models, "model registry: list, show, register a run's model, set an alias")    \
    X(version, "print the version")                                                  \
    X(help, "show help for skiff or a command")

#define CLI__DECL(name, summary)                                                     \
    int cmd_##name(int argc, char **argv);                                           \
    extern const char cmd_##name##_usage[];
CLI_COMMANDS(CLI__DECL)
#undef CLI__DECL

#endif
