/* tf.c: the LLaMA-architecture transformer: layers' forward and backward, AdamW, KV decoding.
 *
 * One <layer>_forward / <layer>_backward pair per layer, in the order of the model, then the model
 * passes that string them together (llm.c's layout). Linear layers store HF's [out, in] weights,
 * so y = x·Wᵀ is one sgemm with the second operand transposed. See tf.h for the shape legend. */
#include "models/tf.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"

/* ---- sizes and layout --------------------------------------------------------------------- */

static size_t kind_size(const tf_config *c, llama_tensor kind)
{
    llama_shape s = tf_config_shape(c);
    int64_t sh[2] = {1, 1};
    int nd = llama_tensor_shape(&s, kind, sh);
    size_t n = (size_t)sh[0] * (size_t)(nd == 2 ? sh[1] : 1);
    return n;
}

llama_shape tf_config_shape(const tf_config *c)
{
    llama_shape s = {c->V, c->C, c->F, c->L, c->NH, c->NKV};
    return s;
}

size_t tf_param_count(const tf_config *c, llama_tensor kind)
{
    size_t n = kind_size(c, kind);
    return llama_is_layer_tensor(kind) ? n * (size_t)c->L : n;
}

size_t tf_param_total(const tf_config *c)
{
    size_t n = 0;
    for (int k = 0; k < LT_COUNT; k++)
        n += tf_param_count(c, (llama_tensor)k);
    return n;
}

db_status tf_config_validate(const tf_config *c)
{
    if (c->V <= 0 || c->C <= 0 || c->F <= 0 || c->L <= 0 || c->NH <= 0 || c->NKV <= 0 ||
        c->HS <= 0 || c->maxT <= 0)
        return db_error(DB_ERR_ARG, "config: sizes must be positive");
    if ((int64_t)c->NH * c->HS != c->C)
        return db_error(DB_ERR_ARG, "config: num_attention_heads (%d) x head size (%d) != "
                        "hidden_size (%d)", c->NH, c->HS, c->C);
    if (c->NH % c->NKV != 0)
        return db_error(DB_ERR_ARG, "config: num_attention_heads (%d) not divisible by "
                        "num_key_value_heads (%d)", c->NH, c->NKV);
    if (c->HS % 2 != 0)
        return db_error(DB_ERR_ARG, "config: head size %d is odd (rotary embeddings need pairs)",
                        c->HS);
    if (!(c->eps > 0) || !(c->rope_theta > 0))
        return db_error(DB_ERR_ARG, "config: rms_norm_eps and rope_theta must be positive");
    return DB_OK;
}

float *tf_weight(const tf_model *m, llama_tensor kind, int layer, int64_t *rows, int64_t *cols)
{
    llama_shape s = tf_config_shape(&m->cfg);
    int64_t sh[2] = {1, 1};
    int nd = llama_tensor_shape(&s, kind, sh);
    if (nd == 1) {
        sh[1] = sh[0];
        sh[0] = 1;
    }
    if (rows)
        *rows = sh[0];
    if (cols)
        *cols = sh[1];
    size_t off = llama_is_layer_tensor(kind) ? (size_t)layer * (size_t)(sh[0] * sh[1]) : 0;
    return m->p[kind] + off;
}

static void point_params(const tf_config *c, float *base, float **ptr)
{
    size_t off = 0;
    for (int k = 0; k < LT_COUNT; k++) {
        ptr[k] = base + off;
        off += tf_param_count(c, (llama_tensor)k);
    }
}

static void rope_tables(tf_model *m)
{
    const tf_config *c = &m->cfg;
    int h = c->HS / 2;
    for (int t = 0; t < c->maxT; t++)
        for (int i = 0; i < h; i++) {
            /* HF: inv_freq_i = theta^(-2i/HS), angle = t * inv_freq_i (double for accuracy) */
            double freq = pow((double)c->rope_theta, -2.0 * i / c->HS);
            double a = (double)t * freq;
            m->rope_cos[(size_t)t * h + i] = (float)cos(a);
            m->rope_sin[(size_t)t * h + i] = (float)sin(a);
        }
}

db_status tf_model_init(tf_model *m, const tf_config *c)
{
    memset(m, 0, sizeof *m);
    db_status s = tf_config_validate(c);
    if (s)
        return s;
    m->cfg = *c;
    m->nparams = tf_param_total(c);
    m->params = db_malloc_aligned(64, m->nparams * sizeof(float));
    size_t nrope = (size_t)c->maxT * (size_t)(c->HS / 2);
    m->rope_cos = db_malloc_array(nrope, sizeof(float));
    m->rope_sin = db_malloc_array(nrope, sizeof(float));
    if (!m->params || !m->rope_cos || !m->rope_sin) {
        tf_model_free(m);
        return db_error(DB_ERR_NOMEM, "model: out of memory for %zu parameters", m->nparams);
    }
    memset(m->params, 0, m->nparams * sizeof(float));
    point_params(c, m->params, m->p);
    rope_tables(m);
    return DB_OK;
}

static void acts_free(tf_acts *a)
{
    db_free(a->mem);
    memset(a, 0, sizeof *a);
}

void tf_model_free(tf_model *m)
{
    if (!m)
        return;
    db_free(m->params);
    db_free(m->grads);
    db_free(m->adam_m);
    db_free(m->adam_v);
    db_free(m->rope_cos);
    db_free(m->rope_sin);
    acts_free(&m->acts);
    memset(m, 0, sizeof *m);
}

