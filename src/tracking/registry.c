/* The model registry of the MLflow REST API (specs/mlflow.md section 4):
 * registered models, their versions, tags and aliases, over the tables of
 * migration 3 (tracking.c), and the one place model URIs are resolved
 * (skiff_tracking_resolve_uri).
 *
 * Invariants (each kept inside the skiff_store_tx that writes):
 *   - versions of a model are numbered 1, 2, ... : a new one is MAX + 1 read
 *     in the transaction that inserts it, so two concurrent registrations get
 *     different numbers (BEGIN IMMEDIATE serialises them);
 *   - an alias points at an existing version: deleting a version deletes the
 *     aliases on it, deleting a model deletes everything of it;
 *   - a version's stage is one of None, Staging, Production, Archived; with
 *     archive_existing_versions, moving one into Staging/Production moves the
 *     others of that stage to Archived in the same transaction.
 *
 * Version state (status is READY from creation: the client only polls while
 * PENDING_REGISTRATION, and skiff copies nothing on registration):
 *
 *   (create) --> None <--> Staging <--> Production --> Archived --> ...
 *                  transition-stage moves between any two; delete ends it
 *
 * Lineage: a version keeps the run it came from (run_id) and its source;
 * the run's tags skiff.workflow / skiff.step (set by the workflow engine's
 * steps, or by any client) say which workflow and step produced it.
 */
#include "tracking/tracking_int.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "skiff/arena.h"
#include "skiff/err.h"

#define MAX_ALIAS 255
#define MAX_DESCRIPTION 5000
#define MODELS_DEFAULT_RESULTS 100
#define MODELS_MAX_RESULTS 1000
#define VERSIONS_DEFAULT_RESULTS 10000
#define VERSIONS_MAX_RESULTS 200000
/* models:/a -> version -> runs:/... -> mlflow-artifacts:/...: a few hops;
 * more means a loop of versions pointing at each other */
#define MAX_URI_HOPS 8

#define MISSING TRACKING__MISSING

static const char *const stages[] = {"None", "Staging", "Production", "Archived"};

static const char *const version_names[] = {
    "name", "version", "creation_timestamp", "last_updated_timestamp", "current_stage",
    "description", "source", "run_id", "status", "run_link", NULL};
#define VERSION_SQL                                                                          \
    "SELECT name, CAST(version AS TEXT), creation_timestamp, last_updated_timestamp,"       \
    " current_stage, description, source, run_id, status, run_link"                          \
    " FROM tracking_model_versions"

static struct skiff_store_val v_null(void)
{
    return (struct skiff_store_val){.type = SKIFF_VAL_NULL};
}

/* Stage names are case-insensitive on input; the canonical (static) form,
 * or NULL for anything else. */
static const char *canon_stage(const char *s)
{
    for (size_t i = 0; i < sizeof stages / sizeof *stages; i++)
        if (strcasecmp(s, stages[i]) == 0)
            return stages[i];
    return NULL;
}

static int bad_stage(const char *s, struct skiff_err *err)
{
    return skiff_err_set(err, SKIFF_EINVAL, "Invalid Model Version stage: %s. Value must be one "
                         "of None, Staging, Production, Archived.", s);
}

static int parse_version(const char *s, int64_t *out, struct skiff_err *err)
{
    if (!tracking__all_digits(s) || !tracking__parse_i64(s, out) || *out < 1)
        return skiff_err_set(err, SKIFF_EINVAL, "Parameter 'version' must be an integer, got "
                             "'%s'.", s);
    return 0;
}

static int name_arg(struct skiff_arena *a, json_t *args, const char *key, const char **out,
                    struct skiff_err *err)
{
    int rc = tracking__get_str(a, args, key, true, out, err);
    if (!rc && strlen(*out) > 256)
        rc = skiff_err_set(err, SKIFF_EINVAL, "Registered model name '%.40s...' exceeds 256 "
                           "characters", *out);
    return rc;
}

/* ---- loading ---- */

static int not_found_model(const char *name, struct skiff_err *err)
{
    return skiff_err_set(err, SKIFF_ENOTFOUND, "Registered Model with name=%s not found", name);
}

static int not_found_version(const char *name, int64_t v, struct skiff_err *err)
{
    return skiff_err_set(err, SKIFF_ENOTFOUND, "Model Version (name=%s, version=%lld) not found",
                         name, (long long)v);
}

static int model_exists(struct skiff_store *s, const char *name, struct skiff_err *err)
{
    struct skiff_store_val p = tracking__v_text(name);
    char found[64] = "";
    int rc;

    if ((rc = skiff_store_query(s, "SELECT 'y' FROM tracking_registered_models WHERE name = ?",
                                &p, 1, tracking__first_text, found, err)))
        return rc;
    return found[0] ? 0 : not_found_model(name, err);
}

/* Adds tags (and, when `aliases`, the aliases) to each version object. */
static int decorate_versions(struct skiff_store *s, json_t *versions, bool aliases,
                             struct skiff_err *err)
{
    json_t *v;
    size_t i;
    int rc;

    json_array_foreach(versions, i, v) {
        int64_t n = 0;
        const char *name = json_string_value(json_object_get(v, "name"));
        const char *num = json_string_value(json_object_get(v, "version"));
        json_t *tags = NULL, *al = NULL;
        struct skiff_store_val p[2];

        tracking__parse_i64(num ? num : "", &n);
        p[0] = tracking__v_text(name ? name : "");
        p[1] = tracking__v_int(n);
        if ((rc = tracking__rows(s, "SELECT key, value FROM tracking_model_version_tags"
                                 " WHERE name = ? AND version = ? ORDER BY key",
                                 p, 2, tracking__kv_names, &tags, err)))
            return rc;
        tracking__set_list(v, "tags", tags);
        if (!aliases)
            continue;
        if ((rc = tracking__rows(s, "SELECT alias FROM tracking_model_aliases"
                                 " WHERE name = ? AND version = ? ORDER BY alias",
                                 p, 2, (const char *const[]){"alias", NULL}, &al, err)))
            return rc;
        {
            /* [{"alias": "a"}, ...] -> ["a", ...] */
            json_t *names = json_array(), *x;
            size_t k;
            if (!names) {
                json_decref(al);
                return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            }
            json_array_foreach(al, k, x)
                json_array_append(names, json_object_get(x, "alias"));
            json_decref(al);
            tracking__set_list(v, "aliases", names);
        }
    }
    return 0;
}

