/* compressor.h: delta compressors behind one traits table, and the compressed-delta container.
 *
 * A method compresses the delta Δ = W_ft − W_base of one linear tensor [N, K] (N output rows,
 * K input columns) into a few packed parts whose layouts are fixed in kernels/formats.h. Each
 * method is one row of the dc_methods table: encode, decode to dense, bytes of the format and
 * a scalar reference of y += Δ·x computed from the packed form (the oracle the fast CPU/CUDA
 * kernels are tested against). Tests, benchmarks, the CLI and the HDF5 report iterate the
 * table, so adding a method is one row plus its tests.
 *
 * The container is a safetensors file ("<name>.<part>" tensors plus __metadata__ naming the
 * method, parameters, format version and the hashes of the base and fine-tuned checkpoints).
 * Linear projections (the 7 per layer) are stored as compressed deltas; every other tensor
 * (embeddings, lm_head, norms) is stored as the fine-tuned values in their own 16-bit dtype,
 * as BitDelta (save_diff keeps the trainable non-linear parameters) and DeltaZip (the state
 * dict keeps the fine-tuned embeddings, lm_head and norms) both do. docs/compressors.md has the
 * details and the source of every choice. */
#ifndef DB_COMPRESSOR_H
#define DB_COMPRESSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "compressors/calib.h"
#include "core/llama_names.h"
#include "core/status.h"
#include "core/tensor.h"
#include "kernels/formats.h"

/* ---- parameters ------------------------------------------------------------------------------ */

typedef enum { DC_LOSSLESS_NONE, DC_LOSSLESS_ZSTD, DC_LOSSLESS_DEFLATE } dc_lossless;

/* Which parameters a method reads (dc_method.uses); the CLI rejects flags a method ignores. */
enum {
    DC_P_BITS = 1 << 0,
    DC_P_GROUP = 1 << 1,
    DC_P_NM = 1 << 2,
    DC_P_DROP = 1 << 3,
    DC_P_RANK = 1 << 4,
    DC_P_SYM = 1 << 5,
    DC_P_PARTS = 1 << 6,
    DC_P_SEED = 1 << 7,
    DC_P_CALIB = 1 << 8,
};

typedef struct {
    int bits;       /* code width: rtn 1..8, deltazip 2..8, deltadq 1..8 (all stages) */
    int64_t group;  /* rtn: columns per scale group (0 = per row); deltadq: dropout group G (0 =
                     * searched per matrix) */
    int nm_n, nm_m; /* keep n of every m columns (0:0 = unstructured for magprune) */
    double drop;    /* dare/deltadq: drop probability; magprune unstructured: share pruned */
    int64_t rank;   /* lowrank: r */
    int sym;        /* rtn: 1 symmetric (zero fixed at 2^(bits-1)), 0 asymmetric */
    int parts;      /* deltadq: `bits` split into `parts` residual stages (bits/parts each, the first
                     * bits % parts stages one more) */
    uint64_t seed;  /* dare/deltadq positions */
    int blocksize;  /* deltazip: columns per OBS block (128, rounded down to a multiple of m) */
    double damp;    /* deltazip: damping as a share of mean diag(H) (0.01) */
    dc_lossless lossless; /* lossless stage applied to every stored part */
} dc_params;

/* ---- packed form of one tensor ------------------------------------------------------------- */

typedef struct {
    const char *suffix; /* "signs", "scale", ... (static string) */
    db_dtype dtype;
    int ndim;
    int64_t shape[2];
    void *data;    /* owned when `owned`, else a view (a mapped file) */
    size_t nbytes;
    bool owned;
} dc_part;

typedef struct dc_method dc_method;

typedef struct {
    const dc_method *method;
    dc_params params;
    int64_t N, K;
    uint64_t tid;   /* tensor id = hash_str(name): per-tensor DARE/DeltaDQ streams */
    int nparts;
    dc_part parts[DC_MAX_PARTS];
} dc_packed;

