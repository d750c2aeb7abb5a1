/* dq_lut.h: a table-lookup product for DeltaDQ's residual stages (`kn_dq`, issue 20 item 1).
 *
 * A DeltaDQ matrix (kernels/formats.h, deltadq) stores, for every kept entry, P stage codes of
 * b_j bits (together at most 8 bits) with one scale per stage, so an entry can take at most
 * 2^bits values: the table T[c] = sum_j scale_j (q_j(c) - (2^b_j - 1) / 2) over the combined
 * code c = q_0 | q_1 << b_0 | ... Its product y [B, N] += x [B, K] Δ̂ᵀ then needs no multiply
 * per entry: each row adds x[col] into the bin of its code (2^bits bins per request row, fp32),
 * and one short dot of the bins with T finishes the row (T-MAC's idea turned around: the
 * weights index the table, the activations are summed per index). The kept columns are given
 * expanded (U16 or U32 [N kept], ascending per row), as the serving forward expands them once
 * from the seed at load; the stage bit streams are the container's, unchanged.
 *
 * Accuracy: the table holds exactly the values the reference computes per entry; bins and the
 * final dot are fp32 where the reference accumulates in double, so the difference is fp32
 * summation alone, at most about (kept + 2^bits) unit roundoffs of sum |Δ̂ x| per output:
 * |lut - ref| <= KN_DQ_TOL_PER_TERM (kept + 2^bits) sum |Δ̂ x| (tests/check_dq_lut.c). */
#ifndef DB_KERNELS_DQ_LUT_H
#define DB_KERNELS_DQ_LUT_H

#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

#define KN_DQ_TOL_PER_TERM 1.2e-7 /* 2 unit roundoffs of fp32 */

typedef struct {
    int64_t N, K, kept;         /* kept entries per row (the same in every row) */
    db_dtype cols_dtype;        /* DT_U16 (K <= 65536) or DT_U32 */
    const void *cols;           /* [N kept] kept columns, row after row */
    int parts;                  /* stages, 1..4 */
    int width[4];               /* bits of each stage; their sum at most 8 */
    const uint32_t *stage[4];   /* each: one bit stream of N kept b_j-bit codes (LSB-first) */
    float scale[4];             /* each stage's scale */
} kn_dq;

/* DB_ERR_ARG with a one-line message when d is inconsistent (widths, sizes, column range is not
 * checked: the caller expanded them). */
db_status kn_dq_check(const kn_dq *d);
/* The value table of the combined codes: 2^(sum of widths) floats. */
void kn_dq_table(const kn_dq *d, float *table);
/* y [B, N] += x [B, K] Δ̂ᵀ: the scalar reference (per entry: decode each stage, sum the levels,
 * multiply, accumulate in double). */
db_status kn_dq_gemm_ref(const kn_dq *d, int64_t B, const float *x, float *y);
/* The same by table lookup: bins per request row, one dot with the table per row. */
db_status kn_dq_gemm_lut(const kn_dq *d, int64_t B, const float *x, float *y);

#endif
