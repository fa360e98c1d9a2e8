/* CronWorkflows (include/skiff/workflow.h): loading, which scheduled time
 * is due, and the child Workflow a firing creates. The schedule arithmetic
 * is cron.c's; this file keeps no state (the scheduler, in the controller,
 * remembers the last scheduled time it handled).
 *
 * Worked example of skiff_workflow_cron_due: schedules ["*\/5 * * * *"],
 * startingDeadlineSeconds 60, last = 12:00:00, now = 12:16:10. The times in
 * (last, now] are 12:05, 12:10, 12:15; the latest, 12:15, is 70 s old: past
 * the deadline, so nothing fires (*fire = 0) and the caller moves last to
 * now. At now = 12:15:30 it would fire 12:15 (30 s old); 12:05 and 12:10
 * are never caught up (at most one catch-up run, as Argo).
 */
#include "workflow_int.h"

#include "skiff/err.h"
#include "skiff/log.h"
#include "skiff/resource.h"
#include "skiff/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLACK_S 60   /* without startingDeadlineSeconds: how late a firing may be */

/* The most recent fire time of `sched` in (after, now], or 0. */
static int latest(const char *sched, const char *tz, int64_t after, int64_t now, int64_t *out,
                  struct skiff_err *err)
{
    int64_t t = after, n;
    int rc;

    *out = 0;
    /* walk from late enough that at most a few steps remain: fire times
     * older than the deadline window do not matter */
    for (;;) {
        rc = skiff_workflow_cron_next(sched, tz, t, &n, err);
        if (rc == SKIFF_ENOTFOUND) {
            skiff_err_clear(err);
            return 0;
        }
        if (rc)
            return rc;
        if (n > now)
            return 0;
        *out = n;
        t = n;
    }
}

int skiff_workflow_cron_due(const struct skiff_workflow_cron *c, int64_t last, int64_t now,
                            int64_t *fire, struct skiff_err *err)
{
    int64_t window = c->starting_deadline > 0 ? c->starting_deadline : SLACK_S;
    int64_t from = last, best = 0;
    const json_t *s;
    size_t i;
    int rc;

    *fire = 0;
    /* only times inside the window can fire: start the walk just before it */
    if (now - window - 1 > from)
        from = now - window - 1;
    json_array_foreach(c->schedules, i, s) {
        const char *sched = json_string_value(s);
        int64_t t;
        if (sched && strncmp(sched, "@every ", 7) == 0) {
            /* counted from the last firing: last + k * every <= now */
            int64_t n;
            if ((rc = skiff_workflow_cron_next(sched, c->timezone, last, &n, err)))
                return rc;
            t = n <= now ? last + (now - last) / (n - last) * (n - last) : 0;
        } else if ((rc = latest(sched, c->timezone, from, now, &t, err))) {
            return rc;
        }
        if (t > best)
            best = t;
    }
    if (best && best > last && now - best <= window)
        *fire = best;
    return 0;
}

json_t *skiff_workflow_cron_child(const struct skiff_workflow_cron *c, int64_t fire)
{
    const json_t *spec = json_object_get(c->obj, "spec");
    const json_t *wm = json_object_get(spec, "workflowMetadata");
    json_t *labels = json_deep_copy(json_object_get(wm, "labels"));
    json_t *ann = json_deep_copy(json_object_get(wm, "annotations"));
    json_t *ws = json_deep_copy(json_object_get(spec, "workflowSpec"));
    const char *ns = json_string_value(json_object_get(json_object_get(c->obj, "metadata"),
                                                       "namespace"));
    char name[300], when[40];

    if (!json_is_object(labels)) {
        json_decref(labels);
        labels = json_object();
    }
    if (!json_is_object(ann)) {
        json_decref(ann);
        ann = json_object();
    }
    snprintf(name, sizeof name, "%s-%lld", c->name, (long long)fire);
    /* Argo writes the scheduled time in RFC 3339 without fractions */
    skiff_time_format(fire * SKIFF_US_PER_SEC, when, sizeof when);
    if (strlen(when) > 20 && when[19] == '.')
        snprintf(when + 19, sizeof when - 19, "Z");
    json_object_set_new(labels, "workflows.argoproj.io/cron-workflow", json_string(c->name));
    json_object_set_new(ann, SKIFF_WORKFLOW_SCHEDULED_TIME, json_string(when));
    if (!ws || !labels || !ann) {
        json_decref(ws);
        json_decref(labels);
        json_decref(ann);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:o, s:o}, s:o}", "apiVersion",
                     "argoproj.io/v1alpha1", "kind", "Workflow", "metadata", "name", name,
                     "namespace", ns ? ns : "default", "labels", labels, "annotations", ann,
                     "spec", ws);
}

