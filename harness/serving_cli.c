/* serving_cli.c: what `deltabench simulate` (harness/cmd_simulate.c) and `deltabench serve`
 * (harness/cmd_serve.c) share: their options, the checks, the run and its output. One summary
 * table on stdout, all tables in one HDF5 file. Each command is an srv_command row that says
 * only what differs: its help paragraphs, its executors and how they are built.
 *
 * srv_main reads top to bottom: options, checks (every bad input fails here, before anything
 * runs), the cost model and executor, the run, the output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "harness/cli.h"
#include "core/results.h"
#include "harness/serving_cli.h"
#include "models/tf.h"
#include "workloads/trace.h"


static void usage(const srv_command *c, const cli_opt *opts, size_t n)
{
    printf("usage: deltabench %s --trace FILE --system S [OPTIONS] [--out RES.h5]\n\n", c->name);
    fputs(c->intro, stdout);
    cli_help(stdout, opts, n);
    printf("\nexit status: 0 success, 1 failure (one line on stderr), 2 usage error\n");
}

/* The option table of command c into opts (at most cap rows); the help texts that name tables
 * (policies, models) are built into buf. Returns the row count. */
static size_t srv_rows(const srv_command *c, srv_opts *o, cli_opt *opts, size_t cap, char *buf,
                       size_t bufsz)
{
    char *sys_help = buf, *model_help = buf + bufsz / 2;
    int k = snprintf(sys_help, bufsz / 2, "serving policy:");
    for (int i = 0; i < pol_count && k > 0 && (size_t)k < bufsz / 2; i++)
        k += snprintf(sys_help + k, bufsz / 2 - (size_t)k, "\n  %-10s %s", pol_table[i].name,
                      pol_table[i].summary);
    char names[256];
    snprintf(model_help, bufsz / 2, "model shape: %s,\nor a model directory (its config.json, e.g. a "
             "zoo base)", llama_model_names(names, sizeof names, ", "));
    const cli_opt rows[] = {
        CLI_STR_OPT("trace", &o->trace, "FILE",
                    "request trace (request_id,arrival_s,model,prompt_tokens,\n"
                    "output_tokens)", "required"),
        CLI_STR_OPT("system", &o->system, "S", sys_help, "required"),
        CLI_STR_OPT("hw", &o->hw, "H",
                    "hardware profile: a100-80gb, h100-sxm (calibrated on\n"
                    "measured GPU timings), h200, rtx3090 (extrapolated from them),\n"
                    "<name>-datasheet (datasheet only), cpu (this machine, measured\n"
                    "once and cached in " HW_CPU_PROFILE_CACHE "), or a profile file",
                    c->hw_default),
        CLI_STR_OPT("calib", &o->calib, "FILE",
                    "calibration overlay applied over the profile's own (eff.* keys)\n"
                    "written by `bench-kernel --calib-out`, `serve --executor cpu\n"
                    "--calib-out` or `calibrate --out`", "none"),
        CLI_STR_OPT("model", &o->model, "M", model_help,
                    "simulate: llama2-13b; serve cpu: the zoo's base"),
        CLI_INT_OPT("tp", &o->tp, 1, 1024, "N",
                    "tensor-parallel degree per replica, in [1, profile max_gpus]", "1"),
        CLI_INT_OPT("models", &o->models, 1, 1000000, "N",
                    "models in the run, in [1, 1000000]; a trace naming\n"
                    "a model >= N is an error", "largest id in the trace + 1"),
        CLI_INT_OPT("max-resident", &o->max_resident, 1, 1000000, "K",
                    "swap: full models on the GPU, in [1, 1000000]", "6"),
        CLI_INT_OPT("max-deltas", &o->max_deltas, 1, 1000000, "K",
                    "deltazip/bitdelta/deltadq: delta slots on the GPU, in\n"
                    "[1, 1000000]", "deltazip 8; bitdelta, deltadq: every model"),
        CLI_STR_OPT("delta-format", &o->format, "F",
                    "delta format: fp16, int4, 4bit-2:4, 2bit-2:4, bitdelta,\n"
                    "deltadq-16x, deltadq-32x",
                    "deltazip 4bit-2:4, bitdelta bitdelta, deltadq deltadq-16x"),
        CLI_FLAG_OPT("prefetch", 0, &o->cfg.prefetch,
                     "delta policies: read a queued request's delta from disk into\n"
                     "host memory as soon as it arrives [off]"),
        CLI_FLAG_OPT("preempt", 0, &o->cfg.preempt,
                     "delta policies: when the oldest waiting request has waited\n"
                     "--preempt-after seconds for a slot, preempt the running\n"
                     "requests of one delta (recomputed later) [off]"),
        CLI_REAL_OPT("preempt-after", &o->cfg.preempt_after_s, 0, 1e6, "S",
                     "seconds, in [0, 1e6]", "1"),
        CLI_INT_OPT("max-batch", &o->cfg.max_batch, 1, 65536, "N",
                    "running requests per replica, in [1, 65536]", "256"),
        CLI_INT_OPT("token-budget", &o->cfg.token_budget, 1, 10000000, "N",
                    "prefill tokens per iteration, in [1, 10000000]", "4096"),
        CLI_INT_OPT("kv-block", &o->cfg.kv_block, 1, 4096, "N",
                    "tokens per KV-cache block, in [1, 4096]", "16"),
        CLI_REAL_OPT("gpu-util", &o->cfg.gpu_util, 1e-9, 1, "F",
                     "share of GPU memory for weights + KV, in (0, 1]", "0.9"),
        CLI_REAL_OPT("host-util", &o->cfg.host_util, 0, 1, "F",
                     "share of host memory for the host cache, in [0, 1]", "0.8"),
        CLI_REAL_OPT("mem-interval", &o->cfg.mem_interval_s, 0, 1e6, "S",
                     "memory timeline period, s, in [0, 1e6] (0: start/end)", "1"),
        CLI_STR_OPT("executor", &o->executor, "E", c->executor_help, c->default_executor),
        CLI_STR_OPT("out", &o->out, "FILE",
                    "HDF5 result (tables requests, summary, slo, memory, loads);\n"
                    "written only when the run succeeds", "none"),
        CLI_FLAG_OPT("quiet", 'q', &o->quiet, "no summary table on stdout"),
    };
    const cli_opt cpu_rows[] = {
        CLI_SECTION("cpu executor"),
        CLI_STR_OPT("zoo", &o->zoo, "DIR",
                    "zoo size directory: base/ + fine-tunes; model i of the\n"
                    "trace serves fine-tune i mod F (F fine-tunes, sorted by\n"
                    "name), each from its own file", SRV_DEFAULT_ZOO),
        CLI_STR_OPT("zoo-map", &o->zoo_map, "MAP", "mod, or exact (model ids >= F are an error)",
                    "mod"),
        CLI_STR_OPT("work-dir", &o->work_dir, "DIR", "keep the per-model delta files here",
                    "a temporary directory under $TMPDIR, removed at exit"),
        CLI_INT_OPT("threads", &o->threads, 1, 256, "N",
                    "threads of the forward (cpu-kernels: of the kernels),\n"
                    "in [1, 256]", "1"),
        CLI_INT_OPT("seed", &o->seed, 0, INT64_MAX, "N",
                    "seed of the random prompt tokens (kernel executors: of\n"
                    "the random weights)", "1"),
        CLI_STR_OPT("calib-out", &o->calib_out, "FILE",
                    "fit the cost model to the measured iterations and loads\n"
                    "and write a --calib overlay for `simulate --hw cpu`", "none"),
    };
    size_t n = 0;
    for (size_t i = 0; i < CLI_NOPTS(rows) && n < cap; i++)
        opts[n++] = rows[i];
    /* simulate parses them too (its resolve names them in its refusal) but does not list them */
    for (size_t i = c->cpu_executor_options ? 0 : 1; i < CLI_NOPTS(cpu_rows) && n < cap; i++) {
        opts[n] = cpu_rows[i];
        if (!c->cpu_executor_options)
            opts[n].help = NULL;
        n++;
    }
    return n;
}

