/* check_compressors.c: tests of compressors/ through the traits table: round trips within each
 * method's stated bound over many shapes (tails not multiples of 32, of the group, of m), packing
 * checked bit by bit against an independent scalar packer, apply_ref against decode + a dense
 * product for batches 1..17, DeltaZip (H = I equals RTN + magnitude n:m; a real Hessian beats
 * H = I on the calibration loss; dead columns), DARE/DeltaDQ positions regenerated from the
 * seed, determinism, impossible parameters, and the container (write, open, validate, decode,
 * refuse another base, lossless payloads, ratio arithmetic). */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compressors/compressor.h"
#include "compressors/dstats.h"
#include "compressors/internal.h"
#include "compressors/lapack.h"
#include "core/alloc.h"
#include "core/half.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "testlib.h"

/* apply_ref vs decode + dense product: |Δy| <= APPLY_TOL (Σ_k |Δ̂_nk x_bk| + tiny). Both sides
 * accumulate in double; the difference is the final f32 rounding and f16 scale products. */
#define APPLY_TOL 1e-5

static const int64_t shapes[][2] = {{1, 1},  {1, 7},    {3, 5},   {7, 33},  {16, 64},
                                    {33, 130}, {64, 257}, {5, 1000}, {128, 96}};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

typedef struct {
    int64_t N, K;
    uint16_t *base, *tgt;
    float *d; /* the exact f32 delta of the f16 inputs */
    dc_src src;
    char name[64];
} pair;

/* A random f16 pair: base ~ N(0, 0.02²), delta heavy-tailed ~ 1e-3 with a few exact zeros. */
static void pair_make(pair *p, int64_t N, int64_t K, uint64_t seed)
{
    p->N = N, p->K = K;
    size_t n = (size_t)(N * K);
    p->base = malloc(n * 2), p->tgt = malloc(n * 2), p->d = malloc(n * 4);
    db_rng r;
    rng_stream(&r, seed, (uint64_t)(N * 100003 + K));
    for (size_t i = 0; i < n; i++) {
        float b = (float)(0.02 * rng_normal(&r));
        double dd = 1e-3 * rng_normal(&r) * exp(0.7 * rng_normal(&r));
        if (rng_below(&r, 17) == 0)
            dd = 0;
        p->base[i] = f32_to_f16(b);
        p->tgt[i] = dd == 0 ? p->base[i] : f32_to_f16(f16_to_f32(p->base[i]) + (float)dd);
        p->d[i] = f16_to_f32(p->tgt[i]) - f16_to_f32(p->base[i]);
    }
    snprintf(p->name, sizeof p->name, "model.layers.%d.mlp.up_proj.weight", (int)(seed % 7));
    p->src = (dc_src){p->name, N, K, DT_F16, p->base, p->tgt};
}

static void pair_free(pair *p) { free(p->base), free(p->tgt), free(p->d); }

/* Parameters valid for [N, K] that exercise tails: group 32/5, n:m 2:4 and 3:7, rank <= 4. */
static void test_params(const dc_method *m, int variant, int64_t N, int64_t K, dc_params *p)
{
    dc_params_default(m, p);
    int64_t mn = N < K ? N : K;
    if (!strcmp(m->name, "rtn")) {
        p->bits = 1 + variant % 8;
        p->group = variant % 3 == 0 ? 0 : variant % 3 == 1 ? 32 : 5;
        p->sym = p->bits >= 2 && variant % 2;
    } else if (!strcmp(m->name, "magprune")) {
        if (variant % 2)
            p->nm_n = 3, p->nm_m = 7;
        else if (variant % 3 == 0)
            p->nm_n = 2, p->nm_m = 4;
        else
            p->drop = 0.7;
    } else if (!strcmp(m->name, "dare")) {
        p->drop = variant % 2 ? 0.5 : 0.9;
        p->seed = (uint64_t)variant;
    } else if (!strcmp(m->name, "lowrank")) {
        p->rank = mn < 4 ? mn : 4;
    } else if (!strcmp(m->name, "deltazip")) {
        p->bits = variant % 4 == 3 ? 16 : variant % 2 ? 2 : 4; /* 16: pruning only */
        if (variant % 3 == 2)
            p->nm_n = 3, p->nm_m = 7, p->blocksize = 128;
        p->lossless = DC_LOSSLESS_NONE;
    } else if (!strcmp(m->name, "deltadq")) {
        p->bits = variant % 2 ? 4 : variant % 4 ? 3 : 8; /* stages 2+2, 2+1, 2+2+2+2 */
        p->parts = variant % 2 ? 2 : variant % 4 ? 2 : 4;
        p->group = variant % 3 == 0 ? 16 : variant % 3 == 1 ? 7 : 0; /* 0: searched */
        p->drop = 0.6;
        p->seed = 11;
    }
}

/* ---- independent references ------------------------------------------------------------------ */

static void naive_put(uint32_t *row, int64_t i, int k, uint32_t v)
{
    for (int b = 0; b < k; b++)
        if (v >> b & 1) {
            int64_t bit = i * k + b;
            row[bit / 32] |= 1u << (bit % 32);
        }
}

static uint16_t scale_up(float s)
{
    uint16_t h = f32_to_f16(s);
    if (f16_to_f32(h) < s)
        h++;
    return h;
}

/* ---- round trips within the stated bounds ------------------------------------------------------ */

