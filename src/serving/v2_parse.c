/* The V2 (Open Inference Protocol) request body, parsed by hand.
 *
 * The infer body is the hot path: jansson would build a tree of one
 * allocated node per number and then we would walk it again. This parser
 * reads the body once, left to right, and writes each element straight
 * into a double array in the request arena, checking it against the
 * input's datatype as it goes. Anything the protocol does not name
 * ("parameters" of an input, unknown keys) is skipped with a bounded-depth
 * skipper, so no input can recurse deeply or allocate without bound beyond
 * the body cap (at most one double and one pointer per element).
 *
 * Numbers: the common case (up to 19 significant digits, a decimal
 * exponent within +-22) is converted exactly from its integer mantissa
 * and a power of ten (both exact in a double when the mantissa is below
 * 2^53: Clinger's fast path); anything else goes to strtod.
 */
#include "serving_int.h"

#include "skiff/arena.h"
#include "skiff/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 32

struct parser {
    const char *start, *p, *end;
    struct skiff_arena *a;
    struct skiff_err *err;
};

static const char *const dtype_names[DT_COUNT] = {
    "BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64",
    "FP16", "FP32", "FP64", "BF16", "BYTES",
};

const char *serving__dtype_name(enum serving__dtype t)
{
    return t < DT_COUNT ? dtype_names[t] : "?";
}

enum serving__dtype serving__dtype_parse(const char *s, size_t n)
{
    for (int i = 0; i < DT_COUNT; i++)
        if (strlen(dtype_names[i]) == n && memcmp(dtype_names[i], s, n) == 0)
            return (enum serving__dtype)i;
    return DT_COUNT;
}

static int fail(struct parser *ps, const char *fmt, const char *a1)
{
    return skiff_err_set(ps->err, SKIFF_EINVAL, fmt, a1);
}

static int syntax(struct parser *ps, const char *what)
{
    return skiff_err_set(ps->err, SKIFF_EPARSE, "Unrecognized request format: %s at byte %zu",
                         what, (size_t)(ps->p - ps->start));
}

static void ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' ||
                               *ps->p == '\t'))
        ps->p++;
}

static bool eat(struct parser *ps, char c)
{
    ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return true;
    }
    return false;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A JSON string at p (after ws), decoded into the arena (UTF-8; \u escapes
 * including surrogate pairs). *out NUL-terminated, *len its bytes. */
