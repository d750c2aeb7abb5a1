/* calib_model.h: the model-backed calibration provider of DeltaZip's ΔCompress
 * (compressors/calib.h): Hessian proxies H = 2/n·XᵀX of each linear layer's input, measured by
 * running the real model on a task's calibration text, with every compressed delta chosen so far
 * applied (GPTQ/SparseGPT's sequential order), plus the static dump `deltabench calib` writes.
 *
 * Why here: only models/ knows how to run the model; the compressors see a table of callbacks. */
#ifndef DB_CALIB_MODEL_H
#define DB_CALIB_MODEL_H

#include <stdint.h>

#include "compressors/calib.h"
#include "core/status.h"

/* A provider measuring the fine-tuned model target_dir (whose compressed layers become
 * W_base + Δ̂ from base_dir as update() reports them) on ntokens tokens of task `task`
 * (training split, windows of T tokens drawn with a fixed seed). */
db_status calib_model_open(const char *base_dir, const char *target_dir, const char *task,
                           const char *data_dir, int64_t ntokens, int T, dc_calib **out);
void calib_model_close(dc_calib *c); /* NULL is a no-op */

/* Writes the static calibration file of compressors/compressor.h (dc_calib_file_open): one F32
 * [K, K] "<tensor name>.hessian" per linear tensor of model_dir and a `tokens` metadata entry,
 * measured on the uncompressed model in one pass. */
db_status calib_model_write(const char *model_dir, const char *task, const char *data_dir,
                            int64_t ntokens, int T, const char *out_path);

#endif
