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
#include <sys/resource.h>
#include <unistd.h>

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
                    "llama2-13b; serve cpu: the zoo's base; cpu-kernels: the largest in half the memory"),
        CLI_INT_OPT("tp", &o->tp, 1, 1024, "N",
                    "tensor-parallel degree per replica, in [1, profile max_gpus];\n"
                    "not given: the smallest of 1, 2, 4, ... at which the run fits",
                    "smallest that fits"),
        CLI_INT_OPT("models", &o->models, 1, SRV_MAX_MODELS, "N",
                    "models in the run, in [1, 1000000]; a trace naming\n"
                    "a model >= N is an error",
                    "largest id in the trace + 1, at most 1000000"),
        CLI_INT_OPT("max-resident", &o->max_resident, 1, 1000000, "K",
                    "swap: full models on the GPU, in [1, 1000000]; not given:\n"
                    "6, or as many as fit", "6 or fewer"),
        CLI_INT_OPT("max-deltas", &o->max_deltas, 1, 1000000, "K",
                    "deltazip/bitdelta/deltadq: delta slots on the GPU, in\n"
                    "[1, 1000000]; not given: the default, or as many as fit",
                    "deltazip 8; bitdelta, deltadq: every model"),
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
                    "tokens per iteration, in [1, 10000000]; chunked: decodes\n"
                    "and prefill chunks, at least --max-batch; whole: prefill\n"
                    "tokens only; not given: 4096 (chunked: or --max-batch\n"
                    "when larger; whole: or the trace's longest prompt, with\n"
                    "--preempt prompt + output)", "4096"),
        CLI_STR_OPT("prefill", &o->prefill, "MODE",
                    "chunked: a prompt longer than what is left of the budget\n"
                    "is prefilled in chunks over several iterations, beside\n"
                    "the decodes (vLLM, Sarathi-Serve); whole: each prompt in\n"
                    "one iteration, a prompt over --token-budget is an error",
                    "chunked"),
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
        CLI_FLAG_OPT("quiet", 'q', &o->quiet,
                     "no summary table on stdout, no chosen-defaults or progress\n"
                     "line on stderr"),
    };
    const cli_opt cpu_rows[] = {
        CLI_SECTION("cpu executor"),
        CLI_STR_OPT("zoo", &o->zoo, "DIR",
                    "zoo size directory: base/ + fine-tunes; model i of the\n"
                    "trace serves fine-tune i mod F (F fine-tunes, sorted by\n"
                    "name), each from its own file; relative to the project\n"
                    "root ($DELTABENCH_ROOT, else found above the binary)", SRV_DEFAULT_ZOO),
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
    bool hw_known = false;
    for (int i = 0; hw_profile_names[i]; i++)
        hw_known |= !strcmp(o->hw, hw_profile_names[i]);
    if (!hw_known && !strchr(o->hw, '/') && access(o->hw, F_OK) != 0) {
        int w = 0;
        for (int i = 0; hw_profile_names[i] && w < (int)sizeof names; i++)
            w += snprintf(names + w, sizeof names - (size_t)w, "%s%s", i ? ", " : "",
                          hw_profile_names[i]);
        return cli_usage(cmd, "--hw: unknown hardware profile '%s' (one of: %s; or a profile "
                              "file)",
                         o->hw, names);
    }
    if (!llama_model_find(o->model) && !strchr(o->model, '/'))
        return cli_usage(cmd, "--model: unknown model '%s' (one of: %s; or a directory with a "
                              "config.json)",
                         o->model, llama_model_names(names, sizeof names, ", "));
    if (o->prefill && strcmp(o->prefill, "whole") && strcmp(o->prefill, "chunked"))
        return cli_usage(cmd, "--prefill: '%s' is not whole or chunked", o->prefill);
    o->cfg.chunked_prefill = !o->prefill || !strcmp(o->prefill, "chunked");
    if (o->zoo_map && strcmp(o->zoo_map, "mod") && strcmp(o->zoo_map, "exact"))
        return cli_usage(cmd, "--zoo-map: '%s' is not mod or exact", o->zoo_map);
    if ((o->cfg.prefetch && !o->cfg.policy->has_prefetch) ||
        (o->cfg.preempt && !o->cfg.policy->has_preempt))
        return cli_usage(cmd, "--%s applies to the delta policies only",
                         o->cfg.prefetch && !o->cfg.policy->has_prefetch ? "prefetch" : "preempt");
    o->cfg.gpu_slots = (int)(k == POL_SWAP ? o->max_resident : o->max_deltas);
    return DB_EXIT_OK;
}

