/* random.h: random packed deltas of the kernel formats (bench-kernel, the kernel executor). */
#ifndef DB_KERNELS_RANDOM_H
#define DB_KERNELS_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"
#include "kernels/kernels.h"

/* The host image of one random delta of format fmt, shape [N, K]: part[j] allocated (db_free)
 * with bytes[j] bytes (0 and NULL for parts the format lacks). NMQ is 2:4 with `bits`-bit codes;
 * CSR keeps round(density K) >= 1 columns per row, spread evenly with jitter (*nnz: their
 * total); LOWRANK has rank `rank`; values are small and finite, like a delta's. */
db_status kn_random_delta(kn_fmt fmt, int64_t N, int64_t K, int bits, double density, int64_t rank,
                          db_rng *r, void *part[KN_MAX_PARTS], size_t bytes[KN_MAX_PARTS],
                          int64_t *nnz);

#endif
