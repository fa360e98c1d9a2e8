/* Columns for the report from two datasets: which columns, their type
 * (the reference decides, as Evidently types columns from the reference
 * frame), and categorical codes over labels sorted by strcmp.
 *
 *   numeric      every non-missing reference cell is a number; a current
 *                cell that is not is an error naming file:line
 *   categorical  otherwise; and `target` / `prediction` with fewer than 5
 *                distinct numbers (Evidently's task inference), unless a
 *                prediction holds non-integers (probabilities)
 *
 * Numeric columns borrow the datasets' arrays; only categorical ones are
 * copied (as codes). */
#include "monitor_int.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/err.h"

struct pick {
    const char *name;
    size_t ri, ci;
    bool numeric;
};

/* Keeps p alive until the set is freed; false when out of memory. */
static bool own(struct skiff_mon_colset *s, void *p)
{
    void **o;
    if (!p)
        return false;
    if (!(o = realloc(s->owned, (s->nowned + 1) * sizeof *o))) {
        free(p);
        return false;
    }
    s->owned = o;
    s->owned[s->nowned++] = p;
    return true;
}

struct lab {
    const char *s;
    int set;      /* 0 reference, 1 current */
    size_t id;
};

static int cmp_lab(const void *a, const void *b)
{
    return strcmp(((const struct lab *)a)->s, ((const struct lab *)b)->s);
}

/* Categorical codes for both datasets: each dataset's labels (few) merged
 * and sorted by strcmp, and each code renumbered, in place, to its label's
 * rank. Example: reference [b, a] (codes 0 1), current [c, a] -> labels
 * a b c; reference codes 0 1 -> 1 0, current 0 1 -> 2 0. */
static int fill_categorical(struct skiff_mon_colset *set, struct skiff_mon_column *col,
                            struct skiff_mon_data *ref, size_t ri, struct skiff_mon_data *cur,
                            size_t ci, struct skiff_err *err)
{
    double *codes[2];
    char **labels[2];
    size_t nl[2], *rank[2] = {NULL, NULL}, nr = skiff_mon_data_rows(ref), n = 0;
    size_t rows[2] = {nr, skiff_mon_data_rows(cur)};
    bool *ranked[2];
    struct lab *all = NULL;
    const char **out = NULL;
    int rc;

    if ((rc = monitor__data_codes(ref, ri, &codes[0], &labels[0], &nl[0], &ranked[0], err)) ||
        (rc = monitor__data_codes(cur, ci, &codes[1], &labels[1], &nl[1], &ranked[1], err)))
        return rc;
    if (!(all = malloc((nl[0] + nl[1] + 1) * sizeof *all)) ||
        !(rank[0] = malloc((nl[0] + 1) * sizeof(size_t))) ||
        !(rank[1] = malloc((nl[1] + 1) * sizeof(size_t))) ||
        !own(set, out = malloc((nl[0] + nl[1] + 1) * sizeof *out))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < nl[k]; i++)
            all[n++] = (struct lab){labels[k][i], k, i};
    qsort(all, n, sizeof *all, cmp_lab);
    col->nlabels = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || strcmp(all[i].s, all[i - 1].s) != 0)
            out[col->nlabels++] = all[i].s;
        rank[all[i].set][all[i].id] = col->nlabels - 1;
    }
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < rows[k]; i++)
            if (!isnan(codes[k][i]))
                codes[k][i] = (double)rank[k][(size_t)codes[k][i]];
        *ranked[k] = true;
    }
    col->kind = SKIFF_MON_CAT;
    col->ref = codes[0], col->cur = codes[1];
    col->labels = out;
out:
    free(all), free(rank[0]), free(rank[1]);
    return rc;
}

/* Evidently's task inference for target / prediction: fewer than 5
 * distinct numbers is a classification column (categorical), unless a
 * prediction holds non-integer values (probabilities). */
static bool classlike(const char *name, const double *v, size_t n)
{
    size_t k = 0;
    bool frac = false;
    double seen[5];
    if (strcmp(name, "target") != 0 && strcmp(name, "prediction") != 0)
        return false;
    for (size_t i = 0; i < n && k < 5; i++) {
        size_t j = 0;
        if (isnan(v[i]))
            continue;
        frac |= v[i] != floor(v[i]);
        while (j < k && seen[j] != v[i])
            j++;
        if (j == k)
            seen[k++] = v[i];
    }
    return k < 5 && !(frac && strcmp(name, "prediction") == 0);
}

/* Evidently's order: target, prediction, numeric features by name, then
 * categorical features by name. */
static int rank_of(const struct pick *p)
{
    if (strcmp(p->name, "target") == 0)
        return 0;
    if (strcmp(p->name, "prediction") == 0)
        return 1;
    return p->numeric ? 2 : 3;
}

