/* The workflow engine: Argo Workflows (argoproj.io/v1alpha1) run on one
 * machine, each step a host process with a private /tmp and cgroup limits.
 *
 *   struct skiff_workflow *wf;
 *   skiff_workflow_load(obj, docs, 0, params, nparams, &wf, &err);   validate: exit 2
 *   skiff_workflow_run(wf, &opts, &status, &err);                    run to the end
 *   ... status is Argo's WorkflowStatus: phase, nodes{...}, message ...
 *   skiff_workflow_free(wf);
 *
 * Semantics follow ../shared/specs/argo-workflows.md; docs/workflows.md says
 * what this engine accepts and where it differs (private /tmp fallback,
 * cgroup fallback, expression subset).
 *
 * The pieces below the engine are public too, because the CLI, the future
 * controller and the tests use them alone: `when` and `depends` expressions,
 * {{...}} substitution and Kubernetes quantities. None of them keeps state;
 * all are thread-safe.
 */
#ifndef SKIFF_WORKFLOW_H
#define SKIFF_WORKFLOW_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

struct skiff_err;
struct skiff_yaml_docs;

/* ---- expressions (src/workflow/expr.c) ---- */

/* Evaluates a `when` expression after substitution, with govaluate's rules
 * (spec §8): numbers compare as numbers, strings as strings (bare words are
 * strings), == != < <= > >= =~ !~ && || ! and parentheses, 'quoted' and
 * "quoted" strings, true/false. The result must be a boolean. SKIFF_EINVAL
 * with govaluate-like wording for a syntax or type error. Never crashes on
 * any input; expressions longer than 64 KiB are SKIFF_ETOOBIG. */
int skiff_workflow_when(const char *expr, bool *out, struct skiff_err *err);

/* Syntax only (types are not checked): what validation can say before the
 * {{...}} tags are known. */
int skiff_workflow_when_check(const char *expr, struct skiff_err *err);

/* The result of a task as `depends` reads it: `task` is the task name,
 * `result` is "Succeeded", "Failed", "Errored", "Skipped", "Omitted",
 * "Daemoned", "AnySucceeded" or "AllFailed", or NULL for a bare task name
 * (which means Succeeded || Skipped || Daemoned). Returns 0 with *out set, or
 * an error code with err set (unknown task, invalid result). */
typedef int (*skiff_workflow_result_cb)(void *ctx, const char *task, const char *result,
                                        bool *out, struct skiff_err *err);

/* Evaluates a `depends` expression (`A.Succeeded && (B.Failed || B.Skipped)`):
 * operands `task` or `task.Result`, operators && || ! and parentheses. */
int skiff_workflow_depends(const char *expr, skiff_workflow_result_cb cb, void *ctx, bool *out,
                           struct skiff_err *err);

/* ---- substitution (src/workflow/subst.c) ---- */

/* The value of a variable ("inputs.parameters.x"), or NULL when it has none.
 * The string is borrowed: valid until the next call with the same ctx or
 * until the substitution returns. */
typedef const char *(*skiff_workflow_lookup_cb)(void *ctx, const char *name);

/* Replaces every {{ name }} tag of `in` (whitespace inside the braces is
 * allowed) by lookup(name). A tag with no value is SKIFF_ENOTFOUND
 * ("unable to resolve {{tasks.x.outputs.parameters.y}}"); an expression tag
 * {{= ...}} or an unterminated tag is SKIFF_EINVAL. *out is malloc'd (caller
 * frees) and capped at 1 MiB (SKIFF_ETOOBIG past it). */
int skiff_workflow_subst(const char *in, skiff_workflow_lookup_cb lookup, void *ctx, char **out,
                         struct skiff_err *err);

/* Calls fn(ctx, name) for each {{ name }} tag of `in`, in order; stops at
 * the first non-zero return, which it returns. SKIFF_EINVAL (err set) for an
 * unterminated tag or an expression tag. */
int skiff_workflow_tags(const char *in, int (*fn)(void *ctx, const char *name), void *ctx,
                        struct skiff_err *err);

/* ---- quantities (src/workflow/quantity.c) ---- */

/* A Kubernetes quantity: "512Mi", "2Gi", "1G", "1e9", "500m", "2", "0.5".
 * *out is in base units (bytes, cores). SKIFF_EINVAL for anything else,
 * including negative values and values past 2^63 bytes. */
int skiff_workflow_quantity(const char *s, double *out, struct skiff_err *err);

/* ---- workflows ---- */

struct skiff_workflow;

/* A `-p name=value` override of spec.arguments.parameters. */
struct skiff_workflow_param {
    const char *name;
    const char *value;
};

/* Builds a runnable workflow from a Workflow object (json from skiff_yaml),
 * checking everything that can be checked before running: the resource
 * validation of kinds_argo.c, then parameters (each argument has a value
 * after the overrides; an override names a declared parameter; every call
 * supplies the inputs without a default), template references, cycles in
 * dags, `when` and `depends` syntax, {{...}} references (inputs that are not
 * declared, unknown tasks or steps) and resource quantities. Errors carry
 * file:line:col when `docs` is given (SKIFF_EINVAL).
 * `obj` is copied; *out is freed with skiff_workflow_free. metadata.name is
 * generateName + 5 random characters when absent; a fresh uid is made. */
int skiff_workflow_load(const json_t *obj, const struct skiff_yaml_docs *docs, size_t doc_index,
                        const struct skiff_workflow_param *params, size_t nparams,
                        struct skiff_workflow **out, struct skiff_err *err);
void skiff_workflow_free(struct skiff_workflow *wf);

/* metadata.name (after generateName) and metadata.uid. Borrowed, valid
 * until skiff_workflow_free. */
const char *skiff_workflow_name(const struct skiff_workflow *wf);
const char *skiff_workflow_uid(const struct skiff_workflow *wf);

/* The Workflow object (metadata.name and uid filled) with `status` set
 * (status may be NULL). New reference: the caller json_decref's it. */
json_t *skiff_workflow_object(const struct skiff_workflow *wf, const json_t *status);

struct skiff_workflow_run_opts {
    const char *run_dir;        /* required: a folder per step is made inside */
    const char *skiff_url;      /* given to steps as SKIFF_URL when set */
    const char *tracking_uri;   /* given to steps as MLFLOW_TRACKING_URI when set */
    /* Called after each change of any node, from the calling thread;
     * `status` is borrowed for the call. May be NULL. */
    void (*on_change)(const json_t *status, void *ctx);
    void *ctx;
    /* When *stop becomes non-zero (a signal handler may set it), running
     * steps are killed, nothing more starts (onExit included) and the run
     * ends Failed with "Stopped: interrupted". May be NULL. */
    volatile sig_atomic_t *stop;
};

/* Runs the workflow to its end in the calling process: steps are children
 * of this process (fork/exec), supervised until they exit. Returns 0 when
 * the run reached a final phase (Succeeded, Failed or Error: read
 * status.phase); an error code only when the engine itself could not work
 * (cannot create the run folder: SKIFF_EIO). *status is a new reference in
 * Argo's WorkflowStatus shape (caller json_decref's it). Not thread-safe
 * with itself: it reaps its children with waitpid, so run one at a time
 * per process, and do not run it in a process that reaps children
 * elsewhere. */
int skiff_workflow_run(struct skiff_workflow *wf, const struct skiff_workflow_run_opts *opts,
                       json_t **status, struct skiff_err *err);

#endif