static void check_bound(const dc_method *m, const pair *pr, const dc_packed *pk, const float *dec)
{
    const int64_t N = pr->N, K = pr->K;
    const dc_params *p = &pk->params;
    const float *d = pr->d;
    if (!strcmp(m->name, "fp16")) {
        for (int64_t i = 0; i < N * K; i++)
            ck_assert_float_eq(dec[i], f16_to_f32(f32_to_f16(d[i])));
    } else if (!strcmp(m->name, "rtn")) {
        const uint16_t *sc = dc_packed_part(pk, "scale")->data;
        int64_t G = p->group ? p->group : K, ng = (K + G - 1) / G;
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < K; k++) {
                float s = f16_to_f32(sc[n * ng + k / G]);
                ck_assert_msg(fabsf(dec[n * K + k] - d[n * K + k]) <= 0.5f * s * 1.0001f + 1e-12f,
                              "rtn bits %d group %lld sym %d [%lld,%lld] err %g > s/2 %g", p->bits,
                              (long long)p->group, p->sym, (long long)n, (long long)k,
                              fabsf(dec[n * K + k] - d[n * K + k]), 0.5 * s);
            }
    } else if (!strcmp(m->name, "magprune")) {
        int64_t kept = 0;
        float minkept = INFINITY, maxpruned = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t k = 0; k < K; k++) {
                float v = dec[n * K + k], x = d[n * K + k];
                bool is_kept = v != 0.0f || (x == 0.0f);
                if (v != 0.0f) {
                    ck_assert_float_eq(v, f16_to_f32(f32_to_f16(x)));
                    kept++;
                }
                if (p->nm_m) /* per group: every pruned |x| <= every kept |x| */
                    continue;
                if (v != 0.0f)
                    minkept = fabsf(x) < minkept ? fabsf(x) : minkept;
                else if (!is_kept)
                    maxpruned = fabsf(x) > maxpruned ? fabsf(x) : maxpruned;
            }
        if (p->nm_m) {
            for (int64_t n = 0; n < N; n++)
                for (int64_t g = 0; g < K; g += p->nm_m) {
                    int64_t t = K - g < p->nm_m ? K - g : p->nm_m, nk = 0;
                    float mk = INFINITY, mp = 0;
                    for (int64_t c = 0; c < t; c++) {
                        float v = dec[n * K + g + c], x = fabsf(d[n * K + g + c]);
                        if (v != 0.0f)
                            nk++, mk = x < mk ? x : mk;
                        else
                            mp = x > mp ? x : mp;
                    }
                    ck_assert_int_le(nk, p->nm_n);
                    ck_assert(nk == 0 || mp <= mk);
                }
        } else {
            ck_assert(maxpruned <= minkept || kept == 0);
            ck_assert_int_le(kept, llround((double)N * K * (1 - p->drop)));
        }
    } else if (!strcmp(m->name, "dare")) {
        /* positions regenerated independently of the method: one draw per column per row */
        uint64_t thr = dc_dare_threshold(p->drop), tid = hash_str(pr->name);
        for (int64_t n = 0; n < N; n++) {
            db_rng r;
            rng_stream(&r, p->seed, dc_row_stream(tid, n));
            for (int64_t k = 0; k < K; k++) {
                bool keep = rng_u64(&r) >= thr;
                float want = keep ? f16_to_f32(f32_to_f16(d[n * K + k] * (float)(1.0 / (1.0 - p->drop)))) : 0.0f;
                ck_assert_float_eq(dec[n * K + k], want);
            }
        }
    } else if (!strcmp(m->name, "lowrank")) {
        int mm = (int)K, nn = (int)N, mn = mm < nn ? mm : nn, info = 0, lwork = -1;
        float *a = malloc(sizeof *a * (size_t)(N * K)), *s = malloc(sizeof *s * (size_t)mn), wq;
        int *iw = malloc(sizeof *iw * 8 * (size_t)mn);
        memcpy(a, d, sizeof *a * (size_t)(N * K));
        sgesdd_("N", &mm, &nn, a, &mm, s, NULL, &mm, NULL, &mn, &wq, &lwork, iw, &info, 1);
        lwork = (int)wq + 1;
        float *work = malloc(sizeof *work * (size_t)lwork);
        sgesdd_("N", &mm, &nn, a, &mm, s, NULL, &mm, NULL, &mn, work, &lwork, iw, &info, 1);
        ck_assert_int_eq(info, 0);
        double tail = 0, all = 0, e2 = 0;
        for (int i = 0; i < mn; i++) {
            all += (double)s[i] * s[i];
            if (i >= p->rank)
                tail += (double)s[i] * s[i];
        }
        for (int64_t i = 0; i < N * K; i++)
            e2 += ((double)dec[i] - d[i]) * ((double)dec[i] - d[i]);
        ck_assert_msg(sqrt(e2) <= sqrt(tail) * 1.001 + 4e-3 * sqrt(all) + 1e-12,
                      "lowrank %lldx%lld r %lld: err %g > tail %g", (long long)N, (long long)K,
                      (long long)p->rank, sqrt(e2), sqrt(tail));
        free(a), free(s), free(iw), free(work);
    } else if (!strcmp(m->name, "bitdelta")) {
        double sum = 0;
        for (int64_t i = 0; i < N * K; i++)
            sum += fabs(d[i]);
        float a = (float)(sum / (double)(N * K));
        const float *sc = dc_packed_part(pk, "scale")->data;
        ck_assert(fabsf(sc[0] - a) <= 1e-6f * a + 1e-30f);
        for (int64_t i = 0; i < N * K; i++)
            ck_assert_float_eq(dec[i], d[i] >= 0 ? sc[0] : -sc[0]);
    } else if (!strcmp(m->name, "deltazip")) {
        /* H = I: exactly symmetric per-row RTN of the n largest |d| of every m (ties: lower);
         * 16 bits: those n kept as their fp16 values */
        int bits = p->bits, z = 1 << (bits - 1), maxq = (1 << bits) - 1;
        for (int64_t n = 0; n < N; n++) {
            float amax = 0;
            for (int64_t k = 0; k < K; k++)
                amax = fmaxf(amax, fabsf(d[n * K + k]));
            float s = f16_to_f32(scale_up(2.0f * (amax > 0 ? amax : 1.0f) / (float)maxq));
            for (int64_t g = 0; g < K; g += p->nm_m) {
                int64_t t = K - g < p->nm_m ? K - g : p->nm_m;
                for (int64_t c = 0; c < t; c++) {
                    int64_t larger = 0; /* rank of |d| within the group, ties to the lower index */
                    float x = fabsf(d[n * K + g + c]);
                    for (int64_t e = 0; e < t; e++) {
                        float y = fabsf(d[n * K + g + e]);
                        larger += y > x || (y == x && e < c);
                    }
                    float want = 0;
                    if (larger < p->nm_n && bits == 16) {
                        want = f16_to_f32(f32_to_f16(d[n * K + g + c]));
                    } else if (larger < p->nm_n) {
                        float q = nearbyintf(d[n * K + g + c] / s) + (float)z;
                        q = q < 0 ? 0 : q > maxq ? (float)maxq : q;
                        want = s * (q - (float)z);
                    }
                    ck_assert_msg(dec[n * K + g + c] == want, "deltazip H=I [%lld,%lld] %g != %g",
                                  (long long)n, (long long)(g + c), dec[n * K + g + c], want);
                }
            }
        }
    } else if (!strcmp(m->name, "deltadq")) {
        int64_t G = p->group ? p->group : ((const uint16_t *)dc_packed_part(pk, "group")->data)[0];
        int64_t c = dc_dq_c(G, p->drop);
        const uint16_t *sc = dc_packed_part(pk, "scale")->data;
        const float s = f16_to_f32(sc[p->parts - 1]); /* the last residual stage's step */
        int32_t *pos = malloc(sizeof *pos * (size_t)K), *scr = malloc(sizeof *scr * (size_t)G);
        for (int64_t n = 0; n < N; n++) {
            int64_t kept = dc_dq_positions(p->seed, hash_str(pr->name), n, K, G, c, pos, scr);
            ck_assert_int_eq(kept, dc_dq_row_kept(K, G, c));
            char *is = calloc((size_t)K, 1);
            for (int64_t j = 0; j < kept; j++)
                is[pos[j]] = 1;
            for (int64_t k = 0; k < K; k++) {
                if (!is[k]) {
                    ck_assert_float_eq(dec[n * K + k], 0.0f);
                    continue;
                }
                int64_t g0 = k / G * G, t = K - g0 < G ? K - g0 : G;
                int64_t gk = t == G ? c : dc_dq_keep(t, G, c);
                float want = d[n * K + k] * (float)t / (float)gk;
                ck_assert(fabsf(dec[n * K + k] - want) <= 0.5f * s * 1.0001f + 1e-6f * fabsf(want) + 1e-12f);
            }
            /* a fixed count per group */
            for (int64_t g0 = 0; g0 < K; g0 += G) {
                int64_t t = K - g0 < G ? K - g0 : G, cnt = 0;
                for (int64_t k = g0; k < g0 + t; k++)
                    cnt += is[k];
                ck_assert_int_eq(cnt, t == G ? c : dc_dq_keep(t, G, c));
            }
            free(is);
        }
        free(pos), free(scr);
    } else {
        ck_abort_msg("method %s has no bound check: add one", m->name);
    }
}

