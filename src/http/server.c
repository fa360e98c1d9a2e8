/* HTTP server on libmicrohttpd: see include/skiff/http.h.
 *
 * Server states (each transition names the function that makes it):
 *
 *   NEW --skiff_http_start--> RUNNING --skiff_http_stop--> STOPPED
 *    |  skiff_http_add_routes                                 |
 *    +---------------- skiff_http_free (stops first) ---------+
 *
 * Route tables are only added in NEW, so the workers read them without a lock.
 *
 * One request, as libmicrohttpd (MHD) drives it on a worker thread:
 *
 *   uri_log        request line read: allocate `struct request` (arena, start
 *                  time, the raw URI), count it in flight
 *   on_request #1  headers read: header limit (431), path decoding (400),
 *                  route (404 / 405), token and scope (401 / 403),
 *                  Content-Length against max_body (413). A failure queues
 *                  its response here, and MHD then never reads the body.
 *   on_request #k  a piece of the body: appended up to max_body (written to
 *                  the unlinked spool file on SKIFF_HTTP_STREAM routes, so
 *                  memory stays flat); past it the rest is discarded (not
 *                  stored) and the answer will be 413; past DISCARD_MAX
 *                  more, the connection is dropped
 *   on_request #n  body complete: the handler runs, the response is queued,
 *                  the access log and metrics are written, the arena freed
 *   on_completed   response sent or connection gone: free `struct request`,
 *                  leave in-flight; skiff_http_stop waits for that count
 *
 * Invariant: a request's response is queued at most once (`responded`), and
 * its arena is freed when it is (or in on_completed when it never was).
 */
#include "http_int.h"

#include "skiff/arena.h"
#include "skiff/buf.h"
#include "skiff/log.h"
#include "skiff/metrics.h"
#include "skiff/time.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bytes of an over-long body read and thrown away so that the client still
 * gets its 413; a client that keeps sending after that loses the connection. */
#define DISCARD_MAX (1u << 20)
/* Grace period of a skiff_http_free that finds the server running. */
#define FREE_GRACE_MS 5000

enum srv_state { SRV_NEW, SRV_RUNNING, SRV_STOPPED };

struct group {
    const struct skiff_route *routes;
    size_t n;
    skiff_http_errfmt_cb errfmt;
    void *ctx;
};

struct skiff_http_server {
    struct skiff_http_opts opts;   /* opts.listen points at `listen` */
    char *listen;
    char *host;                    /* "127.0.0.1", "::1", "localhost" */
    char *port_str;
    struct group *groups;
    size_t ngroups;
    enum srv_state state;
    struct MHD_Daemon *daemon;
    int port;

    pthread_mutex_t mu;            /* guards in_flight */
    pthread_cond_t idle;           /* signalled when in_flight drops to 0 */
    unsigned in_flight;

    struct skiff_metric *m_requests, *m_duration, *m_in_flight;
    uint64_t token_cache_id;       /* unique per server: keys its cached tokens */
};

enum phase { PHASE_HEADERS, PHASE_BODY };

struct request {
    struct skiff_http_server *srv;
    struct skiff_arena *arena;
    const char *raw_path;          /* arena: the path as sent, no query */
    const char *path;              /* arena: decoded */
    int64_t start_us;
    enum phase phase;
    bool responded;
    bool too_big;                  /* body past max_body: discard, answer 413 */
    bool no_memory;                /* body could not be stored: discard, answer 500 */
    bool spool_failed;             /* spool write failed (disk full): answer 500 */
    int spool_fd;                  /* SKIFF_HTTP_STREAM routes: unlinked temp file, or -1 */
    size_t spooled;                /* bytes written to spool_fd */
    size_t discarded;
    const struct skiff_route *route;
    const struct group *group;
    int nparams;
    struct http__span spans[SKIFF_HTTP_MAX_PARAMS];
    struct skiff_auth_claims *claims;  /* arena; NULL on open routes */
    struct skiff_buf body;
};

void skiff_http_opts_init(struct skiff_http_opts *o)
{
    memset(o, 0, sizeof *o);
    o->listen = "127.0.0.1:8080";
    o->threads = 4;
    o->max_connections = 1024;
    o->header_limit = 16 * 1024;
    o->timeout_s = 30;
    o->access_log = true;
}

/* ---- listen address ---- */

/* "127.0.0.1:8080", "localhost:0", "[::1]:0" -> host and port strings. IPv6
 * needs brackets: in "::1:8080" the port cannot be told from the address. */
