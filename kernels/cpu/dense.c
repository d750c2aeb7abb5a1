/* dense.c: the fast CPU dense GEMV/GEMM of fp16/bf16 weights with f32 activations (the base
 * model's GEMM, an fp16 delta, and the second half of every "dequantise then dense" baseline).
 *
 * Decode is memory-bound, so small batches run a fused kernel that converts each weight once
 * (F16C / a bf16 shift) and multiplies it into several rows straight from the packed row, with
 * the weight rows split across threads: AVX2 one weight row into up to 4 activation rows,
 * AVX-512 4 weight rows into 4 activation rows per pass (compute-bound from ~4 rows, then
 * ~150 GFLOP/s on 2 cores). Large batches of one contiguous row range convert a panel of weight
 * rows to f32 (L3-sized) and hand it to OpenBLAS SGEMM. */
#include <cblas.h>
#include <string.h>

#include "core/half.h"
#include "kernels/kn_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define KN_X86 1
#endif

/* Group rows from which the panel + SGEMM path wins: 16 against the 1-weight-row AVX2 kernel,
 * 256 against the AVX-512 4 x 4 one (~150 GFLOP/s on 2 cores up to there; SGEMM with its f32
 * panel ~100-150 at 128-256 rows). */
#define SGEMM_MIN_ROWS(simd) ((simd) >= 2 ? 256 : 16)
#define PANEL_BYTES ((size_t)4 << 20) /* f32 panel: a few MiB, well inside the L3 */
#define ROW_BLOCK 16                /* output rows per OpenMP work item */

static inline float cvt16(uint16_t h, int bf16) { return bf16 ? bf16_to_f32(h) : f16_to_f32(h); }

#ifdef KN_X86
__attribute__((target("avx2,fma,f16c"))) static inline __m256 ld16(const uint16_t *p, int bf16)
{
    __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (bf16)
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

__attribute__((target("avx2,fma"))) static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* out[r] = W row · x_r for R <= 4 rows (R a literal at every call site, so it unrolls). */
__attribute__((target("avx2,fma,f16c"))) static inline void dot_rows_avx2(
    const uint16_t *w, const float *const *xr, int R, int64_t K, int bf16, float *out)
{
    __m256 a0[4], a1[4];
    for (int r = 0; r < 4; r++)
        a0[r] = _mm256_setzero_ps(), a1[r] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        __m256 w0 = ld16(w + k, bf16), w1 = ld16(w + k + 8, bf16);
        for (int r = 0; r < R; r++) {
            a0[r] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xr[r] + k), a0[r]);
            a1[r] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xr[r] + k + 8), a1[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        float s = hsum8(_mm256_add_ps(a0[r], a1[r]));
        for (int64_t j = k; j < K; j++)
            s += cvt16(w[j], bf16) * xr[r][j];
        out[r] = s;
    }
}

__attribute__((target("avx2,fma,f16c"))) static void row_avx2(const uint16_t *w,
                                                               const float *const *xr, int R,
                                                               int64_t K, int bf16, float *out)
{
    switch (R) { /* literal R: each case is its own unrolled kernel */
    case 1: dot_rows_avx2(w, xr, 1, K, bf16, out); break;
    case 2: dot_rows_avx2(w, xr, 2, K, bf16, out); break;
    case 3: dot_rows_avx2(w, xr, 3, K, bf16, out); break;
    default: dot_rows_avx2(w, xr, 4, K, bf16, out); break;
    }
}

/* ---- AVX-512: 4 weight rows x 4 activation rows per pass -----------------------------------
 * 16 zmm accumulators: each converted weight vector meets 4 activation rows and each x vector
 * 4 weight rows, so 16 columns cost 4 conversions, 4 x loads and 16 FMAs (the FMA ports are the
 * limit, not the loads as in the 1-weight-row kernel above). Column tails are masked loads. */
#define KN_AVX512D __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

KN_AVX512D static inline __m512 ld16z(const uint16_t *p, __mmask16 m, int bf16)
{
    const __m256i h = _mm256_maskz_loadu_epi16(m, p);
    if (bf16)
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    return _mm512_cvtph_ps(h);
}

