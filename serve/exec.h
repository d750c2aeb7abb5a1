/* serve/exec.h: executors (`exe_` module): what an engine iteration and a load cost.
 *
 * The engine never computes a time itself: it hands each iteration (and each load) to an
 * executor through a table of function pointers and advances its clock by the seconds the
 * executor returns. `sim` predicts them with the cost model; `cpu` and `cuda` (when built) run
 * the real work and return measured seconds, so one engine and one set of policies serve all
 * three and their predictions can be compared on the same trace. */
#ifndef DB_SERVE_EXEC_H
#define DB_SERVE_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "serve/cost.h"
#include "kernels/kernels.h"

typedef enum { EXE_LOAD_DISK, EXE_LOAD_PCIE } exe_stage;

/* Per-request detail of an iteration, filled only for executors with wants_requests (the real
 * ones must know which rows of which model to run). */
typedef enum {
    EXE_DECODE,     /* one token after the last generated one */
    EXE_CHUNK,      /* prefill tokens, not the prompt's last: no token comes out */
    EXE_CHUNK_LAST, /* the prefill's last tokens (a whole prompt, or its last chunk) */
} exe_phase;

typedef struct {
    int64_t n;              /* requests in the iteration */
    const int32_t *req;     /* [n] request indices (into the engine's request array) */
    const int32_t *model;   /* [n] model of each */
    const int32_t *new_tok; /* [n] tokens to run: a prefill chunk's length, or 1 for a decode */
    const int32_t *ctx;     /* [n] KV tokens before this iteration */
    const uint8_t *phase;   /* [n] exe_phase of each */
} exe_detail;

typedef struct {
    const char *name;
    bool wants_requests; /* the engine fills exe_detail for step() */
    /* Seconds iteration b takes (predicted or measured). */
    db_status (*step)(void *ctx, const cost_batch *b, const exe_detail *d, double *seconds);
    /* Seconds one load stage of `bytes` of model `model` takes. */
    db_status (*load)(void *ctx, int32_t model, exe_stage stage, double bytes, double *seconds);
    void (*free)(void *ctx);
    /* step(ctx, b, d) is cost_step(sim.cost, b) (the `sim` executor, its state in
     * exe_executor.sim): the engine then prices an iteration whose batch repeats its replica's
     * last one but for the KV context with cost_step_finish over that batch's
     * cost_step_weights, kept from before. */
    bool step_is_cost;
} exe_ops;

typedef struct {
    const cost_ctx *cost;
    uint64_t draws[2]; /* disk reads and host -> GPU stages priced so far (cost_draw's index) */
} exe_sim_state;

typedef struct {
    const exe_ops *ops;
    void *ctx;
    exe_sim_state sim; /* the sim executor's state (ctx points here: do not copy an executor) */
} exe_executor;

/* The `sim` executor over a resolved cost model (borrowed: must outlive the executor). Loads
 * are priced by cost_load_disk_at / cost_load_pcie_at at the next draws of cost_draw, one
 * sequence per stage. */
db_status exe_sim_init(exe_executor *e, const cost_ctx *cost);
/* What the `cpu` executor runs (serve/exec_cpu.c). */
typedef struct {
    const char *zoo;      /* a zoo size directory: base/ and the fine-tunes (scripts/build-models.sh) */
    const char *work_dir; /* where each model's file is written; NULL: a temporary directory
                           * under $TMPDIR (or /tmp), removed by exe_free */
    const cost_format *format; /* delta policies: the format each fine-tune is compressed to;
                                * NULL: full fp16 models (swap, dedicated) */
    int n_models;          /* models of the run; model i serves fine-tune i mod F */
    bool exact_map;        /* refuse model ids >= F instead of mapping them mod F */
    int64_t n_requests;    /* requests of the trace (per-request state is sized once) */
    int max_batch;         /* running requests at most (KV slots) */
    int64_t max_rows;      /* tokens of one iteration at most (token budget + max batch) */
    int max_len;           /* longest prompt + output of the trace */
    uint64_t seed;         /* prompt tokens of request r: rng_stream(seed, request id) */
    int threads;           /* OpenMP / OpenBLAS threads of the forward */
    const cost_ctx *cost;  /* the run's cost model (borrowed): the calibration's features */
} exe_cpu_opts;

