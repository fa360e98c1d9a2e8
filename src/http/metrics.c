/* Metrics registry: see include/skiff/metrics.h.
 *
 * A registry is a list of metrics in registration order (the order they are
 * rendered in). A metric holds its series, one per distinct tuple of label
 * values, in a hash table for the update path and in a list in creation
 * order for rendering, so /metrics output is stable between scrapes.
 *
 * Locking: the registry mutex guards its list (registration, rendering's
 * walk); each metric's mutex guards its series and values. Rendering takes
 * the registry mutex, then one metric mutex at a time; updates take only
 * the metric mutex, so a scrape never blocks requests for long.
 *
 * Label values come from callers that may pass request data, so the number
 * of series per metric is capped (MAX_SERIES): past it, updates for new
 * label tuples are dropped (with one warning) instead of growing memory.
 *
 * Worked example of a histogram with bounds {0.1, 1} after observing 0.05,
 * 0.5 and 3: per-bucket counts {1, 1, 1} (the last is +Inf), rendered
 * cumulatively as le="0.1" 1, le="1" 2, le="+Inf" 3, _sum 3.55, _count 3.
 */
#include "skiff/metrics.h"

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/log.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SERIES 10000
#define MAX_LABELS 16

enum kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM };

static const char *const kind_names[] = {"counter", "gauge", "histogram"};

/* 0.5 ms ... 10 s: from a cached feature read to a slow training API call. */
static const double default_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,    0.25,  0.5,    1,     2.5,  5,    10};

struct series {
    struct series *next;   /* creation order */
    struct series *hnext;  /* hash chain */
    uint64_t hash;
    double value;          /* counter, gauge; histogram: sum */
    uint64_t *counts;      /* histogram: nbounds + 1 per-bucket counts, else NULL */
    char *values[];        /* nlabels, pointing into the same allocation */
};

struct skiff_metric {
    struct skiff_metric *next;
    enum kind kind;
    char *name, *help;
    size_t nlabels;
    char **labels;
    double *bounds;
    size_t nbounds;
    pthread_mutex_t mu;
    struct series *first, **last;
    struct series **table;
    size_t tsize, nseries;
    bool warned_full;
};

struct skiff_metrics {
    pthread_mutex_t mu;
    struct skiff_metric *first, **last;
};

/* ---- registry ---- */

struct skiff_metrics *skiff_metrics_new(void)
{
    struct skiff_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        return NULL;
    }
    m->last = &m->first;
    return m;
}

static void metric_free(struct skiff_metric *mt)
{
    struct series *s, *n;

    for (s = mt->first; s; s = n) {
        n = s->next;
        free(s->counts);
        free(s);
    }
    free(mt->table);
    for (size_t i = 0; i < mt->nlabels; i++)
        free(mt->labels[i]);
    free(mt->labels);
    free(mt->bounds);
    free(mt->name);
    free(mt->help);
    pthread_mutex_destroy(&mt->mu);
    free(mt);
}

void skiff_metrics_free(struct skiff_metrics *m)
{
    struct skiff_metric *mt, *n;

    if (!m)
        return;
    for (mt = m->first; mt; mt = n) {
        n = mt->next;
        metric_free(mt);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static pthread_once_t default_once = PTHREAD_ONCE_INIT;
static struct skiff_metrics *default_registry;

static void free_default(void)
{
    skiff_metrics_free(default_registry);
    default_registry = NULL;
}

static void make_default(void)
{
    default_registry = skiff_metrics_new();
    if (default_registry)
        atexit(free_default);
}

struct skiff_metrics *skiff_metrics_default(void)
{
    pthread_once(&default_once, make_default);
    return default_registry;
}

/* ---- registration ---- */

/* [a-zA-Z_:][a-zA-Z0-9_:]* for metric names; labels have no ':' and may not
 * start with "__" (reserved by Prometheus). */
static bool valid_name(const char *s, size_t len, bool label)
{
    if (len == 0 || isdigit((unsigned char)s[0]))
        return false;
    if (label && len >= 2 && s[0] == '_' && s[1] == '_')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '_' && (label || c != ':'))
            return false;
    }
    return true;
}

/* Splits "route, code" into names[]; returns the count, or -1 when a name is
 * invalid, repeated or there are too many. Names are malloc'd. */
static int parse_labels(const char *spec, bool histogram, char **names)
{
    int n = 0;
    const char *p = spec;

    if (!spec || !*spec)
        return 0;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t len;

        if (!e)
            e = p + strlen(p);
        while (p < e && isspace((unsigned char)*p))
            p++;
        len = (size_t)(e - p);
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        if (n == MAX_LABELS || !valid_name(p, len, true) ||
            (histogram && len == 2 && memcmp(p, "le", 2) == 0))
            goto bad;
        for (int i = 0; i < n; i++)
            if (strlen(names[i]) == len && memcmp(names[i], p, len) == 0)
                goto bad;
        if (!(names[n] = strndup(p, len)))
            goto bad;
        n++;
        if (*e == '\0')
            return n;
        p = e + 1;
    }
