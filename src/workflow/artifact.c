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
 * The gzip stream is zlib's deflate at level 1 (Z_BEST_SPEED): on the
 * CSV-like text artifacts usually carry, level 1 packs about 8 times faster
 * than gzip's default 6 for an archive about 15% larger (measured with
 * this zlib: 100 vs 12 MiB/s, ratio 2.3 vs 2.7); the hand-over sits on the
 * engine's thread, so speed wins. What does not shrink (model weights) is
 * written as stored deflate blocks instead (struct gzw says when); the
 * output is one gzip member either way. The reader takes any gzip: one or
 * several members (as `cat a.gz b.gz` makes), trailing zero bytes, and
 * tars from GNU tar (long names as 'L' entries) and Go's archive/tar,
 * which Argo's executor uses (long names as pax "path" records).
 *
 * Bounds. Both directions stream through fixed buffers (64 KiB ones plus
 * zlib's state: under 400 KiB to pack, under 200 KiB to unpack), whatever
 * the archive's size. Unpacking stops once the tar stream inside passes
 * the config key artifact_max_unpacked (skiff_workflow_set_artifact_max_unpacked;
 * else SKIFF_ARTIFACT_MAX_UNPACKED, a quantity; "32Gi" when unset): deflate
 * shrinks zeros about 1000 times, so a 32 MiB archive could otherwise fill
 * 32 GiB of disk.
 *
 * Worked example of the framing: a 3-byte file "abc" named "x" becomes a
 * 512-byte header + 512-byte data block (padded) + 1024 zero bytes = 2048
 * tar bytes; gzip wraps their deflate with a 10-byte header (1f 8b 08 ...)
 * and an 8-byte trailer, CRC-32 then ISIZE (2048), little-endian. The
 * reader checks that CRC (zlib does) by reading each archive to its end,
 * past the tar's end-of-archive blocks.
 *
 * Global state: only the cap the config sets (an atomic, set at start);
 * every function may run on any thread.
 */
#include "workflow_int.h"

#include "skiff/err.h"
#include "skiff/workflow.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZLIB_CONST                  /* next_in is const: we never change the input */
#include <zlib.h>

#define BLOCK 512
#define CHUNK (64 << 10)            /* compressed bytes buffered each way */
#define DEPTH_MAX 64                /* folder depth packed */
#define LEVEL Z_BEST_SPEED          /* see the top of the file */
#define WINDOW (1UL << 20)          /* input bytes between two level decisions */
#define STORE_MAX 64                /* windows stored between two tries, at most */
#define UNPACKED_DEFAULT (32ULL << 30)
#define PAX_MAX (1 << 20)           /* an extended header larger than this is refused */

/* ---- gzip writer ---- */

/* Incompressible data (model weights, images, archives) would cost level
 * 1's speed for nothing: float32 weights pack at 25 MiB/s for 7% here,
 * while stored deflate blocks (level 0) copy at 700 MiB/s. So each WINDOW
 * of input is judged after it is deflated:
 *   compressing --a window saved under 1/8--> storing for `stored_left`
 *                 windows (4, then doubling to STORE_MAX while the tries
 *                 keep failing)
 *   storing --stored_left reaches 0, or a file of WINDOW or more starts
 *             whose first bytes look compressible (gzw_file)--> compressing
 *             (a try)
 * A try that saves 1/8 or more resets the doubling. Changing the level
 * ends the current deflate block (deflateParams), which costs a few bytes. */
struct gzw {
    int fd;
    bool live;                      /* deflateInit2 succeeded: deflateEnd is owed */
    bool failed;                    /* a write failed (errno says why) */
    int level;                      /* LEVEL or Z_NO_COMPRESSION */
    unsigned stored_left;           /* windows to store before the next try */
    unsigned store_next;            /* windows to store after the next failed try */
    uLong mark_in, mark_out;        /* total_in and total_out at the window's start */
    z_stream z;
    unsigned char out[CHUNK];
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

/* Runs deflate over what next_in holds with `flush`, writing every full
 * output buffer, and the last partial one. Z_FINISH ends the stream. */
static void gzw_deflate(struct gzw *g, int flush)
{
    int zr;
    do {
        g->z.next_out = g->out;
        g->z.avail_out = sizeof g->out;
        zr = deflate(&g->z, flush);
        if (zr == Z_STREAM_ERROR) {
            /* only a broken z_stream gives this; say "I/O" rather than crash */
            errno = EINVAL;
            g->failed = true;
            return;
        }
        put_all(g, g->out, sizeof g->out - g->z.avail_out);
    } while (!g->failed && (g->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END)));
}

/* Switches the deflate level (the state diagram above), writing the block
 * that the switch ends. */
static void gzw_level(struct gzw *g, int level)
{
    /* deflateParams flushes what it holds and answers Z_BUF_ERROR while
     * the output buffer is too small for it: drain and ask again (a few
     * times at most: one buffer holds most of a block) */
    for (int tries = 0; tries < 64 && !g->failed; tries++) {
        int zr;
        g->z.next_out = g->out;
        g->z.avail_out = sizeof g->out;
        zr = deflateParams(&g->z, level, Z_DEFAULT_STRATEGY);
        put_all(g, g->out, sizeof g->out - g->z.avail_out);
        if (zr == Z_OK) {
            g->level = level;
            return;
        }
        if (zr != Z_BUF_ERROR)
            break;
    }
    if (!g->failed) {
        errno = EINVAL;             /* not reached with a sound z_stream */
        g->failed = true;
    }
}

/* After each WINDOW of input: keep the level, store, or try again. */
static void gzw_judge(struct gzw *g)
{
    uLong in = g->z.total_in - g->mark_in, out = g->z.total_out - g->mark_out;
    if (g->level == LEVEL) {
        if (out > in - in / 8) {
            g->stored_left = g->store_next ? g->store_next : 4;
            g->store_next = g->stored_left * 2 > STORE_MAX ? STORE_MAX : g->stored_left * 2;
            gzw_level(g, Z_NO_COMPRESSION);
        } else {
            g->store_next = 0;
        }
    } else if (--g->stored_left == 0) {
        gzw_level(g, LEVEL);
    }
    g->mark_in = g->z.total_in;
    g->mark_out = g->z.total_out;
}

/* Whether the bytes' order-0 entropy is under 7 bits a byte: then Huffman
 * coding alone saves 1/8. A cheap look, not a verdict: CSV text is about
 * 4.5 bits, float32 or float16 weights 7.3, random bytes 8.0. */
static bool looks_compressible(const unsigned char *p, size_t n)
{
    unsigned count[256] = {0};
    double bits = 0;
    if (n == 0)
        return false;
    for (size_t k = 0; k < n; k++)
        count[p[k]]++;
    for (int b = 0; b < 256; b++)
        if (count[b]) {
            double q = (double)count[b] / (double)n;
            bits -= q * log2(q);
        }
    return bits < 7.0;
}

/* A file of `size` bytes starts with `first` (n bytes): while storing, a
 * large one that looks compressible is tried at once (a CSV after a model
 * file), without waiting for the next try. A folder of 1 MiB weight files
 * stays stored. */
static void gzw_file(struct gzw *g, off_t size, const unsigned char *first, size_t n)
{
    if (g->live && !g->failed && g->level != LEVEL && size >= (off_t)WINDOW &&
        looks_compressible(first, n)) {
        gzw_level(g, LEVEL);
        g->mark_in = g->z.total_in;
        g->mark_out = g->z.total_out;
    }
}

static void gzw_write(struct gzw *g, const void *data, size_t n)
{
    const unsigned char *p = data;
    while (g->live && !g->failed && n > 0) {
        /* stop at the window's end, so that each judgement sees WINDOW bytes */
        uLong room = WINDOW - (g->z.total_in - g->mark_in);
        uInt take = n > room ? (uInt)room : (uInt)n;
        g->z.next_in = p;
        g->z.avail_in = take;
        gzw_deflate(g, Z_NO_FLUSH);
        p += take;
        n -= take;
        if (g->z.total_in - g->mark_in >= WINDOW)
            gzw_judge(g);
    }
}

/* 0, or -1 when zlib cannot get its memory. */
static int gzw_open(struct gzw *g, int fd)
{
    memset(g, 0, offsetof(struct gzw, out));
    g->fd = fd;
    /* windowBits 15 + 16: a gzip wrapper (mtime 0, so one tree always
     * makes the same bytes); memLevel 8 is zlib's default */
    if (deflateInit2(&g->z, LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    g->live = true;
    g->level = LEVEL;
    return 0;
}

static void gzw_close(struct gzw *g)
{
    if (!g->live)
        return;
    g->z.next_in = NULL;
    g->z.avail_in = 0;
    if (!g->failed)
        gzw_deflate(g, Z_FINISH);
    deflateEnd(&g->z);
    g->live = false;
}

/* ---- gzip reader ----
 *
 * States of the stream, as gzr_pull moves between them:
 *   in a member --inflate: Z_STREAM_END--> between members
 *   between members --a next byte 1f (after any zero bytes)--> in a member
 *   between members --only zero bytes, then the end of the file--> done
 * The end of the file inside a member is "truncated"; other bytes between
 * members are "trailing garbage". */

struct gzr {
    int fd;
    bool live;                      /* inflateInit2 succeeded: inflateEnd is owed */
    bool eof;                       /* read() said the file has no more bytes */
    bool between;                   /* the last member ended (Z_STREAM_END) */
    unsigned long long total;       /* tar bytes produced so far */
    unsigned long long cap;         /* most tar bytes allowed */
    const char *bad;                /* why the stream is refused */
    char why[200];                  /* storage for a composed `bad` */
    z_stream z;
    unsigned char in[CHUNK];
};

/* Refills the input when it is empty; -1 with r->bad at a read error. */
static int gzr_fill(struct gzr *r)
{
    ssize_t n;
    if (r->z.avail_in > 0 || r->eof)
        return 0;
    do
        n = read(r->fd, r->in, sizeof r->in);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        snprintf(r->why, sizeof r->why, "cannot read it: %s", strerror(errno));
        return (r->bad = r->why), -1;
    }
    r->eof = n == 0;
    r->z.next_in = r->in;
    r->z.avail_in = (uInt)n;
    return 0;
}

static int gzr_open(struct gzr *r, int fd, unsigned long long cap)
{
    memset(r, 0, offsetof(struct gzr, in));
    r->fd = fd;
    r->cap = cap;
    if (gzr_fill(r))
        return -1;
    /* the magic bytes first: windowBits 15 + 32 would also take a zlib
     * stream, and "not a gzip file" says more than "incorrect header check" */
    if (r->z.avail_in < 2 || r->in[0] != 0x1f || r->in[1] != 0x8b)
        return (r->bad = "not a gzip file"), -1;
    if (inflateInit2(&r->z, 15 + 32) != Z_OK)
        return (r->bad = "out of memory"), -1;
    r->live = true;
    return 0;
}

static void gzr_close(struct gzr *r)
{
    if (r->live)
        inflateEnd(&r->z);
    r->live = false;
}

/* Inflates up to n (at most CHUNK) bytes into out; *got < n only at the
 * clean end of the last member. 0, or -1 with r->bad set (truncated,
 * corrupt, past the cap). */
static int gzr_pull(struct gzr *r, unsigned char *out, size_t n, size_t *got)
{
    unsigned long long room = r->cap - r->total;
    /* one byte past the cap is enough to know the cap is passed */
    size_t want = room < n ? (size_t)room + 1 : n;

    r->z.next_out = out;
    r->z.avail_out = (uInt)want;
    while (r->z.avail_out > 0) {
        int zr;
        if (gzr_fill(r))
            return -1;
        if (r->between) {
            while (r->z.avail_in > 0 && r->z.next_in[0] == 0) {
                r->z.next_in++;     /* zero padding after a member, as gzip(1) allows */
                if (--r->z.avail_in == 0 && gzr_fill(r))
                    return -1;
            }
            if (r->z.avail_in == 0)
                break;              /* the end of the file: done */
            if (r->z.next_in[0] != 0x1f)
                return (r->bad = "trailing garbage after the gzip stream"), -1;
            inflateReset(&r->z);    /* the next member */
            r->between = false;
        }
        if (r->z.avail_in == 0)
            return (r->bad = "truncated gzip stream"), -1;
        zr = inflate(&r->z, Z_NO_FLUSH);
        if (zr == Z_STREAM_END)
            r->between = true;
        else if (zr != Z_OK && !(zr == Z_BUF_ERROR && r->z.avail_in == 0)) {
            snprintf(r->why, sizeof r->why, "corrupt gzip stream (%s)",
                     zr == Z_MEM_ERROR ? "out of memory" : r->z.msg ? r->z.msg : "bad data");
            return (r->bad = r->why), -1;
        }
    }
    *got = want - r->z.avail_out;
    r->total += *got;
    if (r->total > r->cap) {
        snprintf(r->why, sizeof r->why, "it unpacks to more than %llu bytes, the limit "
                 "artifact_max_unpacked sets (config.yaml or SKIFF_ARTIFACT_MAX_UNPACKED)",
                 r->cap);
        return (r->bad = r->why), -1;
    }
    return 0;
}

/* Reads exactly n bytes; -1 with r->bad set at a short or refused stream. */
static int gzr_read(struct gzr *r, void *out, size_t n)
{
    unsigned char *p = out;
    while (n > 0) {
        size_t take = n < CHUNK ? n : CHUNK, got;
        if (gzr_pull(r, p, take, &got))
            return -1;
        if (got < take)
            return (r->bad = "the archive ends early"), -1;
        p += got;
        n -= got;
    }
    return 0;
}

/* Reads what follows the tar's end to the end of the file, so that a
 * damaged trailer (CRC-32, length) or a cut file is still noticed. */
static int gzr_finish(struct gzr *r)
{
    unsigned char sink[4096];
    size_t got;
    do
        if (gzr_pull(r, sink, sizeof sink, &got))
            return -1;
    while (got == sizeof sink);
    return 0;
}

/* The config's artifact_max_unpacked in bytes; 0 = not set. */
static _Atomic long long config_cap;

void skiff_workflow_set_artifact_max_unpacked(int64_t bytes)
{
    atomic_store(&config_cap, bytes > 0 ? (long long)bytes : 0);
}

/* The cap on unpacked bytes: the config's (which already holds the
 * environment's, env > file), else SKIFF_ARTIFACT_MAX_UNPACKED (a quantity,
 * "512Mi", "100G"; library users without a config), UNPACKED_DEFAULT when
 * unset or empty. */
static int unpacked_cap(unsigned long long *out, struct skiff_err *err)
{
    const char *s = getenv("SKIFF_ARTIFACT_MAX_UNPACKED");
    long long set = atomic_load(&config_cap);
    double v;
    *out = UNPACKED_DEFAULT;
    if (set > 0) {
        *out = (unsigned long long)set;
        return 0;
    }
    if (!s || !*s)
        return 0;
    if (skiff_workflow_quantity(s, &v, err) != 0 || v < 1 || v >= 9.2e18)
        return skiff_err_set(err, SKIFF_EINVAL, "SKIFF_ARTIFACT_MAX_UNPACKED='%.60s' is not a "
                             "size in bytes (a quantity such as 512Mi or 100G)", s);
    *out = (unsigned long long)v;
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
        if (left == st->st_size)
            gzw_file(&pk->gz, st->st_size, buf, (size_t)n);
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
    if (gzw_open(&pk->gz, fd) != 0) {
        close(fd);
        unlink(dst);
        free(pk);
        return skiff_err_set(err, SKIFF_ENOMEM, "cannot pack '%.300s': out of memory", src);
    }
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

/* A numeric header field: octal digits (leading spaces allowed), or, when
 * the first byte has its high bit set, a big-endian base-256 number (GNU
 * tar and Go write sizes of 8 GiB and more so). Worked example: the
 * 12-byte size field "00000004000\0" is 2048. */
static unsigned long long from_octal(const unsigned char *f, size_t n)
{
    unsigned long long v = 0;
    size_t k = 0;
    if (f[0] & 0x80) {
        /* the rest of the first byte and the next ones; values past 2^63
         * (a negative one, or a corrupt field) end up huge and the data
         * read runs into "the archive ends early" */
        v = f[0] & 0x3f;
        for (k = 1; k < n; k++)
            v = v << 8 | f[k];
        return v;
    }
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

/* Copies (or with out < 0 skips) n bytes and the padding to the next block.
 * -1 with r->bad set; *werr is set when writing `out` failed. */
static int copy_data(struct gzr *r, int out, unsigned long long n, bool *werr)
{
    unsigned char buf[CHUNK];
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
                    *werr = true;
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

/* Reads an extended header's data (GNU 'L' long name, pax 'x' records) of
 * n bytes and its padding into a new NUL-terminated buffer (*out, caller
 * frees). -1 with r->bad set (too large, short stream, out of memory). */
static int read_meta(struct gzr *r, unsigned long long n, char **out)
{
    char *buf;
    unsigned long long pad = (BLOCK - n % BLOCK) % BLOCK;
    unsigned char skip[BLOCK];
    *out = NULL;
    if (n > PAX_MAX)
        return (r->bad = "an extended tar header larger than 1 MiB"), -1;
    if (!(buf = malloc((size_t)n + 1)))
        return (r->bad = "out of memory"), -1;
    if (gzr_read(r, buf, (size_t)n) || gzr_read(r, skip, (size_t)pad)) {
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

/* The "path" record of pax extended header data (records "<len> key=value\n",
 * len counting the whole record: "13 path=a/b\n" names a/b) into
 * name[size]; name is left alone when there is none. -1 with r->bad set
 * when a record is malformed or the path does not fit. */
static int pax_path(struct gzr *r, const char *data, size_t len, char *name, size_t size)
{
    const char *p = data, *end = data + len;
    while (p < end) {
        char *sp;
        unsigned long rec = strtoul(p, &sp, 10);
        const char *eq;
        if (*p < '0' || *p > '9' || *sp != ' ' || rec == 0 || rec > (size_t)(end - p) ||
            p[rec - 1] != '\n')
            return (r->bad = "corrupt pax extended header"), -1;
        eq = memchr(sp + 1, '=', (size_t)(p + rec - 1 - (sp + 1)));
        if (!eq)
            return (r->bad = "corrupt pax extended header"), -1;
        if (eq - (sp + 1) == 4 && memcmp(sp + 1, "path", 4) == 0) {
            size_t vlen = (size_t)(p + rec - 1 - (eq + 1));
            if (vlen == 0 || vlen >= size || memchr(eq + 1, '\0', vlen))
                return (r->bad = "a pax path that is empty or too long"), -1;
            memcpy(name, eq + 1, vlen);
            name[vlen] = '\0';
        }
        p += rec;
    }
    return 0;
}

int workflow__tgz_unpack(const char *src, const char *dst, struct skiff_err *err)
{
    struct gzr *r = NULL;
    unsigned char h[BLOCK];
    char name[PATH_MAX], target[PATH_MAX];
    char longname[PATH_MAX] = "";   /* from a 'L' or 'x' entry: the next entry's name */
    unsigned long long cap;
    bool werr = false;
    int fd = -1, rc;

    if ((rc = unpacked_cap(&cap, err)) != 0)
        return rc;
    if ((fd = open(src, O_RDONLY | O_CLOEXEC)) < 0)
        return skiff_err_sys(err, SKIFF_EIO, "cannot read the artifact '%.300s'", src);
    if (!(r = malloc(sizeof *r))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    if (gzr_open(r, fd, cap))
        goto refused;
    for (;;) {
        unsigned long long size;
        unsigned sum = 0;
        const char *rel;
        char type;
        int out;

        if (gzr_read(r, h, sizeof h))
            goto refused;
        for (size_t k = 0; k < BLOCK; k++)
            sum += k >= 148 && k < 156 ? ' ' : h[k];
        if (sum == 8 * ' ') {
            /* a zero block: the end of the archive; the rest is read for
             * gzip's own checks */
            if (gzr_finish(r))
                goto refused;
            rc = 0;
            goto out;
        }
        if (sum != from_octal(h + 148, 8)) {
            r->bad = "bad tar header checksum";
            goto refused;
        }
        size = from_octal(h + 124, 12);
        type = (char)h[156];
        if (type == 'L' || type == 'x') {
            /* the next entry's full name (GNU tar: the data is the name;
             * pax: a "path" record among others) */
            char *meta;
            if (read_meta(r, size, &meta))
                goto refused;
            if (type == 'L') {
                if (!meta[0] || strlen(meta) >= sizeof longname)
                    r->bad = "a GNU long name that is empty or too long";
                else
                    snprintf(longname, sizeof longname, "%s", meta);
            } else {
                pax_path(r, meta, (size_t)size, longname, sizeof longname);
            }
            free(meta);
            if (r->bad)
                goto refused;
            continue;
        }
        if (longname[0])
            memcpy(name, longname, sizeof name);
        else if (h[345])
            snprintf(name, sizeof name, "%.155s/%.100s", (const char *)h + 345,
                     (const char *)h);
        else
            snprintf(name, sizeof name, "%.100s", (const char *)h);
        longname[0] = '\0';
        if (!safe_name(name)) {
            rc = skiff_err_set(err, SKIFF_EINVAL, "cannot unpack '%.300s': entry '%.300s' leads "
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
        if (type != '0' && type != '\0' && type != '7') {
            /* links, global pax headers, devices: skipped with their data
             * ('7', contiguous, is a regular file) */
            if (copy_data(r, -1, size, &werr))
                goto refused;
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
        out = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                   (mode_t)(from_octal(h + 100, 8) & 0777) | 0600);
        if (out < 0) {
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%.300s'", target);
            goto out;
        }
        rc = copy_data(r, out, size, &werr);
        {
            int saved = errno;      /* write's reason, if it failed */
            if (close(out) != 0 && !werr)
                werr = rc == 0;
            else
                errno = saved;
        }
        if (werr) {
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%.300s'", target);
            goto out;
        }
        if (rc)
            goto refused;
    }
refused:
    /* the archive itself is at fault (or too large): say why */
    rc = skiff_err_set(err, r && r->total > r->cap ? SKIFF_ETOOBIG : SKIFF_EINVAL,
                       "cannot unpack '%.300s': %s", src, r && r->bad ? r->bad : "bad archive");
out:
    if (r)
        gzr_close(r);
    free(r);
    close(fd);
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
