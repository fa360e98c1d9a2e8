/* Search filters, order_by and page tokens of runs/search and
 * experiments/search, turned into SQL with '?' parameters.
 *
 * Grammar (MLflow's SearchUtils, the subset of specs/mlflow.md):
 *
 *   filter  := clause ( AND clause )*
 *   clause  := ident op value
 *   ident   := [entity "."] key      entity: metrics|metric, params|param|parameters|parameter,
 *                                            tags|tag, attributes|attribute|attr|run
 *   key     := word (dots allowed: tags.mlflow.runName) | `quoted` | "quoted"
 *   op      := = | != | > | >= | < | <= | LIKE | ILIKE | IN | NOT IN
 *   value   := number | 'string' | "string" | ( string, ... )
 *
 * Which ops each entity takes: metrics and numeric attributes (start_time,
 * end_time, created) compare numbers; params and tags take = != LIKE ILIKE on
 * strings; string attributes (run_id, run_name, status, user_id,
 * artifact_uri, lifecycle_stage) also IN and NOT IN. A key never reaches the
 * SQL text: it is a parameter, and attribute names map to fixed columns.
 *
 * Worked example: `metrics.auc > 0.9 and params.lr = '0.1'` appends
 *   AND (EXISTS (SELECT 1 FROM tracking_latest_metrics m WHERE m.run_id = r.run_id
 *                AND m.key = ? AND m.value > ?))
 *   AND r.run_id IN (SELECT x.run_id FROM tracking_params x
 *                    WHERE x.key = ? AND x.value = ?)
 * with parameters "auc", 0.9, "lr", "0.1".
 */
#include "tracking/tracking_int.h"

#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "skiff/arena.h"
#include "skiff/err.h"

int tracking__param_text(struct tracking__sql *q, const char *s, struct skiff_err *err)
{
    if (q->n >= TRACKING__MAX_PARAMS)
        return skiff_err_set(err, SKIFF_EINVAL, "search has too many terms (at most %d values)",
                             TRACKING__MAX_PARAMS);
    q->params[q->n++] = (struct skiff_store_val){.type = SKIFF_VAL_TEXT, .s = s, .len = strlen(s)};
    return 0;
}

int tracking__param_int(struct tracking__sql *q, int64_t v, struct skiff_err *err)
{
    if (q->n >= TRACKING__MAX_PARAMS)
        return skiff_err_set(err, SKIFF_EINVAL, "search has too many terms (at most %d values)",
                             TRACKING__MAX_PARAMS);
    q->params[q->n++] = (struct skiff_store_val){.type = SKIFF_VAL_INT, .i = v};
    return 0;
}

int tracking__param_real(struct tracking__sql *q, double v, struct skiff_err *err)
{
    if (q->n >= TRACKING__MAX_PARAMS)
        return skiff_err_set(err, SKIFF_EINVAL, "search has too many terms (at most %d values)",
                             TRACKING__MAX_PARAMS);
    q->params[q->n++] = (struct skiff_store_val){.type = SKIFF_VAL_REAL, .d = v};
    return 0;
}

/* ---- tokens ---- */

enum entity { ENT_METRIC, ENT_PARAM, ENT_TAG, ENT_ATTR };

enum op { OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE, OP_LIKE, OP_ILIKE, OP_IN, OP_NOT_IN };

static const char *const op_sql[] = {"=", "!=", ">", ">=", "<", "<=", "LIKE", "LIKE", "IN",
                                     "NOT IN"};

struct lexer {
    const char *p;
    struct skiff_arena *a;
};

static void skip_ws(struct lexer *lx)
{
    while (isspace((unsigned char)*lx->p))
        lx->p++;
}

/* Case-insensitive keyword followed by a non-word character. */
static int take_word(struct lexer *lx, const char *w)
{
    size_t n = strlen(w);
    skip_ws(lx);
    if (strncasecmp(lx->p, w, n) == 0 && !isalnum((unsigned char)lx->p[n]) && lx->p[n] != '_') {
        lx->p += n;
        return 1;
    }
    return 0;
}

/* A quoted string starting at lx->p (quote ' " or `); a doubled quote inside
 * stands for one. Arena memory. */
