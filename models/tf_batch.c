/* tf_batch.c: the serving forward of many fine-tunes of one base (see tf_batch.h).
 *
 * Rows of a call are ordered by fine-tune (a counting sort over the distinct weights of the
 * call), so every per-model operation (embedding lookup, norms, full-model GEMMs, lm_head) runs
 * on one contiguous row range, and the batched delta kernels see one call per projection. */
#include "models/tf_batch.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/half.h"
#include "core/safetensors.h"

#define NLIN 7 /* q, k, v, o, gate, up, down */
#define PAR_ROWS 8 /* attention rows from which a second thread pays */

static const llama_tensor lin_kind[NLIN] = {LT_Q, LT_K, LT_V, LT_O, LT_GATE, LT_UP, LT_DOWN};

typedef enum { PATH_FULL, PATH_DENSE16, PATH_BITDELTA, PATH_SBMM, PATH_CSR, PATH_REF } tfb_path;
static const char *const path_name[] = {"full", "dense16", "bitdelta", "sbmm", "csr", "ref"};

typedef struct {
    void *part[KN_MAX_PARTS];  /* owned, 64-byte aligned (kernel paths, full weights) */
    int64_t nnz;               /* PATH_CSR */
    const dc_tensor *ref;      /* PATH_REF: the container's tensor */
} tfb_lin;

struct tfb_weights {
    tfb_path path;
    int bits, nm_n, nm_m;  /* PATH_SBMM */
    db_dtype cols;         /* PATH_CSR column dtype */
    bool tiled;            /* PATH_BITDELTA: signs in the kernels' tiled layout */
    int L;
    tfb_lin *lin;          /* [L, NLIN] */
    float *embed;          /* [V, C] */
    float *attn_norm;      /* [L, C] */
    float *mlp_norm;       /* [L, C] */
    float *final_norm;     /* [C] */
    uint16_t *lm_head;     /* [V, C] fp16 */
    dc_delta *dc;          /* PATH_REF: kept open */
    size_t bytes;
};

static int lin_index(llama_tensor kind)
{
    for (int i = 0; i < NLIN; i++)
        if (lin_kind[i] == kind)
            return i;
    return -1;
}

void tfb_weights_free(tfb_weights *w)
{
    if (!w)
        return;
    if (w->lin)
        for (int i = 0; i < w->L * NLIN; i++)
            for (int j = 0; j < KN_MAX_PARTS; j++)
                db_free(w->lin[i].part[j]);
    db_free(w->lin);
    db_free(w->embed);
    db_free(w->attn_norm);
    db_free(w->mlp_norm);
    db_free(w->final_norm);
    db_free(w->lm_head);
    dc_delta_close(w->dc);
    db_free(w);
}

size_t tfb_weights_bytes(const tfb_weights *w) { return w ? w->bytes : 0; }
const char *tfb_weights_path(const tfb_weights *w) { return path_name[w->path]; }
int tfb_weights_keeps_container(const tfb_weights *w) { return w && w->dc != NULL; }

static void *alloc_copy(const void *src, size_t n, size_t *acct)
{
    void *p = db_malloc_aligned(64, n ? n : 1);
    if (p && src)
        memcpy(p, src, n);
    *acct += n;
    return p;
}

/* The whole tensors every served form has, allocated (f32 except lm_head). */
static db_status weights_alloc(const tf_config *c, tfb_path path, tfb_weights **out)
{
    tfb_weights *w = db_calloc(1, sizeof *w);
    if (!w)
        return db_error(DB_ERR_NOMEM, "weights: out of memory");
    w->path = path;
    w->L = c->L;
    size_t VC = (size_t)c->V * c->C, LC = (size_t)c->L * c->C;
    w->lin = db_calloc((size_t)c->L * NLIN, sizeof *w->lin);
    w->embed = alloc_copy(NULL, VC * 4, &w->bytes);
    w->attn_norm = alloc_copy(NULL, LC * 4, &w->bytes);
    w->mlp_norm = alloc_copy(NULL, LC * 4, &w->bytes);
    w->final_norm = alloc_copy(NULL, (size_t)c->C * 4, &w->bytes);
    w->lm_head = alloc_copy(NULL, VC * 2, &w->bytes);
    if (!w->lin || !w->embed || !w->attn_norm || !w->mlp_norm || !w->final_norm || !w->lm_head) {
        tfb_weights_free(w);
        return db_error(DB_ERR_NOMEM, "weights: out of memory");
    }
    *out = w;
    return DB_OK;
}

