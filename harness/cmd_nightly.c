/* cmd_nightly.c: `deltabench nightly record|check|dashboard`: append a run's metrics to the
 * nightly history, judge the latest run with the noise-aware regression rule, render the static
 * dashboard. The logic is in harness/nightly.c (rule) and harness/nightly_dash.c (page);
 * scripts/nightly.sh runs the suite around these commands (`make nightly`).
 *
 * Exit status: 0 ok, 1 failure (one line naming the file), 2 usage error, 3 (check and
 * dashboard with --fail-on-regression) a confirmed regression, one stderr line per metric. */
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

static void usage_record(const cli_opt *opts, size_t n)
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
           "Lines starting with '#' and blank lines are skipped.\n\n");
    cli_help(stdout, opts, n);
}

static void usage_check(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench nightly check --history H.h5 [options]\n\n"
           "Judges the latest point of every metric of one machine: against the median of the\n"
           "previous --window runs, a perf metric is flagged when it is worse by more than --rel\n"
           "AND by more than --k robust sigmas (1.4826 MAD), confirmed after --confirm flagged\n"
           "runs in a row; tight metrics are flagged beyond --tight, exact ones on any change,\n"
           "both confirmed at once. Prints one line per metric (regressions first) on stdout and\n"
           "one line per confirmed regression on stderr: metric, change, since which commit.\n\n");
    cli_help(stdout, opts, n);
    printf("\nexit status: 0 no confirmed regression, 1 failure, 2 usage error, 3 regression\n");
}

static void usage_dashboard(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench nightly dashboard --history H.h5 --out DIR [options]\n\n"
           "Writes DIR/index.html (confirmed regressions at the top, then every metric: status,\n"
           "last value, baseline, change, sparkline, commit, link to its HDF5 source) and\n"
           "DIR/plots/GROUP.svg + GROUP.gp (gnuplot trend plot per metric group). The page has\n"
           "no external assets: open it from disk.\n\n");
    cli_help(stdout, opts, n);
}

/* ---- shared parsing ------------------------------------------------------------------------ */

/* Kinds whose confirmed regressions fail the check (bit set by kind). */
enum { FAIL_PERF = 1, FAIL_TIGHT = 2, FAIL_EXACT = 4, FAIL_ALL = 7 };

typedef struct {
    const char *history, *metrics, *commit, *machine, *date, *out, *gnuplot;
    nt_rule rule;
    int64_t runs;
    bool quiet, fail_on_regression;
    unsigned fail_kinds; /* FAIL_* */
    char defs[7][48];    /* the rule's defaults as --help shows them */
} nt_opts;

static void opts_init(nt_opts *o)
{
    memset(o, 0, sizeof *o);
    nt_rule_defaults(&o->rule);
    o->runs = 60;
    o->fail_kinds = FAIL_ALL;
}

static bool parse_fail_on(const char *cmd, const char *opt, const char *val, void *dst)
{
    unsigned *kinds = dst;
    char buf[64];
    if (snprintf(buf, sizeof buf, "%s", val) >= (int)sizeof buf)
        return cli_usage(cmd, "%s: '%s' is too long", opt, val), false;
    *kinds = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "perf"))
            *kinds |= FAIL_PERF;
        else if (!strcmp(t, "tight"))
            *kinds |= FAIL_TIGHT;
        else if (!strcmp(t, "exact"))
            *kinds |= FAIL_EXACT;
        else if (strcmp(t, "none"))
            return cli_usage(cmd, "%s: unknown kind '%s' (perf, tight, exact, none)", opt, t),
                   false;
    }
    return true;
}

