/* Unit tests for src/base/yaml.c: core-schema types, documents, positions,
 * syntax errors, aliases, JSON input, emitting, and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/yaml.h"

/* Parses `text` (a C string) and expects success. */
static struct skiff_yaml_docs *parse_ok(const char *text)
{
    struct skiff_yaml_docs *d = NULL;
    struct skiff_err e = SKIFF_ERR_INIT;
    int rc = skiff_yaml_parse(text, strlen(text), "t.yaml", &d, &e);
    if (rc)
        fprintf(stderr, "unexpected error: %s:%d:%d: %s\n", e.where, e.line, e.col, e.msg);
    assert_int_equal(rc, 0);
    assert_non_null(d);
    return d;
}

/* Parses `text` and expects SKIFF_EPARSE at line:col with `msg` in the message. */
static void parse_fails(const char *text, int line, int col, const char *msg)
{
    struct skiff_yaml_docs *d = (void *)1;
    struct skiff_err e = SKIFF_ERR_INIT;
    int rc = skiff_yaml_parse(text, strlen(text), "bad.yaml", &d, &e);
    if (rc != SKIFF_EPARSE || e.line != line || e.col != col || !strstr(e.msg, msg))
        fprintf(stderr, "for %s\n got rc=%d %s:%d:%d: %s\n", text, rc, e.where, e.line, e.col,
                e.msg);
    assert_int_equal(rc, SKIFF_EPARSE);
    assert_null(d);
    assert_string_equal(e.where, "bad.yaml");
    assert_int_equal(e.line, line);
    assert_int_equal(e.col, col);
    assert_non_null(strstr(e.msg, msg));
}

static void assert_pos(const struct skiff_yaml_docs *d, size_t i, const char *ptr, int line,
                       int col)
{
    int l = -1, c = -1;
    assert_int_equal(skiff_yaml_pos(d, i, ptr, &l, &c), 0);
    if (l != line || c != col)
        fprintf(stderr, "pos of '%s': got %d:%d, want %d:%d\n", ptr, l, c, line, col);
    assert_int_equal(l, line);
    assert_int_equal(c, col);
}

