/* tf_io.c: a transformer's files: Hugging Face config.json and HF-named safetensors weights.
 *
 * Kept apart from the math in tf.c so that the loader's validation (the part users hit with real
 * checkpoints) reads on its own: every missing key, inconsistent size, unexpected tensor shape or
 * unsupported dtype becomes one line naming the file and the problem. */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/half.h"
#include "core/safetensors.h"
#include "models/tf.h"

static db_status json_int(const char *path, const cJSON *root, const char *key, bool required,
                          int def, int *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it || cJSON_IsNull(it)) {
        if (required)
            return db_error(DB_ERR_FORMAT, "%s: missing key \"%s\"", path, key);
        *out = def;
        return DB_OK;
    }
    double v = it->valuedouble;
    if (!cJSON_IsNumber(it) || v != floor(v) || v < 1 || v > 1e9)
        return db_error(DB_ERR_FORMAT, "%s: \"%s\" must be a positive integer", path, key);
    *out = (int)v;
    return DB_OK;
}

static db_status json_float(const char *path, const cJSON *root, const char *key, double def,
                            float *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!it || cJSON_IsNull(it)) {
        *out = (float)def;
        return DB_OK;
    }
    if (!cJSON_IsNumber(it) || !(it->valuedouble > 0) || !isfinite(it->valuedouble))
        return db_error(DB_ERR_FORMAT, "%s: \"%s\" must be a positive number", path, key);
    *out = (float)it->valuedouble;
    return DB_OK;
}

static void config_path(const char *path, char *buf, size_t n)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(buf, n, "%s/config.json", path);
    else
        snprintf(buf, n, "%s", path);
}

/* Parses config.json; *tied receives tie_word_embeddings (may be NULL). */
static db_status config_load(const char *path, tf_config *c, bool *tied)
{
    char file[4096];
    config_path(path, file, sizeof file);
    char *text = NULL;
    size_t len = 0;
    db_status rs = fs_read_all(file, &text, &len);
    if (rs != DB_OK)
        return db_error(rs, "%s: cannot read the model config", file);
    bool oom;
    cJSON *root = st_json_parse(text, len, &oom);
    db_free(text);
    if (!root && oom)
        return db_error(DB_ERR_NOMEM, "%s: out of memory parsing the model config", file);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return db_error(DB_ERR_FORMAT, "%s: not a JSON object", file);
    }
    memset(c, 0, sizeof *c);
    db_status s;
    int head_dim = 0;
    const cJSON *it;
    if ((s = json_int(file, root, "vocab_size", true, 0, &c->V)) ||
        (s = json_int(file, root, "hidden_size", true, 0, &c->C)) ||
        (s = json_int(file, root, "intermediate_size", true, 0, &c->F)) ||
        (s = json_int(file, root, "num_hidden_layers", true, 0, &c->L)) ||
        (s = json_int(file, root, "num_attention_heads", true, 0, &c->NH)) ||
        (s = json_int(file, root, "num_key_value_heads", false, c->NH, &c->NKV)) ||
        (s = json_int(file, root, "max_position_embeddings", false, 2048, &c->maxT)) ||
        (s = json_int(file, root, "head_dim", false, 0, &head_dim)) ||
        (s = json_float(file, root, "rms_norm_eps", 1e-6, &c->eps)) ||
        (s = json_float(file, root, "rope_theta", 10000.0, &c->rope_theta)))
        goto out;
    c->HS = c->C / c->NH;
    if (c->HS * c->NH != c->C) {
        s = db_error(DB_ERR_FORMAT, "%s: hidden_size %d is not a multiple of num_attention_heads %d",
                     file, c->C, c->NH);
        goto out;
    }
    if (head_dim && head_dim != c->HS) {
        s = db_error(DB_ERR_UNSUPPORTED, "%s: head_dim %d differs from hidden_size / "
                     "num_attention_heads = %d", file, head_dim, c->HS);
        goto out;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "model_type")) && cJSON_IsString(it) &&
        strcmp(it->valuestring, "llama") != 0) {
        s = db_error(DB_ERR_UNSUPPORTED, "%s: model_type \"%s\" is not supported (llama only)",
                     file, it->valuestring);
        goto out;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "hidden_act")) &&
        (!cJSON_IsString(it) || strcmp(it->valuestring, "silu") != 0)) {
        s = db_error(DB_ERR_UNSUPPORTED, "%s: hidden_act must be \"silu\"", file);
        goto out;
    }
    if ((it = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling")) && !cJSON_IsNull(it)) {
        s = db_error(DB_ERR_UNSUPPORTED, "%s: rope_scaling is not supported", file);
        goto out;
    }
    if (tied) {
        it = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
        *tied = it && cJSON_IsTrue(it);
    }
    if (tf_config_validate(c) != DB_OK)
        s = db_error(DB_ERR_FORMAT, "%s: %s", file, db_errmsg());
out:
    cJSON_Delete(root);
    return s;
}

