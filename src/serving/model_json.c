/* XGBoost JSON models (the 1.7 format) read into a struct model__spec.
 *
 * The file is untrusted: a model comes from a registry anyone with a write
 * token can fill. Every field a runtime relies on is checked here, once,
 * so the runtimes can walk trees without a bounds check:
 *   - every per-node array of a tree has the same length;
 *   - child indices are in range, each node is reached once from the root
 *     (no cycles, no shared subtrees) and no deeper than MODEL__MAX_DEPTH;
 *   - split features are < num_feature; thresholds and leaf values finite;
 *   - tree_info names a group < num_class; dart has one weight per tree;
 *   - categorical splits are refused (the runtimes do numeric splits only).
 * Only nodes reachable from the root are checked and kept: xgboost leaves
 * pruned ("deleted") nodes in the arrays with stale contents.
 *
 * Trees are flattened breadth-first as they are read: the children of a
 * split get two adjacent slots, so the flat tree needs one child index per
 * node (tree.c, model_int.h).
 */
#include "model_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/err.h"

struct ctx {
    const char *file;
    struct skiff_err *err;
};

/* The error every check below ends in: SKIFF_EINVAL, where = the file, the
 * message naming the JSON field (a path like learner/objective/name). */
static int bad(struct ctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(struct ctx *c, const char *field, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return skiff_err_at(c->err, SKIFF_EINVAL, c->file, 0, 0, "invalid xgboost model: field '%s': %s",
                        field, msg);
}

static int oom(struct ctx *c)
{
    return skiff_err_set(c->err, SKIFF_ENOMEM, "out of memory reading model '%s'", c->file);
}

/* o[key] when it is of the wanted type (json_is_object etc.). */
static int member(struct ctx *c, const json_t *o, const char *key, const char *field,
                  int (*is)(const json_t *), const char *what, const json_t **out)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (!v)
        return bad(c, field, "missing");
    if (!is(v))
        return bad(c, field, "not %s", what);
    *out = v;
    return 0;
}

static int is_object(const json_t *v) { return json_is_object(v); }
static int is_array(const json_t *v) { return json_is_array(v); }
static int is_string(const json_t *v) { return json_is_string(v); }

/* XGBoost writes its parameters as strings ("num_feature": "7",
 * "base_score": "5E-1"); accept a bare number too. */
static int param_double(struct ctx *c, const json_t *o, const char *key, const char *field,
                        double *out)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (!v)
        return bad(c, field, "missing");
    if (json_is_number(v)) {
        *out = json_number_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        *out = strtod(s, &end);
        if (end != s && *end == '\0' && isfinite(*out))
            return 0;
    }
    return bad(c, field, "not a number");
}

static int param_count(struct ctx *c, const json_t *o, const char *key, const char *field,
                       size_t max, size_t *out)
{
    double d;
    int rc = param_double(c, o, key, field, &d);
    if (rc)
        return rc;
    if (d < 0 || d > (double)max || d != floor(d))
        return bad(c, field, "%g is not a whole number in [0, %zu]", d, max);
    *out = (size_t)d;
    return 0;
}

/* ---- objectives ---- */

/* base_score is stored in the objective's output space (a probability for
 * logistic objectives); libxgboost turns it into a margin once, in float,
 * and every prediction starts from that margin. */
static float margin_logit(float p) { return -logf(1.0f / p - 1.0f); }

enum base_kind {
    BASE_MARGIN, /* base_score is the margin itself */
    BASE_LOGIT,  /* a probability: margin = logit(base_score) */
    BASE_LOG,    /* a mean of exp(margin): margin = log(base_score) */
};

static const struct {
    const char *name;
    enum model__transform transform;
    enum base_kind base;
    bool multi; /* needs num_class >= 2 */
} objectives[] = {
    {"binary:logistic", MODEL__SIGMOID, BASE_LOGIT, false},
    {"reg:logistic", MODEL__SIGMOID, BASE_LOGIT, false},
    {"binary:logitraw", MODEL__IDENTITY, BASE_MARGIN, false},
    {"reg:squarederror", MODEL__IDENTITY, BASE_MARGIN, false},
    {"count:poisson", MODEL__EXP, BASE_LOG, false},
    {"reg:gamma", MODEL__EXP, BASE_LOG, false},
    {"reg:tweedie", MODEL__EXP, BASE_LOG, false},
    {"multi:softprob", MODEL__SOFTPROB, BASE_MARGIN, true},
    {"multi:softmax", MODEL__SOFTMAX, BASE_MARGIN, true},
};