static int quoted(struct lexer *lx, char **out, struct skiff_err *err)
{
    char q = *lx->p++, *o;
    const char *start = lx->p;

    if (!(o = *out = skiff_arena_alloc(lx->a, strlen(start) + 1)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    for (;;) {
        if (!*lx->p)
            return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: unterminated string "
                                 "starting at '%.40s'", start - 1);
        if (*lx->p == q) {
            if (lx->p[1] == q) {
                *o++ = q;
                lx->p += 2;
                continue;
            }
            lx->p++;
            break;
        }
        *o++ = *lx->p++;
    }
    *o = '\0';
    return 0;
}

static int is_key_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-' || c == '/' || c == ':';
}

/* ident := [entity "."] key */
static int ident(struct lexer *lx, enum entity *ent, char **key, struct skiff_err *err)
{
    static const struct { const char *name; enum entity e; } ents[] = {
        {"metrics", ENT_METRIC}, {"metric", ENT_METRIC},
        {"params", ENT_PARAM}, {"param", ENT_PARAM}, {"parameters", ENT_PARAM},
        {"parameter", ENT_PARAM}, {"tags", ENT_TAG}, {"tag", ENT_TAG},
        {"attributes", ENT_ATTR}, {"attribute", ENT_ATTR}, {"attr", ENT_ATTR}, {"run", ENT_ATTR},
    };
    const char *start;

    skip_ws(lx);
    *ent = ENT_ATTR;
    for (size_t i = 0; i < sizeof ents / sizeof *ents; i++) {
        size_t n = strlen(ents[i].name);
        if (strncasecmp(lx->p, ents[i].name, n) == 0 && lx->p[n] == '.') {
            *ent = ents[i].e;
            lx->p += n + 1;
            break;
        }
    }
    if (*lx->p == '`' || *lx->p == '"')
        return quoted(lx, key, err);
    start = lx->p;
    while (is_key_char(*lx->p))
        lx->p++;
    if (lx->p == start)
        return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: expected an identifier such as "
                             "metrics.auc at '%.40s'", start);
    if (!(*key = skiff_arena_strndup(lx->a, start, (size_t)(lx->p - start))))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    return 0;
}

static int parse_op(struct lexer *lx, enum op *op, struct skiff_err *err)
{
    skip_ws(lx);
    if (strncmp(lx->p, ">=", 2) == 0) { *op = OP_GE; lx->p += 2; return 0; }
    if (strncmp(lx->p, "<=", 2) == 0) { *op = OP_LE; lx->p += 2; return 0; }
    if (strncmp(lx->p, "!=", 2) == 0 || strncmp(lx->p, "<>", 2) == 0) {
        *op = OP_NE;
        lx->p += 2;
        return 0;
    }
    if (*lx->p == '=') { *op = OP_EQ; lx->p++; return 0; }
    if (*lx->p == '>') { *op = OP_GT; lx->p++; return 0; }
    if (*lx->p == '<') { *op = OP_LT; lx->p++; return 0; }
    if (take_word(lx, "LIKE")) { *op = OP_LIKE; return 0; }
    if (take_word(lx, "ILIKE")) { *op = OP_ILIKE; return 0; }
    if (take_word(lx, "IN")) { *op = OP_IN; return 0; }
    if (take_word(lx, "NOT")) {
        if (take_word(lx, "IN")) { *op = OP_NOT_IN; return 0; }
    }
    return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: expected a comparison operator at "
                         "'%.40s'", lx->p);
}

static int string_value(struct lexer *lx, char **out, struct skiff_err *err)
{
    skip_ws(lx);
    if (*lx->p != '\'' && *lx->p != '"')
        return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: expected a quoted string at "
                             "'%.40s'", lx->p);
    return quoted(lx, out, err);
}

static int number_value(struct lexer *lx, double *out, struct skiff_err *err)
{
    char *end;
    skip_ws(lx);
    errno = 0;
    *out = strtod(lx->p, &end);
    if (end == lx->p || errno == ERANGE)
        return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: expected a number at '%.40s'",
                             lx->p);
    lx->p = end;
    return 0;
}

