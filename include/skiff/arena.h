/* Arena allocator for request-scoped memory.
 *
 * Everything allocated from an arena is freed at once by skiff_arena_free
 * (or reused after skiff_arena_reset). Use it for an HTTP request, a parsed
 * body, temporaries of one operation; never keep an arena pointer in a
 * long-lived struct. An arena has a cap on its total size: an allocation past
 * it returns NULL, so input cannot make it grow without bound.
 *
 * Not thread-safe: one arena belongs to one thread at a time.
 */
#ifndef SKIFF_ARENA_H
#define SKIFF_ARENA_H

#include <stdarg.h>
#include <stddef.h>

struct skiff_arena;

/* New arena whose total allocations may reach `max` bytes (0 = unlimited).
 * Caller frees with skiff_arena_free. NULL when out of memory. */
struct skiff_arena *skiff_arena_new(size_t max);
/* Frees the arena and everything allocated from it. Accepts NULL. */
void skiff_arena_free(struct skiff_arena *a);
/* Drops every allocation but keeps the first block for reuse. */
void skiff_arena_reset(struct skiff_arena *a);

/* Memory owned by the arena, aligned for any type. NULL when out of memory
 * or past the cap. */
void *skiff_arena_alloc(struct skiff_arena *a, size_t n);
void *skiff_arena_calloc(struct skiff_arena *a, size_t count, size_t size);
char *skiff_arena_strdup(struct skiff_arena *a, const char *s);
char *skiff_arena_strndup(struct skiff_arena *a, const char *s, size_t n);
char *skiff_arena_sprintf(struct skiff_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Bytes handed out so far. */
size_t skiff_arena_used(const struct skiff_arena *a);

#endif