static int string(struct parser *ps, const char **out, size_t *len)
{
    const char *s, *q;
    char *o, *w;

    ws(ps);
    if (ps->p >= ps->end || *ps->p != '"')
        return syntax(ps, "expected a string");
    s = ++ps->p;
    /* fast scan: no escapes is the common case, copied at once */
    for (q = s; q < ps->end && *q != '"' && *q != '\\'; q++)
        if ((unsigned char)*q < 0x20)
            return syntax(ps, "control character in a string");
    if (q < ps->end && *q == '"') {
        if (!(o = skiff_arena_strndup(ps->a, s, (size_t)(q - s))))
            return skiff_err_set(ps->err, SKIFF_ENOMEM, "out of memory");
        *out = o;
        if (len)
            *len = (size_t)(q - s);
        ps->p = q + 1;
        return 0;
    }
    /* escapes: the decoded form is never longer than the source */
    for (q = s; q < ps->end && *q != '"'; q++)
        if (*q == '\\')
            q++;
    if (q >= ps->end)
        return syntax(ps, "unterminated string");
    if (!(o = skiff_arena_alloc(ps->a, (size_t)(q - s) + 1)))
        return skiff_err_set(ps->err, SKIFF_ENOMEM, "out of memory");
    for (w = o, q = s; *q != '"'; q++) {
        unsigned cp;
        if ((unsigned char)*q < 0x20)
            return syntax(ps, "control character in a string");
        if (*q != '\\') {
            *w++ = *q;
            continue;
        }
        switch (*++q) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '/': *w++ = '/'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u':
            cp = 0;
            for (int i = 1; i <= 4; i++) {
                int h = q + i < ps->end ? hexval(q[i]) : -1;
                if (h < 0)
                    return syntax(ps, "bad \\u escape");
                cp = cp << 4 | (unsigned)h;
            }
            q += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && q + 6 < ps->end && q[1] == '\\' && q[2] == 'u') {
                unsigned lo = 0;
                int ok = 1;
                for (int i = 3; i <= 6; i++) {
                    int h = hexval(q[i]);
                    if (h < 0)
                        ok = 0;
                    lo = lo << 4 | (unsigned)(h < 0 ? 0 : h);
                }
                if (ok && lo >= 0xDC00 && lo < 0xE000) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    q += 6;
                }
            }
            /* \uXXXX is 6 source bytes; its UTF-8 is at most 4 (a pair, 12 -> 4) */
            if (cp < 0x80) {
                *w++ = (char)cp;
            } else if (cp < 0x800) {
                *w++ = (char)(0xC0 | cp >> 6);
                *w++ = (char)(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                *w++ = (char)(0xE0 | cp >> 12);
                *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *w++ = (char)(0x80 | (cp & 0x3F));
            } else {
                *w++ = (char)(0xF0 | cp >> 18);
                *w++ = (char)(0x80 | ((cp >> 12) & 0x3F));
                *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
                *w++ = (char)(0x80 | (cp & 0x3F));
            }
            break;
        default:
            return syntax(ps, "bad escape in a string");
        }
    }
    *w = '\0';
    *out = o;
    if (len)
        *len = (size_t)(w - o);
    ps->p = q + 1;
    return 0;
}

static const double pow10_tab[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static const long double pow10l_tab[28] = {
    1e0L, 1e1L, 1e2L, 1e3L, 1e4L, 1e5L, 1e6L, 1e7L, 1e8L, 1e9L, 1e10L, 1e11L, 1e12L, 1e13L,
    1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L,
    1e26L, 1e27L,
};

/* A JSON number at p. *is_int: no fraction or exponent. Worked example:
 * "-12.5e1": mantissa 125, exp10 = -1 + 1 = 0 -> -125.0 exactly.
 * `approx` (may be NULL: then always exact) allows a faster path for the
 * 16-19 digit mantissas that printing a float32 as a double produces
 * (0.12573021650314331): the mantissa and the power of ten are exact in a
 * long double, so the result is off by at most one unit in the last place
 * of the double, invisible once it is rounded to the float a tree reads;
 * *approx says so, and FP64 inputs are parsed again exactly (input()). */
static int number(struct parser *ps, double *out, bool *is_int, bool *approx)
{
    const char *s = ps->p, *q = s;
    uint64_t mant = 0;
    int digits = 0, exp10 = 0, e = 0;
    bool neg = false, frac = false, big = false;

    if (q < ps->end && *q == '-') {
        neg = true;
        q++;
    }
    if (q >= ps->end || *q < '0' || *q > '9')
        return syntax(ps, "expected a number");
    if (*q == '0' && q + 1 < ps->end && q[1] >= '0' && q[1] <= '9')
        return syntax(ps, "leading zero in a number");
    for (; q < ps->end && *q >= '0' && *q <= '9'; q++) {
        if (digits < 19) {
            mant = mant * 10 + (uint64_t)(*q - '0');
            if (mant)
                digits++;
        } else {
            big = true;
        }
    }
    if (q < ps->end && *q == '.') {
        frac = true;
        q++;
        if (q >= ps->end || *q < '0' || *q > '9')
            return syntax(ps, "digit expected after '.'");
        for (; q < ps->end && *q >= '0' && *q <= '9'; q++) {
            if (digits < 19) {
                mant = mant * 10 + (uint64_t)(*q - '0');
                if (mant)
                    digits++;
                exp10--;
            } else {
                big = true;
            }
        }
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        bool eneg = false;
        frac = true;
        q++;
        if (q < ps->end && (*q == '+' || *q == '-'))
            eneg = *q++ == '-';
        if (q >= ps->end || *q < '0' || *q > '9')
            return syntax(ps, "digit expected in exponent");
        for (; q < ps->end && *q >= '0' && *q <= '9'; q++)
            if (e < 100000)
                e = e * 10 + (*q - '0');
        exp10 += eneg ? -e : e;
    }
    *is_int = !frac;
    if (approx)
        *approx = false;
    if (!big && mant < (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        double v = (double)mant;
        v = exp10 < 0 ? v / pow10_tab[-exp10] : v * pow10_tab[exp10];
        *out = neg ? -v : v;
    } else if (!big && exp10 == 0) {
        *out = neg ? -(double)mant : (double)mant;   /* one rounding: exact enough */
    } else if (approx && !big && exp10 >= -27 && exp10 <= 27) {
        long double v = (long double)mant;
        v = exp10 < 0 ? v / pow10l_tab[-exp10] : v * pow10l_tab[exp10];
        *out = (double)(neg ? -v : v);
        *approx = true;
    } else {
        /* the body is NUL-terminated and q ends the number: strtod stops there */
        *out = strtod(s, NULL);
    }
    ps->p = q;
    return 0;
}

static bool lit(struct parser *ps, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, w, n) == 0) {
        ps->p += n;
        return true;
    }
    return false;
}

