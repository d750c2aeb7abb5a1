/* check_gpu_kernels.c: every CUDA kernel against the CPU `_ref` oracle (tests/kn_testlib.h
 * tolerances): bitdelta and SBMM batched across 1..64 deltas, CSR through cuSPARSE, low rank,
 * dense through cuBLAS, the dequantise-then-dense baselines; shapes with tails, batches 1..64,
 * misaligned parts, NaN-poisoned outputs (every element written), overwrite and accumulate.
 * Skips (exit 77, one clear line) where no device exists, unless DELTABENCH_REQUIRE_GPU=1. */
#include <check.h>
#include <stdio.h>

#include "kernels/device.h"
#include "kn_testlib.h"
#include "testlib.h"

static const int64_t shapes[][2] = {{1, 1}, {7, 33}, {33, 257}, {40, 1000}, {129, 4099}};
static const int batches[] = {1, 3, 8, 17, 64};

/* Uploads every part of s into device buffers; dd receives the device descriptor. */
static void upload(kn_ctx *c, kt_set *s, kt_set *dev)
{
    *dev = *s;
    memset(dev->mem, 0, sizeof dev->mem);
    for (int j = 0; j < KN_MAX_PARTS; j++)
        for (int d = 0; d < s->dl.D; d++)
            if (s->ptr[j][d]) {
                void *p;
                ck_assert_int_eq(kn_alloc(c, s->bytes[j][d], &p), DB_OK);
                ck_assert_int_eq(kn_upload(c, p, s->ptr[j][d], s->bytes[j][d]), DB_OK);
                dev->mem[j][d] = p;
                dev->ptr[j][d] = p;
            }
    for (int j = 0; j < KN_MAX_PARTS; j++)
        dev->dl.part[j] = s->ptr[j][0] ? dev->ptr[j] : NULL;
    dev->dl.nnz = s->nnz;
}

static void release(kn_ctx *c, kt_set *dev)
{
    for (int j = 0; j < KN_MAX_PARTS; j++)
        for (int d = 0; d < 64; d++)
            kn_free(c, dev->mem[j][d]);
}

static void sweep(kn_fmt fmt, int bits, int64_t rank, db_dtype dt, double tol, bool dequant)
{
    kn_ctx *g, *cr;
    ck_assert_int_eq(kn_ctx_init(&g, KN_CUDA, KN_IMPL_FAST), DB_OK);
    ck_assert_int_eq(kn_ctx_init(&cr, KN_CPU, KN_IMPL_REF), DB_OK);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
        for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
            const int64_t N = shapes[si][0], K = shapes[si][1], B = batches[bi];
            if (fmt == KN_FMT_LOWRANK && (rank > N || rank > K))
                continue;
            if (N * K * B > 8000000)
                continue;
            const int D = bi % 2 ? (int)B : 1;
            kt_set s, dv;
            kt_make(&s, fmt, N, K, D, bits, 2, 4, rank, dt, (int)((si + bi) % 2), si * 10 + bi);
            upload(g, &s, &dv);
            int32_t *rd = malloc(sizeof(int32_t) * (size_t)B);
            float *x = malloc(sizeof(float) * (size_t)(B * K)), *want = malloc(sizeof(float) * (size_t)(B * N));
            float *got = malloc(sizeof(float) * (size_t)(B * N)), *y0 = malloc(sizeof(float) * (size_t)(B * N));
            double *bound = malloc(sizeof(double) * (size_t)(B * N));
            db_rng r;
            rng_stream(&r, 9, (uint64_t)(si * 100 + bi));
            for (int64_t b = 0; b < B; b++)
                rd[b] = b % 5 == 4 ? -1 : (int32_t)rng_below(&r, (uint64_t)D);
            for (int64_t i = 0; i < B * K; i++)
                x[i] = (float)rng_normal(&r);
            void *dx, *dy;
            ck_assert_int_eq(kn_alloc(g, sizeof(float) * (size_t)(B * K), &dx), DB_OK);
            ck_assert_int_eq(kn_alloc(g, sizeof(float) * (size_t)(B * N), &dy), DB_OK);
            ck_assert_int_eq(kn_upload(g, dx, x, sizeof(float) * (size_t)(B * K)), DB_OK);
            kt_bound(&s, B, rd, x, bound);
            for (int acc = 0; acc < 2; acc++) {
                for (int64_t i = 0; i < B * N; i++)
                    y0[i] = acc ? (float)(1e-3 * rng_normal(&r)) : NAN;
                memcpy(want, y0, sizeof(float) * (size_t)(B * N));
                ck_assert_int_eq(kn_delta_gemm(cr, &s.dl, B, rd, x, want, acc), DB_OK);
                ck_assert_int_eq(kn_upload(g, dy, y0, sizeof(float) * (size_t)(B * N)), DB_OK);
                db_status st = dequant ? kn_delta_gemm_dequant(g, &dv.dl, B, rd, dx, dy, acc)
                                       : kn_delta_gemm(g, &dv.dl, B, rd, dx, dy, acc);
                ck_assert_msg(st == DB_OK, "%s", db_errmsg());
                ck_assert_int_eq(kn_download(g, got, dy, sizeof(float) * (size_t)(B * N)), DB_OK);
                int64_t bad = kt_compare(got, want, bound, acc ? y0 : NULL, B * N, tol);
                ck_assert_msg(bad < 0, "fmt %d [%lld, %lld] B %lld D %d acc %d: y[%lld] %.9g vs ref %.9g",
                              fmt, (long long)N, (long long)K, (long long)B, D, acc,
                              (long long)bad, bad >= 0 ? got[bad] : 0, bad >= 0 ? want[bad] : 0);
            }
            kn_free(g, dx), kn_free(g, dy);
            free(rd), free(x), free(want), free(got), free(y0), free(bound);
            release(g, &dv);
            kt_free(&s);
        }
    kn_ctx_free(g), kn_ctx_free(cr);
}