/* Frees the owned parts and zeroes pk (NULL is a no-op). */
void dc_packed_free(dc_packed *pk);
/* The part named `suffix`, or NULL. */
const dc_part *dc_packed_part(const dc_packed *pk, const char *suffix);
/* Sum of the parts' bytes (as laid out in kernels/formats.h, before any lossless stage). */
size_t dc_packed_bytes(const dc_packed *pk);

/* Input of encode: one linear tensor of the base and of the fine-tuned checkpoint. */
typedef struct {
    const char *name;   /* HF name, e.g. "model.layers.0.mlp.up_proj.weight" */
    int64_t N, K;
    db_dtype dtype;     /* F16, BF16 or F32, the same for both */
    const void *base;   /* [N, K] */
    const void *target; /* [N, K] */
} dc_src;

/* Δ = target − base as f32 [N, K] (vectorised for F16 where the CPU has F16C). */
db_status dc_src_delta(const dc_src *src, float *delta);

/* ---- the traits table ------------------------------------------------------------------------ */

struct dc_method {
    const char *name;    /* CLI and metadata name */
    const char *summary; /* one line for --help */
    const char *bound;   /* the stated round-trip bound, in words (docs and test names) */
    unsigned uses;       /* DC_P_* flags */
    /* The container format_version that introduced this method's current layout (0: 1);
     * containers older than it are refused with a one-line error naming the version. */
    int format_since;
    /* Fills the method's defaults into p (fields it does not use stay as they are). */
    void (*defaults)(dc_params *p);
    /* DB_ERR_ARG with a one-line message when p is impossible for this method (shape-free). */
    db_status (*check)(const dc_params *p);
    /* Additional shape checks (e.g. rank > min(N, K)); may be NULL. */
    db_status (*check_shape)(const dc_params *p, int64_t N, int64_t K);
    /* Compresses one tensor; H [K, K] (2/n XᵀX of the layer input) or NULL for H = I (only
     * methods with DC_P_CALIB read it). out->method, params, N, K, tid are set by the caller. */
    db_status (*encode)(const dc_src *src, const dc_params *p, const float *H, dc_packed *out);
    /* Δ̂ [N, K] f32 from the packed form. */
    db_status (*decode_dense)(const dc_packed *pk, float *delta);
    /* Bytes of the format for [N, K] (exact, or the expectation when `bytes_exact` is false:
     * DARE keeps a random count). Matches dc_packed_bytes of an encoded tensor. */
    double (*bytes)(const dc_params *p, int64_t N, int64_t K);
    bool bytes_exact;
    /* y [B, N] += x [B, K] · Δ̂ᵀ, straight from the packed form (scalar reference). */
    db_status (*apply_ref)(const dc_packed *pk, int64_t B, const float *x, float *y);
    /* Expected part list for validation: fills suffix/dtype/ndim/shape of up to DC_MAX_PARTS
     * parts for [N, K] (nnz-dependent sizes: shape[0] = -1); returns the count. */
    int (*layout)(const dc_params *p, int64_t N, int64_t K, dc_part *parts);
    /* Content checks of a tensor's parts beyond dtype and shape (stored values the decoder
     * relies on); may be NULL. One-line DB_ERR_FORMAT; the container prefixes path and name. */
    db_status (*check_parts)(const dc_packed *pk);
};

extern const dc_method *const dc_methods[];
extern const size_t dc_nmethods;

/* The method named `name`, or NULL. */
const dc_method *dc_method_find(const char *name);
/* Defaults of method m (all fields set: unused ones zero, lossless by method). */
void dc_params_default(const dc_method *m, dc_params *p);
/* Full check (parameters, then shape when N, K > 0); one-line DB_ERR_ARG messages. */
db_status dc_params_check(const dc_method *m, const dc_params *p, int64_t N, int64_t K);
/* Canonical text of the parameters the method uses, e.g. "bits=2 nm=2:4 blocksize=128
 * damp=0.01 lossless=zstd" (stored in __metadata__ and parsed back by dc_params_parse). */
