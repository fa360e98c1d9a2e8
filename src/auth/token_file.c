/* Files that hold secrets: the signing key and the token files handed to
 * child processes. Both are written 0600 and atomically, so a reader never
 * sees a half-written secret and a crash leaves the old file or the new one.
 */
#include "auth/auth_int.h"
#include "skiff/auth.h"
#include "skiff/err.h"
#include "skiff/fs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A token file holds one token; anything much longer is not one. */
#define TOKEN_FILE_MAX (2 * AUTH__TOKEN_MAX)

int auth__write_file_atomic(const char *path, const void *data, size_t n, bool replace,
                            struct skiff_err *err)
{
    char tmp[PATH_MAX];
    int fd = -1, rc = 0;
    bool tmp_exists = false;

    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= sizeof tmp)
        return skiff_err_set(err, SKIFF_EINVAL, "path '%s' is too long", path);
    /* mkostemp creates the file 0600 whatever the umask */
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot create '%s'", path);
        goto out;
    }
    tmp_exists = true;
    if (fchmod(fd, 0600) != 0 || skiff_fs_write_all(fd, data, n) != 0 || fsync(fd) != 0) {
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", path);
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot write '%s'", path);
        goto out;
    }
    fd = -1;
    if (replace) {
        if (rename(tmp, path) != 0) {
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot replace '%s'", path);
            goto out;
        }
        tmp_exists = false;
    } else if (link(tmp, path) != 0) {
        if (errno == EEXIST)
            rc = skiff_err_set(err, SKIFF_EEXIST, "'%s' already exists", path);
        else
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot create '%s'", path);
        goto out;
    }
    if (skiff_fs_fsync_parent(path) != 0)
        rc = skiff_err_sys(err, SKIFF_EIO, "cannot sync the folder of '%s'", path);
out:
    if (fd >= 0)
        close(fd);
    if (tmp_exists)
        unlink(tmp);
    return rc;
}

int skiff_auth_write_token_file(const char *path, const char *token, struct skiff_err *err)
{
    size_t n;

    if (!path || !*path)
        return skiff_err_set(err, SKIFF_EINVAL, "empty token file path");
    if (!token || !*token)
        return skiff_err_set(err, SKIFF_EINVAL, "empty token for '%s'", path);
    n = strlen(token);
    if (n > AUTH__TOKEN_MAX)
        return skiff_err_set(err, SKIFF_ETOOBIG, "token for '%s' is longer than %d bytes",
                             path, AUTH__TOKEN_MAX);
    for (size_t i = 0; i < n; i++)
        if (isspace((unsigned char)token[i]))
            return skiff_err_set(err, SKIFF_EINVAL, "token for '%s' contains whitespace", path);
    /* no trailing newline: scripts that read the file whole and put it in an
     * Authorization header must get exactly the token */
    return auth__write_file_atomic(path, token, n, true, err);
}

int skiff_auth_read_token_file(const char *path, char **token, struct skiff_err *err)
{
    char *buf = NULL;
    size_t len = 0, start = 0;
    int fd = -1, rc = 0;

    *token = NULL;
    if (!path || !*path)
        return skiff_err_set(err, SKIFF_EINVAL, "empty token file path");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = skiff_err_sys(err, errno == ENOENT ? SKIFF_ENOTFOUND : SKIFF_EIO,
                           "cannot open token file '%s'", path);
        goto out;
    }
    /* one byte more than the cap tells "too big" from "exactly the cap" */
    if (!(buf = malloc(TOKEN_FILE_MAX + 2))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory reading '%s'", path);
        goto out;
    }
    while (len <= TOKEN_FILE_MAX) {
        ssize_t r = read(fd, buf + len, TOKEN_FILE_MAX + 1 - len);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = skiff_err_sys(err, SKIFF_EIO, "cannot read token file '%s'", path);
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    if (len > TOKEN_FILE_MAX) {
        rc = skiff_err_set(err, SKIFF_ETOOBIG, "token file '%s' is larger than %d bytes",
                           path, TOKEN_FILE_MAX);
        goto out;
    }
    while (len > 0 && isspace((unsigned char)buf[len - 1]))
        len--;
    while (start < len && isspace((unsigned char)buf[start]))
        start++;
    if (start == len) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "token file '%s' is empty", path);
        goto out;
    }
    memmove(buf, buf + start, len - start);
    buf[len - start] = '\0';
    if (memchr(buf, '\0', len - start)) {
        rc = skiff_err_set(err, SKIFF_EINVAL, "token file '%s' holds binary data", path);
        goto out;
    }
    *token = buf;
    buf = NULL;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}
