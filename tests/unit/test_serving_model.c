/* Unit tests for the model runtimes (src/serving/model*.c, tree.c, xgb.c):
 * a hand-written model with answers worked out by hand, the same answers
 * from libxgboost, random forests on which both runtimes must agree to the
 * bit, hostile models that must be refused naming the field, MLflow
 * folders, non-JSON model files, and many threads on one model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xgboost/c_api.h>

#include "skiff/err.h"
#include "skiff/serving.h"
#include "testutil.h"

/* Two trees on features a, b, c:
 *   tree 0: a < 0.5 (missing: left) ? 0.1 : (b < -1 (missing: right) ? 0.2 : -0.3)
 *   tree 1: c < 0 (missing: right) ? 0.05 : -0.05 */
static const char tiny_model[] =
    "{\"learner\": {\"attributes\": {}, \"feature_names\": [\"a\", \"b\", \"c\"],"
    " \"feature_types\": [\"float\", \"float\", \"float\"],"
    " \"gradient_booster\": {\"name\": \"gbtree\", \"model\": {"
    "  \"gbtree_model_param\": {\"num_parallel_tree\": \"1\", \"num_trees\": \"2\"},"
    "  \"tree_info\": [0, 0],"
    "  \"trees\": ["
    "   {\"id\": 0, \"left_children\": [1, -1, 3, -1, -1], \"right_children\": [2, -1, 4, -1, -1],"
    "    \"split_indices\": [0, 0, 1, 0, 0], \"split_conditions\": [0.5, 0.1, -1.0, 0.2, -0.3],"
    "    \"default_left\": [1, 0, 0, 0, 0], \"split_type\": [0, 0, 0, 0, 0],"
    "    \"categories\": [], \"categories_nodes\": [], \"categories_segments\": [],"
    "    \"categories_sizes\": [], \"base_weights\": [0.0, 0.0, 0.0, 0.0, 0.0],"
    "    \"loss_changes\": [0.0, 0.0, 0.0, 0.0, 0.0], \"parents\": [2147483647, 0, 0, 2, 2],"
    "    \"sum_hessian\": [1.0, 1.0, 1.0, 1.0, 1.0], \"tree_param\": {\"num_deleted\": \"0\","
    "    \"num_feature\": \"3\", \"num_nodes\": \"5\", \"size_leaf_vector\": \"0\"}},"
    "   {\"id\": 1, \"left_children\": [1, -1, -1], \"right_children\": [2, -1, -1],"
    "    \"split_indices\": [2, 0, 0], \"split_conditions\": [0.0, 0.05, -0.05],"
    "    \"default_left\": [0, 0, 0], \"split_type\": [0, 0, 0],"
    "    \"categories\": [], \"categories_nodes\": [], \"categories_segments\": [],"
    "    \"categories_sizes\": [], \"base_weights\": [0.0, 0.0, 0.0],"
    "    \"loss_changes\": [0.0, 0.0, 0.0], \"parents\": [2147483647, 0, 0],"
    "    \"sum_hessian\": [1.0, 1.0, 1.0],"
    "    \"tree_param\": {\"num_deleted\": \"0\", \"num_feature\": \"3\", \"num_nodes\": \"3\","
    "    \"size_leaf_vector\": \"0\"}}]}},"
    " \"learner_model_param\": {\"base_score\": \"5E-1\", \"num_class\": \"0\","
    " \"num_feature\": \"3\"},"
    " \"objective\": {\"name\": \"binary:logistic\","
    " \"reg_loss_param\": {\"scale_pos_weight\": \"1\"}}},"
    " \"version\": [1, 7, 4]}";

static char tmp[256];

static int setup(void **state)
{
    return test_tmpdir(tmp, sizeof tmp, "serving-model") ? 0 : -1;
}

static int teardown(void **state)
{
    test_rmtree(tmp);
    return 0;
}

/* Writes text to tmp/name; returns the path (static buffer). */
static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmp, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

