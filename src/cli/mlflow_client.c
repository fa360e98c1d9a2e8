/* The MLflow REST client of the ML commands (mlflow.h). */
#include "cli.h"
#include "mlflow.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/http.h"

#define API "/api/2.0/mlflow/"

int mlf_open(struct mlf *c, struct skiff_err *err)
{
    const char *uri = getenv("MLFLOW_TRACKING_URI"), *tok = getenv("MLFLOW_TRACKING_TOKEN");
    char *url = NULL, *token = NULL;
    int rc;

    c->base = c->token = NULL;
    if ((rc = cli_platform(&url, &token, err)))
        return rc;
    /* a file: or databricks URI is not a server we can talk to: the
     * platform it is */
    if (uri && (skiff_str_startswith(uri, "http://") || skiff_str_startswith(uri, "https://"))) {
        free(url);
        url = strdup(uri);
        while (url && *url && url[strlen(url) - 1] == '/')
            url[strlen(url) - 1] = 0;
    }
    if (tok && *tok) {
        free(token);
        token = strdup(tok);
    }
    c->base = url;
    c->token = token;
    return url ? 0 : skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
}

void mlf_close(struct mlf *c)
{
    free(c->base);
    free(c->token);
    c->base = c->token = NULL;
}

static int status_code(long status)
{
    switch (status) {
    case 400: return SKIFF_EINVAL;
    case 401: return SKIFF_EUNAUTH;
    case 403: return SKIFF_EFORBIDDEN;
    case 404: return SKIFF_ENOTFOUND;
    case 409: return SKIFF_ECONFLICT;
    case 413: return SKIFF_ETOOBIG;
    case 503: return SKIFF_EUNAVAIL;
    default: return SKIFF_EINTERNAL;
    }
}

/* One request to base + path; the reply body in res. HTTP errors become
 * skiff errors carrying MLflow's message (and its error_code, which callers
 * test for RESOURCE_ALREADY_EXISTS). */
static int request(struct mlf *c, const char *method, const char *path, const char *ctype,
                   const void *body, size_t len, struct skiff_http_result *res,
                   struct skiff_err *err)
{
    struct skiff_buf url = SKIFF_BUF_INIT;
    int rc;

    skiff_buf_appendf(&url, "%s%s", c->base, path);
    rc = skiff_http_request(method, url.ptr, c->token, ctype, body, len, res, err);
    if (!rc && res->status >= 400) {
        json_t *e = json_loadb(res->body.ptr, res->body.len, 0, NULL);
        const char *m = json_string_value(json_object_get(e, "message"));
        const char *code = json_string_value(json_object_get(e, "error_code"));
        if (!m)
            m = json_string_value(json_object_get(json_object_get(e, "error"), "message"));
        rc = skiff_err_set(err, status_code(res->status), "%s%s%s", m ? m : res->body.ptr,
                           code ? " " : "", code ? code : "");
        if (res->status == 401)
            skiff_err_prefix(err, "the tracking server at %s refused the token (set "
                                  "MLFLOW_TRACKING_TOKEN, SKIFF_TOKEN_FILE or SKIFF_HOME)",
                             c->base);
        json_decref(e);
    }
    skiff_buf_release(&url);
    return rc;
}

int mlf_call(struct mlf *c, const char *method, const char *path, const json_t *body,
             json_t **out, struct skiff_err *err)
{
    struct skiff_http_result res = {0};
    struct skiff_buf full = SKIFF_BUF_INIT;
    char *text = NULL;
    int rc;

    if (out)
        *out = NULL;
    skiff_buf_init(&res.body, 0);
    skiff_buf_init(&res.headers, 0);
    if (body && !(text = json_dumps(body, JSON_COMPACT)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    skiff_buf_appendf(&full, API "%s", path);
    rc = request(c, method, full.ptr, text ? "application/json" : NULL, text,
                 text ? strlen(text) : 0, &res, err);
    if (!rc && out && !(*out = json_loadb(res.body.ptr, res.body.len, 0, NULL)))
        rc = skiff_err_set(err, SKIFF_EINTERNAL, "the tracking server's reply to %s is not JSON",
                           path);
    free(text);
    skiff_buf_release(&full);
    skiff_buf_release(&res.body);
    skiff_buf_release(&res.headers);
    return rc;
}

/* Appends s percent-encoded (RFC 3986 unreserved kept, '/' too when
 * keep_slash). */
static void url_encode(struct skiff_buf *b, const char *s, bool keep_slash)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' ||
            (keep_slash && ch == '/'))
            skiff_buf_putc(b, (char)ch);
        else
            skiff_buf_appendf(b, "%%%02X", ch);
    }
}

