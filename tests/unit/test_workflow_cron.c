/* Unit tests for cron schedules (src/workflow/cron.c): fields, ranges,
 * steps, names, the day-of-month / day-of-week rule, time zones from the
 * TZ database across DST changes (expected instants computed with Python's
 * zoneinfo), and bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "skiff/err.h"
#include "skiff/workflow.h"
#include "skiff/yaml.h"

static int64_t next(const char *sched, const char *tz, int64_t after)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    int64_t t = 0;
    if (skiff_workflow_cron_next(sched, tz, after, &t, &e))
        fail_msg("'%s' in '%s': %s", sched, tz ? tz : "UTC", e.msg);
    return t;
}

#define H 3600
#define D 86400
#define T2026 1767225600   /* 2026-01-01T00:00:00Z, a Thursday */

static void test_fields(void **state)
{
    (void)state;
    assert_int_equal(next("*/15 * * * *", NULL, T2026 + 7 * 60), T2026 + 15 * 60);
    /* strictly after: a fire time is not its own next */
    assert_int_equal(next("*/15 * * * *", "", T2026 + 15 * 60), T2026 + 30 * 60);
    assert_int_equal(next("* * * * *", NULL, T2026 + 30), T2026 + 60);
    assert_int_equal(next("0 9 * * *", NULL, T2026), T2026 + 9 * H);
    assert_int_equal(next("5,10 1-3/2 * * *", NULL, T2026 + H + 6 * 60), T2026 + H + 10 * 60);
    assert_int_equal(next("5,10 1-3/2 * * *", NULL, T2026 + H + 11 * 60), T2026 + 3 * H + 300);
    assert_int_equal(next("10/20 * * * *", NULL, T2026), T2026 + 600);
    assert_int_equal(next("10/20 * * * *", NULL, T2026 + 600), T2026 + 1800);
    /* names; Jan 1 2026 is a Thursday: the next Monday is Jan 5 */
    assert_int_equal(next("0 0 * JAN mon", NULL, T2026), T2026 + 4 * D);
    assert_int_equal(next("0 0 * * SUN,SAT", NULL, T2026), T2026 + 2 * D);
    assert_int_equal(next("0 0 * * 7", NULL, T2026), T2026 + 3 * D);   /* 7 = Sunday */
    assert_int_equal(next("0 0 1 FEB *", NULL, T2026), T2026 + 31 * D);
    assert_int_equal(next("@daily", NULL, T2026), T2026 + D);
    assert_int_equal(next("@hourly", NULL, T2026), T2026 + H);
    assert_int_equal(next("@every 1h30m", "America/New_York", T2026 + 17), T2026 + 17 + 90 * 60);
    assert_int_equal(next("@yearly", NULL, T2026), 1798761600);        /* 2027-01-01 */
    /* both day fields restricted: either matches (Fri Jan 2 before the 13th) */
    assert_int_equal(next("0 0 13 * FRI", NULL, T2026), T2026 + D);
    /* one of them '*': both must match (any weekday: Jan 13) */
    assert_int_equal(next("0 0 13 * *", NULL, T2026), T2026 + 12 * D);
    assert_int_equal(next("0 0 29 2 *", NULL, T2026), 1835395200);     /* 2028-02-29 */
}

static void test_zones(void **state)
{
    (void)state;
    /* tzdata comes with scripts/install-deps.sh */
    assert_int_equal(access("/usr/share/zoneinfo/America/New_York", R_OK), 0);
    /* 02:30 EST, then no 02:30 on the spring-forward day, then 02:30 EDT */
    assert_int_equal(next("30 2 * * *", "America/New_York", 1772841600), 1772868600);
    assert_int_equal(next("30 2 * * *", "America/New_York", 1772868600), 1773037800);
    /* 01:30 comes twice on 2026-11-01: fired once, at the EDT one */
    assert_int_equal(next("30 1 * * *", "America/New_York", 1793448000), 1793511000);
    assert_int_equal(next("30 1 * * *", "America/New_York", 1793511000), 1793601000);
    /* midnight right after a day with a spring-forward is not skipped */
    assert_int_equal(next("0 0 9 3 *", "America/New_York", 1772946000), 1773028800);
    /* Berlin across its spring-forward (2026-03-29) */
    assert_int_equal(next("0 0 * * *", "Europe/Berlin", 1774699200), 1774738800);
    assert_int_equal(next("0 0 * * *", "Europe/Berlin", 1774738800), 1774821600);
    /* past the file's last transition (2037): the zone's POSIX rule */
    assert_int_equal(next("0 12 4 7 *", "America/New_York", 2224713600), 2225030400);
}

