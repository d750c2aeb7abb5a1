/* bench_kernels.c: `make bench`'s short CPU kernel sweep (a few minutes on 2 cores): the 1-bit
 * and 2:4 4-bit / 2-bit delta GEMV/GEMM, the dense base GEMV and the loop-of-dense baseline at
 * Llama-2-7B shapes, batch 1 and 8, 1 and 8 deltas, 3 timed calls each; writes
 * results/bench-kernels-cpu.h5. The full sweep (13B shapes, batch 64, 32 deltas, GPU) is
 * `deltabench bench-kernel` (docs/kernels.md).
 *
 * Then the A/B of the int8 table-lookup kernels (KN_IMPL_FAST) against the f32 ones
 * (KN_IMPL_F32) in this one process: per round, the copy and read bandwidths
 * (kn_copy_bandwidth, kn_read_bandwidth), then every configuration
 * with the two implementations alternating call by call over the same deltas (copies that span
 * 4x the last-level cache), 2 threads and 1; printed: the median over rounds of each round's
 * median call, its share of that round's copy bandwidth, and new / old. Environment:
 * KN_AB_ROUNDS (default 3), KN_AB_REPEAT (calls per implementation and round, default 20),
 * KN_AB_ONLY=1 skips the sweep above, KN_AB_CFG=0,2,.. runs only those rows of cfgs[],
 * KN_AB_THREADS=1 or 2 only that thread count, KN_AB_OLD=int8-v1 the first int8 kernels
 * (KN_IMPL_INT8V1) as the old side instead of the f32 ones, KN_AB_HOT=1 one copy of the deltas (cache
 * resident: what the kernels do when memory is not the bound). The minor page faults of the
 * timed calls are counted (column flt: per call, both implementations). On a loaded machine
 * the medians follow the scheduler: the last columns are the fastest call of all rounds and its
 * share of the highest copy bandwidth of the rounds (best against best), then the new side's
 * median share of each round's read bandwidth (new_rsh: the roof of a kernel that only reads)
 * and the median read bandwidth. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "core/alloc.h"
#include "harness/cli.h"
#include "kernels/kernels.h"
#include "kernels/random.h"

typedef struct {
    const char *name;
    kn_fmt fmt;
    int bits;
    int64_t N, K, B, D;
} ab_cfg;

static const ab_cfg cfgs[] = {
    {"bitdelta", KN_FMT_BITDELTA, 0, 4096, 4096, 1, 1},
    {"bitdelta", KN_FMT_BITDELTA, 0, 4096, 11008, 1, 1},
    {"bitdelta", KN_FMT_BITDELTA, 0, 4096, 4096, 8, 8},
    {"bitdelta", KN_FMT_BITDELTA, 0, 4096, 11008, 8, 8},
    {"sbmm", KN_FMT_NMQ, 4, 4096, 4096, 1, 1},
    {"sbmm", KN_FMT_NMQ, 4, 4096, 11008, 1, 1},
    {"sbmm", KN_FMT_NMQ, 4, 4096, 4096, 8, 8},
    {"sbmm", KN_FMT_NMQ, 4, 4096, 11008, 8, 8},
    {"sbmm2", KN_FMT_NMQ, 2, 4096, 4096, 1, 1},
    {"sbmm2", KN_FMT_NMQ, 2, 4096, 11008, 8, 8},
};
#define NCFG (int)(sizeof cfgs / sizeof cfgs[0])
#define MAXR 16

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static long minor_faults(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* The copies of the deltas of every configuration, carved from one buffer that is touched once
 * (allocating and faulting in ~4x the LLC per configuration cost most of the run's system time). */
static char *arena;
static size_t arena_cap;

/* One configuration at `threads`: med[i] / best[i] = median / fastest call (s) of impl i (0 f32,
 * 1 int8). */
