/* m_lowrank.c: truncated SVD of the delta, Δ ≈ A B with A = U_r diag(S_r) [N, r] and B = V_rᵀ
 * [r, K], both fp16 (the low-rank baseline of BitDelta §4 and Delta-CoMe). The SVD is LAPACK's
 * sgesdd (OpenBLAS). For min(N, K) <= DC_LR_EXACT_MAX the full SVD is taken (exact truncation,
 * Eckart-Young bound); above it a randomized range finder (Halko, Martinsson & Tropp 2011,
 * Alg. 4.4: Gaussian test matrix from a fixed seed, oversampling 16, 2 subspace iterations,
 * QR by sgeqrf/sorgqr) reduces Δ to (r + 16) rows before sgesdd, as torch.svd_lowrank does;
 * a 4096 x 11008 full SVD would take minutes per tensor on this machine. */
#include <cblas.h>
#include <string.h>

#include "compressors/internal.h"
#include "compressors/lapack.h"
#include "core/alloc.h"

#define DC_LR_EXACT_MAX 1024
#define DC_LR_OVERSAMPLE 16
#define DC_LR_POWER_ITERS 2

static void lr_defaults(dc_params *p) { p->rank = 64; }

static db_status lr_check(const dc_params *p)
{
    if (p->rank < 1)
        return db_error(DB_ERR_ARG, "lowrank: rank %lld must be >= 1", (long long)p->rank);
    return DB_OK;
}

static db_status lr_check_shape(const dc_params *p, int64_t N, int64_t K)
{
    int64_t mn = N < K ? N : K;
    if (p->rank > mn)
        return db_error(DB_ERR_ARG, "lowrank: rank %lld exceeds min(%lld, %lld)",
                        (long long)p->rank, (long long)N, (long long)K);
    if (N > 2147483647 / 2 || K > 2147483647 / 2)
        return db_error(DB_ERR_ARG, "lowrank: %lld x %lld is too large for LAPACK's int",
                        (long long)N, (long long)K);
    return DB_OK;
}

static int lr_layout(const dc_params *p, int64_t N, int64_t K, dc_part *parts)
{
    dc_layout_set(&parts[0], "A", DT_F16, 2, N, p->rank);
    dc_layout_set(&parts[1], "B", DT_F16, 2, p->rank, K);
    return 2;
}

/* SVD of the column-major m x n matrix a (destroyed): s[min], u [m, min], vt [min, n]. */
static db_status svd(int m, int n, float *a, float *s, float *u, float *vt)
{
    int mn = m < n ? m : n, info = 0, lwork = -1;
    float wq;
    int *iw = db_malloc_array((size_t)8 * (size_t)mn, sizeof *iw);
    if (!iw)
        return db_error(DB_ERR_NOMEM, "lowrank: out of memory");
    sgesdd_("S", &m, &n, a, &m, s, u, &m, vt, &mn, &wq, &lwork, iw, &info, 1);
    lwork = (int)wq + 1;
    float *work = db_malloc_array((size_t)lwork, sizeof *work);
    if (!work) {
        db_free(iw);
        return db_error(DB_ERR_NOMEM, "lowrank: out of memory for the SVD workspace");
    }
    sgesdd_("S", &m, &n, a, &m, s, u, &m, vt, &mn, work, &lwork, iw, &info, 1);
    db_free(work);
    db_free(iw);
    if (info != 0)
        return db_error(DB_ERR_NUMERIC, "lowrank: sgesdd failed (info %d)", info);
    return DB_OK;
}

/* Orthonormalises the columns of the column-major m x l matrix y in place (thin QR). */
static db_status orth(int m, int l, float *y, float *tau)
{
    int info = 0, lwork = -1;
    float wq;
    sgeqrf_(&m, &l, y, &m, tau, &wq, &lwork, &info);
    lwork = (int)wq + 1;
    float *work = db_malloc_array((size_t)lwork, sizeof *work);
    if (!work)
        return db_error(DB_ERR_NOMEM, "lowrank: out of memory");
    sgeqrf_(&m, &l, y, &m, tau, work, &lwork, &info);
    if (!info)
        sorgqr_(&m, &l, &l, y, &m, tau, work, &lwork, &info);
    db_free(work);
    return info ? db_error(DB_ERR_NUMERIC, "lowrank: QR failed (info %d)", info) : DB_OK;
}

