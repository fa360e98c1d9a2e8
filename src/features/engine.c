/* The feature engine: point-in-time picks, windowed aggregations and
 * historical retrieval (include/skiff/features.h).
 *
 * Historical retrieval, per view of the service:
 *   1. read the view's source (only the columns it needs, typed);
 *   2. give each join-key tuple a dense id (a hash index per thread, then
 *      merged: index_part, index_merge) and sort the rows once by (id,
 *      timestamp, created, file order): a parallel counting sort by id,
 *      then each key's run by time (features__sort_events, order.c);
 *   3. look each entity row's key up (O(1), entity_ids), group the entity
 *      rows by key (group_entities), and for each one binary-search its
 *      timestamp in the key's run (O(log N)) and compute the features:
 *      the PIT row's fields, the aggregations over the key's events, the
 *      derived expressions. The grouped rows are split over threads; each
 *      writes only its own output rows, so the output keeps the entity
 *      file's order.
 * In all O(N + M) for N source rows and M entity rows, plus k log k to
 * sort a key's run of k rows, a binary search per entity row and the
 * events inside each aggregation window. Every step after the read runs
 * on o->threads threads (2 by default) and gives the same result with any
 * number of them.
 *
 * Worked example of a join (ttl 1h, one key "u1", source rows
 * 09:00 -> 1, 10:00 -> 2 (created 10:05), 10:00 -> 3 (created 10:01)):
 * sorted run of u1: [09:00 1] [10:00/10:01 3] [10:00/10:05 2]. An entity
 * row (u1, 10:30) searches 10:30: the last row <= 10:30 is [10:00/10:05 2],
 * 10:30 - 1h = 09:30 <= 10:00, so 2. (u1, 11:00) -> 2 (exactly on the
 * ttl bound, included); (u1, 11:00:01) -> null (expired); (u2, *) -> null.
 */
#include "features_int.h"

#include "skiff/err.h"
#include "skiff/log.h"
#include "skiff/time.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- the per-entity functions both paths share ---- */