/* The node at a '/'-separated path of keys and array indices. */
static json_t *at(json_t *root, const char *path)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof buf, "%s", path);
    json_t *v = root;
    for (char *k = strtok_r(buf, "/", &save); k && v; k = strtok_r(NULL, "/", &save))
        v = json_is_array(v) ? json_array_get(v, strtoul(k, NULL, 10)) : json_object_get(v, k);
    assert_non_null(v);
    return v;
}

/* Sets the member or element at path (its parent must exist) to v (stolen). */
static void set(json_t *root, const char *path, json_t *v)
{
    char parent[256];
    const char *slash = strrchr(path, '/');
    snprintf(parent, sizeof parent, "%.*s", (int)(slash - path), path);
    json_t *p = at(root, parent);
    if (json_is_array(p))
        assert_int_equal(json_array_set_new(p, strtoul(slash + 1, NULL, 10), v), 0);
    else
        assert_int_equal(json_object_set_new(p, slash + 1, v), 0);
}

static const char *write_json(const char *name, json_t *root)
{
    char *s = json_dumps(root, JSON_COMPACT);
    const char *path = write_file(name, s);
    free(s);
    return path;
}

static json_t *tiny(void)
{
    json_t *root = json_loads(tiny_model, 0, NULL);
    assert_non_null(root);
    return root;
}

/* Loads a model that must load; the error in full otherwise. */
static struct skiff_model *load_ok(const char *path, int rt)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_model *m = NULL;
    char buf[2048];
    if (skiff_model_load(path, (enum skiff_model_runtime)rt, &m, &err) != 0)
        fail_msg("loading '%s' (runtime %d): %s", path, rt, skiff_err_format(&err, buf, sizeof buf));
    return m;
}

static float sigmoidf(float m) { return 1.0f / (1.0f + expf(-m)); }

/* The hand-worked margins of the tiny model for four rows. */
static const float tiny_rows[4][3] = {
    {0.3f, 0.0f, 0.0f},  /* 0.1 + -0.05 (c = 0 is not < 0) */
    {NAN, NAN, NAN},     /* a missing -> left 0.1; c missing -> right -0.05 */
    {0.5f, -1.0f, -1.0f}, /* 0.5 not < 0.5 -> b: -1 not < -1 -> -0.3; c < 0 -> 0.05 */
    {1.0f, NAN, -1.0f},  /* b missing -> right -0.3; 0.05 */
};
static const float tiny_leaves[4][2] = {{0.1f, -0.05f}, {0.1f, -0.05f}, {-0.3f, 0.05f},
                                        {-0.3f, 0.05f}};

static void test_tiny_by_hand(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    const char *path = write_file("tiny.json", tiny_model);
    for (int rt = SKIFF_MODEL_NATIVE; rt <= SKIFF_MODEL_XGBOOST; rt++) {
        struct skiff_model *m;
        double out[4];
        m = load_ok(path, rt);
        assert_int_equal(skiff_model_nfeatures(m), 3);
        assert_int_equal(skiff_model_noutputs(m), 1);
        assert_string_equal(skiff_model_feature_name(m, 1), "b");
        assert_null(skiff_model_feature_name(m, 3));
        assert_int_equal(skiff_model_predict(m, &tiny_rows[0][0], 4, out, &err), 0);
        for (int r = 0; r < 4; r++) {
            /* libxgboost: margin starts at logit(0.5) = 0, leaves added in float */
            float margin = 0.0f;
            margin += tiny_leaves[r][0];
            margin += tiny_leaves[r][1];
            assert_true(out[r] == (double)sigmoidf(margin));
        }
        /* one row at a time gives the same as the batch */
        for (int r = 0; r < 4; r++) {
            double one;
            assert_int_equal(skiff_model_predict(m, tiny_rows[r], 1, &one, &err), 0);
            assert_true(one == out[r]);
        }
        assert_int_equal(skiff_model_predict(m, NULL, 0, NULL, &err), 0);
        skiff_model_free(m);
    }
}

