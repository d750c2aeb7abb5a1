/* serve/exec_kn.c: the kernel executor (`serve --executor cuda`, or `cpu-kernels` on this CPU).
 *
 * Every iteration runs the real kernels of kernels/ at the model's shapes (random weights: speed
 * does not depend on the values): for each layer and each of its 7 projections, the base GEMM
 * over all the iteration's token rows and one batched delta call (every row with its model's
 * delta: SBMM, BitDelta, CSR, fp16), or for full-model policies one GEMM per distinct model over
 * its rows; then each model's fp16 lm_head over its requests' logit rows. The wall time of that
 * work (after a device sync) is the measured part; attention and the disk stage of a load are
 * not kernels of kernels/ and are charged by the cost model (cost_term / cost_load_disk), so an
 * iteration = measured GEMMs and delta kernels + costed attention. The host -> device stage of a
 * load is a real copy of the item's bytes (through a 64 MiB staging buffer).
 *
 * Device memory holds what the policy keeps there: the base and `slots` delta sets (each the 7 L
 * packed deltas plus the fine-tune's fp16 lm_head), or `slots` full fp16 models (one for
 * dedicated: each model has its own GPU, an iteration serves one). A model takes a set when it
 * runs without one, from the least recently used set no model of the iteration holds: the engine
 * keeps at most `slots` models resident and runs only resident ones, so one is always free. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/half.h"
#include "core/log.h"
#include "core/rng.h"
#include "serve/exec.h"
#include "kernels/random.h"
#include "models/tf.h"

enum { NPROJ = 7 };
#define STAGE_BYTES ((size_t)64 << 20)

typedef struct {
    exe_kn_opts o;
    kn_ctx *kn;
    kn_fmt fmt; /* delta format of the shared-base policies */
    bool shared;
    int L, sets, M; /* layers, device sets, matrices per layer stack (L NPROJ) */
    int64_t V, C, N[NPROJ], K[NPROJ];
    void **base;       /* shared: [M] fp16 base projections */
    void **full;       /* full models: [sets][M] */
    void **head;       /* [sets] fp16 lm_head of each set's model */
    void **dmem;       /* shared with deltas: [sets][M][KN_MAX_PARTS] device parts */
    const void **tab;  /* [M][KN_MAX_PARTS][sets]: descriptor tables */
    int64_t *nnz;      /* [M][sets] */
    kn_deltas *dl;     /* [M] */
    float *x, *y, *logits; /* device scratch */
    int32_t *row_delta;    /* host [max_rows] */
    int32_t *set_of;       /* [n_models], -1: none */
    int32_t *model_of;     /* [sets], -1: free */
    int64_t *last_used;    /* [sets]: the iteration that last used it */
    int32_t *rows_of, *reqs_of; /* [sets] rows / requests of the iteration */
    int64_t step;
    void *stage_host, *stage_dev;
} kn_exec;

static void kn_exec_free(void *ctx)
{
    kn_exec *x = ctx;
    if (!x)
        return;
    if (x->kn) {
        void **lists[] = {x->base, x->full, x->head, x->dmem};
        const int64_t counts[] = {x->M, (int64_t)x->sets * x->M, x->sets,
                                  (int64_t)x->sets * x->M * KN_MAX_PARTS};
        for (int i = 0; i < 4; i++)
            for (int64_t j = 0; lists[i] && j < counts[i]; j++)
                kn_free(x->kn, lists[i][j]);
        kn_free(x->kn, x->x), kn_free(x->kn, x->y), kn_free(x->kn, x->logits);
        kn_free(x->kn, x->stage_dev);
        kn_ctx_free(x->kn);
    }
    void *host[] = {x->base, x->full, x->head, x->dmem, x->tab, x->nnz, x->dl, x->row_delta,
                    x->set_of, x->model_of, x->last_used, x->rows_of, x->reqs_of, x->stage_host};
    for (size_t i = 0; i < sizeof host / sizeof host[0]; i++)
        db_free(host[i]);
    db_free(x);
}