static int parse_listen(const char *addr, char **host, char **port, struct skiff_err *err)
{
    const char *colon, *h, *he;
    char *end;
    long pn;

    if (!addr || !*addr)
        return skiff_err_set(err, SKIFF_EINVAL, "empty listen address");
    if (addr[0] == '[') {
        h = addr + 1;
        he = strchr(h, ']');
        if (!he || he[1] != ':')
            goto bad;
        colon = he + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
            goto bad;
        h = addr;
        he = colon;
    }
    if (he == h || !isdigit((unsigned char)colon[1]))
        goto bad;
    errno = 0;
    pn = strtol(colon + 1, &end, 10);
    if (*end != '\0' || errno || pn > 65535)
        goto bad;
    *host = strndup(h, (size_t)(he - h));
    *port = strdup(colon + 1);
    if (!*host || !*port) {
        free(*host);
        free(*port);
        *host = *port = NULL;
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    return 0;
bad:
    return skiff_err_set(err, SKIFF_EINVAL,
                         "invalid listen address '%s' (want HOST:PORT, e.g. 127.0.0.1:8080 "
                         "or [::1]:8080)", addr);
}

/* Binds and listens ourselves rather than through MHD, so that "address in
 * use" comes back as that, with its errno, instead of a bare start failure. */
static int bind_listen(struct skiff_http_server *srv, int *fd_out, int *family,
                       struct skiff_err *err)
{
    struct addrinfo hints, *res = NULL, *ai;
    int rc, fd = -1, saved = 0, one = 1;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(srv->host, srv->port_str, &hints, &res);
    if (rc != 0)
        return skiff_err_set(err, SKIFF_EINVAL, "cannot resolve listen address '%s': %s",
                             srv->listen, gai_strerror(rc));
    /* IPv4 first: "localhost" then means 127.0.0.1, as most clients try first */
    for (int pass = 0; pass < 2 && fd < 0; pass++) {
        for (ai = res; ai && fd < 0; ai = ai->ai_next) {
            if ((ai->ai_family == AF_INET) != (pass == 0))
                continue;
            fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                        ai->ai_protocol);
            if (fd < 0) {
                saved = errno;
                continue;
            }
            /* a restart must not wait for TIME_WAIT sockets of the last run */
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
                saved = errno;
                close(fd);
                fd = -1;
                continue;
            }
            *family = ai->ai_family;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        errno = saved;
        return skiff_err_sys(err, SKIFF_EUNAVAIL, "cannot listen on '%s'", srv->listen);
    }
    *fd_out = fd;
    return 0;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;

    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/* ---- lifecycle ---- */

/* The in-flight count and the condition skiff_http_stop waits on; the
 * grace period is measured on the monotonic clock. */
static int init_sync(struct skiff_http_server *srv)
{
    pthread_condattr_t ca;
    int rc;

    if (pthread_mutex_init(&srv->mu, NULL) != 0)
        return -1;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&srv->idle, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        pthread_mutex_destroy(&srv->mu);
        return -1;
    }
    return 0;
}

int skiff_http_new(const struct skiff_http_opts *opts, struct skiff_http_server **out,
                   struct skiff_err *err)
{
    struct skiff_http_server *srv;
    struct skiff_metrics *m;
    int rc = 0;

    *out = NULL;
    if (!(srv = calloc(1, sizeof *srv)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if (opts)
        srv->opts = *opts;
    else
        skiff_http_opts_init(&srv->opts);
    /* a zero field means the default, as skiff_http_opts_init sets it */
    if (!srv->opts.listen)
        srv->opts.listen = "127.0.0.1:8080";
    if (!srv->opts.threads)
        srv->opts.threads = 4;
    if (!srv->opts.max_connections)
        srv->opts.max_connections = 1024;
    if (!srv->opts.header_limit)
        srv->opts.header_limit = 16 * 1024;
    if (!srv->opts.timeout_s)
        srv->opts.timeout_s = 30;
    if (!(srv->listen = strdup(srv->opts.listen))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    srv->opts.listen = srv->listen;
    if ((rc = parse_listen(srv->listen, &srv->host, &srv->port_str, err)))
        goto out;
    if (init_sync(srv) != 0) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "cannot create the server's mutex");
        goto out;
    }
    m = srv->opts.metrics ? srv->opts.metrics : skiff_metrics_default();
    srv->m_requests = skiff_metrics_counter(m, "skiff_http_requests_total",
                                            "HTTP requests by route, method and status code.",
                                            "route,method,code");
    srv->m_duration = skiff_metrics_histogram(m, "skiff_http_request_duration_seconds",
                                              "Time from request line to response queued.",
                                              "route", NULL, 0);
    srv->m_in_flight = skiff_metrics_gauge(m, "skiff_http_requests_in_flight",
                                           "HTTP requests being served.", NULL);
    {
        /* never reused, unlike the server's address: a new server (with
         * perhaps another key) never sees an old one's cached tokens */
        static _Atomic uint64_t next_id;
        srv->token_cache_id = ++next_id;
    }
    srv->state = SRV_NEW;
    *out = srv;
    srv = NULL;
out:
    if (srv) {
        free(srv->host);
        free(srv->port_str);
        free(srv->listen);
        free(srv);
    }
    return rc;
}

int skiff_http_add_routes(struct skiff_http_server *srv, const struct skiff_route *routes,
                          size_t n, skiff_http_errfmt_cb errfmt, void *ctx,
                          struct skiff_err *err)
{
    static const char *const methods[] = {"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD",
                                          "OPTIONS"};
    struct group *g;

    if (!srv || (n && !routes))
        return skiff_err_set(err, SKIFF_EINVAL, "no server or no routes");
    if (srv->state != SRV_NEW)
        return skiff_err_set(err, SKIFF_EINVAL, "routes must be added before the server starts");
    for (size_t i = 0; i < n; i++) {
        const struct skiff_route *r = &routes[i];
        bool known = false;
        int rc;

        for (size_t k = 0; r->method && k < sizeof methods / sizeof *methods; k++)
            known |= strcmp(r->method, methods[k]) == 0;
        if (!known)
            return skiff_err_set(err, SKIFF_EINVAL, "route '%s': unknown method '%s'",
                                 r->pattern ? r->pattern : "(null)",
                                 r->method ? r->method : "(null)");
        if ((rc = http__pattern_check(r->pattern, err)))
            return rc;
        if (!r->handler)
            return skiff_err_set(err, SKIFF_EINVAL, "route '%s %s' has no handler", r->method,
                                 r->pattern);
    }
    g = realloc(srv->groups, (srv->ngroups + 1) * sizeof *g);
    if (!g)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    srv->groups = g;
    g[srv->ngroups].routes = routes;
    g[srv->ngroups].n = n;
    g[srv->ngroups].errfmt = errfmt ? errfmt : skiff_http_errfmt_default;
    g[srv->ngroups].ctx = ctx;
    srv->ngroups++;
    return 0;
}

/* ---- request state ---- */

static void in_flight_add(struct skiff_http_server *srv, int d)
{
    pthread_mutex_lock(&srv->mu);
    srv->in_flight += (unsigned)d;
    if (srv->in_flight == 0)
        pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->mu);
    skiff_metric_inc(srv->m_in_flight, NULL, d);
}

