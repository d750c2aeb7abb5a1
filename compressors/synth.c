/* synth.c: synthetic base / fine-tuned checkpoint pairs with real Llama names and shapes.
 *
 * Real weights cannot be downloaded here, yet size accounting and benchmarks need checkpoints
 * of the real shapes. The pair is generated row by row from per-row seeded streams (so the
 * output does not depend on the thread count) and written streaming: memory is a few rows.
 *
 * Distributions: base linear/embedding weights ~ N(0, 0.02²) (Llama's init scale; a sum of four
 * uniforms, cheap and smooth), norms 1 + N(0, 0.1²). The delta of every tensor is
 *   Δ[r, c] = delta_std · a_r · b_c · λ · g,
 * g ≈ standard normal (Irwin-Hall of three uniforms), λ from a lognormal scale mixture
 * (σ = tail_sigma, default 0.6, normalised to E[λ²] = 1) for heavy tails, a_r, b_c per-row /
 * per-column lognormal factors (row_sigma, col_sigma, default 0.3) for channel structure
 * (dc_synth_params; registry entry dz1 fits them to the zoo's deltas). Target = fp16(base + Δ). */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "compressors/compressor.h"
#include "core/alloc.h"
#include "core/half.h"
#include "core/hash.h"
#include "core/llama_names.h"
#include "core/log.h"
#include "core/rng.h"
#include "core/safetensors.h"

#define LAMBDA_N 256
#define ROWS_PER_CHUNK 32

/* Approximately standard normal from 64 random bits: (sum of four 16-bit uniforms - 2) √3. */
static inline float fast_normal(uint64_t u)
{
    float s = (float)(u & 0xffff) + (float)(u >> 16 & 0xffff) + (float)(u >> 32 & 0xffff) +
              (float)(u >> 48);
    return (s * (1.0f / 65536.0f) - 2.0f) * 1.7320508f;
}

/* Approximately standard normal from the low 48 bits: (sum of three 16-bit uniforms - 1.5) 2. */
static inline float fast_normal3(uint64_t u)
{
    float s = (float)(u & 0xffff) + (float)(u >> 16 & 0xffff) + (float)(u >> 32 & 0xffff);
    return (s * (1.0f / 65536.0f) - 1.5f) * 2.0f;
}

static double normal_quantile(double p)
{
    /* bisection on erfc: exact enough for a 256-entry table, and dependency free */
    double lo = -10, hi = 10;
    for (int i = 0; i < 100; i++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(-mid / sqrt(2.0)) < p)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

typedef struct {
    llama_tensor kind;
    int layer;
    char name[96];
    int ndim;
    int64_t shape[2];
} synth_tensor;

/* The tensors of shape s in HF order. */
static size_t synth_list(const llama_model *s, synth_tensor *out)
{
    static const llama_tensor layer_kinds[] = {LT_ATTN_NORM, LT_Q, LT_K,  LT_V,  LT_O,
                                               LT_MLP_NORM,  LT_GATE, LT_UP, LT_DOWN};
    llama_shape ls = llama_model_shape(s);
    size_t n = 0;
#define ADD(k, l)                                                                                  \
    do {                                                                                           \
        if (out) {                                                                                 \
            out[n].kind = (k), out[n].layer = (l);                                                 \
            llama_name(out[n].name, sizeof out[n].name, (k), (l));                                 \
            out[n].ndim = llama_tensor_shape(&ls, (k), out[n].shape);                              \
        }                                                                                          \
        n++;                                                                                       \
    } while (0)
    ADD(LT_EMBED, -1);
    for (int l = 0; l < s->L; l++)
        for (size_t j = 0; j < sizeof layer_kinds / sizeof layer_kinds[0]; j++)
            ADD(layer_kinds[j], l);
    ADD(LT_FINAL_NORM, -1);
    ADD(LT_LM_HEAD, -1);
#undef ADD
    return n;
}

static bool is_norm(llama_tensor k) { return k == LT_ATTN_NORM || k == LT_MLP_NORM || k == LT_FINAL_NORM; }

/* Writes the Hessians of the linear tensors: per distinct layer input (attention input shared
 * by q,k,v; o's input; the MLP input shared by gate,up; down's input) n correlated activations
 * x_k = ρ x_{k-1} + √(1-ρ²) z_k (ρ = 0.9) times per-feature lognormal scales (σ = 0.5, a few
 * outlier channels), H = 2/n XᵀX (cblas_ssyrk). */
static db_status write_calib(const llama_model *s, synth_tensor *ts, size_t nt, uint64_t seed,
                             const char *path, int64_t ntok)
{
    st_writer *w = NULL;
    db_status st = st_writer_open(path, &w);
    char tokbuf[32];
    snprintf(tokbuf, sizeof tokbuf, "%lld", (long long)ntok);
    if (!st)
        st = st_writer_meta(w, "tokens", tokbuf);
    int64_t maxK = s->C > s->F ? s->C : s->F;
    for (size_t i = 0; i < nt && !st; i++)
        if (llama_is_linear(ts[i].kind)) {
            char name[128];
            snprintf(name, sizeof name, "%s.hessian", ts[i].name);
            int64_t shape[2] = {ts[i].shape[1], ts[i].shape[1]};
            st = st_writer_declare(w, name, DT_F32, 2, shape);
        }
    if (!st)
        st = st_writer_begin(w);
    float *X = db_malloc_array((size_t)(ntok * maxK), sizeof *X);
    float *H = db_malloc_array((size_t)(maxK * maxK), sizeof *H);
    float *sc = db_malloc_array((size_t)maxK, sizeof *sc);
    if (!st && (!X || !H || !sc))
        st = db_error(DB_ERR_NOMEM, "synth: out of memory for calibration statistics");
    const char *name;
    while (!st && (name = st_writer_next(w))) {
        char tname[128];
        snprintf(tname, sizeof tname, "%.*s", (int)(strlen(name) - strlen(".hessian")), name);
        llama_tensor kind;
        int layer;
        llama_parse(tname, &kind, &layer);
        size_t i = 0;
        while (strcmp(ts[i].name, tname))
            i++;
        const int64_t K = ts[i].shape[1];
        int input = kind == LT_O ? 1 : kind == LT_GATE || kind == LT_UP ? 2 : kind == LT_DOWN ? 3 : 0;
        db_rng r;
        rng_stream(&r, seed ^ 0xca11b, (uint64_t)layer * 4 + (uint64_t)input);
        for (int64_t k = 0; k < K; k++)
            sc[k] = (float)exp(0.5 * rng_normal(&r));
        for (int64_t t = 0; t < ntok; t++) {
            double prev = 0;
            for (int64_t k = 0; k < K; k++) {
                prev = 0.9 * prev + 0.43588989 * rng_normal(&r);
                X[t * K + k] = (float)prev * sc[k];
            }
        }
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)K, (int)ntok,
                    (float)(2.0 / (double)ntok), X, (int)K, 0.0f, H, (int)K);
        for (int64_t a = 0; a < K; a++)
            for (int64_t b = 0; b < a; b++)
                H[a * K + b] = H[b * K + a];
        st = st_writer_write(w, H, sizeof *H * (size_t)(K * K));
    }
    db_free(X), db_free(H), db_free(sc);
    if (st) {
        st_writer_abort(w);
        return st;
    }
    return st_writer_finish(w);
}

