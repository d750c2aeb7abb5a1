/* lut8.c: int8 table-lookup CPU kernels for the 1-bit and the 2:4 (2/4/8-bit) deltas
 * (T-MAC's idea, EuroSys 2025: look low-bit weights up in per-activation tables with byte
 * shuffles, accumulate in integers). AVX-512 VBMI (vpermb, vpermt2b, vpmultishiftqb) + VNNI
 * (vpdpbusd) + GFNI (vgf2p8affineqb); kernels.c runs them only where the CPU has all three (Ice
 * Lake and later, Zen 4), and keeps the f32 kernels of bitdelta.c / nmq.c as KN_IMPL_F32.
 *
 * Activations are quantised per activation row in blocks of KN_Q8_BLOCK = 256 columns (one f32
 * scale per block, round to nearest even, symmetric, 127 levels); int32 sums are scaled into f32
 * once per block. Error against the exact sum, per weight: at most |Δ_nk| m_b / 254, m_b the
 * largest |x| of the column's block (TOL_Q8 in tests/kn_testlib.h, docs/kernels.md).
 *
 * 1-bit: per activation row and group g of 4 columns a table of the 16 signed sums
 * T_g[p] = Σ_i (bit i of p ? +x : −x)[4 g + i], quantised to int8 with the block's scale
 * s_b = max_g Σ_i |x_{4g+i}| / 127. The signs are read in the tiled layout of kernels.h (one
 * 64-byte vector = the same word of 16 rows; row-major signs are gathered into that shape, same
 * bits): byte i of a row's word holds the groups 2i (low nibble) and 2i + 1 (high nibble), so one
 * 64-byte table per word holds the 4 low-nibble tables and one the 4 high-nibble ones, the nibble
 * OR (i << 4) is the vpermb index (one ternlog; a shift for the high nibble), and one vpdpbusd
 * with ones sums each row's 4 looked-up bytes into its int32 lane. 512 weights of a tile cost 3
 * index ops + 2 vpermb + 2 vpdpbusd per activation row (the f32 kernel: 8 vpermps, 8 adds, 4
 * shifts).
 *
 * 2:4: x quantised to u8 (x_q + 128); 64 slots (128 columns) of one row per step: the n:m index
 * and the column base make the vpermt2b index that looks x up in the step's 128 columns (two
 * zmm), the codes minus their zero become signed bytes (4-bit: one vgf2p8affineqb picks the
 * nibble and maps q to q − 8; 2-bit: one vpermb through the table e -> (e mod 4) − 2, which also
 * drops the bits above the field), and one vpdpbusd multiplies and sums 4 slots per lane;
 * Σ (x_q + 128)(q − z) − 128 Σ (q − z) is exact in int32 (the second sum, per weight row and
 * block, is one more vpdpbusd shared by all activation rows). Position p of a step's vectors
 * carries slot 2p (p < 32) or slot 2 (p − 32) + 1, so 4-bit codes are the step's 32 code bytes'
 * low nibbles then high nibbles, and 2-bit fields (indices, 2-bit codes) come out of one vpermd
 * + one vpmultishiftqb. The container's row-major layout is read as is.
 *
 * Memory: both ops are bound by how fast a core pulls the deltas from DRAM, not by the lookups
 * (a cache-resident 4096 x 4096 1-bit delta takes ~60 us on one core, from DRAM ~170 us). Each
 * thread streams contiguous runs of rows (chunks of items handed out in order), the loops
 * prefetch Q8_PF_* bytes ahead, and one parallel region per pass builds the tables (split by
 * block, so batch 1 uses every thread) and runs the items, with one barrier between.
 *
 * Every output element is summed by one thread in an order fixed by K, so results are
 * bit-identical for any thread count, batch composition and 1-bit layout. */
#include <omp.h>
#include <string.h>

#include "core/half.h"
#include "kernels/kn_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define KN_X86 1
#endif

/* Software prefetch distance (bytes) of the 1-bit sign streams and the 2:4 code stream (its index
 * stream: half), on top of the hardware prefetchers, which stop at every 4 KiB page. */
#define Q8_PF_BIT 2048
#define Q8_PF_NM 2048
#ifndef Q8_PF_BIT2
#define Q8_PF_BIT2 2048 /* version 2 of the 1-bit loop */
#endif
#ifndef Q8_PF_HINT2
#define Q8_PF_HINT2 _MM_HINT_T0
#endif
/* Version 2's 1-bit loop also touches the first line of the next two 4 KiB pages of each sign
 * stream as it enters a page: the page walk and the L2 streamer's restart (it stops at each page)
 * then happen ahead of the stream (a bare read of one core: 135 -> 119 us per 2 MiB, as with
 * 2 MiB pages; in the 2:4 kernel, per row, it measured ~6 % slower and is left out). */
#define Q8_KICK(p)                                                                                 \
    do {                                                                                           \
        _mm_prefetch((const char *)(p) + 4096, _MM_HINT_T0);                                       \
        _mm_prefetch((const char *)(p) + 8192, _MM_HINT_T0);                                       \
    } while (0)
