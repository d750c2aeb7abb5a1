/* cmd_compress.c: `deltabench compress`: compresses a fine-tuned checkpoint's delta against its
 * base with one method of the traits table, prints a table per tensor (bits/param, ratio,
 * relative Frobenius error) and a last line "ratio: X.XXx (linear layers Y.YYx)", and
 * optionally records the table in an HDF5 result (`compression` table). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compressors/compressor.h"
#include "core/alloc.h"
#include "core/log.h"
#include "harness/cli.h"
#include "core/results.h"
#include "models/calib_model.h"

#define CMD "compress"

static void usage(void)
{
    printf("usage: deltabench compress --base B --target T --method M --out OUT [options]\n\n"
           "Compresses the delta T - B of every linear projection (q,k,v,o,gate,up,down) with\n"
           "method M into a safetensors container OUT; other tensors (embeddings, lm_head, norms)\n"
           "are stored as the fine-tuned values. Prints one row per tensor and, last,\n"
           "'ratio: X.XXx (linear layers Y.YYx)' (fp16 bytes replaced / bytes stored).\n\n"
           "methods:\n");
    for (size_t i = 0; i < dc_nmethods; i++)
        printf("  %-9s %s\n", dc_methods[i]->name, dc_methods[i]->summary);
    printf("\noptions (defaults depend on the method; a flag the method does not use is an error):\n"
           "  --base B        base checkpoint (.safetensors, index.json or directory)\n"
           "  --target T      fine-tuned checkpoint, same tensors, shapes and dtypes\n"
           "  --method M      one of the methods above\n"
           "  --out OUT       the compressed delta (written atomically)\n"
           "  --bits N        code width: rtn 1..8 (default 4), deltazip 2..8 (4; 16 = prune\n"
           "                  only, fp16 values), deltadq 2..8 (4)\n"
           "  --nm n:m        keep n of every m columns: magprune (default unstructured),\n"
           "                  deltazip (default 2:4); 1 <= n <= m <= 64\n"
           "  --group G       rtn: columns per scale group, 0 = per row (default 128);\n"
           "                  deltadq: dropout group size (default 16)\n"
           "  --rank R        lowrank: rank, 1..min(N, K) (default 64)\n"
           "  --drop P        share dropped, 0 <= P < 1: dare (0.9), deltadq (0.75),\n"
           "                  magprune unstructured (0.9)\n"
           "  --sym 0|1       rtn: symmetric (1) or asymmetric (0, default)\n"
           "  --parts P       deltadq: planes the code is split into, 1..4, divides bits (2)\n"
           "  --seed S        dare/deltadq: position seed (default 0)\n"
           "  --calib FILE    deltazip: Hessians (<tensor>.hessian F32 [K,K], metadata tokens),\n"
           "                  measured once on the uncompressed model (`deltabench calib`);\n"
           "                  without calibration H = I (plain RTN + magnitude n:m)\n"
           "  --calib-task T  deltazip, sequential calibration instead: runs the fine-tuned\n"
           "                  model T (a model directory, as is B) on task T's training text\n"
           "                  and measures each layer's Hessian with every layer compressed\n"
           "                  before it applied (GPTQ / SparseGPT / DeltaZip order)\n"
           "  --calib-tokens N  tokens for --calib-task, 2..10000000 (default 8192)\n"
           "  --calib-data DIR  corpus directory for --calib-task (default models/zoo/data)\n"
           "  --lossless L    none, zstd or deflate on every stored array (deltazip: zstd,\n"
           "                  others: none); with a codec, both zstd and DEFLATE are measured\n"
           "  --report F.h5   write the per-tensor table and a summary to an HDF5 result\n"
           "  --quiet         no per-tensor table (summary lines only)\n"
           "  -h, --help      this text\n");
}

/* The provider of --calib FILE (static) or --calib-task (the model's, sequential). */
static void close_calib(dc_calib *c, const char *ctask)
{
    if (ctask)
        calib_model_close(c);
    else
        dc_calib_file_close(c);
}

typedef struct {
    bool quiet, lossless_cols;
    dc_report_row *rows;
    size_t n, cap;
    int64_t zstd_lin, defl_lin, zstd_all, defl_all;
} ctx_t;