START_TEST(test_roundtrip_bounds)
{
    const dc_method *m = dc_methods[_i];
    for (size_t si = 0; si < NSHAPES; si++)
        for (int variant = 0; variant < 6; variant++) {
            pair pr;
            pair_make(&pr, shapes[si][0], shapes[si][1], 1000 + (uint64_t)variant);
            dc_params p;
            test_params(m, variant, pr.N, pr.K, &p);
            dc_packed pk;
            db_status s = dc_encode(m, &pr.src, &p, NULL, &pk);
            ck_assert_msg(s == DB_OK, "%s encode %lldx%lld: %s", m->name, (long long)pr.N,
                          (long long)pr.K, db_errmsg());
            /* the format's byte arithmetic */
            if (m->bytes_exact)
                ck_assert_int_eq((int64_t)dc_packed_bytes(&pk), (int64_t)m->bytes(&p, pr.N, pr.K));
            dc_part lay[DC_MAX_PARTS];
            int np = m->layout(&p, pr.N, pr.K, lay);
            ck_assert_int_eq(np, pk.nparts);
            for (int i = 0; i < np; i++) {
                ck_assert_str_eq(lay[i].suffix, pk.parts[i].suffix);
                ck_assert_int_eq(lay[i].dtype, pk.parts[i].dtype);
                if (lay[i].shape[0] >= 0)
                    ck_assert_int_eq(lay[i].nbytes, pk.parts[i].nbytes);
            }
            float *dec = malloc(sizeof *dec * (size_t)(pr.N * pr.K));
            ck_assert_int_eq(m->decode_dense(&pk, dec), DB_OK);
            check_bound(m, &pr, &pk, dec);
            free(dec);
            dc_packed_free(&pk);
            pair_free(&pr);
            if (m->uses == 0 || !strcmp(m->name, "lowrank"))
                break; /* no parameters to vary */
        }
}
END_TEST

/* ---- packing --------------------------------------------------------------------------------- */

START_TEST(test_bitstream_packing)
{
    db_rng r;
    rng_seed(&r, 5);
    for (int k = 1; k <= 16; k++)
        for (int64_t L = 1; L < 200; L += 1 + L / 4) {
            int64_t W = dc_fmt_words(L, k);
            ck_assert_int_eq(W, (L * k + 31) / 32);
            uint32_t *a = calloc((size_t)W + 1, 4), *b = calloc((size_t)W + 1, 4), *v = malloc(4 * (size_t)L);
            for (int64_t i = 0; i < L; i++) {
                v[i] = (uint32_t)rng_below(&r, 1u << k);
                dc_fmt_put(a, i, k, v[i]);
                naive_put(b, i, k, v[i]);
            }
            ck_assert_mem_eq(a, b, 4 * (size_t)(W + 1)); /* also: nothing written past W */
            for (int64_t i = 0; i < L; i++)
                ck_assert_uint_eq(dc_fmt_get(a, i, k), v[i]);
            free(a), free(b), free(v);
        }
    ck_assert_int_eq(dc_fmt_idx_bits(2), 1);
    ck_assert_int_eq(dc_fmt_idx_bits(4), 2);
    ck_assert_int_eq(dc_fmt_idx_bits(7), 3);
    ck_assert_int_eq(dc_fmt_idx_bits(64), 6);
}
END_TEST

START_TEST(test_bitdelta_packing_exact)
{
    const dc_method *m = dc_method_find("bitdelta");
    for (size_t si = 0; si < NSHAPES; si++) {
        pair pr;
        pair_make(&pr, shapes[si][0], shapes[si][1], 77);
        dc_params p;
        dc_params_default(m, &p);
        dc_packed pk;
        ck_assert_int_eq(dc_encode(m, &pr.src, &p, NULL, &pk), DB_OK);
        const dc_part *sg = dc_packed_part(&pk, "signs");
        int64_t W = (pr.K + 31) / 32;
        ck_assert_int_eq(sg->shape[0], pr.N);
        ck_assert_int_eq(sg->shape[1], W);
        uint32_t *want = calloc((size_t)(pr.N * W), 4);
        for (int64_t n = 0; n < pr.N; n++)
            for (int64_t k = 0; k < pr.K; k++) /* BitDelta: mask = 1 unless diff < 0 */
                if (!(pr.d[n * pr.K + k] < 0))
                    want[n * W + k / 32] |= 1u << (k % 32);
        ck_assert_mem_eq(sg->data, want, 4 * (size_t)(pr.N * W));
        free(want);
        dc_packed_free(&pk);
        pair_free(&pr);
    }
}
END_TEST

/* The F16C fast path and the scalar path of BitDelta agree bit for bit (F32 input = scalar). */
START_TEST(test_bitdelta_fast_equals_scalar)
{
    pair pr;
    pair_make(&pr, 37, 1000, 9);
    float *b32 = malloc(4 * 37 * 1000), *t32 = malloc(4 * 37 * 1000);
    for (int i = 0; i < 37 * 1000; i++)
        b32[i] = f16_to_f32(pr.base[i]), t32[i] = f16_to_f32(pr.tgt[i]);
    dc_src s32 = {pr.name, 37, 1000, DT_F32, b32, t32};
    const dc_method *m = dc_method_find("bitdelta");
    dc_params p;
    dc_params_default(m, &p);
    dc_packed a, b;
    ck_assert_int_eq(dc_encode(m, &pr.src, &p, NULL, &a), DB_OK);
    ck_assert_int_eq(dc_encode(m, &s32, &p, NULL, &b), DB_OK);
    ck_assert_mem_eq(a.parts[0].data, b.parts[0].data, a.parts[0].nbytes);
    float sa = *(float *)a.parts[1].data, sb = *(float *)b.parts[1].data;
    ck_assert(fabsf(sa - sb) <= 1e-6f * sa);
    dc_packed_free(&a), dc_packed_free(&b);
    free(b32), free(t32);
    pair_free(&pr);
}
END_TEST

/* ---- apply_ref against decode + dense ----------------------------------------------------------- */

START_TEST(test_apply_matches_dense)
{
    const dc_method *m = dc_methods[_i];
    static const int64_t ash[][2] = {{1, 1}, {7, 33}, {33, 130}, {20, 257}};
    for (size_t si = 0; si < sizeof ash / sizeof ash[0]; si++) {
        pair pr;
        pair_make(&pr, ash[si][0], ash[si][1], 31);
        const int64_t N = pr.N, K = pr.K;
        dc_params p;
        test_params(m, (int)si, N, K, &p);
        dc_packed pk;
        ck_assert_int_eq(dc_encode(m, &pr.src, &p, NULL, &pk), DB_OK);
        float *dec = malloc(sizeof *dec * (size_t)(N * K));
        ck_assert_int_eq(m->decode_dense(&pk, dec), DB_OK);
        db_rng r;
        rng_seed(&r, 3);
        for (int64_t B = 1; B <= 17; B++) {
            float *x = malloc(sizeof *x * (size_t)(B * K)), *y = malloc(sizeof *y * (size_t)(B * N));
            for (int64_t i = 0; i < B * K; i++)
                x[i] = (float)rng_normal(&r);
            for (int64_t i = 0; i < B * N; i++)
                y[i] = (float)rng_normal(&r) * 1e-3f;
            float *y0 = malloc(sizeof *y0 * (size_t)(B * N));
            memcpy(y0, y, sizeof *y * (size_t)(B * N));
            ck_assert_int_eq(m->apply_ref(&pk, B, x, y), DB_OK);
            for (int64_t b = 0; b < B; b++)
                for (int64_t n = 0; n < N; n++) {
                    double want = y0[b * N + n], mag = fabs(want);
                    for (int64_t k = 0; k < K; k++) {
                        want += (double)dec[n * K + k] * x[b * K + k];
                        mag += fabs((double)dec[n * K + k] * x[b * K + k]);
                    }
                    ck_assert_msg(fabs(y[b * N + n] - want) <= APPLY_TOL * mag + 1e-30,
                                  "%s B %lld [%lld]: %g vs %g", m->name, (long long)B,
                                  (long long)n, y[b * N + n], want);
                }
            free(x), free(y), free(y0);
        }
        free(dec);
        dc_packed_free(&pk);
        pair_free(&pr);
    }
}
END_TEST

