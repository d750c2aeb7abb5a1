/* kn_ops.cu: the CUDA delta kernels behind kn_delta_gemm / kn_delta_gemm_dequant / kn_dequant16.
 *
 * Three layers per op: the extern "C" host entry validates and stages the call's descriptor
 * (part pointer tables + row grouping, one pinned H2D copy); a launcher picks grid and block on
 * the context's stream; the __global__ kernel. Every launch and library call is checked.
 *
 *   bitdelta  one launch: grid (row tiles, groups); a warp per output row and group, lanes over
 *             columns (x reads coalesced, the sign word is a warp broadcast), up to 4 request rows
 *             of the group per pass; the packed row is read once per group.
 *   nmq       one launch (DeltaZip's SBMM): same grid; lanes over kept slots, dc_fmt_get decodes
 *             code and in-group index, so any n:m and width works.
 *   csr       cuSPARSE SpMM per group (A fp16 CSR, B = the group's x rows in fp16, C fp16).
 *   lowrank   two launches: t = B x (a warp per (row, r)), y (+)= A t (a warp per (n, group)).
 *   dense16   cuBLAS GemmEx per group (fp16/bf16 in, f32 out and accumulate), x converted once.
 * First versions written without a GPU at hand (no device lent to the session that wrote them):
 * they are checked against the CPU `_ref` oracles by tests/check_gpu_kernels.c. */
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <string.h>

#include "kernels/cuda/kn_cuda.cuh"

#define WARPS 8
#define THREADS (WARPS * 32)

struct kdesc {
    int64_t N, K, rank;
    int bits, nm_n, nm_m, bf16, u16, D;
    const void *const *parts; /* device [KN_MAX_PARTS * D] */
    const int32_t *gdelta, *start, *perm;
};

__device__ __forceinline__ const void *part(const kdesc &d, int j, int delta)
{
    return d.parts[(size_t)j * (size_t)d.D + (size_t)delta];
}

__device__ __forceinline__ float warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* ---- kernels ---------------------------------------------------------------------------------- */

__global__ void k_zero_rows(float *y, const int32_t *rows, int64_t nrows, int64_t N)
{
    for (int64_t i = blockIdx.x; i < nrows; i += gridDim.x)
        for (int64_t n = threadIdx.x; n < N; n += blockDim.x)
            y[(int64_t)rows[i] * N + n] = 0.0f;
}

__global__ void k_bitdelta(kdesc d, const float *x, float *y, int acc)
{
    const int64_t n = (int64_t)blockIdx.x * WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32, gi = blockIdx.y;
    if (n >= d.N)
        return;
    const int delta = d.gdelta[gi];
    const int64_t W = dc_fmt_words(d.K, 1);
    const uint32_t *sg = (const uint32_t *)part(d, 0, delta) + n * W;
    const float a = *(const float *)part(d, 1, delta);
    for (int32_t i = d.start[gi]; i < d.start[gi + 1]; i += 4) {
        const int R = min(4, d.start[gi + 1] - i);
        float s[4] = {0, 0, 0, 0};
        for (int64_t k = lane; k < d.K; k += 32) {
            const float sign = (sg[k >> 5] >> (k & 31) & 1u) ? 1.0f : -1.0f;
#pragma unroll
            for (int r = 0; r < 4; r++)
                if (r < R)
                    s[r] += sign * x[(int64_t)d.perm[i + r] * d.K + k];
        }
#pragma unroll
        for (int r = 0; r < 4; r++) {
            if (r >= R)
                break;
            const float v = a * warp_sum(s[r]);
            if (lane == 0) {
                float *yo = y + (int64_t)d.perm[i + r] * d.N + n;
                *yo = acc ? *yo + v : v;
            }
        }
    }
}

