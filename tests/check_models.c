/* check_models.c: tests of models/: finite-difference gradients of every layer, training that
 * learns, bit-exact determinism, KV-cache decoding against the full forward, grouped-query
 * attention, checkpoints, the tasks' splits, config and weight errors, and evaluation through a
 * compressed delta. All on micro models, so the whole suite takes seconds. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "compressors/compressor.h"
#include "core/alloc.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "models/calib_model.h"
#include "models/distill.h"
#include "models/eval.h"
#include "models/task.h"
#include "models/tf.h"
#include "models/tf_delta.h"
#include "models/tf_batch.h"
#include "models/train.h"
#include "testlib.h"

/* Central differences in float with step GRAD_H: relative error |fd - an| / max(|fd| + |an|,
 * GRAD_FLOOR) must stay below GRAD_RTOL for every sampled parameter of every tensor kind. */
#define GRAD_H 1e-2
#define GRAD_FLOOR 1e-2
#define GRAD_RTOL 2e-2
/* KV-cache decoding vs full-sequence forward: same math, different summation grouping. */
#define DECODE_ATOL 2e-4f

static const tf_config micro = {.V = TASK_VOCAB, .C = 32, .F = 64, .L = 2, .NH = 4, .NKV = 2,
                                .HS = 8, .maxT = 64, .eps = 1e-5f, .rope_theta = 10000.0f};


static void gradcheck(const tf_config *c)
{
    tf_model m;
    ck_assert_int_eq(tf_model_init(&m, c), DB_OK);
    tf_model_init_random(&m, 1);
    db_rng r;
    rng_seed(&r, 5);
    /* larger weights than the init so every path carries a visible gradient */
    for (size_t i = 0; i < m.nparams; i++)
        m.params[i] += (float)(rng_normal(&r) * 0.3);
    int B = 2, T = 7;
    ck_assert_int_eq(tf_acts_alloc(&m, B, T, true), DB_OK);
    ck_assert_int_eq(tf_train_alloc(&m), DB_OK);
    int tok[14], tgt[14];
    for (int i = 0; i < B * T; i++) {
        tok[i] = (int)rng_below(&r, (uint64_t)c->V);
        tgt[i] = (int)rng_below(&r, (uint64_t)c->V);
    }
    tgt[3] = -1; /* an ignored position */
    float loss;
    ck_assert_int_eq(tf_forward(&m, tok, tgt, B, T, &loss), DB_OK);
    tf_zero_grad(&m);
    ck_assert_int_eq(tf_backward(&m), DB_OK);
    for (int k = 0; k < LT_COUNT; k++) {
        size_t n = tf_param_count(c, (llama_tensor)k);
        double worst = 0;
        for (size_t i = 0; i < n; i += n / 13 + 1) {
            size_t idx = k == LT_EMBED || k == LT_LM_HEAD ? (size_t)tok[i % 14] * c->C + i % c->C : i;
            float *p = m.p[k] + idx, o = *p, lp, lm;
            *p = o + (float)GRAD_H;
            ck_assert_int_eq(tf_forward(&m, tok, tgt, B, T, &lp), DB_OK);
            *p = o - (float)GRAD_H;
            ck_assert_int_eq(tf_forward(&m, tok, tgt, B, T, &lm), DB_OK);
            *p = o;
            double fd = ((double)lp - lm) / (2 * GRAD_H), an = m.g[k][idx];
            double e = fabs(fd - an) / fmax(fabs(fd) + fabs(an), GRAD_FLOOR);
            if (e > worst)
                worst = e;
        }
        ck_assert_msg(worst < GRAD_RTOL, "%s: relative gradient error %.3g >= %g",
                      llama_kind_str((llama_tensor)k), worst, GRAD_RTOL);
    }
    tf_model_free(&m);
}

START_TEST(test_gradcheck_gqa)
{
    gradcheck(&micro);
}
END_TEST

START_TEST(test_gradcheck_mha)
{
    tf_config c = micro;
    c.NKV = c.NH;
    c.V = 40;
    gradcheck(&c);
}
END_TEST

static void train_micro(tf_model *m, const db_task *t, int steps, uint64_t seed,
                        train_result *res)
{
    train_opts o;
    train_opts_default(&o);
    o.steps = steps;
    o.B = 8;
    o.T = 32;
    o.warmup = 5;
    o.lr = 1e-2f;
    o.seed = seed;
    ck_assert_int_eq(train_run(m, t, &o, NULL, res), DB_OK);
}

START_TEST(test_loss_falls)
{
    tf_set_threads(2);
    db_task *t;
    ck_assert_int_eq(task_open("reverse", NULL, 100000, &t), DB_OK);
    tf_model m;
    ck_assert_int_eq(tf_model_init(&m, &micro), DB_OK);
    tf_model_init_random(&m, 7);
    train_result r;
    train_micro(&m, t, 80, 3, &r);
    ck_assert_msg(r.last_loss < r.first_loss - 1.0f, "loss %.3f -> %.3f", (double)r.first_loss,
                  (double)r.last_loss);
    ck_assert_msg(r.first_loss > 4.5f, "initial loss %.3f should be near ln(260)",
                  (double)r.first_loss);
    tf_model_free(&m);
    task_free(t);
}
END_TEST

START_TEST(test_determinism_same_seed)
{
    tf_set_threads(2);
    db_task *t;
    ck_assert_int_eq(task_open("arith", NULL, 100000, &t), DB_OK);
    uint64_t h[3];
    for (int run = 0; run < 3; run++) {
        tf_model m;
        ck_assert_int_eq(tf_model_init(&m, &micro), DB_OK);
        tf_model_init_random(&m, 11);
        train_result r;
        train_micro(&m, t, 15, run < 2 ? 5 : 6, &r);
        h[run] = tf_model_hash(&m);
        tf_model_free(&m);
    }
    ck_assert_msg(h[0] == h[1], "same seed, different weights");
    ck_assert_msg(h[0] != h[2], "different seeds, same weights");
    task_free(t);
}
END_TEST

