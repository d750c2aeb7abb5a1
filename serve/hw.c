/* serve/hw.c: hardware profiles (compiled-in datasheet text, files, the measured cpu profile).
 *
 * The compiled-in profiles are kept as text in the file format so that one parser serves them,
 * user files and calibration overlays, and every number keeps its source comment next to it.
 * Efficiency factors without a measurement are stated assumptions (docs/serving.md) until a
 * calibration overlay replaces them: `bench-kernel --calib-out` (measured kernel shares) or
 * `serve --executor cpu --calib-out` (a fit of whole measured iterations). */
#include "serve/hw.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cblas.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "serve/gpucal.h"

/* Assumed efficiencies shared by the GPU profiles until calibrated: vLLM-class fp16 GEMMs reach
 * ~70 % of tensor peak and ~80 % of HBM bandwidth; paged attention in decode ~60 % of HBM;
 * batched low-bit delta kernels are less efficient than cuBLAS (SBMM, BitBLAS-class). On a
 * profile with a measured GEMM surface the eff.delta.* keys count only as ratios to eff.gemm.*
 * over the surface's efficiency at the delta's arithmetic intensity: the delta terms are
 * modelled (HW_DELTA_MODELLED) until a bench-kernel overlay measures them. */
#define GPU_EFF                                                                                   \
    "eff.gemm.mem = 0.80            # assumed: cuBLAS GEMV/GEMM share of HBM bandwidth\n"        \
    "eff.gemm.compute = 0.70        # assumed: cuBLAS fp16 GEMM share of tensor peak\n"          \
    "eff.attn.mem = 0.60            # assumed: paged attention (decode) share of HBM bandwidth\n" \
    "eff.attn.compute = 0.50        # assumed: flash attention (prefill) share of tensor peak\n"  \
    "eff.delta.fp16.mem = 0.80      # assumed: like a dense GEMM\n"                               \
    "eff.delta.fp16.compute = 0.70  # assumed: like a dense GEMM\n"                               \
    "eff.delta.sbmm.mem = 0.50      # assumed: DeltaZip SBMM (n:m + low-bit, batched)\n"          \
    "eff.delta.sbmm.compute = 0.30  # assumed: dequantise + sparse gather costs ALU\n"            \
    "eff.delta.rtn.mem = 0.60       # assumed: batched low-bit GEMM\n"                            \
    "eff.delta.rtn.compute = 0.40   # assumed: batched low-bit GEMM\n"                            \
    "eff.delta.bitdelta.mem = 0.60  # assumed: BitDelta batched 1-bit kernel (Triton)\n"          \
    "eff.delta.bitdelta.compute = 0.40 # assumed: unpack to fp16, then tensor cores\n"            \
    "eff.delta.deltadq.mem = 0.40   # assumed: regenerated positions + split codes\n"             \
    "eff.delta.deltadq.compute = 0.25 # assumed: as above\n"

