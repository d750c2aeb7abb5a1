/* tf.h: a LLaMA-architecture transformer in plain C (forward, backward, AdamW, KV-cache decode).
 *
 * Why: the papers' claims are about quality after delta compression, and no weights can be
 * downloaded here, so the project trains its own small Llama models and evaluates them for real;
 * the same code loads Hugging Face Llama checkpoints (config.json + safetensors, F32/F16/BF16).
 *
 * Architecture (HF LlamaForCausalLM): token embedding; L blocks of
 *   x += o_proj(attn(rope(q_proj(rms(x))), rope(k_proj(rms(x))), v_proj(rms(x))))
 *   x += down_proj(silu(gate_proj(rms(x))) * up_proj(rms(x)))
 * final RMSNorm, untied lm_head. Rotary embeddings use HF's rotate_half convention (pairs i and
 * i + HS/2), so real checkpoints load unchanged. Grouped-query attention when NKV < NH.
 *
 * Shape legend used in every comment: B batch, T sequence length, C hidden size, NH query heads,
 * NKV key/value heads, HS head size (C / NH), F MLP intermediate size, V vocabulary, L layers.
 *
 * Memory follows llm.c: all parameters in one allocation (and gradients, Adam moments in one
 * each), activations for a fixed (B, T) allocated once by tf_acts_alloc, a KV cache allocated
 * once by tf_kv_alloc; nothing is allocated per step or per token.
 *
 * Threads: OpenBLAS for the GEMMs, OpenMP across rows / (batch, head) pairs elsewhere; loops and
 * GEMMs too small to gain from a second thread run on one (the choice depends on shapes only);
 * every reduction runs in a fixed order, so results are bit-identical for a given thread count. */
#ifndef DB_TF_H
#define DB_TF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/llama_names.h"
#include "core/status.h"
#include "core/tensor.h"

/* Hyper-parameters, read from a Hugging Face config.json. */
typedef struct {
    int V;            /* vocab_size */
    int C;            /* hidden_size */
    int F;            /* intermediate_size */
    int L;            /* num_hidden_layers */
    int NH;           /* num_attention_heads */
    int NKV;          /* num_key_value_heads (NH divisible by NKV) */
    int HS;           /* head size C / NH (config "head_dim" must agree when present) */
    int maxT;         /* max_position_embeddings */
    float eps;        /* rms_norm_eps */
    float rope_theta; /* rope_theta */
} tf_config;

/* Uses n threads for OpenBLAS and for the OpenMP loops. The build links OpenBLAS's OpenMP
 * variant where installed, so both share one libgomp pool instead of spinning against each
 * other on a small machine (2x faster training on 2 cores). Bit-identical results for a given n. */
void tf_set_threads(int n);

/* Checks the config is usable (positive sizes, C = NH*HS, NH % NKV == 0, HS even). */
db_status tf_config_validate(const tf_config *c);
/* Reads config.json (path: the file or its directory); one-line error naming the file and key
 * on a missing or inconsistent value, an unsupported activation, model type or rope scaling. */
db_status tf_config_load(const char *path, tf_config *c);
/* Writes an HF-compatible config.json to path (temp name + rename). dtype: "float32" etc. */
db_status tf_config_save(const tf_config *c, const char *torch_dtype, const char *path);
/* The config as the shape table of core/llama_names.h. */
llama_shape tf_config_shape(const tf_config *c);
/* Number of parameters of one tensor kind (all layers for per-layer kinds) and in total. */
size_t tf_param_count(const tf_config *c, llama_tensor kind);
size_t tf_param_total(const tf_config *c);

/* Called after every linear projection of a forward pass, with x [rows, K] its input and
 * y [rows, N] = x·Wᵀ its base output; may add to y (an applied compressed delta: y += Δ·x) or
 * only observe x (calibration statistics). Returning non-OK aborts the forward. */