static void on_row(void *vp, const dc_report_row *r)
{
    ctx_t *c = vp;
    if (!c->quiet) {
        if (c->lossless_cols)
            printf("%-48s %-5s %10.4f %9.2fx %10.3e %9.2fx %9.2fx\n", r->name, r->role,
                   r->bits_per_param, r->ratio, r->rel_fro_err,
                   r->zstd_bytes ? (double)r->orig_bytes / (double)r->zstd_bytes : 0.0,
                   r->deflate_bytes ? (double)r->orig_bytes / (double)r->deflate_bytes : 0.0);
        else
            printf("%-48s %-5s %10.4f %9.2fx %10.3e\n", r->name, r->role, r->bits_per_param,
                   r->ratio, r->rel_fro_err);
        fflush(stdout);
    }
    c->zstd_all += r->zstd_bytes;
    c->defl_all += r->deflate_bytes;
    if (!strcmp(r->role, "delta"))
        c->zstd_lin += r->zstd_bytes, c->defl_lin += r->deflate_bytes;
    if (c->n == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 256;
        dc_report_row *nr = db_realloc(c->rows, nc * sizeof *nr);
        if (!nr)
            return; /* the report then lacks rows; the write below says so */
        c->rows = nr, c->cap = nc;
    }
    c->rows[c->n++] = *r;
}

/* The HDF5 `compression` table: one row per tensor plus two summary rows. */
typedef struct {
    char tensor[96];
    char role[8];
    char method[16];
    int64_t numel, orig_bytes, raw_bytes, stored_bytes, zstd_bytes, deflate_bytes;
    double bits_per_param, ratio, rel_fro_err, seconds;
} comp_row;

static const res_field comp_fields[] = {
    RES_STR(comp_row, tensor),         RES_STR(comp_row, role),
    RES_STR(comp_row, method),         RES_I64(comp_row, numel),
    RES_I64(comp_row, orig_bytes),     RES_I64(comp_row, raw_bytes),
    RES_I64(comp_row, stored_bytes),   RES_I64(comp_row, zstd_bytes),
    RES_I64(comp_row, deflate_bytes),  RES_F64(comp_row, bits_per_param),
    RES_F64(comp_row, ratio),          RES_F64(comp_row, rel_fro_err),
    RES_F64(comp_row, seconds),
};
static const res_schema comp_schema =
    RES_SCHEMA("compression", "per-tensor compression of a delta (bytes, ratio, error)", comp_row,
               comp_fields);

static db_status write_report(res_file *rf, const dc_method *m, const char *params, const ctx_t *c,
                              const dc_summary *sum)
{
    comp_row *rows = db_calloc(c->n + 2, sizeof *rows);
    if (!rows)
        return db_error(DB_ERR_NOMEM, "report: out of memory");
    int64_t numel_all = 0, numel_lin = 0, raw_lin = 0, raw_all = 0;
    for (size_t i = 0; i < c->n; i++) {
        const dc_report_row *r = &c->rows[i];
        comp_row *o = &rows[i];
        snprintf(o->tensor, sizeof o->tensor, "%s", r->name);
        snprintf(o->role, sizeof o->role, "%s", r->role);
        snprintf(o->method, sizeof o->method, "%s", m->name);
        o->numel = r->numel, o->orig_bytes = r->orig_bytes, o->raw_bytes = r->raw_bytes;
        o->stored_bytes = r->stored_bytes, o->zstd_bytes = r->zstd_bytes;
        o->deflate_bytes = r->deflate_bytes, o->bits_per_param = r->bits_per_param;
        o->ratio = r->ratio, o->rel_fro_err = r->rel_fro_err, o->seconds = r->seconds;
        numel_all += r->numel, raw_all += r->raw_bytes;
        if (!strcmp(r->role, "delta"))
            numel_lin += r->numel, raw_lin += r->raw_bytes;
    }
    comp_row *lin = &rows[c->n], *all = &rows[c->n + 1];
    snprintf(lin->tensor, sizeof lin->tensor, "TOTAL linear layers");
    snprintf(all->tensor, sizeof all->tensor, "TOTAL whole checkpoint");
    snprintf(lin->role, sizeof lin->role, "total");
    snprintf(all->role, sizeof all->role, "total");
    snprintf(lin->method, sizeof lin->method, "%s", m->name);
    snprintf(all->method, sizeof all->method, "%s", m->name);
    lin->numel = numel_lin, lin->orig_bytes = sum->orig_linear, lin->raw_bytes = raw_lin;
    lin->stored_bytes = sum->stored_linear, lin->zstd_bytes = c->zstd_lin;
    lin->deflate_bytes = c->defl_lin, lin->ratio = sum->ratio_linear;
    lin->bits_per_param = numel_lin ? 8.0 * (double)sum->stored_linear / (double)numel_lin : 0;
    all->numel = numel_all, all->orig_bytes = sum->orig_all, all->raw_bytes = raw_all;
    all->stored_bytes = sum->stored_all;
    all->zstd_bytes = c->zstd_all ? c->zstd_all + sum->header_bytes : 0;
    all->deflate_bytes = c->defl_all ? c->defl_all + sum->header_bytes : 0;
    all->ratio = sum->ratio_all;
    all->bits_per_param = numel_all ? 8.0 * (double)sum->stored_all / (double)numel_all : 0;
    db_status s = res_attr_str(rf, "method", m->name);
    if (!s)
        s = res_attr_str(rf, "params", params);
    if (!s)
        s = res_attr_f64(rf, "ratio_all", sum->ratio_all);
    if (!s)
        s = res_attr_f64(rf, "ratio_linear", sum->ratio_linear);
    if (!s)
        s = res_table_write(rf, &comp_schema, c->n + 2, rows);
    db_free(rows);
    return s;
}

