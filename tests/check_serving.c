/* check_serving.c: tests of the serving harness: the event loop (ordering, ties, errors), the
 * cost model against hand-computed formulas, each policy on tiny scenarios whose times are
 * worked out by hand from the cost model, LRU residency, admission skipping, preemption,
 * prefetch, KV accounting, conservation of requests, memory-fit errors and determinism.
 *
 * The scenarios use a tiny model (L=1, C=4, F=8, V=8) on a made-up profile whose FLOP rate is
 * so high that every roofline is memory-bound, with bandwidths chosen so the weights take 1 s
 * to read; every expected time below is written out from the formulas in docs/serving.md. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"
#include "harness/bench_kernel.h"
#include "serve/engine.h"
#include "serve/exec.h"
#include "workloads/trace.h"
#include "testlib.h"

static const llama_model tiny = {"tiny", 8, 4, 8, 1, 1, 1};
/* w_lin = 2·16 + 2·16 + 3·32 = 160, w_head = 32: an iteration reads 384 weight bytes;
 * the fp16 checkpoint is 2·(160 + 2·32 + 2·4 + 4) = 472 bytes; a KV token is 16 bytes. */

static hw_profile tiny_hw(void)
{
    hw_profile h;
    memset(&h, 0, sizeof h);
    snprintf(h.name, sizeof h.name, "tiny");
    h.hbm_bytes = 1e6;
    h.hbm_bw = 384;      /* base weights: 1 s per iteration */
    h.peak_flops = 1e30; /* compute never binds */
    h.pcie_bw = 472;     /* one full model per second */
    h.disk_bw = 47.2;    /* ten seconds per full model */
    h.host_bytes = 1e6;
    h.link_bw = 160;
    h.link_lat_s = 0.25;
    h.step_overhead_s = 0;
    h.load_overhead_s = 0;
    h.max_gpus = 8;
    hw_eff_set(&h, "gemm.mem", 1.0);
    hw_eff_set(&h, "attn.mem", 0.5); /* attention: 192 B/s, 1/12 s per KV token */
    return h;
}

static eng_config tiny_cfg(const char *policy, int M)
{
    eng_config c;
    eng_config_default(&c);
    c.policy = pol_find(policy);
    c.n_models = M;
    c.mem_interval_s = 0;
    return c;
}

/* Runs reqs through `policy` on the tiny model and profile; ck_asserts success. */
static void run_tiny(eng_config *cfg, const hw_profile *hw, const cost_format *fmt, int tp,
                     const eng_request *reqs, int64_t n, eng_result *res, cost_ctx *cost)
{
    ck_assert_int_eq(cost_init(cost, &tiny, fmt, hw, tp), DB_OK);
    exe_executor exe;
    ck_assert_int_eq(exe_sim_init(&exe, cost), DB_OK);
    db_status s = eng_run(cfg, cost, hw, &exe, reqs, n, res);
    if (s != DB_OK)
        ck_abort_msg("eng_run: %s", db_errmsg());
    exe_free(&exe);
}

#define EQ(a, b) ck_assert_double_eq_tol((a), (b), 1e-9)

/* ---- event loop ---------------------------------------------------------------------------- */

typedef struct {
    int64_t order[64];
    int n;
} trail;

static db_status record(eng_loop *l, void *data, int64_t arg)
{
    (void)l;
    trail *t = data;
    t->order[t->n++] = arg;
    return DB_OK;
}

static db_status push_later(eng_loop *l, void *data, int64_t arg)
{
    trail *t = data;
    t->order[t->n++] = arg;
    if (arg < 3) /* a handler scheduling at the current time runs after its earlier peers */
        return eng_loop_push(l, l->now, push_later, data, arg + 10);
    return DB_OK;
}

