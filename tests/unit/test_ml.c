/* Unit tests for src/ml: metrics against scikit-learn's values, datagen's
 * contract and determinism, CSV to matrix, training round trip, validation
 * rules and expectations errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/ml.h"
#include "testutil.h"

#define CLOSE(a, b, tol) assert_true(fabs((a) - (b)) <= (tol))

/* The worked example of metrics.c. */
static void test_metrics_worked_example(void **state)
{
    double y[] = {1, 0, 1, 0}, p[] = {0.9, 0.8, 0.8, 0.3}, v;
    struct skiff_err err = SKIFF_ERR_INIT;
    assert_int_equal(skiff_ml_roc_auc(y, p, 4, &v, &err), 0);
    CLOSE(v, 0.875, 1e-15);
    assert_int_equal(skiff_ml_average_precision(y, p, 4, &v, &err), 0);
    CLOSE(v, 0.8333333333333333, 1e-15);
}

/* Values from sklearn 1.2.1 roc_auc_score, average_precision_score and
 * log_loss on these vectors (ties, and scores of exactly 0 and 1 that
 * log_loss clips). */
static void test_metrics_match_sklearn(void **state)
{
    double y[] = {1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1};
    double p[] = {0.9, 0.1, 0.8,  0.35, 0.35, 0.2, 0.7, 0.6, 0.05, 0.35,
                  0.4, 0.95, 0.3, 0.1,  0.1,  0.55, 0.0, 1.0, 0.45, 0.65};
    double v;
    struct skiff_err err = SKIFF_ERR_INIT;
    assert_int_equal(skiff_ml_roc_auc(y, p, 20, &v, &err), 0);
    CLOSE(v, 0.7272727272727271, 1e-12);
    assert_int_equal(skiff_ml_average_precision(y, p, 20, &v, &err), 0);
    CLOSE(v, 0.6645299145299146, 1e-12);
    assert_int_equal(skiff_ml_log_loss(y, p, 20, &v, &err), 0);
    CLOSE(v, 3.967748642924012, 1e-9);
}

static void test_metrics_edges(void **state)
{
    double y1[] = {1, 1, 1}, p[] = {0.2, 0.5, 0.5}, y0[] = {0, 0, 0}, v;
    double yt[] = {1, 0, 1, 0}, pt[] = {0.5, 0.5, 0.5, 0.5};
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_ml_confusion c;

    assert_int_equal(skiff_ml_roc_auc(y1, p, 3, &v, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "only positives"));
    assert_int_equal(skiff_ml_average_precision(y0, p, 3, &v, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_ml_log_loss(y1, p, 0, &v, &err), SKIFF_EINVAL);
    /* all tied: the ROC is the diagonal */
    assert_int_equal(skiff_ml_roc_auc(yt, pt, 4, &v, &err), 0);
    CLOSE(v, 0.5, 1e-15);
    /* -(log .8 + log .7) / 2 */
    assert_int_equal(skiff_ml_log_loss((double[]){1, 0}, (double[]){0.8, 0.3}, 2, &v, &err), 0);
    CLOSE(v, -(log(0.8) + log(0.7)) / 2, 1e-15);

    skiff_ml_confusion((double[]){1, 1, 0, 0, 1}, (double[]){0.9, 0.4, 0.6, 0.1, 0.5}, 5, 0.5,
                       &c);
    assert_int_equal(c.tp, 2);
    assert_int_equal(c.fn, 1);
    assert_int_equal(c.fp, 1);
    assert_int_equal(c.tn, 1);
    CLOSE(c.precision, 2.0 / 3, 1e-15);
    CLOSE(c.recall, 2.0 / 3, 1e-15);
    CLOSE(c.f1, 2.0 / 3, 1e-15);
    CLOSE(c.accuracy, 0.6, 1e-15);
    skiff_ml_confusion(y0, p, 3, 0.9, &c);   /* nothing predicted: 0/0 is 0 */
    assert_true(c.precision == 0 && c.recall == 0 && c.f1 == 0 && c.accuracy == 1);
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long len;
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)len + 1);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = 0;
    fclose(f);
    *n = (size_t)len;
    return buf;
}