static void test_core_schema_types(void **state)
{
    struct skiff_yaml_docs *d = parse_ok(
        "replicas: 3\n"
        "version: \"v3.2.1\"\n"
        "queueLength: \"1\"\n"
        "single: '42'\n"
        "neg: -17\n"
        "plus: +5\n"
        "hex: 0x1F\n"
        "oct: 0o17\n"
        "oct11: 0755\n"
        "notoct: 0789\n"
        "zero: 0\n"
        "big: 123456789012345678901234567890\n"
        "f1: 1.5\n"
        "f2: -.5\n"
        "f3: 1e3\n"
        "f4: 2.\n"
        "t1: true\n"
        "t2: True\n"
        "t3: TRUE\n"
        "f: false\n"
        "yes11: yes\n"
        "n1: null\n"
        "n2: ~\n"
        "n3:\n"
        "qnull: \"null\"\n"
        "qtrue: 'true'\n"
        "block: |\n"
        "  123\n"
        "folded: >-\n"
        "  a\n"
        "  b\n"
        "tagstr: !!str 3\n"
        "tagint: !!int \"7\"\n"
        "tagfloat: !!float 2\n"
        "nonspecific: ! 12\n"
        "ver: 3.2.1\n"
        "dash: 1-2\n"
        "200: ok\n"
        "true: key\n");
    json_t *o = skiff_yaml_doc(d, 0);
    assert_int_equal(skiff_yaml_count(d), 1);
    assert_true(json_is_integer(json_object_get(o, "replicas")));
    assert_int_equal(json_integer_value(json_object_get(o, "replicas")), 3);
    assert_string_equal(json_string_value(json_object_get(o, "version")), "v3.2.1");
    assert_string_equal(json_string_value(json_object_get(o, "queueLength")), "1");
    assert_string_equal(json_string_value(json_object_get(o, "single")), "42");
    assert_int_equal(json_integer_value(json_object_get(o, "neg")), -17);
    assert_int_equal(json_integer_value(json_object_get(o, "plus")), 5);
    assert_int_equal(json_integer_value(json_object_get(o, "hex")), 31);
    assert_int_equal(json_integer_value(json_object_get(o, "oct")), 15);
    /* Kubernetes' (YAML 1.1) octal: the same manifest means the same file mode */
    assert_int_equal(json_integer_value(json_object_get(o, "oct11")), 0755);
    assert_int_equal(json_integer_value(json_object_get(o, "notoct")), 789);
    assert_int_equal(json_integer_value(json_object_get(o, "zero")), 0);
    assert_true(json_is_real(json_object_get(o, "big")));
    assert_true(json_real_value(json_object_get(o, "f1")) == 1.5);
    assert_true(json_real_value(json_object_get(o, "f2")) == -0.5);
    assert_true(json_real_value(json_object_get(o, "f3")) == 1000.0);
    assert_true(json_real_value(json_object_get(o, "f4")) == 2.0);
    assert_true(json_is_true(json_object_get(o, "t1")));
    assert_true(json_is_true(json_object_get(o, "t2")));
    assert_true(json_is_true(json_object_get(o, "t3")));
    assert_true(json_is_false(json_object_get(o, "f")));
    assert_string_equal(json_string_value(json_object_get(o, "yes11")), "yes"); /* 1.2, not 1.1 */
    assert_true(json_is_null(json_object_get(o, "n1")));
    assert_true(json_is_null(json_object_get(o, "n2")));
    assert_true(json_is_null(json_object_get(o, "n3")));
    assert_string_equal(json_string_value(json_object_get(o, "qnull")), "null");
    assert_string_equal(json_string_value(json_object_get(o, "qtrue")), "true");
    assert_string_equal(json_string_value(json_object_get(o, "block")), "123\n");
    assert_string_equal(json_string_value(json_object_get(o, "folded")), "a b");
    assert_string_equal(json_string_value(json_object_get(o, "tagstr")), "3");
    assert_int_equal(json_integer_value(json_object_get(o, "tagint")), 7);
    assert_true(json_is_real(json_object_get(o, "tagfloat")));
    assert_string_equal(json_string_value(json_object_get(o, "nonspecific")), "12");
    assert_string_equal(json_string_value(json_object_get(o, "ver")), "3.2.1");
    assert_string_equal(json_string_value(json_object_get(o, "dash")), "1-2");
    /* JSON keys are strings: a key keeps its source text */
    assert_string_equal(json_string_value(json_object_get(o, "200")), "ok");
    assert_string_equal(json_string_value(json_object_get(o, "true")), "key");
    skiff_yaml_free(d);

    /* floats JSON cannot hold, and tags that do not fit, are errors at the value */
    parse_fails("a: 1\nlimit: .inf\n", 2, 8, "JSON cannot hold");
    parse_fails("x: .NaN\n", 1, 4, "JSON cannot hold");
    parse_fails("ok: 1\nbad: \"\xe0\x80\"\n", 2, 7, "invalid UTF-8 (byte 0xE0)");
    parse_fails("%\xe0", 1, 2, "invalid UTF-8");
    parse_fails("n: !!int abc\n", 1, 4, "not a valid !!int");
}

static void test_multi_document(void **state)
{
    struct skiff_yaml_docs *d = parse_ok("# leading comment\n"
                                         "---\n"
                                         "a: 1\n"
                                         "---\n"
                                         "# an empty document is skipped\n"
                                         "---\n"
                                         "b: [x, y]\n"
                                         "...\n"
                                         "---\n"
                                         "- 1\n"
                                         "- 2\n"
                                         "---\n");
    assert_int_equal(skiff_yaml_count(d), 3);
    assert_int_equal(json_integer_value(json_object_get(skiff_yaml_doc(d, 0), "a")), 1);
    assert_int_equal(json_array_size(json_object_get(skiff_yaml_doc(d, 1), "b")), 2);
    assert_true(json_is_array(skiff_yaml_doc(d, 2)));
    assert_null(skiff_yaml_doc(d, 3));
    assert_string_equal(skiff_yaml_name(d), "t.yaml");
    assert_pos(d, 1, "/b/1", 7, 8);
    assert_pos(d, 2, "/1", 11, 3);
    skiff_yaml_free(d);

    /* anchors belong to one document */
    parse_fails("a: &x 1\n---\nb: *x\n", 3, 4, "unknown alias '*x'");
}