START_TEST(test_resume_equals_uninterrupted)
{
    tl_scratch_make("check_models");
    tf_set_threads(2);
    db_task *t;
    ck_assert_int_eq(task_open("sort", NULL, 100000, &t), DB_OK);
    train_opts o;
    train_opts_default(&o);
    o.steps = 12;
    o.B = 8;
    o.T = 32;
    o.warmup = 4;
    o.lr = 1e-2f;
    o.seed = 9;
    train_result r;
    tf_model a, b;
    ck_assert_int_eq(tf_model_init(&a, &micro), DB_OK);
    tf_model_init_random(&a, 2);
    ck_assert_int_eq(train_run(&a, t, &o, NULL, &r), DB_OK);
    /* the same schedule, stopped after step 5 with a checkpoint, then resumed */
    char dir[512];
    tl_path_buf(dir, sizeof dir, "ckpt");
    ck_assert_int_eq(tf_model_init(&b, &micro), DB_OK);
    tf_model_init_random(&b, 2);
    o.ckpt_dir = dir;
    o.ckpt_every = 5;
    o.stop_after = 5;
    ck_assert_int_eq(train_run(&b, t, &o, NULL, &r), DB_OK);
    tf_model_free(&b);
    ck_assert_int_eq(tf_model_load(&b, dir), DB_OK);
    o.stop_after = 0;
    o.ckpt_every = 0;
    ck_assert_int_eq(train_run(&b, t, &o, dir, &r), DB_OK);
    ck_assert_int_eq(r.start_step, 5);
    ck_assert_msg(tf_model_hash(&a) == tf_model_hash(&b), "resumed run differs");
    /* a checkpoint of another model size is refused */
    tf_model c;
    tf_config other = micro;
    other.C = 16;
    other.HS = 4;
    ck_assert_int_eq(tf_model_init(&c, &other), DB_OK);
    ck_assert_int_eq(train_run(&c, t, &o, dir, &r), DB_ERR_FORMAT);
    tf_model_free(&c);
    tf_model_free(&a);
    tf_model_free(&b);
    task_free(t);
    tl_scratch_drop();
}
END_TEST

/* The forward at every position of a sequence, compared with one-token-at-a-time decoding. */
static void decode_matches_forward(const tf_config *c)
{
    tf_model m;
    ck_assert_int_eq(tf_model_init(&m, c), DB_OK);
    tf_model_init_random(&m, 3);
    db_rng r;
    rng_seed(&r, 1);
    for (size_t i = 0; i < m.nparams; i++)
        m.params[i] += (float)(rng_normal(&r) * 0.1);
    enum { B = 3, T = 20 };
    int tok[B * T];
    for (int i = 0; i < B * T; i++)
        tok[i] = (int)rng_below(&r, 256);
    ck_assert_int_eq(tf_acts_alloc(&m, B, T, false), DB_OK);
    ck_assert_int_eq(tf_forward(&m, tok, NULL, B, T, NULL), DB_OK);
    tf_kv kv;
    ck_assert_int_eq(tf_kv_alloc(&kv, c, B, T), DB_OK);
    float worst = 0;
    for (int t = 0; t < T; t++) {
        int step[B], pos[B];
        for (int b = 0; b < B; b++) {
            step[b] = tok[b * T + t];
            pos[b] = t;
        }
        ck_assert_int_eq(tf_decode(&m, &kv, B, step, pos), DB_OK);
        for (int b = 0; b < B; b++)
            for (int v = 0; v < c->V; v++) {
                float d = fabsf(kv.logits[(size_t)b * c->V + v] -
                                m.acts.logits[((size_t)b * T + t) * c->V + v]);
                if (d > worst)
                    worst = d;
            }
    }
    ck_assert_msg(worst < DECODE_ATOL, "decode differs from forward by %g", (double)worst);
    /* positions outside the cache are refused */
    int one = 1, bad = T;
    ck_assert_int_eq(tf_decode(&m, &kv, 1, &one, &bad), DB_ERR_ARG);
    tf_kv_free(&kv);
    tf_model_free(&m);
}

START_TEST(test_kv_decode_equals_forward)
{
    decode_matches_forward(&micro);
    tf_config c = micro;
    c.NKV = c.NH;
    decode_matches_forward(&c);
}
END_TEST

/* A GQA model equals the MHA model whose k/v heads are the shared heads repeated. */
START_TEST(test_gqa_equals_repeated_kv)
{
    tf_model g, h;
    tf_config cm = micro;
    cm.NKV = cm.NH;
    ck_assert_int_eq(tf_model_init(&g, &micro), DB_OK);
    ck_assert_int_eq(tf_model_init(&h, &cm), DB_OK);
    tf_model_init_random(&g, 4);
    tf_model_init_random(&h, 4);
    int grp = micro.NH / micro.NKV, HS = micro.HS, C = micro.C;
    for (int k = 0; k < LT_COUNT; k++) {
        if (k == LT_K || k == LT_V)
            continue;
        memcpy(h.p[k], g.p[k], tf_param_count(&micro, (llama_tensor)k) * sizeof(float));
    }
    for (int l = 0; l < micro.L; l++)
        for (int kind = LT_K; kind <= LT_V; kind++) {
            float *src = tf_weight(&g, (llama_tensor)kind, l, NULL, NULL);
            float *dst = tf_weight(&h, (llama_tensor)kind, l, NULL, NULL);
            for (int hd = 0; hd < micro.NH; hd++)
                memcpy(dst + (size_t)hd * HS * C, src + (size_t)(hd / grp) * HS * C,
                       (size_t)HS * C * sizeof(float));
        }
    int tok[16];
    for (int i = 0; i < 16; i++)
        tok[i] = (i * 37 + 5) % 256;
    ck_assert_int_eq(tf_acts_alloc(&g, 1, 16, false), DB_OK);
    ck_assert_int_eq(tf_acts_alloc(&h, 1, 16, false), DB_OK);
    ck_assert_int_eq(tf_forward(&g, tok, NULL, 1, 16, NULL), DB_OK);
    ck_assert_int_eq(tf_forward(&h, tok, NULL, 1, 16, NULL), DB_OK);
    for (int i = 0; i < 16 * micro.V; i++)
        ck_assert_float_eq_tol(g.acts.logits[i], h.acts.logits[i], 1e-5f);
    tf_model_free(&g);
    tf_model_free(&h);
}
END_TEST

