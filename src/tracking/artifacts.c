/* Proxied artifacts (specs/mlflow.md section 3) over the blob store.
 *
 * The URI mlflow-artifacts:/<path> names blob "mlflow/<path>": the prefix
 * keeps what the MLflow API can write apart from the other users of the blob
 * root (a token with tracking:write must not overwrite a pipeline's files).
 *
 * Uploads arrive on a SKIFF_HTTP_STREAM route: the server has spooled the
 * body to an unlinked temp file, and skiff_blob_put_fd copies it into a temp
 * file next to its destination and renames it there, so a reader sees the
 * old file or the whole new one, never a part, and memory stays flat however
 * big the file. Downloads are sent from the open file (skiff_http_reply_fd).
 *
 * Path safety: the server refuses "." and ".." segments of the URL path
 * (encoded or not) with 400; skiff_blob_resolve refuses absolute paths, ".."
 * and symlinks out of the root for paths that come in a query (?path=) or a
 * stored artifact_uri. Either way the answer is INVALID_PARAMETER_VALUE and
 * no file outside the root is touched.
 */
#include "tracking/tracking_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skiff/arena.h"
#include "skiff/err.h"

/* The blob path (arena) of mlflow-artifacts path `p`; "" is the root of the
 * namespace. An absolute path is refused here, although the prefix would
 * keep it inside: MLflow refuses it, and a client sending one has a bug. */
static int blob_rel(struct skiff_arena *a, const char *p, const char **out,
                    struct skiff_err *err)
{
    if (p[0] == '/')
        return skiff_err_set(err, SKIFF_EINVAL, "Invalid path: '%s' is absolute", p);
    *out = *p ? skiff_arena_sprintf(a, "%s/%s", TRACKING__BLOB_PREFIX, p) : TRACKING__BLOB_PREFIX;
    return *out ? 0 : skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
}

static int no_memory(struct skiff_err *err)
{
    return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
}

int tracking__h_art_put(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    const char *path = skiff_http_param(req, "path");
    const char *rel;
    int rc;

    if ((rc = blob_rel(req->arena, path, &rel, err)))
        return rc;
    if (!req->body_streamed)
        return skiff_err_set(err, SKIFF_EINTERNAL, "artifact upload route is not streamed");
    if ((rc = skiff_blob_put_fd(t->blob, rel, req->body_fd, err)))
        return rc;
    return skiff_http_reply_json(resp, 200, "{}") ? no_memory(err) : 0;
}

/* Text-like files are served as text/plain, as MLflow's server does; the
 * client only reads the body. */
static const char *content_type(const char *path)
{
    static const char *const text[] = {".txt", ".json", ".yaml", ".yml", ".md", ".csv",
                                       ".log", ".py", ".html", "/MLmodel", NULL};
    size_t n = strlen(path);

    for (int i = 0; text[i]; i++) {
        size_t k = strlen(text[i]);
        if (n >= k && strcmp(path + n - k, text[i]) == 0)
            return "text/plain";
    }
    if (!strchr(path, '/') && strcmp(path, "MLmodel") == 0)
        return "text/plain";
    return "application/octet-stream";
}

