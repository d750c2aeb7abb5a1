/* serve/exec.c: the `sim` executor (cost model).
 *
 * The real executors plug in as further exe_ops rows: `cpu` (the zoo's forward) lives in
 * serve/exec_cpu.c, `cuda` and `cpu-kernels` (the kernels at the model's shapes) in
 * serve/exec_kn.c. */
#include "serve/exec.h"

#include <stddef.h>


static db_status sim_step(void *ctx, const cost_batch *b, const exe_detail *d, double *seconds)
{
    (void)d;
    *seconds = cost_step(ctx, b);
    return DB_OK;
}

static db_status sim_load(void *ctx, int32_t model, exe_stage stage, double bytes, double *seconds)
{
    (void)model;
    *seconds = stage == EXE_LOAD_DISK ? cost_load_disk(ctx, bytes) : cost_load_pcie(ctx, bytes);
    return DB_OK;
}

static void sim_free(void *ctx) { (void)ctx; }

static const exe_ops sim_ops = {"sim", false, sim_step, sim_load, sim_free, true};

db_status exe_sim_init(exe_executor *e, const cost_ctx *cost)
{
    e->ops = &sim_ops;
    e->ctx = (void *)cost; /* read only: the ops never write through it */
    return DB_OK;
}

void exe_free(exe_executor *e)
{
    if (e && e->ops && e->ops->free)
        e->ops->free(e->ctx);
    if (e)
        e->ops = NULL, e->ctx = NULL;
}
