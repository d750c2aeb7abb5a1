/* check_kernels.c: every fast CPU kernel (the run-time chosen SIMD level and the portable
 * fallback) against its scalar `_ref` with a named tolerance per op (tests/kn_testlib.h), over
 * shapes with tails (not multiples of 32, 16, the group m), batches 1..64, 1..64 distinct deltas
 * (rows without a delta too), misaligned parts, x and y, outputs poisoned with NaN and every
 * element checked written, overwrite and accumulate; the dequantise-then-dense baseline; the
 * `_ref` oracles against the compressors' dc_apply_ref on really encoded deltas; bad arguments.
 * The 1-bit and 2:4 kernels also run at the AVX2 level on an AVX-512 machine, every batch size
 * 1..16, and must be bit-identical across thread counts and batch compositions. */
#include <check.h>
#include <omp.h>
#include <stdio.h>

#include "compressors/compressor.h"
#include "core/hash.h"
#include "kernels/random.h"
#include "kn_testlib.h"
#include "testlib.h"

static const int64_t shapes[][2] = {{1, 1}, {3, 31}, {7, 33}, {17, 100}, {33, 257}, {40, 1000},
                                    {5, 4099}};
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])
static const int batches[] = {1, 2, 3, 5, 8, 17, 64};
#define NBATCH (int)(sizeof batches / sizeof batches[0])

/* Runs one configuration through `impl` and the ref; returns the first bad index or -1. */
static int64_t run_case(kt_set *s, kn_impl impl, int64_t B, int D_used, bool acc, int misalign,
                        bool dequant, uint64_t seed, double tol)
{
    const int64_t N = s->dl.N, K = s->dl.K;
    db_rng r;
    rng_stream(&r, seed, (uint64_t)B);
    int32_t *rd = malloc(sizeof(int32_t) * (size_t)B);
    for (int64_t b = 0; b < B; b++) /* every 7th row has no delta; others one of D_used */
        rd[b] = b % 7 == 6 ? -1 : (int32_t)rng_below(&r, (uint64_t)D_used);
    float *xm = malloc(sizeof(float) * (size_t)(B * K + 1));
    float *ym = malloc(sizeof(float) * (size_t)(B * N + 1));
    float *want = malloc(sizeof(float) * (size_t)(B * N));
    float *y0 = malloc(sizeof(float) * (size_t)(B * N));
    double *bound = malloc(sizeof(double) * (size_t)(B * N));
    float *x = xm + (misalign ? 1 : 0), *y = ym + (misalign ? 1 : 0);
    for (int64_t i = 0; i < B * K; i++)
        x[i] = (float)rng_normal(&r);
    for (int64_t i = 0; i < B * N; i++)
        y0[i] = acc ? (float)(1e-3 * rng_normal(&r)) : NAN;
    kn_ctx *cr, *cf;
    ck_assert_int_eq(kn_ctx_init(&cr, KN_CPU, KN_IMPL_REF), DB_OK);
    ck_assert_int_eq(kn_ctx_init(&cf, KN_CPU, impl), DB_OK);
    memcpy(want, y0, sizeof(float) * (size_t)(B * N));
    if (!acc)
        for (int64_t i = 0; i < B * N; i++)
            want[i] = NAN;
    ck_assert_msg(kn_delta_gemm(cr, &s->dl, B, rd, x, want, acc) == DB_OK, "%s", db_errmsg());
    memcpy(y, y0, sizeof(float) * (size_t)(B * N));
    db_status st = dequant ? kn_delta_gemm_dequant(cf, &s->dl, B, rd, x, y, acc)
                           : kn_delta_gemm(cf, &s->dl, B, rd, x, y, acc);
    ck_assert_msg(st == DB_OK, "%s", db_errmsg());
    if (tol == TOL_Q8)
        kt_bound_q8(s, B, rd, x, bound);
    else
        kt_bound(s, B, rd, x, bound);
    int64_t bad = kt_compare(y, want, bound, acc ? y0 : NULL, B * N, tol);
    if (bad >= 0)
        fprintf(stderr, "fmt %d N %lld K %lld B %lld: y[%lld] = %.9g, ref %.9g, bound %.3g\n",
                s->dl.fmt, (long long)N, (long long)K, (long long)B, (long long)bad, y[bad],
                want[bad], bound[bad]);
    for (int64_t b = 0; b < B && bad < 0; b++) /* rows without a delta: 0, or untouched */
        if (rd[b] < 0)
            for (int64_t n = 0; n < N; n++)
                if (y[b * N + n] != (acc ? y0[b * N + n] : 0.0f))
                    bad = b * N + n;
    kn_ctx_free(cr), kn_ctx_free(cf);
    free(rd), free(xm), free(ym), free(want), free(y0), free(bound);
    return bad;
}

/* Sweeps shapes x batches x delta counts for one format and impl. */
static void sweep(kn_fmt fmt, kn_impl impl, int bits, int nn, int m, int64_t rank, db_dtype dt,
                  double tol, bool dequant)
{
    int cases = 0;
    for (int si = 0; si < NSHAPES; si++) {
        const int64_t N = shapes[si][0], K = shapes[si][1];
        if (fmt == KN_FMT_LOWRANK && (rank > N || rank > K))
            continue;
        for (int bi = 0; bi < NBATCH; bi++) {
            const int64_t B = batches[bi];
            if (N * K * B > 4000000) /* keeps the scalar oracles fast */
                continue;
            const int D = bi % 3 == 0 ? 1 : bi % 3 == 1 ? 3 : (int)(B < 64 ? B : 64);
            const int misalign = (si + bi) % 2;
            kt_set s;
            kt_make(&s, fmt, N, K, D, bits, nn, m, rank, dt, misalign, (uint64_t)(si * 100 + bi));
            for (int acc = 0; acc < 2; acc++) {
                int64_t bad = run_case(&s, impl, B, D, acc, misalign, dequant,
                                       (uint64_t)(si * 1000 + bi * 10 + acc), tol);
                ck_assert_msg(bad < 0, "fmt %d impl %d [%lld, %lld] B %lld D %d acc %d: element %lld",
                              fmt, impl, (long long)N, (long long)K, (long long)B, D, acc,
                              (long long)bad);
                cases++;
            }
            kt_free(&s);
        }
    }
    ck_assert_int_gt(cases, 10);
}