/* Datasheet text of each GPU (the profile file format, without its name line). */
static const struct {
    const char *name;
    const char *text;
} datasheet[] = {
    {"a100-80gb",
     "hbm_gb = 85.9         # NVIDIA A100 80GB SXM datasheet: 80 GiB HBM2e\n"
     "hbm_gbps = 2039       # datasheet: 2,039 GB/s\n"
     "peak_tflops = 312     # datasheet: FP16 tensor core 312 TFLOPS dense (624 with sparsity)\n"
     "pcie_gbps = 25        # PCIe 4.0 x16: 31.5 GB/s raw, ~25 GB/s pinned cudaMemcpy\n"
     "disk_gbps = 2.0       # assumed node NVMe read; DeltaZip artifact logs imply ~0.8 GB/s "
     "for whole safetensors models\n"
     "host_gb = 1024        # DGX A100: 1 TB system memory (2 TB option)\n"
     "link_gbps = 300       # NVLink 3: 600 GB/s bidirectional per GPU\n"
     "link_lat_us = 10      # assumed NCCL all-reduce latency for small messages\n"
     "step_overhead_us = 2000  # assumed vLLM scheduling + launch cost per iteration (Python)\n"
     "load_overhead_ms = 5  # assumed per-load setup (allocation, stream sync)\n"
     "max_gpus = 8          # DGX A100: 8 GPUs\n" GPU_EFF},
    {"h100-sxm",
     "hbm_gb = 85.9         # NVIDIA H100 SXM5 datasheet: 80 GiB HBM3\n"
     "hbm_gbps = 3350       # datasheet: 3.35 TB/s\n"
     "peak_tflops = 989     # datasheet: FP16 tensor core 989 TFLOPS dense (1,979 sparse)\n"
     "pcie_gbps = 50        # PCIe 5.0 x16: 63 GB/s raw, ~50 GB/s pinned cudaMemcpy\n"
     "disk_gbps = 3.0       # assumed node NVMe read\n"
     "host_gb = 2048        # DGX H100: 2 TB system memory\n"
     "link_gbps = 450       # NVLink 4: 900 GB/s bidirectional per GPU\n"
     "link_lat_us = 8       # assumed NCCL all-reduce latency\n"
     "step_overhead_us = 2000  # assumed vLLM scheduling + launch cost per iteration\n"
     "load_overhead_ms = 5  # assumed per-load setup\n"
     "max_gpus = 8          # DGX H100: 8 GPUs\n" GPU_EFF},
    {"h200",
     "hbm_gb = 141          # NVIDIA H200 SXM datasheet: 141 GB HBM3e\n"
     "hbm_gbps = 4800       # datasheet: 4.8 TB/s\n"
     "peak_tflops = 989     # datasheet: FP16 tensor core 989 TFLOPS dense (same die as H100)\n"
     "pcie_gbps = 50        # PCIe 5.0 x16, ~50 GB/s pinned cudaMemcpy\n"
     "disk_gbps = 3.0       # assumed node NVMe read\n"
     "host_gb = 2048        # HGX H200 nodes: 2 TB typical\n"
     "link_gbps = 450       # NVLink 4: 900 GB/s bidirectional per GPU\n"
     "link_lat_us = 8       # assumed NCCL all-reduce latency\n"
     "step_overhead_us = 2000  # assumed vLLM scheduling + launch cost per iteration\n"
     "load_overhead_ms = 5  # assumed per-load setup\n"
     "max_gpus = 8          # HGX H200: 8 GPUs\n" GPU_EFF},
    {"rtx3090",
     "hbm_gb = 25.8         # GeForce RTX 3090: 24 GiB GDDR6X\n"
     "hbm_gbps = 936        # datasheet: 936 GB/s\n"
     "peak_tflops = 71      # GA102 whitepaper: 71 TFLOPS fp16 tensor with fp32 accumulate\n"
     "pcie_gbps = 24        # PCIe 4.0 x16, ~24 GB/s pinned cudaMemcpy\n"
     "disk_gbps = 3.0       # assumed workstation NVMe read\n"
     "host_gb = 128         # assumed workstation memory\n"
     "link_gbps = 24        # no NVSwitch: peer traffic over PCIe\n"
     "link_lat_us = 20      # assumed all-reduce latency over PCIe\n"
     "step_overhead_us = 2000  # assumed vLLM scheduling + launch cost per iteration\n"
     "load_overhead_ms = 5  # assumed per-load setup\n"
     "max_gpus = 4          # assumed 4-GPU workstation\n" GPU_EFF},
};
static const size_t ndatasheet = sizeof datasheet / sizeof datasheet[0];

/* The compiled-in profiles: a datasheet, then (optionally) the GPU calibration of a measured
 * SKU (serve/gpucal_data.c, written by `deltabench calibrate --emit-c`): its GEMM surface and,
 * where the node has the same interconnect, its all-reduce model. */
static const struct {
    const char *name, *sheet, *calib_sku;
    bool allreduce;
    const char *note; /* how the calibration applies (recorded in p->calib) */
} builtin[] = {
    {"a100-80gb", "a100-80gb", "a100-80gb", true, "measured on A100"},
    {"h100-sxm", "h100-sxm", "h100-sxm", true, "measured on H100"},
    {"h200", "h200", "h100-sxm", true,
     "extrapolated: H100's measured efficiencies and all-reduces at H200's datasheet bandwidth"},
    {"rtx3090", "rtx3090", "a100-80gb", false,
     "extrapolated: A100's measured efficiencies (same Ampere generation) at the 3090's datasheet "
     "bandwidth and peak; all-reduce stays the PCIe assumption"},
    {"a100-80gb-datasheet", "a100-80gb", NULL, false, NULL},
    {"h100-sxm-datasheet", "h100-sxm", NULL, false, NULL},
    {"h200-datasheet", "h200", NULL, false, NULL},
    {"rtx3090-datasheet", "rtx3090", NULL, false, NULL},
};
static const size_t nbuiltin = sizeof builtin / sizeof builtin[0];

const char *const hw_profile_names[] = {"a100-80gb",           "h100-sxm",           "h200",
                                        "rtx3090",             "a100-80gb-datasheet", "h100-sxm-datasheet",
                                        "h200-datasheet",      "rtx3090-datasheet",  "cpu",
                                        NULL};

const char *const hw_op_names[HW_NOPS] = {"qkv", "o", "gate_up", "down"};

static const char *sheet_text(const char *sheet)
{
    for (size_t i = 0; i < ndatasheet; i++)
        if (!strcmp(datasheet[i].name, sheet))
            return datasheet[i].text;
    return NULL;
}

const char *hw_profile_text(const char *name)
{
    for (size_t i = 0; i < nbuiltin; i++)
        if (!strcmp(builtin[i].name, name))
            return sheet_text(builtin[i].sheet);
    return NULL;
}

