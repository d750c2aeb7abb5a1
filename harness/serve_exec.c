/* serve_exec.c: the `sim` executor (cost model) and the entry point of the `cuda` executor.
 *
 * The real executors plug in as further exe_ops rows: `cpu` lives in serve_exec_cpu.c; `cuda`
 * answers DB_ERR_NO_DEVICE / DB_ERR_UNSUPPORTED until kernels/cuda gets the batched forward. */
#include "harness/serve_exec.h"

#include <stddef.h>

#include "kernels/device.h"

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

static const exe_ops sim_ops = {"sim", false, sim_step, sim_load, sim_free};

db_status exe_sim_init(exe_executor *e, const cost_ctx *cost)
{
    e->ops = &sim_ops;
    e->ctx = (void *)cost; /* read only: the ops never write through it */
    return DB_OK;
}

db_status exe_cuda_init(exe_executor *e, const cost_ctx *cost)
{
    (void)cost;
    e->ops = NULL;
    e->ctx = NULL;
    if (!device_cuda_built())
        return db_error(DB_ERR_NO_DEVICE, "executor cuda: this binary was built without CUDA");
    return db_error(DB_ERR_UNSUPPORTED,
                    "executor cuda: not built yet (needs the batched delta kernels of "
                    "kernels/cuda); use --executor sim");
}

void exe_free(exe_executor *e)
{
    if (e && e->ops && e->ops->free)
        e->ops->free(e->ctx);
    if (e)
        e->ops = NULL, e->ctx = NULL;
}
