/* Datasets for the drift report: a CSV file or a payload log read into
 * named columns of doubles, typed and coded as skiff_mon_report_run wants
 * (include/skiff/monitor.h, "datasets").
 *
 * CSV is read a chunk at a time (4 MiB), two passes over each chunk:
 *   1. every cell parsed as a number (NaN when missing or not a number),
 *      noting per column whether some cell is text, and where the first
 *      one is (for the error "file:line: ... 'oops' is not a number"); a
 *      column known to be text is only split, not parsed. Without a '"' in
 *      the chunk it runs in two threads, each on half the rows (a row
 *      cannot span a newline then);
 *   2. only for the columns known to be text, the cells unquoted in place
 *      and interned: the column's numbers become codes over its distinct
 *      labels (copied), so nothing of the chunk is kept.
 * Memory is the columns (8 bytes a cell) plus one chunk. The bytes come
 * from input.c: text, a file, gzip decompressed as it is read, or a
 * folder's files one after the other, each with its header (checked
 * against the first's) and its own line numbers.
 *
 * Worked example: "a,b\n1,x\n\"2\",NA\n" is a = [1, 2] (numeric), b = codes
 * [0, NaN] over labels [x] (text: the reference decides that b is
 * categorical).
 */
#include "monitor_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skiff/err.h"

/* pandas.read_csv's default missing-value markers (besides the empty cell). */
static const char *const na_markers[] = {
    "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
};

bool monitor__is_missing(const char *s, size_t n)
{
    if (n == 0)
        return true;
    /* every marker is at most 8 bytes and starts with one of these: most
     * cells are decided without a comparison */
    if (n > 8 || !strchr("#-1<Nn", *s))
        return false;
    for (size_t i = 0; i < sizeof na_markers / sizeof *na_markers; i++)
        if (strlen(na_markers[i]) == n && memcmp(s, na_markers[i], n) == 0)
            return true;
    return false;
}

/* Clinger's fast path: a plain decimal of at most 15 digits is an integer
 * m < 2^53 divided by an exact power of ten, one correctly rounded IEEE
 * operation, so the result is strtod's. Example: "-0.125" -> -(125 / 1e3). */
static bool fast_num(const char *s, const char *e, double *v)
{
    static const double p10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    bool neg = false;
    uint64_t m = 0;
    int digits = 0, frac = 0;

    if (s < e && (*s == '-' || *s == '+'))
        neg = *s++ == '-';
    for (; s < e && *s >= '0' && *s <= '9'; s++, digits++)
        m = m * 10 + (uint64_t)(*s - '0');
    if (s < e && *s == '.')
        for (s++; s < e && *s >= '0' && *s <= '9'; s++, digits++, frac++)
            m = m * 10 + (uint64_t)(*s - '0');
    if (s != e || digits == 0 || digits > 15)
        return false;
    *v = frac ? (double)m / p10[frac] : (double)m;
    if (neg)
        *v = -*v;
    return true;
}

#define NUM_MAX 400   /* a cell longer than this is never read as a number */

/* A whole cell as a number, as pandas would: NaN when missing, false when
 * the cell is text. strtod must consume all of it (inf, 1e5, 0x1p3 too). */
bool monitor__parse_cell(const char *s, size_t n, double *v)
{
    char tmp[NUM_MAX + 1];
    char *end;

    if (fast_num(s, s + n, v))
        return true;
    if (monitor__is_missing(s, n)) {
        *v = NAN;
        return true;
    }
    /* what strtod could still read starts with a digit, a sign, a point,
     * inf or nan (no leading space: pandas would not read it either) */
    if (n > NUM_MAX || !strchr("0123456789+-.iInN", *s))
        return false;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    *v = strtod(tmp, &end);
    return end == tmp + n;
}

/* ---- the table ---- */

void skiff_mon_data_free(struct skiff_mon_data *d)
{
    if (!d)
        return;
    for (size_t c = 0; c < d->ncols; c++) {
        struct data_col *col = &d->cols[c];
        free(col->name);
        free(col->num);
        if (col->str)
            for (size_t i = 0; i < d->nrows; i++)
                free(col->str[i]);
        free(col->str);
        for (size_t i = 0; i < col->nlabels; i++)
            free(col->labels[i]);
        free(col->labels);
        free(col->codes);
    }
    free(d->cols);
    for (size_t i = 0; i < d->nfiles; i++)
        free(d->files[i]);
    free(d->files);
    free(d->name);
    free(d);
}