START_TEST(test_save_load_roundtrip)
{
    tl_scratch_make("check_models");
    tf_model m, a, b;
    ck_assert_int_eq(tf_model_init(&m, &micro), DB_OK);
    tf_model_init_random(&m, 8);
    char d32[512], d16[512];
    tl_path_buf(d32, sizeof d32, "f32");
    tl_path_buf(d16, sizeof d16, "f16");
    ck_assert_int_eq(tf_model_save(&m, d32, DT_F32, 0, NULL, NULL), DB_OK);
    ck_assert_int_eq(tf_model_save(&m, d16, DT_F16, 0, NULL, NULL), DB_OK);
    ck_assert_int_eq(tf_model_load(&a, d32), DB_OK);
    ck_assert_int_eq(tf_model_load(&b, d16), DB_OK);
    ck_assert(tf_model_hash(&a) == tf_model_hash(&m));
    ck_assert_int_eq(memcmp(&a.cfg, &m.cfg, sizeof m.cfg), 0);
    for (size_t i = 0; i < m.nparams; i++)
        ck_assert_float_eq_tol(b.params[i], m.params[i], 1e-3f * fabsf(m.params[i]) + 1e-7f);
    tf_model_free(&m);
    tf_model_free(&a);
    tf_model_free(&b);
    tl_scratch_drop();
}
END_TEST

#define GOOD_CONFIG \
    "{\"vocab_size\": 260, \"hidden_size\": 32, \"intermediate_size\": %d,"  \
    " \"num_hidden_layers\": %d, \"num_attention_heads\": 4, \"num_key_value_heads\": %d,"  \
    " \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000, \"max_position_embeddings\": 64,"  \
    " \"torch_dtype\": \"float32\"%s}"

/* Loads a model directory holding weights_from's weights and a config with these values. */
static db_status load_with_config(int inter, int layers, int kvh, const char *extra,
                                  const char *weights_from)
{
    char path[600], text[1024], cmd[1400];
    tl_path_buf(path, sizeof path, "bad");
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", path, path);
    ck_assert_int_eq(system(cmd), 0);
    if (weights_from) {
        snprintf(cmd, sizeof cmd, "cp '%s/model.safetensors' '%s/'", weights_from, path);
        ck_assert_int_eq(system(cmd), 0);
    }
    snprintf(text, sizeof text, GOOD_CONFIG, inter, layers, kvh, extra);
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/config.json", path);
    tl_write_text(cfg, text);
    tf_model m;
    db_status s = tf_model_load(&m, path);
    if (s == DB_OK)
        tf_model_free(&m);
    return s;
}

START_TEST(test_config_errors)
{
    tl_scratch_make("check_models");
    tf_config c;
    char path[600];
    tl_path_buf(path, sizeof path, "nothing");
    ck_assert_int_eq(tf_config_load(path, &c), DB_ERR_IO);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "config"));
    tl_path_buf(path, sizeof path, "c.json");
    tl_write_text(path, "{\"hidden_size\": 32}");
    ck_assert_int_eq(tf_config_load(path, &c), DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "vocab_size"));
    tl_write_text(path, "not json");
    ck_assert_int_eq(tf_config_load(path, &c), DB_ERR_FORMAT);
    tl_write_text(path, "{\"vocab_size\": 260, \"hidden_size\": 30, \"intermediate_size\": 64,"
                     " \"num_hidden_layers\": 2, \"num_attention_heads\": 4}");
    ck_assert_int_eq(tf_config_load(path, &c), DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "multiple"));
    tl_write_text(path, "{\"vocab_size\": 260, \"hidden_size\": 32, \"intermediate_size\": 64,"
                     " \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
                     " \"num_key_value_heads\": 3}");
    ck_assert_int_eq(tf_config_load(path, &c), DB_ERR_FORMAT);
    tl_write_text(path, "{\"vocab_size\": 260, \"hidden_size\": 32, \"intermediate_size\": 64,"
                     " \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
                     " \"hidden_act\": \"gelu\"}");
    ck_assert_int_eq(tf_config_load(path, &c), DB_ERR_UNSUPPORTED);
    tl_write_text(path, "{\"vocab_size\": 260.5, \"hidden_size\": 32, \"intermediate_size\": 64,"
                     " \"num_hidden_layers\": 2, \"num_attention_heads\": 4}");
    ck_assert_int_eq(tf_config_load(path, &c), DB_ERR_FORMAT);
    tl_scratch_drop();
}
END_TEST

START_TEST(test_weight_errors)
{
    tl_scratch_make("check_models");
    tf_model m;
    ck_assert_int_eq(tf_model_init(&m, &micro), DB_OK);
    tf_model_init_random(&m, 8);
    char good[512];
    tl_path_buf(good, sizeof good, "good");
    ck_assert_int_eq(tf_model_save(&m, good, DT_F32, 0, NULL, NULL), DB_OK);
    ck_assert_int_eq(load_with_config(64, 2, 2, "", good), DB_OK);
    /* config promises more layers than the weights hold */
    ck_assert_int_eq(load_with_config(64, 3, 2, "", good), DB_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "model.layers.2."));
    /* and fewer: a tensor beyond the config's layers */
    ck_assert_int_eq(load_with_config(64, 1, 2, "", good), DB_ERR_SHAPE);
    /* shapes that disagree */
    ck_assert_int_eq(load_with_config(96, 2, 2, "", good), DB_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "shape"));
    ck_assert_int_eq(load_with_config(64, 2, 4, "", good), DB_ERR_SHAPE);
    /* rope scaling and other activations are refused, not silently ignored */
    ck_assert_int_eq(load_with_config(64, 2, 2, ", \"rope_scaling\": {\"type\": \"linear\"}",
                                      good), DB_ERR_UNSUPPORTED);
    /* no weights at all */
    ck_assert_int_ne(load_with_config(64, 2, 2, "", NULL), DB_OK);
    /* an unsupported dtype */
    char bad[600];
    tl_path_buf(bad, sizeof bad, "i8");
    {
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp '%s/config.json' '%s/'", bad, good, bad);
        ck_assert_int_eq(system(cmd), 0);
        size_t nt = 0;
        const char *names[64];
        db_tensor ts[64];
        char nb[64][96];
        for (int k = 0; k < LT_COUNT; k++) {
            int nl = llama_is_layer_tensor((llama_tensor)k) ? micro.L : 1;
            llama_shape ls = tf_config_shape(&micro);
            int64_t sh[2];
            int nd = llama_tensor_shape(&ls, (llama_tensor)k, sh);
            for (int l = 0; l < nl; l++, nt++) {
                llama_name(nb[nt], sizeof nb[nt], (llama_tensor)k, l);
                names[nt] = nb[nt];
                tensor_view(&ts[nt], k == LT_Q ? DT_I32 : DT_F32, nd, sh,
                            tf_weight(&m, (llama_tensor)k, l, NULL, NULL));
            }
        }
        char file[700];
        snprintf(file, sizeof file, "%s/model.safetensors", bad);
        ck_assert_int_eq(st_save(file, nt, names, ts, 0, NULL, NULL), DB_OK);
        tf_model x;
        ck_assert_int_eq(tf_model_load(&x, bad), DB_ERR_DTYPE);
        ck_assert_ptr_nonnull(strstr(db_errmsg(), "q_proj"));
    }
    tf_model_free(&m);
    tl_scratch_drop();
}
END_TEST