/* Skips one value of any kind, checking its syntax. */
static int skip(struct parser *ps, int depth)
{
    double d;
    bool b;
    const char *s;

    if (depth > MAX_DEPTH)
        return syntax(ps, "nesting too deep");
    ws(ps);
    if (ps->p >= ps->end)
        return syntax(ps, "unexpected end");
    switch (*ps->p) {
    case '"':
        return string(ps, &s, NULL);
    case '{':
        ps->p++;
        if (eat(ps, '}'))
            return 0;
        do {
            int rc;
            if ((rc = string(ps, &s, NULL)))
                return rc;
            if (!eat(ps, ':'))
                return syntax(ps, "expected ':'");
            if ((rc = skip(ps, depth + 1)))
                return rc;
        } while (eat(ps, ','));
        return eat(ps, '}') ? 0 : syntax(ps, "expected '}'");
    case '[':
        ps->p++;
        if (eat(ps, ']'))
            return 0;
        do {
            int rc;
            if ((rc = skip(ps, depth + 1)))
                return rc;
        } while (eat(ps, ','));
        return eat(ps, ']') ? 0 : syntax(ps, "expected ']'");
    case 't':
        return lit(ps, "true") ? 0 : syntax(ps, "bad literal");
    case 'f':
        return lit(ps, "false") ? 0 : syntax(ps, "bad literal");
    case 'n':
        return lit(ps, "null") ? 0 : syntax(ps, "bad literal");
    default:
        return number(ps, &d, &b, NULL);
    }
}

/* ---- one input ---- */

struct grow {
    double *v;
    const char **s;
    size_t n, cap;
    bool want_strs;
};

static int push(struct parser *ps, struct grow *g, double v, const char *s)
{
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 64;
        double *nv = skiff_arena_alloc(ps->a, nc * sizeof *nv);
        const char **ns = g->want_strs ? skiff_arena_alloc(ps->a, nc * sizeof *ns) : NULL;
        if (!nv || (g->want_strs && !ns))
            return skiff_err_set(ps->err, SKIFF_ENOMEM, "out of memory");
        if (g->n) {
            memcpy(nv, g->v, g->n * sizeof *nv);
            if (ns)
                memcpy(ns, g->s, g->n * sizeof *ns);
        }
        g->v = nv;
        g->s = ns;
        g->cap = nc;
    }
    g->v[g->n] = v;
    if (g->want_strs)
        g->s[g->n] = s;
    g->n++;
    return 0;
}

