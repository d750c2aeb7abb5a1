/* tf_delta.h: runs a model as base + compressed delta, the way a delta-serving system does:
 * every linear projection computes y = W_base·x + Δ̂(x) with Δ̂ applied straight from its packed
 * form (compressors/compressor.h, dc_apply_ref), and the tensors a method stores whole
 * (embeddings, lm_head, norms) replace the base's.
 *
 * Why: quality numbers of compressed fine-tunes must come from the served computation, not from a
 * decompressed checkpoint, so that a kernel or format bug shows up as lost quality. */
#ifndef DB_TF_DELTA_H
#define DB_TF_DELTA_H

#include "core/status.h"
#include "models/tf.h"

typedef struct tf_delta tf_delta; /* opaque: the open container and the per-layer handles */

/* Opens the compressed delta at delta_path, refusing one made for another base (its recorded
 * base hash must equal base_dir's), checks every tensor's name and shape against m (which must
 * hold base_dir's weights), overwrites m's stored-whole tensors with the fine-tuned values and
 * installs the hook on m. One-line errors name the file and the tensor. */
db_status tf_delta_attach(tf_model *m, const char *base_dir, const char *delta_path,
                          tf_delta **out);
/* Removes the hook from m and closes the container (m keeps the replaced whole tensors). */
void tf_delta_detach(tf_model *m, tf_delta *d);
/* Folds Δ̂ of every linear tensor into m's weights (W = W_base + Δ̂, dense) and detaches: a
 * plain model equal to the compressed fine-tune, for methods such as calibration and
 * distillation that need gradients or weight access. */
db_status tf_delta_fold(tf_model *m, tf_delta *d);

#endif
