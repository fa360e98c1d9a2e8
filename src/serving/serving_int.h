/* Private declarations of the serving module's server side: the V2/V1
 * protocol, services and revisions, the router, capacity, the payload log
 * and the InferenceService controller. Model runtimes are in model_int.h. */
#ifndef SKIFF_SERVING_INT_H
#define SKIFF_SERVING_INT_H

#include "skiff/serving.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct skiff_arena;
struct skiff_buf;
struct skiff_err;
struct skiff_metric;

/* ---- V2 protocol (v2_parse.c, v2_write.c) ---- */

enum serving__dtype {
    DT_BOOL, DT_INT8, DT_INT16, DT_INT32, DT_INT64, DT_UINT8, DT_UINT16, DT_UINT32, DT_UINT64,
    DT_FP16, DT_FP32, DT_FP64, DT_BF16, DT_BYTES, DT_COUNT
};

#define SERVING__MAX_DIMS 8
#define SERVING__MAX_INPUTS 256
#define SERVING__MAX_OUTPUTS 8

/* One input tensor of a request. Everything points into the request arena. */
struct serving__tensor {
    const char *name;
    enum serving__dtype dtype;
    bool has_dtype, has_shape, has_data;
    int ndim;
    int64_t shape[SERVING__MAX_DIMS];
    size_t n;                  /* elements in data, row-major, nesting flattened */
    double *data;              /* numeric value of each element (BOOL: 0/1) */
    const char **strs;         /* BYTES: each element's string, else NULL */
};

struct serving__infer_req {
    const char *id;                   /* NULL when the request has none */
    const char *params;               /* raw JSON text of "parameters", or NULL */
    size_t params_len;
    struct serving__tensor *inputs;
    size_t ninputs;
    const char *outputs[SERVING__MAX_OUTPUTS]; /* requested output names */
    size_t noutputs;
    bool out_fp32;                    /* an output asked for datatype FP32 */
};

/* Parses a V2 inference request body (NUL-terminated, len bytes). Memory
 * comes from `a` (the request arena). Checks the JSON, the datatypes of
 * the elements against each input's datatype and that data has as many
 * elements as the shape says. SKIFF_EINVAL / SKIFF_EPARSE with a message
 * naming the input and element. Thread-safe. */
int serving__v2_parse(const char *body, size_t len, struct skiff_arena *a,
                      struct serving__infer_req *out, struct skiff_err *err);

const char *serving__dtype_name(enum serving__dtype t);
/* DT_COUNT when unknown. */
enum serving__dtype serving__dtype_parse(const char *s, size_t n);

/* Turns the inputs into a row-major float matrix of nfeat columns:
 * one [n, nfeat] (or [nfeat]) input, or nfeat inputs of [n] / [n, 1] (one
 * column each, matched by feature name when names are given). `names` may
 * be NULL. *x comes from `a`. SKIFF_EINVAL naming the input. */
int serving__v2_matrix(const struct serving__infer_req *r, size_t nfeat,
                       const char *const *names, struct skiff_arena *a, float **x,
                       size_t *nrows, struct skiff_err *err);

/* Appends a double as JSON (shortest form that reads back exactly for
 * FP64, 9 significant digits for FP32; NaN and inf as null). */
int serving__json_double(struct skiff_buf *b, double v, bool fp32);

/* ---- services and revisions (revision.c, router.c) ----
 *
 * A service is one InferenceService; a revision one immutable predictor
 * spec with its loaded model. The router (requests) and the controller
 * (everything else) share them:
 *
 *   revision: LOADING --rev_load+warm-up ok--> READY --drained/idle--> COLD
 *                |                               ^                      |
 *                +--load fails--> FAILED         +-----rev_ensure-------+
 *
 * Invariants:
 *   - a revision is in a service's traffic table only while READY or COLD
 *     (COLD reloads on the next request: scale from zero);
 *   - refs counts every user of a revision (a request between routing and
 *     its reply, a payload log record); its model is unloaded only when
 *     refs is 0 (serving__rev_try_unload), and it is freed only after it
 *     left the service (retired list) and refs is 0;
 *   - routing (services, traffic) changes only under the registry's write
 *     lock; requests route under the read lock and leave it holding refs.
 */

enum serving__rev_state { REV_LOADING, REV_READY, REV_COLD, REV_FAILED };

struct serving__svc;

struct serving__rev {
    struct serving__svc *svc;      /* borrowed: the service outlives its revisions */
    char name[300];                /* "<isvc>-predictor-00003" */
    int number;
    char *key;                     /* the predictor spec it was made from (JSON) */
    char path[4096];               /* resolved model path */
    enum skiff_model_runtime runtime;
    enum serving__rev_state state;
    char message[1100];            /* why FAILED */
    _Atomic(struct skiff_model *) model; /* NULL when not loaded */
    atomic_int refs;
    pthread_mutex_t load_mu;       /* one load at a time (cold start) */
    size_t nfeat, nout;
    char **feature_names;          /* nfeat names or NULL */
    double load_seconds;
    /* canary analysis: counters since the window began (atomics) */
    atomic_long a_requests, a_errors, a_slow;
    _Atomic double a_score_sum;
    struct serving__rev *next;     /* the service's revisions, newest first */
};

