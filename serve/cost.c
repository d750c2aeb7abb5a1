/* serve/cost.c: model shapes, delta formats (bytes from compressors/) and the roofline cost of
 * an iteration and of a load. Kept free of engine state so tests can recompute every number. */
#include "serve/cost.h"

#include <math.h>
#include <string.h>

#include "compressors/compressor.h"

/* The formats the papers serve. 4bit-2:4 is DeltaZip's serving setting (CLAIMS DZ-3); deltadq's
 * defaults (4-bit codes in 2 planes, 12 of every 16 columns dropped) are the compressors'
 * 16x setting. */
static const cost_format formats[] = {
    {"fp16", "fp16", 0, 0, 0, 0, 0, 0, 1.0, "delta.fp16", "uncompressed fp16 delta"},
    {"int4", "rtn", 4, 0, 0, 0, 128, 0, 1.0, "delta.rtn", "round-to-nearest 4-bit, groups of 128"},
    {"4bit-2:4", "deltazip", 4, 2, 4, 0, 0, 0, 0.5, "delta.sbmm",
     "DeltaZip: 2:4 pruning + 4-bit (paper's serving setting)"},
    {"2bit-2:4", "deltazip", 2, 2, 4, 0, 0, 0, 0.5, "delta.sbmm", "DeltaZip: 2:4 pruning + 2-bit"},
    {"bitdelta", "bitdelta", 0, 0, 0, 0, 0, 0, 1.0, "delta.bitdelta",
     "BitDelta: sign bits + one scale per matrix"},
    {"deltadq-16x", "deltadq", 4, 0, 0, 0.75, 16, 2, 0.25, "delta.deltadq",
     "DeltaDQ: keep 4 of 16 per group, 4-bit in 2 planes (~16x)"},
    {"deltadq-32x", "deltadq", 4, 0, 0, 0.875, 16, 2, 0.125, "delta.deltadq",
     "DeltaDQ: keep 2 of 16 per group, 4-bit in 2 planes (~32x)"},
};
const char *const cost_format_names[] = {"fp16",     "int4",        "4bit-2:4",    "2bit-2:4",
                                         "bitdelta", "deltadq-16x", "deltadq-32x", NULL};

const cost_format *cost_format_find(const char *name)
{
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (!strcmp(formats[i].name, name))
            return &formats[i];
    return NULL;
}

db_status cost_format_params(const cost_format *f, const dc_method **method, dc_params *p)
{
    const dc_method *dm = dc_method_find(f->method);
    if (!dm)
        return db_error(DB_ERR_UNSUPPORTED, "delta format %s: compressor method '%s' not built",
                        f->name, f->method);
    dc_params_default(dm, p);
    if (dm->uses & DC_P_BITS)
        p->bits = f->bits;
    if (dm->uses & DC_P_NM)
        p->nm_n = f->nm_n, p->nm_m = f->nm_m;
    if (dm->uses & DC_P_DROP)
        p->drop = f->drop;
    if (dm->uses & DC_P_GROUP)
        p->group = f->group;
    if (dm->uses & DC_P_PARTS)
        p->parts = f->parts;
    *method = dm;
    return DB_OK;
}

db_status cost_format_linear_bytes(const cost_format *f, const llama_model *m, double *bytes)
{
    const dc_method *dm;
    dc_params p;
    db_status st = cost_format_params(f, &dm, &p);
    if (st != DB_OK)
        return st;
    int64_t HS = m->C / m->NH;
    /* [N, K] of q, k, v, o, gate, up, down (HF layout: N output rows). */
    int64_t shapes[7][2] = {{m->NH * HS, m->C}, {m->NKV * HS, m->C}, {m->NKV * HS, m->C},
                            {m->C, m->NH * HS}, {m->F, m->C},        {m->F, m->C},
                            {m->C, m->F}};
    double per_layer = 0;
    for (int i = 0; i < 7; i++) {
        db_status s = dc_params_check(dm, &p, shapes[i][0], shapes[i][1]);
        if (s != DB_OK)
            return db_error(s, "delta format %s: %s", f->name, db_errmsg());
        per_layer += dm->bytes(&p, shapes[i][0], shapes[i][1]);
    }
    *bytes = per_layer * (double)m->L;
    return DB_OK;
}

