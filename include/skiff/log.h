/* Logging to stderr.
 *
 * Human-readable lines on a TTY ("09:14:02.113 info  listening on ..."),
 * JSON lines otherwise ({"ts":"2026-11-27T09:14:02.113Z","level":"info",
 * "msg":"listening on ..."}), so logs read well by hand and parse in a
 * collector. Level from SKIFF_LOG (debug|info|warn|error|off, default info);
 * SKIFF_LOG_FORMAT=json|text forces a format. Thread-safe: one write(2) per
 * line.
 */
#ifndef SKIFF_LOG_H
#define SKIFF_LOG_H

#include <stdbool.h>

enum skiff_log_level { SKIFF_LOG_DEBUG, SKIFF_LOG_INFO, SKIFF_LOG_WARN, SKIFF_LOG_ERROR, SKIFF_LOG_OFF };

/* Reads SKIFF_LOG and SKIFF_LOG_FORMAT. Called once by main; the defaults
 * apply without it. Returns 0, or SKIFF_EINVAL for an unknown level name (the
 * default level is kept). */
int skiff_log_init(void);
void skiff_log_set_level(enum skiff_log_level lvl);
void skiff_log_set_json(bool json);
bool skiff_log_enabled(enum skiff_log_level lvl);
/* "debug" ... -> level; -1 when unknown. */
int skiff_log_level_parse(const char *name);

void skiff_log(enum skiff_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A line with extra key/value fields (NULL-terminated list of pairs of
 * strings), e.g. the access log:
 *   skiff_log_kv(SKIFF_LOG_INFO, "request", "method", "GET", "path", p, NULL); */
void skiff_log_kv(enum skiff_log_level lvl, const char *msg, ...);

#define skiff_debug(...) skiff_log(SKIFF_LOG_DEBUG, __VA_ARGS__)
#define skiff_info(...)  skiff_log(SKIFF_LOG_INFO, __VA_ARGS__)
#define skiff_warn(...)  skiff_log(SKIFF_LOG_WARN, __VA_ARGS__)
#define skiff_error(...) skiff_log(SKIFF_LOG_ERROR, __VA_ARGS__)

#endif
