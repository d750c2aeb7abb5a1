/* main.c: the deltabench command line: a table of subcommands, --help and --version.
 *
 * Reads top to bottom: the table, the top-level usage, dispatch. Each subcommand parses its own
 * options (harness/cmd_*.c) and returns 0 ok, 1 failure, 2 usage error. */
#include <stdio.h>
#include <string.h>

#include "core/version.h"
#include "harness/cli.h"
#include "kernels/device.h"

static const cli_command commands[] = {
    {"inspect", "describe a safetensors file (tensors, dtypes, shapes, metadata) or an HDF5 result",
     cmd_inspect},
    {"export", "print a table of an HDF5 result file as CSV", cmd_export},
    {"compress", "compress a fine-tuned checkpoint's delta against its base (one method)",
     cmd_compress},
    {"decompress", "rebuild a fine-tuned checkpoint from its base and a compressed delta",
     cmd_decompress},
    {"synth", "write a synthetic base/fine-tuned pair with real Llama names and shapes", cmd_synth},
    {"trace", "generate a request trace (arrivals, popularity, lengths) or summarise one",
     cmd_trace},
    {"train", "train or fine-tune a small Llama-architecture model on a task", cmd_train},
    {"eval", "score a model (or base + compressed delta) on a task: bits/byte, accuracy", cmd_eval},
    {"generate", "print a model's continuation of a prompt", cmd_generate},
    {"distill", "BitDelta scale distillation of a bitdelta delta (logit MSE, scales only)",
     cmd_distill},
    {"stats", "distribution statistics of a delta per linear tensor (kurtosis, tails, spreads)",
     cmd_stats},
    {"calib", "measure a model's per-layer Hessians (2/n X^T X) into a calibration file",
     cmd_calib},
    {"calibrate", "fit the cost model's GPU terms to measured GPU timings (overlay, error tables)",
     cmd_calibrate},
    {"simulate", "simulate serving a trace with a policy (dedicated, swap, deltazip, ...)", cmd_simulate},
    {"serve", "serve a trace for real on the cpu or cuda executor", cmd_serve},
    {"bench-kernel", "time a delta kernel (CPU or GPU) against the measured copy bandwidth",
     cmd_bench_kernel},
    {"nightly", "nightly regression history: record a run, check it, render the dashboard",
     cmd_nightly},
    {"reproduce", "run an entry of the reproduction registry (figure, paper.md section)",
     cmd_reproduce},
    {"interval", "confidence interval of a rate, mean, ratio of medians or gain kept (for scripts)",
     cmd_interval},
    {"sweep", "run a grid of runs here or on a Slurm cluster, and gather it into one table", cmd_sweep},
};
static const size_t ncommands = sizeof commands / sizeof commands[0];

static void usage(FILE *out)
{
    fprintf(out, "usage: deltabench [--help] [--version] COMMAND [ARGS...]\n\n"
                 "Delta-compression benchmark harness: compress fine-tuned LLM deltas, measure\n"
                 "kernels and serving, reproduce the DeltaZip, BitDelta and DeltaDQ claims.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < ncommands; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'deltabench COMMAND --help' describes a command's options.\n"
                 "exit status: 0 success, 1 failure, 2 usage error\n");
}

static void version(void)
{
    printf("deltabench %s (commit %s, CUDA %s)\n", DB_VERSION, db_git_commit(),
           device_cuda_built() ? "built in" : "not built");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return DB_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
        if (argc > 2 && strcmp(name, "help") == 0) { /* `deltabench help CMD` = `CMD --help` */
            for (size_t i = 0; i < ncommands; i++)
                if (!strcmp(argv[2], commands[i].name)) {
                    char *av[] = {argv[2], "--help", NULL};
                    return commands[i].run(2, av);
                }
        }
        usage(stdout);
        return DB_EXIT_OK;
    }
    if (!strcmp(name, "--version") || !strcmp(name, "-V")) {
        version();
        return DB_EXIT_OK;
    }
    for (size_t i = 0; i < ncommands; i++)
        if (!strcmp(name, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "deltabench: unknown command '%s'\nTry 'deltabench --help'.\n", name);
    return DB_EXIT_USAGE;
}