static void test_tiny_regression_and_dart(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *root = tiny();
    set(root, "learner/objective/name", json_string("reg:squarederror"));
    set(root, "learner/learner_model_param/base_score", json_string("2.5E0"));
    const char *path = write_json("reg.json", root);
    for (int rt = SKIFF_MODEL_NATIVE; rt <= SKIFF_MODEL_XGBOOST; rt++) {
        struct skiff_model *m;
        double out[4];
        m = load_ok(path, rt);
        assert_int_equal(skiff_model_predict(m, &tiny_rows[0][0], 4, out, &err), 0);
        for (int r = 0; r < 4; r++) {
            float margin = 2.5f;
            margin += tiny_leaves[r][0];
            margin += tiny_leaves[r][1];
            assert_true(out[r] == (double)margin);
        }
        skiff_model_free(m);
    }
    /* dart: the same trees inside a dart booster, weighted 0.5 and 2 */
    json_t *gb = json_deep_copy(at(root, "learner/gradient_booster"));
    json_t *dart = json_pack("{s:s, s:o, s:[f, f]}", "name", "dart", "gbtree", gb, "weight_drop",
                             0.5, 2.0);
    set(root, "learner/gradient_booster", dart);
    path = write_json("dart.json", root);
    for (int rt = SKIFF_MODEL_NATIVE; rt <= SKIFF_MODEL_XGBOOST; rt++) {
        struct skiff_model *m;
        double out[4];
        m = load_ok(path, rt);
        assert_int_equal(skiff_model_predict(m, &tiny_rows[0][0], 4, out, &err), 0);
        for (int r = 0; r < 4; r++) {
            float margin = 2.5f;
            margin += 0.5f * tiny_leaves[r][0];
            margin += 2.0f * tiny_leaves[r][1];
            assert_true(out[r] == (double)margin);
        }
        skiff_model_free(m);
    }
    json_decref(root);
}

/* ---- random forests: both runtimes agree to the bit ---- */

static uint64_t rng_state = 12345;
static double rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* A random tree of depth <= 6 in xgboost's array form (root at 0). */
static json_t *random_tree(int id, int nfeat)
{
    json_t *l = json_array(), *r = json_array(), *f = json_array(), *c = json_array(),
           *d = json_array(), *zeros = json_array(), *parents = json_array(),
           *types = json_array();
    int n = 1, depth[128] = {0}, parent[128] = {2147483647};
    for (int i = 0; i < n; i++) {
        bool split = depth[i] < 6 && n + 2 <= 127 && (i == 0 || rnd() < 0.8);
        /* fields libxgboost insists on, though prediction ignores them */
        json_array_append_new(zeros, json_real(0.0));
        json_array_append_new(parents, json_integer(parent[i]));
        json_array_append_new(types, json_integer(0));
        json_array_append_new(l, json_integer(split ? n : -1));
        json_array_append_new(r, json_integer(split ? n + 1 : -1));
        json_array_append_new(f, json_integer(split ? (int)(rnd() * nfeat) : 0));
        /* thresholds on a coarse grid, so rows hit them exactly too */
        json_array_append_new(c, json_real(split ? round(rnd() * 8 - 4) / 4 : rnd() - 0.5));
        json_array_append_new(d, json_integer(rnd() < 0.5));
        if (split) {
            depth[n] = depth[n + 1] = depth[i] + 1;
            parent[n] = parent[n + 1] = i;
            n += 2;
        }
    }
    char nn[16];
    snprintf(nn, sizeof nn, "%d", n);
    return json_pack("{s:i, s:o, s:o, s:o, s:o, s:o, s:[], s:[], s:[], s:[], s:{s:s, s:s, s:s, "
                     "s:s}, s:O, s:O, s:o, s:o, s:o}",
                     "id", id, "left_children", l, "right_children", r, "split_indices", f,
                     "split_conditions", c, "default_left", d, "categories", "categories_nodes",
                     "categories_segments", "categories_sizes", "tree_param", "num_deleted", "0",
                     "num_feature", "6", "num_nodes", nn, "size_leaf_vector", "0",
                     "base_weights", zeros, "loss_changes", zeros, "sum_hessian", zeros,
                     "parents", parents, "split_type", types);
}

