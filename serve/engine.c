/* serve/engine.c: the event loop and the continuous-batching engine of the serving harness.
 *
 * Cost per iteration is O(distinct models + requests admitted or finished), never O(running
 * requests): the KV blocks of all running requests grow through per-residue counters (a request
 * needs a new block when its length crosses a multiple of the block size, which for a request
 * admitted at iteration k with prefill p happens at iterations s with (p - k - 1 + s) % B == 0),
 * the attention context grows by the number of decoders, and finishes come off a heap keyed by
 * the iteration at which each request emits its last token. Shapes: M models, R requests,
 * G replicas, B tokens per KV block. */
#include "serve/engine.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

/* ---- event loop ---------------------------------------------------------------------------- */

db_status eng_loop_init(eng_loop *l, int64_t cap)
{
    memset(l, 0, sizeof *l);
    if (cap < 1)
        cap = 1;
    l->heap = db_malloc_array((size_t)cap, sizeof *l->heap);
    if (!l->heap)
        return db_error(DB_ERR_NOMEM, "event heap of %lld events", (long long)cap);
    l->cap = cap;
    return DB_OK;
}

void eng_loop_free(eng_loop *l)
{
    if (!l)
        return;
    db_free(l->heap);
    memset(l, 0, sizeof *l);
}

static inline bool ev_before(const eng_event *a, const eng_event *b)
{
    if (a->t != b->t)
        return a->t < b->t;
    return a->push_t < b->push_t || (a->push_t == b->push_t && a->seq < b->seq);
}

/* Moves ev down from the root to its place in the heap of l->n events. */
static void loop_sift_down(eng_loop *l, eng_event ev)
{
    int64_t i = 0, n = l->n;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && ev_before(&l->heap[c + 1], &l->heap[c]))
            c++;
        if (!ev_before(&l->heap[c], &ev))
            break;
        l->heap[i] = l->heap[c];
        i = c;
    }
    l->heap[i] = ev;
}

/* Drops the root: the event eng_loop_run is running, kept in place until then (top_done). */
static void loop_drop_top(eng_loop *l)
{
    l->top_done = false;
    if (--l->n > 0)
        loop_sift_down(l, l->heap[l->n]);
}

static db_status loop_insert(eng_loop *l, eng_event ev)
{
    if (l->top_done) {
        /* The running event's slot takes the new one: one sift instead of a pop and a push
         * (most handlers schedule exactly one follower). The order of events is their
         * (t, push_t, seq) order whatever the heap's layout, so this changes nothing but the
         * work. */
        l->top_done = false;
        loop_sift_down(l, ev);
        return DB_OK;
    }
    if (l->n >= l->cap)
        return db_error(DB_ERR_INTERNAL, "event heap full (%lld events)", (long long)l->cap);
    int64_t i = l->n++;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!ev_before(&ev, &l->heap[p]))
            break;
        l->heap[i] = l->heap[p];
        i = p;
    }
    l->heap[i] = ev;
    return DB_OK;
}

db_status eng_loop_push(eng_loop *l, double t, eng_handler fn, void *data, int64_t arg)
{
    if (!(t >= l->now)) /* also rejects NaN */
        return db_error(DB_ERR_INTERNAL, "event at t=%.9g scheduled before now=%.9g", t, l->now);
    return loop_insert(l, (eng_event){t, l->now, l->next_seq++, fn, data, arg, false});
}

db_status eng_loop_push_ahead(eng_loop *l, double t, double push_t, eng_handler fn, void *data,
                              int64_t arg)
{
    if (!(push_t >= l->now && t >= push_t))
        return db_error(DB_ERR_INTERNAL, "event at t=%.9g pushed ahead at %.9g, now=%.9g", t,
                        push_t, l->now);
    return loop_insert(l, (eng_event){t, push_t, l->next_seq++, fn, data, arg, true});
}

bool eng_loop_pop(eng_loop *l, eng_event *out)
{
    if (l->top_done)
        loop_drop_top(l);
    if (l->n == 0)
        return false;
    *out = l->heap[0];
    loop_drop_top(l);
    return true;
}

db_status eng_loop_run(eng_loop *l)
{
    if (l->top_done)
        loop_drop_top(l);
    while (l->n > 0) {
        eng_event ev = l->heap[0];
        if (ev.t < l->now)
            return db_error(DB_ERR_INTERNAL, "time went back: event at %.9g after %.9g", ev.t,
                            l->now);
        if (ev.t == l->last.t && ev.push_t == l->last.push_t && (ev.ahead || l->last.ahead)) {
            l->tie_hazard = true; /* ev stays pending: its place is unknown */
            return DB_OK;
        }
        l->now = ev.t;
        l->processed++;
        l->last = ev;
        l->top_done = true; /* the handler's first push takes its slot (eng_loop_push) */
        db_status s = ev.fn(l, ev.data, ev.arg);
        if (l->top_done)
            loop_drop_top(l);
        if (s != DB_OK)
            return s;
    }
    return DB_OK;
}

/* ---- engine state -------------------------------------------------------------------------- */

enum { RQ_FUTURE, RQ_WAITING, RQ_RUNNING, RQ_DONE };

typedef struct {
    int32_t state;
    int32_t generated;   /* tokens emitted before the current admission */
    int32_t prefill_len; /* prompt + generated at the current admission */
    int32_t kv_reserved; /* blocks reserved by the current admission */
    int32_t pf_held;     /* prefill tokens in the KV before this iteration's chunk */
    int32_t pf_done;     /* prefill tokens in the KV after it (prefill_len: prefill ended) */
    int32_t cls;         /* KV growth residue class of the current admission */
    int32_t heap_pos;    /* position in the replica's finish heap */
    int64_t admit_iter;  /* iteration of the prefill's last chunk (its first token) */
    int64_t finish_iter; /* iteration emitting the last token */
    double first_admit, first_token;
    double wait_since; /* arrival, or the last preemption */
} rq_state;

typedef struct {
    int64_t iter;     /* iterations started */
    int32_t grow_cls; /* (-iter) mod B: the growth class whose requests need a block next */
    bool busy;
    int32_t n_running;                    /* decoding (fh_n) + the one prefilling in chunks */
    int32_t pf_r;                         /* the request prefilling in chunks, or -1 */
    int32_t pf_chunk;                     /* its chunk in the current iteration */
    int64_t kv_cap, kv_used, kv_reserved; /* blocks */
    int64_t s_ctx;                        /* KV tokens of all decoding requests */
    int64_t *cls_count;                   /* [B] running requests per growth class */
    int32_t *fh;                          /* finish heap of request indices */
    int32_t fh_n;
    int32_t *adm; /* prefill ended in the current iteration: decode from the next one */
    int32_t n_adm;
    int64_t adm_tokens; /* prefill tokens of the current iteration (every chunk) */
    int64_t adm_ctx;    /* KV tokens of the adm requests (their whole prefill lengths) */
    int32_t *act; /* models with running requests */
    int32_t n_act;
    int32_t *wm; /* models with waiting requests */
    int32_t n_wm;
    /* The last iteration had no prefill and nothing was admitted, finished or preempted since:
     * the next one without prefill repeats its batch but for the decoders' KV context, so with a
     * cost-model executor its price is cost_step_finish over step_weights. */
    bool batch_same;
    double step_weights; /* cost_step_weights of that batch */
    double pcie_free;
    double weights_base; /* bytes always resident on this replica (base or full model) */
    double usable;       /* bytes of GPU memory for weights + KV */
} eng_group;