__global__ void k_nmq(kdesc d, const float *x, float *y, int acc)
{
    const int64_t n = (int64_t)blockIdx.x * WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32, gi = blockIdx.y;
    if (n >= d.N)
        return;
    const int delta = d.gdelta[gi];
    const int ib = dc_fmt_idx_bits(d.nm_m), z = 1 << (d.bits - 1);
    const int64_t S = (d.K + d.nm_m - 1) / d.nm_m * d.nm_n;
    const uint32_t *cw = (const uint32_t *)part(d, 0, delta) + n * dc_fmt_words(S, d.bits);
    const uint32_t *iw = (const uint32_t *)part(d, 1, delta) + n * dc_fmt_words(S, ib);
    const float sc = __half2float(((const __half *)part(d, 2, delta))[n]);
    for (int32_t i = d.start[gi]; i < d.start[gi + 1]; i += 4) {
        const int R = min(4, d.start[gi + 1] - i);
        float s[4] = {0, 0, 0, 0};
        for (int64_t j = lane; j < S; j += 32) {
            const int64_t col = j / d.nm_n * d.nm_m + dc_fmt_get(iw, j, ib);
            const float q = (float)((int)dc_fmt_get(cw, j, d.bits) - z);
            if (col < d.K && q != 0.0f) {
#pragma unroll
                for (int r = 0; r < 4; r++)
                    if (r < R)
                        s[r] += q * x[(int64_t)d.perm[i + r] * d.K + col];
            }
        }
#pragma unroll
        for (int r = 0; r < 4; r++) {
            if (r >= R)
                break;
            const float v = sc * warp_sum(s[r]);
            if (lane == 0) {
                float *yo = y + (int64_t)d.perm[i + r] * d.N + n;
                *yo = acc ? *yo + v : v;
            }
        }
    }
}

/* out[i, k] = x[perm[r0 + i], k] as fp16 / bf16, i < cnt. */
__global__ void k_gather16(const float *x, const int32_t *perm, int32_t r0, int32_t cnt, int64_t K,
                           void *out, int bf16)
{
    const int64_t total = (int64_t)cnt * K;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t i = e / K, k = e % K;
        const float v = x[(int64_t)perm[r0 + i] * K + k];
        if (bf16)
            ((__nv_bfloat16 *)out)[e] = __float2bfloat16(v);
        else
            ((__half *)out)[e] = __float2half(v);
    }
}

/* y[perm[r0 + i], n] (+)= t[i, n] (t f32 or fp16). */
__global__ void k_scatter(const void *t, int t16, const int32_t *perm, int32_t r0, int32_t cnt,
                          int64_t N, float *y, int acc)
{
    const int64_t total = (int64_t)cnt * N;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t i = e / N, n = e % N;
        const float v = t16 ? __half2float(((const __half *)t)[e]) : ((const float *)t)[e];
        float *yo = y + (int64_t)perm[r0 + i] * N + n;
        *yo = acc ? *yo + v : v;
    }
}

/* t[i, q] = B_q · x[perm[i]] for every grouped row i (a warp each). */
__global__ void k_lr_t(kdesc d, int64_t G, int64_t rows, const float *x, float *t)
{
    const int64_t w = (int64_t)blockIdx.x * WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (w >= rows * d.rank)
        return;
    const int64_t i = w / d.rank, q = w % d.rank;
    int64_t gi = 0;
    while (gi + 1 < G && d.start[gi + 1] <= i)
        gi++;
    const __half *Bm = (const __half *)part(d, 1, d.gdelta[gi]) + q * d.K;
    const float *xb = x + (int64_t)d.perm[i] * d.K;
    float s = 0.0f;
    for (int64_t k = lane; k < d.K; k += 32)
        s += __half2float(Bm[k]) * xb[k];
    s = warp_sum(s);
    if (lane == 0)
        t[w] = s;
}

/* y[perm[i], n] (+)= A_n · t[i] for the rows of group blockIdx.y (a warp per n). */
__global__ void k_lr_y(kdesc d, const float *t, float *y, int acc)
{
    const int64_t n = (int64_t)blockIdx.x * WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32, gi = blockIdx.y;
    if (n >= d.N)
        return;
    const __half *A = (const __half *)part(d, 0, d.gdelta[gi]) + n * d.rank;
    for (int32_t i = d.start[gi]; i < d.start[gi + 1]; i++) {
        float s = 0.0f;
        for (int64_t q = lane; q < d.rank; q += 32)
            s += __half2float(A[q]) * t[(int64_t)i * d.rank + q];
        s = warp_sum(s);
        if (lane == 0) {
            float *yo = y + (int64_t)d.perm[i] * d.N + n;
            *yo = acc ? *yo + s : s;
        }
    }
}

/* ---- dequantise to fp16 ------------------------------------------------------------------------ */

