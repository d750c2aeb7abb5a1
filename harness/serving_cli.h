/* serving_cli.h: the command line that `simulate` and `serve` share (harness/serving_cli.c).
 *
 * Both commands run a trace through serve/'s engine with the same options; they differ only in
 * their executors. Each is one srv_command row: its help paragraphs, how it checks and defaults
 * the executor options, how it builds the executor, and what it writes after the run. */
#ifndef DB_SERVING_CLI_H
#define DB_SERVING_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "serve/engine.h"

#define SRV_DEFAULT_ZOO "models/zoo/small" /* under the project root (cli_root) */
#define SRV_MAX_MODELS 1000000              /* --models, given or inferred from the trace */

/* The parsed options of a run (NULL / 0: not given). */
typedef struct {
    const char *trace, *system, *hw, *calib, *model, *format, *executor, *out, *prefill;
    const char *zoo, *zoo_map, *work_dir, *calib_out; /* serve --executor cpu only */
    int64_t tp, models, max_resident, max_deltas, threads, seed;
    bool model_set, hw_set;
    bool quiet;
    char zoo_base[4200]; /* "<zoo>/base": the cpu executor's model */
    char zoo_dflt[4200]; /* SRV_DEFAULT_ZOO under the project root */
    eng_config cfg;
} srv_opts;

typedef struct srv_command {
    const char *name;             /* "simulate", "serve": messages and --help */
    const char *intro;            /* --help paragraph after the usage line */
    const char *hw_default;       /* --help: the --hw default */
    const char *executor_help;    /* --help: the --executor line */
    bool cpu_executor_options;    /* --help lists the cpu executor's options (zoo, threads...) */
    const char *default_executor; /* --executor when not given */
    /* Checks the executor and its options, fills their defaults; DB_EXIT_OK or a usage error
     * (cli_usage). */
    int (*resolve)(srv_opts *o);
    /* Builds the executor for the checked trace and cost model. */
    db_status (*executor)(const srv_opts *o, const cost_ctx *cost, const eng_request *reqs,
                          int64_t n, exe_executor *exe);
    /* After a successful run, before the results are written (NULL: nothing). */
    db_status (*after)(const srv_opts *o, const exe_executor *exe, const hw_profile *hw);
} srv_command;

/* Runs command c: parse, check, build, run, write; returns the process exit status. */
int srv_main(const srv_command *c, int argc, char **argv);

#endif
