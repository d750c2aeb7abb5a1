/* cmd_nightly.c: `deltabench nightly record|check|dashboard`: append a run's metrics to the
 * nightly history, judge the latest run with the noise-aware regression rule, render the static
 * dashboard. The logic is in harness/nightly.c (rule) and harness/nightly_dash.c (page);
 * scripts/nightly.sh runs the suite around these commands (`make nightly`).
 *
 * Exit status: 0 ok, 1 failure (one line naming the file), 2 usage error, 3 (check and
 * dashboard with --fail-on-regression) a confirmed regression, one stderr line per metric. */
#include <getopt.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/version.h"
#include "harness/cli.h"
#include "harness/nightly.h"

enum { NT_EXIT_REGRESSION = 3 };

static void usage_top(void)
{
    printf("usage: deltabench nightly record --history H.h5 --metrics RUN.tsv [options]\n"
           "       deltabench nightly check --history H.h5 [options]\n"
           "       deltabench nightly dashboard --history H.h5 --out DIR [options]\n\n"
           "The nightly regression history (one HDF5 table, one row per metric per run) and\n"
           "its noise-aware rule; `make nightly` (scripts/nightly.sh) runs the suite and these.\n\n"
           "  record     append one run's metrics to the history\n"
           "  check      judge the latest run; exit 3 on a confirmed regression\n"
           "  dashboard  write DIR/index.html and one gnuplot SVG trend plot per metric group\n\n"
           "'deltabench nightly CMD --help' lists the options; docs/nightly.md has the rule.\n"
           "exit status: 0 ok, 1 failure, 2 usage error, 3 confirmed regression\n");
}

static void usage_record(void)
{
    printf("usage: deltabench nightly record --history H.h5 --metrics RUN.tsv [options]\n\n"
           "Appends the metrics of one run to the history H.h5 (created when missing) as run\n"
           "number last + 1. The history is rewritten under a temporary name and renamed, so a\n"
           "failure leaves it as it was. RUN.tsv has one metric per line, tab-separated:\n"
           "  metric value unit direction kind repeats spread source\n"
           "  metric     GROUP/NAME (the group picks the trend plot)\n"
           "  direction  lower | higher (is better) | none (any change counts)\n"
           "  kind       perf (noise rule) | tight (relative tolerance) | exact\n"
           "  repeats    measurements behind value (their median), >= 1\n"
           "  spread     (max - min) / median of those measurements, >= 0\n"
           "  source     the HDF5 result the value came from (linked from the dashboard)\n"
           "Lines starting with '#' and blank lines are skipped.\n\n"
           "options (default in brackets):\n"
           "  --history H.h5   the history file (required)\n"
           "  --metrics FILE   the run's metrics (required)\n"
           "  --commit C       commit measured [the binary's: %s]\n"
           "  --machine M      machine name [this host's name]\n"
           "  --date D         ISO 8601 date of the run [now, UTC]\n"
           "  -h, --help       this text\n",
           db_git_commit());
}

static void usage_rule(void)
{
    nt_rule r;
    nt_rule_defaults(&r);
    printf("  --machine M        machine whose series are judged [that of the latest run]\n"
           "  --window N         previous runs in the rolling median, 1..1000 [%d]\n"
           "  --min-history N    perf: fewer previous runs is 'short history', 1..window [%d]\n"
           "  --rel F            perf: relative threshold, 0..100 [%g]\n"
           "  --k K              perf: multiple of 1.4826 MAD the change must also exceed [%g]\n"
           "  --confirm N        perf: consecutive flagged runs that confirm, 1..100 [%d]\n"
           "  --tight F          tight: relative tolerance, 0..1 [%g] (exact: any change)\n",
           r.window, r.min_history, r.rel, r.k, r.confirm, r.tight);
}

