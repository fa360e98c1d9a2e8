/* Columnar tables and the join-key index: see include/skiff/features.h and
 * features_int.h. */
#include "features_int.h"

#include "skiff/err.h"

#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {
#define TYPE_NAME(name) #name,
    SKIFF_FEAT_TYPES(TYPE_NAME)
#undef TYPE_NAME
};

const char *skiff_feat_type_name(enum skiff_feat_type t)
{
    return (size_t)t < sizeof type_names / sizeof *type_names ? type_names[t] : "UNKNOWN";
}

int skiff_feat_type_parse(const char *name)
{
    for (size_t i = 0; name && i < sizeof type_names / sizeof *type_names; i++)
        if (strcmp(type_names[i], name) == 0)
            return (int)i;
    return -1;
}

static bool is_int_type(enum skiff_feat_type t)
{
    return t == SKIFF_FEAT_INT64 || t == SKIFF_FEAT_INT32 || t == SKIFF_FEAT_BOOL ||
           t == SKIFF_FEAT_UNIX_TIMESTAMP;
}

int skiff_feat_table_new(const char *name, const char *const *names,
                         const enum skiff_feat_type *types, size_t ncols,
                         struct skiff_feat_table **out, struct skiff_err *err)
{
    struct skiff_feat_table *t = calloc(1, sizeof *t);

    *out = NULL;
    if (!t || !(t->cols = calloc(ncols ? ncols : 1, sizeof *t->cols)) ||
        !(t->name = strdup(name ? name : "")))
        goto nomem;
    for (size_t i = 0; i < ncols; i++) {
        if (!(t->cols[i].name = strdup(names[i])))
            goto nomem;
        t->cols[i].type = types[i];
        t->cols[i].has_text = types[i] == SKIFF_FEAT_STRING;
        t->ncols = i + 1;
    }
    t->ncols = ncols;
    *out = t;
    return 0;
nomem:
    skiff_feat_table_free(t);
    return skiff_err_set(err, SKIFF_ENOMEM, "out of memory creating table '%s'", name);
}

static void column_release(struct skiff_feat_column *c)
{
    free(c->name);
    free(c->i64);
    free(c->f64);
    free(c->off);
    free(c->pool);
    free(c->valid);
}

void features__column_drop(struct skiff_feat_column *c)
{
    free(c->i64);
    free(c->f64);
    free(c->off);
    free(c->pool);
    free(c->valid);
    c->i64 = NULL;
    c->f64 = NULL;
    c->off = NULL;
    c->pool = NULL;
    c->valid = NULL;
    c->has_text = false;
    c->pool_len = c->pool_cap = 0;
}

void skiff_feat_table_free(struct skiff_feat_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; t->cols && i < t->ncols; i++)
        column_release(&t->cols[i]);
    free(t->cols);
    free(t->line);
    free(t->name);
    free(t);
}

