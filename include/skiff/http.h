/* HTTP server (libmicrohttpd) with declarative route tables, and a small
 * client (libcurl) for the CLI.
 *
 * A subsystem declares its routes in a table; the server runs the generic
 * checks once, before any handler: method and path matching (with {params}),
 * bearer-token authentication and the route's scope (401 / 403), the body
 * cap (413), the request deadline; then calls the handler, writes the access
 * log and records the route's metrics (requests and latency histogram).
 *
 *   static const struct skiff_route feature_routes[] = {
 *       {"POST", "/get-online-features", "features:read",  h_get_online, 1 << 20},
 *       {"POST", "/push",                "features:write", h_push,       8 << 20},
 *   };
 *   skiff_http_add_routes(srv, feature_routes, 2, NULL, feature_ctx);
 *
 * Patterns: literal segments and "{name}" segments matching one path segment;
 * a final "{name...}" matches the rest of the path (slashes included);
 * a segment may also end with a "{name}" after a literal prefix, as in
 * "/v1/models/{name}:predict" (literal suffix after the param). Literal
 * routes win over parameterised ones; among those, the first declared wins.
 *
 * Streaming bodies: a route whose max_body has SKIFF_HTTP_STREAM set (e.g.
 * `SKIFF_HTTP_STREAM | (5ull << 30)` for artifacts) never holds its body in
 * memory. The server writes each piece, as it arrives, to an unlinked temp
 * file in opts.spool_dir and hands the handler a reader over it
 * (req->body_fd, positioned at 0, req->body_len bytes; req->body is ""). The
 * cap (max_body without the flag) still answers 413, by Content-Length before
 * any byte is read or as soon as a chunked body passes it. A client that
 * disconnects mid-upload never reaches the handler, and the temp file, being
 * unlinked from the start, vanishes with its descriptor: nothing is left.
 */
#ifndef SKIFF_HTTP_H
#define SKIFF_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "skiff/auth.h"
#include "skiff/buf.h"
#include "skiff/err.h"

struct skiff_arena;
struct skiff_metrics;

/* Route scope that needs no token (health, metrics, JWKS). */
#define SKIFF_SCOPE_OPEN NULL

#define SKIFF_HTTP_MAX_PARAMS 8
#define SKIFF_HTTP_MAX_HEADERS 8

/* Flag in skiff_route.max_body: spool the body to a temp file, see above. */
#define SKIFF_HTTP_STREAM (~(SIZE_MAX >> 1))

struct skiff_http_req {
    const char *method;            /* "GET", ... */
    const char *path;              /* URL-decoded path without the query string */
    const char *body;              /* NUL-terminated; "" when there is none or
                                      when the route streams (body_streamed) */
    size_t body_len;               /* bytes of the body, streamed or not */
    bool body_streamed;            /* SKIFF_HTTP_STREAM route: read body_fd */
    int body_fd;                   /* when body_streamed: the spooled body, at
                                      offset 0; borrowed, the server closes it
                                      after the handler returns */
    struct skiff_arena *arena;     /* freed when the response has been queued */
    const struct skiff_auth_claims *claims; /* NULL on open routes */
    void *ctx;                     /* the ctx given to skiff_http_add_routes */
    void *conn;                    /* private: the libmicrohttpd connection */
    int nparams;
    const char *param_names[SKIFF_HTTP_MAX_PARAMS];
    const char *param_values[SKIFF_HTTP_MAX_PARAMS];
};

struct skiff_http_resp {
    int status;                    /* default 200 */
    const char *content_type;      /* default "application/json" */
    struct skiff_buf body;         /* freed by the server after sending */
    int nheaders;
    const char *header_names[SKIFF_HTTP_MAX_HEADERS];  /* arena or static strings */
    const char *header_values[SKIFF_HTTP_MAX_HEADERS];
    bool has_file;                 /* set by skiff_http_reply_fd: the body is */
    int file_fd;                   /* file_len bytes of file_fd, sent from the */
    uint64_t file_len;             /* file (never read into memory) */
};

/* A handler returns 0 after filling `resp`, or an error code with `err` set:
 * the server then answers with the route group's error formatter (default:
 * {"error":{"code":"ENOTFOUND","message":"..."}} with the code's status). */
typedef int (*skiff_http_handler_cb)(struct skiff_http_req *req, struct skiff_http_resp *resp,
                                     struct skiff_err *err);

/* Writes the body (and status) of an error response for `err`. */
typedef void (*skiff_http_errfmt_cb)(const struct skiff_err *err, struct skiff_http_resp *resp);

struct skiff_route {
    const char *method;            /* "GET", "PUT", "POST", "DELETE", "PATCH", "HEAD" */
    const char *pattern;           /* "/api/v1/{plural}/{name}" */
    const char *scope;             /* required token scope, or SKIFF_SCOPE_OPEN */
    skiff_http_handler_cb handler;
    size_t max_body;               /* bytes; 0 = no body accepted (413 if one comes);
                                      | SKIFF_HTTP_STREAM: spool to a file */
};

