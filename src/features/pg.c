/* DataSource readers: CSV files (csv.c) and PostgreSQL tables or queries
 * through libpq (include/skiff/features.h, skiff_feat_source_read).
 *
 * A PostgreSQL source is read as CSV, so that one parser gives both kinds
 * of source the same types, nulls, fieldMapping and error positions:
 *
 *   SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC';
 *   COPY (SELECT "user_id"::text AS "user_id", ... FROM <table or (query)>)
 *       TO STDOUT (FORMAT csv, HEADER true)
 *
 * Each wanted column is cast to text on the server: a boolean comes out as
 * true/false (not COPY's t/f), a timestamptz as "2026-11-27 09:00:00+00"
 * (ISO, in UTC, which skiff_time_parse reads), a double in its shortest
 * exact form (PostgreSQL 12 and later). Only the wanted columns cross the
 * wire. The COPY output is parsed as it arrives, a chunk at a time
 * (features__csv_read_stream, as a CSV file is read): memory is the typed
 * table plus one chunk, however large the table; max_bytes caps the text.
 *
 * Connection: never in the definition. SKIFF_FEATURES_POSTGRES_URL (a URL
 * or key=value connection string) when set, else libpq's defaults from its
 * own environment (PGHOST, PGPORT, PGDATABASE, PGUSER, PGSERVICE); the
 * password comes from PGPASSFILE / ~/.pgpass or the service file, which
 * libpq reads itself.
 */
#include "features_int.h"

#include "skiff/buf.h"
#include "skiff/err.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

/* The source column a wanted (renamed) column is read from. */
static const char *source_name(const struct skiff_feat_source *s, const char *name)
{
    for (size_t i = 0; i < s->nrename; i++)
        if (strcmp(s->rename_to[i], name) == 0)
            return s->rename_from[i];
    return name;
}

/* Appends identifier `id` quoted by libpq ("a""b" for a"b). */
static int put_ident(PGconn *c, struct skiff_buf *b, const char *id, size_t len)
{
    char *q = PQescapeIdentifier(c, id, len);
    int rc;
    if (!q)
        return SKIFF_ENOMEM;
    rc = skiff_buf_puts(b, q);
    PQfreemem(q);
    return rc;
}

/* The COPY statement for the columns o asks for. A table name may be
 * schema-qualified: each dot-separated part is quoted on its own. */
static int build_copy(PGconn *c, const struct skiff_feat_source *s,
                      const struct skiff_feat_csv_opts *o, struct skiff_buf *b)
{
    int rc = skiff_buf_puts(b, "COPY (SELECT ");
    for (size_t i = 0; rc == 0 && i < o->ncols; i++) {
        const char *src = source_name(s, o->cols[i].name);
        rc = (i && skiff_buf_puts(b, ", ")) || put_ident(c, b, src, strlen(src)) ||
             skiff_buf_puts(b, "::text AS ") || put_ident(c, b, src, strlen(src));
    }
    if (rc == 0)
        rc = skiff_buf_puts(b, " FROM ");
    if (rc == 0 && s->pg_query) {
        rc = skiff_buf_puts(b, "(") || skiff_buf_puts(b, s->pg_query) ||
             skiff_buf_puts(b, "\n) AS skiff_source");
    } else if (rc == 0) {
        const char *p = s->pg_table;
        for (;;) {
            const char *dot = strchr(p, '.');
            size_t n = dot ? (size_t)(dot - p) : strlen(p);
            if ((rc = put_ident(c, b, p, n)))
                break;
            if (!dot)
                break;
            if ((rc = skiff_buf_putc(b, '.')))
                break;
            p = dot + 1;
        }
    }
    if (rc == 0)
        rc = skiff_buf_puts(b, ") TO STDOUT (FORMAT csv, HEADER true)");
    return rc ? SKIFF_ENOMEM : 0;
}

/* The server's message without its trailing line end. */
static const char *pg_msg(PGconn *c, char *buf, size_t n)
{
    size_t len;
    snprintf(buf, n, "%s", PQerrorMessage(c));
    len = strlen(buf);
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    return buf;
}

/* The COPY's rows as a stream of bytes for features__csv_read_stream: a
 * row that does not fit in the caller's buffer is handed over in parts. */
struct copy_reader {
    PGconn *c;
    const struct skiff_feat_source *s;
    char *row;       /* the row being handed over (libpq's), or NULL */
    size_t len, off;
    bool done;
};