static int ab_run(kn_ctx *const *ctx, const ab_cfg *c, size_t llc, int repeat, double med[2],
                  double best[2], double *bytes, double *flt)
{
    db_rng r;
    rng_stream(&r, 1, (uint64_t)(c->N * 65537 + c->K));
    void *host[KN_MAX_PARTS] = {NULL};
    size_t hb[KN_MAX_PARTS] = {0};
    int64_t nnz = 0;
    if (kn_random_delta(c->fmt, c->N, c->K, c->bits, 0.1, 64, &r, host, hb, &nnz))
        return 1;
    if (c->fmt == KN_FMT_BITDELTA) { /* what a loader does: the tiled layout */
        uint32_t *t = db_malloc(kn_bitdelta_tiled_bytes(c->N, c->K));
        kn_bitdelta_tile(host[0], c->N, c->K, t);
        db_free(host[0]);
        host[0] = t;
        hb[0] = kn_bitdelta_tiled_bytes(c->N, c->K);
    }
    size_t set = 0;
    for (int j = 0; j < KN_MAX_PARTS; j++)
        set += hb[j] * (size_t)c->D;
    int P = (int)((4 * llc + set - 1) / set);
    P = P < 1 || (getenv("KN_AB_HOT") && !strcmp(getenv("KN_AB_HOT"), "1")) ? 1 : P > 256 ? 256 : P;
    const int nparts = c->fmt == KN_FMT_BITDELTA ? 2 : 3;
    size_t per = 0; /* arena bytes of one copy */
    for (int j = 0; j < nparts; j++)
        per += (hb[j] + 255) / 256 * 256 * (size_t)c->D;
    P = (size_t)P * per > arena_cap ? (int)(arena_cap / per) : P;
    if (P < 1) {
        for (int j = 0; j < KN_MAX_PARTS; j++)
            db_free(host[j]);
        return db_error(DB_ERR_NOMEM, "bench_kernels: one copy of the deltas is past the arena");
    }
    const void **tab = db_calloc((size_t)(P * c->D * nparts), sizeof *tab);
    size_t used = 0;
    for (int p = 0; p < P; p++)
        for (int j = 0; j < nparts; j++)
            for (int d = 0; d < c->D; d++) {
                char *m = arena + used;
                used += (hb[j] + 255) / 256 * 256;
                memcpy(m, host[j], hb[j]);
                tab[(p * nparts + j) * c->D + d] = m;
            }
    float *x = db_malloc_aligned(64, sizeof(float) * (size_t)(c->B * c->K));
    float *y = db_malloc_aligned(64, sizeof(float) * (size_t)(c->B * c->N));
    int32_t rd[MAXR];
    for (int64_t i = 0; i < c->B * c->K; i++)
        x[i] = (float)(rng_f64(&r) - 0.5);
    for (int64_t b = 0; b < c->B; b++)
        rd[b] = (int32_t)(b % c->D);
    kn_deltas dl = {.fmt = c->fmt, .N = c->N, .K = c->K, .bits = c->bits, .nm_n = 2, .nm_m = 4,
                    .D = (int)c->D, .tiled = c->fmt == KN_FMT_BITDELTA};
    double *t[2] = {db_malloc_array((size_t)repeat, sizeof(double)),
                    db_malloc_array((size_t)repeat, sizeof(double))};
    int bad = 0;
    long f0 = 0;
    for (int i = -2; i < repeat && !bad; i++) /* 2 warm-up calls each */
        for (int v = 0; v < 2 && !bad; v++) {
            const int p = ((i + 2) * 2 + v) % P;
            if (i == 0 && v == 0)
                f0 = minor_faults();
            for (int j = 0; j < nparts; j++)
                dl.part[j] = &tab[(p * nparts + j) * c->D];
            const double t0 = now_s();
            bad = kn_delta_gemm(ctx[v], &dl, c->B, rd, x, y, false) != DB_OK;
            if (i >= 0)
                t[v][i] = now_s() - t0;
        }
    *flt = (double)(minor_faults() - f0) / (2.0 * repeat);
    for (int v = 0; v < 2 && !bad; v++)
        med[v] = median(t[v], repeat), best[v] = t[v][0]; /* median() sorted t[v] */
    double fl;
    kn_call_cost(&dl, 0, c->B, c->D, false, bytes, &fl);
    for (int j = 0; j < KN_MAX_PARTS; j++)
        db_free(host[j]);
    db_free(tab), db_free(x), db_free(y), db_free(t[0]), db_free(t[1]);
    return bad;
}

static int env_int(const char *name, int def, int lo, int hi)
{
    const char *s = getenv(name);
    int v = s ? atoi(s) : def;
    return v < lo ? lo : v > hi ? hi : v;
}