static struct request *request_new(struct skiff_http_server *srv, const char *uri)
{
    struct request *r = calloc(1, sizeof *r);
    const char *q;

    if (!r)
        return NULL;
    r->srv = srv;
    r->spool_fd = -1;
    r->start_us = skiff_time_mono_us();
    skiff_buf_init(&r->body, 0);
    if (!(r->arena = skiff_arena_new(0)))
        goto fail;
    /* an absolute-form target ("http://host/path") is reduced to its path */
    if (strncmp(uri, "http://", 7) == 0 || strncmp(uri, "https://", 8) == 0) {
        const char *slash = strchr(strstr(uri, "://") + 3, '/');
        uri = slash ? slash : "/";
    }
    q = strchr(uri, '?');
    r->raw_path = skiff_arena_strndup(r->arena, uri, q ? (size_t)(q - uri) : strlen(uri));
    if (!r->raw_path)
        goto fail;
    in_flight_add(srv, 1);
    return r;
fail:
    skiff_arena_free(r->arena);
    free(r);
    return NULL;
}

/* Closing the spool file is what deletes it: it was unlinked when made. */
static void spool_close(struct request *r)
{
    if (r->spool_fd >= 0)
        close(r->spool_fd);
    r->spool_fd = -1;
}

static void request_free(struct request *r)
{
    spool_close(r);
    skiff_arena_free(r->arena);
    skiff_buf_release(&r->body);
    free(r);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    return request_new(cls, uri);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct skiff_http_server *srv = cls;
    struct request *r = *con_cls;

    if (!r)
        return;
    *con_cls = NULL;
    if (!r->responded)
        skiff_log_kv(SKIFF_LOG_DEBUG, "request abandoned", "path",
                     r->raw_path ? r->raw_path : "", "reason",
                     toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout"
                     : toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? "shutdown"
                                                                      : "connection closed",
                     NULL);
    request_free(r);
    in_flight_add(srv, -1);
}

/* ---- responses ---- */

static const char *method_label(const char *m)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                                        "OPTIONS"};
    /* any other token a client sends would make a new series: fold them */
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(m, known[i]) == 0)
            return known[i];
    return "other";
}

/* The path for the log: as sent, with control bytes, spaces and quotes
 * escaped, so a request cannot forge log lines. */
static const char *log_path(struct request *r)
{
    static const char hex[] = "0123456789ABCDEF";
    const char *s = r->raw_path ? r->raw_path : "";
    char *o = skiff_arena_alloc(r->arena, strlen(s) * 3 + 1), *p = o;

    if (!o)
        return "-";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == 0x7f || c == '"' || c == '\\') {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        } else {
            *p++ = (char)c;
        }
    }
    *p = '\0';
    return o;
}

static void record(struct request *r, const char *method, int status, size_t bytes)
{
    struct skiff_http_server *srv = r->srv;
    const char *route = r->route ? r->route->pattern : "unmatched";
    double secs = (double)(skiff_time_mono_us() - r->start_us) / 1e6;
    char code[16], ms[32], nbytes[32];

    snprintf(code, sizeof code, "%d", status);
    skiff_metric_inc(srv->m_requests, (const char *[]){route, method_label(method), code}, 1);
    skiff_metric_observe(srv->m_duration, (const char *[]){route}, secs);
    if (!srv->opts.access_log || !skiff_log_enabled(SKIFF_LOG_INFO))
        return;
    snprintf(ms, sizeof ms, "%.3f", secs * 1e3);
    snprintf(nbytes, sizeof nbytes, "%zu", bytes);
    /* never the query string or the headers: they may carry tokens */
    skiff_log_kv(SKIFF_LOG_INFO, "request", "method", method_label(method), "path",
                 log_path(r), "route", route, "status", code, "duration_ms", ms, "bytes",
                 nbytes, NULL);
}

/* Queues `resp` (taking its body), records the request and frees the arena.
 * MHD_NO tells MHD to drop the connection: only when MHD itself failed. */
