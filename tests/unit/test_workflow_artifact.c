/* Unit tests for artifact archives (src/workflow/artifact.c): a folder and
 * a single file packed and unpacked back, names longer than 100 bytes
 * (ustar prefix); GNU tar and gzip(1) as the oracles both ways: our
 * archives list and extract with tar -xzf and are really compressed, and
 * archives made by tar -czf (gnu and pax formats, long names), several
 * gzip members and zero padding unpack; the refusals: ".." names (also in
 * long names), a non-gzip file, every truncation and every corrupted byte
 * of an archive, and the SKIFF_ARTIFACT_MAX_UNPACKED cap. */
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
        /* a file past one 64 KiB buffer and not block-aligned */
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

static int sh(const char *fmt, const char *arg)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, fmt, arg, arg, arg, arg);
    return system(cmd);
}

static long file_size(const char *rel)
{
    char p[1024];
    struct stat st;
    path(p, sizeof p, rel);
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void ours_is_compressed_and_gnu_tar_extracts_it(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char src[512], tgz[512];
    FILE *f;
    (void)state;

    path(src, sizeof src, "z");
    assert_int_equal(mkdir(src, 0755), 0);
    path(src, sizeof src, "z/zeros.bin");
    assert_non_null(f = fopen(src, "wb"));
    for (int k = 0; k < 1024; k++) {
        static const char kib[1024];
        fwrite(kib, 1, sizeof kib, f);
    }
    fclose(f);
    put("z/note.txt", "hello\n");
    path(src, sizeof src, "z");
    path(tgz, sizeof tgz, "z.tgz");
    assert_int_equal(workflow__tgz_pack(src, tgz, &err), 0);
    /* 1 MiB of zeros plus headers: stored blocks would be over 1 MiB */
    assert_true(file_size("z.tgz") > 0);
    assert_true(file_size("z.tgz") < 64 << 10);
    assert_int_equal(sh("cd '%s' && gzip -t z.tgz && mkdir x && tar -xzf z.tgz -C x && "
                        "cmp -s z/zeros.bin x/z/zeros.bin && cmp -s z/note.txt x/z/note.txt",
                        root), 0);

    /* 3 MiB of random bytes first (packed as stored blocks after the
     * first window fails to shrink), then the zeros: compressed again */
    assert_int_equal(sh("cd '%s' && head -c 3145728 /dev/urandom > z/a_random.bin", root), 0);
    assert_int_equal(workflow__tgz_pack(src, tgz, &err), 0);
    assert_true(file_size("z.tgz") > 3 << 20);
    assert_true(file_size("z.tgz") < (3 << 20) + (64 << 10));
    assert_int_equal(sh("cd '%s' && rm -rf x && mkdir x && tar -xzf z.tgz -C x && "
                        "cmp -s z/a_random.bin x/z/a_random.bin && "
                        "cmp -s z/zeros.bin x/z/zeros.bin", root), 0);
    path(src, sizeof src, "ours");
    assert_int_equal(workflow__tgz_unpack(tgz, src, &err), 0);
    assert_int_equal(sh("cd '%s' && cmp -s z/a_random.bin ours/a_random.bin && "
                        "cmp -s z/zeros.bin ours/zeros.bin && cmp -s z/note.txt ours/note.txt",
                        root), 0);
}

/* A folder "g" with a long path whose last part alone is over 100 bytes
 * (so the ustar prefix cannot hold it: GNU tar writes an 'L' entry, pax a
 * "path" record) packed by GNU tar in `format`. */
static void gnu_tar_case(const char *format)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char cmd[2048], tgz[512], dst[512];
#define LONG_DIR "g/sub/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    const char *deep = LONG_DIR "/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                                "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.txt";

    snprintf(cmd, sizeof cmd, "cd '%s' && rm -rf g g.tgz gout && mkdir -p " LONG_DIR, root);
    assert_int_equal(system(cmd), 0);
    put("g/a.txt", "alpha\n");
    put(deep, "deep\n");
    snprintf(cmd, sizeof cmd, "cd '%s' && ln -s /etc/passwd g/link && "
             "tar --format=%s -czf g.tgz g", root, format);
    assert_int_equal(system(cmd), 0);
    path(tgz, sizeof tgz, "g.tgz");
    path(dst, sizeof dst, "gout");
    assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), 0);
    assert_string_equal(get("gout/a.txt"), "alpha\n");
    snprintf(cmd, sizeof cmd, "gout/%s", deep + 2);
    assert_string_equal(get(cmd), "deep\n");
    /* the symlink is not recreated */
    {
        struct stat st;
        path(cmd, sizeof cmd, "gout/link");
        assert_int_equal(lstat(cmd, &st), -1);
    }
}