__global__ void k_dq_bitdelta(const uint32_t *sg, const float *scale, int64_t N, int64_t K, __half *out)
{
    const int64_t W = dc_fmt_words(K, 1);
    const float a = *scale;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < N * K;
         e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t n = e / K, k = e % K;
        out[e] = __float2half((sg[n * W + (k >> 5)] >> (k & 31) & 1u) ? a : -a);
    }
}

/* Writes the kept values of row n (a warp per row); the row was zeroed first. */
__global__ void k_dq_nmq(kdesc d, int delta, __half *out)
{
    const int64_t n = (int64_t)blockIdx.x * WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (n >= d.N)
        return;
    const int ib = dc_fmt_idx_bits(d.nm_m), z = 1 << (d.bits - 1);
    const int64_t S = (d.K + d.nm_m - 1) / d.nm_m * d.nm_n;
    const uint32_t *cw = (const uint32_t *)part(d, 0, delta) + n * dc_fmt_words(S, d.bits);
    const uint32_t *iw = (const uint32_t *)part(d, 1, delta) + n * dc_fmt_words(S, ib);
    const float sc = __half2float(((const __half *)part(d, 2, delta))[n]);
    for (int64_t j = lane; j < S; j += 32) {
        const int64_t col = j / d.nm_n * d.nm_m + dc_fmt_get(iw, j, ib);
        const int q = (int)dc_fmt_get(cw, j, d.bits) - z;
        if (col < d.K && q != 0)
            out[n * d.K + col] = __float2half(sc * (float)q);
    }
}

__global__ void k_dq_csr(const uint32_t *rp, const uint32_t *cols, const __half *val, int64_t N,
                         int64_t K, __half *out)
{
    const int64_t n = (int64_t)blockIdx.x * WARPS + threadIdx.x / 32;
    const int lane = threadIdx.x % 32;
    if (n >= N)
        return;
    for (int64_t j = rp[n] + lane; j < (int64_t)rp[n + 1]; j += 32)
        out[n * K + cols[j]] = val[j];
}

__global__ void k_dq_lowrank(const __half *A, const __half *Bm, int64_t N, int64_t K, int64_t r,
                             __half *out)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < N * K;
         e += (int64_t)gridDim.x * blockDim.x) {
        const int64_t n = e / K, k = e % K;
        float s = 0.0f;
        for (int64_t q = 0; q < r; q++)
            s += __half2float(A[n * r + q]) * __half2float(Bm[q * K + k]);
        out[e] = __float2half(s);
    }
}

/* ---- staging and launchers ---------------------------------------------------------------------- */

static unsigned grid1d(int64_t work)
{
    int64_t b = (work + THREADS - 1) / THREADS;
    return (unsigned)(b < 1 ? 1 : b > 65535 * 4 ? 65535 * 4 : b);
}

static size_t align256(size_t n) { return (n + 255) & ~(size_t)255; }

/* Uploads the part tables and the grouping; fills the device descriptor. */
static db_status stage(cuda_kn *c, const kn_deltas *dl, const kn_groups *g, kdesc *kd,
                       const int32_t **dnone)
{
    const int64_t rows = g->start[g->G];
    const size_t ptr_bytes = sizeof(void *) * KN_MAX_PARTS * (size_t)dl->D;
    const size_t ints = (size_t)g->G + (size_t)g->G + 1 + (size_t)rows + (size_t)g->nnone;
    const size_t need = align256(ptr_bytes) + sizeof(int32_t) * ints;
    CK_CUDA(cudaEventSynchronize(c->staged)); /* the previous upload has left the staging area */
    if (!c->htab || c->htab_cap < need) {
        if (c->htab)
            CK_CUDA(cudaFreeHost(c->htab));
        c->htab = NULL;
        c->htab_cap = 0;
        CK_CUDA(cudaMallocHost(&c->htab, need));
        c->htab_cap = need;
    }
    db_status s = cuda_kn_grow(&c->dtab, &c->dtab_cap, need);
    if (s)
        return s;
    const void **hp = (const void **)c->htab;
    for (int j = 0; j < KN_MAX_PARTS; j++)
        for (int d = 0; d < dl->D; d++)
            hp[(size_t)j * (size_t)dl->D + (size_t)d] = dl->part[j] ? dl->part[j][d] : NULL;
    int32_t *hi = (int32_t *)((char *)c->htab + align256(ptr_bytes));
    int32_t *o = hi;
    memcpy(o, g->gdelta, sizeof(int32_t) * (size_t)g->G), o += g->G;
    memcpy(o, g->start, sizeof(int32_t) * ((size_t)g->G + 1)), o += g->G + 1;
    memcpy(o, g->perm, sizeof(int32_t) * (size_t)rows), o += rows;
    if (g->nnone)
        memcpy(o, g->none, sizeof(int32_t) * (size_t)g->nnone);
    CK_CUDA(cudaMemcpyAsync(c->dtab, c->htab, need, cudaMemcpyHostToDevice, c->st));
    CK_CUDA(cudaEventRecord(c->staged, c->st));
    const int32_t *di = (const int32_t *)((char *)c->dtab + align256(ptr_bytes));
    memset(kd, 0, sizeof *kd);
    kd->N = dl->N, kd->K = dl->K, kd->rank = dl->rank;
    kd->bits = dl->bits, kd->nm_n = dl->nm_n, kd->nm_m = dl->nm_m;
    kd->bf16 = dl->dtype == DT_BF16, kd->u16 = dl->dtype == DT_U16, kd->D = dl->D;
    kd->parts = (const void *const *)c->dtab;
    kd->gdelta = di;
    kd->start = di + g->G;
    kd->perm = di + g->G + g->G + 1;
    *dnone = di + g->G + g->G + 1 + rows;
    return DB_OK;
}