static enum MHD_Result send_resp(struct request *r, struct MHD_Connection *conn,
                                 const char *method, struct skiff_http_resp *resp)
{
    struct MHD_Response *mr;
    enum MHD_Result ok = MHD_NO;
    size_t len = resp->body.len;
    int status = resp->status;

    if (resp->has_file) {
        /* MHD reads the file as the client drains it, and closes it */
        len = (size_t)resp->file_len;
        mr = MHD_create_response_from_fd64(resp->file_len, resp->file_fd);
        if (!mr)
            close(resp->file_fd);
        resp->has_file = false;
    } else if (resp->body.cap) {
        /* MHD frees the body with free() once it has been sent */
        char *data = skiff_buf_detach(&resp->body);
        mr = MHD_create_response_from_buffer_with_free_callback(len, data, free);
        if (!mr)
            free(data);
    } else {
        mr = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!mr) {
        skiff_error("cannot create a response for '%s': out of memory", r->raw_path);
        goto out;
    }
    MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp->content_type ? resp->content_type : "application/json");
    for (int i = 0; i < resp->nheaders && i < SKIFF_HTTP_MAX_HEADERS; i++)
        if (!resp->header_names[i] || !resp->header_values[i] ||
            MHD_add_response_header(mr, resp->header_names[i], resp->header_values[i]) != MHD_YES)
            skiff_warn("route '%s': response header '%s' refused (empty, or with CR/LF)",
                       r->route ? r->route->pattern : "?",
                       resp->header_names[i] ? resp->header_names[i] : "(null)");
    ok = MHD_queue_response(conn, (unsigned)status, mr);
    MHD_destroy_response(mr);
out:
    r->responded = true;
    record(r, method, ok == MHD_YES ? status : 500, len);
    skiff_arena_free(r->arena);
    r->arena = NULL;
    r->raw_path = r->path = NULL;
    r->claims = NULL;
    skiff_buf_release(&r->body);
    spool_close(r);
    skiff_buf_release(&resp->body);
    return ok;
}

/* An error answered by the server itself: the group's formatter (the
 * default one before a route is known) writes the body; `hname`/`hvalue`
 * add one header (Allow, WWW-Authenticate) and `status` overrides the code's
 * own status when non-zero (431 has no code of its own). */
static enum MHD_Result send_error(struct request *r, struct MHD_Connection *conn,
                                  const char *method, const struct group *g,
                                  const struct skiff_err *e, int status, const char *hname,
                                  const char *hvalue)
{
    struct skiff_http_resp resp = {.status = skiff_err_http_status(e->code),
                                   .body = SKIFF_BUF_INIT};

    (g ? g->errfmt : skiff_http_errfmt_default)(e, &resp);
    if (status)
        resp.status = status;
    if (hname && resp.nheaders < SKIFF_HTTP_MAX_HEADERS) {
        resp.header_names[resp.nheaders] = hname;
        resp.header_values[resp.nheaders++] = hvalue;
    }
    return send_resp(r, conn, method, &resp);
}

/* ---- the generic checks, run once before any handler ---- */

static enum MHD_Result sum_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    size_t *total = cls;
    *total += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
    return MHD_YES;
}

struct pick {
    const struct skiff_route *rt;
    const struct group *g;
};

static void keep_first(struct pick *p, const struct skiff_route *rt, const struct group *g)
{
    if (!p->rt) {
        p->rt = rt;
        p->g = g;
    }
}

/* Picks the route for method + path: among routes whose method fits, the
 * first literal one, else the first parameterised one, across tables in the
 * order they were added; HEAD falls back to GET routes when no HEAD route
 * fits. When the path fits only other methods, *allow lists them (405) and
 * r->group is the table of the first such route, whose formatter answers. */
static void find_route(struct request *r, const char *method, const char **allow)
{
    struct pick lit = {0}, par = {0}, get_lit = {0}, get_par = {0}, other = {0};
    struct http__span spans[SKIFF_HTTP_MAX_PARAMS];
    char methods[96] = "";
    struct skiff_http_server *srv = r->srv;
    bool is_head = strcmp(method, "HEAD") == 0, has_get = false, has_head = false;

    *allow = NULL;
    for (size_t gi = 0; gi < srv->ngroups; gi++) {
        const struct group *g = &srv->groups[gi];
        for (size_t i = 0; i < g->n; i++) {
            const struct skiff_route *rt = &g->routes[i];
            bool literal = http__pattern_literal(rt->pattern);

            if (literal ? strcmp(rt->pattern, r->path) != 0
                        : http__match(rt->pattern, r->path, spans) < 0)
                continue;
            keep_first(&other, rt, g);
            if (strcmp(rt->method, method) == 0)
                keep_first(literal ? &lit : &par, rt, g);
            else if (is_head && strcmp(rt->method, "GET") == 0)
                keep_first(literal ? &get_lit : &get_par, rt, g);
            has_get |= strcmp(rt->method, "GET") == 0;
            has_head |= strcmp(rt->method, "HEAD") == 0;
            /* methods come from the fixed list checked in add_routes, so
             * seven of them always fit in `methods` */
            if (!strstr(methods, rt->method))
                snprintf(methods + strlen(methods), sizeof methods - strlen(methods), "%s%s",
                         methods[0] ? ", " : "", rt->method);
        }
    }
    if (!lit.rt && !par.rt) {
        lit = get_lit;
        par = get_par;
    }
    if (lit.rt || par.rt) {
        struct pick p = lit.rt ? lit : par;
        r->route = p.rt;
        r->group = p.g;
        r->nparams = lit.rt ? 0 : http__match(p.rt->pattern, r->path, r->spans);
        return;
    }
    if (!other.rt)
        return;
    if (has_get && !has_head)
        snprintf(methods + strlen(methods), sizeof methods - strlen(methods), ", HEAD");
    *allow = skiff_arena_strdup(r->arena, methods);
    if (!*allow)
        *allow = "GET";
    r->group = other.g;
}

