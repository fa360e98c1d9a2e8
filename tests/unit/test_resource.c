/* Unit tests for src/resource validation: the kinds table and lookup, the
 * generic checks, each kind's good and bad objects (with the exact position
 * of the error), warnings for unknown fields, and the article's manifests in
 * examples/seed/. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/resource.h"
#include "skiff/yaml.h"

/* Validates the first document of `text` as file "x.yaml". Returns the
 * code; `msg` receives the formatted error ("" when none). The caller
 * releases v. */
static int validate_yaml(const char *text, struct skiff_validation *v, struct skiff_err *err,
                         char *msg, size_t cap, const struct skiff_kind **kind)
{
    struct skiff_yaml_docs *d = NULL;
    struct skiff_err perr = SKIFF_ERR_INIT;
    int rc;

    msg[0] = '\0';
    if (skiff_yaml_parse(text, strlen(text), "x.yaml", &d, &perr)) {
        skiff_err_format(&perr, msg, cap);
        fprintf(stderr, "test input does not parse: %s\n", msg);
        fail();
    }
    memset(v, 0, sizeof *v);
    v->docs = d;
    v->doc_index = 0;
    v->err = err;
    skiff_err_clear(err);
    rc = skiff_resource_validate(skiff_yaml_doc(d, 0), v, kind);
    if (rc)
        skiff_err_format(err, msg, cap);
    v->docs = NULL;
    skiff_yaml_free(d);
    return rc;
}

