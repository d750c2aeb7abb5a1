/* serve_exec.h: executors (`exe_` module): what an engine iteration and a load cost.
 *
 * The engine never computes a time itself: it hands each iteration (and each load) to an
 * executor through a table of function pointers and advances its clock by the seconds the
 * executor returns. `sim` predicts them with the cost model; `cpu` and `cuda` (when built) run
 * the real work and return measured seconds, so one engine and one set of policies serve all
 * three and their predictions can be compared on the same trace. */
#ifndef DB_SERVE_EXEC_H
#define DB_SERVE_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "harness/serve_cost.h"

typedef enum { EXE_LOAD_DISK, EXE_LOAD_PCIE } exe_stage;

/* Per-request detail of an iteration, filled only for executors with wants_requests (the real
 * ones must know which rows of which model to run). */
typedef struct {
    int64_t n;              /* requests in the iteration */
    const int32_t *req;     /* [n] request indices (into the engine's request array) */
    const int32_t *model;   /* [n] model of each */
    const int32_t *new_tok; /* [n] tokens to run: prefill length, or 1 for a decode */
    const int32_t *ctx;     /* [n] KV tokens before this iteration */
} exe_detail;

typedef struct {
    const char *name;
    bool wants_requests; /* the engine fills exe_detail for step() */
    /* Seconds iteration b takes (predicted or measured). */
    db_status (*step)(void *ctx, const cost_batch *b, const exe_detail *d, double *seconds);
    /* Seconds one load stage of `bytes` of model `model` takes. */
    db_status (*load)(void *ctx, int32_t model, exe_stage stage, double bytes, double *seconds);
    void (*free)(void *ctx);
} exe_ops;

typedef struct {
    const exe_ops *ops;
    void *ctx;
} exe_executor;

/* The `sim` executor over a resolved cost model (borrowed: must outlive the executor). */
db_status exe_sim_init(exe_executor *e, const cost_ctx *cost);
/* The `cpu` executor (the model zoo run for real); DB_ERR_UNSUPPORTED until models/ and the
 * CPU kernels it needs are built. */
db_status exe_cpu_init(exe_executor *e, const cost_ctx *cost, const char *zoo_dir);
/* The `cuda` executor (real kernels at Llama shapes); DB_ERR_UNSUPPORTED / DB_ERR_NO_DEVICE. */
db_status exe_cuda_init(exe_executor *e, const cost_ctx *cost);
/* Frees an executor's context (NULL ops is a no-op). */
void exe_free(exe_executor *e);

#endif