START_TEST(test_loop_order_and_ties)
{
    eng_loop l;
    ck_assert_int_eq(eng_loop_init(&l, 16), DB_OK);
    trail t = {{0}, 0};
    double times[] = {3, 1, 2, 1, 3, 1};
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(eng_loop_push(&l, times[i], record, &t, i), DB_OK);
    ck_assert_int_eq(eng_loop_run(&l), DB_OK);
    int64_t want[] = {1, 3, 5, 2, 0, 4}; /* by time, ties in push order */
    ck_assert_int_eq(t.n, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(t.order[i], want[i]);
    EQ(l.now, 3);
    /* Time never goes back. */
    ck_assert_int_eq(eng_loop_push(&l, 2.5, record, &t, 9), DB_ERR_INTERNAL);
    ck_assert_int_eq(eng_loop_push(&l, NAN, record, &t, 9), DB_ERR_INTERNAL);
    eng_loop_free(&l);

    ck_assert_int_eq(eng_loop_init(&l, 8), DB_OK);
    t.n = 0;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(eng_loop_push(&l, 5, push_later, &t, i), DB_OK);
    ck_assert_int_eq(eng_loop_run(&l), DB_OK);
    int64_t want2[] = {0, 1, 2, 10, 11, 12};
    ck_assert_int_eq(t.n, 6);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(t.order[i], want2[i]);
    eng_loop_free(&l);
    eng_loop_free(NULL);
}
END_TEST

/* Records arg, then pushes arg + 10 at t = 3 as if pushed at 2 (eng_loop_push_ahead). */
static db_status push_ahead(eng_loop *l, void *data, int64_t arg)
{
    record(l, data, arg);
    return eng_loop_push_ahead(l, 3, 2, record, data, arg + 10);
}

/* Records arg, then pushes arg + 10 at t = 3 now. */
static db_status push_at3(eng_loop *l, void *data, int64_t arg)
{
    record(l, data, arg);
    return eng_loop_push(l, 3, record, data, arg + 10);
}

START_TEST(test_loop_push_ahead)
{
    /* An event pushed ahead takes the place it would have had if pushed at its push time:
     * after events pushed earlier (1, pushed at 0), before those pushed later (12, at 2.5). */
    eng_loop l;
    ck_assert_int_eq(eng_loop_init(&l, 8), DB_OK);
    trail t = {{0}, 0};
    ck_assert_int_eq(eng_loop_push(&l, 1, push_ahead, &t, 0), DB_OK);
    ck_assert_int_eq(eng_loop_push(&l, 3, record, &t, 1), DB_OK);
    ck_assert_int_eq(eng_loop_push(&l, 2.5, push_at3, &t, 2), DB_OK);
    ck_assert_int_eq(eng_loop_run(&l), DB_OK);
    int64_t want[] = {0, 2, 1, 10, 12};
    ck_assert_int_eq(t.n, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(t.order[i], want[i]);
    ck_assert(!l.tie_hazard);
    /* Not before now, not after its own time. */
    ck_assert_int_eq(eng_loop_push_ahead(&l, 4, 2, record, &t, 9), DB_ERR_INTERNAL);
    ck_assert_int_eq(eng_loop_push_ahead(&l, 4, 5, record, &t, 9), DB_ERR_INTERNAL);
    eng_loop_free(&l);

    /* Pushed at 2 by a handler running at 2 (11) and ahead as if at 2 (10): which of the two
     * the pushes would have put first is unknown, so the run stops before the second. */
    ck_assert_int_eq(eng_loop_init(&l, 8), DB_OK);
    t.n = 0;
    ck_assert_int_eq(eng_loop_push(&l, 1, push_ahead, &t, 0), DB_OK);
    ck_assert_int_eq(eng_loop_push(&l, 2, push_at3, &t, 1), DB_OK);
    ck_assert_int_eq(eng_loop_run(&l), DB_OK);
    ck_assert(l.tie_hazard);
    int64_t want2[] = {0, 1, 10};
    ck_assert_int_eq(t.n, 3);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(t.order[i], want2[i]);
    ck_assert_int_eq(l.n, 1); /* 11, still pending */
    eng_loop_free(&l);
}
END_TEST

static db_status check_sorted(eng_loop *l, void *data, int64_t arg)
{
    double *last = data;
    (void)arg;
    if (l->now < *last)
        return DB_ERR_INTERNAL;
    *last = l->now;
    return DB_OK;
}

START_TEST(test_loop_random_and_full)
{
    eng_loop l;
    ck_assert_int_eq(eng_loop_init(&l, 1000), DB_OK);
    db_rng r;
    rng_seed(&r, 42);
    double last = 0;
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(eng_loop_push(&l, (double)rng_below(&r, 50), check_sorted, &last, i), DB_OK);
    ck_assert_int_eq(eng_loop_push(&l, 1, check_sorted, &last, 0), DB_ERR_INTERNAL); /* full */
    /* Pops come out in (time, sequence) order. */
    eng_event prev, ev;
    ck_assert(eng_loop_pop(&l, &prev));
    int n = 1;
    while (eng_loop_pop(&l, &ev)) {
        ck_assert(prev.t < ev.t || (prev.t == ev.t && prev.seq < ev.seq));
        prev = ev;
        n++;
    }
    ck_assert_int_eq(n, 1000);
    eng_loop_free(&l);
}
END_TEST

/* ---- cost model ---------------------------------------------------------------------------- */

START_TEST(test_cost_formulas)
{
    hw_profile hw = tiny_hw();
    cost_ctx c;
    ck_assert_int_eq(cost_init(&c, &tiny, NULL, &hw, 1), DB_OK);
    EQ(c.w_lin, 160);
    EQ(c.w_head, 32);
    EQ(c.full_bytes, 472);
    EQ(c.kv_token_bytes, 16);
    int32_t models[2] = {0, 1};
    int64_t tokens[2] = {4, 1}, logits[2] = {1, 1};
    /* Full models: each distinct model reads its 384 bytes (1 s); attention reads
     * 16·(decode_ctx 5 + prefill 4) bytes at 192 B/s = 0.75 s. */
    cost_batch b = {COST_FULL_MODELS, 1, 4, 16, 1, 5, 2, models, tokens, logits};
    EQ(cost_step(&c, &b), 2 + 0.75);
    /* Tensor parallel 2: weights and KV split over 2 GPUs, plus 2·L all-reduces of
     * [T=5, C=4] fp16 = 40 bytes, ring factor 2·(2-1)/2 = 1, at 160 B/s + 0.25 s each. */
    ck_assert_int_eq(cost_init(&c, &tiny, NULL, &hw, 2), DB_OK);
    EQ(cost_step(&c, &b), 1 + 0.375 + 2 * (40.0 / 160 + 0.25));
    /* Loads: pcie per GPU gets half the bytes; disk is one stream. */
    EQ(cost_load_pcie(&c, 472), 0.5);
    EQ(cost_load_disk(&c, 472), 10);
    ck_assert_int_eq(cost_init(&c, &tiny, NULL, &hw, 9), DB_ERR_ARG); /* beyond max_gpus */

    /* Shared base + deltas: base once (1 s), each delta's linear part + fp16 lm_head once. */
    const cost_format *f = cost_format_find("4bit-2:4");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(cost_init(&c, &tiny, f, &hw, 1), DB_OK);
    ck_assert(c.delta_lin_bytes > 0); /* tiny rows: index words outweigh fp16 */
    EQ(c.delta_bytes, c.delta_lin_bytes + 2 * (2 * 32 + 2 * 4 + 4));
    b.mode = COST_SHARED_BASE;
    double delta_t = (c.delta_lin_bytes + 64) / 384; /* eff defaults to gemm.mem = 1 */
    EQ(cost_step(&c, &b), 1 + 2 * delta_t + 0.75);
    b.n_models = 0;
    EQ(cost_step(&c, &b), 1 + 0.75);
    /* The fitted fixed costs: per iteration, per token (T = 5) and per distinct model (2). */
    hw.step_overhead_s = 0.5, hw.step_token_s = 0.125, hw.step_model_s = 0.0625;
    ck_assert_int_eq(cost_init(&c, &tiny, f, &hw, 1), DB_OK);
    b.n_models = 2;
    EQ(cost_step(&c, &b), 0.5 + 5 * 0.125 + 2 * 0.0625 + 1 + 2 * delta_t + 0.75);
    /* Compute-bound (64 FLOP/s): every term on its FLOPs side. Full models: model 0
     * 2·160·4 + 2·32·1 = 1344 FLOPs (21 s), model 1 2·160 + 2·32 = 384 (6 s); attention
     * 2·L·C·Σp² + 4·L·C·ctx = 2·4·16 + 4·4·5 = 208 (3.25 s). Shared base: 2·160·5 + 2·32·2 =
     * 1728 (27 s); deltas 2·160·0.5·(4 + 1) + 2·32·2 = 928 (14.5 s, above their 2·delta_t
     * bytes); each term alone through cost_term. */
    hw.step_overhead_s = hw.step_token_s = hw.step_model_s = 0;
    hw.peak_flops = 64;
    ck_assert_int_eq(cost_init(&c, &tiny, NULL, &hw, 1), DB_OK);
    b.mode = COST_FULL_MODELS;
    EQ(cost_step(&c, &b), 21 + 6 + 3.25);
    ck_assert_int_eq(cost_init(&c, &tiny, f, &hw, 1), DB_OK);
    ck_assert(2 * delta_t < 14.5);
    b.mode = COST_SHARED_BASE;
    EQ(cost_step(&c, &b), 27 + 14.5 + 3.25);
    EQ(cost_term(&c, &b, COST_TERM_GEMM), 27);
    EQ(cost_term(&c, &b, COST_TERM_DELTA), 14.5);
    EQ(cost_term(&c, &b, COST_TERM_ATTN), 3.25);
    /* cost_term drops the all-reduces (TP 2 adds them to the step only) */
    ck_assert_int_eq(cost_init(&c, &tiny, f, &hw, 2), DB_OK);
    EQ(cost_term(&c, &b, COST_TERM_ATTN), 3.25 / 2);
}
END_TEST

/* The calibration fit recovers known coefficients, keeps the roofline terms at c >= 1, drops
 * what it cannot see (an all-zero column, a column another explains) and refuses times below the
 * roofline. */
START_TEST(test_calib_fit)
{
    enum { N = 400 };
    static double cal[N][EXE_CAL_COLS];
    db_rng r;
    rng_seed(&r, 3);
    /* truth: 20 us + 3 us/token + 40 us/model + 1.0 gemm + 2.5 delta + 1.25 attention */
    for (int i = 0; i < N; i++) {
        double *row = cal[i];
        row[EXE_CAL_TOKENS] = 1 + (double)rng_below(&r, 64);
        row[EXE_CAL_MODELS] = 1 + (double)rng_below(&r, 4);
        row[EXE_CAL_GEMM] = 1e-4 + 2e-6 * (double)rng_below(&r, 50); /* not ∝ tokens */
        row[EXE_CAL_DELTA] = 1e-5 * row[EXE_CAL_MODELS] * (1 + rng_f32(&r));
        row[EXE_CAL_ATTN] = 1e-6 * row[EXE_CAL_TOKENS] * (1 + rng_f32(&r));
        row[0] = 20e-6 + 3e-6 * row[EXE_CAL_TOKENS] + 40e-6 * row[EXE_CAL_MODELS] +
                 row[EXE_CAL_GEMM] + 2.5 * row[EXE_CAL_DELTA] + 1.25 * row[EXE_CAL_ATTN];
    }
    double coef[EXE_CAL_COLS], err;
    ck_assert_int_eq(exe_calib_fit(cal, N, coef, &err), DB_OK);
    const double want[EXE_CAL_COLS] = {20e-6, 3e-6, 40e-6, 0, 1.5, 0.25};
    for (int j = 0; j < EXE_CAL_COLS; j++)
        ck_assert_msg(fabs(coef[j] - want[j]) <= 1e-9 + 1e-6 * fabs(want[j]),
                      "coef %d: %g, want %g", j, coef[j], want[j]);
    ck_assert(err < 1e-9);
    /* No delta kernel (a full-model policy) and a GEMM term proportional to the tokens: the
     * delta column is dropped, the GEMM term kept and the tokens column dropped. */
    for (int i = 0; i < N; i++) {
        double *row = cal[i];
        row[EXE_CAL_DELTA] = 0;
        row[EXE_CAL_GEMM] = 5e-6 * row[EXE_CAL_TOKENS];
        row[0] = 20e-6 + 40e-6 * row[EXE_CAL_MODELS] + 2 * row[EXE_CAL_GEMM] + row[EXE_CAL_ATTN];
    }
    ck_assert_int_eq(exe_calib_fit(cal, N, coef, &err), DB_OK);
    ck_assert(fabs(coef[EXE_CAL_GEMM] - 1) < 1e-6);
    ck_assert(coef[EXE_CAL_TOKENS] == 0 && coef[EXE_CAL_DELTA] == 0);
    ck_assert(fabs(coef[EXE_CAL_MODELS] - 40e-6) < 1e-12);
    /* Times below the roofline at the profile's rates: nothing to fit, an error. */
    for (int i = 0; i < N; i++)
        cal[i][0] = 0.5 * (cal[i][EXE_CAL_GEMM] + cal[i][EXE_CAL_ATTN]);
    ck_assert_int_eq(exe_calib_fit(cal, N, coef, &err), DB_ERR_ARG);
}
END_TEST

START_TEST(test_formats_bytes)
{
    /* BitDelta on Llama-2-7B: 1 bit per linear weight + a scale per matrix, fp16 rest
     * (the paper's 13.48 GB -> 1.24 GB, i.e. about 1.33e9 bytes). */
    hw_profile hw;
    ck_assert_int_eq(hw_profile_builtin(&hw, "a100-80gb"), DB_OK);
    cost_ctx c;
    ck_assert_int_eq(cost_init(&c, llama_model_find("llama2-7b"), cost_format_find("bitdelta"), &hw, 1),
                     DB_OK);
    ck_assert_double_eq_tol(c.full_bytes / 1e9, 13.48, 0.01);
    ck_assert_double_eq_tol(c.delta_bytes / 1e9, 1.33, 0.02);
    /* 4-bit 2:4: half the weights kept, 4-bit codes + 2-bit indices = 3 bits per weight. */
    ck_assert_int_eq(cost_init(&c, llama_model_find("llama2-13b"), cost_format_find("4bit-2:4"), &hw, 4),
                     DB_OK);
    ck_assert_double_eq_tol(c.delta_lin_bytes * 8 / c.w_lin, 3.0, 0.01);
    for (int i = 0; cost_format_names[i]; i++)
        ck_assert_ptr_nonnull(cost_format_find(cost_format_names[i]));
    for (size_t i = 0; i < llama_nmodels; i++)
        ck_assert_ptr_eq(llama_model_find(llama_models[i].name), &llama_models[i]);
    ck_assert_ptr_null(llama_model_find("llama2-8b"));
    ck_assert_ptr_null(llama_model_find(NULL));
    for (int i = 0; i < pol_count; i++)
        if (pol_table[i].default_format)
            ck_assert_ptr_nonnull(cost_format_find(pol_table[i].default_format));
}
END_TEST

START_TEST(test_hw_profiles)
{
    for (int i = 0; hw_profile_names[i]; i++) {
        if (!strcmp(hw_profile_names[i], "cpu"))
            continue;
        hw_profile p;
        ck_assert_int_eq(hw_profile_builtin(&p, hw_profile_names[i]), DB_OK);
        ck_assert_int_eq(hw_profile_check(&p), DB_OK);
        ck_assert_str_eq(p.name, hw_profile_names[i]);
        ck_assert(hw_eff(&p, "gemm.mem", 0) > 0);
    }
    hw_profile p;
    ck_assert_int_eq(hw_profile_builtin(&p, "a100-80gb"), DB_OK);
    ck_assert_double_eq_tol(p.hbm_bw, 2039e9, 1);
    ck_assert_double_eq_tol(p.peak_flops, 312e12, 1);
    /* Overlay (calibration) replaces keys and leaves the rest. */
    ck_assert_int_eq(hw_profile_parse(&p, "eff.gemm.mem = 0.5  # measured\n\n# c\n", "t"), DB_OK);
    EQ(hw_eff(&p, "gemm.mem", 0), 0.5);
    ck_assert_double_eq_tol(p.hbm_bw, 2039e9, 1);
    ck_assert_int_eq(hw_profile_parse(&p, "eff.gemm.mem = 1.5\n", "t"), DB_ERR_FORMAT);
    ck_assert_int_eq(hw_profile_parse(&p, "bogus = 1\n", "t"), DB_ERR_FORMAT);
    ck_assert_int_eq(hw_profile_parse(&p, "hbm_gbps = fast\n", "t"), DB_ERR_FORMAT);
    ck_assert_int_eq(hw_profile_parse(&p, "hbm_gbps\n", "t"), DB_ERR_FORMAT);
    ck_assert_int_eq(hw_profile_builtin(&p, "tpu-v9"), DB_ERR_NOT_FOUND);
    ck_assert_int_eq(hw_profile_resolve(&p, "/nonexistent/profile.hw", NULL), DB_ERR_NOT_FOUND);
}
END_TEST

/* ---- policies on hand-checked scenarios -------------------------------------------------- */

/* One request alone, prompt 4, output 3, on a full model (tp 1): iteration k decodes over
 * 4 + k KV tokens. Iteration 0: 1 + 4/12; 1: 1 + 5/12; 2: 1 + 6/12 s. */
#define ALONE_T0 (1 + 4.0 / 12)
#define ALONE_S (3 + 15.0 / 12)

START_TEST(test_dedicated_exact)
{
    hw_profile hw = tiny_hw();
    eng_config cfg = tiny_cfg("dedicated", 2);
    eng_request rq[] = {{7, 0.0, 0, 4, 3}, {8, 0.5, 1, 4, 3}, {9, 0.5, 0, 4, 1}};
    eng_result r;
    cost_ctx c;
    run_tiny(&cfg, &hw, NULL, 1, rq, 3, &r, &c);
    /* Request 7 alone on replica 0 until 9 arrives at 0.5 (mid iteration 0). */
    EQ(r.requests[0].ttft_s, ALONE_T0);
    /* Replica 1 serves 8 alone from 0.5. */
    EQ(r.requests[1].ttft_s, ALONE_T0);
    EQ(r.requests[1].e2e_s, ALONE_S);
    EQ(r.requests[1].tpot_s, (ALONE_S - ALONE_T0) / 2);
    /* Request 9 joins replica 0 at its iteration 1 (t = 4/3): a prefill of 4 + 7's decode over
     * 5 tokens: 1 + (5 + 4)/12; it has a single output token, so it finishes there. */
    double t1 = ALONE_T0 + 1 + 9.0 / 12;
    EQ(r.requests[2].queue_s, ALONE_T0 - 0.5);
    EQ(r.requests[2].finish_s, t1);
    EQ(r.requests[2].tpot_s, 0);
    EQ(r.requests[0].finish_s, t1 + 1 + 6.0 / 12);
    ck_assert_int_eq(r.summary.gpu_loads, 0);
    ck_assert_int_eq(r.summary.gpus, 2);
    ck_assert_int_eq(r.summary.iterations, 3 + 3);
    eng_result_free(&r);
}
END_TEST

START_TEST(test_swap_exact_and_lru)
{
    hw_profile hw = tiny_hw();
    eng_config cfg = tiny_cfg("swap", 2);
    cfg.gpu_slots = 1;
    eng_request rq[] = {{0, 0.0, 0, 4, 3}, {1, 0.1, 1, 4, 3}};
    eng_result r;
    cost_ctx c;
    run_tiny(&cfg, &hw, NULL, 1, rq, 2, &r, &c);
    /* GPU starts empty: model 0 loads 0 -> 1 s (472 B at 472 B/s); model 1 cannot get the
     * only slot until request 0 finishes at 1 + S, then loads for 1 s. */
    EQ(r.requests[0].queue_s, 1);
    EQ(r.requests[0].load_s, 1);
    EQ(r.requests[0].ttft_s, 1 + ALONE_T0);
    EQ(r.requests[0].finish_s, 1 + ALONE_S);
    EQ(r.requests[1].queue_s, 2 + ALONE_S - 0.1);
    EQ(r.requests[1].load_s, 1);
    EQ(r.requests[1].finish_s, 2 + 2 * ALONE_S);
    ck_assert_int_eq(r.loads[0].gpu_loads, 1);
    ck_assert_int_eq(r.loads[1].gpu_loads, 1);
    ck_assert_int_eq(r.loads[0].gpu_evictions, 1);
    ck_assert_int_eq(r.loads[1].gpu_evictions, 0);
    ck_assert_int_eq(r.loads[0].disk_loads, 0); /* the host holds both */
    EQ(r.loads[0].load_bytes, 472);
    eng_result_free(&r);
}
END_TEST

START_TEST(test_pol_cache_lru)
{
    int32_t run[5] = {0}, wait[5] = {0};
    pol_cache c;
    ck_assert_int_eq(pol_cache_init(&c, 5, 3, 4, run, wait), DB_OK);
    pol_plan p;
    for (int m = 0; m < 3; m++) {
        ck_assert_int_eq(pol_acquire(&c, m, 0, &p), POL_STARTED);
        ck_assert(!p.need_disk);
        ck_assert_int_eq(p.evicted, -1);
        ck_assert_int_eq(pol_acquire(&c, m, 0, &p), POL_LOADING);
        pol_load_done(&c, m);
    }
    ck_assert_int_eq(pol_acquire(&c, 0, 0, &p), POL_RESIDENT); /* 0 is now the most recent */
    run[1] = 1;                                                 /* 1 is busy: never evicted */
    ck_assert_int_eq(pol_acquire(&c, 3, 0, &p), POL_STARTED);
    ck_assert_int_eq(p.evicted, 2);
    ck_assert(!pol_resident(&c, 2));
    pol_load_done(&c, 3);
    /* 4 is on disk (host holds 0..3); evicting LRU among idle: 0 (3 is newer) ... but 0 has a
     * waiting request, so 3 goes first. */
    wait[0] = 1;
    ck_assert_int_eq(pol_acquire(&c, 4, 0, &p), POL_STARTED);
    ck_assert(p.need_disk);
    ck_assert_int_eq(p.evicted, 3);
    ck_assert_int_eq(c.disk_loads[4], 1);
    ck_assert_int_eq(c.host_count, 4); /* host LRU made room */
    ck_assert_int_eq(c.host_evictions[1] + c.host_evictions[2] + c.host_evictions[0], 1);
    /* Arrival-time acquisition never evicts a model somebody waits for. */
    run[1] = 1;
    wait[4] = 0;
    pol_load_done(&c, 4);
    wait[4] = 1;
    ck_assert_int_eq(pol_acquire_idle(&c, 2, 0, &p), POL_NO_SLOT); /* idle slot 4 has a waiter */
    wait[4] = 0;
    ck_assert_int_eq(pol_acquire_idle(&c, 2, 0, &p), POL_STARTED);
    ck_assert_int_eq(p.evicted, 4);
    pol_load_done(&c, 2);
    /* Every slot busy or loading: no slot. */
    run[2] = 1;
    run[4] = 0;
    run[0] = 1;
    ck_assert_int_eq(pol_acquire(&c, 3, 0, &p), POL_NO_SLOT);
    ck_assert_int_eq(c.gpu_evictions[2], 1);
    ck_assert_int_eq(c.gpu_evictions[3], 1);
    ck_assert_int_eq(c.gpu_evictions[4], 1);
    pol_cache_free(&c);
    pol_cache_free(NULL);
    ck_assert_int_eq(pol_cache_init(&c, 5, 0, 4, run, wait), DB_ERR_ARG); /* zero slots */
}
END_TEST

START_TEST(test_deltazip_skip_and_batch)
{
    hw_profile hw = tiny_hw();
    eng_config cfg = tiny_cfg("deltazip", 3);
    cfg.gpu_slots = 1;
    /* r0 (model 0) arrives first and its delta loads; r1 (model 1) cannot get the only slot;
     * r2 (model 0, later than r1) overtakes it: admission skips r1. */
    eng_request rq[] = {{0, 0.0, 0, 4, 2}, {1, 0.01, 1, 4, 2}, {2, 0.02, 0, 4, 2}};
    eng_result r;
    cost_ctx c;
    run_tiny(&cfg, &hw, cost_format_find("4bit-2:4"), 1, rq, 3, &r, &c);
    double L = c.delta_bytes / 472; /* pcie: a delta at 472 B/s */
    double dt = (c.delta_lin_bytes + 64) / 384;
    /* Iteration 0 at L: r0 and r2 prefill together (8 tokens, one delta): 1 + dt + 8/12;
     * iteration 1: two decodes over 5 tokens each: 1 + dt + 10/12. */
    double t0 = 1 + dt + 8.0 / 12, t1 = 1 + dt + 10.0 / 12;
    EQ(r.requests[0].queue_s, L);
    EQ(r.requests[2].queue_s, L - 0.02);
    EQ(r.requests[0].ttft_s, L + t0);
    EQ(r.requests[2].finish_s, L + t0 + t1);
    ck_assert(r.requests[1].queue_s > r.requests[2].queue_s + 0.01);
    /* r1's delta loads after both finish, then r1 runs alone. */
    EQ(r.requests[1].finish_s, L + t0 + t1 + L + (1 + dt + 4.0 / 12) + (1 + dt + 5.0 / 12));
    ck_assert_int_eq(r.summary.gpu_loads, 2);
    ck_assert_str_eq(r.summary.delta_format, "4bit-2:4");
    eng_result_free(&r);
}
END_TEST

START_TEST(test_bitdelta_all_resident)
{
    hw_profile hw = tiny_hw();
    eng_config cfg = tiny_cfg("bitdelta", 3);
    eng_request rq[] = {{0, 0.0, 0, 4, 1}, {1, 0.0, 1, 4, 1}, {2, 0.0, 2, 4, 1}};
    eng_result r;
    cost_ctx c;
    run_tiny(&cfg, &hw, cost_format_find("bitdelta"), 1, rq, 3, &r, &c);
    /* Every delta is resident from the start: no loads. Request 0 starts an iteration alone
     * at t = 0 (1 + dB + 4/12); 1 and 2 arrive at the same instant but after that iteration
     * began, so they prefill together next: 1 + 2 dB + 8/12. */
    double dB = (c.delta_lin_bytes + 64) / 384;
    EQ(r.requests[0].finish_s, 1 + dB + 4.0 / 12);
    EQ(r.requests[1].finish_s, 1 + dB + 4.0 / 12 + 1 + 2 * dB + 8.0 / 12);
    EQ(r.requests[2].finish_s, r.requests[1].finish_s);
    ck_assert_int_eq(r.summary.gpu_loads, 0);
    EQ(r.summary.peak_gpu_bytes, 472 + 3 * c.delta_bytes + 2 * 16 * 16.0);
    eng_result_free(&r);
}
END_TEST

START_TEST(test_kv_accounting)
{
    hw_profile hw = tiny_hw();
    eng_config cfg = tiny_cfg("dedicated", 1);
    cfg.mem_interval_s = 1.2;
    /* Prompt 16 = one block; iteration 1 appends token 17: a second block. Iteration 0 runs
     * 0 -> 1 + 16/12 = 2.33, iteration 1 -> 2.33 + 1 + 17/12. Samples at 1.2 and 2.4. */
    eng_request rq[] = {{0, 0.0, 0, 16, 3}};
    eng_result r;
    cost_ctx c;
    run_tiny(&cfg, &hw, NULL, 1, rq, 1, &r, &c);
    ck_assert_int_ge(r.n_memory, 4);
    EQ(r.memory[0].gpu_kv_bytes, 0);
    EQ(r.memory[1].t_s, 1.2);
    EQ(r.memory[1].gpu_kv_bytes, 256);
    EQ(r.memory[1].gpu_kv_reserved_bytes, 512); /* ceil((16 + 3 - 1) / 16) = 2 blocks */
    EQ(r.memory[2].gpu_kv_bytes, 512);
    ck_assert_int_eq(r.memory[1].running, 1);
    EQ(r.memory[r.n_memory - 1].gpu_kv_bytes, 0);
    for (int64_t i = 0; i < r.n_memory; i++) {
        ck_assert(r.memory[i].gpu_kv_bytes >= 0);
        ck_assert(r.memory[i].gpu_kv_bytes <= r.memory[i].gpu_kv_reserved_bytes);
        ck_assert(r.memory[i].gpu_weights_bytes + r.memory[i].gpu_kv_reserved_bytes <=
                  r.memory[i].gpu_capacity_bytes);
    }
    eng_result_free(&r);
}
END_TEST

START_TEST(test_preempt)
{
    hw_profile hw = tiny_hw();
    eng_config cfg = tiny_cfg("deltazip", 2);
    cfg.gpu_slots = 1;
    cfg.preempt = true;
    cfg.preempt_after_s = 3;
    eng_request rq[] = {{0, 0.0, 0, 4, 40}, {1, 0.5, 1, 4, 2}};
    eng_result r;
    cost_ctx c;
    run_tiny(&cfg, &hw, cost_format_find("4bit-2:4"), 1, rq, 2, &r, &c);
    ck_assert_int_eq(r.requests[0].preemptions, 1);
    ck_assert_int_eq(r.requests[1].preemptions, 0);
    ck_assert(r.requests[1].finish_s < r.requests[0].finish_s);
    ck_assert(r.requests[1].queue_s >= 3);
    ck_assert_int_eq(r.summary.preemptions, 1);
    ck_assert_int_eq(r.loads[0].gpu_loads, 2); /* reloaded after the preemption */
    eng_result_free(&r);

    /* Without preemption request 1 waits for all 40 tokens of request 0. */
    cfg.preempt = false;
    run_tiny(&cfg, &hw, cost_format_find("4bit-2:4"), 1, rq, 2, &r, &c);
    ck_assert(r.requests[1].finish_s > r.requests[0].finish_s);
    eng_result_free(&r);
}
END_TEST

START_TEST(test_prefetch)
{
    hw_profile hw = tiny_hw();
    eng_config cfg = tiny_cfg("deltazip", 2);
    cfg.gpu_slots = 1;
    cost_ctx c;
    ck_assert_int_eq(cost_init(&c, &tiny, cost_format_find("4bit-2:4"), &hw, 1), DB_OK);
    hw.host_bytes = 1.5 * c.delta_bytes / cfg.host_util; /* the host holds one delta */
    eng_request rq[] = {{0, 0.0, 0, 4, 20}, {1, 6.0, 1, 4, 2}}; /* 1 comes once 0 is on the GPU */
    eng_result a, b;
    run_tiny(&cfg, &hw, cost_format_find("4bit-2:4"), 1, rq, 2, &a, &c);
    cfg.prefetch = true;
    run_tiny(&cfg, &hw, cost_format_find("4bit-2:4"), 1, rq, 2, &b, &c);
    ck_assert_int_eq(a.loads[1].disk_loads, 1);
    ck_assert_int_eq(b.loads[1].disk_loads, 1);
    double disk = c.delta_bytes / 47.2;
    /* Without prefetch the disk read starts when the slot frees; with it, at arrival. */
    EQ(a.requests[1].load_s, disk + c.delta_bytes / 472);
    ck_assert(b.requests[1].finish_s < a.requests[1].finish_s - disk * 0.9);
    eng_result_free(&a);
    eng_result_free(&b);
}
END_TEST

/* ---- conservation, determinism, errors ----------------------------------------------------- */

static eng_request *random_trace(int64_t n, int M, uint64_t seed)
{
    static eng_request buf[4000];
    db_rng r;
    rng_seed(&r, seed);
    double t = 0;
    for (int64_t i = 0; i < n; i++) {
        t += rng_exponential(&r, 0.2);
        buf[i] = (eng_request){i, t, (int32_t)rng_below(&r, (uint64_t)M),
                               1 + (int32_t)rng_below(&r, 30), 1 + (int32_t)rng_below(&r, 20)};
    }
    return buf;
}

START_TEST(test_conservation_all_policies)
{
    hw_profile hw = tiny_hw();
    hw.hbm_bytes = 2e4; /* tight KV: admission must respect it */
    const int64_t n = 4000;
    eng_request *rq = random_trace(n, 8, 5);
    for (int p = 0; p < pol_count; p++) {
        eng_config cfg = tiny_cfg(pol_table[p].name, 8);
        cfg.mem_interval_s = 5;
        cfg.max_batch = 8;
        if (pol_table[p].kind != POL_DEDICATED)
            cfg.gpu_slots = 3;
        cfg.preempt = pol_table[p].has_preempt;
        cfg.prefetch = pol_table[p].has_prefetch;
        const cost_format *f = pol_table[p].default_format ? cost_format_find(pol_table[p].default_format) : NULL;
        eng_result r;
        cost_ctx c;
        run_tiny(&cfg, &hw, f, 1, rq, n, &r, &c);
        int64_t per_model = 0, out_tokens = 0;
        for (int64_t i = 0; i < n; i++) {
            const met_request_row *w = &r.requests[i];
            ck_assert_int_eq(w->request_id, i);
            ck_assert(w->queue_s >= 0 && w->load_s >= 0 && w->load_s <= w->queue_s + 1e-12);
            ck_assert(w->ttft_s > w->queue_s && w->e2e_s >= w->ttft_s);
            EQ(w->finish_s, w->arrival_s + w->e2e_s);
            out_tokens += w->output_tokens;
        }
        for (int m = 0; m < 8; m++)
            per_model += r.loads[m].requests;
        ck_assert_int_eq(per_model, n);
        ck_assert(r.summary.throughput_rps > 0);
        for (int64_t i = 0; i < r.n_memory; i++)
            ck_assert(r.memory[i].gpu_kv_bytes <= r.memory[i].gpu_kv_reserved_bytes &&
                      r.memory[i].gpu_weights_bytes + r.memory[i].gpu_kv_reserved_bytes <=
                          r.memory[i].gpu_capacity_bytes * cfg.gpu_util + 1e-6);
        EQ(r.summary.output_tokens_per_s * r.summary.makespan_s, (double)out_tokens);
        for (int k = 1; k < MET_SLO_COUNT; k++)
            ck_assert(r.slo[k].e2e_attainment >= r.slo[k - 1].e2e_attainment);
        eng_result_free(&r);
    }
}
END_TEST

START_TEST(test_determinism_hash)
{
    hw_profile hw = tiny_hw();
    eng_request *rq = random_trace(2000, 6, 9);
    uint64_t h[3];
    const char *pols[3] = {"deltazip", "deltazip", "swap"};
    for (int k = 0; k < 3; k++) {
        eng_config cfg = tiny_cfg(pols[k], 6);
        cfg.gpu_slots = 2;
        cfg.mem_interval_s = 3;
        cfg.preempt = k < 2;
        eng_result r;
        cost_ctx c;
        run_tiny(&cfg, &hw, k < 2 ? cost_format_find("4bit-2:4") : NULL, 2, rq, 2000, &r, &c);
        h[k] = eng_result_hash(&r);
        eng_result_free(&r);
    }
    ck_assert_uint_eq(h[0], h[1]);
    ck_assert_uint_ne(h[0], h[2]);
}
END_TEST

static db_status try_run(eng_config *cfg, const hw_profile *hw, const cost_format *f, int tp,
                         const eng_request *rq, int64_t n);

/* ---- chunked prefill ------------------------------------------------------------------------ */

/* One request, prompt 20 = 2.5 budgets of 8, output 2, dedicated (1 s of weights an iteration,
 * 1/12 s per KV token read or written). Chunks of 8, 8, 4 over 0, 8, 16 held tokens: each reads
 * what is held and writes its own; the first token comes at the end of the third. */
START_TEST(test_chunked_single)
{
    hw_profile hw = tiny_hw();
    eng_config cfg = tiny_cfg("dedicated", 1);
    cfg.max_batch = 4;
    cfg.token_budget = 8;
    eng_request rq[] = {{0, 0.0, 0, 20, 2}};
    eng_result r;
    cost_ctx c;
    run_tiny(&cfg, &hw, NULL, 1, rq, 1, &r, &c);
    const double ttft = (1 + 8.0 / 12) + (1 + 16.0 / 12) + (1 + 20.0 / 12);
    EQ(r.requests[0].queue_s, 0);
    EQ(r.requests[0].ttft_s, ttft);
    EQ(r.requests[0].e2e_s, ttft + 1 + 21.0 / 12); /* its one decode, over 21 KV tokens */
    EQ(r.requests[0].tpot_s, 1 + 21.0 / 12);
    ck_assert_int_eq(r.summary.iterations, 4);
    EQ(r.summary.peak_gpu_bytes, 472 + 2 * 16 * 16.0); /* 21 tokens: 2 blocks at the end */
    eng_result_free(&r);
    /* Whole prefill refuses the prompt at this budget, and with a budget of 20 prefills it in
     * one iteration: 1 + 20/12, reading no KV held before. */
    cfg.chunked_prefill = false;
    ck_assert_int_eq(try_run(&cfg, &hw, NULL, 1, rq, 1), DB_ERR_ARG);
    cfg.token_budget = 20;
    run_tiny(&cfg, &hw, NULL, 1, rq, 1, &r, &c);
    EQ(r.requests[0].ttft_s, 1 + 20.0 / 12);
    EQ(r.requests[0].e2e_s, 1 + 20.0 / 12 + 1 + 21.0 / 12);
    eng_result_free(&r);
}
END_TEST

/* Chunks beside decodes. r0 (prompt 4, output 5) runs alone in iteration 0 (1 + 4/12 s).
 * Iteration 1: r0 decodes over 5 tokens and takes 1 of the budget of 8; r1 (prompt 12,
 * arrived at 0.5) takes the 7 left: 1 + (5 + 7)/12. Iteration 2: r0 over 6, r1's last 5
 * tokens over its 7 held: 1 + (6 + 7 + 5)/12, r1's first and only token. Iterations 3, 4: r0
 * alone over 7 and 8 tokens. Whole prefill with a budget of 16 prefills r1 in iteration 1. */
START_TEST(test_chunked_with_decodes)
{
    hw_profile hw = tiny_hw();
    eng_config cfg = tiny_cfg("dedicated", 1);
    cfg.max_batch = 4;
    cfg.token_budget = 8;
    eng_request rq[] = {{0, 0.0, 0, 4, 5}, {1, 0.5, 0, 12, 1}};
    eng_result r;
    cost_ctx c;
    run_tiny(&cfg, &hw, NULL, 1, rq, 2, &r, &c);
    const double t1 = 1 + 4.0 / 12, t2 = t1 + 2, t3 = t2 + 1 + 18.0 / 12;
    EQ(r.requests[0].ttft_s, t1);
    EQ(r.requests[1].queue_s, t1 - 0.5);
    EQ(r.requests[1].ttft_s, t3 - 0.5);
    EQ(r.requests[1].finish_s, t3);
    EQ(r.requests[0].finish_s, t3 + (1 + 7.0 / 12) + (1 + 8.0 / 12));
    EQ(r.requests[0].tpot_s, (r.requests[0].finish_s - t1) / 4);
    ck_assert_int_eq(r.summary.iterations, 5);
    eng_result_free(&r);
    cfg.chunked_prefill = false;
    cfg.token_budget = 16;
    run_tiny(&cfg, &hw, NULL, 1, rq, 2, &r, &c);
    const double w2 = t1 + 1 + (5 + 12.0) / 12;
    EQ(r.requests[1].ttft_s, w2 - 0.5);
    EQ(r.requests[0].finish_s, w2 + (1 + 6.0 / 12) + (1 + 7.0 / 12) + (1 + 8.0 / 12));
    ck_assert_int_eq(r.summary.iterations, 5);
    eng_result_free(&r);
}
END_TEST

/* A chunk's cost: prefill of c tokens over h held = the whole prompt's causal FLOPs split
 * exactly, plus the held KV read again (cost_step, compute-bound and memory-bound). */
START_TEST(test_chunk_cost)
{
    hw_profile hw = tiny_hw();
    cost_ctx c;
    ck_assert_int_eq(cost_init(&c, &tiny, NULL, &hw, 1), DB_OK);
    int32_t models[1] = {0};
    int64_t tokens[1] = {6}, logits[1] = {0};
    /* 6 tokens over 10 held: KV read 10 + written 6 at 1/12 s each; weights 1 s. */
    cost_batch b = {COST_FULL_MODELS, 0, 6, 16.0 * 16 - 10.0 * 10, 0, 0, 1, models, tokens,
                    logits, 10};
    EQ(cost_step(&c, &b), 1 + 16.0 / 12);
    /* Compute-bound attention: chunks of 10 and 6 cost the FLOPs of the 16-token prompt. */
    hw.peak_flops = 1;
    hw_eff_set(&hw, "attn.compute", 1.0);
    ck_assert_int_eq(cost_init(&c, &tiny, NULL, &hw, 1), DB_OK);
    cost_batch a1 = b, a0 = b, whole = b;
    a0.prefill_sq = 100, a0.prefill_ctx = 0, a0.prefill_tokens = 10;
    whole.prefill_sq = 256, whole.prefill_ctx = 0, whole.prefill_tokens = 16;
    EQ(cost_term(&c, &a0, COST_TERM_ATTN) + cost_term(&c, &a1, COST_TERM_ATTN),
       cost_term(&c, &whole, COST_TERM_ATTN));
    EQ(cost_term(&c, &whole, COST_TERM_ATTN), 2.0 * 1 * 4 * 256); /* 2·L·C·p² FLOPs at 1/s */
}
END_TEST

/* Prompts of up to 12 budgets among short ones, on every policy with its options: every
 * request finishes once (the engine checks its KV and time invariants as it runs), TTFT comes
 * after the queue, and the same input gives the same output. */
START_TEST(test_chunked_all_policies)
{
    hw_profile hw = tiny_hw();
    hw.hbm_bytes = 2e4;
    const int64_t n = 1500;
    static eng_request rq[1500];
    db_rng g;
    rng_seed(&g, 21);
    double t = 0;
    for (int64_t i = 0; i < n; i++) {
        t += rng_exponential(&g, 0.5);
        int32_t p = rng_below(&g, 8) == 0 ? 16 + (int32_t)rng_below(&g, 180)
                                          : 1 + (int32_t)rng_below(&g, 12);
        rq[i] = (eng_request){i, t, (int32_t)rng_below(&g, 6), p, 1 + (int32_t)rng_below(&g, 20)};
    }
    for (int p = 0; p < pol_count; p++) {
        eng_config cfg = tiny_cfg(pol_table[p].name, 6);
        cfg.max_batch = 8;
        cfg.token_budget = 16;
        cfg.mem_interval_s = 5;
        if (pol_table[p].kind != POL_DEDICATED)
            cfg.gpu_slots = 2;
        cfg.preempt = pol_table[p].has_preempt;
        cfg.prefetch = pol_table[p].has_prefetch;
        const cost_format *f =
            pol_table[p].default_format ? cost_format_find(pol_table[p].default_format) : NULL;
        eng_result r, r2;
        cost_ctx c;
        run_tiny(&cfg, &hw, f, 1, rq, n, &r, &c);
        run_tiny(&cfg, &hw, f, 1, rq, n, &r2, &c);
        ck_assert_uint_eq(eng_result_hash(&r), eng_result_hash(&r2));
        for (int64_t i = 0; i < n; i++) {
            const met_request_row *w = &r.requests[i];
            ck_assert(w->ttft_s > w->queue_s && w->e2e_s >= w->ttft_s);
            /* at least ceil(p / 16) iterations of at least 1 s each before the first token */
            ck_assert(w->ttft_s - w->queue_s >= (double)((w->prompt_tokens + 15) / 16) - 1e-9);
        }
        for (int64_t i = 0; i < r.n_memory; i++)
            ck_assert(r.memory[i].gpu_kv_bytes <= r.memory[i].gpu_kv_reserved_bytes);
        eng_result_free(&r2);
        /* Whole prefill of the same trace needs a budget of the longest prompt. */
        cfg.chunked_prefill = false;
        cfg.token_budget = 256;
        cfg.preempt = false;
        run_tiny(&cfg, &hw, f, 1, rq, n, &r2, &c);
        ck_assert_uint_ne(eng_result_hash(&r), eng_result_hash(&r2));
        eng_result_free(&r);
        eng_result_free(&r2);
    }
}
END_TEST

/* ---- delta kernels on a GPU: modelled until bench-kernel measures them ----------------------- */

/* On a GPU-calibrated profile a delta kernel's time is the calibrated GEMM efficiency at its
 * arithmetic intensity times the assumed delta/GEMM ratios (p->calib says "modelled"). What
 * `bench-kernel --device cuda --calib-out` writes (kb_calib_write, here from crafted rows: dense
 * at 60 % of HBM bandwidth and 50 % of peak, SBMM at 45 % and 20 %) is read back as an overlay
 * that replaces those ratios: a memory-bound decode's delta term scales by the ratio of the
 * ratios, the base GEMMs (on the measured surface) do not move, and p->calib says so. */
START_TEST(test_delta_overlay_replaces_modelled)
{
    tl_scratch_make("check_serving_overlay");
    hw_profile hw;
    ck_assert_int_eq(hw_profile_builtin(&hw, "h100-sxm"), DB_OK);
    ck_assert_ptr_nonnull(strstr(hw.calib, "delta kernels modelled"));
    const llama_model *m = llama_model_find("llama2-13b");
    const cost_format *f = cost_format_find("4bit-2:4");
    int32_t models[2] = {0, 1};
    int64_t tokens[2] = {4, 4}, logits[2] = {4, 4};
    cost_batch b = {COST_SHARED_BASE, 0, 0, 0, 8, 8 * 600, 2, models, tokens, logits, 0};
    cost_ctx c0, c1;
    ck_assert_int_eq(cost_init(&c0, m, f, &hw, 1), DB_OK);
    const double d0 = cost_term(&c0, &b, COST_TERM_DELTA), g0 = cost_term(&c0, &b, COST_TERM_GEMM);
    kb_row rows[4];
    memset(rows, 0, sizeof rows);
    const char *ops[4] = {"dense", "dense", "sbmm", "sbmm"};
    const double mem[4] = {0.60, 0, 0.45, 0}, comp[4] = {0, 0.50, 0, 0.20};
    for (int i = 0; i < 4; i++) {
        snprintf(rows[i].op, sizeof rows[i].op, "%s", ops[i]);
        snprintf(rows[i].device, sizeof rows[i].device, "cuda");
        rows[i].batch = i % 2 ? KB_CALIB_COMPUTE_MIN_BATCH : 1;
        rows[i].gbs = mem[i] * hw.hbm_bw / 1e9;
        rows[i].gflops = comp[i] * hw.peak_flops / 1e9;
    }
    const char *path = tl_path("bk.txt");
    ck_assert_int_eq(kb_calib_write(path, rows, 4, &hw, "cuda", 3000, "bench-kernel (crafted)"),
                     DB_OK);
    ck_assert_int_eq(hw_profile_overlay(&hw, path), DB_OK);
    ck_assert_ptr_nonnull(strstr(hw.calib, "sets eff.gemm.mem, eff.gemm.compute, "
                                           "eff.delta.sbmm.mem, eff.delta.sbmm.compute"));
    ck_assert_ptr_nonnull(strstr(hw.calib, "delta kernels of those keys measured"));
    ck_assert_int_eq(cost_init(&c1, m, f, &hw, 1), DB_OK);
    const double d1 = cost_term(&c1, &b, COST_TERM_DELTA), g1 = cost_term(&c1, &b, COST_TERM_GEMM);
    ck_assert(d0 > 0 && g0 > 0);
    ck_assert_double_eq_tol(g1, g0, 1e-15);
    /* assumed k_m = 0.50 / 0.80, measured 0.45 / 0.60: the decode's delta term is bytes-bound */
    ck_assert_double_eq_tol(d1 / d0, (0.50 / 0.80) / (0.45 / 0.60), 1e-9);
    /* and the whole iteration moves with it */
    ck_assert(cost_step(&c1, &b) < cost_step(&c0, &b));
    tl_scratch_drop();
}
END_TEST

/* ---- golden hashes: any change of the simulator's output fails here ------------------------ */

/* One pinned run: a policy with its options on one of the two golden traces. */
typedef struct {
    const char *name;
    const char *policy;
    bool real;     /* llama2-13b on a100-80gb-datasheet, TP 4, on traces/GOLDEN_TRACE; else tiny
                    * + random. The datasheet profile: these hashes pin the engine's behaviour,
                    * not the calibration, which `calibrate --emit-c` may refit */
    int slots;     /* 0: the policy's default */
    bool preempt, prefetch;
    bool whole;    /* --prefill whole (the engine before chunked prefill); else chunked */
    uint64_t hash; /* eng_result_hash of the run, recorded from the engine before its refactor;
                    * two chunked 13b runs re-pinned when chunked prefill became the default */
} golden_case;

#define GOLDEN_TRACE "traces/gamma_zipf1.5_32m_600s.csv"

static const golden_case golden[] = {
    {"tiny dedicated", "dedicated", false, 0, false, false, false, 0xbb696279b253e313ULL},
    {"tiny swap", "swap", false, 3, false, false, false, 0x8db2d9ae9f1623edULL},
    {"tiny deltazip", "deltazip", false, 3, false, false, false, 0xdf3b510064bbd03bULL},
    {"tiny deltazip preempt+prefetch", "deltazip", false, 3, true, true, false,
     0x9a1192fdb11a3d55ULL},
    {"tiny bitdelta", "bitdelta", false, 0, false, false, false, 0x8a7af4f67995c657ULL},
    {"tiny deltadq 2 slots", "deltadq", false, 2, false, false, false, 0x5056a2f4e2e41a72ULL},
    {"13b dedicated", "dedicated", true, 0, false, false, false, 0x74c601b3282b1bc2ULL},
    {"13b swap", "swap", true, 0, false, false, false, 0x6062e3bdbe6937b6ULL},
    {"13b deltazip", "deltazip", true, 0, false, false, false, 0xbf1f5c96343bc505ULL},
    {"13b deltazip 4 slots preempt+prefetch", "deltazip", true, 4, true, true, false,
     0x677ccb203a0ca08fULL},
    {"13b bitdelta", "bitdelta", true, 0, false, false, false, 0xbd4ac143b4b18069ULL},
    {"13b deltadq", "deltadq", true, 0, false, false, false, 0xd33e3e626fa53511ULL},
    /* Whole prefill is the engine as it was before chunked prefill: its old hashes of the two
     * runs whose schedules chunking changes (above: a backlog admitted after a load fills the
     * budget, and the next prompt starts in chunks instead of waiting an iteration). */
    {"13b swap whole", "swap", true, 0, false, false, true, 0x91ee4530ac76baa6ULL},
    {"13b deltazip 4 slots preempt+prefetch whole", "deltazip", true, 4, true, true, true,
     0xa0960f77084a8713ULL},
};

/* Reads GOLDEN_TRACE into eng_requests (*n of them; free with db_free). */
static eng_request *golden_trace(int64_t *n)
{
    trace_table t;
    if (trace_read(GOLDEN_TRACE, &t) != DB_OK)
        ck_abort_msg("%s", db_errmsg());
    eng_request *rq = db_malloc_array(t.n, sizeof *rq);
    ck_assert_ptr_nonnull(rq);
    for (size_t i = 0; i < t.n; i++)
        rq[i] = (eng_request){t.req[i].request_id, t.req[i].arrival_s, t.req[i].model,
                              t.req[i].prompt_tokens, t.req[i].output_tokens};
    *n = (int64_t)t.n;
    trace_table_free(&t);
    return rq;
}

/* The hash of golden[k]'s run on the simulator. */
static uint64_t golden_run(const golden_case *g, const eng_request *real, int64_t n_real)
{
    hw_profile hw = tiny_hw();
    const llama_model *model = &tiny;
    int tp = 1, M = 6;
    int64_t n = 2000;
    const eng_request *rq = random_trace(n, M, 11);
    if (g->real) {
        ck_assert_int_eq(hw_profile_builtin(&hw, "a100-80gb-datasheet"), DB_OK);
        model = llama_model_find("llama2-13b");
        tp = 4, M = 32, rq = real, n = n_real;
    } else {
        hw.hbm_bytes = 2e4; /* tight KV: admission is bound by it */
    }
    eng_config cfg;
    eng_config_default(&cfg);
    cfg.policy = pol_find(g->policy);
    cfg.n_models = M;
    cfg.gpu_slots = g->slots;
    cfg.preempt = g->preempt;
    cfg.prefetch = g->prefetch;
    cfg.chunked_prefill = !g->whole;
    if (g->real)
        cfg.token_budget = 16384; /* the trace has prompts up to 9596 tokens */
    else
        cfg.max_batch = 8, cfg.mem_interval_s = 3;
    const char *fn = cfg.policy->default_format;
    cost_ctx c;
    ck_assert_int_eq(cost_init(&c, model, fn ? cost_format_find(fn) : NULL, &hw, tp), DB_OK);
    exe_executor exe;
    ck_assert_int_eq(exe_sim_init(&exe, &c), DB_OK);
    eng_result r;
    if (eng_run(&cfg, &c, &hw, &exe, rq, n, &r) != DB_OK)
        ck_abort_msg("%s: eng_run: %s", g->name, db_errmsg());
    exe_free(&exe);
    uint64_t h = eng_result_hash(&r);
    eng_result_free(&r);
    return h;
}

START_TEST(test_golden_hashes)
{
    int64_t n_real;
    eng_request *real = golden_trace(&n_real);
    int bad = 0;
    for (size_t k = 0; k < sizeof golden / sizeof golden[0]; k++) {
        uint64_t h = golden_run(&golden[k], real, n_real);
        if (h == golden[k].hash)
            continue;
        fprintf(stderr,
                "golden hash of \"%s\" changed: got 0x%016llxULL, pinned 0x%016llxULL\n",
                golden[k].name, (unsigned long long)h, (unsigned long long)golden[k].hash);
        bad++;
    }
    db_free(real);
    ck_assert_msg(bad == 0,
                  "%d of %zu golden simulator runs changed their output (hashes on stderr). "
                  "If the change of behaviour is deliberate, copy each new value into golden[] "
                  "in tests/check_serving.c and say in the commit why the output moved",
                  bad, sizeof golden / sizeof golden[0]);
}
END_TEST

START_TEST(test_dedicated_quiet_ends)
{
    /* eng_run runs the quiet ends of dedicated replicas without events and pushes the next end
     * ahead (schedule_end). Two traces of 5 models, hashes recorded from the engine that ran
     * every end as an event: random_trace's arrivals as they are, and cut to whole seconds,
     * where replicas started at the same second run in step, their ends meet at equal times
     * and push times (tie_hazard) and the run starts over with every end an event; without
     * that, this run's output differs. */
    const uint64_t want[2] = {0x184317a2a47aa184ULL, 0xb0c39fb7682abdabULL};
    for (int whole = 0; whole < 2; whole++) {
        hw_profile hw = tiny_hw();
        hw.hbm_bytes = 2e4;
        eng_config cfg = tiny_cfg("dedicated", 5);
        cfg.max_batch = 8;
        cfg.kv_block = 2;
        cfg.mem_interval_s = 3;
        cfg.chunked_prefill = false;
        cfg.token_budget = 64;
        const int64_t n = 1500;
        eng_request *rq = random_trace(n, 5, 22);
        for (int64_t i = 0; whole && i < n; i++)
            rq[i].arrival_s = floor(rq[i].arrival_s);
        eng_result r;
        cost_ctx c;
        run_tiny(&cfg, &hw, NULL, 1, rq, n, &r, &c);
        ck_assert_msg(eng_result_hash(&r) == want[whole], "whole seconds %d: hash 0x%016llx",
                      whole, (unsigned long long)eng_result_hash(&r));
        eng_result_free(&r);
    }
}
END_TEST


static db_status try_run(eng_config *cfg, const hw_profile *hw, const cost_format *f, int tp,
                         const eng_request *rq, int64_t n)
{
    cost_ctx c;
    db_status s = cost_init(&c, &tiny, f, hw, tp);
    if (s != DB_OK)
        return s;
    exe_executor exe;
    exe_sim_init(&exe, &c);
    eng_result r;
    s = eng_run(cfg, &c, hw, &exe, rq, n, &r);
    if (s == DB_OK)
        eng_result_free(&r);
    return s;
}

START_TEST(test_bad_input)
{
    hw_profile hw = tiny_hw();
    eng_request ok[] = {{0, 0.0, 0, 4, 3}, {1, 1.0, 1, 4, 3}};
    const cost_format *f = cost_format_find("4bit-2:4");
    eng_config cfg = tiny_cfg("swap", 1); /* the trace names model 1 of a 1-model run */
    ck_assert_int_eq(try_run(&cfg, &hw, NULL, 1, ok, 2), DB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "names model 1"));
    /* Base model does not fit. */
    hw_profile small = hw;
    small.hbm_bytes = 400;
    cfg = tiny_cfg("deltazip", 2);
    ck_assert_int_eq(try_run(&cfg, &small, f, 1, ok, 2), DB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "does not fit"));
    /* A delta policy without a delta format has no delta kernel to cost. */
    ck_assert_int_eq(try_run(&cfg, &hw, NULL, 1, ok, 2), DB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "needs a delta format"));
    /* Resident full models do not fit. */
    small.hbm_bytes = 1000; /* 900 usable: one model + KV, not two */
    cfg = tiny_cfg("swap", 2);
    cfg.gpu_slots = 2;
    ck_assert_int_eq(try_run(&cfg, &small, NULL, 1, ok, 2), DB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "do not fit"));
    cfg.gpu_slots = 1;
    ck_assert_int_eq(try_run(&cfg, &small, NULL, 1, ok, 2), DB_OK);
    /* Negative slots, prefetch on swap, empty trace, unsorted, zero tokens, huge prompt. */
    cfg.gpu_slots = -1;
    ck_assert_int_eq(try_run(&cfg, &hw, NULL, 1, ok, 2), DB_ERR_ARG);
    cfg.gpu_slots = 0;
    cfg.prefetch = true;
    ck_assert_int_eq(try_run(&cfg, &hw, NULL, 1, ok, 2), DB_ERR_ARG);
    cfg.prefetch = false;
    ck_assert_int_eq(try_run(&cfg, &hw, NULL, 1, ok, 0), DB_ERR_ARG);
    eng_request bad[] = {{0, 2.0, 0, 4, 3}, {1, 1.0, 1, 4, 3}};
    ck_assert_int_eq(try_run(&cfg, &hw, NULL, 1, bad, 2), DB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "earlier"));
    eng_request zero[] = {{0, 0.0, 0, 4, 0}};
    ck_assert_int_eq(try_run(&cfg, &hw, NULL, 1, zero, 1), DB_ERR_ARG);
    eng_request big[] = {{0, 0.0, 0, 5000, 1}};
    ck_assert_int_eq(try_run(&cfg, &hw, NULL, 1, big, 1), DB_OK); /* chunked */
    cfg.chunked_prefill = false;
    ck_assert_int_eq(try_run(&cfg, &hw, NULL, 1, big, 1), DB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "token-budget"));
    cfg.chunked_prefill = true;
    /* Chunked, every decoder takes a token of the budget: it must cover a full batch. */
    cfg.token_budget = cfg.max_batch - 1;
    ck_assert_int_eq(try_run(&cfg, &hw, NULL, 1, ok, 1), DB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "below --max-batch"));
    cfg.chunked_prefill = false;
    ck_assert_int_eq(try_run(&cfg, &hw, NULL, 1, ok, 1), DB_OK);
    cfg.chunked_prefill = true;
    cfg.token_budget = 4096;
    /* A request whose KV can never fit. */
    eng_request longr[] = {{0, 0.0, 0, 4000, 100000}};
    ck_assert_int_eq(try_run(&cfg, &hw, NULL, 1, longr, 1), DB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "KV blocks"));
    /* The cpu executor refuses a missing zoo (tests/cli/test_serve.sh runs it on a real one). */
    exe_executor e;
    cost_ctx c;
    cost_init(&c, &tiny, NULL, &hw, 1);
    exe_cpu_opts co = {"/nonexistent/zoo", NULL, NULL, 2, false, 4, 4, 64, 8, 1, 1};
    ck_assert_int_eq(exe_cpu_init(&e, &co), DB_ERR_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "executor cpu: /nonexistent/zoo"));
    ck_assert_ptr_null(e.ops);
    /* The kernel executor refuses a format without a kernel and more than one device; on the
     * CPU it builds (tests/cli/test_serve.sh serves traces with it); cuda needs a device. */
    ck_assert_int_eq(cost_init(&c, &tiny, cost_format_find("int4"), &hw, 1), DB_OK);
    exe_kn_opts ko = {"cpu-kernels", KN_CPU, &c, 2, 2, false, 4, 16, 1, 1};
    ck_assert_int_eq(exe_kn_init(&e, &ko), DB_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "int4 has no kernel"));
    ck_assert_int_eq(cost_init(&c, &tiny, cost_format_find("bitdelta"), &hw, 2), DB_OK);
    ck_assert_int_eq(exe_kn_init(&e, &ko), DB_ERR_ARG);
    ck_assert_int_eq(cost_init(&c, &tiny, cost_format_find("bitdelta"), &hw, 1), DB_OK);
    ck_assert_int_eq(exe_kn_init(&e, &ko), DB_OK);
    ck_assert_str_eq(e.ops->name, "cpu-kernels");
    exe_free(&e);
    ko.device = KN_CUDA;
    db_status cs = exe_kn_init(&e, &ko);
    ck_assert(cs == DB_OK || cs == DB_ERR_NO_DEVICE);
    exe_free(&e);
}
END_TEST