/* A device buffer of `bytes` filled from the host image src (whose first bytes are used). */
static db_status dev_fill(kn_exec *x, void **p, const void *src, size_t bytes)
{
    db_status s = kn_alloc(x->kn, bytes, p);
    return s ? s : kn_upload(x->kn, *p, src, bytes);
}

/* The set holding model m, giving it one (the least recently used set not in this iteration)
 * when it has none. */
static db_status set_for(kn_exec *x, int32_t m, int32_t *out)
{
    if (x->o.dedicated) {
        *out = 0;
        return DB_OK;
    }
    if (x->set_of[m] < 0) {
        int best = -1;
        for (int s = 0; s < x->sets; s++)
            if (x->model_of[s] < 0 || x->last_used[s] < x->step)
                if (best < 0 || x->model_of[s] < 0 ||
                    (x->model_of[best] >= 0 && x->last_used[s] < x->last_used[best]))
                    best = s;
        if (best < 0)
            return db_error(DB_ERR_INTERNAL, "executor %s: more than %d models in one iteration",
                            x->o.name, x->sets);
        if (x->model_of[best] >= 0)
            x->set_of[x->model_of[best]] = -1;
        x->model_of[best] = m;
        x->set_of[m] = best;
    }
    *out = x->set_of[m];
    return DB_OK;
}

static db_status kn_step(void *ctx, const cost_batch *b, const exe_detail *d, double *seconds)
{
    kn_exec *x = ctx;
    const int n = (int)d->n;
    x->step++;
    memset(x->rows_of, 0, (size_t)x->sets * sizeof *x->rows_of);
    memset(x->reqs_of, 0, (size_t)x->sets * sizeof *x->reqs_of);
    int64_t R = 0;
    for (int i = 0; i < n; i++) {
        const int32_t m = d->model[i];
        if (m < 0 || m >= x->o.n_models)
            return db_error(DB_ERR_INTERNAL, "executor %s: request of model %d", x->o.name, m);
        int32_t s = 0;
        db_status st = set_for(x, m, &s);
        if (st)
            return st;
        x->last_used[s] = x->step;
        if (R + d->new_tok[i] > x->o.max_rows)
            return db_error(DB_ERR_INTERNAL, "executor %s: more than %lld rows", x->o.name,
                            (long long)x->o.max_rows);
        for (int32_t t = 0; t < d->new_tok[i]; t++) /* rows of a request stay together */
            x->row_delta[R++] = s;
        x->rows_of[s] += d->new_tok[i];
        x->reqs_of[s] += d->phase[i] != EXE_CHUNK; /* logit rows */
    }
    db_status s = DB_OK;
    const double t0 = db_now();
    for (int l = 0; l < x->L && !s; l++)
        for (int p = 0; p < NPROJ && !s; p++) {
            const int mi = l * NPROJ + p;
            if (x->shared) {
                s = kn_dense_gemm(x->kn, DT_F16, x->N[p], x->K[p], x->base[mi], R, x->x, x->y,
                                  false);
                if (!s && x->dl)
                    s = kn_delta_gemm(x->kn, &x->dl[mi], R, x->row_delta, x->x, x->y, true);
                continue;
            }
            for (int g = 0, r0 = 0; g < x->sets && !s; r0 += x->rows_of[g], g++)
                if (x->rows_of[g]) /* a model's rows are contiguous only per set here: the
                                      values do not matter, the row count and weights do */
                    s = kn_dense_gemm(x->kn, DT_F16, x->N[p], x->K[p], x->full[(size_t)g * x->M + mi],
                                      x->rows_of[g], x->x + (size_t)r0 * x->K[p],
                                      x->y + (size_t)r0 * x->N[p], false);
        }
    for (int g = 0; g < x->sets && !s; g++) /* logits: each model's own fp16 lm_head */
        if (x->reqs_of[g])
            s = kn_dense_gemm(x->kn, DT_F16, x->V, x->C, x->head[g], x->reqs_of[g], x->x,
                              x->logits, false);
    if (!s)
        s = kn_sync(x->kn);
    if (s)
        return s;
    *seconds = db_now() - t0 + cost_term(x->o.cost, b, COST_TERM_ATTN);
    return DB_OK;
}