static int ab_main(void)
{
    const int rounds = env_int("KN_AB_ROUNDS", 3, 1, 50), repeat = env_int("KN_AB_REPEAT", 20, 3, 1000);
    kn_ctx *ctx[2];
    const char *olds = getenv("KN_AB_OLD");
    const kn_impl old = olds && !strcmp(olds, "int8-v1") ? KN_IMPL_INT8V1 : KN_IMPL_F32;
    if (kn_ctx_init(&ctx[0], KN_CPU, old) || kn_ctx_init(&ctx[1], KN_CPU, KN_IMPL_FAST)) {
        fprintf(stderr, "bench_kernels: %s\n", db_errmsg());
        return 1;
    }
    char dev[320];
    kn_device_name(ctx[0], dev, sizeof dev);
    const size_t llc = kn_llc_bytes(ctx[0]);
    const int maxt = omp_get_max_threads();
    printf("# A/B %s: old = %s, new = %s; %d rounds x %d calls each, alternating\n", dev,
           kn_ctx_impl_name(ctx[0]), kn_ctx_impl_name(ctx[1]), rounds, repeat);
    static double med[2][NCFG][2][50], copy[2][50], rdbw[2][50], bytes[NCFG], flt[2][NCFG], best[2][NCFG][2];
    arena_cap = 4 * llc + ((size_t)256 << 20); /* + the largest set (8 deltas of 4096 x 11008) */
    arena = db_malloc_aligned(4096, arena_cap);
    if (!arena) {
        fprintf(stderr, "bench_kernels: out of memory (%zu bytes)\n", arena_cap);
        return 1;
    }
    const char *sel = getenv("KN_AB_CFG");
    const int only_t = env_int("KN_AB_THREADS", 0, 0, 2);
    bool on[NCFG];
    for (int ci = 0; ci < NCFG; ci++) {
        char key[8];
        snprintf(key, sizeof key, "%d", ci);
        on[ci] = !sel;
        for (const char *q = sel; q && *q; q += strcspn(q, ",") + (q[strcspn(q, ",")] == ','))
            on[ci] |= strcspn(q, ",") == strlen(key) && !strncmp(q, key, strlen(key));
    }
    for (int round = 0; round < rounds; round++)
        for (int ti = 0; ti < 2; ti++) {
            if (only_t && only_t != (ti == 0 ? 2 : 1))
                continue;
            const int th = ti == 0 ? (maxt < 2 ? maxt : 2) : 1;
            omp_set_num_threads(th);
            size_t cb = 4 * llc < ((size_t)64 << 20) ? (size_t)64 << 20 : 4 * llc;
            if (kn_copy_bandwidth(ctx[0], cb, 5, &copy[ti][round]) ||
                kn_read_bandwidth(ctx[0], cb, 5, &rdbw[ti][round]))
                return 1;
            for (int ci = 0; ci < NCFG; ci++) {
                double m[2], b[2];
                if (!on[ci])
                    continue;
                if (ab_run(ctx, &cfgs[ci], llc, repeat, m, b, &bytes[ci], &flt[ti][ci])) {
                    fprintf(stderr, "bench_kernels: %s\n", db_errmsg());
                    return 1;
                }
                for (int v = 0; v < 2; v++)
                    best[ti][ci][v] = round == 0 || b[v] < best[ti][ci][v] ? b[v] : best[ti][ci][v];
                med[ti][ci][0][round] = m[0];
                med[ti][ci][1][round] = m[1];
            }
        }
    omp_set_num_threads(maxt);
    printf("%-9s %6s %6s %3s %3s %3s %10s %10s %7s %7s %6s %9s %5s %8s %8s %7s %7s %8s %7s %8s\n", "op",
           "m", "k", "B", "D", "thr", "old_us", "new_us", "old_sh", "new_sh", "x", "copy_GBs",
           "flt", "old_best", "new_best", "old_bsh", "new_bsh", "copy_max", "new_rsh", "read_GBs");
    for (int ti = 0; ti < 2; ti++)
        for (int ci = 0; ci < NCFG; ci++) {
            if (!on[ci] || (only_t && only_t != (ti == 0 ? 2 : 1)))
                continue;
            double sh[2][50], cp[50], mm[2][50], rsh[50], rb[50];
            for (int v = 0; v < 2; v++)
                for (int round = 0; round < rounds; round++) {
                    sh[v][round] = bytes[ci] / med[ti][ci][v][round] / copy[ti][round];
                    mm[v][round] = med[ti][ci][v][round];
                }
            double cmax = 0;
            for (int round = 0; round < rounds; round++) {
                cp[round] = copy[ti][round], cmax = cp[round] > cmax ? cp[round] : cmax;
                rb[round] = rdbw[ti][round];
                rsh[round] = bytes[ci] / med[ti][ci][1][round] / rdbw[ti][round];
            }
            const double o = median(mm[0], rounds), n = median(mm[1], rounds);
            const ab_cfg *c = &cfgs[ci];
            const double *bb = best[ti][ci];
            printf("%-9s %6lld %6lld %3lld %3lld %3d %10.1f %10.1f %6.1f%% %6.1f%% %6.2f %9.2f %5.1f "
                   "%8.1f %8.1f %6.1f%% %6.1f%% %8.2f %6.1f%% %8.2f\n",
                   c->name, (long long)c->N, (long long)c->K, (long long)c->B, (long long)c->D,
                   ti == 0 ? (maxt < 2 ? maxt : 2) : 1, o * 1e6, n * 1e6,
                   100 * median(sh[0], rounds), 100 * median(sh[1], rounds), o / n,
                   median(cp, rounds) / 1e9, flt[ti][ci], bb[0] * 1e6, bb[1] * 1e6,
                   100 * bytes[ci] / bb[0] / cmax, 100 * bytes[ci] / bb[1] / cmax, cmax / 1e9,
                   100 * median(rsh, rounds), median(rb, rounds) / 1e9);
        }
    kn_ctx_free(ctx[0]), kn_ctx_free(ctx[1]);
    db_free(arena);
    return 0;
}

int main(void)
{
    mkdir("results", 0755);
    if (!getenv("KN_AB_ONLY") || strcmp(getenv("KN_AB_ONLY"), "1")) {
        char *argv[] = {"bench-kernel", "--op", "bitdelta,sbmm,sbmm2,dense,dense-loop", "--shapes",
                        "4096x4096,11008x4096", "--batch", "1,8", "--deltas", "1,8", "--repeat", "3",
                        "--warmup", "1", "--out", "results/bench-kernels-cpu.h5", NULL};
        int rc = cmd_bench_kernel((int)(sizeof argv / sizeof argv[0]) - 1, argv);
        if (rc)
            return rc;
    }
    return ab_main();
}
