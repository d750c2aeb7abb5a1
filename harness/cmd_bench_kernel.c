/* cmd_bench_kernel.c: `deltabench bench-kernel`: times one kernel op (or a sweep of ops, shapes,
 * batches and delta counts) on CPU or GPU against the memory-bandwidth floor.
 *
 * Each configuration: random packed deltas of the op's format, replicated into enough copies
 * that one pass over the copies is >= 4x the device's last-level cache (so every timed call
 * reads its deltas from memory, not from a cache the previous call warmed); warm-up calls; the
 * median of --repeat timed calls (CUDA events on GPU, a monotonic clock on CPU); bytes and FLOPs
 * from the format (kn_call_cost); achieved GB/s and GFLOP/s; and the share of the copy
 * bandwidth measured on the same device in the same run. Rows go to the `kernels` table.
 *
 * Request rows go to deltas round-robin, or drawn from a popularity law of workloads/ (--assign
 * zipf:2: DeltaZip's SBMM benchmark); only the deltas that got a row are read and counted; rows
 * are grouped by delta, as a serving batch keeps each model's rows together. The *-loop ops are
 * the per-model baseline: one call of the op's kernel per delta that has rows. The base+ ops
 * time one served linear layer (harness/bench_layer.h): the fp16 base GEMM over all rows then
 * the batched delta call, as models/tf_batch.c runs it, or per delta the base GEMM of its rows
 * and the delta kernel once; their base is replicated with the deltas and counted in the bytes.
 *
 * With --rounds R > 1 the ops of one configuration are built together and timed in R
 * interleaved rounds (each round: --repeat calls of every op in turn), so a slow spell of a
 * shared machine hits every op alike; each round's median goes to the `rounds` table, the
 * source of the paired intervals of `deltabench interval ratio`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/half.h"
#include "core/rng.h"
#include "harness/bench_kernel.h"
#include "harness/bench_layer.h"
#include "harness/cli.h"
#include "kernels/kernels.h"
#include "kernels/random.h"
#include "workloads/gen.h"
#include "workloads/popularity.h"

#define CMD "bench-kernel"
#define MAX_LIST 16
#define MAX_POOL 256

static const res_field kb_fields[] = {
    RES_STR(kb_row, op),       RES_STR(kb_row, device),   RES_STR(kb_row, impl),
    RES_STR(kb_row, assign),   RES_I64(kb_row, m),        RES_I64(kb_row, k),
    RES_I64(kb_row, batch),    RES_I64(kb_row, deltas),   RES_I64(kb_row, deltas_used),
    RES_I64(kb_row, repeats),  RES_F64(kb_row, median_s),
    RES_F64(kb_row, min_s),    RES_F64(kb_row, bytes),    RES_F64(kb_row, flops),
    RES_F64(kb_row, gbs),      RES_F64(kb_row, gflops),   RES_F64(kb_row, copy_gbs),
    RES_F64(kb_row, share_of_copy),
};
const res_schema kb_schema = RES_SCHEMA("kernels", "kernel microbenchmarks vs copy bandwidth",
                                        kb_row, kb_fields);

static const res_field kb_round_fields[] = {
    RES_STR(kb_round_row, op),      RES_I64(kb_round_row, m),        RES_I64(kb_round_row, k),
    RES_I64(kb_round_row, batch),   RES_I64(kb_round_row, deltas),   RES_I64(kb_round_row, round),
    RES_F64(kb_round_row, median_s), RES_F64(kb_round_row, min_s),
};
const res_schema kb_round_schema = RES_SCHEMA("rounds", "per-round medians of interleaved ops",
                                              kb_round_row, kb_round_fields);

typedef struct {
    const char *name;
    kn_fmt fmt;
    int bits, dequant, loop;
    const char *what;
    int rows; /* 1-bit signs kept row-major even where the kernel prefers them tiled */
    int base; /* a served layer: the fp16 base GEMM too (bench_layer.h) */
} kb_op;