int cmd_compress(int argc, char **argv)
{
    enum { O_BASE = 1000, O_TARGET, O_METHOD, O_OUT, O_BITS, O_NM, O_GROUP, O_RANK, O_DROP, O_SYM,
           O_PARTS, O_SEED, O_CALIB, O_LOSSLESS, O_REPORT, O_QUIET, O_CTASK, O_CTOKENS,
           O_CDATA };
    static const struct option opts[] = {
        {"base", required_argument, 0, O_BASE},     {"target", required_argument, 0, O_TARGET},
        {"method", required_argument, 0, O_METHOD}, {"out", required_argument, 0, O_OUT},
        {"bits", required_argument, 0, O_BITS},     {"nm", required_argument, 0, O_NM},
        {"group", required_argument, 0, O_GROUP},   {"rank", required_argument, 0, O_RANK},
        {"drop", required_argument, 0, O_DROP},     {"sym", required_argument, 0, O_SYM},
        {"parts", required_argument, 0, O_PARTS},   {"seed", required_argument, 0, O_SEED},
        {"calib", required_argument, 0, O_CALIB},   {"lossless", required_argument, 0, O_LOSSLESS},
        {"report", required_argument, 0, O_REPORT}, {"quiet", no_argument, 0, O_QUIET},
        {"calib-task", required_argument, 0, O_CTASK},
        {"calib-tokens", required_argument, 0, O_CTOKENS},
        {"calib-data", required_argument, 0, O_CDATA},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0}};
    const char *base = NULL, *target = NULL, *method = NULL, *out = NULL, *calib = NULL,
               *report = NULL, *ctask = NULL, *cdata = NULL, *ctokens = NULL;
    const char *val[O_QUIET + 1 - O_BITS] = {0}; /* raw values, applied once the method is known */
    bool quiet = false;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage();
            return DB_EXIT_OK;
        case O_BASE: base = optarg; break;
        case O_TARGET: target = optarg; break;
        case O_METHOD: method = optarg; break;
        case O_OUT: out = optarg; break;
        case O_CALIB: calib = optarg; break;
        case O_CTASK: ctask = optarg; break;
        case O_CTOKENS: ctokens = optarg; break;
        case O_CDATA: cdata = optarg; break;
        case O_REPORT: report = optarg; break;
        case O_QUIET: quiet = true; break;
        default:
            if (c >= O_BITS && c <= O_LOSSLESS) {
                val[c - O_BITS] = optarg;
                break;
            }
            return cli_usage(CMD, "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!base || !target || !method || !out)
        return cli_usage(CMD, "--base, --target, --method and --out are required");
    const dc_method *m = dc_method_find(method);
    if (!m) {
        char names[256] = "";
        for (size_t i = 0; i < dc_nmethods; i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                     dc_methods[i]->name);
        return cli_usage(CMD, "unknown method '%s' (one of: %s)", method, names);
    }
    dc_params p;
    dc_params_default(m, &p);
    static const struct {
        int opt;
        unsigned use;
        const char *flag;
    } uses[] = {{O_BITS, DC_P_BITS, "--bits"},   {O_NM, DC_P_NM, "--nm"},
                {O_GROUP, DC_P_GROUP, "--group"}, {O_RANK, DC_P_RANK, "--rank"},
                {O_DROP, DC_P_DROP, "--drop"},   {O_SYM, DC_P_SYM, "--sym"},
                {O_PARTS, DC_P_PARTS, "--parts"}, {O_SEED, DC_P_SEED, "--seed"}};
    for (size_t i = 0; i < sizeof uses / sizeof uses[0]; i++)
        if (val[uses[i].opt - O_BITS] && !(m->uses & uses[i].use))
            return cli_usage(CMD, "%s does not apply to method %s", uses[i].flag, m->name);
    if ((calib || ctask) && !(m->uses & DC_P_CALIB))
        return cli_usage(CMD, "%s does not apply to method %s", calib ? "--calib" : "--calib-task",
                         m->name);
    if (calib && ctask)
        return cli_usage(CMD, "--calib and --calib-task exclude each other");
    if ((ctokens || cdata) && !ctask)
        return cli_usage(CMD, "%s needs --calib-task", ctokens ? "--calib-tokens" : "--calib-data");
    int64_t calib_tokens = 8192;
    if (ctokens && !cli_i64(CMD, "--calib-tokens", ctokens, 2, 10000000, &calib_tokens))
        return DB_EXIT_USAGE;
    int64_t v;
    double d;
    const char *s_;
    if ((s_ = val[O_BITS - O_BITS])) {
        if (!cli_i64(CMD, "--bits", s_, -1000, 1000, &v))
            return DB_EXIT_USAGE;
        p.bits = (int)v;
    }
    if ((s_ = val[O_NM - O_BITS])) {
        int n1, m1;
        char extra;
        if (sscanf(s_, "%d:%d%c", &n1, &m1, &extra) != 2)
            return cli_usage(CMD, "--nm: '%s' is not n:m", s_);
        p.nm_n = n1, p.nm_m = m1;
    }
    if ((s_ = val[O_GROUP - O_BITS])) {
        if (!cli_i64(CMD, "--group", s_, -1, INT32_MAX, &v))
            return DB_EXIT_USAGE;
        p.group = v;
    }
    if ((s_ = val[O_RANK - O_BITS])) {
        if (!cli_i64(CMD, "--rank", s_, -1, INT32_MAX, &v))
            return DB_EXIT_USAGE;
        p.rank = v;
    }
    if ((s_ = val[O_DROP - O_BITS])) {
        if (!cli_f64(CMD, "--drop", s_, -1e9, 1e9, &d))
            return DB_EXIT_USAGE;
        p.drop = d;
        if (m == dc_method_find("magprune") && !val[O_NM - O_BITS])
            p.nm_n = p.nm_m = 0;
    }
    if ((s_ = val[O_SYM - O_BITS])) {
        if (!cli_i64(CMD, "--sym", s_, 0, 1, &v))
            return DB_EXIT_USAGE;
        p.sym = (int)v;
    }
    if ((s_ = val[O_PARTS - O_BITS])) {
        if (!cli_i64(CMD, "--parts", s_, -1000, 1000, &v))
            return DB_EXIT_USAGE;
        p.parts = (int)v;
    }
    if ((s_ = val[O_SEED - O_BITS])) {
        if (!cli_i64(CMD, "--seed", s_, 0, INT64_MAX, &v))
            return DB_EXIT_USAGE;
        p.seed = (uint64_t)v;
    }
    if ((s_ = val[O_LOSSLESS - O_BITS]) && dc_lossless_parse(s_, &p.lossless) != DB_OK)
        return cli_usage(CMD, "--lossless: '%s' is not none, zstd or deflate", s_);
    if (dc_params_check(m, &p, 0, 0) != DB_OK)
        return cli_usage(CMD, "%s", db_errmsg());

    dc_calib *cal = NULL;
    char calib_desc[600] = "identity";
    db_status s;
    if (calib) {
        s = dc_calib_file_open(calib, &cal);
        if (s)
            return cli_fail(CMD, s);
        snprintf(calib_desc, sizeof calib_desc, "file:%s tokens=%lld", calib,
                 (long long)dc_calib_file_tokens(cal));
    } else if (ctask) {
        s = calib_model_open(base, target, ctask, cdata ? cdata : "models/zoo/data",
                             calib_tokens, 0, &cal);
        if (s)
            return cli_fail(CMD, s);
        snprintf(calib_desc, sizeof calib_desc, "sequential:task=%s tokens=%lld", ctask,
                 (long long)calib_tokens);
    }
    res_file *rf = NULL;
    if (report) {
        res_run_info info = {argc, argv, p.seed, cli_gpu_name()};
        s = res_create(report, &info, &rf);
        if (s) {
            close_calib(cal, ctask);
            return cli_fail(CMD, s);
        }
    }
    ctx_t ctx = {.quiet = quiet};
    ctx.lossless_cols = p.lossless != DC_LOSSLESS_NONE;
    dc_compress_opts o = {.base_path = base,
                          .target_path = target,
                          .out_path = out,
                          .method = m,
                          .params = p,
                          .calib = cal,
                          .calib_desc = calib_desc,
                          .progress = true,
                          .measure_lossless = ctx.lossless_cols,
                          .on_row = on_row,
                          .ctx = &ctx};
    char params[256];
    dc_params_format(m, &p, params, sizeof params);
    if (!quiet) {
        printf("method %s (%s)\n", m->name, params);
        if (ctx.lossless_cols)
            printf("%-48s %-5s %10s %10s %10s %10s %10s\n", "tensor", "role", "bits/param",
                   "ratio", "rel.err", "zstd", "deflate");
        else
            printf("%-48s %-5s %10s %10s %10s\n", "tensor", "role", "bits/param", "ratio",
                   "rel.err");
    }
    dc_summary sum;
    s = dc_compress_model(&o, &sum);
    if (!s && rf) {
        s = ctx.n == 0 && sum.orig_all ? db_error(DB_ERR_NOMEM, "report: out of memory") : DB_OK;
        if (!s)
            s = write_report(rf, m, params, &ctx, &sum);
        if (!s) {
            s = res_commit(rf);
            rf = NULL;
        }
        if (s)
            remove(out);
    }
    res_abort(rf);
    close_calib(cal, ctask);
    db_free(ctx.rows);
    if (s) {
        if (s == DB_ERR_ARG) { /* a parameter impossible for one of the tensors' shapes */
            fprintf(stderr, "deltabench %s: %s\n", CMD, db_errmsg());
            return DB_EXIT_USAGE;
        }
        return cli_fail(CMD, s);
    }
    printf("linear layers: %" PRId64 " -> %" PRId64 " bytes (%.2fx)\n", sum.orig_linear,
           sum.stored_linear, sum.ratio_linear);
    printf("whole checkpoint: %" PRId64 " -> %" PRId64 " bytes (%.2fx), header %" PRId64 " bytes\n",
           sum.orig_all, sum.stored_all, sum.ratio_all, sum.header_bytes);
    if (ctx.lossless_cols && ctx.zstd_all)
        printf("lossless measured: zstd %.2fx (linear %.2fx), deflate %.2fx (linear %.2fx); "
               "stored: %s\n",
               (double)sum.orig_all / (double)(ctx.zstd_all + sum.header_bytes),
               ctx.zstd_lin ? (double)sum.orig_linear / (double)ctx.zstd_lin : 0.0,
               (double)sum.orig_all / (double)(ctx.defl_all + sum.header_bytes),
               ctx.defl_lin ? (double)sum.orig_linear / (double)ctx.defl_lin : 0.0,
               dc_lossless_name(p.lossless));
    if (m->uses & DC_P_CALIB)
        printf("calibration: %s; Hessian for %" PRId64 " tensors, H = I for %" PRId64 "\n",
               calib_desc, sum.n_hessian, sum.n_identity);
    printf("ratio: %.2fx (linear layers %.2fx)\n", sum.ratio_all, sum.ratio_linear);
    return DB_EXIT_OK;
}
