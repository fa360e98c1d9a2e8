/* Resources: the kinds table, validation, and the stored form of objects.
 *
 * Everything a user declares is a resource with apiVersion, kind,
 * metadata.name and spec. One table lists the kinds (DESIGN.md): for each,
 * its group/version, plural, short names, whether it is an upstream kind
 * (unknown fields are kept and warned about, never rejected) and a
 * validator of its required fields.
 *
 * Validation runs in two places with the same code: the CLI before sending
 * (errors carry file:line:column through skiff_yaml_pos) and the API server
 * on every write (errors carry the field path).
 */
#ifndef SKIFF_RESOURCE_H
#define SKIFF_RESOURCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct skiff_buf;
struct skiff_err;
struct skiff_store;
struct skiff_yaml_docs;
struct skiff_route;

/* The folder (absolute) of the file an object was applied from, set by
 * `skiff apply`: relative paths inside the object resolve against it. */
#define SKIFF_ANNOTATION_APPLIED_FROM "skiff.dev/applied-from"

/* Collects warnings and the first error of one validation. */
struct skiff_validation {
    const struct skiff_yaml_docs *docs;  /* positions, when validating a file; or NULL */
    size_t doc_index;
    struct skiff_err *err;               /* receives the first error */
    char **warnings;                     /* malloc'd strings: skiff_validation_release */
    size_t nwarnings;
};

/* Records an error at JSON pointer `ptr` (with file:line:col when docs are
 * known, else "field spec.x.y: ..."). Returns `code`. Only the first sticks. */