/* Tokens this worker thread verified lately. An Ed25519 verification costs
 * tens of microseconds, more than a whole inference request: a client that
 * sends the same token on every request pays it once per thread. Only a
 * token that verified is kept, with its claims; its expiry is checked again
 * on every hit. Per thread, so no lock; fixed size, so nothing to free. */
#define TOKEN_CACHE_N 4
#define TOKEN_CACHE_LEN 1024
static _Thread_local struct {
    uint64_t server;               /* token_cache_id; 0 = empty slot */
    size_t len;
    char token[TOKEN_CACHE_LEN];
    struct skiff_auth_claims claims;
} token_cache[TOKEN_CACHE_N];
static _Thread_local unsigned token_cache_next;

static bool verified_cached(uint64_t server, const char *tok, struct skiff_auth_claims *out)
{
    size_t len = strlen(tok);

    for (int i = 0; i < TOKEN_CACHE_N; i++) {
        if (token_cache[i].server != server || token_cache[i].len != len ||
            memcmp(token_cache[i].token, tok, len) != 0)
            continue;
        if (token_cache[i].claims.exp <= (int64_t)time(NULL)) {
            token_cache[i].server = 0;   /* expired: verify (and fail) afresh */
            return false;
        }
        *out = token_cache[i].claims;
        return true;
    }
    return false;
}

static void remember_verified(uint64_t server, const char *tok,
                              const struct skiff_auth_claims *c)
{
    size_t len = strlen(tok);
    unsigned i;

    if (len >= TOKEN_CACHE_LEN)
        return;
    for (i = 0; i < TOKEN_CACHE_N; i++)
        if (token_cache[i].server == server && token_cache[i].len == len &&
            memcmp(token_cache[i].token, tok, len) == 0)
            return;
    i = token_cache_next++ % TOKEN_CACHE_N;
    token_cache[i].server = server;
    token_cache[i].len = len;
    memcpy(token_cache[i].token, tok, len);
    token_cache[i].claims = *c;
}

/* Bearer token and scope: 0 when the route may run, else the error and, for
 * a 401, the WWW-Authenticate challenge to send (RFC 6750). */
static int authorize(struct request *r, struct MHD_Connection *conn, struct skiff_err *e,
                     const char **challenge)
{
    const char *h, *tok;
    const char *scope = r->route->scope;

    *challenge = "Bearer realm=\"skiff\"";
    if (scope == SKIFF_SCOPE_OPEN)
        return 0;
    if (!r->srv->opts.auth)
        return skiff_err_set(e, SKIFF_EUNAUTH, "this server verifies no tokens");
    h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h)
        return skiff_err_set(e, SKIFF_EUNAUTH, "missing 'Authorization: Bearer' token");
    *challenge = "Bearer realm=\"skiff\", error=\"invalid_token\"";
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return skiff_err_set(e, SKIFF_EUNAUTH, "authorization is not a bearer token");
    for (tok = h + 7; *tok == ' '; tok++)
        ;
    if (!*tok || strchr(tok, ' '))
        return skiff_err_set(e, SKIFF_EUNAUTH, "malformed bearer token");
    if (!(r->claims = skiff_arena_calloc(r->arena, 1, sizeof *r->claims)))
        return skiff_err_set(e, SKIFF_ENOMEM, "out of memory");
    if (!verified_cached(r->srv->token_cache_id, tok, r->claims) &&
        skiff_auth_verify(r->srv->opts.auth, tok, (int64_t)time(NULL), r->claims, e)) {
        r->claims = NULL;
        /* whatever the verifier's code, a token that does not verify is a 401 */
        e->code = SKIFF_EUNAUTH;
        return SKIFF_EUNAUTH;
    }
    remember_verified(r->srv->token_cache_id, tok, r->claims);
    if (!skiff_auth_allows(r->claims, scope))
        return skiff_err_set(e, SKIFF_EFORBIDDEN, "token of '%s' lacks scope '%s'",
                             r->claims->sub, scope);
    return 0;
}

static bool streams(const struct skiff_route *rt)
{
    return (rt->max_body & SKIFF_HTTP_STREAM) != 0;
}

/* The route's body cap in bytes, without the stream flag. */
static size_t body_cap(const struct skiff_route *rt)
{
    return rt->max_body & ~SKIFF_HTTP_STREAM;
}

/* Opens the spool file of a streaming route and unlinks it at once, so that
 * whatever happens next (disconnect, crash) leaves no file behind. */
static int spool_open(struct request *r, struct skiff_err *e)
{
    const char *dir = r->srv->opts.spool_dir;
    char path[4096];
    int fd;

    if (!dir || !dir[0])
        dir = getenv("TMPDIR");
    if (!dir || !dir[0])
        dir = "/tmp";
    if ((size_t)snprintf(path, sizeof path, "%s/skiff-body-XXXXXX", dir) >= sizeof path)
        return skiff_err_set(e, SKIFF_EIO, "spool folder path too long");
    if ((fd = mkstemp(path)) < 0)
        return skiff_err_set(e, SKIFF_EIO, "cannot create a spool file in '%s': %s", dir,
                             strerror(errno));
    unlink(path);
    (void)fcntl(fd, F_SETFD, FD_CLOEXEC);
    r->spool_fd = fd;
    r->spooled = 0;
    return 0;
}

