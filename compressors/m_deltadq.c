/* m_deltadq.c: DeltaDQ (Jiang et al., arXiv 2410.08666) as we read its abstract, the only
 * public text: "Group-wise Dropout" performs dropout on the delta in groups "using an optimal
 * group size", and "Separate Quantization" quantises the sparse weights and "decomposes them to
 * achieve a lower bit".
 *
 * Our reading (format_version 2; every choice documented in docs/compressors.md):
 *  - rows are cut into groups of G consecutive columns; each full group keeps exactly
 *    c = G (1 - p) entries at uniformly random positions (partial Fisher-Yates from the row's
 *    seeded stream), a tail group of t columns keeps ceil(t c / G); kept values are rescaled by
 *    G / c (t / kept for the tail), DARE's unbiased rescaling made exact per group;
 *  - the optimal group size: with `group` 0, G is searched per matrix over G0 2^i (G0 the
 *    smallest G with a whole c, up to DQ_GMAX, those dividing K so every candidate stores the
 *    same bytes), keeping the candidate whose reconstruction error tr(E H E^T) (E = Δ̂ - Δ,
 *    H the layer input's Hessian, or I) is smallest; the chosen G is stored (`group`, U16 [1]);
 *  - separate quantisation: the kept values v are quantised in P = `parts` residual stages,
 *    stage j with b_j bits (bits split as evenly as possible, the first stages taking the odd
 *    bits) and its own per-matrix scale s_j fitted to what the earlier stages left: a midrise
 *    code q in [0, 2^b_j) stands for s_j (q - (2^b_j - 1) / 2), s_j = 2 max|residual| / 2^b_j
 *    rounded up to fp16 (F16 [P]),
 *    so |v - v̂| <= s_{P-1} / 2. Stage j is its own tensor "q<j>", one bit stream over the whole
 *    matrix (no per-row padding), and a reader may stop after any stage;
 *  - positions are never stored: they are regenerated from the seed. */
#include <cblas.h>
#include <string.h>

#include "compressors/internal.h"
#include "core/alloc.h"

static const char *const plane_names[DC_MAX_BITS] = {"q0", "q1", "q2", "q3", "q4", "q5", "q6", "q7"};

enum { DQ_GMAX = 256, DQ_MAXCAND = 16 };

static void dq_defaults(dc_params *p)
{
    p->bits = 4;
    p->parts = 2;
    p->group = 0;
    p->drop = 0.75;
    p->seed = 0;
}

static db_status dq_check(const dc_params *p)
{
    if (p->bits < 1 || p->bits > DC_MAX_BITS)
        return db_error(DB_ERR_ARG, "deltadq: bits %d out of range [1, %d]", p->bits, DC_MAX_BITS);
    if (p->parts < 1 || p->parts > 4 || p->parts > p->bits)
        return db_error(DB_ERR_ARG, "deltadq: parts %d must be in [1, 4] and at most bits %d",
                        p->parts, p->bits);
    if (p->group < 0 || p->group > 65536)
        return db_error(DB_ERR_ARG, "deltadq: group %lld not in [0 (search), 65536]",
                        (long long)p->group);
    if (!(p->drop >= 0.0 && p->drop < 1.0))
        return db_error(DB_ERR_ARG, "deltadq: drop %g is not in [0, 1)", p->drop);
    return DB_OK;
}

/* Bits of stage j: bits / P, the first bits % P stages one more. */
static int dq_width(const dc_params *p, int j) { return p->bits / p->parts + (j < p->bits % p->parts); }

/* The candidate group sizes for K columns (ascending; returns the count, at least 1). G0 is the
 * smallest G <= DQ_GMAX whose G (1 - p) is a whole number (16 when none is); the candidates
 * are G0 2^i <= DQ_GMAX that divide K, or G0 alone when none does. A fixed `group` is the only
 * candidate. */
static int dq_candidates(const dc_params *p, int64_t K, int64_t *cand)
{
    if (p->group > 0) {
        cand[0] = p->group;
        return 1;
    }
    int64_t G0 = 16;
    for (int64_t G = 1; G <= DQ_GMAX; G++) {
        double c = (double)G * (1.0 - p->drop);
        if (c >= 1.0 - 1e-9 && fabs(c - nearbyint(c)) < 1e-9) {
            G0 = G;
            break;
        }
    }
    int n = 0;
    for (int64_t G = G0; G <= DQ_GMAX && n < DQ_MAXCAND; G *= 2)
        if (K % G == 0)
            cand[n++] = G;
    if (!n)
        cand[n++] = G0;
    return n;
}

