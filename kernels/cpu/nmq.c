/* nmq.c: fast CPU n:m sparse + k-bit delta GEMM batched across deltas (DeltaZip's SBMM).
 *
 * Rows are grouped by delta (the dispatcher's counting sort) and each delta's packed row is read
 * once per call for all rows of its group. The AVX2 path covers DeltaZip's format (2:4, 2/4/8-bit
 * symmetric codes): 8 slots = 16 columns per step; codes are unpacked by a variable shift, the
 * 2-bit in-group indices of 4 slots (one byte) pick a permute control from a 256-entry table that
 * scatters the 4 values into their 8 columns (unkept columns get lane control -1, blended to 0),
 * and the dense 16-column vector is FMAed into up to 4 rows. The row scale multiplies once at the
 * end. Other n:m / bit widths take the portable loop. */
#include <pthread.h>
#include <string.h>

#include "core/half.h"
#include "kernels/kn_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define KN_X86 1
#endif

#define ROW_BLOCK 32
#define KN_NM_KC 2048 /* AVX-512 column block (a multiple of 64: whole code and index words) */

/* ctrl[byte][c]: which of 4 slots (2 groups of 2, 2-bit indices packed in `byte`) holds column
 * c of those 2 groups, or -1. */
static int32_t nm24_ctrl[256][8] __attribute__((aligned(32)));
static pthread_once_t nm24_once = PTHREAD_ONCE_INIT;

static void nm24_build(void)
{
    for (int byte = 0; byte < 256; byte++) {
        for (int c = 0; c < 8; c++)
            nm24_ctrl[byte][c] = -1;
        for (int s = 3; s >= 0; s--) { /* descending, so the first slot of a column wins */
            int col = 4 * (s / 2) + (byte >> (2 * s) & 3);
            nm24_ctrl[byte][col] = s;
        }
    }
}

/* Portable: any n:m and width, one row chunk of R <= 4 rows; returns Σ (q − z) x per row. */
static void nm_rows_portable(const kn_deltas *dl, const uint32_t *cw, const uint32_t *iw,
                             const float *const *xr, int R, int64_t j0, float *out)
{
    const int64_t K = dl->K, m = dl->nm_m, nn = dl->nm_n;
    const int bits = dl->bits, ib = dc_fmt_idx_bits(dl->nm_m), z = 1 << (bits - 1);
    const int64_t S = (K + m - 1) / m * nn;
    for (int64_t j = j0; j < S; j++) {
        const int64_t col = j / nn * m + dc_fmt_get(iw, j, ib);
        const float q = (float)((int)dc_fmt_get(cw, j, bits) - z);
        if (col < K && q != 0.0f)
            for (int r = 0; r < R; r++)
                out[r] += q * xr[r][col];
    }
}

#ifdef KN_X86
__attribute__((target("avx2,fma"))) static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Codes of slots 8 it .. 8 it + 7 as int32 lanes (BITS literal: 2, 4 or 8). */
__attribute__((target("avx2,fma"))) static inline __m256i codes8(const uint32_t *cw, int64_t it,
                                                                 int BITS)
{
    if (BITS == 8)
        return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(cw + 2 * it)));
    if (BITS == 4)
        return _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)cw[it]),
                                                  _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                                _mm256_set1_epi32(15));
    const uint32_t w = cw[it >> 1] >> (16 * (it & 1));
    return _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)w),
                                              _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                            _mm256_set1_epi32(3));
}

/* Σ (q − z) x over the full 16-column steps of one row for R <= 4 rows; returns the slot where
 * the scalar tail starts. */
