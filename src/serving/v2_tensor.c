/* From V2 input tensors to the model's row-major float matrix, and
 * numbers back to JSON. */
#include "serving_int.h"

#include "skiff/arena.h"
#include "skiff/buf.h"
#include "skiff/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const long double p10l[41] = {
    1e0L, 1e1L, 1e2L, 1e3L, 1e4L, 1e5L, 1e6L, 1e7L, 1e8L, 1e9L, 1e10L, 1e11L, 1e12L, 1e13L,
    1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L,
    1e26L, 1e27L, 1e28L, 1e29L, 1e30L, 1e31L, 1e32L, 1e33L, 1e34L, 1e35L, 1e36L, 1e37L,
    1e38L, 1e39L, 1e40L,
};

/* "%.<digits>g" without printf, for 1e-20 <= |v| < 1e20 (else 0). The value
 * is scaled by a power of ten in long double (64-bit mantissa: the scaled
 * value is within 1e-19 relative of exact) and rounded to `digits`
 * integer digits. Why that reads back exactly: 17 digits step by at most
 * 1e-16 relative, so the printed value is within 0.5e-16 (+1e-19) of v,
 * less than half a double's ulp (>= 1.1e-16 relative); likewise 9 digits
 * for a float (half ulp >= 3e-8). Worked example: 0.1 -> e10 = -1, scaled
 * 1.0000000000000000555e16 -> m = 10000000000000001 -> "0.10000000000000001". */
static int fast_g(double v, int digits, char *out)
{
    static const uint64_t lo[] = {0, 1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
                                  100000000, 1000000000ull, 10000000000ull, 100000000000ull,
                                  1000000000000ull, 10000000000000ull, 100000000000000ull,
                                  1000000000000000ull, 10000000000000000ull,
                                  100000000000000000ull};
    double a = fabs(v);
    char dig[24];
    int e10, k, n = 0, nd;
    uint64_t m;
    long double sc;

    if (!(a >= 1e-20 && a < 1e20))
        return 0;
    e10 = (int)floor(log10(a));
    for (int tries = 0; tries < 3; tries++) {
        k = digits - 1 - e10;          /* scale so that m has `digits` digits */
        if (k < -40 || k > 40)
            return 0;
        sc = k >= 0 ? (long double)a * p10l[k] : (long double)a / p10l[-k];
        m = (uint64_t)sc;
        /* to nearest, ties to even, as printf rounds an exact tie */
        if (sc - (long double)m > 0.5L || (sc - (long double)m == 0.5L && (m & 1)))
            m++;
        if (m >= lo[digits + 1])
            e10++;
        else if (m < lo[digits])
            e10--;
        else
            break;
    }
    if (m < lo[digits] || m >= lo[digits + 1])
        return 0;
    for (int i = digits - 1; i >= 0; i--, m /= 10)
        dig[i] = (char)('0' + m % 10);
    nd = digits;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    if (v < 0)
        out[n++] = '-';
    if (e10 < -4 || e10 >= digits) {
        /* d.ddde+XX, as printf writes it */
        out[n++] = dig[0];
        if (nd > 1) {
            out[n++] = '.';
            memcpy(out + n, dig + 1, (size_t)nd - 1);
            n += nd - 1;
        }
        n += sprintf(out + n, "e%c%02d", e10 < 0 ? '-' : '+', e10 < 0 ? -e10 : e10);
    } else if (e10 < 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (int i = 0; i < -e10 - 1; i++)
            out[n++] = '0';
        memcpy(out + n, dig, (size_t)nd);
        n += nd;
    } else {
        memcpy(out + n, dig, (size_t)(e10 + 1 < nd ? e10 + 1 : nd));
        n += e10 + 1 < nd ? e10 + 1 : nd;
        for (int i = nd; i < e10 + 1; i++)
            out[n++] = '0';
        if (nd > e10 + 1) {
            out[n++] = '.';
            memcpy(out + n, dig + e10 + 1, (size_t)(nd - e10 - 1));
            n += nd - e10 - 1;
        }
    }
    return n;
}

int serving__json_double(struct skiff_buf *b, double v, bool fp32)
{
    char tmp[48];
    int n;

    if (!isfinite(v))
        return skiff_buf_append(b, "null", 4);
    if (fp32)
        v = (double)(float)v;
    /* 17 significant digits read back to the same double (9 for a float) */
    if (v == 0)
        return skiff_buf_append(b, "0", 1);
    if (!(n = fast_g(v, fp32 ? 9 : 17, tmp)))
        n = snprintf(tmp, sizeof tmp, fp32 ? "%.9g" : "%.17g", v);
    return skiff_buf_append(b, tmp, (size_t)n);
}