db_status dc_synth_write(const llama_model *s, uint64_t seed, const dc_synth_params *p,
                         const char *base_path, const char *target_path, const char *calib_path,
                         int64_t calib_tokens, bool progress)
{
    size_t nt = synth_list(s, NULL);
    synth_tensor *ts = db_calloc(nt, sizeof *ts);
    st_writer *wb = NULL, *wt = NULL;
    float *lambda = db_malloc_array(LAMBDA_N, sizeof *lambda);
    int64_t maxK = s->V > s->F ? s->V : s->F;
    maxK = maxK > s->C ? maxK : s->C;
    float *colf = db_malloc_array((size_t)maxK, sizeof *colf);
    size_t chunk = (size_t)ROWS_PER_CHUNK * (size_t)maxK;
    uint16_t *ob = db_malloc_array(chunk, sizeof *ob), *ot = db_malloc_array(chunk, sizeof *ot);
    db_status st = ts && lambda && colf && ob && ot ? DB_OK : db_error(DB_ERR_NOMEM, "synth: out of memory");
    if (st)
        goto done;
    if (!(p->delta_std > 0) || !(p->tail_sigma >= 0 && p->tail_sigma <= 3) ||
        !(p->row_sigma >= 0 && p->row_sigma <= 3) || !(p->col_sigma >= 0 && p->col_sigma <= 3)) {
        st = db_error(DB_ERR_ARG, "synth: need delta_std > 0 and every sigma in [0, 3]");
        goto done;
    }
    synth_list(s, ts);
    for (size_t i = 0; i < nt; i++)
        if (ts[i].ndim == 0) {
            st = db_error(DB_ERR_ARG, "synth: shape %s is not a valid Llama config", s->name);
            goto done;
        }
    /* λ table: lognormal quantiles, normalised to E[λ²] = 1 */
    double m2 = 0;
    for (int i = 0; i < LAMBDA_N; i++) {
        lambda[i] = (float)exp(p->tail_sigma * normal_quantile((i + 0.5) / LAMBDA_N));
        m2 += (double)lambda[i] * lambda[i];
    }
    for (int i = 0; i < LAMBDA_N; i++)
        lambda[i] = (float)(lambda[i] / sqrt(m2 / LAMBDA_N));
    st = st_writer_open(base_path, &wb);
    if (!st)
        st = st_writer_open(target_path, &wt);
    char seedbuf[32];
    snprintf(seedbuf, sizeof seedbuf, "%llu", (unsigned long long)seed);
    const char *mk[] = {"format", "deltabench_synth", "deltabench_seed"};
    const char *mv[] = {"pt", s->name, seedbuf};
    for (int i = 0; i < 3 && !st; i++) {
        st = st_writer_meta(wb, mk[i], mv[i]);
        if (!st)
            st = st_writer_meta(wt, mk[i], mv[i]);
    }
    int64_t total = 0;
    for (size_t i = 0; i < nt && !st; i++) {
        st = st_writer_declare(wb, ts[i].name, DT_F16, ts[i].ndim, ts[i].shape);
        if (!st)
            st = st_writer_declare(wt, ts[i].name, DT_F16, ts[i].ndim, ts[i].shape);
        total += 2 * shape_numel(ts[i].ndim, ts[i].shape);
    }
    if (!st)
        st = st_writer_begin(wb);
    if (!st)
        st = st_writer_begin(wt);
    db_progress pg;
    if (progress)
        progress_start(&pg, "synth", total > 0 ? total : 1);
    for (size_t i = 0; i < nt && !st; i++) {
        const synth_tensor *x = &ts[i];
        const char *due = st_writer_next(wb);
        if (!due || strcmp(due, x->name) || !st_writer_next(wt) || strcmp(st_writer_next(wt), x->name)) {
            st = db_error(DB_ERR_INTERNAL, "synth: writer order differs from generation order");
            break;
        }
        const int64_t R = x->ndim == 2 ? x->shape[0] : 1, C = x->ndim == 2 ? x->shape[1] : x->shape[0];
        const uint64_t tid = hash_str(x->name);
        const bool norm = is_norm(x->kind);
        db_rng cr;
        rng_stream(&cr, seed, tid ^ 0xc01f);
        for (int64_t c = 0; c < C; c++)
            colf[c] = (float)exp(p->col_sigma * rng_normal(&cr));
        for (int64_t r0 = 0; r0 < R && !st; r0 += ROWS_PER_CHUNK) {
            int64_t r1 = r0 + ROWS_PER_CHUNK < R ? r0 + ROWS_PER_CHUNK : R;
#pragma omp parallel for schedule(static)
            for (int64_t r = r0; r < r1; r++) {
                db_rng rb, rd;
                rng_stream(&rb, seed, dc_row_stream(tid, r));
                rng_stream(&rd, seed ^ 0xde17a, dc_row_stream(tid, r));
                const float rowf = (float)(p->delta_std * exp(p->row_sigma * rng_normal(&rd)));
                uint16_t *pb = ob + (r - r0) * C, *pt = ot + (r - r0) * C;
                for (int64_t c = 0; c < C; c++) {
                    float base = norm ? 1.0f + 0.1f * fast_normal(rng_u64(&rb))
                                      : 0.02f * fast_normal(rng_u64(&rb));
                    uint64_t u = rng_u64(&rd);
                    float d = rowf * colf[c] * lambda[u >> 56] * fast_normal3(u);
                    uint16_t hb = f32_to_f16(base);
                    pb[c] = hb;
                    pt[c] = f32_to_f16(f16_to_f32(hb) + d);
                }
            }
            size_t nb = (size_t)(r1 - r0) * (size_t)C * 2;
            st = st_writer_write(wb, ob, nb);
            if (!st)
                st = st_writer_write(wt, ot, nb);
            if (progress)
                progress_add(&pg, 2 * (int64_t)(r1 - r0) * C);
        }
    }
    if (progress)
        progress_end(&pg);
    if (!st) {
        st = st_writer_finish(wb);
        wb = NULL;
    }
    if (!st) {
        st = st_writer_finish(wt);
        wt = NULL;
        if (st)
            remove(base_path);
    }
    if (!st && calib_path) {
        st = write_calib(s, ts, nt, seed, calib_path, calib_tokens);
        if (st)
            remove(base_path), remove(target_path);
    }
done:
    st_writer_abort(wb);
    st_writer_abort(wt);
    db_free(ts), db_free(lambda), db_free(colf), db_free(ob), db_free(ot);
    return st;
}