static void usage_check(void)
{
    printf("usage: deltabench nightly check --history H.h5 [options]\n\n"
           "Judges the latest point of every metric of one machine: against the median of the\n"
           "previous --window runs, a perf metric is flagged when it is worse by more than --rel\n"
           "AND by more than --k robust sigmas (1.4826 MAD), confirmed after --confirm flagged\n"
           "runs in a row; tight metrics are flagged beyond --tight, exact ones on any change,\n"
           "both confirmed at once. Prints one line per metric (regressions first) on stdout and\n"
           "one line per confirmed regression on stderr: metric, change, since which commit.\n\n"
           "options (default in brackets):\n"
           "  --history H.h5     the history file (required)\n");
    usage_rule();
    printf("  --fail-on KINDS    kinds whose confirmed regressions exit 3: a comma list of\n"
           "                     perf, tight, exact, or none; the others are printed as\n"
           "                     warnings [perf,tight,exact]\n"
           "  -q, --quiet        no table on stdout\n"
           "  -h, --help         this text\n\n"
           "exit status: 0 no confirmed regression, 1 failure, 2 usage error, 3 regression\n");
}

static void usage_dashboard(void)
{
    printf("usage: deltabench nightly dashboard --history H.h5 --out DIR [options]\n\n"
           "Writes DIR/index.html (confirmed regressions at the top, then every metric: status,\n"
           "last value, baseline, change, sparkline, commit, link to its HDF5 source) and\n"
           "DIR/plots/GROUP.svg + GROUP.gp (gnuplot trend plot per metric group). The page has\n"
           "no external assets: open it from disk.\n\n"
           "options (default in brackets):\n"
           "  --history H.h5     the history file (required)\n"
           "  --out DIR          output directory, created when missing (required)\n");
    usage_rule();
    printf("  --runs N           runs drawn in plots and sparklines, 2..10000 [60]\n"
           "  --gnuplot G        gnuplot executable [gnuplot]\n"
           "  --fail-on-regression  exit 3 after writing when a regression is confirmed\n"
           "  --fail-on KINDS    with --fail-on-regression: the kinds that count (as check)\n"
           "  -h, --help         this text\n");
}

/* ---- shared parsing ------------------------------------------------------------------------ */

enum {
    O_HISTORY = 1000, O_METRICS, O_COMMIT, O_MACHINE, O_DATE, O_WINDOW, O_MINHIST, O_REL, O_K,
    O_CONFIRM, O_TIGHT, O_OUT, O_RUNS, O_GNUPLOT, O_FAIL, O_FAILON
};

/* Kinds whose confirmed regressions fail the check (bit set by kind). */
enum { FAIL_PERF = 1, FAIL_TIGHT = 2, FAIL_EXACT = 4, FAIL_ALL = 7 };

typedef struct {
    const char *history, *metrics, *commit, *machine, *date, *out, *gnuplot;
    nt_rule rule;
    int64_t runs;
    int quiet, fail_on_regression;
    unsigned fail_kinds; /* FAIL_* */
} nt_opts;

