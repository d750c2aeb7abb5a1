/* tf_delta.c: base + compressed-delta forward through the compressors' container (see
 * tf_delta.h). */
#include "models/tf_delta.h"

#include <string.h>

#include "compressors/compressor.h"
#include "core/alloc.h"

#define NLIN 7 /* q, k, v, o, gate, up, down */

struct tf_delta {
    dc_delta *dc;
    int L;
    const dc_tensor **lin; /* [L, NLIN]: NULL where the container has no delta */
};

static int lin_slot(llama_tensor kind)
{
    switch (kind) {
    case LT_Q: return 0;
    case LT_K: return 1;
    case LT_V: return 2;
    case LT_O: return 3;
    case LT_GATE: return 4;
    case LT_UP: return 5;
    case LT_DOWN: return 6;
    default: return -1;
    }
}

static db_status delta_hook(void *ctx, int layer, llama_tensor kind, int64_t rows, const float *x,
                            float *y)
{
    tf_delta *d = ctx;
    int slot = lin_slot(kind);
    if (slot < 0 || layer < 0 || layer >= d->L)
        return DB_OK;
    const dc_tensor *t = d->lin[layer * NLIN + slot];
    return t ? dc_apply_ref(t, rows, x, y) : DB_OK;
}

void tf_delta_detach(tf_model *m, tf_delta *d)
{
    if (!d)
        return;
    if (m && m->hook.ctx == d) {
        m->hook.fn = NULL;
        m->hook.ctx = NULL;
    }
    dc_delta_close(d->dc);
    db_free(d->lin);
    db_free(d);
}

db_status tf_delta_attach(tf_model *m, const char *base_dir, const char *delta_path,
                          tf_delta **out)
{
    *out = NULL;
    tf_delta *d = db_calloc(1, sizeof *d);
    if (!d || !(d->lin = db_calloc((size_t)m->cfg.L * NLIN, sizeof *d->lin))) {
        db_free(d);
        return db_error(DB_ERR_NOMEM, "%s: out of memory", delta_path);
    }
    d->L = m->cfg.L;
    db_status s = dc_delta_open(delta_path, base_dir, &d->dc);
    if (s) {
        tf_delta_detach(NULL, d);
        return s;
    }
    for (size_t i = 0; i < dc_delta_count(d->dc); i++) {
        const dc_tensor *t = dc_delta_get(d->dc, i);
        llama_tensor kind;
        int layer;
        if (!llama_parse(t->name, &kind, &layer) ||
            (llama_is_layer_tensor(kind) && (layer < 0 || layer >= m->cfg.L))) {
            s = db_error(DB_ERR_SHAPE, "%s: tensor %s is not a tensor of this model", delta_path,
                         t->name);
            goto fail;
        }
        int64_t rows, cols;
        float *w = tf_weight(m, kind, layer, &rows, &cols);
        if (t->role == DC_ROLE_DELTA) {
            if (lin_slot(kind) < 0 || t->packed.N != rows || t->packed.K != cols) {
                s = db_error(DB_ERR_SHAPE, "%s: delta of %s is [%lld, %lld], the model's tensor "
                             "is [%lld, %lld]", delta_path, t->name, (long long)t->packed.N,
                             (long long)t->packed.K, (long long)rows, (long long)cols);
                goto fail;
            }
            d->lin[layer * NLIN + lin_slot(kind)] = t;
        } else {
            int64_t n = shape_numel(t->ndim, t->shape);
            if (n != rows * cols) {
                s = db_error(DB_ERR_SHAPE, "%s: tensor %s has %lld elements, the model's has %lld",
                             delta_path, t->name, (long long)n, (long long)(rows * cols));
                goto fail;
            }
            if ((s = dc_decode_dense(t, w)))
                goto fail;
        }
    }
    m->hook.fn = delta_hook;
    m->hook.ctx = d;
    *out = d;
    return DB_OK;
fail:
    tf_delta_detach(NULL, d);
    return s;
}

db_status tf_delta_fold(tf_model *m, tf_delta *d)
{
    size_t maxn = 0;
    for (int i = 0; i < d->L * NLIN; i++)
        if (d->lin[i] && (size_t)(d->lin[i]->packed.N * d->lin[i]->packed.K) > maxn)
            maxn = (size_t)(d->lin[i]->packed.N * d->lin[i]->packed.K);
    float *buf = db_malloc_array(maxn ? maxn : 1, sizeof(float));
    if (!buf)
        return db_error(DB_ERR_NOMEM, "delta: out of memory folding the delta");
    static const llama_tensor kinds[NLIN] = {LT_Q, LT_K, LT_V, LT_O, LT_GATE, LT_UP, LT_DOWN};
    db_status s = DB_OK;
    for (int l = 0; l < d->L && !s; l++)
        for (int k = 0; k < NLIN && !s; k++) {
            const dc_tensor *t = d->lin[l * NLIN + k];
            if (!t)
                continue;
            if ((s = dc_decode_dense(t, buf)))
                break;
            float *w = tf_weight(m, kinds[k], l, NULL, NULL);
            size_t n = (size_t)(t->packed.N * t->packed.K);
            for (size_t i = 0; i < n; i++)
                w[i] += buf[i];
        }
    db_free(buf);
    if (!s)
        tf_delta_detach(m, d);
    return s;
}
