/* Unit tests for src/features: CSV reading and writing, the point-in-time
 * rule, windowed aggregations, derived expressions, definitions and
 * historical retrieval end to end on small files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/features.h"
#include "skiff/time.h"
#include "features/features_int.h"
#include "testutil.h"

#define H (3600 * SKIFF_US_PER_SEC)

static struct skiff_feat_table *parse(const char *text, const struct skiff_feat_csv_col *cols,
                                      size_t ncols, bool keep_others, struct skiff_err *err)
{
    struct skiff_feat_csv_opts o = {0};
    struct skiff_feat_table *t = NULL;
    o.cols = cols;
    o.ncols = ncols;
    o.keep_others = keep_others;
    skiff_feat_csv_parse(text, strlen(text), "t.csv", &o, &t, NULL, err);
    return t;
}

static void test_csv_types_quotes_nulls(void **state)
{
    static const struct skiff_feat_csv_col cols[] = {
        {"n", SKIFF_FEAT_INT64, false},  {"x", SKIFF_FEAT_DOUBLE, false},
        {"b", SKIFF_FEAT_BOOL, false},   {"ts", SKIFF_FEAT_UNIX_TIMESTAMP, false},
        {"f", SKIFF_FEAT_FLOAT, false},  {"i", SKIFF_FEAT_INT32, false},
    };
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_feat_table *t = parse(
        "s,n,x,b,ts,f,i\r\n"
        "\"a,b\",1,2.5,true,2026-01-01T01:00:00+01:00,0.1,-7\r\n"
        "\"say \"\"hi\"\"\",,,False,1767225600000,,\n"
        "\n"
        "\"two\nlines\",-9223372036854775808,1e300,0,1767225600,3,2147483647\n"
        "\"\",3,4,1,2026-01-01,5,6",
        cols, 6, true, &err);
    assert_non_null(t);
    assert_int_equal(t->nrows, 4);
    assert_int_equal(t->ncols, 7);
    assert_string_equal(t->cols[0].name, "s");   /* keeping every column: header order */
    assert_string_equal(skiff_feat_table_str(t, 0, 0), "a,b");
    assert_string_equal(skiff_feat_table_str(t, 1, 0), "say \"hi\"");
    assert_string_equal(skiff_feat_table_str(t, 2, 0), "two\nlines");
    assert_string_equal(skiff_feat_table_str(t, 3, 0), "");   /* quoted empty: a string */
    assert_int_equal(t->cols[1].i64[0], 1);
    assert_int_equal(t->cols[1].valid[1], 0);                   /* empty: null */
    assert_true(t->cols[1].i64[2] == INT64_MIN);
    assert_true(t->cols[2].f64[0] == 2.5);
    assert_int_equal(t->cols[2].valid[1], 0);
    assert_int_equal(t->cols[3].i64[0], 1);
    assert_int_equal(t->cols[3].i64[1], 0);
    /* all four timestamps are 2026-01-01T00:00:00Z: offset, epoch ms, epoch s, date */
    for (size_t r = 0; r < 4; r++)
        assert_true(t->cols[4].i64[r] == INT64_C(1767225600) * SKIFF_US_PER_SEC);
    assert_true(t->cols[5].f64[0] == (double)0.1f);
    assert_int_equal(t->cols[6].i64[2], 2147483647);
    assert_int_equal(t->line[2], 5);    /* the blank line counts */
    assert_int_equal(t->line[3], 7);    /* the quoted newline too */
    skiff_feat_table_free(t);
}

static void expect_csv_error(const char *text, const struct skiff_feat_csv_col *cols,
                             size_t ncols, const char *want)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char msg[1024];
    struct skiff_feat_table *t = parse(text, cols, ncols, false, &err);
    assert_null(t);
    skiff_err_format(&err, msg, sizeof msg);
    assert_string_equal(msg, want);
}

static void test_csv_bad_values_have_positions(void **state)
{
    static const struct skiff_feat_csv_col num[] = {{"n", SKIFF_FEAT_INT64, false},
                                                    {"x", SKIFF_FEAT_DOUBLE, false}};
    static const struct skiff_feat_csv_col i32[] = {{"i", SKIFF_FEAT_INT32, false}};
    static const struct skiff_feat_csv_col ts[] = {{"ts", SKIFF_FEAT_UNIX_TIMESTAMP, true}};
    static const struct skiff_feat_csv_col b[] = {{"b", SKIFF_FEAT_BOOL, false}};

    expect_csv_error("n,x\n1,2\n3,abc\n", num, 2,
                     "t.csv:3:3: column 'x': \"abc\" is not a valid DOUBLE");
    expect_csv_error("x,n\n\"1e3\",12x\n", num, 2,
                     "t.csv:2:7: column 'n': \"12x\" is not a valid INT64");
    expect_csv_error("i\n2147483648\n", i32, 1,
                     "t.csv:2:1: column 'i': \"2147483648\" is not a valid INT32");
    expect_csv_error("b\nyes\n", b, 1, "t.csv:2:1: column 'b': \"yes\" is not a valid BOOL");
    expect_csv_error("a,ts\nx,2026-13-01\n", ts, 1,
                     "t.csv:2:3: column 'ts': \"2026-13-01\" is not a timestamp (want RFC 3339 "
                     "such as 2026-11-27T09:14:02Z, or epoch seconds or milliseconds)");
    expect_csv_error("a,ts\nx,\n", ts, 1, "t.csv:2:3: column 'ts': a value is required");
    expect_csv_error("n,x\n1,2,3\n", num, 2, "t.csv:2:1: the row has 3 fields, the header 2");
    expect_csv_error("n,x\n\"1,2\n", num, 2, "t.csv:2:1: unterminated quoted field");
    expect_csv_error("n,x\n\"1\"2,3\n", num, 2,
                     "t.csv:2:4: unexpected character after a closing quote (a quote inside a "
                     "quoted field is written \"\")");
    expect_csv_error("a,b\n1,2\n", num, 2, "t.csv:1:1: no column 'n' in the header");
    expect_csv_error("", num, 2, "t.csv:1:1: empty file: want a header row");

    /* with skip_bad_rows the row goes and is counted */
    struct skiff_feat_csv_opts o = {.cols = num, .ncols = 2, .skip_bad_rows = true};
    struct skiff_feat_table *t = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    size_t skipped = 0;
    const char *text = "n,x\n1,2\nzz,3\n4,5,6\n7,8\n";
    assert_int_equal(skiff_feat_csv_parse(text, strlen(text), "t.csv", &o, &t, &skipped, &err), 0);
    assert_int_equal(skipped, 2);
    assert_int_equal(t->nrows, 2);
    assert_int_equal(t->cols[0].i64[1], 7);
    assert_int_equal(t->line[1], 5);
    skiff_feat_table_free(t);
}

