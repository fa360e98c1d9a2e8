/* Artifact archives: a file or a folder as tar+gzip (Argo's default
 * packing, spec §4.5), and back.
 *
 * The tar is POSIX ustar: one entry per regular file and folder, named
 * "<base>/<relative path>" where <base> is the last component of the
 * packed path (a single file is one entry "<base>"). Unpacking strips
 * <base> and puts the rest at the consumer's path, so a folder packed from
 * /tmp/data arrives at /tmp/in with the same tree, and a single file
 * arrives as the file /tmp/in; this is what Argo's executor does.
 * Symbolic links, devices and fifos are not packed (a symlink could point
 * outside the step's folder); unpacking refuses absolute names and ".."
 * and only ever creates regular files and folders.
 *
 * The gzip stream uses stored (uncompressed) deflate blocks: the workflow
 * module does not link zlib, and stored blocks are valid gzip that every
 * reader (tar -xzf, Python's tarfile) accepts. The reader accepts what the
 * writer makes (stored blocks, one member); an archive made by another
 * tool with compressed blocks is refused with a clear message. Compression
 * comes with zlib (docs/workflows.md, "Not yet").
 *
 * Worked example of the framing: a 3-byte file "abc" named "x" becomes a
 * 512-byte header + 512-byte data block (padded) + 1024 zero bytes = 2048
 * tar bytes, written as gzip header (10 bytes), one stored block
 * 00 | 00 08 | ff f7 | 2048 bytes, the final empty block 01 | 00 00 | ff ff,
 * then CRC-32 and ISIZE (2048), little-endian.
 *
 * No global state; every function may run on any thread.
 */
#include "workflow_int.h"

#include "skiff/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 512
#define STORED_MAX 65535            /* bytes in one stored deflate block */
#define DEPTH_MAX 64                /* folder depth packed */

/* ---- CRC-32 (IEEE 802.3, reflected, as gzip) ---- */

static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
        crc_table[i] = c;
    }
}

/* Worked example: crc32_update(0, "123456789", 9) = 0xCBF43926, the
 * standard check value. */
static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    while (n--)
        crc = (crc >> 8) ^ crc_table[(crc ^ *p++) & 0xff];
    return ~crc;
}

/* ---- gzip writer: stored blocks ---- */

struct gzw {
    int fd;
    uint32_t crc;
    uint32_t isize;                 /* length mod 2^32, as gzip keeps it */
    size_t len;                     /* bytes waiting in buf */
    unsigned char buf[5 + STORED_MAX];
    bool failed;
};

