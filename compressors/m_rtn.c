/* m_rtn.c: k-bit round-to-nearest of the delta, per row or per group of G columns, symmetric
 * or asymmetric: the plain quantisation baseline (GPTQ's Quantizer without the OBS updates).
 * Scales are stored as fp16 rounded up so the stored scale s keeps |error| <= s / 2. */
#include <string.h>

#include "compressors/internal.h"
#include "core/alloc.h"

static void rtn_defaults(dc_params *p)
{
    p->bits = 4;
    p->group = 128;
    p->sym = 0;
}

static db_status rtn_check(const dc_params *p)
{
    if (p->bits < 1 || p->bits > DC_MAX_BITS)
        return db_error(DB_ERR_ARG, "rtn: bits %d out of range [1, %d]", p->bits, DC_MAX_BITS);
    if (p->sym && p->bits < 2)
        return db_error(DB_ERR_ARG, "rtn: symmetric quantisation needs bits >= 2");
    if (p->group < 0)
        return db_error(DB_ERR_ARG, "rtn: group %lld is negative", (long long)p->group);
    return DB_OK;
}

static int64_t rtn_groups(const dc_params *p, int64_t K)
{
    return p->group > 0 ? (K + p->group - 1) / p->group : 1;
}

static int rtn_layout(const dc_params *p, int64_t N, int64_t K, dc_part *parts)
{
    int64_t ng = rtn_groups(p, K);
    dc_layout_set(&parts[0], "codes", DT_U32, 2, N, dc_fmt_words(K, p->bits));
    dc_layout_set(&parts[1], "scale", DT_F16, 2, N, ng);
    if (p->sym)
        return 2;
    dc_layout_set(&parts[2], "zero", DT_U8, 2, N, ng);
    return 3;
}

static db_status rtn_encode(const dc_src *src, const dc_params *p, const float *H, dc_packed *out)
{
    (void)H;
    const int64_t N = src->N, K = src->K, ng = rtn_groups(p, K), W = dc_fmt_words(K, p->bits);
    const int64_t G = p->group > 0 ? p->group : K;
    const int maxq = (1 << p->bits) - 1;
    float *d = db_malloc_array((size_t)N * (size_t)K, sizeof *d);
    if (!d)
        return db_error(DB_ERR_NOMEM, "rtn: out of memory");
    uint32_t *codes;
    uint16_t *scale;
    uint8_t *zero = NULL;
    db_status s = dc_part_add(out, "codes", DT_U32, 2, N, W, (void **)&codes);
    if (!s)
        s = dc_part_add(out, "scale", DT_F16, 2, N, ng, (void **)&scale);
    if (!s && !p->sym)
        s = dc_part_add(out, "zero", DT_U8, 2, N, ng, (void **)&zero);
    if (!s)
        s = dc_src_delta(src, d);
    if (s) {
        db_free(d);
        return s;
    }
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const float *row = d + n * K;
        for (int64_t g = 0; g < ng; g++) {
            int64_t k0 = g * G, k1 = k0 + G < K ? k0 + G : K;
            float lo = 0.0f, hi = 0.0f; /* the range always contains 0, as in GPTQ */
            for (int64_t k = k0; k < k1; k++) {
                lo = row[k] < lo ? row[k] : lo;
                hi = row[k] > hi ? row[k] : hi;
            }
            int z;
            float sc;
            if (p->sym) {
                float amax = -lo > hi ? -lo : hi;
                scale[n * ng + g] = dc_scale_f16_up(dc_sym_scale(amax, p->bits));
                sc = f16_to_f32(scale[n * ng + g]);
                z = 1 << (p->bits - 1);
            } else {
                if (lo == 0.0f && hi == 0.0f)
                    lo = -1.0f, hi = 1.0f;
                scale[n * ng + g] = dc_scale_f16_up((hi - lo) / (float)maxq);
                sc = f16_to_f32(scale[n * ng + g]);
                float zf = nearbyintf(-lo / sc);
                z = zf < 0 ? 0 : zf > maxq ? maxq : (int)zf;
                zero[n * ng + g] = (uint8_t)z;
            }
            for (int64_t k = k0; k < k1; k++)
                dc_fmt_put(codes + n * W, k, p->bits, dc_quant(row[k], sc, z, maxq));
        }
    }
    db_free(d);
    return DB_OK;
}