int skiff_validation_fail(struct skiff_validation *v, const char *ptr, int code,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void skiff_validation_warn(struct skiff_validation *v, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void skiff_validation_release(struct skiff_validation *v);

/* Checks the kind's required fields. Returns 0 or the error code. */
typedef int (*skiff_kind_validate_cb)(const json_t *obj, struct skiff_validation *v);

/* What metadata.name may be. Kubernetes kinds: an RFC 1123 subdomain.
 * Feature-store kinds keep Feast's names (user_stats, fraud_detection_v3),
 * which users already write in code: letters, digits, '_', '-' and '.'. */
enum skiff_name_rule { SKIFF_NAMES_DNS1123, SKIFF_NAMES_FEAST };

struct skiff_kind {
    const char *kind;          /* "InferenceService" */
    const char *group;         /* "serving.kserve.io" */
    const char *versions;      /* accepted versions, comma-separated: "v1beta1" */
    const char *plural;        /* "inferenceservices" */
    const char *shorts;        /* comma-separated short names: "isvc" */
    bool upstream;             /* unknown fields warned about, not rejected */
    const char *const *spec_fields; /* known top-level spec fields, NULL-terminated */
    skiff_kind_validate_cb validate;
    enum skiff_name_rule names;
};

/* The kind whose name, plural or short name is `name`, any case; NULL if none. */
const struct skiff_kind *skiff_kind_lookup(const char *name);
/* The kind for an object's apiVersion + kind; SKIFF_EINVAL (with the
 * accepted apiVersions in the message) on a mismatch. */
int skiff_kind_for(const char *api_version, const char *kind, const struct skiff_kind **out,
                   struct skiff_err *err);
/* All kinds, in table order. */
const struct skiff_kind *skiff_kinds(size_t *n);

/* Validates one object: apiVersion/kind known, metadata.name (or
 * generateName) a DNS-1123 subdomain, spec an object, the kind's own checks,
 * warnings for unknown fields. On success *kind_out is set. */
int skiff_resource_validate(const json_t *obj, struct skiff_validation *v,
                            const struct skiff_kind **kind_out);

/* ---- stored objects (used by the API server) ---- */

/* Create or replace an object (kubectl apply semantics): the store assigns
 * metadata.uid, resourceVersion (a string, as on Kubernetes),
 * creationTimestamp and generation (incremented when spec changes). A
 * metadata.resourceVersion in `obj` that differs from the stored one is
 * SKIFF_ECONFLICT (409). A `status` in `obj` is ignored: status belongs to
 * controllers. `*stored` (may be NULL) receives the stored object: caller
 * json_decref's it. */
enum skiff_apply_result { SKIFF_APPLY_CREATED, SKIFF_APPLY_CONFIGURED, SKIFF_APPLY_UNCHANGED };
/* An apply whose object equals the stored one (apart from resourceVersion)
 * writes nothing and keeps the resourceVersion: SKIFF_APPLY_UNCHANGED.
 * `*result` (may be NULL) says which of the three happened. */
int skiff_resource_apply(struct skiff_store *s, const struct skiff_kind *k, json_t *obj,
                         json_t **stored, enum skiff_apply_result *result,
                         struct skiff_err *err);
/* Create only (POST): SKIFF_EEXIST when the name is taken. metadata.generateName
 * without a name gets a random 5-character suffix, as on Kubernetes. */
int skiff_resource_create(struct skiff_store *s, const struct skiff_kind *k, json_t *obj,
                          json_t **stored, struct skiff_err *err);
/* Replace status only (controllers). */
int skiff_resource_set_status(struct skiff_store *s, const struct skiff_kind *k,
                              const char *name, json_t *status, struct skiff_err *err);
/* Caller json_decref's *out. SKIFF_ENOTFOUND when absent. */
int skiff_resource_get(struct skiff_store *s, const struct skiff_kind *k, const char *name,
                       json_t **out, struct skiff_err *err);
/* A JSON array of every object of the kind, by name. Caller json_decref's. */
int skiff_resource_list(struct skiff_store *s, const struct skiff_kind *k, json_t **out,
                        struct skiff_err *err);
int skiff_resource_delete(struct skiff_store *s, const struct skiff_kind *k, const char *name,
                          struct skiff_err *err);

/* ---- admission (other subsystems may veto a write) ----
 *
 * Like a Kubernetes validating admission webhook, but in-process: a
 * subsystem registers a callback for some kinds, and every write of those
 * kinds (skiff_resource_apply, _create, _delete: the API's PUT, POST and
 * DELETE, a workflow's resource step, a GitOps sync) calls it with the
 * stored object and the new one before anything is written. The layer
 * below cannot know the rules of the layers above (a FeatureView that a
 * FeatureService reads must keep that field), so they are registered here
 * rather than linked in: src/resource never links the subsystems.
 *
 * The callback runs under one process-wide lock that also covers the
 * write, so two writes it judges cannot race (one removing a field, one
 * adding a service that reads it). It may read the store (skiff_resource_get,
 * _list, skiff_store_*) but must not write admitted kinds (that would wait
 * on itself). It is not called for an apply that changes nothing.
 *
 * `old_obj` is NULL on create, `new_obj` NULL on delete. Returning non-zero
 * refuses the write: a 4xx code (SKIFF_EINVAL, ECONFLICT, EFORBIDDEN, ...)
 * becomes SKIFF_EFORBIDDEN, HTTP 403, with the message
 *   admission "NAME" denied the request: <the callback's message>
 * as the Kubernetes API server answers a webhook's denial; any other code
 * (out of memory, the store unavailable) stays as it is, with
 *   admission "NAME" failed: <message>
 * (Kubernetes' failurePolicy Fail: a check that cannot run refuses). */
typedef int (*skiff_resource_admit_cb)(struct skiff_store *s, const struct skiff_kind *k,
                                       const json_t *old_obj, const json_t *new_obj, void *ctx,
                                       struct skiff_err *err);

/* Registers `cb` (with `ctx`, borrowed) under `name` (static, e.g.
 * "features.skiff.dev") for each kind in the NULL-terminated `kinds`
 * (names as skiff_kind_lookup takes them). A kind has at most one callback:
 * a second registration replaces the first; cb NULL removes it. Process-wide;
 * call at start-up, and with NULL before ctx goes away. SKIFF_EINVAL for an
 * unknown kind, SKIFF_ETOOBIG past 32 admitted kinds. Thread-safe. */
int skiff_resource_set_admission(const char *name, const char *const *kinds,
                                 skiff_resource_admit_cb cb, void *ctx, struct skiff_err *err);

/* "workflow.argoproj.io" (kubectl's name for a kind in messages). Static. */
const char *skiff_kind_qualified(const struct skiff_kind *k);

/* The resource API's route table: GET/POST /api/v1/{plural},
 * GET/PUT/DELETE /api/v1/{plural}/{name}, GET /api/v1 (the kinds). Register
 * with the struct skiff_store * as ctx. */
const struct skiff_route *skiff_resource_routes(size_t *n);

#endif
