/* Unit tests for `resource` template actions (spec §11.2): get, create,
 * apply, delete, replace and patch (merge: RFC 7386, json: RFC 6902) of a
 * skiff kind in a real store (controller mode), setOwnerReference,
 * conditions and jsonPath outputs on the resulting object, and their
 * validation with positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "skiff/err.h"
#include "skiff/resource.h"
#include "skiff/store.h"
#include "skiff/workflow.h"
#include "skiff/yaml.h"
#include "testutil.h"
#include "workflow/workflow_int.h"

#define HEAD                                                                       \
    "apiVersion: argoproj.io/v1alpha1\n"                                           \
    "kind: Workflow\n"                                                             \
    "metadata: {name: res}\n"                                                      \
    "spec:\n"

static int load(const char *yaml, struct skiff_workflow **wf, struct skiff_err *err)
{
    struct skiff_yaml_docs *docs = NULL;
    int rc = skiff_yaml_parse(yaml, strlen(yaml), "wf.yaml", &docs, err);
    if (rc == 0)
        rc = skiff_workflow_load(skiff_yaml_doc(docs, 0), docs, 0, NULL, 0, wf, err);
    skiff_yaml_free(docs);
    return rc;
}

static void expect_invalid(const char *yaml, int line, const char *msg)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_workflow *wf = NULL;
    assert_int_equal(load(yaml, &wf, &e), SKIFF_EINVAL);
    assert_null(wf);
    if (e.line != line || !strstr(e.msg, msg))
        fail_msg("want line %d '%s', got %s:%d:%d %s", line, msg, e.where, e.line, e.col, e.msg);
}

static json_t *J(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    return v;
}

/* RFC 7386 §3's example, and null deleting a member. */
static void test_merge_patch(void **state)
{
    json_t *target = J("{\"title\": \"Goodbye!\", \"author\": {\"givenName\": \"John\", "
                       "\"familyName\": \"Doe\"}, \"tags\": [\"example\", \"sample\"], "
                       "\"content\": \"This will be unchanged\"}");
    json_t *patch = J("{\"title\": \"Hello!\", \"phoneNumber\": \"+01-123-456-7890\", "
                      "\"author\": {\"familyName\": null}, \"tags\": [\"example\"]}");
    json_t *want = J("{\"title\": \"Hello!\", \"author\": {\"givenName\": \"John\"}, "
                     "\"tags\": [\"example\"], \"content\": \"This will be unchanged\", "
                     "\"phoneNumber\": \"+01-123-456-7890\"}");
    json_t *got = workflow__merge_patch(target, patch);
    (void)state;
    assert_true(json_equal(got, want));
    json_decref(got);
    got = workflow__merge_patch(NULL, patch);   /* no target: the patch minus nulls */
    assert_null(json_object_get(json_object_get(got, "author"), "familyName"));
    json_decref(got);
    json_decref(target);
    json_decref(patch);
    json_decref(want);
}

