/* check_workloads.c: tests of workloads/: every arrival process, popularity law and length law
 * against its parameters on 1M-request samples with fixed seeds (mean rate within 1 %, CV
 * within 3 %, fitted Zipf exponent within 0.05), the Zipf estimator, the trace readers and
 * writers on good and bad input (errors name FILE:LINE), the Azure readers and the facts of the
 * real Azure LLM traces in ../shared/traces (skipped with a message when absent), determinism
 * (a stored hash of a generated trace), stream independence and allocation failures. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/rng.h"
#include "core/status.h"
#include "workloads/arrival.h"
#include "workloads/azure.h"
#include "workloads/gen.h"
#include "workloads/lengths.h"
#include "workloads/popularity.h"
#include "workloads/stats.h"
#include "workloads/trace.h"
#include "testlib.h"

#define AZ_CODE "../shared/traces/AzureLLMInferenceTrace_code.csv"
#define AZ_CONV "../shared/traces/AzureLLMInferenceTrace_conv.csv"
enum { BIG = 1000000 };

/* ---- helpers ----------------------------------------------------------------------------- */

static void scratch_setup(void) { tl_scratch_make("check_workloads"); }

static bool have(const char *path)
{
    if (access(path, R_OK) == 0)
        return true;
    printf("SKIP: %s is absent (the Azure traces live in ../shared/traces beside the clone)\n",
           path);
    return false;
}

static wl_gen_spec spec_base(uint64_t seed)
{
    wl_gen_spec s;
    wl_gen_defaults(&s);
    s.seed = seed;
    s.max_requests = BIG;
    return s;
}

static trace_table gen(const wl_gen_spec *s)
{
    trace_table t;
    db_status st = wl_gen_trace(s, &t);
    ck_assert_msg(st == DB_OK, "wl_gen_trace: %s", db_errmsg());
    return t;
}

static trace_stats stats(const trace_table *t, int32_t m)
{
    trace_stats st;
    ck_assert_msg(trace_stats_compute(t, m, &st) == DB_OK, "stats: %s", db_errmsg());
    return st;
}

static void assert_rel(double got, double want, double tol, const char *what)
{
    ck_assert_msg(fabs(got - want) <= tol * fabs(want), "%s: got %.6g, want %.6g within %.1f %%",
                  what, got, want, 100 * tol);
}

/* Asserts the status and that the last message contains each non-NULL fragment. */
static void assert_err(db_status got, db_status want, const char *frag1, const char *frag2)
{
    ck_assert_msg(got == want, "status %s (%s), expected %s", db_status_str(got), db_errmsg(),
                  db_status_str(want));
    ck_assert_msg(!frag1 || strstr(db_errmsg(), frag1), "message '%s' lacks '%s'", db_errmsg(),
                  frag1);
    ck_assert_msg(!frag2 || strstr(db_errmsg(), frag2), "message '%s' lacks '%s'", db_errmsg(),
                  frag2);
}

/* Field by field: the struct has padding, which memcmp would compare too. */
static bool same_reqs(const trace_table *a, const trace_table *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const trace_req *x = &a->req[i], *y = &b->req[i];
        if (x->arrival_s != y->arrival_s || x->request_id != y->request_id ||
            x->model != y->model || x->prompt_tokens != y->prompt_tokens ||
            x->output_tokens != y->output_tokens)
            return false;
    }
    return true;
}

static uint64_t fnv1a(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Hash of a trace's CSV text (header and lines), as the writer would produce it. */
static uint64_t trace_hash(const trace_table *t)
{
    uint64_t h = fnv1a(0xcbf29ce484222325ULL, TRACE_CSV_HEADER "\n", strlen(TRACE_CSV_HEADER) + 1);
    char line[TRACE_CSV_LINE_MAX];
    for (size_t i = 0; i < t->n; i++)
        h = fnv1a(h, line, trace_csv_format(&t->req[i], line));
    return h;
}

/* ---- arrivals ---------------------------------------------------------------------------- */

START_TEST(test_poisson_rate_cv)
{
    wl_gen_spec s = spec_base(11);
    s.arrival.rate = 5.0;
    trace_table t = gen(&s);
    ck_assert_uint_eq(t.n, BIG);
    trace_stats st = stats(&t, 0);
    assert_rel(st.mean_rate, 5.0, 0.01, "poisson mean rate");
    assert_rel(st.ia_cv, 1.0, 0.03, "poisson CV");
    size_t unsorted = 0; /* counted, not asserted per element: each ck_assert costs a write */
    for (size_t i = 1; i < t.n; i++)
        unsorted += t.req[i].arrival_s < t.req[i - 1].arrival_s;
    ck_assert_uint_eq(unsorted, 0);
    trace_stats_free(&st);
    trace_table_free(&t);
}
END_TEST

START_TEST(test_gamma_rate_cv)
{
    static const double cvs[] = {0.25, 0.5, 2.0, 4.0};
    for (size_t k = 0; k < sizeof cvs / sizeof cvs[0]; k++) {
        wl_gen_spec s = spec_base(20 + k);
        s.arrival.kind = WL_ARR_GAMMA;
        s.arrival.rate = 3.0;
        s.arrival.cv = cvs[k];
        double rate, cv;
        ck_assert_int_eq(wl_arrival_theory(&s.arrival, &rate, &cv), DB_OK);
        ck_assert(rate == 3.0 && cv == cvs[k]);
        trace_table t = gen(&s);
        trace_stats st = stats(&t, 0);
        assert_rel(st.mean_rate, 3.0, 0.01, "gamma mean rate");
        assert_rel(st.ia_cv, cvs[k], 0.03, "gamma CV");
        trace_stats_free(&st);
        trace_table_free(&t);
    }
}
END_TEST

START_TEST(test_gamma_cv0_and_cv1)
{
    /* CV 0: evenly spaced; CV 1: exactly the Poisson process of the same seed. */
    wl_gen_spec s = spec_base(5);
    s.max_requests = 1000;
    s.arrival.kind = WL_ARR_GAMMA;
    s.arrival.rate = 4.0;
    s.arrival.cv = 0.0;
    trace_table t = gen(&s);
    for (size_t i = 0; i < t.n; i++)
        ck_assert_double_eq_tol(t.req[i].arrival_s, 0.25 * (double)(i + 1), 1e-9);
    trace_table_free(&t);
    s.arrival.cv = 1.0;
    trace_table g = gen(&s);
    s.arrival.kind = WL_ARR_POISSON;
    trace_table p = gen(&s);
    ck_assert(same_reqs(&g, &p));
    trace_table_free(&g);
    trace_table_free(&p);
}
END_TEST

START_TEST(test_onoff_rate_cv)
{
    /* Interrupted Poisson (off rate 0): closed form CV^2 = 1 + 2 l_on a / (a + b)^2 with
     * a = 1/on, b = 1/off; then a general MMPP against the moment recursion. Short periods give
     * many on/off cycles, so 1M requests pin the mean rate well inside 1 %. */
    static const double ratios[] = {0.0, 0.25};
    for (size_t k = 0; k < 2; k++) {
        wl_gen_spec s = spec_base(40 + k);
        s.arrival.kind = WL_ARR_ONOFF;
        s.arrival.rate = 10.0;
        s.arrival.on_s = 0.05;
        s.arrival.off_s = 0.15;
        s.arrival.off_ratio = ratios[k];
        double rate, cv;
        ck_assert_int_eq(wl_arrival_theory(&s.arrival, &rate, &cv), DB_OK);
        if (ratios[k] == 0.0) {
            double a = 1 / 0.05, b = 1 / 0.15, lon = 10.0 * (0.05 + 0.15) / 0.05;
            ck_assert_double_eq_tol(cv * cv, 1 + 2 * lon * a / ((a + b) * (a + b)), 1e-9);
        }
        ck_assert_msg(cv > 1.1, "theory CV %g", cv); /* burstier than Poisson */
        trace_table t = gen(&s);
        trace_stats st = stats(&t, 0);
        assert_rel(st.mean_rate, 10.0, 0.01, "onoff mean rate");
        assert_rel(st.ia_cv, cv, 0.03, "onoff CV");
        trace_stats_free(&st);
        trace_table_free(&t);
    }
}
END_TEST

START_TEST(test_replay_scale_and_columns)
{
    const char *path = tl_put("r.csv", TRACE_CSV_HEADER "\n"
                                         "0,1.000000,3,10,20\n"
                                         "1,2.000000,1,11,21\n"
                                         "2,2.000000,0,12,22\n"
                                         "3,5.000000,2,13,23\n");
    char p[600];
    snprintf(p, sizeof p, "%s", path);
    wl_gen_spec s;
    wl_gen_defaults(&s);
    ck_assert_int_eq(wl_arrival_parse("replay:x", &s.arrival), DB_OK);
    s.arrival.path = p;
    s.arrival.rate = 0;
    s.arrival.time_scale = 0.5;
    s.nmodels = 4;
    s.popularity.kind = WL_POP_REPLAY;
    s.lengths.kind = WL_LEN_REPLAY;
    trace_table t = gen(&s);
    ck_assert_uint_eq(t.n, 4);
    static const double want_t[] = {0.5, 1.0, 1.0, 2.5};
    static const int want_m[] = {3, 1, 0, 2};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_double_eq_tol(t.req[i].arrival_s, want_t[i], 1e-12);
        ck_assert_int_eq(t.req[i].model, want_m[i]);
        ck_assert_int_eq(t.req[i].prompt_tokens, 10 + (int)i);
        ck_assert_int_eq(t.req[i].output_tokens, 20 + (int)i);
        ck_assert_int_eq(t.req[i].request_id, (int64_t)i);
    }
    trace_table_free(&t);
    /* --rate rescales to the target: 3 gaps over 4 s = 0.75 req/s -> 3 req/s is scale 1/4. */
    s.arrival.time_scale = 1.0;
    s.arrival.rate = 3.0;
    t = gen(&s);
    trace_stats st = stats(&t, 0);
    ck_assert_double_eq_tol(st.mean_rate, 3.0, 1e-9);
    trace_stats_free(&st);
    trace_table_free(&t);
    /* A duration cuts the replay; models outside M are refused. */
    s.arrival.rate = 0;
    s.duration_s = 2.0;
    t = gen(&s);
    ck_assert_uint_eq(t.n, 1);
    trace_table_free(&t);
    s.duration_s = 0;
    s.nmodels = 3;
    wl_gen *g;
    assert_err(wl_gen_init(&s, &g), DB_ERR_ARG, "model 3", "3 models");
}
END_TEST