double hw_eff(const hw_profile *p, const char *key, double dflt)
{
    for (int i = 0; i < p->neff; i++)
        if (!strcmp(p->eff[i].key, key))
            return p->eff[i].value;
    return dflt;
}

db_status hw_eff_set(hw_profile *p, const char *key, double value)
{
    if (strlen(key) >= sizeof p->eff[0].key)
        return db_error(DB_ERR_ARG, "efficiency key '%s' is too long", key);
    for (int i = 0; i < p->neff; i++)
        if (!strcmp(p->eff[i].key, key)) {
            p->eff[i].value = value;
            return DB_OK;
        }
    if (p->neff >= HW_MAX_EFF)
        return db_error(DB_ERR_ARG, "too many efficiency keys (at most %d)", HW_MAX_EFF);
    snprintf(p->eff[p->neff].key, sizeof p->eff[0].key, "%s", key);
    p->eff[p->neff++].value = value;
    return DB_OK;
}

/* Scale factors from the file's human units to the struct's SI units. */
static const struct {
    const char *key;
    size_t off;
    double scale;
} numeric_keys[] = {
    {"hbm_gb", offsetof(hw_profile, hbm_bytes), 1e9},
    {"hbm_gbps", offsetof(hw_profile, hbm_bw), 1e9},
    {"peak_tflops", offsetof(hw_profile, peak_flops), 1e12},
    {"pcie_gbps", offsetof(hw_profile, pcie_bw), 1e9},
    {"disk_gbps", offsetof(hw_profile, disk_bw), 1e9},
    {"host_gb", offsetof(hw_profile, host_bytes), 1e9},
    {"link_gbps", offsetof(hw_profile, link_bw), 1e9},
    {"link_lat_us", offsetof(hw_profile, link_lat_s), 1e-6},
    {"step_overhead_us", offsetof(hw_profile, step_overhead_s), 1e-6},
    {"step_token_us", offsetof(hw_profile, step_token_s), 1e-6},
    {"step_model_us", offsetof(hw_profile, step_model_s), 1e-6},
    {"load_overhead_ms", offsetof(hw_profile, load_overhead_s), 1e-3},
};

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

static void calib_append(hw_profile *p, const char *what)
{
    size_t n = strlen(p->calib);
    snprintf(p->calib + n, sizeof p->calib - n, "%s%s", n ? "; " : "", what);
}

/* "tp<P>" suffix of a calibration key: P in [1, 1024], or 0. */
static int key_tp(const char *s)
{
    if (strncmp(s, "tp", 2) || !isdigit((unsigned char)s[2]))
        return 0;
    char *end;
    long v = strtol(s + 2, &end, 10);
    return *end || v < 1 || v > 1024 ? 0 : (int)v;
}

/* A measured load latency's value: up to HW_MAX_LAT non-decreasing microseconds into *l
 * (unchanged on an error). */
static db_status parse_lat(hw_lat *l, const char *key, char *val, const char *origin, int lineno)
{
    hw_lat v = {0};
    char *s = val, *end;
    while (*s) {
        errno = 0;
        double x = strtod(s, &end);
        if (end == s || errno || !(x >= 0 && x < 1e9) || v.n == HW_MAX_LAT ||
            (v.n && x * 1e-6 < v.s[v.n - 1]))
            return db_error(DB_ERR_FORMAT, "%s:%d: %s: at most %d non-decreasing latencies "
                            "(microseconds) expected", origin, lineno, key, HW_MAX_LAT);
        v.s[v.n++] = x * 1e-6;
        s = end;
        while (isspace((unsigned char)*s))
            s++;
    }
    *l = v;
    return DB_OK;
}

/* The calibration keys (calibration, gemm.tokens, gemm.eff.*, allreduce.*); 1 when `key` was
 * one of them (and *st says whether its value was good), 0 when it is another key. */
