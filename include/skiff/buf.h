/* Growable byte buffers and small string helpers.
 *
 *   struct skiff_buf b = SKIFF_BUF_INIT;        caller-owned, empty, no cap
 *   skiff_buf_init(&b, 1 << 20);                 ... or with a 1 MiB cap
 *   skiff_buf_appendf(&b, "%d", n);
 *   char *s = skiff_buf_detach(&b);              caller frees s; b is empty again
 *   skiff_buf_release(&b);                       frees b's memory
 *
 * The contents are always NUL-terminated (b.ptr is "" when empty, never
 * NULL). A buffer that grows from input has a cap: an append past it fails
 * with SKIFF_ETOOBIG and leaves the buffer unchanged.
 */
#ifndef SKIFF_BUF_H
#define SKIFF_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct skiff_buf {
    char *ptr;   /* contents, NUL-terminated; points to a static "" while cap==0 */
    size_t len;  /* bytes used, not counting the NUL */
    size_t cap;  /* bytes allocated */
    size_t max;  /* largest len allowed, 0 = unlimited */
};

extern char skiff_buf__empty[1];
#define SKIFF_BUF_INIT {skiff_buf__empty, 0, 0, 0}

void skiff_buf_init(struct skiff_buf *b, size_t max);
/* Frees the memory and returns the buffer to SKIFF_BUF_INIT (keeping max). Accepts NULL. */
void skiff_buf_release(struct skiff_buf *b);
/* Empties the buffer and keeps the memory for reuse. */
void skiff_buf_reset(struct skiff_buf *b);
/* Hands the contents over: the caller frees the returned string (never NULL
 * unless out of memory). The buffer is empty afterwards. */
char *skiff_buf_detach(struct skiff_buf *b);

/* Each returns 0, SKIFF_ENOMEM or SKIFF_ETOOBIG (past the cap). */
int skiff_buf_grow(struct skiff_buf *b, size_t extra);
int skiff_buf_append(struct skiff_buf *b, const void *data, size_t n);
int skiff_buf_puts(struct skiff_buf *b, const char *s);
int skiff_buf_putc(struct skiff_buf *b, char c);
int skiff_buf_appendf(struct skiff_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int skiff_buf_vappendf(struct skiff_buf *b, const char *fmt, va_list ap);
/* Appends s as a JSON string literal, quotes included. */
int skiff_buf_json_str(struct skiff_buf *b, const char *s);

/* String helpers. */
bool skiff_str_ieq(const char *a, const char *b);          /* ASCII case-insensitive */
bool skiff_str_startswith(const char *s, const char *prefix);
bool skiff_str_endswith(const char *s, const char *suffix);
/* strdup that returns NULL for NULL. Caller frees. */
char *skiff_strdup(const char *s);
/* Copies src into dst[n], always terminated; returns false if truncated. */
bool skiff_strlcpy(char *dst, const char *src, size_t n);

#endif