static enum MHD_Result begin(struct request *r, struct MHD_Connection *conn,
                             const char *method, const char *version)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_http_server *srv = r->srv;
    size_t hdr = strlen(method) + strlen(r->raw_path) + strlen(version) + 4;
    const char *allow, *cl, *challenge;
    char *dec;
    int rc;

    r->phase = PHASE_BODY;
    /* MHD bounds the headers by its connection memory (which is larger so
     * the body can stream through it too); this is the exact limit */
    MHD_get_connection_values(conn, MHD_HEADER_KIND, sum_header, &hdr);
    if (hdr > srv->opts.header_limit) {
        skiff_err_set(&e, SKIFF_ETOOBIG, "request line and headers exceed %u bytes",
                      srv->opts.header_limit);
        return send_error(r, conn, method, NULL, &e, MHD_HTTP_REQUEST_HEADER_FIELDS_TOO_LARGE,
                          NULL, NULL);
    }
    if (r->raw_path[0] != '/') {
        skiff_err_set(&e, SKIFF_EINVAL, "request target must be a path");
        return send_error(r, conn, method, NULL, &e, 0, NULL, NULL);
    }
    if (!(dec = skiff_arena_alloc(r->arena, strlen(r->raw_path) + 1))) {
        skiff_err_set(&e, SKIFF_ENOMEM, "out of memory");
        return send_error(r, conn, method, NULL, &e, 0, NULL, NULL);
    }
    if (!http__path_decode(r->raw_path, strlen(r->raw_path), dec)) {
        skiff_err_set(&e, SKIFF_EINVAL, "invalid percent-encoding in path");
        return send_error(r, conn, method, NULL, &e, 0, NULL, NULL);
    }
    r->path = dec;

    find_route(r, method, &allow);
    /* after routing, so that the route's own error format answers (MLflow
     * clients expect INVALID_PARAMETER_VALUE for an artifact path escape) */
    if (http__path_has_dots(dec)) {
        skiff_err_set(&e, SKIFF_EINVAL, "path has a '.' or '..' segment");
        return send_error(r, conn, method, r->group, &e, 0, NULL, NULL);
    }
    if (!r->route && allow) {
        skiff_err_set(&e, SKIFF_EMETHOD, "method %s not allowed on '%s' (allowed: %s)",
                      method_label(method), r->path, allow);
        return send_error(r, conn, method, r->group, &e, 0, MHD_HTTP_HEADER_ALLOW, allow);
    }
    if (!r->route) {
        skiff_err_set(&e, SKIFF_ENOTFOUND, "no route for '%s'", r->path);
        return send_error(r, conn, method, NULL, &e, 0, NULL, NULL);
    }

    if ((rc = authorize(r, conn, &e, &challenge)))
        return send_error(r, conn, method, r->group, &e, 0,
                          rc == SKIFF_EUNAUTH ? MHD_HTTP_HEADER_WWW_AUTHENTICATE : NULL,
                          challenge);

    cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        unsigned long long n;
        errno = 0;
        n = strtoull(cl, &end, 10);
        if (cl[0] < '0' || cl[0] > '9' || *end != '\0' || errno) {
            skiff_err_set(&e, SKIFF_EINVAL, "invalid Content-Length");
            return send_error(r, conn, method, r->group, &e, 0, NULL, NULL);
        }
        if (n > body_cap(r->route)) {
            skiff_err_set(&e, SKIFF_ETOOBIG, "request body of %llu bytes exceeds the %zu "
                          "allowed on '%s %s'", n, body_cap(r->route), r->route->method,
                          r->route->pattern);
            return send_error(r, conn, method, r->group, &e, 0, NULL, NULL);
        }
        /* a declared length within the cap is allocated once, up front */
        if (n && !streams(r->route) && skiff_buf_grow(&r->body, (size_t)n)) {
            skiff_err_set(&e, SKIFF_ENOMEM, "out of memory for a %llu-byte body", n);
            return send_error(r, conn, method, r->group, &e, 0, NULL, NULL);
        }
    }
    if (streams(r->route) && spool_open(r, &e))
        return send_error(r, conn, method, r->group, &e, 0, NULL, NULL);
    return MHD_YES;
}

/* Writes one piece of a streamed body; a failed write (disk full) marks the
 * request so that the rest is dropped and the answer is 500. */
static void spool_write(struct request *r, const char *data, size_t n)
{
    while (n && !r->spool_failed) {
        ssize_t w = write(r->spool_fd, data, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            r->spool_failed = true;
            spool_close(r);
            break;
        }
        data += w;
        n -= (size_t)w;
        r->spooled += (size_t)w;
    }
}

static enum MHD_Result take_body(struct request *r, const char *data, size_t n)
{
    size_t cap = body_cap(r->route);
    size_t have = streams(r->route) ? r->spooled : r->body.len;

    if (!r->too_big && n > cap - have) {
        r->too_big = true;
        skiff_buf_release(&r->body);
        spool_close(r);
    }
    if (r->too_big) {
        r->discarded += n;
        /* a streaming cap can be gigabytes: its allowance is DISCARD_MAX alone */
        return r->discarded > DISCARD_MAX + (streams(r->route) ? 0 : cap) ? MHD_NO : MHD_YES;
    }
    if (streams(r->route)) {
        spool_write(r, data, n);
        return MHD_YES;
    }
    if (!r->no_memory && skiff_buf_append(&r->body, data, n)) {
        /* the rest is read and dropped; the answer will be 500, never a
         * handler run on half a body */
        r->no_memory = true;
        skiff_buf_release(&r->body);
    }
    return MHD_YES;
}

