/* Unit tests for src/http: route matching, a real server on 127.0.0.1:0
 * driven by the client (and by raw curl and raw sockets where the client
 * cannot say what a test needs: chunked uploads, response headers, malformed
 * requests), bearer tokens and scopes, graceful stop, request metrics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "skiff/arena.h"
#include "skiff/auth.h"
#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/http.h"
#include "skiff/log.h"
#include "skiff/metrics.h"

/* ---- route matching ---- */

struct match_case {
    const char *pattern, *path;
    bool match;
    const char *params; /* "name=value;name=value" */
};

static void test_match_table(void **state)
{
    static const struct match_case cases[] = {
        {"/healthz", "/healthz", true, ""},
        {"/healthz", "/healthz/", false, NULL},        /* trailing slash is significant */
        {"/healthz/", "/healthz/", true, ""},
        {"/healthz", "/health", false, NULL},
        {"/healthz", "/healthzz", false, NULL},
        {"/", "/", true, ""},
        {"/", "/x", false, NULL},
        {"/api/v1/{plural}/{name}", "/api/v1/models/fraud", true, "plural=models;name=fraud"},
        {"/api/v1/{plural}/{name}", "/api/v1/models/", false, NULL},   /* empty param */
        {"/api/v1/{plural}/{name}", "/api/v1/models", false, NULL},
        {"/api/v1/{plural}/{name}", "/api/v1/models/a/b", false, NULL},
        {"/api/v1/{plural}/{name}", "/api/v1//fraud", false, NULL},
        {"/v1/models/{name}:predict", "/v1/models/fraud:predict", true, "name=fraud"},
        {"/v1/models/{name}:predict", "/v1/models/a:b:predict", true, "name=a:b"},
        {"/v1/models/{name}:predict", "/v1/models/:predict", false, NULL},
        {"/v1/models/{name}:predict", "/v1/models/fraud", false, NULL},
        {"/v1/models/{name}:predict", "/v1/models/fraud:explain", false, NULL},
        {"/v1/models/{name}:predict", "/v1/models/fraud:predict/x", false, NULL},
        {"/v1/models/{name}", "/v1/models/fraud:predict", true, "name=fraud:predict"},
        {"/v{version}/models", "/v2/models", true, "version=2"},
        {"/v{version}/models", "/v/models", false, NULL},
        {"/x/pre{id}suf", "/x/preABCsuf", true, "id=ABC"},
        {"/x/pre{id}suf", "/x/presuf", false, NULL},
        {"/files/{path...}", "/files/a/b/c.txt", true, "path=a/b/c.txt"},
        {"/files/{path...}", "/files/a", true, "path=a"},
        {"/files/{path...}", "/files/a/", true, "path=a/"},
        {"/files/{path...}", "/files/", false, NULL},
        {"/files/{path...}", "/files", false, NULL},
        {"/runs/{id}/artifacts/{path...}", "/runs/7/artifacts/model/m.json", true,
         "id=7;path=model/m.json"},
        {"/runs/{id}/artifacts/{path...}", "/runs/7/artifacts", false, NULL},
        {"/a/{b}/{c}/{d}", "/a/1/2/3", true, "b=1;c=2;d=3"},
        {"/api/2.0/mlflow/runs/get", "/api/2.0/mlflow/runs/get", true, ""},
        /* malformed patterns never match and never crash */
        {"/a/{b", "/a/{b", false, NULL},
        {"no-slash", "no-slash", false, NULL},
        {"/a", "", false, NULL},
    };
    struct skiff_arena *a = skiff_arena_new(0);
    const char *names[SKIFF_HTTP_MAX_PARAMS], *values[SKIFF_HTTP_MAX_PARAMS];
    char got[512];
    int n;

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const struct match_case *c = &cases[i];
        bool m = skiff_http_match(c->pattern, c->path, a, &n, names, values);
        if (m != c->match)
            fail_msg("'%s' against '%s': got %s", c->pattern, c->path, m ? "match" : "no match");
        if (!m)
            continue;
        got[0] = '\0';
        for (int k = 0; k < n; k++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s=%s", k ? ";" : "",
                     names[k], values[k]);
        if (strcmp(got, c->params) != 0)
            fail_msg("'%s' against '%s': params '%s', want '%s'", c->pattern, c->path, got,
                     c->params);
    }
    skiff_arena_free(a);
}

static int h_ok(struct skiff_http_req *req, struct skiff_http_resp *resp, struct skiff_err *err)
{
    return skiff_http_reply_json(resp, 200, "{}");
}

static void test_add_routes_checks(void **state)
{
    static const char *const bad[] = {"models", "/a/{b", "/a/{}", "/a/{b}{c}", "/a/{b-c}",
                                      "/a/{rest...}/x", "/a/{rest...}.json",
                                      "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}"};
    struct skiff_http_server *srv;
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_http_opts o;

    skiff_http_opts_init(&o);
    o.listen = "127.0.0.1:0";
    o.metrics = skiff_metrics_new();
    assert_int_equal(skiff_http_new(&o, &srv, &e), 0);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct skiff_route r = {"GET", bad[i], SKIFF_SCOPE_OPEN, h_ok, 0};
        if (skiff_http_add_routes(srv, &r, 1, NULL, NULL, &e) != SKIFF_EINVAL)
            fail_msg("pattern '%s' accepted", bad[i]);
    }
    {
        struct skiff_route r = {"FETCH", "/x", SKIFF_SCOPE_OPEN, h_ok, 0};
        assert_int_equal(skiff_http_add_routes(srv, &r, 1, NULL, NULL, &e), SKIFF_EINVAL);
        assert_non_null(strstr(e.msg, "unknown method 'FETCH'"));
    }
    {
        struct skiff_route r = {"GET", "/x", SKIFF_SCOPE_OPEN, NULL, 0};
        assert_int_equal(skiff_http_add_routes(srv, &r, 1, NULL, NULL, &e), SKIFF_EINVAL);
    }
    skiff_http_free(srv);
    skiff_metrics_free(o.metrics);
}

