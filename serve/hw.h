/* serve/hw.h: hardware profiles for the serving cost model (`hw_` module).
 *
 * A profile is a handful of datasheet or measured numbers about one GPU model and the node it
 * sits in (memory, HBM bandwidth, dense fp16 FLOP/s, host->GPU and disk bandwidth, GPU<->GPU
 * link) plus efficiency factors that turn a roofline into a prediction. The efficiency factors
 * are the calibration: `bench-kernel --calib-out` measures the kernels' shares and `serve
 * --executor cpu --calib-out` fits whole iterations; both write a file in the same format, which
 * `--calib FILE` overlays on the profile.
 *
 * Format (the compiled-in profiles are strings in exactly this format, and `--hw FILE` reads it):
 *   # comment
 *   key = value      # source of the number
 * Units are human ones: GB = 1e9 bytes, GB/s, TFLOP/s, microseconds. Keys: name, hbm_gb,
 * hbm_gbps, peak_tflops, pcie_gbps, disk_gbps, host_gb, link_gbps, link_lat_us,
 * step_overhead_us, step_token_us, step_model_us (0 unless given), load_overhead_ms, max_gpus,
 * eff.<op>.<mem|compute> (a share in (0, 1]), and the measured load latencies disk_lat_us /
 * load_lat_us = S1 ... Sn (hw_lat: up to HW_MAX_LAT stratum means, non-decreasing,
 * microseconds; `serve --executor cpu --calib-out` writes them). A GPU calibration overlay (serve/gpucal.h,
 * `deltabench calibrate`) adds a measured GEMM efficiency surface and all-reduce model:
 *   calibration = free text          # provenance, recorded in result files (appended)
 *   gemm.tokens = T1 T2 ... Tn       # token counts of the surface's knots, increasing
 *   gemm.eff.<op>.tp<P> = NxK: e1 ... en
 *                  # measured efficiency (roofline time / measured time) of projection <op>
 *                  # (qkv, o, gate_up, down) with a weight of N x K on one GPU at TP P, at
 *                  # each knot
 *   gemm.kernel = SN SK   # how a shape is priced from the rows: a Gaussian-kernel mean over
 *                  # every row (any projection, any TP: a GEMM is its shape) with bandwidths
 *                  # SN in ln N and SK in ln K (docs/serving.md); absent: HW_KERNEL_DEFAULT
 *   allreduce.tp<P> = LAT_US BUSBW_GBPS   # measured ring all-reduce: latency, bus bandwidth
 * gemm.tokens must precede the gemm.eff rows; a new gemm.tokens line drops earlier rows.
 *
 * Profiles: a100-80gb, h100-sxm (datasheet numbers + the compiled-in GPU calibration of
 * serve/gpucal_data.c), h200, rtx3090 (datasheet + a measured SKU's calibration, extrapolated),
 * <name>-datasheet (datasheet numbers only) and cpu (this machine, measured by hw_probe_cpu,
 * cached in a file so later runs reuse it). */
#ifndef DB_SERVE_HW_H
#define DB_SERVE_HW_H

#include <stdbool.h>
#include <stdio.h>

#include "core/status.h"

#define HW_MAX_EFF 48
#define HW_MAX_KNOTS 288 /* token knots of a GEMM efficiency surface */
#define HW_MAX_ROWS 80   /* (projection, TP, shape) rows of a surface */
#define HW_MAX_AR 8      /* all-reduce entries (one per TP degree) */

/* The linear projections a GEMM surface row describes (one decoder layer's GEMMs). */
typedef enum { HW_OP_QKV, HW_OP_O, HW_OP_GATE_UP, HW_OP_DOWN, HW_NOPS } hw_op;
extern const char *const hw_op_names[HW_NOPS]; /* "qkv", "o", "gate_up", "down" */