/* out[j][r] = W row j · x_r for NW <= 4 weight rows (w, row stride K) and R <= 4 x rows. */
KN_AVX512D static inline __attribute__((always_inline)) void dot_block512(
    const uint16_t *w, const float *const *xr, int NW, int R, int64_t K, int bf16,
    float out[4][4])
{
    __m512 a[4][4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++)
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            a[j][r] = _mm512_setzero_ps();
    const float *x0 = xr[0], *x1 = xr[R > 1 ? 1 : 0], *x2 = xr[R > 2 ? 2 : 0], *x3 = xr[R > 3 ? 3 : 0];
    for (int64_t k = 0; k < K; k += 16) {
        const __mmask16 m = K - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (K - k)) - 1u);
        __m512 wv[4], xv[4];
#pragma GCC unroll 4
        for (int j = 0; j < NW; j++)
            wv[j] = ld16z(w + j * K + k, m, bf16);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            xv[r] = _mm512_maskz_loadu_ps(m, (r == 0 ? x0 : r == 1 ? x1 : r == 2 ? x2 : x3) + k);
#pragma GCC unroll 4
        for (int j = 0; j < NW; j++)
#pragma GCC unroll 4
            for (int r = 0; r < R; r++)
                a[j][r] = _mm512_fmadd_ps(wv[j], xv[r], a[j][r]);
    }
#pragma GCC unroll 4
    for (int j = 0; j < NW; j++)
#pragma GCC unroll 4
        for (int r = 0; r < R; r++)
            out[j][r] = _mm512_reduce_add_ps(a[j][r]);
}

KN_AVX512D static void block512(const uint16_t *w, const float *const *xr, int NW, int R,
                                int64_t K, int bf16, float out[4][4])
{
#define DB(nw, r) dot_block512(w, xr, nw, r, K, bf16, out)
    switch ((NW - 1) * 4 + R - 1) { /* literal shapes: each case its own unrolled kernel */
    case 0: DB(1, 1); break;
    case 1: DB(1, 2); break;
    case 2: DB(1, 3); break;
    case 3: DB(1, 4); break;
    case 4: DB(2, 1); break;
    case 5: DB(2, 2); break;
    case 6: DB(2, 3); break;
    case 7: DB(2, 4); break;
    case 8: DB(3, 1); break;
    case 9: DB(3, 2); break;
    case 10: DB(3, 3); break;
    case 11: DB(3, 4); break;
    case 12: DB(4, 1); break;
    case 13: DB(4, 2); break;
    case 14: DB(4, 3); break;
    default: DB(4, 4); break;
    }
#undef DB
}
#endif

static void row_portable(const uint16_t *w, const float *const *xr, int R, int64_t K, int bf16,
                         float *out)
{
    for (int r = 0; r < R; r++) {
        float s = 0.0f;
        for (int64_t k = 0; k < K; k++)
            s += cvt16(w[k], bf16) * xr[r][k];
        out[r] = s;
    }
}

float kn_dot16(const uint16_t *w, const float *x, int64_t n, int bf16, int simd)
{
    float out;
    const float *xr[1] = {x};
#ifdef KN_X86
    if (simd) {
        row_avx2(w, xr, 1, n, bf16, &out);
        return out;
    }
#else
    (void)simd;
#endif
    row_portable(w, xr, 1, n, bf16, &out);
    return out;
}

size_t kn_fast_dense_panel(int64_t K, int64_t rows)
{
    size_t p = PANEL_BYTES / sizeof(float) / (size_t)K;
    if (p < 8)
        p = 8;
    if (p > (size_t)rows)
        p = (size_t)rows;
    return p * (size_t)K;
}

/* The panel + SGEMM path for a group whose rows are one contiguous ascending range. */
static void dense_sgemm(const uint16_t *W, int bf16, int64_t N, int64_t K, const float *x,
                        float *y, int64_t rows, bool acc, float *panel, size_t panel_floats)
{
    const int64_t P = (int64_t)(panel_floats / (size_t)K);
    for (int64_t n0 = 0; n0 < N; n0 += P) {
        const int64_t pn = N - n0 < P ? N - n0 : P;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < pn; i++) {
            if (bf16)
                bf16_to_f32_array(W + (n0 + i) * K, panel + i * K, (size_t)K);
            else
                f16_to_f32_array(W + (n0 + i) * K, panel + i * K, (size_t)K);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)pn, (int)K, 1.0f, x,
                    (int)K, panel, (int)K, acc ? 1.0f : 0.0f, y + n0, (int)N);
    }
}

