/* check_gpucal.c: the GPU calibration (serve/gpucal.h): CSV errors name file:line, the fit
 * recovers a known synthetic surface and all-reduce model exactly, the kernel mean that prices
 * a shape gives known values and its bandwidth choice known answers, the cost model follows the
 * surface, and on the real measurements (../shared/gpu-profiles) the held-out model's errors
 * and the committed serve/gpucal_data.c (a refit must reproduce it byte for byte); and the
 * measured load latencies (disk_lat_us / load_lat_us: parsed, drawn, fitted from loads, used
 * by the sim executor) with known values. Without the
 * measurements the real-data cases are skipped and the binary exits 77 after the others. */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fsutil.h"
#include "core/alloc.h"
#include "serve/cost.h"
#include "serve/exec.h"
#include "serve/gpucal.h"

#define PROFILES "../shared/gpu-profiles"

static char scratch[256];

static void scratch_make(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/check_gpucal.XXXXXX", base && base[0] ? base : "/tmp");
    ck_assert_msg(mkdtemp(scratch) != NULL, "mkdtemp: %s", strerror(errno));
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void mkdirs(const char *path)
{
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = 0;
            mkdir(p, 0700);
            *s = '/';
        }
    mkdir(p, 0700);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const char *HDR =
    "time_stats.attn_pre_proj.median,time_stats.attn_post_proj.median,"
    "time_stats.mlp_up_proj.median,time_stats.mlp_down_proj.median,n_head,n_kv_head,n_embd,"
    "n_expanded_embd,use_gated_mlp,num_tokens,num_tensor_parallel_workers\n";

/* ---- CSV errors ---------------------------------------------------------------------------- */

static void expect_error(const char *text, const char *needle)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bad.csv", scratch);
    write_file(path, text);
    gcal_data d;
    memset(&d, 0, sizeof d);
    ck_assert_int_eq(gcal_read_compute(&d, path, "m"), DB_ERR_FORMAT);
    char want[600];
    snprintf(want, sizeof want, "%s%s", path, needle);
    ck_assert_msg(strstr(db_errmsg(), want) != NULL, "'%s' lacks '%s'", db_errmsg(), want);
    ck_assert_ptr_null(strchr(db_errmsg(), '\n'));
    gcal_data_free(&d);
}

START_TEST(test_csv_errors)
{
    scratch_make();
    char buf[2048];
    expect_error("a,b\n", ":1: no column 'n_head'");
    snprintf(buf, sizeof buf, "%s1,1,1,1,32,32,4096,11008,True,1\n", HDR);
    expect_error(buf, ":2: 10 fields, the header has 11");
    snprintf(buf, sizeof buf, "%s1,1,1,1,32,32,4096,11008,True,1,1\n0.1,1,1,1,32,32,4096,11008,"
             "Maybe,2,1\n", HDR);
    expect_error(buf, ":3: use_gated_mlp 'Maybe'");
    snprintf(buf, sizeof buf, "%s1,1,1,1,32,32,4096,11008,True,1,1\n\n1,x,1,1,32,32,4096,11008,"
             "True,2,1\n", HDR);
    expect_error(buf, ":4: time_stats.attn_post_proj.median 'x'");
    snprintf(buf, sizeof buf, "%s1,1,1,1,32,32,4096,11008,True,1,3\n", HDR);
    expect_error(buf, ":2: shape 32 heads");
    snprintf(buf, sizeof buf, "%s1,1,1,1,32,32,4096,11008,True,8192,1\n", HDR);
    expect_error(buf, ": no rows of 1..4096 tokens");
    /* The overlay parser: a surface row needs the knots first, and as many values. */
    hw_profile p;
    memset(&p, 0, sizeof p);
    ck_assert_int_eq(hw_profile_parse(&p, "gemm.eff.qkv.tp1 = 4x4: 0.5 0.5\n", "f"), DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "f:1: gemm.eff.qkv.tp1 before gemm.tokens"));
    ck_assert_int_eq(hw_profile_parse(&p, "gemm.tokens = 1 2\ngemm.eff.qkv.tp1 = 4x4: 0.5\n", "f"),
                     DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "f:2: gemm.eff.qkv.tp1: 1 efficiencies for 2 knots"));
    ck_assert_int_eq(hw_profile_parse(&p, "gemm.tokens = 2 1\n", "f"), DB_ERR_FORMAT);
    ck_assert_int_eq(hw_profile_parse(&p, "gemm.tokens = 1 2\ngemm.eff.qk.tp1 = 4x4: 1 1\n", "f"),
                     DB_ERR_FORMAT);
    ck_assert_int_eq(hw_profile_parse(&p, "gemm.tokens = 1 2\ngemm.eff.o.tp1 = 4x4: 1 1.5\n", "f"),
                     DB_ERR_FORMAT);
    ck_assert_int_eq(hw_profile_parse(&p, "allreduce.tp1 = 5 100\n", "f"), DB_ERR_FORMAT);
    ck_assert_int_eq(hw_profile_parse(&p, "allreduce.tp2 = 5\n", "f"), DB_ERR_FORMAT);
    ck_assert_int_eq(hw_profile_parse(&p, "gemm.kernel = 0.3\n", "f"), DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "f:1: gemm.kernel: expected two bandwidths"));
    ck_assert_int_eq(hw_profile_parse(&p, "gemm.kernel = 0.3 0\n", "f"), DB_ERR_FORMAT);
    ck_assert_int_eq(hw_profile_parse(&p, "gemm.kernel = 0.3 0.5 x\n", "f"), DB_ERR_FORMAT);
    ck_assert_int_eq(hw_profile_parse(&p, "gemm.kernel = 0.3 0.5\n", "f"), DB_OK);
    ck_assert(p.surf.kern_n == 0.3 && p.surf.kern_k == 0.5);
}
END_TEST