static void test_listen_addresses(void **state)
{
    static const char *const bad[] = {"", "8080", "127.0.0.1", "127.0.0.1:", ":8080",
                                      "::1:8080", "[::1]8080", "[::1]:", "127.0.0.1:70000",
                                      "127.0.0.1:-1", "127.0.0.1:80x"};
    struct skiff_http_server *srv = NULL;
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_http_opts o;

    skiff_http_opts_init(&o);
    o.metrics = skiff_metrics_new();
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        o.listen = bad[i];
        if (skiff_http_new(&o, &srv, &e) != SKIFF_EINVAL)
            fail_msg("listen address '%s' accepted", bad[i]);
        assert_null(srv);
    }
    /* these parse and bind */
    static const char *const good[] = {"127.0.0.1:0", "localhost:0", "0.0.0.0:0"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        o.listen = good[i];
        assert_int_equal(skiff_http_new(&o, &srv, &e), 0);
        assert_int_equal(skiff_http_port(srv), 0); /* not started */
        if (skiff_http_start(srv, &e) != 0)
            fail_msg("cannot start on '%s': %s", good[i], e.msg);
        assert_true(skiff_http_port(srv) > 0);
        skiff_http_free(srv);
    }
    /* IPv6 loopback, where the machine has it */
    o.listen = "[::1]:0";
    assert_int_equal(skiff_http_new(&o, &srv, &e), 0);
    if (skiff_http_start(srv, &e) == 0) {
        char url[64];
        struct skiff_http_result res;
        static const struct skiff_route r = {"GET", "/x", SKIFF_SCOPE_OPEN, h_ok, 0};
        (void)r;
        snprintf(url, sizeof url, "http://[::1]:%d/x", skiff_http_port(srv));
        assert_int_equal(skiff_http_request("GET", url, NULL, NULL, NULL, 0, &res, &e), 0);
        assert_int_equal(res.status, 404);
        skiff_buf_release(&res.body);
        skiff_buf_release(&res.headers);
    } else {
        print_message("no IPv6 loopback here: %s\n", e.msg);
    }
    skiff_http_free(srv);
    skiff_http_free(NULL);
    skiff_metrics_free(o.metrics);
}

/* ---- the test server ---- */

static pthread_mutex_t slow_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slow_cv = PTHREAD_COND_INITIALIZER;
static bool slow_started;

static int h_healthz(struct skiff_http_req *req, struct skiff_http_resp *resp,
                     struct skiff_err *err)
{
    return skiff_http_reply(resp, 200, "text/plain", "ok", 2);
}

static int h_model(struct skiff_http_req *req, struct skiff_http_resp *resp,
                   struct skiff_err *err)
{
    char *body = skiff_arena_sprintf(req->arena, "{\"name\":\"%s\",\"route\":\"param\"}",
                                     skiff_http_param(req, "name"));
    return body ? skiff_http_reply_json(resp, 200, body)
                : skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
}

static int h_latest(struct skiff_http_req *req, struct skiff_http_resp *resp,
                    struct skiff_err *err)
{
    return skiff_http_reply_json(resp, 200, "{\"route\":\"literal\"}");
}

static int h_predict(struct skiff_http_req *req, struct skiff_http_resp *resp,
                     struct skiff_err *err)
{
    char *body;
    /* the body is NUL-terminated */
    assert_int_equal(req->body[req->body_len], '\0');
    body = skiff_arena_sprintf(req->arena, "{\"name\":\"%s\",\"len\":%zu,\"body\":\"%s\"}",
                               skiff_http_param(req, "name"), req->body_len, req->body);
    return skiff_http_reply_json(resp, 200, body);
}

static int h_files(struct skiff_http_req *req, struct skiff_http_resp *resp,
                   struct skiff_err *err)
{
    const char *p = skiff_http_param(req, "path");
    return skiff_http_reply(resp, 200, "text/plain", p, strlen(p));
}

static int h_echo(struct skiff_http_req *req, struct skiff_http_resp *resp,
                  struct skiff_err *err)
{
    int rc = skiff_http_reply(resp, 201, "application/octet-stream", req->body, req->body_len);
    if (!rc)
        rc = skiff_http_add_header(resp, "X-Body-Len",
                                   skiff_arena_sprintf(req->arena, "%zu", req->body_len));
    return rc;
}

/* A streaming route's handler: reads the spooled body in 64 KiB pieces
 * (never all of it at once) and answers its length, after checking that
 * every byte is the 'x' raw_read sends. */
static int stream_calls;

static int h_stream(struct skiff_http_req *req, struct skiff_http_resp *resp,
                    struct skiff_err *err)
{
    char buf[65536];
    size_t total = 0;
    ssize_t n;

