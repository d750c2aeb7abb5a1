/* m_deltazip.c: DeltaZip's ΔCompress for one linear layer (Yao et al., arXiv 2312.05215; code:
 * eth-easl/deltazip, deltazip/core/sparsegpt.py fasterprune + core/quant.py): joint OBS n:m
 * pruning and GPTQ quantisation of the delta with the layer's Hessian H = 2/n XᵀX.
 *
 *  1. Quantiser: symmetric per output row from the whole delta row (find_params before any
 *     pruning): scale = 2 max|Δ_r| / (2^bits - 1), zero = 2^(bits-1) (GPTQ's (maxq + 1) / 2).
 *  2. Dead columns (diag H = 0): H_dd = 1, Δ[:, d] = 0. Damping: 1 % of mean diag H.
 *  3. U = chol(H⁻¹) upper (torch: cholesky, cholesky_inverse, cholesky upper), here by one
 *     LAPACK spotrf of the index-reversed H and one strtri (the same factor, half the flops).
 *  4. Blocks of 128 columns (a multiple of m): at the first column of each group of m, prune the
 *     m - n columns with the smallest w² / U_cc² (SparseGPT's topk(largest=False)); every column
 *     in turn is pruned (q = 0) or quantised, err = (w - q) / U_ii, and the rest of the block
 *     is updated, w -= err U_i,·; after the block the remaining columns get the BLAS-3 update
 *     W[:, i2:] -= E U[i1:i2, i2:] (cblas_sgemm). Rows are independent within a block, so each
 *     row runs its block in cache (OpenMP over rows).
 *  5. H = NULL means H = I: U = I, no error propagation, i.e. plain RTN + magnitude n:m.
 *  6. bits = 16 is pruning alone (SparseGPT's OBS n:m with fp16 values, the pipeline's "after
 *     pruning" stage): each kept weight is stored as its fp16 value, no row scale, and the fp16
 *     rounding error is propagated like a quantisation error.
 * The lossless stage (zstd/DEFLATE) is the container's, applied to every stored part. */
#include <cblas.h>
#include <string.h>

#include "compressors/internal.h"
#include "compressors/lapack.h"
#include "core/alloc.h"

/* bits = DZ_FP16: pruning only, kept values stored as fp16 (no quantisation, no scale). */
#define DZ_FP16 16

static void dz_defaults(dc_params *p)
{
    p->bits = 4;
    p->nm_n = 2;
    p->nm_m = 4;
    p->blocksize = 128;
    p->damp = 0.01;
    p->lossless = DC_LOSSLESS_ZSTD;
}

static db_status dz_check(const dc_params *p)
{
    if ((p->bits < 2 || p->bits > DC_MAX_BITS) && p->bits != DZ_FP16)
        return db_error(DB_ERR_ARG, "deltazip: bits %d out of range [2, %d] (or %d: pruning only)",
                        p->bits, DC_MAX_BITS, DZ_FP16);
    if (p->nm_n < 1 || p->nm_m < 1 || p->nm_m > DC_MAX_NM_M)
        return db_error(DB_ERR_ARG, "deltazip: n:m %d:%d needs 1 <= n, 1 <= m <= %d", p->nm_n,
                        p->nm_m, DC_MAX_NM_M);
    if (p->nm_n > p->nm_m)
        return db_error(DB_ERR_ARG, "deltazip: n:m %d:%d keeps more than m (n > m)", p->nm_n,
                        p->nm_m);
    if (p->blocksize < p->nm_m || p->blocksize > 4096)
        return db_error(DB_ERR_ARG, "deltazip: blocksize %d not in [m, 4096]", p->blocksize);
    if (!(p->damp > 0.0 && p->damp < 1.0))
        return db_error(DB_ERR_ARG, "deltazip: damping %g is not in (0, 1)", p->damp);
    return DB_OK;
}

static int64_t dz_slots(const dc_params *p, int64_t K)
{
    return (K + p->nm_m - 1) / p->nm_m * p->nm_n;
}