/* ---- synthetic data: exact recovery -------------------------------------------------------- */

static const int tok[] = {1, 2, 4, 8, 64, 512, 4096};
#define NTOK (int)(sizeof tok / sizeof tok[0])

/* The known efficiency of op at knot i for model m (any values in (0, 1]). */
static double known_eff(int op, int tp, int m, int i)
{
    return 0.3 + 0.05 * op + 0.02 * m + 0.01 * (tp == 2) + 0.04 * i;
}

/* The same efficiency curve for every model, projection and TP. */
static double flat_eff(int op, int tp, int m, int i)
{
    (void)op, (void)tp, (void)m;
    return 0.25 + 0.05 * i;
}

/* Writes model m (hidden C, mlp F, heads NH) timed by eff (known_eff, flat_eff) on the
 * datasheet p. */
static void write_model(const char *dir, int m, int C, int F, int NH, const hw_profile *p,
                        double (*eff)(int, int, int, int))
{
    char path[1024];
    snprintf(path, sizeof path, "%s/compute/a100/org/model%d", dir, m);
    mkdirs(path);
    strcat(path, "/mlp.csv");
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(HDR, f);
    for (int tp = 1; tp <= 2; tp++)
        for (int i = 0; i < NTOK; i++) {
            double HS = (double)C / NH;
            double nk[HW_NOPS][2] = {{3.0 * NH / tp * HS, C}, {C, NH / tp * HS}, {2.0 * F / tp, C},
                                     {C, (double)F / tp}};
            for (int op = 0; op < HW_NOPS; op++) {
                double n = nk[op][0], k = nk[op][1];
                double r = fmax(2 * n * k / p->hbm_bw, 2 * n * k * tok[i] / p->peak_flops);
                fprintf(f, "%.17g,", 1e3 * r / eff(op, tp, m, i));
            }
            fprintf(f, "%d,%d,%d,%d,True,%d,%d\n", NH, NH, C, F, tok[i], tp);
        }
    ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_fit_synthetic)
{
    scratch_make();
    hw_profile sheet, cal;
    ck_assert_int_eq(hw_profile_builtin(&sheet, "a100-80gb-datasheet"), DB_OK);
    ck_assert_str_eq(sheet.calib, "");
    ck_assert_int_eq(sheet.surf.nknots, 0);
    write_model(scratch, 0, 1024, 2048, 8, &sheet, known_eff);
    write_model(scratch, 1, 4096, 8192, 32, &sheet, known_eff);
    /* All-reduce: t = 10 us + 2 (n-1)/n bytes / (100 GB/s + 50 GB/s·log2 n), exactly. */
    char path[1024];
    snprintf(path, sizeof path, "%s/network/a100_dgx", scratch);
    mkdirs(path);
    strcat(path, "/all_reduce.csv");
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(",time_stats.all_reduce.median,num_workers,size,devices_per_node\n", f);
    int row = 0;
    for (int n = 2; n <= 8; n *= 2)
        for (double b = 2048; b < 1e8; b *= 4) {
            double bw = 100e9 + 50e9 * log2(n);
            fprintf(f, "%d,%.17g,%d,%.0f,%d\n", row++, 1e3 * (10e-6 + 2.0 * (n - 1) / n * b / bw), n,
                    b, n);
            fprintf(f, "%d,1,%d,%.0f,1\n", row++, n, b); /* across nodes: ignored */
        }
    ck_assert_int_eq(fclose(f), 0);

    gcal_data d;
    ck_assert_int_eq(gcal_load(&d, scratch, "a100-80gb", NULL, false), DB_OK);
    ck_assert_int_eq(d.nmodels, 2);
    ck_assert_uint_eq(d.n, 2 * 2 * NTOK);
    ck_assert_uint_eq(d.nar, 3 * 8);
    cal = sheet;
    ck_assert_int_eq(gcal_fit(&d, &sheet, &cal), DB_OK);
    ck_assert_int_eq(cal.surf.nknots, NTOK);
    ck_assert_int_eq(cal.surf.nrows, HW_NOPS * 2 * 2);
    for (int r = 0; r < cal.surf.nrows; r++) {
        int m = cal.surf.row[r].k == 1024 || cal.surf.row[r].n == 1024 ? 0 : 1;
        for (int i = 0; i < NTOK; i++)
            ck_assert_double_eq_tol(cal.surf.row[r].eff[i],
                                    known_eff(cal.surf.row[r].op, cal.surf.row[r].tp, m, i), 5e-4);
    }
    ck_assert_int_eq(cal.surf.nar, 3);
    for (int a = 0; a < 3; a++) {
        ck_assert_double_eq_tol(cal.surf.ar[a].lat_s, 10e-6, 1e-8);
        ck_assert_double_eq_tol(cal.surf.ar[a].busbw / (100e9 + 50e9 * log2(cal.surf.ar[a].tp)), 1,
                                1e-3);
    }
    /* The kernel's bandwidths come from the grid, and the provenance names them. */
    ck_assert(cal.surf.kern_n >= 0.2 && cal.surf.kern_n <= 1 && cal.surf.kern_k >= 0.2 &&
              cal.surf.kern_k <= 1);
    ck_assert_ptr_nonnull(strstr(cal.calib, "kernel chosen by leave-one-model-out"));
    /* The all-reduce model is exact; the GEMMs' in-sample errors are not the rows' own values
     * (the kernel mixes the rows: test_kernel_known has its numbers). */
    gcal_err e[HW_NOPS], ea;
    ck_assert_int_eq(gcal_errors(&d, &cal, e, &ea), DB_OK);
    ck_assert(ea.max < 1e-3);
    /* No GEMM shape shared by the two models (model 0's down at TP 2 is its own o at TP 1, 1024 x
     * 1024, which does not count): no repeats. */
    gcal_err r;
    ck_assert_int_eq(gcal_repeats(&d, &r), DB_OK);
    ck_assert_uint_eq(r.n, 0);
    gcal_data_free(&d);
}
END_TEST

