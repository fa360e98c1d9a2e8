/* Data validation against an expectations file (ml.h).
 *
 * Two phases. Loading checks the expectations themselves, so that a typo
 * in a rule is an error at its file:line:col, never a rule silently not
 * applied. Validating reads the data as text (the feature store's CSV
 * reader, every column kept) and runs each column's rules in one pass over
 * its cells; each failed rule is one violation with a count and the first
 * offending line, so a report stays short however bad the file.
 * A null is an empty cell.
 */
#include "ml_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/features.h"
#include "skiff/time.h"
#include "skiff/yaml.h"

enum vtype { T_ANY, T_STRING, T_NUMBER, T_INTEGER, T_BOOLEAN, T_TIMESTAMP };
static const char *const type_names[] = {"any", "string", "number", "integer", "boolean",
                                         "timestamp"};

struct rule {
    const char *name;          /* borrowed from the document */
    enum vtype type;
    bool has_min, has_max, not_null, unique;
    double min, max;
    double max_null;           /* fraction, < 0 when not set */
    const json_t *allowed;     /* array, or NULL */
};

struct skiff_ml_expect {
    struct skiff_yaml_docs *docs;
    struct rule *rules;
    size_t nrules;
    bool strict;
    bool has_rmin, has_rmax;
    double rmin, rmax;
};

void skiff_ml_expect_free(struct skiff_ml_expect *e)
{
    if (!e)
        return;
    skiff_yaml_free(e->docs);
    free(e->rules);
    free(e);
}

/* JSON pointer of key under prefix, with ~ and / escaped. */
static void ptr_of(char *out, size_t n, const char *prefix, const char *key)
{
    size_t len = (size_t)snprintf(out, n, "%s/", prefix);
    for (; *key && len + 3 < n; key++) {
        if (*key == '~' || *key == '/') {
            out[len++] = '~';
            out[len++] = *key == '~' ? '0' : '1';
        } else {
            out[len++] = *key;
        }
    }
    out[len] = 0;
}

static int want_number(struct skiff_ml_expect *e, const char *ptr, const json_t *v, double *out,
                       struct skiff_err *err)
{
    if (!json_is_number(v))
        return skiff_yaml_err(e->docs, 0, ptr, err, SKIFF_EINVAL, "'%s' must be a number",
                              strrchr(ptr, '/') + 1);
    *out = json_number_value(v);
    return 0;
}

static int want_bool(struct skiff_ml_expect *e, const char *ptr, const json_t *v, bool *out,
                     struct skiff_err *err)
{
    if (!json_is_boolean(v))
        return skiff_yaml_err(e->docs, 0, ptr, err, SKIFF_EINVAL, "'%s' must be true or false",
                              strrchr(ptr, '/') + 1);
    *out = json_is_true(v);
    return 0;
}

static int load_rule(struct skiff_ml_expect *e, const char *name, const json_t *spec,
                     struct rule *r, struct skiff_err *err)
{
    char base[1100], ptr[1200];
    const char *k;
    json_t *v;
    int rc;