static void test_csv_field_mapping_and_duplicates(void **state)
{
    static const struct skiff_feat_csv_col cols[] = {{"amount", SKIFF_FEAT_DOUBLE, false}};
    static const char *const from[] = {"amt"}, *const to[] = {"amount"};
    struct skiff_feat_csv_opts o = {.cols = cols, .ncols = 1, .rename_from = from,
                                    .rename_to = to, .nrename = 1};
    struct skiff_feat_table *t = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    const char *text = "id,amt\n1,2.5\n";

    /* CRLF on a last line without its line end */
    t = parse("amount,q\r\n1,\"a\"\r", cols, 1, true, &err);
    assert_non_null(t);
    assert_true(t->cols[0].f64[0] == 1);
    assert_string_equal(skiff_feat_table_str(t, 0, 1), "a");
    skiff_feat_table_free(t);

    /* fieldMapping renames a source column before it is looked up */
    assert_int_equal(skiff_feat_csv_parse(text, strlen(text), "t.csv", &o, &t, NULL, &err), 0);
    assert_string_equal(t->cols[0].name, "amount");
    assert_true(t->cols[0].f64[0] == 2.5);
    skiff_feat_table_free(t);

    /* a wanted column twice in the header is ambiguous */
    static const struct skiff_feat_csv_col x[] = {{"x", SKIFF_FEAT_INT64, false}};
    expect_csv_error("x,y,x\n1,2,3\n", x, 1, "t.csv:1:1: column 'x' appears twice");
}

/* A body over 4 MiB without quotes is parsed in two halves at once: the
 * result, the line numbers and the errors must not show it. */
static void test_csv_large_file_in_two_halves(void **state)
{
    static const struct skiff_feat_csv_col cols[] = {{"i", SKIFF_FEAT_INT64, false},
                                                    {"x", SKIFF_FEAT_DOUBLE, false}};
    struct skiff_feat_csv_opts o = {.cols = cols, .ncols = 2, .keep_others = true};
    const size_t rows = 300000;
    struct skiff_buf b = SKIFF_BUF_INIT;
    struct skiff_feat_table *t = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    size_t skipped = 0, bad_at = rows - 10;

    assert_int_equal(skiff_buf_puts(&b, "i,s,x\n"), 0);
    for (size_t r = 0; r < rows; r++) {
        if (r == rows / 2)
            assert_int_equal(skiff_buf_puts(&b, "\n"), 0);   /* a blank line */
        assert_int_equal(skiff_buf_appendf(&b, "%zu,name-%zu,%zu.5\n", r, r % 97, r), 0);
    }
    assert_true(b.len > (4u << 20));
    assert_int_equal(skiff_feat_csv_parse(b.ptr, b.len, "big.csv", &o, &t, &skipped, &err), 0);
    assert_int_equal(t->nrows, rows);
    for (size_t r = 0; r < rows; r += 997) {
        assert_int_equal(t->cols[0].i64[r], r);
        assert_true(t->cols[2].f64[r] == (double)r + 0.5);
        assert_int_equal(t->line[r], r + 2 + (r >= rows / 2));
    }
    assert_int_equal(t->line[rows - 1], rows + 2);
    skiff_feat_table_free(t);

    /* an error in the second half names its own line */
    char *p = strstr(b.ptr + b.len - 400, "\n") + 1;
    while (strncmp(p, "299990,", 7) != 0)
        p = strchr(p, '\n') + 1;
    p[0] = 'z';
    assert_int_equal(skiff_feat_csv_parse(b.ptr, b.len, "big.csv", &o, &t, &skipped, &err),
                     SKIFF_EPARSE);
    assert_int_equal(err.line, (int)(bad_at + 3));
    assert_int_equal(err.col, 1);
    o.skip_bad_rows = true;
    assert_int_equal(skiff_feat_csv_parse(b.ptr, b.len, "big.csv", &o, &t, &skipped, &err), 0);
    assert_int_equal(skipped, 1);
    assert_int_equal(t->nrows, rows - 1);
    skiff_feat_table_free(t);
    skiff_buf_release(&b);
}

/* The decimal and epoch fast paths give exactly what strtod and
 * skiff_time_parse give, over random digits, exponents and the edges of
 * the fast path (19 digits, 2^53, 10^22) where the fallback takes over. */
static void test_csv_fast_paths_match_strtod(void **state)
{
    static const struct skiff_feat_csv_col cols[] = {{"x", SKIFF_FEAT_DOUBLE, false},
                                                    {"t", SKIFF_FEAT_UNIX_TIMESTAMP, false}};
    static const char *const edges[] = {
        "0", "-0", "0.0", "00012.5000", ".5", "5.", "-.25", "+7", "1e22", "1e23", "1e-22",
        "1e-23", "9007199254740992", "9007199254740993", "9007199254740993.0",
        "1234567890123456789", "12345678901234567890", "0.1", "0.30000000000000004",
        "2.2250738585072014e-308", "1.7976931348623157e308", "4.9e-324", "123456.789e3",
        "1E5", "1e+5", "inf", "-inf", "nan", "0x1p3", "1e400", "1e-400"};
    struct skiff_feat_csv_opts o = {.cols = cols, .ncols = 2};
    struct skiff_buf b = SKIFF_BUF_INIT;
    struct skiff_feat_table *t = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    char **texts = calloc(5000, sizeof *texts);
    size_t n = 0;
    unsigned seed = 12345;

    (void)state;
    assert_non_null(texts);
    assert_int_equal(skiff_buf_puts(&b, "x,t\n"), 0);
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
        texts[n++] = strdup(edges[i]);
    while (n < 5000) {
        char tmp[64];
        int len = 0, digits = 1 + (int)(rand_r(&seed) % 22), point = (int)(rand_r(&seed) % 24);
        if (rand_r(&seed) % 2)
            tmp[len++] = '-';
        for (int d = 0; d < digits; d++) {
            if (d == point)
                tmp[len++] = '.';
            tmp[len++] = (char)('0' + rand_r(&seed) % 10);
        }
        if (rand_r(&seed) % 4 == 0)
            len += snprintf(tmp + len, sizeof tmp - (size_t)len, "e%d",
                            (int)(rand_r(&seed) % 61) - 30);
        tmp[len] = '\0';
        texts[n++] = strdup(tmp);
    }
    for (size_t i = 0; i < n; i++) {
        assert_non_null(texts[i]);
        assert_int_equal(skiff_buf_appendf(&b, "%s,%s\n", texts[i],
                                           i % 3 == 0 ? "1795737600" : i % 3 == 1
                                               ? "-1795737600123" : "2026-11-27T09:00:00Z"),
                         0);
    }
    assert_int_equal(skiff_feat_csv_parse(b.ptr, b.len, "fast.csv", &o, &t, NULL, &err), 0);
    assert_int_equal(t->nrows, n);
    for (size_t i = 0; i < n; i++) {
        double want = strtod(texts[i], NULL);
        int64_t ts = 0;
        assert_int_equal(skiff_time_parse(i % 3 == 0 ? "1795737600" : i % 3 == 1
                                              ? "-1795737600123" : "2026-11-27T09:00:00Z",
                                          &ts, NULL), 0);
        if (isnan(want))
            assert_true(isnan(t->cols[0].f64[i]));
        else if (memcmp(&want, &t->cols[0].f64[i], sizeof want) != 0)
            fail_msg("'%s': got %.17g, strtod %.17g", texts[i], t->cols[0].f64[i], want);
        assert_true(t->cols[1].i64[i] == ts);
        free(texts[i]);
    }
    free(texts);
    skiff_feat_table_free(t);
    skiff_buf_release(&b);
}