static void test_datagen_deterministic(void **state)
{
    char a[128], b[128], pa[256], pb[256];
    struct skiff_ml_datagen_opts o = {.users = 50, .days = 3, .drift_from = 2, .seed = 7,
                                      .start_us = INT64_C(1767225600) * 1000000};
    struct skiff_ml_datagen_stats st;
    struct skiff_err err = SKIFF_ERR_INIT;
    size_t na, nb;
    char *ta, *tb;

    assert_non_null(test_tmpdir(a, sizeof a, "ml-a"));
    assert_non_null(test_tmpdir(b, sizeof b, "ml-b"));
    assert_int_equal(skiff_ml_datagen_fraud(a, &o, &st, &err), 0);
    assert_true(st.rows > 50 * 3);
    assert_int_equal(skiff_ml_datagen_fraud(b, &o, NULL, &err), 0);
    snprintf(pa, sizeof pa, "%s/transactions.csv", a);
    snprintf(pb, sizeof pb, "%s/transactions.csv", b);
    ta = slurp(pa, &na);
    tb = slurp(pb, &nb);
    assert_int_equal(na, nb);
    assert_memory_equal(ta, tb, na);
    {
        static const char head[] = "transaction_id,user_id,merchant_id,merchant_risk,amount,"
                                   "event_timestamp,is_fraud\nt000000000,u0";
        assert_true(strncmp(ta, head, sizeof head - 1) == 0);
    }
    assert_non_null(strstr(ta, ",2026-01-01T"));
    free(ta);
    free(tb);
    /* another seed, other data */
    o.seed = 8;
    assert_int_equal(skiff_ml_datagen_fraud(b, &o, NULL, &err), 0);
    tb = slurp(pb, &nb);
    ta = slurp(pa, &na);
    assert_true(na != nb || memcmp(ta, tb, na) != 0);
    free(ta);
    free(tb);
    test_rmtree(a);
    test_rmtree(b);
}

static void test_datagen_bad_options(void **state)
{
    struct skiff_ml_datagen_opts o = {.users = 0, .days = 3, .drift_from = -1};
    struct skiff_err err = SKIFF_ERR_INIT;
    assert_int_equal(skiff_ml_datagen_fraud("/tmp/never", &o, NULL, &err), SKIFF_EINVAL);
    assert_string_equal(err.where, "--users");
    o.users = 10;
    o.drift_from = 3;
    assert_int_equal(skiff_ml_datagen_fraud("/tmp/never", &o, NULL, &err), SKIFF_EINVAL);
    assert_string_equal(err.where, "--drift-from");
    o.drift_from = -1;
    assert_int_equal(skiff_ml_datagen_fraud("/proc/skiff-no/such", &o, NULL, &err), SKIFF_EIO);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A learnable toy: y = 1 when a > 5, b is noise, a text and a timestamp
 * column that are not features. */
static void toy_csv(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "id,a,b,when,created_at,y\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "x%d,%d,%.3f,2026-01-01T00:00:%02dZ,%d,%d\n", i, i % 10, (i * 7 % 13) / 13.0,
                i % 60, 1700000000 + i, i % 10 > 5);
    fclose(f);
}

