/* The resource API: kubectl-shaped CRUD over every registered kind.
 *
 *   GET    /api/v1                       the kinds (discovery)
 *   GET    /api/v1/{plural}              {"kind":"<Kind>List","items":[...]}
 *   POST   /api/v1/{plural}              create (generateName allowed)   201
 *   GET    /api/v1/{plural}/{name}       the object
 *   PUT    /api/v1/{plural}/{name}       apply: create 201, update 200
 *   DELETE /api/v1/{plural}/{name}       {"kind":"Status","status":"Success",...}
 *
 * Every write is validated with the same code the CLI runs before sending;
 * warnings (unknown fields of upstream kinds) come back as Warning headers,
 * as the Kubernetes API server sends them.
 */
#include "skiff/resource.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/arena.h"
#include "skiff/http.h"
#include "skiff/store.h"

#define SCOPE_READ "resources:read"
#define SCOPE_WRITE "resources:write"
#define MAX_OBJECT (4 << 20)

static int reply_json(struct skiff_http_resp *resp, int status, json_t *v, struct skiff_err *err)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int rc;
    if (!s)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    rc = skiff_http_reply_json(resp, status, s);
    free(s);
    return rc ? skiff_err_set(err, rc, "cannot build the response") : 0;
}

static int find_kind(struct skiff_http_req *req, const struct skiff_kind **k,
                     struct skiff_err *err)
{
    const char *plural = skiff_http_param(req, "plural");
    *k = plural ? skiff_kind_lookup(plural) : NULL;
    if (!*k)
        return skiff_err_set(err, SKIFF_ENOTFOUND,
                             "the server doesn't have a resource type \"%s\"", plural ? plural : "");
    return 0;
}

/* `299 - "text"` (RFC 7234 warn-code 299, as the Kubernetes API server
 * sends): the text as a quoted-string, control characters dropped so a
 * warning can never split the header. Arena memory. */
static const char *warning_header(struct skiff_arena *a, const char *text)
{
    size_t n = strlen(text);
    char *out = skiff_arena_alloc(a, 2 * n + 10), *o = out;
    if (!out)
        return NULL;
    o += sprintf(o, "299 - \"");
    for (const char *p = text; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            continue;
        if (*p == '"' || *p == '\\')
            *o++ = '\\';
        *o++ = *p;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* Parses and validates a request body as one object of kind k. Warnings go
 * to the response's Warning headers. Caller decrefs *obj. */
static int read_object(struct skiff_http_req *req, struct skiff_http_resp *resp,
                       const struct skiff_kind *k, json_t **obj, struct skiff_err *err)
{
    struct skiff_validation v = {.err = err};
    const struct skiff_kind *got;
    json_error_t je;
    int rc;

    *obj = json_loadb(req->body, req->body_len, 0, &je);
    if (!*obj)
        return skiff_err_set(err, SKIFF_EINVAL, "request body is not valid JSON: %s (line %d, column %d)",
                             je.text, je.line, je.column);
    rc = skiff_resource_validate(*obj, &v, &got);
    if (rc == 0 && got != k)
        rc = skiff_err_set(err, SKIFF_EINVAL, "object of kind \"%s\" sent to /api/v1/%s",
                           got->kind, k->plural);
    for (size_t i = 0; i < v.nwarnings && rc == 0; i++) {
        const char *w = warning_header(req->arena, v.warnings[i]);
        if (w)
            skiff_http_add_header(resp, "Warning", w);
    }
    skiff_validation_release(&v);
    if (rc) {
        json_decref(*obj);
        *obj = NULL;
    }
    return rc;
}

static int h_discovery(struct skiff_http_req *req, struct skiff_http_resp *resp,
                       struct skiff_err *err)
{
    size_t n;
    const struct skiff_kind *ks = skiff_kinds(&n);
    json_t *list = json_array(), *out;
    int rc;

    for (size_t i = 0; i < n; i++) {
        json_t *shorts = json_array();
        char tmp[128];
        const char *p = ks[i].shorts ? ks[i].shorts : "";
        while (*p) {
            size_t l = strcspn(p, ",");
            snprintf(tmp, sizeof tmp, "%.*s", (int)l, p);
            json_array_append_new(shorts, json_string(tmp));
            p += l + (p[l] == ',');
        }
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s, s:o}", "kind", ks[i].kind,
                                              "group", ks[i].group, "versions", ks[i].versions,
                                              "name", ks[i].plural, "shortNames", shorts));
    }
    out = json_pack("{s:s, s:o}", "kind", "APIResourceList", "resources", list);
    rc = reply_json(resp, 200, out, err);
    json_decref(out);
    return rc;
}

