/* calib_model.c: Hessian proxies from real forward passes (see calib_model.h).
 *
 * The forward's linear hook sees every projection's input x [rows, K]; the provider accumulates
 * XᵀX for the tensor asked about (one forward over the calibration windows per hessian() call:
 * the zoo's models make that cheap, and it is the only way the statistics reflect every earlier
 * update()). Accumulation is in float through sgemm, summed window by window in a fixed order.
 *
 * Projections that read the same input share one measurement: q, k and v read the attention's
 * normed input, gate and up the MLP's, so one layer costs 4 forwards, not 7. The last
 * measurement is kept with its input group (layer, which input) and reused while no update()
 * has touched a tensor that runs before that input in the forward. */
#include "models/calib_model.h"

#include <cblas.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/safetensors.h"
#include "models/task.h"
#include "models/tf.h"

typedef struct {
    tf_model m;       /* the fine-tune, with compressed layers swapped in by update() */
    float *base;      /* the base's parameters, same layout (W_base for update()) */
    int *tok;         /* [nwin, T] calibration windows */
    int nwin, T;
    /* the hook's target */
    int want_layer;
    llama_tensor want_kind;
    float *H;         /* [K, K] accumulator */
    int64_t K, rows;
    /* the last measurement: input group key (input_key) or -1, its H [K, K] and rows */
    int64_t cache_key, cache_K, cache_rows;
    float *cache_H;
    dc_calib iface;
} calib_ctx;

/* Position of the input a projection reads in the forward: layer l's attention input (q, k, v),
 * its attention output (o), its MLP input (gate, up), its MLP hidden state (down). A projection
 * changes only inputs with a larger key. */
static int64_t input_key(int layer, llama_tensor kind)
{
    int g = kind == LT_Q || kind == LT_K || kind == LT_V ? 0 : kind == LT_O ? 1
          : kind == LT_GATE || kind == LT_UP             ? 2
                                                         : 3;
    return 4 * (int64_t)layer + g;
}

static db_status observe(void *ctx, int layer, llama_tensor kind, int64_t rows, const float *x,
                         float *y)
{
    (void)y;
    calib_ctx *c = ctx;
    if (layer != c->want_layer || kind != c->want_kind)
        return DB_OK;
    /* H += xᵀx (upper and lower both, sgemm keeps it simple and symmetric) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)c->K, (int)c->K, (int)rows, 1.0f, x,
                (int)c->K, x, (int)c->K, 1.0f, c->H, (int)c->K);
    c->rows += rows;
    return DB_OK;
}

/* The static dump's observer: every linear layer's H in one pass over the windows. */
typedef struct {
    float **H;    /* [L * 7] accumulators, [K, K] each */
    int64_t *K;   /* [L * 7] input widths */
    int64_t rows; /* rows seen by q_proj of layer 0 (every layer sees the same rows) */
} observe_all_ctx;

static int lin_index(llama_tensor kind)
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

static db_status observe_all(void *ctx, int layer, llama_tensor kind, int64_t rows, const float *x,
                             float *y)
{
    (void)y;
    observe_all_ctx *o = ctx;
    int k = lin_index(kind);
    if (k < 0)
        return DB_OK;
    size_t i = (size_t)layer * 7 + (size_t)k;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)o->K[i], (int)o->K[i], (int)rows,
                1.0f, x, (int)o->K[i], x, (int)o->K[i], 1.0f, o->H[i], (int)o->K[i]);
    if (i == 0)
        o->rows += rows;
    return DB_OK;
}

/* Runs the calibration windows through c->m with the observer on (layer, kind). */
static db_status measure(calib_ctx *c, int layer, llama_tensor kind, int64_t K, float *H,
                         int64_t *n)
{
    c->want_layer = layer;
    c->want_kind = kind;
    c->H = H;
    c->K = K;
    c->rows = 0;
    memset(H, 0, (size_t)K * (size_t)K * sizeof(float));
    c->m.hook.fn = observe;
    c->m.hook.ctx = c;
    db_status s = DB_OK;
    int B = c->m.acts.B;
    for (int w = 0; w < c->nwin && !s; w += B) {
        int nb = c->nwin - w < B ? c->nwin - w : B;
        s = tf_forward(&c->m, c->tok + (size_t)w * c->T, NULL, nb, c->T, NULL);
    }
    c->m.hook.fn = NULL;
    if (s)
        return s;
    float k = c->rows ? 2.0f / (float)c->rows : 0.0f;
    for (size_t i = 0; i < (size_t)K * (size_t)K; i++)
        H[i] *= k;
    *n = c->rows;
    return DB_OK;
}

