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
 * the thread count, nor on how many rows share the delta, nor on the signs' layout: row-major or
 * the tiled layout of kernels.h), so results are bit-identical. */
#include <omp.h>
#include <string.h>

#include "kernels/kn_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define KN_X86 1
#endif

#define ROW_BLOCK 32 /* output rows per work item: two KN_TILE tiles on the AVX-512 path */

#ifdef KN_X86
__attribute__((target("avx2,fma"))) static inline float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* S_set of one sign row (word w at sg[w * st]) for R <= 4 rows (R literal at the call sites). */
__attribute__((target("avx2,fma"))) static inline __attribute__((always_inline)) void
set_sums_avx2(const uint32_t *sg, int64_t st, const float *const *xr, int R, int64_t K, float *out)
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
        const __m256i v = _mm256_set1_epi32((int)sg[w * st]);
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
            if (sg[(k >> 5) * st] >> (k & 31) & 1u)
                s += xr[r][k];
        out[r] = s;
    }
}

/* ---- AVX-512: signed-sum lookup tables (T-MAC's idea with f32 tables, exact-order sums) ------
 * For every group g of 4 columns an activation row gets a 16-float table
 *     T[g][p] = Σ_{i<4} (bit i of p ? +x : −x)[4 g + i]   (x = 0 past K),
 * one zmm. The sign words are read in the tiled layout (kernels.h; KN_TILE = 16 rows): one
 * 64-byte vector holds the same word of 16 rows, lane l = row l, and nibble q of it indexes
 * T[g] for the 16 rows with one vpermps (only the low 4 bits of an index count). Loading the
 * vector at byte offsets 0..3 puts nibbles 0, 2, 4, 6 in the low bits and one shift by 4 gives
 * the odd ones: 64 weights per permute + add and half a shift, with the shuffle ports (permute,
 * shift) the limit. Two tiles (32 rows) share every table load. Row-major deltas are transposed
 * 16 x 16 dwords at a time into a per-thread tile buffer first, and run the same inner loop, so
 * both layouts give identical bits. */
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

/* Accumulators of 16 H output rows x R activation rows: two chains per output vector (even and
 * odd nibbles), summed at the end, so the order of the sums depends on K only. */
typedef struct {
    __m512 a[4][2][2];
} lut_acc;

#define LUT_TABLE(r) ((r) == 0 ? T0 : (r) == 1 ? T1 : (r) == 2 ? T2 : T3)

/* nw full words (8 nibbles each, the first one's group g0) of H tiles whose word j is at
 * b0 + 64 j and b1 + 64 j, against R tables. The tables come as separate pointers: an array
 * indexed in the loop would live in memory. pf (or NULL): 128 bytes per word to prefetch. */
KN_AVX512 static inline __attribute__((always_inline)) void lut_words(
    lut_acc *acc, const char *b0, const char *b1, int64_t nw, int64_t g0, const float *T0,
    const float *T1, const float *T2, const float *T3, int R, int H, const char *pf)
{
    for (int64_t w = 0; w < nw; w++) {
        const int64_t g = g0 + 8 * w;
        const char *v0 = b0 + 64 * w, *v1 = b1 + 64 * w;
        if (pf) {
            _mm_prefetch(pf + 128 * w, _MM_HINT_T0);
            _mm_prefetch(pf + 128 * w + 64, _MM_HINT_T0);
        }
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) { /* bytes k of the 16 rows' words: nibbles 2k, 2k + 1 */
            const __m512i e0 = _mm512_loadu_si512(v0 + k), o0 = _mm512_srli_epi32(e0, 4);
            const __m512i e1 = H > 1 ? _mm512_loadu_si512(v1 + k) : e0;
            const __m512i o1 = H > 1 ? _mm512_srli_epi32(e1, 4) : o0;
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                const __m512 t0 = _mm512_load_ps(LUT_TABLE(r) + 16 * (g + 2 * k));
                const __m512 t1 = _mm512_load_ps(LUT_TABLE(r) + 16 * (g + 2 * k + 1));
                acc->a[r][0][0] = _mm512_add_ps(acc->a[r][0][0], _mm512_permutexvar_ps(e0, t0));
                acc->a[r][0][1] = _mm512_add_ps(acc->a[r][0][1], _mm512_permutexvar_ps(o0, t1));
                if (H > 1) {
                    acc->a[r][1][0] = _mm512_add_ps(acc->a[r][1][0], _mm512_permutexvar_ps(e1, t0));
                    acc->a[r][1][1] = _mm512_add_ps(acc->a[r][1][1], _mm512_permutexvar_ps(o1, t1));
                }
            }
        }
    }
}

