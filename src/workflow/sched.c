/* The resource ledger: which pool holds how much CPU, memory and which GPUs,
 * and who holds them. One ledger per process, shared by every workflow run
 * in it (several `skiff run` files, the controller), so that a GPU is never
 * handed to two steps at once.
 *
 * Invariants (under `mu`)
 *   - A GPU id belongs to at most one pool, and holder[g] is "" or the one
 *     step ("<workflow>/<step>") that holds it.
 *   - For each pool, 0 <= used_cpu <= cpu and 0 <= used_mem <= memory: a
 *     grant is only made when the whole request fits, and each grant is
 *     released exactly once (workflow__sched_release clears it).
 *   - The inventory is read once (first use) from SKIFF_GPUS / /dev and
 *     SKIFF_POOLS; workflow__sched_reset re-reads it, only while nothing
 *     is held.
 *
 * A grant's life:
 *
 *   (none) --workflow__sched_acquire (fits)--> held --workflow__sched_release--> (none)
 *          --workflow__sched_acquire (does not fit now)--> (none), reason given
 *
 * Requests are Kubernetes': requests.cpu / requests.memory (limits when no
 * requests), nvidia.com/gpu whole devices. A step with no requests always
 * fits (BestEffort), so trivial steps never wait on the ledger.
 */
#include "workflow_int.h"

#include "skiff/err.h"

#include <ctype.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POOL_MAX 16
#define HOLDER_MAX 256

struct pool {
    char name[64];
    double cpu, used_cpu;           /* cores */
    int64_t memory, used_mem;       /* bytes */
    int gpus[WORKFLOW__GPU_MAX];
    int ngpus;
    json_t *labels, *taints;        /* owned; NULL when none */
    bool any_selector;              /* the default pool: every nodeSelector matches */
};

static struct {
    pthread_mutex_t mu;
    bool loaded;
    int load_rc;
    char load_msg[SKIFF_ERR_MSG_MAX];
    struct pool pools[POOL_MAX];
    int npools;
    /* holder of each GPU id (index = id), "" when free */
    char holder[WORKFLOW__GPU_ID_MAX][HOLDER_MAX];
    char *configured;               /* pools of the platform config; NULL = SKIFF_POOLS */
} L = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* "0,1,3" into ids; -1 on a bad list. An empty list is no GPU. */
static int parse_gpu_list(const char *s, int *ids, int max)
{
    int n = 0;
    while (*s) {
        char *end;
        long v;
        while (*s == ' ' || *s == ',')
            s++;
        if (!*s)
            break;
        if (!isdigit((unsigned char)*s))
            return -1;
        v = strtol(s, &end, 10);
        if (v < 0 || v >= WORKFLOW__GPU_ID_MAX || n == max)
            return -1;
        for (int k = 0; k < n; k++)
            if (ids[k] == v)
                return -1;
        ids[n++] = (int)v;
        s = end;
        if (*s && *s != ',' && *s != ' ')
            return -1;
    }
    return n;
}

/* The machine's GPUs: SKIFF_GPUS when set, else the /dev/nvidiaN device
 * nodes the driver makes (one per GPU; nvidiactl, nvidia-uvm are not GPUs). */
static int detect_gpus(int *ids, int max)
{
    const char *env = getenv("SKIFF_GPUS");
    DIR *d;
    struct dirent *de;
    int n = 0;

    if (env)
        return parse_gpu_list(env, ids, max);
    if (!(d = opendir("/dev")))
        return 0;
    while ((de = readdir(d)) && n < max) {
        const char *p = de->d_name + 6;
        char *end;
        long v;
        if (strncmp(de->d_name, "nvidia", 6) != 0 || !isdigit((unsigned char)*p))
            continue;
        v = strtol(p, &end, 10);
        if (*end || v >= WORKFLOW__GPU_ID_MAX)
            continue;
        ids[n++] = (int)v;
    }
    closedir(d);
    /* readdir order is arbitrary: hand out low ids first */
    for (int i = 1; i < n; i++)
        for (int k = i; k > 0 && ids[k - 1] > ids[k]; k--) {
            int t = ids[k];
            ids[k] = ids[k - 1];
            ids[k - 1] = t;
        }
    return n;
}

