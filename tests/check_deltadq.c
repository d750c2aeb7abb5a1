/* check_deltadq.c: DeltaDQ's format_version 2 (compressors/m_deltadq.c, docs/compressors.md):
 * a round trip against a scalar reference written from the documented reading (positions,
 * rescale, residual midrise stages with fp16 scales rounded up, codes read back bit by bit, the
 * group search's choice re-measured), exact bytes of every ratio setting at several shapes
 * (tails included), and one-line errors for corrupt parts and version-1 containers. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compressors/compressor.h"
#include "compressors/internal.h"
#include "core/half.h"
#include "core/hash.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "testlib.h"

/* The ratio settings of docs/compressors.md: drop, bits, stages (group 0: searched). */
static const struct {
    const char *name;
    double drop;
    int bits, parts;
} settings[] = {
    {"16x", 0.75, 4, 2},
    {"32x", 0.875, 4, 2},
    {"64x", 0.9375, 4, 2},
    {"128x", 0.9375, 2, 2},
};
#define NSET (sizeof settings / sizeof settings[0])

static void setting(int i, dc_params *p)
{
    dc_params_default(dc_method_find("deltadq"), p);
    p->drop = settings[i].drop, p->bits = settings[i].bits, p->parts = settings[i].parts;
    p->group = 0;
    p->seed = 5;
}

typedef struct {
    int64_t N, K;
    uint16_t *base, *tgt;
    float *d;
    dc_src src;
} pair;

static void pair_make(pair *p, int64_t N, int64_t K, uint64_t seed)
{
    p->N = N, p->K = K;
    size_t n = (size_t)(N * K);
    p->base = malloc(n * 2), p->tgt = malloc(n * 2), p->d = malloc(n * 4);
    db_rng r;
    rng_stream(&r, seed, (uint64_t)(N * 7919 + K));
    for (size_t i = 0; i < n; i++) {
        float b = (float)(0.02 * rng_normal(&r));
        double dd = 1e-3 * rng_normal(&r) * exp(0.5 * rng_normal(&r));
        p->base[i] = f32_to_f16(b);
        p->tgt[i] = f32_to_f16(f16_to_f32(p->base[i]) + (float)dd);
        p->d[i] = f16_to_f32(p->tgt[i]) - f16_to_f32(p->base[i]);
    }
    p->src = (dc_src){"model.layers.1.mlp.down_proj.weight", N, K, DT_F16, p->base, p->tgt};
}

static void pair_free(pair *p) { free(p->base), free(p->tgt), free(p->d); }

/* ---- the scalar reference ----------------------------------------------------------------------- */

static uint32_t naive_get(const uint32_t *w, int64_t i, int b)
{
    uint32_t v = 0;
    for (int k = 0; k < b; k++) {
        int64_t bit = i * b + k;
        v |= (w[bit / 32] >> (bit % 32) & 1u) << k;
    }
    return v;
}

static int width(const dc_params *p, int j) { return p->bits / p->parts + (j < p->bits % p->parts); }

static uint16_t f16_up(float s)
{
    if (!(s > 0.0f))
        return 0;
    uint16_t h = f32_to_f16(s);
    return f16_to_f32(h) < s ? (uint16_t)(h + 1) : h;
}

/* Reference encoding of [N, K] at group G: reconstruction dense [N, K], codes [P][N kept] and
 * the fp16 scales; returns ||Δ̂ - Δ||_F^2. */
