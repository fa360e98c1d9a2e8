/* CSV to a numeric matrix for XGBoost (ml.h skiff_ml_data_load).
 *
 * The file is read with the feature store's reader, every column as text,
 * and typed here column by column: a column is numeric when each non-empty,
 * non-missing cell parses whole as a number. Each column is parsed once into
 * a scratch array and, when it is used, copied into its slot of the
 * row-major float matrix XGBoost takes.
 */
#include "ml_int.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/features.h"

/* pandas' usual missing markers besides the empty cell */
bool ml__is_missing(const char *s)
{
    static const char *const na[] = {"NA", "N/A", "NaN", "nan", "null", "NULL", "None", "-nan"};
    if (!s || !*s)
        return true;
    /* every marker starts with one of these: most cells skip the strcmps */
    if (!strchr("Nn-", *s) || (*s == '-' && s[1] != 'n'))
        return false;
    for (size_t i = 0; i < sizeof na / sizeof *na; i++)
        if (strcmp(s, na[i]) == 0)
            return true;
    return false;
}

/* A whole cell as a number. *integral is cleared when it has a fraction or
 * exponent. Plain decimals of up to 15 digits take Clinger's fast path (one
 * correctly rounded division, so the same double as strtod). */
bool ml__parse_num(const char *s, double *v, bool *integral)
{
    static const double p10[16] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    const char *q = s;
    bool neg = false;
    uint64_t m = 0;
    int digits = 0, frac = 0;
    char *end;

    if (*q == '-' || *q == '+')
        neg = *q++ == '-';
    for (; *q >= '0' && *q <= '9'; q++, digits++)
        m = m * 10 + (uint64_t)(*q - '0');
    if (*q == '.')
        for (q++; *q >= '0' && *q <= '9'; q++, digits++, frac++)
            m = m * 10 + (uint64_t)(*q - '0');
    if (!*q && digits > 0 && digits <= 15) {
        *v = frac ? (double)m / p10[frac] : (double)m;
        if (neg)
            *v = -*v;
        if (frac)
            *integral = false;
        return true;
    }
    if (*s == ' ' || *s == '\t')
        return false;
    errno = 0;
    *v = strtod(s, &end);
    if (end == s || *end || isnan(*v))
        return false;
    if (strpbrk(s, ".eEiI"))
        *integral = false;
    return true;
}

static bool is_time_name(const char *n)
{
    return strstr(n, "timestamp") || skiff_str_endswith(n, "_at") || strcmp(n, "date") == 0 ||
           strcmp(n, "datetime") == 0 || strcmp(n, "time") == 0;
}

static bool in_list(const char *n, const char *const *list, size_t k)
{
    for (size_t i = 0; i < k; i++)
        if (strcmp(n, list[i]) == 0)
            return true;
    return false;
}

/* Parses column c into v[nrows]. Returns 1 when numeric, 0 when not (the
 * first bad cell's row in *bad_row). */
static int parse_column(const struct skiff_feat_table *t, size_t c, double *v, bool *integral,
                        size_t *bad_row)
{
    *integral = true;
    for (size_t r = 0; r < t->nrows; r++) {
        const char *s = skiff_feat_table_str(t, r, c);
        if (ml__is_missing(s)) {
            v[r] = NAN;
            continue;
        }
        if (!ml__parse_num(s, &v[r], integral)) {
            *bad_row = r;
            return 0;
        }
    }
    return 1;
}

void skiff_ml_data_free(struct skiff_ml_data *d)
{
    if (!d)
        return;
    for (size_t i = 0; d->names && i < d->nfeat; i++)
        free(d->names[i]);
    free(d->names);
    free(d->types);
    free(d->x);
    free(d->y);
    free(d);
}

static size_t row_line(const struct skiff_feat_table *t, size_t r)
{
    return t->line ? t->line[r] : r + 2;
}

int skiff_ml_data_load(const char *path, const struct skiff_ml_data_opts *o,
                       struct skiff_ml_data **out, struct skiff_err *err)
{
    struct skiff_feat_csv_opts co = {0};
    struct skiff_feat_table *t = NULL;
    struct skiff_ml_data *d = NULL;
    double *v = NULL;
    long *slot = NULL;   /* feature index of each table column, or -1 */
    long label_col = -1;
    size_t bad;
    bool integral;
    int rc = 0;

    *out = NULL;
    co.keep_others = true;
    co.progress = o->progress;
    if ((rc = skiff_feat_csv_read(path, &co, &t, NULL, err)))
        return rc;
    if (t->nrows == 0) {
        rc = skiff_err_at(err, SKIFF_EINVAL, path, 0, 0, "no data rows");
        goto out;
    }
    d = calloc(1, sizeof *d);
    v = malloc(t->nrows * sizeof *v);
    slot = malloc(t->ncols * sizeof *slot);
    if (!d || !v || !slot)
        goto nomem;
    d->nrows = t->nrows;
    if (o->label) {
        label_col = skiff_feat_table_col(t, o->label);
        if (label_col < 0) {
            rc = skiff_err_at(err, SKIFF_EINVAL, path, 1, 0, "no label column '%s' in the header",
                              o->label);
            goto out;
        }
    }
    for (size_t c = 0; c < t->ncols; c++)
        slot[c] = -1;

