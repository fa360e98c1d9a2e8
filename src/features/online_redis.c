/* The online store on Redis (hiredis), for several skiff processes sharing
 * one store (online_int.h describes the keys and records).
 *
 * One hash per entity key, "skiff:" ENTITY-KEY, one field per view holding
 * the view's record, as Feast keeps one hash per entity key; views sharing
 * an entity key share the hash. A read of a service pipelines one HGET per
 * view: one round trip whatever the number of views.
 *
 * Connections: a pool of blocking contexts; a call takes one (or connects),
 * and gives it back when done, so threads never share a context. A context
 * that failed is dropped, not pooled.
 *
 * Writes are read-modify-write under optimistic locking, by chunks of up
 * to 256 records: WATCH their keys, HGET, merge, MULTI HSET... EXEC (three
 * round trips per chunk), the chunk retried when another writer got there
 * first, so two skiff processes writing the same entity keep the
 * only-newer-wins rule. A record that repeats in one call starts a new
 * chunk, so its merge sees the first write.
 */
#include "online_int.h"

#include "skiff/err.h"

#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POOL 64
#define RETRIES 32

struct redis {
    char host[256];
    int port, db;
    pthread_mutex_t mu;
    redisContext *pool[POOL];
    int npool;
};

static int take(struct redis *r, redisContext **out, struct skiff_err *err)
{
    redisContext *c = NULL;
    struct timeval tv = {2, 0};

    pthread_mutex_lock(&r->mu);
    if (r->npool)
        c = r->pool[--r->npool];
    pthread_mutex_unlock(&r->mu);
    if (c) {
        *out = c;
        return 0;
    }
    c = redisConnectWithTimeout(r->host, r->port, tv);
    if (!c || c->err) {
        int rc = skiff_err_set(err, SKIFF_EUNAVAIL, "online store: cannot connect to redis at "
                               "%s:%d: %s", r->host, r->port, c ? c->errstr : "out of memory");
        redisFree(c);
        return rc;
    }
    tv.tv_sec = 5;
    redisSetTimeout(c, tv);
    if (r->db) {
        redisReply *rep = redisCommand(c, "SELECT %d", r->db);
        bool ok = rep && rep->type == REDIS_REPLY_STATUS;
        freeReplyObject(rep);
        if (!ok) {
            redisFree(c);
            return skiff_err_set(err, SKIFF_EUNAVAIL, "online store: redis refused SELECT %d",
                                 r->db);
        }
    }
    *out = c;
    return 0;
}

static void give(struct redis *r, redisContext *c, bool ok)
{
    if (ok && !c->err) {
        pthread_mutex_lock(&r->mu);
        if (r->npool < POOL) {
            r->pool[r->npool++] = c;
            c = NULL;
        }
        pthread_mutex_unlock(&r->mu);
    }
    redisFree(c);
}

static int io_fail(redisContext *c, struct skiff_err *err)
{
    return skiff_err_set(err, SKIFF_EUNAVAIL, "online store (redis): %s",
                         c->err ? c->errstr : "unexpected reply");
}

/* "skiff:" ENTITY-KEY into buf. */
static size_t make_key(const struct online__ref *ref, char *buf)
{
    memcpy(buf, "skiff:", 6);
    memcpy(buf + 6, ref->key, ref->klen);
    return 6 + ref->klen;
}

struct hold {
    size_t n;
    redisReply *rep[];
};

static int redis_get(struct skiff_online *o, size_t n, const struct online__ref *refs,
                     const void **vals, size_t *lens, void **hold, struct skiff_err *err)
{
    struct redis *r = o->impl;
    redisContext *c;
    struct hold *h;
    int rc;

    *hold = NULL;
    if (!(h = calloc(1, sizeof *h + n * sizeof(redisReply *))))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if ((rc = take(r, &c, err))) {
        free(h);
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        char kb[ONLINE_MAX_KEY + 8];
        const char *argv[3] = {"HGET", kb, refs[i].view};
        size_t argl[3] = {4, make_key(&refs[i], kb), strlen(refs[i].view)};
        if (redisAppendCommandArgv(c, 3, argv, argl) != REDIS_OK)
            goto fail;
    }
    /* every reply is read before any is looked at: the connection goes back
     * to the pool with nothing pending */
    for (size_t i = 0; i < n; i++) {
        void *rep;
        if (redisGetReply(c, &rep) != REDIS_OK)
            goto fail;
        h->rep[h->n++] = rep;
    }
    give(r, c, true);
    for (size_t i = 0; i < n; i++) {
        vals[i] = NULL;
        lens[i] = 0;
        if (h->rep[i]->type == REDIS_REPLY_STRING) {
            vals[i] = h->rep[i]->str;
            lens[i] = h->rep[i]->len;
        } else if (h->rep[i]->type != REDIS_REPLY_NIL) {
            rc = skiff_err_set(err, SKIFF_EUNAVAIL, "online store (redis): HGET: %s",
                               h->rep[i]->type == REDIS_REPLY_ERROR ? h->rep[i]->str
                                                                    : "unexpected reply");
            o->ops->release(o, h);
            return rc;
        }
    }
    *hold = h;
    return 0;
fail:
    rc = io_fail(c, err);
    give(r, c, false);
    o->ops->release(o, h);
    return rc;
}