/* A file read in small chunks (and gzipped) gives the table that parsing
 * it whole gives: records cut across chunks, quoted line ends near the
 * cuts, CRLF, blank lines; an error in a later chunk names its own line. */
static void test_csv_chunked_and_gzip_reads(void **state)
{
    static const struct skiff_feat_csv_col cols[] = {{"i", SKIFF_FEAT_INT64, false},
                                                    {"s", SKIFF_FEAT_STRING, false},
                                                    {"x", SKIFF_FEAT_DOUBLE, false}};
    struct skiff_feat_csv_opts o = {.cols = cols, .ncols = 3};
    struct skiff_buf b = SKIFF_BUF_INIT;
    struct skiff_feat_table *whole = NULL, *t = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    char dir[] = "/tmp/skiff-test-chunks-XXXXXX", path[256], gzpath[256];
    size_t chunks[] = {7, 64, 1000, 0};
    gzFile gz;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(skiff_buf_puts(&b, "i,s,x\r\n"), 0);
    for (int r = 0; r < 500; r++) {
        if (r % 50 == 7)
            assert_int_equal(skiff_buf_puts(&b, "\n"), 0);
        assert_int_equal(skiff_buf_appendf(&b, r % 3 ? "%d,plain%d,%d.25\n"
                                                     : "%d,\"two\nlines, \"\"%d\"\"\",%d.25\r\n",
                                           r, r, r), 0);
    }
    assert_int_equal(skiff_feat_csv_parse(b.ptr, b.len, "t.csv", &o, &whole, NULL, &err), 0);
    snprintf(path, sizeof path, "%s/t.csv", dir);
    snprintf(gzpath, sizeof gzpath, "%s/t.csv.gz", dir);
    assert_non_null(f = fopen(path, "w"));
    assert_int_equal(fwrite(b.ptr, 1, b.len, f), b.len);
    fclose(f);
    assert_non_null(gz = gzopen(gzpath, "wb"));
    assert_int_equal(gzwrite(gz, b.ptr, (unsigned)b.len), (int)b.len);
    gzclose(gz);
    for (size_t k = 0; k < sizeof chunks / sizeof *chunks; k++)
        for (int z = 0; z < 2; z++) {
            o.chunk_bytes = chunks[k];
            assert_int_equal(skiff_feat_csv_read(z ? gzpath : path, &o, &t, NULL, &err), 0);
            assert_int_equal(t->nrows, whole->nrows);
            for (size_t r = 0; r < t->nrows; r++) {
                assert_int_equal(t->cols[0].i64[r], whole->cols[0].i64[r]);
                assert_string_equal(skiff_feat_table_str(t, r, 1),
                                    skiff_feat_table_str(whole, r, 1));
                assert_true(t->cols[2].f64[r] == whole->cols[2].f64[r]);
                assert_int_equal(t->line[r], whole->line[r]);
            }
            skiff_feat_table_free(t);
        }
    /* a bad value late in the file: its line, whatever the chunk size */
    char *bad = strstr(b.ptr, "\n487,");
    assert_non_null(bad);
    bad[1] = 'z';
    assert_non_null(f = fopen(path, "w"));
    assert_int_equal(fwrite(b.ptr, 1, b.len, f), b.len);
    fclose(f);
    o.chunk_bytes = 64;
    assert_int_equal(skiff_feat_csv_read(path, &o, &t, NULL, &err), SKIFF_EPARSE);
    assert_int_equal(err.line, (int)whole->line[487]);
    assert_int_equal(err.col, 1);
    /* a cap on the size read */
    o.max_bytes = 100;
    assert_int_equal(skiff_feat_csv_read(gzpath, &o, &t, NULL, &err), SKIFF_ETOOBIG);
    skiff_feat_table_free(whole);
    skiff_buf_release(&b);
    unlink(path);
    unlink(gzpath);
    rmdir(dir);
}

/* The plan's worked example (src/features/plan.c), plus an added and a
 * platform-only object. */
static void test_plan_diff(void **state)
{
    json_t *stored = json_loads(
        "[{\"kind\":\"FeatureView\",\"metadata\":{\"name\":\"v\",\"uid\":\"1\"},"
        "\"spec\":{\"ttl\":\"7d\",\"fields\":[{\"name\":\"a\",\"dtype\":\"INT64\"}]}},"
        "{\"kind\":\"Entity\",\"metadata\":{\"name\":\"gone\"},\"spec\":{}}]", 0, NULL);
    json_t *local = json_loads(
        "[{\"kind\":\"FeatureView\",\"metadata\":{\"name\":\"v\"},"
        "\"spec\":{\"ttl\":\"1d\",\"fields\":[{\"name\":\"a\",\"dtype\":\"DOUBLE\"}],"
        "\"online\":true}},"
        "{\"kind\":\"Entity\",\"metadata\":{\"name\":\"new\"},\"spec\":{}},"
        "{\"kind\":\"Workflow\",\"metadata\":{\"name\":\"w\"},\"spec\":{}}]", 0, NULL);
    struct skiff_err err = SKIFF_ERR_INIT;
    json_t *out = NULL;
    char *text;

    (void)state;
    assert_non_null(stored);
    assert_non_null(local);
    assert_int_equal(skiff_feat_plan(local, stored, &out, &err), 0);
    text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(text,
        "[{\"kind\":\"Entity\",\"name\":\"new\",\"action\":\"add\",\"fields\":[]},"
        "{\"kind\":\"Entity\",\"name\":\"gone\",\"action\":\"remove\",\"fields\":[]},"
        "{\"kind\":\"FeatureView\",\"name\":\"v\",\"action\":\"change\",\"fields\":"
        "[\"spec.ttl\",\"spec.fields[0].dtype\",\"spec.online\"]}]");
    free(text);
    json_decref(out);
    json_decref(local);
    json_decref(stored);
}