/* Returns -1 to go on, else the exit code. `allowed` lists the option codes of the command. */
static int parse(const char *cmd, int argc, char **argv, const int *allowed, void (*help)(void),
                 nt_opts *o)
{
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'},         {"quiet", no_argument, 0, 'q'},
        {"history", required_argument, 0, O_HISTORY}, {"metrics", required_argument, 0, O_METRICS},
        {"commit", required_argument, 0, O_COMMIT},   {"machine", required_argument, 0, O_MACHINE},
        {"date", required_argument, 0, O_DATE},       {"window", required_argument, 0, O_WINDOW},
        {"min-history", required_argument, 0, O_MINHIST}, {"rel", required_argument, 0, O_REL},
        {"k", required_argument, 0, O_K},             {"confirm", required_argument, 0, O_CONFIRM},
        {"tight", required_argument, 0, O_TIGHT},     {"out", required_argument, 0, O_OUT},
        {"runs", required_argument, 0, O_RUNS},       {"gnuplot", required_argument, 0, O_GNUPLOT},
        {"fail-on-regression", no_argument, 0, O_FAIL},
        {"fail-on", required_argument, 0, O_FAILON},  {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    nt_rule_defaults(&o->rule);
    o->runs = 60;
    o->fail_kinds = FAIL_ALL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":hq", opts, NULL)) != -1) {
        if (c == 'h') {
            help();
            return DB_EXIT_OK;
        }
        if (c == ':')
            return cli_usage(cmd, "option '%s' needs a value", argv[optind - 1]);
        bool ok = false;
        for (const int *a = allowed; *a; a++)
            ok |= *a == c;
        if (c == '?' || !ok)
            return cli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
        int64_t i;
        double d;
        switch (c) {
        case 'q': o->quiet = 1; break;
        case O_HISTORY: o->history = optarg; break;
        case O_METRICS: o->metrics = optarg; break;
        case O_COMMIT: o->commit = optarg; break;
        case O_MACHINE: o->machine = optarg; break;
        case O_DATE: o->date = optarg; break;
        case O_OUT: o->out = optarg; break;
        case O_GNUPLOT: o->gnuplot = optarg; break;
        case O_FAIL: o->fail_on_regression = 1; break;
        case O_FAILON: {
            char buf[64];
            if (snprintf(buf, sizeof buf, "%s", optarg) >= (int)sizeof buf)
                return cli_usage(cmd, "--fail-on: '%s' is too long", optarg);
            o->fail_kinds = 0;
            char *save = NULL;
            for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (!strcmp(t, "perf"))
                    o->fail_kinds |= FAIL_PERF;
                else if (!strcmp(t, "tight"))
                    o->fail_kinds |= FAIL_TIGHT;
                else if (!strcmp(t, "exact"))
                    o->fail_kinds |= FAIL_EXACT;
                else if (strcmp(t, "none"))
                    return cli_usage(cmd, "--fail-on: unknown kind '%s' (perf, tight, exact, none)",
                                     t);
            }
            break;
        }
        case O_WINDOW:
            if (!cli_i64(cmd, "--window", optarg, 1, 1000, &i))
                return DB_EXIT_USAGE;
            o->rule.window = (int)i;
            break;
        case O_MINHIST:
            if (!cli_i64(cmd, "--min-history", optarg, 1, 1000, &i))
                return DB_EXIT_USAGE;
            o->rule.min_history = (int)i;
            break;
        case O_CONFIRM:
            if (!cli_i64(cmd, "--confirm", optarg, 1, 100, &i))
                return DB_EXIT_USAGE;
            o->rule.confirm = (int)i;
            break;
        case O_RUNS:
            if (!cli_i64(cmd, "--runs", optarg, 2, 10000, &o->runs))
                return DB_EXIT_USAGE;
            break;
        case O_REL:
            if (!cli_f64(cmd, "--rel", optarg, 0, 100, &d))
                return DB_EXIT_USAGE;
            o->rule.rel = d;
            break;
        case O_K:
            if (!cli_f64(cmd, "--k", optarg, 0, 1000, &d))
                return DB_EXIT_USAGE;
            o->rule.k = d;
            break;
        case O_TIGHT:
            if (!cli_f64(cmd, "--tight", optarg, 0, 1, &d))
                return DB_EXIT_USAGE;
            o->rule.tight = d;
            break;
        default:
            return cli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o->history)
        return cli_usage(cmd, "--history is required");
    if (o->rule.min_history > o->rule.window)
        return cli_usage(cmd, "--min-history %d exceeds --window %d", o->rule.min_history,
                         o->rule.window);
    return -1;
}

/* ---- record -------------------------------------------------------------------------------- */

static bool fits(const char *s, size_t n) { return strlen(s) < n; }