/* RFC 6902: each op, pointers with escapes, "-", and all-or-nothing. */
static void test_json_patch(void **state)
{
    static const struct {
        const char *doc, *ops, *want;   /* want NULL: the patch fails */
    } cases[] = {
        {"{\"a\": 1}", "[{\"op\": \"add\", \"path\": \"/b\", \"value\": [1]}]",
         "{\"a\": 1, \"b\": [1]}"},
        {"{\"l\": [1, 3]}", "[{\"op\": \"add\", \"path\": \"/l/1\", \"value\": 2}]",
         "{\"l\": [1, 2, 3]}"},
        {"{\"l\": [1]}", "[{\"op\": \"add\", \"path\": \"/l/-\", \"value\": 2}]",
         "{\"l\": [1, 2]}"},
        {"{\"a/b\": 1, \"m~n\": 2}",
         "[{\"op\": \"remove\", \"path\": \"/a~1b\"}, "
         "{\"op\": \"replace\", \"path\": \"/m~0n\", \"value\": 3}]",
         "{\"m~n\": 3}"},
        {"{\"a\": {\"x\": 1}, \"b\": {}}",
         "[{\"op\": \"move\", \"from\": \"/a/x\", \"path\": \"/b/y\"}, "
         "{\"op\": \"copy\", \"from\": \"/b\", \"path\": \"/c\"}, "
         "{\"op\": \"test\", \"path\": \"/c/y\", \"value\": 1}]",
         "{\"a\": {}, \"b\": {\"y\": 1}, \"c\": {\"y\": 1}}"},
        {"{\"a\": 1}", "[{\"op\": \"replace\", \"path\": \"\", \"value\": {\"z\": 0}}]",
         "{\"z\": 0}"},
        /* failures: nothing is applied */
        {"{\"a\": 1}", "[{\"op\": \"add\", \"path\": \"/b\", \"value\": 1}, "
                       "{\"op\": \"test\", \"path\": \"/a\", \"value\": 2}]", NULL},
        {"{\"a\": 1}", "[{\"op\": \"replace\", \"path\": \"/nope\", \"value\": 2}]", NULL},
        {"{\"a\": 1}", "[{\"op\": \"remove\", \"path\": \"/x/y\"}]", NULL},
        {"{\"l\": [1]}", "[{\"op\": \"add\", \"path\": \"/l/5\", \"value\": 2}]", NULL},
        {"{\"l\": [1]}", "[{\"op\": \"add\", \"path\": \"/l/01\", \"value\": 2}]", NULL},
        {"{\"a\": {\"b\": 1}}", "[{\"op\": \"move\", \"from\": \"/a\", \"path\": \"/a/c\"}]",
         NULL},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct skiff_err e = SKIFF_ERR_INIT;
        json_t *doc = J(cases[i].doc), *ops = J(cases[i].ops), *out = NULL;
        int rc = workflow__json_patch(doc, ops, &out, &e);
        if (cases[i].want) {
            json_t *want = J(cases[i].want);
            if (rc || !json_equal(out, want))
                fail_msg("case %zu: rc %d %s", i, rc, e.msg);
            json_decref(want);
        } else {
            if (rc != SKIFF_EINVAL || out)
                fail_msg("case %zu should fail", i);
            assert_non_null(strstr(e.msg, "JSON patch operation"));
        }
        json_decref(out);
        json_decref(doc);
        json_decref(ops);
    }
}

#define ENTITY "apiVersion: skiff.dev/v1\n          kind: Entity\n"

static void test_validation(void **state)
{
    (void)state;
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      resource:\n"
                        "        action: scale\n"
                        "        manifest: '{}'\n",
                   9, "unknown resource action 'scale' (get, create, apply, delete, replace, "
                      "patch)");
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      resource:\n"
                        "        action: patch\n"
                        "        mergeStrategy: smart\n"
                        "        manifest: '{}'\n",
                   10, "unknown mergeStrategy 'smart'");
    /* a merge patch is an object that names its target */
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      resource:\n"
                        "        action: patch\n"
                        "        mergeStrategy: merge\n"
                        "        manifest: '[{op: add, path: /spec/x, value: 1}]'\n",
                   11, "a list of operations needs mergeStrategy: json");
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      resource:\n"
                        "        action: patch\n"
                        "        manifest: |\n"
                        "          " ENTITY
                        "          spec: {valueType: INT64}\n",
                   10, "Kind and name are both required");
    /* a JSON patch: its target in flags, well-formed operations */
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      resource:\n"
                        "        action: patch\n"
                        "        mergeStrategy: json\n"
                        "        manifest: '[{op: add, path: /spec/x, value: 1}]'\n",
                   8, "names its target with flags: [KIND, NAME]");
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      resource:\n"
                        "        action: patch\n"
                        "        mergeStrategy: json\n"
                        "        flags: [widget, w]\n"
                        "        manifest: '[{op: add, path: /spec/x, value: 1}]'\n",
                   11, "resource kind 'widget' is not one of skiff's kinds");
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      resource:\n"
                        "        action: patch\n"
                        "        mergeStrategy: json\n"
                        "        flags: [entity, user]\n"
                        "        manifest: |\n"
                        "          - {op: add, path: /spec/x, value: 1}\n"
                        "          - {op: upsert, path: /spec/y, value: 2}\n",
                   12, "bad JSON patch: JSON patch operation 1: unknown op 'upsert'");
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      resource:\n"
                        "        action: patch\n"
                        "        mergeStrategy: json\n"
                        "        flags: [entity/user]\n"
                        "        manifest: '[{op: replace, path: spec.x, value: 1}]'\n",
                   12, "path must be a JSON pointer");
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      resource:\n"
                        "        action: patch\n"
                        "        mergeStrategy: json\n"
                        "        flags: [entity, user]\n"
                        "        manifest: '[{op: add, path: /spec/x}]'\n",
                   12, "operation 0 (add) needs a value");
    /* delete: nothing to wait on, no outputs */
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      resource:\n"
                        "        action: delete\n"
                        "        successCondition: status.ready\n"
                        "        manifest: |\n"
                        "          " ENTITY
                        "          metadata: {name: user}\n",
                   10, "a delete finishes at once");
    /* a PyTorchJob lives only in the node that creates it */
    expect_invalid(HEAD "  entrypoint: t\n"
                        "  templates:\n"
                        "    - name: t\n"
                        "      resource:\n"
                        "        action: get\n"
                        "        manifest: |\n"
                        "          apiVersion: kubeflow.org/v1\n"
                        "          kind: PyTorchJob\n"
                        "          metadata: {name: j}\n"
                        "          spec: {}\n",
                   9, "a PyTorchJob can only be created");
}

