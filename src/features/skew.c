/* Training-serving skew check (include/skiff/online.h, skiff_feat_skew).
 *
 * The served file is a CSV: the service's join keys, event_timestamp (when
 * the values were served) and one column per feature with the value that
 * was served (named "feature" or "view__feature"). Each row is recomputed
 * by historical retrieval at its event_timestamp, the same engine training
 * data comes from, and each feature compared:
 *   both null                      match
 *   one null                       mismatch (difference reported as inf)
 *   numbers (INT, DOUBLE, BOOL)    match when |served - recomputed| <=
 *                                  tolerance * max(1, |recomputed|)
 *   strings and timestamps         match when the text is equal
 * Worked example, tolerance 1e-6: served 3, recomputed 2 -> mismatch, diff
 * 1; served 0.30000001, recomputed 0.3 -> |diff| 1e-8 <= 1e-6 -> match.
 * A feature fails when its mismatch rate (mismatches / rows) is above
 * max_mismatch; the worst examples are the largest differences.
 *
 * A served file named *.jsonl is read as serving's payload log
 * (include/skiff/serving.h): per line, "ts" is the event_timestamp, and
 * "features" holds the join keys and the served values under their short
 * names. It is turned into the CSV above (features that no line carries,
 * such as STRING ones the log cannot hold, are left out and reported as
 * not served) and checked the same way.
 */
#include "online_int.h"

#include "skiff/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WORST 3

struct example {
    size_t row;
    double diff;
};

static bool parse_num(const char *s, enum skiff_feat_type t, double *out)
{
    char *end;
    if (!s || !*s)
        return false;
    if (t == SKIFF_FEAT_BOOL) {
        if (strcasecmp(s, "true") == 0 || strcmp(s, "1") == 0)
            return *out = 1, true;
        if (strcasecmp(s, "false") == 0 || strcmp(s, "0") == 0)
            return *out = 0, true;
        return false;
    }
    *out = strtod(s, &end);
    return end != s && *end == '\0';
}

/* Recomputed cell (row r of column c) as text or number. */
static bool cell_num(const struct skiff_feat_column *c, size_t r, double *out)
{
    if (!c->valid[r])
        return false;
    *out = c->f64 ? c->f64[r] : (double)c->i64[r];
    return true;
}

static int skew_csv(const struct skiff_feat_service *svc, const char *served_path,
                    const struct skiff_feat_skew_opts *o, FILE *out, bool *failed,
                    struct skiff_err *err);