static db_status locate(calib_ctx *c, const char *name, int64_t *N, int64_t K, llama_tensor *kind,
                        int *layer)
{
    int64_t rows, cols;
    if (!llama_parse(name, kind, layer) || !llama_is_linear(*kind) || *layer < 0 ||
        *layer >= c->m.cfg.L)
        return db_error(DB_ERR_NOT_FOUND, "calib: %s is not a linear tensor of the model", name);
    tf_weight(&c->m, *kind, *layer, &rows, &cols);
    if (cols != K)
        return db_error(DB_ERR_SHAPE, "calib: %s has %" PRId64 " input columns, asked for %" PRId64,
                        name, cols, K);
    if (N)
        *N = rows;
    return DB_OK;
}

static db_status calib_hessian(void *ctx, const char *name, int64_t K, float *H, int64_t *ntokens)
{
    calib_ctx *c = ctx;
    llama_tensor kind;
    int layer;
    db_status s = locate(c, name, NULL, K, &kind, &layer);
    if (s)
        return s;
    const int64_t key = input_key(layer, kind);
    const size_t bytes = (size_t)K * (size_t)K * sizeof(float);
    if (c->cache_key == key && c->cache_K == K) {
        memcpy(H, c->cache_H, bytes);
        *ntokens = c->cache_rows;
        return DB_OK;
    }
    if ((s = measure(c, layer, kind, K, H, ntokens)))
        return s;
    c->cache_key = -1;
    if (c->cache_K != K) {
        db_free(c->cache_H);
        c->cache_K = 0;
        if (!(c->cache_H = db_malloc(bytes)))
            return DB_OK; /* no cache: every hessian() measures */
        c->cache_K = K;
    }
    memcpy(c->cache_H, H, bytes);
    c->cache_rows = *ntokens;
    c->cache_key = key;
    return DB_OK;
}

static db_status calib_update(void *ctx, const char *name, int64_t N, int64_t K, const float *delta)
{
    calib_ctx *c = ctx;
    llama_tensor kind;
    int layer;
    int64_t rows;
    db_status s = locate(c, name, &rows, K, &kind, &layer);
    if (s)
        return s;
    if (rows != N)
        return db_error(DB_ERR_SHAPE, "calib: %s has %" PRId64 " rows, the update %" PRId64, name,
                        rows, N);
    if (input_key(layer, kind) < c->cache_key) /* it runs before the cached input */
        c->cache_key = -1;
    float *w = tf_weight(&c->m, kind, layer, NULL, NULL);
    const float *wb = c->base + (w - c->m.params);
    for (size_t i = 0; i < (size_t)N * (size_t)K; i++)
        w[i] = wb[i] + delta[i];
    return DB_OK;
}

void calib_model_close(dc_calib *ci)
{
    if (!ci)
        return;
    calib_ctx *c = ci->ctx;
    tf_model_free(&c->m);
    db_free(c->cache_H);
    db_free(c->base);
    db_free(c->tok);
    db_free(c);
}

/* Loads target_dir and the calibration windows into a new context. */
static db_status ctx_open(const char *target_dir, const char *task, const char *data_dir,
                          int64_t ntokens, int T, calib_ctx **out)
{
    *out = NULL;
    calib_ctx *c = db_calloc(1, sizeof *c);
    if (!c)
        return db_error(DB_ERR_NOMEM, "calib: out of memory");
    c->cache_key = -1;
    db_task *t = NULL;
    db_status s = tf_model_load(&c->m, target_dir);
    if (s)
        goto fail;
    if (T == 0) /* the default window: 128 tokens, or the whole context when shorter */
        T = c->m.cfg.maxT < 128 ? c->m.cfg.maxT : 128;
    if (T < 2 || T > c->m.cfg.maxT || ntokens < T) {
        s = db_error(DB_ERR_ARG, "calib: need 2 <= window <= %d and tokens >= window",
                     c->m.cfg.maxT);
        goto fail;
    }
    if ((s = task_open(task, data_dir, (size_t)ntokens + (size_t)T, &t)))
        goto fail;
    c->T = T;
    c->nwin = (int)(ntokens / T);
    c->tok = db_malloc_array((size_t)c->nwin * (size_t)T, sizeof(int));
    int *tgt = db_malloc_array((size_t)c->nwin * (size_t)T, sizeof(int));
    if (!c->tok || !tgt) {
        db_free(tgt);
        s = db_error(DB_ERR_NOMEM, "calib: out of memory");
        goto fail;
    }
    db_rng r;
    rng_seed(&r, 0xca11b); /* fixed: the same calibration text every time */
    task_batch(t, &r, c->nwin, T, c->tok, tgt);
    db_free(tgt);
    if ((s = tf_acts_alloc(&c->m, c->nwin < 8 ? c->nwin : 8, T, false)))
        goto fail;
    task_free(t);
    *out = c;
    return DB_OK;
fail:
    task_free(t);
    tf_model_free(&c->m);
    db_free(c->tok);
    db_free(c);
    return s;
}