/* ( 'a', 'b', ... ) as "(?, ?, ...)" */
static int string_list(struct lexer *lx, struct tracking__sql *q, struct skiff_err *err)
{
    int rc, first = 1;
    skip_ws(lx);
    if (*lx->p++ != '(')
        return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: IN wants a list such as "
                             "('a', 'b')");
    skiff_buf_putc(&q->text, '(');
    for (;;) {
        char *s;
        skip_ws(lx);
        if (*lx->p == ')' && !first)
            break;
        if ((rc = string_value(lx, &s, err)) || (rc = tracking__param_text(q, s, err)))
            return rc;
        skiff_buf_puts(&q->text, first ? "?" : ", ?");
        first = 0;
        skip_ws(lx);
        if (*lx->p == ',') {
            lx->p++;
            continue;
        }
        if (*lx->p != ')')
            return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: unterminated list at "
                                 "'%.40s'", lx->p);
    }
    lx->p++;
    return skiff_buf_putc(&q->text, ')') ? skiff_err_set(err, SKIFF_ENOMEM, "out of memory") : 0;
}

/* Attribute name -> column of tracking_runs; *numeric says how it compares. */
static const char *attr_column(const char *key, int *numeric)
{
    static const struct { const char *key, *col; int numeric; } attrs[] = {
        {"run_id", "r.run_id", 0}, {"run_uuid", "r.run_id", 0}, {"run_name", "r.run_name", 0},
        {"status", "r.status", 0}, {"user_id", "r.user_id", 0},
        {"artifact_uri", "r.artifact_uri", 0}, {"lifecycle_stage", "r.lifecycle_stage", 0},
        {"start_time", "r.start_time", 1}, {"end_time", "r.end_time", 1},
        {"created", "r.start_time", 1}, {"Created", "r.start_time", 1},
    };
    for (size_t i = 0; i < sizeof attrs / sizeof *attrs; i++)
        if (strcmp(key, attrs[i].key) == 0) {
            *numeric = attrs[i].numeric;
            return attrs[i].col;
        }
    return NULL;
}

static int clause(struct lexer *lx, struct tracking__sql *q, struct skiff_err *err)
{
    enum entity ent;
    enum op op;
    char *key, *s;
    double d;
    int rc, numeric = 0;
    struct skiff_buf *t = &q->text;

    if ((rc = ident(lx, &ent, &key, err)) || (rc = parse_op(lx, &op, err)))
        return rc;
    switch (ent) {
    case ENT_METRIC:
        if (op > OP_LE)
            return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: metric '%s' compares with "
                                 "=, !=, >, >=, <, <= only", key);
        if ((rc = number_value(lx, &d, err)) || (rc = tracking__param_text(q, key, err)) ||
            (rc = tracking__param_real(q, d, err)))
            return rc;
        skiff_buf_appendf(t, " AND EXISTS (SELECT 1 FROM tracking_latest_metrics m WHERE "
                          "m.run_id = r.run_id AND m.key = ? AND m.value %s ?)", op_sql[op]);
        return 0;
    case ENT_PARAM:
    case ENT_TAG: {
        const char *tab = ent == ENT_PARAM ? "tracking_params" : "tracking_tags";
        if (op != OP_EQ && op != OP_NE && op != OP_LIKE && op != OP_ILIKE)
            return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: %s '%s' compares with "
                                 "=, !=, LIKE, ILIKE only", ent == ENT_PARAM ? "param" : "tag",
                                 key);
        if ((rc = string_value(lx, &s, err)) || (rc = tracking__param_text(q, key, err)) ||
            (rc = tracking__param_text(q, s, err)))
            return rc;
        if (op == OP_EQ) {
            /* equality is selective: let the (key, value) index produce the
             * runs instead of testing every run of the experiments */
            skiff_buf_appendf(t, " AND r.run_id IN (SELECT x.run_id FROM %s x WHERE x.key = ? "
                              "AND x.value = ?)", tab);
            q->driven = true;
            return 0;
        }
        skiff_buf_appendf(t, " AND EXISTS (SELECT 1 FROM %s x WHERE x.run_id = r.run_id AND "
                          "x.key = ? AND %s %s %s)", tab,
                          op == OP_ILIKE ? "lower(x.value)" : "x.value", op_sql[op],
                          op == OP_ILIKE ? "lower(?)" : "?");
        return 0;
    }
    case ENT_ATTR:
    default: {
        const char *col = attr_column(key, &numeric);
        if (!col)
            return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: unknown attribute '%s' "
                                 "(want run_id, run_name, status, user_id, artifact_uri, "
                                 "lifecycle_stage, start_time, end_time)", key);
        if (numeric) {
            if (op > OP_LE)
                return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: attribute '%s' "
                                     "compares with =, !=, >, >=, <, <= only", key);
            if ((rc = number_value(lx, &d, err)) ||
                (rc = tracking__param_int(q, (int64_t)d, err)))
                return rc;
            skiff_buf_appendf(t, " AND %s %s ?", col, op_sql[op]);
            return 0;
        }
        if (op == OP_GT || op == OP_GE || op == OP_LT || op == OP_LE)
            return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: attribute '%s' compares "
                                 "with =, !=, LIKE, ILIKE, IN, NOT IN only", key);
        if (op == OP_IN || op == OP_NOT_IN) {
            skiff_buf_appendf(t, " AND %s %s ", col, op_sql[op]);
            return string_list(lx, q, err);
        }
        if ((rc = string_value(lx, &s, err)) || (rc = tracking__param_text(q, s, err)))
            return rc;
        skiff_buf_appendf(t, " AND %s%s%s %s %s", op == OP_ILIKE ? "lower(" : "", col,
                          op == OP_ILIKE ? ")" : "", op_sql[op],
                          op == OP_ILIKE ? "lower(?)" : "?");
        return 0;
    }
    }
}