/* Checks an element against the datatype. The datatype may come after
 * "data" in the object: then elements are kept as read and checked later
 * by check_elements (kind[] remembers what each was). */
enum kind { K_NUM_INT, K_NUM_FRAC, K_BOOL, K_STR };
#define APPROX 0x80   /* in kinds[]: a number read by the long double path */

static int check_one(struct parser *ps, const struct serving__tensor *t, enum kind k, double v,
                     size_t idx)
{
    char what[64];
    static const char *const kind_names[] = {"a number", "a number", "a boolean", "a string"};
    enum serving__dtype dt = t->dtype;
    bool ok;

    switch (dt) {
    case DT_BOOL: ok = k == K_BOOL; break;
    case DT_BYTES: ok = k == K_STR; break;
    case DT_FP32: case DT_FP64: ok = k == K_NUM_INT || k == K_NUM_FRAC; break;
    case DT_FP16: case DT_BF16:
        return skiff_err_set(ps->err, SKIFF_EINVAL, "Sending %s data via JSON is not "
                             "supported. Please use the binary data format for input %s",
                             serving__dtype_name(dt), t->name);
    default: /* integer types */
        ok = k == K_NUM_INT || (k == K_NUM_FRAC && v == floor(v));
        if (ok) {
            double lo = 0, hi = 0;
            switch (dt) {
            case DT_INT8: lo = -128; hi = 127; break;
            case DT_INT16: lo = -32768; hi = 32767; break;
            case DT_INT32: lo = -2147483648.0; hi = 2147483647.0; break;
            case DT_INT64: lo = -9223372036854775808.0; hi = 9223372036854775807.0; break;
            case DT_UINT8: hi = 255; break;
            case DT_UINT16: hi = 65535; break;
            case DT_UINT32: hi = 4294967295.0; break;
            default: hi = 18446744073709551615.0; break;
            }
            if (v < lo || v > hi)
                return skiff_err_set(ps->err, SKIFF_EINVAL, "invalid datatype: input '%s' "
                                     "element %zu (%.17g) is out of range for %s", t->name,
                                     idx, v, serving__dtype_name(dt));
        }
        break;
    }
    if (ok)
        return 0;
    snprintf(what, sizeof what, "%s%s", kind_names[k],
             k == K_NUM_FRAC && dt != DT_BOOL && dt != DT_BYTES ? " with a fraction" : "");
    return skiff_err_set(ps->err, SKIFF_EINVAL, "invalid datatype: input '%s' element %zu is "
                         "%s, datatype %s expects %s", t->name, idx, what,
                         serving__dtype_name(dt),
                         dt == DT_BOOL ? "true/false" : dt == DT_BYTES ? "strings"
                                                                       : "numbers");
}