static bool is_sim(const srv_opts *o) { return !strcmp(o->executor, "sim"); }

static db_status write_results(const char *path, int argc, char **argv, const srv_opts *o,
                               const hw_profile *hw, const eng_result *r,
                               const met_breakdown_row *bd, double wall_s,
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
        (s = res_attr_str(f, "model", o->model)) != DB_OK ||
        (s = res_attr_str(f, "prefill", o->cfg.chunked_prefill ? "chunked" : "whole")) != DB_OK ||
        (s = res_attr_i64(f, "events", r->events)) != DB_OK)
        goto fail;
    /* sim: how fast the simulator ran; a real executor: requests served per wall second */
    if ((s = res_attr_f64(f, is_sim(o) ? "sim_wall_s" : "wall_s", wall_s)) != DB_OK ||
        (s = res_attr_f64(f, is_sim(o) ? "sim_requests_per_s" : "served_requests_per_wall_s",
                          wall_s > 0 ? (double)r->n_requests / wall_s : 0)) != DB_OK)
        goto fail;
    /* a real executor: the process's peak resident bytes from the OS (on cpu-kernels the
     * "device" is this process's memory: weights, deltas and buffers the executor holds) */
    struct rusage ru;
    if (!is_sim(o) && !getrusage(RUSAGE_SELF, &ru) &&
        (s = res_attr_i64(f, "peak_rss_bytes", (int64_t)ru.ru_maxrss * 1024)) != DB_OK)
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
        (s = res_table_write(f, &met_load_schema, (size_t)r->n_models, r->loads)) != DB_OK ||
        (s = res_table_write(f, &met_breakdown_schema, MET_PARTS, bd)) != DB_OK)
        goto fail;
    return res_commit(f);
fail:
    res_abort(f);
    return s;
}

/* ---- defaults that fit ---------------------------------------------------------------------- */

/* The model's name in the summary table: a named shape, or the last two parts of a model
 * directory ("medium/base"; the whole path is the root attribute `model`), or its shape when
 * even that does not fit the column. */
static void dir_model_name(const char *path, const llama_model *m, char *buf, size_t n)
{
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/')
        p[--len] = '\0';
    const char *tail = p;
    int parts = 0;
    for (size_t i = len; i-- > 0;)
        if (p[i] == '/' && ++parts == 2) {
            tail = p + i + 1;
            break;
        }
    size_t k = strlen(tail);
    if (k < n)
        memcpy(buf, tail, k + 1);
    else
        snprintf(buf, n, "C%lld-L%lld", (long long)m->C, (long long)m->L);
}

/* Which options srv_main fills itself when they are not given. */
typedef struct {
    bool tp, slots, budget;
} srv_auto;

/* The largest slot count in [1, hi] for which the run passes eng_check (0: none); the fit is
 * monotone in the slots. */
