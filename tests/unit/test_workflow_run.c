/* Unit tests for loading (validation with positions) and running small
 * workflows of trivial commands (true, false, sh -c): scheduling order,
 * Omitted/Skipped propagation, parallelism, outputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "skiff/err.h"
#include "skiff/workflow.h"
#include "skiff/yaml.h"
#include "testutil.h"

#define HEAD                                                                       \
    "apiVersion: argoproj.io/v1alpha1\n"                                           \
    "kind: Workflow\n"                                                             \
    "metadata: {name: t}\n"                                                        \
    "spec:\n"

/* Loads `yaml`; returns the code, with err filled. */
static int load(const char *yaml, const struct skiff_workflow_param *p, size_t np,
                struct skiff_workflow **wf, struct skiff_err *err)
{
    struct skiff_yaml_docs *docs = NULL;
    int rc = skiff_yaml_parse(yaml, strlen(yaml), "wf.yaml", &docs, err);
    if (rc == 0)
        rc = skiff_workflow_load(skiff_yaml_doc(docs, 0), docs, 0, p, np, wf, err);
    skiff_yaml_free(docs);
    return rc;
}

static void expect_invalid(const char *yaml, int line, const char *msg)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_workflow *wf = NULL;
    assert_int_equal(load(yaml, NULL, 0, &wf, &e), SKIFF_EINVAL);
    assert_null(wf);
    if (e.line != line || !strstr(e.msg, msg))
        fail_msg("want line %d '%s', got %s:%d:%d %s", line, msg, e.where, e.line, e.col, e.msg);
}

static void test_validation_positions(void **state)
{
    expect_invalid(HEAD "  entrypoint: main\n"
                        "  templates:\n"
                        "    - name: main\n"
                        "      dag:\n"
                        "        tasks:\n"
                        "          - {name: a, template: t, dependencies: [b]}\n"
                        "          - {name: b, template: t, dependencies: [a]}\n"
                        "    - name: t\n"
                        "      container: {image: x, command: [\"true\"]}\n",
                   11, "cycle in dag: a -> b -> a");
    expect_invalid(HEAD "  entrypoint: main\n"
                        "  templates:\n"
                        "    - name: main\n"
                        "      dag:\n"
                        "        tasks:\n"
                        "          - {name: a, template: t}\n"
                        "          - {name: b, template: t, depends: \"a.Done\"}\n"
                        "    - name: t\n"
                        "      container: {image: x, command: [\"true\"]}\n",
                   11, "task result 'Done' for task 'a' is invalid");
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      inputs: {parameters: [{name: x}]}\n"
                        "      container: {image: x, command: [echo, \"{{inputs.parameters.x}}\"]}\n",
                   5, "inputs.parameters.x was not supplied");
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  arguments: {parameters: [{name: p}]}\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      container: {image: x, command: [\"true\"]}\n",
                   6, "spec.arguments.p.value");
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      container:\n"
                        "        image: x\n"
                        "        command: [\"true\"]\n"
                        "        resources: {limits: {cpu: lots}}\n",
                   11, "invalid quantity 'lots'");
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      container: {image: x}\n",
                   8, "container.command is required");
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      retryStrategy: {limit: 2, backoff: {duration: soon}}\n"
                        "      container: {image: x, command: [\"true\"]}\n",
                   8, "invalid duration");
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      suspend: {}\n",
                   8, "template type 'suspend' is not supported");
}

static void test_parameters(void **state)
{
    static const char yaml[] = HEAD "  entrypoint: t\n"
                                    "  arguments:\n"
                                    "    parameters:\n"
                                    "      - {name: p, value: 1}\n"
                                    "      - {name: q, enum: [a, b]}\n"
                                    "  templates:\n"
                                    "    - name: t\n"
                                    "      container: {image: x, command: [\"true\"]}\n";
    struct skiff_workflow_param ok[] = {{"q", "b"}, {"p", "2"}};
    struct skiff_workflow_param bad_enum[] = {{"q", "c"}};
    struct skiff_workflow_param unknown[] = {{"q", "a"}, {"zz", "1"}};
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_workflow *wf = NULL;
    json_t *obj;

    assert_int_equal(load(yaml, ok, 2, &wf, &e), 0);
    assert_string_equal(skiff_workflow_name(wf), "t");
    obj = skiff_workflow_object(wf, NULL);
    assert_int_equal(strlen(json_string_value(json_object_get(json_object_get(obj, "metadata"),
                                                              "uid"))), 36);
    json_decref(obj);
    skiff_workflow_free(wf);
    assert_int_equal(load(yaml, bad_enum, 1, &wf, &e), SKIFF_EINVAL);
    assert_non_null(strstr(e.msg, "enum"));
    assert_int_equal(e.line, 9);
    assert_int_equal(load(yaml, unknown, 2, &wf, &e), SKIFF_EINVAL);
    assert_non_null(strstr(e.msg, "parameter 'zz' is not declared"));
    assert_int_equal(load(yaml, NULL, 0, &wf, &e), SKIFF_EINVAL);  /* q has no value */
    skiff_workflow_free(NULL);
}

