/* Private declarations shared inside src/workflow/. */
#ifndef SKIFF_WORKFLOW_INT_H
#define SKIFF_WORKFLOW_INT_H

#include "skiff/workflow.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

#define WORKFLOW__PTR_MAX 512

/* A loaded workflow (include/skiff/workflow.h). Immutable after
 * skiff_workflow_load; the executor keeps its run state elsewhere. */
struct skiff_workflow {
    json_t *obj;         /* the Workflow object, name and uid filled; owned */
    const json_t *spec;  /* borrowed from obj */
    json_t *params;      /* [{name, value}] after overrides, values strings; owned */
    char *name, *uid;    /* owned */
};

/* The template called `name`, or NULL. Borrowed from wf->obj. */
const json_t *workflow__template(const struct skiff_workflow *wf, const char *name);
/* "container", "script", "dag", "steps", ... or NULL. */
const char *workflow__template_type(const json_t *tmpl);
/* n characters of alphabet, from /dev/urandom, into out[n + 1]. */
void workflow__random_chars(char *out, size_t n, const char *alphabet);
/* FNV-1a, 32 bits: Argo's node-ID hash (spec §10.2). */
uint32_t workflow__fnv32a(const char *s);
/* A JSON scalar as text: strings as they are, numbers and booleans as
 * JSON writes them. NULL for objects, arrays and null. Caller frees. */
char *workflow__scalar(const json_t *v);
/* "/a/b" + key, escaping ~ and / (RFC 6901) into buf[WORKFLOW__PTR_MAX]. */
const char *workflow__ptr(char *buf, const char *base, const char *key);
const char *workflow__ptr_idx(char *buf, const char *base, size_t i);

/* ---- step processes and cgroups (src/workflow/proc.c) ---- */

struct workflow__limits {
    int64_t memory;        /* bytes, 0 = none */
    const char *memory_text; /* "512Mi" as written, for messages */
    double cpu;            /* cores, 0 = none */
};

struct workflow__proc {
    pid_t pid;
    char cg_mem[512];      /* cgroup folders, "" when none */
    char cg_cpu[512];
    bool cg_v2;
    bool private_tmp;      /* the child got its own /tmp (mount namespace) */
    bool rlimit_only;      /* memory limited by RLIMIT_AS, no cgroup */
    int status_fd;         /* reads the child's setup report; -1 when done */
    char setup_msg[256];   /* what the child reported before exec */
    bool exec_failed;
    bool cg_join_failed;   /* the child could not enter its memory cgroup */
};

struct workflow__spawn {
    char *const *argv;     /* argv[0] looked up in PATH */
    char *const *envp;
    const char *workdir;   /* becomes the cwd */
    const char *tmpdir;    /* bound on /tmp, or TMPDIR when that is impossible */
    const char *stdout_path, *stderr_path;
    const char *script_name; /* when set, an argv entry equal to it is replaced by
                              * the script's path inside the private /tmp */
    const char *cg_name;   /* unique cgroup name for this step, ending in
                            * "-<pid of the engine>" (see workflow__cg_sweep) */
    pid_t parent;          /* the engine's pid: the child dies with it */
    struct workflow__limits limits;
};

/* Starts the child (its own process group, cgroups, mount namespace).
 * `envp` must hold a "TMPDIR=" entry (the child rewrites it to /tmp when
 * it gets a private /tmp). Returns 0 or an error (fork failed). */
int workflow__spawn(const struct workflow__spawn *s, struct workflow__proc *p,
                    struct skiff_err *err);

struct workflow__exit {
    bool oom;              /* killed by the OOM killer of its cgroup */
    int exit_code;         /* -1 when killed by a signal */
    int signal;            /* 0 when it exited */
    int64_t peak_memory;   /* bytes, 0 when unknown */
    double cpu_seconds;    /* user + system */
};

/* Removes step cgroups left by engines that died (kill -9). */
void workflow__cg_sweep(void);

/* After waitpid: collects OOM events, peak memory, the setup report; then
 * kills whatever is left in its cgroups and removes them. */
void workflow__proc_finish(struct workflow__proc *p, int wstatus, const struct rusage *ru,
                           struct workflow__exit *out);

/* Whether a step can get a private /tmp here (a mount namespace): probed
 * once per process with a short-lived child, so that input artifacts can
 * be placed where the step will see them before it starts. Thread-safe. */
