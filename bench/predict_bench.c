/* predict_bench: the model runtimes (include/skiff/serving.h) from the
 * command line, for the e2e test and the benchmark; not part of skiff.
 *
 *   predict_bench info MODEL
 *       {"nfeatures": N, "noutputs": K, "feature_names": [...]}
 *   predict_bench predict MODEL native|xgboost [CSV]
 *       one line per CSV row (stdin when no CSV): the K predictions, %.9g,
 *       comma-separated. A CSV row is N numbers; empty or "nan" is missing.
 *   predict_bench time MODEL native|xgboost NROWS ITERS
 *       times ITERS predict calls of NROWS random rows (seeded, 10% missing)
 *       and prints {"runtime", "rows", "iters", "p50_us", "p99_us", "mean_us"}.
 *
 * Exit status: 0, 2 on bad input (message on stderr), 1 on other errors.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "skiff/err.h"
#include "skiff/serving.h"

static int usage(void)
{
    fprintf(stderr, "usage: predict_bench info MODEL\n"
                    "       predict_bench predict MODEL native|xgboost [CSV]\n"
                    "       predict_bench time MODEL native|xgboost NROWS ITERS\n");
    return 2;
}

static int fail(const struct skiff_err *e)
{
    char buf[2048];
    fprintf(stderr, "predict_bench: %s\n", skiff_err_format(e, buf, sizeof buf));
    return e->code == SKIFF_EINVAL || e->code == SKIFF_ENOTFOUND || e->code == SKIFF_EPARSE ? 2
                                                                                            : 1;
}

static int runtime_of(const char *s, enum skiff_model_runtime *rt)
{
    if (strcmp(s, "native") == 0)
        *rt = SKIFF_MODEL_NATIVE;
    else if (strcmp(s, "xgboost") == 0)
        *rt = SKIFF_MODEL_XGBOOST;
    else
        return -1;
    return 0;
}

/* Reads CSV rows of nf values into a growing array. */
static int read_csv(FILE *fp, const char *name, size_t nf, float **rows, size_t *nrows)
{
    char *line = NULL;
    size_t cap = 0, have = 0, lineno = 0;
    ssize_t len;
    *rows = NULL;
    *nrows = 0;
    while ((len = getline(&line, &cap, fp)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (*nrows == have) {
            have = have ? have * 2 : 256;
            float *p = realloc(*rows, have * nf * sizeof *p);
            if (!p) {
                free(line);
                return 1;
            }
            *rows = p;
        }
        float *r = *rows + *nrows * nf;
        char *s = line;
        for (size_t i = 0; i < nf; i++) {
            char *end = s + strcspn(s, ",");
            char saved = *end;
            *end = '\0';
            if (*s == '\0' || strcmp(s, "nan") == 0 || strcmp(s, "NaN") == 0) {
                r[i] = NAN;
            } else {
                char *e;
                r[i] = strtof(s, &e);
                if (*e != '\0') {
                    fprintf(stderr, "%s:%zu:%zu: not a number: '%s'\n", name, lineno,
                            (size_t)(s - line) + 1, s);
                    free(line);
                    return 2;
                }
            }
            if ((saved == '\0') != (i + 1 == nf)) {
                fprintf(stderr, "%s:%zu: expected %zu values\n", name, lineno, nf);
                free(line);
                return 2;
            }
            s = end + 1;
        }
        (*nrows)++;
    }
    free(line);
    return 0;
}

static int cmd_predict(struct skiff_model *m, const char *csv)
{
    FILE *fp = csv ? fopen(csv, "r") : stdin;
    size_t nf = skiff_model_nfeatures(m), k = skiff_model_noutputs(m), n;
    struct skiff_err err = SKIFF_ERR_INIT;
    float *rows;
    double *out;
    int rc;

    if (!fp) {
        perror(csv);
        return 2;
    }
    rc = read_csv(fp, csv ? csv : "<stdin>", nf, &rows, &n);
    if (csv)
        fclose(fp);
    if (rc)
        return rc;
    if (!(out = malloc((n ? n : 1) * k * sizeof *out))) {
        free(rows);
        return 1;
    }
    if (skiff_model_predict(m, rows, n, out, &err)) {
        rc = fail(&err);
    } else {
        for (size_t r = 0; r < n; r++)
            for (size_t j = 0; j < k; j++)
                printf("%.9g%c", out[r * k + j], j + 1 == k ? '\n' : ',');
    }
    free(rows);
    free(out);
    return rc;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Times predict over a pool of distinct random rows, a different slice
 * each call: one row repeated would let the branch predictor learn its
 * path and flatter every runtime. */
static int cmd_time(struct skiff_model *m, const char *runtime, size_t nrows, size_t iters)
{
    size_t nf = skiff_model_nfeatures(m), k = skiff_model_noutputs(m);
    size_t pool = nrows * 4 > 4096 ? nrows * 4 : 4096, span = pool - nrows + 1;
    struct skiff_err err = SKIFF_ERR_INIT;
    float *x = malloc(pool * nf * sizeof *x);
    double *out = malloc(nrows * k * sizeof *out), *t = malloc(iters * sizeof *t), sum = 0;
    uint64_t s = 42;
    int rc = 0;

    if (!x || !out || !t) {
        rc = 1;
        goto out;
    }
    for (size_t i = 0; i < pool * nf; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull; /* PCG's LCG step */
        double u = (double)(s >> 11) / 9007199254740992.0;
        x[i] = u < 0.1 ? NAN : (float)(u * 4 - 2);
    }
    for (size_t i = 0; i < 10 + iters / 10; i++) /* warm caches */
        if (skiff_model_predict(m, x + (i * nrows % span) * nf, nrows, out, &err)) {
            rc = fail(&err);
            goto out;
        }
    for (size_t i = 0; i < iters; i++) {
        const float *rows = x + (i * nrows % span) * nf;
        double t0 = now_us();
        skiff_model_predict(m, rows, nrows, out, &err);
        t[i] = now_us() - t0;
        sum += t[i];
    }
    qsort(t, iters, sizeof *t, cmp_double);
    printf("{\"runtime\": \"%s\", \"rows\": %zu, \"iters\": %zu, \"p50_us\": %.3f, "
           "\"p99_us\": %.3f, \"mean_us\": %.3f}\n",
           runtime, nrows, iters, t[iters / 2], t[(size_t)(iters * 0.99)], sum / iters);
out:
    free(x);
    free(out);
    free(t);
    return rc;
}

int main(int argc, char **argv)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    enum skiff_model_runtime rt = SKIFF_MODEL_NATIVE;
    struct skiff_model *m;
    int rc;

    if (argc < 3)
        return usage();
    if (strcmp(argv[1], "info") != 0 && (argc < 4 || runtime_of(argv[3], &rt)))
        return usage();
    if (skiff_model_load(argv[2], rt, &m, &err))
        return fail(&err);
    if (strcmp(argv[1], "info") == 0) {
        printf("{\"nfeatures\": %zu, \"noutputs\": %zu, \"feature_names\": [",
               skiff_model_nfeatures(m), skiff_model_noutputs(m));
        for (size_t i = 0; i < skiff_model_nfeatures(m); i++) {
            const char *n = skiff_model_feature_name(m, i);
            printf("%s%s%s%s", i ? ", " : "", n ? "\"" : "", n ? n : "null", n ? "\"" : "");
        }
        printf("]}\n");
        rc = 0;
    } else if (strcmp(argv[1], "predict") == 0 && argc <= 5) {
        rc = cmd_predict(m, argc == 5 ? argv[4] : NULL);
    } else if (strcmp(argv[1], "time") == 0 && argc == 6) {
        long n = atol(argv[4]), it = atol(argv[5]);
        rc = n > 0 && it > 0 ? cmd_time(m, argv[3], (size_t)n, (size_t)it) : usage();
    } else {
        rc = usage();
    }
    skiff_model_free(m);
    return rc;
}
