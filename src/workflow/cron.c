/* CronWorkflow schedules: the next fire time of a 5-field cron expression in
 * a named time zone, read from the TZ database files (/usr/share/zoneinfo),
 * without touching the process's TZ (thread-safe, unlike setenv + mktime).
 *
 * Cron (robfig/cron's standard parser, which Argo uses): minute hour
 * day-of-month month day-of-week; `*` and `?`, lists `1,15`, ranges `1-5`,
 * steps `*\/15`, `1-30/10`, `5/20` (5 to the field's end), names JAN-DEC and
 * SUN-SAT in any case, 7 as Sunday; @yearly @annually @monthly @weekly
 * @daily @midnight @hourly; @every DURATION (`@every 1h30m`: that long after
 * the previous firing, whatever the zone). When both day fields are restricted a day
 * matches either (Vixie cron's rule); when one is `*` both must match.
 *
 * Time zones: a minute fires when its local wall-clock time matches. The
 * search walks UTC minutes and reads each one's local time through the
 * zone's offsets, so it never builds a local time that does not exist:
 * a schedule inside a spring-forward gap (02:30 on the day clocks jump from
 * 02:00 to 03:00) does not fire that day; a time repeated by a fall-back
 * (01:30 twice) fires once, at its first occurrence.
 * Worked example: "30 2 * * *" in America/New_York after 2026-03-07
 * 00:00 UTC gives 2026-03-07 07:30 UTC (02:30 EST, UTC-5); after that it
 * skips 2026-03-08 (clocks jump from 02:00 to 03:00) and gives 2026-03-09
 * 06:30 UTC (02:30 EDT, UTC-4).
 */
#include "workflow_int.h"

#include "skiff/err.h"
#include "skiff/time.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ZONEINFO "/usr/share/zoneinfo"
#define TZFILE_MAX (512 << 10)
#define SEARCH_YEARS 9   /* Feb 29 on a Monday can be 8 years away... or never */

/* ---- the cron expression ---- */

struct cron {
    int64_t every;     /* @every DURATION, seconds; 0 = a cron expression */
    uint64_t minute;   /* bit i: minute i matches */
    uint32_t hour, dom, month, dow;
    bool dom_star, dow_star;
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

/* A number or a name (names[i] stands for i + base). */
static int field_value(const char **sp, const char *const *names, int nnames, int base,
                       int *out)
{
    const char *s = *sp;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        while (isdigit((unsigned char)*s) && v < 1000)
            v = v * 10 + (*s++ - '0');
        *out = (int)v;
        *sp = s;
        return 0;
    }
    for (int i = 0; names && i < nnames; i++)
        if (strncasecmp(s, names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
            *out = i + base;
            *sp = s + 3;
            return 0;
        }
    return -1;
}

static int parse_field(const char *text, const char *what, int lo, int hi,
                       const char *const *names, int nnames, int name_base, uint64_t *bits,
                       bool *star, struct skiff_err *err)
{
    const char *s = text;

    *bits = 0;
    *star = strcmp(text, "*") == 0 || strcmp(text, "?") == 0;
    for (;;) {
        int a, b, step = 1;
        bool range = false;
        if (*s == '*' || *s == '?') {
            a = lo;
            b = hi;
            s++;
            range = true;
        } else {
            if (field_value(&s, names, nnames, name_base, &a))
                goto bad;
            b = a;
            if (*s == '-') {
                s++;
                if (field_value(&s, names, nnames, name_base, &b))
                    goto bad;
                range = true;
            }
        }
        if (*s == '/') {
            s++;
            if (!isdigit((unsigned char)*s) || field_value(&s, NULL, 0, 0, &step) || step < 1)
                goto bad;
            if (!range)
                b = hi;   /* "5/20": from 5 to the end */
        }
        if (a < lo || b > hi || a > b)
            return skiff_err_set(err, SKIFF_EINVAL,
                                 "cron %s field '%s': values must be %d-%d", what, text, lo, hi);
        for (int v = a; v <= b; v += step)
            *bits |= 1ULL << v;
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s)
            goto bad;
        return 0;
    }
bad:
    return skiff_err_set(err, SKIFF_EINVAL, "cron %s field '%s' is not valid", what, text);
}