static void test_csv_write_round_trip(void **state)
{
    static const struct skiff_feat_csv_col cols[] = {
        {"s", SKIFF_FEAT_STRING, false}, {"x", SKIFF_FEAT_DOUBLE, false},
        {"b", SKIFF_FEAT_BOOL, false},   {"ts", SKIFF_FEAT_UNIX_TIMESTAMP, false},
    };
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_feat_table *t = parse("s,x,b,ts\n\"a \"\"q\"\", b\",0.1,1,1767225600.5\n,,,\n",
                                       cols, 4, false, &err);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    const struct skiff_feat_table *parts[] = {t};

    assert_non_null(t);
    assert_int_equal(skiff_feat_csv_write(f, parts, 1, &err), 0);
    fclose(f);
    assert_string_equal(out, "s,x,b,ts\n\"a \"\"q\"\", b\",0.1,true,2026-01-01T00:00:00.500000Z\n"
                             ",,,\n");
    free(out);

    /* a failing write is an error, not a short file */
    assert_non_null(f = fopen("/dev/full", "w"));
    assert_int_equal(skiff_feat_csv_write(f, parts, 1, &err), SKIFF_EIO);
    assert_non_null(strstr(skiff_err_format(&err, (char[256]){0}, 256), "No space left"));
    fclose(f);
    skiff_feat_table_free(t);
}

static void test_pit_rule(void **state)
{
    /* one key's rows sorted by (ts, created): 09:00, 10:00 (c1), 10:00 (c2) */
    const int64_t ts[] = {9 * H, 10 * H, 10 * H};
    assert_int_equal(skiff_feat_pit_pick(ts, 3, 10 * H, H), 2);          /* tie -> larger created */
    assert_int_equal(skiff_feat_pit_pick(ts, 3, 10 * H - 1, H), 0);
    assert_int_equal(skiff_feat_pit_pick(ts, 3, 11 * H, H), 2);          /* on the ttl bound: in */
    assert_int_equal(skiff_feat_pit_pick(ts, 3, 11 * H + 1, H), -1);     /* expired */
    assert_int_equal(skiff_feat_pit_pick(ts, 3, 9 * H - 1, H), -1);      /* nothing before */
    assert_int_equal(skiff_feat_pit_pick(ts, 3, 1000 * H, 0), 2);        /* ttl 0: no limit */
    assert_int_equal(skiff_feat_pit_pick(ts, 0, 10 * H, 0), -1);
}

static struct skiff_feat_value agg(enum skiff_feat_agg_fn fn, enum skiff_feat_type out_type,
                                   const struct skiff_feat_events *ev, int64_t t)
{
    struct skiff_feat_agg a = {"a", fn, "amount", SKIFF_FEAT_DOUBLE, H, out_type};
    struct skiff_feat_scratch scratch = {NULL, 0};
    struct skiff_feat_value v;
    struct skiff_err err = SKIFF_ERR_INIT;
    assert_int_equal(skiff_feat_agg_compute(&a, ev, t, &v, &scratch, &err), 0);
    free(scratch.buf);
    return v;
}

static void test_aggregation_window_bounds(void **state)
{
    /* the header's worked example: 09:00 -> 10, 09:30 -> 20, 10:00 -> 60, null at 09:45 */
    const int64_t ts[] = {9 * H, 9 * H + H / 2, 9 * H + 3 * H / 4, 10 * H};
    const double vals[] = {10, 20, 0, 60};
    const uint8_t valid[] = {1, 1, 0, 1};
    struct skiff_feat_events ev = {ts, vals, NULL, valid, 4};
    struct skiff_feat_value v;

    v = agg(SKIFF_FEAT_AGG_COUNT, SKIFF_FEAT_INT64, &ev, 10 * H);
    assert_int_equal(v.i, 2);   /* 09:00 is exactly t - 1h: out; 10:00 is t: in */
    v = agg(SKIFF_FEAT_AGG_COUNT, SKIFF_FEAT_INT64, &ev, 10 * H - 1);
    assert_int_equal(v.i, 2);   /* 09:00 in, 10:00 not yet */
    v = agg(SKIFF_FEAT_AGG_SUM, SKIFF_FEAT_DOUBLE, &ev, 10 * H);
    assert_true(v.valid && v.f == 80);
    v = agg(SKIFF_FEAT_AGG_AVG, SKIFF_FEAT_DOUBLE, &ev, 10 * H);
    assert_true(v.valid && v.f == 40);
    v = agg(SKIFF_FEAT_AGG_MIN, SKIFF_FEAT_DOUBLE, &ev, 10 * H);
    assert_true(v.f == 20);
    v = agg(SKIFF_FEAT_AGG_MAX, SKIFF_FEAT_DOUBLE, &ev, 10 * H);
    assert_true(v.f == 60);
    v = agg(SKIFF_FEAT_AGG_STDDEV, SKIFF_FEAT_DOUBLE, &ev, 10 * H);
    assert_true(fabs(v.f - sqrt(800)) < 1e-12);
    v = agg(SKIFF_FEAT_AGG_STDDEV, SKIFF_FEAT_DOUBLE, &ev, 9 * H + H / 2 - 1);
    assert_false(v.valid);      /* one value: no sample deviation */
    v = agg(SKIFF_FEAT_AGG_LAST, SKIFF_FEAT_DOUBLE, &ev, 9 * H + 3 * H / 4);
    assert_true(v.valid && v.f == 20);   /* the null at 09:45 is skipped */
    v = agg(SKIFF_FEAT_AGG_COUNT_DISTINCT, SKIFF_FEAT_INT64, &ev, 10 * H);
    assert_int_equal(v.i, 2);
    /* an empty window: counts and sums 0, the rest null */
    v = agg(SKIFF_FEAT_AGG_COUNT, SKIFF_FEAT_INT64, &ev, 12 * H);
    assert_true(v.valid && v.i == 0);
    v = agg(SKIFF_FEAT_AGG_SUM, SKIFF_FEAT_DOUBLE, &ev, 12 * H);
    assert_true(v.valid && v.f == 0);
    v = agg(SKIFF_FEAT_AGG_AVG, SKIFF_FEAT_DOUBLE, &ev, 12 * H);
    assert_false(v.valid);
    v = agg(SKIFF_FEAT_AGG_MAX, SKIFF_FEAT_DOUBLE, &ev, 8 * H);
    assert_false(v.valid);

    /* count_distinct and last of strings */
    const char *strs[] = {"m1", "m2", "m1", NULL};
    const uint8_t svalid[] = {1, 1, 1, 0};
    struct skiff_feat_events sev = {ts, NULL, strs, svalid, 4};
    v = agg(SKIFF_FEAT_AGG_COUNT_DISTINCT, SKIFF_FEAT_INT64, &sev, 10 * H);
    assert_int_equal(v.i, 2);
    v = agg(SKIFF_FEAT_AGG_LAST, SKIFF_FEAT_STRING, &sev, 10 * H);
    assert_string_equal(v.s, "m1");
    v = agg(SKIFF_FEAT_AGG_COUNT, SKIFF_FEAT_INT64, &sev, 10 * H);
    assert_int_equal(v.i, 2);   /* with a column: its non-null values */
}

