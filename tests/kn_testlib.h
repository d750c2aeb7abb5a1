/* kn_testlib.h: random packed deltas of every kn_ format for the kernel suites (CPU and GPU)
 * and the tolerance check they share. Header-only, included by tests/check_*kernels.c only.
 *
 * The generators follow kernels/formats.h exactly (n:m tail groups padded with index 0 and code
 * `zero`, CSR columns ascending per row), so the data is what the compressors would write. */
#ifndef DB_KN_TESTLIB_H
#define DB_KN_TESTLIB_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/half.h"
#include "core/rng.h"
#include "kernels/kernels.h"

/* Named tolerances: |fast − ref| <= TOL · Σ_k |Δ_nk x_bk| (+ 1e-30). */
#define TOL_DENSE 2e-6
#define TOL_BITDELTA 2e-6
#define TOL_NMQ 2e-6
#define TOL_CSR 2e-6
#define TOL_LOWRANK 2e-5
#define TOL_DEQUANT 2e-3 /* fp16 rounding of every dequantised weight (2^-11) plus slack */
#define TOL_GPU 2e-5     /* GPU vs ref: f32 accumulation in another order */
#define TOL_GPU_HALF 4e-3 /* GPU paths that round x (and the CSR output) to fp16 */
/* The int8 kernels (kernels/cpu/lut8.c): |fast − ref| <= TOL_Q8 · Σ_k |Δ_nk| m_b(k), m_b(k) the
 * largest |x_b| of column k's block of KN_Q8_BLOCK (256) columns (kt_bound_q8): rounding x (or a
 * 1-bit table entry, a sum of 4) to 127 levels of its block errs by half a level per weight;
 * 1e-5 covers the f32 rounding and the fp16 rounding of the bound's |Δ|. */
#define TOL_Q8 (1.0 / 254 + 1e-5)
#define KT_Q8_BLOCK 256

typedef struct {
    kn_deltas dl;
    const void *ptr[KN_MAX_PARTS][64]; /* part tables (host pointers) */
    void *mem[KN_MAX_PARTS][64];       /* owned host buffers (ptr = mem + misalignment) */
    size_t bytes[KN_MAX_PARTS][64];
    int64_t nnz[64];
} kt_set;

static inline void *kt_buf(kt_set *s, int j, int d, size_t bytes, int misalign)
{
    s->mem[j][d] = calloc(1, bytes + 64);
    s->bytes[j][d] = bytes;
    s->ptr[j][d] = (char *)s->mem[j][d] + (misalign ? 4 : 0);
    return (void *)s->ptr[j][d];
}

/* D random deltas of format fmt, shape [N, K]. For NMQ: bits, n, m; lowrank: rank; dense16:
 * dt (F16/BF16); CSR: dt (U16/U32) and density 0.3. */