/* Where the f32 copy of a whole tensor (kind, layer) goes; NULL for lm_head and linears. */
static float *whole_f32(const tf_config *c, tfb_weights *w, llama_tensor kind, int layer)
{
    switch (kind) {
    case LT_EMBED: return w->embed;
    case LT_ATTN_NORM: return w->attn_norm + (size_t)layer * c->C;
    case LT_MLP_NORM: return w->mlp_norm + (size_t)layer * c->C;
    case LT_FINAL_NORM: return w->final_norm;
    default: return NULL;
    }
}

/* Converts n values of a 16/32-bit float tensor to f32 or to fp16. */
static db_status to_f32(db_dtype dt, const void *src, float *dst, size_t n)
{
    switch (dt) {
    case DT_F32: memcpy(dst, src, n * 4); return DB_OK;
    case DT_F16: f16_to_f32_array(src, dst, n); return DB_OK;
    case DT_BF16: bf16_to_f32_array(src, dst, n); return DB_OK;
    default: return DB_ERR_DTYPE;
    }
}

static db_status to_f16(db_dtype dt, const void *src, uint16_t *dst, size_t n)
{
    if (dt == DT_F16) {
        memcpy(dst, src, n * 2);
        return DB_OK;
    }
    for (size_t i = 0; i < n; i++) {
        float v;
        db_status s = to_f32(dt, (const char *)src + i * dtype_size(dt), &v, 1);
        if (s)
            return s;
        dst[i] = f32_to_f16(v);
    }
    return DB_OK;
}

/* ---- a delta from its container ------------------------------------------------------------ */

static tfb_path delta_path(const dc_method *m)
{
    if (!strcmp(m->name, "fp16")) return PATH_DENSE16;
    if (!strcmp(m->name, "bitdelta")) return PATH_BITDELTA;
    if (!strcmp(m->name, "deltazip")) return PATH_SBMM;
    if (!strcmp(m->name, "deltadq")) return PATH_CSR;
    return PATH_REF;
}

/* DeltaDQ's positions live in a seed: expand them once, here, into CSR (U16 or U32 columns,
 * fp16 values), the layout the kernels read. */
static db_status csr_from(const dc_tensor *t, tfb_lin *ln, db_dtype cols, size_t *acct)
{
    int64_t N = t->packed.N, K = t->packed.K;
    float *dense = db_malloc_array((size_t)(N * K), sizeof(float));
    if (!dense)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", t->name);
    db_status s = dc_decode_dense(t, dense);
    if (s) {
        db_free(dense);
        return s;
    }
    int64_t nnz = 0;
    for (int64_t i = 0; i < N * K; i++)
        nnz += dense[i] != 0.0f;
    size_t csz = cols == DT_U16 ? 2 : 4;
    uint32_t *rowptr = alloc_copy(NULL, (size_t)(N + 1) * 4, acct);
    void *cl = alloc_copy(NULL, (size_t)nnz * csz, acct);
    uint16_t *val = alloc_copy(NULL, (size_t)nnz * 2, acct);
    ln->part[0] = rowptr, ln->part[1] = cl, ln->part[2] = val;
    if (!rowptr || !cl || !val) {
        db_free(dense);
        return db_error(DB_ERR_NOMEM, "%s: out of memory", t->name);
    }
    int64_t k = 0;
    for (int64_t r = 0; r < N; r++) {
        rowptr[r] = (uint32_t)k;
        for (int64_t j = 0; j < K; j++) {
            float v = dense[r * K + j];
            if (v == 0.0f)
                continue;
            if (cols == DT_U16)
                ((uint16_t *)cl)[k] = (uint16_t)j;
            else
                ((uint32_t *)cl)[k] = (uint32_t)j;
            val[k++] = f32_to_f16(v);
        }
    }
    rowptr[N] = (uint32_t)k;
    ln->nnz = nnz;
    db_free(dense);
    return DB_OK;
}