static db_status kn_load(void *ctx, int32_t m, exe_stage stage, double bytes, double *seconds)
{
    kn_exec *x = ctx;
    if (m < 0 || m >= x->o.n_models)
        return db_error(DB_ERR_INTERNAL, "executor %s: load of model %d", x->o.name, m);
    if (stage == EXE_LOAD_DISK) { /* no multi-GB checkpoint files here: costed */
        *seconds = cost_load_disk(x->o.cost, bytes);
        return DB_OK;
    }
    db_status st = DB_OK;
    const double t0 = db_now();
    for (double done = 0; done < bytes && !st; done += (double)STAGE_BYTES) {
        const double left = bytes - done;
        st = kn_upload(x->kn, x->stage_dev, x->stage_host,
                       left < (double)STAGE_BYTES ? (size_t)left : STAGE_BYTES);
    }
    if (!st)
        st = kn_sync(x->kn);
    *seconds = db_now() - t0;
    return st;
}

static const exe_ops kn_ops_cuda = {"cuda", true, kn_step, kn_load, kn_exec_free};
static const exe_ops kn_ops_cpu = {"cpu-kernels", true, kn_step, kn_load, kn_exec_free};

/* The kernel format of a cost format, or an error naming the formats that have kernels. */
static db_status format_kernel(const char *who, const cost_format *f, kn_fmt *fmt)
{
    if (!strcmp(f->method, "fp16"))
        *fmt = KN_FMT_DENSE16;
    else if (!strcmp(f->method, "bitdelta"))
        *fmt = KN_FMT_BITDELTA;
    else if (!strcmp(f->method, "deltazip") && f->nm_n == 2 && f->nm_m == 4)
        *fmt = KN_FMT_NMQ;
    else if (!strcmp(f->method, "deltadq"))
        *fmt = KN_FMT_CSR; /* DeltaDQ's kept entries as CSR with fp16 values */
    else
        return db_error(DB_ERR_UNSUPPORTED,
                        "executor %s: delta format %s has no kernel (fp16, 4bit-2:4, 2bit-2:4, "
                        "bitdelta, deltadq-16x and deltadq-32x do)",
                        who, f->name);
    return DB_OK;
}

/* Weights: one random host image as large as the largest matrix, uploaded into every one. */
static db_status build_weights(kn_exec *x, db_rng *r)
{
    int64_t big = x->V * x->C;
    for (int p = 0; p < NPROJ; p++)
        big = x->N[p] * x->K[p] > big ? x->N[p] * x->K[p] : big;
    uint16_t *img = db_malloc_array((size_t)big, sizeof *img);
    if (!img)
        return db_error(DB_ERR_NOMEM, "executor %s: host image of %lld weights", x->o.name,
                        (long long)big);
    for (int64_t i = 0; i < big; i++)
        img[i] = f32_to_f16((float)(0.04 * (rng_f64(r) - 0.5)));
    db_status s = DB_OK;
    const int full_sets = x->shared ? 0 : x->sets;
    x->head = db_calloc((size_t)x->sets, sizeof *x->head);
    x->base = x->shared ? db_calloc((size_t)x->M, sizeof *x->base) : NULL;
    x->full = full_sets ? db_calloc((size_t)full_sets * x->M, sizeof *x->full) : NULL;
    if (!x->head || (x->shared && !x->base) || (full_sets && !x->full))
        s = db_error(DB_ERR_NOMEM, "executor %s: weight tables", x->o.name);
    for (int mi = 0; x->shared && mi < x->M && !s; mi++) {
        const int p = mi % NPROJ;
        s = dev_fill(x, &x->base[mi], img, (size_t)(x->N[p] * x->K[p]) * 2);
    }
    for (int64_t i = 0; i < (int64_t)full_sets * x->M && !s; i++) {
        const int p = (int)(i % x->M) % NPROJ;
        s = dev_fill(x, &x->full[i], img, (size_t)(x->N[p] * x->K[p]) * 2);
    }
    for (int g = 0; g < x->sets && !s; g++)
        s = dev_fill(x, &x->head[g], img, (size_t)(x->V * x->C) * 2);
    db_free(img);
    return s;
}