static void redis_release(struct skiff_online *o, void *hold)
{
    struct hold *h = hold;
    if (!h)
        return;
    for (size_t i = 0; i < h->n; i++)
        freeReplyObject(h->rep[i]);
    free(h);
}

#define CHUNK 256   /* records per optimistic transaction */

/* Records [from, to): WATCH their keys, HGET them (one pipeline), merge,
 * then MULTI, HSET the changed ones, EXEC (one pipeline): three round
 * trips for the whole chunk. Returns 1 when EXEC was aborted because
 * another writer changed a watched key (the caller retries the chunk: the
 * merges are recomputed from what is there then), 0 when done. */
static int update_chunk(redisContext *c, const struct online__ref *refs, size_t from, size_t to,
                        online__merge_cb merge, void *ctx, struct skiff_err *err)
{
    size_t n = to - from, nout = 0;
    char (*kb)[ONLINE_MAX_KEY + 8] = malloc(n * sizeof *kb);
    size_t *kl = malloc(n * sizeof *kl), *outlen = calloc(n, sizeof *outlen);
    const char **argv = malloc((n + 1) * sizeof *argv);
    size_t *argl = malloc((n + 1) * sizeof *argl);
    void **out = calloc(n, sizeof *out);
    redisReply *rep = NULL;
    int rc = 0;

    if (!kb || !kl || !outlen || !argv || !argl || !out) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto done;
    }
    argv[0] = "WATCH";
    argl[0] = 5;
    for (size_t i = 0; i < n; i++) {
        kl[i] = make_key(&refs[from + i], kb[i]);
        argv[i + 1] = kb[i];
        argl[i + 1] = kl[i];
    }
    if (redisAppendCommandArgv(c, (int)n + 1, argv, argl) != REDIS_OK)
        goto io;
    for (size_t i = 0; i < n; i++) {
        const char *gv[3] = {"HGET", kb[i], refs[from + i].view};
        size_t gl[3] = {4, kl[i], strlen(refs[from + i].view)};
        if (redisAppendCommandArgv(c, 3, gv, gl) != REDIS_OK)
            goto io;
    }
    if (redisGetReply(c, (void **)&rep) != REDIS_OK)
        goto io;
    freeReplyObject(rep);
    /* every HGET reply is read, even after a failed merge, so nothing is
     * left pending on the connection */
    for (size_t i = 0; i < n; i++) {
        if (redisGetReply(c, (void **)&rep) != REDIS_OK)
            goto io;
        if (rc == 0 && rep->type != REDIS_REPLY_STRING && rep->type != REDIS_REPLY_NIL)
            rc = skiff_err_set(err, SKIFF_EUNAVAIL, "online store (redis): HGET: %s",
                               rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
        if (rc == 0)
            rc = merge(ctx, from + i, rep->type == REDIS_REPLY_STRING ? rep->str : NULL,
                       rep->type == REDIS_REPLY_STRING ? rep->len : 0, &out[i], &outlen[i], err);
        nout += out[i] != NULL;
        freeReplyObject(rep);
        rep = NULL;
    }
    if (rc || nout == 0) {
        rep = redisCommand(c, "UNWATCH");
        freeReplyObject(rep);
        goto done;
    }
    {
        const char *mv[1] = {"MULTI"}, *ev[1] = {"EXEC"};
        size_t ml[1] = {5}, el[1] = {4};
        if (redisAppendCommandArgv(c, 1, mv, ml) != REDIS_OK)
            goto io;
        for (size_t i = 0; i < n; i++) {
            const char *hv[4] = {"HSET", kb[i], refs[from + i].view, out[i]};
            size_t hl[4] = {4, kl[i], strlen(refs[from + i].view), outlen[i]};
            if (out[i] && redisAppendCommandArgv(c, 4, hv, hl) != REDIS_OK)
                goto io;
        }
        if (redisAppendCommandArgv(c, 1, ev, el) != REDIS_OK)
            goto io;
    }
    for (size_t k = 0; k < nout + 2; k++) {
        if (redisGetReply(c, (void **)&rep) != REDIS_OK)
            goto io;
        if (rep->type == REDIS_REPLY_ERROR && rc == 0)
            rc = skiff_err_set(err, SKIFF_EUNAVAIL, "online store (redis): %s", rep->str);
        else if (k == nout + 1 && rep->type == REDIS_REPLY_NIL && rc == 0)
            rc = 1;   /* a watched key changed since WATCH */
        else if (k == nout + 1 && rep->type == REDIS_REPLY_ARRAY && rc == 0)
            for (size_t e = 0; e < rep->elements && rc == 0; e++)
                if (rep->element[e]->type == REDIS_REPLY_ERROR)
                    rc = skiff_err_set(err, SKIFF_EUNAVAIL, "online store (redis): HSET: %s",
                                       rep->element[e]->str);
        freeReplyObject(rep);
        rep = NULL;
    }
    goto done;
io:
    rc = io_fail(c, err);
done:
    for (size_t i = 0; out && i < n; i++)
        free(out[i]);
    free(out);
    free(kb);
    free(kl);
    free(outlen);
    free(argv);
    free(argl);
    return rc;
}

