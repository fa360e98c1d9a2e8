/* Materialization: offline source -> online store (include/skiff/online.h,
 * skiff_online_materialize; specs/feast.md 4).
 *
 * Per online view:
 *   1. read the source (a push source reads its batchSource);
 *   2. per entity key, the latest row with START <= ts <= END (both ends
 *      inclusive, as Feast's BETWEEN), ties to the larger created time, then
 *      the later row of the file;
 *   3. for aggregation views, every event in (END - longest window, END],
 *      ordered as historical retrieval orders them (ts, created, file
 *      order), so the aggregates served at END are what historical
 *      retrieval computes at END, by the same skiff_feat_agg_compute;
 *   4. write in batches (one LMDB transaction each): a row only replaces an
 *      older one, and a record's events in (END - window, END] are replaced
 *      by the source's, so a second run, or a run after one killed halfway,
 *      ends in the same state;
 *   5. the view's watermark = END, written last: an interrupted run leaves
 *      the old watermark, and materialize-incremental redoes the interval.
 */
#include "online_int.h"

#include "skiff/err.h"
#include "skiff/log.h"
#include "skiff/time.h"

#include <stdlib.h>
#include <string.h>

#define BATCH 4096
#define WEEK (7 * 86400 * SKIFF_US_PER_SEC)

/* The source whose rows a view materializes from: its own, or the
 * batchSource of a push source (found in the loaded documents). */
const char *online__push_batch(const struct skiff_feat_registry *r, const char *push)
{
    size_t i;
    json_t *d;
    json_array_foreach(r->docs, i, d) {
        const char *kind = json_string_value(json_object_get(d, "kind"));
        const char *name = json_string_value(json_object_get(json_object_get(d, "metadata"),
                                                             "name"));
        const char *batch = json_string_value(json_object_get(
            json_object_get(json_object_get(d, "spec"), "push"), "batchSource"));
        if (kind && name && batch && strcmp(kind, "DataSource") == 0 && strcmp(name, push) == 0)
            return batch;
    }
    return NULL;
}

const struct skiff_feat_source *online__batch_source(const struct skiff_feat_registry *r,
                                                     const struct skiff_feat_view *v)
{
    const struct skiff_feat_source *s = v->source;
    const char *batch;
    if (s->path || s->pg_table || s->pg_query || !(batch = online__push_batch(r, s->name)))
        return s;
    for (size_t k = 0; k < r->nsources; k++)
        if (strcmp(r->sources[k].name, batch) == 0)
            return &r->sources[k];
    return s;
}

static size_t want(struct skiff_feat_csv_col *cols, size_t *n, const char *name,
                   enum skiff_feat_type type)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(cols[i].name, name) == 0)
            return i;
    cols[*n] = (struct skiff_feat_csv_col){name, type, false};
    return (*n)++;
}

/* Cell (row, col) as a value of its column's type; strings borrowed. */
static void cell(const struct skiff_feat_table *t, size_t col, size_t row,
                 struct skiff_feat_value *x)
{
    const struct skiff_feat_column *c = &t->cols[col];
    memset(x, 0, sizeof *x);
    x->type = c->type;
    x->valid = c->valid[row];
    if (!x->valid)
        return;
    if (c->type == SKIFF_FEAT_STRING)
        x->s = c->pool + c->off[row];
    else if (c->f64)
        x->f = c->f64[row];
    else
        x->i = c->i64[row];
}

/* The entity key of source row r (text of each join-key cell). */
static size_t row_key(const struct skiff_feat_view *v, const struct skiff_feat_table *t,
                      const size_t *kcol, size_t r, char *buf)
{
    char nums[16][32];
    const char *vals[16];
    for (size_t i = 0; i < v->nentities; i++) {
        const struct skiff_feat_column *c = &t->cols[kcol[i]];
        if (!c->valid[r])
            return 0;
        if (c->type == SKIFF_FEAT_STRING) {
            vals[i] = c->pool + c->off[r];
        } else {
            snprintf(nums[i], sizeof nums[i], "%lld",
                     (long long)(c->i64 ? c->i64[r] : (int64_t)c->f64[r]));
            vals[i] = nums[i];
        }
    }
    return online__key(v, vals, buf, ONLINE_MAX_KEY);
}