START_TEST(test_dense_f16_fast_vs_ref) { sweep(KN_FMT_DENSE16, KN_IMPL_FAST, 0, 0, 0, 0, DT_F16, TOL_DENSE, false); }
END_TEST
START_TEST(test_dense_bf16_fast_vs_ref) { sweep(KN_FMT_DENSE16, KN_IMPL_FAST, 0, 0, 0, 0, DT_BF16, TOL_DENSE, false); }
END_TEST
START_TEST(test_bitdelta_fast_vs_ref) { sweep(KN_FMT_BITDELTA, KN_IMPL_F32, 0, 0, 0, 0, DT_U32, TOL_BITDELTA, false); }
END_TEST
START_TEST(test_nmq_2of4_4bit_fast_vs_ref) { sweep(KN_FMT_NMQ, KN_IMPL_F32, 4, 2, 4, 0, DT_U32, TOL_NMQ, false); }
END_TEST
START_TEST(test_nmq_2of4_2bit_fast_vs_ref) { sweep(KN_FMT_NMQ, KN_IMPL_F32, 2, 2, 4, 0, DT_U32, TOL_NMQ, false); }
END_TEST
START_TEST(test_nmq_2of4_8bit_fast_vs_ref) { sweep(KN_FMT_NMQ, KN_IMPL_F32, 8, 2, 4, 0, DT_U32, TOL_NMQ, false); }
END_TEST
START_TEST(test_nmq_generic_fast_vs_ref)
{
    sweep(KN_FMT_NMQ, KN_IMPL_FAST, 3, 1, 4, 0, DT_U32, TOL_NMQ, false);
    sweep(KN_FMT_NMQ, KN_IMPL_FAST, 4, 4, 8, 0, DT_U32, TOL_NMQ, false);
}
END_TEST
START_TEST(test_csr_fast_vs_ref)
{
    sweep(KN_FMT_CSR, KN_IMPL_FAST, 0, 0, 0, 0, DT_U16, TOL_CSR, false);
    sweep(KN_FMT_CSR, KN_IMPL_FAST, 0, 0, 0, 0, DT_U32, TOL_CSR, false);
}
END_TEST
START_TEST(test_lowrank_fast_vs_ref) { sweep(KN_FMT_LOWRANK, KN_IMPL_FAST, 0, 0, 0, 3, DT_U32, TOL_LOWRANK, false); }
END_TEST

/* Many rows of one weight, contiguous: the panel + OpenBLAS SGEMM path of the dense kernel
 * (from 16 rows on AVX2, 256 on AVX-512), f16 and bf16, overwrite and accumulate. */
START_TEST(test_dense_sgemm_path)
{
    const int64_t N = 40, K = 100, B = 300;
    static const kn_impl impls[] = {KN_IMPL_FAST, KN_IMPL_AVX2};
    for (int f = 0; f < 2; f++) {
        kt_set s;
        kt_make(&s, KN_FMT_DENSE16, N, K, 1, 0, 0, 0, 0, f ? DT_BF16 : DT_F16, 0, (uint64_t)(40 + f));
        int32_t *rd = calloc((size_t)B, sizeof *rd); /* every row: delta 0 */
        float *x = malloc(sizeof(float) * (size_t)(B * K)), *want = malloc(sizeof(float) * (size_t)(B * N));
        float *y = malloc(sizeof(float) * (size_t)(B * N)), *y0 = malloc(sizeof(float) * (size_t)(B * N));
        double *bound = malloc(sizeof(double) * (size_t)(B * N));
        db_rng r;
        rng_seed(&r, 8);
        for (int64_t i = 0; i < B * K; i++)
            x[i] = (float)rng_normal(&r);
        for (int64_t i = 0; i < B * N; i++)
            y0[i] = (float)rng_normal(&r);
        kt_bound(&s, B, rd, x, bound);
        for (int ii = 0; ii < 2; ii++)
            for (int acc = 0; acc < 2; acc++) {
                kn_ctx *cr, *cf;
                ck_assert_int_eq(kn_ctx_init(&cr, KN_CPU, KN_IMPL_REF), DB_OK);
                ck_assert_int_eq(kn_ctx_init(&cf, KN_CPU, impls[ii]), DB_OK);
                memcpy(want, y0, sizeof(float) * (size_t)(B * N));
                memcpy(y, y0, sizeof(float) * (size_t)(B * N));
                ck_assert_int_eq(kn_delta_gemm(cr, &s.dl, B, rd, x, want, acc), DB_OK);
                ck_assert_int_eq(kn_delta_gemm(cf, &s.dl, B, rd, x, y, acc), DB_OK);
                int64_t bad = kt_compare(y, want, bound, acc ? y0 : NULL, B * N, TOL_DENSE);
                ck_assert_msg(bad < 0, "dtype %d impl %d acc %d: element %lld", f, impls[ii], acc,
                              (long long)bad);
                kn_ctx_free(cr), kn_ctx_free(cf);
            }
        kt_free(&s);
        free(rd), free(x), free(want), free(y), free(y0), free(bound);
    }
}
END_TEST

/* The AVX2 paths even on an AVX-512 machine (KN_IMPL_AVX2), so both SIMD levels stay tested. */
START_TEST(test_avx2_vs_ref)
{
    sweep(KN_FMT_BITDELTA, KN_IMPL_AVX2, 0, 0, 0, 0, DT_U32, TOL_BITDELTA, false);
    sweep(KN_FMT_NMQ, KN_IMPL_AVX2, 4, 2, 4, 0, DT_U32, TOL_NMQ, false);
    sweep(KN_FMT_NMQ, KN_IMPL_AVX2, 2, 2, 4, 0, DT_U32, TOL_NMQ, false);
    sweep(KN_FMT_NMQ, KN_IMPL_AVX2, 8, 2, 4, 0, DT_U32, TOL_NMQ, false);
}
END_TEST

/* Every batch size 1..16 (the 1-bit tables are built for up to KN_LUT_ROWS = 16 rows per pass,
 * rows go 4 at a time) over shapes with row tails (not multiples of 16 or 32) and column tails
 * (not multiples of 4, 32, 64, 512), 1-bit and 2:4 at 2/4/8 bits, both SIMD levels. */