void tf_model_init_random(tf_model *m, uint64_t seed)
{
    const tf_config *c = &m->cfg;
    for (int k = 0; k < LT_COUNT; k++) {
        size_t n = tf_param_count(c, (llama_tensor)k);
        float *p = m->p[k];
        if (k == LT_ATTN_NORM || k == LT_MLP_NORM || k == LT_FINAL_NORM) {
            for (size_t i = 0; i < n; i++)
                p[i] = 1.0f;
            continue;
        }
        float std = 0.02f;
        if (k == LT_O || k == LT_DOWN)
            std /= sqrtf(2.0f * (float)c->L);
        db_rng r;
        rng_stream(&r, seed, (uint64_t)k); /* one stream per kind: independent of layout order */
        for (size_t i = 0; i < n; i++)
            p[i] = (float)(rng_normal(&r) * std);
    }
}

uint64_t tf_model_hash(const tf_model *m)
{
    /* FNV-1a over 32-bit words, finalised with splitmix: bit-exact equality is what matters */
    uint64_t h = 1469598103934665603ULL;
    const uint32_t *w = (const uint32_t *)m->params;
    for (size_t i = 0; i < m->nparams; i++) {
        h ^= w[i];
        h *= 1099511628211ULL;
    }
    return rng_mix64(h ^ m->nparams);
}

/* ---- activations -------------------------------------------------------------------------- */

db_status tf_acts_alloc(tf_model *m, int B, int T, bool train)
{
    const tf_config *c = &m->cfg;
    tf_acts *a = &m->acts;
    acts_free(a);
    if (B <= 0 || T <= 0 || T > c->maxT)
        return db_error(DB_ERR_ARG, "model: batch %d x %d tokens outside 1..%d positions", B, T,
                        c->maxT);
    size_t BT = (size_t)B * T, L = (size_t)c->L, C = c->C, F = c->F, V = c->V;
    size_t QD = (size_t)c->NH * c->HS, KD = (size_t)c->NKV * c->HS;
    size_t ATT = (size_t)B * c->NH * (size_t)T * T;
    struct {
        float **p;
        size_t n;
    } parts[] = {
        {&a->resid, (L + 1) * BT * C}, {&a->resmid, L * BT * C}, {&a->ln1, L * BT * C},
        {&a->ln1r, L * BT},            {&a->q, L * BT * QD},     {&a->k, L * BT * KD},
        {&a->v, L * BT * KD},          {&a->att, L * ATT},       {&a->atty, L * BT * QD},
        {&a->ln2, L * BT * C},         {&a->ln2r, L * BT},       {&a->gate, L * BT * F},
        {&a->up, L * BT * F},          {&a->hmid, L * BT * F},   {&a->lnf, BT * C},
        {&a->lnfr, BT},                {&a->logits, BT * V},     {&a->rowloss, BT},
        /* backward scratch */
        {&a->dlogits, BT * V},         {&a->dres, BT * C},       {&a->dln, BT * C},
        {&a->dq, BT * QD},             {&a->dk, BT * KD},        {&a->dv, BT * KD},
        {&a->datty, BT * QD},          {&a->datt, ATT},          {&a->dgate, BT * F},
        {&a->dup, BT * F},             {&a->dhmid, BT * F},      {&a->dx, BT * C},
    };
    size_t nparts = sizeof parts / sizeof parts[0];
    size_t nfwd = 18; /* the first 18 parts are the forward activations */
    size_t total = 0;
    for (size_t i = 0; i < (train ? nparts : nfwd); i++)
        total += (parts[i].n + 15) & ~(size_t)15; /* keep every part 64-byte aligned */
    a->mem = db_malloc_aligned(64, total * sizeof(float));
    if (!a->mem)
        return db_error(DB_ERR_NOMEM, "model: out of memory for activations (%zu floats)", total);
    size_t off = 0;
    for (size_t i = 0; i < (train ? nparts : nfwd); i++) {
        *parts[i].p = a->mem + off;
        off += (parts[i].n + 15) & ~(size_t)15;
    }
    memset(a->mem, 0, total * sizeof(float)); /* attention's upper triangle stays 0 */
    a->B = B;
    a->T = T;
    a->train = train;
    return DB_OK;
}

db_status tf_train_alloc(tf_model *m)
{
    size_t n = m->nparams;
    db_free(m->grads);
    db_free(m->adam_m);
    db_free(m->adam_v);
    m->grads = db_calloc(n, sizeof(float));
    m->adam_m = db_calloc(n, sizeof(float));
    m->adam_v = db_calloc(n, sizeof(float));
    if (!m->grads || !m->adam_m || !m->adam_v) {
        /* all or nothing: no part of the three, and no gradient pointer into the freed ones */
        db_free(m->grads);
        db_free(m->adam_m);
        db_free(m->adam_v);
        m->grads = m->adam_m = m->adam_v = NULL;
        memset(m->g, 0, sizeof m->g);
        return db_error(DB_ERR_NOMEM, "model: out of memory for gradients (%zu parameters)", n);
    }
    point_params(&m->cfg, m->grads, m->g);
    return DB_OK;
}

void tf_zero_grad(tf_model *m)
{
    if (m->grads)
        memset(m->grads, 0, m->nparams * sizeof(float));
}