/* ---- DeltaZip with a Hessian ------------------------------------------------------------------ */

/* Correlated activations X [n, K] (AR(1) across features, a few large channels), H = 2/n XᵀX. */
static float *make_hessian(int64_t K, int64_t n, uint64_t seed, float **Xout)
{
    float *X = malloc(sizeof *X * (size_t)(n * K)), *H = calloc((size_t)(K * K), sizeof *H);
    db_rng r;
    rng_seed(&r, seed);
    double *sc = malloc(sizeof *sc * (size_t)K);
    for (int64_t k = 0; k < K; k++)
        sc[k] = exp(0.7 * rng_normal(&r));
    for (int64_t t = 0; t < n; t++) {
        double prev = 0;
        for (int64_t k = 0; k < K; k++) {
            prev = 0.8 * prev + 0.6 * rng_normal(&r);
            X[t * K + k] = (float)(prev * sc[k]);
        }
    }
    for (int64_t a = 0; a < K; a++)
        for (int64_t b = 0; b < K; b++) {
            double acc = 0;
            for (int64_t t = 0; t < n; t++)
                acc += (double)X[t * K + a] * X[t * K + b];
            H[a * K + b] = (float)(2.0 * acc / (double)n);
        }
    free(sc);
    if (Xout)
        *Xout = X;
    else
        free(X);
    return H;
}

/* tr(E H Eᵀ), E = Δ̂ − Δ: the layer-output error GPTQ/OBS minimise. */
static double calib_loss(const float *dec, const float *d, const float *H, int64_t N, int64_t K)
{
    double loss = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t a = 0; a < K; a++) {
            double ea = (double)dec[n * K + a] - d[n * K + a];
            if (ea == 0)
                continue;
            for (int64_t b = 0; b < K; b++)
                loss += ea * H[a * K + b] * ((double)dec[n * K + b] - d[n * K + b]);
        }
    return loss;
}

START_TEST(test_deltazip_hessian_beats_identity)
{
    const dc_method *m = dc_method_find("deltazip");
    static const int64_t dims[][2] = {{32, 64}, {24, 200}, {16, 130}};
    for (size_t i = 0; i < 3; i++)
        for (int bits = 2; bits <= 16; bits *= 2) {
            if (bits == 8)
                continue;
            const int64_t N = dims[i][0], K = dims[i][1];
            pair pr;
            pair_make(&pr, N, K, 55 + i);
            float *H = make_hessian(K, 512, 9 + i, NULL);
            dc_params p;
            dc_params_default(m, &p);
            p.bits = bits;
            dc_packed a, b;
            ck_assert_int_eq(dc_encode(m, &pr.src, &p, H, &a), DB_OK);
            ck_assert_int_eq(dc_encode(m, &pr.src, &p, NULL, &b), DB_OK);
            float *da = malloc(4 * (size_t)(N * K)), *db = malloc(4 * (size_t)(N * K));
            ck_assert_int_eq(m->decode_dense(&a, da), DB_OK);
            ck_assert_int_eq(m->decode_dense(&b, db), DB_OK);
            double la = calib_loss(da, pr.d, H, N, K), lb = calib_loss(db, pr.d, H, N, K);
            ck_assert_msg(la < lb, "%lldx%lld bits %d: H loss %g !< identity loss %g",
                          (long long)N, (long long)K, bits, la, lb);
            /* still n:m: at most n nonzeros per group of m */
            for (int64_t n = 0; n < N; n++)
                for (int64_t g = 0; g < K; g += 4) {
                    int nz = 0;
                    for (int64_t c = g; c < g + 4 && c < K; c++)
                        nz += da[n * K + c] != 0;
                    ck_assert_int_le(nz, 2);
                }
            free(da), free(db), free(H);
            dc_packed_free(&a), dc_packed_free(&b);
            pair_free(&pr);
        }
}
END_TEST

START_TEST(test_deltazip_dead_columns)
{
    const dc_method *m = dc_method_find("deltazip");
    const int64_t N = 8, K = 40;
    pair pr;
    pair_make(&pr, N, K, 4);
    float *H = make_hessian(K, 128, 2, NULL);
    for (int64_t k = 0; k < K; k++) /* column 5 never sees input */
        H[5 * K + k] = H[k * K + 5] = 0;
    dc_params p;
    dc_params_default(m, &p);
    dc_packed a;
    ck_assert_int_eq(dc_encode(m, &pr.src, &p, H, &a), DB_OK);
    float *da = malloc(4 * (size_t)(N * K));
    ck_assert_int_eq(m->decode_dense(&a, da), DB_OK);
    for (int64_t n = 0; n < N; n++)
        ck_assert_float_eq(da[n * K + 5], 0.0f);
    /* a Hessian that is not positive definite after damping fails cleanly */
    for (int64_t i = 0; i < K * K; i++)
        H[i] = -1.0f;
    dc_packed b;
    ck_assert_int_eq(dc_encode(m, &pr.src, &p, H, &b), DB_ERR_NUMERIC);
    free(da), free(H);
    dc_packed_free(&a);
    pair_free(&pr);
}
END_TEST

/* ---- determinism and seeds -------------------------------------------------------------------- */

START_TEST(test_determinism)
{
    const dc_method *m = dc_methods[_i];
    pair pr;
    pair_make(&pr, 33, 130, 8);
    dc_params p;
    test_params(m, 1, 33, 130, &p);
    dc_packed a, b;
    ck_assert_int_eq(dc_encode(m, &pr.src, &p, NULL, &a), DB_OK);
    ck_assert_int_eq(dc_encode(m, &pr.src, &p, NULL, &b), DB_OK);
    ck_assert_int_eq(a.nparts, b.nparts);
    for (int i = 0; i < a.nparts; i++) {
        ck_assert_int_eq(a.parts[i].nbytes, b.parts[i].nbytes);
        ck_assert_mem_eq(a.parts[i].data, b.parts[i].data, a.parts[i].nbytes);
    }
    if (m->uses & DC_P_SEED) { /* another seed, other positions */
        dc_params q = p;
        q.seed = p.seed + 1;
        dc_packed c;
        ck_assert_int_eq(dc_encode(m, &pr.src, &q, NULL, &c), DB_OK);
        float *da = malloc(4 * 33 * 130), *dc = malloc(4 * 33 * 130);
        m->decode_dense(&a, da);
        m->decode_dense(&c, dc);
        int diff = 0;
        for (int i = 0; i < 33 * 130; i++)
            diff += (da[i] == 0) != (dc[i] == 0);
        ck_assert_int_gt(diff, 0);
        free(da), free(dc);
        dc_packed_free(&c);
    }
    dc_packed_free(&a), dc_packed_free(&b);
    pair_free(&pr);
}
END_TEST