static void test_data_load(void **state)
{
    char dir[128], path[256];
    struct skiff_ml_data *d;
    struct skiff_ml_data_opts o = {.label = "y"};
    struct skiff_err err = SKIFF_ERR_INIT;

    assert_non_null(test_tmpdir(dir, sizeof dir, "ml-data"));
    snprintf(path, sizeof path, "%s/t.csv", dir);
    toy_csv(path, 100);
    assert_int_equal(skiff_ml_data_load(path, &o, &d, &err), 0);
    assert_int_equal(d->nrows, 100);
    assert_int_equal(d->nfeat, 2);   /* id: text, when: text, created_at: a time name */
    assert_string_equal(d->names[0], "a");
    assert_string_equal(d->types[0], "int");
    assert_string_equal(d->names[1], "b");
    assert_string_equal(d->types[1], "float");
    assert_true(d->x[7 * 2] == 7.0f && d->y[7] == 1.0 && d->y[5] == 0.0);
    skiff_ml_data_free(d);

    o.label = "nope";
    assert_int_equal(skiff_ml_data_load(path, &o, &d, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "'nope'"));
    o.label = "id";
    assert_int_equal(skiff_ml_data_load(path, &o, &d, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "label column 'id' is not numeric"));
    assert_int_equal(err.line, 2);
    o.label = "y";
    o.features = (const char *const[]){"b", "missing"};
    o.nfeatures = 2;
    assert_int_equal(skiff_ml_data_load(path, &o, &d, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "'missing'"));
    o.features = (const char *const[]){"b", "a"};
    assert_int_equal(skiff_ml_data_load(path, &o, &d, &err), 0);
    assert_string_equal(d->names[0], "b");
    assert_true(d->x[7 * 2 + 1] == 7.0f);
    skiff_ml_data_free(d);
    test_rmtree(dir);
}

static void on_round(void *ctx, int round, const struct skiff_ml_eval *ev, size_t nev)
{
    int *rounds = ctx;
    (*rounds)++;
    assert_int_equal(nev, 4);   /* train and valid, auc and logloss */
    assert_string_equal(ev[0].name, "train-auc");
    assert_string_equal(ev[3].name, "valid-logloss");
}

static void test_train_save_load_predict(void **state)
{
    char dir[128], path[256], model[256], sample[256];
    struct skiff_ml_data *d;
    struct skiff_ml_data_opts o = {.label = "y"};
    struct skiff_ml_param params[] = {{"max_depth", "3"}, {"nthread", "1"},
                                      {"num_boost_round", "7"}};
    struct skiff_ml_train_opts to = {.params = params, .nparams = 3, .valid_fraction = 0.25,
                                     .on_round = on_round};
    struct skiff_ml_model *m, *m2;
    struct skiff_err err = SKIFF_ERR_INIT;
    double *p1, *p2, auc;
    int rounds = 0, trained = 0;
    size_t nf, n;
    char *text;

    to.ctx = &rounds;
    assert_non_null(test_tmpdir(dir, sizeof dir, "ml-train"));
    snprintf(path, sizeof path, "%s/t.csv", dir);
    snprintf(model, sizeof model, "%s/model.json", dir);
    snprintf(sample, sizeof sample, "%s/sample.csv", dir);
    toy_csv(path, 400);
    assert_int_equal(skiff_ml_data_load(path, &o, &d, &err), 0);
    assert_int_equal(skiff_ml_train(d, &to, &m, &trained, &err), 0);
    assert_int_equal(trained, 7);
    assert_int_equal(rounds, 7);
    p1 = malloc(d->nrows * sizeof *p1);
    p2 = malloc(d->nrows * sizeof *p2);
    assert_int_equal(skiff_ml_predict(m, d, p1, &err), 0);
    assert_int_equal(skiff_ml_roc_auc(d->y, p1, d->nrows, &auc, &err), 0);
    assert_true(auc > 0.99);
    assert_int_equal(skiff_ml_model_save(m, model, &err), 0);
    assert_int_equal(skiff_ml_model_load(model, &m2, &err), 0);
    assert_int_equal(skiff_ml_predict(m2, d, p2, &err), 0);
    assert_memory_equal(p1, p2, d->nrows * sizeof *p1);
    assert_non_null(skiff_ml_model_features(m2, &nf));
    assert_int_equal(nf, 2);
    assert_string_equal(skiff_ml_model_features(m2, &nf)[1], "b");
    skiff_ml_model_free(m2);
    text = slurp(model, &n);
    assert_non_null(strstr(text, "\"feature_names\":[\"a\",\"b\"]"));
    free(text);

    /* the reference sample: a header and at most max rows */
    assert_int_equal(skiff_ml_data_write_sample(d, 50, 1, sample, &err), 0);
    text = slurp(sample, &n);
    assert_true(strncmp(text, "a,b\n", 4) == 0);
    {
        size_t lines = 0;
        for (size_t i = 0; i < n; i++)
            lines += text[i] == '\n';
        assert_int_equal(lines, 51);
    }
    free(text);

    /* a parameter XGBoost refuses */
    params[0].value = "deep";
    assert_int_equal(skiff_ml_train(d, &to, &m2, NULL, &err), SKIFF_EINVAL);
    assert_null(m2);
    assert_non_null(strstr(err.msg, "max_depth"));
    free(p1);
    free(p2);
    skiff_ml_model_free(m);
    skiff_ml_data_free(d);
    test_rmtree(dir);
}