START_TEST(test_batches_1_to_16)
{
    static const int64_t sh[][2] = {{16, 512}, {37, 1000}, {33, 4099}, {50, 97}};
    static const kn_impl impls[] = {KN_IMPL_FAST, KN_IMPL_AVX2, KN_IMPL_F32};
    for (int si = 0; si < 4; si++)
        for (int f = 0; f < 4; f++) {
            const kn_fmt fmt = f == 0 ? KN_FMT_BITDELTA : KN_FMT_NMQ;
            const int bits = f == 1 ? 4 : f == 2 ? 2 : 8;
            kt_set s;
            kt_make(&s, fmt, sh[si][0], sh[si][1], 5, bits, 2, 4, 0, DT_U32, si % 2,
                    (uint64_t)(7000 + si * 10 + f));
            for (int64_t B = 1; B <= 16; B++)
                for (int ii = 0; ii < 3; ii++) {
                    const double tol = ii == 0 ? TOL_Q8 : f == 0 ? TOL_BITDELTA : TOL_NMQ;
                    const int D = (int)(B % 3 == 0 ? 1 : B % 3 == 1 ? 2 : 5);
                    const bool acc = (B + ii) % 2;
                    int64_t bad = run_case(&s, impls[ii], B, D, acc, (int)(B % 2), false,
                                           (uint64_t)(B * 100 + si * 10 + f), tol);
                    ck_assert_msg(bad < 0, "fmt %d bits %d [%lld, %lld] B %lld impl %d: element %lld",
                                  fmt, bits, (long long)sh[si][0], (long long)sh[si][1],
                                  (long long)B, impls[ii], (long long)bad);
                }
            kt_free(&s);
        }
}
END_TEST

/* Same inputs, same bits: 1 vs 2 threads, and a row alone vs batched with 7 rows of the same
 * delta (the 1-bit and 2:4 kernels sum each output in an order that depends only on K). */
/* The tiled layout of 1-bit signs (kernels.h): every CPU implementation gives the same bits as
 * with the row-major signs, over row tails (not multiples of 16 or 32), column tails and
 * batches; dequantisation too; other formats refuse the flag. */
START_TEST(test_bitdelta_tiled)
{
    static const int64_t sh[][2] = {{1, 1}, {3, 31}, {17, 100}, {33, 257}, {40, 1000},
                                    {5, 4099}, {50, 97}, {37, 4096}, {64, 33}};
    static const kn_impl impls[] = {KN_IMPL_REF, KN_IMPL_FAST, KN_IMPL_AVX2, KN_IMPL_PORTABLE,
                                    KN_IMPL_F32, KN_IMPL_INT8V1};
    for (int si = 0; si < (int)(sizeof sh / sizeof sh[0]); si++) {
        const int64_t N = sh[si][0], K = sh[si][1], B = 1 + si % 4 * 5, D = 3;
        kt_set s;
        kt_make(&s, KN_FMT_BITDELTA, N, K, D, 0, 0, 0, 0, DT_U32, si % 2, (uint64_t)(300 + si));
        const size_t tb = kn_bitdelta_tiled_bytes(N, K);
        ck_assert_uint_eq(tb, (size_t)((N + 15) / 16 * 16 * ((K + 31) / 32)) * 4 + 64);
        uint32_t *tiled[3];
        const void *tab[3];
        for (int d = 0; d < D; d++) {
            tiled[d] = malloc(tb);
            kn_bitdelta_tile(s.ptr[0][d], N, K, tiled[d]);
            tab[d] = tiled[d];
        }
        kn_deltas dt = s.dl;
        dt.part[0] = tab;
        dt.tiled = true;
        db_rng r;
        rng_seed(&r, (uint64_t)si);
        float *x = malloc(sizeof(float) * (size_t)(B * K));
        float *y0 = malloc(sizeof(float) * (size_t)(B * N)), *y1 = malloc(sizeof(float) * (size_t)(B * N));
        int32_t rd[16];
        for (int64_t i = 0; i < B * K; i++)
            x[i] = (float)rng_normal(&r);
        for (int64_t b = 0; b < B; b++)
            rd[b] = (int32_t)(b % (D + 1)) - 1; /* -1 (no delta), 0, 1, 2 */
        uint16_t *q0 = malloc(sizeof(uint16_t) * (size_t)(N * K)), *q1 = malloc(sizeof(uint16_t) * (size_t)(N * K));
        for (int ii = 0; ii < 6; ii++) {
            kn_ctx *c;
            ck_assert_int_eq(kn_ctx_init(&c, KN_CPU, impls[ii]), DB_OK);
            for (int acc = 0; acc < 2; acc++) {
                for (int64_t i = 0; i < B * N; i++)
                    y0[i] = y1[i] = acc ? (float)i : NAN;
                ck_assert_int_eq(kn_delta_gemm(c, &s.dl, B, rd, x, y0, acc), DB_OK);
                ck_assert_int_eq(kn_delta_gemm(c, &dt, B, rd, x, y1, acc), DB_OK);
                ck_assert_msg(!memcmp(y0, y1, sizeof(float) * (size_t)(B * N)),
                              "[%lld, %lld] B %lld impl %d acc %d: tiled differs from row-major",
                              (long long)N, (long long)K, (long long)B, impls[ii], acc);
            }
            ck_assert_int_eq(kn_dequant16(c, &s.dl, 2, q0), DB_OK);
            ck_assert_int_eq(kn_dequant16(c, &dt, 2, q1), DB_OK);
            ck_assert_msg(!memcmp(q0, q1, sizeof(uint16_t) * (size_t)(N * K)), "dequant16 tiled");
            kn_ctx_free(c);
        }
        kt_free(&s);
        for (int d = 0; d < D; d++)
            free(tiled[d]);
        free(x), free(y0), free(y1), free(q0), free(q1);
    }
    kt_set s;
    kt_make(&s, KN_FMT_NMQ, 8, 64, 1, 4, 2, 4, 0, DT_U32, 0, 1);
    s.dl.tiled = true;
    ck_assert_int_eq(kn_deltas_check(&s.dl), DB_ERR_ARG);
    kt_free(&s);
}
END_TEST