int tracking__h_art_get(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    const char *path = skiff_http_param(req, "path");
    const char *rel, *base;
    char abs[PATH_MAX];
    struct stat st;
    int fd = -1, rc;

    if ((rc = blob_rel(req->arena, path, &rel, err)) ||
        (rc = skiff_blob_resolve(t->blob, rel, abs, sizeof abs, err)))
        return rc;
    /* resolve has checked every symlink on the way; O_NOFOLLOW keeps a link
     * swapped in since then from being followed */
    if ((fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return skiff_err_set(err, SKIFF_ENOTFOUND, "artifact '%s' not found", path);
        return skiff_err_sys(err, SKIFF_EIO, "cannot open artifact '%s'", path);
    }
    if (fstat(fd, &st) != 0) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot read artifact '%s'", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "artifact '%s' is a folder, not a file", path);
        goto out;
    }
    base = strrchr(path, '/');
    base = base ? base + 1 : path;
    /* the name is a path segment: no '/', and the server refused CR/LF */
    if (skiff_http_add_header(resp, "Content-Disposition",
                              skiff_arena_sprintf(req->arena, "attachment; filename=\"%s\"",
                                                  base))) {
        rc = no_memory(err);
        goto out;
    }
    rc = skiff_http_reply_fd(resp, 200, content_type(path), fd, (uint64_t)st.st_size);
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

int tracking__h_art_delete(struct skiff_http_req *req, struct skiff_http_resp *resp,
                           struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    const char *rel;
    int rc;

    if ((rc = blob_rel(req->arena, skiff_http_param(req, "path"), &rel, err)) ||
        (rc = skiff_blob_delete(t->blob, rel, err)))
        return rc;
    return skiff_http_reply_json(resp, 200, "{}") ? no_memory(err) : 0;
}

/* prefix + "/" + name, or name alone when prefix is "" (caller frees). */
static char *join(const char *prefix, const char *name)
{
    size_t n = strlen(prefix) + strlen(name) + 2;
    char *s = malloc(n);

    if (s)
        snprintf(s, n, "%s%s%s", prefix, *prefix ? "/" : "", name);
    return s;
}

/* Lists blob folder `rel` into a new array of FileInfo (caller decrefs),
 * each path being `prefix` + "/" + the entry's name (just the name when
 * prefix is ""). A folder that does not exist, or a file, lists as empty, as
 * MLflow answers. */
int tracking__art_list(struct skiff_tracking *t, const char *rel, const char *prefix,
                       json_t **out, struct skiff_err *err)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    char abs[PATH_MAX];
    struct stat st;
    json_t *arr = NULL, *list = NULL, *x;
    json_error_t je;
    size_t i;
    int rc;

    *out = NULL;
    if ((rc = skiff_blob_resolve(t->blob, rel, abs, sizeof abs, err)))
        return rc;
    if (!(list = json_array()))
        return no_memory(err);
    if (stat(abs, &st) != 0 || !S_ISDIR(st.st_mode)) {
        *out = list;
        return 0;
    }
    if ((rc = skiff_blob_list(t->blob, rel, &b, err))) {
        /* removed since the stat: empty, as above */
        if (rc == SKIFF_ENOTFOUND) {
            *out = list;
            list = NULL;
            rc = 0;
            *err = (struct skiff_err)SKIFF_ERR_INIT;
        }
        goto out;
    }
    if (!(arr = json_loadb(b.ptr, b.len, 0, &je))) {
        rc = skiff_err_set(err, SKIFF_EINTERNAL, "blob listing is not JSON: %s", je.text);
        goto out;
    }
    json_array_foreach(arr, i, x) {
        const char *p = json_string_value(json_object_get(x, "path"));
        const char *name = p ? strrchr(p, '/') : NULL;
        json_t *size = json_object_get(x, "file_size");
        json_t *fi;
        char *full;

        name = name ? name + 1 : (p ? p : "");
        full = join(prefix, name);
        fi = json_pack("{s:s, s:b}", "path", full ? full : "", "is_dir",
                       json_is_true(json_object_get(x, "is_dir")));
        free(full);
        if (!full || !fi || (size && json_object_set(fi, "file_size", size))) {
            json_decref(fi);
            rc = no_memory(err);
            goto out;
        }
        /* append_new takes fi over, also when it fails */
        if (json_array_append_new(list, fi)) {
            rc = no_memory(err);
            goto out;
        }
    }
    *out = list;
    list = NULL;
out:
    skiff_buf_release(&b);
    json_decref(arr);
    json_decref(list);
    return rc;
}

int tracking__h_art_list(struct skiff_http_req *req, struct skiff_http_resp *resp,
                         struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    const char *path = skiff_http_query(req, "path");
    const char *rel;
    json_t *files = NULL;
    int rc;

    if ((rc = blob_rel(req->arena, path ? path : "", &rel, err)) ||
        (rc = tracking__art_list(t, rel, "", &files, err)))
        return rc;
    return tracking__reply_files(resp, NULL, files, err);
}

/* {"root_uri"?: ..., "files"?: [...]} (empty lists left out); takes `files`. */
int tracking__reply_files(struct skiff_http_resp *resp, const char *root_uri, json_t *files,
                          struct skiff_err *err)
{
    json_t *o = json_object();
    char *text;
    int rc;

    if (!o || (root_uri && json_object_set_new(o, "root_uri", json_string(root_uri)))) {
        json_decref(o);
        json_decref(files);
        return no_memory(err);
    }
    if (json_array_size(files))
        json_object_set_new(o, "files", files);
    else
        json_decref(files);
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text)
        return no_memory(err);
    rc = skiff_http_reply_json(resp, 200, text);
    free(text);
    return rc ? no_memory(err) : 0;
}

/* Proxied multipart upload: the client tries it only with
 * MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD set, and on NOT_IMPLEMENTED (501)
 * falls back to one streamed PUT, which has no size limit worth splitting
 * for here (5 GiB). The small JSON body the client sends is not looked at. */
int tracking__h_art_mpu(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    (void)req;
    return skiff_http_reply_json(resp, 501, "{\"error_code\": \"NOT_IMPLEMENTED\", "
                                            "\"message\": \"multipart upload is not supported: "
                                            "upload with PUT\"}")
               ? no_memory(err)
               : 0;
}

int tracking__uri_to_blob(struct skiff_arena *a, const char *uri, const char **rel,
                          struct skiff_err *err)
{
    static const char scheme[] = "mlflow-artifacts:";
    const char *p;

    if (strncmp(uri, scheme, sizeof scheme - 1) != 0)
        return skiff_err_set(err, SKIFF_EINVAL, "artifact URI '%s' is not an mlflow-artifacts: "
                             "URI of this server", uri);
    p = uri + sizeof scheme - 1;
    /* mlflow-artifacts://host:port/path names a server: the path is ours */
    if (strncmp(p, "//", 2) == 0) {
        p = strchr(p + 2, '/');
        if (!p)
            p = "";
    }
    while (*p == '/')
        p++;
    return blob_rel(a, p, rel, err);
}
