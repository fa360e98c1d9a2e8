/* Private declarations shared by the files of src/http (route.c, server.c,
 * client.c, metrics.c). Nothing outside src/http includes this. */
#ifndef SKIFF_HTTP_INT_H
#define SKIFF_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "skiff/err.h"
#include "skiff/http.h"

/* One matched parameter: both halves point into the pattern and the path
 * given to http__match, so a failed match costs no allocation. */
struct http__span {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* Matches `path` against `pattern` (see route.c for the grammar). Returns the
 * number of parameters (0..SKIFF_HTTP_MAX_PARAMS) written to `spans`, or -1
 * when the path does not match. Never allocates; any input is safe. */
int http__match(const char *pattern, const char *path, struct http__span *spans);

/* Is `pattern` well formed? 0, or SKIFF_EINVAL with the reason. */
int http__pattern_check(const char *pattern, struct skiff_err *err);

/* True when the pattern has no {param}: such routes win over parameterised ones. */
bool http__pattern_literal(const char *pattern);

/* Strict percent-decoding of a URL path into dst (room for strlen(src)+1).
 * Returns false on an escape that is not two hex digits or that decodes to
 * NUL: such a path is refused with 400, never guessed at. */
bool http__path_decode(const char *src, size_t len, char *dst);

/* True when a segment of the (decoded) path is "." or "..": refused with
 * 400, so no handler ever sees a path that climbs out of where it maps to
 * (an artifact path, a file name), however it was encoded. */
bool http__path_has_dots(const char *path);

#endif
