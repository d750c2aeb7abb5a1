/* kernels.c: the kn_ dispatcher: contexts, validation, grouping rows by delta, the CPU/CUDA
 * switch, device memory and timing, copy bandwidth, byte/FLOP accounting.
 *
 * The run-time ISA choice lives here (one __builtin_cpu_supports probe, cached); every fast
 * kernel takes a `simd` level (0 portable, 1 AVX2+FMA+F16C, 2 AVX-512F/BW: the 1-bit and 2:4
 * kernels have AVX-512 paths, the other ops run their AVX2 paths at level 2); KN_IMPL_FAST runs
 * the int8 kernels of cpu/lut8.c for 1-bit and 2:4 where AVX-512 VBMI + VNNI exist. Workspaces are cached in the context and only grow. */
#define _GNU_SOURCE
#include <omp.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "kernels/kn_internal.h"

#ifdef DB_HAVE_CUDA
#include "kernels/cuda/cuda_api.h"
#endif

#define KN_MARKS 8

struct kn_ctx {
    kn_device dev;
    kn_impl impl;
    int simd;
    int q8; /* which int8 table-lookup kernels run (0 none; KN_IMPL_FAST: 2, KN_IMPL_INT8V1: 1;
               AVX-512 VBMI + VNNI + GFNI) */
    void *cuda; /* cuda_kn * */
    /* grouping workspace (host) */
    int32_t *perm, *start, *gdelta, *count, *none;
    size_t cap_perm, cap_none, cap_start, cap_gdelta, cap_count;
    /* CPU scratch */
    float *rowsum, *tmp, *panel, *lut;
    size_t cap_rowsum, cap_tmp, cap_panel, cap_lut;
    uint32_t *tiles;
    size_t cap_tiles;
    uint8_t *q8buf;
    size_t cap_q8;
    uint16_t *dq; /* dequant buffer (device memory of the context) */
    size_t cap_dq;
    double marks[KN_MARKS];
};

static int cpu_simd_level(void)
{
    static int level = -1;
    if (level < 0) {
        int l = 0;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
            __builtin_cpu_supports("f16c"))
            l = 1;
        if (l && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
            l = 2;
#endif
        level = l;
    }
    return level;
}

/* AVX-512 VBMI (vpermb, vpermt2b, vpmultishiftqb), VNNI (vpdpbusd) and GFNI: the int8 kernels. */
static bool cpu_has_q8(void)
{
    static int has = -1;
    if (has < 0) {
        int h = 0;
#if defined(__x86_64__)
        __builtin_cpu_init();
        h = cpu_simd_level() == 2 && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vbmi") &&
            __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("gfni");
#endif
        has = h;
    }
    return has;
}

const char *kn_cpu_isa(void)
{
    static const char *names[] = {"portable", "avx2", "avx512"};
    return names[cpu_simd_level()];
}

db_status kn_ctx_init(kn_ctx **out, kn_device dev, kn_impl impl)
{
    *out = NULL;
    if (dev != KN_CPU && dev != KN_CUDA)
        return db_error(DB_ERR_ARG, "kernels: unknown device %d", (int)dev);
    if (impl < KN_IMPL_REF || impl > KN_IMPL_INT8V1)
        return db_error(DB_ERR_ARG, "kernels: unknown implementation %d", (int)impl);
#ifndef DB_HAVE_CUDA
    if (dev == KN_CUDA)
        return db_error(DB_ERR_NO_DEVICE, "no CUDA device: this binary was built without CUDA");
#endif
    kn_ctx *c = db_calloc(1, sizeof *c);
    if (!c)
        return db_error(DB_ERR_NOMEM, "kernels: out of memory");
    c->dev = dev;
    c->impl = impl;
    c->simd = impl == KN_IMPL_FAST || impl == KN_IMPL_F32 || impl == KN_IMPL_INT8V1
                  ? cpu_simd_level()
              : impl == KN_IMPL_AVX2 ? (cpu_simd_level() < 1 ? cpu_simd_level() : 1)
                                     : 0;
    c->q8 = dev != KN_CPU || !cpu_has_q8() ? 0 : impl == KN_IMPL_FAST ? 2 : impl == KN_IMPL_INT8V1;
#ifdef DB_HAVE_CUDA
    if (dev == KN_CUDA) {
        db_status s = cuda_kn_create((cuda_kn **)&c->cuda);
        if (s) {
            db_free(c);
            return s;
        }
    }
#endif
    *out = c;
    return DB_OK;
}