/* One ModelVersion (caller decrefs), with tags and, when `aliases`, aliases. */
static int version_load(struct skiff_store *s, const char *name, int64_t version, bool aliases,
                        json_t **out, struct skiff_err *err)
{
    struct skiff_store_val p[2] = {tracking__v_text(name), tracking__v_int(version)};
    json_t *arr;
    int rc;

    *out = NULL;
    if ((rc = tracking__rows(s, VERSION_SQL " WHERE name = ? AND version = ?", p, 2,
                             version_names, &arr, err)))
        return rc;
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        return not_found_version(name, version, err);
    }
    if ((rc = decorate_versions(s, arr, aliases, err))) {
        json_decref(arr);
        return rc;
    }
    *out = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    return 0;
}

/* The highest version in each stage (all four when `want` is NULL or
 * empty), ordered by version; stages with none are left out. */
static int latest_versions(struct skiff_store *s, const char *name, json_t *want, json_t **out,
                           struct skiff_err *err)
{
    struct skiff_store_val p = tracking__v_text(name);
    json_t *all, *x, *keep;
    size_t i;
    int rc;

    *out = NULL;
    if ((rc = tracking__rows(s, VERSION_SQL " v WHERE name = ? AND version = (SELECT"
                             " MAX(w.version) FROM tracking_model_versions w WHERE w.name = v.name"
                             " AND w.current_stage = v.current_stage) ORDER BY version",
                             &p, 1, version_names, &all, err)))
        return rc;
    if (!(keep = json_array())) {
        json_decref(all);
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    json_array_foreach(all, i, x) {
        const char *st = json_string_value(json_object_get(x, "current_stage"));
        bool wanted = json_array_size(want) == 0;
        size_t k;
        json_t *w;
        json_array_foreach(want, k, w)
            if (st && json_is_string(w) && canon_stage(json_string_value(w)) == canon_stage(st))
                wanted = true;
        if (wanted)
            json_array_append(keep, x);
    }
    json_decref(all);
    if ((rc = decorate_versions(s, keep, false, err))) {
        json_decref(keep);
        return rc;
    }
    *out = keep;
    return 0;
}

/* One RegisteredModel (caller decrefs): latest versions, tags, aliases. */
static int model_load(struct skiff_store *s, const char *name, json_t **out,
                      struct skiff_err *err)
{
    static const char *const names[] = {"name", "creation_timestamp", "last_updated_timestamp",
                                        "description", NULL};
    struct skiff_store_val p = tracking__v_text(name);
    json_t *arr = NULL, *m, *lv = NULL, *tags = NULL, *al = NULL;
    int rc;

    *out = NULL;
    if ((rc = tracking__rows(s, "SELECT name, creation_timestamp, last_updated_timestamp,"
                             " description FROM tracking_registered_models WHERE name = ?",
                             &p, 1, names, &arr, err)))
        return rc;
    if (json_array_size(arr) == 0) {
        json_decref(arr);
        return not_found_model(name, err);
    }
    m = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    if ((rc = latest_versions(s, name, NULL, &lv, err)) ||
        (rc = tracking__rows(s, "SELECT key, value FROM tracking_registered_model_tags"
                             " WHERE name = ? ORDER BY key", &p, 1, tracking__kv_names, &tags,
                             err)) ||
        (rc = tracking__rows(s, "SELECT alias, CAST(version AS TEXT) FROM"
                             " tracking_model_aliases WHERE name = ? ORDER BY alias", &p, 1,
                             (const char *const[]){"alias", "version", NULL}, &al, err))) {
        json_decref(m);
        json_decref(lv);
        json_decref(tags);
        return rc;
    }
    tracking__set_list(m, "latest_versions", lv);
    tracking__set_list(m, "tags", tags);
    tracking__set_list(m, "aliases", al);
    *out = m;
    return 0;
}

/* ---- writes: one context for every registry transaction ---- */

struct reg_op {
    const char *name, *new_name, *key, *value, *alias, *stage, *description;
    const char *source, *storage, *run_id, *run_link;
    int64_t version;
    bool archive;
    json_t *tags;          /* borrowed, checked */
};

/* The model's last_updated_timestamp moves with every change to it or its versions. */
static int touch_model(struct skiff_store *s, const char *name, int64_t now,
                       struct skiff_err *err)
{
    struct skiff_store_val p[2] = {tracking__v_int(now), tracking__v_text(name)};
    return skiff_store_exec(s, "UPDATE tracking_registered_models SET last_updated_timestamp = ?"
                            " WHERE name = ?", p, 2, NULL, err);
}

static int put_model_tags(struct skiff_store *s, const char *name, json_t *tags,
                          struct skiff_err *err)
{
    json_t *t;
    size_t i;
    int rc;

    json_array_foreach(tags, i, t) {
        struct skiff_store_val p[4] = {
            tracking__v_text(name), tracking__v_text(json_string_value(json_object_get(t, "key"))),
            tracking__v_text(json_string_value(json_object_get(t, "value"))),
            tracking__v_text(json_string_value(json_object_get(t, "value")))};
        if ((rc = skiff_store_exec(s, "INSERT INTO tracking_registered_model_tags (name, key,"
                                   " value) VALUES (?, ?, ?) ON CONFLICT (name, key) DO UPDATE"
                                   " SET value = ?", p, 4, NULL, err)))
            return rc;
    }
    return 0;
}

static int put_version_tags(struct skiff_store *s, const char *name, int64_t version,
                            json_t *tags, struct skiff_err *err)
{
    json_t *t;
    size_t i;
    int rc;

    json_array_foreach(tags, i, t) {
        struct skiff_store_val p[5] = {
            tracking__v_text(name), tracking__v_int(version),
            tracking__v_text(json_string_value(json_object_get(t, "key"))),
            tracking__v_text(json_string_value(json_object_get(t, "value"))),
            tracking__v_text(json_string_value(json_object_get(t, "value")))};
        if ((rc = skiff_store_exec(s, "INSERT INTO tracking_model_version_tags (name, version,"
                                   " key, value) VALUES (?, ?, ?, ?) ON CONFLICT (name, version,"
                                   " key) DO UPDATE SET value = ?", p, 5, NULL, err)))
            return rc;
    }
    return 0;
}

static int tx_model_create(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct reg_op *o = ctx;
    int64_t now = tracking__now_ms();
    struct skiff_store_val p[4] = {tracking__v_text(o->name), tracking__v_int(now),
                                   tracking__v_int(now),
                                   o->description ? tracking__v_text(o->description) : v_null()};
    int64_t changes = 0;
    int rc;

    if ((rc = skiff_store_exec(s, "INSERT INTO tracking_registered_models (name,"
                               " creation_timestamp, last_updated_timestamp, description)"
                               " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", p, 4, &changes,
                               err)))
        return rc;
    if (changes == 0)
        return skiff_err_set(err, SKIFF_EEXIST, "Registered Model (name=%s) already exists.",
                             o->name);
    return put_model_tags(s, o->name, o->tags, err);
}

static int check_description(const char *d, struct skiff_err *err)
{
    if (d && strlen(d) > MAX_DESCRIPTION)
        return skiff_err_set(err, SKIFF_EINVAL, "description exceeds %d characters",
                             MAX_DESCRIPTION);
    return 0;
}

/* Answers {"<key>": <registered model name>} after a write. */
static int reply_model(struct skiff_tracking *t, const char *name, struct skiff_http_resp *resp,
                       struct skiff_err *err)
{
    json_t *m;
    int rc = model_load(t->store, name, &m, err);
    return rc ? rc : tracking__reply(resp, json_pack("{s:o}", "registered_model", m), err);
}

static int reply_version(struct skiff_tracking *t, const char *name, int64_t v, bool aliases,
                         struct skiff_http_resp *resp, struct skiff_err *err)
{
    json_t *m;
    int rc = version_load(t->store, name, v, aliases, &m, err);
    return rc ? rc : tracking__reply(resp, json_pack("{s:o}", "model_version", m), err);
}

int tracking__h_rm_create(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct reg_op o = {0};
    json_t *a = NULL;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = name_arg(req->arena, a, "name", &o.name, err)) ||
        (rc = tracking__get_str(req->arena, a, "description", false, &o.description, err)) ||
        (rc = check_description(o.description, err)) ||
        (rc = tracking__get_tags(a, "tags", 5000, &o.tags, err)) ||
        (rc = skiff_store_tx(t->store, tx_model_create, &o, err)))
        goto out;
    rc = reply_model(t, o.name, resp, err);