static double ref_encode(const pair *pr, const dc_params *p, int64_t G, float *dense,
                         uint32_t **codes, uint16_t *scales)
{
    const int64_t N = pr->N, K = pr->K, c = dc_dq_c(G, p->drop), kept = dc_dq_row_kept(K, G, c);
    int32_t *pos = malloc(sizeof *pos * (size_t)(N * kept + 1)), *scr = malloc(sizeof *scr * (size_t)G);
    float *v = malloc(sizeof *v * (size_t)(N * kept + 1)), *rec = calloc((size_t)(N * kept + 1), 4);
    uint64_t tid = hash_str(pr->src.name);
    for (int64_t r = 0; r < N; r++) {
        ck_assert_int_eq(dc_dq_positions(p->seed, tid, r, K, G, c, pos + r * kept, scr), kept);
        for (int64_t j = 0; j < kept; j++) {
            int64_t k = pos[r * kept + j], g0 = k / G * G, t = K - g0 < G ? K - g0 : G;
            int64_t keep = t == G ? c : (t * c + G - 1) / G;
            v[r * kept + j] = pr->d[r * K + k] * ((float)t / (float)keep);
        }
    }
    for (int j = 0; j < p->parts; j++) {
        int b = width(p, j), L = 1 << b;
        float amax = 0;
        for (int64_t i = 0; i < N * kept; i++)
            amax = fmaxf(amax, fabsf(v[i] - rec[i]));
        scales[j] = f16_up(2.0f * amax / (float)L);
        float s = f16_to_f32(scales[j]);
        for (int64_t i = 0; i < N * kept; i++) {
            uint32_t q = 0;
            if (s > 0) {
                float x = floorf((v[i] - rec[i]) / s + 0.5f * (float)L);
                q = x < 0 ? 0 : x > L - 1 ? (uint32_t)(L - 1) : (uint32_t)x;
            }
            codes[j][i] = q;
            rec[i] += s * ((float)q - 0.5f * (float)(L - 1));
        }
    }
    memset(dense, 0, sizeof *dense * (size_t)(N * K));
    for (int64_t i = 0; i < N * kept; i++)
        dense[i / kept * K + pos[i]] = rec[i];
    double e = 0;
    for (int64_t i = 0; i < N * K; i++)
        e += ((double)dense[i] - pr->d[i]) * ((double)dense[i] - pr->d[i]);
    free(pos), free(scr), free(v), free(rec);
    return e;
}

/* Bytes of the format, from the documented formula: per stage 4 ceil(N kept b_j / 32), 2 per
 * stage scale, 2 for a searched group. */
static int64_t ref_bytes(const dc_params *p, int64_t N, int64_t K, int64_t G)
{
    int64_t kept = dc_dq_row_kept(K, G, dc_dq_c(G, p->drop)), b = 0;
    for (int j = 0; j < p->parts; j++)
        b += 4 * ((N * kept * width(p, j) + 31) / 32);
    return b + 2 * p->parts + (p->group == 0 ? 2 : 0);
}

static const int64_t shapes[][2] = {{1, 1}, {3, 5}, {7, 33}, {9, 100}, {16, 64}, {12, 352}, {5, 70}};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

