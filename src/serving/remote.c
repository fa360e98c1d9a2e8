/* Registry storageUris for `skiff serve` alone: models:/NAME@ALIAS,
 * models:/NAME/VERSION, models:/NAME/STAGE, models:/NAME/latest, runs:/ID/PATH and mlflow-artifacts:/PATH fetched
 * through the platform's MLflow REST API (SKIFF_URL or MLFLOW_TRACKING_URI,
 * token from SKIFF_TOKEN_FILE or MLFLOW_TRACKING_TOKEN) into a folder
 * under SKIFF_HOME/models/, which is then loaded like a path. In `skiff up`
 * the same URIs resolve in-process (skiff_tracking_resolve_uri) instead.
 *
 *   models:/fraud@champion --GET registered-models/alias--> version 3
 *     --GET model-versions/get-download-uri--> mlflow-artifacts:/1/<run>/artifacts/model
 *     --GET mlflow-artifacts/artifacts?path=... (recursively)--> files
 *     --GET mlflow-artifacts/artifacts/<file>--> home/models/<key>/...
 */
#include "serving_int.h"

#include "skiff/auth.h"
#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/http.h"
#include "skiff/log.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILES 1000        /* a model folder, not a bucket */
#define MAX_DEPTH 8

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes a folder we made and everything in it, without following links. */
static void rmtree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

struct remote {
    char base[1024];
    char *token;
};

/* Percent-encodes a query value or path (keeping '/' when `path`). */
static void enc(struct skiff_buf *b, const char *s, bool path)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || (path && c == '/')) {
            skiff_buf_putc(b, (char)c);
        } else {
            skiff_buf_putc(b, '%');
            skiff_buf_putc(b, hex[c >> 4]);
            skiff_buf_putc(b, hex[c & 15]);
        }
    }
}

/* GET base + path; the JSON answer in *out (caller decrefs). */
static int get_json(struct remote *r, const char *path, json_t **out, struct skiff_err *err)
{
    struct skiff_http_result res = {0};
    char url[4096];
    json_error_t je;
    int rc;

    snprintf(url, sizeof url, "%s%s", r->base, path);
    res.body = (struct skiff_buf)SKIFF_BUF_INIT;
    res.headers = (struct skiff_buf)SKIFF_BUF_INIT;
    if ((rc = skiff_http_request("GET", url, r->token, NULL, NULL, 0, &res, err)))
        goto out;
    if (res.status != 200) {
        rc = skiff_err_set(err, res.status == 404 ? SKIFF_ENOTFOUND : SKIFF_EUNAVAIL,
                           "GET %s: HTTP %ld: %.300s", url, res.status, res.body.ptr);
        goto out;
    }
    if (!(*out = json_loadb(res.body.ptr, res.body.len, 0, &je)))
        rc = skiff_err_set(err, SKIFF_EINVAL, "GET %s: not JSON: %s", url, je.text);
out:
    skiff_buf_release(&res.body);
    skiff_buf_release(&res.headers);
    return rc;
}

static int download(struct remote *r, const char *art, const char *dest, struct skiff_err *err)
{
    struct skiff_http_result res = {0};
    struct skiff_buf url = SKIFF_BUF_INIT;
    FILE *f;
    int rc;

    res.body = (struct skiff_buf)SKIFF_BUF_INIT;
    res.headers = (struct skiff_buf)SKIFF_BUF_INIT;
    skiff_buf_puts(&url, r->base);
    skiff_buf_puts(&url, "/api/2.0/mlflow-artifacts/artifacts/");
    enc(&url, art, true);
    if ((rc = skiff_http_request("GET", url.ptr, r->token, NULL, NULL, 0, &res, err)))
        goto out;
    if (res.status != 200) {
        rc = skiff_err_set(err, SKIFF_EUNAVAIL, "GET %s: HTTP %ld", url.ptr, res.status);
        goto out;
    }
    if (!(f = fopen(dest, "wbe")) || fwrite(res.body.ptr, 1, res.body.len, f) != res.body.len ||
        fclose(f) != 0) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", dest);
        goto out;
    }
out:
    skiff_buf_release(&url);
    skiff_buf_release(&res.body);
    skiff_buf_release(&res.headers);
    return rc;
}

