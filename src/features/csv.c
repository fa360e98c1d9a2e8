/* CSV in and out of typed columnar tables: see include/skiff/features.h.
 *
 * The reader is one pass over the file held in memory: a record is split
 * into fields (quotes, doubled quotes, CRLF), each wanted field is parsed by
 * its column's type straight into the column. Positions are tracked as it
 * goes (line of the record, 1-based character column of each field), so a
 * bad value is reported where an editor shows it.
 */
#include "features_int.h"

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/time.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define DEFAULT_MAX_BYTES ((size_t)16 << 30)
#define FIELD_MAX (64u << 20)     /* one cell may not exceed 64 MiB */

/* Where the parser is. */
struct cursor {
    const char *p, *end, *line_start;
    int line;
    const char *name;
};

/* One field: its text (unescaped, NUL-terminated in buf), where it began,
 * whether it was quoted and whether it ended its record. */
struct field {
    struct skiff_buf *buf;
    int line, col;
    bool quoted, last;
};

static int next_field(struct cursor *c, struct field *f, struct skiff_err *err)
{
    const char *p = c->p;

    skiff_buf_reset(f->buf);
    f->line = c->line;
    f->col = (int)(p - c->line_start) + 1;
    f->quoted = p < c->end && *p == '"';
    if (f->quoted) {
        for (p++;; p++) {
            if (p == c->end)
                return skiff_err_at(err, SKIFF_EPARSE, c->name, f->line, f->col,
                                    "unterminated quoted field");
            if (*p == '"') {
                if (p + 1 < c->end && p[1] == '"') {
                    p++;
                } else {
                    p++;
                    break;
                }
            } else if (*p == '\n') {
                c->line++;
                c->line_start = p + 1;
            }
            if (skiff_buf_putc(f->buf, *p))
                return skiff_err_at(err, SKIFF_ETOOBIG, c->name, f->line, f->col,
                                    "field larger than %u bytes", FIELD_MAX);
        }
        if (p < c->end && *p == '\r' && (p + 1 == c->end || p[1] == '\n'))
            p++;
        if (p < c->end && *p != ',' && *p != '\n')
            return skiff_err_at(err, SKIFF_EPARSE, c->name, c->line,
                                (int)(p - c->line_start) + 1,
                                "unexpected character after a closing quote (a quote inside "
                                "a quoted field is written \"\")");
    } else {
        const char *s = p;
        size_t n;
        while (p < c->end && *p != ',' && *p != '\n')
            p++;
        n = (size_t)(p - s);
        if (n && s[n - 1] == '\r' && (p == c->end || *p == '\n'))
            n--;   /* CRLF, also on a last line without its line end */
        if (skiff_buf_append(f->buf, s, n))
            return skiff_err_at(err, SKIFF_ETOOBIG, c->name, f->line, f->col,
                                "field larger than %u bytes", FIELD_MAX);
    }
    f->last = p >= c->end || *p == '\n';
    if (p < c->end) {
        if (*p == '\n') {
            c->line++;
            c->line_start = p + 1;
        }
        p++;
    }
    c->p = p;
    return 0;
}

/* The common case of an integer cell, an optional '-' and up to 18 digits
 * (which cannot overflow), without strtoll's locale and base handling;
 * false sends anything else to strtoll. */
static bool fast_int(const char *s, size_t n, long long *out)
{
    bool neg = n && s[0] == '-';
    long long v = 0;
    size_t i = neg;
    if (n == i || n - i > 18)
        return false;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return true;
}

/* Powers of ten that a double holds exactly (10^22 < 2^53 * 2^22 ... every
 * 10^k up to 10^22 is an exact double: 5^22 < 2^53). */
