/* `when` and `depends` expressions: see include/skiff/workflow.h.
 *
 * One lexer, two recursive-descent parsers that evaluate as they parse (no
 * tree is built: the expressions are one line). Grammar, loosest first:
 *
 *   or    := and ( "||" and )*
 *   and   := cmp ( "&&" cmp )*
 *   cmp   := unary ( ("=="|"!="|"<"|"<="|">"|">="|"=~"|"!~") unary )*   (when only)
 *   unary := ("!" | "-") unary | primary
 *   primary := NUMBER | STRING | WORD | true | false | "(" or ")"
 *
 * `&&` and `||` short-circuit as in govaluate: the skipped side is still
 * parsed (a syntax error anywhere is an error) but not evaluated, so its type
 * errors do not count. The same "skip" flag gives skiff_workflow_when_check,
 * which parses without evaluating anything.
 *
 * govaluate's typing (spec §8.3), worked example: after substitution
 * `0.97 > 0.95` is two NUMBERs: true. `0.97 > abc` mixes a number and a
 * string (bare words are strings in Argo): error "Value 'abc' cannot be used
 * with the comparator '>', it is not a number". `'5' == 5` is false (deep
 * equality across types), `abc == 'abc'` is true.
 *
 * Depth is bounded (MAX_DEPTH) so `((((...` cannot exhaust the stack.
 */
#include "workflow_int.h"

#include "skiff/arena.h"
#include "skiff/err.h"

#include <ctype.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXPR (64 << 10)
#define MAX_DEPTH 200

enum tok {
    T_END, T_NUM, T_STR, T_WORD, T_TRUE, T_FALSE, T_LP, T_RP, T_NOT, T_MINUS,
    T_AND, T_OR, T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_RE, T_NRE,
};

enum vtype { V_NUM, V_STR, V_BOOL };

struct val {
    enum vtype t;
    double n;
    bool b;
    const char *s;   /* arena-owned */
};

struct lex {
    const char *src, *p;
    bool depends;          /* identifiers may hold '.' and '-' */
    enum tok tok;
    double num;
    char *text;            /* arena-owned text of STR / WORD */
    struct skiff_arena *a;
    struct skiff_err *err;
    int rc;                /* first error */
    int depth;
    skiff_workflow_result_cb cb;
    void *ctx;
};

static int fail(struct lex *l, const char *fmt, const char *arg)
{
    if (!l->rc) {
        l->rc = SKIFF_EINVAL;
        skiff_err_set(l->err, SKIFF_EINVAL, fmt, arg ? arg : "");
    }
    return l->rc;
}

static bool word_char(char c, bool depends)
{
    return isalnum((unsigned char)c) || c == '_' || (depends && (c == '.' || c == '-'));
}

