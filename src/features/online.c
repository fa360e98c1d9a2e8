/* The online store (include/skiff/online.h): records, reads and writes
 * over a backend (online_lmdb.c, online_redis.c); the layout is described
 * in online_int.h.
 *
 * Invariants:
 *   - a record's row only moves forward in (event time, created time): a
 *     write of an older or equal row is skipped, so materializing twice, or
 *     again after a run was killed halfway, leaves the same state;
 *   - a record's events are ascending by time and hold every event a
 *     window ending at or after the latest event can reach;
 *   - a value is computed at read time t from the record by the engine's
 *     own functions (skiff_feat_agg_compute, skiff_feat_expr_eval), so a
 *     windowed aggregate served at t is what historical retrieval gives
 *     for t over the same events.
 * States of one (view, entity) record:
 *   absent --write_rows / push--> present --(now - event_ts > ttl)--> stale
 *   stale reads as OUTSIDE_MAX_AGE (fields) until a newer row arrives;
 *   present --definition changes--> foreign schema: reads as NOT_FOUND
 *   until rewritten (online__rec_decode).
 */
#include "online_int.h"

#include "skiff/err.h"
#include "skiff/time.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC 0x314f4b53u   /* "SKO1" */

struct hdr {
    uint32_t magic, schema;
    int64_t event_ts, created_ts;
    uint32_t nfields, naggs, nev, strbytes;
};

struct slot {
    uint8_t valid;
    uint8_t pad[3];
    uint32_t slen;
    union {
        int64_t i;
        double f;
        uint64_t off;
    } u;
};

_Static_assert(sizeof(struct hdr) == 40, "record header is 40 bytes");
_Static_assert(sizeof(struct slot) == 16, "slot is 16 bytes");

const char *skiff_online_status_name(enum skiff_online_status s)
{
    switch (s) {
    case SKIFF_ONLINE_PRESENT: return "PRESENT";
    case SKIFF_ONLINE_NOT_FOUND: return "NOT_FOUND";
    case SKIFF_ONLINE_OUTSIDE_MAX_AGE: return "OUTSIDE_MAX_AGE";
    }
    return "INVALID";
}

/* ---- open / close ---- */

int skiff_online_open(const char *spec, const char *home, struct skiff_online **out,
                      struct skiff_err *err)
{
    struct skiff_online *o;
    char dir[4200];
    int rc;