__attribute__((target("avx2,fma"))) static inline int64_t nm24_rows_avx2(
    const uint32_t *cw, const uint32_t *iw, const float *const *xr, int R, int64_t K, int BITS,
    float *out)
{
    const __m256i zq = _mm256_set1_epi32(1 << (BITS - 1)), four = _mm256_set1_epi32(4);
    const __m256 zero = _mm256_setzero_ps();
    __m256 a0[4], a1[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
        a0[r] = zero, a1[r] = zero;
    const int64_t steps = K / 16;
    for (int64_t it = 0; it < steps; it++) {
        const __m256 v = _mm256_cvtepi32_ps(_mm256_sub_epi32(codes8(cw, it, BITS), zq));
        const uint32_t ix = iw[it >> 1] >> (16 * (it & 1));
        const __m256i c0 = _mm256_load_si256((const __m256i *)nm24_ctrl[ix & 255]);
        const __m256i c1 = _mm256_or_si256(
            _mm256_load_si256((const __m256i *)nm24_ctrl[ix >> 8 & 255]), four);
        const __m256 d0 = _mm256_blendv_ps(_mm256_permutevar8x32_ps(v, c0), zero,
                                           _mm256_castsi256_ps(c0));
        const __m256 d1 = _mm256_blendv_ps(_mm256_permutevar8x32_ps(v, c1), zero,
                                           _mm256_castsi256_ps(c1));
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            a0[r] = _mm256_fmadd_ps(d0, _mm256_loadu_ps(xr[r] + 16 * it), a0[r]);
            a1[r] = _mm256_fmadd_ps(d1, _mm256_loadu_ps(xr[r] + 16 * it + 8), a1[r]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        out[r] = hsum8(_mm256_add_ps(a0[r], a1[r]));
    return steps * 8;
}

/* ---- AVX-512: gather x at the kept columns instead of scattering values into columns --------
 * 16 slots = 32 columns per step. Slot j of 2:4 sits at column 4 (j / 2) + idx_j, so one
 * vpermt2ps over the step's two x vectors gathers x at all 16 kept columns (index: the 2-bit
 * field shifted down, OR the group base, one ternlog); the codes become floats through a
 * 16-entry vpermps table of q − z (4-bit; for 2-bit the table repeats every 4 entries so the
 * next field's bits in the index do not matter) or a widen (8-bit). Lane L carries slot s(L):
 * s(L) = L, except 4-bit codes, broadcast as a u64, where s(L) = L / 2 + 8 (L % 2); the index
 * shifts follow the same s(L). One FMA per row and 16 kept weights. */
#define KN_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))

#define NM24_512_STEP(U)                                                                           \
    do {                                                                                           \
        __m512 v;                                                                                  \
        if (BITS == 4) {                                                                           \
            uint64_t c64;                                                                          \
            memcpy(&c64, cw + 2 * it, sizeof c64);                                                 \
            v = _mm512_permutexvar_ps(_mm512_srlv_epi32(_mm512_set1_epi64((long long)c64), shc),   \
                                      tab);                                                        \
        } else if (BITS == 2) {                                                                    \
            v = _mm512_permutexvar_ps(_mm512_srlv_epi32(_mm512_set1_epi32((int)cw[it]), shi),      \
                                      tab);                                                        \
        } else {                                                                                   \
            v = _mm512_cvtepi32_ps(_mm512_sub_epi32(                                               \
                _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(cw + 4 * it))), z8));       \
        }                                                                                          \
        const __m512i col = _mm512_ternarylogic_epi32(                                             \
            _mm512_srlv_epi32(_mm512_set1_epi32((int)iw[it]), shi), three, base, 0xea);            \
        _Pragma("GCC unroll 4") for (int r = 0; r < R; r++)                                        \
        {                                                                                          \
            const float *p = xr[r] + 32 * it;                                                      \
            const __m512 xg = _mm512_permutex2var_ps(_mm512_loadu_ps(p), col,                      \
                                                     _mm512_loadu_ps(p + 16));                     \
            a[r][U] = _mm512_fmadd_ps(v, xg, a[r][U]);                                             \
        }                                                                                          \
    } while (0)

/* Σ (q − z) x over the full 32-column steps of one row for R <= 4 rows (R, BITS literal: 2, 4,
 * 8); two accumulators per row (even and odd steps); returns the slot where the tail starts. */
KN_AVX512 static inline __attribute__((always_inline)) int64_t nm24_rows_avx512(
    const uint32_t *cw, const uint32_t *iw, const float *const *xr, int R, int64_t K, int BITS,
    float *out)
{
    const __m512i shi = BITS == 4 ? _mm512_setr_epi32(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26,
                                                      12, 28, 14, 30)
                                  : _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22,
                                                      24, 26, 28, 30);
    const __m512i base = BITS == 4 ? _mm512_setr_epi32(0, 16, 0, 16, 4, 20, 4, 20, 8, 24, 8, 24,
                                                       12, 28, 12, 28)
                                   : _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20,
                                                       24, 24, 28, 28);
    const __m512i shc = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28);
    const __m512 tab = BITS == 4 ? _mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4,
                                                  5, 6, 7)
                                 : _mm512_setr_ps(-2, -1, 0, 1, -2, -1, 0, 1, -2, -1, 0, 1, -2,
                                                  -1, 0, 1);
    const __m512i three = _mm512_set1_epi32(3), z8 = _mm512_set1_epi32(128);
    __m512 a[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
        a[r][0] = a[r][1] = _mm512_setzero_ps();
    const int64_t steps = K / 32;
    int64_t it = 0;
    for (; it + 1 < steps; it += 2) {
        NM24_512_STEP(0);
        it++;
        NM24_512_STEP(1);
        it--;
    }
    if (it < steps)
        NM24_512_STEP(0);
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        out[r] = _mm512_reduce_add_ps(_mm512_add_ps(a[r][0], a[r][1]));
    return steps * 16;
}

