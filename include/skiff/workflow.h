/* The workflow engine: Argo Workflows (argoproj.io/v1alpha1) run on one
 * machine, each step a host process with a private /tmp and cgroup limits.
 *
 *   struct skiff_workflow *wf;
 *   skiff_workflow_load(obj, docs, 0, params, nparams, &wf, &err);   validate: exit 2
 *   skiff_workflow_run(wf, &opts, &status, &err);                    run to the end
 *   ... status is Argo's WorkflowStatus: phase, nodes{...}, message ...
 *   skiff_workflow_free(wf);
 *
 * In `skiff up`, skiff_workflow_controller_* (at the end) runs the stored
 * Workflows and CronWorkflows with the same engine.
 *
 * Semantics follow ../shared/specs/argo-workflows.md; docs/workflows.md says
 * what this engine accepts and where it differs (private /tmp fallback,
 * cgroup fallback, expression subset).
 *
 * The pieces below the engine are public too, because the CLI, the
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
#include <stdint.h>

struct skiff_err;
struct skiff_store;
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

/* ---- cron schedules (src/workflow/cron.c) ---- */

/* The first time strictly after `after` (Unix seconds) at which the 5-field
 * cron `schedule` fires in time zone `tz` (a TZ database name such as
 * "America/New_York", read from /usr/share/zoneinfo; NULL or "" = UTC):
 * minute hour day-of-month month day-of-week with `*`, `?`, lists, ranges,
 * steps (`*\/15`, `1-30/10`), JAN-DEC / SUN-SAT names (7 = Sunday too), and
 * @yearly @monthly @weekly @daily @midnight @hourly, and @every DURATION
 * (`after` + the duration). When both day fields
 * are restricted a day matches either. A wall time skipped by a
 * spring-forward does not fire that day; one repeated by a fall-back fires
 * once (its first occurrence). SKIFF_EINVAL for a bad schedule or zone,
 * SKIFF_ENOTFOUND when it never fires (Feb 30). Pure and thread-safe. */
int skiff_workflow_cron_next(const char *schedule, const char *tz, int64_t after, int64_t *next,
                             struct skiff_err *err);
/* Checks schedule and tz as skiff_workflow_cron_next would. */
int skiff_workflow_cron_check(const char *schedule, const char *tz, struct skiff_err *err);

/* A CronWorkflow (argoproj.io/v1alpha1), ready for a scheduler. */
enum skiff_workflow_concurrency {
    SKIFF_WORKFLOW_ALLOW,      /* runs may overlap (default) */
    SKIFF_WORKFLOW_FORBID,     /* skip a run while an earlier one is active */
    SKIFF_WORKFLOW_REPLACE     /* stop the active runs, then start the new one */
};

struct skiff_workflow_cron {
    const char *name;          /* metadata.name, borrowed from obj */
    const json_t *schedules;   /* [cron, ...] (spec.schedules, or the old spec.schedule),
                                * borrowed from obj */
    const char *timezone;      /* spec.timezone, borrowed; NULL = UTC */
    enum skiff_workflow_concurrency concurrency;
    int64_t starting_deadline; /* spec.startingDeadlineSeconds; 0 = none */
    bool suspend;
    json_t *obj;               /* the CronWorkflow; owned */
};

#define SKIFF_WORKFLOW_SCHEDULED_TIME "workflows.argoproj.io/scheduled-time"

/* Validates a CronWorkflow (the resource checks, then every schedule with
 * the time zone, concurrencyPolicy Allow|Forbid|Replace,
 * startingDeadlineSeconds >= 0, and the workflowSpec as a Workflow would
 * be) with file:line:col when `docs` is given (SKIFF_EINVAL). `obj` is
 * copied; *out is freed with skiff_workflow_cron_free. */
int skiff_workflow_cron_load(const json_t *obj, const struct skiff_yaml_docs *docs,
                             size_t doc_index, struct skiff_workflow_cron **out,
                             struct skiff_err *err);