static int quantity_field(const json_t *o, const char *key, double dflt, double *out,
                          struct skiff_err *err)
{
    const json_t *q = json_object_get(o, key);
    char *text;
    int rc;

    if (!q) {
        *out = dflt;
        return 0;
    }
    if (!(text = workflow__scalar(q)))
        return skiff_err_set(err, SKIFF_EINVAL, "%s must be a quantity", key);
    rc = skiff_workflow_quantity(text, out, err);
    free(text);
    return rc;
}

/* SKIFF_POOLS: a JSON array of
 *   {"name": "gpu", "cpu": "4", "memory": "16Gi", "gpus": "0,1",
 *    "labels": {"pool": "gpu"}, "taints": [{"key": "gpu", "value": "true",
 *    "effect": "NoSchedule"}]}
 * cpu and memory default to the whole machine; a GPU id named by no pool is
 * not handed out. */
static int load_pools(const char *text, const int *gpus, int ngpus, double cpu, int64_t mem,
                      struct skiff_err *err)
{
    json_error_t je;
    json_t *arr = json_loads(text, 0, &je), *p;
    size_t i;
    int rc = 0;

    if (!json_is_array(arr) || json_array_size(arr) == 0 ||
        json_array_size(arr) > POOL_MAX) {
        rc = skiff_err_set(err, SKIFF_EINVAL,
                           "SKIFF_POOLS must be a JSON array of 1 to %d pools%s%s", POOL_MAX,
                           arr ? "" : ": ", arr ? "" : je.text);
        goto out;
    }
    json_array_foreach(arr, i, p) {
        struct pool *pl = &L.pools[L.npools];
        const char *name = json_string_value(json_object_get(p, "name"));
        const char *g = json_string_value(json_object_get(p, "gpus"));
        double m;
        if (!name || strlen(name) >= sizeof pl->name) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "SKIFF_POOLS[%zu] needs a name", i);
            goto out;
        }
        snprintf(pl->name, sizeof pl->name, "%s", name);
        if ((rc = quantity_field(p, "cpu", cpu, &pl->cpu, err)) ||
            (rc = quantity_field(p, "memory", (double)mem, &m, err))) {
            skiff_err_prefix(err, "SKIFF_POOLS pool '%s'", name);
            goto out;
        }
        pl->memory = (int64_t)m;
        if (g && (pl->ngpus = parse_gpu_list(g, pl->gpus, WORKFLOW__GPU_MAX)) < 0) {
            pl->ngpus = 0;
            rc = skiff_err_set(err, SKIFF_EINVAL, "SKIFF_POOLS pool '%s': bad gpus '%s'",
                               name, g);
            goto out;
        }
        for (int k = 0; k < pl->ngpus; k++) {
            bool known = false;
            for (int j = 0; j < ngpus; j++)
                known |= gpus[j] == pl->gpus[k];
            for (int q = 0; q < L.npools; q++)
                for (int j = 0; j < L.pools[q].ngpus; j++)
                    if (L.pools[q].gpus[j] == pl->gpus[k]) {
                        rc = skiff_err_set(err, SKIFF_EINVAL,
                                           "SKIFF_POOLS: GPU %d is in pools '%s' and '%s'",
                                           pl->gpus[k], L.pools[q].name, name);
                        goto out;
                    }
            if (!known) {
                rc = skiff_err_set(err, SKIFF_EINVAL,
                                   "SKIFF_POOLS pool '%s': GPU %d is not on this machine",
                                   name, pl->gpus[k]);
                goto out;
            }
        }
        if (json_is_object(json_object_get(p, "labels")))
            pl->labels = json_incref(json_object_get(p, "labels"));
        if (json_is_array(json_object_get(p, "taints")))
            pl->taints = json_incref(json_object_get(p, "taints"));
        L.npools++;
    }
out:
    json_decref(arr);
    return rc;
}

static void clear_locked(void)
{
    for (int i = 0; i < L.npools; i++) {
        json_decref(L.pools[i].labels);
        json_decref(L.pools[i].taints);
    }
    memset(L.pools, 0, sizeof L.pools);
    memset(L.holder, 0, sizeof L.holder);
    L.npools = 0;
    L.loaded = false;
}