void kn_ctx_free(kn_ctx *c)
{
    if (!c)
        return;
    kn_free(c, c->dq);
#ifdef DB_HAVE_CUDA
    cuda_kn_destroy(c->cuda);
#endif
    db_free(c->perm), db_free(c->start), db_free(c->gdelta), db_free(c->count), db_free(c->none);
    db_free(c->rowsum), db_free(c->tmp), db_free(c->panel), db_free(c->lut), db_free(c->tiles);
    db_free(c->q8buf);
    db_free(c);
}

kn_device kn_ctx_device(const kn_ctx *c) { return c->dev; }

const char *kn_ctx_impl_name(const kn_ctx *c)
{
    if (c->dev == KN_CUDA)
        return "cuda";
    if (c->impl == KN_IMPL_REF)
        return "ref";
    if (c->q8)
        return c->q8 == 2 ? "avx512-int8" : "avx512-int8-v1";
    return c->simd == 2 ? "avx512" : c->simd == 1 ? "avx2" : "portable";
}

size_t kn_llc_bytes(const kn_ctx *c)
{
#ifdef DB_HAVE_CUDA
    if (c->dev == KN_CUDA)
        return cuda_kn_l2_bytes(c->cuda);
#else
    (void)c;
#endif
    long l3 = -1; /* sysfs first: some VMs report a host-sized L3 through sysconf */
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
    if (f) {
        char unit = 0;
        if (fscanf(f, "%ld%c", &l3, &unit) >= 1)
            l3 *= unit == 'K' ? 1024L : unit == 'M' ? 1048576L : 1L;
        fclose(f);
    }
#ifdef _SC_LEVEL3_CACHE_SIZE
    if (l3 <= 0)
        l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    return l3 > 0 ? (size_t)l3 : (size_t)32 << 20;
}

void kn_device_name(const kn_ctx *c, char *buf, size_t n)
{
#ifdef DB_HAVE_CUDA
    if (c->dev == KN_CUDA) {
        cuda_kn_name(c->cuda, buf, n);
        return;
    }
#else
    (void)c;
#endif
    char model[160] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10)) {
                char *p = strchr(line, ':');
                if (p) {
                    p++;
                    while (*p == ' ')
                        p++;
                    p[strcspn(p, "\n")] = '\0';
                    snprintf(model, sizeof model, "%s", p);
                }
                break;
            }
        fclose(f);
    }
    snprintf(buf, n, "cpu: %s (%d threads, %s)", model, omp_get_max_threads(), kn_cpu_isa());
}

/* ---- memory and timing ---------------------------------------------------------------------- */

db_status kn_alloc(kn_ctx *c, size_t bytes, void **p)
{
    *p = NULL;
#ifdef DB_HAVE_CUDA
    if (c->dev == KN_CUDA)
        return cuda_kn_alloc(bytes, p);
#else
    (void)c;
#endif
    *p = db_malloc_aligned(256, bytes ? bytes : 1);
    return *p ? DB_OK : db_error(DB_ERR_NOMEM, "kernels: out of memory (%zu bytes)", bytes);
}

void kn_free(kn_ctx *c, void *p)
{
    if (!p)
        return;
#ifdef DB_HAVE_CUDA
    if (c->dev == KN_CUDA) {
        cuda_kn_free(p);
        return;
    }
#else
    (void)c;
#endif
    db_free(p);
}

static db_status kn_memcpy(kn_ctx *c, void *dst, const void *src, size_t n, int kind)
{
#ifdef DB_HAVE_CUDA
    if (c->dev == KN_CUDA)
        return cuda_kn_memcpy(c->cuda, dst, src, n, kind);
#else
    (void)c;
#endif
    (void)kind;
    if (n)
        memcpy(dst, src, n);
    return DB_OK;
}

db_status kn_upload(kn_ctx *c, void *dst, const void *src, size_t n) { return kn_memcpy(c, dst, src, n, 0); }
db_status kn_download(kn_ctx *c, void *dst, const void *src, size_t n) { return kn_memcpy(c, dst, src, n, 1); }
db_status kn_copy(kn_ctx *c, void *dst, const void *src, size_t n) { return kn_memcpy(c, dst, src, n, 2); }

