/* Unit tests for artifact archives (src/workflow/artifact.c): a folder and
 * a single file packed and unpacked back, names longer than 100 bytes
 * (ustar prefix), gzip framing checked against gzip(1) as the oracle, and
 * the refusals: an archive naming "..", compressed blocks, a truncated or
 * a non-gzip file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skiff/err.h"
#include "testutil.h"
#include "workflow/workflow_int.h"

static char root[256];

static void put(const char *rel, const char *text)
{
    char p[1024];
    FILE *f;
    snprintf(p, sizeof p, "%s/%s", root, rel);
    assert_non_null(f = fopen(p, "w"));
    fputs(text, f);
    fclose(f);
}

static char *get(const char *rel)
{
    static char buf[4096];
    char p[1024];
    FILE *f;
    size_t n;
    snprintf(p, sizeof p, "%s/%s", root, rel);
    if (!(f = fopen(p, "r")))
        return NULL;
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void path(char *out, size_t n, const char *rel)
{
    snprintf(out, n, "%s/%s", root, rel);
}

static int setup(void **state)
{
    (void)state;
    return test_tmpdir(root, sizeof root, "artifact") ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    test_rmtree(root);
    return 0;
}

static void folder_round_trip(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char src[512], tgz[512], dst[512], cmd[2048];
    (void)state;

    path(src, sizeof src, "data");
    assert_int_equal(mkdir(src, 0755), 0);
    path(src, sizeof src, "data/sub");
    assert_int_equal(mkdir(src, 0755), 0);
    put("data/a.txt", "alpha\n");
    put("data/sub/b.txt", "");   /* empty: no data block */
    {
        /* a file past one stored block (65535 bytes) and not block-aligned */
        char *big = malloc(200001);
        assert_non_null(big);
        for (size_t i = 0; i < 200000; i++)
            big[i] = (char)('a' + i % 26);
        big[200000] = '\0';
        put("data/sub/big.txt", big);
        free(big);
    }
    path(src, sizeof src, "data/");   /* a trailing slash names the same folder */
    path(tgz, sizeof tgz, "data.tgz");
    assert_int_equal(workflow__tgz_pack(src, tgz, &err), 0);
    /* gzip(1) accepts the stream and its CRC; tar(1) lists the entries */
    snprintf(cmd, sizeof cmd, "gzip -t '%s' && tar -tzf '%s' > '%s/list'", tgz, tgz, root);
    assert_int_equal(system(cmd), 0);
    assert_string_equal(get("list"), "data/\ndata/a.txt\ndata/sub/\ndata/sub/b.txt\n"
                                     "data/sub/big.txt\n");
    path(dst, sizeof dst, "out/in");
    assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), 0);
    assert_string_equal(get("out/in/a.txt"), "alpha\n");
    assert_string_equal(get("out/in/sub/b.txt"), "");
    snprintf(cmd, sizeof cmd, "cmp -s '%s/data/sub/big.txt' '%s/out/in/sub/big.txt'", root,
             root);
    assert_int_equal(system(cmd), 0);
}

static void single_file_and_long_names(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char src[512], tgz[512], dst[512], deep[600] = "d";
    (void)state;

    put("model.bin", "weights");
    path(src, sizeof src, "model.bin");
    path(tgz, sizeof tgz, "model.tgz");
    assert_int_equal(workflow__tgz_pack(src, tgz, &err), 0);
    path(dst, sizeof dst, "placed/model");
    assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), 0);
    assert_string_equal(get("placed/model"), "weights");

    /* 130-byte entry names need the ustar prefix field */
    path(src, sizeof src, "d");
    assert_int_equal(mkdir(src, 0755), 0);
    for (int k = 0; k < 4; k++) {
        strcat(deep, "/0123456789012345678901234567890");
        path(src, sizeof src, deep);
        assert_int_equal(mkdir(src, 0755), 0);
    }
    strcat(deep, "/leaf.txt");
    put(deep, "deep");
    path(src, sizeof src, "d");
    path(tgz, sizeof tgz, "d.tgz");
    assert_int_equal(workflow__tgz_pack(src, tgz, &err), 0);
    path(dst, sizeof dst, "d2");
    assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), 0);
    {
        char copy[700];
        snprintf(copy, sizeof copy, "d2%s", deep + 1);
        assert_string_equal(get(copy), "deep");
    }
}

