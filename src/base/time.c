/* Time parsing and formatting: see include/skiff/time.h. */
#include "skiff/time.h"
#include "skiff/err.h"

#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t skiff_time_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * SKIFF_US_PER_SEC + ts.tv_nsec / 1000;
}

int64_t skiff_time_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SKIFF_US_PER_SEC + ts.tv_nsec / 1000;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * civil-to-days algorithm). Worked example: 2000-03-01 -> era 5, yoe 0,
 * doy 0, doe 0 -> 5*146097 - 719468 = 11017. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Reads exactly n digits. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static int parse_epoch(const char *s, int64_t *out, struct skiff_err *err)
{
    const char *p = s;
    size_t intdigits = 0;
    bool neg = false;

    if (*p == '-') {
        neg = true;
        p++;
    }
    while (isdigit((unsigned char)p[intdigits]))
        intdigits++;
    if (intdigits == 0 || intdigits > 16)
        return skiff_err_set(err, SKIFF_EINVAL, "invalid timestamp '%s'", s);
    if (p[intdigits] == '\0') {
        int64_t v = strtoll(p, NULL, 10);
        /* 13+ digits is milliseconds: seconds would be past the year 5000 */
        *out = intdigits >= 13 ? v * 1000 : v * SKIFF_US_PER_SEC;
        if (neg)
            *out = -*out;
        return 0;
    }
    if (p[intdigits] == '.') {
        char *end;
        double v = strtod(p, &end);
        if (*end != '\0' || intdigits >= 13)
            return skiff_err_set(err, SKIFF_EINVAL, "invalid timestamp '%s'", s);
        *out = (int64_t)llround(v * 1e6);
        if (neg)
            *out = -*out;
        return 0;
    }
    return skiff_err_set(err, SKIFF_EINVAL, "invalid timestamp '%s'", s);
}

int skiff_time_parse(const char *s, int64_t *out_us, struct skiff_err *err)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    int64_t frac_us = 0, off_s = 0;

    if (!s || !*s)
        return skiff_err_set(err, SKIFF_EINVAL, "empty timestamp");
    /* epoch numbers have no '-' after the first character */
    if (!strchr(s + 1, '-') && !strchr(s, ':'))
        return parse_epoch(s, out_us, err);

    if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        goto bad;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        goto bad;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
            goto bad;
        if (*p == ':') {
            p++;
            if (!digits(&p, 2, &sec))
                goto bad;
        }
        if (h > 23 || mi > 59 || sec > 60)
            goto bad;
        if (sec == 60)
            sec = 59; /* leap second: clamp, as most parsers do */
        if (*p == '.' || *p == ',') {
            int64_t scale = 100000;
            p++;
            if (!isdigit((unsigned char)*p))
                goto bad;
            for (; isdigit((unsigned char)*p); p++) {
                frac_us += (*p - '0') * scale;
                scale /= 10;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om = 0;
            p++;
            if (!digits(&p, 2, &oh))
                goto bad;
            if (*p == ':')
                p++;
            if (*p && !digits(&p, 2, &om))
                goto bad;
            if (oh > 23 || om > 59)
                goto bad;
            off_s = sign * (oh * 3600 + om * 60);
        }
    }
    if (*p != '\0')
        goto bad;
    *out_us = (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off_s) *
                  SKIFF_US_PER_SEC + frac_us;
    return 0;
bad:
    return skiff_err_set(err, SKIFF_EINVAL,
                         "invalid timestamp '%s' (want RFC 3339 such as 2026-11-27T09:14:02Z, "
                         "or epoch seconds or milliseconds)", s);
}

int skiff_duration_parse(const char *s, int64_t *out_us, struct skiff_err *err)
{
    static const struct { const char *unit; double us; } units[] = {
        {"us", 1}, {"ms", 1e3}, {"s", 1e6}, {"m", 60e6}, {"h", 3600e6},
        {"d", 86400e6}, {"w", 604800e6},
    };
    const char *p = s;
    double total = 0;

    if (!s || !*s)
        return skiff_err_set(err, SKIFF_EINVAL, "empty duration");
    while (*p) {
        char *end;
        double v;
        size_t ul = 0;
        bool found = false;

        if (!isdigit((unsigned char)*p) && *p != '.')
            goto bad;
        v = strtod(p, &end);
        if (end == p)
            goto bad;
        p = end;
        while (isalpha((unsigned char)p[ul]))
            ul++;
        if (ul == 0) {
            if (p == s + strlen(s) && total == 0) { /* bare number: seconds */
                total = v * 1e6;
                break;
            }
            goto bad;
        }
        for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
            if (strlen(units[i].unit) == ul && strncmp(p, units[i].unit, ul) == 0) {
                total += v * units[i].us;
                found = true;
                break;
            }
        }
        if (!found)
            goto bad;
        p += ul;
    }
    if (!(total < 9.2e18))
        goto bad;
    *out_us = (int64_t)llround(total);
    return 0;
bad:
    return skiff_err_set(err, SKIFF_EINVAL,
                         "invalid duration '%s' (want e.g. 90s, 15m, 1h30m, 7d)", s);
}

const char *skiff_time_format(int64_t us, char *buf, size_t n)
{
    time_t secs = (time_t)(us >= 0 ? us / SKIFF_US_PER_SEC : (us - 999999) / SKIFF_US_PER_SEC);
    int ms = (int)((us - (int64_t)secs * SKIFF_US_PER_SEC) / 1000);
    struct tm tm;
    char tmp[32];

    gmtime_r(&secs, &tm);
    strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%03dZ", tmp, ms);
    return buf;
}

const char *skiff_duration_format(int64_t us, char *buf, size_t n)
{
    static const struct { const char *unit; int64_t us; } units[] = {
        {"d", 86400 * SKIFF_US_PER_SEC}, {"h", 3600 * SKIFF_US_PER_SEC},
        {"m", 60 * SKIFF_US_PER_SEC}, {"s", SKIFF_US_PER_SEC}, {"ms", 1000}, {"us", 1},
    };
    size_t off = 0;

    if (n)
        buf[0] = '\0';
    if (us == 0) {
        snprintf(buf, n, "0s");
        return buf;
    }
    if (us < 0) {
        off += (size_t)snprintf(buf, n, "-");
        us = -us;
    }
    for (size_t i = 0; i < sizeof units / sizeof *units && us > 0 && off < n; i++) {
        int64_t q = us / units[i].us;
        if (q) {
            off += (size_t)snprintf(buf + off, n - off, "%lld%s", (long long)q, units[i].unit);
            us -= q * units[i].us;
        }
    }
    return buf;
}
