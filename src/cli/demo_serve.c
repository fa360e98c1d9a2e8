/* skiff demo's serving stages: the online store, users scored through the
 * V2 protocol by user_id alone, and a canary of a second model version.
 *
 * Serving reads the online store as of the wall clock (ttl and windows end
 * at now), so the demo's data ends when the demo starts (st_data in
 * cmd_demo.c): the online store is materialized up to that end, and what a
 * user is scored on now is that user's last hours of data, which lie in the
 * drifted tail. The traffic is the users who paid in the last hour of the
 * data: the model was trained on rows taken at payments, and a user scored
 * minutes after paying has the features of that payment, where a user who
 * has not paid for hours has none in the 1 h window (the drift monitor
 * would flag that skew, not the data's drift). The canary compares two
 * models on that traffic; the drift stage (demo_drift.c) then compares it
 * with the training sample.
 *
 * Every request goes through the platform's port with a token of scope
 * serving:infer only (`skiff token`, HOME/serving.token), the one the
 * summary's curl reads, so what the demo measures is what a client gets.
 */
#include "cli.h"
#include "demo_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "skiff/buf.h"
#include "skiff/http.h"
#include "skiff/time.h"
#include "skiff/yaml.h"

#define ISVC "fraud-detector"
#define ISVC_PATH "/api/v1/inferenceservices/" ISVC
#define CANARY_PERCENT 10
#define CANARY_REQUESTS 500
#define SHOW_USERS 5
#define CHECK_USERS 1000   /* users whose online features are counted */
#define PAYERS_WINDOW_US (3600LL * 1000000LL)   /* who paid in the data's last hour */
#define PAYERS_MIN 10      /* ... or the last 10 payers, when fewer paid then */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* datagen's user ids: u000000 .. */
static void user_id(char *out, size_t n, unsigned i)
{
    snprintf(out, n, "u%06u", i);
}

/* ---- online ---- */

/* How many of the first CHECK_USERS users have every feature of
 * fraud_features PRESENT, asked of the feature server as a client would. */
static int count_present(struct demo *d, unsigned *present, unsigned *asked,
                         struct skiff_err *err)
{
    unsigned n = d->users < CHECK_USERS ? d->users : CHECK_USERS;
    json_t *ids = json_array(), *body, *out = NULL, *col;
    bool *ok;
    size_t c;
    int rc;

    for (unsigned i = 0; ids && i < n; i++) {
        char u[16];
        user_id(u, sizeof u, i);
        json_array_append_new(ids, json_string(u));
    }
    body = json_pack("{s:s, s:{s:o}}", "feature_service", "fraud_features", "entities", "user_id",
                     ids);
    if (!body || !(ok = malloc(n * sizeof *ok))) {
        json_decref(body);
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    }
    for (unsigned i = 0; i < n; i++)
        ok[i] = true;
    rc = cli_api("POST", "/get-online-features", body, &out, NULL, err);
    json_decref(body);
    if (rc == 0) {
        /* column-major; the first column is the join key itself */
        json_array_foreach(json_object_get(out, "results"), c, col) {
            json_t *st = json_object_get(col, "statuses");
            if (c == 0)
                continue;
            for (unsigned i = 0; i < n; i++)
                if (strcmp(json_string_value(json_array_get(st, i)) ?
                           json_string_value(json_array_get(st, i)) : "", "PRESENT") != 0)
                    ok[i] = false;
        }
        *present = 0;
        for (unsigned i = 0; i < n; i++)
            *present += ok[i];
        *asked = n;
    }
    free(ok);
    json_decref(out);
    return rc ? skiff_err_prefix(err, "POST /get-online-features") : 0;
}

int demo__online(struct demo *d, struct skiff_err *err)
{
    char start[40], end[40];
    char *argv[] = {"features", "materialize", start, end, NULL};
    unsigned asked = 0;

    skiff_time_format(d->start_us, start, sizeof start);
    skiff_time_format(d->end_us, end, sizeof end);
    demo__progress(d, "skiff features materialize %s %s", start, end);
    if (demo__command(d, "materialize.log", NULL, argv, err) ||
        count_present(d, &d->online_users, &asked, err))
        return err->code;
    demo__result(d, "·", -1, "skiff features materialize %s %s", start, end);
    if (d->online_users == 0)
        return skiff_err_set(err, SKIFF_EINTERNAL, "no user has its features in the online "
                             "store after materializing (log: %s/materialize.log)", d->logs);
    return 0;
}

/* ---- scoring ---- */