/* Runs yaml, resuming from `resume` when it is not NULL; returns the
 * status (caller decrefs). */
static json_t *run_yaml_resume(const char *yaml, const json_t *resume);

static json_t *run_yaml(const char *yaml)
{
    return run_yaml_resume(yaml, NULL);
}

static json_t *run_yaml_resume(const char *yaml, const json_t *resume)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_workflow *wf = NULL;
    struct skiff_workflow_run_opts o = {0};
    char dir[256];
    json_t *status = NULL;

    assert_non_null(test_tmpdir(dir, sizeof dir, "wf"));
    o.run_dir = dir;
    o.resume = resume;
    if (load(yaml, NULL, 0, &wf, &e) != 0)
        fail_msg("load: %s:%d: %s", e.where, e.line, e.msg);
    if (skiff_workflow_run(wf, &o, &status, &e) != 0)
        fail_msg("run: %s", e.msg);
    skiff_workflow_free(wf);
    test_rmtree(dir);
    return status;
}

static const json_t *node(const json_t *status, const char *display)
{
    const char *k;
    json_t *n;
    json_object_foreach(json_object_get(status, "nodes"), k, n)
        if (strcmp(json_string_value(json_object_get(n, "displayName")), display) == 0)
            return n;
    fail_msg("no node '%s'", display);
    return NULL;
}

static const char *field(const json_t *status, const char *display, const char *key)
{
    return json_string_value(json_object_get(node(status, display), key));
}

#define TEMPLATES                                                                  \
    "    - name: ok\n"                                                             \
    "      container: {image: x, command: [\"true\"]}\n"                           \
    "    - name: bad\n"                                                            \
    "      container: {image: x, command: [\"false\"]}\n"                          \
    "    - name: nap\n"                                                            \
    "      container: {image: x, command: [sh, -c, \"sleep 0.1\"]}\n"

static void test_dag_order(void **state)
{
    /* a -> (b, c) -> d: d starts after both b and c finished */
    json_t *st = run_yaml(HEAD "  entrypoint: main\n"
                               "  templates:\n"
                               "    - name: main\n"
                               "      dag:\n"
                               "        tasks:\n"
                               "          - {name: a, template: nap}\n"
                               "          - {name: b, template: nap, dependencies: [a]}\n"
                               "          - {name: c, template: nap, depends: a}\n"
                               "          - {name: d, template: ok, dependencies: [b, c]}\n"
                               TEMPLATES);
    assert_string_equal(json_string_value(json_object_get(st, "phase")), "Succeeded");
    assert_true(strcmp(field(st, "b", "startedAt"), field(st, "a", "finishedAt")) >= 0);
    assert_true(strcmp(field(st, "c", "startedAt"), field(st, "a", "finishedAt")) >= 0);
    assert_true(strcmp(field(st, "d", "startedAt"), field(st, "b", "finishedAt")) >= 0);
    assert_true(strcmp(field(st, "d", "startedAt"), field(st, "c", "finishedAt")) >= 0);
    /* b and c overlapped */
    assert_true(strcmp(field(st, "b", "startedAt"), field(st, "c", "finishedAt")) < 0);
    assert_string_equal(field(st, "t", "type"), "DAG");
    assert_int_equal(json_array_size(json_object_get(node(st, "t"), "children")), 4);
    assert_string_equal(json_string_value(json_object_get(st, "progress")), "4/4");
    json_decref(st);
}