START_TEST(test_task_splits)
{
    db_task *t;
    ck_assert_int_eq(task_open("arith", NULL, 50000, &t), DB_OK);
    ck_assert_int_eq(t->kind, TASK_EXACT);
    ck_assert_uint_eq(t->nex, 500);
    /* no validation prompt appears in the training stream */
    for (size_t e = 0; e < 50; e++) {
        const task_example *ex = &t->ex[e];
        for (size_t i = 0; i + (size_t)ex->plen < t->train.n; i++)
            if (t->train.tok[i] == TOK_BOS &&
                !memcmp(&t->train.tok[i], ex->prompt, (size_t)ex->plen * sizeof(int)))
                ck_abort_msg("validation prompt %zu found in training", e);
    }
    /* prompts are not scored, answers and EOS are */
    ck_assert_int_eq(t->train.tok[0], TOK_BOS);
    ck_assert_int_eq(t->train.score[0], 0);
    /* exact-match training rows: one example from its <bos> ("37+05=042": 11 tokens, the
     * answer's 3 digits and <eos> scored), then padding that is never scored */
    db_rng r;
    rng_seed(&r, 9);
    enum { TB = 16, TT = 24 };
    int tok[TB * TT], tgt[TB * TT];
    task_batch(t, &r, TB, TT, tok, tgt);
    for (int b = 0; b < TB; b++) {
        const int *tk = tok + b * TT, *tg = tgt + b * TT;
        ck_assert_int_eq(tk[0], TOK_BOS);
        ck_assert_int_eq(tk[10], TOK_EOS);
        int scored = 0;
        for (int i = 0; i < TT; i++)
            scored += tg[i] >= 0;
        ck_assert_int_eq(scored, 4);
        ck_assert_int_eq(tg[9], TOK_EOS);
        for (int i = 11; i < TT; i++)
            ck_assert(tk[i] == TOK_PAD && tg[i] == -1);
    }
    task_free(t);
    ck_assert_int_eq(task_open("nonsense", NULL, 0, &t), DB_ERR_ARG);
    ck_assert_int_eq(task_open("scripture", "/nonexistent", 0, &t), DB_ERR_IO);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "/nonexistent/scripture.txt"));
}
END_TEST

START_TEST(test_eval_exact_and_ppl)
{
    tf_set_threads(2);
    db_task *t;
    ck_assert_int_eq(task_open("reverse", NULL, 100000, &t), DB_OK);
    tf_model m;
    ck_assert_int_eq(tf_model_init(&m, &micro), DB_OK);
    tf_model_init_random(&m, 7);
    eval_result a, b;
    ck_assert_int_eq(eval_ppl(&m, t, 4, 32, 0, &a), DB_OK);
    ck_assert(a.ntokens > 0);
    ck_assert(fabs(a.bpb - log2(TASK_VOCAB)) < 0.5); /* untrained: near uniform */
    /* exact-match tasks: every example scored once, answer and <eos>, from its own <bos> */
    int64_t want = 0;
    for (size_t e = 0; e < t->nex; e++)
        want += t->ex[e].alen + 1;
    ck_assert_int_eq(a.ntokens, want);
    ck_assert_int_eq(eval_exact(&m, t, 8, 40, &b), DB_OK);
    ck_assert_int_eq(b.nexact, 40);
    ck_assert(b.accuracy >= 0 && b.accuracy <= 1);
    /* batch size does not change greedy decoding */
    eval_result c;
    ck_assert_int_eq(eval_exact(&m, t, 3, 40, &c), DB_OK);
    ck_assert_int_eq(b.ncorrect, c.ncorrect);
    /* per-item scores add up to the totals: windows' losses and tokens, prompts' 1 / 0 */
    eval_items wi, ei;
    eval_result a2, b2;
    ck_assert_int_eq(eval_ppl_items(&m, t, 4, 32, 0, &a2, &wi), DB_OK);
    ck_assert_int_eq(wi.count, t->nex);
    double sx = 0;
    int64_t sn = 0;
    for (size_t i = 0; i < wi.count; i++)
        sx += wi.x[i], sn += wi.n[i];
    ck_assert_int_eq(sn, a2.ntokens);
    ck_assert(fabs(sx / (double)sn - a2.loss) < 1e-9);
    ck_assert(a2.loss == a.loss);
    ck_assert_int_eq(eval_exact_items(&m, t, 8, 40, &b2, &ei), DB_OK);
    ck_assert_int_eq(ei.count, 40);
    int64_t k = 0;
    for (size_t i = 0; i < ei.count; i++) {
        k += ei.x[i] > 0;
        ck_assert_int_eq(ei.n[i], 1);
    }
    ck_assert_int_eq(k, b.ncorrect);
    eval_items_free(&wi);
    eval_items_free(&ei);
    eval_items_free(&ei); /* twice: a no-op */
    eval_items_free(NULL);
    tf_model_free(&m);
    task_free(t);
}
END_TEST


/* A base and a fine-tune of it (a few steps on arith), both saved as F16 like the zoo. */
static void make_pair(const char *base, const char *ft)
{
    tf_set_threads(2);
    db_task *t;
    ck_assert_int_eq(task_open("arith", NULL, 100000, &t), DB_OK);
    tf_model m;
    ck_assert_int_eq(tf_model_init(&m, &micro), DB_OK);
    tf_model_init_random(&m, 21);
    ck_assert_int_eq(tf_model_save(&m, base, DT_F16, 0, NULL, NULL), DB_OK);
    tf_model_free(&m);
    ck_assert_int_eq(tf_model_load(&m, base), DB_OK);
    train_result r;
    train_micro(&m, t, 20, 4, &r);
    ck_assert_int_eq(tf_model_save(&m, ft, DT_F16, 0, NULL, NULL), DB_OK);
    tf_model_free(&m);
    task_free(t);
}