struct serving__traffic {
    struct serving__rev *rev;
    int percent;
    bool latest;                   /* the latest ready revision's entry */
};

struct serving__analysis {
    bool enabled;
    int64_t window_us;
    double max_error_rate;         /* < 0: not checked */
    double max_p99_ms;             /* < 0: not checked */
    double max_score_shift;        /* < 0: not checked */
};

struct serving__logger;
struct skiff_feat_registry;

/* Where a service's payload log goes when spec.predictor.logger.url is not
 * a file:// URL: CloudEvents POSTed to `url` (logger*.c). Immutable once
 * published; replaced ones are kept until the service is freed (records
 * being written borrow them: they hold a revision ref, which keeps the
 * service). */
struct serving__sink {
    struct serving__sink *older;
    char ns[254];                  /* metadata.namespace, "default" when unset */
    char url[];
};
struct skiff_feat_service;

/* Feature enrichment of a service (annotations serving.skiff.dev/
 * feature-service, entity-key, missing-features): the rows are read from
 * the online store by the entity key input. Immutable once published;
 * replaced ones are kept until the service is freed (requests may hold
 * them). */
struct serving__enrich {
    char service[254];
    char key[128];                 /* the input carrying the entity values */
    bool reject;                   /* missing feature: 400, else NaN (missing) */
    struct skiff_feat_registry *reg;
    const struct skiff_feat_service *fsvc;  /* borrowed from reg */
    size_t width;
    struct serving__enrich *older;
};

struct serving__svc {
    char name[254];
    atomic_int refs;               /* requests inside; the service is freed at 0 once removed */
    atomic_int active;             /* requests being served (the in-flight gauge, per tick) */
    struct serving__rev *revs;     /* newest first; controller-owned */
    int next_number;
    struct serving__rev *latest_created, *latest_ready, *rolled, *prev_rolled;
    int canary;                    /* canaryTrafficPercent, -1 unset */
    /* the traffic table: read by requests under the registry read lock */
    struct serving__traffic traffic[2];
    int ntraffic;
    /* capacity */
    int limit;                     /* in-flight bound, 0 = unbounded */
    int queue_max;                 /* requests waiting for a slot */
    int64_t queue_wait_us;
    pthread_mutex_t cap_mu;
    pthread_cond_t cap_cv;
    int in_flight, waiting;
    /* scale to zero */
    int min_replicas;
    int64_t idle_grace_us;
    _Atomic int64_t last_request_us; /* monotonic */
    /* payload log */
    int log_mode;                  /* 0 off, 1 all, 2 request, 3 response */
    struct serving__logger *logger; /* shared, borrowed */
    _Atomic(struct serving__sink *) sink; /* CloudEvents sink; NULL: the file sink */
    struct serving__sink *sinks;   /* every sink made, newest first (controller) */
    struct serving__enrich *enrich; /* NULL: the request carries the features */
    char enrich_problem[1400];     /* why enrichment is not set up, for status */
    /* canary analysis */
    struct serving__analysis analysis;
    int64_t analysis_start_us;
    char analysis_event[512];      /* last automatic rollback, for status */
    char rolled_back_key[256];     /* the spec key of the canary rolled back */
    /* status bookkeeping (controller) */
    int64_t generation;
    char seen_rv[32];              /* metadata.resourceVersion last reconciled */
    json_t *last_status;
    char url[300];
    bool removed;
    struct serving__svc *next;     /* registry list */
};

/* ---- payload logger (logger.c) ---- */

/* One scored request for the payload log. The logger takes ownership. */
struct serving__logrec {
    int64_t ts_us;
    char id[128];
    struct serving__rev *rev;      /* holds a ref, dropped when written */
    size_t nrows, nfeat, nout;
    const struct serving__enrich *enrich; /* names of enriched features, or NULL */
    char **keys;                   /* enriched: each row's entity value (one block) */
    int mode;                      /* what to write: 1 all, 2 inputs, 3 outputs */
    float *x;                      /* nrows * nfeat (NULL for mode 3) */
    double *y;                     /* nrows * nout (NULL for mode 2) */
    /* CloudEvents sink: the raw bodies instead of x and y (one malloc'd
     * block, `body`; NULL for the file sink) */
    const struct serving__sink *sink; /* borrowed from the service */
    char *body;                    /* request body, NUL, response body, NUL */
    size_t req_len, resp_len;      /* the response starts at body + req_len + 1 */
};

/* Starts the writer thread; files go under dir/<isvc>/<day>.jsonl. `cap`
 * bounds the records waiting. Caller frees with serving__logger_free. */
int serving__logger_new(const char *dir, size_t cap, struct serving__logger **out,
                        struct skiff_err *err);