db_status tf_config_load(const char *path, tf_config *c)
{
    return config_load(path, c, NULL);
}

/* Shortest %g form that reads back as the same float ("1e-05", not "9.99999975e-06"). */
static void float_repr(char *buf, size_t n, float v)
{
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, n, "%.*g", p, (double)v);
        if ((float)strtod(buf, NULL) == v)
            return;
    }
}

db_status tf_config_save(const tf_config *c, const char *torch_dtype, const char *path)
{
    db_status s = tf_config_validate(c);
    if (s)
        return s;
    char eps[32], theta[32];
    float_repr(eps, sizeof eps, c->eps);
    float_repr(theta, sizeof theta, c->rope_theta);
    fs_out o;
    s = fs_out_open(&o, path);
    if (s == DB_OK) {
        /* Hugging Face's own layout (2-space indent), so diffs against real configs read well */
        fprintf(o.fp,
                "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n  \"model_type\": \"llama\",\n"
                "  \"hidden_act\": \"silu\",\n  \"vocab_size\": %d,\n  \"hidden_size\": %d,\n"
                "  \"intermediate_size\": %d,\n  \"num_hidden_layers\": %d,\n"
                "  \"num_attention_heads\": %d,\n  \"num_key_value_heads\": %d,\n"
                "  \"max_position_embeddings\": %d,\n  \"rms_norm_eps\": %s,\n"
                "  \"rope_theta\": %s,\n  \"tie_word_embeddings\": false,\n"
                "  \"torch_dtype\": \"%s\"\n}\n",
                c->V, c->C, c->F, c->L, c->NH, c->NKV, c->maxT, eps, theta, torch_dtype);
        s = fs_out_commit(&o);
    }
    return s;
}

/* ---- weights ------------------------------------------------------------------------------ */

static db_status load_tensor(const char *dir, const st_tensor_info *ti, const char *name,
                             int64_t rows, int64_t cols, int nd, float *dst)
{
    int64_t want[2] = {rows, cols};
    if (nd == 1)
        want[0] = cols;
    bool ok = ti->ndim == nd && ti->shape[0] == want[0] && (nd == 1 || ti->shape[1] == want[1]);
    if (!ok) {
        char got[96], exp[96];
        shape_format(got, sizeof got, ti->ndim, ti->shape);
        shape_format(exp, sizeof exp, nd, want);
        return db_error(DB_ERR_SHAPE, "%s: tensor %s has shape %s, the config implies %s", dir,
                        name, got, exp);
    }
    size_t n = (size_t)rows * (size_t)cols;
    switch (ti->dtype) {
    case DT_F32: memcpy(dst, ti->data, n * sizeof(float)); break;
    case DT_F16: f16_to_f32_array(ti->data, dst, n); break;
    case DT_BF16: bf16_to_f32_array(ti->data, dst, n); break;
    default:
        return db_error(DB_ERR_DTYPE, "%s: tensor %s has dtype %s (F32, F16 or BF16 supported)",
                        dir, name, dtype_name(ti->dtype));
    }
    for (size_t i = 0; i < n; i++)
        if (!isfinite(dst[i]))
            return db_error(DB_ERR_NUMERIC, "%s: tensor %s holds NaN or Inf at element %zu", dir,
                            name, i);
    return DB_OK;
}

