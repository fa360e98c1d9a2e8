/* skiff evaluate: score a run's model on labelled data, log the metrics to
 * the run and write one file per metric for a workflow's outputs. */
#include "cli.h"
#include "mlflow.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skiff/buf.h"
#include "skiff/ml.h"
#include "skiff/time.h"

const char cmd_evaluate_usage[] =
    "Usage: skiff evaluate --run ID --data FILE [--label COL] [--out-dir DIR]\n"
    "                      [--threshold T] [--predictions-out FILE]\n"
    "       skiff evaluate --model FILE --data FILE --label COL [--out-dir DIR] ...\n\n"
    "Download the run's model (runs:/ID/model/model.json), score the data with it\n"
    "and compute ROC AUC, PR AUC (average precision), log loss, and precision,\n"
    "recall, F1, accuracy and the confusion matrix at the threshold (a row is\n"
    "predicted positive when its score >= T). The values are scikit-learn's.\n"
    "They are logged to the run (keys auc, pr_auc, log_loss, precision, recall, f1,\n"
    "accuracy, tp, fp, tn, fn) and each is written to DIR/<key> as %.6f with no\n"
    "newline, for Argo's outputs.parameters valueFrom.path.\n\n"
    "The data's columns must include the model's features (by name, any order).\n"
    "With --model the model is a local XGBoost file and nothing is logged unless\n"
    "--run is given too.\n\n"
    "Options:\n"
    "  --run ID               the training run\n"
    "  --model FILE           a local XGBoost model (JSON or UBJSON) instead of the run's\n"
    "  --data FILE            labelled data, CSV with a header\n"
    "  --label COL            the label column (default: the run's 'label' parameter)\n"
    "  --out-dir DIR          where the metric files go (default .)\n"
    "  --threshold T          decision threshold (default 0.5)\n"
    "  --predictions-out FILE write each row's score there, one per line\n\n"
    "Exit codes: 0 done, 1 the platform or the model failed, 2 bad usage or data.\n\n"
    "Examples:\n"
    "  skiff evaluate --run $(cat /tmp/run_id) --data test.csv --label is_fraud\n"
    "  skiff evaluate --run 3f2a9c0e4b1d4e6f8a7b6c5d4e3f2a1b --data test.csv \\\n"
    "      --out-dir /tmp/metrics --threshold 0.3\n"
    "  skiff evaluate --model model.json --data test.csv --label is_fraud\n";

struct metric {
    const char *key;
    double value;
    bool file;   /* written to DIR/key */
};

static int write_metric_file(const char *dir, const char *key, double v, struct skiff_err *err)
{
    char path[4200];
    FILE *f;
    int rc = 0;
    snprintf(path, sizeof path, "%s/%s", dir, key);
    if (!(f = fopen(path, "w")))
        return skiff_err_sys(err, SKIFF_EIO, "cannot create '%s'", path);
    if (fprintf(f, "%.6f", v) < 0)
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", path);
    if (fclose(f) != 0 && !rc)
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", path);
    return rc;
}

static int write_predictions(const char *path, const double *p, size_t n, struct skiff_err *err)
{
    FILE *f = fopen(path, "w");
    int rc = 0;
    if (!f)
        return skiff_err_sys(err, SKIFF_EIO, "cannot create '%s'", path);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%.17g\n", p[i]);
    if (ferror(f))
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", path);
    if (fclose(f) != 0 && !rc)
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", path);
    return rc;
}

/* The run's parameter `key`, or NULL. Borrowed from run. */
static const char *run_param(const json_t *run, const char *key)
{
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(json_object_get(run, "data"), "params"), i, p) {
        const char *k = json_string_value(json_object_get(p, "key"));
        if (k && strcmp(k, key) == 0)
            return json_string_value(json_object_get(p, "value"));
    }
    return NULL;
}

