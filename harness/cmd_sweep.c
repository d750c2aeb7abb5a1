/* cmd_sweep.c: `deltabench sweep`: plan, run (here or on Slurm), run one cell, gather a grid of
 * deltabench runs described by a sweep file (harness/sweep.h, docs/sweeps.md). */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "harness/cli.h"
#include "harness/sweep.h"

#define CMD "sweep"

static void usage(void)
{
    printf(
        "usage: deltabench sweep plan FILE [--dir DIR] [--commands]\n"
        "       deltabench sweep run FILE [--dir DIR] [--backend local|slurm] [OPTIONS]\n"
        "       deltabench sweep gather FILE [--dir DIR] [--table T] [--out F.h5] [--csv F.csv]\n"
        "       deltabench sweep cell FILE --dir DIR --index I [--plan HASH]\n\n"
        "Runs a grid of deltabench runs. The sweep file (JSON, docs/sweeps.md) names a\n"
        "subcommand, its fixed options and its axes; each combination of axis values is a\n"
        "cell: one run writing DIR/cells/HASH.h5 (HASH: a hash of its command line), its\n"
        "output in DIR/logs/HASH.log. A cell is done when its run file exists: a rerun skips\n"
        "done cells and reruns failed ones.\n\n"
        "  plan      list the cells (tab-separated: cell, hash, state, one column per axis)\n"
        "  run       run every cell not done, here (a pool of processes) or as one Slurm job\n"
        "            array (sbatch --array; followed with squeue and scontrol)\n"
        "  gather    join the done cells' rows of one table into DIR/T.h5 (table 'sweep':\n"
        "            cell, the axes, the table's columns, cell_hash, git_commit, host,\n"
        "            gpu_name) and DIR/T.csv\n"
        "  cell      run cell I only (what each Slurm task runs)\n\n"
        "options (default in brackets):\n"
        "  --dir DIR          the cells' directory [FILE less .json, plus .d]\n"
        "  --commands         plan: add each cell's command line (a last column)\n"
        "  --backend B        run: local or slurm [local]\n"
        "  --jobs N           run: local: cells at once, in [1, 4096] [online cores];\n"
        "                     slurm: the array's %%N, tasks running at once [no limit]\n"
        "  --partition P      slurm: sbatch --partition [the cluster's default]\n"
        "  --time T           slurm: sbatch --time, per task [the partition's default]\n"
        "  --gres G           slurm: sbatch --gres [gpu:1 when a cell runs --device cuda or\n"
        "                     --executor cuda; none otherwise; '' for none]\n"
        "  --sbatch-arg A     slurm: one more sbatch argument (repeatable), e.g.\n"
        "                     --sbatch-arg=--account=lab\n"
        "  --setup FILE       slurm: a shell file each task sources first (module loads)\n"
        "  --poll S           slurm: seconds between squeue polls, in [0.1, 600] [2]\n"
        "  --table T          gather: the table to join [the sweep file's, else summary]\n"
        "  --out F.h5         gather: the HDF5 table [DIR/T.h5]\n"
        "  --csv F.csv        gather: the CSV copy ['-': none] [DIR/T.csv]\n"
        "  --partial          gather: only the done cells (a missing cell is an error)\n"
        "  --index I          cell: the cell's index in the plan\n"
        "  --plan HASH        cell: refuse to run when the plan's hash differs (the sweep file\n"
        "                     changed since it was submitted)\n"
        "  -q, --quiet        run, gather: no progress lines on stderr (failed cells are\n"
        "                     still reported)\n"
        "  -h, --help         this text\n\n"
        "exit status: 0 success, 1 failure (a failed cell: one line per failed cell with its log,\n"
        "then a last line), 2 usage error; cell: the cell's own exit status\n");
}

enum { O_DIR = 256, O_COMMANDS, O_BACKEND, O_JOBS, O_PARTITION, O_TIME, O_GRES, O_SBATCH_ARG,
       O_SETUP, O_POLL, O_TABLE, O_OUT, O_CSV, O_PARTIAL, O_INDEX, O_PLAN };

