/* The orderings historical retrieval is built on (features_int.h):
 * running a job over an array on several threads, the parallel sort of a
 * source's events by (key id, time, created, file order), and numbering the
 * strings of a column. engine.c builds the events and reads the results.
 *
 * Each function splits its input into parts, one per thread, and gives the
 * same result for any number of parts: the parts own disjoint slices of
 * their output and never write what another reads.
 */
#include "features_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* (ts, created) order; equal events keep their order (the sorts below are
 * stable and see them in file order, so ties end in file order). */
static inline bool ev_less(const struct features__event *a, const struct features__event *b)
{
    return a->ts < b->ts || (a->ts == b->ts && a->created < b->created);
}

static void insertion_sort(struct features__event *run, size_t k)
{
    for (size_t i = 1; i < k; i++) {
        struct features__event x = run[i];
        size_t j = i;
        while (j > 0 && ev_less(&x, &run[j - 1])) {
            run[j] = run[j - 1];
            j--;
        }
        run[j] = x;
    }
}

/* Stable bottom-up merge sort of run[0..k) with tmp[0..k) as scratch:
 * insertion-sorted blocks of 16, then merged in passes of doubling width,
 * back and forth between run and tmp. The comparison is inline, which is
 * what makes it several times faster than qsort's callback on 10M rows. */
static void merge_sort(struct features__event *run, struct features__event *tmp, size_t k)
{
    struct features__event *src = run, *dst = tmp, *swap;
    for (size_t i = 0; i < k; i += 16)
        insertion_sort(run + i, k - i < 16 ? k - i : 16);
    for (size_t w = 16; w < k; w *= 2) {
        for (size_t lo = 0; lo < k; lo += 2 * w) {
            size_t mid = lo + w < k ? lo + w : k, hi = lo + 2 * w < k ? lo + 2 * w : k;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                dst[o++] = ev_less(&src[j], &src[i]) ? src[j++] : src[i++];
            while (i < mid)
                dst[o++] = src[i++];
            while (j < hi)
                dst[o++] = src[j++];
        }
        swap = src;
        src = dst;
        dst = swap;
    }
    if (src != run)
        memcpy(run, src, k * sizeof *run);
}

/* ---- two threads over one array ---- */

struct par_job {
    void (*fn)(void *arg, int part, int nparts);
    void *arg;
    int part, nparts;
};

static void *par_main(void *p)
{
    struct par_job *j = p;
    j->fn(j->arg, j->part, j->nparts);
    return NULL;
}

void features__parallel(int nparts, void (*fn)(void *, int, int), void *arg)
{
    struct par_job jobs[8];
    pthread_t tid[8];
    bool started[8] = {false};

    nparts = nparts < 1 ? 1 : nparts > 8 ? 8 : nparts;
    for (int i = 0; i < nparts; i++)
        jobs[i] = (struct par_job){fn, arg, i, nparts};
    for (int i = 1; i < nparts; i++)
        started[i] = pthread_create(&tid[i], NULL, par_main, &jobs[i]) == 0;
    fn(arg, 0, nparts);
    for (int i = 1; i < nparts; i++)
        if (!started[i])
            fn(arg, i, nparts);
    for (int i = 1; i < nparts; i++)
        if (started[i])
            pthread_join(tid[i], NULL);
}

/* The sort of the events by (id, ts, created, file order), in parallel:
 *   1. each part counts the ids of its slice of ev (rows in file order);
 *   2. one pass turns the counts into offsets: id by id, part 0's rows of
 *      an id go before part 1's, so each id's run is in file order;
 *   3. each part scatters its slice to those offsets (a counting sort by id,
 *      no comparisons);
 *   4. each part sorts the runs of a range of ids holding about n / nparts
 *      rows by (ts, created), stably, so ties keep file order: insertion
 *      sort for short runs (most keys have a handful of rows), a merge sort
 *      using ev as its scratch otherwise.
 * O(N + sum of k log k). Worked example, one part: ids [1, 0, 1, 0] at ts
 * [5, 9, 3, 2] -> counts [2, 2], start [0, 2, 4]; scatter: id 0 gets rows
 * 1, 3, id 1 rows 0, 2; runs sorted by ts: (0: row 3 ts 2, row 1 ts 9),
 * (1: row 2 ts 3, row 0 ts 5). With two parts, rows 0-1 and 2-3: id 0 gets
 * part 0's row 1 then part 1's row 3, the same order. */
struct sort_job {
    struct features__event *ev, *out;
    size_t n, nids;
    size_t *start;      /* per id: the run's first index; start[nids] = n */
    uint32_t *cnt[8];   /* per part: count, then next offset, per id */
};

static void sort_count(void *arg, int part, int nparts)
{
    struct sort_job *j = arg;
    size_t from = j->n * (size_t)part / (size_t)nparts;
    size_t to = j->n * (size_t)(part + 1) / (size_t)nparts;
    for (size_t i = from; i < to; i++)
        j->cnt[part][j->ev[i].id]++;
}

