/* What commands that talk to the platform share: where it is, the token,
 * and turning HTTP answers into skiff errors. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skiff/auth.h"
#include "skiff/buf.h"
#include "skiff/http.h"
#include "skiff/resource.h"

const char *cli_home(void)
{
    const char *h = getenv("SKIFF_HOME");
    return h && *h ? h : ".skiff";
}

/* The URL a running `skiff up` wrote into its home, or NULL. Caller frees. */
static char *endpoint_from_home(void)
{
    char path[4200], *tok = NULL;
    snprintf(path, sizeof path, "%s/endpoint", cli_home());
    if (skiff_auth_read_token_file(path, &tok, NULL) != 0)
        return NULL;
    return tok;
}

int cli_platform(char **url, char **token, struct skiff_err *err)
{
    const char *u = getenv("SKIFF_URL"), *tf = getenv("SKIFF_TOKEN_FILE");
    char path[4200];

    *url = *token = NULL;
    if (u && *u) {
        *url = strdup(u);
    } else if (!(*url = endpoint_from_home())) {
        const char *l = getenv("SKIFF_LISTEN");
        struct skiff_buf b = SKIFF_BUF_INIT;
        skiff_buf_appendf(&b, "http://%s", l && *l ? l : "127.0.0.1:8080");
        *url = skiff_buf_detach(&b);
    }
    while (*url && **url && (*url)[strlen(*url) - 1] == '/')
        (*url)[strlen(*url) - 1] = '\0';
    if (tf && *tf) {
        if (skiff_auth_read_token_file(tf, token, err) != 0)
            return skiff_err_prefix(err, "SKIFF_TOKEN_FILE");
    } else {
        snprintf(path, sizeof path, "%s/admin.token", cli_home());
        /* no token is not an error here: the server answers 401 and
         * cli_api explains where tokens come from */
        if (skiff_auth_read_token_file(path, token, NULL) != 0)
            *token = NULL;
    }
    return *url ? 0 : skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
}

static int status_code(long status)
{
    switch (status) {
    case 400: return SKIFF_EINVAL;
    case 401: return SKIFF_EUNAUTH;
    case 403: return SKIFF_EFORBIDDEN;
    case 404: return SKIFF_ENOTFOUND;
    case 405: return SKIFF_EMETHOD;
    case 409: return SKIFF_ECONFLICT;
    case 413: return SKIFF_ETOOBIG;
    case 429: return SKIFF_EBUSY;
    case 503: return SKIFF_EUNAVAIL;
    default: return SKIFF_EINTERNAL;
    }
}

/* The platform's error (HTTP status >= 400) as a skiff error: its JSON
 * message, with what to do about a 401 or 403. */
static int platform_error(const struct skiff_http_result *res, const char *url,
                          const char *token, struct skiff_err *err)
{
    json_t *reply = res->body.len ? json_loadb(res->body.ptr, res->body.len, 0, NULL) : NULL;
    const char *msg = json_string_value(
        json_object_get(json_object_get(reply, "error"), "message"));
    int rc = skiff_err_set(err, status_code(res->status), "%.*s",
                           msg ? (int)strlen(msg) : (int)(res->body.len > 300 ? 300 : res->body.len),
                           msg ? msg : res->body.ptr ? res->body.ptr : "");
    if (res->status == 401)
        skiff_err_prefix(err, "the platform at %s refused the token (%s)%s", url,
                         token ? "from SKIFF_TOKEN_FILE or SKIFF_HOME/admin.token" : "none found",
                         token ? "" : "; set SKIFF_HOME to the platform's home or "
                                      "SKIFF_TOKEN_FILE to a token file");
    else if (res->status == 403)
        skiff_err_prefix(err, "permission denied");
    json_decref(reply);
    return rc;
}

int cli_api_raw(const char *method, const char *path, const char *content_type,
                const void *body, size_t len, struct skiff_http_result *res,
                struct skiff_err *err)
{
    char *url = NULL, *token = NULL;
    struct skiff_buf full = SKIFF_BUF_INIT;
    int rc;

    skiff_buf_init(&res->body, 0);
    skiff_buf_init(&res->headers, 0);
    if ((rc = cli_platform(&url, &token, err)))
        goto out;
    if (skiff_buf_appendf(&full, "%s%s", url, path)) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = skiff_http_request(method, full.ptr, token, content_type, body, len, res, err)))
        goto out;
    if (res->status >= 400)
        rc = platform_error(res, url, token, err);
out:
    free(url);
    free(token);
    skiff_buf_release(&full);
    if (rc) {
        skiff_buf_release(&res->body);
        skiff_buf_release(&res->headers);
    }
    return rc;
}

int cli_api(const char *method, const char *path, const json_t *body, json_t **out,
            struct cli_api_meta *meta, struct skiff_err *err)
{
    struct skiff_http_result res = {0};
    char *text = NULL;
    int rc;

    if (out)
        *out = NULL;
    if (body && !(text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    rc = cli_api_raw(method, path, text ? "application/json" : NULL, text,
                     text ? strlen(text) : 0, &res, err);
    free(text);
    if (rc)
        return rc;
    if (meta) {
        meta->status = res.status;
        if (!skiff_http_result_header(&res, "X-Skiff-Apply", meta->apply_result,
                                      sizeof meta->apply_result))
            meta->apply_result[0] = '\0';
    }
    if (out && res.body.len)
        *out = json_loadb(res.body.ptr, res.body.len, 0, NULL);   /* NULL when not JSON */
    skiff_buf_release(&res.body);
    skiff_buf_release(&res.headers);
    return rc;
}

const struct skiff_kind *cli_kind_arg(const char *cmd, const char *name)
{
    const struct skiff_kind *k = skiff_kind_lookup(name);
    if (!k) {
        size_t n;
        const struct skiff_kind *ks = skiff_kinds(&n);
        fprintf(stderr, "skiff %s: unknown resource type '%s'; known types:\n", cmd, name);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, "  %-18s %-22s %s\n", ks[i].kind, ks[i].plural,
                    ks[i].shorts ? ks[i].shorts : "");
    }
    return k;
}

unsigned cli_cpu_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
}