void skiff_workflow_cron_free(struct skiff_workflow_cron *c);

/* Which scheduled time to run at `now` (Unix seconds), given that every
 * scheduled time up to `last` was handled (fired or missed): the latest
 * time of any schedule in (last, now], in *fire, when it is not older than
 * startingDeadlineSeconds (without one, than 60 s: the scheduler's slack);
 * *fire = 0 when none is due or it was missed (the caller then sets last =
 * now: at most one catch-up run, as Argo). Ignores suspend and concurrency:
 * the caller applies them. Pure and thread-safe. */
int skiff_workflow_cron_due(const struct skiff_workflow_cron *c, int64_t last, int64_t now,
                            int64_t *fire, struct skiff_err *err);

/* The Workflow a firing at `fire` creates: metadata.name
 * "<cron>-<fire>", the labels and annotations of spec.workflowMetadata,
 * the label workflows.argoproj.io/cron-workflow and the annotation
 * workflows.argoproj.io/scheduled-time (RFC 3339, also
 * {{workflow.scheduledTime}}), spec = spec.workflowSpec. New reference, or
 * NULL when out of memory. */
json_t *skiff_workflow_cron_child(const struct skiff_workflow_cron *c, int64_t fire);

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
 * generateName + 5 random characters when absent; a fresh uid is made
 * unless metadata.uid holds one (a stored Workflow keeps its uid). */
int skiff_workflow_load(const json_t *obj, const struct skiff_yaml_docs *docs, size_t doc_index,
                        const struct skiff_workflow_param *params, size_t nparams,
                        struct skiff_workflow **out, struct skiff_err *err);

/* As skiff_workflow_load, resolving `spec.workflowTemplateRef` and
 * `templateRef` against templates[ntemplates] (WorkflowTemplate objects,
 * borrowed for the call, validated by the caller): the referenced spec and
 * templates are copied into the workflow (docs/workflows.md says how). A
 * reference to a template not given is SKIFF_ENOTFOUND with its position.
 * With a workflowTemplateRef, errors found after merging name fields but
 * carry no file position. */
int skiff_workflow_load_with(const json_t *obj, const struct skiff_yaml_docs *docs,
                             size_t doc_index, const json_t *const *templates, size_t ntemplates,
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
    /* The platform's store (controller mode): a `resource` template that
     * creates a skiff kind (an InferenceService, ...) applies it there.
     * NULL in `skiff run`, where such a step fails saying so. */
    struct skiff_store *store;
    /* Controller mode: when set, every container/script step gets a token
     * from step_token(ctx, step, ttl_s, &token, err), `step` being its
     * display name (for the token's workload claim), ttl_s the step's
     * deadline in seconds (activeDeadlineSeconds or timeout, the earlier)
     * or 0 for none; *token is malloc'd and the engine frees it. The engine
     * writes it with mode 0600 to <step folder>/tmp/.skiff-token (the
     * step's /tmp/.skiff-token when its /tmp is private), gives the step
     * SKIFF_TOKEN_FILE (that path) and MLFLOW_TRACKING_TOKEN (the token)
     * and removes the file when the step ends. A failure ends the step in
     * Error. Called from the running thread. NULL in `skiff run`. */
    int (*step_token)(void *ctx, const char *step, int64_t ttl_s, char **token,
                      struct skiff_err *err);
    /* Resuming after a crash: a status this workflow had in an earlier run
     * (borrowed for the run). A step (pod) whose node ID ends there
     * Succeeded, Failed or Error is not run again: it ends with that
     * phase, message, outputs and times, and the run goes on from it (a
     * retryStrategy counts those attempts). Steps that were Pending or
     * Running run again; `when` and `depends` are evaluated again, so
     * Skipped and Omitted nodes come out as before. NULL: a fresh run. */
    const json_t *resume;
    /* The local artifact repository: a blob store root (skiff_blob_open)
     * where outputs.artifacts are kept under
     * "workflows/<workflow uid>/<node id>/<name>.tgz" (or "<name>" with
     * archive none) and from where inputs.artifacts are placed.
     * NULL: "<run_dir>/artifacts". */
    const char *artifact_root;
};

