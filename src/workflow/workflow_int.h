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

#endif
