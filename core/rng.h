/* rng.h: the project's seeded random number generator (xoshiro256**, seeded by splitmix64).
 *
 * One generator state is passed explicitly wherever randomness is needed; there is no global
 * RNG and no rand(). Independent streams come from rng_stream() (a hash of seed and stream id,
 * for "positions regenerated from a stored seed") or rng_jump() (2^128 steps ahead, for
 * splitting one sequence into non-overlapping parts). Same seed, same outputs, on every machine. */
#ifndef DB_RNG_H
#define DB_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} db_rng;

void rng_seed(db_rng *r, uint64_t seed);
/* A generator for (seed, stream): distinct streams are statistically independent. */
void rng_stream(db_rng *r, uint64_t seed, uint64_t stream);
/* Advances r by 2^128 steps (non-overlapping subsequences). */
void rng_jump(db_rng *r);
/* child = r, then r jumps: the two continue on non-overlapping subsequences. */
void rng_split(db_rng *r, db_rng *child);

uint64_t rng_u64(db_rng *r);
uint32_t rng_u32(db_rng *r);
double rng_f64(db_rng *r);               /* uniform in [0, 1), 53 bits */
float rng_f32(db_rng *r);                /* uniform in [0, 1), 24 bits */
uint64_t rng_below(db_rng *r, uint64_t n); /* uniform in [0, n), unbiased; n > 0 */
double rng_normal(db_rng *r);            /* standard normal */
double rng_exponential(db_rng *r, double rate); /* rate > 0 */
double rng_gamma(db_rng *r, double shape, double scale); /* shape > 0, scale > 0 */

/* splitmix64 finaliser: a good 64-bit mixing function, also for hashing ids. */
uint64_t rng_mix64(uint64_t x);

#endif