static void test_expressions(void **state)
{
    const char *names[] = {"tx_count_1h", "avg_amount_7d"};
    struct skiff_feat_expr *e;
    struct skiff_err err = SKIFF_ERR_INIT;
    double vals[] = {3, 49}, r;
    uint8_t valid[] = {1, 1};

    assert_int_equal(skiff_feat_expr_parse("tx_count_1h / (avg_amount_7d + 1)", names, 2, &e,
                                           &err), 0);
    assert_true(skiff_feat_expr_eval(e, vals, valid, &r));
    assert_true(r == 3.0 / 50);
    vals[1] = -1;                                 /* division by zero: null */
    assert_false(skiff_feat_expr_eval(e, vals, valid, &r));
    vals[1] = 49;
    valid[1] = 0;                                 /* a null operand: null */
    assert_false(skiff_feat_expr_eval(e, vals, valid, &r));
    skiff_feat_expr_free(e);

    valid[1] = 1;
    assert_int_equal(skiff_feat_expr_parse("-2 * -(1 + tx_count_1h) - 4 / 2 * .5 + 1e1", names, 2,
                                           &e, &err), 0);
    assert_true(skiff_feat_expr_eval(e, vals, valid, &r));
    assert_true(r == 2.0 * 4 - 1 + 10);
    skiff_feat_expr_free(e);

    struct { const char *text, *msg; } bad[] = {
        {"tx_count_1h +", "expression \"tx_count_1h +\", position 14: expected a number, a field "
                          "or '(' at the end"},
        {"(1 + 2", "expression \"(1 + 2\", position 7: expected ')' at the end"},
        {"a_7d * 2", "expression \"a_7d * 2\", position 1: unknown field 'a_7d' (an expression "
                     "may use the view's fields, aggregations and earlier derived fields)"},
        {"1 2", "expression \"1 2\", position 3: unexpected '2' (want an operator + - * /)"},
        {"1 % 2", "expression \"1 % 2\", position 3: unexpected '%' (want an operator + - * /)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        skiff_err_clear(&err);
        assert_int_equal(skiff_feat_expr_parse(bad[i].text, names, 2, &e, &err), SKIFF_EINVAL);
        assert_null(e);
        assert_string_equal(err.msg, bad[i].msg);
    }
}

/* ---- definitions and historical retrieval on files ---- */

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_non_null(f = fopen(path, "w"));
    fputs(text, f);
    fclose(f);
}

static const char defs_yaml[] =
    "apiVersion: skiff.dev/v1\nkind: Entity\nmetadata: {name: user}\n"
    "spec: {joinKeys: [user_id], valueType: STRING}\n"
    "---\n"
    "apiVersion: skiff.dev/v1\nkind: Entity\nmetadata: {name: merchant}\n"
    "spec: {joinKeys: [merchant_id], valueType: INT64}\n"
    "---\n"
    "apiVersion: skiff.dev/v1\nkind: DataSource\nmetadata: {name: user_stats_source}\n"
    "spec:\n  file: {path: data/user_stats.csv}\n  timestampField: event_timestamp\n"
    "  createdTimestampColumn: created_at\n"
    "---\n"
    "apiVersion: skiff.dev/v1\nkind: FeatureView\nmetadata: {name: user_stats}\n"
    "spec:\n  entities: [user, merchant]\n  ttl: 1h\n  online: true\n"
    "  source: user_stats_source\n"
    "  fields:\n  - {name: tx_count_1h, dtype: INT64}\n  - {name: avg_amount_7d, dtype: DOUBLE}\n"
    "  - {name: high_risk_merchant, dtype: BOOL}\n  - {name: note, dtype: STRING}\n"
    "  aggregations:\n  - {name: n_rows_2h, function: count, window: 2h}\n"
    "  derived:\n  - {name: score, expr: 'tx_count_1h / (avg_amount_7d + 1)'}\n"
    "---\n"
    "apiVersion: skiff.dev/v1\nkind: FeatureService\nmetadata: {name: fraud_detection_v3}\n"
    "spec:\n  features: [{view: user_stats}]\n";