/* First index in ts[0..n) with ts > t (ts ascending). */
static size_t upper_bound(const int64_t *ts, size_t n, int64_t t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ts[mid] <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

long skiff_feat_pit_pick(const int64_t *ts, size_t n, int64_t t, int64_t ttl_us)
{
    size_t i = upper_bound(ts, n, t);
    if (i == 0)
        return -1;
    /* Feast's lower bound is inclusive: F >= E - ttl (specs/feast.md 3.2) */
    if (ttl_us > 0 && ts[i - 1] < t - ttl_us)
        return -1;
    return (long)(i - 1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Insertion sort of x[0..n), for the few values of one window. */
static void sort_small(double *x, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        double v = x[i];
        size_t j = i;
        while (j > 0 && v < x[j - 1]) {
            x[j] = x[j - 1];
            j--;
        }
        x[j] = v;
    }
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int scratch_reserve(struct skiff_feat_scratch *s, size_t bytes, struct skiff_err *err)
{
    void *p;
    if (bytes <= s->cap)
        return 0;
    if (!(p = realloc(s->buf, bytes)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory computing count_distinct");
    s->buf = p;
    s->cap = bytes;
    return 0;
}

/* The numeric value of an aggregation result of type `t` from a double. */
static void set_num(struct skiff_feat_value *out, enum skiff_feat_type t, double v)
{
    out->valid = true;
    out->type = t;
    if (t == SKIFF_FEAT_DOUBLE || t == SKIFF_FEAT_FLOAT)
        out->f = v;
    else
        out->i = (int64_t)v;
}

int skiff_feat_agg_compute(const struct skiff_feat_agg *a, const struct skiff_feat_events *ev,
                           int64_t t, struct skiff_feat_value *out,
                           struct skiff_feat_scratch *scratch, struct skiff_err *err)
{
    /* the window (t - w, t]: events after t - w, up to and including t */
    size_t lo = ev->n ? upper_bound(ev->ts, ev->n, t - a->window_us) : 0;
    size_t hi = ev->n ? upper_bound(ev->ts, ev->n, t) : 0;
    size_t n = 0;
    double sum = 0, best = 0;
    int64_t isum = 0;

    memset(out, 0, sizeof *out);
    out->type = a->out_type;
    switch (a->fn) {
    case SKIFF_FEAT_AGG_COUNT:
        for (size_t i = lo; i < hi; i++)
            n += !ev->valid || ev->valid[i];
        set_num(out, a->out_type, (double)n);
        return 0;
    case SKIFF_FEAT_AGG_SUM:
        for (size_t i = lo; i < hi; i++)
            if (ev->valid[i]) {
                sum += ev->vals[i];
                isum += (int64_t)ev->vals[i];
            }
        out->valid = true;
        if (a->out_type == SKIFF_FEAT_DOUBLE)
            out->f = sum;
        else
            out->i = isum;   /* integers summed exactly, as pandas does */
        return 0;
    case SKIFF_FEAT_AGG_AVG:
    case SKIFF_FEAT_AGG_STDDEV: {
        double mean, ss = 0;
        for (size_t i = lo; i < hi; i++)
            if (ev->valid[i]) {
                sum += ev->vals[i];
                n++;
            }
        if (n == 0 || (a->fn == SKIFF_FEAT_AGG_STDDEV && n < 2))
            return 0;
        mean = sum / (double)n;
        if (a->fn == SKIFF_FEAT_AGG_AVG) {
            set_num(out, a->out_type, mean);
            return 0;
        }
        /* second pass: deviations from the mean, so large values lose no digits */
        for (size_t i = lo; i < hi; i++)
            if (ev->valid[i])
                ss += (ev->vals[i] - mean) * (ev->vals[i] - mean);
        set_num(out, a->out_type, sqrt(ss / (double)(n - 1)));
        return 0;
    }
    case SKIFF_FEAT_AGG_MIN:
    case SKIFF_FEAT_AGG_MAX:
        for (size_t i = lo; i < hi; i++) {
            if (!ev->valid[i])
                continue;
            if (n++ == 0 || (a->fn == SKIFF_FEAT_AGG_MIN ? ev->vals[i] < best
                                                         : ev->vals[i] > best))
                best = ev->vals[i];
        }
        if (n)
            set_num(out, a->out_type, best);
        return 0;
    case SKIFF_FEAT_AGG_LAST:
        for (size_t i = hi; i > lo; i--) {
            if (!ev->valid[i - 1])
                continue;
            if (a->out_type == SKIFF_FEAT_STRING) {
                out->valid = true;
                out->s = ev->strs[i - 1];
            } else {
                set_num(out, a->out_type, ev->vals[i - 1]);
            }
            return 0;
        }
        return 0;
    case SKIFF_FEAT_AGG_COUNT_DISTINCT: {
        bool strs = ev->strs != NULL;
        size_t k = 0;
        if (scratch_reserve(scratch, (hi - lo) * 8 + 8, err))
            return SKIFF_ENOMEM;
        for (size_t i = lo; i < hi; i++) {
            if (!ev->valid[i])
                continue;
            if (strs)
                ((const char **)scratch->buf)[k++] = ev->strs[i];
            else
                ((double *)scratch->buf)[k++] = ev->vals[i];
        }
        if (!strs && k <= 64)
            sort_small(scratch->buf, k);   /* windows hold a few dozen values: no callbacks */
        else
            qsort(scratch->buf, k, 8, strs ? cmp_cstr : cmp_double);
        for (size_t i = 0; i < k; i++)
            n += i == 0 || (strs ? cmp_cstr : cmp_double)((char *)scratch->buf + 8 * i,
                                                          (char *)scratch->buf + 8 * (i - 1)) != 0;
        set_num(out, a->out_type, (double)n);
        return 0;
    }
    }
    return 0;
}

/* ---- historical retrieval ---- */

/* How many rows ahead a loop over random rows or keys prefetches. */
#define PREFETCH 8

/* One view's source, sorted and indexed, and where its features go. */
struct view_ctx {
    const struct skiff_feat_view *v;
    struct skiff_feat_table *src;
    struct features__keyidx keys;
    size_t nkeys;
    size_t key_src[16], key_ent[16];   /* join-key columns in source and entity tables */
    size_t *start;                     /* per id: first sorted index; start[nids] = total */
    int64_t *sts;                      /* sorted timestamps */
    uint32_t *srow;                    /* sorted index -> source row */
    long *field_col, *agg_col;         /* source column per field / aggregation (-1: none) */
    long *asame;                       /* per aggregation: the one whose sorted arrays it
                                        * shares (itself when it owns them) */
    double **avals;                    /* per aggregation, sorted: numeric values */
    const char ***astrs;               /* ... or strings */
    uint8_t **avalid;
    size_t nfeat;                      /* fields + aggregations + derived */
    long *outcol;                      /* per feature: output column, -1 if not asked for */
    const char ***strtmp;              /* per feature with STRING output: picked strings */
    const struct skiff_feat_table *ent;
    size_t ent_ts;
    struct skiff_feat_table *out;
    int64_t read_us;                   /* time spent reading the source (for the log) */
    int nt;                            /* threads to use */
    uint32_t *eid;                     /* per entity row: key id, UINT32_MAX for none */
    uint32_t *order;                   /* entity rows grouped by key id */
    struct features__progress bar;     /* the join's progress (entity rows done) */
};

static void ctx_release(struct view_ctx *c)
{
    size_t naggs = c->v ? c->v->naggs : 0;
    features__keyidx_release(&c->keys);
    for (size_t i = 0; i < naggs; i++) {
        if (c->asame && c->asame[i] != (long)i)
            continue;   /* borrowed from an earlier aggregation */
        if (c->avals)
            free(c->avals[i]);
        if (c->astrs)
            free(c->astrs[i]);
        if (c->avalid)
            free(c->avalid[i]);
    }
    free(c->asame);
    for (size_t i = 0; c->strtmp && i < c->nfeat; i++)
        free(c->strtmp[i]);
    free(c->strtmp);
    free(c->avals);
    free(c->astrs);
    free(c->avalid);
    free(c->eid);
    free(c->order);
    free(c->start);
    free(c->sts);
    free(c->srow);
    free(c->field_col);
    free(c->agg_col);
    free(c->outcol);
    skiff_feat_table_free(c->src);
}

static enum skiff_feat_type feature_type(const struct skiff_feat_view *v, size_t k)
{
    if (k < v->nfields)
        return v->fields[k].type;
    if (k < v->nfields + v->naggs)
        return v->aggs[k - v->nfields].out_type;
    return SKIFF_FEAT_DOUBLE;
}

static const char *feature_name(const struct skiff_feat_view *v, size_t k)
{
    if (k < v->nfields)
        return v->fields[k].name;
    if (k < v->nfields + v->naggs)
        return v->aggs[k - v->nfields].name;
    return v->derived[k - v->nfields - v->naggs].name;
}

/* Adds `name` of `type` to the wanted columns unless it is there already. */
static size_t want(struct skiff_feat_csv_col *cols, size_t *n, const char *name,
                   enum skiff_feat_type type)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(cols[i].name, name) == 0)
            return i;
    cols[*n] = (struct skiff_feat_csv_col){name, type, false};
    return (*n)++;
}

/* The sorted timestamps, source rows and aggregated columns, as the join
 * and skiff_feat_agg_compute read them (each part a slice of the sorted
 * order). */
struct fill_job {
    struct view_ctx *c;
    const struct features__event *ev;
    size_t n;
    uint32_t **interned;   /* per aggregation: string numbers per source row, or NULL */
};

static void fill_keys(void *arg, int part, int nparts)
{
    const struct fill_job *j = arg;
    struct view_ctx *c = j->c;
    size_t from = j->n * (size_t)part / (size_t)nparts;
    size_t to = j->n * (size_t)(part + 1) / (size_t)nparts;

    for (size_t i = from; i < to; i++) {
        c->sts[i] = j->ev[i].ts;
        c->srow[i] = j->ev[i].row;
    }
}

static void fill_aggs(void *arg, int part, int nparts)
{
    const struct fill_job *j = arg;
    struct view_ctx *c = j->c;
    size_t from = j->n * (size_t)part / (size_t)nparts;
    size_t to = j->n * (size_t)(part + 1) / (size_t)nparts;

    for (size_t a = 0; a < c->v->naggs; a++) {
        const struct skiff_feat_column *col;
        if (c->agg_col[a] < 0 || c->asame[a] != (long)a)
            continue;
        col = &c->src->cols[c->agg_col[a]];
        for (size_t i = from; i < to; i++) {
            uint32_t r = c->srow[i];
            /* the source rows are random: fetch a later row's cells ahead */
            if (i + 4 * PREFETCH < to) {
                uint32_t ahead = c->srow[i + 4 * PREFETCH];
                if (!j->interned[a])
                    __builtin_prefetch(&col->valid[ahead]);
                __builtin_prefetch(j->interned[a] ? (const void *)&j->interned[a][ahead]
                                   : col->f64     ? (const void *)&col->f64[ahead]
                                   : col->i64     ? (const void *)&col->i64[ahead]
                                                  : (const void *)&col->off[ahead]);
            }
            if (j->interned[a]) {
                /* the column's text is gone: the number says whether it was null */
                c->avalid[a][i] = j->interned[a][r] != UINT32_MAX;
                c->avals[a][i] = (double)j->interned[a][r];
                continue;
            }
            c->avalid[a][i] = col->valid[r];
            if (col->type == SKIFF_FEAT_STRING)
                c->astrs[a][i] = col->valid[r] ? col->pool + col->off[r] : NULL;
            else
                c->avals[a][i] = col->i64 ? (double)col->i64[r] : col->f64[r];
        }
    }
}

/* Whether aggregation a reads its STRING column through numbers
 * (count_distinct: intern_strings). */
static bool numbered(const struct view_ctx *c, size_t a)
{
    return c->agg_col[a] >= 0 && c->v->aggs[a].fn == SKIFF_FEAT_AGG_COUNT_DISTINCT &&
           c->src->cols[c->agg_col[a]].type == SKIFF_FEAT_STRING;
}

/* Step 2's first half, over threads: each part gives the join keys of its
 * slice of the source rows ids in an index of its own, and writes their
 * events to the front of its slice of ev, in file order. Then the parts'
 * keys are merged into part 0's index (the distinct keys only: 100k for
 * 10M rows) and the events moved together under those ids. The ids differ
 * from one sequential pass's, which nothing depends on: the sort orders
 * by id only to group each key's rows. */
struct index_job {
    struct view_ctx *c;
    struct features__event *ev;
    size_t ts_col;
    long created_col;
    int nparts;
    struct features__keyidx keys[8];   /* keys[0] is c->keys */
    size_t nev[8];
    int rc[8];
    struct skiff_err err[8];
};

/* The hash of row r's key in t over cols[0..n), its slot in k prefetched
 * (0 for a key that is null or too long: the row's own lookup sees that). */
static uint64_t row_hash(const struct skiff_feat_table *t, size_t r, const size_t *cols,
                         size_t n, const struct features__keyidx *k)
{
    char key[4096];
    size_t len = features__key_bytes(t, r, cols, n, key, sizeof key);
    uint64_t h;
    if (len == 0 || len == (size_t)-1)
        return 0;
    h = features__keyidx_hash(key, len);
    features__keyidx_prefetch(k, h);
    return h;
}

static void index_part(void *arg, int part, int nparts)
{
    struct index_job *j = arg;
    struct view_ctx *c = j->c;
    const struct skiff_feat_table *src = c->src;
    const struct skiff_feat_column *tc = &src->cols[j->ts_col];
    const struct skiff_feat_column *cc = j->created_col >= 0 ? &src->cols[j->created_col] : NULL;
    struct features__keyidx *keys = part == 0 ? &c->keys : &j->keys[part];
    size_t from = src->nrows * (size_t)part / (size_t)nparts;
    size_t to = src->nrows * (size_t)(part + 1) / (size_t)nparts, n = from;
    uint64_t ahead[PREFETCH];
    char key[4096];

    j->err[part] = (struct skiff_err)SKIFF_ERR_INIT;
    for (size_t r = from; r < to && r < from + PREFETCH; r++)
        ahead[r % PREFETCH] = row_hash(src, r, c->key_src, c->nkeys, keys);
    for (size_t r = from; r < to; r++) {
        size_t len = features__key_bytes(src, r, c->key_src, c->nkeys, key, sizeof key);
        uint64_t h = ahead[r % PREFETCH];
        long id;
        /* the slot of the row PREFETCH rows on is on its way while this one is looked up */
        if (r + PREFETCH < to)
            ahead[r % PREFETCH] = row_hash(src, r + PREFETCH, c->key_src, c->nkeys, keys);
        /* a row without a timestamp or a key can never be picked */
        if (!tc->valid[r] || len == 0)
            continue;
        if (len == (size_t)-1) {
            j->rc[part] = skiff_err_at(&j->err[part], SKIFF_ETOOBIG, src->name,
                                       src->line ? (int)src->line[r] : 0, 0,
                                       "join key longer than %zu bytes", sizeof key);
            return;
        }
        if ((id = features__keyidx_put_h(keys, key, len, h)) < 0) {
            j->rc[part] = skiff_err_set(&j->err[part], SKIFF_ENOMEM,
                                        "out of memory indexing '%s'", src->name);
            return;
        }
        j->ev[n].ts = tc->i64[r];
        /* a null created time sorts first, as Feast's sort puts nulls first */
        j->ev[n].created = cc && cc->valid[r] ? cc->i64[r] : INT64_MIN;
        j->ev[n].id = (uint32_t)id;
        j->ev[n++].row = (uint32_t)r;
    }
    j->nev[part] = n - from;
}

/* Merges the parts' indexes into c->keys and their events into ev[0..*nev). */
static int index_merge(struct index_job *j, size_t *nev, struct skiff_err *err)
{
    struct view_ctx *c = j->c;
    size_t n;
    uint32_t *remap = NULL;

    for (int p = 0; p < j->nparts; p++)
        if (j->rc[p]) {
            *err = j->err[p];   /* the first part's error: the earliest line */
            return j->rc[p];
        }
    n = j->nev[0];
    for (int p = 1; p < j->nparts; p++) {
        const struct features__keyidx *k = &j->keys[p];
        size_t from = c->src->nrows * (size_t)p / (size_t)j->nparts;
        if (!(remap = malloc((k->n + 1) * sizeof *remap)))
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory indexing '%s'", c->src->name);
        for (size_t id = 0; id < k->n; id++) {
            long g = features__keyidx_put(&c->keys, k->keys + k->koff[id], k->klen[id]);
            if (g < 0) {
                free(remap);
                return skiff_err_set(err, SKIFF_ENOMEM, "out of memory indexing '%s'",
                                     c->src->name);
            }
            remap[id] = (uint32_t)g;
        }
        for (size_t i = 0; i < j->nev[p]; i++) {
            struct features__event e = j->ev[from + i];
            e.id = remap[e.id];
            j->ev[n++] = e;   /* n <= from + i: moves down or stays */
        }
        free(remap);
        remap = NULL;
    }
    *nev = n;
    return 0;
}

/* Steps 1 and 2: read, index and sort the view's source. */
static int ctx_load(struct view_ctx *c, bool skip_bad, bool progress, size_t *skipped,
                    struct skiff_err *err)
{
    const struct skiff_feat_view *v = c->v;
    /* a push source is read through its batchSource (Feast's offline rule) */
    const struct skiff_feat_source *s = v->source->batch ? v->source->batch : v->source;
    size_t ncols = 0, nev = 0, ts_col, created_col = 0;
    struct skiff_feat_csv_col *cols;
    struct skiff_feat_csv_opts o = {0};
    struct features__event *ev = NULL, *sorted = NULL;
    struct fill_job fill;
    struct index_job idx = {0};
    uint32_t **interned = NULL;
    int64_t t0, t_keys, t_sort;
    int rc = 0;

    if (!s->path && !s->pg_table && !s->pg_query)
        return skiff_err_set(err, SKIFF_EINVAL,
                             "view '%s': data source '%s' has no rows to read (push and "
                             "request sources have no history; use a file or postgres source)",
                             v->name, s->name);
    if (!(cols = calloc(3 + v->nentities + v->nfields + v->naggs, sizeof *cols)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    ts_col = want(cols, &ncols, s->timestamp_field, SKIFF_FEAT_UNIX_TIMESTAMP);
    if (s->created_column)
        created_col = want(cols, &ncols, s->created_column, SKIFF_FEAT_UNIX_TIMESTAMP);
    c->nkeys = v->nentities;
    for (size_t i = 0; i < v->nentities; i++)
        c->key_src[i] = want(cols, &ncols, v->entities[i]->join_key, v->entities[i]->type);
    if (!(c->field_col = calloc(v->nfields + 1, sizeof *c->field_col)) ||
        !(c->agg_col = calloc(v->naggs + 1, sizeof *c->agg_col))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < v->nfields; i++)
        c->field_col[i] = (long)want(cols, &ncols, v->fields[i].name, v->fields[i].type);
    for (size_t i = 0; i < v->naggs; i++)
        c->agg_col[i] = v->aggs[i].column ? (long)want(cols, &ncols, v->aggs[i].column,
                                                       v->aggs[i].column_type) : -1;
    o.cols = cols;
    o.ncols = ncols;
    o.rename_from = s->rename_from;
    o.rename_to = s->rename_to;
    o.nrename = s->nrename;
    o.skip_bad_rows = skip_bad;
    o.progress = progress;
    c->read_us = skiff_time_mono_us();
    if ((rc = skiff_feat_source_read(s, &o, &c->src, skipped, err))) {
        skiff_err_prefix(err, "view '%s'", v->name);
        goto out;
    }
    c->read_us = skiff_time_mono_us() - c->read_us;
    t0 = skiff_time_mono_us();
    if (c->src->nrows >= UINT32_MAX) {
        rc = skiff_err_set(err, SKIFF_ETOOBIG, "'%s' has more than %u rows", c->src->name,
                           UINT32_MAX);
        goto out;
    }
    /* the line numbers only name a row whose key is too long, which only
     * STRING keys can be: without one they go before the events, the peak
     * of memory (10M rows: 80 MB) */
    bool string_key = false;
    for (size_t i = 0; i < c->nkeys; i++)
        string_key |= c->src->cols[c->key_src[i]].type == SKIFF_FEAT_STRING;
    if (!string_key) {
        free(c->src->line);
        c->src->line = NULL;
    }
    if (!(ev = malloc((c->src->nrows + 1) * sizeof *ev))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory sorting '%s'", c->src->name);
        goto out;
    }
    idx.c = c;
    idx.ev = ev;
    idx.ts_col = ts_col;
    idx.created_col = s->created_column ? (long)created_col : -1;
    idx.nparts = c->src->nrows < 65536 ? 1 : c->nt;
    features__parallel(idx.nparts, index_part, &idx);
    if ((rc = index_merge(&idx, &nev, err)))
        goto out;
    /* aggregations over the same column share its sorted copy (avg and
     * stddev of amount), and a STRING column that only count_distinct reads
     * is numbered now, so that its text can go before the sort */
    if (!(c->asame = calloc(v->naggs + 1, sizeof *c->asame)) ||
        !(interned = calloc(v->naggs + 1, sizeof *interned))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t a = 0; a < v->naggs; a++) {
        c->asame[a] = (long)a;
        for (size_t b = 0; b < a && c->asame[a] == (long)a; b++)
            if (c->agg_col[b] == c->agg_col[a] && numbered(c, b) == numbered(c, a))
                c->asame[a] = (long)b;
        if (c->agg_col[a] >= 0 && numbered(c, a) && c->asame[a] == (long)a &&
            (!(interned[a] = malloc((c->src->nrows + 1) * sizeof **interned)) ||
             features__intern_strings(&c->src->cols[c->agg_col[a]], c->src->nrows, c->nt,
                                      interned[a]))) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
    }
    /* the events now hold the timestamps, created times and key ids: the
     * columns only they needed go before the sort, the peak of memory
     * (10M rows: 3 columns and the line numbers, 320 MB of 1.6 GB) */
    for (size_t i = 0; i < c->src->ncols; i++) {
        bool used = false;
        for (size_t k = 0; k < v->nfields; k++)
            used |= c->field_col[k] == (long)i;
        for (size_t a = 0; a < v->naggs; a++)
            used |= c->agg_col[a] == (long)i && !numbered(c, a);
        if (!used)
            features__column_drop(&c->src->cols[i]);
    }
    free(c->src->line);
    c->src->line = NULL;
    if (!(c->start = calloc(c->keys.n + 1, sizeof *c->start)) ||
        !(sorted = malloc((nev + 1) * sizeof *sorted))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory sorting '%s'", c->src->name);
        goto out;
    }
    t_keys = skiff_time_mono_us();
    if (features__sort_events(ev, nev, c->keys.n, sorted, c->start, c->nt)) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory sorting '%s'", c->src->name);
        goto out;
    }
    t_sort = skiff_time_mono_us();
    free(ev);
    ev = sorted;
    sorted = NULL;
    if (!(c->sts = malloc((nev + 1) * sizeof *c->sts)) ||
        !(c->srow = malloc((nev + 1) * sizeof *c->srow))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory sorting '%s'", c->src->name);
        goto out;
    }
    fill.c = c;
    fill.ev = ev;
    fill.n = nev;
    fill.interned = interned;
    features__parallel(nev < 65536 ? 1 : c->nt, fill_keys, &fill);
    /* the sorted events are in sts and srow now: they go before the columns
     * are laid out */
    free(ev);
    ev = NULL;
    fill.ev = NULL;
    if (!(c->avals = calloc(v->naggs + 1, sizeof *c->avals)) ||
        !(c->astrs = calloc(v->naggs + 1, sizeof *c->astrs)) ||
        !(c->avalid = calloc(v->naggs + 1, sizeof *c->avalid))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t a = 0; a < v->naggs; a++) {
        const struct skiff_feat_column *col;
        if (c->agg_col[a] < 0 || c->asame[a] != (long)a)
            continue;
        col = &c->src->cols[c->agg_col[a]];
        if (!(c->avalid[a] = malloc(nev + 1)) ||
            (col->type == SKIFF_FEAT_STRING && !numbered(c, a)
                 ? !(c->astrs[a] = malloc((nev + 1) * sizeof(char *)))
                 : !(c->avals[a] = malloc((nev + 1) * sizeof(double))))) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
    }
    features__parallel(nev < 65536 ? 1 : c->nt, fill_aggs, &fill);
    for (size_t a = 0; a < v->naggs; a++) {
        size_t b = (size_t)c->asame[a];   /* shared: borrowed from b, freed with it */
        c->avals[a] = c->avals[b];
        c->astrs[a] = c->astrs[b];
        c->avalid[a] = c->avalid[b];
    }
    skiff_debug("view '%s': %zu keys indexed in %.3f s, sorted in %.3f s, columns laid out "
                "in sorted order in %.3f s", v->name, c->keys.n, (double)(t_keys - t0) / 1e6,
                (double)(t_sort - t_keys) / 1e6, (double)(skiff_time_mono_us() - t_sort) / 1e6);
out:
    for (int p = 1; p < idx.nparts; p++)
        features__keyidx_release(&idx.keys[p]);
    for (size_t a = 0; interned && a < v->naggs; a++)
        free(interned[a]);
    free(interned);
    free(ev);
    free(sorted);
    free(cols);
    return rc;
}

/* Writes value `val` of feature k of entity row `row` to the output. */
static void put(struct view_ctx *c, size_t k, size_t row, const struct skiff_feat_value *val)
{
    struct skiff_feat_column *oc;
    if (c->outcol[k] < 0 || !val->valid)
        return;
    oc = &c->out->cols[c->outcol[k]];
    if (oc->type == SKIFF_FEAT_STRING)
        c->strtmp[k][row] = val->s;   /* copied into the pool by one thread afterwards */
    else if (oc->f64)
        oc->f64[row] = val->f;
    else
        oc->i64[row] = val->i;
    oc->valid[row] = 1;
}

static double as_double(const struct skiff_feat_value *v)
{
    return v->type == SKIFF_FEAT_DOUBLE || v->type == SKIFF_FEAT_FLOAT ? v->f : (double)v->i;
}

struct worker {
    struct view_ctx *c;
    size_t from, to;
    int rc;
    struct skiff_err err;
};

/* Entity row r's key run (start s, length n) and the index of its PIT
 * row in it (-1: none), with the picked row's cells prefetched. */
struct pick {
    size_t s, n;
    long pick;
};

static struct pick pick_row(const struct view_ctx *c, size_t r)
{
    struct pick p = {0, 0, -1};
    uint32_t id = c->eid[r];
    if (id == UINT32_MAX)
        return p;
    p.s = c->start[id];
    p.n = c->start[id + 1] - p.s;
    if (p.n)
        p.pick = skiff_feat_pit_pick(c->sts + p.s, p.n, c->ent->cols[c->ent_ts].i64[r],
                                     c->v->ttl_us);
    if (p.pick >= 0) {
        uint32_t row = c->srow[p.s + (size_t)p.pick];
        for (size_t k = 0; k < c->v->nfields; k++) {
            const struct skiff_feat_column *sc = &c->src->cols[c->field_col[k]];
            __builtin_prefetch(&sc->valid[row]);
            __builtin_prefetch(sc->f64   ? (const void *)&sc->f64[row]
                               : sc->i64 ? (const void *)&sc->i64[row]
                                         : (const void *)&sc->off[row]);
        }
    }
    return p;
}

/* Step 3 for entity rows order[from, to). */
static void *work(void *arg)
{
    struct worker *w = arg;
    struct view_ctx *c = w->c;
    const struct skiff_feat_view *v = c->v;
    const struct skiff_feat_column *ets = &c->ent->cols[c->ent_ts];
    struct skiff_feat_scratch scratch = {NULL, 0};
    struct skiff_feat_value *vals = calloc(c->nfeat + 1, sizeof *vals);
    double *num = calloc(c->nfeat + 1, sizeof *num);
    uint8_t *ok = calloc(c->nfeat + 1, 1);
    struct pick ahead[PREFETCH];

    if (!vals || !num || !ok) {
        w->rc = skiff_err_set(&w->err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = w->from; i < w->to && i < w->from + PREFETCH; i++)
        ahead[i % PREFETCH] = pick_row(c, c->order[i]);
    for (size_t i = w->from; i < w->to; i++) {
        size_t r = c->order[i];
        struct pick pk = ahead[i % PREFETCH];
        size_t s = pk.s, n = pk.n;
        int64_t t = ets->i64[r];
        long pick = pk.pick;

        /* the picked source row PREFETCH entity rows on: its cells are random
         * in a 10M-row table, fetched while this row is computed */
        if (i + PREFETCH < w->to)
            ahead[i % PREFETCH] = pick_row(c, c->order[i + PREFETCH]);

        for (size_t k = 0; k < v->nfields; k++) {
            const struct skiff_feat_column *sc = &c->src->cols[c->field_col[k]];
            uint32_t row = pick >= 0 ? c->srow[s + (size_t)pick] : 0;
            struct skiff_feat_value *x = &vals[k];
            x->type = sc->type;
            x->valid = pick >= 0 && sc->valid[row];
            if (!x->valid)
                continue;
            if (sc->type == SKIFF_FEAT_STRING)
                x->s = sc->pool + sc->off[row];
            else if (sc->f64)
                x->f = sc->f64[row];
            else
                x->i = sc->i64[row];
        }
        for (size_t a = 0; a < v->naggs; a++) {
            struct skiff_feat_events e = {c->sts + s, c->avals[a] ? c->avals[a] + s : NULL,
                                          c->astrs[a] ? c->astrs[a] + s : NULL,
                                          c->avalid[a] ? c->avalid[a] + s : NULL, n};
            if ((w->rc = skiff_feat_agg_compute(&v->aggs[a], &e, t, &vals[v->nfields + a],
                                                &scratch, &w->err)))
                goto out;
        }
        for (size_t k = 0; k < v->nfields + v->naggs; k++) {
            ok[k] = vals[k].valid && vals[k].type != SKIFF_FEAT_STRING;
            num[k] = ok[k] ? as_double(&vals[k]) : 0;
        }
        for (size_t d = 0; d < v->nderived; d++) {
            size_t k = v->nfields + v->naggs + d;
            vals[k].type = SKIFF_FEAT_DOUBLE;
            vals[k].valid = skiff_feat_expr_eval(v->derived[d].expr, num, ok, &vals[k].f);
            ok[k] = vals[k].valid;
            num[k] = vals[k].f;
        }
        for (size_t k = 0; k < c->nfeat; k++)
            put(c, k, r, &vals[k]);
        if ((i - w->from) % 16384 == 16383)
            features__progress_add(&c->bar, 16384);
    }
out:
    free(scratch.buf);
    free(vals);
    free(num);
    free(ok);
    return NULL;
}

/* Each entity row's key id (UINT32_MAX: none; a null key or time, possible
 * through the C API, matches nothing), a slice of rows per part. */
static void entity_ids(void *arg, int part, int nparts)
{
    struct view_ctx *c = arg;
    const struct skiff_feat_column *ets = &c->ent->cols[c->ent_ts];
    size_t m = c->ent->nrows, from = m * (size_t)part / (size_t)nparts;
    size_t to = m * (size_t)(part + 1) / (size_t)nparts;
    uint64_t ahead[PREFETCH];
    char key[4096];

    for (size_t r = from; r < to && r < from + PREFETCH; r++)
        ahead[r % PREFETCH] = row_hash(c->ent, r, c->key_ent, c->nkeys, &c->keys);
    for (size_t r = from; r < to; r++) {
        size_t len = features__key_bytes(c->ent, r, c->key_ent, c->nkeys, key, sizeof key);
        uint64_t h = ahead[r % PREFETCH];
        long id;
        if (r + PREFETCH < to)
            ahead[r % PREFETCH] = row_hash(c->ent, r + PREFETCH, c->key_ent, c->nkeys, &c->keys);
        id = len && len != (size_t)-1 && ets->valid[r]
                 ? features__keyidx_get_h(&c->keys, key, len, h) : -1;
        c->eid[r] = id < 0 ? UINT32_MAX : (uint32_t)id;
    }
}

/* The entity rows grouped by key id (rows without one first), file order
 * inside a group: a counting sort. The workers then visit one key's rows
 * one after the other, and its sorted source run, which each of them
 * binary-searches, stays in the cache instead of being fetched again for
 * every row (1M entity rows over 100k keys: 10 rows a key). */
static int group_entities(struct view_ctx *c, struct skiff_err *err)
{
    size_t m = c->ent->nrows, nids = c->keys.n;
    size_t *next = calloc(nids + 2, sizeof *next);

    if (!next)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    for (size_t r = 0; r < m; r++)
        next[c->eid[r] == UINT32_MAX ? 0 : c->eid[r] + 1]++;
    for (size_t id = 0, at = 0; id < nids + 1; id++) {
        size_t n = next[id];
        next[id] = at;
        at += n;
    }
    for (size_t r = 0; r < m; r++)
        c->order[next[c->eid[r] == UINT32_MAX ? 0 : c->eid[r] + 1]++] = (uint32_t)r;
    free(next);
    return 0;
}

static int run_workers(struct view_ctx *c, int threads, struct skiff_err *err)
{
    struct worker w[8];
    pthread_t tid[8];
    size_t m = c->ent->nrows;
    int nt = threads <= 0 ? 2 : threads > 8 ? 8 : threads, started = 0, rc = 0;

    if (m < 4096)
        nt = 1;   /* a thread costs more than it saves on small inputs */
    if (m >= UINT32_MAX)
        return skiff_err_set(err, SKIFF_ETOOBIG, "'%s' has more than %u rows", c->ent->name,
                             UINT32_MAX);
    if (!(c->eid = malloc((m + 1) * sizeof *c->eid)) ||
        !(c->order = malloc((m + 1) * sizeof *c->order)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    features__parallel(nt, entity_ids, c);
    if ((rc = group_entities(c, err)))
        return rc;
    for (int i = 0; i < nt; i++) {
        w[i] = (struct worker){c, m * (size_t)i / (size_t)nt, m * (size_t)(i + 1) / (size_t)nt,
                               0, SKIFF_ERR_INIT};
    }
    for (int i = 1; i < nt; i++) {
        if (pthread_create(&tid[i], NULL, work, &w[i]) != 0) {
            /* out of threads: this one does the rest */
            w[started].to = m;
            break;
        }
        started = i;
    }
    work(&w[0]);
    for (int i = 1; i <= started; i++)
        pthread_join(tid[i], NULL);
    for (int i = 0; i <= started; i++)
        if (w[i].rc && !rc) {
            rc = w[i].rc;
            *err = w[i].err;
        }
    return rc;
}

/* The output name of feature k of projection p. */
static void out_name(const struct skiff_feat_projection *p, size_t k, bool full, char *buf,
                     size_t n)
{
    if (full)
        snprintf(buf, n, "%s__%s", p->view->name, feature_name(p->view, k));
    else
        snprintf(buf, n, "%s", feature_name(p->view, k));
}

static size_t nfeatures(const struct skiff_feat_view *v)
{
    return v->nfields + v->naggs + v->nderived;
}

/* Whether projection p asks for feature k of its view. */
static bool asks(const struct skiff_feat_projection *p, size_t k)
{
    if (p->nfeatures == 0)
        return true;
    for (size_t i = 0; i < p->nfeatures; i++)
        if (strcmp(p->features[i], feature_name(p->view, k)) == 0)
            return true;
    return false;
}

/* The output table: one column per requested feature, in service order. */
static int make_output(const struct skiff_feat_service *svc, size_t nrows, bool full,
                       struct skiff_feat_table **out, struct skiff_err *err)
{
    size_t n = 0, cap = 0;
    char **names = NULL;
    enum skiff_feat_type *types = NULL;
    int rc = 0;

    for (size_t p = 0; p < svc->nproj; p++)
        cap += nfeatures(svc->proj[p].view);
    if (!(names = calloc(cap + 1, sizeof *names)) || !(types = calloc(cap + 1, sizeof *types))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t p = 0; p < svc->nproj; p++) {
        const struct skiff_feat_projection *pr = &svc->proj[p];
        for (size_t k = 0; k < nfeatures(pr->view); k++) {
            char name[512];
            if (!asks(pr, k))
                continue;
            out_name(pr, k, full, name, sizeof name);
            for (size_t j = 0; j < n; j++)
                if (strcmp(names[j], name) == 0) {
                    rc = skiff_err_set(err, SKIFF_EINVAL,
                                       "feature service '%s': two features are named '%s'%s",
                                       svc->name, name,
                                       full ? "" : " (use --full-feature-names)");
                    goto out;
                }
            if (!(names[n] = strdup(name))) {
                rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
                goto out;
            }
            types[n++] = feature_type(pr->view, k);
        }
    }
    if ((rc = skiff_feat_table_new("output", (const char *const *)names, types, n, out, err)) ||
        (rc = skiff_feat_table_grow(*out, nrows, err)))
        goto out;
out:
    for (size_t i = 0; names && i < n; i++)
        free(names[i]);
    free(names);
    free(types);
    if (rc) {
        skiff_feat_table_free(*out);
        *out = NULL;
    }
    return rc;
}

int skiff_feat_historical(const struct skiff_feat_service *svc,
                          const struct skiff_feat_table *entities,
                          const struct skiff_feat_historical_opts *o,
                          struct skiff_feat_table **out, size_t *skipped, struct skiff_err *err)
{
    struct skiff_feat_table *res = NULL;
    long ent_ts = skiff_feat_table_col(entities, "event_timestamp");
    size_t col = 0;
    int rc;

    *out = NULL;
    if (skipped)
        *skipped = 0;
    if (ent_ts < 0 || entities->cols[ent_ts].type != SKIFF_FEAT_UNIX_TIMESTAMP)
        return skiff_err_set(err, SKIFF_EINVAL, "'%s': no event_timestamp column",
                             entities->name);
    if ((rc = make_output(svc, entities->nrows, o->full_feature_names, &res, err)))
        return rc;
    for (size_t p = 0; p < svc->nproj; p++) {
        const struct skiff_feat_projection *pr = &svc->proj[p];
        struct view_ctx c = {.v = pr->view, .ent = entities, .ent_ts = (size_t)ent_ts, .out = res,
                             .nt = o->threads <= 0 ? 2 : o->threads > 8 ? 8 : o->threads};
        size_t nskip = 0;
        char label[64];

        c.nfeat = nfeatures(pr->view);
        if (pr->view->nentities > sizeof c.key_src / sizeof *c.key_src) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "view '%s': more than 16 entities",
                               pr->view->name);
            goto next;
        }
        if (!(c.outcol = calloc(c.nfeat + 1, sizeof *c.outcol)) ||
            !(c.strtmp = calloc(c.nfeat + 1, sizeof *c.strtmp))) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto next;
        }
        for (size_t k = 0; k < c.nfeat; k++) {
            c.outcol[k] = asks(pr, k) ? (long)col++ : -1;
            if (c.outcol[k] >= 0 && res->cols[c.outcol[k]].type == SKIFF_FEAT_STRING &&
                !(c.strtmp[k] = calloc(entities->nrows + 1, sizeof(char *)))) {
                rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
                goto next;
            }
        }
        for (size_t i = 0; i < pr->view->nentities; i++) {
            const struct skiff_feat_entity *e = pr->view->entities[i];
            long ec = skiff_feat_table_col(entities, e->join_key);
            if (ec < 0 || entities->cols[ec].type != e->type) {
                rc = skiff_err_set(err, SKIFF_EINVAL,
                                   "'%s': no column '%s' (the join key of entity '%s', view '%s')",
                                   entities->name, e->join_key, e->name, pr->view->name);
                goto next;
            }
            c.key_ent[i] = (size_t)ec;
        }
        int64_t t0 = skiff_time_mono_us(), t1;
        if ((rc = ctx_load(&c, o->skip_bad_rows, o->progress, &nskip, err)))
            goto next;
        t1 = skiff_time_mono_us();
        snprintf(label, sizeof label, "joining %s", pr->view->name);
        features__progress_start(&c.bar, o->progress, label, entities->nrows);
        rc = run_workers(&c, o->threads, err);
        if (rc == 0)
            features__progress_add(&c.bar, entities->nrows);   /* the rows not counted in 16k */
        features__progress_end(&c.bar);
        if (rc)
            goto next;
        /* the phases separately: reading a CSV costs more than the join (bench/) */
        skiff_debug("view '%s': read %zu rows in %.3f s, indexed and sorted them in %.3f s, "
                    "joined %zu entity rows in %.3f s", pr->view->name, c.src->nrows,
                    (double)c.read_us / 1e6, (double)(t1 - t0 - c.read_us) / 1e6,
                    entities->nrows, (double)(skiff_time_mono_us() - t1) / 1e6);
        if (skipped)
            *skipped += nskip;
        /* strings picked by the workers, copied while the source is still loaded */
        for (size_t k = 0; k < c.nfeat; k++)
            for (size_t r = 0; c.strtmp[k] && r < entities->nrows; r++)
                if (c.strtmp[k][r] &&
                    (rc = features__pool_put(&res->cols[c.outcol[k]], r, c.strtmp[k][r],
                                             strlen(c.strtmp[k][r]), err)))
                    goto next;
    next:
        ctx_release(&c);
        if (rc) {
            skiff_feat_table_free(res);
            return rc;
        }
    }
    *out = res;
    return 0;
}

int skiff_feat_entities_read(const struct skiff_feat_service *svc, const char *path,
                             struct skiff_feat_table **out, struct skiff_err *err)
{
    struct skiff_feat_csv_col cols[64];
    struct skiff_feat_csv_opts o = {0};
    size_t n = 0;

    cols[n++] = (struct skiff_feat_csv_col){"event_timestamp", SKIFF_FEAT_UNIX_TIMESTAMP, true};
    for (size_t p = 0; p < svc->nproj; p++)
        for (size_t i = 0; i < svc->proj[p].view->nentities; i++) {
            const struct skiff_feat_entity *e = svc->proj[p].view->entities[i];
            size_t j = 0;
            while (j < n && strcmp(cols[j].name, e->join_key) != 0)
                j++;
            if (j < n)
                continue;
            if (n == sizeof cols / sizeof *cols)
                return skiff_err_set(err, SKIFF_EINVAL, "more than 63 join keys");
            cols[n++] = (struct skiff_feat_csv_col){e->join_key, e->type, false};
        }
    o.cols = cols;
    o.ncols = n;
    o.keep_others = true;
    o.keep_text = true;
    return skiff_feat_csv_read(path, &o, out, NULL, err);
}