static const char *out_param(const json_t *status, const char *display)
{
    const json_t *ps = json_object_get(json_object_get(node(status, display), "outputs"),
                                       "parameters");
    return json_string_value(json_object_get(json_array_get(ps, 0), "value"));
}

/* Resuming (the controller after kill -9): a step that ended keeps its
 * outputs and does not run again; one that was Running runs again. Each
 * step prints a random number, so a rerun shows. */
static void test_resume_keeps_ended_steps(void **state)
{
    const char *yaml =
        HEAD "  entrypoint: main\n"
             "  templates:\n"
             "    - name: main\n"
             "      dag:\n"
             "        tasks:\n"
             "          - {name: a, template: rand}\n"
             "          - {name: b, template: rand, dependencies: [a]}\n"
             "          - name: c\n"
             "            template: echo\n"
             "            dependencies: [b]\n"
             "            when: \"{{tasks.a.outputs.parameters.r}} != ''\"\n"
             "            arguments: {parameters: [{name: v, value: \"{{tasks.a.outputs.parameters.r}}\"}]}\n"
             "    - name: rand\n"
             "      container: {image: x, command: [sh, -c, \"od -An -N8 -tu8 /dev/urandom | tr -d ' ' > /tmp/r\"]}\n"
             "      outputs: {parameters: [{name: r, valueFrom: {path: /tmp/r}}]}\n"
             "    - name: echo\n"
             "      inputs: {parameters: [{name: v}]}\n"
             "      container: {image: x, command: [sh, -c, \"echo {{inputs.parameters.v}} > /tmp/r\"]}\n"
             "      outputs: {parameters: [{name: r, valueFrom: {path: /tmp/r}}]}\n";
    json_t *st1 = run_yaml(yaml), *st2, *b;
    char a1[64], b1[64];

    assert_string_equal(json_string_value(json_object_get(st1, "phase")), "Succeeded");
    snprintf(a1, sizeof a1, "%s", out_param(st1, "a"));
    snprintf(b1, sizeof b1, "%s", out_param(st1, "b"));
    /* as if the platform died while b ran, before c */
    b = (json_t *)node(st1, "b");
    json_object_set_new(b, "phase", json_string("Running"));
    json_object_del(b, "outputs");
    json_object_del((json_t *)node(st1, "c"), "phase");
    st2 = run_yaml_resume(yaml, st1);
    assert_string_equal(json_string_value(json_object_get(st2, "phase")), "Succeeded");
    assert_string_equal(out_param(st2, "a"), a1);          /* not run again */
    assert_string_equal(field(st2, "a", "startedAt"), field(st1, "a", "startedAt"));
    assert_string_not_equal(out_param(st2, "b"), b1);      /* ran again */
    assert_string_equal(out_param(st2, "c"), a1);          /* saw a's kept output */
    json_decref(st1);
    json_decref(st2);
}

/* A step restored from the earlier run exports its globalName outputs
 * again: a later step and status.outputs see them after a resume. */
static void test_resume_exports_global_outputs(void **state)
{
    const char *yaml =
        HEAD "  entrypoint: main\n"
             "  templates:\n"
             "    - name: main\n"
             "      dag:\n"
             "        tasks:\n"
             "          - {name: a, template: make}\n"
             "          - {name: b, template: use, dependencies: [a]}\n"
             "    - name: make\n"
             "      container: {image: x, command: [sh, -c, \"echo $$ > /tmp/v\"]}\n"
             "      outputs: {parameters: [{name: v, globalName: g, valueFrom: {path: /tmp/v}}]}\n"
             "    - name: use\n"
             "      container: {image: x, command: [sh, -c, \"echo {{workflow.outputs.parameters.g}} > /tmp/v\"]}\n"
             "      outputs: {parameters: [{name: v, valueFrom: {path: /tmp/v}}]}\n";
    json_t *st1 = run_yaml(yaml), *st2, *b;
    char a1[64];
    (void)state;

    assert_string_equal(json_string_value(json_object_get(st1, "phase")), "Succeeded");
    snprintf(a1, sizeof a1, "%s", out_param(st1, "a"));
    /* as if the platform died while b ran */
    b = (json_t *)node(st1, "b");
    json_object_set_new(b, "phase", json_string("Running"));
    json_object_del(b, "outputs");
    json_object_del(st1, "outputs");
    st2 = run_yaml_resume(yaml, st1);
    assert_string_equal(json_string_value(json_object_get(st2, "phase")), "Succeeded");
    assert_string_equal(out_param(st2, "a"), a1);          /* restored, not run */
    assert_string_equal(out_param(st2, "b"), a1);          /* saw the global again */
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(
                            json_object_get(st2, "outputs"), "parameters"), 0), "value")),
                        a1);
    json_decref(st1);
    json_decref(st2);
}