static const char workflow_yaml[] =
    "apiVersion: argoproj.io/v1alpha1\n"          /* 1 */
    "kind: Workflow\n"                            /* 2 */
    "metadata:\n"                                 /* 3 */
    "  generateName: fraud-pipeline-\n"           /* 4 */
    "  labels:\n"                                 /* 5 */
    "    app.kubernetes.io/name: fraud\n"         /* 6 */
    "    a~b: \"quoted\"\n"                       /* 7 */
    "spec:\n"                                     /* 8 */
    "  entrypoint: trainer\n"                     /* 9 */
    "  templates:\n"                              /* 10 */
    "  - name: pipeline\n"                        /* 11 */
    "    dag:\n"                                  /* 12 */
    "      tasks: [{name: a, template: x}]\n"     /* 13 */
    "  - name: distributed-trainer\n"             /* 14 */
    "    script:\n"                               /* 15 */
    "      source: |\n"                           /* 16 */
    "        print(1)\n"                          /* 17 */
    "      args: &args\n"                         /* 18 */
    "      - one\n"                               /* 19 */
    "    copy: *args\n"                           /* 20 */
    "    empty:\n";                               /* 21 */

static void test_positions(void **state)
{
    struct skiff_yaml_docs *d = parse_ok(workflow_yaml);
    int l, c;

    assert_pos(d, 0, "", 1, 1);
    assert_pos(d, 0, "/kind", 2, 7);
    assert_pos(d, 0, "/metadata", 3, 1);             /* a block mapping: at its key */
    assert_pos(d, 0, "/metadata/labels/app.kubernetes.io~1name", 6, 29);
    assert_pos(d, 0, "/metadata/labels/a~0b", 7, 10); /* the opening quote */
    assert_pos(d, 0, "/spec/entrypoint", 9, 15);
    assert_pos(d, 0, "/spec/templates", 10, 3);
    assert_pos(d, 0, "/spec/templates/0", 11, 5);
    assert_pos(d, 0, "/spec/templates/1/name", 14, 11);
    assert_pos(d, 0, "/spec/templates/0/dag/tasks", 13, 14); /* a flow sequence: its '[' */
    assert_pos(d, 0, "/spec/templates/0/dag/tasks/0/template", 13, 35);
    assert_pos(d, 0, "/spec/templates/1/script/source", 16, 15); /* the '|' */
    assert_pos(d, 0, "/spec/templates/1/copy", 20, 11);          /* the '*' */
    assert_pos(d, 0, "/spec/templates/1/copy/0", 19, 9);         /* inside the anchor */
    assert_pos(d, 0, "/spec/templates/1/empty", 21, 5);          /* empty: at its key */
    /* absent keys and indexes: the nearest existing ancestor */
    assert_pos(d, 0, "/spec/missing/deeper", 8, 1);
    assert_pos(d, 0, "/spec/templates/7/name", 10, 3);
    assert_pos(d, 0, "/spec/templates/01", 10, 3);
    assert_pos(d, 0, "/spec/entrypoint/x", 9, 15);
    assert_int_equal(skiff_yaml_pos(d, 1, "", &l, &c), SKIFF_ENOTFOUND);
    assert_int_equal(skiff_yaml_pos(d, 0, "spec", &l, &c), SKIFF_ENOTFOUND);

    struct skiff_err e = SKIFF_ERR_INIT;
    char buf[256];
    assert_int_equal(skiff_yaml_err(d, 0, "/spec/entrypoint", &e, SKIFF_EINVAL,
                                    "unknown template \"%s\"", "trainer"),
                     SKIFF_EINVAL);
    assert_string_equal(skiff_err_format(&e, buf, sizeof buf),
                        "t.yaml:9:15: unknown template \"trainer\"");
    skiff_yaml_free(d);
}