/* Roofline seconds of a weight n x k at T tokens on one GPU at efficiency e_c (FLOPs) / e_m
 * (bytes). */
static double roof_nk(const hw_profile *hw, double n, double k, double T, double e_c, double e_m)
{
    double fl = 2 * n * k * T / (hw->peak_flops * e_c), by = 2 * n * k / (hw->hbm_bw * e_m);
    return fl > by ? fl : by;
}

/* The measured-surface mode: the curves' knot seconds (docs/serving.md, "GPU calibration"). */
static void curves_init(cost_ctx *c, const hw_profile *hw, const cost_format *f)
{
    const hw_surface *sf = &hw->surf;
    const llama_model *m = c->model;
    const int tp = c->tp;
    const double tpd = (double)tp, C = (double)m->C, HS = (double)(m->C / m->NH);
    const double L = (double)m->L, F = (double)m->F;
    /* The 7 projections as the surface's 4 GEMMs (q/k/v and gate/up fused), on one GPU. */
    const double shape[HW_NOPS][2] = {
        {((double)m->NH + 2.0 * (double)m->NKV) * HS / tpd, C},
        {C, (double)m->NH * HS / tpd},
        {2 * F / tpd, C},
        {C, F / tpd},
    };
    const double hn = (double)m->V / tpd; /* lm_head: a GEMM of V/TP x C on the surface */
    c->curved = true;
    c->k.gemm_curve = 1;
    c->k.delta_curve = f ? 1 : 0;
    cost_knots *kn = &c->kn;
    kn->n = sf->nknots;
    for (int i = 0; i < kn->n; i++)
        kn->k[i].tok = sf->tokens[i];
    kn->shift = 0;
    while (((int64_t)kn->k[kn->n - 1].tok >> kn->shift) >= COST_BUCKETS - 1)
        kn->shift++;
    for (int b = 0, i = 0; b < COST_BUCKETS; b++) {
        while (i + 1 < kn->n && kn->k[i + 1].tok <= (double)((int64_t)b << kn->shift))
            i++;
        kn->bucket[b] = (uint16_t)i;
    }
    /* A delta kernel runs at the dense GEMM's measured efficiency at its own arithmetic
     * intensity, times the profile's ratio of delta to dense efficiency (an assumption, or a
     * bench-kernel overlay's measurement: "modelled" in docs/serving.md). */
    double km = 1, kc = 1;
    if (f) {
        char key[64];
        snprintf(key, sizeof key, "%s.mem", f->eff_key);
        km = hw_eff(hw, key, hw_eff(hw, "gemm.mem", 1.0)) / hw_eff(hw, "gemm.mem", 1.0);
        snprintf(key, sizeof key, "%s.compute", f->eff_key);
        kc = hw_eff(hw, key, hw_eff(hw, "gemm.compute", 1.0)) / hw_eff(hw, "gemm.compute", 1.0);
        c->delta_x = 2 * c->w_lin * f->density / c->delta_lin_bytes;
    }
    /* The surface's kernel weights of each GEMM's shape (hw_surface_weights), once. */
    double wt[HW_NOPS + 1][HW_MAX_ROWS];
    for (int op = 0; op < HW_NOPS; op++)
        hw_surface_weights(hw, shape[op][0], shape[op][1], wt[op]);
    hw_surface_weights(hw, hn, C, wt[HW_NOPS]);
    for (int i = 0; i < kn->n; i++) {
        const double T = kn->k[i].tok;
        double *sec = kn->k[i].sec;
        double lin = 0, lin_roof = 0;
        for (int op = 0; op < HW_NOPS; op++) {
            double e = hw_surface_eff_w(hw, wt[op], i);
            double r = roof_nk(hw, shape[op][0], shape[op][1], T, 1, 1);
            lin += r / e, lin_roof += r;
        }
        /* q/k/v and gate/up are each one fused GEMM here (Vidur measures them fused). */
        sec[COST_C_LIN] = L * lin;
        double eh = hw_surface_eff_w(hw, wt[HW_NOPS], i);
        sec[COST_C_HEAD] = roof_nk(hw, hn, C, T, eh, eh);
        if (!f)
            continue;
        /* At knot T (FLOPs per byte) a delta reads its bytes once and does T x bytes FLOPs. */
        double el = lin_roof / lin, B = c->delta_lin_bytes / tpd;
        double fl = T * B / (hw->peak_flops * el * kc), by = B / (hw->hbm_bw * el * km);
        sec[COST_C_DLIN] = fl > by ? fl : by;
        sec[COST_C_DHEAD] = roof_nk(hw, hn, C, T, eh * kc, eh * km);
    }
    for (int i = 0; i + 1 < kn->n; i++)
        for (int w = 0; w < COST_NCURVES; w++)
            kn->k[i].slope[w] = (kn->k[i + 1].sec[w] - kn->k[i].sec[w]) /
                                (kn->k[i + 1].tok - kn->k[i].tok);
}

