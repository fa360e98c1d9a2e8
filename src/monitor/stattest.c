/* Evidently 0.4.x's drift tests (specs/evidently.md 4), bit for bit where
 * the spec pins the arithmetic down, and the scipy kernels under them.
 *
 * Every test sorts its own copies of the samples; sorted data make the
 * ECDFs, distinct-value counts and histogram counts one linear walk.
 */
#include "monitor_int.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/err.h"

/* ---- the test table ---- */

static const struct {
    const char *name, *display;
    double threshold;
    bool pvalue;
} tests[SKIFF_MON_TEST_COUNT] = {
    [SKIFF_MON_TEST_DEFAULT] = {"default", "default", 0.05, true},
#define ROW(id, name, display, thr, pvalue) [SKIFF_MON_TEST_##id] = {name, display, thr, pvalue},
    SKIFF_MON_TESTS(ROW)
#undef ROW
};

int skiff_mon_test_parse(const char *name)
{
    for (int i = 1; i < SKIFF_MON_TEST_COUNT; i++)
        if (strcmp(tests[i].name, name) == 0)
            return i;
    return -1;
}

const char *skiff_mon_test_name(enum skiff_mon_test t) { return tests[t].name; }
const char *skiff_mon_test_display(enum skiff_mon_test t) { return tests[t].display; }
double skiff_mon_test_default_threshold(enum skiff_mon_test t) { return tests[t].threshold; }

bool skiff_mon_test_drifted(enum skiff_mon_test test, double score, double t)
{
    /* Evidently's StatTest functions differ in the comparison: K-S drifts
     * at p <= threshold, chi-square and Z at p < threshold, distances at
     * score >= threshold (spec 3.2). */
    switch (test) {
    case SKIFF_MON_TEST_KS:
        return score <= t;
    case SKIFF_MON_TEST_CHISQUARE:
    case SKIFF_MON_TEST_Z:
        return score < t;
    default:
        return score >= t;
    }
}

enum skiff_mon_test skiff_mon_default_test(enum skiff_mon_kind kind, size_t n_ref,
                                           size_t n_unique)
{
    /* spec 3.1: small reference -> classical tests, large -> distances;
     * few distinct values make a numeric column count as categorical. */
    if (kind == SKIFF_MON_NUM && n_unique > 5)
        return n_ref <= 1000 ? SKIFF_MON_TEST_KS : SKIFF_MON_TEST_WASSERSTEIN;
    if (n_ref > 1000)
        return SKIFF_MON_TEST_JENSENSHANNON;
    return n_unique > 2 ? SKIFF_MON_TEST_CHISQUARE : SKIFF_MON_TEST_Z;
}

/* ---- sorting and counting ---- */

/* Doubles as unsigned keys that sort in the same order: flip every bit of
 * a negative number, only the sign bit of a positive one (-0.0 lands next
 * to +0.0, and they compare equal anyway). */
static uint64_t key_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u & 0x8000000000000000ull ? ~u : u | 0x8000000000000000ull;
}

