/* skiff's own kinds (skiff.dev/v1): the feature store (after Feast's object
 * model, specs/feast.md 1), the drift monitor (statistics of
 * specs/evidently.md) and identities.
 *
 *   Entity          joinKeys: [user_id]   valueType: STRING
 *   DataSource      one of file: {path, format}, postgres: {table | query},
 *                   push: {batchSource}, request: {schema: [{name, dtype}]};
 *                   timestampField, createdTimestampColumn, fieldMapping
 *   FeatureView     entities: [user], source: <DataSource>, ttl: 7d,
 *                   fields: [{name, dtype}], online: true,
 *                   aggregations: [{name, function, column, window}],
 *                   derived: [{name, expr}]   (fields, aggregations or derived:
 *                   at least one; docs/features.md)
 *   FeatureService  features: [<view> | "<view>:<feature>" |
 *                   {view (or featureView), features: [...]}]
 *   DriftMonitor    reference: {model | path}, current: {inferenceService,
 *                   window | path}, columns, stattest, stattestThreshold,
 *                   perColumn, driftShare, schedule, alert, retrain
 *   ServiceAccount  roles: [<Role>]        (spec optional)
 *   Role            scopes: ["features:read", "models:*", ...]
 *
 * These check the shape of the definitions only; whether the entities and
 * sources a view names exist is the feature store's business when it
 * applies them.
 */
#include "resource_int.h"

#include "skiff/err.h"
#include "skiff/time.h"

#include <stdio.h>
#include <string.h>

/* The dtypes of FeatureView fields (Feast ValueType names, the scalar ones). */
static const char *const dtypes[] = {
    "INT64", "INT32", "DOUBLE", "FLOAT", "STRING", "BOOL", "UNIX_TIMESTAMP", NULL,
};

/* Evidently's tests (specs/evidently.md 3). */
static const char *const stattests[] = {
    "ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", NULL,
};

/* Common to the feature-store kinds: description, owner, tags. */
static int check_common(const json_t *spec, struct skiff_validation *v)
{
    int rc;
    if ((rc = resource__field(v, spec, "/spec", "description", RT_STRING, 0, NULL)) ||
        (rc = resource__field(v, spec, "/spec", "owner", RT_STRING, 0, NULL)) ||
        (rc = resource__string_map(v, spec, "/spec", "tags")))
        return rc;
    return 0;
}

/* A list of {name, dtype} with unique names (view fields, request schemas). */
static int check_fields(const json_t *parent, const char *ptr, const char *key,
                        struct skiff_validation *v)
{
    char fp[RESOURCE__PTR_MAX], p[RESOURCE__PTR_MAX], np[RESOURCE__PTR_MAX];
    const json_t *fields, *f, *name;
    size_t i;
    int rc;

    if ((rc = resource__field(v, parent, ptr, key, RT_ARRAY, RF_REQUIRED | RF_NONEMPTY, &fields)))
        return rc;
    resource__ptr(fp, ptr, key);
    json_array_foreach(fields, i, f) {
        resource__ptr_idx(p, fp, i);
        if (!json_is_object(f))
            return skiff_validation_fail(v, p, SKIFF_EINVAL,
                                         "a field must be an object with name and dtype");
        if ((rc = resource__field(v, f, p, "name", RT_STRING, RF_REQUIRED | RF_NONEMPTY, &name)) ||
            (rc = resource__field(v, f, p, "dtype", RT_STRING, RF_REQUIRED, NULL)) ||
            (rc = resource__enum(v, f, p, "dtype", dtypes)))
            return rc;
        if (resource__find_named(fields, json_string_value(name)) != (long)i)
            return skiff_validation_fail(v, resource__ptr(np, p, "name"), SKIFF_EINVAL,
                                         "duplicate field name \"%s\"", json_string_value(name));
    }
    return 0;
}