static const double exact_pow10[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* The common decimal cell ("-12.5", "0.123456", "3e-2") without strtod,
 * correctly rounded by Clinger's fast path: when the digits, without the
 * point, form an integer m <= 2^53 and the power of ten p has |p| <= 22, m
 * and 10^|p| are both exact doubles, so one IEEE multiplication or
 * division gives the correctly rounded m * 10^p, the same double strtod
 * returns. Anything else (more digits, a large exponent, inf, nan, hex,
 * spaces) returns false and goes to strtod, the exact fallback.
 * Worked example: "42.125" -> m 42125, p -3 -> 42125 / 1e3 = 42.125;
 * "0.1" -> 1 / 1e1, the double nearest 0.1, as strtod gives;
 * "1e23" -> p 23 > 22 -> strtod. */
static bool fast_double(const char *s, size_t n, double *out)
{
    const char *p = s, *end = s + n;
    uint64_t m = 0;
    int exp10 = 0, ndigits = 0;
    bool neg = false, any = false;

    if (p < end && (*p == '-' || *p == '+'))
        neg = *p++ == '-';
    for (; p < end && *p >= '0' && *p <= '9'; p++, any = true) {
        if (m == 0 && *p == '0')
            continue;   /* leading zeros add no precision */
        if (++ndigits > 19)
            return false;
        m = m * 10 + (uint64_t)(*p - '0');
    }
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++, any = true) {
            exp10--;
            if (m == 0 && *p == '0')
                continue;
            if (++ndigits > 19)
                return false;
            m = m * 10 + (uint64_t)(*p - '0');
        }
    }
    if (!any)
        return false;
    if (p < end && (*p == 'e' || *p == 'E')) {
        int e = 0;
        bool eneg = false, edig = false;
        p++;
        if (p < end && (*p == '-' || *p == '+'))
            eneg = *p++ == '-';
        for (; p < end && *p >= '0' && *p <= '9'; p++, edig = true)
            if ((e = e * 10 + (*p - '0')) > 1000)
                return false;
        if (!edig)
            return false;
        exp10 += eneg ? -e : e;
    }
    if (p != end || m > ((uint64_t)1 << 53) || exp10 < -22 || exp10 > 22)
        return false;
    *out = exp10 < 0 ? (double)m / exact_pow10[-exp10] : (double)m * exact_pow10[exp10];
    if (neg)
        *out = -*out;
    return true;
}

/* Epoch seconds or milliseconds, the common integer timestamp cell, read as
 * skiff_time_parse reads it (1 to 16 digits, an optional '-'; 13 digits or
 * more are milliseconds) without its scans for '-' and ':'. */
static bool fast_epoch(const char *s, size_t n, int64_t *out)
{
    bool neg = n && s[0] == '-';
    int64_t v = 0;
    size_t i = neg, digits = n - neg;
    if (digits == 0 || digits > 16)
        return false;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    v = digits >= 13 ? v * 1000 : v * SKIFF_US_PER_SEC;
    *out = neg ? -v : v;
    return true;
}

/* Parses f's text as column col's type into row `row`. Returns 0, or
 * SKIFF_EPARSE with the position. */
static int set_cell(struct skiff_feat_table *t, size_t row, size_t col, const struct field *f,
                    bool required, const char *name, struct skiff_err *err)
{
    struct skiff_feat_column *c = &t->cols[col];
    const char *s = f->buf->ptr;
    char *end;
    int rc;

    if (f->buf->len == 0 && !(f->quoted && c->type == SKIFF_FEAT_STRING)) {
        if (required)
            return skiff_err_at(err, SKIFF_EPARSE, name, f->line, f->col,
                                "column '%s': a value is required", c->name);
        return 0;   /* null */
    }
    if (c->has_text && (rc = features__pool_put(c, row, s, f->buf->len, err)))
        return rc;
    switch (c->type) {
    case SKIFF_FEAT_STRING:
        break;
    case SKIFF_FEAT_INT64:
    case SKIFF_FEAT_INT32: {
        long long v;
        if (!fast_int(s, f->buf->len, &v)) {
            errno = 0;
            v = strtoll(s, &end, 10);
            if (end == s || *end || errno || isspace((unsigned char)*s))
                goto bad;
        }
        if (c->type == SKIFF_FEAT_INT32 && (v < INT32_MIN || v > INT32_MAX))
            goto bad;
        c->i64[row] = v;
        break;
    }
    case SKIFF_FEAT_DOUBLE:
    case SKIFF_FEAT_FLOAT: {
        double v;
        if (!fast_double(s, f->buf->len, &v)) {
            v = strtod(s, &end);
            if (end == s || *end || isspace((unsigned char)*s))
                goto bad;
        }
        c->f64[row] = c->type == SKIFF_FEAT_FLOAT ? (double)(float)v : v;
        break;
    }
    case SKIFF_FEAT_BOOL:
        if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0)
            c->i64[row] = 1;
        else if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0)
            c->i64[row] = 0;
        else
            goto bad;
        break;
    case SKIFF_FEAT_UNIX_TIMESTAMP:
        if (!fast_epoch(s, f->buf->len, &c->i64[row]) && skiff_time_parse(s, &c->i64[row], NULL))
            return skiff_err_at(err, SKIFF_EPARSE, name, f->line, f->col,
                                "column '%s': \"%.64s\" is not a timestamp (want RFC 3339 such "
                                "as 2026-11-27T09:14:02Z, or epoch seconds or milliseconds)",
                                c->name, s);
        break;
    }
    c->valid[row] = 1;
    return 0;
