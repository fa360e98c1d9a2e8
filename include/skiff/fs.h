/* File helpers every subsystem that persists files shares. */
#ifndef SKIFF_FS_H
#define SKIFF_FS_H

#include <stddef.h>

/* Writes all n bytes, retrying short writes and EINTR. Returns 0, or -1
 * with errno set. */
int skiff_fs_write_all(int fd, const void *data, size_t n);

/* fsync the folder holding `path`, so that a rename or link into it
 * survives a crash. Returns 0, or -1 with errno set. */
int skiff_fs_fsync_parent(const char *path);

#endif