struct ev {
    uint32_t id, row;
    int64_t ts, created;
};

static int ev_cmp(const void *a, const void *b)
{
    const struct ev *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->created != y->created)
        return x->created < y->created ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

struct batch {
    struct online__ref *refs;
    int64_t *ts, *created;
    struct skiff_feat_value *fields;
    size_t *ev_off;
    int64_t *agg_ts;
    struct skiff_feat_value *agg_vals;
    size_t n, nev, evcap;
};

static void batch_release(struct batch *b)
{
    free(b->refs);
    free(b->ts);
    free(b->created);
    free(b->fields);
    free(b->ev_off);
    free(b->agg_ts);
    free(b->agg_vals);
}

static int materialize_view(struct skiff_online *o, const struct skiff_feat_registry *reg,
                            const struct skiff_feat_view *v, int64_t start, int64_t end,
                            bool progress, size_t *written, struct skiff_err *err)
{
    const struct skiff_feat_source *s = online__batch_source(reg, v);
    struct skiff_feat_csv_col cols[128];
    struct skiff_feat_csv_opts co = {0};
    struct skiff_feat_table *t = NULL;
    struct features__keyidx keys = {0};
    struct features__progress bar;
    size_t ncols = 0, tsc, crc = 0, kcol[16], fcol[64], acol[64], nev = 0;
    long *best = NULL;
    struct ev *evs = NULL;
    struct batch b = {0};
    int64_t w = online__max_window(v), lo = end - w;
    size_t nf = v->nfields, na = v->naggs;
    int rc = 0;

    if (v->nentities > 16 || nf > 64 || na > 64 || 2 + v->nentities + nf + na > 128)
        return skiff_err_set(err, SKIFF_EINVAL, "view '%s': too many entities or features to "
                             "materialize", v->name);
    if (!s->path && !s->pg_table && !s->pg_query)
        return skiff_err_set(err, SKIFF_EINVAL, "view '%s': source '%s' has no rows to "
                             "materialize (a push source needs a batchSource)", v->name,
                             s->name);
    tsc = want(cols, &ncols, s->timestamp_field, SKIFF_FEAT_UNIX_TIMESTAMP);
    if (s->created_column)
        crc = want(cols, &ncols, s->created_column, SKIFF_FEAT_UNIX_TIMESTAMP);
    for (size_t i = 0; i < v->nentities; i++)
        kcol[i] = want(cols, &ncols, v->entities[i]->join_key, v->entities[i]->type);
    for (size_t k = 0; k < nf; k++)
        fcol[k] = want(cols, &ncols, v->fields[k].name, v->fields[k].type);
    for (size_t a = 0; a < na; a++)
        acol[a] = v->aggs[a].column ? want(cols, &ncols, v->aggs[a].column,
                                           v->aggs[a].column_type) : (size_t)-1;
    co.cols = cols;
    co.ncols = ncols;
    co.rename_from = s->rename_from;
    co.rename_to = s->rename_to;
    co.nrename = s->nrename;
    co.progress = progress;
    if ((rc = skiff_feat_source_read(s, &co, &t, NULL, err)))
        return skiff_err_prefix(err, "view '%s'", v->name);
    if (t->nrows >= UINT32_MAX) {
        rc = skiff_err_set(err, SKIFF_ETOOBIG, "'%s': too many rows", t->name);
        goto out;
    }
    if (!(best = malloc((t->nrows + 1) * sizeof *best)) ||
        (na && !(evs = malloc((t->nrows + 1) * sizeof *evs)))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    /* steps 2 and 3: key ids, the latest row and the window's events per id */
    for (size_t r = 0; r < t->nrows; r++) {
        char key[ONLINE_MAX_KEY];
        const struct skiff_feat_column *tc = &t->cols[tsc];
        size_t len;
        long id;
        int64_t ts, cr;
        bool in_rows, in_events;
        if (!tc->valid[r])
            continue;
        ts = tc->i64[r];
        cr = s->created_column && t->cols[crc].valid[r] ? t->cols[crc].i64[r] : INT64_MIN;
        in_rows = ts >= start && ts <= end;
        in_events = na && ts > lo && ts <= end;
        if (!in_rows && !in_events)
            continue;
        if (!(len = row_key(v, t, kcol, r, key)))
            continue;
        size_t before = keys.n;
        if ((id = features__keyidx_put(&keys, key, len)) < 0) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
        if (keys.n > before)
            best[id] = -1;   /* a new key */
        if (in_rows) {
            long bi = best[id];
            int64_t bts = bi >= 0 ? tc->i64[bi] : 0;
            int64_t bcr = bi >= 0 && s->created_column && t->cols[crc].valid[bi]
                              ? t->cols[crc].i64[bi] : INT64_MIN;
            if (bi < 0 || ts > bts || (ts == bts && cr >= bcr))
                best[id] = (long)r;
        }
        if (in_events)
            evs[nev++] = (struct ev){(uint32_t)id, (uint32_t)r, ts, cr};
    }
    if (nev)
        qsort(evs, nev, sizeof *evs, ev_cmp);
    /* step 4: batches of entities */
    if (!(b.refs = calloc(BATCH, sizeof *b.refs)) || !(b.ts = calloc(BATCH, sizeof *b.ts)) ||
        !(b.created = calloc(BATCH, sizeof *b.created)) ||
        !(b.fields = calloc(BATCH * nf + 1, sizeof *b.fields)) ||
        !(b.ev_off = calloc(BATCH + 1, sizeof *b.ev_off))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    {
        char label[64];
        snprintf(label, sizeof label, "materializing %s", v->name);
        features__progress_start(&bar, progress, label, keys.n);
    }
    for (size_t id0 = 0, e = 0; id0 < keys.n; id0 += BATCH) {
        size_t n = keys.n - id0 < BATCH ? keys.n - id0 : BATCH;
        struct online__write wr = {0};
        b.n = 0;
        b.nev = 0;
        for (size_t j = 0; j < n; j++) {
            size_t id = id0 + j;
            long bi = best[id];
            b.refs[j] = (struct online__ref){keys.keys + keys.koff[id], keys.klen[id], v->name};
            b.ts[j] = bi >= 0 ? t->cols[tsc].i64[bi] : ONLINE_NO_ROW;
            b.created[j] = bi >= 0 && s->created_column && t->cols[crc].valid[bi]
                               ? t->cols[crc].i64[bi] : INT64_MIN;
            for (size_t k = 0; k < nf; k++)
                if (bi >= 0)
                    cell(t, fcol[k], (size_t)bi, &b.fields[j * nf + k]);
                else
                    memset(&b.fields[j * nf + k], 0, sizeof b.fields[0]);
            b.ev_off[j] = b.nev;
            for (; e < nev && evs[e].id == id; e++) {
                if (b.nev == b.evcap) {
                    size_t cap = b.evcap ? 2 * b.evcap : 1024;
                    int64_t *nt = realloc(b.agg_ts, cap * sizeof *nt);
                    struct skiff_feat_value *nv;
                    if (nt)
                        b.agg_ts = nt;
                    if (!nt || !(nv = realloc(b.agg_vals, cap * na * sizeof *nv))) {
                        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
                        goto out_bar;
                    }
                    b.agg_vals = nv;
                    b.evcap = cap;
                }
                b.agg_ts[b.nev] = evs[e].ts;
                for (size_t a = 0; a < na; a++) {
                    struct skiff_feat_value *x = &b.agg_vals[b.nev * na + a];
                    if (acol[a] == (size_t)-1) {
                        memset(x, 0, sizeof *x);
                        x->valid = true;
                        x->type = v->aggs[a].column_type;
                    } else {
                        cell(t, acol[a], evs[e].row, x);
                    }
                }
                b.nev++;
            }
        }
        b.ev_off[n] = b.nev;
        wr.v = v;
        wr.n = n;
        wr.refs = b.refs;
        wr.ts = b.ts;
        wr.created = b.created;
        wr.fields = b.fields;
        if (na) {
            wr.ev_off = b.ev_off;
            wr.agg_ts = b.agg_ts;
            wr.agg_vals = b.agg_vals;
            wr.ev_lo = lo;
            wr.ev_hi = end;
        }
        if ((rc = online__write_rows(o, &wr, err)))
            goto out_bar;
        features__progress_add(&bar, n);
    }
    if (written)
        *written += keys.n;
out_bar:
    features__progress_end(&bar);
    if (rc == 0)
        rc = online__watermark_set(o, v->name, end, err);   /* step 5: last */
out:
    batch_release(&b);
    free(best);
    free(evs);
    features__keyidx_release(&keys);
    skiff_feat_table_free(t);
    return rc;
}

/* The views to materialize: the named ones (each must exist and be
 * online), or every online view. */
static int pick_views(const struct skiff_feat_registry *reg, const char *const *names,
                      size_t n, const struct skiff_feat_view **out, size_t *nout,
                      struct skiff_err *err)
{
    *nout = 0;
    if (n == 0) {
        for (size_t i = 0; i < reg->nviews; i++)
            if (reg->views[i].online)
                out[(*nout)++] = &reg->views[i];
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const struct skiff_feat_view *v = skiff_feat_view_get(reg, names[i]);
        if (!v)
            return skiff_err_set(err, SKIFF_ENOTFOUND, "no FeatureView '%s'", names[i]);
        if (!v->online)
            return skiff_err_set(err, SKIFF_EINVAL, "FeatureView '%s' is not online "
                                 "(online: false)", names[i]);
        out[(*nout)++] = v;
    }
    return 0;
}

int skiff_online_materialize(struct skiff_online *o, const struct skiff_feat_registry *reg,
                             int64_t start_us, int64_t end_us,
                             const struct skiff_online_materialize_opts *opts,
                             struct skiff_err *err)
{
    const struct skiff_feat_view **views;
    size_t nv, written = 0;
    int rc;

    if (!opts->incremental && start_us >= end_us)
        return skiff_err_set(err, SKIFF_EINVAL, "the start of the interval must be before its "
                             "end");
    if (!(views = calloc(reg->nviews + opts->nviews + 1, sizeof *views)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if ((rc = pick_views(reg, opts->views, opts->nviews, views, &nv, err)))
        goto out;
    for (size_t i = 0; i < nv; i++) {
        int64_t start = start_us, wm = 0, now = skiff_time_now_us();
        bool found = false;
        char a[40], b[40];
        if (opts->incremental) {
            /* Feast: the last end, else now - ttl, else now - 52 weeks */
            if ((rc = online__watermark_get(o, views[i]->name, &wm, &found, err)))
                goto out;
            start = found ? wm : views[i]->ttl_us > 0 ? now - views[i]->ttl_us : now - 52 * WEEK;
            if (start >= end_us) {
                if (opts->log)
                    fprintf(opts->log, "%s: up to date (materialized to %s)\n", views[i]->name,
                            features__time_str(start, a, sizeof a));
                continue;
            }
        }
        written = 0;
        if ((rc = materialize_view(o, reg, views[i], start, end_us, opts->progress, &written,
                                   err)))
            goto out;
        if (opts->log)
            fprintf(opts->log, "%s: %zu entit%s from %s to %s\n", views[i]->name, written,
                    written == 1 ? "y" : "ies", features__time_str(start, a, sizeof a),
                    features__time_str(end_us, b, sizeof b));
    }
out:
    free(views);
    return rc;
}