#define Q8_ROW_BLOCK 32 /* output rows per work item (two 16-row tiles for 1-bit) */

static int64_t q8_nblk(int64_t K) { return (K + KN_Q8_BLOCK - 1) / KN_Q8_BLOCK; }
static size_t pad64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Bytes of one activation row's tables (1-bit) or quantised x (2:4), scales included. */
static size_t q8_row_bytes(const kn_deltas *dl)
{
    const size_t sc = pad64(sizeof(float) * (size_t)q8_nblk(dl->K));
    if (dl->fmt == KN_FMT_BITDELTA)
        return (size_t)dc_fmt_words(dl->K, 1) * 128 + sc;
    return (size_t)((dl->K + 127) / 128 * 128) + sc;
}

bool kn_q8_handles(const kn_deltas *dl)
{
    return dl->fmt == KN_FMT_BITDELTA ||
           (dl->fmt == KN_FMT_NMQ && dl->nm_n == 2 && dl->nm_m == 4 &&
            (dl->bits == 2 || dl->bits == 4 || dl->bits == 8));
}

size_t kn_q8_scratch(const kn_deltas *dl)
{
    return kn_q8_handles(dl) ? KN_Q8_ROWS * q8_row_bytes(dl) : 0;
}

#ifdef KN_X86
#define KN_Q8 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,avx512vnni,gfni,avx2,fma")))

/* ---- activation side -------------------------------------------------------------------------- */

/* 1-bit tables of x [K], block b (8 words): per word w, 128 bytes: T_{8w}, T_{8w+2}, T_{8w+4},
 * T_{8w+6} (16 bytes each) then T_{8w+1}, T_{8w+3}, ...; after all words one scale per block. */
KN_Q8 static void q8_tables(const float *x, int64_t K, int64_t b, uint8_t *out)
{
    const __m512 s0 = _mm512_setr_ps(-1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1);
    const __m512 s1 = _mm512_setr_ps(-1, -1, 1, 1, -1, -1, 1, 1, -1, -1, 1, 1, -1, -1, 1, 1);
    const __m512 s2 = _mm512_setr_ps(-1, -1, -1, -1, 1, 1, 1, 1, -1, -1, -1, -1, 1, 1, 1, 1);
    const __m512 s3 = _mm512_setr_ps(-1, -1, -1, -1, -1, -1, -1, -1, 1, 1, 1, 1, 1, 1, 1, 1);
    const int64_t W = dc_fmt_words(K, 1), Gf = K / 4; /* groups all in K */
    float *sc = (float *)(out + W * 128), tail[4] = {0, 0, 0, 0};
    for (int64_t k = 4 * Gf; k < K; k++)
        tail[k - 4 * Gf] = x[k];
    const int64_t g0 = 64 * b, g1 = 8 * W < g0 + 64 ? 8 * W : g0 + 64;
    /* m = max over the block's groups of Σ_i |x_{4g+i}|: 4 groups per vector */
    __m512 mv = _mm512_setzero_ps();
    for (int64_t c = 4 * g0; c < 4 * g1 && c < K; c += 16) {
        const __mmask16 k = _cvtu32_mask16(K - c >= 16 ? 0xffffu : (1u << (K - c)) - 1u);
        __m512 a = _mm512_abs_ps(_mm512_maskz_loadu_ps(k, x + c));
        a = _mm512_add_ps(a, _mm512_permute_ps(a, 0xb1));
        mv = _mm512_max_ps(mv, _mm512_add_ps(a, _mm512_permute_ps(a, 0x4e)));
    }
    const float m = _mm512_reduce_max_ps(mv), inv = m > 0.0f ? 127.0f / m : 0.0f;
    const __m512 vinv = _mm512_set1_ps(inv);
    sc[b] = m / 127.0f;
    for (int64_t g = g0; g < g1; g++) {
        /* ((±x0 ± x1) ± x2) ± x3: products by ±1 are exact, each step one rounding */
        const float *v = g < Gf ? x + 4 * g : tail;
        const bool past = g > Gf || (g == Gf && 4 * Gf == K);
        __m512 t = past ? _mm512_setzero_ps() : _mm512_mul_ps(s0, _mm512_set1_ps(v[0]));
        if (!past) {
            t = _mm512_fmadd_ps(s1, _mm512_set1_ps(v[1]), t);
            t = _mm512_fmadd_ps(s2, _mm512_set1_ps(v[2]), t);
            t = _mm512_fmadd_ps(s3, _mm512_set1_ps(v[3]), t);
        }
        const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(t, vinv));
        const int64_t j = g & 7;
        _mm_storeu_si128((__m128i *)(out + (g >> 3) * 128 + (j & 1) * 64 + (j >> 1) * 16),
                         _mm512_cvtsepi32_epi8(q));
    }
}

/* 2:4: x [K] as u8 x_q + 128 for columns [0, 128 ceil(K / 128)) (128 past K), then one scale per
 * block; this call: block b. */
