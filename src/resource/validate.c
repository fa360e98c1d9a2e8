/* Validation: the generic checks every resource gets, and the helpers the
 * per-kind checks (kinds_*.c) share. See include/skiff/resource.h.
 *
 * Order of checks, each stopping at the first error:
 *   the object is a mapping -> apiVersion/kind name a known kind ->
 *   metadata (name or generateName, namespace, labels, annotations) ->
 *   spec is an object -> unknown top-level and spec fields (warnings) ->
 *   the kind's own validator.
 * Errors point at a JSON pointer; skiff_validation_fail turns it into
 * file:line:col (when validating a file) or a field path (over the API).
 */
#include "resource_int.h"

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/yaml.h"

#include <stdarg.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pointers and paths ---- */

const char *resource__ptr(char *buf, const char *base, const char *key)
{
    size_t n = (size_t)snprintf(buf, RESOURCE__PTR_MAX, "%s/", base);
    for (const char *k = key; *k && n + 3 < RESOURCE__PTR_MAX; k++) {
        if (*k == '~' || *k == '/') {
            buf[n++] = '~';
            buf[n++] = *k == '~' ? '0' : '1';
        } else {
            buf[n++] = *k;
        }
    }
    buf[n < RESOURCE__PTR_MAX ? n : RESOURCE__PTR_MAX - 1] = '\0';
    return buf;
}

const char *resource__ptr_idx(char *buf, const char *base, size_t i)
{
    if (snprintf(buf, RESOURCE__PTR_MAX, "%s/%zu", base, i) >= RESOURCE__PTR_MAX)
        buf[RESOURCE__PTR_MAX - 1] = '\0';    /* cut: the error points at an ancestor */
    return buf;
}

static bool is_ident(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return false;
    return n > 0;
}

/* "/spec/templates/3/name" -> "spec.templates[3].name"; keys that are not
 * plain identifiers are bracketed, as Kubernetes field paths write them:
 * "metadata.labels[app.kubernetes.io/name]". */
static void pointer_to_path(const char *ptr, char *out, size_t cap)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    char tok[256];

    skiff_buf_init(&b, cap - 1);
    while (ptr && *ptr == '/') {
        size_t n = 0;
        bool digits = true;
        for (ptr++; *ptr && *ptr != '/'; ptr++) {
            char c = *ptr;
            if (c == '~' && (ptr[1] == '0' || ptr[1] == '1'))
                c = *++ptr == '0' ? '~' : '/';
            if (n + 1 < sizeof tok)
                tok[n++] = c;
            digits = digits && c >= '0' && c <= '9';
        }
        tok[n] = '\0';
        if ((digits && n > 0) || !is_ident(tok, n))
            skiff_buf_appendf(&b, "[%s]", tok);
        else
            skiff_buf_appendf(&b, "%s%s", b.len ? "." : "", tok);
    }
    skiff_strlcpy(out, b.ptr, cap);
    skiff_buf_release(&b);
}

/* ---- recording errors and warnings ---- */

int skiff_validation_fail(struct skiff_validation *v, const char *ptr, int code,
                          const char *fmt, ...)
{
    char msg[SKIFF_ERR_MSG_MAX], path[SKIFF_ERR_WHERE_MAX];
    va_list ap;

    if (!v || !v->err || v->err->code)
        return code;                   /* the first error sticks */
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pointer_to_path(ptr, path, sizeof path);
    if (v->docs)
        return skiff_yaml_err(v->docs, v->doc_index, ptr, v->err, code, "%s%s%s", path,
                              path[0] ? ": " : "", msg);
    return skiff_err_at(v->err, code, path, 0, 0, "%s", msg);
}

/* Warnings are advice: when memory runs out one is dropped, never the
 * validation. */
