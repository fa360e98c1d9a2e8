/* Admission: callbacks of other subsystems that may refuse a write
 * (include/skiff/resource.h, skiff_resource_set_admission).
 *
 * One table of (kind, callback) and one lock. A write of an admitted kind
 * takes the lock in resource__admit_begin, which reads the stored object
 * and asks the callback, and keeps it through the write until
 * resource__admit_end: the object the callback judged is the one the write
 * replaces, and the next write of any admitted kind sees this one's result.
 * Writes of other kinds only glance at the table under the lock.
 */
#include "resource_int.h"

#include <pthread.h>
#include <string.h>

#include "skiff/err.h"
#include "skiff/store.h"

#define MAX_ADMITTED 32

struct admission {
    const struct skiff_kind *kind;
    const char *name;
    skiff_resource_admit_cb cb;
    void *ctx;
};

static pthread_mutex_t admission_lock = PTHREAD_MUTEX_INITIALIZER;
static struct admission admitted[MAX_ADMITTED];
static size_t nadmitted;

static struct admission *find(const struct skiff_kind *k)
{
    for (size_t i = 0; i < nadmitted; i++)
        if (admitted[i].kind == k)
            return &admitted[i];
    return NULL;
}

int skiff_resource_set_admission(const char *name, const char *const *kinds,
                                 skiff_resource_admit_cb cb, void *ctx, struct skiff_err *err)
{
    int rc = 0;

    /* every name is checked before the table changes: all or nothing */
    for (size_t i = 0; kinds && kinds[i]; i++)
        if (!skiff_kind_lookup(kinds[i]))
            return skiff_err_set(err, SKIFF_EINVAL, "admission '%s': no kind '%s'",
                                 name ? name : "", kinds[i]);
    pthread_mutex_lock(&admission_lock);
    for (size_t i = 0; kinds && kinds[i] && rc == 0; i++) {
        const struct skiff_kind *k = skiff_kind_lookup(kinds[i]);
        struct admission *a = find(k);
        if (!cb) {
            if (a)
                *a = admitted[--nadmitted];
            continue;
        }
        if (!a && nadmitted == MAX_ADMITTED) {
            rc = skiff_err_set(err, SKIFF_ETOOBIG, "admission '%s': more than %d admitted kinds",
                               name ? name : "", MAX_ADMITTED);
            break;
        }
        if (!a)
            a = &admitted[nadmitted++];
        *a = (struct admission){k, name ? name : "admission", cb, ctx};
    }
    pthread_mutex_unlock(&admission_lock);
    return rc;
}

/* A 4xx code is the callback's judgement (a denial); the rest mean the
 * check could not run. */
static bool is_denial(int code)
{
    int status = skiff_err_http_status(code);
    return status >= 400 && status < 500;
}

int resource__admit_begin(struct skiff_store *s, const struct skiff_kind *k, const char *name,
                          const json_t *new_obj, enum resource__admit_op op, bool *held,
                          struct skiff_err *err)
{
    struct admission *a;
    json_t *old = NULL;
    int rc;

    *held = false;
    pthread_mutex_lock(&admission_lock);
    if (!(a = find(k))) {
        pthread_mutex_unlock(&admission_lock);
        return 0;
    }
    *held = true;
    if (name) {
        rc = skiff_resource_get(s, k, name, &old, err);
        if (rc == SKIFF_ENOTFOUND) {
            skiff_err_clear(err);
            /* a delete of nothing: the delete itself says "not found" */
            if (op == RESOURCE__ADMIT_DELETE)
                return 0;
        } else if (rc) {
            return rc;
        }
    }
    /* nothing to judge: a create of a taken name fails with "already
     * exists" in the write, and an apply that changes nothing writes nothing */
    if (old && op == RESOURCE__ADMIT_CREATE) {
        json_decref(old);
        return 0;
    }
    if (old && new_obj && op == RESOURCE__ADMIT_APPLY) {
        json_t *x = resource__user_view(old), *y = resource__user_view(new_obj);
        bool same = x && y && json_equal(x, y);
        json_decref(x);
        json_decref(y);
        if (same) {
            json_decref(old);
            return 0;
        }
    }
    rc = a->cb(s, k, old, op == RESOURCE__ADMIT_DELETE ? NULL : new_obj, a->ctx, err);
    json_decref(old);
    if (rc) {
        bool denial = is_denial(rc);
        if (err) {
            err->code = denial ? SKIFF_EFORBIDDEN : rc;
            skiff_err_prefix(err, "admission \"%s\" %s", a->name,
                             denial ? "denied the request" : "failed");
        }
        return denial ? SKIFF_EFORBIDDEN : rc;
    }
    return 0;
}

void resource__admit_end(bool held)
{
    if (held)
        pthread_mutex_unlock(&admission_lock);
}
