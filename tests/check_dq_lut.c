/* check_dq_lut.c: the table-lookup DeltaDQ product (kernels/dq_lut.h) against its scalar
 * reference on random stages and columns, and against the compressor's own apply_ref on
 * containers DeltaDQ encoded (the kernel reads the format's bits as they are stored); bad
 * descriptions give one-line errors; the allocation sweep. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "compressors/compressor.h"
#include "compressors/internal.h"
#include "core/hash.h"
#include "core/rng.h"
#include "kernels/dq_lut.h"
#include "kernels/formats.h"
#include "testlib.h"

/* |lut - ref| within the documented fp32 summation bound of each output */
static void compare(const kn_dq *d, int64_t B, const float *x)
{
    size_t ny = (size_t)(B * d->N);
    float *a = calloc(ny + 1, 4), *b = calloc(ny + 1, 4);
    for (size_t i = 0; i < ny; i++)
        a[i] = b[i] = (float)i * 0.25f; /* both accumulate into y */
    ck_assert_int_eq(kn_dq_gemm_ref(d, B, x, a), DB_OK);
    ck_assert_int_eq(kn_dq_gemm_lut(d, B, x, b), DB_OK);
    /* sum |Δ̂ x| per output, through the reference on |x| and |values| */
    int bits = 0;
    for (int j = 0; j < d->parts; j++)
        bits += d->width[j];
    float table[256];
    kn_dq_table(d, table);
    for (int64_t bb = 0; bb < B; bb++)
        for (int64_t r = 0; r < d->N; r++) {
            double m = 0;
            for (int64_t j = 0; j < d->kept; j++) {
                int64_t i = r * d->kept + j, c = 0;
                for (int p = 0, off = 0; p < d->parts; off += d->width[p], p++)
                    c |= (int64_t)dc_fmt_get(d->stage[p], i, d->width[p]) << off;
                int64_t col = d->cols_dtype == DT_U16 ? ((const uint16_t *)d->cols)[i] : ((const uint32_t *)d->cols)[i];
                m += fabs((double)table[c] * x[bb * d->K + col]);
            }
            double tol = KN_DQ_TOL_PER_TERM * (double)(d->kept + (1 << bits)) * m;
            double diff = fabs((double)a[bb * d->N + r] - b[bb * d->N + r]);
            /* y started at a value; the add itself rounds once */
            tol += 6e-8 * fabs((double)a[bb * d->N + r]);
            ck_assert_msg(diff <= tol, "y[%lld,%lld]: lut %g ref %g (tol %g)", (long long)bb, (long long)r,
                          b[bb * d->N + r], a[bb * d->N + r], tol);
        }
    free(a), free(b);
}

START_TEST(test_lut_vs_ref_random)
{
    static const int64_t shapes[][3] = {{1, 1, 1}, {3, 40, 10}, {17, 300, 19}, {64, 4096, 256}, {5, 70000, 33}};
    static const int widths[][4] = {{2, 2, 0, 0}, {1, 1, 0, 0}, {2, 1, 0, 0}, {3, 3, 2, 0}, {4, 0, 0, 0}, {1, 1, 1, 1}};
    static const int nparts[] = {2, 2, 2, 3, 1, 4};
    db_rng rng;
    rng_stream(&rng, 7, 1);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t wi = 0; wi < sizeof nparts / sizeof nparts[0]; wi++) {
            int64_t N = shapes[si][0], K = shapes[si][1], kept = shapes[si][2];
            kn_dq d = {.N = N, .K = K, .kept = kept, .parts = nparts[wi]};
            d.cols_dtype = K <= 65536 ? DT_U16 : DT_U32;
            void *cols = malloc((size_t)(N * kept) * 4 + 4);
            for (int64_t r = 0; r < N; r++) /* ascending distinct columns: every K/kept-th plus jitter */
                for (int64_t j = 0; j < kept; j++) {
                    int64_t c = j * (K / kept) + (int64_t)rng_below(&rng, (uint64_t)(K / kept));
                    if (d.cols_dtype == DT_U16)
                        ((uint16_t *)cols)[r * kept + j] = (uint16_t)c;
                    else
                        ((uint32_t *)cols)[r * kept + j] = (uint32_t)c;
                }
            d.cols = cols;
            uint32_t *st[4] = {0};
            for (int p = 0; p < d.parts; p++) {
                d.width[p] = widths[wi][p];
                int64_t w = dc_fmt_words(N * kept, d.width[p]) + 1;
                st[p] = malloc((size_t)w * 4);
                for (int64_t i = 0; i < w; i++)
                    st[p][i] = (uint32_t)rng_u64(&rng);
                d.stage[p] = st[p];
                d.scale[p] = (float)(1e-3 / (1 << (2 * p)) * (1 + rng_f64(&rng)));
            }
            for (int64_t B = 1; B <= 8; B += 7) {
                float *x = malloc(sizeof *x * (size_t)(B * K));
                for (int64_t i = 0; i < B * K; i++)
                    x[i] = (float)rng_normal(&rng);
                compare(&d, B, x);
                free(x);
            }
            for (int p = 0; p < d.parts; p++)
                free(st[p]);
            free(cols);
        }
}
END_TEST

/* On containers DeltaDQ encoded: the kernel over the stored stages and the expanded positions
 * gives what the compressor's own apply_ref gives, at every ratio setting. */