START_TEST(test_gpu_bitdelta_vs_ref) { sweep(KN_FMT_BITDELTA, 0, 0, DT_U32, TOL_GPU, false); }
END_TEST
START_TEST(test_gpu_sbmm_4bit_vs_ref) { sweep(KN_FMT_NMQ, 4, 0, DT_U32, TOL_GPU, false); }
END_TEST
START_TEST(test_gpu_sbmm_2bit_vs_ref) { sweep(KN_FMT_NMQ, 2, 0, DT_U32, TOL_GPU, false); }
END_TEST
START_TEST(test_gpu_lowrank_vs_ref) { sweep(KN_FMT_LOWRANK, 0, 4, DT_U32, TOL_GPU, false); }
END_TEST
START_TEST(test_gpu_csr_cusparse_vs_ref) { sweep(KN_FMT_CSR, 0, 0, DT_U32, TOL_GPU_HALF, false); }
END_TEST
START_TEST(test_gpu_dense_cublas_vs_ref) { sweep(KN_FMT_DENSE16, 0, 0, DT_F16, TOL_GPU_HALF, false); }
END_TEST
START_TEST(test_gpu_dequant_baselines_vs_ref)
{
    sweep(KN_FMT_BITDELTA, 0, 0, DT_U32, TOL_GPU_HALF, true);
    sweep(KN_FMT_NMQ, 4, 0, DT_U32, TOL_GPU_HALF, true);
    sweep(KN_FMT_CSR, 0, 0, DT_U32, TOL_GPU_HALF, true);
}
END_TEST

START_TEST(test_gpu_copy_bandwidth)
{
    kn_ctx *g;
    ck_assert_int_eq(kn_ctx_init(&g, KN_CUDA, KN_IMPL_FAST), DB_OK);
    double bps = 0;
    ck_assert_int_eq(kn_copy_bandwidth(g, (size_t)64 << 20, 3, &bps), DB_OK);
    ck_assert(bps > 1e10);
    kn_ctx_free(g);
}
END_TEST

int main(void)
{
    device_info d;
    db_status s = device_query(&d);
    const char *req = getenv("DELTABENCH_REQUIRE_GPU");
    if (s == DB_ERR_NO_DEVICE) {
        if (req && strcmp(req, "1") == 0) {
            printf("FAIL: make test-gpu needs a CUDA device: %s\n", db_errmsg());
            return EXIT_FAILURE;
        }
        printf("SKIP: GPU kernel tests need a CUDA device: %s\n", db_errmsg());
        return 77;
    }
    printf("device: %s\n", d.name);
    Suite *su = suite_create("gpu_kernels");
    TCase *tc = tcase_create("cuda");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_gpu_bitdelta_vs_ref);
    tcase_add_test(tc, test_gpu_sbmm_4bit_vs_ref);
    tcase_add_test(tc, test_gpu_sbmm_2bit_vs_ref);
    tcase_add_test(tc, test_gpu_lowrank_vs_ref);
    tcase_add_test(tc, test_gpu_csr_cusparse_vs_ref);
    tcase_add_test(tc, test_gpu_dense_cublas_vs_ref);
    tcase_add_test(tc, test_gpu_dequant_baselines_vs_ref);
    tcase_add_test(tc, test_gpu_copy_bandwidth);
    suite_add_tcase(su, tc);
    return tl_run(su);
}