static const kb_op ops[] = {
    {"dense", KN_FMT_DENSE16, 0, 0, 0, "base fp16 GEMM/GEMV, one weight for every row"},
    {"bitdelta", KN_FMT_BITDELTA, 0, 0, 0,
     "1-bit delta batched across tenants (signs tiled where the kernel prefers it)"},
    {"bitdelta-rows", KN_FMT_BITDELTA, 0, 0, 0, "the same with row-major signs (the container's)",
     1},
    {"sbmm", KN_FMT_NMQ, 4, 0, 0, "2:4 + 4-bit delta batched across deltas (SBMM)"},
    {"sbmm2", KN_FMT_NMQ, 2, 0, 0, "2:4 + 2-bit delta batched across deltas (SBMM)"},
    {"csr", KN_FMT_CSR, 0, 0, 0, "CSR fp16 delta SpMM (DARE-like, --density)"},
    {"lowrank", KN_FMT_LOWRANK, 0, 0, 0, "low-rank delta, two skinny GEMMs (--rank)"},
    {"dense-loop", KN_FMT_DENSE16, 0, 0, 1, "baseline: one dense fp16 GEMV per delta, a loop"},
    {"bitdelta-loop", KN_FMT_BITDELTA, 0, 0, 1, "baseline: the 1-bit kernel once per delta, a loop"},
    {"sbmm-loop", KN_FMT_NMQ, 4, 0, 1, "baseline: the 2:4 4-bit kernel once per delta, a loop"},
    {"bitdelta-dq", KN_FMT_BITDELTA, 0, 1, 0, "baseline: dequantise 1-bit to fp16, then dense"},
    {"sbmm-dq", KN_FMT_NMQ, 4, 1, 0, "baseline: dequantise 2:4 4-bit to fp16, then dense"},
    {"csr-dq", KN_FMT_CSR, 0, 1, 0, "baseline: dequantise CSR to fp16, then dense"},
    {"lowrank-dq", KN_FMT_LOWRANK, 0, 1, 0, "baseline: expand A B to fp16, then dense"},
    {"base+bitdelta", KN_FMT_BITDELTA, 0, 0, 0,
     "served layer: fp16 base GEMM over all rows + the batched 1-bit call", 0, 1},
    {"base+sbmm", KN_FMT_NMQ, 4, 0, 0, "served layer: fp16 base GEMM + SBMM (2:4 4-bit)", 0, 1},
    {"base+sbmm2", KN_FMT_NMQ, 2, 0, 0, "served layer: fp16 base GEMM + SBMM (2:4 2-bit)", 0, 1},
    {"base+bitdelta-loop", KN_FMT_BITDELTA, 0, 0, 1,
     "baseline: per delta, the base GEMM of its rows + the 1-bit kernel", 0, 1},
    {"base+sbmm-loop", KN_FMT_NMQ, 4, 0, 1,
     "baseline: per delta, the base GEMM of its rows + the 2:4 4-bit kernel", 0, 1},
};
#define NOPS (sizeof ops / sizeof ops[0])

static void usage(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench bench-kernel --op OP[,OP...] [options]\n\n"
           "Times delta kernels against the memory-bandwidth floor: median of --repeat calls\n"
           "after warm-up, bytes and FLOPs from the format, achieved GB/s and GFLOP/s and the\n"
           "share of the copy bandwidth measured on the same device in the same run. Deltas\n"
           "are replicated so each pass reads >= 4x the last-level cache. Lists (comma-\n"
           "separated) sweep every combination.\n\nops:\n");
    for (size_t i = 0; i < NOPS; i++)
        printf("  %-18s %s\n", ops[i].name, ops[i].what);
    printf("\n");
    cli_help(stdout, opts, n);
}

/* Parses "a,b,c" of integers in [lo, hi]. */
static bool parse_list(const char *opt, const char *s, int64_t lo, int64_t hi, int64_t *v, int *n)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    *n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (*n >= MAX_LIST) {
            cli_usage(CMD, "%s: more than %d values", opt, MAX_LIST);
            return false;
        }
        if (!cli_i64(CMD, opt, t, lo, hi, &v[(*n)++]))
            return false;
    }
    if (!*n)
        cli_usage(CMD, "%s: empty list", opt);
    return *n > 0;
}

/* ---- one configuration --------------------------------------------------------------------- */

typedef struct {
    kn_ctx *c;
    const kb_op *op;
    int64_t N, K, B, rank;
    int D, P; /* deltas per call, copies of the delta set */
    double density;
    uint64_t seed;
    const wl_pop_spec *assign; /* NULL: round-robin */
    void **mem;        /* [P * D * KN_MAX_PARTS] device buffers */
    const void **tab;  /* [P][KN_MAX_PARTS][D] part tables */
    int64_t *nnz;      /* [D] */
    void **base;       /* [P] fp16 base copies (base+ ops), else NULL */
    const uint16_t *cur_base;
    kn_deltas dl;
    /* the timing state (cfg_prepare .. cfg_finish) */
    int32_t *rd, *rd1; /* [B] row -> delta (grouped by delta); scratch of the loops */
    float *x, *y;      /* device [B, K], [B, N] */
    double *t;         /* [rounds * repeat] call times */
    int nt, calls;
} kb_cfg;

