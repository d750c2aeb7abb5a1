/* dq_lut.c: DeltaDQ's product by table lookup (kernels/dq_lut.h) and its scalar reference.
 *
 * The lookup path decodes a row's combined codes once (stage after stage, each a sequential
 * walk of its bit stream), then for each request row adds x[col] into bin[code] (no multiply,
 * no per-entry level arithmetic) and finishes with one dot of the 2^bits bins with the value
 * table. Single-threaded; rows are independent, so a caller may split N. */
#include <string.h>

#include "core/alloc.h"
#include "kernels/dq_lut.h"
#include "kernels/formats.h"

db_status kn_dq_check(const kn_dq *d)
{
    if (d->N < 0 || d->K < 1 || d->kept < 0 || d->kept > d->K)
        return db_error(DB_ERR_ARG, "deltadq kernel: shape %lldx%lld with %lld kept a row",
                        (long long)d->N, (long long)d->K, (long long)d->kept);
    if (d->parts < 1 || d->parts > 4)
        return db_error(DB_ERR_ARG, "deltadq kernel: %d stages (1..4)", d->parts);
    int bits = 0;
    for (int j = 0; j < d->parts; j++) {
        if (d->width[j] < 1 || !d->stage[j])
            return db_error(DB_ERR_ARG, "deltadq kernel: stage %d has width %d or no data", j,
                            d->width[j]);
        bits += d->width[j];
    }
    if (bits > 8)
        return db_error(DB_ERR_ARG, "deltadq kernel: %d bits in all stages (at most 8)", bits);
    if (d->cols_dtype != DT_U16 && d->cols_dtype != DT_U32)
        return db_error(DB_ERR_ARG, "deltadq kernel: columns must be U16 or U32");
    if (d->cols_dtype == DT_U16 && d->K > 65536)
        return db_error(DB_ERR_ARG, "deltadq kernel: U16 columns for K = %lld", (long long)d->K);
    return DB_OK;
}

static int total_bits(const kn_dq *d)
{
    int b = 0;
    for (int j = 0; j < d->parts; j++)
        b += d->width[j];
    return b;
}

static inline float level(float s, uint32_t q, int b) { return s * ((float)q - 0.5f * (float)((1 << b) - 1)); }

void kn_dq_table(const kn_dq *d, float *table)
{
    const int n = 1 << total_bits(d);
    for (int c = 0; c < n; c++) {
        float v = 0.0f;
        for (int j = 0, off = 0; j < d->parts; off += d->width[j], j++)
            v += level(d->scale[j], (uint32_t)(c >> off) & ((1u << d->width[j]) - 1u), d->width[j]);
        table[c] = v;
    }
}

static inline int64_t col_at(const kn_dq *d, int64_t i)
{
    return d->cols_dtype == DT_U16 ? ((const uint16_t *)d->cols)[i] : ((const uint32_t *)d->cols)[i];
}

db_status kn_dq_gemm_ref(const kn_dq *d, int64_t B, const float *x, float *y)
{
    db_status s = kn_dq_check(d);
    if (s)
        return s;
    for (int64_t r = 0; r < d->N; r++)
        for (int64_t b = 0; b < B; b++) {
            double acc = 0.0;
            for (int64_t j = 0; j < d->kept; j++) {
                const int64_t i = r * d->kept + j;
                float v = 0.0f;
                for (int p = 0; p < d->parts; p++)
                    v += level(d->scale[p], dc_fmt_get(d->stage[p], i, d->width[p]), d->width[p]);
                acc += (double)v * x[b * d->K + col_at(d, i)];
            }
            y[b * d->N + r] += (float)acc;
        }
    return DB_OK;
}

db_status kn_dq_gemm_lut(const kn_dq *d, int64_t B, const float *x, float *y)
{
    db_status s = kn_dq_check(d);
    if (s)
        return s;
    const int nc = 1 << total_bits(d);
    float table[256];
    kn_dq_table(d, table);
    uint8_t *code = db_malloc_array((size_t)d->kept + 1, 1);
    float *bins = db_malloc_array((size_t)nc * (size_t)(B ? B : 1), sizeof *bins);
    if (!code || !bins) {
        db_free(code), db_free(bins);
        return db_error(DB_ERR_NOMEM, "deltadq kernel: out of memory");
    }
    for (int64_t r = 0; r < d->N; r++) {
        const int64_t i0 = r * d->kept;
        memset(code, 0, (size_t)d->kept);
        for (int p = 0, off = 0; p < d->parts; off += d->width[p], p++) {
            /* a sequential walk of the stage's bit stream from entry i0 */
            const int w = d->width[p];
            const uint32_t mask = (1u << w) - 1u;
            int64_t bit = i0 * w;
            for (int64_t j = 0; j < d->kept; j++, bit += w) {
                uint64_t v = d->stage[p][bit >> 5] >> (bit & 31);
                if ((bit & 31) + w > 32)
                    v |= (uint64_t)d->stage[p][(bit >> 5) + 1] << (32 - (bit & 31));
                code[j] |= (uint8_t)(((uint32_t)v & mask) << off);
            }
        }
        const uint16_t *c16 = d->cols_dtype == DT_U16 ? (const uint16_t *)d->cols + i0 : NULL;
        const uint32_t *c32 = d->cols_dtype == DT_U32 ? (const uint32_t *)d->cols + i0 : NULL;
        for (int64_t b = 0; b < B; b++) {
            float *bn = bins + b * nc;
            const float *xb = x + b * d->K;
            memset(bn, 0, sizeof *bn * (size_t)nc);
            if (c16)
                for (int64_t j = 0; j < d->kept; j++)
                    bn[code[j]] += xb[c16[j]];
            else
                for (int64_t j = 0; j < d->kept; j++)
                    bn[code[j]] += xb[c32[j]];
            float acc = 0.0f;
            for (int c = 0; c < nc; c++)
                acc += table[c] * bn[c];
            y[b * d->N + r] += acc;
        }
    }
    db_free(code), db_free(bins);
    return DB_OK;
}