/* One JSON scalar as a CSV cell (numbers and strings; the rest empty). */
static void csv_json(FILE *f, const json_t *v)
{
    if (json_is_integer(v))
        fprintf(f, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        fprintf(f, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        fputs(json_is_true(v) ? "true" : "false", f);
    else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    }
}

/* The payload log `path` as a served-values CSV in a temp file (name in
 * tmp[n], which the caller unlinks). */
static int jsonl_to_csv(const struct skiff_feat_service *svc, const char *path, char *tmp,
                        size_t n, struct skiff_err *err)
{
    const char *knames[64];
    size_t nk = online__service_keys(svc, knames, NULL, 64), w = skiff_online_service_width(svc);
    bool *seen = calloc(w + 1, 1);
    char line[1 << 16];
    FILE *in = NULL, *csv = NULL;
    size_t lineno = 0;
    int fd, rc = 0;

    snprintf(tmp, n, "/tmp/skiff-skew-XXXXXX");
    if (!seen)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if (!(in = fopen(path, "r"))) {
        free(seen);
        return skiff_err_sys(err, SKIFF_EIO, "cannot open '%s'", path);
    }
    /* pass 1: which features the log carries */
    while (fgets(line, sizeof line, in)) {
        json_t *o = json_loads(line, 0, NULL), *f = json_object_get(o, "features");
        for (size_t i = 0; i < w; i++)
            seen[i] |= json_object_get(f, skiff_online_service_feature(svc, i)) != NULL;
        json_decref(o);
    }
    rewind(in);
    if ((fd = mkstemp(tmp)) < 0 || !(csv = fdopen(fd, "w"))) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot create a temporary file");
        goto out;
    }
    for (size_t k = 0; k < nk; k++)
        fprintf(csv, "%s,", knames[k]);
    fputs("event_timestamp", csv);
    for (size_t i = 0; i < w; i++)
        if (seen[i])
            fprintf(csv, ",%s", skiff_online_service_feature(svc, i));
    fputc('\n', csv);
    while (fgets(line, sizeof line, in)) {
        json_error_t je;
        json_t *o, *f;
        lineno++;
        if (line[strspn(line, " \t\r\n")] == '\0')
            continue;
        if (!(o = json_loads(line, 0, &je))) {
            rc = skiff_err_at(err, SKIFF_EPARSE, path, (int)lineno, je.column, "%s", je.text);
            goto out;
        }
        f = json_object_get(o, "features");
        if (!json_is_string(json_object_get(o, "ts")) || !json_is_object(f)) {
            json_decref(o);
            rc = skiff_err_at(err, SKIFF_EPARSE, path, (int)lineno, 1, "want {\"ts\", "
                              "\"features\": {...}} (a payload log line)");
            goto out;
        }
        for (size_t k = 0; k < nk; k++) {
            csv_json(csv, json_object_get(f, knames[k]));
            fputc(',', csv);
        }
        fputs(json_string_value(json_object_get(o, "ts")), csv);
        for (size_t i = 0; i < w; i++)
            if (seen[i]) {
                fputc(',', csv);
                csv_json(csv, json_object_get(f, skiff_online_service_feature(svc, i)));
            }
        fputc('\n', csv);
        json_decref(o);
    }
out:
    if (csv && fclose(csv) != 0 && rc == 0)
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", tmp);
    fclose(in);
    free(seen);
    return rc;
}

int skiff_feat_skew(const struct skiff_feat_service *svc, const char *served_path,
                    const struct skiff_feat_skew_opts *o, FILE *out, bool *failed,
                    struct skiff_err *err)
{
    size_t len = strlen(served_path);
    if (len > 6 && strcmp(served_path + len - 6, ".jsonl") == 0) {
        struct skiff_feat_skew_opts lo = *o;
        char tmp[64];
        int rc = jsonl_to_csv(svc, served_path, tmp, sizeof tmp, err);
        lo.skip_missing = true;
        if (rc == 0)
            rc = skiff_feat_skew(svc, tmp, &lo, out, failed, err);
        unlink(tmp);
        return rc;
    }
    return skew_csv(svc, served_path, o, out, failed, err);
}

static int skew_csv(const struct skiff_feat_service *svc, const char *served_path,
                    const struct skiff_feat_skew_opts *o, FILE *out, bool *failed,
                    struct skiff_err *err)
{
    struct skiff_feat_table *ent = NULL, *rec = NULL;
    struct skiff_feat_historical_opts hf = {.threads = 2, .full_feature_names = true};
    const char *knames[64];
    size_t nk = online__service_keys(svc, knames, NULL, 64);
    long tscol;
    int rc;

