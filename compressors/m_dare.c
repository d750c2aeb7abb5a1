/* m_dare.c: DARE (drop and rescale, Yu et al. 2023): each delta entry is dropped with
 * probability p and the kept ones are rescaled by 1 / (1 - p), so E[Δ̂] = Δ. The kept positions
 * are not stored: they are regenerated from the stored seed, one xoshiro256** draw per column
 * from the row's own stream (kernels/formats.h), so decoding needs only the values and a row
 * pointer (kept for random row access by kernels). */
#include <string.h>

#include "compressors/internal.h"
#include "core/alloc.h"

static void dare_defaults(dc_params *p)
{
    p->drop = 0.9;
    p->seed = 0;
}

static db_status dare_check(const dc_params *p)
{
    if (!(p->drop >= 0.0 && p->drop < 1.0))
        return db_error(DB_ERR_ARG, "dare: drop %g is not in [0, 1)", p->drop);
    return DB_OK;
}

static int dare_layout(const dc_params *p, int64_t N, int64_t K, dc_part *parts)
{
    (void)p, (void)K;
    dc_layout_set(&parts[0], "rowptr", DT_U32, 1, N + 1, 0);
    dc_layout_set(&parts[1], "values", DT_F16, 1, -1, 0);
    return 2;
}

/* The keep mask of row r into keep[K]; returns the kept count. */
static int64_t dare_row_mask(uint64_t seed, uint64_t tid, int64_t r, int64_t K, uint64_t thr,
                             uint8_t *keep)
{
    db_rng rng;
    rng_stream(&rng, seed, dc_row_stream(tid, r));
    int64_t c = 0;
    for (int64_t k = 0; k < K; k++) {
        keep[k] = rng_u64(&rng) >= thr;
        c += keep[k];
    }
    return c;
}

static db_status dare_encode(const dc_src *src, const dc_params *p, const float *H, dc_packed *out)
{
    (void)H;
    const int64_t N = src->N, K = src->K;
    const uint64_t thr = dc_dare_threshold(p->drop);
    const float rescale = (float)(1.0 / (1.0 - p->drop));
    float *d = db_malloc_array((size_t)N * (size_t)K, sizeof *d);
    uint8_t *keep = db_malloc((size_t)K);
    uint32_t *rowptr;
    uint16_t *vals;
    db_status s = d && keep ? DB_OK : db_error(DB_ERR_NOMEM, "dare: out of memory");
    if (!s)
        s = dc_src_delta(src, d);
    if (!s)
        s = dc_part_add(out, "rowptr", DT_U32, 1, N + 1, 0, (void **)&rowptr);
    if (s)
        goto done;
    /* pass 1: counts (the mask is cheap to regenerate, so it is not kept) */
    int64_t nnz = 0;
    for (int64_t r = 0; r < N; r++) {
        rowptr[r] = (uint32_t)nnz;
        nnz += dare_row_mask(p->seed, out->tid, r, K, thr, keep);
    }
    rowptr[N] = (uint32_t)nnz;
    s = dc_part_add(out, "values", DT_F16, 1, nnz, 0, (void **)&vals);
    if (s)
        goto done;
    for (int64_t r = 0; r < N; r++) {
        dare_row_mask(p->seed, out->tid, r, K, thr, keep);
        int64_t o = rowptr[r];
        for (int64_t k = 0; k < K; k++)
            if (keep[k])
                vals[o++] = f32_to_f16(d[r * K + k] * rescale);
    }
done:
    db_free(d);
    db_free(keep);
    return s;
}

static db_status dare_view(const dc_packed *pk, const uint32_t **rowptr, const uint16_t **vals,
                           uint8_t **keep)
{
    db_status s = dc_part_need(pk, "rowptr", DT_U32, (const void **)rowptr);
    if (!s)
        s = dc_part_need(pk, "values", DT_F16, (const void **)vals);
    if (s)
        return s;
    *keep = db_malloc((size_t)pk->K);
    return *keep ? DB_OK : db_error(DB_ERR_NOMEM, "dare: out of memory");
}

static db_status dare_decode(const dc_packed *pk, float *delta)
{
    const uint32_t *rowptr;
    const uint16_t *vals;
    uint8_t *keep;
    db_status s = dare_view(pk, &rowptr, &vals, &keep);
    if (s)
        return s;
    const int64_t K = pk->K;
    const uint64_t thr = dc_dare_threshold(pk->params.drop);
    for (int64_t r = 0; r < pk->N && !s; r++) {
        int64_t c = dare_row_mask(pk->params.seed, pk->tid, r, K, thr, keep);
        if (c != (int64_t)(rowptr[r + 1] - rowptr[r])) {
            s = db_error(DB_ERR_FORMAT, "dare: row %lld holds %lld values but the seed keeps %lld",
                         (long long)r, (long long)(rowptr[r + 1] - rowptr[r]), (long long)c);
            break;
        }
        int64_t o = rowptr[r];
        for (int64_t k = 0; k < K; k++)
            delta[r * K + k] = keep[k] ? f16_to_f32(vals[o++]) : 0.0f;
    }
    db_free(keep);
    return s;
}

static db_status dare_apply(const dc_packed *pk, int64_t B, const float *x, float *y)
{
    const uint32_t *rowptr;
    const uint16_t *vals;
    uint8_t *keep;
    db_status s = dare_view(pk, &rowptr, &vals, &keep);
    if (s)
        return s;
    const int64_t N = pk->N, K = pk->K;
    const uint64_t thr = dc_dare_threshold(pk->params.drop);
    for (int64_t r = 0; r < N; r++) {
        int64_t c = dare_row_mask(pk->params.seed, pk->tid, r, K, thr, keep);
        if (c != (int64_t)(rowptr[r + 1] - rowptr[r])) {
            s = db_error(DB_ERR_FORMAT, "dare: row %lld does not match its seed", (long long)r);
            break;
        }
        for (int64_t b = 0; b < B; b++) {
            double acc = 0.0;
            int64_t o = rowptr[r];
            for (int64_t k = 0; k < K; k++)
                if (keep[k])
                    acc += (double)f16_to_f32(vals[o++]) * x[b * K + k];
            y[b * N + r] += (float)acc;
        }
    }
    db_free(keep);
    return s;
}

static double dare_bytes(const dc_params *p, int64_t N, int64_t K)
{
    return 4.0 * (double)(N + 1) + 2.0 * (double)N * (double)K * (1.0 - p->drop);
}

const dc_method dc_method_dare = {
    .name = "dare",
    .summary = "DARE: random drop p, rescale 1/(1-p), positions from a stored seed",
    .bound = "d^ = mask * d / (1 - p) within fp16 rounding; mask regenerated from the seed",
    .uses = DC_P_DROP | DC_P_SEED,
    .defaults = dare_defaults,
    .check = dare_check,
    .encode = dare_encode,
    .decode_dense = dare_decode,
    .bytes = dare_bytes,
    .bytes_exact = false,
    .apply_ref = dare_apply,
    .layout = dare_layout,
};