/* ---- the kernel mean ------------------------------------------------------------------------ */

/* The smallest all-reduce file gcal_load accepts (two sizes over 2 GPUs), in the scratch. */
static void write_small_allreduce(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/network/a100_dgx", scratch);
    mkdirs(path);
    strcat(path, "/all_reduce.csv");
    write_file(path, ",time_stats.all_reduce.median,num_workers,size,devices_per_node\n"
                     "0,0.02,2,1000,2\n1,0.03,2,2000000,2\n");
}

START_TEST(test_kernel_known)
{
    static hw_profile p;
    ck_assert_int_eq(hw_profile_builtin(&p, "a100-80gb-datasheet"), DB_OK);
    /* Three rows: e = 0.2 at 1000 x 1000, 0.6 at 2000 x 1000 (another projection and TP: they
     * count alike), 0.9 at 1000 x 8000; bandwidths 0.5 (ln N) and 1 (ln K). */
    ck_assert_int_eq(hw_profile_parse(&p,
                                      "gemm.tokens = 1 8\n"
                                      "gemm.kernel = 0.5 1\n"
                                      "gemm.eff.qkv.tp1 = 1000x1000: 0.2 0.4\n"
                                      "gemm.eff.down.tp4 = 2000x1000: 0.6 0.8\n"
                                      "gemm.eff.o.tp2 = 1000x8000: 0.9 1\n",
                                      "k"),
                     DB_OK);
    /* At 1000 x 1000: d^2 = 0, (ln 2 / 0.5)^2, (ln 8 / 1)^2. */
    double w1 = exp(-0.5 * pow(log(2) / 0.5, 2)), w2 = exp(-0.5 * pow(log(8), 2));
    double want = (0.2 + 0.6 * w1 + 0.9 * w2) / (1 + w1 + w2);
    ck_assert_double_eq_tol(hw_surface_eff(&p, 1000, 1000, 0), want, 1e-6);
    want = (0.4 + 0.8 * w1 + 1.0 * w2) / (1 + w1 + w2);
    ck_assert_double_eq_tol(hw_surface_eff(&p, 1000, 1000, 1), want, 1e-6);
    /* Halfway (in ln N) between the first two rows: equal weights, and the third row's
     * d^2 = (ln sqrt2 / 0.5)^2 + (ln 8)^2 relative to theirs. */
    double n = 1000 * sqrt(2), w3 = exp(-0.5 * pow(log(8), 2));
    want = (0.2 + 0.6 + 0.9 * w3) / (2 + w3);
    ck_assert_double_eq_tol(hw_surface_eff(&p, n, 1000, 0), want, 1e-6);
    /* Far from every row: the nearest weighs 1, so nothing underflows to 0/0. */
    ck_assert_double_eq_tol(hw_surface_eff(&p, 1e7, 1e3, 0), 0.6, 1e-6);
    ck_assert(hw_surface_eff(&p, 1000, 1000, 2) == 0); /* no such knot */
    /* Without gemm.kernel: HW_KERNEL_DEFAULT in both. */
    p.surf.kern_n = p.surf.kern_k = 0;
    w1 = exp(-0.5 * pow(log(2) / HW_KERNEL_DEFAULT, 2));
    w2 = exp(-0.5 * pow(log(8) / HW_KERNEL_DEFAULT, 2));
    ck_assert_double_eq_tol(hw_surface_eff(&p, 1000, 1000, 0),
                            (0.2 + 0.6 * w1 + 0.9 * w2) / (1 + w1 + w2), 1e-6);
    /* A GEMM's seconds at a knot: roofline / that efficiency; between knots linear in tokens. */
    double sec1 = fmax(2e6 / p.hbm_bw, 2e6 * 1 / p.peak_flops) / hw_surface_eff(&p, 1000, 1000, 0);
    double sec8 = fmax(2e6 / p.hbm_bw, 2e6 * 8 / p.peak_flops) / hw_surface_eff(&p, 1000, 1000, 1);
    ck_assert_double_eq_tol(gcal_predict(&p, 1000, 1000, 1) / sec1, 1, 1e-12);
    ck_assert_double_eq_tol(gcal_predict(&p, 1000, 1000, 4.5) / (0.5 * (sec1 + sec8)), 1, 1e-12);
    ck_assert_double_eq_tol(gcal_predict(&p, 1000, 1000, 16) / (2 * sec8), 1, 1e-12);
}
END_TEST