static int parse_calib_key(hw_profile *p, const char *key, char *val, const char *origin,
                           int lineno, db_status *st)
{
    hw_surface *sf = &p->surf;
    *st = DB_OK;
    if (!strcmp(key, "calibration")) {
        calib_append(p, val);
        return 1;
    }
    if (!strcmp(key, "gemm.tokens")) {
        int n = 0;
        char *s = val, *end;
        while (*s) {
            errno = 0;
            double v = strtod(s, &end);
            if (end == s || errno || !(v >= 1 && v <= 1e6) || v != floor(v) ||
                (n && v <= sf->tokens[n - 1]) || n == HW_MAX_KNOTS) {
                *st = db_error(DB_ERR_FORMAT, "%s:%d: gemm.tokens: at most %d increasing integers "
                               "in [1, 1e6] expected", origin, lineno, HW_MAX_KNOTS);
                return 1;
            }
            sf->tokens[n++] = (float)v;
            s = end;
            while (isspace((unsigned char)*s))
                s++;
        }
        if (n < 2) {
            *st = db_error(DB_ERR_FORMAT, "%s:%d: gemm.tokens: at least 2 knots", origin, lineno);
            return 1;
        }
        sf->nknots = n;
        sf->nrows = 0; /* rows of another knot grid cannot stay */
        return 1;
    }
    if (!strcmp(key, "disk_lat_us") || !strcmp(key, "load_lat_us")) {
        *st = parse_lat(key[0] == 'd' ? &p->disk_lat : &p->load_lat, key, val, origin, lineno);
        return 1;
    }
    if (!strcmp(key, "gemm.kernel")) {
        char *end;
        errno = 0;
        double a = strtod(val, &end), b = strtod(end, &end);
        while (isspace((unsigned char)*end))
            end++;
        if (errno || *end || !(a >= 0.01 && a <= 100) || !(b >= 0.01 && b <= 100)) {
            *st = db_error(DB_ERR_FORMAT, "%s:%d: gemm.kernel: expected two bandwidths in "
                           "[0.01, 100] (ln N, ln K)", origin, lineno);
            return 1;
        }
        sf->kern_n = a, sf->kern_k = b;
        return 1;
    }
    if (!strncmp(key, "gemm.eff.", 9)) {
        const char *opn = key + 9, *dot = strchr(opn, '.');
        int op = -1, tp = dot ? key_tp(dot + 1) : 0;
        for (int i = 0; dot && i < HW_NOPS; i++)
            if ((size_t)(dot - opn) == strlen(hw_op_names[i]) &&
                !strncmp(opn, hw_op_names[i], (size_t)(dot - opn)))
                op = i;
        if (op < 0 || !tp) {
            *st = db_error(DB_ERR_FORMAT, "%s:%d: %s: expected gemm.eff.<qkv|o|gate_up|down>.tp<P>",
                           origin, lineno, key);
            return 1;
        }
        if (!sf->nknots) {
            *st = db_error(DB_ERR_FORMAT, "%s:%d: %s before gemm.tokens", origin, lineno, key);
            return 1;
        }
        char *end;
        double n = strtod(val, &end), k = 0;
        if (end != val && *end == 'x')
            k = strtod(end + 1, &end);
        if (!(n >= 1 && n < 1e9 && k >= 1 && k < 1e9) || *end != ':') {
            *st = db_error(DB_ERR_FORMAT, "%s:%d: %s: expected 'NxK: e1 e2 ...'", origin, lineno,
                           key);
            return 1;
        }
        int r;
        for (r = 0; r < sf->nrows; r++)
            if (sf->row[r].op == op && sf->row[r].tp == tp && sf->row[r].n == n &&
                sf->row[r].k == k)
                break;
        if (r == HW_MAX_ROWS) {
            *st = db_error(DB_ERR_FORMAT, "%s:%d: more than %d gemm.eff rows", origin, lineno,
                           HW_MAX_ROWS);
            return 1;
        }
        char *s = end + 1;
        int m = 0;
        float eff[HW_MAX_KNOTS];
        for (;;) {
            while (isspace((unsigned char)*s))
                s++;
            if (!*s)
                break;
            errno = 0;
            double v = strtod(s, &end);
            if (end == s || errno || !(v > 0 && v <= 1) || m == sf->nknots) {
                *st = db_error(DB_ERR_FORMAT, "%s:%d: %s: value %d is not an efficiency in (0, 1] "
                               "or there are more than the %d knots", origin, lineno, key, m + 1,
                               sf->nknots);
                return 1;
            }
            eff[m++] = (float)v;
            s = end;
        }
        if (m != sf->nknots) {
            *st = db_error(DB_ERR_FORMAT, "%s:%d: %s: %d efficiencies for %d knots", origin, lineno,
                           key, m, sf->nknots);
            return 1;
        }
        sf->row[r].op = op, sf->row[r].tp = tp, sf->row[r].n = n, sf->row[r].k = k;
        memcpy(sf->row[r].eff, eff, (size_t)m * sizeof *eff);
        if (r == sf->nrows)
            sf->nrows++;
        return 1;
    }
    if (!strncmp(key, "allreduce.", 10)) {
        int tp = key_tp(key + 10);
        char *end;
        double lat = strtod(val, &end), bw = strtod(end, &end);
        if (tp < 2 || *end || !(lat >= 0 && lat < 1e6) || !(bw > 0 && bw < 1e6)) {
            *st = db_error(DB_ERR_FORMAT, "%s:%d: %s: expected allreduce.tp<P> (P >= 2) = "
                           "LATENCY_US BUSBW_GBPS", origin, lineno, key);
            return 1;
        }
        int r;
        for (r = 0; r < sf->nar; r++)
            if (sf->ar[r].tp == tp)
                break;
        if (r == HW_MAX_AR) {
            *st = db_error(DB_ERR_FORMAT, "%s:%d: more than %d all-reduce entries", origin, lineno,
                           HW_MAX_AR);
            return 1;
        }
        sf->ar[r].tp = tp, sf->ar[r].lat_s = lat * 1e-6, sf->ar[r].busbw = bw * 1e9;
        if (r == sf->nar)
            sf->nar++;
        return 1;
    }
    return 0;
}

