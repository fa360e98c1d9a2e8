/* Private declarations shared inside the ml module. */
#ifndef SKIFF_ML_INT_H
#define SKIFF_ML_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "skiff/ml.h"

/* xoshiro256** (Blackman and Vigna): small, fast, and good enough for
 * synthetic data and sampling; seeded through splitmix64 so that nearby
 * seeds give unrelated streams. */
struct ml__rng {
    uint64_t s[4];
};

/* A stream for (seed, a, b, c): the same four numbers give the same stream,
 * whatever else was drawn before (datagen draws each user-day on its own). */
void ml__rng_seed(struct ml__rng *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c);
uint64_t ml__rng_next(struct ml__rng *r);
double ml__rng_uniform(struct ml__rng *r);           /* [0, 1) */
uint64_t ml__rng_below(struct ml__rng *r, uint64_t n); /* [0, n), n > 0 */
double ml__rng_normal(struct ml__rng *r);            /* N(0, 1) */
double ml__rng_exp(struct ml__rng *r, double mean);
uint32_t ml__rng_poisson(struct ml__rng *r, double lambda);   /* lambda < 500 */

/* data.c: an empty cell or a pandas missing marker (NA, NaN, null, ...). */
bool ml__is_missing(const char *s);
/* A whole cell as a number (as strtod; NaN text is not a number).
 * *integral is cleared when it has a fraction or exponent. */
bool ml__parse_num(const char *s, double *v, bool *integral);

#endif
