/* skiff train: XGBoost on a CSV file, logged to tracking as an MLflow run
 * (include/skiff/ml.h for the training, mlflow.h for the logging).
 *
 * Run life: create (or adopt MLFLOW_RUN_ID) -> log params -> train, logging
 * each round's metrics -> upload the model folder and the reference sample
 * -> FINISHED. Any failure after the run exists ends it FAILED, so a run
 * is never left RUNNING by a crash of the input.
 */
#include "cli.h"
#include "mlflow.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skiff/buf.h"
#include "skiff/ml.h"
#include "skiff/time.h"
#include "skiff/yaml.h"

const char cmd_train_usage[] =
    "Usage: skiff train --data FILE --label COL [--params FILE] [KEY=VALUE ...]\n"
    "                   [--drop COL,...] [--rounds N] [--valid-fraction F]\n"
    "                   [--experiment NAME] [--run-name NAME] [--run-id-out PATH]\n"
    "                   [--model-out PATH] [--no-tracking]\n\n"
    "Train an XGBoost model (libxgboost's C API) on a CSV file and log it to the\n"
    "tracking server as an MLflow run: parameters, per-round metrics (step = round,\n"
    "e.g. valid-auc), the model as model/model.json with an MLmodel file (mlflow and\n"
    "python xgboost load it), and reference/sample.csv, up to 10,000 training rows\n"
    "kept for drift monitoring. The run ends FINISHED, or FAILED on an error.\n\n"
    "Features are the numeric columns other than the label, the --drop columns and\n"
    "timestamp columns (*timestamp*, *_at, date, datetime), in file order; text\n"
    "columns are left out. Empty cells are missing values.\n\n"
    "Parameters are XGBoost's (objective, default binary:logistic; eval_metric,\n"
    "default auc and logloss; max_depth, eta, subsample, nthread, seed, ...), from\n"
    "a YAML or JSON map (--params) and KEY=VALUE arguments (these win).\n"
    "num_boost_round (or n_estimators) is the number of rounds, default 100.\n\n"
    "Tracking: MLFLOW_TRACKING_URI (else the platform: SKIFF_URL / SKIFF_HOME),\n"
    "MLFLOW_TRACKING_TOKEN (else the platform's token), experiment from\n"
    "--experiment or MLFLOW_EXPERIMENT_NAME (default \"Default\"), MLFLOW_RUN_ID to\n"
    "log into an existing run.\n\n"
    "Options:\n"
    "  --data FILE          training data, CSV with a header\n"
    "  --label COL          the label column (0/1)\n"
    "  --params FILE        XGBoost parameters, a YAML or JSON map\n"
    "  --drop A,B           columns that are not features\n"
    "  --rounds N           boosting rounds (same as num_boost_round=N)\n"
    "  --valid-fraction F   hold out the last F of the rows for per-round metrics\n"
    "  --experiment NAME    the experiment (created when missing)\n"
    "  --run-name NAME      the run's name\n"
    "  --run-id-out PATH    write the run id there (for a workflow's outputs)\n"
    "  --model-out PATH     also write the model (XGBoost JSON) there\n"
    "  --no-tracking        train and write --model-out only; no run is logged\n\n"
    "Examples:\n"
    "  skiff train --data train.csv --label is_fraud --run-id-out /tmp/run_id\n"
    "  skiff train --data train.csv --label is_fraud max_depth=6 eta=0.1 \\\n"
    "      num_boost_round=200 --valid-fraction 0.2 --experiment fraud\n"
    "  skiff train --data train.csv --label y --params params.yaml --no-tracking \\\n"
    "      --model-out model.json\n";

#define MAX_PARAMS 128
#define BATCH_METRICS 900   /* MLflow takes at most 1000 metrics per log-batch */

struct train_args {
    const char *data, *label, *params_file, *experiment, *run_name, *run_id_out, *model_out;
    const char *drop_text;
    struct skiff_ml_param params[MAX_PARAMS];   /* the file's, then the arguments' */
    size_t nparams;
    struct skiff_ml_param kv[MAX_PARAMS];       /* KEY=VALUE arguments */
    size_t nkv;
    char *owned[MAX_PARAMS];                    /* value texts made from YAML numbers */
    size_t nowned;
    int rounds;
    double valid_fraction;
    bool tracking;
};