START_TEST(test_kernel_choice)
{
    /* Every model and projection with the same efficiency curve: every bandwidth predicts a
     * left-out model exactly, all scores tie, and the first pair of the grid (0.2, 0.2) wins. */
    scratch_make();
    static hw_profile sheet, cal;
    ck_assert_int_eq(hw_profile_builtin(&sheet, "a100-80gb-datasheet"), DB_OK);
    for (int m = 0; m < 3; m++)
        write_model(scratch, m, 1024 << m, 2048 << m, 8 << m, &sheet, flat_eff);
    write_small_allreduce();
    gcal_data d;
    ck_assert_int_eq(gcal_load(&d, scratch, "a100-80gb", NULL, false), DB_OK);
    cal = sheet;
    ck_assert_int_eq(gcal_fit(&d, &sheet, &cal), DB_OK);
    ck_assert(cal.surf.kern_n == 0.2 && cal.surf.kern_k == 0.2);
    ck_assert_ptr_nonnull(strstr(cal.calib, "of 0.2, 0.2: kernel chosen by leave-one-model-out "
                                            "p99 error 0.0 %"));
    gcal_data_free(&d);
    /* One model: nothing to leave out, the default kernel. */
    ck_assert_int_eq(gcal_load(&d, scratch, "a100-80gb", "model1", true), DB_OK);
    ck_assert_int_eq(d.nmodels, 1);
    cal = sheet;
    ck_assert_int_eq(gcal_fit(&d, &sheet, &cal), DB_OK);
    ck_assert(cal.surf.kern_n == HW_KERNEL_DEFAULT && cal.surf.kern_k == HW_KERNEL_DEFAULT);
    ck_assert_ptr_nonnull(strstr(cal.calib, "one model: default kernel"));
    gcal_data_free(&d);
}
END_TEST

/* Writes models 0 (hidden 1024, mlp f0, 8 heads) and 1 (hidden c1, mlp f1, nh1 heads), timed by
 * known_eff on `sheet`, and the small all-reduce into a new scratch, and loads them into d. */
static void load_two(const hw_profile *sheet, int f0, int c1, int f1, int nh1, gcal_data *d)
{
    scratch_make();
    write_model(scratch, 0, 1024, f0, 8, sheet, known_eff);
    write_model(scratch, 1, c1, f1, nh1, sheet, known_eff);
    write_small_allreduce();
    ck_assert_int_eq(gcal_load(d, scratch, "a100-80gb", NULL, false), DB_OK);
}

