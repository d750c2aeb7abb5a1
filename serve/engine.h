/* serve/engine.h: the serving engine (`eng_` module): a discrete-event loop in the redis `ae`
 * spirit and, on it, iteration-level continuous batching of many models' requests.
 *
 * Events pop in (time, sequence) order, the sequence being the push order, so ties are
 * deterministic. With the `sim` executor, the iteration ends of a `dedicated` replica at which
 * nothing another event can see changes (quiet: nothing finishes, arrives, waits or grows a KV
 * block) run inside the handler that scheduled them, and the first end that is not quiet is
 * pushed where the last quiet one would have pushed it; when its place among events of the
 * same time is unknown, the run starts over with an event per end (eng_run, same output).
 * Each replica (one per model for `dedicated`, one otherwise) runs iterations
 * back to back while it has work: an iteration decodes one token for every request whose
 * prefill ended before it and prefills the requests admitted at its start (FCFS over all
 * waiting requests, at most --max-batch running, KV blocks reserved for each request's final
 * length so the paged KV cache never overflows). With chunked prefill (the default, as in
 * vLLM and Sarathi-Serve) the decoders take one token each of --token-budget, a prefill in
 * chunks takes its next chunk from what is left, then new requests; the one that does not
 * fit whole starts its prefill with the rest, holding its KV as it grows, so at most one
 * request per replica is between chunks. Its first token (TTFT) comes at the end of its last
 * chunk; it decodes from the next iteration. Whole prefill (--prefill whole) admits only
 * prompts that fit in the budget, which counts prefill tokens only. A waiting request
 * whose model (or delta) is not on the GPU is skipped and its model's load is started; the
 * load runs on the disk and PCIe queues while iterations go on.
 *
 * Memory: eng_run sizes every table from the trace (R requests, M models, G replicas,
 * max_batch) and makes one arena for all of them; besides it, the result's request rows and
 * loads table, the event heap (fixed capacity) and the policy's residency tables (pol_cache).
 * During the run the engine allocates only for the memory timeline, which grows by doubling
 * from 64 rows (one realloc at 64, 128, 256, ... samples); met_summarize
 * allocates one scratch copy at the end. Executors may allocate on their own: the `cpu` one
 * rebuilds a model's weights on each of its loads (a load is real work there) and, with
 * --calib-out, grows its sample table by doubling; `sim` never allocates.
 *
 * Invariants, checked as the run goes (a violation returns DB_ERR_INTERNAL): time never goes
 * back; every request is admitted only after it arrives and finishes exactly once; KV blocks in
 * use are never negative and never above what is reserved, which never exceeds capacity. */
#ifndef DB_SERVE_ENGINE_H
#define DB_SERVE_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "serve/cost.h"
#include "serve/exec.h"
#include "serve/hw.h"
#include "serve/metrics.h"
#include "serve/policy.h"

/* ---- the event loop ------------------------------------------------------------------------ */

typedef struct eng_loop eng_loop;
/* An event handler: `data` is the pointer given at push, `arg` its integer argument. */
typedef db_status (*eng_handler)(eng_loop *loop, void *data, int64_t arg);

typedef struct {
    double t;
    double push_t; /* when it was pushed (or would have been: eng_loop_push_ahead) */
    uint64_t seq;
    eng_handler fn;
    void *data;
    int64_t arg;
    bool ahead; /* pushed by eng_loop_push_ahead */
} eng_event;

/* Events pop in (t, push_t, seq) order, which is (t, seq) order: the push time never goes back
 * as the sequence grows. It stays the order of the events as they would have been pushed when
 * a handler pushes an event ahead of its time (eng_loop_push_ahead), except between two events
 * of equal t and push_t where one was pushed ahead: their order is then unknown, and the loop
 * records it (tie_hazard). */
struct eng_loop {
    eng_event *heap; /* binary min-heap on (t, push_t, seq) */
    int64_t n, cap;
    uint64_t next_seq;
    double now;
    int64_t processed;
    bool top_done;   /* heap[0] is the event being run: the next push replaces it */
    bool tie_hazard; /* the next event ties with the last (t, push_t), one pushed ahead */
    eng_event last;  /* the event popped last (its t, push_t, ahead) */
};