db_status dc_synth_zero_like(const char *model_path, const char *out_path)
{
    st_model *m = NULL;
    st_writer *w = NULL;
    void *zero = NULL;
    db_status st = st_model_open(model_path, &m);
    if (st)
        return st;
    size_t n = st_model_count(m), maxb = 1;
    st = st_writer_open(out_path, &w);
    if (!st)
        st = st_writer_meta(w, "format", "pt");
    if (!st)
        st = st_writer_meta(w, "deltabench_synth", "zero-like");
    for (size_t i = 0; i < n && !st; i++) {
        const st_tensor_info *ti = st_model_get(m, i);
        st = st_writer_declare(w, ti->name, ti->dtype, ti->ndim, ti->shape);
        maxb = ti->nbytes > maxb ? ti->nbytes : maxb;
    }
    if (!st)
        st = st_writer_begin(w);
    if (!st && !(zero = db_calloc(maxb, 1)))
        st = db_error(DB_ERR_NOMEM, "%s: out of memory", out_path);
    /* the writer asks for tensors in its own (alignment) order */
    for (const char *due; !st && (due = st_writer_next(w));)
        st = st_writer_write(w, zero, st_model_find(m, due)->nbytes);
    if (!st) {
        st = st_writer_finish(w);
        w = NULL;
    }
    st_writer_abort(w);
    db_free(zero);
    st_model_close(m);
    return st;
}