db_status hw_profile_parse(hw_profile *p, const char *text, const char *origin)
{
    char line[16384];
    int lineno = 0;
    const char *s = text;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        lineno++;
        if (n >= sizeof line)
            return db_error(DB_ERR_FORMAT, "%s:%d: line too long", origin, lineno);
        memcpy(line, s, n);
        line[n] = 0;
        s += n + (nl ? 1 : 0);
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *l = trim(line);
        if (!*l)
            continue;
        char *eq = strchr(l, '=');
        if (!eq)
            return db_error(DB_ERR_FORMAT, "%s:%d: expected 'key = value'", origin, lineno);
        *eq = 0;
        char *key = trim(l), *val = trim(eq + 1);
        if (!*key || !*val)
            return db_error(DB_ERR_FORMAT, "%s:%d: expected 'key = value'", origin, lineno);
        if (!strcmp(key, "name")) {
            if (strlen(val) >= sizeof p->name)
                return db_error(DB_ERR_FORMAT, "%s:%d: name too long", origin, lineno);
            snprintf(p->name, sizeof p->name, "%s", val);
            continue;
        }
        db_status cst;
        if (parse_calib_key(p, key, val, origin, lineno, &cst)) {
            if (cst != DB_OK)
                return cst;
            continue;
        }
        char *end;
        errno = 0;
        double v = strtod(val, &end);
        if (errno || end == val || *end || !isfinite(v))
            return db_error(DB_ERR_FORMAT, "%s:%d: %s: '%s' is not a number", origin, lineno, key,
                            val);
        if (!strcmp(key, "max_gpus")) {
            if (v < 1 || v > 1024 || v != floor(v))
                return db_error(DB_ERR_FORMAT, "%s:%d: max_gpus must be an integer in [1, 1024]",
                                origin, lineno);
            p->max_gpus = (int)v;
            continue;
        }
        if (!strncmp(key, "eff.", 4)) {
            if (!(v > 0 && v <= 1))
                return db_error(DB_ERR_FORMAT, "%s:%d: %s = %g: efficiencies lie in (0, 1]",
                                origin, lineno, key, v);
            db_status st = hw_eff_set(p, key + 4, v);
            if (st != DB_OK)
                return db_error(st, "%s:%d: %s", origin, lineno, db_errmsg());
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof numeric_keys / sizeof numeric_keys[0]; k++)
            if (!strcmp(key, numeric_keys[k].key))
                break;
        if (k == sizeof numeric_keys / sizeof numeric_keys[0])
            return db_error(DB_ERR_FORMAT, "%s:%d: unknown key '%s'", origin, lineno, key);
        if (v < 0)
            return db_error(DB_ERR_FORMAT, "%s:%d: %s must not be negative", origin, lineno, key);
        *(double *)((char *)p + numeric_keys[k].off) = v * numeric_keys[k].scale;
    }
    return DB_OK;
}

db_status hw_profile_load(hw_profile *p, const char *path)
{
    char *text;
    size_t len;
    db_status s = fs_read_all(path, &text, &len);
    if (s != DB_OK)
        return s;
    if (strlen(text) != len) {
        db_free(text);
        return db_error(DB_ERR_FORMAT, "%s: not a text file", path);
    }
    s = hw_profile_parse(p, text, path);
    db_free(text);
    return s;
}

db_status hw_profile_overlay(hw_profile *p, const char *path)
{
    hw_eff_entry before[HW_MAX_EFF];
    const int nbefore = p->neff;
    memcpy(before, p->eff, sizeof before);
    db_status s = hw_profile_load(p, path);
    if (s == DB_OK)
        s = hw_profile_check(p);
    if (s != DB_OK)
        return s;
    /* "overlay PATH (eff.k1, eff.k2 ...)": the efficiency keys the file set */
    char what[1024];
    int n = snprintf(what, sizeof what, "overlay %s", path);
    bool delta = false, any = false;
    for (int i = 0; i < p->neff && n < (int)sizeof what; i++) {
        int j = 0;
        while (j < nbefore && strcmp(before[j].key, p->eff[i].key))
            j++;
        if (j < nbefore && before[j].value == p->eff[i].value)
            continue;
        delta |= !strncmp(p->eff[i].key, "delta.", 6);
        n += snprintf(what + n, sizeof what - (size_t)n, "%s eff.%s", any ? "," : " sets",
                      p->eff[i].key);
        any = true;
    }
    if (delta && p->surf.nknots && n < (int)sizeof what)
        snprintf(what + n, sizeof what - (size_t)n,
                 ": delta kernels of those keys measured (their ratio to eff.gemm.* replaces the "
                 "assumed one)");
    calib_append(p, what);
    return DB_OK;
}

