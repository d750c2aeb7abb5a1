/* serve/policy.c: the policy table and the GPU-slot / host-cache / disk residency of models.
 *
 * Residency is plain bookkeeping with no clock of its own: the engine asks for a model, gets a
 * plan (read from disk or not, when the host copy is ready) and schedules the transfers on its
 * disk and PCIe queues. Eviction never touches a model with running requests or one still
 * loading, so a batch's weights never vanish under it. */
#include "serve/policy.h"

#include <string.h>

#include "core/alloc.h"

const pol_traits pol_table[] = {
    {"dedicated", "one replica per model, all resident (the memory upper bound)", POL_DEDICATED,
     NULL, 0, false, false},
    {"swap", "full fp16 models swapped host<->GPU, LRU, --max-resident on GPU (vLLM+SCB)",
     POL_SWAP, NULL, 6, false, false},
    {"deltazip", "base resident + compressed deltas in --max-deltas GPU slots, batched (DeltaZip)",
     POL_DELTA, "4bit-2:4", 8, true, true},
    {"bitdelta", "base resident + every 1-bit delta resident, batched (BitDelta)", POL_DELTA,
     "bitdelta", 0, true, true},
    {"deltadq", "base resident + every DeltaDQ delta resident, batched (DeltaDQ)", POL_DELTA,
     "deltadq-16x", 0, true, true},
};
const int pol_count = (int)(sizeof pol_table / sizeof pol_table[0]);

const pol_traits *pol_find(const char *name)
{
    for (int i = 0; i < pol_count; i++)
        if (!strcmp(pol_table[i].name, name))
            return &pol_table[i];
    return NULL;
}

void pol_cache_free(pol_cache *c)
{
    if (!c)
        return;
    db_free(c->slot_model);
    db_free(c->gpu_slot);
    db_free(c->gpu_state);
    db_free(c->gpu_lru);
    db_free(c->in_host);
    db_free(c->host_ready);
    db_free(c->host_lru);
    db_free(c->gpu_loads);
    db_free(c->disk_loads);
    db_free(c->gpu_evictions);
    db_free(c->host_evictions);
    memset(c, 0, sizeof *c);
}

db_status pol_cache_init(pol_cache *c, int M, int n_slots, int host_cap, const int32_t *run_count,
                         const int32_t *wait_count)
{
    memset(c, 0, sizeof *c);
    if (M < 1 || n_slots < 1 || host_cap < 0)
        return db_error(DB_ERR_ARG, "residency: %d models, %d GPU slots, %d host slots", M, n_slots,
                        host_cap);
    if (n_slots > M)
        n_slots = M; /* more slots than models would never be used */
    if (host_cap > M)
        host_cap = M;
    c->n_models = M;
    c->n_slots = n_slots;
    c->host_cap = host_cap;
    c->run_count = run_count;
    c->wait_count = wait_count;
    size_t m = (size_t)M;
    c->slot_model = db_malloc_array((size_t)n_slots, sizeof *c->slot_model);
    c->gpu_slot = db_malloc_array(m, sizeof *c->gpu_slot);
    c->gpu_state = db_calloc(m, 1);
    c->gpu_lru = db_calloc(m, sizeof *c->gpu_lru);
    c->in_host = db_calloc(m, 1);
    c->host_ready = db_calloc(m, sizeof *c->host_ready);
    c->host_lru = db_calloc(m, sizeof *c->host_lru);
    c->gpu_loads = db_calloc(m, sizeof(int64_t));
    c->disk_loads = db_calloc(m, sizeof(int64_t));
    c->gpu_evictions = db_calloc(m, sizeof(int64_t));
    c->host_evictions = db_calloc(m, sizeof(int64_t));
    if (!c->slot_model || !c->gpu_slot || !c->gpu_state || !c->gpu_lru || !c->in_host ||
        !c->host_ready || !c->host_lru || !c->gpu_loads || !c->disk_loads || !c->gpu_evictions ||
        !c->host_evictions) {
        pol_cache_free(c);
        return db_error(DB_ERR_NOMEM, "residency tables for %d models", M);
    }
    for (int i = 0; i < M; i++)
        c->gpu_slot[i] = -1;
    /* Every model fits: all are loaded before the run (BitDelta keeps every delta resident).
     * Otherwise the GPU starts empty, so no popularity law is favoured by the start state. */
    bool preload = n_slots == M;
    for (int s = 0; s < n_slots; s++) {
        c->slot_model[s] = preload ? s : -1;
        if (preload) {
            c->gpu_slot[s] = s;
            c->gpu_state[s] = POL_GPU_RESIDENT;
            c->gpu_lru[s] = ++c->clock;
        }
    }
    c->slots_used = preload ? n_slots : 0;
    for (int i = 0; i < host_cap; i++) {
        c->in_host[i] = 1;
        c->host_lru[i] = ++c->clock;
    }
    c->host_count = host_cap;
    return DB_OK;
}