START_TEST(test_reference_roundtrip)
{
    const dc_method *m = dc_method_find("deltadq");
    for (size_t si = 0; si < NSHAPES; si++)
        for (int v = 0; v < (int)NSET + 2; v++) {
            pair pr;
            pair_make(&pr, shapes[si][0], shapes[si][1], 40 + (uint64_t)v);
            dc_params p;
            setting(v % NSET, &p);
            if (v == NSET)
                p.group = 7, p.bits = 3, p.parts = 2; /* fixed group with tails; stages 2+1 */
            if (v == NSET + 1)
                p.bits = 8, p.parts = 3; /* stages 3+3+2 */
            dc_packed pk;
            ck_assert_msg(dc_encode(m, &pr.src, &p, NULL, &pk) == DB_OK, "%s", db_errmsg());
            const int64_t N = pr.N, K = pr.K;
            int64_t G = p.group;
            if (!G) {
                G = ((const uint16_t *)dc_packed_part(&pk, "group")->data)[0];
                /* the search: G is a candidate and no candidate has a smaller error */
                int64_t G0 = 0;
                for (int64_t g = 1; g <= 256 && !G0; g++) {
                    double c = (double)g * (1 - p.drop);
                    if (c >= 1 - 1e-9 && fabs(c - nearbyint(c)) < 1e-9)
                        G0 = g;
                }
                double best = INFINITY, eG = INFINITY;
                int any = 0;
                for (int64_t g = G0; g <= 256; g *= 2)
                    any |= K % g == 0;
                for (int64_t g = G0; g <= 256; g *= 2) {
                    if (any ? K % g != 0 : g != G0)
                        continue;
                    float *dn = malloc(sizeof *dn * (size_t)(N * K));
                    uint32_t *cd[4];
                    uint16_t sc[4];
                    int64_t kp = dc_dq_row_kept(K, g, dc_dq_c(g, p.drop));
                    for (int j = 0; j < p.parts; j++)
                        cd[j] = malloc(sizeof **cd * (size_t)(N * kp + 1));
                    double e = ref_encode(&pr, &p, g, dn, cd, sc);
                    best = e < best ? e : best;
                    if (g == G)
                        eG = e;
                    for (int j = 0; j < p.parts; j++)
                        free(cd[j]);
                    free(dn);
                }
                ck_assert_msg(eG == best, "searched G %lld: error %g, best candidate %g",
                              (long long)G, eG, best);
            }
            int64_t kept = dc_dq_row_kept(K, G, dc_dq_c(G, p.drop));
            float *want = malloc(sizeof *want * (size_t)(N * K)), *got = malloc(sizeof *got * (size_t)(N * K));
            uint32_t *cd[4];
            uint16_t sc[4];
            for (int j = 0; j < p.parts; j++)
                cd[j] = malloc(sizeof **cd * (size_t)(N * kept + 1));
            ref_encode(&pr, &p, G, want, cd, sc);
            /* the stored codes, read bit by bit, and scales are the reference's */
            const uint16_t *ssc = dc_packed_part(&pk, "scale")->data;
            for (int j = 0; j < p.parts; j++) {
                char nm[4] = {'q', (char)('0' + j), 0};
                const uint32_t *pl = dc_packed_part(&pk, nm)->data;
                ck_assert_uint_eq(ssc[j], sc[j]);
                for (int64_t i = 0; i < N * kept; i++)
                    ck_assert_msg(naive_get(pl, i, width(&p, j)) == cd[j][i],
                                  "stage %d code %lld", j, (long long)i);
            }
            ck_assert_int_eq((int64_t)dc_packed_bytes(&pk), ref_bytes(&p, N, K, G));
            ck_assert(m->bytes(&p, N, K) == (double)ref_bytes(&p, N, K, G));
            /* decode equals the reference exactly; the bound holds */
            dc_tensor t = {.name = pr.src.name, .role = DC_ROLE_DELTA, .packed = pk};
            ck_assert_int_eq(dc_decode_dense(&t, got), DB_OK);
            float smax = f16_to_f32(ssc[p.parts - 1]);
            for (int64_t i = 0; i < N * K; i++) {
                ck_assert_msg(got[i] == want[i], "[%lld] %g != %g", (long long)i, got[i], want[i]);
                if (got[i] != 0.0f) {
                    int64_t k = i % K, g0 = k / G * G, tt = K - g0 < G ? K - g0 : G;
                    int64_t c = dc_dq_c(G, p.drop), keep = tt == G ? c : dc_dq_keep(tt, G, c);
                    float x = pr.d[i] * (float)tt / (float)keep;
                    ck_assert(fabsf(got[i] - x) <= 0.5f * smax * 1.0001f + 1e-6f * fabsf(x));
                }
            }
            for (int j = 0; j < p.parts; j++)
                free(cd[j]);
            free(want), free(got);
            dc_packed_free(&pk);
            pair_free(&pr);
        }
}
END_TEST

/* Exact bytes of every ratio setting at zoo and Llama shapes, stated by hand. */
START_TEST(test_bytes_exact)
{
    const dc_method *m = dc_method_find("deltadq");
    static const struct {
        int64_t N, K;
        double bytes[NSET];
    } rows[] = {
        /* 128 x 128: N kept = 4096 / 2048 / 1024 / 1024 entries; 2-bit stages 1,024 / 512 /
         * 256 bytes each, 1-bit 128; + 2 scales + the group */
        {128, 128, {2048 + 6, 1024 + 6, 512 + 6, 256 + 6}},
        /* 352 columns (zoo small's down_proj input): G = 32 and 16 divide it */
        {128, 352, {5632 + 6, 2816 + 6, 1408 + 6, 704 + 6}},
        /* 70 columns: no candidate divides 70, G0 with a tail of 70 - 64 = 6 (16x: G0 = 4, 17
         * groups + a tail of 2 keeping 1: 18 kept a row; 32x/64x/128x: G0 8/16/16) */
        {5, 70, {2 * 4 * 6 + 6, 2 * 4 * 3 + 6, 2 * 4 * 2 + 6, 2 * 4 * 1 + 6}},
        /* Llama-2-7B down_proj [4096, 11008]: 11,272,192 / 5,636,096 / 2,818,048 kept */
        {4096, 11008, {2 * 2818048.0 + 6, 2 * 1409024.0 + 6, 2 * 704512.0 + 6, 2 * 352256.0 + 6}},
    };
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
        for (int i = 0; i < (int)NSET; i++) {
            dc_params p;
            setting(i, &p);
            double got = m->bytes(&p, rows[r].N, rows[r].K);
            ck_assert_msg(got == rows[r].bytes[i], "%s at %lldx%lld: %.0f bytes, want %.0f",
                          settings[i].name, (long long)rows[r].N, (long long)rows[r].K, got,
                          rows[r].bytes[i]);
        }
    /* the ratios the settings promise at a Llama shape: within 0.01 % of 16, 32, 64, 128 */
    for (int i = 0; i < (int)NSET; i++) {
        dc_params p;
        setting(i, &p);
        double ratio = 2.0 * 4096 * 11008 / m->bytes(&p, 4096, 11008);
        ck_assert_msg(fabs(ratio / (16 << i) - 1) < 1e-4, "%s: %.4fx", settings[i].name, ratio);
    }
}
END_TEST