static void test_historical_two_keys_ties_ttl(void **state)
{
    char dir[256], sub[300], defs[300], ents[300];
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_feat_registry *r = NULL;
    struct skiff_feat_table *ent = NULL, *feat = NULL;
    const struct skiff_feat_service *svc;
    struct skiff_feat_historical_opts o = {.full_feature_names = true, .threads = 1};
    char *out = NULL;
    size_t len = 0;
    FILE *f;

    assert_non_null(test_tmpdir(dir, sizeof dir, "features"));
    snprintf(sub, sizeof sub, "%s/data", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    write_file(dir, "repo.yaml", defs_yaml);
    write_file(dir, "data/user_stats.csv",
               "user_id,merchant_id,event_timestamp,created_at,tx_count_1h,avg_amount_7d,"
               "high_risk_merchant,note\n"
               "u1,7,2026-01-01T09:00:00Z,2026-01-01T09:00:00Z,1,9,false,first\n"
               "u1,7,2026-01-01T10:00:00Z,2026-01-01T10:05:00Z,2,19,true,\"late, created\"\n"
               "u1,7,2026-01-01T10:00:00Z,2026-01-01T10:01:00Z,3,29,false,early\n"
               "u1,8,2026-01-01T10:00:00Z,,4,39,,other merchant\n");
    write_file(dir, "entities.csv",
               "user_id,merchant_id,event_timestamp,label\n"
               "u1,7,2026-01-01T10:30:00+00:00,1\n"
               "u1,7,2026-01-01T11:00:00Z,0\n"
               "u1,7,2026-01-01T11:00:01Z,0\n"
               "u1,8,2026-01-01T10:00:00Z,1\n"
               "u2,7,2026-01-01T10:30:00Z,0\n"
               "u1,7,2026-01-01T09:59:59Z,1\n"
               "u1,,2026-01-01T10:30:00Z,1\n");
    snprintf(defs, sizeof defs, "%s/repo.yaml", dir);
    snprintf(ents, sizeof ents, "%s/entities.csv", dir);

    if (skiff_feat_registry_load(dir, &r, &err))
        fail_msg("%s", err.msg);
    assert_non_null(svc = skiff_feat_service_get(r, "fraud_detection_v3"));
    assert_int_equal(skiff_feat_entities_read(svc, ents, &ent, &err), 0);
    assert_int_equal(skiff_feat_historical(svc, ent, &o, &feat, NULL, &err), 0);
    f = open_memstream(&out, &len);
    const struct skiff_feat_table *parts[] = {ent, feat};
    assert_int_equal(skiff_feat_csv_write(f, parts, 2, &err), 0);
    fclose(f);
    assert_string_equal(
        out,
        "user_id,merchant_id,event_timestamp,label,user_stats__tx_count_1h,"
        "user_stats__avg_amount_7d,user_stats__high_risk_merchant,user_stats__note,"
        "user_stats__n_rows_2h,user_stats__score\n"
        /* tie at 10:00 -> the later created row (2, created 10:05) */
        "u1,7,2026-01-01T10:30:00+00:00,1,2,19,true,\"late, created\",3,0.1\n"
        /* exactly ttl after 10:00: still visible; the 2h window (09:00, 11:00] */
        "u1,7,2026-01-01T11:00:00Z,0,2,19,true,\"late, created\",2,0.1\n"
        /* expired */
        "u1,7,2026-01-01T11:00:01Z,0,,,,,2,\n"
        /* the second key picks its own rows */
        "u1,8,2026-01-01T10:00:00Z,1,4,39,,other merchant,1,0.1\n"
        /* unknown entity, a row before the change, a null key */
        "u2,7,2026-01-01T10:30:00Z,0,,,,,0,\n"
        "u1,7,2026-01-01T09:59:59Z,1,1,9,false,first,1,0.1\n"
        "u1,,2026-01-01T10:30:00Z,1,,,,,0,\n");
    free(out);
    skiff_feat_table_free(feat);

    /* without full names: the plain feature names */
    o.full_feature_names = false;
    o.threads = 2;
    assert_int_equal(skiff_feat_historical(svc, ent, &o, &feat, NULL, &err), 0);
    assert_string_equal(feat->cols[0].name, "tx_count_1h");
    skiff_feat_table_free(feat);
    skiff_feat_table_free(ent);
    skiff_feat_registry_free(r);

    /* a bad value in the source names its file, line and column */
    write_file(dir, "data/user_stats.csv",
               "user_id,merchant_id,event_timestamp,created_at,tx_count_1h,avg_amount_7d,"
               "high_risk_merchant,note\n"
               "u1,7,2026-01-01T09:00:00Z,,1,nine,false,x\n");
    assert_int_equal(skiff_feat_registry_load(defs, &r, &err), 0);
    svc = skiff_feat_service_get(r, "fraud_detection_v3");
    assert_int_equal(skiff_feat_entities_read(svc, ents, &ent, &err), 0);
    assert_int_equal(skiff_feat_historical(svc, ent, &o, &feat, NULL, &err), SKIFF_EPARSE);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 30);
    assert_non_null(strstr(err.where, "data/user_stats.csv"));
    assert_non_null(strstr(err.msg, "column 'avg_amount_7d': \"nine\" is not a valid DOUBLE"));
    o.skip_bad_rows = true;
    size_t skipped = 0;
    assert_int_equal(skiff_feat_historical(svc, ent, &o, &feat, &skipped, &err), 0);
    assert_int_equal(skipped, 1);
    assert_int_equal(feat->cols[0].valid[0], 0);
    skiff_feat_table_free(feat);
    skiff_feat_table_free(ent);
    skiff_feat_registry_free(r);
    test_rmtree(dir);
}

static void test_csv_folder_reads_as_one_table(void **state)
{
    static const struct skiff_feat_csv_col cols[] = {{"n", SKIFF_FEAT_INT64, false}};
    struct skiff_feat_csv_opts o = {.cols = cols, .ncols = 1, .keep_others = true,
                                    .keep_text = true, .skip_bad_rows = true};
    struct skiff_feat_table *t = NULL;
    struct skiff_err err = SKIFF_ERR_INIT;
    char dir[256], msg[1024];
    size_t skipped = 0;

    assert_non_null(test_tmpdir(dir, sizeof dir, "features-csvdir"));
    write_file(dir, "part-2.csv", "n,s\n3,c\nbad,x\n");
    write_file(dir, "part-1.csv", "n,s\n1,a\n,b\n");
    write_file(dir, "notes.txt", "not a csv");
    assert_int_equal(skiff_feat_csv_read(dir, &o, &t, &skipped, &err), 0);
    assert_int_equal(t->nrows, 3);
    assert_int_equal(skipped, 1);
    assert_int_equal(t->cols[0].i64[0], 1);
    assert_int_equal(t->cols[0].valid[1], 0);
    assert_int_equal(t->cols[0].i64[2], 3);
    assert_string_equal(skiff_feat_table_str(t, 2, 1), "c");
    assert_string_equal(skiff_feat_table_str(t, 2, 0), "3");   /* the kept text */
    skiff_feat_table_free(t);

    /* errors name the file of the folder they are in */
    o.skip_bad_rows = false;
    assert_int_equal(skiff_feat_csv_read(dir, &o, &t, NULL, &err), SKIFF_EPARSE);
    skiff_err_format(&err, msg, sizeof msg);
    assert_non_null(strstr(msg, "/part-2.csv:3:1: column 'n': \"bad\" is not a valid INT64"));
    write_file(dir, "part-2.csv", "s,n\nc,3\n");
    assert_int_equal(skiff_feat_csv_read(dir, &o, &t, NULL, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "the columns differ from those of"));
    test_rmtree(dir);
}

static void expect_load_error(const char *yaml, const char *want)
{
    char dir[256], path[300], msg[1024];
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_feat_registry *r = NULL;
    assert_non_null(test_tmpdir(dir, sizeof dir, "features-defs"));
    write_file(dir, "x.yaml", yaml);
    snprintf(path, sizeof path, "%s/x.yaml", dir);
    assert_int_not_equal(skiff_feat_registry_load(path, &r, &err), 0);
    assert_null(r);
    skiff_err_format(&err, msg, sizeof msg);
    assert_non_null(strstr(msg, "/x.yaml:"));
    assert_string_equal(strstr(msg, "/x.yaml:") + 7, want);
    test_rmtree(dir);
}

#define E_USER "apiVersion: skiff.dev/v1\nkind: Entity\nmetadata: {name: user}\n" \
               "spec: {joinKeys: [user_id]}\n---\n"
