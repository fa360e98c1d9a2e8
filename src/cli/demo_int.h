/* skiff demo, private to its files: the state the stages share, the
 * pipeline stage (src/cli/demo_pipeline.c) and the helpers they run on
 * (src/cli/demo_proc.c).
 *
 * The demo is a table of stages (cmd_demo.c); each one reads and fills
 * `struct demo`. The stages after deploy live in demo_serve.c (online store,
 * serving, canary) and demo_drift.c (the drift monitor); each is one row and
 * one function with the stage signature.
 */
#ifndef SKIFF_CLI_DEMO_INT_H
#define SKIFF_CLI_DEMO_INT_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "skiff/err.h"

#define DEMO_PATH_MAX 1024

struct demo {
    /* options */
    unsigned users, days;
    int drift_from;               /* first drifted day; the pipeline trains before it */
    bool keep_running;
    char auc_threshold[32];

    /* where things are */
    char self[PATH_MAX];          /* this binary (/proc/self/exe) */
    char examples[DEMO_PATH_MAX]; /* examples/fraud we copy from */
    char home[DEMO_PATH_MAX];     /* SKIFF_HOME of the demo's platform */
    char repo[DEMO_PATH_MAX];     /* HOME/fraud: the copied example */
    char data[DEMO_PATH_MAX];     /* HOME/fraud/data: datagen's output */
    char logs[DEMO_PATH_MAX];     /* HOME/logs: one log per command run */
    bool tty;                     /* stdout is a terminal: redraw lines */

    /* the platform */
    pid_t up_pid;
    char url[256];

    /* the data's time line: it ends when the demo starts (to the minute),
     * because serving reads the online store as of the wall clock */
    int64_t start_us, end_us;

    /* what the stages found */
    uint64_t transactions, label_rows[2];   /* labels-train.csv, labels-holdout.csv */
    char workflow[256];
    char auc[64];                 /* the evaluate step's output ("" when none) */
    bool registered;              /* the register step ran and succeeded */
    char model_version[32], run_id[64];
    bool deployed;                /* inferenceservice.yaml was applied */
    char serving_url[256];        /* its status.url once it serves */
    char report[DEMO_PATH_MAX];   /* the drift report, once a stage writes one */

    /* online and serve (demo_serve.c) */
    unsigned online_users;        /* users with all their features PRESENT */
    unsigned *payers;             /* users who paid last, most recent first; owned */
    size_t npayers;
    char curl_user[16];           /* the summary's curl scores this user */
    char token_file[DEMO_PATH_MAX];   /* HOME/serving.token (serving:infer) */
    char stable_rev[64];          /* the revision that answered before the canary */
    bool served;                  /* the serve stage scored users */

    /* canary (demo_serve.c) */
    bool canary_ran, promoted;
    char canary_version[32], canary_auc[64], canary_rev[64], champion_auc[64];
    unsigned canary_sent, canary_errors, canary_hits[2];   /* [0] stable, [1] canary */
    double canary_mean[2];        /* mean score per revision */
    char canary_why[256];

    /* drift (demo_drift.c) */
    bool drift_ran, dataset_drift;
    double drift_share;
    long long drift_run, drift_ncols, drift_ndrift, drift_rows;
    char drift_top[256];          /* the most drifted columns and their scores */
};

/* What a stage returns besides an error code: it did its work, or there was
 * nothing to do (the next stages still run). */
enum { DEMO_DONE = 0, DEMO_SKIPPED = -1 };

/* The pipeline stage (demo_pipeline.c): submits pipeline.yaml, shows its
 * tasks as they change, fills workflow, auc, registered, model_version and
 * run_id. 0, or an error code (the workflow failed, was stopped, or the
 * platform did not answer). */
int demo__pipeline(struct demo *d, struct skiff_err *err);

/* The stages after deploy: materialize the online store (demo_serve.c),
 * score users through V2 with enrichment, a canary of a second version,
 * and the drift monitor's run over the served traffic (demo_drift.c). Each
 * returns 0, DEMO_SKIPPED or an error code with err set. */