int resource__validate_entity(const json_t *obj, struct skiff_validation *v)
{
    static const char *const value_types[] = {
        "STRING", "INT32", "INT64", "BYTES", "DOUBLE", "FLOAT", "BOOL", "UNIX_TIMESTAMP", NULL,
    };
    const json_t *spec = json_object_get(obj, "spec");
    int rc;

    if ((rc = resource__string_list(v, spec, "/spec", "joinKeys", RF_REQUIRED | RF_NONEMPTY)) ||
        (rc = resource__enum(v, spec, "/spec", "valueType", value_types)))
        return rc;
    return check_common(spec, v);
}

int resource__validate_data_source(const json_t *obj, struct skiff_validation *v)
{
    static const char *const kinds[] = {"file", "postgres", "push", "request", NULL};
    const json_t *spec = json_object_get(obj, "spec"), *body = NULL, *ts, *created;
    const char *kind = NULL;
    char p[RESOURCE__PTR_MAX];
    int rc;

    for (size_t i = 0; kinds[i]; i++) {
        if (!json_object_get(spec, kinds[i]))
            continue;
        if (kind)
            return skiff_validation_fail(v, resource__ptr(p, "/spec", kinds[i]), SKIFF_EINVAL,
                                         "a data source is one of file, postgres, push or "
                                         "request, not both %s and %s", kind, kinds[i]);
        kind = kinds[i];
        if ((rc = resource__field(v, spec, "/spec", kind, RT_OBJECT, 0, &body)))
            return rc;
    }
    if (!kind)
        return skiff_validation_fail(v, "/spec/file", SKIFF_EINVAL,
                                     "missing required field (one of file, postgres, push or "
                                     "request)");
    resource__ptr(p, "/spec", kind);
    if (strcmp(kind, "file") == 0)
        rc = resource__field(v, body, p, "path", RT_STRING, RF_REQUIRED | RF_NONEMPTY, NULL) ||
             resource__field(v, body, p, "format", RT_STRING, RF_NONEMPTY, NULL);
    else if (strcmp(kind, "postgres") == 0) {
        const json_t *table, *query;
        char fp[RESOURCE__PTR_MAX];
        if ((rc = resource__field(v, body, p, "table", RT_STRING, RF_NONEMPTY, &table)) ||
            (rc = resource__field(v, body, p, "query", RT_STRING, RF_NONEMPTY, &query)))
            return rc;
        if (!table == !query)
            return skiff_validation_fail(v, resource__ptr(fp, p, table ? "query" : "table"),
                                         SKIFF_EINVAL, "%s",
                                         table ? "set table or query, not both"
                                               : "missing required field (table, or query)");
    } else if (strcmp(kind, "push") == 0)
        rc = resource__field(v, body, p, "batchSource", RT_STRING, RF_REQUIRED | RF_NONEMPTY,
                             NULL);
    else
        rc = check_fields(body, p, "schema", v);
    if (rc)
        return SKIFF_EINVAL;
    if ((rc = resource__field(v, spec, "/spec", "timestampField", RT_STRING, RF_NONEMPTY, &ts)) ||
        (rc = resource__field(v, spec, "/spec", "createdTimestampColumn", RT_STRING, RF_NONEMPTY,
                              &created)) ||
        (rc = resource__string_map(v, spec, "/spec", "fieldMapping")))
        return rc;
    /* the created column breaks ties between rows of one event time */
    if (ts && created && strcmp(json_string_value(ts), json_string_value(created)) == 0)
        return skiff_validation_fail(v, "/spec/createdTimestampColumn", SKIFF_EINVAL,
                                     "must differ from timestampField");
    return check_common(spec, v);
}

