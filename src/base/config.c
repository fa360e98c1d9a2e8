/* Platform configuration: the table of keys. See include/skiff/config.h. */
#include "skiff/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/time.h"
#include "skiff/yaml.h"

enum type { T_STR, T_DURATION, T_JSON, T_BYTES };

/* Defaults may name ${home}: replaced by the platform home. */
static const struct option {
    const char *key, *env, *def;
    enum type type;
    size_t off, size;
    const char *help;
} options[] = {
#define STR(f) T_STR, offsetof(struct skiff_config, f), sizeof(((struct skiff_config *)0)->f)
#define DUR(f) T_DURATION, offsetof(struct skiff_config, f), 0
#define JSON(f) T_JSON, offsetof(struct skiff_config, f), sizeof(((struct skiff_config *)0)->f)
#define BYTES(f) T_BYTES, offsetof(struct skiff_config, f), 0
    {"listen", "SKIFF_LISTEN", "127.0.0.1:8080", STR(listen), "address:port of the API"},
    {"store", "SKIFF_STORE", "sqlite:${home}/skiff.db", STR(store), "metadata store URL"},
    {"online_store", "SKIFF_ONLINE_STORE", "lmdb", STR(online_store), "lmdb or redis://host:port"},
    {"artifacts", "SKIFF_ARTIFACTS", "${home}/artifacts", STR(artifacts), "artifact folder"},
    {"token_ttl", "SKIFF_TOKEN_TTL", "1h", DUR(token_ttl_s), "lifetime of step/job tokens"},
    {"admin_token_ttl", NULL, "30d", DUR(admin_token_ttl_s), "lifetime of admin.token"},
    {"pools", "SKIFF_POOLS", "", JSON(pools), "node pools: a list of {name, cpu, memory, gpus, "
                                              "labels, taints}"},
    {"artifact_max_unpacked", "SKIFF_ARTIFACT_MAX_UNPACKED", "32Gi", BYTES(artifact_max_unpacked),
     "cap on the bytes one artifact unpacks to (a quantity: 512Mi, 100G)"},
#undef STR
#undef DUR
#undef JSON
#undef BYTES
};

#define NOPTIONS (sizeof options / sizeof *options)

static const struct option *find(const char *key)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (strcmp(options[i].key, key) == 0)
            return &options[i];
    return NULL;
}

/* A size as a Kubernetes quantity: digits with an optional fraction, then
 * an optional suffix (Ki Mi Gi Ti Pi Ei, k M G T P E); at least one byte.
 * "1.5Gi" = 1610612736. */
static int parse_bytes(const char *key, const char *value, int64_t *out, struct skiff_err *err)
{
    static const struct {
        const char *suffix;
        double mult;
    } units[] = {{"Ki", 0x1p10}, {"Mi", 0x1p20}, {"Gi", 0x1p30}, {"Ti", 0x1p40},
                 {"Pi", 0x1p50}, {"Ei", 0x1p60}, {"k", 1e3},     {"M", 1e6},
                 {"G", 1e9},     {"T", 1e12},    {"P", 1e15},    {"E", 1e18},
                 {"", 1}};
    char *end;
    double v;

    if (!(*value >= '0' && *value <= '9'))
        goto bad;
    v = strtod(value, &end);
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (strcmp(end, units[i].suffix) == 0) {
            v *= units[i].mult;
            if (v < 1 || v >= 9.2e18)
                goto bad;
            *out = (int64_t)v;
            return 0;
        }
bad:
    return skiff_err_set(err, SKIFF_EINVAL, "%s: '%.60s' is not a size in bytes (a quantity "
                                            "such as 512Mi or 100G)", key, value);
}

static int set_opt(struct skiff_config *cfg, const struct option *o, const char *value,
                   struct skiff_err *err)
{
    char *field = (char *)cfg + o->off;
    if (o->type == T_DURATION) {
        int64_t us;
        int rc = skiff_duration_parse(value, &us, err);
        if (rc)
            return skiff_err_prefix(err, "%s", o->key);
        *(int64_t *)(void *)field = us / SKIFF_US_PER_SEC;
        return 0;
    }
    if (o->type == T_BYTES)
        return parse_bytes(o->key, value, (int64_t *)(void *)field, err);
    if (o->type == T_JSON) {
        /* a list as JSON text; what each pool may hold is checked by its
         * user (the workflow ledger), which names the key */
        json_error_t je;
        json_t *v = *value ? json_loads(value, JSON_DECODE_ANY, &je) : NULL;
        bool list = json_is_array(v);
        json_decref(v);
        if (*value && !list)
            return skiff_err_set(err, SKIFF_EINVAL, "%s must be a list (JSON or YAML)", o->key);
        if (!skiff_strlcpy(field, value, o->size))
            return skiff_err_set(err, SKIFF_EINVAL, "%s: value too long", o->key);
        return 0;
    }
    /* expand ${home} */
    struct skiff_buf b = SKIFF_BUF_INIT;
    const char *p = value, *h;
    while ((h = strstr(p, "${home}")) != NULL) {
        skiff_buf_append(&b, p, (size_t)(h - p));
        skiff_buf_puts(&b, cfg->home);
        p = h + 7;
    }
    skiff_buf_puts(&b, p);
    bool ok = skiff_strlcpy(field, b.ptr, o->size);
    skiff_buf_release(&b);
    if (!ok)
        return skiff_err_set(err, SKIFF_EINVAL, "%s: value too long", o->key);
    return 0;
}

