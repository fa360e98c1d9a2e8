/* HTTP client on libcurl, for the CLI talking to `skiff up`: see
 * include/skiff/http.h.
 *
 * One easy handle per call: the CLI makes a handful of requests, so a
 * connection cache would buy nothing and would need a lifetime. libcurl's
 * global state is initialised once per process (pthread_once), as it is not
 * thread-safe to do from several threads at once.
 */
#include "http_int.h"

#include "skiff/buf.h"

#include <curl/curl.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define REQUEST_TIMEOUT_S 30L
#define CONNECT_TIMEOUT_S 10L
/* A response larger than this is refused rather than held in memory. */
#define MAX_RESPONSE (256u << 20)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct skiff_buf *b = userdata;
    size_t n = size * nmemb;
    /* a short count makes curl stop with CURLE_WRITE_ERROR */
    return skiff_buf_append(b, ptr, n) ? 0 : n;
}

/* "http://127.0.0.1:8080/api/v1/x" -> "http://127.0.0.1:8080": the platform
 * the user should start, without the path they asked for. */
static void origin_of(const char *url, char *out, size_t n)
{
    const char *s = strstr(url, "://"), *e;
    e = s ? strchr(s + 3, '/') : NULL;
    snprintf(out, n, "%.*s", e ? (int)(e - url) : (int)strlen(url), url);
}

int skiff_http_request(const char *method, const char *url, const char *token,
                       const char *content_type, const char *body, size_t body_len,
                       struct skiff_http_result *res, struct skiff_err *err)
{
    char errbuf[CURL_ERROR_SIZE] = "", origin[512];
    struct curl_slist *hdrs = NULL, *h;
    struct skiff_buf line = SKIFF_BUF_INIT;
    CURL *c = NULL;
    CURLcode cc;
    int rc = 0;

    res->status = 0;
    skiff_buf_init(&res->body, MAX_RESPONSE);
    skiff_buf_init(&res->headers, 64 << 10);
    if (!method || !url)
        return skiff_err_set(err, SKIFF_EINVAL, "request without method or URL");
    /* a token read from a file must not smuggle extra header lines */
    for (const char *p = token; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return skiff_err_set(err, SKIFF_EINVAL, "token holds a control character");
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return skiff_err_set(err, SKIFF_EINTERNAL, "cannot initialise libcurl: %s",
                             curl_easy_strerror(curl_init_rc));
    if (!(c = curl_easy_init()))
        return skiff_err_set(err, SKIFF_ENOMEM, "cannot create a curl handle");

#define ADD_HEADER(...)                                                         \
    do {                                                                        \
        skiff_buf_reset(&line);                                                 \
        if (skiff_buf_appendf(&line, __VA_ARGS__) ||                            \
            !(h = curl_slist_append(hdrs, line.ptr))) {                         \
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");             \
            goto out;                                                           \
        }                                                                       \
        hdrs = h;                                                               \
    } while (0)
    if (token)
        ADD_HEADER("Authorization: Bearer %s", token);
    if (body && content_type)
        ADD_HEADER("Content-Type: %s", content_type);
    /* no "Expect: 100-continue" round trip: the server answers 413 anyway */
    ADD_HEADER("Expect:");
#undef ADD_HEADER

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, REQUEST_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "skiff/" SKIFF_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &res->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &res->headers);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0 || body) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
        if (body || strcmp(method, "POST") == 0) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
        }
    }

    cc = curl_easy_perform(c);
    switch (cc) {
    case CURLE_OK:
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &res->status);
        break;
    case CURLE_COULDNT_CONNECT:
        origin_of(url, origin, sizeof origin);
        rc = skiff_err_set(err, SKIFF_EUNAVAIL,
                           "no skiff platform at %s (start one with 'skiff up')", origin);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        origin_of(url, origin, sizeof origin);
        rc = skiff_err_set(err, SKIFF_EUNAVAIL, "cannot resolve the host of %s: %s", origin,
                           errbuf[0] ? errbuf : curl_easy_strerror(cc));
        break;
    case CURLE_OPERATION_TIMEDOUT:
        rc = skiff_err_set(err, SKIFF_ETIMEDOUT, "%s %s: no answer within %ld s", method, url,
                           REQUEST_TIMEOUT_S);
        break;
    case CURLE_WRITE_ERROR:
        rc = skiff_err_set(err, SKIFF_ETOOBIG, "%s %s: response larger than %zu bytes",
                           method, url, res->body.max);
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        rc = skiff_err_set(err, SKIFF_EINVAL, "invalid URL '%s': %s", url,
                           errbuf[0] ? errbuf : curl_easy_strerror(cc));
        break;
    default:
        rc = skiff_err_set(err, SKIFF_EIO, "%s %s: %s", method, url,
                           errbuf[0] ? errbuf : curl_easy_strerror(cc));
    }
out:
    if (rc) {
        skiff_buf_release(&res->body);
        skiff_buf_release(&res->headers);
    }
    skiff_buf_release(&line);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return rc;
}

bool skiff_http_result_header(const struct skiff_http_result *res, const char *name, char *out,
                              size_t n)
{
    size_t nl = strlen(name);
    const char *p = res->headers.ptr;

    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1, *end = p + len;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
                end--;
            snprintf(out, n, "%.*s", (int)(end - v), v);
            return true;
        }
        p = eol ? eol + 1 : NULL;
    }
    return false;
}