/* Loops smaller than this many multiply-adds run on one thread: waking a second thread costs
 * more than it saves on micro models, and far more when the machine is busy. */
#define PAR_MIN 32768

/* ---- layers ------------------------------------------------------------------------------- */

static void encoder_forward(float *out, const int *tok, const float *wte, int BT, int C)
{
    for (int i = 0; i < BT; i++)
        memcpy(out + (size_t)i * C, wte + (size_t)tok[i] * C, (size_t)C * sizeof(float));
}

static void encoder_backward(float *dwte, const float *dout, const int *tok, int BT, int C)
{
    /* serial: rows sharing a token would race, and a fixed order keeps sums bit-exact */
    for (int i = 0; i < BT; i++) {
        float *d = dwte + (size_t)tok[i] * C;
        const float *g = dout + (size_t)i * C;
        for (int j = 0; j < C; j++)
            d[j] += g[j];
    }
}

/* out [N, C] = x * rstd * w, rstd [N] kept for the backward */
static void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C,
                            float eps)
{
#pragma omp parallel for schedule(static) if((int64_t)N * C >= PAR_MIN)
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * C;
        float ss = 0.0f;
        for (int j = 0; j < C; j++)
            ss += xi[j] * xi[j];
        float r = 1.0f / sqrtf(ss / (float)C + eps);
        if (rstd)
            rstd[i] = r;
        float *o = out + (size_t)i * C;
        for (int j = 0; j < C; j++)
            o[j] = xi[j] * r * w[j];
    }
}

/* dx [N, C] += d(out)/dx · dout; dw [C] += sum_i dout * x * rstd */
static void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x,
                             const float *w, const float *rstd, int N, int C)
{
#pragma omp parallel for schedule(static) if((int64_t)N * C >= PAR_MIN)
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * C, *gi = dout + (size_t)i * C;
        float r = rstd[i], dot = 0.0f;
        for (int j = 0; j < C; j++)
            dot += gi[j] * w[j] * xi[j];
        float k = dot * r * r * r / (float)C;
        float *d = dx + (size_t)i * C;
        for (int j = 0; j < C; j++)
            d[j] += gi[j] * w[j] * r - xi[j] * k;
    }
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * C, *gi = dout + (size_t)i * C;
        float r = rstd[i];
        for (int j = 0; j < C; j++)
            dw[j] += gi[j] * xi[j] * r;
    }
}

/* C [M, N] = A [M, K] · op(B) + beta C through OpenBLAS; op(B) = Bᵀ with B [N, K] (tb =
 * CblasTrans) or B [K, N]. */
static int n_threads = 1;  /* tf_set_threads */
static int blas_threads = 1; /* what OpenBLAS is set to now */

/* OpenBLAS threads every call it is given; GEMMs under GEMM_PAR_MIN multiply-adds (micro models,
 * decoding) run on one thread instead, because a parallel region costs more than they do (20x
 * slower training of the micro zoo on a busy 2-core machine). The choice depends only on the
 * shape, so results stay bit-identical for a given thread count. */
#define GEMM_PAR_MIN (1 << 21)
static void blas_threads_for(int64_t work)
{
    int want = work < GEMM_PAR_MIN ? 1 : n_threads;
    if (want != blas_threads) {
        openblas_set_num_threads(want);
        blas_threads = want;
    }
}

static void sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int M, int N, int K, const float *A,
                  int lda, const float *Bm, int ldb, float beta, float *Cm, int ldc)
{
    blas_threads_for((int64_t)M * N * K);
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, 1.0f, A, lda, Bm, ldb, beta, Cm, ldc);
}

static void gemm_rows(CBLAS_TRANSPOSE tb, int M, int N, int K, const float *A, int lda,
                      const float *Bm, int ldb, float beta, float *Cm, int ldc)
{
    sgemm(CblasNoTrans, tb, M, N, K, A, lda, Bm, ldb, beta, Cm, ldc);
}

/* out [N, OC] = inp [N, IC] · W[OC, IC]ᵀ, then the hook (applied delta / observer) */
static db_status matmul_forward(tf_model *m, int layer, llama_tensor kind, float *out,
                                const float *inp, const float *w, int N, int IC, int OC)
{
    gemm_rows(CblasTrans, N, OC, IC, inp, IC, w, IC, 0.0f, out, OC);
    if (m->hook.fn)
        return m->hook.fn(m->hook.ctx, layer, kind, N, inp, out);
    return DB_OK;
}

/* dinp [N, IC] (+)= dout · W (beta 0 overwrites, 1 accumulates); dW [OC, IC] += doutᵀ · inp */
static void matmul_backward(float *dinp, float beta, float *dw, const float *dout,
                            const float *inp, const float *w, int N, int IC, int OC)
{
    gemm_rows(CblasNoTrans, N, IC, OC, dout, OC, w, IC, beta, dinp, IC);
    sgemm(CblasTrans, CblasNoTrans, OC, IC, N, dout, OC, inp, IC, 1.0f, dw, IC);
}

/* Rotates heads of x [N, nh*HS] in place, row i at position pos[i] (or i % T when pos is NULL);
 * sign -1 applies the inverse rotation (the backward of a rotation is its transpose). */