static enum MHD_Result finish(struct request *r, struct MHD_Connection *conn,
                              const char *method)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_http_req req;
    struct skiff_http_resp resp = {.status = 200, .body = SKIFF_BUF_INIT};
    const struct skiff_route *rt = r->route;
    int rc;

    if (r->too_big) {
        skiff_err_set(&e, SKIFF_ETOOBIG, "request body exceeds the %zu bytes allowed on "
                      "'%s %s'", body_cap(rt), rt->method, rt->pattern);
        return send_error(r, conn, method, r->group, &e, 0, NULL, NULL);
    }
    if (r->spool_failed) {
        skiff_err_set(&e, SKIFF_EIO, "cannot spool the request body (disk full?)");
        return send_error(r, conn, method, r->group, &e, 0, NULL, NULL);
    }
    if (r->no_memory) {
        skiff_err_set(&e, SKIFF_ENOMEM, "out of memory for the request body");
        return send_error(r, conn, method, r->group, &e, 0, NULL, NULL);
    }
    memset(&req, 0, sizeof req);
    req.method = method;
    req.path = r->path;
    req.body = r->body.ptr;
    req.body_len = r->body.len;
    req.body_fd = -1;
    if (streams(rt)) {
        req.body = "";
        req.body_len = r->spooled;
        req.body_streamed = true;
        req.body_fd = r->spool_fd;
        if (lseek(r->spool_fd, 0, SEEK_SET) < 0) {
            skiff_err_set(&e, SKIFF_EIO, "cannot rewind the spooled body: %s", strerror(errno));
            return send_error(r, conn, method, r->group, &e, 0, NULL, NULL);
        }
    }
    req.arena = r->arena;
    req.claims = r->claims;
    req.ctx = r->group->ctx;
    req.conn = conn;
    for (int i = 0; i < r->nparams; i++) {
        req.param_names[i] = skiff_arena_strndup(r->arena, r->spans[i].name, r->spans[i].name_len);
        req.param_values[i] = skiff_arena_strndup(r->arena, r->spans[i].value,
                                                  r->spans[i].value_len);
        if (!req.param_names[i] || !req.param_values[i]) {
            skiff_err_set(&e, SKIFF_ENOMEM, "out of memory");
            return send_error(r, conn, method, r->group, &e, 0, NULL, NULL);
        }
    }
    req.nparams = r->nparams;

    rc = rt->handler(&req, &resp, &e);
    if (rc == 0 && resp.status >= 100 && resp.status <= 599)
        return send_resp(r, conn, method, &resp);
    if (rc == 0)
        rc = skiff_err_set(&e, SKIFF_EINTERNAL, "handler answered with invalid status %d",
                           resp.status);

    /* the handler's partial response is dropped for the error body */
    skiff_buf_release(&resp.body);
    if (resp.has_file)
        close(resp.file_fd);
    if (e.code != rc) {
        if (!e.msg[0])
            snprintf(e.msg, sizeof e.msg, "%s", skiff_err_default_msg(rc));
        e.code = rc;
    }
    if (skiff_err_http_status(rc) >= 500) {
        char msg[SKIFF_ERR_MSG_MAX + SKIFF_ERR_WHERE_MAX + 64];
        /* the router is the top of the stack for a request: log it here */
        skiff_log_kv(SKIFF_LOG_ERROR, "handler failed", "route", rt->pattern, "method",
                     method_label(method), "error", skiff_err_format(&e, msg, sizeof msg), NULL);
    }
    return send_error(r, conn, method, r->group, &e, 0, NULL, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct request *r = *con_cls;

    if (!r) {
        /* on_uri failed (out of memory): one more try, then drop */
        if (!(r = request_new(cls, url)))
            return MHD_NO;
        *con_cls = r;
    }
    if (r->responded) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->phase == PHASE_HEADERS)
        return begin(r, conn, method, version);
    if (*upload_size) {
        enum MHD_Result ok = take_body(r, upload_data, *upload_size);
        *upload_size = 0;
        return ok;
    }
    return finish(r, conn, method);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n;

    vsnprintf(msg, sizeof msg, fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    skiff_log_kv(SKIFF_LOG_DEBUG, "libmicrohttpd", "detail", msg, NULL);
}

int skiff_http_start(struct skiff_http_server *srv, struct skiff_err *err)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    int fd = -1, mfd, family = AF_INET, rc;
    struct MHD_OptionItem ops[8];
    int nops = 0;

    if (!srv || srv->state != SRV_NEW)
        return skiff_err_set(err, SKIFF_EINVAL, "server already started");
    if ((rc = bind_listen(srv, &fd, &family, err)))
        return rc;
    srv->port = bound_port(fd);
    /* MHD owns the socket it is given, but not reliably on every failure
     * path of MHD_start_daemon: give it a duplicate and always close ours */
    mfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    close(fd);
    if (mfd < 0)
        return skiff_err_sys(err, SKIFF_EUNAVAIL, "cannot listen on '%s'", srv->listen);

    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL
                                                                    : MHD_USE_POLL;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* the connection's memory pool holds the request line and headers, the
     * read buffer the body streams through and the response headers: room
     * for twice the header limit; the exact limit is checked in begin() */
    ops[nops++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                          (intptr_t)(2 * (size_t)srv->opts.header_limit + 8192),
                                          NULL};
    ops[nops++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT,
                                          (intptr_t)srv->opts.timeout_s, NULL};
    ops[nops++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT,
                                          (intptr_t)srv->opts.max_connections, NULL};
    if (srv->opts.threads > 1)
        ops[nops++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE,
                                              (intptr_t)srv->opts.threads, NULL};
    ops[nops++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, (intptr_t)mfd, NULL};
    ops[nops] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    /* the logger first: MHD reports on the options that follow through it */
    srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
                                   MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
                                   MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
                                   MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                                   MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (!srv->daemon)
        return skiff_err_set(err, SKIFF_EUNAVAIL,
                             "cannot start the HTTP server on '%s' (%u threads, %u connections)",
                             srv->listen, srv->opts.threads, srv->opts.max_connections);
    srv->state = SRV_RUNNING;
    skiff_debug("listening on http://%s%s%s:%d", family == AF_INET6 ? "[" : "", srv->host,
               family == AF_INET6 ? "]" : "", srv->port);
    return 0;
}