/* Parts and per-row decode shared by decode_dense and apply_ref. */
typedef struct {
    const uint32_t *codes;
    const uint16_t *scale;
    const uint8_t *zero;
    int64_t ng, G, W;
} rtn_view;

static db_status rtn_view_get(const dc_packed *pk, rtn_view *v)
{
    const dc_params *p = &pk->params;
    db_status s = dc_part_need(pk, "codes", DT_U32, (const void **)&v->codes);
    if (!s)
        s = dc_part_need(pk, "scale", DT_F16, (const void **)&v->scale);
    v->zero = NULL;
    if (!s && !p->sym)
        s = dc_part_need(pk, "zero", DT_U8, (const void **)&v->zero);
    v->ng = rtn_groups(p, pk->K);
    v->G = p->group > 0 ? p->group : pk->K;
    v->W = dc_fmt_words(pk->K, p->bits);
    return s;
}

static void rtn_row(const dc_packed *pk, const rtn_view *v, int64_t n, float *out)
{
    const int bits = pk->params.bits;
    for (int64_t k = 0; k < pk->K; k++) {
        int64_t g = k / v->G;
        float sc = f16_to_f32(v->scale[n * v->ng + g]);
        int z = v->zero ? v->zero[n * v->ng + g] : 1 << (bits - 1);
        out[k] = sc * (float)((int)dc_fmt_get(v->codes + n * v->W, k, bits) - z);
    }
}

static db_status rtn_decode(const dc_packed *pk, float *delta)
{
    rtn_view v;
    db_status s = rtn_view_get(pk, &v);
    if (s)
        return s;
    for (int64_t n = 0; n < pk->N; n++)
        rtn_row(pk, &v, n, delta + n * pk->K);
    return DB_OK;
}

static db_status rtn_apply(const dc_packed *pk, int64_t B, const float *x, float *y)
{
    rtn_view v;
    db_status s = rtn_view_get(pk, &v);
    if (s)
        return s;
    const int64_t N = pk->N, K = pk->K;
    const int bits = pk->params.bits;
    for (int64_t n = 0; n < N; n++)
        for (int64_t b = 0; b < B; b++) {
            double acc = 0.0;
            for (int64_t g = 0; g < v.ng; g++) {
                float sc = f16_to_f32(v.scale[n * v.ng + g]);
                int z = v.zero ? v.zero[n * v.ng + g] : 1 << (bits - 1);
                int64_t k1 = (g + 1) * v.G < K ? (g + 1) * v.G : K;
                double part = 0.0; /* Σ (q - z) x within the group, one scale multiply after */
                for (int64_t k = g * v.G; k < k1; k++)
                    part += (double)((int)dc_fmt_get(v.codes + n * v.W, k, bits) - z) * x[b * K + k];
                acc += (double)sc * part;
            }
            y[b * N + n] += (float)acc;
        }
    return DB_OK;
}

static double rtn_bytes(const dc_params *p, int64_t N, int64_t K)
{
    dc_part parts[DC_MAX_PARTS];
    int np = rtn_layout(p, N, K, parts);
    double b = 0;
    for (int i = 0; i < np; i++)
        b += (double)parts[i].nbytes;
    return b;
}

const dc_method dc_method_rtn = {
    .name = "rtn",
    .summary = "k-bit round-to-nearest per row or per group of G columns, sym or asym",
    .bound = "|d^ - d| <= s/2 per element (s = the group's stored fp16 scale)",
    .uses = DC_P_BITS | DC_P_GROUP | DC_P_SYM,
    .defaults = rtn_defaults,
    .check = rtn_check,
    .encode = rtn_encode,
    .decode_dense = rtn_decode,
    .bytes = rtn_bytes,
    .bytes_exact = true,
    .apply_ref = rtn_apply,
    .layout = rtn_layout,
};
