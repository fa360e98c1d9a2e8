/* Logging: see include/skiff/log.h. */
#include "skiff/log.h"
#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/time.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

/* Written once by skiff_log_init before threads start, read afterwards. */
static enum skiff_log_level cur_level = SKIFF_LOG_INFO;
static int json_mode = -1; /* -1: decide from isatty at first use */

int skiff_log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof level_names / sizeof *level_names; i++)
        if (skiff_str_ieq(name, level_names[i]))
            return (int)i;
    if (skiff_str_ieq(name, "warning"))
        return SKIFF_LOG_WARN;
    return -1;
}

int skiff_log_init(void)
{
    const char *lvl = getenv("SKIFF_LOG"), *fmt = getenv("SKIFF_LOG_FORMAT");
    int rc = 0;
    if (lvl && *lvl) {
        int l = skiff_log_level_parse(lvl);
        if (l < 0)
            rc = SKIFF_EINVAL;
        else
            cur_level = (enum skiff_log_level)l;
    }
    if (fmt && skiff_str_ieq(fmt, "json"))
        json_mode = 1;
    else if (fmt && skiff_str_ieq(fmt, "text"))
        json_mode = 0;
    return rc;
}

void skiff_log_set_level(enum skiff_log_level lvl) { cur_level = lvl; }
void skiff_log_set_json(bool json) { json_mode = json; }

bool skiff_log_enabled(enum skiff_log_level lvl)
{
    return lvl >= cur_level && lvl < SKIFF_LOG_OFF;
}

static void emit(enum skiff_log_level lvl, const char *msg, va_list *kv)
{
    char stamp[40];
    struct skiff_buf b = SKIFF_BUF_INIT;
    const char *k, *v;
    int64_t now = skiff_time_now_us();

    if (json_mode < 0)
        json_mode = !isatty(STDERR_FILENO);
    skiff_time_format(now, stamp, sizeof stamp);
    if (json_mode) {
        skiff_buf_appendf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", stamp, level_names[lvl]);
        skiff_buf_json_str(&b, msg);
        while (kv && (k = va_arg(*kv, const char *)) != NULL) {
            v = va_arg(*kv, const char *);
            skiff_buf_putc(&b, ',');
            skiff_buf_json_str(&b, k);
            skiff_buf_putc(&b, ':');
            skiff_buf_json_str(&b, v ? v : "");
        }
        skiff_buf_puts(&b, "}\n");
    } else {
        /* 2026-11-27T09:14:02.113Z -> 09:14:02.113 */
        skiff_buf_appendf(&b, "%.12s %-5s %s", stamp + 11, level_names[lvl], msg);
        while (kv && (k = va_arg(*kv, const char *)) != NULL) {
            v = va_arg(*kv, const char *);
            skiff_buf_appendf(&b, " %s=%s", k, v ? v : "");
        }
        skiff_buf_putc(&b, '\n');
    }
    if (b.len) {
        ssize_t w = write(STDERR_FILENO, b.ptr, b.len);
        (void)w;
    }
    skiff_buf_release(&b);
}

void skiff_log(enum skiff_log_level lvl, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    if (!skiff_log_enabled(lvl))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(lvl, msg, NULL);
}

void skiff_log_kv(enum skiff_log_level lvl, const char *msg, ...)
{
    va_list ap;
    if (!skiff_log_enabled(lvl))
        return;
    va_start(ap, msg);
    emit(lvl, msg, &ap);
    va_end(ap);
}
