/* A small MLflow REST client for the ML commands (train, evaluate,
 * register, models): where the tracking server is, JSON calls, artifact
 * upload and download, and model registration.
 *
 * The server is MLFLOW_TRACKING_URI when it is an http(s) URL, else the
 * platform (cli_platform); the bearer token MLFLOW_TRACKING_TOKEN, else the
 * platform's. Errors: the server's MLflow message ("message" of its error
 * body) in a skiff error whose code follows the HTTP status.
 */
#ifndef SKIFF_CLI_MLFLOW_H
#define SKIFF_CLI_MLFLOW_H

#include <stddef.h>

#include <jansson.h>

#include "skiff/buf.h"
#include "skiff/err.h"

struct mlf {
    char *base;    /* "http://host:port", no trailing slash */
    char *token;   /* may be NULL */
};

int mlf_open(struct mlf *c, struct skiff_err *err);
void mlf_close(struct mlf *c);

/* POST (body set) or GET /api/2.0/mlflow/<path>. *out (may be NULL) is the
 * reply; caller decrefs. */
int mlf_call(struct mlf *c, const char *method, const char *path, const json_t *body,
             json_t **out, struct skiff_err *err);

/* The experiment named `name`, created when missing; id[64] receives it. */
int mlf_experiment(struct mlf *c, const char *name, char *id, size_t n, struct skiff_err *err);

/* The run's artifact_uri (caller frees) and experiment id. */
int mlf_run_info(struct mlf *c, const char *run_id, char **artifact_uri, struct skiff_err *err);

/* PUT data as artifact `rel` (e.g. "model/model.json") of the run whose
 * artifact_uri is given. */
int mlf_put_artifact(struct mlf *c, const char *artifact_uri, const char *rel, const void *data,
                     size_t len, struct skiff_err *err);
/* GET artifact `rel` into out (appended). */
int mlf_get_artifact(struct mlf *c, const char *artifact_uri, const char *rel,
                     struct skiff_buf *out, struct skiff_err *err);

/* A new version of registered model `name` (created when missing) from
 * `rel` under run_id's artifacts, with tags (object of strings, may be
 * NULL); alias (may be NULL) is pointed at it. The source is runs:/RUN/rel
 * unless *source (source may be NULL) holds another on entry, which this
 * takes over. On success *version and *source (when asked for) are the new
 * version and its source; caller frees both. */
int mlf_register(struct mlf *c, const char *run_id, const char *rel, const char *name,
                 const char *alias, const json_t *tags, char **version, char **source,
                 struct skiff_err *err);

#endif