static int fit_slots(srv_opts *o, const cost_ctx *cost, const hw_profile *hw,
                     const eng_request *reqs, int64_t n, int hi)
{
    o->cfg.gpu_slots = 1;
    if (eng_check(&o->cfg, cost, hw, reqs, n) != DB_OK)
        return 0;
    int lo = 1; /* fits */
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        o->cfg.gpu_slots = mid;
        if (eng_check(&o->cfg, cost, hw, reqs, n) == DB_OK)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* Fills the options not given with values that fit the hardware: the smallest TP of 1, 2, 4, ...
 * (up to the profile's max_gpus) at which the run fits, at it the largest slot count up to the
 * policy's default, and a token budget (whole prefill: one that admits the longest prompt).
 * With everything given it only checks (eng_check), so explicit runs are unchanged. */
static db_status fit_defaults(srv_opts *o, const srv_auto *au, const llama_model *cm,
                              const cost_format *fmt, const hw_profile *hw,
                              const eng_request *reqs, int64_t n, cost_ctx *cost)
{
    if (au->budget && o->cfg.chunked_prefill) /* vLLM: at least max_num_seqs */
        o->cfg.token_budget = o->cfg.max_batch > 4096 ? o->cfg.max_batch : 4096;
    else if (au->budget) {
        int64_t need = 4096;
        for (int64_t i = 0; i < n; i++) {
            int64_t p = reqs[i].prompt_tokens;
            if (o->cfg.preempt)
                p += reqs[i].output_tokens - 1;
            if (p > need)
                need = p;
        }
        o->cfg.token_budget = need;
    }
    const int slots0 = o->cfg.gpu_slots, dflt = eng_gpu_slots(&o->cfg);
    db_status last = DB_OK;
    for (int tp = au->tp ? 1 : (int)o->tp; tp <= (au->tp ? hw->max_gpus : (int)o->tp);
         tp = tp * 2 > hw->max_gpus && tp < hw->max_gpus ? hw->max_gpus : tp * 2) {
        db_status s = cost_init(cost, cm, fmt, hw, tp);
        if (s != DB_OK)
            return s;
        o->cfg.gpu_slots = slots0;
        s = eng_check(&o->cfg, cost, hw, reqs, n);
        if (s == DB_OK) {
            o->tp = tp;
            return DB_OK;
        }
        last = s;
        if (au->slots && dflt > 1) {
            int k = fit_slots(o, cost, hw, reqs, n, dflt - 1);
            if (k > 0) {
                o->cfg.gpu_slots = k;
                o->tp = tp;
                return DB_OK;
            }
        }
    }
    o->cfg.gpu_slots = slots0;
    return last; /* the message of the last run tried: the most GPUs, the fewest slots */
}

/* Bytes this process may use: physical memory, capped by the address-space and data limits and
 * a cgroup's memory.max. */
static double memory_limit(void)
{
    double lim = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (double)rl.rlim_cur < lim)
        lim = (double)rl.rlim_cur;
    if (getrlimit(RLIMIT_DATA, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (double)rl.rlim_cur < lim)
        lim = (double)rl.rlim_cur;
    FILE *f = fopen("/sys/fs/cgroup/memory.max", "r");
    if (f) {
        double v;
        if (fscanf(f, "%lf", &v) == 1 && v > 0 && v < lim)
            lim = v;
        fclose(f);
    }
    return lim;
}

/* ---- progress of real executors ------------------------------------------------------------- */

typedef struct {
    cli_ticker tk;
} srv_progress;

static void on_progress(void *arg, int64_t done, int64_t n, double now_s)
{
    srv_progress *p = arg;
    if (cli_ticker_due(&p->tk))
        cli_ticker_line(&p->tk, "%lld of %lld requests done, %.1f s simulated, %.1f s wall",
                        (long long)done, (long long)n, now_s, cli_ticker_elapsed(&p->tk));
}

/* ---- reading the trace, printing -------------------------------------------------------------- */

/* The trace of o into *tr and the engine's requests *reqs, and its largest model id; the model
 * count inferred from it is capped as --models is. */
static db_status read_trace(const srv_opts *o, trace_table *tr, eng_request **reqs,
                            int32_t *max_model)
{
    db_status s = trace_read(o->trace, tr);
    if (s != DB_OK)
        return s;
    if (!tr->has_models)
        return db_error(DB_ERR_FORMAT, "%s: the trace has no model column (assign models with "
                                       "`deltabench trace gen --arrival replay:FILE --popularity "
                                       "...`)",
                        o->trace);
    *reqs = db_malloc_array(tr->n, sizeof **reqs);
    if (!*reqs)
        return db_error(DB_ERR_NOMEM, "%s: %zu requests", o->trace, tr->n);
    *max_model = 0;
    for (size_t i = 0; i < tr->n; i++) {
        const trace_req *t = &tr->req[i];
        (*reqs)[i] = (eng_request){t->request_id, t->arrival_s, t->model, t->prompt_tokens,
                                   t->output_tokens};
        if (t->model > *max_model)
            *max_model = t->model;
    }
    if (!o->models && *max_model >= SRV_MAX_MODELS)
        return db_error(DB_ERR_ARG, "%s: model id %d: a run has at most %d models (the --models "
                                    "cap applies to the count inferred from the trace too)",
                        o->trace, *max_model, SRV_MAX_MODELS);
    return DB_OK;
}

/* "deltabench CMD: chose --tp 2 ..." on stderr for the defaults that differ from the nominal
 * ones (tp 1, the policy's slots, budget 4096); nothing when none does. */
static void print_chosen(const char *cmd, const srv_opts *o, const srv_auto *au, int slots0,
                         const llama_model *cm, const hw_profile *hw)
{
    const int slots = eng_gpu_slots(&o->cfg);
    const bool tp = au->tp && o->tp != 1, sl = au->slots && slots != slots0,
               budget = au->budget && o->cfg.token_budget != 4096;
    if (!tp && !sl && !budget)
        return;
    fprintf(stderr, "deltabench %s: chose", cmd);
    if (tp)
        fprintf(stderr, " --tp %lld", (long long)o->tp);
    if (sl)
        fprintf(stderr, " --%s %d",
                o->cfg.policy->kind == POL_SWAP ? "max-resident" : "max-deltas", slots);
    if (budget)
        fprintf(stderr, " --token-budget %lld", (long long)o->cfg.token_budget);
    fprintf(stderr, " so that %s fits %s (give the options to override)\n", cm->name, hw->name);
}

/* The summary table, where the time went, and the footer: how fast the simulator ran, or how
 * many requests a real executor served per second of wall time. */
static void print_run(const srv_opts *o, const eng_result *res, const met_breakdown_row *bd,
                      double wall)
{
    met_print_table(stdout, &res->summary, 1);
    met_print_breakdown(stdout, bd);
    double rps = wall > 0 ? (double)res->n_requests / wall : 0;
    if (is_sim(o))
        printf("throughput = requests / makespan (last finish - first arrival); %lld events in "
               "%.3f s (%.0f requests/s simulated)\n",
               (long long)res->events, wall, rps);
    else
        printf("throughput = requests / makespan (last finish - first arrival); %lld requests "
               "served in %.1f s of wall time (%.3g requests/s)\n",
               (long long)res->n_requests, wall, rps);
}

int srv_main(const srv_command *c, int argc, char **argv)
{
    const char *cmd = c->name;
    srv_opts o;
    memset(&o, 0, sizeof o);
    eng_config_default(&o.cfg);
    o.cfg.token_budget = 0; /* 0 after parsing: not given */
    o.hw = "a100-80gb";
    o.model = "llama2-13b";
    o.executor = c->default_executor;
    o.threads = 1;
    o.seed = 1;
    int rc = parse(c, argc, argv, &o);
    if (rc < 0)
        return DB_EXIT_OK;
    if (rc != DB_EXIT_OK || (rc = c->resolve(&o)) != DB_EXIT_OK)
        return rc;
    const srv_auto au = {o.tp == 0, o.cfg.gpu_slots == 0 && o.cfg.policy->kind != POL_DEDICATED,
                         o.cfg.token_budget == 0};

    trace_table tr;
    memset(&tr, 0, sizeof tr);
    hw_profile hw;
    cost_ctx cost;
    exe_executor exe = {0};
    eng_request *reqs = NULL;
    eng_result res;
    memset(&res, 0, sizeof res);
    met_breakdown_row bd[MET_PARTS];
    db_status s;
    char cache[4200];

    if ((s = hw_profile_resolve(&hw, o.hw, cli_root_path(HW_CPU_PROFILE_CACHE, cache,
                                                         sizeof cache))) != DB_OK)
        goto fail;
    if (o.calib && (s = hw_profile_overlay(&hw, o.calib)) != DB_OK)
        goto fail;
    if (o.tp > hw.max_gpus) {
        s = db_error(DB_ERR_ARG, "--tp %lld: profile %s has at most %d GPUs per node",
                     (long long)o.tp, hw.name, hw.max_gpus);
        goto fail;
    }
    int32_t max_model = 0;
    if ((s = read_trace(&o, &tr, &reqs, &max_model)) != DB_OK)
        goto fail;
    o.cfg.n_models = o.models ? (int)o.models : max_model + 1;
    const llama_model *cm = llama_model_find(o.model);
    llama_model dir_model;
    char dir_name[sizeof res.summary.model];
    if (!cm) { /* a model directory: the shape from its config.json */
        tf_config tc;
        if ((s = tf_config_load(o.model, &tc)) != DB_OK)
            goto fail;
        dir_model = (llama_model){o.model, tc.V, tc.C, tc.F, tc.L, tc.NH, tc.NKV};
        dir_model_name(o.model, &dir_model, dir_name, sizeof dir_name);
        dir_model.name = dir_name;
        cm = &dir_model;
    }
    const cost_format *fmt = NULL;
    if (o.cfg.policy->kind == POL_DELTA)
        fmt = cost_format_find(o.format ? o.format : o.cfg.policy->default_format);
    /* The engine's tables must fit in memory before anything is allocated for them. */
    double need = eng_run_bytes(&o.cfg, (int64_t)tr.n), have = memory_limit();
    if (need > 0.9 * have) {
        s = db_error(DB_ERR_NOMEM, "%s: the run needs about %.3g GB for its tables (%d models%s, "
                                   "%zu requests); %.3g GB of memory is available",
                     o.trace, need / 1e9, o.cfg.n_models,
                     o.cfg.policy->kind == POL_DEDICATED ? ", one dedicated replica each" : "",
                     tr.n, have / 1e9);
        goto fail;
    }
    /* Every bad input is reported here, before an executor is built or anything runs. */
    const int slots0 = eng_gpu_slots(&o.cfg);
    if ((s = fit_defaults(&o, &au, cm, fmt, &hw, reqs, (int64_t)tr.n, &cost)) != DB_OK) {
        const char *msg = db_errmsg();
        if (!strncmp(msg, "request ", 8) || strstr(msg, "trace"))
            db_error(s, "%s: %s", o.trace, msg); /* name the file when the trace is at fault */
        goto fail;
    }
    if (!o.quiet)
        print_chosen(cmd, &o, &au, slots0, cm, &hw);
    const bool tty = isatty(STDERR_FILENO) == 1;
    if (!is_sim(&o) && tty && !o.quiet)
        fprintf(stderr, "deltabench %s: preparing the %s executor (%s)...\n", cmd, o.executor,
                cm->name);
    s = c->executor(&o, &cost, reqs, (int64_t)tr.n, &exe);
    if (s != DB_OK)
        goto fail;
    srv_progress prog;
    if (!is_sim(&o)) { /* real executors take minutes: say how far they are */
        cli_ticker_start(&prog.tk, cmd, tty ? 0.0 : 10.0, o.quiet);
        o.cfg.progress = on_progress;
        o.cfg.progress_arg = &prog;
    }
    double t0 = db_now();
    s = eng_run(&o.cfg, &cost, &hw, &exe, reqs, (int64_t)tr.n, &res);
    double wall = db_now() - t0;
    if (!is_sim(&o)) {
        if (prog.tk.shown && s == DB_OK) /* the last state, so the line ends at "N of N" */
            cli_ticker_line(&prog.tk, "%lld of %lld requests done, %.1f s simulated, %.1f s wall",
                            (long long)res.n_requests, (long long)res.n_requests,
                            res.summary.makespan_s, wall);
        cli_ticker_end(&prog.tk);
    }
    if (s != DB_OK)
        goto fail;
    if ((s = met_breakdown(res.requests, res.n_requests, bd)) != DB_OK)
        goto fail;
    if (c->after && (s = c->after(&o, &exe, &hw)) != DB_OK)
        goto fail;
    if (o.out && (s = write_results(o.out, argc, argv, &o, &hw, &res, bd, wall,
                                    exe_cpu_token_hash(&exe))) != DB_OK)
        goto fail;
    if (!o.quiet)
        print_run(&o, &res, bd, wall);
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