db_status kn_sync(kn_ctx *c)
{
#ifdef DB_HAVE_CUDA
    if (c->dev == KN_CUDA)
        return cuda_kn_sync(c->cuda);
#else
    (void)c;
#endif
    return DB_OK;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

db_status kn_mark(kn_ctx *c, int i)
{
    if (i < 0 || i >= KN_MARKS)
        return db_error(DB_ERR_ARG, "kernels: mark %d not in [0, %d)", i, KN_MARKS);
#ifdef DB_HAVE_CUDA
    if (c->dev == KN_CUDA)
        return cuda_kn_mark(c->cuda, i);
#endif
    c->marks[i] = now_s();
    return DB_OK;
}

db_status kn_elapsed(kn_ctx *c, int i, int j, double *seconds)
{
    if (i < 0 || i >= KN_MARKS || j < 0 || j >= KN_MARKS)
        return db_error(DB_ERR_ARG, "kernels: marks %d, %d not in [0, %d)", i, j, KN_MARKS);
#ifdef DB_HAVE_CUDA
    if (c->dev == KN_CUDA)
        return cuda_kn_elapsed(c->cuda, i, j, seconds);
#endif
    *seconds = c->marks[j] - c->marks[i];
    return DB_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

db_status kn_copy_bandwidth(kn_ctx *c, size_t bytes, int repeat, double *bps)
{
    *bps = 0;
    if (repeat < 1 || repeat > 1000 || bytes < 4096)
        return db_error(DB_ERR_ARG, "kernels: copy bandwidth needs repeat in [1, 1000] and >= 4 KiB");
#ifdef DB_HAVE_CUDA
    if (c->dev == KN_CUDA)
        return cuda_kn_copy_bw(c->cuda, bytes, repeat, bps);
#endif
    char *a = db_malloc_aligned(4096, bytes), *b = db_malloc_aligned(4096, bytes);
    double *t = db_malloc_array((size_t)repeat, sizeof *t);
    if (!a || !b || !t) {
        db_free(a), db_free(b), db_free(t);
        return db_error(DB_ERR_NOMEM, "kernels: out of memory (copy bandwidth, %zu bytes)", bytes);
    }
#pragma omp parallel
    { /* first touch by the thread that copies the chunk later */
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        size_t lo = bytes / (size_t)nt * (size_t)id, hi = id == nt - 1 ? bytes : lo + bytes / (size_t)nt;
        memset(a + lo, 1, hi - lo);
        memset(b + lo, 0, hi - lo);
    }
    for (int r = -1; r < repeat; r++) { /* r = -1: warm-up */
        double t0 = now_s();
#pragma omp parallel
        {
            int nt = omp_get_num_threads(), id = omp_get_thread_num();
            size_t lo = bytes / (size_t)nt * (size_t)id, hi = id == nt - 1 ? bytes : lo + bytes / (size_t)nt;
            memcpy(b + lo, a + lo, hi - lo);
        }
        if (r >= 0)
            t[r] = now_s() - t0;
    }
    (void)c;
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    double med = repeat % 2 ? t[repeat / 2] : 0.5 * (t[repeat / 2 - 1] + t[repeat / 2]);
    *bps = 2.0 * (double)bytes / med;
    db_free(a), db_free(b), db_free(t);
    return DB_OK;
}

/* Sums the 64-bit words of p[0..n) (n a multiple of 512 bytes) with 8 independent sums, touching
 * the first line of the next two 4 KiB pages as each page starts: the hardware prefetchers stop
 * at page boundaries, and this restarts them ahead of the stream (+20-25 % over a plain loop on
 * the Intel Xeon of docs/kernels.md; the int8 kernels' Q8_KICK does the same). */
#if defined(__x86_64__)
__attribute__((target("avx512f"))) static uint64_t read_sum_avx512(const char *p, size_t n)
{
    __m512i s[8];
    for (int k = 0; k < 8; k++)
        s[k] = _mm512_setzero_si512();
    for (size_t i = 0; i + 512 <= n; i += 512) {
        if (!(i & 4095)) {
            _mm_prefetch(p + i + 4096, _MM_HINT_T0);
            _mm_prefetch(p + i + 8192, _MM_HINT_T0);
        }
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++)
            s[k] = _mm512_add_epi64(s[k], _mm512_load_si512((const void *)(p + i + 64 * k)));
    }
    for (int k = 1; k < 8; k++)
        s[0] = _mm512_add_epi64(s[0], s[k]);
    uint64_t w[8], t = 0; /* wrapping sums: unsigned (the intrinsics' reduction is signed) */
    _mm512_storeu_si512((void *)w, s[0]);
    for (int k = 0; k < 8; k++)
        t += w[k];
    return t;
}
#endif
static uint64_t read_sum(const char *p, size_t n)
{
#if defined(__x86_64__)
    if (cpu_simd_level() == 2)
        return read_sum_avx512(p, n);
#endif
    uint64_t s[8] = {0};
    const uint64_t *w = (const uint64_t *)p;
    for (size_t i = 0; i + 8 <= n / 8; i += 8)
        for (int k = 0; k < 8; k++)
            s[k] += w[i + k];
    return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

db_status kn_read_bandwidth(kn_ctx *c, size_t bytes, int repeat, double *bps)
{
    *bps = 0;
    if (repeat < 1 || repeat > 1000 || bytes < 4096)
        return db_error(DB_ERR_ARG, "kernels: read bandwidth needs repeat in [1, 1000] and >= 4 KiB");
    if (c->dev != KN_CPU)
        return db_error(DB_ERR_ARG, "kernels: read bandwidth is measured on the CPU only");
    bytes = bytes / 4096 * 4096;
    char *a = db_malloc_aligned(4096, bytes);
    double *t = db_malloc_array((size_t)repeat, sizeof *t);
    if (!a || !t) {
        db_free(a), db_free(t);
        return db_error(DB_ERR_NOMEM, "kernels: out of memory (read bandwidth, %zu bytes)", bytes);
    }
    volatile uint64_t sink = 0;
#pragma omp parallel
    { /* first touch by the thread that reads the part later; parts of whole 4 KiB pages */
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        size_t pages = bytes / 4096, lo = pages / (size_t)nt * (size_t)id * 4096;
        size_t hi = id == nt - 1 ? bytes : lo + pages / (size_t)nt * 4096;
        memset(a + lo, id + 1, hi - lo);
    }
    for (int r = -1; r < repeat; r++) { /* r = -1: warm-up */
        uint64_t sum = 0;
        double t0 = now_s();
#pragma omp parallel reduction(+ : sum)
        {
            int nt = omp_get_num_threads(), id = omp_get_thread_num();
            size_t pages = bytes / 4096, lo = pages / (size_t)nt * (size_t)id * 4096;
            size_t hi = id == nt - 1 ? bytes : lo + pages / (size_t)nt * 4096;
            sum += read_sum(a + lo, hi - lo);
        }
        if (r >= 0)
            t[r] = now_s() - t0;
        sink += sum;
    }
    (void)sink;
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    double med = repeat % 2 ? t[repeat / 2] : 0.5 * (t[repeat / 2 - 1] + t[repeat / 2]);
    *bps = (double)bytes / med;
    db_free(a), db_free(t);
    return DB_OK;
}

/* ---- validation and grouping ------------------------------------------------------------------ */

db_status kn_deltas_check(const kn_deltas *dl)
{
    if (!dl)
        return db_error(DB_ERR_ARG, "kernels: NULL delta descriptor");
    if (dl->fmt < 0 || dl->fmt >= KN_FMT_COUNT)
        return db_error(DB_ERR_ARG, "kernels: unknown delta format %d", (int)dl->fmt);
    if (dl->N < 1 || dl->K < 1 || dl->N > (1LL << 31) || dl->K > (1LL << 31))
        return db_error(DB_ERR_SHAPE, "kernels: shape [%lld, %lld] out of range",
                        (long long)dl->N, (long long)dl->K);
    if (dl->D < 1)
        return db_error(DB_ERR_ARG, "kernels: %d deltas (need at least 1)", dl->D);
    if (dl->tiled && dl->fmt != KN_FMT_BITDELTA)
        return db_error(DB_ERR_ARG, "kernels: only 1-bit deltas have a tiled layout");
    static const int nparts[KN_FMT_COUNT] = {1, 2, 3, 3, 2};
    switch (dl->fmt) {
    case KN_FMT_DENSE16:
        if (dl->dtype != DT_F16 && dl->dtype != DT_BF16)
            return db_error(DB_ERR_DTYPE, "kernels: dense weights must be F16 or BF16");
        break;
    case KN_FMT_NMQ:
        if (dl->bits < 1 || dl->bits > DC_MAX_BITS || dl->nm_m < 1 || dl->nm_m > DC_MAX_NM_M ||
            dl->nm_n < 1 || dl->nm_n > dl->nm_m)
            return db_error(DB_ERR_ARG, "kernels: n:m %d:%d with %d bits is not a valid format",
                            dl->nm_n, dl->nm_m, dl->bits);
        break;
    case KN_FMT_CSR:
        if (dl->dtype != DT_U16 && dl->dtype != DT_U32)
            return db_error(DB_ERR_DTYPE, "kernels: CSR columns must be U16 or U32");
        if (dl->dtype == DT_U16 && dl->K > 65536)
            return db_error(DB_ERR_DTYPE, "kernels: U16 CSR columns need K <= 65536");
        break;
    case KN_FMT_LOWRANK:
        if (dl->rank < 1 || dl->rank > dl->N || dl->rank > dl->K)
            return db_error(DB_ERR_ARG, "kernels: rank %lld not in [1, min(N, K)]",
                            (long long)dl->rank);
        break;
    default:
        break;
    }
    for (int j = 0; j < nparts[dl->fmt]; j++) {
        if (!dl->part[j])
            return db_error(DB_ERR_ARG, "kernels: part %d table is NULL", j);
        for (int d = 0; d < dl->D; d++)
            if (!dl->part[j][d])
                return db_error(DB_ERR_ARG, "kernels: part %d of delta %d is NULL", j, d);
    }
    return DB_OK;
}

static db_status grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap && *p)
        return DB_OK;
    void *q = db_malloc_array(need ? need : 1, elem);
    if (!q)
        return db_error(DB_ERR_NOMEM, "kernels: out of memory (workspace)");
    db_free(*p);
    *p = q;
    *cap = need;
    return DB_OK;
}