/* ---- containers: corrupt parts, version 1 ------------------------------------------------------ */

static const char *path_of(const char *leaf)
{
    static char p[400];
    tl_path_buf(p, sizeof p, leaf);
    return p;
}

/* A hand-made container of one [2, 40] deltadq tensor at the 16x setting (20 kept, two
 * 2-bit stages of 2 words each), with the given version, scale and group. */
static db_status open_made(const char *ver, uint16_t scale1, uint16_t group, int64_t q0_words)
{
    uint32_t q0[4] = {0x12345678u, 0x9abcdef0u, 0, 0}, q1[2] = {0x0f0f0f0fu, 0xf0f0f0f0u};
    uint16_t sc[2] = {f32_to_f16(0.01f), scale1}, g[1] = {group};
    db_tensor t[4];
    int64_t s0[1] = {q0_words}, s1[1] = {2}, s2[1] = {2}, s3[1] = {1};
    tensor_view(&t[0], DT_U32, 1, s0, q0);
    tensor_view(&t[1], DT_U32, 1, s1, q1);
    tensor_view(&t[2], DT_F16, 1, s2, sc);
    tensor_view(&t[3], DT_U16, 1, s3, g);
    const char *names[] = {"w.q0", "w.q1", "w.scale", "w.group"};
    const char *keys[] = {"format", "format_version", "method", "params", "base_hash",
                          "target_hash", "tensor.w"};
    const char *vals[] = {DC_FORMAT_MAGIC, ver, "deltadq",
                          "bits=4 group=0 drop=0.75 parts=2 seed=0 lossless=none",
                          "0123456789abcdef", "0123456789abcdef", "delta 2 40"};
    const char *p = path_of("dq.safetensors");
    ck_assert_int_eq(st_save(p, 4, names, t, 7, keys, vals), DB_OK);
    dc_delta *d = NULL;
    db_status s = dc_delta_open(p, NULL, &d);
    if (!s) {
        float out[80];
        s = dc_decode_dense(dc_delta_find(d, "w"), out);
    }
    dc_delta_close(d);
    return s;
}

static void one_line_naming(const char *what)
{
    const char *e = db_errmsg();
    ck_assert_msg(strchr(e, '\n') == NULL, "not one line: %s", e);
    ck_assert_msg(strstr(e, "dq.safetensors") != NULL, "does not name the file: %s", e);
    ck_assert_msg(strstr(e, what) != NULL, "does not say '%s': %s", what, e);
}

START_TEST(test_bad_parts)
{
    tl_scratch_make("check_deltadq");
    const uint16_t ok_scale = f32_to_f16(0.002f);
    ck_assert_msg(open_made("2", ok_scale, 8, 2) == DB_OK, "%s", db_errmsg());
    ck_assert_int_eq(open_made("2", 0x7e00 /* NaN */, 8, 2), DB_ERR_FORMAT);
    one_line_naming("scale of stage 1");
    ck_assert_int_eq(open_made("2", 0xfc00 /* -inf */, 8, 2), DB_ERR_FORMAT);
    one_line_naming("scale of stage 1");
    ck_assert_int_eq(open_made("2", ok_scale, 12, 2), DB_ERR_FORMAT);
    one_line_naming("group size 12");
    ck_assert_int_eq(open_made("2", ok_scale, 0, 2), DB_ERR_FORMAT);
    one_line_naming("group size 0");
    ck_assert_int_eq(open_made("2", ok_scale, 8, 3), DB_ERR_FORMAT); /* a stage of the wrong size */
    one_line_naming("w.q0");
    ck_assert_int_eq(open_made("1", ok_scale, 8, 2), DB_ERR_FORMAT); /* the row-padded layout */
    one_line_naming("format version 1");
    ck_assert_int_eq(open_made("x2", ok_scale, 8, 2), DB_ERR_FORMAT);
    one_line_naming("format version 'x2'");
    tl_scratch_drop();
}
END_TEST

