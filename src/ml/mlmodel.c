/* The MLmodel file that lets mlflow load a skiff-trained model (ml.h).
 *
 * MLflow reads MLmodel as YAML: the flavors say how to load the artifact
 * folder. mlflow.pyfunc.load_model uses python_function's loader_module
 * (mlflow.xgboost), which reads flavors.xgboost: data (the file),
 * model_class (which xgboost class to build) and model_format. The
 * signature's inputs and outputs are JSON text inside YAML strings, as
 * mlflow writes them.
 */
#include "ml_int.h"

#include <stdio.h>
#include <time.h>

#include "skiff/buf.h"
#include "skiff/err.h"

int skiff_ml_mlmodel_text(const char *run_id, const struct skiff_ml_data *d,
                          struct skiff_buf *out, struct skiff_err *err)
{
    struct skiff_buf in = SKIFF_BUF_INIT;
    struct timespec ts;
    struct tm tm;
    char when[64];
    int rc = 0;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(when, sizeof when, "%04d-%02d-%02d %02d:%02d:%02d.%06ld", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
    /* the signature's column list: JSON in a single-quoted YAML scalar, so
     * a quote in a name is doubled for YAML after JSON escaping */
    skiff_buf_putc(&in, '[');
    for (size_t i = 0; i < d->nfeat; i++) {
        struct skiff_buf name = SKIFF_BUF_INIT;
        skiff_buf_json_str(&name, d->names[i]);
        skiff_buf_appendf(&in, "%s{\"type\": \"%s\", \"name\": ", i ? ", " : "",
                          d->types[i][0] == 'i' ? "long" : "double");
        for (const char *p = name.ptr; *p; p++)
            skiff_buf_puts(&in, *p == '\'' ? "''" : (char[2]){*p, 0});
        skiff_buf_puts(&in, ", \"required\": true}");
        skiff_buf_release(&name);
    }
    skiff_buf_putc(&in, ']');
    if (skiff_buf_appendf(out,
                          "artifact_path: model\n"
                          "flavors:\n"
                          "  python_function:\n"
                          "    data: model.json\n"
                          "    env:\n"
                          "      conda: conda.yaml\n"
                          "      virtualenv: python_env.yaml\n"
                          "    loader_module: mlflow.xgboost\n"
                          "    python_version: 3.11.2\n"
                          "  xgboost:\n"
                          "    code: null\n"
                          "    data: model.json\n"
                          "    model_class: xgboost.core.Booster\n"
                          "    model_format: json\n"
                          "    xgb_version: 1.7.4\n"
                          "mlflow_version: 2.10.0\n"
                          "model_uuid: %s\n"
                          "run_id: %s\n"
                          "signature:\n"
                          "  inputs: '%s'\n"
                          "  outputs: '[{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": "
                          "\"float32\", \"shape\": [-1]}}]'\n"
                          "  params: null\n"
                          "utc_time_created: '%s'\n",
                          run_id, run_id, in.ptr, when) != 0)
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    skiff_buf_release(&in);
    return rc;
}
