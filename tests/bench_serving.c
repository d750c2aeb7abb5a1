/* bench_serving.c: simulator speed: simulated requests per wall-clock second on one core for a
 * Llama-2-13B, 32-model, 1-hour trace at decode-step granularity (one event per engine
 * iteration), printed with its ratio to the 200,000 req/s target, for every policy.
 *
 * The trace is generated in memory by workloads/ (Poisson arrivals at --rate req/s for 3600 s,
 * Zipf 1.5 popularity over 32 models, lognormal lengths with medians 512 prompt / 128 output
 * tokens, prompts clamped to 4096), the hardware is a100-80gb with TP 4: the DeltaZip serving setting. Each policy runs
 * three times; the best time counts (the machine is shared). The rate is over the thread's CPU
 * time, which other processes on a shared machine disturb much less than the wall time (printed
 * beside it). The hash column is eng_result_hash of the run: a change of the simulator that
 * should only make it faster must leave it as it was.
 *
 * Usage: bench_serving [RATE [POLICY]]: POLICY runs that policy alone (for profiling). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "serve/engine.h"
#include "workloads/gen.h"

#define TARGET_RPS 200000.0

/* CPU seconds of the calling thread. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    double rate = argc > 1 ? atof(argv[1]) : 5.0;
    const char *only = argc > 2 ? argv[2] : NULL;
    if (!(rate > 0) || (only && !pol_find(only))) {
        fprintf(stderr, "usage: bench_serving [RATE > 0 [POLICY]]; got '%s'%s%s\n",
                argc > 1 ? argv[1] : "", only ? " and policy " : "", only ? only : "");
        return 2;
    }
    wl_gen_spec spec;
    wl_gen_defaults(&spec);
    spec.arrival.kind = WL_ARR_POISSON;
    spec.arrival.rate = rate;
    spec.nmodels = 32;
    spec.duration_s = 3600;
    spec.seed = 2024;
    if (wl_pop_parse("zipf:1.5", &spec.popularity) != DB_OK ||
        wl_len_parse("lognormal:512,1,128,1", &spec.lengths) != DB_OK) {
        fprintf(stderr, "bench_serving: %s\n", db_errmsg());
        return 1;
    }
    trace_table tr;
    if (wl_gen_trace(&spec, &tr) != DB_OK) {
        fprintf(stderr, "bench_serving: %s\n", db_errmsg());
        return 1;
    }
    eng_request *rq = db_malloc_array(tr.n, sizeof *rq);
    if (!rq)
        return 1;
    for (size_t i = 0; i < tr.n; i++)
        rq[i] = (eng_request){tr.req[i].request_id, tr.req[i].arrival_s, tr.req[i].model,
                              /* clamped to the default token budget; at least one token */
                              tr.req[i].prompt_tokens > 4096 ? 4096 : tr.req[i].prompt_tokens,
                              tr.req[i].output_tokens};
    hw_profile hw;
    if (hw_profile_builtin(&hw, "a100-80gb") != DB_OK)
        return 1;
    printf("trace: %zu requests, Poisson %.1f req/s for 3600 s, zipf:1.5 over 32 models, "
           "lognormal:512,1,128,1; llama2-13b, a100-80gb, TP 4\n",
           tr.n, rate);
    printf("%-10s %10s %12s %8s %8s %12s %9s  %-16s\n", "system", "events", "iterations", "cpu_s",
           "wall_s", "sim_req/s", "vs_target", "hash");
    int rc = 0;
    for (int p = 0; p < pol_count; p++) {
        if (only && strcmp(only, pol_table[p].name))
            continue;
        eng_config cfg;
        eng_config_default(&cfg);
        cfg.policy = &pol_table[p];
        cfg.n_models = 32;
        const cost_format *f =
            cfg.policy->default_format ? cost_format_find(cfg.policy->default_format) : NULL;
        cost_ctx cost;
        exe_executor exe;
        if (cost_init(&cost, llama_model_find("llama2-13b"), f, &hw, 4) != DB_OK ||
            exe_sim_init(&exe, &cost) != DB_OK) {
            fprintf(stderr, "bench_serving: %s\n", db_errmsg());
            return 1;
        }
        double best = 1e30, best_wall = 1e30;
        eng_result r;
        memset(&r, 0, sizeof r);
        for (int rep = 0; rep < 3; rep++) {
            eng_result_free(&r);
            double t0 = cpu_now(), w0 = db_now();
            if (eng_run(&cfg, &cost, &hw, &exe, rq, (int64_t)tr.n, &r) != DB_OK) {
                fprintf(stderr, "bench_serving: %s: %s\n", cfg.policy->name, db_errmsg());
                return 1;
            }
            double t = cpu_now() - t0, w = db_now() - w0;
            if (t < best)
                best = t;
            if (w < best_wall)
                best_wall = w;
        }
        double rps = (double)tr.n / best;
        printf("%-10s %10lld %12lld %8.4f %8.4f %12.0f %8.2fx  %016llx\n", cfg.policy->name,
               (long long)r.events, (long long)r.summary.iterations, best, best_wall, rps,
               rps / TARGET_RPS, (unsigned long long)eng_result_hash(&r));
        eng_result_free(&r);
        exe_free(&exe);
    }
    db_free(rq);
    trace_table_free(&tr);
    return rc;
}