/* Reads the next token into l->tok. */
static int next(struct lex *l)
{
    const char *p = l->p;

    if (l->rc)
        return l->rc;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    l->text = NULL;
    if (!*p) {
        l->tok = T_END;
        l->p = p;
        return 0;
    }
    static const struct { const char *op; enum tok t; } ops[] = {
        {"&&", T_AND}, {"||", T_OR}, {"==", T_EQ}, {"!=", T_NE}, {"<=", T_LE},
        {">=", T_GE}, {"=~", T_RE}, {"!~", T_NRE}, {"<", T_LT}, {">", T_GT},
        {"!", T_NOT}, {"(", T_LP}, {")", T_RP}, {"-", T_MINUS},
    };
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        size_t n = strlen(ops[i].op);
        if (strncmp(p, ops[i].op, n) == 0) {
            l->tok = ops[i].t;
            l->p = p + n;
            return 0;
        }
    }
    if (!l->depends && (isdigit((unsigned char)*p) || *p == '.')) {
        char *end;
        l->num = strtod(p, &end);
        /* "1.2.3", "3abc", "1e" are one bad numeric token, as in govaluate */
        if (end == p || word_char(*end, false) || *end == '.' || !isfinite(l->num)) {
            const char *q = p;
            while (word_char(*q, false) || *q == '.')
                q++;
            return fail(l, "Unable to parse numeric value '%s'",
                        skiff_arena_strndup(l->a, p, (size_t)(q - p)));
        }
        l->tok = T_NUM;
        l->p = end;
        return 0;
    }
    if (!l->depends && (*p == '\'' || *p == '"')) {
        char q = *p++;
        char *out = skiff_arena_alloc(l->a, strlen(p) + 1);
        size_t n = 0;
        if (!out)
            return fail(l, "expression too large%s", "");
        while (*p && *p != q) {
            if (*p == '\\' && p[1])
                p++;   /* backslash escapes anything */
            out[n++] = *p++;
        }
        if (!*p)
            return fail(l, "Unclosed string literal%s", "");
        out[n] = '\0';
        l->text = out;
        l->tok = T_STR;
        l->p = p + 1;
        return 0;
    }
    if (!l->depends && *p == '[') {
        const char *e = strchr(p, ']');
        if (!e)
            return fail(l, "Unclosed parameter bracket%s", "");
        l->text = skiff_arena_strndup(l->a, p + 1, (size_t)(e - p - 1));
        l->tok = T_STR;   /* an escaped variable is a string in Argo */
        l->p = e + 1;
        return l->text ? 0 : fail(l, "expression too large%s", "");
    }
    if (isalpha((unsigned char)*p) || *p == '_' || (l->depends && word_char(*p, true))) {
        const char *q = p;
        while (word_char(*q, l->depends))
            q++;
        if (!l->depends && *q == '.' && word_char(q[1], false)) {
            /* an ACCESSOR: Argo leaves it a variable, which has no value */
            while (word_char(*q, false) || *q == '.')
                q++;
            return fail(l, "No parameter '%s' found.",
                        skiff_arena_strndup(l->a, p, (size_t)(q - p)));
        }
        l->text = skiff_arena_strndup(l->a, p, (size_t)(q - p));
        if (!l->text)
            return fail(l, "expression too large%s", "");
        l->p = q;
        if (!l->depends && strcmp(l->text, "true") == 0)
            l->tok = T_TRUE;
        else if (!l->depends && strcmp(l->text, "false") == 0)
            l->tok = T_FALSE;
        else if (!l->depends && (strcmp(l->text, "in") == 0 || strcmp(l->text, "IN") == 0))
            return fail(l, "the 'in' comparator is not supported%s", "");
        else
            l->tok = T_WORD;
        return 0;
    }
    {
        char bad[8];
        snprintf(bad, sizeof bad, "%.*s", isprint((unsigned char)*p) ? 2 : 0, p);
        return fail(l, "Invalid token: '%s' (hint: try wrapping the affected expression in "
                       "quotes (\"))",
                    bad);
    }
}

static const char *show(struct lex *l, const struct val *v)
{
    switch (v->t) {
    case V_NUM: return skiff_arena_sprintf(l->a, "%g", v->n);
    case V_BOOL: return v->b ? "true" : "false";
    default: return v->s;
    }
}

static int parse_or(struct lex *l, struct val *v, bool skip);

static int primary(struct lex *l, struct val *v, bool skip)
{
    switch (l->tok) {
    case T_NUM:
        *v = (struct val){.t = V_NUM, .n = l->num};
        return next(l);
    case T_STR:
    case T_WORD:
        *v = (struct val){.t = V_STR, .s = l->text};
        return next(l);
    case T_TRUE:
    case T_FALSE:
        *v = (struct val){.t = V_BOOL, .b = l->tok == T_TRUE};
        return next(l);
    case T_LP:
        if (++l->depth > MAX_DEPTH)
            return fail(l, "expression nested too deeply%s", "");
        if (next(l) || parse_or(l, v, skip))
            return l->rc;
        l->depth--;
        if (l->tok != T_RP)
            return fail(l, "Unbalanced parenthesis%s", "");
        return next(l);
    case T_END:
        return fail(l, "Unexpected end of expression%s", "");
    default:
        return fail(l, "Unexpected token at '%s'", l->p);
    }
}

static int unary(struct lex *l, struct val *v, bool skip)
{
    enum tok op = l->tok;
    if (op != T_NOT && op != T_MINUS)
        return primary(l, v, skip);
    if (++l->depth > MAX_DEPTH)
        return fail(l, "expression nested too deeply%s", "");
    if (next(l) || unary(l, v, skip))
        return l->rc;
    l->depth--;
    if (skip)
        return 0;
    if (op == T_NOT) {
        if (v->t != V_BOOL)
            return fail(l, "Value '%s' cannot be used with the modifier '!', it is not a bool",
                        show(l, v));
        v->b = !v->b;
    } else {
        if (v->t != V_NUM)
            return fail(l, "Value '%s' cannot be used with the modifier '-', it is not a number",
                        show(l, v));
        v->n = -v->n;
    }
    return 0;
}