static void rope_apply(float *x, const int *pos, int N, int T, int nh, int HS, const float *cosb,
                       const float *sinb, float sign)
{
    int h = HS / 2;
#pragma omp parallel for schedule(static) if((int64_t)N * nh * HS >= PAR_MIN)
    for (int i = 0; i < N; i++) {
        int t = pos ? pos[i] : i % T;
        const float *cs = cosb + (size_t)t * h, *sn = sinb + (size_t)t * h;
        for (int hd = 0; hd < nh; hd++) {
            float *v = x + (size_t)i * nh * HS + (size_t)hd * HS;
            for (int j = 0; j < h; j++) {
                float a = v[j], b = v[j + h], s = sign * sn[j];
                v[j] = a * cs[j] - b * s;
                v[j + h] = b * cs[j] + a * s;
            }
        }
    }
}

/* The vector loops of attention over one head (n = HS). `omp simd` lets the compiler reorder a
 * dot product's sum into vector lanes: still one fixed order for a given HS and build, so results
 * stay bit-identical across runs and thread counts. */
static inline float head_dot(const float *a, const float *b, int n)
{
    float s = 0.0f;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < n; j++)
        s += a[j] * b[j];
    return s;
}

/* y += w x */
static inline void head_axpy(float *y, float w, const float *x, int n)
{
#pragma omp simd
    for (int j = 0; j < n; j++)
        y[j] += w * x[j];
}

/* Causal attention. q [B, T, NH*HS], k, v [B, T, NKV*HS] -> out [B, T, NH*HS], att [B, NH, T, T] */
static void attention_forward(float *out, float *att, const float *q, const float *k,
                              const float *v, int B, int T, int NH, int NKV, int HS)
{
    int QD = NH * HS, KD = NKV * HS, grp = NH / NKV;
    float scale = 1.0f / sqrtf((float)HS);
#pragma omp parallel for collapse(2) schedule(static) if((int64_t)B * NH * T * T * HS >= 2 * PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++) {
            int kh = h / grp;
            for (int t = 0; t < T; t++) {
                const float *qt = q + ((size_t)b * T + t) * QD + (size_t)h * HS;
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float mx = -INFINITY;
                for (int u = 0; u <= t; u++) {
                    const float *ku = k + ((size_t)b * T + u) * KD + (size_t)kh * HS;
                    float s = head_dot(qt, ku, HS) * scale;
                    a[u] = s;
                    if (s > mx)
                        mx = s;
                }
                float sum = 0.0f;
                for (int u = 0; u <= t; u++) {
                    a[u] = expf(a[u] - mx);
                    sum += a[u];
                }
                float inv = 1.0f / sum;
                for (int u = 0; u <= t; u++)
                    a[u] *= inv;
                float *o = out + ((size_t)b * T + t) * QD + (size_t)h * HS;
                memset(o, 0, (size_t)HS * sizeof(float));
                for (int u = 0; u <= t; u++)
                    head_axpy(o, a[u], v + ((size_t)b * T + u) * KD + (size_t)kh * HS, HS);
            }
        }
}

/* Gradients of attention: dq overwritten, dk and dv overwritten (per key/value head, the query
 * heads of a group are summed in a fixed order: parallel over (b, kv head) keeps it race-free). */
static void attention_backward(float *dq, float *dk, float *dv, float *datt, const float *dout,
                               const float *q, const float *k, const float *v, const float *att,
                               int B, int T, int NH, int NKV, int HS)
{
    int QD = NH * HS, KD = NKV * HS, grp = NH / NKV;
    float scale = 1.0f / sqrtf((float)HS);
#pragma omp parallel for collapse(2) schedule(static) if((int64_t)B * NH * T * T * HS >= PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int kh = 0; kh < NKV; kh++) {
            for (int t = 0; t < T; t++) {
                memset(dk + ((size_t)b * T + t) * KD + (size_t)kh * HS, 0, (size_t)HS * sizeof(float));
                memset(dv + ((size_t)b * T + t) * KD + (size_t)kh * HS, 0, (size_t)HS * sizeof(float));
            }
            for (int h = kh * grp; h < (kh + 1) * grp; h++)
                for (int t = 0; t < T; t++) {
                    const float *a = att + (((size_t)b * NH + h) * T + t) * T;
                    float *da = datt + (((size_t)b * NH + h) * T + t) * T;
                    const float *go = dout + ((size_t)b * T + t) * QD + (size_t)h * HS;
                    const float *qt = q + ((size_t)b * T + t) * QD + (size_t)h * HS;
                    float *dqt = dq + ((size_t)b * T + t) * QD + (size_t)h * HS;
                    /* d att[u] = go · v[u]; dv[u] += att[u] * go */
                    float dsum = 0.0f;
                    for (int u = 0; u <= t; u++) {
                        const size_t off = ((size_t)b * T + u) * KD + (size_t)kh * HS;
                        const float s = head_dot(go, v + off, HS);
                        head_axpy(dv + off, a[u], go, HS);
                        da[u] = s;
                        dsum += a[u] * s;
                    }
                    /* softmax backward, then the scaled dot products */
                    memset(dqt, 0, (size_t)HS * sizeof(float));
                    for (int u = 0; u <= t; u++) {
                        const float ds = a[u] * (da[u] - dsum) * scale;
                        const size_t off = ((size_t)b * T + u) * KD + (size_t)kh * HS;
                        head_axpy(dqt, ds, k + off, HS);
                        head_axpy(dk + off, ds, qt, HS);
                    }
                }
        }
}