KN_Q8 static void q8_quant(const float *x, int64_t K, int64_t b, uint8_t *out)
{
    const int64_t Kp = (K + 127) / 128 * 128;
    float *sc = (float *)(out + Kp);
    const __m512i bias = _mm512_set1_epi32(128);
    if (b == q8_nblk(K) - 1)
        memset(out + K, 128, (size_t)(Kp - K));
    const int64_t c0 = KN_Q8_BLOCK * b, c1 = K < c0 + KN_Q8_BLOCK ? K : c0 + KN_Q8_BLOCK;
    __m512 mv = _mm512_setzero_ps();
    for (int64_t c = c0; c < c1; c += 16) {
        const __mmask16 k = _cvtu32_mask16(c1 - c >= 16 ? 0xffffu : (1u << (c1 - c)) - 1u);
        mv = _mm512_max_ps(mv, _mm512_abs_ps(_mm512_maskz_loadu_ps(k, x + c)));
    }
    const float m = _mm512_reduce_max_ps(mv), inv = m > 0.0f ? 127.0f / m : 0.0f;
    sc[b] = m / 127.0f;
    for (int64_t c = c0; c < c1; c += 16) {
        const __mmask16 k = _cvtu32_mask16(c1 - c >= 16 ? 0xffffu : (1u << (c1 - c)) - 1u);
        const __m512i q = _mm512_cvtps_epi32(
            _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + c), _mm512_set1_ps(inv)));
        const __m512i u = _mm512_add_epi32(_mm512_max_epi32(_mm512_min_epi32(q, _mm512_set1_epi32(127)),
                                                            _mm512_set1_epi32(-127)),
                                           bias);
        _mm_mask_storeu_epi8(out + c, k, _mm512_cvtepi32_epi8(u));
    }
}

/* ---- 1-bit ------------------------------------------------------------------------------------- */

#define Q8_T(r) ((r) == 0 ? T0 : (r) == 1 ? T1 : (r) == 2 ? T2 : T3)

/* Σ_k sign x_r[k] for H <= 2 tiles of 16 rows (lane l of out[r H + h] = row 16 h + l) and R <= 4
 * activation rows with tables T0..T3 (scales after them). Tiled signs: tile h's word w at
 * tb + 16 (h W + w); row-major: row l of tile h's word w at sg + (16 h + l) W + w, rows past nr
 * read as zero. */
KN_Q8 static inline __attribute__((always_inline)) void q8_bit_tiles(
    const uint32_t *tb, const uint32_t *sg, int nr, int64_t W, const uint8_t *T0,
    const uint8_t *T1, const uint8_t *T2, const uint8_t *T3, int R, int H, __m512 *out)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), sel = _mm512_set1_epi32(0x30201000);
    const __m512i ones = _mm512_set1_epi8(1);
    const __m512i vi = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                          _mm512_set1_epi32((int)W));
    __mmask16 rm[2];
    for (int h = 0; h < 2; h++) {
        const int nh = nr - 16 * h;
        rm[h] = _cvtu32_mask16(nh >= 16 ? 0xffffu : nh > 0 ? (1u << nh) - 1u : 0u);
    }
    __m512 f[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
        f[r][0] = f[r][1] = _mm512_setzero_ps();
    for (int64_t w0 = 0, b = 0; w0 < W; w0 += 8, b++) {
        const int64_t w1 = W < w0 + 8 ? W : w0 + 8;
        __m512i a[4][2][2];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            a[r][0][0] = a[r][0][1] = a[r][1][0] = a[r][1][1] = _mm512_setzero_si512();
        for (int64_t w = w0; w < w1; w++) {
            __m512i lo[2], hi[2];
#pragma GCC unroll 2
            for (int h = 0; h < H; h++) {
                if (tb)
                    _mm_prefetch((const char *)(tb + 16 * (h * W + w)) + Q8_PF_BIT, _MM_HINT_T0);
                const __m512i v = tb ? _mm512_loadu_si512(tb + 16 * (h * W + w))
                                     : _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), rm[h], vi,
                                                                   sg + 16 * h * W + w, 4);
                lo[h] = _mm512_ternarylogic_epi32(v, m4, sel, 0xea);
                hi[h] = _mm512_ternarylogic_epi32(_mm512_srli_epi32(v, 4), m4, sel, 0xea);
            }
#pragma GCC unroll 4
            for (int r = 0; r < R; r++) {
                const __m512i tl = _mm512_loadu_si512(Q8_T(r) + 128 * w);
                const __m512i th = _mm512_loadu_si512(Q8_T(r) + 128 * w + 64);
#pragma GCC unroll 2
                for (int h = 0; h < H; h++) {
                    a[r][h][0] = _mm512_dpbusd_epi32(a[r][h][0], ones, _mm512_permutexvar_epi8(lo[h], tl));
                    a[r][h][1] = _mm512_dpbusd_epi32(a[r][h][1], ones, _mm512_permutexvar_epi8(hi[h], th));
                }
            }
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const __m512 s = _mm512_set1_ps(((const float *)(Q8_T(r) + 128 * W))[b]);
#pragma GCC unroll 2
            for (int h = 0; h < H; h++)
                f[r][h] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(a[r][h][0], a[r][h][1])),
                                          s, f[r][h]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        for (int h = 0; h < H; h++)
            out[r * H + h] = f[r][h];
}