void pol_touch(pol_cache *c, int32_t m) { c->gpu_lru[m] = ++c->clock; }

/* Puts m in the host cache, evicting the least recently used entry that is not being read
 * from disk and not being copied to the GPU. False when nothing can make room. */
static bool host_insert(pol_cache *c, int32_t m, double now)
{
    if (c->host_cap == 0)
        return false;
    if (c->host_count >= c->host_cap) {
        int32_t victim = -1;
        for (int32_t i = 0; i < c->n_models; i++) {
            if (!c->in_host[i] || i == m || c->host_ready[i] > now ||
                c->gpu_state[i] == POL_GPU_LOADING)
                continue;
            if (victim < 0 || c->host_lru[i] < c->host_lru[victim])
                victim = i;
        }
        if (victim < 0)
            return false;
        c->in_host[victim] = 0;
        c->host_evictions[victim]++;
        c->host_count--;
    }
    c->in_host[m] = 1;
    c->host_lru[m] = ++c->clock;
    c->host_count++;
    return true;
}

static pol_answer acquire(pol_cache *c, int32_t m, double now, pol_plan *plan, bool spare_waited)
{
    if (c->gpu_state[m] == POL_GPU_RESIDENT) {
        c->gpu_lru[m] = ++c->clock;
        return POL_RESIDENT;
    }
    if (c->gpu_state[m] == POL_GPU_LOADING)
        return POL_LOADING;
    int slot = -1;
    int32_t victim = -1;
    if (c->slots_used < c->n_slots) {
        for (int s = 0; s < c->n_slots; s++)
            if (c->slot_model[s] < 0) {
                slot = s;
                break;
            }
    } else {
        /* LRU among models with no running request, those nobody waits for first. */
        int best_wait = 2;
        for (int s = 0; s < c->n_slots; s++) {
            int32_t v = c->slot_model[s];
            if (c->gpu_state[v] != POL_GPU_RESIDENT || c->run_count[v] > 0)
                continue;
            int w = c->wait_count[v] > 0;
            if (w < best_wait || (w == best_wait && c->gpu_lru[v] < c->gpu_lru[victim])) {
                best_wait = w;
                victim = v;
                slot = s;
            }
        }
        if (victim < 0 || (spare_waited && best_wait > 0))
            return POL_NO_SLOT;
        c->gpu_state[victim] = POL_GPU_NONE;
        c->gpu_slot[victim] = -1;
        c->gpu_evictions[victim]++;
        c->slots_used--;
    }
    c->slot_model[slot] = m;
    c->gpu_slot[m] = slot;
    c->gpu_state[m] = POL_GPU_LOADING;
    c->gpu_lru[m] = ++c->clock;
    c->slots_used++;
    c->gpu_loads[m]++;
    plan->evicted = victim;
    if (c->in_host[m]) {
        plan->need_disk = false;
        plan->host_ready = c->host_ready[m];
        c->host_lru[m] = ++c->clock;
    } else {
        plan->need_disk = true;
        plan->host_ready = now;
        c->disk_loads[m]++;
        if (host_insert(c, m, now))
            c->host_ready[m] = 1e300; /* set by pol_host_ready once the engine knows */
    }
    return POL_STARTED;
}

pol_answer pol_acquire(pol_cache *c, int32_t m, double now, pol_plan *plan)
{
    return acquire(c, m, now, plan, false);
}

pol_answer pol_acquire_idle(pol_cache *c, int32_t m, double now, pol_plan *plan)
{
    return acquire(c, m, now, plan, true);
}

void pol_load_done(pol_cache *c, int32_t m) { c->gpu_state[m] = POL_GPU_RESIDENT; }

bool pol_prefetch(pol_cache *c, int32_t m, double now)
{
    if (c->in_host[m] || c->gpu_state[m] != POL_GPU_NONE)
        return false;
    if (!host_insert(c, m, now))
        return false;
    c->disk_loads[m]++;
    c->host_ready[m] = 1e300;
    return true;
}

void pol_host_ready(pol_cache *c, int32_t m, double t)
{
    if (c->in_host[m])
        c->host_ready[m] = t;
}