static int contiguous(const kn_groups *g, int64_t gi)
{
    for (int32_t i = g->start[gi] + 1; i < g->start[gi + 1]; i++)
        if (g->perm[i] != g->perm[i - 1] + 1)
            return 0;
    return 1;
}

void kn_fast_dense(const kn_deltas *dl, const kn_groups *g, const float *x, float *y, bool acc,
                   int simd, float *panel, size_t panel_floats)
{
    const int64_t N = dl->N, K = dl->K, nb = (N + ROW_BLOCK - 1) / ROW_BLOCK;
    const int bf16 = dl->dtype == DT_BF16;
    int64_t small = 0; /* groups left to the fused kernel */
    for (int64_t gi = 0; gi < g->G; gi++) {
        int64_t rows = g->start[gi + 1] - g->start[gi];
        if (rows >= SGEMM_MIN_ROWS(simd) && panel && panel_floats >= (size_t)K && contiguous(g, gi)) {
            int64_t b0 = g->perm[g->start[gi]];
            dense_sgemm(dl->part[0][g->gdelta[gi]], bf16, N, K, x + b0 * K, y + b0 * N, rows, acc,
                        panel, panel_floats);
        } else {
            small++;
        }
    }
    if (!small)
        return;
    const int64_t items = g->G * nb;
    const double work = (double)N * (double)K * (double)small;
#pragma omp parallel for schedule(dynamic, 2) if (work > 65536.0)
    for (int64_t it = 0; it < items; it++) {
        const int64_t gi = it / nb, n0 = it % nb * ROW_BLOCK;
        const int32_t r0 = g->start[gi], r1 = g->start[gi + 1];
        if (r1 - r0 >= SGEMM_MIN_ROWS(simd) && panel && panel_floats >= (size_t)K && contiguous(g, gi))
            continue; /* done by SGEMM above */
        const uint16_t *W = dl->part[0][g->gdelta[gi]];
        const int64_t n1 = n0 + ROW_BLOCK < N ? n0 + ROW_BLOCK : N;
#ifdef KN_X86
        if (simd >= 2) { /* 4 weight rows, kept hot, against every 4 activation rows */
            for (int64_t n = n0; n < n1; n += 4) {
                const int NW = n1 - n < 4 ? (int)(n1 - n) : 4;
                for (int32_t i = r0; i < r1; i += 4) {
                    const int R = r1 - i < 4 ? r1 - i : 4;
                    const float *xr[4];
                    for (int r = 0; r < R; r++)
                        xr[r] = x + (int64_t)g->perm[i + r] * K;
                    float out[4][4];
                    block512(W + n * K, xr, NW, R, K, bf16, out);
                    for (int j = 0; j < NW; j++)
                        for (int r = 0; r < R; r++) {
                            float *yo = y + (int64_t)g->perm[i + r] * N + n + j;
                            *yo = acc ? *yo + out[j][r] : out[j][r];
                        }
                }
            }
            continue;
        }
#endif
        for (int32_t i = r0; i < r1; i += 4) {
            const int R = r1 - i < 4 ? r1 - i : 4;
            const float *xr[4];
            for (int r = 0; r < R; r++)
                xr[r] = x + (int64_t)g->perm[i + r] * K;
            for (int64_t n = n0; n < n1; n++) {
                float out[4];
#ifdef KN_X86
                if (simd)
                    row_avx2(W + n * K, xr, R, K, bf16, out);
                else
#endif
                    row_portable(W + n * K, xr, R, K, bf16, out);
                for (int r = 0; r < R; r++) {
                    float *yo = y + (int64_t)g->perm[i + r] * N + n;
                    *yo = acc ? *yo + out[r] : out[r];
                }
            }
        }
    }
}