int tracking__runs_filter(struct tracking__sql *q, const char *filter, struct skiff_err *err)
{
    struct lexer lx = {filter, q->arena};
    int rc;

    skip_ws(&lx);
    if (!*lx.p)
        return 0;
    for (;;) {
        if ((rc = clause(&lx, q, err)))
            return rc;
        skip_ws(&lx);
        if (!*lx.p)
            break;
        if (!take_word(&lx, "AND"))
            return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: expected AND at '%.40s' "
                                 "(clauses join with AND only)", lx.p);
    }
    /* the text cannot outgrow its buffer: every clause adds at most ~200
     * bytes of fixed SQL per parameter, and parameters stop at
     * TRACKING__MAX_PARAMS (keys and values never enter the text) */
    return 0;
}

/* "<ident> [ASC|DESC]" -> entity, key, descending */
static int order_term(struct lexer *lx, enum entity *ent, char **key, int *desc,
                      struct skiff_err *err)
{
    int rc;
    if ((rc = ident(lx, ent, key, err)))
        return rc;
    *desc = 0;
    if (take_word(lx, "DESC"))
        *desc = 1;
    else
        take_word(lx, "ASC");
    skip_ws(lx);
    if (*lx->p)
        return skiff_err_set(err, SKIFF_EINVAL, "invalid order_by clause '%.80s': expected "
                             "'<entity>.<key> [ASC|DESC]'", lx->p);
    return 0;
}

int tracking__runs_order(struct tracking__sql *q, const char *order_by, struct skiff_err *err)
{
    struct lexer lx = {order_by, q->arena};
    enum entity ent;
    char *key;
    int rc, desc, numeric;
    const char *dir;

    if ((rc = order_term(&lx, &ent, &key, &desc, err)))
        return rc;
    dir = desc ? "DESC" : "ASC";
    if (ent == ENT_ATTR) {
        const char *col = attr_column(key, &numeric);
        if (!col)
            return skiff_err_set(err, SKIFF_EINVAL, "invalid order_by: unknown attribute '%s'",
                                 key);
        /* rows without a value sort last either way, as MLflow does */
        skiff_buf_appendf(&q->text, "%s %s NULLS LAST, ", col, dir);
        return 0;
    }
    {
        const char *sub = ent == ENT_METRIC
            ? "(SELECT m.value FROM tracking_latest_metrics m"
              " WHERE m.run_id = r.run_id AND m.key = ?)"
            : ent == ENT_PARAM
            ? "(SELECT x.value FROM tracking_params x WHERE x.run_id = r.run_id AND x.key = ?)"
            : "(SELECT x.value FROM tracking_tags x WHERE x.run_id = r.run_id AND x.key = ?)";
        /* NULLS LAST (SQLite 3.30+, PostgreSQL): one lookup per run, not two */
        if ((rc = tracking__param_text(q, key, err)))
            return rc;
        skiff_buf_appendf(&q->text, "%s %s NULLS LAST, ", sub, dir);
    }
    return 0;
}

