/* serve/gpucal.h: the GPU calibration of the cost model (`gcal_` module) from measured
 * operator timings (Vidur's profiling data: ../shared/gpu-profiles, its README).
 *
 * Input: per-operator medians of Llama decoder layers (the four linear projections) on one GPU
 * for token counts 1..4096 and TP degrees 1..8 (`compute/<sku>/<org>/<model>/mlp.csv`), and
 * ring all-reduce timings inside an 8-GPU node (`network/<node>/all_reduce.csv`).
 * Output: a calibration overlay (serve/hw.h's format): the measured efficiency of each profiled
 * GEMM (datasheet roofline time / measured time at every measured token count, per projection,
 * TP degree and weight shape), the bandwidths of the Gaussian kernel in (ln N, ln K) that prices
 * any other shape from them (chosen by leave-one-model-out cross-validation), and an all-reduce
 * model per TP degree (latency + bytes / bus bandwidth, least squares in relative error).
 * `deltabench calibrate` (harness/cmd_calibrate.c) drives it; the compiled-in overlays of
 * a100-80gb and h100-sxm are serve/gpucal_data.c. */
#ifndef DB_SERVE_GPUCAL_H
#define DB_SERVE_GPUCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"
#include "serve/hw.h"

#define GCAL_MAX_TOKENS 4096 /* rows above this token count are not used */
#define GCAL_MAX_MODELS 16

/* A compiled-in calibration (serve/gpucal_data.c, written by gcal_emit_c). */
typedef struct {
    const char *sku;       /* profile it was measured for: "a100-80gb", "h100-sxm" */
    const char *gemm;      /* overlay text: calibration, gemm.tokens, gemm.eff rows */
    const char *allreduce; /* overlay text: allreduce rows */
} gcal_builtin_text;
extern const gcal_builtin_text gcal_builtin[];
extern const size_t gcal_nbuiltin;
/* The compiled-in calibration of profile `sku`, or NULL. */
const gcal_builtin_text *gcal_builtin_find(const char *sku);

/* One measured row: one model, TP degree and token count, the four projections. */
typedef struct {
    int model;                      /* index into gcal_data.models */
    int tp;
    int64_t tokens;
    double n[HW_NOPS], k[HW_NOPS];  /* weight shape on one GPU: N outputs x K inputs */
    double sec[HW_NOPS];            /* median seconds */
    int count;                      /* rows averaged into this one (duplicates in a file) */
} gcal_point;

typedef struct {
    int tp;
    double bytes, sec;
} gcal_ar_point;

/* Measurements of one SKU (plain data; gcal_data_free frees its arrays). */
typedef struct {
    int nmodels;
    char models[GCAL_MAX_MODELS][128]; /* "<org>/<model>" as in the directory */
    gcal_point *pt;
    size_t n, cap;
    gcal_ar_point *ar;
    size_t nar, arcap;
} gcal_data;

/* Vidur's names of profile `sku`: its compute directory ("a100") and node ("a100_dgx");
 * false for a profile without measurements. */
bool gcal_sku_dirs(const char *sku, const char **compute, const char **node);

/* Appends the rows of one mlp.csv (model named `model`) to d. Rows above GCAL_MAX_TOKENS
 * tokens are skipped. Errors name path:line. */
db_status gcal_read_compute(gcal_data *d, const char *path, const char *model);
/* Appends the single-node rows (num_workers == devices_per_node) of one all_reduce.csv;
 * `size` is in bytes (Vidur's collectives_wrapper.py writes size * 2 for fp16 elements). */
db_status gcal_read_allreduce(gcal_data *d, const char *path);
/* Reads every model of `sku` under dir (compute/<c>/<org>/<model>/mlp.csv, sorted by name)
 * whose name contains `holdout` (case-insensitive) when `want_holdout`, or does not contain it
 * (all models when holdout is NULL and !want_holdout), and the node's all-reduce file. */
db_status gcal_load(gcal_data *d, const char *dir, const char *sku, const char *holdout,
                    bool want_holdout);
void gcal_data_free(gcal_data *d);

/* Fits the measurements d against the datasheet profile `sheet` and writes the surface and
 * all-reduce model into out->surf (out->calib gets a provenance line). The knots are the token
 * counts every (model, TP) of d has; duplicates are averaged. The kernel bandwidths (ln N, ln K)
 * are the pair of {0.2, 0.3, 0.5, 0.7, 1} x {same} whose surface, fitted without one model,
 * predicts that model best: the least mean over (left-out model, projection) of the 99th
 * percentile relative error; HW_KERNEL_DEFAULT when d has one model. */
db_status gcal_fit(const gcal_data *d, const hw_profile *sheet, hw_profile *out);

/* Seconds a GEMM with a weight of n x k on one GPU takes for `tokens` tokens on profile p: its
 * surface (the kernel mean at the knots, the cost model's interpolation between them) when it
 * has one, else the datasheet roofline max(2nk·T / (peak·eff.gemm.compute), 2nk /
 * (bw·eff.gemm.mem)). */
double gcal_predict(const hw_profile *p, double n, double k, double tokens);
/* Seconds of one ring all-reduce of `bytes` over tp GPUs on p (its measured model when it has
 * one, else link_lat + 2 (tp-1)/tp bytes / link_bw). */
double gcal_predict_ar(const hw_profile *p, int tp, double bytes);

#define GCAL_TARGET_MAX 0.25 /* issue 17's target for the maximum error (points above it counted) */
typedef struct {
    double median, p99, max; /* relative error |predicted - measured| / measured */
    size_t n, over;          /* points, and those above GCAL_TARGET_MAX */
} gcal_err;
/* Relative errors of p's predictions over the points of d, per projection and for the
 * all-reduces (ar->n = 0 when d has none). */
db_status gcal_errors(const gcal_data *d, const hw_profile *p, gcal_err err[HW_NOPS],
                      gcal_err *ar);

/* How well the measurements reproduce themselves: the relative difference |a - b| / min(a, b)
 * of every pair of points of two different models of d that time the same GEMM (one weight
 * shape on one GPU, whatever the projection and TP degree) at the same token count (Llama-2-70B's
 * and CodeLlama-34B's attention; on A100 also Llama-2-7B's and Llama-3-8B's): what copying one
 * model's measurement of a GEMM as the prediction of the other's misses by. out->n = 0 when no two
 * models share a shape. */
db_status gcal_repeats(const gcal_data *d, gcal_err *out);

/* Writes the calibration overlays of `n` profiles as serve/gpucal_data.c (C source; the
 * `command` that regenerates it is printed at its top); all-or-nothing. */
db_status gcal_emit_c(const char *path, const hw_profile *const *cal, const char *const *sku,
                      int n, const char *command);

#endif