#define S_TX "apiVersion: skiff.dev/v1\nkind: DataSource\nmetadata: {name: tx}\n" \
             "spec: {file: {path: tx.csv}}\n---\n"
#define FV "apiVersion: skiff.dev/v1\nkind: FeatureView\nmetadata: {name: v}\n"

static void test_definition_errors(void **state)
{
    expect_load_error(E_USER S_TX FV "spec:\n  entities: [card]\n  source: tx\n"
                                     "  fields: [{name: a, dtype: INT64}]\n",
                      ":15:14: FeatureView v: no such Entity");
    expect_load_error(E_USER S_TX FV "spec:\n  entities: [user]\n  source: nope\n"
                                     "  fields: [{name: a, dtype: INT64}]\n",
                      ":16:11: FeatureView v: no such DataSource");
    expect_load_error(E_USER S_TX FV "spec:\n  entities: [user]\n  source: tx\n"
                                     "  fields: [{name: a, dtype: INT64}]\n"
                                     "  derived: [{name: d, expr: 'a + b'}]\n",
                      ":18:29: FeatureView v: expression \"a + b\", position 5: unknown field "
                      "'b' (an expression may use the view's fields, aggregations and earlier "
                      "derived fields)");
    expect_load_error(E_USER S_TX FV "spec:\n  entities: [user]\n  source: tx\n"
                                     "  fields: [{name: a, dtype: STRING}]\n"
                                     "  aggregations: [{name: s, function: sum, column: a, "
                                     "window: 1h}]\n",
                      ":18:51: FeatureView v: this function needs a numeric column");
    expect_load_error(E_USER S_TX FV "spec:\n  entities: [user]\n  source: tx\n"
                                     "  fields: [{name: a, dtype: INT64}]\n---\n"
                                     "apiVersion: skiff.dev/v1\nkind: FeatureService\n"
                                     "metadata: {name: s}\nspec:\n  features: ['v:zz']\n",
                      ":23:14: FeatureService s: view 'v' has no feature 'zz'");
    expect_load_error("apiVersion: skiff.dev/v1\nkind: Entity\nmetadata: {name: user}\n"
                      "spec: {joinKeys: [a, b]}\n",
                      ":4:22: Entity user: an entity has one join key, as in Feast; a view joins "
                      "on several keys by naming several entities");
    expect_load_error(E_USER S_TX FV "spec:\n  entities: [user]\n  source: tx\n"
                                     "  fields: [{name: a, dtype: INT64}]\n"
                                     "  aggregations: [{name: a, function: count, window: 1h}]\n",
                      ":14:1: FeatureView v: two features are named 'a'");
    expect_load_error("apiVersion: skiff.dev/v1\nkind: Entity\nmetadata: {name: 'user id'}\n"
                      "spec: {joinKeys: [a]}\n",
                      ":3:18: metadata.name: \"user id\" is not a valid name: a feature-store "
                      "name must consist of letters, digits, '_', '-' or '.', start with a letter, "
                      "digit or '_', and be at most 253 characters");
    /* the resource validator runs first: shape errors read as in skiff apply */
    expect_load_error(E_USER "apiVersion: skiff.dev/v1\nkind: FeatureService\n"
                             "metadata: {name: s}\nspec:\n  features: []\n",
                      ":10:13: spec.features: must not be empty");
}


/* The key index: short keys compared in the slot, long ones through the
 * id's bytes, keys that differ only in length or a trailing zero byte, and
 * thousands of keys (several doublings of the slot table). */
static void test_keyidx_short_long_and_growth(void **state)
{
    struct features__keyidx k = {0};
    char key[64];
    (void)state;
    assert_int_equal(features__keyidx_get(&k, "a", 1), -1);   /* empty: no table yet */
    assert_int_equal(features__keyidx_put(&k, "a", 1), 0);
    assert_int_equal(features__keyidx_put(&k, "a\0", 2), 1);
    assert_int_equal(features__keyidx_put(&k, "", 0), 2);
    assert_int_equal(features__keyidx_put(&k, "0123456789abcdef", 16), 3);
    assert_int_equal(features__keyidx_put(&k, "0123456789abcdefX", 17), 4);
    assert_int_equal(features__keyidx_put(&k, "0123456789abcdefY", 17), 5);
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof key, i % 2 ? "key-%d" : "a-much-longer-key-number-%d", i);
        assert_int_equal(features__keyidx_put(&k, key, (size_t)n), 6 + i);
    }
    assert_int_equal(features__keyidx_get(&k, "a", 1), 0);
    assert_int_equal(features__keyidx_get(&k, "a\0", 2), 1);
    assert_int_equal(features__keyidx_get(&k, "", 0), 2);
    assert_int_equal(features__keyidx_get(&k, "0123456789abcdefY", 17), 5);
    assert_int_equal(features__keyidx_get(&k, "0123456789abcdefZ", 17), -1);
    assert_int_equal(features__keyidx_get(&k, "b", 1), -1);
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof key, i % 2 ? "key-%d" : "a-much-longer-key-number-%d", i);
        uint64_t h = features__keyidx_hash(key, (size_t)n);
        features__keyidx_prefetch(&k, h);
        assert_int_equal(features__keyidx_get_h(&k, key, (size_t)n, h), 6 + i);
        assert_int_equal(features__keyidx_put_h(&k, key, (size_t)n, h), 6 + i);
    }
    assert_int_equal(k.n, 5006);
    features__keyidx_release(&k);
    features__keyidx_release(&k);   /* released twice: harmless */
}

/* A deterministic generator, so a failure repeats. */
static uint64_t rnd_state = 42;
static uint64_t rnd(uint64_t n)
{
    rnd_state = rnd_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (rnd_state >> 33) % n;
}

static const char par_yaml[] =
    "apiVersion: skiff.dev/v1\nkind: Entity\nmetadata: {name: user}\n"
    "spec: {joinKeys: [user_id], valueType: STRING}\n"
    "---\n"
    "apiVersion: skiff.dev/v1\nkind: DataSource\nmetadata: {name: tx}\n"
    "spec:\n  file: {path: tx.csv}\n  createdTimestampColumn: created\n"
    "---\n"
    "apiVersion: skiff.dev/v1\nkind: FeatureView\nmetadata: {name: v}\n"
    "spec:\n  entities: [user]\n  ttl: 2h\n  source: tx\n"
    "  fields:\n  - {name: amount, dtype: INT64}\n  - {name: merchant, dtype: STRING}\n"
    "  aggregations:\n"
    "  - {name: merchants_3h, function: count_distinct, column: merchant, window: 3h}\n"
    "  - {name: last_merchant_3h, function: last, column: merchant, window: 3h}\n"
    "  - {name: max_amount_3h, function: max, column: amount, window: 3h}\n"
    "---\n"
    "apiVersion: skiff.dev/v1\nkind: FeatureService\nmetadata: {name: s}\n"
    "spec:\n  features: [v]\n";

