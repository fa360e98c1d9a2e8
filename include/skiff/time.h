/* Time: UTC microseconds since the epoch (int64_t) everywhere inside skiff.
 *
 * Parsing accepts what users and upstream files write:
 *   RFC 3339         2026-11-27T09:14:02Z, 2026-11-27T10:14:02.5+01:00,
 *                    2026-11-27 09:14:02 (space instead of T; no offset = UTC),
 *                    2026-11-27 (midnight UTC)
 *   epoch seconds    1795770842, 1795770842.25
 *   epoch millis     1795770842250 (13 digits or more: milliseconds)
 * Durations: a sequence of number+unit, units us ms s m h d w:
 *   90s, 7d, 1h30m, 1.5h, 500ms; a bare number is seconds.
 */
#ifndef SKIFF_TIME_H
#define SKIFF_TIME_H

#include <stddef.h>
#include <stdint.h>

struct skiff_err;

#define SKIFF_US_PER_SEC INT64_C(1000000)

int64_t skiff_time_now_us(void);      /* wall clock, UTC */
int64_t skiff_time_mono_us(void);     /* monotonic, for measuring intervals */

/* Each returns 0, or SKIFF_EINVAL with a message naming the text. */
int skiff_time_parse(const char *s, int64_t *out_us, struct skiff_err *err);
int skiff_duration_parse(const char *s, int64_t *out_us, struct skiff_err *err);

/* "2026-11-27T09:14:02.113Z" (milliseconds; buf of 32 bytes is enough).
 * Returns buf. */
const char *skiff_time_format(int64_t us, char *buf, size_t n);
/* "7d", "1h30m", "90s", "250ms". Returns buf. */
const char *skiff_duration_format(int64_t us, char *buf, size_t n);

#endif
