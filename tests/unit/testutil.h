/* What the unit tests share: temporary folders that are removed afterwards. */
#ifndef SKIFF_TESTUTIL_H
#define SKIFF_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static inline int testutil__rm_entry(const char *path, const struct stat *st, int flag,
                                     struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Creates /tmp/skiff-test-<name>-XXXXXX into buf[n]; returns buf, NULL on failure. */
static inline char *test_tmpdir(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "/tmp/skiff-test-%s-XXXXXX", name);
    return mkdtemp(buf);
}

/* Removes a folder and everything in it, without following symlinks. */
static inline void test_rmtree(const char *dir)
{
    nftw(dir, testutil__rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
