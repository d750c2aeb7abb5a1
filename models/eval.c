/* eval.c: perplexity, exact-match accuracy and sampling (see eval.h). */
#include "models/eval.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "core/alloc.h"

/* Row w of the text validation stream: the non-overlapping window [w T, (w + 1) T). */
static void fill_window(const db_task *t, int T, size_t w, int *tk, int *tg)
{
    const task_stream *s = &t->val;
    size_t st0 = w * (size_t)T;
    for (int i = 0; i < T; i++) {
        tk[i] = s->tok[st0 + i];
        tg[i] = s->score[st0 + i + 1] ? s->tok[st0 + i + 1] : -1;
    }
}

/* Row e of an exact-match task: validation example e from its <bos> (the context the model is
 * trained and decoded in), padded; only its answer and <eos> are scored. */
static void fill_example(const db_task *t, int T, size_t e, int *tk, int *tg)
{
    const task_example *ex = &t->ex[e];
    for (int i = 0; i < T; i++) {
        tk[i] = TOK_PAD;
        tg[i] = -1;
    }
    for (int i = 0; i < ex->plen; i++)
        tk[i] = ex->prompt[i];
    for (int i = 0; i < ex->alen; i++) {
        tk[ex->plen + i] = ex->answer[i];
        tg[ex->plen - 1 + i] = ex->answer[i];
    }
    tg[ex->plen + ex->alen - 1] = TOK_EOS;
}

void eval_items_free(eval_items *it)
{
    if (!it)
        return;
    db_free(it->x);
    db_free(it->n);
    *it = (eval_items){NULL, NULL, 0};
}

static db_status items_alloc(eval_items *it, size_t n)
{
    if (!it)
        return DB_OK;
    *it = (eval_items){db_malloc_array(n ? n : 1, sizeof(double)),
                       db_malloc_array(n ? n : 1, sizeof(int64_t)), 0};
    if (!it->x || !it->n) {
        eval_items_free(it);
        return db_error(DB_ERR_NOMEM, "eval: out of memory (%zu items)", n);
    }
    return DB_OK;
}

db_status eval_ppl(tf_model *m, const db_task *t, int B, int T, int64_t max_tokens, eval_result *r)
{
    return eval_ppl_items(m, t, B, T, max_tokens, r, NULL);
}

db_status eval_ppl_items(tf_model *m, const db_task *t, int B, int T, int64_t max_tokens,
                         eval_result *r, eval_items *items)
{
    memset(r, 0, sizeof *r);
    if (items)
        *items = (eval_items){NULL, NULL, 0};
    r->accuracy = -1;
    if (B < 1 || T < 2 || T > m->cfg.maxT)
        return db_error(DB_ERR_ARG, "eval: window %d outside 2..%d", T, m->cfg.maxT);
    bool per_example = t->kind == TASK_EXACT && t->nex;
    size_t nrows;
    if (per_example) {
        T = 0;
        for (size_t e = 0; e < t->nex; e++)
            if (t->ex[e].plen + t->ex[e].alen > T)
                T = t->ex[e].plen + t->ex[e].alen;
        if (T > m->cfg.maxT)
            return db_error(DB_ERR_ARG, "eval: examples of task %s need %d positions, the model "
                            "has %d", t->name, T, m->cfg.maxT);
        nrows = t->nex;
    } else {
        if (t->val.n < (size_t)T + 1)
            return db_error(DB_ERR_ARG, "eval: validation of task %s is shorter than %d tokens",
                            t->name, T + 1);
        nrows = (t->val.n - 1) / (size_t)T;
    }
    db_status st;
    if ((st = tf_acts_alloc(m, B, T, false)) || (st = items_alloc(items, nrows)))
        return st;
    int *tok = db_malloc_array((size_t)B * T, sizeof(int));
    int *tgt = db_malloc_array((size_t)B * T, sizeof(int));
    if (!tok || !tgt) {
        st = db_error(DB_ERR_NOMEM, "eval: out of memory");
        goto out;
    }
    size_t w = 0;
    double sum = 0.0;
    int64_t cnt = 0;
    while (w < nrows && (max_tokens <= 0 || cnt < max_tokens)) {
        int nb = 0;
        for (; nb < B && w < nrows; nb++, w++)
            (per_example ? fill_example : fill_window)(t, T, w, tok + (size_t)nb * T,
                                                       tgt + (size_t)nb * T);
        if ((st = tf_forward(m, tok, tgt, nb, T, NULL)))
            goto out;
        for (int b = 0; b < nb; b++) {
            double ws = 0.0;
            int64_t wn = 0;
            for (int i = b * T; i < (b + 1) * T; i++)
                if (tgt[i] >= 0) {
                    ws += m->acts.rowloss[i];
                    wn++;
                }
            sum += ws;
            cnt += wn;
            if (items) {
                items->x[items->count] = ws;
                items->n[items->count++] = wn;
            }
        }
    }
    r->ntokens = cnt;
    r->loss = cnt ? sum / (double)cnt : 0.0;
    r->bpb = r->loss / log(2.0);
    r->ppl = exp(r->loss);
out:
    if (st)
        eval_items_free(items);
    db_free(tok);
    db_free(tgt);
    return st;
}

