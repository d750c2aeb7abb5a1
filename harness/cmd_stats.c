/* cmd_stats.c: `deltabench stats`: the distribution statistics of a fine-tuning delta
 * (compressors/dstats.h) per linear tensor of a base / fine-tuned pair: what the synthetic
 * generator is fitted to (registry entry dz1). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compressors/dstats.h"
#include "core/alloc.h"
#include "core/results.h"
#include "harness/cli.h"

#define CMD "stats"

static const res_field dstat_fields[] = {
    RES_STR(dstat_row, name),     RES_I64(dstat_row, rows),        RES_I64(dstat_row, cols),
    RES_F64(dstat_row, rms),      RES_F64(dstat_row, kurtosis),    RES_F64(dstat_row, row_max_rms),
    RES_F64(dstat_row, near_zero), RES_F64(dstat_row, row_spread), RES_F64(dstat_row, col_spread),
};
static const res_schema dstat_schema =
    RES_SCHEMA("delta_stats", "distribution statistics of each linear tensor's delta", dstat_row,
               dstat_fields);

/* The statistics in table order, for the summary lines. */
static const struct {
    const char *name;
    size_t off;
} stat_cols[] = {
    {"rms", offsetof(dstat_row, rms)},
    {"kurtosis", offsetof(dstat_row, kurtosis)},
    {"row_max_rms", offsetof(dstat_row, row_max_rms)},
    {"near_zero", offsetof(dstat_row, near_zero)},
    {"row_spread", offsetof(dstat_row, row_spread)},
    {"col_spread", offsetof(dstat_row, col_spread)},
};

static void usage(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench stats --base B --target T [options]\n\n"
           "Measures the distribution of the delta T - B of every linear projection (q, k, v, o,\n"
           "gate, up, down; HF Llama names) and prints, per statistic, the median over tensors\n"
           "and its range (--out: one row per tensor):\n"
           "  rms          root mean square of the delta\n"
           "  kurtosis     m4 / m2^2 about the mean (3 for a Gaussian)\n"
           "  row_max_rms  mean over rows of max |delta| / the row's RMS\n"
           "  near_zero    share of values with |delta| < NEAR x RMS\n"
           "  row_spread   standard deviation of ln(row RMS) over rows\n"
           "  col_spread   the same over columns\n"
           "B and T: a .safetensors file, a model directory or a sharded index.\n\n");
    cli_help(stdout, opts, n);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One summary line per statistic: median (min..max) over the n rows; v is n doubles scratch. */
static void print_summary(const dstat_row *rows, size_t n, double *v)
{
    printf("%zu linear tensors; median (min..max) over tensors:\n", n);
    for (size_t k = 0; k < sizeof stat_cols / sizeof stat_cols[0]; k++) {
        for (size_t i = 0; i < n; i++)
            memcpy(&v[i], (const char *)&rows[i] + stat_cols[k].off, sizeof(double));
        qsort(v, n, sizeof *v, cmp_double);
        double med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
        printf("  %-12s %.6g (%.6g..%.6g)\n", stat_cols[k].name, med, v[0], v[n - 1]);
    }
}

int cmd_stats(int argc, char **argv)
{
    const char *cmd = CMD, *base = NULL, *target = NULL, *out = NULL;
    double near = 0.1;
    bool quiet = false;
    const cli_opt opts[] = {
        CLI_STR_OPT("base", &base, "B", "base checkpoint", "required"),
        CLI_STR_OPT("target", &target, "T", "fine-tuned checkpoint", "required"),
        CLI_REAL_OPT("near", &near, 0, 10, "X", "near-zero threshold as a share of the RMS, [0, 10]",
                     "0.1"),
        CLI_STR_OPT("out", &out, "FILE.h5", "result file: table delta_stats, one row per tensor",
                    "none"),
        CLI_FLAG_OPT("quiet", 'q', &quiet, "no summary lines"),
    };
    int rc = cli_parse(cmd, argc, argv, opts, CLI_NOPTS(opts), NULL);
    if (rc == CLI_HELP)
        return usage(opts, CLI_NOPTS(opts)), DB_EXIT_OK;
    if (rc)
        return rc;
    if (!base || !target)
        return cli_usage(cmd, "--base and --target are required");
    res_file *f = NULL;
    res_run_info info = {argc, argv, 0, cli_gpu_name()};
    db_status s = out ? res_create(out, &info, &f) : DB_OK;
    if (s)
        return cli_fail(cmd, s);
    dstat_row *rows = NULL;
    size_t n = 0;
    if ((s = dstat_pair(base, target, near, &rows, &n))) {
        res_abort(f);
        return cli_fail(cmd, s);
    }
    if (!quiet) {
        double *v = db_malloc_array(n, sizeof *v);
        if (!v) {
            db_free(rows);
            res_abort(f);
            return cli_fail(cmd, db_error(DB_ERR_NOMEM, "stats: out of memory"));
        }
        print_summary(rows, n, v);
        db_free(v);
    }
    if (f && ((s = res_attr_f64(f, "near", near)) ||
              (s = res_table_write(f, &dstat_schema, n, rows)) || (s = res_commit(f)))) {
        db_free(rows);
        return cli_fail(cmd, s);
    }
    db_free(rows);
    return DB_EXIT_OK;
}