/* Per-round logging: metrics wait in a batch sent every BATCH_METRICS. */
struct round_log {
    struct mlf *c;
    const char *run_id;
    json_t *batch;
    struct skiff_ml_eval last[16];
    size_t nlast;
    int failed;
    struct skiff_err err;
};

static int flush_metrics(struct round_log *l)
{
    json_t *req;
    int rc;
    if (!l->c || json_array_size(l->batch) == 0 || l->failed)
        return l->failed;
    req = json_pack("{s:s, s:O}", "run_id", l->run_id, "metrics", l->batch);
    rc = mlf_call(l->c, "POST", "runs/log-batch", req, NULL, &l->err);
    json_decref(req);
    json_array_clear(l->batch);
    if (rc)
        l->failed = rc;
    return rc;
}

static void on_round(void *ctx, int round, const struct skiff_ml_eval *ev, size_t nev)
{
    struct round_log *l = ctx;
    long long now = (long long)(skiff_time_now_us() / 1000);
    memcpy(l->last, ev, nev * sizeof *ev);
    l->nlast = nev;
    if (!l->c)
        return;
    for (size_t i = 0; i < nev; i++)
        json_array_append_new(l->batch, json_pack("{s:s, s:f, s:I, s:i}", "key", ev[i].name,
                                                  "value", ev[i].value, "timestamp", now, "step",
                                                  round));
    if (json_array_size(l->batch) >= BATCH_METRICS)
        flush_metrics(l);
}

/* The parameters of a params file (a map of scalars), as text. */
static int params_from_file(struct train_args *a, struct skiff_yaml_docs **docs,
                            struct skiff_err *err)
{
    json_t *doc, *v;
    const char *k;
    if (skiff_yaml_load_file(a->params_file, docs, err))
        return err->code;
    if (skiff_yaml_count(*docs) != 1 || !json_is_object(doc = skiff_yaml_doc(*docs, 0)))
        return skiff_err_at(err, SKIFF_EINVAL, a->params_file, 1, 1,
                            "parameters must be one map of names to values");
    json_object_foreach(doc, k, v) {
        struct skiff_ml_param *p = &a->params[a->nparams];
        if (json_is_object(v) || json_is_array(v) || json_is_null(v)) {
            char ptr[600];
            snprintf(ptr, sizeof ptr, "/%s", k);
            return skiff_yaml_err(*docs, 0, ptr, err, SKIFF_EINVAL,
                                  "parameter '%s' must be a number, string or boolean", k);
        }
        if (a->nparams == MAX_PARAMS)
            return skiff_err_at(err, SKIFF_EINVAL, a->params_file, 0, 0, "too many parameters");
        p->key = k;
        if (json_is_string(v)) {
            p->value = json_string_value(v);
        } else {
            /* numbers and booleans as their literal text, which XGBoost parses */
            char *t = json_dumps(v, JSON_ENCODE_ANY);
            if (!t)
                return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            a->owned[a->nowned++] = t;
            p->value = t;
        }
        a->nparams++;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct train_args *a)
{
    a->tracking = true;
    a->valid_fraction = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *eq = strchr(s, '=');
        const char **slot = NULL;
        if (s[0] != '-' && eq && eq != s) {
            if (a->nkv == MAX_PARAMS)
                return cli_usage_error("train", "too many parameters");
            argv[i][eq - s] = 0;   /* KEY=VALUE: split in place */
            a->kv[a->nkv].key = s;
            a->kv[a->nkv++].value = eq + 1;
            continue;
        }
        if (strcmp(s, "--no-tracking") == 0) {
            a->tracking = false;
            continue;
        }
        slot = strcmp(s, "--data") == 0             ? &a->data
               : strcmp(s, "--label") == 0          ? &a->label
               : strcmp(s, "--params") == 0         ? &a->params_file
               : strcmp(s, "--experiment") == 0     ? &a->experiment
               : strcmp(s, "--run-name") == 0       ? &a->run_name
               : strcmp(s, "--run-id-out") == 0     ? &a->run_id_out
               : strcmp(s, "--model-out") == 0      ? &a->model_out
               : strcmp(s, "--drop") == 0           ? &a->drop_text
                                                    : NULL;
        if (!slot && strcmp(s, "--rounds") != 0 && strcmp(s, "--valid-fraction") != 0)
            return cli_usage_error("train", "unexpected argument '%s'", s);
        if (i + 1 >= argc)
            return cli_usage_error("train", "%s needs a value", s);
        if (slot) {
            *slot = argv[++i];
        } else {
            char *end;
            double v;
            errno = 0;
            v = strtod(argv[++i], &end);
            if (*end || errno || end == argv[i])
                return cli_usage_error("train", "%s: '%s' is not a number", s, argv[i]);
            if (strcmp(s, "--rounds") == 0) {
                if (v < 1 || v > 100000 || v != (int)v)
                    return cli_usage_error("train", "--rounds: '%s' is not 1 .. 100000",
                                           argv[i]);
                a->rounds = (int)v;
            } else {
                if (!(v >= 0 && v <= 0.9))
                    return cli_usage_error("train", "--valid-fraction: '%s' is not 0 .. 0.9",
                                           argv[i]);
                a->valid_fraction = v;
            }
        }
    }
    if (!a->data || !a->label)
        return cli_usage_error("train", "--data and --label are required");
    if (!a->tracking && !a->model_out)
        return cli_usage_error("train", "--no-tracking needs --model-out (or the model is lost)");
    return CLI_OK;
}