START_TEST(test_bit_identical)
{
    const int64_t N = 300, K = 1000, B = 8;
    static const kn_impl impls[] = {KN_IMPL_FAST, KN_IMPL_AVX2, KN_IMPL_F32};
    for (int f = 0; f < 3; f++)
        for (int ii = 0; ii < 3; ii++) {
            const kn_fmt fmt = f == 0 ? KN_FMT_BITDELTA : KN_FMT_NMQ;
            kt_set s;
            kt_make(&s, fmt, N, K, 3, f == 2 ? 2 : 4, 2, 4, 0, DT_U32, 0, (uint64_t)(90 + f));
            kn_ctx *c;
            ck_assert_int_eq(kn_ctx_init(&c, KN_CPU, impls[ii]), DB_OK);
            float *x = malloc(sizeof(float) * B * K), *y[3];
            for (int v = 0; v < 3; v++)
                y[v] = malloc(sizeof(float) * B * N);
            db_rng r;
            rng_seed(&r, 5);
            for (int64_t i = 0; i < B * K; i++)
                x[i] = (float)rng_normal(&r);
            int32_t rd[8] = {1, 1, 1, 1, 1, 1, 1, 1};
            const int nt = omp_get_max_threads();
            omp_set_num_threads(1);
            ck_assert_int_eq(kn_delta_gemm(c, &s.dl, B, rd, x, y[0], false), DB_OK);
            omp_set_num_threads(2);
            ck_assert_int_eq(kn_delta_gemm(c, &s.dl, B, rd, x, y[1], false), DB_OK);
            omp_set_num_threads(nt);
            for (int64_t b = 0; b < B; b++) /* each row alone */
                ck_assert_int_eq(kn_delta_gemm(c, &s.dl, 1, rd, x + b * K, y[2] + b * N, false),
                                 DB_OK);
            ck_assert_msg(!memcmp(y[0], y[1], sizeof(float) * B * N), "fmt %d: 1 vs 2 threads", f);
            ck_assert_msg(!memcmp(y[0], y[2], sizeof(float) * B * N), "fmt %d: batched vs alone", f);
            free(x), free(y[0]), free(y[1]), free(y[2]);
            kn_ctx_free(c);
            kt_free(&s);
        }
}
END_TEST

/* The int8 kernels on shapes large enough for their parallel path (tables built block by block
 * by all threads, items in chunks), with row and column tails, at 1 and 2 threads, batch 1 (one
 * row's tables split between threads) and 17 (two passes of KN_Q8_ROWS rows), against the
 * ref with TOL_Q8; 1-bit row-major and 2:4 at 2/4/8 bits. */
START_TEST(test_q8_parallel_vs_ref)
{
    static const int64_t sh[][2] = {{600, 4099}, {130, 11008}, {97, 2050}};
    const int nt = omp_get_max_threads();
    for (int si = 0; si < 3; si++)
        for (int f = 0; f < 4; f++) {
            const kn_fmt fmt = f == 0 ? KN_FMT_BITDELTA : KN_FMT_NMQ;
            const int bits = f == 1 ? 4 : f == 2 ? 2 : 8;
            kt_set s;
            kt_make(&s, fmt, sh[si][0], sh[si][1], 2, bits, 2, 4, 0, DT_U32, 0,
                    (uint64_t)(8100 + si * 10 + f));
            for (int t = 1; t <= 2; t++)
                for (int bi = 0; bi < 2; bi++) {
                    const int64_t B = bi == 0 ? 1 : 17;
                    omp_set_num_threads(t);
                    const int64_t bad = run_case(&s, KN_IMPL_FAST, B, 2, (B + t) % 2, 0, false,
                                                 (uint64_t)(B * 7 + t), TOL_Q8);
                    omp_set_num_threads(nt);
                    ck_assert_msg(bad < 0, "fmt %d bits %d [%lld, %lld] B %lld threads %d: element %lld",
                                  fmt, bits, (long long)sh[si][0], (long long)sh[si][1],
                                  (long long)B, t, (long long)bad);
                }
            kt_free(&s);
        }
}
END_TEST

/* The int8 table-lookup kernels (KN_IMPL_FAST where AVX-512 VBMI + VNNI + GFNI exist; else FAST
 * is the f32 kernels, which meet the looser bound too) against the ref with TOL_Q8, over the
 * sweep's shapes, tails, batches and delta counts; 1-bit tiled is checked by test_bitdelta_tiled
 * (bit-identical to row-major). */
START_TEST(test_q8_bitdelta_vs_ref) { sweep(KN_FMT_BITDELTA, KN_IMPL_FAST, 0, 0, 0, 0, DT_U32, TOL_Q8, false); }
END_TEST
START_TEST(test_q8_nmq_vs_ref)
{
    sweep(KN_FMT_NMQ, KN_IMPL_FAST, 4, 2, 4, 0, DT_U32, TOL_Q8, false);
    sweep(KN_FMT_NMQ, KN_IMPL_FAST, 2, 2, 4, 0, DT_U32, TOL_Q8, false);
    sweep(KN_FMT_NMQ, KN_IMPL_FAST, 8, 2, 4, 0, DT_U32, TOL_Q8, false);
}
END_TEST

/* The two versions of the int8 kernels (KN_IMPL_FAST, KN_IMPL_INT8V1) sum the same integers in
 * the same order: bit-identical outputs over row tails (not multiples of 16 or 32), column tails
 * (not multiples of 4, 32, 256), full and partial last blocks, batches 1..17 (1-4 rows per item,
 * two passes), 1-5 deltas and rows without one, both 1-bit layouts, 1 and 2 threads, overwrite
 * and accumulate; and FAST's 1-bit and 2:4 stay within TOL_Q8 of the ref (run_case). */
