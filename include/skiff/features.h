/* Feature store: definitions, typed columnar tables read from CSV, the
 * point-in-time join and windowed aggregations (historical retrieval).
 *
 * Semantics are Feast's (specs/feast.md 1 and 3), in skiff.dev/v1 kinds:
 * Entity, DataSource, FeatureView, FeatureService (docs/features.md).
 *
 * One engine computes every feature: skiff_feat_historical for training data
 * and, later, the online path call the same per-entity functions
 * (skiff_feat_pit_pick, skiff_feat_agg_compute, skiff_feat_expr_eval), so a
 * rolling window cannot be computed one way for training and another way
 * for serving.
 *
 * Time is UTC microseconds (include/skiff/time.h). Nothing here is
 * thread-safe for writing; a registry and tables may be read from several
 * threads at once.
 */
#ifndef SKIFF_FEATURES_H
#define SKIFF_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct skiff_err;
struct skiff_route;
typedef struct json_t json_t;

/* ---- values and tables ---- */

/* Feast's scalar ValueTypes (specs/feast.md 1.2). */
#define SKIFF_FEAT_TYPES(X) \
    X(INT64)                \
    X(INT32)                \
    X(DOUBLE)               \
    X(FLOAT)                \
    X(STRING)               \
    X(BOOL)                 \
    X(UNIX_TIMESTAMP)

enum skiff_feat_type {
#define SKIFF__FEAT_TYPE_ENUM(name) SKIFF_FEAT_##name,
    SKIFF_FEAT_TYPES(SKIFF__FEAT_TYPE_ENUM)
#undef SKIFF__FEAT_TYPE_ENUM
};

/* "INT64" ... for a type; -1 from parse when the name is unknown. */
const char *skiff_feat_type_name(enum skiff_feat_type t);
int skiff_feat_type_parse(const char *name);

/* One column. Integers, booleans (0/1) and timestamps (UTC µs) live in i64,
 * DOUBLE and FLOAT (rounded to float precision) in f64, strings as offsets
 * into one pool: cell i is pool + off[i], NUL-terminated. A typed column may
 * keep its cells' text in off/pool too (keep_text); off is NULL otherwise.
 * valid[i] is 0 for a null cell (an empty CSV cell). */
struct skiff_feat_column {
    char *name;
    enum skiff_feat_type type;
    int64_t *i64;
    double *f64;
    size_t *off;
    char *pool;
    size_t pool_len, pool_cap;
    uint8_t *valid;
    bool has_text;   /* off/pool in use: STRING, or a typed column's text kept */
};

/* A table owns its columns and their memory. */
struct skiff_feat_table {
    size_t nrows, ncols;
    struct skiff_feat_column *cols;
    size_t cap;      /* rows allocated */
    size_t *line;    /* 1-based source line of each row (CSV), for errors; may be NULL */
    char *name;      /* file name used in errors */
};

/* An empty table of the given columns (names copied). Caller frees with
 * skiff_feat_table_free. */
int skiff_feat_table_new(const char *name, const char *const *names,
                         const enum skiff_feat_type *types, size_t ncols,
                         struct skiff_feat_table **out, struct skiff_err *err);
void skiff_feat_table_free(struct skiff_feat_table *t);
/* The column named `name`, or -1. */
long skiff_feat_table_col(const struct skiff_feat_table *t, const char *name);
/* Appends nrows null rows (all cells invalid) to every column. */
int skiff_feat_table_grow(struct skiff_feat_table *t, size_t nrows, struct skiff_err *err);
/* Sets cell (row, col) from a string: the pool keeps a copy. */
int skiff_feat_table_set_str(struct skiff_feat_table *t, size_t row, size_t col, const char *s,
                             size_t len, struct skiff_err *err);
/* Borrowed string of a STRING cell, valid until the table is freed; NULL when null. */
const char *skiff_feat_table_str(const struct skiff_feat_table *t, size_t row, size_t col);

/* ---- CSV ---- */

/* A column to read and the type to read it as. */
struct skiff_feat_csv_col {
    const char *name;
    enum skiff_feat_type type;
    bool required;   /* an empty cell is an error (with its position), not null */
};

struct skiff_feat_csv_opts {
    const struct skiff_feat_csv_col *cols;  /* columns wanted; missing from the header: error */
    size_t ncols;
    bool keep_others;          /* other header columns too, as STRING (entity files) */
    const char *const *rename_from;   /* fieldMapping: header name -> rename_to[i] */
    const char *const *rename_to;
    size_t nrename;
    bool skip_bad_rows;        /* a bad value skips its row (counted) instead of failing */
    bool keep_text;            /* typed columns also keep each cell's text (off/pool), which
                                  skiff_feat_csv_write then writes back unchanged */
    size_t max_bytes;          /* cap on the file's size, 0 = 16 GiB */
    size_t chunk_bytes;        /* a file is read and parsed this many bytes at a time, so
                                  memory is the table plus one chunk; 0 = 32 MiB */
    bool progress;             /* a progress bar on stderr while reading (the caller
                                  decides: the CLI sets it when stderr is a terminal) */
};

