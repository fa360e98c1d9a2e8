/* Blob store: artifact files under one root folder (SKIFF_HOME/artifacts).
 *
 * Paths that callers pass are relative and canonical: segments separated by
 * single '/', none empty, none "." or "..", no control characters, nothing
 * absolute. So "a/./b", "a//b" and "a/" are refused rather than cleaned up:
 * one blob has one spelling, and the paths stored by the tracking server
 * compare equal as strings. "" names the root (for list only). A C string
 * cannot carry a NUL byte; callers that decode %00 must refuse it before.
 *
 * Containment: besides the lexical rules, the deepest part of the path that
 * exists is run through realpath(3) and must stay under the (canonical)
 * root; a symlink inside the root may point elsewhere inside it, never out,
 * and a dangling one is refused. The root is 0700 and only skiff writes
 * there, so a symlink swapped in between the check and the use (a race
 * against ourselves) is outside the threat model.
 *
 * Writes are atomic: a temp file ".skiff-tmp-XXXXXX" in the target's folder,
 * fsync, rename over the target, fsync of the folder. A crash may leave a
 * temp file behind; listings hide them.
 *
 * Thread-safety: a struct skiff_blob is immutable after open; every function
 * may run on any thread (two puts of one path: the last rename wins whole).
 */
#include "store/store_int.h"
#include "skiff/buf.h"
#include "skiff/err.h"
#include "skiff/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_PREFIX ".skiff-tmp-"
#define CHUNK (64 * 1024)

struct skiff_blob {
    char root[PATH_MAX];  /* canonical: realpath of what open was given */
    size_t root_len;
};

/* ---- paths ---- */

/* mkdir -p, 0700 for the folders it creates. `path` is modified and restored. */
static int mkdir_p(char *path, size_t from, struct skiff_err *err)
{
    for (char *p = path + from + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            skiff_err_sys(err, SKIFF_EIO, "cannot create folder '%s'", path);
            *p = saved;
            return SKIFF_EIO;
        }
        *p = saved;
        if (!saved)
            return 0;
    }
}

static int check_rel(const char *rel, struct skiff_err *err)
{
    const char *seg = rel;

    if (!rel)
        return skiff_err_set(err, SKIFF_EINVAL, "no artifact path");
    if (!*rel)
        return 0;
    if (rel[0] == '/')
        return skiff_err_set(err, SKIFF_EINVAL, "artifact path '%.200s' is absolute", rel);
    for (const char *p = rel;; p++) {
        if (*p != '/' && *p != '\0') {
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return skiff_err_set(err, SKIFF_EINVAL,
                                     "artifact path '%.200s' contains a control character", rel);
            continue;
        }
        size_t len = (size_t)(p - seg);
        if (len == 0)
            return skiff_err_set(err, SKIFF_EINVAL, "artifact path '%.200s' has an empty segment",
                                 rel);
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return skiff_err_set(err, SKIFF_EINVAL,
                                 "artifact path '%.200s' has a '%.*s' segment", rel, (int)len, seg);
        if (len > NAME_MAX)
            return skiff_err_set(err, SKIFF_EINVAL,
                                 "artifact path '%.200s' has a segment longer than %d bytes", rel,
                                 NAME_MAX);
        if (!*p)
            return 0;
        seg = p + 1;
    }
}

static bool under_root(const struct skiff_blob *b, const char *real)
{
    if (b->root_len == 1)  /* root "/" */
        return true;
    return strncmp(real, b->root, b->root_len) == 0 &&
           (real[b->root_len] == '\0' || real[b->root_len] == '/');
}

int skiff_blob_resolve(const struct skiff_blob *b, const char *rel, char *abs, size_t n,
                       struct skiff_err *err)
{
    char probe[PATH_MAX], real[PATH_MAX];
    struct stat st;
    int rc;