/* Copies the packed parts of one delta tensor in the order its kernel format reads them. */
static db_status lin_from_delta(tfb_weights *w, const dc_tensor *t, tfb_lin *ln)
{
    static const char *const parts[][KN_MAX_PARTS] = {
        [PATH_DENSE16] = {"delta", NULL, NULL},
        [PATH_BITDELTA] = {"signs", "scale", NULL},
        [PATH_SBMM] = {"codes", "idx", "scale"},
    };
    if (w->path == PATH_REF) {
        ln->ref = t;
        return DB_OK;
    }
    if (w->path == PATH_CSR)
        return csr_from(t, ln, w->cols, &w->bytes);
    for (int j = 0; j < KN_MAX_PARTS && parts[w->path][j]; j++) {
        const dc_part *p = dc_packed_part(&t->packed, parts[w->path][j]);
        if (!p)
            return db_error(DB_ERR_FORMAT, "%s: part '%s' missing", t->name, parts[w->path][j]);
        if (w->tiled && j == 0) { /* the 1-bit signs, repacked once for the AVX-512 kernel */
            const int64_t N = t->packed.N, K = t->packed.K;
            if (p->nbytes != (size_t)(N * dc_fmt_words(K, 1)) * 4)
                return db_error(DB_ERR_FORMAT, "%s: signs of %zu bytes for [%lld, %lld]", t->name,
                                p->nbytes, (long long)N, (long long)K);
            if (!(ln->part[0] = alloc_copy(NULL, kn_bitdelta_tiled_bytes(N, K), &w->bytes)))
                return db_error(DB_ERR_NOMEM, "%s: out of memory", t->name);
            kn_bitdelta_tile(p->data, N, K, ln->part[0]);
            continue;
        }
        if (!(ln->part[j] = alloc_copy(p->data, p->nbytes, &w->bytes)))
            return db_error(DB_ERR_NOMEM, "%s: out of memory", t->name);
    }
    return DB_OK;
}

db_status tfb_weights_from_delta(const tf_config *c, dc_delta *dc, const char *origin,
                                 tfb_weights **out)
{
    *out = NULL;
    tfb_weights *w;
    db_status s = weights_alloc(c, delta_path(dc_delta_method(dc)), &w);
    if (s)
        return s;
    const dc_params *p = dc_delta_params(dc);
    w->bits = p->bits, w->nm_n = p->nm_n, w->nm_m = p->nm_m;
    w->cols = c->C <= 65536 && c->F <= 65536 ? DT_U16 : DT_U32;
    /* the layout this CPU's 1-bit kernel reads fastest (every CPU kernel reads both) */
    w->tiled = w->path == PATH_BITDELTA && !strcmp(kn_cpu_isa(), "avx512");
    llama_shape shp = tf_config_shape(c);
    size_t nlin = 0, nwhole = 0;
    float *tmp = NULL;
    for (size_t i = 0; i < dc_delta_count(dc); i++) {
        const dc_tensor *t = dc_delta_get(dc, i);
        llama_tensor kind;
        int layer;
        int64_t shape[2];
        if (!llama_parse(t->name, &kind, &layer) ||
            (llama_is_layer_tensor(kind) && (layer < 0 || layer >= c->L))) {
            s = db_error(DB_ERR_SHAPE, "%s: tensor %s is not a tensor of this model", origin, t->name);
            goto fail;
        }
        int nd = llama_tensor_shape(&shp, kind, shape);
        int64_t numel = nd == 2 ? shape[0] * shape[1] : shape[0];
        if (t->role == DC_ROLE_DELTA) {
            int li = lin_index(kind);
            if (li < 0 || t->packed.N != shape[0] || t->packed.K != shape[1]) {
                s = db_error(DB_ERR_SHAPE, "%s: delta %s does not match the base's shape", origin,
                             t->name);
                goto fail;
            }
            if ((s = lin_from_delta(w, t, &w->lin[layer * NLIN + li])))
                goto fail;
            nlin++;
            continue;
        }
        if (shape_numel(t->ndim, t->shape) != numel) {
            s = db_error(DB_ERR_SHAPE, "%s: tensor %s does not match the base's shape", origin, t->name);
            goto fail;
        }
        float *dst = whole_f32(c, w, kind, layer);
        if (!dst) { /* lm_head (a linear stored whole is refused above by lin_index) */
            if (kind != LT_LM_HEAD) {
                s = db_error(DB_ERR_FORMAT, "%s: linear %s stored whole; the server needs a delta",
                             origin, t->name);
                goto fail;
            }
            tmp = db_malloc_array((size_t)numel, sizeof(float));
            if (!tmp) {
                s = db_error(DB_ERR_NOMEM, "%s: out of memory", origin);
                goto fail;
            }
            dst = tmp;
        }
        if ((s = dc_decode_dense(t, dst)))
            goto fail;
        nwhole++;
        if (tmp) {
            f32_to_f16_array(tmp, w->lm_head, (size_t)numel);
            db_free(tmp);
            tmp = NULL;
        }
    }
    /* embeddings, 2 norms per layer, final norm, lm_head */
    if (nlin != (size_t)c->L * NLIN || nwhole != (size_t)c->L * 2 + 3) {
        s = db_error(DB_ERR_FORMAT, "%s: %zu of %d linear deltas and %zu of %d whole tensors",
                     origin, nlin, c->L * NLIN, nwhole, c->L * 2 + 3);
        goto fail;
    }
    if (w->path == PATH_REF)
        w->dc = dc; /* the scalar path reads the container's buffers */
    *out = w;
    return DB_OK;
fail:
    db_free(tmp);
    tfb_weights_free(w);
    return s;
}