typedef struct {
    const eng_config *cfg;
    const cost_ctx *cost;
    exe_executor *exe;
    const eng_request *rq_in;
    int64_t R;
    int M, G, B;
    bool dedicated;
    bool coalesce; /* quiet ends of dedicated replicas run without events (schedule_end) */
    cost_mode mode;
    double item_bytes; /* a full model (swap) or a delta (delta policies) */
    rq_state *rq;
    met_request_row *rows;
    eng_group *grp;
    pol_cache pc;
    /* per model [M] */
    int32_t *run_count, *wait_count, *act_pos, *wm_pos, *pf_req;
    int64_t *pf_tok;
    int64_t *q_head, *q_tail, *q_start; /* window of qorder per model */
    int32_t *qorder;                    /* [R] request indices grouped by model, trace order */
    double *load_start, *load_done;
    double *run_since; /* when the model's running set last became non-empty */
    double *load_bytes;
    /* scratch */
    int32_t *cand, *park;
    bool slots_dirty; /* something happened that may free a GPU slot */
    int32_t *b_models;
    int64_t *b_tokens, *b_logits;
    int32_t *d_req, *d_model, *d_new, *d_ctx;
    uint8_t *d_phase;
    /* clocks and totals */
    eng_loop loop;
    double disk_free;
    int64_t next_arrival;
    int64_t n_done, n_waiting, n_running;
    int64_t tot_kv_used, tot_kv_reserved;
    int64_t preemptions, iterations;
    double peak_gpu;
    met_memory_row *mem; /* grows by doubling */
    int64_t n_mem, cap_mem;
    void *arena; /* the one block every table above points into (but rows and mem) */
} eng_engine;

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        if (!(cond))                                                                              \
            return db_error(DB_ERR_INTERNAL, __VA_ARGS__);                                        \
    } while (0)

static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t pmod(int64_t a, int64_t b)
{
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

/* ---- finish heap (per replica, indexed so preemption can remove entries) -------------------- */

static inline bool fh_less(const eng_engine *e, int32_t a, int32_t b)
{
    int64_t fa = e->rq[a].finish_iter, fb = e->rq[b].finish_iter;
    return fa < fb || (fa == fb && a < b);
}

static void fh_set(eng_engine *e, eng_group *g, int32_t i, int32_t r)
{
    g->fh[i] = r;
    e->rq[r].heap_pos = i;
}

static void fh_up(eng_engine *e, eng_group *g, int32_t i)
{
    int32_t r = g->fh[i];
    while (i > 0) {
        int32_t p = (i - 1) / 2;
        if (!fh_less(e, r, g->fh[p]))
            break;
        fh_set(e, g, i, g->fh[p]);
        i = p;
    }
    fh_set(e, g, i, r);
}

static void fh_down(eng_engine *e, eng_group *g, int32_t i)
{
    int32_t r = g->fh[i];
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= g->fh_n)
            break;
        if (c + 1 < g->fh_n && fh_less(e, g->fh[c + 1], g->fh[c]))
            c++;
        if (!fh_less(e, g->fh[c], r))
            break;
        fh_set(e, g, i, g->fh[c]);
        i = c;
    }
    fh_set(e, g, i, r);
}

static void fh_push(eng_engine *e, eng_group *g, int32_t r)
{
    g->fh[g->fh_n] = r;
    fh_up(e, g, g->fh_n++);
}

static void fh_remove(eng_engine *e, eng_group *g, int32_t pos)
{
    int32_t last = g->fh[--g->fh_n];
    if (pos == g->fh_n)
        return;
    fh_set(e, g, pos, last);
    fh_up(e, g, pos);
    fh_down(e, g, e->rq[last].heap_pos);
}

/* ---- small list helpers: O(1) add / remove with a position table --------------------------- */

static inline void list_add(int32_t *list, int32_t *n, int32_t *pos, int32_t m)
{
    pos[m] = *n;
    list[(*n)++] = m;
}

static inline void list_del(int32_t *list, int32_t *n, int32_t *pos, int32_t m)
{
    int32_t i = pos[m], last = list[--(*n)];
    list[i] = last;
    pos[last] = i;
    pos[m] = -1;
}

static inline int group_of(const eng_engine *e, int32_t m) { return e->dedicated ? m : 0; }

static double weights_bytes(const eng_engine *e)
{
    if (e->dedicated)
        return (double)e->M * e->cost->full_bytes;
    double base = e->mode == COST_SHARED_BASE ? e->cost->full_bytes : 0;
    return base + (double)e->pc.slots_used * e->item_bytes;
}

static void note_peak(eng_engine *e)
{
    double b = weights_bytes(e) + (double)e->tot_kv_used * e->B * e->cost->kv_token_bytes;
    if (b > e->peak_gpu)
        e->peak_gpu = b;
}

/* ---- loads --------------------------------------------------------------------------------- */

static db_status on_load_done(eng_loop *l, void *data, int64_t arg);

static db_status start_load(eng_engine *e, int32_t m, const pol_plan *plan, double now)
{
    eng_group *g = &e->grp[group_of(e, m)];
    double host_ready = plan->host_ready, dt;
    db_status s;
    if (plan->need_disk) {
        s = e->exe->ops->load(e->exe->ctx, m, EXE_LOAD_DISK, e->item_bytes, &dt);
        if (s != DB_OK)
            return s;
        double start = e->disk_free > now ? e->disk_free : now;
        e->disk_free = start + dt;
        host_ready = e->disk_free;
        pol_host_ready(&e->pc, m, host_ready);
    }
    s = e->exe->ops->load(e->exe->ctx, m, EXE_LOAD_PCIE, e->item_bytes, &dt);
    if (s != DB_OK)
        return s;
    double start = host_ready > g->pcie_free ? host_ready : g->pcie_free;
    if (start < now)
        start = now;
    g->pcie_free = start + dt;
    e->load_start[m] = now;
    e->load_bytes[m] += e->item_bytes;
    return eng_loop_push(&e->loop, g->pcie_free, on_load_done, e, m);
}

/* ---- admission ----------------------------------------------------------------------------- */

static db_status preempt_model(eng_engine *e, eng_group *g, int32_t v, int64_t s)
{
    /* Every running request of v goes back to the front of v's queue; its KV is dropped and
     * recomputed (prompt + tokens so far) when it is admitted again. */
    int32_t moved = 0;
    for (int32_t i = g->fh_n - 1; i >= 0; i--) {
        int32_t r = g->fh[i];
        if (e->rq_in[r].model != v)
            continue;
        rq_state *q = &e->rq[r];
        int64_t tokens = q->prefill_len + (s - q->admit_iter); /* after this iteration's growth */
        fh_remove(e, g, i);
        i = g->fh_n; /* the heap was reordered: rescan from the end */
        g->kv_used -= ceil_div(tokens, e->B);
        e->tot_kv_used -= ceil_div(tokens, e->B);
        g->kv_reserved -= q->kv_reserved;
        e->tot_kv_reserved -= q->kv_reserved;
        g->s_ctx -= tokens;
        g->cls_count[q->cls]--;
        g->n_running--;
        e->n_running--;
        q->generated += (int32_t)(s - q->admit_iter);
        q->state = RQ_WAITING;
        q->wait_since = e->loop.now;
        e->rows[r].preemptions++;
        moved++;
    }
    CHECK(moved > 0, "preemption of model %d found no running request", v);
    g->batch_same = false;
    e->run_count[v] = 0;
    list_del(g->act, &g->n_act, e->act_pos, v);
    e->slots_dirty = true;
    /* Stable partition of v's admitted prefix [lo, hi): finished requests first, then the
     * preempted ones in their original (FCFS) order, which become the head of v's queue. The
     * detail scratch (max_batch entries) is free during admission. */
    int64_t lo = e->q_start[v], hi = e->q_head[v], w = lo;
    int32_t k = 0;
    for (int64_t i = lo; i < hi; i++) {
        int32_t r = e->qorder[i];
        if (e->rq[r].state == RQ_DONE)
            e->qorder[w++] = r;
        else
            e->d_req[k++] = r;
    }
    CHECK(k == moved, "preemption bookkeeping of model %d", v);
    memcpy(e->qorder + w, e->d_req, (size_t)k * sizeof *e->qorder);
    e->q_head[v] = w;
    if (e->wait_count[v] == 0)
        list_add(g->wm, &g->n_wm, e->wm_pos, v);
    e->wait_count[v] += moved;
    e->n_waiting += moved;
    e->preemptions += moved;
    return DB_OK;
}

/* Request r leaves its queue and runs: KV blocks reserved for its final length, counted in its
 * model's running set. Its prefill follows in one chunk or several (take_chunk). */