static void test_syntax_errors(void **state)
{
    /* a tab used for indentation */
    parse_fails("spec:\n\treplicas: 3\n", 2, 1, "tab character");
    /* an unclosed quote */
    parse_fails("a: 1\nname: \"fraud-detector\n", 2, 8, "without closing quote");
    /* a duplicate key, at the second occurrence */
    parse_fails("metadata:\n  name: a\n  labels: {}\n  name: b\n", 4, 3, "duplicate key \"name\"");
    parse_fails("{\"a\": 1, \"a\": 2}", 1, 10, "duplicate key \"a\"");
    /* an unclosed flow sequence */
    parse_fails("args: [a, b\nnext: 1\n", 3, 1, "without a closing bracket");
    /* mapping keys must be scalars */
    parse_fails("? [a, b]\n: c\n", 1, 3, "mapping key must be a scalar");
    parse_fails("{[1]: 2}\n", 1, 2, "mapping key must be a scalar");
    /* a block mapping where a value was started */
    parse_fails("a: b: c\n", 1, 5, "");
    /* an alias to nothing */
    parse_fails("a: *nothing\n", 1, 4, "unknown alias '*nothing'");
    /* control characters: YAML text is printable */
    parse_fails("a: ok\nb: x\x01y\n", 2, 5, "control character 0x01");
    /* input that crashes libfyaml 0.7.12 is refused before it gets there */
    parse_fails("? y:\t-", 1, 6, "a tab before '-'");
    parse_fails("a: 1\n?\n  y: \t|\n", 3, 7, "a tab before '|'");
}

static void test_aliases_and_merge(void **state)
{
    struct skiff_yaml_docs *d = parse_ok("base: &b\n"
                                         "  cpu: \"1\"\n"
                                         "  memory: 2Gi\n"
                                         "list: &l [1, 2]\n"
                                         "s: &s hello\n"
                                         "copy: *b\n"
                                         "items: [*s, *l]\n"
                                         "merged:\n"
                                         "  <<: *b\n"
                                         "  memory: 4Gi\n"
                                         "multi:\n"
                                         "  <<: [{a: 1}, {a: 2, b: 3}]\n"
                                         "quoted:\n"
                                         "  '<<': plain key\n");
    json_t *o = skiff_yaml_doc(d, 0);
    json_t *copy = json_object_get(o, "copy");
    assert_true(json_equal(copy, json_object_get(o, "base")));
    /* an alias is a copy: changing it leaves the anchor alone */
    json_object_set_new(copy, "cpu", json_string("8"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "base"), "cpu")), "1");
    assert_string_equal(json_string_value(json_array_get(json_object_get(o, "items"), 0)), "hello");
    assert_int_equal(json_array_size(json_array_get(json_object_get(o, "items"), 1)), 2);
    json_t *m = json_object_get(o, "merged");
    assert_string_equal(json_string_value(json_object_get(m, "memory")), "4Gi"); /* explicit wins */
    assert_string_equal(json_string_value(json_object_get(m, "cpu")), "1");
    assert_null(json_object_get(m, "<<"));
    json_t *mm = json_object_get(o, "multi");
    assert_int_equal(json_integer_value(json_object_get(mm, "a")), 1); /* the first source wins */
    assert_int_equal(json_integer_value(json_object_get(mm, "b")), 3);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "quoted"), "<<")),
                        "plain key");
    assert_pos(d, 0, "/s", 5, 4);            /* a scalar with an anchor: at the '&' */
    assert_pos(d, 0, "/merged/cpu", 2, 8);   /* merged keys point at their source */
    assert_pos(d, 0, "/merged/memory", 10, 11);
    skiff_yaml_free(d);

    parse_fails("a: &a 1\nb:\n  <<: *a\n", 3, 7, "merge key '<<' needs a mapping");

    /* the billion laughs: refused, quickly, without eating memory */
    const char *bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                       "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                       "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                       "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                       "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                       "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                       "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
                       "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
                       "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
    struct skiff_yaml_docs *bd = NULL;
    struct skiff_err e = SKIFF_ERR_INIT;
    assert_int_equal(skiff_yaml_parse(bomb, strlen(bomb), "bomb.yaml", &bd, &e), SKIFF_EPARSE);
    assert_non_null(strstr(e.msg, "alias"));
    assert_int_equal(e.line, 5);
}

