/* formats.h: the packed delta formats, declared once for C and CUDA.
 *
 * Every compressed-delta method of compressors/ stores a linear tensor Δ [N, K] (N output rows,
 * K input columns, row-major like the HF weight) as a few "parts", each a plain safetensors
 * tensor named "<tensor name>.<part>". This header fixes the layout of every part so the scalar
 * `_ref` apply paths (compressors/), the fast CPU kernels (kernels/cpu/) and the CUDA kernels
 * (kernels/cuda/) all read the same bytes. Plain C99 + static inline only: nvcc's C++ must
 * accept it, so no _Generic, no VLAs, no designated initialisers.
 *
 * One bit-stream convention for every k-bit field (k = 1..16): a row's fields f_0, f_1, ...
 * are concatenated LSB-first; bit b of the row's stream is bit (b % 32) of u32 word b / 32; a
 * field may straddle two words when 32 % k != 0; each row starts on a fresh word; unused
 * high bits of a row's last word are zero. For k = 1 this is exactly BitDelta's `pack`
 * (bitdelta/binary_gemm_kernel.py): bit j of word w is column 32 w + j.
 *
 * Quantised values use one convention: value = scale * (q - zero), q in [0, 2^bits - 1].
 * Symmetric formats fix zero = 2^(bits-1) (GPTQ/DeltaZip's (maxq + 1) / 2) and store no zero.
 *
 * Parts per method (N rows, K columns, W(L, k) = words of a row of L k-bit fields):
 *   fp16      delta  F16 [N, K]
 *   rtn       codes  U32 [N, W(K, bits)]; scale F16 [N, NG]; zero U8 [N, NG] (asymmetric only);
 *             NG = ceil(K / group) groups of `group` columns (group 0 = one group per row)
 *   magprune  n:m:  values F16 [N, NGM * n]; idx U32 [N, W(NGM * n, IB)]
 *             unstructured (CSR): rowptr U32 [N + 1]; cols U16 (K <= 65536) or U32 [nnz];
 *             values F16 [nnz]
 *   dare      rowptr U32 [N + 1]; values F16 [nnz] (already rescaled by 1 / (1 - p)); the kept
 *             positions are not stored: row r is regenerated from rng_stream(seed,
 *             dc_row_stream(tensor id, r)), one draw per column, kept when draw >= p
 *   lowrank   A F16 [N, r] (U_r diag(S_r)); B F16 [r, K] (V_r^T); Δ ≈ A B
 *   bitdelta  signs U32 [N, W(K, 1)] (bit 1: +scale, i.e. Δ >= 0; bit 0: -scale);
 *             scale F32 [1] (init mean |Δ|; distillable by the model zoo)
 *   deltazip  codes U32 [N, W(NGM * n, bits)] (symmetric, zero = 2^(bits-1)); idx U32
 *             [N, W(NGM * n, IB)]; scale F16 [N]
 *   deltadq   q0 .. q{P-1} U32 [W(N KEPT, b_j)]: stage j's b_j-bit midrise codes of every kept
 *             entry, one bit stream over the matrix (rows one after another, no per-row
 *             padding), b_j = bits / P (+1 for j < bits % P); scale F16 [P] (stage j's code q
 *             stands for scale[j] (q - (2^b_j - 1) / 2); the value is the sum over stages);
 *             group U16 [1] when the group size was searched (params group 0); positions from
 *             the seed as for dare but a fixed count per group of G columns (dc_dq_keep)
 * where, for n:m formats, NGM = ceil(K / m) groups of m columns, each with exactly n slots
 * holding the ascending in-group indices (IB = dc_fmt_idx_bits(m) bits each) of the kept
 * columns; a tail group of t < m columns keeps min(n, t) and pads its other slots with index 0
 * and value 0 (code `zero`), so padding adds nothing. */
#ifndef DB_KERNELS_FORMATS_H
#define DB_KERNELS_FORMATS_H

#include <stdint.h>

#ifdef __CUDACC__
#define DC_FMT_FN static inline __host__ __device__
#else
#define DC_FMT_FN static inline
#endif

#ifdef __cplusplus
#define DC_FMT_ASSERT(c, m) static_assert(c, m)
#else
#define DC_FMT_ASSERT(c, m) _Static_assert(c, m)
#endif

/* The container's format version (`format_version` in __metadata__); bump on any change here.
 * 2: deltadq's per-matrix residual stages (version 1 padded its code planes per row; a method
 * whose layout changed names the version it starts at, dc_method.format_since). */
#define DC_FORMAT_VERSION 2
#define DC_FORMAT_MAGIC "deltabench-delta"

#define DC_MAX_BITS 8       /* widest code of rtn / deltazip / deltadq */
#define DC_MAX_NM_M 64      /* largest m of an n:m pattern */
#define DC_MAX_PARTS 8      /* most parts one tensor is stored as */

DC_FMT_ASSERT(sizeof(uint32_t) == 4, "packed words are 32-bit");
DC_FMT_ASSERT(sizeof(uint16_t) == 2, "fp16 values are 16-bit");

/* Words of one row holding L fields of k bits. */
DC_FMT_FN int64_t dc_fmt_words(int64_t L, int k) { return (L * (int64_t)k + 31) / 32; }

/* Bits of an in-group index for groups of m columns (at least 1). */
DC_FMT_FN int dc_fmt_idx_bits(int m)
{
    int b = 1;
    while ((1 << b) < m)
        b++;
    return b;
}

/* Field i (k bits) of a row's bit stream `row`. */
DC_FMT_FN uint32_t dc_fmt_get(const uint32_t *row, int64_t i, int k)
{
    int64_t bit = i * (int64_t)k;
    int64_t w = bit >> 5;
    int s = (int)(bit & 31);
    uint64_t v = row[w] >> s;
    if (s + k > 32)
        v |= (uint64_t)row[w + 1] << (32 - s);
    return (uint32_t)(v & ((1u << k) - 1u));
}

/* ORs field i (k bits, value v < 2^k) into a zero-initialised row bit stream. */
DC_FMT_FN void dc_fmt_put(uint32_t *row, int64_t i, int k, uint32_t v)
{
    int64_t bit = i * (int64_t)k;
    int64_t w = bit >> 5;
    int s = (int)(bit & 31);
    row[w] |= v << s;
    if (s + k > 32)
        row[w + 1] |= v >> (32 - s);
}

/* Kept count of a deltadq group of t columns when full groups of G keep c: ceil(t c / G). */
DC_FMT_FN int64_t dc_dq_keep(int64_t t, int64_t G, int64_t c) { return (t * c + G - 1) / G; }

/* Stream id of row r of a tensor whose id is `tid` (the hash of its name): a splitmix-style
 * mix so every row has an independent generator and rows can be regenerated in any order. */
DC_FMT_FN uint64_t dc_row_stream(uint64_t tid, int64_t r)
{
    uint64_t x = tid ^ ((uint64_t)r * 0x9e3779b97f4a7c15ULL);
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

#endif
