/* Unit tests for the blob store (src/store/blob.c): path rules and escapes,
 * put/get/list/delete, streaming puts, buffer caps. Each test gets its own
 * root under /tmp (removed afterwards). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/store.h"

struct fixture {
    char dir[64];       /* what the test removes */
    char root[128];
    struct skiff_blob *b;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    struct skiff_err err = SKIFF_ERR_INIT;
    if (!f)
        return -1;
    if (!test_tmpdir(f->dir, sizeof f->dir, "blob"))
        return -1;
    /* two levels that do not exist yet: open creates them */
    snprintf(f->root, sizeof f->root, "%s/home/artifacts", f->dir);
    if (skiff_blob_open(f->root, &f->b, &err) != 0) {
        fprintf(stderr, "skiff_blob_open: %s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    skiff_blob_close(f->b);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static void put_str(struct fixture *f, const char *rel, const char *text)
{
    struct skiff_err err = SKIFF_ERR_INIT;
    if (skiff_blob_put(f->b, rel, text, strlen(text), &err) != 0)
        fail_msg("put '%s': %s", rel, err.msg);
}

static void test_open_creates_root(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_blob *b = NULL;
    struct stat st;
    char path[PATH_MAX];

    assert_int_equal(stat(f->root, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    /* opening again is fine */
    assert_int_equal(skiff_blob_open(f->root, &b, &err), 0);
    skiff_blob_close(b);
    skiff_blob_close(NULL);
    /* a file is not a root */
    snprintf(path, sizeof path, "%s/file", f->dir);
    close(open(path, O_CREAT | O_WRONLY, 0600));
    assert_int_equal(skiff_blob_open(path, &b, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_blob_open("", &b, &err), SKIFF_EINVAL);
    assert_null(b);
}

static void test_resolve_rules(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    char abs[PATH_MAX], want[PATH_MAX + 64], real_root[PATH_MAX];
    /* refused: escapes, and non-canonical spellings (one blob, one path) */
    static const char *bad[] = {
        "../x", "/etc/passwd", "a/../../x", "a/..", "..", "a/./b", "./a", ".", "a//b", "a/",
        "/", "//x", "a/b/", "x\ny", "tab\there", "del\x7f",
    };

    assert_non_null(realpath(f->root, real_root));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (skiff_blob_resolve(f->b, bad[i], abs, sizeof abs, &err) != SKIFF_EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
    }
    assert_int_equal(skiff_blob_resolve(f->b, NULL, abs, sizeof abs, &err), SKIFF_EINVAL);

    /* fine, existing or not */
    assert_int_equal(skiff_blob_resolve(f->b, "model/MLmodel", abs, sizeof abs, &err), 0);
    snprintf(want, sizeof want, "%s/model/MLmodel", real_root);
    assert_string_equal(abs, want);
    assert_int_equal(skiff_blob_resolve(f->b, "a..b/.hidden/x.y", abs, sizeof abs, &err), 0);
    assert_int_equal(skiff_blob_resolve(f->b, "", abs, sizeof abs, &err), 0);
    assert_string_equal(abs, real_root);
    /* too small an output buffer is an error, not a truncated path */
    assert_int_equal(skiff_blob_resolve(f->b, "model/MLmodel", abs, 8, &err), SKIFF_EINVAL);
}

static void test_symlink_escapes(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_buf out = SKIFF_BUF_INIT;
    char link[PATH_MAX], abs[PATH_MAX];

    /* root/out -> /tmp: everything through it is refused */
    snprintf(link, sizeof link, "%s/out", f->root);
    assert_int_equal(symlink("/tmp", link), 0);
    assert_int_equal(skiff_blob_resolve(f->b, "out", abs, sizeof abs, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "outside the artifact root"));
    assert_int_equal(skiff_blob_resolve(f->b, "out/x", abs, sizeof abs, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_blob_resolve(f->b, "out/new/deeper/x", abs, sizeof abs, &err),
                     SKIFF_EINVAL);
    assert_int_equal(skiff_blob_put(f->b, "out/planted", "x", 1, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_blob_get(f->b, "out/passwd", &out, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_blob_list(f->b, "out", &out, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_blob_delete(f->b, "out/x", &err), SKIFF_EINVAL);
    assert_int_equal(access("/tmp/planted", F_OK), -1);

    /* a symlink to a file outside */
    snprintf(link, sizeof link, "%s/passwd", f->root);
    assert_int_equal(symlink("/etc/passwd", link), 0);
    assert_int_equal(skiff_blob_get(f->b, "passwd", &out, &err), SKIFF_EINVAL);

    /* a symlink that climbs out relatively */
    snprintf(link, sizeof link, "%s/up", f->root);
    assert_int_equal(symlink("..", link), 0);
    assert_int_equal(skiff_blob_resolve(f->b, "up/x", abs, sizeof abs, &err), SKIFF_EINVAL);

    /* dangling: where it would lead cannot be checked, so it is refused */
    snprintf(link, sizeof link, "%s/dangling", f->root);
    assert_int_equal(symlink("/nonexistent-skiff-target", link), 0);
    assert_int_equal(skiff_blob_resolve(f->b, "dangling/x", abs, sizeof abs, &err),
                     SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "dangling"));

    /* a symlink that stays inside the root is fine */
    put_str(f, "real/file.txt", "inside");
    snprintf(link, sizeof link, "%s/alias", f->root);
    assert_int_equal(symlink("real", link), 0);
    assert_int_equal(skiff_blob_get(f->b, "alias/file.txt", &out, &err), 0);
    assert_string_equal(out.ptr, "inside");
    skiff_buf_release(&out);
}

static void test_put_get_list_delete(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_buf out = SKIFF_BUF_INIT;
    char path[PATH_MAX];
    struct stat st;
    DIR *d;
    struct dirent *e;

    put_str(f, "run1/model/MLmodel", "flavors: {}\n");
    put_str(f, "run1/model/model.xgb", "0123456789");
    put_str(f, "run1/metrics.json", "{\"auc\":0.93}");
    put_str(f, "run1/b \"quoted\".txt", "");  /* empty file, name needing escapes */
    assert_int_equal(skiff_blob_get(f->b, "run1/model/MLmodel", &out, &err), 0);
    assert_string_equal(out.ptr, "flavors: {}\n");
    /* get appends, like every skiff_buf writer */
    assert_int_equal(skiff_blob_get(f->b, "run1/metrics.json", &out, &err), 0);
    assert_string_equal(out.ptr, "flavors: {}\n{\"auc\":0.93}");
    skiff_buf_reset(&out);
    assert_int_equal(skiff_blob_get(f->b, "run1/b \"quoted\".txt", &out, &err), 0);
    assert_int_equal(out.len, 0);

    /* replace */
    put_str(f, "run1/metrics.json", "{\"auc\":0.95}");
    assert_int_equal(skiff_blob_get(f->b, "run1/metrics.json", &out, &err), 0);
    assert_string_equal(out.ptr, "{\"auc\":0.95}");
    skiff_buf_reset(&out);

    /* no temp files left, new folders are 0700 */
    snprintf(path, sizeof path, "%s/run1", f->root);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    d = opendir(path);
    assert_non_null(d);
    while ((e = readdir(d)))
        assert_null(strstr(e->d_name, "tmp"));
    closedir(d);

    assert_int_equal(skiff_blob_list(f->b, "run1", &out, &err), 0);
    assert_string_equal(out.ptr,
                        "[{\"path\":\"run1/b \\\"quoted\\\".txt\",\"is_dir\":false,\"file_size\":0},"
                        "{\"path\":\"run1/metrics.json\",\"is_dir\":false,\"file_size\":12},"
                        "{\"path\":\"run1/model\",\"is_dir\":true}]");
    /* and it parses as JSON */
    {
        json_t *j = json_loads(out.ptr, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_array_size(j), 3);
        json_decref(j);
    }
    skiff_buf_reset(&out);
    assert_int_equal(skiff_blob_list(f->b, "", &out, &err), 0);
    assert_string_equal(out.ptr, "[{\"path\":\"run1\",\"is_dir\":true}]");
    skiff_buf_reset(&out);
    put_str(f, "empty/x", "1");
    assert_int_equal(skiff_blob_delete(f->b, "empty/x", &err), 0);
    assert_int_equal(skiff_blob_list(f->b, "empty", &out, &err), 0);
    assert_string_equal(out.ptr, "[]");
    skiff_buf_reset(&out);

    /* errors */
    assert_int_equal(skiff_blob_get(f->b, "run1/nope", &out, &err), SKIFF_ENOTFOUND);
    assert_int_equal(skiff_blob_get(f->b, "run1/metrics.json/x", &out, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_blob_get(f->b, "run1/model", &out, &err), SKIFF_EINVAL);
    assert_non_null(strstr(err.msg, "folder"));
    assert_int_equal(skiff_blob_list(f->b, "nope", &out, &err), SKIFF_ENOTFOUND);
    assert_int_equal(skiff_blob_list(f->b, "run1/metrics.json", &out, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_blob_put(f->b, "run1/model", "x", 1, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_blob_put(f->b, "", "x", 1, &err), SKIFF_EINVAL);
    assert_int_equal(skiff_blob_put(f->b, "run1/metrics.json/x", "x", 1, &err), SKIFF_EINVAL);
    assert_int_equal(out.len, 0);

    /* delete a file, then a folder with everything in it */
    assert_int_equal(skiff_blob_delete(f->b, "run1/metrics.json", &err), 0);
    assert_int_equal(skiff_blob_get(f->b, "run1/metrics.json", &out, &err), SKIFF_ENOTFOUND);
    snprintf(path, sizeof path, "%s/run1/model/link", f->root);
    assert_int_equal(symlink("/tmp", path), 0);  /* removed, not followed */
    assert_int_equal(skiff_blob_delete(f->b, "run1", &err), 0);
    assert_int_equal(skiff_blob_list(f->b, "run1", &out, &err), SKIFF_ENOTFOUND);
    assert_int_equal(access("/tmp", F_OK), 0);
    assert_int_equal(skiff_blob_delete(f->b, "run1", &err), SKIFF_ENOTFOUND);
    assert_int_equal(skiff_blob_delete(f->b, "", &err), SKIFF_EINVAL);
    assert_int_equal(skiff_blob_list(f->b, "", &out, &err), 0);
    assert_string_equal(out.ptr, "[{\"path\":\"empty\",\"is_dir\":true}]");
    skiff_buf_release(&out);
}

static void test_put_fd_large(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_buf out = SKIFF_BUF_INIT;
    const size_t size = 5 * 1024 * 1024 + 123;  /* not a multiple of the chunk */
    char src[PATH_MAX];
    unsigned char *data = malloc(size);
    int fd;

    assert_non_null(data);
    for (size_t i = 0; i < size; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    snprintf(src, sizeof src, "%s/source.bin", f->dir);
    fd = open(src, O_CREAT | O_RDWR | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, size), (ssize_t)size);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    assert_int_equal(skiff_blob_put_fd(f->b, "run2/model/model.bin", fd, &err), 0);
    close(fd);

    assert_int_equal(skiff_blob_get(f->b, "run2/model/model.bin", &out, &err), 0);
    assert_int_equal(out.len, size);
    assert_memory_equal(out.ptr, data, size);
    skiff_buf_release(&out);

    /* a pipe: no size known up front */
    {
        int p[2];
        assert_int_equal(pipe(p), 0);
        assert_int_equal(write(p[1], "streamed", 8), 8);
        close(p[1]);
        assert_int_equal(skiff_blob_put_fd(f->b, "run2/piped", p[0], &err), 0);
        close(p[0]);
        assert_int_equal(skiff_blob_get(f->b, "run2/piped", &out, &err), 0);
        assert_string_equal(out.ptr, "streamed");
        skiff_buf_release(&out);
    }
    /* a bad descriptor fails and leaves nothing */
    assert_int_equal(skiff_blob_put_fd(f->b, "run2/bad", 9999, &err), SKIFF_EIO);
    assert_int_equal(skiff_blob_get(f->b, "run2/bad", &out, &err), SKIFF_ENOTFOUND);
    assert_int_equal(skiff_blob_put_fd(f->b, "run2/bad", -1, &err), SKIFF_EINVAL);
    /* a source that fails mid-copy (read of a folder: EISDIR) */
    fd = open(f->dir, O_RDONLY | O_DIRECTORY);
    assert_true(fd >= 0);
    assert_int_equal(skiff_blob_put_fd(f->b, "run2/fromdir", fd, &err), SKIFF_EIO);
    close(fd);
    /* the failed writes left no temp files behind (listings would hide them) */
    {
        char dir[PATH_MAX];
        struct dirent *e;
        DIR *d;
        int entries = 0;
        snprintf(dir, sizeof dir, "%s/run2", f->root);
        assert_non_null(d = opendir(dir));
        while ((e = readdir(d)))
            if (e->d_name[0] != '.')
                entries++;
            else
                assert_true(!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."));
        closedir(d);
        assert_int_equal(entries, 2);  /* model/ and piped */
    }
    free(data);
}

static void test_get_cap(void **state)
{
    struct fixture *f = *state;
    struct skiff_err err = SKIFF_ERR_INIT;
    struct skiff_buf out;

    put_str(f, "ten", "0123456789");
    skiff_buf_init(&out, 9);
    assert_int_equal(skiff_blob_get(f->b, "ten", &out, &err), SKIFF_ETOOBIG);
    assert_int_equal(out.len, 0);
    skiff_buf_release(&out);

    /* exactly the cap fits */
    skiff_buf_init(&out, 10);
    assert_int_equal(skiff_blob_get(f->b, "ten", &out, &err), 0);
    assert_string_equal(out.ptr, "0123456789");
    /* the cap counts what the buffer already holds, and a refusal keeps it */
    assert_int_equal(skiff_blob_get(f->b, "ten", &out, &err), SKIFF_ETOOBIG);
    assert_string_equal(out.ptr, "0123456789");
    skiff_buf_release(&out);

    /* a listing past its cap */
    skiff_buf_init(&out, 16);
    assert_int_equal(skiff_blob_list(f->b, "", &out, &err), SKIFF_ETOOBIG);
    assert_int_equal(out.len, 0);
    skiff_buf_release(&out);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_open_creates_root),
        T(test_resolve_rules),
        T(test_symlink_escapes),
        T(test_put_get_list_delete),
        T(test_put_fd_large),
        T(test_get_cap),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
