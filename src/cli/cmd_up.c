/* skiff up: the platform process.
 *
 * Start-up order: home folder (0700) and its lock (one `skiff up` per home),
 * config, store, blob store, token issuer and admin token, tracking, the
 * controllers (workflows, drift monitors, InferenceServices) and the online
 * store, their routes on one HTTP server, the endpoint file, then the
 * controllers' threads; then wait for SIGINT/SIGTERM. Shutdown runs the same list backwards:
 * stop accepting, let in-flight requests finish, close the store.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "skiff/auth.h"
#include "skiff/config.h"
#include "skiff/features.h"
#include "skiff/http.h"
#include "skiff/log.h"
#include "skiff/metrics.h"
#include "skiff/monitor.h"
#include "skiff/online.h"
#include "skiff/resource.h"
#include "skiff/serving.h"
#include "skiff/store.h"
#include "skiff/time.h"
#include "skiff/tracking.h"
#include "skiff/workflow.h"

const char cmd_up_usage[] =
    "Usage: skiff up [--home DIR] [--listen ADDR:PORT]\n\n"
    "Run the platform: the resource API, the controllers and every service, in\n"
    "one process, with state in DIR (SQLite, artifacts, signing key).\n\n"
    "Options:\n"
    "  --home DIR          platform home (env SKIFF_HOME, default ./.skiff)\n"
    "  --listen ADDR:PORT  where to serve (env SKIFF_LISTEN, default 127.0.0.1:8080);\n"
    "                      port 0 picks a free one, written to DIR/endpoint\n\n"
    "On first start it creates DIR/signing.key and DIR/admin.token (both mode\n"
    "0600); the CLI reads the token from there. Stop with Ctrl-C or SIGTERM.\n\n"
    "Configuration: DIR/config.yaml (optional), keys listen, store, online_store,\n"
    "artifacts, token_ttl, admin_token_ttl; the environment (SKIFF_LISTEN,\n"
    "SKIFF_STORE, ...) overrides the file, flags override both (docs/config.md).\n\n"
    "Examples:\n"
    "  skiff up\n"
    "  skiff up --home /var/lib/skiff --listen 0.0.0.0:8080\n"
    "  SKIFF_HOME=/tmp/demo skiff up --listen 127.0.0.1:0 &\n";

struct platform {
    struct skiff_config cfg;
    struct skiff_store *store;
    struct skiff_blob *blob;
    struct skiff_auth *auth;
    struct skiff_http_server *http;
    struct skiff_tracking *tracking;
    struct skiff_workflow_controller *workflows;
    struct skiff_online *online;                  /* online feature store (LMDB | Redis) */
    struct skiff_online_server *feature_server;   /* its Feast-compatible routes */
    struct skiff_mon_controller *monitors;   /* DriftMonitor controller + routes */
    struct skiff_serving *serving;  /* InferenceService controller + V2/V1 routes */
    int lock_fd;
    bool locked;    /* this process holds up.lock: the endpoint file is ours */
};

/* ---- system routes: JWKS, version (health and metrics: skiff_http_probe_routes) ---- */

static int h_jwks(struct skiff_http_req *req, struct skiff_http_resp *resp,
                  struct skiff_err *err)
{
    struct platform *p = req->ctx;
    struct skiff_buf b = SKIFF_BUF_INIT;
    int rc = skiff_auth_jwks(p->auth, &b);
    if (rc == 0)
        rc = skiff_http_reply_json(resp, 200, b.ptr);
    skiff_buf_release(&b);
    return rc ? skiff_err_set(err, rc, "cannot build the key set") : 0;
}

static int h_version(struct skiff_http_req *req, struct skiff_http_resp *resp,
                     struct skiff_err *err)
{
    struct platform *p = req->ctx;
    char body[128];
    snprintf(body, sizeof body, "{\"version\":\"%s\",\"schema\":%d}", SKIFF_VERSION,
             skiff_store_schema_version(p->store));
    return skiff_http_reply_json(resp, 200, body);
}

static const struct skiff_route system_routes[] = {
    {"GET", "/.well-known/jwks.json", SKIFF_SCOPE_OPEN, h_jwks, 0},
    {"GET", "/version", "resources:read", h_version, 0},
};

/* ---- start-up steps ---- */

