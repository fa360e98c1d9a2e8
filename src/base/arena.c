/* Arena allocator: a list of blocks, bump allocation inside the newest.
 *
 * Invariant: `head` is the block being filled; older blocks are full (or too
 * small for a request) and only freed. Requests larger than half a block get
 * a block of their own so a big body does not waste the rest of one.
 */
#include "skiff/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_SIZE (16 * 1024)
#define ALIGN alignof(max_align_t)

struct block {
    struct block *next;
    size_t size, used;
    alignas(max_align_t) unsigned char data[];
};

struct skiff_arena {
    struct block *head;
    size_t max, total;
};

static struct block *block_new(size_t size)
{
    struct block *b = malloc(sizeof *b + size);
    if (!b)
        return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

struct skiff_arena *skiff_arena_new(size_t max)
{
    struct skiff_arena *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->max = max;
    return a;
}

void skiff_arena_free(struct skiff_arena *a)
{
    if (!a)
        return;
    for (struct block *b = a->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    free(a);
}

void skiff_arena_reset(struct skiff_arena *a)
{
    struct block *b, *n, *last = NULL;
    if (!a)
        return;
    /* keep the oldest block (the first one allocated, usually BLOCK_SIZE) */
    for (b = a->head; b; b = n) {
        n = b->next;
        if (!n)
            last = b;
        else
            free(b);
    }
    a->head = last;
    if (last)
        last->used = 0;
    a->total = 0;
}

void *skiff_arena_alloc(struct skiff_arena *a, size_t n)
{
    struct block *b;
    size_t off;

    if (n == 0)
        n = 1;
    if (n > SIZE_MAX - ALIGN - BLOCK_SIZE)
        return NULL;
    if (a->max && (a->total + n > a->max || a->total + n < a->total))
        return NULL;
    b = a->head;
    if (b) {
        off = (b->used + ALIGN - 1) & ~(ALIGN - 1);
        if (off + n <= b->size) {
            b->used = off + n;
            a->total += n;
            return b->data + off;
        }
    }
    if (n > BLOCK_SIZE / 2) {
        /* a block of its own, linked behind the head so the head keeps filling */
        b = block_new(n);
        if (!b)
            return NULL;
        b->used = n;
        if (a->head) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            a->head = b;
        }
        a->total += n;
        return b->data;
    }
    b = block_new(BLOCK_SIZE);
    if (!b)
        return NULL;
    b->next = a->head;
    a->head = b;
    b->used = n;
    a->total += n;
    return b->data;
}

void *skiff_arena_calloc(struct skiff_arena *a, size_t count, size_t size)
{
    void *p;
    if (size && count > SIZE_MAX / size)
        return NULL;
    p = skiff_arena_alloc(a, count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

char *skiff_arena_strndup(struct skiff_arena *a, const char *s, size_t n)
{
    char *p = skiff_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *skiff_arena_strdup(struct skiff_arena *a, const char *s)
{
    return s ? skiff_arena_strndup(a, s, strlen(s)) : NULL;
}

char *skiff_arena_sprintf(struct skiff_arena *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !(p = skiff_arena_alloc(a, (size_t)n + 1)))
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

size_t skiff_arena_used(const struct skiff_arena *a)
{
    return a ? a->total : 0;
}
