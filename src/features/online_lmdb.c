/* The embedded online store: LMDB under SKIFF_HOME/online (online_int.h
 * describes the keys and records).
 *
 * Reads: a read transaction per call, taken from a small pool of reset
 * transactions (MDB_NOTLS ties a reader slot to the transaction, not the
 * thread), so a lookup costs a renew, a B-tree search and a reset, and the
 * record's bytes are read in place (zero copy) until release.
 * Writes: one write transaction per batch; LMDB serialises writers across
 * threads and processes (skiff up and a `skiff features materialize` may
 * share a home). MDB_NOMETASYNC: each commit flushes its data pages but
 * not the meta page, so a killed process loses nothing and a power cut can
 * at most undo the last commit, never corrupt the file (MDB_NOSYNC could:
 * and events pushed online only exist nowhere else). The environment is
 * synced on close.
 */
#include "online_int.h"

#include "skiff/err.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAP_SIZE ((size_t)16 << 30)   /* address space only: the file grows as used */
#define POOL 64

struct lmdb {
    MDB_env *env;
    MDB_dbi dbi;
    pthread_mutex_t mu;
    MDB_txn *pool[POOL];   /* reset read transactions */
    int npool;
};

static int lmdb_fail(struct skiff_err *err, int rc, const char *what)
{
    return skiff_err_set(err, rc == MDB_MAP_FULL ? SKIFF_ETOOBIG : SKIFF_EIO,
                         "online store (lmdb): %s: %s", what, mdb_strerror(rc));
}

/* VIEW '\0' ENTITY-KEY into buf. */
static size_t make_key(const struct online__ref *r, char *buf, size_t cap)
{
    size_t vl = strlen(r->view);
    if (vl + 1 + r->klen > cap)
        return 0;
    memcpy(buf, r->view, vl + 1);
    memcpy(buf + vl + 1, r->key, r->klen);
    return vl + 1 + r->klen;
}

static int lmdb_get(struct skiff_online *o, size_t n, const struct online__ref *refs,
                    const void **vals, size_t *lens, void **hold, struct skiff_err *err)
{
    struct lmdb *l = o->impl;
    MDB_txn *txn = NULL;
    int rc;

    *hold = NULL;
    pthread_mutex_lock(&l->mu);
    if (l->npool)
        txn = l->pool[--l->npool];
    pthread_mutex_unlock(&l->mu);
    rc = txn ? mdb_txn_renew(txn) : mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
    if (rc) {
        if (txn)
            mdb_txn_abort(txn);
        return lmdb_fail(err, rc, "cannot begin a read");
    }
    for (size_t i = 0; i < n; i++) {
        char kb[512];
        MDB_val k = {0, kb}, v;
        vals[i] = NULL;
        lens[i] = 0;
        if (!(k.mv_size = make_key(&refs[i], kb, sizeof kb)))
            continue;
        rc = mdb_get(txn, l->dbi, &k, &v);
        if (rc == 0) {
            vals[i] = v.mv_data;
            lens[i] = v.mv_size;
        } else if (rc != MDB_NOTFOUND) {
            mdb_txn_abort(txn);
            return lmdb_fail(err, rc, "cannot read");
        }
    }
    *hold = txn;
    return 0;
}

static void lmdb_release(struct skiff_online *o, void *hold)
{
    struct lmdb *l = o->impl;
    MDB_txn *txn = hold;
    if (!txn)
        return;
    mdb_txn_reset(txn);
    pthread_mutex_lock(&l->mu);
    if (l->npool < POOL) {
        l->pool[l->npool++] = txn;
        txn = NULL;
    }
    pthread_mutex_unlock(&l->mu);
    if (txn)
        mdb_txn_abort(txn);
}

static int lmdb_update(struct skiff_online *o, size_t n, const struct online__ref *refs,
                       online__merge_cb merge, void *ctx, struct skiff_err *err)
{
    struct lmdb *l = o->impl;
    MDB_txn *txn;
    int rc = mdb_txn_begin(l->env, NULL, 0, &txn);

    if (rc)
        return lmdb_fail(err, rc, "cannot begin a write");
    for (size_t i = 0; i < n; i++) {
        char kb[512];
        MDB_val k = {0, kb}, v;
        void *out = NULL;
        size_t outlen = 0;
        if (!(k.mv_size = make_key(&refs[i], kb, sizeof kb)))
            continue;   /* no record can have this key: nothing to write */
        rc = mdb_get(txn, l->dbi, &k, &v);
        if (rc && rc != MDB_NOTFOUND) {
            mdb_txn_abort(txn);
            return lmdb_fail(err, rc, "cannot read");
        }
        if ((rc = merge(ctx, i, rc ? NULL : v.mv_data, rc ? 0 : v.mv_size, &out, &outlen,
                        err))) {
            mdb_txn_abort(txn);
            return rc;
        }
        if (!out)
            continue;
        v.mv_data = out;
        v.mv_size = outlen;
        rc = mdb_put(txn, l->dbi, &k, &v, 0);
        free(out);
        if (rc) {
            mdb_txn_abort(txn);
            return lmdb_fail(err, rc, "cannot write");
        }
    }
    if ((rc = mdb_txn_commit(txn)))
        return lmdb_fail(err, rc, "cannot commit");
    return 0;
}

static void lmdb_close(struct skiff_online *o)
{
    struct lmdb *l = o->impl;
    if (!l)
        return;
    for (int i = 0; i < l->npool; i++)
        mdb_txn_abort(l->pool[i]);
    if (l->env) {
        mdb_env_sync(l->env, 1);
        mdb_env_close(l->env);
    }
    pthread_mutex_destroy(&l->mu);
    free(l);
    o->impl = NULL;
}

static const struct online__ops lmdb_ops = {"lmdb", lmdb_get, lmdb_release, lmdb_update,
                                            lmdb_close};

int online__lmdb_open(struct skiff_online *o, const char *dir, struct skiff_err *err)
{
    struct lmdb *l = calloc(1, sizeof *l);
    MDB_txn *txn = NULL;
    int rc, dead;

    if (!l)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    pthread_mutex_init(&l->mu, NULL);
    o->impl = l;
    o->ops = &lmdb_ops;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot create the online store '%s'", dir);
        goto fail;
    }
    if ((rc = mdb_env_create(&l->env)) || (rc = mdb_env_set_mapsize(l->env, MAP_SIZE)) ||
        (rc = mdb_env_set_maxreaders(l->env, 512)) ||
        (rc = mdb_env_open(l->env, dir, MDB_NOTLS | MDB_NOMETASYNC, 0600))) {
        rc = skiff_err_set(err, SKIFF_EIO, "cannot open the online store '%s' (lmdb): %s", dir,
                           mdb_strerror(rc));
        goto fail;
    }
    mdb_reader_check(l->env, &dead);   /* slots of readers that were killed */
    if ((rc = mdb_txn_begin(l->env, NULL, 0, &txn)) ||
        (rc = mdb_dbi_open(txn, NULL, 0, &l->dbi)) || (rc = mdb_txn_commit(txn))) {
        if (txn && rc)
            mdb_txn_abort(txn);
        rc = lmdb_fail(err, rc, "cannot open the database");
        goto fail;
    }
    return 0;
fail:
    lmdb_close(o);
    o->ops = NULL;
    return rc;
}
