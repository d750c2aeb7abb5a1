/* fuzz_cli.c: command-line parsing of every subcommand. The first byte picks the command; the
 * rest, split at NUL bytes, are its arguments; two unknown options end every argv, so each run
 * stops at a usage error once the options (values included) are parsed, and does no work. Runs
 * in the scratch directory; the output goes to /dev/null (libFuzzer: -close_fd_mask=3). */
#include "tests/fuzz/fuzz.h"

#include "harness/cli.h"

static const cli_fn fz_cmds[] = {cmd_inspect, cmd_export,   cmd_compress,     cmd_decompress,
                                 cmd_synth,   cmd_trace,    cmd_train,        cmd_eval,
                                 cmd_generate, cmd_distill, cmd_calib,        cmd_simulate,
                                 cmd_serve,   cmd_nightly,  cmd_bench_kernel, cmd_reproduce};
#define FZ_NCMDS (sizeof fz_cmds / sizeof fz_cmds[0])
#define FZ_MAXARGS 16

FUZZ_TARGET(cli)
{
    if (size < 1 || size > 512)
        return 0;
    if (chdir(fz_dir()) != 0)
        abort();
    char *text = fz_cstr(data + 1, size - 1);
    char *argv[FZ_MAXARGS + 4];
    int argc = 0;
    argv[argc++] = "fuzz";
    for (size_t i = 0, b = 0; i <= size - 1 && argc < FZ_MAXARGS + 1; i++)
        if (i == size - 1 || text[i] == 0) {
            if (i > b || i < size - 1)
                argv[argc++] = text + b;
            b = i + 1;
        }
    argv[argc++] = "--zz-fuzz-stop";
    argv[argc++] = "--zz-fuzz-stop";
    argv[argc] = NULL;
    int rc = fz_cmds[data[0] % FZ_NCMDS](argc, argv);
    if (rc != 0 && rc != 1 && rc != 2)
        abort();
    free(text);
    return 0;
}