typedef struct {
    const char *dir, *backend, *table, *out, *csv, *plan;
    bool commands, partial, quiet;
    int64_t jobs, index;
    double poll;
    sw_slurm_opts slurm;
    char **extra;
    int nextra;
} sweep_opts;

static const char *state_name(sw_state s)
{
    return s == SW_DONE ? "done" : s == SW_FAILED ? "failed" : "pending";
}

static int do_plan(const sw_sweep *sw, const sweep_opts *o)
{
    int64_t n[3] = {0, 0, 0};
    for (int64_t i = 0; i < sw_ncells(sw); i++)
        n[sw_cell_state(sw, i)]++;
    printf("# %" PRId64 " cells in %s: %" PRId64 " done, %" PRId64 " failed, %" PRId64 " pending\n",
           sw_ncells(sw), sw_dir(sw), n[SW_DONE], n[SW_FAILED], n[SW_PENDING]);
    printf("cell\thash\tstate");
    for (int a = 0; a < sw_naxes(sw); a++)
        printf("\t%s", sw_axis_name(sw, a));
    printf(o->commands ? "\tcommand\n" : "\n");
    for (int64_t i = 0; i < sw_ncells(sw); i++) {
        printf("%" PRId64 "\t%s\t%s", i, sw_cell_hash(sw, i), state_name(sw_cell_state(sw, i)));
        for (int a = 0; a < sw_naxes(sw); a++)
            printf("\t%s", sw_cell_label(sw, i, a));
        if (o->commands) {
            printf("\tdeltabench");
            for (char *const *a = sw_cell_argv(sw, i); *a; a++)
                printf(" %s", *a);
        }
        printf("\n");
    }
    if (fflush(stdout))
        return cli_fail(CMD, db_error(DB_ERR_IO, "stdout: write error"));
    return DB_EXIT_OK;
}

static int do_run(const sw_sweep *sw, const char *exe, sweep_opts *o)
{
    sw_report rep;
    FILE *progress = o->quiet ? NULL : stderr;
    /* failed cells are reported (with their logs) even when quiet */
    db_status s;
    if (!strcmp(o->backend, "local")) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        int jobs = o->jobs ? (int)o->jobs : cores > 0 ? (int)cores : 1;
        s = sw_run_local(sw, exe, jobs, progress, stderr, &rep);
    } else {
        o->slurm.max_running = (int)o->jobs;
        o->slurm.poll_s = o->poll;
        o->slurm.extra = o->extra;
        s = sw_run_slurm(sw, exe, &o->slurm, progress, stderr, &rep);
    }
    if (s)
        return cli_fail(CMD, s);
    if (rep.failed) {
        char log[PATH_MAX + 32];
        sw_cell_path(sw, rep.first_failed, ".log", log, sizeof log);
        fprintf(stderr, "deltabench " CMD ": %s: %" PRId64 " of %" PRId64 " cells failed (first: "
                        "cell %" PRId64 ", log %s)\n",
                sw_dir(sw), rep.failed, sw_ncells(sw), rep.first_failed, log);
        return DB_EXIT_FAIL;
    }
    if (progress)
        fprintf(progress, "sweep: %" PRId64 " cells done (%" PRId64 " run now) in %s\n",
                sw_ncells(sw), rep.ran, sw_dir(sw));
    return DB_EXIT_OK;
}

