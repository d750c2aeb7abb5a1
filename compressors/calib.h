/* calib.h: how a compressor asks for calibration statistics without knowing about models.
 *
 * DeltaZip's ΔCompress (like GPTQ/SparseGPT) needs, per linear layer, the Hessian proxy
 * H = 2/n · XᵀX of the layer's inputs X [n, K] over calibration tokens, and processes layers in
 * order so that later layers see the already-compressed earlier ones. The compressor drives that
 * loop through this table of callbacks; models/ implements it by running the real model on
 * calibration text (models/calib_model.c), compressors/ implements a static one that reads
 * precomputed Hessians from a file (no sequential update; documented as such), and a NULL
 * provider means H = I (the fallback, stated in the output). */
#ifndef DB_CALIB_H
#define DB_CALIB_H

#include <stdint.h>

#include "core/status.h"

typedef struct dc_calib {
    void *ctx;
    /* Fills H [K, K] (row-major, f32) = 2/n · XᵀX for the input of linear tensor `name`
     * (an HF name such as "model.layers.3.mlp.down_proj.weight"), computed with every tensor
     * passed to `update` so far replaced by its compressed version; *ntokens = n.
     * DB_ERR_NOT_FOUND when the provider has no statistics for that tensor. */
    db_status (*hessian)(void *ctx, const char *name, int64_t K, float *H, int64_t *ntokens);
    /* Tells the provider the compressed delta chosen for `name` (dense f32 [N, K]) so later
     * hessian() calls see the compressed model. May be NULL (static providers). */
    db_status (*update)(void *ctx, const char *name, int64_t N, int64_t K, const float *delta);
} dc_calib;

#endif