out:
    json_decref(a);
    return rc;
}

int tracking__h_rm_get(struct skiff_http_req *req, struct skiff_http_resp *resp,
                       struct skiff_err *err)
{
    static const char *const keys[] = {"name", NULL};
    struct skiff_tracking *t = req->ctx;
    json_t *a = NULL;
    const char *name;
    int rc;

    if (!(rc = tracking__args(req, keys, &a, err)) &&
        !(rc = name_arg(req->arena, a, "name", &name, err)))
        rc = reply_model(t, name, resp, err);
    json_decref(a);
    return rc;
}

static int tx_model_rename(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    static const char *const tables[] = {"tracking_registered_models",
                                         "tracking_registered_model_tags",
                                         "tracking_model_versions", "tracking_model_version_tags",
                                         "tracking_model_aliases"};
    struct reg_op *o = ctx;
    struct skiff_store_val p[2] = {tracking__v_text(o->new_name), tracking__v_text(o->name)};
    char found[64] = "";
    int rc;

    if ((rc = model_exists(s, o->name, err)))
        return rc;
    if ((rc = skiff_store_query(s, "SELECT 'y' FROM tracking_registered_models WHERE name = ?",
                                &p[0], 1, tracking__first_text, found, err)))
        return rc;
    if (found[0])
        return skiff_err_set(err, SKIFF_EEXIST, "Registered Model (name=%s) already exists.",
                             o->new_name);
    /* the table names are fixed strings, never input */
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "UPDATE %s SET name = ? WHERE name = ?", tables[i]);
        if ((rc = skiff_store_exec(s, sql, p, 2, NULL, err)))
            return rc;
    }
    return touch_model(s, o->new_name, tracking__now_ms(), err);
}

int tracking__h_rm_rename(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct reg_op o = {0};
    json_t *a = NULL;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = name_arg(req->arena, a, "name", &o.name, err)) ||
        (rc = name_arg(req->arena, a, "new_name", &o.new_name, err)))
        goto out;
    if (strcmp(o.name, o.new_name) != 0 &&
        (rc = skiff_store_tx(t->store, tx_model_rename, &o, err)))
        goto out;
    rc = reply_model(t, o.new_name, resp, err);
out:
    json_decref(a);
    return rc;
}

static int tx_model_update(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct reg_op *o = ctx;
    struct skiff_store_val p[3] = {o->description ? tracking__v_text(o->description) : v_null(),
                                   tracking__v_int(tracking__now_ms()), tracking__v_text(o->name)};
    int rc = model_exists(s, o->name, err);
    return rc ? rc : skiff_store_exec(s, "UPDATE tracking_registered_models SET description = ?,"
                                      " last_updated_timestamp = ? WHERE name = ?", p, 3, NULL,
                                      err);
}

int tracking__h_rm_update(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct reg_op o = {0};
    json_t *a = NULL;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = name_arg(req->arena, a, "name", &o.name, err)) ||
        (rc = tracking__get_str(req->arena, a, "description", false, &o.description, err)) ||
        (rc = check_description(o.description, err)) ||
        (rc = skiff_store_tx(t->store, tx_model_update, &o, err)))
        goto out;
    rc = reply_model(t, o.name, resp, err);
out:
    json_decref(a);
    return rc;
}

static int tx_model_delete(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    static const char *const tables[] = {"tracking_model_aliases", "tracking_model_version_tags",
                                         "tracking_model_versions",
                                         "tracking_registered_model_tags",
                                         "tracking_registered_models"};
    struct reg_op *o = ctx;
    struct skiff_store_val p = tracking__v_text(o->name);
    int rc;

    if ((rc = model_exists(s, o->name, err)))
        return rc;
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE name = ?", tables[i]);
        if ((rc = skiff_store_exec(s, sql, &p, 1, NULL, err)))
            return rc;
    }
    return 0;
}

/* A handler that runs one transaction on a reg_op filled from fields
 * (name + the ones `fill` reads) and answers {}. */
typedef int (*fill_cb)(struct skiff_arena *a, json_t *args, struct reg_op *o,
                       struct skiff_err *err);

static int simple_op(struct skiff_http_req *req, struct skiff_http_resp *resp, fill_cb fill,
                     skiff_store_tx_cb fn, struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct reg_op o = {0};
    json_t *a = NULL;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = name_arg(req->arena, a, "name", &o.name, err)) ||
        (fill && (rc = fill(req->arena, a, &o, err))) ||
        (rc = skiff_store_tx(t->store, fn, &o, err)))
        goto out;
    rc = tracking__reply_empty(resp, err);
out:
    json_decref(a);
    return rc;
}

int tracking__h_rm_delete(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err)
{
    return simple_op(req, resp, NULL, tx_model_delete, err);
}

