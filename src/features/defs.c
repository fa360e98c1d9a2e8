/* Feature store definitions: Entity, DataSource, FeatureView and
 * FeatureService documents (skiff.dev/v1) loaded into a registry.
 *
 * Loading is two passes: every document of every file is parsed and
 * validated by its kind's validator (src/resource, as `skiff apply` does),
 * then the objects are
 * built kind by kind in dependency order (entities and sources, views,
 * services), so a view may come before its entities in the files. Every
 * string of the registry borrows from the loaded JSON documents, which the
 * registry keeps (r->docs); only arrays and resolved paths are allocated.
 *
 * Field names and meanings (docs/features.md):
 *   Entity       joinKeys: [one key]  valueType (STRING when absent)
 *   DataSource   file: {path, format: csv} (a file, .csv.gz too, or a folder)
 *                | postgres: {table | query}  timestampField (default
 *                event_timestamp)  createdTimestampColumn  fieldMapping
 *                | push: {batchSource} (read offline through the batch source)
 *   FeatureView  entities, source, ttl (0 or absent: no limit), online,
 *                fields: [{name, dtype}]
 *                aggregations: [{name, function, column, window}]
 *                derived: [{name, expr}]
 *   FeatureService features: [view | "view:feature" | {view, features}]
 */
#include "features_int.h"

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/resource.h"
#include "skiff/time.h"
#include "skiff/yaml.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_FILES 4096

/* One loaded document and where it came from (for positions in errors). */
struct doc {
    json_t *obj;                          /* borrowed from r->docs */
    const struct skiff_yaml_docs *yaml;
    size_t index;
    const char *dir;                      /* folder of its file */
};

struct loader {
    struct skiff_feat_registry *r;
    struct skiff_yaml_docs *yaml[MAX_FILES];
    char *dirs[MAX_FILES];
    size_t nfiles;
    struct doc *docs;
    size_t ndocs, cap;
};

static const char *kind_of(const json_t *obj)
{
    return json_string_value(json_object_get(obj, "kind"));
}

static const char *name_of(const json_t *obj)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
}

static const json_t *spec_of(const json_t *obj)
{
    return json_object_get(obj, "spec");
}

static bool is_feature_kind(const json_t *obj)
{
    static const char *const kinds[] = {"Entity", "DataSource", "FeatureView", "FeatureService"};
    const char *k = kind_of(obj), *api = json_string_value(json_object_get(obj, "apiVersion"));
    if (!k || !api || strcmp(api, "skiff.dev/v1") != 0)
        return false;
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (strcmp(k, kinds[i]) == 0)
            return true;
    return false;
}