size_t skiff_mon_data_rows(const struct skiff_mon_data *d) { return d->nrows; }
size_t skiff_mon_data_ncols(const struct skiff_mon_data *d) { return d->ncols; }
const char *skiff_mon_data_col_name(const struct skiff_mon_data *d, size_t i)
{
    return i < d->ncols ? d->cols[i].name : NULL;
}

long monitor__data_col(const struct skiff_mon_data *d, const char *name)
{
    for (size_t c = 0; c < d->ncols; c++)
        if (strcmp(d->cols[c].name, name) == 0)
            return (long)c;
    return -1;
}

const char *monitor__data_name(const struct skiff_mon_data *d) { return d->name; }
const double *monitor__data_num(const struct skiff_mon_data *d, size_t c) { return d->cols[c].num; }
bool monitor__data_is_text(const struct skiff_mon_data *d, size_t c) { return d->cols[c].text; }

int monitor__data_text_error(const struct skiff_mon_data *d, size_t c, struct skiff_err *err)
{
    const struct data_col *col = &d->cols[c];
    const char *file = col->bad_member < d->nfiles ? d->files[col->bad_member] : d->name;
    return skiff_err_at(err, SKIFF_EPARSE, file, (int)col->bad_line, 0,
                        "column '%s' is numeric in the reference but '%s' is not a number",
                        d->cols[c].name, d->cols[c].bad);
}

static void note_text(struct data_col *col, const char *s, size_t n, size_t line,
                      size_t member)
{
    if (col->text)
        return;
    col->text = true;
    col->bad_line = line;
    col->bad_member = member;
    snprintf(col->bad, sizeof col->bad, "%.*s", (int)(n < 63 ? n : 63), s);
}

/* ---- CSV tokens ---- */

struct tok {
    char *p, *end;
    size_t line;
    const char *name;
    char scratch[NUM_MAX + 1];   /* pass 1: a quoted cell's content, cut */
};

/* Reads the field at t->p. Unquoted: [*s, *s + *n) in the buffer (a CR
 * before the line end dropped). Quoted: pass 1 (`inplace` false) copies the
 * content, doubled quotes undone, into t->scratch (cut at NUM_MAX; *n is
 * then NUM_MAX + 1 so that it is text); pass 2 undoes them in place. Sets
 * *term to ',', '\n' or 0 (end of input) and moves past it. */
static int field(struct tok *t, bool inplace, char **s, size_t *n, int *term,
                 struct skiff_err *err)
{
    char *p = t->p, *e = t->end;

    if (p < e && *p == '"') {
        char *w = inplace ? p + 1 : NULL;
        size_t k = 0;
        size_t start_line = t->line;
        *s = inplace ? p + 1 : t->scratch;
        for (p++;; p++) {
            if (p >= e)
                return skiff_err_at(err, SKIFF_EPARSE, t->name, (int)start_line, 0,
                                    "a quoted field is not closed");
            if (*p == '"') {
                if (p + 1 < e && p[1] == '"')
                    p++;
                else
                    break;
            } else if (*p == '\n')
                t->line++;
            if (inplace)
                *w++ = *p;
            else if (k < NUM_MAX)
                t->scratch[k] = *p;
            k++;
        }
        p++;   /* the closing quote */
        if (p < e && *p == '\r' && (p + 1 == e || p[1] == '\n'))
            p++;
        if (p < e && *p != ',' && *p != '\n')
            return skiff_err_at(err, SKIFF_EPARSE, t->name, (int)t->line, 0,
                                "unexpected '%c' after a closing quote", *p);
        *n = inplace || k <= NUM_MAX ? k : NUM_MAX + 1;
        if (inplace)
            *w = '\0';
    } else {
        char *q = p;
        while (q < e && *q != ',' && *q != '\n')
            q++;
        *s = p;
        *n = (size_t)(q - p);
        if (*n && p[*n - 1] == '\r' && (q == e || *q == '\n'))
            (*n)--;
        p = q;
    }
    *term = p < e ? *p : 0;
    if (p < e) {
        if (*p == '\n')
            t->line++;
        p++;
    }
    if (inplace)
        (*s)[*n] = '\0';   /* the delimiter, a CR, or the NUL past the buffer's end */
    t->p = p;
    return 0;
}

