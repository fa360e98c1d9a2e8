/* The feature server's writes (include/skiff/online.h, skiff_online_routes;
 * specs/feast.md 6): POST /push and POST /write-to-online-store.
 *
 * A pushed row goes to every online view the push source feeds (views
 * declared on it, as in Feast, and views reading its batchSource): it
 * becomes the entity's latest row when newer (online__write_rows' rule) and
 * an event of the view's aggregations, so windowed aggregates move with
 * each push and are computed at read time by the engine's functions.
 * `to: offline` appends the rows to the batchSource's CSV file under a
 * lock, in the file's column order.
 */
#include "online_int.h"

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/http.h"
#include "skiff/time.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

/* ---- POST /push ---- */

/* A df cell as a value of type t; strings borrow from the JSON. */
static int df_value(const json_t *v, enum skiff_feat_type t, const char *col, size_t row,
                    struct skiff_feat_value *x, struct skiff_err *err)
{
    memset(x, 0, sizeof *x);
    x->type = t;
    if (!v || json_is_null(v))
        return 0;
    switch (t) {
    case SKIFF_FEAT_STRING:
        if (json_is_string(v))
            x->s = json_string_value(v);
        else
            goto bad;
        break;
    case SKIFF_FEAT_BOOL:
        if (json_is_boolean(v))
            x->i = json_is_true(v);
        else if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
            x->i = json_integer_value(v);
        else
            goto bad;
        break;
    case SKIFF_FEAT_DOUBLE:
    case SKIFF_FEAT_FLOAT:
        if (!json_is_number(v))
            goto bad;
        x->f = json_number_value(v);
        if (t == SKIFF_FEAT_FLOAT)
            x->f = (double)(float)x->f;
        break;
    case SKIFF_FEAT_UNIX_TIMESTAMP: {
        char num[32];
        const char *str = json_string_value(v);
        if (json_is_integer(v)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            str = num;
        }
        if (!str || skiff_time_parse(str, &x->i, NULL))
            goto bad;
        break;
    }
    default:
        if (!json_is_integer(v))
            goto bad;
        x->i = json_integer_value(v);
        if (t == SKIFF_FEAT_INT32 && (x->i < INT32_MIN || x->i > INT32_MAX))
            goto bad;
        break;
    }
    x->valid = true;
    return 0;
bad:
    return skiff_err_set(err, SKIFF_EINVAL, "df.%s[%zu]: not a valid %s", col, row,
                         skiff_feat_type_name(t));
}

static const json_t *df_col(const json_t *df, const char *name, size_t nrows, const char *view,
                            struct skiff_err *err)
{
    const json_t *c = json_object_get(df, name);
    if (!json_is_array(c)) {
        skiff_err_set(err, SKIFF_EINVAL, "df: missing column '%s' (FeatureView '%s' reads it)",
                      name, view);
        return NULL;
    }
    if (json_array_size(c) != nrows) {
        skiff_err_set(err, SKIFF_EINVAL, "df.%s has %zu values, other columns %zu", name,
                      json_array_size(c), nrows);
        return NULL;
    }
    return c;
}

/* Writes the df's rows to one view online: each row is the latest row of
 * its entity when newer, and an event of its aggregations. */
static int push_online(struct skiff_online *o, const struct skiff_feat_registry *reg,
                       const struct skiff_feat_view *v, const json_t *df, size_t nrows,
                       struct skiff_err *err)
{
    const struct skiff_feat_source *bs = online__batch_source(reg, v);
    size_t nf = v->nfields, na = v->naggs;
    struct online__ref *refs = calloc(nrows + 1, sizeof *refs);
    char *keys = malloc((nrows + 1) * ONLINE_MAX_KEY);
    int64_t *ts = calloc(nrows + 1, sizeof *ts), *created = calloc(nrows + 1, sizeof *created);
    struct skiff_feat_value *fields = calloc(nrows * nf + 1, sizeof *fields);
    struct skiff_feat_value *aggs = calloc(nrows * na + 1, sizeof *aggs);
    size_t *off = calloc(nrows + 2, sizeof *off);
    const json_t *tsc, *crc = NULL, *kc[ONLINE_MAX_JOIN_KEYS];
    struct online__write w = {0};
    int rc = 0;