static int write_text_file(const char *path, const char *text, struct skiff_err *err)
{
    FILE *f = fopen(path, "w");
    int rc = 0;
    if (!f)
        return skiff_err_sys(err, SKIFF_EIO, "cannot create '%s'", path);
    if (fputs(text, f) == EOF)
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", path);
    if (fclose(f) != 0 && !rc)
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", path);
    return rc;
}

static int read_file(const char *path, struct skiff_buf *out, struct skiff_err *err)
{
    FILE *f = fopen(path, "rb");
    char chunk[65536];
    size_t n;
    if (!f)
        return skiff_err_sys(err, SKIFF_EIO, "cannot open '%s'", path);
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (skiff_buf_append(out, chunk, n)) {
            fclose(f);
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading '%s'", path);
        }
    fclose(f);
    return 0;
}

/* The model folder and the reference sample, uploaded as the run's
 * artifacts model/... and reference/sample.csv. */
static int log_artifacts(struct mlf *c, const char *run_id, const char *artifact_uri,
                         const struct skiff_ml_model *m, const struct skiff_ml_data *d,
                         struct skiff_err *err)
{
    static const char conda[] = "channels:\n- conda-forge\ndependencies:\n- python=3.11.2\n"
                                "- pip\n- pip:\n  - mlflow==2.10.0\n  - xgboost==1.7.4\n"
                                "name: mlflow-env\n";
    static const char pyenv[] = "python: 3.11.2\nbuild_dependencies:\n- pip\n"
                                "dependencies:\n- -r requirements.txt\n";
    static const char reqs[] = "mlflow==2.10.0\nxgboost==1.7.4\n";
    char dir[] = "/tmp/skiff-train-XXXXXX", path[256];
    struct skiff_buf b = SKIFF_BUF_INIT;
    json_t *req = NULL, *info = NULL;
    char *info_text = NULL;
    int rc;