/* hmid = silu(gate) * up, elementwise over n */
static void swiglu_forward(float *out, const float *gate, const float *up, size_t n)
{
#pragma omp parallel for schedule(static) if(n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

static void swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                            const float *up, size_t n)
{
#pragma omp parallel for schedule(static) if(n >= PAR_MIN)
    for (size_t i = 0; i < n; i++) {
        float g = gate[i], sg = 1.0f / (1.0f + expf(-g));
        float silu = g * sg;
        dup[i] = dout[i] * silu;
        dgate[i] = dout[i] * up[i] * sg * (1.0f + g * (1.0f - sg));
    }
}

/* Per-position cross-entropy of logits [N, V] against targets (-1 ignored) into rowloss [N]. */
static void crossentropy_forward(float *rowloss, const float *logits, const int *targets, int N,
                                 int V)
{
#pragma omp parallel for schedule(static) if((int64_t)N * V >= PAR_MIN)
    for (int i = 0; i < N; i++) {
        int y = targets[i];
        if (y < 0) {
            rowloss[i] = 0.0f;
            continue;
        }
        const float *l = logits + (size_t)i * V;
        float mx = l[0];
        for (int j = 1; j < V; j++)
            if (l[j] > mx)
                mx = l[j];
        double s = 0.0;
        for (int j = 0; j < V; j++)
            s += exp((double)(l[j] - mx));
        rowloss[i] = (float)(log(s) + mx - l[y]);
    }
}

/* dlogits [N, V] = (softmax - onehot) / count for counted rows, 0 for ignored ones. */
static void crossentropy_backward(float *dlogits, const float *logits, const int *targets, int N,
                                  int V, float inv_count)
{
#pragma omp parallel for schedule(static) if((int64_t)N * V >= PAR_MIN)
    for (int i = 0; i < N; i++) {
        float *d = dlogits + (size_t)i * V;
        int y = targets[i];
        if (y < 0) {
            memset(d, 0, (size_t)V * sizeof(float));
            continue;
        }
        const float *l = logits + (size_t)i * V;
        float mx = l[0];
        for (int j = 1; j < V; j++)
            if (l[j] > mx)
                mx = l[j];
        float s = 0.0f;
        for (int j = 0; j < V; j++) {
            d[j] = expf(l[j] - mx);
            s += d[j];
        }
        float k = inv_count / s;
        for (int j = 0; j < V; j++)
            d[j] *= k;
        d[y] -= inv_count;
    }
}

static void add_inplace(float *a, const float *b, size_t n)
{
#pragma omp parallel for schedule(static) if(n >= PAR_MIN)
    for (size_t i = 0; i < n; i++)
        a[i] += b[i];
}

/* ---- model forward / backward ------------------------------------------------------------- */

