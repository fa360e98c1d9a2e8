/* Derived-field expressions: see include/skiff/features.h.
 *
 * Grammar (recursive descent, the usual precedence, left-associative):
 *   expr   = sum [ ("<" | "<=" | ">" | ">=" | "==" | "!=") sum ]
 *   sum    = term { ("+" | "-") term }
 *   term   = unary { ("*" | "/") unary }
 *   unary  = "-" unary | primary
 *   primary = number | name | "(" expr ")"
 * Parsing compiles to postfix code that eval runs on a small stack, so
 * evaluating per entity row allocates nothing.
 *
 * Worked example: "tx_count_1h / (avg_amount_7d + 1)" with names
 * [tx_count_1h, avg_amount_7d] compiles to  var0 var1 num(1) add div;  with
 * tx_count_1h = 3, avg_amount_7d = 49: 3 / (49 + 1) = 0.06. With
 * avg_amount_7d null the result is null; with it -1 the divisor is 0 and the
 * result is null too.
 *
 * A comparison yields 1 or 0 (a BOOL field such as "max_risk_24h > 0.8");
 * it does not chain ("a < b < c" is an error, not Python's meaning or C's).
 */
#include "features_int.h"

#include "skiff/err.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum op { OP_NUM, OP_VAR, OP_NEG, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_LT, OP_LE, OP_GT, OP_GE,
          OP_EQ, OP_NE };

struct insn {
    enum op op;
    double num;
    size_t var;
};

#define EXPR_MAX_INSNS 256   /* also bounds the stack and the nesting depth */

struct skiff_feat_expr {
    struct insn code[EXPR_MAX_INSNS];
    size_t n;
};

struct parser {
    const char *text, *p;
    const char *const *names;
    size_t nnames;
    struct skiff_feat_expr *e;
    int depth;
    struct skiff_err *err;
};

static int fail(struct parser *ps, const char *at, const char *fmt, const char *what)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, what);
    return skiff_err_set(ps->err, SKIFF_EINVAL, "expression \"%s\", position %d: %s", ps->text,
                         (int)(at - ps->text) + 1, msg);
}

static void skip_space(struct parser *ps)
{
    while (isspace((unsigned char)*ps->p))
        ps->p++;
}

static int emit(struct parser *ps, enum op op, double num, size_t var)
{
    if (ps->e->n == EXPR_MAX_INSNS)
        return fail(ps, ps->p, "%s", "expression too long");
    ps->e->code[ps->e->n++] = (struct insn){op, num, var};
    return 0;
}

static int parse_expr(struct parser *ps);

static int parse_primary(struct parser *ps)
{
    const char *start;
    int rc;

    skip_space(ps);
    start = ps->p;
    if (*ps->p == '(') {
        ps->p++;
        if ((rc = parse_expr(ps)))
            return rc;
        skip_space(ps);
        if (*ps->p != ')')
            return fail(ps, ps->p, "%s", *ps->p ? "expected ')'" : "expected ')' at the end");
        ps->p++;
        return 0;
    }
    if (isdigit((unsigned char)*ps->p) || (*ps->p == '.' && isdigit((unsigned char)ps->p[1]))) {
        char *end;
        double v = strtod(ps->p, &end);
        ps->p = end;
        return emit(ps, OP_NUM, v, 0);
    }
    if (isalpha((unsigned char)*ps->p) || *ps->p == '_') {
        char name[128];
        size_t n = 0;
        while (isalnum((unsigned char)ps->p[n]) || ps->p[n] == '_')
            n++;
        if (n >= sizeof name)
            return fail(ps, start, "%s", "name too long");
        memcpy(name, ps->p, n);
        name[n] = '\0';
        ps->p += n;
        for (size_t i = 0; i < ps->nnames; i++)
            if (strcmp(ps->names[i], name) == 0)
                return emit(ps, OP_VAR, 0, i);
        return fail(ps, start, "unknown field '%s' (an expression may use the view's fields, "
                               "aggregations and earlier derived fields)", name);
    }
    if (!*ps->p)
        return fail(ps, start, "%s", "expected a number, a field or '(' at the end");
    return fail(ps, start, "unexpected '%.1s'", start);
}

static int parse_unary(struct parser *ps)
{
    int rc;
    skip_space(ps);
    if (*ps->p == '-') {
        ps->p++;
        if (++ps->depth > EXPR_MAX_INSNS)
            return fail(ps, ps->p, "%s", "expression nested too deeply");
        if ((rc = parse_unary(ps)))
            return rc;
        ps->depth--;
        return emit(ps, OP_NEG, 0, 0);
    }
    return parse_primary(ps);
}

