/* Patches for `resource` templates with `action: patch` (spec §11.2):
 * JSON merge patch (RFC 7386, `mergeStrategy: merge`, and `strategic`,
 * which skiff's kinds read as merge: they carry no patch-strategy
 * annotations) and JSON patch (RFC 6902, `mergeStrategy: json`).
 *
 * Invariants
 *   - workflow__json_patch applies to a copy and hands it back only when
 *     every operation succeeded: a failing operation (a `test` that does
 *     not hold, a path that does not exist) leaves nothing half-patched.
 *   - Paths are RFC 6901 pointers: "" is the whole document, "/a/0/b~1c"
 *     reads a, then index 0, then "b/c"; "-" after an array is its end
 *     (add only).
 *
 * Worked example: on {"spec": {"n": 1, "tags": ["a"]}},
 *   merge {"spec": {"n": null, "m": 2}}      -> {"spec": {"tags": ["a"], "m": 2}}
 *   json  [{"op": "add", "path": "/spec/tags/-", "value": "b"},
 *          {"op": "test", "path": "/spec/n", "value": 1}]
 *                                             -> {"spec": {"n": 1, "tags": ["a", "b"]}}
 */
#include "workflow_int.h"

#include "skiff/err.h"

#include <stdlib.h>
#include <string.h>

/* ---- RFC 7386 ---- */

json_t *workflow__merge_patch(const json_t *target, const json_t *patch)
{
    json_t *out;
    const char *key;
    json_t *val;

    if (!json_is_object(patch))
        return json_deep_copy(patch);
    out = json_is_object(target) ? json_deep_copy(target) : json_object();
    if (!out)
        return NULL;
    json_object_foreach((json_t *)patch, key, val) {
        if (json_is_null(val)) {
            json_object_del(out, key);
        } else {
            json_t *merged = workflow__merge_patch(json_object_get(out, key), val);
            if (!merged || json_object_set_new(out, key, merged)) {
                json_decref(out);
                return NULL;
            }
        }
    }
    return out;
}

/* ---- RFC 6901 pointers ---- */

/* The next reference token of *p (after its '/') unescaped into tok[n];
 * *p moves past it. -1 when the token is too long or the escape bad. */
static int next_token(const char **p, char *tok, size_t n)
{
    const char *s = *p + 1;   /* past '/' */
    size_t k = 0;

    while (*s && *s != '/') {
        char c = *s++;
        if (c == '~') {
            if (*s == '0')
                c = '~';
            else if (*s == '1')
                c = '/';
            else
                return -1;
            s++;
        }
        if (k + 1 >= n)
            return -1;
        tok[k++] = c;
    }
    tok[k] = '\0';
    *p = s;
    return 0;
}

/* An array index token: digits without a leading zero. */
static bool index_of(const char *tok, size_t *out)
{
    char *end;
    unsigned long v;

    if (!*tok || (tok[0] == '0' && tok[1]) || tok[0] == '-' || tok[0] == '+')
        return false;
    v = strtoul(tok, &end, 10);
    if (*end)
        return false;
    *out = v;
    return true;
}

/* Finds the parent of `path`'s target in doc: *parent and the last token
 * in last[n]. -1 when a step on the way does not exist. */
static int locate(json_t *doc, const char *path, json_t **parent, char *last, size_t n)
{
    const char *p = path;
    json_t *cur = doc;
    char tok[512];

    for (;;) {
        if (next_token(&p, tok, sizeof tok))
            return -1;
        if (!*p) {
            if (strlen(tok) >= n)
                return -1;
            memcpy(last, tok, strlen(tok) + 1);
            *parent = cur;
            return 0;
        }
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            size_t i;
            cur = index_of(tok, &i) ? json_array_get(cur, i) : NULL;
        } else {
            cur = NULL;
        }
        if (!cur)
            return -1;
    }
}

/* The value at path (borrowed), or NULL. */
static json_t *get_at(json_t *doc, const char *path)
{
    json_t *parent;
    char last[512];
    size_t i;

    if (!*path)
        return doc;
    if (locate(doc, path, &parent, last, sizeof last))
        return NULL;
    if (json_is_object(parent))
        return json_object_get(parent, last);
    if (json_is_array(parent) && index_of(last, &i))
        return json_array_get(parent, i);
    return NULL;
}

/* Removes the value at path; *removed (may be NULL) receives it (a new
 * reference). Returns 0, or -1 when nothing is there. */
static int remove_at(json_t *doc, const char *path, json_t **removed)
{
    json_t *parent, *v;
    char last[512];
    size_t i;

    if (!*path || locate(doc, path, &parent, last, sizeof last))
        return -1;
    if (json_is_object(parent)) {
        if (!(v = json_object_get(parent, last)))
            return -1;
        if (removed)
            *removed = json_incref(v);
        return json_object_del(parent, last);
    }
    if (!json_is_array(parent) || !index_of(last, &i) || i >= json_array_size(parent))
        return -1;
    if (removed)
        *removed = json_incref(json_array_get(parent, i));
    return json_array_remove(parent, i);
}

/* add (RFC 6902 §4.1): an object member is set (replaced when present),
 * an array item inserted before the index ("-": appended). Steals val.
 * A path of "" replaces the document: *doc changes. */
