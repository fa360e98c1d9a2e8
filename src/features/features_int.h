/* Private to src/features: the registry's layout, the key index the joins
 * share, and the helpers the files of the module call each other through. */
#ifndef SKIFF_FEATURES_INT_H
#define SKIFF_FEATURES_INT_H

#include "skiff/features.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct skiff_feat_registry {
    json_t *docs;   /* the loaded documents: every const char * below borrows from them */
    struct skiff_feat_entity *entities;
    size_t nentities;
    struct skiff_feat_source *sources;
    size_t nsources;
    struct skiff_feat_view *views;
    size_t nviews;
    struct skiff_feat_service *services;
    size_t nservices;
};

/* Adds a string cell's bytes to column c's pool (text of a typed column or a
 * STRING value). */
int features__pool_put(struct skiff_feat_column *c, size_t row, const char *s, size_t len,
                       struct skiff_err *err);

/* Frees a column's cells, keeping its name and type: for a table whose
 * column is no longer read (the engine drops what the sort no longer
 * needs). The table then must not grow, be written or be appended to. */
void features__column_drop(struct skiff_feat_column *c);

/* Maps join-key tuples to dense ids 0..n-1. A key is the bytes that
 * features__key_bytes builds; lookups are read-only and so thread-safe once
 * building is done. */
struct features__keyidx {
    size_t *slots;       /* capacity slots of 4 words each (layout: table.c) */
    size_t capacity;     /* a power of two */
    uint64_t *hash;      /* per id */
    size_t *koff;        /* per id, offset of its bytes in keys */
    size_t *klen;
    char *keys;
    size_t keys_len, keys_cap;
    size_t n, ncap;
};

void features__keyidx_release(struct features__keyidx *k);
/* The id of key[len], added when absent. -1 when out of memory. */
long features__keyidx_put(struct features__keyidx *k, const char *key, size_t len);
/* The id of key[len], or -1. */
long features__keyidx_get(const struct features__keyidx *k, const char *key, size_t len);
/* The same with the key's hash given (features__keyidx_hash): a loop over
 * many rows hashes a few rows ahead and prefetches their slots
 * (features__keyidx_prefetch), so that the cache misses of several rows
 * overlap instead of following each other. */
uint64_t features__keyidx_hash(const char *key, size_t len);
void features__keyidx_prefetch(const struct features__keyidx *k, uint64_t h);
long features__keyidx_put_h(struct features__keyidx *k, const char *key, size_t len, uint64_t h);
long features__keyidx_get_h(const struct features__keyidx *k, const char *key, size_t len,
                            uint64_t h);

/* The key bytes of row `row` over columns cols[0..n) of t into buf (capacity
 * cap): each cell as a 4-byte length then its bytes (integers and
 * timestamps as 8 bytes), so ("a,b") and ("a", "b") differ. Returns the
 * length, 0 when a key cell is null (a null key matches nothing), or
 * (size_t)-1 when buf is too small. */
size_t features__key_bytes(const struct skiff_feat_table *t, size_t row, const size_t *cols,
                           size_t n, char *buf, size_t cap);

/* ---- orderings for historical retrieval (order.c) ---- */

/* One source row as the sort sees it: its time, created time (INT64_MIN
 * when null: first, as Feast's sort puts nulls), key id and row. */
struct features__event {
    int64_t ts, created;
    uint32_t id, row;
};

/* Runs fn(arg, part, nparts) for part 0..nparts-1 (at most 8), on a thread
 * each, this one doing part 0, and waits for all. A part whose thread
 * cannot start runs here afterwards, so the result never depends on how
 * many threads there were. */
void features__parallel(int nparts, void (*fn)(void *arg, int part, int nparts), void *arg);

/* Sorts ev[0..n) by (id, ts, created, file order) into out over nparts
 * threads, and sets start[id] to the first index of each id's run
 * (start[nids] = n; start has nids + 1 entries); ev is scratch afterwards.
 * n < UINT32_MAX. -1 when out of memory. */
int features__sort_events(struct features__event *ev, size_t n, size_t nids,
                          struct features__event *out, size_t *start, int nparts);

/* Numbers the distinct strings of STRING column col (rows 0..nrows) into
 * ids[row] (the caller's, nrows entries), UINT32_MAX for a null cell, over
 * nt threads. -1 when out of memory. */
int features__intern_strings(const struct skiff_feat_column *col, size_t nrows, int nt,
                             uint32_t *ids);

/* A source of CSV bytes for features__csv_read_stream: up to n bytes into
 * buf, their count in *got, 0 at the end; an error returns its code. */
typedef int (*features__read_cb)(void *ctx, char *buf, size_t n, size_t *got,
                                 struct skiff_err *err);

/* Reads CSV text from `read` as skiff_feat_csv_read reads a file (`name`
 * in errors): in chunks, so memory is the table plus one chunk (a
 * PostgreSQL COPY, pg.c). *out is the caller's to free. */
int features__csv_read_stream(const char *name, features__read_cb read, void *ctx,
                              const struct skiff_feat_csv_opts *o,
                              struct skiff_feat_table **out, size_t *skipped,
                              struct skiff_err *err);

/* us as RFC 3339 UTC, as skiff_feat_csv_write writes it
 * ("2026-11-27T09:00:00Z", microseconds when there are any) into buf[n].
 * Returns buf. */
const char *features__time_str(int64_t us, char *buf, size_t n);

/* A progress bar on stderr ("label [#####     ]  45%   3.2s"), drawn only
 * when `on` (the CLI sets it when stderr is a terminal). add is
 * thread-safe; start and end are called by one thread around the work. */
struct features__progress {
    char label[64];
    bool on;
    uint64_t total;
    _Atomic uint64_t done;
    _Atomic int shown;   /* the percentage last drawn */
    int64_t t0;
};

void features__progress_start(struct features__progress *p, bool on, const char *label,
                              uint64_t total);
void features__progress_add(struct features__progress *p, uint64_t n);
/* Draws the percentage reached and ends the line. */
void features__progress_end(struct features__progress *p);

#endif