static inline void kt_make(kt_set *s, kn_fmt fmt, int64_t N, int64_t K, int D, int bits, int nn,
                           int m, int64_t rank, db_dtype dt, int misalign, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    db_rng r;
    rng_stream(&r, seed, (uint64_t)(N * 7919 + K * 31 + fmt));
    s->dl = (kn_deltas){.fmt = fmt, .N = N, .K = K, .bits = bits, .nm_n = nn, .nm_m = m,
                        .rank = rank, .dtype = dt, .D = D};
    for (int d = 0; d < D; d++) {
        switch (fmt) {
        case KN_FMT_DENSE16: {
            uint16_t *w = kt_buf(s, 0, d, (size_t)(N * K) * 2, misalign);
            for (int64_t i = 0; i < N * K; i++) {
                float v = (float)(0.02 * rng_normal(&r));
                w[i] = dt == DT_BF16 ? f32_to_bf16(v) : f32_to_f16(v);
            }
            break;
        }
        case KN_FMT_BITDELTA: {
            const int64_t W = dc_fmt_words(K, 1);
            uint32_t *sg = kt_buf(s, 0, d, (size_t)(N * W) * 4, misalign);
            for (int64_t n = 0; n < N; n++)
                for (int64_t k = 0; k < K; k++)
                    if (rng_below(&r, 2))
                        dc_fmt_put(sg + n * W, k, 1, 1);
            float *a = kt_buf(s, 1, d, 4, misalign);
            *a = (float)(1e-3 * (1.0 + rng_f64(&r)));
            break;
        }
        case KN_FMT_NMQ: {
            const int ib = dc_fmt_idx_bits(m), z = 1 << (bits - 1);
            const int64_t ng = (K + m - 1) / m, S = ng * nn;
            const int64_t Wc = dc_fmt_words(S, bits), Wi = dc_fmt_words(S, ib);
            uint32_t *cw = kt_buf(s, 0, d, (size_t)(N * Wc) * 4, misalign);
            uint32_t *iw = kt_buf(s, 1, d, (size_t)(N * Wi) * 4, misalign);
            uint16_t *sc = kt_buf(s, 2, d, (size_t)N * 2, misalign);
            for (int64_t n = 0; n < N; n++) {
                sc[n] = f32_to_f16((float)(1e-3 * (0.5 + rng_f64(&r))));
                for (int64_t gr = 0; gr < ng; gr++) {
                    const int t = (int)(K - gr * m < m ? K - gr * m : m), keep = t < nn ? t : nn;
                    int used[DC_MAX_NM_M] = {0}, got = 0;
                    while (got < keep) {
                        int c = (int)rng_below(&r, (uint64_t)t);
                        if (!used[c])
                            used[c] = 1, got++;
                    }
                    int slot = 0;
                    for (int c = 0; c < t; c++)
                        if (used[c]) {
                            int64_t j = gr * nn + slot++;
                            dc_fmt_put(iw + n * Wi, j, ib, (uint32_t)c);
                            dc_fmt_put(cw + n * Wc, j, bits, (uint32_t)rng_below(&r, 1u << bits));
                        }
                    for (; slot < nn; slot++) /* padding: index 0, code zero */
                        dc_fmt_put(cw + n * Wc, gr * nn + slot, bits, (uint32_t)z);
                }
            }
            break;
        }
        case KN_FMT_CSR: {
            uint32_t *rp = kt_buf(s, 0, d, (size_t)(N + 1) * 4, misalign);
            int64_t nnz = 0;
            for (int64_t n = 0; n < N; n++) {
                rp[n] = (uint32_t)nnz;
                for (int64_t k = 0; k < K; k++)
                    nnz += rng_f64(&r) < 0.3;
            }
            rp[N] = (uint32_t)nnz;
            s->nnz[d] = nnz;
            const size_t cb = dt == DT_U16 ? 2 : 4;
            void *cols = kt_buf(s, 1, d, (size_t)nnz * cb + 4, misalign);
            uint16_t *val = kt_buf(s, 2, d, (size_t)nnz * 2 + 2, misalign);
            int64_t o = 0;
            for (int64_t n = 0; n < N; n++) { /* regenerate the same pattern: re-draw per row */
                int64_t cnt = rp[n + 1] - rp[n], left = K;
                for (int64_t k = 0; k < K && cnt > 0; k++, left--)
                    if ((int64_t)rng_below(&r, (uint64_t)left) < cnt) {
                        if (cb == 2)
                            ((uint16_t *)cols)[o] = (uint16_t)k;
                        else
                            ((uint32_t *)cols)[o] = (uint32_t)k;
                        val[o++] = f32_to_f16((float)(1e-3 * rng_normal(&r)));
                        cnt--;
                    }
            }
            break;
        }
        case KN_FMT_LOWRANK: {
            uint16_t *A = kt_buf(s, 0, d, (size_t)(N * rank) * 2, misalign);
            uint16_t *Bm = kt_buf(s, 1, d, (size_t)(rank * K) * 2, misalign);
            for (int64_t i = 0; i < N * rank; i++)
                A[i] = f32_to_f16((float)(0.05 * rng_normal(&r)));
            for (int64_t i = 0; i < rank * K; i++)
                Bm[i] = f32_to_f16((float)(0.05 * rng_normal(&r)));
            break;
        }
        default:
            break;
        }
    }
    for (int j = 0; j < KN_MAX_PARTS; j++)
        s->dl.part[j] = s->ptr[j][0] ? s->ptr[j] : NULL;
    s->dl.nnz = s->nnz;
}

static inline void kt_free(kt_set *s)
{
    for (int j = 0; j < KN_MAX_PARTS; j++)
        for (int d = 0; d < 64; d++)
            free(s->mem[j][d]);
    memset(s, 0, sizeof *s);
}

/* Per-element error bound scale: Σ_k |Δ_nk x_bk| for the rows' deltas (low rank: through the
 * factors, Σ_q |A_nq| Σ_k |B_qk x_bk|). bound [B, N]; rows with delta -1 get 0. */
