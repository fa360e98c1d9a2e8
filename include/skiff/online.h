/* Online feature store: the latest feature values per entity, read in
 * microseconds by the feature server and, in-process, by serving.
 *
 * Two backends behind one interface: LMDB (embedded, under SKIFF_HOME, the
 * default) and Redis (hiredis, `online_store: redis://host:port[/db]`).
 * Every value carries its event timestamp, so a value older than its view's
 * ttl reads as OUTSIDE_MAX_AGE and a missing one as NOT_FOUND (Feast's
 * statuses, specs/feast.md).
 *
 * Thread-safety: one handle is shared by every thread; reads run in
 * parallel (an LMDB read transaction per call; Redis connections per
 * thread), writes are serialised.
 */
#ifndef SKIFF_ONLINE_H
#define SKIFF_ONLINE_H

#include <stddef.h>
#include <stdint.h>

struct skiff_err;
struct skiff_feat_service;
struct skiff_online;

/* Feast's per-value statuses. */
enum skiff_online_status {
    SKIFF_ONLINE_PRESENT = 0,
    SKIFF_ONLINE_NOT_FOUND,
    SKIFF_ONLINE_OUTSIDE_MAX_AGE,
};
const char *skiff_online_status_name(enum skiff_online_status s);   /* "PRESENT" ... */

/* Opens the store named by `spec`: "lmdb" (a database under home/online/),
 * "lmdb:/abs/dir", or "redis://host:port[/db]". Caller frees with
 * skiff_online_close. */
int skiff_online_open(const char *spec, const char *home, struct skiff_online **out,
                      struct skiff_err *err);
void skiff_online_close(struct skiff_online *o);

/* The number of features a service yields, in its order (views in the
 * service's order, each view's projected features in definition order). */
size_t skiff_online_service_width(const struct skiff_feat_service *svc);
/* The name ("view__feature" when full, else "feature") of feature i. */
const char *skiff_online_service_feature(const struct skiff_feat_service *svc, size_t i);

/* Enrichment, without JSON or copies: the feature vector of one entity for
 * a service at time now_us (UTC µs). entity_values[k] is the value (as
 * text) of the service's k-th join key. Writes width values (NaN unless
 * PRESENT; numeric features only: a STRING feature reads as NaN),
 * statuses and event timestamps (0 when not found); statuses and event_ts
 * may be NULL. Returns 0 also when features are missing: that is a status,
 * not an error. */
int skiff_online_get_vector(struct skiff_online *o, const struct skiff_feat_service *svc,
                            const char *const *entity_values, size_t nentity, int64_t now_us,
                            double *values, enum skiff_online_status *statuses,
                            int64_t *event_ts, struct skiff_err *err);

#endif