    if (!refs || !keys || !ts || !created || !fields || !aggs || !off) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    if (v->nentities > ONLINE_MAX_JOIN_KEYS) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "view '%s': too many entities", v->name);
        goto out;
    }
    if (!(tsc = df_col(df, bs->timestamp_field, nrows, v->name, err))) {
        rc = err->code;
        goto out;
    }
    if (bs->created_column && json_object_get(df, bs->created_column) &&
        !(crc = df_col(df, bs->created_column, nrows, v->name, err))) {
        rc = err->code;
        goto out;
    }
    for (size_t i = 0; i < v->nentities; i++)
        if (!(kc[i] = df_col(df, v->entities[i]->join_key, nrows, v->name, err))) {
            rc = err->code;
            goto out;
        }
    for (size_t r = 0; r < nrows; r++) {
        char tb[ONLINE_MAX_JOIN_KEYS][32];
        const char *kv[ONLINE_MAX_JOIN_KEYS];
        struct skiff_feat_value t;
        for (size_t i = 0; i < v->nentities; i++) {
            kv[i] = online__entity_text(json_array_get(kc[i], r), tb[i], sizeof tb[i]);
            if (!kv[i]) {
                rc = skiff_err_set(err, SKIFF_EINVAL, "df.%s[%zu]: want a string or an "
                                   "integer", v->entities[i]->join_key, r);
                goto out;
            }
        }
        refs[r].key = keys + r * ONLINE_MAX_KEY;
        refs[r].view = v->name;
        if (!(refs[r].klen = online__key(v, kv, keys + r * ONLINE_MAX_KEY, ONLINE_MAX_KEY))) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "row %zu: entity key of view '%s' is not "
                               "valid (an integer key that is not a number, or too long)", r,
                               v->name);
            goto out;
        }
        if ((rc = df_value(json_array_get(tsc, r), SKIFF_FEAT_UNIX_TIMESTAMP,
                           bs->timestamp_field, r, &t, err)))
            goto out;
        if (!t.valid) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "df.%s[%zu] is null", bs->timestamp_field, r);
            goto out;
        }
        ts[r] = t.i;
        created[r] = INT64_MIN;
        if (crc) {
            if ((rc = df_value(json_array_get(crc, r), SKIFF_FEAT_UNIX_TIMESTAMP,
                               bs->created_column, r, &t, err)))
                goto out;
            if (t.valid)
                created[r] = t.i;
        }
        for (size_t k = 0; k < nf; k++) {
            const json_t *c = df_col(df, v->fields[k].name, nrows, v->name, err);
            if (!c) {
                rc = err->code;
                goto out;
            }
            if ((rc = df_value(json_array_get(c, r), v->fields[k].type, v->fields[k].name, r,
                               &fields[r * nf + k], err)))
                goto out;
        }
        for (size_t a = 0; a < na; a++) {
            struct skiff_feat_value *x = &aggs[r * na + a];
            const json_t *c;
            if (!v->aggs[a].column) {
                x->valid = true;
                x->type = v->aggs[a].column_type;
                continue;
            }
            if (!(c = df_col(df, v->aggs[a].column, nrows, v->name, err))) {
                rc = err->code;
                goto out;
            }
            if ((rc = df_value(json_array_get(c, r), v->aggs[a].column_type, v->aggs[a].column,
                               r, x, err)))
                goto out;
        }
        off[r] = r;
    }
    off[nrows] = nrows;
    w.v = v;
    w.n = nrows;
    w.refs = refs;
    w.ts = ts;
    w.created = created;
    w.fields = fields;
    if (na) {
        w.ev_off = off;
        w.agg_ts = ts;
        w.agg_vals = aggs;
    }
    rc = online__write_rows(o, &w, err);
out:
    free(refs);
    free(keys);
    free(ts);
    free(created);
    free(fields);
    free(aggs);
    free(off);
    return rc;
}

/* A df cell as CSV text into b (quoted when it must be). */
static int csv_cell(struct skiff_buf *b, const json_t *v)
{
    char num[64];
    const char *s = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (json_is_string(v))
        s = json_string_value(v);
    else if (json_is_integer(v))
        snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v)), s = num;
    else if (json_is_real(v))
        snprintf(num, sizeof num, "%.17g", json_real_value(v)), s = num;
    else if (json_is_boolean(v))
        s = json_is_true(v) ? "true" : "false";
    else
        return SKIFF_EINVAL;
    if (!strpbrk(s, ",\"\r\n"))
        return skiff_buf_puts(b, s);
    skiff_buf_putc(b, '"');
    for (; *s; s++) {
        if (*s == '"')
            skiff_buf_putc(b, '"');
        skiff_buf_putc(b, *s);
    }
    return skiff_buf_putc(b, '"');
}

