/* tensor.h: dtypes and the tensor type shared by every module.
 *
 * A tensor is plain data: dtype, shape, strides (in elements), a data pointer and whether it owns
 * that memory. Views (owner = false) point into memory-mapped safetensors files or other tensors;
 * owned tensors are allocated by tensor_alloc() and released by tensor_free(). Packed formats
 * (sign bits, low-bit codes, n:m metadata) are U8/U32 tensors whose layout the compressor that
 * wrote them declares in kernels/formats.h. */
#ifndef DB_TENSOR_H
#define DB_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    DT_F32,
    DT_F16,
    DT_BF16,
    DT_F64,
    DT_I8,
    DT_U8,
    DT_I16,
    DT_U16,
    DT_I32,
    DT_U32,
    DT_I64,
    DT_U64,
    DT_BOOL,
    DT_COUNT
} db_dtype;

#define TENSOR_MAX_DIMS 8

typedef struct {
    db_dtype dtype;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    int64_t strides[TENSOR_MAX_DIMS]; /* in elements; row-major contiguous by default */
    void *data;
    bool owner; /* tensor_free releases data only when true */
} db_tensor;

size_t dtype_size(db_dtype dt);          /* bytes per element */
const char *dtype_name(db_dtype dt);     /* safetensors spelling: "F32", "F16", "BF16", ... */
/* Parses a safetensors dtype name; DB_ERR_DTYPE (no message) when unknown. */
db_status dtype_parse(const char *name, db_dtype *out);
bool dtype_is_float(db_dtype dt);        /* F32, F16, BF16, F64 */

/* Product of shape[0..ndim); 1 for ndim 0. Returns -1 on overflow or a negative dimension. */
int64_t shape_numel(int ndim, const int64_t *shape);

/* A contiguous view of caller memory (owner = false). ndim <= TENSOR_MAX_DIMS. */
db_status tensor_view(db_tensor *t, db_dtype dt, int ndim, const int64_t *shape, void *data);
/* An owned, zero-filled, contiguous tensor (64-byte aligned). */
db_status tensor_alloc(db_tensor *t, db_dtype dt, int ndim, const int64_t *shape);
void tensor_free(db_tensor *t); /* NULL or a view: releases nothing it does not own */

int64_t tensor_numel(const db_tensor *t);
size_t tensor_nbytes(const db_tensor *t); /* numel * dtype_size, for contiguous tensors */
bool tensor_is_contiguous(const db_tensor *t);
bool tensor_same_shape(const db_tensor *a, const db_tensor *b);

/* Converts a contiguous F32/F16/BF16/F64 tensor to float; DB_ERR_DTYPE for other dtypes. */
db_status tensor_to_f32(const db_tensor *t, float *out);
/* Index of the first NaN/Inf of a contiguous float tensor, or -1 when all are finite. */
int64_t tensor_find_nonfinite(const db_tensor *t);
/* Writes "[4096, 11008]" into buf (always NUL-terminated). */
void shape_format(char *buf, size_t n, int ndim, const int64_t *shape);

#ifdef __cplusplus
}
#endif

#endif
