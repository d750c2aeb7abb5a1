/* cli.c: shared helpers of the subcommands (error lines, strict number parsing, the option
 * tables every subcommand parses with and prints its --help from). */
#include "harness/cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "kernels/device.h"

int cli_fail(const char *cmd, db_status s)
{
    (void)s;
    fprintf(stderr, "deltabench %s: %s\n", cmd, db_errmsg());
    return DB_EXIT_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "deltabench %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'deltabench %s --help'.\n", cmd);
    va_end(ap);
    return DB_EXIT_USAGE;
}

bool cli_i64(const char *cmd, const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 0);
    if (errno || end == s || *end || v < lo || v > hi) {
        cli_usage(cmd, "%s: '%s' is not an integer in [%lld, %lld]", opt, s, (long long)lo,
                  (long long)hi);
        return false;
    }
    *out = v;
    return true;
}

bool cli_f64(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) {
        cli_usage(cmd, "%s: '%s' is not a number in [%g, %g]", opt, s, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

const char *cli_gpu_name(void)
{
    static char name[sizeof ((device_info *)0)->name];
    static bool asked;
    if (!asked) {
        device_info dev;
        if (device_query(&dev) == DB_OK && dev.name[0])
            snprintf(name, sizeof name, "%s", dev.name);
        else
            snprintf(name, sizeof name, "none");
        db_error_clear(); /* no GPU is a fact to record, not an error */
        asked = true;
    }
    return name;
}

/* ---- status lines ---------------------------------------------------------------------------- */

void cli_ticker_start(cli_ticker *t, const char *cmd, double after_s, bool quiet)
{
    memset(t, 0, sizeof *t);
    t->cmd = cmd;
    t->t0 = t->last = db_now();
    t->after_s = after_s;
    t->tty = isatty(STDERR_FILENO) == 1;
    t->off = quiet;
}

bool cli_ticker_due(cli_ticker *t)
{
    if (t->off)
        return false;
    double now = db_now();
    if (now - t->t0 < t->after_s)
        return false;
    if (t->shown && now - t->last < (t->tty ? 0.25 : 10.0))
        return false;
    t->last = now;
    return true;
}

void cli_ticker_line(cli_ticker *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%sdeltabench %s: ", t->tty ? "\r" : "", t->cmd);
    vfprintf(stderr, fmt, ap);
    fputs(t->tty ? "\033[K" : "\n", stderr);
    fflush(stderr);
    va_end(ap);
    t->shown = true;
}

void cli_ticker_end(cli_ticker *t)
{
    if (t->shown && t->tty)
        fputc('\n', stderr);
    t->shown = false;
}

double cli_ticker_elapsed(const cli_ticker *t) { return db_now() - t->t0; }

/* ---- the project root ----------------------------------------------------------------------- */

const char *cli_root(void)
{
    static char root[4096];
    if (root[0])
        return root;
    const char *env = getenv("DELTABENCH_ROOT");
    if (env && env[0]) {
        snprintf(root, sizeof root, "%s", env);
        return root;
    }
    char dir[4096], probe[4200];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    if (n > 0) {
        dir[n] = '\0';
        /* up from the binary (bin/deltabench, build/<variant>/bin/deltabench) to the first
         * directory holding the project's Makefile and traces/ */
        for (int up = 0; up < 4; up++) {
            char *slash = strrchr(dir, '/');
            if (!slash || slash == dir)
                break;
            *slash = '\0';
            snprintf(probe, sizeof probe, "%s/traces", dir);
            if (access(probe, F_OK) != 0)
                continue;
            snprintf(probe, sizeof probe, "%s/Makefile", dir);
            if (access(probe, F_OK) == 0) {
                snprintf(root, sizeof root, "%s", dir);
                return root;
            }
        }
    }
    snprintf(root, sizeof root, ".");
    return root;
}

const char *cli_root_path(const char *rel, char *buf, size_t n)
{
    const char *root = cli_root();
    if (rel[0] == '/' || !strcmp(root, "."))
        snprintf(buf, n, "%s", rel);
    else
        snprintf(buf, n, "%s/%s", root, rel);
    return buf;
}

/* ---- option tables -------------------------------------------------------------------------- */

enum { CLI_MAX_OPTS = 64, CLI_LONG_BASE = 256 };

bool cli_apply(const char *cmd, const cli_opt *o, const char *val)
{
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", o->name);
    int64_t v;
    double d;
    switch (o->kind) {
    case CLI_FLAG: *(bool *)o->dst = true; return true;
    case CLI_STR: *(const char **)o->dst = val; return true;
    case CLI_FN: return o->fn(cmd, flag, val, o->dst);
    case CLI_INT:
    case CLI_I64:
    case CLI_U64:
        if (!cli_i64(cmd, flag, val, o->ilo, o->ihi, &v))
            return false;
        if (o->kind == CLI_INT)
            *(int *)o->dst = (int)v;
        else if (o->kind == CLI_I64)
            *(int64_t *)o->dst = v;
        else
            *(uint64_t *)o->dst = (uint64_t)v;
        return true;
    case CLI_F32:
    case CLI_F64:
        if (!cli_f64(cmd, flag, val, o->flo, o->fhi, &d))
            return false;
        if (o->lo_open && d <= o->flo) {
            cli_usage(cmd, "%s: '%s' is not a number in (%g, %g]", flag, val, o->flo, o->fhi);
            return false;
        }
        if (o->kind == CLI_F32)
            *(float *)o->dst = (float)d;
        else
            *(double *)o->dst = d;
        return true;
    }
    return false;
}

int cli_parse(const char *cmd, int argc, char **argv, const cli_opt *opts, size_t n, int *argi)
{
    struct option lo[CLI_MAX_OPTS + 2];
    char shorts[2 * CLI_MAX_OPTS + 4] = ":h";
    if (n > CLI_MAX_OPTS)
        return cli_usage(cmd, "internal: %zu options, at most %d", n, CLI_MAX_OPTS);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (!opts[i].name)
            continue;
        int has_arg = opts[i].kind == CLI_FLAG ? no_argument : required_argument;
        lo[k++] = (struct option){opts[i].name, has_arg, NULL, CLI_LONG_BASE + (int)i};
        if (opts[i].letter) {
            size_t e = strlen(shorts);
            shorts[e] = opts[i].letter;
            shorts[e + 1] = has_arg == no_argument ? '\0' : ':';
            shorts[e + 2] = '\0';
        }
    }
    lo[k] = (struct option){"help", no_argument, NULL, 'h'};
    lo[k + 1] = (struct option){0, 0, 0, 0};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        const char *given = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
        if (c == 'h')
            return CLI_HELP;
        if (c == ':')
            return cli_usage(cmd, "option '%s' needs a value", given);
        const cli_opt *o = NULL;
        if (c >= CLI_LONG_BASE && c < CLI_LONG_BASE + (int)n)
            o = &opts[c - CLI_LONG_BASE];
        for (size_t i = 0; !o && c != '?' && i < n; i++)
            if (opts[i].name && opts[i].letter == c)
                o = &opts[i];
        if (!o && optopt > 0 && optopt < CLI_LONG_BASE && optopt != 'h')
            return cli_usage(cmd, "unknown option '-%c'", optopt);
        if (!o)
            return cli_usage(cmd, "unknown option '%s'", given);
        if (!cli_apply(cmd, o, optarg))
            return DB_EXIT_USAGE;
    }
    if (argi)
        *argi = optind;
    else if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    return 0;
}