/* ---- a full model from a checkpoint --------------------------------------------------------- */

db_status tfb_weights_from_checkpoint(const tf_config *c, const char *path, tfb_weights **out)
{
    *out = NULL;
    st_model *sm;
    db_status s = st_model_open(path, &sm);
    if (s)
        return s;
    tfb_weights *w;
    if ((s = weights_alloc(c, PATH_FULL, &w))) {
        st_model_close(sm);
        return s;
    }
    llama_shape shp = tf_config_shape(c);
    char name[128];
    for (int kind = 0; kind < LT_COUNT && !s; kind++) {
        int layers = llama_is_layer_tensor((llama_tensor)kind) ? c->L : 1;
        for (int l = 0; l < layers && !s; l++) {
            llama_name(name, sizeof name, (llama_tensor)kind, l);
            const st_tensor_info *ti = st_model_find(sm, name);
            int64_t shape[2];
            int nd = llama_tensor_shape(&shp, (llama_tensor)kind, shape);
            size_t numel = (size_t)(nd == 2 ? shape[0] * shape[1] : shape[0]);
            if (!ti || !dtype_is_float(ti->dtype) || ti->dtype == DT_F64 ||
                ti->nbytes != numel * dtype_size(ti->dtype)) {
                s = db_error(DB_ERR_SHAPE, "%s: tensor %s missing or not a [%zu] F16/BF16/F32 "
                             "tensor", path, name, numel);
                break;
            }
            float *dst = whole_f32(c, w, (llama_tensor)kind, l);
            if (dst) {
                s = to_f32(ti->dtype, ti->data, dst, numel);
                continue;
            }
            uint16_t *h = w->lm_head;
            if (kind != LT_LM_HEAD) {
                tfb_lin *ln = &w->lin[l * NLIN + lin_index((llama_tensor)kind)];
                if (!(h = ln->part[0] = alloc_copy(NULL, numel * 2, &w->bytes))) {
                    s = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
                    break;
                }
            }
            s = to_f16(ti->dtype, ti->data, h, numel);
        }
    }
    st_model_close(sm);
    if (s) {
        tfb_weights_free(w);
        return s;
    }
    *out = w;
    return DB_OK;
}

/* ---- the batch runner ----------------------------------------------------------------------- */

struct tfb_ctx {
    const tf_model *m;
    tf_config cfg;
    kn_ctx *kn;
    tfb_weights *base; /* the base as a full fp16 model */
    int slots, max_rows, max_req;
    float *kc, *vc;    /* [L, slots, maxT, NKV*HS] */
    /* activations [max_rows, ...] */
    float *x, *xn, *q, *k, *v, *atty, *o, *gate, *up, *scores;
    float *last;       /* [max_req, C] final-normed last rows */
    float *logits;     /* [max_req, V] */
    int *tok;          /* [max_rows] */
    int32_t *row_pos, *row_slot, *row_delta; /* [max_rows] */
    int32_t *req_grp, *order, *grp_start, *grp_rows0, *grp_rows1; /* [max_req] (+1) */
    int32_t *slot_seen; /* [slots] call stamp */
    int32_t call;
    const tfb_weights **grp_w; /* [max_req] distinct weights of the call */
    const void **tab;  /* [KN_MAX_PARTS, max_req] kernel part tables */
    int64_t *nnz;      /* [max_req] */
};

void tfb_free(tfb_ctx *b)
{
    if (!b)
        return;
    tfb_weights_free(b->base);
    void *p[] = {b->kc, b->vc, b->x, b->xn, b->q, b->k, b->v, b->atty, b->o, b->gate, b->up,
                 b->scores, b->last, b->logits, b->tok, b->row_pos, b->row_slot, b->row_delta,
                 b->req_grp, b->order, b->grp_start, b->grp_rows0, b->grp_rows1, b->slot_seen,
                 b->grp_w, b->tab, b->nnz};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        db_free(p[i]);
    db_free(b);
}

static void *arr(size_t n, size_t sz, bool *ok)
{
    void *p = db_calloc(n ? n : 1, sz);
    if (!p)
        *ok = false;
    return p;
}