static int parse(const srv_command *cmd_row, int argc, char **argv, srv_opts *o)
{
    const char *cmd = cmd_row->name;
    cli_opt opts[40];
    char buf[4096];
    size_t n = srv_rows(cmd_row, o, opts, CLI_NOPTS(opts), buf, sizeof buf);
    const char *hw0 = o->hw, *model0 = o->model;
    int rc = cli_parse(cmd, argc, argv, opts, n, NULL);
    if (rc == CLI_HELP) {
        usage(cmd_row, opts, n);
        return -1;
    }
    if (rc)
        return rc;
    o->hw_set = o->hw != hw0;
    o->model_set = o->model != model0;
    if (!o->trace)
        return cli_usage(cmd, "--trace FILE is required");
    if (!o->system)
        return cli_usage(cmd, "--system is required");
    o->cfg.policy = pol_find(o->system);
    if (!o->cfg.policy)
        return cli_usage(cmd, "--system: unknown policy '%s'", o->system);
    pol_kind k = o->cfg.policy->kind;
    if (o->max_resident && k != POL_SWAP)
        return cli_usage(cmd, "--max-resident applies to --system swap only");
    if (o->max_deltas && k != POL_DELTA)
        return cli_usage(cmd, "--max-deltas applies to the delta policies only");
    if (o->format && k != POL_DELTA)
        return cli_usage(cmd, "--delta-format applies to the delta policies only");
    if (o->format && !cost_format_find(o->format))
        return cli_usage(cmd, "--delta-format: unknown format '%s'", o->format);
    char names[256];
    if (!llama_model_find(o->model) && !strchr(o->model, '/'))
        return cli_usage(cmd, "--model: unknown model '%s' (one of: %s; or a directory with a "
                              "config.json)",
                         o->model, llama_model_names(names, sizeof names, ", "));
    if (o->zoo_map && strcmp(o->zoo_map, "mod") && strcmp(o->zoo_map, "exact"))
        return cli_usage(cmd, "--zoo-map: '%s' is not mod or exact", o->zoo_map);
    if ((o->cfg.prefetch && !o->cfg.policy->has_prefetch) ||
        (o->cfg.preempt && !o->cfg.policy->has_preempt))
        return cli_usage(cmd, "--%s applies to the delta policies only",
                         o->cfg.prefetch && !o->cfg.policy->has_prefetch ? "prefetch" : "preempt");
    o->cfg.gpu_slots = (int)(k == POL_SWAP ? o->max_resident : o->max_deltas);
    return DB_EXIT_OK;
}