/* A duration: "90s", "15m", "24h", "7d", or seconds as an integer >= 0. */
static bool duration_ok(const json_t *j)
{
    const char *s = json_string_value(j);
    size_t n;
    if (json_is_integer(j))
        return json_integer_value(j) >= 0;
    if (!s || !(n = strlen(s)) || !strchr("smhdw", s[n - 1]) || n < 2)
        return false;
    for (size_t i = 0; i + 1 < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* aggregations: [{name, function, column, window}]: a windowed aggregate of
 * a raw event column over (t - window, t]; column may be left out for count
 * (then it counts events). */
static int check_aggregations(const json_t *spec, struct skiff_validation *v)
{
    static const char *const functions[] = {
        "count", "sum", "avg", "min", "max", "stddev", "count_distinct", "last", NULL,
    };
    char p[RESOURCE__PTR_MAX], np[RESOURCE__PTR_MAX];
    const json_t *aggs, *a, *name, *fn, *window;
    size_t i;
    int rc;

    if ((rc = resource__field(v, spec, "/spec", "aggregations", RT_ARRAY, 0, &aggs)) || !aggs)
        return rc;
    json_array_foreach(aggs, i, a) {
        resource__ptr_idx(p, "/spec/aggregations", i);
        if (!json_is_object(a))
            return skiff_validation_fail(v, p, SKIFF_EINVAL,
                                         "an aggregation must be an object with name, function, "
                                         "column and window");
        if ((rc = resource__field(v, a, p, "name", RT_STRING, RF_REQUIRED | RF_NONEMPTY, &name)) ||
            (rc = resource__field(v, a, p, "function", RT_STRING, RF_REQUIRED, &fn)) ||
            (rc = resource__enum(v, a, p, "function", functions)) ||
            (rc = resource__field(v, a, p, "column", RT_STRING,
                                  strcmp(json_string_value(fn), "count") == 0
                                      ? RF_NONEMPTY : RF_REQUIRED | RF_NONEMPTY,
                                  NULL)) ||
            (rc = resource__field(v, a, p, "window", RT_ANY, RF_REQUIRED, &window)))
            return rc;
        /* duration_ok accepts "0s" and 0; an empty window would aggregate nothing */
        if (!duration_ok(window) ||
            (json_is_integer(window) ? json_integer_value(window) == 0
                                     : strspn(json_string_value(window), "0") + 1 ==
                                           strlen(json_string_value(window))))
            return skiff_validation_fail(v, resource__ptr(np, p, "window"), SKIFF_EINVAL,
                                         "must be a positive duration such as \"1h\" or \"7d\"");
        if (resource__find_named(aggs, json_string_value(name)) != (long)i)
            return skiff_validation_fail(v, resource__ptr(np, p, "name"), SKIFF_EINVAL,
                                         "duplicate aggregation name \"%s\"",
                                         json_string_value(name));
    }
    return 0;
}

/* derived: [{name, expr}]: arithmetic over other fields of the view; the
 * feature store parses expr (its errors carry the position in it). */
static int check_derived(const json_t *spec, struct skiff_validation *v)
{
    char p[RESOURCE__PTR_MAX];
    const json_t *derived, *d;
    size_t i;
    int rc;

    if ((rc = resource__field(v, spec, "/spec", "derived", RT_ARRAY, 0, &derived)) || !derived)
        return rc;
    json_array_foreach(derived, i, d) {
        resource__ptr_idx(p, "/spec/derived", i);
        if (!json_is_object(d))
            return skiff_validation_fail(v, p, SKIFF_EINVAL,
                                         "a derived field must be an object with name and expr");
        if ((rc = resource__field(v, d, p, "name", RT_STRING, RF_REQUIRED | RF_NONEMPTY, NULL)) ||
            (rc = resource__field(v, d, p, "expr", RT_STRING, RF_REQUIRED | RF_NONEMPTY, NULL)))
            return rc;
    }
    return 0;
}

int resource__validate_feature_view(const json_t *obj, struct skiff_validation *v)
{
    const json_t *spec = json_object_get(obj, "spec"), *ttl;
    int rc;

    if ((rc = resource__string_list(v, spec, "/spec", "entities", RF_REQUIRED | RF_NONEMPTY)) ||
        (rc = resource__field(v, spec, "/spec", "source", RT_STRING, RF_REQUIRED | RF_NONEMPTY,
                              NULL)) ||
        (rc = check_aggregations(spec, v)) ||
        (rc = check_derived(spec, v)))
        return rc;
    /* a view of aggregations (or derived fields) alone declares no plain fields */
    if (json_object_get(spec, "fields") || !(json_object_get(spec, "aggregations") ||
                                             json_object_get(spec, "derived")))
        if ((rc = check_fields(spec, "/spec", "fields", v)))
            return rc;
    if ((rc = resource__field(v, spec, "/spec", "ttl", RT_ANY, 0, &ttl)) ||
        (rc = resource__field(v, spec, "/spec", "online", RT_BOOL, 0, NULL)) ||
        (rc = resource__field(v, spec, "/spec", "offline", RT_BOOL, 0, NULL)))
        return rc;
    if (ttl && !duration_ok(ttl))
        return skiff_validation_fail(v, "/spec/ttl", SKIFF_EINVAL,
                                     "must be a duration such as \"24h\" or \"7d\", or seconds "
                                     "(0 means no limit)");
    return check_common(spec, v);
}

int resource__validate_feature_service(const json_t *obj, struct skiff_validation *v)
{
    char p[RESOURCE__PTR_MAX], np[RESOURCE__PTR_MAX];
    const json_t *spec = json_object_get(obj, "spec"), *features, *f;
    size_t i;
    int rc;

    if ((rc = resource__field(v, spec, "/spec", "features", RT_ARRAY, RF_REQUIRED | RF_NONEMPTY,
                              &features)))
        return rc;
    json_array_foreach(features, i, f) {
        resource__ptr_idx(p, "/spec/features", i);
        if (json_is_string(f) && json_string_length(f) > 0)
            continue;
        if (!json_is_object(f))
            return skiff_validation_fail(v, p, SKIFF_EINVAL,
                                         "must be a feature view name, \"<view>:<feature>\", or "
                                         "{view, features}");
        /* "view" is the spelling, "featureView" the earlier one: either, not both */
        if (json_object_get(f, "view") && json_object_get(f, "featureView"))
            return skiff_validation_fail(v, resource__ptr(np, p, "featureView"), SKIFF_EINVAL,
                                         "set view or featureView, not both");
        if ((rc = resource__field(v, f, p, json_object_get(f, "view") ? "view" : "featureView",
                                  RT_STRING, RF_REQUIRED | RF_NONEMPTY, NULL)) ||
            (rc = resource__string_list(v, f, p, "features", 0)))
            return rc;
    }
    return check_common(spec, v);
}

/* A duration field ("24h", "2s") when present. */
static int check_duration(struct skiff_validation *v, const json_t *parent, const char *ptr,
                          const char *key)
{
    char p[RESOURCE__PTR_MAX];
    const json_t *d;
    int64_t us;
    int rc;
    if ((rc = resource__field(v, parent, ptr, key, RT_STRING, RF_NONEMPTY, &d)))
        return rc;
    if (d && (skiff_duration_parse(json_string_value(d), &us, NULL) != 0 || us <= 0))
        return skiff_validation_fail(v, resource__ptr(p, ptr, key), SKIFF_EINVAL,
                                     "\"%s\" is not a duration such as \"24h\", \"30m\" or "
                                     "\"90s\"", json_string_value(d));
    return 0;
}

/* DriftMonitor (docs/drift.md): what the controller in src/monitor reads.
 *   reference: {model: "models:/NAME@ALIAS"} | {path: FILE}
 *   current:   {inferenceService: NAME, window: 24h} | {path: FILE}
 *   columns, stattest, stattestThreshold, perColumn: {col: {stattest,
 *   stattestThreshold}}, driftShare, schedule (cron),
 *   alert: {webhook: URL}, retrain: {workflowTemplate, after, parameters} */
int resource__validate_drift_monitor(const json_t *obj, struct skiff_validation *v)
{
    char p[RESOURCE__PTR_MAX], tp[RESOURCE__PTR_MAX];
    const json_t *spec = json_object_get(obj, "spec"), *share, *thr, *alert, *ref, *cur, *re;
    const json_t *per, *pc, *model, *isvc, *hook = NULL;
    const char *key;
    int rc;

    /* the optional fields' shapes first, then what a run cannot do without */
    if ((rc = resource__field(v, spec, "/spec", "featureView", RT_STRING, RF_NONEMPTY, NULL)) ||
        (rc = resource__field(v, spec, "/spec", "featureService", RT_STRING, RF_NONEMPTY, NULL)) ||
        (rc = resource__enum(v, spec, "/spec", "stattest", stattests)) ||
        (rc = resource__field(v, spec, "/spec", "stattestThreshold", RT_NUMBER, 0, &thr)) ||
        (rc = resource__field(v, spec, "/spec", "driftShare", RT_NUMBER, 0, &share)) ||
        (rc = resource__field(v, spec, "/spec", "schedule", RT_STRING, RF_NONEMPTY, NULL)) ||
        (rc = resource__string_list(v, spec, "/spec", "columns", 0)) ||
        (rc = resource__field(v, spec, "/spec", "perColumn", RT_OBJECT, 0, &per)) ||
        (rc = resource__field(v, spec, "/spec", "retrain", RT_OBJECT, 0, &re)) ||
        (rc = resource__field(v, spec, "/spec", "alert", RT_OBJECT, 0, &alert)) ||
        (alert && (rc = resource__field(v, alert, "/spec/alert", "webhook", RT_STRING,
                                        RF_REQUIRED | RF_NONEMPTY, &hook))))
        return rc;
    if (hook && strncmp(json_string_value(hook), "http://", 7) != 0 &&
        strncmp(json_string_value(hook), "https://", 8) != 0)
        return skiff_validation_fail(v, "/spec/alert/webhook", SKIFF_EINVAL,
                                     "a webhook is an http:// or https:// URL");
    if (thr && json_number_value(thr) < 0)
        return skiff_validation_fail(v, "/spec/stattestThreshold", SKIFF_EINVAL,
                                     "must not be negative");
    /* the share of drifted columns that makes the dataset drifted */
    if (share && (json_number_value(share) <= 0 || json_number_value(share) > 1))
        return skiff_validation_fail(v, "/spec/driftShare", SKIFF_EINVAL,
                                     "must be in (0, 1], e.g. 0.3 for 30%% of the columns");
    json_object_foreach((json_t *)per, key, pc) {
        const json_t *t;
        resource__ptr(p, "/spec/perColumn", key);
        if (!json_is_object(pc))
            return skiff_validation_fail(v, p, SKIFF_EINVAL,
                                         "an object with stattest and/or stattestThreshold");
        if ((rc = resource__enum(v, pc, p, "stattest", stattests)) ||
            (rc = resource__field(v, pc, p, "stattestThreshold", RT_NUMBER, 0, &t)))
            return rc;
        if (t && json_number_value(t) < 0)
            return skiff_validation_fail(v, resource__ptr(tp, p, "stattestThreshold"),
                                         SKIFF_EINVAL, "must not be negative");
    }
    if (re && ((rc = resource__field(v, re, "/spec/retrain", "workflowTemplate", RT_STRING,
                                     RF_REQUIRED | RF_NONEMPTY, NULL)) ||
               (rc = check_duration(v, re, "/spec/retrain", "after")) ||
               (rc = resource__string_map(v, re, "/spec/retrain", "parameters"))))
        return rc;

    /* Every run compares a reference with a current dataset: a monitor
     * without them (the kind's first form named only a featureView or
     * featureService, which the controller does not read data from) could
     * only ever fail, so it is refused here with what to add. */
    if (!json_object_get(spec, "reference"))
        return skiff_validation_fail(v, "/spec/reference", SKIFF_EINVAL,
                                     "missing required field (model: \"models:/NAME@ALIAS\", or "
                                     "path: a CSV file; featureView / featureService do not "
                                     "replace it)");
    if (!json_object_get(spec, "current"))
        return skiff_validation_fail(v, "/spec/current", SKIFF_EINVAL,
                                     "missing required field (inferenceService: its payload "
                                     "log, or path: a CSV file; featureView / featureService "
                                     "do not replace it)");
    if ((rc = resource__field(v, spec, "/spec", "reference", RT_OBJECT, RF_REQUIRED, &ref)) ||
        (rc = resource__field(v, ref, "/spec/reference", "model", RT_STRING, RF_NONEMPTY,
                              &model)) ||
        (rc = resource__field(v, ref, "/spec/reference", "path", RT_STRING, RF_NONEMPTY, NULL)))
        return rc;
    if (!model && !json_object_get(ref, "path"))
        return skiff_validation_fail(v, "/spec/reference", SKIFF_EINVAL,
                                     "needs model (\"models:/NAME@ALIAS\", whose training "
                                     "sample is the reference) or path (a CSV file)");
    if (model && strncmp(json_string_value(model), "models:/", 8) != 0)
        return skiff_validation_fail(v, "/spec/reference/model", SKIFF_EINVAL,
                                     "a model URI is \"models:/NAME@ALIAS\" or "
                                     "\"models:/NAME/VERSION\"");
    if ((rc = resource__field(v, spec, "/spec", "current", RT_OBJECT, RF_REQUIRED, &cur)) ||
        (rc = resource__field(v, cur, "/spec/current", "inferenceService", RT_STRING,
                              RF_NONEMPTY, &isvc)) ||
        (rc = resource__field(v, cur, "/spec/current", "path", RT_STRING, RF_NONEMPTY, NULL)) ||
        (rc = check_duration(v, cur, "/spec/current", "window")))
        return rc;
    if (!isvc && !json_object_get(cur, "path"))
        return skiff_validation_fail(v, "/spec/current", SKIFF_EINVAL,
                                     "needs inferenceService (its payload log over window) or "
                                     "path (a CSV file)");
    if (isvc && strpbrk(json_string_value(isvc), "/\\"))
        return skiff_validation_fail(v, "/spec/current/inferenceService", SKIFF_EINVAL,
                                     "an InferenceService name has no '/'");
    return 0;
}

int resource__validate_service_account(const json_t *obj, struct skiff_validation *v)
{
    const json_t *spec = json_object_get(obj, "spec");
    int rc;
    if (!spec)
        return 0;
    if ((rc = resource__string_list(v, spec, "/spec", "roles", 0)) ||
        (rc = resource__field(v, spec, "/spec", "description", RT_STRING, 0, NULL)))
        return rc;
    return 0;
}

/* A scope is one word: "admin", "<area>:<verb>" or "<area>:*" (include/skiff/auth.h). */
int resource__validate_role(const json_t *obj, struct skiff_validation *v)
{
    char p[RESOURCE__PTR_MAX];
    const json_t *spec = json_object_get(obj, "spec"), *scopes, *s;
    size_t i;
    int rc;

    if ((rc = resource__string_list(v, spec, "/spec", "scopes", RF_REQUIRED | RF_NONEMPTY)) ||
        (rc = resource__field(v, spec, "/spec", "scopes", RT_ARRAY, 0, &scopes)) ||
        (rc = resource__field(v, spec, "/spec", "description", RT_STRING, 0, NULL)))
        return rc;
    json_array_foreach(scopes, i, s) {
        if (strpbrk(json_string_value(s), " \t\n\r"))
            return skiff_validation_fail(v, resource__ptr_idx(p, "/spec/scopes", i), SKIFF_EINVAL,
                                         "a scope is one word, such as \"features:read\", "
                                         "\"models:*\" or \"admin\"");
    }
    return 0;
}