/* Whether refs[i] repeats one of refs[from..i): a chunk ends before it, so
 * its merge sees the earlier record's write. */
static bool repeats(const struct online__ref *refs, size_t from, size_t i)
{
    for (size_t j = from; j < i; j++)
        if (refs[j].klen == refs[i].klen && strcmp(refs[j].view, refs[i].view) == 0 &&
            memcmp(refs[j].key, refs[i].key, refs[i].klen) == 0)
            return true;
    return false;
}

static int redis_update(struct skiff_online *o, size_t n, const struct online__ref *refs,
                        online__merge_cb merge, void *ctx, struct skiff_err *err)
{
    struct redis *r = o->impl;
    redisContext *c;
    int rc;

    if ((rc = take(r, &c, err)))
        return rc;
    for (size_t from = 0; from < n && rc == 0;) {
        size_t to = from + 1;
        int tries = 0;
        while (to < n && to - from < CHUNK && !repeats(refs, from, to))
            to++;
        while ((rc = update_chunk(c, refs, from, to, merge, ctx, err)) == 1 &&
               ++tries < RETRIES) {
            /* another writer won: back off a random, growing while, so two
             * writers of one hot key do not keep colliding */
            unsigned seed = (unsigned)(uintptr_t)&tries ^ (unsigned)tries * 2654435761u;
            usleep((useconds_t)(50 + rand_r(&seed) % (100u << (tries < 8 ? tries : 8))));
        }
        if (rc == 1)
            rc = skiff_err_set(err, SKIFF_EBUSY, "online store (redis): records kept changing "
                               "under %d tries", RETRIES);
        from = to;
    }
    give(r, c, rc == 0);
    return rc;
}

static void redis_close(struct skiff_online *o)
{
    struct redis *r = o->impl;
    if (!r)
        return;
    for (int i = 0; i < r->npool; i++)
        redisFree(r->pool[i]);
    pthread_mutex_destroy(&r->mu);
    free(r);
    o->impl = NULL;
}

static const struct online__ops redis_ops = {"redis", redis_get, redis_release, redis_update,
                                             redis_close};

int online__redis_open(struct skiff_online *o, const char *url, struct skiff_err *err)
{
    struct redis *r = calloc(1, sizeof *r);
    const char *p = url + 8, *colon, *slash;
    redisContext *c;
    int rc;

    if (!r)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    slash = strchr(p, '/');
    colon = strchr(p, ':');
    if (colon && slash && colon > slash)
        colon = NULL;
    snprintf(r->host, sizeof r->host, "%.*s",
             (int)((colon ? colon : slash ? slash : p + strlen(p)) - p), p);
    r->port = colon ? atoi(colon + 1) : 6379;
    r->db = slash ? atoi(slash + 1) : 0;
    if (!r->host[0] || r->port <= 0 || r->port > 65535 || r->db < 0) {
        free(r);
        return skiff_err_set(err, SKIFF_EINVAL, "online store '%s': want "
                             "redis://HOST:PORT[/DB]", url);
    }
    pthread_mutex_init(&r->mu, NULL);
    o->impl = r;
    o->ops = &redis_ops;
    /* connect once now, so a wrong address fails at start, not at the first request */
    if ((rc = take(r, &c, err))) {
        redis_close(o);
        o->ops = NULL;
        return rc;
    }
    give(r, c, true);
    return 0;
}