START_TEST(test_repeats_known)
{
    /* Two models with the same attention (hidden 1024, 8 heads) and different MLPs (2560, 3584:
     * no shape in common): q,k,v and o at TP 1 and 2 are the same GEMMs, at efficiencies
     * known_eff(op, tp, 0, i) and that + 0.02, so |a - b| / min(a, b) = 0.02 / known_eff(op, tp,
     * 0, i) at 2 x 2 x 7 points. */
    static hw_profile sheet;
    ck_assert_int_eq(hw_profile_builtin(&sheet, "a100-80gb-datasheet"), DB_OK);
    gcal_data d;
    load_two(&sheet, 2560, 1024, 3584, 8, &d);
    gcal_err r;
    ck_assert_int_eq(gcal_repeats(&d, &r), DB_OK);
    double want[2 * 2 * NTOK];
    int n = 0;
    for (int op = HW_OP_QKV; op <= HW_OP_O; op++)
        for (int tp = 1; tp <= 2; tp++)
            for (int i = 0; i < NTOK; i++)
                want[n++] = 0.02 / known_eff(op, tp, 0, i);
    qsort(want, (size_t)n, sizeof *want, cmp_dbl);
    ck_assert_uint_eq(r.n, (size_t)n);
    ck_assert_double_eq_tol(r.max, 0.02 / 0.3, 1e-9);
    ck_assert_double_eq_tol(r.max, want[n - 1], 1e-9);
    ck_assert_double_eq_tol(r.median, 0.5 * (want[n / 2 - 1] + want[n / 2]), 1e-9);
    ck_assert_double_eq_tol(r.p99, want[(int)(0.99 * (n - 1) + 0.5)], 1e-9);
    ck_assert_uint_eq(r.over, 0);
    gcal_data_free(&d);
}
END_TEST

START_TEST(test_overlay_roundtrip)
{
    static hw_profile sheet, cal;
    ck_assert_int_eq(hw_profile_builtin(&sheet, "a100-80gb-datasheet"), DB_OK);
    gcal_data d;
    load_two(&sheet, 2048, 4096, 8192, 32, &d);
    cal = sheet;
    ck_assert_int_eq(gcal_fit(&d, &sheet, &cal), DB_OK);
    gcal_data_free(&d);
    char path[1024];
    FILE *f;
    /* The overlay round-trips through its text. */
    snprintf(path, sizeof path, "%s/cal.txt", scratch);
    f = fopen(path, "w");
    ck_assert(hw_surface_print(f, &cal));
    fclose(f);
    hw_profile back = sheet;
    ck_assert_int_eq(hw_profile_overlay(&back, path), DB_OK);
    ck_assert_int_eq(back.surf.nrows, cal.surf.nrows);
    ck_assert_int_eq(memcmp(back.surf.row[5].eff, cal.surf.row[5].eff, NTOK * sizeof(float)), 0);
    ck_assert(back.surf.kern_n == cal.surf.kern_n && back.surf.kern_k == cal.surf.kern_k);
    ck_assert_ptr_nonnull(strstr(back.calib, "; overlay "));
}
END_TEST

/* ---- the cost model on the surface --------------------------------------------------------- */

START_TEST(test_cost_curve)
{
    hw_profile p;
    ck_assert_int_eq(hw_profile_builtin(&p, "a100-80gb"), DB_OK);
    ck_assert(p.surf.nknots > 100);
    const llama_model *m = llama_model_find("llama2-13b");
    cost_ctx c;
    ck_assert_int_eq(cost_init(&c, m, NULL, &p, 4), DB_OK);
    ck_assert(c.curved);
    /* Full-model iteration of T tokens, 1 logit row: the 4 projections' surface times (the
     * gcal_predict of each, at its shape) x L + lm_head, + attention, + all-reduces. */
    int64_t toks[] = {1, 7, 300, 4096, 5000};
    for (size_t t = 0; t < sizeof toks / sizeof toks[0]; t++) {
        int32_t model = 0;
        int64_t one = 1;
        cost_batch b = {.mode = COST_FULL_MODELS, .n_prefill = 1, .prefill_tokens = toks[t],
                        .n_models = 1, .models = &model, .tokens = &toks[t], .logits = &one};
        double HS = 128, C = 5120, F = 13824;
        double shp[4][2] = {{3 * 40 * HS / 4, C}, {C, 40 * HS / 4}, {2 * F / 4, C}, {C, F / 4}};
        double want = 0;
        for (int op = 0; op < HW_NOPS; op++)
            want += 40 * gcal_predict(&p, shp[op][0], shp[op][1], (double)toks[t]);
        want += gcal_predict(&p, 32000 / 4.0, C, 1);
        double got = cost_term(&c, &b, COST_TERM_GEMM);
        ck_assert_msg(fabs(got / want - 1) < 1e-9, "T %lld: %g vs %g", (long long)toks[t], got, want);
    }
    /* Measured all-reduce: 2 per layer of T·C fp16 at the TP 4 entry. */
    int a = hw_surface_ar(&p, 4);
    ck_assert_int_ge(a, 0);
    ck_assert_double_eq_tol(c.k.ar_fixed, 2 * 40 * p.surf.ar[a].lat_s, 1e-12);
    /* The datasheet profile keeps the scalar roofline. */
    hw_profile q;
    ck_assert_int_eq(hw_profile_builtin(&q, "a100-80gb-datasheet"), DB_OK);
    ck_assert_int_eq(cost_init(&c, m, cost_format_find("4bit-2:4"), &q, 4), DB_OK);
    ck_assert(!c.curved);
    /* A delta on the surface: priced at the dense efficiency of its intensity x the ratio. */
    ck_assert_int_eq(cost_init(&c, m, cost_format_find("4bit-2:4"), &p, 4), DB_OK);
    ck_assert(c.curved && c.delta_x > 1);
    ck_assert(c.kn.k[0].sec[COST_C_DLIN] > 0 &&
              c.kn.k[0].sec[COST_C_DLIN] < c.kn.k[0].sec[COST_C_LIN]); /* fewer bytes than the fp16 base */
    /* h200 and rtx3090 say they are extrapolated. */
    ck_assert_int_eq(hw_profile_builtin(&q, "h200"), DB_OK);
    ck_assert_ptr_nonnull(strstr(q.calib, "extrapolated"));
    ck_assert_int_eq(hw_profile_builtin(&q, "rtx3090"), DB_OK);
    ck_assert_ptr_nonnull(strstr(q.calib, "extrapolated"));
    ck_assert_int_eq(q.surf.nar, 0);
}
END_TEST

