/* Route patterns: checked once when a table is added, matched per request.
 *
 * A pattern is "/" followed by segments separated by "/". A segment is
 *   literal        "models"          that exact text
 *   param          "{name}"          one whole path segment, non-empty
 *   affixed param  "{name}:predict"  a literal prefix and/or suffix around one
 *                  "v{version}"      param; the param is what is left between
 *                                    them and must be non-empty
 *   rest param     "{path...}"       the final segment only (a literal prefix
 *                                    is allowed, a suffix is not): the rest of
 *                                    the path, slashes included, non-empty
 * Matching is exact otherwise: a trailing slash is significant ("/healthz/"
 * does not match "/healthz") and an empty segment ("//") matches no param.
 *
 * Worked example: "/v1/models/{name}:predict" against "/v1/models/fraud:predict":
 *   "v1" = "v1", "models" = "models", then "{name}:predict" against
 *   "fraud:predict": prefix "" and suffix ":predict" match, name = "fraud".
 *   Against "/v1/models/:predict" it fails: the param would be empty.
 *
 * Matching records spans into the pattern and the path and never allocates,
 * so the router can try every route of every table against one request and
 * copy the parameters out only for the route it picks.
 */
#include "http_int.h"

#include "skiff/arena.h"

#include <ctype.h>
#include <string.h>

static const char *seg_end(const char *s)
{
    const char *e = strchr(s, '/');
    return e ? e : s + strlen(s);
}

static bool is_rest(const char *name, size_t len)
{
    return len > 3 && memcmp(name + len - 3, "...", 3) == 0;
}

int http__match(const char *pattern, const char *path, struct http__span *spans)
{
    const char *p = pattern, *s = path;
    int n = 0;

    if (!p || !s || *p != '/' || *s != '/')
        return -1;
    p++;
    s++;
    for (;;) {
        const char *pe = seg_end(p), *se = seg_end(s);
        size_t plen = (size_t)(pe - p), slen = (size_t)(se - s);
        const char *open = memchr(p, '{', plen);

        if (!open) {
            if (plen != slen || memcmp(p, s, plen) != 0)
                return -1;
        } else {
            const char *close = memchr(open, '}', (size_t)(pe - open));
            size_t pre, suf, nlen;

            if (!close || n >= SKIFF_HTTP_MAX_PARAMS)
                return -1;
            pre = (size_t)(open - p);
            suf = (size_t)(pe - close - 1);
            nlen = (size_t)(close - open - 1);
            if (is_rest(open + 1, nlen)) {
                size_t rest = strlen(s);
                if (*pe != '\0' || suf != 0 || rest <= pre || memcmp(s, p, pre) != 0)
                    return -1;
                spans[n].name = open + 1;
                spans[n].name_len = nlen - 3;
                spans[n].value = s + pre;
                spans[n].value_len = rest - pre;
                return n + 1;
            }
            if (slen < pre + suf + 1 || memcmp(s, p, pre) != 0 ||
                memcmp(se - suf, close + 1, suf) != 0)
                return -1;
            spans[n].name = open + 1;
            spans[n].name_len = nlen;
            spans[n].value = s + pre;
            spans[n].value_len = slen - pre - suf;
            n++;
        }
        if (*pe == '\0' || *se == '\0')
            return *pe == '\0' && *se == '\0' ? n : -1;
        p = pe + 1;
        s = se + 1;
    }
}

int http__pattern_check(const char *pattern, struct skiff_err *err)
{
    const char *p;
    int nparams = 0;

    if (!pattern || pattern[0] != '/')
        return skiff_err_set(err, SKIFF_EINVAL, "route pattern '%s' must start with '/'",
                             pattern ? pattern : "(null)");
    for (p = pattern + 1;; p++) {
        const char *pe = seg_end(p), *open, *close, *q;
        size_t plen = (size_t)(pe - p), nlen;

        open = memchr(p, '{', plen);
        close = memchr(p, '}', plen);
        if (!open && !close)
            goto next;
        if (!open || !close || close < open)
            goto bad;
        /* one param per segment: no second brace after the first pair */
        if (memchr(open + 1, '{', (size_t)(pe - open - 1)) ||
            memchr(close + 1, '}', (size_t)(pe - close - 1)))
            goto bad;
        nlen = (size_t)(close - open - 1);
        if (is_rest(open + 1, nlen)) {
            if (*pe != '\0' || close + 1 != pe)
                return skiff_err_set(err, SKIFF_EINVAL,
                                     "route pattern '%s': a {name...} param must end the "
                                     "pattern", pattern);
            nlen -= 3;
        }
        if (nlen == 0)
            goto bad;
        for (q = open + 1; q < open + 1 + nlen; q++)
            if (!isalnum((unsigned char)*q) && *q != '_')
                goto bad;
        if (++nparams > SKIFF_HTTP_MAX_PARAMS)
            return skiff_err_set(err, SKIFF_EINVAL,
                                 "route pattern '%s' has more than %d params", pattern,
                                 SKIFF_HTTP_MAX_PARAMS);
    next:
        if (*pe == '\0')
            return 0;
        p = pe;
    }
bad:
    return skiff_err_set(err, SKIFF_EINVAL,
                         "route pattern '%s': a segment holds at most one {name} "
                         "(letters, digits, '_')", pattern);
}

bool http__pattern_literal(const char *pattern)
{
    return strchr(pattern, '{') == NULL;
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

bool http__path_decode(const char *src, size_t len, char *dst)
{
    size_t i = 0, o = 0;
    int hi, lo;

    while (i < len) {
        if (src[i] == '\0')
            return false;
        if (src[i] != '%') {
            dst[o++] = src[i++];
            continue;
        }
        if (len - i < 3)
            return false;
        hi = hexval(src[i + 1]);
        lo = hexval(src[i + 2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return false;
        dst[o++] = (char)(hi << 4 | lo);
        i += 3;
    }
    dst[o] = '\0';
    return true;
}

bool http__path_has_dots(const char *path)
{
    for (const char *p = path; (p = strchr(p, '/')) != NULL; p++) {
        size_t n = strcspn(p + 1, "/");
        if ((n == 1 && p[1] == '.') || (n == 2 && p[1] == '.' && p[2] == '.'))
            return true;
    }
    return false;
}

bool skiff_http_match(const char *pattern, const char *path, struct skiff_arena *arena,
                      int *nparams, const char **names, const char **values)
{
    struct http__span spans[SKIFF_HTTP_MAX_PARAMS];
    int n = http__match(pattern, path, spans);

    *nparams = 0;
    if (n < 0)
        return false;
    for (int i = 0; i < n; i++) {
        names[i] = skiff_arena_strndup(arena, spans[i].name, spans[i].name_len);
        values[i] = skiff_arena_strndup(arena, spans[i].value, spans[i].value_len);
        if (!names[i] || !values[i])
            return false;
    }
    *nparams = n;
    return true;
}