/* The profiled TP degree of the all-reduce entries nearest tp (log2; ties: the smaller). */
static int nearest_ar_tp(const hw_profile *p, int tp)
{
    int best = 0;
    double bd = 1e30;
    for (int i = 0; i < p->surf.nar; i++) {
        int t = p->surf.ar[i].tp;
        double d = fabs(log2((double)t / tp));
        if (d < bd - 1e-12 || (fabs(d - bd) <= 1e-12 && t < best))
            bd = d, best = t;
    }
    return best;
}

bool hw_surface_weights(const hw_profile *p, double n, double k, double w[HW_MAX_ROWS])
{
    const hw_surface *sf = &p->surf;
    if (!sf->nrows)
        return false;
    const double sn = sf->kern_n > 0 ? sf->kern_n : HW_KERNEL_DEFAULT;
    const double sk = sf->kern_k > 0 ? sf->kern_k : HW_KERNEL_DEFAULT;
    double lo = 1e300;
    for (int i = 0; i < sf->nrows; i++) {
        double a = log(n / sf->row[i].n) / sn, b = log(k / sf->row[i].k) / sk;
        w[i] = a * a + b * b;
        if (w[i] < lo)
            lo = w[i];
    }
    for (int i = 0; i < sf->nrows; i++)
        w[i] = exp(-0.5 * (w[i] - lo));
    return true;
}

double hw_surface_eff_w(const hw_profile *p, const double w[HW_MAX_ROWS], int knot)
{
    const hw_surface *sf = &p->surf;
    double sw = 0, se = 0;
    for (int i = 0; i < sf->nrows; i++)
        sw += w[i], se += w[i] * sf->row[i].eff[knot];
    return sw > 0 ? se / sw : 0;
}

double hw_surface_eff(const hw_profile *p, double n, double k, int knot)
{
    double w[HW_MAX_ROWS];
    if (knot < 0 || knot >= p->surf.nknots || !hw_surface_weights(p, n, k, w))
        return 0;
    return hw_surface_eff_w(p, w, knot);
}

int hw_surface_ar(const hw_profile *p, int tp)
{
    int t = nearest_ar_tp(p, tp);
    for (int i = 0; t && i < p->surf.nar; i++)
        if (p->surf.ar[i].tp == t)
            return i;
    return -1;
}

bool hw_surface_print(FILE *fp, const hw_profile *p)
{
    const hw_surface *sf = &p->surf;
    if (p->calib[0])
        fprintf(fp, "calibration = %s\n", p->calib);
    if (sf->nknots) {
        fputs("gemm.tokens =", fp);
        for (int i = 0; i < sf->nknots; i++)
            fprintf(fp, " %.0f", sf->tokens[i]);
        fputc('\n', fp);
    }
    if (sf->kern_n > 0 && sf->kern_k > 0)
        fprintf(fp, "gemm.kernel = %.4g %.4g\n", sf->kern_n, sf->kern_k);
    for (int r = 0; r < sf->nrows; r++) {
        fprintf(fp, "gemm.eff.%s.tp%d = %.0fx%.0f:", hw_op_names[sf->row[r].op], sf->row[r].tp,
                sf->row[r].n, sf->row[r].k);
        for (int i = 0; i < sf->nknots; i++)
            fprintf(fp, " %.4g", sf->row[r].eff[i]);
        fputc('\n', fp);
    }
    for (int i = 0; i < sf->nar; i++)
        fprintf(fp, "allreduce.tp%d = %.4g %.4g\n", sf->ar[i].tp, sf->ar[i].lat_s * 1e6,
                sf->ar[i].busbw / 1e9);
    return !ferror(fp);
}

db_status hw_profile_builtin(hw_profile *p, const char *name)
{
    size_t i;
    for (i = 0; i < nbuiltin; i++)
        if (!strcmp(builtin[i].name, name))
            break;
    if (i == nbuiltin)
        return db_error(DB_ERR_NOT_FOUND, "unknown hardware profile '%s'", name);
    memset(p, 0, sizeof *p);
    char origin[96];
    snprintf(origin, sizeof origin, "profile %s", name);
    db_status s = hw_profile_parse(p, sheet_text(builtin[i].sheet), origin);
    if (s != DB_OK)
        return s;
    snprintf(p->name, sizeof p->name, "%s", name);
    if (!builtin[i].calib_sku)
        return DB_OK;
    const gcal_builtin_text *c = gcal_builtin_find(builtin[i].calib_sku);
    if (!c)
        return db_error(DB_ERR_INTERNAL, "profile %s: no compiled-in calibration of %s", name,
                        builtin[i].calib_sku);
    snprintf(origin, sizeof origin, "serve/gpucal_data.c %s", c->sku);
    if ((s = hw_profile_parse(p, c->gemm, origin)) != DB_OK ||
        (builtin[i].allreduce && (s = hw_profile_parse(p, c->allreduce, origin)) != DB_OK))
        return s;
    calib_append(p, builtin[i].note);
    calib_append(p, HW_DELTA_MODELLED);
    return DB_OK;
}