    ptr_of(base, sizeof base, "/columns", name);
    *r = (struct rule){.name = name, .max_null = -1};
    if (json_is_null(spec))
        return 0;   /* "amount:" alone: the column must exist */
    if (!json_is_object(spec))
        return skiff_yaml_err(e->docs, 0, base, err, SKIFF_EINVAL,
                              "column '%s': rules must be a map (type, min, max, allowed, "
                              "not_null, max_null_fraction, unique)", name);
    json_object_foreach((json_t *)spec, k, v) {
        ptr_of(ptr, sizeof ptr, base, k);
        if (strcmp(k, "type") == 0) {
            size_t t;
            for (t = 1; t < sizeof type_names / sizeof *type_names; t++)
                if (json_is_string(v) && strcmp(json_string_value(v), type_names[t]) == 0)
                    break;
            if (t == sizeof type_names / sizeof *type_names)
                return skiff_yaml_err(e->docs, 0, ptr, err, SKIFF_EINVAL,
                                      "column '%s': unknown type (string, number, integer, "
                                      "boolean or timestamp)", name);
            r->type = (enum vtype)t;
        } else if (strcmp(k, "min") == 0) {
            if ((rc = want_number(e, ptr, v, &r->min, err)))
                return rc;
            r->has_min = true;
        } else if (strcmp(k, "max") == 0) {
            if ((rc = want_number(e, ptr, v, &r->max, err)))
                return rc;
            r->has_max = true;
        } else if (strcmp(k, "not_null") == 0) {
            if ((rc = want_bool(e, ptr, v, &r->not_null, err)))
                return rc;
        } else if (strcmp(k, "unique") == 0) {
            if ((rc = want_bool(e, ptr, v, &r->unique, err)))
                return rc;
        } else if (strcmp(k, "max_null_fraction") == 0) {
            if ((rc = want_number(e, ptr, v, &r->max_null, err)))
                return rc;
            if (r->max_null < 0 || r->max_null > 1)
                return skiff_yaml_err(e->docs, 0, ptr, err, SKIFF_EINVAL,
                                      "column '%s': max_null_fraction must be within 0 .. 1",
                                      name);
        } else if (strcmp(k, "allowed") == 0) {
            size_t i;
            json_t *a;
            if (!json_is_array(v) || json_array_size(v) == 0)
                return skiff_yaml_err(e->docs, 0, ptr, err, SKIFF_EINVAL,
                                      "column '%s': allowed must be a list of values", name);
            json_array_foreach(v, i, a)
                if (!json_is_string(a) && !json_is_number(a) && !json_is_boolean(a))
                    return skiff_yaml_err(e->docs, 0, ptr, err, SKIFF_EINVAL,
                                          "column '%s': allowed values must be scalars", name);
            r->allowed = v;
        } else {
            return skiff_yaml_err(e->docs, 0, ptr, err, SKIFF_EINVAL,
                                  "column '%s': unknown rule '%s' (type, min, max, allowed, "
                                  "not_null, max_null_fraction, unique)", name, k);
        }
    }
    if (r->has_min && r->has_max && r->min > r->max)
        return skiff_yaml_err(e->docs, 0, base, err, SKIFF_EINVAL,
                              "column '%s': min %g is above max %g", name, r->min, r->max);
    return 0;
}

int skiff_ml_expect_load(const char *path, struct skiff_ml_expect **out, struct skiff_err *err)
{
    struct skiff_ml_expect *e = calloc(1, sizeof *e);
    json_t *doc, *v, *cols;
    const char *k;
    int rc;

    *out = NULL;
    if (!e)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if ((rc = skiff_yaml_load_file(path, &e->docs, err)))
        goto out;
    if (skiff_yaml_count(e->docs) != 1 || !json_is_object(doc = skiff_yaml_doc(e->docs, 0))) {
        rc = skiff_err_at(err, SKIFF_EINVAL, path, 1, 1,
                          "expectations must be one map (row_count, strict, columns)");
        goto out;
    }
    json_object_foreach(doc, k, v) {
        char ptr[600];
        ptr_of(ptr, sizeof ptr, "", k);
        if (strcmp(k, "strict") == 0) {
            if ((rc = want_bool(e, ptr, v, &e->strict, err)))
                goto out;
        } else if (strcmp(k, "row_count") == 0) {
            const char *rk;
            json_t *rv;
            if (!json_is_object(v)) {
                rc = skiff_yaml_err(e->docs, 0, ptr, err, SKIFF_EINVAL,
                                    "row_count must be a map with min and/or max");
                goto out;
            }
            json_object_foreach(v, rk, rv) {
                char p2[700];
                ptr_of(p2, sizeof p2, ptr, rk);
                if (strcmp(rk, "min") == 0) {
                    if ((rc = want_number(e, p2, rv, &e->rmin, err)))
                        goto out;
                    e->has_rmin = true;
                } else if (strcmp(rk, "max") == 0) {
                    if ((rc = want_number(e, p2, rv, &e->rmax, err)))
                        goto out;
                    e->has_rmax = true;
                } else {
                    rc = skiff_yaml_err(e->docs, 0, p2, err, SKIFF_EINVAL,
                                        "row_count: unknown key '%s' (min, max)", rk);
                    goto out;
                }
            }
        } else if (strcmp(k, "columns") != 0) {
            rc = skiff_yaml_err(e->docs, 0, ptr, err, SKIFF_EINVAL,
                                "unknown key '%s' (row_count, strict, columns)", k);
            goto out;
        }
    }
    cols = json_object_get(doc, "columns");
    if (cols && !json_is_object(cols)) {
        rc = skiff_yaml_err(e->docs, 0, "/columns", err, SKIFF_EINVAL,
                            "columns must be a map of column names to rules");
        goto out;
    }
    if (cols) {
        e->rules = calloc(json_object_size(cols) + 1, sizeof *e->rules);
        if (!e->rules) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
        json_object_foreach(cols, k, v)
            if ((rc = load_rule(e, k, v, &e->rules[e->nrules++], err)))
                goto out;
    }
    *out = e;
    e = NULL;
out:
    skiff_ml_expect_free(e);
    return rc;
}