/* ---- load latencies -------------------------------------------------------------------------- */

START_TEST(test_load_latency)
{
    static hw_profile p;
    ck_assert_int_eq(hw_profile_builtin(&p, "a100-80gb-datasheet"), DB_OK);
    ck_assert_int_eq(hw_profile_parse(&p, "disk_lat_us = 100 200 300 400\n"
                                          "load_lat_us = 1000 3000\n"
                                          "disk_gbps = 0.001\npcie_gbps = 0.01\n"
                                          "load_overhead_ms = 7\n", "l"),
                     DB_OK);
    ck_assert_int_eq(p.disk_lat.n, 4);
    ck_assert_double_eq_tol(p.disk_lat.s[3], 400e-6, 1e-15);
    ck_assert_int_eq(hw_profile_parse(&p, "disk_lat_us = 2 1\n", "l"), DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "l:1: disk_lat_us: at most 16 non-decreasing"));
    ck_assert_int_eq(hw_profile_parse(&p, "load_lat_us = 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 "
                                          "17\n", "l"),
                     DB_ERR_FORMAT);
    ck_assert_int_eq(hw_profile_parse(&p, "disk_lat_us = -1\n", "l"), DB_ERR_FORMAT);
    ck_assert_int_eq(p.disk_lat.n, 4); /* a bad line changes nothing */
    /* cost_draw: frac(0.5 + i·0.618...). */
    ck_assert_double_eq_tol(cost_draw(0), 0.5, 1e-15);
    ck_assert_double_eq_tol(cost_draw(1), 0.5 + 0.6180339887498949 - 1, 1e-12);
    ck_assert_double_eq_tol(cost_draw(3), 0.5 + 3 * 0.6180339887498949 - 2, 1e-12);
    /* Disk: stratum floor(4u) + 1000 bytes / 1 MB/s; the mean without a draw. */
    const llama_model *m = llama_model_find("llama2-7b");
    cost_ctx c;
    ck_assert_int_eq(cost_init(&c, m, NULL, &p, 2), DB_OK);
    ck_assert_double_eq_tol(cost_load_disk_at(&c, 1000, 0.1), 100e-6 + 1e-3, 1e-12);
    ck_assert_double_eq_tol(cost_load_disk_at(&c, 1000, 0.5), 300e-6 + 1e-3, 1e-12);
    ck_assert_double_eq_tol(cost_load_disk_at(&c, 1000, 0.99), 400e-6 + 1e-3, 1e-12);
    ck_assert_double_eq_tol(cost_load_disk(&c, 1000), 250e-6 + 1e-3, 1e-12);
    /* Host -> GPU: 1e5 bytes over TP 2 at 10 MB/s each, + the load_lat stratum (not
     * load_overhead_ms, which a measured latency replaces). */
    ck_assert_double_eq_tol(cost_load_pcie_at(&c, 1e5, 0.7), 5e-3 + 3e-3, 1e-12);
    ck_assert_double_eq_tol(cost_load_pcie(&c, 1e5), 5e-3 + 2e-3, 1e-12);
    /* The sim executor draws each stage's sequence in turn: draws 0.5, 0.118, 0.736 -> strata
     * 2, 0, 2 of the disk; 0.5 -> stratum 1 of the builds. */
    exe_executor e;
    ck_assert_int_eq(exe_sim_init(&e, &c), DB_OK);
    const int want[] = {2, 0, 2};
    for (int i = 0; i < 3; i++) {
        double sec;
        ck_assert_int_eq(e.ops->load(e.ctx, 0, EXE_LOAD_DISK, 1000, &sec), DB_OK);
        ck_assert_double_eq_tol(sec, p.disk_lat.s[want[i]] + 1e-3, 1e-12);
    }
    double sec;
    ck_assert_int_eq(e.ops->load(e.ctx, 0, EXE_LOAD_PCIE, 1e5, &sec), DB_OK);
    ck_assert_double_eq_tol(sec, 5e-3 + 3e-3, 1e-12);
    exe_free(&e);
    /* Without measured latencies: bytes / bandwidth (+ load_overhead), whatever the draw. */
    static hw_profile q;
    ck_assert_int_eq(hw_profile_builtin(&q, "a100-80gb-datasheet"), DB_OK);
    ck_assert_int_eq(cost_init(&c, m, NULL, &q, 1), DB_OK);
    ck_assert_double_eq_tol(cost_load_disk_at(&c, 2e9, 0.9), 1, 1e-12);
    ck_assert_double_eq_tol(cost_load_pcie_at(&c, 25e9, 0.9), 1 + 5e-3, 1e-12);
    /* Strata from loads: 20 reads of 1000 bytes at 1 MB/s taking 1 ms + i·0.1 ms, so
     * latencies 0, 0.1, ... 1.9 ms: 16 strata, stratum k the sorted [floor(20k/16),
     * floor(20(k+1)/16)), of 1 or 2 of them. */
    double ld[20][2];
    for (int i = 0; i < 20; i++)
        ld[i][0] = 1e-3 + (19 - i) * 1e-4, ld[i][1] = 1000;
    hw_lat l;
    ck_assert_double_eq_tol(exe_lat_strata((const double(*)[2])ld, 20, 1e6, &l), 0.95e-3, 1e-12);
    ck_assert_int_eq(l.n, 16);
    ck_assert_double_eq_tol(l.s[0], 0, 1e-12);     /* [0, 1): 0 */
    ck_assert_double_eq_tol(l.s[1], 0.1e-3, 1e-12);  /* [1, 2) */
    ck_assert_double_eq_tol(l.s[3], 0.35e-3, 1e-12); /* [3, 5): 0.3, 0.4 ms */
    ck_assert_double_eq_tol(l.s[15], 1.85e-3, 1e-12); /* [18, 20) */
    /* A load faster than bytes / bandwidth has latency 0; fewer loads than strata: one each. */
    ld[0][0] = 1e-4;
    ck_assert_double_eq_tol(exe_lat_strata((const double(*)[2])ld, 1, 1e6, &l), 0, 1e-15);
    ck_assert_int_eq(l.n, 1);
}
END_TEST

