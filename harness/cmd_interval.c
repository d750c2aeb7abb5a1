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
    double alpha, tol;
    int64_t reps, seed;
    bool boot;
} iv_opts;

static void usage(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench interval wilson K N [options]\n"
           "       deltabench interval mean FILE [options]\n"
           "       deltabench interval ratio A_FILE B_FILE [options]\n"
           "       deltabench interval gain C_FILE[,C_FILE...] BASE_FILE FT_FILE [options]\n"
           "       deltabench interval sums NUM_FILE DEN_FILE [options]\n"
           "       deltabench interval interp TARGET CURVE_FILE\n"
           "       deltabench interval at Q Q_LO Q_HI CURVE_FILE\n\n"
           "Prints \"estimate low high\" of a two-sided confidence interval (core/interval.h):\n"
           "  wilson  K successes of N trials (exact match over prompts): Wilson score interval\n"
           "  mean    the mean of FILE's numbers: Student t (or --boot: percentile bootstrap)\n"
           "  ratio   median(A) / median(B) of paired repetitions (line i of A and of B timed\n"
           "          in the same round of an interleaved run): paired bootstrap over rounds\n"
           "  gain    the share of a fine-tuning gain kept, (mean C - mean BASE) / (mean FT -\n"
           "          mean BASE), line i of each scored on evaluation window i: paired bootstrap;\n"
           "          several C_FILEs (one per seed of a stochastic method): the mean of their\n"
           "          gains, interval the hull of the window bootstrap and the t interval over seeds\n"
           "  sums    sum(NUM) / sum(DEN) (bits per byte: line i a window's loss in bits and its\n"
           "          tokens): paired bootstrap over lines\n"
           "  interp  a curve of quality against ratio at ratio TARGET, linear in log ratio\n"
           "          between the measured points bracketing it (exit 1 outside them)\n"
           "  at      the largest ratio at which a curve is still at quality Q (between its\n"
           "          last point at or above Q and the next; the interval from Q_HI on the\n"
           "          curve's lows and Q_LO on its highs); a ratio\n"
           "          beyond the last point prints as LAST+ (at least), before the first as FIRST-\n"
           "FILEs hold one number per line (blank lines and lines starting with # are skipped);\n"
           "a CURVE_FILE one point per line, \"ratio estimate low high\", ratios ascending.\n\n");
    cli_help(stdout, opts, n);
}

/* Reads FILE's numbers, k per line (separated by blanks), into *x (db_free it). */
static db_status read_numbers_k(const char *path, int k, double **x, size_t *n)
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
    double *v = db_malloc_array(cap, (size_t)k * sizeof *v);
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
            char buf[256], *c = buf, *stop;
            snprintf(buf, sizeof buf, "%.*s", (int)(q - p), p);
            for (int j = 0; j < k && s == DB_OK; j++) {
                errno = 0;
                double d = strtod(c, &stop);
                if (q - p >= (long)sizeof buf || stop == c || errno || !isfinite(d) ||
                    (j + 1 < k ? !(*stop == ' ' || *stop == '\t') : *stop != '\0'))
                    s = db_error(DB_ERR_FORMAT, "%s:%zu: '%.40s' is not %d finite number%s", path,
                                 line, buf, k, k > 1 ? "s" : "");
                else
                    v[(*n)++] = d;
                c = stop;
            }
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

/* Reads a curve file: lines "x est lo hi" into *p (db_free it). */
static db_status read_points(const char *path, iv_point **p, size_t *n)
{
    double *x = NULL;
    size_t m = 0;
    db_status s = read_numbers_k(path, 4, &x, &m);
    if (s != DB_OK)
        return s;
    *n = m / 4;
    *p = db_malloc_array(*n, sizeof **p);
    if (!*p) {
        db_free(x);
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < *n; i++)
        (*p)[i] = (iv_point){x[4 * i], {x[4 * i + 1], x[4 * i + 2], x[4 * i + 3]}};
    db_free(x);
    return DB_OK;
}

static db_status read_numbers(const char *path, double **x, size_t *n)
{
    return read_numbers_k(path, 1, x, n);
}

static bool parse_count(const char *what, const char *s, int64_t *out)
{
    return cli_i64(CMD, what, s, 0, INT64_MAX / 2, out);
}

static int print_iv(const iv_interval *v)
{
    printf("%.6g %.6g %.6g\n", v->est, v->lo, v->hi);
    return fflush(stdout) ? cli_fail(CMD, db_error(DB_ERR_IO, "stdout: write error")) : DB_EXIT_OK;
}

static bool parse_real(const char *what, const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(*out)) {
        cli_usage(CMD, "%s: '%s' is not a finite number", what, s);
        return false;
    }
    return true;
}

/* interp TARGET FILE; at Q QLO QHI FILE */
static int curve(const char *kind, char *const *args, double tol)
{
    bool at = !strcmp(kind, "at");
    double q[3];
    for (int i = 0; i < (at ? 3 : 1); i++)
        if (!parse_real(at ? (i ? (i == 1 ? "Q_LO" : "Q_HI") : "Q") : "TARGET", args[i], &q[i]))
            return DB_EXIT_USAGE;
    iv_point *p = NULL;
    size_t n = 0;
    db_status s = read_points(args[at ? 3 : 1], &p, &n);
    iv_interval v;
    iv_crossing c;
    if (s == DB_OK)
        s = at ? iv_ratio_at(p, n, (iv_interval){q[0], q[1], q[2]}, &c)
               : iv_interp_log(p, n, q[0], tol, &v);
    db_free(p);
    if (s != DB_OK)
        return cli_fail(CMD, s);
    if (!at)
        return print_iv(&v);
    static const char mark[3] = {'-', 0, '+'}; /* IV_CROSS_BELOW, INSIDE, ABOVE */
    printf("%.6g%.*s %.6g%.*s %.6g%.*s\n", c.est, c.est_c != 0, &mark[c.est_c + 1], c.lo,
           c.lo_c != 0, &mark[c.lo_c + 1], c.hi, c.hi_c != 0, &mark[c.hi_c + 1]);
    return fflush(stdout) ? cli_fail(CMD, db_error(DB_ERR_IO, "stdout: write error")) : DB_EXIT_OK;
}