static int do_cell(const sw_sweep *sw, const char *exe, const sweep_opts *o)
{
    if (o->index < 0 || o->index >= sw_ncells(sw))
        return cli_fail(CMD, db_error(DB_ERR_ARG, "%s: --index %" PRId64 ": the plan has %" PRId64
                                      " cells (0..%" PRId64 ")", sw_dir(sw), o->index,
                                      sw_ncells(sw), sw_ncells(sw) - 1));
    if (o->plan && strcmp(o->plan, sw_plan_hash(sw)))
        return cli_fail(CMD, db_error(DB_ERR_ARG, "%s: the plan's hash is %s, not %s: the sweep "
                                      "file changed since these cells were submitted",
                                      sw_dir(sw), sw_plan_hash(sw), o->plan));
    if (sw_cell_state(sw, o->index) == SW_DONE)
        return DB_EXIT_OK;
    int code = 0;
    db_status s = sw_cell_run(sw, o->index, exe, &code);
    if (s)
        return cli_fail(CMD, s);
    if (code) {
        char log[PATH_MAX + 32];
        sw_cell_path(sw, o->index, ".log", log, sizeof log);
        fprintf(stderr, "deltabench " CMD ": cell %" PRId64 " failed (exit %d): log %s\n", o->index,
                code, log);
        return code; /* the task's exit status is the cell's */
    }
    return DB_EXIT_OK;
}

static int do_gather(const sw_sweep *sw, const sweep_opts *o, int argc, char **argv)
{
    const char *table = o->table ? o->table : sw_table(sw);
    char h5[PATH_MAX + 64], csv[PATH_MAX + 64];
    snprintf(h5, sizeof h5, "%s/%s.h5", sw_dir(sw), table);
    snprintf(csv, sizeof csv, "%s/%s.csv", sw_dir(sw), table);
    const char *out = o->out ? o->out : h5;
    const char *csv_out = o->csv ? (strcmp(o->csv, "-") ? o->csv : NULL) : csv;
    int64_t rows = 0, missing = 0;
    db_status s = sw_gather(sw, table, out, csv_out, o->partial, argc, argv, cli_gpu_name(), &rows,
                            &missing);
    if (s)
        return cli_fail(CMD, s);
    if (!o->quiet)
        fprintf(stderr, "sweep: gathered %" PRId64 " rows of table %s from %" PRId64
                        " cells into %s%s%s%s\n",
                rows, table, sw_ncells(sw) - missing, out, csv_out ? " and " : "",
                csv_out ? csv_out : "",
                missing ? " (some cells not done: --partial)" : "");
    return DB_EXIT_OK;
}

