/* bench_layer.c: one linear layer of the serving forward (bench_layer.h). */
#include "harness/bench_layer.h"

#include <string.h>

db_status kb_layer_call(kn_ctx *c, kb_layer_kind kind, const uint16_t *base, const kn_deltas *dl,
                        int64_t B, const int32_t *row_delta, int32_t *zeros, const float *x,
                        float *y)
{
    const int64_t N = dl->N, K = dl->K;
    db_status s = kn_deltas_check(dl);
    if (s)
        return s;
    if (kind == KB_LAYER_BATCHED) { /* models/tf_batch.c's linear: base for all, then deltas */
        if (!(s = kn_dense_gemm(c, DT_F16, N, K, base, B, x, y, false)))
            s = kn_delta_gemm(c, dl, B, row_delta, x, y, true);
        return s;
    }
    for (int64_t r0 = 0; r0 < B && !s;) { /* one run of rows with the same delta at a time */
        const int32_t d = row_delta[r0];
        int64_t r1 = r0 + 1;
        while (r1 < B && row_delta[r1] == d)
            r1++;
        const int64_t nr = r1 - r0;
        const float *xr = x + (size_t)(r0 * K);
        float *yr = y + (size_t)(r0 * N);
        s = kn_dense_gemm(c, DT_F16, N, K, base, nr, xr, yr, false);
        if (!s && d >= 0) {
            if (d >= dl->D)
                return db_error(DB_ERR_ARG, "kb_layer_call: row %lld: delta %d of %d",
                                (long long)r0, (int)d, dl->D);
            kn_deltas one = *dl;
            one.D = 1;
            for (int j = 0; j < KN_MAX_PARTS; j++)
                one.part[j] = dl->part[j] ? &dl->part[j][d] : NULL;
            one.nnz = dl->nnz ? &dl->nnz[d] : NULL;
            memset(zeros, 0, sizeof *zeros * (size_t)nr);
            s = kn_delta_gemm(c, &one, nr, zeros, xr, yr, true);
        }
        r0 = r1;
    }
    return s;
}

void kb_layer_group_rows(int32_t *row_delta, int64_t B, int D, int64_t *counts)
{
    memset(counts, 0, sizeof *counts * (size_t)(D + 1));
    for (int64_t b = 0; b < B; b++)
        counts[row_delta[b] + 1]++;
    int64_t b = 0;
    for (int d = -1; d < D; d++)
        for (int64_t i = 0; i < counts[d + 1]; i++)
            row_delta[b++] = d;
}