static db_status lr_encode(const dc_src *src, const dc_params *p, const float *H, dc_packed *out)
{
    (void)H;
    const int N = (int)src->N, K = (int)src->K, r = (int)p->rank;
    const int mn = N < K ? N : K;
    uint16_t *A, *B;
    db_status s = dc_part_add(out, "A", DT_F16, 2, N, r, (void **)&A);
    if (!s)
        s = dc_part_add(out, "B", DT_F16, 2, r, K, (void **)&B);
    if (s)
        return s;
    /* Δ row-major [N, K] is D = Δᵀ column-major K x N (ld K). */
    float *d = db_malloc_array((size_t)N * (size_t)K, sizeof *d);
    float *S = NULL, *U = NULL, *VT = NULL, *Y = NULL, *Z = NULL, *tau = NULL;
    if (!d)
        return db_error(DB_ERR_NOMEM, "lowrank: out of memory");
    s = dc_src_delta(src, d);
    if (s)
        goto done;
    if (mn <= DC_LR_EXACT_MAX || r + DC_LR_OVERSAMPLE >= mn) {
        /* exact: D = U S VT  =>  Δ = V S Uᵀ; A[n][i] = VT[i, n] S[i], B[i][k] = U[k, i] */
        S = db_malloc_array((size_t)mn, sizeof *S);
        U = db_malloc_array((size_t)K * (size_t)mn, sizeof *U);
        VT = db_malloc_array((size_t)mn * (size_t)N, sizeof *VT);
        if (!S || !U || !VT) {
            s = db_error(DB_ERR_NOMEM, "lowrank: out of memory");
            goto done;
        }
        s = svd(K, N, d, S, U, VT);
        if (s)
            goto done;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < r; i++)
                A[(size_t)n * r + i] = f32_to_f16(VT[i + (size_t)n * mn] * S[i]);
        for (int i = 0; i < r; i++)
            for (int k = 0; k < K; k++)
                B[(size_t)i * K + k] = f32_to_f16(U[k + (size_t)i * K]);
        goto done;
    }
    /* randomized: Y = Δ Ω (N x l), subspace iterations, Q = orth(Y), C = D Q = (Qᵀ Δ)ᵀ (K x l),
     * C = Uc S Vcᵀ  =>  Δ ≈ Q Vc S Ucᵀ */
    const int l = r + DC_LR_OVERSAMPLE;
    Y = db_malloc_array((size_t)N * (size_t)l, sizeof *Y);
    Z = db_malloc_array((size_t)K * (size_t)l, sizeof *Z);
    tau = db_malloc_array((size_t)l, sizeof *tau);
    S = db_malloc_array((size_t)l, sizeof *S);
    U = db_malloc_array((size_t)K * (size_t)l, sizeof *U);
    VT = db_malloc_array((size_t)l * (size_t)l, sizeof *VT);
    if (!Y || !Z || !tau || !S || !U || !VT) {
        s = db_error(DB_ERR_NOMEM, "lowrank: out of memory");
        goto done;
    }
    db_rng rng;
    rng_stream(&rng, 0x10f4a9, out->tid);
    for (size_t i = 0; i < (size_t)K * l; i++)
        Z[i] = (float)rng_normal(&rng);
    /* Y = Dᵀ Ω */
    cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, N, l, K, 1.0f, d, K, Z, K, 0.0f, Y, N);
    for (int it = 0; it < DC_LR_POWER_ITERS && !s; it++) {
        s = orth(N, l, Y, tau);
        if (!s) /* Z = D Y */
            cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, K, l, N, 1.0f, d, K, Y, N,
                        0.0f, Z, K);
        if (!s)
            s = orth(K, l, Z, tau);
        if (!s) /* Y = Dᵀ Z */
            cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, N, l, K, 1.0f, d, K, Z, K, 0.0f,
                        Y, N);
    }
    if (!s)
        s = orth(N, l, Y, tau);
    if (s)
        goto done;
    /* C = D Q into Z (K x l), then SVD(C) */
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, K, l, N, 1.0f, d, K, Y, N, 0.0f, Z, K);
    s = svd(K, l, Z, S, U, VT);
    if (s)
        goto done;
    /* A = Q Vc[:, :r] diag(S): Vc[j][i] = VT[i + j l]; A[n][i] = Σ_j Q[n, j] Vc[j, i] S[i] */
    for (int n = 0; n < N; n++)
        for (int i = 0; i < r; i++) {
            double acc = 0.0;
            for (int j = 0; j < l; j++)
                acc += (double)Y[n + (size_t)j * N] * VT[i + (size_t)j * l];
            A[(size_t)n * r + i] = f32_to_f16((float)(acc * S[i]));
        }
    for (int i = 0; i < r; i++)
        for (int k = 0; k < K; k++)
            B[(size_t)i * K + k] = f32_to_f16(U[k + (size_t)i * K]);