static void load_locked(void)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    int gpus[WORKFLOW__GPU_MAX];
    int ngpus = detect_gpus(gpus, WORKFLOW__GPU_MAX);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    double cpu = ncpu > 0 ? (double)ncpu : 1;
    int64_t mem = pages > 0 && psz > 0 ? (int64_t)pages * psz : INT64_MAX / 2;
    /* the config key `pools` already holds SKIFF_POOLS when that is set
     * (environment over file, include/skiff/config.h) */
    const char *pools = L.configured ? L.configured : getenv("SKIFF_POOLS");

    L.loaded = true;
    L.load_rc = 0;
    L.load_msg[0] = '\0';
    if (ngpus < 0) {
        L.load_rc = skiff_err_set(&err, SKIFF_EINVAL,
                                  "SKIFF_GPUS must list GPU ids such as \"0,1\", not '%s'",
                                  getenv("SKIFF_GPUS"));
        ngpus = 0;
    } else if (pools && *pools) {
        L.load_rc = load_pools(pools, gpus, ngpus, cpu, mem, &err);
    } else {
        struct pool *pl = &L.pools[0];
        snprintf(pl->name, sizeof pl->name, "default");
        pl->cpu = cpu;
        pl->memory = mem;
        memcpy(pl->gpus, gpus, (size_t)ngpus * sizeof *gpus);
        pl->ngpus = ngpus;
        /* a file written for a cluster's node groups still runs on one machine */
        pl->any_selector = true;
        L.npools = 1;
    }
    if (L.load_rc) {
        skiff_err_format(&err, L.load_msg, sizeof L.load_msg);
        for (int i = 0; i < L.npools; i++) {
            json_decref(L.pools[i].labels);
            json_decref(L.pools[i].taints);
        }
        memset(L.pools, 0, sizeof L.pools);
        L.npools = 0;
    }
}

/* Loads on first use; returns the load error, if any (mu held). */
static int ensure_locked(struct skiff_err *err)
{
    if (!L.loaded)
        load_locked();
    if (L.load_rc)
        return skiff_err_set(err, L.load_rc, "%s", L.load_msg);
    return 0;
}

int skiff_workflow_set_pools(const char *json, struct skiff_err *err)
{
    char *copy = json && *json ? strdup(json) : NULL;
    int rc;

    if (json && *json && !copy)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    pthread_mutex_lock(&L.mu);
    free(L.configured);
    L.configured = copy;
    clear_locked();
    /* read now, so that a bad pool is reported at start, not at a step */
    rc = ensure_locked(err);
    pthread_mutex_unlock(&L.mu);
    return rc ? skiff_err_prefix(err, "config key 'pools'") : 0;
}

void workflow__sched_reset(void)
{
    pthread_mutex_lock(&L.mu);
    clear_locked();
    pthread_mutex_unlock(&L.mu);
}

/* ---- requests ---- */

int workflow__request_parse(const json_t *resources, struct workflow__request *r,
                            struct skiff_err *err)
{
    static const char *const sections[] = {"requests", "limits"};
    const json_t *req = json_object_get(resources, "requests");
    const json_t *lim = json_object_get(resources, "limits");
    double d;
    int rc;

    r->cpu = 0;
    r->memory = 0;
    r->gpus = 0;
    /* Kubernetes: a request defaults to the limit */
    if ((rc = quantity_field(json_object_get(req, "cpu") ? req : lim, "cpu", 0, &r->cpu, err)))
        return rc;
    if ((rc = quantity_field(json_object_get(req, "memory") ? req : lim, "memory", 0, &d, err)))
        return rc;
    r->memory = (int64_t)ceil(d);
    for (size_t s = 0; s < 2; s++) {
        const json_t *sec = json_object_get(resources, sections[s]);
        if (!json_object_get(sec, WORKFLOW__GPU_KEY))
            continue;
        if ((rc = quantity_field(sec, WORKFLOW__GPU_KEY, 0, &d, err)))
            return rc;
        if (d != floor(d) || d > WORKFLOW__GPU_MAX)
            return skiff_err_set(err, SKIFF_EINVAL,
                                 "nvidia.com/gpu must be a whole number of devices (at most %d)",
                                 WORKFLOW__GPU_MAX);
        r->gpus = (int)d;
        break;
    }
    return 0;
}

