/* distill.c: BitDelta scale distillation (see distill.h).
 *
 * The student is the base model with W = W_base + α·S for every linear tensor (S = sign bits as
 * ±1, decoded once) and the container's whole tensors; the teacher is the fine-tuned model. Per
 * step: teacher logits z*, student logits z, the loss and dL/dz (MSE: L = mean((z − z*)²),
 * dL/dz = 2(z − z*)/n; KL: L = mean over positions of Σ_v p*_v (log p*_v − log p_v) with p =
 * softmax(z), dL/dz = (p − p*)/positions), the full backward, g_α = Σ_ij G_ij S_ij, Adam on α,
 * then W is rebuilt. The output container is a copy of the input with each "<name>.scale" tensor
 * replaced. */
#include "models/distill.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "compressors/compressor.h"
#include "core/alloc.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "models/tf.h"
#include "models/tf_delta.h"

typedef struct {
    const char *name;
    float *w;        /* the student's weight [N, K] */
    const float *wb; /* the base's weight */
    float *sign;     /* [N, K] of ±1 (0 where the decoded delta is 0) */
    size_t n;
    float alpha, m, v;
    float *gw;       /* the weight gradient in the student's gradient block */
} scale_var;

double distill_loss_grad(distill_loss kind, const float *z, const float *zt, size_t rows, size_t V,
                        float *g)
{
    const size_t n = rows * V;
    double loss = 0.0;
    if (kind == DISTILL_MSE) {
        const float k = 2.0f / (float)n;
        for (size_t i = 0; i < n; i++) {
            float e = z[i] - zt[i];
            loss += (double)e * e;
            g[i] = k * e;
        }
        return loss / (double)n;
    }
    for (size_t r = 0; r < rows; r++) {
        const float *a = z + r * V, *b = zt + r * V;
        float ma = a[0], mb = b[0];
        for (size_t v = 1; v < V; v++)
            ma = a[v] > ma ? a[v] : ma, mb = b[v] > mb ? b[v] : mb;
        double sa = 0, sb = 0;
        for (size_t v = 0; v < V; v++)
            sa += exp((double)a[v] - ma), sb += exp((double)b[v] - mb);
        const double la = log(sa) + ma, lb = log(sb) + mb; /* log-partition functions */
        for (size_t v = 0; v < V; v++) {
            const double lp = a[v] - la, lq = b[v] - lb, q = exp(lq);
            loss += q * (lq - lp);
            g[r * V + v] = (float)((exp(lp) - q) / (double)rows);
        }
    }
    return loss / (double)rows;
}

/* The container's "bitdelta_distill" metadata: the settings and the loss so far. */
static void distill_note(char *note, size_t n, const distill_opts *o, int steps, const char *task,
                         const distill_result *r)
{
    snprintf(note, n, "loss=%s steps=%d lr=%g batch=%d seq=%d seed=%llu task=%s %.6g->%.6g",
             o->loss == DISTILL_KL ? "kl" : "mse", steps, (double)o->lr, o->B, o->T,
             (unsigned long long)o->seed, task, r->loss_first, r->loss_last);
}

static void rebuild(scale_var *s)
{
    for (size_t i = 0; i < s->n; i++)
        s->w[i] = s->wb[i] + s->alpha * s->sign[i];
}

