/* llama_names.c: the one table of Hugging Face Llama tensor names (llama_names.h).
 *
 * Every question about a tensor kind (its name, whether it lives in a layer, whether delta
 * compressors touch it, its shape) is answered from the same row, so adding a kind is one row. */
#include "core/llama_names.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

const llama_model llama_models[] = {
    /*  name          V       C     F      L   NH  NKV */
    {"llama2-7b", 32000, 4096, 11008, 32, 32, 32},
    {"llama2-13b", 32000, 5120, 13824, 40, 40, 40},
    {"llama2-70b", 32000, 8192, 28672, 80, 64, 8},
    {"llama3-8b", 128256, 4096, 14336, 32, 32, 8},
    {"mistral-7b", 32000, 4096, 14336, 32, 32, 8},
    {"tiny", 300, 70, 190, 2, 10, 2}, /* tails: no dimension a multiple of 4, 32 or 128 */
};
const size_t llama_nmodels = sizeof llama_models / sizeof llama_models[0];

const llama_model *llama_model_find(const char *name)
{
    for (size_t i = 0; name && i < llama_nmodels; i++)
        if (!strcmp(llama_models[i].name, name))
            return &llama_models[i];
    return NULL;
}

const char *llama_model_names(char *buf, size_t n, const char *sep)
{
    if (!buf || n == 0)
        return buf;
    buf[0] = '\0';
    size_t len = 0;
    for (size_t i = 0; i < llama_nmodels && len < n - 1; i++) {
        int k = snprintf(buf + len, n - len, "%s%s", i ? sep : "", llama_models[i].name);
        if (k < 0)
            break;
        len += (size_t)k;
    }
    return buf;
}

llama_shape llama_model_shape(const llama_model *m)
{
    return (llama_shape){m->V, m->C, m->F, m->L, m->NH, m->NKV};
}

#define LAYER_PREFIX "model.layers."

static const struct {
    const char *name; /* full name for globals; the part after "model.layers.{i}." otherwise */
    const char *kind; /* short name for listings */
    bool layer, linear;
} kinds[LT_COUNT] = {
    [LT_EMBED] = {"model.embed_tokens.weight", "embed_tokens", false, false},
    [LT_ATTN_NORM] = {"input_layernorm.weight", "input_layernorm", true, false},
    [LT_Q] = {"self_attn.q_proj.weight", "q_proj", true, true},
    [LT_K] = {"self_attn.k_proj.weight", "k_proj", true, true},
    [LT_V] = {"self_attn.v_proj.weight", "v_proj", true, true},
    [LT_O] = {"self_attn.o_proj.weight", "o_proj", true, true},
    [LT_MLP_NORM] = {"post_attention_layernorm.weight", "post_attention_layernorm", true, false},
    [LT_GATE] = {"mlp.gate_proj.weight", "gate_proj", true, true},
    [LT_UP] = {"mlp.up_proj.weight", "up_proj", true, true},
    [LT_DOWN] = {"mlp.down_proj.weight", "down_proj", true, true},
    [LT_FINAL_NORM] = {"model.norm.weight", "norm", false, false},
    [LT_LM_HEAD] = {"lm_head.weight", "lm_head", false, false},
};

bool llama_name(char *buf, size_t n, llama_tensor kind, int layer)
{
    if ((unsigned)kind >= LT_COUNT || !buf || n == 0)
        return false;
    int k;
    if (kinds[kind].layer) {
        if (layer < 0)
            return false;
        k = snprintf(buf, n, LAYER_PREFIX "%d.%s", layer, kinds[kind].name);
    } else {
        k = snprintf(buf, n, "%s", kinds[kind].name);
    }
    return k >= 0 && (size_t)k < n;
}

bool llama_parse(const char *name, llama_tensor *kind, int *layer)
{
    if (!name)
        return false;
    const size_t plen = sizeof LAYER_PREFIX - 1;
    if (strncmp(name, LAYER_PREFIX, plen) != 0) {
        for (int i = 0; i < LT_COUNT; i++)
            if (!kinds[i].layer && strcmp(name, kinds[i].name) == 0) {
                *kind = (llama_tensor)i;
                *layer = -1;
                return true;
            }
        return false;
    }
    /* Decimal layer index without sign or leading zeros, so each name has one spelling. */
    const char *p = name + plen;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
        return false;
    long v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        if (v > INT_MAX)
            return false;
    }
    if (*p++ != '.')
        return false;
    for (int i = 0; i < LT_COUNT; i++)
        if (kinds[i].layer && strcmp(p, kinds[i].name) == 0) {
            *kind = (llama_tensor)i;
            *layer = (int)v;
            return true;
        }
    return false;
}

bool llama_is_layer_tensor(llama_tensor kind)
{
    return (unsigned)kind < LT_COUNT && kinds[kind].layer;
}

bool llama_is_linear(llama_tensor kind) { return (unsigned)kind < LT_COUNT && kinds[kind].linear; }

const char *llama_kind_str(llama_tensor kind)
{
    return (unsigned)kind < LT_COUNT ? kinds[kind].kind : "?";
}

int llama_tensor_shape(const llama_shape *s, llama_tensor kind, int64_t shape[2])
{
    int64_t V = s->vocab_size, C = s->hidden_size, F = s->intermediate_size;
    int64_t NH = s->num_attention_heads;
    int64_t NKV = s->num_key_value_heads > 0 ? s->num_key_value_heads : NH;
    if (V <= 0 || C <= 0 || F <= 0 || NH <= 0 || C % NH != 0 || NKV > NH)
        return 0;
    int64_t HS = C / NH;
    switch (kind) {
    case LT_EMBED:
    case LT_LM_HEAD:
        shape[0] = V, shape[1] = C;
        return 2;
    case LT_ATTN_NORM:
    case LT_MLP_NORM:
    case LT_FINAL_NORM:
        shape[0] = C;
        return 1;
    case LT_Q:
        shape[0] = NH * HS, shape[1] = C;
        return 2;
    case LT_K:
    case LT_V:
        shape[0] = NKV * HS, shape[1] = C;
        return 2;
    case LT_O:
        shape[0] = C, shape[1] = NH * HS;
        return 2;
    case LT_GATE:
    case LT_UP:
        shape[0] = F, shape[1] = C;
        return 2;
    case LT_DOWN:
        shape[0] = C, shape[1] = F;
        return 2;
    case LT_COUNT:
        break;
    }
    return 0;
}
