/* The native runtime: evaluates the flat forest of model_json.c.
 *
 * Arithmetic is libxgboost 1.7's CPU predictor's, so answers agree to the
 * last float bit, not merely to 1e-6:
 *   - a row's margin starts at base_margin (a float) and each tree's leaf
 *     value is added to it in float, in tree order;
 *   - a split sends x left when x < threshold (both floats), a NaN goes to
 *     the default side;
 *   - dart multiplies each tree's leaf by the tree's weight (float) first;
 *   - the transform runs in float: sigmoid 1 / (1 + exp(-m)); softmax with
 *     the largest margin subtracted, the sum of exponentials in double and
 *     each class divided by that sum rounded to float.
 * Worked example (binary:logistic, base_score 0.5, two trees with leaves
 * 0.2 and -0.05 for a row): margin = logit(0.5) = 0 -> 0 + 0.2 -> 0.15 in
 * float (0.150000006), p = 1 / (1 + exp(-0.15)) = 0.537429...
 *
 * Batches: rows are taken in blocks and, within a block, trees outer and
 * rows inner, so one tree's nodes stay in L1 while every row of the block
 * walks it, eight rows side by side. A single row walks eight trees side
 * by side instead. Either way the order of additions per row is unchanged
 * (tree order), and so is the result.
 */
#include "model_int.h"

#include <math.h>
#include <string.h>

/* One step down from node i for row x, without a branch on the data:
 * x < threshold goes left; NaN makes !(x < t) true, so flipping it by the
 * default-left bit sends a missing value to its default side; a leaf
 * never steps (it points at itself). */
static inline uint32_t step(const struct tree__node *nodes, uint32_t i, const float *x)
{
    const struct tree__node *nd = &nodes[i];
    uint32_t f = nd->feat;
    float v = x[f & TREE__FEAT_MASK];
    uint32_t right = (uint32_t) !(v < nd->value) ^ ((uint32_t)(v != v) & (f >> 30 & 1u));
    return nd->left + (right & ~(f >> 31));
}

/* Leaf value of the tree rooted at nodes[root] for row x: exactly `depth`
 * steps, so the loop's one branch is predicted for every row. */
static inline float tree_eval(const struct tree__node *nodes, uint32_t root, unsigned depth,
                              const float *x)
{
    uint32_t i = root;
    for (unsigned d = 0; d < depth; d++)
        i = step(nodes, i, x);
    return nodes[i].value;
}

/* libxgboost's common::Sigmoid: float throughout; the exponent is capped so
 * exp never overflows (a margin below -88.7 gives ~0, as it would anyway). */
static inline float sigmoid(float m)
{
    float e = -m < 88.7f ? -m : 88.7f;
    return 1.0f / (expf(e) + 1.0f);
}

/* Transforms one row's margins m[ng] into out (noutputs values). */
static void transform_row(const struct model__spec *spec, const float *m, double *out)
{
    size_t ng = spec->ngroups;
    switch (spec->transform) {
    case MODEL__IDENTITY:
        for (size_t g = 0; g < ng; g++)
            out[g] = m[g];
        break;
    case MODEL__SIGMOID:
        for (size_t g = 0; g < ng; g++)
            out[g] = sigmoid(m[g]);
        break;
    case MODEL__EXP:
        for (size_t g = 0; g < ng; g++)
            out[g] = expf(m[g]);
        break;
    case MODEL__SOFTPROB: {
        float mx = m[0];
        double sum = 0;
        for (size_t g = 1; g < ng; g++)
            mx = m[g] > mx ? m[g] : mx;
        for (size_t g = 0; g < ng; g++)
            sum += expf(m[g] - mx);
        for (size_t g = 0; g < ng; g++)
            out[g] = expf(m[g] - mx) / (float)sum;
        break;
    }
    case MODEL__SOFTMAX: {
        size_t best = 0; /* the first of equal maxima, as std::max_element */
        for (size_t g = 1; g < ng; g++)
            if (m[g] > m[best])
                best = g;
        out[0] = (double)best;
        break;
    }
    }
}

/* Rows walked side by side: their walks are independent, so the CPU
 * overlaps the loads of one row with the compares of the others. */
