/* The open routes every skiff server answers: GET /healthz (liveness) and
 * GET /metrics (Prometheus text). One table, so `skiff up`, `skiff serve`
 * and `skiff features serve` probe and scrape alike. */
#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/http.h"
#include "skiff/metrics.h"

static int h_healthz(struct skiff_http_req *req, struct skiff_http_resp *resp,
                     struct skiff_err *err)
{
    return skiff_http_reply_json(resp, 200, "{\"status\":\"ok\"}");
}

static int h_metrics(struct skiff_http_req *req, struct skiff_http_resp *resp,
                     struct skiff_err *err)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    int rc = skiff_metrics_render(skiff_metrics_default(), &b);
    if (rc == 0)
        rc = skiff_http_reply(resp, 200, "text/plain; version=0.0.4; charset=utf-8", b.ptr, b.len);
    skiff_buf_release(&b);
    return rc ? skiff_err_set(err, rc, "cannot render metrics") : 0;
}

static const struct skiff_route probe_routes[] = {
    {"GET", "/healthz", SKIFF_SCOPE_OPEN, h_healthz, 0},
    {"GET", "/metrics", SKIFF_SCOPE_OPEN, h_metrics, 0},
};

const struct skiff_route *skiff_http_probe_routes(size_t *n)
{
    *n = sizeof probe_routes / sizeof *probe_routes;
    return probe_routes;
}
