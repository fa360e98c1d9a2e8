/* Unit tests for src/http/metrics.c: registration rules, updates, the
 * Prometheus text format (checked by hand and by python3-prometheus-client's
 * parser), and concurrent updates. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/log.h"
#include "skiff/metrics.h"

static char *render(struct skiff_metrics *m)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    assert_int_equal(skiff_metrics_render(m, &b), 0);
    return skiff_buf_detach(&b);
}

static void test_registration(void **state)
{
    struct skiff_metrics *m = skiff_metrics_new();
    struct skiff_metric *c, *g, *h;

    c = skiff_metrics_counter(m, "jobs_total", "Jobs.", "queue, status");
    assert_non_null(c);
    /* same name and shape: the same metric (lazy registration) */
    assert_ptr_equal(skiff_metrics_counter(m, "jobs_total", "Other help.", "queue,status"), c);
    /* same name, other type or labels: refused */
    assert_null(skiff_metrics_gauge(m, "jobs_total", "Jobs.", "queue,status"));
    assert_null(skiff_metrics_counter(m, "jobs_total", "Jobs.", "queue"));
    assert_null(skiff_metrics_counter(m, "jobs_total", "Jobs.", "status,queue"));
    assert_null(skiff_metrics_counter(m, "jobs_total", "Jobs.", NULL));
    assert_null(skiff_metrics_histogram(m, "jobs_total", "Jobs.", "queue,status", NULL, 0));

    g = skiff_metrics_gauge(m, "queue_depth", "Depth.", NULL);
    assert_non_null(g);
    assert_ptr_equal(skiff_metrics_gauge(m, "queue_depth", NULL, ""), g);

    static const double b1[] = {0.1, 1}, b2[] = {0.1, 2};
    h = skiff_metrics_histogram(m, "latency_seconds", "Latency.", "route", b1, 2);
    assert_non_null(h);
    assert_ptr_equal(skiff_metrics_histogram(m, "latency_seconds", "x", "route", b1, 2), h);
    assert_null(skiff_metrics_histogram(m, "latency_seconds", "x", "route", b2, 2));
    assert_null(skiff_metrics_histogram(m, "latency_seconds", "x", "route", NULL, 0));

    /* invalid names, labels and bounds */
    assert_null(skiff_metrics_counter(m, "1abc", "", NULL));
    assert_null(skiff_metrics_counter(m, "a-b", "", NULL));
    assert_null(skiff_metrics_counter(m, "", "", NULL));
    assert_null(skiff_metrics_counter(m, NULL, "", NULL));
    assert_null(skiff_metrics_counter(m, "ok_total", "", "a,,b"));
    assert_null(skiff_metrics_counter(m, "ok_total", "", "a,a"));
    assert_null(skiff_metrics_counter(m, "ok_total", "", "__reserved"));
    assert_null(skiff_metrics_counter(m, "ok_total", "", "has:colon"));
    assert_null(skiff_metrics_histogram(m, "h1", "", "le", NULL, 0));
    static const double unsorted[] = {1, 0.5}, dup[] = {1, 1}, nan_b[] = {NAN};
    assert_null(skiff_metrics_histogram(m, "h2", "", NULL, unsorted, 2));
    assert_null(skiff_metrics_histogram(m, "h3", "", NULL, dup, 2));
    assert_null(skiff_metrics_histogram(m, "h4", "", NULL, nan_b, 1));
    assert_non_null(skiff_metrics_counter(m, "ns:sub_total", "", NULL));

    /* a NULL registry or metric is a no-op everywhere */
    assert_null(skiff_metrics_counter(NULL, "x", "", NULL));
    skiff_metric_inc(NULL, NULL, 1);
    skiff_metric_set(NULL, NULL, 1);
    skiff_metric_observe(NULL, NULL, 1);
    skiff_metrics_free(NULL);
    skiff_metrics_free(m);
}