db_status tf_forward(tf_model *m, const int *tokens, const int *targets, int B, int T,
                     float *loss)
{
    const tf_config *c = &m->cfg;
    tf_acts *a = &m->acts;
    if (!a->mem || B > a->B || T > a->T || B <= 0 || T <= 0)
        return db_error(DB_ERR_ARG, "model: forward of %d x %d tokens beyond activations %d x %d",
                        B, T, a->B, a->T);
    int BT = B * T, C = c->C, F = c->F, V = c->V;
    int QD = c->NH * c->HS, KD = c->NKV * c->HS;
    for (int i = 0; i < BT; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return db_error(DB_ERR_ARG, "model: token id %d outside vocabulary of %d", tokens[i],
                            V);
    /* activations are laid out for the allocated (B, T); a smaller call uses each layer's
     * slot with the allocated stride, so the backward finds them where it expects */
    size_t sBTC = (size_t)a->B * a->T * C, sBT = (size_t)a->B * a->T;
    size_t sQ = (size_t)a->B * a->T * QD, sK = (size_t)a->B * a->T * KD;
    size_t sF = (size_t)a->B * a->T * F, sA = (size_t)a->B * c->NH * (size_t)a->T * a->T;
    db_status s = DB_OK;

    encoder_forward(a->resid, tokens, m->p[LT_EMBED], BT, C);
    for (int l = 0; l < c->L; l++) {
        float *x = a->resid + l * sBTC, *xm = a->resmid + l * sBTC, *xo = a->resid + (l + 1) * sBTC;
        float *ln1 = a->ln1 + l * sBTC, *ln1r = a->ln1r + l * sBT;
        float *q = a->q + l * sQ, *k = a->k + l * sK, *v = a->v + l * sK;
        float *att = a->att + l * sA, *atty = a->atty + l * sQ;
        float *ln2 = a->ln2 + l * sBTC, *ln2r = a->ln2r + l * sBT;
        float *gate = a->gate + l * sF, *up = a->up + l * sF, *hm = a->hmid + l * sF;

        rmsnorm_forward(ln1, ln1r, x, tf_weight(m, LT_ATTN_NORM, l, 0, 0), BT, C, c->eps);
        if ((s = matmul_forward(m, l, LT_Q, q, ln1, tf_weight(m, LT_Q, l, 0, 0), BT, C, QD)) ||
            (s = matmul_forward(m, l, LT_K, k, ln1, tf_weight(m, LT_K, l, 0, 0), BT, C, KD)) ||
            (s = matmul_forward(m, l, LT_V, v, ln1, tf_weight(m, LT_V, l, 0, 0), BT, C, KD)))
            return s;
        rope_apply(q, NULL, BT, T, c->NH, c->HS, m->rope_cos, m->rope_sin, 1.0f);
        rope_apply(k, NULL, BT, T, c->NKV, c->HS, m->rope_cos, m->rope_sin, 1.0f);
        attention_forward(atty, att, q, k, v, B, T, c->NH, c->NKV, c->HS);
        if ((s = matmul_forward(m, l, LT_O, xm, atty, tf_weight(m, LT_O, l, 0, 0), BT, QD, C)))
            return s;
        add_inplace(xm, x, (size_t)BT * C);
        rmsnorm_forward(ln2, ln2r, xm, tf_weight(m, LT_MLP_NORM, l, 0, 0), BT, C, c->eps);
        if ((s = matmul_forward(m, l, LT_GATE, gate, ln2, tf_weight(m, LT_GATE, l, 0, 0), BT, C, F)) ||
            (s = matmul_forward(m, l, LT_UP, up, ln2, tf_weight(m, LT_UP, l, 0, 0), BT, C, F)))
            return s;
        swiglu_forward(hm, gate, up, (size_t)BT * F);
        if ((s = matmul_forward(m, l, LT_DOWN, xo, hm, tf_weight(m, LT_DOWN, l, 0, 0), BT, F, C)))
            return s;
        add_inplace(xo, xm, (size_t)BT * C);
    }
    rmsnorm_forward(a->lnf, a->lnfr, a->resid + c->L * sBTC, m->p[LT_FINAL_NORM], BT, C, c->eps);
    if ((s = matmul_forward(m, -1, LT_LM_HEAD, a->logits, a->lnf, m->p[LT_LM_HEAD], BT, C, V)))
        return s;

    a->targets = targets;
    a->ntargets = 0;
    if (targets) {
        crossentropy_forward(a->rowloss, a->logits, targets, BT, V);
        double sum = 0.0;
        for (int i = 0; i < BT; i++)
            if (targets[i] >= 0) {
                sum += a->rowloss[i];
                a->ntargets++;
            }
        if (loss)
            *loss = a->ntargets ? (float)(sum / (double)a->ntargets) : 0.0f;
    }
    a->tokens = tokens;
    a->fB = B; /* the backward needs the shape of this call */
    a->fT = T;
    return DB_OK;
}

db_status tf_backward_from(tf_model *m, const float *dlogits)
{
    const tf_config *c = &m->cfg;
    tf_acts *a = &m->acts;
    if (!a->train || !m->grads)
        return db_error(DB_ERR_ARG, "model: backward without gradient buffers");
    int B = a->fB, T = a->fT, BT = B * T, C = c->C, F = c->F, V = c->V;
    int QD = c->NH * c->HS, KD = c->NKV * c->HS;
    size_t sBTC = (size_t)a->B * a->T * C, sBT = (size_t)a->B * a->T;
    size_t sQ = (size_t)a->B * a->T * QD, sK = (size_t)a->B * a->T * KD;
    size_t sF = (size_t)a->B * a->T * F, sA = (size_t)a->B * c->NH * (size_t)a->T * a->T;

    matmul_backward(a->dln, 0.0f, m->g[LT_LM_HEAD], dlogits, a->lnf, m->p[LT_LM_HEAD], BT, C, V);
    memset(a->dres, 0, (size_t)BT * C * sizeof(float));
    rmsnorm_backward(a->dres, m->g[LT_FINAL_NORM], a->dln, a->resid + c->L * sBTC,
                     m->p[LT_FINAL_NORM], a->lnfr, BT, C);
    for (int l = c->L - 1; l >= 0; l--) {
        float *x = a->resid + l * sBTC, *xm = a->resmid + l * sBTC;
        float *ln1 = a->ln1 + l * sBTC, *ln1r = a->ln1r + l * sBT;
        float *q = a->q + l * sQ, *k = a->k + l * sK, *v = a->v + l * sK;
        float *att = a->att + l * sA, *atty = a->atty + l * sQ;
        float *ln2 = a->ln2 + l * sBTC, *ln2r = a->ln2r + l * sBT;
        float *gate = a->gate + l * sF, *up = a->up + l * sF, *hm = a->hmid + l * sF;
        float *g_;
#define W(kind) tf_weight(m, kind, l, 0, 0)
#define G(kind) (g_ = m->g[kind] + (W(kind) - m->p[kind]))

        /* MLP: xo = xm + down(silu(gate(ln2)) * up(ln2)); dres is d xo */
        matmul_backward(a->dhmid, 0.0f, G(LT_DOWN), a->dres, hm, W(LT_DOWN), BT, F, C);
        swiglu_backward(a->dgate, a->dup, a->dhmid, gate, up, (size_t)BT * F);
        matmul_backward(a->dln, 0.0f, G(LT_GATE), a->dgate, ln2, W(LT_GATE), BT, C, F);
        matmul_backward(a->dln, 1.0f, G(LT_UP), a->dup, ln2, W(LT_UP), BT, C, F);
        rmsnorm_backward(a->dres, G(LT_MLP_NORM), a->dln, xm, W(LT_MLP_NORM), ln2r, BT, C);
        /* attention: xm = x + o(attn(...)); dres is now d xm */
        matmul_backward(a->datty, 0.0f, G(LT_O), a->dres, atty, W(LT_O), BT, QD, C);
        attention_backward(a->dq, a->dk, a->dv, a->datt, a->datty, q, k, v, att, B, T, c->NH,
                           c->NKV, c->HS);
        rope_apply(a->dq, NULL, BT, T, c->NH, c->HS, m->rope_cos, m->rope_sin, -1.0f);
        rope_apply(a->dk, NULL, BT, T, c->NKV, c->HS, m->rope_cos, m->rope_sin, -1.0f);
        matmul_backward(a->dln, 0.0f, G(LT_Q), a->dq, ln1, W(LT_Q), BT, C, QD);
        matmul_backward(a->dln, 1.0f, G(LT_K), a->dk, ln1, W(LT_K), BT, C, KD);
        matmul_backward(a->dln, 1.0f, G(LT_V), a->dv, ln1, W(LT_V), BT, C, KD);
        rmsnorm_backward(a->dres, G(LT_ATTN_NORM), a->dln, x, W(LT_ATTN_NORM), ln1r, BT, C);
#undef W
#undef G
        (void)g_;
    }
    encoder_backward(m->g[LT_EMBED], a->dres, a->tokens, BT, C);
    return DB_OK;
}

db_status tf_backward(tf_model *m)
{
    tf_acts *a = &m->acts;
    if (!a->train || !a->targets)
        return db_error(DB_ERR_ARG, "model: backward without a training forward (targets)");
    int BT = a->fB * a->fT;
    float inv = a->ntargets ? 1.0f / (float)a->ntargets : 0.0f;
    crossentropy_backward(a->dlogits, a->logits, a->targets, BT, m->cfg.V, inv);
    return tf_backward_from(m, a->dlogits);
}

float tf_clip_grad(tf_model *m, float max_norm)
{
    double ss = 0.0;
    for (size_t i = 0; i < m->nparams; i++)
        ss += (double)m->grads[i] * m->grads[i];
    float norm = (float)sqrt(ss);
    if (max_norm > 0 && norm > max_norm) {
        float k = max_norm / norm;
        for (size_t i = 0; i < m->nparams; i++)
            m->grads[i] *= k;
    }
    return norm;
}

void tf_adamw_step(tf_model *m, float lr, float beta1, float beta2, float eps, float wd, int step)
{
    float bc1 = 1.0f - powf(beta1, (float)step), bc2 = 1.0f - powf(beta2, (float)step);
    for (int kind = 0; kind < LT_COUNT; kind++) {
        bool decay = !(kind == LT_ATTN_NORM || kind == LT_MLP_NORM || kind == LT_FINAL_NORM);
        size_t off = (size_t)(m->p[kind] - m->params), n = tf_param_count(&m->cfg, kind);
        float *p = m->params + off, *g = m->grads + off, *mm = m->adam_m + off,
              *vv = m->adam_v + off;
        float wdk = decay ? wd : 0.0f;
#pragma omp parallel for schedule(static) if(n >= PAR_MIN)
        for (size_t i = 0; i < n; i++) {
            mm[i] = beta1 * mm[i] + (1.0f - beta1) * g[i];
            vv[i] = beta2 * vv[i] + (1.0f - beta2) * g[i] * g[i];
            float mh = mm[i] / bc1, vh = vv[i] / bc2;
            p[i] -= lr * (mh / (sqrtf(vh) + eps) + wdk * p[i]);
        }
    }
}

/* ---- KV-cache decoding ------------------------------------------------------------------- */

db_status tf_kv_alloc(tf_kv *kv, const tf_config *c, int B, int T)
{
    memset(kv, 0, sizeof *kv);
    if (B <= 0 || T <= 0 || T > c->maxT)
        return db_error(DB_ERR_ARG, "model: KV cache of %d slots x %d positions outside 1..%d", B,
                        T, c->maxT);
    size_t KD = (size_t)c->NKV * c->HS, QD = (size_t)c->NH * c->HS;
    size_t nc = (size_t)c->L * B * (size_t)T * KD;
    struct {
        float **p;
        size_t n;
    } parts[] = {
        {&kv->kc, nc},           {&kv->vc, nc},           {&kv->x, (size_t)B * c->C},
        {&kv->xn, (size_t)B * c->C}, {&kv->q, B * QD},    {&kv->kk, B * KD},
        {&kv->vv, B * KD},       {&kv->atty, B * QD},     {&kv->o, (size_t)B * c->C},
        {&kv->gate, (size_t)B * c->F}, {&kv->up, (size_t)B * c->F},
        {&kv->scores, (size_t)B * c->NH * T}, {&kv->logits, (size_t)B * c->V},
    };
    size_t total = 0, np = sizeof parts / sizeof parts[0];
    for (size_t i = 0; i < np; i++)
        total += (parts[i].n + 15) & ~(size_t)15;
    kv->mem = db_malloc_aligned(64, total * sizeof(float));
    if (!kv->mem)
        return db_error(DB_ERR_NOMEM, "model: out of memory for a KV cache (%zu floats)", total);
    memset(kv->mem, 0, total * sizeof(float));
    size_t off = 0;
    for (size_t i = 0; i < np; i++) {
        *parts[i].p = kv->mem + off;
        off += (parts[i].n + 15) & ~(size_t)15;
    }
    kv->B = B;
    kv->T = T;
    return DB_OK;
}

void tf_kv_free(tf_kv *kv)
{
    if (!kv)
        return;
    db_free(kv->mem);
    memset(kv, 0, sizeof *kv);
}

db_status tf_decode(tf_model *m, tf_kv *kv, int n, const int *tokens, const int *pos)
{
    const tf_config *c = &m->cfg;
    if (n <= 0 || n > kv->B)
        return db_error(DB_ERR_ARG, "model: decode of %d slots in a cache of %d", n, kv->B);
    for (int i = 0; i < n; i++) {
        if (pos[i] < 0 || pos[i] >= kv->T)
            return db_error(DB_ERR_ARG, "model: position %d outside the cache (%d)", pos[i], kv->T);
        if (tokens[i] < 0 || tokens[i] >= c->V)
            return db_error(DB_ERR_ARG, "model: token id %d outside vocabulary of %d", tokens[i],
                            c->V);
    }
    int C = c->C, F = c->F, QD = c->NH * c->HS, KD = c->NKV * c->HS, HS = c->HS;
    int grp = c->NH / c->NKV;
    float scale = 1.0f / sqrtf((float)HS);
    size_t slot = (size_t)kv->T * KD, layer = (size_t)kv->B * slot;
    db_status s;
    encoder_forward(kv->x, tokens, m->p[LT_EMBED], n, C);
    for (int l = 0; l < c->L; l++) {
        rmsnorm_forward(kv->xn, NULL, kv->x, tf_weight(m, LT_ATTN_NORM, l, 0, 0), n, C, c->eps);
        if ((s = matmul_forward(m, l, LT_Q, kv->q, kv->xn, tf_weight(m, LT_Q, l, 0, 0), n, C, QD)) ||
            (s = matmul_forward(m, l, LT_K, kv->kk, kv->xn, tf_weight(m, LT_K, l, 0, 0), n, C, KD)) ||
            (s = matmul_forward(m, l, LT_V, kv->vv, kv->xn, tf_weight(m, LT_V, l, 0, 0), n, C, KD)))
            return s;
        rope_apply(kv->q, pos, n, 1, c->NH, HS, m->rope_cos, m->rope_sin, 1.0f);
        rope_apply(kv->kk, pos, n, 1, c->NKV, HS, m->rope_cos, m->rope_sin, 1.0f);
        float *kc = kv->kc + l * layer, *vc = kv->vc + l * layer;
        for (int i = 0; i < n; i++) {
            memcpy(kc + i * slot + (size_t)pos[i] * KD, kv->kk + (size_t)i * KD, KD * sizeof(float));
            memcpy(vc + i * slot + (size_t)pos[i] * KD, kv->vv + (size_t)i * KD, KD * sizeof(float));
        }
#pragma omp parallel for collapse(2) schedule(static) if((int64_t)n * c->NH * (pos[0] + 1) * HS >= PAR_MIN)
        for (int i = 0; i < n; i++)
            for (int h = 0; h < c->NH; h++) {
                int kh = h / grp, t = pos[i];
                const float *qh = kv->q + (size_t)i * QD + (size_t)h * HS;
                float *sc = kv->scores + ((size_t)i * c->NH + h) * kv->T;
                float mx = -INFINITY;
                for (int u = 0; u <= t; u++) {
                    const float *ku = kc + i * slot + (size_t)u * KD + (size_t)kh * HS;
                    float d = 0.0f;
                    for (int j = 0; j < HS; j++)
                        d += qh[j] * ku[j];
                    sc[u] = d * scale;
                    if (sc[u] > mx)
                        mx = sc[u];
                }
                float sum = 0.0f;
                for (int u = 0; u <= t; u++) {
                    sc[u] = expf(sc[u] - mx);
                    sum += sc[u];
                }
                float *o = kv->atty + (size_t)i * QD + (size_t)h * HS;
                for (int j = 0; j < HS; j++)
                    o[j] = 0.0f;
                for (int u = 0; u <= t; u++) {
                    const float *vu = vc + i * slot + (size_t)u * KD + (size_t)kh * HS;
                    float w = sc[u] / sum;
                    for (int j = 0; j < HS; j++)
                        o[j] += w * vu[j];
                }
            }
        if ((s = matmul_forward(m, l, LT_O, kv->o, kv->atty, tf_weight(m, LT_O, l, 0, 0), n, QD, C)))
            return s;
        add_inplace(kv->x, kv->o, (size_t)n * C);
        rmsnorm_forward(kv->xn, NULL, kv->x, tf_weight(m, LT_MLP_NORM, l, 0, 0), n, C, c->eps);
        if ((s = matmul_forward(m, l, LT_GATE, kv->gate, kv->xn, tf_weight(m, LT_GATE, l, 0, 0), n, C, F)) ||
            (s = matmul_forward(m, l, LT_UP, kv->up, kv->xn, tf_weight(m, LT_UP, l, 0, 0), n, C, F)))
            return s;
        swiglu_forward(kv->gate, kv->gate, kv->up, (size_t)n * F);
        if ((s = matmul_forward(m, l, LT_DOWN, kv->o, kv->gate, tf_weight(m, LT_DOWN, l, 0, 0), n, F, C)))
            return s;
        add_inplace(kv->x, kv->o, (size_t)n * C);
    }
    rmsnorm_forward(kv->xn, NULL, kv->x, m->p[LT_FINAL_NORM], n, C, c->eps);
    return matmul_forward(m, -1, LT_LM_HEAD, kv->logits, kv->xn, m->p[LT_LM_HEAD], n, C, c->V);
}

void tf_set_threads(int n)
{
    n_threads = n > 0 ? n : 1;
    blas_threads = n_threads;
    openblas_set_num_threads(n_threads);
    omp_set_num_threads(n_threads);
}