/* A dag over one Entity: create (owned by the workflow), get with a
 * condition and jsonPath outputs, patch merge, patch json, replace,
 * delete, delete again (missing: fine), then a get of the missing object
 * and a patch whose test fails (both Error). */
static const char PIPELINE[] =
    HEAD "  entrypoint: main\n"
         "  templates:\n"
         "    - name: main\n"
         "      dag:\n"
         "        tasks:\n"
         "          - {name: create, template: create}\n"
         "          - {name: get, template: get, dependencies: [create]}\n"
         "          - {name: merge, template: merge, dependencies: [get]}\n"
         "          - {name: json, template: json, dependencies: [merge]}\n"
         "          - {name: replace, template: replace, dependencies: [json]}\n"
         "          - {name: delete, template: delete, depends: \"replace && bad-patch.Errored\"}\n"
         "          - {name: delete-again, template: delete, dependencies: [delete]}\n"
         "          - {name: get-missing, template: get, dependencies: [delete-again]}\n"
         "          - {name: bad-patch, template: bad-patch, dependencies: [create]}\n"
         "    - name: create\n"
         "      resource:\n"
         "        action: create\n"
         "        setOwnerReference: true\n"
         "        manifest: |\n"
         "          " ENTITY
         "          metadata: {name: user}\n"
         "          spec: {joinKeys: [user_id], valueType: STRING}\n"
         "      outputs:\n"
         "        parameters:\n"
         "          - {name: owner, valueFrom: {jsonPath: '{.metadata.ownerReferences.0.name}'}}\n"
         "    - name: get\n"
         "      resource:\n"
         "        action: get\n"
         "        successCondition: spec.valueType in (STRING, INT64)\n"
         "        manifest: |\n"
         "          " ENTITY
         "          metadata: {name: user}\n"
         "      outputs:\n"
         "        parameters:\n"
         "          - {name: type, valueFrom: {jsonPath: '{.spec.valueType}'}}\n"
         "    - name: merge\n"
         "      resource:\n"
         "        action: patch\n"
         "        mergeStrategy: merge\n"
         "        manifest: |\n"
         "          " ENTITY
         "          metadata: {name: user, labels: {team: fraud}}\n"
         "          spec: {description: users}\n"
         "      outputs:\n"
         "        parameters:\n"
         "          - {name: team, valueFrom: {jsonPath: '{.metadata.labels.team}'}}\n"
         "          - {name: keys, valueFrom: {jsonPath: '{.spec.joinKeys.0}'}}\n"
         "    - name: json\n"
         "      resource:\n"
         "        action: patch\n"
         "        mergeStrategy: json\n"
         "        flags: [entities, user]\n"
         "        successCondition: spec.valueType == INT64\n"
         "        manifest: |\n"
         "          - {op: test, path: /metadata/labels/team, value: fraud}\n"
         "          - {op: replace, path: /spec/valueType, value: INT64}\n"
         "          - {op: remove, path: /spec/description}\n"
         "      outputs:\n"
         "        parameters:\n"
         "          - {name: type, valueFrom: {jsonPath: '{.spec.valueType}'}}\n"
         "    - name: replace\n"
         "      resource:\n"
         "        action: replace\n"
         "        manifest: |\n"
         "          " ENTITY
         "          metadata: {name: user}\n"
         "          spec: {joinKeys: [uid], valueType: STRING}\n"
         "      outputs:\n"
         "        parameters:\n"
         "          - {name: keys, valueFrom: {jsonPath: '{.spec.joinKeys.0}'}}\n"
         "          - {name: labels, valueFrom: {jsonPath: '{.metadata.labels.team}', "
         "default: none}}\n"
         "    - name: delete\n"
         "      resource:\n"
         "        action: delete\n"
         "        manifest: |\n"
         "          " ENTITY
         "          metadata: {name: user}\n"
         "    - name: bad-patch\n"
         "      resource:\n"
         "        action: patch\n"
         "        mergeStrategy: json\n"
         "        flags: [entity/user]\n"
         "        manifest: '[{op: test, path: /spec/valueType, value: FLOAT}]'\n";

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