/* Skips blank lines (pandas does); false at the end of input. */
static bool next_row(struct tok *t)
{
    while (t->p < t->end) {
        if (*t->p == '\n')
            t->p++, t->line++;
        else if (*t->p == '\r' && t->p + 1 < t->end && t->p[1] == '\n')
            t->p += 2, t->line++;
        else
            return true;
    }
    return false;
}

/* The common cell of a numeric table, read in the same pass that finds its
 * end: an unquoted decimal of at most 15 digits (Clinger's fast path, as
 * fast_num) followed by ',', a line end or the end of input. False, with
 * nothing consumed, for anything else (field() then reads it). */
static bool fast_cell(struct tok *t, double *v, int *term)
{
    static const double p10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    const char *p = t->p, *e = t->end;
    uint64_t m = 0;
    int digits = 0, frac = 0;
    bool neg = false;

    if (p < e && *p == '-')
        neg = true, p++;
    for (; p < e && (unsigned)(*p - '0') < 10; p++, digits++)
        m = m * 10 + (uint64_t)(*p - '0');
    if (p < e && *p == '.')
        for (p++; p < e && (unsigned)(*p - '0') < 10; p++, digits++, frac++)
            m = m * 10 + (uint64_t)(*p - '0');
    if (digits == 0 || digits > 15)
        return false;
    if (p < e && *p == '\r' && (p + 1 == e || p[1] == '\n'))
        p++;
    if (p < e && *p != ',' && *p != '\n')
        return false;
    *v = frac ? (double)m / p10[frac] : (double)m;
    if (neg)
        *v = -*v;
    *term = p < e ? *p : 0;
    if (p < e) {
        t->line += *p == '\n';
        p++;
    }
    t->p = (char *)p;
    return true;
}

/* Passes over an unquoted field that is not wanted (a text column in pass
 * 1, a number in pass 2); false for a quoted one (field() reads it). */
static bool skip_field(struct tok *t, int *term)
{
    const char *p = t->p, *e = t->end;
    if (p < e && *p == '"')
        return false;
    while (p < e && *p != ',' && *p != '\n')
        p++;
    *term = p < e ? *p : 0;
    if (p < e) {
        t->line += *p == '\n';
        p++;
    }
    t->p = (char *)p;
    return true;
}

/* Pass 1 over rows [t->p, t->end): numbers into cols[c].num[row0 + i].
 * *nrows receives the number of rows read. */
static int parse_rows(struct skiff_mon_data *d, struct tok *t, size_t row0, size_t *nrows,
                      struct data_col *cols, struct skiff_err *err)
{
    size_t r = row0;
    int rc;

    while (next_row(t)) {
        size_t line = t->line, c = 0;
        int term;
        do {
            char *s;
            size_t n;
            double v;
            if (c < d->ncols && !cols[c].text && fast_cell(t, &v, &term)) {
                cols[c++].num[r] = v;
                continue;
            }
            /* a column known to be text needs no more numbers */
            if (c < d->ncols && cols[c].text && skip_field(t, &term)) {
                cols[c++].num[r] = NAN;
                continue;
            }
            if ((rc = field(t, false, &s, &n, &term, err)))
                return rc;
            if (c < d->ncols) {
                /* a column known to be text needs no more numbers */
                if (cols[c].text || !monitor__parse_cell(s, n, &v)) {
                    note_text(&cols[c], s, n, line, d->member);
                    v = NAN;
                }
                cols[c].num[r] = v;
            }
            c++;
        } while (term == ',');
        if (c != d->ncols)
            return skiff_err_at(err, SKIFF_EPARSE, d->cur, (int)line, 0,
                                "a row has %zu fields, the header %zu", c, d->ncols);
        r++;
    }
    *nrows = r - row0;
    return 0;
}

/* ---- reading in chunks ----
 *
 * The file is read CHUNK bytes at a time: each chunk is cut after its last
 * complete row (a newline outside quotes), its rows parsed (pass 1, in two
 * threads when the chunk is large and has no quote), then the cells of the
 * columns known to be text so far interned (pass 2, in place), and the rest
 * carried to the next chunk. Memory is the columns plus one chunk, whatever
 * the file's size. A column found to be text only in a later chunk has its
 * earlier rows interned by one more pass over the file at the end (rare:
 * text shows in the first rows). */