static void test_json_input(void **state)
{
    struct skiff_yaml_docs *d = parse_ok("{\n"
                                         "\t\"apiVersion\": \"v1\",\n"
                                         "\t\"spec\": {\"replicas\": 3, \"ratio\": 0.25,\n"
                                         "\t\t\"tags\": [\"a\", null, true, -1e-3],\n"
                                         "\t\t\"esc\": \"line\\nnext \\u00e9 \\\"q\\\"\"}\n"
                                         "}\n");
    json_t *spec = json_object_get(skiff_yaml_doc(d, 0), "spec");
    json_t *want = json_loads("{\"replicas\": 3, \"ratio\": 0.25, \"tags\": [\"a\", null, true, "
                              "-1e-3], \"esc\": \"line\\nnext \\u00e9 \\\"q\\\"\"}",
                              0, NULL);
    assert_non_null(want);
    assert_true(json_equal(spec, want));
    assert_pos(d, 0, "/spec/ratio", 3, 35);
    json_decref(want);
    skiff_yaml_free(d);
}

/* Emits v, parses the text, and expects an equal tree. */
static void round_trip(json_t *v)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    struct skiff_yaml_docs *d = NULL;
    struct skiff_err e = SKIFF_ERR_INIT;
    assert_int_equal(skiff_yaml_emit(v, &b), 0);
    if (skiff_yaml_parse(b.ptr, b.len, "emitted.yaml", &d, &e) != 0 ||
        !json_equal(skiff_yaml_doc(d, 0), v)) {
        char *j = json_dumps(skiff_yaml_doc(d, 0), JSON_ENCODE_ANY);
        fprintf(stderr, "emitted:\n%s\nerror: %d:%d %s\nread back: %s\n", b.ptr, e.line, e.col,
                e.msg, j ? j : "(none)");
        free(j);
        fail();
    }
    skiff_yaml_free(d);
    skiff_buf_release(&b);
}

static void test_emit(void **state)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    json_t *v = json_loads(
        "{\"apiVersion\": \"v1\", \"kind\": \"X\","
        " \"metadata\": {\"name\": \"fraud\", \"labels\": {\"version\": \"3\"}},"
        " \"spec\": {\"args\": [\"--features=x\", \"plain\"], \"replicas\": 3, \"ratio\": 1.0,"
        " \"env\": [{\"name\": \"A\", \"value\": \"true\"}], \"empty\": {}, \"none\": [],"
        " \"grid\": [[1, 2], [{\"a\": null}]], \"script\": \"print(1)\\nprint(2)\\n\"}}",
        0, NULL);
    assert_non_null(v);
    assert_int_equal(skiff_yaml_emit(v, &b), 0);
    assert_string_equal(b.ptr, "apiVersion: v1\n"
                               "kind: X\n"
                               "metadata:\n"
                               "  name: fraud\n"
                               "  labels:\n"
                               "    version: '3'\n"
                               "spec:\n"
                               "  args:\n"
                               "  - '--features=x'\n"
                               "  - plain\n"
                               "  replicas: 3\n"
                               "  ratio: 1.0\n"
                               "  env:\n"
                               "  - name: A\n"
                               "    value: 'true'\n"
                               "  empty: {}\n"
                               "  none: []\n"
                               "  grid:\n"
                               "  - - 1\n"
                               "    - 2\n"
                               "  - - a: null\n"
                               "  script: |\n"
                               "    print(1)\n"
                               "    print(2)\n");
    round_trip(v);
    json_decref(v);
    skiff_buf_release(&b);

    /* strings that must not come back as something else */
    static const char *const tricky[] = {
        "", "123", "-1", "1.5", "1e3", "0x1F", "0o7", "true", "False", "yes", "No", "on", "y",
        "null", "~", "Null", ".inf", "-.Inf", ".nan", "- x", "-x", "a: b", "a:", "#c", "a #b",
        "a#b", " lead", "trail ", "multi\nline\n", "multi\nline", "x\n\n", "\nx", " x\ny",
        "a\n  \nb", "tab\there", "cr\r", "quote'd", "'sq'", "\"dq\"", "{{workflow.uid}}",
        "[x]", "*star", "&amp", "!bang", "|pipe", ">gt", "%pct", "@at", "`bt`", "?q", ",c",
        "unicode \xc3\xa9", "ls\xe2\x80\xa8x", "nel\xc2\x85x", "\xef\xbb\xbf" "bom", "<<",
        "...", "---", "--- x", "2024-01-01", "1:20", "1_000", "+1", ".5", "3.2.1", "v3.2.1",
        "32Gi", "500m", "s3://bucket/key", "http://h:5000/x", "ctl\x01x", "del\x7f",
        "trailing\\", "a\\nb", "=", "<", "key: value # c", "x''y", "''''", "'", NULL};
    json_t *obj = json_object(), *arr = json_array();
    for (size_t i = 0; tricky[i]; i++) {
        json_t *s = json_string(tricky[i]);
        assert_non_null(s);
        round_trip(s);
        json_array_append(arr, s);
        json_object_set(obj, tricky[i], s);          /* each as a key, too */
        json_decref(s);
    }
    json_object_set_new(obj, "list", json_deep_copy(arr));
    round_trip(arr);
    round_trip(obj);

    /* numbers and nesting */
    v = json_loads("{\"n\": [0, -1, 1.0, -0.0, 0.1, 0.95, 1e300, 2.5e-10, 123456789.125,"
                   " 9223372036854775807, -9223372036854775808],"
                   " \"deep\": [[[[{\"a\": [[], {}, [{}], {\"b\": [[\"c\"]]}]}]]]],"
                   " \"objs\": [{\"a\": {\"b\": {\"c\": [1, {\"d\": \"e\\nf\"}]}}}, {}],"
                   " \"b\": [true, false, null]}",
                   0, NULL);
    assert_non_null(v);
    round_trip(v);
    json_decref(v);
    v = json_array();
    round_trip(v);
    json_decref(v);
    v = json_integer(7);
    round_trip(v);
    json_decref(v);
    /* an implicit key is limited to 1024 characters; longer ones still work */
    char longkey[1500];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    v = json_pack("{s:{s:i}}", longkey, "x", 1);
    round_trip(v);
    json_decref(v);
    json_decref(obj);
    json_decref(arr);
}