START_TEST(test_q8_versions_identical)
{
    static const int64_t sh[][2] = {{1, 1}, {17, 100}, {33, 257}, {64, 2048}, {50, 4099}, {97, 2050}};
    static const int bs[] = {1, 2, 3, 4, 5, 8, 9, 17};
    const int nt = omp_get_max_threads();
    int cases = 0;
    for (int si = 0; si < (int)(sizeof sh / sizeof sh[0]); si++)
        for (int f = 0; f < 4; f++) {
            const int64_t N = sh[si][0], K = sh[si][1];
            const kn_fmt fmt = f == 0 ? KN_FMT_BITDELTA : KN_FMT_NMQ;
            kt_set s;
            kt_make(&s, fmt, N, K, 5, f == 1 ? 4 : f == 2 ? 2 : 8, 2, 4, 0, DT_U32, si % 2,
                    (uint64_t)(9100 + si * 10 + f));
            const size_t tb = kn_bitdelta_tiled_bytes(N, K);
            uint32_t *tiled[5] = {NULL};
            const void *tab[5];
            kn_deltas dt = s.dl;
            if (fmt == KN_FMT_BITDELTA) {
                for (int d = 0; d < 5; d++) {
                    tiled[d] = malloc(tb);
                    kn_bitdelta_tile(s.ptr[0][d], N, K, tiled[d]);
                    tab[d] = tiled[d];
                }
                dt.part[0] = tab;
                dt.tiled = true;
            }
            for (int bi = 0; bi < (int)(sizeof bs / sizeof bs[0]); bi++) {
                const int64_t B = bs[bi];
                db_rng r;
                rng_seed(&r, (uint64_t)(si * 100 + bi));
                float *x = malloc(sizeof(float) * (size_t)(B * K)), *y[2];
                int32_t rd[17];
                for (int64_t i = 0; i < B * K; i++)
                    x[i] = (float)rng_normal(&r);
                for (int64_t b = 0; b < B; b++)
                    rd[b] = b % 6 == 5 ? -1 : (int32_t)rng_below(&r, (uint64_t)(1 + bi % 5));
                for (int v = 0; v < 2; v++)
                    y[v] = malloc(sizeof(float) * (size_t)(B * N));
                const int t = 1 + (bi + si) % 2, acc = (bi + f) % 2;
                omp_set_num_threads(t);
                for (int v = 0; v < 2; v++) {
                    kn_ctx *c;
                    ck_assert_int_eq(kn_ctx_init(&c, KN_CPU, v ? KN_IMPL_INT8V1 : KN_IMPL_FAST), DB_OK);
                    for (int64_t i = 0; i < B * N; i++)
                        y[v][i] = acc ? (float)i : NAN;
                    ck_assert_int_eq(kn_delta_gemm(c, &dt, B, rd, x, y[v], acc), DB_OK);
                    kn_ctx_free(c);
                }
                omp_set_num_threads(nt);
                ck_assert_msg(!memcmp(y[0], y[1], sizeof(float) * (size_t)(B * N)),
                              "fmt %d [%lld, %lld] B %lld threads %d: FAST != INT8V1", f,
                              (long long)N, (long long)K, (long long)B, t);
                free(x), free(y[0]), free(y[1]);
                if (bi % 3 == 0 && N * K * B < 4000000) {
                    const int64_t bad = run_case(&s, KN_IMPL_FAST, B, 5, acc, si % 2, false,
                                                 (uint64_t)(B * 13 + f), TOL_Q8);
                    ck_assert_msg(bad < 0, "fmt %d [%lld, %lld] B %lld: element %lld", f,
                                  (long long)N, (long long)K, (long long)B, (long long)bad);
                }
                cases++;
            }
            for (int d = 0; d < 5; d++)
                free(tiled[d]);
            kt_free(&s);
        }
    ck_assert_int_gt(cases, 100);
}
END_TEST

/* The int8 kernels are not the f32 ones with another name: on a CPU that runs them, FAST
 * differs from F32 somewhere (quantised activations) yet stays within TOL_Q8 of it; the
 * context says which ran; larger shapes, many blocks, several deltas. */
START_TEST(test_q8_differs_from_f32)
{
    kn_ctx *c;
    ck_assert_int_eq(kn_ctx_init(&c, KN_CPU, KN_IMPL_FAST), DB_OK);
    const bool q8 = !strcmp(kn_ctx_impl_name(c), "avx512-int8");
    kn_ctx_free(c);
    if (!q8)
        return;
    for (int f = 0; f < 3; f++) {
        kt_set s;
        kt_make(&s, f ? KN_FMT_NMQ : KN_FMT_BITDELTA, 70, 3000, 4, f == 2 ? 2 : 4, 2, 4, 0,
                DT_U32, f % 2, (uint64_t)(500 + f));
        const int64_t B = 9;
        ck_assert_int_lt(run_case(&s, KN_IMPL_FAST, B, 4, f == 1, f % 2, false, 77, TOL_Q8), 0);
        float *x = malloc(sizeof(float) * (size_t)(B * 3000)), *y0 = malloc(sizeof(float) * B * 70),
              *y1 = malloc(sizeof(float) * B * 70);
        int32_t rd[9];
        db_rng r;
        rng_seed(&r, 9);
        for (int64_t i = 0; i < B * 3000; i++)
            x[i] = (float)rng_normal(&r);
        for (int b = 0; b < B; b++)
            rd[b] = b % 4;
        kn_ctx *cf, *c32;
        ck_assert_int_eq(kn_ctx_init(&cf, KN_CPU, KN_IMPL_FAST), DB_OK);
        ck_assert_int_eq(kn_ctx_init(&c32, KN_CPU, KN_IMPL_F32), DB_OK);
        ck_assert_int_eq(kn_delta_gemm(cf, &s.dl, B, rd, x, y0, false), DB_OK);
        ck_assert_int_eq(kn_delta_gemm(c32, &s.dl, B, rd, x, y1, false), DB_OK);
        ck_assert_msg(memcmp(y0, y1, sizeof(float) * B * 70) != 0, "fmt %d: int8 == f32", f);
        kn_ctx_free(cf), kn_ctx_free(c32);
        free(x), free(y0), free(y1);
        kt_free(&s);
    }
}
END_TEST

START_TEST(test_portable_vs_ref)
{
    sweep(KN_FMT_DENSE16, KN_IMPL_PORTABLE, 0, 0, 0, 0, DT_F16, TOL_DENSE, false);
    sweep(KN_FMT_BITDELTA, KN_IMPL_PORTABLE, 0, 0, 0, 0, DT_U32, TOL_BITDELTA, false);
    sweep(KN_FMT_NMQ, KN_IMPL_PORTABLE, 4, 2, 4, 0, DT_U32, TOL_NMQ, false);
}
END_TEST