/* Counting sort of the rows by delta id (stable: rows keep their order inside a group). */
static db_status group_rows(kn_ctx *c, int D, int64_t B, const int32_t *rd, kn_groups *g)
{
    db_status s = grow((void **)&c->perm, &c->cap_perm, (size_t)B, sizeof(int32_t));
    if (!s)
        s = grow((void **)&c->none, &c->cap_none, (size_t)B, sizeof(int32_t));
    if (!s)
        s = grow((void **)&c->start, &c->cap_start, (size_t)D + 1, sizeof(int32_t));
    if (!s)
        s = grow((void **)&c->gdelta, &c->cap_gdelta, (size_t)D + 1, sizeof(int32_t));
    if (!s)
        s = grow((void **)&c->count, &c->cap_count, (size_t)D + 1, sizeof(int32_t));
    if (s)
        return s;
    memset(c->count, 0, sizeof(int32_t) * ((size_t)D + 1));
    int64_t nnone = 0;
    for (int64_t b = 0; b < B; b++) {
        if (rd[b] < -1 || rd[b] >= D)
            return db_error(DB_ERR_ARG, "kernels: row %lld uses delta %d, not in [-1, %d)",
                            (long long)b, rd[b], D);
        if (rd[b] < 0)
            c->none[nnone++] = (int32_t)b;
        else
            c->count[rd[b]]++;
    }
    int64_t G = 0;
    int32_t off = 0;
    for (int d = 0; d < D; d++)
        if (c->count[d]) {
            c->gdelta[G] = d;
            c->start[G] = off;
            off += c->count[d];
            c->count[d] = c->start[G]; /* from here on: the fill cursor of delta d */
            G++;
        }
    c->start[G] = off;
    for (int64_t b = 0; b < B; b++)
        if (rd[b] >= 0)
            c->perm[c->count[rd[b]]++] = (int32_t)b;
    g->G = G;
    g->gdelta = c->gdelta;
    g->start = c->start;
    g->perm = c->perm;
    g->nnone = nnone;
    g->none = c->none;
    return DB_OK;
}