/* Copies delta_path to out_path with every "<name>.scale" replaced by its distilled value. */
static db_status write_container(const char *delta_path, const char *out_path, scale_var *vars,
                                 int nv, const char *note)
{
    st_file *f = NULL;
    st_writer *w = NULL;
    db_status s = st_open(delta_path, &f);
    if (s)
        return s;
    if ((s = st_writer_open(out_path, &w)))
        goto out;
    bool have_note = false;
    for (size_t i = 0; i < st_meta_count(f) && !s; i++) {
        const char *k = st_meta_key(f, i);
        have_note |= !strcmp(k, "bitdelta_distill");
        s = st_writer_meta(w, k, strcmp(k, "bitdelta_distill") ? st_meta_value(f, i) : note);
    }
    if (!s && !have_note)
        s = st_writer_meta(w, "bitdelta_distill", note);
    for (size_t i = 0; i < st_count(f) && !s; i++) {
        const st_tensor_info *ti = st_get(f, i);
        s = st_writer_declare(w, ti->name, ti->dtype, ti->ndim, ti->shape);
    }
    if (!s)
        s = st_writer_begin(w);
    const char *due;
    while (!s && (due = st_writer_next(w))) {
        const st_tensor_info *ti = st_find(f, due);
        const void *data = ti->data;
        size_t len = strlen(due);
        for (int v = 0; v < nv; v++) {
            size_t nl = strlen(vars[v].name);
            if (len == nl + 6 && !strncmp(due, vars[v].name, nl) && !strcmp(due + nl, ".scale")) {
                if (ti->dtype != DT_F32 || ti->nbytes != sizeof(float)) {
                    s = db_error(DB_ERR_FORMAT, "%s: %s is not one F32 scale", delta_path, due);
                    break;
                }
                data = &vars[v].alpha;
            }
        }
        if (!s)
            s = st_writer_write(w, data, ti->nbytes);
    }
    if (s) {
        st_writer_abort(w);
    } else {
        s = st_writer_finish(w);
    }
out:
    st_close(f);
    return s;
}