int mlf_experiment(struct mlf *c, const char *name, char *id, size_t n, struct skiff_err *err)
{
    struct skiff_buf path = SKIFF_BUF_INIT;
    json_t *reply = NULL, *req = NULL;
    const char *got;
    int rc;

    skiff_buf_puts(&path, "experiments/get-by-name?experiment_name=");
    url_encode(&path, name, false);
    rc = mlf_call(c, "GET", path.ptr, NULL, &reply, err);
    if (rc == SKIFF_ENOTFOUND) {
        skiff_err_clear(err);
        req = json_pack("{s:s}", "name", name);
        rc = mlf_call(c, "POST", "experiments/create", req, &reply, err);
        got = json_string_value(json_object_get(reply, "experiment_id"));
    } else {
        got = json_string_value(
            json_object_get(json_object_get(reply, "experiment"), "experiment_id"));
    }
    if (!rc && !got)
        rc = skiff_err_set(err, SKIFF_EINTERNAL, "no experiment id for '%s'", name);
    if (!rc)
        snprintf(id, n, "%s", got);
    json_decref(reply);
    json_decref(req);
    skiff_buf_release(&path);
    return rc;
}

int mlf_run_info(struct mlf *c, const char *run_id, char **artifact_uri, struct skiff_err *err)
{
    struct skiff_buf path = SKIFF_BUF_INIT;
    json_t *reply = NULL;
    const char *uri;
    int rc;

    *artifact_uri = NULL;
    skiff_buf_puts(&path, "runs/get?run_id=");
    url_encode(&path, run_id, false);
    rc = mlf_call(c, "GET", path.ptr, NULL, &reply, err);
    uri = json_string_value(
        json_object_get(json_object_get(json_object_get(reply, "run"), "info"), "artifact_uri"));
    if (!rc && !uri)
        rc = skiff_err_set(err, SKIFF_EINTERNAL, "run '%s' has no artifact_uri", run_id);
    if (!rc && !(*artifact_uri = strdup(uri)))
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    json_decref(reply);
    skiff_buf_release(&path);
    return rc;
}

/* /api/2.0/mlflow-artifacts/artifacts/<path of the URI>/<rel>: the proxied
 * artifact route. mlflow-artifacts:/p and mlflow-artifacts://host:port/p
 * both name p. */
static int artifact_path(const char *artifact_uri, const char *rel, struct skiff_buf *out,
                         struct skiff_err *err)
{
    const char *p = artifact_uri;
    if (!skiff_str_startswith(p, "mlflow-artifacts:"))
        return skiff_err_set(err, SKIFF_EINVAL,
                             "artifact URI '%s' is not served by the tracking server "
                             "(want mlflow-artifacts:)", artifact_uri);
    p += strlen("mlflow-artifacts:");
    if (p[0] == '/' && p[1] == '/') {
        p = strchr(p + 2, '/');
        if (!p)
            p = "";
    }
    while (*p == '/')
        p++;
    skiff_buf_puts(out, "/api/2.0/mlflow-artifacts/artifacts/");
    url_encode(out, p, true);
    skiff_buf_putc(out, '/');
    url_encode(out, rel, true);
    return 0;
}

