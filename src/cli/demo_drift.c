/* skiff demo's drift stage: every user who paid in the data's last hour is
 * scored once more (their features now are those of the drifted tail;
 * demo_serve.c says why these users), the payload log then holds what
 * serving saw, and the DriftMonitor of
 * drift-monitor.yaml is run on demand (POST /api/v1/driftmonitors/NAME/run):
 * the payload log of the last 24 hours against the champion's training
 * sample (reference/sample.csv, logged by skiff train). Its verdict is
 * shown and its HTML report copied to HOME/drift-report.html.
 */
#include "cli.h"
#include "demo_int.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "skiff/buf.h"
#include "skiff/http.h"
#include "skiff/time.h"

#define MONITOR "fraud-detector-drift"
#define BATCH 100            /* users per request */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Lines in the service's payload log files (HOME/payloads/fraud-detector). */
static uint64_t payload_lines(const struct demo *d)
{
    char dir[DEMO_PATH_MAX + 64];
    struct dirent *de;
    uint64_t n = 0;
    DIR *dp;

    snprintf(dir, sizeof dir, "%s/payloads/fraud-detector", d->home);
    if (!(dp = opendir(dir)))
        return 0;
    while ((de = readdir(dp))) {
        char path[DEMO_PATH_MAX + 400], buf[65536];
        size_t r;
        FILE *f;
        if (!strstr(de->d_name, ".jsonl"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (!(f = fopen(path, "r")))
            continue;
        while ((r = fread(buf, 1, sizeof buf, f)) > 0)
            for (size_t i = 0; i < r; i++)
                n += buf[i] == '\n';
        fclose(f);
    }
    closedir(dp);
    return n;
}

/* Scores the recent payers once each, BATCH per request. */
static int drifted_traffic(struct demo *d, uint64_t *rows, struct skiff_err *err)
{
    size_t n = d->npayers;
    char ids[BATCH][16], *ptrs[BATCH], rev[64];
    double scores[BATCH];

    *rows = 0;
    for (size_t i = 0; i < n && !demo__stop; i += BATCH) {
        size_t k = n - i < BATCH ? n - i : BATCH;
        for (size_t j = 0; j < k; j++) {
            snprintf(ids[j], sizeof ids[j], "u%06u", d->payers[i + j]);
            ptrs[j] = ids[j];
        }
        demo__progress(d, "scoring the recent payers: %zu/%zu", i, n);
        if (demo__infer(d, ptrs, k, scores, rev, sizeof rev, err))
            return err->code;
        *rows += k;
    }
    return demo__stop ? skiff_err_set(err, SKIFF_EINTERNAL, "interrupted") : 0;
}

/* The three columns with the highest scores among the drifted ones (or all
 * when none drifted), as "name score, ..." into d->drift_top. */
static void top_columns(struct demo *d, const json_t *cols)
{
    const char *used[3] = {NULL, NULL, NULL};
    size_t len = 0;

    d->drift_top[0] = '\0';
    for (int k = 0; k < 3; k++) {
        const char *key, *best = NULL;
        const json_t *c, *bc = NULL;
        json_object_foreach((json_t *)cols, key, c) {
            bool taken = false;
            for (int j = 0; j < k; j++)
                taken |= used[j] && strcmp(used[j], key) == 0;
            if (taken || (d->drift_ndrift && !json_is_true(json_object_get(c, "drift"))))
                continue;
            if (!bc || json_number_value(json_object_get(c, "score")) >
                           json_number_value(json_object_get(bc, "score")))
                best = key, bc = c;
        }
        if (!best)
            break;
        used[k] = best;
        len += (size_t)snprintf(d->drift_top + len, len < sizeof d->drift_top
                                                        ? sizeof d->drift_top - len : 0,
                                "%s%s %s %.3g", k ? ", " : "", best,
                                demo__str(bc, "stattest"),
                                json_number_value(json_object_get(bc, "score")));
        if (len >= sizeof d->drift_top)
            break;
    }
}

/* GET the run's HTML report (admin token) into HOME/drift-report.html. */
static int save_report(struct demo *d, const char *path, struct skiff_err *err)
{
    struct skiff_http_result res = {0};
    struct skiff_buf url = SKIFF_BUF_INIT;
    char tokf[DEMO_PATH_MAX + 32], out[DEMO_PATH_MAX + 32];
    char *token;
    FILE *f;
    int rc;

    demo__path_join(tokf, sizeof tokf, d->home, "admin.token");
    demo__path_join(out, sizeof out, d->home, "drift-report.html");
    if (!(token = demo__read_small(tokf)))
        return skiff_err_set(err, SKIFF_EIO, "cannot read '%s'", tokf);
    skiff_buf_init(&res.body, 0);
    skiff_buf_init(&res.headers, 0);
    skiff_buf_appendf(&url, "%s%s", d->url, path);
    rc = url.ptr ? skiff_http_request("GET", url.ptr, token, NULL, NULL, 0, &res, err)
                 : skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    free(token);
    if (rc == 0 && res.status != 200)
        rc = skiff_err_set(err, SKIFF_EINTERNAL, "GET %s: HTTP %ld", path, res.status);
    if (rc == 0) {
        if (!(f = fopen(out, "w")) ||
            fwrite(res.body.ptr, 1, res.body.len, f) != res.body.len) {
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", out);
            if (f)
                fclose(f);
        } else if (fclose(f) != 0) {
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", out);
        } else {
            demo__path_join(d->report, sizeof d->report, d->home, "drift-report.html");
        }
    }
    skiff_buf_release(&url);
    skiff_buf_release(&res.body);
    skiff_buf_release(&res.headers);
    return rc;
}

int demo__drift(struct demo *d, struct skiff_err *err)
{
    uint64_t rows, before = payload_lines(d), want;
    int64_t deadline;
    json_t *run = NULL;
    int rc;

    if (!d->served)
        return DEMO_SKIPPED;
    if (drifted_traffic(d, &rows, err))
        return err->code;
    demo__result(d, "·", -1, "scored the %llu recent payers once more, in %llu requests",
                 (unsigned long long)rows, (unsigned long long)((rows + BATCH - 1) / BATCH));
    /* the payload log is written off the request path: wait for its lines */
    want = before + rows;
    deadline = skiff_time_mono_us() + 10 * 1000000LL;
    while (payload_lines(d) < want && skiff_time_mono_us() < deadline && !demo__stop)
        sleep_ms(50);
    demo__progress(d, "POST /api/v1/driftmonitors/" MONITOR "/run");
    if ((rc = cli_api("POST", "/api/v1/driftmonitors/" MONITOR "/run", NULL, &run, NULL, err)))
        return skiff_err_prefix(err, "POST /api/v1/driftmonitors/" MONITOR "/run");
    if (strcmp(demo__str(run, "phase"), "Succeeded") != 0) {
        rc = skiff_err_set(err, SKIFF_EINTERNAL, "drift monitor run %lld %s: %s",
                           (long long)json_integer_value(json_object_get(run, "id")),
                           demo__str(run, "phase"), demo__str(run, "message"));
        json_decref(run);
        return rc;
    }
    d->drift_ran = true;
    d->drift_run = (long long)json_integer_value(json_object_get(run, "id"));
    d->dataset_drift = json_is_true(json_object_get(run, "datasetDrift"));
    d->drift_share = json_number_value(json_object_get(run, "shareOfDriftedColumns"));
    d->drift_ncols = (long long)json_integer_value(json_object_get(run, "numberOfColumns"));
    d->drift_ndrift = (long long)json_integer_value(json_object_get(run, "numberOfDriftedColumns"));
    d->drift_rows = (long long)json_integer_value(json_object_get(run, "currentRows"));
    top_columns(d, json_object_get(run, "columns"));
    demo__result(d, "·", -1, "run %lld of %s: %lld served rows against %lld training rows",
                 d->drift_run, MONITOR, d->drift_rows,
                 (long long)json_integer_value(json_object_get(run, "referenceRows")));
    rc = save_report(d, demo__str(run, "report"), err);
    json_decref(run);
    return rc;
}
