/* m_fp16.c: the uncompressed fp16 delta, the reference point every ratio is measured against.
 * Δ is rounded once to fp16 (round-to-nearest-even); the bound is that rounding. */
#include <string.h>

#include "compressors/internal.h"
#include "core/alloc.h"

static db_status fp16_encode(const dc_src *src, const dc_params *p, const float *H, dc_packed *out)
{
    (void)p, (void)H;
    size_t n = (size_t)src->N * (size_t)src->K;
    float *d = db_malloc_array(n, sizeof *d);
    uint16_t *q;
    db_status s = d ? DB_OK : db_error(DB_ERR_NOMEM, "fp16: out of memory");
    if (!s)
        s = dc_part_add(out, "delta", DT_F16, 2, src->N, src->K, (void **)&q);
    if (!s)
        s = dc_src_delta(src, d);
    if (!s)
        f32_to_f16_array(d, q, n);
    db_free(d);
    return s;
}

static db_status fp16_decode(const dc_packed *pk, float *delta)
{
    const uint16_t *q;
    db_status s = dc_part_need(pk, "delta", DT_F16, (const void **)&q);
    if (!s)
        f16_to_f32_array(q, delta, (size_t)pk->N * (size_t)pk->K);
    return s;
}

static db_status fp16_apply(const dc_packed *pk, int64_t B, const float *x, float *y)
{
    const uint16_t *q;
    db_status s = dc_part_need(pk, "delta", DT_F16, (const void **)&q);
    if (s)
        return s;
    const int64_t N = pk->N, K = pk->K;
    for (int64_t n = 0; n < N; n++)
        for (int64_t b = 0; b < B; b++) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; k++)
                acc += (double)f16_to_f32(q[n * K + k]) * x[b * K + k];
            y[b * N + n] += (float)acc;
        }
    return DB_OK;
}

static double fp16_bytes(const dc_params *p, int64_t N, int64_t K)
{
    (void)p;
    return 2.0 * (double)N * (double)K;
}

static int fp16_layout(const dc_params *p, int64_t N, int64_t K, dc_part *parts)
{
    (void)p;
    dc_layout_set(&parts[0], "delta", DT_F16, 2, N, K);
    return 1;
}

const dc_method dc_method_fp16 = {
    .name = "fp16",
    .summary = "uncompressed fp16 delta (the reference point)",
    .bound = "|d^ - d| <= fp16 rounding of d (2^-11 |d|, 2^-25 near zero)",
    .uses = 0,
    .encode = fp16_encode,
    .decode_dense = fp16_decode,
    .bytes = fp16_bytes,
    .bytes_exact = true,
    .apply_ref = fp16_apply,
    .layout = fp16_layout,
};