void dc_params_format(const dc_method *m, const dc_params *p, char *buf, size_t n);
db_status dc_params_parse(const dc_method *m, const char *text, dc_params *p);
const char *dc_lossless_name(dc_lossless l);
db_status dc_lossless_parse(const char *s, dc_lossless *out);

/* Encodes one tensor with method m: validates, sets the header of out, calls m->encode. */
db_status dc_encode(const dc_method *m, const dc_src *src, const dc_params *p, const float *H,
                    dc_packed *out);

/* ---- the container --------------------------------------------------------------------------- */

typedef enum {
    DC_ROLE_DELTA, /* a linear projection stored as a compressed delta */
    DC_ROLE_FULL,  /* stored as the fine-tuned values (embeddings, lm_head, norms, others) */
} dc_role;

typedef struct {
    const char *name;
    dc_role role;
    /* DC_ROLE_DELTA: the packed delta (parts point into the file or into decompressed buffers) */
    dc_packed packed;
    /* DC_ROLE_FULL: the fine-tuned tensor, in its original dtype and shape */
    db_dtype dtype;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    const void *data;
    size_t nbytes;
    size_t stored_bytes; /* bytes of this tensor's parts in the file (after the lossless stage) */
} dc_tensor;

typedef struct dc_delta dc_delta;

/* Opens and validates a container: magic, format version, method, parameters, every tensor's
 * parts (dtype, shape, size, offsets through the safetensors reader), lossless payloads. With
 * base_path (a checkpoint path, may be NULL) it also checks that the base's model hash equals
 * the recorded base_hash and refuses a delta made for another base. */
db_status dc_delta_open(const char *path, const char *base_path, dc_delta **out);
void dc_delta_close(dc_delta *d); /* NULL is a no-op */
const dc_method *dc_delta_method(const dc_delta *d);
const dc_params *dc_delta_params(const dc_delta *d);
uint64_t dc_delta_base_hash(const dc_delta *d);
uint64_t dc_delta_target_hash(const dc_delta *d);
size_t dc_delta_count(const dc_delta *d);
const dc_tensor *dc_delta_get(const dc_delta *d, size_t i);
/* The tensor named `name` (HF name), or NULL. */
const dc_tensor *dc_delta_find(const dc_delta *d, const char *name);
/* y [B, N] += x [B, K] · Δ̂ᵀ for a DC_ROLE_DELTA tensor (scalar reference path). */
db_status dc_apply_ref(const dc_tensor *t, int64_t B, const float *x, float *y);
/* Δ̂ [N, K] for DC_ROLE_DELTA; the fine-tuned values as f32 for DC_ROLE_FULL. */
db_status dc_decode_dense(const dc_tensor *t, float *out);

/* ---- whole checkpoints ----------------------------------------------------------------------- */

/* One row of the per-tensor report (also the HDF5 `compression` table). */
typedef struct {
    char name[96];
    char role[8];     /* "delta" / "full" */
    int64_t numel;
    int64_t orig_bytes;   /* numel * 2: the fp16 fine-tuned tensor replaced */
    int64_t raw_bytes;    /* packed parts before the lossless stage */
    int64_t stored_bytes; /* parts as stored (after the lossless stage, if any) */
    int64_t zstd_bytes;   /* parts after zstd (measured for deltazip and --lossless; else 0) */
    int64_t deflate_bytes;/* parts after DEFLATE (same) */
    double bits_per_param;/* stored_bytes * 8 / numel */
    double ratio;         /* orig_bytes / stored_bytes */
    double rel_fro_err;   /* ||Δ̂ − Δ||_F / ||Δ||_F (delta role; 0 for full) */
    double seconds;
} dc_report_row;

