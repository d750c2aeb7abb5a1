/* ops_ref.c: the scalar `_ref` oracles of every kn_ op.
 *
 * Plain loops, double accumulation, every packed field read with dc_fmt_get, so they follow
 * kernels/formats.h literally; the fast CPU and CUDA variants are tested against these, and
 * these against the compressors' dc_apply_ref on real encoded deltas. Never optimised. */
#include <string.h>

#include "core/half.h"
#include "kernels/kn_internal.h"

static inline float w16(const uint16_t *w, int64_t i, db_dtype dt)
{
    return dt == DT_BF16 ? bf16_to_f32(w[i]) : f16_to_f32(w[i]);
}

static inline void put(float *y, float v, bool acc)
{
    if (acc)
        *y += v;
    else
        *y = v;
}

void kn_ref_dense(const kn_deltas *dl, const kn_groups *g, const float *x, float *y, bool acc,
                  kn_cpu_scratch *ws)
{
    (void)ws;
    const int64_t N = dl->N, K = dl->K;
    for (int64_t gi = 0; gi < g->G; gi++) {
        const uint16_t *W = dl->part[0][g->gdelta[gi]];
        for (int32_t i = g->start[gi]; i < g->start[gi + 1]; i++) {
            const int64_t b = g->perm[i];
            for (int64_t n = 0; n < N; n++) {
                double s = 0.0;
                for (int64_t k = 0; k < K; k++)
                    s += (double)w16(W, n * K + k, dl->dtype) * x[b * K + k];
                put(&y[b * N + n], (float)s, acc);
            }
        }
    }
}

void kn_ref_bitdelta(const kn_deltas *dl, const kn_groups *g, const float *x, float *y, bool acc,
                     kn_cpu_scratch *ws)
{
    (void)ws;
    const int64_t N = dl->N, K = dl->K;
    for (int64_t gi = 0; gi < g->G; gi++) {
        const uint32_t *signs = dl->part[0][g->gdelta[gi]];
        const float a = *(const float *)dl->part[1][g->gdelta[gi]];
        for (int32_t i = g->start[gi]; i < g->start[gi + 1]; i++) {
            const int64_t b = g->perm[i];
            for (int64_t n = 0; n < N; n++) {
                int64_t st;
                const uint32_t *row = kn_sign_row(dl, signs, n, &st);
                double s = 0.0; /* Σ ±x, then one scale multiply (as BitDelta's kernel) */
                for (int64_t k = 0; k < K; k++)
                    s += row[(k >> 5) * st] >> (k & 31) & 1u ? x[b * K + k] : -x[b * K + k];
                put(&y[b * N + n], (float)((double)a * s), acc);
            }
        }
    }
}

void kn_ref_nmq(const kn_deltas *dl, const kn_groups *g, const float *x, float *y, bool acc,
                kn_cpu_scratch *ws)
{
    (void)ws;
    const int64_t N = dl->N, K = dl->K, m = dl->nm_m, nn = dl->nm_n;
    const int bits = dl->bits, ib = dc_fmt_idx_bits(dl->nm_m), z = 1 << (bits - 1);
    const int64_t S = (K + m - 1) / m * nn, Wc = dc_fmt_words(S, bits), Wi = dc_fmt_words(S, ib);
    for (int64_t gi = 0; gi < g->G; gi++) {
        const int d = g->gdelta[gi];
        const uint32_t *codes = dl->part[0][d], *idx = dl->part[1][d];
        const uint16_t *scale = dl->part[2][d];
        for (int32_t i = g->start[gi]; i < g->start[gi + 1]; i++) {
            const int64_t b = g->perm[i];
            for (int64_t n = 0; n < N; n++) {
                double s = 0.0;
                for (int64_t j = 0; j < S; j++) {
                    int64_t col = j / nn * m + dc_fmt_get(idx + n * Wi, j, ib);
                    if (col < K)
                        s += (double)((int)dc_fmt_get(codes + n * Wc, j, bits) - z) * x[b * K + col];
                }
                put(&y[b * N + n], (float)((double)f16_to_f32(scale[n]) * s), acc);
            }
        }
    }
}

static inline int64_t csr_col(const void *cols, int64_t j, db_dtype dt)
{
    return dt == DT_U16 ? ((const uint16_t *)cols)[j] : ((const uint32_t *)cols)[j];
}