#define CHUNK ((size_t)4 << 20)
#define SPLIT_MIN ((size_t)1 << 20)   /* a chunk smaller than this is one thread's */

struct half {
    struct skiff_mon_data *d;
    struct tok t;
    size_t row0, nrows;
    struct data_col *cols;   /* own text notes; numbers go to d's arrays */
    struct skiff_err err;
    int rc;
};

static void *half_main(void *arg)
{
    struct half *h = arg;
    h->rc = parse_rows(h->d, &h->t, h->row0, &h->nrows, h->cols, &h->err);
    return NULL;
}

static size_t count_lines(const char *p, const char *e)
{
    size_t n = 0;
    while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL)
        n++, p++;
    return n;
}

/* Room for `need` rows in every column. */
static int reserve_rows(struct skiff_mon_data *d, size_t need, struct skiff_err *err)
{
    size_t cap = d->cap ? d->cap : 1024;
    if (need <= d->cap)
        return 0;
    while (cap < need)
        cap *= 2;
    for (size_t c = 0; c < d->ncols; c++) {
        double *num = realloc(d->cols[c].num, cap * sizeof *num);
        if (!num)
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading '%s'", d->name);
        d->cols[c].num = num;
    }
    d->cap = cap;
    return 0;
}

/* Pass 1 over the complete rows [b, e), starting at line `line`. */
static int parse_segment(struct skiff_mon_data *d, char *b, char *e, size_t line,
                         struct skiff_err *err)
{
    size_t lines = count_lines(b, e);
    struct half h[2];
    pthread_t th;
    char *mid = NULL;
    size_t n;
    int rc;

    if ((rc = reserve_rows(d, d->nrows + lines + 1, err)))
        return rc;
    if ((size_t)(e - b) >= SPLIT_MIN && !memchr(b, '"', (size_t)(e - b)))
        mid = memchr(b + (e - b) / 2, '\n', (size_t)(e - b - (e - b) / 2));
    if (!mid || mid + 1 >= e) {
        struct tok t = {b, e, line, d->cur, ""};
        if ((rc = parse_rows(d, &t, d->nrows, &n, d->cols, err)))
            return rc;
        d->nrows += n;
        return 0;
    }
    mid++;
    memset(h, 0, sizeof h);
    for (int i = 0; i < 2; i++) {
        h[i].d = d;
        h[i].err = (struct skiff_err)SKIFF_ERR_INIT;
        if (!(h[i].cols = malloc(d->ncols * sizeof *h[i].cols))) {
            free(h[0].cols);
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        }
        memcpy(h[i].cols, d->cols, d->ncols * sizeof *h[i].cols);   /* text so far */
    }
    h[0].t = (struct tok){b, mid, line, d->cur, ""};
    h[1].t = (struct tok){mid, e, line + count_lines(b, mid), d->cur, ""};
    h[0].row0 = d->nrows;
    h[1].row0 = d->nrows + count_lines(b, mid);
    if (pthread_create(&th, NULL, half_main, &h[1]) != 0) {
        half_main(&h[1]);
        half_main(&h[0]);
    } else {
        half_main(&h[0]);
        pthread_join(th, NULL);
    }
    rc = h[0].rc ? h[0].rc : h[1].rc;
    if (rc)
        *err = h[0].rc ? h[0].err : h[1].err;
    else {
        for (size_t c = 0; c < d->ncols; c++) {
            struct data_col *x = &h[0].cols[c], *y = &h[1].cols[c], *z = x->text ? x : y;
            if (h[0].row0 + h[0].nrows != h[1].row0)   /* blank lines: close the gap */
                memmove(d->cols[c].num + h[0].row0 + h[0].nrows, d->cols[c].num + h[1].row0,
                        h[1].nrows * sizeof(double));
            if (!d->cols[c].text && z->text) {
                d->cols[c].text = true;
                d->cols[c].bad_line = z->bad_line;
                d->cols[c].bad_member = z->bad_member;
                memcpy(d->cols[c].bad, z->bad, sizeof z->bad);
            }
        }
        d->nrows += h[0].nrows + h[1].nrows;
    }
    free(h[0].cols);
    free(h[1].cols);
    return rc;
}