KN_AVX512 static int64_t nm24_dispatch512(const uint32_t *cw, const uint32_t *iw,
                                          const float *const *xr, int R, int64_t K, int bits,
                                          float *out)
{
#define NM24_CASE512(B)                                                                            \
    switch (R) {                                                                                   \
    case 1: return nm24_rows_avx512(cw, iw, xr, 1, K, B, out);                                     \
    case 2: return nm24_rows_avx512(cw, iw, xr, 2, K, B, out);                                     \
    case 3: return nm24_rows_avx512(cw, iw, xr, 3, K, B, out);                                     \
    default: return nm24_rows_avx512(cw, iw, xr, 4, K, B, out);                                    \
    }
    if (bits == 2)
        NM24_CASE512(2)
    if (bits == 4)
        NM24_CASE512(4)
    NM24_CASE512(8)
#undef NM24_CASE512
}

__attribute__((target("avx2,fma"))) static int64_t nm24_dispatch(const uint32_t *cw,
                                                                 const uint32_t *iw,
                                                                 const float *const *xr, int R,
                                                                 int64_t K, int bits, float *out)
{
#define NM24_CASE(B)                                                                               \
    switch (R) {                                                                                   \
    case 1: return nm24_rows_avx2(cw, iw, xr, 1, K, B, out);                                       \
    case 2: return nm24_rows_avx2(cw, iw, xr, 2, K, B, out);                                       \
    case 3: return nm24_rows_avx2(cw, iw, xr, 3, K, B, out);                                       \
    default: return nm24_rows_avx2(cw, iw, xr, 4, K, B, out);                                      \
    }
    if (bits == 2)
        NM24_CASE(2)
    if (bits == 4)
        NM24_CASE(4)
    NM24_CASE(8)
#undef NM24_CASE
}
#endif

#ifdef KN_X86
/* The AVX-512 sums of rows n0 .. n0 + nr (codes and idx point at row n0) over the full 32-column
 * steps, part[n][r]: per row, the sum of the KN_NM_KC-column blocks' sums in column order, so the
 * result is the same whichever loop runs outside. One or two activation rows: row by row (each
 * delta row one sequential read, what DRAM streaming wants); three or four: block by block over
 * all nr rows (their x blocks, 4 x 8 KB, stay in L1 instead of 4 x 16 KB+ cycling through L2). */