/* apply_ref agrees with decode + a dense product. */
START_TEST(test_apply_matches_decode)
{
    const dc_method *m = dc_method_find("deltadq");
    pair pr;
    pair_make(&pr, 24, 96, 3);
    for (int i = 0; i < (int)NSET; i++) {
        dc_params p;
        setting(i, &p);
        dc_packed pk;
        ck_assert_int_eq(dc_encode(m, &pr.src, &p, NULL, &pk), DB_OK);
        dc_tensor t = {.name = pr.src.name, .role = DC_ROLE_DELTA, .packed = pk};
        float dense[24 * 96], x[2 * 96], y[2 * 24] = {0};
        for (int k = 0; k < 2 * 96; k++)
            x[k] = (float)sin(0.37 * k);
        ck_assert_int_eq(dc_decode_dense(&t, dense), DB_OK);
        ck_assert_int_eq(dc_apply_ref(&t, 2, x, y), DB_OK);
        for (int b = 0; b < 2; b++)
            for (int n = 0; n < 24; n++) {
                double want = 0, mag = 0;
                for (int k = 0; k < 96; k++)
                    want += (double)dense[n * 96 + k] * x[b * 96 + k],
                        mag += fabs((double)dense[n * 96 + k] * x[b * 96 + k]);
                ck_assert(fabs(y[b * 24 + n] - want) <= 1e-5 * mag + 1e-12);
            }
        dc_packed_free(&pk);
    }
    pair_free(&pr);
}
END_TEST

/* With a Hessian the search minimises tr(E H E^T): a Hessian that weighs one column only makes
 * the choice the candidate with the least error on that column. */
START_TEST(test_search_uses_hessian)
{
    const dc_method *m = dc_method_find("deltadq");
    pair pr;
    pair_make(&pr, 16, 64, 9);
    dc_params p;
    setting(0, &p);
    float *H = calloc(64 * 64, sizeof *H);
    H[5 * 64 + 5] = 1.0f;
    dc_packed pk;
    ck_assert_int_eq(dc_encode(m, &pr.src, &p, H, &pk), DB_OK);
    int64_t G = ((const uint16_t *)dc_packed_part(&pk, "group")->data)[0];
    double best = INFINITY, eG = -1;
    for (int64_t g = 4; g <= 64; g *= 2) {
        float dn[16 * 64];
        uint32_t *cd[2] = {malloc(4 * 16 * 64), malloc(4 * 16 * 64)};
        uint16_t sc[2];
        ref_encode(&pr, &p, g, dn, cd, sc);
        double e = 0;
        for (int n = 0; n < 16; n++)
            e += ((double)dn[n * 64 + 5] - pr.d[n * 64 + 5]) * ((double)dn[n * 64 + 5] - pr.d[n * 64 + 5]);
        best = fmin(best, e);
        if (g == G)
            eG = e;
        free(cd[0]), free(cd[1]);
    }
    ck_assert_msg(fabs(eG - best) <= 1e-6 * best, "G %lld: %g, best %g", (long long)G, eG, best);
    free(H);
    dc_packed_free(&pk);
    pair_free(&pr);
}
END_TEST

typedef struct {
    pair *pr;
    dc_params p;
    dc_packed pk;
} sweep_ctx;

static db_status sweep_encode(void *v)
{
    sweep_ctx *c = v;
    return dc_encode(dc_method_find("deltadq"), &c->pr->src, &c->p, NULL, &c->pk);
}

static void sweep_done(void *v, db_status s)
{
    sweep_ctx *c = v;
    if (!s)
        dc_packed_free(&c->pk);
    else
        ck_assert_int_eq(c->pk.nparts, 0);
}

START_TEST(test_alloc_sweep)
{
    pair pr;
    pair_make(&pr, 8, 64, 2);
    sweep_ctx c = {.pr = &pr};
    setting(1, &c.p);
    tl_alloc_sweep("deltadq encode", sweep_encode, sweep_done, &c, 100);
    pair_free(&pr);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("deltadq");
    TCase *tc = tcase_create("format2");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_reference_roundtrip);
    tcase_add_test(tc, test_bytes_exact);
    tcase_add_test(tc, test_bad_parts);
    tcase_add_test(tc, test_apply_matches_decode);
    tcase_add_test(tc, test_search_uses_hessian);
    tcase_add_test(tc, test_alloc_sweep);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return tl_run(suite()); }