static void cfg_free(kb_cfg *g)
{
    if (g->mem)
        for (int i = 0; i < g->P * g->D * KN_MAX_PARTS; i++)
            kn_free(g->c, g->mem[i]);
    if (g->base)
        for (int p = 0; p < g->P; p++)
            kn_free(g->c, g->base[p]);
    kn_free(g->c, g->x), kn_free(g->c, g->y);
    db_free(g->mem), db_free(g->tab), db_free(g->nnz), db_free(g->base);
    db_free(g->rd), db_free(g->rd1), db_free(g->t);
    g->mem = NULL, g->tab = NULL, g->nnz = NULL, g->base = NULL, g->rd = NULL, g->rd1 = NULL;
    g->x = NULL, g->y = NULL, g->t = NULL;
}

/* The base+ ops' P copies of one random fp16 [N, K] base (its own stream of the seed). */
static db_status base_build(kb_cfg *g)
{
    db_rng r;
    rng_stream(&r, g->seed, (uint64_t)(g->N * 65537 + g->K) + 3);
    void *host[KN_MAX_PARTS] = {NULL};
    size_t bytes[KN_MAX_PARTS] = {0};
    int64_t nnz = 0;
    db_status s = kn_random_delta(KN_FMT_DENSE16, g->N, g->K, 0, 1.0, 1, &r, host, bytes, &nnz);
    if (!s && !(g->base = db_calloc((size_t)g->P, sizeof *g->base)))
        s = db_error(DB_ERR_NOMEM, "bench-kernel: out of memory");
    for (int p = 0; p < g->P && !s; p++)
        if (!(s = kn_alloc(g->c, bytes[0], &g->base[p])))
            s = kn_upload(g->c, g->base[p], host[0], bytes[0]);
    for (int j = 0; j < KN_MAX_PARTS; j++)
        db_free(host[j]);
    return s;
}

static db_status cfg_build(kb_cfg *g)
{
    db_rng r;
    rng_stream(&r, g->seed, (uint64_t)(g->N * 65537 + g->K));
    void *host[KN_MAX_PARTS] = {NULL};
    size_t bytes[KN_MAX_PARTS] = {0};
    int64_t nnz = 0;
    db_status s = kn_random_delta(g->op->fmt, g->N, g->K, g->op->bits, g->density, g->rank, &r, host,
                                  bytes, &nnz);
    if (s)
        goto done;
    const bool tiled = g->op->fmt == KN_FMT_BITDELTA && !g->op->rows && kn_bitdelta_prefers_tiled(g->c);
    if (tiled) { /* what a loader does once per delta */
        uint32_t *t = db_malloc(kn_bitdelta_tiled_bytes(g->N, g->K));
        if (!t) {
            s = db_error(DB_ERR_NOMEM, "bench-kernel: out of memory");
            goto done;
        }
        kn_bitdelta_tile(host[0], g->N, g->K, t);
        db_free(host[0]);
        host[0] = t;
        bytes[0] = kn_bitdelta_tiled_bytes(g->N, g->K);
    }
    double set_bytes = g->op->base ? 2.0 * (double)g->N * (double)g->K : 0;
    for (int j = 0; j < KN_MAX_PARTS; j++)
        set_bytes += (double)bytes[j] * g->D;
    const double want = 4.0 * (double)kn_llc_bytes(g->c);
    g->P = (int)ceil(want / set_bytes);
    g->P = g->P < 1 ? 1 : g->P > MAX_POOL ? MAX_POOL : g->P;
    if (set_bytes * g->P > 12e9) {
        s = db_error(DB_ERR_ARG, "bench-kernel: %s %lldx%lld with %d deltas needs %.1f GB",
                     g->op->name, (long long)g->N, (long long)g->K, g->D, set_bytes * g->P / 1e9);
        goto done;
    }
    g->mem = db_calloc((size_t)(g->P * g->D * KN_MAX_PARTS), sizeof *g->mem);
    g->tab = db_calloc((size_t)(g->P * g->D * KN_MAX_PARTS), sizeof *g->tab);
    g->nnz = db_calloc((size_t)g->D, sizeof *g->nnz);
    if (!g->mem || !g->tab || !g->nnz) {
        s = db_error(DB_ERR_NOMEM, "bench-kernel: out of memory");
        goto done;
    }
    for (int d = 0; d < g->D; d++)
        g->nnz[d] = nnz;
    /* the same host image uploaded into every (copy, delta) slot: contents do not matter to a
     * cache, addresses do */
    for (int p = 0; p < g->P && !s; p++)
        for (int d = 0; d < g->D && !s; d++)
            for (int j = 0; j < KN_MAX_PARTS && !s; j++) {
                if (!bytes[j])
                    continue;
                void **m = &g->mem[(p * g->D + d) * KN_MAX_PARTS + j];
                if (!(s = kn_alloc(g->c, bytes[j], m)))
                    s = kn_upload(g->c, *m, host[j], bytes[j]);
                g->tab[(p * KN_MAX_PARTS + j) * g->D + d] = *m;
            }
    if (!s && g->op->base)
        s = base_build(g);
    g->dl = (kn_deltas){.fmt = g->op->fmt, .N = g->N, .K = g->K, .bits = g->op->bits, .nm_n = 2,
                        .nm_m = 4, .rank = g->rank, .D = g->D, .nnz = g->nnz,
                        .dtype = g->op->fmt == KN_FMT_DENSE16 ? DT_F16 : DT_U32, .tiled = tiled};
done:
    for (int j = 0; j < KN_MAX_PARTS; j++)
        db_free(host[j]);
    return s;
}

