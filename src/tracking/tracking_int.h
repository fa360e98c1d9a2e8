/* Declarations shared by the files of src/tracking/ (not public). */
#ifndef SKIFF_TRACKING_INT_H
#define SKIFF_TRACKING_INT_H

#include <stddef.h>
#include <stdint.h>

#include "skiff/buf.h"
#include "skiff/store.h"
#include "skiff/tracking.h"

struct skiff_arena;
struct skiff_err;

struct skiff_tracking {
    struct skiff_store *store;   /* borrowed */
};

/* A SQL statement being built: text plus its '?' parameters in order.
 * Strings the parameters point to live in `arena`. */
#define TRACKING__MAX_PARAMS 256

struct tracking__sql {
    struct skiff_buf text;
    struct skiff_store_val params[TRACKING__MAX_PARAMS];
    size_t n;
    struct skiff_arena *arena;
};

/* Appends a parameter; SKIFF_EINVAL (a search too long) past TRACKING__MAX_PARAMS. */
int tracking__param_text(struct tracking__sql *q, const char *s, struct skiff_err *err);
int tracking__param_int(struct tracking__sql *q, int64_t v, struct skiff_err *err);
int tracking__param_real(struct tracking__sql *q, double v, struct skiff_err *err);

/* Appends to q->text " AND (<clause>)" for each clause of a runs/search
 * filter (MLflow's SearchUtils grammar: <entity>.<key> <op> <value> joined by
 * AND), over the table alias "r" (tracking_runs). SKIFF_EINVAL with a message
 * naming the offending part on a bad filter. */
int tracking__runs_filter(struct tracking__sql *q, const char *filter, struct skiff_err *err);
/* Appends one ORDER BY term (with its trailing ", ") for an order_by string
 * such as "metrics.auc DESC" or "attributes.start_time". */
int tracking__runs_order(struct tracking__sql *q, const char *order_by, struct skiff_err *err);
/* Experiments: filter on name (=, !=, LIKE, ILIKE) and order_by of
 * name/experiment_id/creation_time/last_update_time, over alias "e". */
int tracking__exps_filter(struct tracking__sql *q, const char *filter, struct skiff_err *err);
int tracking__exps_order(struct tracking__sql *q, const char *order_by, struct skiff_err *err);

/* page_token: base64 of {"offset": N}, as MLflow makes it. `tok` NULL or ""
 * is offset 0. encode writes into out[n] (64 bytes are enough). */
int tracking__token_decode(const char *tok, int64_t *offset, struct skiff_err *err);
void tracking__token_encode(int64_t offset, char *out, size_t n);

#endif
