/* bench_core.c: core throughput, each figure as a ratio to the copy bandwidth measured in the
 * same run: fp16/bf16 <-> f32 array conversion (F16C where present) and RNG output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/half.h"
#include "core/log.h"
#include "core/rng.h"

enum { N = 64 << 20 }; /* 64 Mi elements: far beyond the caches */

/* Median of `reps` timings of fn(ctx). */
static double median_time(void (*fn)(void *), void *ctx, int reps)
{
    double t[16];
    for (int i = 0; i < reps; i++) {
        double t0 = db_now();
        fn(ctx);
        t[i] = db_now() - t0;
    }
    for (int i = 1; i < reps; i++)
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return t[reps / 2];
}

typedef struct {
    uint16_t *h;
    float *f;
    uint64_t sink;
} bufs;

static void do_copy(void *p)
{
    bufs *b = p;
    memcpy(b->f, b->h, (size_t)N * 2); /* same bytes read as the conversion reads */
}
static void do_f16(void *p)
{
    bufs *b = p;
    f16_to_f32_array(b->h, b->f, N);
}
static void do_bf16(void *p)
{
    bufs *b = p;
    bf16_to_f32_array(b->h, b->f, N);
}
static void do_f32_to_f16(void *p)
{
    bufs *b = p;
    f32_to_f16_array(b->f, b->h, N);
}
static void do_rng(void *p)
{
    bufs *b = p;
    db_rng r;
    rng_seed(&r, 1);
    uint64_t s = 0;
    for (size_t i = 0; i < (size_t)N / 4; i++) /* 8 bytes per output: N*2 bytes in all */
        s ^= rng_u64(&r);
    b->sink ^= s;
}

int main(void)
{
    bufs b = {db_malloc_aligned(64, (size_t)N * 2), db_malloc_aligned(64, (size_t)N * 4), 0};
    if (!b.h || !b.f) {
        fprintf(stderr, "bench_core: out of memory\n");
        return 1;
    }
    db_rng r;
    rng_seed(&r, 7);
    for (size_t i = 0; i < N; i++)
        b.h[i] = f32_to_f16((float)rng_normal(&r) * 0.01f);
    memset(b.f, 0, (size_t)N * 4);
    double tc = median_time(do_copy, &b, 5);
    double gbs = 2.0 * N * 2 / tc / 1e9; /* read + write of N*2 bytes */
    printf("copy (memcpy %d MiB)          %8.2f GB/s (read+write)\n", (int)((size_t)N * 2 >> 20), gbs);
    struct {
        const char *name;
        void (*fn)(void *);
        double bytes; /* read + write */
    } cases[] = {
        {"f16 -> f32 (array)", do_f16, N * 6.0},
        {"bf16 -> f32 (array)", do_bf16, N * 6.0},
        {"f32 -> f16 (array)", do_f32_to_f16, N * 6.0},
        {"rng_u64 (8 B/output)", do_rng, N * 2.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double t = median_time(cases[i].fn, &b, 5);
        double g = cases[i].bytes / t / 1e9;
        printf("%-30s %8.2f GB/s   %.2fx copy bandwidth\n", cases[i].name, g, g / gbs);
    }
    db_free(b.h);
    db_free(b.f);
    return b.sink == 42 ? 1 : 0;
}