static void test_render_format(void **state)
{
    struct skiff_metrics *m = skiff_metrics_new();
    static const double bounds[] = {0.1, 1, INFINITY};
    struct skiff_metric *c = skiff_metrics_counter(
        m, "reqs_total", "Requests\\by \"code\".\nSecond line.", "route,code");
    struct skiff_metric *g = skiff_metrics_gauge(m, "temp", "Temperature.", NULL);
    struct skiff_metric *h = skiff_metrics_histogram(m, "lat_seconds", "Latency.", "route",
                                                     bounds, 3);
    struct skiff_metric *e = skiff_metrics_counter(m, "empty_total", "Never updated.", "x");
    char *text;

    skiff_metric_inc(c, (const char *[]){"/a", "200"}, 1);
    skiff_metric_inc(c, (const char *[]){"/a", "200"}, 2);
    skiff_metric_inc(c, (const char *[]){"/b\"q\\\n", "500"}, 1);
    skiff_metric_inc(c, (const char *[]){NULL, "404"}, 1);
    skiff_metric_inc(c, (const char *[]){"/a", "200"}, -5);   /* counters only go up */
    skiff_metric_inc(c, (const char *[]){"/a", "200"}, NAN);
    skiff_metric_inc(c, NULL, 1);                              /* values missing */
    skiff_metric_set(c, (const char *[]){"/a", "200"}, 100);  /* not a gauge */
    skiff_metric_set(g, NULL, 21.5);
    skiff_metric_inc(g, NULL, -1);
    skiff_metric_observe(g, NULL, 3);                          /* not a histogram */
    skiff_metric_observe(h, (const char *[]){"/a"}, 0.05);
    skiff_metric_observe(h, (const char *[]){"/a"}, 0.1);     /* le is inclusive */
    skiff_metric_observe(h, (const char *[]){"/a"}, 0.5);
    skiff_metric_observe(h, (const char *[]){"/a"}, 3);
    skiff_metric_observe(h, (const char *[]){"/a"}, NAN);
    (void)e;

    text = render(m);
    assert_string_equal(
        text,
        "# HELP reqs_total Requests\\\\by \"code\".\\nSecond line.\n"
        "# TYPE reqs_total counter\n"
        "reqs_total{route=\"/a\",code=\"200\"} 3\n"
        "reqs_total{route=\"/b\\\"q\\\\\\n\",code=\"500\"} 1\n"
        "reqs_total{route=\"\",code=\"404\"} 1\n"
        "# HELP temp Temperature.\n"
        "# TYPE temp gauge\n"
        "temp 20.5\n"
        "# HELP lat_seconds Latency.\n"
        "# TYPE lat_seconds histogram\n"
        "lat_seconds_bucket{route=\"/a\",le=\"0.1\"} 2\n"
        "lat_seconds_bucket{route=\"/a\",le=\"1\"} 3\n"
        "lat_seconds_bucket{route=\"/a\",le=\"+Inf\"} 4\n"
        "lat_seconds_sum{route=\"/a\"} 3.65\n"
        "lat_seconds_count{route=\"/a\"} 4\n"
        "# HELP empty_total Never updated.\n"
        "# TYPE empty_total counter\n");
    free(text);

    /* a capped output buffer: the render fails instead of growing past it */
    struct skiff_buf small;
    skiff_buf_init(&small, 64);
    assert_int_not_equal(skiff_metrics_render(m, &small), 0);
    skiff_buf_release(&small);
    skiff_metrics_free(m);
}

static void test_unlabelled_start_at_zero(void **state)
{
    struct skiff_metrics *m = skiff_metrics_new();
    char *text;

    skiff_metrics_counter(m, "starts_total", "Starts.", NULL);
    skiff_metrics_histogram(m, "d_seconds", "D.", NULL, (const double[]){1}, 1);
    text = render(m);
    assert_non_null(strstr(text, "\nstarts_total 0\n"));
    assert_non_null(strstr(text, "\nd_seconds_bucket{le=\"1\"} 0\nd_seconds_bucket{le=\"+Inf\"} 0\n"
                                 "d_seconds_sum 0\nd_seconds_count 0\n"));
    free(text);
    skiff_metrics_free(m);
}

/* python3-prometheus-client (Debian's, so /usr/bin/python3) reads the output
 * back and checks the values: the format is what a real scraper parses. */