/* A loop with room for `cap` pending events (fixed: pushing beyond it is an error). */
db_status eng_loop_init(eng_loop *l, int64_t cap);
void eng_loop_free(eng_loop *l); /* NULL or zeroed: no-op */
/* Schedules fn(data, arg) at time t >= now; DB_ERR_INTERNAL when t < now or the heap is full. */
db_status eng_loop_push(eng_loop *l, double t, eng_handler fn, void *data, int64_t arg);
/* Schedules fn(data, arg) at time t as if a handler running at push_t (now <= push_t <= t) had
 * pushed it: for a handler that computes, in one go, a chain of events that each would have
 * pushed the next, and pushes only the last one. */
db_status eng_loop_push_ahead(eng_loop *l, double t, double push_t, eng_handler fn, void *data,
                              int64_t arg);
/* Removes the earliest event into *ev; false when none is pending. */
bool eng_loop_pop(eng_loop *l, eng_event *ev);
/* Runs events until none is left, a handler fails (its status is returned) or the next event's
 * place is unknown (tie_hazard set, DB_OK returned, the event left pending). */
db_status eng_loop_run(eng_loop *l);

/* ---- the serving run ----------------------------------------------------------------------- */

typedef struct {
    int64_t id;          /* request_id of the trace */
    double arrival_s;    /* non-decreasing along the array */
    int32_t model;       /* 0 .. n_models - 1 */
    int32_t prompt_tokens, output_tokens; /* >= 1 */
} eng_request;

typedef struct {
    const pol_traits *policy;
    int n_models;
    int max_batch;          /* running requests per replica (vLLM max_num_seqs), default 256 */
    int64_t token_budget;   /* tokens per iteration (max_num_batched_tokens), 4096 */
    bool chunked_prefill;   /* true (default): the budget counts decode tokens too and a
                             * prompt that does not fit in what is left is prefilled in chunks
                             * over several iterations; false: whole prompts, the budget counts
                             * prefill tokens only, a prompt longer than it is refused */
    int kv_block;           /* tokens per KV block (vLLM block size), 16 */
    int gpu_slots;          /* swap: full models on GPU; delta policies: deltas; 0 = default */
    bool prefetch;          /* delta policies: read a queued request's delta disk -> host early */
    bool preempt;           /* delta policies: preempt a delta's requests for a starving one */
    double preempt_after_s; /* how long the oldest waiting request waits before preempting, 1 */
    double gpu_util;        /* share of GPU memory for weights + KV (vLLM), 0.90 */
    double host_util;       /* share of host memory for the host cache, 0.80 */
    double mem_interval_s;  /* memory timeline period, 1.0 (0: start and end only) */
    /* Called after every iteration with the requests finished so far, of n, and the engine's
     * clock (NULL: none); the CLI's progress line of real executors. */
    void (*progress)(void *arg, int64_t done, int64_t n, double now_s);
    void *progress_arg;
} eng_config;

/* The defaults above. */
void eng_config_default(eng_config *c);
/* GPU slots of the run: swap's resident full models, a delta policy's deltas (gpu_slots, else
 * the policy's default, at most n_models; 0 means every model). */
int eng_gpu_slots(const eng_config *cfg);

typedef struct {
    met_request_row *requests; /* [n_requests], in trace order */
    int64_t n_requests;
    met_memory_row *memory;
    int64_t n_memory;
    met_load_row *loads; /* [n_models] */
    int n_models;
    met_summary_row summary; /* every field the engine knows; names filled by the caller */
    met_slo_row slo[MET_SLO_COUNT];
    int64_t events;          /* events processed */
} eng_result;

/* Bytes eng_run allocates for its tables with n requests, computed before anything is
 * allocated: the arena exactly as eng_run measures it, plus the request rows and about 64 bytes
 * a model of policy tables (the dedicated policy's per-replica tables grow as n_models^2). */
double eng_run_bytes(const eng_config *cfg, int64_t n);

/* Checks that the run can start at all (model ids, lengths, order, memory fit, slots) with the
 * same messages eng_run gives; nothing is simulated. */
db_status eng_check(const eng_config *cfg, const cost_ctx *cost, const hw_profile *hw,
                    const eng_request *reqs, int64_t n);
/* Runs the trace through the policy and executor; fills *out (free with eng_result_free). */
db_status eng_run(const eng_config *cfg, const cost_ctx *cost, const hw_profile *hw,
                  exe_executor *exe, const eng_request *reqs, int64_t n, eng_result *out);
void eng_result_free(eng_result *r); /* NULL or zeroed: no-op */

/* 64-bit FNV-1a over the bytes of the requests, memory, loads, summary and slo tables (the
 * determinism tests compare it between runs). */
uint64_t eng_result_hash(const eng_result *r);

#endif