static void test_empty_input(void **state)
{
    const char *inputs[] = {"", "\n", "# only a comment\n", "---\n", "---\n...\n", "~\n", "   "};
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        struct skiff_yaml_docs *d = parse_ok(inputs[i]);
        assert_int_equal(skiff_yaml_count(d), 0);
        assert_null(skiff_yaml_doc(d, 0));
        skiff_yaml_free(d);
    }
    skiff_yaml_free(NULL);
    assert_int_equal(skiff_yaml_count(NULL), 0);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_ten_thousand_documents(void **state)
{
    struct skiff_buf b = SKIFF_BUF_INIT;
    struct skiff_yaml_docs *d = NULL;
    struct skiff_err e = SKIFF_ERR_INIT;
    for (int i = 0; i < 10000; i++)
        assert_int_equal(skiff_buf_appendf(&b,
                                           "---\napiVersion: skiff.dev/v1\nkind: Entity\n"
                                           "metadata:\n  name: e%d\n  labels: {n: \"%d\"}\n"
                                           "spec:\n  joinKeys: [user_id]\n  weight: %d.5\n",
                                           i, i, i),
                         0);
    double t0 = now_s();
    assert_int_equal(skiff_yaml_parse(b.ptr, b.len, "many.yaml", &d, &e), 0);
    double took = now_s() - t0;
    assert_int_equal(skiff_yaml_count(d), 10000);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(skiff_yaml_doc(d, 9999), "metadata"),
                                          "name")),
        "e9999");
    assert_pos(d, 9999, "/spec/weight", 9 * 9999 + 9, 11);
    /* about 50 ms on a laptop; generous for sanitizer builds */
    if (took > 5.0)
        fprintf(stderr, "10k documents took %.2f s\n", took);
    assert_true(took < 5.0);
    skiff_yaml_free(d);
    skiff_buf_release(&b);
}

/* A small deterministic generator (xorshift) for hostile input. */
static uint64_t rng = 0x9E3779B97F4A7C15u;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void parse_anything(const char *text, size_t len)
{
    struct skiff_yaml_docs *d = NULL;
    struct skiff_err e = SKIFF_ERR_INIT;
    /* the exact-size copy lets ASan catch a read past the end */
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    int rc = skiff_yaml_parse(copy, len, "fuzz.yaml", &d, &e);
    assert_true(rc == 0 || rc == SKIFF_EPARSE);
    if (rc == 0) {
        struct skiff_buf out = SKIFF_BUF_INIT;
        for (size_t i = 0; i < skiff_yaml_count(d); i++)
            assert_int_equal(skiff_yaml_emit(skiff_yaml_doc(d, i), &out), 0);
        skiff_buf_release(&out);
    } else {
        assert_null(d);
        assert_true(e.msg[0] != '\0');
    }
    skiff_yaml_free(d);
    free(copy);
}