/* Version 2 of the tiled loop (KN_IMPL_FAST; the loop above is KN_IMPL_INT8V1's and reads
 * row-major signs for both): the same lookups and sums, so the same bits, in a loop the compiler
 * keeps in registers. Tile h's word w at tb + 16 (h W + w); a block's 8 words are unrolled (one
 * pointer step per block, no layout test and no accumulator copies in the loop: the version 1
 * loop spent 8 vector moves and a branch per word beside its 14 vector ops). Up to 2 activation
 * rows keep the low- and high-nibble sums apart (4 independent vpdpbusd chains), 3-4 rows share
 * one accumulator per (row, tile) so everything stays in the 32 zmm. */
KN_Q8 static inline __attribute__((always_inline)) void q8_bit_word2(
    const uint32_t *tb, int64_t W, int64_t w, const uint8_t *const *T, int R, int H, bool split,
    __m512i (*a)[2][2])
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), sel = _mm512_set1_epi32(0x30201000);
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i lo[2], hi[2];
#pragma GCC unroll 2
    for (int h = 0; h < H; h++) {
        const uint32_t *p = tb + 16 * (h * W + w);
        if (Q8_PF_BIT2)
            _mm_prefetch((const char *)p + Q8_PF_BIT2, Q8_PF_HINT2);
        const __m512i v = _mm512_loadu_si512(p);
        lo[h] = _mm512_ternarylogic_epi32(v, m4, sel, 0xea);
        hi[h] = _mm512_ternarylogic_epi32(_mm512_srli_epi32(v, 4), m4, sel, 0xea);
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        const __m512i tl = _mm512_loadu_si512(T[r] + 128 * w);
        const __m512i th = _mm512_loadu_si512(T[r] + 128 * w + 64);
#pragma GCC unroll 2
        for (int h = 0; h < H; h++) {
            a[r][h][0] = _mm512_dpbusd_epi32(a[r][h][0], ones, _mm512_permutexvar_epi8(lo[h], tl));
            a[r][h][split] = _mm512_dpbusd_epi32(a[r][h][split], ones,
                                                 _mm512_permutexvar_epi8(hi[h], th));
        }
    }
}

KN_Q8 static inline __attribute__((always_inline)) void q8_bit_tiles2(
    const uint32_t *tb, int64_t W, const uint8_t *const *T, int R, int H, __m512 *out)
{
    const bool split = R <= 2;
    __m512 f[4][2];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
        f[r][0] = f[r][1] = _mm512_setzero_ps();
    for (int64_t w0 = 0, b = 0; w0 < W; w0 += 8, b++) {
        __m512i a[4][2][2];
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            a[r][0][0] = a[r][0][1] = a[r][1][0] = a[r][1][1] = _mm512_setzero_si512();
#pragma GCC unroll 2
        for (int h = 0; h < H; h++) { /* a block (512 bytes) that starts a page */
            const uint32_t *p = tb + 16 * (h * W + w0);
            if (((uintptr_t)p & 4095) < 512)
                Q8_KICK(p);
        }
        if (w0 + 8 <= W) {
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++)
                q8_bit_word2(tb, W, w0 + j, T, R, H, split, a);
        } else {
            for (int64_t w = w0; w < W; w++)
                q8_bit_word2(tb, W, w, T, R, H, split, a);
        }
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const __m512 s = _mm512_set1_ps(((const float *)(T[r] + 128 * W))[b]);
#pragma GCC unroll 2
            for (int h = 0; h < H; h++) {
                const __m512i t = split ? _mm512_add_epi32(a[r][h][0], a[r][h][1]) : a[r][h][0];
                f[r][h] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(t), s, f[r][h]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        for (int h = 0; h < H; h++)
            out[r * H + h] = f[r][h];
}

/* Signs tb (tiled, or NULL: row-major sg) of 1-2 tiles against R <= 4 tables T; v2: version 2's
 * loop (tiled only). */
KN_Q8 static void q8_bit_dispatch(const uint32_t *tb, const uint32_t *sg, int nr, int64_t W,
                                  const uint8_t *const *T, int R, int H, bool v2, __m512 *out)
{
    const uint8_t *const P[4] = {T[0], T[R > 1 ? 1 : 0], T[R > 2 ? 2 : 0], T[R > 3 ? 3 : 0]};
#define QB(r, h)                                                                                   \
    if (v2)                                                                                        \
        q8_bit_tiles2(tb, W, P, r, h, out);                                                        \
    else                                                                                           \
        q8_bit_tiles(tb, sg, nr, W, P[0], P[1], P[2], P[3], r, h, out)
    switch (R * 2 + H - 1) {
    case 2: QB(1, 1); break;
    case 3: QB(1, 2); break;
    case 4: QB(2, 1); break;
    case 5: QB(2, 2); break;
    case 6: QB(3, 1); break;
    case 7: QB(3, 2); break;
    case 8: QB(4, 1); break;
    default: QB(4, 2); break;
    }
#undef QB
}

/* ---- 2:4 ----------------------------------------------------------------------------------------- */

/* 2-bit fields of 64 slots (16 bytes at p, nb of them readable) in position order (p < 32:
 * slot 2 p, else slot 2 (p − 32) + 1), each in the low 2 bits of its byte (higher bits junk). */
KN_Q8 static inline __attribute__((always_inline)) __m512i q8_fields2(const uint8_t *p, int nb)
{
    const __m128i v = nb >= 16 ? _mm_loadu_si128((const __m128i *)p)
                               : _mm_maskz_loadu_epi8(_cvtu32_mask16((1u << nb) - 1u), p);
    const __m512i d = _mm512_permutexvar_epi32(
        _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 0, 0, 1, 1, 2, 2, 3, 3), _mm512_zextsi128_si512(v));
    const __m512i ctl = _mm512_set_epi64(0x1e1a16120e0a0602LL, 0x1e1a16120e0a0602LL,
                                         0x1e1a16120e0a0602LL, 0x1e1a16120e0a0602LL,
                                         0x1c1814100c080400LL, 0x1c1814100c080400LL,
                                         0x1c1814100c080400LL, 0x1c1814100c080400LL);
    return _mm512_multishift_epi64_epi8(ctl, d);
}