int skiff_config_set(struct skiff_config *cfg, const char *key, const char *value,
                     struct skiff_err *err)
{
    const struct option *o = find(key);
    if (!o)
        return skiff_err_set(err, SKIFF_EINVAL, "unknown config key '%s'", key);
    return set_opt(cfg, o, value, err);
}

static int load_file(struct skiff_config *cfg, const char *path, struct skiff_err *err)
{
    struct skiff_yaml_docs *docs = NULL;
    json_t *root;
    const char *key;
    json_t *val;
    int rc;
    struct stat st;

    if (stat(path, &st) != 0)
        return errno == ENOENT ? 0 : skiff_err_sys(err, SKIFF_EIO, "cannot read '%s'", path);
    if ((rc = skiff_yaml_load_file(path, &docs, err)))
        return rc;
    if (skiff_yaml_count(docs) == 0)
        goto out;
    root = skiff_yaml_doc(docs, 0);
    if (!json_is_object(root)) {
        rc = skiff_yaml_err(docs, 0, "", err, SKIFF_EINVAL, "config must be a mapping of keys");
        goto out;
    }
    json_object_foreach(root, key, val) {
        const struct option *o = find(key);
        char ptr[300], sval[64];
        const char *s = sval;
        snprintf(ptr, sizeof ptr, "/%s", key);
        if (!o) {
            rc = skiff_yaml_err(docs, 0, ptr, err, SKIFF_EINVAL, "unknown config key '%s'", key);
            goto out;
        }
        if (o->type == T_JSON && json_is_array(val)) {
            char *text = json_dumps(val, JSON_COMPACT);
            rc = text ? set_opt(cfg, o, text, err)
                      : skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            free(text);
            if (rc) {
                char msg[SKIFF_ERR_MSG_MAX];
                skiff_strlcpy(msg, err->msg, sizeof msg);
                rc = skiff_yaml_err(docs, 0, ptr, err, rc, "%s", msg);
                goto out;
            }
            continue;
        }
        if (json_is_string(val))
            s = json_string_value(val);
        else if (json_is_integer(val))
            snprintf(sval, sizeof sval, "%lld", (long long)json_integer_value(val));
        else {
            rc = skiff_yaml_err(docs, 0, ptr, err, SKIFF_EINVAL, "'%s' must be a string", key);
            goto out;
        }
        if ((rc = set_opt(cfg, o, s, err))) {
            char msg[SKIFF_ERR_MSG_MAX];
            skiff_strlcpy(msg, err->msg, sizeof msg);
            rc = skiff_yaml_err(docs, 0, ptr, err, rc, "%s", msg);
            goto out;
        }
    }
out:
    skiff_yaml_free(docs);
    return rc;
}

int skiff_config_load(const char *home, struct skiff_config *cfg, struct skiff_err *err)
{
    char path[4200];
    int rc;

    memset(cfg, 0, sizeof *cfg);
    if (!home || !*home)
        home = getenv("SKIFF_HOME");
    if (!home || !*home)
        home = ".skiff";
    if (!skiff_strlcpy(cfg->home, home, sizeof cfg->home))
        return skiff_err_set(err, SKIFF_EINVAL, "SKIFF_HOME path too long");
    for (size_t i = 0; i < NOPTIONS; i++)
        if ((rc = set_opt(cfg, &options[i], options[i].def, err)))
            return rc;
    snprintf(path, sizeof path, "%s/config.yaml", cfg->home);
    if ((rc = load_file(cfg, path, err)))
        return rc;
    for (size_t i = 0; i < NOPTIONS; i++) {
        const char *v = options[i].env ? getenv(options[i].env) : NULL;
        if (v && *v && (rc = set_opt(cfg, &options[i], v, err)))
            return skiff_err_prefix(err, "environment %s", options[i].env);
    }
    return 0;
}