static void test_garbage_never_crashes(void **state)
{
    static const char alphabet[] = "ab:- \n\t\"'{}[],&*!|>#?%@`~.0123456789\\\x01\xff\xc3\xa9";
    char buf[512];
    FILE *tmp = tmpfile();
    int saved = dup(2);
    assert_non_null(tmp);
    /* libfyaml must not write to stderr on its own: route it to a file and check */
    assert_true(dup2(fileno(tmp), 2) >= 0);

    for (int round = 0; round < 3000; round++) {
        size_t len = next_rand() % sizeof buf;
        bool bytes = round % 3 == 0;
        for (size_t i = 0; i < len; i++)
            buf[i] = bytes ? (char)(next_rand() & 0xff)
                           : alphabet[next_rand() % (sizeof alphabet - 1)];
        parse_anything(buf, len);
    }
    /* valid YAML with single bytes flipped */
    size_t wl = strlen(workflow_yaml);
    for (int round = 0; round < 2000; round++) {
        memcpy(buf, workflow_yaml, wl);
        for (int k = 0; k < 1 + round % 4; k++)
            buf[next_rand() % wl] = alphabet[next_rand() % (sizeof alphabet - 1)];
        parse_anything(buf, wl);
    }
    parse_anything("a: \"\0b\"\n", 8);
    parse_anything("\0", 1);

    fflush(stderr);
    assert_true(dup2(saved, 2) >= 0);
    close(saved);
    assert_int_equal(ftell(tmp) > 0 ? ftell(tmp) : lseek(fileno(tmp), 0, SEEK_END), 0);
    fclose(tmp);

    /* nesting deeper than libfyaml allows: an error, not a stack overflow */
    struct skiff_buf deep = SKIFF_BUF_INIT;
    for (int i = 0; i < 100000; i++)
        skiff_buf_putc(&deep, '[');
    parse_anything(deep.ptr, deep.len);
    skiff_buf_release(&deep);
}

static void test_load_file(void **state)
{
    char path[] = "/tmp/skiff-yaml-XXXXXX";
    struct skiff_yaml_docs *d = NULL;
    struct skiff_err e = SKIFF_ERR_INIT;
    char buf[512];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "kind: Workflow\nspec:\n  entrypoint: main\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    assert_int_equal(skiff_yaml_load_file(path, &d, &e), 0);
    assert_string_equal(skiff_yaml_name(d), path);
    assert_int_equal(skiff_yaml_count(d), 1);
    skiff_yaml_free(d);
    unlink(path);

    assert_int_equal(skiff_yaml_load_file(path, &d, &e), SKIFF_ENOTFOUND);
    assert_null(d);
    assert_non_null(strstr(skiff_err_format(&e, buf, sizeof buf), "No such file"));
    assert_int_equal(skiff_yaml_load_file("/", &d, &e), SKIFF_EIO);  /* a directory */

    /* a fixture: three resources, an empty document skipped */
    const char *data = getenv("SKIFF_TEST_DATA");
    char fixture[1024];
    int l, c;
    assert_non_null(data);
    snprintf(fixture, sizeof fixture, "%s/yaml/multi.yaml", data);
    assert_int_equal(skiff_yaml_load_file(fixture, &d, &e), 0);
    assert_int_equal(skiff_yaml_count(d), 3);
    assert_string_equal(json_string_value(json_object_get(skiff_yaml_doc(d, 2), "kind")),
                        "ServiceAccount");
    assert_int_equal(skiff_yaml_pos(d, 2, "/spec/roles/0", &l, &c), 0);
    assert_int_equal(l, 23);
    assert_int_equal(c, 11);
    skiff_yaml_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_core_schema_types),
        cmocka_unit_test(test_multi_document),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_aliases_and_merge),
        cmocka_unit_test(test_json_input),
        cmocka_unit_test(test_emit),
        cmocka_unit_test(test_empty_input),
        cmocka_unit_test(test_ten_thousand_documents),
        cmocka_unit_test(test_garbage_never_crashes),
        cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