void kn_ref_csr(const kn_deltas *dl, const kn_groups *g, const float *x, float *y, bool acc,
                kn_cpu_scratch *ws)
{
    (void)ws;
    const int64_t N = dl->N, K = dl->K;
    for (int64_t gi = 0; gi < g->G; gi++) {
        const int d = g->gdelta[gi];
        const uint32_t *rp = dl->part[0][d];
        const void *cols = dl->part[1][d];
        const uint16_t *val = dl->part[2][d];
        for (int32_t i = g->start[gi]; i < g->start[gi + 1]; i++) {
            const int64_t b = g->perm[i];
            for (int64_t n = 0; n < N; n++) {
                double s = 0.0;
                for (int64_t j = rp[n]; j < (int64_t)rp[n + 1]; j++)
                    s += (double)f16_to_f32(val[j]) * x[b * K + csr_col(cols, j, dl->dtype)];
                put(&y[b * N + n], (float)s, acc);
            }
        }
    }
}

void kn_ref_lowrank(const kn_deltas *dl, const kn_groups *g, const float *x, float *y, bool acc,
                    kn_cpu_scratch *ws)
{
    (void)ws;
    const int64_t N = dl->N, K = dl->K, r = dl->rank;
    for (int64_t gi = 0; gi < g->G; gi++) {
        const int d = g->gdelta[gi];
        const uint16_t *A = dl->part[0][d], *Bm = dl->part[1][d];
        for (int32_t i = g->start[gi]; i < g->start[gi + 1]; i++) {
            const int64_t b = g->perm[i];
            for (int64_t n = 0; n < N; n++) {
                double s = 0.0; /* Σ_i A[n,i] (B x)_i with (B x) recomputed: slow and plain */
                for (int64_t q = 0; q < r; q++) {
                    double t = 0.0;
                    for (int64_t k = 0; k < K; k++)
                        t += (double)f16_to_f32(Bm[q * K + k]) * x[b * K + k];
                    s += (double)f16_to_f32(A[n * r + q]) * t;
                }
                put(&y[b * N + n], (float)s, acc);
            }
        }
    }
}

void kn_ref_dequant16(const kn_deltas *dl, int d, uint16_t *out)
{
    const int64_t N = dl->N, K = dl->K;
    switch (dl->fmt) {
    case KN_FMT_DENSE16:
        memcpy(out, dl->part[0][d], (size_t)(N * K) * 2);
        break;
    case KN_FMT_BITDELTA: {
        const uint32_t *signs = dl->part[0][d];
        const float a = *(const float *)dl->part[1][d];
        const uint16_t pos = f32_to_f16(a), neg = f32_to_f16(-a);
        for (int64_t n = 0; n < N; n++) {
            int64_t st;
            const uint32_t *row = kn_sign_row(dl, signs, n, &st);
            for (int64_t k = 0; k < K; k++)
                out[n * K + k] = row[(k >> 5) * st] >> (k & 31) & 1u ? pos : neg;
        }
        break;
    }
    case KN_FMT_NMQ: {
        const int64_t m = dl->nm_m, nn = dl->nm_n;
        const int bits = dl->bits, ib = dc_fmt_idx_bits(dl->nm_m), z = 1 << (bits - 1);
        const int64_t S = (K + m - 1) / m * nn, Wc = dc_fmt_words(S, bits), Wi = dc_fmt_words(S, ib);
        const uint32_t *codes = dl->part[0][d], *idx = dl->part[1][d];
        const uint16_t *scale = dl->part[2][d];
        memset(out, 0, (size_t)(N * K) * 2);
        for (int64_t n = 0; n < N; n++) {
            const float s = f16_to_f32(scale[n]);
            for (int64_t j = 0; j < S; j++) {
                int64_t col = j / nn * m + dc_fmt_get(idx + n * Wi, j, ib);
                int q = (int)dc_fmt_get(codes + n * Wc, j, bits) - z;
                if (col < K && q != 0)
                    out[n * K + col] = f32_to_f16(s * (float)q);
            }
        }
        break;
    }
    case KN_FMT_CSR: {
        const uint32_t *rp = dl->part[0][d];
        const uint16_t *val = dl->part[2][d];
        memset(out, 0, (size_t)(N * K) * 2);
        for (int64_t n = 0; n < N; n++)
            for (int64_t j = rp[n]; j < (int64_t)rp[n + 1]; j++)
                out[n * K + csr_col(dl->part[1][d], j, dl->dtype)] = val[j];
        break;
    }
    case KN_FMT_LOWRANK: {
        const uint16_t *A = dl->part[0][d], *Bm = dl->part[1][d];
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < K; k++) {
                double s = 0.0;
                for (int64_t q = 0; q < dl->rank; q++)
                    s += (double)f16_to_f32(A[n * dl->rank + q]) * f16_to_f32(Bm[q * K + k]);
                out[n * K + k] = f32_to_f16((float)s);
            }
        break;
    }
    default:
        break;
    }
}