void skiff_validation_warn(struct skiff_validation *v, const char *ptr, const char *fmt, ...)
{
    char msg[SKIFF_ERR_MSG_MAX], path[SKIFF_ERR_WHERE_MAX];
    struct skiff_buf b = SKIFF_BUF_INIT;
    char **grown;
    int line = 0, col = 0;
    va_list ap;

    if (!v)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pointer_to_path(ptr, path, sizeof path);
    if (v->docs && skiff_yaml_pos(v->docs, v->doc_index, ptr, &line, &col) == 0)
        skiff_buf_appendf(&b, "%s:%d:%d: ", skiff_yaml_name(v->docs), line, col);
    if (path[0])
        skiff_buf_appendf(&b, "%s: ", path);
    if (skiff_buf_puts(&b, msg) || !(grown = realloc(v->warnings,
                                                     (v->nwarnings + 1) * sizeof *grown))) {
        skiff_buf_release(&b);
        return;
    }
    v->warnings = grown;
    if ((v->warnings[v->nwarnings] = skiff_buf_detach(&b)))
        v->nwarnings++;
}

void skiff_validation_release(struct skiff_validation *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->nwarnings; i++)
        free(v->warnings[i]);
    free(v->warnings);
    v->warnings = NULL;
    v->nwarnings = 0;
}

/* ---- typed field access ---- */

static const char *type_name(enum resource__type t)
{
    switch (t) {
    case RT_OBJECT: return "an object";
    case RT_ARRAY: return "a list";
    case RT_STRING: return "a string";
    case RT_INT: return "an integer";
    case RT_NUMBER: return "a number";
    case RT_BOOL: return "true or false";
    default: return "a value";
    }
}

static bool has_type(const json_t *j, enum resource__type t)
{
    switch (t) {
    case RT_OBJECT: return json_is_object(j);
    case RT_ARRAY: return json_is_array(j);
    case RT_STRING: return json_is_string(j);
    case RT_INT: return json_is_integer(j);
    case RT_NUMBER: return json_is_number(j);
    case RT_BOOL: return json_is_boolean(j);
    default: return true;
    }
}

static const char *json_type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "a list";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

int resource__field(struct skiff_validation *v, const json_t *obj, const char *ptr,
                    const char *key, enum resource__type type, unsigned flags,
                    const json_t **out)
{
    char p[RESOURCE__PTR_MAX];
    const json_t *j = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    if (out)
        *out = NULL;
    resource__ptr(p, ptr, key);
    if (!j || json_is_null(j)) {
        if (flags & RF_REQUIRED)
            return skiff_validation_fail(v, p, SKIFF_EINVAL, "missing required field");
        return 0;
    }
    if (!has_type(j, type)) {
        /* the classic: `version: 3` where a string was meant */
        if (type == RT_STRING && (json_is_number(j) || json_is_boolean(j)))
            return skiff_validation_fail(v, p, SKIFF_EINVAL,
                                         "must be a string, not %s (quote the value)",
                                         json_type_name(j));
        return skiff_validation_fail(v, p, SKIFF_EINVAL, "must be %s, not %s", type_name(type),
                                     json_type_name(j));
    }
    if ((flags & RF_NONEMPTY) &&
        ((json_is_string(j) && json_string_length(j) == 0) ||
         (json_is_array(j) && json_array_size(j) == 0) ||
         (json_is_object(j) && json_object_size(j) == 0)))
        return skiff_validation_fail(v, p, SKIFF_EINVAL, "must not be empty");
    if (out)
        *out = j;
    return 0;
}

int resource__string_map(struct skiff_validation *v, const json_t *obj, const char *ptr,
                         const char *key)
{
    char p[RESOURCE__PTR_MAX], kp[RESOURCE__PTR_MAX];
    const json_t *map, *val;
    const char *k;
    int rc;

    if ((rc = resource__field(v, obj, ptr, key, RT_OBJECT, 0, &map)) || !map)
        return rc;
    resource__ptr(p, ptr, key);
    json_object_foreach((json_t *)map, k, val) {
        if (!json_is_string(val))
            return skiff_validation_fail(v, resource__ptr(kp, p, k), SKIFF_EINVAL,
                                         "must be a string, not %s%s", json_type_name(val),
                                         json_is_number(val) || json_is_boolean(val)
                                             ? " (quote the value)" : "");
    }
    return 0;
}