/* ---- ops ---------------------------------------------------------------------------------------- */

static db_status check_call(const kn_ctx *c, const kn_deltas *dl, int64_t B, const int32_t *rd,
                            const float *x, const float *y)
{
    if (!c)
        return db_error(DB_ERR_ARG, "kernels: NULL context");
    db_status s = kn_deltas_check(dl);
    if (s)
        return s;
    if (B < 0 || B > (1LL << 30))
        return db_error(DB_ERR_ARG, "kernels: batch %lld out of range", (long long)B);
    if (B > 0 && (!rd || !x || !y))
        return db_error(DB_ERR_ARG, "kernels: NULL row ids, x or y");
    if (c->dev == KN_CUDA && dl->fmt == KN_FMT_CSR && (dl->dtype != DT_U32 || !dl->nnz))
        return db_error(DB_ERR_UNSUPPORTED, "kernels: cuSPARSE needs U32 CSR columns and nnz[]");
    if (c->dev == KN_CUDA && dl->tiled)
        return db_error(DB_ERR_UNSUPPORTED, "kernels: tiled 1-bit signs are a CPU layout");
    return DB_OK;
}

size_t kn_bitdelta_tiled_bytes(int64_t N, int64_t K)
{
    return (size_t)((N + KN_TILE - 1) / KN_TILE * KN_TILE * dc_fmt_words(K, 1)) * 4 + 64;
}

