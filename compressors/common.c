/* common.c: the traits table, parameters (defaults, checks, canonical text), the part allocator
 * and the helpers every method shares (delta extraction, scales, seeded positions). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compressors/internal.h"
#include "core/alloc.h"
#include "core/hash.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

const dc_method *const dc_methods[] = {
    &dc_method_fp16,     &dc_method_rtn,      &dc_method_magprune, &dc_method_dare,
    &dc_method_lowrank,  &dc_method_bitdelta, &dc_method_deltazip, &dc_method_deltadq,
};
const size_t dc_nmethods = sizeof dc_methods / sizeof dc_methods[0];

const dc_method *dc_method_find(const char *name)
{
    for (size_t i = 0; i < dc_nmethods; i++)
        if (strcmp(dc_methods[i]->name, name) == 0)
            return dc_methods[i];
    return NULL;
}

/* ---- parts ----------------------------------------------------------------------------------- */

void dc_packed_free(dc_packed *pk)
{
    if (!pk)
        return;
    for (int i = 0; i < pk->nparts; i++)
        if (pk->parts[i].owned)
            db_free(pk->parts[i].data);
    memset(pk, 0, sizeof *pk);
}

const dc_part *dc_packed_part(const dc_packed *pk, const char *suffix)
{
    for (int i = 0; i < pk->nparts; i++)
        if (strcmp(pk->parts[i].suffix, suffix) == 0)
            return &pk->parts[i];
    return NULL;
}

size_t dc_packed_bytes(const dc_packed *pk)
{
    size_t n = 0;
    for (int i = 0; i < pk->nparts; i++)
        n += pk->parts[i].nbytes;
    return n;
}

void dc_layout_set(dc_part *p, const char *suffix, db_dtype dt, int ndim, int64_t d0, int64_t d1)
{
    memset(p, 0, sizeof *p);
    p->suffix = suffix;
    p->dtype = dt;
    p->ndim = ndim;
    p->shape[0] = d0;
    p->shape[1] = ndim > 1 ? d1 : 0;
    if (d0 >= 0)
        p->nbytes = (size_t)d0 * (size_t)(ndim > 1 ? d1 : 1) * dtype_size(dt);
}

db_status dc_part_add(dc_packed *pk, const char *suffix, db_dtype dt, int ndim, int64_t d0,
                      int64_t d1, void **data)
{
    if (pk->nparts >= DC_MAX_PARTS)
        return db_error(DB_ERR_INTERNAL, "compress: too many parts");
    dc_part *p = &pk->parts[pk->nparts];
    dc_layout_set(p, suffix, dt, ndim, d0, d1);
    /* at least one byte so an empty part (nnz = 0) still has a valid pointer */
    p->data = db_calloc(p->nbytes ? p->nbytes : 1, 1);
    if (!p->data)
        return db_error(DB_ERR_NOMEM, "compress: out of memory for %zu bytes (%s)", p->nbytes,
                        suffix);
    p->owned = true;
    pk->nparts++;
    *data = p->data;
    return DB_OK;
}

db_status dc_part_need(const dc_packed *pk, const char *suffix, db_dtype dt, const void **data)
{
    const dc_part *p = dc_packed_part(pk, suffix);
    if (!p)
        return db_error(DB_ERR_FORMAT, "%s: missing part '%s'", pk->method->name, suffix);
    if (p->dtype != dt)
        return db_error(DB_ERR_FORMAT, "%s: part '%s' has dtype %s, expected %s", pk->method->name,
                        suffix, dtype_name(p->dtype), dtype_name(dt));
    *data = p->data;
    return DB_OK;
}

/* ---- parameters ------------------------------------------------------------------------------ */

const char *dc_lossless_name(dc_lossless l)
{
    return l == DC_LOSSLESS_ZSTD ? "zstd" : l == DC_LOSSLESS_DEFLATE ? "deflate" : "none";
}

db_status dc_lossless_parse(const char *s, dc_lossless *out)
{
    if (!strcmp(s, "none"))
        *out = DC_LOSSLESS_NONE;
    else if (!strcmp(s, "zstd"))
        *out = DC_LOSSLESS_ZSTD;
    else if (!strcmp(s, "deflate"))
        *out = DC_LOSSLESS_DEFLATE;
    else
        return db_error(DB_ERR_ARG, "lossless stage '%s' is not none, zstd or deflate", s);
    return DB_OK;
}