db_status tf_model_load(tf_model *m, const char *dir)
{
    memset(m, 0, sizeof *m);
    tf_config c;
    bool tied = false;
    db_status s = config_load(dir, &c, &tied);
    if (s)
        return s;
    st_model *st = NULL;
    if ((s = st_model_open(dir, &st)))
        return s;
    if ((s = tf_model_init(m, &c)))
        goto out;
    /* names beyond the config's layers mean the config and the weights disagree */
    for (size_t i = 0; i < st_model_count(st); i++) {
        const st_tensor_info *ti = st_model_get(st, i);
        llama_tensor kind;
        int layer;
        if (llama_parse(ti->name, &kind, &layer) && llama_is_layer_tensor(kind) &&
            (layer < 0 || layer >= c.L)) {
            s = db_error(DB_ERR_SHAPE, "%s: tensor %s is beyond num_hidden_layers = %d", dir,
                         ti->name, c.L);
            goto out;
        }
    }
    for (int k = 0; k < LT_COUNT; k++) {
        int nl = llama_is_layer_tensor((llama_tensor)k) ? c.L : 1;
        llama_shape ls = tf_config_shape(&c);
        int64_t sh[2];
        int nd = llama_tensor_shape(&ls, (llama_tensor)k, sh);
        for (int l = 0; l < nl; l++) {
            char name[128];
            llama_name(name, sizeof name, (llama_tensor)k, l);
            const st_tensor_info *ti = st_model_find(st, name);
            if (!ti && k == LT_LM_HEAD && tied) {
                char en[128];
                llama_name(en, sizeof en, LT_EMBED, 0);
                ti = st_model_find(st, en);
            }
            if (!ti) {
                s = db_error(DB_ERR_NOT_FOUND, "%s: tensor %s is missing", dir, name);
                goto out;
            }
            int64_t rows, cols;
            float *dst = tf_weight(m, (llama_tensor)k, l, &rows, &cols);
            if ((s = load_tensor(dir, ti, name, rows, cols, nd, dst)))
                goto out;
        }
        (void)sh;
    }
out:
    st_model_close(st);
    if (s)
        tf_model_free(m);
    return s;
}

db_status tf_model_save(const tf_model *m, const char *dir, db_dtype dt, size_t nmeta,
                        const char *const *keys, const char *const *values)
{
    if (dt != DT_F32 && dt != DT_F16 && dt != DT_BF16)
        return db_error(DB_ERR_DTYPE, "%s: models are saved as F32, F16 or BF16, not %s", dir,
                        dtype_name(dt));
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return db_error(DB_ERR_IO, "%s: cannot create directory (%s)", dir, strerror(errno));
    const tf_config *c = &m->cfg;
    size_t nt = 0;
    for (int k = 0; k < LT_COUNT; k++)
        nt += llama_is_layer_tensor((llama_tensor)k) ? (size_t)c->L : 1;
    char **names = db_calloc(nt, sizeof *names);
    db_tensor *ts = db_calloc(nt, sizeof *ts);
    uint16_t *half = dt == DT_F32 ? NULL : db_malloc_array(m->nparams, sizeof(uint16_t));
    db_status s = DB_OK;
    if (!names || !ts || (dt != DT_F32 && !half)) {
        s = db_error(DB_ERR_NOMEM, "%s: out of memory saving the model", dir);
        goto out;
    }
    if (dt == DT_F16)
        f32_to_f16_array(m->params, half, m->nparams);
    else if (dt == DT_BF16)
        f32_to_bf16_array(m->params, half, m->nparams);
    size_t i = 0;
    for (int k = 0; k < LT_COUNT; k++) {
        int nl = llama_is_layer_tensor((llama_tensor)k) ? c->L : 1;
        llama_shape ls = tf_config_shape(c);
        int64_t sh[2];
        int nd = llama_tensor_shape(&ls, (llama_tensor)k, sh);
        for (int l = 0; l < nl; l++, i++) {
            char name[128];
            llama_name(name, sizeof name, (llama_tensor)k, l);
            if (!(names[i] = db_strdup(name))) {
                s = db_error(DB_ERR_NOMEM, "%s: out of memory saving the model", dir);
                goto out;
            }
            float *w = tf_weight(m, (llama_tensor)k, l, NULL, NULL);
            void *data = w;
            if (half)
                data = half + (w - m->params);
            tensor_view(&ts[i], dt, nd, sh, data);
        }
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if ((s = st_save(path, nt, (const char *const *)names, ts, nmeta, keys, values)))
        goto out;
    snprintf(path, sizeof path, "%s/config.json", dir);
    s = tf_config_save(c, dt == DT_F32 ? "float32" : dt == DT_F16 ? "float16" : "bfloat16", path);
out:
    if (names)
        for (size_t j = 0; j < nt; j++)
            db_free(names[j]);
    db_free(names);
    db_free(ts);
    db_free(half);
    return s;
}