static void test_bad(void **state)
{
    static const char *const bad[] = {
        "", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *",
        "* * * 13 *", "* * * * 8", "*/0 * * * *", "5-1 * * * *", "a * * * *",
        "* * * FOO *", "0 0 * * SAT-SUN", "@every", "@every 5x", "@every 0s", "@sometimes", "1,,2 * * * *", "1- * * * *",
    };
    struct skiff_err e = SKIFF_ERR_INIT;
    int64_t t;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (skiff_workflow_cron_check(bad[i], NULL, &e) != SKIFF_EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
    assert_int_equal(skiff_workflow_cron_check("* * * * *", "Mars/Olympus", &e), SKIFF_EINVAL);
    assert_non_null(strstr(e.msg, "unknown time zone 'Mars/Olympus'"));
    assert_int_equal(skiff_workflow_cron_check("* * * * *", "../../etc/passwd", &e),
                     SKIFF_EINVAL);
    assert_int_equal(skiff_workflow_cron_check("* * * * *", "/etc/passwd", &e), SKIFF_EINVAL);
    assert_int_equal(skiff_workflow_cron_next("0 0 30 2 *", NULL, T2026, &t, &e),
                     SKIFF_ENOTFOUND);
    assert_int_equal(skiff_workflow_cron_check("0 0 * * *", "UTC", &e), 0);
}

static const char *const CRON =
    "apiVersion: argoproj.io/v1alpha1\n"
    "kind: CronWorkflow\n"
    "metadata: {name: nightly}\n"
    "spec:\n"
    "  schedules: ['*/5 * * * *', '0 3 * * *']\n"
    "  timezone: %s\n"
    "  concurrencyPolicy: %s\n"
    "  startingDeadlineSeconds: 60\n"
    "  workflowMetadata: {labels: {team: fraud}}\n"
    "  workflowSpec:\n"
    "    entrypoint: main\n"
    "    templates:\n"
    "    - name: main\n"
    "      container: {image: x, command: [echo, '{{workflow.scheduledTime}}']}\n";

static int cron_load(const char *tz, const char *policy, struct skiff_workflow_cron **c,
                     struct skiff_err *e)
{
    char y[2048];
    struct skiff_yaml_docs *docs = NULL;
    int rc;
    snprintf(y, sizeof y, CRON, tz, policy);
    assert_int_equal(skiff_yaml_parse(y, strlen(y), "cron.yaml", &docs, e), 0);
    rc = skiff_workflow_cron_load(skiff_yaml_doc(docs, 0), docs, 0, c, e);
    skiff_yaml_free(docs);
    return rc;
}

static void test_cron_workflow(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_workflow_cron *c = NULL;
    struct skiff_workflow *wf = NULL;
    const int64_t noon = T2026 + 12 * H;
    char text[600];
    int64_t fire;
    json_t *child;
    (void)state;

    assert_int_equal(cron_load("UTC", "Forbid", &c, &e), 0);
    assert_string_equal(c->name, "nightly");
    assert_int_equal(c->concurrency, SKIFF_WORKFLOW_FORBID);
    assert_int_equal(c->starting_deadline, 60);
    assert_int_equal(json_array_size(c->schedules), 2);
    /* due: the latest time in (last, now] within the deadline */
    assert_int_equal(skiff_workflow_cron_due(c, noon, noon + 4 * 60, &fire, &e), 0);
    assert_int_equal(fire, 0);
    assert_int_equal(skiff_workflow_cron_due(c, noon, noon + 5 * 60 + 30, &fire, &e), 0);
    assert_int_equal(fire, noon + 5 * 60);
    /* already handled */
    assert_int_equal(skiff_workflow_cron_due(c, noon + 5 * 60, noon + 5 * 60 + 30, &fire, &e),
                     0);
    assert_int_equal(fire, 0);
    /* missed by more than startingDeadlineSeconds: nothing, no catch-up of older ones */
    assert_int_equal(skiff_workflow_cron_due(c, noon, noon + 16 * 60 + 10, &fire, &e), 0);
    assert_int_equal(fire, 0);
    /* the second schedule */
    assert_int_equal(skiff_workflow_cron_due(c, T2026 + 3 * H - 1, T2026 + 3 * H + 1, &fire, &e),
                     0);
    assert_int_equal(fire, T2026 + 3 * H);
    {
        /* @every counts from the last firing */
        json_t *every = json_pack("[s]", "@every 10m");
        const json_t *saved = c->schedules;
        c->schedules = every;
        assert_int_equal(skiff_workflow_cron_due(c, noon, noon + 9 * 60, &fire, &e), 0);
        assert_int_equal(fire, 0);
        assert_int_equal(skiff_workflow_cron_due(c, noon, noon + 10 * 60 + 5, &fire, &e), 0);
        assert_int_equal(fire, noon + 10 * 60);
        c->schedules = saved;
        json_decref(every);
    }
    /* the child */
    child = skiff_workflow_cron_child(c, T2026 + 3 * H);
    assert_non_null(child);
    assert_string_equal(json_string_value(json_object_get(json_object_get(child, "metadata"),
                                                          "name")),
                        "nightly-1767236400");
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(child, "metadata"), "annotations"),
            SKIFF_WORKFLOW_SCHEDULED_TIME)),
        "2026-01-01T03:00:00Z");
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(child, "metadata"), "labels"), "team")),
        "fraud");
    assert_int_equal(skiff_workflow_load(child, NULL, 0, NULL, 0, &wf, &e), 0);
    assert_string_equal(skiff_workflow_name(wf), "nightly-1767236400");
    skiff_workflow_free(wf);
    json_decref(child);
    skiff_workflow_cron_free(c);

    assert_int_equal(cron_load("UTC", "Sometimes", &c, &e), SKIFF_EINVAL);
    skiff_err_format(&e, text, sizeof text);
    assert_non_null(strstr(text, "cron.yaml:7:22"));
    assert_non_null(strstr(text, "concurrencyPolicy must be Allow, Forbid or Replace"));
    assert_int_equal(cron_load("Mars/Olympus", "Allow", &c, &e), SKIFF_EINVAL);
    skiff_err_format(&e, text, sizeof text);
    assert_non_null(strstr(text, "cron.yaml:6:13"));
    assert_non_null(strstr(text, "unknown time zone 'Mars/Olympus'"));
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_zones),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_cron_workflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
