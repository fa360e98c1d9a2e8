/* Synthetic card transactions with learnable fraud (include/skiff/ml.h).
 *
 * The world: M merchants (M = users / 2, within 200 .. 99999), about 6% of
 * them high risk (merchant_risk > 0.8). Each user has a usual amount
 * (log-normal around $40), a daily rate (1 .. 9 transactions) and 4 .. 8
 * favourite low-risk merchants. A user-day holds:
 *   - Poisson(rate) ordinary purchases at daytime-heavy hours: 85% at a
 *     favourite, 13.5% another low-risk merchant, 1.5% a high-risk one,
 *     amount = usual * lognormal(0, 0.45);
 *   - now and then (4%) a legitimate spree: 2-3 purchases within 40 minutes
 *     at favourites, so that a burst alone is not proof of fraud;
 *   - with probability 1.3% a fraud episode: 3 + Poisson(4) transactions a
 *     few minutes apart, mostly at night, 75% at high-risk merchants, amount
 *     = usual * U(3, 10). Every transaction of the episode is labelled 1.
 * That gives about 1.5% fraud, visible to per-user windowed features (many
 * transactions in an hour, high-risk merchants, amounts far above the
 * user's 7-day average).
 *
 * Drift (day >= drift_from): ordinary amounts * 1.4, 8% of ordinary
 * purchases at high-risk merchants, the hour-of-day mix moves to evenings.
 *
 * Determinism: every user-day draws from its own stream (seed, user, day),
 * and rows are ordered by a stable counting sort on the second of the day,
 * so the output depends only on the options. Memory is one day of events.
 */
#include "ml_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/fs.h"

#define DAY_SECS 86400u
#define NFAV_MAX 8
#define OUT_CHUNK (1u << 20)

/* Relative weights of each hour of the day. */
static const double hours_day[24] = {1, 0.5, 0.3, 0.3, 0.3, 0.6, 1.5, 3,  5, 6, 6, 7,
                                     8, 7,   6,   6,   6,   7,   8,   7,  6, 4, 3, 2};
static const double hours_drift[24] = {3, 2, 1, 0.5, 0.3, 0.3, 0.5, 1,  2, 3,  3,  4,
                                       4, 4, 4, 4,   5,   6,   8,   10, 11, 11, 9, 6};
static const double hours_fraud[24] = {6, 7, 7, 6, 5, 4, 2, 1, 1, 1, 1, 1,
                                       1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4, 5};

struct user {
    double usual_cents;
    double rate;
    uint32_t fav[NFAV_MAX];
    uint32_t nfav;
};

struct event {
    uint32_t sec;     /* second of the day */
    uint32_t user;
    uint32_t merchant;
    uint32_t cents;
    uint32_t fraud;
};

struct world {
    const struct skiff_ml_datagen_opts *o;
    uint32_t nmerch;
    uint16_t *risk;             /* merchant risk * 10000 */
    uint32_t *low, *high;       /* merchant indices by risk class */
    uint32_t nlow, nhigh;
    struct user *users;
    double cdf_day[24], cdf_drift[24], cdf_fraud[24];
    struct event *ev;           /* one day's events */
    size_t nev, cap;
};

/* An output file written through one big buffer. */
struct out {
    int fd;
    char *buf;
    size_t len;
    const char *path;
};

static void make_cdf(const double *w, double *cdf)
{
    double sum = 0, acc = 0;
    for (int i = 0; i < 24; i++)
        sum += w[i];
    for (int i = 0; i < 24; i++) {
        acc += w[i];
        cdf[i] = acc / sum;
    }
    cdf[23] = 1.0;
}

static uint32_t pick_hour(struct ml__rng *r, const double *cdf)
{
    double u = ml__rng_uniform(r);
    uint32_t h = 0;
    while (h < 23 && u >= cdf[h])
        h++;
    return h;
}