int mlf_put_artifact(struct mlf *c, const char *artifact_uri, const char *rel, const void *data,
                     size_t len, struct skiff_err *err)
{
    struct skiff_http_result res = {0};
    struct skiff_buf path = SKIFF_BUF_INIT;
    int rc;

    skiff_buf_init(&res.body, 0);
    skiff_buf_init(&res.headers, 0);
    if (!(rc = artifact_path(artifact_uri, rel, &path, err)))
        rc = request(c, "PUT", path.ptr, "application/octet-stream", data, len, &res, err);
    if (rc)
        skiff_err_prefix(err, "uploading '%s'", rel);
    skiff_buf_release(&path);
    skiff_buf_release(&res.body);
    skiff_buf_release(&res.headers);
    return rc;
}

int mlf_get_artifact(struct mlf *c, const char *artifact_uri, const char *rel,
                     struct skiff_buf *out, struct skiff_err *err)
{
    struct skiff_http_result res = {0};
    struct skiff_buf path = SKIFF_BUF_INIT;
    int rc;

    skiff_buf_init(&res.body, 0);
    skiff_buf_init(&res.headers, 0);
    if (!(rc = artifact_path(artifact_uri, rel, &path, err)))
        rc = request(c, "GET", path.ptr, NULL, NULL, 0, &res, err);
    if (!rc && skiff_buf_append(out, res.body.ptr, res.body.len))
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if (rc)
        skiff_err_prefix(err, "downloading '%s'", rel);
    skiff_buf_release(&path);
    skiff_buf_release(&res.body);
    skiff_buf_release(&res.headers);
    return rc;
}

int mlf_register(struct mlf *c, const char *run_id, const char *rel, const char *name,
                 const char *alias, const json_t *tags, char **version, char **source,
                 struct skiff_err *err)
{
    json_t *reply = NULL, *req = NULL, *tag_list = json_array();
    const char *key, *v;
    json_t *val;
    struct skiff_buf src = SKIFF_BUF_INIT;
    int rc;

    *version = NULL;
    if (source && *source) {
        skiff_buf_puts(&src, *source);   /* the caller's choice of source */
        free(*source);
        *source = NULL;
    } else {
        skiff_buf_appendf(&src, "runs:/%s/%s", run_id, rel);
    }
    /* as the mlflow client: an existing model is fine, the version is new */
    req = json_pack("{s:s}", "name", name);
    rc = mlf_call(c, "POST", "registered-models/create", req, NULL, err);
    if (rc && strstr(err->msg, "RESOURCE_ALREADY_EXISTS")) {
        skiff_err_clear(err);
        rc = 0;
    }
    if (rc)
        goto out;
    json_object_foreach((json_t *)tags, key, val)
        json_array_append_new(tag_list, json_pack("{s:s, s:s}", "key", key, "value",
                                                  json_string_value(val) ? json_string_value(val)
                                                                         : ""));
    json_decref(req);
    req = json_pack("{s:s, s:s, s:s, s:O}", "name", name, "source", src.ptr, "run_id", run_id,
                    "tags", tag_list);
    if ((rc = mlf_call(c, "POST", "model-versions/create", req, &reply, err)))
        goto out;
    v = json_string_value(json_object_get(json_object_get(reply, "model_version"), "version"));
    if (!v) {
        rc = skiff_err_set(err, SKIFF_EINTERNAL, "no version in the registry's reply");
        goto out;
    }
    if (alias) {
        json_decref(req);
        req = json_pack("{s:s, s:s, s:s}", "name", name, "alias", alias, "version", v);
        if ((rc = mlf_call(c, "POST", "registered-models/alias", req, NULL, err))) {
            skiff_err_prefix(err, "version %s registered, but setting alias '%s'", v, alias);
            goto out;
        }
    }
    if (!(*version = strdup(v)))
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if (!rc && source)
        *source = skiff_buf_detach(&src);
out:
    json_decref(req);
    json_decref(reply);
    json_decref(tag_list);
    skiff_buf_release(&src);
    return rc;
}