bool workflow__private_tmp_works(void);

/* The running skiff binary (readlink /proc/self/exe, read once, at the
 * first call: skiff_workflow_run_many makes it), or NULL when unknown.
 * A step whose command[0] is exactly "skiff" runs this file. Borrowed,
 * valid for the life of the process. Thread-safe. */
const char *workflow__self_exe(void);

/* ---- artifact archives (src/workflow/artifact.c) ---- */

/* Packs the file or folder `src` into the tar+gzip file `dst` (created,
 * 0600), entries named after src's last component. Regular files and
 * folders only. SKIFF_EIO, SKIFF_EINVAL (names too long for ustar),
 * SKIFF_ETOOBIG (a file of 8 GiB or more); dst is removed on failure. */
int workflow__tgz_pack(const char *src, const char *dst, struct skiff_err *err);
/* Unpacks a tar+gzip (any gzip: ours, GNU tar's, a pax archive such as
 * Argo writes) at `dst`: a single file becomes the file dst, a folder's tree
 * goes under the folder dst. SKIFF_EINVAL for a refused archive (names with
 * "..", truncated or corrupt gzip), SKIFF_ETOOBIG past
 * SKIFF_ARTIFACT_MAX_UNPACKED (default 32Gi), SKIFF_EIO when a file cannot
 * be written. */
int workflow__tgz_unpack(const char *src, const char *dst, struct skiff_err *err);
/* Copies the file src to dst, making dst's parent folders. */
int workflow__copy_file(const char *src, const char *dst, struct skiff_err *err);

/* ---- WorkflowTemplates (src/workflow/tmplref.c) ---- */

/* A copy of the Workflow `obj` (*out, caller json_decref's) with its
 * workflowTemplateRef merged in and every templateRef replaced by a copied
 * template "<WorkflowTemplate>/<template>", from wts[n] (WorkflowTemplate
 * objects, borrowed). On SKIFF_ENOTFOUND / SKIFF_EINVAL, where[wlen] is the
 * JSON pointer of the failing reference. */
int workflow__expand_refs(const json_t *obj, const json_t *const *wts, size_t n, json_t **out,
                          char *where, size_t wlen, struct skiff_err *err);

/* ---- the resource ledger (src/workflow/sched.c) ---- */

#define WORKFLOW__GPU_KEY "nvidia.com/gpu"
#define WORKFLOW__GPU_MAX 16        /* GPUs one pool holds and one step may ask for */
#define WORKFLOW__GPU_ID_MAX 64     /* GPU ids are 0..63 */

/* What a step asks the ledger for. */
struct workflow__request {
    double cpu;                  /* cores: requests.cpu, else limits.cpu, else 0 */
    int64_t memory;              /* bytes: likewise */
    int gpus;                    /* whole nvidia.com/gpu devices */
    const json_t *node_selector; /* {label: value}, borrowed; NULL = any pool */
    const json_t *tolerations;   /* [{key, operator, value, effect}], borrowed */
};

/* What a step holds; pool < 0 when nothing. The caller owns the struct. */
struct workflow__grant {
    int pool;
    char pool_name[64];
    double cpu;
    int64_t memory;
    int gpus[WORKFLOW__GPU_MAX];
    int ngpus;
};

/* Fills cpu, memory and gpus of *r from a container's `resources`
 * (node_selector and tolerations are left alone). SKIFF_EINVAL for a bad
 * quantity or a fractional GPU count. */
int workflow__request_parse(const json_t *resources, struct workflow__request *r,
                            struct skiff_err *err);
/* 0 when some pool matching r could hold it when empty; SKIFF_EINVAL
 * saying why not (also for a bad SKIFF_GPUS / SKIFF_POOLS). Thread-safe. */
int workflow__sched_check(const struct workflow__request *r, struct skiff_err *err);
/* Takes r from the first matching pool where it fits now: true with *g
 * filled (GPUs marked held by `holder`, "<workflow>/<step>"); false with
 * why[len] saying what it waits for ("waiting for nvidia.com/gpu: 0 of 1
 * free, held by wf-a/train"). Thread-safe. */
bool workflow__sched_acquire(const struct workflow__request *r, const char *holder,
                             struct workflow__grant *g, char *why, size_t len);