static bool is_cmp(enum tok t)
{
    return t == T_EQ || t == T_NE || t == T_LT || t == T_LE || t == T_GT || t == T_GE ||
           t == T_RE || t == T_NRE;
}

static const char *op_name(enum tok t)
{
    switch (t) {
    case T_LT: return "<";
    case T_LE: return "<=";
    case T_GT: return ">";
    case T_GE: return ">=";
    case T_RE: return "=~";
    default: return "!~";
    }
}

static int compare(struct lex *l, enum tok op, struct val *a, const struct val *b)
{
    bool r = false;

    if (op == T_EQ || op == T_NE) {
        if (a->t != b->t)
            r = false;
        else if (a->t == V_NUM)
            r = a->n == b->n;
        else if (a->t == V_BOOL)
            r = a->b == b->b;
        else
            r = strcmp(a->s, b->s) == 0;
        r = op == T_EQ ? r : !r;
    } else if (op == T_RE || op == T_NRE) {
        regex_t re;
        char msg[128];
        if (a->t != V_STR)
            return fail(l, "Value '%s' cannot be used with the comparator '=~', it is not a "
                           "string", show(l, a));
        if (b->t != V_STR)
            return fail(l, "Value '%s' cannot be used as a pattern, it is not a string",
                        show(l, b));
        if (regcomp(&re, b->s, REG_EXTENDED | REG_NOSUB) != 0) {
            snprintf(msg, sizeof msg, "%s", b->s);
            return fail(l, "invalid regular expression '%s'", msg);
        }
        r = regexec(&re, a->s, 0, NULL, 0) == 0;
        regfree(&re);
        r = op == T_RE ? r : !r;
    } else {
        double c;
        if (a->t == V_NUM && b->t == V_NUM) {
            c = a->n < b->n ? -1 : a->n > b->n ? 1 : 0;
        } else if (a->t == V_STR && b->t == V_STR) {
            c = strcmp(a->s, b->s);
        } else {
            const struct val *bad = a->t == V_NUM ? b : a;
            char m[96];
            snprintf(m, sizeof m, "Value '%%s' cannot be used with the comparator '%s', it is "
                                  "not a number", op_name(op));
            return fail(l, m, show(l, bad));
        }
        r = op == T_LT ? c < 0 : op == T_LE ? c <= 0 : op == T_GT ? c > 0 : c >= 0;
    }
    *a = (struct val){.t = V_BOOL, .b = r};
    return 0;
}

static int cmp(struct lex *l, struct val *v, bool skip)
{
    if (unary(l, v, skip))
        return l->rc;
    while (is_cmp(l->tok)) {
        enum tok op = l->tok;
        struct val b;
        if (next(l) || unary(l, &b, skip))
            return l->rc;
        if (!skip && compare(l, op, v, &b))
            return l->rc;
    }
    return 0;
}

static int need_bool(struct lex *l, const struct val *v, const char *op)
{
    char m[96];
    if (v->t == V_BOOL)
        return 0;
    snprintf(m, sizeof m, "Value '%%s' cannot be used with the logical operator '%s', it is "
                          "not a bool", op);
    return fail(l, m, show(l, v));
}

static int parse_and(struct lex *l, struct val *v, bool skip)
{
    if (cmp(l, v, skip))
        return l->rc;
    while (l->tok == T_AND) {
        struct val b;
        bool rhs_skip = skip || (v->t == V_BOOL && !v->b);
        if (!skip && need_bool(l, v, "&&"))
            return l->rc;
        if (next(l) || cmp(l, &b, rhs_skip))
            return l->rc;
        if (!rhs_skip) {
            if (need_bool(l, &b, "&&"))
                return l->rc;
            *v = b;
        }
    }
    return 0;
}

static int parse_or(struct lex *l, struct val *v, bool skip)
{
    if (parse_and(l, v, skip))
        return l->rc;
    while (l->tok == T_OR) {
        struct val b;
        bool rhs_skip = skip || (v->t == V_BOOL && v->b);
        if (!skip && need_bool(l, v, "||"))
            return l->rc;
        if (next(l) || parse_and(l, &b, rhs_skip))
            return l->rc;
        if (!rhs_skip) {
            if (need_bool(l, &b, "||"))
                return l->rc;
            *v = b;
        }
    }
    return 0;
}