bad:
    return skiff_err_at(err, SKIFF_EPARSE, name, f->line, f->col,
                        "column '%s': \"%.64s\" is not a valid %s", c->name, s,
                        skiff_feat_type_name(c->type));
}

/* The name a header column goes by after fieldMapping. */
static const char *renamed(const struct skiff_feat_csv_opts *o, const char *h)
{
    for (size_t i = 0; i < o->nrename; i++)
        if (strcmp(o->rename_from[i], h) == 0)
            return o->rename_to[i];
    return h;
}

/* The rows of one part of a file into t. */
struct rows_job {
    struct cursor c;
    struct skiff_feat_table *t;
    const long *map;
    const bool *req;
    size_t nheader;
    const struct skiff_feat_csv_opts *o;
    size_t nskipped;
    int rc;
    struct skiff_err err;
    int end_line;    /* the cursor's line where parsing stopped */
};

static void *parse_rows(void *arg)
{
    struct rows_job *j = arg;
    struct cursor c = j->c;
    struct skiff_feat_table *t = j->t;
    const long *map = j->map;
    const bool *req = j->req;
    const struct skiff_feat_csv_opts *o = j->o;
    size_t nheader = j->nheader;
    const char *name = c.name;
    struct skiff_err *err = &j->err;
    struct skiff_buf fb;
    struct field f = {&fb, 0, 0, false, false};
    int rc = 0;

    skiff_buf_init(&fb, FIELD_MAX);
    while (c.p < c.end) {
        size_t row = t->nrows, nf = 0;
        int line = c.line;
        bool bad = false;

        if (*c.p == '\n' || (*c.p == '\r' && c.p + 1 < c.end && c.p[1] == '\n')) {
            c.p += *c.p == '\r' ? 2 : 1;   /* a blank line */
            c.line++;
            c.line_start = c.p;
            continue;
        }
        if ((rc = skiff_feat_table_grow(t, 1, err)))
            goto out;
        t->nrows = row;   /* counted once the row is complete */
        t->line[row] = (size_t)line;   /* grow made the row's cells null */
        do {
            if ((rc = next_field(&c, &f, err)))
                goto out;
            if (nf < nheader && map[nf] >= 0 && !bad &&
                (rc = set_cell(t, row, (size_t)map[nf], &f, req[map[nf]], name, err))) {
                if (rc != SKIFF_EPARSE || !o->skip_bad_rows)
                    goto out;
                bad = true;
                skiff_err_clear(err);
                rc = 0;
            }
            nf++;
        } while (!f.last);
        if (nf != nheader) {
            if (!o->skip_bad_rows) {
                rc = skiff_err_at(err, SKIFF_EPARSE, name, line, 1,
                                  "the row has %zu fields, the header %zu", nf, nheader);
                goto out;
            }
            bad = true;
        }
        if (bad)
            j->nskipped++;
        else
            t->nrows = row + 1;
    }
out:
    j->rc = rc;
    j->end_line = c.line;
    skiff_buf_release(&fb);
    return NULL;
}

static int append_rows(struct skiff_feat_table *dst, const struct skiff_feat_table *src,
                       struct skiff_err *err);

#define SPLIT_MIN (4u << 20)   /* below this a second thread costs more than it saves */

/* Parses the rows after the header. A large body without any quote (so a
 * line end always ends a record) is cut at a line end near its middle and
 * the two halves are parsed at once, the second into its own table that is
 * then appended; errors of the first half win, being earlier in the file. */
static int parse_body(const struct cursor *c, struct skiff_feat_table *t, const char **names,
                      const enum skiff_feat_type *types, const long *map, const bool *req,
                      size_t nheader, const struct skiff_feat_csv_opts *o, size_t *nskipped,
                      int *end_line, struct skiff_err *err)
{
    struct rows_job a = {*c, t, map, req, nheader, o, 0, 0, SKIFF_ERR_INIT, c->line}, b = a;
    size_t len = (size_t)(c->end - c->p);
    const char *cut = NULL;
    pthread_t tid;
    bool threaded = false;
    int rc = 0;

    if (len >= SPLIT_MIN && !memchr(c->p, '"', len))
        cut = memchr(c->p + len / 2, '\n', len - len / 2);
    if (cut && ++cut < c->end) {
        int lines = 0;
        for (const char *q = c->p; (q = memchr(q, '\n', (size_t)(cut - q))) != NULL; q++)
            lines++;
        if ((rc = skiff_feat_table_new(t->name, names, types, t->ncols, &b.t, err)))
            return rc;
        for (size_t i = 0; i < t->ncols; i++)
            b.t->cols[i].has_text = t->cols[i].has_text;
        a.c.end = cut;
        b.c.p = b.c.line_start = cut;
        b.c.line = c->line + lines;
        threaded = pthread_create(&tid, NULL, parse_rows, &b) == 0;
    }
    parse_rows(&a);
    if (b.t != t) {
        if (threaded)
            pthread_join(tid, NULL);
        else
            parse_rows(&b);
    }
    if (a.rc) {
        rc = a.rc;
        *err = a.err;
    } else if (b.t != t && b.rc) {
        rc = b.rc;
        *err = b.err;
    } else if (b.t != t) {
        rc = append_rows(t, b.t, err);
    }
    *nskipped = a.nskipped + (b.t != t ? b.nskipped : 0);
    *end_line = b.t != t ? b.end_line : a.end_line;
    if (b.t != t)
        skiff_feat_table_free(b.t);
    return rc;
}

