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
 * and eff.<op>.<mem|compute> (a share in (0, 1]).
 *
 * Profiles: a100-80gb, h100-sxm, h200, rtx3090 (compiled in, datasheet numbers) and cpu (this
 * machine, measured by hw_probe_cpu, cached in a file so later runs reuse it). */
#ifndef DB_SERVE_HW_H
#define DB_SERVE_HW_H

#include <stdio.h>

#include "core/status.h"

#define HW_MAX_EFF 48
/* Where `--hw cpu` caches the measured cpu profile (relative to the project root). */
#define HW_CPU_PROFILE_CACHE "results/hw-cpu.txt"

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
    int max_gpus;           /* GPUs per node: the largest tensor-parallel degree */
    int neff;
    hw_eff_entry eff[HW_MAX_EFF];
} hw_profile;

/* Names of the compiled-in profiles plus "cpu", NULL-terminated (for --help). */
extern const char *const hw_profile_names[];

/* Parses profile text (the format above) over *p: keys present replace fields, others stay.
 * `origin` names the source in error messages ("harness/hw a100-80gb", a path). */
db_status hw_profile_parse(hw_profile *p, const char *text, const char *origin);
/* Reads a profile or calibration file over *p (hw_profile_parse of its content). */
db_status hw_profile_load(hw_profile *p, const char *path);
/* Fills *p with compiled-in profile `name`; DB_ERR_NOT_FOUND for unknown names (and "cpu"). */
db_status hw_profile_builtin(hw_profile *p, const char *name);
/* The compiled-in text of profile `name` (documentation, tests), or NULL. */
const char *hw_profile_text(const char *name);
/* Resolves --hw: a compiled-in name; "cpu" (read from cache_path when it exists, else measured
 * with hw_probe_cpu and written there; cache_path NULL = measure, write nothing); or a file. */
db_status hw_profile_resolve(hw_profile *p, const char *name_or_path, const char *cache_path);
/* Checks every field is positive and finite and every efficiency is in (0, 1]. */
db_status hw_profile_check(const hw_profile *p);
/* Writes p in the file format (cpu probe cache); all-or-nothing. */
db_status hw_profile_write(const hw_profile *p, const char *path, const char *header_comment);

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
