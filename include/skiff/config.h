/* Platform configuration: SKIFF_HOME/config.yaml, optional.
 *
 * One table (src/base/config.c) declares every key, its environment
 * variable, its default and its meaning; every key has a default that makes
 * `skiff up` work with no file at all. Precedence: command-line flag >
 * environment > config.yaml > default. An unknown key or a bad value in the
 * file is an error with file:line:column (exit 2), never silently ignored.
 *
 *   listen: 127.0.0.1:8080
 *   store: sqlite:.skiff/skiff.db        # or postgres://user@host/db
 *   online_store: lmdb                   # or redis://127.0.0.1:6379
 *   artifacts: .skiff/artifacts
 *   token_ttl: 1h                        # lifetime of tokens handed to steps and jobs
 *   admin_token_ttl: 30d
 *   pools:                               # node pools (docs/workflows.md)
 *     - {name: gpu, gpus: "0", labels: {node-group: gpu}}
 *   artifact_max_unpacked: 32Gi          # zip-bomb guard for workflow artifacts
 */
#ifndef SKIFF_CONFIG_H
#define SKIFF_CONFIG_H

#include <stdint.h>

struct skiff_err;

struct skiff_config {
    char home[4096];
    char listen[256];
    char store[4096];
    char online_store[4096];
    char artifacts[4096];
    char pools[16384];        /* node pools as a JSON list, "" = none (docs/config.md) */
    int64_t token_ttl_s;
    int64_t admin_token_ttl_s;
    int64_t artifact_max_unpacked; /* bytes one artifact may unpack to (docs/workflows.md) */
};

/* Fills `cfg` for home `home` (NULL = SKIFF_HOME or ./.skiff): defaults,
 * then home/config.yaml if present, then the environment. */
int skiff_config_load(const char *home, struct skiff_config *cfg, struct skiff_err *err);

/* Sets one key by name (for flags and tests): SKIFF_EINVAL for an unknown
 * key or a bad value. */
int skiff_config_set(struct skiff_config *cfg, const char *key, const char *value,
                     struct skiff_err *err);

#endif