void dc_params_default(const dc_method *m, dc_params *p)
{
    memset(p, 0, sizeof *p);
    p->blocksize = 128;
    p->damp = 0.01;
    p->parts = 1;
    if (m->defaults)
        m->defaults(p);
}

db_status dc_params_check(const dc_method *m, const dc_params *p, int64_t N, int64_t K)
{
    db_status s = m->check ? m->check(p) : DB_OK;
    if (s == DB_OK && N > 0 && K > 0 && m->check_shape)
        s = m->check_shape(p, N, K);
    return s;
}

/* The shortest %g spelling that parses back to exactly v (0.9, not 0.90000000000000002). */
static const char *shortest(double v, char *buf, size_t n)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

void dc_params_format(const dc_method *m, const dc_params *p, char *buf, size_t n)
{
    char num[32];
    size_t o = 0;
    buf[0] = '\0';
#define APPEND(...)                                                                                \
    do {                                                                                           \
        int k_ = snprintf(buf + o, o < n ? n - o : 0, __VA_ARGS__);                                \
        if (k_ > 0)                                                                                \
            o += (size_t)k_;                                                                       \
    } while (0)
    if (m->uses & DC_P_BITS)
        APPEND("bits=%d ", p->bits);
    if (m->uses & DC_P_GROUP)
        APPEND("group=%" PRId64 " ", p->group);
    if (m->uses & DC_P_NM)
        APPEND("nm=%d:%d ", p->nm_n, p->nm_m);
    if (m->uses & DC_P_DROP)
        APPEND("drop=%s ", shortest(p->drop, num, sizeof num));
    if (m->uses & DC_P_RANK)
        APPEND("rank=%" PRId64 " ", p->rank);
    if (m->uses & DC_P_SYM)
        APPEND("sym=%d ", p->sym);
    if (m->uses & DC_P_PARTS)
        APPEND("parts=%d ", p->parts);
    if (m->uses & DC_P_SEED)
        APPEND("seed=%" PRIu64 " ", p->seed);
    if (m->uses & DC_P_CALIB)
        APPEND("blocksize=%d damp=%s ", p->blocksize, shortest(p->damp, num, sizeof num));
    APPEND("lossless=%s", dc_lossless_name(p->lossless));
#undef APPEND
}

db_status dc_params_parse(const dc_method *m, const char *text, dc_params *p)
{
    dc_params_default(m, p);
    char buf[512];
    if (strlen(text) >= sizeof buf)
        return db_error(DB_ERR_FORMAT, "parameters too long");
    strcpy(buf, text);
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return db_error(DB_ERR_FORMAT, "parameter '%s' is not key=value", tok);
        *eq = '\0';
        const char *k = tok, *v = eq + 1;
        char *end = NULL;
        int ok = 1;
        if (!strcmp(k, "bits"))
            p->bits = (int)strtol(v, &end, 10);
        else if (!strcmp(k, "group"))
            p->group = strtoll(v, &end, 10);
        else if (!strcmp(k, "nm"))
            ok = sscanf(v, "%d:%d", &p->nm_n, &p->nm_m) == 2, end = (char *)v + strlen(v);
        else if (!strcmp(k, "drop"))
            p->drop = strtod(v, &end);
        else if (!strcmp(k, "rank"))
            p->rank = strtoll(v, &end, 10);
        else if (!strcmp(k, "sym"))
            p->sym = (int)strtol(v, &end, 10);
        else if (!strcmp(k, "parts"))
            p->parts = (int)strtol(v, &end, 10);
        else if (!strcmp(k, "seed"))
            p->seed = strtoull(v, &end, 10);
        else if (!strcmp(k, "blocksize"))
            p->blocksize = (int)strtol(v, &end, 10);
        else if (!strcmp(k, "damp"))
            p->damp = strtod(v, &end);
        else if (!strcmp(k, "lossless")) {
            if (dc_lossless_parse(v, &p->lossless) != DB_OK)
                return db_error(DB_ERR_FORMAT, "unknown lossless stage '%s'", v);
            end = (char *)v + strlen(v);
        } else
            return db_error(DB_ERR_FORMAT, "unknown parameter '%s'", k);
        if (!ok || !end || end == v || *end)
            return db_error(DB_ERR_FORMAT, "parameter %s has a bad value '%s'", k, v);
    }
    return dc_params_check(m, p, 0, 0) == DB_OK
               ? DB_OK
               : db_error(DB_ERR_FORMAT, "impossible parameters '%s' for %s", text, m->name);
}