/* Codes of one step's 64 slots at cb (`left` bytes readable) in position order as signed q − z
 * (positions outside `valid`: 0): the field lands in the low bits of its byte and one vpermb
 * with the table e -> (e mod 2^BITS) − z drops the junk above it and subtracts the zero. */
KN_Q8 static inline __attribute__((always_inline)) __m512i q8_codes(const uint8_t *cb, int64_t left,
                                                                   int BITS, __mmask64 valid)
{
    if (BITS == 4) { /* one GF(2) affine map per byte: qwords 0-3 take the low nibble, 4-7 the
                      * high one; bits 0-2 copied, bits 3-7 = NOT bit 3 (XOR 0xf8): q − 8 */
        const __m256i v = left >= 32 ? _mm256_loadu_si256((const __m256i *)cb)
                                     : _mm256_maskz_loadu_epi8(_cvtu32_mask32((1u << left) - 1u), cb);
        const __m512i A = _mm512_set_epi64(0x1020408080808080LL, 0x1020408080808080LL,
                                           0x1020408080808080LL, 0x1020408080808080LL,
                                           0x0102040808080808LL, 0x0102040808080808LL,
                                           0x0102040808080808LL, 0x0102040808080808LL);
        return _mm512_maskz_gf2p8affine_epi64_epi8(valid, _mm512_broadcast_i64x4(v), A, 0xf8);
    }
    if (BITS == 2) /* e mod 4 − 2 */
        return _mm512_maskz_permutexvar_epi8(valid, q8_fields2(cb, left >= 16 ? 16 : (int)left),
                                             _mm512_set1_epi32(0x0100fffe));
    const __m512i v = left >= 64 ? _mm512_loadu_si512(cb)
                                 : _mm512_maskz_loadu_epi8(_cvtu64_mask64((1ull << left) - 1ull), cb);
    const __m512i c = _mm512_permutexvar_epi8(
        _mm512_set_epi8(63, 61, 59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31, 29,
                        27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1, 62, 60, 58, 56, 54,
                        52, 50, 48, 46, 44, 42, 40, 38, 36, 34, 32, 30, 28, 26, 24, 22, 20, 18,
                        16, 14, 12, 10, 8, 6, 4, 2, 0),
        v);
    return _mm512_maskz_sub_epi8(valid, c, _mm512_set1_epi8((char)0x80));
}

/* Step st (64 slots, 128 columns) of one weight row into a[r] and aw (Σ (q − z)) for R <= 4
 * activation rows; `tail`: the row's last, partial step (masked loads, slots past S zero). */