static db_status zero_none(cuda_kn *c, const kn_groups *g, const int32_t *dnone, int64_t N,
                           float *y, bool acc)
{
    if (acc || !g->nnone)
        return DB_OK;
    k_zero_rows<<<(unsigned)(g->nnone < 4096 ? g->nnone : 4096), 256, 0, c->st>>>(y, dnone, g->nnone, N);
    CK_LAUNCH();
    return DB_OK;
}

/* Gathered x of one group (fp16/bf16) and an output tile [cnt, N] (f32, or fp16 for cuSPARSE). */
static db_status scratch(cuda_kn *c, int64_t cnt, int64_t K, int64_t N, void **x16, void **t)
{
    const size_t a = align256((size_t)(cnt * K) * 2), b = align256((size_t)(cnt * N) * 4);
    db_status s = cuda_kn_grow(&c->scratch, &c->scratch_cap, a + b);
    if (s)
        return s;
    *x16 = c->scratch;
    *t = (char *)c->scratch + a;
    return DB_OK;
}

static bool identity_rows(const kn_groups *g, int64_t B)
{
    if (g->G != 1 || g->start[1] != B)
        return false;
    for (int64_t i = 0; i < B; i++)
        if (g->perm[i] != i)
            return false;
    return true;
}

/* Dense GEMM of one group: y[rows] (+)= W x[rows]; W [N, K] fp16/bf16 (device). */
static db_status dense_group(cuda_kn *c, const void *W, int bf16, int64_t N, int64_t K,
                             const kdesc &kd, int32_t r0, int32_t cnt, bool direct, const float *x,
                             float *y, bool acc)
{
    void *x16, *t;
    db_status s = scratch(c, cnt, K, N, &x16, &t);
    if (s)
        return s;
    k_gather16<<<grid1d((int64_t)cnt * K), THREADS, 0, c->st>>>(x, kd.perm, r0, cnt, K, x16, bf16);
    CK_LAUNCH();
    const float one = 1.0f, beta = direct && acc ? 1.0f : 0.0f;
    const cudaDataType_t ty = bf16 ? CUDA_R_16BF : CUDA_R_16F;
    /* column-major view: C[N, cnt] = W^T[K, N]^T · X[K, cnt] */
    CK_BLAS(cublasGemmEx(c->blas, CUBLAS_OP_T, CUBLAS_OP_N, (int)N, (int)cnt, (int)K, &one, W, ty,
                         (int)K, x16, ty, (int)K, &beta, direct ? (void *)y : t, CUDA_R_32F, (int)N,
                         CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    if (!direct) {
        k_scatter<<<grid1d((int64_t)cnt * N), THREADS, 0, c->st>>>(t, 0, kd.perm, r0, cnt, N, y, acc);
        CK_LAUNCH();
    }
    return DB_OK;
}

static db_status csr_group(cuda_kn *c, const kn_deltas *dl, int delta, const kdesc &kd, int32_t r0,
                           int32_t cnt, const float *x, float *y, bool acc)
{
    const int64_t N = dl->N, K = dl->K, nnz = dl->nnz[delta];
    void *x16, *t;
    db_status s = scratch(c, cnt, K, N, &x16, &t);
    if (s)
        return s;
    k_gather16<<<grid1d((int64_t)cnt * K), THREADS, 0, c->st>>>(x, kd.perm, r0, cnt, K, x16, 0);
    CK_LAUNCH();
    cusparseSpMatDescr_t A = NULL;
    cusparseDnMatDescr_t Bd = NULL, Cd = NULL;
    const float one = 1.0f, zero = 0.0f;
    size_t need = 0;
    cusparseStatus_t e = cusparseCreateCsr(&A, N, K, nnz, (void *)dl->part[0][delta],
                                           (void *)dl->part[1][delta], (void *)dl->part[2][delta],
                                           CUSPARSE_INDEX_32I, CUSPARSE_INDEX_32I,
                                           CUSPARSE_INDEX_BASE_ZERO, CUDA_R_16F);
    if (e == CUSPARSE_STATUS_SUCCESS)
        e = cusparseCreateDnMat(&Bd, K, cnt, K, x16, CUDA_R_16F, CUSPARSE_ORDER_COL);
    if (e == CUSPARSE_STATUS_SUCCESS)
        e = cusparseCreateDnMat(&Cd, N, cnt, N, t, CUDA_R_16F, CUSPARSE_ORDER_COL);
    if (e == CUSPARSE_STATUS_SUCCESS)
        e = cusparseSpMM_bufferSize(c->sp, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                    CUSPARSE_OPERATION_NON_TRANSPOSE, &one, A, Bd, &zero, Cd,
                                    CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, &need);
    if (e == CUSPARSE_STATUS_SUCCESS)
        s = cuda_kn_grow(&c->spbuf, &c->spbuf_cap, need);
    if (e == CUSPARSE_STATUS_SUCCESS && !s)
        e = cusparseSpMM(c->sp, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE,
                         &one, A, Bd, &zero, Cd, CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, c->spbuf);
    if (A)
        cusparseDestroySpMat(A);
    if (Bd)
        cusparseDestroyDnMat(Bd);
    if (Cd)
        cusparseDestroyDnMat(Cd);
    if (s)
        return s;
    if (e != CUSPARSE_STATUS_SUCCESS)
        return db_error(DB_ERR_CUDA, "cuSPARSE SpMM: %s", cusparseGetErrorString(e));
    k_scatter<<<grid1d((int64_t)cnt * N), THREADS, 0, c->st>>>(t, 1, kd.perm, r0, cnt, N, y, acc);
    CK_LAUNCH();
    return DB_OK;
}

extern "C" db_status cuda_kn_delta_gemm(cuda_kn *c, const kn_deltas *dl, const kn_groups *g,
                                        int64_t B, const float *x, float *y, bool acc)
{
    kdesc kd;
    const int32_t *dnone;
    db_status s = stage(c, dl, g, &kd, &dnone);
    if (s || (s = zero_none(c, g, dnone, dl->N, y, acc)) || g->G == 0)
        return s;
    const dim3 grid((unsigned)((dl->N + WARPS - 1) / WARPS), (unsigned)g->G);
    switch (dl->fmt) {
    case KN_FMT_BITDELTA:
        k_bitdelta<<<grid, THREADS, 0, c->st>>>(kd, x, y, acc);
        CK_LAUNCH();
        return DB_OK;
    case KN_FMT_NMQ:
        k_nmq<<<grid, THREADS, 0, c->st>>>(kd, x, y, acc);
        CK_LAUNCH();
        return DB_OK;
    case KN_FMT_LOWRANK: {
        const int64_t rows = g->start[g->G];
        void *x16, *t;
        if ((s = scratch(c, rows, 1, dl->rank, &x16, &t))) /* t: [rows, r] f32 */
            return s;
        k_lr_t<<<grid1d(rows * dl->rank * 32), THREADS, 0, c->st>>>(kd, g->G, rows, x, (float *)t);
        CK_LAUNCH();
        k_lr_y<<<grid, THREADS, 0, c->st>>>(kd, (const float *)t, y, acc);
        CK_LAUNCH();
        return DB_OK;
    }
    case KN_FMT_DENSE16: {
        const bool direct = identity_rows(g, B);
        for (int64_t gi = 0; gi < g->G && !s; gi++)
            s = dense_group(c, dl->part[0][g->gdelta[gi]], kd.bf16, dl->N, dl->K, kd, g->start[gi],
                            g->start[gi + 1] - g->start[gi], direct, x, y, acc);
        return s;
    }
    case KN_FMT_CSR:
        for (int64_t gi = 0; gi < g->G && !s; gi++)
            s = csr_group(c, dl, g->gdelta[gi], kd, g->start[gi], g->start[gi + 1] - g->start[gi],
                          x, y, acc);
        return s;
    default:
        return db_error(DB_ERR_INTERNAL, "kernels: format %d has no CUDA kernel", (int)dl->fmt);
    }
}

/* Launches the dequantisation of delta `delta` into out (kd staged for dl). */
static db_status dequant_launch(cuda_kn *c, const kn_deltas *dl, const kdesc &kd, int delta,
                                uint16_t *out)
{
    const int64_t N = dl->N, K = dl->K;
    const unsigned rows = (unsigned)((N + WARPS - 1) / WARPS);
    switch (dl->fmt) {
    case KN_FMT_DENSE16:
        CK_CUDA(cudaMemcpyAsync(out, dl->part[0][delta], (size_t)(N * K) * 2,
                                cudaMemcpyDeviceToDevice, c->st));
        return DB_OK;
    case KN_FMT_BITDELTA:
        k_dq_bitdelta<<<grid1d(N * K), THREADS, 0, c->st>>>(
            (const uint32_t *)dl->part[0][delta], (const float *)dl->part[1][delta], N, K, (__half *)out);
        CK_LAUNCH();
        return DB_OK;
    case KN_FMT_NMQ:
        CK_CUDA(cudaMemsetAsync(out, 0, (size_t)(N * K) * 2, c->st));
        k_dq_nmq<<<rows, THREADS, 0, c->st>>>(kd, delta, (__half *)out);
        CK_LAUNCH();
        return DB_OK;
    case KN_FMT_CSR:
        CK_CUDA(cudaMemsetAsync(out, 0, (size_t)(N * K) * 2, c->st));
        k_dq_csr<<<rows, THREADS, 0, c->st>>>((const uint32_t *)dl->part[0][delta],
                                              (const uint32_t *)dl->part[1][delta],
                                              (const __half *)dl->part[2][delta], N, K, (__half *)out);
        CK_LAUNCH();
        return DB_OK;
    case KN_FMT_LOWRANK:
        k_dq_lowrank<<<grid1d(N * K), THREADS, 0, c->st>>>((const __half *)dl->part[0][delta],
                                                           (const __half *)dl->part[1][delta], N, K,
                                                           dl->rank, (__half *)out);
        CK_LAUNCH();
        return DB_OK;
    default:
        return db_error(DB_ERR_INTERNAL, "kernels: format %d has no CUDA dequantiser", (int)dl->fmt);
    }
}

extern "C" db_status cuda_kn_dequant16(cuda_kn *c, const kn_deltas *dl, int d, uint16_t *out)
{
    if (dl->fmt == KN_FMT_CSR && dl->dtype != DT_U32)
        return db_error(DB_ERR_UNSUPPORTED, "kernels: CUDA CSR needs U32 columns");
    int32_t zero = 0;
    kn_groups g = {0, &zero, &zero, &zero, 0, &zero};
    kdesc kd;
    const int32_t *dnone;
    db_status s = stage(c, dl, &g, &kd, &dnone);
    return s ? s : dequant_launch(c, dl, kd, d, out);
}

extern "C" db_status cuda_kn_delta_gemm_dequant(cuda_kn *c, const kn_deltas *dl,
                                                const kn_groups *g, int64_t B, const float *x,
                                                float *y, bool acc, uint16_t *dq)
{
    (void)B;
    kdesc kd;
    const int32_t *dnone;
    db_status s = stage(c, dl, g, &kd, &dnone);
    if (s || (s = zero_none(c, g, dnone, dl->N, y, acc)))
        return s;
    for (int64_t gi = 0; gi < g->G && !s; gi++) {
        s = dequant_launch(c, dl, kd, g->gdelta[gi], dq);
        if (!s)
            s = dense_group(c, dq, 0, dl->N, dl->K, kd, g->start[gi],
                            g->start[gi + 1] - g->start[gi], false, x, y, acc);
    }
    return s;
}
