/* Private to src/resource: the helpers that per-kind validators share.
 *
 * A validator receives the whole object and a struct skiff_validation. It
 * reads fields through resource__field, which checks presence and type and
 * records the first error at the field's JSON pointer, and returns at the
 * first error (only the first one sticks, so going on would only cost time).
 * Pointers are built with resource__ptr* into caller-owned buffers of
 * RESOURCE__PTR_MAX bytes; a longer pointer is cut, which can only make an
 * error point at an ancestor.
 */
#ifndef SKIFF_RESOURCE_INT_H
#define SKIFF_RESOURCE_INT_H

#include "skiff/resource.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define RESOURCE__PTR_MAX 512

/* The JSON type a field must have. */
enum resource__type {
    RT_ANY,
    RT_OBJECT,
    RT_ARRAY,
    RT_STRING,
    RT_INT,
    RT_NUMBER,   /* integer or real */
    RT_BOOL,
};

/* Flags of resource__field. */
#define RF_REQUIRED 1u  /* absent (or null) is an error */
#define RF_NONEMPTY 2u  /* "" or [] or {} is an error */

/* base + "/" + key, the key escaped as RFC 6901 says (~0, ~1). Returns buf. */
const char *resource__ptr(char *buf, const char *base, const char *key);
/* base + "/" + index. Returns buf. */
const char *resource__ptr_idx(char *buf, const char *base, size_t i);

/* Reads obj[key] (obj is at pointer `ptr`). On success returns 0 and sets
 * *out (may be NULL) to the value, borrowed from obj, or to NULL when it is
 * absent or null and not required. Otherwise records the error and returns
 * SKIFF_EINVAL. */
int resource__field(struct skiff_validation *v, const json_t *obj, const char *ptr,
                    const char *key, enum resource__type type, unsigned flags,
                    const json_t **out);

/* obj[key], when present, is an object whose values are all strings. */
int resource__string_map(struct skiff_validation *v, const json_t *obj, const char *ptr,
                         const char *key);
/* obj[key], when present (or required), is an array of non-empty strings. */
int resource__string_list(struct skiff_validation *v, const json_t *obj, const char *ptr,
                          const char *key, unsigned flags);
/* obj[key], when present, is an integer in [min, max]. */
int resource__int_range(struct skiff_validation *v, const json_t *obj, const char *ptr,
                        const char *key, long long min, long long max);
/* obj[key], when present, is a string equal to one of `allowed` (NULL-terminated). */
int resource__enum(struct skiff_validation *v, const json_t *obj, const char *ptr,
                   const char *key, const char *const *allowed);

/* The index of the element of `arr` whose "name" is `name`, or -1. */
long resource__find_named(const json_t *arr, const char *name);
/* True when `s` is in the NULL-terminated list. */
bool resource__in_list(const char *s, const char *const *list);

/* Kubernetes name rules. */
bool resource__dns1123_subdomain(const char *s);  /* labels joined by dots, <= 253 */
bool resource__dns1123_label(const char *s);      /* one label, <= 63 */
bool resource__dns1035_label(const char *s);      /* a label starting with a letter */

/* ---- admission (admission.c) ---- */

enum resource__admit_op { RESOURCE__ADMIT_APPLY, RESOURCE__ADMIT_CREATE, RESOURCE__ADMIT_DELETE };

/* Before a write of kind k named `name` (NULL: a generated name, nothing
 * stored yet): when k has an admission callback, takes the admission lock
 * (*held = true), reads the stored object and asks the callback, unless
 * there is nothing to judge (see admission.c). Returns 0 or the refusal.
 * Whatever it returns, the caller writes only on 0 and then calls
 * resource__admit_end(*held). */
int resource__admit_begin(struct skiff_store *s, const struct skiff_kind *k, const char *name,
                          const json_t *new_obj, enum resource__admit_op op, bool *held,
                          struct skiff_err *err);
void resource__admit_end(bool held);

/* A copy of the object without what the platform sets (metadata.uid,
 * resourceVersion, generation, creationTimestamp, and status): what a
 * user's apply can change. Caller decrefs; NULL when out of memory. */
json_t *resource__user_view(const json_t *doc);

/* Per-kind validators (skiff_kind_validate_cb), one file per family. */
int resource__validate_workflow(const json_t *obj, struct skiff_validation *v);
int resource__validate_workflow_template(const json_t *obj, struct skiff_validation *v);
int resource__validate_cron_workflow(const json_t *obj, struct skiff_validation *v);
int resource__validate_application(const json_t *obj, struct skiff_validation *v);
int resource__validate_inference_service(const json_t *obj, struct skiff_validation *v);
int resource__validate_serving_runtime(const json_t *obj, struct skiff_validation *v);
int resource__validate_scaled_job(const json_t *obj, struct skiff_validation *v);
int resource__validate_entity(const json_t *obj, struct skiff_validation *v);
int resource__validate_data_source(const json_t *obj, struct skiff_validation *v);
int resource__validate_feature_view(const json_t *obj, struct skiff_validation *v);
int resource__validate_feature_service(const json_t *obj, struct skiff_validation *v);
int resource__validate_drift_monitor(const json_t *obj, struct skiff_validation *v);
int resource__validate_service_account(const json_t *obj, struct skiff_validation *v);
int resource__validate_role(const json_t *obj, struct skiff_validation *v);

#endif