static void refusals(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char tgz[512], dst[512], cmd[2048];
    (void)state;

    path(dst, sizeof dst, "never");
    /* compressed by gzip(1): refused, saying why */
    put("plain.txt", "hello");
    snprintf(cmd, sizeof cmd, "cd '%s' && tar -czf z.tgz plain.txt", root);
    assert_int_equal(system(cmd), 0);
    path(tgz, sizeof tgz, "z.tgz");
    assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "compressed deflate blocks are not supported"));

    /* not gzip at all */
    path(tgz, sizeof tgz, "plain.txt");
    assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "not a gzip file"));

    /* an entry named "../escape": refused before anything is written */
    put("esc", "x");
    snprintf(cmd, sizeof cmd,
             "cd '%s' && tar -cf e.tar --transform 's,^esc,../escape,' esc 2>/dev/null",
             root);
    assert_int_equal(system(cmd), 0);
    {
        /* e.tar framed as stored gzip blocks by hand (the trailer's CRC
         * is not checked by the reader) */
        char tarp[512], out[512];
        FILE *in, *o;
        unsigned char buf[65535];
        size_t n;
        path(tarp, sizeof tarp, "e.tar");
        path(out, sizeof out, "e.tgz");
        assert_non_null(in = fopen(tarp, "rb"));
        assert_non_null(o = fopen(out, "wb"));
        fwrite("\x1f\x8b\x08\0\0\0\0\0\0\xff", 1, 10, o);
        while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
            unsigned char h[5] = {0, (unsigned char)(n & 0xff), (unsigned char)(n >> 8),
                                  (unsigned char)(~n & 0xff), (unsigned char)((~n >> 8) & 0xff)};
            fwrite(h, 1, 5, o);
            fwrite(buf, 1, n, o);
        }
        fwrite("\x01\0\0\xff\xff\0\0\0\0\0\0\0\0", 1, 13, o);
        fclose(in);
        fclose(o);
        assert_int_equal(workflow__tgz_unpack(out, dst, &err), SKIFF_EINVAL);
        assert_non_null(strstr(err.msg, "leads outside the destination"));
    }
    assert_int_equal(access(dst, F_OK), -1);

    /* truncated: the end of the stream is missing */
    {
        char src[512], full[512];
        struct stat st;
        put("t.txt", "some text");
        path(src, sizeof src, "t.txt");
        path(full, sizeof full, "t.tgz");
        assert_int_equal(workflow__tgz_pack(src, full, &err), 0);
        assert_int_equal(stat(full, &st), 0);
        assert_int_equal(truncate(full, st.st_size / 2), 0);
        assert_int_equal(workflow__tgz_unpack(full, dst, &err), SKIFF_EINVAL);
        assert_non_null(strstr(err.msg, "truncated"));
    }

    /* a source that does not exist */
    path(tgz, sizeof tgz, "nothing.tgz");
    path(dst, sizeof dst, "no-such-file");
    assert_int_equal(workflow__tgz_pack(dst, tgz, &err), SKIFF_EIO);
    assert_int_equal(access(tgz, F_OK), -1);
}

static void self_exe_is_this_binary(void **state)
{
    char want[4096];
    ssize_t n = readlink("/proc/self/exe", want, sizeof want - 1);
    (void)state;
    assert_true(n > 0);
    want[n] = '\0';
    assert_non_null(workflow__self_exe());
    assert_string_equal(workflow__self_exe(), want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(folder_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(single_file_and_long_names, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals, setup, teardown),
        cmocka_unit_test(self_exe_is_this_binary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