    if ((rc = check_rel(rel, err)))
        return rc;
    if (*rel ? (size_t)snprintf(abs, n, "%s/%s", b->root, rel) >= n
             : !skiff_strlcpy(abs, b->root, n))
        return skiff_err_set(err, SKIFF_EINVAL, "artifact path '%.200s' is too long", rel);
    if (!skiff_strlcpy(probe, abs, sizeof probe))
        return skiff_err_set(err, SKIFF_EINVAL, "artifact path '%.200s' is too long", rel);
    /* the deepest existing prefix decides where the path really leads */
    for (;;) {
        char *slash;
        if (realpath(probe, real)) {
            if (!under_root(b, real))
                return skiff_err_set(err, SKIFF_EINVAL,
                                     "artifact path '%.200s' leads outside the artifact root "
                                     "(through a symlink)", rel);
            return 0;
        }
        if (errno != ENOENT)
            return skiff_err_sys(err, errno == EACCES ? SKIFF_EIO : SKIFF_EINVAL,
                                 "cannot resolve artifact path '%.200s'", rel);
        if (lstat(probe, &st) == 0)
            return skiff_err_set(err, SKIFF_EINVAL,
                                 "artifact path '%.200s' goes through a dangling symlink", rel);
        slash = strrchr(probe, '/');
        if (strlen(probe) <= b->root_len || !slash)
            return skiff_err_set(err, SKIFF_EIO, "artifact root '%s' is gone", b->root);
        *slash = '\0';
    }
}

/* ---- open / close ---- */

int skiff_blob_open(const char *root, struct skiff_blob **out, struct skiff_err *err)
{
    struct skiff_blob *b = NULL;
    char path[PATH_MAX];
    struct stat st;
    int rc = 0;

    *out = NULL;
    if (!root || !*root)
        return skiff_err_set(err, SKIFF_EINVAL, "empty artifact root");
    if (!skiff_strlcpy(path, root, sizeof path))
        return skiff_err_set(err, SKIFF_EINVAL, "artifact root '%.200s' is too long", root);
    if ((rc = mkdir_p(path, 0, err)))
        return rc;
    if (!(b = calloc(1, sizeof *b)))
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    if (!realpath(path, b->root) || stat(b->root, &st) != 0) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot open artifact root '%s'", root);
        goto out;
    }
    if (!S_ISDIR(st.st_mode)) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "artifact root '%s' is not a folder", root);
        goto out;
    }
    b->root_len = strlen(b->root);
    *out = b;
    b = NULL;
out:
    free(b);
    return rc;
}

void skiff_blob_close(struct skiff_blob *b)
{
    free(b);
}

/* ---- writing ---- */

/* Copies src_fd to fd until EOF, CHUNK bytes at a time. */
static int copy_fd(int src_fd, int fd, const char *rel, struct skiff_err *err)
{
    char *buf = malloc(CHUNK);
    int rc = 0;

    if (!buf)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory writing '%s'", rel);
    for (;;) {
        ssize_t r = read(src_fd, buf, CHUNK);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot read the source of artifact '%s'", rel);
            break;
        }
        if (r == 0)
            break;
        if (skiff_fs_write_all(fd, buf, (size_t)r) != 0) {
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot write artifact '%s'", rel);
            break;
        }
    }
    free(buf);
    return rc;
}

/* Writes `rel` atomically from data[n], or from src_fd when it is >= 0. */
static int put_common(struct skiff_blob *b, const char *rel, const void *data, size_t n,
                      int src_fd, struct skiff_err *err)
{
    char abs[PATH_MAX], tmp[PATH_MAX];
    char *slash;
    int fd = -1, rc;
    bool tmp_exists = false;

    if (rel && !*rel)
        return skiff_err_set(err, SKIFF_EINVAL, "cannot write the artifact root itself");
    if ((rc = skiff_blob_resolve(b, rel, abs, sizeof abs, err)))
        return rc;
    slash = strrchr(abs, '/');
    if ((size_t)(slash - abs) > b->root_len) {
        *slash = '\0';
        rc = mkdir_p(abs, b->root_len, err);
        *slash = '/';
        if (rc)
            return rc;
        /* the folders now exist: check again that none leads outside */
        if ((rc = skiff_blob_resolve(b, rel, abs, sizeof abs, err)))
            return rc;
        slash = strrchr(abs, '/');
    }
    if ((size_t)snprintf(tmp, sizeof tmp, "%.*s/" TMP_PREFIX "XXXXXX", (int)(slash - abs), abs) >=
        sizeof tmp)
        return skiff_err_set(err, SKIFF_EINVAL, "artifact path '%.200s' is too long", rel);
    if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot create a file for artifact '%s'", rel);
        goto out;
    }
    tmp_exists = true;
    if (src_fd >= 0) {
        if ((rc = copy_fd(src_fd, fd, rel, err)))
            goto out;
    } else if (skiff_fs_write_all(fd, data, n) != 0) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write artifact '%s'", rel);
        goto out;
    }
    if (fsync(fd) != 0) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write artifact '%s'", rel);
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write artifact '%s'", rel);
        goto out;
    }
    fd = -1;
    if (rename(tmp, abs) != 0) {
        rc = errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST
                 ? skiff_err_set(err, SKIFF_EINVAL, "artifact '%s' is a folder", rel)
                 : skiff_err_sys(err, SKIFF_EIO, "cannot write artifact '%s'", rel);
        goto out;
    }
    tmp_exists = false;
    /* the new name must survive a crash too */
    if (skiff_fs_fsync_parent(abs) != 0)
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot sync the folder of artifact '%s'", rel);
out:
    if (fd >= 0)
        close(fd);
    if (tmp_exists)
        unlink(tmp);
    return rc;
}