/* Pass 2 over the complete rows [b, e) (rows row0...): the cells of the
 * columns with want[c] become codes over ls[c], unquoted in place. */
static int intern_segment(struct skiff_mon_data *d, char *b, char *e, size_t line, size_t row0,
                          const bool *want, struct monitor__labelset *ls, size_t *rows,
                          struct skiff_err *err)
{
    struct tok t = {b, e, line, d->cur, ""};
    size_t r = row0;
    int rc;

    *rows = 0;
    while (r < d->nrows && next_row(&t)) {
        size_t c = 0;
        int term;
        do {
            char *s;
            size_t n;
            if ((c >= d->ncols || !want[c]) && skip_field(&t, &term)) {
                c++;
                continue;
            }
            if ((rc = field(&t, true, &s, &n, &term, err)))
                return rc;
            if (c < d->ncols && want[c]) {
                long id = monitor__is_missing(s, n) ? -2 : monitor__labelset_put(&ls[c], s);
                if (id == -1)
                    return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
                d->cols[c].num[r] = id < 0 ? NAN : (double)id;
            }
            c++;
        } while (term == ',');
        r++;
    }
    *rows = r - row0;
    return 0;
}

/* The end of the last complete row in [b, e) (after its newline), or NULL
 * when there is none: without a quote, the last newline; with quotes, the
 * last newline outside a quoted field, read as field() reads them (b is a
 * row's start; a quote opens a quoted field only at a field's start, "" in
 * one is a quote, a quote inside an unquoted field is just a character). */
static char *last_row_end(char *b, char *e)
{
    char *last = NULL;
    bool in = false, start = true;
    if (!memchr(b, '"', (size_t)(e - b))) {
        for (char *p = e; p > b; p--)
            if (p[-1] == '\n')
                return p;
        return NULL;
    }
    for (char *p = b; p < e; p++) {
        if (in) {
            if (*p == '"') {
                if (p + 1 < e && p[1] == '"')
                    p++;
                else
                    in = false;
            }
        } else if (*p == '"' && start) {
            in = true, start = false;
        } else if (*p == ',') {
            start = true;
        } else if (*p == '\n') {
            last = p + 1, start = true;
        } else {
            start = false;
        }
    }
    return last;
}

struct chunks {
    struct monitor__input *in;
    char *buf;
    size_t cap, len;    /* buf[0..len) holds unprocessed bytes; buf[len] = NUL */
    bool eof;
};

/* Fills the buffer (after the carried bytes) and returns in *end the end
 * of the complete rows in it (at eof: everything). A row longer than the
 * buffer grows it. */
static int next_chunk(struct chunks *k, char **end, struct skiff_err *err)
{
    for (;;) {
        size_t got = 0;
        char *e;
        int rc;
        if (!k->eof) {
            if (k->len + 1 >= k->cap) {
                char *nb = realloc(k->buf, k->cap * 2 + 1);
                if (!nb)
                    return skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading '%s'",
                                         k->in->name);
                k->buf = nb, k->cap = k->cap * 2 + 1;
            }
            if ((rc = monitor__input_read(k->in, k->buf + k->len, k->cap - 1 - k->len, &got,
                                          err)))
                return rc;
            k->len += got;
            k->eof = got == 0;
        }
        k->buf[k->len] = '\0';
        if (k->eof) {
            *end = k->buf + k->len;
            return 0;
        }
        if (k->len + 1 < k->cap)
            continue;   /* fill the buffer first: fewer, larger chunks */
        if ((e = last_row_end(k->buf, k->buf + k->len))) {
            *end = e;
            return 0;
        }
    }
}

/* Drops the processed bytes [buf, end), keeping the rest for the next chunk. */
static void consume(struct chunks *k, char *end)
{
    size_t used = (size_t)(end - k->buf);
    memmove(k->buf, end, k->len - used);
    k->len -= used;
}

static struct skiff_mon_data *data_new(const char *name)
{
    struct skiff_mon_data *d = calloc(1, sizeof *d);
    if (d && !(d->name = strdup(name))) {
        free(d);
        d = NULL;
    }
    return d;
}

/* Reads the header row from the first chunk of the member being read. */
static int read_header(struct skiff_mon_data *d, struct chunks *k, size_t *line,
                       struct skiff_err *err)
{
    struct tok t;
    char *end;
    int rc, term;