static int dz_layout(const dc_params *p, int64_t N, int64_t K, dc_part *parts)
{
    int64_t slots = dz_slots(p, K);
    dc_layout_set(&parts[0], "codes", DT_U32, 2, N, dc_fmt_words(slots, p->bits));
    dc_layout_set(&parts[1], "idx", DT_U32, 2, N, dc_fmt_words(slots, dc_fmt_idx_bits(p->nm_m)));
    if (p->bits == DZ_FP16)
        return 2;
    dc_layout_set(&parts[2], "scale", DT_F16, 1, N, 0);
    return 3;
}

static void reverse(float *a, size_t n)
{
    for (size_t i = 0, j = n - 1; i < j; i++, j--) {
        float t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* U = upper Cholesky factor of H⁻¹ (row-major, H⁻¹ = UᵀU), in place in h [K, K], with one
 * Cholesky and one triangular inverse instead of torch's cholesky, cholesky_inverse, cholesky
 * (half the flops, same factor): with J the index reversal, JHJ = L'L'ᵀ gives
 * H⁻¹ = (J L'⁻¹ J)ᵀ (J L'⁻¹ J) and J L'⁻¹ J is upper triangular with a positive diagonal, so it
 * is U. Reversing a flat K x K array is J·J; LAPACK's column-major result is transposed back. */
static db_status hinv_chol(float *h, int K)
{
    int info = 0;
    size_t n = (size_t)K * (size_t)K;
    reverse(h, n);
    spotrf_("L", &K, h, &K, &info, 1);
    if (info)
        return db_error(DB_ERR_NUMERIC, "deltazip: Hessian is not positive definite (spotrf %d)",
                        info);
    strtri_("L", "N", &K, h, &K, &info, 1, 1);
    if (info)
        return db_error(DB_ERR_NUMERIC, "deltazip: Hessian is singular (strtri %d)", info);
    reverse(h, n);
    /* column-major upper M = U; row-major h holds Uᵀ in its lower triangle: transpose */
    for (int64_t i = 0; i < K; i++)
        for (int64_t j = 0; j < i; j++) {
            h[j * K + i] = h[i * K + j];
            h[i * K + j] = 0.0f;
        }
    return DB_OK;
}

static db_status dz_encode(const dc_src *src, const dc_params *p, const float *H, dc_packed *out)
{
    const int64_t N = src->N, K = src->K;
    const int bits = p->bits, maxq = (1 << bits) - 1, z = 1 << (bits - 1);
    const bool fp16 = bits == DZ_FP16;
    const int m = p->nm_m, nn = p->nm_n, ib = dc_fmt_idx_bits(m);
    const int64_t bs = (int64_t)(p->blocksize / m * m), slots = dz_slots(p, K);
    const int64_t Wc = dc_fmt_words(slots, bits), Wi = dc_fmt_words(slots, ib);
    uint32_t *codes, *idx;
    uint16_t *scale = NULL;
    float *W = NULL, *U = NULL, *E = NULL, *sc = NULL;
    db_status s = dc_part_add(out, "codes", DT_U32, 2, N, Wc, (void **)&codes);
    if (!s)
        s = dc_part_add(out, "idx", DT_U32, 2, N, Wi, (void **)&idx);
    if (!s && !fp16)
        s = dc_part_add(out, "scale", DT_F16, 1, N, 0, (void **)&scale);
    if (s)
        return s;
    W = db_malloc_array((size_t)N * (size_t)K, sizeof *W);
    E = db_malloc_array((size_t)N * (size_t)bs, sizeof *E);
    sc = db_malloc_array((size_t)N, sizeof *sc);
    if (H)
        U = db_malloc_array((size_t)K * (size_t)K, sizeof *U);
    if (!W || !E || !sc || (H && !U)) {
        s = db_error(DB_ERR_NOMEM, "deltazip: out of memory for %s", src->name);
        goto done;
    }
    s = dc_src_delta(src, W);
    if (s)
        goto done;
    /* 1. per-row symmetric scales from the full delta (none when pruning only) */
    for (int64_t r = 0; r < N && !fp16; r++) {
        float amax = 0.0f;
        for (int64_t k = 0; k < K; k++)
            amax = fabsf(W[r * K + k]) > amax ? fabsf(W[r * K + k]) : amax;
        scale[r] = dc_scale_f16_up(dc_sym_scale(amax, bits));
        sc[r] = f16_to_f32(scale[r]);
    }
    /* 2-3. dead columns, damping, U = chol(H⁻¹) */
    if (H) {
        memcpy(U, H, sizeof *U * (size_t)K * (size_t)K);
        double mean = 0.0;
        for (int64_t k = 0; k < K; k++) {
            if (!isfinite(U[k * K + k])) {
                s = db_error(DB_ERR_NUMERIC, "deltazip: Hessian of %s is not finite", src->name);
                goto done;
            }
            if (U[k * K + k] == 0.0f) {
                U[k * K + k] = 1.0f;
                for (int64_t r = 0; r < N; r++)
                    W[r * K + k] = 0.0f;
            }
            mean += U[k * K + k];
        }
        float damp = (float)(p->damp * mean / (double)K);
        for (int64_t k = 0; k < K; k++)
            U[k * K + k] += damp;
        s = hinv_chol(U, (int)K);
        if (s)
            goto done;
    }
    /* 4. blocks */
    for (int64_t i1 = 0; i1 < K; i1 += bs) {
        const int64_t i2 = i1 + bs < K ? i1 + bs : K, cnt = i2 - i1;
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < N; r++) {
            float *w = W + r * K + i1, *e = E + r * bs;
            uint32_t *crow = codes + r * Wc, *irow = idx + r * Wi;
            int slot_of[DC_MAX_NM_M] = {0}; /* -1: pruned, else the slot in the group */
            const float s_r = fp16 ? 1.0f : sc[r];
            for (int64_t i = 0; i < cnt; i++) {
                const int64_t col = i1 + i;
                if (col % m == 0) {
                    /* choose the kept columns of this group by w² / U_cc² (U = I: w²) */
                    const int64_t g = col / m, t = K - col < m ? K - col : m;
                    const int keep = t < nn ? (int)t : nn;
                    float score[DC_MAX_NM_M];
                    int kept[DC_MAX_NM_M] = {0};
                    for (int c = 0; c < t; c++) {
                        float dcc = U ? U[(col + c) * K + col + c] : 1.0f;
                        score[c] = w[i + c] * w[i + c] / (dcc * dcc);
                    }
                    for (int j = 0; j < keep; j++) { /* largest first; ties keep the lower index */
                        int best = -1;
                        for (int c = 0; c < t; c++)
                            if (!kept[c] && (best < 0 || score[c] > score[best]))
                                best = c;
                        kept[best] = 1;
                    }
                    int o = 0;
                    for (int c = 0; c < t; c++)
                        slot_of[c] = kept[c] ? o++ : -1;
                    for (int j = keep; j < nn && !fp16; j++) /* padding: index 0, code zero */
                        dc_fmt_put(crow, g * nn + j, bits, (uint32_t)z);
                    for (int c = 0; c < t; c++)
                        if (slot_of[c] >= 0)
                            dc_fmt_put(irow, g * nn + slot_of[c], ib, (uint32_t)c);
                }
                const int c = (int)(col % m);
                float q = 0.0f; /* pruned columns become exactly 0 */
                if (slot_of[c] >= 0) {
                    uint32_t code = fp16 ? f32_to_f16(w[i]) : dc_quant(w[i], s_r, z, maxq);
                    dc_fmt_put(crow, col / m * nn + slot_of[c], bits, code);
                    q = fp16 ? f16_to_f32((uint16_t)code) : s_r * (float)((int)code - z);
                }
                if (U) {
                    const float *urow = U + col * K;
                    const float err = (w[i] - q) / urow[col];
                    e[i] = err;
#pragma omp simd
                    for (int64_t j = i + 1; j < cnt; j++)
                        w[j] -= err * urow[i1 + j];
                }
                w[i] = q;
            }
        }
        if (U && i2 < K) /* W[:, i2:] -= E U[i1:i2, i2:] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)(K - i2),
                        (int)cnt, -1.0f, E, (int)bs, U + i1 * K + i2, (int)K, 1.0f, W + i2, (int)K);
    }
done:
    db_free(W), db_free(U), db_free(E), db_free(sc);
    return s;
}

typedef struct {
    const uint32_t *codes, *idx;
    const uint16_t *scale;
    int64_t slots, Wc, Wi;
    int ib;
} dz_view;

static db_status dz_view_get(const dc_packed *pk, dz_view *v)
{
    const dc_params *p = &pk->params;
    v->slots = dz_slots(p, pk->K);
    v->ib = dc_fmt_idx_bits(p->nm_m);
    v->Wc = dc_fmt_words(v->slots, p->bits);
    v->Wi = dc_fmt_words(v->slots, v->ib);
    db_status s = dc_part_need(pk, "codes", DT_U32, (const void **)&v->codes);
    if (!s)
        s = dc_part_need(pk, "idx", DT_U32, (const void **)&v->idx);
    v->scale = NULL;
    if (!s && p->bits != DZ_FP16)
        s = dc_part_need(pk, "scale", DT_F16, (const void **)&v->scale);
    return s;
}

/* The value of kept slot j of row r: s_r (q - z), or the stored fp16 value when pruning only. */
static inline float dz_value(const dz_view *v, int64_t r, int64_t j, int bits, int z)
{
    uint32_t q = dc_fmt_get(v->codes + r * v->Wc, j, bits);
    return bits == DZ_FP16 ? f16_to_f32((uint16_t)q) : f16_to_f32(v->scale[r]) * (float)((int)q - z);
}

static db_status dz_decode(const dc_packed *pk, float *delta)
{
    dz_view v;
    db_status s = dz_view_get(pk, &v);
    if (s)
        return s;
    const int64_t K = pk->K;
    const int bits = pk->params.bits, z = 1 << (bits - 1), m = pk->params.nm_m, nn = pk->params.nm_n;
    memset(delta, 0, sizeof *delta * (size_t)pk->N * (size_t)K);
    for (int64_t r = 0; r < pk->N; r++)
        for (int64_t j = 0; j < v.slots; j++) {
            int64_t col = j / nn * m + dc_fmt_get(v.idx + r * v.Wi, j, v.ib);
            if (col < K)
                delta[r * K + col] += dz_value(&v, r, j, bits, z);
        }
    return DB_OK;
}

static db_status dz_apply(const dc_packed *pk, int64_t B, const float *x, float *y)
{
    dz_view v;
    db_status s = dz_view_get(pk, &v);
    if (s)
        return s;
    const int64_t N = pk->N, K = pk->K;
    const int bits = pk->params.bits, z = 1 << (bits - 1), m = pk->params.nm_m, nn = pk->params.nm_n;
    for (int64_t r = 0; r < N; r++)
        for (int64_t b = 0; b < B; b++) {
            double acc = 0.0; /* Σ q x over the kept slots */
            for (int64_t j = 0; j < v.slots; j++) {
                int64_t col = j / nn * m + dc_fmt_get(v.idx + r * v.Wi, j, v.ib);
                if (col < K)
                    acc += (double)dz_value(&v, r, j, bits, z) * x[b * K + col];
            }
            y[b * N + r] += (float)acc;
        }
    return DB_OK;
}

static double dz_bytes(const dc_params *p, int64_t N, int64_t K)
{
    dc_part parts[DC_MAX_PARTS];
    int np = dz_layout(p, N, K, parts);
    double b = 0;
    for (int i = 0; i < np; i++)
        b += (double)parts[i].nbytes;
    return b;
}

const dc_method dc_method_deltazip = {
    .name = "deltazip",
    .summary = "DeltaZip ΔCompress: OBS n:m pruning + GPTQ (Hessian from --calib, else H = I)",
    .bound = "H = I: kept |d^ - d| <= s/2 (s = row scale), n:m by magnitude; with H: minimises "
             "the calibration loss (no elementwise bound)",
    .uses = DC_P_BITS | DC_P_NM | DC_P_CALIB,
    .defaults = dz_defaults,
    .check = dz_check,
    .encode = dz_encode,
    .decode_dense = dz_decode,
    .bytes = dz_bytes,
    .bytes_exact = true,
    .apply_ref = dz_apply,
    .layout = dz_layout,
};