static int copy_read(void *ctx, char *buf, size_t n, size_t *got, struct skiff_err *err)
{
    struct copy_reader *r = ctx;
    char msg[512];

    *got = 0;
    while (*got < n && !r->done) {
        if (!r->row) {
            int k = PQgetCopyData(r->c, &r->row, 0);
            if (k == -1) {   /* the end of the COPY; its result (an error?) comes next */
                r->done = true;
                break;
            }
            if (k < 0) {
                r->done = true;
                return skiff_err_set(err, SKIFF_EIO, "data source '%s': %s", r->s->name,
                                     pg_msg(r->c, msg, sizeof msg));
            }
            r->len = (size_t)k;
            r->off = 0;
        }
        size_t take = r->len - r->off < n - *got ? r->len - r->off : n - *got;
        memcpy(buf + *got, r->row + r->off, take);
        *got += take;
        if ((r->off += take) == r->len) {
            PQfreemem(r->row);
            r->row = NULL;
        }
    }
    return 0;
}

static int pg_read(const struct skiff_feat_source *s, const struct skiff_feat_csv_opts *o,
                   struct skiff_feat_table **out, size_t *skipped, struct skiff_err *err)
{
    const char *url = getenv("SKIFF_FEATURES_POSTGRES_URL");
    struct skiff_buf sql = SKIFF_BUF_INIT;
    struct copy_reader rd = {0};
    PGresult *res = NULL;
    PGconn *c;
    char name[300], msg[512];
    int rc = 0;

    snprintf(name, sizeof name, "postgres:%s", s->pg_table ? s->pg_table : "query");
    c = PQconnectdb(url ? url : "");
    if (!c)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory connecting to PostgreSQL");
    if (PQstatus(c) != CONNECTION_OK) {
        rc = skiff_err_set(err, SKIFF_EUNAVAIL,
                           "data source '%s': cannot connect to PostgreSQL (%s): %s", s->name,
                           url ? "SKIFF_FEATURES_POSTGRES_URL" : "libpq defaults, PGHOST ...",
                           pg_msg(c, msg, sizeof msg));
        goto out;
    }
    res = PQexec(c, "SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'");
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "data source '%s': %s", s->name,
                           pg_msg(c, msg, sizeof msg));
        goto out;
    }
    PQclear(res);
    res = NULL;
    if (build_copy(c, s, o, &sql)) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    res = PQexec(c, sql.ptr);
    if (PQresultStatus(res) != PGRES_COPY_OUT) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "data source '%s': %s", s->name,
                           pg_msg(c, msg, sizeof msg));
        goto out;
    }
    PQclear(res);
    res = NULL;
    /* parsed as it arrives, a chunk at a time: memory is the table plus one
     * chunk, not the table plus the whole COPY text */
    rd.c = c;
    rd.s = s;
    rc = features__csv_read_stream(name, copy_read, &rd, o, out, skipped, err);
    if (rc == 0 && !rd.done) {
        /* a parse that stopped early cannot happen without an error: defensive */
        rc = skiff_err_set(err, SKIFF_EINTERNAL, "data source '%s': COPY not read to its end",
                           s->name);
    }
    /* the COPY's own result: an error inside the query (a bad cast, a
     * division by zero) shows here, and wins over what was parsed before it */
    if (rd.done) {
        while ((res = PQgetResult(c)) != NULL) {
            if (PQresultStatus(res) != PGRES_COMMAND_OK && (rc == 0 || rc == SKIFF_EPARSE)) {
                skiff_feat_table_free(*out);
                *out = NULL;
                rc = skiff_err_set(err, SKIFF_EINVAL, "data source '%s': %s", s->name,
                                   pg_msg(c, msg, sizeof msg));
            }
            PQclear(res);
        }
    }
out:
    if (rd.row)
        PQfreemem(rd.row);
    PQclear(res);
    PQfinish(c);   /* also ends a COPY left half read after a bad row */
    skiff_buf_release(&sql);
    return rc;
}

int skiff_feat_source_read(const struct skiff_feat_source *s, const struct skiff_feat_csv_opts *o,
                           struct skiff_feat_table **out, size_t *skipped, struct skiff_err *err)
{
    *out = NULL;
    if (skipped)
        *skipped = 0;
    if (s->path)
        return skiff_feat_csv_read(s->path, o, out, skipped, err);
    if (s->pg_table || s->pg_query)
        return pg_read(s, o, out, skipped, err);
    return skiff_err_set(err, SKIFF_EINVAL,
                         "data source '%s' has no rows to read (push and request sources have "
                         "no history)", s->name);
}