    if (!mkdtemp(dir))
        return skiff_err_sys(err, SKIFF_EIO, "cannot create a temporary folder");
    snprintf(path, sizeof path, "%s/model.json", dir);
    if ((rc = skiff_ml_model_save(m, path, err)) || (rc = read_file(path, &b, err)) ||
        (rc = mlf_put_artifact(c, artifact_uri, "model/model.json", b.ptr, b.len, err)))
        goto out;
    unlink(path);
    skiff_buf_reset(&b);
    if ((rc = skiff_ml_mlmodel_text(run_id, d, &b, err)) ||
        (rc = mlf_put_artifact(c, artifact_uri, "model/MLmodel", b.ptr, b.len, err)) ||
        (rc = mlf_put_artifact(c, artifact_uri, "model/conda.yaml", conda, strlen(conda), err)) ||
        (rc = mlf_put_artifact(c, artifact_uri, "model/python_env.yaml", pyenv, strlen(pyenv),
                               err)) ||
        (rc = mlf_put_artifact(c, artifact_uri, "model/requirements.txt", reqs, strlen(reqs),
                               err)))
        goto out;
    skiff_buf_reset(&b);
    snprintf(path, sizeof path, "%s/sample.csv", dir);
    if ((rc = skiff_ml_data_write_sample(d, 10000, 42, path, err)) ||
        (rc = read_file(path, &b, err)) ||
        (rc = mlf_put_artifact(c, artifact_uri, "reference/sample.csv", b.ptr, b.len, err)))
        goto out;
    unlink(path);
    /* the run's log-model history, as mlflow.xgboost.log_model records it */
    info = json_pack("{s:s, s:s, s:s, s:{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s}}}",
                     "run_id", run_id, "artifact_path", "model", "utc_time_created", "",
                     "flavors", "python_function", "loader_module", "mlflow.xgboost", "data",
                     "model.json", "python_version", "3.11.2", "xgboost", "data", "model.json",
                     "model_class", "xgboost.core.Booster", "model_format", "json",
                     "xgb_version", "1.7.4");
    {
        char ts[40];
        skiff_time_format(skiff_time_now_us(), ts, sizeof ts);
        json_object_set_new(info, "utc_time_created", json_string(ts));
    }
    info_text = json_dumps(info, JSON_COMPACT);
    req = json_pack("{s:s, s:s}", "run_id", run_id, "model_json", info_text ? info_text : "{}");
    rc = mlf_call(c, "POST", "runs/log-model", req, NULL, err);
out:
    unlink(path);
    rmdir(dir);
    free(info_text);
    json_decref(info);
    json_decref(req);
    skiff_buf_release(&b);
    return rc;
}

/* Params as logged: every given parameter plus what skiff decided. */
static json_t *param_list(const struct train_args *a, int rounds, size_t nfeat)
{
    json_t *l = json_array(), *seen = json_object();
    char buf[64];
    /* later wins, as XGBoost applies them: walk backwards, log each key once */
    for (size_t i = a->nparams; i-- > 0;) {
        if (json_object_get(seen, a->params[i].key))
            continue;
        json_object_set_new(seen, a->params[i].key, json_true());
        json_array_append_new(l, json_pack("{s:s, s:s}", "key", a->params[i].key, "value",
                                           a->params[i].value));
    }
    if (!json_object_get(seen, "objective"))
        json_array_append_new(l, json_pack("{s:s, s:s}", "key", "objective", "value",
                                           "binary:logistic"));
    if (!json_object_get(seen, "eval_metric"))
        json_array_append_new(l, json_pack("{s:s, s:s}", "key", "eval_metric", "value",
                                           "['auc', 'logloss']"));
    if (!json_object_get(seen, "num_boost_round")) {
        snprintf(buf, sizeof buf, "%d", rounds);
        json_array_append_new(l, json_pack("{s:s, s:s}", "key", "num_boost_round", "value", buf));
    }
    snprintf(buf, sizeof buf, "%g", a->valid_fraction);
    json_array_append_new(l, json_pack("{s:s, s:s}", "key", "valid_fraction", "value", buf));
    json_array_append_new(l, json_pack("{s:s, s:s}", "key", "label", "value", a->label));
    snprintf(buf, sizeof buf, "%zu", nfeat);
    json_array_append_new(l, json_pack("{s:s, s:s}", "key", "num_features", "value", buf));
    json_decref(seen);
    return l;
}

/* The training data as an MLflow dataset input (context "training"), as
 * mlflow.log_input records a local file: name, an 8-hex-digit digest of
 * the content (FNV-1a over the features and labels), source {"uri"}, the
 * schema (mlflow_colspec) and the profile (rows and elements). */