    *out = NULL;
    if (!spec || !*spec)
        spec = "lmdb";
    if (!(o = calloc(1, sizeof *o)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    snprintf(o->spec, sizeof o->spec, "%s", spec);
    if (strcmp(spec, "lmdb") == 0) {
        snprintf(dir, sizeof dir, "%s/online", home && *home ? home : ".skiff");
        rc = online__lmdb_open(o, dir, err);
    } else if (strncmp(spec, "lmdb:", 5) == 0) {
        rc = online__lmdb_open(o, spec + 5, err);
    } else if (strncmp(spec, "redis://", 8) == 0) {
        rc = online__redis_open(o, spec, err);
    } else {
        rc = skiff_err_set(err, SKIFF_EINVAL, "online store '%s': want lmdb, lmdb:/DIR or "
                           "redis://HOST:PORT[/DB]", spec);
    }
    if (rc) {
        free(o);
        return rc;
    }
    *out = o;
    return 0;
}

void skiff_online_close(struct skiff_online *o)
{
    if (!o)
        return;
    if (o->ops)
        o->ops->close(o);
    free(o);
}

/* ---- views and services ---- */

size_t online__view_width(const struct skiff_feat_view *v)
{
    return v->nfields + v->naggs + v->nderived;
}

const char *online__view_feature(const struct skiff_feat_view *v, size_t k)
{
    if (k < v->nfields)
        return v->fields[k].name;
    if (k < v->nfields + v->naggs)
        return v->aggs[k - v->nfields].name;
    return v->derived[k - v->nfields - v->naggs].name;
}

enum skiff_feat_type online__view_type(const struct skiff_feat_view *v, size_t k)
{
    if (k < v->nfields)
        return v->fields[k].type;
    if (k < v->nfields + v->naggs)
        return v->aggs[k - v->nfields].out_type;
    return SKIFF_FEAT_DOUBLE;
}

bool online__projection_asks(const struct skiff_feat_projection *p, size_t k)
{
    const char *name;
    if (p->nfeatures == 0)
        return true;
    name = online__view_feature(p->view, k);
    for (size_t i = 0; i < p->nfeatures; i++)
        if (strcmp(p->features[i], name) == 0)
            return true;
    return false;
}

size_t skiff_online_service_width(const struct skiff_feat_service *svc)
{
    size_t n = 0;
    for (size_t p = 0; p < svc->nproj; p++) {
        const struct skiff_feat_projection *pr = &svc->proj[p];
        n += pr->nfeatures ? pr->nfeatures : online__view_width(pr->view);
    }
    return n;
}

/* Projection and view feature index of the service's feature i. */
static bool locate(const struct skiff_feat_service *svc, size_t i, size_t *proj, size_t *k)
{
    for (size_t p = 0; p < svc->nproj; p++) {
        const struct skiff_feat_projection *pr = &svc->proj[p];
        for (size_t j = 0; j < online__view_width(pr->view); j++)
            if (online__projection_asks(pr, j) && i-- == 0) {
                *proj = p;
                *k = j;
                return true;
            }
    }
    return false;
}

const char *skiff_online_service_feature(const struct skiff_feat_service *svc, size_t i)
{
    size_t p, k;
    return locate(svc, i, &p, &k) ? online__view_feature(svc->proj[p].view, k) : NULL;
}

const char *skiff_online_service_view(const struct skiff_feat_service *svc, size_t i)
{
    size_t p, k;
    return locate(svc, i, &p, &k) ? svc->proj[p].view->name : NULL;
}

int skiff_online_service_type(const struct skiff_feat_service *svc, size_t i)
{
    size_t p, k;
    return locate(svc, i, &p, &k) ? (int)online__view_type(svc->proj[p].view, k) : -1;
}

size_t online__service_keys(const struct skiff_feat_service *svc, const char **names,
                            enum skiff_feat_type *types, size_t cap)
{
    size_t n = 0;
    for (size_t p = 0; p < svc->nproj; p++)
        for (size_t i = 0; i < svc->proj[p].view->nentities; i++) {
            const struct skiff_feat_entity *e = svc->proj[p].view->entities[i];
            size_t j = 0;
            while (j < n && strcmp(names[j], e->join_key) != 0)
                j++;
            if (j < n || n == cap)
                continue;
            if (types)
                types[n] = e->type;
            names[n++] = e->join_key;
        }
    return n;
}

size_t skiff_online_service_nkeys(const struct skiff_feat_service *svc)
{
    const char *names[64];
    return online__service_keys(svc, names, NULL, 64);
}

const char *skiff_online_service_key(const struct skiff_feat_service *svc, size_t k)
{
    const char *names[64];
    return k < online__service_keys(svc, names, NULL, 64) ? names[k] : NULL;
}

/* ---- keys and records ---- */

static bool is_integer_type(enum skiff_feat_type t)
{
    return t == SKIFF_FEAT_INT64 || t == SKIFF_FEAT_INT32 || t == SKIFF_FEAT_UNIX_TIMESTAMP;
}

size_t online__key(const struct skiff_feat_view *v, const char *const *vals, char *buf,
                   size_t cap)
{
    size_t n = 0;
    if (cap > ONLINE_MAX_KEY)
        cap = ONLINE_MAX_KEY;
    for (size_t i = 0; i < v->nentities; i++) {
        const char *s = vals[i];
        char num[32];
        uint32_t len;
        if (!s)
            return 0;
        if (is_integer_type(v->entities[i]->type)) {
            char *end;
            long long x;
            errno = 0;
            x = strtoll(s, &end, 10);
            if (end == s || *end || errno)
                return 0;
            snprintf(num, sizeof num, "%lld", x);
            s = num;
        }
        len = (uint32_t)strlen(s);
        if (n + 4 + len > cap)
            return 0;
        memcpy(buf + n, &len, 4);
        memcpy(buf + n + 4, s, len);
        n += 4 + len;
    }
    return n;
}

static uint32_t fnv(uint32_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

uint32_t online__schema(const struct skiff_feat_view *v)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < v->nfields; i++) {
        uint32_t t = (uint32_t)v->fields[i].type;
        h = fnv(h, v->fields[i].name, strlen(v->fields[i].name) + 1);
        h = fnv(h, &t, sizeof t);
    }
    h = fnv(h, "|", 1);
    for (size_t a = 0; a < v->naggs; a++) {
        const char *c = v->aggs[a].column ? v->aggs[a].column : "";
        uint32_t t = (uint32_t)v->aggs[a].column_type;
        h = fnv(h, c, strlen(c) + 1);
        h = fnv(h, &t, sizeof t);
    }
    return h;
}

int64_t online__max_window(const struct skiff_feat_view *v)
{
    int64_t w = 0;
    for (size_t a = 0; a < v->naggs; a++)
        if (v->aggs[a].window_us > w)
            w = v->aggs[a].window_us;
    return w;
}

/* Checks the header of bytes against v; fills h. */
static bool header_ok(const struct skiff_feat_view *v, const void *bytes, size_t len,
                      struct hdr *h)
{
    uint64_t need;
    if (!bytes || len < sizeof *h)
        return false;
    memcpy(h, bytes, sizeof *h);
    if (h->magic != MAGIC || h->nfields != v->nfields || h->naggs != v->naggs ||
        h->schema != online__schema(v))
        return false;
    need = sizeof *h + (uint64_t)h->nfields * 16 + (uint64_t)h->nev * 8 +
           (uint64_t)h->nev * h->naggs * 16 + h->strbytes;
    return need == len;
}

/* Slot value of type t; strings checked to lie inside the string area. */
static void slot_read(const char *slots, size_t i, enum skiff_feat_type t, const char *strs,
                      uint32_t strbytes, struct skiff_feat_value *out)
{
    struct slot s;
    memcpy(&s, slots + i * 16, 16);
    out->type = t;
    out->valid = s.valid != 0;
    out->i = 0;
    out->f = 0;
    out->s = NULL;
    if (!out->valid)
        return;
    if (t == SKIFF_FEAT_STRING) {
        if (s.u.off >= strbytes || s.slen >= strbytes - s.u.off || strs[s.u.off + s.slen]) {
            out->valid = false;   /* damaged: never read past the record */
            return;
        }
        out->s = strs + s.u.off;
    } else if (t == SKIFF_FEAT_DOUBLE || t == SKIFF_FEAT_FLOAT) {
        out->f = s.u.f;
    } else {
        out->i = s.u.i;
    }
}

int online__rec_decode(const struct skiff_feat_view *v, const void *bytes, size_t len,
                       struct online__rec *r, bool *stale, struct skiff_err *err)
{
    struct hdr h;
    const char *b = bytes, *fs, *evts, *evs, *strs;