int demo__infer(const struct demo *d, char *const users[], size_t n, double *scores, char *rev,
                size_t revn, struct skiff_err *err)
{
    struct skiff_http_result res = {0};
    struct skiff_buf body = SKIFF_BUF_INIT, url = SKIFF_BUF_INIT;
    char *token = demo__read_small(d->token_file);
    json_t *reply = NULL, *data;
    int rc;

    skiff_buf_init(&res.body, 0);
    skiff_buf_init(&res.headers, 0);
    skiff_buf_appendf(&body, "{\"inputs\":[{\"name\":\"user_id\",\"datatype\":\"BYTES\","
                             "\"shape\":[%zu],\"data\":[", n);
    for (size_t i = 0; i < n; i++)
        skiff_buf_appendf(&body, "%s\"%s\"", i ? "," : "", users[i]);
    skiff_buf_puts(&body, "]}]}");
    skiff_buf_appendf(&url, "%s/v2/models/" ISVC "/infer", d->url);
    if (!token || !body.ptr || !url.ptr) {
        rc = skiff_err_set(err, SKIFF_EIO, "cannot read the serving token '%s'", d->token_file);
        goto out;
    }
    if ((rc = skiff_http_request("POST", url.ptr, token, "application/json", body.ptr, body.len,
                                 &res, err)))
        goto out;
    reply = res.body.len ? json_loadb(res.body.ptr, res.body.len, 0, NULL) : NULL;
    if (res.status != 200) {
        const char *msg = demo__str(reply, "error");
        rc = skiff_err_set(err, SKIFF_EINTERNAL, "POST %s: HTTP %ld: %s", url.ptr, res.status,
                           *msg ? msg : "no message");
        goto out;
    }
    data = json_object_get(json_array_get(json_object_get(reply, "outputs"), 0), "data");
    if (json_array_size(data) != n) {
        rc = skiff_err_set(err, SKIFF_EINTERNAL, "POST %s: %zu scores for %zu users", url.ptr,
                           json_array_size(data), n);
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        scores[i] = json_number_value(json_array_get(data, i));
    snprintf(rev, revn, "%s", demo__str(reply, "model_version"));
out:
    json_decref(reply);
    free(token);
    skiff_buf_release(&body);
    skiff_buf_release(&url);
    skiff_buf_release(&res.body);
    skiff_buf_release(&res.headers);
    return rc;
}

/* ---- the InferenceService ---- */

/* The service's status.components.predictor, or NULL; caller decrefs *isvc. */
static const json_t *predictor_status(json_t **isvc)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    *isvc = NULL;
    if (cli_api("GET", ISVC_PATH, NULL, isvc, NULL, &e) != 0)
        return NULL;
    return json_object_get(json_object_get(json_object_get(*isvc, "status"), "components"),
                           "predictor");
}

static bool condition_true(const json_t *isvc, const char *type)
{
    const json_t *c;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(isvc, "status"), "conditions"), i, c)
        if (strcmp(demo__str(c, "type"), type) == 0)
            return strcmp(demo__str(c, "status"), "True") == 0;
    return false;
}

/* The percent of traffic revision `rev` has, or -1 when it has none. */
static int traffic_of(const json_t *pred, const char *rev)
{
    const json_t *t;
    size_t i;
    json_array_foreach(json_object_get(pred, "traffic"), i, t)
        if (strcmp(demo__str(t, "revisionName"), rev) == 0)
            return (int)json_integer_value(json_object_get(t, "percent"));
    return -1;
}

/* inferenceservice.yaml with the model `storage` and, when percent >= 0,
 * canaryTrafficPercent: percent, sent as `skiff apply` sends it. */
static int apply_isvc(struct demo *d, const char *storage, int percent, struct skiff_err *err)
{
    char file[DEMO_PATH_MAX + 32];
    struct skiff_yaml_docs *docs = NULL;
    json_t *obj, *pred;
    int rc;

    demo__path_join(file, sizeof file, d->repo, "inferenceservice.yaml");
    if (skiff_yaml_load_file(file, &docs, err))
        return err->code;
    obj = json_deep_copy(skiff_yaml_doc(docs, 0));
    skiff_yaml_free(docs);
    pred = json_object_get(json_object_get(obj, "spec"), "predictor");
    if (!json_is_object(json_object_get(pred, "model"))) {
        json_decref(obj);
        return skiff_err_set(err, SKIFF_EINVAL, "%s: no spec.predictor.model", file);
    }
    json_object_set_new(json_object_get(pred, "model"), "storageUri", json_string(storage));
    if (percent >= 0)
        json_object_set_new(pred, "canaryTrafficPercent", json_integer(percent));
    rc = cli_api("PUT", ISVC_PATH, obj, NULL, NULL, err);
    json_decref(obj);
    return rc ? skiff_err_prefix(err, "InferenceService %s", ISVC) : 0;
}