/* ---- allocation failures ------------------------------------------------------------------ */

/* Every run below fails its 1st, 2nd, ... allocation in turn (tl_alloc_sweep): each failure is
 * DB_ERR_NOMEM with a message, leaves its outputs zeroed and leaks nothing (sanitizer build). */

typedef struct {
    eng_config cfg;
    cost_ctx cost;
    hw_profile hw;
    exe_executor exe;
    const eng_request *rq;
    int64_t n;
    eng_result r;
} eng_fault;

static db_status op_eng_run(void *ctx)
{
    eng_fault *f = ctx;
    memset(&f->r, 0xA5, sizeof f->r); /* a failure must not leave this behind */
    return eng_run(&f->cfg, &f->cost, &f->hw, &f->exe, f->rq, f->n, &f->r);
}

static void done_eng_run(void *ctx, db_status s)
{
    eng_fault *f = ctx;
    if (s == DB_OK) {
        ck_assert_int_gt(f->r.n_memory, 64); /* the timeline grew past its first block */
        eng_result_free(&f->r);
        return;
    }
    const eng_result zero = {0};
    ck_assert_msg(!memcmp(&f->r, &zero, sizeof zero), "a failed eng_run left a partial result");
}

START_TEST(test_alloc_failures_engine)
{
    const eng_request *rq = random_trace(300, 6, 13);
    for (int p = 0; p < pol_count; p++) {
        eng_fault f;
        memset(&f, 0, sizeof f);
        f.hw = tiny_hw();
        f.hw.hbm_bytes = 2e4;
        f.cfg = tiny_cfg(pol_table[p].name, 6);
        f.cfg.mem_interval_s = 0.25;
        f.cfg.max_batch = 8;
        if (pol_table[p].kind != POL_DEDICATED)
            f.cfg.gpu_slots = 2;
        f.cfg.preempt = pol_table[p].has_preempt;
        f.cfg.prefetch = pol_table[p].has_prefetch;
        const char *fn = pol_table[p].default_format;
        ck_assert_int_eq(cost_init(&f.cost, &tiny, fn ? cost_format_find(fn) : NULL, &f.hw, 1),
                         DB_OK);
        ck_assert_int_eq(exe_sim_init(&f.exe, &f.cost), DB_OK);
        f.rq = rq;
        f.n = 300;
        long calls = tl_alloc_sweep(pol_table[p].name, op_eng_run, done_eng_run, &f, 1000);
        /* arena, rows, timeline (+ doublings), loads, event heap, summary scratch; the
         * residency tables of the non-dedicated policies */
        ck_assert_int_ge(calls, pol_table[p].kind == POL_DEDICATED ? 7 : 18);
        exe_free(&f.exe);
    }
}
END_TEST