static void sort_scatter(void *arg, int part, int nparts)
{
    struct sort_job *j = arg;
    size_t from = j->n * (size_t)part / (size_t)nparts;
    size_t to = j->n * (size_t)(part + 1) / (size_t)nparts;
    uint32_t *next = j->cnt[part];
    for (size_t i = from; i < to; i++)
        j->out[next[j->ev[i].id]++] = j->ev[i];
}

/* The first id whose run starts at or after row `at`. */
static size_t id_at(const size_t *start, size_t nids, size_t at)
{
    size_t lo = 0, hi = nids;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (start[mid] < at)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void sort_runs(void *arg, int part, int nparts)
{
    struct sort_job *j = arg;
    size_t from = id_at(j->start, j->nids, j->n * (size_t)part / (size_t)nparts);
    size_t to = part + 1 == nparts ? j->nids
                                   : id_at(j->start, j->nids,
                                           j->n * (size_t)(part + 1) / (size_t)nparts);
    for (size_t id = from; id < to; id++) {
        size_t k = j->start[id + 1] - j->start[id];
        if (k > 32)
            merge_sort(j->out + j->start[id], j->ev + j->start[id], k);
        else
            insertion_sort(j->out + j->start[id], k);
    }
}

int features__sort_events(struct features__event *ev, size_t n, size_t nids,
                          struct features__event *out, size_t *start, int nparts)
{
    struct sort_job j = {ev, out, n, nids, start, {NULL}};
    size_t at = 0;
    int rc = 0;

    nparts = n < 65536 ? 1 : nparts < 1 ? 1 : nparts > 8 ? 8 : nparts;
    for (int p = 0; p < nparts; p++)
        if (!(j.cnt[p] = calloc(nids + 1, sizeof *j.cnt[p]))) {
            rc = -1;
            goto out;
        }
    features__parallel(nparts, sort_count, &j);
    for (size_t id = 0; id < nids; id++) {
        start[id] = at;
        for (int p = 0; p < nparts; p++) {
            uint32_t c = j.cnt[p][id];
            j.cnt[p][id] = (uint32_t)at;   /* rows < UINT32_MAX: checked by the caller */
            at += c;
        }
    }
    start[nids] = at;
    features__parallel(nparts, sort_scatter, &j);
    features__parallel(nparts, sort_runs, &j);
out:
    for (int p = 0; p < nparts; p++)
        free(j.cnt[p]);
    return rc;
}

/* count_distinct over a STRING column: each distinct string gets a number
 * (ids[row], source row order), so that the windows compare numbers, not
 * strings (strcmp was a third of the time of the article's 7 features over
 * 10M transactions). A null cell gets UINT32_MAX (it is skipped by its
 * valid flag anyway). Parts number their slice in an index of their own;
 * part 0's index then takes the others' strings and their ids are mapped. */
struct intern_job {
    const struct skiff_feat_column *col;
    size_t nrows;
    uint32_t *ids;
    struct features__keyidx keys[8];
    bool nomem[8];
};

static void intern_part(void *arg, int part, int nparts)
{
    struct intern_job *j = arg;
    const struct skiff_feat_column *col = j->col;
    size_t from = j->nrows * (size_t)part / (size_t)nparts;
    size_t to = j->nrows * (size_t)(part + 1) / (size_t)nparts;
    for (size_t r = from; r < to; r++) {
        const char *str = col->pool + col->off[r];
        long id;
        if (!col->valid[r]) {
            j->ids[r] = UINT32_MAX;
            continue;
        }
        if ((id = features__keyidx_put(&j->keys[part], str, strlen(str))) < 0) {
            j->nomem[part] = true;
            return;
        }
        j->ids[r] = (uint32_t)id;
    }
}

int features__intern_strings(const struct skiff_feat_column *col, size_t nrows, int nt,
                          uint32_t *ids)
{
    struct intern_job j = {col, nrows, ids, {{0}}, {false}};
    int nparts = nrows < 65536 ? 1 : nt < 1 ? 1 : nt > 8 ? 8 : nt, rc = 0;

    features__parallel(nparts, intern_part, &j);
    for (int p = 0; p < nparts; p++)
        rc |= j.nomem[p] ? -1 : 0;
    for (int p = 1; p < nparts && rc == 0; p++) {
        const struct features__keyidx *k = &j.keys[p];
        size_t from = nrows * (size_t)p / (size_t)nparts;
        size_t to = nrows * (size_t)(p + 1) / (size_t)nparts;
        uint32_t *remap = malloc((k->n + 1) * sizeof *remap);
        if (!remap) {
            rc = -1;
            break;
        }
        for (size_t id = 0; id < k->n && rc == 0; id++) {
            long g = features__keyidx_put(&j.keys[0], k->keys + k->koff[id], k->klen[id]);
            rc = g < 0 ? -1 : 0;
            remap[id] = (uint32_t)g;
        }
        for (size_t r = from; r < to && rc == 0; r++)
            if (ids[r] != UINT32_MAX)
                ids[r] = remap[ids[r]];
        free(remap);
    }
    for (int p = 0; p < nparts; p++)
        features__keyidx_release(&j.keys[p]);
    return rc;
}