static void test_failure_propagation(void **state)
{
    json_t *st = run_yaml(HEAD "  entrypoint: main\n"
                               "  templates:\n"
                               "    - name: main\n"
                               "      dag:\n"
                               "        tasks:\n"
                               "          - {name: a, template: bad}\n"
                               "          - {name: b, template: ok, dependencies: [a]}\n"
                               "          - {name: c, template: ok, dependencies: [b]}\n"
                               "          - {name: d, template: ok, when: \"1 > 2\"}\n"
                               "          - {name: e, template: ok, dependencies: [d]}\n"
                               TEMPLATES);
    assert_string_equal(json_string_value(json_object_get(st, "phase")), "Failed");
    assert_string_equal(field(st, "a", "phase"), "Failed");
    assert_string_equal(field(st, "a", "message"), "exit code 1");
    assert_string_equal(field(st, "b", "phase"), "Omitted");   /* Omitted cascades */
    assert_string_equal(field(st, "c", "phase"), "Omitted");
    assert_string_equal(field(st, "d", "phase"), "Skipped");
    assert_string_equal(field(st, "d", "message"), "when '1 > 2' evaluated false");
    assert_string_equal(field(st, "e", "phase"), "Succeeded"); /* Skipped does not */
    assert_non_null(strstr(json_string_value(json_object_get(st, "message")), "exit code 1"));
    json_decref(st);
}

static void test_steps_and_parallelism(void **state)
{
    json_t *st = run_yaml(HEAD "  entrypoint: main\n"
                               "  parallelism: 1\n"
                               "  templates:\n"
                               "    - name: main\n"
                               "      steps:\n"
                               "        - - {name: a, template: nap}\n"
                               "          - {name: b, template: nap}\n"
                               "        - - name: c\n"
                               "            template: echo\n"
                               "            arguments: {parameters: [{name: m, value: \"{{steps.a.outputs.result}}x\"}]}\n"
                               "    - name: echo\n"
                               "      inputs: {parameters: [{name: m}]}\n"
                               "      outputs: {parameters: [{name: o, valueFrom: {path: /tmp/o}}]}\n"
                               "      script:\n"
                               "        image: x\n"
                               "        command: [sh]\n"
                               "        source: \"printf '  %s\\\\n' {{inputs.parameters.m}} > /tmp/o\"\n"
                               TEMPLATES);
    const json_t *c;
    assert_string_equal(json_string_value(json_object_get(st, "phase")), "Succeeded");
    /* parallelism 1: a and b did not overlap */
    assert_true(strcmp(field(st, "a", "startedAt"), field(st, "b", "finishedAt")) >= 0 ||
                strcmp(field(st, "b", "startedAt"), field(st, "a", "finishedAt")) >= 0);
    c = json_object_get(node(st, "c"), "outputs");
    /* the output is trimmed */
    assert_string_equal(json_string_value(json_object_get(json_array_get(
                            json_object_get(c, "parameters"), 0), "value")), "x");
    assert_string_equal(field(st, "[0]", "type"), "StepGroup");
    json_decref(st);
}

static void test_missing_command_is_an_error_node(void **state)
{
    json_t *st = run_yaml(HEAD "  entrypoint: t\n"
                               "  templates:\n"
                               "    - name: t\n"
                               "      container: {image: x, command: [/nonexistent/cmd]}\n");
    assert_string_equal(json_string_value(json_object_get(st, "phase")), "Error");
    assert_non_null(strstr(field(st, "t", "message"), "cannot run the command"));
    json_decref(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation_positions),
        cmocka_unit_test(test_parameters),
        cmocka_unit_test(test_dag_order),
        cmocka_unit_test(test_failure_propagation),
        cmocka_unit_test(test_resume_keeps_ended_steps),
        cmocka_unit_test(test_resume_exports_global_outputs),
        cmocka_unit_test(test_steps_and_parallelism),
        cmocka_unit_test(test_missing_command_is_an_error_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