START_TEST(test_lut_vs_compressor)
{
    static const struct { double drop; int bits, parts; } set[] = {
        {0.75, 4, 2}, {0.875, 4, 2}, {0.9375, 4, 2}, {0.9375, 2, 2}, {0.75, 3, 2}};
    const dc_method *m = dc_method_find("deltadq");
    const int64_t N = 24, K = 128, B = 3;
    uint16_t *base = malloc(2 * N * K), *tgt = malloc(2 * N * K);
    db_rng rng;
    rng_stream(&rng, 3, 3);
    for (int64_t i = 0; i < N * K; i++) {
        base[i] = f32_to_f16((float)(0.02 * rng_normal(&rng)));
        tgt[i] = f32_to_f16(f16_to_f32(base[i]) + (float)(1e-3 * rng_normal(&rng)));
    }
    float x[3 * 128];
    for (int i = 0; i < 3 * 128; i++)
        x[i] = (float)rng_normal(&rng);
    const char *name = "model.layers.0.mlp.up_proj.weight";
    dc_src src = {name, N, K, DT_F16, base, tgt};
    for (size_t si = 0; si < sizeof set / sizeof set[0]; si++) {
        dc_params p;
        dc_params_default(m, &p);
        p.drop = set[si].drop, p.bits = set[si].bits, p.parts = set[si].parts, p.seed = 9;
        dc_packed pk;
        ck_assert_int_eq(dc_encode(m, &src, &p, NULL, &pk), DB_OK);
        int64_t G = ((const uint16_t *)dc_packed_part(&pk, "group")->data)[0], c = dc_dq_c(G, p.drop);
        int64_t kept = dc_dq_row_kept(K, G, c);
        kn_dq d = {.N = N, .K = K, .kept = kept, .cols_dtype = DT_U16, .parts = p.parts};
        uint16_t *cols = malloc(2 * (size_t)(N * kept));
        int32_t pos[128], scr[256];
        for (int64_t r = 0; r < N; r++) {
            dc_dq_positions(p.seed, hash_str(name), r, K, G, c, pos, scr);
            for (int64_t j = 0; j < kept; j++)
                cols[r * kept + j] = (uint16_t)pos[j];
        }
        d.cols = cols;
        const uint16_t *sc = dc_packed_part(&pk, "scale")->data;
        for (int j = 0; j < p.parts; j++) {
            char nm[3] = {'q', (char)('0' + j), 0};
            d.stage[j] = dc_packed_part(&pk, nm)->data;
            d.width[j] = p.bits / p.parts + (j < p.bits % p.parts);
            d.scale[j] = f16_to_f32(sc[j]);
        }
        float want[3 * 24] = {0}, got[3 * 24] = {0};
        dc_tensor t = {.name = name, .role = DC_ROLE_DELTA, .packed = pk};
        ck_assert_int_eq(dc_apply_ref(&t, B, x, want), DB_OK);
        ck_assert_int_eq(kn_dq_gemm_lut(&d, B, x, got), DB_OK);
        for (int i = 0; i < 3 * 24; i++)
            ck_assert_msg(fabsf(got[i] - want[i]) <= 1e-5f * (1e-3f + fabsf(want[i])) * 10,
                          "setting %zu y[%d]: %g vs %g", si, i, got[i], want[i]);
        compare(&d, B, x);
        free(cols);
        dc_packed_free(&pk);
    }
    free(base), free(tgt);
}
END_TEST

START_TEST(test_bad_description)
{
    uint32_t st[2] = {0};
    uint16_t cols[2] = {0, 1};
    float x[4] = {0}, y[2] = {0};
    kn_dq d = {.N = 1, .K = 4, .kept = 2, .cols_dtype = DT_U16, .cols = cols, .parts = 2,
               .width = {4, 5}, .stage = {st, st}};
    ck_assert_int_eq(kn_dq_gemm_lut(&d, 1, x, y), DB_ERR_ARG); /* 9 bits */
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "9 bits"));
    ck_assert_ptr_null(strchr(db_errmsg(), '\n'));
    d.width[1] = 2, d.stage[1] = NULL;
    ck_assert_int_eq(kn_dq_gemm_ref(&d, 1, x, y), DB_ERR_ARG);
    d.stage[1] = st, d.kept = 5;
    ck_assert_int_eq(kn_dq_gemm_lut(&d, 1, x, y), DB_ERR_ARG);
    d.kept = 2, d.cols_dtype = DT_F32;
    ck_assert_int_eq(kn_dq_gemm_lut(&d, 1, x, y), DB_ERR_ARG);
    d.cols_dtype = DT_U16, d.parts = 0;
    ck_assert_int_eq(kn_dq_gemm_lut(&d, 1, x, y), DB_ERR_ARG);
}
END_TEST

typedef struct { kn_dq d; float x[8], y[2]; } sweep_ctx;
static db_status sweep_op(void *v)
{
    sweep_ctx *c = v;
    return kn_dq_gemm_lut(&c->d, 1, c->x, c->y);
}

START_TEST(test_alloc_sweep)
{
    static uint32_t st[2] = {0x1234u, 0x5678u};
    static uint16_t cols[4] = {0, 3, 1, 6};
    sweep_ctx c = {.d = {.N = 2, .K = 8, .kept = 2, .cols_dtype = DT_U16, .cols = cols, .parts = 2,
                         .width = {2, 2}, .stage = {st, st + 1}, .scale = {1, 0.25f}}};
    tl_alloc_sweep("kn_dq_gemm_lut", sweep_op, NULL, &c, 10);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dq_lut");
    TCase *tc = tcase_create("lut");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_lut_vs_ref_random);
    tcase_add_test(tc, test_lut_vs_compressor);
    tcase_add_test(tc, test_bad_description);
    tcase_add_test(tc, test_alloc_sweep);
    suite_add_tcase(s, tc);
    return tl_run(s);
}