static int parse_cron(const char *expr, struct cron *c, struct skiff_err *err)
{
    static const struct { const char *name, *expr; } macros[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"},
    };
    char buf[256], *fields[6], *save = NULL, *tok;
    uint64_t bits;
    int n = 0, rc;

    if (!expr || strlen(expr) >= sizeof buf)
        return skiff_err_set(err, SKIFF_EINVAL, "a cron schedule has 5 fields");
    if (strncmp(expr, "@every ", 7) == 0) {
        /* robfig/cron: every DURATION after the previous firing */
        int64_t us = 0;
        memset(c, 0, sizeof *c);
        if (skiff_duration_parse(expr + 7, &us, NULL) != 0 || us < SKIFF_US_PER_SEC)
            return skiff_err_set(err, SKIFF_EINVAL, "'%s': @every takes a duration of at "
                                                    "least 1s, such as 1h30m", expr);
        c->every = us / SKIFF_US_PER_SEC;
        return 0;
    }
    snprintf(buf, sizeof buf, "%s", expr);
    for (size_t i = 0; i < sizeof macros / sizeof *macros; i++)
        if (strcmp(expr, macros[i].name) == 0)
            snprintf(buf, sizeof buf, "%s", macros[i].expr);
    if (buf[0] == '@')
        return skiff_err_set(err, SKIFF_EINVAL, "unknown cron descriptor '%s'", expr);
    for (tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        if (n == 6)
            break;
        fields[n++] = tok;
    }
    if (n != 5)
        return skiff_err_set(err, SKIFF_EINVAL,
                             "cron schedule '%s' has %d fields, 5 expected (minute hour "
                             "day-of-month month day-of-week)", expr, n);
    memset(c, 0, sizeof *c);
    {
        bool star;
        if ((rc = parse_field(fields[0], "minute", 0, 59, NULL, 0, 0, &c->minute, &star, err)))
            return rc;
        if ((rc = parse_field(fields[1], "hour", 0, 23, NULL, 0, 0, &bits, &star, err)))
            return rc;
        c->hour = (uint32_t)bits;
        if ((rc = parse_field(fields[2], "day-of-month", 1, 31, NULL, 0, 0, &bits, &c->dom_star,
                              err)))
            return rc;
        c->dom = (uint32_t)bits;
        if ((rc = parse_field(fields[3], "month", 1, 12, month_names, 12, 1, &bits, &star, err)))
            return rc;
        c->month = (uint32_t)bits;
        /* 0-7: 7 is Sunday too, folded onto 0 */
        if ((rc = parse_field(fields[4], "day-of-week", 0, 7, dow_names, 7, 0, &bits,
                              &c->dow_star, err)))
            return rc;
        c->dow = (uint32_t)((bits | bits >> 7) & 0x7f);
    }
    return 0;
}

/* ---- the zone ---- */

struct rule {              /* a POSIX TZ "Mm.w.d/time" */
    int month, week, wday;
    int32_t secs;
};

struct zone {
    int64_t *trans;        /* UTC seconds */
    uint8_t *idx;
    int32_t *utoff;        /* per type */
    uint8_t *isdst;
    size_t ntrans, ntypes;
    /* the footer, for times after the last transition */
    bool has_footer, has_dst;
    int32_t std_off, dst_off;
    struct rule start, end;
};

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

/* "[+-]hh[:mm[:ss]]" into seconds; NULL on error. */
static const char *posix_time(const char *s, int32_t *out)
{
    int sign = 1, h = 0, m = 0, sec = 0;
    if (*s == '+' || *s == '-')
        sign = *s++ == '-' ? -1 : 1;
    if (!isdigit((unsigned char)*s))
        return NULL;
    while (isdigit((unsigned char)*s))
        h = h * 10 + (*s++ - '0');
    if (*s == ':') {
        s++;
        while (isdigit((unsigned char)*s))
            m = m * 10 + (*s++ - '0');
        if (*s == ':') {
            s++;
            while (isdigit((unsigned char)*s))
                sec = sec * 10 + (*s++ - '0');
        }
    }
    if (h > 167)
        return NULL;
    *out = sign * (h * 3600 + m * 60 + sec);
    return s;
}

static const char *posix_name(const char *s)
{
    if (*s == '<') {
        while (*s && *s != '>')
            s++;
        return *s ? s + 1 : NULL;
    }
    if (!isalpha((unsigned char)*s))
        return NULL;
    while (isalpha((unsigned char)*s))
        s++;
    return s;
}

static const char *posix_rule(const char *s, struct rule *r)
{
    if (*s != 'M')
        return NULL;   /* Jn and n forms: not used by the tz database's zones */
    if (sscanf(s, "M%d.%d.%d", &r->month, &r->week, &r->wday) != 3 || r->month < 1 ||
        r->month > 12 || r->week < 1 || r->week > 5 || r->wday < 0 || r->wday > 6)
        return NULL;
    s++;
    while (isdigit((unsigned char)*s) || *s == '.')
        s++;
    r->secs = 7200;
    if (*s == '/' && !(s = posix_time(s + 1, &r->secs)))
        return NULL;
    return s;
}