long skiff_feat_table_col(const struct skiff_feat_table *t, const char *name)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (strcmp(t->cols[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* Grows an array of `size`-byte elements to `cap`. The new room is not
 * cleared: skiff_feat_table_grow clears the rows it adds, so untouched
 * capacity costs address space, not memory (a 10M-row table reserved to
 * 16M rows stays at 10M rows of resident pages). */
static int grow_array(void *pp, size_t size, size_t old, size_t cap)
{
    void **p = pp;
    char *q;
    (void)old;
    if (!(q = realloc(*p, cap * size)))
        return -1;
    *p = q;
    return 0;
}

/* Zeroes rows [from, to) of every array of t: null cells, value 0. */
static void clear_rows(struct skiff_feat_table *t, size_t from, size_t to)
{
    size_t n = to - from;
    for (size_t i = 0; i < t->ncols; i++) {
        struct skiff_feat_column *c = &t->cols[i];
        memset(c->valid + from, 0, n);
        if (c->i64)
            memset(c->i64 + from, 0, n * sizeof *c->i64);
        if (c->f64)
            memset(c->f64 + from, 0, n * sizeof *c->f64);
        if (c->off)
            memset(c->off + from, 0, n * sizeof *c->off);
    }
    memset(t->line + from, 0, n * sizeof *t->line);
}

/* Room for `need` rows in every column (and the line array). Columns that
 * hold strings (STRING, or text kept) have off; numbers i64 or f64. */
static int reserve(struct skiff_feat_table *t, size_t need)
{
    size_t cap = t->cap ? t->cap : 1024;
    if (need <= t->cap)
        return 0;
    while (cap < need)
        cap *= 2;
    for (size_t i = 0; i < t->ncols; i++) {
        struct skiff_feat_column *c = &t->cols[i];
        if (grow_array(&c->valid, 1, t->cap, cap))
            return -1;
        if (is_int_type(c->type) && grow_array(&c->i64, sizeof *c->i64, t->cap, cap))
            return -1;
        if ((c->type == SKIFF_FEAT_DOUBLE || c->type == SKIFF_FEAT_FLOAT) &&
            grow_array(&c->f64, sizeof *c->f64, t->cap, cap))
            return -1;
        if (c->has_text &&
            grow_array(&c->off, sizeof *c->off, t->cap, cap))
            return -1;
    }
    if (grow_array(&t->line, sizeof *t->line, t->cap, cap))
        return -1;
    t->cap = cap;
    return 0;
}

int skiff_feat_table_grow(struct skiff_feat_table *t, size_t nrows, struct skiff_err *err)
{
    if (reserve(t, t->nrows + nrows))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory growing table '%s' to %zu rows",
                             t->name, t->nrows + nrows);
    clear_rows(t, t->nrows, t->nrows + nrows);
    t->nrows += nrows;
    return 0;
}

int features__pool_put(struct skiff_feat_column *c, size_t row, const char *s, size_t len,
                       struct skiff_err *err)
{
    if (c->pool_len + len + 1 > c->pool_cap) {
        size_t cap = c->pool_cap ? c->pool_cap : 4096;
        char *p;
        while (cap < c->pool_len + len + 1)
            cap *= 2;
        if (!(p = realloc(c->pool, cap)))
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory storing column '%s'", c->name);
        c->pool = p;
        c->pool_cap = cap;
    }
    memcpy(c->pool + c->pool_len, s, len);
    c->pool[c->pool_len + len] = '\0';
    c->off[row] = c->pool_len;
    c->pool_len += len + 1;
    return 0;
}

int skiff_feat_table_set_str(struct skiff_feat_table *t, size_t row, size_t col, const char *s,
                             size_t len, struct skiff_err *err)
{
    struct skiff_feat_column *c = &t->cols[col];
    int rc;
    if (!c->has_text)
        return skiff_err_set(err, SKIFF_EINTERNAL, "column '%s' holds no strings", c->name);
    if ((rc = features__pool_put(c, row, s, len, err)))
        return rc;
    c->valid[row] = 1;
    return 0;
}

const char *skiff_feat_table_str(const struct skiff_feat_table *t, size_t row, size_t col)
{
    const struct skiff_feat_column *c = &t->cols[col];
    return c->has_text && c->valid[row] ? c->pool + c->off[row] : NULL;
}

/* ---- join-key index: open addressing, linear probing ---- */

/* Eight bytes at a time (a multiply each, the tail zero-padded), then
 * MurmurHash3's finalizer, which spreads every input bit over the low bits
 * that pick the slot. Byte at a time (FNV-1a) took 12 dependent multiplies
 * for a 12-byte integer key, a third of the time of indexing 10M rows. The
 * length is mixed in first, so "a\0" and "a" differ. */
static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ ((uint64_t)n * UINT64_C(0xff51afd7ed558ccd));
    uint64_t w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
        h ^= h >> 29;
    }
    if (i < n) {
        w = 0;
        memcpy(&w, p + i, n - i);
        h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
        h ^= h >> 29;
    }
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

void features__keyidx_release(struct features__keyidx *k)
{
    free(k->slots);
    free(k->hash);
    free(k->koff);
    free(k->klen);
    free(k->keys);
    memset(k, 0, sizeof *k);
}

/* A slot is 4 words: the id + 1 and the key's length (0 = empty), its
 * hash, and the first 16 bytes of the key, zero-padded. A lookup of a key
 * of up to 16 bytes (one or two integer keys, a short string) then reads
 * one slot, one cache line at most, instead of the slot, the id's hash,
 * length, offset and bytes: five misses per row when the table outgrows
 * the cache (10M source rows over 100k keys: the index was half the time
 * of the sort). The id's own arrays are read only for longer keys. */
#define SLOT_WORDS 4
#define INLINE_KEY 16

static inline uint64_t slot_tag(size_t id, size_t len)
{
    return (uint64_t)(id + 1) | (uint64_t)len << 40;   /* ids < 2^32, lengths <= 4096 */
}

/* Whether the zero-padded 16 bytes w hold key[0..len), len <= 16: two
 * word compares, not a call to memcmp. */
static inline bool inline_eq(const uint64_t *w, const char *key, size_t len)
{
    uint64_t x[2] = {0, 0};
    memcpy(x, key, len);
    return w[0] == x[0] && w[1] == x[1];
}

static long find(const struct features__keyidx *k, uint64_t h, const char *key, size_t len,
                 size_t *slot)
{
    size_t mask = k->capacity - 1, i = (size_t)h & mask;
    const uint64_t *s;
    for (;; i = (i + 1) & mask) {
        s = (const uint64_t *)k->slots + i * SLOT_WORDS;
        if (s[0] == 0) {
            *slot = i;
            return -1;
        }
        if (s[1] != h || (size_t)(s[0] >> 40) != len)
            continue;
        size_t id = (size_t)(s[0] & ((UINT64_C(1) << 40) - 1)) - 1;
        if (len <= INLINE_KEY ? inline_eq(s + 2, key, len)
                              : memcmp(k->keys + k->koff[id], key, len) == 0)
            return (long)id;
    }
}

uint64_t features__keyidx_hash(const char *key, size_t len)
{
    return hash_bytes(key, len);
}

void features__keyidx_prefetch(const struct features__keyidx *k, uint64_t h)
{
    if (k->capacity)
        __builtin_prefetch((const uint64_t *)k->slots +
                           ((size_t)h & (k->capacity - 1)) * SLOT_WORDS);
}

long features__keyidx_get_h(const struct features__keyidx *k, const char *key, size_t len,
                            uint64_t h)
{
    size_t slot;
    if (!k->capacity)
        return -1;
    return find(k, h, key, len, &slot);
}

long features__keyidx_get(const struct features__keyidx *k, const char *key, size_t len)
{
    return features__keyidx_get_h(k, key, len, hash_bytes(key, len));
}

/* Doubles the slot table (kept at most half full) and moves every slot. */
static int rehash(struct features__keyidx *k)
{
    size_t cap = k->capacity ? k->capacity * 2 : 1024;
    uint64_t *slots = calloc(cap, SLOT_WORDS * sizeof *slots);
    const uint64_t *old = (const uint64_t *)k->slots;
    if (!slots)
        return -1;
    for (size_t j = 0; j < k->capacity; j++) {
        const uint64_t *o = old + j * SLOT_WORDS;
        size_t i;
        if (o[0] == 0)
            continue;
        for (i = (size_t)o[1] & (cap - 1); slots[i * SLOT_WORDS]; i = (i + 1) & (cap - 1))
            ;
        memcpy(slots + i * SLOT_WORDS, o, SLOT_WORDS * sizeof *slots);
    }
    free(k->slots);
    k->slots = (size_t *)slots;
    k->capacity = cap;
    return 0;
}

long features__keyidx_put(struct features__keyidx *k, const char *key, size_t len)
{
    return features__keyidx_put_h(k, key, len, hash_bytes(key, len));
}

long features__keyidx_put_h(struct features__keyidx *k, const char *key, size_t len, uint64_t h)
{
    uint64_t *s;
    size_t slot;
    long id;

    if ((k->n + 1) * 2 > k->capacity && rehash(k))
        return -1;
    if ((id = find(k, h, key, len, &slot)) >= 0)
        return id;
    if (k->n == k->ncap) {
        size_t cap = k->ncap ? k->ncap * 2 : 1024;
        if (grow_array(&k->hash, sizeof *k->hash, k->ncap, cap) ||
            grow_array(&k->koff, sizeof *k->koff, k->ncap, cap) ||
            grow_array(&k->klen, sizeof *k->klen, k->ncap, cap))
            return -1;
        k->ncap = cap;
    }
    if (k->keys_len + len > k->keys_cap) {
        size_t cap = k->keys_cap ? k->keys_cap : 4096;
        char *p;
        while (cap < k->keys_len + len)
            cap *= 2;
        if (!(p = realloc(k->keys, cap)))
            return -1;
        k->keys = p;
        k->keys_cap = cap;
    }
    memcpy(k->keys + k->keys_len, key, len);
    k->hash[k->n] = h;
    k->koff[k->n] = k->keys_len;
    k->klen[k->n] = len;
    k->keys_len += len;
    s = (uint64_t *)k->slots + slot * SLOT_WORDS;
    s[0] = slot_tag(k->n, len);
    s[1] = h;
    s[2] = s[3] = 0;
    memcpy(s + 2, key, len < INLINE_KEY ? len : INLINE_KEY);
    return (long)k->n++;
}

size_t features__key_bytes(const struct skiff_feat_table *t, size_t row, const size_t *cols,
                           size_t n, char *buf, size_t cap)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        const struct skiff_feat_column *c = &t->cols[cols[i]];
        const char *p;
        uint32_t l;
        char num[8];

        if (!c->valid[row])
            return 0;
        if (c->type == SKIFF_FEAT_STRING) {
            p = c->pool + c->off[row];
            l = (uint32_t)strlen(p);
        } else if (c->i64) {
            memcpy(num, &c->i64[row], 8);
            p = num;
            l = 8;
        } else {
            memcpy(num, &c->f64[row], 8);
            p = num;
            l = 8;
        }
        if (len + 4 + l > cap)
            return (size_t)-1;
        memcpy(buf + len, &l, 4);
        memcpy(buf + len + 4, p, l);
        len += 4 + l;
    }
    return len;
}