static int load_file(struct loader *l, const char *path, struct skiff_err *err)
{
    struct skiff_yaml_docs *y;
    char *dir, *slash;
    int rc;

    if (l->nfiles == MAX_FILES)
        return skiff_err_set(err, SKIFF_ETOOBIG, "more than %d definition files", MAX_FILES);
    if ((rc = skiff_yaml_load_file(path, &y, err)))
        return rc;
    l->yaml[l->nfiles] = y;
    if (!(dir = strdup(path)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory loading '%s'", path);
    slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = '\0';
    else
        strcpy(dir, ".");
    l->dirs[l->nfiles++] = dir;

    for (size_t i = 0; i < skiff_yaml_count(y); i++) {
        json_t *obj = skiff_yaml_doc(y, i);
        struct skiff_validation v = {.docs = y, .doc_index = i, .err = err};
        const struct skiff_kind *k;

        if (!is_feature_kind(obj))
            continue;
        /* the same checks skiff apply runs (warnings are apply's to print) */
        rc = skiff_resource_validate(obj, &v, &k);
        skiff_validation_release(&v);
        if (rc)
            return rc;
        if (l->ndocs == l->cap) {
            struct doc *d;
            l->cap = l->cap ? l->cap * 2 : 16;
            if (!(d = realloc(l->docs, l->cap * sizeof *d)))
                return skiff_err_set(err, SKIFF_ENOMEM, "out of memory loading '%s'", path);
            l->docs = d;
        }
        if (json_array_append(l->r->docs, obj))
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory loading '%s'", path);
        l->docs[l->ndocs++] = (struct doc){obj, y, i, dir};
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A folder: its *.yaml and *.yml files in name order (not recursive). */
static int load_dir(struct loader *l, const char *path, struct skiff_err *err)
{
    char *names[MAX_FILES];
    size_t n = 0;
    struct dirent *de;
    DIR *d = opendir(path);
    int rc = 0;

    if (!d)
        return skiff_err_sys(err, SKIFF_EIO, "cannot open folder '%s'", path);
    while ((de = readdir(d)) != NULL && rc == 0) {
        if (de->d_name[0] == '.' || !(skiff_str_endswith(de->d_name, ".yaml") ||
                                      skiff_str_endswith(de->d_name, ".yml")))
            continue;
        if (n == MAX_FILES)
            rc = skiff_err_set(err, SKIFF_ETOOBIG, "more than %d files in '%s'", MAX_FILES, path);
        else if (!(names[n] = malloc(strlen(path) + strlen(de->d_name) + 2)))
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading '%s'", path);
        else
            sprintf(names[n++], "%s/%s", path, de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = load_file(l, names[i], err);
        free(names[i]);
    }
    return rc;
}

/* ---- building the objects ---- */

static int fail_at(const struct doc *d, const char *ptr, struct skiff_err *err, int code,
                   const char *msg)
{
    if (!d->yaml)   /* a stored object: the field's path instead of a position */
        return skiff_err_set(err, code, "%s %s: field %s: %s", kind_of(d->obj),
                             name_of(d->obj), ptr, msg);
    return skiff_yaml_err(d->yaml, d->index, ptr, err, code, "%s %s: %s", kind_of(d->obj),
                          name_of(d->obj), msg);
}

static int build_entity(const struct doc *d, struct skiff_feat_entity *e, struct skiff_err *err)
{
    const json_t *spec = spec_of(d->obj), *keys = json_object_get(spec, "joinKeys");
    const char *vt = json_string_value(json_object_get(spec, "valueType"));

    e->name = name_of(d->obj);
    if (json_array_size(keys) > 1)
        return fail_at(d, "/spec/joinKeys/1", err, SKIFF_EINVAL,
                       "an entity has one join key, as in Feast; a view joins on several keys "
                       "by naming several entities");
    e->join_key = json_string_value(json_array_get(keys, 0));
    e->type = SKIFF_FEAT_STRING;
    if (vt && skiff_feat_type_parse(vt) >= 0)
        e->type = (enum skiff_feat_type)skiff_feat_type_parse(vt);
    else if (vt)
        return fail_at(d, "/spec/valueType", err, SKIFF_EINVAL,
                       "this value type cannot be a join key here");
    return 0;
}

static int build_source(const struct doc *d, struct skiff_feat_source *s, struct skiff_err *err)
{
    const json_t *spec = spec_of(d->obj), *file = json_object_get(spec, "file");
    const json_t *map = json_object_get(spec, "fieldMapping"), *val, *pg;
    const char *path, *fmt, *key;
    size_t i = 0;

    s->name = name_of(d->obj);
    s->timestamp_field = json_string_value(json_object_get(spec, "timestampField"));
    if (!s->timestamp_field)
        s->timestamp_field = "event_timestamp";
    s->created_column = json_string_value(json_object_get(spec, "createdTimestampColumn"));
    if ((pg = json_object_get(spec, "postgres"))) {
        s->pg_table = json_string_value(json_object_get(pg, "table"));
        s->pg_query = json_string_value(json_object_get(pg, "query"));
    }
    if (file) {
        path = json_string_value(json_object_get(file, "path"));
        fmt = json_string_value(json_object_get(file, "format"));
        if (fmt && strcmp(fmt, "csv") != 0)
            return fail_at(d, "/spec/file/format", err, SKIFF_EINVAL,
                           "only csv files can be read so far");
        if (!(s->path = malloc(strlen(d->dir) + strlen(path) + 2)))
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        if (path[0] == '/')
            strcpy(s->path, path);
        else
            sprintf(s->path, "%s/%s", d->dir, path);
    }
    s->nrename = json_object_size(map);
    if (s->nrename && (!(s->rename_from = calloc(s->nrename, sizeof *s->rename_from)) ||
                       !(s->rename_to = calloc(s->nrename, sizeof *s->rename_to))))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    json_object_foreach((json_t *)map, key, val) {
        s->rename_from[i] = key;
        s->rename_to[i++] = json_string_value(val);
    }
    return 0;
}

static bool is_numeric(enum skiff_feat_type t)
{
    return t == SKIFF_FEAT_INT64 || t == SKIFF_FEAT_INT32 || t == SKIFF_FEAT_DOUBLE ||
           t == SKIFF_FEAT_FLOAT || t == SKIFF_FEAT_BOOL;
}

static int parse_duration_json(const json_t *j, int64_t *out)
{
    if (json_is_integer(j)) {
        *out = json_integer_value(j) * SKIFF_US_PER_SEC;
        return 0;
    }
    return skiff_duration_parse(json_string_value(j), out, NULL);
}

/* The names the view's features go by, in order fields, aggregations,
 * derived; NULL for a non-numeric one when `numeric_only` (an expression
 * cannot use it). n is how many of them are defined so far. */
static void feature_names(const struct skiff_feat_view *v, const char **names, size_t n,
                          bool numeric_only)
{
    for (size_t i = 0; i < n; i++) {
        if (i < v->nfields)
            names[i] = !numeric_only || is_numeric(v->fields[i].type) ? v->fields[i].name : "";
        else if (i < v->nfields + v->naggs)
            names[i] = !numeric_only || is_numeric(v->aggs[i - v->nfields].out_type)
                           ? v->aggs[i - v->nfields].name : "";
        else
            names[i] = v->derived[i - v->nfields - v->naggs].name;
    }
}

static const struct skiff_feat_entity *find_entity(const struct skiff_feat_registry *r,
                                                   const char *name)
{
    for (size_t i = 0; i < r->nentities; i++)
        if (strcmp(r->entities[i].name, name) == 0)
            return &r->entities[i];
    return NULL;
}

static const struct skiff_feat_source *find_source(const struct skiff_feat_registry *r,
                                                   const char *name)
{
    for (size_t i = 0; i < r->nsources; i++)
        if (strcmp(r->sources[i].name, name) == 0)
            return &r->sources[i];
    return NULL;
}

/* The batchSource push source `name` names; NULL when it is not a push
 * source. */
static const char *push_batch_of(const struct skiff_feat_registry *r, const char *name)
{
    size_t i;
    json_t *obj;
    json_array_foreach(r->docs, i, obj) {
        const char *batch = json_string_value(
            json_object_get(json_object_get(spec_of(obj), "push"), "batchSource"));
        if (batch && strcmp(kind_of(obj), "DataSource") == 0 && strcmp(name_of(obj), name) == 0)
            return batch;
    }
    return NULL;
}

/* Whether an aggregation function does arithmetic on its column. */
static bool needs_number(const char *fn)
{
    return strcmp(fn, "count") != 0 && strcmp(fn, "count_distinct") != 0 &&
           strcmp(fn, "last") != 0;
}

static int build_aggs(const struct doc *d, struct skiff_feat_view *v, struct skiff_err *err)
{
    static const char *const fns[] = {"count", "sum", "avg", "min", "max", "stddev",
                                      "count_distinct", "last"};
    const json_t *aggs = json_object_get(spec_of(d->obj), "aggregations"), *a;
    char ptr[128];
    size_t i;

    v->naggs = json_array_size(aggs);
    if (v->naggs && !(v->aggs = calloc(v->naggs, sizeof *v->aggs)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    json_array_foreach(aggs, i, a) {
        struct skiff_feat_agg *g = &v->aggs[i];
        const char *fn = json_string_value(json_object_get(a, "function"));
        bool numeric;

        g->name = json_string_value(json_object_get(a, "name"));
        g->column = json_string_value(json_object_get(a, "column"));
        for (size_t f = 0; f < sizeof fns / sizeof *fns; f++)
            if (strcmp(fn, fns[f]) == 0)
                g->fn = (enum skiff_feat_agg_fn)f;
        numeric = needs_number(fn);
        /* the column's type: as a plain field declares it, else DOUBLE when any
         * aggregation of the view does arithmetic on it, else STRING */
        g->column_type = SKIFF_FEAT_STRING;
        for (size_t k = 0; g->column && k < v->naggs; k++) {
            const json_t *o = json_array_get(aggs, k);
            const char *col = json_string_value(json_object_get(o, "column"));
            if (col && strcmp(col, g->column) == 0 &&
                needs_number(json_string_value(json_object_get(o, "function"))))
                g->column_type = SKIFF_FEAT_DOUBLE;
        }
        for (size_t f = 0; g->column && f < v->nfields; f++)
            if (strcmp(v->fields[f].name, g->column) == 0)
                g->column_type = v->fields[f].type;
        snprintf(ptr, sizeof ptr, "/spec/aggregations/%zu/column", i);
        if (numeric && !is_numeric(g->column_type) &&
            !((g->fn == SKIFF_FEAT_AGG_MIN || g->fn == SKIFF_FEAT_AGG_MAX) &&
              g->column_type == SKIFF_FEAT_UNIX_TIMESTAMP))
            return fail_at(d, ptr, err, SKIFF_EINVAL, "this function needs a numeric column");
        snprintf(ptr, sizeof ptr, "/spec/aggregations/%zu/window", i);
        if (parse_duration_json(json_object_get(a, "window"), &g->window_us) || g->window_us <= 0)
            return fail_at(d, ptr, err, SKIFF_EINVAL, "not a positive duration");
        switch (g->fn) {
        case SKIFF_FEAT_AGG_COUNT:
        case SKIFF_FEAT_AGG_COUNT_DISTINCT:
            g->out_type = SKIFF_FEAT_INT64;
            break;
        case SKIFF_FEAT_AGG_SUM:
            g->out_type = g->column_type == SKIFF_FEAT_DOUBLE || g->column_type == SKIFF_FEAT_FLOAT
                              ? SKIFF_FEAT_DOUBLE : SKIFF_FEAT_INT64;
            break;
        case SKIFF_FEAT_AGG_AVG:
        case SKIFF_FEAT_AGG_STDDEV:
            g->out_type = SKIFF_FEAT_DOUBLE;
            break;
        default:
            g->out_type = g->column_type == SKIFF_FEAT_FLOAT ? SKIFF_FEAT_DOUBLE : g->column_type;
            break;
        }
    }
    return 0;
}

static int build_view(const struct skiff_feat_registry *r, const struct doc *d,
                      struct skiff_feat_view *v, struct skiff_err *err)
{
    const json_t *spec = spec_of(d->obj), *ents = json_object_get(spec, "entities"), *x;
    const json_t *fields = json_object_get(spec, "fields"), *derived, *ttl;
    const char **names = NULL;
    size_t i, nall;
    char ptr[128];
    int rc = 0;

    v->name = name_of(d->obj);
    v->online = !json_is_false(json_object_get(spec, "online"));
    v->nentities = json_array_size(ents);
    if (!(v->entities = calloc(v->nentities, sizeof *v->entities)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    json_array_foreach(ents, i, x) {
        snprintf(ptr, sizeof ptr, "/spec/entities/%zu", i);
        if (!(v->entities[i] = find_entity(r, json_string_value(x))))
            return fail_at(d, ptr, err, SKIFF_EINVAL, "no such Entity");
        for (size_t j = 0; j < i; j++)
            if (strcmp(v->entities[j]->join_key, v->entities[i]->join_key) == 0)
                return fail_at(d, ptr, err, SKIFF_EINVAL,
                               "two entities of a view have the same join key");
    }
    if (!(v->source = find_source(r, json_string_value(json_object_get(spec, "source")))))
        return fail_at(d, "/spec/source", err, SKIFF_EINVAL, "no such DataSource");
    if (!v->source->batch && push_batch_of(r, v->source->name)) {
        char msg[512];
        snprintf(msg, sizeof msg, "push source '%s' reads batchSource '%s', which is not a "
                 "file or postgres DataSource", v->source->name,
                 push_batch_of(r, v->source->name));
        return fail_at(d, "/spec/source", err, SKIFF_EINVAL, msg);
    }
    if ((ttl = json_object_get(spec, "ttl")) && parse_duration_json(ttl, &v->ttl_us))
        return fail_at(d, "/spec/ttl", err, SKIFF_EINVAL, "not a duration");
    v->nfields = json_array_size(fields);
    if (v->nfields && !(v->fields = calloc(v->nfields, sizeof *v->fields)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    json_array_foreach(fields, i, x) {
        v->fields[i].name = json_string_value(json_object_get(x, "name"));
        v->fields[i].type = (enum skiff_feat_type)skiff_feat_type_parse(
            json_string_value(json_object_get(x, "dtype")));
    }
    if ((rc = build_aggs(d, v, err)))
        return rc;

    derived = json_object_get(spec, "derived");
    nall = v->nfields + v->naggs + json_array_size(derived);
    if (!(names = calloc(nall + 1, sizeof *names)) ||
        (json_array_size(derived) &&
         !(v->derived = calloc(json_array_size(derived), sizeof *v->derived)))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    json_array_foreach(derived, i, x) {
        struct skiff_feat_derived *dv = &v->derived[i];
        struct skiff_err perr = SKIFF_ERR_INIT;
        dv->name = json_string_value(json_object_get(x, "name"));
        dv->text = json_string_value(json_object_get(x, "expr"));
        feature_names(v, names, v->nfields + v->naggs + i, true);
        v->nderived = i;
        snprintf(ptr, sizeof ptr, "/spec/derived/%zu/expr", i);
        if (skiff_feat_expr_parse(dv->text, names, v->nfields + v->naggs + i, &dv->expr, &perr)) {
            rc = fail_at(d, ptr, err, perr.code, perr.msg);
            goto out;
        }
        v->nderived = i + 1;
    }
    /* one name per feature across fields, aggregations and derived */
    feature_names(v, names, nall, false);
    for (i = 0; i < nall; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0) {
                char msg[512];
                snprintf(msg, sizeof msg, "two features are named '%s'", names[i]);
                rc = fail_at(d, "/spec", err, SKIFF_EINVAL, msg);
                goto out;
            }
out:
    free(names);
    return rc;
}

/* Whether view v has a feature `name`. */
static bool has_feature(const struct skiff_feat_view *v, const char *name)
{
    for (size_t i = 0; i < v->nfields; i++)
        if (strcmp(v->fields[i].name, name) == 0)
            return true;
    for (size_t i = 0; i < v->naggs; i++)
        if (strcmp(v->aggs[i].name, name) == 0)
            return true;
    for (size_t i = 0; i < v->nderived; i++)
        if (strcmp(v->derived[i].name, name) == 0)
            return true;
    return false;
}

static int build_service(const struct skiff_feat_registry *r, const struct doc *d,
                         struct skiff_feat_service *s, struct skiff_err *err)
{
    const json_t *features = json_object_get(spec_of(d->obj), "features"), *f;
    char ptr[128];
    size_t i;

    s->name = name_of(d->obj);
    s->nproj = json_array_size(features);
    if (!(s->proj = calloc(s->nproj, sizeof *s->proj)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    json_array_foreach(features, i, f) {
        struct skiff_feat_projection *p = &s->proj[i];
        const json_t *list = NULL, *x;
        const char *view, *colon = NULL;
        char vname[256];
        size_t j;

        snprintf(ptr, sizeof ptr, "/spec/features/%zu", i);
        if (json_is_string(f)) {
            view = json_string_value(f);
            colon = strchr(view, ':');
        } else {
            view = json_string_value(json_object_get(f, "view"));
            if (!view)
                view = json_string_value(json_object_get(f, "featureView"));
            list = json_object_get(f, "features");
        }
        snprintf(vname, sizeof vname, "%.*s", colon ? (int)(colon - view) : (int)strlen(view),
                 view);
        if (!(p->view = skiff_feat_view_get(r, vname)))
            return fail_at(d, ptr, err, SKIFF_EINVAL, "no such FeatureView");
        p->nfeatures = colon ? 1 : json_array_size(list);
        if (p->nfeatures && !(p->features = calloc(p->nfeatures, sizeof *p->features)))
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        if (colon)
            p->features[0] = colon + 1;
        json_array_foreach(list, j, x)
            p->features[j] = json_string_value(x);
        for (j = 0; j < p->nfeatures; j++)
            if (!has_feature(p->view, p->features[j])) {
                char msg[512];
                snprintf(msg, sizeof msg, "view '%s' has no feature '%s'", p->view->name,
                         p->features[j]);
                return fail_at(d, ptr, err, SKIFF_EINVAL, msg);
            }
    }
    return 0;
}

/* Counts the documents of `kind`, checking that their names are unique. */
static int count_kind(const struct loader *l, const char *kind, size_t *n, struct skiff_err *err)
{
    *n = 0;
    for (size_t i = 0; i < l->ndocs; i++) {
        if (strcmp(kind_of(l->docs[i].obj), kind) != 0)
            continue;
        for (size_t j = 0; j < i; j++)
            if (strcmp(kind_of(l->docs[j].obj), kind) == 0 &&
                strcmp(name_of(l->docs[j].obj), name_of(l->docs[i].obj)) == 0)
                return fail_at(&l->docs[i], "/metadata/name", err, SKIFF_EINVAL,
                               "defined twice");
        (*n)++;
    }
    return 0;
}

/* Points each push source at its batchSource when that is a source with
 * rows (file or postgres): one level, so a push source never reads another
 * push source. r->sources does not move once built, so the pointers hold.
 * A batchSource that is not there is an error of the views reading the push
 * source (build_view), as a missing source is. */
static void resolve_batch_sources(struct skiff_feat_registry *r)
{
    for (size_t i = 0; i < r->nsources; i++) {
        const char *batch = push_batch_of(r, r->sources[i].name);
        const struct skiff_feat_source *b = batch ? find_source(r, batch) : NULL;
        if (b && (b->path || b->pg_table || b->pg_query))
            r->sources[i].batch = b;
    }
}

static int build(struct loader *l, struct skiff_err *err)
{
    struct skiff_feat_registry *r = l->r;
    int rc;

    if ((rc = count_kind(l, "Entity", &r->nentities, err)) ||
        (rc = count_kind(l, "DataSource", &r->nsources, err)) ||
        (rc = count_kind(l, "FeatureView", &r->nviews, err)) ||
        (rc = count_kind(l, "FeatureService", &r->nservices, err)))
        return rc;
    if (!(r->entities = calloc(r->nentities + 1, sizeof *r->entities)) ||
        !(r->sources = calloc(r->nsources + 1, sizeof *r->sources)) ||
        !(r->views = calloc(r->nviews + 1, sizeof *r->views)) ||
        !(r->services = calloc(r->nservices + 1, sizeof *r->services)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    /* the counts grow as objects are built, so that free sees what exists */
    size_t ne = r->nentities, ns = r->nsources, nv = r->nviews, nsv = r->nservices;
    r->nentities = r->nsources = r->nviews = r->nservices = 0;
    for (size_t i = 0; i < l->ndocs && r->nentities < ne; i++)
        if (strcmp(kind_of(l->docs[i].obj), "Entity") == 0 &&
            (rc = build_entity(&l->docs[i], &r->entities[r->nentities++], err)))
            return rc;
    for (size_t i = 0; i < l->ndocs && r->nsources < ns; i++)
        if (strcmp(kind_of(l->docs[i].obj), "DataSource") == 0 &&
            (rc = build_source(&l->docs[i], &r->sources[r->nsources++], err)))
            return rc;
    resolve_batch_sources(r);
    for (size_t i = 0; i < l->ndocs && r->nviews < nv; i++)
        if (strcmp(kind_of(l->docs[i].obj), "FeatureView") == 0 &&
            (rc = build_view(r, &l->docs[i], &r->views[r->nviews++], err)))
            return rc;
    for (size_t i = 0; i < l->ndocs && r->nservices < nsv; i++)
        if (strcmp(kind_of(l->docs[i].obj), "FeatureService") == 0 &&
            (rc = build_service(r, &l->docs[i], &r->services[r->nservices++], err)))
            return rc;
    return 0;
}

/* Adds one object (validated again: what the build reads must be there). */
static int add_object(struct loader *l, json_t *obj, const char *dir, struct skiff_err *err)
{
    struct skiff_validation v = {.err = err};
    const struct skiff_kind *k;
    const char *origin;
    int rc;

    if (!is_feature_kind(obj))
        return 0;
    rc = skiff_resource_validate(obj, &v, &k);
    skiff_validation_release(&v);
    if (rc)
        return rc;
    if (l->ndocs == l->cap) {
        struct doc *d;
        l->cap = l->cap ? l->cap * 2 : 16;
        if (!(d = realloc(l->docs, l->cap * sizeof *d)))
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        l->docs = d;
    }
    if (json_array_append(l->r->docs, obj))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    /* a stored object knows the folder it was applied from; obj (and so
     * the string) lives as long as the registry holds it in docs */
    origin = json_string_value(json_object_get(
        json_object_get(json_object_get(obj, "metadata"), "annotations"),
        SKIFF_ANNOTATION_APPLIED_FROM));
    if (origin && origin[0] == '/')
        dir = origin;
    l->docs[l->ndocs++] = (struct doc){obj, NULL, 0, dir};
    return 0;
}

int skiff_feat_registry_from_objects(const json_t *objects, const char *base_dir,
                                     struct skiff_feat_registry **out, struct skiff_err *err)
{
    struct loader *l = calloc(1, sizeof *l);
    json_t *obj;
    size_t i;
    int rc = 0;

    *out = NULL;
    if (!l || !(l->r = calloc(1, sizeof *l->r)) || !(l->r->docs = json_array())) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    json_array_foreach(objects, i, obj)
        if ((rc = add_object(l, obj, base_dir, err)))
            goto out;
    if ((rc = build(l, err)) == 0) {
        *out = l->r;
        l->r = NULL;
    }
out:
    if (l) {
        skiff_feat_registry_free(l->r);
        free(l->docs);
        free(l);
    }
    return rc;
}

int skiff_feat_registry_load(const char *path, struct skiff_feat_registry **out,
                             struct skiff_err *err)
{
    struct loader *l = calloc(1, sizeof *l);
    struct stat st;
    int rc;

    *out = NULL;
    if (!l || !(l->r = calloc(1, sizeof *l->r)) || !(l->r->docs = json_array())) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    if (stat(path, &st) != 0) {
        rc = skiff_err_sys(err, SKIFF_EINVAL, "cannot read '%s'", path);
        goto out;
    }
    rc = S_ISDIR(st.st_mode) ? load_dir(l, path, err) : load_file(l, path, err);
    if (rc == 0)
        rc = build(l, err);
    if (rc == 0) {
        *out = l->r;
        l->r = NULL;
    }
out:
    if (l) {
        skiff_feat_registry_free(l->r);
        for (size_t i = 0; i < l->nfiles; i++) {
            skiff_yaml_free(l->yaml[i]);
            free(l->dirs[i]);
        }
        free(l->docs);
        free(l);
    }
    return rc;
}

void skiff_feat_registry_free(struct skiff_feat_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nsources; i++) {
        free(r->sources[i].path);
        free(r->sources[i].rename_from);
        free(r->sources[i].rename_to);
    }
    for (size_t i = 0; i < r->nviews; i++) {
        struct skiff_feat_view *v = &r->views[i];
        free(v->entities);
        free(v->fields);
        free(v->aggs);
        for (size_t j = 0; j < v->nderived; j++)
            skiff_feat_expr_free(v->derived[j].expr);
        free(v->derived);
    }
    for (size_t i = 0; i < r->nservices; i++) {
        for (size_t j = 0; j < r->services[i].nproj; j++)
            free(r->services[i].proj[j].features);
        free(r->services[i].proj);
    }
    free(r->entities);
    free(r->sources);
    free(r->views);
    free(r->services);
    json_decref(r->docs);
    free(r);
}

const struct skiff_feat_service *skiff_feat_service_get(const struct skiff_feat_registry *r,
                                                        const char *name)
{
    for (size_t i = 0; i < r->nservices; i++)
        if (strcmp(r->services[i].name, name) == 0)
            return &r->services[i];
    return NULL;
}

const struct skiff_feat_view *skiff_feat_view_get(const struct skiff_feat_registry *r,
                                                  const char *name)
{
    for (size_t i = 0; i < r->nviews; i++)
        if (strcmp(r->views[i].name, name) == 0)
            return &r->views[i];
    return NULL;
}