static double double_of(uint64_t u)
{
    double d;
    u = u & 0x8000000000000000ull ? u & 0x7fffffffffffffffull : ~u;
    memcpy(&d, &u, sizeof d);
    return d;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* LSD radix sort, 5 passes of 13 bits: linear in n, which matters at a
 * million values per column (qsort with a comparator was half the time of
 * `skiff drift` on 1M x 7; 5 x 13 bits took 6% less of it than 6 x 11). A
 * pass where every key has the same digit is skipped. Below a few thousand
 * values qsort is cheaper than clearing the counts. */
int monitor__sort(double *x, size_t n, struct skiff_err *err)
{
    enum { BITS = 13, RADIX = 1 << BITS, PASSES = 5 };
    if (n < 4096) {
        qsort(x, n, sizeof *x, cmp_double);
        return 0;
    }
    /* the keys live in x itself (same size as a double); one scratch array */
    uint64_t *a = (uint64_t *)x, *b = malloc((n ? n : 1) * sizeof *b), *orig = a;
    size_t (*cnt)[RADIX] = calloc(PASSES, sizeof *cnt);

    if (!b || !cnt) {
        free(b), free(cnt);
        return skiff_err_set(err, SKIFF_ENOMEM, "cannot sort %zu values: out of memory", n);
    }
    /* memcpy in and out: the bytes change type in place without breaking
     * the aliasing rules */
    for (size_t i = 0; i < n; i++) {
        double v;
        uint64_t k;
        memcpy(&v, (char *)x + i * sizeof v, sizeof v);
        k = key_of(v);
        memcpy((char *)a + i * sizeof k, &k, sizeof k);
        for (int p = 0; p < PASSES; p++)
            cnt[p][(a[i] >> (p * BITS)) & (RADIX - 1)]++;
    }
    for (int p = 0; p < PASSES; p++) {
        size_t sum = 0, *c = cnt[p];
        uint64_t *t;
        if (n && c[(a[0] >> (p * BITS)) & (RADIX - 1)] == n)
            continue;
        for (size_t d = 0; d < RADIX; d++) {
            size_t k = c[d];
            c[d] = sum, sum += k;
        }
        for (size_t i = 0; i < n; i++)
            b[c[(a[i] >> (p * BITS)) & (RADIX - 1)]++] = a[i];
        t = a, a = b, b = t;
    }
    /* an odd number of passes left the keys in the scratch array */
    for (size_t i = 0; i < n; i++) {
        double v = double_of(a[i]);
        memcpy((char *)x + i * sizeof v, &v, sizeof v);
    }
    free(a == orig ? b : a);
    free(cnt);
    return 0;
}

int monitor__sorted(const double *x, size_t n, double **out, struct skiff_err *err)
{
    double *s = malloc((n ? n : 1) * sizeof *s);
    int rc;
    *out = NULL;
    if (!s)
        return skiff_err_set(err, SKIFF_ENOMEM, "cannot sort %zu values: out of memory", n);
    if (n)
        memcpy(s, x, n * sizeof *s);
    if ((rc = monitor__sort(s, n, err))) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

size_t monitor__distinct_union(const double *rs, size_t nr, const double *cs, size_t nc)
{
    return monitor__distinct_union_upto(rs, nr, cs, nc, SIZE_MAX);
}

size_t monitor__distinct(const double *s, size_t n)
{
    size_t k = n ? 1 : 0;
    for (size_t i = 1; i < n; i++)
        k += s[i] != s[i - 1];
    return k;
}

size_t monitor__distinct_union_upto(const double *rs, size_t nr, const double *cs, size_t nc,
                                    size_t limit)
{
    size_t i = 0, j = 0, k = 0;
    while ((i < nr || j < nc) && k < limit) {
        double v = j >= nc || (i < nr && rs[i] <= cs[j]) ? rs[i] : cs[j];
        while (i < nr && rs[i] == v)
            i++;
        while (j < nc && cs[j] == v)
            j++;
        k++;
    }
    return k;
}

/* The union of distinct values of sorted r and c with each one's count in
 * r and in c, ascending. Caller frees *keys, *cr, *cc. */
static int union_counts(const double *rs, size_t nr, const double *cs, size_t nc, double **keys,
                        size_t **cr, size_t **cc, size_t *k, struct skiff_err *err)
{
    size_t n = monitor__distinct_union(rs, nr, cs, nc), i = 0, j = 0, m = 0;
    *keys = malloc((n ? n : 1) * sizeof **keys);
    *cr = calloc(n ? n : 1, sizeof **cr);
    *cc = calloc(n ? n : 1, sizeof **cc);
    if (!*keys || !*cr || !*cc) {
        free(*keys), free(*cr), free(*cc);
        *keys = NULL, *cr = *cc = NULL;
        return skiff_err_set(err, SKIFF_ENOMEM, "cannot count values: out of memory");
    }
    while (i < nr || j < nc) {
        double v = j >= nc || (i < nr && rs[i] <= cs[j]) ? rs[i] : cs[j];
        (*keys)[m] = v;
        while (i < nr && rs[i] == v)
            i++, (*cr)[m]++;
        while (j < nc && cs[j] == v)
            j++, (*cc)[m]++;
        m++;
    }
    *k = n;
    return 0;
}

static int check_sizes(size_t nr, size_t nc, struct skiff_err *err)
{
    if (nr == 0 || nc == 0)
        return skiff_err_set(err, SKIFF_EINVAL, "an empty %s sample was provided",
                             nr == 0 ? "reference" : "current");
    return 0;
}

/* rs and cs in ascending order: borrowed when the caller says they are
 * sorted, else sorted copies in *own_r and *own_c (freed by the caller). */
static int ensure_sorted(const double **rs, size_t nr, const double **cs, size_t nc, bool sorted,
                         double **own_r, double **own_c, struct skiff_err *err)
{
    int rc;
    if (sorted)
        return 0;
    if ((rc = monitor__sorted(*rs, nr, own_r, err)) ||
        (rc = monitor__sorted(*cs, nc, own_c, err)))
        return rc;
    *rs = *own_r, *cs = *own_c;
    return 0;
}

/* ---- Evidently's binning (spec 4.1) ----
 *
 * Numeric branch (num and more than 20 distinct reference values): numpy's
 * Sturges edges over r and c together, k = ceil((hi-lo) / ((hi-lo) /
 * (log2(N) + 1))), e[i] = i * (hi-lo)/k + lo, e[k] = hi; bins half-open but
 * the last closed. Otherwise one bin per distinct value of r and c.
 * Example (spec 5.D): r = 0..99, c = 50..149: N = 200, width =
 * 149/8.6439 = 17.238, k = ceil(8.6439) = 9, e[1] = 16.5556;
 * r counts [17,17,16,17,16,17,0,0,0].
 *
 * Zero filling (PSI only), each array on its own: zeros become
 * min(non-zero)/1e6 when that minimum is <= 1e-4, else 1e-4; e.g. the
 * shares [.5,.3,.2,0] become [.5,.3,.2,.0001]. */
static int binned(enum skiff_mon_kind kind, const double *rs, size_t nr, const double *cs,
                  size_t nc, bool fill, double **rp, double **cp, size_t *k,
                  struct skiff_err *err)
{
    size_t nb;
    double *a = NULL, *b = NULL;

    if (kind == SKIFF_MON_NUM && monitor__distinct(rs, nr) > 20) {
        double lo = fmin(rs[0], cs[0]), hi = fmax(rs[nr - 1], cs[nc - 1]);
        double width = (hi - lo) / (log2((double)(nr + nc)) + 1.0);
        double step;
        nb = (size_t)ceil((hi - lo) / width);
        step = (hi - lo) / (double)nb;
        a = calloc(nb, sizeof *a);
        b = calloc(nb, sizeof *b);
        if (!a || !b)
            goto oom;
        /* bin of x = number of inner edges e[1..nb-1] <= x; sorted input
         * lets one cursor walk the edges. */
        for (int pass = 0; pass < 2; pass++) {
            const double *s = pass ? cs : rs;
            size_t n = pass ? nc : nr, bin = 0;
            double *cnt = pass ? b : a;
            for (size_t i = 0; i < n; i++) {
                while (bin + 1 < nb && s[i] >= (double)(bin + 1) * step + lo)
                    bin++;
                cnt[bin] += 1;
            }
            for (size_t i = 0; i < nb; i++)
                cnt[i] /= (double)n;
        }
    } else {
        double *keys;
        size_t *cr, *cc;
        if (union_counts(rs, nr, cs, nc, &keys, &cr, &cc, &nb, err))
            return err->code;
        a = calloc(nb, sizeof *a);
        b = calloc(nb, sizeof *b);
        if (a && b)
            for (size_t i = 0; i < nb; i++)
                a[i] = (double)cr[i] / (double)nr, b[i] = (double)cc[i] / (double)nc;
        free(keys), free(cr), free(cc);
        if (!a || !b)
            goto oom;
    }
    if (fill) {
        for (int pass = 0; pass < 2; pass++) {
            double *p = pass ? b : a, m = INFINITY, f;
            for (size_t i = 0; i < nb; i++)
                if (p[i] != 0 && p[i] < m)
                    m = p[i];
            f = m <= 0.0001 ? m / 1e6 : 0.0001;
            for (size_t i = 0; i < nb; i++)
                if (p[i] == 0)
                    p[i] = f;
        }
    }
    *rp = a, *cp = b, *k = nb;
    return 0;
oom:
    free(a), free(b);
    return skiff_err_set(err, SKIFF_ENOMEM, "cannot bin values: out of memory");
}

/* ---- PSI (spec 4.2) ----
 * PSI = sum_i (r_i - c_i) * ln(r_i / c_i) over zero-filled shares.
 * Example 5.A: r = [.5,.3,.2,.0001], c = [.3,.3,.3,.1]:
 * .2*ln(5/3) + 0 + (-.1)*ln(2/3) + (-.0999)*ln(.001) = 0.8327963879343301. */
static int psi(enum skiff_mon_kind kind, const double *r, size_t nr, const double *c, size_t nc,
               bool sorted, double *score, struct skiff_err *err)
{
    const double *rs = r, *cs = c;
    double *own_r = NULL, *own_c = NULL, *rp = NULL, *cp = NULL, sum = 0;
    size_t k;
    int rc;

    if ((rc = check_sizes(nr, nc, err)) ||
        (rc = ensure_sorted(&rs, nr, &cs, nc, sorted, &own_r, &own_c, err)) ||
        (rc = binned(kind, rs, nr, cs, nc, true, &rp, &cp, &k, err)))
        goto out;
    for (size_t i = 0; i < k; i++)
        sum += (rp[i] - cp[i]) * log(rp[i] / cp[i]);
    *score = sum;
out:
    free(own_r), free(own_c), free(rp), free(cp);
    return rc;
}

/* ---- Jensen-Shannon distance (spec 4.3) ----
 * p, q = shares normalised to sum 1, m = (p+q)/2,
 * JS = sqrt((sum p ln(p/m) + sum q ln(q/m)) / 2), terms with a zero share
 * count 0. Example 5.D (r = 0..99, c = 50..149): 0.5887050112577373. */
static int jensenshannon(enum skiff_mon_kind kind, const double *r, size_t nr,
                         const double *c, size_t nc, bool sorted, double *score,
                         struct skiff_err *err)
{
    const double *rs = r, *cs = c;
    double *own_r = NULL, *own_c = NULL, *p = NULL, *q = NULL;
    double sp = 0, sq = 0, left = 0, right = 0;
    size_t k;
    int rc;

    if ((rc = check_sizes(nr, nc, err)) ||
        (rc = ensure_sorted(&rs, nr, &cs, nc, sorted, &own_r, &own_c, err)) ||
        (rc = binned(kind, rs, nr, cs, nc, false, &p, &q, &k, err)))
        goto out;
    for (size_t i = 0; i < k; i++)
        sp += p[i], sq += q[i];
    for (size_t i = 0; i < k; i++) {
        double pi = p[i] / sp, qi = q[i] / sq, m = (pi + qi) / 2.0;
        if (pi > 0)
            left += pi * log(pi / m);
        if (qi > 0)
            right += qi * log(qi / m);
    }
    *score = sqrt((left + right) / 2.0);
out:
    free(own_r), free(own_c), free(p), free(q);
    return rc;
}

/* ---- Wasserstein, normed (spec 4.4) ----
 * W1 = sum_j |F_r(s_j) - F_c(s_j)| (s_{j+1} - s_j) over the pooled sorted
 * values s; score = W1 / max(std_pop(r), 0.001).
 * Example 5.D: W1 = 50, std_pop(0..99) = 28.866 -> 1.7321374166049877. */
static int wasserstein(const double *r, size_t nr, const double *c, size_t nc, bool sorted,
                       double *score, struct skiff_err *err)
{
    const double *rs = r, *cs = c;
    double *own_r = NULL, *own_c = NULL, w = 0, mean = 0, var = 0, prev;
    size_t i = 0, j = 0;
    int rc;

    if ((rc = check_sizes(nr, nc, err)) ||
        (rc = ensure_sorted(&rs, nr, &cs, nc, sorted, &own_r, &own_c, err)))
        goto out;
    /* Walk the pooled values in order; between one pooled value and the
     * next both ECDFs are constant. */
    prev = fmin(rs[0], cs[0]);
    while (i < nr || j < nc) {
        double v = j >= nc || (i < nr && rs[i] <= cs[j]) ? rs[i] : cs[j];
        w += fabs((double)i / (double)nr - (double)j / (double)nc) * (v - prev);
        while (i < nr && rs[i] == v)
            i++;
        while (j < nc && cs[j] == v)
            j++;
        prev = v;
    }
    for (i = 0; i < nr; i++)
        mean += r[i];
    mean /= (double)nr;
    for (i = 0; i < nr; i++)
        var += (r[i] - mean) * (r[i] - mean);
    *score = w / fmax(sqrt(var / (double)nr), 0.001);
out:
    free(own_r), free(own_c);
    return rc;
}

/* ---- Kolmogorov-Smirnov (spec 4.5) ---- */

static long gcd_l(long a, long b)
{
    while (b) {
        long t = a % b;
        a = b, b = t;
    }
    return a;
}

/* P(D >= h/n) for two samples of size n: the reflection sum of the
 * lattice paths leaving the band (scipy's _compute_prob_outside_square).
 * Example 5.E: n = 20, h = 5 -> 0.571336004933722. */
static double ks_outside_square(long n, long h)
{
    double P = 0.0;
    for (long k = n / h; k >= 0; k--) {
        double p1 = 1.0;
        for (long j = 0; j < h; j++)
            p1 = (double)(n - k * h - j) * p1 / (double)(n + k * h + j + 1);
        P = p1 * (1.0 - P);
    }
    return 2.0 * P;
}

/* 1 - P(all lattice paths from (0,0) to (m,n) stay strictly inside
 * |x*n/g - y*m/g| < h), computed directly as the probability of leaving
 * (Hodges' inside method in Viehmann's stable form): a(x,y) = x/(x+y)
 * a(x-1,y) + y/(x+y) a(x,y-1), a = 1 outside the band. One column of a is
 * kept, restricted to the band's window [minj, maxj). */
static double ks_outer_inside(long m, long n, long g, long h, int *oom)
{
    long mg, ng, minj = 0, maxj, curlen;
    double *A, res;

    if (m < n) {
        long t = m;
        m = n, n = t;
    }
    mg = m / g, ng = n / g;
    maxj = (long)ceil((double)h / (double)mg);
    if (maxj > n + 1)
        maxj = n + 1;
    curlen = maxj - minj;
    A = malloc((size_t)(n + 2) * sizeof *A);
    if (!A) {
        *oom = 1;
        return NAN;
    }
    for (long j = 0; j < n + 2; j++)
        A[j] = j < maxj ? 0.0 : 1.0;
    for (long i = 1; i <= m; i++) {
        long lastminj = minj, lastlen = curlen;
        double val;
        minj = (long)floor((double)(ng * i - h) / (double)mg) + 1;
        if (minj < 0)
            minj = 0;
        if (minj > n)
            minj = n;
        maxj = (long)ceil((double)(ng * i + h) / (double)mg);
        if (maxj > n + 1)
            maxj = n + 1;
        if (maxj <= minj) {
            free(A);
            return 1.0;
        }
        val = minj == 0 ? 0.0 : 1.0;
        for (long jj = 0; jj < maxj - minj; jj++) {
            long j = jj + minj;
            val = (A[jj + minj - lastminj] * (double)i + val * (double)j) / (double)(i + j);
            A[jj] = val;
        }
        curlen = maxj - minj;
        for (long t = curlen; t < lastlen; t++)
            A[t] = 1.0;   /* entries the window left behind are outside */
    }
    res = A[maxj - minj - 1];
    free(A);
    return res;
}

/* One-sided Smirnov P(D+_n >= d), exact (Birnbaum-Tingey):
 * d * sum_{j=0}^{floor(n(1-d))} C(n,j) (d + j/n)^(j-1) (1 - d - j/n)^(n-j),
 * each term in logs (a term is at most 1/d since the bases sum to 1). */
static double smirnov_sf(double n, double d)
{
    double sum = 0, lfn = lgamma(n + 1);
    long N = (long)n, jmax = (long)floor(n * (1 - d));
    if (d <= 0)
        return 1.0;
    if (d >= 1)
        return 0.0;
    for (long j = 0; j <= jmax; j++) {
        double a = 1 - d - (double)j / n, b = d + (double)j / n, lt;
        if (a <= 0)
            break;
        lt = lfn - lgamma((double)j + 1) - lgamma((double)(N - j) + 1) +
             (double)(N - j) * log(a) + (double)(j - 1) * log(b);
        sum += exp(lt);
    }
    return d * sum;
}

/* Pelz-Good asymptotic series for the Kolmogorov distribution of D_n at
 * z = sqrt(n) d: K0 + K1/sqrt(n) + K2/n + K3/n^1.5 (scipy's
 * _kolmogn_PelzGood). Returns the survival function. */
static double pelz_good_sf(double n, double d)
{
    const double pi2 = M_PI * M_PI, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
    const double sqrt2pi = sqrt(2 * M_PI);
    double z = sqrt(n) * d, z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
    double qlog = -pi2 / 8 / z2, q, K[4] = {0, 0, 0, 0}, k2x = 0, k3x = 0, sum;
    double k1a = -z2, k1b = pi2 / 4;
    double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * pi2 / 4,
           k2c = pi4 * (1 - 2 * z2) / 16;
    double k3d = pi6 * (5 - 30 * z2) / 64, k3c = pi4 * (-60 * z2 + 212 * z4) / 16,
           k3b = pi2 * (135 * z4 - 96 * z6) / 4, k3a = -30 * z6 - 90 * z4 * z4;
    long maxk;

    if (qlog < -708)
        return 1.0;
    q = exp(qlog);
    maxk = (long)ceil(16 * z / M_PI);
    for (long k = maxk; k > 0; k--) {
        double m = (double)(2 * k - 1), m2 = m * m, m4 = m2 * m2, m6 = m4 * m2;
        double qp = pow(q, (double)(8 * k));
        double co[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4,
                        k3a + k3b * m2 + k3c * m4 + k3d * m6};
        for (int i = 0; i < 4; i++)
            K[i] = K[i] * qp + co[i];
    }
    for (int i = 0; i < 4; i++)
        K[i] *= q * sqrt2pi;
    K[0] /= z, K[1] /= 6 * z4, K[2] /= 72 * z6 * z, K[3] /= 6480 * z6 * z4;
    q = exp(-pi2 / 2 / z2);
    for (long k = maxk; k > 0; k--) {
        double ks = (double)k, qk = pow(q, ks * ks), kp = M_PI * ks, s3z = sqrt(3.0) * z;
        k2x += ks * ks * qk;
        k3x += (s3z + kp) * (s3z - kp) * ks * ks * qk;
    }
    K[2] += k2x * pi2 * sqrt2pi / (-36 * z3);
    K[3] += k3x * pi2 * sqrt2pi / (216 * z6);
    K[1] /= sqrt(n), K[2] /= n, K[3] /= n * sqrt(n);
    sum = 1.0 - K[0] - K[1] - K[2] - K[3];
    return sum;
}

static double clip01(double p) { return p < 0 ? 0 : p > 1 ? 1 : p; }

/* P(D_n >= d) as scipy.stats.kstwo.sf, regime by regime (scipy's
 * _kolmogn). For n <= 140 in the middle range scipy uses the Durbin
 * matrix and Pomeranz recursions; skiff uses Pelz-Good there (only reached
 * by a K-S test with more than 10000 values on one side and fewer than
 * ~280 on the other), docs/drift.md. */
double skiff_mon_kstwo_sf(double d, double n)
{
    double t = n * d, nx2;
    if (!(n >= 1))
        return NAN;
    if (d >= 1)
        return 0.0;
    if (d <= 0)
        return 1.0;
    if (t <= 1.0) {   /* Ruben-Gambino: 1/(2n) <= d <= 1/n */
        double cdf;
        if (t <= 0.5)
            return 1.0;
        if (n <= 140) {
            cdf = 1.0;
            for (long i = 1; i <= (long)n; i++)
                cdf *= (double)i * (1.0 / n) * (2 * t - 1);
        } else {
            cdf = exp(lgamma(n + 1) - n * log(n) + n * log(2 * t - 1));
        }
        return clip01(1.0 - cdf);
    }
    if (t >= n - 1)
        return clip01(2 * pow(1.0 - d, n));
    if (d >= 0.5)
        return clip01(2 * smirnov_sf(n, d));
    nx2 = t * d;
    if (nx2 >= (n <= 140 ? 4.0 : 2.2))
        return clip01(2 * smirnov_sf(n, d));
    return clip01(pelz_good_sf(n, d));
}

static int ks(const double *r, size_t nr, const double *c, size_t nc, bool sorted, double *stat,
              double *pvalue, struct skiff_err *err)
{
    const double *rs = r, *cs = c;
    double *own_r = NULL, *own_c = NULL, dmax = 0, p = NAN;
    size_t i = 0, j = 0;
    int rc;

    if ((rc = check_sizes(nr, nc, err)) ||
        (rc = ensure_sorted(&rs, nr, &cs, nc, sorted, &own_r, &own_c, err)))
        goto out;
    /* D = max |F_r - F_c| at the pooled values, each ECDF a count over n
     * divided as scipy divides, so D is the same double. */
    while (i < nr || j < nc) {
        double v = j >= nc || (i < nr && rs[i] <= cs[j]) ? rs[i] : cs[j], diff;
        while (i < nr && rs[i] == v)
            i++;
        while (j < nc && cs[j] == v)
            j++;
        diff = fabs((double)i / (double)nr - (double)j / (double)nc);
        if (diff > dmax)
            dmax = diff;
    }
    if ((nr > nc ? nr : nc) <= 10000) {
        /* exact: D is a multiple of 1/lcm; h = round-half-even(D * lcm) */
        long g = gcd_l((long)nr, (long)nc), lcm = ((long)nr / g) * (long)nc;
        long h = (long)nearbyint(dmax * (double)lcm);
        int oom = 0;
        dmax = (double)h / (double)lcm;
        if (h == 0)
            p = 1.0;
        else if (nr == nc)
            p = ks_outside_square((long)nr, h);
        else
            p = ks_outer_inside((long)nr, (long)nc, g, h, &oom);
        if (oom) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "cannot compute a K-S p-value: out of memory");
            goto out;
        }
    }
    if (!(p >= 0 && p <= 1)) {
        /* asymptotic, or the exact sum left [0, 1] (scipy falls back too) */
        double big = (double)(nr > nc ? nr : nc), small = (double)(nr > nc ? nc : nr);
        p = skiff_mon_kstwo_sf(dmax, nearbyint(big * small / (big + small)));
    }
    *stat = dmax;
    *pvalue = clip01(p);
out:
    free(own_r), free(own_c);
    return rc;
}