bad:
    while (n > 0)
        free(names[--n]);
    return -1;
}

static bool same_shape(const struct skiff_metric *mt, enum kind kind, char **labels,
                       size_t nlabels, const double *bounds, size_t nbounds)
{
    if (mt->kind != kind || mt->nlabels != nlabels)
        return false;
    for (size_t i = 0; i < nlabels; i++)
        if (strcmp(mt->labels[i], labels[i]) != 0)
            return false;
    if (kind != KIND_HISTOGRAM)
        return true;
    if (mt->nbounds != nbounds)
        return false;
    for (size_t i = 0; i < nbounds; i++)
        if (mt->bounds[i] != bounds[i])
            return false;
    return true;
}

static struct series *series_get(struct skiff_metric *mt, const char *const *values);

static struct skiff_metric *reg(struct skiff_metrics *m, enum kind kind, const char *name,
                                const char *help, const char *labels, const double *bounds,
                                size_t nbounds)
{
    char *lnames[MAX_LABELS];
    struct skiff_metric *mt = NULL;
    int nl;

    if (!m || !name || !valid_name(name, strlen(name), false))
        return NULL;
    if (kind == KIND_HISTOGRAM) {
        if (!bounds) {
            bounds = default_bounds;
            nbounds = sizeof default_bounds / sizeof *default_bounds;
        }
        /* the +Inf bucket is always added: a caller's explicit one is dropped */
        if (nbounds && isinf(bounds[nbounds - 1]) && bounds[nbounds - 1] > 0)
            nbounds--;
        for (size_t i = 0; i < nbounds; i++)
            if (!isfinite(bounds[i]) || (i && !(bounds[i] > bounds[i - 1])))
                return NULL;
    } else {
        nbounds = 0;
    }
    if ((nl = parse_labels(labels, kind == KIND_HISTOGRAM, lnames)) < 0)
        return NULL;

    pthread_mutex_lock(&m->mu);
    for (struct skiff_metric *it = m->first; it; it = it->next) {
        if (strcmp(it->name, name) == 0) {
            if (same_shape(it, kind, lnames, (size_t)nl, bounds, nbounds))
                mt = it;
            goto out;
        }
    }
    if (!(mt = calloc(1, sizeof *mt)))
        goto out;
    mt->kind = kind;
    mt->name = strdup(name);
    mt->help = strdup(help ? help : "");
    mt->labels = calloc((size_t)nl + 1, sizeof *mt->labels);
    mt->bounds = calloc(nbounds + 1, sizeof *mt->bounds);
    if (!mt->name || !mt->help || !mt->labels || !mt->bounds ||
        pthread_mutex_init(&mt->mu, NULL) != 0) {
        free(mt->name);
        free(mt->help);
        free(mt->labels);
        free(mt->bounds);
        free(mt);
        mt = NULL;
        goto out;
    }
    mt->nlabels = (size_t)nl;
    for (int i = 0; i < nl; i++) {
        mt->labels[i] = lnames[i];
        lnames[i] = NULL;
    }
    nl = 0;
    if (nbounds)
        memcpy(mt->bounds, bounds, nbounds * sizeof *bounds);
    mt->nbounds = nbounds;
    mt->last = &mt->first;
    /* a metric without labels has exactly one series: create it now so it
     * is exposed (as 0) before its first update, as client libraries do */
    if (mt->nlabels == 0 && !series_get(mt, NULL)) {
        metric_free(mt);
        mt = NULL;
        goto out;
    }
    *m->last = mt;
    m->last = &mt->next;
out:
    pthread_mutex_unlock(&m->mu);
    for (int i = 0; i < nl; i++)
        free(lnames[i]);
    return mt;
}

struct skiff_metric *skiff_metrics_counter(struct skiff_metrics *m, const char *name,
                                           const char *help, const char *labels)
{
    return reg(m, KIND_COUNTER, name, help, labels, NULL, 0);
}

struct skiff_metric *skiff_metrics_gauge(struct skiff_metrics *m, const char *name,
                                         const char *help, const char *labels)
{
    return reg(m, KIND_GAUGE, name, help, labels, NULL, 0);
}

struct skiff_metric *skiff_metrics_histogram(struct skiff_metrics *m, const char *name,
                                             const char *help, const char *labels,
                                             const double *bounds, size_t n)
{
    return reg(m, KIND_HISTOGRAM, name, help, labels, bounds, n);
}

