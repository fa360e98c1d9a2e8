/* {{...}} substitution: see include/skiff/workflow.h.
 *
 * Substitution is textual, on each string field (Argo substitutes on the
 * JSON-serialised template; doing it per string gives the same result for
 * the simple tags supported here and needs no re-escaping). Expression tags
 * ({{= ...}}) are refused with a clear error rather than left in place.
 */
#include "workflow_int.h"

#include "skiff/buf.h"
#include "skiff/err.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OUT (1 << 20)
#define MAX_TAG 512

/* The trimmed name of the tag starting at `p` ("{{"), into name[MAX_TAG];
 * *end is just past "}}". */
static int read_tag(const char *p, char *name, const char **end, struct skiff_err *err)
{
    const char *close = strstr(p + 2, "}}");
    const char *s = p + 2, *e;
    size_t n;

    if (!close)
        return skiff_err_set(err, SKIFF_EINVAL, "unterminated tag '%.40s'", p);
    e = close;
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    n = (size_t)(e - s);
    if (n > 0 && *s == '=')
        return skiff_err_set(err, SKIFF_EINVAL,
                             "expression tags ({{=...}}) are not supported by the local engine: "
                             "'%.*s'", (int)(close + 2 - p) > 200 ? 200 : (int)(close + 2 - p), p);
    if (n == 0 || n >= MAX_TAG)
        return skiff_err_set(err, SKIFF_EINVAL, "bad tag '%.*s'", n > 200 ? 200 : (int)n + 4, p);
    memcpy(name, s, n);
    name[n] = '\0';
    *end = close + 2;
    return 0;
}

int skiff_workflow_tags(const char *in, int (*fn)(void *ctx, const char *name), void *ctx,
                        struct skiff_err *err)
{
    const char *p = in;
    char name[MAX_TAG];
    int rc;

    while (p && (p = strstr(p, "{{")) != NULL) {
        if ((rc = read_tag(p, name, &p, err)) || (rc = fn(ctx, name)))
            return rc;
    }
    return 0;
}

int skiff_workflow_subst(const char *in, skiff_workflow_lookup_cb lookup, void *ctx, char **out,
                         struct skiff_err *err)
{
    struct skiff_buf b;
    const char *p = in, *tag;
    char name[MAX_TAG];
    int rc = 0;

    *out = NULL;
    skiff_buf_init(&b, MAX_OUT);
    while ((tag = strstr(p, "{{")) != NULL) {
        const char *val;
        if ((rc = skiff_buf_append(&b, p, (size_t)(tag - p))))
            goto toobig;
        if ((rc = read_tag(tag, name, &p, err)))
            goto out;
        if (!(val = lookup(ctx, name))) {
            rc = skiff_err_set(err, SKIFF_ENOTFOUND, "unable to resolve {{%s}}", name);
            goto out;
        }
        if ((rc = skiff_buf_puts(&b, val)))
            goto toobig;
    }
    if ((rc = skiff_buf_puts(&b, p)))
        goto toobig;
    if (!(*out = skiff_buf_detach(&b)))
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
    goto out;
toobig:
    rc = skiff_err_set(err, rc, "substituted text is longer than %d bytes", MAX_OUT);
out:
    skiff_buf_release(&b);
    return rc;
}