/* Runs the workflow to its end in the calling process: steps are children
 * of this process (fork/exec), supervised until they exit. Returns 0 when
 * the run reached a final phase (Succeeded, Failed or Error: read
 * status.phase); an error code only when the engine itself could not work
 * (cannot create the run folder: SKIFF_EIO). *status is a new reference in
 * Argo's WorkflowStatus shape (caller json_decref's it). Several runs may
 * go on at once in threads of one process (each waits for its own
 * children by pid; the resource ledger is shared), provided nothing else
 * in the process waits for any child (wait(-1)) or ignores SIGCHLD. A
 * step is killed when the thread that started it exits (PDEATHSIG), so
 * the calling thread must live until the call returns (it does). */
int skiff_workflow_run(struct skiff_workflow *wf, const struct skiff_workflow_run_opts *opts,
                       json_t **status, struct skiff_err *err);

/* Runs n workflows side by side in the calling process, under the same
 * rules as skiff_workflow_run: opts[j] and statuses[j] belong to wfs[j];
 * each statuses[j] is a new reference (all NULL on an error return).
 *
 * Resources: every step's requests (resources.requests, else .limits:
 * cpu, memory, nvidia.com/gpu) are taken from one ledger shared by every
 * run in the process, so two workflows never hold one GPU at once; a step
 * that does not fit stays Pending with the reason as its message
 * ("waiting for nvidia.com/gpu: 0 of 1 free, held by wf-a/train", kept in
 * its node's skiff.waitedFor). The inventory: GPUs from SKIFF_GPUS ("0,1";
 * "" = none) or the /dev/nvidiaN devices, handed out whole through
 * CUDA_VISIBLE_DEVICES (empty for steps that asked for none); node pools
 * from SKIFF_POOLS (docs/workflows.md), picked by nodeSelector and
 * tolerations; default one pool holding the whole machine. */
int skiff_workflow_run_many(struct skiff_workflow *const *wfs,
                            const struct skiff_workflow_run_opts *opts, size_t n,
                            json_t **statuses, struct skiff_err *err);

/* Node pools from the platform config (key `pools`, docs/config.md): the
 * JSON list SKIFF_POOLS would hold (docs/workflows.md), used by the ledger
 * from now on instead of SKIFF_POOLS; NULL or "" = SKIFF_POOLS, else one
 * pool holding the machine. Reads the inventory at once: SKIFF_EINVAL
 * (prefixed "config key 'pools'") for a bad list, a GPU in two pools or
 * not on the machine. `json` is copied. Call before any run starts (the
 * ledger must hold nothing). Thread-safe. */
int skiff_workflow_set_pools(const char *json, struct skiff_err *err);
/* The cap on the bytes one input artifact may unpack to (config key
 * artifact_max_unpacked, env SKIFF_ARTIFACT_MAX_UNPACKED), for every run
 * in the process from now on; 0 = SKIFF_ARTIFACT_MAX_UNPACKED, else 32Gi.
 * Thread-safe. */
void skiff_workflow_set_artifact_max_unpacked(int64_t bytes);

/* ---- the controller of `skiff up` (src/workflow/controller.c) ---- */

struct skiff_auth;
struct skiff_route;
struct skiff_workflow_controller;

struct skiff_workflow_controller_opts {
    struct skiff_store *store;     /* borrowed; outlives the controller */
    const struct skiff_auth *auth; /* borrowed; issues the steps' tokens */
    const char *home;              /* step folders go under <home>/workflows/<name> */
    int64_t token_ttl_s;           /* a step token's lifetime when the step has no deadline */
    const char *artifacts;         /* the blob store root (config key `artifacts`) where
                                    * workflow artifacts are kept; NULL = <home>/artifacts */
    const char *pools;             /* config key `pools` (skiff_workflow_set_pools); NULL or
                                    * "" = SKIFF_POOLS */
};

