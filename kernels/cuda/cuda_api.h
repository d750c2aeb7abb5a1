/* cuda_api.h: the C-callable entry points of the kernels/cuda sources (host side, no CUDA headers).
 *
 * Only kernels/ includes this; every entry validates its arguments and returns a db_status. */
#ifndef DB_CUDA_API_H
#define DB_CUDA_API_H

#include "core/status.h"
#include "kernels/device.h"
#include "kernels/kn_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Device 0's properties; DB_ERR_NO_DEVICE when the runtime finds none (message says why). */
db_status cuda_device_query(device_info *info);

/* ---- kernels (kernels/cuda/kn_ctx.cu, kn_ops.cu): the CUDA side of kernels/kernels.h ---- */

/* Stream, events, cuBLAS/cuSPARSE handles and cached device workspaces of one kn_ctx. */
typedef struct cuda_kn cuda_kn;

enum { CUDA_KN_H2D = 0, CUDA_KN_D2H = 1, CUDA_KN_D2D = 2 };

/* A context on device 0 (DB_ERR_NO_DEVICE without one). */
db_status cuda_kn_create(cuda_kn **out);
void cuda_kn_destroy(cuda_kn *c); /* NULL is a no-op */
db_status cuda_kn_alloc(size_t bytes, void **p);
void cuda_kn_free(void *p); /* NULL is a no-op */
/* Copies n bytes on the context's stream and waits (kind: CUDA_KN_*). */
db_status cuda_kn_memcpy(cuda_kn *c, void *dst, const void *src, size_t n, int kind);
db_status cuda_kn_sync(cuda_kn *c);
/* Records event i (0..7) on the stream; seconds between events i and j (waits for j). */
db_status cuda_kn_mark(cuda_kn *c, int i);
db_status cuda_kn_elapsed(cuda_kn *c, int i, int j, double *seconds);
/* Median D2D cudaMemcpyAsync bandwidth (read + write bytes per second) over repeat copies. */
db_status cuda_kn_copy_bw(cuda_kn *c, size_t bytes, int repeat, double *bytes_per_s);
size_t cuda_kn_l2_bytes(const cuda_kn *c);
void cuda_kn_name(const cuda_kn *c, char *buf, size_t n);
/* kn_delta_gemm on the GPU: g (host arrays) from the dispatcher; x, y device memory. */
db_status cuda_kn_delta_gemm(cuda_kn *c, const kn_deltas *dl, const kn_groups *g, int64_t B,
                             const float *x, float *y, bool acc);
/* kn_delta_gemm_dequant on the GPU; dq: device fp16 [N, K] scratch. */
db_status cuda_kn_delta_gemm_dequant(cuda_kn *c, const kn_deltas *dl, const kn_groups *g,
                                     int64_t B, const float *x, float *y, bool acc, uint16_t *dq);
/* Δ_d as fp16 [N, K] into device memory out. */
db_status cuda_kn_dequant16(cuda_kn *c, const kn_deltas *dl, int d, uint16_t *out);

#ifdef __cplusplus
}
#endif

#endif