/* ---- pool matching ---- */

static bool selector_matches(const struct pool *p, const json_t *sel)
{
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)sel, k, v) {
        const char *want = json_string_value(v);
        const char *have = json_string_value(json_object_get(p->labels, k));
        if (!want || !have || strcmp(want, have) != 0)
            return false;
    }
    return true;
}

static bool str_eq(const json_t *a, const json_t *b)
{
    const char *x = json_string_value(a), *y = json_string_value(b);
    return (!x || !*x) ? (!y || !*y) : (y && strcmp(x, y) == 0);
}

/* Kubernetes' rule: a toleration with an empty key and operator Exists
 * tolerates everything; Exists ignores the value; an empty effect matches
 * every effect. */
static bool tolerated(const json_t *taint, const json_t *tols)
{
    const json_t *t;
    size_t i;
    json_array_foreach(tols, i, t) {
        const char *op = json_string_value(json_object_get(t, "operator"));
        const char *key = json_string_value(json_object_get(t, "key"));
        const char *eff = json_string_value(json_object_get(t, "effect"));
        bool exists = op && strcmp(op, "Exists") == 0;
        if (eff && *eff && !str_eq(json_object_get(t, "effect"), json_object_get(taint, "effect")))
            continue;
        if ((!key || !*key) && exists)
            return true;
        if (!str_eq(json_object_get(t, "key"), json_object_get(taint, "key")))
            continue;
        if (exists || str_eq(json_object_get(t, "value"), json_object_get(taint, "value")))
            return true;
    }
    return false;
}

static bool pool_matches(const struct pool *p, const struct workflow__request *r)
{
    const json_t *t;
    size_t i;
    if (r->node_selector && !p->any_selector && !selector_matches(p, r->node_selector))
        return false;
    json_array_foreach(p->taints, i, t) {
        const char *eff = json_string_value(json_object_get(t, "effect"));
        /* PreferNoSchedule is a preference: with one machine, it never blocks */
        if (eff && strcmp(eff, "PreferNoSchedule") == 0)
            continue;
        if (!tolerated(t, r->tolerations))
            return false;
    }
    return true;
}

void workflow__format_bytes(int64_t b, char *buf, size_t len)
{
    static const char *const units[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi"};
    double v = (double)b;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof *units) {
        v /= 1024;
        u++;
    }
    if (v == floor(v))
        snprintf(buf, len, "%.0f%s", v, units[u]);
    else
        snprintf(buf, len, "%.1f%s", v, units[u]);
}

int workflow__sched_check(const struct workflow__request *r, struct skiff_err *err)
{
    int rc = 0, matched = 0;
    char a[32], b[32];
    const struct pool *best = NULL;

    pthread_mutex_lock(&L.mu);
    if ((rc = ensure_locked(err)))
        goto out;
    for (int i = 0; i < L.npools; i++) {
        const struct pool *p = &L.pools[i];
        if (!pool_matches(p, r))
            continue;
        matched++;
        if (r->cpu <= p->cpu + 1e-9 && r->memory <= p->memory && r->gpus <= p->ngpus)
            goto out;
        best = p;
    }
    if (!matched) {
        rc = skiff_err_set(err, SKIFF_EINVAL,
                           "no node pool matches the step's nodeSelector and tolerations "
                           "(pools: %d, set with SKIFF_POOLS)", L.npools);
    } else if (r->gpus > best->ngpus) {
        rc = skiff_err_set(err, SKIFF_EINVAL,
                           "requests %d nvidia.com/gpu but pool '%s' has %d (SKIFF_GPUS, "
                           "SKIFF_POOLS)", r->gpus, best->name, best->ngpus);
    } else if (r->memory > best->memory) {
        workflow__format_bytes(r->memory, a, sizeof a);
        workflow__format_bytes(best->memory, b, sizeof b);
        rc = skiff_err_set(err, SKIFF_EINVAL, "requests %s memory but pool '%s' has %s", a,
                           best->name, b);
    } else {
        rc = skiff_err_set(err, SKIFF_EINVAL, "requests %g cpu but pool '%s' has %g", r->cpu,
                           best->name, best->cpu);
    }
out:
    pthread_mutex_unlock(&L.mu);
    return rc;
}