/* The rows' last, partial word (nq < 8 nibbles from group g0): nibble by nibble, chain 0. */
KN_AVX512 static inline __attribute__((always_inline)) void lut_tail(
    lut_acc *acc, const char *b0, const char *b1, int64_t g0, int64_t nq, const float *T0,
    const float *T1, const float *T2, const float *T3, int R, int H)
{
    const __m512i x0 = _mm512_loadu_si512(b0), x1 = H > 1 ? _mm512_loadu_si512(b1) : x0;
    for (int64_t q = 0; q < nq; q++) {
        const __m512i sq = _mm512_set1_epi32((int)(4 * q));
        const __m512i i0 = _mm512_srlv_epi32(x0, sq), i1 = _mm512_srlv_epi32(x1, sq);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const __m512 tq = _mm512_load_ps(LUT_TABLE(r) + 16 * (g0 + q));
            acc->a[r][0][0] = _mm512_add_ps(acc->a[r][0][0], _mm512_permutexvar_ps(i0, tq));
            if (H > 1)
                acc->a[r][1][0] = _mm512_add_ps(acc->a[r][1][0], _mm512_permutexvar_ps(i1, tq));
        }
    }
}

/* 16 words (nd <= 16 of them real) of the nr <= 2 KN_TILE row-major rows at sg (row stride W
 * words), from word w0, into buf: tile h's word j at buf + (16 h + j) KN_TILE; rows past nr and
 * words past nd zero. */
KN_AVX512 static inline __attribute__((always_inline)) void to_tiles(
    const uint32_t *sg, int64_t W, int64_t w0, int nd, int nr, int H, uint32_t *buf)
{
    const __mmask16 dm = _cvtu32_mask16(nd == 16 ? 0xffffu : (1u << nd) - 1u);
    for (int h = 0; h < H; h++) {
        const int nh = nr - KN_TILE * h;
        __m512i t[16];
        if (nd == 16 && nh >= 16) {
#pragma GCC unroll 16
            for (int l = 0; l < 16; l++)
                t[l] = _mm512_loadu_si512(sg + (KN_TILE * h + l) * W + w0);
        } else
            for (int l = 0; l < 16; l++)
                t[l] = l < nh ? _mm512_maskz_loadu_epi32(dm, sg + (KN_TILE * h + l) * W + w0)
                              : _mm512_setzero_si512();
        transpose16(t);
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++)
            _mm512_store_si512(buf + (16 * h + j) * KN_TILE, t[j]);
    }
}

/* Σ_k sign_{n,k} x_r[k] for the nr <= 2 KN_TILE rows of one 32-row block and R <= 4 activation
 * rows with tables T[r]; out[r * H + h] lane l = row 16 h + l (H = tiles in the block). Tiled
 * signs (tb: the block's first tile) are read in place, row-major ones (sg: the block's first
 * row) go through buf 16 words at a time; either way the next block's 128 W bytes, which follow
 * this block's in memory, are prefetched meanwhile when `more`. The same sums in the same order
 * either way. */