int demo__serve(struct demo *d, struct skiff_err *err)
{
    char *argv[] = {"token", "--sub", "fraud-demo-client", "--scope", "serving:infer", "--ttl",
                    "24h", "--out", d->token_file, NULL};
    char users[SHOW_USERS][16], *ptrs[SHOW_USERS];
    double scores[SHOW_USERS];
    size_t show;
    int64_t deadline = skiff_time_mono_us() + 30 * 1000000LL;
    json_t *isvc = NULL;
    bool ready = false;

    if (!d->deployed)
        return DEMO_SKIPPED;
    demo__path_join(d->token_file, sizeof d->token_file, d->home, "serving.token");
    if (demo__command(d, "token.log", NULL, argv, err))
        return err->code;
    /* Ready: the champion is loaded and has answered its warm-up */
    demo__progress(d, "waiting for InferenceService %s to be Ready", ISVC);
    while (!demo__stop && !ready && skiff_time_mono_us() < deadline) {
        predictor_status(&isvc);
        if ((ready = condition_true(isvc, "Ready")))
            snprintf(d->serving_url, sizeof d->serving_url, "%s",
                     demo__str(json_object_get(isvc, "status"), "url"));
        json_decref(isvc);
        if (!ready)
            sleep_ms(100);
    }
    if (!ready)
        return skiff_err_set(err, SKIFF_ETIMEDOUT, "InferenceService %s is not Ready after 30 s "
                             "(skiff describe isvc %s; %s/up.log)", ISVC, ISVC, d->home);
    if (demo__recent_payers(d, PAYERS_WINDOW_US, PAYERS_MIN, &d->payers, &d->npayers, err))
        return err->code;
    if (d->npayers == 0)
        return skiff_err_set(err, SKIFF_EINTERNAL, "no payment in %s/transactions.csv", d->data);
    show = d->npayers < SHOW_USERS ? d->npayers : SHOW_USERS;
    for (size_t i = 0; i < show; i++) {
        user_id(users[i], sizeof users[i], d->payers[i]);
        ptrs[i] = users[i];
    }
    snprintf(d->curl_user, sizeof d->curl_user, "%s", users[0]);
    demo__result(d, "·", -1, "%zu users paid in the data's last hour (the drifted tail): the "
                 "traffic of this stage and the next two", d->npayers);
    if (demo__infer(d, ptrs, show, scores, d->stable_rev, sizeof d->stable_rev, err))
        return err->code;
    for (size_t i = 0; i < show; i++)
        if (!(scores[i] >= 0 && scores[i] <= 1))
            return skiff_err_set(err, SKIFF_EINTERNAL, "%s scored %g: not a probability",
                                 users[i], scores[i]);
    demo__result(d, "·", -1, "POST /v2/models/%s/infer {\"user_id\": [\"%s\", ... %zu users]} -> "
                 "P(fraud) %.3g for %s, by %s", ISVC, users[0], show, scores[0], users[0],
                 d->stable_rev);
    d->served = true;
    return 0;
}

/* ---- canary ---- */

/* Trains, evaluates and registers the challenger: the pipeline's commands
 * on the pipeline's training data, other XGBoost parameters. */