/* Kept entries of a row: the same for every candidate (they all divide K, or there is one). */
static int64_t dq_kept(const dc_params *p, int64_t K)
{
    int64_t cand[DQ_MAXCAND];
    dq_candidates(p, K, cand);
    return dc_dq_row_kept(K, cand[0], dc_dq_c(cand[0], p->drop));
}

static int dq_layout(const dc_params *p, int64_t N, int64_t K, dc_part *parts)
{
    int64_t n = N * dq_kept(p, K);
    int np = 0;
    for (int j = 0; j < p->parts; j++)
        dc_layout_set(&parts[np++], plane_names[j], DT_U32, 1, dc_fmt_words(n, dq_width(p, j)), 0);
    dc_layout_set(&parts[np++], "scale", DT_F16, 1, p->parts, 0);
    if (p->group == 0)
        dc_layout_set(&parts[np++], "group", DT_U16, 1, 1, 0);
    return np;
}

/* Rescale factor of the group holding position k: t / kept of that group. */
static float dq_rescale(int64_t k, int64_t K, int64_t G, int64_t c)
{
    int64_t g0 = k / G * G, t = K - g0 < G ? K - g0 : G;
    int64_t keep = t == G ? c : dc_dq_keep(t, G, c);
    return (float)t / (float)keep;
}

/* The value code q of a b-bit midrise stage with scale s stands for. */
static inline float dq_level(float s, uint32_t q, int b)
{
    return s * ((float)q - 0.5f * (float)((1 << b) - 1));
}

/* One candidate group size G: dropout, rescale and the residual stages of every row; codes
 * [P][N kept] (one byte per code), scales [P], the reconstruction rec [N kept] and positions
 * pos [N kept]. */
typedef struct {
    uint8_t *code[4];
    uint16_t scale[4];
    float *v, *rec;
    int32_t *pos, *scratch;
} dq_cand;

static void dq_quantise(const dc_params *p, int64_t n, dq_cand *w)
{
    memset(w->rec, 0, sizeof *w->rec * (size_t)n);
    for (int j = 0; j < p->parts; j++) {
        const int b = dq_width(p, j), L = 1 << b;
        float amax = 0.0f;
        for (int64_t i = 0; i < n; i++)
            amax = fmaxf(amax, fabsf(w->v[i] - w->rec[i]));
        /* fp16, rounded up so the 2^b cells still cover [-amax, amax] (0 stays 0) */
        const uint16_t h = amax > 0.0f ? dc_scale_f16_up(2.0f * amax / (float)L) : 0;
        const float s = f16_to_f32(h);
        w->scale[j] = h;
        for (int64_t i = 0; i < n; i++) {
            uint32_t q = 0;
            if (s > 0.0f) {
                float x = floorf((w->v[i] - w->rec[i]) / s + 0.5f * (float)L);
                q = x < 0.0f ? 0u : x > (float)(L - 1) ? (uint32_t)(L - 1) : (uint32_t)x;
            }
            w->code[j][i] = (uint8_t)q;
            w->rec[i] += dq_level(s, q, b);
        }
    }
}

/* Fills w for group size G and returns its error tr(E H E^T) (H = NULL: ||E||_F^2); E, when
 * H is given, is an [N, K] scratch. */
static double dq_try(const dc_src *src, const dc_params *p, uint64_t tid, const float *d,
                     const float *H, int64_t G, dq_cand *w, float *E, float *EH)
{
    const int64_t N = src->N, K = src->K, c = dc_dq_c(G, p->drop), kept = dc_dq_row_kept(K, G, c);
    for (int64_t r = 0; r < N; r++) {
        dc_dq_positions(p->seed, tid, r, K, G, c, w->pos + r * kept, w->scratch);
        for (int64_t j = 0; j < kept; j++) {
            int32_t k = w->pos[r * kept + j];
            w->v[r * kept + j] = d[r * K + k] * dq_rescale(k, K, G, c);
        }
    }
    dq_quantise(p, N * kept, w);
    if (!H) { /* ||E||^2 = ||Δ||^2 - sum over kept of d^2 + sum over kept of (v̂ - d)^2 */
        double e = 0.0;
        for (int64_t i = 0; i < N * K; i++)
            e += (double)d[i] * d[i];
        for (int64_t r = 0; r < N; r++)
            for (int64_t j = 0; j < kept; j++) {
                double x = d[r * K + w->pos[r * kept + j]], y = w->rec[r * kept + j];
                e += (y - x) * (y - x) - x * x;
            }
        return e;
    }
    for (int64_t i = 0; i < N * K; i++)
        E[i] = -d[i];
    for (int64_t r = 0; r < N; r++)
        for (int64_t j = 0; j < kept; j++)
            E[r * K + w->pos[r * kept + j]] += w->rec[r * kept + j];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)K, (int)K, 1.0f, E,
                (int)K, H, (int)K, 0.0f, EH, (int)K);
    double e = 0.0;
    for (int64_t i = 0; i < N * K; i++)
        e += (double)E[i] * EH[i];
    return e;
}

