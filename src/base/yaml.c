/* YAML documents as jansson trees: see include/skiff/yaml.h.
 *
 * libfyaml's event parser drives a small tree builder here rather than its
 * document API, for three reasons: plain scalars must resolve by the YAML 1.2
 * core schema into JSON types (libfyaml keeps text), aliases must be expanded
 * under a cap (a document of nested aliases, the "billion laughs", would
 * otherwise expand to gigabytes), and every node's position must outlive the
 * parser so that validation can point at a line and column later.
 *
 * Positions live in a tree of `struct pos` that mirrors the json_t tree,
 * allocated from one arena per skiff_yaml_docs. An alias copies the json_t
 * subtree (callers may modify their tree) but shares the anchor's position
 * subtree, which is never modified after it is built.
 *
 * Where a node is: its first character (a quoted scalar's opening quote, a
 * block scalar's '|' or '>' indicator, an alias's '*'), except that a block
 * mapping or sequence that is the value of a key is located at the key:
 * "spec.templates must be a list" reads best pointing at "templates:", not at
 * the first "- name:" below it.
 */
#include "skiff/yaml.h"
#include "base/yaml_int.h"
#include "skiff/arena.h"
#include "skiff/buf.h"
#include "skiff/err.h"

#include <errno.h>
#include <fcntl.h>
#include <libfyaml.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define YAML_FILE_MAX ((size_t)64 << 20)
/* Nodes that aliases may add to one document. Real files (Helm-style
 * anchors for shared env or resources) stay far below; nine nested levels of
 * ten aliases would be 10^9. */
#define ALIAS_NODES_MAX 100000

enum pos_kind { POS_SCALAR, POS_MAP, POS_SEQ };

struct pos {
    int line, col;          /* 1-based */
    enum pos_kind kind;
    size_t n, cap;
    struct pos **kids;      /* MAP: values, SEQ: items */
    const char **keys;      /* MAP: keys, arena copies */
    size_t *keylens;
};

struct skiff_yaml_docs {
    char *name;
    json_t **docs;
    struct pos **pos;
    size_t n, cap;
    struct skiff_arena *arena;  /* every struct pos and key copy */
};

/* ---- positions ---- */

static struct pos *pos_new(struct skiff_arena *a, enum pos_kind kind, int line, int col)
{
    struct pos *p = skiff_arena_calloc(a, 1, sizeof *p);
    if (p) {
        p->kind = kind;
        p->line = line;
        p->col = col;
    }
    return p;
}

/* Appends a child. The arrays grow by doubling inside the arena; the old
 * copies are wasted, which bounds the waste by the final size. */
static int pos_add(struct skiff_arena *a, struct pos *p, const char *key, size_t keylen,
                   struct pos *kid)
{
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 4;
        struct pos **kids = skiff_arena_calloc(a, ncap, sizeof *kids);
        if (!kids)
            return SKIFF_ENOMEM;
        if (p->n)
            memcpy(kids, p->kids, p->n * sizeof *kids);
        p->kids = kids;
        if (p->kind == POS_MAP) {
            const char **keys = skiff_arena_calloc(a, ncap, sizeof *keys);
            size_t *lens = skiff_arena_calloc(a, ncap, sizeof *lens);
            if (!keys || !lens)
                return SKIFF_ENOMEM;
            if (p->n) {
                memcpy(keys, p->keys, p->n * sizeof *keys);
                memcpy(lens, p->keylens, p->n * sizeof *lens);
            }
            p->keys = keys;
            p->keylens = lens;
        }
        p->cap = ncap;
    }
    if (p->kind == POS_MAP) {
        char *k = skiff_arena_strndup(a, key, keylen);
        if (!k)
            return SKIFF_ENOMEM;
        p->keys[p->n] = k;
        p->keylens[p->n] = keylen;
    }
    p->kids[p->n++] = kid;
    return 0;
}

/* ---- YAML 1.2 core schema ---- */

bool yaml__all_in(const char *s, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr(set, s[i]))
            return false;
    return n > 0;
}

bool yaml__is_word(const char *s, size_t n, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == n && memcmp(s, *words, n) == 0)
            return true;
    return false;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_core_float(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return false;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp = 0;
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, exp++;
        if (exp == 0)
            return false;
    }
    return i == n;
}