static int challenger(struct demo *d, struct skiff_err *err)
{
    char dir[DEMO_PATH_MAX + 32], runf[DEMO_PATH_MAX + 64], verf[DEMO_PATH_MAX + 64],
        aucf[DEMO_PATH_MAX + 64], train[DEMO_PATH_MAX + 32], holdout[DEMO_PATH_MAX + 32];
    char *run = NULL, *ver = NULL, *auc = NULL;
    int rc = 0;

    demo__path_join(dir, sizeof dir, d->logs, "challenger");
    demo__path_join(runf, sizeof runf, dir, "run-id");
    demo__path_join(verf, sizeof verf, dir, "version");
    demo__path_join(aucf, sizeof aucf, dir, "auc");
    demo__path_join(train, sizeof train, d->data, "features-train.csv");
    demo__path_join(holdout, sizeof holdout, d->data, "features-holdout.csv");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return skiff_err_sys(err, SKIFF_EIO, "cannot create '%s'", dir);
    {
        char *a[] = {"train", "--data", train, "--label", "is_fraud", "--experiment",
                     "fraud-detector", "--run-name", "challenger", "--run-id-out", runf,
                     "max_depth=4", "eta=0.2", "seed=7", NULL};
        demo__progress(d, "skiff train (the challenger: max_depth=4 eta=0.2 seed=7)");
        if (demo__command(d, "challenger-train.log", NULL, a, err))
            return err->code;
    }
    if (!(run = demo__read_small(runf)) || !*run) {
        free(run);
        return skiff_err_set(err, SKIFF_EINTERNAL, "skiff train wrote no run id to %s", runf);
    }
    {
        char *a[] = {"evaluate", "--run", run, "--data", holdout, "--label", "is_fraud",
                     "--out-dir", dir, NULL};
        char *r[] = {"register", "--run", run, "--name", "fraud-detector", "--alias",
                     "challenger", "--version-out", verf, NULL};
        demo__progress(d, "skiff evaluate, skiff register (the challenger)");
        if (demo__command(d, "challenger-evaluate.log", NULL, a, err) ||
            demo__command(d, "challenger-register.log", NULL, r, err))
            rc = err->code;
    }
    if (rc == 0 && (!(ver = demo__read_small(verf)) || !*ver || !(auc = demo__read_small(aucf))))
        rc = skiff_err_set(err, SKIFF_EINTERNAL, "the challenger left no version or AUC in %s",
                           dir);
    if (rc == 0) {
        snprintf(d->canary_version, sizeof d->canary_version, "%s", ver);
        snprintf(d->canary_auc, sizeof d->canary_auc, "%s", auc);
        demo__result(d, "·", -1, "challenger: skiff train max_depth=4 eta=0.2 seed=7 -> run %.12s, "
                     "AUC %s on the holdout day (champion %s); registered as version %s, alias "
                     "challenger", run, auc, d->auc, ver);
    }
    free(run);
    free(ver);
    free(auc);
    return rc;
}

/* Waits (up to `secs`) until the traffic gives `rev` `percent` percent; 0 or
 * a timeout error. */
static int wait_traffic(struct demo *d, const char *rev, int percent, int secs,
                        struct skiff_err *err)
{
    int64_t deadline = skiff_time_mono_us() + secs * 1000000LL;
    while (!demo__stop && skiff_time_mono_us() < deadline) {
        json_t *isvc;
        const json_t *pred = predictor_status(&isvc);
        bool done;
        if (!*rev && pred && strcmp(demo__str(pred, "latestReadyRevision"), d->stable_rev) != 0 &&
            strcmp(demo__str(pred, "latestReadyRevision"),
                   demo__str(pred, "latestCreatedRevision")) == 0)
            snprintf(d->canary_rev, sizeof d->canary_rev, "%s",
                     demo__str(pred, "latestReadyRevision"));
        done = pred && *(*rev ? rev : d->canary_rev) &&
               traffic_of(pred, *rev ? rev : d->canary_rev) == percent;
        json_decref(isvc);
        if (done)
            return 0;
        sleep_ms(100);
    }
    return skiff_err_set(err, SKIFF_ETIMEDOUT, "InferenceService %s: %s does not get %d%% of "
                         "the traffic after %d s (skiff get isvc %s -o yaml; %s/up.log)", ISVC,
                         *rev ? rev : "the new revision", percent, secs, ISVC, d->home);
}

/* CANARY_REQUESTS requests of one user each; counts who answered. */
static int canary_traffic(struct demo *d, struct skiff_err *err)
{
    double sum[2] = {0, 0};
    d->canary_hits[0] = d->canary_hits[1] = 0;
    d->canary_sent = d->canary_errors = 0;
    for (unsigned i = 0; i < CANARY_REQUESTS && !demo__stop; i++) {
        struct skiff_err e = SKIFF_ERR_INIT;
        char user[16], rev[64], *p = user;
        double score;
        user_id(user, sizeof user, d->payers[i % d->npayers]);
        d->canary_sent++;
        if (i % 25 == 0)
            demo__progress(d, "%u/%d requests: %u stable, %u canary", i, CANARY_REQUESTS,
                           d->canary_hits[0], d->canary_hits[1]);
        if (demo__infer(d, &p, 1, &score, rev, sizeof rev, &e) != 0) {
            d->canary_errors++;
            if (e.code == SKIFF_EUNAVAIL) {
                *err = e;
                return err->code;
            }
            continue;
        }
        if (strcmp(rev, d->canary_rev) == 0)
            d->canary_hits[1]++, sum[1] += score;
        else if (strcmp(rev, d->stable_rev) == 0)
            d->canary_hits[0]++, sum[0] += score;
        else
            d->canary_errors++;   /* a third revision: not this canary's split */
    }
    for (int k = 0; k < 2; k++)
        d->canary_mean[k] = d->canary_hits[k] ? sum[k] / d->canary_hits[k] : 0;
    return demo__stop ? skiff_err_set(err, SKIFF_EINTERNAL, "interrupted") : 0;
}