/* Flushes what is queued, stops the thread, frees. Accepts NULL. */
void serving__logger_free(struct serving__logger *l);
/* Queues one record without blocking; a full queue drops it (counted).
 * Takes `rec` over in both cases (freed, its ref dropped). */
void serving__logger_push(struct serving__logger *l, struct serving__logrec *rec);
/* Waits until everything queued so far is on disk or delivered (tests,
 * shutdown). */
void serving__logger_flush(struct serving__logger *l);
/* The ce-source of CloudEvents (the server's URL); copied. */
void serving__logger_set_source(struct serving__logger *l, const char *source);

/* ---- CloudEvents delivery (logger_ce.c), on the writer thread ---- */

struct serving__ce;
/* Caller frees with serving__ce_free (accepts NULL). */
int serving__ce_new(struct serving__ce **out, struct skiff_err *err);
void serving__ce_free(struct serving__ce *c);
/* POSTs a record's events (request and/or response by its mode) in binary
 * content mode, each with a bounded retry (fewer tries while the sink
 * keeps failing, or when `hurry`). Returns how many events were lost. */
int serving__ce_send(struct serving__ce *c, const struct serving__logrec *r,
                     const char *source, bool hurry);
/* A CloudEvents attribute as an HTTP header value: space, '"', '%' and
 * bytes outside printable ASCII percent-encoded (the HTTP binding's rule;
 * no header can be smuggled in by a request id). Always NUL-terminates. */
void serving__ce_header_value(const char *in, char *out, size_t n);

/* ---- metrics (router.c) ---- */

struct serving__metrics {
    struct skiff_metric *requests, *latency, *in_flight, *load_seconds, *cold_starts,
        *log_dropped, *rollbacks;
};
const struct serving__metrics *serving__metrics(void);

/* ---- revisions (revision.c) ---- */

/* Drops one ref taken by routing or logging. */
void serving__rev_put(struct serving__rev *r);
/* Loads the revision's model if it is not loaded (a cold start when
 * `cold`), answers one warm-up prediction, fills nfeat/nout/names. */
int serving__rev_ensure(struct serving__rev *r, bool cold, struct skiff_err *err);
/* Unloads the model when no one uses it; true when it is unloaded. */
bool serving__rev_try_unload(struct serving__rev *r);
void serving__rev_free(struct serving__rev *r);

/* ---- the server (router.c, isvc.c, controller.c) ---- */

struct skiff_serving {
    struct skiff_store *store;
    struct skiff_online *online;
    struct skiff_tracking *tracking;
    char home[4096];
    char model_dir[4096];
    unsigned poll_ms;
    pthread_rwlock_t lock;          /* routing: svcs, traffic tables, revision lists */
    struct serving__svc *svcs;      /* live services */
    struct serving__svc *retired;   /* removed, freed when their refs reach 0 */
    struct serving__logger *logger;
    pthread_mutex_t ctl_mu;         /* one reconcile at a time (apply vs the thread) */
    pthread_t thread;
    bool started;
    atomic_bool stop;
    char base_url[300];
};

/* Reconciles one InferenceService object: new revision when the predictor
 * changed (loaded and warmed up before it takes traffic), configuration,
 * traffic. Under ctl_mu. */
int serving__reconcile(struct skiff_serving *s, const json_t *obj, struct skiff_err *err);
/* Periodic work for every service: drains, idle unloads, canary analysis.
 * Under ctl_mu. */
void serving__housekeep(struct skiff_serving *s);
/* The status object of a service (caller decrefs). Under ctl_mu. */
json_t *serving__status(struct skiff_serving *s, struct serving__svc *svc);
/* Removes services whose name is not in `names` (a JSON array of objects
 * with metadata.name). Under ctl_mu. */
void serving__prune(struct skiff_serving *s, const json_t *objs);
/* Sets up or refreshes a service's enrichment from its annotations. */
void serving__enrich_configure(struct skiff_serving *s, struct serving__svc *svc,
                               const json_t *obj);
void serving__enrich_free(struct serving__enrich *e);
/* The rows of an enriched request: the entity key input's values, each
 * read from the online store. *keys (arena) gets the entity values. */
int serving__enrich_matrix(struct skiff_serving *s, const struct serving__enrich *en,
                           const struct serving__infer_req *r, size_t nfeat,
                           struct skiff_arena *a, float **x, size_t *nrows, char ***keys,
                           struct skiff_err *err);

/* The rows of the entity values keys[0..n) (V1 instances), each read from
 * the online store; *x from the arena. */
int serving__enrich_rows(struct skiff_serving *s, const struct serving__enrich *en,
                         char **keys, size_t n, size_t nfeat, struct skiff_arena *a, float **x,
                         struct skiff_err *err);

/* skiff serve alone: fetches a registry storageUri through the platform's
 * REST API (SKIFF_URL) into home/models/<key>; its path in out[n]. */
int serving__remote_fetch(const char *home, const char *uri, char *out, size_t n,
                          struct skiff_err *err);

/* Frees retired services and revisions nobody uses any more. */
void serving__reap(struct skiff_serving *s, bool all);

#endif