static int fill_tag(struct skiff_arena *a, json_t *args, struct reg_op *o, struct skiff_err *err)
{
    int rc;
    if ((rc = tracking__get_str(a, args, "key", true, &o->key, err)) ||
        (rc = tracking__check_key("Tag", o->key, err)))
        return rc;
    if (!json_object_get(args, "value"))  /* delete-tag */
        return 0;
    if ((rc = tracking__get_str(a, args, "value", false, &o->value, err)))
        return rc;
    if (!o->value)
        o->value = "";
    return tracking__check_value("Tag", o->key, o->value, 5000, err);
}

static int tx_model_set_tag(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct reg_op *o = ctx;
    const char *value = o->value ? o->value : "";
    struct skiff_store_val p[4] = {tracking__v_text(o->name), tracking__v_text(o->key),
                                   tracking__v_text(value), tracking__v_text(value)};
    int rc;

    if (!o->value)
        return skiff_err_set(err, SKIFF_EINVAL, MISSING, "value");
    if ((rc = model_exists(s, o->name, err)) ||
        (rc = skiff_store_exec(s, "INSERT INTO tracking_registered_model_tags (name, key, value)"
                               " VALUES (?, ?, ?) ON CONFLICT (name, key) DO UPDATE SET value = ?",
                               p, 4, NULL, err)))
        return rc;
    return touch_model(s, o->name, tracking__now_ms(), err);
}

static int tx_model_del_tag(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct reg_op *o = ctx;
    struct skiff_store_val p[2] = {tracking__v_text(o->name), tracking__v_text(o->key)};
    int rc = model_exists(s, o->name, err);
    return rc ? rc : skiff_store_exec(s, "DELETE FROM tracking_registered_model_tags WHERE"
                                      " name = ? AND key = ?", p, 2, NULL, err);
}

int tracking__h_rm_set_tag(struct skiff_http_req *req, struct skiff_http_resp *resp,
                           struct skiff_err *err)
{
    return simple_op(req, resp, fill_tag, tx_model_set_tag, err);
}

int tracking__h_rm_delete_tag(struct skiff_http_req *req, struct skiff_http_resp *resp,
                              struct skiff_err *err)
{
    return simple_op(req, resp, fill_tag, tx_model_del_tag, err);
}

/* ---- aliases ---- */