/* The `cpu` executor: loads the zoo's base, compresses each fine-tune to opts->format (or copies
 * the full checkpoint) into one file per model, then measures real loads (disk: a cold read of
 * the model's file; "PCIe": opening the container and copying its parts into the served form)
 * and real iterations (models/tf_batch.h). Setup is not timed. */
db_status exe_cpu_init(exe_executor *e, const exe_cpu_opts *opts);
/* The latency strata of n loads (ld[i] = {seconds, bytes}): each load's seconds - bytes / bw
 * (>= 0), sorted, as min(n, HW_MAX_LAT) equal-count strata means into *out; returns their mean
 * (0 when n = 0 or on no memory, out->n = 0 then). */
double exe_lat_strata(const double (*ld)[2], int64_t n, double bw, hw_lat *out);
/* Fits the cost model to what the cpu executor measured so far (exe_calib_fit below) and writes
 * a calibration overlay for `--calib` (hw: the profile of the run): step_overhead_us,
 * step_token_us, step_model_us, and eff.<kernel>.mem = .compute = eff / c for the base GEMM, the
 * delta kernel and attention. Loads: disk_gbps = bytes / seconds over the disk reads;
 * load_overhead_ms = mean PCIe-stage time - bytes / pcie_gbps. The file's first lines give the
 * sample count, the fit's mean relative error and every coefficient. When the iterations cannot
 * be fitted (exe_calib_fit's DB_ERR_ARG) but loads were measured, the file holds the load keys
 * only and its first line says why. */
db_status exe_cpu_calibration_write(const exe_executor *e, const hw_profile *hw, const char *path);

/* One calibration sample per measured iteration: [0] the seconds, then its features: tokens,
 * distinct models, and the cost model's roofline terms (base GEMM, delta kernel, attention,
 * each alone at the profile's rates). */
enum { EXE_CAL_TOKENS = 1, EXE_CAL_MODELS, EXE_CAL_GEMM, EXE_CAL_DELTA, EXE_CAL_ATTN, EXE_CAL_COLS };
/* The fit behind the calibration: t = overhead + a·tokens + b·models + Σ_k c_k·roofline_k with
 * every coefficient >= 0 and c_k >= 1 (the probe's rates are the best a kernel does). coef[0] =
 * overhead, coef[EXE_CAL_TOKENS], coef[EXE_CAL_MODELS], and c_k - 1 for the roofline columns;
 * *mean_err the mean |relative error| per sample. DB_ERR_ARG when nothing can be fitted. */
db_status exe_calib_fit(const double (*cal)[EXE_CAL_COLS], int64_t n, double coef[EXE_CAL_COLS],
                        double *mean_err);
/* The cpu executor's greedy outputs so far: FNV-1a of each request's tokens, summed over the
 * requests (so the interleaving of iterations does not matter); 0 for other executors. Same
 * zoo, trace and seed without preemption: the same hash, unless batches of another size round
 * a near-tie of two logits differently (not seen on the micro zoo). */
uint64_t exe_cpu_token_hash(const exe_executor *e);
/* What the kernel executor runs (serve/exec_kn.c): the real kernels of kernels/ at the
 * cost model's shapes with random weights; `cuda` on a GPU, `cpu-kernels` on this CPU. */
typedef struct {
    const char *name;      /* "cuda" / "cpu-kernels": messages */
    kn_device device;
    const cost_ctx *cost;  /* shapes, delta format, costed attention and disk reads (borrowed) */
    int n_models;
    int slots;             /* device sets: eng_gpu_slots (deltas, or resident full models) */
    bool dedicated;        /* one model per iteration, each on its own device: one set */
    int max_batch;         /* requests of an iteration at most */
    int64_t max_rows;      /* token rows of an iteration at most */
    int threads;           /* CPU threads (KN_CPU) */
    uint64_t seed;         /* random weights */
} exe_kn_opts;
/* The kernel executor; DB_ERR_NO_DEVICE without the device, DB_ERR_UNSUPPORTED for a delta
 * format without a kernel, DB_ERR_ARG when the weights do not fit (checked before allocating on
 * the CPU; a failed device allocation on the GPU). */
db_status exe_kn_init(exe_executor *e, const exe_kn_opts *opts);
/* Frees an executor's context (NULL ops is a no-op). */
void exe_free(exe_executor *e);

#endif
