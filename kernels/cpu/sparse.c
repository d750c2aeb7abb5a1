/* sparse.c: fast CPU CSR delta SpMM (DARE / unstructured magnitude pruning / DeltaDQ once its
 * positions are expanded), low-rank delta (two skinny GEMMs) and the dequantise-to-fp16 step of
 * the "dequantise then dense" baselines.
 *
 * CSR: rows grouped by delta, each stored row read once for up to 4 request rows (the gather of
 * x is what bounds it; x stays in L1/L2). Low rank: t = B x (r values per row) then y (+)= A t,
 * both as fp16-weight dot products (kn_dot16: F16C). Dequantisation writes fp16 directly (sign
 * and code tables of fp16 values per row), so no f32 -> f16 conversion in the inner loop. */
#include <string.h>

#include "core/half.h"
#include "kernels/kn_internal.h"

#define ROW_BLOCK 32

void kn_fast_csr(const kn_deltas *dl, const kn_groups *g, const float *x, float *y, bool acc)
{
    const int64_t N = dl->N, K = dl->K;
    const int64_t nb = (N + ROW_BLOCK - 1) / ROW_BLOCK, items = g->G * nb;
    const int u16 = dl->dtype == DT_U16;
#pragma omp parallel for schedule(dynamic, 4) if (items > 8)
    for (int64_t it = 0; it < items; it++) {
        const int64_t gi = it / nb, n0 = it % nb * ROW_BLOCK;
        const int64_t n1 = n0 + ROW_BLOCK < N ? n0 + ROW_BLOCK : N;
        const int d = g->gdelta[gi];
        const uint32_t *rp = dl->part[0][d];
        const uint16_t *c16 = dl->part[1][d];
        const uint32_t *c32 = dl->part[1][d];
        const uint16_t *val = dl->part[2][d];
        for (int32_t i = g->start[gi]; i < g->start[gi + 1]; i += 4) {
            const int R = g->start[gi + 1] - i < 4 ? g->start[gi + 1] - i : 4;
            const float *xr[4];
            for (int r = 0; r < R; r++)
                xr[r] = x + (int64_t)g->perm[i + r] * K;
            for (int64_t n = n0; n < n1; n++) {
                float s[4] = {0, 0, 0, 0};
                for (int64_t j = rp[n]; j < (int64_t)rp[n + 1]; j++) {
                    const float v = f16_to_f32(val[j]);
                    const int64_t col = u16 ? c16[j] : c32[j];
                    for (int r = 0; r < R; r++)
                        s[r] += v * xr[r][col];
                }
                for (int r = 0; r < R; r++) {
                    float *yo = y + (int64_t)g->perm[i + r] * N + n;
                    *yo = acc ? *yo + s[r] : s[r];
                }
            }
        }
    }
}

void kn_fast_lowrank(const kn_deltas *dl, const kn_groups *g, const float *x, float *y, bool acc,
                     int simd, float *tmp)
{
    const int64_t N = dl->N, K = dl->K, r = dl->rank, rows = g->start[g->G];
    /* t[i, q] = B_q · x[perm[i]] for every grouped row i */
#pragma omp parallel for schedule(static) if (rows * r * K > 65536)
    for (int64_t iq = 0; iq < rows * r; iq++) {
        const int64_t i = iq / r, q = iq % r;
        int64_t gi = 0;
        while (g->start[gi + 1] <= i)
            gi++;
        const uint16_t *Bm = dl->part[1][g->gdelta[gi]];
        tmp[iq] = kn_dot16(Bm + q * K, x + (int64_t)g->perm[i] * K, K, 0, simd);
    }
    const int64_t nb = (N + ROW_BLOCK - 1) / ROW_BLOCK, items = g->G * nb;
#pragma omp parallel for schedule(static) if (rows * r * N > 65536)
    for (int64_t it = 0; it < items; it++) {
        const int64_t gi = it / nb, n0 = it % nb * ROW_BLOCK;
        const int64_t n1 = n0 + ROW_BLOCK < N ? n0 + ROW_BLOCK : N;
        const uint16_t *A = dl->part[0][g->gdelta[gi]];
        for (int32_t i = g->start[gi]; i < g->start[gi + 1]; i++) {
            float *yb = y + (int64_t)g->perm[i] * N;
            for (int64_t n = n0; n < n1; n++) {
                const float v = kn_dot16(A + n * r, tmp + (int64_t)i * r, r, 0, simd);
                yb[n] = acc ? yb[n] + v : v;
            }
        }
    }
}

