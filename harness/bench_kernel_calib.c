/* bench_kernel_calib.c: `bench-kernel --calib-out`: the calibration overlay of the serving cost
 * model from measured kernel rows.
 *
 * The cost model prices every kernel as a roofline over the profile's bandwidth and FLOP/s,
 * divided by an efficiency eff.<kernel>.<mem|compute> (serve/hw.h). A bench-kernel row measures
 * exactly that share: achieved bytes/s over the profile's memory bandwidth (small batches, which
 * are bound by memory), or achieved FLOP/s over its peak (large batches). This file maps the
 * measured ops to the cost model's kernel keys and writes the medians as an overlay that
 * `simulate --calib FILE` (and `serve`) read over the profile. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "harness/bench_kernel.h"

/* Which cost-model kernel each op is. Baselines (loops, dequantise-then-dense) and ops whose
 * format the cost model does not serve (csr, lowrank) calibrate nothing. */
static const struct {
    const char *op, *key;
} op_keys[] = {
    {"dense", "gemm"},
    {"bitdelta", "delta.bitdelta"},
    {"sbmm", "delta.sbmm"},
    {"sbmm2", "delta.sbmm"},
};

const char *kb_calib_key(const char *op)
{
    for (size_t i = 0; i < sizeof op_keys / sizeof op_keys[0]; i++)
        if (!strcmp(op_keys[i].op, op))
            return op_keys[i].key;
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of the shares of rows of `key` on one side; 0 rows: returns 0. */
static size_t side_median(const kb_row *rows, size_t n, const char *key, bool mem,
                          const hw_profile *hw, double *tmp, double *median)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const char *k = kb_calib_key(rows[i].op);
        if (!k || strcmp(k, key))
            continue;
        if (mem && rows[i].batch <= KB_CALIB_MEM_MAX_BATCH)
            tmp[m++] = rows[i].gbs * 1e9 / hw->hbm_bw;
        else if (!mem && rows[i].batch >= KB_CALIB_COMPUTE_MIN_BATCH)
            tmp[m++] = rows[i].gflops * 1e9 / hw->peak_flops;
    }
    if (m == 0)
        return 0;
    qsort(tmp, m, sizeof *tmp, cmp_double);
    *median = m % 2 ? tmp[m / 2] : 0.5 * (tmp[m / 2 - 1] + tmp[m / 2]);
    return m;
}

db_status kb_calib_write(const char *path, const kb_row *rows, size_t n, const hw_profile *hw,
                         const char *device, double copy_gbs, const char *command)
{
    if (!(hw->hbm_bw > 0) || !(hw->peak_flops > 0))
        return db_error(DB_ERR_ARG, "%s: profile %s has no bandwidth or peak to divide by", path,
                        hw->name);
    double *tmp = db_malloc_array(n ? n : 1, sizeof *tmp);
    if (!tmp)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    fs_out o;
    db_status s = fs_out_open(&o, path);
    if (s != DB_OK) {
        db_free(tmp);
        return s;
    }
    fprintf(o.fp,
            "# calibration overlay written by: %s\n"
            "# device %s; profile %s (hbm_gbps %.6g, peak_tflops %.6g); copy bandwidth measured "
            "in the run %.6g GB/s\n"
            "# eff.<kernel>.mem = median over rows of batch <= %d of achieved GB/s / hbm_gbps;\n"
            "# eff.<kernel>.compute = median over rows of batch >= %d of achieved GFLOP/s / peak\n",
            command, device, hw->name, hw->hbm_bw / 1e9, hw->peak_flops / 1e12, copy_gbs,
            KB_CALIB_MEM_MAX_BATCH, KB_CALIB_COMPUTE_MIN_BATCH);
    int written = 0;
    for (size_t i = 0; i < sizeof op_keys / sizeof op_keys[0]; i++) {
        bool first = true; /* sbmm and sbmm2 share a key: write it once */
        for (size_t j = 0; j < i; j++)
            first &= strcmp(op_keys[j].key, op_keys[i].key) != 0;
        for (int side = 0; first && side < 2; side++) {
            double med = 0;
            size_t m = side_median(rows, n, op_keys[i].key, side == 0, hw, tmp, &med);
            if (m == 0)
                continue;
            if (med > 1)
                med = 1; /* the profile's rate is the roofline: a share above it is noise */
            fprintf(o.fp, "eff.%s.%s = %.6g   # measured: median of %zu row(s)\n",
                    op_keys[i].key, side == 0 ? "mem" : "compute", med > 0 ? med : 1e-6, m);
            written++;
        }
    }
    db_free(tmp);
    if (written == 0) {
        fs_out_abort(&o);
        return db_error(DB_ERR_ARG, "%s: no measured op calibrates the cost model (dense, "
                                    "bitdelta, sbmm or sbmm2 at batch <= %d or >= %d)",
                        path, KB_CALIB_MEM_MAX_BATCH, KB_CALIB_COMPUTE_MIN_BATCH);
    }
    return fs_out_commit(&o);
}
