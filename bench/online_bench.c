/* online_bench: in-process online lookups (include/skiff/online.h) timed
 * for bench/bench_online.py; not part of skiff.
 *
 *   online_bench SPEC DEFS SERVICE NENTITIES ITERS
 *       loads the definitions DEFS, opens the online store SPEC ("lmdb:/dir",
 *       "redis://host:port"), materializes every online view over all time,
 *       then times ITERS skiff_online_get_vector calls for entities
 *       "u0".."u<NENTITIES-1>" picked at random (seeded), and prints
 *       {"store", "width", "iters", "p50_us", "p99_us", "mean_us",
 *        "materialize_s", "present"}; with a redis:// SPEC also "raw_p50_us",
 *       "raw_p99_us": a plain hiredis HGETALL of a 7-field hash, timed in
 *       the same loop (alternating calls), the floor under the same load.
 *
 * Exit status: 0, 2 on bad usage, 1 on errors (message on stderr).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "skiff/err.h"
#include "skiff/features.h"
#include "skiff/online.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_feat_registry *reg = NULL;
    struct skiff_online *o = NULL;
    struct skiff_online_materialize_opts mo = {0};
    const struct skiff_feat_service *svc;
    double *lat, *raw = NULL, t0, sum = 0, vals[64];
    redisContext *rc = NULL;
    enum skiff_online_status st[64];
    long nent, iters, present = 0;
    unsigned seed = 42;
    size_t w;

    if (argc != 6 || (nent = atol(argv[4])) <= 0 || (iters = atol(argv[5])) <= 0) {
        fprintf(stderr, "usage: online_bench SPEC DEFS SERVICE NENTITIES ITERS\n");
        return 2;
    }
    if (skiff_feat_registry_load(argv[2], &reg, &err) ||
        skiff_online_open(argv[1], NULL, &o, &err))
        goto fail;
    if (!(svc = skiff_feat_service_get(reg, argv[3])) || (w = skiff_online_service_width(svc)) > 64) {
        fprintf(stderr, "online_bench: no service '%s' (or wider than 64)\n", argv[3]);
        return 2;
    }
    t0 = now_us();
    if (skiff_online_materialize(o, reg, 0, INT64_C(4102444800000000), &mo, &err))
        goto fail;
    t0 = (now_us() - t0) / 1e6;
    if (!(lat = malloc((size_t)iters * sizeof *lat)) || !(raw = malloc((size_t)iters * sizeof *raw)))
        return 1;
    if (strncmp(argv[1], "redis://", 8) == 0) {
        char host[256];
        int port = 6379;
        redisReply *rep;
        sscanf(argv[1] + 8, "%255[^:]:%d", host, &port);
        rc = redisConnect(host, port);
        if (!rc || rc->err) {
            fprintf(stderr, "online_bench: cannot connect to redis\n");
            return 1;
        }
        rep = redisCommand(rc, "HSET bench:u1 f1 12345.5 f2 12345.5 f3 12345.5 f4 12345.5 "
                               "f5 12345.5 f6 12345.5 f7 12345.5");
        freeReplyObject(rep);
    }
    for (long i = -iters / 10; i < iters; i++) {   /* a tenth as warm-up */
        char key[32];
        const char *kv[1] = {key};
        double a, b;
        snprintf(key, sizeof key, "u%ld", (long)(rand_r(&seed) % nent));
        a = now_us();
        if (skiff_online_get_vector(o, svc, kv, 1, INT64_C(4102444800000000), vals, st, NULL,
                                    &err))
            goto fail;
        b = now_us();
        if (i >= 0) {
            lat[i] = b - a;
            sum += b - a;
            present += st[0] == SKIFF_ONLINE_PRESENT;
        }
        if (rc) {
            redisReply *rep;
            a = now_us();
            rep = redisCommand(rc, "HGETALL bench:u1");
            b = now_us();
            freeReplyObject(rep);
            if (i >= 0)
                raw[i] = b - a;
        }
    }
    qsort(lat, (size_t)iters, sizeof *lat, cmp_double);
    printf("{\"store\": \"%s\", \"width\": %zu, \"iters\": %ld, \"p50_us\": %.3f, "
           "\"p99_us\": %.3f, \"mean_us\": %.3f, \"materialize_s\": %.3f, \"present\": %ld}\n",
           argv[1], w, iters, lat[iters / 2], lat[(size_t)((double)iters * 0.99)],
           sum / (double)iters, t0, present);
    if (rc) {
        qsort(raw, (size_t)iters, sizeof *raw, cmp_double);
        printf("{\"raw_p50_us\": %.3f, \"raw_p99_us\": %.3f}\n", raw[iters / 2],
               raw[(size_t)((double)iters * 0.99)]);
        redisFree(rc);
    }
    free(lat);
    free(raw);
    skiff_online_close(o);
    skiff_feat_registry_free(reg);
    return 0;
fail:
    fprintf(stderr, "online_bench: %s\n", err.msg);
    skiff_online_close(o);
    skiff_feat_registry_free(reg);
    return 1;
}
