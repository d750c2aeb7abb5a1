/* m_magprune.c: magnitude pruning of the delta, unstructured (keep the largest (1 - drop) share
 * of |Δ| in the tensor, CSR) or n:m (keep the n largest |Δ| of every m consecutive columns of a
 * row, the NVIDIA 2:4 convention). Kept values are stored as fp16. Ties keep the lower index. */
#include <string.h>

#include "compressors/internal.h"
#include "core/alloc.h"

static void mp_defaults(dc_params *p) { p->drop = 0.9; }

static db_status mp_check(const dc_params *p)
{
    if (p->nm_m || p->nm_n) {
        if (p->nm_n < 1 || p->nm_m < 1 || p->nm_m > DC_MAX_NM_M)
            return db_error(DB_ERR_ARG, "magprune: n:m %d:%d needs 1 <= n, 1 <= m <= %d",
                            p->nm_n, p->nm_m, DC_MAX_NM_M);
        if (p->nm_n > p->nm_m)
            return db_error(DB_ERR_ARG, "magprune: n:m %d:%d keeps more than m (n > m)", p->nm_n,
                            p->nm_m);
        return DB_OK;
    }
    if (!(p->drop >= 0.0 && p->drop < 1.0))
        return db_error(DB_ERR_ARG, "magprune: drop %g is not in [0, 1)", p->drop);
    return DB_OK;
}

static int64_t mp_nnz(const dc_params *p, int64_t N, int64_t K)
{
    return (int64_t)llround((double)N * (double)K * (1.0 - p->drop));
}

static int mp_layout(const dc_params *p, int64_t N, int64_t K, dc_part *parts)
{
    if (p->nm_m) {
        int64_t slots = (K + p->nm_m - 1) / p->nm_m * p->nm_n;
        dc_layout_set(&parts[0], "values", DT_F16, 2, N, slots);
        dc_layout_set(&parts[1], "idx", DT_U32, 2, N, dc_fmt_words(slots, dc_fmt_idx_bits(p->nm_m)));
        return 2;
    }
    int64_t nnz = mp_nnz(p, N, K);
    dc_layout_set(&parts[0], "rowptr", DT_U32, 1, N + 1, 0);
    dc_layout_set(&parts[1], "cols", K <= 65536 ? DT_U16 : DT_U32, 1, nnz, 0);
    dc_layout_set(&parts[2], "values", DT_F16, 1, nnz, 0);
    return 3;
}

/* k-th smallest (0-based) of a[0..n) by quickselect (a is reordered). */
static float select_kth(float *a, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    uint64_t st = 0x2545F4914F6CDD1DULL;
    while (lo < hi) {
        st ^= st << 13, st ^= st >> 7, st ^= st << 17; /* pivot choice only, not stored */
        float piv = a[lo + (int64_t)(st % (uint64_t)(hi - lo + 1))];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] < piv)
                i++;
            while (a[j] > piv)
                j--;
            if (i <= j) {
                float t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++, j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return a[k];
    }
    return a[k];
}

/* The n:m selection of one row, shared with deltazip's H = I path: kept in-group indices
 * (ascending) of each group of m, the n largest by `score` (ties keep the lower index). */
static void nm_select(const float *score, int64_t t, int n, int *keep)
{
    int nk = t < n ? (int)t : n;
    int used[DC_MAX_NM_M] = {0};
    for (int j = 0; j < nk; j++) {
        int best = -1;
        for (int c = 0; c < t; c++)
            if (!used[c] && (best < 0 || score[c] > score[best]))
                best = c;
        used[best] = 1;
    }
    int o = 0;
    for (int c = 0; c < t; c++)
        if (used[c])
            keep[o++] = c;
}

