/* internal.h: what the method files of compressors/ share and nobody else needs.
 *
 * The traits rows (one per method file), the part allocator, the quantiser convention of
 * kernels/formats.h (value = scale * (q - zero)) and the seeded position generators. */
#ifndef DB_COMPRESSORS_INTERNAL_H
#define DB_COMPRESSORS_INTERNAL_H

#include <math.h>
#include <stdint.h>

#include "compressors/compressor.h"
#include "core/half.h"
#include "core/rng.h"

extern const dc_method dc_method_fp16, dc_method_rtn, dc_method_magprune, dc_method_dare,
    dc_method_lowrank, dc_method_bitdelta, dc_method_deltazip, dc_method_deltadq;

/* Appends a zero-filled owned part [d0] (ndim 1) or [d0, d1] (ndim 2) to pk; returns its data. */
db_status dc_part_add(dc_packed *pk, const char *suffix, db_dtype dt, int ndim, int64_t d0,
                      int64_t d1, void **data);
/* The part named suffix with the expected dtype; DB_ERR_FORMAT naming it when absent. */
db_status dc_part_need(const dc_packed *pk, const char *suffix, db_dtype dt, const void **data);
/* Fills one layout row. */
void dc_layout_set(dc_part *p, const char *suffix, db_dtype dt, int ndim, int64_t d0, int64_t d1);

/* Positive scale rounded *up* to the next fp16 value, so quantising with the stored scale
 * keeps the round-to-nearest bound |error| <= scale / 2 (and never overflows the range). */
uint16_t dc_scale_f16_up(float s);
/* GPTQ's symmetric per-row scale for absolute maximum amax: 2 amax / (2^bits - 1) (amax = 0
 * is treated as 1, as GPTQ does, so all codes are `zero`). */
float dc_sym_scale(float amax, int bits);
/* q = clamp(round_half_even(x / s) + z, 0, maxq). */
static inline uint32_t dc_quant(float x, float s, int z, int maxq)
{
    float q = nearbyintf(x / s) + (float)z;
    if (q < 0.0f)
        q = 0.0f;
    if (q > (float)maxq)
        q = (float)maxq;
    return (uint32_t)q;
}

/* DARE: keep column when the draw >= p * 2^64 (one rng_u64 per column, row stream). */
uint64_t dc_dare_threshold(double p);
/* DeltaDQ: the ascending positions of the kept columns of row r (KEPT of them, see
 * dc_dq_keep); `scratch` holds G int32. */
int64_t dc_dq_positions(uint64_t seed, uint64_t tid, int64_t r, int64_t K, int64_t G, int64_t c,
                        int32_t *pos, int32_t *scratch);
int64_t dc_dq_row_kept(int64_t K, int64_t G, int64_t c);
/* Full-group keep count c = round(G (1 - p)), at least 1. */
int64_t dc_dq_c(int64_t G, double drop);

/* Fused BitDelta pass over one row range: sign bits and the sum of |Δ| (double). Vectorised
 * with F16C/AVX2 where available; *sum_abs accumulates. */
void dc_bitdelta_rows(const dc_src *src, int64_t r0, int64_t r1, uint32_t *signs,
                      double *sum_abs);

#endif