static int push(struct world *w, uint32_t sec, uint32_t user, uint32_t merchant, double cents,
                bool fraud, struct skiff_err *err)
{
    struct event *e;
    if (w->nev == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4096;
        struct event *p = realloc(w->ev, cap * sizeof *p);
        if (!p)
            return skiff_err_set(err, SKIFF_ENOMEM, "datagen: out of memory");
        w->ev = p;
        w->cap = cap;
    }
    e = &w->ev[w->nev++];
    e->sec = sec < DAY_SECS ? sec : DAY_SECS - 1;
    e->user = user;
    e->merchant = merchant;
    e->cents = cents < 1 ? 1 : cents > 1e9 ? 1000000000u : (uint32_t)lround(cents);
    e->fraud = fraud;
    return 0;
}

static int build_world(struct world *w, struct skiff_err *err)
{
    const struct skiff_ml_datagen_opts *o = w->o;
    struct ml__rng r;
    uint32_t n = o->users / 2;

    w->nmerch = n < 200 ? 200 : n > 99999 ? 99999 : n;
    w->risk = calloc(w->nmerch, sizeof *w->risk);
    w->low = calloc(w->nmerch, sizeof *w->low);
    w->high = calloc(w->nmerch, sizeof *w->high);
    w->users = calloc(o->users, sizeof *w->users);
    if (!w->risk || !w->low || !w->high || !w->users)
        return skiff_err_set(err, SKIFF_ENOMEM, "datagen: out of memory");

    ml__rng_seed(&r, o->seed, 1, 0, 0);
    for (uint32_t m = 0; m < w->nmerch; m++) {
        double u = ml__rng_uniform(&r);
        if (ml__rng_uniform(&r) < 0.06) {
            w->risk[m] = (uint16_t)(8050 + u * 1950);   /* 0.805 .. 1.0 */
            w->high[w->nhigh++] = m;
        } else {
            w->risk[m] = (uint16_t)(u * u * 7500);      /* 0 .. 0.75, mostly low */
            w->low[w->nlow++] = m;
        }
    }
    if (w->nhigh == 0)   /* cannot happen at 200 merchants for any sane seed; be sure */
        w->high[w->nhigh++] = w->low[--w->nlow];

    for (uint32_t i = 0; i < o->users; i++) {
        struct user *u = &w->users[i];
        ml__rng_seed(&r, o->seed, 2, i, 0);
        u->usual_cents = exp(log(4000.0) + 0.6 * ml__rng_normal(&r));
        u->rate = 1.0 + 8.0 * ml__rng_uniform(&r);
        u->nfav = 4 + (uint32_t)ml__rng_below(&r, NFAV_MAX - 3);
        for (uint32_t k = 0; k < u->nfav; k++)
            u->fav[k] = w->low[ml__rng_below(&r, w->nlow)];
    }
    make_cdf(hours_day, w->cdf_day);
    make_cdf(hours_drift, w->cdf_drift);
    make_cdf(hours_fraud, w->cdf_fraud);
    return 0;
}