static int nightly_record(int argc, char **argv)
{
    static const char *cmd = "nightly record";
    static const int allowed[] = {O_HISTORY, O_METRICS, O_COMMIT, O_MACHINE, O_DATE, 0};
    nt_opts o;
    int rc = parse(cmd, argc, argv, allowed, usage_record, &o);
    if (rc >= 0)
        return rc;
    if (!o.metrics)
        return cli_usage(cmd, "--metrics is required");
    char host[64] = "unknown", date[32];
    if (!o.machine) {
        if (gethostname(host, sizeof host) != 0 || !host[0])
            snprintf(host, sizeof host, "unknown");
        host[sizeof host - 1] = '\0';
        o.machine = host;
    }
    if (!o.date) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
        o.date = date;
    }
    if (!o.commit)
        o.commit = db_git_commit();
    nt_row probe;
    if (!o.machine[0] || !fits(o.machine, sizeof probe.machine))
        return cli_usage(cmd, "--machine must be 1..%zu bytes", sizeof probe.machine - 1);
    if (!o.commit[0] || !fits(o.commit, sizeof probe.commit))
        return cli_usage(cmd, "--commit must be 1..%zu bytes", sizeof probe.commit - 1);
    if (!o.date[0] || !fits(o.date, sizeof probe.date))
        return cli_usage(cmd, "--date must be 1..%zu bytes", sizeof probe.date - 1);

    nt_row *rows = NULL;
    size_t n = 0;
    nt_history h;
    db_status st = nt_metrics_parse(o.metrics, &rows, &n);
    if (st != DB_OK)
        return cli_fail(cmd, st);
    if ((st = nt_history_load(o.history, 1, &h)) != DB_OK) {
        db_free(rows);
        return cli_fail(cmd, st);
    }
    int64_t run = nt_history_last_run(&h) + 1;
    for (size_t i = 0; i < n && st == DB_OK; i++) {
        rows[i].run = run;
        strcpy(rows[i].date, o.date);
        strcpy(rows[i].commit, o.commit);
        strcpy(rows[i].machine, o.machine);
        st = nt_history_push(&h, &rows[i]);
    }
    if (st == DB_OK) {
        res_run_info info = {.argc = argc, .argv = argv, .seed = 0, .gpu_name = cli_gpu_name()};
        st = nt_history_save(o.history, &h, &info);
    }
    nt_history_free(&h);
    db_free(rows);
    if (st != DB_OK)
        return cli_fail(cmd, st);
    printf("recorded %zu metrics as run %lld (machine %s, commit %s) in %s\n", n, (long long)run,
           o.machine, o.commit, o.history);
    return DB_EXIT_OK;
}

/* ---- check and dashboard ------------------------------------------------------------------- */

static unsigned kind_bit(const char *kind)
{
    return !strcmp(kind, "perf") ? FAIL_PERF : !strcmp(kind, "tight") ? FAIL_TIGHT : FAIL_EXACT;
}

/* One stderr line per confirmed regression (those of kinds outside fail_kinds as warnings);
 * returns the count of those that fail. */
static size_t report_regressions(const nt_history *h, const nt_verdict *v, size_t nv,
                                 unsigned fail_kinds)
{
    size_t cnt = 0;
    for (size_t i = 0; i < nv; i++) {
        if (v[i].state != NT_REGRESSION)
            continue;
        const nt_row *r = &h->rows[v[i].last], *s = &h->rows[v[i].since];
        bool fails = (kind_bit(r->kind) & fail_kinds) != 0;
        fprintf(stderr,
                "deltabench nightly: %s %s: %+.1f %% (%.4g -> %.4g %s, %s is better; "
                "median of %zu runs) since commit %s (run %lld, %s)",
                fails ? "REGRESSION" : "warning: regression (not failing: --fail-on)", r->metric,
                100 * v[i].change, v[i].baseline, r->value, r->unit, r->direction, v[i].nbase,
                s->commit, (long long)s->run, s->date);
        if (v[i].good != SIZE_MAX)
            fprintf(stderr, "; last good %s", h->rows[v[i].good].commit);
        fputc('\n', stderr);
        cnt += fails;
    }
    return cnt;
}