/* "data": nested arrays of scalars, flattened row-major. */
static int data_values(struct parser *ps, struct grow *g, unsigned char **kinds,
                       size_t *kcap, int depth)
{
    int rc;

    if (depth > SERVING__MAX_DIMS)
        return syntax(ps, "'data' nested deeper than the shape allows");
    ws(ps);
    if (ps->p >= ps->end)
        return syntax(ps, "unexpected end in 'data'");
    if (*ps->p == '[') {
        ps->p++;
        if (eat(ps, ']'))
            return 0;
        do {
            if ((rc = data_values(ps, g, kinds, kcap, depth + 1)))
                return rc;
        } while (eat(ps, ','));
        return eat(ps, ']') ? 0 : syntax(ps, "expected ']' in 'data'");
    }
    {
        double v = 0;
        const char *s = NULL, *start = ps->p;
        enum kind k;
        bool is_int, approx = false;

        if (*ps->p == '"') {
            if ((rc = string(ps, &s, NULL)))
                return rc;
            k = K_STR;
            v = NAN;
        } else if (*ps->p == 't' || *ps->p == 'f') {
            if (lit(ps, "true"))
                v = 1;
            else if (!lit(ps, "false"))
                return syntax(ps, "bad literal in 'data'");
            k = K_BOOL;
        } else if (*ps->p == 'n') {
            return syntax(ps, "null in 'data'");
        } else {
            if ((rc = number(ps, &v, &is_int, &approx)))
                return rc;
            k = is_int ? K_NUM_INT : K_NUM_FRAC;
            if (approx)
                s = start;   /* input() parses it again exactly if it is FP64 */
        }
        if (g->n == *kcap) {
            size_t nc = *kcap ? *kcap * 2 : 64;
            unsigned char *nk = skiff_arena_alloc(ps->a, nc);
            if (!nk)
                return skiff_err_set(ps->err, SKIFF_ENOMEM, "out of memory");
            if (g->n)
                memcpy(nk, *kinds, g->n);
            *kinds = nk;
            *kcap = nc;
        }
        (*kinds)[g->n] = (unsigned char)(k | (approx ? APPROX : 0));
        return push(ps, g, v, s);
    }
}

static int input(struct parser *ps, struct serving__tensor *t, size_t index)
{
    struct grow g = {.want_strs = true};
    unsigned char *kinds = NULL;
    size_t kcap = 0;
    char idx[32];
    int rc;

    snprintf(idx, sizeof idx, "#%zu", index);
    t->name = NULL;
    if (!eat(ps, '{'))
        return syntax(ps, "an input must be an object");
    if (!eat(ps, '}')) {
        do {
            const char *key;
            size_t klen;
            if ((rc = string(ps, &key, &klen)))
                return rc;
            if (!eat(ps, ':'))
                return syntax(ps, "expected ':'");
            if (strcmp(key, "name") == 0) {
                if ((rc = string(ps, &t->name, NULL)))
                    return rc;
            } else if (strcmp(key, "datatype") == 0) {
                const char *dt;
                size_t n;
                if ((rc = string(ps, &dt, &n)))
                    return rc;
                t->dtype = serving__dtype_parse(dt, n);
                if (t->dtype == DT_COUNT)
                    return skiff_err_set(ps->err, SKIFF_EINVAL, "invalid datatype '%s' for "
                                         "input '%s'", dt, t->name ? t->name : idx);
                t->has_dtype = true;
            } else if (strcmp(key, "shape") == 0) {
                if (!eat(ps, '['))
                    return fail(ps, "input '%s': 'shape' must be a list of integers",
                                t->name ? t->name : idx);
                t->ndim = 0;
                if (!eat(ps, ']')) {
                    do {
                        double d;
                        bool is_int;
                        ws(ps);
                        if (ps->p >= ps->end || *ps->p == '"' || *ps->p == '[' ||
                            *ps->p == '{' || *ps->p == 't' || *ps->p == 'f' || *ps->p == 'n' ||
                            (rc = number(ps, &d, &is_int, NULL)) || !is_int || d < 0)
                            return fail(ps, "input '%s': 'shape' must be a list of "
                                        "non-negative integers", t->name ? t->name : idx);
                        if (t->ndim == SERVING__MAX_DIMS)
                            return fail(ps, "input '%s': 'shape' has more than 8 dimensions",
                                        t->name ? t->name : idx);
                        if (d > 1e15)
                            return fail(ps, "input '%s': 'shape' dimension too large",
                                        t->name ? t->name : idx);
                        t->shape[t->ndim++] = (int64_t)d;
                    } while (eat(ps, ','));
                    if (!eat(ps, ']'))
                        return syntax(ps, "expected ']' after 'shape'");
                }
                t->has_shape = true;
            } else if (strcmp(key, "data") == 0) {
                ws(ps);
                if (ps->p >= ps->end || *ps->p != '[')
                    return fail(ps, "input '%s': 'data' must be a list",
                                t->name ? t->name : idx);
                if ((rc = data_values(ps, &g, &kinds, &kcap, 0)))
                    return rc;
                t->has_data = true;
            } else if ((rc = skip(ps, 1))) {
                return rc;
            }
        } while (eat(ps, ','));
        if (!eat(ps, '}'))
            return syntax(ps, "expected '}' after an input");
    }
    if (!t->name)
        return fail(ps, "input %s has no 'name'", idx);
    if (!t->has_dtype)
        return fail(ps, "input '%s' has no 'datatype'", t->name);
    if (!t->has_shape)
        return fail(ps, "input '%s' has no 'shape'", t->name);
    if (!t->has_data)
        return skiff_err_set(ps->err, SKIFF_EINVAL, "'data' field is missing for input '%s'",
                             t->name);
    {
        /* product of the shape, overflow-safe: the dims are <= 1e15 each */
        double want = 1;
        char shp[200] = "[";
        for (int i = 0; i < t->ndim; i++) {
            want *= (double)t->shape[i];
            snprintf(shp + strlen(shp), sizeof shp - strlen(shp), "%s%lld", i ? ", " : "",
                     (long long)t->shape[i]);
        }
        snprintf(shp + strlen(shp), sizeof shp - strlen(shp), "]");
        if (want != (double)g.n)
            return skiff_err_set(ps->err, SKIFF_EINVAL, "input '%s': shape %s needs %.0f "
                                 "elements, 'data' has %zu", t->name, shp, want, g.n);
    }
    for (size_t i = 0; i < g.n; i++) {
        if ((kinds[i] & APPROX) && t->dtype == DT_FP64)
            g.v[i] = strtod(g.s[i], NULL);   /* a double input stays exact */
        if ((rc = check_one(ps, t, (enum kind)(kinds[i] & ~APPROX), g.v[i], i)))
            return rc;
    }
    t->n = g.n;
    t->data = g.v;
    t->strs = t->dtype == DT_BYTES ? g.s : NULL;
    return 0;
}

