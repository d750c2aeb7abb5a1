/* serve/policy.h: the systems under test as policies (`pol_` module).
 *
 * A policy is one row of pol_table: which weights an iteration reads (one shared base plus
 * deltas, or one full model per distinct model), whether each model gets its own replica, and
 * how many models (or deltas) may live on the GPU. The residency of models in the GPU slots,
 * the host cache and on disk is one mechanism shared by `swap` and the delta policies
 * (pol_cache: GPU slots with LRU eviction of models that have no running request, a host LRU
 * cache, disk behind it); the engine owns the clock and schedules the loads it is told to
 * start. docs/serving.md maps each row to the paper it models. */
#ifndef DB_SERVE_POLICY_H
#define DB_SERVE_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"

typedef enum {
    POL_DEDICATED, /* one replica (TP GPUs) per model, every model resident: memory upper bound */
    POL_SWAP,      /* full fp16 models swapped host <-> GPU into --max-resident slots */
    POL_DELTA,     /* base resident; deltas in --max-deltas GPU slots (all when 0) */
} pol_kind;

typedef struct {
    const char *name;
    const char *summary;        /* one line for --help */
    pol_kind kind;
    const char *default_format; /* POL_DELTA: delta format name */
    int default_slots;          /* GPU slots when the option is not given; 0 = every model */
    bool has_prefetch, has_preempt;
} pol_traits;

extern const pol_traits pol_table[];
extern const int pol_count;
/* The policy named `name`, or NULL. */
const pol_traits *pol_find(const char *name);

/* ---- residency of models: GPU slots, host cache, disk ------------------------------------- */

typedef enum { POL_GPU_NONE, POL_GPU_LOADING, POL_GPU_RESIDENT } pol_gpu_state;
typedef enum { POL_RESIDENT, POL_LOADING, POL_STARTED, POL_NO_SLOT } pol_answer;

/* What the engine must do for a load pol_acquire started. */
typedef struct {
    bool need_disk;    /* read from disk first (the host has no copy, none is on its way) */
    double host_ready; /* otherwise: when the host copy is complete (<= now when it is there) */
    int32_t evicted;   /* model evicted from the GPU to make room, or -1 */
} pol_plan;

typedef struct {
    int n_models, n_slots;
    int host_cap;             /* models the host cache holds (0: every load reads the disk) */
    int host_count;
    int slots_used;           /* slots holding a resident or loading model */
    uint64_t clock;           /* LRU stamps */
    int32_t *slot_model;      /* [n_slots] model in the slot, or -1 */
    int32_t *gpu_slot;        /* [M] slot of the model, or -1 */
    uint8_t *gpu_state;       /* [M] pol_gpu_state */
    uint64_t *gpu_lru;        /* [M] last use */
    uint8_t *in_host;         /* [M] the host cache holds (or is receiving) the model */
    double *host_ready;       /* [M] when the host copy is complete */
    uint64_t *host_lru;       /* [M] */
    const int32_t *run_count; /* [M] running requests per model (engine's, read only) */
    const int32_t *wait_count;/* [M] waiting requests per model (engine's, read only) */
    int64_t *gpu_loads, *disk_loads, *gpu_evictions, *host_evictions; /* [M] counters */
} pol_cache;

/* Sets up residency for M models, n_slots GPU slots and a host cache of host_cap models. Start
 * state: with a slot for every model all are resident (loaded before the run); otherwise the
 * GPU starts empty. The host cache starts with models 0..host_cap-1, the rest are on disk. */
db_status pol_cache_init(pol_cache *c, int M, int n_slots, int host_cap, const int32_t *run_count,
                         const int32_t *wait_count);
void pol_cache_free(pol_cache *c); /* NULL or zeroed: no-op */

static inline bool pol_resident(const pol_cache *c, int32_t m)
{
    return c->gpu_state[m] == POL_GPU_RESIDENT;
}
/* Marks model m used now (LRU). */
void pol_touch(pol_cache *c, int32_t m);
/* Makes sure model m is on the GPU or on its way: POL_RESIDENT, POL_LOADING (already coming),
 * POL_STARTED (a slot was taken, evicting the least recently used model without running
 * requests, preferring models nobody waits for; *plan says how to load), or POL_NO_SLOT (every
 * slot holds a model with running requests, or is loading). */
pol_answer pol_acquire(pol_cache *c, int32_t m, double now, pol_plan *plan);
/* Like pol_acquire, but answers POL_NO_SLOT rather than evict a model somebody waits for (used
 * on arrival, outside the FCFS admission pass, so it never takes a slot an older request needs). */
pol_answer pol_acquire_idle(pol_cache *c, int32_t m, double now, pol_plan *plan);
/* A load pol_acquire started has arrived. */
void pol_load_done(pol_cache *c, int32_t m);
/* Prefetch: true when model m is only on disk and a disk -> host read must start now (the host
 * cache entry is reserved; the engine then calls pol_host_ready with its completion time). */
bool pol_prefetch(pol_cache *c, int32_t m, double now);
/* Records when the host copy of m (being read from disk) is complete. */
void pol_host_ready(pol_cache *c, int32_t m, double t);

#endif