static int check_alias(const char *alias, struct skiff_err *err)
{
    size_t n = strlen(alias);

    if (n > MAX_ALIAS)
        return skiff_err_set(err, SKIFF_EINVAL, "Alias '%.40s...' exceeds %d characters", alias,
                             MAX_ALIAS);
    for (const char *p = alias; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return skiff_err_set(err, SKIFF_EINVAL, "Invalid alias name: '%s'. Names may only "
                                 "contain alphanumerics, underscores (_) and dashes (-).", alias);
    /* these would shadow models:/name/latest and models:/name/<version> */
    if (strcasecmp(alias, "latest") == 0 ||
        ((alias[0] == 'v' || alias[0] == 'V') && tracking__all_digits(alias + 1)))
        return skiff_err_set(err, SKIFF_EINVAL, "'%s' alias name (case insensitive) is "
                             "reserved.", alias);
    return 0;
}

static int fill_alias(struct skiff_arena *a, json_t *args, struct reg_op *o,
                      struct skiff_err *err)
{
    const char *v;
    int rc;

    if ((rc = tracking__get_str(a, args, "alias", true, &o->alias, err)) ||
        (rc = check_alias(o->alias, err)))
        return rc;
    if (!json_object_get(args, "version"))  /* delete */
        return 0;
    if ((rc = tracking__get_str(a, args, "version", true, &v, err)))
        return rc;
    return parse_version(v, &o->version, err);
}

static int version_exists(struct skiff_store *s, const char *name, int64_t v,
                          struct skiff_err *err)
{
    struct skiff_store_val p[2] = {tracking__v_text(name), tracking__v_int(v)};
    char found[64] = "";
    int rc;

    if ((rc = skiff_store_query(s, "SELECT 'y' FROM tracking_model_versions WHERE name = ? AND"
                                " version = ?", p, 2, tracking__first_text, found, err)))
        return rc;
    return found[0] ? 0 : not_found_version(name, v, err);
}

static int tx_alias_set(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct reg_op *o = ctx;
    struct skiff_store_val p[4] = {tracking__v_text(o->name), tracking__v_text(o->alias),
                                   tracking__v_int(o->version), tracking__v_int(o->version)};
    int rc;

    if (!o->version)
        return skiff_err_set(err, SKIFF_EINVAL, MISSING, "version");
    if ((rc = model_exists(s, o->name, err)) ||
        (rc = version_exists(s, o->name, o->version, err)) ||
        (rc = skiff_store_exec(s, "INSERT INTO tracking_model_aliases (name, alias, version)"
                               " VALUES (?, ?, ?) ON CONFLICT (name, alias) DO UPDATE SET"
                               " version = ?", p, 4, NULL, err)))
        return rc;
    return touch_model(s, o->name, tracking__now_ms(), err);
}

static int tx_alias_delete(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct reg_op *o = ctx;
    struct skiff_store_val p[2] = {tracking__v_text(o->name), tracking__v_text(o->alias)};
    int rc = model_exists(s, o->name, err);
    return rc ? rc : skiff_store_exec(s, "DELETE FROM tracking_model_aliases WHERE name = ? AND"
                                      " alias = ?", p, 2, NULL, err);
}

int tracking__h_alias_set(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err)
{
    return simple_op(req, resp, fill_alias, tx_alias_set, err);
}

int tracking__h_alias_delete(struct skiff_http_req *req, struct skiff_http_resp *resp,
                             struct skiff_err *err)
{
    return simple_op(req, resp, fill_alias, tx_alias_delete, err);
}

/* The version an alias names; "latest" (any case) is the highest version. */
static int alias_version(struct skiff_store *s, const char *name, const char *alias,
                         int64_t *out, struct skiff_err *err)
{
    struct skiff_store_val p[2] = {tracking__v_text(name), tracking__v_text(alias)};
    char found[64] = "";
    int rc;

    if ((rc = model_exists(s, name, err)))
        return rc;
    if (strcasecmp(alias, "latest") == 0)
        rc = skiff_store_query(s, "SELECT MAX(version) FROM tracking_model_versions WHERE"
                               " name = ?", p, 1, tracking__first_text, found, err);
    else
        rc = skiff_store_query(s, "SELECT version FROM tracking_model_aliases WHERE name = ? AND"
                               " alias = ?", p, 2, tracking__first_text, found, err);
    if (rc)
        return rc;
    if (!found[0] || !tracking__parse_i64(found, out))
        return skiff_err_set(err, SKIFF_EINVAL, "Registered model alias %s not found.", alias);
    return 0;
}

int tracking__h_alias_get(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err)
{
    static const char *const keys[] = {"name", "alias", NULL};
    struct skiff_tracking *t = req->ctx;
    json_t *a = NULL;
    const char *name, *alias;
    int64_t v;
    int rc;

    if (!(rc = tracking__args(req, keys, &a, err)) &&
        !(rc = name_arg(req->arena, a, "name", &name, err)) &&
        !(rc = tracking__get_str(req->arena, a, "alias", true, &alias, err)) &&
        !(rc = alias_version(t->store, name, alias, &v, err)))
        rc = reply_version(t, name, v, true, resp, err);
    json_decref(a);
    return rc;
}

/* ---- versions ---- */

/* Where a version's files are (get-download-uri), from its source:
 * models:/<name>/<version> is that version's location; runs:/<id>/<path> is
 * the run's artifact_uri/<path>; anything else is the source itself. A ".."
 * segment is refused whatever the scheme. */
static int storage_of(struct skiff_store *s, struct skiff_arena *a, const char *source,
                      const char **out, struct skiff_err *err)
{
    const char *p;

    for (p = source; (p = strstr(p, "..")); p += 2)
        if ((p == source || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
            return skiff_err_set(err, SKIFF_EINVAL, "Invalid model version source: '%s' "
                                 "(a '..' path segment)", source);
    *out = source;
    if (strncmp(source, "models:/", 8) == 0) {
        const char *slash = strrchr(source + 8, '/');
        char name[512];
        int64_t v;
        struct skiff_store_val p2[2];
        char loc[4096] = "";
        if (!slash || slash == source + 8 || (size_t)(slash - source - 8) >= sizeof name ||
            !tracking__all_digits(slash + 1) || !tracking__parse_i64(slash + 1, &v))
            return skiff_err_set(err, SKIFF_EINVAL, "Invalid model version source: '%s' (want "
                                 "models:/<name>/<version>)", source);
        snprintf(name, sizeof name, "%.*s", (int)(slash - source - 8), source + 8);
        p2[0] = tracking__v_text(name);
        p2[1] = tracking__v_int(v);
        {
            json_t *rows;
            int rc = tracking__rows(s, "SELECT storage_location FROM tracking_model_versions"
                                    " WHERE name = ? AND version = ?", p2, 2,
                                    (const char *const[]){"loc", NULL}, &rows, err);
            if (rc)
                return rc;
            if (json_array_size(rows))
                snprintf(loc, sizeof loc, "%s",
                         json_string_value(json_object_get(json_array_get(rows, 0), "loc")));
            json_decref(rows);
        }
        if (!loc[0])
            return not_found_version(name, v, err);
        return (*out = skiff_arena_strdup(a, loc)) ? 0 : skiff_err_set(err, SKIFF_ENOMEM,
                                                                       "out of memory");
    }
    if (strncmp(source, "runs:/", 6) == 0) {
        const char *id = source + 6, *rest = strchr(id, '/');
        char run_id[64];
        json_t *info;
        int rc;
        if ((size_t)(rest ? rest - id : (ptrdiff_t)strlen(id)) >= sizeof run_id)
            return skiff_err_set(err, SKIFF_EINVAL, "Invalid model version source: '%s'",
                                 source);
        snprintf(run_id, sizeof run_id, "%.*s", (int)(rest ? rest - id : (ptrdiff_t)strlen(id)),
                 id);
        if ((rc = tracking__run_info(s, run_id, &info, err)))
            return rc;
        *out = skiff_arena_sprintf(a, "%s%s",
                                   json_string_value(json_object_get(info, "artifact_uri")),
                                   rest && rest[1] ? rest : "");
        json_decref(info);
        return *out ? 0 : skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    return 0;
}

static int tx_version_create(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct reg_op *o = ctx;
    struct skiff_store_val p = tracking__v_text(o->name);
    char max[64] = "";
    int64_t now = tracking__now_ms(), v = 0;
    int rc;

    if ((rc = model_exists(s, o->name, err)))
        return rc;
    if (o->run_id && o->run_id[0]) {
        json_t *info;
        if ((rc = tracking__run_info(s, o->run_id, &info, err)))
            return rc;
        json_decref(info);
    }
    if ((rc = skiff_store_query(s, "SELECT COALESCE(MAX(version), 0) + 1 FROM"
                                " tracking_model_versions WHERE name = ?", &p, 1,
                                tracking__first_text, max, err)))
        return rc;
    tracking__parse_i64(max, &v);
    o->version = v;
    {
        struct skiff_store_val q[11] = {tracking__v_text(o->name),
                                        tracking__v_int(v),
                                        tracking__v_int(now),
                                        tracking__v_int(now),
                                        tracking__v_text(o->description ? o->description : ""),
                                        tracking__v_text("None"),
                                        tracking__v_text(o->source),
                                        tracking__v_text(o->storage),
                                        o->run_id && o->run_id[0] ? tracking__v_text(o->run_id)
                                                                  : v_null(),
                                        tracking__v_text(o->run_link ? o->run_link : ""),
                                        tracking__v_text("READY")};
        if ((rc = skiff_store_exec(s, "INSERT INTO tracking_model_versions (name, version,"
                                   " creation_timestamp, last_updated_timestamp, description,"
                                   " current_stage, source, storage_location, run_id, run_link,"
                                   " status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                   q, 11, NULL, err)))
            return rc;
    }
    if ((rc = put_version_tags(s, o->name, v, o->tags, err)))
        return rc;
    return touch_model(s, o->name, now, err);
}

int tracking__h_mv_create(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct reg_op o = {0};
    json_t *a = NULL;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = name_arg(req->arena, a, "name", &o.name, err)) ||
        (rc = tracking__get_str(req->arena, a, "source", true, &o.source, err)) ||
        (rc = tracking__get_str(req->arena, a, "run_id", false, &o.run_id, err)) ||
        (rc = tracking__get_str(req->arena, a, "run_link", false, &o.run_link, err)) ||
        (rc = tracking__get_str(req->arena, a, "description", false, &o.description, err)) ||
        (rc = check_description(o.description, err)) ||
        (rc = tracking__get_tags(a, "tags", 5000, &o.tags, err)) ||
        (rc = storage_of(t->store, req->arena, o.source, &o.storage, err)) ||
        (rc = skiff_store_tx(t->store, tx_version_create, &o, err)))
        goto out;
    rc = reply_version(t, o.name, o.version, false, resp, err);
out:
    json_decref(a);
    return rc;
}

/* name + version of a GET (query) or a body. */
static int name_version(struct skiff_http_req *req, json_t **a, const char **name, int64_t *v,
                        struct skiff_err *err)
{
    static const char *const keys[] = {"name", "version", NULL};
    const char *vs;
    int rc;

    if ((rc = tracking__args(req, keys, a, err)) ||
        (rc = name_arg(req->arena, *a, "name", name, err)) ||
        (rc = tracking__get_str(req->arena, *a, "version", true, &vs, err)))
        return rc;
    return parse_version(vs, v, err);
}

int tracking__h_mv_get(struct skiff_http_req *req, struct skiff_http_resp *resp,
                       struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    json_t *a = NULL;
    const char *name;
    int64_t v;
    int rc;

    if (!(rc = name_version(req, &a, &name, &v, err)))
        rc = reply_version(t, name, v, true, resp, err);
    json_decref(a);
    return rc;
}

int tracking__h_mv_download_uri(struct skiff_http_req *req, struct skiff_http_resp *resp,
                                struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct skiff_store_val p[2];
    json_t *a = NULL, *rows = NULL;
    const char *name;
    int64_t v;
    int rc;

    if ((rc = name_version(req, &a, &name, &v, err)))
        goto out;
    p[0] = tracking__v_text(name);
    p[1] = tracking__v_int(v);
    if ((rc = tracking__rows(t->store, "SELECT storage_location FROM tracking_model_versions"
                             " WHERE name = ? AND version = ?", p, 2,
                             (const char *const[]){"artifact_uri", NULL}, &rows, err)))
        goto out;
    if (!json_array_size(rows)) {
        rc = not_found_version(name, v, err);
        goto out;
    }
    rc = tracking__reply(resp, json_incref(json_array_get(rows, 0)), err);
out:
    json_decref(a);
    json_decref(rows);
    return rc;
}

static int tx_version_update(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct reg_op *o = ctx;
    int64_t now = tracking__now_ms();
    struct skiff_store_val p[4] = {tracking__v_text(o->description ? o->description : ""),
                                   tracking__v_int(now), tracking__v_text(o->name),
                                   tracking__v_int(o->version)};
    int rc;

    if ((rc = version_exists(s, o->name, o->version, err)) ||
        (rc = skiff_store_exec(s, "UPDATE tracking_model_versions SET description = ?,"
                               " last_updated_timestamp = ? WHERE name = ? AND version = ?",
                               p, 4, NULL, err)))
        return rc;
    return touch_model(s, o->name, now, err);
}

static int fill_version(struct skiff_arena *a, json_t *args, struct reg_op *o,
                        struct skiff_err *err)
{
    const char *v;
    int rc = tracking__get_str(a, args, "version", true, &v, err);
    return rc ? rc : parse_version(v, &o->version, err);
}

static int fill_update(struct skiff_arena *a, json_t *args, struct reg_op *o,
                       struct skiff_err *err)
{
    int rc;
    if ((rc = fill_version(a, args, o, err)) ||
        (rc = tracking__get_str(a, args, "description", false, &o->description, err)))
        return rc;
    return check_description(o->description, err);
}

int tracking__h_mv_update(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct reg_op o = {0};
    json_t *a = NULL;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = name_arg(req->arena, a, "name", &o.name, err)) ||
        (rc = fill_update(req->arena, a, &o, err)) ||
        (rc = skiff_store_tx(t->store, tx_version_update, &o, err)))
        goto out;
    rc = reply_version(t, o.name, o.version, false, resp, err);
out:
    json_decref(a);
    return rc;
}

static int tx_version_delete(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    static const char *const tables[] = {"tracking_model_aliases", "tracking_model_version_tags",
                                         "tracking_model_versions"};
    struct reg_op *o = ctx;
    struct skiff_store_val p[2] = {tracking__v_text(o->name), tracking__v_int(o->version)};
    int rc;

    if ((rc = version_exists(s, o->name, o->version, err)))
        return rc;
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "DELETE FROM %s WHERE name = ? AND version = ?", tables[i]);
        if ((rc = skiff_store_exec(s, sql, p, 2, NULL, err)))
            return rc;
    }
    return touch_model(s, o->name, tracking__now_ms(), err);
}

int tracking__h_mv_delete(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err)
{
    return simple_op(req, resp, fill_version, tx_version_delete, err);
}

static int fill_version_tag(struct skiff_arena *a, json_t *args, struct reg_op *o,
                            struct skiff_err *err)
{
    int rc = fill_version(a, args, o, err);
    return rc ? rc : fill_tag(a, args, o, err);
}

static int tx_version_set_tag(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct reg_op *o = ctx;
    json_t *tags;
    int rc;

    if (!o->value)
        return skiff_err_set(err, SKIFF_EINVAL, MISSING, "value");
    if ((rc = version_exists(s, o->name, o->version, err)))
        return rc;
    if (!(tags = json_pack("[{s:s, s:s}]", "key", o->key, "value", o->value)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    rc = put_version_tags(s, o->name, o->version, tags, err);
    json_decref(tags);
    return rc;
}

static int tx_version_del_tag(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct reg_op *o = ctx;
    struct skiff_store_val p[3] = {tracking__v_text(o->name), tracking__v_int(o->version),
                                   tracking__v_text(o->key)};
    int rc = version_exists(s, o->name, o->version, err);
    return rc ? rc : skiff_store_exec(s, "DELETE FROM tracking_model_version_tags WHERE"
                                      " name = ? AND version = ? AND key = ?", p, 3, NULL, err);
}

int tracking__h_mv_set_tag(struct skiff_http_req *req, struct skiff_http_resp *resp,
                           struct skiff_err *err)
{
    return simple_op(req, resp, fill_version_tag, tx_version_set_tag, err);
}

int tracking__h_mv_delete_tag(struct skiff_http_req *req, struct skiff_http_resp *resp,
                              struct skiff_err *err)
{
    return simple_op(req, resp, fill_version_tag, tx_version_del_tag, err);
}

/* A JSON boolean, or "true"/"false" (GET-style text). */
static int get_bool(json_t *a, const char *key, bool required, bool *out, struct skiff_err *err)
{
    json_t *v = json_object_get(a, key);

    *out = false;
    if (!v || json_is_null(v))
        return required ? skiff_err_set(err, SKIFF_EINVAL, MISSING, key) : 0;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_string(v) && (strcasecmp(json_string_value(v), "true") == 0 ||
                              strcasecmp(json_string_value(v), "false") == 0)) {
        *out = strcasecmp(json_string_value(v), "true") == 0;
        return 0;
    }
    return tracking__bad_value(key, v, err);
}

static int tx_transition(struct skiff_store *s, void *ctx, struct skiff_err *err)
{
    struct reg_op *o = ctx;
    int64_t now = tracking__now_ms();
    struct skiff_store_val p[4] = {tracking__v_text(o->stage), tracking__v_int(now),
                                   tracking__v_text(o->name), tracking__v_int(o->version)};
    int rc;

    if ((rc = version_exists(s, o->name, o->version, err)))
        return rc;
    if (o->archive) {
        struct skiff_store_val q[4] = {tracking__v_int(now), tracking__v_text(o->name),
                                       tracking__v_text(o->stage), tracking__v_int(o->version)};
        if ((rc = skiff_store_exec(s, "UPDATE tracking_model_versions SET current_stage ="
                                   " 'Archived', last_updated_timestamp = ? WHERE name = ? AND"
                                   " current_stage = ? AND version != ?", q, 4, NULL, err)))
            return rc;
    }
    if ((rc = skiff_store_exec(s, "UPDATE tracking_model_versions SET current_stage = ?,"
                               " last_updated_timestamp = ? WHERE name = ? AND version = ?",
                               p, 4, NULL, err)))
        return rc;
    return touch_model(s, o->name, now, err);
}

int tracking__h_mv_transition(struct skiff_http_req *req, struct skiff_http_resp *resp,
                              struct skiff_err *err)
{
    struct skiff_tracking *t = req->ctx;
    struct reg_op o = {0};
    json_t *a = NULL;
    const char *stage;
    int rc;

    if ((rc = tracking__args(req, NULL, &a, err)) ||
        (rc = name_arg(req->arena, a, "name", &o.name, err)) ||
        (rc = fill_version(req->arena, a, &o, err)) ||
        (rc = tracking__get_str(req->arena, a, "stage", true, &stage, err)) ||
        (rc = get_bool(a, "archive_existing_versions", true, &o.archive, err)))
        goto out;
    if (!(o.stage = canon_stage(stage))) {
        rc = bad_stage(stage, err);
        goto out;
    }
    if (o.archive && (o.stage == stages[0] || o.stage == stages[3])) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "Model version transition cannot archive existing "
                           "model versions because '%s' is not an Active stage. Valid stages "
                           "are Staging, Production", o.stage);
        goto out;
    }
    if ((rc = skiff_store_tx(t->store, tx_transition, &o, err)))
        goto out;
    rc = reply_version(t, o.name, o.version, false, resp, err);
out:
    json_decref(a);
    return rc;
}