db_status calib_model_open(const char *base_dir, const char *target_dir, const char *task,
                           const char *data_dir, int64_t ntokens, int T, dc_calib **out)
{
    *out = NULL;
    calib_ctx *c;
    db_status s = ctx_open(target_dir, task, data_dir, ntokens, T, &c);
    if (s)
        return s;
    tf_model b;
    if ((s = tf_model_load(&b, base_dir)))
        goto fail;
    if (memcmp(&b.cfg, &c->m.cfg, sizeof b.cfg) != 0) {
        tf_model_free(&b);
        s = db_error(DB_ERR_SHAPE, "calib: %s and %s have different configs", base_dir,
                     target_dir);
        goto fail;
    }
    c->base = b.params; /* keep the parameter block, free the rest */
    b.params = NULL;
    tf_model_free(&b);
    c->iface.ctx = c;
    c->iface.hessian = calib_hessian;
    c->iface.update = calib_update;
    *out = &c->iface;
    return DB_OK;
fail:
    c->iface.ctx = c;
    calib_model_close(&c->iface);
    return s;
}

db_status calib_model_write(const char *model_dir, const char *task, const char *data_dir,
                            int64_t ntokens, int T, const char *out_path)
{
    calib_ctx *c;
    db_status s = ctx_open(model_dir, task, data_dir, ntokens, T, &c);
    if (s)
        return s;
    c->iface.ctx = c;
    static const llama_tensor kinds[] = {LT_Q, LT_K, LT_V, LT_O, LT_GATE, LT_UP, LT_DOWN};
    int nk = (int)(sizeof kinds / sizeof kinds[0]), L = c->m.cfg.L;
    size_t nt = (size_t)L * nk;
    char (*names)[128] = db_calloc(nt, sizeof *names);
    const char **np = db_calloc(nt, sizeof *np);
    db_tensor *ts = db_calloc(nt, sizeof *ts);
    int64_t n = 0;
    if (!names || !np || !ts) {
        s = db_error(DB_ERR_NOMEM, "calib: out of memory");
        goto out;
    }
    for (int l = 0; l < L && !s; l++)
        for (int k = 0; k < nk && !s; k++) {
            size_t i = (size_t)l * nk + k;
            int64_t cols;
            tf_weight(&c->m, kinds[k], l, NULL, &cols);
            char wn[112];
            llama_name(wn, sizeof wn, kinds[k], l);
            snprintf(names[i], sizeof names[i], "%s.hessian", wn);
            np[i] = names[i];
            int64_t shape[2] = {cols, cols};
            if ((s = tensor_alloc(&ts[i], DT_F32, 2, shape)))
                break;
            memset(ts[i].data, 0, (size_t)cols * (size_t)cols * sizeof(float));
        }
    /* one pass: the model is not changed between tensors, so every H sees the same inputs as
     * a pass per tensor would (this is the static, uncompressed-model measurement) */
    float **H = s ? NULL : db_calloc(nt, sizeof *H);
    int64_t *Ks = s ? NULL : db_calloc(nt, sizeof *Ks);
    if (!s && (!H || !Ks))
        s = db_error(DB_ERR_NOMEM, "calib: out of memory");
    if (!s) {
        for (size_t i = 0; i < nt; i++)
            H[i] = ts[i].data, Ks[i] = ts[i].shape[0];
        observe_all_ctx o = {H, Ks, 0};
        c->m.hook.fn = observe_all;
        c->m.hook.ctx = &o;
        int B = c->m.acts.B;
        for (int w = 0; w < c->nwin && !s; w += B) {
            int nb = c->nwin - w < B ? c->nwin - w : B;
            s = tf_forward(&c->m, c->tok + (size_t)w * c->T, NULL, nb, c->T, NULL);
        }
        c->m.hook.fn = NULL;
        n = o.rows;
        float f = n ? 2.0f / (float)n : 0.0f;
        for (size_t i = 0; i < nt && !s; i++)
            for (int64_t j = 0; j < Ks[i] * Ks[i]; j++)
                H[i][j] *= f;
    }
    db_free(H);
    db_free(Ks);
    if (!s) {
        char ntok[32], win[32];
        snprintf(ntok, sizeof ntok, "%" PRId64, n);
        snprintf(win, sizeof win, "%d", c->T);
        const char *keys[] = {"tokens", "task", "window", "model"};
        const char *vals[] = {ntok, task, win, model_dir};
        s = st_save(out_path, nt, np, ts, 4, keys, vals);
    }
out:
    if (ts)
        for (size_t i = 0; i < nt; i++)
            tensor_free(&ts[i]);
    db_free(ts);
    db_free(np);
    db_free(names);
    calib_model_close(&c->iface);
    return s;
}