/* Reads a CSV file with a header row into a typed table; `path` may also be
 * a folder, whose *.csv and *.csv.gz files (same columns) are read in name
 * order as one table. A gzip file (recognised by its content, whatever its
 * name; concatenated members too) is decompressed on the way, and
 * max_bytes then caps the decompressed size. Fields are
 * separated by commas; a field in double quotes may hold commas, newlines
 * and doubled quotes (""); CRLF line ends are accepted; an empty cell is
 * null. Values parse by their column's type: integers in range, decimals
 * (strtod), booleans true/false/1/0 (any case), timestamps by
 * skiff_time_parse (RFC 3339 with offsets, epoch s or ms) to UTC µs.
 *
 * A value that does not parse is SKIFF_EPARSE with err->where/line/col the
 * file, line and 1-based character column of the cell, and the value and
 * column named in the message; with skip_bad_rows the row is dropped and
 * counted in *skipped (may be NULL). Columns come out in `cols` order, or,
 * with keep_others, in header order. Caller frees *out. */
int skiff_feat_csv_read(const char *path, const struct skiff_feat_csv_opts *o,
                        struct skiff_feat_table **out, size_t *skipped, struct skiff_err *err);
/* As skiff_feat_csv_read over text[len]; `name` is used in errors. */
int skiff_feat_csv_parse(const char *text, size_t len, const char *name,
                         const struct skiff_feat_csv_opts *o, struct skiff_feat_table **out,
                         size_t *skipped, struct skiff_err *err);

/* Writes the tables side by side (same nrows) as CSV with a header: null is
 * an empty cell, doubles in the shortest form that reads back exactly,
 * booleans true/false, timestamps RFC 3339 UTC (with microseconds when they
 * have any); strings are quoted when they hold a comma, quote or line end. */
int skiff_feat_csv_write(FILE *f, const struct skiff_feat_table *const *tables, size_t ntables,
                         struct skiff_err *err);

/* ---- definitions ---- */

enum skiff_feat_agg_fn {
    SKIFF_FEAT_AGG_COUNT,
    SKIFF_FEAT_AGG_SUM,
    SKIFF_FEAT_AGG_AVG,
    SKIFF_FEAT_AGG_MIN,
    SKIFF_FEAT_AGG_MAX,
    SKIFF_FEAT_AGG_STDDEV,
    SKIFF_FEAT_AGG_COUNT_DISTINCT,
    SKIFF_FEAT_AGG_LAST,
};

struct skiff_feat_expr;   /* a parsed derived-field expression */

struct skiff_feat_entity {
    const char *name;
    const char *join_key;          /* one join key per entity, as in Feast */
    enum skiff_feat_type type;     /* valueType, STRING when not given */
};

/* Where a DataSource's rows come from: a CSV file or folder (path set), or
 * PostgreSQL (pg_table or pg_query set). The PostgreSQL connection is never
 * part of the definition, so no password is ever in YAML: it is the
 * connection string or URL in SKIFF_FEATURES_POSTGRES_URL when set, else
 * libpq's own defaults (PGHOST, PGPORT, PGDATABASE, PGUSER, PGSERVICE, and
 * the password from PGPASSFILE / ~/.pgpass or the service file). */
struct skiff_feat_source {
    const char *name;
    char *path;                    /* resolved against the defining file's folder */
    const char *pg_table;          /* postgres: {table: [schema.]name} */
    const char *pg_query;          /* postgres: {query: SELECT ...} */
    const char *timestamp_field;   /* default "event_timestamp" */
    const char *created_column;    /* NULL when none */
    const char **rename_from, **rename_to;   /* fieldMapping */
    size_t nrename;
    /* A push source (push: {batchSource}) has no rows of its own: its
     * batchSource, a file or postgres source of the same registry, is what
     * historical retrieval and materialization read (Feast: a PushSource's
     * batch_source is used offline). NULL for other sources, or when the
     * batchSource is not in the registry. */
    const struct skiff_feat_source *batch;
};

struct skiff_feat_field {
    const char *name;
    enum skiff_feat_type type;
};