static int make_home(struct platform *p, struct skiff_err *err)
{
    char path[4200];
    const char *home = p->cfg.home;

    if (mkdir(home, 0700) != 0 && errno != EEXIST)
        return skiff_err_sys(err, SKIFF_EIO, "cannot create home '%s'", home);
    snprintf(path, sizeof path, "%s/up.lock", home);
    p->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (p->lock_fd < 0)
        return skiff_err_sys(err, SKIFF_EIO, "cannot open '%s'", path);
    if (flock(p->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return skiff_err_set(err, SKIFF_EBUSY,
                             "another 'skiff up' is running with home '%s' (stop it, or use "
                             "--home for a second platform)", home);
    p->locked = true;
    return 0;
}

/* The admin token in home/admin.token: kept while it verifies and has more
 * than a day left, otherwise replaced. Its value is never logged. */
static int ensure_admin_token(struct platform *p, struct skiff_err *err)
{
    char path[4200], *tok = NULL;
    struct skiff_auth_claims c;
    int64_t now = time(NULL);
    int rc;

    snprintf(path, sizeof path, "%s/admin.token", p->cfg.home);
    if (skiff_auth_read_token_file(path, &tok, NULL) == 0 &&
        skiff_auth_verify(p->auth, tok, now, &c, NULL) == 0 && c.exp - now > 86400 &&
        skiff_auth_allows(&c, "admin")) {
        free(tok);
        return 0;
    }
    free(tok);
    tok = NULL;
    rc = skiff_auth_issue(p->auth, "system:admin", "admin", p->cfg.admin_token_ttl_s, &tok, err);
    if (rc == 0)
        rc = skiff_auth_write_token_file(path, tok, err);
    free(tok);
    if (rc == 0)
        skiff_info("wrote a new admin token to %s (mode 0600)", path);
    return rc;
}

static int write_endpoint(struct platform *p, struct skiff_err *err)
{
    char path[4200], url[300], host[256];
    const char *colon = strrchr(p->cfg.listen, ':');
    size_t hl = colon ? (size_t)(colon - p->cfg.listen) : strlen(p->cfg.listen);

    snprintf(host, sizeof host, "%.*s", (int)hl, p->cfg.listen);
    if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0')
        snprintf(host, sizeof host, "127.0.0.1");
    else if (strcmp(host, "[::]") == 0)
        snprintf(host, sizeof host, "[::1]");
    snprintf(url, sizeof url, "http://%s:%d", host, skiff_http_port(p->http));
    snprintf(path, sizeof path, "%s/endpoint", p->cfg.home);
    skiff_info("listening on %s (home %s)", url, p->cfg.home);
    return skiff_auth_write_token_file(path, url, err);
}

/* The controllers' threads, once the URL they hand out is known (the
 * endpoint file just written): steps call it back, drift alerts link their
 * reports under it, InferenceServices report it as status.url. */
static int start_controllers(struct platform *p, struct skiff_err *err)
{
    char path[4200], *url = NULL;
    int rc;

    snprintf(path, sizeof path, "%s/endpoint", p->cfg.home);
    if ((rc = skiff_auth_read_token_file(path, &url, err)) == 0 &&
        (rc = skiff_workflow_controller_start(p->workflows, url, err)) == 0 &&
        (rc = skiff_mon_controller_start(p->monitors, url, err)) == 0)
        rc = skiff_serving_start(p->serving, url, err);
    free(url);
    return rc;
}

static int start(struct platform *p, struct skiff_err *err)
{
    struct skiff_http_opts ho;
    const struct skiff_route *rr;
    size_t nr;
    int rc;

    if ((rc = make_home(p, err)) ||
        (rc = skiff_store_open(p->cfg.store, &p->store, err)) ||
        (rc = skiff_blob_open(p->cfg.artifacts, &p->blob, err)) ||
        (rc = skiff_auth_open(p->cfg.home, &p->auth, err)) ||
        (rc = ensure_admin_token(p, err)) ||
        (rc = skiff_tracking_open(p->store, p->blob, &p->tracking, err)))
        return rc;
    {
        struct skiff_workflow_controller_opts wo = {
            .store = p->store, .auth = p->auth, .home = p->cfg.home,
            .token_ttl_s = p->cfg.token_ttl_s, .artifacts = p->cfg.artifacts,
            .pools = p->cfg.pools,
        };
        skiff_workflow_set_artifact_max_unpacked(p->cfg.artifact_max_unpacked);
        if ((rc = skiff_workflow_controller_open(&wo, &p->workflows, err)))
            return rc;
    }
    skiff_http_opts_init(&ho);
    ho.listen = p->cfg.listen;
    ho.auth = p->auth;
    if ((rc = skiff_http_new(&ho, &p->http, err)))
        return rc;
    rr = skiff_http_probe_routes(&nr);
    if ((rc = skiff_http_add_routes(p->http, rr, nr, NULL, NULL, err)))
        return rc;
    rr = skiff_resource_routes(&nr);
    if ((rc = skiff_http_add_routes(p->http, system_routes,
                                    sizeof system_routes / sizeof *system_routes, NULL, p, err)) ||
        (rc = skiff_http_add_routes(p->http, rr, nr, NULL, p->store, err)))
        return rc;
    rr = skiff_feat_routes(&nr);
    /* writes of feature definitions that break a FeatureService in use are
     * refused server-side too (curl, GitOps), not only by skiff apply */
    if ((rc = skiff_http_add_routes(p->http, rr, nr, NULL, p->store, err)) ||
        (rc = skiff_feat_admission_install(err)))
        return rc;
    if ((rc = skiff_online_open(p->cfg.online_store, p->cfg.home, &p->online, err)) ||
        (rc = skiff_online_server_new(p->online, p->store, NULL, &p->feature_server, err)))
        return rc;
    rr = skiff_online_routes(&nr);
    if ((rc = skiff_http_add_routes(p->http, rr, nr, NULL, p->feature_server, err)))
        return rc;
    rr = skiff_workflow_routes(&nr);
    if ((rc = skiff_http_add_routes(p->http, rr, nr, NULL, p->workflows, err)))
        return rc;
    {
        struct skiff_mon_controller_opts mo = {p->store, p->blob, p->tracking, p->cfg.home};
        if ((rc = skiff_mon_controller_open(&mo, &p->monitors, err)))
            return rc;
        rr = skiff_mon_routes(&nr);
        if ((rc = skiff_http_add_routes(p->http, rr, nr, NULL, p->monitors, err)))
            return rc;
    }
    {
        struct skiff_serving_opts so = {.home = p->cfg.home, .store = p->store,
                                        .tracking = p->tracking, .online = p->online};
        if ((rc = skiff_serving_open(&so, &p->serving, err)))
            return rc;
        rr = skiff_serving_routes(&nr);
        if ((rc = skiff_http_add_routes(p->http, rr, nr, skiff_serving_errfmt, p->serving, err)))
            return rc;
    }
    rr = skiff_tracking_routes(&nr);
    if ((rc = skiff_http_add_routes(p->http, rr, nr, skiff_tracking_errfmt, p->tracking, err)) ||
        (rc = skiff_http_start(p->http, err)))
        return rc;
    return (rc = write_endpoint(p, err)) ? rc : start_controllers(p, err);
}

static void stop(struct platform *p)
{
    char path[4200];
    skiff_http_free(p->http);   /* stops gracefully if running */
    p->http = NULL;
    /* after the server: its workflow routes use the controller */
    skiff_workflow_controller_close(p->workflows);
    p->workflows = NULL;
    skiff_mon_controller_close(p->monitors);   /* after the server: its routes use it */
    p->monitors = NULL;
    skiff_serving_close(p->serving);   /* after the server: its routes use it */
    p->serving = NULL;
    skiff_feat_admission_remove();   /* after the server: no write is in flight */
    skiff_online_server_free(p->feature_server);   /* after the server: its routes use it */
    p->feature_server = NULL;
    skiff_online_close(p->online);
    p->online = NULL;
    skiff_tracking_close(p->tracking);
    skiff_store_close(p->store);
    skiff_blob_close(p->blob);
    skiff_auth_free(p->auth);
    if (p->locked) {
        snprintf(path, sizeof path, "%s/endpoint", p->cfg.home);
        unlink(path);
    }
    if (p->lock_fd >= 0)
        close(p->lock_fd);
}

int cmd_up(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"home", required_argument, NULL, 'H'},
        {"listen", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    struct platform p = {.lock_fd = -1};
    struct skiff_err err = SKIFF_ERR_INIT;
    const char *home = NULL, *listen = NULL;
    sigset_t sigs;
    int opt, sig = 0, rc;
    int64_t t0 = skiff_time_mono_us();

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'H': home = optarg; break;
        case 'l': listen = optarg; break;
        default: return cli_usage_error("up", "unknown option");
        }
    }
    if (optind < argc)
        return cli_usage_error("up", "unexpected argument '%s'", argv[optind]);
    if ((rc = skiff_config_load(home, &p.cfg, &err)))
        return cli_fail(&err);
    if (listen && (rc = skiff_config_set(&p.cfg, "listen", listen, &err)))
        return cli_fail(&err);

    /* Block the stop signals before any thread starts, so every thread
     * inherits the mask and only sigwait below receives them. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if ((rc = start(&p, &err))) {
        stop(&p);
        return rc == SKIFF_EBUSY ? (cli_fail(&err), CLI_FAILED) : cli_fail(&err);
    }
    skiff_info("ready in %.1f ms", (double)(skiff_time_mono_us() - t0) / 1000.0);
    sigwait(&sigs, &sig);
    skiff_info("received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    stop(&p);
    skiff_info("stopped");
    return CLI_OK;
}