int demo__online(struct demo *d, struct skiff_err *err);
int demo__serve(struct demo *d, struct skiff_err *err);
int demo__canary(struct demo *d, struct skiff_err *err);
int demo__drift(struct demo *d, struct skiff_err *err);

/* Scores users (ids "u000042") through POST /v2/models/fraud-detector/infer
 * with the serving token (d->token_file), one request: the platform reads
 * their features from the online store. Fills scores[n] and the revision
 * that answered (model_version). 0, or an error code (HTTP status and the
 * server's message). */
int demo__infer(const struct demo *d, char *const users[], size_t n, double *scores, char *rev,
                size_t revn, struct skiff_err *err);

/* Runs `skiff argv...` (demo__run_self) with the log HOME/logs/<logname>;
 * 0, or an error code naming the command, its exit status and its log. */
int demo__command(const struct demo *d, const char *logname, const char *out,
                  char *const argv[], struct skiff_err *err);

/* A result line under a stage ("      ✔ text  (1.2s)"): the time it took is
 * shown when `us` >= 0. On a terminal it first clears the redrawn line. */
void demo__result(const struct demo *d, const char *icon, int64_t us, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* On a terminal, redraws the stage's progress line ("    ● text") until
 * the next result line replaces it; in a pipe, nothing (result lines say
 * what happened). */
void demo__progress(const struct demo *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* o[key] as a string, "" when absent; borrowed from o. */
const char *demo__str(const json_t *o, const char *key);
/* out = a/b. Paths under the home always fit (its length is capped); one
 * that would not (a long SKIFF_EXAMPLES) becomes "", which matches no file. */
void demo__path_join(char *out, size_t n, const char *a, const char *b);

/* Set by SIGINT/SIGTERM (demo__signals); loops and waits check it. */
extern volatile sig_atomic_t demo__stop;
void demo__signals(void);

/* Runs this binary with argv (argv[0] is the command name, e.g. "datagen";
 * NULL-terminated) in the demo's environment, its stdout and stderr
 * appended to `log`; stdout goes to `out` instead when not NULL. Waits for
 * it; on a stop it is sent SIGTERM first. Returns its exit status (0..255),
 * or -1 with err set when it could not run, was stopped or was killed. */
int demo__run_self(const struct demo *d, const char *log, const char *out, char *const argv[],
                   struct skiff_err *err);

/* Starts `skiff up --listen 127.0.0.1:0` in its own process group, cwd
 * d->repo, log HOME/up.log, and waits (up to 30 s) until it serves
 * /healthz; fills d->up_pid and d->url. Unless d->keep_running the
 * platform dies with the demo (PR_SET_PDEATHSIG). */
int demo__platform_start(struct demo *d, struct skiff_err *err);
/* SIGTERM, then waits up to 20 s (then SIGKILL). Returns its exit status,
 * or -1. No-op (0) when none runs. */
int demo__platform_stop(struct demo *d);

/* Copies the regular files of folder `from` into `to` (created; one level,
 * no subfolders). */
int demo__copy_folder(const char *from, const char *to, struct skiff_err *err);

/* Splits labels CSV `in` (in time order, as datagen writes it) by day,
 * counted from `day0_us` (datagen's --start): rows of the first
 * `train_days` days go to `train`, those of the next `holdout_days` days to
 * `holdout` (both with the header), later rows nowhere. The pipeline learns
 * from the first and measures its AUC on the second. */
int demo__labels_split(const char *in, const char *train, const char *holdout, int64_t day0_us,
                       int train_days, int holdout_days, uint64_t rows[2], struct skiff_err *err);

/* The users (datagen's index, u000042 -> 42, below d->users) whose last
 * payment in transactions.csv is within `window_us` of d->end_us, the most
 * recent first; at least `min` of them (the latest payers, whenever they
 * paid) when the window holds fewer. *out is the caller's to free. */
int demo__recent_payers(const struct demo *d, int64_t window_us, size_t min, unsigned **out,
                        size_t *n, struct skiff_err *err);

/* Data lines (not counting the header) of a text file, or 0. */
uint64_t demo__count_rows(const char *path);

/* Reads a whole small file (<= 1 MiB), trailing whitespace removed, into a
 * string the caller frees; NULL when it cannot. */
char *demo__read_small(const char *path);

#endif
