/* A payload log as a dataset: the rows an InferenceService scored in a
 * window, from SKIFF_HOME/payloads/<isvc>/<YYYY-MM-DD>.jsonl (the format of
 * include/skiff/serving.h, "payload log").
 *
 * Only the day files that meet the window are opened: a window (t - 24h, t]
 * reads two files at most. Each row's "features" object adds a value to
 * every column; a feature first seen at row k gets missing values before
 * it, one absent from a row gets a missing value there.
 */
#include "monitor_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "skiff/err.h"
#include "skiff/time.h"

/* Grows every column to hold `need` rows. */
static int reserve(struct skiff_mon_data *d, size_t need)
{
    size_t cap = d->cap ? d->cap : 1024;
    if (need <= d->cap)
        return 0;
    while (cap < need)
        cap *= 2;
    for (size_t c = 0; c < d->ncols; c++) {
        double *num = realloc(d->cols[c].num, cap * sizeof *num);
        if (!num)
            return SKIFF_ENOMEM;
        d->cols[c].num = num;
        if (d->cols[c].str) {
            char **str = realloc(d->cols[c].str, cap * sizeof *str);
            if (!str)
                return SKIFF_ENOMEM;
            d->cols[c].str = str;
        }
    }
    d->cap = cap;
    return 0;
}

/* Column `name`, added (missing in every earlier row) when new; -1 when
 * out of memory. `hint` is where the row's previous feature was found:
 * rows list their features in one order, so the next one is usually next. */
static long column(struct skiff_mon_data *d, const char *name, size_t hint)
{
    struct data_col *cols, *col;
    size_t cap = d->cap ? d->cap : 1024;
    if (hint < d->ncols && strcmp(d->cols[hint].name, name) == 0)
        return (long)hint;
    for (size_t c = 0; c < d->ncols; c++)
        if (strcmp(d->cols[c].name, name) == 0)
            return (long)c;
    if (!(cols = realloc(d->cols, (d->ncols + 1) * sizeof *cols)))
        return -1;
    d->cols = cols;
    col = &cols[d->ncols];
    memset(col, 0, sizeof *col);
    if (!(col->name = strdup(name)) || !(col->num = malloc(cap * sizeof *col->num))) {
        free(col->name);
        return -1;
    }
    for (size_t i = 0; i < d->nrows; i++)
        col->num[i] = NAN;
    d->cap = cap;
    return (long)d->ncols++;
}

/* One JSON line into row d->nrows (when its ts is in the window). */
static int add_line(struct skiff_mon_data *d, const char *path, size_t line, const char *text,
                    size_t len, int64_t from_us, int64_t to_us, struct skiff_err *err)
{
    json_error_t je;
    json_t *j = json_loadb(text, len, 0, &je), *feats, *v;
    const char *key, *ts;
    int64_t t;
    size_t r = d->nrows, hint = 0;
    int rc = 0;

    if (!j || !json_is_object(j)) {
        json_decref(j);
        return skiff_err_at(err, SKIFF_EPARSE, path, (int)line, 0,
                            "not a payload record (a JSON object): %s", j ? "" : je.text);
    }
    ts = json_string_value(json_object_get(j, "ts"));
    feats = json_object_get(j, "features");
    if (!ts || skiff_time_parse(ts, &t, NULL) != 0 || !json_is_object(feats)) {
        json_decref(j);
        return skiff_err_at(err, SKIFF_EPARSE, path, (int)line, 0,
                            "a payload record needs \"ts\" (RFC 3339) and \"features\" "
                            "(an object)");
    }
    if (t <= from_us || t > to_us) {
        json_decref(j);
        return 0;
    }
    if (reserve(d, r + 1)) {
        json_decref(j);
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading '%s'", path);
    }
    for (size_t c = 0; c < d->ncols; c++) {
        d->cols[c].num[r] = NAN;
        if (d->cols[c].str)
            d->cols[c].str[r] = NULL;
    }
    json_object_foreach(feats, key, v) {
        long c = column(d, key, hint);
        struct data_col *col;
        if (c < 0) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading '%s'", path);
            break;
        }
        hint = (size_t)c + 1;
        col = &d->cols[c];
        col->num[r] = NAN;
        if (json_is_number(v))
            col->num[r] = json_number_value(v);
        else if (json_is_boolean(v))
            col->num[r] = json_is_true(v) ? 1 : 0;
        else if (json_is_string(v)) {
            const char *s = json_string_value(v);
            double x;
            size_t n = strlen(s);
            if (!col->str && !(col->str = calloc(d->cap, sizeof *col->str))) {
                rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
                break;
            }
            if (!monitor__parse_cell(s, n, &x)) {
                if (!col->text) {
                    col->text = true;
                    col->bad_line = line;
                    snprintf(col->bad, sizeof col->bad, "%.63s", s);
                }
                x = NAN;
            }
            col->num[r] = x;
            if (!monitor__is_missing(s, n) && !(col->str[r] = strdup(s))) {
                rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
                break;
            }
        }
    }
    json_decref(j);
    if (!rc)
        d->nrows++;
    return rc;
}