/* Deltas: per projection shape one random packed image, uploaded for every set and layer. */
static db_status build_deltas(kn_exec *x, db_rng *r)
{
    const cost_format *f = x->o.cost->format;
    const size_t nsm = (size_t)x->sets * x->M;
    x->dmem = db_calloc(nsm * KN_MAX_PARTS, sizeof *x->dmem);
    x->tab = db_calloc(nsm * KN_MAX_PARTS, sizeof *x->tab);
    x->nnz = db_calloc(nsm, sizeof *x->nnz);
    x->dl = db_calloc((size_t)x->M, sizeof *x->dl);
    if (!x->dmem || !x->tab || !x->nnz || !x->dl)
        return db_error(DB_ERR_NOMEM, "executor %s: delta tables", x->o.name);
    db_status s = DB_OK;
    for (int p = 0; p < NPROJ && !s; p++) {
        void *img[KN_MAX_PARTS] = {NULL};
        size_t bytes[KN_MAX_PARTS];
        int64_t nnz = 0;
        s = kn_random_delta(x->fmt, x->N[p], x->K[p], f->bits, f->density, 0, r, img, bytes, &nnz);
        const bool tiled = x->fmt == KN_FMT_BITDELTA && kn_bitdelta_prefers_tiled(x->kn);
        if (!s && tiled) { /* the layout this device's 1-bit kernel reads fastest */
            uint32_t *t = db_malloc(kn_bitdelta_tiled_bytes(x->N[p], x->K[p]));
            if (!t)
                s = db_error(DB_ERR_NOMEM, "1-bit signs of [%lld, %lld]", (long long)x->N[p],
                             (long long)x->K[p]);
            else {
                kn_bitdelta_tile(img[0], x->N[p], x->K[p], t);
                db_free(img[0]);
                img[0] = t;
                bytes[0] = kn_bitdelta_tiled_bytes(x->N[p], x->K[p]);
            }
        }
        for (int l = 0; l < x->L && !s; l++) {
            const int mi = l * NPROJ + p;
            for (int g = 0; g < x->sets && !s; g++) {
                x->nnz[(size_t)mi * x->sets + g] = nnz;
                for (int j = 0; j < KN_MAX_PARTS && !s; j++) {
                    void **slot = &x->dmem[((size_t)g * x->M + mi) * KN_MAX_PARTS + j];
                    if (bytes[j])
                        s = dev_fill(x, slot, img[j], bytes[j]);
                    x->tab[((size_t)mi * KN_MAX_PARTS + j) * x->sets + g] = *slot;
                }
            }
            const void **t = x->tab + (size_t)mi * KN_MAX_PARTS * x->sets;
            x->dl[mi] = (kn_deltas){x->fmt, x->N[p], x->K[p], f->bits, 2, 4, 0,
                                    x->fmt == KN_FMT_CSR ? DT_U32 : DT_F16, x->sets,
                                    {t, t + x->sets, t + 2 * x->sets},
                                    x->nnz + (size_t)mi * x->sets, tiled};
            if (!s)
                s = kn_deltas_check(&x->dl[mi]);
        }
        for (int j = 0; j < KN_MAX_PARTS; j++)
            db_free(img[j]);
    }
    return s;
}