db_status tfb_init(tfb_ctx **out, const tf_model *m, kn_ctx *kn, int slots, int max_rows,
                   int max_req)
{
    *out = NULL;
    if (slots < 1 || max_rows < 1 || max_req < 1 || max_req > slots)
        return db_error(DB_ERR_ARG, "batch: %d slots, %d rows, %d requests per call", slots,
                        max_rows, max_req);
    tfb_ctx *b = db_calloc(1, sizeof *b);
    if (!b)
        return db_error(DB_ERR_NOMEM, "batch: out of memory");
    const tf_config *c = &m->cfg;
    b->m = m, b->cfg = *c, b->kn = kn;
    b->slots = slots, b->max_rows = max_rows, b->max_req = max_req;
    size_t R = (size_t)max_rows, QD = (size_t)c->NH * c->HS, KD = (size_t)c->NKV * c->HS;
    size_t kvn = (size_t)c->L * (size_t)slots * (size_t)c->maxT * KD;
    bool ok = true;
    b->kc = arr(kvn, 4, &ok), b->vc = arr(kvn, 4, &ok);
    b->x = arr(R * c->C, 4, &ok), b->xn = arr(R * c->C, 4, &ok), b->o = arr(R * c->C, 4, &ok);
    b->q = arr(R * QD, 4, &ok), b->atty = arr(R * QD, 4, &ok);
    b->k = arr(R * KD, 4, &ok), b->v = arr(R * KD, 4, &ok);
    b->gate = arr(R * c->F, 4, &ok), b->up = arr(R * c->F, 4, &ok);
    b->scores = arr(R * c->maxT, 4, &ok);
    b->last = arr((size_t)max_req * c->C, 4, &ok);
    b->logits = arr((size_t)max_req * c->V, 4, &ok);
    b->tok = arr(R, sizeof(int), &ok);
    b->row_pos = arr(R, 4, &ok), b->row_slot = arr(R, 4, &ok), b->row_delta = arr(R, 4, &ok);
    b->req_grp = arr((size_t)max_req, 4, &ok), b->order = arr((size_t)max_req, 4, &ok);
    b->grp_start = arr((size_t)max_req + 1, 4, &ok);
    b->grp_rows0 = arr((size_t)max_req, 4, &ok), b->grp_rows1 = arr((size_t)max_req, 4, &ok);
    b->slot_seen = arr((size_t)slots, 4, &ok);
    b->grp_w = arr((size_t)max_req, sizeof *b->grp_w, &ok);
    b->tab = arr((size_t)KN_MAX_PARTS * max_req, sizeof *b->tab, &ok);
    b->nnz = arr((size_t)max_req, sizeof *b->nnz, &ok);
    if (!ok) {
        tfb_free(b);
        return db_error(DB_ERR_NOMEM, "batch: out of memory for %d slots x %d positions and %d rows",
                        slots, c->maxT, max_rows);
    }
    /* The base as served: fp16 linear weights and lm_head, f32 embeddings and norms. */
    db_status s = weights_alloc(c, PATH_FULL, &b->base);
    for (int kind = 0; kind < LT_COUNT && !s; kind++) {
        int layers = llama_is_layer_tensor((llama_tensor)kind) ? c->L : 1;
        for (int l = 0; l < layers && !s; l++) {
            int64_t rows, cols;
            const float *src = tf_weight(m, (llama_tensor)kind, l, &rows, &cols);
            size_t n = (size_t)(rows * cols);
            float *dst = whole_f32(c, b->base, (llama_tensor)kind, l);
            if (dst) {
                memcpy(dst, src, n * 4);
                continue;
            }
            uint16_t *h = b->base->lm_head;
            if (kind != LT_LM_HEAD) {
                tfb_lin *ln = &b->base->lin[l * NLIN + lin_index((llama_tensor)kind)];
                if (!(h = ln->part[0] = alloc_copy(NULL, n * 2, &b->base->bytes)))
                    s = db_error(DB_ERR_NOMEM, "batch: out of memory");
            }
            if (h)
                f32_to_f16_array(src, h, n);
        }
    }
    if (s) {
        tfb_free(b);
        return s;
    }
    *out = b;
    return DB_OK;
}

/* ---- one iteration -------------------------------------------------------------------------- */

static const tfb_weights *eff_w(const tfb_ctx *b, const tfb_weights *w) { return w ? w : b->base; }

