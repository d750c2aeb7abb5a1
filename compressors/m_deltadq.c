/* m_deltadq.c: DeltaDQ (Jiang et al., arXiv 2410.08666) as we read its abstract, the only
 * public text: "Group-wise Dropout" performs dropout on the delta in groups (the balanced
 * intermediate results make a fixed share per group safe) and "Separate Quantization"
 * quantises the sparse weights and decomposes them to reach a lower bit width.
 *
 * Our reading (every choice documented in docs/compressors.md):
 *  - rows are cut into groups of G consecutive columns; each full group keeps exactly
 *    c = round(G (1 - p)) entries at uniformly random positions (partial Fisher-Yates from the
 *    row's seeded stream), a tail group of t columns keeps ceil(t c / G); kept values are
 *    rescaled by G / c (t / kept for the tail), DARE's unbiased rescaling made exact per group;
 *  - the kept values are quantised symmetric per row with `bits` bits (GPTQ's convention,
 *    value = s (q - 2^(bits-1))), and each code is split into P = parts planes of bits / P
 *    bits (plane j = bits [j b, (j+1) b)), each stored as its own tensor "q<j>", so a kernel
 *    can stream the high plane alone or both;
 *  - positions are never stored: they are regenerated from the seed. */
#include <string.h>

#include "compressors/internal.h"
#include "core/alloc.h"

static const char *const plane_names[DC_MAX_BITS] = {"q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7"};

static void dq_defaults(dc_params *p)
{
    p->bits = 4;
    p->parts = 2;
    p->group = 16;
    p->drop = 0.75;
    p->seed = 0;
}

static db_status dq_check(const dc_params *p)
{
    if (p->bits < 2 || p->bits > DC_MAX_BITS)
        return db_error(DB_ERR_ARG, "deltadq: bits %d out of range [2, %d]", p->bits, DC_MAX_BITS);
    if (p->parts < 1 || p->parts > 4 || p->bits % p->parts)
        return db_error(DB_ERR_ARG, "deltadq: parts %d must be in [1, 4] and divide bits %d",
                        p->parts, p->bits);
    if (p->group < 1 || p->group > 65536)
        return db_error(DB_ERR_ARG, "deltadq: group %lld not in [1, 65536]", (long long)p->group);
    if (!(p->drop >= 0.0 && p->drop < 1.0))
        return db_error(DB_ERR_ARG, "deltadq: drop %g is not in [0, 1)", p->drop);
    return DB_OK;
}

static int dq_layout(const dc_params *p, int64_t N, int64_t K, dc_part *parts)
{
    int64_t kept = dc_dq_row_kept(K, p->group, dc_dq_c(p->group, p->drop));
    int b = p->bits / p->parts;
    for (int j = 0; j < p->parts; j++)
        dc_layout_set(&parts[j], plane_names[j], DT_U32, 2, N, dc_fmt_words(kept, b));
    dc_layout_set(&parts[p->parts], "scale", DT_F16, 1, N, 0);
    return p->parts + 1;
}

/* Rescale factor of the group holding position k: t / kept of that group. */
static float dq_rescale(int64_t k, int64_t K, int64_t G, int64_t c)
{
    int64_t g0 = k / G * G, t = K - g0 < G ? K - g0 : G;
    int64_t keep = t == G ? c : dc_dq_keep(t, G, c);
    return (float)t / (float)keep;
}

static db_status dq_encode(const dc_src *src, const dc_params *p, const float *H, dc_packed *out)
{
    (void)H;
    const int64_t N = src->N, K = src->K, G = p->group, c = dc_dq_c(G, p->drop);
    const int64_t kept = dc_dq_row_kept(K, G, c);
    const int bits = p->bits, P = p->parts, b = bits / P, maxq = (1 << bits) - 1, z = 1 << (bits - 1);
    const int64_t Wb = dc_fmt_words(kept, b);
    uint32_t *plane[DC_MAX_BITS];
    uint16_t *scale;
    db_status s = DB_OK;
    for (int j = 0; j < P && !s; j++)
        s = dc_part_add(out, plane_names[j], DT_U32, 2, N, Wb, (void **)&plane[j]);
    if (!s)
        s = dc_part_add(out, "scale", DT_F16, 1, N, 0, (void **)&scale);
    if (s)
        return s;
    float *d = db_malloc_array((size_t)N * (size_t)K, sizeof *d);
    int32_t *pos = db_malloc_array((size_t)kept, sizeof *pos);
    int32_t *scratch = db_malloc_array((size_t)G, sizeof *scratch);
    float *v = db_malloc_array((size_t)kept, sizeof *v);
    if (!d || !pos || !scratch || !v) {
        s = db_error(DB_ERR_NOMEM, "deltadq: out of memory");
        goto done;
    }
    s = dc_src_delta(src, d);
    if (s)
        goto done;
    for (int64_t r = 0; r < N; r++) {
        dc_dq_positions(p->seed, out->tid, r, K, G, c, pos, scratch);
        float amax = 0.0f;
        for (int64_t j = 0; j < kept; j++) {
            v[j] = d[r * K + pos[j]] * dq_rescale(pos[j], K, G, c);
            amax = fabsf(v[j]) > amax ? fabsf(v[j]) : amax;
        }
        scale[r] = dc_scale_f16_up(dc_sym_scale(amax, bits));
        const float sr = f16_to_f32(scale[r]);
        for (int64_t j = 0; j < kept; j++) {
            uint32_t q = dc_quant(v[j], sr, z, maxq);
            for (int pl = 0; pl < P; pl++)
                dc_fmt_put(plane[pl] + r * Wb, j, b, (q >> (pl * b)) & ((1u << b) - 1u));
        }
    }
done:
    db_free(d), db_free(pos), db_free(scratch), db_free(v);
    return s;
}