/* A measured GEMM efficiency surface and all-reduce model (calibration overlay). */
typedef struct {
    int nknots;
    float tokens[HW_MAX_KNOTS];
    int nrows;
    struct {
        int op, tp;
        double n, k;               /* weight shape on one GPU: N outputs x K inputs */
        float eff[HW_MAX_KNOTS];   /* roofline time / measured time at each knot */
    } row[HW_MAX_ROWS];
    double kern_n, kern_k;         /* kernel bandwidths in ln N, ln K (0: the default) */
    int nar;
    struct {
        int tp;
        double lat_s, busbw;       /* t = lat + 2 (TP-1)/TP bytes / busbw */
    } ar[HW_MAX_AR];
} hw_surface;
#define HW_KERNEL_DEFAULT 0.5 /* bandwidth (ln units) of an overlay without gemm.kernel */
/* Where `--hw cpu` caches the measured cpu profile (relative to the project root). */
#define HW_CPU_PROFILE_CACHE "results/hw-cpu.txt"

/* A measured load latency: the means of HW_MAX_LAT (or fewer) equal-count strata of the
 * sorted measurements, so a draw at u in [0, 1) is s[floor(u·n)] and the strata's mean is the
 * measurements' mean (n = 0: none measured). */
#define HW_MAX_LAT 16
typedef struct {
    int n;
    double s[HW_MAX_LAT]; /* seconds, non-decreasing */
} hw_lat;

typedef struct {
    char key[40]; /* "gemm.mem", "delta.4bit-2:4.compute", ... (without the "eff." prefix) */
    double value;
} hw_eff_entry;

typedef struct {
    char name[32];
    double hbm_bytes;       /* memory of one GPU (bytes) */
    double hbm_bw;          /* memory bandwidth of one GPU (bytes/s) */
    double peak_flops;      /* dense fp16 tensor FLOP/s of one GPU (no 2:4 sparsity speedup) */
    double pcie_bw;         /* host -> one GPU (bytes/s, pinned memory; each GPU has its link) */
    double disk_bw;         /* disk -> host of the node (bytes/s, one stream at a time) */
    double host_bytes;      /* host memory of the node (bytes) */
    double link_bw;         /* GPU <-> GPU, one direction, one GPU (bytes/s) for all-reduce */
    double link_lat_s;      /* fixed cost of one all-reduce (s) */
    double step_overhead_s; /* fixed cost of one iteration: scheduling, launches (s) */
    double step_token_s;    /* per token of an iteration: work no roofline term counts (norms,
                               rotary, per-row loops); 0 on the datasheet profiles, fitted (s) */
    double step_model_s;    /* per distinct model of an iteration: its kernel calls (s) */
    double load_overhead_s; /* fixed cost of one load (s) */
    hw_lat disk_lat;        /* measured latency of a cold disk read (the rest: bytes / disk_bw) */
    hw_lat load_lat;        /* measured fixed cost of a load's host -> GPU stage (replaces
                               load_overhead_s when measured) */
    int max_gpus;           /* GPUs per node: the largest tensor-parallel degree */
    int neff;
    hw_eff_entry eff[HW_MAX_EFF];
    char calib[1024];       /* calibrations applied, "; "-separated ("" = datasheet only) */
    hw_surface surf;        /* measured GEMM surface (nknots 0 = none) and all-reduces */
} hw_profile;

/* What a GPU-calibrated profile's p->calib says of its delta kernels until an overlay measures
 * them: their cost is derived from the calibrated base, not measured (docs/serving.md). */
#define HW_DELTA_MODELLED                                                                         \
    "delta kernels modelled: the calibrated GEMM efficiency at their arithmetic intensity x the " \
    "assumed eff.delta.*/eff.gemm.* ratios (decode work)"

/* Names of the compiled-in profiles plus "cpu", NULL-terminated (for --help). */
extern const char *const hw_profile_names[];

/* Parses profile text (the format above) over *p: keys present replace fields, others stay.
 * `origin` names the source in error messages ("harness/hw a100-80gb", a path). */