static int argmax(const float *x, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

db_status eval_exact(tf_model *m, const db_task *t, int B, int64_t n, eval_result *r)
{
    return eval_exact_items(m, t, B, n, r, NULL);
}

db_status eval_exact_items(tf_model *m, const db_task *t, int B, int64_t n, eval_result *r,
                           eval_items *items)
{
    memset(r, 0, sizeof *r);
    r->accuracy = -1;
    if (items)
        *items = (eval_items){NULL, NULL, 0};
    if (t->kind != TASK_EXACT || !t->nex)
        return db_error(DB_ERR_ARG, "eval: task %s has no exact-match examples", t->name);
    if (n <= 0 || n > (int64_t)t->nex)
        n = (int64_t)t->nex;
    int maxp = 0;
    for (int64_t i = 0; i < n; i++)
        if (t->ex[i].plen > maxp)
            maxp = t->ex[i].plen;
    int Tc = maxp + t->max_answer + 1;
    if (Tc > m->cfg.maxT)
        return db_error(DB_ERR_ARG, "eval: examples need %d positions, the model has %d", Tc,
                        m->cfg.maxT);
    tf_kv kv;
    db_status s;
    if ((s = items_alloc(items, (size_t)n)))
        return s;
    if ((s = tf_kv_alloc(&kv, &m->cfg, B, Tc))) {
        eval_items_free(items);
        return s;
    }
    int *tok = db_malloc_array((size_t)B, sizeof(int)), *pos = db_malloc_array((size_t)B, sizeof(int));
    int *gen = db_malloc_array((size_t)B * (t->max_answer + 1), sizeof(int));
    int *ngen = db_malloc_array((size_t)B, sizeof(int)), *done = db_malloc_array((size_t)B, sizeof(int));
    if (!tok || !pos || !gen || !ngen || !done) {
        s = db_error(DB_ERR_NOMEM, "eval: out of memory");
        goto out;
    }
    for (int64_t e0 = 0; e0 < n; e0 += B) {
        int nb = (int)(n - e0 < B ? n - e0 : B);
        for (int i = 0; i < nb; i++) {
            pos[i] = 0;
            ngen[i] = 0;
            done[i] = 0;
        }
        /* every slot steps once per iteration: through its prompt, then its own greedy output */
        for (int it = 0;; it++) {
            int active = 0;
            for (int i = 0; i < nb; i++) {
                const task_example *ex = &t->ex[e0 + i];
                if (pos[i] < ex->plen)
                    tok[i] = ex->prompt[pos[i]];
                else
                    tok[i] = ngen[i] ? gen[i * (t->max_answer + 1) + ngen[i] - 1] : 0;
                active += !done[i];
            }
            if (!active)
                break;
            if ((s = tf_decode(m, &kv, nb, tok, pos)))
                goto out;
            for (int i = 0; i < nb; i++) {
                if (done[i])
                    continue;
                const task_example *ex = &t->ex[e0 + i];
                if (pos[i] + 1 >= ex->plen) { /* this step predicted an answer token */
                    int y = argmax(kv.logits + (size_t)i * m->cfg.V, m->cfg.V);
                    gen[i * (t->max_answer + 1) + ngen[i]++] = y;
                    if (y == TOK_EOS || ngen[i] > t->max_answer)
                        done[i] = 1;
                }
                if (!done[i]) {
                    if (pos[i] + 1 < Tc)
                        pos[i]++;
                    else
                        done[i] = 1;
                }
            }
        }
        for (int i = 0; i < nb; i++) {
            const task_example *ex = &t->ex[e0 + i];
            const int *g = gen + i * (t->max_answer + 1);
            bool ok = ngen[i] == ex->alen + 1 && g[ex->alen] == TOK_EOS;
            for (int j = 0; ok && j < ex->alen; j++)
                ok = g[j] == ex->answer[j];
            r->ncorrect += ok;
            if (items) {
                items->x[items->count] = ok;
                items->n[items->count++] = 1;
            }
        }
        r->nexact += nb;
    }
    r->accuracy = r->nexact ? (double)r->ncorrect / (double)r->nexact : 0.0;
out:
    if (s)
        eval_items_free(items);
    tf_kv_free(&kv);
    db_free(tok);
    db_free(pos);
    db_free(gen);
    db_free(ngen);
    db_free(done);
    return s;
}

db_status eval_generate(tf_model *m, const int *prompt, int plen, int max_new, float temperature,
                        db_rng *r, int *out, int *nout)
{
    *nout = 0;
    if (plen < 1)
        return db_error(DB_ERR_ARG, "generate: empty prompt");
    int T = plen + max_new;
    if (T > m->cfg.maxT)
        T = m->cfg.maxT;
    if (plen >= T)
        return db_error(DB_ERR_ARG, "generate: prompt of %d tokens fills the context of %d", plen,
                        m->cfg.maxT);
    tf_kv kv;
    db_status s = tf_kv_alloc(&kv, &m->cfg, 1, T);
    if (s)
        return s;
    int V = m->cfg.V, tok = prompt[0];
    for (int p = 0; p < T; p++) {
        if ((s = tf_decode(m, &kv, 1, &tok, &p)))
            break;
        if (p + 1 < plen) {
            tok = prompt[p + 1];
            continue;
        }
        if (*nout >= max_new || p + 1 >= T)
            break;
        const float *lg = kv.logits;
        if (temperature <= 0) {
            tok = argmax(lg, V);
        } else {
            float mx = lg[argmax(lg, V)];
            double sum = 0.0;
            for (int i = 0; i < V; i++)
                sum += exp((lg[i] - mx) / temperature);
            double u = rng_f64(r) * sum, acc = 0.0;
            tok = V - 1;
            for (int i = 0; i < V; i++) {
                acc += exp((lg[i] - mx) / temperature);
                if (acc > u) {
                    tok = i;
                    break;
                }
            }
        }
        out[(*nout)++] = tok;
        if (tok == TOK_EOS)
            break;
    }
    tf_kv_free(&kv);
    return s;
}