static void gnu_tar_archives_unpack(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char tgz[512], dst[512];
    (void)state;

    gnu_tar_case("gnu");   /* tar -czf's default here */
    gnu_tar_case("pax");   /* what Go's archive/tar (Argo's executor) writes for long names */

    /* two gzip members (the tar split across them) and zero padding after,
     * which gzip(1) reads as one stream */
    put("m1.txt", "one\n");
    put("m2.txt", "two\n");
    assert_int_equal(sh("cd '%s' && mkdir m && mv m1.txt m2.txt m/ && tar -cf m.tar m && "
                        "head -c 1024 m.tar | gzip -1 > m.tgz && "
                        "tail -c +1025 m.tar | gzip -9 >> m.tgz && "
                        "head -c 300 /dev/zero >> m.tgz && tar -tzf m.tgz >/dev/null", root), 0);
    path(tgz, sizeof tgz, "m.tgz");
    path(dst, sizeof dst, "mout");
    assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), 0);
    assert_string_equal(get("mout/m1.txt"), "one\n");
    assert_string_equal(get("mout/m2.txt"), "two\n");

    /* but bytes other than zeros after the last member are refused */
    assert_int_equal(sh("cd '%s' && echo junk >> m.tgz", root), 0);
    assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "trailing garbage"));
}

static void refusals(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char tgz[512], dst[512], cmd[2048];
    (void)state;

    path(dst, sizeof dst, "never");
    /* not gzip at all; an empty file */
    put("plain.txt", "hello");
    path(tgz, sizeof tgz, "plain.txt");
    assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "not a gzip file"));
    put("empty.tgz", "");
    path(tgz, sizeof tgz, "empty.tgz");
    assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "not a gzip file"));
    /* gzip of something that is not a tar */
    assert_int_equal(sh("cd '%s' && gzip -k plain.txt", root), 0);
    path(tgz, sizeof tgz, "plain.txt.gz");
    assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "the archive ends early"));

    /* entries leading out with "..": a short name (ustar), a long one as
     * GNU tar writes it ('L') and as pax does ("path" record); refused
     * before anything is written */
    put("esc", "x");
    {
        static const char *const forms[][2] = {
            {"ustar", "../escape"},
            {"gnu", "a/../../escape-0123456789012345678901234567890123456789"
                    "0123456789012345678901234567890123456789012345678901234567"},
            {"pax", "a/../../escape-0123456789012345678901234567890123456789"
                    "0123456789012345678901234567890123456789012345678901234567"},
        };
        for (size_t k = 0; k < sizeof forms / sizeof forms[0]; k++) {
            snprintf(cmd, sizeof cmd, "cd '%s' && rm -f e.tgz && tar --format=%s -czf e.tgz "
                     "--transform 's,^esc,%s,' esc 2>/dev/null", root, forms[k][0],
                     forms[k][1]);
            assert_int_equal(system(cmd), 0);
            path(tgz, sizeof tgz, "e.tgz");
            assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), SKIFF_EINVAL);
            assert_non_null(strstr(err.msg, "leads outside the destination"));
            assert_non_null(strstr(err.msg, "escape"));
        }
    }
    assert_int_equal(access(dst, F_OK), -1);

    /* a source that does not exist */
    path(tgz, sizeof tgz, "nothing.tgz");
    path(dst, sizeof dst, "no-such-file");
    assert_int_equal(workflow__tgz_pack(dst, tgz, &err), SKIFF_EIO);
    assert_int_equal(access(tgz, F_OK), -1);
}

/* Every prefix of an archive is refused (the gzip trailer is checked, so
 * even a cut after the tar's end blocks is noticed), and so is the archive
 * with any one byte after gzip's header inverted, unless the stream still
 * means the same tar; never a crash (the ASan build runs this too). */