static const char *random_model(const char *name, const char *objective, int nclass, int ntrees,
                                bool dart)
{
    json_t *trees = json_array(), *info = json_array(), *w = json_array();
    int ng = nclass > 1 ? nclass : 1;
    for (int t = 0; t < ntrees; t++) {
        json_array_append_new(trees, random_tree(t, 6));
        json_array_append_new(info, json_integer(t % ng));
        json_array_append_new(w, json_real(0.25 + rnd()));
    }
    char nt[16], nc[16];
    snprintf(nt, sizeof nt, "%d", ntrees);
    snprintf(nc, sizeof nc, "%d", nclass);
    json_t *gbtree = json_pack("{s:s, s:{s:{s:s, s:s}, s:o, s:o}}", "name", "gbtree", "model",
                               "gbtree_model_param", "num_parallel_tree", "1", "num_trees", nt,
                               "trees", trees, "tree_info", info);
    json_t *gb = dart ? json_pack("{s:s, s:o, s:o}", "name", "dart", "gbtree", gbtree,
                                  "weight_drop", w)
                      : (json_decref(w), gbtree);
    /* the objective's own parameters, which libxgboost requires */
    json_t *obj =
        nclass > 1 ? json_pack("{s:s, s:{s:s}}", "name", objective, "softmax_multiclass_param",
                               "num_class", nc)
        : strcmp(objective, "count:poisson") == 0
            ? json_pack("{s:s, s:{s:s}}", "name", objective, "poisson_regression_param",
                        "max_delta_step", "0.7")
        : strcmp(objective, "reg:tweedie") == 0
            ? json_pack("{s:s, s:{s:s}}", "name", objective, "tweedie_regression_param",
                        "tweedie_variance_power", "1.5")
        : strcmp(objective, "reg:gamma") == 0
            ? json_pack("{s:s}", "name", objective)
            : json_pack("{s:s, s:{s:s}}", "name", objective, "reg_loss_param",
                        "scale_pos_weight", "1");
    json_t *root = json_pack("{s:{s:{}, s:[], s:[], s:o, s:{s:s, s:s, s:s}, s:o}, "
                             "s:[i, i, i]}",
                             "learner", "attributes", "feature_names", "feature_types",
                             "gradient_booster", gb, "learner_model_param", "base_score", "3E-1",
                             "num_class", nc, "num_feature", "6", "objective", obj,
                             "version", 1, 7, 4);
    assert_non_null(root);
    const char *path = write_json(name, root);
    json_decref(root);
    return path;
}

/* rows x 6 features: values on the thresholds' grid and off it, 15% NaN */
static float *random_rows(size_t n)
{
    float *x = malloc(n * 6 * sizeof *x);
    for (size_t i = 0; i < n * 6; i++) {
        double u = rnd();
        x[i] = u < 0.15 ? NAN : u < 0.5 ? (float)(round(rnd() * 8 - 4) / 4) : (float)(rnd() * 9 - 4.5);
    }
    return x;
}

/* tol 0: to the bit. */
static void agree(const char *path, size_t nout, double tol)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_model *nat, *xgb;
    enum { N = 301 }; /* not a multiple of the native block or lane counts */
    float *x = random_rows(N);
    double *a = calloc(N * nout, sizeof *a), *b = calloc(N * nout, sizeof *b);

    nat = load_ok(path, SKIFF_MODEL_NATIVE);
    xgb = load_ok(path, SKIFF_MODEL_XGBOOST);
    assert_int_equal(skiff_model_noutputs(nat), nout);
    assert_int_equal(skiff_model_noutputs(xgb), nout);
    assert_null(skiff_model_feature_name(nat, 0));
    assert_int_equal(skiff_model_predict(nat, x, N, a, &err), 0);
    assert_int_equal(skiff_model_predict(xgb, x, N, b, &err), 0);
    for (size_t i = 0; i < N * nout; i++)
        if (!(fabs(a[i] - b[i]) <= tol))
            fail_msg("%s: value %zu: native %.9g, libxgboost %.9g", path, i, a[i], b[i]);
    /* row by row equals the batch */
    for (size_t r = 0; r < N; r += 37) {
        double one[8];
        assert_int_equal(skiff_model_predict(nat, x + r * 6, 1, one, &err), 0);
        assert_memory_equal(one, a + r * nout, nout * sizeof *one);
    }
    skiff_model_free(nat);
    skiff_model_free(xgb);
    free(x);
    free(a);
    free(b);
}