/* One user's events of one day, appended to w->ev. */
static int gen_user_day(struct world *w, uint32_t ui, uint32_t day, struct skiff_err *err)
{
    const struct user *u = &w->users[ui];
    bool drift = w->o->drift_from >= 0 && day >= (uint32_t)w->o->drift_from;
    const double *cdf = drift ? w->cdf_drift : w->cdf_day;
    double amount_shift = drift ? 1.4 : 1.0, high_share = drift ? 0.08 : 0.015;
    struct ml__rng r;
    uint32_t n;
    int rc;

    ml__rng_seed(&r, w->o->seed, 3, ui, day);
    n = ml__rng_poisson(&r, u->rate);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t sec = pick_hour(&r, cdf) * 3600 + (uint32_t)ml__rng_below(&r, 3600);
        double p = ml__rng_uniform(&r), cents;
        uint32_t m = p < 0.85          ? u->fav[ml__rng_below(&r, u->nfav)]
                     : p < 1 - high_share ? w->low[ml__rng_below(&r, w->nlow)]
                                          : w->high[ml__rng_below(&r, w->nhigh)];
        cents = u->usual_cents * amount_shift * exp(0.45 * ml__rng_normal(&r));
        if ((rc = push(w, sec, ui, m, cents, false, err)))
            return rc;
    }
    if (ml__rng_uniform(&r) < 0.04) {   /* a legitimate spree */
        uint32_t sec = pick_hour(&r, cdf) * 3600 + (uint32_t)ml__rng_below(&r, 3600);
        uint32_t k = 2 + (uint32_t)ml__rng_below(&r, 2);
        for (uint32_t i = 0; i < k; i++) {
            double cents = u->usual_cents * amount_shift * exp(0.45 * ml__rng_normal(&r));
            if ((rc = push(w, sec, ui, u->fav[ml__rng_below(&r, u->nfav)], cents, false, err)))
                return rc;
            sec += 60 + (uint32_t)ml__rng_below(&r, 1200);
        }
    }
    if (ml__rng_uniform(&r) < 0.013) {   /* a fraud episode */
        uint32_t sec = pick_hour(&r, w->cdf_fraud) * 3600 + (uint32_t)ml__rng_below(&r, 3600);
        uint32_t k = 3 + ml__rng_poisson(&r, 4.0);
        if (sec > DAY_SECS - 3600)
            sec = DAY_SECS - 3600;   /* the episode ends the same day */
        for (uint32_t i = 0; i < k; i++) {
            uint32_t m = ml__rng_uniform(&r) < 0.75 ? w->high[ml__rng_below(&r, w->nhigh)]
                                                    : w->low[ml__rng_below(&r, w->nlow)];
            double cents = u->usual_cents * (3.0 + 7.0 * ml__rng_uniform(&r));
            if ((rc = push(w, sec, ui, m, cents, true, err)))
                return rc;
            sec += 20 + (uint32_t)ml__rng_exp(&r, 150.0);
        }
    }
    return 0;
}

/* ---- output ---- */

static int out_open(struct out *f, const char *path, struct skiff_err *err)
{
    f->path = path;
    f->len = 0;
    f->buf = malloc(OUT_CHUNK + 256);
    if (!f->buf)
        return skiff_err_set(err, SKIFF_ENOMEM, "datagen: out of memory");
    f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd < 0)
        return skiff_err_sys(err, SKIFF_EIO, "cannot create '%s'", path);
    return 0;
}

static int out_flush(struct out *f, struct skiff_err *err)
{
    if (f->len && skiff_fs_write_all(f->fd, f->buf, f->len) != 0)
        return skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", f->path);
    f->len = 0;
    return 0;
}

/* Room for one more row (rows are < 256 bytes). */
static int out_room(struct out *f, struct skiff_err *err)
{
    return f->len >= OUT_CHUNK ? out_flush(f, err) : 0;
}

static int out_close(struct out *f, struct skiff_err *err)
{
    int rc = 0;
    if (f->fd >= 0) {
        rc = out_flush(f, err);
        if (close(f->fd) != 0 && !rc)
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", f->path);
    }
    f->fd = -1;
    free(f->buf);
    f->buf = NULL;
    return rc;
}

/* v in decimal, at least `width` digits (zero-padded). Returns the end. */
static char *put_uint(char *p, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width)
        tmp[n++] = '0';
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* "2026-01-01T00:03:27Z" for epoch seconds t, reusing the date part of the
 * last call while the day is the same (one gmtime per day, not per row). */
struct tsfmt {
    int64_t day;
    char date[64];   /* "2026-01-01T" (room for any int year, to please -Wformat-truncation) */
};

static char *put_ts(char *p, struct tsfmt *c, int64_t t)
{
    int64_t day = t >= 0 ? t / DAY_SECS : (t - (DAY_SECS - 1)) / (int64_t)DAY_SECS;
    uint32_t tod = (uint32_t)(t - day * DAY_SECS);
    if (day != c->day) {
        struct tm tm;
        time_t tt = (time_t)(day * DAY_SECS);
        gmtime_r(&tt, &tm);
        snprintf(c->date, sizeof c->date, "%04d-%02d-%02dT", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday);
        c->day = day;
    }
    memcpy(p, c->date, 11);
    p += 11;
    p = put_uint(p, tod / 3600, 2);
    *p++ = ':';
    p = put_uint(p, tod / 60 % 60, 2);
    *p++ = ':';
    p = put_uint(p, tod % 60, 2);
    *p++ = 'Z';
    return p;
}