static json_t *dataset_input(const char *run_id, const char *path, const struct skiff_ml_data *d)
{
    struct skiff_buf schema = SKIFF_BUF_INIT, src = SKIFF_BUF_INIT;
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    char digest[16], profile[128], *abs = realpath(path, NULL);
    const char *base = strrchr(path, '/');
    json_t *req;

    for (size_t i = 0; i < d->nrows * d->nfeat; i++) {
        unsigned char b[sizeof(float)];
        memcpy(b, &d->x[i], sizeof b);
        for (size_t k = 0; k < sizeof b; k++)
            h = (h ^ b[k]) * UINT64_C(0x100000001b3);
    }
    for (size_t i = 0; i < d->nrows; i++)
        h = (h ^ (uint64_t)(d->y[i] > 0.5)) * UINT64_C(0x100000001b3);
    snprintf(digest, sizeof digest, "%08llx", (unsigned long long)(h & 0xffffffffu));
    skiff_buf_puts(&schema, "{\"mlflow_colspec\": [");
    for (size_t i = 0; i < d->nfeat; i++) {
        skiff_buf_appendf(&schema, "%s{\"type\": \"%s\", \"name\": ", i ? ", " : "",
                          d->types[i][0] == 'i' ? "long" : "double");
        skiff_buf_json_str(&schema, d->names[i]);
        skiff_buf_putc(&schema, '}');
    }
    skiff_buf_puts(&schema, "]}");
    skiff_buf_puts(&src, "{\"uri\": ");
    skiff_buf_json_str(&src, abs ? abs : path);
    skiff_buf_putc(&src, '}');
    snprintf(profile, sizeof profile, "{\"num_rows\": %zu, \"num_elements\": %zu}", d->nrows,
             d->nrows * d->nfeat);
    req = json_pack("{s:s, s:[{s:{s:s, s:s, s:s, s:s, s:s, s:s}, s:[{s:s, s:s}]}]}", "run_id",
                    run_id, "datasets", "dataset", "name", base ? base + 1 : path, "digest",
                    digest, "source_type", "local", "source", src.ptr, "schema", schema.ptr,
                    "profile", profile, "tags", "key", "mlflow.data.context", "value",
                    "training");
    free(abs);
    skiff_buf_release(&schema);
    skiff_buf_release(&src);
    return req;
}

static int rounds_of(const struct train_args *a)
{
    if (a->rounds > 0)
        return a->rounds;
    for (size_t i = a->nparams; i-- > 0;)
        if (strcmp(a->params[i].key, "num_boost_round") == 0 ||
            strcmp(a->params[i].key, "n_estimators") == 0 ||
            strcmp(a->params[i].key, "num_round") == 0 || strcmp(a->params[i].key, "rounds") == 0)
            return atoi(a->params[i].value);
    return 100;
}