/* A CSV being parsed, header first, then its rows in one or more pieces
 * (a file is read in chunks; see read_file). */
struct parser {
    const char *name;
    const struct skiff_feat_csv_opts *o;
    char **header;
    size_t nheader, ncols, nskipped;
    const char **names;
    enum skiff_feat_type *types;
    long *map;    /* header index -> table column, -1 = not read */
    bool *req;    /* per table column: empty is an error */
    struct skiff_feat_table *t;
    int line;     /* of the next record */
};

static void parser_release(struct parser *ps)
{
    for (size_t h = 0; h < ps->nheader; h++)
        free(ps->header[h]);
    free(ps->header);
    free(ps->names);
    free(ps->types);
    free(ps->req);
    free(ps->map);
    skiff_feat_table_free(ps->t);
}

/* Reads the header row at c (which it advances) and makes the table. */
static int parser_header(struct parser *ps, struct cursor *c, struct skiff_err *err)
{
    const struct skiff_feat_csv_opts *o = ps->o;
    struct skiff_buf fb;
    struct field f = {&fb, 0, 0, false, false};
    size_t hcap = 0;
    int rc = 0;

    skiff_buf_init(&fb, FIELD_MAX);
    if (c->end - c->p >= 3 && memcmp(c->p, "\xef\xbb\xbf", 3) == 0)   /* a UTF-8 BOM */
        c->p = c->line_start = c->p + 3;
    if (c->p == c->end) {
        rc = skiff_err_at(err, SKIFF_EPARSE, ps->name, 1, 1, "empty file: want a header row");
        goto out;
    }
    do {
        if ((rc = next_field(c, &f, err)))
            goto out;
        if (ps->nheader == hcap) {
            char **h;
            hcap = hcap ? hcap * 2 : 16;
            if (!(h = realloc(ps->header, hcap * sizeof *h)))
                goto nomem;
            ps->header = h;
        }
        if (!(ps->header[ps->nheader] = strdup(renamed(o, fb.ptr))))
            goto nomem;
        ps->nheader++;
    } while (!f.last);

    if (!(ps->names = calloc(ps->nheader + o->ncols, sizeof *ps->names)) ||
        !(ps->types = calloc(ps->nheader + o->ncols, sizeof *ps->types)) ||
        !(ps->req = calloc(ps->nheader + o->ncols, sizeof *ps->req)) ||
        !(ps->map = malloc(ps->nheader * sizeof *ps->map)))
        goto nomem;
    for (size_t h = 0; h < ps->nheader; h++)
        ps->map[h] = -1;
    for (size_t i = 0; i < o->ncols; i++) {
        size_t h = 0;
        while (h < ps->nheader && strcmp(ps->header[h], o->cols[i].name) != 0)
            h++;
        if (h == ps->nheader) {
            rc = skiff_err_at(err, SKIFF_EINVAL, ps->name, 1, 1, "no column '%s' in the header",
                              o->cols[i].name);
            goto out;
        }
        if (!o->keep_others && ps->map[h] < 0) {
            ps->map[h] = (long)ps->ncols;
            ps->names[ps->ncols] = o->cols[i].name;
            ps->req[ps->ncols] = o->cols[i].required;
            ps->types[ps->ncols++] = o->cols[i].type;
        }
    }
    /* keeping every column: header order, the wanted ones typed */
    for (size_t h = 0; o->keep_others && h < ps->nheader; h++) {
        ps->map[h] = (long)ps->ncols;
        ps->names[ps->ncols] = ps->header[h];
        ps->types[ps->ncols] = SKIFF_FEAT_STRING;
        for (size_t i = 0; i < o->ncols; i++)
            if (strcmp(ps->header[h], o->cols[i].name) == 0) {
                ps->types[ps->ncols] = o->cols[i].type;
                ps->req[ps->ncols] = o->cols[i].required;
            }
        ps->ncols++;
    }
    for (size_t h = 0; h < ps->nheader; h++)
        for (size_t g = 0; g < h; g++)
            if ((ps->map[g] >= 0 || ps->map[h] >= 0) &&
                strcmp(ps->header[g], ps->header[h]) == 0) {
                rc = skiff_err_at(err, SKIFF_EINVAL, ps->name, 1, 1,
                                  "column '%s' appears twice", ps->header[h]);
                goto out;
            }
    if ((rc = skiff_feat_table_new(ps->name, ps->names, ps->types, ps->ncols, &ps->t, err)))
        goto out;
    for (size_t i = 0; o->keep_text && i < ps->ncols; i++)
        ps->t->cols[i].has_text = true;
    ps->line = c->line;
    goto out;
nomem:
    rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading '%s'", ps->name);
out:
    skiff_buf_release(&fb);
    return rc;
}