/* mean, ratio, gain, sums: statistics of files of numbers, paired line by line */
static int sample_kind(const char *kind, char *const *args, int want, const iv_opts *o)
{
    enum { MAXF = 66 }; /* gain: up to 64 seed files, the base and the fine-tune */
    double *x[MAXF] = {NULL};
    size_t n[MAXF] = {0}, nf = 0;
    const char *name[MAXF];
    db_status s = DB_OK;
    for (int i = 0; i < want; i++) {
        /* gain's first argument: C_FILE[,C_FILE...] */
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", args[i]);
        char *save = NULL;
        for (char *tok = strtok_r(buf, i == 0 && !strcmp(kind, "gain") ? "," : "", &save); tok;
             tok = strtok_r(NULL, ",", &save)) {
            if (nf == MAXF - 2 && i == 0) {
                s = db_error(DB_ERR_ARG, "gain: more than %d seed files", MAXF - 2);
                break;
            }
            name[nf] = args[i] + (tok - buf);
            if (s == DB_OK && (s = read_numbers(i == 0 && strchr(args[0], ',') ? tok : args[i],
                                                &x[nf], &n[nf])) == DB_OK)
                nf++;
            if (s)
                break;
        }
        if (s)
            break;
    }
    for (size_t i = 1; i < nf && s == DB_OK; i++)
        if (n[i] != n[0])
            s = db_error(DB_ERR_FORMAT, "%s: %zu numbers, %s has %zu (the files are paired)",
                         name[i], n[i], name[0], n[0]);
    iv_interval v;
    int reps = (int)o->reps;
    uint64_t seed = (uint64_t)o->seed;
    if (s != DB_OK)
        ;
    else if (!strcmp(kind, "mean"))
        s = o->boot ? iv_boot_mean(x[0], n[0], reps, seed, o->alpha, &v)
            : o->alpha != 0.05
                ? db_error(DB_ERR_ARG, "mean: the t interval is 95 %% only (--boot for another level)")
                : iv_mean_t95(x[0], n[0], &v);
    else if (!strcmp(kind, "ratio"))
        s = iv_boot_ratio_of_medians(x[0], x[1], n[0], reps, seed, o->alpha, &v);
    else if (!strcmp(kind, "sums"))
        s = iv_boot_ratio_of_sums(x[0], x[1], n[0], reps, seed, o->alpha, &v);
    else
        s = iv_boot_gain_kept_seeds((const double *const *)x, nf - 2, x[nf - 2], x[nf - 1], n[0],
                                    reps, seed, o->alpha, &v);
    for (size_t i = 0; i < MAXF; i++)
        db_free(x[i]);
    return s != DB_OK ? cli_fail(CMD, s) : print_iv(&v);
}

int cmd_interval(int argc, char **argv)
{
    iv_opts o = {.alpha = 0.05, .reps = IV_BOOT_REPS, .seed = 1};
    const cli_opt opts[] = {
        CLI_REAL_OPT("alpha", &o.alpha, 1e-6, 0.5, "A", "1 - the level of the interval", "0.05"),
        CLI_INT_OPT("reps", &o.reps, 100, 1000000, "N", "bootstrap resamples", "2000"),
        CLI_INT_OPT("seed", &o.seed, 0, INT64_MAX, "S", "bootstrap seed", "1"),
        CLI_FLAG_OPT("boot", 0, &o.boot, "mean: a percentile bootstrap instead of Student t"),
        CLI_REAL_OPT("tol", &o.tol, 0, 0.5, "F",
                     "interp: a target beyond an end by at most this share reads\n"
                     "that end (a format with one fixed ratio)", "0"),
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
    } kinds[] = {{"wilson", 2}, {"mean", 1}, {"ratio", 2}, {"gain", 3},
                 {"sums", 2},   {"interp", 2}, {"at", 4}};
    if (argi >= argc)
        return cli_usage(CMD, "expected a kind: wilson, mean, ratio, gain, sums, interp or at");
    const char *kind = argv[argi++];
    int want = -1;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kind, kinds[i].kind))
            want = kinds[i].nargs;
    if (want < 0)
        return cli_usage(CMD, "unknown kind '%s' (wilson, mean, ratio, gain, sums, interp or at)",
                         kind);
    if (argc - argi != want)
        return cli_usage(CMD, "%s takes %d argument%s, got %d", kind, want, want > 1 ? "s" : "",
                         argc - argi);
    if (o.boot && strcmp(kind, "mean"))
        return cli_usage(CMD, "--boot applies to mean only");
    char *const *args = argv + argi;
    if (!strcmp(kind, "wilson")) {
        int64_t k, m;
        iv_interval v;
        if (!parse_count("K", args[0], &k) || !parse_count("N", args[1], &m))
            return DB_EXIT_USAGE;
        db_status s = iv_wilson(k, m, o.alpha, &v);
        return s ? cli_fail(CMD, s) : print_iv(&v);
    }
    if (!strcmp(kind, "interp") || !strcmp(kind, "at"))
        return curve(kind, args, o.tol);
    return sample_kind(kind, args, want, &o);
}