/* Copies artifact folder `art` (a path in the artifact store) into `dir`. */
static int fetch_tree(struct remote *r, const char *art, const char *dir, int depth,
                      int *nfiles, struct skiff_err *err)
{
    struct skiff_buf q = SKIFF_BUF_INIT;
    json_t *lst = NULL, *fi;
    size_t i;
    int rc;

    if (depth > MAX_DEPTH)
        return skiff_err_set(err, SKIFF_EINVAL, "artifact '%s' is nested too deep", art);
    skiff_buf_puts(&q, "/api/2.0/mlflow-artifacts/artifacts?path=");
    enc(&q, art, false);
    rc = get_json(r, q.ptr, &lst, err);
    skiff_buf_release(&q);
    if (rc)
        return rc;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        json_decref(lst);
        return skiff_err_sys(err, SKIFF_EIO, "cannot create '%s'", dir);
    }
    json_array_foreach(json_object_get(lst, "files"), i, fi) {
        const char *p = json_string_value(json_object_get(fi, "path"));
        const char *name = p ? strrchr(p, '/') : NULL;
        char sub[4096], dest[4096];
        name = name ? name + 1 : p;
        if (!name || !*name || strcmp(name, "..") == 0 || strcmp(name, ".") == 0)
            continue;
        if (++*nfiles > MAX_FILES) {
            rc = skiff_err_set(err, SKIFF_ETOOBIG, "artifact '%s' has more than %d files", art,
                               MAX_FILES);
            break;
        }
        snprintf(sub, sizeof sub, "%s/%s", art, name);
        snprintf(dest, sizeof dest, "%s/%s", dir, name);
        rc = json_is_true(json_object_get(fi, "is_dir"))
                 ? fetch_tree(r, sub, dest, depth + 1, nfiles, err)
                 : download(r, sub, dest, err);
        if (rc)
            break;
    }
    json_decref(lst);
    return rc;
}

/* "mlflow-artifacts:/1/x" or "mlflow-artifacts://host:port/1/x" -> "1/x". */
static const char *artifact_path(const char *uri)
{
    const char *p = uri + strlen("mlflow-artifacts:");
    if (strncmp(p, "//", 2) == 0) {
        p = strchr(p + 2, '/');
        if (!p)
            return "";
    }
    while (*p == '/')
        p++;
    return p;
}

/* models:/NAME/latest and models:/NAME/STAGE as MLflow's client resolves
 * them: get-latest-versions (the newest version of each stage, or of the
 * one stage asked for), then the highest of those. */
static int latest_version(struct remote *r, const char *name, const char *sel, char *out,
                          size_t n, struct skiff_err *err)
{
    struct skiff_buf q = SKIFF_BUF_INIT;
    bool latest = strcasecmp(sel, "latest") == 0;
    long long best = -1;
    json_t *j = NULL, *mv;
    size_t i;
    int rc;

    skiff_buf_puts(&q, "/api/2.0/mlflow/registered-models/get-latest-versions?name=");
    enc(&q, name, false);
    if (!latest) {
        skiff_buf_puts(&q, "&stages=");
        enc(&q, sel, false);
    }
    rc = get_json(r, q.ptr, &j, err);
    skiff_buf_release(&q);
    if (rc)
        return rc;
    json_array_foreach(json_object_get(j, "model_versions"), i, mv) {
        const char *v = json_string_value(json_object_get(mv, "version"));
        char *end;
        long long x = v ? strtoll(v, &end, 10) : -1;
        if (v && *end == '\0' && x > best)
            best = x;
    }
    json_decref(j);
    if (best < 0)
        return skiff_err_set(err, SKIFF_ENOTFOUND, "model '%s' has no version%s%s", name,
                             latest ? "" : " in stage ", latest ? "" : sel);
    snprintf(out, n, "%lld", best);
    return 0;
}

/* The artifact URI a registry URI stands for; *out malloc'd. */
static int to_artifact_uri(struct remote *r, const char *uri, char **out, struct skiff_err *err)
{
    struct skiff_buf q = SKIFF_BUF_INIT;
    json_t *j = NULL;
    const char *v;
    int rc = 0;

    *out = NULL;
    if (strncmp(uri, "mlflow-artifacts:", 17) == 0) {
        *out = strdup(uri);
    } else if (strncmp(uri, "runs:/", 6) == 0) {
        const char *id = uri + 6, *slash = strchr(id, '/');
        char rid[128];
        snprintf(rid, sizeof rid, "%.*s", (int)(slash ? slash - id : (long)strlen(id)), id);
        skiff_buf_puts(&q, "/api/2.0/mlflow/runs/get?run_id=");
        enc(&q, rid, false);
        if ((rc = get_json(r, q.ptr, &j, err)) == 0) {
            v = json_string_value(json_object_get(json_object_get(json_object_get(j, "run"),
                                                                  "info"), "artifact_uri"));
            if (!v)
                rc = skiff_err_set(err, SKIFF_EINVAL, "run '%s' has no artifact_uri", rid);
            else if (asprintf(out, "%s/%s", v, slash ? slash + 1 : "") < 0)
                *out = NULL;
        }
    } else if (strncmp(uri, "models:/", 8) == 0) {
        const char *rest = uri + 8, *at = strchr(rest, '@'), *slash = strchr(rest, '/');
        char name[512], version[64] = "";
        if (at) {
            snprintf(name, sizeof name, "%.*s", (int)(at - rest), rest);
            skiff_buf_puts(&q, "/api/2.0/mlflow/registered-models/alias?name=");
            enc(&q, name, false);
            skiff_buf_puts(&q, "&alias=");
            enc(&q, at + 1, false);
            if ((rc = get_json(r, q.ptr, &j, err)) == 0) {
                v = json_string_value(json_object_get(json_object_get(j, "model_version"),
                                                      "version"));
                snprintf(version, sizeof version, "%s", v ? v : "");
            }
        } else if (slash && slash[1] >= '0' && slash[1] <= '9') {
            snprintf(name, sizeof name, "%.*s", (int)(slash - rest), rest);
            snprintf(version, sizeof version, "%s", slash + 1);
        } else if (slash && slash > rest && slash[1] && !strchr(slash + 1, '/')) {
            snprintf(name, sizeof name, "%.*s", (int)(slash - rest), rest);
            rc = latest_version(r, name, slash + 1, version, sizeof version, err);
        } else {
            rc = skiff_err_set(err, SKIFF_EINVAL, "storageUri '%s': want models:/NAME@ALIAS "
                               "or models:/NAME/<VERSION|STAGE|latest>", uri);
        }
        json_decref(j);
        j = NULL;
        skiff_buf_reset(&q);
        if (rc == 0 && !version[0])
            rc = skiff_err_set(err, SKIFF_EINVAL, "'%s': the registry named no version", uri);
        if (rc == 0) {
            skiff_buf_puts(&q, "/api/2.0/mlflow/model-versions/get-download-uri?name=");
            enc(&q, name, false);
            skiff_buf_puts(&q, "&version=");
            enc(&q, version, false);
            if ((rc = get_json(r, q.ptr, &j, err)) == 0) {
                v = json_string_value(json_object_get(j, "artifact_uri"));
                if (!v)
                    rc = skiff_err_set(err, SKIFF_EINVAL, "'%s': no artifact_uri", uri);
                else
                    *out = strdup(v);
            }
        }
    }
    json_decref(j);
    skiff_buf_release(&q);
    if (rc == 0 && !*out)
        rc = skiff_err_set(err, SKIFF_EINVAL, "storageUri '%s': cannot resolve", uri);
    if (rc == 0 && strncmp(*out, "mlflow-artifacts:", 17) != 0) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "'%s' is stored at '%s': only mlflow-artifacts: "
                           "stores are fetched", uri, *out);
        free(*out);
        *out = NULL;
    }
    return rc;
}