int skiff_blob_put(struct skiff_blob *b, const char *rel, const void *data, size_t n,
                   struct skiff_err *err)
{
    if (!data && n)
        return skiff_err_set(err, SKIFF_EINVAL, "no data for artifact '%s'", rel ? rel : "");
    return put_common(b, rel, data, n, -1, err);
}

int skiff_blob_put_fd(struct skiff_blob *b, const char *rel, int fd, struct skiff_err *err)
{
    if (fd < 0)
        return skiff_err_set(err, SKIFF_EINVAL, "no file to copy to artifact '%s'",
                             rel ? rel : "");
    return put_common(b, rel, NULL, 0, fd, err);
}

/* ---- reading ---- */

/* Appends fd's contents to out, never past out->max. */
static int read_into(int fd, struct skiff_buf *out, const char *rel, struct skiff_err *err)
{
    for (;;) {
        size_t avail = out->cap ? out->cap - out->len - 1 : 0;
        ssize_t r;
        int rc;

        if (out->max && avail > out->max - out->len)
            avail = out->max - out->len;
        if (avail == 0) {
            /* full: one byte tells EOF (done) from more (grow or refuse) */
            char c;
            r = read(fd, &c, 1);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0)
                return skiff_err_sys(err, SKIFF_EIO, "cannot read artifact '%s'", rel);
            if (r == 0)
                return 0;
            if ((rc = skiff_buf_putc(out, c)) ||
                (rc = skiff_buf_grow(out, out->max && out->max - out->len < CHUNK
                                              ? out->max - out->len : CHUNK)))
                return skiff_err_set(err, rc, rc == SKIFF_ETOOBIG
                                     ? "artifact '%s' is larger than the limit"
                                     : "out of memory reading artifact '%s'", rel);
            continue;
        }
        r = read(fd, out->ptr + out->len, avail);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return skiff_err_sys(err, SKIFF_EIO, "cannot read artifact '%s'", rel);
        if (r == 0)
            return 0;
        out->len += (size_t)r;
        out->ptr[out->len] = '\0';
    }
}

int skiff_blob_get(struct skiff_blob *b, const char *rel, struct skiff_buf *out,
                   struct skiff_err *err)
{
    char abs[PATH_MAX];
    struct stat st;
    size_t start = out->len;
    int fd = -1, rc;

    if ((rc = skiff_blob_resolve(b, rel, abs, sizeof abs, err)))
        return rc;
    if ((fd = open(abs, O_RDONLY | O_CLOEXEC)) < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return skiff_err_set(err, SKIFF_ENOTFOUND, "artifact '%s' not found", rel);
        return skiff_err_sys(err, SKIFF_EIO, "cannot open artifact '%s'", rel);
    }
    if (fstat(fd, &st) != 0) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot stat artifact '%s'", rel);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "artifact '%s' is %s", rel,
                           S_ISDIR(st.st_mode) ? "a folder" : "not a regular file");
        goto out;
    }
    if (out->max && (uintmax_t)st.st_size > out->max - out->len) {
        rc = skiff_err_set(err, SKIFF_ETOOBIG, "artifact '%s' has %lld bytes, more than the "
                           "limit of %zu", rel, (long long)st.st_size, out->max - out->len);
        goto out;
    }
    if ((rc = skiff_buf_grow(out, (size_t)st.st_size))) {
        rc = skiff_err_set(err, rc, "out of memory reading artifact '%s'", rel);
        goto out;
    }
    rc = read_into(fd, out, rel, err);
