/* tf_batch.h: the serving forward of many fine-tunes of one base (`tfb_` module).
 *
 * One engine iteration of a delta-serving system runs, over the requests of its batch, each
 * request's new tokens (a prefill of p tokens, or one decode token) through the KV cache:
 * every linear projection is one base GEMM over all rows of the batch (fp16 base weights,
 * kernels/kernels.h kn_dense_gemm) plus one batched delta call that reads each distinct delta
 * once (kn_delta_gemm: BitDelta's 1-bit kernel, DeltaZip's SBMM, CSR for DeltaDQ, fp16), and
 * every tensor a fine-tune stores whole (embeddings, norms, lm_head) is its own. Full-model
 * serving (the swap and dedicated baselines) runs each model's rows through its own fp16
 * weights instead. Why a separate forward from tf_decode: tf_decode runs one model with one
 * hook; a server mixes many fine-tunes, prefills and decodes in one iteration.
 *
 * Shape legend (models/tf.h): C hidden, F intermediate, V vocab, L layers, NH/NKV heads, HS head
 * size; R rows (tokens) of an iteration, n requests, G distinct deltas in it.
 *
 * Memory: tfb_init allocates the KV slots, the activations for `max_rows` rows and the per-call
 * tables once; tfb_run allocates nothing. A tfb_weights (one fine-tune as a server holds it in
 * its "GPU" slot: packed parts copied out of the container into aligned buffers) is allocated
 * when it is loaded. */
#ifndef DB_TF_BATCH_H
#define DB_TF_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "compressors/compressor.h"
#include "core/status.h"
#include "kernels/kernels.h"
#include "models/tf.h"

/* One fine-tune's weights as served: a compressed delta over the base, or a full fp16 model. */
typedef struct tfb_weights tfb_weights;

/* Builds a delta's served form from an open container made for this base (shapes checked
 * against c): deltazip -> SBMM parts, bitdelta -> 1-bit parts, fp16 -> dense parts, deltadq ->
 * CSR (positions regenerated and expanded once, here), any other method -> the container's
 * scalar apply path (the container then stays open, owned by *out). Whole tensors are copied
 * (embeddings and norms as f32, lm_head as fp16). `origin` names the file in errors. */
db_status tfb_weights_from_delta(const tf_config *c, dc_delta *dc, const char *origin,
                                 tfb_weights **out);
/* Builds a full model's served form from a checkpoint file or directory (HF names, F16/BF16/F32):
 * every linear weight and lm_head as fp16, embeddings and norms as f32. */
db_status tfb_weights_from_checkpoint(const tf_config *c, const char *path, tfb_weights **out);
/* Bytes the served form occupies (parts + whole tensors). */
size_t tfb_weights_bytes(const tfb_weights *w);
/* Name of the kernel path its linear projections take ("sbmm", "bitdelta", "csr", "dense16",
 * "ref", "full"). */
const char *tfb_weights_path(const tfb_weights *w);
/* Whether the container must stay open while w is used (the scalar apply path). */
int tfb_weights_keeps_container(const tfb_weights *w);
void tfb_weights_free(tfb_weights *w); /* NULL is a no-op */

typedef struct tfb_ctx tfb_ctx;

/* A batch runner over base model m (its weights are copied to fp16; m must stay loaded for its
 * embeddings and norms): `slots` KV slots of m->cfg.maxT positions, at most `max_rows` tokens
 * and `max_req` requests per call, on kernel context kn (borrowed). */
db_status tfb_init(tfb_ctx **out, const tf_model *m, kn_ctx *kn, int slots, int max_rows,
                   int max_req);
void tfb_free(tfb_ctx *b); /* NULL is a no-op */

/* One request of an iteration. */
typedef struct {
    const tfb_weights *w; /* its fine-tune; NULL = the base model itself */
    int slot;             /* KV slot in [0, slots) */
    int pos;              /* position of its first new token; positions 0..pos-1 are cached */
    int ntok;             /* new tokens (pos + ntok <= maxT) */
    const int *tokens;    /* [ntok] token ids */
} tfb_req;

/* Runs one iteration over n requests (distinct slots): every new token goes through the model,
 * its K and V land in the request's slot, and next[i] receives the greedy next token after
 * request i's last new token. All weights of a call must be of one kind (all deltas, or all
 * full models; NULL mixes with deltas). */
db_status tfb_run(tfb_ctx *b, int n, const tfb_req *req, int *next);

#endif