db_status hw_profile_check(const hw_profile *p)
{
    const char *nm = p->name[0] ? p->name : "(unnamed)";
    struct {
        const char *what;
        double v;
        int may_be_zero;
    } f[] = {
        {"hbm_gb", p->hbm_bytes, 0},         {"hbm_gbps", p->hbm_bw, 0},
        {"peak_tflops", p->peak_flops, 0},   {"pcie_gbps", p->pcie_bw, 0},
        {"disk_gbps", p->disk_bw, 0},        {"host_gb", p->host_bytes, 1},
        {"link_gbps", p->link_bw, 0},        {"link_lat_us", p->link_lat_s, 1},
        {"step_overhead_us", p->step_overhead_s, 1}, {"load_overhead_ms", p->load_overhead_s, 1},
        {"step_token_us", p->step_token_s, 1},       {"step_model_us", p->step_model_s, 1},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        if (!isfinite(f[i].v) || f[i].v < 0 || (!f[i].may_be_zero && f[i].v == 0))
            return db_error(DB_ERR_ARG, "hardware profile %s: %s missing or not positive", nm,
                            f[i].what);
    if (p->max_gpus < 1)
        return db_error(DB_ERR_ARG, "hardware profile %s: max_gpus missing", nm);
    for (int i = 0; i < p->neff; i++)
        if (!(p->eff[i].value > 0 && p->eff[i].value <= 1))
            return db_error(DB_ERR_ARG, "hardware profile %s: eff.%s outside (0, 1]", nm,
                            p->eff[i].key);
    return DB_OK;
}

db_status hw_profile_write(const hw_profile *p, const char *path, const char *header_comment)
{
    fs_out o;
    db_status s = fs_out_open(&o, path);
    if (s != DB_OK)
        return s;
    if (header_comment)
        fprintf(o.fp, "# %s\n", header_comment);
    fprintf(o.fp, "name = %s\n", p->name);
    for (size_t k = 0; k < sizeof numeric_keys / sizeof numeric_keys[0]; k++)
        fprintf(o.fp, "%s = %.6g\n", numeric_keys[k].key,
                *(const double *)((const char *)p + numeric_keys[k].off) / numeric_keys[k].scale);
    fprintf(o.fp, "max_gpus = %d\n", p->max_gpus);
    for (int w = 0; w < 2; w++) {
        const hw_lat *l = w ? &p->load_lat : &p->disk_lat;
        if (!l->n)
            continue;
        fprintf(o.fp, "%s =", w ? "load_lat_us" : "disk_lat_us");
        for (int i = 0; i < l->n; i++)
            fprintf(o.fp, " %.6g", l->s[i] * 1e6);
        fputc('\n', o.fp);
    }
    for (int i = 0; i < p->neff; i++)
        fprintf(o.fp, "eff.%s = %.6g\n", p->eff[i].key, p->eff[i].value);
    hw_surface_print(o.fp, p);
    return fs_out_commit(&o);
}

/* ---- the cpu probe ------------------------------------------------------------------------- */

static double probe_copy_bw(void)
{
    /* STREAM "copy": 2 x 64 MiB, well past the 32 MiB L3; bytes moved = read + write. */
    size_t n = (size_t)8 << 20; /* doubles */
    double *a = db_malloc_aligned(64, n * sizeof *a), *b = db_malloc_aligned(64, n * sizeof *b);
    if (!a || !b) {
        db_free(a);
        db_free(b);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        a[i] = (double)i, b[i] = 0;
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = db_now();
        for (size_t i = 0; i < n; i++)
            b[i] = a[i];
        double t = db_now() - t0;
        if (t < best)
            best = t;
        a[rep] += b[n - 1 - (size_t)rep]; /* keep the copies observable */
    }
    db_free(a);
    db_free(b);
    return 2.0 * (double)n * sizeof(double) / best;
}

static double probe_memcpy_bw(void)
{
    size_t n = (size_t)64 << 20;
    char *a = db_malloc(n), *b = db_malloc(n);
    if (!a || !b) {
        db_free(a);
        db_free(b);
        return 0;
    }
    memset(a, 1, n);
    memset(b, 2, n);
    double best = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        double t0 = db_now();
        memcpy(b, a, n);
        double t = db_now() - t0;
        if (t < best)
            best = t;
        a[rep] = b[n - 1 - (size_t)rep];
    }
    db_free(a);
    db_free(b);
    return (double)n / best; /* bytes delivered per second, as a host->device copy counts them */
}