static const char *phase(const json_t *st, const char *display)
{
    return json_string_value(json_object_get(node(st, display), "phase"));
}

static const char *message(const json_t *st, const char *display)
{
    const char *m = json_string_value(json_object_get(node(st, display), "message"));
    return m ? m : "";
}

static const char *param(const json_t *st, const char *display, const char *name)
{
    const json_t *p;
    size_t i;
    json_array_foreach(json_object_get(json_object_get(node(st, display), "outputs"),
                                       "parameters"), i, p)
        if (strcmp(json_string_value(json_object_get(p, "name")), name) == 0)
            return json_string_value(json_object_get(p, "value"));
    fail_msg("node '%s' has no output '%s'", display, name);
    return NULL;
}

static void test_actions_on_a_store(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_workflow *wf = NULL;
    struct skiff_workflow_run_opts o = {0};
    struct skiff_store *s = NULL;
    const struct skiff_kind *k = skiff_kind_lookup("entity");
    char dir[256], db[300], run[300];
    json_t *st = NULL, *obj = NULL;
    (void)state;

    assert_non_null(test_tmpdir(dir, sizeof dir, "wfres"));
    snprintf(db, sizeof db, "%s/skiff.db", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    assert_int_equal(skiff_store_open(db, &s, &e), 0);
    o.run_dir = run;
    o.store = s;
    if (load(PIPELINE, &wf, &e))
        fail_msg("load: %s:%d: %s", e.where, e.line, e.msg);
    assert_int_equal(skiff_workflow_run(wf, &o, &st, &e), 0);

    assert_string_equal(phase(st, "create"), "Succeeded");
    assert_string_equal(param(st, "create", "owner"), "res");
    assert_string_equal(phase(st, "get"), "Succeeded");
    assert_string_equal(param(st, "get", "type"), "STRING");
    assert_string_equal(phase(st, "merge"), "Succeeded");
    assert_string_equal(param(st, "merge", "team"), "fraud");
    assert_string_equal(param(st, "merge", "keys"), "user_id");   /* kept by the merge */
    assert_string_equal(phase(st, "json"), "Succeeded");
    assert_string_equal(param(st, "json", "type"), "INT64");
    assert_string_equal(phase(st, "replace"), "Succeeded");
    assert_string_equal(param(st, "replace", "keys"), "uid");
    assert_string_equal(param(st, "replace", "labels"), "none");  /* replaced: no labels */
    assert_string_equal(phase(st, "delete"), "Succeeded");
    assert_string_equal(phase(st, "delete-again"), "Succeeded");  /* --ignore-not-found */
    assert_string_equal(phase(st, "get-missing"), "Error");
    assert_non_null(strstr(message(st, "get-missing"), "cannot get Entity 'user'"));
    assert_non_null(strstr(message(st, "get-missing"), "not found"));
    assert_string_equal(phase(st, "bad-patch"), "Error");
    assert_non_null(strstr(message(st, "bad-patch"), "JSON patch operation 0 (test) failed"));
    assert_string_equal(json_string_value(json_object_get(st, "phase")), "Error");
    /* the delete really removed it */
    assert_int_equal(skiff_resource_get(s, k, "user", &obj, &e), SKIFF_ENOTFOUND);

    json_decref(st);
    skiff_workflow_free(wf);
    skiff_store_close(s);
    test_rmtree(dir);
}

/* `skiff run` has no store: every action says so. */
static void test_no_store(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    struct skiff_workflow *wf = NULL;
    struct skiff_workflow_run_opts o = {0};
    char dir[256];
    json_t *st = NULL;
    (void)state;

    assert_non_null(test_tmpdir(dir, sizeof dir, "wfres"));
    o.run_dir = dir;
    assert_int_equal(load(HEAD "  entrypoint: t\n"
                               "  templates:\n"
                               "    - name: t\n"
                               "      resource:\n"
                               "        action: patch\n"
                               "        mergeStrategy: json\n"
                               "        flags: [isvc, fraud]\n"
                               "        manifest: '[{op: remove, path: /spec/x}]'\n",
                          &wf, &e), 0);
    assert_int_equal(skiff_workflow_run(wf, &o, &st, &e), 0);
    assert_string_equal(phase(st, "res"), "Error");
    assert_non_null(strstr(message(st, "res"), "cannot patch InferenceService 'fraud': `skiff "
                                               "run` has no platform store"));
    json_decref(st);
    skiff_workflow_free(wf);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_patch),
        cmocka_unit_test(test_json_patch),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_actions_on_a_store),
        cmocka_unit_test(test_no_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