KN_Q8 static inline __attribute__((always_inline)) void q8_nm_step(
    const uint8_t *cb, int64_t cbytes, const uint8_t *ib, int64_t ibytes, int64_t S, int64_t st,
    const uint8_t *const *xu, int R, int BITS, bool tail, __m512i *a, __m512i *aw)
{
    const __m512i base = _mm512_set_epi8(124, 120, 116, 112, 108, 104, 100, 96, 92, 88, 84, 80,
                                         76, 72, 68, 64, 60, 56, 52, 48, 44, 40, 36, 32, 28, 24,
                                         20, 16, 12, 8, 4, 0, 124, 120, 116, 112, 108, 104, 100,
                                         96, 92, 88, 84, 80, 76, 72, 68, 64, 60, 56, 52, 48, 44,
                                         40, 36, 32, 28, 24, 20, 16, 12, 8, 4, 0);
    __mmask64 valid = ~0ull;
    int64_t cleft = 1 << 30, ileft = 16;
    if (tail) { /* position p < 32 holds slot 2 p, else 2 (p − 32) + 1; S is even */
        const uint64_t half = (1ull << ((S - 64 * st) / 2)) - 1ull;
        valid = _cvtu64_mask64(half | half << 32);
        cleft = cbytes - st * 8 * BITS;
        ileft = ibytes - 16 * st < 16 ? ibytes - 16 * st : 16;
    }
    const __m512i cs = q8_codes(cb + st * 8 * BITS, cleft, BITS, valid);
    const __m512i iv = _mm512_ternarylogic_epi32(q8_fields2(ib + 16 * st, (int)ileft),
                                                 _mm512_set1_epi8(3), base, 0xea);
    *aw = _mm512_dpbusd_epi32(*aw, _mm512_set1_epi8((char)0x80), cs); /* 128 Σ (q − z) */
#pragma GCC unroll 4
    for (int r = 0; r < R; r++) {
        const uint8_t *xs = xu[r] + 128 * st;
        const __m512i xg = _mm512_permutex2var_epi8(_mm512_loadu_si512(xs), iv,
                                                    _mm512_loadu_si512(xs + 64));
        a[r] = _mm512_dpbusd_epi32(a[r], xg, cs);
    }
}

/* Σ_k Δ_nk / scale_n · x_r[k] of one weight row for R <= 4 quantised activation rows xu[r]
 * (scales after them); cb / ib: the row's codes and indices (cbytes, ibytes readable). Full
 * steps run unmasked in pairs (one block of KN_Q8_BLOCK columns), the partial one last. */
KN_Q8 static inline __attribute__((always_inline)) void q8_nm_row(
    const uint8_t *cb, int64_t cbytes, const uint8_t *ib, int64_t ibytes, int64_t S, int64_t Kp,
    const uint8_t *const *xu, int R, int BITS, float *out)
{
    const int64_t steps = (S + 63) / 64, full = S / 64;
    __m512 f[4];
#pragma GCC unroll 4
    for (int r = 0; r < 4; r++)
        f[r] = _mm512_setzero_ps();
    int64_t s0 = 0, b = 0;
    for (; s0 + 1 < full; s0 += 2, b++) { /* full blocks: two unmasked steps */
        __m512i a[4], aw = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            a[r] = _mm512_setzero_si512();
        _mm_prefetch((const char *)(cb + s0 * 8 * BITS) + Q8_PF_NM, _MM_HINT_T0);
        _mm_prefetch((const char *)(ib + 16 * s0) + Q8_PF_NM / 2, _MM_HINT_T0);
        q8_nm_step(cb, cbytes, ib, ibytes, S, s0, xu, R, BITS, false, a, &aw);
        q8_nm_step(cb, cbytes, ib, ibytes, S, s0 + 1, xu, R, BITS, false, a, &aw);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const __m512 sc = _mm512_set1_ps(((const float *)(xu[r] + Kp))[b]);
            f[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(a[r], aw)), sc, f[r]);
        }
    }
    if (s0 < steps) { /* the last block: one or two steps, the partial one masked */
        __m512i a[4], aw = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
            a[r] = _mm512_setzero_si512();
        q8_nm_step(cb, cbytes, ib, ibytes, S, s0, xu, R, BITS, s0 >= full, a, &aw);
        if (s0 + 1 < steps)
            q8_nm_step(cb, cbytes, ib, ibytes, S, s0 + 1, xu, R, BITS, true, a, &aw);
#pragma GCC unroll 4
        for (int r = 0; r < R; r++) {
            const __m512 sc = _mm512_set1_ps(((const float *)(xu[r] + Kp))[b]);
            f[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(a[r], aw)), sc, f[r]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < R; r++)
        out[r] = _mm512_reduce_add_ps(f[r]);
}

/* Rows 0 .. nr of one work item (row i's codes at cb + i cbytes, indices at ib + i ibytes):
 * out[r Q8_ROW_BLOCK + i] = Σ_k Δ_ik / scale_i · x_r[k]; the row loop sits inside the dispatch so
 * the constants stay in registers across rows. */
KN_Q8 static void q8_nm_dispatch(const uint8_t *cb, int64_t cbytes, const uint8_t *ib,
                                 int64_t ibytes, int nr, int64_t S, int64_t Kp,
                                 const uint8_t *const *xu, int R, int bits, float *out)
{
#define QN(r, B)                                                                                   \
    for (int i = 0; i < nr; i++) {                                                                 \
        float o[4];                                                                                \
        q8_nm_row(cb + i * cbytes, cbytes, ib + i * ibytes, ibytes, S, Kp, xu, r, B, o);           \
        for (int q = 0; q < r; q++)                                                                \
            out[q * Q8_ROW_BLOCK + i] = o[q];                                                      \
    }
#define QN_R(B)                                                                                    \
    switch (R) {                                                                                   \
    case 1: QN(1, B); break;                                                                       \
    case 2: QN(2, B); break;                                                                       \
    case 3: QN(3, B); break;                                                                       \
    default: QN(4, B); break;                                                                      \
    }
    if (bits == 2)
        QN_R(2)
    else if (bits == 4)
        QN_R(4)
    else
        QN_R(8)
#undef QN_R
#undef QN
}