static void compress(const char *base, const char *ft, const char *method, const char *out)
{
    dc_compress_opts o = {0};
    o.base_path = base;
    o.target_path = ft;
    o.out_path = out;
    o.method = dc_method_find(method);
    ck_assert_ptr_nonnull(o.method);
    dc_params_default(o.method, &o.params);
    dc_summary sum;
    ck_assert_msg(dc_compress_model(&o, &sum) == DB_OK, "%s", db_errmsg());
}

static void score(const char *dir, const char *delta, const char *base, const db_task *t,
                  eval_result *ppl, eval_result *ex)
{
    tf_model m;
    tf_delta *d = NULL;
    ck_assert_int_eq(tf_model_load(&m, dir), DB_OK);
    if (delta)
        ck_assert_msg(tf_delta_attach(&m, base, delta, &d) == DB_OK, "%s", db_errmsg());
    ck_assert_int_eq(eval_ppl(&m, t, 8, 32, 4000, ppl), DB_OK);
    ck_assert_int_eq(eval_exact(&m, t, 16, 100, ex), DB_OK);
    tf_delta_detach(&m, d);
    tf_model_free(&m);
}

/* Evaluating base + fp16 delta (applied in every linear layer from the packed form) gives the
 * fine-tune's own numbers: bits per byte to DELTA_EVAL_TOL, identical exact-match answers. */
#define DELTA_EVAL_TOL 1e-4
START_TEST(test_eval_fp16_delta_equals_finetune)
{
    tl_scratch_make("check_models");
    char base[512], ft[512], dz[512];
    tl_path_buf(base, sizeof base, "base");
    tl_path_buf(ft, sizeof ft, "ft");
    tl_path_buf(dz, sizeof dz, "ft.dz");
    make_pair(base, ft);
    compress(base, ft, "fp16", dz);
    db_task *t;
    ck_assert_int_eq(task_open("arith", NULL, 10000, &t), DB_OK);
    eval_result p0, e0, p1, e1, pb, eb;
    score(ft, NULL, NULL, t, &p0, &e0);
    score(base, dz, base, t, &p1, &e1);
    score(base, NULL, NULL, t, &pb, &eb);
    ck_assert_msg(fabs(p0.bpb - p1.bpb) < DELTA_EVAL_TOL, "bpb %.6f vs %.6f", p0.bpb, p1.bpb);
    ck_assert_int_eq(e0.ncorrect, e1.ncorrect);
    ck_assert_int_eq(p0.ntokens, p1.ntokens);
    /* and the fine-tune did move away from the base */
    ck_assert_msg(pb.bpb - p0.bpb > 0.5, "fine-tune %.3f vs base %.3f", p0.bpb, pb.bpb);
    /* the delta on another base is refused by hash, one line naming the file */
    tf_model m;
    tf_delta *d;
    ck_assert_int_eq(tf_model_load(&m, ft), DB_OK);
    ck_assert_int_ne(tf_delta_attach(&m, ft, dz, &d), DB_OK);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "ft.dz"));
    ck_assert_ptr_null(m.hook.fn);
    tf_model_free(&m);
    /* folding the delta gives the same model as the hook */
    ck_assert_int_eq(tf_model_load(&m, base), DB_OK);
    ck_assert_int_eq(tf_delta_attach(&m, base, dz, &d), DB_OK);
    ck_assert_int_eq(tf_delta_fold(&m, d), DB_OK);
    ck_assert_ptr_null(m.hook.fn);
    eval_result pf;
    ck_assert_int_eq(eval_ppl(&m, t, 8, 32, 4000, &pf), DB_OK);
    ck_assert_msg(fabs(pf.bpb - p0.bpb) < DELTA_EVAL_TOL, "folded bpb %.6f", pf.bpb);
    tf_model_free(&m);
    task_free(t);
    tl_scratch_drop();
}
END_TEST

/* The model provider's Hessians: symmetric, positive diagonal, equal to the static file's for an
 * untouched layer, and changed for later layers once an earlier one is updated. */
