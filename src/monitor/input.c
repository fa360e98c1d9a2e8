/* Where the CSV reader's bytes come from (monitor_int.h, "input"): text in
 * memory, one file, or a folder whose *.csv and *.csv.gz files are read in
 * name order as one table. Each file ("member") is plain or gzip, decided
 * by its first two bytes (1f 8b), not its name; zlib's gzread decompresses
 * concatenated gzip members as one stream. Only the reader's own buffer
 * (one chunk) and zlib's (128 KiB) are in memory: a compressed file is
 * never inflated whole.
 *
 * Worked example: a folder holding b.csv.gz, a.csv, notes.txt and .x.csv
 * is read as a.csv then b.csv.gz (notes.txt is not CSV, .x.csv hidden).
 */
#include "monitor_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "skiff/buf.h"
#include "skiff/err.h"

#define GZ_BUFFER (128u << 10)

void monitor__input_text(struct monitor__input *in, const char *text, size_t len,
                         const char *name)
{
    memset(in, 0, sizeof *in);
    in->fd = -1;
    in->text = text;
    in->text_len = len;
    in->name = in->path = name;
    in->max = SIZE_MAX;
}

static void close_member(struct monitor__input *in)
{
    if (in->gz)
        gzclose(in->gz);   /* closes its own descriptor (a dup of fd) */
    in->gz = NULL;
    if (in->fd >= 0)
        close(in->fd);
    in->fd = -1;
}

/* Opens member i (the path itself when there is no folder list). */
static int open_member(struct monitor__input *in, size_t i, struct skiff_err *err)
{
    const char *path = in->files ? in->files[i] : in->path;
    unsigned char magic[2];
    struct stat st;

    close_member(in);
    in->member = i;
    in->name = path;
    if ((in->fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return skiff_err_sys(err, errno == ENOENT ? SKIFF_ENOTFOUND : SKIFF_EIO,
                             "cannot open '%s'", path);
    if (fstat(in->fd, &st) != 0 || !S_ISREG(st.st_mode))
        return skiff_err_set(err, SKIFF_EINVAL, "'%s' is not a file", path);
    if (pread(in->fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        int fd2 = dup(in->fd);   /* gzclose closes the descriptor it is given */
        if (fd2 < 0 || !(in->gz = gzdopen(fd2, "rb"))) {
            if (fd2 >= 0)
                close(fd2);
            return skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading '%s'", path);
        }
        gzbuffer(in->gz, GZ_BUFFER);
        return 0;
    }
    /* a plain file larger than the cap need not be read to be refused */
    if ((uint64_t)st.st_size > in->max)
        return skiff_err_set(err, SKIFF_ETOOBIG, "'%s' is larger than %zu bytes", path, in->max);
    posix_fadvise(in->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The folder's *.csv and *.csv.gz files (not hidden), sorted by name. */
static int list_folder(struct monitor__input *in, struct skiff_err *err)
{
    DIR *dir = opendir(in->path);
    struct dirent *de;
    size_t cap = 0;

    if (!dir)
        return skiff_err_sys(err, SKIFF_EIO, "cannot open folder '%s'", in->path);
    while ((de = readdir(dir)) != NULL) {
        size_t len;
        if (de->d_name[0] == '.' || !(skiff_str_endswith(de->d_name, ".csv") ||
                                      skiff_str_endswith(de->d_name, ".csv.gz")))
            continue;
        if (in->nfiles == cap) {
            char **p = realloc(in->files, (cap = cap ? cap * 2 : 16) * sizeof *p);
            if (!p)
                break;
            in->files = p;
        }
        len = strlen(in->path) + strlen(de->d_name) + 2;
        if (!(in->files[in->nfiles] = malloc(len)))
            break;
        snprintf(in->files[in->nfiles++], len, "%s/%s", in->path, de->d_name);
    }
    closedir(dir);
    if (de)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory listing '%s'", in->path);
    if (in->nfiles == 0)
        return skiff_err_set(err, SKIFF_EINVAL, "no *.csv or *.csv.gz files in '%s'", in->path);
    qsort(in->files, in->nfiles, sizeof *in->files, cmp_name);
    return 0;
}

int monitor__input_open(struct monitor__input *in, const char *path, size_t max,
                        struct skiff_err *err)
{
    struct stat st;

    memset(in, 0, sizeof *in);
    in->fd = -1;
    in->name = in->path = path;
    in->max = max;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        int rc = list_folder(in, err);
        if (rc)
            return rc;
    }
    return open_member(in, 0, err);
}

int monitor__input_read(struct monitor__input *in, char *dst, size_t n, size_t *got,
                        struct skiff_err *err)
{
    *got = 0;
    if (!in->text && in->fd < 0)
        return 0;
    if (in->text) {
        size_t k = in->text_len - in->text_pos < n ? in->text_len - in->text_pos : n;
        memcpy(dst, in->text + in->text_pos, k);
        in->text_pos += k, *got = k;
        return 0;
    }
    if (in->gz) {
        int zerr, r = gzread(in->gz, dst, n > (1u << 30) ? 1u << 30 : (unsigned)n);
        const char *msg = gzerror(in->gz, &zerr);
        /* a truncated file is a short read with Z_BUF_ERROR left behind, not
         * a short file */
        if (r < 0 || (r == 0 && zerr != Z_OK))
            return skiff_err_set(err, SKIFF_EPARSE, "'%s' is not a valid gzip file: %s",
                                 in->name, zerr == Z_ERRNO ? strerror(errno) : msg);
        *got = (size_t)r;
    } else {
        for (;;) {
            ssize_t k = read(in->fd, dst, n);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0)
                return skiff_err_sys(err, SKIFF_EIO, "cannot read '%s'", in->name);
            *got = (size_t)k;
            break;
        }
    }
    if ((in->total += *got) > in->max)
        return skiff_err_set(err, SKIFF_ETOOBIG, "'%s' is larger than %zu bytes%s", in->path,
                             in->max, in->gz ? " decompressed" : "");
    return 0;
}

int monitor__input_next(struct monitor__input *in, bool *more, struct skiff_err *err)
{
    *more = in->files && in->member + 1 < in->nfiles;
    if (!*more)
        return 0;
    return open_member(in, in->member + 1, err);
}

int monitor__input_rewind(struct monitor__input *in, struct skiff_err *err)
{
    in->total = 0;
    if (in->text) {
        in->text_pos = 0;
        return 0;
    }
    return open_member(in, 0, err);
}

void monitor__input_close(struct monitor__input *in)
{
    close_member(in);
    for (size_t i = 0; i < in->nfiles; i++)
        free(in->files[i]);
    free(in->files);
    in->files = NULL;
    in->nfiles = 0;
}