/* ---- the real measurements ----------------------------------------------------------------- */

static bool have_profiles(void)
{
    struct stat sb;
    return stat(PROFILES "/compute", &sb) == 0;
}

START_TEST(test_holdout_targets)
{
    static const char *const skus[] = {"a100-80gb", "h100-sxm"};
    /* The targets (docs/serving.md): medians <= 10 %; maxima <= 25 %, met on A100 (13.7, 15.1,
     * 23.0, 24.9 %) and not on H100, whose fit has two models: there the bounds are the
     * measured maxima (31.1, 26.3, 38.8, 28.1 %), regression bounds, not the target. */
    static const double max_bound[2][HW_NOPS] = {{0.25, 0.25, 0.25, 0.25}, {0.32, 0.27, 0.39, 0.29}};
    for (int s = 0; s < 2; s++) {
        char name[64];
        snprintf(name, sizeof name, "%s-datasheet", skus[s]);
        static hw_profile sheet, cal;
        ck_assert_int_eq(hw_profile_builtin(&sheet, name), DB_OK);
        gcal_data train, test;
        ck_assert_int_eq(gcal_load(&train, PROFILES, skus[s], "codellama", false), DB_OK);
        ck_assert_int_eq(gcal_load(&test, PROFILES, skus[s], "codellama", true), DB_OK);
        ck_assert_int_eq(test.nmodels, 1);
        cal = sheet;
        ck_assert_int_eq(gcal_fit(&train, &sheet, &cal), DB_OK);
        gcal_err ec[HW_NOPS], es[HW_NOPS], a;
        ck_assert_int_eq(gcal_errors(&test, &cal, ec, &a), DB_OK);
        ck_assert_int_eq(gcal_errors(&test, &sheet, es, &a), DB_OK);
        for (int op = 0; op < HW_NOPS; op++) {
            ck_assert_uint_eq(ec[op].n, 1036);
            ck_assert_msg(ec[op].median <= 0.10, "%s %s median %g", skus[s], hw_op_names[op],
                          ec[op].median);
            ck_assert_msg(ec[op].median < es[op].median, "%s %s: no better than the datasheet",
                          skus[s], hw_op_names[op]);
            ck_assert_msg(ec[op].max <= max_bound[s][op], "%s %s max %g", skus[s],
                          hw_op_names[op], ec[op].max);
        }
        gcal_data_free(&train);
        gcal_data_free(&test);
    }
}
END_TEST