START_TEST(test_calib_provider)
{
    tl_scratch_make("check_models");
    char base[512], ft[512], file[512];
    tl_path_buf(base, sizeof base, "base");
    tl_path_buf(ft, sizeof ft, "ft");
    tl_path_buf(file, sizeof file, "calib.safetensors");
    make_pair(base, ft);
    dc_calib *c, *fc;
    ck_assert_int_eq(calib_model_open(base, ft, "arith", NULL, 512, 32, &c), DB_OK);
    ck_assert_int_eq(calib_model_write(ft, "arith", NULL, 512, 32, file), DB_OK);
    ck_assert_int_eq(dc_calib_file_open(file, &fc), DB_OK);
    ck_assert_int_eq(dc_calib_file_tokens(fc), 512);
    int64_t K = micro.C, n;
    float *H = db_malloc_array((size_t)(K * K), sizeof(float));
    float *H2 = db_malloc_array((size_t)(K * K), sizeof(float));
    const char *q1 = "model.layers.1.self_attn.q_proj.weight";
    ck_assert_int_eq(c->hessian(c->ctx, q1, K, H, &n), DB_OK);
    ck_assert_int_eq(n, 512);
    ck_assert_int_eq(fc->hessian(fc->ctx, q1, K, H2, &n), DB_OK);
    for (int64_t i = 0; i < K; i++) {
        ck_assert(H[i * K + i] > 0);
        for (int64_t j = 0; j < K; j++) {
            ck_assert_float_eq_tol(H[i * K + j], H[j * K + i], 1e-4f * fabsf(H[i * K + i]));
            ck_assert_float_eq_tol(H[i * K + j], H2[i * K + j], 1e-5f + 1e-5f * fabsf(H2[i * K + j]));
        }
    }
    /* a zero delta on layer 0's down projection makes it the base's: layer 1 inputs change */
    int64_t F = micro.F;
    float *zero = db_calloc((size_t)(micro.C * F), sizeof(float));
    ck_assert_int_eq(c->update(c->ctx, "model.layers.0.mlp.down_proj.weight", micro.C, F, zero), DB_OK);
    ck_assert_int_eq(c->hessian(c->ctx, q1, K, H2, &n), DB_OK);
    double diff = 0;
    for (int64_t i = 0; i < K * K; i++)
        diff += fabs(H[i] - H2[i]);
    ck_assert_msg(diff > 1e-3, "update did not reach later layers");
    /* q, k, v share an input: k comes from the kept measurement, bit-equal to a fresh
     * provider's after the same updates, and an update of q (same input) keeps it valid */
    const char *k1 = "model.layers.1.self_attn.k_proj.weight";
    float *zq = db_calloc((size_t)(K * K), sizeof(float));
    ck_assert_int_eq(c->update(c->ctx, q1, K, K, zq), DB_OK);
    ck_assert_int_eq(c->hessian(c->ctx, k1, K, H, &n), DB_OK);
    dc_calib *c2;
    ck_assert_int_eq(calib_model_open(base, ft, "arith", NULL, 512, 32, &c2), DB_OK);
    ck_assert_int_eq(c2->update(c2->ctx, "model.layers.0.mlp.down_proj.weight", micro.C, F, zero), DB_OK);
    ck_assert_int_eq(c2->update(c2->ctx, q1, K, K, zq), DB_OK);
    float *H3 = db_malloc_array((size_t)(K * K), sizeof(float));
    ck_assert_int_eq(c2->hessian(c2->ctx, k1, K, H3, &n), DB_OK);
    ck_assert_mem_eq(H, H3, (size_t)(K * K) * sizeof(float));
    ck_assert_mem_eq(H, H2, (size_t)(K * K) * sizeof(float));
    /* an update before that input (layer 0's gate) invalidates it: a new measurement, again
     * equal to a fresh provider's */
    float *zg = db_calloc((size_t)(F * K), sizeof(float));
    ck_assert_int_eq(c->update(c->ctx, "model.layers.0.mlp.gate_proj.weight", F, K, zg), DB_OK);
    ck_assert_int_eq(c->hessian(c->ctx, k1, K, H, &n), DB_OK);
    ck_assert_int_eq(c2->update(c2->ctx, "model.layers.0.mlp.gate_proj.weight", F, K, zg), DB_OK);
    calib_model_close(c2);
    ck_assert_int_eq(calib_model_open(base, ft, "arith", NULL, 512, 32, &c2), DB_OK);
    ck_assert_int_eq(c2->update(c2->ctx, "model.layers.0.mlp.down_proj.weight", micro.C, F, zero), DB_OK);
    ck_assert_int_eq(c2->update(c2->ctx, "model.layers.0.mlp.gate_proj.weight", F, K, zg), DB_OK);
    ck_assert_int_eq(c2->hessian(c2->ctx, k1, K, H3, &n), DB_OK);
    ck_assert_mem_eq(H, H3, (size_t)(K * K) * sizeof(float));
    diff = 0;
    for (int64_t i = 0; i < K * K; i++)
        diff += fabs(H[i] - H2[i]);
    ck_assert_msg(diff > 1e-3, "an update of layer 0's gate left layer 1's input unchanged");
    calib_model_close(c2);
    /* o reads another input than q, k, v (same width): right after k, it is measured, not the
     * kept H; equal to a fresh provider's (same updates, nothing kept) */
    const char *o1 = "model.layers.1.self_attn.o_proj.weight";
    ck_assert_int_eq(c->hessian(c->ctx, o1, K, H, &n), DB_OK);
    ck_assert_int_eq(calib_model_open(base, ft, "arith", NULL, 512, 32, &c2), DB_OK);
    ck_assert_int_eq(c2->update(c2->ctx, "model.layers.0.mlp.down_proj.weight", micro.C, F, zero), DB_OK);
    ck_assert_int_eq(c2->update(c2->ctx, q1, K, K, zq), DB_OK);
    ck_assert_int_eq(c2->update(c2->ctx, "model.layers.0.mlp.gate_proj.weight", F, K, zg), DB_OK);
    ck_assert_int_eq(c2->hessian(c2->ctx, o1, K, H3, &n), DB_OK);
    ck_assert_mem_eq(H, H3, (size_t)(K * K) * sizeof(float));
    calib_model_close(c2);
    db_free(zq);
    db_free(zg);
    db_free(H3);
    /* asking for something that is not a linear tensor */
    ck_assert_int_eq(c->hessian(c->ctx, "model.norm.weight", K, H, &n), DB_ERR_NOT_FOUND);
    ck_assert_int_ne(c->hessian(c->ctx, q1, K + 1, H, &n), DB_OK);
    db_free(zero);
    db_free(H);
    db_free(H2);
    calib_model_close(c);
    dc_calib_file_close(fc);
    tl_scratch_drop();
}
END_TEST

