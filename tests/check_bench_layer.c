/* check_bench_layer.c: the served-layer ops of bench-kernel (harness/bench_layer.h: base+bitdelta,
 * base+sbmm, base+sbmm2 and their per-delta loops) against a scalar computation: the fp16 base
 * GEMM in double plus the kernels' `_ref` oracles (kernels/cpu/ops_ref.c, through a KN_IMPL_REF
 * context) for the deltas. Over shapes with tails, batches 1..17, 1..5 deltas, rows without a
 * delta, rows grouped by delta (as bench-kernel and a serving batch have them) and not, 1-bit
 * signs row-major and tiled, the fast (int8 where the CPU has it) and the f32 kernels; y starts
 * as NaN, so every element must be written. Tolerance: TOL_LAYER_BASE of Σ_k |W_nk x_bk| for the
 * base plus the delta kernel's own named tolerance (tests/kn_testlib.h) of its bound. */
#include <check.h>
#include <stdio.h>

#include "harness/bench_layer.h"
#include "kn_testlib.h"
#include "testlib.h"

#define TOL_LAYER_BASE TOL_DENSE /* the fast fp16 base GEMM against double accumulation */

static const int64_t shapes[][2] = {{1, 1}, {7, 33}, {17, 100}, {33, 257}, {40, 1000}};
#define NSHAPES (int)(sizeof shapes / sizeof shapes[0])
static const int batches[] = {1, 3, 8, 17};
static const int ndeltas[] = {1, 2, 5};

typedef struct {
    kn_fmt fmt;
    int bits;
    bool tiled;
    const char *op; /* the bench-kernel op it stands for */
} layer_fmt;

static const layer_fmt fmts[] = {
    {KN_FMT_BITDELTA, 0, false, "base+bitdelta (row-major signs)"},
    {KN_FMT_BITDELTA, 0, true, "base+bitdelta (tiled signs)"},
    {KN_FMT_NMQ, 4, false, "base+sbmm"},
    {KN_FMT_NMQ, 2, false, "base+sbmm2"},
};

/* The tiled copy of a 1-bit set's signs: tab[d] points into mem[d]. */
static void tile_set(const kt_set *s, void *mem[], const void *tab[])
{
    for (int d = 0; d < s->dl.D; d++) {
        mem[d] = calloc(1, kn_bitdelta_tiled_bytes(s->dl.N, s->dl.K));
        kn_bitdelta_tile(s->dl.part[0][d], s->dl.N, s->dl.K, mem[d]);
        tab[d] = mem[d];
    }
}

/* One case; returns the first bad element or -1. */
static int64_t run_case(kn_impl impl, kb_layer_kind kind, const layer_fmt *f, int64_t N, int64_t K,
                        int64_t B, int D, bool grouped, uint64_t seed, char *why, size_t nwhy)
{
    kt_set s;
    kt_make(&s, f->fmt, N, K, D, f->bits, 2, 4, 0, DT_U32, 0, seed);
    void *tmem[64] = {NULL};
    const void *ttab[64] = {NULL};
    kn_deltas dl = s.dl; /* the reference reads the row-major signs; the op may read them tiled */
    if (f->tiled) {
        tile_set(&s, tmem, ttab);
        dl.part[0] = ttab;
        dl.tiled = true;
    }
    db_rng r;
    rng_stream(&r, seed, (uint64_t)(B * 131 + D));
    uint16_t *w = malloc(sizeof *w * (size_t)(N * K));
    for (int64_t i = 0; i < N * K; i++)
        w[i] = f32_to_f16((float)(0.02 * rng_normal(&r)));
    int32_t *rd = malloc(sizeof *rd * (size_t)B), *zeros = malloc(sizeof *zeros * (size_t)B);
    for (int64_t b = 0; b < B; b++) /* every 7th row has no delta: the base alone */
        rd[b] = b % 7 == 6 ? -1 : (int32_t)rng_below(&r, (uint64_t)D);
    if (grouped) {
        int64_t counts[65];
        kb_layer_group_rows(rd, B, D, counts);
    }
    float *x = malloc(sizeof *x * (size_t)(B * K)), *y = malloc(sizeof *y * (size_t)(B * N));
    float *dy = malloc(sizeof *dy * (size_t)(B * N));
    double *want = malloc(sizeof *want * (size_t)(B * N)), *bw = malloc(sizeof *bw * (size_t)(B * N));
    double *bd = malloc(sizeof *bd * (size_t)(B * N));
    for (int64_t i = 0; i < B * K; i++)
        x[i] = (float)rng_normal(&r);
    for (int64_t i = 0; i < B * N; i++)
        y[i] = NAN;
    /* the scalar layer: base in double, deltas through the _ref oracles */
    kn_ctx *cr, *cf;
    ck_assert_int_eq(kn_ctx_init(&cr, KN_CPU, KN_IMPL_REF), DB_OK);
    ck_assert_int_eq(kn_ctx_init(&cf, KN_CPU, impl), DB_OK);
    ck_assert_msg(kn_delta_gemm(cr, &s.dl, B, rd, x, dy, false) == DB_OK, "%s", db_errmsg());
    for (int64_t b = 0; b < B; b++)
        for (int64_t n = 0; n < N; n++) {
            double t = 0, a = 0;
            for (int64_t k = 0; k < K; k++) {
                double v = (double)f16_to_f32(w[n * K + k]) * x[b * K + k];
                t += v, a += fabs(v);
            }
            want[b * N + n] = t + dy[b * N + n];
            bw[b * N + n] = a;
        }
    const bool q8 = !strcmp(kn_ctx_impl_name(cf), "avx512-int8");
    const double tol = q8 ? TOL_Q8 : f->fmt == KN_FMT_BITDELTA ? TOL_BITDELTA : TOL_NMQ;
    if (q8)
        kt_bound_q8(&s, B, rd, x, bd);
    else
        kt_bound(&s, B, rd, x, bd);
    db_status st = kb_layer_call(cf, kind, w, &dl, B, rd, zeros, x, y);
    ck_assert_msg(st == DB_OK, "%s", db_errmsg());
    int64_t bad = -1;
    for (int64_t i = 0; i < B * N && bad < 0; i++) {
        const double lim = TOL_LAYER_BASE * bw[i] + tol * bd[i] + 1e-30;
        if (!isfinite(y[i]) || fabs((double)y[i] - want[i]) > lim) {
            bad = i;
            snprintf(why, nwhy, "got %.9g want %.9g (limit %.3g)", y[i], want[i], lim);
        }
    }
    kn_ctx_free(cr), kn_ctx_free(cf);
    for (int d = 0; d < 64; d++)
        free(tmem[d]);
    kt_free(&s);
    free(w), free(rd), free(zeros), free(x), free(y), free(dy), free(want), free(bw), free(bd);
    return bad;
}