static db_status start_request(eng_engine *e, eng_group *g, int32_t r, double now)
{
    rq_state *q = &e->rq[r];
    const eng_request *in = &e->rq_in[r];
    int32_t m = in->model;
    CHECK(q->state == RQ_WAITING, "request %lld admitted twice", (long long)in->id);
    CHECK(now >= in->arrival_s, "request %lld admitted before it arrived", (long long)in->id);
    int32_t remaining = in->output_tokens - q->generated;
    q->prefill_len = in->prompt_tokens + q->generated;
    q->kv_reserved = (int32_t)ceil_div(q->prefill_len + remaining - 1, e->B);
    q->pf_held = q->pf_done = 0;
    q->state = RQ_RUNNING;
    if (q->first_admit < 0) {
        q->first_admit = now;
        e->rows[r].queue_s = now - in->arrival_s;
        if (e->load_done[m] > in->arrival_s && e->load_start[m] >= 0) {
            double from = e->load_start[m] > in->arrival_s ? e->load_start[m] : in->arrival_s;
            e->rows[r].load_s = e->load_done[m] - from;
        }
    }
    g->kv_reserved += q->kv_reserved;
    e->tot_kv_reserved += q->kv_reserved;
    g->n_running++;
    e->n_running++;
    g->batch_same = false;
    if (e->run_count[m]++ == 0) {
        list_add(g->act, &g->n_act, e->act_pos, m);
        e->run_since[m] = now;
    }
    e->q_head[m]++;
    if (--e->wait_count[m] == 0)
        list_del(g->wm, &g->n_wm, e->wm_pos, m);
    e->n_waiting--;
    return DB_OK;
}

/* c more tokens of r's prefill run in iteration s: its KV holds the tokens prefilled so far.
 * With the last chunk its prefill ends: its first token comes at the end of s and it decodes
 * from s + 1, its KV growing by the residue class of that admission. */
static void take_chunk(eng_engine *e, eng_group *g, int32_t r, int64_t c, int64_t s)
{
    rq_state *q = &e->rq[r];
    const eng_request *in = &e->rq_in[r];
    int32_t m = in->model;
    int64_t blocks = ceil_div(q->pf_done + c, e->B) - ceil_div(q->pf_done, e->B);
    g->kv_used += blocks;
    e->tot_kv_used += blocks;
    q->pf_held = q->pf_done;
    q->pf_done += (int32_t)c;
    g->adm_tokens += c;
    g->batch_same = false;
    e->pf_req[m]++;
    e->pf_tok[m] += c;
    if (q->pf_done < q->prefill_len) {
        g->pf_r = r;
        g->pf_chunk = (int32_t)c;
        return;
    }
    int32_t remaining = in->output_tokens - q->generated;
    q->admit_iter = s;
    q->finish_iter = s + remaining - 1;
    q->cls = (int32_t)pmod((int64_t)q->prefill_len - s - 1, e->B);
    g->s_ctx += q->prefill_len;
    g->adm_ctx += q->prefill_len;
    g->cls_count[q->cls]++;
    fh_push(e, g, r);
    g->adm[g->n_adm++] = r;
}

/* The model (other than m) whose running requests are cheapest to preempt: fewest running,
 * then least recently used, among those that have run for at least preempt_after_s (a time
 * slice, so two starving deltas cannot preempt each other back and forth). -1 when none. */
static int32_t preempt_victim(const eng_engine *e, const eng_group *g, int32_t m, double now)
{
    int32_t best = -1;
    for (int32_t i = 0; i < g->n_act; i++) {
        int32_t v = g->act[i];
        /* pf_req: prefilling in this iteration, which includes any prefill in chunks */
        if (v == m || e->pf_req[v] > 0 || now - e->run_since[v] < e->cfg->preempt_after_s)
            continue;
        if (best < 0 || e->run_count[v] < e->run_count[best] ||
            (e->run_count[v] == e->run_count[best] && e->pc.gpu_lru[v] < e->pc.gpu_lru[best]))
            best = v;
    }
    return best;
}

/* Index in c[0..n) of the model whose oldest waiting request came first (trace order). */
static int32_t oldest_head(const eng_engine *e, const int32_t *c, int32_t n)
{
    int32_t best = 0, br = e->qorder[e->q_head[c[0]]];
    for (int32_t i = 1; i < n; i++) {
        int32_t r = e->qorder[e->q_head[c[i]]];
        if (r < br)
            best = i, br = r;
    }
    return best;
}

/* Admission, in two passes over the waiting requests in FCFS order, after the prefill in
 * chunks, if any, has taken its next chunk:
 *  1. admit requests whose model is resident, skipping the others, until the oldest admissible
 *     one does not fit (batch size, token budget or KV: nobody overtakes it). The token budget
 *     counts prefill tokens; chunked, it counts the decoders' tokens too, and the request that
 *     does not fit whole takes what is left as its first chunk (Sarathi-Serve, vLLM);
 *  2. for the skipped models, oldest first, take a GPU slot and start the load (evicting only
 *     models with nothing running after pass 1, so a resident model with admissible requests
 *     is never evicted for an older request of another model), preempting when allowed.
 * Pass 2 stops at the first model that gets no slot, and is skipped altogether while nothing
 * that could free a slot has happened since it last ran out of slots (slots_dirty). */
static db_status admission(eng_engine *e, eng_group *g, int64_t s, double now)
{
    if (g->pf_r < 0 && g->n_wm == 0)
        return DB_OK; /* nothing to admit (most iterations) */
    const bool chunked = e->cfg->chunked_prefill;
    /* Tokens left in the budget: chunked, the decoders come first (at most max_batch - 1 of
     * them beside a prefill in chunks, and eng_check asks budget >= max_batch, so that prefill
     * always gets at least one token). */
    int64_t left = e->cfg->token_budget - (chunked ? g->fh_n : 0);
    if (g->pf_r >= 0) {
        int32_t r = g->pf_r;
        const rq_state *q = &e->rq[r];
        int64_t c = q->prefill_len - q->pf_done;
        if (c > left)
            c = left;
        CHECK(c > 0, "prefill of request %lld got no tokens", (long long)e->rq_in[r].id);
        g->pf_r = -1;
        take_chunk(e, g, r, c, s);
        left -= c;
    }
    if (g->n_wm == 0)
        return DB_OK;
    /* Split the waiting models: resident ones in cand[0, n), the others in park[0, k). */
    int32_t n = 0, k = 0, *park = e->park;
    for (int32_t i = 0; i < g->n_wm; i++) {
        int32_t m = g->wm[i];
        if (e->dedicated || pol_resident(&e->pc, m))
            e->cand[n++] = m;
        else
            park[k++] = m;
    }
    while (n > 0) {
        int32_t best = oldest_head(e, e->cand, n), bm = e->cand[best];
        int32_t br = e->qorder[e->q_head[bm]];
        const rq_state *q = &e->rq[br];
        const eng_request *in = &e->rq_in[br];
        int64_t pl = in->prompt_tokens + q->generated;
        int64_t resv = ceil_div(pl + (in->output_tokens - q->generated) - 1, e->B);
        if (g->n_running >= e->cfg->max_batch || left <= 0 || (!chunked && pl > left) ||
            g->kv_reserved + resv > g->kv_cap)
            break;
        if (!e->dedicated)
            pol_touch(&e->pc, bm);
        db_status st = start_request(e, g, br, now);
        if (st != DB_OK)
            return st;
        int64_t c = pl < left ? pl : left;
        take_chunk(e, g, br, c, s);
        left -= c;
        if (e->wait_count[bm] == 0)
            e->cand[best] = e->cand[--n];
    }
    if (k == 0)
        return DB_OK;
    /* Oldest head first (insertion sort: k <= M and usually small). */
    for (int32_t i = 1; i < k; i++) {
        int32_t m = park[i], r = e->qorder[e->q_head[m]], j = i;
        while (j > 0 && e->qorder[e->q_head[park[j - 1]]] > r) {
            park[j] = park[j - 1];
            j--;
        }
        park[j] = m;
    }
    bool may_preempt = e->cfg->preempt &&
                       now - e->rq[e->qorder[e->q_head[park[0]]]].wait_since >= e->cfg->preempt_after_s;
    if (!e->slots_dirty && !may_preempt)
        return DB_OK;
    e->slots_dirty = false;
    bool preempted = false;
    for (int32_t i = 0; i < k; i++) {
        int32_t bm = park[i], br = e->qorder[e->q_head[bm]];
        pol_plan plan;
        pol_answer a = pol_acquire(&e->pc, bm, now, &plan);
        if (a == POL_NO_SLOT && e->cfg->preempt && !preempted &&
            now - e->rq[br].wait_since >= e->cfg->preempt_after_s) {
            int32_t v = preempt_victim(e, g, bm, now);
            if (v >= 0) {
                db_status st = preempt_model(e, g, v, s);
                if (st != DB_OK)
                    return st;
                preempted = true;
                a = pol_acquire(&e->pc, bm, now, &plan);
            }
        }
        if (a == POL_STARTED) {
            db_status st = start_load(e, bm, &plan, now);
            if (st != DB_OK)
                return st;
        } else if (a == POL_NO_SLOT) {
            break; /* no slot for the oldest: none for younger ones either */
        }
    }
    return DB_OK;
}