START_TEST(test_distill_lowers_logit_mse)
{
    tl_scratch_make("check_models");
    char base[512], ft[512], dz[512], dz2[512];
    tl_path_buf(base, sizeof base, "base");
    tl_path_buf(ft, sizeof ft, "ft");
    tl_path_buf(dz, sizeof dz, "bd.dz");
    tl_path_buf(dz2, sizeof dz2, "bd2.dz");
    make_pair(base, ft);
    compress(base, ft, "bitdelta", dz);
    db_task *t;
    ck_assert_int_eq(task_open("arith", NULL, 100000, &t), DB_OK);
    distill_opts o = {12, 1e-3f, 4, 32, 1, DISTILL_MSE, 0, NULL, NULL};
    distill_result r;
    ck_assert_msg(distill_bitdelta(base, ft, dz, t, &o, dz2, &r) == DB_OK, "%s", db_errmsg());
    /* a snapshot after step 5 of a 12-step run is byte for byte a 5-step run (the metadata
     * note, which records the loss so far, included) */
    {
        char s5[600], r5[600];
        snprintf(s5, sizeof s5, "%s.snap5", dz2);
        snprintf(r5, sizeof r5, "%s.run5", dz2);
        const int at[] = {5};
        const char *const paths[] = {s5};
        distill_opts os = o, o5 = o;
        os.nsnap = 1, os.snap_steps = at, os.snap_paths = paths;
        o5.steps = 5;
        distill_result rs, r5r;
        char full[600];
        snprintf(full, sizeof full, "%s.full", dz2);
        ck_assert_msg(distill_bitdelta(base, ft, dz, t, &os, full, &rs) == DB_OK, "%s", db_errmsg());
        ck_assert_msg(distill_bitdelta(base, ft, dz, t, &o5, r5, &r5r) == DB_OK, "%s", db_errmsg());
        size_t na, nb, nc, nd;
        unsigned char *a = tl_read(s5, &na), *b = tl_read(r5, &nb);
        unsigned char *c = tl_read(full, &nc), *d = tl_read(dz2, &nd);
        ck_assert(na == nb && memcmp(a, b, na) == 0);
        ck_assert(nc == nd && memcmp(c, d, nc) == 0); /* snapshots do not change the run */
        free(a), free(b), free(c), free(d);
        const int bad[] = {12};
        os.snap_steps = bad;
        ck_assert_int_eq(distill_bitdelta(base, ft, dz, t, &os, full, &rs), DB_ERR_ARG);
    }
    ck_assert_int_eq(r.nscales, micro.L * 7);
    ck_assert_msg(r.loss_last < r.loss_first, "mse %.4g -> %.4g", r.loss_first, r.loss_last);
    distill_opts ok = o;
    ok.loss = DISTILL_KL;
    distill_result rk;
    char dzk[600];
    snprintf(dzk, sizeof dzk, "%s.kl", dz2);
    ck_assert_msg(distill_bitdelta(base, ft, dz, t, &ok, dzk, &rk) == DB_OK, "%s", db_errmsg());
    ck_assert_msg(rk.loss_first >= 0 && rk.loss_last < rk.loss_first, "kl %.4g -> %.4g",
                  rk.loss_first, rk.loss_last);
    /* the output is a valid container on the same base, with other scales */
    dc_delta *a, *b;
    ck_assert_int_eq(dc_delta_open(dz, base, &a), DB_OK);
    ck_assert_msg(dc_delta_open(dz2, base, &b) == DB_OK, "%s", db_errmsg());
    const dc_tensor *ta = dc_delta_find(a, "model.layers.0.mlp.up_proj.weight");
    const dc_tensor *tb = dc_delta_find(b, "model.layers.0.mlp.up_proj.weight");
    ck_assert_ptr_nonnull(ta);
    ck_assert_ptr_nonnull(tb);
    float sa, sb;
    memcpy(&sa, dc_packed_part(&ta->packed, "scale")->data, 4);
    memcpy(&sb, dc_packed_part(&tb->packed, "scale")->data, 4);
    ck_assert(sa != sb);
    dc_delta_close(a);
    dc_delta_close(b);
    /* a container of another method is refused */
    compress(base, ft, "fp16", dz);
    ck_assert_int_eq(distill_bitdelta(base, ft, dz, t, &o, dz2, &r), DB_ERR_ARG);
    task_free(t);
    tl_scratch_drop();
}
END_TEST

/* Both distillation losses: gradients against central differences, KL >= 0 and 0 (with a zero
 * gradient) when the student's logits are the teacher's up to a shift. */
START_TEST(test_distill_loss_grad)
{
    enum { R = 3, V = 7 };
    float z[R * V], zt[R * V], g[R * V], g2[R * V];
    db_rng r;
    rng_seed(&r, 9);
    for (int i = 0; i < R * V; i++)
        z[i] = (float)(4 * rng_f64(&r) - 2), zt[i] = (float)(4 * rng_f64(&r) - 2);
    for (int kind = DISTILL_MSE; kind <= DISTILL_KL; kind++) {
        double L = distill_loss_grad(kind, z, zt, R, V, g);
        ck_assert(L > 0);
        for (int i = 0; i < R * V; i++) {
            const float h = 1e-2f, z0 = z[i];
            z[i] = z0 + h;
            double up = distill_loss_grad(kind, z, zt, R, V, g2);
            z[i] = z0 - h;
            double dn = distill_loss_grad(kind, z, zt, R, V, g2);
            z[i] = z0;
            ck_assert_msg(fabs((up - dn) / (2 * h) - g[i]) < 1e-3 + 1e-2 * fabs(g[i]),
                          "loss %d element %d: %g vs %g", kind, i, (up - dn) / (2 * h), g[i]);
        }
    }
    for (int i = 0; i < R * V; i++)
        z[i] = zt[i] + 3.0f; /* the same distribution */
    ck_assert(fabs(distill_loss_grad(DISTILL_KL, z, zt, R, V, g)) < 1e-6);
    for (int i = 0; i < R * V; i++)
        ck_assert(fabsf(g[i]) < 1e-6f);
    ck_assert(distill_loss_grad(DISTILL_MSE, z, zt, R, V, g) > 8.9); /* MSE sees the shift */
}
END_TEST

/* ---- allocation failures ------------------------------------------------------------------ */

/* The model's entry points under tl_alloc_sweep: each failing allocation gives DB_ERR_NOMEM with
 * a message and leaves the output empty (NULL pointers, nothing to free), and nothing leaks. */
typedef struct {
    tf_model m;   /* the one under test (op_init, op_load) */
    tf_model *base; /* a loaded model (acts, forward, train, kv, tfb) */
    tf_kv kv;
    const char *path;
    dc_delta *dc;
    tfb_weights *w;
    kn_ctx *kn;
    tfb_ctx *b;
    int tokens[16], targets[16];
} model_fault;

static db_status op_init(void *ctx)
{
    model_fault *f = ctx;
    return tf_model_init(&f->m, &micro);
}

static db_status op_load(void *ctx)
{
    model_fault *f = ctx;
    return tf_model_load(&f->m, f->path);
}

static void done_model(void *ctx, db_status s)
{
    model_fault *f = ctx;
    if (s != DB_OK)
        ck_assert(!f->m.params && !f->m.rope_cos && !f->m.rope_sin);
    tf_model_free(&f->m);
}

static db_status op_acts(void *ctx)
{
    model_fault *f = ctx;
    return tf_acts_alloc(f->base, 2, 8, true);
}

static db_status op_forward(void *ctx)
{
    model_fault *f = ctx;
    float loss;
    return tf_forward(f->base, f->tokens, f->targets, 2, 8, &loss);
}

static db_status op_train(void *ctx)
{
    model_fault *f = ctx;
    return tf_train_alloc(f->base);
}

static void done_train(void *ctx, db_status s)
{
    model_fault *f = ctx;
    if (s != DB_OK) /* all or nothing; no gradient view left pointing into freed memory */
        ck_assert(!f->base->grads && !f->base->adam_m && !f->base->adam_v &&
                  !f->base->g[LT_EMBED]);
}

static void done_acts(void *ctx, db_status s)
{
    model_fault *f = ctx;
    if (s != DB_OK)
        ck_assert(!f->base->acts.mem && !f->base->acts.resid && f->base->acts.B == 0);
}

static db_status op_kv(void *ctx)
{
    model_fault *f = ctx;
    return tf_kv_alloc(&f->kv, &micro, 2, 16);
}