static db_status dq_cand_alloc(dq_cand *w, int P, int64_t n, int64_t G)
{
    memset(w, 0, sizeof *w);
    for (int j = 0; j < P; j++)
        w->code[j] = db_malloc_array((size_t)n ? (size_t)n : 1, 1);
    w->v = db_malloc_array((size_t)n + 1, sizeof *w->v);
    w->rec = db_malloc_array((size_t)n + 1, sizeof *w->rec);
    w->pos = db_malloc_array((size_t)n + 1, sizeof *w->pos);
    w->scratch = db_malloc_array((size_t)G, sizeof *w->scratch);
    bool ok = w->v && w->rec && w->pos && w->scratch;
    for (int j = 0; j < P; j++)
        ok = ok && w->code[j];
    return ok ? DB_OK : db_error(DB_ERR_NOMEM, "deltadq: out of memory");
}

static void dq_cand_free(dq_cand *w)
{
    for (int j = 0; j < 4; j++)
        db_free(w->code[j]);
    db_free(w->v), db_free(w->rec), db_free(w->pos), db_free(w->scratch);
}

static db_status dq_encode(const dc_src *src, const dc_params *p, const float *H, dc_packed *out)
{
    const int64_t N = src->N, K = src->K, n = N * dq_kept(p, K);
    int64_t cand[DQ_MAXCAND];
    const int nc = dq_candidates(p, K, cand);
    uint32_t *plane[4];
    uint16_t *scale, *gpart = NULL;
    db_status s = DB_OK;
    for (int j = 0; j < p->parts && !s; j++)
        s = dc_part_add(out, plane_names[j], DT_U32, 1, dc_fmt_words(n, dq_width(p, j)), 0,
                        (void **)&plane[j]);
    if (!s)
        s = dc_part_add(out, "scale", DT_F16, 1, p->parts, 0, (void **)&scale);
    if (!s && p->group == 0)
        s = dc_part_add(out, "group", DT_U16, 1, 1, 0, (void **)&gpart);
    if (s)
        return s;
    dq_cand w[2];
    memset(w, 0, sizeof w);
    float *d = db_malloc_array((size_t)(N * K), sizeof *d);
    float *E = H && nc > 1 ? db_malloc_array((size_t)(2 * N * K), sizeof *E) : NULL;
    s = !d || (H && nc > 1 && !E) ? db_error(DB_ERR_NOMEM, "deltadq: out of memory") : DB_OK;
    for (int i = 0; i < (nc > 1 ? 2 : 1) && !s; i++)
        s = dq_cand_alloc(&w[i], p->parts, n, cand[nc - 1]);
    if (!s)
        s = dc_src_delta(src, d);
    if (s)
        goto done;
    /* the search: w[0] holds the best so far, w[1] the candidate being tried */
    double best = 0.0;
    int64_t bestG = cand[0];
    for (int i = 0; i < nc; i++) {
        dq_cand *t = i == 0 ? &w[0] : &w[1];
        double e = dq_try(src, p, out->tid, d, E ? H : NULL, cand[i], t, E, E ? E + N * K : NULL);
        if (i == 0 || e < best) {
            if (i) {
                dq_cand tmp = w[0];
                w[0] = w[1], w[1] = tmp;
            }
            best = e, bestG = cand[i];
        }
    }
    for (int j = 0; j < p->parts; j++) {
        const int b = dq_width(p, j);
        for (int64_t i = 0; i < n; i++)
            dc_fmt_put(plane[j], i, b, w[0].code[j][i]);
        scale[j] = w[0].scale[j];
    }
    if (gpart)
        gpart[0] = (uint16_t)bestG;
done:
    db_free(d), db_free(E);
    dq_cand_free(&w[0]), dq_cand_free(&w[1]);
    return s;
}