/* An Azure Functions invocation-count file: 5 functions x 4 minutes. Totals: f0 6, f1 12,
 * f2 0, f3 12, f4 3; top 3 = f1 (earlier of the 12s), f3, f0. */
static const char *azfunc_text =
    "HashOwner,HashApp,HashFunction,Trigger,1,2,3,4\r\n"
    "o0,a0,f0,http,1,2,3,0\r\n"
    "o1,a1,f1,timer,0,12,0,0\r\n"
    "o2,a2,f2,http,0,0,0,0\r\n"
    "o3,a3,f3,queue,3,3,3,3\r\n"
    "o4,a4,f4,event,1,1,1,0";

START_TEST(test_azure_functions_arrivals)
{
    const char *path = tl_put("inv.csv", azfunc_text);
    char p[600];
    snprintf(p, sizeof p, "%s", path);
    wl_gen_spec s;
    wl_gen_defaults(&s);
    s.arrival.kind = WL_ARR_AZURE_FUNC;
    s.arrival.path = p;
    s.arrival.rate = 0;
    s.nmodels = 3;
    s.popularity.kind = WL_POP_REPLAY;
    trace_table t = gen(&s);
    ck_assert_uint_eq(t.n, 30); /* 12 + 12 + 6 */
    /* per (model, minute) counts: model 0 = f1, 1 = f3, 2 = f0 */
    static const int want[3][4] = {{0, 12, 0, 0}, {3, 3, 3, 3}, {1, 2, 3, 0}};
    int got[3][4] = {{0}};
    for (size_t i = 0; i < t.n; i++) {
        if (i)
            ck_assert(t.req[i].arrival_s >= t.req[i - 1].arrival_s);
        int minute = (int)floor(t.req[i].arrival_s / 60.0);
        ck_assert(minute >= 0 && minute < 4);
        ck_assert(t.req[i].model >= 0 && t.req[i].model < 3);
        got[t.req[i].model][minute]++;
    }
    ck_assert(memcmp(got, want, sizeof got) == 0);
    trace_table_free(&t);
    /* time scale 2 stretches minutes to 120 s; asking for more functions than exist fails */
    s.arrival.time_scale = 2.0;
    t = gen(&s);
    ck_assert(t.req[t.n - 1].arrival_s >= 120.0 * 3 && t.req[t.n - 1].arrival_s < 480.0);
    trace_table_free(&t);
    s.nmodels = 6;
    wl_gen *g;
    assert_err(wl_gen_init(&s, &g), DB_ERR_ARG, "5 functions", "6 models");
}
END_TEST

/* ---- popularity -------------------------------------------------------------------------- */

START_TEST(test_pop_probabilities)
{
    enum { M = 7 };
    wl_pop *p;
    wl_pop_spec s = {WL_POP_ZIPF, 1.3, NULL};
    ck_assert_int_eq(wl_pop_init(&s, M, &p), DB_OK);
    double z = 0;
    for (int i = 1; i <= M; i++)
        z += pow(i, -1.3);
    for (int i = 0; i < M; i++)
        ck_assert_double_eq_tol(wl_pop_probs(p)[i], pow(i + 1, -1.3) / z, 1e-12);
    wl_pop_free(p);

    s = (wl_pop_spec){WL_POP_DELTAZIP, 1.3, NULL};
    ck_assert_int_eq(wl_pop_init(&s, M, &p), DB_OK);
    z = 0;
    for (int i = 1; i <= M; i++)
        z += pow(i, 1.3);
    for (int i = 0; i < M; i++)
        ck_assert_double_eq_tol(wl_pop_probs(p)[i], pow(i + 1, 1.3) / z, 1e-12);
    wl_pop_free(p);

    s = (wl_pop_spec){WL_POP_SLORA, 0.5, NULL};
    ck_assert_int_eq(wl_pop_init(&s, M, &p), DB_OK);
    for (int i = 0; i < M; i++)
        ck_assert_double_eq_tol(wl_pop_probs(p)[i],
                                pow((i + 1.0) / M, 0.5) - pow((double)i / M, 0.5), 1e-12);
    ck_assert(wl_pop_probs(p)[0] > wl_pop_probs(p)[M - 1]); /* a < 1 favours low ids */
    wl_pop_free(p);

    s = (wl_pop_spec){WL_POP_UNIFORM, 0, NULL};
    ck_assert_int_eq(wl_pop_init(&s, M, &p), DB_OK);
    for (int i = 0; i < M; i++)
        ck_assert_double_eq_tol(wl_pop_probs(p)[i], 1.0 / M, 1e-15);
    ck_assert_int_eq(wl_pop_nmodels(p), M);
    wl_pop_free(p);

    /* Large exponents and M neither overflow nor underflow to NaN. */
    s = (wl_pop_spec){WL_POP_DELTAZIP, 100, NULL};
    ck_assert_int_eq(wl_pop_init(&s, 100000, &p), DB_OK);
    ck_assert(isfinite(wl_pop_probs(p)[0]) && wl_pop_probs(p)[99999] > 0.0);
    wl_pop_free(p);
}
END_TEST