static void help_entry(FILE *out, int width, const char *left, const char *help, const char *def)
{
    fprintf(out, "  %-*s  ", width, left);
    for (const char *p = help; *p; p++) {
        fputc(*p, out);
        if (*p == '\n')
            fprintf(out, "  %-*s  ", width, "");
    }
    if (def)
        fprintf(out, " [%s]", def);
    fputc('\n', out);
}

void cli_help(FILE *out, const cli_opt *opts, size_t n)
{
    char left[CLI_MAX_OPTS + 1][64];
    int width = 10;
    for (size_t i = 0; i <= n; i++) {
        const cli_opt *o = i < n ? &opts[i] : NULL;
        if (o && !o->name)
            continue;
        if (!o)
            snprintf(left[i], sizeof left[i], "-h, --help");
        else if (o->letter)
            snprintf(left[i], sizeof left[i], "-%c, --%s%s%s", o->letter, o->name,
                     o->arg ? " " : "", o->arg ? o->arg : "");
        else
            snprintf(left[i], sizeof left[i], "--%s%s%s", o->name, o->arg ? " " : "",
                     o->arg ? o->arg : "");
        int w = (int)strlen(left[i]);
        width = w > width && w <= 22 ? w : width;
    }
    fprintf(out, "options (default in brackets):\n");
    for (size_t i = 0; i < n; i++) {
        if (opts[i].name && opts[i].help)
            help_entry(out, width, left[i], opts[i].help, opts[i].def);
        else if (opts[i].name)
            continue;
        else
            fprintf(out, "%s:\n", opts[i].help);
    }
    help_entry(out, width, left[n], "this text", NULL);
}
