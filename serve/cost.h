/* serve/cost.h: the serving cost model (`cost_` module): model shapes, delta formats and their
 * byte accounting, and the time of one engine iteration and of one load on a hardware profile.
 *
 * Time of an iteration = a sum of rooflines, one per kernel that runs in it, each
 * max(FLOPs / (TP · peak · eff_compute), bytes / (TP · HBM bandwidth · eff_mem)), plus the
 * tensor-parallel all-reduces and a fixed per-iteration overhead. On a profile with a measured
 * GEMM surface (serve/gpucal.h) the GEMM and delta terms are instead curves in tokens: seconds
 * at the surface's knots, computed once by cost_init, linear in between (cost_curve). Its
 * all-reduces use the measured latency and bus bandwidth of the TP degree. docs/serving.md has
 * the formulas; cost_step is their only implementation (the tests recompute them by hand). */
#ifndef DB_SERVE_COST_H
#define DB_SERVE_COST_H

#include <stdbool.h>
#include <stdint.h>

#include "compressors/compressor.h"
#include "core/llama_names.h"
#include "core/status.h"
#include "serve/hw.h"

/* The shapes the cost model prices are llama_model rows (core/llama_names.h: llama_model_find),
 * or one read from a model directory's config.json. */

/* A delta format: a compressor method with fixed parameters, and how its kernel is costed. */
typedef struct {
    const char *name;    /* "4bit-2:4", "bitdelta", ... */
    const char *method;  /* compressors/ method that defines its bytes ("deltazip", ...) */
    int bits, nm_n, nm_m;
    double drop;
    int64_t group;
    int parts;
    double density;      /* share of delta entries multiplied per token (n/m, 1 - drop, 1) */
    const char *eff_key; /* "delta.sbmm": eff.<key>.mem / .compute in the profile */
    const char *summary;
} cost_format;

const cost_format *cost_format_find(const char *name);
extern const char *const cost_format_names[];

/* The compressor method of format f and its parameters (the method's defaults with the
 * format's fields set); DB_ERR_UNSUPPORTED when the method is not built. */
db_status cost_format_params(const cost_format *f, const dc_method **method,
                             dc_params *p);

/* Bytes of format f for all linear projections of model m (the 7 per layer), from the
 * compressors' byte accounting (dc_method.bytes, layouts of kernels/formats.h). */
db_status cost_format_linear_bytes(const cost_format *f, const llama_model *m, double *bytes);

#define COST_BUCKETS 520 /* index from tokens to knots: one entry per 2^shift tokens */

/* The GEMM curves of a measured-surface profile: at each knot (a token count of the surface)
 * the seconds of every curve and their slope to the next knot, side by side so one lookup
 * touches one or two cache lines; an index finds the segment of a token count in O(1). */
enum { COST_C_LIN, COST_C_HEAD, COST_C_DLIN, COST_C_DHEAD, COST_NCURVES };
typedef struct {
    double tok;
    double sec[COST_NCURVES], slope[COST_NCURVES];
} cost_knot;
typedef struct {
    int n, shift;
    uint16_t bucket[COST_BUCKETS]; /* last knot <= (b << shift) */
    cost_knot k[HW_MAX_KNOTS];
} cost_knots;

/* Everything a run's cost model needs, resolved once (nothing is looked up per iteration). */
typedef struct {
    const llama_model *model;
    const cost_format *format; /* NULL for policies without deltas */
    int tp;
    double w_lin;           /* parameters of the 7 linear projections of all layers */
    double w_head;          /* lm_head parameters V·C */
    double full_bytes;      /* whole fp16 checkpoint (embeddings, lm_head, norms included) */
    double delta_lin_bytes; /* compressed linear deltas */
    double delta_bytes;     /* a delta as stored and loaded: compressed linear + fp16 others */
    double kv_token_bytes;  /* fp16 K and V of one token, all layers */
    /* Achievable per-GPU rates: datasheet (or measured) x efficiency. */
    double bw_gemm, fl_gemm, bw_attn, fl_attn, bw_delta, fl_delta;
    double link_bw, link_lat, step_overhead, step_token, step_model, pcie_bw, disk_bw, load_overhead;
    hw_lat disk_lat, load_lat; /* measured load latencies (n = 0: none; hw_profile's) */
    /* Derived by cost_init, so an iteration is a few multiply-adds: seconds per unit of each
     * roofline term over all TP GPUs (a term whose coefficients are 0 costs nothing). */
    struct {
        double gemm_token, gemm_logit, gemm_read;    /* base or full-model GEMMs (one model) */
        double delta_token, delta_logit, delta_read; /* batched delta kernel (one delta) */
        double attn_prefill_sq, attn_ctx, attn_kv;   /* compute per p², per KV token; KV read */
        double ar_token, ar_fixed;                   /* TP all-reduces */
        double gemm_curve, delta_curve;              /* 1: the curves below count, 0: not */
    } k;
    /* Measured-surface mode (curved): seconds over all TP GPUs at each knot, of the base
     * model's 7 projections (COST_C_LIN, tokens), its lm_head (HEAD, logit rows), one delta's
     * projections (DLIN, at delta_x tokens-equivalent per token) and lm_head (DHEAD). */
    bool curved;
    double delta_x; /* a delta's FLOPs per byte read: the dense GEMM token count of equal
                       arithmetic intensity, per token of that delta */
    cost_knots kn;
} cost_ctx;