/* ---- series (metric mutex held) ---- */

/* FNV-1a over the values, each followed by a 0xff byte (which UTF-8 text
 * never contains) so ("ab","c") and ("a","bc") hash apart. */
static uint64_t hash_values(const char *const *values, size_t n)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
            h = (h ^ *p) * UINT64_C(1099511628211);
        h = (h ^ 0xff) * UINT64_C(1099511628211);
    }
    return h;
}

static bool grow_table(struct skiff_metric *mt)
{
    size_t nsize = mt->tsize ? mt->tsize * 2 : 16;
    struct series **nt = calloc(nsize, sizeof *nt);

    if (!nt)
        return false;
    for (struct series *s = mt->first; s; s = s->next) {
        size_t b = s->hash & (nsize - 1);
        s->hnext = nt[b];
        nt[b] = s;
    }
    free(mt->table);
    mt->table = nt;
    mt->tsize = nsize;
    return true;
}

static struct series *series_get(struct skiff_metric *mt, const char *const *values)
{
    static const char *const none[1] = {""};
    const char *vals[MAX_LABELS];
    size_t lens[MAX_LABELS], total = 0;
    struct series *s;
    uint64_t h;
    char *p;

    if (mt->nlabels && !values)
        return NULL;
    for (size_t i = 0; i < mt->nlabels; i++) {
        vals[i] = values[i] ? values[i] : "";
        lens[i] = strlen(vals[i]);
        total += lens[i] + 1;
    }
    h = hash_values(mt->nlabels ? vals : none, mt->nlabels);
    if (mt->tsize) {
        for (s = mt->table[h & (mt->tsize - 1)]; s; s = s->hnext) {
            size_t i;
            if (s->hash != h)
                continue;
            for (i = 0; i < mt->nlabels; i++)
                if (strcmp(s->values[i], vals[i]) != 0)
                    break;
            if (i == mt->nlabels)
                return s;
        }
    }
    if (mt->nseries >= MAX_SERIES) {
        if (!mt->warned_full) {
            mt->warned_full = true;
            skiff_warn("metric '%s' has %d series: new label values are dropped", mt->name,
                       MAX_SERIES);
        }
        return NULL;
    }
    if (mt->nseries >= mt->tsize && !grow_table(mt))
        return NULL;
    s = calloc(1, sizeof *s + mt->nlabels * sizeof(char *) + total);
    if (!s)
        return NULL;
    if (mt->kind == KIND_HISTOGRAM && !(s->counts = calloc(mt->nbounds + 1, sizeof(uint64_t)))) {
        free(s);
        return NULL;
    }
    p = (char *)&s->values[mt->nlabels];
    for (size_t i = 0; i < mt->nlabels; i++) {
        memcpy(p, vals[i], lens[i] + 1);
        s->values[i] = p;
        p += lens[i] + 1;
    }
    s->hash = h;
    s->hnext = mt->table[h & (mt->tsize - 1)];
    mt->table[h & (mt->tsize - 1)] = s;
    *mt->last = s;
    mt->last = &s->next;
    mt->nseries++;
    return s;
}

/* ---- updates ----
 * A call that does not fit the metric's type (set on a counter, observe on
 * a gauge, a negative or NaN counter increment) is ignored: an update path
 * has no error to return and a metric must never take a request down. */

void skiff_metric_inc(struct skiff_metric *mt, const char *const *values, double v)
{
    struct series *s;

    if (!mt || mt->kind == KIND_HISTOGRAM || isnan(v) || (mt->kind == KIND_COUNTER && v < 0))
        return;
    pthread_mutex_lock(&mt->mu);
    if ((s = series_get(mt, values)))
        s->value += v;
    pthread_mutex_unlock(&mt->mu);
}

void skiff_metric_set(struct skiff_metric *mt, const char *const *values, double v)
{
    struct series *s;

    if (!mt || mt->kind != KIND_GAUGE)
        return;
    pthread_mutex_lock(&mt->mu);
    if ((s = series_get(mt, values)))
        s->value = v;
    pthread_mutex_unlock(&mt->mu);
}

void skiff_metric_observe(struct skiff_metric *mt, const char *const *values, double v)
{
    struct series *s;
    size_t b;

    if (!mt || mt->kind != KIND_HISTOGRAM || isnan(v))
        return;
    /* bucket b holds (bounds[b-1], bounds[b]]; b == nbounds is +Inf */
    for (b = 0; b < mt->nbounds && v > mt->bounds[b]; b++)
        ;
    pthread_mutex_lock(&mt->mu);
    if ((s = series_get(mt, values))) {
        s->counts[b]++;
        s->value += v;
    }
    pthread_mutex_unlock(&mt->mu);
}