static double probe_sgemm(void)
{
    const int n = 1024;
    float *a = db_malloc_aligned(64, (size_t)n * n * 4), *b = db_malloc_aligned(64, (size_t)n * n * 4),
          *c = db_malloc_aligned(64, (size_t)n * n * 4);
    if (!a || !b || !c) {
        db_free(a);
        db_free(b);
        db_free(c);
        return 0;
    }
    for (size_t i = 0; i < (size_t)n * n; i++)
        a[i] = (float)(i % 7) * 0.25f, b[i] = (float)(i % 5) * 0.5f, c[i] = 0;
    double best = 1e30;
    for (int rep = 0; rep < 4; rep++) {
        double t0 = db_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = db_now() - t0;
        if (t < best)
            best = t;
    }
    db_free(a);
    db_free(b);
    db_free(c);
    return 2.0 * n * (double)n * n / best;
}

static double probe_disk_bw(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/deltabench-hwprobe.%ld", dir, (long)getpid());
    size_t chunk = (size_t)4 << 20, total = (size_t)256 << 20;
    char *buf = db_malloc(chunk);
    if (!buf)
        return 0;
    memset(buf, 0x5a, chunk);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    double bw = 0;
    if (fd < 0)
        goto out;
    for (size_t done = 0; done < total; done += chunk)
        if (write(fd, buf, chunk) != (ssize_t)chunk) {
            close(fd);
            goto out;
        }
    fsync(fd);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); /* best effort: drop it from the page cache */
    close(fd);
    fd = open(path, O_RDONLY);
    if (fd < 0)
        goto out;
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    double t0 = db_now();
    size_t got = 0;
    ssize_t r;
    while ((r = read(fd, buf, chunk)) > 0)
        got += (size_t)r;
    double t = db_now() - t0;
    close(fd);
    if (got == total && t > 0)
        bw = (double)total / t;
out:
    unlink(path);
    db_free(buf);
    return bw;
}

db_status hw_probe_cpu(hw_profile *p, const char *scratch_dir)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "cpu");
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    p->hbm_bytes = (double)pages * (double)psz; /* the "device" is host memory */
    p->host_bytes = p->hbm_bytes;
    p->hbm_bw = probe_copy_bw();
    p->pcie_bw = probe_memcpy_bw();
    p->peak_flops = probe_sgemm();
    p->disk_bw = probe_disk_bw(scratch_dir ? scratch_dir : "/tmp");
    if (p->hbm_bw <= 0 || p->pcie_bw <= 0 || p->peak_flops <= 0)
        return db_error(DB_ERR_NOMEM, "cpu probe: could not allocate its buffers");
    if (p->disk_bw <= 0)
        return db_error(DB_ERR_IO, "cpu probe: could not write or read a scratch file in %s",
                        scratch_dir ? scratch_dir : "/tmp");
    p->link_bw = p->hbm_bw; /* one "device": tensor parallelism is not used on the cpu */
    p->link_lat_s = 0;
    p->step_overhead_s = 20e-6; /* C loop, no Python: assumed until calibrated */
    p->load_overhead_s = 1e-3;
    p->max_gpus = 1;
    /* The probe already measures achievable rates, so the roofline runs at 1.0 until an
     * overlay (bench-kernel --calib-out, serve --calib-out) calibrates the kernels. */
    static const char *keys[] = {"gemm.mem", "gemm.compute", "attn.mem", "attn.compute"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        hw_eff_set(p, keys[i], 1.0);
    return DB_OK;
}

db_status hw_profile_resolve(hw_profile *p, const char *name_or_path, const char *cache_path)
{
    if (hw_profile_text(name_or_path))
        return hw_profile_builtin(p, name_or_path);
    if (!strcmp(name_or_path, "cpu")) {
        struct stat sb;
        if (cache_path && stat(cache_path, &sb) == 0) {
            memset(p, 0, sizeof *p);
            db_status s = hw_profile_load(p, cache_path);
            if (s == DB_OK)
                s = hw_profile_check(p);
            return s;
        }
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", cache_path ? cache_path : "/tmp/x");
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, ".");
        struct stat ds;
        if (stat(dir, &ds) != 0 || !S_ISDIR(ds.st_mode))
            snprintf(dir, sizeof dir, "/tmp"); /* the cache cannot be written: probe anyway */
        db_status s = hw_probe_cpu(p, dir);
        if (s != DB_OK)
            return s;
        if (cache_path) {
            s = hw_profile_write(p, cache_path,
                                 "cpu profile measured by hw_probe_cpu (serve/hw.c): copy "
                                 "bandwidth 1 thread, OpenBLAS SGEMM 1024^3, memcpy, file read");
            if (s != DB_OK)
                log_warn("could not cache the cpu profile in %s: %s", cache_path, db_errmsg());
        }
        return DB_OK;
    }
    struct stat sb;
    if (stat(name_or_path, &sb) != 0)
        return db_error(DB_ERR_NOT_FOUND,
                        "unknown hardware profile '%s' (a100-80gb, h100-sxm, h200, rtx3090, their "
                        "-datasheet variants, cpu, or a profile file)",
                        name_or_path);
    memset(p, 0, sizeof *p);
    db_status s = hw_profile_load(p, name_or_path);
    if (s == DB_OK)
        s = hw_profile_check(p);
    return s;
}