    __atomic_add_fetch(&stream_calls, 1, __ATOMIC_SEQ_CST);
    if (!req->body_streamed || req->body[0] != '\0')
        return skiff_err_set(err, SKIFF_EINTERNAL, "body not streamed");
    while ((n = read(req->body_fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != 'x')
                return skiff_err_set(err, SKIFF_EINTERNAL, "bad byte at %zu", total + (size_t)i);
        total += (size_t)n;
    }
    if (n < 0 || total != req->body_len)
        return skiff_err_set(err, SKIFF_EINTERNAL, "read %zu of %zu", total, req->body_len);
    return skiff_http_reply_json(resp, 200, skiff_arena_sprintf(req->arena, "{\"len\":%zu}",
                                                                total));
}

static int h_query(struct skiff_http_req *req, struct skiff_http_resp *resp,
                   struct skiff_err *err)
{
    const char *q = skiff_http_query(req, "q"), *h = skiff_http_header(req, "x-test");
    char *body = skiff_arena_sprintf(req->arena, "q=%s h=%s missing=%s path=%s",
                                     q ? q : "(none)", h ? h : "(none)",
                                     skiff_http_query(req, "nope") ? "yes" : "no", req->path);
    return skiff_http_reply(resp, 200, "text/plain", body, strlen(body));
}

static int h_fail(struct skiff_http_req *req, struct skiff_http_resp *resp,
                  struct skiff_err *err)
{
    /* a partial response is dropped for the error body */
    skiff_http_reply_json(resp, 200, "{\"partial\":true}");
    return skiff_err_set(err, SKIFF_ENOTFOUND, "model '%s' not found",
                         skiff_http_param(req, "name"));
}

static int h_boom(struct skiff_http_req *req, struct skiff_http_resp *resp,
                  struct skiff_err *err)
{
    return SKIFF_EINTERNAL; /* no message set: the default one is used */
}

static int h_bad_status(struct skiff_http_req *req, struct skiff_http_resp *resp,
                        struct skiff_err *err)
{
    resp->status = 1000;
    return 0;
}

static int h_slow(struct skiff_http_req *req, struct skiff_http_resp *resp,
                  struct skiff_err *err)
{
    pthread_mutex_lock(&slow_mu);
    slow_started = true;
    pthread_cond_broadcast(&slow_cv);
    pthread_mutex_unlock(&slow_mu);
    usleep(600 * 1000);
    return skiff_http_reply(resp, 200, "text/plain", "slow done", 9);
}

static int h_whoami(struct skiff_http_req *req, struct skiff_http_resp *resp,
                    struct skiff_err *err)
{
    assert_non_null(req->claims);
    return skiff_http_reply(resp, 200, "text/plain", req->claims->sub,
                            strlen(req->claims->sub));
}

static int h_ctx(struct skiff_http_req *req, struct skiff_http_resp *resp,
                 struct skiff_err *err)
{
    const char *ctx = req->ctx;
    return skiff_http_reply(resp, 200, "text/plain", ctx, strlen(ctx));
}

static const struct skiff_route main_routes[] = {
    {"GET", "/healthz", SKIFF_SCOPE_OPEN, h_healthz, 0},
    {"GET", "/v1/models/{name}", SKIFF_SCOPE_OPEN, h_model, 0},
    {"GET", "/v1/models/latest", SKIFF_SCOPE_OPEN, h_latest, 0},  /* literal wins */
    {"POST", "/v1/models/{name}:predict", SKIFF_SCOPE_OPEN, h_predict, 1024},
    {"DELETE", "/v1/models/{name}", SKIFF_SCOPE_OPEN, h_ok, 0},
    {"GET", "/files/{path...}", SKIFF_SCOPE_OPEN, h_files, 0},
    {"POST", "/echo", SKIFF_SCOPE_OPEN, h_echo, 1024},
    {"PUT", "/echo", SKIFF_SCOPE_OPEN, h_echo, 1024},
    {"POST", "/nobody", SKIFF_SCOPE_OPEN, h_ok, 0},
    {"GET", "/query", SKIFF_SCOPE_OPEN, h_query, 0},
    {"GET", "/fail/{name}", SKIFF_SCOPE_OPEN, h_fail, 0},
    {"GET", "/boom", SKIFF_SCOPE_OPEN, h_boom, 0},
    {"GET", "/badstatus", SKIFF_SCOPE_OPEN, h_bad_status, 0},
    {"GET", "/slow", SKIFF_SCOPE_OPEN, h_slow, 0},
    {"GET", "/secure/whoami", "models:read", h_whoami, 0},
    {"POST", "/secure/upload", "models:write", h_echo, 1024},
    {"GET", "/ctx/main", SKIFF_SCOPE_OPEN, h_ctx, 0},
    {"PUT", "/stream", SKIFF_SCOPE_OPEN, h_stream, SKIFF_HTTP_STREAM | (64u << 20)},
    {"PUT", "/stream-small", SKIFF_SCOPE_OPEN, h_stream, SKIFF_HTTP_STREAM | 4096},
};

/* A second table with its own error format, as the MLflow API has. */
static void errfmt_mlflow(const struct skiff_err *err, struct skiff_http_resp *resp)
{
    skiff_buf_reset(&resp->body);
    skiff_buf_appendf(&resp->body, "{\"error_code\":\"%s\"}",
                      err->code == SKIFF_ENOTFOUND ? "RESOURCE_DOES_NOT_EXIST"
                                                   : skiff_err_name(err->code));
}

static const struct skiff_route mlflow_routes[] = {
    {"GET", "/api/2.0/mlflow/runs/{id}", SKIFF_SCOPE_OPEN, h_fail, 0},
    {"POST", "/api/2.0/mlflow/runs/create", SKIFF_SCOPE_OPEN, h_ok, 16},
    {"GET", "/ctx/mlflow", SKIFF_SCOPE_OPEN, h_ctx, 0},
};

struct fixture {
    struct skiff_http_server *srv;
    struct skiff_metrics *metrics;
    struct skiff_auth *auth;
    char home[64];
    char base[64];
    int port;
};

static struct fixture fx;

static int start_server(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_http_opts o;

    memset(&fx, 0, sizeof fx);
    snprintf(fx.home, sizeof fx.home, "/tmp/skiff-test-http-XXXXXX");
    if (!mkdtemp(fx.home))
        return -1;
    if (skiff_auth_open(fx.home, &fx.auth, &e) != 0) {
        print_error("auth: %s\n", e.msg);
        return -1;
    }
    fx.metrics = skiff_metrics_new();
    skiff_http_opts_init(&o);
    o.listen = "127.0.0.1:0";
    o.threads = 4;
    o.auth = fx.auth;
    o.metrics = fx.metrics;
    o.header_limit = 4096;
    o.timeout_s = 5;
    o.spool_dir = fx.home;  /* so a test can see that nothing is left there */
    if (skiff_http_new(&o, &fx.srv, &e) ||
        skiff_http_add_routes(fx.srv, main_routes, sizeof main_routes / sizeof *main_routes,
                              NULL, "main-ctx", &e) ||
        skiff_http_add_routes(fx.srv, mlflow_routes,
                              sizeof mlflow_routes / sizeof *mlflow_routes, errfmt_mlflow,
                              "mlflow-ctx", &e) ||
        skiff_http_start(fx.srv, &e)) {
        print_error("server: %s\n", e.msg);
        return -1;
    }
    fx.port = skiff_http_port(fx.srv);
    snprintf(fx.base, sizeof fx.base, "http://127.0.0.1:%d", fx.port);
    return 0;
}

static int stop_server(void **state)
{
    char path[128];
    skiff_http_free(fx.srv);
    skiff_metrics_free(fx.metrics);
    skiff_auth_free(fx.auth);
    snprintf(path, sizeof path, "%s/signing.key", fx.home);
    unlink(path);
    rmdir(fx.home);
    return 0;
}

/* skiff_http_request against the fixture; returns the status, body in *body. */
static long req(const char *method, const char *path, const char *token, const char *body,
                struct skiff_buf *out)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_http_result res;
    char url[512];
    int rc;

    snprintf(url, sizeof url, "%s%s", fx.base, path);
    rc = skiff_http_request(method, url, token, body ? "application/json" : NULL, body,
                            body ? strlen(body) : 0, &res, &e);
    if (rc)
        fail_msg("%s %s: %s", method, path, e.msg);
    if (out)
        *out = res.body;
    else
        skiff_buf_release(&res.body);
    skiff_buf_release(&res.headers);
    return res.status;
}

static void expect(const char *method, const char *path, const char *body, long status,
                   const char *want_body)
{
    struct skiff_buf b;
    long st = req(method, path, NULL, body, &b);
    if (st != status)
        fail_msg("%s %s: status %ld, want %ld (body %s)", method, path, st, status, b.ptr);
    if (want_body && strcmp(b.ptr, want_body) != 0)
        fail_msg("%s %s: body '%s', want '%s'", method, path, b.ptr, want_body);
    skiff_buf_release(&b);
}