int cmd_train(int argc, char **argv)
{
    struct train_args a = {0};
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_yaml_docs *docs = NULL;
    struct skiff_ml_data *d = NULL;
    struct skiff_ml_model *m = NULL;
    struct skiff_ml_data_opts dopts = {0};
    struct skiff_ml_train_opts topts = {0};
    struct round_log log = {0};
    struct mlf c = {0};
    char **drop = NULL, *drop_copy = NULL, *artifact_uri = NULL, run_id[64] = "", exp_id[64];
    size_t ndrop = 0;
    json_t *req = NULL, *reply = NULL;
    bool run_open = false;
    int rc, rounds = 0, cli_rc = CLI_OK;

    if ((rc = parse_args(argc, argv, &a)))
        return rc;
    if (a.params_file && params_from_file(&a, &docs, &err)) {
        cli_rc = cli_fail(&err);
        goto out;
    }
    /* the file's parameters first, so that KEY=VALUE arguments win */
    if (a.nparams + a.nkv > MAX_PARAMS) {
        cli_rc = cli_usage_error("train", "too many parameters");
        goto out;
    }
    memcpy(a.params + a.nparams, a.kv, a.nkv * sizeof *a.kv);
    a.nparams += a.nkv;
    if (a.drop_text) {
        drop_copy = strdup(a.drop_text);
        drop = calloc(strlen(a.drop_text) + 1, sizeof *drop);
        if (!drop_copy || !drop) {
            cli_rc = cli_fail(&(struct skiff_err){.code = SKIFF_ENOMEM, .msg = "out of memory"});
            goto out;
        }
        for (char *save = NULL, *t = strtok_r(drop_copy, ",", &save); t;
             t = strtok_r(NULL, ",", &save))
            drop[ndrop++] = t;
    }
    dopts.label = a.label;
    dopts.drop = (const char *const *)drop;
    dopts.ndrop = ndrop;
    dopts.progress = isatty(STDERR_FILENO);
    if (skiff_ml_data_load(a.data, &dopts, &d, &err)) {
        cli_rc = cli_fail(&err);
        goto out;
    }
    rounds = rounds_of(&a);

    if (a.tracking) {
        const char *env_run = getenv("MLFLOW_RUN_ID"), *exp = a.experiment;
        if (!exp)
            exp = getenv("MLFLOW_EXPERIMENT_NAME");
        if (!exp || !*exp)
            exp = "Default";
        if ((rc = mlf_open(&c, &err)))
            goto fail;
        if (env_run && *env_run) {
            snprintf(run_id, sizeof run_id, "%s", env_run);
        } else {
            const char *user = getenv("USER");
            if ((rc = mlf_experiment(&c, exp, exp_id, sizeof exp_id, &err)))
                goto fail;
            req = json_pack("{s:s, s:I, s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]}", "experiment_id",
                            exp_id, "start_time", (json_int_t)(skiff_time_now_us() / 1000),
                            "tags", "key", "mlflow.source.name", "value", "skiff train", "key",
                            "mlflow.source.type", "value", "LOCAL", "key", "mlflow.user",
                            "value", user ? user : "skiff");
            if (a.run_name) {
                json_object_set_new(req, "run_name", json_string(a.run_name));
                json_array_append_new(json_object_get(req, "tags"),
                                      json_pack("{s:s, s:s}", "key", "mlflow.runName", "value",
                                                a.run_name));
            }
            if ((rc = mlf_call(&c, "POST", "runs/create", req, &reply, &err)))
                goto fail;
            snprintf(run_id, sizeof run_id, "%s",
                     json_string_value(json_object_get(
                         json_object_get(json_object_get(reply, "run"), "info"), "run_id")));
        }
        run_open = true;
        if ((rc = mlf_run_info(&c, run_id, &artifact_uri, &err)))
            goto fail;
        json_decref(req);
        req = json_pack("{s:s, s:o}", "run_id", run_id, "params", param_list(&a, rounds, d->nfeat));
        if ((rc = mlf_call(&c, "POST", "runs/log-batch", req, NULL, &err)))
            goto fail;
        json_decref(req);
        req = dataset_input(run_id, a.data, d);
        if ((rc = mlf_call(&c, "POST", "runs/log-inputs", req, NULL, &err)))
            goto fail;
        log.c = &c;
        log.run_id = run_id;
    }
    log.batch = json_array();
    topts.params = a.params;
    topts.nparams = a.nparams;
    topts.rounds = a.rounds;
    topts.valid_fraction = a.valid_fraction;
    topts.on_round = on_round;
    topts.ctx = &log;
    if ((rc = skiff_ml_train(d, &topts, &m, &rounds, &err)))
        goto fail;
    if (flush_metrics(&log)) {
        err = log.err;
        rc = err.code;
        goto fail;
    }
    if (a.model_out && (rc = skiff_ml_model_save(m, a.model_out, &err)))
        goto fail;
    if (a.tracking) {
        if ((rc = log_artifacts(&c, run_id, artifact_uri, m, d, &err)))
            goto fail;
        json_decref(req);
        req = json_pack("{s:s, s:s, s:I}", "run_id", run_id, "status", "FINISHED", "end_time",
                        (json_int_t)(skiff_time_now_us() / 1000));
        if ((rc = mlf_call(&c, "POST", "runs/update", req, NULL, &err)))
            goto fail;
        run_open = false;
        if (a.run_id_out && (rc = write_text_file(a.run_id_out, run_id, &err)))
            goto fail;
        printf("run %s\n", run_id);
    }
    printf("trained %d rounds on %zu rows, %zu features", rounds, d->nrows, d->nfeat);
    for (size_t i = 0; i < log.nlast; i++)
        printf("%s %s=%.6f", i ? "," : ":", log.last[i].name, log.last[i].value);
    printf("\n");
    goto out;
fail:
    cli_rc = cli_fail(&err);
    if (run_open) {
        struct skiff_err ignore = SKIFF_ERR_INIT;
        json_decref(req);
        req = json_pack("{s:s, s:s, s:I}", "run_id", run_id, "status", "FAILED", "end_time",
                        (json_int_t)(skiff_time_now_us() / 1000));
        if (mlf_call(&c, "POST", "runs/update", req, NULL, &ignore) == 0)
            fprintf(stderr, "skiff train: run %s marked FAILED\n", run_id);
    }
out:
    json_decref(log.batch);
    json_decref(req);
    json_decref(reply);
    free(artifact_uri);
    free(drop);
    free(drop_copy);
    skiff_ml_model_free(m);
    skiff_ml_data_free(d);
    skiff_yaml_free(docs);
    for (size_t i = 0; i < a.nowned; i++)
        free(a.owned[i]);
    mlf_close(&c);
    return cli_rc;
}
