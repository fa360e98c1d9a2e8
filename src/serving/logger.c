/* The payload log, written off the request path: the file sink, and the
 * URL sink's queue (delivery in logger_ce.c).
 *
 * Requests push records into a bounded queue (a ring of pointers under a
 * mutex held for a few instructions) and never wait: a full queue, or one
 * holding more than LOG_MAX_BYTES of bodies, drops the record and counts
 * it (skiff_serving_payload_log_dropped_total). One writer thread takes
 * everything queued at once and, without the lock, appends file-sink
 * records to home/payloads/<isvc>/<YYYY-MM-DD>.jsonl (UTC day) or POSTs
 * URL-sink records as CloudEvents (events it cannot deliver are counted
 * in the same metric), then drops each record's revision ref. Memory is
 * bounded by the ring's capacity times the largest matrix, plus
 * LOG_MAX_BYTES of raw bodies.
 *
 * Line format: include/skiff/serving.h, section "payload log".
 */
#include "serving_int.h"

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/log.h"
#include "skiff/metrics.h"
#include "skiff/online.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* raw request and response bodies waiting for the URL sink */
#define LOG_MAX_BYTES ((size_t)64 << 20)

struct serving__logger {
    char dir[4096];
    pthread_mutex_t mu;
    pthread_cond_t cv;          /* writer: work or stop */
    pthread_cond_t done_cv;     /* flush: written caught up */
    struct serving__logrec **ring;
    size_t cap, head, len;
    size_t bytes;               /* bodies queued (URL sink records) */
    uint64_t pushed, written;
    char source[300];           /* ce-source, under mu */
    bool stop;
    pthread_t thread;
    /* writer-only: the open file */
    FILE *f;
    char path[4480];
};

static void rec_free(struct serving__logrec *r)
{
    if (!r)
        return;
    serving__rev_put(r->rev);
    free(r->keys);
    free(r->x);
    free(r->y);
    free(r->body);
    free(r);
}

static void ts_format(int64_t us, char *buf, size_t n)
{
    time_t s = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&s, &tm);
    char date[24];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%06uZ", date, (unsigned)(us % 1000000) % 1000000u);
}

static FILE *file_for(struct serving__logger *l, const char *model, int64_t us)
{
    char path[4480], sub[4400];
    time_t s = (time_t)(us / 1000000);
    struct tm tm;

    gmtime_r(&s, &tm);
    snprintf(sub, sizeof sub, "%s/%s", l->dir, model);
    snprintf(path, sizeof path, "%s/%04d-%02d-%02d.jsonl", sub, tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday);
    if (l->f && strcmp(path, l->path) == 0)
        return l->f;
    if (l->f)
        fclose(l->f);
    l->f = NULL;
    if (mkdir(l->dir, 0700) != 0 && errno != EEXIST)
        return NULL;
    if (mkdir(sub, 0700) != 0 && errno != EEXIST)
        return NULL;
    if (!(l->f = fopen(path, "ae")))
        return NULL;
    snprintf(l->path, sizeof l->path, "%s", path);
    return l->f;
}

static void num(struct skiff_buf *b, double v, bool fp32)
{
    serving__json_double(b, v, fp32);
}

static void write_rec(struct serving__logger *l, struct serving__logrec *r, struct skiff_buf *b)
{
    const struct serving__rev *rev = r->rev;
    char ts[40];
    FILE *f;

    ts_format(r->ts_us, ts, sizeof ts);
    skiff_buf_reset(b);
    for (size_t i = 0; i < r->nrows; i++) {
        skiff_buf_appendf(b, "{\"ts\":\"%s\",\"id\":", ts);
        skiff_buf_json_str(b, r->id);
        skiff_buf_puts(b, ",\"model\":");
        skiff_buf_json_str(b, rev->svc->name);
        skiff_buf_puts(b, ",\"revision\":");
        skiff_buf_json_str(b, rev->name);
        if (r->x) {
            skiff_buf_puts(b, ",\"features\":{");
            if (r->keys) {
                /* an enriched row: its entity key first, under its own name */
                skiff_buf_json_str(b, r->enrich->key);
                skiff_buf_putc(b, ':');
                skiff_buf_json_str(b, r->keys[i]);
                if (r->nfeat)
                    skiff_buf_putc(b, ',');
            }
            for (size_t j = 0; j < r->nfeat; j++) {
                char fname[32];
                const char *name = r->keys ? skiff_online_service_feature(r->enrich->fsvc, j)
                                   : rev->feature_names && rev->feature_names[j]
                                       ? rev->feature_names[j] : NULL;
                if (!name) {
                    snprintf(fname, sizeof fname, "f%zu", j);
                    name = fname;
                }
                if (j)
                    skiff_buf_putc(b, ',');
                skiff_buf_json_str(b, name);
                skiff_buf_putc(b, ':');
                num(b, r->x[i * r->nfeat + j], true);
            }
            skiff_buf_putc(b, '}');
        }
        if (r->y) {
            skiff_buf_puts(b, ",\"outputs\":[");
            for (size_t k = 0; k < r->nout; k++) {
                if (k)
                    skiff_buf_putc(b, ',');
                num(b, r->y[i * r->nout + k], false);
            }
            skiff_buf_putc(b, ']');
        }
        skiff_buf_puts(b, "}\n");
    }
    if (!(f = file_for(l, rev->svc->name, r->ts_us))) {
        skiff_warn("payload log: cannot open a file under '%s': %s", l->dir, strerror(errno));
        return;
    }
    fwrite(b->ptr, 1, b->len, f);
}