out:
    if (rc && out->len > start) {
        out->len = start;  /* leave the buffer as it was */
        out->ptr[start] = '\0';
    }
    close(fd);
    return rc;
}

/* ---- delete ---- */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path) == 0 ? 0 : errno;
}

int skiff_blob_delete(struct skiff_blob *b, const char *rel, struct skiff_err *err)
{
    char abs[PATH_MAX];
    struct stat st;
    int rc;

    if (rel && !*rel)
        return skiff_err_set(err, SKIFF_EINVAL, "refusing to delete the whole artifact root");
    if ((rc = skiff_blob_resolve(b, rel, abs, sizeof abs, err)))
        return rc;
    if (lstat(abs, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return skiff_err_set(err, SKIFF_ENOTFOUND, "artifact '%s' not found", rel);
        return skiff_err_sys(err, SKIFF_EIO, "cannot delete artifact '%s'", rel);
    }
    if (S_ISDIR(st.st_mode)) {
        /* FTW_PHYS: symlinks inside are removed, never followed */
        int e = nftw(abs, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        if (e != 0) {
            errno = e > 0 ? e : errno;
            return skiff_err_sys(err, SKIFF_EIO, "cannot delete folder '%s'", rel);
        }
        return 0;
    }
    if (unlink(abs) != 0)
        return skiff_err_sys(err, SKIFF_EIO, "cannot delete artifact '%s'", rel);
    return 0;
}

/* ---- list ---- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int skiff_blob_list(struct skiff_blob *b, const char *rel, struct skiff_buf *out,
                    struct skiff_err *err)
{
    char abs[PATH_MAX];
    char **names = NULL;
    size_t n = 0, cap = 0, start = out->len;
    DIR *d = NULL;
    struct dirent *e;
    bool first = true;
    int rc;

    if ((rc = skiff_blob_resolve(b, rel, abs, sizeof abs, err)))
        return rc;
    if (!(d = opendir(abs))) {
        if (errno == ENOENT)
            return skiff_err_set(err, SKIFF_ENOTFOUND, "artifact folder '%s' not found", rel);
        if (errno == ENOTDIR)
            return skiff_err_set(err, SKIFF_EINVAL, "artifact '%s' is not a folder", rel);
        return skiff_err_sys(err, SKIFF_EIO, "cannot list artifact folder '%s'", rel);
    }
    errno = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            !strncmp(e->d_name, TMP_PREFIX, strlen(TMP_PREFIX)))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            char **p = realloc(names, ncap * sizeof *names);
            if (!p) {
                rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory listing '%s'", rel);
                goto out;
            }
            names = p;
            cap = ncap;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory listing '%s'", rel);
            goto out;
        }
        n++;
    }
    if (errno) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot list artifact folder '%s'", rel);
        goto out;
    }
    if (n > 1)
        qsort(names, n, sizeof *names, cmp_names);

    rc = skiff_buf_putc(out, '[');
    for (size_t i = 0; i < n && !rc; i++) {
        char path[PATH_MAX];
        struct stat st;
        if (fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;  /* removed since readdir */
        /* fits: abs (root + "/" + rel) plus this name fitted the file system */
        snprintf(path, sizeof path, "%s%s%s", rel, *rel ? "/" : "", names[i]);
        if ((rc = skiff_buf_puts(out, first ? "{\"path\":" : ",{\"path\":")) ||
            (rc = skiff_buf_json_str(out, path)))
            break;
        first = false;
        rc = S_ISDIR(st.st_mode)
                 ? skiff_buf_puts(out, ",\"is_dir\":true}")
                 : skiff_buf_appendf(out, ",\"is_dir\":false,\"file_size\":%lld}",
                                     (long long)st.st_size);
    }
    if (!rc)
        rc = skiff_buf_putc(out, ']');
    if (rc)
        rc = skiff_err_set(err, rc, rc == SKIFF_ETOOBIG ? "listing of '%s' exceeds the limit"
                                                        : "out of memory listing '%s'", rel);
out:
    if (rc && out->len > start) {
        out->len = start;
        out->ptr[start] = '\0';
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}