static void truncated_and_corrupt_archives(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char src[512], tgz[512], cut[512], dst[512];
    unsigned char *bytes;
    long n;
    int rc, accepted = 0;
    FILE *f;
    (void)state;

    path(src, sizeof src, "t");
    assert_int_equal(mkdir(src, 0755), 0);
    put("t/one.txt", "some text that repeats, some text that repeats\n");
    put("t/two.txt", "two\n");
    path(tgz, sizeof tgz, "t.tgz");
    assert_int_equal(workflow__tgz_pack(src, tgz, &err), 0);
    n = file_size("t.tgz");
    assert_true(n > 18);
    assert_non_null(bytes = malloc(n > 0 ? (size_t)n : 1));
    assert_non_null(f = fopen(tgz, "rb"));
    assert_int_equal(fread(bytes, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    path(cut, sizeof cut, "cut.tgz");
    path(dst, sizeof dst, "tout");
    assert_int_equal(sh("cd '%s' && gzip -cd t.tgz > t.tar", root), 0);

    for (long len = 0; len < n; len++) {
        assert_non_null(f = fopen(cut, "wb"));
        assert_int_equal(fwrite(bytes, 1, (size_t)len, f), (size_t)len);
        fclose(f);
        err = (struct skiff_err)SKIFF_ERR_INIT;
        assert_int_equal(workflow__tgz_unpack(cut, dst, &err), SKIFF_EINVAL);
        assert_non_null(strstr(err.msg, "cannot unpack"));
        if (len >= 20)
            assert_non_null(strstr(err.msg, "truncated gzip stream"));
    }
    for (long at = 10; at < n; at++) {
        bytes[at] ^= 0xff;
        assert_non_null(f = fopen(cut, "wb"));
        assert_int_equal(fwrite(bytes, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        bytes[at] ^= 0xff;
        err = (struct skiff_err)SKIFF_ERR_INIT;
        rc = workflow__tgz_unpack(cut, dst, &err);
        if (rc == 0) {
            /* deflate can spell one run of zeros several ways: then the
             * stream must really mean the same tar (gzip(1) the oracle) */
            assert_int_equal(sh("cd '%s' && gzip -cd cut.tgz | cmp -s - t.tar", root), 0);
            accepted++;
        } else {
            assert_int_equal(rc, SKIFF_EINVAL);
            assert_non_null(strstr(err.msg, "cannot unpack"));
        }
    }
    /* how many spellings exist depends on the bytes (the tar holds
     * mtimes, so it differs run to run); what matters is that an accepted
     * one means the same tar (above) and that damage is mostly caught */
    assert_true(accepted * 10 < n - 10);
    /* the trailer's CRC-32 and length by name */
    bytes[n - 8] ^= 1;
    assert_non_null(f = fopen(cut, "wb"));
    assert_int_equal(fwrite(bytes, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    assert_int_equal(workflow__tgz_unpack(cut, dst, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "corrupt gzip stream (incorrect data check)"));
    bytes[n - 8] ^= 1;
    bytes[n - 4] ^= 1;
    assert_non_null(f = fopen(cut, "wb"));
    assert_int_equal(fwrite(bytes, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    assert_int_equal(workflow__tgz_unpack(cut, dst, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "corrupt gzip stream (incorrect length check)"));
    free(bytes);
}

/* The zip-bomb guard: SKIFF_ARTIFACT_MAX_UNPACKED caps the tar bytes. */
static void unpacked_size_cap(void **state)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    char tgz[512], dst[512];
    struct stat st;
    (void)state;

    /* 2 MiB of zeros: a few KiB packed */
    assert_int_equal(sh("cd '%s' && mkdir b && head -c 2097152 /dev/zero > b/zeros", root), 0);
    path(dst, sizeof dst, "b");
    path(tgz, sizeof tgz, "b.tgz");
    assert_int_equal(workflow__tgz_pack(dst, tgz, &err), 0);
    path(dst, sizeof dst, "bout");

    assert_int_equal(setenv("SKIFF_ARTIFACT_MAX_UNPACKED", "1Mi", 1), 0);
    assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), SKIFF_ETOOBIG);
    assert_non_null(strstr(err.msg, "it unpacks to more than 1048576 bytes, the limit "
                                    "artifact_max_unpacked sets"));
    /* it stopped there: at most the cap was written */
    path(dst, sizeof dst, "bout/zeros");
    assert_int_equal(stat(dst, &st), 0);
    assert_true(st.st_size <= 1 << 20);

    /* a cap above the tar size lets it through */
    path(dst, sizeof dst, "bout");
    assert_int_equal(setenv("SKIFF_ARTIFACT_MAX_UNPACKED", "3Mi", 1), 0);
    assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), 0);
    path(dst, sizeof dst, "bout/zeros");
    assert_int_equal(stat(dst, &st), 0);
    assert_int_equal(st.st_size, 2 << 20);

    path(dst, sizeof dst, "bout");
    assert_int_equal(setenv("SKIFF_ARTIFACT_MAX_UNPACKED", "lots", 1), 0);
    assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "SKIFF_ARTIFACT_MAX_UNPACKED='lots' is not a size"));
    /* the config's artifact_max_unpacked (already env > file) wins */
    skiff_workflow_set_artifact_max_unpacked(1 << 20);
    assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), SKIFF_ETOOBIG);
    skiff_workflow_set_artifact_max_unpacked(0);
    assert_int_equal(unsetenv("SKIFF_ARTIFACT_MAX_UNPACKED"), 0);
    assert_int_equal(workflow__tgz_unpack(tgz, dst, &err), 0);
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
        cmocka_unit_test_setup_teardown(ours_is_compressed_and_gnu_tar_extracts_it, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(gnu_tar_archives_unpack, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_and_corrupt_archives, setup, teardown),
        cmocka_unit_test_setup_teardown(unpacked_size_cap, setup, teardown),
        cmocka_unit_test(self_exe_is_this_binary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