void kn_fast_dequant16(const kn_deltas *dl, int d, uint16_t *out)
{
    const int64_t N = dl->N, K = dl->K;
    switch (dl->fmt) {
    case KN_FMT_DENSE16:
        memcpy(out, dl->part[0][d], (size_t)(N * K) * 2);
        return;
    case KN_FMT_BITDELTA: {
        const uint32_t *signs = dl->part[0][d];
        const float a = *(const float *)dl->part[1][d];
        const uint16_t pm[2] = {f32_to_f16(-a), f32_to_f16(a)};
#pragma omp parallel for schedule(static)
        for (int64_t n = 0; n < N; n++) {
            int64_t st;
            const uint32_t *row = kn_sign_row(dl, signs, n, &st);
            for (int64_t k = 0; k < K; k++)
                out[n * K + k] = pm[row[(k >> 5) * st] >> (k & 31) & 1u];
        }
        return;
    }
    case KN_FMT_NMQ: {
        const int64_t m = dl->nm_m, nn = dl->nm_n;
        const int bits = dl->bits, ib = dc_fmt_idx_bits(dl->nm_m), z = 1 << (bits - 1);
        const int64_t S = (K + m - 1) / m * nn, Wc = dc_fmt_words(S, bits), Wi = dc_fmt_words(S, ib);
        const uint32_t *codes = dl->part[0][d], *idx = dl->part[1][d];
        const uint16_t *scale = dl->part[2][d];
#pragma omp parallel for schedule(static)
        for (int64_t n = 0; n < N; n++) {
            uint16_t tab[1 << DC_MAX_BITS]; /* fp16 of s (q − z) for every code */
            const float s = f16_to_f32(scale[n]);
            for (int q = 0; q < 1 << bits; q++)
                tab[q] = f32_to_f16(s * (float)(q - z));
            uint16_t *o = out + n * K;
            memset(o, 0, (size_t)K * 2);
            for (int64_t j = 0; j < S; j++) {
                const int64_t col = j / nn * m + dc_fmt_get(idx + n * Wi, j, ib);
                const uint32_t q = dc_fmt_get(codes + n * Wc, j, bits);
                if (col < K && (int)q != z)
                    o[col] = tab[q];
            }
        }
        return;
    }
    case KN_FMT_CSR: {
        const uint32_t *rp = dl->part[0][d];
        const uint16_t *c16 = dl->part[1][d], *val = dl->part[2][d];
        const uint32_t *c32 = dl->part[1][d];
        const int u16 = dl->dtype == DT_U16;
#pragma omp parallel for schedule(static)
        for (int64_t n = 0; n < N; n++) {
            uint16_t *o = out + n * K;
            memset(o, 0, (size_t)K * 2);
            for (int64_t j = rp[n]; j < (int64_t)rp[n + 1]; j++)
                o[u16 ? c16[j] : c32[j]] = val[j];
        }
        return;
    }
    case KN_FMT_LOWRANK: {
        const uint16_t *A = dl->part[0][d], *Bm = dl->part[1][d];
        const int64_t r = dl->rank;
#pragma omp parallel for schedule(static)
        for (int64_t n = 0; n < N; n++) {
            float row[256];
            for (int64_t k0 = 0; k0 < K; k0 += 256) {
                const int64_t kc = K - k0 < 256 ? K - k0 : 256;
                memset(row, 0, sizeof row);
                for (int64_t q = 0; q < r; q++) {
                    const float a = f16_to_f32(A[n * r + q]);
                    for (int64_t k = 0; k < kc; k++)
                        row[k] += a * f16_to_f32(Bm[q * K + k0 + k]);
                }
                f32_to_f16_array(row, out + n * K + k0, (size_t)kc);
            }
        }
        return;
    }
    default:
        return;
    }
}