int skiff_workflow_cron_load(const json_t *obj, const struct skiff_yaml_docs *docs,
                             size_t doc_index, struct skiff_workflow_cron **out,
                             struct skiff_err *err)
{
    struct skiff_validation v = {.docs = docs, .doc_index = doc_index, .err = err};
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_workflow_cron *c = NULL;
    struct skiff_workflow *probe = NULL;
    const struct skiff_kind *kind;
    const json_t *spec, *s, *cp, *sd;
    json_t *child = NULL;
    char p[WORKFLOW__PTR_MAX];
    size_t i;
    int rc;

    *out = NULL;
    skiff_err_clear(err);
    if ((rc = skiff_resource_validate(obj, &v, &kind)))
        goto out;
    if (strcmp(kind->kind, "CronWorkflow") != 0) {
        rc = skiff_validation_fail(&v, "/kind", SKIFF_EINVAL, "expected a CronWorkflow, not a %s",
                                   kind->kind);
        goto out;
    }
    if (!(c = calloc(1, sizeof *c)) || !(c->obj = json_deep_copy(obj))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    spec = json_object_get(c->obj, "spec");
    c->name = json_string_value(json_object_get(json_object_get(c->obj, "metadata"), "name"));
    if (!c->name) {
        rc = skiff_validation_fail(&v, "/metadata/name", SKIFF_EINVAL,
                                   "a CronWorkflow needs metadata.name (its children are named "
                                   "after it)");
        goto out;
    }
    c->timezone = json_string_value(json_object_get(spec, "timezone"));
    c->schedules = json_object_get(spec, "schedules");
    if (json_array_size(c->schedules) == 0) {
        /* the pre-4.0 singular form: one schedule */
        json_object_set_new((json_t *)spec, "schedules",
                            json_pack("[O]", json_object_get(spec, "schedule")));
        c->schedules = json_object_get(spec, "schedules");
    }
    json_array_foreach(c->schedules, i, s) {
        bool singular = !json_object_get(json_object_get(obj, "spec"), "schedules") ||
                        json_array_size(json_object_get(json_object_get(obj, "spec"),
                                                        "schedules")) == 0;
        if (singular)
            snprintf(p, sizeof p, "/spec/schedule");
        else
            workflow__ptr_idx(p, "/spec/schedules", i);
        if (skiff_workflow_cron_check(json_string_value(s), NULL, &e)) {
            rc = skiff_validation_fail(&v, p, SKIFF_EINVAL, "%s", e.msg);
            goto out;
        }
    }
    if (c->timezone && skiff_workflow_cron_check("* * * * *", c->timezone, &e)) {
        rc = skiff_validation_fail(&v, "/spec/timezone", SKIFF_EINVAL, "%s", e.msg);
        goto out;
    }
    cp = json_object_get(spec, "concurrencyPolicy");
    if (!cp || strcmp(json_string_value(cp) ? json_string_value(cp) : "", "Allow") == 0) {
        c->concurrency = SKIFF_WORKFLOW_ALLOW;
    } else if (json_string_value(cp) && strcmp(json_string_value(cp), "Forbid") == 0) {
        c->concurrency = SKIFF_WORKFLOW_FORBID;
    } else if (json_string_value(cp) && strcmp(json_string_value(cp), "Replace") == 0) {
        c->concurrency = SKIFF_WORKFLOW_REPLACE;
    } else {
        rc = skiff_validation_fail(&v, "/spec/concurrencyPolicy", SKIFF_EINVAL,
                                   "concurrencyPolicy must be Allow, Forbid or Replace");
        goto out;
    }
    sd = json_object_get(spec, "startingDeadlineSeconds");
    if (sd && (!json_is_integer(sd) || json_integer_value(sd) < 0)) {
        rc = skiff_validation_fail(&v, "/spec/startingDeadlineSeconds", SKIFF_EINVAL,
                                   "startingDeadlineSeconds must be a whole number >= 0");
        goto out;
    }
    c->starting_deadline = sd ? (int64_t)json_integer_value(sd) : 0;
    c->suspend = json_is_true(json_object_get(spec, "suspend"));
    /* the engine's checks on the Workflow a firing would make (positions
     * are then relative to spec.workflowSpec: the message says so) */
    if (!(child = skiff_workflow_cron_child(c, 0))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = skiff_workflow_load(child, NULL, 0, NULL, 0, &probe, err))) {
        skiff_err_prefix(err, "spec.workflowSpec");
        goto out;
    }
    *out = c;
    c = NULL;
out:
    for (size_t k = 0; k < v.nwarnings; k++)
        skiff_warn("%s", v.warnings[k]);
    skiff_validation_release(&v);
    skiff_workflow_free(probe);
    json_decref(child);
    skiff_workflow_cron_free(c);
    return rc;
}

void skiff_workflow_cron_free(struct skiff_workflow_cron *c)
{
    if (!c)
        return;
    json_decref(c->obj);
    free(c);
}