/* Makes a controller (no thread yet), so that its routes can be
 * registered before the HTTP server starts (the caller sets the config's
 * artifact_max_unpacked with skiff_workflow_set_artifact_max_unpacked
 * first, as for skiff_workflow_run). Strings of `o` are copied.
 * Free with skiff_workflow_controller_close. SKIFF_ENOMEM. */
int skiff_workflow_controller_open(const struct skiff_workflow_controller_opts *o,
                                   struct skiff_workflow_controller **out,
                                   struct skiff_err *err);

/* Starts the controller's threads, `url` (copied) being the platform URL
 * the steps get as SKIFF_URL and MLFLOW_TRACKING_URI.
 *
 * Workflows: every 200 ms the runner lists the store's Workflows and
 * starts a thread for each whose status.phase is not final (Succeeded,
 * Failed, Error) and that is not running yet (at most 32 at once; they
 * share GPUs and pools through the process-wide ledger), writing its
 * status as nodes change (at most every 250 ms, and at the end). One with nodes in its status was interrupted (kill -9, a
 * restart, `retry`): it resumes (skiff_workflow_run_opts.resume).
 * WorkflowTemplates come from the store. Each step gets a token for
 * system:serviceaccount:<serviceAccountName or default>, scope
 * "tracking:* resources:read" (skiff_workflow_run_opts.step_token).
 *
 * CronWorkflows: every 200 ms each is checked with skiff_workflow_cron_due
 * against status.lastScheduledTime (first seen: now), and a firing creates
 * its child Workflow (skiff_workflow_cron_child) after applying suspend and
 * concurrencyPolicy. The environment variable SKIFF_CRON_TEST_NOW_OFFSET
 * (seconds, tests only) shifts the cron's clock.
 *
 * SKIFF_EIO when a thread cannot start. Call once. */
int skiff_workflow_controller_start(struct skiff_workflow_controller *c, const char *url,
                                    struct skiff_err *err);

/* Stops the threads: a running workflow's steps are killed and its stored
 * status is left as it was (Running), so that the next start resumes it.
 * Frees c. Accepts NULL. */
void skiff_workflow_controller_close(struct skiff_workflow_controller *c);

/* Stops workflow `name`: when it runs, its steps are killed and it ends
 * Failed ("Stopped: interrupted"); when it waits, it ends Failed
 * ("Stopped") without running. SKIFF_ENOTFOUND, SKIFF_EINVAL when it has
 * already ended. Thread-safe. */
int skiff_workflow_controller_stop_workflow(struct skiff_workflow_controller *c,
                                            const char *name, struct skiff_err *err);

/* Retries workflow `name`, which ended Failed or Error: its status keeps
 * only the Succeeded steps, and the runner resumes it from there (the
 * failed steps and all after them run again). SKIFF_ENOTFOUND,
 * SKIFF_EINVAL when it has not ended or it Succeeded. Thread-safe. */
int skiff_workflow_controller_retry(struct skiff_workflow_controller *c, const char *name,
                                    struct skiff_err *err);

/* The routes, registered with the controller as ctx:
 *   GET  /api/v1/workflows/{name}/log[?step=S]  (resources:read) text/plain:
 *        stdout then stderr of step S (its display name), or of every step,
 *        each line prefixed "S: ", in node order
 *   GET  /api/v1/workflows/{name}/artifacts/{node}/{artifact}  (resources:read)
 *        the stored output artifact of a node (ID or display name), streamed
 *   POST /api/v1/workflows/{name}/stop          (resources:write)
 *   POST /api/v1/workflows/{name}/retry         (resources:write)
 * The table is static. */
const struct skiff_route *skiff_workflow_routes(size_t *n);

#endif