START_TEST(test_pop_sampling_frequencies)
{
    /* 1M alias draws per law: every frequency within 5 standard errors of p_i. */
    static const wl_pop_spec laws[] = {
        {WL_POP_UNIFORM, 0, NULL}, {WL_POP_ZIPF, 1.5, NULL}, {WL_POP_DELTAZIP, 0.7, NULL},
        {WL_POP_SLORA, 2.0, NULL}, {WL_POP_ZIPF, 0.0, NULL},
    };
    enum { M = 50 };
    for (size_t k = 0; k < sizeof laws / sizeof laws[0]; k++) {
        wl_pop *p;
        ck_assert_int_eq(wl_pop_init(&laws[k], M, &p), DB_OK);
        db_rng r;
        rng_stream(&r, 99, k);
        int64_t cnt[M] = {0}, outside = 0;
        for (int i = 0; i < BIG; i++) {
            int32_t m = wl_pop_sample(p, &r);
            if (m >= 0 && m < M)
                cnt[m]++;
            else
                outside++;
        }
        ck_assert_int_eq(outside, 0);
        for (int i = 0; i < M; i++) {
            double q = wl_pop_probs(p)[i], f = (double)cnt[i] / BIG;
            double se = sqrt(q * (1 - q) / BIG);
            ck_assert_msg(fabs(f - q) <= 5 * se + 1e-12, "law %zu model %d: %g vs %g", k, i, f,
                          q);
        }
        wl_pop_free(p);
    }
}
END_TEST

START_TEST(test_zipf_fit_generated)
{
    /* Fitted exponent of generated traces within 0.05 of the parameter. */
    static const struct {
        double a;
        int32_t m;
    } cases[] = {{1.5, 100}, {0.8, 1000}, {1.0, 32}, {0.0, 64}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        wl_gen_spec s = spec_base(60 + k);
        s.nmodels = cases[k].m;
        s.popularity = (wl_pop_spec){WL_POP_ZIPF, cases[k].a, NULL};
        trace_table t = gen(&s);
        trace_stats st = stats(&t, cases[k].m);
        ck_assert_msg(fabs(st.zipf_a - cases[k].a) <= 0.05, "zipf:%g over %d: fitted %g",
                      cases[k].a, cases[k].m, st.zipf_a);
        if (cases[k].a > 0)
            ck_assert_int_eq(st.model_rank[0], 0);
        trace_stats_free(&st);
        trace_table_free(&t);
    }
}
END_TEST

START_TEST(test_zipf_fit_estimator)
{
    /* Counts exactly proportional to r^-a (in shuffled order) give a back; degenerate cases. */
    enum { M = 200 };
    int64_t c[M];
    for (double a = 0.5; a <= 2.5; a += 0.5) {
        for (int i = 0; i < M; i++)
            c[(i * 37) % M] = llround(1e12 * pow(i + 1, -a));
        ck_assert_double_eq_tol(trace_zipf_fit(c, M), a, 1e-3);
    }
    int64_t one[3] = {0, 10, 0}, none[3] = {0, 0, 0}, flat[4] = {5, 5, 5, 5};
    ck_assert(isinf(trace_zipf_fit(one, 3)));
    ck_assert(isnan(trace_zipf_fit(none, 3)));
    ck_assert(isnan(trace_zipf_fit(flat, 1)));
    ck_assert_double_eq_tol(trace_zipf_fit(flat, 4), 0.0, 1e-9);
}
END_TEST

START_TEST(test_pop_azure_and_assign)
{
    const char *path = tl_put("inv.csv", azfunc_text);
    char p[600];
    snprintf(p, sizeof p, "%s", path);
    wl_pop *pop;
    wl_pop_spec s;
    ck_assert_int_eq(wl_pop_parse("uniform", &s), DB_OK);
    char spec[700];
    snprintf(spec, sizeof spec, "azure:%s", p);
    ck_assert_int_eq(wl_pop_parse(spec, &s), DB_OK);
    ck_assert_int_eq(s.kind, WL_POP_AZURE);
    ck_assert_int_eq(wl_pop_init(&s, 4, &pop), DB_OK);
    /* totals in rank order: 12, 12, 6, 3 */
    static const double want[4] = {12 / 33.0, 12 / 33.0, 6 / 33.0, 3 / 33.0};
    for (int i = 0; i < 4; i++)
        ck_assert_double_eq_tol(wl_pop_probs(pop)[i], want[i], 1e-12);
    /* assign models to a trace without a model column */
    trace_table t = {0};
    t.n = 1000;
    t.req = db_calloc(t.n, sizeof *t.req);
    for (size_t i = 0; i < t.n; i++)
        t.req[i].model = TRACE_NO_MODEL;
    db_rng r;
    rng_seed(&r, 3);
    wl_pop_assign(pop, &r, &t);
    ck_assert(t.has_models);
    size_t wrong = 0;
    for (size_t i = 0; i < t.n; i++)
        wrong += !(t.req[i].model >= 0 && t.req[i].model < 4);
    ck_assert_uint_eq(wrong, 0);
    trace_table_free(&t);
    wl_pop_free(pop);
    assert_err(wl_pop_init(&s, 6, &pop), DB_ERR_ARG, "5 functions", NULL);
}
END_TEST

/* ---- lengths ----------------------------------------------------------------------------- */

START_TEST(test_len_fixed_uniform)
{
    wl_gen_spec s = spec_base(70);
    s.max_requests = 100000;
    ck_assert_int_eq(wl_len_parse("fixed:300,40", &s.lengths), DB_OK);
    trace_table t = gen(&s);
    size_t wrong = 0;
    for (size_t i = 0; i < t.n; i++)
        wrong += !(t.req[i].prompt_tokens == 300 && t.req[i].output_tokens == 40);
    ck_assert_uint_eq(wrong, 0);
    trace_table_free(&t);
    s.max_requests = BIG;
    ck_assert_int_eq(wl_len_parse("uniform:10,1000,1,9", &s.lengths), DB_OK);
    t = gen(&s);
    double sp = 0, so = 0;
    int lo[2] = {INT32_MAX, INT32_MAX}, hi[2] = {0, 0};
    for (size_t i = 0; i < t.n; i++) {
        int a = t.req[i].prompt_tokens, b = t.req[i].output_tokens;
        sp += a;
        so += b;
        lo[0] = a < lo[0] ? a : lo[0];
        hi[0] = a > hi[0] ? a : hi[0];
        lo[1] = b < lo[1] ? b : lo[1];
        hi[1] = b > hi[1] ? b : hi[1];
    }
    ck_assert(lo[0] == 10 && hi[0] == 1000 && lo[1] == 1 && hi[1] == 9);
    assert_rel(sp / (double)t.n, 505.0, 0.01, "uniform prompt mean");
    assert_rel(so / (double)t.n, 5.0, 0.01, "uniform output mean");
    trace_table_free(&t);
}
END_TEST