int cmd_evaluate(int argc, char **argv)
{
    const char *run = NULL, *data = NULL, *label = NULL, *dir = ".", *preds_out = NULL;
    const char *local = NULL;
    double threshold = 0.5;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct mlf c = {0};
    struct skiff_buf model = SKIFF_BUF_INIT, path = SKIFF_BUF_INIT;
    struct skiff_ml_model *m = NULL;
    struct skiff_ml_data *d = NULL;
    struct skiff_ml_data_opts dopts = {0};
    struct skiff_ml_confusion cm;
    json_t *reply = NULL, *req = NULL, *metrics = NULL;
    char *uri = NULL, tmp[] = "/tmp/skiff-eval-XXXXXX", model_path[64] = "";
    double *p = NULL, auc, ap, ll;
    int rc = CLI_OK;

    for (int i = 1; i < argc; i++) {
        const char **slot = strcmp(argv[i], "--run") == 0               ? &run
                            : strcmp(argv[i], "--data") == 0            ? &data
                            : strcmp(argv[i], "--label") == 0           ? &label
                            : strcmp(argv[i], "--out-dir") == 0         ? &dir
                            : strcmp(argv[i], "--predictions-out") == 0 ? &preds_out
                            : strcmp(argv[i], "--model") == 0           ? &local
                                                                        : NULL;
        if (!slot && strcmp(argv[i], "--threshold") != 0)
            return cli_usage_error("evaluate", "unexpected argument '%s'", argv[i]);
        if (i + 1 >= argc)
            return cli_usage_error("evaluate", "%s needs a value", argv[i]);
        if (slot) {
            *slot = argv[++i];
        } else {
            char *end;
            errno = 0;
            threshold = strtod(argv[++i], &end);
            if (*end || errno || end == argv[i] || !(threshold >= 0 && threshold <= 1))
                return cli_usage_error("evaluate", "--threshold: '%s' is not a number in 0 .. 1",
                                       argv[i]);
        }
    }
    if ((!run && !local) || !data)
        return cli_usage_error("evaluate", "--data and --run or --model are required");
    if (!run && !label)
        return cli_usage_error("evaluate", "--model without --run needs --label");
    for (const char *q = run; q && *q; q++)
        if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f')) || q - run >= 32)
            return cli_usage_error("evaluate", "'%s' is not a run id (32 hex digits)", run);

    if (run && mlf_open(&c, &err))
        goto fail;
    if (local) {
        if (skiff_ml_model_load(local, &m, &err))
            goto fail;
        goto loaded;
    }
    skiff_buf_appendf(&path, "runs/get?run_id=%s", run);
    if (mlf_call(&c, "GET", path.ptr, NULL, &reply, &err))
        goto fail;
    if (mlf_run_info(&c, run, &uri, &err) ||
        mlf_get_artifact(&c, uri, "model/model.json", &model, &err))
        goto fail;
    if (!mkdtemp(tmp)) {
        skiff_err_sys(&err, SKIFF_EIO, "cannot create a temporary folder");
        goto fail;
    }
    snprintf(model_path, sizeof model_path, "%s/model.json", tmp);
    {
        FILE *f = fopen(model_path, "w");
        bool ok = f && fwrite(model.ptr, 1, model.len, f) == model.len;
        if (f && fclose(f) != 0)
            ok = false;
        if (!ok) {
            skiff_err_sys(&err, SKIFF_EIO, "cannot write '%s'", model_path);
            goto fail;
        }
    }
    if (skiff_ml_model_load(model_path, &m, &err))
        goto fail;
loaded:
    if (!label && !(label = run_param(json_object_get(reply, "run"), "label"))) {
        rc = cli_usage_error("evaluate", "which column is the label? the run has no 'label' "
                                         "parameter: give --label");
        goto out;
    }
    dopts.label = label;
    dopts.features = skiff_ml_model_features(m, &dopts.nfeatures);
    dopts.progress = isatty(STDERR_FILENO);
    if (!dopts.features) {
        skiff_err_set(&err, SKIFF_EINVAL, "the model has no feature names");
        goto fail;
    }
    if (skiff_ml_data_load(data, &dopts, &d, &err))
        goto fail;
    if (!(p = malloc(d->nrows * sizeof *p))) {
        skiff_err_set(&err, SKIFF_ENOMEM, "out of memory");
        goto fail;
    }
    if (skiff_ml_predict(m, d, p, &err) || skiff_ml_roc_auc(d->y, p, d->nrows, &auc, &err) ||
        skiff_ml_average_precision(d->y, p, d->nrows, &ap, &err) ||
        skiff_ml_log_loss(d->y, p, d->nrows, &ll, &err))
        goto fail;
    skiff_ml_confusion(d->y, p, d->nrows, threshold, &cm);
    {
        const struct metric ms[] = {
            {"auc", auc, true},          {"pr_auc", ap, true},
            {"log_loss", ll, true},      {"precision", cm.precision, true},
            {"recall", cm.recall, true}, {"f1", cm.f1, true},
            {"accuracy", cm.accuracy, true}, {"tp", (double)cm.tp, true},
            {"fp", (double)cm.fp, true}, {"tn", (double)cm.tn, true},
            {"fn", (double)cm.fn, true},
        };
        json_int_t now = (json_int_t)(skiff_time_now_us() / 1000);
        metrics = json_array();
        for (size_t i = 0; i < sizeof ms / sizeof *ms; i++) {
            json_array_append_new(metrics, json_pack("{s:s, s:f, s:I, s:i}", "key", ms[i].key,
                                                     "value", ms[i].value, "timestamp", now,
                                                     "step", 0));
            if (ms[i].file && write_metric_file(dir, ms[i].key, ms[i].value, &err))
                goto fail;
        }
        req = run ? json_pack("{s:s, s:O}", "run_id", run, "metrics", metrics) : NULL;
        if (run && mlf_call(&c, "POST", "runs/log-batch", req, NULL, &err))
            goto fail;
        if (preds_out && write_predictions(preds_out, p, d->nrows, &err))
            goto fail;
        printf("%s %s on %zu rows: auc=%.6f pr_auc=%.6f log_loss=%.6f precision=%.6f "
               "recall=%.6f f1=%.6f accuracy=%.6f (threshold %g: tp=%llu fp=%llu tn=%llu "
               "fn=%llu)\n",
               run ? "run" : "model", run ? run : local, d->nrows, auc, ap, ll, cm.precision, cm.recall, cm.f1, cm.accuracy, threshold,
               (unsigned long long)cm.tp, (unsigned long long)cm.fp, (unsigned long long)cm.tn,
               (unsigned long long)cm.fn);
    }
    goto out;
fail:
    rc = cli_fail(&err);
out:
    if (model_path[0])
        unlink(model_path);
    if (strcmp(tmp + strlen(tmp) - 6, "XXXXXX") != 0)
        rmdir(tmp);
    free(p);
    free(uri);
    json_decref(reply);
    json_decref(req);
    json_decref(metrics);
    skiff_buf_release(&model);
    skiff_buf_release(&path);
    skiff_ml_model_free(m);
    skiff_ml_data_free(d);
    mlf_close(&c);
    return rc;
}
