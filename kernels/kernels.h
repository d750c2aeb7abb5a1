/* kernels.h: the one dispatch API of the delta kernels (prefix kn_), CPU and CUDA.
 *
 * Serving a decode step with many fine-tunes of one base computes, for each request row b,
 *     y[b] (+)= W_base x[b] + Δ_{d(b)} x[b]
 * and is memory-bound: the floor is the bytes of W_base plus the bytes of each *distinct* delta
 * used in the batch. The ops here read the packed bytes of kernels/formats.h directly and batch
 * every row of a call in one pass (one launch on GPU): rows are grouped by delta (counting sort,
 * DeltaZip's SBMM), each delta's bytes are read once per call and applied to all of its rows.
 *
 * Legend: B request rows, N output features, K input features, D deltas, G groups (distinct
 * deltas actually used by the rows), r low-rank rank. x is f32 [B, K], y is f32 [B, N], both
 * row-major with rows K and N apart. Weights and deltas are [N, K] row-major like the HF weight.
 *
 * Memory is the context's device: CPU pointers for KN_CPU, device pointers (kn_alloc) for
 * KN_CUDA. Descriptors (kn_deltas, row ids) always live in host memory. Every op writes every
 * element of y[B, N]: with accumulate it adds to y, without it overwrites (rows whose delta id is
 * -1 get 0, or stay untouched with accumulate). */
#ifndef DB_KERNELS_H
#define DB_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"
#include "kernels/formats.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { KN_CPU = 0, KN_CUDA = 1 } kn_device;

/* Which CPU implementation a context runs (CUDA contexts ignore it). */
typedef enum {
    KN_IMPL_REF = 0, /* scalar oracles (kernels/cpu/ *_ref.c): double accumulation */
    KN_IMPL_FAST,     /* the best variant this CPU runs: the int8 table-lookup kernels for
                         1-bit and 2:4 where AVX-512 VBMI + VNNI + GFNI exist (activations quantised
                         to int8 per 256 columns, docs/kernels.md), else as KN_IMPL_F32 */
    KN_IMPL_PORTABLE, /* the fast code paths without SIMD (tests the dispatch fallbacks) */
    KN_IMPL_AVX2,     /* the AVX2 paths even where AVX-512 exists (portable without AVX2):
                         lets tests and benchmarks reach them on an AVX-512 machine */
    KN_IMPL_F32,      /* the f32 kernels (AVX-512 > AVX2 > portable C), f32 activations and
                         accumulation, even where the int8 ones run */
    KN_IMPL_INT8V1    /* the first int8 table-lookup kernels (docs/kernels.md), same numbers as
                         KN_IMPL_FAST's, where the CPU runs them (else as KN_IMPL_F32): the
                         before of the A/B in tests/bench_kernels.c */
} kn_impl;

/* Packed delta formats (part meaning per format; every part is device memory of the context). */
typedef enum {
    KN_FMT_DENSE16 = 0, /* part0 F16 or BF16 [N, K] (dtype): the base, an fp16 delta */
    KN_FMT_BITDELTA,    /* part0 signs U32 [N, W(K,1)]; part1 scale F32 [1] */
    KN_FMT_NMQ,         /* deltazip: part0 codes U32 [N, W(S,bits)]; part1 idx U32
                           [N, W(S,IB)]; part2 scale F16 [N]; S = ceil(K/m) n slots */
    KN_FMT_CSR,         /* part0 rowptr U32 [N+1]; part1 cols (dtype DT_U16 / DT_U32) [nnz];
                           part2 values F16 [nnz] (CUDA needs DT_U32 cols) */
    KN_FMT_LOWRANK,     /* part0 A F16 [N, r]; part1 B F16 [r, K]; Δ = A B */
    KN_FMT_COUNT
} kn_fmt;

#define KN_MAX_PARTS 3

/* D deltas of one format and shape, struct of arrays: part[j][d] is part j of delta d. The
 * pointer arrays are host memory; what they point to is the context's device memory. */
typedef struct {
    kn_fmt fmt;
    int64_t N, K;
    int bits, nm_n, nm_m; /* KN_FMT_NMQ (symmetric codes, zero = 2^(bits-1)) */
    int64_t rank;         /* KN_FMT_LOWRANK */
    db_dtype dtype;       /* KN_FMT_DENSE16: DT_F16 / DT_BF16; KN_FMT_CSR: cols DT_U16 / DT_U32 */
    int D;
    const void *const *part[KN_MAX_PARTS];
    const int64_t *nnz;   /* KN_FMT_CSR: [D] host copy of each delta's rowptr[N] (cuSPARSE needs
                             it on the host; CPU kernels ignore it) */
    bool tiled;           /* KN_FMT_BITDELTA: part0 in the tiled layout of kn_bitdelta_tile
                             (CPU contexts only) */
} kn_deltas;

typedef struct kn_ctx kn_ctx;

/* ---- context ------------------------------------------------------------------------------ */

/* A context for device dev (KN_CUDA: device 0, one stream, cuBLAS/cuSPARSE handles) running
 * implementation impl on CPU. DB_ERR_NO_DEVICE for KN_CUDA without a device or CUDA build. */
db_status kn_ctx_init(kn_ctx **out, kn_device dev, kn_impl impl);
void kn_ctx_free(kn_ctx *c); /* NULL is a no-op */
kn_device kn_ctx_device(const kn_ctx *c);
/* Name of what runs: "ref", "avx2", "avx512", "avx512-int8", "portable", "cuda". */
const char *kn_ctx_impl_name(const kn_ctx *c);
/* The SIMD level this CPU offers the fast kernels: "avx512", "avx2" or "portable". */
const char *kn_cpu_isa(void);
/* Last-level cache bytes of the context's device (CPU: sysconf, 32 MiB fallback; GPU: L2). */
size_t kn_llc_bytes(const kn_ctx *c);
/* Device name ("cpu: <model>" or the GPU's name). */
void kn_device_name(const kn_ctx *c, char *buf, size_t n);

