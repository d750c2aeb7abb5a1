/* bitdelta.c: fast CPU 1-bit delta GEMV/GEMM batched across tenants (BitDelta).
 *
 * y[b, n] (+)= a_d (Σ_{bit set} x[b, k] − Σ_{bit clear} x[b, k]) = a_d (2 S_set − S_all).
 * S_all is one sum per row per call (ws->rowsum); S_set needs no multiply at all: a variable
 * shift puts sign bit k of a u32 word in lane k's float sign position and a blend keeps x or 0,
 * so one packed word feeds 32 columns of up to 4 rows of the same tenant. Rows are grouped by
 * delta so every tenant's sign bits are read once per call; (group, row block) pairs are split
 * across threads. */
#include <string.h>

#include "kernels/kn_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define KN_X86 1
#endif

#define ROW_BLOCK 32

#ifdef KN_X86
__attribute__((target("avx2,fma"))) static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* S_set of one sign row for R <= 4 rows (R literal at the call sites). */
__attribute__((target("avx2,fma"))) static inline void set_sums_avx2(const uint32_t *sg,
                                                                     const float *const *xr,
                                                                     int R, int64_t K, float *out)
{
    const __m256i sh0 = _mm256_setr_epi32(31, 30, 29, 28, 27, 26, 25, 24);
    const __m256i sh1 = _mm256_sub_epi32(sh0, _mm256_set1_epi32(8));
    const __m256i sh2 = _mm256_sub_epi32(sh0, _mm256_set1_epi32(16));
    const __m256i sh3 = _mm256_sub_epi32(sh0, _mm256_set1_epi32(24));
    const __m256 z = _mm256_setzero_ps();
    __m256 a0[4], a1[4];
    for (int r = 0; r < 4; r++)
        a0[r] = z, a1[r] = z;
    const int64_t full = K / 32;
    for (int64_t w = 0; w < full; w++) {
        const __m256i v = _mm256_set1_epi32((int)sg[w]);
        const __m256 m0 = _mm256_castsi256_ps(_mm256_sllv_epi32(v, sh0));
        const __m256 m1 = _mm256_castsi256_ps(_mm256_sllv_epi32(v, sh1));
        const __m256 m2 = _mm256_castsi256_ps(_mm256_sllv_epi32(v, sh2));
        const __m256 m3 = _mm256_castsi256_ps(_mm256_sllv_epi32(v, sh3));
        for (int r = 0; r < R; r++) {
            const float *p = xr[r] + w * 32;
            a0[r] = _mm256_add_ps(a0[r], _mm256_blendv_ps(z, _mm256_loadu_ps(p), m0));
            a1[r] = _mm256_add_ps(a1[r], _mm256_blendv_ps(z, _mm256_loadu_ps(p + 8), m1));
            a0[r] = _mm256_add_ps(a0[r], _mm256_blendv_ps(z, _mm256_loadu_ps(p + 16), m2));
            a1[r] = _mm256_add_ps(a1[r], _mm256_blendv_ps(z, _mm256_loadu_ps(p + 24), m3));
        }
    }
    for (int r = 0; r < R; r++) {
        float s = hsum8(_mm256_add_ps(a0[r], a1[r]));
        for (int64_t k = full * 32; k < K; k++)
            if (sg[k >> 5] >> (k & 31) & 1u)
                s += xr[r][k];
        out[r] = s;
    }
}

__attribute__((target("avx2,fma"))) static void set_sums_dispatch(const uint32_t *sg,
                                                                  const float *const *xr, int R,
                                                                  int64_t K, float *out)
{
    switch (R) {
    case 1: set_sums_avx2(sg, xr, 1, K, out); break;
    case 2: set_sums_avx2(sg, xr, 2, K, out); break;
    case 3: set_sums_avx2(sg, xr, 3, K, out); break;
    default: set_sums_avx2(sg, xr, 4, K, out); break;
    }
}
#endif

static void set_sums_portable(const uint32_t *sg, const float *const *xr, int R, int64_t K,
                              float *out)
{
    for (int r = 0; r < R; r++) {
        float s = 0.0f;
        for (int64_t k = 0; k < K; k++) {
            /* branch-free select: the bit as a 0/1 float factor */
            float bit = (float)(sg[k >> 5] >> (k & 31) & 1u);
            s += bit * xr[r][k];
        }
        out[r] = s;
    }
}

void kn_fast_bitdelta(const kn_deltas *dl, const kn_groups *g, const float *x, float *y,
                      bool acc, int simd, kn_cpu_scratch *ws)
{
    const int64_t N = dl->N, K = dl->K, W = dc_fmt_words(K, 1);
    const int64_t nb = (N + ROW_BLOCK - 1) / ROW_BLOCK, items = g->G * nb;
    const int64_t rows = g->start[g->G];
    for (int64_t i = 0; i < rows; i++) { /* S_all per row, once per call */
        const float *xb = x + (int64_t)g->perm[i] * K;
        float s = 0.0f;
        for (int64_t k = 0; k < K; k++)
            s += xb[k];
        ws->rowsum[g->perm[i]] = s;
    }
    const double work = (double)N * (double)K * (double)g->G;
#pragma omp parallel for schedule(dynamic, 2) if (work > 262144.0)
    for (int64_t it = 0; it < items; it++) {
        const int64_t gi = it / nb, n0 = it % nb * ROW_BLOCK;
        const int64_t n1 = n0 + ROW_BLOCK < N ? n0 + ROW_BLOCK : N;
        const int d = g->gdelta[gi];
        const uint32_t *signs = dl->part[0][d];
        const float a = *(const float *)dl->part[1][d];
        for (int32_t i = g->start[gi]; i < g->start[gi + 1]; i += 4) {
            const int R = g->start[gi + 1] - i < 4 ? g->start[gi + 1] - i : 4;
            const float *xr[4];
            for (int r = 0; r < R; r++)
                xr[r] = x + (int64_t)g->perm[i + r] * K;
            for (int64_t n = n0; n < n1; n++) {
                float set[4];
#ifdef KN_X86
                if (simd)
                    set_sums_dispatch(signs + n * W, xr, R, K, set);
                else
#endif
                    set_sums_portable(signs + n * W, xr, R, K, set);
                for (int r = 0; r < R; r++) {
                    const int64_t b = g->perm[i + r];
                    const float v = a * (2.0f * set[r] - ws->rowsum[b]);
                    y[b * N + n] = acc ? y[b * N + n] + v : v;
                }
            }
        }
    }
}