KN_AVX512 static void nm24_block512(const kn_deltas *dl, const uint32_t *codes, int64_t Wc,
                                    const uint32_t *idx, int64_t Wi, const float *const *xr, int R,
                                    int64_t nr, float (*part)[4])
{
    const int64_t Kf = dl->K / 32 * 32, nk = (Kf + KN_NM_KC - 1) / KN_NM_KC;
    const int by_row = R <= 2;
    const int64_t outer = by_row ? nr : nk, inner = by_row ? nk : nr;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            const int64_t n = by_row ? o : in, k0 = (by_row ? in : o) * KN_NM_KC;
            const int64_t kl = Kf - k0 < KN_NM_KC ? Kf - k0 : KN_NM_KC;
            const float *xk[4];
            float s[4];
            for (int r = 0; r < R; r++)
                xk[r] = xr[r] + k0;
            nm24_dispatch512(codes + n * Wc + k0 * dl->bits / 64, idx + n * Wi + k0 / 32, xk, R,
                             kl, dl->bits, s);
            for (int r = 0; r < R; r++)
                part[n][r] = k0 ? part[n][r] + s[r] : s[r];
        }
}
#endif

void kn_fast_nmq(const kn_deltas *dl, const kn_groups *g, const float *x, float *y, bool acc,
                 int simd)
{
    const int64_t N = dl->N, K = dl->K, m = dl->nm_m, nn = dl->nm_n;
    const int64_t S = (K + m - 1) / m * nn;
    const int64_t Wc = dc_fmt_words(S, dl->bits), Wi = dc_fmt_words(S, dc_fmt_idx_bits(dl->nm_m));
    const int fast24 = simd && m == 4 && nn == 2 && (dl->bits == 2 || dl->bits == 4 || dl->bits == 8);
    if (fast24)
        pthread_once(&nm24_once, nm24_build);
    const int64_t nb = (N + ROW_BLOCK - 1) / ROW_BLOCK, items = g->G * nb;
    const double work = (double)N * (double)K * (double)g->G;
#pragma omp parallel for schedule(dynamic, 2) if (work > 262144.0)
    for (int64_t it = 0; it < items; it++) {
        const int64_t gi = it / nb, n0 = it % nb * ROW_BLOCK;
        const int64_t n1 = n0 + ROW_BLOCK < N ? n0 + ROW_BLOCK : N;
        const int d = g->gdelta[gi];
        const uint32_t *codes = dl->part[0][d], *idx = dl->part[1][d];
        const uint16_t *scale = dl->part[2][d];
        for (int32_t i = g->start[gi]; i < g->start[gi + 1]; i += 4) {
            const int R = g->start[gi + 1] - i < 4 ? g->start[gi + 1] - i : 4;
            const float *xr[4];
            for (int r = 0; r < R; r++)
                xr[r] = x + (int64_t)g->perm[i + r] * K;
#ifdef KN_X86
            float part[ROW_BLOCK][4];
            if (fast24 && simd >= 2)
                nm24_block512(dl, codes + n0 * Wc, Wc, idx + n0 * Wi, Wi, xr, R, n1 - n0, part);
#endif
            for (int64_t n = n0; n < n1; n++) {
                float s[4] = {0, 0, 0, 0};
                int64_t j0 = 0;
#ifdef KN_X86
                if (fast24 && simd >= 2) {
                    j0 = K / 32 * 16;
                    for (int r = 0; r < R && j0; r++)
                        s[r] = part[n - n0][r];
                } else if (fast24)
                    j0 = nm24_dispatch(codes + n * Wc, idx + n * Wi, xr, R, K, dl->bits, s);
#endif
                nm_rows_portable(dl, codes + n * Wc, idx + n * Wi, xr, R, j0, s);
                const float sc = f16_to_f32(scale[n]);
                for (int r = 0; r < R; r++) {
                    float *yo = y + (int64_t)g->perm[i + r] * N + n;
                    *yo = acc ? *yo + sc * s[r] : sc * s[r];
                }
            }
        }
    }
}