static void test_random_forests_agree(void **state)
{
    agree(random_model("r-logistic.json", "binary:logistic", 0, 60, false), 1, 0);
    agree(random_model("r-squared.json", "reg:squarederror", 0, 40, false), 1, 0);
    agree(random_model("r-reglog.json", "reg:logistic", 0, 20, false), 1, 0);
    agree(random_model("r-raw.json", "binary:logitraw", 0, 20, false), 1, 0);
    agree(random_model("r-poisson.json", "count:poisson", 0, 20, false), 1, 0);
    agree(random_model("r-gamma.json", "reg:gamma", 0, 20, false), 1, 0);
    agree(random_model("r-tweedie.json", "reg:tweedie", 0, 20, false), 1, 0);
    agree(random_model("r-softprob.json", "multi:softprob", 4, 48, false), 4, 0);
    agree(random_model("r-softmax.json", "multi:softmax", 3, 30, false), 1, 0);
    /* dart: libxgboost's inplace predict adds each tree as
     * ((base + leaf) - base) * w, its DMatrix predict (python's predict) as
     * leaf * w; the native runtime does the latter (exact against python,
     * tests/e2e/test_serving_model.py), so against inplace predict the
     * two differ by float rounding, well inside 1e-6 */
    agree(random_model("r-dart.json", "binary:logistic", 0, 30, true), 1, 1e-6);
}

/* ---- hostile models ---- */

struct hostile {
    const char *name;
    const char *path;   /* node to replace, or NULL: `text` is the whole file */
    const char *value;  /* JSON of the replacement (or the file) */
    const char *expect; /* in the message */
};