void kn_bitdelta_tile(const uint32_t *signs, int64_t N, int64_t K, uint32_t *out)
{
    const int64_t W = dc_fmt_words(K, 1);
    memset(out, 0, kn_bitdelta_tiled_bytes(N, K));
    for (int64_t n = 0; n < N; n++)
        for (int64_t w = 0; w < W; w++)
            out[((n / KN_TILE) * W + w) * KN_TILE + n % KN_TILE] = signs[n * W + w];
}

bool kn_bitdelta_prefers_tiled(const kn_ctx *c)
{
    return c && c->dev == KN_CPU &&
           (c->impl == KN_IMPL_FAST || c->impl == KN_IMPL_F32 || c->impl == KN_IMPL_INT8V1) &&
           c->simd >= 2;
}

static void cpu_zero_none(const kn_deltas *dl, const kn_groups *g, float *y, bool acc)
{
    if (acc)
        return;
    for (int64_t i = 0; i < g->nnone; i++)
        memset(y + (int64_t)g->none[i] * dl->N, 0, sizeof(float) * (size_t)dl->N);
}

static db_status cpu_scratch(kn_ctx *c, const kn_deltas *dl, int64_t B, kn_cpu_scratch *ws)
{
    db_status s = grow((void **)&c->rowsum, &c->cap_rowsum, (size_t)B, sizeof(float));
    size_t tmp = dl->fmt == KN_FMT_LOWRANK ? (size_t)(B * dl->rank) : 0;
    if (!s && tmp)
        s = grow((void **)&c->tmp, &c->cap_tmp, tmp, sizeof(float));
    size_t panel = dl->fmt == KN_FMT_DENSE16 ? kn_fast_dense_panel(dl->K, dl->N) : 0;
    if (!s && panel)
        s = grow((void **)&c->panel, &c->cap_panel, panel, sizeof(float));
    const bool q8 = c->q8 && kn_q8_handles(dl);
    const size_t q8b = q8 ? kn_q8_scratch(dl) : 0;
    if (!s && q8b) /* 64 bytes of slack to align to 64 */
        s = grow((void **)&c->q8buf, &c->cap_q8, q8b + 64, 1);
    ws->q8 = q8b ? (uint8_t *)(((uintptr_t)c->q8buf + 63) & ~(uintptr_t)63) : NULL;
    size_t lut = !q8 && dl->fmt == KN_FMT_BITDELTA && c->impl != KN_IMPL_REF
                     ? kn_fast_bitdelta_lut(dl->K, c->simd)
                     : 0;
    if (!s && lut) /* 16 floats of slack to align the tables to 64 bytes */
        s = grow((void **)&c->lut, &c->cap_lut, lut + 16, sizeof(float));
    const size_t tw = !q8 && dl->fmt == KN_FMT_BITDELTA && c->impl != KN_IMPL_REF && !dl->tiled
                          ? kn_fast_bitdelta_tiles(c->simd)
                          : 0;
    const size_t nt = (size_t)omp_get_max_threads();
    if (!s && tw) /* 16 words of slack to align to 64 bytes */
        s = grow((void **)&c->tiles, &c->cap_tiles, tw * nt + 16, sizeof(uint32_t));
    ws->rowsum = c->rowsum;
    ws->tmp = c->tmp;
    ws->lut = lut ? (float *)(((uintptr_t)c->lut + 63) & ~(uintptr_t)63) : NULL;
    ws->tiles = tw ? (uint32_t *)(((uintptr_t)c->tiles + 63) & ~(uintptr_t)63) : NULL;
    ws->tiles_words = tw;
    return s;
}