#define LANES 8

/* Margins of rows [0, n) of a block: trees outer, rows inner. */
static void block_margins(const struct model__spec *spec, const float *x, size_t n, float *acc)
{
    const struct tree__forest *f = &spec->forest;
    const struct tree__node *nodes = f->nodes;
    size_t ng = spec->ngroups, nf = spec->nfeatures;

    for (size_t i = 0; i < n * ng; i++)
        acc[i] = spec->base_margin;
    for (size_t t = 0; t < f->ntrees; t++) {
        uint32_t root = f->root[t], g = f->group[t];
        unsigned depth = f->depth[t];
        float w = f->weight ? f->weight[t] : 1.0f;
        size_t r = 0;
        for (; r + LANES <= n; r += LANES) {
            uint32_t idx[LANES];
            const float *xr[LANES];
            for (int k = 0; k < LANES; k++)
                idx[k] = step(nodes, root, xr[k] = x + (r + k) * nf);
            for (unsigned d = 1; d < depth; d++)
                for (int k = 0; k < LANES; k++)
                    idx[k] = step(nodes, idx[k], xr[k]);
            /* w * leaf is exact for gbtree (w = 1), dart's product for dart */
            for (int k = 0; k < LANES; k++)
                acc[(r + k) * ng + g] += f->weight ? w * nodes[idx[k]].value
                                                   : nodes[idx[k]].value;
        }
        for (; r < n; r++) {
            float leaf = tree_eval(nodes, root, depth, x + r * nf);
            acc[r * ng + g] += f->weight ? w * leaf : leaf;
        }
    }
}

/* Margins of one row: LANES trees walked side by side (a leaf points at
 * itself, so walking a shallower tree as deep as the deepest of its lane
 * group is harmless), their leaves then added in tree order. */
static void row_margins(const struct model__spec *spec, const float *x, float *acc)
{
    const struct tree__forest *f = &spec->forest;
    const struct tree__node *nodes = f->nodes;
    size_t t = 0;

    for (size_t g = 0; g < spec->ngroups; g++)
        acc[g] = spec->base_margin;
    for (; t + LANES <= f->ntrees; t += LANES) {
        uint32_t idx[LANES];
        unsigned depth = 0;
        for (int k = 0; k < LANES; k++) {
            idx[k] = f->root[t + k];
            depth = f->depth[t + k] > depth ? f->depth[t + k] : depth;
        }
        for (unsigned d = 0; d < depth; d++)
            for (int k = 0; k < LANES; k++)
                idx[k] = step(nodes, idx[k], x);
        for (int k = 0; k < LANES; k++)
            acc[f->group[t + k]] += f->weight ? f->weight[t + k] * nodes[idx[k]].value
                                              : nodes[idx[k]].value;
    }
    for (; t < f->ntrees; t++) {
        float leaf = tree_eval(nodes, f->root[t], f->depth[t], x);
        acc[f->group[t]] += f->weight ? f->weight[t] * leaf : leaf;
    }
}

/* Floats of margins kept on the stack: a block holds this many / ngroups
 * rows (64 rows for one group; one row for 4096 classes). */
#define ACC_FLOATS 4096
#define BLOCK_ROWS 64

void tree__predict(const struct model__spec *spec, const float *x, size_t nrows, double *out)
{
    float acc[ACC_FLOATS];
    size_t ng = spec->ngroups, nf = spec->nfeatures;
    size_t nout = spec->transform == MODEL__SOFTMAX ? 1 : ng;
    size_t block = ACC_FLOATS / ng;

    if (block > BLOCK_ROWS)
        block = BLOCK_ROWS;
    for (size_t r0 = 0; r0 < nrows; r0 += block) {
        size_t n = nrows - r0 < block ? nrows - r0 : block;
        if (n < LANES) /* too few rows to walk side by side: walk trees side by side */
            for (size_t r = 0; r < n; r++)
                row_margins(spec, x + (r0 + r) * nf, acc + r * ng);
        else
            block_margins(spec, x + r0 * nf, n, acc);
        for (size_t r = 0; r < n; r++)
            transform_row(spec, acc + r * ng, out + (r0 + r) * nout);
    }
}