/* Parses whole records text[0..len) (it must end at a record's end) into
 * the table. */
static int parser_rows(struct parser *ps, const char *text, size_t len, struct skiff_err *err)
{
    struct cursor c = {text, text + len, text, ps->line, ps->name};
    size_t nskipped = 0;
    int rc = parse_body(&c, ps->t, ps->names, ps->types, ps->map, ps->req, ps->nheader, ps->o,
                        &nskipped, &ps->line, err);
    ps->nskipped += nskipped;
    return rc;
}

int skiff_feat_csv_parse(const char *text, size_t len, const char *name,
                         const struct skiff_feat_csv_opts *o, struct skiff_feat_table **out,
                         size_t *skipped, struct skiff_err *err)
{
    struct parser ps = {.name = name, .o = o};
    struct cursor c = {text, text + len, text, 1, name};
    int rc;

    *out = NULL;
    if ((rc = parser_header(&ps, &c, err)) == 0 &&
        (rc = parser_rows(&ps, c.p, (size_t)(c.end - c.p), err)) == 0) {
        *out = ps.t;
        ps.t = NULL;
    }
    if (skipped)
        *skipped = ps.nskipped;
    parser_release(&ps);
    return rc;
}

/* ---- reading a file in chunks ---- */

#define CHUNK ((size_t)32 << 20)   /* bytes read and parsed at a time, by default */

/* The end of the last whole record of buf[0..len), which starts at a
 * record's beginning; NULL when there is none yet. A line end ends a
 * record unless it is inside quotes: with an even number of '"' before it
 * (a doubled "" counts twice), it is outside. Worked example: a,"x\ny"\nb
 * -> the last '\n' (before b) has 2 quotes before it: a record end; the
 * first has 1: inside "x\ny". */
static const char *last_record_end(const char *buf, size_t len)
{
    const char *nl = memrchr(buf, '\n', len);
    size_t quotes = 0;
    if (!nl)
        return NULL;
    for (const char *q = buf; (q = memchr(q, '"', (size_t)(nl - q))) != NULL; q++)
        quotes++;
    while (quotes % 2) {
        /* inside quotes: step back to an earlier line end, uncounting the quotes passed */
        const char *prev = memrchr(buf, '\n', (size_t)(nl - buf));
        if (!prev)
            return NULL;
        for (const char *q = prev; (q = memchr(q, '"', (size_t)(nl - q))) != NULL; q++)
            quotes--;
        nl = prev;
    }
    return nl + 1;
}

/* Where the bytes come from: a plain file, a gzip stream, or a caller's
 * reader (a PostgreSQL COPY: pg.c). */
struct input {
    int fd;
    gzFile gz;
    const char *path;
    features__read_cb read;
    void *ctx;
};

/* Reads up to n bytes; 0 at the end. A truncated or corrupt gzip file is
 * an error, not a short file: zlib reports a truncated one as a short read
 * with Z_BUF_ERROR ("unexpected end of file") left behind. */
