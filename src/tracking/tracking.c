/* Experiment tracking: the module's tables, its handle and its error format.
 *
 * Tables (all in the metadata store, migrated per module "tracking"):
 *
 *   tracking_experiments      one row per experiment; id 0 is "Default"
 *   tracking_experiment_tags  (experiment_id, key) -> value
 *   tracking_runs             one row per run, keyed by the 32-hex run_id
 *   tracking_params           (run_id, key) -> value, written once
 *   tracking_tags             (run_id, key) -> value, upserted
 *   tracking_metrics          every logged point (history)
 *   tracking_run_inputs       (run_id, dataset name, digest) -> the dataset's
 *                             source and the input's tags (runs/log-inputs)
 *   tracking_latest_metrics   (run_id, key) -> the point with the largest
 *                             (step, timestamp, value): what runs/get shows
 *                             and what searches compare, kept up to date in
 *                             the same transaction as each insert
 *
 *   tracking_registered_models, _model_tags    the model registry (registry.c):
 *   tracking_model_versions, _version_tags     versions numbered 1, 2, ... per
 *   tracking_model_aliases                     model; aliases name a version
 *
 * Invariants: a run's experiment exists; lifecycle_stage is "active" or
 * "deleted" (soft delete, restore flips it back); writes to a run check that
 * it is active inside the transaction that writes, so a concurrent delete
 * cannot slip between the check and the write. NaN metric values are stored
 * as NULL (SQL has no NaN) and shown as "NaN".
 *
 * The SQL is the portable subset (store.h), so a PostgreSQL backend runs it
 * as is.
 */
#include "tracking/tracking_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/err.h"
#include "skiff/time.h"

static const char *const migrations[] = {
    /* 1: experiments, runs, params, tags, metrics */
    "CREATE TABLE tracking_experiments ("
    "  experiment_id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  artifact_location TEXT NOT NULL,"
    "  lifecycle_stage TEXT NOT NULL,"
    "  creation_time INTEGER NOT NULL,"
    "  last_update_time INTEGER NOT NULL);"
    "CREATE TABLE tracking_experiment_tags ("
    "  experiment_id INTEGER NOT NULL REFERENCES tracking_experiments (experiment_id),"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (experiment_id, key));"
    "CREATE TABLE tracking_runs ("
    "  run_id TEXT PRIMARY KEY,"
    "  experiment_id INTEGER NOT NULL REFERENCES tracking_experiments (experiment_id),"
    "  run_name TEXT NOT NULL,"
    "  user_id TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  start_time INTEGER NOT NULL,"
    "  end_time INTEGER,"
    "  artifact_uri TEXT NOT NULL,"
    "  lifecycle_stage TEXT NOT NULL);"
    "CREATE INDEX tracking_runs_by_exp ON tracking_runs (experiment_id, start_time);"
    "CREATE TABLE tracking_params ("
    "  run_id TEXT NOT NULL REFERENCES tracking_runs (run_id),"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (run_id, key));"
    "CREATE TABLE tracking_tags ("
    "  run_id TEXT NOT NULL REFERENCES tracking_runs (run_id),"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (run_id, key));"
    "CREATE TABLE tracking_metrics ("
    "  run_id TEXT NOT NULL REFERENCES tracking_runs (run_id),"
    "  key TEXT NOT NULL,"
    "  value REAL,"
    "  timestamp INTEGER NOT NULL,"
    "  step INTEGER NOT NULL);"
    "CREATE INDEX tracking_metrics_by_key ON tracking_metrics (run_id, key, timestamp, step);"
    "CREATE TABLE tracking_latest_metrics ("
    "  run_id TEXT NOT NULL REFERENCES tracking_runs (run_id),"
    "  key TEXT NOT NULL,"
    "  value REAL,"
    "  timestamp INTEGER NOT NULL,"
    "  step INTEGER NOT NULL,"
    "  PRIMARY KEY (run_id, key));",
    /* 2: datasets a run used (runs/log-inputs), one row per (name, digest) */
    "CREATE TABLE tracking_run_inputs ("
    "  run_id TEXT NOT NULL REFERENCES tracking_runs (run_id),"
    "  name TEXT NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  source_type TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  dataset_schema TEXT,"
    "  profile TEXT,"
    "  tags TEXT NOT NULL,"
    "  created INTEGER NOT NULL,"
    "  PRIMARY KEY (run_id, name, digest));",
    /* 3: model registry. No foreign keys on the model name, so that a
     * rename updates every table in one transaction (registry.c) */
    "CREATE TABLE tracking_registered_models ("
    "  name TEXT PRIMARY KEY,"
    "  creation_timestamp INTEGER NOT NULL,"
    "  last_updated_timestamp INTEGER NOT NULL,"
    "  description TEXT);"
    "CREATE TABLE tracking_registered_model_tags ("
    "  name TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (name, key));"
    "CREATE TABLE tracking_model_versions ("
    "  name TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  creation_timestamp INTEGER NOT NULL,"
    "  last_updated_timestamp INTEGER NOT NULL,"
    "  description TEXT NOT NULL,"
    "  current_stage TEXT NOT NULL,"
    "  source TEXT NOT NULL,"
    "  storage_location TEXT NOT NULL,"
    "  run_id TEXT,"
    "  run_link TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  PRIMARY KEY (name, version));"
    "CREATE INDEX tracking_model_versions_by_run ON tracking_model_versions (run_id);"
    "CREATE TABLE tracking_model_version_tags ("
    "  name TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (name, version, key));"
    "CREATE TABLE tracking_model_aliases ("
    "  name TEXT NOT NULL,"
    "  alias TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  PRIMARY KEY (name, alias));",
    /* 4: runs/search drives an equality filter on a param or tag from these
     * (a filtered search over 100k runs: 223 ms -> 38 ms) */
    ("CREATE INDEX tracking_params_by_kv ON tracking_params (key, value, run_id);"
     "CREATE INDEX tracking_tags_by_kv ON tracking_tags (key, value, run_id);"),
    /* 5: the latest metrics clustered by (run_id, key): a search's filter and
     * order_by find a run's value in one b-tree instead of index + table
     * (SQLite's WITHOUT ROWID; a PostgreSQL backend keeps a plain primary
     * key). A filtered search over 100k runs: 34 ms -> 20 ms of SQL. */
    ("CREATE TABLE tracking_latest_metrics_v5 ("
     "  run_id TEXT NOT NULL REFERENCES tracking_runs (run_id),"
     "  key TEXT NOT NULL,"
     "  value REAL,"
     "  timestamp INTEGER NOT NULL,"
     "  step INTEGER NOT NULL,"
     "  PRIMARY KEY (run_id, key)) WITHOUT ROWID;"
     "INSERT INTO tracking_latest_metrics_v5 (run_id, key, value, timestamp, step)"
     "  SELECT run_id, key, value, timestamp, step FROM tracking_latest_metrics;"
     "DROP TABLE tracking_latest_metrics;"
     "ALTER TABLE tracking_latest_metrics_v5 RENAME TO tracking_latest_metrics;"),
};

