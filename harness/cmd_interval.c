/* cmd_interval.c: `deltabench interval`: the confidence intervals of core/interval.h for the
 * experiment scripts, so a shell script that sequences runs never computes an interval itself
 * (scripts run programs; C decides). Prints "estimate low high" on one line. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/interval.h"
#include "harness/cli.h"

#define CMD "interval"

typedef struct {
    double alpha;
    int64_t reps, seed;
    bool boot;
} iv_opts;

static void usage(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench interval wilson K N [options]\n"
           "       deltabench interval mean FILE [options]\n"
           "       deltabench interval ratio A_FILE B_FILE [options]\n"
           "       deltabench interval gain C_FILE BASE_FILE FT_FILE [options]\n\n"
           "Prints \"estimate low high\" of a two-sided confidence interval (core/interval.h):\n"
           "  wilson  K successes of N trials (exact match over prompts): Wilson score interval\n"
           "  mean    the mean of FILE's numbers: Student t (or --boot: percentile bootstrap)\n"
           "  ratio   median(A) / median(B) of paired repetitions (line i of A and of B timed\n"
           "          in the same round of an interleaved run): paired bootstrap over rounds\n"
           "  gain    the share of a fine-tuning gain kept, (mean C - mean BASE) / (mean FT -\n"
           "          mean BASE), line i of each scored on evaluation window i: paired bootstrap\n"
           "FILEs hold one number per line (blank lines and lines starting with # are skipped).\n\n");
    cli_help(stdout, opts, n);
}

/* Reads FILE's numbers into *x (db_free it). */
static db_status read_numbers(const char *path, double **x, size_t *n)
{
    char *text = NULL;
    size_t len = 0;
    *x = NULL, *n = 0;
    db_status s = fs_read_all(path, &text, &len);
    if (s != DB_OK)
        return s;
    size_t cap = 1;
    for (size_t i = 0; i < len; i++)
        cap += text[i] == '\n';
    double *v = db_malloc_array(cap, sizeof *v);
    if (!v) {
        db_free(text);
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t line = 0;
    for (char *p = text, *end = text + len; p < end && s == DB_OK;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        line++;
        while (p < e && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        char *q = e;
        while (q > p && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\r'))
            q--;
        if (q > p && *p != '#') {
            char buf[64], *stop;
            snprintf(buf, sizeof buf, "%.*s", (int)(q - p), p);
            errno = 0;
            double d = strtod(buf, &stop);
            if (q - p >= (long)sizeof buf || *stop || errno || !isfinite(d))
                s = db_error(DB_ERR_FORMAT, "%s:%zu: '%.40s' is not a finite number", path, line, buf);
            else
                v[(*n)++] = d;
        }
        p = nl ? nl + 1 : end;
    }
    db_free(text);
    if (s == DB_OK && *n == 0)
        s = db_error(DB_ERR_FORMAT, "%s: no numbers", path);
    if (s != DB_OK) {
        db_free(v);
        *n = 0;
        return s;
    }
    *x = v;
    return DB_OK;
}

static bool parse_count(const char *what, const char *s, int64_t *out)
{
    return cli_i64(CMD, what, s, 0, INT64_MAX / 2, out);
}

int cmd_interval(int argc, char **argv)
{
    iv_opts o = {.alpha = 0.05, .reps = IV_BOOT_REPS, .seed = 1};
    const cli_opt opts[] = {
        CLI_REAL_OPT("alpha", &o.alpha, 1e-6, 0.5, "A", "1 - the level of the interval", "0.05"),
        CLI_INT_OPT("reps", &o.reps, 100, 1000000, "N", "bootstrap resamples", "2000"),
        CLI_INT_OPT("seed", &o.seed, 0, INT64_MAX, "S", "bootstrap seed", "1"),
        CLI_FLAG_OPT("boot", 0, &o.boot, "mean: a percentile bootstrap instead of Student t"),
    };
    int argi = 0;
    int rc = cli_parse(CMD, argc, argv, opts, CLI_NOPTS(opts), &argi);
    if (rc == CLI_HELP)
        return usage(opts, CLI_NOPTS(opts)), DB_EXIT_OK;
    if (rc)
        return rc;
    static const struct {
        const char *kind;
        int nargs;
    } kinds[] = {{"wilson", 2}, {"mean", 1}, {"ratio", 2}, {"gain", 3}};
    if (argi >= argc)
        return cli_usage(CMD, "expected a kind: wilson, mean, ratio or gain");
    const char *kind = argv[argi++];
    int want = -1;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kind, kinds[i].kind))
            want = kinds[i].nargs;
    if (want < 0)
        return cli_usage(CMD, "unknown kind '%s' (wilson, mean, ratio or gain)", kind);
    if (argc - argi != want)
        return cli_usage(CMD, "%s takes %d argument%s, got %d", kind, want, want > 1 ? "s" : "",
                         argc - argi);
    if (o.boot && strcmp(kind, "mean"))
        return cli_usage(CMD, "--boot applies to mean only");
    iv_interval v;
    db_status s = DB_OK;
    double *x[3] = {NULL, NULL, NULL};
    size_t n[3] = {0, 0, 0};
    if (!strcmp(kind, "wilson")) {
        int64_t k, m;
        if (!parse_count("K", argv[argi], &k) || !parse_count("N", argv[argi + 1], &m))
            return DB_EXIT_USAGE;
        s = iv_wilson(k, m, o.alpha, &v);
    } else {
        for (int i = 0; i < want && s == DB_OK; i++)
            s = read_numbers(argv[argi + i], &x[i], &n[i]);
        for (int i = 1; i < want && s == DB_OK; i++)
            if (n[i] != n[0])
                s = db_error(DB_ERR_FORMAT, "%s: %zu numbers, %s has %zu (the files are paired)",
                             argv[argi + i], n[i], argv[argi], n[0]);
        if (s == DB_OK && !strcmp(kind, "mean"))
            s = o.boot ? iv_boot_mean(x[0], n[0], (int)o.reps, (uint64_t)o.seed, o.alpha, &v)
                : o.alpha != 0.05 ? db_error(DB_ERR_ARG, "mean: the t interval is 95 %% only (--boot for another level)")
                                  : iv_mean_t95(x[0], n[0], &v);
        else if (s == DB_OK && !strcmp(kind, "ratio"))
            s = iv_boot_ratio_of_medians(x[0], x[1], n[0], (int)o.reps, (uint64_t)o.seed, o.alpha, &v);
        else if (s == DB_OK)
            s = iv_boot_gain_kept(x[0], x[1], x[2], n[0], (int)o.reps, (uint64_t)o.seed, o.alpha, &v);
    }
    for (int i = 0; i < 3; i++)
        db_free(x[i]);
    if (s != DB_OK)
        return cli_fail(CMD, s);
    printf("%.6g %.6g %.6g\n", v.est, v.lo, v.hi);
    return fflush(stdout) ? cli_fail(CMD, db_error(DB_ERR_IO, "stdout: write error")) : DB_EXIT_OK;
}