static int read_day(struct skiff_mon_data *d, const char *path, int64_t from_us, int64_t to_us,
                    struct skiff_err *err)
{
    FILE *f = fopen(path, "re");
    char *line = NULL;
    size_t cap = 0, no = 0;
    ssize_t n;
    int rc = 0;

    if (!f)
        return errno == ENOENT ? 0 : skiff_err_sys(err, SKIFF_EIO, "cannot open '%s'", path);
    while ((n = getline(&line, &cap, f)) >= 0) {
        no++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            n--;
        if (n == 0)
            continue;
        /* a line cut by a crash mid-write is the last one: skip it */
        if ((rc = add_line(d, path, no, line, (size_t)n, from_us, to_us, err))) {
            if (rc == SKIFF_EPARSE && (n = getline(&line, &cap, f)) < 0) {
                skiff_err_clear(err);
                rc = 0;
            }
            break;
        }
    }
    free(line);
    fclose(f);
    return rc;
}

/* Text columns become codes over their labels, as a CSV's do: a string
 * value is its own label, a number in such a column is written as Python
 * would write a float. */
static int code_text(struct skiff_mon_data *d, struct skiff_err *err)
{
    for (size_t c = 0; c < d->ncols; c++) {
        struct data_col *col = &d->cols[c];
        struct monitor__labelset ls = {0};
        int rc = 0;
        if (!col->text)
            continue;
        for (size_t i = 0; !rc && i < d->nrows; i++) {
            char tmp[40];
            const char *key = col->str ? col->str[i] : NULL;
            long id;
            if (!key && !isnan(col->num[i])) {
                monitor__num_label(col->num[i], false, tmp, sizeof tmp);
                key = tmp;
            }
            if (!key) {
                col->num[i] = NAN;
                continue;
            }
            if ((id = monitor__labelset_put(&ls, key)) < 0)
                rc = SKIFF_ENOMEM;
            else
                col->num[i] = (double)id;
        }
        if (!rc)
            rc = monitor__labelset_keep(&ls, col);
        monitor__labelset_release(&ls);
        if (rc)
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        for (size_t i = 0; col->str && i < d->nrows; i++)
            free(col->str[i]);
        free(col->str);
        col->str = NULL;
    }
    return 0;
}

int skiff_mon_data_read_payloads(const char *dir, int64_t from_us, int64_t to_us,
                                 struct skiff_mon_data **out, struct skiff_err *err)
{
    struct skiff_mon_data *d = calloc(1, sizeof *d);
    int64_t day0 = from_us / 1000000 / 86400, day1 = to_us / 1000000 / 86400;
    int rc = 0;

    *out = NULL;
    if (!d || !(d->name = strdup(dir))) {
        free(d);
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    if (day1 - day0 > 3660) {
        skiff_mon_data_free(d);
        return skiff_err_set(err, SKIFF_EINVAL, "a payload window longer than 10 years");
    }
    for (int64_t day = day0; day <= day1 && !rc; day++) {
        char path[4200];
        time_t secs = (time_t)(day * 86400);
        struct tm tm;
        gmtime_r(&secs, &tm);
        snprintf(path, sizeof path, "%s/%04d-%02d-%02d.jsonl", dir, tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday);
        rc = read_day(d, path, from_us, to_us, err);
    }
    if (!rc)
        rc = code_text(d, err);
    if (!rc && d->nrows == 0) {
        char a[40], b[40];
        rc = skiff_err_at(err, SKIFF_ENOTFOUND, dir, 0, 0, "no payloads in the window (%s, %s]",
                          skiff_time_format(from_us, a, sizeof a),
                          skiff_time_format(to_us, b, sizeof b));
    }
    if (rc) {
        skiff_mon_data_free(d);
        return rc;
    }
    *out = d;
    return 0;
}