/* Raw curl, for response headers and chunked uploads. */
struct raw {
    long status;
    struct skiff_buf headers, body;
    size_t upload_left;  /* chunked upload of this many 'x' */
};

static size_t raw_hdr(char *p, size_t sz, size_t n, void *ud)
{
    skiff_buf_append(&((struct raw *)ud)->headers, p, sz * n);
    return sz * n;
}

static size_t raw_body(char *p, size_t sz, size_t n, void *ud)
{
    skiff_buf_append(&((struct raw *)ud)->body, p, sz * n);
    return sz * n;
}

static size_t raw_read(char *buf, size_t sz, size_t n, void *ud)
{
    struct raw *r = ud;
    size_t k = sz * n < r->upload_left ? sz * n : r->upload_left;
    memset(buf, 'x', k);
    r->upload_left -= k;
    return k;
}

static CURLcode raw_request(const char *method, const char *path, const char *header,
                            size_t chunked_len, struct raw *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[512];
    CURLcode cc;

    memset(r, 0, sizeof *r);
    skiff_buf_init(&r->headers, 0);
    skiff_buf_init(&r->body, 0);
    snprintf(url, sizeof url, "%s%s", fx.base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, raw_hdr);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, raw_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (header)
        h = curl_slist_append(h, header);
    if (chunked_len) {
        r->upload_left = chunked_len;
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, raw_read);
        curl_easy_setopt(c, CURLOPT_READDATA, r);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return cc;
}

static void raw_release(struct raw *r)
{
    skiff_buf_release(&r->headers);
    skiff_buf_release(&r->body);
}

/* A raw socket, for requests no well-behaved client sends. Returns what the
 * server answered before closing (or within 1 s). */
static void raw_socket(const char *request, size_t len, struct skiff_buf *out)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx.port)};
    struct timeval tv = {1, 0};
    char buf[4096];
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    skiff_buf_init(out, 0);
    assert_true(fd >= 0);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    for (size_t off = 0; off < len; off += (size_t)n)
        if ((n = send(fd, request + off, len - off, MSG_NOSIGNAL)) <= 0)
            break;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
        skiff_buf_append(out, buf, (size_t)n);
    close(fd);
}

static void test_routes_params_and_priority(void **state)
{
    expect("GET", "/healthz", NULL, 200, "ok");
    expect("GET", "/v1/models/fraud", NULL, 200, "{\"name\":\"fraud\",\"route\":\"param\"}");
    /* the literal route wins although declared after the param one */
    expect("GET", "/v1/models/latest", NULL, 200, "{\"route\":\"literal\"}");
    expect("POST", "/v1/models/fraud:predict", "[1,2]", 200,
           "{\"name\":\"fraud\",\"len\":5,\"body\":\"[1,2]\"}");
    expect("POST", "/v1/models/fraud:predict", NULL, 200,
           "{\"name\":\"fraud\",\"len\":0,\"body\":\"\"}");
    expect("GET", "/files/a/b/c.txt", NULL, 200, "a/b/c.txt");
    /* the path is URL-decoded before matching and in the params */
    expect("GET", "/files/a%20b/%C3%A9.txt", NULL, 200, "a b/\xc3\xa9.txt");
    expect("GET", "/v1/models/fr%61ud", NULL, 200, "{\"name\":\"fraud\",\"route\":\"param\"}");
    /* dots inside a name are fine; only whole '.' or '..' segments are refused */
    expect("GET", "/files/v1.2/..a/.b", NULL, 200, "v1.2/..a/.b");
    expect("GET", "/query?q=a%26b&token=secret", NULL, 200,
           "q=a&b h=(none) missing=no path=/query");
    expect("DELETE", "/v1/models/x", NULL, 200, "{}");
    /* each table's handlers see that table's ctx */
    expect("GET", "/ctx/main", NULL, 200, "main-ctx");
    expect("GET", "/ctx/mlflow", NULL, 200, "mlflow-ctx");

    struct raw r;
    assert_int_equal(raw_request("GET", "/query?q=1", "X-Test: hello", 0, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.ptr, "q=1 h=hello missing=no path=/query");
    raw_release(&r);
    /* HEAD is served by the GET route, without a body */
    assert_int_equal(raw_request("HEAD", "/healthz", NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    assert_non_null(strstr(r.headers.ptr, "Content-Type: text/plain"));
    raw_release(&r);
    /* handler headers reach the client */
    assert_int_equal(raw_request("POST", "/echo", NULL, 10, &r), CURLE_OK);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body.ptr, "xxxxxxxxxx");
    assert_non_null(strstr(r.headers.ptr, "X-Body-Len: 10"));
    raw_release(&r);
}

static void test_not_found_and_method(void **state)
{
    struct raw r;

    expect("GET", "/nope", NULL, 404,
           "{\"error\":{\"code\":\"ENOTFOUND\",\"message\":\"no route for '/nope'\"}}");
    expect("GET", "/healthz/", NULL, 404, NULL);
    expect("GET", "/v1/models/", NULL, 404, NULL);
    expect("GET", "/", NULL, 404, NULL);

    assert_int_equal(raw_request("POST", "/healthz", NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.headers.ptr, "Allow: GET, HEAD\r\n"));
    assert_non_null(strstr(r.body.ptr, "\"code\":\"EMETHOD\""));
    raw_release(&r);
    /* the Allow list gathers every route that fits the path */
    assert_int_equal(raw_request("PATCH", "/v1/models/fraud", NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.headers.ptr, "Allow: GET, DELETE, HEAD\r\n"));
    raw_release(&r);
    assert_int_equal(raw_request("GET", "/echo", NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.headers.ptr, "Allow: POST, PUT\r\n"));
    raw_release(&r);
    /* a method no route has */
    assert_int_equal(raw_request("BREW", "/healthz", NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 405);
    raw_release(&r);
}

static void test_bad_escapes(void **state)
{
    static const char *const bad[] = {"/files/a%zz", "/files/a%2", "/files/a%", "/files/%00x",
                                      "/files/a%0g", "/files/../etc/passwd", "/files/a/./b",
                                      "/files/%2e%2E/x", "/files/a%2F..%2Fb", "/files/.."};
    struct raw r;

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(raw_request("GET", bad[i], NULL, 0, &r), CURLE_OK);
        if (r.status != 400)
            fail_msg("GET %s: status %ld, want 400", bad[i], r.status);
        assert_non_null(strstr(r.body.ptr, "\"code\":\"EINVAL\""));
        raw_release(&r);
    }
}

static void test_body_limits(void **state)
{
    char big[2048];
    struct raw r;

    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    /* exactly at the cap is fine, one byte more is not */
    big[1024] = '\0';
    expect("POST", "/echo", big, 201, big);
    big[1024] = 'a';
    big[1025] = '\0';
    expect("POST", "/echo", big, 413, NULL);
    /* by Content-Length, before any of the body is read */
    big[1025] = 'a';
    {
        struct skiff_buf b;
        assert_int_equal(req("POST", "/v1/models/x:predict", NULL, big, &b), 413);
        assert_non_null(strstr(b.ptr, "\"code\":\"ETOOBIG\""));
        assert_non_null(strstr(b.ptr, "exceeds the 1024 allowed"));
        skiff_buf_release(&b);
    }
    /* a route that takes no body */
    expect("POST", "/nobody", "{}", 413, NULL);
    expect("POST", "/nobody", NULL, 200, "{}");
    /* chunked: no length up front, the body grows past the cap */
    assert_int_equal(raw_request("POST", "/echo", NULL, 64 * 1024, &r), CURLE_OK);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body.ptr, "\"code\":\"ETOOBIG\""));
    raw_release(&r);
    assert_int_equal(raw_request("POST", "/nobody", NULL, 10, &r), CURLE_OK);
    assert_int_equal(r.status, 413);
    raw_release(&r);
    /* chunked within the cap */
    assert_int_equal(raw_request("PUT", "/echo", NULL, 1000, &r), CURLE_OK);
    assert_int_equal(r.status, 201);
    assert_int_equal(r.body.len, 1000);
    raw_release(&r);
    /* the custom table's formatter answers its 413 */
    expect("POST", "/api/2.0/mlflow/runs/create", "{\"a\":\"0123456789\"}", 413,
           "{\"error_code\":\"ETOOBIG\"}");
    /* the server is fine afterwards */
    expect("GET", "/healthz", NULL, 200, "ok");
}