done:
    db_free(d), db_free(S), db_free(U), db_free(VT), db_free(Y), db_free(Z), db_free(tau);
    return s;
}

static db_status lr_view(const dc_packed *pk, const uint16_t **A, const uint16_t **B)
{
    db_status s = dc_part_need(pk, "A", DT_F16, (const void **)A);
    return s ? s : dc_part_need(pk, "B", DT_F16, (const void **)B);
}

/* Δ̂ = A B through cblas_sgemm (a scalar triple loop is seconds per 4096 x 11008 tensor). */
static db_status lr_decode(const dc_packed *pk, float *delta)
{
    const uint16_t *A, *B;
    db_status s = lr_view(pk, &A, &B);
    if (s)
        return s;
    const int64_t N = pk->N, K = pk->K, r = pk->params.rank;
    float *a = db_malloc_array((size_t)(N * r), sizeof *a), *b = db_malloc_array((size_t)(r * K), sizeof *b);
    if (!a || !b) {
        db_free(a), db_free(b);
        return db_error(DB_ERR_NOMEM, "lowrank: out of memory");
    }
    f16_to_f32_array(A, a, (size_t)(N * r));
    f16_to_f32_array(B, b, (size_t)(r * K));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)K, (int)r, 1.0f, a, (int)r,
                b, (int)K, 0.0f, delta, (int)K);
    db_free(a), db_free(b);
    return DB_OK;
}

static db_status lr_apply(const dc_packed *pk, int64_t Bn, const float *x, float *y)
{
    const uint16_t *A, *B;
    db_status s = lr_view(pk, &A, &B);
    if (s)
        return s;
    const int64_t N = pk->N, K = pk->K, r = pk->params.rank;
    double *t = db_malloc_array((size_t)r, sizeof *t);
    if (!t)
        return db_error(DB_ERR_NOMEM, "lowrank: out of memory");
    for (int64_t b = 0; b < Bn; b++) { /* y += A (B x): the two skinny products */
        for (int64_t i = 0; i < r; i++) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; k++)
                acc += (double)f16_to_f32(B[i * K + k]) * x[b * K + k];
            t[i] = acc;
        }
        for (int64_t n = 0; n < N; n++) {
            double acc = 0.0;
            for (int64_t i = 0; i < r; i++)
                acc += (double)f16_to_f32(A[n * r + i]) * t[i];
            y[b * N + n] += (float)acc;
        }
    }
    db_free(t);
    return DB_OK;
}

static double lr_bytes(const dc_params *p, int64_t N, int64_t K)
{
    return 2.0 * (double)p->rank * (double)(N + K);
}

const dc_method dc_method_lowrank = {
    .name = "lowrank",
    .summary = "truncated SVD (LAPACK sgesdd), rank r, fp16 factors",
    .bound = "||d^ - d||_F^2 <= sum_{i>r} s_i^2 + fp16 rounding of the factors (exact SVD)",
    .uses = DC_P_RANK,
    .defaults = lr_defaults,
    .check = lr_check,
    .check_shape = lr_check_shape,
    .encode = lr_encode,
    .decode_dense = lr_decode,
    .bytes = lr_bytes,
    .bytes_exact = true,
    .apply_ref = lr_apply,
    .layout = lr_layout,
};