static inline void kt_bound(const kt_set *s, int64_t B, const int32_t *rd, const float *x,
                            double *bound)
{
    const kn_deltas *dl = &s->dl;
    const int64_t N = dl->N, K = dl->K;
    uint16_t *w = malloc((size_t)(N * K) * 2);
    memset(bound, 0, sizeof(double) * (size_t)(B * N));
    for (int d = 0; d < dl->D; d++) {
        int used = 0;
        for (int64_t b = 0; b < B; b++)
            used |= rd[b] == d;
        if (!used)
            continue;
        if (dl->fmt == KN_FMT_LOWRANK) {
            const uint16_t *A = dl->part[0][d], *Bm = dl->part[1][d];
            for (int64_t b = 0; b < B; b++) {
                if (rd[b] != d)
                    continue;
                for (int64_t q = 0; q < dl->rank; q++) {
                    double t = 0;
                    for (int64_t k = 0; k < K; k++)
                        t += fabs((double)f16_to_f32(Bm[q * K + k]) * x[b * K + k]);
                    for (int64_t n = 0; n < N; n++)
                        bound[b * N + n] += fabs((double)f16_to_f32(A[n * dl->rank + q])) * t;
                }
            }
            continue;
        }
        kn_ctx *c;
        kn_ctx_init(&c, KN_CPU, KN_IMPL_REF);
        kn_dequant16(c, dl, d, w);
        kn_ctx_free(c);
        if (dl->fmt == KN_FMT_BITDELTA) { /* exact |Δ| = a (fp16 rounding of a is not the op) */
            float a = *(const float *)dl->part[1][d];
            for (int64_t i = 0; i < N * K; i++)
                w[i] = f32_to_f16(a);
        }
        for (int64_t b = 0; b < B; b++) {
            if (rd[b] != d)
                continue;
            for (int64_t n = 0; n < N; n++) {
                double t = 0;
                for (int64_t k = 0; k < K; k++) {
                    float v = dl->fmt == KN_FMT_DENSE16 && dl->dtype == DT_BF16
                                  ? bf16_to_f32(w[n * K + k])
                                  : f16_to_f32(w[n * K + k]);
                    t += fabs((double)v * x[b * K + k]);
                }
                bound[b * N + n] = t;
            }
        }
    }
    free(w);
}

/* The int8 kernels' bound scale (TOL_Q8): Σ_k |Δ_nk| m_b(k) for 1-bit and n:m deltas. */
static inline void kt_bound_q8(const kt_set *s, int64_t B, const int32_t *rd, const float *x,
                               double *bound)
{
    const kn_deltas *dl = &s->dl;
    const int64_t N = dl->N, K = dl->K;
    uint16_t *w = malloc((size_t)(N * K) * 2);
    float *m = malloc(sizeof(float) * (size_t)K);
    memset(bound, 0, sizeof(double) * (size_t)(B * N));
    kn_ctx *c;
    kn_ctx_init(&c, KN_CPU, KN_IMPL_REF);
    for (int d = 0; d < dl->D; d++) {
        int used = 0;
        for (int64_t b = 0; b < B; b++)
            used |= rd[b] == d;
        if (!used)
            continue;
        kn_dequant16(c, dl, d, w);
        const float a = dl->fmt == KN_FMT_BITDELTA ? *(const float *)dl->part[1][d] : 0.0f;
        for (int64_t b = 0; b < B; b++) {
            if (rd[b] != d)
                continue;
            for (int64_t k0 = 0; k0 < K; k0 += KT_Q8_BLOCK) {
                const int64_t k1 = k0 + KT_Q8_BLOCK < K ? k0 + KT_Q8_BLOCK : K;
                float mx = 0.0f;
                for (int64_t k = k0; k < k1; k++)
                    mx = fabsf(x[b * K + k]) > mx ? fabsf(x[b * K + k]) : mx;
                for (int64_t k = k0; k < k1; k++)
                    m[k] = mx;
            }
            for (int64_t n = 0; n < N; n++) {
                double t = 0;
                for (int64_t k = 0; k < K; k++)
                    t += (dl->fmt == KN_FMT_BITDELTA ? a : fabs((double)f16_to_f32(w[n * K + k]))) *
                         (double)m[k];
                bound[b * N + n] = t;
            }
        }
    }
    kn_ctx_free(c);
    free(w), free(m);
}

/* Index of the first element outside the tolerance or non-finite, or -1. */
static inline int64_t kt_compare(const float *got, const float *want, const double *bound,
                                 const float *base, int64_t n, double tol)
{
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i]))
            return i;
        double lim = tol * (bound[i] + (base ? fabs((double)base[i]) : 0.0)) + 1e-30;
        if (fabs((double)got[i] - (double)want[i]) > lim)
            return i;
    }
    return -1;
}

#endif
