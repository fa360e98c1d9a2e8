/* Seeded random numbers for datagen and sampling (ml_int.h). */
#include "ml_int.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void ml__rng_seed(struct ml__rng *r, uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    /* fold the coordinates through splitmix64 one at a time, so (1,2) and
     * (2,1) differ */
    uint64_t x = seed;
    x = splitmix64(&x) ^ a;
    x = splitmix64(&x) ^ b;
    x = splitmix64(&x) ^ c;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t ml__rng_next(struct ml__rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double ml__rng_uniform(struct ml__rng *r)
{
    /* the top 53 bits: every double in [0, 1) at spacing 2^-53 */
    return (double)(ml__rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t ml__rng_below(struct ml__rng *r, uint64_t n)
{
    /* Lemire's multiply-shift; the bias (n / 2^64) is far below what
     * synthetic data could show */
    return (uint64_t)(((unsigned __int128)ml__rng_next(r) * n) >> 64);
}

double ml__rng_normal(struct ml__rng *r)
{
    /* Box-Muller, one of the pair: simpler than caching the second */
    double u = 1.0 - ml__rng_uniform(r);   /* (0, 1]: log is finite */
    double v = ml__rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

double ml__rng_exp(struct ml__rng *r, double mean)
{
    return -mean * log(1.0 - ml__rng_uniform(r));
}

uint32_t ml__rng_poisson(struct ml__rng *r, double lambda)
{
    /* Knuth: multiply uniforms until the product drops below e^-lambda;
     * about lambda draws, fine for the small rates datagen uses */
    double limit = exp(-lambda), p = 1.0;
    uint32_t k = 0;
    if (lambda <= 0)
        return 0;
    for (;;) {
        p *= ml__rng_uniform(r);
        if (p <= limit)
            return k;
        k++;
    }
}