/* ---- chi-square (spec 4.6) ----
 * f_exp[k] = count_r[k] * nc/nr, f_obs[k] = count_c[k],
 * stat = sum (f_obs - f_exp)^2 / f_exp, p = chi2.sf(stat, #keys - 1).
 * Example 5.C: r = {x:40,y:35,z:25}, c = {x:30,y:30,z:40}:
 * stat = 2.5 + 0.714 + 9 = 12.214285714285715, p = exp(-stat/2) = 0.0022269.
 * A key only in current has f_exp = 0: stat = inf, p = 0. */
double skiff_mon_chi2_sf(double x, double df)
{
    /* Q(a, x/2) with a = df/2, the regularised upper incomplete gamma:
     * series for P when x < a + 1, else Lentz's continued fraction. */
    double a = df / 2, y = x / 2, lpre;
    if (!(df > 0) || isnan(x))
        return NAN;
    if (y <= 0)
        return 1.0;
    if (isinf(y))
        return 0.0;
    lpre = -y + a * log(y) - lgamma(a);
    if (y < a + 1) {
        double ap = a, term = 1.0 / a, sum = term;
        for (int n = 0; n < 100000; n++) {
            ap += 1;
            term *= y / ap;
            sum += term;
            if (fabs(term) < fabs(sum) * 1e-17)
                break;
        }
        return clip01(1.0 - sum * exp(lpre));
    } else {
        double b = y + 1 - a, cc = 1.0 / DBL_MIN, dd = 1.0 / b, hh = dd;
        for (int i = 1; i < 100000; i++) {
            double an = -(double)i * ((double)i - a), del;
            b += 2;
            dd = an * dd + b;
            if (fabs(dd) < DBL_MIN)
                dd = DBL_MIN;
            cc = b + an / cc;
            if (fabs(cc) < DBL_MIN)
                cc = DBL_MIN;
            dd = 1.0 / dd;
            del = dd * cc;
            hh *= del;
            if (fabs(del - 1.0) < 1e-16)
                break;
        }
        return clip01(exp(lpre) * hh);
    }
}