/* ---- checking ---- */

struct report {
    json_t *violations;
    size_t checks;
};

static void violation(struct report *rep, const char *column, const char *check,
                      json_t *observed, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void violation(struct report *rep, const char *column, const char *check,
                      json_t *observed, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_array_append_new(rep->violations,
                          json_pack("{s:s?, s:s, s:s, s:o}", "column", column, "check", check,
                                    "message", msg, "observed", observed ? observed : json_null()));
}

static bool parse_bool(const char *s)
{
    return skiff_str_ieq(s, "true") || skiff_str_ieq(s, "false") || strcmp(s, "1") == 0 ||
           strcmp(s, "0") == 0;
}

static bool in_allowed(const json_t *allowed, const char *s, bool is_num, double v)
{
    size_t i;
    json_t *a;
    json_array_foreach(allowed, i, a) {
        if (json_is_string(a) && strcmp(json_string_value(a), s) == 0)
            return true;
        if (json_is_number(a) && is_num && json_number_value(a) == v)
            return true;
        if (json_is_boolean(a) && parse_bool(s) &&
            json_is_true(a) == (skiff_str_ieq(s, "true") || strcmp(s, "1") == 0))
            return true;
    }
    return false;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A count of offending cells and the first one. */
struct tally {
    size_t n;
    size_t line;
    const char *value;
};

static void hit(struct tally *t, size_t line, const char *value)
{
    if (t->n++ == 0) {
        t->line = line;
        t->value = value;
    }
}

static int check_column(const struct skiff_feat_table *t, size_t c, const struct rule *r,
                        struct report *rep, struct skiff_err *err)
{
    struct tally bad_type = {0}, below = {0}, above = {0}, not_allowed = {0};
    size_t nulls = 0, n = t->nrows;
    const char *name = r->name;

    for (size_t i = 0; i < n; i++) {
        const char *s = skiff_feat_table_str(t, i, c);
        size_t line = t->line ? t->line[i] : i + 2;
        double v = NAN;
        bool is_num, integral = true;
        if (!s) {
            nulls++;
            continue;
        }
        is_num = ml__parse_num(s, &v, &integral);
        switch (r->type) {
        case T_NUMBER:
            if (!is_num)
                hit(&bad_type, line, s);
            break;
        case T_INTEGER:
            if (!is_num || !integral || v != floor(v))
                hit(&bad_type, line, s);
            break;
        case T_BOOLEAN:
            if (!parse_bool(s))
                hit(&bad_type, line, s);
            break;
        case T_TIMESTAMP: {
            int64_t us;
            if (skiff_time_parse(s, &us, NULL) != 0)
                hit(&bad_type, line, s);
            break;
        }
        default:
            break;
        }
        if (r->has_min || r->has_max) {
            if (is_num && r->has_min && v < r->min)
                hit(&below, line, s);
            if (is_num && r->has_max && v > r->max)
                hit(&above, line, s);
        }
        if (r->allowed && !in_allowed(r->allowed, s, is_num, v))
            hit(&not_allowed, line, s);
    }
    if (r->type != T_ANY) {
        rep->checks++;
        if (bad_type.n)
            violation(rep, name, "type", json_integer((json_int_t)bad_type.n),
                      "column '%s': %zu values are not %s (first at line %zu: '%s')", name,
                      bad_type.n, type_names[r->type], bad_type.line, bad_type.value);
    }
    if (r->has_min) {
        rep->checks++;
        if (below.n)
            violation(rep, name, "min", json_integer((json_int_t)below.n),
                      "column '%s': %zu values below min %g (first at line %zu: '%s')", name,
                      below.n, r->min, below.line, below.value);
    }
    if (r->has_max) {
        rep->checks++;
        if (above.n)
            violation(rep, name, "max", json_integer((json_int_t)above.n),
                      "column '%s': %zu values above max %g (first at line %zu: '%s')", name,
                      above.n, r->max, above.line, above.value);
    }
    if (r->allowed) {
        rep->checks++;
        if (not_allowed.n)
            violation(rep, name, "allowed", json_integer((json_int_t)not_allowed.n),
                      "column '%s': %zu values not in the allowed set (first at line %zu: "
                      "'%s')", name, not_allowed.n, not_allowed.line, not_allowed.value);
    }
    if (r->not_null) {
        rep->checks++;
        if (nulls)
            violation(rep, name, "not_null", json_integer((json_int_t)nulls),
                      "column '%s': %zu null values", name, nulls);
    }
    if (r->max_null >= 0) {
        double frac = n ? (double)nulls / (double)n : 0;
        rep->checks++;
        if (frac > r->max_null)
            violation(rep, name, "max_null_fraction", json_real(frac),
                      "column '%s': null fraction %.4f is above %g", name, frac, r->max_null);
    }
    if (r->unique) {
        const char **vals = malloc((n ? n : 1) * sizeof *vals);
        size_t k = 0, dups = 0;
        const char *first = NULL;
        if (!vals)
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            const char *s = skiff_feat_table_str(t, i, c);
            if (s)
                vals[k++] = s;
        }
        qsort(vals, k, sizeof *vals, cmp_str);
        for (size_t i = 1; i < k; i++)
            if (strcmp(vals[i], vals[i - 1]) == 0) {
                if (!dups++)
                    first = vals[i];
            }
        rep->checks++;
        if (dups)
            violation(rep, name, "unique", json_integer((json_int_t)dups),
                      "column '%s': %zu duplicate values (e.g. '%s')", name, dups, first);
        free(vals);
    }
    return 0;
}

int skiff_ml_validate(const struct skiff_ml_expect *e, const char *data_path, bool progress,
                      json_t **report, struct skiff_err *err)
{
    struct skiff_feat_csv_opts co = {0};
    struct skiff_feat_table *t = NULL;
    struct report rep = {0};
    int rc;

    *report = NULL;
    co.keep_others = true;
    co.progress = progress;
    if ((rc = skiff_feat_csv_read(data_path, &co, &t, NULL, err)))
        return rc;
    rep.violations = json_array();
    if (e->has_rmin || e->has_rmax) {
        rep.checks++;
        if ((e->has_rmin && (double)t->nrows < e->rmin) ||
            (e->has_rmax && (double)t->nrows > e->rmax))
            violation(&rep, NULL, "row_count", json_integer((json_int_t)t->nrows),
                      "row count %zu is outside %g .. %g", t->nrows, e->has_rmin ? e->rmin : 0,
                      e->has_rmax ? e->rmax : INFINITY);
    }
    for (size_t i = 0; i < e->nrules; i++) {
        long c = skiff_feat_table_col(t, e->rules[i].name);
        rep.checks++;
        if (c < 0) {
            violation(&rep, e->rules[i].name, "exists", NULL,
                      "column '%s' is missing from the header", e->rules[i].name);
            continue;
        }
        if ((rc = check_column(t, (size_t)c, &e->rules[i], &rep, err)))
            goto out;
    }
    if (e->strict) {
        rep.checks++;
        for (size_t c = 0; c < t->ncols; c++) {
            bool known = false;
            for (size_t i = 0; i < e->nrules && !known; i++)
                known = strcmp(e->rules[i].name, t->cols[c].name) == 0;
            if (!known)
                violation(&rep, t->cols[c].name, "strict", NULL,
                          "column '%s' is not in the expectations (strict: true)",
                          t->cols[c].name);
        }
    }
    *report = json_pack("{s:b, s:I, s:I, s:s, s:O}", "success",
                        json_array_size(rep.violations) == 0, "rows", (json_int_t)t->nrows,
                        "checks", (json_int_t)rep.checks, "data", data_path, "violations",
                        rep.violations);
out:
    json_decref(rep.violations);
    skiff_feat_table_free(t);
    return rc;
}