/* ---- impossible parameters -------------------------------------------------------------------- */

START_TEST(test_bad_params)
{
    dc_params p;
    const dc_method *rtn = dc_method_find("rtn"), *dz = dc_method_find("deltazip"),
                    *mp = dc_method_find("magprune"), *dare = dc_method_find("dare"),
                    *lr = dc_method_find("lowrank"), *dq = dc_method_find("deltadq");
    ck_assert_ptr_null(dc_method_find("nosuch"));
    dc_params_default(rtn, &p), p.bits = 0;
    ck_assert_int_eq(dc_params_check(rtn, &p, 0, 0), DB_ERR_ARG);
    dc_params_default(rtn, &p), p.bits = 9;
    ck_assert_int_eq(dc_params_check(rtn, &p, 0, 0), DB_ERR_ARG);
    dc_params_default(rtn, &p), p.bits = 1, p.sym = 1;
    ck_assert_int_eq(dc_params_check(rtn, &p, 0, 0), DB_ERR_ARG);
    dc_params_default(dz, &p), p.bits = 9;
    ck_assert_int_eq(dc_params_check(dz, &p, 0, 0), DB_ERR_ARG);
    dc_params_default(dz, &p), p.nm_n = 5, p.nm_m = 4;
    ck_assert_int_eq(dc_params_check(dz, &p, 0, 0), DB_ERR_ARG);
    dc_params_default(mp, &p), p.nm_n = 3, p.nm_m = 2;
    ck_assert_int_eq(dc_params_check(mp, &p, 0, 0), DB_ERR_ARG);
    dc_params_default(dare, &p), p.drop = 1.0;
    ck_assert_int_eq(dc_params_check(dare, &p, 0, 0), DB_ERR_ARG);
    dc_params_default(dare, &p), p.drop = -0.1;
    ck_assert_int_eq(dc_params_check(dare, &p, 0, 0), DB_ERR_ARG);
    dc_params_default(lr, &p), p.rank = 9;
    ck_assert_int_eq(dc_params_check(lr, &p, 0, 0), DB_OK);
    ck_assert_int_eq(dc_params_check(lr, &p, 8, 100), DB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "rank"));
    dc_params_default(dq, &p), p.bits = 2, p.parts = 3; /* more stages than bits */
    ck_assert_int_eq(dc_params_check(dq, &p, 0, 0), DB_ERR_ARG);
    dc_params_default(dq, &p), p.group = -1;
    ck_assert_int_eq(dc_params_check(dq, &p, 0, 0), DB_ERR_ARG);
    dc_params_default(dq, &p), p.drop = 1.0;
    ck_assert_int_eq(dc_params_check(dq, &p, 0, 0), DB_ERR_ARG);
    /* encode refuses too (and leaves nothing allocated) */
    pair pr;
    pair_make(&pr, 4, 8, 1);
    dc_params_default(lr, &p), p.rank = 5;
    dc_packed pk;
    ck_assert_int_eq(dc_encode(lr, &pr.src, &p, NULL, &pk), DB_ERR_ARG);
    ck_assert_int_eq(pk.nparts, 0);
    pair_free(&pr);
    /* parameter text round trip */
    for (size_t i = 0; i < dc_nmethods; i++) {
        dc_params a, b;
        test_params(dc_methods[i], 2, 64, 64, &a);
        char buf[256];
        dc_params_format(dc_methods[i], &a, buf, sizeof buf);
        ck_assert_int_eq(dc_params_parse(dc_methods[i], buf, &b), DB_OK);
        char buf2[256];
        dc_params_format(dc_methods[i], &b, buf2, sizeof buf2);
        ck_assert_str_eq(buf, buf2);
    }
    ck_assert_int_eq(dc_params_parse(rtn, "bits=99 lossless=none", &p), DB_ERR_FORMAT);
    ck_assert_int_eq(dc_params_parse(rtn, "colour=red", &p), DB_ERR_FORMAT);
}
END_TEST

/* ---- allocation failures leak nothing and say so ----------------------------------------------- */

START_TEST(test_encode_alloc_failures)
{
    const dc_method *m = dc_methods[_i];
    pair pr;
    pair_make(&pr, 9, 70, 2);
    dc_params p;
    test_params(m, 1, 9, 70, &p);
    for (long k = 1; k < 40; k++) {
        db_alloc_fail_at(k, 0);
        dc_packed pk;
        db_status s = dc_encode(m, &pr.src, &p, NULL, &pk);
        db_alloc_fail_at(0, 0);
        if (s == DB_OK) {
            dc_packed_free(&pk);
            break;
        }
        ck_assert_int_eq(s, DB_ERR_NOMEM);
        ck_assert_int_eq(pk.nparts, 0);
    }
    pair_free(&pr);
}
END_TEST

/* ---- container ------------------------------------------------------------------------------- */