static int chisquare(const double *r, size_t nr, const double *c, size_t nc, bool sorted,
                     double *pvalue, struct skiff_err *err)
{
    const double *rs = r, *cs = c;
    double *own_r = NULL, *own_c = NULL, *keys = NULL, stat = 0, kn;
    size_t *cr = NULL, *cc = NULL, k = 0;
    int rc;

    if ((rc = check_sizes(nr, nc, err)) ||
        (rc = ensure_sorted(&rs, nr, &cs, nc, sorted, &own_r, &own_c, err)) ||
        (rc = union_counts(rs, nr, cs, nc, &keys, &cr, &cc, &k, err)))
        goto out;
    kn = (double)nc / (double)nr;
    for (size_t i = 0; i < k; i++) {
        double fe = (double)cr[i] * kn, fo = (double)cc[i];
        stat += fe == 0 ? INFINITY : (fo - fe) * (fo - fe) / fe;
    }
    *pvalue = k < 2 ? 1.0 : skiff_mon_chi2_sf(stat, (double)(k - 1));
out:
    free(own_r), free(own_c), free(keys), free(cr), free(cc);
    return rc;
}

/* ---- Z-test for two proportions (spec 4.7) ----
 * I(x) = 0 for the smallest value of r and c together, 1 otherwise;
 * p1, p2 the shares of 1 in r and c, P = (p1 nr + p2 nc) / (nr + nc),
 * z = (p1 - p2) / sqrt(P (1-P) (1/nr + 1/nc)), p = 2 (1 - Phi(|z|)).
 * Example 5.B: p1 = .30, p2 = .45, P = .375, z = -2.19089, p = 0.0284597. */