static int h_list(struct skiff_http_req *req, struct skiff_http_resp *resp,
                  struct skiff_err *err)
{
    const struct skiff_kind *k;
    json_t *items, *out;
    char lk[96];
    int rc;

    if ((rc = find_kind(req, &k, err)) || (rc = skiff_resource_list(req->ctx, k, &items, err)))
        return rc;
    snprintf(lk, sizeof lk, "%sList", k->kind);
    out = json_pack("{s:s, s:s, s:o}", "apiVersion", "v1", "kind", lk, "items", items);
    rc = reply_json(resp, 200, out, err);
    json_decref(out);
    return rc;
}

static int h_get(struct skiff_http_req *req, struct skiff_http_resp *resp,
                 struct skiff_err *err)
{
    const struct skiff_kind *k;
    json_t *obj;
    int rc;

    if ((rc = find_kind(req, &k, err)) ||
        (rc = skiff_resource_get(req->ctx, k, skiff_http_param(req, "name"), &obj, err)))
        return rc;
    rc = reply_json(resp, 200, obj, err);
    json_decref(obj);
    return rc;
}

static int h_create(struct skiff_http_req *req, struct skiff_http_resp *resp,
                    struct skiff_err *err)
{
    const struct skiff_kind *k;
    json_t *obj = NULL, *stored = NULL;
    int rc;

    if ((rc = find_kind(req, &k, err)) || (rc = read_object(req, resp, k, &obj, err)))
        return rc;
    rc = skiff_resource_create(req->ctx, k, obj, &stored, err);
    if (rc == 0) {
        skiff_http_add_header(resp, "X-Skiff-Apply", "created");
        rc = reply_json(resp, 201, stored, err);
    }
    json_decref(obj);
    json_decref(stored);
    return rc;
}

static int h_put(struct skiff_http_req *req, struct skiff_http_resp *resp,
                 struct skiff_err *err)
{
    static const char *const results[] = {"created", "configured", "unchanged"};
    const struct skiff_kind *k;
    json_t *obj = NULL, *stored = NULL;
    enum skiff_apply_result res;
    const char *name = skiff_http_param(req, "name"), *body_name;
    int rc;

    if ((rc = find_kind(req, &k, err)) || (rc = read_object(req, resp, k, &obj, err)))
        return rc;
    body_name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    if (!body_name || strcmp(body_name, name) != 0) {
        rc = skiff_err_set(err, SKIFF_EINVAL,
                           "metadata.name \"%s\" does not match the name in the URL \"%s\"",
                           body_name ? body_name : "", name);
        goto out;
    }
    rc = skiff_resource_apply(req->ctx, k, obj, &stored, &res, err);
    if (rc == 0) {
        skiff_http_add_header(resp, "X-Skiff-Apply", results[res]);
        rc = reply_json(resp, res == SKIFF_APPLY_CREATED ? 201 : 200, stored, err);
    }
out:
    json_decref(obj);
    json_decref(stored);
    return rc;
}

static int h_delete(struct skiff_http_req *req, struct skiff_http_resp *resp,
                    struct skiff_err *err)
{
    const struct skiff_kind *k;
    const char *name = skiff_http_param(req, "name");
    json_t *out;
    int rc;

    if ((rc = find_kind(req, &k, err)) || (rc = skiff_resource_delete(req->ctx, k, name, err)))
        return rc;
    out = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "apiVersion", "v1", "kind", "Status",
                    "status", "Success", "details", "name", name, "kind", k->plural);
    rc = reply_json(resp, 200, out, err);
    json_decref(out);
    return rc;
}

static const struct skiff_route resource_routes[] = {
    {"GET", "/api/v1", SCOPE_READ, h_discovery, 0},
    {"GET", "/api/v1/{plural}", SCOPE_READ, h_list, 0},
    {"POST", "/api/v1/{plural}", SCOPE_WRITE, h_create, MAX_OBJECT},
    {"GET", "/api/v1/{plural}/{name}", SCOPE_READ, h_get, 0},
    {"PUT", "/api/v1/{plural}/{name}", SCOPE_WRITE, h_put, MAX_OBJECT},
    {"DELETE", "/api/v1/{plural}/{name}", SCOPE_WRITE, h_delete, 0},
};

const struct skiff_route *skiff_resource_routes(size_t *n)
{
    *n = sizeof resource_routes / sizeof *resource_routes;
    return resource_routes;
}