int tracking__exps_filter(struct tracking__sql *q, const char *filter, struct skiff_err *err)
{
    struct lexer lx = {filter, q->arena};
    int rc;

    skip_ws(&lx);
    if (!*lx.p)
        return 0;
    for (;;) {
        enum entity ent;
        enum op op;
        char *key, *s;
        if ((rc = ident(&lx, &ent, &key, err)) || (rc = parse_op(&lx, &op, err)))
            return rc;
        if (ent == ENT_TAG) {
            if (op != OP_EQ && op != OP_NE && op != OP_LIKE && op != OP_ILIKE)
                return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: tag '%s' compares "
                                     "with =, !=, LIKE, ILIKE only", key);
            if ((rc = string_value(&lx, &s, err)) || (rc = tracking__param_text(q, key, err)) ||
                (rc = tracking__param_text(q, s, err)))
                return rc;
            skiff_buf_appendf(&q->text, " AND EXISTS (SELECT 1 FROM tracking_experiment_tags x "
                              "WHERE x.experiment_id = e.experiment_id AND x.key = ? AND "
                              "%s %s %s)", op == OP_ILIKE ? "lower(x.value)" : "x.value",
                              op_sql[op], op == OP_ILIKE ? "lower(?)" : "?");
        } else if (ent == ENT_ATTR && strcmp(key, "name") == 0) {
            if (op != OP_EQ && op != OP_NE && op != OP_LIKE && op != OP_ILIKE)
                return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: name compares with "
                                     "=, !=, LIKE, ILIKE only");
            if ((rc = string_value(&lx, &s, err)) || (rc = tracking__param_text(q, s, err)))
                return rc;
            skiff_buf_appendf(&q->text, " AND %s %s %s",
                              op == OP_ILIKE ? "lower(e.name)" : "e.name", op_sql[op],
                              op == OP_ILIKE ? "lower(?)" : "?");
        } else if (ent == ENT_ATTR &&
                   (strcmp(key, "creation_time") == 0 || strcmp(key, "last_update_time") == 0)) {
            double d;
            if (op > OP_LE)
                return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: %s compares with "
                                     "=, !=, >, >=, <, <= only", key);
            if ((rc = number_value(&lx, &d, err)) ||
                (rc = tracking__param_int(q, (int64_t)d, err)))
                return rc;
            skiff_buf_appendf(&q->text, " AND e.%s %s ?", key, op_sql[op]);
        } else {
            return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: experiments filter on "
                                 "name, creation_time, last_update_time and tags, not '%s'", key);
        }
        skip_ws(&lx);
        if (!*lx.p)
            break;
        if (!take_word(&lx, "AND"))
            return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: expected AND at '%.40s'",
                                 lx.p);
    }
    return 0;
}

int tracking__exps_order(struct tracking__sql *q, const char *order_by, struct skiff_err *err)
{
    struct lexer lx = {order_by, q->arena};
    enum entity ent;
    char *key;
    int rc, desc;

    if ((rc = order_term(&lx, &ent, &key, &desc, err)))
        return rc;
    if (ent != ENT_ATTR || (strcmp(key, "name") != 0 && strcmp(key, "experiment_id") != 0 &&
                            strcmp(key, "creation_time") != 0 &&
                            strcmp(key, "last_update_time") != 0))
        return skiff_err_set(err, SKIFF_EINVAL, "invalid order_by: experiments order by name, "
                             "experiment_id, creation_time or last_update_time, not '%s'", key);
    skiff_buf_appendf(&q->text, "e.%s %s, ", key, desc ? "DESC" : "ASC");
    return 0;
}

