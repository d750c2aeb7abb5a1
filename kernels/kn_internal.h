/* kn_internal.h: what kernels.c, kernels/cpu/ and the CUDA bridge share and nobody else needs.
 *
 * The dispatcher validates, groups the rows by delta (counting sort into the context's cached
 * workspace) and hands every implementation the same kn_groups, so each delta's bytes are read
 * once per call whatever the variant. */
#ifndef DB_KN_INTERNAL_H
#define DB_KN_INTERNAL_H

#include "kernels/kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows grouped by delta: group g holds rows perm[start[g] .. start[g+1]) of delta gdelta[g]. */
typedef struct {
    int64_t G;
    const int32_t *gdelta; /* [G] */
    const int32_t *start;  /* [G + 1] */
    const int32_t *perm;   /* [rows in groups] */
    int64_t nnone;
    const int32_t *none;   /* [nnone] rows whose delta id is -1 */
} kn_groups;

/* Scratch a CPU variant may use, sized by the dispatcher before the call. */
typedef struct {
    float *rowsum; /* [B]: Σ_k x[b, k] (bitdelta) */
    float *tmp;    /* [B * r] (low rank), or [B * N] */
    float *lut;    /* [KN_LUT_ROWS * 16 ceil(K/4)], 64-byte aligned: the AVX-512 bitdelta's
                      signed-sum tables (NULL when that path does not run) */
    uint32_t *tiles;     /* [threads][tiles_words], 64-byte aligned: each thread's row-major 1-bit
                            rows transposed into the tiled layout (AVX-512 path) */
    size_t tiles_words;  /* per thread, a multiple of 16 */
    uint8_t *q8;         /* [kn_q8_scratch], 64-byte aligned: the int8 kernels' tables or
                            quantised activations of one pass (NULL when they do not run) */
} kn_cpu_scratch;

/* Row n of delta `signs` (part 0 of a 1-bit descriptor): word w at row[w * *stride]. */
static inline const uint32_t *kn_sign_row(const kn_deltas *dl, const uint32_t *signs, int64_t n,
                                          int64_t *stride)
{
    const int64_t W = (dl->K + 31) / 32;
    *stride = dl->tiled ? KN_TILE : 1;
    return dl->tiled ? signs + (n / KN_TILE * W * KN_TILE + n % KN_TILE) : signs + n * W;
}

/* Activation rows whose bitdelta lookup tables are built per pass (bounds ws->lut). */
#define KN_LUT_ROWS 16
/* Floats of ws->lut the bitdelta kernel wants for K at SIMD level simd (0: none). */
size_t kn_fast_bitdelta_lut(int64_t K, int simd);
/* Words of ws->tiles per thread the bitdelta kernel wants at SIMD level simd (0: none). */
size_t kn_fast_bitdelta_tiles(int simd);

/* One CPU op implementation: y rows of the groups get (+)= Δ x. Descriptor already checked. */
typedef void (*kn_cpu_fn)(const kn_deltas *dl, const kn_groups *g, const float *x, float *y, bool acc, kn_cpu_scratch *ws);

/* Scalar oracles (kernels/cpu/ *_ref.c): double accumulation, dc_fmt_get for every field. */
void kn_ref_dense(const kn_deltas *dl, const kn_groups *g, const float *x, float *y,
                  bool acc, kn_cpu_scratch *ws);
void kn_ref_bitdelta(const kn_deltas *dl, const kn_groups *g, const float *x,
                     float *y, bool acc, kn_cpu_scratch *ws);
void kn_ref_nmq(const kn_deltas *dl, const kn_groups *g, const float *x, float *y,
                bool acc, kn_cpu_scratch *ws);
void kn_ref_csr(const kn_deltas *dl, const kn_groups *g, const float *x, float *y,
                bool acc, kn_cpu_scratch *ws);
void kn_ref_lowrank(const kn_deltas *dl, const kn_groups *g, const float *x,
                    float *y, bool acc, kn_cpu_scratch *ws);
/* Δ_d as fp16 [N, K] (scalar). */
void kn_ref_dequant16(const kn_deltas *dl, int d, uint16_t *out);

/* Fast variants (kernels/cpu/ *.c); `simd` selects the AVX2 paths (0 = portable C). */
void kn_fast_dense(const kn_deltas *dl, const kn_groups *g, const float *x, float *y, bool acc,
                   int simd, float *panel, size_t panel_floats);
void kn_fast_bitdelta(const kn_deltas *dl, const kn_groups *g, const float *x, float *y,
                      bool acc, int simd, kn_cpu_scratch *ws);
void kn_fast_nmq(const kn_deltas *dl, const kn_groups *g, const float *x, float *y, bool acc,
                 int simd);
void kn_fast_csr(const kn_deltas *dl, const kn_groups *g, const float *x, float *y, bool acc);
void kn_fast_lowrank(const kn_deltas *dl, const kn_groups *g, const float *x, float *y, bool acc,
                     int simd, float *tmp);
void kn_fast_dequant16(const kn_deltas *dl, int d, uint16_t *out);

/* int8 table-lookup kernels (kernels/cpu/lut8.c; AVX-512 VBMI + VNNI + GFNI, the caller checks):
 * activations quantised per KN_Q8_BLOCK columns, KN_Q8_ROWS activation rows per pass. */
#define KN_Q8_BLOCK 256
#define KN_Q8_ROWS 16
/* Whether they cover dl: 1-bit (either layout), 2:4 with 2, 4 or 8 bits. */
bool kn_q8_handles(const kn_deltas *dl);
/* Bytes of ws->q8 they want for dl (0: not covered). */
size_t kn_q8_scratch(const kn_deltas *dl);
/* y rows of the groups (+)= Δ x for a covered descriptor (ws->q8 sized by kn_q8_scratch) with
 * the kernels of version ver (2: KN_IMPL_FAST, 1: KN_IMPL_INT8V1; the same numbers). */
void kn_q8_gemm(const kn_deltas *dl, const kn_groups *g, const float *x, float *y, bool acc,
                kn_cpu_scratch *ws, int ver);

/* Floats of the dense-GEMM panel workspace kn_fast_dense wants for K (0: none needed). */
size_t kn_fast_dense_panel(int64_t K, int64_t rows);

/* Dot of n fp16/bf16 weights with f32 x, f32 accumulate (AVX2+F16C when simd). */
float kn_dot16(const uint16_t *w, const float *x, int64_t n, int bf16, int simd);

#ifdef __cplusplus
}
#endif

#endif