/* ---- rendering ---- */

/* Shortest text that reads back as the same double ("0.1", not
 * "0.10000000000000001"); Prometheus spells the specials +Inf, -Inf, NaN. */
static const char *fmt_num(double v, char *buf, size_t n)
{
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    snprintf(buf, n, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, n, "%.17g", v);
    return buf;
}

/* Label values escape backslash, double quote and newline; HELP text only
 * backslash and newline (text format 0.0.4). */
static int put_escaped(struct skiff_buf *out, const char *s, bool quote)
{
    int rc = 0;
    for (; !rc && *s; s++) {
        if (*s == '\\')
            rc = skiff_buf_puts(out, "\\\\");
        else if (*s == '\n')
            rc = skiff_buf_puts(out, "\\n");
        else if (quote && *s == '"')
            rc = skiff_buf_puts(out, "\\\"");
        else
            rc = skiff_buf_putc(out, *s);
    }
    return rc;
}

/* name{l1="v1",...[,le="x"]} value\n */
static int put_sample(struct skiff_buf *out, const struct skiff_metric *mt,
                      const struct series *s, const char *suffix, const char *le,
                      const char *value)
{
    int rc = skiff_buf_appendf(out, "%s%s", mt->name, suffix);
    bool any = mt->nlabels || le;

    if (!rc && any)
        rc = skiff_buf_putc(out, '{');
    for (size_t i = 0; !rc && i < mt->nlabels; i++) {
        rc = skiff_buf_appendf(out, "%s%s=\"", i ? "," : "", mt->labels[i]);
        if (!rc)
            rc = put_escaped(out, s->values[i], true);
        if (!rc)
            rc = skiff_buf_putc(out, '"');
    }
    if (!rc && le)
        rc = skiff_buf_appendf(out, "%sle=\"%s\"", mt->nlabels ? "," : "", le);
    if (!rc && any)
        rc = skiff_buf_putc(out, '}');
    if (!rc)
        rc = skiff_buf_appendf(out, " %s\n", value);
    return rc;
}

/* One histogram series: cumulative buckets, then _sum and _count (which
 * equals the +Inf bucket). */
static int render_histogram(struct skiff_buf *out, const struct skiff_metric *mt,
                            const struct series *s)
{
    char num[40], le[40], cnt[24];
    uint64_t cum = 0;
    int rc = 0;

    for (size_t b = 0; !rc && b <= mt->nbounds; b++) {
        cum += s->counts[b];
        snprintf(cnt, sizeof cnt, "%" PRIu64, cum);
        rc = put_sample(out, mt, s, "_bucket",
                        b < mt->nbounds ? fmt_num(mt->bounds[b], le, sizeof le) : "+Inf", cnt);
    }
    if (!rc)
        rc = put_sample(out, mt, s, "_sum", NULL, fmt_num(s->value, num, sizeof num));
    if (!rc)
        rc = put_sample(out, mt, s, "_count", NULL, cnt);
    return rc;
}

static int render_metric(struct skiff_buf *out, const struct skiff_metric *mt)
{
    char num[40];
    int rc = 0;

    /* no HELP line for an empty help text: TYPE alone is valid */
    if (mt->help[0]) {
        rc = skiff_buf_appendf(out, "# HELP %s ", mt->name);
        if (!rc)
            rc = put_escaped(out, mt->help, false);
        if (!rc)
            rc = skiff_buf_putc(out, '\n');
    }
    if (!rc)
        rc = skiff_buf_appendf(out, "# TYPE %s %s\n", mt->name, kind_names[mt->kind]);
    for (const struct series *s = mt->first; !rc && s; s = s->next)
        rc = mt->kind == KIND_HISTOGRAM
                 ? render_histogram(out, mt, s)
                 : put_sample(out, mt, s, "", NULL, fmt_num(s->value, num, sizeof num));
    return rc;
}

int skiff_metrics_render(struct skiff_metrics *m, struct skiff_buf *out)
{
    int rc = 0;

    if (!m)
        return 0;
    pthread_mutex_lock(&m->mu);
    for (struct skiff_metric *mt = m->first; !rc && mt; mt = mt->next) {
        pthread_mutex_lock(&mt->mu);
        rc = render_metric(out, mt);
        pthread_mutex_unlock(&mt->mu);
    }
    pthread_mutex_unlock(&m->mu);
    /* besides ENOMEM, an append fails only on a cap the caller gave `out`:
     * that is reported as SKIFF_ETOOBIG, which is what it is */
    return rc == SKIFF_ETOOBIG ? SKIFF_ETOOBIG : rc ? SKIFF_ENOMEM : 0;
}