int skiff_mon_ztest(const double *r, size_t nr, const double *c, size_t nc, double *pvalue,
                    struct skiff_err *err)
{
    double k0, lo_r = INFINITY, hi_r = -INFINITY, lo_c = INFINITY, hi_c = -INFINITY;
    double s1 = 0, s2 = 0, p1, p2, P, z;
    int rc;

    if ((rc = check_sizes(nr, nc, err)))
        return rc;
    for (size_t i = 0; i < nr; i++)
        lo_r = fmin(lo_r, r[i]), hi_r = fmax(hi_r, r[i]);
    for (size_t i = 0; i < nc; i++)
        lo_c = fmin(lo_c, c[i]), hi_c = fmax(hi_c, c[i]);
    if (lo_r == hi_r && lo_c == hi_c && lo_r == lo_c) {
        *pvalue = 1.0;   /* one and the same value on both sides */
        return 0;
    }
    k0 = fmin(lo_r, lo_c);
    for (size_t i = 0; i < nr; i++)
        s1 += r[i] != k0;
    for (size_t i = 0; i < nc; i++)
        s2 += c[i] != k0;
    p1 = s1 / (double)nr, p2 = s2 / (double)nc;
    P = (p1 * (double)nr + p2 * (double)nc) / (double)(nr + nc);
    z = (p1 - p2) / sqrt(P * (1 - P) * (1.0 / (double)nr + 1.0 / (double)nc));
    /* Phi(|z|) = erfc(-|z|/sqrt 2) / 2, as scipy's ndtr */
    *pvalue = 2 * (1 - 0.5 * erfc(-fabs(z) / M_SQRT2));
    return 0;
}