/* Appends the df's rows to a view's batch source file, in the file's
 * header order (columns the df lacks are empty); the file is locked while
 * written, so concurrent pushes do not interleave lines. */
static int push_offline(const struct skiff_feat_source *bs, const json_t *df, size_t nrows,
                        struct skiff_err *err)
{
    char header[8192];
    char *cols[256], *save = NULL, *tok;
    size_t ncols = 0;
    struct skiff_buf b = SKIFF_BUF_INIT;
    FILE *f;
    int fd, rc = 0;

    if (!bs->path)
        return skiff_err_set(err, SKIFF_EINVAL, "source '%s': offline push needs a file source",
                             bs->name);
    if ((fd = open(bs->path, O_RDWR | O_APPEND | O_CLOEXEC)) < 0)
        return skiff_err_sys(err, SKIFF_EIO, "cannot open '%s' (offline push appends to a CSV "
                             "file)", bs->path);
    flock(fd, LOCK_EX);
    if (!(f = fdopen(dup(fd), "r")) || !fgets(header, sizeof header, f)) {
        if (f)
            fclose(f);
        rc = skiff_err_set(err, SKIFF_EINVAL, "'%s': no header line", bs->path);
        goto out;
    }
    fclose(f);
    header[strcspn(header, "\r\n")] = '\0';
    for (tok = strtok_r(header, ",", &save); tok && ncols < 256; tok = strtok_r(NULL, ",", &save))
        cols[ncols++] = tok;
    /* a file that does not end in a newline gets one first */
    {
        char last = '\n';
        off_t end = lseek(fd, 0, SEEK_END);
        if (end > 0 && pread(fd, &last, 1, end - 1) == 1 && last != '\n')
            skiff_buf_putc(&b, '\n');
    }
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *name = cols[c];
            /* fieldMapping: the file's column is renamed when read */
            for (size_t m = 0; m < bs->nrename; m++)
                if (strcmp(bs->rename_from[m], cols[c]) == 0)
                    name = bs->rename_to[m];
            if (c)
                skiff_buf_putc(&b, ',');
            if (csv_cell(&b, json_array_get(json_object_get(df, name), r))) {
                rc = skiff_err_set(err, SKIFF_EINVAL, "df.%s[%zu]: not a scalar", name, r);
                goto out;
            }
        }
        skiff_buf_putc(&b, '\n');
    }
    if (write(fd, b.ptr, b.len) != (ssize_t)b.len)
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot append to '%s'", bs->path);
out:
    skiff_buf_release(&b);
    close(fd);   /* and the lock with it */
    return rc;
}

static bool fed_by(const struct skiff_feat_view *v, const char *push, const char *batch)
{
    return strcmp(v->source->name, push) == 0 || strcmp(v->source->name, batch) == 0;
}

int online__h_push(struct skiff_http_req *req, struct skiff_http_resp *resp,
                  struct skiff_err *err)
{
    struct skiff_online_server *s = req->ctx;
    const struct skiff_feat_registry *reg = NULL;
    struct online__cached *held = NULL;
    json_t *body, *df, *col;
    const char *name, *to, *key, *batch;
    bool online = true, offline = false, any = false;
    size_t nrows = 0, nviews = 0;
    int rc = 0;