static void expect_ok(const char *text, const char *kind)
{
    struct skiff_validation v;
    struct skiff_err err;
    const struct skiff_kind *k = NULL;
    char msg[1024];
    int rc = validate_yaml(text, &v, &err, msg, sizeof msg, &k);
    if (rc || v.nwarnings) {
        fprintf(stderr, "expected %s to validate cleanly: %s\n", kind, msg);
        for (size_t i = 0; i < v.nwarnings; i++)
            fprintf(stderr, "  warning: %s\n", v.warnings[i]);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(v.nwarnings, 0);
    assert_non_null(k);
    assert_string_equal(k->kind, kind);
    skiff_validation_release(&v);
}

/* `want` is the whole formatted error: "x.yaml:L:C: path: message". */
static void expect_error(const char *text, const char *want)
{
    struct skiff_validation v;
    struct skiff_err err;
    const struct skiff_kind *k = (void *)1;
    char msg[1024];
    int rc = validate_yaml(text, &v, &err, msg, sizeof msg, &k);
    if (rc != SKIFF_EINVAL || strcmp(msg, want) != 0)
        fprintf(stderr, "want: %s\n got: %s (rc %d)\n", want, msg, rc);
    assert_int_equal(rc, SKIFF_EINVAL);
    assert_string_equal(msg, want);
    skiff_validation_release(&v);
}

/* ---- the kinds table ---- */

static void test_lookup_every_name_form(void **state)
{
    size_t n;
    const struct skiff_kind *all = skiff_kinds(&n);
    char upper[64], qualified[128];

    assert_int_equal(n, 14);
    for (size_t i = 0; i < n; i++) {
        const struct skiff_kind *k = &all[i];
        assert_ptr_equal(skiff_kind_lookup(k->kind), k);
        assert_ptr_equal(skiff_kind_lookup(k->plural), k);
        for (size_t j = 0; k->kind[j] && j + 1 < sizeof upper; j++)
            upper[j] = (char)toupper((unsigned char)k->kind[j]), upper[j + 1] = '\0';
        assert_ptr_equal(skiff_kind_lookup(upper), k);
        snprintf(qualified, sizeof qualified, "%s.%s", k->plural, k->group);
        assert_ptr_equal(skiff_kind_lookup(qualified), k);
        /* every short name, and no name form shared by two kinds */
        for (const char *s = k->shorts; *s;) {
            char one[16];
            size_t len = strcspn(s, ",");
            assert_true(len < sizeof one);
            memcpy(one, s, len);
            one[len] = '\0';
            assert_ptr_equal(skiff_kind_lookup(one), k);
            s += len + (s[len] == ',');
        }
        assert_non_null(k->validate);
        assert_non_null(k->spec_fields);
    }
    assert_string_equal(skiff_kind_lookup("wf")->kind, "Workflow");
    assert_string_equal(skiff_kind_lookup("wftmpl")->kind, "WorkflowTemplate");
    assert_string_equal(skiff_kind_lookup("cwf")->kind, "CronWorkflow");
    assert_string_equal(skiff_kind_lookup("CronWF")->kind, "CronWorkflow");
    assert_string_equal(skiff_kind_lookup("app")->kind, "Application");
    assert_string_equal(skiff_kind_lookup("apps")->kind, "Application");
    assert_string_equal(skiff_kind_lookup("ISVC")->kind, "InferenceService");
    assert_string_equal(skiff_kind_lookup("inferenceservice")->kind, "InferenceService");
    assert_string_equal(skiff_kind_lookup("servingruntimes")->kind, "ServingRuntime");
    assert_string_equal(skiff_kind_lookup("sj")->kind, "ScaledJob");
    assert_string_equal(skiff_kind_lookup("fv")->kind, "FeatureView");
    assert_string_equal(skiff_kind_lookup("entities")->kind, "Entity");
    assert_string_equal(skiff_kind_lookup("sa")->kind, "ServiceAccount");
    assert_string_equal(skiff_kind_lookup("roles")->kind, "Role");
    assert_string_equal(skiff_kind_lookup("wf.argoproj.io")->kind, "Workflow");
    assert_null(skiff_kind_lookup("wf.keda.sh"));
    assert_null(skiff_kind_lookup("pods"));
    assert_null(skiff_kind_lookup(""));
    assert_null(skiff_kind_lookup(NULL));
    assert_null(skiff_kind_lookup("w"));
    assert_null(skiff_kind_lookup("wf,app"));
}

static void test_kind_for(void **state)
{
    struct skiff_err e = SKIFF_ERR_INIT;
    const struct skiff_kind *k = NULL;

    assert_int_equal(skiff_kind_for("serving.kserve.io/v1beta1", "InferenceService", &k, &e), 0);
    assert_string_equal(k->plural, "inferenceservices");
    assert_int_equal(skiff_kind_for("serving.kserve.io/v1alpha1", "ServingRuntime", &k, &e), 0);
    assert_int_equal(skiff_kind_for("skiff.dev/v1", "DriftMonitor", &k, &e), 0);

    assert_int_equal(skiff_kind_for("argoproj.io/v1", "Workflow", &k, &e), SKIFF_EINVAL);
    assert_null(k);
    assert_string_equal(e.msg, "apiVersion \"argoproj.io/v1\" does not serve kind Workflow: use "
                               "\"argoproj.io/v1alpha1\"");
    assert_int_equal(skiff_kind_for("v1", "ServiceAccount", &k, &e), SKIFF_EINVAL);
    assert_non_null(strstr(e.msg, "\"skiff.dev/v1\""));
    assert_int_equal(skiff_kind_for("argoproj.io/V1ALPHA1", "Workflow", &k, &e), SKIFF_EINVAL);
    assert_int_equal(skiff_kind_for("argoproj.io/v1alpha1", "workflow", &k, &e), SKIFF_EINVAL);
    assert_string_equal(e.msg, "unknown kind \"workflow\" (did you mean \"Workflow\"?)");
    assert_int_equal(skiff_kind_for("v1", "Pod", &k, &e), SKIFF_EINVAL);
    assert_non_null(strstr(e.msg, "unknown kind \"Pod\"; known kinds: Workflow, "));
    assert_int_equal(skiff_kind_for(NULL, "Workflow", &k, &e), SKIFF_EINVAL);
    assert_int_equal(skiff_kind_for("argoproj.io/v1alpha1", NULL, &k, &e), SKIFF_EINVAL);
}

/* ---- generic checks ---- */

static void test_generic_checks(void **state)
{
    expect_error("kind: Workflow\n", "x.yaml:1:1: apiVersion: missing required field");
    expect_error("apiVersion: argoproj.io/v1\nkind: Workflow\n",
                 "x.yaml:1:13: apiVersion: apiVersion \"argoproj.io/v1\" does not serve kind "
                 "Workflow: use \"argoproj.io/v1alpha1\"");
    expect_error("apiVersion: v1\nkind: Pod\n",
                 "x.yaml:2:7: kind: unknown kind \"Pod\"; known kinds: Workflow, "
                 "WorkflowTemplate, CronWorkflow, Application, InferenceService, ServingRuntime, "
                 "ScaledJob, Entity, DataSource, FeatureView, FeatureService, DriftMonitor, "
                 "ServiceAccount, Role");
    expect_error("- a\n- b\n", "x.yaml:1:1: a resource must be a mapping with apiVersion, kind, "
                               "metadata and spec, not a list");
    expect_error("apiVersion: skiff.dev/v1\nkind: Role\nmetadata: [x]\n",
                 "x.yaml:3:11: metadata: must be an object, not a list");
    expect_error("apiVersion: skiff.dev/v1\nkind: Role\nmetadata:\n  labels: {}\n",
                 "x.yaml:3:1: metadata.name: missing required field (name, or generateName)");
    expect_error("apiVersion: skiff.dev/v1\nkind: Role\nmetadata:\n  name: Admin_Role\n",
                 "x.yaml:4:9: metadata.name: \"Admin_Role\" is not a valid name: a lowercase RFC "
                 "1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (at most 253)");
    expect_error("apiVersion: skiff.dev/v1\nkind: Role\nmetadata:\n  generateName: -x-\n",
                 "x.yaml:4:17: metadata.generateName: \"-x-\" is not a valid name prefix: a "
                 "lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                 "characters, '-' or '.', and must start and end with an alphanumeric character "
                 "(at most 253)");
    expect_error("apiVersion: skiff.dev/v1\nkind: Role\nmetadata:\n  name: r\n  namespace: A\n",
                 "x.yaml:5:14: metadata.namespace: \"A\" is not a valid namespace: a lowercase "
                 "RFC 1123 label (at most 63 of a-z, 0-9 and '-', starting and ending "
                 "alphanumeric)");
    /* label values are strings: the unquoted number is the classic mistake */
    expect_error("apiVersion: skiff.dev/v1\nkind: Role\nmetadata:\n  name: r\n  labels:\n"
                 "    version: 3\n",
                 "x.yaml:6:14: metadata.labels.version: must be a string, not an integer "
                 "(quote the value)");
    expect_error("apiVersion: skiff.dev/v1\nkind: Role\nmetadata:\n  name: r\n  labels:\n"
                 "    team: fraud ml\n",
                 "x.yaml:6:11: metadata.labels.team: invalid label value \"fraud ml\": at most 63 "
                 "of [A-Za-z0-9-_.] starting and ending alphanumeric");
    expect_error("apiVersion: skiff.dev/v1\nkind: Role\nmetadata:\n  name: r\n  annotations:\n"
                 "    a/b/c: true\n",
                 "x.yaml:6:12: metadata.annotations[a/b/c]: must be a string, not a boolean "
                 "(quote the value)");
    expect_error("apiVersion: skiff.dev/v1\nkind: Role\nmetadata:\n  name: r\n",
                 "x.yaml:1:1: spec: missing required field");
    expect_error("apiVersion: skiff.dev/v1\nkind: Role\nmetadata:\n  name: r\nspec: [1]\n",
                 "x.yaml:5:7: spec: must be an object, not a list");
}

static void test_names(void **state)
{
    /* generateName: the prefix plus 5 characters must be a name */
    expect_ok("apiVersion: skiff.dev/v1\nkind: ServiceAccount\nmetadata:\n"
              "  generateName: fraud-pipeline-\n",
              "ServiceAccount");
    expect_ok("apiVersion: skiff.dev/v1\nkind: ServiceAccount\nmetadata:\n"
              "  name: a.b-c.d9\n  namespace: ml-ops\n"
              "  labels: {app.kubernetes.io/name: fraud, created-by: Ram, empty: \"\"}\n"
              "  annotations: {note: \"free text, any: thing\"}\n",
              "ServiceAccount");
    expect_error("apiVersion: skiff.dev/v1\nkind: ServiceAccount\nmetadata:\n  name: a..b\n",
                 "x.yaml:4:9: metadata.name: \"a..b\" is not a valid name: a lowercase RFC 1123 "
                 "subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                 "must start and end with an alphanumeric character (at most 253)");
    /* 254 characters is one too many */
    struct skiff_buf b = SKIFF_BUF_INIT;
    skiff_buf_puts(&b, "apiVersion: skiff.dev/v1\nkind: ServiceAccount\nmetadata:\n  name: ");
    for (int i = 0; i < 254; i++)
        skiff_buf_putc(&b, 'a');
    skiff_buf_putc(&b, '\n');
    struct skiff_validation v;
    struct skiff_err err;
    char msg[1024];
    assert_int_equal(validate_yaml(b.ptr, &v, &err, msg, sizeof msg, NULL), SKIFF_EINVAL);
    skiff_validation_release(&v);
    b.ptr[b.len - 2] = '\n';   /* 253 */
    b.ptr[b.len - 1] = '\0';
    assert_int_equal(validate_yaml(b.ptr, &v, &err, msg, sizeof msg, NULL), 0);
    skiff_validation_release(&v);
    skiff_buf_release(&b);
}

/* Validation over the API: no file, so errors carry the field path. */
static void test_api_field_paths(void **state)
{
    json_t *obj = json_loads("{\"apiVersion\": \"argoproj.io/v1alpha1\", \"kind\": \"Workflow\","
                             " \"metadata\": {\"name\": \"wf\"}, \"spec\": {\"entrypoint\": \"x\","
                             " \"templates\": [{\"name\": \"a\", \"container\": {}},"
                             " {\"name\": \"b\", \"steps\": [[{\"name\": \"s\", \"template\":"
                             " \"nope\"}]]}]}}",
                             0, NULL);
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_validation v = {.err = &err};
    char buf[512];
    assert_non_null(obj);
    assert_int_equal(skiff_resource_validate(obj, &v, NULL), SKIFF_EINVAL);
    assert_string_equal(err.where, "spec.templates[1].steps[0][0].template");
    assert_string_equal(err.msg, "unknown template \"nope\"");
    assert_string_equal(skiff_err_format(&err, buf, sizeof buf),
                        "spec.templates[1].steps[0][0].template: unknown template \"nope\"");
    /* only the first error sticks */
    assert_int_equal(skiff_validation_fail(&v, "/spec", SKIFF_EPARSE, "later"), SKIFF_EPARSE);
    assert_string_equal(err.msg, "unknown template \"nope\"");
    skiff_validation_release(&v);

    json_object_set_new(json_object_get(obj, "spec"), "wrong", json_true());
    json_array_set_new(json_object_get(json_object_get(obj, "spec"), "templates"), 1,
                       json_pack("{s:s,s:{}}", "name", "b", "suspend"));
    skiff_err_clear(&err);
    assert_int_equal(skiff_resource_validate(obj, &v, NULL), SKIFF_EINVAL);
    assert_string_equal(err.where, "spec.entrypoint");
    skiff_validation_release(&v);
    json_object_set_new(json_object_get(obj, "spec"), "entrypoint", json_string("b"));
    skiff_err_clear(&err);
    const struct skiff_kind *k = NULL;
    assert_int_equal(skiff_resource_validate(obj, &v, &k), 0);
    assert_string_equal(k->kind, "Workflow");
    assert_int_equal(v.nwarnings, 1);
    assert_string_equal(v.warnings[0], "spec.wrong: unknown field for Workflow (kept, ignored)");
    skiff_validation_release(&v);
    skiff_validation_release(&v);      /* twice is harmless */
    skiff_validation_release(NULL);
    json_decref(obj);

    /* a missing object is an error, not a crash */
    assert_int_equal(skiff_resource_validate(NULL, &v, NULL), SKIFF_EINVAL);
}

static void test_unknown_field_warnings(void **state)
{
    struct skiff_validation v;
    struct skiff_err err;
    char msg[1024];
    const char *text = "apiVersion: serving.kserve.io/v1beta1\n"
                       "kind: InferenceService\n"
                       "metadata:\n"
                       "  name: fraud\n"
                       "spec:\n"
                       "  predictor:\n"
                       "    model:\n"
                       "      modelFormat: {name: sklearn}\n"
                       "  explainr: {}\n"
                       "statuss: {}\n";
    assert_int_equal(validate_yaml(text, &v, &err, msg, sizeof msg, NULL), 0);
    assert_int_equal(v.nwarnings, 2);
    assert_string_equal(v.warnings[0], "x.yaml:10:10: statuss: unknown field for "
                                       "InferenceService (kept, ignored)");
    assert_string_equal(v.warnings[1], "x.yaml:9:13: spec.explainr: unknown field for "
                                       "InferenceService (kept, ignored)");
    skiff_validation_release(&v);
    assert_null(v.warnings);

    /* skiff's own kinds warn too, and never fail for it */
    text = "apiVersion: skiff.dev/v1\nkind: Entity\nmetadata: {name: user}\n"
           "spec:\n  joinKeys: [user_id]\n  joinkey: user_id\n";
    assert_int_equal(validate_yaml(text, &v, &err, msg, sizeof msg, NULL), 0);
    assert_int_equal(v.nwarnings, 1);
    assert_string_equal(v.warnings[0],
                        "x.yaml:6:12: spec.joinkey: unknown field for Entity (ignored)");
    skiff_validation_release(&v);

    /* status is the controllers', Application has operation: neither is unknown */
    text = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a}\n"
           "spec:\n  project: default\n  source: {repoURL: 'https://g/x'}\n"
           "  destination: {name: in-cluster}\noperation: {sync: {}}\nstatus: {}\n";
    assert_int_equal(validate_yaml(text, &v, &err, msg, sizeof msg, NULL), 0);
    assert_int_equal(v.nwarnings, 0);
    skiff_validation_release(&v);
}

/* ---- Argo ---- */

#define WF_HEAD "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata:\n  name: wf\n"

static void test_workflow(void **state)
{
    expect_ok(WF_HEAD
              "spec:\n"
              "  entrypoint: main\n"
              "  onExit: cleanup\n"
              "  arguments:\n"
              "    parameters:\n"
              "    - name: n\n"
              "      value: \"3\"\n"
              "  templates:\n"
              "  - name: main\n"
              "    dag:\n"
              "      tasks:\n"
              "      - {name: a, template: step}\n"
              "      - {name: b, template: step, dependencies: [a]}\n"
              "      - {name: c, templateRef: {name: other, template: t}, depends: a && b}\n"
              "      - name: d\n"
              "        inline: {container: {image: busybox}}\n"
              "  - name: step\n"
              "    container: {image: busybox, command: [echo]}\n"
              "  - name: seq\n"
              "    steps:\n"
              "    - - {name: one, template: step}\n"
              "      - {name: two, template: step}\n"
              "    - - {name: three, template: main}\n"
              "  - name: cleanup\n"
              "    script: {image: python, source: print(1)}\n"
              "  - name: make\n"
              "    resource: {action: create, manifest: \"kind: X\"}\n"
              "  - name: wait\n"
              "    suspend: {}\n",
              "Workflow");
    /* from a WorkflowTemplate: neither templates nor entrypoint needed */
    expect_ok(WF_HEAD "spec:\n  workflowTemplateRef: {name: fraud}\n", "Workflow");
    /* ... and its own templates may call the referenced ones */
    expect_ok(WF_HEAD "spec:\n  workflowTemplateRef: {name: fraud}\n  entrypoint: main\n"
                      "  templates:\n  - name: extra\n    steps: [[{name: s, template: train}]]\n",
              "Workflow");

    /* the error the header promises: at the entrypoint's value */
    expect_error(WF_HEAD
                 "spec:\n"
                 "  entrypoint: trainer\n"
                 "  templates:\n"
                 "  - name: train\n"
                 "    container: {image: x}\n",
                 "x.yaml:6:15: spec.entrypoint: unknown template \"trainer\"");
    expect_error(WF_HEAD "spec:\n  templates:\n  - name: a\n    suspend: {}\n",
                 "x.yaml:5:1: spec.entrypoint: missing required field");
    expect_error(WF_HEAD "spec:\n  entrypoint: a\n",
                 "x.yaml:5:1: spec.templates: missing required field");
    expect_error(WF_HEAD "spec:\n  entrypoint: a\n  templates: []\n",
                 "x.yaml:7:14: spec.templates: must not be empty");
    expect_error(WF_HEAD
                 "spec:\n"
                 "  entrypoint: a\n"
                 "  templates:\n"
                 "  - name: a\n"
                 "    suspend: {}\n"
                 "  - name: a\n"
                 "    suspend: {}\n",
                 "x.yaml:10:11: spec.templates[1].name: duplicate template name \"a\"");
    expect_error(WF_HEAD "spec:\n  entrypoint: a\n  templates:\n  - suspend: {}\n",
                 "x.yaml:8:5: spec.templates[0].name: missing required field");
    expect_error(WF_HEAD "spec:\n  entrypoint: a\n  templates:\n  - name: a\n    inputs: {}\n",
                 "x.yaml:8:5: spec.templates[0]: template \"a\" has no type: give it one of "
                 "container, script, dag, steps, resource, suspend, http, containerSet, data or "
                 "plugin");
    expect_error(WF_HEAD
                 "spec:\n  entrypoint: a\n  templates:\n  - name: a\n    container: {image: x}\n"
                 "    script: {image: y}\n",
                 "x.yaml:10:13: spec.templates[0].script: template \"a\" has more than one type "
                 "(container and script)");
    expect_error(WF_HEAD
                 "spec:\n"
                 "  entrypoint: main\n"
                 "  templates:\n"
                 "  - name: main\n"
                 "    dag:\n"
                 "      tasks:\n"
                 "      - name: a\n"
                 "        template: trainer\n",
                 "x.yaml:12:19: spec.templates[0].dag.tasks[0].template: unknown template "
                 "\"trainer\"");
    expect_error(WF_HEAD
                 "spec:\n"
                 "  entrypoint: main\n"
                 "  templates:\n"
                 "  - name: main\n"
                 "    dag:\n"
                 "      tasks:\n"
                 "      - name: a\n"
                 "        arguments: {}\n",
                 "x.yaml:11:9: spec.templates[0].dag.tasks[0].template: missing required field "
                 "(template, templateRef or inline)");
    expect_error(WF_HEAD
                 "spec:\n"
                 "  entrypoint: main\n"
                 "  templates:\n"
                 "  - name: main\n"
                 "    dag:\n"
                 "      tasks:\n"
                 "      - {name: a, template: main}\n"
                 "      - {name: b, template: main, dependencies: [a, c]}\n",
                 "x.yaml:12:53: spec.templates[0].dag.tasks[1].dependencies[1]: unknown task "
                 "\"c\" (not a task of this dag)");
    expect_error(WF_HEAD
                 "spec:\n"
                 "  entrypoint: main\n"
                 "  templates:\n"
                 "  - name: main\n"
                 "    dag:\n"
                 "      tasks:\n"
                 "      - {name: a, template: main}\n"
                 "      - {name: a, template: main}\n",
                 "x.yaml:12:16: spec.templates[0].dag.tasks[1].name: duplicate task name \"a\"");
    expect_error(WF_HEAD
                 "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
                 "    - {name: flat, template: main}\n",
                 "x.yaml:10:7: spec.templates[0].steps[0]: a step group must be a list of steps "
                 "(\"- - name: ...\")");
    expect_error(WF_HEAD
                 "spec:\n  entrypoint: main\n  templates:\n  - name: main\n    steps:\n"
                 "    - - {name: s, template: gone}\n",
                 "x.yaml:10:29: spec.templates[0].steps[0][0].template: unknown template \"gone\"");
    expect_error(WF_HEAD
                 "spec:\n  entrypoint: main\n  onExit: exit\n  templates:\n  - name: main\n"
                 "    suspend: {}\n",
                 "x.yaml:7:11: spec.onExit: unknown template \"exit\"");
    expect_error(WF_HEAD
                 "spec:\n  entrypoint: main\n  arguments:\n    parameters:\n    - value: x\n"
                 "  templates:\n  - name: main\n    suspend: {}\n",
                 "x.yaml:9:7: spec.arguments.parameters[0].name: missing required field");
    expect_error(WF_HEAD
                 "spec:\n  entrypoint: main\n  templates:\n  - name: main\n"
                 "    resource: {manifest: x}\n",
                 "x.yaml:9:15: spec.templates[0].resource.action: missing required field");
}

static void test_workflow_template_and_cron(void **state)
{
    expect_ok("apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: t}\n"
              "spec:\n  templates:\n  - name: a\n    container: {image: x}\n",
              "WorkflowTemplate");
    expect_error("apiVersion: argoproj.io/v1alpha1\nkind: WorkflowTemplate\nmetadata: {name: t}\n"
                 "spec:\n  entrypoint: b\n  templates:\n  - name: a\n    container: {image: x}\n",
                 "x.yaml:5:15: spec.entrypoint: unknown template \"b\"");

    const char *cron_ok = "apiVersion: argoproj.io/v1alpha1\nkind: CronWorkflow\n"
                          "metadata: {name: nightly}\n"
                          "spec:\n"
                          "  schedules: [\"0 2 * * *\", \"@hourly\"]\n"
                          "  timezone: Europe/Berlin\n"
                          "  concurrencyPolicy: Forbid\n"
                          "  workflowSpec:\n"
                          "    entrypoint: main\n"
                          "    templates:\n"
                          "    - name: main\n"
                          "      container: {image: x}\n";
    expect_ok(cron_ok, "CronWorkflow");
    expect_error("apiVersion: argoproj.io/v1alpha1\nkind: CronWorkflow\nmetadata: {name: c}\n"
                 "spec:\n  workflowSpec: {workflowTemplateRef: {name: t}}\n",
                 "x.yaml:4:1: spec.schedules: missing required field (schedules: a list of cron "
                 "expressions)");
    expect_error("apiVersion: argoproj.io/v1alpha1\nkind: CronWorkflow\nmetadata: {name: c}\n"
                 "spec:\n  schedules: ['@daily']\n",
                 "x.yaml:4:1: spec.workflowSpec: missing required field");
    expect_error("apiVersion: argoproj.io/v1alpha1\nkind: CronWorkflow\nmetadata: {name: c}\n"
                 "spec:\n  schedules: ['@daily']\n  workflowSpec:\n    entrypoint: x\n"
                 "    templates: [{name: y, suspend: {}}]\n",
                 "x.yaml:7:17: spec.workflowSpec.entrypoint: unknown template \"x\"");

    /* the singular schedule of Argo 3.x still works, with a warning */
    struct skiff_validation v;
    struct skiff_err err;
    char msg[512];
    assert_int_equal(validate_yaml("apiVersion: argoproj.io/v1alpha1\nkind: CronWorkflow\n"
                                   "metadata: {name: c}\nspec:\n  schedule: '*/5 * * * *'\n"
                                   "  workflowSpec: {workflowTemplateRef: {name: t}}\n",
                                   &v, &err, msg, sizeof msg, NULL),
                     0);
    assert_int_equal(v.nwarnings, 1);
    assert_string_equal(v.warnings[0], "x.yaml:5:13: spec.schedule: Argo Workflows v4.0 removed "
                                       "schedule; use schedules: ['*/5 * * * *']");
    skiff_validation_release(&v);
}

#define APP_HEAD "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a}\n"

static void test_application(void **state)
{
    expect_ok(APP_HEAD "spec:\n  project: default\n  sources:\n  - repoURL: https://g/a\n"
                       "  - repoURL: https://g/b\n    ref: values\n"
                       "  destination: {server: 'https://kubernetes.default.svc'}\n",
              "Application");
    expect_error(APP_HEAD "spec:\n  source: {repoURL: x}\n  destination: {name: c}\n",
                 "x.yaml:4:1: spec.project: missing required field");
    expect_error(APP_HEAD "spec:\n  project: p\n  destination: {name: c}\n",
                 "x.yaml:4:1: spec.source: missing required field (source, or sources)");
    expect_error(APP_HEAD "spec:\n  project: p\n  source: {path: k8s/}\n  destination: {name: c}\n",
                 "x.yaml:6:11: spec.source.repoURL: missing required field");
    expect_error(APP_HEAD "spec:\n  project: p\n  source: {repoURL: x}\n",
                 "x.yaml:4:1: spec.destination: missing required field");
    expect_error(APP_HEAD "spec:\n  project: p\n  source: {repoURL: x}\n"
                          "  destination: {namespace: ml}\n",
                 "x.yaml:7:16: spec.destination.server: missing required field (server, or name)");
    expect_error(APP_HEAD "spec:\n  project: p\n  source: {repoURL: x}\n"
                          "  destination: {namespace: ml, server: s, name: n}\n",
                 "x.yaml:7:49: spec.destination.name: set server or name, not both");
}

/* ---- KServe ---- */

#define ISVC_HEAD "apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n" \
                  "metadata: {name: fraud}\n"

static void test_inference_service(void **state)
{
    expect_ok(ISVC_HEAD "spec:\n  predictor:\n    canaryTrafficPercent: 10\n"
                        "    model:\n      modelFormat: {name: xgboost}\n",
              "InferenceService");
    expect_ok(ISVC_HEAD "spec:\n  predictor:\n    sklearn: {storageUri: 'gs://b/m'}\n",
              "InferenceService");
    expect_ok(ISVC_HEAD "spec:\n  predictor:\n    containers:\n    - name: kserve-container\n"
                        "      image: my/server:1\n"
                        "  transformer:\n    containers: [{name: t, image: my/t:1}]\n",
              "InferenceService");
    expect_error(ISVC_HEAD "spec: {}\n", "x.yaml:4:7: spec.predictor: missing required field");
    expect_error(ISVC_HEAD "spec:\n  predictor:\n    minReplicas: 1\n",
                 "x.yaml:5:3: spec.predictor.model: missing required field (a predictor needs a "
                 "model, custom containers, or a framework key such as sklearn)");
    expect_error(ISVC_HEAD "spec:\n  predictor:\n    model:\n      storageUri: s3://b/m\n",
                 "x.yaml:6:5: spec.predictor.model.modelFormat: missing required field");
    expect_error(ISVC_HEAD "spec:\n  predictor:\n    model:\n      modelFormat: {version: '1'}\n",
                 "x.yaml:7:20: spec.predictor.model.modelFormat.name: missing required field");
    expect_error(ISVC_HEAD "spec:\n  predictor:\n    canaryTrafficPercent: 110\n"
                           "    model: {modelFormat: {name: m}}\n",
                 "x.yaml:6:27: spec.predictor.canaryTrafficPercent: must be between 0 and 100, "
                 "not 110");
    expect_error(ISVC_HEAD "spec:\n  predictor:\n    canaryTrafficPercent: \"10\"\n"
                           "    model: {modelFormat: {name: m}}\n",
                 "x.yaml:6:27: spec.predictor.canaryTrafficPercent: must be an integer, not a "
                 "string");
    expect_error(ISVC_HEAD "spec:\n  predictor:\n    minReplicas: -1\n"
                           "    model: {modelFormat: {name: m}}\n",
                 "x.yaml:6:18: spec.predictor.minReplicas: 'MinReplicas' cannot be less than 0");
    expect_error(ISVC_HEAD "spec:\n  predictor:\n    minReplicas: 5\n    maxReplicas: 2\n"
                           "    model: {modelFormat: {name: m}}\n",
                 "x.yaml:6:18: spec.predictor.minReplicas: 'MinReplicas' cannot be greater than "
                 "MaxReplicas");
    expect_error(ISVC_HEAD "spec:\n  predictor:\n    scaleMetric: latency\n"
                           "    model: {modelFormat: {name: m}}\n",
                 "x.yaml:6:18: spec.predictor.scaleMetric: \"latency\" is not one of cpu, memory, "
                 "concurrency, rps");
    expect_error(ISVC_HEAD "spec:\n  predictor:\n    model: {modelFormat: {name: m}}\n"
                           "    sklearn: {}\n",
                 "x.yaml:7:14: spec.predictor.sklearn: exactly one predictor implementation is "
                 "allowed, found model and sklearn");
    expect_error("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\n"
                 "metadata: {name: 1fraud}\nspec:\n  predictor: {sklearn: {}}\n",
                 "x.yaml:3:18: metadata.name: a InferenceService name must consist of lower case "
                 "alphanumeric characters or '-', and must start with alphabetical character "
                 "(\"1fraud\")");
}

static void test_serving_runtime(void **state)
{
    expect_ok("apiVersion: serving.kserve.io/v1alpha1\nkind: ServingRuntime\n"
              "metadata: {name: skiff-v2}\n"
              "spec:\n"
              "  supportedModelFormats:\n"
              "  - {name: xgboost, version: '2', autoSelect: true, priority: 2}\n"
              "  protocolVersions: [v2]\n"
              "  containers:\n"
              "  - name: kserve-container\n"
              "    image: skiff:latest\n"
              "    args: [serve, --model_dir=/mnt/models]\n",
              "ServingRuntime");
    expect_error("apiVersion: serving.kserve.io/v1alpha1\nkind: ServingRuntime\n"
                 "metadata: {name: r}\nspec:\n  supportedModelFormats: [{name: x}]\n",
                 "x.yaml:4:1: spec.containers: missing required field");
    expect_error("apiVersion: serving.kserve.io/v1alpha1\nkind: ServingRuntime\n"
                 "metadata: {name: r}\nspec:\n  supportedModelFormats: [{version: '1'}]\n"
                 "  containers: [{name: c}]\n",
                 "x.yaml:5:27: spec.supportedModelFormats[0].name: missing required field");
    expect_error("apiVersion: serving.kserve.io/v1alpha1\nkind: ServingRuntime\n"
                 "metadata: {name: r}\nspec:\n  containers: [{image: x}]\n",
                 "x.yaml:5:16: spec.containers[0].name: missing required field");

    struct skiff_validation v;
    struct skiff_err err;
    char msg[512];
    assert_int_equal(validate_yaml("apiVersion: serving.kserve.io/v1alpha1\nkind: ServingRuntime\n"
                                   "metadata: {name: r}\nspec:\n  containers: [{name: c}]\n",
                                   &v, &err, msg, sizeof msg, NULL),
                     0);
    assert_int_equal(v.nwarnings, 1);
    assert_non_null(strstr(v.warnings[0], "no supportedModelFormats"));
    skiff_validation_release(&v);
}

/* ---- KEDA ---- */

#define SJ_HEAD "apiVersion: keda.sh/v1alpha1\nkind: ScaledJob\nmetadata: {name: trainer}\n"

static void test_scaled_job(void **state)
{
    expect_ok(SJ_HEAD "spec:\n  jobTargetRef:\n    template:\n      spec:\n"
                      "        containers: [{name: w, image: x}]\n"
                      "  triggers:\n  - type: skiff-queue\n    metadata: {queueName: jobs, "
                      "queueLength: '5'}\n",
              "ScaledJob");
    expect_error(SJ_HEAD "spec:\n  triggers: [{type: t, metadata: {}}]\n",
                 "x.yaml:4:1: spec.jobTargetRef: missing required field");
    expect_error(SJ_HEAD "spec:\n  jobTargetRef: {parallelism: 1}\n  triggers: [{type: t, "
                         "metadata: {}}]\n",
                 "x.yaml:5:17: spec.jobTargetRef.template: missing required field");
    expect_error(SJ_HEAD "spec:\n  jobTargetRef: {template: {}}\n  triggers: []\n",
                 "x.yaml:6:13: spec.triggers: must not be empty");
    expect_error(SJ_HEAD "spec:\n  jobTargetRef: {template: {}}\n  triggers:\n"
                         "  - metadata: {a: b}\n",
                 "x.yaml:7:5: spec.triggers[0].type: missing required field");
    expect_error(SJ_HEAD "spec:\n  jobTargetRef: {template: {}}\n  triggers:\n  - type: x\n",
                 "x.yaml:7:5: spec.triggers[0].metadata: missing required field");
    /* trigger metadata is map[string]string: queueLength: 1 would be refused by the cluster */
    expect_error(SJ_HEAD "spec:\n  jobTargetRef: {template: {}}\n  triggers:\n  - type: x\n"
                         "    metadata:\n      queueLength: 1\n",
                 "x.yaml:9:20: spec.triggers[0].metadata.queueLength: must be a string, not an "
                 "integer (quote the value)");
    expect_error(SJ_HEAD "spec:\n  jobTargetRef: {template: {}}\n  triggers: [{type: x, "
                         "metadata: {}}]\n  maxReplicaCount: -2\n",
                 "x.yaml:7:20: spec.maxReplicaCount: must be between 0 and 2147483647, not -2");
}

/* ---- skiff.dev ---- */

#define SK(kind) "apiVersion: skiff.dev/v1\nkind: " kind "\nmetadata: {name: x}\n"

static void test_feature_store_kinds(void **state)
{
    expect_ok(SK("Entity") "spec:\n  joinKeys: [user_id]\n  valueType: STRING\n"
                           "  description: a card holder\n  tags: {team: fraud-ml}\n",
              "Entity");
    expect_error(SK("Entity") "spec:\n  joinKeys: []\n",
                 "x.yaml:5:13: spec.joinKeys: must not be empty");
    expect_error(SK("Entity") "spec:\n  joinKeys: [user_id]\n  valueType: TEXT\n",
                 "x.yaml:6:14: spec.valueType: \"TEXT\" is not one of STRING, INT32, INT64, BYTES, "
                 "DOUBLE, FLOAT, BOOL, UNIX_TIMESTAMP");

    expect_ok(SK("DataSource") "spec:\n  file: {path: data/tx.parquet}\n"
                               "  timestampField: event_timestamp\n"
                               "  createdTimestampColumn: created_at\n",
              "DataSource");
    expect_ok(SK("DataSource") "spec:\n  postgres: {query: select 1}\n", "DataSource");
    expect_ok(SK("DataSource") "spec:\n  push: {batchSource: tx}\n", "DataSource");
    expect_ok(SK("DataSource") "spec:\n  request:\n    schema: [{name: amount, dtype: DOUBLE}]\n",
              "DataSource");
    expect_error(SK("DataSource") "spec:\n  timestampField: ts\n",
                 "x.yaml:4:1: spec.file: missing required field (one of file, postgres, push or "
                 "request)");
    expect_error(SK("DataSource") "spec:\n  file: {path: a}\n  push: {batchSource: b}\n",
                 "x.yaml:6:9: spec.push: a data source is one of file, postgres, push or request, "
                 "not both file and push");
    expect_error(SK("DataSource") "spec:\n  file: {format: parquet}\n",
                 "x.yaml:5:9: spec.file.path: missing required field");
    expect_error(SK("DataSource") "spec:\n  postgres: {table: t, query: q}\n",
                 "x.yaml:5:31: spec.postgres.query: set table or query, not both");
    expect_error(SK("DataSource") "spec:\n  file: {path: a}\n  timestampField: ts\n"
                                  "  createdTimestampColumn: ts\n",
                 "x.yaml:7:27: spec.createdTimestampColumn: must differ from timestampField");

    const char *fv = SK("FeatureView")
        "spec:\n"
        "  entities: [user]\n"
        "  source: transactions\n"
        "  ttl: 7d\n"
        "  online: true\n"
        "  fields:\n"
        "  - {name: tx_count_1h, dtype: INT64}\n"
        "  - {name: avg_amount_7d, dtype: DOUBLE}\n"
        "  - {name: high_risk_merchant, dtype: BOOL}\n";
    expect_ok(fv, "FeatureView");
    expect_error(SK("FeatureView") "spec:\n  source: s\n  fields: [{name: a, dtype: INT64}]\n",
                 "x.yaml:4:1: spec.entities: missing required field");
    expect_error(SK("FeatureView") "spec:\n  entities: [u]\n  fields: [{name: a, dtype: INT64}]\n",
                 "x.yaml:4:1: spec.source: missing required field");
    expect_error(SK("FeatureView") "spec:\n  entities: [u]\n  source: s\n"
                                   "  fields:\n  - {name: a, dtype: INT64}\n  - {name: b}\n",
                 "x.yaml:9:5: spec.fields[1].dtype: missing required field");
    expect_error(SK("FeatureView") "spec:\n  entities: [u]\n  source: s\n"
                                   "  fields:\n  - {name: a, dtype: DECIMAL}\n",
                 "x.yaml:8:22: spec.fields[0].dtype: \"DECIMAL\" is not one of INT64, INT32, "
                 "DOUBLE, FLOAT, STRING, BOOL, UNIX_TIMESTAMP");
    expect_error(SK("FeatureView") "spec:\n  entities: [u]\n  source: s\n"
                                   "  fields:\n  - {name: a, dtype: INT64}\n"
                                   "  - {name: a, dtype: BOOL}\n",
                 "x.yaml:9:12: spec.fields[1].name: duplicate field name \"a\"");
    expect_error(SK("FeatureView") "spec:\n  entities: [u]\n  source: s\n  ttl: a week\n"
                                   "  fields: [{name: a, dtype: INT64}]\n",
                 "x.yaml:7:8: spec.ttl: must be a duration such as \"24h\" or \"7d\", or seconds "
                 "(0 means no limit)");

    expect_ok(SK("FeatureService") "spec:\n  features:\n  - user_transaction_features\n"
                                   "  - velocity:score\n"
                                   "  - {featureView: v, features: [a, b]}\n",
              "FeatureService");
    expect_error(SK("FeatureService") "spec:\n  features: []\n",
                 "x.yaml:5:13: spec.features: must not be empty");
    expect_error(SK("FeatureService") "spec:\n  features: [{features: [a]}]\n",
                 "x.yaml:5:14: spec.features[0].featureView: missing required field");
    expect_error(SK("FeatureService") "spec:\n  features: [3]\n",
                 "x.yaml:5:14: spec.features[0]: must be a feature view name, "
                 "\"<view>:<feature>\", or {view, features}");
    /* the example spells the projection {view: ...} */
    expect_ok(SK("FeatureService") "spec:\n  features: [{view: user_stats}]\n", "FeatureService");
    expect_ok(SK("FeatureService") "spec:\n  features: [{view: v, features: [a]}]\n",
              "FeatureService");
    expect_error(SK("FeatureService") "spec:\n  features: [{view: v, featureView: w}]\n",
                 "x.yaml:5:37: spec.features[0].featureView: set view or featureView, not both");

    /* feature-store kinds keep Feast's names; the example applies */
    expect_ok("apiVersion: skiff.dev/v1\nkind: FeatureService\n"
              "metadata: {name: fraud_detection_v3}\nspec:\n  features: [{view: user_stats}]\n",
              "FeatureService");
    expect_ok("apiVersion: skiff.dev/v1\nkind: DataSource\nmetadata: {name: user_stats_source}\n"
              "spec:\n  file: {path: data/user_stats.csv}\n  timestampField: event_timestamp\n"
              "  createdTimestampColumn: created_at\n",
              "DataSource");
    expect_error("apiVersion: skiff.dev/v1\nkind: FeatureView\nmetadata: {name: '-x'}\n"
                 "spec: {entities: [u], source: s, fields: [{name: a, dtype: INT64}]}\n",
                 "x.yaml:3:18: metadata.name: \"-x\" is not a valid name: a feature-store name "
                 "must consist of letters, digits, '_', '-' or '.', start with a letter, digit or "
                 "'_', and be at most 253 characters");
    /* ...while the other kinds keep Kubernetes' rule */
    expect_error("apiVersion: skiff.dev/v1\nkind: DriftMonitor\nmetadata: {name: user_stats}\n"
                 "spec: {featureView: v}\n",
                 "x.yaml:3:18: metadata.name: \"user_stats\" is not a valid name: a lowercase RFC "
                 "1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (at most 253)");

    /* a view of windowed aggregations and derived fields needs no plain
     * fields, and raises no unknown-field warning */
    expect_ok(SK("FeatureView") "spec:\n  entities: [user]\n  source: tx\n"
                                "  aggregations:\n"
                                "  - {name: tx_count_1h, function: count, window: 1h}\n"
                                "  - {name: avg_amount_7d, function: avg, column: amount, "
                                "window: 7d}\n"
                                "  derived:\n"
                                "  - {name: velocity, expr: 'tx_count_1h / (avg_amount_7d + "
                                "1)'}\n",
              "FeatureView");
    expect_error(SK("FeatureView") "spec:\n  entities: [u]\n  source: s\n"
                                   "  aggregations: [{name: a, function: median, column: x, "
                                   "window: 1h}]\n",
                 "x.yaml:7:38: spec.aggregations[0].function: \"median\" is not one of count, "
                 "sum, avg, min, max, stddev, count_distinct, last");
    expect_error(SK("FeatureView") "spec:\n  entities: [u]\n  source: s\n"
                                   "  aggregations: [{name: a, function: sum, window: 1h}]\n",
                 "x.yaml:7:18: spec.aggregations[0].column: missing required field");
    expect_error(SK("FeatureView") "spec:\n  entities: [u]\n  source: s\n"
                                   "  aggregations: [{name: a, function: count, window: 0h}]\n",
                 "x.yaml:7:53: spec.aggregations[0].window: must be a positive duration such as "
                 "\"1h\" or \"7d\"");
    expect_error(SK("FeatureView") "spec:\n  entities: [u]\n  source: s\n"
                                   "  derived: [{name: d}]\n",
                 "x.yaml:7:13: spec.derived[0].expr: missing required field");
    expect_error(SK("FeatureView") "spec:\n  entities: [u]\n  source: s\n",
                 "x.yaml:4:1: spec.fields: missing required field");
}

static void test_drift_monitor_and_identity(void **state)
{
    expect_ok(SK("DriftMonitor") "spec:\n  featureService: fraud_detection_v3\n"
                                 "  stattest: psi\n  stattestThreshold: 0.2\n  driftShare: 0.3\n"
                                 "  schedule: '0 * * * *'\n  columns: [velocity_score]\n"
                                 "  alert: {webhook: 'https://hooks/x'}\n"
                                 "  reference: {model: 'models:/fraud@champion'}\n"
                                 "  current: {inferenceService: fraud, window: 24h}\n",
              "DriftMonitor");
    /* a feature view or service names no data: reference and current are required */
    expect_error(SK("DriftMonitor") "spec:\n  featureService: fraud_detection_v3\n",
                 "x.yaml:4:1: spec.reference: missing required field (model: "
                 "\"models:/NAME@ALIAS\", or path: a CSV file; featureView / featureService "
                 "do not replace it)");
    expect_error(SK("DriftMonitor") "spec:\n  stattest: psi\n  reference: {path: r.csv}\n",
                 "x.yaml:4:1: spec.current: missing required field (inferenceService: its "
                 "payload log, or path: a CSV file; featureView / featureService do not "
                 "replace it)");
    expect_error(SK("DriftMonitor") "spec:\n  featureView: v\n  stattest: t-test\n",
                 "x.yaml:6:13: spec.stattest: \"t-test\" is not one of ks, chisquare, z, "
                 "wasserstein, jensenshannon, psi");
    expect_error(SK("DriftMonitor") "spec:\n  featureView: v\n  driftShare: 30\n",
                 "x.yaml:6:15: spec.driftShare: must be in (0, 1], e.g. 0.3 for 30% of the "
                 "columns");

    expect_ok(SK("ServiceAccount") "spec:\n  roles: [trainer]\n", "ServiceAccount");
    expect_ok(SK("ServiceAccount"), "ServiceAccount");
    expect_error(SK("ServiceAccount") "spec:\n  roles: trainer\n",
                 "x.yaml:5:10: spec.roles: must be a list, not a string");
    expect_ok(SK("Role") "spec:\n  scopes: [features:read, 'models:*', admin]\n", "Role");
    expect_error(SK("Role") "spec:\n  scopes: []\n", "x.yaml:5:11: spec.scopes: must not be empty");
    expect_error(SK("Role") "spec:\n  scopes: [features read]\n",
                 "x.yaml:5:12: spec.scopes[0]: a scope is one word, such as \"features:read\", "
                 "\"models:*\" or \"admin\"");
}

/* ---- the article's files ---- */

static void test_seed_examples_validate(void **state)
{
    const char *data = getenv("SKIFF_TEST_DATA");
    char dir[1024], path[2048];
    DIR *dp;
    struct dirent *de;
    size_t files = 0;

    assert_non_null(data);
    snprintf(dir, sizeof dir, "%s/../../examples/seed", data);
    dp = opendir(dir);
    if (!dp)
        fprintf(stderr, "cannot open %s\n", dir);
    assert_non_null(dp);
    while ((de = readdir(dp))) {
        struct skiff_yaml_docs *d = NULL;
        struct skiff_err err = SKIFF_ERR_INIT;
        char msg[1024];
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (skiff_yaml_load_file(path, &d, &err))
            fprintf(stderr, "%s\n", skiff_err_format(&err, msg, sizeof msg));
        assert_non_null(d);
        assert_int_equal(skiff_yaml_count(d), 1);
        for (size_t i = 0; i < skiff_yaml_count(d); i++) {
            struct skiff_validation v = {.docs = d, .doc_index = i, .err = &err};
            int rc = skiff_resource_validate(skiff_yaml_doc(d, i), &v, NULL);
            if (rc)
                fprintf(stderr, "%s\n", skiff_err_format(&err, msg, sizeof msg));
            for (size_t w = 0; w < v.nwarnings; w++)
                fprintf(stderr, "warning: %s\n", v.warnings[w]);
            assert_int_equal(rc, 0);
            assert_int_equal(v.nwarnings, 0);
            skiff_validation_release(&v);
        }
        skiff_yaml_free(d);
        files++;
    }
    closedir(dp);
    assert_int_equal(files, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup_every_name_form),
        cmocka_unit_test(test_kind_for),
        cmocka_unit_test(test_generic_checks),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_api_field_paths),
        cmocka_unit_test(test_unknown_field_warnings),
        cmocka_unit_test(test_workflow),
        cmocka_unit_test(test_workflow_template_and_cron),
        cmocka_unit_test(test_application),
        cmocka_unit_test(test_inference_service),
        cmocka_unit_test(test_serving_runtime),
        cmocka_unit_test(test_scaled_job),
        cmocka_unit_test(test_feature_store_kinds),
        cmocka_unit_test(test_drift_monitor_and_identity),
        cmocka_unit_test(test_seed_examples_validate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
