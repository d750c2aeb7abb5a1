/* bench_layer.h: one linear layer of the serving forward as `bench-kernel` times it (`kb_layer_`,
 * the base+ ops): the shared fp16 base plus each request row's delta,
 *     y[b] = W_base x[b] + Δ_{row_delta[b]} x[b]     (row_delta -1: the base alone),
 * computed the way models/tf_batch.c's linear does it (one base GEMM over all B rows, then one
 * batched kn_delta_gemm accumulating into y), or as the per-delta loop that serves each
 * fine-tune on its own (for each run of consecutive rows with one delta: the base GEMM of those
 * rows, then the delta kernel once over them). A serving batch keeps each model's rows together
 * (kb_layer_group_rows), so the loop makes one pair of calls per delta. */
#ifndef DB_BENCH_LAYER_H
#define DB_BENCH_LAYER_H

#include <stdint.h>

#include "kernels/kernels.h"

typedef enum {
    KB_LAYER_BATCHED, /* base GEMM over all B rows + one batched delta call (tf_batch) */
    KB_LAYER_LOOP     /* per delta: base GEMM of its rows + the delta kernel once */
} kb_layer_kind;

/* y [B, N] (overwritten) for the B rows of x [B, K] (the context's device memory); base is the
 * fp16 [N, K] weight (device memory), dl the deltas (fmt other than DENSE16 or any, its N and K
 * the base's), row_delta [B] host ids in [-1, dl->D). zeros [B] is host scratch the loop fills
 * with 0 (the row ids of a one-delta call). Errors are the kernels' (kn_deltas_check's for a bad
 * descriptor). */
db_status kb_layer_call(kn_ctx *c, kb_layer_kind kind, const uint16_t *base, const kn_deltas *dl,
                        int64_t B, const int32_t *row_delta, int32_t *zeros, const float *x,
                        float *y);

/* Sorts row_delta [B] ascending (ids -1..D-1, a counting sort; counts [D + 1] host scratch), so
 * each delta's rows are consecutive, as a serving batch groups them. */
void kb_layer_group_rows(int32_t *row_delta, int64_t B, int D, int64_t *counts);

#endif