/* ---- drivers ------------------------------------------------------------------------------------- */

/* Passes of <= KN_Q8_ROWS activation rows (perm order): [p0, p1) and the groups gi0..gi1 with
 * rows there. */
static void q8_pass(const kn_groups *g, int64_t p0, int64_t rows, int64_t *p1, int64_t *gi0,
                    int64_t *gi1)
{
    *p1 = p0 + KN_Q8_ROWS < rows ? p0 + KN_Q8_ROWS : rows;
    while (g->start[*gi0 + 1] <= p0)
        (*gi0)++;
    *gi1 = *gi0;
    while (*gi1 < g->G && g->start[*gi1] < *p1)
        (*gi1)++;
}

KN_Q8 static inline __attribute__((always_inline)) void q8_store(float *yo, __m512 v,
                                                               __mmask16 m, bool acc)
{
    if (acc)
        v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, yo), v);
    _mm512_mask_storeu_ps(yo, m, v);
}

/* 1-bit work item: output rows n0 .. n0 + 32 of delta d for the R <= 4 activation rows rows[r]
 * whose tables are at T[r]. */
KN_Q8 static void q8_bit_item(const kn_deltas *dl, int d, int64_t n0, const uint8_t *const *T,
                              const int32_t *rows, int R, float *y, bool acc, int ver)
{
    const int64_t N = dl->N, W = dc_fmt_words(dl->K, 1);
    const int nr = (int)(N - n0 < Q8_ROW_BLOCK ? N - n0 : Q8_ROW_BLOCK), H = nr > 16 ? 2 : 1;
    const uint32_t *signs = dl->part[0][d];
    const float a = *(const float *)dl->part[1][d];
    __m512 s[8];
    q8_bit_dispatch(dl->tiled ? signs + n0 * W : NULL, signs + n0 * W, nr, W, T, R, H,
                    ver >= 2 && dl->tiled, s);
    for (int h = 0; h < H; h++) {
        const int nh = nr - 16 * h < 16 ? nr - 16 * h : 16;
        const __mmask16 m = _cvtu32_mask16(nh == 16 ? 0xffffu : (1u << nh) - 1u);
        for (int r = 0; r < R; r++)
            q8_store(y + (int64_t)rows[r] * N + n0 + 16 * h,
                     _mm512_mul_ps(_mm512_set1_ps(a), s[r * H + h]), m, acc);
    }
}

/* 2:4 work item: output rows n0 .. n0 + 32 of delta d for the R <= 4 activation rows rows[r]
 * whose quantised x is at xu[r]. */
KN_Q8 static void q8_nm_item(const kn_deltas *dl, int d, int64_t n0, const uint8_t *const *xu,
                             const int32_t *rows, int R, float *y, bool acc)
{
    const int64_t N = dl->N, K = dl->K, S = (K + 3) / 4 * 2, Kp = (K + 127) / 128 * 128;
    const int64_t Wc = dc_fmt_words(S, dl->bits), Wi = dc_fmt_words(S, 2);
    const int64_t n1 = n0 + Q8_ROW_BLOCK < N ? n0 + Q8_ROW_BLOCK : N;
    const uint32_t *codes = dl->part[0][d], *idx = dl->part[1][d];
    const uint16_t *scale = dl->part[2][d];
    float s[4 * Q8_ROW_BLOCK];
    q8_nm_dispatch((const uint8_t *)(codes + n0 * Wc), 4 * Wc, (const uint8_t *)(idx + n0 * Wi),
                   4 * Wi, (int)(n1 - n0), S, Kp, xu, R, dl->bits, s);
    for (int64_t n = n0; n < n1; n++) {
        const float sc = f16_to_f32(scale[n]);
        for (int r = 0; r < R; r++) {
            float *yo = y + (int64_t)rows[r] * N + n;
            *yo = acc ? *yo + sc * s[r * Q8_ROW_BLOCK + n - n0] : sc * s[r * Q8_ROW_BLOCK + n - n0];
        }
    }
}

/* Items [it0, it1) of a pass [p0, p1) whose first group is gi0 (rb: bytes of one row's tables
 * or quantised x in ws->q8): item it is (group gi0 + it / nb, output rows 32 (it % nb) ..). */