/* out = rmsnorm(x) * weight, row by row, each group with its own weight (offset into w). */
static void norm_rows(const tfb_ctx *b, int G, const float *x, float *out, size_t off_f32,
                      int which)
{
    int C = b->cfg.C;
    for (int g = 0; g < G; g++) {
        const tfb_weights *w = eff_w(b, b->grp_w[g]);
        const float *nw = (which == 0 ? w->attn_norm : which == 1 ? w->mlp_norm : w->final_norm) +
                          off_f32;
        for (int r = b->grp_rows0[g]; r < b->grp_rows1[g]; r++) {
            const float *xr = x + (size_t)r * C;
            float *o = out + (size_t)r * C, ss = 0.0f;
            for (int j = 0; j < C; j++)
                ss += xr[j] * xr[j];
            float inv = 1.0f / sqrtf(ss / (float)C + b->cfg.eps);
            for (int j = 0; j < C; j++)
                o[j] = xr[j] * inv * nw[j];
        }
    }
}

/* y [R, N] = x [R, K] · (W_base + Δ_row)ᵀ for projection li of layer l. */
static db_status linear(tfb_ctx *b, int G, int R, int l, int li, const float *x, float *y,
                        int64_t N, int64_t K)
{
    db_status s;
    int idx = l * NLIN + li;
    const tfb_weights *w0 = NULL;
    for (int g = 0; g < G && !w0; g++)
        w0 = b->grp_w[g];
    if (w0 && w0->path == PATH_FULL) {
        for (int g = 0; g < G; g++) {
            int r0 = b->grp_rows0[g], nr = b->grp_rows1[g] - r0;
            const tfb_weights *w = eff_w(b, b->grp_w[g]);
            if ((s = kn_dense_gemm(b->kn, DT_F16, N, K, w->lin[idx].part[0], nr, x + (size_t)r0 * K,
                                   y + (size_t)r0 * N, false)))
                return s;
        }
        return DB_OK;
    }
    if ((s = kn_dense_gemm(b->kn, DT_F16, N, K, b->base->lin[idx].part[0], R, x, y, false)))
        return s;
    if (!w0)
        return DB_OK;
    if (w0->path == PATH_REF) {
        for (int g = 0; g < G; g++) {
            int r0 = b->grp_rows0[g], nr = b->grp_rows1[g] - r0;
            if (b->grp_w[g] && (s = dc_apply_ref(b->grp_w[g]->lin[idx].ref, nr, x + (size_t)r0 * K,
                                                 y + (size_t)r0 * N)))
                return s;
        }
        return DB_OK;
    }
    /* One batched call; delta d of the descriptor is the d-th group with a delta. */
    int D = 0, M = b->max_req;
    for (int g = 0; g < G; g++) {
        const tfb_weights *w = b->grp_w[g];
        if (!w)
            continue;
        for (int j = 0; j < KN_MAX_PARTS; j++)
            b->tab[j * M + D] = w->lin[idx].part[j];
        b->nnz[D++] = w->lin[idx].nnz;
    }
    static const kn_fmt fmt[] = {[PATH_DENSE16] = KN_FMT_DENSE16, [PATH_BITDELTA] = KN_FMT_BITDELTA,
                                 [PATH_SBMM] = KN_FMT_NMQ, [PATH_CSR] = KN_FMT_CSR};
    kn_deltas dl = {fmt[w0->path], N, K, w0->bits, w0->nm_n, w0->nm_m, 0,
                    w0->path == PATH_CSR ? w0->cols : DT_F16, D,
                    {b->tab, b->tab + M, b->tab + 2 * M}, b->nnz, w0->tiled};
    return kn_delta_gemm(b->kn, &dl, R, b->row_delta, x, y, true);
}

static void rope_rows(const tfb_ctx *b, float *x, int R, int nh)
{
    int HS = b->cfg.HS, h = HS / 2;
    for (int r = 0; r < R; r++) {
        const float *cs = b->m->rope_cos + (size_t)b->row_pos[r] * h;
        const float *sn = b->m->rope_sin + (size_t)b->row_pos[r] * h;
        for (int hd = 0; hd < nh; hd++) {
            float *v = x + ((size_t)r * nh + hd) * HS;
            for (int j = 0; j < h; j++) {
                float a = v[j], c = v[j + h];
                v[j] = a * cs[j] - c * sn[j];
                v[j + h] = c * cs[j] + a * sn[j];
            }
        }
    }
}

/* Causal attention of every row over its slot's positions 0..pos (the KV of this iteration's
 * rows is already in the slot). */