int resource__string_list(struct skiff_validation *v, const json_t *obj, const char *ptr,
                          const char *key, unsigned flags)
{
    char p[RESOURCE__PTR_MAX], ip[RESOURCE__PTR_MAX];
    const json_t *arr, *it;
    size_t i;
    int rc;

    if ((rc = resource__field(v, obj, ptr, key, RT_ARRAY, flags, &arr)) || !arr)
        return rc;
    resource__ptr(p, ptr, key);
    json_array_foreach(arr, i, it) {
        if (!json_is_string(it) || json_string_length(it) == 0)
            return skiff_validation_fail(v, resource__ptr_idx(ip, p, i), SKIFF_EINVAL,
                                         "must be a non-empty string");
    }
    return 0;
}

int resource__int_range(struct skiff_validation *v, const json_t *obj, const char *ptr,
                        const char *key, long long min, long long max)
{
    char p[RESOURCE__PTR_MAX];
    const json_t *j;
    int rc;

    if ((rc = resource__field(v, obj, ptr, key, RT_INT, 0, &j)) || !j)
        return rc;
    if (json_integer_value(j) < min || json_integer_value(j) > max)
        return skiff_validation_fail(v, resource__ptr(p, ptr, key), SKIFF_EINVAL,
                                     "must be between %lld and %lld, not %lld", min, max,
                                     (long long)json_integer_value(j));
    return 0;
}

int resource__enum(struct skiff_validation *v, const json_t *obj, const char *ptr,
                   const char *key, const char *const *allowed)
{
    char p[RESOURCE__PTR_MAX], list[512] = "";
    const json_t *j;
    int rc;

    if ((rc = resource__field(v, obj, ptr, key, RT_STRING, 0, &j)) || !j)
        return rc;
    if (resource__in_list(json_string_value(j), allowed))
        return 0;
    for (size_t i = 0; allowed[i]; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", allowed[i]);
    }
    return skiff_validation_fail(v, resource__ptr(p, ptr, key), SKIFF_EINVAL,
                                 "\"%s\" is not one of %s", json_string_value(j), list);
}

long resource__find_named(const json_t *arr, const char *name)
{
    size_t i;
    const json_t *it;
    json_array_foreach(arr, i, it) {
        const char *n = json_string_value(json_object_get(it, "name"));
        if (n && strcmp(n, name) == 0)
            return (long)i;
    }
    return -1;
}

bool resource__in_list(const char *s, const char *const *list)
{
    for (; s && list && *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

/* ---- Kubernetes names ---- */

static bool alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* One RFC 1123 label of s[0..n): [a-z0-9]([-a-z0-9]*[a-z0-9])?, <= 63. */
static bool label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !alnum_lower(s[0]) || !alnum_lower(s[n - 1]))
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (!alnum_lower(s[i]) && s[i] != '-')
            return false;
    return true;
}

bool resource__dns1123_label(const char *s)
{
    return s && label_ok(s, strlen(s));
}

/* Kubernetes checks a subdomain as a whole, not label by label: any mix of
 * [a-z0-9-.] up to 253 where each dot-separated part starts and ends with an
 * alphanumeric (its regex, IsDNS1123Subdomain). Parts are not limited to 63. */
bool resource__dns1123_subdomain(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    const char *part = s;
    if (n == 0 || n > 253)
        return false;
    for (const char *p = s;; p++) {
        if (*p == '.' || *p == '\0') {
            size_t len = (size_t)(p - part);
            if (len == 0 || !alnum_lower(part[0]) || !alnum_lower(part[len - 1]))
                return false;
            for (size_t i = 0; i < len; i++)
                if (!alnum_lower(part[i]) && part[i] != '-')
                    return false;
            if (*p == '\0')
                return true;
            part = p + 1;
        }
    }
}

bool resource__dns1035_label(const char *s)
{
    return resource__dns1123_label(s) && s[0] >= 'a' && s[0] <= 'z';
}

/* Label keys: an optional DNS subdomain prefix and '/', then a name of at
 * most 63 of [A-Za-z0-9-_.] starting and ending alphanumeric. Values: the
 * same name rule, or empty. */
