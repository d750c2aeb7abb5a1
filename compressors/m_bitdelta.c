/* m_bitdelta.c: BitDelta (Liu et al. 2024): Δ ≈ α · sign(Δ), one fp32 scale α per matrix
 * initialised to mean |Δ| (bitdelta/diff.py: quantile = diff.float().abs().mean()), sign bits
 * packed 32 per u32 word along the input dimension (bit 1 when Δ >= 0, as diff.py's mask),
 * LSB first (binary_gemm_kernel.py: pack). The scale is its own F32 tensor "<name>.scale" so
 * the model zoo can distil it (MSE on logits, scales only) and rewrite it in place. */
#include <string.h>

#include "compressors/internal.h"

static int bd_layout(const dc_params *p, int64_t N, int64_t K, dc_part *parts)
{
    (void)p;
    dc_layout_set(&parts[0], "signs", DT_U32, 2, N, dc_fmt_words(K, 1));
    dc_layout_set(&parts[1], "scale", DT_F32, 1, 1, 0);
    return 2;
}

static db_status bd_encode(const dc_src *src, const dc_params *p, const float *H, dc_packed *out)
{
    (void)p, (void)H;
    uint32_t *signs;
    float *scale;
    db_status s = dc_part_add(out, "signs", DT_U32, 2, src->N, dc_fmt_words(src->K, 1),
                              (void **)&signs);
    if (!s)
        s = dc_part_add(out, "scale", DT_F32, 1, 1, 0, (void **)&scale);
    if (s)
        return s;
    double sum = 0.0;
    /* two threads each stream half of the rows; the sum is combined in a fixed order so the
     * scale does not depend on scheduling */
    enum { NT = 2 };
    double part[NT] = {0.0, 0.0};
#pragma omp parallel for num_threads(NT) schedule(static, 1)
    for (int t = 0; t < NT; t++) {
        int64_t r0 = src->N * t / NT, r1 = src->N * (t + 1) / NT;
        dc_bitdelta_rows(src, r0, r1, signs, &part[t]);
    }
    for (int t = 0; t < NT; t++)
        sum += part[t];
    scale[0] = (float)(sum / ((double)src->N * (double)src->K));
    return DB_OK;
}

static db_status bd_view(const dc_packed *pk, const uint32_t **signs, float *scale)
{
    const float *sc;
    db_status s = dc_part_need(pk, "signs", DT_U32, (const void **)signs);
    if (!s)
        s = dc_part_need(pk, "scale", DT_F32, (const void **)&sc);
    if (!s)
        memcpy(scale, sc, sizeof *scale);
    return s;
}

static db_status bd_decode(const dc_packed *pk, float *delta)
{
    const uint32_t *signs;
    float a;
    db_status s = bd_view(pk, &signs, &a);
    if (s)
        return s;
    const int64_t K = pk->K, W = dc_fmt_words(K, 1);
    for (int64_t n = 0; n < pk->N; n++)
        for (int64_t k = 0; k < K; k++)
            delta[n * K + k] = (signs[n * W + (k >> 5)] >> (k & 31) & 1u) ? a : -a;
    return DB_OK;
}

static db_status bd_apply(const dc_packed *pk, int64_t B, const float *x, float *y)
{
    const uint32_t *signs;
    float a;
    db_status s = bd_view(pk, &signs, &a);
    if (s)
        return s;
    const int64_t N = pk->N, K = pk->K, W = dc_fmt_words(K, 1);
    for (int64_t n = 0; n < N; n++)
        for (int64_t b = 0; b < B; b++) {
            double acc = 0.0; /* Σ ±x, one scale multiply at the end (as the Triton kernel) */
            for (int64_t k = 0; k < K; k++)
                acc += (signs[n * W + (k >> 5)] >> (k & 31) & 1u) ? x[b * K + k] : -x[b * K + k];
            y[b * N + n] += (float)((double)a * acc);
        }
    return DB_OK;
}

static double bd_bytes(const dc_params *p, int64_t N, int64_t K)
{
    (void)p;
    return 4.0 * (double)N * (double)dc_fmt_words(K, 1) + 4.0;
}

const dc_method dc_method_bitdelta = {
    .name = "bitdelta",
    .summary = "BitDelta: sign bits + one fp32 scale per matrix (mean |delta|)",
    .bound = "d^ = a * sign(d) exactly, a = mean |d| (sign(0) = +1)",
    .uses = 0,
    .encode = bd_encode,
    .decode_dense = bd_decode,
    .bytes = bd_bytes,
    .bytes_exact = true,
    .apply_ref = bd_apply,
    .layout = bd_layout,
};