db_status dc_encode(const dc_method *m, const dc_src *src, const dc_params *p, const float *H,
                    dc_packed *out)
{
    memset(out, 0, sizeof *out);
    if (src->N <= 0 || src->K <= 0)
        return db_error(DB_ERR_SHAPE, "%s: empty tensor %s", m->name, src->name);
    if (src->dtype != DT_F16 && src->dtype != DT_BF16 && src->dtype != DT_F32)
        return db_error(DB_ERR_DTYPE, "%s: %s has dtype %s (F16, BF16 or F32 expected)", m->name,
                        src->name, dtype_name(src->dtype));
    db_status s = dc_params_check(m, p, src->N, src->K);
    if (s)
        return s;
    out->method = m;
    out->params = *p;
    out->N = src->N;
    out->K = src->K;
    out->tid = hash_str(src->name);
    s = m->encode(src, p, (m->uses & DC_P_CALIB) ? H : NULL, out);
    if (s)
        dc_packed_free(out);
    return s;
}

/* ---- delta extraction ------------------------------------------------------------------------ */

#if defined(__x86_64__)
__attribute__((target("avx2,f16c"))) static void delta_f16_avx2(const uint16_t *a,
                                                                  const uint16_t *b, float *d,
                                                                  size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i)));
        __m256 y = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + i)));
        _mm256_storeu_ps(d + i, _mm256_sub_ps(y, x));
    }
    for (; i < n; i++)
        d[i] = f16_to_f32(b[i]) - f16_to_f32(a[i]);
}

static int have_f16c(void)
{
    static int v = -1;
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
    }
    return v;
}
#endif

db_status dc_src_delta(const dc_src *src, float *delta)
{
    size_t n = (size_t)src->N * (size_t)src->K;
    switch (src->dtype) {
    case DT_F16:
#if defined(__x86_64__)
        if (have_f16c()) {
            delta_f16_avx2(src->base, src->target, delta, n);
            break;
        }
#endif
        for (size_t i = 0; i < n; i++)
            delta[i] = f16_to_f32(((const uint16_t *)src->target)[i]) -
                       f16_to_f32(((const uint16_t *)src->base)[i]);
        break;
    case DT_BF16:
        for (size_t i = 0; i < n; i++)
            delta[i] = bf16_to_f32(((const uint16_t *)src->target)[i]) -
                       bf16_to_f32(((const uint16_t *)src->base)[i]);
        break;
    case DT_F32:
        for (size_t i = 0; i < n; i++)
            delta[i] = ((const float *)src->target)[i] - ((const float *)src->base)[i];
        break;
    default:
        return db_error(DB_ERR_DTYPE, "%s: dtype %s is not a float type", src->name,
                        dtype_name(src->dtype));
    }
    return DB_OK;
}

/* ---- BitDelta's fused pass (here because it shares the F16C dispatch) ------------------------ */

#if defined(__x86_64__)
/* Sign bits (1 when Δ >= 0) and Σ|Δ| of rows [r0, r1), F16 input, 32 columns per word. */
__attribute__((target("avx2,f16c"))) static void bitdelta_f16_avx2(const uint16_t *base,
                                                                     const uint16_t *tgt,
                                                                     int64_t K, int64_t r0,
                                                                     int64_t r1, uint32_t *signs,
                                                                     double *sum_abs)
{
    const int64_t W = dc_fmt_words(K, 1), K32 = K / 32 * 32;
    const __m256 zero = _mm256_setzero_ps(), absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    double total = 0.0;
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *a = base + r * K, *b = tgt + r * K;
        uint32_t *row = signs + r * W;
        __m256 acc = _mm256_setzero_ps();
        int64_t k = 0;
        for (; k < K32; k += 32) {
            uint32_t word = 0;
            for (int j = 0; j < 4; j++) {
                __m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + k + 8 * j)));
                __m256 y = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + k + 8 * j)));
                __m256 d = _mm256_sub_ps(y, x);
                word |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(d, zero, _CMP_GE_OQ)) << (8 * j);
                acc = _mm256_add_ps(acc, _mm256_and_ps(d, absmask));
            }
            row[k / 32] = word;
        }
        float lanes[8];
        _mm256_storeu_ps(lanes, acc);
        double s = 0.0;
        for (int j = 0; j < 8; j++)
            s += lanes[j];
        uint32_t word = 0;
        for (; k < K; k++) {
            float d = f16_to_f32(b[k]) - f16_to_f32(a[k]);
            word |= (uint32_t)(d >= 0.0f) << (k & 31);
            s += fabsf(d);
        }
        if (K32 < K)
            row[K32 / 32] = word;
        total += s;
    }
    *sum_abs += total;
}
#endif