START_TEST(test_repeats_measured)
{
    /* The same GEMM measured in two models (docs/serving.md, "Against the targets"): A100 3,885
     * points (70B/CodeLlama and Llama-2-7B/Llama-3-8B attention), max 17.3 %; H100 2,072 points
     * (70B/CodeLlama), max 39.5 % (q,k,v at TP 1, 696 tokens), 3 points above 25 %. */
    static const char *const skus[] = {"a100-80gb", "h100-sxm"};
    static const size_t n[] = {3885, 2072}, over[] = {0, 3};
    static const double mx[] = {0.1727, 0.3952}, med[] = {0.0136, 0.0115};
    for (int s = 0; s < 2; s++) {
        gcal_data d;
        gcal_err r;
        ck_assert_int_eq(gcal_load(&d, PROFILES, skus[s], NULL, false), DB_OK);
        ck_assert_int_eq(gcal_repeats(&d, &r), DB_OK);
        ck_assert_uint_eq(r.n, n[s]);
        ck_assert_uint_eq(r.over, over[s]);
        ck_assert_double_eq_tol(r.max, mx[s], 5e-4);
        ck_assert_double_eq_tol(r.median, med[s], 5e-4);
        gcal_data_free(&d);
    }
}
END_TEST

START_TEST(test_committed_overlay)
{
    static const char *const skus[] = {"a100-80gb", "h100-sxm"};
    static hw_profile sheet[2], cal[2];
    const hw_profile *cp[2];
    for (int s = 0; s < 2; s++) {
        char name[64];
        snprintf(name, sizeof name, "%s-datasheet", skus[s]);
        ck_assert_int_eq(hw_profile_builtin(&sheet[s], name), DB_OK);
        gcal_data d;
        ck_assert_int_eq(gcal_load(&d, PROFILES, skus[s], NULL, false), DB_OK);
        cal[s] = sheet[s];
        snprintf(cal[s].name, sizeof cal[s].name, "%s", skus[s]);
        ck_assert_int_eq(gcal_fit(&d, &sheet[s], &cal[s]), DB_OK);
        gcal_data_free(&d);
        cp[s] = &cal[s];
    }
    scratch_make();
    char path[512];
    snprintf(path, sizeof path, "%s/gpucal_data.c", scratch);
    ck_assert_int_eq(gcal_emit_c(path, cp, skus, 2,
                                 "bin/deltabench calibrate --gpu-profiles " PROFILES
                                 " --emit-c serve/gpucal_data.c"),
                     DB_OK);
    char *a, *b;
    size_t la, lb;
    ck_assert_int_eq(fs_read_all(path, &a, &la), DB_OK);
    ck_assert_int_eq(fs_read_all("serve/gpucal_data.c", &b, &lb), DB_OK);
    ck_assert_msg(la == lb && !memcmp(a, b, la),
                  "serve/gpucal_data.c differs from a refit: regenerate it with the command at "
                  "its top");
    db_free(a);
    db_free(b);
    /* And what is compiled in is that refit. */
    hw_profile p;
    ck_assert_int_eq(hw_profile_builtin(&p, "h100-sxm"), DB_OK);
    ck_assert_int_eq(p.surf.nrows, cal[1].surf.nrows);
    ck_assert_int_eq(memcmp(p.surf.row[7].eff, cal[1].surf.row[7].eff,
                            (size_t)p.surf.nknots * sizeof(float)), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gpucal");
    TCase *tc = tcase_create("synthetic");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_csv_errors);
    tcase_add_test(tc, test_fit_synthetic);
    tcase_add_test(tc, test_kernel_known);
    tcase_add_test(tc, test_kernel_choice);
    tcase_add_test(tc, test_repeats_known);
    tcase_add_test(tc, test_overlay_roundtrip);
    tcase_add_test(tc, test_load_latency);
    tcase_add_test(tc, test_cost_curve);
    suite_add_tcase(s, tc);
    bool real = have_profiles();
    if (real) {
        TCase *tr = tcase_create("measured");
        tcase_set_timeout(tr, 300);
        tcase_add_test(tr, test_holdout_targets);
        tcase_add_test(tr, test_repeats_measured);
        tcase_add_test(tr, test_committed_overlay);
        suite_add_tcase(s, tr);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    if (failed)
        return EXIT_FAILURE;
    if (!real) {
        printf("check_gpucal: skipped the measured-data cases: %s not found\n", PROFILES);
        return 77;
    }
    return EXIT_SUCCESS;
}