struct skiff_feat_agg {
    const char *name;
    enum skiff_feat_agg_fn fn;
    const char *column;            /* NULL: count of events */
    enum skiff_feat_type column_type;
    int64_t window_us;             /* > 0; the window is (t - window, t] */
    enum skiff_feat_type out_type;
};

struct skiff_feat_derived {
    const char *name;
    const char *text;
    struct skiff_feat_expr *expr;
};

struct skiff_feat_view {
    const char *name;
    const struct skiff_feat_entity **entities;
    size_t nentities;
    const struct skiff_feat_source *source;
    int64_t ttl_us;                /* 0 = no limit */
    bool online;
    struct skiff_feat_field *fields;      /* latest value as of t, within ttl */
    size_t nfields;
    struct skiff_feat_agg *aggs;          /* over (t - window, t] */
    size_t naggs;
    struct skiff_feat_derived *derived;   /* expressions over the above */
    size_t nderived;
};

/* A view and the features of it a service asks for. */
struct skiff_feat_projection {
    const struct skiff_feat_view *view;
    const char **features;         /* NULL with nfeatures 0: all of the view's */
    size_t nfeatures;
};

struct skiff_feat_service {
    const char *name;
    struct skiff_feat_projection *proj;
    size_t nproj;
};

struct skiff_feat_registry;

/* Loads the Entity, DataSource, FeatureView and FeatureService documents of
 * a YAML file, or of every .yaml or .yml file of a folder (other kinds are
 * skipped). Each document is checked by its kind's validator as `skiff
 * apply` does (names follow Feast: letters, digits, '_', '-', '.'); references
 * (a view's entities and source, a service's views and features, names in
 * derived expressions) are checked once everything is loaded. Relative
 * source paths resolve against the folder of the file that defines them.
 * Errors carry file:line:col. Caller frees *out. */
int skiff_feat_registry_load(const char *path, struct skiff_feat_registry **out,
                             struct skiff_err *err);
/* As skiff_feat_registry_load over stored objects: `objects` is a JSON
 * array of resources (other kinds skipped), each validated again; relative
 * source paths resolve against base_dir. Errors name the object and the
 * field's path. The registry keeps references to the objects (borrowed
 * strings): `objects` may be released by the caller. Caller frees *out. */
int skiff_feat_registry_from_objects(const json_t *objects, const char *base_dir,
                                     struct skiff_feat_registry **out, struct skiff_err *err);
void skiff_feat_registry_free(struct skiff_feat_registry *r);
/* Borrowed, valid until the registry is freed; NULL when absent. */
const struct skiff_feat_service *skiff_feat_service_get(const struct skiff_feat_registry *r,
                                                        const char *name);
const struct skiff_feat_view *skiff_feat_view_get(const struct skiff_feat_registry *r,
                                                  const char *name);

/* ---- the engine ---- */

/* Point-in-time pick among one key's feature rows, sorted ascending by
 * (timestamp, created): the index of the row a lookup at time `t` sees, or
 * -1. The rule (Feast's, specs/feast.md 3.2): the latest row with
 * ts <= t, and, when ttl_us > 0, ts >= t - ttl_us (both ends inclusive);
 * among rows of one timestamp the last in order (largest created).
 *
 * Worked example, ttl 1h, rows at 09:00 (created 1), 10:00 (created 1),
 * 10:00 (created 2): t = 10:00 -> the third row (tie -> larger created);
 * t = 09:59 -> the first; t = 11:00 -> the third (11:00 - 1h = 10:00 is
 * inside); t = 11:00:00.000001 -> -1 (expired); t = 08:59 -> -1. */
long skiff_feat_pit_pick(const int64_t *ts, size_t n, int64_t t, int64_t ttl_us);

/* A value computed for one entity row: DOUBLE/FLOAT in f, the rest in i. */
struct skiff_feat_value {
    bool valid;
    enum skiff_feat_type type;
    int64_t i;
    double f;
    const char *s;   /* STRING: borrowed from the input */
};

/* One entity's events for skiff_feat_agg_compute, ascending by time
 * (ties in the order the source gives them). vals/strs hold the aggregated
 * column (numeric as double, STRING in strs); valid[i] 0 = null. */
struct skiff_feat_events {
    const int64_t *ts;
    const double *vals;
    const char *const *strs;
    const uint8_t *valid;
    size_t n;
};

/* Reusable memory for count_distinct: caller-owned, starts {NULL, 0}, grown
 * as needed; the caller frees buf once done. One per thread. */
struct skiff_feat_scratch {
    void *buf;
    size_t cap;
};