static db_status cpu_run(kn_ctx *c, const kn_deltas *dl, const kn_groups *g, int64_t B,
                         const float *x, float *y, bool acc)
{
    kn_cpu_scratch ws;
    db_status s = cpu_scratch(c, dl, B, &ws);
    if (s)
        return s;
    cpu_zero_none(dl, g, y, acc);
    if (c->impl == KN_IMPL_REF) {
        static const kn_cpu_fn ref[KN_FMT_COUNT] = {kn_ref_dense, kn_ref_bitdelta, kn_ref_nmq,
                                                    kn_ref_csr, kn_ref_lowrank};
        ref[dl->fmt](dl, g, x, y, acc, &ws);
        return DB_OK;
    }
    if (c->q8 && kn_q8_handles(dl)) {
        kn_q8_gemm(dl, g, x, y, acc, &ws, c->q8);
        return DB_OK;
    }
    switch (dl->fmt) {
    case KN_FMT_DENSE16: kn_fast_dense(dl, g, x, y, acc, c->simd, c->panel, c->cap_panel); break;
    case KN_FMT_BITDELTA: kn_fast_bitdelta(dl, g, x, y, acc, c->simd, &ws); break;
    case KN_FMT_NMQ: kn_fast_nmq(dl, g, x, y, acc, c->simd); break;
    case KN_FMT_CSR: kn_fast_csr(dl, g, x, y, acc); break;
    case KN_FMT_LOWRANK: kn_fast_lowrank(dl, g, x, y, acc, c->simd, ws.tmp); break;
    default: return db_error(DB_ERR_INTERNAL, "kernels: format %d has no CPU kernel", dl->fmt);
    }
    return DB_OK;
}

db_status kn_delta_gemm(kn_ctx *c, const kn_deltas *dl, int64_t B, const int32_t *rd,
                        const float *x, float *y, bool acc)
{
    db_status s = check_call(c, dl, B, rd, x, y);
    if (s || B == 0)
        return s;
    kn_groups g;
    if ((s = group_rows(c, dl->D, B, rd, &g)))
        return s;
#ifdef DB_HAVE_CUDA
    if (c->dev == KN_CUDA)
        return cuda_kn_delta_gemm(c->cuda, dl, &g, B, x, y, acc);
#endif
    return cpu_run(c, dl, &g, B, x, y, acc);
}

static db_status dq_buffer(kn_ctx *c, const kn_deltas *dl)
{
    size_t need = (size_t)(dl->N * dl->K);
    if (c->dq && c->cap_dq >= need)
        return DB_OK;
    kn_free(c, c->dq);
    c->dq = NULL;
    c->cap_dq = 0;
    db_status s = kn_alloc(c, need * 2, (void **)&c->dq);
    if (!s)
        c->cap_dq = need;
    return s;
}

db_status kn_dequant16(kn_ctx *c, const kn_deltas *dl, int d, uint16_t *out)
{
    if (!c || !out)
        return db_error(DB_ERR_ARG, "kernels: NULL context or output");
    db_status s = kn_deltas_check(dl);
    if (s)
        return s;
    if (d < 0 || d >= dl->D)
        return db_error(DB_ERR_ARG, "kernels: delta %d not in [0, %d)", d, dl->D);
    if (c->dev == KN_CUDA && dl->tiled)
        return db_error(DB_ERR_UNSUPPORTED, "kernels: tiled 1-bit signs are a CPU layout");
#ifdef DB_HAVE_CUDA
    if (c->dev == KN_CUDA)
        return cuda_kn_dequant16(c->cuda, dl, d, out);
#endif
    if (c->impl == KN_IMPL_REF)
        kn_ref_dequant16(dl, d, out);
    else
        kn_fast_dequant16(dl, d, out);
    return DB_OK;
}