/* Why `r` does not fit pool p now, into why[len]. */
static void explain(const struct pool *p, const struct workflow__request *r, char *why,
                    size_t len)
{
    char a[32], b[32];
    if (r->gpus) {
        int free_n = 0;
        size_t off;
        for (int k = 0; k < p->ngpus; k++)
            free_n += !L.holder[p->gpus[k]][0];
        if (free_n < r->gpus) {
            const char *sep = "";
            off = (size_t)snprintf(why, len, "waiting for nvidia.com/gpu: %d of %d free, held by ",
                                   free_n, p->ngpus);
            for (int k = 0; k < p->ngpus && off < len; k++) {
                const char *h = L.holder[p->gpus[k]];
                if (!h[0])
                    continue;
                off += (size_t)snprintf(why + off, len - off, "%s%s", sep, h);
                sep = ", ";
            }
            return;
        }
    }
    if (r->memory > p->memory - p->used_mem) {
        workflow__format_bytes(p->memory - p->used_mem, a, sizeof a);
        workflow__format_bytes(r->memory, b, sizeof b);
        snprintf(why, len, "waiting for memory: %s free in pool '%s', %s requested", a, p->name,
                 b);
        return;
    }
    snprintf(why, len, "waiting for cpu: %g free in pool '%s', %g requested",
             p->cpu - p->used_cpu, p->name, r->cpu);
}

bool workflow__sched_acquire(const struct workflow__request *r, const char *holder,
                             struct workflow__grant *g, char *why, size_t len)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    const struct pool *first = NULL;
    bool ok = false;

    g->pool = -1;
    g->ngpus = 0;
    why[0] = '\0';
    pthread_mutex_lock(&L.mu);
    if (ensure_locked(&err)) {
        snprintf(why, len, "%s", err.msg);
        goto out;
    }
    for (int i = 0; i < L.npools; i++) {
        struct pool *p = &L.pools[i];
        int free_n = 0;
        if (!pool_matches(p, r))
            continue;
        if (!first)
            first = p;
        for (int k = 0; k < p->ngpus; k++)
            free_n += !L.holder[p->gpus[k]][0];
        if (r->cpu > p->cpu - p->used_cpu + 1e-9 || r->memory > p->memory - p->used_mem ||
            r->gpus > free_n)
            continue;
        p->used_cpu += r->cpu;
        p->used_mem += r->memory;
        for (int k = 0; k < p->ngpus && g->ngpus < r->gpus; k++)
            if (!L.holder[p->gpus[k]][0]) {
                snprintf(L.holder[p->gpus[k]], HOLDER_MAX, "%s", holder);
                g->gpus[g->ngpus++] = p->gpus[k];
            }
        g->pool = i;
        g->cpu = r->cpu;
        g->memory = r->memory;
        snprintf(g->pool_name, sizeof g->pool_name, "%s", p->name);
        ok = true;
        goto out;
    }
    if (first)
        explain(first, r, why, len);
    else
        snprintf(why, len, "no node pool matches the step's nodeSelector and tolerations");
out:
    pthread_mutex_unlock(&L.mu);
    return ok;
}

void workflow__sched_release(struct workflow__grant *g)
{
    if (!g || g->pool < 0)
        return;
    pthread_mutex_lock(&L.mu);
    if (g->pool < L.npools) {
        struct pool *p = &L.pools[g->pool];
        p->used_cpu -= g->cpu;
        if (p->used_cpu < 1e-9)
            p->used_cpu = 0;
        p->used_mem -= g->memory;
        for (int k = 0; k < g->ngpus; k++)
            L.holder[g->gpus[k]][0] = '\0';
    }
    pthread_mutex_unlock(&L.mu);
    g->pool = -1;
    g->ngpus = 0;
}

bool workflow__sched_has_gpus(void)
{
    bool any = false;
    pthread_mutex_lock(&L.mu);
    if (ensure_locked(NULL) == 0)
        for (int i = 0; i < L.npools; i++)
            any |= L.pools[i].ngpus > 0;
    pthread_mutex_unlock(&L.mu);
    return any;
}