START_TEST(test_len_lognormal)
{
    wl_gen_spec s = spec_base(71);
    ck_assert_int_eq(wl_len_parse("lognormal:1000,1.0,200,0.5", &s.lengths), DB_OK);
    trace_table t = gen(&s);
    trace_stats st = stats(&t, 0);
    assert_rel(st.prompt_p[0], 1000, 0.01, "lognormal prompt median");
    assert_rel(st.output_p[0], 200, 0.01, "lognormal output median");
    /* sigma = std of ln(length); and the two sides are independent */
    double m[2] = {0, 0}, v[2] = {0, 0}, c = 0;
    for (size_t i = 0; i < t.n; i++) {
        m[0] += log(t.req[i].prompt_tokens);
        m[1] += log(t.req[i].output_tokens);
    }
    m[0] /= (double)t.n;
    m[1] /= (double)t.n;
    for (size_t i = 0; i < t.n; i++) {
        double a = log(t.req[i].prompt_tokens) - m[0], b = log(t.req[i].output_tokens) - m[1];
        v[0] += a * a;
        v[1] += b * b;
        c += a * b;
    }
    assert_rel(sqrt(v[0] / (double)t.n), 1.0, 0.03, "lognormal prompt sigma");
    assert_rel(sqrt(v[1] / (double)t.n), 0.5, 0.03, "lognormal output sigma");
    ck_assert_msg(fabs(c / sqrt(v[0] * v[1])) < 0.01, "prompt/output correlated");
    trace_stats_free(&st);
    trace_table_free(&t);
}
END_TEST

START_TEST(test_len_trace_empirical)
{
    /* Pairs come from the file jointly: only the three pairs of the file ever appear. */
    const char *path = tl_put("l.csv", TRACE_AZURE_LLM_HEADER "\n"
                                         "2023-01-01 00:00:00.0000000,100,1\n"
                                         "2023-01-01 00:00:01.0000000,200,2\n"
                                         "2023-01-01 00:00:02.0000000,300,3");
    char spec[700];
    snprintf(spec, sizeof spec, "trace:%s", path);
    wl_gen_spec s = spec_base(72);
    s.max_requests = 30000;
    ck_assert_int_eq(wl_len_parse(spec, &s.lengths), DB_OK);
    trace_table t = gen(&s);
    int seen[3] = {0}, wrong = 0;
    for (size_t i = 0; i < t.n; i++) {
        int p = t.req[i].prompt_tokens;
        if ((p == 100 || p == 200 || p == 300) && t.req[i].output_tokens == p / 100)
            seen[p / 100 - 1]++;
        else
            wrong++;
    }
    ck_assert_int_eq(wrong, 0);
    for (int k = 0; k < 3; k++)
        assert_rel(seen[k], 10000, 0.05, "empirical pair share");
    trace_table_free(&t);
    if (!have(AZ_CODE))
        return;
    s.max_requests = BIG;
    snprintf(spec, sizeof spec, "trace:%s", AZ_CODE);
    ck_assert_int_eq(wl_len_parse(spec, &s.lengths), DB_OK);
    t = gen(&s);
    trace_stats st = stats(&t, 0);
    assert_rel(st.prompt_p[0], 1469, 0.02, "empirical prompt median");
    assert_rel(st.output_p[0], 13, 0.02, "empirical output median");
    trace_stats_free(&st);
    trace_table_free(&t);
}
END_TEST

/* ---- trace files ------------------------------------------------------------------------- */

START_TEST(test_csv_roundtrip)
{
    wl_gen_spec s = spec_base(80);
    s.max_requests = 20000;
    s.nmodels = 9;
    s.arrival.kind = WL_ARR_GAMMA;
    s.arrival.cv = 3.0;
    ck_assert_int_eq(wl_pop_parse("zipf:1.1", &s.popularity), DB_OK);
    ck_assert_int_eq(wl_len_parse("lognormal:500,1,100,1", &s.lengths), DB_OK);
    trace_table t = gen(&s);
    char path[600], path2[600];
    tl_path_buf(path, sizeof path, "rt.csv");
    tl_path_buf(path2, sizeof path2, "rt2.csv");
    ck_assert_int_eq(trace_write(path, &t, NULL), DB_OK);
    trace_table b;
    ck_assert_msg(trace_read(path, &b) == DB_OK, "%s", db_errmsg());
    ck_assert_uint_eq(b.n, t.n);
    ck_assert_int_eq(b.format, TRACE_FMT_CSV);
    size_t wrong = 0;
    for (size_t i = 0; i < t.n; i++)
        wrong += !(fabs(b.req[i].arrival_s - t.req[i].arrival_s) <= 5.1e-7 &&
                   b.req[i].request_id == t.req[i].request_id &&
                   b.req[i].model == t.req[i].model &&
                   b.req[i].prompt_tokens == t.req[i].prompt_tokens &&
                   b.req[i].output_tokens == t.req[i].output_tokens);
    ck_assert_uint_eq(wrong, 0);
    /* writing what was read reproduces the file byte for byte */
    ck_assert_int_eq(trace_write(path2, &b, NULL), DB_OK);
    char *x, *y;
    size_t nx, ny;
    ck_assert_int_eq(fs_read_all(path, &x, &nx), DB_OK);
    ck_assert_int_eq(fs_read_all(path2, &y, &ny), DB_OK);
    ck_assert(nx == ny && memcmp(x, y, nx) == 0);
    ck_assert_uint_eq(trace_hash(&t), trace_hash(&b));
    db_free(x);
    db_free(y);
    trace_table_free(&b);
    trace_table_free(&t);
}
END_TEST

START_TEST(test_h5_roundtrip)
{
    wl_gen_spec s = spec_base(81);
    s.max_requests = 40000; /* more than one writer block and one reader block */
    s.nmodels = 5;
    ck_assert_int_eq(wl_len_parse("uniform:1,4000,1,500", &s.lengths), DB_OK);
    trace_table t = gen(&s);
    char path[600];
    tl_path_buf(path, sizeof path, "t.h5");
    char *argv[] = {"trace", "gen", NULL};
    res_run_info info = {2, argv, 81};
    ck_assert_msg(trace_write(path, &t, &info) == DB_OK, "%s", db_errmsg());
    trace_format f;
    ck_assert_int_eq(trace_detect(path, &f), DB_OK);
    ck_assert_int_eq(f, TRACE_FMT_HDF5);
    trace_table b;
    ck_assert_msg(trace_read(path, &b) == DB_OK, "%s", db_errmsg());
    ck_assert_uint_eq(b.n, t.n);
    ck_assert(same_reqs(&b, &t)); /* float64 column: exact */
    trace_table_free(&b);
    trace_table_free(&t);
    /* a results file without the table is not a trace */
    res_file *rf;
    tl_path_buf(path, sizeof path, "empty.h5");
    ck_assert_int_eq(res_create(path, &info, &rf), DB_OK);
    ck_assert_int_eq(res_commit(rf), DB_OK);
    assert_err(trace_read(path, &b), DB_ERR_FORMAT, "no table 'requests'", NULL);
}
END_TEST

