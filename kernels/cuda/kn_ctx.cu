/* kn_ctx.cu: the CUDA side of a kn_ctx: stream, handles, events, device memory, timing and the
 * device copy bandwidth (cudaMemcpyAsync D2D, the measured ceiling every kernel is compared to). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/kn_cuda.cuh"

static void destroy_partial(cuda_kn *c)
{
    if (c->sp)
        cusparseDestroy(c->sp);
    if (c->blas)
        cublasDestroy(c->blas);
    for (int i = 0; i < CUDA_KN_EVENTS; i++)
        if (c->ev[i])
            cudaEventDestroy(c->ev[i]);
    if (c->staged)
        cudaEventDestroy(c->staged);
    if (c->dtab)
        cudaFree(c->dtab);
    if (c->scratch)
        cudaFree(c->scratch);
    if (c->spbuf)
        cudaFree(c->spbuf);
    if (c->htab)
        cudaFreeHost(c->htab);
    if (c->st)
        cudaStreamDestroy(c->st);
    free(c);
}

static db_status create_parts(cuda_kn *c)
{
    CK_CUDA(cudaGetDeviceProperties(&c->prop, 0));
    CK_CUDA(cudaSetDevice(0));
    CK_CUDA(cudaStreamCreateWithFlags(&c->st, cudaStreamNonBlocking));
    for (int i = 0; i < CUDA_KN_EVENTS; i++)
        CK_CUDA(cudaEventCreate(&c->ev[i]));
    CK_CUDA(cudaEventCreateWithFlags(&c->staged, cudaEventDisableTiming));
    CK_BLAS(cublasCreate(&c->blas));
    CK_BLAS(cublasSetStream(c->blas, c->st));
    CK_SPARSE(cusparseCreate(&c->sp));
    CK_SPARSE(cusparseSetStream(c->sp, c->st));
    return DB_OK;
}

extern "C" db_status cuda_kn_create(cuda_kn **out)
{
    *out = NULL;
    device_info info;
    db_status s = cuda_device_query(&info);
    if (s)
        return s;
    cuda_kn *c = (cuda_kn *)calloc(1, sizeof *c);
    if (!c)
        return db_error(DB_ERR_NOMEM, "kernels: out of memory (CUDA context)");
    if ((s = create_parts(c))) {
        destroy_partial(c);
        return s;
    }
    *out = c;
    return DB_OK;
}

extern "C" void cuda_kn_destroy(cuda_kn *c)
{
    if (!c)
        return;
    cudaStreamSynchronize(c->st);
    destroy_partial(c);
}

db_status cuda_kn_grow(void **p, size_t *cap, size_t need)
{
    if (*p && *cap >= need)
        return DB_OK;
    if (*p)
        CK_CUDA(cudaFree(*p));
    *p = NULL;
    *cap = 0;
    CK_CUDA(cudaMalloc(p, need ? need : 256));
    *cap = need;
    return DB_OK;
}

extern "C" db_status cuda_kn_alloc(size_t bytes, void **p)
{
    *p = NULL;
    CK_CUDA(cudaMalloc(p, bytes ? bytes : 256));
    return DB_OK;
}

extern "C" void cuda_kn_free(void *p)
{
    if (p)
        cudaFree(p);
}

extern "C" db_status cuda_kn_memcpy(cuda_kn *c, void *dst, const void *src, size_t n, int kind)
{
    if (!n)
        return DB_OK;
    cudaMemcpyKind k = kind == CUDA_KN_H2D ? cudaMemcpyHostToDevice
                       : kind == CUDA_KN_D2H ? cudaMemcpyDeviceToHost
                                             : cudaMemcpyDeviceToDevice;
    CK_CUDA(cudaMemcpyAsync(dst, src, n, k, c->st));
    CK_CUDA(cudaStreamSynchronize(c->st));
    return DB_OK;
}

extern "C" db_status cuda_kn_sync(cuda_kn *c)
{
    CK_CUDA(cudaStreamSynchronize(c->st));
    return DB_OK;
}

extern "C" db_status cuda_kn_mark(cuda_kn *c, int i)
{
    CK_CUDA(cudaEventRecord(c->ev[i], c->st));
    return DB_OK;
}

extern "C" db_status cuda_kn_elapsed(cuda_kn *c, int i, int j, double *seconds)
{
    float ms = 0;
    CK_CUDA(cudaEventSynchronize(c->ev[j]));
    CK_CUDA(cudaEventElapsedTime(&ms, c->ev[i], c->ev[j]));
    *seconds = 1e-3 * (double)ms;
    return DB_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

extern "C" db_status cuda_kn_copy_bw(cuda_kn *c, size_t bytes, int repeat, double *bps)
{
    void *a = NULL, *b = NULL;
    CK_CUDA(cudaMalloc(&a, bytes));
    cudaError_t e = cudaMalloc(&b, bytes);
    if (e != cudaSuccess) {
        cudaFree(a);
        return db_error(DB_ERR_CUDA, "cudaMalloc(%zu): %s", bytes, cudaGetErrorString(e));
    }
    double *t = (double *)calloc((size_t)repeat, sizeof *t);
    if (!t) {
        cudaFree(a);
        cudaFree(b);
        return db_error(DB_ERR_NOMEM, "kernels: out of memory");
    }
    db_status s = DB_OK;
    e = cudaMemsetAsync(a, 1, bytes, c->st);
    for (int r = -1; r < repeat && e == cudaSuccess; r++) { /* r = -1: warm-up */
        e = cudaEventRecord(c->ev[0], c->st);
        if (e == cudaSuccess)
            e = cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, c->st);
        if (e == cudaSuccess)
            e = cudaEventRecord(c->ev[1], c->st);
        float ms = 0;
        if (e == cudaSuccess)
            e = cudaEventSynchronize(c->ev[1]);
        if (e == cudaSuccess)
            e = cudaEventElapsedTime(&ms, c->ev[0], c->ev[1]);
        if (r >= 0)
            t[(size_t)r] = 1e-3 * (double)ms;
    }
    if (e != cudaSuccess)
        s = db_error(DB_ERR_CUDA, "copy bandwidth: %s", cudaGetErrorString(e));
    cudaFree(a);
    cudaFree(b);
    if (s) {
        free(t);
        return s;
    }
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    double med = repeat % 2 ? t[(size_t)repeat / 2]
                            : 0.5 * (t[(size_t)repeat / 2 - 1] + t[(size_t)repeat / 2]);
    free(t);
    *bps = med > 0 ? 2.0 * (double)bytes / med : 0.0;
    return DB_OK;
}

extern "C" size_t cuda_kn_l2_bytes(const cuda_kn *c) { return (size_t)c->prop.l2CacheSize; }

extern "C" void cuda_kn_name(const cuda_kn *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s (sm_%d%d, %d SMs)", c->prop.name, c->prop.major, c->prop.minor,
             c->prop.multiProcessorCount);
}