KN_AVX512 static inline __attribute__((always_inline)) void lut_block(
    const uint32_t *tb, const uint32_t *sg, int nr, int64_t W, int64_t K, const float *const *T,
    int R, int H, uint32_t *buf, bool more, __m512 *out)
{
    lut_acc acc;
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
        acc.a[r][0][0] = acc.a[r][0][1] = acc.a[r][1][0] = acc.a[r][1][1] = _mm512_setzero_ps();
    const int64_t G4 = (K + 3) / 4, Wf = G4 / 8; /* words whose 8 nibbles are all columns */
    const float *T0 = T[0], *T1 = T[R > 1 ? 1 : 0], *T2 = T[R > 2 ? 2 : 0], *T3 = T[R > 3 ? 3 : 0];
    if (tb) {
        const char *b0 = (const char *)tb, *b1 = (const char *)(tb + KN_TILE * W);
        lut_words(&acc, b0, b1, Wf, 0, T0, T1, T2, T3, R, H,
                  more ? (const char *)(tb + 2 * KN_TILE * W) : NULL);
        if (Wf < W)
            lut_tail(&acc, b0 + 64 * Wf, b1 + 64 * Wf, 8 * Wf, G4 - 8 * Wf, T0, T1, T2, T3, R, H);
    } else
        for (int64_t w0 = 0; w0 < W; w0 += 16) {
            const int nd = W - w0 < 16 ? (int)(W - w0) : 16;
            const int64_t nf = Wf - w0 < nd ? Wf - w0 : nd; /* full words of this chunk */
            to_tiles(sg, W, w0, nd, nr, H, buf);
            const char *b0 = (const char *)buf, *b1 = (const char *)(buf + 16 * KN_TILE);
            lut_words(&acc, b0, b1, nf, 8 * w0, T0, T1, T2, T3, R, H,
                      more ? (const char *)(sg + 2 * KN_TILE * W) + 128 * w0 : NULL);
            if (nf < nd)
                lut_tail(&acc, b0 + 64 * nf, b1 + 64 * nf, 8 * (w0 + nf), G4 - 8 * (w0 + nf), T0,
                         T1, T2, T3, R, H);
        }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        out[r * H] = _mm512_add_ps(acc.a[r][0][0], acc.a[r][0][1]);
        if (H > 1)
            out[r * H + 1] = _mm512_add_ps(acc.a[r][1][0], acc.a[r][1][1]);
    }
}

KN_AVX512 static void lut_block_dispatch(const uint32_t *tb, const uint32_t *sg, int nr,
                                         int64_t W, int64_t K, const float *const *T, int R,
                                         int H, uint32_t *buf, bool more, __m512 *out)
{
#define LB(r, h) lut_block(tb, sg, nr, W, K, T, r, h, buf, more, out)
    switch (R * 2 + H - 1) {
    case 2: LB(1, 1); break;
    case 3: LB(1, 2); break;
    case 4: LB(2, 1); break;
    case 5: LB(2, 2); break;
    case 6: LB(3, 1); break;
    case 7: LB(3, 2); break;
    case 8: LB(4, 1); break;
    default: LB(4, 2); break;
    }
#undef LB
}

/* The AVX-512 path: passes of <= KN_LUT_ROWS activation rows (in perm order): build their
 * tables, then every (group, 32 output rows) item of the pass: its two tiles (the delta's own
 * when tiled, else transposed into this thread's buffer once for all the pass's rows). */
KN_AVX512 static void bitdelta_lut512(const kn_deltas *dl, const kn_groups *g, const float *x,
                                      float *y, bool acc, const kn_cpu_scratch *ws)
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
            lut_build(x + (int64_t)g->perm[i] * K, K, ws->lut + (i - p0) * G4 * 16);
        /* chunks of 4 blocks: the block a thread prefetches is mostly its own next one */