typedef struct {
    cost_ctx cost;
    hw_profile hw;
    exe_executor exe;
    exe_kn_opts kn;
    pol_cache pc;
    int32_t run[4], wait[4];
    met_request_row rows[3];
    met_summary_row sum;
    const char *path;
} serve_fault;

static db_status op_cost_init(void *ctx)
{
    serve_fault *f = ctx;
    return cost_init(&f->cost, &tiny, cost_format_find("bitdelta"), &f->hw, 1);
}

static db_status op_sim_init(void *ctx)
{
    serve_fault *f = ctx;
    return exe_sim_init(&f->exe, &f->cost);
}

static void done_exe(void *ctx, db_status s)
{
    serve_fault *f = ctx;
    if (s != DB_OK)
        ck_assert_ptr_null(f->exe.ops);
    exe_free(&f->exe);
}

static db_status op_kn_init(void *ctx)
{
    serve_fault *f = ctx;
    return exe_kn_init(&f->exe, &f->kn);
}

static db_status op_pol_cache(void *ctx)
{
    serve_fault *f = ctx;
    return pol_cache_init(&f->pc, 4, 2, 3, f->run, f->wait);
}

static void done_pol_cache(void *ctx, db_status s)
{
    serve_fault *f = ctx;
    if (s != DB_OK)
        ck_assert_ptr_null(f->pc.gpu_loads);
    pol_cache_free(&f->pc);
}