/* Gives back what *g holds and clears it; a cleared grant is a no-op. */
void workflow__sched_release(struct workflow__grant *g);
/* Whether the inventory has any GPU (steps without one then get an empty
 * CUDA_VISIBLE_DEVICES). */
bool workflow__sched_has_gpus(void);
/* Forgets the inventory so that the next call re-reads SKIFF_GPUS and
 * SKIFF_POOLS (tests). Only while no grant is held. */
void workflow__sched_reset(void);
/* 536870912 -> "512Mi", into buf[len]. */
void workflow__format_bytes(int64_t b, char *buf, size_t len);

/* ---- resource templates (src/workflow/job.c) ---- */

/* The value at a gjson dot path ("status.replicaStatuses.Worker.succeeded",
 * array items by index), or NULL. Borrowed from obj. */
const json_t *workflow__json_path(const json_t *obj, const char *path);
/* Syntax of a successCondition / failureCondition (spec §11.3). */
int workflow__cond_check(const char *cond, struct skiff_err *err);
/* Evaluates cond on obj: with `any`, true when any requirement matches
 * (failureCondition; the matching one is copied to which[len]); else true
 * when all match (successCondition). SKIFF_EINVAL on a syntax error. */
int workflow__cond_eval(const char *cond, const json_t *obj, bool any, bool *out, char *which,
                        size_t len, struct skiff_err *err);

/* One of get, create, apply, delete, replace, patch (spec §11.2). */
bool workflow__resource_action_known(const char *action);
/* The target of a JSON patch from `flags`: [KIND, NAME] or [KIND/NAME]
 * into kind[klen], name[nlen]. 0, or -1 when flags hold neither form. */
int workflow__resource_target_flags(const json_t *flags, char *kind, size_t klen, char *name,
                                    size_t nlen);

/* ---- patches (src/workflow/patch.c) ---- */

/* RFC 7386 JSON merge patch of target (may be NULL) by patch: a new
 * object (caller json_decref's), NULL when out of memory. */
json_t *workflow__merge_patch(const json_t *target, const json_t *patch);
/* Checks an RFC 6902 JSON patch (a list of {op, path, value | from}):
 * SKIFF_EINVAL saying what is wrong, *bad the index of the operation. */
int workflow__json_patch_check(const json_t *ops, size_t *bad, struct skiff_err *err);
/* Applies the RFC 6902 patch ops to a copy of doc: *out (caller
 * json_decref's) only when every operation succeeded; SKIFF_EINVAL naming
 * the operation that failed. */
int workflow__json_patch(const json_t *doc, const json_t *ops, json_t **out,
                         struct skiff_err *err);

/* One replica of a PyTorchJob, a host process. */
struct workflow__replica {
    char type[16];              /* "Master" or "Worker" */
    int index, rank;
    const json_t *container;    /* template.spec.containers[0], borrowed from job->obj */
    struct workflow__proc proc;
    bool spawned, exited, ok;
    bool killed;                /* by the engine (the job failed, a deadline) */
    char *dir;                  /* its folder (owned by exec.c) */
    char msg[512];              /* why it failed */
    int64_t peak_memory;
    double cpu_seconds;
};

struct workflow__job {
    json_t *obj;                /* the PyTorchJob, status kept current; owned */
    struct workflow__replica *reps; /* rank order; owned */
    size_t n;
    int port;                   /* MASTER_PORT */
};

/* apiVersion kubeflow.org/v1, kind PyTorchJob. */
bool workflow__job_kind(const json_t *obj);
/* Plans the replicas of a PyTorchJob. Takes obj on success (*out owns it;
 * free with workflow__job_free, which does not touch processes). */
int workflow__job_parse(json_t *obj, struct workflow__job **out, struct skiff_err *err);
/* Rewrites status.replicaStatuses from reps[]. */
void workflow__job_update(struct workflow__job *j);
/* Whether any replica is spawned and not reaped. */
bool workflow__job_active(const struct workflow__job *j);
/* The training operator's verdict without conditions: 1 succeeded (the
 * Master, or every Worker without one), -1 failed (any replica), 0 not yet. */
int workflow__job_default_result(const struct workflow__job *j);
void workflow__job_free(struct workflow__job *j);

#endif