static db_status write_results(const char *path, int argc, char **argv, const srv_opts *o,
                               const hw_profile *hw, const eng_result *r, double wall_s,
                               uint64_t token_hash)
{
    res_run_info info = {argc, argv, (uint64_t)o->seed, cli_gpu_name()};
    res_file *f;
    db_status s = res_create(path, &info, &f);
    if (s != DB_OK)
        return s;
    char buf[64];
    if ((s = res_attr_str(f, "trace", o->trace)) != DB_OK ||
        (s = res_attr_str(f, "system", o->system)) != DB_OK ||
        (s = res_attr_str(f, "executor", r->summary.executor)) != DB_OK ||
        (s = res_attr_str(f, "hw", r->summary.hw)) != DB_OK ||
        (s = res_attr_str(f, "hw_calibration", hw->calib[0] ? hw->calib : "none (datasheet)")) != DB_OK ||
        (s = res_attr_str(f, "model", r->summary.model)) != DB_OK ||
        (s = res_attr_i64(f, "events", r->events)) != DB_OK ||
        (s = res_attr_f64(f, "sim_wall_s", wall_s)) != DB_OK ||
        (s = res_attr_f64(f, "sim_requests_per_s", wall_s > 0 ? (double)r->n_requests / wall_s : 0)) != DB_OK)
        goto fail;
    snprintf(buf, sizeof buf, "requests / makespan (last finish - first arrival)");
    if ((s = res_attr_str(f, "throughput_definition", buf)) != DB_OK)
        goto fail;
    if (token_hash) {
        snprintf(buf, sizeof buf, "%016llx", (unsigned long long)token_hash);
        if ((s = res_attr_str(f, "generated_tokens_hash", buf)) != DB_OK ||
            (s = res_attr_str(f, "zoo", o->zoo)) != DB_OK)
            goto fail;
    }
    if ((s = res_table_write(f, &met_request_schema, (size_t)r->n_requests, r->requests)) != DB_OK ||
        (s = res_table_write(f, &met_summary_schema, 1, &r->summary)) != DB_OK ||
        (s = res_table_write(f, &met_slo_schema, MET_SLO_COUNT, r->slo)) != DB_OK ||
        (s = res_table_write(f, &met_memory_schema, (size_t)r->n_memory, r->memory)) != DB_OK ||
        (s = res_table_write(f, &met_load_schema, (size_t)r->n_models, r->loads)) != DB_OK)
        goto fail;
    return res_commit(f);
fail:
    res_abort(f);
    return s;
}

