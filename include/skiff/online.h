/* Online feature store: the latest feature values per entity, read in
 * microseconds by the feature server and, in-process, by serving.
 *
 * Two backends behind one interface: LMDB (embedded, under SKIFF_HOME, the
 * default) and Redis (hiredis, `online_store: redis://host:port[/db]`).
 * Every value carries its event timestamp, so a value older than its view's
 * ttl reads as OUTSIDE_MAX_AGE and a missing one as NOT_FOUND (Feast's
 * statuses, specs/feast.md).
 *
 * Thread-safety: one handle is shared by every thread; reads run in
 * parallel (an LMDB read transaction per call; Redis connections per
 * thread), writes are serialised.
 */
#ifndef SKIFF_ONLINE_H
#define SKIFF_ONLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct skiff_err;
struct skiff_feat_service;
struct skiff_online;

/* Feast's per-value statuses. */
enum skiff_online_status {
    SKIFF_ONLINE_PRESENT = 0,
    SKIFF_ONLINE_NOT_FOUND,
    SKIFF_ONLINE_OUTSIDE_MAX_AGE,
};
const char *skiff_online_status_name(enum skiff_online_status s);   /* "PRESENT" ... */

/* Opens the store named by `spec`: "lmdb" (a database under home/online/),
 * "lmdb:/abs/dir", or "redis://host:port[/db]". Caller frees with
 * skiff_online_close. */
int skiff_online_open(const char *spec, const char *home, struct skiff_online **out,
                      struct skiff_err *err);
void skiff_online_close(struct skiff_online *o);

/* The number of features a service yields, in its order (views in the
 * service's order, each view's projected features in definition order). */
size_t skiff_online_service_width(const struct skiff_feat_service *svc);
/* The name ("view__feature" when full, else "feature") of feature i. */
const char *skiff_online_service_feature(const struct skiff_feat_service *svc, size_t i);

/* Enrichment, without JSON or copies: the feature vector of one entity for
 * a service at time now_us (UTC µs). entity_values[k] is the value (as
 * text) of the service's k-th join key. Writes width values (NaN unless
 * PRESENT; numeric features only: a STRING feature reads as NaN),
 * statuses and event timestamps (0 when not found); statuses and event_ts
 * may be NULL. Returns 0 also when features are missing: that is a status,
 * not an error. */
int skiff_online_get_vector(struct skiff_online *o, const struct skiff_feat_service *svc,
                            const char *const *entity_values, size_t nentity, int64_t now_us,
                            double *values, enum skiff_online_status *statuses,
                            int64_t *event_ts, struct skiff_err *err);

/* skiff_online_service_feature returns the short name ("feature"), borrowed
 * from the definitions; a caller that wants full names formats
 * "VIEW__feature" with the view name below. Both NULL when i >= width. */
const char *skiff_online_service_view(const struct skiff_feat_service *svc, size_t i);
/* The enum skiff_feat_type (include/skiff/features.h) of feature i, -1
 * when i >= width. */
int skiff_online_service_type(const struct skiff_feat_service *svc, size_t i);
/* The service's join keys, in the order skiff_online_get_vector reads
 * entity_values: first use over its views, in the service's order.
 * Names are borrowed from the definitions. */
size_t skiff_online_service_nkeys(const struct skiff_feat_service *svc);
const char *skiff_online_service_key(const struct skiff_feat_service *svc, size_t k);

/* ---- materialization (specs/feast.md 4) ---- */

struct skiff_feat_registry;

struct skiff_online_materialize_opts {
    const char *const *views;   /* view names; nviews 0 = every online view */
    size_t nviews;
    bool incremental;           /* start = each view's watermark (Feast's rule when none) */
    bool progress;              /* progress bars on stderr (the CLI: when it is a TTY) */
    FILE *log;                  /* one line per view; NULL = quiet */
};

/* Writes into the online store, per view, the latest row of each entity
 * with start <= ts <= end, and for aggregation views the events of
 * (end - longest window, end], so the values served at end are those
 * historical retrieval computes at end. Rows only replace older rows:
 * running it again, or after a run killed halfway, gives the same state.
 * Each view's watermark becomes `end` once all its rows are written
 * (incremental starts there). Errors: SKIFF_EINVAL (start >= end, a view
 * not online, a source without rows), SKIFF_ENOTFOUND (unknown view),
 * source read errors, store errors. Not for concurrent use on one view. */
int skiff_online_materialize(struct skiff_online *o, const struct skiff_feat_registry *reg,
                             int64_t start_us, int64_t end_us,
                             const struct skiff_online_materialize_opts *opts,
                             struct skiff_err *err);

/* ---- the feature server (specs/feast.md 6) ---- */

struct skiff_route;
struct skiff_store;
struct skiff_online_server;

/* The context of the feature server's routes: the online store `o`, and
 * the definitions: `reg` (borrowed, outliving the server) when not NULL,
 * else the resources stored in `store`, re-read at most once a second.
 * Caller frees with skiff_online_server_free, after the HTTP server. */
int skiff_online_server_new(struct skiff_online *o, struct skiff_store *store,
                            const struct skiff_feat_registry *reg,
                            struct skiff_online_server **out, struct skiff_err *err);
void skiff_online_server_free(struct skiff_online_server *s);

/* Routes, with a struct skiff_online_server * as ctx:
 *   POST /get-online-features (features:read), /push,
 *   /write-to-online-store (features:write),
 *   POST /materialize, /materialize-incremental (features:write),
 *   GET /health (open). Static; handlers are thread-safe. */
const struct skiff_route *skiff_online_routes(size_t *n);

/* ---- training-serving skew (src/features/skew.c) ---- */

struct skiff_feat_skew_opts {
    double max_mismatch;   /* a feature fails above this share of rows (0.01 = 1%) */
    double tolerance;      /* numbers match within tolerance * max(1, |recomputed|) */
    bool skip_missing;     /* a feature without a column is reported "not served"
                              instead of being an error (set for payload logs) */
};

/* Reads `served_path` (CSV: the service's join keys, event_timestamp, one
 * column per feature named "feature" or "view__feature" with the served
 * value), recomputes each row by historical retrieval at its
 * event_timestamp and writes to `out` each feature's mismatch count and
 * rate and its worst examples (largest differences, with the line, keys
 * and both values). *failed is set when a feature's rate is above
 * max_mismatch. A file named *.jsonl is read as serving's payload log
 * (include/skiff/serving.h: "ts" and the "features" object, which holds
 * the join keys and the served values). Errors: reading the file
 * (SKIFF_EPARSE with position), a feature without a column (SKIFF_EINVAL),
 * retrieval errors. */
int skiff_feat_skew(const struct skiff_feat_service *svc, const char *served_path,
                    const struct skiff_feat_skew_opts *o, FILE *out, bool *failed,
                    struct skiff_err *err);

#endif