static db_status mp_encode(const dc_src *src, const dc_params *p, const float *H, dc_packed *out)
{
    (void)H;
    const int64_t N = src->N, K = src->K;
    size_t n = (size_t)N * (size_t)K;
    float *d = db_malloc_array(n, sizeof *d);
    if (!d)
        return db_error(DB_ERR_NOMEM, "magprune: out of memory");
    db_status s = dc_src_delta(src, d);
    if (s)
        goto done;
    if (p->nm_m) {
        const int m = p->nm_m, nn = p->nm_n, ib = dc_fmt_idx_bits(m);
        const int64_t ngr = (K + m - 1) / m, slots = ngr * nn, W = dc_fmt_words(slots, ib);
        uint16_t *vals;
        uint32_t *idx;
        s = dc_part_add(out, "values", DT_F16, 2, N, slots, (void **)&vals);
        if (!s)
            s = dc_part_add(out, "idx", DT_U32, 2, N, W, (void **)&idx);
        if (s)
            goto done;
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < N; r++) {
            float sc[DC_MAX_NM_M];
            int keep[DC_MAX_NM_M];
            for (int64_t g = 0; g < ngr; g++) {
                int64_t k0 = g * m, t = K - k0 < m ? K - k0 : m;
                for (int c = 0; c < t; c++)
                    sc[c] = fabsf(d[r * K + k0 + c]);
                nm_select(sc, t, nn, keep);
                int nk = t < nn ? (int)t : nn;
                for (int j = 0; j < nk; j++) {
                    vals[r * slots + g * nn + j] = f32_to_f16(d[r * K + k0 + keep[j]]);
                    dc_fmt_put(idx + r * W, g * nn + j, ib, (uint32_t)keep[j]);
                }
            }
        }
        goto done;
    }
    /* unstructured: threshold = the (n - nnz)-th smallest |Δ|; ties at the threshold are kept
     * in index order until nnz is reached */
    int64_t nnz = mp_nnz(p, N, K);
    uint32_t *rowptr;
    void *cols;
    uint16_t *vals;
    db_dtype cdt = K <= 65536 ? DT_U16 : DT_U32;
    s = dc_part_add(out, "rowptr", DT_U32, 1, N + 1, 0, (void **)&rowptr);
    if (!s)
        s = dc_part_add(out, "cols", cdt, 1, nnz, 0, &cols);
    if (!s)
        s = dc_part_add(out, "values", DT_F16, 1, nnz, 0, (void **)&vals);
    if (s || nnz == 0)
        goto done;
    float *a = db_malloc_array(n, sizeof *a);
    if (!a) {
        s = db_error(DB_ERR_NOMEM, "magprune: out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        a[i] = fabsf(d[i]);
    float thr = select_kth(a, (int64_t)n, (int64_t)n - nnz);
    db_free(a);
    int64_t above = 0;
    for (size_t i = 0; i < n; i++)
        above += fabsf(d[i]) > thr;
    int64_t ties = nnz - above, o = 0;
    for (int64_t r = 0; r < N; r++) {
        rowptr[r] = (uint32_t)o;
        for (int64_t k = 0; k < K; k++) {
            float v = d[r * K + k], av = fabsf(v);
            if (av > thr || (av == thr && ties > 0)) {
                if (av == thr && !(av > thr))
                    ties--;
                if (cdt == DT_U16)
                    ((uint16_t *)cols)[o] = (uint16_t)k;
                else
                    ((uint32_t *)cols)[o] = (uint32_t)k;
                vals[o++] = f32_to_f16(v);
            }
        }
    }
    rowptr[N] = (uint32_t)o;
done:
    db_free(d);
    return s;
}

typedef struct {
    const uint16_t *vals;
    const uint32_t *idx, *rowptr;
    const void *cols;
    db_dtype cdt;
    int64_t slots, W;
    int ib;
} mp_view;

static db_status mp_view_get(const dc_packed *pk, mp_view *v)
{
    const dc_params *p = &pk->params;
    memset(v, 0, sizeof *v);
    db_status s;
    if (p->nm_m) {
        v->ib = dc_fmt_idx_bits(p->nm_m);
        v->slots = (pk->K + p->nm_m - 1) / p->nm_m * p->nm_n;
        v->W = dc_fmt_words(v->slots, v->ib);
        s = dc_part_need(pk, "values", DT_F16, (const void **)&v->vals);
        if (!s)
            s = dc_part_need(pk, "idx", DT_U32, (const void **)&v->idx);
        return s;
    }
    v->cdt = pk->K <= 65536 ? DT_U16 : DT_U32;
    s = dc_part_need(pk, "rowptr", DT_U32, (const void **)&v->rowptr);
    if (!s)
        s = dc_part_need(pk, "cols", v->cdt, &v->cols);
    if (!s)
        s = dc_part_need(pk, "values", DT_F16, (const void **)&v->vals);
    return s;
}

/* Calls the body for each stored (column, value) of row r; n:m padding slots carry value 0. */
#define MP_ROW_FOREACH(pk, v, r, COL, VAL, BODY)                                                   \
    do {                                                                                           \
        if ((pk)->params.nm_m) {                                                                   \
            const int m_ = (pk)->params.nm_m, n_ = (pk)->params.nm_n;                              \
            for (int64_t j_ = 0; j_ < (v).slots; j_++) {                                           \
                int64_t COL = j_ / n_ * m_ + dc_fmt_get((v).idx + (r) * (v).W, j_, (v).ib);        \
                float VAL = f16_to_f32((v).vals[(r) * (v).slots + j_]);                            \
                if (COL < (pk)->K) {                                                               \
                    BODY;                                                                          \
                }                                                                                  \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t j_ = (v).rowptr[r]; j_ < (int64_t)(v).rowptr[(r) + 1]; j_++) {           \
                int64_t COL = (v).cdt == DT_U16 ? ((const uint16_t *)(v).cols)[j_]                 \
                                                : ((const uint32_t *)(v).cols)[j_];                \
                float VAL = f16_to_f32((v).vals[j_]);                                              \
                BODY;                                                                              \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static db_status mp_decode(const dc_packed *pk, float *delta)
{
    mp_view v;
    db_status s = mp_view_get(pk, &v);
    if (s)
        return s;
    memset(delta, 0, sizeof *delta * (size_t)pk->N * (size_t)pk->K);
    for (int64_t r = 0; r < pk->N; r++)
        MP_ROW_FOREACH(pk, v, r, col, val, delta[r * pk->K + col] += val);
    return DB_OK;
}

static db_status mp_apply(const dc_packed *pk, int64_t B, const float *x, float *y)
{
    mp_view v;
    db_status s = mp_view_get(pk, &v);
    if (s)
        return s;
    const int64_t N = pk->N, K = pk->K;
    for (int64_t r = 0; r < N; r++)
        for (int64_t b = 0; b < B; b++) {
            double acc = 0.0;
            MP_ROW_FOREACH(pk, v, r, col, val, acc += (double)val * x[b * K + col]);
            y[b * N + r] += (float)acc;
        }
    return DB_OK;
}

static double mp_bytes(const dc_params *p, int64_t N, int64_t K)
{
    dc_part parts[DC_MAX_PARTS];
    int np = mp_layout(p, N, K, parts);
    double b = 0;
    for (int i = 0; i < np; i++)
        b += (double)parts[i].nbytes;
    return b;
}

const dc_method dc_method_magprune = {
    .name = "magprune",
    .summary = "magnitude pruning, unstructured (--drop P, CSR) or n:m (--nm n:m)",
    .bound = "kept entries within fp16 rounding; every pruned |d| <= every kept |d| of its set",
    .uses = DC_P_NM | DC_P_DROP,
    .defaults = mp_defaults,
    .check = mp_check,
    .encode = mp_encode,
    .decode_dense = mp_decode,
    .bytes = mp_bytes,
    .bytes_exact = true,
    .apply_ref = mp_apply,
    .layout = mp_layout,
};
