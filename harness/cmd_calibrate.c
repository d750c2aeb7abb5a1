/* cmd_calibrate.c: `deltabench calibrate`: fits the cost model's GPU terms to measured GPU
 * operator timings (serve/gpucal.h) and writes the overlay, the compiled-in C source of the
 * overlays, or the error tables of docs/serving.md (datasheet roofline against the calibrated
 * model, in-sample or on a held-out model). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "core/fsutil.h"
#include "harness/cli.h"
#include "serve/gpucal.h"

#define CAL_NSKU 2
static const char *const cal_skus[CAL_NSKU] = {"a100-80gb", "h100-sxm"};

static void usage(void)
{
    printf("usage: deltabench calibrate --gpu-profiles DIR [--hw H] (--out FILE | --emit-c FILE |\n"
           "                            --report [--holdout NAME])\n\n"
           "Fits the serving cost model's GPU terms to measured operator timings (Vidur's profiling\n"
           "data, ../shared/gpu-profiles): the efficiency of each linear projection at every measured\n"
           "token count, TP degree and weight shape (datasheet roofline time / measured time), the\n"
           "bandwidths of the Gaussian kernel in (ln N, ln K) that prices other shapes from them\n"
           "(leave-one-model-out), and a latency + bytes / bandwidth model of the all-reduce per TP\n"
           "degree (docs/serving.md).\n\n"
           "options:\n"
           "  --gpu-profiles DIR  measured timings (compute/<sku>/<org>/<model>/mlp.csv,\n"
           "                      network/<node>/all_reduce.csv); required\n"
           "  --hw H              profile to calibrate: a100-80gb or h100-sxm [both]\n"
           "  --out FILE          write the calibration overlay of one --hw (a `--calib` file)\n"
           "  --emit-c FILE       write the compiled-in overlays as C (serve/gpucal_data.c)\n"
           "  --report            print per projection and profile the median and maximum relative\n"
           "                      error of the datasheet roofline and of the calibrated model (and\n"
           "                      its 99th percentile and points above 25 %%) as Markdown, over\n"
           "                      1..%d tokens and every TP degree; then how far apart the\n"
           "                      measurements of one GEMM shape in two models are\n"
           "  --holdout NAME      fit without the models whose name contains NAME (case-insensitive)\n"
           "                      and report the errors on them; without it, in-sample on all\n"
           "  -h, --help          this text\n\n"
           "exit status: 0 success, 1 failure (one line on stderr), 2 usage error\n",
           GCAL_MAX_TOKENS);
}

/* Fits profile sku on the measurements of dir (without the held-out models when holdout). */
static db_status fit_one(const char *dir, const char *sku, const char *holdout, hw_profile *sheet,
                         hw_profile *cal)
{
    char sheet_name[64];
    snprintf(sheet_name, sizeof sheet_name, "%s-datasheet", sku);
    db_status s = hw_profile_builtin(sheet, sheet_name);
    if (s != DB_OK)
        return s;
    gcal_data d;
    if ((s = gcal_load(&d, dir, sku, holdout, false)) != DB_OK)
        return s;
    *cal = *sheet;
    snprintf(cal->name, sizeof cal->name, "%s", sku);
    s = gcal_fit(&d, sheet, cal);
    gcal_data_free(&d);
    return s;
}

static const char *const op_long[HW_NOPS] = {"q,k,v (attn_pre_proj)", "o (attn_post_proj)",
                                             "gate,up (mlp_up_proj)", "down (mlp_down_proj)"};

static db_status report(const char *dir, const char *sku, const char *holdout,
                        const hw_profile *sheet, const hw_profile *cal)
{
    gcal_data d;
    db_status s = gcal_load(&d, dir, sku, holdout, holdout != NULL);
    if (s != DB_OK)
        return s;
    gcal_err es[HW_NOPS], ec[HW_NOPS], as, ac;
    if ((s = gcal_errors(&d, sheet, es, &as)) == DB_OK &&
        (s = gcal_errors(&d, cal, ec, &ac)) == DB_OK) {
        char models[600] = "";
        size_t len = 0;
        for (int m = 0; m < d.nmodels && len < sizeof models; m++) {
            const char *nm = strchr(d.models[m], '/') ? strchr(d.models[m], '/') + 1 : d.models[m];
            len += (size_t)snprintf(models + len, sizeof models - len, "%s%s", m ? ", " : "", nm);
        }
        for (int op = 0; op < HW_NOPS; op++)
            printf("| %s | %s | %s | %zu | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %.1f %% | %zu "
                   "|\n", sku, op_long[op], models, es[op].n, 100 * es[op].median,
                   100 * es[op].max, 100 * ec[op].median, 100 * ec[op].p99, 100 * ec[op].max,
                   ec[op].over);
        printf("| %s | all-reduce (TP 2, 4, 8; in-sample) | %s node | %zu | %.1f %% | %.1f %% | "
               "%.1f %% | %.1f %% | %.1f %% | %zu |\n",
               sku, sku, as.n, 100 * as.median, 100 * as.max, 100 * ac.median, 100 * ac.p99,
               100 * ac.max, ac.over);
    }
    gcal_data_free(&d);
    return s;
}

/* The measurements' own reproducibility (gcal_repeats over every model of sku), one sentence
 * per profile after the table. */