/* The type a plain scalar resolves to (YAML 1.2.2, 10.3.2 "Tag Resolution"). */
enum yaml__core_type yaml__core_resolve(const char *s, size_t n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
    static const char *const nonfinite[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                                            "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN",
                                            NULL};
    size_t i = (n && (s[0] == '-' || s[0] == '+')) ? 1 : 0;

    if (yaml__is_word(s, n, nulls))
        return YAML__CORE_NULL;
    if (yaml__is_word(s, n, bools))
        return YAML__CORE_BOOL;
    if (yaml__all_in(s + i, n - i, "0123456789"))
        return YAML__CORE_INT;
    if (n > 2 && s[0] == '0' && s[1] == 'o' && yaml__all_in(s + 2, n - 2, "01234567"))
        return YAML__CORE_INT;
    if (n > 2 && s[0] == '0' && s[1] == 'x' && yaml__all_in(s + 2, n - 2, "0123456789abcdefABCDEF"))
        return YAML__CORE_INT;
    if (yaml__is_word(s, n, nonfinite))
        return YAML__CORE_NONFINITE;
    if (is_core_float(s, n))
        return YAML__CORE_FLOAT;
    return YAML__CORE_STR;
}

/* The json_t of a scalar already known to be of type t (not YAML__CORE_STR or
 * YAML__CORE_NONFINITE). An integer beyond 64 bits becomes a real, as in JSON. */
static json_t *core_value(const char *s, size_t n, enum yaml__core_type t)
{
    char small[64], *tmp = small;
    json_t *v = NULL;

    if (t == YAML__CORE_NULL)
        return json_null();
    if (t == YAML__CORE_BOOL)
        return json_boolean(s[0] == 't' || s[0] == 'T');
    if (n >= sizeof small && !(tmp = malloc(n + 1)))
        return NULL;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (t == YAML__CORE_INT) {
        int base = 10;
        const char *digits = tmp;
        if (n > 2 && tmp[0] == '0' && (tmp[1] == 'o' || tmp[1] == 'x')) {
            base = tmp[1] == 'o' ? 8 : 16;
            digits = tmp + 2;
        } else if (n > 1 && tmp[0] == '0' && yaml__all_in(tmp + 1, n - 1, "01234567")) {
            /* YAML 1.1's octal, as Kubernetes reads manifests (go-yaml v2):
             * `mode: 0755` is 493 there, and the same file must mean the
             * same here, where YAML 1.2 alone would say 755. */
            base = 8;
        }
        errno = 0;
        long long ll = strtoll(digits, NULL, base);
        if (errno == ERANGE) {
            double d = base == 10 ? strtod(tmp, NULL) : (double)strtoull(digits, NULL, base);
            v = isfinite(d) ? json_real(d) : NULL;
        } else {
            v = json_integer((json_int_t)ll);
        }
    } else {
        double d = strtod(tmp, NULL);
        v = isfinite(d) ? json_real(d) : NULL;
    }
    if (tmp != small)
        free(tmp);
    return v;
}

/* ---- the builder ---- */

struct frame {
    json_t *node;          /* object or array being filled */
    struct pos *pos;
    bool is_map;
    char *anchor;          /* malloc'd, or NULL */
    size_t anchor_len;
    size_t count;          /* nodes in this subtree so far, itself included */
    /* mapping: the key waiting for its value */
    bool has_key, key_is_merge;
    char *key;             /* malloc'd */
    size_t keylen;
    int key_line, key_col;
    /* mapping: "<<" sources, merged at the end so explicit keys win */
    json_t *merges;
    struct pos *merge_pos;
};

struct anchor {
    char *name;
    size_t len;
    json_t *v;
    struct pos *pos;
    size_t count;
};

struct builder {
    const char *name;
    const char *text;
    size_t len;
    struct skiff_yaml_docs *d;
    struct frame *stack;
    size_t depth, stack_cap;
    struct anchor *anchors;
    size_t nanchors, anchors_cap;
    json_t *root;
    struct pos *root_pos;
    size_t alias_nodes;
    struct skiff_err *err;
};

