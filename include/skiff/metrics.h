/* Metrics registry: counters, gauges and histograms with labels, exposed in
 * the Prometheus text exposition format (version 0.0.4) at GET /metrics.
 *
 *   struct skiff_metric *reqs = skiff_metrics_counter(m, "skiff_http_requests_total",
 *                                   "HTTP requests by route and status.", "route,code");
 *   skiff_metric_inc(reqs, (const char *[]){"/healthz", "200"}, 1);
 *
 * Registering the same name twice returns the same metric (so modules may
 * register lazily). Metrics are never freed before their registry.
 * Thread-safe: every update takes the metric's own mutex.
 */
#ifndef SKIFF_METRICS_H
#define SKIFF_METRICS_H

#include <stddef.h>

struct skiff_buf;
struct skiff_metrics;
struct skiff_metric;

/* Process-wide registry (created on first use, freed at exit). */
struct skiff_metrics *skiff_metrics_default(void);
/* A separate registry, for tests. Caller frees with skiff_metrics_free. */
struct skiff_metrics *skiff_metrics_new(void);
void skiff_metrics_free(struct skiff_metrics *m);

/* `labels`: comma-separated label names, or NULL for none. Returns NULL when
 * the name was registered with another type or label set, or out of memory.
 * Borrowed: valid as long as the registry. */
struct skiff_metric *skiff_metrics_counter(struct skiff_metrics *m, const char *name,
                                           const char *help, const char *labels);
struct skiff_metric *skiff_metrics_gauge(struct skiff_metrics *m, const char *name,
                                         const char *help, const char *labels);
/* `bounds`: ascending upper bounds (the +Inf bucket is added), n of them;
 * NULL uses the default latency buckets 0.0005s ... 10s. */
struct skiff_metric *skiff_metrics_histogram(struct skiff_metrics *m, const char *name,
                                             const char *help, const char *labels,
                                             const double *bounds, size_t n);

/* `values`: one per label name, in order (NULL when the metric has none).
 * Each accepts a NULL metric and does nothing. */
void skiff_metric_inc(struct skiff_metric *mt, const char *const *values, double v);
void skiff_metric_set(struct skiff_metric *mt, const char *const *values, double v);
void skiff_metric_observe(struct skiff_metric *mt, const char *const *values, double v);

/* Appends the whole registry in the text format. Returns 0 or SKIFF_ENOMEM. */
int skiff_metrics_render(struct skiff_metrics *m, struct skiff_buf *out);

#endif