typedef struct {
    int64_t orig_all, stored_all;     /* whole checkpoint: fp16 bytes / file bytes */
    int64_t orig_linear, stored_linear; /* linear layers only */
    int64_t header_bytes;             /* safetensors header (8 + JSON) */
    int64_t n_hessian, n_identity;    /* deltazip: tensors with a calibration Hessian / H = I */
    double ratio_all, ratio_linear;
} dc_summary;

typedef struct {
    const char *base_path, *target_path, *out_path;
    const dc_method *method;
    dc_params params;
    dc_calib *calib;       /* NULL: H = I */
    const char *calib_desc;/* recorded in metadata ("identity", "file:...") */
    bool progress;         /* draw a progress bar on stderr */
    bool measure_lossless; /* measure zstd and DEFLATE sizes of every part */
    /* Called once per tensor after it is encoded (may be NULL). */
    void (*on_row)(void *ctx, const dc_report_row *row);
    void *ctx;
} dc_compress_opts;

/* Compresses a whole checkpoint into a container, streaming tensor by tensor (peak memory is a
 * few tensors, not the model). Validates first: same tensor names, shapes and dtypes in base and
 * target, no NaN/Inf; on any failure nothing is left at out_path. */
db_status dc_compress_model(const dc_compress_opts *o, dc_summary *sum);

/* Writes base + decoded delta (and the stored full tensors) as a full fine-tuned checkpoint in
 * the base's dtypes; checks the base hash first. */
db_status dc_decompress_model(const char *base_path, const char *delta_path, const char *out_path,
                              bool progress);

/* ---- calibration ----------------------------------------------------------------------------- */

/* The static provider of `compress --hessians FILE`: a safetensors file holding "<tensor name>.hessian" F32
 * [K, K] tensors and a `tokens` metadata entry (n). Returns a provider whose hessian() copies
 * the stored matrix (DB_ERR_NOT_FOUND for tensors without one) and whose update is NULL. */
db_status dc_calib_file_open(const char *path, dc_calib **out);
void dc_calib_file_close(dc_calib *c); /* NULL is a no-op */
int64_t dc_calib_file_tokens(const dc_calib *c);

/* ---- synthetic checkpoints ------------------------------------------------------------------- */

/* The synthetic delta's distribution: Δ[r, c] = delta_std · a_r · b_c · λ · g with g ≈ standard
 * normal, λ = exp(tail_sigma · z) normalised to E[λ²] = 1 (a lognormal scale mixture: the heavy
 * tails; 0: none), a_r = exp(row_sigma · z_r), b_c = exp(col_sigma · z_c) (per-row and
 * per-column scales). dz1 fits tail/row/col to the zoo's deltas (compressors/dstats.h). */
typedef struct {
    double delta_std, tail_sigma, row_sigma, col_sigma;
} dc_synth_params;
/* The generator's historical defaults (the distribution fig5 and bd2 size). */
#define DC_SYNTH_DEFAULTS {0.001, 0.6, 0.3, 0.3}

/* Writes a base/fine-tuned pair with HF Llama names and shapes (F16) of model s (a row of
 * llama_models, or one truncated by `synth --layers/--vocab`), streaming (a few rows in
 * memory at a time). Base ~ N(0, 0.02²) per element (norms ≈ 1); Δ drawn from p (above;
 * every σ in [0, 3], delta_std > 0). With calib_path, also writes "<name>.hessian" for every
 * linear tensor from n = calib_tokens correlated synthetic activations (only sensible for
 * small shapes). */
db_status dc_synth_write(const llama_model *s, uint64_t seed, const dc_synth_params *p,
                         const char *base_path, const char *target_path, const char *calib_path,
                         int64_t calib_tokens, bool progress);

/* Writes a checkpoint with the tensor names, dtypes and shapes of model_path (a file, a
 * directory or a sharded index) and every value zero: the base against which a "delta" is the
 * whole model (DeltaZip's comparison of compressing the model itself, CLAIMS DZ-2). */
db_status dc_synth_zero_like(const char *model_path, const char *out_path);

#endif