static int outputs(struct parser *ps, struct serving__infer_req *r)
{
    int rc;

    if (!eat(ps, '['))
        return skiff_err_set(ps->err, SKIFF_EINVAL, "'outputs' must be a list");
    if (eat(ps, ']'))
        return 0;
    do {
        if (!eat(ps, '{'))
            return skiff_err_set(ps->err, SKIFF_EINVAL, "an output must be an object");
        if (eat(ps, '}'))
            continue;
        do {
            const char *key, *v;
            if ((rc = string(ps, &key, NULL)))
                return rc;
            if (!eat(ps, ':'))
                return syntax(ps, "expected ':'");
            if (strcmp(key, "name") == 0) {
                if ((rc = string(ps, &v, NULL)))
                    return rc;
                if (r->noutputs == SERVING__MAX_OUTPUTS)
                    return skiff_err_set(ps->err, SKIFF_EINVAL, "too many 'outputs'");
                r->outputs[r->noutputs++] = v;
            } else if (strcmp(key, "parameters") == 0) {
                /* {"datatype": "FP32"} asks for single-precision outputs */
                if (!eat(ps, '{'))
                    return skiff_err_set(ps->err, SKIFF_EINVAL, "output 'parameters' must "
                                         "be an object");
                if (eat(ps, '}'))
                    continue;
                do {
                    const char *pk;
                    if ((rc = string(ps, &pk, NULL)))
                        return rc;
                    if (!eat(ps, ':'))
                        return syntax(ps, "expected ':'");
                    ws(ps);
                    if (strcmp(pk, "datatype") == 0 && ps->p < ps->end && *ps->p == '"') {
                        if ((rc = string(ps, &v, NULL)))
                            return rc;
                        if (strcmp(v, "FP32") == 0)
                            r->out_fp32 = true;
                        else if (strcmp(v, "FP64") != 0)
                            return skiff_err_set(ps->err, SKIFF_EINVAL, "output datatype "
                                                 "'%s' is not supported (FP32 or FP64)", v);
                    } else if ((rc = skip(ps, 2))) {
                        return rc;
                    }
                } while (eat(ps, ','));
                if (!eat(ps, '}'))
                    return syntax(ps, "expected '}'");
            } else if ((rc = skip(ps, 2))) {
                return rc;
            }
        } while (eat(ps, ','));
        if (!eat(ps, '}'))
            return syntax(ps, "expected '}' after an output");
    } while (eat(ps, ','));
    return eat(ps, ']') ? 0 : syntax(ps, "expected ']' after 'outputs'");
}

