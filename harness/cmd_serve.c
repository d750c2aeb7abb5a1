/* cmd_serve.c: `deltabench serve`: a trace through a serving policy on a real executor, whose
 * iteration and load times are measured: `cpu` (the model zoo on this CPU), `cuda` (the kernels
 * at Llama shapes on a GPU) or `cpu-kernels` (the same loop on this CPU's kernels). The options,
 * checks and output are the ones `simulate` shares (harness/serving_cli.c). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness/cli.h"
#include "harness/serving_cli.h"

static bool is_cpu(const srv_opts *o) { return !strcmp(o->executor, "cpu"); }

/* cpu-kernels without --model: the largest model of the shape table whose fp16 weights take at
 * most half of this machine's memory (llama2-13b, simulate's default, does not fit a small one). */
static const char *fitting_model(void)
{
    double ram = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    const llama_model *best = NULL;
    double best_b = 0;
    for (size_t i = 0; i < llama_nmodels; i++) {
        const llama_model *m = &llama_models[i];
        double kv = (double)m->C * (double)m->NKV / (double)m->NH;
        double params = 2.0 * (double)m->V * (double)m->C +
                        (double)m->L * (2.0 * m->C * m->C + 2.0 * m->C * kv + 3.0 * m->C * m->F);
        double b = 2 * params;
        if (b <= 0.5 * ram && b > best_b) {
            best = m;
            best_b = b;
        }
    }
    return best ? best->name : "tiny";
}

static int resolve(srv_opts *o)
{
    if (strcmp(o->executor, "cpu") && strcmp(o->executor, "cuda") &&
        strcmp(o->executor, "cpu-kernels"))
        return cli_usage("serve", "--executor: '%s' is not one of cpu, cuda, cpu-kernels",
                         o->executor);
    if (!is_cpu(o)) {
        if (o->zoo || o->zoo_map || o->work_dir || o->calib_out)
            return cli_usage("serve", "--zoo, --zoo-map, --work-dir and --calib-out apply to "
                                      "`serve --executor cpu` only");
        if (!o->hw_set && !strcmp(o->executor, "cpu-kernels"))
            o->hw = "cpu";
        if (!o->model_set && !strcmp(o->executor, "cpu-kernels")) {
            o->model = fitting_model();
            if (!o->quiet)
                fprintf(stderr, "deltabench serve: chose --model %s, the largest that fits in "
                                "half of this machine's memory (give --model to override)\n",
                        o->model);
        }
        return DB_EXIT_OK;
    }
    if (!o->zoo)
        o->zoo = cli_root_path(SRV_DEFAULT_ZOO, o->zoo_dflt, sizeof o->zoo_dflt);
    if (!o->hw_set)
        o->hw = "cpu";
    if (o->model_set && llama_model_find(o->model))
        return cli_usage("serve", "--model %s: the cpu executor runs the zoo's model (--zoo); "
                                  "leave --model out", o->model);
    snprintf(o->zoo_base, sizeof o->zoo_base, "%s/base", o->zoo);
    if (!o->model_set)
        o->model = o->zoo_base;
    return DB_EXIT_OK;
}

static db_status executor(const srv_opts *o, const cost_ctx *cost, const eng_request *reqs,
                          int64_t n, exe_executor *exe)
{
    const eng_config *cfg = &o->cfg;
    if (is_cpu(o)) {
        int max_len = 0;
        for (int64_t i = 0; i < n; i++)
            if (reqs[i].prompt_tokens + reqs[i].output_tokens > max_len)
                max_len = reqs[i].prompt_tokens + reqs[i].output_tokens;
        exe_cpu_opts co = {o->zoo, o->work_dir, cost->format, cfg->n_models,
                           o->zoo_map && !strcmp(o->zoo_map, "exact"), n,
                           cfg->max_batch, cfg->token_budget + cfg->max_batch, max_len,
                           (uint64_t)o->seed, (int)o->threads, cost};
        return exe_cpu_init(exe, &co);
    }
    const bool gpu = !strcmp(o->executor, "cuda");
    exe_kn_opts ko = {o->executor, gpu ? KN_CUDA : KN_CPU, cost, cfg->n_models,
                      eng_gpu_slots(cfg), cfg->policy->kind == POL_DEDICATED,
                      cfg->max_batch, cfg->token_budget + cfg->max_batch, (int)o->threads,
                      (uint64_t)o->seed};
    return exe_kn_init(exe, &ko);
}

static db_status after(const srv_opts *o, const exe_executor *exe, const hw_profile *hw)
{
    return o->calib_out ? exe_cpu_calibration_write(exe, hw, o->calib_out) : DB_OK;
}

static const srv_command serve = {
    .name = "serve",
    .intro = "Serves a request trace with policy S on a real executor and reports measured\n"
             "latencies: the engine's clock advances by the measured time of every iteration\n"
             "and load. Executors:\n"
             "  cpu   works here: the model zoo (--zoo) with real compressed deltas read from\n"
             "        disk, the batched multi-delta forward of models/tf_batch.h on this CPU\n"
             "  cuda  the real kernels of kernels/ at the --model shapes on a GPU (random\n"
             "        weights): base GEMMs, the batched delta kernel, each model's lm_head;\n"
             "        attention and disk reads costed by the --hw profile (exits 1 with a\n"
             "        one-line reason on machines without a GPU)\n"
             "  cpu-kernels  the cuda executor's loop on this CPU's kernels (Llama shapes\n"
             "        without a GPU; slow, and the weights must fit in RAM)\n"
             "Options are those of `deltabench simulate`, plus the cpu executor's.\n\n",
    .hw_default = "a100-80gb; serve cpu, cpu-kernels: cpu",
    .executor_help = "cpu, cuda or cpu-kernels [cpu]",
    .cpu_executor_options = true,
    .default_executor = "cpu",
    .resolve = resolve,
    .executor = executor,
    .after = after,
};

int cmd_serve(int argc, char **argv) { return srv_main(&serve, argc, argv); }