static bool label_name_ok(const char *s, size_t n, bool empty_ok)
{
    if (n == 0)
        return empty_ok;
    if (n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool an = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!an && ((i == 0 || i == n - 1) || (c != '-' && c != '_' && c != '.')))
            return false;
    }
    return true;
}

static bool label_key_ok(const char *k)
{
    const char *slash = strchr(k, '/');
    if (slash) {
        char prefix[254];
        size_t pl = (size_t)(slash - k);
        if (pl == 0 || pl >= sizeof prefix)
            return false;
        memcpy(prefix, k, pl);
        prefix[pl] = '\0';
        if (!resource__dns1123_subdomain(prefix))
            return false;
        k = slash + 1;
    }
    return label_name_ok(k, strlen(k), false);
}

/* ---- the generic checks ---- */

static const char dns1123_rule[] =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (at most 253)";

/* Feast's names: 1-253 of letters, digits, '_', '-', '.', starting with a
 * letter, digit or '_'. */
static bool feast_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253 || !(isalnum((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_-.", s[i]))
            return false;
    return true;
}

static const char feast_rule[] =
    "a feature-store name must consist of letters, digits, '_', '-' or '.', start with a "
    "letter, digit or '_', and be at most 253 characters";

static bool name_ok(const struct skiff_kind *k, const char *s)
{
    return k->names == SKIFF_NAMES_FEAST ? feast_name(s) : resource__dns1123_subdomain(s);
}

static int check_metadata(const json_t *obj, const struct skiff_kind *k,
                          struct skiff_validation *v)
{
    const char *rule = k->names == SKIFF_NAMES_FEAST ? feast_rule : dns1123_rule;
    char p[RESOURCE__PTR_MAX];
    const json_t *md, *name, *gen, *ns, *labels, *val;
    const char *key;
    int rc;

    if ((rc = resource__field(v, obj, "", "metadata", RT_OBJECT, RF_REQUIRED, &md)) ||
        (rc = resource__field(v, md, "/metadata", "name", RT_STRING, 0, &name)) ||
        (rc = resource__field(v, md, "/metadata", "generateName", RT_STRING, 0, &gen)) ||
        (rc = resource__field(v, md, "/metadata", "namespace", RT_STRING, 0, &ns)))
        return rc;
    if (!name && !gen)
        return skiff_validation_fail(v, "/metadata/name", SKIFF_EINVAL,
                                     "missing required field (name, or generateName)");
    if (name && !name_ok(k, json_string_value(name)))
        return skiff_validation_fail(v, "/metadata/name", SKIFF_EINVAL,
                                     "\"%s\" is not a valid name: %s", json_string_value(name),
                                     rule);
    if (gen) {
        /* the server appends 5 lowercase alphanumerics: the sum must be a name */
        char candidate[300];
        snprintf(candidate, sizeof candidate, "%sa0b1c", json_string_value(gen));
        if (!name_ok(k, candidate))
            return skiff_validation_fail(v, "/metadata/generateName", SKIFF_EINVAL,
                                         "\"%s\" is not a valid name prefix: %s",
                                         json_string_value(gen), rule);
    }
    if (ns && !resource__dns1123_label(json_string_value(ns)))
        return skiff_validation_fail(v, "/metadata/namespace", SKIFF_EINVAL,
                                     "\"%s\" is not a valid namespace: a lowercase RFC 1123 "
                                     "label (at most 63 of a-z, 0-9 and '-', starting and "
                                     "ending alphanumeric)",
                                     json_string_value(ns));
    if ((rc = resource__string_map(v, md, "/metadata", "labels")) ||
        (rc = resource__string_map(v, md, "/metadata", "annotations")))
        return rc;
    /* labels select objects on a cluster, which is strict about them */
    if ((labels = json_object_get(md, "labels"))) {
        json_object_foreach((json_t *)labels, key, val) {
            resource__ptr(p, "/metadata/labels", key);
            if (!label_key_ok(key))
                return skiff_validation_fail(v, p, SKIFF_EINVAL,
                                             "invalid label key: an optional DNS subdomain "
                                             "prefix and '/', then at most 63 of [A-Za-z0-9-_.]"
                                             " starting and ending alphanumeric");
            if (!label_name_ok(json_string_value(val), json_string_length(val), true))
                return skiff_validation_fail(v, p, SKIFF_EINVAL,
                                             "invalid label value \"%s\": at most 63 of "
                                             "[A-Za-z0-9-_.] starting and ending alphanumeric",
                                             json_string_value(val));
        }
    }
    return 0;
}

/* Kinds whose spec may be left out, and the extra top-level fields a kind
 * has besides apiVersion, kind, metadata, spec and status. */
static const char *const spec_optional[] = {"ServiceAccount", NULL};
static const char *const top_fields[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
static const char *const application_top[] = {"operation", NULL};

static void warn_unknown(const json_t *obj, const struct skiff_kind *k,
                         struct skiff_validation *v)
{
    char p[RESOURCE__PTR_MAX];
    const char *key;
    json_t *val;
    const json_t *spec = json_object_get(obj, "spec");

    json_object_foreach((json_t *)obj, key, val) {
        if (resource__in_list(key, top_fields) ||
            (strcmp(k->kind, "Application") == 0 && resource__in_list(key, application_top)))
            continue;
        skiff_validation_warn(v, resource__ptr(p, "", key), "unknown field for %s (%s)", k->kind,
                              k->upstream ? "kept, ignored" : "ignored");
    }
    if (!k->spec_fields || !json_is_object(spec))
        return;
    json_object_foreach((json_t *)spec, key, val) {
        if (!resource__in_list(key, k->spec_fields))
            skiff_validation_warn(v, resource__ptr(p, "/spec", key),
                                  "unknown field for %s (%s)", k->kind,
                                  k->upstream ? "kept, ignored" : "ignored");
    }
}

/* apiVersion and kind name a known kind. Errors point at whichever is off. */
static int check_kind(const json_t *obj, struct skiff_validation *v, const struct skiff_kind **out)
{
    struct skiff_err kerr = SKIFF_ERR_INIT;
    const json_t *av, *kind;
    int rc;

    if ((rc = resource__field(v, obj, "", "apiVersion", RT_STRING, RF_REQUIRED | RF_NONEMPTY,
                              &av)) ||
        (rc = resource__field(v, obj, "", "kind", RT_STRING, RF_REQUIRED | RF_NONEMPTY, &kind)))
        return rc;
    if ((rc = skiff_kind_for(json_string_value(av), json_string_value(kind), out, &kerr))) {
        /* a known kind with a wrong apiVersion is the apiVersion's fault */
        bool known = false;
        size_t n;
        const struct skiff_kind *all = skiff_kinds(&n);
        for (size_t i = 0; i < n; i++)
            known = known || strcmp(all[i].kind, json_string_value(kind)) == 0;
        return skiff_validation_fail(v, known ? "/apiVersion" : "/kind", rc, "%s", kerr.msg);
    }
    return 0;
}

int skiff_resource_validate(const json_t *obj, struct skiff_validation *v,
                            const struct skiff_kind **kind_out)
{
    const struct skiff_kind *k = NULL;
    int rc;

    if (!json_is_object(obj))
        return skiff_validation_fail(v, "", SKIFF_EINVAL,
                                     "a resource must be a mapping with apiVersion, kind, "
                                     "metadata and spec, not %s",
                                     obj ? json_type_name(obj) : "nothing");
    if ((rc = check_kind(obj, v, &k)) || (rc = check_metadata(obj, k, v)))
        return rc;
    if ((rc = resource__field(v, obj, "", "spec", RT_OBJECT,
                              resource__in_list(k->kind, spec_optional) ? 0 : RF_REQUIRED,
                              NULL)))
        return rc;
    warn_unknown(obj, k, v);
    if (k->validate && (rc = k->validate(obj, v)))
        return rc;
    if (v && v->err && v->err->code)
        return v->err->code;     /* a validator that recorded an error but returned 0 */
    if (kind_out)
        *kind_out = k;
    return 0;
}