/* Content checks of a stored tensor: the stored group is a candidate, scales finite and >= 0. */
static db_status dq_check_parts(const dc_packed *pk)
{
    const dc_params *p = &pk->params;
    const dc_part *sp = dc_packed_part(pk, "scale");
    for (int j = 0; sp && j < p->parts; j++) {
        float s = f16_to_f32(((const uint16_t *)sp->data)[j]);
        if (!(s >= 0.0f && s <= 65504.0f))
            return db_error(DB_ERR_FORMAT, "deltadq: scale of stage %d is %g, not a finite "
                            "non-negative number", j, (double)s);
    }
    const dc_part *gp = dc_packed_part(pk, "group");
    if (p->group == 0 && gp) {
        unsigned G = ((const uint16_t *)gp->data)[0];
        int64_t cand[DQ_MAXCAND];
        int nc = dq_candidates(p, pk->K, cand);
        for (int i = 0; i < nc; i++)
            if (cand[i] == (int64_t)G)
                return DB_OK;
        return db_error(DB_ERR_FORMAT, "deltadq: stored group size %u is not one the search "
                        "tries for %lld columns at drop %g", G, (long long)pk->K, p->drop);
    }
    return DB_OK;
}

/* Row-wise access shared by decode and apply: positions and codes of row r. */
typedef struct {
    const uint32_t *plane[4];
    float scale[4];
    int width[4];
    int32_t *pos, *scratch;
    int64_t kept, G, c;
} dq_view;

static db_status dq_view_open(const dc_packed *pk, dq_view *v)
{
    const dc_params *p = &pk->params;
    memset(v, 0, sizeof *v);
    db_status s = dq_check_parts(pk);
    for (int j = 0; j < p->parts && !s; j++) {
        s = dc_part_need(pk, plane_names[j], DT_U32, (const void **)&v->plane[j]);
        v->width[j] = dq_width(p, j);
    }
    const uint16_t *sc = NULL, *g = NULL;
    if (!s)
        s = dc_part_need(pk, "scale", DT_F16, (const void **)&sc);
    if (!s && p->group == 0)
        s = dc_part_need(pk, "group", DT_U16, (const void **)&g);
    if (s)
        return s;
    for (int j = 0; j < p->parts; j++)
        v->scale[j] = f16_to_f32(sc[j]);
    v->G = g ? (int64_t)g[0] : p->group;
    v->c = dc_dq_c(v->G, p->drop);
    v->kept = dc_dq_row_kept(pk->K, v->G, v->c);
    v->pos = db_malloc_array((size_t)v->kept + 1, sizeof *v->pos);
    v->scratch = db_malloc_array((size_t)v->G, sizeof *v->scratch);
    if (!v->pos || !v->scratch) {
        db_free(v->pos), db_free(v->scratch);
        return db_error(DB_ERR_NOMEM, "deltadq: out of memory");
    }
    return DB_OK;
}

static void dq_view_close(dq_view *v) { db_free(v->pos), db_free(v->scratch); }

/* The reconstructed value of kept entry i of the matrix (row-major over rows, then kept). */
static inline float dq_value(const dc_packed *pk, const dq_view *v, int64_t i)
{
    float x = 0.0f;
    for (int j = 0; j < pk->params.parts; j++)
        x += dq_level(v->scale[j], dc_fmt_get(v->plane[j], i, v->width[j]), v->width[j]);
    return x;
}

static db_status dq_decode(const dc_packed *pk, float *delta)
{
    dq_view v;
    db_status s = dq_view_open(pk, &v);
    if (s)
        return s;
    const int64_t K = pk->K;
    memset(delta, 0, sizeof *delta * (size_t)pk->N * (size_t)K);
    for (int64_t r = 0; r < pk->N; r++) {
        dc_dq_positions(pk->params.seed, pk->tid, r, K, v.G, v.c, v.pos, v.scratch);
        for (int64_t j = 0; j < v.kept; j++)
            delta[r * K + v.pos[j]] = dq_value(pk, &v, r * v.kept + j);
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
    for (int64_t r = 0; r < N; r++) {
        dc_dq_positions(pk->params.seed, pk->tid, r, K, v.G, v.c, v.pos, v.scratch);
        for (int64_t b = 0; b < B; b++) {
            double acc = 0.0;
            for (int64_t j = 0; j < v.kept; j++)
                acc += (double)dq_value(pk, &v, r * v.kept + j) * x[b * K + v.pos[j]];
            y[b * N + r] += (float)acc;
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
    .summary = "DeltaDQ (our reading): group-wise dropout, searched group, residual code stages",
    .bound = "kept |d^ - d (t/kept)| <= s_last/2 (s_last = last stage's scale), dropped entries 0; "
             "positions from seed",
    .uses = DC_P_BITS | DC_P_GROUP | DC_P_DROP | DC_P_PARTS | DC_P_SEED | DC_P_CALIB,
    .format_since = 2,
    .defaults = dq_defaults,
    .check = dq_check,
    .encode = dq_encode,
    .decode_dense = dq_decode,
    .bytes = dq_bytes,
    .bytes_exact = true,
    .apply_ref = dq_apply,
    .layout = dq_layout,
    .check_parts = dq_check_parts,
};