/* Orders one day's events by second, stably (generation order breaks
 * ties): a counting sort, linear in the events. */
static int sort_day(struct world *w, uint32_t **order, struct skiff_err *err)
{
    uint32_t *count = calloc(DAY_SECS + 1, sizeof *count);
    uint32_t *idx = malloc((w->nev ? w->nev : 1) * sizeof *idx);
    if (!count || !idx) {
        free(count);
        free(idx);
        return skiff_err_set(err, SKIFF_ENOMEM, "datagen: out of memory");
    }
    for (size_t i = 0; i < w->nev; i++)
        count[w->ev[i].sec + 1]++;
    for (uint32_t s = 1; s <= DAY_SECS; s++)
        count[s] += count[s - 1];
    for (size_t i = 0; i < w->nev; i++)
        idx[count[w->ev[i].sec]++] = (uint32_t)i;
    free(count);
    *order = idx;
    return 0;
}

static int write_day(struct world *w, uint32_t day, const uint32_t *order, struct out *tx,
                     struct out *lab, uint64_t *txid, struct tsfmt *tc,
                     struct skiff_ml_datagen_stats *st, struct skiff_err *err)
{
    int64_t base = w->o->start_us / 1000000 + (int64_t)day * DAY_SECS;
    int rc;
    for (size_t i = 0; i < w->nev; i++) {
        const struct event *e = &w->ev[order[i]];
        uint16_t risk = w->risk[e->merchant];
        char *p, *ts, *ts_end;
        if ((rc = out_room(tx, err)) || (rc = out_room(lab, err)))
            return rc;
        p = tx->buf + tx->len;
        *p++ = 't';
        p = put_uint(p, (*txid)++, 9);
        *p++ = ',';
        *p++ = 'u';
        p = put_uint(p, e->user, 6);
        *p++ = ',';
        *p++ = 'm';
        p = put_uint(p, e->merchant, 5);
        *p++ = ',';
        p = put_uint(p, risk / 10000, 1);
        *p++ = '.';
        p = put_uint(p, risk % 10000, 4);
        *p++ = ',';
        p = put_uint(p, e->cents / 100, 1);
        *p++ = '.';
        p = put_uint(p, e->cents % 100, 2);
        *p++ = ',';
        ts = p;
        p = put_ts(p, tc, base + e->sec);
        ts_end = p;
        *p++ = ',';
        *p++ = (char)('0' + e->fraud);
        *p++ = '\n';
        tx->len = (size_t)(p - tx->buf);

        p = lab->buf + lab->len;
        *p++ = 'u';
        p = put_uint(p, e->user, 6);
        *p++ = ',';
        memcpy(p, ts, (size_t)(ts_end - ts));
        p += ts_end - ts;
        *p++ = ',';
        *p++ = (char)('0' + e->fraud);
        *p++ = '\n';
        lab->len = (size_t)(p - lab->buf);
        st->frauds += e->fraud;
    }
    st->rows += w->nev;
    return 0;
}

/* mkdir -p */
static int make_dirs(const char *dir, struct skiff_err *err)
{
    char path[4096];
    if (!skiff_strlcpy(path, dir, sizeof path))
        return skiff_err_set(err, SKIFF_EINVAL, "output folder name too long");
    for (char *p = path + 1;; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            if (mkdir(path, 0755) != 0 && errno != EEXIST)
                return skiff_err_sys(err, SKIFF_EIO, "cannot create folder '%s'", path);
            *p = c;
            if (!c)
                break;
        }
    }
    return 0;
}