static void attend(tfb_ctx *b, int R, int l)
{
    const tf_config *c = &b->cfg;
    int HS = c->HS, QD = c->NH * HS, KD = c->NKV * HS, grp = c->NH / c->NKV, T = c->maxT;
    float scale = 1.0f / sqrtf((float)HS);
    size_t slot_sz = (size_t)T * KD;
    const float *kl = b->kc + (size_t)l * b->slots * slot_sz, *vl = b->vc + (size_t)l * b->slots * slot_sz;
#pragma omp parallel for schedule(dynamic, 4) if(R >= PAR_ROWS)
    for (int r = 0; r < R; r++) {
        const float *ks = kl + (size_t)b->row_slot[r] * slot_sz;
        const float *vs = vl + (size_t)b->row_slot[r] * slot_sz;
        float *sc = b->scores + (size_t)r * T;
        int t = b->row_pos[r];
        for (int h = 0; h < c->NH; h++) {
            const float *qh = b->q + (size_t)r * QD + (size_t)h * HS;
            size_t ko = (size_t)(h / grp) * HS;
            float mx = -INFINITY, sum = 0.0f;
            for (int u = 0; u <= t; u++) {
                const float *ku = ks + (size_t)u * KD + ko;
                float d = 0.0f;
                for (int j = 0; j < HS; j++)
                    d += qh[j] * ku[j];
                sc[u] = d * scale;
                mx = sc[u] > mx ? sc[u] : mx;
            }
            for (int u = 0; u <= t; u++)
                sum += (sc[u] = expf(sc[u] - mx));
            float *o = b->atty + (size_t)r * QD + (size_t)h * HS;
            memset(o, 0, (size_t)HS * sizeof *o);
            for (int u = 0; u <= t; u++) {
                const float *vu = vs + (size_t)u * KD + ko;
                float p = sc[u] / sum;
                for (int j = 0; j < HS; j++)
                    o[j] += p * vu[j];
            }
        }
    }
}

/* Validates the call and lays out its rows grouped by weights; returns the row count. */
static db_status plan(tfb_ctx *b, int n, const tfb_req *req, int *G_out, int *R_out)
{
    const tf_config *c = &b->cfg;
    if (n < 1 || n > b->max_req)
        return db_error(DB_ERR_ARG, "batch: %d requests (at most %d)", n, b->max_req);
    b->call = b->call == INT32_MAX ? 1 : b->call + 1;
    if (b->call == 1)
        memset(b->slot_seen, 0, (size_t)b->slots * sizeof *b->slot_seen);
    int G = 0, R = 0;
    const tfb_weights *kind = NULL;
    for (int i = 0; i < n; i++) {
        const tfb_req *q = &req[i];
        if (q->slot < 0 || q->slot >= b->slots || b->slot_seen[q->slot] == b->call)
            return db_error(DB_ERR_ARG, "batch: request %d: slot %d out of range or used twice", i,
                            q->slot);
        b->slot_seen[q->slot] = b->call;
        if (q->ntok < 1 || q->pos < 0 || q->pos + q->ntok > c->maxT)
            return db_error(DB_ERR_ARG, "batch: request %d: positions %d..%d outside [0, %d)", i,
                            q->pos, q->pos + q->ntok - 1, c->maxT);
        if (q->ntok > b->max_rows - R)
            return db_error(DB_ERR_ARG, "batch: more than %d tokens in one call", b->max_rows);
        R += q->ntok;
        if (q->w && kind && (q->w->path != kind->path || q->w->bits != kind->bits ||
                             q->w->nm_n != kind->nm_n || q->w->nm_m != kind->nm_m))
            return db_error(DB_ERR_ARG, "batch: weights of different formats in one call");
        if (q->w)
            kind = q->w;
        int g = 0;
        while (g < G && b->grp_w[g] != q->w)
            g++;
        if (g == G)
            b->grp_w[G++] = q->w;
        b->req_grp[i] = g;
    }
    /* Counting sort of the requests by group (stable), then their rows. */
    memset(b->grp_start, 0, (size_t)(G + 1) * sizeof *b->grp_start);
    for (int i = 0; i < n; i++)
        b->grp_start[b->req_grp[i] + 1]++;
    for (int g = 0; g < G; g++)
        b->grp_start[g + 1] += b->grp_start[g];
    for (int g = 0; g < G; g++)
        b->grp_rows0[g] = b->grp_start[g]; /* cursor, reused below */
    for (int i = 0; i < n; i++)
        b->order[b->grp_rows0[b->req_grp[i]]++] = i;
    int r = 0, D = 0;
    for (int g = 0; g < G; g++) {
        b->grp_rows0[g] = r;
        int did = b->grp_w[g] ? D++ : -1;
        for (int k = b->grp_start[g]; k < b->grp_start[g + 1]; k++) {
            const tfb_req *q = &req[b->order[k]];
            for (int t = 0; t < q->ntok; t++, r++) {
                if (q->tokens[t] < 0 || q->tokens[t] >= c->V)
                    return db_error(DB_ERR_ARG, "batch: token id %d outside vocabulary of %d",
                                    q->tokens[t], c->V);
                b->tok[r] = q->tokens[t];
                b->row_pos[r] = q->pos + t;
                b->row_slot[r] = q->slot;
                b->row_delta[r] = did;
            }
        }
        b->grp_rows1[g] = r;
    }
    *G_out = G;
    *R_out = R;
    return DB_OK;
}

