/* Private to the online store (src/features/online*.c): the backend
 * vtable, the record format and the helpers materialize, push and the
 * feature server share.
 *
 * Layout (both backends hold the same records):
 *   entity key   for each join key of the view, in the view's entity order:
 *                u32 length (little-endian) + the value's canonical text
 *                (integers in decimal), so ("a,b") and ("a", "b") differ
 *   LMDB         key = VIEW '\0' ENTITY-KEY, value = the view's record
 *   Redis        one hash per entity key, "skiff:" ENTITY-KEY, as Feast keeps
 *                one hash per entity key; field VIEW = the view's record
 *   watermarks   the record slot of view "wm:VIEW" under the empty entity key
 *                (':' cannot appear in a view name), 8 bytes: the end of the
 *                last finished materialization of VIEW, UTC µs
 *
 * Record (all integers little-endian, host order on the machines we run):
 *   header   u32 magic 'SKO1', u32 schema (hash of the view's field names
 *            and types and its aggregated columns), i64 event_ts (of the
 *            latest row; INT64_MIN when the view has only events), i64
 *            created_ts, u32 nfields, u32 naggs, u32 nevents, u32 strbytes
 *   fields   nfields slots (the latest row's values)
 *   events   nevents i64 timestamps, ascending, then nevents * naggs slots
 *            (event i's value of aggregation a's column at i * naggs + a)
 *   strings  strbytes, NUL-terminated strings that slots point into
 *   slot     16 bytes: u8 valid, 3 pad, u32 string length, then i64 / f64 /
 *            u64 string offset
 * A record whose schema hash differs from the view's (the definition
 * changed since it was written) reads as NOT_FOUND until rewritten.
 */
#ifndef SKIFF_ONLINE_INT_H
#define SKIFF_ONLINE_INT_H

#include "features_int.h"
#include "skiff/online.h"

#include <pthread.h>

#define ONLINE_MAX_KEY 480          /* LMDB's key limit is 511 bytes */
#define ONLINE_MAX_EVENTS 65536     /* per entity and view: a bound on memory */
#define ONLINE_NO_ROW INT64_MIN

/* Where one record lives: an entity key and a view (or "wm:VIEW"). */
struct online__ref {
    const char *key;
    size_t klen;
    const char *view;
};

/* Read-modify-write of record i: gets the current bytes (NULL when none)
 * and sets *out to a malloc'd new record (the backend frees it) or NULL to
 * leave it as it is. */
typedef int (*online__merge_cb)(void *ctx, size_t i, const void *cur, size_t curlen,
                                void **out, size_t *outlen, struct skiff_err *err);

struct online__ops {
    const char *name;
    /* Reads n records: vals[i] (NULL when absent) and lens[i] stay valid
     * until release(*hold). Thread-safe. */
    int (*get)(struct skiff_online *o, size_t n, const struct online__ref *refs,
               const void **vals, size_t *lens, void **hold, struct skiff_err *err);
    void (*release)(struct skiff_online *o, void *hold);
    /* Rewrites n records through merge, atomically per record at least
     * (LMDB: one transaction for all n). Writers are serialised. */
    int (*update)(struct skiff_online *o, size_t n, const struct online__ref *refs,
                  online__merge_cb merge, void *ctx, struct skiff_err *err);
    void (*close)(struct skiff_online *o);
};

struct skiff_online {
    const struct online__ops *ops;
    void *impl;
    char spec[512];
};

int online__lmdb_open(struct skiff_online *o, const char *dir, struct skiff_err *err);
int online__redis_open(struct skiff_online *o, const char *url, struct skiff_err *err);

/* ---- records ---- */

/* A decoded record; strings in values borrow from the bytes decoded (or
 * from whoever filled it). ev[i * naggs + a]. */
struct online__rec {
    int64_t event_ts, created_ts;
    size_t nfields, naggs, nev;
    struct skiff_feat_value *fields;
    int64_t *ev_ts;
    struct skiff_feat_value *ev;
};

uint32_t online__schema(const struct skiff_feat_view *v);
/* Decodes bytes into r (arrays malloc'd: online__rec_release). NULL bytes,
 * a foreign or damaged record, or a schema that is not v's: an empty
 * record (no row, no events), returned as 0 with *stale set (may be NULL). */
int online__rec_decode(const struct skiff_feat_view *v, const void *bytes, size_t len,
                       struct online__rec *r, bool *stale, struct skiff_err *err);
/* Encodes r into a malloc'd buffer. */
int online__rec_encode(const struct skiff_feat_view *v, const struct online__rec *r,
                       void **out, size_t *len, struct skiff_err *err);
void online__rec_release(struct online__rec *r);

/* Adds events (ts[i], vals[i * naggs + a]) to r, in time order (an event
 * tied with a stored one goes after it), then drops events no window can
 * reach any more: ts <= latest - the view's longest window. */
int online__rec_add_events(const struct skiff_feat_view *v, struct online__rec *r,
                           const int64_t *ts, const struct skiff_feat_value *vals, size_t n,
                           struct skiff_err *err);
int64_t online__max_window(const struct skiff_feat_view *v);

/* The entity key of a view from text values, one per view entity, into
 * buf[cap]; integers are canonicalised (" 0042" reads as "42"). Returns the
 * length, 0 when a value is NULL, not an integer where one is wanted or the
 * key is too long (no record can match it). */