typedef db_status (*tf_linear_fn)(void *ctx, int layer, llama_tensor kind, int64_t rows,
                                  const float *x, float *y);
typedef struct {
    tf_linear_fn fn; /* NULL: no hook */
    void *ctx;
} tf_hook;

/* Training / full-sequence activations for one (B, T); see tf_acts_alloc. */
typedef struct {
    int B, T;       /* allocated capacity */
    int fB, fT;     /* shape of the last tf_forward */
    bool train;     /* gradient buffers allocated */
    float *mem;     /* the one allocation everything below points into */
    float *resid;   /* [L+1, B, T, C] residual stream entering each layer; [L] = final */
    float *resmid;  /* [L, B, T, C] residual after attention */
    float *ln1;     /* [L, B, T, C] */
    float *ln1r;    /* [L, B, T] reciprocal rms */
    float *q;       /* [L, B, T, NH*HS] after rope */
    float *k;       /* [L, B, T, NKV*HS] after rope */
    float *v;       /* [L, B, T, NKV*HS] */
    float *att;     /* [L, B, NH, T, T] softmax probabilities (0 above the diagonal) */
    float *atty;    /* [L, B, T, NH*HS] attention output before o_proj */
    float *ln2;     /* [L, B, T, C] */
    float *ln2r;    /* [L, B, T] */
    float *gate;    /* [L, B, T, F] */
    float *up;      /* [L, B, T, F] */
    float *hmid;    /* [L, B, T, F] silu(gate) * up */
    float *lnf;     /* [B, T, C] */
    float *lnfr;    /* [B, T] */
    float *logits;  /* [B, T, V] */
    float *rowloss; /* [B, T] per-position loss (0 where the target is ignored) */
    /* backward scratch (train only) */
    float *dlogits; /* [B, T, V] */
    float *dres;    /* [B, T, C] gradient of the residual stream */
    float *dln;     /* [B, T, C] */
    float *dq;      /* [B, T, NH*HS] */
    float *dk;      /* [B, T, NKV*HS] */
    float *dv;      /* [B, T, NKV*HS] */
    float *datty;   /* [B, T, NH*HS] */
    float *datt;    /* [B, NH, T, T] */
    float *dgate;   /* [B, T, F] */
    float *dup;     /* [B, T, F] */
    float *dhmid;   /* [B, T, F] */
    float *dx;      /* [B, T, C] */
    const int *tokens;  /* [B, T] of the last forward: the caller keeps both alive until
                         * the backward */
    const int *targets; /* [B, T] of the last forward (NULL: none), -1 = ignored */
    int64_t ntargets;   /* targets that were not ignored */
} tf_acts;

typedef struct {
    tf_config cfg;
    size_t nparams;
    float *params;           /* all parameters, one allocation */
    float *p[LT_COUNT];      /* each kind, per-layer kinds stacked [L, ...] */
    float *grads;            /* NULL until tf_train_alloc; same layout as params */
    float *g[LT_COUNT];
    float *adam_m, *adam_v;  /* AdamW moments (tf_train_alloc) */
    float *rope_cos;         /* [maxT, HS/2] */
    float *rope_sin;         /* [maxT, HS/2] */
    tf_acts acts;
    tf_hook hook;
} tf_model;

/* Allocates a zero-initialised model for config c (validated). */
db_status tf_model_init(tf_model *m, const tf_config *c);
/* Releases everything the model owns; safe on a zeroed or freed model. */
void tf_model_free(tf_model *m);
/* Deterministic initialisation from seed: N(0, 0.02) matrices, output projections (o, down)
 * scaled by 1/sqrt(2L), norms 1. */
void tf_model_init_random(tf_model *m, uint64_t seed);
/* Loads a model directory (config.json + model.safetensors, or a sharded index); every tensor
 * the config implies must exist with its shape and a F32/F16/BF16 dtype. A missing lm_head is
 * accepted only with "tie_word_embeddings": true. */