static db_status op_summarize(void *ctx)
{
    serve_fault *f = ctx;
    return met_summarize(f->rows, 3, &f->sum);
}

static db_status op_hw_write(void *ctx)
{
    serve_fault *f = ctx;
    return hw_profile_write(&f->hw, f->path, "fault injection");
}

static void done_hw_write(void *ctx, db_status s)
{
    (void)ctx;
    ck_assert_int_eq(tl_dir_entries(tl_dir, NULL), s == DB_OK); /* no temporary file left */
}

static db_status op_hw_load(void *ctx)
{
    serve_fault *f = ctx;
    hw_profile_builtin(&f->hw, "a100-80gb");
    return hw_profile_load(&f->hw, f->path);
}

static void done_hw_load(void *ctx, db_status s)
{
    serve_fault *f = ctx;
    if (s == DB_OK) {
        EQ(f->hw.hbm_bw, 384);
        return;
    }
    hw_profile a100; /* a failed load leaves the profile as it was */
    hw_profile_builtin(&a100, "a100-80gb");
    ck_assert(!memcmp(&f->hw, &a100, sizeof a100));
}

START_TEST(test_alloc_failures_parts)
{
    serve_fault f;
    memset(&f, 0, sizeof f);
    f.hw = tiny_hw();
    /* The cost model and the sim executor allocate nothing: their sweeps see no allocation. */
    ck_assert_int_eq(tl_alloc_sweep("cost_init", op_cost_init, NULL, &f, 10), 0);
    ck_assert_int_eq(tl_alloc_sweep("exe_sim_init", op_sim_init, done_exe, &f, 10), 0);
    /* The kernel executor on the CPU: random deltas, packed tables, staging. */
    f.kn = (exe_kn_opts){"cpu-kernels", KN_CPU, &f.cost, 2, 2, false, 4, 16, 1, 1};
    ck_assert_int_ge(tl_alloc_sweep("exe_kn_init", op_kn_init, done_exe, &f, 10000), 10);
    ck_assert_int_eq(tl_alloc_sweep("pol_cache_init", op_pol_cache, done_pol_cache, &f, 100), 11);
    for (int i = 0; i < 3; i++)
        f.rows[i] = (met_request_row){.request_id = i, .arrival_s = i, .e2e_s = 1 + i,
                                      .finish_s = 1 + 2 * i, .output_tokens = 2};
    ck_assert_int_eq(tl_alloc_sweep("met_summarize", op_summarize, NULL, &f, 10), 1);
    tl_scratch_make("check_serving");
    f.path = tl_path("tiny.hw");
    ck_assert_int_ge(tl_alloc_sweep("hw_profile_write", op_hw_write, done_hw_write, &f, 100), 1);
    ck_assert_int_ge(tl_alloc_sweep("hw_profile_load", op_hw_load, done_hw_load, &f, 100), 1);
    tl_scratch_drop();
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("serving");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_loop_order_and_ties);
    tcase_add_test(t, test_loop_random_and_full);
    tcase_add_test(t, test_loop_push_ahead);
    tcase_add_test(t, test_cost_formulas);
    tcase_add_test(t, test_calib_fit);
    tcase_add_test(t, test_formats_bytes);
    tcase_add_test(t, test_hw_profiles);
    tcase_add_test(t, test_dedicated_exact);
    tcase_add_test(t, test_swap_exact_and_lru);
    tcase_add_test(t, test_pol_cache_lru);
    tcase_add_test(t, test_deltazip_skip_and_batch);
    tcase_add_test(t, test_bitdelta_all_resident);
    tcase_add_test(t, test_kv_accounting);
    tcase_add_test(t, test_preempt);
    tcase_add_test(t, test_prefetch);
    tcase_add_test(t, test_conservation_all_policies);
    tcase_add_test(t, test_determinism_hash);
    tcase_add_test(t, test_golden_hashes);
    tcase_add_test(t, test_dedicated_quiet_ends);
    tcase_add_test(t, test_chunked_single);
    tcase_add_test(t, test_chunked_with_decodes);
    tcase_add_test(t, test_chunk_cost);
    tcase_add_test(t, test_chunked_all_policies);
    tcase_add_test(t, test_delta_overlay_replaces_modelled);
    tcase_add_test(t, test_alloc_failures_engine);
    tcase_add_test(t, test_alloc_failures_parts);
    tcase_add_test(t, test_bad_input);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return tl_run(suite());
}