START_TEST(test_dequant_baseline_vs_ref)
{
    sweep(KN_FMT_BITDELTA, KN_IMPL_FAST, 0, 0, 0, 0, DT_U32, TOL_DEQUANT, true);
    sweep(KN_FMT_NMQ, KN_IMPL_FAST, 4, 2, 4, 0, DT_U32, TOL_DEQUANT, true);
    sweep(KN_FMT_CSR, KN_IMPL_FAST, 0, 0, 0, 0, DT_U32, TOL_DEQUANT, true);
    sweep(KN_FMT_LOWRANK, KN_IMPL_FAST, 0, 0, 0, 2, DT_U32, TOL_DEQUANT, true);
    sweep(KN_FMT_DENSE16, KN_IMPL_FAST, 0, 0, 0, 0, DT_F16, TOL_DENSE, true);
}
END_TEST

/* fast kn_dequant16 is bit-identical to the ref for every exact format. */
START_TEST(test_dequant16_fast_equals_ref)
{
    const kn_fmt fmts[] = {KN_FMT_DENSE16, KN_FMT_BITDELTA, KN_FMT_NMQ, KN_FMT_CSR};
    kn_ctx *cr, *cf;
    ck_assert_int_eq(kn_ctx_init(&cr, KN_CPU, KN_IMPL_REF), DB_OK);
    ck_assert_int_eq(kn_ctx_init(&cf, KN_CPU, KN_IMPL_FAST), DB_OK);
    for (int f = 0; f < 4; f++) {
        kt_set s;
        kt_make(&s, fmts[f], 17, 101, 2, 4, 2, 4, 0, fmts[f] == KN_FMT_CSR ? DT_U16 : DT_F16, 1, 5);
        uint16_t *a = malloc(17 * 101 * 2), *b = malloc(17 * 101 * 2);
        ck_assert_int_eq(kn_dequant16(cr, &s.dl, 1, a), DB_OK);
        ck_assert_int_eq(kn_dequant16(cf, &s.dl, 1, b), DB_OK);
        ck_assert_msg(memcmp(a, b, 17 * 101 * 2) == 0, "format %d", fmts[f]);
        free(a), free(b);
        kt_free(&s);
    }
    kn_ctx_free(cr), kn_ctx_free(cf);
}
END_TEST

/* ---- the oracles against the compressors' dc_apply_ref on real encoded deltas ----------------- */

static void from_packed(const dc_packed *pk, kn_deltas *dl, const void **tab)
{
    memset(dl, 0, sizeof *dl);
    dl->N = pk->N, dl->K = pk->K, dl->D = 1;
    const char *names[KN_MAX_PARTS] = {NULL, NULL, NULL};
    const char *m = pk->method->name;
    if (!strcmp(m, "bitdelta"))
        dl->fmt = KN_FMT_BITDELTA, names[0] = "signs", names[1] = "scale";
    else if (!strcmp(m, "deltazip")) {
        dl->fmt = KN_FMT_NMQ, names[0] = "codes", names[1] = "idx", names[2] = "scale";
        dl->bits = pk->params.bits, dl->nm_n = pk->params.nm_n, dl->nm_m = pk->params.nm_m;
    } else if (!strcmp(m, "magprune")) {
        dl->fmt = KN_FMT_CSR, names[0] = "rowptr", names[1] = "cols", names[2] = "values";
        dl->dtype = dc_packed_part(pk, "cols")->dtype;
    } else if (!strcmp(m, "lowrank")) {
        dl->fmt = KN_FMT_LOWRANK, names[0] = "A", names[1] = "B", dl->rank = pk->params.rank;
    } else {
        dl->fmt = KN_FMT_DENSE16, names[0] = "delta", dl->dtype = DT_F16;
    }
    for (int j = 0; j < KN_MAX_PARTS; j++)
        if (names[j]) {
            const dc_part *p = dc_packed_part(pk, names[j]);
            ck_assert_ptr_nonnull(p);
            tab[j] = p->data;
            dl->part[j] = &tab[j];
        }
}

START_TEST(test_ref_vs_compressors_apply)
{
    const char *methods[] = {"bitdelta", "deltazip", "magprune", "lowrank", "fp16"};
    const int64_t N = 24, K = 70, B = 5;
    uint16_t *base = malloc(N * K * 2), *tgt = malloc(N * K * 2);
    float x[5 * 70], y1[5 * 24], y2[5 * 24];
    db_rng r;
    rng_seed(&r, 42);
    for (int64_t i = 0; i < N * K; i++) {
        base[i] = f32_to_f16((float)(0.02 * rng_normal(&r)));
        tgt[i] = f32_to_f16(f16_to_f32(base[i]) + (float)(1e-3 * rng_normal(&r)));
    }
    for (int64_t i = 0; i < B * K; i++)
        x[i] = (float)rng_normal(&r);
    const char *name = "model.layers.0.mlp.up_proj.weight";
    dc_src src = {name, N, K, DT_F16, base, tgt};
    kn_ctx *c;
    ck_assert_int_eq(kn_ctx_init(&c, KN_CPU, KN_IMPL_REF), DB_OK);
    for (size_t mi = 0; mi < sizeof methods / sizeof methods[0]; mi++) {
        const dc_method *m = dc_method_find(methods[mi]);
        ck_assert_ptr_nonnull(m);
        dc_params p;
        dc_params_default(m, &p);
        if (!strcmp(methods[mi], "lowrank"))
            p.rank = 4;
        if (!strcmp(methods[mi], "magprune"))
            p.nm_n = p.nm_m = 0, p.drop = 0.7;
        p.lossless = DC_LOSSLESS_NONE;
        dc_packed pk;
        memset(&pk, 0, sizeof pk);
        ck_assert_msg(dc_encode(m, &src, &p, NULL, &pk) == DB_OK, "%s: %s", methods[mi], db_errmsg());
        const void *tab[KN_MAX_PARTS];
        kn_deltas dl;
        from_packed(&pk, &dl, tab);
        memset(y1, 0, sizeof y1);
        ck_assert_int_eq(m->apply_ref(&pk, B, x, y1), DB_OK);
        int32_t rd[5] = {0, 0, 0, 0, 0};
        memset(y2, 0, sizeof y2);
        ck_assert_msg(kn_delta_gemm(c, &dl, B, rd, x, y2, true) == DB_OK, "%s", db_errmsg());
        for (int64_t i = 0; i < B * N; i++)
            ck_assert_msg(fabsf(y1[i] - y2[i]) <= 1e-6f * (fabsf(y1[i]) + 1e-6f),
                          "%s: y[%lld] %.9g vs dc_apply_ref %.9g", methods[mi], (long long)i,
                          y2[i], y1[i]);
        dc_packed_free(&pk);
    }
    kn_ctx_free(c);
    free(base), free(tgt);
}
END_TEST