struct skiff_http_opts {
    const char *listen;            /* "127.0.0.1:8080"; port 0 picks a free port */
    unsigned threads;              /* worker threads, default 4 */
    unsigned max_connections;      /* default 1024 */
    unsigned header_limit;         /* bytes of request line + headers, default 16 KiB */
    unsigned timeout_s;            /* idle connection timeout, default 30 */
    struct skiff_auth *auth;       /* token verifier; NULL refuses every scoped route (401) */
    struct skiff_metrics *metrics; /* where request metrics go; NULL = skiff_metrics_default() */
    bool access_log;               /* one log line per request, default on via skiff_http_opts_init */
    const char *spool_dir;         /* where streamed bodies are spooled; NULL =
                                      $TMPDIR, else /tmp. Borrowed: must outlive
                                      the server */
};

void skiff_http_opts_init(struct skiff_http_opts *o);

struct skiff_http_server;

/* Creates a server (not yet listening). Caller frees with skiff_http_free. */
int skiff_http_new(const struct skiff_http_opts *opts, struct skiff_http_server **out,
                   struct skiff_err *err);
/* Adds a route table. `routes` must outlive the server (normally static).
 * `errfmt` NULL = the default JSON error body. Not after skiff_http_start. */
int skiff_http_add_routes(struct skiff_http_server *srv, const struct skiff_route *routes,
                          size_t n, skiff_http_errfmt_cb errfmt, void *ctx,
                          struct skiff_err *err);
/* The open probe routes every skiff server answers: GET /healthz and GET
 * /metrics (the default registry, Prometheus text). Static; ctx unused. */
const struct skiff_route *skiff_http_probe_routes(size_t *n);
/* Starts listening and serving on worker threads. */
int skiff_http_start(struct skiff_http_server *srv, struct skiff_err *err);
/* The port actually bound (after start), e.g. when listen asked for port 0. */
int skiff_http_port(const struct skiff_http_server *srv);
/* Graceful stop: stop accepting, let in-flight requests finish (up to
 * grace_ms), then close. Safe to call once from any thread but a handler. */
void skiff_http_stop(struct skiff_http_server *srv, unsigned grace_ms);
/* Stops if running and frees. Accepts NULL. */
void skiff_http_free(struct skiff_http_server *srv);

/* Request helpers. Returned strings are borrowed from the request (valid
 * until the handler returns). NULL when absent. */
const char *skiff_http_param(const struct skiff_http_req *req, const char *name);
const char *skiff_http_query(const struct skiff_http_req *req, const char *key);
const char *skiff_http_header(const struct skiff_http_req *req, const char *name);

/* Response helpers; each returns 0 or SKIFF_ENOMEM. */
int skiff_http_reply(struct skiff_http_resp *resp, int status, const char *content_type,
                     const char *body, size_t len);
int skiff_http_reply_json(struct skiff_http_resp *resp, int status, const char *json_text);
int skiff_http_add_header(struct skiff_http_resp *resp, const char *name, const char *value);
/* Answers with the first `len` bytes of the open file `fd`, streamed from the
 * file as the client reads (large downloads stay out of memory). Takes `fd`
 * over: the server closes it, also when the handler then returns an error.
 * Returns 0. */
int skiff_http_reply_fd(struct skiff_http_resp *resp, int status, const char *content_type,
                        int fd, uint64_t len);
/* The default error body: {"error":{"code":"ENOTFOUND","message":"..."}}. */
void skiff_http_errfmt_default(const struct skiff_err *err, struct skiff_http_resp *resp);

/* Exposed for unit tests: does `path` match `pattern`? Fills names/values
 * (pointers into the arena) and returns true on a match. */
bool skiff_http_match(const char *pattern, const char *path, struct skiff_arena *arena,
                      int *nparams, const char **names, const char **values);

/* ---- client (the CLI talking to `skiff up`) ---- */

struct skiff_http_result {
    long status;
    struct skiff_buf body;         /* caller releases with skiff_buf_release */
    struct skiff_buf headers;      /* raw response header lines ("Name: value\r\n"),
                                      capped at 64 KiB; caller releases */
};

/* The value of response header `name` (case-insensitive, first one), copied
 * into out[n] without surrounding whitespace. False when absent. */
bool skiff_http_result_header(const struct skiff_http_result *res, const char *name, char *out,
                              size_t n);

/* One request. `token` NULL sends no Authorization header; `body` NULL sends
 * none. A connection failure returns SKIFF_EUNAVAIL with a message that says
 * the platform is not running at `url` and how to start it. An HTTP error
 * status is not an error of this call: look at res->status. */
int skiff_http_request(const char *method, const char *url, const char *token,
                       const char *content_type, const char *body, size_t body_len,
                       struct skiff_http_result *res, struct skiff_err *err);

#endif
