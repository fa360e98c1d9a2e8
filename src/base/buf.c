/* Growable buffers: see include/skiff/buf.h. */
#include "skiff/buf.h"
#include "skiff/err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char skiff_buf__empty[1];

void skiff_buf_init(struct skiff_buf *b, size_t max)
{
    b->ptr = skiff_buf__empty;
    b->len = b->cap = 0;
    b->max = max;
}

void skiff_buf_release(struct skiff_buf *b)
{
    if (!b)
        return;
    if (b->cap)
        free(b->ptr);
    skiff_buf_init(b, b->max);
}

void skiff_buf_reset(struct skiff_buf *b)
{
    b->len = 0;
    if (b->cap)
        b->ptr[0] = '\0';
}

char *skiff_buf_detach(struct skiff_buf *b)
{
    char *s = b->cap ? b->ptr : strdup("");
    skiff_buf_init(b, b->max);
    return s;
}

int skiff_buf_grow(struct skiff_buf *b, size_t extra)
{
    size_t need, ncap;
    char *p;

    if (extra > SIZE_MAX - b->len - 1)
        return SKIFF_ETOOBIG;
    need = b->len + extra;
    if (b->max && need > b->max)
        return SKIFF_ETOOBIG;
    if (need + 1 <= b->cap)
        return 0;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need + 1)
        ncap = ncap > SIZE_MAX / 2 ? need + 1 : ncap * 2;
    p = realloc(b->cap ? b->ptr : NULL, ncap);
    if (!p)
        return SKIFF_ENOMEM;
    if (!b->cap)
        p[0] = '\0';
    b->ptr = p;
    b->cap = ncap;
    return 0;
}

int skiff_buf_append(struct skiff_buf *b, const void *data, size_t n)
{
    int rc = skiff_buf_grow(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->ptr + b->len, data, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return 0;
}

int skiff_buf_puts(struct skiff_buf *b, const char *s)
{
    return skiff_buf_append(b, s, strlen(s));
}

int skiff_buf_putc(struct skiff_buf *b, char c)
{
    return skiff_buf_append(b, &c, 1);
}

int skiff_buf_vappendf(struct skiff_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n, rc;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        return SKIFF_EINVAL;
    if ((rc = skiff_buf_grow(b, (size_t)n)))
        return rc;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int skiff_buf_appendf(struct skiff_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = skiff_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int skiff_buf_json_str(struct skiff_buf *b, const char *s)
{
    int rc = skiff_buf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
        switch (*p) {
        case '"': rc = skiff_buf_puts(b, "\\\""); break;
        case '\\': rc = skiff_buf_puts(b, "\\\\"); break;
        case '\n': rc = skiff_buf_puts(b, "\\n"); break;
        case '\r': rc = skiff_buf_puts(b, "\\r"); break;
        case '\t': rc = skiff_buf_puts(b, "\\t"); break;
        default:
            if (*p < 0x20)
                rc = skiff_buf_appendf(b, "\\u%04x", *p);
            else
                rc = skiff_buf_putc(b, (char)*p);
        }
    }
    return rc ? rc : skiff_buf_putc(b, '"');
}

bool skiff_str_ieq(const char *a, const char *b)
{
    return a && b && strcasecmp(a, b) == 0;
}

bool skiff_str_startswith(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool skiff_str_endswith(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

char *skiff_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

bool skiff_strlcpy(char *dst, const char *src, size_t n)
{
    size_t l = strlen(src);
    if (n == 0)
        return false;
    if (l >= n) {
        memcpy(dst, src, n - 1);
        dst[n - 1] = '\0';
        return false;
    }
    memcpy(dst, src, l + 1);
    return true;
}