/* Computes aggregation `a` as of time t over the events in the half-open
 * window (t - window, t]: an event exactly at t counts, one exactly at
 * t - window does not (DESIGN.md). Null values are skipped.
 *   count           number of non-null values (of events when no column); 0 if none
 *   sum             sum; 0 when none
 *   avg             sum / n; null when none
 *   min, max        null when none
 *   stddev          sample standard deviation (ddof = 1, pandas' default),
 *                   sqrt(sum((x - mean)^2) / (n - 1)), two passes for
 *                   accuracy; null when n < 2
 *   count_distinct  distinct non-null values; 0 if none
 *   last            the latest non-null value
 * Worked example, window 1h, events 09:00 -> 10, 09:30 -> 20, 10:00 -> 60;
 * at t = 10:00: (09:00, 10:00] holds 20 and 60: count 2, sum 80, avg 40,
 * min 20, max 60, stddev sqrt(((20-40)^2 + (60-40)^2) / 1) = 28.284...,
 * last 60. `scratch` is the caller's (count_distinct sorts the window's
 * values in it). SKIFF_ENOMEM is the only error. Thread-safe. */
int skiff_feat_agg_compute(const struct skiff_feat_agg *a, const struct skiff_feat_events *ev,
                           int64_t t, struct skiff_feat_value *out,
                           struct skiff_feat_scratch *scratch, struct skiff_err *err);

/* Derived-field expressions: numbers, feature names, + - * / (unary minus
 * too) and parentheses, with the usual precedence, and one comparison
 * (< <= > >= == !=, yielding 1 or 0) at the top. A null operand makes the
 * result null; division by zero is null. Parse errors are SKIFF_EINVAL
 * naming the 1-based character position. `names` are the fields the
 * expression may use; an index into it is what eval reads. Caller frees
 * with skiff_feat_expr_free. */
int skiff_feat_expr_parse(const char *text, const char *const *names, size_t nnames,
                          struct skiff_feat_expr **out, struct skiff_err *err);
void skiff_feat_expr_free(struct skiff_feat_expr *e);
/* Evaluates with vals[i]/valid[i] the value of names[i]. Returns false for
 * null. Thread-safe. */
bool skiff_feat_expr_eval(const struct skiff_feat_expr *e, const double *vals,
                          const uint8_t *valid, double *out);

struct skiff_feat_historical_opts {
    bool full_feature_names;   /* "view__feature" instead of "feature" */
    bool skip_bad_rows;        /* skip source rows with bad values (counted) */
    int threads;               /* 0 = 2 */
    bool progress;             /* progress bars on stderr for reading and joining */
};

/* Historical retrieval (training data): for each row of `entities` (its
 * join-key columns and event_timestamp, as UNIX_TIMESTAMP), each view of the
 * service contributes its fields as of that time (skiff_feat_pit_pick), its
 * aggregations (skiff_feat_agg_compute) and derived fields. A null or
 * unknown key gets nulls (its aggregations see no events: counts and sums
 * are 0). Two threads (o->threads) split the entity rows; the function
 * itself may be called from any thread. *out has one column per requested
 * feature, one
 * row per entity row, in the entity rows' order; the caller writes it next
 * to `entities` and frees it. *skipped (may be NULL) counts skipped source
 * rows. Errors: SKIFF_EINVAL (a missing join-key column, a name collision
 * without full names), SKIFF_EPARSE (bad source data, with position). */
int skiff_feat_historical(const struct skiff_feat_service *svc,
                          const struct skiff_feat_table *entities,
                          const struct skiff_feat_historical_opts *o,
                          struct skiff_feat_table **out, size_t *skipped, struct skiff_err *err);

/* Reads the columns `o` asks for from a DataSource, whatever its kind (CSV
 * file or folder, PostgreSQL table or query), as skiff_feat_csv_read does:
 * the same types, fieldMapping, null and bad-value rules. PostgreSQL rows
 * are fetched with COPY ... TO STDOUT (FORMAT csv) of the wanted columns,
 * each cast to text in an ISO, UTC session; a bad value is reported at
 * "postgres:TABLE" (or "postgres:query"), line = 1 + its row number.
 * Connection failures are SKIFF_EUNAVAIL, SQL errors SKIFF_EINVAL, both
 * with the server's message. Caller frees *out. */
int skiff_feat_source_read(const struct skiff_feat_source *s, const struct skiff_feat_csv_opts *o,
                           struct skiff_feat_table **out, size_t *skipped, struct skiff_err *err);

/* Reads an entity file: every column kept as STRING (passed through
 * unchanged), event_timestamp as UNIX_TIMESTAMP, and the join keys the
 * service uses typed as their entities' valueType. Caller frees *out. */
int skiff_feat_entities_read(const struct skiff_feat_service *svc, const char *path,
                             struct skiff_feat_table **out, struct skiff_err *err);

