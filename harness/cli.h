/* cli.h: the subcommand table of the deltabench CLI and helpers every subcommand shares.
 *
 * Each subcommand lives in harness/cmd_<name>.c as `int cmd_<name>(int argc, char **argv)`,
 * where argv[0] is the subcommand name. Its options are one table of cli_opt rows (flag, kind,
 * range, destination, help, default) that cli_parse reads and cli_help prints, so every command
 * parses, checks ranges and shows defaults the same way. It answers --help on stdout with exit 0
 * and returns DB_EXIT_OK, DB_EXIT_FAIL (the work failed: one line on stderr) or DB_EXIT_USAGE
 * (nonsense flags: one line plus a pointer to --help). */
#ifndef DB_CLI_H
#define DB_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
int cmd_stats(int argc, char **argv);
int cmd_calib(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_simulate(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_bench_kernel(int argc, char **argv);
int cmd_nightly(int argc, char **argv);
int cmd_reproduce(int argc, char **argv);
int cmd_interval(int argc, char **argv);
int cmd_sweep(int argc, char **argv);

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

/* ---- status lines of long work -------------------------------------------------------------- */

/* A status line on stderr for work that may take long: the first once `after_s` seconds have
 * passed, then on a terminal redrawn in place at most 4 times a second, otherwise one line
 * every 10 s. Quiet: never. */
typedef struct {
    const char *cmd;
    double t0, last, after_s;
    bool tty, shown, off;
} cli_ticker;

void cli_ticker_start(cli_ticker *t, const char *cmd, double after_s, bool quiet);
/* True when a status line is due now (then call cli_ticker_line). */
bool cli_ticker_due(cli_ticker *t);
/* Prints "deltabench CMD: <text>" (redrawn on a terminal, a line otherwise). */
void cli_ticker_line(cli_ticker *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ends the redrawn line on a terminal. */
void cli_ticker_end(cli_ticker *t);
/* Seconds since cli_ticker_start. */
double cli_ticker_elapsed(const cli_ticker *t);

/* ---- the project root ----------------------------------------------------------------------- */

/* The directory defaults such as models/zoo/small and results/hw-cpu.txt are relative to:
 * $DELTABENCH_ROOT when set, else the first directory above the running binary that holds
 * the project's Makefile and traces/ (so bin/deltabench, and the build/<variant>/ binaries,
 * find them from any working directory), else ".". */
const char *cli_root(void);
/* rel resolved against cli_root() into buf (rel itself when absolute or when the root is ".");
 * returns buf. */
const char *cli_root_path(const char *rel, char *buf, size_t n);

/* ---- option tables -------------------------------------------------------------------------- */

typedef enum {
    CLI_FLAG, /* no value; sets *(bool *)dst */
    CLI_STR,  /* *(const char **)dst = the value */
    CLI_INT,  /* integers in [ilo, ihi] into int, int64_t or uint64_t */
    CLI_I64,
    CLI_U64,
    CLI_F32, /* numbers in [flo, fhi] into float or double */
    CLI_F64,
    CLI_FN, /* fn(cmd, "--name", value, dst) parses; false after it printed a usage error */
} cli_kind;

typedef bool (*cli_parse_fn)(const char *cmd, const char *opt, const char *val, void *dst);

typedef struct {
    const char *name; /* long name without "--"; NULL: a CLI_SECTION heading */
    char letter;      /* short form (-q), or 0 */
    cli_kind kind;
    void *dst;
    int64_t ilo, ihi; /* integer kinds */
    double flo, fhi;  /* float kinds */
    bool lo_open;     /* float kinds: (flo, fhi] instead of [flo, fhi] */
    cli_parse_fn fn;  /* CLI_FN */
    const char *arg;  /* the value's name in --help ("N"); NULL for a flag */
    const char *help; /* one line or several joined by '\n'; NULL: parsed, not listed */
    const char *def;  /* shown as " [def]" at the end of the help; NULL: none (required...) */
} cli_opt;

#define CLI_INT_KIND(p) _Generic((p), int *: CLI_INT, int64_t *: CLI_I64, uint64_t *: CLI_U64)
#define CLI_REAL_KIND(p) _Generic((p), float *: CLI_F32, double *: CLI_F64)

/* The rows of an option table (dst must outlive cli_parse). */
#define CLI_FLAG_OPT(nm, let, p, hlp) \
    {.name = nm, .letter = let, .kind = CLI_FLAG, .dst = (bool *)(p), .help = hlp}
#define CLI_STR_OPT(nm, p, a, hlp, d) \
    {.name = nm, .kind = CLI_STR, .dst = (const char **)(p), .arg = a, .help = hlp, .def = d}
#define CLI_INT_OPT(nm, p, lo, hi, a, hlp, d)                                              \
    {.name = nm, .kind = CLI_INT_KIND(p), .dst = (p), .ilo = (lo), .ihi = (hi), .arg = a, \
     .help = hlp, .def = d}
#define CLI_REAL_OPT(nm, p, lo, hi, a, hlp, d)                                              \
    {.name = nm, .kind = CLI_REAL_KIND(p), .dst = (p), .flo = (lo), .fhi = (hi), .arg = a, \
     .help = hlp, .def = d}
#define CLI_POS_OPT(nm, p, hi, a, hlp, d)                                                  \
    {.name = nm, .kind = CLI_REAL_KIND(p), .dst = (p), .flo = 0, .fhi = (hi), .lo_open = true, \
     .arg = a, .help = hlp, .def = d}
#define CLI_FN_OPT(nm, f, p, a, hlp, d) \
    {.name = nm, .kind = CLI_FN, .fn = (f), .dst = (p), .arg = a, .help = hlp, .def = d}

/* A heading in --help between groups of rows (parsing skips it). */
#define CLI_SECTION(title) {.name = NULL, .help = title}

#define CLI_NOPTS(t) (sizeof(t) / sizeof((t)[0]))

enum { CLI_HELP = -1 }; /* cli_parse saw -h/--help: print the usage, exit 0 */

/* Parses argv[1..] against opts: -h/--help returns CLI_HELP; an unknown option, a missing value
 * or a value out of its range prints one usage line naming the option and returns
 * DB_EXIT_USAGE; else 0. Positional arguments: with argi NULL any is an error, else *argi is the
 * index of the first (getopt permutes them to the end). */
int cli_parse(const char *cmd, int argc, char **argv, const cli_opt *opts, size_t n, int *argi);

/* Parses val into o's destination as cli_parse does for a given option (range checked, the
 * usage error printed); for values applied after parsing (compress's method parameters). */
bool cli_apply(const char *cmd, const cli_opt *o, const char *val);

/* Prints "options (default in brackets):" and one entry per row, "-h, --help" last. */
void cli_help(FILE *out, const cli_opt *opts, size_t n);

#endif