static int parse_objective(struct ctx *c, const json_t *learner, struct model__spec *spec)
{
    const json_t *obj = NULL, *name = NULL;
    double base;
    size_t nclass;
    int rc;

    if ((rc = member(c, learner, "objective", "learner/objective", is_object, "an object", &obj)) ||
        (rc = member(c, obj, "name", "learner/objective/name", is_string, "a string", &name)))
        return rc;
    const json_t *mp = json_object_get(learner, "learner_model_param");
    if (!json_is_object(mp))
        return bad(c, "learner/learner_model_param", "missing or not an object");
    if ((rc = param_count(c, mp, "num_feature", "learner/learner_model_param/num_feature",
                          MODEL__MAX_FEATURES, &spec->nfeatures)) ||
        (rc = param_count(c, mp, "num_class", "learner/learner_model_param/num_class",
                          MODEL__MAX_GROUPS, &nclass)) ||
        (rc = param_double(c, mp, "base_score", "learner/learner_model_param/base_score",
                           &base)))
        return rc;
    if (spec->nfeatures == 0)
        return bad(c, "learner/learner_model_param/num_feature", "a model needs a feature");
    if (json_object_get(mp, "num_target")) { /* written by 1.7 when it knows it */
        size_t ntarget;
        if ((rc = param_count(c, mp, "num_target", "learner/learner_model_param/num_target",
                              MODEL__MAX_GROUPS, &ntarget)))
            return rc;
        if (ntarget > 1)
            return bad(c, "learner/learner_model_param/num_target",
                       "models with %zu targets are not supported", ntarget);
    }

    const char *s = json_string_value(name);
    size_t i, n = sizeof objectives / sizeof objectives[0];
    for (i = 0; i < n && strcmp(objectives[i].name, s) != 0; i++)
        ;
    if (i == n)
        return bad(c, "learner/objective/name",
                   "objective '%.64s' is not supported (supported: binary:logistic, "
                   "reg:logistic, binary:logitraw, reg:squarederror, count:poisson, "
                   "reg:gamma, reg:tweedie, multi:softprob, multi:softmax)", s);
    snprintf(spec->objective, sizeof spec->objective, "%s", s);
    spec->transform = objectives[i].transform;
    if (objectives[i].multi && nclass < 2)
        return bad(c, "learner/learner_model_param/num_class", "'%s' needs num_class >= 2", s);
    if (!objectives[i].multi && nclass > 1)
        return bad(c, "learner/learner_model_param/num_class",
                   "num_class %zu with the single-output objective '%s'", nclass, s);
    spec->ngroups = nclass > 1 ? nclass : 1;

    float b = (float)base;
    if (objectives[i].base == BASE_LOGIT) {
        if (!(b > 0.0f && b < 1.0f))
            return bad(c, "learner/learner_model_param/base_score",
                       "%g is not a probability in (0, 1), as '%s' needs", base, s);
        spec->base_margin = margin_logit(b);
    } else if (objectives[i].base == BASE_LOG) {
        if (!(b > 0.0f) || !isfinite(b))
            return bad(c, "learner/learner_model_param/base_score",
                       "%g is not a positive float, as '%s' needs", base, s);
        spec->base_margin = logf(b);
    } else {
        if (!isfinite(b))
            return bad(c, "learner/learner_model_param/base_score", "%g overflows a float", base);
        spec->base_margin = b;
    }
    return 0;
}

static int parse_feature_names(struct ctx *c, const json_t *learner, struct model__spec *spec)
{
    const json_t *names = json_object_get(learner, "feature_names");
    if (!names || json_array_size(names) == 0)
        return 0; /* a model trained on a bare array has none */
    if (!json_is_array(names))
        return bad(c, "learner/feature_names", "not an array");
    if (json_array_size(names) != spec->nfeatures)
        return bad(c, "learner/feature_names", "%zu names for %zu features",
                   json_array_size(names), spec->nfeatures);
    if (!(spec->feature_names = calloc(spec->nfeatures, sizeof *spec->feature_names)))
        return oom(c);
    for (size_t i = 0; i < spec->nfeatures; i++) {
        const json_t *v = json_array_get(names, i);
        if (!json_is_string(v))
            return bad(c, "learner/feature_names", "element %zu is not a string", i);
        if (!(spec->feature_names[i] = strdup(json_string_value(v))))
            return oom(c);
    }
    return 0;
}