/* ---- iterations ---------------------------------------------------------------------------- */

static db_status on_step_end(eng_loop *l, void *data, int64_t arg);

/* Fills the batch's per-model columns (and the per-request detail an executor may want) of
 * iteration s of replica g, whose scalars *b holds, and prices it. */
static db_status step_batch(eng_engine *e, eng_group *g, int64_t s, cost_batch *b, double *dt)
{
    for (int32_t i = 0; i <= g->n_adm; i++) { /* the chunks: adm, then the unfinished prefill */
        int32_t r = i < g->n_adm ? g->adm[i] : g->pf_r;
        if (r < 0)
            break;
        const rq_state *q = &e->rq[r];
        double h = q->pf_held, p = q->pf_done;
        b->prefill_sq += p * p - h * h;
        b->prefill_ctx += q->pf_held;
    }
    const int32_t pm = g->pf_r >= 0 ? e->rq_in[g->pf_r].model : -1; /* no logits this time */
    for (int32_t i = 0; i < g->n_act; i++) {
        int32_t m = g->act[i];
        int64_t dec = e->run_count[m] - e->pf_req[m];
        e->b_models[i] = m;
        e->b_tokens[i] = dec + e->pf_tok[m];
        e->b_logits[i] = e->run_count[m] - (m == pm);
    }
    for (int32_t i = 0; i < g->n_adm; i++) {
        int32_t m = e->rq_in[g->adm[i]].model;
        e->pf_req[m] = 0;
        e->pf_tok[m] = 0;
    }
    if (pm >= 0)
        e->pf_req[pm] = 0, e->pf_tok[pm] = 0;
    exe_detail d = {0, e->d_req, e->d_model, e->d_new, e->d_ctx, e->d_phase};
    if (e->exe->ops->wants_requests) {
        for (int32_t i = 0; i < g->fh_n; i++) {
            int32_t r = g->fh[i];
            const rq_state *q = &e->rq[r];
            bool pf = q->admit_iter == s;
            e->d_req[i] = r;
            e->d_model[i] = e->rq_in[r].model;
            e->d_new[i] = pf ? q->pf_done - q->pf_held : 1;
            e->d_ctx[i] = pf ? q->pf_held : (int32_t)(q->prefill_len + (s - q->admit_iter) - 1);
            e->d_phase[i] = pf ? EXE_CHUNK_LAST : EXE_DECODE;
        }
        d.n = g->fh_n;
        if (g->pf_r >= 0) {
            const rq_state *q = &e->rq[g->pf_r];
            e->d_req[d.n] = g->pf_r;
            e->d_model[d.n] = pm;
            e->d_new[d.n] = g->pf_chunk;
            e->d_ctx[d.n] = q->pf_held;
            e->d_phase[d.n++] = EXE_CHUNK;
        }
    }
    if (!e->exe->ops->step_is_cost)
        return e->exe->ops->step(e->exe->ctx, b, &d, dt);
    /* The cost model, in its two parts: the first is kept for the iterations that repeat this
     * batch (g->batch_same; take_chunk, start_request, finish_request and preempt_model end
     * the repetition). */
    double w = cost_step_weights(e->exe->sim.cost, b);
    *dt = cost_step_finish(e->exe->sim.cost, b, w);
    if (g->adm_tokens == 0) {
        g->batch_same = true;
        g->step_weights = w;
    }
    return DB_OK;
}

/* Decoders append one KV token each at the start of an iteration: some cross into a new block. */
static inline void grow_decoders(eng_engine *e, eng_group *g)
{
    if (g->fh_n > 0) {
        g->s_ctx += g->fh_n;
        int64_t grow = g->cls_count[g->grow_cls];
        g->kv_used += grow;
        e->tot_kv_used += grow;
    }
}

static inline db_status check_kv(const eng_group *g)
{
    CHECK(g->kv_used >= 0 && g->kv_used <= g->kv_reserved && g->kv_reserved <= g->kv_cap,
          "KV blocks: used %lld, reserved %lld, capacity %lld", (long long)g->kv_used,
          (long long)g->kv_reserved, (long long)g->kv_cap);
    return DB_OK;
}

/* The price of an iteration whose batch repeats the last one (g->batch_same) but for the
 * decoders' KV context. */
static inline double repeat_price(const eng_engine *e, const eng_group *g)
{
    cost_batch b = {e->mode, 0, 0, 0, g->fh_n, g->s_ctx, g->n_act, NULL, NULL, NULL, 0};
    return cost_step_finish(e->exe->sim.cost, &b, g->step_weights);
}

/* An iteration of replica g started: the next one's KV growth class, the counters. */
static inline db_status count_iteration(eng_engine *e, eng_group *g, double dt)
{
    CHECK(dt > 0 && isfinite(dt), "executor %s: iteration time %g", e->exe->ops->name, dt);
    g->iter++;
    g->grow_cls = g->grow_cls == 0 ? e->B - 1 : g->grow_cls - 1;
    e->iterations++;
    return DB_OK;
}

/* Whether the end of iteration s of dedicated replica gi, at time t, is quiet: nothing
 * finishes at it, the next iteration adds no KV block, nothing waits (the model's next request
 * arrives after t) and no prefill runs, so the same decoders go on (on_step_end's fast path).
 * Nothing another event can see changes at a quiet end: a dedicated replica serves its model
 * alone, its weights are fixed, the KV blocks, running and waiting counts of the memory
 * timeline stay as they are, and note_peak would read a total already noted. */
static inline bool quiet_end(const eng_engine *e, const eng_group *g, int gi, int64_t s, double t)
{
    if (!(g->batch_same && g->pf_r < 0 && g->n_wm == 0 && g->fh_n > 0 &&
          e->rq[g->fh[0]].finish_iter > s && g->cls_count[g->grow_cls] == 0))
        return false;
    int64_t next = e->q_tail[gi]; /* the model's next request to arrive */
    return next == e->q_start[gi + 1] || e->rq_in[e->qorder[next]].arrival_s > t;
}

/* The iteration of replica gi that started at `now` takes dt: count it, schedule its end.
 * With e->coalesce, quiet ends (quiet_end) are run here rather than as events, each as
 * on_step_end's fast path would run it (its note_peak aside, which cannot change the peak), up
 * to the first end that is not quiet; that one is pushed as the last quiet end would have
 * pushed it (eng_loop_push_ahead). Most iterations of `dedicated` end quietly: one event per
 * replica per token would otherwise go through the event heap, interleaved with the others. */
static inline db_status schedule_end(eng_engine *e, eng_group *g, int gi, double now, double dt)
{
    db_status st = count_iteration(e, g, dt);
    if (st != DB_OK)
        return st;
    g->busy = true;
    note_peak(e);
    double t = now + dt, at;
    if (!e->coalesce || !quiet_end(e, g, gi, g->iter - 1, t))
        return eng_loop_push(&e->loop, t, on_step_end, e, gi);
    do {
        at = t; /* the quiet end, run at `at` */
        e->loop.processed++;
        g->s_ctx += g->fh_n; /* grow_decoders without a new block */
        dt = repeat_price(e, g);
        st = count_iteration(e, g, dt);
        if (st != DB_OK)
            return st;
        t = at + dt;
    } while (quiet_end(e, g, gi, g->iter - 1, t));
    return eng_loop_push_ahead(&e->loop, t, at, on_step_end, e, gi);
}

