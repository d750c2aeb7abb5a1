/* llama_names.h: Hugging Face Llama tensor names ("model.layers.{i}.self_attn.q_proj.weight"...).
 *
 * One table maps each kind of tensor to its name pattern, whether it is one of the seven linear
 * projections of a layer (what delta compressors compress) and its shape in terms of the config. */
#ifndef DB_LLAMA_NAMES_H
#define DB_LLAMA_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    LT_EMBED,      /* model.embed_tokens.weight            [V, C]   */
    LT_ATTN_NORM,  /* model.layers.{i}.input_layernorm.weight      [C] */
    LT_Q,          /* model.layers.{i}.self_attn.q_proj.weight     [NH*HS, C] */
    LT_K,          /* model.layers.{i}.self_attn.k_proj.weight     [NKV*HS, C] */
    LT_V,          /* model.layers.{i}.self_attn.v_proj.weight     [NKV*HS, C] */
    LT_O,          /* model.layers.{i}.self_attn.o_proj.weight     [C, NH*HS] */
    LT_MLP_NORM,   /* model.layers.{i}.post_attention_layernorm.weight [C] */
    LT_GATE,       /* model.layers.{i}.mlp.gate_proj.weight        [F, C] */
    LT_UP,         /* model.layers.{i}.mlp.up_proj.weight          [F, C] */
    LT_DOWN,       /* model.layers.{i}.mlp.down_proj.weight        [C, F] */
    LT_FINAL_NORM, /* model.norm.weight                    [C]      */
    LT_LM_HEAD,    /* lm_head.weight                       [V, C]   */
    LT_COUNT
} llama_tensor;

/* Shape parameters of a Llama-architecture model (names follow HF config.json). */
typedef struct {
    int64_t vocab_size;          /* V */
    int64_t hidden_size;         /* C */
    int64_t intermediate_size;   /* F */
    int64_t num_hidden_layers;   /* L */
    int64_t num_attention_heads; /* NH */
    int64_t num_key_value_heads; /* NKV (= NH without grouped-query attention) */
} llama_shape;

/* A named Llama-architecture model: a row of the one table of model shapes that synth, the cost
 * model and every --help text read (llama_models below). */
typedef struct {
    const char *name;            /* "llama2-7b", ... */
    int64_t V, C, F, L, NH, NKV; /* vocab, hidden, intermediate, layers, heads, kv heads */
} llama_model;

/* The public checkpoints' config.json values (llama2-7b/13b/70b, llama3-8b, mistral-7b) and
 * `tiny`, a small shape whose dimensions are deliberately not multiples of 4, 32 or 128. */
extern const llama_model llama_models[];
extern const size_t llama_nmodels;
/* The row named `name`, or NULL. */
const llama_model *llama_model_find(const char *name);
/* Writes every name, separated by `sep` ("llama2-7b, llama2-13b, ..."), into buf (truncated to
 * n - 1 characters); returns buf, for help texts and error messages. */
const char *llama_model_names(char *buf, size_t n, const char *sep);
/* The model's shape in HF config names (for llama_tensor_shape). */
llama_shape llama_model_shape(const llama_model *m);

/* Writes the name of tensor `kind` of layer `layer` (ignored for global tensors). Returns false
 * when buf is too small. */
bool llama_name(char *buf, size_t n, llama_tensor kind, int layer);
/* Parses a name; returns false for names that are not Llama tensors. layer = -1 for globals. */
bool llama_parse(const char *name, llama_tensor *kind, int *layer);
bool llama_is_layer_tensor(llama_tensor kind);
bool llama_is_linear(llama_tensor kind); /* the 7 projections q,k,v,o,gate,up,down */
const char *llama_kind_str(llama_tensor kind); /* "q_proj", "embed_tokens", ... */
/* Shape of a tensor for config s (head size HS = C / NH; NKV <= 0 means NH): returns ndim (1 or
 * 2) and fills shape, or 0 for an invalid kind or config (C not a multiple of NH, NKV > NH). */
int llama_tensor_shape(const llama_shape *s, llama_tensor kind, int64_t shape[2]);

#endif