static void test_prometheus_parser_reads_it(void **state)
{
    static const char script[] =
        "import sys\n"
        "from prometheus_client.parser import text_string_to_metric_families\n"
        "fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}\n"
        "reqs = fams['skiff_http_requests']\n"
        "assert reqs.type == 'counter', reqs.type\n"
        "s = {(x.labels['route'], x.labels['code']): x.value for x in reqs.samples}\n"
        "assert s[('/v1/models/{name}:predict', '200')] == 7, s\n"
        "assert s[('we\"ird\\\\\\n', '500')] == 1, s\n"
        "lat = fams['skiff_http_request_duration_seconds']\n"
        "assert lat.type == 'histogram'\n"
        "b = {x.labels['le']: x.value for x in lat.samples if x.name.endswith('_bucket')}\n"
        "assert b['0.0005'] == 0 and b['0.01'] == 1 and b['0.25'] == 2 and b['+Inf'] == 3, b\n"
        "cnt = [x.value for x in lat.samples if x.name.endswith('_count')]\n"
        "assert cnt == [3], cnt\n"
        "g = fams['skiff_http_requests_in_flight']\n"
        "assert g.type == 'gauge' and g.samples[0].value == 2\n"
        "doc = fams['help_escapes'].documentation\n"
        "assert doc == 'a\\\\b\\nc', repr(doc)\n"
        "print('parsed', len(fams), 'families')\n";
    char dir[] = "/tmp/skiff-test-metrics-XXXXXX", prom[128], py[128], cmd[512];
    struct skiff_metrics *m = skiff_metrics_new();
    struct skiff_metric *c, *h, *g;
    FILE *f;
    char *text;
    int st;

    /* python3 and its prometheus_client come with scripts/install-deps.sh */
    assert_int_equal(access("/usr/bin/python3", X_OK), 0);
    c = skiff_metrics_counter(m, "skiff_http_requests_total", "HTTP requests.",
                              "route,method,code");
    h = skiff_metrics_histogram(m, "skiff_http_request_duration_seconds", "Latency.", "route",
                                NULL, 0);
    g = skiff_metrics_gauge(m, "skiff_http_requests_in_flight", "In flight.", NULL);
    skiff_metrics_counter(m, "help_escapes", "a\\b\nc", NULL);
    for (int i = 0; i < 7; i++)
        skiff_metric_inc(c, (const char *[]){"/v1/models/{name}:predict", "POST", "200"}, 1);
    skiff_metric_inc(c, (const char *[]){"we\"ird\\\n", "GET", "500"}, 1);
    skiff_metric_observe(h, (const char *[]){"/x"}, 0.007);
    skiff_metric_observe(h, (const char *[]){"/x"}, 0.2);
    skiff_metric_observe(h, (const char *[]){"/x"}, 42);
    skiff_metric_inc(g, NULL, 3);
    skiff_metric_inc(g, NULL, -1);

    assert_non_null(mkdtemp(dir));
    snprintf(prom, sizeof prom, "%s/metrics.prom", dir);
    snprintf(py, sizeof py, "%s/check.py", dir);
    text = render(m);
    assert_non_null(f = fopen(prom, "w"));
    fputs(text, f);
    fclose(f);
    assert_non_null(f = fopen(py, "w"));
    fputs(script, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", py, prom);
    st = system(cmd);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("prometheus_client could not read:\n%s", text);
    free(text);
    unlink(prom);
    unlink(py);
    rmdir(dir);
    skiff_metrics_free(m);
}

struct worker {
    struct skiff_metrics *m;
    int id;
};

static void *hammer(void *arg)
{
    struct worker *w = arg;
    char label[16];

    snprintf(label, sizeof label, "w%d", w->id % 2);
    for (int i = 0; i < 20000; i++) {
        /* registering lazily on every call, as modules may */
        struct skiff_metric *c = skiff_metrics_counter(w->m, "ops_total", "Ops.", "worker");
        struct skiff_metric *h = skiff_metrics_histogram(w->m, "op_seconds", "Op.", NULL,
                                                         NULL, 0);
        skiff_metric_inc(c, (const char *[]){label}, 1);
        skiff_metric_observe(h, NULL, 0.001);
        if (i % 5000 == 0) {
            struct skiff_buf b = SKIFF_BUF_INIT;
            skiff_metrics_render(w->m, &b);
            skiff_buf_release(&b);
        }
    }
    return NULL;
}

static void test_concurrent_updates(void **state)
{
    struct skiff_metrics *m = skiff_metrics_new();
    struct worker w[4];
    pthread_t t[4];
    char *text;

    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){m, i};
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    text = render(m);
    assert_non_null(strstr(text, "ops_total{worker=\"w0\"} 40000\n"));
    assert_non_null(strstr(text, "ops_total{worker=\"w1\"} 40000\n"));
    assert_non_null(strstr(text, "op_seconds_count 80000\n"));
    free(text);
    skiff_metrics_free(m);
}

static void test_series_cap(void **state)
{
    struct skiff_metrics *m = skiff_metrics_new();
    struct skiff_metric *c = skiff_metrics_counter(m, "by_user_total", "Per user.", "user");
    char v[32], *text;

    /* label values from requests must not grow memory without bound */
    for (int i = 0; i < 10010; i++) {
        snprintf(v, sizeof v, "u%d", i);
        skiff_metric_inc(c, (const char *[]){v}, 1);
    }
    skiff_metric_inc(c, (const char *[]){"u5"}, 1);   /* existing series still update */
    text = render(m);
    assert_non_null(strstr(text, "by_user_total{user=\"u9999\"} 1\n"));
    assert_null(strstr(text, "by_user_total{user=\"u10000\"}"));
    assert_non_null(strstr(text, "by_user_total{user=\"u5\"} 2\n"));
    free(text);
    skiff_metrics_free(m);
}

static void test_default_registry(void **state)
{
    struct skiff_metrics *d = skiff_metrics_default();
    assert_non_null(d);
    assert_ptr_equal(skiff_metrics_default(), d);
    skiff_metric_inc(skiff_metrics_counter(d, "default_total", "", NULL), NULL, 1);
    char *text = render(d);
    /* no help: no HELP line, TYPE still */
    assert_non_null(strstr(text, "# TYPE default_total counter\ndefault_total 1\n"));
    assert_null(strstr(text, "# HELP default_total"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registration),
        cmocka_unit_test(test_render_format),
        cmocka_unit_test(test_unlabelled_start_at_zero),
        cmocka_unit_test(test_prometheus_parser_reads_it),
        cmocka_unit_test(test_concurrent_updates),
        cmocka_unit_test(test_series_cap),
        cmocka_unit_test(test_default_registry),
    };
    skiff_log_set_level(SKIFF_LOG_OFF);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
