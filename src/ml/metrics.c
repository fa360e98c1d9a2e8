/* Binary classification metrics, as scikit-learn computes them (ml.h).
 *
 * ROC AUC and average precision both walk the scores from high to low and
 * look at the counts at each distinct threshold (sklearn's
 * _binary_clf_curve): at threshold t, tps(t) = positives with score >= t and
 * fps(t) = negatives with score >= t. Worked example, scores (y):
 *   0.9 (1), 0.8 (0), 0.8 (1), 0.3 (0)
 *   thresholds 0.9, 0.8, 0.3 -> tps 1, 2, 2; fps 0, 1, 2
 *   ROC points (fpr, tpr): (0,0) (0,.5) (.5,1) (1,1)
 *     AUC = 0*.25 + .5*(.5+1)/2 + .5*(1+1)/2 = 0.875
 *   PR points (recall, precision): (.5, 1) (1, 2/3) (1, .5)
 *     AP = .5*1 + .5*(2/3) + 0*.5 = 0.8333...
 * Ties are one threshold, so tied scores count one half in the AUC, as in
 * the Mann-Whitney statistic.
 */
#include "ml_int.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "skiff/err.h"

struct scored {
    double p;
    int y;
};

static int by_score_desc(const void *a, const void *b)
{
    double x = ((const struct scored *)a)->p, z = ((const struct scored *)b)->p;
    return x > z ? -1 : x < z ? 1 : 0;
}

/* The sorted pairs and the class totals. Caller frees *out. */
static int sorted(const double *y, const double *p, size_t n, struct scored **out,
                  double *npos, double *nneg, struct skiff_err *err)
{
    struct scored *s = NULL;
    *npos = *nneg = 0;
    if (n == 0)
        return skiff_err_set(err, SKIFF_EINVAL, "no rows to score");
    s = malloc(n * sizeof *s);
    if (!s)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory sorting %zu scores", n);
    for (size_t i = 0; i < n; i++) {
        if (isnan(p[i])) {
            free(s);
            return skiff_err_set(err, SKIFF_EINVAL, "score of row %zu is NaN", i + 1);
        }
        s[i].p = p[i];
        s[i].y = y[i] > 0.5;
        if (s[i].y)
            (*npos)++;
        else
            (*nneg)++;
    }
    qsort(s, n, sizeof *s, by_score_desc);
    *out = s;
    return 0;
}

int skiff_ml_roc_auc(const double *y, const double *p, size_t n, double *out,
                     struct skiff_err *err)
{
    struct scored *s = NULL;
    double npos, nneg, tps = 0, fps = 0, prev_tpr = 0, prev_fpr = 0, area = 0;
    int rc = sorted(y, p, n, &s, &npos, &nneg, err);
    if (rc)
        return rc;
    if (npos == 0 || nneg == 0) {
        free(s);
        return skiff_err_set(err, SKIFF_EINVAL,
                             "ROC AUC is undefined: the labels hold only %s",
                             npos ? "positives" : "negatives");
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i].y)
            tps++;
        else
            fps++;
        if (i + 1 == n || s[i + 1].p != s[i].p) {   /* end of a threshold */
            double tpr = tps / npos, fpr = fps / nneg;
            area += (fpr - prev_fpr) * (tpr + prev_tpr) / 2;
            prev_tpr = tpr;
            prev_fpr = fpr;
        }
    }
    free(s);
    *out = area;
    return 0;
}

int skiff_ml_average_precision(const double *y, const double *p, size_t n, double *out,
                               struct skiff_err *err)
{
    struct scored *s = NULL;
    double npos, nneg, tps = 0, fps = 0, prev_recall = 0, ap = 0;
    int rc = sorted(y, p, n, &s, &npos, &nneg, err);
    if (rc)
        return rc;
    if (npos == 0) {
        free(s);
        return skiff_err_set(err, SKIFF_EINVAL,
                             "average precision is undefined: the labels hold no positives");
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i].y)
            tps++;
        else
            fps++;
        if (i + 1 == n || s[i + 1].p != s[i].p) {
            double recall = tps / npos, precision = tps / (tps + fps);
            ap += (recall - prev_recall) * precision;
            prev_recall = recall;
        }
    }
    free(s);
    *out = ap;
    return 0;
}

int skiff_ml_log_loss(const double *y, const double *p, size_t n, double *out,
                      struct skiff_err *err)
{
    /* sklearn 1.2: eps = finfo(float64).eps, and the clipped [1-p, p] row is
     * divided by its sum; that sum is 1 to within an ulp, and dividing by
     * it is kept so the last digits agree */
    const double eps = DBL_EPSILON;
    double sum = 0;
    if (n == 0)
        return skiff_err_set(err, SKIFF_EINVAL, "no rows to score");
    for (size_t i = 0; i < n; i++) {
        double q = p[i] < eps ? eps : p[i] > 1 - eps ? 1 - eps : p[i];
        double pos = q, neg = 1 - q, tot = pos + neg;
        if (isnan(q))
            return skiff_err_set(err, SKIFF_EINVAL, "score of row %zu is NaN", i + 1);
        sum += y[i] > 0.5 ? log(pos / tot) : log(neg / tot);
    }
    *out = -sum / (double)n;
    return 0;
}

void skiff_ml_confusion(const double *y, const double *p, size_t n, double threshold,
                        struct skiff_ml_confusion *c)
{
    double tp, fp, tn, fn;
    *c = (struct skiff_ml_confusion){0};
    for (size_t i = 0; i < n; i++) {
        int pred = p[i] >= threshold, truth = y[i] > 0.5;
        if (pred && truth)
            c->tp++;
        else if (pred)
            c->fp++;
        else if (truth)
            c->fn++;
        else
            c->tn++;
    }
    tp = (double)c->tp, fp = (double)c->fp, tn = (double)c->tn, fn = (double)c->fn;
    c->precision = tp + fp > 0 ? tp / (tp + fp) : 0;
    c->recall = tp + fn > 0 ? tp / (tp + fn) : 0;
    c->f1 = c->precision + c->recall > 0
                ? 2 * c->precision * c->recall / (c->precision + c->recall)
                : 0;
    c->accuracy = n ? (tp + tn) / (double)n : 0;
}