/* Points dl (and the base) at copy p of the delta set. */
static void cfg_use(kb_cfg *g, int p)
{
    for (int j = 0; j < KN_MAX_PARTS; j++)
        g->dl.part[j] = g->tab[(p * KN_MAX_PARTS + j) * g->D] ? &g->tab[(p * KN_MAX_PARTS + j) * g->D]
                                                              : NULL;
    g->cur_base = g->base ? g->base[p] : NULL;
}

/* One call of the op over all B rows. */
static db_status call_op(kb_cfg *g, const int32_t *rd, int32_t *rd1, const float *x, float *y)
{
    if (g->op->base)
        return kb_layer_call(g->c, g->op->loop ? KB_LAYER_LOOP : KB_LAYER_BATCHED, g->cur_base,
                             &g->dl, g->B, rd, rd1, x, y);
    if (!strcmp(g->op->name, "dense"))
        return kn_dense_gemm(g->c, DT_F16, g->N, g->K, g->dl.part[0][0], g->B, x, y, false);
    if (g->op->dequant)
        return kn_delta_gemm_dequant(g->c, &g->dl, g->B, rd, x, y, false);
    if (!g->op->loop)
        return kn_delta_gemm(g->c, &g->dl, g->B, rd, x, y, false);
    /* the per-model loop: one call per delta that has rows, over that delta's rows */
    db_status s = DB_OK;
    for (int d = 0; d < g->D && !s; d++) {
        kn_deltas one = g->dl;
        one.D = 1;
        for (int j = 0; j < KN_MAX_PARTS; j++)
            one.part[j] = g->dl.part[j] ? &g->dl.part[j][d] : NULL;
        one.nnz = &g->dl.nnz[d];
        bool any = false;
        for (int64_t b = 0; b < g->B; b++) {
            rd1[b] = rd[b] == d ? 0 : -1;
            any |= rd[b] == d;
        }
        if (any)
            s = kn_delta_gemm(g->c, &one, g->B, rd1, x, y, true);
    }
    return s;
}

/* rd[b]: the delta of request row b, round-robin or drawn from the --assign law (its own
 * stream of the seed), then grouped by delta; *used: how many distinct deltas got a row. */