db_status exe_kn_init(exe_executor *e, const exe_kn_opts *opts)
{
    e->ops = NULL, e->ctx = NULL;
    const cost_ctx *c = opts->cost;
    const llama_model *cm = c->model;
    if (c->tp != 1)
        return db_error(DB_ERR_ARG, "executor %s: one device only (--tp 1)", opts->name);
    if (opts->n_models < 1 || opts->slots < 1 || opts->max_batch < 1 || opts->max_rows < 1 ||
        opts->threads < 1)
        return db_error(DB_ERR_ARG, "executor %s: options out of range", opts->name);
    kn_exec *x = db_calloc(1, sizeof *x);
    if (!x)
        return db_error(DB_ERR_NOMEM, "executor %s", opts->name);
    x->o = *opts;
    x->shared = c->format != NULL;
    db_status s = DB_OK;
    if (x->shared)
        s = format_kernel(opts->name, c->format, &x->fmt);
    const int64_t HS = cm->C / cm->NH;
    x->L = (int)cm->L, x->V = cm->V, x->C = cm->C, x->M = x->L * NPROJ;
    const int64_t N[NPROJ] = {cm->NH * HS, cm->NKV * HS, cm->NKV * HS, cm->C, cm->F, cm->F, cm->C};
    const int64_t K[NPROJ] = {cm->C, cm->C, cm->C, cm->NH * HS, cm->C, cm->C, cm->F};
    memcpy(x->N, N, sizeof N), memcpy(x->K, K, sizeof K);
    x->sets = opts->dedicated ? 1 : opts->slots;
    /* What it will hold, checked before allocating (host memory is the device on the CPU). */
    double need = (x->shared ? c->full_bytes + x->sets * c->delta_bytes : x->sets * c->full_bytes);
    if (!s && opts->device == KN_CPU) {
        double phys = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
        if (need > 0.8 * phys)
            s = db_error(DB_ERR_ARG, "executor %s: %s with %d weight sets needs %.1f GB; this "
                         "machine has %.1f GB", opts->name, cm->name, x->sets, need / 1e9, phys / 1e9);
    }
    if (!s && opts->device == KN_CPU)
        tf_set_threads(opts->threads);
    if (!s && (s = kn_ctx_init(&x->kn, opts->device, KN_IMPL_FAST)))
        s = db_error(s, "executor %s: %s", opts->name, db_errmsg());
    db_rng r;
    rng_seed(&r, opts->seed);
    if (!s && (s = build_weights(x, &r)))
        s = db_error(s, "executor %s: %s", opts->name, db_errmsg());
    if (!s && x->shared && (s = build_deltas(x, &r)))
        s = db_error(s, "executor %s: %s", opts->name, db_errmsg());
    int64_t wide = x->C > cm->F ? x->C : cm->F;
    x->row_delta = db_calloc((size_t)opts->max_rows, sizeof *x->row_delta);
    x->set_of = db_malloc_array((size_t)opts->n_models, sizeof *x->set_of);
    x->model_of = db_malloc_array((size_t)x->sets, sizeof *x->model_of);
    x->last_used = db_calloc((size_t)x->sets, sizeof *x->last_used);
    x->rows_of = db_calloc((size_t)x->sets, sizeof *x->rows_of);
    x->reqs_of = db_calloc((size_t)x->sets, sizeof *x->reqs_of);
    x->stage_host = db_calloc(1, STAGE_BYTES);
    float *xin = db_malloc_array((size_t)(opts->max_rows * wide), sizeof *xin);
    if (!s && (!x->row_delta || !x->set_of || !x->model_of || !x->last_used || !x->rows_of ||
               !x->reqs_of || !x->stage_host || !xin))
        s = db_error(DB_ERR_NOMEM, "executor %s: buffers", opts->name);
    if (!s) {
        for (int i = 0; i < opts->n_models; i++)
            x->set_of[i] = -1;
        for (int g = 0; g < x->sets; g++)
            x->model_of[g] = -1;
        for (int64_t i = 0; i < opts->max_rows * wide; i++)
            xin[i] = (float)(rng_f64(&r) - 0.5);
        const size_t xb = (size_t)(opts->max_rows * wide) * sizeof(float);
        if ((s = kn_alloc(x->kn, xb, (void **)&x->x)) || (s = kn_upload(x->kn, x->x, xin, xb)) ||
            (s = kn_alloc(x->kn, xb, (void **)&x->y)) ||
            (s = kn_alloc(x->kn, (size_t)(opts->max_batch * x->V) * sizeof(float),
                          (void **)&x->logits)) ||
            (s = kn_alloc(x->kn, STAGE_BYTES, &x->stage_dev)) || (s = kn_sync(x->kn)))
            s = db_error(s, "executor %s: %s", opts->name, db_errmsg());
    }
    db_free(xin);
    if (s) {
        kn_exec_free(x); /* frees no error message: db_errmsg() stays */
        return s;
    }
    e->ops = opts->device == KN_CUDA ? &kn_ops_cuda : &kn_ops_cpu;
    e->ctx = x;
    return DB_OK;
}