static db_status start_iteration(eng_engine *e, int gi, double now)
{
    eng_group *g = &e->grp[gi];
    int64_t s = g->iter;
    grow_decoders(e, g);
    g->n_adm = 0;
    g->adm_tokens = 0;
    g->adm_ctx = 0;
    db_status st = admission(e, g, s, now);
    if (st == DB_OK)
        st = check_kv(g);
    if (st != DB_OK)
        return st;
    if (g->n_running == 0) {
        g->busy = false;
        return DB_OK;
    }
    double dt;
    if (g->batch_same) { /* nothing was admitted */
        dt = repeat_price(e, g);
    } else {
        cost_batch b = {e->mode, g->n_adm, g->adm_tokens, 0, g->fh_n - g->n_adm,
                        g->s_ctx - g->adm_ctx, g->n_act, e->b_models, e->b_tokens, e->b_logits, 0};
        st = step_batch(e, g, s, &b, &dt);
        if (st != DB_OK)
            return st;
    }
    return schedule_end(e, g, gi, now, dt);
}

static db_status finish_request(eng_engine *e, eng_group *g, int32_t r, int64_t s, double now)
{
    rq_state *q = &e->rq[r];
    const eng_request *in = &e->rq_in[r];
    CHECK(q->state == RQ_RUNNING, "request %lld finished twice", (long long)in->id);
    int64_t tokens = q->prefill_len + (s - q->admit_iter);
    g->kv_used -= ceil_div(tokens, e->B);
    e->tot_kv_used -= ceil_div(tokens, e->B);
    g->kv_reserved -= q->kv_reserved;
    e->tot_kv_reserved -= q->kv_reserved;
    CHECK(g->kv_used >= 0 && g->kv_reserved >= 0, "KV blocks went negative");
    g->s_ctx -= tokens;
    g->cls_count[q->cls]--;
    g->n_running--;
    e->n_running--;
    g->batch_same = false;
    int32_t m = in->model;
    if (--e->run_count[m] == 0) {
        list_del(g->act, &g->n_act, e->act_pos, m);
        e->slots_dirty = true;
    }
    q->state = RQ_DONE;
    met_request_row *row = &e->rows[r];
    row->finish_s = now;
    row->e2e_s = now - in->arrival_s;
    row->ttft_s = q->first_token - in->arrival_s;
    row->tpot_s = in->output_tokens > 1 ? (now - q->first_token) / (in->output_tokens - 1) : 0;
    e->n_done++;
    return DB_OK;
}

static db_status on_step_end(eng_loop *l, void *data, int64_t gi)
{
    eng_engine *e = data;
    eng_group *g = &e->grp[gi];
    double now = l->now;
    int64_t s = g->iter - 1;
    if (g->batch_same && g->pf_r < 0 && g->n_wm == 0 && g->fh_n > 0 &&
        e->rq[g->fh[0]].finish_iter > s &&
        !e->cfg->progress) {
        /* Most iterations: the same decoders go on, nothing finishes, nothing waits (what
         * start_iteration does then, without its general steps). batch_same: g->n_adm == 0
         * and g->fh_n > 0. */
        grow_decoders(e, g);
        db_status st = check_kv(g);
        if (st != DB_OK)
            return st;
        return schedule_end(e, g, (int)gi, now, repeat_price(e, g));
    }
    for (int32_t i = 0; i < g->n_adm; i++) {
        rq_state *q = &e->rq[g->adm[i]];
        if (q->first_token < 0)
            q->first_token = now;
    }
    while (g->fh_n > 0 && e->rq[g->fh[0]].finish_iter <= s) {
        int32_t r = g->fh[0];
        CHECK(e->rq[r].finish_iter == s, "request %lld missed its last iteration",
              (long long)e->rq_in[r].id);
        fh_remove(e, g, 0);
        db_status st = finish_request(e, g, r, s, now);
        if (st != DB_OK)
            return st;
    }
    if (e->cfg->progress)
        e->cfg->progress(e->cfg->progress_arg, e->n_done, e->R, now);
    return start_iteration(e, (int)gi, now);
}

static db_status on_load_done(eng_loop *l, void *data, int64_t m)
{
    eng_engine *e = data;
    pol_load_done(&e->pc, (int32_t)m);
    e->slots_dirty = true;
    e->load_done[m] = l->now;
    int gi = group_of(e, (int32_t)m);
    if (!e->grp[gi].busy)
        return start_iteration(e, gi, l->now);
    return DB_OK;
}

static db_status on_arrival(eng_loop *l, void *data, int64_t r)
{
    eng_engine *e = data;
    const eng_request *in = &e->rq_in[r];
    int32_t m = in->model;
    eng_group *g = &e->grp[group_of(e, m)];
    CHECK(e->rq[r].state == RQ_FUTURE, "request %lld arrived twice", (long long)in->id);
    CHECK(e->qorder[e->q_tail[m]] == (int32_t)r, "queue order of model %d", m);
    e->rq[r].state = RQ_WAITING;
    e->rq[r].wait_since = l->now;
    e->q_tail[m]++;
    if (e->wait_count[m]++ == 0) {
        list_add(g->wm, &g->n_wm, e->wm_pos, m);
        e->slots_dirty = true;
    }
    e->n_waiting++;
    if (++e->next_arrival < e->R) {
        db_status st = eng_loop_push(l, e->rq_in[e->next_arrival].arrival_s, on_arrival, e,
                                     e->next_arrival);
        if (st != DB_OK)
            return st;
    }
    if (!e->dedicated && e->cfg->prefetch && pol_prefetch(&e->pc, m, l->now)) {
        double dt;
        db_status st = e->exe->ops->load(e->exe->ctx, m, EXE_LOAD_DISK, e->item_bytes, &dt);
        if (st != DB_OK)
            return st;
        double start = e->disk_free > l->now ? e->disk_free : l->now;
        e->disk_free = start + dt;
        pol_host_ready(&e->pc, m, e->disk_free);
    }
    if (!g->busy)
        return start_iteration(e, group_of(e, m), l->now);
    if (!e->dedicated && !pol_resident(&e->pc, m)) {
        /* Start the load now rather than at the next iteration boundary. */
        pol_plan plan;
        if (pol_acquire_idle(&e->pc, m, l->now, &plan) == POL_STARTED)
            return start_load(e, m, &plan, l->now);
    }
    return DB_OK;
}

/* Most rows of the memory timeline a run may take (about 100 MB). */
#define ENG_MEM_ROWS_MAX 2e6

static db_status mem_record(eng_engine *e, double t)
{
    if (e->n_mem == e->cap_mem) {
        int64_t cap = e->cap_mem * 2;
        met_memory_row *p = db_realloc(e->mem, (size_t)cap * sizeof *p);
        if (!p)
            return db_error(DB_ERR_NOMEM, "memory timeline of %lld rows", (long long)cap);
        e->mem = p;
        e->cap_mem = cap;
    }
    met_memory_row *row = &e->mem[e->n_mem++];
    double kvb = (double)e->B * e->cost->kv_token_bytes;
    row->t_s = t;
    row->gpu_weights_bytes = weights_bytes(e);
    row->gpu_kv_bytes = (double)e->tot_kv_used * kvb;
    row->gpu_kv_reserved_bytes = (double)e->tot_kv_reserved * kvb;
    row->gpu_capacity_bytes = (double)e->G * e->grp[0].usable / e->cfg->gpu_util;
    row->host_bytes = e->dedicated ? 0 : (double)e->pc.host_count * e->item_bytes;
    row->running = e->n_running;
    row->waiting = e->n_waiting;
    return DB_OK;
}

static db_status on_mem_sample(eng_loop *l, void *data, int64_t arg)
{
    eng_engine *e = data;
    (void)arg;
    db_status s = mem_record(e, l->now);
    if (s != DB_OK || e->n_done == e->R)
        return s;
    return eng_loop_push(l, l->now + e->cfg->mem_interval_s, on_mem_sample, e, 0);
}

/* ---- setup --------------------------------------------------------------------------------- */

void eng_config_default(eng_config *c)
{
    memset(c, 0, sizeof *c);
    c->max_batch = 256;
    c->token_budget = 4096;
    c->chunked_prefill = true;
    c->kv_block = 16;
    c->preempt_after_s = 1.0;
    c->gpu_util = 0.90;
    c->host_util = 0.80;
    c->mem_interval_s = 1.0;
}

/* Layout of the run: replicas, slots, weights and KV capacity; the memory-fit errors. */
typedef struct {
    int G, slots, host_cap;
    cost_mode mode;
    double item_bytes, weights, usable;
    int64_t kv_cap;
} eng_layout;

int eng_gpu_slots(const eng_config *cfg)
{
    int slots = cfg->gpu_slots ? cfg->gpu_slots : cfg->policy->default_slots;
    return slots == 0 || slots > cfg->n_models ? cfg->n_models : slots;
}