    if ((rc = next_chunk(k, &end, err)))
        return rc;
    t = (struct tok){k->buf, end, 1, d->cur, ""};
    if (k->len >= 3 && memcmp(t.p, "\xef\xbb\xbf", 3) == 0)   /* a UTF-8 BOM */
        t.p += 3;
    if (!next_row(&t))
        return skiff_err_at(err, SKIFF_EINVAL, d->cur, 0, 0, "no data rows (an empty file)");
    do {
        char *s;
        size_t n;
        struct data_col *cols;
        if ((rc = field(&t, false, &s, &n, &term, err)))
            return rc;
        if (!(cols = realloc(d->cols, (d->ncols + 1) * sizeof *cols)))
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        d->cols = cols;
        memset(&cols[d->ncols], 0, sizeof *cols);
        d->ncols++;
        if (!(cols[d->ncols - 1].name = strndup(s, n)))
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        for (size_t c = 0; c + 1 < d->ncols; c++)
            if (strcmp(cols[c].name, cols[d->ncols - 1].name) == 0)
                return skiff_err_at(err, SKIFF_EINVAL, d->cur, 1, 0,
                                    "column '%s' twice in the header", cols[c].name);
    } while (term == ',');
    *line = t.line;
    consume(k, t.p);
    return 0;
}

/* The header of a later member of a folder (check: it must name the same
 * columns, in the same order, as the first), or the first member's again
 * (intern_late). *line: the line after it. */
static int skip_header(struct skiff_mon_data *d, struct chunks *k, size_t *line, bool check,
                       struct skiff_err *err)
{
    struct skiff_mon_data tmp = {0};
    int rc;

    tmp.name = d->name;
    tmp.cur = d->cur;
    rc = read_header(&tmp, k, line, err);
    if (!rc && check) {
        size_t c = 0;
        while (c < tmp.ncols && c < d->ncols && strcmp(tmp.cols[c].name, d->cols[c].name) == 0)
            c++;
        if (c < tmp.ncols || c < d->ncols)
            rc = skiff_err_at(err, SKIFF_EINVAL, d->cur, 1, 0,
                              "the header differs from that of '%s' (column %zu: '%s', there "
                              "'%s'); the files of a folder are one table",
                              d->files ? d->files[0] : d->name, c + 1,
                              c < tmp.ncols ? tmp.cols[c].name : "(none)",
                              c < d->ncols ? d->cols[c].name : "(none)");
    }
    for (size_t c = 0; c < tmp.ncols; c++)
        free(tmp.cols[c].name);
    free(tmp.cols);
    return rc;
}

/* After a member's last chunk: opens the next member of a folder and reads
 * its header. *more false after the last one. */
static int next_member(struct skiff_mon_data *d, struct chunks *k, size_t *line, bool check,
                       bool *more, struct skiff_err *err)
{
    int rc;
    if ((rc = monitor__input_next(k->in, more, err)) || !*more)
        return rc;
    k->len = 0, k->eof = false;
    d->cur = k->in->name;
    d->member = k->in->member;
    return skip_header(d, k, line, check, err);
}

/* One more pass over the whole input for the columns that turned out text
 * after their first rows (late[c]): their labels are made again from row 0. */
static int intern_late(struct skiff_mon_data *d, struct chunks *k, const bool *late,
                       struct monitor__labelset *ls, struct skiff_err *err)
{
    size_t line, row = 0;
    bool more = true;
    int rc;

    for (size_t c = 0; c < d->ncols; c++)
        if (late[c])
            monitor__labelset_release(&ls[c]);
    k->len = 0, k->eof = false;
    if ((rc = monitor__input_rewind(k->in, err)))
        return rc;
    d->cur = k->in->name;
    d->member = k->in->member;
    if ((rc = skip_header(d, k, &line, false, err)))
        return rc;
    while (row < d->nrows && more) {
        char *end;
        size_t n;
        if ((rc = next_chunk(k, &end, err)))
            return rc;
        if (end != k->buf) {
            if ((rc = intern_segment(d, k->buf, end, line, row, late, ls, &n, err)))
                return rc;
            row += n;
            line += count_lines(k->buf, end);
            consume(k, end);
        }
        if (k->eof && k->len == 0 && (rc = next_member(d, k, &line, false, &more, err)))
            return rc;
    }
    return 0;
}