static const struct hostile hostile[] = {
    {"not json", NULL, "{\"learner\": ", "not valid JSON"},
    {"empty", NULL, "", "not valid JSON"},
    {"array", NULL, "[1, 2]", "field 'learner': missing"},
    {"no learner", NULL, "{\"version\": [1, 7, 4]}", "field 'learner': missing"},
    {"nan literal", NULL, "{\"learner\": NaN}", "not valid JSON"},
    {"short right", "learner/gradient_booster/model/trees/0/right_children", "[2, -1, 4, -1]",
     "trees/0/right_children': 4 entries, left_children has 5"},
    {"short conds", "learner/gradient_booster/model/trees/1/split_conditions", "[0.0]",
     "trees/1/split_conditions': 1 entries"},
    {"child out of range", "learner/gradient_booster/model/trees/0/left_children/2", "99",
     "trees/0/left_children/2': child 99 out of range"},
    {"negative child", "learner/gradient_booster/model/trees/0/right_children/0", "-7",
     "trees/0/right_children/0': child -7 out of range"},
    {"cycle", "learner/gradient_booster/model/trees/0/left_children/2", "0",
     "reached twice"},
    {"shared node", "learner/gradient_booster/model/trees/0/right_children/2", "3",
     "node 3 is reached twice"},
    {"self loop", "learner/gradient_booster/model/trees/1/left_children/0", "0", "reached twice"},
    {"leaf with right child", "learner/gradient_booster/model/trees/1/right_children/1", "2",
     "trees/1/right_children/1': leaf node 1 has a right child"},
    {"threshold overflows float", "learner/gradient_booster/model/trees/0/split_conditions/0",
     "1e39", "trees/0/split_conditions/0': not a finite float"},
    {"threshold string", "learner/gradient_booster/model/trees/0/split_conditions/0", "\"nan\"",
     "split_conditions/0': not a finite float"},
    {"feature out of range", "learner/gradient_booster/model/trees/0/split_indices/0", "3",
     "split_indices/0': not a feature index below num_feature 3"},
    {"child not integer", "learner/gradient_booster/model/trees/0/left_children/0", "1.5",
     "left_children/0': child index is not an integer"},
    {"default_left 2", "learner/gradient_booster/model/trees/0/default_left/0", "2",
     "default_left/0': not 0 or 1"},
    {"categorical", "learner/gradient_booster/model/trees/0/split_type/2", "1",
     "categorical splits are not supported"},
    {"categories", "learner/gradient_booster/model/trees/0/categories_nodes", "[2]",
     "categorical splits are not supported"},
    {"empty tree", "learner/gradient_booster/model/trees/1",
     "{\"left_children\": [], \"right_children\": [], \"split_indices\": [],"
     " \"split_conditions\": [], \"default_left\": []}",
     "trees/1/left_children': a tree needs a root node"},
    {"tree not object", "learner/gradient_booster/model/trees/1", "7",
     "trees/1': not an object"},
    {"trees not array", "learner/gradient_booster/model/trees", "{}", "trees': not an array"},
    {"num_trees lies", "learner/gradient_booster/model/gbtree_model_param/num_trees", "\"3\"",
     "num_trees': says 3 trees, the model has 2"},
    {"tree_info short", "learner/gradient_booster/model/tree_info", "[0]",
     "tree_info': 1 entries for 2 trees"},
    {"tree_info group", "learner/gradient_booster/model/tree_info/1", "1",
     "tree_info/1': not a group index below 1"},
    {"objective", "learner/objective/name", "\"rank:pairwise\"",
     "objective 'rank:pairwise' is not supported"},
    {"gblinear", "learner/gradient_booster/name", "\"gblinear\"",
     "booster 'gblinear' is not supported"},
    {"dart without weights", "learner/gradient_booster/name", "\"dart\"",
     "gradient_booster/gbtree': missing"},
    {"softprob one class", "learner/objective/name", "\"multi:softprob\"",
     "num_class': 'multi:softprob' needs num_class >= 2"},
    {"classes for binary", "learner/learner_model_param/num_class", "\"3\"",
     "num_class 3 with the single-output objective"},
    {"base_score 1", "learner/learner_model_param/base_score", "\"1\"",
     "base_score': 1 is not a probability"},
    {"base_score text", "learner/learner_model_param/base_score", "\"half\"",
     "base_score': not a number"},
    {"num_feature text", "learner/learner_model_param/num_feature", "\"-3\"",
     "num_feature': -3 is not a whole number"},
    {"multi-target", "learner/learner_model_param/num_target", "\"2\"",
     "num_target': models with 2 targets are not supported"},
    {"num_feature 0", "learner/learner_model_param/num_feature", "\"0\"",
     "a model needs a feature"},
    {"num_feature huge", "learner/learner_model_param/num_feature", "\"1e300\"",
     "is not a whole number"},
    {"names count", "learner/feature_names", "[\"a\"]", "1 names for 3 features"},
    {"name not string", "learner/feature_names/1", "2", "element 1 is not a string"},
};

static void test_hostile_models(void **state)
{
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        const struct hostile *h = &hostile[i];
        const char *path;
        if (!h->path) {
            path = write_file("hostile.json", h->value);
        } else {
            json_t *root = tiny(), *v = json_loads(h->value, JSON_DECODE_ANY, NULL);
            assert_non_null(v);
            set(root, h->path, v);
            path = write_json("hostile.json", root);
            json_decref(root);
        }
        for (int rt = SKIFF_MODEL_NATIVE; rt <= SKIFF_MODEL_XGBOOST; rt++) {
            struct skiff_err err = SKIFF_ERR_INIT;
            struct skiff_model *m = (struct skiff_model *)&err;
            int rc = skiff_model_load(path, rt, &m, &err);
            if (rc != SKIFF_EINVAL || !strstr(err.msg, h->expect) || !strstr(err.where, "hostile"))
                fail_msg("%s (runtime %d): rc %d, where '%s', message '%s'", h->name, rt, rc,
                         err.where, err.msg);
            assert_null(m);
        }
    }
}