/* "; raise --tp" where the profile has more GPUs than the run uses, else nothing. */
static const char *hint_tp(const cost_ctx *c, const hw_profile *hw)
{
    return c->tp < hw->max_gpus ? "; raise --tp" : "";
}

static db_status layout(const eng_config *cfg, const cost_ctx *c, const hw_profile *hw,
                        eng_layout *lo)
{
    const pol_traits *p = cfg->policy;
    const char *mn = c->model->name;
    memset(lo, 0, sizeof *lo);
    if (!p)
        return db_error(DB_ERR_ARG, "no serving policy given");
    if (cfg->n_models < 1)
        return db_error(DB_ERR_ARG, "the run needs at least one model");
    if (cfg->max_batch < 1 || cfg->token_budget < 1 || cfg->kv_block < 1 ||
        !(cfg->gpu_util > 0 && cfg->gpu_util <= 1) || !(cfg->host_util >= 0 && cfg->host_util <= 1) ||
        !(cfg->preempt_after_s >= 0) || !(cfg->mem_interval_s >= 0))
        return db_error(DB_ERR_ARG, "engine options out of range");
    if (cfg->chunked_prefill && cfg->token_budget < cfg->max_batch)
        return db_error(DB_ERR_ARG,
                        "--token-budget %lld is below --max-batch %d: with --prefill chunked "
                        "every decoder takes a token of the budget (as in vLLM)",
                        (long long)cfg->token_budget, cfg->max_batch);
    if (cfg->gpu_slots < 0)
        return db_error(DB_ERR_ARG, "%d GPU slots: the count must be positive", cfg->gpu_slots);
    if ((cfg->prefetch && !p->has_prefetch) || (cfg->preempt && !p->has_preempt))
        return db_error(DB_ERR_ARG, "policy %s has no %s", p->name,
                        cfg->prefetch && !p->has_prefetch ? "prefetch" : "preemption");
    if (p->kind == POL_DELTA && !c->format)
        return db_error(DB_ERR_ARG, "policy %s serves deltas: the cost model needs a delta format",
                        p->name);
    lo->usable = (double)c->tp * hw->hbm_bytes * cfg->gpu_util;
    lo->G = p->kind == POL_DEDICATED ? cfg->n_models : 1;
    lo->mode = p->kind == POL_DELTA ? COST_SHARED_BASE : COST_FULL_MODELS;
    const int slots = eng_gpu_slots(cfg);
    lo->slots = slots;
    double gb = 1e9;
    switch (p->kind) {
    case POL_DEDICATED:
        lo->item_bytes = c->full_bytes;
        lo->weights = c->full_bytes;
        if (lo->weights > lo->usable)
            return db_error(DB_ERR_ARG,
                            "%s (%.1f GB fp16) does not fit in %d x %.1f GB x %.2f of %s%s",
                            mn, c->full_bytes / gb, c->tp, hw->hbm_bytes / gb, cfg->gpu_util,
                            hw->name, hint_tp(c, hw));
        break;
    case POL_SWAP:
        lo->item_bytes = c->full_bytes;
        lo->weights = slots * c->full_bytes;
        if (lo->weights > lo->usable)
            return db_error(DB_ERR_ARG,
                            "%d resident %s models (%.1f GB each) do not fit in %d x %.1f GB x "
                            "%.2f of %s%s%s",
                            slots, mn, c->full_bytes / gb, c->tp, hw->hbm_bytes / gb,
                            cfg->gpu_util, hw->name, slots > 1 ? "; lower --max-resident" : "",
                            slots > 1 && c->tp < hw->max_gpus ? " or raise --tp"
                                                               : hint_tp(c, hw));
        break;
    case POL_DELTA:
        lo->item_bytes = c->delta_bytes;
        lo->weights = c->full_bytes + slots * c->delta_bytes;
        if (c->full_bytes > lo->usable)
            return db_error(DB_ERR_ARG,
                            "the %s base model (%.1f GB fp16) does not fit in %d x %.1f GB x %.2f "
                            "of %s%s",
                            mn, c->full_bytes / gb, c->tp, hw->hbm_bytes / gb, cfg->gpu_util,
                            hw->name, hint_tp(c, hw));
        if (lo->weights > lo->usable)
            return db_error(DB_ERR_ARG,
                            "base %s (%.1f GB) + %d %s deltas (%.2f GB each) do not fit in %d x "
                            "%.1f GB x %.2f of %s; lower --max-deltas",
                            mn, c->full_bytes / gb, slots, c->format ? c->format->name : "?",
                            c->delta_bytes / gb, c->tp, hw->hbm_bytes / gb, cfg->gpu_util,
                            hw->name);
        break;
    }
    double block = (double)cfg->kv_block * c->kv_token_bytes;
    lo->kv_cap = (int64_t)floor((lo->usable - lo->weights) / block);
    if (lo->kv_cap < 1)
        return db_error(DB_ERR_ARG, "no GPU memory left for the KV cache of %s on %s", mn,
                        hw->name);
    if (p->kind != POL_DEDICATED) {
        double hc = floor(hw->host_bytes * cfg->host_util / lo->item_bytes);
        lo->host_cap = hc > cfg->n_models ? cfg->n_models : (int)hc;
    }
    return DB_OK;
}

db_status eng_check(const eng_config *cfg, const cost_ctx *c, const hw_profile *hw,
                    const eng_request *rq, int64_t n)
{
    eng_layout lo;
    db_status s = layout(cfg, c, hw, &lo);
    if (s != DB_OK)
        return s;
    if (n < 1)
        return db_error(DB_ERR_ARG, "the trace has no requests");
    if (n > INT32_MAX - 1)
        return db_error(DB_ERR_ARG, "%lld requests: at most %d", (long long)n, INT32_MAX - 1);
    for (int64_t i = 0; i < n; i++) {
        const eng_request *r = &rq[i];
        if (r->model < 0 || r->model >= cfg->n_models)
            return db_error(DB_ERR_ARG, "request %lld names model %d; the run has %d models (0..%d)",
                            (long long)r->id, r->model, cfg->n_models, cfg->n_models - 1);
        if (!isfinite(r->arrival_s) || r->arrival_s < 0 || (i && r->arrival_s < rq[i - 1].arrival_s))
            return db_error(DB_ERR_ARG, "request %lld: arrival %g is %s", (long long)r->id,
                            r->arrival_s,
                            r->arrival_s < 0 || !isfinite(r->arrival_s) ? "not a time >= 0"
                                                                        : "earlier than the one before");
        if (r->prompt_tokens < 1 || r->output_tokens < 1)
            return db_error(DB_ERR_ARG, "request %lld: prompt and output need at least 1 token",
                            (long long)r->id);
        if (!cfg->chunked_prefill && r->prompt_tokens > cfg->token_budget)
            return db_error(DB_ERR_ARG, "request %lld: prompt of %d tokens exceeds --token-budget "
                            "%lld (--prefill chunked prefills it in chunks)",
                            (long long)r->id, r->prompt_tokens, (long long)cfg->token_budget);
        int64_t need = ceil_div((int64_t)r->prompt_tokens + r->output_tokens - 1, cfg->kv_block);
        if (need > lo.kv_cap)
            return db_error(DB_ERR_ARG,
                            "request %lld needs %lld KV blocks; the GPU has room for %lld",
                            (long long)r->id, (long long)need, (long long)lo.kv_cap);
        /* A preempted request is re-prefilled with its tokens so far; it must fit the budget. */
        if (!cfg->chunked_prefill && cfg->preempt &&
            (int64_t)r->prompt_tokens + r->output_tokens - 1 > cfg->token_budget)
            return db_error(DB_ERR_ARG,
                            "request %lld: prompt + output (%d) exceeds --token-budget %lld, so "
                            "it could not be resumed after preemption",
                            (long long)r->id, r->prompt_tokens + r->output_tokens,
                            (long long)cfg->token_budget);
    }
    /* The memory timeline takes a row per period over the whole trace: a trace spanning 1e12 s
     * would take 1e12 rows (memory without bound), so a span beyond ENG_MEM_ROWS_MAX periods
     * is refused with the way out. */
    double span = rq[n - 1].arrival_s;
    if (cfg->mem_interval_s > 0 && span / cfg->mem_interval_s > ENG_MEM_ROWS_MAX)
        return db_error(DB_ERR_ARG,
                        "the trace spans %g s: %.3g memory samples at --mem-interval %g s exceed "
                        "%g; give a longer --mem-interval (0: start and end only)",
                        span, span / cfg->mem_interval_s, cfg->mem_interval_s,
                        (double)ENG_MEM_ROWS_MAX);
    return DB_OK;
}