int tracking__h_rm_latest(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err)
{
    static const char *const keys[] = {"name", "stages", NULL};
    struct skiff_tracking *t = req->ctx;
    json_t *a = NULL, *want, *lv = NULL, *o, *x;
    const char *name;
    size_t i;
    int rc;

    if ((rc = tracking__args(req, keys, &a, err)) ||
        (rc = name_arg(req->arena, a, "name", &name, err)))
        goto out;
    want = json_object_get(a, "stages");
    if (json_is_string(want)) {  /* GET: one stages= value */
        json_t *one = json_pack("[O]", want);
        json_object_set_new(a, "stages", one);
        want = one;
    }
    if (want && !json_is_null(want) && !json_is_array(want)) {
        rc = tracking__bad_value("stages", want, err);
        goto out;
    }
    json_array_foreach(want, i, x)
        if (!json_is_string(x) || !canon_stage(json_string_value(x))) {
            rc = json_is_string(x) ? bad_stage(json_string_value(x), err)
                                   : tracking__bad_value("stages", x, err);
            goto out;
        }
    if ((rc = model_exists(t->store, name, err)) ||
        (rc = latest_versions(t->store, name, want, &lv, err)))
        goto out;
    o = json_object();
    tracking__set_list(o, "model_versions", lv);
    lv = NULL;
    rc = tracking__reply(resp, o, err);
out:
    json_decref(a);
    json_decref(lv);
    return rc;
}

