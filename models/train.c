/* train.c: AdamW training loop with warm-up + cosine schedule, clipping and resumable
 * checkpoints (see train.h). */
#include "models/train.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/safetensors.h"

void train_opts_default(train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->steps = 1000;
    o->B = 16;
    o->T = 128;
    o->warmup = 50;
    o->lr = 3e-3f;
    o->lr_min = 0.1f;
    o->wd = 0.1f;
    o->clip = 1.0f;
    o->beta1 = 0.9f;
    o->beta2 = 0.95f;
    o->eps = 1e-8f;
    o->seed = 1;
}

float train_lr(const train_opts *o, int step)
{
    if (o->warmup > 0 && step <= o->warmup)
        return o->lr * (float)step / (float)o->warmup;
    int span = o->steps - o->warmup;
    double frac = span > 0 ? (double)(step - o->warmup) / span : 1.0;
    if (frac > 1.0)
        frac = 1.0;
    double cosv = 0.5 * (1.0 + cos(M_PI * frac));
    return (float)(o->lr * (o->lr_min + (1.0 - o->lr_min) * cosv));
}

double train_step_flops(const tf_config *c, int B, int T)
{
    /* 2 FLOPs per multiply-add, x3 for forward + both backward GEMMs; embeddings are lookups */
    double lin = (double)tf_param_total(c) - (double)tf_param_count(c, LT_EMBED);
    double attn = 2.0 * 2.0 * (double)c->L * c->NH * c->HS * (T + 1) / 2.0; /* QK and PV, causal */
    return 3.0 * (2.0 * lin + attn) * (double)B * T;
}

static db_status save_optimizer(const tf_model *m, const char *dir, int step, const db_rng *r,
                                uint64_t seed)
{
    char path[4096], sstep[32], srng[4][24], sseed[24];
    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
    snprintf(sstep, sizeof sstep, "%d", step);
    snprintf(sseed, sizeof sseed, "%" PRIu64, seed);
    for (int i = 0; i < 4; i++)
        snprintf(srng[i], sizeof srng[i], "%016" PRIx64, r->s[i]);
    const char *keys[] = {"step", "seed", "rng0", "rng1", "rng2", "rng3"};
    const char *vals[] = {sstep, sseed, srng[0], srng[1], srng[2], srng[3]};
    int64_t shape[1] = {(int64_t)m->nparams};
    db_tensor ts[2];
    tensor_view(&ts[0], DT_F32, 1, shape, m->adam_m);
    tensor_view(&ts[1], DT_F32, 1, shape, m->adam_v);
    const char *names[] = {"adam_m", "adam_v"};
    return st_save(path, 2, names, ts, 6, keys, vals);
}

static db_status load_optimizer(tf_model *m, const char *dir, int *step, db_rng *r)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/optimizer.safetensors", dir);
    st_file *f = NULL;
    db_status s = st_open(path, &f);
    if (s)
        return s;
    const st_tensor_info *tm = st_find(f, "adam_m"), *tv = st_find(f, "adam_v");
    const char *sstep = st_meta_get(f, "step");
    const char *rs[4] = {st_meta_get(f, "rng0"), st_meta_get(f, "rng1"), st_meta_get(f, "rng2"),
                         st_meta_get(f, "rng3")};
    if (!tm || !tv || !sstep || !rs[0] || !rs[1] || !rs[2] || !rs[3] || tm->dtype != DT_F32 ||
        tv->dtype != DT_F32 || tm->nbytes != m->nparams * sizeof(float) ||
        tv->nbytes != m->nparams * sizeof(float)) {
        st_close(f);
        return db_error(DB_ERR_FORMAT, "%s: not an optimizer state for this model", path);
    }
    memcpy(m->adam_m, tm->data, tm->nbytes);
    memcpy(m->adam_v, tv->data, tv->nbytes);
    *step = atoi(sstep);
    for (int i = 0; i < 4; i++)
        r->s[i] = strtoull(rs[i], NULL, 16);
    st_close(f);
    return DB_OK;
}