/* ---- public entry points: sort, then test ---- */

int skiff_mon_psi(enum skiff_mon_kind kind, const double *r, size_t nr, const double *c,
                  size_t nc, double *score, struct skiff_err *err)
{
    return psi(kind, r, nr, c, nc, false, score, err);
}

int skiff_mon_jensenshannon(enum skiff_mon_kind kind, const double *r, size_t nr,
                            const double *c, size_t nc, double *score, struct skiff_err *err)
{
    return jensenshannon(kind, r, nr, c, nc, false, score, err);
}

int skiff_mon_wasserstein(const double *r, size_t nr, const double *c, size_t nc,
                          double *score, struct skiff_err *err)
{
    return wasserstein(r, nr, c, nc, false, score, err);
}

int skiff_mon_ks(const double *r, size_t nr, const double *c, size_t nc, double *stat,
                 double *pvalue, struct skiff_err *err)
{
    return ks(r, nr, c, nc, false, stat, pvalue, err);
}

int skiff_mon_chisquare(const double *r, size_t nr, const double *c, size_t nc,
                        double *pvalue, struct skiff_err *err)
{
    return chisquare(r, nr, c, nc, false, pvalue, err);
}

int monitor__test_sorted(enum skiff_mon_test t, enum skiff_mon_kind kind, const double *rs,
                         size_t nr, const double *cs, size_t nc, double *score,
                         struct skiff_err *err)
{
    double stat;
    switch (t) {
    case SKIFF_MON_TEST_KS:
        return ks(rs, nr, cs, nc, true, &stat, score, err);
    case SKIFF_MON_TEST_CHISQUARE:
        return chisquare(rs, nr, cs, nc, true, score, err);
    case SKIFF_MON_TEST_Z:
        return skiff_mon_ztest(rs, nr, cs, nc, score, err);
    case SKIFF_MON_TEST_WASSERSTEIN:
        return wasserstein(rs, nr, cs, nc, true, score, err);
    case SKIFF_MON_TEST_JENSENSHANNON:
        return jensenshannon(kind, rs, nr, cs, nc, true, score, err);
    case SKIFF_MON_TEST_PSI:
        return psi(kind, rs, nr, cs, nc, true, score, err);
    default:
        return skiff_err_set(err, SKIFF_EINVAL, "no statistical test chosen");
    }
}