int serving__v2_parse(const char *body, size_t len, struct skiff_arena *a,
                      struct serving__infer_req *out, struct skiff_err *err)
{
    struct parser ps = {body, body, body + len, a, err};
    size_t cap = 0;
    bool has_inputs = false;
    int rc;

    memset(out, 0, sizeof *out);
    if (!eat(&ps, '{'))
        return skiff_err_set(err, SKIFF_EPARSE, "Unrecognized request format: the body must "
                             "be a JSON object");
    if (!eat(&ps, '}')) {
        do {
            const char *key;
            if ((rc = string(&ps, &key, NULL)))
                return rc;
            if (!eat(&ps, ':'))
                return syntax(&ps, "expected ':'");
            ws(&ps);
            if (strcmp(key, "id") == 0) {
                if (ps.p < ps.end && *ps.p == '"') {
                    if ((rc = string(&ps, &out->id, NULL)))
                        return rc;
                } else {
                    return skiff_err_set(err, SKIFF_EINVAL, "'id' must be a string");
                }
            } else if (strcmp(key, "parameters") == 0) {
                const char *s = ps.p;
                if (ps.p >= ps.end || *ps.p != '{')
                    return skiff_err_set(err, SKIFF_EINVAL, "'parameters' must be an object");
                if ((rc = skip(&ps, 1)))
                    return rc;
                out->params = s;
                out->params_len = (size_t)(ps.p - s);
            } else if (strcmp(key, "inputs") == 0) {
                if (!eat(&ps, '['))
                    return skiff_err_set(err, SKIFF_EINVAL, "'inputs' must be a list");
                has_inputs = true;
                if (eat(&ps, ']'))
                    continue;
                do {
                    if (out->ninputs == cap) {
                        size_t nc = cap ? cap * 2 : 4;
                        struct serving__tensor *nt;
                        if (nc > SERVING__MAX_INPUTS)
                            return skiff_err_set(err, SKIFF_EINVAL, "more than %d inputs",
                                                 SERVING__MAX_INPUTS);
                        if (!(nt = skiff_arena_calloc(a, nc, sizeof *nt)))
                            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
                        if (cap)
                            memcpy(nt, out->inputs, cap * sizeof *nt);
                        out->inputs = nt;
                        cap = nc;
                    }
                    if ((rc = input(&ps, &out->inputs[out->ninputs], out->ninputs)))
                        return rc;
                    out->ninputs++;
                } while (eat(&ps, ','));
                if (!eat(&ps, ']'))
                    return syntax(&ps, "expected ']' after 'inputs'");
            } else if (strcmp(key, "outputs") == 0) {
                if ((rc = outputs(&ps, out)))
                    return rc;
            } else if ((rc = skip(&ps, 1))) {
                return rc;
            }
        } while (eat(&ps, ','));
        if (!eat(&ps, '}'))
            return syntax(&ps, "expected '}' or ','");
    }
    ws(&ps);
    if (ps.p != ps.end)
        return syntax(&ps, "trailing characters after the object");
    if (!has_inputs || out->ninputs == 0)
        return skiff_err_set(err, SKIFF_EINVAL, "Unrecognized request format: 'inputs' is "
                             "missing or empty");
    return 0;
}