/* The rows of the regression rule that check and dashboard share, appended at out[*n]. */
static void rule_rows(nt_opts *o, cli_opt *out, size_t *n)
{
    nt_rule *r = &o->rule;
    snprintf(o->defs[0], sizeof o->defs[0], "%d", r->window);
    snprintf(o->defs[1], sizeof o->defs[1], "%d", r->min_history);
    snprintf(o->defs[2], sizeof o->defs[2], "%g", r->rel);
    snprintf(o->defs[3], sizeof o->defs[3], "%g", r->k);
    snprintf(o->defs[4], sizeof o->defs[4], "%d", r->confirm);
    snprintf(o->defs[5], sizeof o->defs[5], "%g; exact: any change", r->tight);
    const cli_opt rows[] = {
        CLI_STR_OPT("machine", &o->machine, "M", "machine whose series are judged",
                    "that of the latest run"),
        CLI_INT_OPT("window", &r->window, 1, 1000, "N",
                    "previous runs in the rolling median, 1..1000", o->defs[0]),
        CLI_INT_OPT("min-history", &r->min_history, 1, 1000, "N",
                    "perf: fewer previous runs is 'short history', 1..window", o->defs[1]),
        CLI_REAL_OPT("rel", &r->rel, 0, 100, "F", "perf: relative threshold, 0..100",
                     o->defs[2]),
        CLI_REAL_OPT("k", &r->k, 0, 1000, "K",
                     "perf: multiple of 1.4826 MAD the change must also exceed", o->defs[3]),
        CLI_INT_OPT("confirm", &r->confirm, 1, 100, "N",
                    "perf: consecutive flagged runs that confirm, 1..100", o->defs[4]),
        CLI_REAL_OPT("tight", &r->tight, 0, 1, "F", "tight: relative tolerance, 0..1",
                     o->defs[5]),
    };
    for (size_t i = 0; i < CLI_NOPTS(rows); i++)
        out[(*n)++] = rows[i];
}

/* Parses against the n rows of opts: returns -1 to go on, else the exit code. */
static int parse(const char *cmd, int argc, char **argv, const cli_opt *opts, size_t n,
                 void (*help)(const cli_opt *, size_t), nt_opts *o)
{
    int rc = cli_parse(cmd, argc, argv, opts, n, NULL);
    if (rc == CLI_HELP)
        return help(opts, n), DB_EXIT_OK;
    if (rc)
        return rc;
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
    nt_opts o;
    opts_init(&o);
    char commit_def[64];
    snprintf(commit_def, sizeof commit_def, "the binary's: %s", db_git_commit());
    const cli_opt opts[] = {
        CLI_STR_OPT("history", &o.history, "H.h5", "the history file", "required"),
        CLI_STR_OPT("metrics", &o.metrics, "FILE", "the run's metrics", "required"),
        CLI_STR_OPT("commit", &o.commit, "C", "commit measured", commit_def),
        CLI_STR_OPT("machine", &o.machine, "M", "machine name", "this host's name"),
        CLI_STR_OPT("date", &o.date, "D", "ISO 8601 date of the run", "now, UTC"),
    };
    int rc = parse(cmd, argc, argv, opts, CLI_NOPTS(opts), usage_record, &o);
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
    nt_opts o;
    opts_init(&o);
    cli_opt opts[20] = {CLI_STR_OPT("history", &o.history, "H.h5", "the history file", "required")};
    size_t n = 1;
    if (dashboard)
        opts[n++] = (cli_opt)CLI_STR_OPT("out", &o.out, "DIR",
                                         "output directory, created when missing", "required");
    rule_rows(&o, opts, &n);
    if (dashboard) {
        const cli_opt rows[] = {
            CLI_INT_OPT("runs", &o.runs, 2, 10000, "N", "runs drawn in plots and sparklines, 2..10000",
                        "60"),
            CLI_STR_OPT("gnuplot", &o.gnuplot, "G", "gnuplot executable", "gnuplot"),
            CLI_FLAG_OPT("fail-on-regression", 0, &o.fail_on_regression,
                         "exit 3 after writing when a regression is confirmed"),
            CLI_FN_OPT("fail-on", parse_fail_on, &o.fail_kinds, "KINDS",
                       "with --fail-on-regression: the kinds that count (as check)",
                       "perf,tight,exact"),
            CLI_FLAG_OPT("quiet", 'q', &o.quiet, "no 'wrote' line on stdout"),
        };
        for (size_t i = 0; i < CLI_NOPTS(rows); i++)
            opts[n++] = rows[i];
    } else {
        const cli_opt rows[] = {
            CLI_FN_OPT("fail-on", parse_fail_on, &o.fail_kinds, "KINDS",
                       "kinds whose confirmed regressions exit 3: a comma list of\n"
                       "perf, tight, exact, or none; the others are printed as\n"
                       "warnings", "perf,tight,exact"),
            CLI_FLAG_OPT("quiet", 'q', &o.quiet, "no table on stdout"),
        };
        for (size_t i = 0; i < CLI_NOPTS(rows); i++)
            opts[n++] = rows[i];
    }
    int rc = parse(cmd, argc, argv, opts, n, dashboard ? usage_dashboard : usage_check, &o);
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
        if (!o.quiet)
            printf("wrote %s/index.html: %zu metrics, %zu confirmed regression%s\n", o.out, nv,
                   nreg, nreg == 1 ? "" : "s");
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