/* ---- the engine's arena -------------------------------------------------------------------- */

/* Every table of the engine lives in one allocation (llm.c's malloc_and_point_parameters):
 * engine_carve runs twice over the same list, first with base NULL to measure, then on the
 * allocated block to point each table at its part. */
typedef struct {
    unsigned char *base; /* NULL while measuring */
    size_t used, cap;
    bool overflow; /* a size did not fit in size_t */
} eng_arena;

/* The next part of count elements of `size` bytes, aligned for any type; NULL while measuring
 * or after an overflow. */
static void *arena_take(eng_arena *a, size_t count, size_t size)
{
    const size_t align = _Alignof(max_align_t);
    if (a->overflow || (size && count > (SIZE_MAX - align) / size)) {
        a->overflow = true;
        return NULL;
    }
    size_t bytes = (count * size + align - 1) / align * align;
    if (bytes > SIZE_MAX - a->used || (a->base && a->used + bytes > a->cap)) {
        a->overflow = true;
        return NULL;
    }
    void *p = a->base ? a->base + a->used : NULL;
    a->used += bytes;
    return p;
}

/* Points every table of e into the arena: per request [R], per model [M], per replica [G] and
 * the per-iteration scratch [max_batch]. */
static void engine_carve(eng_engine *e, eng_arena *a)
{
    size_t R = (size_t)e->R, M = (size_t)e->M, G = (size_t)e->G, B = (size_t)e->B;
    size_t run = (size_t)e->cfg->max_batch;
    e->rq = arena_take(a, R, sizeof *e->rq);
    e->qorder = arena_take(a, R, sizeof *e->qorder);
    e->grp = arena_take(a, G, sizeof *e->grp);
    e->run_count = arena_take(a, M, sizeof *e->run_count);
    e->wait_count = arena_take(a, M, sizeof *e->wait_count);
    e->act_pos = arena_take(a, M, sizeof *e->act_pos);
    e->wm_pos = arena_take(a, M, sizeof *e->wm_pos);
    e->pf_req = arena_take(a, M, sizeof *e->pf_req);
    e->pf_tok = arena_take(a, M, sizeof *e->pf_tok);
    e->q_head = arena_take(a, M, sizeof *e->q_head);
    e->q_tail = arena_take(a, M, sizeof *e->q_tail);
    e->q_start = arena_take(a, M + 1, sizeof *e->q_start);
    e->load_start = arena_take(a, M, sizeof *e->load_start);
    e->load_done = arena_take(a, M, sizeof *e->load_done);
    e->run_since = arena_take(a, M, sizeof *e->run_since);
    e->load_bytes = arena_take(a, M, sizeof *e->load_bytes);
    e->cand = arena_take(a, M, sizeof *e->cand);
    e->park = arena_take(a, M, sizeof *e->park);
    e->b_models = arena_take(a, M, sizeof *e->b_models);
    e->b_tokens = arena_take(a, M, sizeof *e->b_tokens);
    e->b_logits = arena_take(a, M, sizeof *e->b_logits);
    e->d_req = arena_take(a, run, sizeof *e->d_req);
    e->d_model = arena_take(a, run, sizeof *e->d_model);
    e->d_new = arena_take(a, run, sizeof *e->d_new);
    e->d_ctx = arena_take(a, run, sizeof *e->d_ctx);
    e->d_phase = arena_take(a, run, sizeof *e->d_phase);
    /* Replica tables, G of each side by side. */
    int64_t *cls = arena_take(a, G, B * sizeof *cls);
    int32_t *fh = arena_take(a, G, run * sizeof *fh);
    int32_t *adm = arena_take(a, G, run * sizeof *adm);
    int32_t *act = arena_take(a, G, M * sizeof *act);
    int32_t *wm = arena_take(a, G, M * sizeof *wm);
    if (!a->base || a->overflow)
        return;
    for (size_t gi = 0; gi < G; gi++) {
        e->grp[gi].cls_count = cls + gi * B;
        e->grp[gi].fh = fh + gi * run;
        e->grp[gi].adm = adm + gi * run;
        e->grp[gi].act = act + gi * M;
        e->grp[gi].wm = wm + gi * M;
    }
}

/* The arena (zeroed) and the tables the result takes over: request rows and the memory
 * timeline, which grows by doubling as the run samples it. */
static db_status engine_alloc(eng_engine *e)
{
    eng_arena a = {0};
    engine_carve(e, &a);
    if (a.overflow)
        return db_error(DB_ERR_NOMEM, "engine tables for %lld requests and %d models overflow",
                        (long long)e->R, e->M);
    e->arena = db_calloc(1, a.used);
    e->rows = db_calloc((size_t)e->R, sizeof *e->rows);
    e->cap_mem = 64;
    e->mem = db_malloc_array((size_t)e->cap_mem, sizeof *e->mem);
    if (!e->arena || !e->rows || !e->mem)
        return db_error(DB_ERR_NOMEM, "engine tables for %lld requests (%zu bytes)",
                        (long long)e->R, a.used);
    a = (eng_arena){e->arena, 0, a.used, false};
    engine_carve(e, &a);
    return DB_OK;
}

double eng_run_bytes(const eng_config *cfg, int64_t n)
{
    eng_engine e;
    memset(&e, 0, sizeof e);
    e.cfg = cfg;
    e.R = n > 0 ? n : 0;
    e.M = cfg->n_models > 0 ? cfg->n_models : 1;
    e.G = cfg->policy && cfg->policy->kind == POL_DEDICATED ? e.M : 1;
    e.B = cfg->kv_block > 0 ? cfg->kv_block : 1;
    eng_arena a = {0};
    engine_carve(&e, &a); /* measures: the arena as engine_alloc will ask for it */
    double arena = a.overflow ? INFINITY : (double)a.used;
    /* + the request rows and the policy's per-model cache tables (about 64 bytes a model) */
    return arena + (double)e.R * sizeof(met_request_row) + 64.0 * e.M;
}

static void engine_free(eng_engine *e)
{
    pol_cache_free(&e->pc);
    eng_loop_free(&e->loop);
    db_free(e->arena);
    db_free(e->rows);
    db_free(e->mem);
    memset(e, 0, sizeof *e);
}

/* ---- setup of a run ------------------------------------------------------------------------ */

/* Requests grouped by model in trace order (counting sort): each model's queue is a window
 * [q_head, q_tail) of qorder, empty at the start. */
static void engine_queues(eng_engine *e)
{
    const eng_request *rq = e->rq_in;
    for (int64_t i = 0; i < e->R; i++)
        e->q_start[rq[i].model + 1]++;
    for (int m = 0; m < e->M; m++)
        e->q_start[m + 1] += e->q_start[m];
    for (int m = 0; m < e->M; m++)
        e->q_head[m] = e->q_tail[m] = e->q_start[m];
    for (int64_t i = 0; i < e->R; i++)
        e->qorder[e->q_tail[rq[i].model]++] = (int32_t)i;
    for (int m = 0; m < e->M; m++) {
        e->q_tail[m] = e->q_start[m];
        e->act_pos[m] = e->wm_pos[m] = -1;
        e->load_start[m] = -1;
        e->load_done[m] = -1;
    }
}

/* Request state and the trace's columns of each result row. */
static void engine_requests(eng_engine *e)
{
    for (int64_t i = 0; i < e->R; i++) {
        const eng_request *in = &e->rq_in[i];
        e->rq[i].first_admit = e->rq[i].first_token = -1;
        met_request_row *row = &e->rows[i];
        row->request_id = in->id;
        row->model = in->model;
        row->prompt_tokens = in->prompt_tokens;
        row->output_tokens = in->output_tokens;
        row->arrival_s = in->arrival_s;
    }
}