/* ---- streaming bodies ---- */

static long rss_kib(void)
{
    char line[256];
    long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

static int open_fds(void)
{
    char path[64];
    int n = 0;

    for (int fd = 0; fd < 4096; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        if (access(path, F_OK) == 0)
            n++;
    }
    return n;
}

/* Files in the spool folder other than the auth key. */
static int spool_leftovers(void)
{
    char cmd[160];
    FILE *p;
    int n = 0;
    char line[256];

    snprintf(cmd, sizeof cmd, "ls -A %s", fx.home);
    assert_non_null(p = popen(cmd, "r"));
    while (fgets(line, sizeof line, p))
        if (strncmp(line, "signing.key", 11) != 0)
            n++;
    pclose(p);
    return n;
}

static void test_stream_body(void **state)
{
    const size_t size = 50u << 20;
    long before, after;
    struct raw r;
    char want[64];

    /* warm up the threads and buffers, then measure one big upload */
    assert_int_equal(raw_request("PUT", "/stream", NULL, 1u << 20, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    raw_release(&r);
    before = rss_kib();
    assert_int_equal(raw_request("PUT", "/stream", NULL, size, &r), CURLE_OK);
    after = rss_kib();
    assert_int_equal(r.status, 200);
    snprintf(want, sizeof want, "{\"len\":%zu}", size);
    assert_string_equal(r.body.ptr, want);
    raw_release(&r);
    print_message("streamed 50 MiB: RSS %+ld KiB\n", after - before);
    if (after - before > 8 * 1024)
        fail_msg("RSS grew by %ld KiB for a 50 MiB streamed upload", after - before);
    assert_int_equal(spool_leftovers(), 0);

    /* the cap still answers 413: chunked past it, and by Content-Length */
    assert_int_equal(raw_request("PUT", "/stream-small", NULL, 8192, &r), CURLE_OK);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr(r.body.ptr, "exceeds the 4096 bytes"));
    raw_release(&r);
    {
        struct skiff_buf b;
        char body[5000];
        memset(body, 'x', sizeof body - 1);
        body[sizeof body - 1] = '\0';
        assert_int_equal(req("PUT", "/stream-small", NULL, body, &b), 413);
        assert_non_null(strstr(b.ptr, "exceeds the 4096 allowed"));
        skiff_buf_release(&b);
        body[4096] = '\0';
        assert_int_equal(req("PUT", "/stream-small", NULL, body, &b), 200);
        assert_string_equal(b.ptr, "{\"len\":4096}");
        skiff_buf_release(&b);
    }
    /* an empty streamed body reaches the handler as 0 bytes */
    {
        struct skiff_buf b;
        assert_int_equal(req("PUT", "/stream-small", NULL, NULL, &b), 200);
        assert_string_equal(b.ptr, "{\"len\":0}");
        skiff_buf_release(&b);
    }
    assert_int_equal(spool_leftovers(), 0);
}

static void test_stream_disconnect(void **state)
{
    static const char head[] = "PUT /stream HTTP/1.1\r\nHost: x\r\n"
                               "Content-Length: 10000000\r\n\r\n";
    char msg[sizeof head - 1 + 100000];
    struct skiff_buf out;
    int calls = __atomic_load_n(&stream_calls, __ATOMIC_SEQ_CST);
    int fds = open_fds();

    memcpy(msg, head, sizeof head - 1);
    memset(msg + sizeof head - 1, 'x', sizeof msg - (sizeof head - 1));
    /* a tenth of the body, then the client goes away */
    raw_socket(msg, sizeof msg, &out);
    skiff_buf_release(&out);
    /* the server notices the close and releases the spool file */
    for (int i = 0; i < 50 && open_fds() > fds; i++)
        usleep(100 * 1000);
    assert_int_equal(open_fds(), fds);
    assert_int_equal(spool_leftovers(), 0);
    assert_int_equal(__atomic_load_n(&stream_calls, __ATOMIC_SEQ_CST), calls);
    expect("GET", "/healthz", NULL, 200, "ok");
}

static void test_handler_errors(void **state)
{
    expect("GET", "/fail/fraud", NULL, 404,
           "{\"error\":{\"code\":\"ENOTFOUND\",\"message\":\"model 'fraud' not found\"}}");
    expect("GET", "/boom", NULL, 500,
           "{\"error\":{\"code\":\"EINTERNAL\",\"message\":\"internal error\"}}");
    expect("GET", "/badstatus", NULL, 500,
           "{\"error\":{\"code\":\"EINTERNAL\",\"message\":\"handler answered with "
           "invalid status 1000\"}}");
    /* the route group's own error formatter */
    expect("GET", "/api/2.0/mlflow/runs/r1", NULL, 404,
           "{\"error_code\":\"RESOURCE_DOES_NOT_EXIST\"}");
}

static void test_auth(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    char *reader = NULL, *writer = NULL, *expired = NULL, *forged;
    struct skiff_buf b;
    struct raw r;

    assert_int_equal(skiff_auth_issue(fx.auth, "system:serviceaccount:ci", "models:read", 600,
                                      &reader, &e), 0);
    assert_int_equal(skiff_auth_issue(fx.auth, "system:serviceaccount:ci", "models:*", 600,
                                      &writer, &e), 0);
    /* expires one second from now: checked last, once that has passed */
    time_t issued = time(NULL);
    assert_int_equal(skiff_auth_issue(fx.auth, "system:serviceaccount:ci", "models:read", 1,
                                      &expired, &e), 0);

    /* no token */
    assert_int_equal(raw_request("GET", "/secure/whoami", NULL, 0, &r), CURLE_OK);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.headers.ptr, "WWW-Authenticate: Bearer"));
    assert_non_null(strstr(r.body.ptr, "\"code\":\"EUNAUTH\""));
    raw_release(&r);
    /* not a bearer token, a malformed one, an expired one, a forged one */
    assert_int_equal(raw_request("GET", "/secure/whoami", "Authorization: Basic YTpi", 0, &r),
                     CURLE_OK);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.headers.ptr, "WWW-Authenticate: Bearer"));
    raw_release(&r);
    assert_int_equal(req("GET", "/secure/whoami", "not.a.jwt", NULL, NULL), 401);
    assert_int_equal(req("GET", "/secure/whoami", "", NULL, NULL), 401);
    forged = strdup(reader);
    forged[strlen(forged) - 2] = forged[strlen(forged) - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(req("GET", "/secure/whoami", forged, NULL, NULL), 401);
    /* valid token without the scope */
    assert_int_equal(req("POST", "/secure/upload", reader, "{}", &b), 403);
    assert_non_null(strstr(b.ptr, "\"code\":\"EFORBIDDEN\""));
    assert_non_null(strstr(b.ptr, "models:write"));
    skiff_buf_release(&b);
    /* the right scope, directly or by wildcard */
    assert_int_equal(req("GET", "/secure/whoami", reader, NULL, &b), 200);
    assert_string_equal(b.ptr, "system:serviceaccount:ci");
    skiff_buf_release(&b);
    assert_int_equal(req("POST", "/secure/upload", writer, "{\"x\":1}", &b), 201);
    assert_string_equal(b.ptr, "{\"x\":1}");
    skiff_buf_release(&b);
    /* auth runs before the body cap: no token and a big body is a 401 */
    {
        char big[4096];
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        assert_int_equal(req("POST", "/secure/upload", NULL, big, NULL), 401);
        assert_int_equal(req("POST", "/secure/upload", writer, big, NULL), 413);
    }
    while (time(NULL) <= issued + 1)
        usleep(100 * 1000);
    assert_int_equal(req("GET", "/secure/whoami", expired, NULL, &b), 401);
    assert_non_null(strstr(b.ptr, "token expired"));
    skiff_buf_release(&b);
    free(reader);
    free(writer);
    free(expired);
    free(forged);
}