/* "EST5EDT,M3.2.0,M11.1.0": POSIX offsets are west of UTC, ours east. */
static bool parse_footer(const char *s, struct zone *z)
{
    int32_t off;
    if (!(s = posix_name(s)) || !(s = posix_time(s, &off)))
        return false;
    z->std_off = -off;
    if (!*s)
        return true;
    if (!(s = posix_name(s)))
        return false;
    z->dst_off = z->std_off + 3600;
    if (*s && *s != ',') {
        if (!(s = posix_time(s, &off)))
            return false;
        z->dst_off = -off;
    }
    if (*s != ',' || !(s = posix_rule(s + 1, &z->start)) || *s != ',' ||
        !(s = posix_rule(s + 1, &z->end)) || *s)
        return false;
    z->has_dst = true;
    return true;
}

static void zone_free(struct zone *z)
{
    free(z->trans);
    free(z->idx);
    free(z->utoff);
    free(z->isdst);
    memset(z, 0, sizeof *z);
}

/* Reads TZif version 2+ (64-bit times) from ZONEINFO/name. */
static int zone_load(const char *name, struct zone *z, struct skiff_err *err)
{
    char path[512];
    unsigned char *buf = NULL, *p, *end;
    size_t len = 0;
    FILE *f = NULL;
    int rc = 0;

    memset(z, 0, sizeof *z);
    if (!name || !*name || strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0) {
        z->has_footer = true;
        return 0;
    }
    for (const char *c = name; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '/' || *c == '_' || *c == '-' || *c == '+') ||
            (c[0] == '/' && (c == name || c[1] == '/' || c[1] == '.')))
            return skiff_err_set(err, SKIFF_EINVAL, "unknown time zone '%s'", name);
    if (strstr(name, "..") || strlen(name) > 200)
        return skiff_err_set(err, SKIFF_EINVAL, "unknown time zone '%s'", name);
    snprintf(path, sizeof path, "%s/%s", ZONEINFO, name);
    if (!(f = fopen(path, "rb")))
        return skiff_err_set(err, SKIFF_EINVAL, "unknown time zone '%s' (no %s)", name, path);
    if (!(buf = malloc(TZFILE_MAX))) {
        rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
        goto out;
    }
    len = fread(buf, 1, TZFILE_MAX, f);
    p = buf;
    end = buf + len;
    for (int pass = 0; pass < 2; pass++) {
        uint32_t isut, isstd, leap, timecnt, typecnt, charcnt;
        size_t tsz = pass ? 8 : 4, need;
        if (end - p < 44 || memcmp(p, "TZif", 4) != 0)
            goto bad;
        isut = be32(p + 20);
        isstd = be32(p + 24);
        leap = be32(p + 28);
        timecnt = be32(p + 32);
        typecnt = be32(p + 36);
        charcnt = be32(p + 40);
        if (typecnt == 0 || typecnt > 256 || timecnt > 100000 || charcnt > 10000 ||
            leap > 10000 || isut > 256 || isstd > 256)
            goto bad;
        need = timecnt * tsz + timecnt + typecnt * 6 + charcnt + leap * (tsz + 4) + isstd +
               isut;
        p += 44;
        if ((size_t)(end - p) < need)
            goto bad;
        if (pass == 0 && p[-44 + 4] >= '2') {
            p += need;   /* skip the 32-bit data: read the 64-bit block */
            continue;
        }
        z->ntrans = timecnt;
        z->ntypes = typecnt;
        z->trans = calloc(timecnt + 1, sizeof *z->trans);
        z->idx = calloc(timecnt + 1, 1);
        z->utoff = calloc(typecnt, sizeof *z->utoff);
        z->isdst = calloc(typecnt, 1);
        if (!z->trans || !z->idx || !z->utoff || !z->isdst) {
            rc = skiff_err_set(err, SKIFF_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < timecnt; i++)
            z->trans[i] = tsz == 8 ? be64(p + i * 8) : (int32_t)be32(p + i * 4);
        p += timecnt * tsz;
        for (size_t i = 0; i < timecnt; i++)
            if ((z->idx[i] = p[i]) >= typecnt)
                goto bad;
        p += timecnt;
        for (size_t i = 0; i < typecnt; i++) {
            z->utoff[i] = (int32_t)be32(p + i * 6);
            z->isdst[i] = p[i * 6 + 4];
        }
        p += need - timecnt * tsz - timecnt;
        if (pass == 1 && p < end && *p == '\n') {
            char footer[128];
            unsigned char *nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
            size_t fl = nl ? (size_t)(nl - p - 1) : 0;
            if (nl && fl < sizeof footer && fl > 0) {
                memcpy(footer, p + 1, fl);
                footer[fl] = '\0';
                z->has_footer = parse_footer(footer, z);
            }
        }
        break;
    }
    goto out;
bad:
    rc = skiff_err_set(err, SKIFF_EINVAL, "time zone '%s': '%s' is not a TZif file", name, path);
out:
    if (rc)
        zone_free(z);
    if (f)
        fclose(f);
    free(buf);
    return rc;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Local midnight (as seconds on the local timeline) of rule r in year y,
 * plus its time. */
static int64_t rule_local(const struct rule *r, int64_t y)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t first = days_from_civil(y, r->month, 1);
    int wd_first = (int)(((first % 7) + 7 + 4) % 7);   /* 1970-01-01 was a Thursday */
    int day = 1 + (r->wday - wd_first + 7) % 7 + (r->week - 1) * 7;
    int last = mdays[r->month - 1] + (r->month == 2 && ((y % 4 == 0 && y % 100 != 0) ||
                                                        y % 400 == 0));
    while (day > last)
        day -= 7;
    return (days_from_civil(y, r->month, day)) * 86400 + r->secs;
}

