/* bitdelta.c: fast CPU 1-bit delta GEMV/GEMM batched across tenants (BitDelta).
 *
 * y[b, n] (+)= a_d (Σ_{bit set} x[b, k] − Σ_{bit clear} x[b, k]) = a_d (2 S_set − S_all).
 * S_all is one sum per row per call (ws->rowsum); S_set needs no multiply at all: a variable
 * shift puts sign bit k of a u32 word in lane k's float sign position and a blend keeps x or 0,
 * so one packed word feeds 32 columns of up to 4 rows of the same tenant (the AVX2 path). The
 * AVX-512 path looks 4 sign bits up in a per-activation-row table of signed sums (below), 64
 * weights per permute + add instead of 8 per blend + add. Rows are grouped by delta so every
 * tenant's sign bits are read once per call; (group, row block) pairs are split across threads.
 * Every output element is summed by one thread in a fixed order that depends only on K (not on
 * the thread count, nor on how many rows share the delta), so results are bit-identical. */
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
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void
set_sums_avx2(const uint32_t *sg, const float *const *xr, int R, int64_t K, float *out)
{
    const __m256i sh0 = _mm256_setr_epi32(31, 30, 29, 28, 27, 26, 25, 24);
    const __m256i sh1 = _mm256_sub_epi32(sh0, _mm256_set1_epi32(8));
    const __m256i sh2 = _mm256_sub_epi32(sh0, _mm256_set1_epi32(16));
    const __m256i sh3 = _mm256_sub_epi32(sh0, _mm256_set1_epi32(24));
    const __m256 z = _mm256_setzero_ps();
    __m256 a0[4], a1[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
        a0[r] = z, a1[r] = z;
    const int64_t full = K / 32;
    for (int64_t w = 0; w < full; w++) {
        const __m256i v = _mm256_set1_epi32((int)sg[w]);
        const __m256 m0 = _mm256_castsi256_ps(_mm256_sllv_epi32(v, sh0));
        const __m256 m1 = _mm256_castsi256_ps(_mm256_sllv_epi32(v, sh1));
        const __m256 m2 = _mm256_castsi256_ps(_mm256_sllv_epi32(v, sh2));
        const __m256 m3 = _mm256_castsi256_ps(_mm256_sllv_epi32(v, sh3));
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const float *p = xr[r] + w * 32;
            a0[r] = _mm256_add_ps(a0[r], _mm256_blendv_ps(z, _mm256_loadu_ps(p), m0));
            a1[r] = _mm256_add_ps(a1[r], _mm256_blendv_ps(z, _mm256_loadu_ps(p + 8), m1));
            a0[r] = _mm256_add_ps(a0[r], _mm256_blendv_ps(z, _mm256_loadu_ps(p + 16), m2));
            a1[r] = _mm256_add_ps(a1[r], _mm256_blendv_ps(z, _mm256_loadu_ps(p + 24), m3));
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        float s = hsum8(_mm256_add_ps(a0[r], a1[r]));
        for (int64_t k = full * 32; k < K; k++)
            if (sg[k >> 5] >> (k & 31) & 1u)
                s += xr[r][k];
        out[r] = s;
    }
}

/* ---- AVX-512: signed-sum lookup tables (T-MAC's idea with f32 tables, exact-order sums) ------
 * For every group g of 4 columns an activation row gets a 16-float table
 *     T[g][p] = Σ_{i<4} (bit i of p ? +x : −x)[4 g + i]   (x = 0 past K),
 * one zmm. 16 output rows are processed at once, lane l = row n0 + l: the sign words of the 16
 * rows are transposed (16 x 16 dwords) so that one vector holds the same 32 columns of all 16
 * rows, and nibble q of it indexes T[g] with one vpermps (only the low 4 bits of an index
 * count, so a shift is the whole decode). 64 weights per permute + add, and x is read as
 * 64 bytes of table per 4 columns shared by 16 rows instead of 4 bytes per weight. */
#define KN_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))

/* The 16 signed sums of every 4-column group of one activation row x [K] into T [ceil(K/4), 16]. */
KN_AVX512 static void lut_build(const float *x, int64_t K, float *T)
{
    const __m512 s0 = _mm512_setr_ps(-1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1);
    const __m512 s1 = _mm512_setr_ps(-1, -1, 1, 1, -1, -1, 1, 1, -1, -1, 1, 1, -1, -1, 1, 1);
    const __m512 s2 = _mm512_setr_ps(-1, -1, -1, -1, 1, 1, 1, 1, -1, -1, -1, -1, 1, 1, 1, 1);
    const __m512 s3 = _mm512_setr_ps(-1, -1, -1, -1, -1, -1, -1, -1, 1, 1, 1, 1, 1, 1, 1, 1);
    const int64_t G4 = (K + 3) / 4;
    for (int64_t g = 0; g < G4; g++) {
        float v[4];
        for (int i = 0; i < 4; i++)
            v[i] = 4 * g + i < K ? x[4 * g + i] : 0.0f;
        /* ((±x0 ± x1) ± x2) ± x3: products by ±1 are exact, each step one rounding */
        __m512 t = _mm512_mul_ps(s0, _mm512_set1_ps(v[0]));
        t = _mm512_fmadd_ps(s1, _mm512_set1_ps(v[1]), t);
        t = _mm512_fmadd_ps(s2, _mm512_set1_ps(v[2]), t);
        t = _mm512_fmadd_ps(s3, _mm512_set1_ps(v[3]), t);
        _mm512_store_ps(T + 16 * g, t);
    }
}

/* In: t[l] = 16 dwords of row l. Out: t[j] lane l = dword j of row l. */
KN_AVX512 static inline __attribute__((always_inline)) void transpose16(__m512i *t)
{
    __m512i u[16], v[16];
    for (int i = 0; i < 8; i++) {
        u[2 * i] = _mm512_unpacklo_epi32(t[2 * i], t[2 * i + 1]);
        u[2 * i + 1] = _mm512_unpackhi_epi32(t[2 * i], t[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* v[4 i + c], 128-bit lane k: dword 4 k + c of rows 4 i.. */
        v[4 * i + 0] = _mm512_unpacklo_epi64(u[4 * i], u[4 * i + 2]);
        v[4 * i + 1] = _mm512_unpackhi_epi64(u[4 * i], u[4 * i + 2]);
        v[4 * i + 2] = _mm512_unpacklo_epi64(u[4 * i + 1], u[4 * i + 3]);
        v[4 * i + 3] = _mm512_unpackhi_epi64(u[4 * i + 1], u[4 * i + 3]);
    }
    for (int c = 0; c < 4; c++) { /* 4 x 4 transpose of 128-bit blocks */
        const __m512i w0 = _mm512_shuffle_i32x4(v[c], v[4 + c], 0x44);
        const __m512i w1 = _mm512_shuffle_i32x4(v[c], v[4 + c], 0xee);
        const __m512i w2 = _mm512_shuffle_i32x4(v[8 + c], v[12 + c], 0x44);
        const __m512i w3 = _mm512_shuffle_i32x4(v[8 + c], v[12 + c], 0xee);
        t[c] = _mm512_shuffle_i32x4(w0, w2, 0x88);
        t[4 + c] = _mm512_shuffle_i32x4(w0, w2, 0xdd);
        t[8 + c] = _mm512_shuffle_i32x4(w1, w3, 0x88);
        t[12 + c] = _mm512_shuffle_i32x4(w1, w3, 0xdd);
    }
}

/* One sign dword of 16 rows (idx lane l = row l) against NG = 8 tables:
 * a[r][q % 4] += T_r[g0 + q][nibble q of idx]. */
#define LUT_STEP(R, NG)                                                                            \
    do {                                                                                           \
        _Pragma("GCC unroll 8") for (int q = 0; q < (NG); q++)                                     \
        {                                                                                          \
            const __m512i iq = _mm512_srli_epi32(idx, 4 * q);                                      \
            _Pragma("GCC unroll 4") for (int r = 0; r < (R); r++)                                  \
                a[r][q & 3] = _mm512_add_ps(                                                       \
                    a[r][q & 3], _mm512_permutexvar_ps(iq, _mm512_load_ps(T[r] + 16 * (g0 + q)))); \
        }                                                                                          \
    } while (0)

/* Σ_k sign_{n,k} x_r[k] for the nr <= 16 rows n0.. of one sign matrix (row stride W words) and
 * R <= 4 activation rows with tables T[r]; out[r] lane l = row n0 + l. */
KN_AVX512 static inline __attribute__((always_inline)) void lut_rows16(
    const uint32_t *sg, int64_t W, int64_t K, int nr, const float *const *T, int R, __m512 *out)
{
    __m512 a[4][4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
        a[r][0] = a[r][1] = a[r][2] = a[r][3] = _mm512_setzero_ps();
    const int64_t G4 = (K + 3) / 4;
    __m512i t[16];
    for (int64_t w0 = 0; w0 < W; w0 += 16) {
        const int nd = W - w0 < 16 ? (int)(W - w0) : 16;
        /* the next 16 rows' same 64 bytes: their 8 KB block (K = 4096) is read in 16
         * strided streams, which the hardware prefetcher does not follow well */
        for (int l = 0; l < 16; l++)
            _mm_prefetch((const char *)(sg + (16 + l) * W + w0), _MM_HINT_T0);
        if (nd == 16 && nr == 16) {
#pragma GCC unroll 16
            for (int l = 0; l < 16; l++)
                t[l] = _mm512_loadu_si512(sg + l * W + w0);
        } else {
            const __mmask16 dm = _cvtu32_mask16((1u << nd) - 1u);
            for (int l = 0; l < 16; l++)
                t[l] = l < nr ? _mm512_maskz_loadu_epi32(dm, sg + l * W + w0)
                              : _mm512_setzero_si512();
        }
        transpose16(t);
        for (int j = 0; j < nd; j++) {
            const __m512i idx = t[j];
            const int64_t g0 = (w0 + j) * 8;
            if (G4 - g0 >= 8)
                LUT_STEP(R, 8);
            else
                for (int64_t q = 0; q < G4 - g0; q++) { /* the row's last, partial dword */
                    const __m512i iq = _mm512_srlv_epi32(idx, _mm512_set1_epi32((int)(4 * q)));
#pragma GCC unroll 4
                    for (int r = 0; r < R; r++) /* a[r][0] only: a run-time index would put
                                                   the accumulators in memory */
                        a[r][0] = _mm512_add_ps(
                            a[r][0],
                            _mm512_permutexvar_ps(iq, _mm512_load_ps(T[r] + 16 * (g0 + q))));
                }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        out[r] = _mm512_add_ps(_mm512_add_ps(a[r][0], a[r][1]), _mm512_add_ps(a[r][2], a[r][3]));
}

KN_AVX512 static void lut_rows16_dispatch(const uint32_t *sg, int64_t W, int64_t K, int nr,
                                          const float *const *T, int R, __m512 *out)
{
    switch (R) {
    case 1: lut_rows16(sg, W, K, nr, T, 1, out); break;
    case 2: lut_rows16(sg, W, K, nr, T, 2, out); break;
    case 3: lut_rows16(sg, W, K, nr, T, 3, out); break;
    default: lut_rows16(sg, W, K, nr, T, 4, out); break;
    }
}

/* The AVX-512 path: passes of <= KN_LUT_ROWS activation rows (in perm order): build their
 * tables, then every (group segment, 32 output rows) item of the pass. */
KN_AVX512 static void bitdelta_lut512(const kn_deltas *dl, const kn_groups *g, const float *x,
                                      float *y, bool acc, float *lut)
{
    const int64_t N = dl->N, K = dl->K, W = dc_fmt_words(K, 1), G4 = (K + 3) / 4;
    const int64_t nb = (N + ROW_BLOCK - 1) / ROW_BLOCK, rows = g->start[g->G];
    for (int64_t p0 = 0, gi0 = 0; p0 < rows; p0 += KN_LUT_ROWS) {
        const int64_t p1 = p0 + KN_LUT_ROWS < rows ? p0 + KN_LUT_ROWS : rows;
        while (g->start[gi0 + 1] <= p0) /* first group with rows in [p0, p1) */
            gi0++;
        int64_t gi1 = gi0;
        while (gi1 < g->G && g->start[gi1] < p1)
            gi1++;
        const int64_t items = (gi1 - gi0) * nb;
        const double work = (double)N * (double)K * (double)(p1 - p0);
        /* serial: ~1 us per row of K = 4096, less than a barrier costs on a loaded machine */
        for (int64_t i = p0; i < p1; i++)
            lut_build(x + (int64_t)g->perm[i] * K, K, lut + (i - p0) * G4 * 16);
#pragma omp parallel for schedule(dynamic, 2) if (work > 262144.0)
        for (int64_t it = 0; it < items; it++) {
            const int64_t gi = gi0 + it / nb, n0 = it % nb * ROW_BLOCK;
            const int64_t n1 = n0 + ROW_BLOCK < N ? n0 + ROW_BLOCK : N;
            const int d = g->gdelta[gi];
            const uint32_t *signs = dl->part[0][d];
            const float a = *(const float *)dl->part[1][d];
            const int64_t i0 = g->start[gi] > p0 ? g->start[gi] : p0;
            const int64_t i1 = g->start[gi + 1] < p1 ? g->start[gi + 1] : p1;
            for (int64_t i = i0; i < i1; i += 4) {
                const int R = i1 - i < 4 ? (int)(i1 - i) : 4;
                const float *T[4];
                for (int r = 0; r < R; r++)
                    T[r] = lut + (i + r - p0) * G4 * 16;
                for (int64_t n = n0; n < n1; n += 16) {
                    const int nr = n1 - n < 16 ? (int)(n1 - n) : 16;
                    const __mmask16 m = _cvtu32_mask16(nr == 16 ? 0xffffu : (1u << nr) - 1u);
                    __m512 s[4];
                    lut_rows16_dispatch(signs + n * W, W, K, nr, T, R, s);
                    for (int r = 0; r < R; r++) {
                        float *yo = y + (int64_t)g->perm[i + r] * N + n;
                        __m512 v = _mm512_mul_ps(_mm512_set1_ps(a), s[r]);
                        if (acc)
                            v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, yo), v);
                        _mm512_mask_storeu_ps(yo, m, v);
                    }
                }
            }
        }
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

size_t kn_fast_bitdelta_lut(int64_t K, int simd)
{
#ifdef KN_X86
    return simd >= 2 ? (size_t)KN_LUT_ROWS * 16 * (size_t)((K + 3) / 4) : 0;
#else
    (void)K, (void)simd;
    return 0;
#endif
}

void kn_fast_bitdelta(const kn_deltas *dl, const kn_groups *g, const float *x, float *y,
                      bool acc, int simd, kn_cpu_scratch *ws)
{
#ifndef KN_X86
    (void)simd;
#else
    if (simd >= 2 && ws->lut) {
        bitdelta_lut512(dl, g, x, y, acc, ws->lut);
        return;
    }
#endif
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