static int cmp_pick(const void *a, const void *b)
{
    const struct pick *x = a, *y = b;
    int ra = rank_of(x), rb = rank_of(y);
    return ra != rb ? ra - rb : strcmp(x->name, y->name);
}

/* The columns to test, by index in each dataset. */
static int pick_columns(struct skiff_mon_data *ref, struct skiff_mon_data *cur,
                        const char *const *names, size_t nnames, unsigned flags,
                        struct pick *picks, size_t *n, struct skiff_err *err)
{
    size_t nref = skiff_mon_data_ncols(ref);
    *n = 0;
    if (names) {
        for (size_t i = 0; i < nnames; i++) {
            long ri = monitor__data_col(ref, names[i]), ci = monitor__data_col(cur, names[i]);
            if (ri < 0 || ci < 0)
                return skiff_err_at(err, SKIFF_EINVAL, monitor__data_name(ri < 0 ? ref : cur), 1,
                                    0, "no column '%s' in the header", names[i]);
            for (size_t k = 0; k < *n; k++)
                if (strcmp(picks[k].name, names[i]) == 0)
                    return skiff_err_set(err, SKIFF_EINVAL, "columns name '%s' twice", names[i]);
            picks[(*n)++] = (struct pick){skiff_mon_data_col_name(ref, (size_t)ri), (size_t)ri,
                                          (size_t)ci, false};
        }
        return 0;
    }
    if (flags & SKIFF_MON_SAME_COLUMNS)
        for (size_t c = 0; c < skiff_mon_data_ncols(cur); c++)
            if (monitor__data_col(ref, skiff_mon_data_col_name(cur, c)) < 0)
                return skiff_err_at(err, SKIFF_EINVAL, monitor__data_name(ref), 1, 0,
                                    "the files' columns differ: '%s' is in '%s' only",
                                    skiff_mon_data_col_name(cur, c), monitor__data_name(cur));
    for (size_t c = 0; c < nref; c++) {
        const char *name = skiff_mon_data_col_name(ref, c);
        long ci = monitor__data_col(cur, name);
        if (ci < 0)
            return skiff_err_at(err, SKIFF_EINVAL, monitor__data_name(cur), 1, 0,
                                "the files' columns differ: '%s' is in '%s' only", name,
                                monitor__data_name(ref));
        if (strcmp(name, "datetime") == 0)
            continue;   /* Evidently's datetime column is not drift-tested */
        picks[(*n)++] = (struct pick){name, c, (size_t)ci, false};
    }
    return 0;
}

void skiff_mon_colset_free(struct skiff_mon_colset *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nowned; i++)
        free(s->owned[i]);
    free(s->owned);
    free(s->cols);
    free(s);
}

int skiff_mon_columns(struct skiff_mon_data *ref, struct skiff_mon_data *cur,
                      const char *const *names, size_t nnames, unsigned flags,
                      struct skiff_mon_colset **out, struct skiff_err *err)
{
    size_t nref = skiff_mon_data_ncols(ref), n = 0;
    size_t nr = skiff_mon_data_rows(ref), nc = skiff_mon_data_rows(cur);
    struct pick *picks = calloc((names ? nnames : nref) + 1, sizeof *picks);
    struct skiff_mon_colset *s = calloc(1, sizeof *s);
    int rc = 0;

    *out = NULL;
    if (!picks || !s) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = pick_columns(ref, cur, names, nnames, flags, picks, &n, err)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct pick *p = &picks[i];
        p->numeric = !monitor__data_is_text(ref, p->ri);
        if (p->numeric && monitor__data_is_text(cur, p->ci)) {
            rc = monitor__data_text_error(cur, p->ci, err);
            goto out;
        }
        if (p->numeric && classlike(p->name, monitor__data_num(ref, p->ri), nr))
            p->numeric = false;
    }
    if (!names)
        qsort(picks, n, sizeof *picks, cmp_pick);
    if (!(s->cols = calloc(n + 1, sizeof *s->cols))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        struct pick *p = &picks[i];
        struct skiff_mon_column *col = &s->cols[i];
        col->name = p->name;
        col->nref = nr, col->ncur = nc;
        if (p->numeric) {
            col->kind = SKIFF_MON_NUM;
            col->ref = monitor__data_num(ref, p->ri);
            col->cur = monitor__data_num(cur, p->ci);
        } else if ((rc = fill_categorical(s, col, ref, p->ri, cur, p->ci, err)))
            goto out;
    }
    s->n = n;
    *out = s;
    s = NULL;
out:
    skiff_mon_colset_free(s);
    free(picks);
    return rc;
}
