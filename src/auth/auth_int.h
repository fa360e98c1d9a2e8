/* Declarations shared by the files of src/auth/ (not part of the public API). */
#ifndef SKIFF_AUTH_INT_H
#define SKIFF_AUTH_INT_H

#include <stdbool.h>
#include <stddef.h>

struct skiff_buf;
struct skiff_err;

/* Longest token verify will look at. Ours are ~400 bytes; the cap bounds the
 * work an unauthenticated request can cause (and the stack buffers sized
 * from it). */
#define AUTH__TOKEN_MAX 8192

/* Appends the base64url encoding of data[n] (RFC 4648 section 5, no
 * padding) to out. Returns 0 or the buffer's error code. */
int auth__b64url_encode(struct skiff_buf *out, const void *data, size_t n);

/* Decodes in[n] (base64url, no padding) into out[cap]; *outlen receives the
 * byte count. Returns 0, or -1 when the text is not canonical base64url: a
 * character outside [A-Za-z0-9_-], '=' padding, a length of 4k+1, or nonzero
 * unused bits in the last character (so each byte string has exactly one
 * accepted spelling and a signature cannot be re-encoded), or when out is too
 * small. */
int auth__b64url_decode(const char *in, size_t n, unsigned char *out, size_t cap,
                        size_t *outlen);

/* Bytes auth__b64url_decode needs for n characters of input. */
#define AUTH__B64URL_DECODED_MAX(n) ((n) / 4 * 3 + 2)

/* Writes data[n] to `path` with mode 0600 so that a reader sees the old file
 * or the new one, never a part: a temp file in the same folder, fsync, then
 * rename (replace=true) or link (replace=false, which fails with
 * SKIFF_EEXIST, message set, if `path` exists: two processes creating the
 * same key cannot overwrite each other). The folder is fsynced afterwards. */
int auth__write_file_atomic(const char *path, const void *data, size_t n, bool replace,
                            struct skiff_err *err);

#endif
