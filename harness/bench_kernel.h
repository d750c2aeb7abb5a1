/* bench_kernel.h: the `kernels` HDF5 table that `deltabench bench-kernel` writes, one row per
 * (op, device, shape, batch, deltas, assignment), and the calibration overlay its rows give the
 * serving cost model (`bench-kernel --calib-out`, harness/bench_kernel_calib.c). share_of_copy
 * is the kernel's achieved bytes/s over the copy bandwidth measured on the same device in the
 * same run. */
#ifndef DB_BENCH_KERNEL_H
#define DB_BENCH_KERNEL_H

#include <stdint.h>

#include "core/results.h"
#include "serve/hw.h"

typedef struct {
    char op[24];       /* bitdelta, sbmm, sbmm2, csr, lowrank, dense, *-loop, *-dq, base+* */
    char device[8];    /* cpu / cuda */
    char impl[12];     /* avx2, portable, ref, cuda */
    char assign[24];   /* rows to deltas: round-robin or a popularity law ("zipf:2") */
    int64_t m, k;      /* output rows N, input columns K of the weight */
    int64_t batch, deltas;
    int64_t deltas_used; /* distinct deltas with at least one row (what a call reads) */
    int64_t repeats;   /* timed calls: --rounds x --repeat */
    double median_s;   /* median wall time of one call over every round (CUDA events on GPU) */
    double min_s;
    double bytes;      /* minimum bytes one call moves: each used delta once + x + y (base+
                        * ops: and the fp16 base once) */
    double flops;      /* useful FLOPs of one call */
    double gbs;        /* bytes / median_s / 1e9 */
    double gflops;     /* flops / median_s / 1e9 */
    double copy_gbs;   /* device copy bandwidth, same run (read + written bytes / s / 1e9) */
    double share_of_copy; /* gbs / copy_gbs */
} kb_row;

extern const res_schema kb_schema;

/* The `rounds` table (bench-kernel --rounds R): one row per op, configuration and round of the
 * interleaved timing; median_s and min_s over that round's --repeat calls. Line i of two ops'
 * median_s at one configuration is a pair timed in the same round (`deltabench interval ratio`). */
typedef struct {
    char op[24];
    int64_t m, k, batch, deltas;
    int64_t round; /* 0 .. R-1 */
    double median_s, min_s;
} kb_round_row;

extern const res_schema kb_round_schema;

/* Rows that calibrate the memory side have batch <= this; the compute side, batch >= the other. */
#define KB_CALIB_MEM_MAX_BATCH 16
#define KB_CALIB_COMPUTE_MIN_BATCH 256

/* The cost model's kernel key of op ("gemm" for dense, "delta.sbmm" for sbmm and sbmm2,
 * "delta.bitdelta"), or NULL for ops that calibrate nothing (baselines, csr, lowrank). */
const char *kb_calib_key(const char *op);
/* Writes the calibration overlay of rows for profile hw: eff.<key>.mem = median achieved GB/s
 * over hw's memory bandwidth (rows of batch <= KB_CALIB_MEM_MAX_BATCH), eff.<key>.compute =
 * median GFLOP/s over its peak (batch >= KB_CALIB_COMPUTE_MIN_BATCH), capped at 1; comment
 * lines name the command, device, profile and copy bandwidth. Atomic; DB_ERR_ARG when no row
 * calibrates anything. */
db_status kb_calib_write(const char *path, const kb_row *rows, size_t n, const hw_profile *hw,
                         const char *device, double copy_gbs, const char *command);

#endif