int srv_main(const srv_command *c, int argc, char **argv)
{
    const char *cmd = c->name;
    srv_opts o;
    memset(&o, 0, sizeof o);
    eng_config_default(&o.cfg);
    o.hw = "a100-80gb";
    o.model = "llama2-13b";
    o.executor = c->default_executor;
    o.tp = 1;
    o.threads = 1;
    o.seed = 1;
    int rc = parse(c, argc, argv, &o);
    if (rc < 0)
        return DB_EXIT_OK;
    if (rc != DB_EXIT_OK || (rc = c->resolve(&o)) != DB_EXIT_OK)
        return rc;

    trace_table tr;
    memset(&tr, 0, sizeof tr);
    hw_profile hw;
    cost_ctx cost;
    exe_executor exe = {0};
    eng_request *reqs = NULL;
    eng_result res;
    memset(&res, 0, sizeof res);
    db_status s;

    if ((s = hw_profile_resolve(&hw, o.hw, HW_CPU_PROFILE_CACHE)) != DB_OK)
        goto fail;
    if (o.calib && (s = hw_profile_overlay(&hw, o.calib)) != DB_OK)
        goto fail;
    if (o.tp > hw.max_gpus) {
        s = db_error(DB_ERR_ARG, "--tp %lld: profile %s has at most %d GPUs per node",
                     (long long)o.tp, hw.name, hw.max_gpus);
        goto fail;
    }
    if ((s = trace_read(o.trace, &tr)) != DB_OK)
        goto fail;
    if (!tr.has_models) {
        s = db_error(DB_ERR_FORMAT, "%s: the trace has no model column (assign models with "
                                    "`deltabench trace gen --arrival replay:FILE --popularity ...`)",
                     o.trace);
        goto fail;
    }
    reqs = db_malloc_array(tr.n, sizeof *reqs);
    if (!reqs) {
        s = db_error(DB_ERR_NOMEM, "%s: %zu requests", o.trace, tr.n);
        goto fail;
    }
    int32_t max_model = 0;
    for (size_t i = 0; i < tr.n; i++) {
        const trace_req *t = &tr.req[i];
        reqs[i] = (eng_request){t->request_id, t->arrival_s, t->model, t->prompt_tokens,
                                t->output_tokens};
        if (t->model > max_model)
            max_model = t->model;
    }
    o.cfg.n_models = o.models ? (int)o.models : max_model + 1;
    const llama_model *cm = llama_model_find(o.model);
    llama_model dir_model;
    if (!cm) { /* a model directory: the shape from its config.json */
        tf_config tc;
        if ((s = tf_config_load(o.model, &tc)) != DB_OK)
            goto fail;
        dir_model = (llama_model){o.model, tc.V, tc.C, tc.F, tc.L, tc.NH, tc.NKV};
        cm = &dir_model;
    }
    const cost_format *fmt = NULL;
    if (o.cfg.policy->kind == POL_DELTA)
        fmt = cost_format_find(o.format ? o.format : o.cfg.policy->default_format);
    if ((s = cost_init(&cost, cm, fmt, &hw, (int)o.tp)) != DB_OK)
        goto fail;
    /* Every bad input is reported here, before an executor is built or anything runs. */
    if ((s = eng_check(&o.cfg, &cost, &hw, reqs, (int64_t)tr.n)) != DB_OK) {
        const char *msg = db_errmsg();
        if (!strncmp(msg, "request ", 8) || strstr(msg, "trace"))
            db_error(s, "%s: %s", o.trace, msg); /* name the file when the trace is at fault */
        goto fail;
    }
    s = c->executor(&o, &cost, reqs, (int64_t)tr.n, &exe);
    if (s != DB_OK)
        goto fail;
    double t0 = db_now();
    s = eng_run(&o.cfg, &cost, &hw, &exe, reqs, (int64_t)tr.n, &res);
    double wall = db_now() - t0;
    if (s != DB_OK)
        goto fail;
    if (c->after && (s = c->after(&o, &exe, &hw)) != DB_OK)
        goto fail;
    if (o.out && (s = write_results(o.out, argc, argv, &o, &hw, &res, wall,
                                    exe_cpu_token_hash(&exe))) != DB_OK)
        goto fail;
    if (!o.quiet) {
        met_print_table(stdout, &res.summary, 1);
        printf("throughput = requests / makespan (last finish - first arrival); %lld events in "
               "%.3f s (%.0f requests/s simulated)\n",
               (long long)res.events, wall, wall > 0 ? (double)res.n_requests / wall : 0);
    }
    rc = DB_EXIT_OK;
    if (fflush(stdout) != 0)
        rc = cli_fail(cmd, db_error(DB_ERR_IO, "stdout: write error"));
    eng_result_free(&res);
    exe_free(&exe);
    db_free(reqs);
    trace_table_free(&tr);
    return rc;
fail:
    eng_result_free(&res);
    exe_free(&exe);
    db_free(reqs);
    trace_table_free(&tr);
    return cli_fail(cmd, s);
}
