/* Error values: see include/skiff/err.h. */
#include "skiff/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int status;
    const char *msg;
} err_table[SKIFF_ERR_COUNT] = {
    [SKIFF_OK] = {"OK", 200, "ok"},
#define SKIFF__ERR_ROW(n, s, m) [SKIFF_##n] = {#n, s, m},
    SKIFF_ERR_MAP(SKIFF__ERR_ROW)
#undef SKIFF__ERR_ROW
};

void skiff_err_clear(struct skiff_err *e)
{
    if (!e)
        return;
    e->code = SKIFF_OK;
    e->cause_errno = 0;
    e->line = e->col = 0;
    e->where[0] = '\0';
    e->msg[0] = '\0';
}

static int vset(struct skiff_err *e, int code, const char *fmt, va_list ap)
{
    if (!e)
        return code;
    e->code = code;
    e->cause_errno = 0;
    e->line = e->col = 0;
    e->where[0] = '\0';
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    return code;
}

int skiff_err_set(struct skiff_err *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(e, code, fmt, ap);
    va_end(ap);
    return code;
}

int skiff_err_at(struct skiff_err *e, int code, const char *where, int line, int col,
                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(e, code, fmt, ap);
    va_end(ap);
    if (e) {
        snprintf(e->where, sizeof e->where, "%s", where ? where : "");
        e->line = line;
        e->col = col;
    }
    return code;
}

int skiff_err_sys(struct skiff_err *e, int code, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    va_start(ap, fmt);
    vset(e, code, fmt, ap);
    va_end(ap);
    if (e)
        e->cause_errno = saved;
    return code;
}

int skiff_err_prefix(struct skiff_err *e, const char *fmt, ...)
{
    char joined[2 * SKIFF_ERR_MSG_MAX + 2];
    size_t off;
    va_list ap;

    if (!e)
        return SKIFF_EINTERNAL;
    va_start(ap, fmt);
    vsnprintf(joined, SKIFF_ERR_MSG_MAX, fmt, ap);
    va_end(ap);
    off = strlen(joined);
    memcpy(joined + off, ": ", 2);
    memcpy(joined + off + 2, e->msg, strlen(e->msg) + 1);
    /* keep the head (context and the start of the cause); truncate the tail */
    memcpy(e->msg, joined, sizeof e->msg - 1);
    e->msg[sizeof e->msg - 1] = '\0';
    return e->code;
}

const char *skiff_err_format(const struct skiff_err *e, char *buf, size_t n)
{
    size_t off = 0;
    int w;

    if (!buf || n == 0)
        return buf;
    buf[0] = '\0';
    if (!e)
        return buf;
#define APPEND(...)                                                     \
    do {                                                                \
        if (off < n) {                                                  \
            w = snprintf(buf + off, n - off, __VA_ARGS__);              \
            off = w < 0 ? n : off + (size_t)w;                          \
        }                                                               \
    } while (0)
    if (e->where[0]) {
        APPEND("%s", e->where);
        if (e->line > 0)
            APPEND(":%d", e->line);
        if (e->col > 0)
            APPEND(":%d", e->col);
        APPEND(": ");
    }
    APPEND("%s", e->msg[0] ? e->msg : skiff_err_default_msg(e->code));
    if (e->cause_errno)
        APPEND(": %s", strerror(e->cause_errno));
#undef APPEND
    return buf;
}

static int in_range(int code)
{
    return code >= 0 && code < SKIFF_ERR_COUNT;
}

const char *skiff_err_name(int code)
{
    return in_range(code) ? err_table[code].name : "UNKNOWN";
}

int skiff_err_http_status(int code)
{
    return in_range(code) ? err_table[code].status : 500;
}

const char *skiff_err_default_msg(int code)
{
    return in_range(code) ? err_table[code].msg : "unknown error";
}