int skiff_http_port(const struct skiff_http_server *srv)
{
    return srv && srv->state != SRV_NEW ? srv->port : 0;
}

void skiff_http_stop(struct skiff_http_server *srv, unsigned grace_ms)
{
    struct timespec deadline;
    MHD_socket lfd;

    if (!srv || srv->state != SRV_RUNNING)
        return;
    /* 1. stop accepting: the listen socket leaves every worker's poll set,
     * and stops listening, so new clients are refused at once (and can try
     * another replica) instead of waiting in the backlog for a close */
    lfd = MHD_quiesce_daemon(srv->daemon);
    if (lfd != MHD_INVALID_SOCKET)
        shutdown(lfd, SHUT_RDWR);
    /* 2. let requests already in flight finish, up to grace_ms */
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += grace_ms / 1000;
    deadline.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&srv->mu);
    while (srv->in_flight > 0)
        if (pthread_cond_timedwait(&srv->idle, &srv->mu, &deadline) == ETIMEDOUT)
            break;
    if (srv->in_flight > 0)
        skiff_warn("stopping the HTTP server with %u requests still in flight", srv->in_flight);
    pthread_mutex_unlock(&srv->mu);
    /* 3. close every connection and join the workers (a handler still
     * running is waited for: a thread cannot be interrupted safely) */
    MHD_stop_daemon(srv->daemon);
    srv->daemon = NULL;
    /* after quiesce the listen socket is ours to close */
    if (lfd != MHD_INVALID_SOCKET)
        close(lfd);
    srv->state = SRV_STOPPED;
}

void skiff_http_free(struct skiff_http_server *srv)
{
    if (!srv)
        return;
    /* a server freed while running still lets its requests finish */
    skiff_http_stop(srv, FREE_GRACE_MS);
    pthread_cond_destroy(&srv->idle);
    pthread_mutex_destroy(&srv->mu);
    free(srv->groups);
    free(srv->host);
    free(srv->port_str);
    free(srv->listen);
    free(srv);
}

/* ---- request and response helpers ---- */

const char *skiff_http_param(const struct skiff_http_req *req, const char *name)
{
    for (int i = 0; i < req->nparams; i++)
        if (strcmp(req->param_names[i], name) == 0)
            return req->param_values[i];
    return NULL;
}

const char *skiff_http_query(const struct skiff_http_req *req, const char *key)
{
    return req->conn ? MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key) : NULL;
}

const char *skiff_http_header(const struct skiff_http_req *req, const char *name)
{
    return req->conn ? MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name) : NULL;
}

int skiff_http_reply(struct skiff_http_resp *resp, int status, const char *content_type,
                     const char *body, size_t len)
{
    resp->status = status;
    if (content_type)
        resp->content_type = content_type;
    skiff_buf_reset(&resp->body);
    return skiff_buf_append(&resp->body, body ? body : "", body ? len : 0) ? SKIFF_ENOMEM : 0;
}

int skiff_http_reply_json(struct skiff_http_resp *resp, int status, const char *json_text)
{
    return skiff_http_reply(resp, status, "application/json", json_text,
                            json_text ? strlen(json_text) : 0);
}

int skiff_http_add_header(struct skiff_http_resp *resp, const char *name, const char *value)
{
    /* the arrays are fixed: a ninth header is refused like a failed allocation */
    if (resp->nheaders >= SKIFF_HTTP_MAX_HEADERS)
        return SKIFF_ENOMEM;
    resp->header_names[resp->nheaders] = name;
    resp->header_values[resp->nheaders++] = value;
    return 0;
}

int skiff_http_reply_fd(struct skiff_http_resp *resp, int status, const char *content_type,
                        int fd, uint64_t len)
{
    skiff_buf_release(&resp->body);
    if (resp->has_file)
        close(resp->file_fd);
    resp->status = status;
    resp->content_type = content_type;
    resp->has_file = true;
    resp->file_fd = fd;
    resp->file_len = len;
    return 0;
}

void skiff_http_errfmt_default(const struct skiff_err *err, struct skiff_http_resp *resp)
{
    char msg[SKIFF_ERR_MSG_MAX + SKIFF_ERR_WHERE_MAX + 64];

    resp->status = skiff_err_http_status(err->code);
    resp->content_type = "application/json";
    skiff_buf_reset(&resp->body);
    skiff_err_format(err, msg, sizeof msg);
    /* on failure (out of memory) the body stays short or empty: the status
     * still tells the client what happened */
    if (skiff_buf_appendf(&resp->body, "{\"error\":{\"code\":\"%s\",\"message\":",
                          skiff_err_name(err->code)) ||
        skiff_buf_json_str(&resp->body, msg) || skiff_buf_puts(&resp->body, "}}"))
        skiff_buf_reset(&resp->body);
}