/* ---- registry searches ----
 *
 * registered-models/search: name (= != LIKE ILIKE) and tags.<key>, over
 * alias "m" (tracking_registered_models). model-versions/search: name,
 * run_id (also IN / NOT IN), source_path (the source), version_number
 * (numbers) and tags.<key>, over alias "v" (tracking_model_versions).
 * Worked example: `name = 'fraud' AND version_number > 2` appends
 *   AND v.name = ? AND v.version > ?      with "fraud", 2.
 */

static int string_op(enum op op)
{
    return op == OP_EQ || op == OP_NE || op == OP_LIKE || op == OP_ILIKE;
}

/* " AND <col> <op> ?" for a string comparison (ILIKE as lower() LIKE lower()). */
static int string_cmp(struct lexer *lx, struct tracking__sql *q, const char *col, enum op op,
                      struct skiff_err *err)
{
    char *s;
    int rc;

    if ((rc = string_value(lx, &s, err)) || (rc = tracking__param_text(q, s, err)))
        return rc;
    if (op == OP_ILIKE)
        skiff_buf_appendf(&q->text, " AND lower(%s) LIKE lower(?)", col);
    else
        skiff_buf_appendf(&q->text, " AND %s %s ?", col, op_sql[op]);
    return 0;
}

static int registry_filter(struct tracking__sql *q, const char *filter, bool versions,
                           struct skiff_err *err)
{
    struct lexer lx = {filter, q->arena};
    int rc;

    skip_ws(&lx);
    if (!*lx.p)
        return 0;
    for (;;) {
        enum entity ent;
        enum op op;
        char *key;
        if ((rc = ident(&lx, &ent, &key, err)) || (rc = parse_op(&lx, &op, err)))
            return rc;
        if (ent == ENT_TAG) {
            char *s;
            if (!string_op(op))
                return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: tag '%s' compares "
                                     "with =, !=, LIKE, ILIKE only", key);
            if ((rc = string_value(&lx, &s, err)) || (rc = tracking__param_text(q, key, err)) ||
                (rc = tracking__param_text(q, s, err)))
                return rc;
            if (versions)
                skiff_buf_appendf(&q->text, " AND EXISTS (SELECT 1 FROM tracking_model_version_tags"
                                  " x WHERE x.name = v.name AND x.version = v.version AND"
                                  " x.key = ? AND %s %s %s)",
                                  op == OP_ILIKE ? "lower(x.value)" : "x.value", op_sql[op],
                                  op == OP_ILIKE ? "lower(?)" : "?");
            else
                skiff_buf_appendf(&q->text, " AND EXISTS (SELECT 1 FROM"
                                  " tracking_registered_model_tags x WHERE x.name = m.name AND"
                                  " x.key = ? AND %s %s %s)",
                                  op == OP_ILIKE ? "lower(x.value)" : "x.value", op_sql[op],
                                  op == OP_ILIKE ? "lower(?)" : "?");
        } else if (ent == ENT_ATTR && strcmp(key, "name") == 0 && string_op(op)) {
            if ((rc = string_cmp(&lx, q, versions ? "v.name" : "m.name", op, err)))
                return rc;
        } else if (versions && ent == ENT_ATTR && strcmp(key, "source_path") == 0 &&
                   string_op(op)) {
            if ((rc = string_cmp(&lx, q, "v.source", op, err)))
                return rc;
        } else if (versions && ent == ENT_ATTR && strcmp(key, "run_id") == 0) {
            if (op == OP_IN || op == OP_NOT_IN) {
                skiff_buf_appendf(&q->text, " AND v.run_id %s ", op_sql[op]);
                if ((rc = string_list(&lx, q, err)))
                    return rc;
            } else if (op == OP_EQ || op == OP_NE) {
                if ((rc = string_cmp(&lx, q, "v.run_id", op, err)))
                    return rc;
            } else {
                return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: run_id compares with "
                                     "=, !=, IN, NOT IN only");
            }
        } else if (versions && ent == ENT_ATTR && strcmp(key, "version_number") == 0 &&
                   op <= OP_LE) {
            double d;
            if ((rc = number_value(&lx, &d, err)) ||
                (rc = tracking__param_int(q, (int64_t)d, err)))
                return rc;
            skiff_buf_appendf(&q->text, " AND v.version %s ?", op_sql[op]);
        } else {
            return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: %s filter on %s, not "
                                 "'%s' with that operator", versions ? "model versions"
                                                                     : "registered models",
                                 versions ? "name, run_id, source_path, version_number and tags"
                                          : "name and tags", key);
        }
        skip_ws(&lx);
        if (!*lx.p)
            break;
        if (!take_word(&lx, "AND"))
            return skiff_err_set(err, SKIFF_EINVAL, "invalid filter: expected AND at '%.40s'",
                                 lx.p);
    }
    return 0;
}

