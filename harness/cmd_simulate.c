/* cmd_simulate.c: `deltabench simulate`: a trace through a serving policy on the `sim` executor,
 * whose iteration and load times come from the cost model over a hardware profile. The options,
 * checks and output are the ones `serve` shares (harness/serving_cli.c). */
#include <string.h>

#include "harness/cli.h"
#include "harness/serving_cli.h"

static int resolve(srv_opts *o)
{
    if (strcmp(o->executor, "sim"))
        return cli_usage("simulate", "--executor: '%s' is not one of sim (use `deltabench "
                                     "serve` for cpu, cuda, cpu-kernels)", o->executor);
    if (o->zoo || o->zoo_map || o->work_dir || o->calib_out)
        return cli_usage("simulate", "--zoo, --zoo-map, --work-dir and --calib-out apply to "
                                     "`serve --executor cpu` only");
    return DB_EXIT_OK;
}

static db_status executor(const srv_opts *o, const cost_ctx *cost, const eng_request *reqs,
                          int64_t n, exe_executor *exe)
{
    (void)o, (void)reqs, (void)n;
    return exe_sim_init(exe, cost);
}

static const srv_command simulate = {
    .name = "simulate",
    .intro = "Simulates serving a request trace (deltabench CSV or HDF5) with policy S: an\n"
             "event engine with continuous batching whose iteration and load times come from a\n"
             "roofline cost model over a hardware profile. docs/serving.md has the formulas.\n\n",
    .hw_default = "a100-80gb",
    .executor_help = "sim (the only executor of simulate) [sim]",
    .cpu_executor_options = false,
    .default_executor = "sim",
    .resolve = resolve,
    .executor = executor,
};

int cmd_simulate(int argc, char **argv) { return srv_main(&simulate, argc, argv); }
