/* tensor.c: dtypes and tensor helpers. */
#include "core/tensor.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/half.h"

static const struct {
    const char *name;
    size_t size;
} dtype_table[DT_COUNT] = {
    [DT_F32] = {"F32", 4}, [DT_F16] = {"F16", 2}, [DT_BF16] = {"BF16", 2}, [DT_F64] = {"F64", 8},
    [DT_I8] = {"I8", 1},   [DT_U8] = {"U8", 1},   [DT_I16] = {"I16", 2},   [DT_U16] = {"U16", 2},
    [DT_I32] = {"I32", 4}, [DT_U32] = {"U32", 4}, [DT_I64] = {"I64", 8},   [DT_U64] = {"U64", 8},
    [DT_BOOL] = {"BOOL", 1},
};

size_t dtype_size(db_dtype dt) { return (unsigned)dt < DT_COUNT ? dtype_table[dt].size : 0; }

const char *dtype_name(db_dtype dt) { return (unsigned)dt < DT_COUNT ? dtype_table[dt].name : "?"; }

db_status dtype_parse(const char *name, db_dtype *out)
{
    for (int i = 0; i < DT_COUNT; i++)
        if (strcmp(name, dtype_table[i].name) == 0) {
            *out = (db_dtype)i;
            return DB_OK;
        }
    return DB_ERR_DTYPE;
}

bool dtype_is_float(db_dtype dt) { return dt == DT_F32 || dt == DT_F16 || dt == DT_BF16 || dt == DT_F64; }

int64_t shape_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] && n > INT64_MAX / shape[i])
            return -1;
        n *= shape[i];
    }
    return n;
}

static db_status set_shape(db_tensor *t, db_dtype dt, int ndim, const int64_t *shape)
{
    if ((unsigned)dt >= DT_COUNT)
        return db_error(DB_ERR_DTYPE, "tensor: invalid dtype %d", (int)dt);
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS)
        return db_error(DB_ERR_SHAPE, "tensor: %d dimensions (at most %d)", ndim, TENSOR_MAX_DIMS);
    int64_t n = shape_numel(ndim, shape);
    if (n < 0 || (uint64_t)n > SIZE_MAX / dtype_size(dt))
        return db_error(DB_ERR_SHAPE, "tensor: shape too large or negative");
    memset(t, 0, sizeof *t);
    t->dtype = dt;
    t->ndim = ndim;
    int64_t stride = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->strides[i] = stride;
        stride *= shape[i];
    }
    return DB_OK;
}

db_status tensor_view(db_tensor *t, db_dtype dt, int ndim, const int64_t *shape, void *data)
{
    db_status s = set_shape(t, dt, ndim, shape);
    if (s == DB_OK)
        t->data = data;
    return s;
}

db_status tensor_alloc(db_tensor *t, db_dtype dt, int ndim, const int64_t *shape)
{
    db_status s = set_shape(t, dt, ndim, shape);
    if (s != DB_OK)
        return s;
    size_t nb = tensor_nbytes(t);
    t->data = db_malloc_aligned(64, nb);
    if (!t->data)
        return db_error(DB_ERR_NOMEM, "tensor: cannot allocate %zu bytes", nb);
    memset(t->data, 0, nb);
    t->owner = true;
    return DB_OK;
}

void tensor_free(db_tensor *t)
{
    if (!t)
        return;
    if (t->owner)
        db_free(t->data);
    t->data = NULL;
    t->owner = false;
}

int64_t tensor_numel(const db_tensor *t) { return shape_numel(t->ndim, t->shape); }

size_t tensor_nbytes(const db_tensor *t) { return (size_t)tensor_numel(t) * dtype_size(t->dtype); }

bool tensor_is_contiguous(const db_tensor *t)
{
    int64_t stride = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != stride)
            return false;
        stride *= t->shape[i];
    }
    return true;
}

bool tensor_same_shape(const db_tensor *a, const db_tensor *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}

db_status tensor_to_f32(const db_tensor *t, float *out)
{
    size_t n = (size_t)tensor_numel(t);
    switch (t->dtype) {
    case DT_F32:
        memcpy(out, t->data, n * 4);
        return DB_OK;
    case DT_F16:
        f16_to_f32_array(t->data, out, n);
        return DB_OK;
    case DT_BF16:
        bf16_to_f32_array(t->data, out, n);
        return DB_OK;
    case DT_F64: {
        const double *d = t->data;
        for (size_t i = 0; i < n; i++)
            out[i] = (float)d[i];
        return DB_OK;
    }
    default:
        return db_error(DB_ERR_DTYPE, "tensor: cannot convert %s to F32", dtype_name(t->dtype));
    }
}

int64_t tensor_find_nonfinite(const db_tensor *t)
{
    int64_t n = tensor_numel(t);
    const uint8_t *p = t->data;
    for (int64_t i = 0; i < n; i++) {
        switch (t->dtype) {
        case DT_F32: {
            float v;
            memcpy(&v, p + 4 * i, 4);
            if (!isfinite(v))
                return i;
            break;
        }
        case DT_F64: {
            double v;
            memcpy(&v, p + 8 * i, 8);
            if (!isfinite(v))
                return i;
            break;
        }
        case DT_F16: {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            if ((h & 0x7c00u) == 0x7c00u)
                return i;
            break;
        }
        case DT_BF16: {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            if ((h & 0x7f80u) == 0x7f80u)
                return i;
            break;
        }
        default:
            return -1;
        }
    }
    return -1;
}

void shape_format(char *buf, size_t n, int ndim, const int64_t *shape)
{
    size_t used = 0;
    used += (size_t)snprintf(buf + used, n - used, "[");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
}