void dc_bitdelta_rows(const dc_src *src, int64_t r0, int64_t r1, uint32_t *signs, double *sum_abs)
{
#if defined(__x86_64__)
    if (src->dtype == DT_F16 && have_f16c()) {
        bitdelta_f16_avx2(src->base, src->target, src->K, r0, r1, signs, sum_abs);
        return;
    }
#endif
    const int64_t K = src->K, W = dc_fmt_words(K, 1);
    double total = 0.0;
    for (int64_t r = r0; r < r1; r++) {
        uint32_t *row = signs + r * W;
        memset(row, 0, sizeof *row * (size_t)W);
        double s = 0.0;
        for (int64_t k = 0; k < K; k++) {
            size_t i = (size_t)(r * K + k);
            float d;
            if (src->dtype == DT_F16)
                d = f16_to_f32(((const uint16_t *)src->target)[i]) -
                    f16_to_f32(((const uint16_t *)src->base)[i]);
            else if (src->dtype == DT_BF16)
                d = bf16_to_f32(((const uint16_t *)src->target)[i]) -
                    bf16_to_f32(((const uint16_t *)src->base)[i]);
            else
                d = ((const float *)src->target)[i] - ((const float *)src->base)[i];
            row[k >> 5] |= (uint32_t)(d >= 0.0f) << (k & 31);
            s += fabsf(d);
        }
        total += s;
    }
    *sum_abs += total;
}

/* ---- scales and positions -------------------------------------------------------------------- */

uint16_t dc_scale_f16_up(float s)
{
    if (!(s > 0.0f))
        s = 1.0f;
    if (s > 65504.0f)
        s = 65504.0f;
    uint16_t h = f32_to_f16(s);
    if (f16_to_f32(h) < s)
        h++; /* positive fp16 values are ordered like their bit patterns */
    return h;
}

float dc_sym_scale(float amax, int bits)
{
    if (!(amax > 0.0f))
        amax = 1.0f;
    return 2.0f * amax / (float)((1 << bits) - 1);
}

uint64_t dc_dare_threshold(double p)
{
    if (p <= 0.0)
        return 0;
    /* p * 2^64, computed in long double so p close to 1 does not overflow */
    long double t = (long double)p * 18446744073709551616.0L;
    return t >= 18446744073709551615.0L ? UINT64_MAX : (uint64_t)t;
}

int64_t dc_dq_c(int64_t G, double drop)
{
    int64_t c = (int64_t)llround((double)G * (1.0 - drop));
    if (c < 1)
        c = 1;
    if (c > G)
        c = G;
    return c;
}

int64_t dc_dq_row_kept(int64_t K, int64_t G, int64_t c)
{
    int64_t full = K / G, t = K - full * G;
    return full * c + (t ? dc_dq_keep(t, G, c) : 0);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int64_t dc_dq_positions(uint64_t seed, uint64_t tid, int64_t r, int64_t K, int64_t G, int64_t c,
                        int32_t *pos, int32_t *scratch)
{
    db_rng rng;
    rng_stream(&rng, seed, dc_row_stream(tid, r));
    int64_t n = 0;
    for (int64_t g0 = 0; g0 < K; g0 += G) {
        int64_t t = K - g0 < G ? K - g0 : G;
        int64_t keep = t == G ? c : dc_dq_keep(t, G, c);
        /* partial Fisher-Yates: the first `keep` entries are a uniform sample without
         * replacement; then sorted so the stored codes follow column order */
        for (int64_t j = 0; j < t; j++)
            scratch[j] = (int32_t)j;
        for (int64_t j = 0; j < keep; j++) {
            int64_t k = j + (int64_t)rng_below(&rng, (uint64_t)(t - j));
            int32_t tmp = scratch[j];
            scratch[j] = scratch[k];
            scratch[k] = tmp;
        }
        qsort(scratch, (size_t)keep, sizeof *scratch, cmp_i32);
        for (int64_t j = 0; j < keep; j++)
            pos[n++] = (int32_t)(g0 + scratch[j]);
    }
    return n;
}