static void test_no_verifier_refuses(void **state)
{
    static const struct skiff_route routes[] = {
        {"GET", "/s", "models:read", h_ok, 0},
        {"GET", "/open", SKIFF_SCOPE_OPEN, h_ok, 0},
    };
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_http_server *srv;
    struct skiff_http_result res;
    struct skiff_http_opts o;
    char url[128];

    skiff_http_opts_init(&o);
    o.listen = "127.0.0.1:0";
    o.threads = 1;
    o.metrics = fx.metrics;
    o.access_log = false;
    assert_int_equal(skiff_http_new(&o, &srv, &e), 0);
    assert_int_equal(skiff_http_add_routes(srv, routes, 2, NULL, NULL, &e), 0);
    assert_int_equal(skiff_http_start(srv, &e), 0);
    /* routes are fixed once the server runs */
    assert_int_equal(skiff_http_add_routes(srv, routes, 2, NULL, NULL, &e), SKIFF_EINVAL);
    assert_int_equal(skiff_http_start(srv, &e), SKIFF_EINVAL);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/s", skiff_http_port(srv));
    assert_int_equal(skiff_http_request("GET", url, "anything", NULL, NULL, 0, &res, &e), 0);
    assert_int_equal(res.status, 401);
    skiff_buf_release(&res.body);
    skiff_buf_release(&res.headers);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/open", skiff_http_port(srv));
    assert_int_equal(skiff_http_request("GET", url, NULL, NULL, NULL, 0, &res, &e), 0);
    assert_int_equal(res.status, 200);
    skiff_buf_release(&res.body);
    skiff_buf_release(&res.headers);
    skiff_http_stop(srv, 1000);
    skiff_http_stop(srv, 1000); /* twice is harmless */
    skiff_http_free(srv);
}