static db_status repeats(const char *dir, const char *sku, bool first)
{
    gcal_data d;
    gcal_err r;
    db_status s = gcal_load(&d, dir, sku, NULL, false);
    if (s == DB_OK && (s = gcal_repeats(&d, &r)) == DB_OK) {
        if (first)
            printf("\nThe same GEMM shape measured in two models (|a - b| / min(a, b), every "
                   "model, at equal token counts):");
        if (r.n)
            printf("%s %s %zu points, median %.1f %%, p99 %.1f %%, max %.1f %% (%zu > %.0f %%)",
                   first ? "" : ";", sku, r.n, 100 * r.median, 100 * r.p99, 100 * r.max, r.over,
                   100 * GCAL_TARGET_MAX);
        else
            printf("%s %s none", first ? "" : ";", sku);
    }
    gcal_data_free(&d);
    return s;
}

int cmd_calibrate(int argc, char **argv)
{
    enum { O_DIR = 256, O_HW, O_OUT, O_EMIT, O_REPORT, O_HOLDOUT };
    static const struct option opts[] = {
        {"gpu-profiles", 1, 0, O_DIR}, {"hw", 1, 0, O_HW},         {"out", 1, 0, O_OUT},
        {"emit-c", 1, 0, O_EMIT},      {"report", 0, 0, O_REPORT}, {"holdout", 1, 0, O_HOLDOUT},
        {"help", 0, 0, 'h'},           {0, 0, 0, 0}};
    const char *cmd = "calibrate", *dir = NULL, *hw = NULL, *out = NULL, *emit = NULL;
    const char *holdout = NULL;
    bool rep = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *on = optind > 0 && optind <= argc ? argv[optind - 1] : "option";
        switch (c) {
        case 'h': usage(); return DB_EXIT_OK;
        case O_DIR: dir = optarg; break;
        case O_HW: hw = optarg; break;
        case O_OUT: out = optarg; break;
        case O_EMIT: emit = optarg; break;
        case O_REPORT: rep = true; break;
        case O_HOLDOUT: holdout = optarg; break;
        default: return cli_usage(cmd, "unknown or incomplete option '%s'", on);
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!dir)
        return cli_usage(cmd, "--gpu-profiles DIR is required");
    if (!!out + !!emit + rep != 1)
        return cli_usage(cmd, "exactly one of --out, --emit-c and --report");
    if (holdout && (!rep || !*holdout))
        return cli_usage(cmd, "--holdout NAME needs --report and a non-empty NAME");
    int first = 0, n = CAL_NSKU;
    if (hw) {
        for (first = 0; first < CAL_NSKU && strcmp(cal_skus[first], hw); first++)
            ;
        if (first == CAL_NSKU)
            return cli_usage(cmd, "--hw: '%s' has no GPU measurements (a100-80gb, h100-sxm)", hw);
        n = 1;
    }
    if (out && !hw)
        return cli_usage(cmd, "--out writes one profile's overlay: name it with --hw");
    if (emit && hw)
        return cli_usage(cmd, "--emit-c writes every profile's overlay: no --hw");

    static hw_profile sheet[CAL_NSKU], cal[CAL_NSKU]; /* ~100 KB each: not on the stack */
    db_status s = DB_OK;
    for (int i = 0; i < n && s == DB_OK; i++)
        s = fit_one(dir, cal_skus[first + i], holdout, &sheet[i], &cal[i]);
    if (s != DB_OK)
        return cli_fail(cmd, s);
    if (rep) {
        printf("| profile | operator | %s | points | datasheet median | datasheet max | "
               "calibrated median | calibrated p99 | calibrated max | calibrated points > %.0f "
               "%% |\n|---|---|---|---|---|---|---|---|---|---|\n",
               holdout ? "held-out model (not in the fit)" : "models (in-sample)",
               100 * GCAL_TARGET_MAX);
        for (int i = 0; i < n && s == DB_OK; i++)
            s = report(dir, cal_skus[first + i], holdout, &sheet[i], &cal[i]);
        printf("\nKernel bandwidths (ln N, ln K) chosen by leave-one-model-out on the fitted "
               "models:");
        for (int i = 0; i < n && s == DB_OK; i++)
            printf("%s %s %g, %g", i ? ";" : "", cal_skus[first + i], cal[i].surf.kern_n,
                   cal[i].surf.kern_k);
        printf(".\n");
        for (int i = 0; i < n && s == DB_OK; i++)
            s = repeats(dir, cal_skus[first + i], i == 0);
        if (s == DB_OK)
            printf(".\n");
    } else if (out) {
        fs_out o;
        if ((s = fs_out_open(&o, out)) == DB_OK) {
            fprintf(o.fp,
                    "# calibration overlay of %s written by: deltabench calibrate --gpu-profiles %s "
                    "--hw %s --out %s\n# (a --calib file: measured GEMM efficiency surface and "
                    "all-reduce model; serve/hw.h)\n",
                    cal_skus[first], dir, cal_skus[first], out);
            if (!hw_surface_print(o.fp, &cal[0])) {
                fs_out_abort(&o);
                s = db_error(DB_ERR_IO, "%s: write error", out);
            } else
                s = fs_out_commit(&o);
        }
    } else {
        char command[4096 + 200];
        snprintf(command, sizeof command,
                 "bin/deltabench calibrate --gpu-profiles %s --emit-c serve/gpucal_data.c", dir);
        const hw_profile *cp[CAL_NSKU];
        for (int i = 0; i < n; i++)
            cp[i] = &cal[i];
        s = gcal_emit_c(emit, cp, cal_skus, n, command);
    }
    if (s != DB_OK)
        return cli_fail(cmd, s);
    if (fflush(stdout) != 0)
        return cli_fail(cmd, db_error(DB_ERR_IO, "stdout: write error"));
    return DB_EXIT_OK;
}