db_status cost_init(cost_ctx *c, const llama_model *m, const cost_format *f, const hw_profile *hw,
                    int tp)
{
    memset(c, 0, sizeof *c);
    if (tp < 1 || tp > hw->max_gpus)
        return db_error(DB_ERR_ARG, "tensor-parallel degree %d outside [1, %d] of profile %s", tp,
                        hw->max_gpus, hw->name);
    if (m->C % m->NH || m->NH % m->NKV)
        return db_error(DB_ERR_ARG, "model %s: inconsistent head counts", m->name);
    c->model = m;
    c->format = f;
    c->tp = tp;
    double C = (double)m->C, F = (double)m->F, L = (double)m->L, V = (double)m->V;
    double kvdim = (double)(m->NKV * (m->C / m->NH));
    c->w_lin = L * (2 * C * C + 2 * C * kvdim + 3 * C * F);
    c->w_head = V * C;
    double others = 2 * V * C + 2 * L * C + C; /* embed, lm_head, 2 norms a layer, final norm */
    c->full_bytes = 2 * (c->w_lin + others);
    c->kv_token_bytes = 2 * L * kvdim * 2; /* K and V, fp16 */
    if (f) {
        db_status s = cost_format_linear_bytes(f, m, &c->delta_lin_bytes);
        if (s != DB_OK)
            return s;
        c->delta_bytes = c->delta_lin_bytes + 2 * others;
    }
    c->bw_gemm = hw->hbm_bw * hw_eff(hw, "gemm.mem", 1.0);
    c->fl_gemm = hw->peak_flops * hw_eff(hw, "gemm.compute", 1.0);
    c->bw_attn = hw->hbm_bw * hw_eff(hw, "attn.mem", 1.0);
    c->fl_attn = hw->peak_flops * hw_eff(hw, "attn.compute", 1.0);
    if (f) {
        char key[64];
        snprintf(key, sizeof key, "%s.mem", f->eff_key);
        c->bw_delta = hw->hbm_bw * hw_eff(hw, key, hw_eff(hw, "gemm.mem", 1.0));
        snprintf(key, sizeof key, "%s.compute", f->eff_key);
        c->fl_delta = hw->peak_flops * hw_eff(hw, key, hw_eff(hw, "gemm.compute", 1.0));
    }
    c->link_bw = hw->link_bw;
    c->link_lat = hw->link_lat_s;
    c->step_overhead = hw->step_overhead_s;
    c->step_token = hw->step_token_s;
    c->step_model = hw->step_model_s;
    c->pcie_bw = hw->pcie_bw;
    c->disk_bw = hw->disk_bw;
    c->load_overhead = hw->load_overhead_s;
    c->disk_lat = hw->disk_lat;
    c->load_lat = hw->load_lat;
    /* roof(FLOPs, bytes, x) = max(FLOPs / (TP·fl_x), bytes / (TP·bw_x)), per unit. */
    const double tpd = (double)tp;
    const double s_fl = 1 / (tpd * c->fl_gemm), s_by = 1 / (tpd * c->bw_gemm);
    c->k.gemm_token = 2 * c->w_lin * s_fl;
    c->k.gemm_logit = 2 * c->w_head * s_fl;
    c->k.gemm_read = 2 * (c->w_lin + c->w_head) * s_by;
    if (f) {
        const double d_fl = 1 / (tpd * c->fl_delta), d_by = 1 / (tpd * c->bw_delta);
        c->k.delta_token = 2 * c->w_lin * f->density * d_fl;
        c->k.delta_logit = 2 * c->w_head * d_fl;
        c->k.delta_read = (c->delta_lin_bytes + 2 * c->w_head) * d_by; /* + fp16 lm_head */
    }
    const double a_fl = 1 / (tpd * c->fl_attn), a_by = 1 / (tpd * c->bw_attn);
    c->k.attn_prefill_sq = 2 * L * C * a_fl;
    c->k.attn_ctx = 4 * L * C * a_fl;
    c->k.attn_kv = c->kv_token_bytes * a_by;
    /* Two ring all-reduces of the activations [T, C] fp16 per layer: each moves 2·(TP-1)/TP of
     * a token's 2·C bytes over one link, plus the link latency. */
    if (tp > 1) {
        int a = hw_surface_ar(hw, tp); /* measured all-reduce model of this TP degree */
        double bw = a >= 0 ? hw->surf.ar[a].busbw : c->link_bw;
        double lat = a >= 0 ? hw->surf.ar[a].lat_s : c->link_lat;
        c->k.ar_token = 2 * L * (2 * (tpd - 1) / tpd * C * 2 / bw);
        c->k.ar_fixed = 2 * L * lat;
    }
    if (hw->surf.nknots >= 2 && hw->surf.nrows)
        curves_init(c, hw, f);
    return DB_OK;
}