/* Resolves ctx for model m, delta format f (NULL: none), profile hw and TP degree tp. */
db_status cost_init(cost_ctx *ctx, const llama_model *m, const cost_format *f,
                    const hw_profile *hw, int tp);

/* How the weights of an iteration are read. */
typedef enum {
    COST_SHARED_BASE, /* one base model for all requests + one delta per distinct model */
    COST_FULL_MODELS, /* one full fp16 model per distinct model in the batch */
} cost_mode;

/* One engine iteration: prefill chunks + one decode token for each request whose prefill
 * ended earlier, over n_models distinct models. A prompt prefilled whole is one chunk with no KV
 * held; a chunk of c tokens over h tokens already held costs the prefill of c tokens whose
 * causal attention covers the h held ones: (h + c)^2 - h^2 in prefill_sq and h KV tokens read
 * (prefill_ctx), so the chunks of one prompt sum to its whole prefill plus the re-reads. */
typedef struct {
    cost_mode mode;
    int64_t n_prefill;      /* requests whose prefill ends in this iteration (logit rows) */
    int64_t prefill_tokens; /* tokens of every prefill chunk of the iteration */
    double prefill_sq;      /* sum over chunks of (h + c)^2 - h^2 (p^2 for a whole prompt) */
    int64_t n_decode;       /* requests decoding one token */
    int64_t decode_ctx;     /* KV tokens the decoders attend over (sum of their lengths) */
    int n_models;
    const int32_t *models;  /* [n_models] model ids present */
    const int64_t *tokens;  /* [n_models] tokens of that model in this iteration */
    const int64_t *logits;  /* [n_models] rows needing logits (prefills ended + decoders) */
    int64_t prefill_ctx;    /* KV tokens already held by the chunks (sum of h), read by them */
} cost_batch;

/* Seconds one iteration takes. */
double cost_step(const cost_ctx *ctx, const cost_batch *b);
/* cost_step in two parts, for an engine that prices runs of iterations whose batches differ
 * only in decode_ctx (the same requests decoding, one token longer each time):
 * cost_step_weights, the fixed costs and the weight kernels (GEMMs, delta kernel), reads
 * nothing of b's attention (decode_ctx, prefill_sq, prefill_ctx); cost_step_finish adds
 * attention and the all-reduces to it. cost_step(c, b) is
 * cost_step_finish(c, b, cost_step_weights(c, b)), bit for bit. */
double cost_step_weights(const cost_ctx *ctx, const cost_batch *b);
double cost_step_finish(const cost_ctx *ctx, const cost_batch *b, double weights);
/* One kernel's roofline term of iteration b alone: cost_step with every other kernel's rates
 * infinite, no fixed costs and no all-reduces (the calibration's features; the kernel
 * executor's attention). */
typedef enum { COST_TERM_GEMM, COST_TERM_DELTA, COST_TERM_ATTN } cost_term_kind;
double cost_term(const cost_ctx *ctx, const cost_batch *b, cost_term_kind k);
/* Seconds to read `bytes` from disk into host memory: the read's latency + bytes / disk_bw.
 * The latency is the profile's measured one (disk_lat) drawn at u in [0, 1) (its stratum
 * floor(u·n)), 0 without one; cost_load_disk is its mean (the expected read). */
double cost_load_disk_at(const cost_ctx *ctx, double bytes, double u);
double cost_load_disk(const cost_ctx *ctx, double bytes);
/* Seconds to copy `bytes` (a whole model or delta; each of the TP GPUs gets 1/TP over its own
 * link) from host memory to the GPUs: bytes / (TP·pcie_bw) + the fixed cost, drawn at u from
 * load_lat when measured, else load_overhead; cost_load_pcie is its mean. */
double cost_load_pcie_at(const cost_ctx *ctx, double bytes, double u);
double cost_load_pcie(const cost_ctx *ctx, double bytes);
/* The i-th draw of the loads' latency sequence: frac(0.5 + i·(sqrt(5) - 1) / 2), a
 * low-discrepancy sequence in [0, 1) (so a run's draws cover the strata evenly, and the same
 * run draws the same). */
double cost_draw(uint64_t i);

#endif