/* An engine ready to run reqs[0..n) on the layout lo (free with engine_free, even on error). */
static db_status engine_init(eng_engine *e, const eng_config *cfg, const cost_ctx *cost,
                             exe_executor *exe, const eng_layout *lo, const eng_request *reqs,
                             int64_t n, bool coalesce)
{
    memset(e, 0, sizeof *e);
    e->cfg = cfg;
    e->cost = cost;
    e->exe = exe;
    e->rq_in = reqs;
    e->R = n;
    e->M = cfg->n_models;
    e->G = lo->G;
    e->B = cfg->kv_block;
    e->dedicated = cfg->policy->kind == POL_DEDICATED;
    /* Quiet ends need on_step_end's fast path: the cost model's repeated prices, no progress. */
    e->coalesce = coalesce && e->dedicated && exe->ops->step_is_cost && !cfg->progress;
    e->mode = lo->mode;
    e->item_bytes = lo->item_bytes;
    e->slots_dirty = true;
    db_status s = engine_alloc(e);
    if (s != DB_OK)
        return s;
    for (int gi = 0; gi < e->G; gi++) {
        e->grp[gi].kv_cap = lo->kv_cap;
        e->grp[gi].usable = lo->usable;
        e->grp[gi].pf_r = -1;
    }
    if (!e->dedicated) {
        s = pol_cache_init(&e->pc, e->M, lo->slots, lo->host_cap, e->run_count, e->wait_count);
        if (s != DB_OK)
            return s;
    }
    engine_queues(e);
    engine_requests(e);
    /* Pending events at most: one arrival, one iteration per replica, one load per model, one
     * memory sample. */
    return eng_loop_init(&e->loop, 2 + (int64_t)e->G + (int64_t)e->M + 1);
}

/* Runs the events from the first arrival to the last finish, then checks conservation and
 * records the final memory sample. */
static db_status engine_simulate(eng_engine *e)
{
    db_status s = eng_loop_push(&e->loop, e->rq_in[0].arrival_s, on_arrival, e, 0);
    if (s == DB_OK)
        s = mem_record(e, 0);
    if (s == DB_OK && e->cfg->mem_interval_s > 0)
        s = eng_loop_push(&e->loop, e->cfg->mem_interval_s, on_mem_sample, e, 0);
    if (s == DB_OK)
        s = eng_loop_run(&e->loop);
    if (s != DB_OK || e->loop.tie_hazard) /* eng_run starts over */
        return s;
    /* Conservation: every request finished once, nothing left running or reserved. */
    if (e->n_done != e->R || e->n_running || e->n_waiting || e->tot_kv_used || e->tot_kv_reserved)
        return db_error(DB_ERR_INTERNAL,
                        "run ended with %lld of %lld requests done, %lld running, %lld waiting, "
                        "%lld KV blocks used",
                        (long long)e->n_done, (long long)e->R, (long long)e->n_running,
                        (long long)e->n_waiting, (long long)e->tot_kv_used);
    double t_end = 0;
    for (int64_t i = 0; i < e->R; i++)
        if (e->rows[i].finish_s > t_end)
            t_end = e->rows[i].finish_s;
    return mem_record(e, t_end > e->loop.now ? t_end : e->loop.now);
}

/* ---- the result ---------------------------------------------------------------------------- */

/* One loads row per model; their totals go into the summary. */
static void result_loads(const eng_engine *e, eng_result *out)
{
    for (int m = 0; m < e->M; m++) {
        met_load_row *lr = &out->loads[m];
        lr->model = m;
        lr->requests = e->q_start[m + 1] - e->q_start[m];
        if (!e->dedicated) {
            lr->gpu_loads = e->pc.gpu_loads[m];
            lr->disk_loads = e->pc.disk_loads[m];
            lr->gpu_evictions = e->pc.gpu_evictions[m];
            lr->host_evictions = e->pc.host_evictions[m];
        }
        lr->load_bytes = e->load_bytes[m];
        out->summary.gpu_loads += lr->gpu_loads;
        out->summary.disk_loads += lr->disk_loads;
        out->summary.gpu_evictions += lr->gpu_evictions;
    }
}

/* The summary fields the engine knows beyond the request-derived ones. */
static void result_summary(const eng_engine *e, const hw_profile *hw, const eng_layout *lo,
                           met_summary_row *sm)
{
    const eng_config *cfg = e->cfg;
    const cost_ctx *cost = e->cost;
    snprintf(sm->system, sizeof sm->system, "%s", cfg->policy->name);
    snprintf(sm->executor, sizeof sm->executor, "%s", e->exe->ops->name);
    snprintf(sm->hw, sizeof sm->hw, "%s", hw->name);
    snprintf(sm->model, sizeof sm->model, "%s", cost->model->name);
    if (cost->format && lo->mode == COST_SHARED_BASE)
        snprintf(sm->delta_format, sizeof sm->delta_format, "%s", cost->format->name);
    sm->tp = cost->tp;
    sm->n_models = e->M;
    sm->gpus = (int64_t)e->G * cost->tp;
    sm->gpu_slots = e->dedicated ? e->M : lo->slots;
    sm->max_batch = cfg->max_batch;
    sm->token_budget = cfg->token_budget;
    sm->prefetch = cfg->prefetch;
    sm->preempt = cfg->preempt;
    sm->iterations = e->iterations;
    sm->preemptions = e->preemptions;
    sm->full_model_bytes = cost->full_bytes;
    sm->delta_bytes = lo->mode == COST_SHARED_BASE ? cost->delta_bytes : 0;
    sm->peak_gpu_bytes = e->peak_gpu;
    sm->gpu_capacity_bytes = (double)e->G * cost->tp * hw->hbm_bytes;
    sm->kv_capacity_bytes = (double)e->G * (double)lo->kv_cap * e->B * cost->kv_token_bytes;
}

/* Fills *out from a finished run; the request rows and the memory timeline move from e to out.
 * On error *out may hold part of the result: the caller frees it. */
static db_status result_fill(eng_engine *e, const hw_profile *hw, const eng_layout *lo,
                             eng_result *out)
{
    out->loads = db_calloc((size_t)e->M, sizeof *out->loads);
    if (!out->loads)
        return db_error(DB_ERR_NOMEM, "loads table of %d models", e->M);
    out->n_models = e->M;
    out->requests = e->rows;
    e->rows = NULL;
    out->n_requests = e->R;
    out->memory = e->mem;
    e->mem = NULL;
    out->n_memory = e->n_mem;
    out->events = e->loop.processed;
    result_loads(e, out);
    db_status s = met_summarize(out->requests, out->n_requests, &out->summary);
    if (s != DB_OK)
        return s;
    met_slo(out->requests, out->n_requests, out->slo);
    result_summary(e, hw, lo, &out->summary);
    return DB_OK;
}

void eng_result_free(eng_result *r)
{
    if (!r)
        return;
    db_free(r->requests);
    db_free(r->memory);
    db_free(r->loads);
    memset(r, 0, sizeof *r);
}

db_status eng_run(const eng_config *cfg, const cost_ctx *cost, const hw_profile *hw,
                  exe_executor *exe, const eng_request *reqs, int64_t n, eng_result *out)
{
    memset(out, 0, sizeof *out);
    db_status s = eng_check(cfg, cost, hw, reqs, n);
    if (s != DB_OK)
        return s;
    eng_layout lo;
    layout(cfg, cost, hw, &lo);
    eng_engine e;
    s = engine_init(&e, cfg, cost, exe, &lo, reqs, n, true);
    if (s == DB_OK)
        s = engine_simulate(&e);
    if (e.coalesce && e.loop.tie_hazard) {
        /* Two events of equal time and push time, one of them pushed ahead: their order is
         * that of events no longer there, so the run starts over with every end an event. */
        engine_free(&e);
        s = engine_init(&e, cfg, cost, exe, &lo, reqs, n, false);
        if (s == DB_OK)
            s = engine_simulate(&e);
    }
    if (s == DB_OK)
        s = result_fill(&e, hw, &lo, out);
    engine_free(&e);
    if (s != DB_OK)
        eng_result_free(out);
    return s;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

uint64_t eng_result_hash(const eng_result *r)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv(h, r->requests, (size_t)r->n_requests * sizeof *r->requests);
    h = fnv(h, r->memory, (size_t)r->n_memory * sizeof *r->memory);
    h = fnv(h, r->loads, (size_t)r->n_models * sizeof *r->loads);
    h = fnv(h, &r->summary, sizeof r->summary);
    h = fnv(h, r->slo, sizeof r->slo);
    return h;
}