static size_t rec_bytes(const struct serving__logrec *r)
{
    return r->body ? r->req_len + r->resp_len + 2 : 0;
}

/* A URL sink record: its events, the lost ones counted. */
static void send_rec(struct serving__logger *l, struct serving__ce *ce,
                     struct serving__logrec *r)
{
    char source[300];
    bool hurry;
    int lost;

    pthread_mutex_lock(&l->mu);
    snprintf(source, sizeof source, "%s", l->source[0] ? l->source : "skiff");
    hurry = l->stop;   /* shutting down: one try each */
    pthread_mutex_unlock(&l->mu);
    if ((lost = serving__ce_send(ce, r, source, hurry)))
        skiff_metric_inc(serving__metrics()->log_dropped, (const char *[]){r->rev->svc->name},
                         (double)lost);
}

static void *writer(void *arg)
{
    struct serving__logger *l = arg;
    struct serving__logrec **batch = calloc(l->cap, sizeof *batch);
    struct skiff_buf b = SKIFF_BUF_INIT;
    struct serving__ce *ce = NULL;
    struct skiff_err e = SKIFF_ERR_INIT;

    for (;;) {
        size_t n = 0;
        pthread_mutex_lock(&l->mu);
        while (!l->len && !l->stop)
            pthread_cond_wait(&l->cv, &l->mu);
        if (!l->len && l->stop) {
            pthread_mutex_unlock(&l->mu);
            break;
        }
        while (l->len) {
            batch[n++] = l->ring[l->head];
            l->head = (l->head + 1) % l->cap;
            l->len--;
        }
        pthread_mutex_unlock(&l->mu);
        for (size_t i = 0; i < n; i++) {
            struct serving__logrec *r = batch[i];
            if (r->sink) {
                /* the HTTP client is made on first use: most servers never need it */
                if (!ce && serving__ce_new(&ce, &e) != 0)
                    skiff_warn("payload log: %s", e.msg);
                send_rec(l, ce, r);
            } else {
                write_rec(l, r, &b);
            }
            pthread_mutex_lock(&l->mu);
            l->bytes -= rec_bytes(r);
            pthread_mutex_unlock(&l->mu);
            rec_free(r);
        }
        if (l->f)
            fflush(l->f);
        pthread_mutex_lock(&l->mu);
        l->written += n;
        pthread_cond_broadcast(&l->done_cv);
        pthread_mutex_unlock(&l->mu);
    }
    skiff_buf_release(&b);
    serving__ce_free(ce);
    free(batch);
    if (l->f)
        fclose(l->f);
    l->f = NULL;
    return NULL;
}

int serving__logger_new(const char *dir, size_t cap, struct serving__logger **out,
                        struct skiff_err *err)
{
    struct serving__logger *l = calloc(1, sizeof *l);

    *out = NULL;
    if (!l || !(l->ring = calloc(cap, sizeof *l->ring))) {
        free(l);
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    l->cap = cap;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    pthread_cond_init(&l->done_cv, NULL);
    if (pthread_create(&l->thread, NULL, writer, l) != 0) {
        free(l->ring);
        free(l);
        return skiff_err_set(err, SKIFF_ENOMEM, "cannot start the payload log writer");
    }
    *out = l;
    return 0;
}

void serving__logger_push(struct serving__logger *l, struct serving__logrec *rec)
{
    bool dropped = false;

    pthread_mutex_lock(&l->mu);
    if (l->len == l->cap || l->stop || l->bytes + rec_bytes(rec) > LOG_MAX_BYTES) {
        dropped = true;
    } else {
        l->ring[(l->head + l->len) % l->cap] = rec;
        l->len++;
        l->bytes += rec_bytes(rec);
        l->pushed++;
        pthread_cond_signal(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    if (dropped) {
        /* the URL sink counts events (a record of mode all is two), as its
         * failed deliveries do */
        skiff_metric_inc(serving__metrics()->log_dropped, (const char *[]){rec->rev->svc->name},
                         rec->sink && rec->mode == 1 ? 2 : 1);
        rec_free(rec);
    }
}

void serving__logger_flush(struct serving__logger *l)
{
    uint64_t target;

    pthread_mutex_lock(&l->mu);
    target = l->pushed;
    while (l->written < target)
        pthread_cond_wait(&l->done_cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

void serving__logger_set_source(struct serving__logger *l, const char *source)
{
    pthread_mutex_lock(&l->mu);
    snprintf(l->source, sizeof l->source, "%s", source ? source : "");
    pthread_mutex_unlock(&l->mu);
}

void serving__logger_free(struct serving__logger *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = true;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
    pthread_join(l->thread, NULL);
    pthread_cond_destroy(&l->cv);
    pthread_cond_destroy(&l->done_cv);
    pthread_mutex_destroy(&l->mu);
    free(l->ring);
    free(l);
}
