/* Kubernetes quantities: see include/skiff/workflow.h.
 *
 * A quantity is a decimal number (optionally with an exponent, "1e9") and a
 * suffix: binary Ki Mi Gi Ti Pi Ei (powers of 1024), decimal k M G T P E
 * (powers of 1000), or m (thousandths). Worked examples: "512Mi" = 512 *
 * 1024^2 = 536870912 bytes; "1G" = 1e9 bytes; "500m" cpu = 0.5 cores.
 */
#include "workflow_int.h"

#include "skiff/err.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int skiff_workflow_quantity(const char *s, double *out, struct skiff_err *err)
{
    static const struct { const char *suffix; double mult; } suffixes[] = {
        {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
        {"Pi", 1125899906842624.0}, {"Ei", 1152921504606846976.0},
        {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"E", 1e18},
        {"m", 1e-3}, {"", 1},
    };
    const char *p = s;
    char *end;
    double v;

    if (!s || !*s)
        return skiff_err_set(err, SKIFF_EINVAL, "empty quantity");
    /* digits first: strtod alone would accept "inf", "nan", "0x10" and spaces */
    if (*p == '+')
        p++;
    if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
        goto bad;
    for (const char *q = p; *q && *q != 'e' && *q != 'E'; q++)
        if (*q == 'x' || *q == 'X')
            goto bad;
    v = strtod(p, &end);
    if (end == p || !isfinite(v))
        goto bad;
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        if (strcmp(end, suffixes[i].suffix) == 0) {
            v *= suffixes[i].mult;
            if (!isfinite(v) || v >= 9.2e18)
                goto bad;
            *out = v;
            return 0;
        }
    }
bad:
    return skiff_err_set(err, SKIFF_EINVAL,
                         "invalid quantity '%.64s' (expected a number with an optional suffix "
                         "such as 512Mi, 2Gi, 1G or 500m)", s);
}
