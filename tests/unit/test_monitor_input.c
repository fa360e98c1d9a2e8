/* Inputs of the drift monitor's CSV reader beyond one plain file: gzip
 * files (by content, any name; concatenated members; truncated ones are an
 * error naming the file) and folders of *.csv / *.csv.gz read in name order
 * as one table (a header that differs is an error naming the file). The
 * gzip files are written with zlib, the reader's own library, at several
 * member boundaries, and compared with the same rows read plain. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "monitor/monitor_int.h"
#include "skiff/err.h"
#include "skiff/monitor.h"
#include "testutil.h"

/* Writes text as one gzip member, appended to path when `append`. */
static void write_gz(const char *path, const char *text, size_t len, bool append)
{
    gzFile g = gzopen(path, append ? "ab1" : "wb1");
    assert_non_null(g);
    while (len > 0) {
        unsigned k = len > (1u << 20) ? 1u << 20 : (unsigned)len;
        assert_int_equal(gzwrite(g, text, k), (int)k);
        text += k, len -= k;
    }
    assert_int_equal(gzclose(g), Z_OK);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static struct skiff_mon_data *read_ok(const char *path)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_mon_data *d = NULL;
    int rc = skiff_mon_data_read_csv(path, 0, &d, &err);
    if (rc)
        fail_msg("%s:%d: %s", err.where, err.line, err.msg);
    return d;
}

static const char *label_of(struct skiff_mon_data *d, size_t c, size_t i)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    double *codes;
    char **labels;
    size_t nl;
    bool *ranked;
    assert_int_equal(monitor__data_codes(d, c, &codes, &labels, &nl, &ranked, &err), 0);
    return isnan(codes[i]) ? NULL : labels[(size_t)codes[i]];
}

/* err names `file` (as where, or in the message) */
static void assert_names(const struct skiff_err *err, const char *file)
{
    if (!strstr(err->where, file) && !strstr(err->msg, file))
        fail_msg("'%s' not named in %s: %s", file, err->where, err->msg);
}

/* A gzip file of several chunks, named .csv (the content decides), written
 * as three members cut mid-row; a column is text only near the end, so
 * the whole stream is read a second time (rewound): the same table as the
 * plain file. Then a truncated copy is an error naming the file. */
static void test_gzip_file(void **state)
{
    size_t n = 500000, cap = n * 32 + 64, len = 0, cut1, cut2;
    char dir[256], gz[400], plain[400], trunc[400];
    char *t = malloc(cap);
    struct skiff_mon_data *a, *b;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct stat st;
    FILE *f;
    (void)state;
    assert_non_null(t);
    assert_non_null(test_tmpdir(dir, sizeof dir, "gz"));
    len += (size_t)snprintf(t + len, cap - len, "x,late,\"q\"\n");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(t + len, cap - len, "%zu.5,%s,\"c%zu\"\n", i,
                                i == n - 3 ? "word" : "7", i % 3);
    snprintf(plain, sizeof plain, "%s/p.csv", dir);
    snprintf(gz, sizeof gz, "%s/g.csv", dir);
    assert_non_null(f = fopen(plain, "w"));
    assert_int_equal(fwrite(t, 1, len, f), len);
    fclose(f);
    cut1 = len / 3 + 5, cut2 = 2 * len / 3 + 1;
    write_gz(gz, t, cut1, false);
    write_gz(gz, t + cut1, cut2 - cut1, true);
    write_gz(gz, t + cut2, len - cut2, true);

    a = read_ok(plain);
    b = read_ok(gz);
    assert_int_equal(skiff_mon_data_rows(b), n);
    assert_int_equal(skiff_mon_data_ncols(b), 3);
    assert_memory_equal(monitor__data_num(a, 0), monitor__data_num(b, 0), n * sizeof(double));
    assert_true(monitor__data_is_text(b, 1));
    for (size_t i = 0; i < n; i += 7919) {
        assert_string_equal(label_of(b, 1, i), label_of(a, 1, i));
        assert_string_equal(label_of(b, 2, i), label_of(a, 2, i));
    }
    assert_string_equal(label_of(b, 1, n - 3), "word");
    skiff_mon_data_free(b);
    /* the same text from memory: rewound there too */
    assert_int_equal(skiff_mon_data_parse_csv(t, len, "mem.csv", &b, &err), 0);
    assert_int_equal(skiff_mon_data_rows(b), n);
    assert_memory_equal(monitor__data_num(a, 0), monitor__data_num(b, 0), n * sizeof(double));
    for (size_t i = 0; i < n; i += 7919)
        assert_string_equal(label_of(b, 1, i), label_of(a, 1, i));
    skiff_mon_data_free(a);
    skiff_mon_data_free(b);

    /* a truncated gzip file is not a short table */
    assert_int_equal(stat(gz, &st), 0);
    snprintf(trunc, sizeof trunc, "%s/cut.csv.gz", dir);
    {
        FILE *in = fopen(gz, "rb"), *out = fopen(trunc, "wb");
        size_t keep = (size_t)st.st_size - 100;
        char buf[65536];
        assert_non_null(in);
        assert_non_null(out);
        while (keep > 0) {
            size_t k = fread(buf, 1, keep < sizeof buf ? keep : sizeof buf, in);
            assert_true(k > 0);
            fwrite(buf, 1, k, out);
            keep -= k;
        }
        fclose(in);
        fclose(out);
    }
    assert_int_equal(skiff_mon_data_read_csv(trunc, 0, &a, &err), SKIFF_EPARSE);
    assert_null(a);
    assert_names(&err, "cut.csv.gz");
    assert_non_null(strstr(err.msg, "not a valid gzip file"));
    /* garbage after the magic bytes too */
    write_text(trunc, "\x1f\x8b" "this is not deflate");
    assert_int_equal(skiff_mon_data_read_csv(trunc, 0, &a, &err), SKIFF_EPARSE);
    assert_names(&err, "cut.csv.gz");
    /* the cap counts decompressed bytes */
    assert_int_equal(skiff_mon_data_read_csv(gz, 100000, &a, &err), SKIFF_ETOOBIG);
    assert_non_null(strstr(err.msg, "decompressed"));
    free(t);
    test_rmtree(dir);
}

