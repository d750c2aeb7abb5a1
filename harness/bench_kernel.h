/* bench_kernel.h: the `kernels` HDF5 table that `deltabench bench-kernel` writes, one row per
 * (op, device, shape, batch, deltas, assignment). The serving cost model's calibration reads gbs / gflops
 * per op and shape from it; share_of_copy is the kernel's achieved bytes/s over the copy
 * bandwidth measured on the same device in the same run. */
#ifndef DB_BENCH_KERNEL_H
#define DB_BENCH_KERNEL_H

#include <stdint.h>

#include "core/results.h"

typedef struct {
    char op[24];       /* bitdelta, sbmm, sbmm2, csr, lowrank, dense, *-loop, *-dq */
    char device[8];    /* cpu / cuda */
    char impl[12];     /* avx2, portable, ref, cuda */
    char assign[24];   /* rows to deltas: round-robin or a popularity law ("zipf:2") */
    int64_t m, k;      /* output rows N, input columns K of the weight */
    int64_t batch, deltas;
    int64_t deltas_used; /* distinct deltas with at least one row (what a call reads) */
    int64_t repeats;
    double median_s;   /* median wall time of one call (CUDA events on GPU) */
    double min_s;
    double bytes;      /* minimum bytes one call moves: each used delta once + x + y */
    double flops;      /* useful FLOPs of one call */
    double gbs;        /* bytes / median_s / 1e9 */
    double gflops;     /* flops / median_s / 1e9 */
    double copy_gbs;   /* device copy bandwidth, same run (read + written bytes / s / 1e9) */
    double share_of_copy; /* gbs / copy_gbs */
} kb_row;

extern const res_schema kb_schema;

#endif