static void test_validate_rules(void **state)
{
    char dir[128], data[256], exp[256];
    struct skiff_ml_expect *e;
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *rep, *v;
    size_t i;
    const char *want[] = {"row_count", "type", "min", "max", "allowed", "not_null",
                          "max_null_fraction", "unique", "exists", "strict"};
    bool seen[10] = {0};

    assert_non_null(test_tmpdir(dir, sizeof dir, "ml-val"));
    snprintf(data, sizeof data, "%s/d.csv", dir);
    snprintf(exp, sizeof exp, "%s/e.yaml", dir);
    write_file(data, "id,amount,kind,flag,extra\n"
                     "a,1.5,x,1,\n"
                     "a,-2,y,0,\n"
                     "c,200,z,,\n"
                     "d,abc,x,1,\n");
    write_file(exp, "row_count: {min: 10}\n"
                    "strict: true\n"
                    "columns:\n"
                    "  id: {type: string, unique: true}\n"
                    "  amount: {type: number, min: 0, max: 100}\n"
                    "  kind: {allowed: [x, y]}\n"
                    "  flag: {type: integer, not_null: true, max_null_fraction: 0.1}\n"
                    "  gone: {type: string}\n");
    assert_int_equal(skiff_ml_expect_load(exp, &e, &err), 0);
    assert_int_equal(skiff_ml_validate(e, data, false, &rep, &err), 0);
    assert_true(json_is_false(json_object_get(rep, "success")));
    json_array_foreach(json_object_get(rep, "violations"), i, v) {
        const char *check = json_string_value(json_object_get(v, "check"));
        for (size_t k = 0; k < 10; k++)
            if (strcmp(check, want[k]) == 0)
                seen[k] = true;
        if (strcmp(check, "type") == 0)
            assert_non_null(strstr(json_string_value(json_object_get(v, "message")),
                                   "column 'amount'"));
        if (strcmp(check, "min") == 0)
            assert_non_null(strstr(json_string_value(json_object_get(v, "message")),
                                   "line 3: '-2'"));
        if (strcmp(check, "strict") == 0)
            assert_string_equal(json_string_value(json_object_get(v, "column")), "extra");
    }
    for (size_t k = 0; k < 10; k++)
        assert_true(seen[k]);
    json_decref(rep);
    skiff_ml_expect_free(e);

    /* a typo in the rules is an error at its place */
    write_file(exp, "columns:\n  amount:\n    type: number\n    mni: 0\n");
    assert_int_equal(skiff_ml_expect_load(exp, &e, &err), SKIFF_EINVAL);
    assert_int_equal(err.line, 4);
    assert_int_equal(err.col, 10);   /* the value of the unknown key */
    assert_non_null(strstr(err.msg, "unknown rule 'mni'"));
    write_file(exp, "columns: {a: {type: number}\n");
    assert_int_equal(skiff_ml_expect_load(exp, &e, &err), SKIFF_EPARSE);
    assert_true(err.line > 0);
    write_file(exp, "columns: {a: {min: 5, max: 1}}\n");
    assert_int_equal(skiff_ml_expect_load(exp, &e, &err), SKIFF_EINVAL);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_worked_example),
        cmocka_unit_test(test_metrics_match_sklearn),
        cmocka_unit_test(test_metrics_edges),
        cmocka_unit_test(test_datagen_deterministic),
        cmocka_unit_test(test_datagen_bad_options),
        cmocka_unit_test(test_data_load),
        cmocka_unit_test(test_train_save_load_predict),
        cmocka_unit_test(test_validate_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
