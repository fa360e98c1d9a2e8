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
        double v = strtod(s, &end);
        if (end == s || *end || isspace((unsigned char)*s))
            goto bad;
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
        if (skiff_time_parse(s, &c->i64[row], NULL))
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
};

static void *parse_rows(void *arg)
{
    struct rows_job *j = arg;
    struct cursor c = j->c;
    struct skiff_feat_table *t = j->t;
    const long *map = j->map;
    const bool *req = j->req;
    const struct skiff_feat_csv_opts *o = j->o;
    size_t nheader = j->nheader, ncols = t->ncols;
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
        t->line[row] = (size_t)line;
        for (size_t i = 0; i < ncols; i++)
            t->cols[i].valid[row] = 0;
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
                      struct skiff_err *err)
{
    struct rows_job a = {*c, t, map, req, nheader, o, 0, 0, SKIFF_ERR_INIT}, b = a;
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
    if (b.t != t)
        skiff_feat_table_free(b.t);
    return rc;
}

int skiff_feat_csv_parse(const char *text, size_t len, const char *name,
                         const struct skiff_feat_csv_opts *o, struct skiff_feat_table **out,
                         size_t *skipped, struct skiff_err *err)
{
    struct cursor c = {text, text + len, text, 1, name};
    struct skiff_buf fb;
    struct field f = {&fb, 0, 0, false, false};
    char **header = NULL;
    const char **names = NULL;
    enum skiff_feat_type *types = NULL;
    long *map = NULL;    /* header index -> table column, -1 = not read */
    bool *req = NULL;    /* per table column: empty is an error */
    size_t nheader = 0, hcap = 0, ncols = 0, nskipped = 0;
    struct skiff_feat_table *t = NULL;
    int rc = 0;

    *out = NULL;
    skiff_buf_init(&fb, FIELD_MAX);
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)   /* a UTF-8 byte order mark */
        c.p = c.line_start = text + 3;
    if (c.p == c.end) {
        rc = skiff_err_at(err, SKIFF_EPARSE, name, 1, 1, "empty file: want a header row");
        goto out;
    }
    do {
        if ((rc = next_field(&c, &f, err)))
            goto out;
        if (nheader == hcap) {
            char **h;
            hcap = hcap ? hcap * 2 : 16;
            if (!(h = realloc(header, hcap * sizeof *h)))
                goto nomem;
            header = h;
        }
        if (!(header[nheader++] = strdup(renamed(o, fb.ptr))))
            goto nomem;
    } while (!f.last);

    if (!(names = calloc(nheader + o->ncols, sizeof *names)) ||
        !(types = calloc(nheader + o->ncols, sizeof *types)) ||
        !(req = calloc(nheader + o->ncols, sizeof *req)) ||
        !(map = malloc(nheader * sizeof *map)))
        goto nomem;
    for (size_t h = 0; h < nheader; h++)
        map[h] = -1;
    for (size_t i = 0; i < o->ncols; i++) {
        size_t h = 0;
        while (h < nheader && strcmp(header[h], o->cols[i].name) != 0)
            h++;
        if (h == nheader) {
            rc = skiff_err_at(err, SKIFF_EINVAL, name, 1, 1, "no column '%s' in the header",
                              o->cols[i].name);
            goto out;
        }
        if (!o->keep_others && map[h] < 0) {
            map[h] = (long)ncols;
            names[ncols] = o->cols[i].name;
            req[ncols] = o->cols[i].required;
            types[ncols++] = o->cols[i].type;
        }
    }
    /* keeping every column: header order, the wanted ones typed */
    for (size_t h = 0; o->keep_others && h < nheader; h++) {
        map[h] = (long)ncols;
        names[ncols] = header[h];
        types[ncols] = SKIFF_FEAT_STRING;
        for (size_t i = 0; i < o->ncols; i++)
            if (strcmp(header[h], o->cols[i].name) == 0) {
                types[ncols] = o->cols[i].type;
                req[ncols] = o->cols[i].required;
            }
        ncols++;
    }
    for (size_t h = 0; h < nheader; h++)
        for (size_t g = 0; g < h; g++)
            if ((map[g] >= 0 || map[h] >= 0) && strcmp(header[g], header[h]) == 0) {
                rc = skiff_err_at(err, SKIFF_EINVAL, name, 1, 1, "column '%s' appears twice",
                                  header[h]);
                goto out;
            }
    if ((rc = skiff_feat_table_new(name, names, types, ncols, &t, err)))
        goto out;
    for (size_t i = 0; o->keep_text && i < ncols; i++)
        t->cols[i].has_text = true;

    if ((rc = parse_body(&c, t, names, types, map, req, nheader, o, &nskipped, err)))
        goto out;
    *out = t;
    t = NULL;
    goto out;
nomem:
    rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading '%s'", name);
out:
    if (skipped)
        *skipped = nskipped;
    skiff_feat_table_free(t);
    for (size_t h = 0; h < nheader; h++)
        free(header[h]);
    free(header);
    free(names);
    free(types);
    free(req);
    free(map);
    skiff_buf_release(&fb);
    return rc;
}

static int read_file(const char *path, const struct skiff_feat_csv_opts *o,
                     struct skiff_feat_table **out, size_t *skipped, struct skiff_err *err)
{
    size_t max = o->max_bytes ? o->max_bytes : DEFAULT_MAX_BYTES, got = 0;
    struct stat st;
    char *text = NULL;
    int fd, rc;

    *out = NULL;
    if (skipped)
        *skipped = 0;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return skiff_err_sys(err, errno == ENOENT ? SKIFF_EINVAL : SKIFF_EIO,
                             "cannot open '%s'", path);
    if (fstat(fd, &st) != 0) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot read '%s'", path);
        goto out;
    }
    if ((size_t)st.st_size > max) {
        rc = skiff_err_set(err, SKIFF_ETOOBIG, "'%s' is larger than %zu bytes", path, max);
        goto out;
    }
    if (!(text = malloc((size_t)st.st_size + 1))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading '%s'", path);
        goto out;
    }
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot read '%s'", path);
            goto out;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    rc = skiff_feat_csv_parse(text, got, path, o, out, skipped, err);
out:
    free(text);
    close(fd);
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

/* A folder: its *.csv files in name order, read as one table. */
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
        if (de->d_name[0] == '.' || !skiff_str_endswith(de->d_name, ".csv"))
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
        rc = skiff_err_set(err, SKIFF_EINVAL, "no *.csv files in '%s'", path);
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