START_TEST(test_bad_arguments)
{
    kn_ctx *c;
    ck_assert_int_eq(kn_ctx_init(&c, KN_CPU, KN_IMPL_FAST), DB_OK);
    kt_set s;
    kt_make(&s, KN_FMT_NMQ, 4, 16, 2, 4, 2, 4, 0, DT_U32, 0, 1);
    float x[2 * 16] = {0}, y[2 * 4];
    int32_t rd[2] = {0, 2}; /* delta 2 does not exist */
    ck_assert_int_eq(kn_delta_gemm(c, &s.dl, 2, rd, x, y, false), DB_ERR_ARG);
    rd[1] = -2;
    ck_assert_int_eq(kn_delta_gemm(c, &s.dl, 2, rd, x, y, false), DB_ERR_ARG);
    kn_deltas bad = s.dl;
    bad.nm_n = 5;
    ck_assert_int_eq(kn_deltas_check(&bad), DB_ERR_ARG);
    bad = s.dl;
    bad.N = 0;
    ck_assert_int_eq(kn_deltas_check(&bad), DB_ERR_SHAPE);
    bad = s.dl;
    bad.part[2] = NULL;
    ck_assert_int_eq(kn_deltas_check(&bad), DB_ERR_ARG);
    bad = s.dl;
    bad.fmt = KN_FMT_COUNT;
    ck_assert_int_eq(kn_deltas_check(&bad), DB_ERR_ARG);
    rd[1] = 1;
    ck_assert_int_eq(kn_delta_gemm(c, &s.dl, 0, rd, x, y, false), DB_OK); /* B = 0: nothing */
    ck_assert_int_eq(kn_delta_gemm(c, &s.dl, 2, rd, NULL, y, false), DB_ERR_ARG);
    ck_assert_int_eq(kn_dequant16(c, &s.dl, 7, (uint16_t *)y), DB_ERR_ARG);
    ck_assert_int_eq(kn_mark(c, 9), DB_ERR_ARG);
    kt_free(&s);
    kn_ctx_free(c);
    kn_ctx *g = NULL;
    db_status st = kn_ctx_init(&g, KN_CUDA, KN_IMPL_FAST);
    ck_assert(st == DB_OK || st == DB_ERR_NO_DEVICE);
    kn_ctx_free(g);
}
END_TEST

/* Byte accounting follows the format: 2:4 4-bit is 3 bits per weight plus fp16 row scales. */
START_TEST(test_accounting)
{
    kn_deltas dl = {.fmt = KN_FMT_NMQ, .N = 4096, .K = 4096, .bits = 4, .nm_n = 2, .nm_m = 4, .D = 1};
    ck_assert_double_eq_tol(kn_delta_bytes(&dl, 0), 4096.0 * 4096 * 3 / 8 + 2 * 4096, 0.5);
    dl.fmt = KN_FMT_BITDELTA;
    ck_assert_double_eq_tol(kn_delta_bytes(&dl, 0), 4096.0 * 4096 / 8 + 4, 0.5);
    double bytes, flops;
    kn_call_cost(&dl, 0, 8, 8, false, &bytes, &flops);
    ck_assert_double_eq_tol(bytes, 8 * (4096.0 * 512 + 4) + 8 * 4096 * 4 * 2, 0.5);
    ck_assert_double_eq_tol(flops, 8 * 2.0 * 4096 * 4096, 0.5);
}
END_TEST

/* ---- allocation failures ------------------------------------------------------------------ */

/* The kernel entry points under tl_alloc_sweep (tests/testlib.h): every failing allocation
 * gives DB_ERR_NOMEM with a message, leaves the outputs empty and leaks nothing. Each op makes
 * its own context, so the workspaces a first call grows are swept too. */
typedef struct {
    kn_impl impl;
    kt_set set;
    int64_t B;
    int32_t rd[8];
    float x[8 * 96], y[8 * 40];
    bool dequant;
    kn_fmt fmt;
    void *part[KN_MAX_PARTS];
    size_t bytes[KN_MAX_PARTS];
    void *buf;
} kn_fault;

static db_status op_gemm(void *ctx)
{
    kn_fault *f = ctx;
    kn_ctx *c;
    db_status s = kn_ctx_init(&c, KN_CPU, f->impl);
    if (s != DB_OK) {
        ck_assert_ptr_null(c);
        return s;
    }
    s = f->dequant ? kn_delta_gemm_dequant(c, &f->set.dl, f->B, f->rd, f->x, f->y, false)
                   : kn_delta_gemm(c, &f->set.dl, f->B, f->rd, f->x, f->y, false);
    kn_ctx_free(c);
    return s;
}

static db_status op_dense(void *ctx)
{
    kn_fault *f = ctx;
    kn_ctx *c;
    db_status s = kn_ctx_init(&c, KN_CPU, f->impl);
    if (s != DB_OK)
        return s;
    s = kn_dense_gemm(c, DT_F16, 40, 96, f->set.dl.part[0][0], f->B, f->x, f->y, false);
    kn_ctx_free(c);
    return s;
}

static db_status op_random(void *ctx)
{
    kn_fault *f = ctx;
    db_rng r;
    rng_seed(&r, 5);
    int64_t nnz;
    return kn_random_delta(f->fmt, 40, 96, 4, 0.25, 8, &r, f->part, f->bytes, &nnz);
}

static void done_random(void *ctx, db_status s)
{
    kn_fault *f = ctx;
    for (int j = 0; j < KN_MAX_PARTS; j++) {
        if (s != DB_OK)
            ck_assert_msg(f->part[j] == NULL, "part %d left after a failure", j);
        db_free(f->part[j]);
        f->part[j] = NULL;
    }
}

/* One bandwidth probe of a fresh context (the allocation sweeps' op) */
static db_status op_bw(db_status (*bw)(kn_ctx *, size_t, int, double *))
{
    kn_ctx *c;
    db_status s = kn_ctx_init(&c, KN_CPU, KN_IMPL_FAST);
    if (s != DB_OK)
        return s;
    double v;
    s = bw(c, 1 << 16, 3, &v);
    kn_ctx_free(c);
    return s;
}
static db_status op_copy_bw(void *ctx) { return (void)ctx, op_bw(kn_copy_bandwidth); }
static db_status op_read_bw(void *ctx) { return (void)ctx, op_bw(kn_read_bandwidth); }