static void sweep(kn_impl impl)
{
    int cases = 0;
    for (size_t fi = 0; fi < sizeof fmts / sizeof fmts[0]; fi++)
        for (int kind = KB_LAYER_BATCHED; kind <= KB_LAYER_LOOP; kind++)
            for (int si = 0; si < NSHAPES; si++)
                for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++)
                    for (size_t di = 0; di < sizeof ndeltas / sizeof ndeltas[0]; di++)
                        for (int grouped = 0; grouped < 2; grouped++) {
                            char why[160] = "";
                            const int64_t N = shapes[si][0], K = shapes[si][1];
                            int64_t bad = run_case(impl, (kb_layer_kind)kind, &fmts[fi], N, K,
                                                   batches[bi], ndeltas[di], grouped,
                                                   (uint64_t)(1000 + cases), why, sizeof why);
                            ck_assert_msg(bad < 0,
                                          "%s %s, %lldx%lld, B %d, D %d%s: element %lld: %s",
                                          fmts[fi].op, kind == KB_LAYER_LOOP ? "loop" : "batched",
                                          (long long)N, (long long)K, batches[bi], ndeltas[di],
                                          grouped ? ", grouped" : "", (long long)bad, why);
                            cases++;
                        }
    ck_assert_int_eq(cases, 4 * 2 * NSHAPES * 4 * 3 * 2);
}

START_TEST(test_layer_fast_vs_ref) { sweep(KN_IMPL_FAST); }
END_TEST

START_TEST(test_layer_f32_vs_ref) { sweep(KN_IMPL_F32); }
END_TEST

/* The grouping is a counting sort: ascending, the same multiset. */
START_TEST(test_group_rows)
{
    int32_t rd[] = {2, -1, 0, 2, 1, 0, -1, 2}, want[] = {-1, -1, 0, 0, 1, 2, 2, 2};
    int64_t counts[4];
    kb_layer_group_rows(rd, 8, 3, counts);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(rd[i], want[i]);
    ck_assert_int_eq(counts[0], 2);
    ck_assert_int_eq(counts[3], 3);
}
END_TEST

/* A row naming a delta the descriptor lacks is an error in both kinds, not a silent skip. */
START_TEST(test_bad_delta_id)
{
    kt_set s;
    kt_make(&s, KN_FMT_NMQ, 8, 32, 2, 4, 2, 4, 0, DT_U32, 0, 9);
    uint16_t w[8 * 32] = {0};
    int32_t rd[2] = {0, 2}, zeros[2];
    float x[2 * 32] = {0}, y[2 * 8];
    kn_ctx *c;
    ck_assert_int_eq(kn_ctx_init(&c, KN_CPU, KN_IMPL_FAST), DB_OK);
    for (int kind = KB_LAYER_BATCHED; kind <= KB_LAYER_LOOP; kind++) {
        ck_assert_int_eq(kb_layer_call(c, (kb_layer_kind)kind, w, &s.dl, 2, rd, zeros, x, y),
                         DB_ERR_ARG);
        ck_assert_ptr_nonnull(strstr(db_errmsg(), "delta"));
    }
    kn_ctx_free(c);
    kt_free(&s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("bench_layer");
    TCase *tc = tcase_create("cpu");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_layer_fast_vs_ref);
    tcase_add_test(tc, test_layer_f32_vs_ref);
    tcase_add_test(tc, test_group_rows);
    tcase_add_test(tc, test_bad_delta_id);
    suite_add_tcase(su, tc);
    return tl_run(su);
}
