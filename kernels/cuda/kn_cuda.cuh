/* kn_cuda.cuh: private to kernels/cuda/kn_*.cu: the CUDA context behind a kn_ctx and the
 * checked-call macros (every CUDA, cuBLAS and cuSPARSE call goes through one of them). */
#ifndef DB_KN_CUDA_CUH
#define DB_KN_CUDA_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusparse.h>

#include "kernels/cuda/cuda_api.h"

#define CUDA_KN_EVENTS 8

struct cuda_kn {
    cudaStream_t st;
    cublasHandle_t blas;
    cusparseHandle_t sp;
    cudaEvent_t ev[CUDA_KN_EVENTS];
    cudaEvent_t staged;   /* the last descriptor upload has been consumed by the copy engine */
    cudaDeviceProp prop;
    void *dtab;           /* device: part pointer tables + row grouping of the current call */
    size_t dtab_cap;
    void *htab;           /* pinned host staging of dtab */
    size_t htab_cap;
    void *scratch;        /* device: gathered x (fp16), per-group outputs, cuSPARSE buffer */
    size_t scratch_cap;
    void *spbuf;          /* device: cuSPARSE SpMM workspace */
    size_t spbuf_cap;
};

#define CK_CUDA(call)                                                                              \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess)                                                                     \
            return db_error(DB_ERR_CUDA, "%s:%d: %s: %s", __FILE__, __LINE__, #call,               \
                            cudaGetErrorString(e_));                                               \
    } while (0)

#define CK_BLAS(call)                                                                              \
    do {                                                                                           \
        cublasStatus_t e_ = (call);                                                                \
        if (e_ != CUBLAS_STATUS_SUCCESS)                                                           \
            return db_error(DB_ERR_CUDA, "%s:%d: %s: cuBLAS status %d", __FILE__, __LINE__, #call, \
                            (int)e_);                                                              \
    } while (0)

#define CK_SPARSE(call)                                                                            \
    do {                                                                                           \
        cusparseStatus_t e_ = (call);                                                              \
        if (e_ != CUSPARSE_STATUS_SUCCESS)                                                         \
            return db_error(DB_ERR_CUDA, "%s:%d: %s: %s", __FILE__, __LINE__, #call,               \
                            cusparseGetErrorString(e_));                                           \
    } while (0)

/* Checks the launch just queued (configuration errors) without synchronising. */
#define CK_LAUNCH() CK_CUDA(cudaGetLastError())

/* Grows a device buffer (contents not kept). */
db_status cuda_kn_grow(void **p, size_t *cap, size_t need);

#endif