START_TEST(test_container_roundtrip)
{
    progress_disable(true);
    tl_scratch_make("check_compressors");
    char base[300], tgt[300], other[300], tgt2[300], out[300], calib[300];
    tl_path_buf(base, sizeof base, "base.safetensors");
    tl_path_buf(tgt, sizeof tgt, "tgt.safetensors");
    tl_path_buf(other, sizeof other, "other.safetensors");
    tl_path_buf(tgt2, sizeof tgt2, "tgt2.safetensors");
    tl_path_buf(out, sizeof out, "delta.safetensors");
    tl_path_buf(calib, sizeof calib, "calib.safetensors");
    const llama_model *sh = llama_model_find("tiny");
    const dc_synth_params sp = DC_SYNTH_DEFAULTS;
    ck_assert_int_eq(dc_synth_write(sh, 1, &sp, base, tgt, calib, 64, false), DB_OK);
    ck_assert_int_eq(dc_synth_write(sh, 2, &sp, other, tgt2, NULL, 0, false), DB_OK);
    st_model *bm, *tm;
    ck_assert_int_eq(st_model_open(base, &bm), DB_OK);
    ck_assert_int_eq(st_model_open(tgt, &tm), DB_OK);
    for (size_t mi = 0; mi < dc_nmethods; mi++)
        for (int ll = 0; ll < 3; ll++) {
            const dc_method *m = dc_methods[mi];
            dc_compress_opts o = {.base_path = base, .target_path = tgt, .out_path = out,
                                  .method = m};
            test_params(m, 1, 14, 70, &o.params);
            o.params.lossless = (dc_lossless)ll;
            dc_calib *cal = NULL;
            if (m->uses & DC_P_CALIB) {
                ck_assert_int_eq(dc_calib_file_open(calib, &cal), DB_OK);
                o.calib = cal;
            }
            dc_summary sum;
            db_status s = dc_compress_model(&o, &sum);
            ck_assert_msg(s == DB_OK, "%s: %s", m->name, db_errmsg());
            if (cal)
                ck_assert_int_eq(sum.n_hessian, 14);
            dc_calib_file_close(cal);
            struct stat stt;
            ck_assert_int_eq(stat(out, &stt), 0);
            ck_assert_int_eq(sum.stored_all, stt.st_size);
            dc_delta *d;
            ck_assert_msg(dc_delta_open(out, base, &d) == DB_OK, "%s", db_errmsg());
            ck_assert_ptr_eq(dc_delta_method(d), m);
            ck_assert_int_eq(dc_delta_count(d), st_model_count(bm));
            int64_t lin_bytes = 0;
            double want_lin = 0;
            for (size_t i = 0; i < st_model_count(tm); i++) {
                const st_tensor_info *ti = st_model_get(tm, i), *bi = st_model_find(bm, ti->name);
                const dc_tensor *t = dc_delta_find(d, ti->name);
                ck_assert_ptr_nonnull(t);
                if (t->role == DC_ROLE_FULL) {
                    ck_assert_int_eq(t->nbytes, ti->nbytes);
                    ck_assert_mem_eq(t->data, ti->data, ti->nbytes);
                    continue;
                }
                /* the stored delta decodes to what a fresh in-memory encode decodes to */
                int64_t N = ti->shape[0], K = ti->shape[1];
                dc_src src = {ti->name, N, K, DT_F16, bi->data, ti->data};
                dc_packed pk;
                ck_assert_int_eq(dc_encode(m, &src, &o.params, NULL, &pk), DB_OK);
                float *a = malloc(4 * (size_t)(N * K)), *b = malloc(4 * (size_t)(N * K));
                ck_assert_int_eq(dc_decode_dense(t, a), DB_OK);
                ck_assert_int_eq(m->decode_dense(&pk, b), DB_OK);
                if (!(m->uses & DC_P_CALIB)) /* deltazip used the Hessians here */
                    ck_assert_mem_eq(a, b, 4 * (size_t)(N * K));
                float x[3 * 190] = {0}, y[3 * 190] = {0};
                for (int64_t j = 0; j < 3 * K; j++)
                    x[j] = (float)(j % 7) - 3.0f;
                ck_assert_int_eq(dc_apply_ref(t, 3, x, y), DB_OK);
                lin_bytes += (int64_t)dc_packed_bytes(&t->packed);
                want_lin += m->bytes(&o.params, N, K);
                free(a), free(b);
                dc_packed_free(&pk);
            }
            /* ratio arithmetic: without lossless, the linear bytes are the format's */
            if (ll == 0) {
                ck_assert_int_eq(sum.stored_linear, lin_bytes);
                if (m->bytes_exact)
                    ck_assert_int_eq(sum.stored_linear, (int64_t)want_lin);
            }
            dc_delta_close(d);
            /* a delta made for another base is refused */
            ck_assert_int_eq(dc_delta_open(out, other, &d), DB_ERR_FORMAT);
            ck_assert_ptr_nonnull(strstr(db_errmsg(), "another base"));
        }
    /* decompress: fp16 rebuilds the target within one f16 rounding */
    dc_compress_opts o = {.base_path = base, .target_path = tgt, .out_path = out,
                          .method = dc_method_find("fp16")};
    dc_params_default(o.method, &o.params);
    dc_summary sum;
    ck_assert_int_eq(dc_compress_model(&o, &sum), DB_OK);
    char rec[300];
    tl_path_buf(rec, sizeof rec, "rec.safetensors");
    ck_assert_msg(dc_decompress_model(base, out, rec, false) == DB_OK, "%s", db_errmsg());
    st_model *rm;
    ck_assert_int_eq(st_model_open(rec, &rm), DB_OK);
    for (size_t i = 0; i < st_model_count(tm); i++) {
        const st_tensor_info *ti = st_model_get(tm, i), *ri = st_model_find(rm, ti->name);
        ck_assert_ptr_nonnull(ri);
        ck_assert_int_eq(ri->nbytes, ti->nbytes);
        const uint16_t *a = ti->data, *b = ri->data, *z = st_model_find(bm, ti->name)->data;
        /* one f16 rounding of the delta (relative to |Δ|) plus one of the sum */
        for (size_t j = 0; j < ti->nbytes / 2; j++)
            ck_assert_msg(fabsf(f16_to_f32(a[j]) - f16_to_f32(b[j])) <=
                              fabsf(f16_to_f32(a[j]) - f16_to_f32(z[j])) * 5e-4f +
                                  fabsf(f16_to_f32(a[j])) * 1e-3f + 1e-7f,
                          "%s[%zu]: %g vs %g", ti->name, j, f16_to_f32(a[j]), f16_to_f32(b[j]));
    }
    st_model_close(rm);
    /* shape mismatch and unknown base are refused, and nothing is left behind */
    remove(out);
    o.target_path = base;
    o.base_path = tgt;
    ck_assert_int_eq(dc_compress_model(&o, &sum), DB_OK); /* swapped roles are fine */
    remove(out);
    size_t tlen;
    unsigned char *whole = tl_read(tgt, &tlen);
    ck_assert_uint_gt(tlen, 100);
    char trunc[300];
    tl_path_buf(trunc, sizeof trunc, "trunc.safetensors");
    tl_write(trunc, whole, 100);
    free(whole);
    o.base_path = base, o.target_path = trunc;
    ck_assert_int_ne(dc_compress_model(&o, &sum), DB_OK);
    ck_assert_int_ne(access(out, F_OK), 0);
    st_model_close(bm);
    st_model_close(tm);
    tl_scratch_drop();
}
END_TEST

/* NaN in the target and mismatched shapes: one message naming the file, no output. */
START_TEST(test_compress_bad_inputs)
{
    progress_disable(true);
    tl_scratch_make("check_compressors");
    char b[300], t[300], out[300];
    tl_path_buf(b, sizeof b, "b.safetensors");
    tl_path_buf(t, sizeof t, "t.safetensors");
    tl_path_buf(out, sizeof out, "o.safetensors");
    uint16_t wb[12] = {0}, wt[12] = {0};
    for (int i = 0; i < 12; i++)
        wb[i] = f32_to_f16(0.01f * i), wt[i] = f32_to_f16(0.01f * i + 0.001f);
    wt[7] = 0x7e00; /* NaN */
    int64_t sh[2] = {3, 4}, sh2[2] = {4, 3};
    db_tensor tb, tt;
    tensor_view(&tb, DT_F16, 2, sh, wb);
    tensor_view(&tt, DT_F16, 2, sh, wt);
    const char *names[] = {"model.layers.0.self_attn.q_proj.weight"};
    ck_assert_int_eq(st_save(b, 1, names, &tb, 0, NULL, NULL), DB_OK);
    ck_assert_int_eq(st_save(t, 1, names, &tt, 0, NULL, NULL), DB_OK);
    dc_compress_opts o = {.base_path = b, .target_path = t, .out_path = out,
                          .method = dc_method_find("bitdelta")};
    dc_params_default(o.method, &o.params);
    dc_summary sum;
    ck_assert_int_eq(dc_compress_model(&o, &sum), DB_ERR_NUMERIC);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), t));
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "NaN"));
    ck_assert_int_ne(access(out, F_OK), 0);
    tensor_view(&tt, DT_F16, 2, sh2, wt);
    wt[7] = 0;
    ck_assert_int_eq(st_save(t, 1, names, &tt, 0, NULL, NULL), DB_OK);
    ck_assert_int_eq(dc_compress_model(&o, &sum), DB_ERR_SHAPE);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "[4, 3]"));
    ck_assert_int_ne(access(out, F_OK), 0);
    /* no stray files at all */
    ck_assert_int_eq(tl_dir_entries(tl_dir, NULL), 2);
    tl_scratch_drop();
}
END_TEST