static db_status assign_rows(const kb_cfg *g, int32_t *rd, int64_t *used)
{
    int64_t *counts = db_calloc((size_t)g->D + 1, sizeof *counts);
    wl_pop *p = NULL;
    db_status s = counts ? DB_OK : db_error(DB_ERR_NOMEM, "bench-kernel: out of memory");
    if (!s && g->assign && !(s = wl_pop_init(g->assign, g->D, &p))) {
        db_rng r;
        rng_stream(&r, g->seed, 11);
        for (int64_t b = 0; b < g->B; b++)
            rd[b] = wl_pop_sample(p, &r);
    } else if (!s)
        for (int64_t b = 0; b < g->B; b++)
            rd[b] = (int32_t)(b % g->D);
    if (!s) {
        kb_layer_group_rows(rd, g->B, g->D, counts);
        *used = 0;
        for (int d = 0; d < g->D; d++)
            *used += counts[d + 1] > 0;
    }
    wl_pop_free(p);
    db_free(counts);
    return s;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_sorted(const double *t, int n)
{
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* Builds the configuration, its rows and activations, and runs the warm-up calls; room for
 * `calls` timed calls. */
static db_status cfg_prepare(kb_cfg *g, int warmup, int calls, int64_t *used)
{
    db_status s = cfg_build(g);
    const int64_t B = g->B, N = g->N, K = g->K;
    g->rd = db_malloc_array((size_t)B, sizeof *g->rd);
    g->rd1 = db_malloc_array((size_t)B, sizeof *g->rd1);
    g->t = db_malloc_array((size_t)calls, sizeof *g->t);
    float *hx = db_malloc_array((size_t)(B * K), sizeof *hx);
    if (!s && (!g->rd || !g->rd1 || !hx || !g->t))
        s = db_error(DB_ERR_NOMEM, "bench-kernel: out of memory");
    if (!s && !(s = kn_alloc(g->c, sizeof(float) * (size_t)(B * K), (void **)&g->x)))
        s = kn_alloc(g->c, sizeof(float) * (size_t)(B * N), (void **)&g->y);
    if (!s) {
        db_rng r;
        rng_stream(&r, g->seed, 7);
        for (int64_t i = 0; i < B * K; i++)
            hx[i] = (float)(rng_f64(&r) - 0.5);
        s = assign_rows(g, g->rd, used);
        if (!s)
            s = kn_upload(g->c, g->x, hx, sizeof(float) * (size_t)(B * K));
    }
    db_free(hx);
    for (int i = 0; i < warmup && !s; i++) {
        cfg_use(g, g->calls++ % g->P);
        s = call_op(g, g->rd, g->rd1, g->x, g->y);
    }
    return s ? s : kn_sync(g->c);
}

/* One round: `repeat` timed calls, their median and best into *rr. */
static db_status cfg_round(kb_cfg *g, int repeat, kb_round_row *rr)
{
    db_status s = DB_OK;
    const int t0 = g->nt;
    for (int i = 0; i < repeat && !s; i++) {
        cfg_use(g, g->calls++ % g->P);
        if (!(s = kn_mark(g->c, 0)) && !(s = call_op(g, g->rd, g->rd1, g->x, g->y)) &&
            !(s = kn_mark(g->c, 1)))
            s = kn_elapsed(g->c, 0, 1, &g->t[g->nt++]);
    }
    if (s)
        return s;
    qsort(g->t + t0, (size_t)repeat, sizeof *g->t, cmp_d);
    rr->median_s = median_sorted(g->t + t0, repeat);
    rr->min_s = g->t[t0];
    return DB_OK;
}

/* The row of every timed call: median, best, bytes and FLOPs, rates. */
static void cfg_finish(kb_cfg *g, double copy_bps, kb_row *row)
{
    qsort(g->t, (size_t)g->nt, sizeof *g->t, cmp_d);
    const double med = median_sorted(g->t, g->nt);
    /* what the op must read: each used delta once, packed (the loops and the dequantising
     * baselines read the same bytes as the batched kernel of their format); a served layer also
     * the fp16 base once, and writes y once */
    const int64_t G = !strcmp(g->op->name, "dense") ? 1 : row->deltas_used;
    kn_call_cost(&g->dl, g->nnz[0], g->B, G, false, &row->bytes, &row->flops);
    if (g->op->base) {
        row->bytes += 2.0 * (double)g->N * (double)g->K;
        row->flops += 2.0 * (double)g->N * (double)g->K * (double)g->B;
    }
    row->median_s = med;
    row->min_s = g->t[0];
    row->repeats = g->nt;
    row->gbs = row->bytes / med / 1e9;
    row->gflops = row->flops / med / 1e9;
    row->copy_gbs = copy_bps / 1e9;
    row->share_of_copy = copy_bps > 0 ? row->bytes / med / copy_bps : 0;
}

/* One (shape, batch, deltas) of the sweep and what every op of it shares. */
typedef struct {
    kn_ctx *c;
    const kb_op *const *sel;
    int nops;
    int64_t N, K, B, rank;
    int D;
    bool first_deltas; /* the first --deltas value: dense (no deltas) runs there only */
    double density, copy_bps;
    uint64_t seed;
    const wl_pop_spec *assign;
    const char *assign_name;
    int warmup, repeat, rounds;
} kb_group;

static void print_row(const kb_row *r)
{
    printf("%-18s %-5s %6lld %6lld %5lld %6lld %4lld %11.1f %9.2f %9.2f %6.1f%% %11.1f %6.1f%%\n",
           r->op, r->device, (long long)r->m, (long long)r->k, (long long)r->batch,
           (long long)r->deltas, (long long)r->deltas_used, r->median_s * 1e6, r->gbs, r->gflops,
           100.0 * r->share_of_copy, r->min_s * 1e6,
           100.0 * r->share_of_copy * r->median_s / r->min_s);
    fflush(stdout);
}

/* The ops of group q: one at a time (rounds 1), or all built together and timed in interleaved
 * rounds. Appends a row per op to rows and a row per op and round to rr. */
static db_status run_group(const kb_group *q, kb_row *rows, size_t *nrows, kb_round_row *rr,
                           size_t *nrr)
{
    kb_cfg cfg[MAX_LIST];
    const int chunk = q->rounds > 1 ? q->nops : 1;
    db_status s = DB_OK;
    for (int o0 = 0; o0 < q->nops && !s; o0 += chunk) {
        int n = 0;
        for (int oi = o0; oi < o0 + chunk && oi < q->nops && !s; oi++) {
            const kb_op *o = q->sel[oi];
            const bool dense = !strcmp(o->name, "dense");
            if (dense && !q->first_deltas)
                continue; /* the base GEMM has no deltas: once per shape and batch */
            if (o->fmt == KN_FMT_LOWRANK && (q->rank > q->N || q->rank > q->K))
                continue;
            cfg[n] = (kb_cfg){.c = q->c, .op = o, .N = q->N, .K = q->K, .B = q->B,
                              .rank = q->rank, .D = dense ? 1 : q->D, .density = q->density,
                              .seed = q->seed, .assign = q->assign};
            kb_row *r = &rows[*nrows + (size_t)n];
            memset(r, 0, sizeof *r);
            snprintf(r->op, sizeof r->op, "%s", o->name);
            snprintf(r->device, sizeof r->device, "%s",
                     kn_ctx_device(q->c) == KN_CUDA ? "cuda" : "cpu");
            snprintf(r->impl, sizeof r->impl, "%s", kn_ctx_impl_name(q->c));
            snprintf(r->assign, sizeof r->assign, "%s", q->assign_name);
            r->m = q->N, r->k = q->K, r->batch = q->B, r->deltas = cfg[n].D;
            n++; /* counted first: cfg_free below frees what a failed prepare left */
            s = cfg_prepare(&cfg[n - 1], q->warmup, q->rounds * q->repeat, &r->deltas_used);
        }
        for (int round = 0; round < q->rounds && !s; round++)
            for (int i = 0; i < n && !s; i++) {
                const kb_row *r = &rows[*nrows + (size_t)i];
                kb_round_row *x = &rr[(*nrr)++];
                memset(x, 0, sizeof *x);
                snprintf(x->op, sizeof x->op, "%s", r->op);
                x->m = r->m, x->k = r->k, x->batch = r->batch, x->deltas = r->deltas;
                x->round = round;
                s = cfg_round(&cfg[i], q->repeat, x);
            }
        for (int i = 0; i < n; i++) {
            if (!s) {
                cfg_finish(&cfg[i], q->copy_bps, &rows[*nrows]);
                print_row(&rows[(*nrows)++]);
            }
            cfg_free(&cfg[i]);
        }
    }
    return s;
}

/* ---- main ------------------------------------------------------------------------------------ */

int cmd_bench_kernel(int argc, char **argv)
{
    const char *oplist = NULL, *out = NULL, *shapes = NULL, *device = "cpu", *implname = "fast";
    const char *batch_s = NULL, *deltas_s = NULL, *calib_out = NULL, *calib_hw = NULL;
    kn_device dev = KN_CPU;
    kn_impl impl = KN_IMPL_FAST;
    int64_t M = 4096, Kc = 4096, repeat = 20, warmup = 3, rank = 64, seed = 1, rounds = 1;
    int64_t batch[MAX_LIST] = {1}, deltas[MAX_LIST] = {1};
    int nb = 1, nd = 1;
    double density = 0.1;
    const char *assign = "round-robin";
    wl_pop_spec pop;
    const cli_opt opts[] = {
        CLI_STR_OPT("op", &oplist, "LIST", "ops above", "required"),
        CLI_STR_OPT("device", &device, "D", "cpu or cuda", "cpu"),
        CLI_INT_OPT("m", &M, 1, 65536, "M", "weight rows N, 1..65536", "4096"),
        CLI_INT_OPT("k", &Kc, 1, 65536, "K", "weight columns K, 1..65536", "4096"),
        CLI_STR_OPT("shapes", &shapes, "LIST",
                    "instead of --m/--k: MxK[,MxK...], e.g. 4096x4096,4096x11008", "none"),
        CLI_STR_OPT("batch", &batch_s, "LIST", "request rows, 1..4096", "1"),
        CLI_STR_OPT("deltas", &deltas_s, "LIST", "distinct deltas, 1..256", "1"),
        CLI_STR_OPT("assign", &assign, "A",
                    "rows to deltas: round-robin or a popularity law of\n"
                    "`trace gen` (uniform, zipf:A, ...), drawn with --seed; deltas\n"
                    "without rows are not read", "round-robin"),
        CLI_INT_OPT("repeat", &repeat, 1, 10000, "N", "timed calls, 1..10000", "20"),
        CLI_INT_OPT("rounds", &rounds, 1, 1000, "R",
                    "time the ops of each configuration in R interleaved rounds\n"
                    "of --repeat calls each (all built at once); per-round\n"
                    "medians go to the `rounds` table", "1"),
        CLI_INT_OPT("warmup", &warmup, 0, 1000, "N", "untimed calls first, 0..1000", "3"),
        CLI_STR_OPT("impl", &implname, "I",
                    "CPU implementation: fast (int8 table lookups for 1-bit and\n"
                    "2:4 where AVX-512 VBMI + VNNI exist), int8-v1 (the first\n"
                    "int8 kernels), f32 (the f32 kernels), avx2 (the AVX2 paths\n"
                    "on an AVX-512 CPU), portable or ref", "fast"),
        CLI_INT_OPT("rank", &rank, 1, 4096, "R", "lowrank rank, 1..4096", "64"),
        CLI_REAL_OPT("density", &density, 1e-6, 1.0, "P", "csr kept share, (0, 1]",
                     "0.1: DARE drop 0.9"),
        CLI_INT_OPT("seed", &seed, 0, INT64_MAX, "S", "generator seed", "1"),
        CLI_STR_OPT("out", &out, "RES.h5", "write the `kernels` table there", "print only"),
        CLI_STR_OPT("calib-out", &calib_out, "FILE",
                    "write the serving cost model's calibration overlay (eff.*\n"
                    "keys: measured share of --calib-hw's bandwidth or peak) for\n"
                    "`simulate --calib FILE`", "none"),
        CLI_STR_OPT("calib-hw", &calib_hw, "H",
                    "the profile the overlay is for (required with --device\n"
                    "cuda: h100-sxm, a100-80gb, ...)", "cpu"),
    };
    int rc = cli_parse(CMD, argc, argv, opts, CLI_NOPTS(opts), NULL);
    if (rc == CLI_HELP)
        return usage(opts, CLI_NOPTS(opts)), DB_EXIT_OK;
    if (rc)
        return rc;
    if (strcmp(assign, "round-robin") &&
        (wl_pop_parse(assign, &pop) != DB_OK || wl_pop_check(&pop) != DB_OK))
        return cli_usage(CMD, "--assign: %s", db_errmsg());
    if (strlen(assign) >= sizeof ((kb_row *)0)->assign)
        return cli_usage(CMD, "--assign: '%s' is longer than %zu characters", assign,
                         sizeof ((kb_row *)0)->assign - 1);
    if (!strcmp(device, "cpu"))
        dev = KN_CPU;
    else if (!strcmp(device, "cuda"))
        dev = KN_CUDA;
    else
        return cli_usage(CMD, "--device must be cpu or cuda, not '%s'", device);
    if (!strcmp(implname, "fast"))
        impl = KN_IMPL_FAST;
    else if (!strcmp(implname, "portable"))
        impl = KN_IMPL_PORTABLE;
    else if (!strcmp(implname, "ref"))
        impl = KN_IMPL_REF;
    else if (!strcmp(implname, "avx2"))
        impl = KN_IMPL_AVX2;
    else if (!strcmp(implname, "f32"))
        impl = KN_IMPL_F32;
    else if (!strcmp(implname, "int8-v1"))
        impl = KN_IMPL_INT8V1;
    else
        return cli_usage(CMD,
                         "--impl must be fast, int8-v1, f32, avx2, portable or ref, not '%s'",
                         implname);
    if (batch_s && !parse_list("--batch", batch_s, 1, 4096, batch, &nb))
        return DB_EXIT_USAGE;
    if (deltas_s && !parse_list("--deltas", deltas_s, 1, 256, deltas, &nd))
        return DB_EXIT_USAGE;
    if (!oplist)
        return cli_usage(CMD, "--op is required");
    if (calib_hw && !calib_out)
        return cli_usage(CMD, "--calib-hw applies to --calib-out only");
    if (calib_out && !calib_hw && dev == KN_CUDA)
        return cli_usage(CMD, "--calib-out with --device cuda needs --calib-hw (the GPU's "
                              "profile, e.g. h100-sxm)");
    hw_profile calib_prof;
    if (calib_out) { /* resolved first: a bad profile fails before anything is timed */
        db_status hs = hw_profile_resolve(&calib_prof, calib_hw ? calib_hw : "cpu",
                                          HW_CPU_PROFILE_CACHE);
        if (hs != DB_OK)
            return cli_fail(CMD, hs);
    }
    /* ops and shapes */
    const kb_op *sel[MAX_LIST];
    int nops = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", oplist);
    for (char *sv = NULL, *t = strtok_r(buf, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) {
        const kb_op *o = NULL;
        for (size_t i = 0; i < NOPS; i++)
            if (!strcmp(ops[i].name, t))
                o = &ops[i];
        if (!o)
            return cli_usage(CMD, "unknown op '%s' (see --help)", t);
        if (nops >= MAX_LIST)
            return cli_usage(CMD, "--op: more than %d ops", MAX_LIST);
        sel[nops++] = o;
    }
    int64_t sm[MAX_LIST] = {M}, sk[MAX_LIST] = {Kc};
    int ns = 1;
    if (shapes) {
        ns = 0;
        snprintf(buf, sizeof buf, "%s", shapes);
        for (char *sv = NULL, *t = strtok_r(buf, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) {
            long long a, b;
            char tail;
            if (ns >= MAX_LIST || sscanf(t, "%lldx%lld%c", &a, &b, &tail) != 2 || a < 1 ||
                b < 1 || a > 65536 || b > 65536)
                return cli_usage(CMD, "--shapes: '%s' is not MxK with 1 <= M, K <= 65536", t);
            sm[ns] = a, sk[ns] = b, ns++;
        }
    }
    kn_ctx *ctx = NULL;
    db_status s = kn_ctx_init(&ctx, dev, impl);
    if (s)
        return cli_fail(CMD, s);
    char devname[320];
    kn_device_name(ctx, devname, sizeof devname);
    double copy_bps = 0;
    size_t cbytes = 4 * kn_llc_bytes(ctx);
    cbytes = cbytes < ((size_t)64 << 20) ? (size_t)64 << 20 : cbytes;
    if ((s = kn_copy_bandwidth(ctx, cbytes, 5, &copy_bps))) {
        kn_ctx_free(ctx);
        return cli_fail(CMD, s);
    }
    printf("# device %s, impl %s; copy bandwidth %.2f GB/s (%zu MiB buffer, read + write)\n",
           devname, kn_ctx_impl_name(ctx), copy_bps / 1e9, cbytes >> 20);
    printf("%-18s %-5s %6s %6s %5s %6s %4s %11s %9s %9s %7s %11s %7s\n", "op", "dev", "m", "k",
           "batch", "deltas", "used", "median_us", "GB/s", "GFLOP/s", "share", "min_us",
           "share@min");
    const size_t maxrows = (size_t)nops * (size_t)ns * (size_t)nb * (size_t)nd;
    kb_row *rows = db_calloc(maxrows, sizeof *rows);
    kb_round_row *rrows = db_calloc(maxrows * (size_t)rounds, sizeof *rrows);
    size_t nrows = 0, nrr = 0;
    if (!rows || !rrows)
        s = db_error(DB_ERR_NOMEM, "bench-kernel: out of memory");
    for (int si = 0; si < ns && !s; si++)
        for (int bi = 0; bi < nb && !s; bi++)
            for (int di = 0; di < nd && !s; di++) {
                kb_group q = {.c = ctx, .sel = sel, .nops = nops, .N = sm[si], .K = sk[si],
                              .B = batch[bi], .rank = rank, .D = (int)deltas[di],
                              .first_deltas = di == 0, .density = density,
                              .copy_bps = copy_bps, .seed = (uint64_t)seed,
                              .assign = strcmp(assign, "round-robin") ? &pop : NULL,
                              .assign_name = assign, .warmup = (int)warmup,
                              .repeat = (int)repeat, .rounds = (int)rounds};
                s = run_group(&q, rows, &nrows, rrows, &nrr);
            }
    if (!s && out) {
        res_run_info info = {argc, argv, (uint64_t)seed, cli_gpu_name()};
        res_file *f = NULL;
        s = res_create(out, &info, &f);
        if (!s)
            s = res_attr_str(f, "kernel_device", devname);
        if (!s)
            s = res_attr_f64(f, "copy_gbs", copy_bps / 1e9);
        if (!s)
            s = res_table_write(f, &kb_schema, nrows, rows);
        if (!s)
            s = res_table_write(f, &kb_round_schema, nrr, rrows);
        if (!s)
            s = res_commit(f);
        else
            res_abort(f);
    }
    if (!s && calib_out) {
        char *cmdline = res_join_argv(argc, argv);
        s = cmdline ? kb_calib_write(calib_out, rows, nrows, &calib_prof,
                                     dev == KN_CUDA ? devname : "cpu", copy_bps / 1e9, cmdline)
                    : db_error(DB_ERR_NOMEM, "%s: out of memory", calib_out);
        db_free(cmdline);
    }
    db_free(rows), db_free(rrows);
    kn_ctx_free(ctx);
    if (s)
        return cli_fail(CMD, s);
    if (out)
        printf("# wrote %zu rows to %s\n", nrows, out);
    if (calib_out)
        printf("# wrote the calibration overlay for profile %s to %s\n", calib_prof.name,
               calib_out);
    return DB_EXIT_OK;
}