static inline double max2(double a, double b) { return a > b ? a : b; }

/* Seconds of curve `sec` at x tokens: the first knot's below it, linear between knots,
 * proportional to x past the last (compute-bound there). */
static inline double curve(const cost_ctx *c, int w, double x)
{
    const cost_knots *kn = &c->kn;
    const cost_knot *first = &kn->k[0], *last = &kn->k[kn->n - 1];
    if (x <= first->tok)
        return first->sec[w];
    if (x >= last->tok)
        return last->sec[w] * (x / last->tok);
    const cost_knot *k = &kn->k[kn->bucket[(int64_t)x >> kn->shift]];
    while (k[1].tok <= x)
        k++;
    return k->sec[w] + (x - k->tok) * k->slope[w];
}

/* The GEMM and delta terms of an iteration on the measured surface. */
static double step_curved(const cost_ctx *c, const cost_batch *b, double T, double NLg)
{
    double t = 0;
    if (b->mode == COST_SHARED_BASE) {
        t += c->k.gemm_curve * (curve(c, COST_C_LIN, T) + curve(c, COST_C_HEAD, NLg));
        if (b->n_models && c->k.delta_curve != 0) {
            int64_t tok = 0, lg = 0;
            for (int i = 0; i < b->n_models; i++)
                tok += b->tokens[i], lg += b->logits[i];
            /* Each distinct delta is read once, with the batch's tokens shared out evenly. */
            const double n = (double)b->n_models;
            t += n * (curve(c, COST_C_DLIN, c->delta_x * (double)tok / n) +
                      curve(c, COST_C_DHEAD, (double)lg / n));
        }
    } else {
        for (int i = 0; i < b->n_models; i++)
            t += c->k.gemm_curve * (curve(c, COST_C_LIN, (double)b->tokens[i]) +
                                    curve(c, COST_C_HEAD, (double)b->logits[i]));
    }
    return t;
}

/* The formulas of docs/serving.md, with cost_init's coefficients (ctx->k): the fixed costs
 * and the weight kernels here, attention and the all-reduces in cost_step_finish. */
