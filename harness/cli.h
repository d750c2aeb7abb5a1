/* cli.h: the subcommand table of the deltabench CLI and helpers every subcommand shares.
 *
 * Each subcommand lives in harness/cmd_<name>.c as `int cmd_<name>(int argc, char **argv)`,
 * where argv[0] is the subcommand name; it parses with getopt_long, answers --help on stdout with
 * exit 0, and returns DB_EXIT_OK, DB_EXIT_FAIL (the work failed: one line on stderr) or
 * DB_EXIT_USAGE (nonsense flags: one line plus a pointer to --help). */
#ifndef DB_CLI_H
#define DB_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

enum { DB_EXIT_OK = 0, DB_EXIT_FAIL = 1, DB_EXIT_USAGE = 2 };

typedef int (*cli_fn)(int argc, char **argv);

typedef struct {
    const char *name;
    const char *summary; /* one line for `deltabench --help` */
    cli_fn run;
} cli_command;

/* Subcommands (one row each in harness/main.c). */
int cmd_inspect(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_compress(int argc, char **argv);
int cmd_decompress(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_distill(int argc, char **argv);
int cmd_calib(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_bench_kernel(int argc, char **argv);
int cmd_nightly(int argc, char **argv);
int cmd_reproduce(int argc, char **argv);

/* Prints "deltabench CMD: <last error message>" and returns DB_EXIT_FAIL. */
int cli_fail(const char *cmd, db_status s);
/* Prints "deltabench CMD: <message>" and "Try 'deltabench CMD --help'."; returns DB_EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The name of CUDA device 0 for a result file's gpu_name ("none" without a device or a CUDA
 * build); asked once per process, never an error. */
const char *cli_gpu_name(void);

/* Strict number parsing for option values: the whole string must be a number within [lo, hi].
 * On failure prints a usage error naming the option and returns false. */
bool cli_i64(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out);
bool cli_f64(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);

#endif