/* A chain of 70 splits: deeper than any tree is allowed to be. */
static void test_too_deep(void **state)
{
    json_t *root = tiny(), *l = json_array(), *r = json_array(), *f = json_array(),
           *c = json_array(), *d = json_array();
    int depth = 70;
    for (int i = 0; i < 2 * depth + 1; i++) {
        bool split = i % 2 == 0 && i < 2 * depth; /* node 2k splits into 2k+1 (leaf), 2k+2 */
        json_array_append_new(l, json_integer(split ? i + 1 : -1));
        json_array_append_new(r, json_integer(split ? i + 2 : -1));
        json_array_append_new(f, json_integer(0));
        json_array_append_new(c, json_real(0.5));
        json_array_append_new(d, json_integer(0));
    }
    json_t *tree = json_pack("{s:o, s:o, s:o, s:o, s:o}", "left_children", l, "right_children", r,
                             "split_indices", f, "split_conditions", c, "default_left", d);
    set(root, "learner/gradient_booster/model/trees/1", tree);
    const char *path = write_json("deep.json", root);
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_model *m;
    assert_int_equal(skiff_model_load(path, SKIFF_MODEL_NATIVE, &m, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "trees/1/left_children': deeper than 64 levels"));
    json_decref(root);
}

/* ---- where models come from ---- */

static void test_paths(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_model *m;
    char dir[512], p[600];

    /* MLflow folder: MLmodel names the file */
    snprintf(dir, sizeof dir, "%s/mlflow", tmp);
    assert_int_equal(mkdir(dir, 0755), 0);
    write_file("mlflow/booster.json", tiny_model);
    write_file("mlflow/MLmodel", "artifact_path: model\nflavors:\n  python_function:\n"
                                 "    loader_module: mlflow.xgboost\n  xgboost:\n"
                                 "    data: booster.json\n    model_class: xgboost.core.Booster\n"
                                 "    xgb_version: 1.7.4\n");
    m = load_ok(dir, SKIFF_MODEL_NATIVE);
    assert_int_equal(skiff_model_nfeatures(m), 3);
    skiff_model_free(m);

    /* a model without feature names takes its signature's column names */
    random_model("mlflow/nameless.json", "binary:logistic", 0, 3, false);
    write_file("mlflow/MLmodel",
               "flavors:\n  xgboost:\n    data: nameless.json\nsignature:\n"
               "  inputs: '[{\"name\": \"f_a\", \"type\": \"float\"}, {\"name\": \"f_b\"}, "
               "{\"name\": \"f_c\"}, {\"name\": \"f_d\"}, {\"name\": \"f_e\"}, "
               "{\"name\": \"f_f\", \"type\": \"double\"}]'\n");
    m = load_ok(dir, SKIFF_MODEL_XGBOOST);
    assert_string_equal(skiff_model_feature_name(m, 0), "f_a");
    assert_string_equal(skiff_model_feature_name(m, 5), "f_f");
    skiff_model_free(m);
    snprintf(p, sizeof p, "%s/nameless.json", dir);
    assert_int_equal(unlink(p), 0);

    /* data must stay inside the folder */
    write_file("mlflow/MLmodel", "flavors:\n  xgboost:\n    data: ../tiny.json\n");
    assert_int_equal(skiff_model_load(dir, SKIFF_MODEL_NATIVE, &m, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "not a path inside the model folder"));
    assert_int_equal(err.line, 3);
    write_file("mlflow/MLmodel", "flavors:\n  sklearn: {}\n");
    assert_int_equal(skiff_model_load(dir, SKIFF_MODEL_XGBOOST, &m, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "flavors.xgboost.data"));

    /* no MLmodel: the one .json */
    snprintf(p, sizeof p, "%s/MLmodel", dir);
    assert_int_equal(unlink(p), 0);
    m = load_ok(dir, SKIFF_MODEL_XGBOOST);
    skiff_model_free(m);
    write_file("mlflow/other.json", "{}");
    assert_int_equal(skiff_model_load(dir, SKIFF_MODEL_NATIVE, &m, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "2 .json files"));

    /* missing */
    snprintf(p, sizeof p, "%s/nope.json", tmp);
    assert_int_equal(skiff_model_load(p, SKIFF_MODEL_NATIVE, &m, &err), SKIFF_ENOTFOUND);
    assert_null(m);
    assert_int_equal(skiff_model_load(tmp, 7, &m, &err), SKIFF_EINVAL);
}