static int fail(struct builder *b, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(struct builder *b, int line, int col, const char *fmt, ...)
{
    char msg[SKIFF_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return skiff_err_at(b->err, SKIFF_EPARSE, b->name, line, col, "%s", msg);
}

static int oom(struct builder *b)
{
    return skiff_err_set(b->err, SKIFF_ENOMEM, "out of memory parsing '%s'", b->name);
}

static void frame_release(struct frame *f)
{
    json_decref(f->node);
    json_decref(f->merges);
    free(f->anchor);
    free(f->key);
    memset(f, 0, sizeof *f);
}

static void anchors_clear(struct builder *b)
{
    for (size_t i = 0; i < b->nanchors; i++) {
        free(b->anchors[i].name);
        json_decref(b->anchors[i].v);
    }
    b->nanchors = 0;
}

static int anchor_add(struct builder *b, const char *name, size_t len, json_t *v,
                      struct pos *p, size_t count)
{
    struct anchor *a;
    if (b->nanchors == b->anchors_cap) {
        size_t ncap = b->anchors_cap ? b->anchors_cap * 2 : 8;
        struct anchor *na = realloc(b->anchors, ncap * sizeof *na);
        if (!na)
            return oom(b);
        b->anchors = na;
        b->anchors_cap = ncap;
    }
    a = &b->anchors[b->nanchors];
    if (!(a->name = malloc(len + 1)))
        return oom(b);
    memcpy(a->name, name, len);
    a->name[len] = '\0';
    a->len = len;
    a->v = json_incref(v);
    a->pos = p;
    a->count = count;
    b->nanchors++;
    return 0;
}

/* The latest definition wins: YAML allows redefining an anchor. */
static const struct anchor *anchor_find(const struct builder *b, const char *name, size_t len)
{
    for (size_t i = b->nanchors; i-- > 0;)
        if (b->anchors[i].len == len && memcmp(b->anchors[i].name, name, len) == 0)
            return &b->anchors[i];
    return NULL;
}

/* 1-based position of an event's main token; (0,0) when it has none (an
 * empty plain scalar). */
static void event_pos(struct fy_event *e, int *line, int *col)
{
    const struct fy_mark *m = fy_event_start_mark(e);
    *line = *col = 0;
    if (m && m->line >= 0 && m->column >= 0) {
        *line = m->line + 1;
        *col = m->column + 1;
    }
}

/* libfyaml marks a block scalar at the start of the line after its header
 * ("key: |"); a reader looks for the indicator, so find it on that line.
 * The indicator is the first '|' or '>' after a blank, followed only by
 * chomping/indentation digits and then a blank, a comment or the end. */
static void block_scalar_pos(const struct builder *b, struct fy_event *e, int *line, int *col)
{
    const struct fy_mark *m = fy_event_start_mark(e);
    size_t end, start, i;
    if (!m || m->column != 0 || m->line < 1 || m->input_pos == 0 || m->input_pos > b->len)
        return;
    end = m->input_pos - 1;               /* the header's line break */
    if (end > 0 && b->text[end] == '\n' && b->text[end - 1] == '\r')
        end--;
    start = end;
    while (start > 0 && b->text[start - 1] != '\n' && b->text[start - 1] != '\r')
        start--;
    for (i = start; i < end; i++) {
        char c = b->text[i];
        size_t j = i + 1;
        if (c != '|' && c != '>')
            continue;
        if (i > start && b->text[i - 1] != ' ' && b->text[i - 1] != '\t')
            continue;
        while (j < end && (b->text[j] == '-' || b->text[j] == '+' ||
                           (b->text[j] >= '0' && b->text[j] <= '9')))
            j++;
        if (j == end || b->text[j] == ' ' || b->text[j] == '\t' || b->text[j] == '#')
            break;
    }
    if (i >= end)
        return;
    *line = m->line;                      /* 0-based line + 1 - 1 */
    *col = 1;
    for (size_t k = start; k < i; k++)    /* columns count characters, as libfyaml's do */
        if (((unsigned char)b->text[k] & 0xC0) != 0x80)
            (*col)++;
}

/* A scalar with properties ("&a !!int 3") starts at its first property. The
 * marks of anchor and tag tokens may be past their '&' or '!', so step back
 * over those. */
static void props_pos(const struct builder *b, struct fy_event *e, int *line, int *col)
{
    struct fy_token *props[2] = {fy_event_get_anchor_token(e), fy_event_get_tag_token(e)};
    const struct fy_mark *first = NULL;
    for (int i = 0; i < 2; i++) {
        const struct fy_mark *m = props[i] ? fy_token_start_mark(props[i]) : NULL;
        if (m && m->line >= 0 && m->column >= 0 && (!first || m->input_pos < first->input_pos))
            first = m;
    }
    if (!first || first->line + 1 > *line ||
        (first->line + 1 == *line && first->column + 1 >= *col))
        return;
    *line = first->line + 1;
    *col = first->column + 1;
    for (size_t p = first->input_pos, k = 0; k < 2 && p > 0 && p <= b->len && *col > 1; k++, p--) {
        if (b->text[p - 1] != '&' && b->text[p - 1] != '!')
            break;
        (*col)--;
    }
}

/* Where a node without a mark of its own goes: after its key, else at its
 * parent. */
static void fallback_pos(const struct builder *b, int *line, int *col)
{
    if (b->depth) {
        const struct frame *f = &b->stack[b->depth - 1];
        if (f->is_map && f->has_key) {
            *line = f->key_line;
            *col = f->key_col;
        } else {
            *line = f->pos->line;
            *col = f->pos->col;
        }
    } else {
        *line = *col = 1;
    }
}

static bool tag_is(const char *tag, size_t taglen, const char *name)
{
    static const char prefix[] = "tag:yaml.org,2002:";
    size_t pl = sizeof prefix - 1, nl = strlen(name);
    return taglen == pl + nl && memcmp(tag, prefix, pl) == 0 && memcmp(tag + pl, name, nl) == 0;
}

/* The value of a scalar: quoted and block scalars are strings, plain ones
 * resolve by the core schema; an explicit !!str/!!int/!!float/!!bool/!!null
 * tag decides instead, and other tags are ignored. */
static int scalar_value(struct builder *b, struct fy_event *e, const char *s, size_t n,
                        int line, int col, json_t **out)
{
    struct fy_token *tagt = fy_event_get_tag_token(e);
    enum fy_scalar_style style = fy_token_scalar_style(e->scalar.value);
    const char *tag = NULL;
    size_t taglen = 0;
    enum yaml__core_type t;

    if (tagt)
        tag = fy_token_get_text(tagt, &taglen);
    if (tag && (tag_is(tag, taglen, "str") || (taglen == 1 && tag[0] == '!'))) {
        t = YAML__CORE_STR;
    } else if (tag && (tag_is(tag, taglen, "int") || tag_is(tag, taglen, "float") ||
                       tag_is(tag, taglen, "bool") || tag_is(tag, taglen, "null"))) {
        /* the suffix after "tag:yaml.org,2002:", which tag_is matched exactly */
        int wantlen = (int)(taglen - (sizeof "tag:yaml.org,2002:" - 1));
        const char *want = tag + taglen - wantlen;
        bool ok;
        t = yaml__core_resolve(s, n);
        if (tag_is(tag, taglen, "float") && t == YAML__CORE_INT)
            t = YAML__CORE_FLOAT;               /* !!float 2 is 2.0 */
        if (tag_is(tag, taglen, "int"))
            ok = t == YAML__CORE_INT;
        else if (tag_is(tag, taglen, "float"))
            ok = t == YAML__CORE_FLOAT || t == YAML__CORE_NONFINITE;
        else if (tag_is(tag, taglen, "bool"))
            ok = t == YAML__CORE_BOOL;
        else
            ok = t == YAML__CORE_NULL;
        if (!ok)
            return fail(b, line, col, "'%.*s' is not a valid !!%.*s", (int)(n > 64 ? 64 : n), s,
                        wantlen, want);
    } else {
        t = style == FYSS_PLAIN ? yaml__core_resolve(s, n) : YAML__CORE_STR;
    }

    if (t == YAML__CORE_NONFINITE)
        return fail(b, line, col,
                    "'%.*s' is a YAML float that JSON cannot hold; quote it to keep a string",
                    (int)n, s);
    if (t == YAML__CORE_STR) {
        if (!(*out = json_stringn(s, n)))
            return fail(b, line, col, "invalid UTF-8 in scalar");
        return 0;
    }
    if (!(*out = core_value(s, n, t)))
        return t == YAML__CORE_FLOAT || t == YAML__CORE_INT
                   ? fail(b, line, col, "number '%.*s' is out of range", (int)(n > 64 ? 64 : n), s)
                   : oom(b);
    return 0;
}

/* Hands a finished node (owned) to its parent, or makes it the document's
 * root. `keytext` is the scalar's source text, used when it becomes a key;
 * `merge` is true for a plain "<<". */
static int deliver(struct builder *b, json_t *v, struct pos *p, size_t count,
                   const char *keytext, size_t keylen, bool merge)
{
    struct frame *f;
    int rc = 0;

    if (b->depth == 0) {
        json_decref(b->root);
        b->root = v;
        b->root_pos = p;
        return 0;
    }
    f = &b->stack[b->depth - 1];
    f->count += count;
    if (!f->is_map) {
        if (json_array_append_new(f->node, v))
            return oom(b);
        return pos_add(b->d->arena, f->pos, NULL, 0, p) ? oom(b) : 0;
    }

    if (!f->has_key) {
        if (json_is_object(v) || json_is_array(v)) {
            rc = fail(b, p->line, p->col, "a mapping key must be a scalar, not a %s",
                      json_is_object(v) ? "mapping" : "sequence");
        } else if (!keytext) {
            if (!json_is_string(v))
                rc = fail(b, p->line, p->col, "an alias used as a key must name a string");
            keytext = json_string_value(v);
            keylen = json_string_length(v);
        }
        if (!rc && !merge && json_object_getn(f->node, keytext, keylen))
            rc = fail(b, p->line, p->col, "duplicate key \"%.*s\"",
                      (int)(keylen > 200 ? 200 : keylen), keytext);
        if (!rc && !(f->key = malloc(keylen + 1)))
            rc = oom(b);
        if (!rc) {
            memcpy(f->key, keytext, keylen);
            f->key[keylen] = '\0';
            f->keylen = keylen;
            f->has_key = true;
            f->key_is_merge = merge;
            f->key_line = p->line;
            f->key_col = p->col;
        }
        json_decref(v);
        return rc;
    }

    f->has_key = false;
    if (f->key_is_merge) {
        /* "<<: *base" or "<<: [*a, *b]" (YAML 1.1 merge keys, which
         * Kubernetes' YAML reader also honours) */
        bool ok = json_is_object(v);
        if (json_is_array(v)) {
            size_t i;
            json_t *it;
            ok = json_array_size(v) > 0;
            json_array_foreach(v, i, it) ok = ok && json_is_object(it);
        }
        if (!ok) {
            rc = fail(b, p->line, p->col, "a merge key '<<' needs a mapping or a list of mappings");
        } else {
            if (!f->merges && !(f->merges = json_array()))
                rc = oom(b);
            if (!rc && !f->merge_pos && !(f->merge_pos = pos_new(b->d->arena, POS_SEQ, 0, 0)))
                rc = oom(b);
            if (!rc && json_is_object(v)) {
                if (json_array_append(f->merges, v) ||
                    pos_add(b->d->arena, f->merge_pos, NULL, 0, p))
                    rc = oom(b);
            } else if (!rc) {
                size_t i;
                json_t *it;
                json_array_foreach(v, i, it) {
                    if (json_array_append(f->merges, it) ||
                        pos_add(b->d->arena, f->merge_pos, NULL, 0, p->kids[i]))
                        rc = oom(b);
                    if (rc)
                        break;
                }
            }
        }
        json_decref(v);
    } else if (json_object_setn_new(f->node, f->key, f->keylen, v)) {
        rc = fail(b, f->key_line, f->key_col, "invalid UTF-8 in key");
    } else if (pos_add(b->d->arena, f->pos, f->key, f->keylen, p)) {
        rc = oom(b);
    }
    free(f->key);
    f->key = NULL;
    return rc;
}

/* Keys of "<<" sources that the mapping lacks are added; earlier sources
 * win over later ones, explicit keys over all. */
static int apply_merges(struct builder *b, struct frame *f)
{
    size_t i;
    json_t *src;
    json_array_foreach(f->merges, i, src) {
        struct pos *sp = f->merge_pos->kids[i];
        for (size_t k = 0; k < sp->n; k++) {
            json_t *val = json_object_getn(src, sp->keys[k], sp->keylens[k]);
            if (!val || json_object_getn(f->node, sp->keys[k], sp->keylens[k]))
                continue;
            if (json_object_setn(f->node, sp->keys[k], sp->keylens[k], val) ||
                pos_add(b->d->arena, f->pos, sp->keys[k], sp->keylens[k], sp->kids[k]))
                return oom(b);
        }
    }
    return 0;
}

static int push_frame(struct builder *b, struct fy_event *e, bool is_map)
{
    struct frame *f;
    struct fy_token *at = fy_event_get_anchor_token(e);
    int line, col;

    if (b->depth == b->stack_cap) {
        size_t ncap = b->stack_cap ? b->stack_cap * 2 : 16;
        struct frame *ns = realloc(b->stack, ncap * sizeof *ns);
        if (!ns)
            return oom(b);
        b->stack = ns;
        b->stack_cap = ncap;
    }
    event_pos(e, &line, &col);
    if (b->depth && fy_event_get_node_style(e) == FYNS_BLOCK) {
        const struct frame *parent = &b->stack[b->depth - 1];
        if (parent->is_map && parent->has_key) {
            line = parent->key_line;
            col = parent->key_col;
        }
    }
    if (line == 0)
        fallback_pos(b, &line, &col);

    f = &b->stack[b->depth];
    memset(f, 0, sizeof *f);
    f->is_map = is_map;
    f->count = 1;
    f->node = is_map ? json_object() : json_array();
    f->pos = pos_new(b->d->arena, is_map ? POS_MAP : POS_SEQ, line, col);
    b->depth++;                   /* from here on the frame is released on error */
    if (!f->node || !f->pos)
        return oom(b);
    if (at) {
        size_t len;
        const char *name = fy_token_get_text(at, &len);
        if (!name || !(f->anchor = malloc(len + 1)))
            return oom(b);
        memcpy(f->anchor, name, len);
        f->anchor[len] = '\0';
        f->anchor_len = len;
    }
    return 0;
}

static int pop_frame(struct builder *b)
{
    struct frame f = b->stack[--b->depth];
    int rc = 0;

    if (f.merges)
        rc = apply_merges(b, &f);
    if (!rc && f.anchor)
        rc = anchor_add(b, f.anchor, f.anchor_len, f.node, f.pos, f.count);
    if (!rc) {
        rc = deliver(b, f.node, f.pos, f.count, NULL, 0, false);
        f.node = NULL;
    }
    frame_release(&f);
    return rc;
}

static int on_scalar(struct builder *b, struct fy_event *e)
{
    struct fy_token *at = fy_event_get_anchor_token(e);
    enum fy_scalar_style style = fy_token_scalar_style(e->scalar.value);
    const char *s;
    size_t n;
    int line, col, rc;
    json_t *v = NULL;
    struct pos *p;

    if (!(s = fy_token_get_text(e->scalar.value, &n)))
        return oom(b);
    event_pos(e, &line, &col);
    if (line == 0)
        fallback_pos(b, &line, &col);
    else if ((style == FYSS_SINGLE_QUOTED || style == FYSS_DOUBLE_QUOTED) && col > 1)
        col--;                       /* the mark is past the opening quote */
    else if (style == FYSS_LITERAL || style == FYSS_FOLDED)
        block_scalar_pos(b, e, &line, &col);
    if (line)
        props_pos(b, e, &line, &col);

    if ((rc = scalar_value(b, e, s, n, line, col, &v)))
        return rc;
    if (!(p = pos_new(b->d->arena, POS_SCALAR, line, col))) {
        json_decref(v);
        return oom(b);
    }
    if (at) {
        size_t alen;
        const char *aname = fy_token_get_text(at, &alen);
        if (!aname || anchor_add(b, aname, alen, v, p, 1)) {
            json_decref(v);
            return oom(b);
        }
    }
    return deliver(b, v, p, 1, s, n, style == FYSS_PLAIN && n == 2 && s[0] == '<' && s[1] == '<');
}

static int on_alias(struct builder *b, struct fy_event *e)
{
    size_t len;
    const char *name = fy_token_get_text(e->alias.anchor, &len);
    const struct anchor *a;
    struct pos *p;
    json_t *v;
    int line, col;

    event_pos(e, &line, &col);
    if (line == 0)
        fallback_pos(b, &line, &col);
    else if (col > 1)
        col--;                       /* the mark is past the '*' */
    if (!name)
        return oom(b);
    if (!(a = anchor_find(b, name, len)))
        return fail(b, line, col, "unknown alias '*%.*s'", (int)(len > 200 ? 200 : len), name);
    if (a->count > ALIAS_NODES_MAX - b->alias_nodes)
        return fail(b, line, col,
                    "aliases expand this document past %d nodes; refusing (an alias bomb?)",
                    ALIAS_NODES_MAX);
    b->alias_nodes += a->count;
    if (!(p = pos_new(b->d->arena, a->pos->kind, line, col)))
        return oom(b);
    p->n = p->cap = a->pos->n;          /* shares the anchor's children: never modified */
    p->kids = a->pos->kids;
    p->keys = a->pos->keys;
    p->keylens = a->pos->keylens;
    if (!(v = json_deep_copy(a->v)))
        return oom(b);
    return deliver(b, v, p, a->count, NULL, 0, false);
}

static int docs_push(struct builder *b)
{
    struct skiff_yaml_docs *d = b->d;
    if (d->n == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 4;
        json_t **nd = realloc(d->docs, ncap * sizeof *nd);
        if (!nd)
            return oom(b);
        d->docs = nd;
        struct pos **np = realloc(d->pos, ncap * sizeof *np);
        if (!np)
            return oom(b);
        d->pos = np;
        d->cap = ncap;
    }
    d->docs[d->n] = b->root;
    d->pos[d->n] = b->root_pos;
    d->n++;
    b->root = NULL;
    b->root_pos = NULL;
    return 0;
}

static int on_event(struct builder *b, struct fy_event *e)
{
    switch (e->type) {
    case FYET_DOCUMENT_START:
        b->alias_nodes = 0;
        return 0;
    case FYET_DOCUMENT_END:
        anchors_clear(b);
        if (!b->root || json_is_null(b->root)) {   /* an empty document */
            json_decref(b->root);
            b->root = NULL;
            return 0;
        }
        return docs_push(b);
    case FYET_MAPPING_START:
        return push_frame(b, e, true);
    case FYET_SEQUENCE_START:
        return push_frame(b, e, false);
    case FYET_MAPPING_END:
    case FYET_SEQUENCE_END:
        return pop_frame(b);
    case FYET_SCALAR:
        return on_scalar(b, e);
    case FYET_ALIAS:
        return on_alias(b, e);
    default:
        return 0;
    }
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0 (RFC 3629: no
 * overlong forms, no surrogates, nothing past U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/* YAML streams are printable Unicode text (YAML 1.2, 5.1): invalid UTF-8 and
 * C0 control characters other than tab and line breaks are refused here,
 * where the position is exact. It also keeps libfyaml 0.7.12 from input it
 * mishandles: it loops forever on some invalid UTF-8 (a '%' directive and a
 * truncated sequence) and crashes on a NUL after certain tabs. */
static int check_chars(struct builder *b)
{
    const unsigned char *s = (const unsigned char *)b->text;
    int line = 1, col = 1;
    for (size_t i = 0; i < b->len;) {
        size_t n = utf8_len(s + i, b->len - i);
        if (n == 0)
            return fail(b, line, col, "invalid UTF-8 (byte 0x%02X)", s[i]);
        if (s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return fail(b, line, col, "control character 0x%02X is not allowed in YAML (write "
                        "it as an escape in a double-quoted string)", s[i]);
        if (s[i] == '\n')
            line++, col = 1;
        else
            col++;
        i += n;
    }
    return 0;
}

/* libfyaml 0.7.12 crashes (freeing its indentation stack after it has
 * reported the error) on a tab that separates ':' from a block indicator
 * inside an explicit key's content: "? y:\t-", "?\n  y:\t|". Real files
 * have neither explicit keys nor tabs there, so a stream with both a '?'
 * anywhere and a tab between ':' and one of - ? : | > is refused before
 * libfyaml sees it. (Line breaks libfyaml also knows, such as U+0085, make
 * any finer test of "explicit key" unreliable.) */
static int check_tab_hazard(struct builder *b)
{
    const char *s = b->text;
    size_t len = b->len, hazard = len;

    if (!memchr(s, '?', len))
        return 0;
    for (size_t i = 0; i < len && hazard == len; i++) {
        size_t j = i + 1;
        bool tab = false;
        if (s[i] != ':')
            continue;
        for (; j < len && (s[j] == ' ' || s[j] == '\t'); j++)
            if (s[j] == '\t')
                tab = true;
        if (tab && j < len && s[j] && strchr("-?:|>", s[j]))
            hazard = j;
    }
    if (hazard == len)
        return 0;
    int line = 1, col = 1;
    for (size_t i = 0; i < hazard; i++) {
        if (s[i] == '\n')
            line++, col = 1;
        else if (((unsigned char)s[i] & 0xC0) != 0x80)
            col++;
    }
    return fail(b, line, col, "a tab before '%c' in a file with a '?' is not supported; use "
                "spaces", s[hazard]);
}

/* libfyaml writes diagnostics to stderr unless told otherwise; errors are
 * collected instead and the first becomes the skiff_err. */
static void diag_discard(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
}

static int syntax_error(struct builder *b, struct fy_diag *diag)
{
    void *it = NULL;
    struct fy_diag_error *de;
    while ((de = fy_diag_errors_iterate(diag, &it)))
        if (de->type == FYET_ERROR)
            return fail(b, de->line > 0 ? de->line : 0, de->column > 0 ? de->column : 0, "%s",
                        de->msg && de->msg[0] ? de->msg : "invalid YAML");
    return fail(b, 0, 0, "invalid YAML");
}

int skiff_yaml_parse(const char *text, size_t len, const char *name,
                     struct skiff_yaml_docs **out, struct skiff_err *err)
{
    struct builder b = {0};
    struct fy_diag_cfg dcfg;
    struct fy_diag *diag = NULL;
    struct fy_parser *fyp = NULL;
    struct fy_parse_cfg pcfg = {0};
    struct fy_event *e;
    int rc = 0;

    *out = NULL;
    b.name = name ? name : "<input>";
    b.text = text;
    b.len = len;
    b.err = err;
    if (!(b.d = calloc(1, sizeof *b.d)) || !(b.d->name = strdup(b.name)) ||
        !(b.d->arena = skiff_arena_new(0))) {
        rc = oom(&b);
        goto out;
    }
    if (len == 0)
        goto out;                /* libfyaml refuses an empty string; it has no documents */
    if ((rc = check_chars(&b)) || (rc = check_tab_hazard(&b)))
        goto out;

    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = diag_discard;
    dcfg.colorize = false;
    if (!(diag = fy_diag_create(&dcfg))) {
        rc = oom(&b);
        goto out;
    }
    fy_diag_set_collect_errors(diag, true);
    pcfg.flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2;
    pcfg.diag = diag;
    if (!(fyp = fy_parser_create(&pcfg)) || fy_parser_set_string(fyp, text, len)) {
        rc = oom(&b);
        goto out;
    }
    while ((e = fy_parser_parse(fyp))) {
        rc = on_event(&b, e);
        fy_parser_event_free(fyp, e);
        if (rc)
            goto out;
    }
    if (fy_parser_get_stream_error(fyp) || fy_diag_got_error(diag))
        rc = syntax_error(&b, diag);

out:
    while (b.depth)
        frame_release(&b.stack[--b.depth]);
    free(b.stack);
    anchors_clear(&b);
    free(b.anchors);
    json_decref(b.root);
    if (fyp)
        fy_parser_destroy(fyp);
    if (diag)
        fy_diag_destroy(diag);
    if (rc) {
        skiff_yaml_free(b.d);
        return rc;
    }
    *out = b.d;
    return 0;
}

int skiff_yaml_load_file(const char *path, struct skiff_yaml_docs **out, struct skiff_err *err)
{
    struct skiff_buf buf = SKIFF_BUF_INIT;
    struct stat st;
    int fd, rc = 0;

    *out = NULL;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return skiff_err_sys(err, errno == ENOENT ? SKIFF_ENOTFOUND : SKIFF_EIO,
                             "cannot open '%s'", path);
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > YAML_FILE_MAX) {
        rc = skiff_err_set(err, SKIFF_ETOOBIG, "'%s' is larger than %zu MiB", path,
                           YAML_FILE_MAX >> 20);
        goto out;
    }
    /* read to EOF rather than trusting st_size: pipes and /proc files have none */
    for (;;) {
        size_t room = 64 * 1024;
        ssize_t got;
        if (buf.len + room > YAML_FILE_MAX + 1)
            room = YAML_FILE_MAX + 1 - buf.len;
        if (skiff_buf_grow(&buf, room)) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading '%s'", path);
            goto out;
        }
        got = read(fd, buf.ptr + buf.len, room);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot read '%s'", path);
            goto out;
        }
        if (got == 0)
            break;
        buf.len += (size_t)got;
        buf.ptr[buf.len] = '\0';
        if (buf.len > YAML_FILE_MAX) {
            rc = skiff_err_set(err, SKIFF_ETOOBIG, "'%s' is larger than %zu MiB", path,
                               YAML_FILE_MAX >> 20);
            goto out;
        }
    }
    rc = skiff_yaml_parse(buf.ptr, buf.len, path, out, err);
out:
    close(fd);
    skiff_buf_release(&buf);
    return rc;
}

void skiff_yaml_free(struct skiff_yaml_docs *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        json_decref(d->docs[i]);
    free(d->docs);
    free(d->pos);
    free(d->name);
    skiff_arena_free(d->arena);
    free(d);
}

size_t skiff_yaml_count(const struct skiff_yaml_docs *d)
{
    return d ? d->n : 0;
}

json_t *skiff_yaml_doc(const struct skiff_yaml_docs *d, size_t i)
{
    return d && i < d->n ? d->docs[i] : NULL;
}

const char *skiff_yaml_name(const struct skiff_yaml_docs *d)
{
    return d ? d->name : NULL;
}

/* ---- positions by JSON pointer (RFC 6901) ---- */

/* Decodes the next reference token of `*p` (past its '/') into tok; ~0 and
 * ~1 stand for '~' and '/'. False for a malformed or overlong token. */
static bool next_token(const char **p, char *tok, size_t cap, size_t *len)
{
    const char *s = *p + 1;
    size_t n = 0;
    for (; *s && *s != '/'; s++) {
        char c = *s;
        if (c == '~') {
            if (s[1] != '0' && s[1] != '1')
                return false;
            c = *++s == '0' ? '~' : '/';
        }
        if (n + 1 >= cap)
            return false;
        tok[n++] = c;
    }
    tok[n] = '\0';
    *len = n;
    *p = s;
    return true;
}

static const struct pos *pos_child(const struct pos *p, const char *tok, size_t len)
{
    if (p->kind == POS_MAP) {
        for (size_t i = 0; i < p->n; i++)
            if (p->keylens[i] == len && memcmp(p->keys[i], tok, len) == 0)
                return p->kids[i];
    } else if (p->kind == POS_SEQ) {
        size_t idx = 0;
        if (len == 0 || (len > 1 && tok[0] == '0'))
            return NULL;
        for (size_t i = 0; i < len; i++) {
            if (tok[i] < '0' || tok[i] > '9' || idx > (SIZE_MAX - 9) / 10)
                return NULL;
            idx = idx * 10 + (size_t)(tok[i] - '0');
        }
        return idx < p->n ? p->kids[idx] : NULL;
    }
    return NULL;
}

int skiff_yaml_pos(const struct skiff_yaml_docs *d, size_t i, const char *ptr, int *line,
                   int *col)
{
    const struct pos *cur;
    char tok[1024];

    if (!d || i >= d->n || !ptr || (*ptr && *ptr != '/'))
        return SKIFF_ENOTFOUND;
    cur = d->pos[i];
    while (*ptr) {
        const struct pos *next;
        size_t len;
        if (!next_token(&ptr, tok, sizeof tok, &len) || !(next = pos_child(cur, tok, len)))
            break;
        cur = next;
    }
    *line = cur->line;
    *col = cur->col;
    return 0;
}

int skiff_yaml_err(const struct skiff_yaml_docs *d, size_t i, const char *ptr,
                   struct skiff_err *err, int code, const char *fmt, ...)
{
    char msg[SKIFF_ERR_MSG_MAX];
    int line = 0, col = 0;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (skiff_yaml_pos(d, i, ptr ? ptr : "", &line, &col))
        line = col = 0;
    return skiff_err_at(err, code, d ? d->name : "", line, col, "%s", msg);
}