static int add_at(json_t **doc, const char *path, json_t *val)
{
    json_t *parent;
    char last[512];
    size_t i;

    if (!*path) {
        json_decref(*doc);
        *doc = val;
        return 0;
    }
    if (locate(*doc, path, &parent, last, sizeof last))
        goto fail;
    if (json_is_object(parent))
        return json_object_set_new(parent, last, val);
    if (json_is_array(parent)) {
        if (strcmp(last, "-") == 0)
            return json_array_append_new(parent, val);
        if (index_of(last, &i) && i <= json_array_size(parent))
            return json_array_insert_new(parent, i, val);
    }
fail:
    json_decref(val);
    return -1;
}

static const char *const OPS[] = {"add", "remove", "replace", "move", "copy", "test", NULL};

static bool valid_pointer(const char *p)
{
    const char *s = p;
    char tok[512];

    if (!*p)
        return true;
    if (*p != '/')
        return false;
    while (*s)
        if (next_token(&s, tok, sizeof tok))
            return false;
    return true;
}

int workflow__json_patch_check(const json_t *ops, size_t *bad, struct skiff_err *err)
{
    const json_t *op;
    size_t i;

    *bad = 0;
    if (!json_is_array(ops))
        return skiff_err_set(err, SKIFF_EINVAL, "a JSON patch (mergeStrategy: json) is a list "
                                                "of operations ({op, path, value})");
    json_array_foreach(ops, i, op) {
        const char *name = json_string_value(json_object_get(op, "op"));
        const char *path = json_string_value(json_object_get(op, "path"));
        const char *from = json_string_value(json_object_get(op, "from"));
        size_t k = 0;
        *bad = i;
        if (!json_is_object(op) || !name)
            return skiff_err_set(err, SKIFF_EINVAL, "JSON patch operation %zu has no op", i);
        while (OPS[k] && strcmp(OPS[k], name) != 0)
            k++;
        if (!OPS[k])
            return skiff_err_set(err, SKIFF_EINVAL, "JSON patch operation %zu: unknown op '%s' "
                                                    "(add, remove, replace, move, copy, test)",
                                 i, name);
        if (!path || !valid_pointer(path))
            return skiff_err_set(err, SKIFF_EINVAL, "JSON patch operation %zu (%s): path must "
                                                    "be a JSON pointer (\"/spec/x\"), not '%s'",
                                 i, name, path ? path : "");
        if ((k == 0 || k == 2 || k == 5) && !json_object_get(op, "value"))
            return skiff_err_set(err, SKIFF_EINVAL, "JSON patch operation %zu (%s) needs a "
                                                    "value", i, name);
        if ((k == 3 || k == 4) && (!from || !valid_pointer(from)))
            return skiff_err_set(err, SKIFF_EINVAL, "JSON patch operation %zu (%s) needs from, "
                                                    "a JSON pointer", i, name);
    }
    return 0;
}

int workflow__json_patch(const json_t *doc, const json_t *ops, json_t **out,
                         struct skiff_err *err)
{
    json_t *cur, *v = NULL;
    const json_t *op;
    size_t i, bad;
    int rc;

    *out = NULL;
    if ((rc = workflow__json_patch_check(ops, &bad, err)))
        return rc;
    if (!(cur = json_deep_copy(doc)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    json_array_foreach(ops, i, op) {
        const char *name = json_string_value(json_object_get(op, "op"));
        const char *path = json_string_value(json_object_get(op, "path"));
        const char *from = json_string_value(json_object_get(op, "from"));
        const json_t *value = json_object_get(op, "value");
        bool ok;

        if (strcmp(name, "add") == 0) {
            ok = add_at(&cur, path, json_deep_copy(value)) == 0;
        } else if (strcmp(name, "remove") == 0) {
            ok = remove_at(cur, path, NULL) == 0;
        } else if (strcmp(name, "replace") == 0) {
            /* the target must exist (§4.3) */
            ok = get_at(cur, path) && (!*path || remove_at(cur, path, NULL) == 0) &&
                 add_at(&cur, path, json_deep_copy(value)) == 0;
        } else if (strcmp(name, "move") == 0) {
            /* a location cannot move into one of its children (§4.4) */
            size_t fl = strlen(from);
            ok = !(strncmp(path, from, fl) == 0 && path[fl] == '/') &&
                 remove_at(cur, from, &v) == 0 && add_at(&cur, path, v) == 0;
            v = NULL;
        } else if (strcmp(name, "copy") == 0) {
            json_t *src = get_at(cur, from);
            ok = src && add_at(&cur, path, json_deep_copy(src)) == 0;
        } else {
            json_t *at = get_at(cur, path);
            if (!at || !json_equal(at, (json_t *)value)) {
                json_decref(cur);
                return skiff_err_set(err, SKIFF_EINVAL, "JSON patch operation %zu (test) "
                                                        "failed: %s %s", i, path,
                                     at ? "holds another value" : "does not exist");
            }
            ok = true;
        }
        if (!ok || !cur) {
            json_decref(cur);
            return skiff_err_set(err, SKIFF_EINVAL, "JSON patch operation %zu (%s) failed: "
                                                    "%s does not exist",
                                 i, name, strcmp(name, "move") == 0 || strcmp(name, "copy") == 0
                                              ? from : path);
        }
    }
    *out = cur;
    return 0;
}