/* MLflow's default model.xgb (legacy binary) and .ubj: libxgboost converts
 * them, then both runtimes evaluate as from JSON. */
static void test_binary_formats(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    const char *json = write_file("tiny.json", tiny_model);
    const char *formats[] = {"model.ubj", "model.xgb"};
    BoosterHandle h;
    char dir[512], p[600];

    assert_int_equal(XGBoosterCreate(NULL, 0, &h), 0);
    assert_int_equal(XGBoosterLoadModel(h, json), 0);
    for (size_t i = 0; i < 2; i++) {
        snprintf(dir, sizeof dir, "%s/fmt%zu", tmp, i);
        assert_int_equal(mkdir(dir, 0755), 0);
        snprintf(p, sizeof p, "%s/%s", dir, formats[i]);
        assert_int_equal(XGBoosterSaveModel(h, p), 0);
        for (int rt = SKIFF_MODEL_NATIVE; rt <= SKIFF_MODEL_XGBOOST; rt++) {
            struct skiff_model *m;
            double out[4];
            m = load_ok(dir, rt);
            assert_int_equal(skiff_model_predict(m, &tiny_rows[0][0], 4, out, &err), 0);
            for (int r = 0; r < 4; r++) {
                float margin = 0.0f;
                margin += tiny_leaves[r][0];
                margin += tiny_leaves[r][1];
                assert_true(out[r] == (double)sigmoidf(margin));
            }
            skiff_model_free(m);
        }
    }
    XGBoosterFree(h);
    /* garbage that is not JSON goes to libxgboost, which must refuse it */
    const char *junk = write_file("junk.xgb", "\x01\x02 not a model at all");
    struct skiff_model *m;
    assert_int_equal(skiff_model_load(junk, SKIFF_MODEL_NATIVE, &m, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "libxgboost cannot load model"));
}

/* ---- threads ---- */

struct job {
    const struct skiff_model *m;
    const float *x;
    const double *want;
    size_t n;
    int bad;
};

static void *hammer(void *arg)
{
    struct job *j = arg;
    double *out = malloc(j->n * sizeof *out);
    for (int it = 0; it < 40; it++) {
        struct skiff_err err = SKIFF_ERR_INIT;
        size_t n = it % 2 ? j->n : 1; /* single rows and batches, interleaved */
        if (skiff_model_predict(j->m, j->x, n, out, &err) ||
            memcmp(out, j->want, n * sizeof *out) != 0)
            j->bad++;
    }
    free(out);
    return NULL;
}

static void test_threads(void **state)
{
    const char *path = random_model("threads.json", "binary:logistic", 0, 50, false);
    enum { N = 200, T = 6 };
    float *x = random_rows(N);
    for (int rt = SKIFF_MODEL_NATIVE; rt <= SKIFF_MODEL_XGBOOST; rt++) {
        struct skiff_err err = SKIFF_ERR_INIT;
        struct skiff_model *m;
        double want[N];
        pthread_t th[T];
        struct job jobs[T];
        m = load_ok(path, rt);
        assert_int_equal(skiff_model_predict(m, x, N, want, &err), 0);
        for (int t = 0; t < T; t++) {
            jobs[t] = (struct job){m, x, want, N, 0};
            assert_int_equal(pthread_create(&th[t], NULL, hammer, &jobs[t]), 0);
        }
        for (int t = 0; t < T; t++) {
            pthread_join(th[t], NULL);
            assert_int_equal(jobs[t].bad, 0);
        }
        skiff_model_free(m);
    }
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_by_hand),
        cmocka_unit_test(test_tiny_regression_and_dart),
        cmocka_unit_test(test_random_forests_agree),
        cmocka_unit_test(test_hostile_models),
        cmocka_unit_test(test_too_deep),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_binary_formats),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