static void put_all(struct gzw *g, const unsigned char *p, size_t n)
{
    while (!g->failed && n > 0) {
        ssize_t w = write(g->fd, p, n);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            g->failed = true;
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Writes the waiting bytes as one stored block (final when `last`). */
static void gzw_block(struct gzw *g, bool last)
{
    unsigned len = (unsigned)g->len;
    g->buf[0] = last ? 1 : 0;       /* BFINAL, BTYPE 00; the rest of the byte pads */
    g->buf[1] = (unsigned char)(len & 0xff);
    g->buf[2] = (unsigned char)(len >> 8);
    g->buf[3] = (unsigned char)(~len & 0xff);
    g->buf[4] = (unsigned char)((~len >> 8) & 0xff);
    put_all(g, g->buf, 5 + g->len);
    g->len = 0;
}

static void gzw_write(struct gzw *g, const void *data, size_t n)
{
    const unsigned char *p = data;
    g->crc = crc32_update(g->crc, p, n);
    g->isize += (uint32_t)n;
    while (n > 0) {
        size_t take = STORED_MAX - g->len < n ? STORED_MAX - g->len : n;
        memcpy(g->buf + 5 + g->len, p, take);
        g->len += take;
        p += take;
        n -= take;
        if (g->len == STORED_MAX)
            gzw_block(g, false);
    }
}

static void gzw_open(struct gzw *g, int fd)
{
    /* magic, deflate, no flags, no mtime, no extra flags, OS unknown */
    static const unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
    memset(g, 0, offsetof(struct gzw, buf));
    g->fd = fd;
    put_all(g, head, sizeof head);
}

static void gzw_close(struct gzw *g)
{
    unsigned char tail[8];
    gzw_block(g, true);
    for (int k = 0; k < 4; k++) {
        tail[k] = (unsigned char)(g->crc >> (8 * k));
        tail[4 + k] = (unsigned char)(g->isize >> (8 * k));
    }
    put_all(g, tail, sizeof tail);
}

/* ---- gzip reader: stored blocks ---- */

struct gzr {
    FILE *f;
    size_t left;                    /* bytes left in the current block */
    bool last;                      /* the current block is the final one */
    const char *bad;                /* why the stream is refused */
};

static int gzr_open(struct gzr *r, FILE *f)
{
    unsigned char h[10];
    memset(r, 0, sizeof *r);
    r->f = f;
    if (fread(h, 1, sizeof h, f) != sizeof h || h[0] != 0x1f || h[1] != 0x8b || h[2] != 8)
        return (r->bad = "not a gzip file"), -1;
    if (h[3] & 4) {                 /* FEXTRA */
        int lo = getc(f), hi = getc(f);
        if (lo == EOF || hi == EOF || fseek(f, lo | hi << 8, SEEK_CUR) != 0)
            return (r->bad = "truncated gzip header"), -1;
    }
    for (int flag = 8; flag <= 16; flag <<= 1)   /* FNAME, FCOMMENT: NUL-terminated */
        if (h[3] & flag) {
            int c;
            while ((c = getc(f)) != EOF && c != 0)
                ;
            if (c == EOF)
                return (r->bad = "truncated gzip header"), -1;
        }
    if ((h[3] & 2) && fseek(f, 2, SEEK_CUR) != 0)   /* FHCRC */
        return (r->bad = "truncated gzip header"), -1;
    return 0;
}

/* Reads exactly n bytes; -1 with r->bad set at a short or refused stream. */
static int gzr_read(struct gzr *r, void *out, size_t n)
{
    unsigned char *p = out;
    while (n > 0) {
        if (r->left == 0) {
            int b, l0, l1, n0, n1;
            if (r->last)
                return (r->bad = "the archive ends early"), -1;
            if ((b = getc(r->f)) == EOF)
                return (r->bad = "truncated gzip stream"), -1;
            if ((b >> 1 & 3) != 0)
                return (r->bad = "compressed deflate blocks are not supported (the archive "
                                 "was not made by skiff)"), -1;
            r->last = b & 1;
            l0 = getc(r->f), l1 = getc(r->f), n0 = getc(r->f), n1 = getc(r->f);
            if (n1 == EOF || ((l0 | l1 << 8) ^ (n0 | n1 << 8)) != 0xffff)
                return (r->bad = "corrupt gzip block"), -1;
            r->left = (size_t)(l0 | l1 << 8);
            continue;
        }
        size_t take = r->left < n ? r->left : n;
        if (fread(p, 1, take, r->f) != take)
            return (r->bad = "truncated gzip stream"), -1;
        r->left -= take;
        p += take;
        n -= take;
    }
    return 0;
}

/* ---- tar writer ---- */

struct packer {
    struct gzw gz;
    char rel[PATH_MAX];             /* entry name being written */
    char path[PATH_MAX];            /* host path being read */
    struct skiff_err *err;
    int rc;
};

static void octal(char *field, size_t width, unsigned long long v)
{
    /* width - 1 digits and a NUL, as ustar writes numbers (callers keep v
     * below 8^(width - 1)) */
    field[width - 1] = '\0';
    for (size_t k = width - 1; k-- > 0; v >>= 3)
        field[k] = (char)('0' + (v & 7));
}

static int header(struct packer *pk, const char *name, char type, mode_t mode, off_t size,
                  time_t mtime)
{
    unsigned char h[BLOCK] = {0};
    size_t len = strlen(name), cut = 0;
    unsigned sum = 0;

    if (len > 100) {
        /* ustar: prefix (155) + '/' + name (100); split at a slash */
        for (size_t k = len - 1; k > 0; k--)
            if (name[k] == '/' && len - k - 1 <= 100 && k <= 155) {
                cut = k;
                break;
            }
        if (!cut)
            return pk->rc = skiff_err_set(pk->err, SKIFF_EINVAL,
                                          "cannot archive '%.300s': the name is too long for "
                                          "tar", name);
        memcpy(h + 345, name, cut);
        memcpy(h, name + cut + 1, len - cut - 1);
    } else {
        memcpy(h, name, len);
    }
    if ((unsigned long long)size >= 1ULL << 33)
        return pk->rc = skiff_err_set(pk->err, SKIFF_ETOOBIG,
                                      "cannot archive '%.300s': files of 8 GiB or more are not "
                                      "supported", name);
    octal((char *)h + 100, 8, mode & 07777);
    octal((char *)h + 108, 8, 0);
    octal((char *)h + 116, 8, 0);
    octal((char *)h + 124, 12, (unsigned long long)size);
    octal((char *)h + 136, 12, mtime > 0 ? (unsigned long long)mtime : 0);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar", 6);    /* magic with its NUL, then version "00" */
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    for (size_t k = 0; k < BLOCK; k++)
        sum += h[k];
    snprintf((char *)h + 148, 8, "%06o", sum);   /* six digits, NUL, then the space */
    h[155] = ' ';
    gzw_write(&pk->gz, h, sizeof h);
    return 0;
}

static int pack_file(struct packer *pk, const struct stat *st)
{
    unsigned char buf[64 << 10];
    off_t left = st->st_size;
    int fd;

    if (header(pk, pk->rel, '0', st->st_mode, st->st_size, st->st_mtime))
        return pk->rc;
    if ((fd = open(pk->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        return pk->rc = skiff_err_sys(pk->err, SKIFF_EIO, "cannot read '%.300s'", pk->path);
    while (left > 0) {
        ssize_t n = read(fd, buf, left < (off_t)sizeof buf ? (size_t)left : sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* the file shrank while it was packed: pad with zeros, as tar does */
            memset(buf, 0, sizeof buf);
            n = left < (off_t)sizeof buf ? (ssize_t)left : (ssize_t)sizeof buf;
        }
        gzw_write(&pk->gz, buf, (size_t)n);
        left -= n;
    }
    close(fd);
    if (st->st_size % BLOCK) {
        memset(buf, 0, BLOCK);
        gzw_write(&pk->gz, buf, BLOCK - (size_t)(st->st_size % BLOCK));
    }
    return 0;
}

/* Packs pk->path (entry name pk->rel); folders recurse in name order so
 * that one tree always makes the same archive. */
static int pack_entry(struct packer *pk, int depth)
{
    struct stat st;
    struct dirent **list = NULL;
    size_t plen = strlen(pk->path), rlen = strlen(pk->rel);
    int n, rc = 0;

    if (lstat(pk->path, &st) != 0)
        return pk->rc = skiff_err_sys(pk->err, SKIFF_EIO, "cannot read '%.300s'", pk->path);
    if (S_ISREG(st.st_mode))
        return pack_file(pk, &st);
    if (!S_ISDIR(st.st_mode))
        return 0;                   /* symlinks, devices, fifos: not packed */
    if (depth > DEPTH_MAX)
        return pk->rc = skiff_err_set(pk->err, SKIFF_EINVAL,
                                      "cannot archive '%.300s': folders nested deeper than %d",
                                      pk->path, DEPTH_MAX);
    if (rlen + 2 > sizeof pk->rel)
        return pk->rc = skiff_err_set(pk->err, SKIFF_EINVAL, "path too long");
    strcat(pk->rel, "/");
    rc = header(pk, pk->rel, '5', st.st_mode, 0, st.st_mtime);
    pk->rel[rlen] = '\0';
    if (rc)
        return rc;
    if ((n = scandir(pk->path, &list, NULL, alphasort)) < 0)
        return pk->rc = skiff_err_sys(pk->err, SKIFF_EIO, "cannot list '%.300s'", pk->path);
    for (int k = 0; k < n; k++) {
        const char *d = list[k]->d_name;
        if (rc || strcmp(d, ".") == 0 || strcmp(d, "..") == 0)
            continue;
        if ((size_t)snprintf(pk->path + plen, sizeof pk->path - plen, "/%s", d) >=
                sizeof pk->path - plen ||
            (size_t)snprintf(pk->rel + rlen, sizeof pk->rel - rlen, "/%s", d) >=
                sizeof pk->rel - rlen)
            rc = pk->rc = skiff_err_set(pk->err, SKIFF_EINVAL, "path too long under '%.300s'",
                                        pk->path);
        else
            rc = pack_entry(pk, depth + 1);
        pk->path[plen] = '\0';
        pk->rel[rlen] = '\0';
    }
    for (int k = 0; k < n; k++)
        free(list[k]);
    free(list);
    return rc;
}

int workflow__tgz_pack(const char *src, const char *dst, struct skiff_err *err)
{
    struct packer *pk = calloc(1, sizeof *pk);
    const char *base;
    unsigned char zero[2 * BLOCK] = {0};
    int fd, rc;

    if (!pk)
        return skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    pk->err = err;
    snprintf(pk->path, sizeof pk->path, "%s", src);
    /* the entry is named after the last component ("/tmp/data/" -> "data") */
    for (size_t n = strlen(pk->path); n > 1 && pk->path[n - 1] == '/';)
        pk->path[--n] = '\0';
    base = strrchr(pk->path, '/');
    base = base && base[1] ? base + 1 : pk->path;
    snprintf(pk->rel, sizeof pk->rel, "%s", base[0] && strcmp(base, "/") ? base : "root");
    if ((fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%.300s'", dst);
        free(pk);
        return rc;
    }
    gzw_open(&pk->gz, fd);
    rc = pack_entry(pk, 0);
    gzw_write(&pk->gz, zero, sizeof zero);   /* end of archive: two zero blocks */
    gzw_close(&pk->gz);
    if (!rc && pk->gz.failed)
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%.300s'", dst);
    if (close(fd) != 0 && !rc)
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%.300s'", dst);
    free(pk);
    if (rc)
        unlink(dst);
    return rc;
}

/* ---- tar reader ---- */

static int mkdir_p(char *path)
{
    for (char *p = path + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        int rc = mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
        *p = c;
        if (rc || !c)
            return rc;
    }
}

static unsigned long long from_octal(const unsigned char *f, size_t n)
{
    unsigned long long v = 0;
    size_t k = 0;
    while (k < n && f[k] == ' ')
        k++;
    for (; k < n && f[k] >= '0' && f[k] <= '7'; k++)
        v = v * 8 + (unsigned long long)(f[k] - '0');
    return v;
}

/* Whether an entry name stays inside the destination. */
static bool safe_name(const char *name)
{
    const char *seg = name;
    if (name[0] == '/')
        return false;
    for (const char *p = name;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        if (p - seg == 2 && seg[0] == '.' && seg[1] == '.')
            return false;
        if (!*p)
            return true;
        seg = p + 1;
    }
}

/* Copies (or with out < 0 skips) n bytes and the padding to the next block. */
static int copy_data(struct gzr *r, int out, unsigned long long n)
{
    unsigned char buf[16 << 10];
    unsigned long long pad = (BLOCK - n % BLOCK) % BLOCK;
    while (n + pad > 0) {
        size_t take = n > 0 ? (n < sizeof buf ? (size_t)n : sizeof buf)
                            : (size_t)pad;
        if (gzr_read(r, buf, take))
            return -1;
        if (n > 0) {
            for (size_t done = 0; out >= 0 && done < take;) {
                ssize_t w = write(out, buf + done, take - done);
                if (w <= 0) {
                    if (w < 0 && errno == EINTR)
                        continue;
                    r->bad = "cannot write an unpacked file";
                    return -1;
                }
                done += (size_t)w;
            }
            n -= take;
        } else {
            pad = 0;
        }
    }
    return 0;
}

int workflow__tgz_unpack(const char *src, const char *dst, struct skiff_err *err)
{
    FILE *f = fopen(src, "rbe");
    struct gzr r;
    unsigned char h[BLOCK];
    char name[300], target[PATH_MAX];
    int rc = 0;

    if (!f)
        return skiff_err_sys(err, SKIFF_EIO, "cannot read the artifact '%.300s'", src);
    if (gzr_open(&r, f)) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "cannot unpack '%.300s': %s", src, r.bad);
        goto out;
    }
    for (;;) {
        unsigned long long size;
        unsigned sum = 0;
        const char *rel;
        char type;
        int fd;

        if (gzr_read(&r, h, sizeof h))
            break;
        for (size_t k = 0; k < BLOCK; k++)
            sum += k >= 148 && k < 156 ? ' ' : h[k];
        if (sum == 8 * ' ')
            goto done;              /* a zero block: the end of the archive */
        if (sum != from_octal(h + 148, 8)) {
            r.bad = "bad tar header checksum";
            break;
        }
        size = from_octal(h + 124, 12);
        type = (char)h[156];
        if (h[345])
            snprintf(name, sizeof name, "%.155s/%.100s", (const char *)h + 345,
                     (const char *)h);
        else
            snprintf(name, sizeof name, "%.100s", (const char *)h);
        if (!safe_name(name)) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "cannot unpack '%.300s': entry '%s' leads "
                               "outside the destination", src, name);
            goto out;
        }
        /* strip the packed base name: "data/a/b" -> "a/b", "data" -> "" */
        rel = strchr(name, '/');
        rel = rel ? rel + 1 : "";
        if ((size_t)snprintf(target, sizeof target, "%s%s%s", dst, *rel ? "/" : "", rel) >=
            sizeof target) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "cannot unpack '%.300s': path too long", src);
            goto out;
        }
        for (size_t n = strlen(target); n > 1 && target[n - 1] == '/';)
            target[--n] = '\0';
        if (type == '5') {
            if (mkdir_p(target) != 0) {
                rc = skiff_err_sys(err, SKIFF_EIO, "cannot make the folder '%.300s'", target);
                goto out;
            }
            continue;
        }
        if (type != '0' && type != '\0') {
            /* links, pax headers, devices: skipped with their data */
            if (copy_data(&r, -1, size))
                break;
            continue;
        }
        {
            char *slash = strrchr(target, '/');
            if (slash && slash != target) {
                *slash = '\0';
                int mk = mkdir_p(target);
                *slash = '/';
                if (mk != 0) {
                    rc = skiff_err_sys(err, SKIFF_EIO, "cannot make the folder for '%.300s'",
                                       target);
                    goto out;
                }
            }
        }
        fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                  (mode_t)(from_octal(h + 100, 8) & 0777) | 0600);
        if (fd < 0) {
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%.300s'", target);
            goto out;
        }
        rc = copy_data(&r, fd, size);
        if (close(fd) != 0 && !rc) {
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%.300s'", target);
            goto out;
        }
        if (rc) {
            rc = 0;
            break;
        }
    }
    rc = skiff_err_set(err, SKIFF_EINVAL, "cannot unpack '%.300s': %s", src,
                       r.bad ? r.bad : "bad archive");
    goto out;
done:
    rc = 0;
out:
    fclose(f);
    return rc;
}

int workflow__copy_file(const char *src, const char *dst, struct skiff_err *err)
{
    unsigned char buf[64 << 10];
    int in = open(src, O_RDONLY | O_CLOEXEC), out;
    int rc = 0;

    if (in < 0)
        return skiff_err_sys(err, SKIFF_EIO, "cannot read '%.300s'", src);
    {
        char parent[PATH_MAX], *slash;
        snprintf(parent, sizeof parent, "%s", dst);
        if ((slash = strrchr(parent, '/')) && slash != parent) {
            *slash = '\0';
            mkdir_p(parent);
        }
    }
    if ((out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644)) < 0) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%.300s'", dst);
        close(in);
        return rc;
    }
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf), done = 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot read '%.300s'", src);
            break;
        }
        if (n == 0)
            break;
        while (done < n) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w <= 0 && !(w < 0 && errno == EINTR)) {
                rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%.300s'", dst);
                break;
            }
            done += w > 0 ? w : 0;
        }
        if (rc)
            break;
    }
    close(in);
    if (close(out) != 0 && !rc)
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%.300s'", dst);
    return rc;
}
