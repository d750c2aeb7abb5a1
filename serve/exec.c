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
    *seconds = cost_step(((const exe_sim_state *)ctx)->cost, b);
    return DB_OK;
}

static db_status sim_load(void *ctx, int32_t model, exe_stage stage, double bytes, double *seconds)
{
    (void)model;
    exe_sim_state *st = ctx;
    const bool disk = stage == EXE_LOAD_DISK;
    const double u = cost_draw(st->draws[disk ? 0 : 1]++);
    *seconds = disk ? cost_load_disk_at(st->cost, bytes, u) : cost_load_pcie_at(st->cost, bytes, u);
    return DB_OK;
}

static void sim_free(void *ctx) { (void)ctx; }

static const exe_ops sim_ops = {"sim", false, sim_step, sim_load, sim_free, true};

db_status exe_sim_init(exe_executor *e, const cost_ctx *cost)
{
    e->ops = &sim_ops;
    e->sim = (exe_sim_state){cost, {0, 0}};
    e->ctx = &e->sim; /* the cost model is only read */
    return DB_OK;
}

void exe_free(exe_executor *e)
{
    if (e && e->ops && e->ops->free)
        e->ops->free(e->ctx);
    if (e)
        e->ops = NULL, e->ctx = NULL;
}