static int parse_term(struct parser *ps)
{
    int rc;
    if ((rc = parse_unary(ps)))
        return rc;
    for (;;) {
        char c;
        skip_space(ps);
        c = *ps->p;
        if (c != '*' && c != '/')
            return 0;
        ps->p++;
        if ((rc = parse_unary(ps)) || (rc = emit(ps, c == '*' ? OP_MUL : OP_DIV, 0, 0)))
            return rc;
    }
}

static int parse_sum(struct parser *ps)
{
    int rc;
    if (++ps->depth > EXPR_MAX_INSNS)
        return fail(ps, ps->p, "%s", "expression nested too deeply");
    if ((rc = parse_term(ps)))
        return rc;
    for (;;) {
        char c;
        skip_space(ps);
        c = *ps->p;
        if (c != '+' && c != '-') {
            ps->depth--;
            return 0;
        }
        ps->p++;
        if ((rc = parse_term(ps)) || (rc = emit(ps, c == '+' ? OP_ADD : OP_SUB, 0, 0)))
            return rc;
    }
}

/* The comparison operator at ps->p (its length in *len), or 0. */
static enum op cmp_op(const char *p, size_t *len)
{
    static const struct { const char *s; enum op op; } ops[] = {
        {"<=", OP_LE}, {">=", OP_GE}, {"==", OP_EQ}, {"!=", OP_NE}, {"<", OP_LT}, {">", OP_GT},
    };
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (strncmp(p, ops[i].s, strlen(ops[i].s)) == 0) {
            *len = strlen(ops[i].s);
            return ops[i].op;
        }
    return 0;
}

static int parse_expr(struct parser *ps)
{
    enum op op;
    size_t len;
    int rc;

    if ((rc = parse_sum(ps)))
        return rc;
    skip_space(ps);
    if (!(op = cmp_op(ps->p, &len)))
        return 0;
    ps->p += len;
    if ((rc = parse_sum(ps)) || (rc = emit(ps, op, 0, 0)))
        return rc;
    skip_space(ps);
    if (cmp_op(ps->p, &len))
        return fail(ps, ps->p, "%s", "comparisons do not chain (write (a < b) * (b < c))");
    return 0;
}

int skiff_feat_expr_parse(const char *text, const char *const *names, size_t nnames,
                          struct skiff_feat_expr **out, struct skiff_err *err)
{
    struct parser ps = {text, text, names, nnames, NULL, 0, err};
    int rc;

    *out = NULL;
    if (!(ps.e = calloc(1, sizeof *ps.e)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory parsing an expression");
    if ((rc = parse_expr(&ps)))
        goto out;
    skip_space(&ps);
    if (*ps.p) {
        rc = fail(&ps, ps.p, "unexpected '%.1s' (want an operator + - * /)", ps.p);
        goto out;
    }
    *out = ps.e;
    ps.e = NULL;
out:
    free(ps.e);
    return rc;
}

void skiff_feat_expr_free(struct skiff_feat_expr *e)
{
    free(e);
}

bool skiff_feat_expr_eval(const struct skiff_feat_expr *e, const double *vals,
                          const uint8_t *valid, double *out)
{
    double stack[EXPR_MAX_INSNS];
    size_t sp = 0;

    for (size_t i = 0; i < e->n; i++) {
        const struct insn *in = &e->code[i];
        double a, b;
        switch (in->op) {
        case OP_NUM:
            stack[sp++] = in->num;
            continue;
        case OP_VAR:
            if (!valid[in->var])
                return false;   /* null propagates: nothing later can make it a value */
            stack[sp++] = vals[in->var];
            continue;
        case OP_NEG:
            stack[sp - 1] = -stack[sp - 1];
            continue;
        default:
            break;
        }
        b = stack[--sp];
        a = stack[sp - 1];
        switch (in->op) {
        case OP_ADD: a += b; break;
        case OP_SUB: a -= b; break;
        case OP_MUL: a *= b; break;
        case OP_DIV:
            if (b == 0)
                return false;
            a /= b;
            break;
        case OP_LT: a = a < b; break;
        case OP_LE: a = a <= b; break;
        case OP_GT: a = a > b; break;
        case OP_GE: a = a >= b; break;
        case OP_EQ: a = a == b; break;
        case OP_NE: a = a != b; break;
        default: break;
        }
        stack[sp - 1] = a;
    }
    *out = stack[0];
    return true;
}