/* A container whose parts disagree with its format is refused with one message. */
START_TEST(test_container_validation)
{
    progress_disable(true);
    tl_scratch_make("check_compressors");
    char p[300];
    tl_path_buf(p, sizeof p, "bad.safetensors");
    uint32_t signs[4] = {0};
    float sc = 1.0f;
    db_tensor t[2];
    int64_t s1[2] = {2, 2}, s2[1] = {1};
    tensor_view(&t[0], DT_U32, 2, s1, signs);
    tensor_view(&t[1], DT_F32, 1, s2, &sc);
    const char *names[] = {"w.signs", "w.scale"};
    const char *keys[] = {"format", "format_version", "method", "params", "base_hash",
                          "target_hash", "tensor.w"};
    const char *vals[] = {DC_FORMAT_MAGIC, "1", "bitdelta", "lossless=none", "0123456789abcdef",
                          "0123456789abcdef", "delta 2 40"};
    dc_delta *d;
    ck_assert_int_eq(st_save(p, 2, names, t, 7, keys, vals), DB_OK);
    ck_assert_int_eq(dc_delta_open(p, NULL, &d), DB_OK); /* 2 x 40: 2 words per row */
    ck_assert_int_eq(dc_delta_find(d, "w")->role, DC_ROLE_DELTA);
    dc_delta_close(d);
    vals[6] = "delta 2 70"; /* needs 3 words */
    ck_assert_int_eq(st_save(p, 2, names, t, 7, keys, vals), DB_OK);
    ck_assert_int_eq(dc_delta_open(p, NULL, &d), DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "w.signs"));
    vals[6] = "delta 2 40";
    vals[1] = "3";
    ck_assert_int_eq(st_save(p, 2, names, t, 7, keys, vals), DB_OK);
    ck_assert_int_eq(dc_delta_open(p, NULL, &d), DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "version"));
    vals[1] = "1";
    vals[2] = "nosuch";
    ck_assert_int_eq(st_save(p, 2, names, t, 7, keys, vals), DB_OK);
    ck_assert_int_eq(dc_delta_open(p, NULL, &d), DB_ERR_FORMAT);
    vals[2] = "bitdelta";
    vals[0] = "something-else";
    ck_assert_int_eq(st_save(p, 2, names, t, 7, keys, vals), DB_OK);
    ck_assert_int_eq(dc_delta_open(p, NULL, &d), DB_ERR_FORMAT);
    vals[0] = DC_FORMAT_MAGIC;
    ck_assert_int_eq(st_save(p, 2, names, t, 6, keys, vals), DB_OK); /* parts of no entry */
    ck_assert_int_eq(dc_delta_open(p, NULL, &d), DB_ERR_FORMAT);
    tl_scratch_drop();
}
END_TEST


/* dstat_compute on a crafted 2 x 4 tensor against hand-computed values:
 *   Δ = [[1, -1, 1, -1], [2, 0, 0, -2]]: mean 0, m2 = 12/8, m4 = 36/8, kurtosis 4.5 / 2.25 = 2;
 *   row RMS 1 and √2, row max / RMS 1 and √2; two zeros of eight below 0.1 RMS; ln row RMS
 *   0 and ½ ln 2 (spread ¼ ln 2); column RMS √2.5, √0.5, √0.5, √2.5 (spread ¼ ln 5).
 * A constant shift changes the RMS but not the central kurtosis. */
START_TEST(test_dstats_crafted)
{
    float x[8] = {1, -1, 1, -1, 2, 0, 0, -2};
    dstat_row r;
    ck_assert_int_eq(dstat_compute(x, 2, 4, 0.1, &r), DB_OK);
    ck_assert_int_eq(r.rows, 2);
    ck_assert_int_eq(r.cols, 4);
    ck_assert_double_eq_tol(r.rms, sqrt(1.5), 1e-12);
    ck_assert_double_eq_tol(r.kurtosis, 2.0, 1e-12);
    ck_assert_double_eq_tol(r.row_max_rms, (1 + sqrt(2.0)) / 2, 1e-12);
    ck_assert_double_eq_tol(r.near_zero, 0.25, 1e-12);
    ck_assert_double_eq_tol(r.row_spread, 0.25 * log(2.0), 1e-12);
    ck_assert_double_eq_tol(r.col_spread, 0.25 * log(5.0), 1e-12);
    /* near = 0: nothing is below 0; near = 1 (|Δ| < 1.22): the zeros and the four ±1 */
    ck_assert_int_eq(dstat_compute(x, 2, 4, 0, &r), DB_OK);
    ck_assert_double_eq_tol(r.near_zero, 0, 1e-12);
    ck_assert_int_eq(dstat_compute(x, 2, 4, 1, &r), DB_OK);
    ck_assert_double_eq_tol(r.near_zero, 0.75, 1e-12);
    float y[8];
    for (int i = 0; i < 8; i++)
        y[i] = x[i] + 3;
    ck_assert_int_eq(dstat_compute(y, 2, 4, 0.1, &r), DB_OK);
    ck_assert_double_eq_tol(r.kurtosis, 2.0, 1e-9);
    ck_assert_double_eq_tol(r.rms, sqrt((16 + 4 + 16 + 4 + 25 + 9 + 9 + 1) / 8.0), 1e-9);
    /* all zero: every statistic 0; bad arguments refused */
    float z[6] = {0};
    ck_assert_int_eq(dstat_compute(z, 2, 3, 0.1, &r), DB_OK);
    ck_assert(r.rms == 0 && r.kurtosis == 0 && r.row_max_rms == 0 && r.near_zero == 0 &&
              r.row_spread == 0 && r.col_spread == 0);
    ck_assert_int_eq(dstat_compute(x, 0, 4, 0.1, &r), DB_ERR_ARG);
    ck_assert_int_eq(dstat_compute(x, 2, 4, -1, &r), DB_ERR_ARG);
}
END_TEST

static db_status dstats_pair_op(void *ctx)
{
    const char **p = ctx;
    dstat_row *rows = NULL;
    size_t n = 0;
    db_status s = dstat_pair(p[0], p[1], 0.1, &rows, &n);
    ck_assert(s == DB_OK ? rows && n == 1 : !rows && n == 0);
    db_free(rows);
    return s;
}

/* dstat_pair over a crafted F32 pair: only the linear tensor is measured, Δ = target − base is
 * the crafted tensor above; a missing tensor and a shape mismatch are one-line errors naming the
 * file; every allocation failure is a clean DB_ERR_NOMEM. */