static int32_t footer_offset(const struct zone *z, int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)(t + z->std_off);
    int64_t y, start, end;
    if (!z->has_dst)
        return z->std_off;
    gmtime_r(&tt, &tm);
    y = tm.tm_year + 1900;
    start = rule_local(&z->start, y) - z->std_off;   /* given in standard time */
    end = rule_local(&z->end, y) - z->dst_off;       /* given in daylight time */
    if (start < end)
        return t >= start && t < end ? z->dst_off : z->std_off;
    return t >= end && t < start ? z->std_off : z->dst_off;
}

/* The zone's offset east of UTC, in seconds, at UTC time t. */
static int32_t zone_offset(const struct zone *z, int64_t t)
{
    size_t lo = 0, hi = z->ntrans;
    if (z->ntrans == 0 || t < z->trans[0]) {
        if (!z->ntypes)
            return z->has_footer ? footer_offset(z, t) : 0;
        for (size_t i = 0; i < z->ntypes; i++)
            if (!z->isdst[i])
                return z->utoff[i];
        return z->utoff[0];
    }
    if (t >= z->trans[z->ntrans - 1] && z->has_footer)
        return footer_offset(z, t);
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (z->trans[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->utoff[z->idx[lo]];
}

/* ---- the search ---- */

static bool day_matches(const struct cron *c, const struct tm *tm)
{
    bool dom = c->dom >> tm->tm_mday & 1, dow = c->dow >> tm->tm_wday & 1;
    if (!(c->month >> (tm->tm_mon + 1) & 1))
        return false;
    return c->dom_star || c->dow_star ? dom && dow : dom || dow;
}

int skiff_workflow_cron_check(const char *schedule, const char *tz, struct skiff_err *err)
{
    struct cron c;
    struct zone z;
    int rc;
    if ((rc = parse_cron(schedule, &c, err)) || (rc = zone_load(tz, &z, err)))
        return rc;
    zone_free(&z);
    return 0;
}

int skiff_workflow_cron_next(const char *schedule, const char *tz, int64_t after,
                             int64_t *next, struct skiff_err *err)
{
    struct cron c;
    struct zone z;
    int64_t t, limit;
    int rc;

    if ((rc = parse_cron(schedule, &c, err)))
        return rc;
    if (c.every) {
        *next = after + c.every;
        return 0;
    }
    if ((rc = zone_load(tz, &z, err)))
        return rc;
    /* the first whole minute strictly after `after` */
    t = (after >= 0 ? after / 60 : (after - 59) / 60) * 60 + 60;
    limit = t + (int64_t)SEARCH_YEARS * 366 * 86400;
    rc = SKIFF_ENOTFOUND;
    while (t < limit) {
        int32_t off = zone_offset(&z, t);
        time_t lt = (time_t)(t + off);
        struct tm tm;
        gmtime_r(&lt, &tm);
        if (!day_matches(&c, &tm)) {
            /* towards the next local midnight, stopping two hours short:
             * an offset change on the way (at most two hours) must not
             * carry the search past it; the hour steps below walk the rest */
            int64_t to_midnight = 86400 - tm.tm_hour * 3600 - tm.tm_min * 60;
            t += to_midnight > 3 * 3600 ? to_midnight - 2 * 3600 : (60 - tm.tm_min) * 60;
            continue;
        }
        if (!(c.hour >> tm.tm_hour & 1)) {
            t += (int64_t)(60 - tm.tm_min) * 60;
            continue;
        }
        if (!(c.minute >> tm.tm_min & 1)) {
            t += 60;
            continue;
        }
        {
            /* after a fall-back the same wall time comes twice: fire once */
            int32_t before = zone_offset(&z, t - 3 * 3600);
            if (before > off) {
                int64_t first = t + off - before;
                if (first < t && zone_offset(&z, first) == before) {
                    t += 60;
                    continue;
                }
            }
        }
        *next = t;
        rc = 0;
        break;
    }
    if (rc)
        skiff_err_set(err, SKIFF_ENOTFOUND, "cron schedule '%s' never fires", schedule);
    zone_free(&z);
    return rc;
}