int serving__remote_fetch(const char *home, const char *uri, char *out, size_t n,
                          struct skiff_err *err)
{
    struct remote r = {0};
    const char *base = getenv("SKIFF_URL"), *tf = getenv("SKIFF_TOKEN_FILE");
    char *art = NULL, dir[4096], tmp[4200], key[256];
    size_t k = 0;
    int rc, nfiles = 0;

    if (!base || !*base)
        base = getenv("MLFLOW_TRACKING_URI");
    if (!base || strncmp(base, "http", 4) != 0)
        return skiff_err_set(err, SKIFF_EINVAL, "storageUri '%s' needs the platform's model "
                             "registry: set SKIFF_URL (and SKIFF_TOKEN_FILE), apply the file to "
                             "'skiff up', or give a path or --model-dir", uri);
    snprintf(r.base, sizeof r.base, "%s", base);
    while (strlen(r.base) && r.base[strlen(r.base) - 1] == '/')
        r.base[strlen(r.base) - 1] = '\0';
    if (tf && *tf) {
        if ((rc = skiff_auth_read_token_file(tf, &r.token, err)))
            return skiff_err_prefix(err, "SKIFF_TOKEN_FILE");
    } else if (getenv("MLFLOW_TRACKING_TOKEN")) {
        r.token = strdup(getenv("MLFLOW_TRACKING_TOKEN"));
    }
    if ((rc = to_artifact_uri(&r, uri, &art, err)))
        goto out;
    /* home/models/<uri with every odd byte as '_'> */
    for (const char *p = uri; *p && k < sizeof key - 1; p++)
        key[k++] = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                           (*p >= '0' && *p <= '9') || *p == '-' || *p == '.'
                       ? *p : '_';
    key[k] = '\0';
    snprintf(dir, sizeof dir, "%s/models", home);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot create '%s'", dir);
        goto out;
    }
    snprintf(dir, sizeof dir, "%s/models/%s", home, key);
    snprintf(tmp, sizeof tmp, "%s.tmp%d", dir, (int)getpid());
    rmtree(tmp);
    if ((rc = fetch_tree(&r, artifact_path(art), tmp, 0, &nfiles, err)))
        goto out;
    if (nfiles == 0) {
        /* the URI names one file, not a folder */
        const char *a = artifact_path(art), *slash = strrchr(a, '/');
        char dest[4400];
        snprintf(dest, sizeof dest, "%s/%s", tmp, slash ? slash + 1 : a);
        if ((rc = download(&r, a, dest, err)))
            goto out;
    }
    /* the fresh copy replaces the last one whole */
    rmtree(dir);
    if (rename(tmp, dir) != 0) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot rename '%s'", tmp);
        goto out;
    }
    if (snprintf(out, n, "%s", dir) >= (int)n)
        rc = skiff_err_set(err, SKIFF_EINVAL, "path too long");
    else
        skiff_info("fetched '%s' (%s, %d files) into %s", uri, art, nfiles, dir);
out:
    if (rc)
        rmtree(tmp);
    free(art);
    free(r.token);
    return rc;
}