/* ---- searches ---- */

static int search_paging(struct skiff_arena *ar, json_t *a, int64_t def, int64_t max_allowed,
                         int64_t *max, int64_t *offset, struct skiff_err *err)
{
    const char *tok;
    int rc;

    if ((rc = tracking__get_int(a, "max_results", false, def, max, NULL, err)) ||
        (rc = tracking__get_str(ar, a, "page_token", false, &tok, err)) ||
        (rc = tracking__token_decode(tok, offset, err)))
        return rc;
    if (*max < 1 || *max > max_allowed)
        return skiff_err_set(err, SKIFF_EINVAL, "Invalid value for max_results. It must be at "
                             "most %lld, but got value %lld", (long long)max_allowed,
                             (long long)*max);
    return 0;
}

static int search(struct skiff_http_req *req, struct skiff_http_resp *resp, bool versions,
                  struct skiff_err *err)
{
    static const char *const keys[] = {"filter", "max_results", "order_by", "page_token", NULL};
    struct skiff_tracking *t = req->ctx;
    struct tracking__sql q;
    json_t *a = NULL, *orders = NULL, *ids = NULL, *list = NULL, *o, *x;
    const char *filter;
    int64_t max, offset;
    bool more = false;
    size_t i;
    int rc;

    tracking__sql_init(&q, req->arena);
    if ((rc = tracking__args(req, keys, &a, err)) ||
        (rc = search_paging(req->arena, a,
                            versions ? VERSIONS_DEFAULT_RESULTS : MODELS_DEFAULT_RESULTS,
                            versions ? VERSIONS_MAX_RESULTS : MODELS_MAX_RESULTS, &max, &offset,
                            err)) ||
        (rc = tracking__get_str(req->arena, a, "filter", false, &filter, err)) ||
        (rc = tracking__order_list(a, &orders, err)))
        goto out;
    /* one text column that identifies the row: the name, or for versions
     * "<name>/<version>" (split at the last '/': the version has none) */
    skiff_buf_puts(&q.text, versions ? "SELECT v.name || '/' || CAST(v.version AS TEXT)"
                                       " FROM tracking_model_versions v WHERE 1 = 1"
                                     : "SELECT m.name FROM tracking_registered_models m"
                                       " WHERE 1 = 1");
    if (filter && (rc = versions ? tracking__versions_filter(&q, filter, err)
                                 : tracking__models_filter(&q, filter, err)))
        goto out;
    skiff_buf_puts(&q.text, " ORDER BY ");
    json_array_foreach(orders, i, o)
        if ((rc = versions ? tracking__versions_order(&q, json_string_value(o), err)
                           : tracking__models_order(&q, json_string_value(o), err)))
            goto out;
    skiff_buf_puts(&q.text, versions ? "v.last_updated_timestamp DESC, v.name ASC, v.version DESC"
                                     : "m.name ASC");
    if ((rc = tracking__page_ids(t->store, &q, max, offset, &ids, &more, err)))
        goto out;
    if (!(list = json_array())) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    json_array_foreach(ids, i, x) {
        const char *id = json_string_value(x);
        json_t *one;
        if (versions) {
            const char *nl = strrchr(id, '/');
            int64_t v = 0;
            char *name = skiff_arena_strndup(req->arena, id, nl ? (size_t)(nl - id) : 0);
            if (!name || !nl || !tracking__parse_i64(nl + 1, &v)) {
                rc = skiff_err_set(err, SKIFF_EINTERNAL, "bad version key");
                goto out;
            }
            /* as MLflow 2.x: search results carry no aliases */
            rc = version_load(t->store, name, v, false, &one, err);
        } else {
            rc = model_load(t->store, id, &one, err);
        }
        if (rc)
            goto out;
        json_array_append_new(list, one);
    }
    rc = tracking__reply_page(resp, versions ? "model_versions" : "registered_models", list, more, offset + max, err);
    list = NULL;
out:
    skiff_buf_release(&q.text);
    json_decref(a);
    json_decref(orders);
    json_decref(ids);
    json_decref(list);
    return rc;
}

