/* random.c: random packed deltas of every kernel format, for benchmarks and the kernel executor
 * (speed does not depend on the values, only on the format and shape). */
#include "kernels/random.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/half.h"
#include "kernels/formats.h"

db_status kn_random_delta(kn_fmt fmt, int64_t N, int64_t K, int bits, double density, int64_t rank,
                          db_rng *r, void *part[KN_MAX_PARTS], size_t bytes[KN_MAX_PARTS],
                          int64_t *nnz)
{
    memset(bytes, 0, sizeof(size_t) * KN_MAX_PARTS);
    switch (fmt) {
    case KN_FMT_DENSE16: bytes[0] = (size_t)(N * K) * 2; break;
    case KN_FMT_BITDELTA: bytes[0] = (size_t)(N * dc_fmt_words(K, 1)) * 4, bytes[1] = 4; break;
    case KN_FMT_NMQ: {
        int64_t S = (K + 3) / 4 * 2;
        bytes[0] = (size_t)(N * dc_fmt_words(S, bits)) * 4;
        bytes[1] = (size_t)(N * dc_fmt_words(S, 2)) * 4;
        bytes[2] = (size_t)N * 2;
        break;
    }
    case KN_FMT_CSR: {
        int64_t per = (int64_t)llround(density * (double)K);
        per = per < 1 ? 1 : per > K ? K : per;
        *nnz = per * N;
        bytes[0] = (size_t)(N + 1) * 4, bytes[1] = (size_t)*nnz * 4, bytes[2] = (size_t)*nnz * 2;
        break;
    }
    case KN_FMT_LOWRANK: bytes[0] = (size_t)(N * rank) * 2, bytes[1] = (size_t)(rank * K) * 2; break;
    default: break;
    }
    for (int j = 0; j < KN_MAX_PARTS; j++)
        part[j] = NULL;
    for (int j = 0; j < KN_MAX_PARTS; j++)
        if (bytes[j] && !(part[j] = db_malloc(bytes[j]))) {
            for (int i = 0; i < j; i++) { /* all parts or none */
                db_free(part[i]);
                part[i] = NULL;
            }
            return db_error(DB_ERR_NOMEM, "random delta: out of memory (%zu bytes)", bytes[j]);
        }
    switch (fmt) {
    case KN_FMT_DENSE16:
    case KN_FMT_LOWRANK:
        for (int j = 0; j < 2; j++)
            for (size_t i = 0; i < bytes[j] / 2; i++)
                ((uint16_t *)part[j])[i] = f32_to_f16((float)(0.02 * (rng_f64(r) - 0.5)));
        break;
    case KN_FMT_BITDELTA:
    case KN_FMT_NMQ: /* any bit pattern is a valid 1-bit row; random 2-bit indices and codes too */
        for (int j = 0; j < 2; j++)
            for (size_t i = 0; i < bytes[j] / 4; i++)
                ((uint32_t *)part[j])[i] = rng_u32(r);
        if (fmt == KN_FMT_BITDELTA)
            *(float *)part[1] = 1e-3f;
        else
            for (int64_t n = 0; n < N; n++)
                ((uint16_t *)part[2])[n] = f32_to_f16(1e-3f);
        break;
    case KN_FMT_CSR: { /* per row: `per` columns spread evenly with jitter, ascending */
        uint32_t *rp = part[0], *cols = part[1];
        uint16_t *val = part[2];
        const int64_t per = *nnz / N;
        for (int64_t n = 0; n <= N; n++)
            rp[n] = (uint32_t)(n * per);
        for (int64_t n = 0; n < N; n++)
            for (int64_t j = 0; j < per; j++) {
                int64_t lo = j * K / per, hi = (j + 1) * K / per;
                cols[n * per + j] = (uint32_t)(lo + (int64_t)rng_below(r, (uint64_t)(hi - lo)));
                val[n * per + j] = f32_to_f16((float)(1e-3 * (rng_f64(r) - 0.5)));
            }
        break;
    }
    default: break;
    }
    return DB_OK;
}