int cmd_sweep(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dir", 1, 0, O_DIR},         {"commands", 0, 0, O_COMMANDS},
        {"backend", 1, 0, O_BACKEND}, {"jobs", 1, 0, O_JOBS},
        {"partition", 1, 0, O_PARTITION}, {"time", 1, 0, O_TIME},
        {"gres", 1, 0, O_GRES},       {"sbatch-arg", 1, 0, O_SBATCH_ARG},
        {"setup", 1, 0, O_SETUP},     {"poll", 1, 0, O_POLL},
        {"table", 1, 0, O_TABLE},     {"out", 1, 0, O_OUT},
        {"csv", 1, 0, O_CSV},         {"partial", 0, 0, O_PARTIAL},
        {"index", 1, 0, O_INDEX},     {"plan", 1, 0, O_PLAN},
        {"quiet", 0, 0, 'q'},         {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    /* which options each action takes */
    static const struct {
        const char *name;
        const char *opts; /* letters: index into longopts order, as O_* - O_DIR + 'a' */
    } actions[] = {{"plan", "ab"}, {"run", "acdefghijq"}, {"gather", "aklmnq"}, {"cell", "aop"}};
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage();
        return DB_EXIT_OK;
    }
    if (argc < 2)
        return cli_usage(CMD, "an action is required: plan, run, gather or cell");
    int act = -1;
    for (int i = 0; i < (int)(sizeof actions / sizeof *actions); i++)
        if (!strcmp(argv[1], actions[i].name))
            act = i;
    if (act < 0)
        return cli_usage(CMD, "unknown action '%s' (plan, run, gather, cell)", argv[1]);
    const char *action = actions[act].name;

    sweep_opts o = {.backend = "local", .index = -1, .poll = 2.0};
    char **extra = db_calloc((size_t)argc + 1, sizeof *extra);
    if (!extra)
        return cli_fail(CMD, db_error(DB_ERR_NOMEM, "out of memory"));
    o.extra = extra;
    int rc = DB_EXIT_OK, c;
    optind = 1;
    opterr = 0;
    while (rc == DB_EXIT_OK &&
           (c = getopt_long(argc - 1, argv + 1, "qh", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage();
            db_free(extra);
            return DB_EXIT_OK;
        }
        char letter = c == 'q' ? 'q' : (char)('a' + (c - O_DIR));
        if (c == '?' || c == ':') {
            rc = cli_usage(CMD, "%s: unknown option or missing value: '%s'", action,
                           argv[optind < argc - 1 ? optind : argc - 1]);
            break;
        }
        if (!strchr(actions[act].opts, letter)) {
            rc = cli_usage(CMD, "%s does not take --%s", action,
                           c == 'q' ? "quiet" : longopts[c - O_DIR].name);
            break;
        }
        switch (c) {
        case O_DIR: o.dir = optarg; break;
        case O_COMMANDS: o.commands = true; break;
        case O_BACKEND:
            if (strcmp(optarg, "local") && strcmp(optarg, "slurm"))
                rc = cli_usage(CMD, "--backend: '%s' is not local or slurm", optarg);
            o.backend = optarg;
            break;
        case O_JOBS:
            if (!cli_i64(CMD, "--jobs", optarg, 1, 4096, &o.jobs))
                rc = DB_EXIT_USAGE;
            break;
        case O_PARTITION: o.slurm.partition = optarg; break;
        case O_TIME: o.slurm.time = optarg; break;
        case O_GRES: o.slurm.gres = optarg; break;
        case O_SBATCH_ARG: extra[o.nextra++] = optarg; break;
        case O_SETUP: o.slurm.setup = optarg; break;
        case O_POLL:
            if (!cli_f64(CMD, "--poll", optarg, 0.1, 600, &o.poll))
                rc = DB_EXIT_USAGE;
            break;
        case O_TABLE: o.table = optarg; break;
        case O_OUT: o.out = optarg; break;
        case O_CSV: o.csv = optarg; break;
        case O_PARTIAL: o.partial = true; break;
        case O_INDEX:
            if (!cli_i64(CMD, "--index", optarg, 0, SW_MAX_CELLS - 1, &o.index))
                rc = DB_EXIT_USAGE;
            break;
        case O_PLAN: o.plan = optarg; break;
        case 'q': o.quiet = true; break;
        }
    }
    const char *file = NULL;
    if (rc == DB_EXIT_OK) {
        if (optind + 1 != argc - 1)
            rc = cli_usage(CMD, "%s needs exactly one sweep FILE", action);
        else
            file = argv[optind + 1];
    }
    if (rc == DB_EXIT_OK && !strcmp(action, "cell") && (o.index < 0 || !o.dir))
        rc = cli_usage(CMD, "cell needs --dir and --index");
    if (rc == DB_EXIT_OK && strcmp(o.backend, "slurm") &&
        (o.slurm.partition || o.slurm.time || o.slurm.gres || o.slurm.setup || o.nextra))
        rc = cli_usage(CMD, "--partition, --time, --gres, --setup and --sbatch-arg need "
                            "--backend slurm");
    if (rc != DB_EXIT_OK) {
        db_free(extra);
        return rc;
    }

    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    sw_sweep *sw = NULL;
    db_status s = DB_OK;
    if (n <= 0)
        s = db_error(DB_ERR_IO, "/proc/self/exe: cannot read the binary's path");
    else
        exe[n] = 0;
    if (!s)
        s = sw_load(file, o.dir, &sw);
    if (s)
        rc = cli_fail(CMD, s);
    else if (!strcmp(action, "plan"))
        rc = do_plan(sw, &o);
    else if (!strcmp(action, "run"))
        rc = do_run(sw, exe, &o);
    else if (!strcmp(action, "cell"))
        rc = do_cell(sw, exe, &o);
    else
        rc = do_gather(sw, &o, argc, argv);
    sw_free(sw);
    db_free(extra);
    return rc;
}
