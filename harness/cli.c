/* cli.c: shared helpers of the subcommands (error lines, strict number parsing). */
#include "harness/cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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