KN_Q8 static void q8_items(const kn_deltas *dl, const kn_groups *g, int64_t p0, int64_t p1,
                           int64_t gi0, size_t rb, const kn_cpu_scratch *ws, float *y, bool acc,
                           int ver, int64_t it0, int64_t it1)
{
    const int64_t nb = (dl->N + Q8_ROW_BLOCK - 1) / Q8_ROW_BLOCK;
    for (int64_t it = it0; it < it1; it++) {
        const int64_t gi = gi0 + it / nb, n0 = it % nb * Q8_ROW_BLOCK;
        const int64_t i0 = g->start[gi] > p0 ? g->start[gi] : p0;
        const int64_t i1 = g->start[gi + 1] < p1 ? g->start[gi + 1] : p1;
        for (int64_t i = i0; i < i1; i += 4) {
            const int R = i1 - i < 4 ? (int)(i1 - i) : 4;
            const uint8_t *P[4];
            for (int r = 0; r < R; r++)
                P[r] = ws->q8 + (size_t)(i + r - p0) * rb;
            if (dl->fmt == KN_FMT_BITDELTA)
                q8_bit_item(dl, g->gdelta[gi], n0, P, g->perm + i, R, y, acc, ver);
            else
                q8_nm_item(dl, g->gdelta[gi], n0, P, g->perm + i, R, y, acc);
        }
    }
}

/* Version 2's schedule: the next run of items for a thread of nt, [return, *end): what is left
 * over 2 nt (at least 1), so each thread streams long contiguous runs first
 * and the runs shrink to single items at the end, where the threads meet (no thread waits
 * for more than one item); items when none is left. */
static int64_t q8_grab(int64_t *next, int64_t items, int nt, int64_t *end)
{
    int64_t i = __atomic_load_n(next, __ATOMIC_RELAXED), c;
    do {
        if (i >= items)
            return items;
        c = (items - i) / (2 * nt);
        c = c < 1 ? 1 : c;
    } while (!__atomic_compare_exchange_n(next, &i, i + c, false, __ATOMIC_RELAXED,
                                          __ATOMIC_RELAXED));
    *end = i + c;
    return i;
}

/* Both ops: passes of <= KN_Q8_ROWS activation rows (perm order), each in one parallel region:
 * the threads build the pass's tables (1-bit) or quantised x (2:4) into ws->q8, block by block,
 * then share the (group, 32 output rows) items in contiguous chunks (each thread streams long
 * runs of a delta; a thread that falls behind leaves its later chunks to the others), 4
 * activation rows of a group at a time. Version 1: chunks of items / (4 threads) + 1 (the
 * thread that takes the last one finishes up to a chunk after the other: ~6 % of a batch-1
 * call at 2 threads); version 2: shrinking runs (q8_grab). */
KN_Q8 static void q8_run(const kn_deltas *dl, const kn_groups *g, const float *x, float *y,
                         bool acc, const kn_cpu_scratch *ws, int ver)
{
    const bool bit = dl->fmt == KN_FMT_BITDELTA;
    const int64_t N = dl->N, K = dl->K, nblk = q8_nblk(K);
    const int64_t nb = (N + Q8_ROW_BLOCK - 1) / Q8_ROW_BLOCK, rows = g->start[g->G];
    const size_t rb = q8_row_bytes(dl);
    for (int64_t p0 = 0, p1, gi0 = 0, gi1; p0 < rows; p0 = p1) {
        q8_pass(g, p0, rows, &p1, &gi0, &gi1);
        const int64_t items = (gi1 - gi0) * nb, units = (p1 - p0) * nblk;
        const double work = (double)N * (double)K * (double)(p1 - p0);
        int64_t next = 0; /* version 2: the first item no thread has taken */
#pragma omp parallel if (work > 262144.0)
        {
            const int64_t chunk = items / (4 * omp_get_num_threads()) + 1;
#pragma omp for schedule(static)
            for (int64_t u = 0; u < units; u++) {
                const int64_t i = p0 + u / nblk;
                if (bit)
                    q8_tables(x + (int64_t)g->perm[i] * K, K, u % nblk, ws->q8 + (size_t)(i - p0) * rb);
                else
                    q8_quant(x + (int64_t)g->perm[i] * K, K, u % nblk, ws->q8 + (size_t)(i - p0) * rb);
            }
            if (ver < 2) {
#pragma omp for schedule(dynamic, chunk) nowait
                for (int64_t it = 0; it < items; it++)
                    q8_items(dl, g, p0, p1, gi0, rb, ws, y, acc, ver, it, it + 1);
            } else
                for (int64_t it0, it1 = 0;
                     (it0 = q8_grab(&next, items, omp_get_num_threads(), &it1)) < items;)
                    q8_items(dl, g, p0, p1, gi0, rb, ws, y, acc, ver, it0, it1);
        }
    }
}
#endif /* KN_X86 */

void kn_q8_gemm(const kn_deltas *dl, const kn_groups *g, const float *x, float *y, bool acc,
                kn_cpu_scratch *ws, int ver)
{
#ifdef KN_X86
    q8_run(dl, g, x, y, acc, ws, ver);
#else
    (void)dl, (void)g, (void)x, (void)y, (void)acc, (void)ws, (void)ver;
#endif
}