int skiff_tracking_open(struct skiff_store *s, struct skiff_blob *blob,
                        struct skiff_tracking **out, struct skiff_err *err)
{
    struct skiff_tracking *t;
    int64_t now = skiff_time_now_us() / 1000;
    struct skiff_store_val p[2] = {{.type = SKIFF_VAL_INT, .i = now},
                                   {.type = SKIFF_VAL_INT, .i = now}};
    int rc;

    *out = NULL;
    if (!blob)
        return skiff_err_set(err, SKIFF_EINVAL, "tracking: no artifact store");
    if ((rc = skiff_store_migrate(s, "tracking", migrations,
                                  sizeof migrations / sizeof *migrations, err)))
        return skiff_err_prefix(err, "tracking");
    /* the client falls back to experiment 0 when none is set: it always
     * exists (ON CONFLICT keeps a renamed or deleted one as it is) */
    rc = skiff_store_exec(s, "INSERT INTO tracking_experiments (experiment_id, name,"
                          " artifact_location, lifecycle_stage, creation_time, last_update_time)"
                          " VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active', ?, ?)"
                          " ON CONFLICT DO NOTHING", p, 2, NULL, err);
    if (rc)
        return skiff_err_prefix(err, "tracking: cannot create the Default experiment");
    if (!(t = calloc(1, sizeof *t)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    t->store = s;
    t->blob = blob;
    *out = t;
    return 0;
}

void skiff_tracking_close(struct skiff_tracking *t)
{
    free(t);
}

/* skiff's codes -> MLflow's ErrorCode names and statuses (specs/mlflow.md,
 * mlflow/exceptions.py). The client depends on these: it reads
 * RESOURCE_DOES_NOT_EXIST as "absent", tolerates RESOURCE_ALREADY_EXISTS,
 * and retries 429/5xx, so user errors must never map to 5xx. */
static void mlflow_code(int code, const char **name, int *status)
{
    switch (code) {
    case SKIFF_EINVAL: *name = "INVALID_PARAMETER_VALUE"; *status = 400; break;
    case SKIFF_EPARSE: *name = "BAD_REQUEST"; *status = 400; break;
    case SKIFF_ENOTFOUND: *name = "RESOURCE_DOES_NOT_EXIST"; *status = 404; break;
    case SKIFF_EEXIST: *name = "RESOURCE_ALREADY_EXISTS"; *status = 400; break;
    case SKIFF_EUNAUTH: *name = "UNAUTHENTICATED"; *status = 401; break;
    case SKIFF_EFORBIDDEN: *name = "PERMISSION_DENIED"; *status = 403; break;
    case SKIFF_EMETHOD: *name = "ENDPOINT_NOT_FOUND"; *status = 405; break;
    case SKIFF_ECONFLICT: *name = "ABORTED"; *status = 409; break;
    /* no MLflow code of its own; the status says what happened */
    case SKIFF_ETOOBIG: *name = "BAD_REQUEST"; *status = 413; break;
    case SKIFF_EBUSY: *name = "REQUEST_LIMIT_EXCEEDED"; *status = 429; break;
    case SKIFF_EUNAVAIL: *name = "TEMPORARILY_UNAVAILABLE"; *status = 503; break;
    default: *name = "INTERNAL_ERROR"; *status = 500; break;
    }
}

void skiff_tracking_errfmt(const struct skiff_err *err, struct skiff_http_resp *resp)
{
    const char *name;
    int status;

    mlflow_code(err->code, &name, &status);
    resp->status = status;
    resp->content_type = "application/json";
    skiff_buf_reset(&resp->body);
    /* out of memory leaves the body empty; the status still tells */
    if (skiff_buf_appendf(&resp->body, "{\"error_code\": \"%s\", \"message\": ", name) ||
        skiff_buf_json_str(&resp->body,
                           err->msg[0] ? err->msg : skiff_err_default_msg(err->code)) ||
        skiff_buf_putc(&resp->body, '}'))
        skiff_buf_reset(&resp->body);
}