    if (!(body = online__parse_body(req, err)))
        return err->code;
    name = json_string_value(json_object_get(body, "push_source_name"));
    df = json_object_get(body, "df");
    to = json_string_value(json_object_get(body, "to"));
    if (!name || !json_is_object(df)) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "want {\"push_source_name\": NAME, \"df\": "
                           "{COLUMN: [...]}, \"to\": \"online\"}");
        goto out;
    }
    /* Feast's PushMode; absent means online */
    if (json_object_get(body, "to") && !(to && (strcmp(to, "online") == 0 ||
                                                strcmp(to, "offline") == 0 ||
                                                strcmp(to, "online_and_offline") == 0))) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "to: want \"online\", \"offline\" or "
                           "\"online_and_offline\"");
        goto out;
    }
    if (to) {
        online = strcmp(to, "offline") != 0;
        offline = strcmp(to, "online") != 0;
    }
    json_object_foreach(df, key, col) {
        if (!json_is_array(col)) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "df.%s: want an array", key);
            goto out;
        }
        if (!any)
            nrows = json_array_size(col);
        else if (json_array_size(col) != nrows) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "df.%s has %zu values, other columns %zu", key,
                               json_array_size(col), nrows);
            goto out;
        }
        any = true;
    }
    if (nrows > ONLINE_MAX_ROWS) {
        rc = skiff_err_set(err, SKIFF_ETOOBIG, "more than %d rows", ONLINE_MAX_ROWS);
        goto out;
    }
    if ((rc = online__registry_acquire(s, &reg, &held, err)))
        goto out;
    if (!(batch = online__push_batch(reg, name))) {
        rc = skiff_err_set(err, SKIFF_ENOTFOUND, "no push source '%s' (a DataSource with "
                           "push: {batchSource})", name);
        goto out;
    }
    /* every view fed by the push source: those declared on it (Feast) and
     * those reading its batch source; the offline file once per source */
    for (size_t i = 0; i < reg->nviews && rc == 0; i++) {
        const struct skiff_feat_view *v = &reg->views[i];
        if (!fed_by(v, name, batch))
            continue;
        nviews++;
        if (online && v->online)
            rc = push_online(s->o, reg, v, df, nrows, err);
    }
    if (rc)
        goto out;
    if (nviews == 0) {
        rc = skiff_err_set(err, SKIFF_ENOTFOUND, "no FeatureView reads push source '%s'", name);
        goto out;
    }
    if (offline) {
        const struct skiff_feat_source *done[64];
        size_t ndone = 0;
        for (size_t i = 0; i < reg->nviews && rc == 0; i++) {
            const struct skiff_feat_view *v = &reg->views[i];
            const struct skiff_feat_source *bs;
            bool seen = false;
            if (!fed_by(v, name, batch))
                continue;
            bs = online__batch_source(reg, v);
            for (size_t k = 0; k < ndone; k++)
                seen |= done[k] == bs;
            if (seen || ndone == 64)
                continue;
            done[ndone++] = bs;
            rc = push_offline(bs, df, nrows, err);
        }
        if (rc)
            goto out;
    }
    rc = skiff_http_reply_json(resp, 200, "null") ? skiff_err_set(err, SKIFF_ENOMEM, "out of "
                                                                  "memory") : 0;
out:
    online__registry_release(s, held);
    json_decref(body);
    return rc;
}

/* POST /write-to-online-store {"feature_view_name", "df"}: the df's rows
 * written to one view online, as a push does (Feast's route). */
int online__h_write_online(struct skiff_http_req *req, struct skiff_http_resp *resp,
                          struct skiff_err *err)
{
    struct skiff_online_server *s = req->ctx;
    const struct skiff_feat_registry *reg = NULL;
    const struct skiff_feat_view *v;
    struct online__cached *held = NULL;
    json_t *body, *df, *col;
    const char *name, *key;
    size_t nrows = 0;
    bool any = false;
    int rc = 0;

    if (!(body = online__parse_body(req, err)))
        return err->code;
    name = json_string_value(json_object_get(body, "feature_view_name"));
    df = json_object_get(body, "df");
    if (!name || !json_is_object(df)) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "want {\"feature_view_name\": NAME, \"df\": "
                           "{COLUMN: [...]}}");
        goto out;
    }
    json_object_foreach(df, key, col) {
        if (!json_is_array(col)) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "df.%s: want an array", key);
            goto out;
        }
        if (any && json_array_size(col) != nrows) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "df.%s has %zu values, other columns %zu", key,
                               json_array_size(col), nrows);
            goto out;
        }
        nrows = json_array_size(col);
        any = true;
    }
    if (nrows > ONLINE_MAX_ROWS) {
        rc = skiff_err_set(err, SKIFF_ETOOBIG, "more than %d rows", ONLINE_MAX_ROWS);
        goto out;
    }
    if ((rc = online__registry_acquire(s, &reg, &held, err)))
        goto out;
    if (!(v = skiff_feat_view_get(reg, name))) {
        rc = skiff_err_set(err, SKIFF_ENOTFOUND, "no FeatureView '%s'", name);
        goto out;
    }
    if (!v->online) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "FeatureView '%s' is not online (online: false)",
                           name);
        goto out;
    }
    if ((rc = push_online(s->o, reg, v, df, nrows, err)))
        goto out;
    rc = skiff_http_reply_json(resp, 200, "null") ? skiff_err_set(err, SKIFF_ENOMEM, "out of "
                                                                  "memory") : 0;
out:
    online__registry_release(s, held);
    json_decref(body);
    return rc;
}