static void test_malformed_input(void **state)
{
    static const char *const junk[] = {
        "GARBAGE\r\n\r\n",
        "GET\r\n\r\n",
        "GET /healthz HTTP/9.9\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
        "GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET http://example.com/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /files/%00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\nConnection: close\r\n\r\n",
        "\r\n\r\n\r\n",
        "GET /healthz HTTP/1.1\r\nHost: x\r\n",  /* never finished: the timeout closes it */
    };
    struct skiff_buf out;

    for (size_t i = 0; i < sizeof junk / sizeof *junk; i++) {
        raw_socket(junk[i], strlen(junk[i]), &out);
        skiff_buf_release(&out);
    }
    /* an absolute-form target is served by its path */
    raw_socket(junk[8], strlen(junk[8]), &out);
    assert_true(skiff_str_startswith(out.ptr, "HTTP/1.1 200"));
    skiff_buf_release(&out);
    raw_socket(junk[9], strlen(junk[9]), &out);
    assert_true(skiff_str_startswith(out.ptr, "HTTP/1.1 400"));
    skiff_buf_release(&out);

    /* a declared body past the cap is refused before it is sent */
    {
        static const char big[] = "POST /echo HTTP/1.1\r\nHost: x\r\n"
                                  "Content-Length: 104857600\r\n\r\n";
        raw_socket(big, strlen(big), &out);
        assert_true(skiff_str_startswith(out.ptr, "HTTP/1.1 413"));
        skiff_buf_release(&out);
    }
    /* a chunked upload that goes on long after the cap loses its connection */
    {
        struct raw r;
        CURLcode cc = raw_request("POST", "/echo", NULL, 4 << 20, &r);
        if (cc == CURLE_OK && r.status != 413)
            fail_msg("status %ld curl %d body %s", r.status, cc, r.body.ptr);
        raw_release(&r);
    }
    /* request line + headers past header_limit (4096 here): 431 */
    {
        struct skiff_buf rq = SKIFF_BUF_INIT;
        skiff_buf_puts(&rq, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: ");
        for (int i = 0; i < 5000; i++)
            skiff_buf_putc(&rq, 'a');
        skiff_buf_puts(&rq, "\r\n\r\n");
        raw_socket(rq.ptr, rq.len, &out);
        assert_true(skiff_str_startswith(out.ptr, "HTTP/1.1 431"));
        skiff_buf_release(&out);
        /* far past it: MHD's own memory limit answers, still no crash */
        for (int i = 0; i < 60000; i++)
            skiff_buf_putc(&rq, 'b');
        raw_socket(rq.ptr, rq.len, &out);
        assert_true(skiff_str_startswith(out.ptr, "HTTP/1.1 4"));
        skiff_buf_release(&out);
        skiff_buf_release(&rq);
    }
    expect("GET", "/healthz", NULL, 200, "ok");
}

static void test_metrics_after_requests(void **state)
{
    struct skiff_buf out = SKIFF_BUF_INIT;
    char line[256];

    expect("GET", "/healthz", NULL, 200, "ok");
    expect("GET", "/healthz", NULL, 200, "ok");
    expect("GET", "/does/not/exist", NULL, 404, NULL);
    assert_int_equal(skiff_metrics_render(fx.metrics, &out), 0);
    /* every earlier test also hit /healthz: count at least the two above */
    char *p = strstr(out.ptr, "skiff_http_requests_total{route=\"/healthz\",method=\"GET\","
                              "code=\"200\"} ");
    assert_non_null(p);
    assert_true(atoi(p + strlen("skiff_http_requests_total{route=\"/healthz\",method=\"GET\","
                                "code=\"200\"} ")) >= 2);
    assert_non_null(strstr(out.ptr, "skiff_http_requests_total{route=\"unmatched\",method=\"GET\","
                                    "code=\"404\"} "));
    assert_non_null(strstr(out.ptr, "skiff_http_requests_total{route=\"/v1/models/{name}\","
                                    "method=\"GET\",code=\"200\"} "));
    assert_non_null(strstr(out.ptr, "# TYPE skiff_http_request_duration_seconds histogram\n"));
    assert_non_null(strstr(out.ptr, "skiff_http_request_duration_seconds_bucket{route=\"/healthz\","
                                    "le=\"+Inf\"} "));
    /* nothing is in flight once the last response has been sent (the
     * server leaves in-flight just after the client has its answer) */
    snprintf(line, sizeof line, "skiff_http_requests_in_flight 0\n");
    for (int i = 0; i < 50 && !strstr(out.ptr, line); i++) {
        usleep(20 * 1000);
        skiff_buf_reset(&out);
        assert_int_equal(skiff_metrics_render(fx.metrics, &out), 0);
    }
    assert_non_null(strstr(out.ptr, line));
    /* unknown methods fold into one label value */
    assert_non_null(strstr(out.ptr, "method=\"other\""));
    skiff_buf_release(&out);
}

struct client {
    int id, ok;
};

static void *client_thread(void *arg)
{
    struct client *c = arg;
    char path[128], want[96];

    /* no cmocka asserts off the main thread: count what went right */
    for (int i = 0; i < 50; i++) {
        struct skiff_err e = SKIFF_ERR_INIT;
        struct skiff_http_result res;
        snprintf(path, sizeof path, "%s/v1/models/m%d-%d:predict", fx.base, c->id, i);
        snprintf(want, sizeof want, "{\"name\":\"m%d-%d\",\"len\":2,\"body\":\"{}\"}",
                 c->id, i);
        if (skiff_http_request("POST", path, NULL, "application/json", "{}", 2, &res, &e) == 0 &&
            res.status == 200 && strcmp(res.body.ptr, want) == 0)
            c->ok++;
        skiff_buf_release(&res.body);
        skiff_buf_release(&res.headers);
    }
    return NULL;
}

static void test_concurrent_clients(void **state)
{
    struct skiff_metric *reqs = skiff_metrics_counter(fx.metrics, "skiff_http_requests_total",
                                                      "", "route,method,code");
    struct skiff_buf out = SKIFF_BUF_INIT;
    struct client c[8];
    pthread_t t[8];

    assert_non_null(reqs);
    for (int i = 0; i < 8; i++) {
        c[i] = (struct client){i, 0};
        assert_int_equal(pthread_create(&t[i], NULL, client_thread, &c[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(c[i].ok, 50);
    }
    assert_int_equal(skiff_metrics_render(fx.metrics, &out), 0);
    static const char key[] = "skiff_http_requests_total{route=\"/v1/models/{name}:predict\","
                              "method=\"POST\",code=\"200\"} ";
    char *p = strstr(out.ptr, key);
    assert_non_null(p);
    assert_true(atoi(p + strlen(key)) >= 400);
    skiff_buf_release(&out);
}

/* ---- graceful stop ---- */

struct slow_call {
    char url[128];
    long status;
    int rc;
    struct skiff_buf body;
};

static void *slow_thread(void *arg)
{
    struct slow_call *c = arg;
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_http_result res;

    c->rc = skiff_http_request("GET", c->url, NULL, NULL, NULL, 0, &res, &e);
    c->status = res.status;
    c->body = res.body;
    skiff_buf_release(&res.headers);
    return NULL;
}

struct stopper {
    struct skiff_http_server *srv;
    unsigned grace_ms;
};

static void *stop_thread(void *arg)
{
    struct stopper *s = arg;
    skiff_http_stop(s->srv, s->grace_ms);
    return NULL;
}

static void test_graceful_stop(void **state)
{
    static const struct skiff_route routes[] = {{"GET", "/slow", SKIFF_SCOPE_OPEN, h_slow, 0}};
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_http_server *srv;
    struct skiff_http_result res;
    struct skiff_http_opts o;
    struct slow_call call;
    pthread_t t;
    int port;

    skiff_http_opts_init(&o);
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    o.metrics = skiff_metrics_new();
    assert_int_equal(skiff_http_new(&o, &srv, &e), 0);
    assert_int_equal(skiff_http_add_routes(srv, routes, 1, NULL, NULL, &e), 0);
    assert_int_equal(skiff_http_start(srv, &e), 0);
    port = skiff_http_port(srv);
    memset(&call, 0, sizeof call);
    snprintf(call.url, sizeof call.url, "http://127.0.0.1:%d/slow", port);
    slow_started = false;
    assert_int_equal(pthread_create(&t, NULL, slow_thread, &call), 0);
    pthread_mutex_lock(&slow_mu);
    while (!slow_started)
        pthread_cond_wait(&slow_cv, &slow_mu);
    pthread_mutex_unlock(&slow_mu);
    /* the handler is running: stop waits for it, then closes */
    struct stopper sp = {srv, 5000};
    pthread_t ts;
    assert_int_equal(pthread_create(&ts, NULL, stop_thread, &sp), 0);
    usleep(150 * 1000);
    /* while it waits, new clients are refused at once, not left hanging */
    assert_int_equal(skiff_http_request("GET", call.url, NULL, NULL, NULL, 0, &res, &e),
                     SKIFF_EUNAVAIL);
    pthread_join(ts, NULL);
    pthread_join(t, NULL);
    assert_int_equal(call.rc, 0);
    assert_int_equal(call.status, 200);
    assert_string_equal(call.body.ptr, "slow done");
    skiff_buf_release(&call.body);
    /* nobody listens any more */
    assert_int_equal(skiff_http_request("GET", call.url, NULL, NULL, NULL, 0, &res, &e),
                     SKIFF_EUNAVAIL);
    skiff_http_free(srv);
    skiff_metrics_free(o.metrics);
}

/* ---- failure paths ---- */

static void test_port_in_use(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_http_server *srv;
    struct skiff_http_opts o;
    char listen[64];

    skiff_http_opts_init(&o);
    snprintf(listen, sizeof listen, "127.0.0.1:%d", fx.port);
    o.listen = listen;
    o.metrics = fx.metrics;
    assert_int_equal(skiff_http_new(&o, &srv, &e), 0);
    assert_int_equal(skiff_http_start(srv, &e), SKIFF_EUNAVAIL);
    assert_int_equal(e.cause_errno, EADDRINUSE);
    assert_non_null(strstr(e.msg, listen));
    assert_int_equal(skiff_http_port(srv), 0);
    skiff_http_stop(srv, 0); /* never started: nothing to do */
    skiff_http_free(srv);
    /* the first server is untouched */
    expect("GET", "/healthz", NULL, 200, "ok");
}

static void test_client_errors(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_http_result res;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    char url[128], want[160];
    int fd, port;

    /* a port nobody listens on: bind one, never listen, keep it reserved */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    port = ntohs(sa.sin_port);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/models", port);
    assert_int_equal(skiff_http_request("GET", url, "tok", NULL, NULL, 0, &res, &e),
                     SKIFF_EUNAVAIL);
    snprintf(want, sizeof want,
             "no skiff platform at http://127.0.0.1:%d (start one with 'skiff up')", port);
    assert_string_equal(e.msg, want);
    assert_int_equal(res.body.len, 0);
    skiff_buf_release(&res.body);
    skiff_buf_release(&res.headers);
    close(fd);

    assert_int_equal(skiff_http_request("GET", "http://[::1/x", NULL, NULL, NULL, 0, &res, &e),
                     SKIFF_EINVAL);
    assert_int_equal(skiff_http_request("GET", "ftp://127.0.0.1/x", NULL, NULL, NULL, 0, &res,
                                        &e), SKIFF_EINVAL);
    assert_int_equal(skiff_http_request(NULL, url, NULL, NULL, NULL, 0, &res, &e), SKIFF_EINVAL);
    assert_int_equal(skiff_http_request("GET", url, "a\r\nX-Evil: 1", NULL, NULL, 0, &res, &e),
                     SKIFF_EINVAL);
}

static void test_client_response_headers(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_http_result res;
    char url[300], v[32];

    snprintf(url, sizeof url, "%s/echo", fx.base);
    assert_int_equal(skiff_http_request("POST", url, NULL, "text/plain", "hello", 5, &res, &e), 0);
    assert_int_equal(res.status, 201);
    assert_true(skiff_http_result_header(&res, "x-body-len", v, sizeof v));
    assert_string_equal(v, "5");
    assert_true(skiff_http_result_header(&res, "Content-Type", v, sizeof v));
    assert_string_equal(v, "application/octet-stream");
    assert_false(skiff_http_result_header(&res, "X-Body", v, sizeof v));
    skiff_buf_release(&res.body);
    skiff_buf_release(&res.headers);
}

static void test_reply_helpers(void **state)
{
    struct skiff_http_resp resp = {.status = 200, .body = SKIFF_BUF_INIT};
    struct skiff_err e = SKIFF_ERR_INIT;

    for (int i = 0; i < SKIFF_HTTP_MAX_HEADERS; i++)
        assert_int_equal(skiff_http_add_header(&resp, "X-A", "1"), 0);
    assert_int_equal(skiff_http_add_header(&resp, "X-A", "1"), SKIFF_ENOMEM);
    assert_int_equal(skiff_http_reply(&resp, 202, NULL, "abc", 3), 0);
    assert_int_equal(resp.status, 202);
    assert_string_equal(resp.body.ptr, "abc");
    skiff_err_set(&e, SKIFF_ECONFLICT, "run 'r1' is \"active\"\n");
    skiff_http_errfmt_default(&e, &resp);
    assert_int_equal(resp.status, 409);
    assert_string_equal(resp.body.ptr, "{\"error\":{\"code\":\"ECONFLICT\",\"message\":"
                                       "\"run 'r1' is \\\"active\\\"\\n\"}}");
    skiff_buf_release(&resp.body);
}

int main(void)
{
    const struct CMUnitTest unit[] = {
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_add_routes_checks),
        cmocka_unit_test(test_listen_addresses),
        cmocka_unit_test(test_reply_helpers),
        cmocka_unit_test(test_graceful_stop),
    };
    const struct CMUnitTest served[] = {
        cmocka_unit_test(test_routes_params_and_priority),
        cmocka_unit_test(test_not_found_and_method),
        cmocka_unit_test(test_bad_escapes),
        cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_client_response_headers),
        cmocka_unit_test(test_stream_body),
        cmocka_unit_test(test_stream_disconnect),
        cmocka_unit_test(test_handler_errors),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_no_verifier_refuses),
        cmocka_unit_test(test_malformed_input),
        cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_client_errors),
        cmocka_unit_test(test_concurrent_clients),
        cmocka_unit_test(test_metrics_after_requests),
    };
    int failed;

    /* the access log would drown the test report: keep errors only */
    skiff_log_set_level(SKIFF_LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    failed = cmocka_run_group_tests_name("http", unit, NULL, NULL);
    failed += cmocka_run_group_tests_name("http server", served, start_server, stop_server);
    curl_global_cleanup();
    return failed;
}
