/* Private to src/monitor: helpers shared by the statistics and the report. */
#ifndef SKIFF_MONITOR_INT_H
#define SKIFF_MONITOR_INT_H

#include <stddef.h>

#include "skiff/monitor.h"

struct skiff_err;

/* Sorted copy of x[n] (ascending). Caller frees *out. */
int monitor__sorted(const double *x, size_t n, double **out, struct skiff_err *err);
/* Number of distinct values of a sorted array. */
size_t monitor__distinct(const double *s, size_t n);
/* Distinct values of sorted r and c together (union). */
size_t monitor__distinct_union(const double *rs, size_t nr, const double *cs, size_t nc);

/* Runs test t on samples already cleaned and sorted ascending (the report
 * sorts each column once for every use). */
int monitor__test_sorted(enum skiff_mon_test t, enum skiff_mon_kind kind, const double *rs,
                         size_t nr, const double *cs, size_t nc, double *score,
                         struct skiff_err *err);

#endif