static int read_all(struct skiff_mon_data *d, struct chunks *k, struct skiff_err *err)
{
    struct monitor__labelset *ls = NULL;
    bool *want = NULL, *late = NULL, any_late = false, more = true;
    size_t line = 1;
    int rc;

    d->cur = k->in->name;
    d->member = k->in->member;
    if ((rc = read_header(d, k, &line, err)))
        return rc;
    if (!(ls = calloc(d->ncols, sizeof *ls)) || !(want = calloc(d->ncols, 1)) ||
        !(late = calloc(d->ncols, 1))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    while (more) {
        char *end;
        size_t row0 = d->nrows, n;
        bool any = false;
        if ((rc = next_chunk(k, &end, err)))
            goto out;
        if (end != k->buf) {
            if ((rc = parse_segment(d, k->buf, end, line, err)))
                goto out;
            for (size_t c = 0; c < d->ncols; c++) {
                if (d->cols[c].text && !want[c]) {
                    want[c] = true;
                    late[c] = row0 > 0;
                    any_late |= late[c];
                }
                any |= want[c];
            }
            if (any && (rc = intern_segment(d, k->buf, end, line, row0, want, ls, &n, err)))
                goto out;
            line += count_lines(k->buf, end);
            consume(k, end);
        }
        /* the end of a file: a folder's next one continues the table */
        if (k->eof && k->len == 0 && (rc = next_member(d, k, &line, true, &more, err)))
            goto out;
    }
    if (d->nrows == 0) {
        rc = skiff_err_at(err, SKIFF_EINVAL, d->name, 0, 0, "no data rows");
        goto out;
    }
    if (any_late && (rc = intern_late(d, k, late, ls, err)))
        goto out;
    for (size_t c = 0; c < d->ncols && !rc; c++)
        if (want[c] && monitor__labelset_keep(&ls[c], &d->cols[c]))
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
out:
    for (size_t c = 0; ls && c < d->ncols; c++)
        monitor__labelset_release(&ls[c]);
    free(ls), free(want), free(late);
    return rc;
}

/* Reads `in` into a new table; takes over its folder's file names (errors
 * about a cell name the file it is in) and closes it. */
static int read_input(struct monitor__input *in, struct skiff_mon_data **out,
                      struct skiff_err *err)
{
    struct chunks k = {in, malloc(CHUNK + 1), CHUNK + 1, 0, false};
    struct skiff_mon_data *d = data_new(in->path);
    int rc;

    *out = NULL;
    if (!k.buf || !d)
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    else
        rc = read_all(d, &k, err);
    free(k.buf);
    if (d) {
        d->files = in->files, d->nfiles = in->nfiles;
        in->files = NULL, in->nfiles = 0;
        d->cur = NULL;
    }
    monitor__input_close(in);
    if (rc) {
        skiff_mon_data_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

int skiff_mon_data_parse_csv(const char *text, size_t len, const char *name,
                             struct skiff_mon_data **out, struct skiff_err *err)
{
    struct monitor__input in;
    monitor__input_text(&in, text, len, name);
    return read_input(&in, out, err);
}

int skiff_mon_data_read_csv(const char *path, size_t max_bytes, struct skiff_mon_data **out,
                            struct skiff_err *err)
{
    struct monitor__input in;
    int rc;

    *out = NULL;
    if ((rc = monitor__input_open(&in, path, max_bytes ? max_bytes : (size_t)16 << 30, err))) {
        monitor__input_close(&in);
        return rc;
    }
    return read_input(&in, out, err);
}

/* ---- labels ---- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int labelset_grow(struct monitor__labelset *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    const char **keys = calloc(cap, sizeof *keys), **labels;
    size_t *ids = calloc(cap, sizeof *ids);
    if (!keys || !ids || !(labels = realloc(t->labels, cap / 2 * sizeof *labels))) {
        free(keys), free(ids);
        return SKIFF_ENOMEM;
    }
    t->labels = labels;
    for (size_t i = 0; i < t->cap; i++) {
        size_t j;
        if (!t->keys[i])
            continue;
        for (j = hash_str(t->keys[i]) & (cap - 1); keys[j]; j = (j + 1) & (cap - 1))
            ;
        keys[j] = t->keys[i], ids[j] = t->ids[i];
    }
    free(t->keys), free(t->ids);
    t->keys = keys, t->ids = ids, t->cap = cap;
    return 0;
}

long monitor__labelset_put(struct monitor__labelset *t, const char *s)
{
    size_t j;
    char *copy;
    if ((t->n + 1) * 2 > t->cap && labelset_grow(t))
        return -1;
    for (j = hash_str(s) & (t->cap - 1); t->keys[j]; j = (j + 1) & (t->cap - 1))
        if (strcmp(t->keys[j], s) == 0)
            return (long)t->ids[j];
    if (!(copy = strdup(s)))
        return -1;
    t->keys[j] = copy, t->ids[j] = t->n;
    t->labels[t->n] = copy;
    return (long)t->n++;
}

void monitor__labelset_release(struct monitor__labelset *t)
{
    for (size_t i = 0; i < t->n; i++)
        free((char *)t->labels[i]);
    free(t->keys), free(t->ids), free(t->labels);
    memset(t, 0, sizeof *t);
}

int monitor__labelset_keep(struct monitor__labelset *t, struct data_col *col)
{
    /* the copies move to the column */
    char **labels = malloc((t->n + 1) * sizeof *labels);
    if (!labels)
        return SKIFF_ENOMEM;
    for (size_t i = 0; i < t->n; i++)
        labels[i] = (char *)t->labels[i];
    col->labels = labels;
    col->nlabels = t->n;
    t->n = 0;
    return 0;
}

/* A number as pandas' str() shows it: "3" in an integer column (every
 * value integral, none missing), else Python's float repr ("3.0", "0.25",
 * the shortest digits that read back). */
void monitor__num_label(double v, bool int_col, char *out, size_t n)
{
    if (int_col && fabs(v) < 1e18) {
        snprintf(out, n, "%.0f", v);
        return;
    }
    if (v == floor(v) && fabs(v) < 1e16) {
        snprintf(out, n, "%.1f", v);
        return;
    }
    for (int k = 1; k <= 17; k++) {
        snprintf(out, n, "%.*g", k, v);
        if (strtod(out, NULL) == v)
            break;
    }
}

int monitor__data_codes(struct skiff_mon_data *d, size_t c, double **codes, char ***labels,
                        size_t *nlabels, bool **ranked, struct skiff_err *err)
{
    struct data_col *col = &d->cols[c];

    if (col->ranked)
        return skiff_err_set(err, SKIFF_EINTERNAL, "'%s': column '%s' prepared twice", d->name,
                             col->name);
    if (!col->text && !col->codes) {
        /* a numeric column made categorical: one label per distinct number;
         * the first 64 distinct values are looked up without formatting */
        struct monitor__labelset ls = {0};
        double seen[64];
        size_t seen_id[64], nseen = 0;
        bool int_col = true;
        int rc = 0;

        for (size_t i = 0; i < d->nrows && int_col; i++)
            int_col = !isnan(col->num[i]) && col->num[i] == floor(col->num[i]);
        if (!(col->codes = malloc((d->nrows + 1) * sizeof *col->codes)))
            rc = SKIFF_ENOMEM;
        for (size_t i = 0; !rc && i < d->nrows; i++) {
            double v = col->num[i];
            char tmp[40];
            size_t k;
            long id;
            if (isnan(v)) {
                col->codes[i] = NAN;
                continue;
            }
            for (k = 0; k < nseen && seen[k] != v; k++)
                ;
            if (k < nseen) {
                col->codes[i] = (double)seen_id[k];
                continue;
            }
            monitor__num_label(v, int_col, tmp, sizeof tmp);
            if ((id = monitor__labelset_put(&ls, tmp)) < 0) {
                rc = SKIFF_ENOMEM;
                break;
            }
            if (nseen < 64)
                seen[nseen] = v, seen_id[nseen++] = (size_t)id;
            col->codes[i] = (double)id;
        }
        if (!rc)
            rc = monitor__labelset_keep(&ls, col);
        monitor__labelset_release(&ls);
        if (rc)
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    *codes = col->text ? col->num : col->codes;
    *labels = col->labels;
    *nlabels = col->nlabels;
    *ranked = &col->ranked;
    return 0;
}
