/* The payload log's URL sink: KServe's logger events, CloudEvents 1.0 in
 * HTTP binary content mode, POSTed from the logger's writer thread (never
 * from a request).
 *
 * One record makes up to two events with the same ce-id (the request id):
 *   ce-type org.kubeflow.serving.inference.request   data = the request body
 *   ce-type org.kubeflow.serving.inference.response  data = the response body
 * with ce-specversion 1.0, ce-source (the server's URL), ce-time, and
 * KServe's extensions ce-inferenceservicename, ce-namespace,
 * ce-component (predictor) and ce-endpoint (here: the revision that
 * answered). Content-Type is the data's (application/json).
 *
 * Retry: up to 3 tries (100 ms, then 300 ms apart) on a connection error,
 * a timeout, 408, 429 or 5xx; a 2xx is delivered, anything else is lost at
 * once. While the sink keeps failing (the last event to that URL was lost)
 * each event gets one try, so a receiver that is down costs the writer one
 * refused connection per event instead of stalling the queue; the queue
 * filling up then drops records at push time (both counted in
 * skiff_serving_payload_log_dropped_total).
 */
#include "serving_int.h"

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/log.h"
#include "skiff/time.h"

#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CE_TRIES 3
#define CE_TIMEOUT_MS 2000L
#define CE_CONNECT_TIMEOUT_MS 1000L

struct serving__ce {
    CURL *curl;                    /* one handle: keeps the connection alive */
    char failing_url[2048];        /* the last URL an event was lost to, or "" */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    /* libcurl's global init is thread-safe in this libcurl ("threadsafe"
     * feature) and reference counted: the HTTP client's own call is fine */
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int serving__ce_new(struct serving__ce **out, struct skiff_err *err)
{
    struct serving__ce *c;

    *out = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return skiff_err_set(err, SKIFF_EINTERNAL, "cannot initialise libcurl: %s",
                             curl_easy_strerror(curl_init_rc));
    if (!(c = calloc(1, sizeof *c)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if (!(c->curl = curl_easy_init())) {
        free(c);
        return skiff_err_set(err, SKIFF_ENOMEM, "cannot create a curl handle");
    }
    *out = c;
    return 0;
}

void serving__ce_free(struct serving__ce *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
    free(c);
}

void serving__ce_header_value(const char *in, char *out, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    if (!n)
        return;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        bool plain = *p > 0x20 && *p < 0x7f && *p != '"' && *p != '%';
        if (o + (plain ? 1 : 3) >= n)
            break;
        if (plain) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    (void)ptr, (void)userdata;
    return size * nmemb;
}

static int add_header(struct curl_slist **h, const char *name, const char *value)
{
    char enc[1024], line[1200];
    struct curl_slist *n;

    serving__ce_header_value(value, enc, sizeof enc);
    /* "Name:" with nothing after it removes a header curl would add */
    snprintf(line, sizeof line, enc[0] ? "%s: %s" : "%s:%s", name, enc);
    if (!(n = curl_slist_append(*h, line)))
        return SKIFF_ENOMEM;
    *h = n;
    return 0;
}

/* One POST. 0 delivered, 1 worth another try, -1 lost for good. */
static int post_once(struct serving__ce *c, const char *url, struct curl_slist *hdrs,
                     const char *data, size_t len)
{
    CURL *h = c->curl;
    long status = 0;
    CURLcode cc;

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, CE_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CE_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "skiff/" SKIFF_VERSION);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    cc = curl_easy_perform(h);
    if (cc != CURLE_OK)
        return 1;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300)
        return 0;
    return status == 408 || status == 429 || status >= 500 ? 1 : -1;
}

/* One event with its retries; true when delivered. */
static bool send_event(struct serving__ce *c, const struct serving__logrec *r, bool request,
                       const char *source, bool hurry)
{
    const struct serving__rev *rev = r->rev;
    const char *url = r->sink->url;
    const char *data = request ? r->body : r->body + r->req_len + 1;
    size_t len = request ? r->req_len : r->resp_len;
    struct curl_slist *hdrs = NULL;
    char ts[40];
    int tries = hurry || strcmp(c->failing_url, url) == 0 ? 1 : CE_TRIES, res = -1;
    static const long backoff_ms[] = {100, 300};

    skiff_time_format(r->ts_us, ts, sizeof ts);
    if (add_header(&hdrs, "Content-Type", "application/json") ||
        add_header(&hdrs, "ce-specversion", "1.0") ||
        add_header(&hdrs, "ce-id", r->id) ||
        add_header(&hdrs, "ce-type", request ? "org.kubeflow.serving.inference.request"
                                             : "org.kubeflow.serving.inference.response") ||
        add_header(&hdrs, "ce-source", source) ||
        add_header(&hdrs, "ce-time", ts) ||
        add_header(&hdrs, "ce-inferenceservicename", rev->svc->name) ||
        add_header(&hdrs, "ce-namespace", r->sink->ns) ||
        add_header(&hdrs, "ce-component", "predictor") ||
        add_header(&hdrs, "ce-endpoint", rev->name) ||
        add_header(&hdrs, "Expect", "")) {
        curl_slist_free_all(hdrs);
        return false;
    }
    for (int t = 0; t < tries; t++) {
        if (t) {
            struct timespec ts_sleep = {0, backoff_ms[t - 1] * 1000000L};
            nanosleep(&ts_sleep, NULL);
        }
        if ((res = post_once(c, url, hdrs, data, len)) <= 0)
            break;
    }
    curl_slist_free_all(hdrs);
    if (res == 0) {
        if (c->failing_url[0] && strcmp(c->failing_url, url) == 0) {
            skiff_info("payload log: %s accepts events again", url);
            c->failing_url[0] = '\0';
        }
        return true;
    }
    if (strcmp(c->failing_url, url) != 0) {
        /* one warning per outage, not one per event */
        skiff_warn("payload log: cannot deliver events to %s; dropping them (counted in "
                   "skiff_serving_payload_log_dropped_total) until it answers", url);
        snprintf(c->failing_url, sizeof c->failing_url, "%s", url);
    }
    return false;
}

int serving__ce_send(struct serving__ce *c, const struct serving__logrec *r,
                     const char *source, bool hurry)
{
    int lost = 0;

    if (!c || !r->sink || !r->body)
        return (r->mode == 1) + 1;
    if (r->mode == 1 || r->mode == 2)
        lost += !send_event(c, r, true, source, hurry);
    if (r->mode == 1 || r->mode == 3)
        lost += !send_event(c, r, false, source, hurry);
    return lost;
}
