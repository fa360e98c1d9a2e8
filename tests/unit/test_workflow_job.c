/* Unit tests for `resource` templates (src/workflow/job.c): gjson dot paths,
 * Argo's label-selector conditions (spec §11.3), and the PyTorchJob model
 * (ranks, replicaStatuses, the operator's default verdict). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "skiff/err.h"
#include "workflow/workflow_int.h"

static const char *const OBJ =
    "{\"metadata\": {\"name\": \"job-1\", \"labels\": {\"team\": \"fraud\"}},"
    " \"status\": {\"replicaStatuses\": {\"Worker\": {\"succeeded\": 2, \"failed\": 0},"
    "                                   \"Master\": {\"active\": 1}},"
    "             \"phase\": \"Running\", \"ok\": true, \"list\": [\"a\", \"b\"]}}";

static void test_json_path(void **state)
{
    json_t *o = json_loads(OBJ, 0, NULL);
    (void)state;
    assert_int_equal(json_integer_value(workflow__json_path(
                         o, "status.replicaStatuses.Worker.succeeded")), 2);
    assert_string_equal(json_string_value(workflow__json_path(o, "status.list.1")), "b");
    assert_null(workflow__json_path(o, "status.list.9"));
    assert_null(workflow__json_path(o, "status.phase.x"));
    assert_null(workflow__json_path(o, "nope"));
    json_decref(o);
}

static void test_conditions(void **state)
{
    static const struct {
        const char *cond;
        bool any, want;
    } cases[] = {
        /* the seed's forms, with spaces around the operator */
        {"status.replicaStatuses.Worker.succeeded == 2", false, true},
        {"status.replicaStatuses.Worker.succeeded == 3", false, false},
        {"status.replicaStatuses.Worker.failed > 0", true, false},
        {"status.replicaStatuses.Worker.succeeded>1", false, true},
        {"status.replicaStatuses.Worker.succeeded < 2", false, false},
        /* = and !=, text comparison */
        {"status.phase=Running", false, true},
        {"status.phase != Running", false, false},
        {"status.missing != x", false, true},   /* != holds for a missing key */
        {"status.missing = x", false, false},
        /* sets */
        {"status.phase in (Pending, Running)", false, true},
        {"status.phase notin (Pending,Running)", false, false},
        {"status.missing notin (a)", false, true},
        /* existence */
        {"metadata.labels.team", false, true},
        {"!metadata.labels.owner", false, true},
        {"!status.phase", false, false},
        /* booleans are text; > needs integers on both sides */
        {"status.ok == true", false, true},
        {"status.phase > 1", false, false},
        /* comma is AND for success, any-of for failure */
        {"status.phase=Running, status.replicaStatuses.Worker.succeeded == 3", false, false},
        {"status.phase=Done, status.replicaStatuses.Worker.succeeded == 2", true, true},
    };
    json_t *o = json_loads(OBJ, 0, NULL);
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct skiff_err e = SKIFF_ERR_INIT;
        char which[128];
        bool got;
        if (workflow__cond_eval(cases[i].cond, o, cases[i].any, &got, which, sizeof which, &e))
            fail_msg("'%s': %s", cases[i].cond, e.msg);
        if (got != cases[i].want)
            fail_msg("'%s' gave %d", cases[i].cond, got);
    }
    {
        /* the matching failure requirement is named, as written */
        struct skiff_err e = SKIFF_ERR_INIT;
        char which[128];
        bool got;
        assert_int_equal(workflow__cond_eval("status.phase=Done,  status.ok == true ", o, true,
                                             &got, which, sizeof which, &e), 0);
        assert_true(got);
        assert_string_equal(which, "status.ok == true");
    }
    json_decref(o);
}

static void test_condition_syntax(void **state)
{
    static const char *const bad[] = {
        "", "   ", "status.x in (a,", "status.x in a", "== 3", "status.x == 3,",
        "status.x == 3 4", "status.x ~ 3",
        "status.x == aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct skiff_err e = SKIFF_ERR_INIT;
        if (workflow__cond_check(bad[i], &e) == 0)
            fail_msg("'%s' was accepted", bad[i]);
    }
    assert_int_equal(workflow__cond_check("a.b == 1, !c, d in (x, y), e notin (z), f", NULL),
                     0);
}

static void test_job_model(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct workflow__job *j = NULL;
    json_t *o = json_loads(
        "{\"apiVersion\": \"kubeflow.org/v1\", \"kind\": \"PyTorchJob\","
        " \"metadata\": {\"name\": \"j\"}, \"spec\": {\"pytorchReplicaSpecs\": {"
        "  \"Worker\": {\"replicas\": 2, \"template\": {\"spec\": {\"containers\": ["
        "    {\"command\": [\"w\"]}]}}},"
        "  \"Master\": {\"replicas\": 1, \"template\": {\"spec\": {\"containers\": ["
        "    {\"command\": [\"m\"]}]}}}}}}",
        0, NULL);
    const json_t *rs;
    (void)state;

    assert_true(workflow__job_kind(o));
    assert_int_equal(workflow__job_parse(o, &j, &e), 0);
    assert_int_equal(j->n, 3);
    /* the Master is rank 0 whatever the order in the file */
    assert_string_equal(j->reps[0].type, "Master");
    assert_int_equal(j->reps[0].rank, 0);
    assert_string_equal(j->reps[2].type, "Worker");
    assert_int_equal(j->reps[2].rank, 2);
    assert_int_equal(j->reps[2].index, 1);
    rs = workflow__json_path(j->obj, "status.replicaStatuses.Worker");
    assert_int_equal(json_integer_value(json_object_get(rs, "active")), 2);
    assert_int_equal(workflow__job_default_result(j), 0);
    j->reps[1].exited = j->reps[1].ok = true;
    j->reps[2].exited = true;   /* failed */
    workflow__job_update(j);
    rs = workflow__json_path(j->obj, "status.replicaStatuses.Worker");
    assert_int_equal(json_integer_value(json_object_get(rs, "succeeded")), 1);
    assert_int_equal(json_integer_value(json_object_get(rs, "failed")), 1);
    assert_int_equal(json_integer_value(json_object_get(rs, "active")), 0);
    assert_int_equal(workflow__job_default_result(j), -1);
    j->reps[2].ok = true;
    assert_int_equal(workflow__job_default_result(j), 0);  /* the Master decides */
    j->reps[0].exited = j->reps[0].ok = true;
    assert_int_equal(workflow__job_default_result(j), 1);
    workflow__job_free(j);

    /* bad specs are errors, and the object stays the caller's */
    o = json_loads("{\"spec\": {\"pytorchReplicaSpecs\": {\"Chief\": {}}}}", 0, NULL);
    assert_int_equal(workflow__job_parse(o, &j, &e), SKIFF_EINVAL);
    assert_non_null(strstr(e.msg, "'Chief'"));
    json_decref(o);
    o = json_loads("{\"spec\": {\"pytorchReplicaSpecs\": {\"Worker\": {\"replicas\": 1,"
                   " \"template\": {\"spec\": {\"containers\": [{\"args\": [\"x\"]}]}}}}}}",
                   0, NULL);
    assert_int_equal(workflow__job_parse(o, &j, &e), SKIFF_EINVAL);
    assert_non_null(strstr(e.msg, "command is required"));
    json_decref(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_path),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_condition_syntax),
        cmocka_unit_test(test_job_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