db_status tfb_run(tfb_ctx *b, int n, const tfb_req *req, int *next)
{
    const tf_config *c = &b->cfg;
    int G = 0, R = 0;
    db_status s = plan(b, n, req, &G, &R);
    if (s)
        return s;
    int C = c->C, F = c->F, QD = c->NH * c->HS, KD = c->NKV * c->HS;
    size_t slot_sz = (size_t)c->maxT * KD;
    for (int g = 0; g < G; g++) {
        const float *emb = eff_w(b, b->grp_w[g])->embed;
        for (int r = b->grp_rows0[g]; r < b->grp_rows1[g]; r++)
            memcpy(b->x + (size_t)r * C, emb + (size_t)b->tok[r] * C, (size_t)C * sizeof(float));
    }
    for (int l = 0; l < c->L; l++) {
        norm_rows(b, G, b->x, b->xn, (size_t)l * C, 0);
        if ((s = linear(b, G, R, l, 0, b->xn, b->q, QD, C)) ||
            (s = linear(b, G, R, l, 1, b->xn, b->k, KD, C)) ||
            (s = linear(b, G, R, l, 2, b->xn, b->v, KD, C)))
            return s;
        rope_rows(b, b->q, R, c->NH);
        rope_rows(b, b->k, R, c->NKV);
        float *kl = b->kc + (size_t)l * b->slots * slot_sz, *vl = b->vc + (size_t)l * b->slots * slot_sz;
        for (int r = 0; r < R; r++) {
            size_t at = (size_t)b->row_slot[r] * slot_sz + (size_t)b->row_pos[r] * KD;
            memcpy(kl + at, b->k + (size_t)r * KD, (size_t)KD * sizeof(float));
            memcpy(vl + at, b->v + (size_t)r * KD, (size_t)KD * sizeof(float));
        }
        attend(b, R, l);
        if ((s = linear(b, G, R, l, 3, b->atty, b->o, C, QD)))
            return s;
        for (size_t i = 0; i < (size_t)R * C; i++)
            b->x[i] += b->o[i];
        norm_rows(b, G, b->x, b->xn, (size_t)l * C, 1);
        if ((s = linear(b, G, R, l, 4, b->xn, b->gate, F, C)) ||
            (s = linear(b, G, R, l, 5, b->xn, b->up, F, C)))
            return s;
        for (size_t i = 0; i < (size_t)R * F; i++) {
            float g = b->gate[i];
            b->gate[i] = g / (1.0f + expf(-g)) * b->up[i];
        }
        if ((s = linear(b, G, R, l, 6, b->gate, b->o, C, F)))
            return s;
        for (size_t i = 0; i < (size_t)R * C; i++)
            b->x[i] += b->o[i];
    }
    /* Logits of each request's last row only, with its own final norm and lm_head. The last
     * rows are gathered in group order, so every group is one GEMM. */
    int r = 0;
    for (int k = 0; k < n; k++) {
        r += req[b->order[k]].ntok;
        memcpy(b->xn + (size_t)k * C, b->x + (size_t)(r - 1) * C, (size_t)C * sizeof(float));
    }
    for (int g = 0; g < G; g++) { /* norm_rows works on row ranges: point them at requests */
        b->grp_rows0[g] = b->grp_start[g];
        b->grp_rows1[g] = b->grp_start[g + 1];
    }
    norm_rows(b, G, b->xn, b->last, 0, 2);
    for (int g = 0; g < G; g++) {
        int k0 = b->grp_start[g], nk = b->grp_start[g + 1] - k0;
        if ((s = kn_dense_gemm(b->kn, DT_F16, c->V, C, eff_w(b, b->grp_w[g])->lm_head, nk,
                               b->last + (size_t)k0 * C, b->logits + (size_t)k0 * c->V, false)))
            return s;
    }
    for (int k = 0; k < n; k++) {
        const float *lg = b->logits + (size_t)k * c->V;
        int best = 0;
        for (int v = 1; v < c->V; v++)
            if (lg[v] > lg[best])
                best = v;
        next[b->order[k]] = best;
    }
    return DB_OK;
}