START_TEST(test_writer_all_or_nothing)
{
    char path[600];
    tl_path_buf(path, sizeof path, "w.csv");
    trace_writer *w;
    ck_assert_int_eq(trace_writer_open(path, NULL, &w), DB_OK);
    trace_req r[2] = {{2.0, 0, 1, 5, 5}, {1.0, 1, 1, 5, 5}}; /* out of order */
    assert_err(trace_writer_put(w, r, 2), DB_ERR_ARG, "earlier than the previous", NULL);
    trace_writer_abort(w);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(trace_writer_open(path, NULL, &w), DB_OK);
    trace_req nomodel = {1.0, 0, TRACE_NO_MODEL, 5, 5};
    assert_err(trace_writer_put(w, &nomodel, 1), DB_ERR_ARG, "model", NULL);
    trace_writer_abort(w);
    ck_assert_int_ne(access(path, F_OK), 0);
    /* the file appears only at commit */
    ck_assert_int_eq(trace_writer_open(path, NULL, &w), DB_OK);
    ck_assert_int_eq(trace_writer_put(w, r, 1), DB_OK);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(trace_writer_commit(w), DB_OK);
    ck_assert_int_eq(access(path, F_OK), 0);
    char line[TRACE_CSV_LINE_MAX];
    trace_req big = {999999999.9999996, INT64_MAX, INT32_MAX, INT32_MAX, INT32_MAX};
    size_t n = trace_csv_format(&big, line);
    ck_assert(n < TRACE_CSV_LINE_MAX);
    ck_assert(strncmp(line, "9223372036854775807,1000000000.000000,2147483647,", 49) == 0);
}
END_TEST