db_status distill_bitdelta(const char *base_dir, const char *target_dir, const char *delta_path,
                           const db_task *t, const distill_opts *o, const char *out_path,
                           distill_result *r)
{
    memset(r, 0, sizeof *r);
    if (o->steps < 1 || o->B < 1 || o->T < 2 || !(o->lr > 0))
        return db_error(DB_ERR_ARG, "distill: need steps >= 1, batch >= 1, seq >= 2, lr > 0");
    for (int i = 0; i < o->nsnap; i++)
        if (o->snap_steps[i] < 1 || o->snap_steps[i] >= o->steps ||
            (i && o->snap_steps[i] <= o->snap_steps[i - 1]) || !o->snap_paths[i])
            return db_error(DB_ERR_ARG, "distill: snapshot steps must ascend within 1..%d",
                            o->steps - 1);
    tf_model stu = {0}, tea = {0};
    float *wbase = NULL, *tlogits = NULL, *dlog = NULL;
    int *tok = NULL, *tgt = NULL;
    scale_var *vars = NULL;
    int nv = 0;
    tf_delta *d = NULL;
    dc_delta *dc = NULL;
    db_status s;
    if ((s = tf_model_load(&stu, base_dir)) || (s = tf_model_load(&tea, target_dir)))
        goto out;
    if (memcmp(&stu.cfg, &tea.cfg, sizeof stu.cfg) != 0) {
        s = db_error(DB_ERR_SHAPE, "distill: %s and %s have different configs", base_dir,
                     target_dir);
        goto out;
    }
    if (o->T > stu.cfg.maxT) {
        s = db_error(DB_ERR_ARG, "distill: window %d exceeds the context %d", o->T, stu.cfg.maxT);
        goto out;
    }
    /* the container: method check, whole tensors into the student, signs decoded */
    if ((s = dc_delta_open(delta_path, base_dir, &dc)))
        goto out;
    if (strcmp(dc_delta_method(dc)->name, "bitdelta") != 0) {
        s = db_error(DB_ERR_ARG, "%s: scale distillation needs a bitdelta container, not %s",
                     delta_path, dc_delta_method(dc)->name);
        goto out;
    }
    wbase = db_malloc_array(stu.nparams, sizeof(float));
    vars = db_calloc(dc_delta_count(dc), sizeof *vars);
    if (!wbase || !vars) {
        s = db_error(DB_ERR_NOMEM, "distill: out of memory");
        goto out;
    }
    if ((s = tf_delta_attach(&stu, base_dir, delta_path, &d)))
        goto out;
    tf_delta_detach(&stu, d); /* keep the whole tensors it wrote; the linears are rebuilt here */
    d = NULL;
    memcpy(wbase, stu.params, stu.nparams * sizeof(float));
    if ((s = tf_train_alloc(&stu)))
        goto out;
    for (size_t i = 0; i < dc_delta_count(dc); i++) {
        const dc_tensor *ti = dc_delta_get(dc, i);
        if (ti->role != DC_ROLE_DELTA)
            continue;
        llama_tensor kind;
        int layer;
        const dc_part *sp = dc_packed_part(&ti->packed, "scale");
        if (!llama_parse(ti->name, &kind, &layer) || !sp || sp->dtype != DT_F32) {
            s = db_error(DB_ERR_FORMAT, "%s: tensor %s has no F32 scale", delta_path, ti->name);
            goto out;
        }
        scale_var *v = &vars[nv++];
        v->name = ti->name;
        v->w = tf_weight(&stu, kind, layer, NULL, NULL);
        v->wb = wbase + (v->w - stu.params);
        v->gw = stu.grads + (v->w - stu.params);
        v->n = (size_t)(ti->packed.N * ti->packed.K);
        memcpy(&v->alpha, sp->data, sizeof(float));
        if (!(v->sign = db_malloc_array(v->n, sizeof(float)))) {
            s = db_error(DB_ERR_NOMEM, "distill: out of memory");
            goto out;
        }
        if ((s = dc_decode_dense(ti, v->sign)))
            goto out;
        for (size_t j = 0; j < v->n; j++)
            v->sign[j] = v->sign[j] > 0 ? 1.0f : v->sign[j] < 0 ? -1.0f : 0.0f;
        rebuild(v);
    }
    r->nscales = nv;
    size_t BT = (size_t)o->B * o->T, BTV = BT * (size_t)stu.cfg.V;
    tok = db_malloc_array(BT, sizeof(int));
    tgt = db_malloc_array(BT, sizeof(int));
    tlogits = db_malloc_array(BTV, sizeof(float));
    dlog = db_malloc_array(BTV, sizeof(float));
    if (!tok || !tgt || !tlogits || !dlog) {
        s = db_error(DB_ERR_NOMEM, "distill: out of memory");
        goto out;
    }
    if ((s = tf_acts_alloc(&stu, o->B, o->T, true)) || (s = tf_acts_alloc(&tea, o->B, o->T, false)))
        goto out;
    db_rng rng;
    rng_seed(&rng, o->seed);
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-12f;
    double t0 = db_now();
    int snap = 0;
    char note[160];
    for (int step = 1; step <= o->steps; step++) {
        task_batch(t, &rng, o->B, o->T, tok, tgt);
        if ((s = tf_forward(&tea, tok, NULL, o->B, o->T, NULL)))
            goto out;
        memcpy(tlogits, tea.acts.logits, BTV * sizeof(float));
        if ((s = tf_forward(&stu, tok, NULL, o->B, o->T, NULL)))
            goto out;
        const double loss = distill_loss_grad(o->loss, stu.acts.logits, tlogits, BT, (size_t)stu.cfg.V, dlog);
        if (step == 1)
            r->loss_first = loss;
        r->loss_last = loss;
        tf_zero_grad(&stu);
        if ((s = tf_backward_from(&stu, dlog)))
            goto out;
        for (int i = 0; i < nv; i++) {
            scale_var *v = &vars[i];
            double g = 0.0;
            for (size_t j = 0; j < v->n; j++)
                g += (double)v->gw[j] * v->sign[j];
            v->m = b1 * v->m + (1 - b1) * (float)g;
            v->v = b2 * v->v + (1 - b2) * (float)(g * g);
            float mh = v->m / (1 - powf(b1, (float)step)), vh = v->v / (1 - powf(b2, (float)step));
            v->alpha -= o->lr * mh / (sqrtf(vh) + eps);
            rebuild(v);
        }
        if (snap < o->nsnap && step == o->snap_steps[snap]) {
            distill_note(note, sizeof note, o, step, t->name, r);
            if ((s = write_container(delta_path, o->snap_paths[snap++], vars, nv, note)))
                goto out;
        }
    }
    r->seconds = db_now() - t0;
    distill_note(note, sizeof note, o, o->steps, t->name, r);
    s = write_container(delta_path, out_path, vars, nv, note);
out:
    for (int i = 0; i < nv; i++)
        db_free(vars[i].sign);
    db_free(vars);
    db_free(wbase);
    db_free(tlogits);
    db_free(dlog);
    db_free(tok);
    db_free(tgt);
    tf_delta_detach(&stu, d);
    dc_delta_close(dc);
    tf_model_free(&stu);
    tf_model_free(&tea);
    return s;
}
