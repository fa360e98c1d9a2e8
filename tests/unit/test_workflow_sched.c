/* Unit tests for the resource ledger (src/workflow/sched.c): the GPU
 * inventory from SKIFF_GPUS, whole-device grants never shared, cpu and
 * memory accounted per pool, node pools from SKIFF_POOLS picked by
 * nodeSelector and tolerations, the Pending reasons, and two workflows run
 * side by side in one process sharing one GPU. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/err.h"
#include "skiff/workflow.h"
#include "skiff/yaml.h"
#include "testutil.h"
#include "workflow/workflow_int.h"

static void env(const char *gpus, const char *pools)
{
    if (gpus)
        setenv("SKIFF_GPUS", gpus, 1);
    else
        unsetenv("SKIFF_GPUS");
    if (pools)
        setenv("SKIFF_POOLS", pools, 1);
    else
        unsetenv("SKIFF_POOLS");
    workflow__sched_reset();
}

static json_t *js(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_request_parse(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct workflow__request r = {0};
    json_t *res;
    (void)state;

    /* requests win over limits; limits stand in for missing requests */
    res = js("{\"limits\": {\"memory\": \"1Gi\", \"cpu\": \"2\", \"nvidia.com/gpu\": 2},"
             " \"requests\": {\"cpu\": \"500m\"}}");
    assert_int_equal(workflow__request_parse(res, &r, &e), 0);
    assert_true(r.cpu > 0.499 && r.cpu < 0.501);
    assert_int_equal(r.memory, 1073741824);
    assert_int_equal(r.gpus, 2);
    json_decref(res);
    assert_int_equal(workflow__request_parse(NULL, &r, &e), 0);
    assert_int_equal(r.gpus, 0);
    assert_int_equal(r.memory, 0);
    res = js("{\"limits\": {\"nvidia.com/gpu\": \"0.5\"}}");
    assert_int_equal(workflow__request_parse(res, &r, &e), SKIFF_EINVAL);
    assert_non_null(strstr(e.msg, "whole number"));
    json_decref(res);
}

static void test_gpus_never_shared(void **state)
{
    struct workflow__request r = {.gpus = 1};
    struct workflow__grant a, b, c;
    char why[512];
    (void)state;

    env("0,1", NULL);
    assert_true(workflow__sched_has_gpus());
    assert_true(workflow__sched_acquire(&r, "wf-a/train", &a, why, sizeof why));
    assert_int_equal(a.ngpus, 1);
    assert_int_equal(a.gpus[0], 0);
    assert_true(workflow__sched_acquire(&r, "wf-b/train", &b, why, sizeof why));
    assert_int_equal(b.gpus[0], 1);
    assert_false(workflow__sched_acquire(&r, "wf-c/train", &c, why, sizeof why));
    assert_string_equal(why, "waiting for nvidia.com/gpu: 0 of 2 free, held by wf-a/train, "
                             "wf-b/train");
    workflow__sched_release(&a);
    workflow__sched_release(&a); /* released twice: a no-op */
    assert_true(workflow__sched_acquire(&r, "wf-c/train", &c, why, sizeof why));
    assert_int_equal(c.gpus[0], 0);
    workflow__sched_release(&b);
    workflow__sched_release(&c);

    env("", NULL);
    assert_false(workflow__sched_has_gpus());
    {
        struct skiff_err e = SKIFF_ERR_INIT;
        assert_int_equal(workflow__sched_check(&r, &e), SKIFF_EINVAL);
        assert_non_null(strstr(e.msg, "requests 1 nvidia.com/gpu but pool 'default' has 0"));
    }
    env("0,x", NULL);
    {
        struct skiff_err e = SKIFF_ERR_INIT;
        assert_int_equal(workflow__sched_check(&r, &e), SKIFF_EINVAL);
        assert_non_null(strstr(e.msg, "SKIFF_GPUS"));
    }
    env(NULL, NULL);
}