static int input_read(struct input *in, char *buf, size_t n, size_t *got, struct skiff_err *err)
{
    int zerr;
    *got = 0;
    if (in->read)
        return in->read(in->ctx, buf, n, got, err);
    if (!in->gz) {
        for (;;) {
            ssize_t r = read(in->fd, buf, n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return skiff_err_sys(err, SKIFF_EIO, "cannot read '%s'", in->path);
            *got = (size_t)r;
            return 0;
        }
    }
    int r = gzread(in->gz, buf, n > (1u << 30) ? 1u << 30 : (unsigned)n);
    const char *msg = gzerror(in->gz, &zerr);
    if (r < 0 || (r == 0 && zerr != Z_OK))
        return skiff_err_set(err, SKIFF_EPARSE, "'%s' is not a valid gzip file: %s", in->path,
                             zerr == Z_ERRNO ? strerror(errno) : msg);
    *got = (size_t)r;
    return 0;
}

/* Whether fd starts with gzip's magic bytes 1f 8b: the content decides, not
 * the name, so a gzipped file named .csv reads too. */
static bool is_gzip(int fd)
{
    unsigned char m[2];
    return pread(fd, m, 2, 0) == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

/* Reads `in` CHUNK bytes at a time: each read is cut at its last whole
 * record, those records are parsed into the table, and the rest moves to
 * the front of the buffer for the next read. Memory is the table (only the
 * wanted columns) plus one chunk, whatever the input's size. max caps the
 * bytes read (decompressed, for gzip). `size` is the input's size for the
 * progress bar (0: unknown, no bar). */
static int read_stream(struct input *in, uint64_t size, const struct skiff_feat_csv_opts *o,
                       struct skiff_feat_table **out, size_t *skipped, struct skiff_err *err)
{
    size_t max = o->max_bytes ? o->max_bytes : DEFAULT_MAX_BYTES, len = 0;
    size_t cap = o->chunk_bytes ? o->chunk_bytes : CHUNK;
    size_t total = 0, got = 0;
    const char *path = in->path;
    struct parser ps = {.name = path, .o = o};
    struct features__progress bar;
    const char *base = strrchr(path, '/');
    char label[64];
    uint64_t shown_off = 0;
    bool header = false, eof = false;
    char *buf = NULL;
    int rc = 0;

    *out = NULL;
    if (skipped)
        *skipped = 0;
    snprintf(label, sizeof label, "reading %s", base ? base + 1 : path);
    features__progress_start(&bar, o->progress && size > 0, label, size);
    if (!(buf = malloc(cap + 1))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading '%s'", path);
        goto out;
    }
    while (!eof) {
        const char *end;
        if (len == cap) {
            /* one record longer than the buffer: make room (FIELD_MAX bounds a cell) */
            char *p = realloc(buf, cap * 2 + 1);
            if (!p) {
                rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading '%s'", path);
                goto out;
            }
            buf = p;
            cap *= 2;
        }
        if ((rc = input_read(in, buf + len, cap - len, &got, err)))
            goto out;
        eof = got == 0;
        len += got;
        if (bar.on) {
            /* the compressed bytes consumed, for gzip: the file's size is the total */
            uint64_t off = in->gz ? (uint64_t)gzoffset(in->gz) : shown_off + got;
            features__progress_add(&bar, off - shown_off);
            shown_off = off;
        }
        if ((total += got) > max) {
            rc = skiff_err_set(err, SKIFF_ETOOBIG, "'%s' is larger than %zu bytes%s", path, max,
                               in->gz ? " decompressed" : "");
            goto out;
        }
        buf[len] = '\0';
        end = eof ? buf + len : last_record_end(buf, len);
        if (!end)
            continue;
        if (!header) {
            struct cursor c = {buf, end, buf, 1, path};
            if ((rc = parser_header(&ps, &c, err)))
                goto out;
            header = true;
            if ((rc = parser_rows(&ps, c.p, (size_t)(end - c.p), err)))
                goto out;
        } else if ((rc = parser_rows(&ps, buf, (size_t)(end - buf), err))) {
            goto out;
        }
        len -= (size_t)(end - buf);
        memmove(buf, end, len);
    }
    *out = ps.t;
    ps.t = NULL;
out:
    features__progress_end(&bar);
    if (skipped)
        *skipped = ps.nskipped;
    parser_release(&ps);
    free(buf);
    return rc;
}

int features__csv_read_stream(const char *name, features__read_cb read, void *ctx,
                              const struct skiff_feat_csv_opts *o,
                              struct skiff_feat_table **out, size_t *skipped,
                              struct skiff_err *err)
{
    struct input in = {-1, NULL, name, read, ctx};
    return read_stream(&in, 0, o, out, skipped, err);
}

/* Reads a file, plain or gzip (read_stream). */
static int read_file(const char *path, const struct skiff_feat_csv_opts *o,
                     struct skiff_feat_table **out, size_t *skipped, struct skiff_err *err)
{
    struct input in = {-1, NULL, path, NULL, NULL};
    struct stat st;
    int rc;

    *out = NULL;
    if (skipped)
        *skipped = 0;
    if ((in.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return skiff_err_sys(err, errno == ENOENT ? SKIFF_EINVAL : SKIFF_EIO,
                             "cannot open '%s'", path);
    if (is_gzip(in.fd)) {
        int fd2 = dup(in.fd);   /* gzclose closes the descriptor it was given */
        if (fd2 < 0 || !(in.gz = gzdopen(fd2, "rb"))) {
            if (fd2 >= 0)
                close(fd2);
            close(in.fd);
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading '%s'", path);
        }
        gzbuffer(in.gz, 1u << 17);
    }
    rc = read_stream(&in, fstat(in.fd, &st) == 0 ? (uint64_t)st.st_size : 0, o, out, skipped,
                     err);
    if (in.gz)
        gzclose(in.gz);
    close(in.fd);
    return rc;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends src's rows to dst (same columns, as two reads with one set of
 * options make them). */
static int append_rows(struct skiff_feat_table *dst, const struct skiff_feat_table *src,
                       struct skiff_err *err)
{
    size_t base = dst->nrows;
    int rc;

    if ((rc = skiff_feat_table_grow(dst, src->nrows, err)))
        return rc;
    for (size_t i = 0; i < dst->ncols; i++) {
        struct skiff_feat_column *d = &dst->cols[i];
        const struct skiff_feat_column *c = &src->cols[i];
        if (strcmp(d->name, c->name) != 0 || d->type != c->type)
            return skiff_err_at(err, SKIFF_EINVAL, src->name, 1, 1,
                                "the columns differ from those of '%s'", dst->name);
        memcpy(d->valid + base, c->valid, src->nrows);
        if (d->i64)
            memcpy(d->i64 + base, c->i64, src->nrows * sizeof *c->i64);
        if (d->f64)
            memcpy(d->f64 + base, c->f64, src->nrows * sizeof *c->f64);
        for (size_t r = 0; d->has_text && r < src->nrows; r++)
            if (c->valid[r])
                if ((rc = features__pool_put(d, base + r, c->pool + c->off[r],
                                             strlen(c->pool + c->off[r]), err)))
                    return rc;
    }
    memcpy(dst->line + base, src->line, src->nrows * sizeof *src->line);
    return 0;
}

/* A folder: its *.csv and *.csv.gz files in name order, read as one table. */
static int read_dir(const char *path, const struct skiff_feat_csv_opts *o,
                    struct skiff_feat_table **out, size_t *skipped, struct skiff_err *err)
{
    char **names = NULL;
    size_t n = 0, cap = 0, skip;
    struct dirent *de;
    struct skiff_feat_table *all = NULL, *t = NULL;
    DIR *d = opendir(path);
    int rc = 0;

    if (!d)
        return skiff_err_sys(err, SKIFF_EIO, "cannot open folder '%s'", path);
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !(skiff_str_endswith(de->d_name, ".csv") ||
                                      skiff_str_endswith(de->d_name, ".csv.gz")))
            continue;
        if (n == cap) {
            char **p = realloc(names, (cap = cap ? cap * 2 : 16) * sizeof *p);
            if (!p) {
                rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory listing '%s'", path);
                break;
            }
            names = p;
        }
        if (!(names[n] = malloc(strlen(path) + strlen(de->d_name) + 2)))
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory listing '%s'", path);
        else
            sprintf(names[n++], "%s/%s", path, de->d_name);
    }
    closedir(d);
    if (rc == 0 && n == 0)
        rc = skiff_err_set(err, SKIFF_EINVAL, "no *.csv or *.csv.gz files in '%s'", path);
    if (names)
        qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if ((rc = read_file(names[i], o, &t, &skip, err)))
            break;
        *skipped += skip;
        if (!all) {
            all = t;
            t = NULL;
        } else {
            rc = append_rows(all, t, err);
            skiff_feat_table_free(t);
            t = NULL;
        }
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc)
        skiff_feat_table_free(all);
    else
        *out = all;
    return rc;
}

int skiff_feat_csv_read(const char *path, const struct skiff_feat_csv_opts *o,
                        struct skiff_feat_table **out, size_t *skipped, struct skiff_err *err)
{
    struct stat st;
    size_t skip = 0;
    int rc;

    *out = NULL;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        rc = read_dir(path, o, out, &skip, err);
    else
        rc = read_file(path, o, out, &skip, err);
    if (skipped)
        *skipped = skip;
    return rc;
}

/* ---- writing ---- */

/* Civil date of a day count since 1970-01-01 (Howard Hinnant's
 * days-to-civil, the inverse of src/base/time.c's). Worked example: 11017
 * -> z 730485, era 5, doe 0, yoe 0, doy 0, mp 0 -> 2000-03-01. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int put_time(struct skiff_buf *b, int64_t us)
{
    int64_t secs = us >= 0 ? us / SKIFF_US_PER_SEC : -((-us + 999999) / SKIFF_US_PER_SEC);
    int64_t frac = us - secs * SKIFF_US_PER_SEC, days, y;
    int64_t sod;
    int m, d;

    days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    sod = secs - days * 86400;
    civil_from_days(days, &y, &m, &d);
    if (skiff_buf_appendf(b, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02d", y, m, d, (int)(sod / 3600),
                          (int)(sod / 60 % 60), (int)(sod % 60)))
        return SKIFF_ENOMEM;
    if (frac && skiff_buf_appendf(b, ".%06" PRId64, frac))
        return SKIFF_ENOMEM;
    return skiff_buf_putc(b, 'Z');
}

const char *features__time_str(int64_t us, char *buf, size_t n)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    if (put_time(&b, us) == 0)
        snprintf(buf, n, "%s", b.ptr);
    else
        snprintf(buf, n, "%s", "");
    skiff_buf_release(&b);
    return buf;
}

/* The shortest %g form that reads back as the same number. */
static int put_double(struct skiff_buf *b, double v, bool is_float)
{
    char tmp[40];
    if (isnan(v))
        return skiff_buf_puts(b, "NaN");
    if (isinf(v))
        return skiff_buf_puts(b, v > 0 ? "inf" : "-inf");
    for (int prec = is_float ? 6 : 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (is_float ? strtof(tmp, NULL) == (float)v : strtod(tmp, NULL) == v)
            break;
    }
    return skiff_buf_puts(b, tmp);
}

static int put_string(struct skiff_buf *b, const char *s)
{
    int rc = 0;
    if (!strpbrk(s, ",\"\n\r") && *s)
        return skiff_buf_puts(b, s);
    rc |= skiff_buf_putc(b, '"');   /* an empty string is "" (an empty cell is null) */
    for (; *s && !rc; s++)
        rc |= *s == '"' ? skiff_buf_puts(b, "\"\"") : skiff_buf_putc(b, *s);
    rc |= skiff_buf_putc(b, '"');
    return rc ? SKIFF_ENOMEM : 0;
}

static int put_cell(struct skiff_buf *b, const struct skiff_feat_column *c, size_t row)
{
    if (!c->valid[row])
        return 0;
    if (c->has_text)
        return put_string(b, c->pool + c->off[row]);
    switch (c->type) {
    case SKIFF_FEAT_INT64:
    case SKIFF_FEAT_INT32:
        return skiff_buf_appendf(b, "%" PRId64, c->i64[row]);
    case SKIFF_FEAT_DOUBLE:
    case SKIFF_FEAT_FLOAT:
        return put_double(b, c->f64[row], c->type == SKIFF_FEAT_FLOAT);
    case SKIFF_FEAT_BOOL:
        return skiff_buf_puts(b, c->i64[row] ? "true" : "false");
    case SKIFF_FEAT_UNIX_TIMESTAMP:
        return put_time(b, c->i64[row]);
    case SKIFF_FEAT_STRING:
        break;
    }
    return 0;
}

static int flush(FILE *f, struct skiff_buf *b, struct skiff_err *err)
{
    if (b->len && fwrite(b->ptr, 1, b->len, f) != b->len)
        return skiff_err_sys(err, SKIFF_EIO, "cannot write the output");
    skiff_buf_reset(b);
    return 0;
}

int skiff_feat_csv_write(FILE *f, const struct skiff_feat_table *const *tables, size_t ntables,
                         struct skiff_err *err)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    size_t nrows = ntables ? tables[0]->nrows : 0;
    bool first = true;
    int rc = 0;

    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < tables[t]->ncols; i++) {
            if ((!first && skiff_buf_putc(&b, ',')) || put_string(&b, tables[t]->cols[i].name))
                goto nomem;
            first = false;
        }
    if (skiff_buf_putc(&b, '\n'))
        goto nomem;
    for (size_t r = 0; r < nrows; r++) {
        first = true;
        for (size_t t = 0; t < ntables; t++)
            for (size_t i = 0; i < tables[t]->ncols; i++) {
                if ((!first && skiff_buf_putc(&b, ',')) || put_cell(&b, &tables[t]->cols[i], r))
                    goto nomem;
                first = false;
            }
        if (skiff_buf_putc(&b, '\n'))
            goto nomem;
        if (b.len >= (1u << 16) && (rc = flush(f, &b, err)))
            goto out;
    }
    if ((rc = flush(f, &b, err)))
        goto out;
    if (fflush(f) != 0)
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write the output");
    goto out;
nomem:
    rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory writing CSV");
out:
    skiff_buf_release(&b);
    return rc;
}