double cost_step_weights(const cost_ctx *c, const cost_batch *b)
{
    const double T = (double)(b->prefill_tokens + b->n_decode);
    const double NLg = (double)(b->n_prefill + b->n_decode);
    double t = c->step_overhead + c->step_token * T + c->step_model * (double)b->n_models;
    if (c->curved)
        t += step_curved(c, b, T, NLg);
    else if (b->mode == COST_SHARED_BASE) {
        /* One base GEMM over every token of the batch, then one batched delta kernel that
         * reads each distinct delta once (SBMM / BitDelta's batched kernel). */
        t += max2(c->k.gemm_token * T + c->k.gemm_logit * NLg, c->k.gemm_read);
        if (b->n_models) {
            int64_t tok = 0, lg = 0;
            for (int i = 0; i < b->n_models; i++)
                tok += b->tokens[i], lg += b->logits[i];
            t += max2(c->k.delta_token * (double)tok + c->k.delta_logit * (double)lg,
                      c->k.delta_read * b->n_models);
        }
    } else {
        /* Each distinct full model runs its own GEMMs over its own weights. */
        for (int i = 0; i < b->n_models; i++)
            t += max2(c->k.gemm_token * (double)b->tokens[i] +
                          c->k.gemm_logit * (double)b->logits[i],
                      c->k.gemm_read);
    }
    return t;
}

double cost_step_finish(const cost_ctx *c, const cost_batch *b, double weights)
{
    const double T = (double)(b->prefill_tokens + b->n_decode);
    double t = weights;
    /* Attention: causal prefill 2·L·C·p² FLOPs per request (a chunk: 2·L·C·((h+c)² - h²),
     * with the h held KV tokens read); decode reads every KV token. */
    if (T > 0) {
        const double ctx = (double)b->decode_ctx;
        t += max2(c->k.attn_prefill_sq * b->prefill_sq + c->k.attn_ctx * ctx,
                  c->k.attn_kv * (ctx + (double)b->prefill_ctx + (double)b->prefill_tokens));
        t += c->k.ar_token * T + c->k.ar_fixed;
    }
    return t;
}

double cost_step(const cost_ctx *c, const cost_batch *b)
{
    return cost_step_finish(c, b, cost_step_weights(c, b));
}

double cost_term(const cost_ctx *c, const cost_batch *b, cost_term_kind k)
{
    cost_ctx t = *c;
    t.step_overhead = t.step_token = t.step_model = 0;
    t.k.ar_token = t.k.ar_fixed = 0;
    if (k != COST_TERM_GEMM)
        t.k.gemm_token = t.k.gemm_logit = t.k.gemm_read = t.k.gemm_curve = 0;
    if (k != COST_TERM_DELTA)
        t.k.delta_token = t.k.delta_logit = t.k.delta_read = t.k.delta_curve = 0;
    if (k != COST_TERM_ATTN)
        t.k.attn_prefill_sq = t.k.attn_ctx = t.k.attn_kv = 0;
    return cost_step(&t, b);
}

/* Stratum floor(u·n) of l (u < 0: the strata's mean). */
static double lat_at(const hw_lat *l, double u)
{
    if (u < 0) {
        double m = 0;
        for (int i = 0; i < l->n; i++)
            m += l->s[i];
        return m / l->n;
    }
    int i = (int)(u * l->n);
    return l->s[i < l->n ? i : l->n - 1];
}

double cost_load_disk_at(const cost_ctx *c, double bytes, double u)
{
    return (c->disk_lat.n ? lat_at(&c->disk_lat, u) : 0) + bytes / c->disk_bw;
}

double cost_load_disk(const cost_ctx *c, double bytes) { return cost_load_disk_at(c, bytes, -1); }

double cost_load_pcie_at(const cost_ctx *c, double bytes, double u)
{
    return bytes / ((double)c->tp * c->pcie_bw) +
           (c->load_lat.n ? lat_at(&c->load_lat, u) : c->load_overhead);
}

double cost_load_pcie(const cost_ctx *c, double bytes) { return cost_load_pcie_at(c, bytes, -1); }

double cost_draw(uint64_t i)
{
    double x = 0.5 + (double)(i % 1000000007u) * 0.61803398874989484820;
    return x - floor(x);
}