    /* which columns are features, and in which order */
    if (o->features) {
        d->names = calloc(o->nfeatures ? o->nfeatures : 1, sizeof *d->names);
        if (!d->names)
            goto nomem;
        for (size_t f = 0; f < o->nfeatures; f++) {
            long c = skiff_feat_table_col(t, o->features[f]);
            if (c < 0) {
                rc = skiff_err_at(err, SKIFF_EINVAL, path, 1, 0,
                                  "the model's feature '%s' is not a column of the file",
                                  o->features[f]);
                goto out;
            }
            slot[c] = (long)f;
            if (!(d->names[f] = strdup(o->features[f])))
                goto nomem;
            d->nfeat++;
        }
    } else {
        d->names = calloc(t->ncols, sizeof *d->names);
        if (!d->names)
            goto nomem;
        for (size_t c = 0; c < t->ncols; c++) {
            const char *n = t->cols[c].name;
            if ((long)c == label_col || in_list(n, o->drop, o->ndrop) || is_time_name(n))
                continue;
            slot[c] = (long)d->nfeat;
            if (!(d->names[d->nfeat] = strdup(n)))
                goto nomem;
            d->nfeat++;
        }
    }
    d->types = calloc(d->nfeat ? d->nfeat : 1, sizeof *d->types);
    d->x = malloc((d->nfeat ? d->nfeat : 1) * d->nrows * sizeof *d->x);
    if (!d->types || !d->x)
        goto nomem;

    /* parse and place; non-numeric automatic features are left out */
    {
        size_t kept = 0;
        long *remap = malloc((d->nfeat ? d->nfeat : 1) * sizeof *remap);
        if (!remap)
            goto nomem;
        for (size_t f = 0; f < d->nfeat; f++)
            remap[f] = -1;
        for (size_t c = 0; c < t->ncols; c++) {
            if (slot[c] < 0)
                continue;
            if (!parse_column(t, c, v, &integral, &bad)) {
                if (o->features) {
                    rc = skiff_err_at(err, SKIFF_EINVAL, path, (int)row_line(t, bad), 0,
                                      "feature column '%s' is not numeric: '%s'",
                                      t->cols[c].name, skiff_feat_table_str(t, bad, c));
                    free(remap);
                    goto out;
                }
                continue;   /* a STRING column: not a feature */
            }
            remap[slot[c]] = 0;
            d->types[slot[c]] = integral ? "int" : "float";
            for (size_t r = 0; r < d->nrows; r++)
                d->x[r * d->nfeat + (size_t)slot[c]] = (float)v[r];
        }
        /* squeeze out the columns that were not numeric */
        for (size_t f = 0; f < d->nfeat; f++) {
            if (remap[f] < 0) {
                free(d->names[f]);
                continue;
            }
            remap[f] = (long)kept;
            d->names[kept] = d->names[f];
            d->types[kept] = d->types[f];
            kept++;
        }
        if (kept != d->nfeat) {
            for (size_t r = 0; r < d->nrows; r++)
                for (size_t f = 0; f < d->nfeat; f++)
                    if (remap[f] >= 0)
                        d->x[r * kept + (size_t)remap[f]] = d->x[r * d->nfeat + f];
            d->nfeat = kept;
        }
        free(remap);
    }
    if (d->nfeat == 0) {
        rc = skiff_err_at(err, SKIFF_EINVAL, path, 1, 0, "no numeric feature columns");
        goto out;
    }
    if (label_col >= 0) {
        if (!parse_column(t, (size_t)label_col, v, &integral, &bad)) {
            rc = skiff_err_at(err, SKIFF_EINVAL, path, (int)row_line(t, bad), 0,
                              "label column '%s' is not numeric: '%s'", o->label,
                              skiff_feat_table_str(t, bad, (size_t)label_col));
            goto out;
        }
        for (size_t r = 0; r < d->nrows; r++)
            if (isnan(v[r])) {
                rc = skiff_err_at(err, SKIFF_EINVAL, path, (int)row_line(t, r), 0,
                                  "label column '%s' is empty", o->label);
                goto out;
            }
        d->y = v;
        v = NULL;
    }
    *out = d;
    d = NULL;
    goto out;
nomem:
    rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading '%s'", path);
out:
    skiff_feat_table_free(t);
    skiff_ml_data_free(d);
    free(v);
    free(slot);
    return rc;
}

int skiff_ml_data_write_sample(const struct skiff_ml_data *d, size_t max, uint64_t seed,
                               const char *path, struct skiff_err *err)
{
    struct ml__rng r;
    size_t k = d->nrows < max ? d->nrows : max, chosen = 0;
    FILE *f = fopen(path, "w");
    int rc = 0;

    if (!f)
        return skiff_err_sys(err, SKIFF_EIO, "cannot create '%s'", path);
    for (size_t j = 0; j < d->nfeat; j++)
        fprintf(f, "%s%s", j ? "," : "", d->names[j]);
    fputc('\n', f);
    /* selection sampling (Knuth's algorithm S): each row is taken with
     * probability (still needed) / (still left), so exactly k rows, in
     * order, in one pass */
    ml__rng_seed(&r, seed, 4, 0, 0);
    for (size_t i = 0; i < d->nrows && chosen < k; i++) {
        if ((double)(d->nrows - i) * ml__rng_uniform(&r) >= (double)(k - chosen))
            continue;
        chosen++;
        for (size_t j = 0; j < d->nfeat; j++) {
            float x = d->x[i * d->nfeat + j];
            if (j)
                fputc(',', f);
            if (!isnan(x))
                fprintf(f, "%.9g", (double)x);
        }
        fputc('\n', f);
    }
    if (ferror(f))
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", path);
    if (fclose(f) != 0 && !rc)
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", path);
    return rc;
}