/* The numeric value of element i: BYTES elements must read as a number. */
static int element(const struct serving__tensor *t, size_t i, float *out, struct skiff_err *err)
{
    if (t->strs) {
        const char *s = t->strs[i];
        char *end;
        double v;
        if (!*s) {
            *out = NAN;   /* an empty string is a missing value */
            return 0;
        }
        v = strtod(s, &end);
        if (*end || end == s)
            return skiff_err_set(err, SKIFF_EINVAL, "input '%s' element %zu: BYTES value "
                                 "'%.64s' is not a number", t->name, i, s);
        *out = (float)v;
        return 0;
    }
    *out = (float)t->data[i];
    return 0;
}

int serving__v2_matrix(const struct serving__infer_req *r, size_t nfeat,
                       const char *const *names, struct skiff_arena *a, float **x,
                       size_t *nrows, struct skiff_err *err)
{
    float *m;
    size_t rows;
    int rc;

    if (r->ninputs == 1 && !(nfeat == 1 && r->inputs[0].ndim == 1 && r->inputs[0].shape[0] != 1)) {
        const struct serving__tensor *t = &r->inputs[0];
        if (t->ndim == 2) {
            if ((size_t)t->shape[1] != nfeat)
                return skiff_err_set(err, SKIFF_EINVAL, "input '%s' has shape [%lld, %lld]: "
                                     "the model takes %zu features per row, shape [n, %zu]",
                                     t->name, (long long)t->shape[0], (long long)t->shape[1],
                                     nfeat, nfeat);
            rows = (size_t)t->shape[0];
        } else if (t->ndim == 1 && (size_t)t->shape[0] == nfeat) {
            rows = 1;
        } else {
            return skiff_err_set(err, SKIFF_EINVAL, "input '%s' has %d dimension(s) that do "
                                 "not fit the model: want shape [n, %zu] (or [%zu] for one "
                                 "row)", t->name, t->ndim, nfeat, nfeat);
        }
        if (rows == 0)
            return skiff_err_set(err, SKIFF_EINVAL, "input '%s' has no rows", t->name);
        if (!(m = skiff_arena_alloc(a, rows * nfeat * sizeof *m)))
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        if (t->strs) {
            for (size_t i = 0; i < rows * nfeat; i++)
                if ((rc = element(t, i, &m[i], err)))
                    return rc;
        } else {
            for (size_t i = 0; i < rows * nfeat; i++)
                m[i] = (float)t->data[i];
        }
        *x = m;
        *nrows = rows;
        return 0;
    }
    /* one input per feature, each a column [n] or [n, 1] */
    if (r->ninputs != nfeat)
        return skiff_err_set(err, SKIFF_EINVAL, "the request has %zu inputs; the model takes "
                             "%zu features (send one input of shape [n, %zu], or one input per "
                             "feature)", r->ninputs, nfeat, nfeat);
    rows = 0;
    for (size_t j = 0; j < r->ninputs; j++) {
        const struct serving__tensor *t = &r->inputs[j];
        if (!(t->ndim == 1 || (t->ndim == 2 && t->shape[1] == 1)))
            return skiff_err_set(err, SKIFF_EINVAL, "input '%s': a per-feature input has shape "
                                 "[n] or [n, 1]", t->name);
        if (j == 0)
            rows = (size_t)t->shape[0];
        else if ((size_t)t->shape[0] != rows)
            return skiff_err_set(err, SKIFF_EINVAL, "input '%s' has %lld rows, input '%s' "
                                 "%zu", t->name, (long long)t->shape[0], r->inputs[0].name, rows);
    }
    if (rows == 0)
        return skiff_err_set(err, SKIFF_EINVAL, "the inputs have no rows");
    if (!(m = skiff_arena_alloc(a, rows * nfeat * sizeof *m)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    for (size_t f = 0; f < nfeat; f++) {
        const struct serving__tensor *t = NULL;
        /* by feature name when the model has names and an input carries one */
        if (names && names[f])
            for (size_t j = 0; j < r->ninputs && !t; j++)
                if (strcmp(r->inputs[j].name, names[f]) == 0)
                    t = &r->inputs[j];
        if (!t) {
            if (names && names[f]) {
                bool any = false;
                for (size_t j = 0; j < r->ninputs; j++)
                    for (size_t g = 0; g < nfeat && !any; g++)
                        any = names[g] && strcmp(r->inputs[j].name, names[g]) == 0;
                if (any)
                    return skiff_err_set(err, SKIFF_EINVAL, "no input named '%s' (the model's "
                                         "feature %zu)", names[f], f);
            }
            t = &r->inputs[f];
        }
        for (size_t i = 0; i < rows; i++)
            if ((rc = element(t, i, &m[i * nfeat + f], err)))
                return rc;
    }
    *x = m;
    *nrows = rows;
    return 0;
}