    *failed = false;
    if ((rc = skiff_feat_entities_read(svc, served_path, &ent, err)))
        return rc;
    /* full names: two views may both have a feature of one name */
    if ((rc = skiff_feat_historical(svc, ent, &hf, &rec, NULL, err)))
        goto out;
    tscol = skiff_feat_table_col(ent, "event_timestamp");
    fprintf(out, "service %s: %zu served rows from %s\n", svc->name, ent->nrows, served_path);
    fprintf(out, "%-32s %10s %10s  %s\n", "feature", "mismatch", "rate", "worst examples");
    for (size_t i = 0; i < rec->ncols; i++) {
        const struct skiff_feat_column *c = &rec->cols[i];
        const char *shortname = skiff_online_service_feature(svc, i);
        long sc = skiff_feat_table_col(ent, c->name);
        struct example worst[WORST];
        size_t nworst = 0, bad = 0;
        double rate;
        if (sc < 0 && shortname)
            sc = skiff_feat_table_col(ent, shortname);
        if (sc < 0 && o->skip_missing) {
            fprintf(out, "%-32s %10s %10s\n", c->name, "-", "not served");
            continue;
        }
        if (sc < 0) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "'%s': no column '%s' or '%s' with the served "
                               "values", served_path, shortname ? shortname : "?", c->name);
            goto out;
        }
        for (size_t r = 0; r < ent->nrows; r++) {
            const char *served = skiff_feat_table_str(ent, r, (size_t)sc);
            bool sv_null = !served || !*served, match;
            double diff = 0, a = 0, b = 0;
            if (c->type == SKIFF_FEAT_STRING || c->type == SKIFF_FEAT_UNIX_TIMESTAMP) {
                const char *want = NULL;
                char tb[48];
                if (c->valid[r])
                    want = c->type == SKIFF_FEAT_STRING
                               ? c->pool + c->off[r]
                               : features__time_str(c->i64[r], tb, sizeof tb);
                match = (sv_null && !want) || (!sv_null && want && strcmp(served, want) == 0);
                diff = match ? 0 : INFINITY;
            } else {
                bool have_s = !sv_null && parse_num(served, c->type, &a);
                bool have_r = cell_num(c, r, &b);
                if (!have_s && !have_r)
                    match = true;
                else if (have_s != have_r)
                    match = false, diff = INFINITY;
                else {
                    diff = fabs(a - b);
                    match = diff <= o->tolerance * (fabs(b) > 1 ? fabs(b) : 1);
                }
            }
            if (match)
                continue;
            bad++;
            /* keep the WORST largest differences, the earliest row on ties */
            if (nworst < WORST)
                worst[nworst++] = (struct example){r, diff};
            else if (diff > worst[WORST - 1].diff)
                worst[WORST - 1] = (struct example){r, diff};
            for (size_t k = nworst - 1; k > 0 && worst[k].diff > worst[k - 1].diff; k--) {
                struct example t = worst[k];
                worst[k] = worst[k - 1];
                worst[k - 1] = t;
            }
        }
        rate = ent->nrows ? (double)bad / (double)ent->nrows : 0;
        if (rate > o->max_mismatch)
            *failed = true;
        fprintf(out, "%-32s %10zu %9.4f%%%s\n", c->name, bad, rate * 100,
                rate > o->max_mismatch ? "  FAIL" : "");
        for (size_t k = 0; k < nworst; k++) {
            size_t r = worst[k].row;
            char tb[48], want[64] = "null";
            const char *served = skiff_feat_table_str(ent, r, (size_t)sc);
            double b;
            if (c->type == SKIFF_FEAT_STRING && c->valid[r])
                snprintf(want, sizeof want, "%s", c->pool + c->off[r]);
            else if (c->type == SKIFF_FEAT_UNIX_TIMESTAMP && c->valid[r])
                features__time_str(c->i64[r], want, sizeof want);
            else if (cell_num(c, r, &b))
                snprintf(want, sizeof want, "%.17g", b);
            fprintf(out, "    line %zu:", ent->line ? ent->line[r] : r + 2);
            for (size_t k2 = 0; k2 < nk; k2++)
                fprintf(out, " %s=%s", knames[k2],
                        skiff_feat_table_str(ent, r, (size_t)skiff_feat_table_col(ent, knames[k2]))
                            ?: "");
            fprintf(out, " at %s: served %s, recomputed %s\n",
                    tscol >= 0 ? features__time_str(ent->cols[tscol].i64[r], tb, sizeof tb) : "?",
                    served && *served ? served : "null", want);
        }
    }
    fprintf(out, "%s (max mismatch %.4f%%, tolerance %g)\n",
            *failed ? "SKEW: served values differ from recomputed ones" : "no skew",
            o->max_mismatch * 100, o->tolerance);
out:
    skiff_feat_table_free(rec);
    skiff_feat_table_free(ent);
    return rc;
}