db_status train_run(tf_model *m, const db_task *t, const train_opts *o, const char *resume_dir,
                    train_result *res)
{
    memset(res, 0, sizeof *res);
    if (o->steps < 1 || o->B < 1 || o->T < 2 || o->T > m->cfg.maxT)
        return db_error(DB_ERR_ARG, "train: need steps >= 1, batch >= 1, 2 <= seq <= %d",
                        m->cfg.maxT);
    if (t->train.n < (size_t)o->T + 2)
        return db_error(DB_ERR_ARG, "train: task %s has %zu training tokens, fewer than seq %d",
                        t->name, t->train.n, o->T);
    db_status s;
    if ((s = tf_acts_alloc(m, o->B, o->T, true)) || (s = tf_train_alloc(m)))
        return s;
    size_t BT = (size_t)o->B * o->T;
    int *tok = db_malloc_array(BT, sizeof(int)), *tgt = db_malloc_array(BT, sizeof(int));
    float *losses = db_malloc_array((size_t)o->steps, sizeof(float));
    if (!tok || !tgt || !losses) {
        s = db_error(DB_ERR_NOMEM, "train: out of memory");
        goto out;
    }
    db_rng r;
    rng_seed(&r, o->seed);
    int start = 0;
    if (resume_dir && (s = load_optimizer(m, resume_dir, &start, &r)))
        goto out;
    if (start >= o->steps) {
        s = db_error(DB_ERR_ARG, "train: checkpoint is at step %d, not before --steps %d", start,
                     o->steps);
        goto out;
    }
    res->start_step = start;
    int last = o->stop_after > 0 && o->stop_after < o->steps ? o->stop_after : o->steps;
    if (last <= start) {
        s = db_error(DB_ERR_ARG, "train: nothing to do (checkpoint at step %d)", start);
        goto out;
    }
    db_progress pb;
    if (o->progress)
        progress_start(&pb, "train", last - start);
    double t0 = db_now();
    for (int step = start + 1; step <= last; step++) {
        task_batch(t, &r, o->B, o->T, tok, tgt);
        float loss = 0.0f;
        if ((s = tf_forward(m, tok, tgt, o->B, o->T, &loss)))
            goto out;
        if (!isfinite(loss)) {
            s = db_error(DB_ERR_NUMERIC, "train: loss is %g at step %d (lower --lr)", loss, step);
            goto out;
        }
        tf_zero_grad(m);
        if ((s = tf_backward(m)))
            goto out;
        tf_clip_grad(m, o->clip);
        tf_adamw_step(m, train_lr(o, step), o->beta1, o->beta2, o->eps, o->wd, step);
        losses[step - 1] = loss;
        if (o->log_every > 0 && (step - start) % o->log_every == 0) {
            double sum = 0.0;
            for (int i = step - o->log_every; i < step; i++)
                sum += losses[i];
            fprintf(stderr, "step %d loss %.4f lr %.3g\n", step, sum / o->log_every,
                    (double)train_lr(o, step));
        }
        if (o->progress)
            progress_add(&pb, 1);
        if (o->ckpt_every > 0 && o->ckpt_dir && (step % o->ckpt_every == 0 || step == last)) {
            char st[32];
            snprintf(st, sizeof st, "%d", step);
            const char *k[] = {"train_step"}, *v[] = {st};
            if ((s = tf_model_save(m, o->ckpt_dir, DT_F32, 1, k, v)) ||
                (s = save_optimizer(m, o->ckpt_dir, step, &r, o->seed)))
                goto out;
        }
    }
    res->seconds = db_now() - t0;
    if (o->progress)
        progress_end(&pb);
    int n = last - start, w = n < 10 ? n : 10;
    double a = 0, b = 0;
    for (int i = 0; i < w; i++) {
        a += losses[start + i];
        b += losses[last - 1 - i];
    }
    res->first_loss = (float)(a / w);
    res->last_loss = (float)(b / w);
    res->tokens = (int64_t)n * (int64_t)BT;
    res->flops = train_step_flops(&m->cfg, o->B, o->T) * n;
out:
    db_free(tok);
    db_free(tgt);
    db_free(losses);
    return s;
}