static int when_eval(const char *expr, bool skip, bool *out, struct skiff_err *err)
{
    struct lex l = {.src = expr, .p = expr, .err = err};
    struct val v = {.t = V_BOOL};
    int rc;

    if (!expr)
        return skiff_err_set(err, SKIFF_EINVAL, "empty expression");
    if (strlen(expr) > MAX_EXPR)
        return skiff_err_set(err, SKIFF_ETOOBIG, "expression longer than %d bytes", MAX_EXPR);
    if (!(l.a = skiff_arena_new((size_t)MAX_EXPR * 8)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if (next(&l) == 0 && parse_or(&l, &v, skip) == 0 && l.tok != T_END)
        fail(&l, "Unexpected token at '%s'", l.p);
    if (!l.rc && !skip && v.t != V_BOOL)
        fail(&l, "Expected boolean evaluation. Got '%s'", show(&l, &v));
    rc = l.rc;
    if (rc == 0 && out)
        *out = v.b;
    skiff_arena_free(l.a);
    return rc;
}

int skiff_workflow_when(const char *expr, bool *out, struct skiff_err *err)
{
    return when_eval(expr, false, out, err);
}

int skiff_workflow_when_check(const char *expr, struct skiff_err *err)
{
    return when_eval(expr, true, NULL, err);
}

/* ---- depends ---- */

static int dep_or(struct lex *l, bool *v, bool skip);

static int dep_primary(struct lex *l, bool *v, bool skip)
{
    if (l->tok == T_NOT) {
        if (++l->depth > MAX_DEPTH)
            return fail(l, "expression nested too deeply%s", "");
        if (next(l) || dep_primary(l, v, skip))
            return l->rc;
        l->depth--;
        *v = !*v;
        return 0;
    }
    if (l->tok == T_LP) {
        if (++l->depth > MAX_DEPTH)
            return fail(l, "expression nested too deeply%s", "");
        if (next(l) || dep_or(l, v, skip))
            return l->rc;
        l->depth--;
        if (l->tok != T_RP)
            return fail(l, "Unbalanced parenthesis%s", "");
        return next(l);
    }
    if (l->tok == T_WORD) {
        /* "task.Result": the result is after the last dot, since task names
         * may not hold dots (DNS-1123 labels) */
        char *dot = strrchr(l->text, '.');
        const char *result = NULL;
        int rc;
        if (dot) {
            *dot = '\0';
            result = dot + 1;
        }
        if (!*l->text)
            return fail(l, "missing task name before '.%s'", result);
        *v = false;
        if (l->cb && (rc = l->cb(l->ctx, l->text, result, v, l->err)) != 0) {
            l->rc = rc;
            return rc;
        }
        return next(l);
    }
    if (l->tok == T_END)
        return fail(l, "Unexpected end of expression%s", "");
    return fail(l, "Unexpected token at '%s'", l->p);
}

static int dep_and(struct lex *l, bool *v, bool skip)
{
    if (dep_primary(l, v, skip))
        return l->rc;
    while (l->tok == T_AND) {
        bool b;
        if (next(l) || dep_primary(l, &b, skip))
            return l->rc;
        *v = *v && b;
    }
    return 0;
}

static int dep_or(struct lex *l, bool *v, bool skip)
{
    if (dep_and(l, v, skip))
        return l->rc;
    while (l->tok == T_OR) {
        bool b;
        if (next(l) || dep_and(l, &b, skip))
            return l->rc;
        *v = *v || b;
    }
    return 0;
}

int skiff_workflow_depends(const char *expr, skiff_workflow_result_cb cb, void *ctx, bool *out,
                           struct skiff_err *err)
{
    struct lex l = {.src = expr, .p = expr, .err = err, .depends = true, .cb = cb, .ctx = ctx};
    bool v = false;
    int rc;

    if (!expr)
        return skiff_err_set(err, SKIFF_EINVAL, "empty expression");
    if (strlen(expr) > MAX_EXPR)
        return skiff_err_set(err, SKIFF_ETOOBIG, "expression longer than %d bytes", MAX_EXPR);
    if (!(l.a = skiff_arena_new((size_t)MAX_EXPR * 8)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    /* both sides are always evaluated: the callback also validates names */
    if (next(&l) == 0 && dep_or(&l, &v, false) == 0 && l.tok != T_END)
        fail(&l, "Unexpected token at '%s'", l.p);
    rc = l.rc;
    if (rc == 0 && out)
        *out = v;
    skiff_arena_free(l.a);
    return rc;
}