START_TEST(test_dstats_pair)
{
    tl_scratch_make("check_dstats");
    char b[300], t[300], t2[300];
    tl_path_buf(b, sizeof b, "b.safetensors");
    tl_path_buf(t, sizeof t, "t.safetensors");
    tl_path_buf(t2, sizeof t2, "t2.safetensors");
    float wb[8] = {0.5f, 0.25f, -1, 2, 0, 0, 1, 1}, wt[8], dx[8] = {1, -1, 1, -1, 2, 0, 0, -2};
    for (int i = 0; i < 8; i++)
        wt[i] = wb[i] + dx[i];
    float nb[4] = {1, 1, 1, 1}, nt[4] = {2, 2, 2, 2};
    const char *names[] = {"model.layers.0.mlp.up_proj.weight", "model.layers.0.input_layernorm.weight"};
    db_tensor tb[2], tt[2];
    int64_t sh[2] = {2, 4}, sn[1] = {4};
    tensor_view(&tb[0], DT_F32, 2, sh, wb), tensor_view(&tb[1], DT_F32, 1, sn, nb);
    tensor_view(&tt[0], DT_F32, 2, sh, wt), tensor_view(&tt[1], DT_F32, 1, sn, nt);
    ck_assert_int_eq(st_save(b, 2, names, tb, 0, NULL, NULL), DB_OK);
    ck_assert_int_eq(st_save(t, 2, names, tt, 0, NULL, NULL), DB_OK);
    dstat_row *rows = NULL;
    size_t n = 0;
    ck_assert_msg(dstat_pair(b, t, 0.1, &rows, &n) == DB_OK, "%s", db_errmsg());
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(rows[0].name, names[0]);
    ck_assert_double_eq_tol(rows[0].kurtosis, 2.0, 1e-12);
    ck_assert_double_eq_tol(rows[0].near_zero, 0.25, 1e-12);
    ck_assert_double_eq_tol(rows[0].col_spread, 0.25 * log(5.0), 1e-12);
    db_free(rows);
    const char *ctx[2] = {b, t};
    ck_assert_int_ge(tl_alloc_sweep("dstat_pair", dstats_pair_op, NULL, ctx, 200), 3);
    /* the target lacks the tensor; then has it in another shape */
    ck_assert_int_eq(st_save(t2, 1, names + 1, tt + 1, 0, NULL, NULL), DB_OK);
    ck_assert_int_eq(dstat_pair(b, t2, 0.1, &rows, &n), DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "t2.safetensors"));
    int64_t sh2[2] = {4, 2};
    tensor_view(&tt[0], DT_F32, 2, sh2, wt);
    ck_assert_int_eq(st_save(t2, 2, names, tt, 0, NULL, NULL), DB_OK);
    ck_assert_int_eq(dstat_pair(b, t2, 0.1, &rows, &n), DB_ERR_SHAPE);
    ck_assert_ptr_null(rows);
    /* no linear tensor at all */
    ck_assert_int_eq(st_save(t2, 1, names + 1, tt + 1, 0, NULL, NULL), DB_OK);
    ck_assert_int_eq(dstat_pair(t2, t2, 0.1, &rows, &n), DB_ERR_FORMAT);
    tl_scratch_drop();
}
END_TEST

/* The generator's knobs move the statistics dz1 fits them with: with every σ = 0 the delta is
 * the Irwin-Hall(3) approximation of a Gaussian (kurtosis 3 − 6/15 = 2.6, no row or column
 * spread); tail σ = 0.5 alone multiplies the kurtosis by E[λ⁴]/E[λ²]² = e^{4σ²} = e (≈ 7.1);
 * row σ = 0.3 alone gives a row spread of 0.3 and leaves the columns flat. A spread measured
 * over n values of kurtosis κ carries the sampling floor (κ − 1)/(4n) in its square (the
 * delta method on ln of a sample RMS), so the expected spread is √(σ² + (κ − 1)/(4n)). */
START_TEST(test_synth_params_fit_stats)
{
    progress_disable(true);
    tl_scratch_make("check_synth_fit");
    char b[300], t[300];
    tl_path_buf(b, sizeof b, "b.safetensors");
    tl_path_buf(t, sizeof t, "t.safetensors");
    llama_model m = *llama_model_find("llama2-7b");
    m.L = 1, m.V = 8, m.C = 256, m.F = 512;
    const struct {
        dc_synth_params p;
        double kurt, kurt_tol, row, col, kurt_row; /* kurt_row: within one row */
    } cases[] = {
        {{1e-3, 0, 0, 0}, 2.6, 0.15, 0, 0, 2.6},
        {{1e-3, 0.5, 0, 0}, 2.6 * exp(1.0), 0.8, 0, 0, 2.6 * exp(1.0)},
        {{1e-3, 0, 0.3, 0}, 2.6 * exp(4 * 0.09), 0.6, 0.3, 0, 2.6},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(dc_synth_write(&m, 7, &cases[i].p, b, t, NULL, 0, false), DB_OK);
        dstat_row *rows = NULL;
        size_t n = 0;
        ck_assert_msg(dstat_pair(b, t, 0.1, &rows, &n) == DB_OK, "%s", db_errmsg());
        ck_assert_uint_eq(n, 7);
        const dstat_row *r = &rows[6]; /* down_proj [256, 512] */
        ck_assert_msg(fabs(r->kurtosis - cases[i].kurt) < cases[i].kurt_tol, "case %zu: kurtosis %g",
                      i, r->kurtosis);
        const double er = sqrt(cases[i].row * cases[i].row + (cases[i].kurt_row - 1) / (4.0 * 512)),
                     ec = sqrt(cases[i].col * cases[i].col + (cases[i].kurt - 1) / (4.0 * 256));
        ck_assert_msg(fabs(r->row_spread - er) < 0.02, "case %zu: row spread %g, expected %g", i,
                      r->row_spread, er);
        ck_assert_msg(fabs(r->col_spread - ec) < 0.02, "case %zu: col spread %g, expected %g", i,
                      r->col_spread, ec);
        ck_assert_double_eq_tol(r->rms, 1e-3 * (cases[i].p.row_sigma ? exp(0.09) : 1), 1e-4);
        db_free(rows);
    }
    dc_synth_params bad = {1e-3, 3.5, 0, 0};
    ck_assert_int_eq(dc_synth_write(&m, 7, &bad, b, t, NULL, 0, false), DB_ERR_ARG);
    tl_scratch_drop();
}
END_TEST

static Suite *compressors_suite(void)
{
    Suite *s = suite_create("compressors");
    TCase *tc = tcase_create("methods");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_roundtrip_bounds, 0, (int)dc_nmethods);
    tcase_add_test(tc, test_bitstream_packing);
    tcase_add_test(tc, test_bitdelta_packing_exact);
    tcase_add_test(tc, test_bitdelta_fast_equals_scalar);
    tcase_add_loop_test(tc, test_apply_matches_dense, 0, (int)dc_nmethods);
    tcase_add_test(tc, test_deltazip_hessian_beats_identity);
    tcase_add_test(tc, test_deltazip_dead_columns);
    tcase_add_loop_test(tc, test_determinism, 0, (int)dc_nmethods);
    tcase_add_test(tc, test_bad_params);
    tcase_add_loop_test(tc, test_encode_alloc_failures, 0, (int)dc_nmethods);
    suite_add_tcase(s, tc);
    TCase *tc2 = tcase_create("container");
    tcase_set_timeout(tc2, 300);
    tcase_add_test(tc2, test_container_roundtrip);
    tcase_add_test(tc2, test_compress_bad_inputs);
    tcase_add_test(tc2, test_container_validation);
    tcase_add_test(tc2, test_dstats_crafted);
    tcase_add_test(tc2, test_dstats_pair);
    tcase_add_test(tc2, test_synth_params_fit_stats);
    suite_add_tcase(s, tc2);
    return s;
}

int main(void)
{
    return tl_run(compressors_suite());
}