int tracking__models_filter(struct tracking__sql *q, const char *filter, struct skiff_err *err)
{
    return registry_filter(q, filter, false, err);
}

int tracking__versions_filter(struct tracking__sql *q, const char *filter, struct skiff_err *err)
{
    return registry_filter(q, filter, true, err);
}

static int registry_order(struct tracking__sql *q, const char *order_by, bool versions,
                          struct skiff_err *err)
{
    static const struct { const char *key, *model_col, *version_col; } cols[] = {
        {"name", "m.name", "v.name"},
        {"timestamp", "m.last_updated_timestamp", "v.last_updated_timestamp"},
        {"last_updated_timestamp", "m.last_updated_timestamp", "v.last_updated_timestamp"},
        {"creation_timestamp", "m.creation_timestamp", "v.creation_timestamp"},
        {"version_number", NULL, "v.version"},
    };
    struct lexer lx = {order_by, q->arena};
    enum entity ent;
    char *key;
    int rc, desc;

    if ((rc = order_term(&lx, &ent, &key, &desc, err)))
        return rc;
    for (size_t i = 0; ent == ENT_ATTR && i < sizeof cols / sizeof *cols; i++) {
        const char *col = versions ? cols[i].version_col : cols[i].model_col;
        if (col && strcmp(key, cols[i].key) == 0) {
            skiff_buf_appendf(&q->text, "%s %s, ", col, desc ? "DESC" : "ASC");
            return 0;
        }
    }
    return skiff_err_set(err, SKIFF_EINVAL, "invalid order_by: %s order by %s, not '%s'",
                         versions ? "model versions" : "registered models",
                         versions ? "name, version_number, creation_timestamp or "
                                    "last_updated_timestamp"
                                  : "name, creation_timestamp or last_updated_timestamp", key);
}

int tracking__models_order(struct tracking__sql *q, const char *order_by, struct skiff_err *err)
{
    return registry_order(q, order_by, false, err);
}

int tracking__versions_order(struct tracking__sql *q, const char *order_by,
                             struct skiff_err *err)
{
    return registry_order(q, order_by, true, err);
}

/* ---- page tokens ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void tracking__token_encode(int64_t offset, char *out, size_t n)
{
    char json[40];
    size_t len = (size_t)snprintf(json, sizeof json, "{\"offset\": %lld}", (long long)offset);
    size_t o = 0;

    for (size_t i = 0; i < len && o + 5 < n; i += 3) {
        unsigned v = (unsigned)(unsigned char)json[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)(unsigned char)json[i + 1] << 8;
        if (i + 2 < len)
            v |= (unsigned char)json[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64[v & 63] : '=';
    }
    out[o] = '\0';
}

int tracking__token_decode(const char *tok, int64_t *offset, struct skiff_err *err)
{
    char json[64];
    size_t o = 0;
    unsigned v = 0;
    int bits = 0;
    const char *p;
    long long off;

    *offset = 0;
    if (!tok || !*tok)
        return 0;
    for (p = tok; *p && *p != '='; p++) {
        const char *c = strchr(b64, *p);
        if (!c || !*c || o + 1 >= sizeof json)
            goto bad;
        v = (v << 6) | (unsigned)(c - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            json[o++] = (char)((v >> bits) & 0xff);
        }
    }
    json[o] = '\0';
    if (sscanf(json, " { \"offset\" : %lld }", &off) != 1 || off < 0)
        goto bad;
    *offset = off;
    return 0;
bad:
    return skiff_err_set(err, SKIFF_EINVAL, "invalid page_token '%.60s'", tok);
}