/* The read roof: a positive rate for whole and partial pages, one-line errors for bad sizes */
START_TEST(test_read_bandwidth)
{
    kn_ctx *c;
    ck_assert_int_eq(kn_ctx_init(&c, KN_CPU, KN_IMPL_FAST), DB_OK);
    const size_t sizes[] = {4096, 5000, 1 << 16, (size_t)3 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        double bw = -1;
        ck_assert_int_eq(kn_read_bandwidth(c, sizes[i], 3, &bw), DB_OK);
        ck_assert_msg(isfinite(bw) && bw > 0, "read bandwidth %g B/s at %zu bytes", bw, sizes[i]);
    }
    double bw = 1;
    ck_assert_int_eq(kn_read_bandwidth(c, 4095, 3, &bw), DB_ERR_ARG);
    ck_assert(bw == 0);
    ck_assert_int_eq(kn_read_bandwidth(c, 1 << 16, 0, &bw), DB_ERR_ARG);
    ck_assert_int_eq(kn_read_bandwidth(c, 1 << 16, 1001, &bw), DB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "read bandwidth"));
    kn_ctx_free(c);
}
END_TEST

static db_status op_alloc(void *ctx)
{
    kn_fault *f = ctx;
    kn_ctx *c;
    db_status s = kn_ctx_init(&c, KN_CPU, KN_IMPL_FAST);
    if (s != DB_OK)
        return s;
    s = kn_alloc(c, 4096, &f->buf);
    if (s == DB_OK)
        kn_free(c, f->buf);
    else
        ck_assert_ptr_null(f->buf);
    kn_ctx_free(c);
    return s;
}

START_TEST(test_alloc_failures)
{
    static kn_fault f;
    memset(&f, 0, sizeof f);
    f.B = 8;
    for (int b = 0; b < 8; b++)
        f.rd[b] = b % 4 == 3 ? -1 : b % 3;
    for (int i = 0; i < 8 * 96; i++)
        f.x[i] = (float)((i % 13) - 6) * 0.1f;
    const kn_impl impls[] = {KN_IMPL_REF, KN_IMPL_FAST, KN_IMPL_PORTABLE};
    const struct {
        kn_fmt fmt;
        int bits;
        int64_t rank;
        db_dtype dt;
    } fmts[] = {{KN_FMT_DENSE16, 0, 0, DT_F16}, {KN_FMT_BITDELTA, 0, 0, DT_U32},
                {KN_FMT_NMQ, 4, 0, DT_U32},     {KN_FMT_CSR, 0, 0, DT_U32},
                {KN_FMT_LOWRANK, 0, 8, DT_U32}};
    for (size_t k = 0; k < sizeof fmts / sizeof fmts[0]; k++) {
        kt_make(&f.set, fmts[k].fmt, 40, 96, 3, fmts[k].bits, 2, 4, fmts[k].rank, fmts[k].dt, 0,
                (uint64_t)(500 + k));
        for (size_t i = 0; i < sizeof impls / sizeof impls[0]; i++)
            for (int dq = 0; dq < 2; dq++) {
                f.impl = impls[i];
                f.dequant = dq;
                /* the context, and the grouping and dequantisation workspaces */
                ck_assert_int_ge(tl_alloc_sweep("kn_delta_gemm", op_gemm, NULL, &f, 100), 1);
            }
        if (fmts[k].fmt == KN_FMT_DENSE16)
            for (size_t i = 0; i < sizeof impls / sizeof impls[0]; i++) {
                f.impl = impls[i];
                ck_assert_int_ge(tl_alloc_sweep("kn_dense_gemm", op_dense, NULL, &f, 100), 1);
            }
        kt_free(&f.set);
        f.fmt = fmts[k].fmt;
        ck_assert_int_ge(tl_alloc_sweep("kn_random_delta", op_random, done_random, &f, 10), 1);
    }
    ck_assert_int_ge(tl_alloc_sweep("kn_copy_bandwidth", op_copy_bw, NULL, &f, 100), 3);
    ck_assert_int_ge(tl_alloc_sweep("kn_read_bandwidth", op_read_bw, NULL, &f, 100), 2);
    ck_assert_int_ge(tl_alloc_sweep("kn_alloc", op_alloc, NULL, &f, 100), 2);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("kernels");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_dense_f16_fast_vs_ref);
    tcase_add_test(tc, test_read_bandwidth);
    tcase_add_test(tc, test_dense_bf16_fast_vs_ref);
    tcase_add_test(tc, test_bitdelta_fast_vs_ref);
    tcase_add_test(tc, test_nmq_2of4_4bit_fast_vs_ref);
    tcase_add_test(tc, test_nmq_2of4_2bit_fast_vs_ref);
    tcase_add_test(tc, test_nmq_2of4_8bit_fast_vs_ref);
    tcase_add_test(tc, test_nmq_generic_fast_vs_ref);
    tcase_add_test(tc, test_csr_fast_vs_ref);
    tcase_add_test(tc, test_lowrank_fast_vs_ref);
    tcase_add_test(tc, test_avx2_vs_ref);
    tcase_add_test(tc, test_batches_1_to_16);
    tcase_add_test(tc, test_bit_identical);
    tcase_add_test(tc, test_bitdelta_tiled);
    tcase_add_test(tc, test_dense_sgemm_path);
    tcase_add_test(tc, test_portable_vs_ref);
    tcase_add_test(tc, test_q8_bitdelta_vs_ref);
    tcase_add_test(tc, test_q8_nmq_vs_ref);
    tcase_add_test(tc, test_q8_parallel_vs_ref);
    tcase_add_test(tc, test_q8_differs_from_f32);
    tcase_add_test(tc, test_q8_versions_identical);
    tcase_add_test(tc, test_dequant_baseline_vs_ref);
    tcase_add_test(tc, test_dequant16_fast_equals_ref);
    tcase_add_test(tc, test_ref_vs_compressors_apply);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_accounting);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(su, tc);
    printf("kernels: CPU ISA %s\n", kn_cpu_isa());
    return tl_run(su);
}