size_t online__key(const struct skiff_feat_view *v, const char *const *vals, char *buf,
                   size_t cap);

/* ---- reading ---- */

size_t online__view_width(const struct skiff_feat_view *v);   /* fields + aggs + derived */
const char *online__view_feature(const struct skiff_feat_view *v, size_t k);
enum skiff_feat_type online__view_type(const struct skiff_feat_view *v, size_t k);
bool online__projection_asks(const struct skiff_feat_projection *p, size_t k);

/* Computes every feature of view v at time t from its record bytes (NULL:
 * none): vals/st/ts have online__view_width(v) entries; STRING values
 * borrow from the bytes. The same functions as historical retrieval
 * (skiff_feat_agg_compute, skiff_feat_expr_eval) do the arithmetic. */
int online__compute(const struct skiff_feat_view *v, const void *bytes, size_t len, int64_t t,
                    struct skiff_feat_value *vals, enum skiff_online_status *st, int64_t *ts,
                    struct skiff_feat_scratch *scratch, struct skiff_err *err);

/* The service's join keys, in first-use order over its views: names[] and
 * the entity types; returns how many (at most cap). */
size_t online__service_keys(const struct skiff_feat_service *svc, const char **names,
                            enum skiff_feat_type *types, size_t cap);

/* The values of one entity row for a whole service (width entries, as
 * skiff_online_get_vector orders them). STRING values borrow from records
 * held until online__row_release. keyvals[k] is the text of service join
 * key k (NULL: none given). */
struct online__row {
    void *hold;
};
int online__get_row(struct skiff_online *o, const struct skiff_feat_service *svc,
                    const char *const *keyvals, size_t nkeys, int64_t t,
                    struct skiff_feat_value *vals, enum skiff_online_status *st, int64_t *ts,
                    struct online__row *row, struct skiff_err *err);
void online__row_release(struct skiff_online *o, struct online__row *row);

/* ---- writing ---- */

/* Latest-row writes: for each i, the row (fields[i * v->nfields ...]) at
 * (ts[i], created[i]) replaces the stored one only when newer by (event
 * time, created): the online value never moves back in time (Feast's Redis
 * rule, specs/feast.md 4.3), which makes a rerun a no-op. With events
 * (agg_ts != NULL), each record's events with ts in (lo, hi] are replaced
 * by those given (ev_off[i]..ev_off[i+1] of agg_ts / agg_vals). */
struct online__write {
    const struct skiff_feat_view *v;
    size_t n;
    const struct online__ref *refs;
    const int64_t *ts, *created;          /* ts[i] == ONLINE_NO_ROW: no row for i */
    const struct skiff_feat_value *fields;
    const size_t *ev_off;                 /* NULL: no events */
    const int64_t *agg_ts;
    const struct skiff_feat_value *agg_vals;
    int64_t ev_lo, ev_hi;                 /* replace window; ev_lo == ev_hi: append (push) */
};
int online__write_rows(struct skiff_online *o, const struct online__write *w,
                       struct skiff_err *err);

/* The source a view materializes from: its own, or a push source's
 * batchSource. Borrowed from the registry. */
const struct skiff_feat_source *online__batch_source(const struct skiff_feat_registry *r,
                                                     const struct skiff_feat_view *v);
/* The batchSource name of push source `push`, NULL when it is not one. */
const char *online__push_batch(const struct skiff_feat_registry *r, const char *push);

int online__watermark_get(struct skiff_online *o, const char *view, int64_t *out, bool *found,
                          struct skiff_err *err);
int online__watermark_set(struct skiff_online *o, const char *view, int64_t us,
                          struct skiff_err *err);

/* ---- the feature server (server.c, server_push.c) ---- */

#define ONLINE_MAX_ROWS 100000        /* entity rows or pushed rows per request */
#define ONLINE_MAX_JOIN_KEYS 16

struct skiff_http_req;
struct skiff_http_resp;
struct skiff_store;

/* A registry built from the stored resources, shared by the requests that
 * use it: freed when the last reference goes (the server's own goes when a
 * newer registry replaces it). */
struct online__cached {
    struct skiff_feat_registry *reg;
    json_t *objs;
    int refs;   /* the server's own reference + one per request using it */
};

struct skiff_online_server {   /* the context of the feature server's routes */
    struct skiff_online *o;
    struct skiff_store *store;
    const struct skiff_feat_registry *fixed;
    pthread_mutex_t mu;
    struct online__cached *cur;
    int64_t loaded_at;
    char base_dir[4096];
};

/* The registry for one request (the fixed one, or the cached stored one,
 * reloaded when older than a second); release with the `held` returned. */
int online__registry_acquire(struct skiff_online_server *s, const struct skiff_feat_registry **r,
                             struct online__cached **held, struct skiff_err *err);
void online__registry_release(struct skiff_online_server *s, struct online__cached *held);
/* The request body as a JSON object (caller decrefs), or NULL with err set. */
json_t *online__parse_body(const struct skiff_http_req *req, struct skiff_err *err);
/* An entity cell's text: a string as is, an integer in decimal into
 * buf[n]; NULL for anything else. */
const char *online__entity_text(const json_t *v, char *buf, size_t n);

int online__h_push(struct skiff_http_req *req, struct skiff_http_resp *resp,
                   struct skiff_err *err);
int online__h_write_online(struct skiff_http_req *req, struct skiff_http_resp *resp,
                           struct skiff_err *err);

#endif