db_status hw_profile_parse(hw_profile *p, const char *text, const char *origin);
/* Reads a profile or calibration file over *p (hw_profile_parse of its content). */
db_status hw_profile_load(hw_profile *p, const char *path);
/* Fills *p with compiled-in profile `name` (datasheet text, then its compiled-in GPU
 * calibration, if any, whose p->calib ends with HW_DELTA_MODELLED); DB_ERR_NOT_FOUND for
 * unknown names (and "cpu"). */
db_status hw_profile_builtin(hw_profile *p, const char *name);
/* The compiled-in datasheet text of profile `name` (without its name line and calibration;
 * documentation, tests), or NULL. */
const char *hw_profile_text(const char *name);
/* Resolves --hw: a compiled-in name; "cpu" (read from cache_path when it exists, else measured
 * with hw_probe_cpu and written there; cache_path NULL = measure, write nothing); or a file. */
db_status hw_profile_resolve(hw_profile *p, const char *name_or_path, const char *cache_path);
/* Overlays calibration file `path` on *p (hw_profile_load + hw_profile_check) and records
 * "overlay PATH" in p->calib, with the eff.* keys it set; on a profile with a measured GEMM
 * surface, an overlay that sets eff.delta.* keys (bench-kernel --device cuda --calib-out)
 * replaces those modelled delta terms, which p->calib then says. */
db_status hw_profile_overlay(hw_profile *p, const char *path);
/* Checks every field is positive and finite and every efficiency is in (0, 1]. */
db_status hw_profile_check(const hw_profile *p);
/* Writes p in the file format (cpu probe cache); all-or-nothing. */
db_status hw_profile_write(const hw_profile *p, const char *path, const char *header_comment);

/* Writes the calibration lines of p (calibration, gemm.tokens, gemm.kernel, gemm.eff rows,
 * allreduce) in the file format; nothing when p has none. Returns false on a write error. */
bool hw_surface_print(FILE *fp, const hw_profile *p);
/* The kernel weights of p's surface rows for a GEMM with a weight of n x k on one GPU:
 * w_r = exp(-(d_r^2 - min d^2) / 2), d_r^2 = (ln(n / N_r) / SN)^2 + (ln(k / K_r) / SK)^2, so the
 * nearest row weighs 1 (none underflows). Returns false when p has no rows. */
bool hw_surface_weights(const hw_profile *p, double n, double k, double w[HW_MAX_ROWS]);
/* Efficiency at knot `knot` of the GEMM whose weights `w` are (hw_surface_weights): the
 * w-weighted mean of the rows' efficiencies there. */
double hw_surface_eff_w(const hw_profile *p, const double w[HW_MAX_ROWS], int knot);
/* Efficiency of a GEMM with a weight of n x k on one GPU at knot `knot` of p's surface (any
 * projection and TP: the two functions above); 0 when p has no rows or no such knot. */
double hw_surface_eff(const hw_profile *p, double n, double k, int knot);
/* Index in p->surf.ar of the all-reduce entry for TP degree tp (the nearest measured TP in
 * log2; ties: the smaller), or -1 when p has none. */
int hw_surface_ar(const hw_profile *p, int tp);

/* Efficiency `key` (e.g. "gemm.mem"), or `dflt` when the profile has none. */
double hw_eff(const hw_profile *p, const char *key, double dflt);
/* Sets efficiency `key` (adds it when missing); DB_ERR_ARG when the table is full. */
db_status hw_eff_set(hw_profile *p, const char *key, double value);

/* Measures this machine: STREAM-like copy bandwidth (one thread), OpenBLAS SGEMM FLOP/s,
 * memcpy bandwidth (stands in for host -> device), sequential file read bandwidth of a scratch
 * file in `scratch_dir` after dropping it from the page cache (best effort), memory size.
 * Takes about two seconds. */
db_status hw_probe_cpu(hw_profile *p, const char *scratch_dir);

#endif