static void test_memory_cpu_accounting(void **state)
{
    struct workflow__request big = {.memory = 600LL << 20, .cpu = 1};
    struct workflow__request cpu = {.cpu = 1.5};
    struct workflow__grant a, b, c;
    struct skiff_err e = SKIFF_ERR_INIT;
    char why[512];
    (void)state;

    env("", "[{\"name\": \"small\", \"cpu\": \"2\", \"memory\": \"1Gi\"}]");
    assert_true(workflow__sched_acquire(&big, "w/a", &a, why, sizeof why));
    assert_false(workflow__sched_acquire(&big, "w/b", &b, why, sizeof why));
    assert_string_equal(why, "waiting for memory: 424Mi free in pool 'small', 600Mi requested");
    assert_false(workflow__sched_acquire(&cpu, "w/c", &c, why, sizeof why));
    assert_string_equal(why, "waiting for cpu: 1 free in pool 'small', 1.5 requested");
    workflow__sched_release(&a);
    assert_true(workflow__sched_acquire(&big, "w/b", &b, why, sizeof why));
    workflow__sched_release(&b);
    /* never fits: 2Gi in a 1Gi pool */
    big.memory = 2LL << 30;
    assert_int_equal(workflow__sched_check(&big, &e), SKIFF_EINVAL);
    assert_string_equal(e.msg, "requests 2Gi memory but pool 'small' has 1Gi");
    /* steps without requests always fit */
    {
        struct workflow__request none = {0};
        assert_true(workflow__sched_acquire(&none, "w/d", &c, why, sizeof why));
        workflow__sched_release(&c);
    }
    env(NULL, NULL);
}

static void test_pools_select(void **state)
{
    json_t *sel_gpu = js("{\"pool\": \"gpu\"}");
    json_t *tol = js("[{\"key\": \"gpu\", \"operator\": \"Exists\", \"effect\": \"NoSchedule\"}]");
    json_t *tol_wrong = js("[{\"key\": \"gpu\", \"value\": \"false\"}]");
    struct workflow__request r = {.memory = 1 << 20};
    struct workflow__grant g;
    struct skiff_err e = SKIFF_ERR_INIT;
    char why[512];
    (void)state;

    env("0,1", "[{\"name\": \"gpu\", \"gpus\": \"0,1\", \"memory\": \"2Gi\","
               "  \"labels\": {\"pool\": \"gpu\"},"
               "  \"taints\": [{\"key\": \"gpu\", \"value\": \"true\", \"effect\": \"NoSchedule\"}]},"
               " {\"name\": \"cpu\", \"memory\": \"1Gi\", \"labels\": {\"pool\": \"cpu\"}}]");
    /* untolerated taint: the cpu pool */
    assert_true(workflow__sched_acquire(&r, "w/a", &g, why, sizeof why));
    assert_string_equal(g.pool_name, "cpu");
    workflow__sched_release(&g);
    /* the selector names the gpu pool, whose taint is not tolerated */
    r.node_selector = sel_gpu;
    assert_false(workflow__sched_acquire(&r, "w/a", &g, why, sizeof why));
    assert_non_null(strstr(why, "no node pool matches"));
    assert_int_equal(workflow__sched_check(&r, &e), SKIFF_EINVAL);
    r.tolerations = tol_wrong;
    assert_false(workflow__sched_acquire(&r, "w/a", &g, why, sizeof why));
    r.tolerations = tol;
    r.gpus = 2;
    assert_true(workflow__sched_acquire(&r, "w/a", &g, why, sizeof why));
    assert_string_equal(g.pool_name, "gpu");
    assert_int_equal(g.ngpus, 2);
    workflow__sched_release(&g);
    /* a GPU request without the toleration: only the cpu pool, which has none */
    r.node_selector = NULL;
    r.tolerations = NULL;
    r.gpus = 1;
    assert_int_equal(workflow__sched_check(&r, &e), SKIFF_EINVAL);
    assert_non_null(strstr(e.msg, "pool 'cpu' has 0"));

    /* bad pool lists are load errors, not crashes */
    env("0", "{}");
    assert_int_equal(workflow__sched_check(&r, &e), SKIFF_EINVAL);
    env("0", "[{\"name\": \"a\", \"gpus\": \"3\"}]");
    assert_int_equal(workflow__sched_check(&r, &e), SKIFF_EINVAL);
    assert_non_null(strstr(e.msg, "not on this machine"));
    env("0", "[{\"name\": \"a\", \"gpus\": \"0\"}, {\"name\": \"b\", \"gpus\": \"0\"}]");
    assert_int_equal(workflow__sched_check(&r, &e), SKIFF_EINVAL);
    env("0", "[{\"name\": \"a\", \"memory\": \"lots\"}]");
    assert_int_equal(workflow__sched_check(&r, &e), SKIFF_EINVAL);
    env(NULL, NULL);
    json_decref(sel_gpu);
    json_decref(tol);
    json_decref(tol_wrong);
}