/* ---- plan ---- */

/* The registry's objects (Entity, DataSource, FeatureView, FeatureService
 * documents as loaded): a JSON array, borrowed until the registry is freed. */
const json_t *skiff_feat_registry_objects(const struct skiff_feat_registry *r);

/* What applying `local` (objects from files) would change against `stored`
 * (the platform's objects), matched by kind and name; only spec is
 * compared. *out is a JSON array, kinds in dependency order (Entity,
 * DataSource, FeatureView, FeatureService), of
 *   {"kind", "name", "action": "add" | "change" | "unchanged" | "remove",
 *    "fields": ["spec.ttl", "spec.fields[0].dtype", ...]}
 * where "remove" is an object only on the platform (apply keeps it) and
 * fields lists the paths that differ for "change". Caller json_decref's
 * *out. SKIFF_ENOMEM is the only error. */
int skiff_feat_plan(const json_t *local, const json_t *stored, json_t **out,
                    struct skiff_err *err);

/* Whether applying `local` over `stored` keeps every FeatureService on the
 * platform working: the objects after the apply (stored ones, replaced by
 * local ones of the same kind and name) must still resolve (a service's
 * views and features, a view's entities and source), and each feature a
 * stored service reads must keep its type. SKIFF_ECONFLICT with the reason
 * otherwise ("the change breaks FeatureService 'x', which reads
 * 'user_stats:tx_count_1h' as INT64: it would become DOUBLE"). */
int skiff_feat_plan_check(const json_t *local, const json_t *stored, struct skiff_err *err);

/* ---- HTTP API ---- */

/* The feature store's route table: POST /api/v1/features/historical
 * (scope features:read), historical retrieval with the definitions stored
 * on the platform (docs/features.md). Register with the platform's struct
 * skiff_store * as ctx. Static; handlers are thread-safe. */
const struct skiff_route *skiff_feat_routes(size_t *n);

struct skiff_store;
/* Every stored Entity, DataSource, FeatureView and FeatureService of the
 * platform, in one array (caller decrefs), for
 * skiff_feat_registry_from_objects: what the historical API, the feature
 * server and serving's enrichment resolve definitions from. */
int skiff_feat_stored_objects(struct skiff_store *store, json_t **out, struct skiff_err *err);

/* ---- admission (the server-side breaking-change check) ---- */

/* Registers the feature store's admission callback (skiff_resource_set_admission,
 * name "features.skiff.dev") for Entity, DataSource, FeatureView and
 * FeatureService, so every write of them, whoever sends it (`skiff apply`,
 * curl, a GitOps sync, a workflow step), is refused when it breaks a
 * FeatureService in use: a service stored on the platform whose
 * definitions resolve today must still resolve after the write (its views
 * and their features, entities and sources, a push source's batchSource),
 * and each feature it reads must keep its type (skiff_feat_plan_check).
 * Deleting a view a service reads is refused the same way. A write may
 * still leave references dangling when nothing worked through them before
 * (a service applied before its views), as on Kubernetes. The refusal is
 * HTTP 403: admission "features.skiff.dev" denied the request: the change
 * breaks FeatureService 'x' ... Call once at start-up (skiff up);
 * skiff_feat_admission_remove undoes it. */
int skiff_feat_admission_install(struct skiff_err *err);
void skiff_feat_admission_remove(void);

/* The admission's judgement, without a store: whether writing `new_obj`
 * (NULL: deleting) as the feature object (kind, name) over `stored` (the
 * platform's feature objects, a JSON array) keeps every FeatureService in
 * use working, as skiff_feat_admission_install describes. 0, or
 * SKIFF_ECONFLICT with the reason ("the change breaks FeatureService
 * 'fraud', which is in use: FeatureService fraud: field /spec/features/0:
 * view 'stats' has no feature 'a'"). */
int skiff_feat_admit_check(const json_t *stored, const char *kind, const char *name,
                           const json_t *new_obj, struct skiff_err *err);

/* An order in which to send the feature objects of `local` (JSON array) to
 * a platform holding `stored`, one at a time, so the platform admits each
 * (skiff_feat_admit_check on the state so far): `order` (n = size of
 * local) receives indices into local. Greedy, in the files' order where it
 * can: dropping a field and the service's use of it is sent service first;
 * adding a field and a service's use of it, view first. SKIFF_ECONFLICT
 * when no order exists (a change that both adds and removes what a service
 * reads: apply it in steps), with the reason of the first object refused. */
int skiff_feat_apply_order(const json_t *stored, const json_t *local, size_t *order,
                           struct skiff_err *err);

#endif