/* Row-wise access shared by decode and apply: positions and codes of row r. */
typedef struct {
    const uint32_t *plane[DC_MAX_BITS];
    const uint16_t *scale;
    int32_t *pos, *scratch;
    int64_t kept, Wb, G, c;
} dq_view;

static db_status dq_view_open(const dc_packed *pk, dq_view *v)
{
    const dc_params *p = &pk->params;
    memset(v, 0, sizeof *v);
    v->G = p->group;
    v->c = dc_dq_c(p->group, p->drop);
    v->kept = dc_dq_row_kept(pk->K, v->G, v->c);
    v->Wb = dc_fmt_words(v->kept, p->bits / p->parts);
    db_status s = DB_OK;
    for (int j = 0; j < p->parts && !s; j++)
        s = dc_part_need(pk, plane_names[j], DT_U32, (const void **)&v->plane[j]);
    if (!s)
        s = dc_part_need(pk, "scale", DT_F16, (const void **)&v->scale);
    if (s)
        return s;
    v->pos = db_malloc_array((size_t)v->kept, sizeof *v->pos);
    v->scratch = db_malloc_array((size_t)v->G, sizeof *v->scratch);
    if (!v->pos || !v->scratch) {
        db_free(v->pos), db_free(v->scratch);
        return db_error(DB_ERR_NOMEM, "deltadq: out of memory");
    }
    return DB_OK;
}

static void dq_view_close(dq_view *v) { db_free(v->pos), db_free(v->scratch); }

static inline int dq_code(const dc_packed *pk, const dq_view *v, int64_t r, int64_t j)
{
    const int P = pk->params.parts, b = pk->params.bits / P;
    uint32_t q = 0;
    for (int pl = 0; pl < P; pl++)
        q |= dc_fmt_get(v->plane[pl] + r * v->Wb, j, b) << (pl * b);
    return (int)q;
}

static db_status dq_decode(const dc_packed *pk, float *delta)
{
    dq_view v;
    db_status s = dq_view_open(pk, &v);
    if (s)
        return s;
    const int64_t K = pk->K;
    const int z = 1 << (pk->params.bits - 1);
    memset(delta, 0, sizeof *delta * (size_t)pk->N * (size_t)K);
    for (int64_t r = 0; r < pk->N; r++) {
        dc_dq_positions(pk->params.seed, pk->tid, r, K, v.G, v.c, v.pos, v.scratch);
        const float sr = f16_to_f32(v.scale[r]);
        for (int64_t j = 0; j < v.kept; j++)
            delta[r * K + v.pos[j]] = sr * (float)(dq_code(pk, &v, r, j) - z);
    }
    dq_view_close(&v);
    return DB_OK;
}

static db_status dq_apply(const dc_packed *pk, int64_t B, const float *x, float *y)
{
    dq_view v;
    db_status s = dq_view_open(pk, &v);
    if (s)
        return s;
    const int64_t N = pk->N, K = pk->K;
    const int z = 1 << (pk->params.bits - 1);
    for (int64_t r = 0; r < N; r++) {
        dc_dq_positions(pk->params.seed, pk->tid, r, K, v.G, v.c, v.pos, v.scratch);
        const double sr = f16_to_f32(v.scale[r]);
        for (int64_t b = 0; b < B; b++) {
            double acc = 0.0;
            for (int64_t j = 0; j < v.kept; j++)
                acc += (double)(dq_code(pk, &v, r, j) - z) * x[b * K + v.pos[j]];
            y[b * N + r] += (float)(sr * acc);
        }
    }
    dq_view_close(&v);
    return DB_OK;
}

static double dq_bytes(const dc_params *p, int64_t N, int64_t K)
{
    dc_part parts[DC_MAX_PARTS];
    int np = dq_layout(p, N, K, parts);
    double b = 0;
    for (int i = 0; i < np; i++)
        b += (double)parts[i].nbytes;
    return b;
}

const dc_method dc_method_deltadq = {
    .name = "deltadq",
    .summary = "DeltaDQ (our reading): group-wise dropout + k-bit codes split into planes",
    .bound = "kept |d^ - d (G/c)| <= s/2 (s = row scale), dropped entries 0; positions from seed",
    .uses = DC_P_BITS | DC_P_GROUP | DC_P_DROP | DC_P_PARTS | DC_P_SEED,
    .defaults = dq_defaults,
    .check = dq_check,
    .encode = dq_encode,
    .decode_dense = dq_decode,
    .bytes = dq_bytes,
    .bytes_exact = true,
    .apply_ref = dq_apply,
    .layout = dq_layout,
};