static int write_meta(const char *path, const struct skiff_ml_datagen_opts *o,
                      const struct skiff_ml_datagen_stats *st, struct skiff_err *err)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    struct tsfmt tc = {.day = INT64_MIN};
    char start[40], drift[16] = "null";
    FILE *f;
    int rc = 0;

    *put_ts(start, &tc, o->start_us / 1000000) = 0;
    if (o->drift_from >= 0)
        snprintf(drift, sizeof drift, "%d", (int)o->drift_from);
    if (skiff_buf_appendf(&b,
                          "{\"users\": %u, \"days\": %u, \"rows\": %llu, \"frauds\": %llu, "
                          "\"fraud_rate\": %.6f, \"drift_from\": %s, \"seed\": %llu, "
                          "\"start\": \"%s\", \"merchants\": %u}\n",
                          o->users, o->days, (unsigned long long)st->rows,
                          (unsigned long long)st->frauds,
                          st->rows ? (double)st->frauds / (double)st->rows : 0.0, drift,
                          (unsigned long long)o->seed, start, st->merchants) != 0)
        return skiff_err_set(err, SKIFF_ENOMEM, "datagen: out of memory");
    f = fopen(path, "w");
    if (!f)
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot create '%s'", path);
    else {
        if (fwrite(b.ptr, 1, b.len, f) != b.len)
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", path);
        if (fclose(f) != 0 && !rc)
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", path);
    }
    skiff_buf_release(&b);
    return rc;
}

int skiff_ml_datagen_fraud(const char *dir, const struct skiff_ml_datagen_opts *o,
                           struct skiff_ml_datagen_stats *stats, struct skiff_err *err)
{
    struct world w = {.o = o};
    struct out tx = {.fd = -1}, lab = {.fd = -1};
    struct skiff_ml_datagen_stats st = {0};
    struct tsfmt tc = {.day = INT64_MIN};
    char path_tx[4200], path_lab[4200], path_meta[4200];
    uint64_t txid = 0;
    int rc;

    if (o->users < 1 || o->users > 999999)
        return skiff_err_at(err, SKIFF_EINVAL, "--users", 0, 0, "users must be 1 .. 999999");
    if (o->days < 1 || o->days > 3650)
        return skiff_err_at(err, SKIFF_EINVAL, "--days", 0, 0, "days must be 1 .. 3650");
    if (o->drift_from >= 0 && (uint32_t)o->drift_from >= o->days)
        return skiff_err_at(err, SKIFF_EINVAL, "--drift-from", 0, 0,
                            "drift day %d is not within the %u days", (int)o->drift_from,
                            o->days);
    snprintf(path_tx, sizeof path_tx, "%s/transactions.csv", dir);
    snprintf(path_lab, sizeof path_lab, "%s/labels.csv", dir);
    snprintf(path_meta, sizeof path_meta, "%s/meta.json", dir);

    if ((rc = make_dirs(dir, err)) || (rc = build_world(&w, err)) ||
        (rc = out_open(&tx, path_tx, err)) || (rc = out_open(&lab, path_lab, err)))
        goto out;
    st.merchants = w.nmerch;
    tx.len = (size_t)snprintf(
        tx.buf, 256, "transaction_id,user_id,merchant_id,merchant_risk,amount,event_timestamp,is_fraud\n");
    lab.len = (size_t)snprintf(lab.buf, 256, "user_id,event_timestamp,is_fraud\n");

    for (uint32_t day = 0; day < o->days; day++) {
        uint32_t *order = NULL;
        w.nev = 0;
        for (uint32_t u = 0; u < o->users; u++)
            if ((rc = gen_user_day(&w, u, day, err)))
                goto out;
        if ((rc = sort_day(&w, &order, err)))
            goto out;
        rc = write_day(&w, day, order, &tx, &lab, &txid, &tc, &st, err);
        free(order);
        if (rc)
            goto out;
        if (o->progress)
            o->progress(o->progress_ctx, day + 1, o->days);
    }
    if ((rc = out_close(&tx, err)) || (rc = out_close(&lab, err)))
        goto out;
    rc = write_meta(path_meta, o, &st, err);
out:
    out_close(&tx, rc ? NULL : err);
    out_close(&lab, rc ? NULL : err);
    free(w.risk);
    free(w.low);
    free(w.high);
    free(w.users);
    free(w.ev);
    if (stats)
        *stats = st;
    return rc;
}