int tracking__h_rm_search(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err)
{
    return search(req, resp, false, err);
}

int tracking__h_mv_search(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err)
{
    return search(req, resp, true, err);
}

/* ---- model URIs ---- */

/* The version a models:/ URI names: NAME/VERSION, NAME/STAGE, NAME/latest
 * or NAME@ALIAS. */
static int uri_version(struct skiff_store *s, const char *spec, char *name, size_t n,
                       int64_t *v, struct skiff_err *err)
{
    const char *at = strrchr(spec, '@'), *slash = strrchr(spec, '/');
    const char *sel;
    int rc;

    if (at && (!slash || at > slash)) {
        if (at == spec || !at[1] || (size_t)(at - spec) >= n)
            return skiff_err_set(err, SKIFF_EINVAL, "invalid model URI 'models:/%s'", spec);
        snprintf(name, n, "%.*s", (int)(at - spec), spec);
        return alias_version(s, name, at + 1, v, err);
    }
    if (!slash || slash == spec || !slash[1] || (size_t)(slash - spec) >= n ||
        memchr(spec, '/', (size_t)(slash - spec)))
        return skiff_err_set(err, SKIFF_EINVAL, "invalid model URI 'models:/%s': want "
                             "models:/<name>/<version|stage|latest> or models:/<name>@<alias>",
                             spec);
    snprintf(name, n, "%.*s", (int)(slash - spec), spec);
    sel = slash + 1;
    if ((rc = model_exists(s, name, err)))
        return rc;
    if (tracking__all_digits(sel)) {
        if ((rc = parse_version(sel, v, err)))
            return rc;
        return version_exists(s, name, *v, err);
    }
    {
        struct skiff_store_val p[2] = {tracking__v_text(name), tracking__v_text("")};
        char found[64] = "";
        const char *st = NULL;
        if (strcasecmp(sel, "latest") == 0) {
            rc = skiff_store_query(s, "SELECT MAX(version) FROM tracking_model_versions WHERE"
                                   " name = ?", p, 1, tracking__first_text, found, err);
        } else if ((st = canon_stage(sel))) {
            p[1] = tracking__v_text(st);
            rc = skiff_store_query(s, "SELECT MAX(version) FROM tracking_model_versions WHERE"
                                   " name = ? AND current_stage = ?", p, 2, tracking__first_text,
                                   found, err);
        } else {
            return skiff_err_set(err, SKIFF_EINVAL, "invalid model URI 'models:/%s': '%s' is "
                                 "not a version, a stage or 'latest'", spec, sel);
        }
        if (rc)
            return rc;
        if (!found[0] || !tracking__parse_i64(found, v))
            return skiff_err_set(err, SKIFF_ENOTFOUND, "model '%s' has no version%s%s", name,
                                 st ? " in stage " : "", st ? st : "");
    }
    return 0;
}

int skiff_tracking_resolve_uri(struct skiff_tracking *t, const char *uri, char *path_out,
                               size_t n, struct skiff_err *err)
{
    struct skiff_arena *a = skiff_arena_new(0);
    const char *cur = uri, *rel = NULL;
    int rc = 0;

    if (!a)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    for (int hop = 0; !rel; hop++) {
        if (hop == MAX_URI_HOPS) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "cannot resolve '%s': more than %d hops (a "
                               "loop of model versions?)", uri, MAX_URI_HOPS);
            goto out;
        }
        if (strncmp(cur, "models:/", 8) == 0) {
            char name[512];
            int64_t v;
            struct skiff_store_val p[2];
            json_t *rows;
            if ((rc = uri_version(t->store, cur + 8, name, sizeof name, &v, err)))
                goto out;
            p[0] = tracking__v_text(name);
            p[1] = tracking__v_int(v);
            if ((rc = tracking__rows(t->store, "SELECT storage_location FROM"
                                     " tracking_model_versions WHERE name = ? AND version = ?",
                                     p, 2, (const char *const[]){"loc", NULL}, &rows, err)))
                goto out;
            cur = json_array_size(rows)
                      ? skiff_arena_strdup(a, json_string_value(json_object_get(
                                                  json_array_get(rows, 0), "loc")))
                      : NULL;
            json_decref(rows);
            if (!cur) {
                rc = not_found_version(name, v, err);
                goto out;
            }
        } else if (strncmp(cur, "runs:/", 6) == 0) {
            if ((rc = storage_of(t->store, a, cur, &cur, err)))
                goto out;
        } else if (strncmp(cur, "mlflow-artifacts:", 17) == 0) {
            if ((rc = tracking__uri_to_blob(a, cur, &rel, err)))
                goto out;
        } else if (strncmp(cur, "file://", 7) == 0 || cur[0] == '/') {
            /* a local file the operator named: used as it is */
            const char *p = strncmp(cur, "file://", 7) == 0 ? cur + 7 : cur;
            if (strlen(p) >= n) {
                rc = skiff_err_set(err, SKIFF_EINVAL, "path of '%s' is too long", uri);
                goto out;
            }
            memcpy(path_out, p, strlen(p) + 1);
            goto out;
        } else if (strchr(cur, ':') && strchr(cur, ':') < (strchr(cur, '/') ? strchr(cur, '/')
                                                                             : cur + strlen(cur))) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "cannot resolve '%s': unknown scheme (want "
                               "models:/, runs:/, mlflow-artifacts:/ or a path)", cur);
            goto out;
        } else {
            /* a relative path names a file of the blob store */
            rel = cur;
        }
    }
    rc = skiff_blob_resolve(t->blob, rel, path_out, n, err);
out:
    if (rc)
        skiff_err_prefix(err, "cannot resolve '%s'", uri);
    skiff_arena_free(a);
    return rc;
}
