/* skiff datagen: seeded synthetic data (include/skiff/ml.h). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "skiff/ml.h"
#include "skiff/time.h"

const char cmd_datagen_usage[] =
    "Usage: skiff datagen fraud [--users N] [--days D] [--drift-from DAY] [--seed S]\n"
    "                     [--start TIME] -o DIR\n\n"
    "Write seeded synthetic card transactions with fraud a model can learn (bursts of\n"
    "transactions within an hour, high-risk merchants, amounts far above the user's\n"
    "usual), about 1.5% of them fraud. The same options always give the same files.\n\n"
    "Files written in DIR (created when missing):\n"
    "  transactions.csv  transaction_id,user_id,merchant_id,merchant_risk,amount,\n"
    "                    event_timestamp,is_fraud  (sorted by event_timestamp)\n"
    "  labels.csv        user_id,event_timestamp,is_fraud  (one row per transaction:\n"
    "                    the entity dataframe for point-in-time training data)\n"
    "  meta.json         users, days, rows, fraud_rate, drift_from, seed\n\n"
    "Options:\n"
    "  --users N         number of users (default 1000, at most 999999)\n"
    "  --days D          days of data (default 14)\n"
    "  --drift-from DAY  from day DAY (0-based) on, the data drifts: larger amounts,\n"
    "                    more high-risk merchants, more evening activity\n"
    "  --seed S          random seed (default 42)\n"
    "  --start TIME      first day, RFC 3339 (default 2026-01-01T00:00:00Z)\n"
    "  -o, --out DIR     the output folder\n\n"
    "Examples:\n"
    "  skiff datagen fraud -o data/\n"
    "  skiff datagen fraud --users 5000 --days 28 --drift-from 21 --seed 7 -o data/\n"
    "  skiff datagen fraud --users 100000 --days 20 -o /tmp/big   # about 10M rows\n";

/* "label [#####    ]  45%" redrawn in place, for a terminal only. */
static void progress(void *ctx, uint32_t done, uint32_t total)
{
    static const char bar[] = "##############################";
    int pct = (int)((uint64_t)done * 100 / total);
    fprintf(stderr, "\rgenerating %5u/%-5u days [%-30.*s] %3d%%", done, total, pct * 30 / 100,
            bar, pct);
    if (done == total)
        fputc('\n', stderr);
    fflush(stderr);
}

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-' || v > max)
        return cli_usage_error("datagen", "%s: '%s' is not a whole number in 0 .. %llu", opt, s,
                               (unsigned long long)max);
    *out = v;
    return CLI_OK;
}

int cmd_datagen(int argc, char **argv)
{
    struct skiff_ml_datagen_opts o = {.users = 1000, .days = 14, .drift_from = -1, .seed = 42};
    struct skiff_ml_datagen_stats st;
    struct skiff_err err = SKIFF_ERR_INIT;
    const char *dir = NULL, *start = "2026-01-01T00:00:00Z";
    int64_t t0;

    if (argc < 2)
        return cli_usage_error("datagen", "which dataset? (fraud)");
    if (strcmp(argv[1], "fraud") != 0)
        return cli_usage_error("datagen", "unknown dataset '%s' (fraud)", argv[1]);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        uint64_t v;
        if (i + 1 >= argc)
            return cli_usage_error("datagen", "unexpected argument '%s'", a);
        if (strcmp(a, "--users") == 0) {
            if (parse_u64(a, argv[++i], 999999, &v))
                return CLI_USAGE;
            o.users = (uint32_t)v;
        } else if (strcmp(a, "--days") == 0) {
            if (parse_u64(a, argv[++i], 3650, &v))
                return CLI_USAGE;
            o.days = (uint32_t)v;
        } else if (strcmp(a, "--drift-from") == 0) {
            if (parse_u64(a, argv[++i], 3650, &v))
                return CLI_USAGE;
            o.drift_from = (int32_t)v;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_u64(a, argv[++i], UINT64_MAX, &v))
                return CLI_USAGE;
            o.seed = v;
        } else if (strcmp(a, "--start") == 0) {
            start = argv[++i];
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--out") == 0) {
            dir = argv[++i];
        } else {
            return cli_usage_error("datagen", "unexpected argument '%s'", a);
        }
    }
    if (!dir)
        return cli_usage_error("datagen", "where to? give the output folder with -o DIR");
    if (skiff_time_parse(start, &o.start_us, &err))
        return cli_fail(&err);
    if (isatty(STDERR_FILENO))
        o.progress = progress;
    t0 = skiff_time_mono_us();
    if (skiff_ml_datagen_fraud(dir, &o, &st, &err))
        return cli_fail(&err);
    printf("wrote %llu transactions (%llu fraud, %.2f%%) for %u users over %u days to %s in "
           "%.2fs\n",
           (unsigned long long)st.rows, (unsigned long long)st.frauds,
           st.rows ? 100.0 * (double)st.frauds / (double)st.rows : 0.0, o.users, o.days, dir,
           (double)(skiff_time_mono_us() - t0) / 1e6);
    return CLI_OK;
}