#pragma omp parallel for schedule(dynamic, 4) if (work > 262144.0)
        for (int64_t it = 0; it < items; it++) {
            const int64_t gi = gi0 + it / nb, n0 = it % nb * ROW_BLOCK;
            const int nr = (int)(N - n0 < ROW_BLOCK ? N - n0 : ROW_BLOCK), H = nr > KN_TILE ? 2 : 1;
            const int d = g->gdelta[gi];
            const uint32_t *signs = dl->part[0][d];
            const float a = *(const float *)dl->part[1][d];
            /* tiled: the block's tiles in place (n0 is a multiple of the tile); row-major: the
             * block's rows through this thread's buffer */
            const uint32_t *tb = dl->tiled ? signs + n0 * W : NULL, *sg = signs + n0 * W;
            uint32_t *buf = dl->tiled ? NULL : ws->tiles + (size_t)omp_get_thread_num() * ws->tiles_words;
            const bool more = n0 + 2 * ROW_BLOCK <= N;
            const int64_t i0 = g->start[gi] > p0 ? g->start[gi] : p0;
            const int64_t i1 = g->start[gi + 1] < p1 ? g->start[gi + 1] : p1;
            for (int64_t i = i0; i < i1; i += 4) {
                const int R = i1 - i < 4 ? (int)(i1 - i) : 4;
                const float *T[4];
                for (int r = 0; r < R; r++)
                    T[r] = ws->lut + (i + r - p0) * G4 * 16;
                __m512 s[8];
                lut_block_dispatch(tb, sg, nr, W, K, T, R, H, buf, more, s);
                for (int h = 0; h < H; h++) {
                    const int nh = nr - KN_TILE * h < KN_TILE ? nr - KN_TILE * h : KN_TILE;
                    const __mmask16 m = _cvtu32_mask16(nh == 16 ? 0xffffu : (1u << nh) - 1u);
                    for (int r = 0; r < R; r++) {
                        float *yo = y + (int64_t)g->perm[i + r] * N + n0 + KN_TILE * h;
                        __m512 v = _mm512_mul_ps(_mm512_set1_ps(a), s[r * H + h]);
                        if (acc)
                            v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, yo), v);
                        _mm512_mask_storeu_ps(yo, m, v);
                    }
                }
            }
        }
    }
}

__attribute__((target("avx2,fma"))) static void set_sums_dispatch(const uint32_t *sg, int64_t st,
                                                                  const float *const *xr, int R,
                                                                  int64_t K, float *out)
{
    switch (R) {
    case 1: set_sums_avx2(sg, st, xr, 1, K, out); break;
    case 2: set_sums_avx2(sg, st, xr, 2, K, out); break;
    case 3: set_sums_avx2(sg, st, xr, 3, K, out); break;
    default: set_sums_avx2(sg, st, xr, 4, K, out); break;
    }
}
#endif

static void set_sums_portable(const uint32_t *sg, int64_t st, const float *const *xr, int R,
                              int64_t K, float *out)
{
    for (int r = 0; r < R; r++) {
        float s = 0.0f;
        for (int64_t k = 0; k < K; k++) {
            /* branch-free select: the bit as a 0/1 float factor */
            float bit = (float)(sg[(k >> 5) * st] >> (k & 31) & 1u);
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

size_t kn_fast_bitdelta_tiles(int simd)
{
#ifdef KN_X86 /* two tiles of 16 words x KN_TILE rows, one vector for the offset loads' tail */
    return simd >= 2 ? (size_t)(2 * 16 * KN_TILE + 16) : 0;
#else
    (void)simd;
    return 0;
#endif
}

void kn_fast_bitdelta(const kn_deltas *dl, const kn_groups *g, const float *x, float *y,
                      bool acc, int simd, kn_cpu_scratch *ws)
{
#ifndef KN_X86
    (void)simd;
#else
    if (simd >= 2 && ws->lut && (dl->tiled || ws->tiles)) {
        bitdelta_lut512(dl, g, x, y, acc, ws);
        return;
    }
#endif
    const int64_t N = dl->N, K = dl->K;
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
                int64_t st;
                const uint32_t *row = kn_sign_row(dl, signs, n, &st);
#ifdef KN_X86
                if (simd)
                    set_sums_dispatch(row, st, xr, R, K, set);
                else
#endif
                    set_sums_portable(row, st, xr, R, K, set);
                for (int r = 0; r < R; r++) {
                    const int64_t b = g->perm[i + r];
                    const float v = a * (2.0f * set[r] - ws->rowsum[b]);
                    y[b * N + n] = acc ? y[b * N + n] + v : v;
                }
            }
        }
    }
}