/* A folder: *.csv and *.csv.gz in name order as one table; other files and
 * hidden ones are skipped; a CRLF, BOM'd member and a member with only a
 * header are fine; a column that is text only in a later member is read
 * again from the first. */
static void test_folder(void **state)
{
    char dir[256], p[400];
    struct skiff_mon_data *d;
    const double *x;
    (void)state;
    assert_non_null(test_tmpdir(dir, sizeof dir, "folder"));
    snprintf(p, sizeof p, "%s/b.csv.gz", dir);
    write_gz(p, "x,c\n3,7\n4,8\n", 12, false);
    write_gz(p, "5,9\n", 4, true);
    snprintf(p, sizeof p, "%s/a.csv", dir);
    write_text(p, "x,c\n1,5\n2,6\n");
    snprintf(p, sizeof p, "%s/c.csv", dir);
    write_text(p, "\xef\xbb\xbfx,c\r\n6,ten\r\n");
    snprintf(p, sizeof p, "%s/d.csv", dir);
    write_text(p, "x,c\n");
    snprintf(p, sizeof p, "%s/notes.txt", dir);
    write_text(p, "not,a,table\n");
    snprintf(p, sizeof p, "%s/.hidden.csv", dir);
    write_text(p, "y\n1\n");
    d = read_ok(dir);
    assert_int_equal(skiff_mon_data_rows(d), 6);
    assert_int_equal(skiff_mon_data_ncols(d), 2);
    x = monitor__data_num(d, 0);
    for (size_t i = 0; i < 6; i++)
        assert_true(x[i] == (double)(i + 1));
    assert_true(monitor__data_is_text(d, 1));
    assert_string_equal(label_of(d, 1, 0), "5");
    assert_string_equal(label_of(d, 1, 4), "9");
    assert_string_equal(label_of(d, 1, 5), "ten");
    skiff_mon_data_free(d);
    test_rmtree(dir);
}

/* Errors name the file of the folder they are in. */
static void test_folder_errors(void **state)
{
    char dir[256], p[400], ref[400];
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_mon_data *d = NULL, *r;
    struct skiff_mon_colset *set = NULL;
    (void)state;
    assert_non_null(test_tmpdir(dir, sizeof dir, "folder_err"));
    /* no CSV file */
    assert_int_equal(skiff_mon_data_read_csv(dir, 0, &d, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "no *.csv or *.csv.gz files"));
    /* a header that differs */
    snprintf(p, sizeof p, "%s/1.csv", dir);
    write_text(p, "a,b\n1,2\n");
    snprintf(p, sizeof p, "%s/2.csv.gz", dir);
    write_gz(p, "a,c\n1,2\n", 8, false);
    assert_int_equal(skiff_mon_data_read_csv(dir, 0, &d, &err), SKIFF_EINVAL);
    assert_null(d);
    assert_names(&err, "2.csv.gz");
    assert_non_null(strstr(err.msg, "'c'"));
    /* fewer columns */
    write_gz(p, "a\n1\n", 4, false);
    assert_int_equal(skiff_mon_data_read_csv(dir, 0, &d, &err), SKIFF_EINVAL);
    assert_names(&err, "2.csv.gz");
    /* a short row: the file and its own line */
    write_gz(p, "a,b\n1,2\n3\n", 10, false);
    assert_int_equal(skiff_mon_data_read_csv(dir, 0, &d, &err), SKIFF_EPARSE);
    assert_names(&err, "2.csv.gz");
    assert_int_equal(err.line, 3);
    /* a text cell in a numeric column of the current folder: its file, line */
    write_gz(p, "a,b\n1,2\n3,oops\n", 15, false);
    snprintf(ref, sizeof ref, "%s/ref.txt", dir);   /* not a member of the folder */
    write_text(ref, "a,b\n1,2\n");
    r = read_ok(ref);
    d = read_ok(dir);
    assert_int_equal(skiff_mon_columns(r, d, NULL, 0, SKIFF_MON_SAME_COLUMNS, &set, &err),
                     SKIFF_EPARSE);
    assert_names(&err, "2.csv.gz");
    assert_int_equal(err.line, 3);
    assert_non_null(strstr(err.msg, "oops"));
    skiff_mon_data_free(d);
    skiff_mon_data_free(r);
    /* an empty member is named */
    write_text(p, "");
    assert_int_equal(skiff_mon_data_read_csv(dir, 0, &d, &err), SKIFF_EINVAL);
    assert_names(&err, "2.csv.gz");
    test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gzip_file),
        cmocka_unit_test(test_folder),
        cmocka_unit_test(test_folder_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