static const char *const gpu_wf =
    "apiVersion: argoproj.io/v1alpha1\n"
    "kind: Workflow\n"
    "metadata: {name: %s}\n"
    "spec:\n"
    "  entrypoint: train\n"
    "  templates:\n"
    "  - name: train\n"
    "    container:\n"
    "      image: x\n"
    "      command: [sh, -c, 'echo \"$CUDA_VISIBLE_DEVICES\"; sleep 0.3']\n"
    "      resources: {limits: {nvidia.com/gpu: 1}}\n";

static struct skiff_workflow *load_wf(const char *name)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_yaml_docs *docs = NULL;
    struct skiff_workflow *wf = NULL;
    char y[2048];
    snprintf(y, sizeof y, gpu_wf, name);
    assert_int_equal(skiff_yaml_parse(y, strlen(y), "wf.yaml", &docs, &e), 0);
    assert_int_equal(skiff_workflow_load(skiff_yaml_doc(docs, 0), docs, 0, NULL, 0, &wf, &e),
                     0);
    skiff_yaml_free(docs);
    return wf;
}

static void test_two_workflows_one_gpu(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_workflow *wfs[2];
    struct skiff_workflow_run_opts o[2] = {{0}};
    json_t *st[2];
    char dir[256], r0[300], r1[300], f[400];
    const json_t *n0, *n1;
    (void)state;

    env("0", NULL);
    assert_non_null(test_tmpdir(dir, sizeof dir, "sched"));
    wfs[0] = load_wf("wf-a");
    wfs[1] = load_wf("wf-b");
    snprintf(r0, sizeof r0, "%s/a", dir);
    snprintf(r1, sizeof r1, "%s/b", dir);
    o[0].run_dir = r0;
    o[1].run_dir = r1;
    assert_int_equal(skiff_workflow_run_many(wfs, o, 2, st, &e), 0);
    n0 = json_object_get(json_object_get(st[0], "nodes"), "wf-a");
    n1 = json_object_get(json_object_get(st[1], "nodes"), "wf-b");
    assert_string_equal(json_string_value(json_object_get(st[0], "phase")), "Succeeded");
    assert_string_equal(json_string_value(json_object_get(st[1], "phase")), "Succeeded");
    /* the second started after the first finished, and said why it waited */
    assert_true(strcmp(json_string_value(json_object_get(n1, "startedAt")),
                       json_string_value(json_object_get(n0, "finishedAt"))) >= 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(n1, "skiff"),
                                                          "waitedFor")),
                        "waiting for nvidia.com/gpu: 0 of 1 free, held by wf-a/train");
    for (int k = 0; k < 2; k++) {
        FILE *fp;
        char line[32] = "";
        /* the step's stdout, in its folder of the run folder */
        snprintf(f, sizeof f, "%s/wf-%c/stdout.log", k ? r1 : r0, 'a' + k);
        assert_non_null(fp = fopen(f, "r"));
        assert_non_null(fgets(line, sizeof line, fp));
        fclose(fp);
        assert_string_equal(line, "0\n");
        json_decref(st[k]);
        skiff_workflow_free(wfs[k]);
    }
    test_rmtree(dir);
    env(NULL, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_parse),
        cmocka_unit_test(test_gpus_never_shared),
        cmocka_unit_test(test_memory_cpu_accounting),
        cmocka_unit_test(test_pools_select),
        cmocka_unit_test(test_two_workflows_one_gpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