static void print_table(const nt_history *h, const nt_verdict *v, size_t nv)
{
    printf("%-13s %-44s %12s %-6s %12s %9s %5s  %s\n", "status", "metric", "last", "unit",
           "baseline", "change", "runs", "since");
    for (size_t i = 0; i < nv; i++) {
        const nt_row *r = &h->rows[v[i].last];
        char ch[32] = "-", base[32] = "-";
        if (isfinite(v[i].change))
            snprintf(ch, sizeof ch, "%+.2f%%", 100 * v[i].change);
        if (v[i].nbase)
            snprintf(base, sizeof base, "%.5g", v[i].baseline);
        printf("%-13s %-44s %12.5g %-6s %12s %9s %5zu  %s\n", nt_state_str(v[i].state), r->metric,
               r->value, r->unit, base, ch, v[i].npoints,
               v[i].since != SIZE_MAX ? h->rows[v[i].since].commit : "");
    }
}

static int judge_and(const char *cmd, int argc, char **argv, bool dashboard)
{
    static const int allowed_check[] = {O_HISTORY, O_MACHINE, O_WINDOW, O_MINHIST, O_REL, O_K,
                                        O_CONFIRM, O_TIGHT, O_FAILON, 'q', 0};
    static const int allowed_dash[] = {O_HISTORY, O_MACHINE, O_WINDOW, O_MINHIST, O_REL, O_K,
                                       O_CONFIRM, O_TIGHT, O_OUT, O_RUNS, O_GNUPLOT, O_FAIL,
                                       O_FAILON, 0};
    nt_opts o;
    int rc = parse(cmd, argc, argv, dashboard ? allowed_dash : allowed_check,
                   dashboard ? usage_dashboard : usage_check, &o);
    if (rc >= 0)
        return rc;
    if (dashboard && !o.out)
        return cli_usage(cmd, "--out is required");
    nt_history h;
    db_status st = nt_history_load(o.history, 0, &h);
    if (st != DB_OK)
        return cli_fail(cmd, st);
    nt_verdict *v = NULL;
    size_t nv = 0;
    st = nt_check(&h, o.machine, &o.rule, &v, &nv);
    if (st == DB_OK && dashboard) {
        nt_dash_opts d = {.history_path = o.history, .gnuplot = o.gnuplot,
                          .plot_runs = (int)o.runs};
        st = nt_dashboard_write(&h, v, nv, &o.rule, o.out, &d);
    }
    if (st != DB_OK) {
        db_free(v);
        nt_history_free(&h);
        return cli_fail(cmd, st);
    }
    size_t nreg;
    if (dashboard) {
        nreg = 0;
        for (size_t i = 0; i < nv; i++)
            nreg += v[i].state == NT_REGRESSION;
        printf("wrote %s/index.html: %zu metrics, %zu confirmed regression%s\n", o.out, nv, nreg,
               nreg == 1 ? "" : "s");
        nreg = o.fail_on_regression ? report_regressions(&h, v, nv, o.fail_kinds) : 0;
    } else {
        if (!o.quiet)
            print_table(&h, v, nv);
        nreg = report_regressions(&h, v, nv, o.fail_kinds);
    }
    db_free(v);
    nt_history_free(&h);
    if (fflush(stdout) != 0)
        return cli_fail(cmd, db_error(DB_ERR_IO, "stdout: write error"));
    return nreg ? NT_EXIT_REGRESSION : DB_EXIT_OK;
}

int cmd_nightly(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage("nightly", "expected a subcommand: record, check or dashboard");
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
        usage_top();
        return DB_EXIT_OK;
    }
    if (!strcmp(sub, "record"))
        return nightly_record(argc - 1, argv + 1);
    if (!strcmp(sub, "check"))
        return judge_and("nightly check", argc - 1, argv + 1, false);
    if (!strcmp(sub, "dashboard"))
        return judge_and("nightly dashboard", argc - 1, argv + 1, true);
    return cli_usage("nightly", "unknown subcommand '%s' (record, check, dashboard)", sub);
}
