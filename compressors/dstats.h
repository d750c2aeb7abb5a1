/* dstats.h: statistics of a fine-tuning delta's distribution (`dstat_` module), the numbers
 * the synthetic generator (compressors/synth.c) is fitted to (`deltabench stats`, registry
 * entry dz1).
 *
 * Per linear tensor Δ [R, C] (R output rows, C input columns), in double precision:
 *   rms         √(mean Δ²)
 *   kurtosis    m4 / m2² of the values about their mean (3 for a Gaussian; larger: heavier tails)
 *   row_max_rms mean over rows of max_c |Δ_rc| / rms_r, rms_r the row's own RMS (rows with
 *               rms_r = 0 are skipped); depends on C: ≈ 2.8 for a Gaussian at C = 128, ≈ 3.9 at 4096
 *   near_zero   share of values with |Δ| < near · rms (Gaussian: 0.080 at near = 0.1)
 *   row_spread  standard deviation over rows of ln rms_r (0: every row has the same scale)
 *   col_spread  the same over columns
 * These name the generator's knobs: kurtosis and near_zero its scale mixture, row_spread and
 * col_spread its per-row and per-column factors. */
#ifndef DB_DSTATS_H
#define DB_DSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct {
    char name[96]; /* tensor name ("" from dstat_compute) */
    int64_t rows, cols;
    double rms, kurtosis, row_max_rms, near_zero, row_spread, col_spread;
} dstat_row;

/* Statistics of x [R, C] (row-major) with near-zero threshold `near` (share of the RMS).
 * DB_ERR_ARG for an empty shape or near < 0; an all-zero tensor gives rms 0 and kurtosis,
 * row_max_rms, spreads 0, near_zero 0 (no value is below 0). */
db_status dstat_compute(const float *x, int64_t R, int64_t C, double near, dstat_row *out);

/* One row per linear projection (q, k, v, o, gate, up, down) of the pair, Δ = target − base in
 * f32, in the base's tensor order. base and target: a file, a directory or a sharded index.
 * Errors name the file (a missing tensor, a different shape, an unsupported dtype).
 * *rows is db_free'd by the caller. */
db_status dstat_pair(const char *base, const char *target, double near, dstat_row **rows,
                     size_t *n);

#endif