/* Each bad CSV gives DB_ERR_FORMAT naming the file and the line. */
START_TEST(test_csv_bad_input)
{
    static const struct {
        const char *text;
        const char *where; /* ":LINE:" */
        const char *what;
    } bad[] = {
        {"", NULL, "empty file"},
        {"request_id,arrival_s,model\n0,1,0\n", ":1:", "expected the header"},
        {TRACE_CSV_HEADER "\n", ":2:", "no requests"},
        {TRACE_CSV_HEADER "\n0,1.0,0,5,5\n1,0.5,0,5,5\n", ":3:", "earlier than the previous"},
        {TRACE_CSV_HEADER "\n0,-1.0,0,5,5\n", ":2:", "negative arrival_s"},
        {TRACE_CSV_HEADER "\n0,1.0,0,5\n", ":2:", "expected 5 fields"},
        {TRACE_CSV_HEADER "\n0,1.0,0,5,5,6\n", ":2:", "expected 5 fields"},
        {TRACE_CSV_HEADER "\n0,1.0,0,5,5\nx,2.0,0,5,5\n", ":3:", "request_id 'x'"},
        {TRACE_CSV_HEADER "\n0,abc,0,5,5\n", ":2:", "arrival_s 'abc'"},
        {TRACE_CSV_HEADER "\n0,nan,0,5,5\n", ":2:", "arrival_s 'nan'"},
        {TRACE_CSV_HEADER "\n0,1.0,-2,5,5\n", ":2:", "model '-2'"},
        {TRACE_CSV_HEADER "\n0,1.0,0,12x,5\n", ":2:", "prompt_tokens '12x'"},
        {TRACE_CSV_HEADER "\n0,1.0,0,5,99999999999\n", ":2:", "output_tokens"},
        {TRACE_CSV_HEADER "\n0,1.0,0,5,5\n\n1,2.0,0,5,5\n", ":3:", "empty line"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        const char *path = tl_put("bad.csv", bad[k].text);
        trace_table t;
        db_status s = trace_csv_parse(path, bad[k].text, strlen(bad[k].text), &t);
        ck_assert_msg(s == DB_ERR_FORMAT, "case %zu: %s", k, db_status_str(s));
        ck_assert_msg(strstr(db_errmsg(), path), "case %zu: '%s' lacks the path", k, db_errmsg());
        if (bad[k].where) {
            char want[700];
            snprintf(want, sizeof want, "%s%s", path, bad[k].where);
            ck_assert_msg(strstr(db_errmsg(), want), "case %zu: '%s' lacks '%s'", k, db_errmsg(),
                          want);
        }
        ck_assert_msg(strstr(db_errmsg(), bad[k].what), "case %zu: '%s' lacks '%s'", k,
                      db_errmsg(), bad[k].what);
        ck_assert_ptr_null(t.req);
        /* through trace_read (detection first) the file is refused as well */
        ck_assert_int_ne(trace_read(path, &t), DB_OK);
    }
    /* good input with \r\n endings, a BOM and no final newline */
    const char *ok = "\xEF\xBB\xBF" TRACE_CSV_HEADER "\r\n0,0.5,1,2,3\r\n1,0.5,0,0,0";
    trace_table t;
    ck_assert_int_eq(trace_csv_parse("ok.csv", ok, strlen(ok), &t), DB_OK);
    ck_assert_uint_eq(t.n, 2);
    ck_assert(t.req[1].arrival_s == 0.5 && t.req[0].output_tokens == 3);
    trace_table_free(&t);
    /* missing files and unknown formats */
    assert_err(trace_read("/nonexistent/x.csv", &t), DB_ERR_IO, "/nonexistent/x.csv", NULL);
    const char *other = tl_put("other.csv", "a,b,c\n1,2,3\n");
    assert_err(trace_read(other, &t), DB_ERR_FORMAT, ":1:", "not a trace");
    const char *inv = tl_put("inv.csv", azfunc_text);
    assert_err(trace_read(inv, &t), DB_ERR_FORMAT, "invocation counts", NULL);
}
END_TEST

START_TEST(test_azure_timestamps)
{
    int64_t sec;
    int32_t ns;
    ck_assert_int_eq(azure_days_from_civil(1970, 1, 1), 0);
    ck_assert_int_eq(azure_days_from_civil(2000, 3, 1), 11017);
    ck_assert_int_eq(azure_days_from_civil(1969, 12, 31), -1);
    ck_assert_int_eq(azure_days_from_civil(2023, 11, 16), 19677);
#define TS(s) azure_parse_timestamp((s), (s) + strlen(s), &sec, &ns)
    ck_assert(TS("1970-01-01 00:00:00") && sec == 0 && ns == 0);
    ck_assert(TS("2023-11-16 18:17:03.9799600") &&
              sec == 19677LL * 86400 + 18 * 3600 + 17 * 60 + 3 && ns == 979960000);
    ck_assert(TS("2024-02-29 23:59:59.5") && ns == 500000000);
    ck_assert(TS("2000-02-29 12:00:00.123456789") && ns == 123456789);
    ck_assert(!TS("2023-02-29 00:00:00"));  /* not a leap year */
    ck_assert(!TS("1900-02-29 00:00:00"));  /* century, not leap */
    ck_assert(!TS("2023-13-01 00:00:00"));
    ck_assert(!TS("2023-04-31 00:00:00"));
    ck_assert(!TS("2023-11-16 24:00:00"));
    ck_assert(!TS("2023-11-16 18:60:00"));
    ck_assert(!TS("2023-11-16T18:17:03.9"));
    ck_assert(!TS("2023-11-16 18:17:03."));
    ck_assert(!TS("2023-11-16 18:17:03.1234567890"));
    ck_assert(!TS("2023-11-16 18:17:03.12x"));
    ck_assert(!TS("2023-11-16 18:17:3"));
    ck_assert(!TS("2023-11-16 18:17:03 +0000"));
    ck_assert(!TS(""));
#undef TS
}
END_TEST

START_TEST(test_azure_llm_bad_input)
{
    static const struct {
        const char *text, *where, *what;
    } bad[] = {
        {"", NULL, "empty file"},
        {"TIMESTAMP,ContextTokens\n", ":1:", "expected the header"},
        {TRACE_AZURE_LLM_HEADER "\r\n", ":2:", "no requests"},
        {TRACE_AZURE_LLM_HEADER "\n2023-11-16 18:17:03.0000000,1,2\n2023-11-16 "
                                "18:17:02.9999999,1,2\n",
         ":3:", "earlier than the previous"},
        {TRACE_AZURE_LLM_HEADER "\n2023-11-16 18:17:03,1\n", ":2:", "expected 3 fields"},
        {TRACE_AZURE_LLM_HEADER "\n2023-11-31 18:17:03,1,2\n", ":2:", "TIMESTAMP"},
        {TRACE_AZURE_LLM_HEADER "\n2023-11-16 18:17:03,-1,2\n", ":2:", "ContextTokens '-1'"},
        {TRACE_AZURE_LLM_HEADER "\n2023-11-16 18:17:03,1,2.5\n", ":2:", "GeneratedTokens '2.5'"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        const char *path = tl_put("az.csv", bad[k].text);
        trace_table t;
        db_status s = azure_llm_read(path, &t);
        ck_assert_msg(s == DB_ERR_FORMAT, "case %zu: %s", k, db_status_str(s));
        char want[700];
        snprintf(want, sizeof want, "%s%s", path, bad[k].where ? bad[k].where : ":");
        ck_assert_msg(strstr(db_errmsg(), bad[k].where ? want : path), "case %zu: '%s'", k,
                      db_errmsg());
        ck_assert_msg(strstr(db_errmsg(), bad[k].what), "case %zu: '%s' lacks '%s'", k,
                      db_errmsg(), bad[k].what);
    }
    /* relative times, exact to the 100 ns tick */
    const char *path = tl_put("az.csv", TRACE_AZURE_LLM_HEADER "\n"
                                          "2023-12-31 23:59:59.9999999,5,6\n"
                                          "2024-01-01 00:00:00.0000001,7,8\n");
    trace_table t;
    ck_assert_int_eq(trace_read(path, &t), DB_OK);
    ck_assert_int_eq(t.format, TRACE_FMT_AZURE_LLM);
    ck_assert(!t.has_models && t.req[0].model == TRACE_NO_MODEL);
    ck_assert(t.req[0].arrival_s == 0.0);
    ck_assert_double_eq_tol(t.req[1].arrival_s, 2e-7, 1e-15);
    ck_assert(t.req[1].prompt_tokens == 7 && t.req[1].output_tokens == 8);
    trace_table_free(&t);
}
END_TEST

START_TEST(test_azure_functions_reader)
{
    const char *path = tl_put("inv.csv", azfunc_text);
    azure_func f;
    ck_assert_int_eq(azure_func_read(path, 3, &f), DB_OK);
    ck_assert(f.nfunc == 3 && f.nmin == 4 && f.nrows == 5 && f.total_all == 33);
    ck_assert(f.totals[0] == 12 && f.totals[1] == 12 && f.totals[2] == 6);
    ck_assert(f.counts[0 * 4 + 1] == 12 && f.counts[1 * 4 + 0] == 3 && f.counts[2 * 4 + 2] == 3);
    azure_func_free(&f);
    ck_assert_int_eq(azure_func_read(path, 100, &f), DB_OK);
    ck_assert_uint_eq(f.nfunc, 5);
    ck_assert(f.totals[4] == 0);
    azure_func_free(&f);
    static const struct {
        const char *text, *where, *what;
    } bad[] = {
        {"", NULL, "empty file"},
        {"HashOwner,HashApp,HashFunction,Trigger\n", ":1:", "expected the header"},
        {"HashOwner,HashApp,HashFunction,Trigger,1,3\n", ":1:", "header column 6"},
        {"HashOwner,HashApp,HashFunction,Trigger,1,2\n", ":2:", "no functions"},
        {"HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,1\n", ":2:",
         "expected 6 fields"},
        {"HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,1,2\no,a,g,http,1,x\n", ":3:",
         "minute 2: count 'x'"},
        {"HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f,http,1,-2\n", ":2:", "minute 2"},
        {"HashOwner,HashApp,HashFunction,Trigger,1,2\no,,f,http,1,2\n", ":2:", "empty HashApp"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        const char *p = tl_put("badinv.csv", bad[k].text);
        db_status s = azure_func_read(p, 2, &f);
        ck_assert_msg(s == DB_ERR_FORMAT, "case %zu: %s", k, db_status_str(s));
        char want[700];
        snprintf(want, sizeof want, "%s%s", p, bad[k].where ? bad[k].where : "");
        ck_assert_msg(strstr(db_errmsg(), want), "case %zu: '%s' lacks '%s'", k, db_errmsg(),
                      want);
        ck_assert_msg(strstr(db_errmsg(), bad[k].what), "case %zu: '%s' lacks '%s'", k,
                      db_errmsg(), bad[k].what);
    }
}
END_TEST

START_TEST(test_azure_llm_facts)
{
    /* The real traces: counts, span, mean rate, inter-arrival CV, median lengths
     * (../shared/traces/README.md). */
    static const struct {
        const char *path;
        size_t n;
        double span, rate, cv;
        int p50, o50;
    } facts[] = {{AZ_CODE, 8819, 3436, 2.57, 13.2, 1469, 13},
                 {AZ_CONV, 19366, 3502, 5.53, 1.09, 1020, 129}};
    for (size_t k = 0; k < 2; k++) {
        if (!have(facts[k].path))
            continue;
        trace_table t;
        ck_assert_msg(trace_read(facts[k].path, &t) == DB_OK, "%s", db_errmsg());
        ck_assert_uint_eq(t.n, facts[k].n);
        trace_stats st = stats(&t, 0);
        ck_assert_double_eq_tol(st.span_s, facts[k].span, 1.0);
        ck_assert_double_eq_tol(st.mean_rate, facts[k].rate, 0.005);
        ck_assert_double_eq_tol(st.ia_cv, facts[k].cv, 0.05);
        ck_assert_int_eq(st.prompt_p[0], facts[k].p50);
        ck_assert_int_eq(st.output_p[0], facts[k].o50);
        ck_assert_int_eq(st.nmodels, 0);
        ck_assert(isnan(st.zipf_a));
        trace_stats_free(&st);
        trace_table_free(&t);
    }
}
END_TEST

/* ---- statistics -------------------------------------------------------------------------- */

START_TEST(test_stats_small)
{
    /* arrivals 0, 0.5, 0.6, 2.0, 4.0 -> gaps .5 .1 1.4 2.0 (mean 1) */
    trace_req r[5] = {{0.0, 0, 2, 10, 1}, {0.5, 1, 2, 20, 2}, {0.6, 2, 0, 30, 3},
                      {2.0, 3, 2, 40, 4}, {4.0, 4, 1, 50, 5}};
    trace_table t = {r, 5, TRACE_FMT_CSV, true};
    trace_stats st = stats(&t, 0);
    ck_assert_double_eq_tol(st.span_s, 4.0, 1e-12);
    ck_assert_double_eq_tol(st.mean_rate, 1.0, 1e-12);
    double g[4] = {0.5, 0.1, 1.4, 2.0}, v = 0;
    for (int i = 0; i < 4; i++)
        v += (g[i] - 1) * (g[i] - 1);
    ck_assert_double_eq_tol(st.ia_cv, sqrt(v / 4), 1e-12);
    ck_assert_int_eq(st.nseconds, 5);
    ck_assert_int_eq(st.peak_count, 3);
    ck_assert_int_eq(st.peak_second, 0);
    ck_assert_double_eq_tol(st.peak_to_mean, 3.0, 1e-12); /* 3 / (5 / 5) */
    ck_assert_int_eq(st.nmodels, 3);
    ck_assert(st.model_counts[0] == 1 && st.model_counts[1] == 1 && st.model_counts[2] == 3);
    ck_assert(st.model_rank[0] == 2 && st.model_rank[1] == 0 && st.model_rank[2] == 1);
    ck_assert_int_eq(st.prompt_p[0], 30); /* rank ceil(2.5) = 3 */
    ck_assert_int_eq(st.prompt_p[1], 50); /* rank ceil(4.5) = 5 */
    ck_assert_int_eq(st.output_p[2], 5);
    ck_assert(st.prompt_min == 10 && st.prompt_max == 50);
    ck_assert_double_eq_tol(st.prompt_mean, 30.0, 1e-12);
    trace_stats_free(&st);
    /* declared M: zero-count models enter the fit; ids beyond M are refused */
    st = stats(&t, 6);
    ck_assert_int_eq(st.nmodels, 6);
    ck_assert_int_eq(st.models_used, 3);
    trace_stats_free(&st);
    assert_err(trace_stats_compute(&t, 2, &st), DB_ERR_ARG, "model 2", NULL);
    /* nearest rank */
    int32_t v10[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    ck_assert_int_eq(trace_percentile(v10, 10, 50), 5);
    ck_assert_int_eq(trace_percentile(v10, 10, 90), 9);
    ck_assert_int_eq(trace_percentile(v10, 10, 99), 10);
    ck_assert_int_eq(trace_percentile(v10, 1, 50), 1);
    /* one request: no rate, no CV */
    t.n = 1;
    st = stats(&t, 0);
    ck_assert(isnan(st.mean_rate) && isnan(st.ia_cv));
    ck_assert_double_eq_tol(st.peak_to_mean, 1.0, 1e-12);
    trace_stats_free(&st);
}
END_TEST

/* ---- determinism, independence, parameters ----------------------------------------------- */

static wl_gen_spec hash_spec(void)
{
    wl_gen_spec s = spec_base(2024);
    s.max_requests = 100000;
    s.nmodels = 50;
    s.arrival.kind = WL_ARR_GAMMA;
    s.arrival.rate = 7.0;
    s.arrival.cv = 2.5;
    ck_assert_int_eq(wl_pop_parse("zipf:1.2", &s.popularity), DB_OK);
    ck_assert_int_eq(wl_len_parse("lognormal:1000,1,200,0.8", &s.lengths), DB_OK);
    return s;
}

/* The FNV-1a 64 hash of the CSV of hash_spec(): pins the generator's exact output (streams,
 * formulas, number formatting). It changes only when the generator changes on purpose (or with
 * a libm whose log/exp/sin/cos round differently): then update it and say why. */
#define EXPECTED_HASH 0x11fdef0a1f8b2712ULL

START_TEST(test_determinism_hash)
{
    wl_gen_spec s = hash_spec();
    trace_table a = gen(&s), b = gen(&s);
    ck_assert_uint_eq(a.n, b.n);
    uint64_t ha = trace_hash(&a), hb = trace_hash(&b);
    ck_assert_uint_eq(ha, hb);
    ck_assert(same_reqs(&a, &b));
    ck_assert_msg(ha == EXPECTED_HASH, "trace hash 0x%016llx, stored 0x%016llx",
                  (unsigned long long)ha, (unsigned long long)EXPECTED_HASH);
    s.seed++;
    trace_table c = gen(&s);
    ck_assert(trace_hash(&c) != ha);
    trace_table_free(&a);
    trace_table_free(&b);
    trace_table_free(&c);
}
END_TEST

START_TEST(test_stream_independence)
{
    /* Changing one part leaves the other columns untouched. */
    wl_gen_spec s = hash_spec();
    s.max_requests = 20000;
    trace_table base = gen(&s);
    wl_gen_spec p = s;
    ck_assert_int_eq(wl_pop_parse("slora:0.5", &p.popularity), DB_OK);
    trace_table tp = gen(&p);
    wl_gen_spec l = s;
    ck_assert_int_eq(wl_len_parse("uniform:1,100,1,100", &l.lengths), DB_OK);
    trace_table tl = gen(&l);
    wl_gen_spec a = s;
    a.arrival.cv = 0.5;
    trace_table ta = gen(&a);
    size_t diff_models = 0, diff_lens = 0, diff_times = 0, wrong = 0;
    ck_assert(tp.n == base.n && tl.n == base.n && ta.n == base.n);
    for (size_t i = 0; i < base.n; i++) {
        const trace_req *x = &base.req[i];
        wrong += !(tp.req[i].arrival_s == x->arrival_s &&
                   tp.req[i].prompt_tokens == x->prompt_tokens &&
                   tp.req[i].output_tokens == x->output_tokens);
        wrong += !(tl.req[i].arrival_s == x->arrival_s && tl.req[i].model == x->model);
        wrong += !(ta.req[i].model == x->model && ta.req[i].prompt_tokens == x->prompt_tokens);
        diff_models += tp.req[i].model != x->model;
        diff_lens += tl.req[i].prompt_tokens != x->prompt_tokens;
        diff_times += ta.req[i].arrival_s != x->arrival_s;
    }
    ck_assert_uint_eq(wrong, 0);
    ck_assert(diff_models > 1000 && diff_lens > 1000 && diff_times > 1000);
    trace_table_free(&base);
    trace_table_free(&tp);
    trace_table_free(&tl);
    trace_table_free(&ta);
}
END_TEST

START_TEST(test_impossible_parameters)
{
    wl_gen_spec s = spec_base(1), t;
    wl_gen *g;
    t = s;
    t.arrival.rate = 0;
    assert_err(wl_gen_check(&t), DB_ERR_ARG, "rate must be > 0", NULL);
    t.arrival.rate = -3;
    assert_err(wl_gen_init(&t, &g), DB_ERR_ARG, "rate", NULL);
    t = s;
    t.arrival.kind = WL_ARR_GAMMA;
    t.arrival.cv = -0.5;
    assert_err(wl_gen_check(&t), DB_ERR_ARG, "CV must be >= 0", NULL);
    t = s;
    t.nmodels = 0;
    assert_err(wl_gen_check(&t), DB_ERR_ARG, "models must be >= 1", NULL);
    t = s;
    t.popularity = (wl_pop_spec){WL_POP_ZIPF, -1, NULL};
    assert_err(wl_gen_check(&t), DB_ERR_ARG, "a must be >= 0", NULL);
    t = s;
    t.max_requests = 0;
    assert_err(wl_gen_check(&t), DB_ERR_ARG, "never ends", NULL);
    t = s;
    t.arrival.kind = WL_ARR_ONOFF;
    t.arrival.off_ratio = 1.0;
    assert_err(wl_gen_check(&t), DB_ERR_ARG, "[0, 1)", NULL);
    t.arrival.off_ratio = 0;
    t.arrival.on_s = 0;
    assert_err(wl_gen_check(&t), DB_ERR_ARG, "durations", NULL);
    t = s;
    t.popularity.kind = WL_POP_REPLAY;
    assert_err(wl_gen_check(&t), DB_ERR_ARG, "replay", NULL);
    t = s;
    t.lengths.kind = WL_LEN_REPLAY;
    assert_err(wl_gen_check(&t), DB_ERR_ARG, "replay", NULL);
    /* spec texts */
    wl_pop_spec ps = {0};
    wl_len_spec ls;
    wl_arrival_spec as;
    wl_len_defaults(&ls);
    wl_arrival_defaults(&as);
    assert_err(wl_pop_parse("zipf:-0.5", &ps), DB_ERR_ARG, ">= 0", NULL);
    assert_err(wl_pop_parse("zipf", &ps), DB_ERR_ARG, "exponent", NULL);
    assert_err(wl_pop_parse("zipf:1.5x", &ps), DB_ERR_ARG, "exponent", NULL);
    assert_err(wl_pop_parse("slora:0", &ps), DB_ERR_ARG, "(0, 100]", NULL);
    assert_err(wl_pop_parse("pareto:1", &ps), DB_ERR_ARG, "unknown popularity", NULL);
    assert_err(wl_len_parse("fixed:0,5", &ls), DB_ERR_ARG, ">= 1", NULL);
    assert_err(wl_len_parse("fixed:5", &ls), DB_ERR_ARG, "fixed:P,O", NULL);
    assert_err(wl_len_parse("fixed:5.5,3", &ls), DB_ERR_ARG, "fixed:P,O", NULL);
    assert_err(wl_len_parse("uniform:10,5,1,2", &ls), DB_ERR_ARG, "lo <= hi", NULL);
    assert_err(wl_len_parse("lognormal:100,-1,10,1", &ls), DB_ERR_ARG, "sigma", NULL);
    assert_err(wl_len_parse("lognormal:0,1,10,1", &ls), DB_ERR_ARG, "median", NULL);
    assert_err(wl_len_parse("trace:", &ls), DB_ERR_ARG, "unknown lengths", NULL);
    assert_err(wl_arrival_parse("weibull", &as), DB_ERR_ARG, "unknown arrival", NULL);
    assert_err(wl_arrival_parse("replay:", &as), DB_ERR_ARG, "unknown arrival", NULL);
    /* a failed parse leaves the spec as it was */
    ck_assert_int_eq(ls.kind, WL_LEN_FIXED);
    ck_assert_int_eq(ls.fixed[0], 512);
    /* descriptions carry every parameter */
    char d[256];
    ck_assert_int_eq(wl_len_parse("lognormal:1000,1,200,0.8", &ls), DB_OK);
    wl_len_describe(&ls, d, sizeof d);
    ck_assert_str_eq(d, "lognormal:1000,1,200,0.8");
    as.kind = WL_ARR_ONOFF;
    wl_arrival_describe(&as, d, sizeof d);
    ck_assert_str_eq(d, "onoff rate=1 on_s=10 off_s=30 off_ratio=0");
    ck_assert_int_eq(wl_pop_parse("deltazip-zipf:0.9", &ps), DB_OK);
    wl_pop_describe(&ps, d, sizeof d);
    ck_assert_str_eq(d, "deltazip-zipf:0.9");
}
END_TEST

START_TEST(test_alloc_failures)
{
    /* Every allocation of init, generation, reading and stats may fail: the failure surfaces as
     * DB_ERR_NOMEM and nothing leaks (the sanitizer build checks the leaks). */
    const char *inv = tl_put("inv.csv", azfunc_text);
    char ipath[600], spec[700];
    snprintf(ipath, sizeof ipath, "%s", inv);
    snprintf(spec, sizeof spec, "azure:%s", ipath);
    wl_gen_spec s = spec_base(5);
    s.max_requests = 5000;
    s.nmodels = 4;
    ck_assert_int_eq(wl_pop_parse(spec, &s.popularity), DB_OK);
    ck_assert_int_eq(wl_len_parse("lognormal:100,1,10,1", &s.lengths), DB_OK);
    int failures = 0;
    for (long k = 1; k < 200; k++) {
        trace_table t;
        db_alloc_fail_at(k, 0);
        db_status st = wl_gen_trace(&s, &t);
        long calls = db_alloc_calls();
        db_alloc_fail_at(0, 0);
        if (st == DB_OK) {
            trace_table_free(&t);
            if (calls < k)
                break; /* the k-th allocation never happened: every one has been tried */
        } else {
            ck_assert_msg(st == DB_ERR_NOMEM, "k=%ld: %s", k, db_errmsg());
            failures++;
        }
    }
    ck_assert(failures >= 5);
    /* readers and stats */
    const char *csv = TRACE_CSV_HEADER "\n0,0.5,1,2,3\n1,0.7,0,4,5\n";
    for (long k = 1; k < 20; k++) {
        trace_table t;
        trace_stats st;
        db_alloc_fail_at(k, 0);
        db_status r1 = trace_csv_parse("m.csv", csv, strlen(csv), &t);
        db_status r2 = r1 == DB_OK ? trace_stats_compute(&t, 0, &st) : DB_ERR_NOMEM;
        db_alloc_fail_at(0, 0);
        ck_assert(r1 == DB_OK || r1 == DB_ERR_NOMEM);
        ck_assert(r2 == DB_OK || r2 == DB_ERR_NOMEM);
        if (r2 == DB_OK)
            trace_stats_free(&st);
        trace_table_free(&t);
        azure_func f;
        db_alloc_fail_at(k, 0);
        db_status r3 = azure_func_read(ipath, 3, &f);
        db_alloc_fail_at(0, 0);
        ck_assert(r3 == DB_OK || r3 == DB_ERR_NOMEM);
        azure_func_free(&f);
    }
}
END_TEST

static Suite *workloads_suite(void)
{
    Suite *s = suite_create("workloads");
    TCase *tc = tcase_create("workloads");
    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, scratch_setup, tl_scratch_drop);
    tcase_add_test(tc, test_poisson_rate_cv);
    tcase_add_test(tc, test_gamma_rate_cv);
    tcase_add_test(tc, test_gamma_cv0_and_cv1);
    tcase_add_test(tc, test_onoff_rate_cv);
    tcase_add_test(tc, test_replay_scale_and_columns);
    tcase_add_test(tc, test_azure_functions_arrivals);
    tcase_add_test(tc, test_pop_probabilities);
    tcase_add_test(tc, test_pop_sampling_frequencies);
    tcase_add_test(tc, test_zipf_fit_generated);
    tcase_add_test(tc, test_zipf_fit_estimator);
    tcase_add_test(tc, test_pop_azure_and_assign);
    tcase_add_test(tc, test_len_fixed_uniform);
    tcase_add_test(tc, test_len_lognormal);
    tcase_add_test(tc, test_len_trace_empirical);
    tcase_add_test(tc, test_csv_roundtrip);
    tcase_add_test(tc, test_h5_roundtrip);
    tcase_add_test(tc, test_writer_all_or_nothing);
    tcase_add_test(tc, test_csv_bad_input);
    tcase_add_test(tc, test_azure_timestamps);
    tcase_add_test(tc, test_azure_llm_bad_input);
    tcase_add_test(tc, test_azure_functions_reader);
    tcase_add_test(tc, test_azure_llm_facts);
    tcase_add_test(tc, test_stats_small);
    tcase_add_test(tc, test_determinism_hash);
    tcase_add_test(tc, test_stream_independence);
    tcase_add_test(tc, test_impossible_parameters);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tl_run(workloads_suite());
}