    memset(r, 0, sizeof *r);
    r->event_ts = ONLINE_NO_ROW;
    r->created_ts = INT64_MIN;
    r->nfields = v->nfields;
    r->naggs = v->naggs;
    if (stale)
        *stale = bytes != NULL;
    if (!(r->fields = calloc(v->nfields + 1, sizeof *r->fields)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if (!header_ok(v, bytes, len, &h))
        return 0;
    if (stale)
        *stale = false;
    fs = b + sizeof h;
    evts = fs + (size_t)h.nfields * 16;
    evs = evts + (size_t)h.nev * 8;
    strs = evs + (size_t)h.nev * h.naggs * 16;
    r->event_ts = h.event_ts;
    r->created_ts = h.created_ts;
    for (size_t k = 0; k < v->nfields; k++)
        slot_read(fs, k, v->fields[k].type, strs, h.strbytes, &r->fields[k]);
    if (h.nev) {
        if (!(r->ev_ts = malloc(h.nev * sizeof *r->ev_ts)) ||
            !(r->ev = calloc((size_t)h.nev * h.naggs + 1, sizeof *r->ev))) {
            online__rec_release(r);
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        }
        memcpy(r->ev_ts, evts, h.nev * sizeof *r->ev_ts);
        for (size_t i = 0; i < h.nev; i++)
            for (size_t a = 0; a < v->naggs; a++)
                slot_read(evs, i * v->naggs + a, v->aggs[a].column_type, strs, h.strbytes,
                          &r->ev[i * v->naggs + a]);
        r->nev = h.nev;
    }
    return 0;
}

void online__rec_release(struct online__rec *r)
{
    free(r->fields);
    free(r->ev_ts);
    free(r->ev);
    memset(r, 0, sizeof *r);
}

static size_t str_need(const struct skiff_feat_value *x)
{
    return x->valid && x->type == SKIFF_FEAT_STRING ? (x->s ? strlen(x->s) : 0) + 1 : 0;
}

static void slot_write(char *slots, size_t i, const struct skiff_feat_value *x, char *strs,
                       size_t *soff)
{
    struct slot s;
    memset(&s, 0, sizeof s);
    s.valid = x->valid;
    if (x->valid) {
        if (x->type == SKIFF_FEAT_STRING) {
            size_t n = x->s ? strlen(x->s) : 0;
            s.slen = (uint32_t)n;
            s.u.off = *soff;
            memcpy(strs + *soff, x->s ? x->s : "", n + 1);
            *soff += n + 1;
        } else if (x->type == SKIFF_FEAT_DOUBLE || x->type == SKIFF_FEAT_FLOAT) {
            s.u.f = x->f;
        } else {
            s.u.i = x->i;
        }
    }
    memcpy(slots + i * 16, &s, 16);
}

int online__rec_encode(const struct skiff_feat_view *v, const struct online__rec *r,
                       void **out, size_t *len, struct skiff_err *err)
{
    struct hdr h = {MAGIC, online__schema(v), r->event_ts, r->created_ts, (uint32_t)v->nfields,
                    (uint32_t)v->naggs, (uint32_t)r->nev, 0};
    size_t strb = 0, soff = 0, total;
    char *b, *fs, *evts, *evs, *strs;

    for (size_t k = 0; k < v->nfields; k++)
        strb += str_need(&r->fields[k]);
    for (size_t i = 0; i < r->nev * v->naggs; i++)
        strb += str_need(&r->ev[i]);
    if (strb > UINT32_MAX)
        return skiff_err_set(err, SKIFF_ETOOBIG, "view '%s': record over 4 GiB", v->name);
    h.strbytes = (uint32_t)strb;
    total = sizeof h + v->nfields * 16 + r->nev * 8 + r->nev * v->naggs * 16 + strb;
    if (!(b = malloc(total)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    memcpy(b, &h, sizeof h);
    fs = b + sizeof h;
    evts = fs + v->nfields * 16;
    evs = evts + r->nev * 8;
    strs = evs + r->nev * v->naggs * 16;
    for (size_t k = 0; k < v->nfields; k++)
        slot_write(fs, k, &r->fields[k], strs, &soff);
    if (r->nev)
        memcpy(evts, r->ev_ts, r->nev * 8);
    for (size_t i = 0; i < r->nev * v->naggs; i++)
        slot_write(evs, i, &r->ev[i], strs, &soff);
    *out = b;
    *len = total;
    return 0;
}

int online__rec_add_events(const struct skiff_feat_view *v, struct online__rec *r,
                           const int64_t *ts, const struct skiff_feat_value *vals, size_t n,
                           struct skiff_err *err)
{
    size_t na = v->naggs, total = r->nev + n, k = 0, drop = 0;
    int64_t *nts;
    struct skiff_feat_value *nev;
    int64_t w = online__max_window(v), latest = INT64_MIN;

    if (n == 0 || na == 0)
        return 0;
    if (!(nts = malloc(total * sizeof *nts)) || !(nev = calloc(total * na, sizeof *nev))) {
        free(nts);
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    /* merge two ascending lists; the new events are sorted here first
     * (insertion: pushes are small), ties after the stored ones */
    {
        size_t *ord = malloc(n * sizeof *ord), i = 0, j = 0;
        if (!ord) {
            free(nts);
            free(nev);
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        }
        for (size_t x = 0; x < n; x++) {
            size_t y = x;
            while (y > 0 && ts[ord[y - 1]] > ts[x]) {
                ord[y] = ord[y - 1];
                y--;
            }
            ord[y] = x;
        }
        while (i < r->nev || j < n) {
            if (j == n || (i < r->nev && r->ev_ts[i] <= ts[ord[j]])) {
                nts[k] = r->ev_ts[i];
                memcpy(&nev[k * na], &r->ev[i * na], na * sizeof *nev);
                i++;
            } else {
                nts[k] = ts[ord[j]];
                memcpy(&nev[k * na], &vals[ord[j] * na], na * sizeof *nev);
                j++;
            }
            k++;
        }
        free(ord);
    }
    latest = nts[total - 1];
    /* no window ending at or after the latest event reaches ts <= latest - w */
    while (drop < total && (nts[drop] <= latest - w || total - drop > ONLINE_MAX_EVENTS))
        drop++;
    memmove(nts, nts + drop, (total - drop) * sizeof *nts);
    memmove(nev, nev + drop * na, (total - drop) * na * sizeof *nev);
    free(r->ev_ts);
    free(r->ev);
    r->ev_ts = nts;
    r->ev = nev;
    r->nev = total - drop;
    return 0;
}

/* ---- reading ---- */

static double as_double(const struct skiff_feat_value *x)
{
    return x->type == SKIFF_FEAT_DOUBLE || x->type == SKIFF_FEAT_FLOAT ? x->f : (double)x->i;
}

#define SMALL 64   /* events and features read without allocating */

int online__compute(const struct skiff_feat_view *v, const void *bytes, size_t len, int64_t t,
                    struct skiff_feat_value *vals, enum skiff_online_status *st, int64_t *ts,
                    struct skiff_feat_scratch *scratch, struct skiff_err *err)
{
    size_t nf = v->nfields, na = v->naggs, width = online__view_width(v);
    const char *b = bytes, *fs, *evts, *evs, *strs;
    double num_s[SMALL], *num = num_s;
    uint8_t ok_s[SMALL], *ok = ok_s;
    struct hdr h;
    bool row, fresh;
    int rc = 0;

    if (!header_ok(v, bytes, len, &h)) {
        for (size_t k = 0; k < width; k++) {
            memset(&vals[k], 0, sizeof vals[k]);
            vals[k].type = online__view_type(v, k);
            st[k] = SKIFF_ONLINE_NOT_FOUND;
            ts[k] = 0;
        }
        return 0;
    }
    fs = b + sizeof h;
    evts = fs + (size_t)h.nfields * 16;
    evs = evts + (size_t)h.nev * 8;
    strs = evs + (size_t)h.nev * h.naggs * 16;
    row = h.event_ts != ONLINE_NO_ROW;
    /* Feast's rule, as skiff_feat_pit_pick applies it: F >= t - ttl is fresh */
    fresh = row && (v->ttl_us <= 0 || h.event_ts >= t - v->ttl_us);
    if (width > SMALL && (!(num = malloc(width * sizeof *num)) || !(ok = malloc(width)))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < nf; k++) {
        slot_read(fs, k, v->fields[k].type, strs, h.strbytes, &vals[k]);
        ts[k] = row ? h.event_ts : 0;
        if (!row || !vals[k].valid) {
            st[k] = SKIFF_ONLINE_NOT_FOUND;
            vals[k].valid = false;
        } else if (!fresh) {
            st[k] = SKIFF_ONLINE_OUTSIDE_MAX_AGE;
            vals[k].valid = false;   /* historical retrieval gives null here */
        } else {
            st[k] = SKIFF_ONLINE_PRESENT;
        }
    }
    if (na) {
        int64_t evt_s[SMALL], *evt = evt_s;
        double *av = NULL;
        const char **as = NULL;
        uint8_t *valid = NULL;
        size_t n = h.nev, last = 0;
        if (n > SMALL && !(evt = malloc(n * sizeof *evt)))
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        else if (!(av = malloc((n + 1) * sizeof *av)) || !(as = malloc((n + 1) * sizeof *as)) ||
                 !(valid = malloc(n + 1)))
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        if (rc == 0) {
            memcpy(evt, evts, n * sizeof *evt);
            while (last < n && evt[last] <= t)
                last++;
        }
        for (size_t a = 0; rc == 0 && a < na; a++) {
            const struct skiff_feat_agg *ag = &v->aggs[a];
            bool strcol = ag->column && ag->column_type == SKIFF_FEAT_STRING;
            struct skiff_feat_events e = {evt, strcol ? NULL : av, strcol ? as : NULL, valid, n};
            for (size_t i = 0; i < n; i++) {
                struct skiff_feat_value x;
                slot_read(evs, i * na + a, ag->column_type, strs, h.strbytes, &x);
                valid[i] = ag->column ? x.valid : 1;
                av[i] = x.valid && !strcol ? as_double(&x) : 0;
                as[i] = x.s;
            }
            rc = skiff_feat_agg_compute(ag, &e, t, &vals[nf + a], scratch, err);
            st[nf + a] = vals[nf + a].valid ? SKIFF_ONLINE_PRESENT : SKIFF_ONLINE_NOT_FOUND;
            ts[nf + a] = last ? evt[last - 1] : 0;
        }
        if (evt != evt_s)
            free(evt);
        free(av);
        free(as);
        free(valid);
        if (rc)
            goto out;
    }
    /* derived fields: the engine's rule, a string or a null operand is null */
    for (size_t k = 0; k < nf + na; k++) {
        ok[k] = vals[k].valid && vals[k].type != SKIFF_FEAT_STRING;
        num[k] = ok[k] ? as_double(&vals[k]) : 0;
    }
    for (size_t d = 0; d < v->nderived; d++) {
        size_t k = nf + na + d;
        memset(&vals[k], 0, sizeof vals[k]);
        vals[k].type = SKIFF_FEAT_DOUBLE;
        vals[k].valid = skiff_feat_expr_eval(v->derived[d].expr, num, ok, &vals[k].f);
        ok[k] = vals[k].valid;
        num[k] = vals[k].f;
        st[k] = vals[k].valid ? SKIFF_ONLINE_PRESENT
                : row && !fresh ? SKIFF_ONLINE_OUTSIDE_MAX_AGE : SKIFF_ONLINE_NOT_FOUND;
        ts[k] = row ? h.event_ts : 0;
    }
out:
    if (num != num_s)
        free(num);
    if (ok != ok_s)
        free(ok);
    return rc;
}

#define MAXPROJ 16

int online__get_row(struct skiff_online *o, const struct skiff_feat_service *svc,
                    const char *const *keyvals, size_t nkeys, int64_t t,
                    struct skiff_feat_value *vals, enum skiff_online_status *st, int64_t *ts,
                    struct online__row *row, struct skiff_err *err)
{
    const char *knames[64];
    size_t nk = online__service_keys(svc, knames, NULL, 64), out = 0;
    struct online__ref refs[MAXPROJ] = {{0}};
    char keybuf[MAXPROJ][ONLINE_MAX_KEY];
    const void *recs[MAXPROJ];
    size_t lens[MAXPROJ];
    struct skiff_feat_value vv_s[SMALL], *vv = vv_s;
    enum skiff_online_status vs_s[SMALL], *vs = vs_s;
    int64_t vt_s[SMALL], *vt = vt_s;
    struct skiff_feat_scratch scratch = {NULL, 0};
    size_t maxw = 0;
    int rc;

    row->hold = NULL;
    if (svc->nproj > MAXPROJ)
        return skiff_err_set(err, SKIFF_EINVAL, "feature service '%s': more than %d views",
                             svc->name, MAXPROJ);
    if (nkeys < nk)
        return skiff_err_set(err, SKIFF_EINVAL, "feature service '%s' has %zu join keys, "
                             "%zu given", svc->name, nk, nkeys);
    for (size_t p = 0; p < svc->nproj; p++) {
        const struct skiff_feat_view *v = svc->proj[p].view;
        const char *ev[16];
        for (size_t i = 0; i < v->nentities && i < 16; i++) {
            size_t j = 0;
            while (j < nk && strcmp(knames[j], v->entities[i]->join_key) != 0)
                j++;
            ev[i] = j < nk ? keyvals[j] : NULL;
        }
        refs[p].key = keybuf[p];
        refs[p].klen = v->nentities <= 16 ? online__key(v, ev, keybuf[p], ONLINE_MAX_KEY) : 0;
        refs[p].view = v->name;
        if (online__view_width(v) > maxw)
            maxw = online__view_width(v);
    }
    if ((rc = o->ops->get(o, svc->nproj, refs, recs, lens, &row->hold, err)))
        return rc;
    if (maxw > SMALL && (!(vv = malloc(maxw * sizeof *vv)) || !(vs = malloc(maxw * sizeof *vs)) ||
                         !(vt = malloc(maxw * sizeof *vt)))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t p = 0; p < svc->nproj; p++) {
        const struct skiff_feat_projection *pr = &svc->proj[p];
        const struct skiff_feat_view *v = pr->view;
        /* an entity key that cannot exist (a missing or malformed value) is NOT_FOUND */
        const void *rec = refs[p].klen ? recs[p] : NULL;
        if ((rc = online__compute(v, rec, lens[p], t, vv, vs, vt, &scratch, err)))
            goto out;
        for (size_t k = 0; k < online__view_width(v); k++)
            if (online__projection_asks(pr, k)) {
                vals[out] = vv[k];
                if (st)
                    st[out] = vs[k];
                if (ts)
                    ts[out] = vt[k];
                out++;
            }
    }
out:
    free(scratch.buf);
    if (vv != vv_s)
        free(vv);
    if (vs != vs_s)
        free(vs);
    if (vt != vt_s)
        free(vt);
    if (rc)
        online__row_release(o, row);
    return rc;
}

void online__row_release(struct skiff_online *o, struct online__row *row)
{
    if (row->hold)
        o->ops->release(o, row->hold);
    row->hold = NULL;
}

int skiff_online_get_vector(struct skiff_online *o, const struct skiff_feat_service *svc,
                            const char *const *entity_values, size_t nentity, int64_t now_us,
                            double *values, enum skiff_online_status *statuses,
                            int64_t *event_ts, struct skiff_err *err)
{
    size_t w = skiff_online_service_width(svc);
    struct skiff_feat_value v_s[SMALL], *v = v_s;
    enum skiff_online_status s_s[SMALL], *s = statuses ? statuses : s_s;
    struct online__row row;
    int rc;

    if (w > SMALL && (!(v = malloc(w * sizeof *v)) ||
                      (!statuses && !(s = malloc(w * sizeof *s))))) {
        if (v != v_s)
            free(v);
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    rc = online__get_row(o, svc, entity_values, nentity, now_us, v, s, event_ts, &row, err);
    if (rc == 0) {
        for (size_t i = 0; i < w; i++)
            values[i] = s[i] == SKIFF_ONLINE_PRESENT && v[i].valid && v[i].type != SKIFF_FEAT_STRING
                            ? as_double(&v[i]) : NAN;
        online__row_release(o, &row);
    }
    if (v != v_s)
        free(v);
    if (s != s_s && s != statuses)
        free(s);
    return rc;
}

/* ---- writing ---- */

static int merge_write(void *ctx, size_t i, const void *cur, size_t curlen, void **out,
                       size_t *outlen, struct skiff_err *err)
{
    const struct online__write *w = ctx;
    const struct skiff_feat_view *v = w->v;
    struct online__rec r;
    bool changed = false;
    int rc;

    *out = NULL;
    if ((rc = online__rec_decode(v, cur, curlen, &r, &changed, err)))
        return rc;
    if (w->ts && w->ts[i] != ONLINE_NO_ROW &&
        (r.event_ts == ONLINE_NO_ROW || w->ts[i] > r.event_ts ||
         (w->ts[i] == r.event_ts && w->created[i] > r.created_ts))) {
        r.event_ts = w->ts[i];
        r.created_ts = w->created[i];
        memcpy(r.fields, &w->fields[i * v->nfields], v->nfields * sizeof *r.fields);
        changed = true;
    }
    if (w->ev_off && v->naggs) {
        size_t from = w->ev_off[i], to = w->ev_off[i + 1];
        if (w->ev_lo != w->ev_hi) {
            /* materialize: the source's events of (lo, hi] replace the stored ones */
            size_t k = 0;
            for (size_t e = 0; e < r.nev; e++)
                if (!(r.ev_ts[e] > w->ev_lo && r.ev_ts[e] <= w->ev_hi)) {
                    r.ev_ts[k] = r.ev_ts[e];
                    memmove(&r.ev[k * v->naggs], &r.ev[e * v->naggs],
                            v->naggs * sizeof *r.ev);
                    k++;
                }
            changed |= k != r.nev;
            r.nev = k;
        }
        if (to > from) {
            if ((rc = online__rec_add_events(v, &r, w->agg_ts + from,
                                             w->agg_vals + from * v->naggs, to - from, err)))
                goto out;
            changed = true;
        }
    }
    if (changed)
        rc = online__rec_encode(v, &r, out, outlen, err);
out:
    online__rec_release(&r);
    return rc;
}

int online__write_rows(struct skiff_online *o, const struct online__write *w,
                       struct skiff_err *err)
{
    if (w->n == 0)
        return 0;
    return o->ops->update(o, w->n, w->refs, merge_write, (void *)w, err);
}

static int merge_wm(void *ctx, size_t i, const void *cur, size_t curlen, void **out,
                    size_t *outlen, struct skiff_err *err)
{
    if (!(*out = malloc(8)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    memcpy(*out, ctx, 8);
    *outlen = 8;
    return 0;
}

int online__watermark_get(struct skiff_online *o, const char *view, int64_t *out, bool *found,
                          struct skiff_err *err)
{
    char name[300];
    struct online__ref ref = {"", 0, name};
    const void *val;
    size_t len;
    void *hold = NULL;
    int rc;

    snprintf(name, sizeof name, "wm:%s", view);
    *found = false;
    if ((rc = o->ops->get(o, 1, &ref, &val, &len, &hold, err)))
        return rc;
    if (val && len == 8) {
        memcpy(out, val, 8);
        *found = true;
    }
    o->ops->release(o, hold);
    return 0;
}

int online__watermark_set(struct skiff_online *o, const char *view, int64_t us,
                          struct skiff_err *err)
{
    char name[300];
    struct online__ref ref = {"", 0, name};
    snprintf(name, sizeof name, "wm:%s", view);
    return o->ops->update(o, 1, &ref, merge_wm, &us, err);
}
