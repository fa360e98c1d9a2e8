/* skiff error values.
 *
 * Functions return 0 or a SKIFF_E* code and put the detail in a caller-owned
 * struct skiff_err (last parameter). The message buffer is fixed-size so that
 * reporting an error never allocates. An error is set once where it happens
 * (skiff_err_set / skiff_err_at / skiff_err_sys), gains context on the way up
 * (skiff_err_prefix) and is printed only at the top (CLI main, HTTP router).
 *
 * Messages are lowercase with the subject in quotes:
 *   cannot open model 'fraud-detector@champion': no such alias
 */
#ifndef SKIFF_ERR_H
#define SKIFF_ERR_H

#include <stddef.h>

/* One list makes the codes, their names, their HTTP statuses and messages. */
#define SKIFF_ERR_MAP(X)                                            \
    X(EINVAL,     400, "invalid argument")                          \
    X(EPARSE,     400, "cannot parse input")                        \
    X(EUNAUTH,    401, "unauthenticated")                           \
    X(EFORBIDDEN, 403, "permission denied")                         \
    X(ENOTFOUND,  404, "not found")                                 \
    X(EMETHOD,    405, "method not allowed")                        \
    X(ECONFLICT,  409, "conflict")                                  \
    X(EEXIST,     409, "already exists")                            \
    X(ETOOBIG,    413, "input exceeds limit")                       \
    X(EBUSY,      429, "too many requests")                         \
    X(ENOMEM,     500, "out of memory")                             \
    X(EIO,        500, "input/output error")                        \
    X(EINTERNAL,  500, "internal error")                            \
    X(EUNAVAIL,   503, "service unavailable")                       \
    X(ETIMEDOUT,  504, "timed out")

enum skiff_err_code {
    SKIFF_OK = 0,
#define SKIFF__ERR_ENUM(name, status, msg) SKIFF_##name,
    SKIFF_ERR_MAP(SKIFF__ERR_ENUM)
#undef SKIFF__ERR_ENUM
    SKIFF_ERR_COUNT
};

#define SKIFF_ERR_MSG_MAX 1024
#define SKIFF_ERR_WHERE_MAX 512

struct skiff_err {
    int code;                          /* SKIFF_OK when no error */
    int cause_errno;                   /* errno of the system call at the root, or 0 */
    int line, col;                     /* 1-based position in `where`, 0 if none */
    char where[SKIFF_ERR_WHERE_MAX];   /* file, URL or field the error is about, or "" */
    char msg[SKIFF_ERR_MSG_MAX];
};

#define SKIFF_ERR_INIT {0, 0, 0, 0, "", ""}

/* Reset to "no error". Accepts NULL. */
void skiff_err_clear(struct skiff_err *e);

/* Set code and message (printf-style). Returns `code` so callers can write
 * `return skiff_err_set(e, SKIFF_EINVAL, "bad '%s'", x);`. `e` may be NULL. */
int skiff_err_set(struct skiff_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As skiff_err_set, with a location: `where` (a file name or field path) and a
 * 1-based line and column (0 when unknown). */
int skiff_err_at(struct skiff_err *e, int code, const char *where, int line, int col,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* As skiff_err_set, recording `errno` as the cause (its text is appended when
 * the error is formatted). Call right after the failing system call. */
int skiff_err_sys(struct skiff_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend context: "loading 'x.yaml': <old message>". Returns e->code. */
int skiff_err_prefix(struct skiff_err *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Write "where:line:col: msg: strerror(cause)" into buf (always terminated).
 * Returns buf. */
const char *skiff_err_format(const struct skiff_err *e, char *buf, size_t n);

/* "EINVAL", 400, "invalid argument" for a code; "UNKNOWN", 500 otherwise. */
const char *skiff_err_name(int code);
int skiff_err_http_status(int code);
const char *skiff_err_default_msg(int code);

#endif