/* ---- trees ---- */

/* One tree's per-node arrays, borrowed from the document. */
struct tree_arrays {
    const json_t *left, *right, *feat, *cond, *dleft;
    size_t n;
};

static int tree_array(struct ctx *c, const json_t *tree, const char *key, char *field,
                      size_t fieldsz, size_t prefix, const json_t **out)
{
    snprintf(field + prefix, fieldsz - prefix, "/%s", key);
    return member(c, tree, key, field, is_array, "an array", out);
}

static int node_int(const json_t *a, size_t i, long long *out)
{
    const json_t *v = json_array_get(a, i);
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_boolean(v)) { /* default_left is written as 0/1 or true/false */
        *out = json_is_true(v);
        return 0;
    }
    return -1;
}

/* Grows the forest's node array to hold `want` nodes. */
static int reserve_nodes(struct tree__forest *f, size_t *cap, size_t want)
{
    if (want <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 256;
    while (ncap < want)
        ncap *= 2;
    struct tree__node *p = realloc(f->nodes, ncap * sizeof *p);
    if (!p)
        return -1;
    f->nodes = p;
    *cap = ncap;
    return 0;
}

/* Flattens tree t breadth-first from its root into f->nodes[f->nnodes...],
 * checking each node reached (see the top of the file). */
static int flatten_tree(struct ctx *c, const json_t *tree, size_t t, size_t nfeatures,
                        struct tree__forest *f, size_t *cap)
{
    char field[160];
    size_t prefix = (size_t)snprintf(field, sizeof field,
                                     "learner/gradient_booster/model/trees/%zu", t);
    struct tree_arrays a;
    const json_t *split_type;
    uint32_t *queue = NULL; /* (original id, depth) pairs waiting for a slot */
    unsigned char *seen = NULL;
    int rc;

    if (prefix >= sizeof field)
        prefix = sizeof field - 1;
    if (!json_is_object(tree))
        return bad(c, field, "not an object");
    if ((rc = tree_array(c, tree, "left_children", field, sizeof field, prefix, &a.left)) ||
        (rc = tree_array(c, tree, "right_children", field, sizeof field, prefix, &a.right)) ||
        (rc = tree_array(c, tree, "split_indices", field, sizeof field, prefix, &a.feat)) ||
        (rc = tree_array(c, tree, "split_conditions", field, sizeof field, prefix, &a.cond)) ||
        (rc = tree_array(c, tree, "default_left", field, sizeof field, prefix, &a.dleft)))
        return rc;
    a.n = json_array_size(a.left);
    const json_t *const *arrays[] = {&a.right, &a.feat, &a.cond, &a.dleft};
    const char *names[] = {"right_children", "split_indices", "split_conditions", "default_left"};
    for (size_t k = 0; k < 4; k++)
        if (json_array_size(*arrays[k]) != a.n) {
            snprintf(field + prefix, sizeof field - prefix, "/%s", names[k]);
            return bad(c, field, "%zu entries, left_children has %zu",
                       json_array_size(*arrays[k]), a.n);
        }
    if (a.n == 0) {
        snprintf(field + prefix, sizeof field - prefix, "/left_children");
        return bad(c, field, "a tree needs a root node");
    }
    if (a.n > (TREE__FEAT_MASK >> 1) || f->nnodes + 2 * a.n + 1 > TREE__FEAT_MASK) {
        snprintf(field + prefix, sizeof field - prefix, "/left_children");
        return bad(c, field, "too many nodes (%zu)", a.n);
    }
    /* Categorical splits test set membership, not x < threshold: refuse
     * rather than answer wrongly. */
    split_type = json_object_get(tree, "split_type");
    for (size_t i = 0; json_is_array(split_type) && i < json_array_size(split_type); i++) {
        long long st;
        if (node_int(split_type, i, &st) || st != 0) {
            snprintf(field + prefix, sizeof field - prefix, "/split_type/%zu", i);
            return bad(c, field, "categorical splits are not supported");
        }
    }
    const json_t *cats = json_object_get(tree, "categories_nodes");
    if (json_array_size(cats) > 0) {
        snprintf(field + prefix, sizeof field - prefix, "/categories_nodes");
        return bad(c, field, "categorical splits are not supported");
    }

    /* Each node popped pushes two children and a node is popped at most
     * once (seen[]), so 2n + 1 queue entries always suffice. */
    if (!(queue = malloc((2 * a.n + 1) * 2 * sizeof *queue)) || !(seen = calloc(a.n, 1)) ||
        reserve_nodes(f, cap, f->nnodes + 2 * a.n + 1)) {
        rc = oom(c);
        goto out;
    }
    size_t base = f->nnodes, head = 0, tail = 0, next = base + 1;
    f->root[t] = (uint32_t)base;
    queue[tail++] = 0, queue[tail++] = 0;
    for (size_t slot = base; head < tail; slot++) {
        uint32_t id = queue[head++], depth = queue[head++];
        long long l, r, feat, dl;
        struct tree__node *nd = &f->nodes[slot];
        double v = json_number_value(json_array_get(a.cond, id));

        if (seen[id]) {
            snprintf(field + prefix, sizeof field - prefix, "/left_children");
            rc = bad(c, field, "node %u is reached twice (a cycle or a shared subtree)", id);
            goto out;
        }
        seen[id] = 1;
        if (node_int(a.left, id, &l) || node_int(a.right, id, &r)) {
            snprintf(field + prefix, sizeof field - prefix, "/left_children/%u", id);
            rc = bad(c, field, "child index is not an integer");
            goto out;
        }
        if (!json_is_number(json_array_get(a.cond, id)) || !isfinite((float)v)) {
            snprintf(field + prefix, sizeof field - prefix, "/split_conditions/%u", id);
            rc = bad(c, field, "not a finite float");
            goto out;
        }
        if (l == -1) {
            if (r != -1) {
                snprintf(field + prefix, sizeof field - prefix, "/right_children/%u", id);
                rc = bad(c, field, "leaf node %u has a right child", id);
                goto out;
            }
            *nd = (struct tree__node){(float)v, TREE__LEAF, (uint32_t)slot};
            if (depth > f->depth[t])
                f->depth[t] = (uint8_t)depth;
            continue;
        }
        if (l < 0 || (size_t)l >= a.n || r < 0 || (size_t)r >= a.n) {
            snprintf(field + prefix, sizeof field - prefix, "/%s/%u",
                     l < 0 || (size_t)l >= a.n ? "left_children" : "right_children", id);
            rc = bad(c, field, "child %lld out of range (the tree has %zu nodes)",
                     l < 0 || (size_t)l >= a.n ? l : r, a.n);
            goto out;
        }
        if (depth + 1 > MODEL__MAX_DEPTH) {
            snprintf(field + prefix, sizeof field - prefix, "/left_children");
            rc = bad(c, field, "deeper than %d levels", MODEL__MAX_DEPTH);
            goto out;
        }
        if (node_int(a.feat, id, &feat) || feat < 0 || (size_t)feat >= nfeatures) {
            snprintf(field + prefix, sizeof field - prefix, "/split_indices/%u", id);
            rc = bad(c, field, "not a feature index below num_feature %zu", nfeatures);
            goto out;
        }
        if (node_int(a.dleft, id, &dl) || (dl != 0 && dl != 1)) {
            snprintf(field + prefix, sizeof field - prefix, "/default_left/%u", id);
            rc = bad(c, field, "not 0 or 1");
            goto out;
        }
        *nd = (struct tree__node){(float)v, (uint32_t)feat | (dl ? TREE__DEFAULT_LEFT : 0),
                                  (uint32_t)next};
        next += 2;
        queue[tail++] = (uint32_t)l, queue[tail++] = depth + 1;
        queue[tail++] = (uint32_t)r, queue[tail++] = depth + 1;
    }
    f->nnodes = next;
    rc = 0;
out:
    free(queue);
    free(seen);
    return rc;
}

static int parse_trees(struct ctx *c, const json_t *learner, struct model__spec *spec)
{
    const json_t *gb = NULL, *model = NULL, *trees = NULL, *info = NULL, *gbname = NULL;
    const json_t *drop = NULL;
    struct tree__forest *f = &spec->forest;
    size_t ntrees, cap = 0;
    int rc;

    if ((rc = member(c, learner, "gradient_booster", "learner/gradient_booster", is_object,
                     "an object", &gb)) ||
        (rc = member(c, gb, "name", "learner/gradient_booster/name", is_string, "a string",
                     &gbname)))
        return rc;
    if (strcmp(json_string_value(gbname), "dart") == 0) {
        /* dart keeps a gbtree inside it, plus one weight per tree */
        const json_t *inner = NULL;
        if ((rc = member(c, gb, "gbtree", "learner/gradient_booster/gbtree", is_object,
                         "an object", &inner)) ||
            (rc = member(c, gb, "weight_drop", "learner/gradient_booster/weight_drop", is_array,
                         "an array", &drop)))
            return rc;
        gb = inner;
    } else if (strcmp(json_string_value(gbname), "gbtree") != 0) {
        return bad(c, "learner/gradient_booster/name",
                   "booster '%.32s' is not supported (gbtree and dart are)",
                   json_string_value(gbname));
    }
    if ((rc = member(c, gb, "model", "learner/gradient_booster/model", is_object, "an object",
                     &model)) ||
        (rc = member(c, model, "trees", "learner/gradient_booster/model/trees", is_array,
                     "an array", &trees)) ||
        (rc = member(c, model, "tree_info", "learner/gradient_booster/model/tree_info",
                     is_array, "an array", &info)))
        return rc;
    ntrees = json_array_size(trees);
    const json_t *gp = json_object_get(model, "gbtree_model_param");
    if (gp) {
        size_t declared;
        if ((rc = param_count(c, gp, "num_trees",
                              "learner/gradient_booster/model/gbtree_model_param/num_trees",
                              SIZE_MAX >> 1, &declared)))
            return rc;
        if (declared != ntrees)
            return bad(c, "learner/gradient_booster/model/gbtree_model_param/num_trees",
                       "says %zu trees, the model has %zu", declared, ntrees);
    }
    if (json_array_size(info) != ntrees)
        return bad(c, "learner/gradient_booster/model/tree_info", "%zu entries for %zu trees",
                   json_array_size(info), ntrees);
    if (drop && json_array_size(drop) != ntrees)
        return bad(c, "learner/gradient_booster/weight_drop", "%zu weights for %zu trees",
                   json_array_size(drop), ntrees);

    f->ntrees = ntrees;
    if (ntrees && (!(f->root = calloc(ntrees, sizeof *f->root)) ||
                   !(f->group = calloc(ntrees, sizeof *f->group)) ||
                   !(f->depth = calloc(ntrees, sizeof *f->depth)) ||
                   (drop && !(f->weight = calloc(ntrees, sizeof *f->weight)))))
        return oom(c);
    for (size_t t = 0; t < ntrees; t++) {
        long long g;
        char field[96];
        if (node_int(info, t, &g) || g < 0 || (size_t)g >= spec->ngroups) {
            snprintf(field, sizeof field, "learner/gradient_booster/model/tree_info/%zu", t);
            return bad(c, field, "not a group index below %zu", spec->ngroups);
        }
        f->group[t] = (uint32_t)g;
        if (drop) {
            const json_t *w = json_array_get(drop, t);
            if (!json_is_number(w) || !isfinite((float)json_number_value(w))) {
                snprintf(field, sizeof field, "learner/gradient_booster/weight_drop/%zu", t);
                return bad(c, field, "not a finite float");
            }
            f->weight[t] = (float)json_number_value(w);
        }
        if ((rc = flatten_tree(c, json_array_get(trees, t), t, spec->nfeatures, f, &cap)))
            return rc;
    }
    return 0;
}

int model__parse_json(const json_t *root, const char *file, struct model__spec *spec,
                      struct skiff_err *err)
{
    struct ctx c = {file, err};
    const json_t *learner = NULL;
    int rc;

    memset(spec, 0, sizeof *spec);
    if ((rc = member(&c, root, "learner", "learner", is_object, "an object", &learner)) ||
        (rc = parse_objective(&c, learner, spec)) ||
        (rc = parse_feature_names(&c, learner, spec)) || (rc = parse_trees(&c, learner, spec)))
        model__spec_release(spec);
    return rc;
}

void model__spec_release(struct model__spec *spec)
{
    if (!spec)
        return;
    if (spec->feature_names)
        for (size_t i = 0; i < spec->nfeatures; i++)
            free(spec->feature_names[i]);
    free(spec->feature_names);
    free(spec->forest.nodes);
    free(spec->forest.root);
    free(spec->forest.group);
    free(spec->forest.depth);
    free(spec->forest.weight);
    memset(spec, 0, sizeof *spec);
}