db_status kn_delta_gemm_dequant(kn_ctx *c, const kn_deltas *dl, int64_t B, const int32_t *rd,
                                const float *x, float *y, bool acc)
{
    db_status s = check_call(c, dl, B, rd, x, y);
    if (s || B == 0)
        return s;
    if ((s = dq_buffer(c, dl)))
        return s;
    kn_groups g;
    if ((s = group_rows(c, dl->D, B, rd, &g)))
        return s;
#ifdef DB_HAVE_CUDA
    if (c->dev == KN_CUDA)
        return cuda_kn_delta_gemm_dequant(c->cuda, dl, &g, B, x, y, acc, c->dq);
#endif
    /* one group at a time: expand its delta, then the dense kernel over that group's rows */
    const void *wp[1] = {c->dq};
    kn_deltas one = {.fmt = KN_FMT_DENSE16, .N = dl->N, .K = dl->K, .dtype = DT_F16, .D = 1};
    one.part[0] = wp;
    kn_cpu_scratch ws;
    if ((s = cpu_scratch(c, &one, B, &ws)))
        return s;
    cpu_zero_none(dl, &g, y, acc);
    for (int64_t gi = 0; gi < g.G; gi++) {
        int32_t zero = 0;
        int32_t st[2] = {g.start[gi], g.start[gi + 1]};
        kn_groups g1 = {.G = 1, .gdelta = &zero, .start = st, .perm = g.perm};
        if (c->impl == KN_IMPL_REF) {
            kn_ref_dequant16(dl, g.gdelta[gi], c->dq);
            kn_ref_dense(&one, &g1, x, y, acc, &ws);
        } else {
            kn_fast_dequant16(dl, g.gdelta[gi], c->dq);
            kn_fast_dense(&one, &g1, x, y, acc, c->simd, c->panel, c->cap_panel);
        }
    }
    return DB_OK;
}

db_status kn_dense_gemm(kn_ctx *c, db_dtype wdtype, int64_t N, int64_t K, const void *W,
                        int64_t B, const float *x, float *y, bool acc)
{
    const void *wp[1] = {W};
    kn_deltas one = {.fmt = KN_FMT_DENSE16, .N = N, .K = K, .dtype = wdtype, .D = 1};
    one.part[0] = wp;
    static const int32_t all_rows_use_it = 0; /* only its non-NULL address is checked */
    db_status s = check_call(c, &one, B, &all_rows_use_it, x, y);
    if (s || B == 0)
        return s;
    /* every row uses the weight: an identity grouping, no per-row ids needed */
    if ((s = grow((void **)&c->perm, &c->cap_perm, (size_t)B, sizeof(int32_t))))
        return s;
    for (int64_t b = 0; b < B; b++)
        c->perm[b] = (int32_t)b;
    int32_t zero = 0, st[2] = {0, (int32_t)B};
    kn_groups g = {.G = 1, .gdelta = &zero, .start = st, .perm = c->perm};
#ifdef DB_HAVE_CUDA
    if (c->dev == KN_CUDA)
        return cuda_kn_delta_gemm(c->cuda, &one, &g, B, x, y, acc);
#endif
    return cpu_run(c, &one, &g, B, x, y, acc);
}

/* ---- accounting ---------------------------------------------------------------------------------- */

double kn_delta_bytes(const kn_deltas *dl, int64_t nnz)
{
    const double N = (double)dl->N, K = (double)dl->K;
    switch (dl->fmt) {
    case KN_FMT_DENSE16: return 2.0 * N * K;
    case KN_FMT_BITDELTA: return 4.0 * N * (double)dc_fmt_words(dl->K, 1) + 4.0;
    case KN_FMT_NMQ: {
        int64_t S = (dl->K + dl->nm_m - 1) / dl->nm_m * dl->nm_n;
        return 4.0 * N * (double)(dc_fmt_words(S, dl->bits) + dc_fmt_words(S, dc_fmt_idx_bits(dl->nm_m))) +
               2.0 * N;
    }
    case KN_FMT_CSR: return 4.0 * (N + 1) + (double)nnz * ((dl->dtype == DT_U16 ? 2.0 : 4.0) + 2.0);
    case KN_FMT_LOWRANK: return 2.0 * (double)dl->rank * (N + K);
    default: return 0;
    }
}

void kn_call_cost(const kn_deltas *dl, int64_t nnz, int64_t B, int64_t G, bool acc,
                  double *bytes, double *flops)
{
    const double N = (double)dl->N, K = (double)dl->K, b = (double)B;
    *bytes = (double)G * kn_delta_bytes(dl, nnz) + 4.0 * b * K + 4.0 * b * N * (acc ? 2.0 : 1.0);
    double per_row;
    switch (dl->fmt) {
    case KN_FMT_NMQ:
        per_row = 2.0 * N * (double)((dl->K + dl->nm_m - 1) / dl->nm_m * dl->nm_n);
        break;
    case KN_FMT_CSR: per_row = 2.0 * (double)nnz; break;
    case KN_FMT_LOWRANK: per_row = 2.0 * (double)dl->rank * (N + K); break;
    default: per_row = 2.0 * N * K; break;
    }
    *flops = per_row * b;
}