/* ---- memory and timing on the context's device -------------------------------------------- */

/* 256-byte aligned device buffer (*p NULL on failure). */
db_status kn_alloc(kn_ctx *c, size_t bytes, void **p);
void kn_free(kn_ctx *c, void *p); /* NULL is a no-op */
db_status kn_upload(kn_ctx *c, void *dst, const void *src, size_t bytes);   /* host -> device */
db_status kn_download(kn_ctx *c, void *dst, const void *src, size_t bytes); /* device -> host */
db_status kn_copy(kn_ctx *c, void *dst, const void *src, size_t bytes);     /* device -> device */
/* Waits for every queued op of the context. */
db_status kn_sync(kn_ctx *c);
/* Timestamps in slot i (0..7) on the context's stream (CUDA events; clock on CPU). */
db_status kn_mark(kn_ctx *c, int i);
/* Seconds between marks i and j (waits for j). */
db_status kn_elapsed(kn_ctx *c, int i, int j, double *seconds);
/* Copy bandwidth of the device: median of `repeat` copies of `bytes` (memcpy on all threads /
 * cudaMemcpy D2D), counted as bytes read + bytes written per second (STREAM convention). */
db_status kn_copy_bandwidth(kn_ctx *c, size_t bytes, int repeat, double *bytes_per_s);
/* Read bandwidth of the CPU: median of `repeat` passes over `bytes` that only load and add
 * (widest vectors the CPU has, all threads, each over the part it first touched), counted as
 * bytes read per second. The roof of a kernel that streams its weights and writes nothing: on
 * a CPU whose cores cannot keep enough reads in flight it sits below the copy bandwidth, which
 * counts a write for every read. CPU contexts only (DB_ERR_ARG on a device). */
db_status kn_read_bandwidth(kn_ctx *c, size_t bytes, int repeat, double *bytes_per_s);

/* ---- ops ------------------------------------------------------------------------------------ */

/* The tiled layout of 1-bit signs, the AVX-512 kernel's: rows in tiles of KN_TILE, the tile's
 * word w of its KN_TILE rows contiguous (word w of row n at ((n / KN_TILE) W + w) KN_TILE +
 * n % KN_TILE, W = ceil(K / 32)), N padded to a multiple of KN_TILE with zero rows, then 64 bytes
 * of zeros (vector loads read past the last word). Same bytes as the row-major signs but the
 * padding; a loader converts each delta once (as DeltaZip's and Marlin's kernels repack theirs).
 * Every CPU implementation reads both layouts and gives bit-identical results for either. */
#define KN_TILE 16
size_t kn_bitdelta_tiled_bytes(int64_t N, int64_t K);
/* signs U32 [N, W] row-major -> out (kn_bitdelta_tiled_bytes, host memory). */
void kn_bitdelta_tile(const uint32_t *signs, int64_t N, int64_t K, uint32_t *out);
/* Whether context c reads 1-bit deltas faster tiled (a CPU context on an AVX-512 path). */
bool kn_bitdelta_prefers_tiled(const kn_ctx *c);

/* Checks a descriptor: format, shape, parameters, no NULL part pointer (one-line DB_ERR_ARG). */
db_status kn_deltas_check(const kn_deltas *dl);

/* y[b] (+)= Δ_{row_delta[b]} x[b] for b < B; row_delta [B] host ints in [-1, D). One call
 * reads each used delta once: bitdelta batched across tenants, SBMM for n:m, CSR SpMM (cuSPARSE
 * on GPU), low-rank as two skinny GEMMs, dense16 as a GEMM per group (OpenBLAS / cuBLAS). */
db_status kn_delta_gemm(kn_ctx *c, const kn_deltas *dl, int64_t B, const int32_t *row_delta,
                        const float *x, float *y, bool accumulate);

/* The "dequantise then dense" baseline: for each used delta, expand it to fp16 [N, K] in the
 * context's workspace, then a dense GEMM over its rows. Same contract as kn_delta_gemm. */
db_status kn_delta_gemm_dequant(kn_ctx *c, const kn_deltas *dl, int64_t B,
                                const int32_t *row_delta, const float *x, float *y,
                                bool accumulate);

/* Δ_d as fp16 [N, K] into out (device memory); the building block of the baseline above. */
db_status kn_dequant16(kn_ctx *c, const kn_deltas *dl, int d, uint16_t *out);

/* Dense base GEMM/GEMV: y[B, N] (+)= W[N, K] x[B, K]ᵀ, W F16 or BF16 (wdtype), f32 accumulate. */
db_status kn_dense_gemm(kn_ctx *c, db_dtype wdtype, int64_t N, int64_t K, const void *W,
                        int64_t B, const float *x, float *y, bool accumulate);

/* ---- accounting ------------------------------------------------------------------------------ */

/* Bytes of delta d of dl (exact, from the format; CSR reads the nnz from host_rowptr_last, the
 * value of rowptr[N], since the descriptor's parts may be device memory). */
double kn_delta_bytes(const kn_deltas *dl, int64_t nnz);
/* Minimum bytes one kn_delta_gemm call moves: each used delta once + x + y (read and written
 * when accumulating), and its useful FLOPs (2 per stored weight per row; low rank 2 r (N + K)
 * per row; bitdelta counts 2 N K per row). G = distinct deltas used. */
void kn_call_cost(const kn_deltas *dl, int64_t nnz, int64_t B, int64_t G, bool accumulate,
                  double *bytes, double *flops);

#ifdef __cplusplus
}
#endif

#endif