db_status tf_model_load(tf_model *m, const char *dir);
/* Writes config.json + model.safetensors into dir (created if needed) with HF names, tensors in
 * dtype dt (DT_F32, DT_F16 or DT_BF16); each file is written under a temporary name and renamed.
 * nmeta metadata pairs go into the safetensors header. */
db_status tf_model_save(const tf_model *m, const char *dir, db_dtype dt, size_t nmeta,
                        const char *const *keys, const char *const *values);
/* Pointer to the [rows, cols] weight of (kind, layer) inside m->params (layer ignored for global
 * kinds); rows/cols may be NULL. */
float *tf_weight(const tf_model *m, llama_tensor kind, int layer, int64_t *rows, int64_t *cols);
/* 64-bit content hash of the parameters (bit-exact comparison of two trainings). */
uint64_t tf_model_hash(const tf_model *m);

/* Allocates activations for batches of up to B sequences of up to T tokens (T <= maxT); with
 * train, also gradient scratch. Replaces earlier activations. */
db_status tf_acts_alloc(tf_model *m, int B, int T, bool train);

/* Full-sequence forward of tokens [B, T] (B, T within the allocation). Logits land in
 * m->acts.logits [B, T, V]. With targets [B, T] (-1 = ignored), *loss (may be NULL) receives the
 * mean cross-entropy in nats over the targets that count, and per-position losses are kept for
 * tf_backward. The hook, when set, sees every linear projection. */
db_status tf_forward(tf_model *m, const int *tokens, const int *targets, int B, int T,
                     float *loss);
/* Backward of the last tf_forward's mean cross-entropy; accumulates into m->grads (call
 * tf_zero_grad first). Requires tf_train_alloc and activations allocated with train. */
db_status tf_backward(tf_model *m);
/* Backward from given logit gradients dlogits [B, T, V] of the last forward (used for distillation
 * losses); accumulates into m->grads. */
db_status tf_backward_from(tf_model *m, const float *dlogits);

/* Allocates gradients and AdamW moments (zeroed). */
db_status tf_train_alloc(tf_model *m);
void tf_zero_grad(tf_model *m);
/* Scales gradients so their global L2 norm is at most max_norm (when > 0); returns the norm before
 * clipping. */
float tf_clip_grad(tf_model *m, float max_norm);
/* One AdamW step (step counts from 1); weight decay applies to the 2-D matrices only. */
void tf_adamw_step(tf_model *m, float lr, float beta1, float beta2, float eps, float wd, int step);

/* ---- KV-cache decoding (generation, serving, exact-match evaluation) ----------------------- */

typedef struct {
    int B, T;       /* slots and positions per slot */
    float *mem;
    float *kc;      /* [L, B, T, NKV*HS] rotated keys */
    float *vc;      /* [L, B, T, NKV*HS] */
    float *x;       /* [B, C] residual */
    float *xn;      /* [B, C] normalised */
    float *q;       /* [B, NH*HS] */
    float *kk;      /* [B, NKV*HS] */
    float *vv;      /* [B, NKV*HS] */
    float *atty;    /* [B, NH*HS] */
    float *o;       /* [B, C] */
    float *gate;    /* [B, F] */
    float *up;      /* [B, F] */
    float *scores;  /* [B, NH, T] */
    float *logits;  /* [B, V] */
} tf_kv;

/* Allocates a cache of B slots of T positions (T <= maxT). */
db_status tf_kv_alloc(tf_kv *kv, const tf_config *c, int B, int T);
void tf_kv_free(tf_kv *kv);
/* Decodes one token for each of n slots (n <= kv->B): slot i takes token tokens[i] at position
 * pos[i] (< kv->T; every earlier position of that slot must already be cached). Logits for the
 * next token land in kv->logits [n, V]. Uses m->hook like tf_forward. */
db_status tf_decode(tf_model *m, tf_kv *kv, int n, const int *tokens, const int *pos);

#endif