int demo__canary(struct demo *d, struct skiff_err *err)
{
    char storage[96], why[200];
    double bar = strtod(d->auc_threshold, NULL), auc, champ = strtod(d->auc, NULL);
    int64_t t0;

    if (!d->served)
        return DEMO_SKIPPED;
    if (challenger(d, err))
        return err->code;
    snprintf(storage, sizeof storage, "models:/fraud-detector/%s", d->canary_version);
    d->canary_rev[0] = '\0';
    demo__progress(d, "InferenceService %s: canaryTrafficPercent %d, %s", ISVC, CANARY_PERCENT,
                   storage);
    if (apply_isvc(d, storage, CANARY_PERCENT, err) ||
        wait_traffic(d, "", CANARY_PERCENT, 30, err))
        return err->code;
    demo__result(d, "·", -1, "InferenceService %s: storageUri %s, canaryTrafficPercent %d -> "
                 "%s", ISVC, storage, CANARY_PERCENT, d->canary_rev);
    d->canary_ran = true;
    t0 = skiff_time_mono_us();
    if (canary_traffic(d, err))
        return err->code;
    demo__result(d, "·", skiff_time_mono_us() - t0, "%u requests: %s %u (%.1f%%, mean score %.4f), %s %u (%.1f%%, mean "
                 "score %.4f), %u failed", d->canary_sent, d->stable_rev, d->canary_hits[0],
                 100.0 * d->canary_hits[0] / d->canary_sent, d->canary_mean[0], d->canary_rev,
                 d->canary_hits[1], 100.0 * d->canary_hits[1] / d->canary_sent,
                 d->canary_mean[1], d->canary_errors);

    /* the analysis: the canary must answer, without errors, and be at least
     * as good as the champion on the same holdout day */
    auc = strtod(d->canary_auc, NULL);
    snprintf(d->champion_auc, sizeof d->champion_auc, "%s", d->auc);
    if (d->canary_errors)
        snprintf(why, sizeof why, "%u of %u requests failed", d->canary_errors, d->canary_sent);
    else if (d->canary_hits[1] == 0)
        snprintf(why, sizeof why, "the canary answered none of %u requests", d->canary_sent);
    else if (!(auc > bar))
        snprintf(why, sizeof why, "its AUC %s is not above the bar %s", d->canary_auc,
                 d->auc_threshold);
    else if (auc < champ)
        snprintf(why, sizeof why, "its AUC %s is below the champion's %s", d->canary_auc,
                 d->auc);
    else
        why[0] = '\0';
    d->promoted = why[0] == '\0';
    if (d->promoted) {
        char *a[] = {"models", "alias", "fraud-detector", d->canary_version, "champion", NULL};
        snprintf(d->canary_why, sizeof d->canary_why, "no failed request and AUC %s >= the "
                 "champion's %s", d->canary_auc, d->auc);
        /* promotion: the canary's spec without canaryTrafficPercent takes
         * 100%, and the registry's champion follows */
        if (apply_isvc(d, storage, -1, err) || wait_traffic(d, d->canary_rev, 100, 30, err) ||
            demo__command(d, "challenger-promote.log", NULL, a, err))
            return err->code;
        snprintf(d->model_version, sizeof d->model_version, "%s", d->canary_version);
        snprintf(d->auc, sizeof d->auc, "%s", d->canary_auc);
        demo__result(d, "·", -1, "promoted: %s; %s takes 100%%, alias champion -> version %s",
                     d->canary_why, d->canary_rev, d->canary_version);
    } else {
        snprintf(d->canary_why, sizeof d->canary_why, "%s", why);
        /* rollback: canaryTrafficPercent 0 sends everything to the stable side */
        if (apply_isvc(d, storage, 0, err) || wait_traffic(d, d->stable_rev, 100, 30, err))
            return err->code;
        demo__result(d, "·", -1, "rolled back: %s; %s takes 100%% again", why, d->stable_rev);
    }
    return 0;
}