static void done_kv(void *ctx, db_status s)
{
    model_fault *f = ctx;
    if (s != DB_OK)
        ck_assert_ptr_null(f->kv.mem);
    tf_kv_free(&f->kv);
}

static db_status op_save(void *ctx)
{
    model_fault *f = ctx;
    return tf_model_save(f->base, f->path, DT_F16, 0, NULL, NULL);
}

static void done_save(void *ctx, db_status s)
{
    model_fault *f = ctx;
    int ntmp;
    tl_dir_entries(f->path, &ntmp);
    ck_assert_int_eq(ntmp, 0); /* no temporary file left behind */
    (void)s;
}

static db_status op_from_checkpoint(void *ctx)
{
    model_fault *f = ctx;
    return tfb_weights_from_checkpoint(&micro, f->path, &f->w);
}

static db_status op_from_delta(void *ctx)
{
    model_fault *f = ctx;
    return tfb_weights_from_delta(&micro, f->dc, f->path, &f->w);
}

static void done_weights(void *ctx, db_status s)
{
    model_fault *f = ctx;
    if (s != DB_OK)
        ck_assert_ptr_null(f->w);
    tfb_weights_free(f->w);
    f->w = NULL;
}

static db_status op_tfb(void *ctx)
{
    model_fault *f = ctx;
    db_status s = tfb_init(&f->b, f->base, f->kn, 2, 16, 2);
    if (s != DB_OK) {
        ck_assert_ptr_null(f->b);
        return s;
    }
    tfb_req rq[2] = {{f->w, 0, 0, 5, f->tokens}, {NULL, 1, 0, 3, f->tokens + 5}};
    int next[2];
    return tfb_run(f->b, 2, rq, next);
}

static void done_tfb(void *ctx, db_status s)
{
    model_fault *f = ctx;
    (void)s;
    tfb_free(f->b);
    f->b = NULL;
}

START_TEST(test_alloc_failures)
{
    tl_scratch_make("check_models");
    model_fault f;
    memset(&f, 0, sizeof f);
    for (int i = 0; i < 16; i++)
        f.tokens[i] = (i * 7) % TASK_VOCAB, f.targets[i] = (i * 5) % TASK_VOCAB;
    ck_assert_int_eq(tl_alloc_sweep("tf_model_init", op_init, done_model, &f, 100), 3);
    char base[PATH_MAX], ft[PATH_MAX], dz[PATH_MAX], bd[PATH_MAX], dq[PATH_MAX];
    tl_path_buf(base, sizeof base, "base");
    tl_path_buf(ft, sizeof ft, "ft");
    make_pair(base, ft);
    f.path = base;
    ck_assert_int_ge(tl_alloc_sweep("tf_model_load", op_load, done_model, &f, 10000), 5);
    tf_model m;
    ck_assert_int_eq(tf_model_load(&m, base), DB_OK);
    f.base = &m;
    ck_assert_int_ge(tl_alloc_sweep("tf_acts_alloc", op_acts, done_acts, &f, 100), 1);
    tl_alloc_sweep("tf_forward", op_forward, NULL, &f, 100);
    ck_assert_int_eq(tf_train_alloc(&m), DB_OK); /* a failing re-allocation must drop it all */
    ck_assert_int_ge(tl_alloc_sweep("tf_train_alloc", op_train, done_train, &f, 100), 3);
    ck_assert_int_ge(tl_alloc_sweep("tf_kv_alloc", op_kv, done_kv, &f, 100), 1);
    char saved[PATH_MAX];
    tl_path_buf(saved, sizeof saved, "saved");
    f.path = saved;
    ck_assert_int_ge(tl_alloc_sweep("tf_model_save", op_save, done_save, &f, 10000), 3);
    /* The serving forward: full weights, then each delta path, then a batch over a delta. */
    f.path = ft;
    ck_assert_int_ge(tl_alloc_sweep("tfb_weights_from_checkpoint", op_from_checkpoint,
                                    done_weights, &f, 10000), 5);
    tl_path_buf(dz, sizeof dz, "ft.dz");
    tl_path_buf(bd, sizeof bd, "ft.bd");
    tl_path_buf(dq, sizeof dq, "ft.dq");
    compress(base, ft, "deltazip", dz);
    compress(base, ft, "bitdelta", bd);
    compress(base, ft, "deltadq", dq);
    const char *deltas[] = {dz, bd, dq};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(dc_delta_open(deltas[i], NULL, &f.dc), DB_OK);
        f.path = deltas[i];
        ck_assert_int_ge(tl_alloc_sweep(deltas[i], op_from_delta, done_weights, &f, 10000), 5);
        dc_delta_close(f.dc);
    }
    ck_assert_int_eq(kn_ctx_init(&f.kn, KN_CPU, KN_IMPL_FAST), DB_OK);
    ck_assert_int_eq(dc_delta_open(bd, NULL, &f.dc), DB_OK);
    ck_assert_int_eq(tfb_weights_from_delta(&micro, f.dc, bd, &f.w), DB_OK);
    ck_assert_int_ge(tl_alloc_sweep("tfb_init + tfb_run", op_tfb, done_tfb, &f, 10000), 5);
    tfb_weights_free(f.w);
    dc_delta_close(f.dc);
    kn_ctx_free(f.kn);
    tf_model_free(&m);
    tl_scratch_drop();
}
END_TEST

static Suite *models_suite(void)
{
    Suite *s = suite_create("models");
    TCase *tc = tcase_create("models");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_gradcheck_gqa);
    tcase_add_test(tc, test_distill_loss_grad);
    tcase_add_test(tc, test_gradcheck_mha);
    tcase_add_test(tc, test_loss_falls);
    tcase_add_test(tc, test_determinism_same_seed);
    tcase_add_test(tc, test_resume_equals_uninterrupted);
    tcase_add_test(tc, test_kv_decode_equals_forward);
    tcase_add_test(tc, test_gqa_equals_repeated_kv);
    tcase_add_test(tc, test_save_load_roundtrip);
    tcase_add_test(tc, test_config_errors);
    tcase_add_test(tc, test_weight_errors);
    tcase_add_test(tc, test_task_splits);
    tcase_add_test(tc, test_eval_exact_and_ppl);
    tcase_add_test(tc, test_eval_fp16_delta_equals_finetune);
    tcase_add_test(tc, test_calib_provider);
    tcase_add_test(tc, test_distill_lowers_logit_mse);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tl_run(models_suite());
}