#define PAR_ROWS 70000   /* over the 65536 at which the index and the sort split */
#define PAR_ENTS 6000
#define PAR_USERS 300

struct par_row {
    int user, merchant;
    long long ts, created, amount;   /* created -1: null */
};

/* The name of user u: every fourth longer than the 16 bytes a slot holds. */
static void user_name(int u, char *buf, size_t n)
{
    snprintf(buf, n, u % 4 ? "u%d" : "user-with-a-long-name-%d", u);
}

/* Historical retrieval over 70k source rows (ties on ts, null created
 * times, long and short keys) with 1, 2 and 3 threads: each gives the
 * output of a naive oracle that rescans every source row for every entity
 * row (the PIT rule; count_distinct, last and max over (t - 3h, t]). */
static void test_historical_parallel_matches_naive(void **state)
{
    static struct par_row rows[PAR_ROWS];
    char dir[256], path[512], name[64];
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_feat_registry *r = NULL;
    struct skiff_feat_table *ent = NULL;
    const struct skiff_feat_service *svc;
    int eu[PAR_ENTS];
    long long et[PAR_ENTS];
    FILE *f;
    (void)state;

    assert_non_null(test_tmpdir(dir, sizeof dir, "features-par"));
    write_file(dir, "repo.yaml", par_yaml);
    snprintf(path, sizeof path, "%s/tx.csv", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("user_id,event_timestamp,created,amount,merchant\n", f);
    for (int i = 0; i < PAR_ROWS; i++) {
        struct par_row *x = &rows[i];
        x->user = (int)rnd(PAR_USERS);
        x->ts = 1795737600 + (long long)rnd(48) * 600;   /* 10-minute steps: many ties */
        x->created = rnd(4) ? x->ts + (long long)rnd(3) : -1;
        x->amount = (long long)rnd(1000);
        x->merchant = (int)rnd(40);
        user_name(x->user, name, sizeof name);
        fprintf(f, "%s,%lld,", name, x->ts);
        if (x->created >= 0)
            fprintf(f, "%lld", x->created);
        fprintf(f, ",%lld,m%d\n", x->amount, x->merchant);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/entities.csv", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("user_id,event_timestamp\n", f);
    for (int i = 0; i < PAR_ENTS; i++) {
        eu[i] = (int)rnd(PAR_USERS + 10);   /* some users have no rows */
        et[i] = 1795737600 + (long long)rnd(60) * 600 - 1200;
        user_name(eu[i], name, sizeof name);
        fprintf(f, "%s,%lld\n", name, et[i]);
    }
    fclose(f);

    if (skiff_feat_registry_load(dir, &r, &err))
        fail_msg("%s", err.msg);
    assert_non_null(svc = skiff_feat_service_get(r, "s"));
    assert_int_equal(skiff_feat_entities_read(svc, path, &ent, &err), 0);
    struct skiff_feat_table *outs[3] = {NULL, NULL, NULL};
    for (int threads = 1; threads <= 3; threads++) {
        struct skiff_feat_historical_opts o = {.threads = threads};
        if (skiff_feat_historical(svc, ent, &o, &outs[threads - 1], NULL, &err))
            fail_msg("%s", err.msg);
    }
    /* columns: amount, merchant, merchants_3h, last_merchant_3h, max_amount_3h */
    for (int e = 0; e < PAR_ENTS; e++) {
        long best = -1, last = -1;
        long long maxa = -1;
        bool seen[40] = {false};
        int distinct = 0;
        for (int i = 0; i < PAR_ROWS; i++) {
            const struct par_row *x = &rows[i];
            long long t = et[e] * 1000000LL, ts = x->ts * 1000000LL;
            if (x->user != eu[e])
                continue;
            if (ts <= t && ts >= t - 2 * H &&
                (best < 0 || x->ts > rows[best].ts ||
                 (x->ts == rows[best].ts && x->created >= rows[best].created)))
                best = i;
            if (ts <= t && ts > t - 3 * H) {
                if (!seen[x->merchant]) {
                    seen[x->merchant] = true;
                    distinct++;
                }
                if (x->amount > maxa)
                    maxa = x->amount;
                if (last < 0 || x->ts >= rows[last].ts)   /* ties: the sort's last */
                    if (last < 0 || x->ts > rows[last].ts ||
                        x->created >= rows[last].created)
                        last = i;
            }
        }
        for (int k = 0; k < 3; k++) {
            const struct skiff_feat_table *out = outs[k];
            assert_int_equal(out->cols[0].valid[e], best >= 0);
            if (best >= 0) {
                snprintf(name, sizeof name, "m%d", rows[best].merchant);
                assert_int_equal(out->cols[0].i64[e], rows[best].amount);
                assert_string_equal(skiff_feat_table_str(out, (size_t)e, 1), name);
            }
            assert_int_equal(out->cols[2].i64[e], distinct);
            assert_int_equal(out->cols[3].valid[e], last >= 0);
            if (last >= 0) {
                snprintf(name, sizeof name, "m%d", rows[last].merchant);
                assert_string_equal(skiff_feat_table_str(out, (size_t)e, 3), name);
            }
            assert_int_equal(out->cols[4].valid[e], maxa >= 0);
            if (maxa >= 0)
                assert_int_equal((long long)out->cols[4].i64[e], maxa);
        }
    }
    for (int k = 0; k < 3; k++)
        skiff_feat_table_free(outs[k]);
    skiff_feat_table_free(ent);
    skiff_feat_registry_free(r);
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_types_quotes_nulls),
        cmocka_unit_test(test_csv_bad_values_have_positions),
        cmocka_unit_test(test_csv_field_mapping_and_duplicates),
        cmocka_unit_test(test_csv_large_file_in_two_halves),
        cmocka_unit_test(test_csv_fast_paths_match_strtod),
        cmocka_unit_test(test_csv_chunked_and_gzip_reads),
        cmocka_unit_test(test_plan_diff),
        cmocka_unit_test(test_csv_write_round_trip),
        cmocka_unit_test(test_pit_rule),
        cmocka_unit_test(test_aggregation_window_bounds),
        cmocka_unit_test(test_expressions),
        cmocka_unit_test(test_historical_two_keys_ties_ttl),
        cmocka_unit_test(test_csv_folder_reads_as_one_table),
        cmocka_unit_test(test_definition_errors),
        cmocka_unit_test(test_keyidx_short_long_and_growth),
        cmocka_unit_test(test_historical_parallel_matches_naive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
