/* cmd_compress.c: `deltabench compress`: compresses a fine-tuned checkpoint's delta against its
 * base with one method of the traits table, prints a table per tensor (bits/param, ratio,
 * relative Frobenius error) and a last line "ratio: X.XXx (linear layers Y.YYx)", and
 * optionally records the table in an HDF5 result (`compression` table). */
#include <inttypes.h>
#include <stddef.h>
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

/* The method parameters: one row per option, applied to dc_params once the method is known
 * (a flag the method does not use is an error). */
typedef enum { PK_INT, PK_I64, PK_U64, PK_F64, PK_NM } param_kind;
enum { PR_BITS, PR_NM, PR_GROUP, PR_RANK, PR_DROP, PR_SYM, PR_PARTS, PR_SEED, NPARAMS };

static const struct param_row {
    const char *flag; /* long name without "--" */
    unsigned use;     /* DC_P_* bit the method must have */
    param_kind kind;
    int64_t lo, hi;   /* range of the value (dc_params_check then checks the method's own) */
    size_t off;       /* the field of dc_params */
    const char *arg, *help, *def;
} param_rows[] = {
    [PR_BITS] = {"bits", DC_P_BITS, PK_INT, -1000, 1000, offsetof(dc_params, bits), "N",
     "code width: rtn 1..8, deltazip 2..8 (16 = prune only, fp16\n"
     "values), deltadq 1..8 (all stages)", "4"},
    [PR_NM] = {"nm", DC_P_NM, PK_NM, 0, 0, offsetof(dc_params, nm_n), "n:m",
     "keep n of every m columns (magprune, deltazip);\n"
     "1 <= n <= m <= 64", "magprune: unstructured, deltazip: 2:4"},
    [PR_GROUP] = {"group", DC_P_GROUP, PK_I64, -1, INT32_MAX, offsetof(dc_params, group), "G",
     "rtn: columns per scale group, 0 = per row;\n"
     "deltadq: dropout group size, 0 = searched per matrix",
     "rtn: 128, deltadq: 0"},
    [PR_RANK] = {"rank", DC_P_RANK, PK_I64, -1, INT32_MAX, offsetof(dc_params, rank), "R",
     "lowrank: rank, 1..min(N, K)", "64"},
    [PR_DROP] = {"drop", DC_P_DROP, PK_F64, -1000000000, 1000000000, offsetof(dc_params, drop), "P",
     "share dropped, 0 <= P < 1: dare, deltadq, magprune\n"
     "(unstructured)", "dare: 0.9, deltadq: 0.75, magprune: 0.9"},
    [PR_SYM] = {"sym", DC_P_SYM, PK_INT, 0, 1, offsetof(dc_params, sym), "0|1",
     "rtn: symmetric (1) or asymmetric (0)", "0"},
    [PR_PARTS] = {"parts", DC_P_PARTS, PK_INT, -1000, 1000, offsetof(dc_params, parts), "P",
     "deltadq: residual stages the bits are split into,\n"
     "1..4, at most bits", "2"},
    [PR_SEED] = {"seed", DC_P_SEED, PK_U64, 0, INT64_MAX, offsetof(dc_params, seed), "S",
     "dare/deltadq: position seed", "0"},
};
_Static_assert(sizeof param_rows / sizeof param_rows[0] == NPARAMS, "one row per PR_*");

/* Parses one given parameter value into its dc_params field; false after a usage error. */
static bool param_apply(const struct param_row *r, const char *val, dc_params *p)
{
    if (r->kind == PK_NM) {
        int n1, m1;
        char extra;
        if (sscanf(val, "%d:%d%c", &n1, &m1, &extra) != 2) {
            cli_usage(CMD, "--nm: '%s' is not n:m", val);
            return false;
        }
        p->nm_n = n1, p->nm_m = m1;
        return true;
    }
    static const cli_kind kinds[] = {[PK_INT] = CLI_INT, [PK_I64] = CLI_I64, [PK_U64] = CLI_U64,
                                     [PK_F64] = CLI_F64};
    const cli_opt o = {.name = r->flag, .kind = kinds[r->kind], .dst = (char *)p + r->off,
                       .ilo = r->lo, .ihi = r->hi, .flo = (double)r->lo, .fhi = (double)r->hi};
    return cli_apply(CMD, &o, val);
}

static void usage(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench compress --base B --target T --method M --out OUT [options]\n\n"
           "Compresses the delta T - B of every linear projection (q,k,v,o,gate,up,down) with\n"
           "method M into a safetensors container OUT; other tensors (embeddings, lm_head, norms)\n"
           "are stored as the fine-tuned values. Prints one row per tensor and, last,\n"
           "'ratio: X.XXx (linear layers Y.YYx)' (fp16 bytes replaced / bytes stored).\n"
           "A method parameter the method does not use is an error.\n\n"
           "methods:\n");
    for (size_t i = 0; i < dc_nmethods; i++)
        printf("  %-9s %s\n", dc_methods[i]->name, dc_methods[i]->summary);
    printf("\n");
    cli_help(stdout, opts, n);
}

/* The provider of --hessians FILE (static) or --calib-task (the model's, sequential). */
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

/* The closing lines: bytes and ratios, lossless measurements, calibration, "ratio:". */
static void print_summary(const dc_method *m, const dc_params *p, const dc_summary *sum,
                          const ctx_t *c, const char *calib_desc)
{
    printf("linear layers: %" PRId64 " -> %" PRId64 " bytes (%.2fx)\n", sum->orig_linear,
           sum->stored_linear, sum->ratio_linear);
    printf("whole checkpoint: %" PRId64 " -> %" PRId64 " bytes (%.2fx), header %" PRId64 " bytes\n",
           sum->orig_all, sum->stored_all, sum->ratio_all, sum->header_bytes);
    if (c->lossless_cols && c->zstd_all)
        printf("lossless measured: zstd %.2fx (linear %.2fx), deflate %.2fx (linear %.2fx); "
               "stored: %s\n",
               (double)sum->orig_all / (double)(c->zstd_all + sum->header_bytes),
               c->zstd_lin ? (double)sum->orig_linear / (double)c->zstd_lin : 0.0,
               (double)sum->orig_all / (double)(c->defl_all + sum->header_bytes),
               c->defl_lin ? (double)sum->orig_linear / (double)c->defl_lin : 0.0,
               dc_lossless_name(p->lossless));
    if (m->uses & DC_P_CALIB)
        printf("calibration: %s; Hessian for %" PRId64 " tensors, H = I for %" PRId64 "\n",
               calib_desc, sum->n_hessian, sum->n_identity);
    printf("ratio: %.2fx (linear layers %.2fx)\n", sum->ratio_all, sum->ratio_linear);
}

static int unknown_method(const char *method)
{
    char names[256] = "";
    for (size_t i = 0; i < dc_nmethods; i++)
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "",
                 dc_methods[i]->name);
    return cli_usage(CMD, "unknown method '%s' (one of: %s)", method, names);
}

int cmd_compress(int argc, char **argv)
{
    const char *base = NULL, *target = NULL, *method = NULL, *out = NULL, *calib = NULL,
               *report = NULL, *ctask = NULL, *cdata = NULL, *lossless = NULL,
               *old_calib = NULL;
    const char *val[NPARAMS] = {0}; /* raw values, applied once the method is known */
    int64_t calib_tokens = -1; /* -1: not given (8192) */
    bool quiet = false;
    cli_opt opts[NPARAMS + 16] = {
        CLI_STR_OPT("base", &base, "B", "base checkpoint (.safetensors, index.json or directory)",
                    "required"),
        CLI_STR_OPT("target", &target, "T",
                    "fine-tuned checkpoint, same tensors, shapes and dtypes", "required"),
        CLI_STR_OPT("method", &method, "M", "one of the methods above", "required"),
        CLI_STR_OPT("out", &out, "OUT", "the compressed delta (written atomically)", "required"),
    };
    size_t n = 4;
    for (size_t i = 0; i < NPARAMS; i++)
        opts[n++] = (cli_opt)CLI_STR_OPT(param_rows[i].flag, &val[i], param_rows[i].arg,
                                         param_rows[i].help, param_rows[i].def);
    const cli_opt rest[] = {
        CLI_STR_OPT("hessians", &calib, "FILE",
                    "deltazip: Hessians (<tensor>.hessian F32 [K,K], metadata tokens),\n"
                    "measured once on the uncompressed model (`deltabench calib`);\n"
                    "without calibration H = I (plain RTN + magnitude n:m)", "none"),
        CLI_STR_OPT("calib-task", &ctask, "T",
                    "deltazip, sequential calibration instead: runs the fine-tuned\n"
                    "model T (a model directory, as is B) on task T's training text\n"
                    "and measures each layer's Hessian with every layer compressed\n"
                    "before it applied (GPTQ / SparseGPT / DeltaZip order)", "none"),
        /* the old name of --hessians, refused with a pointer (simulate's --calib is another
         * thing: an efficiency overlay) */
        {.name = "calib", .kind = CLI_STR, .dst = &old_calib, .arg = "FILE"},
        CLI_INT_OPT("calib-tokens", &calib_tokens, 2, 10000000, "N",
                    "tokens for --calib-task, 2..10000000", "8192"),
        CLI_STR_OPT("calib-data", &cdata, "DIR", "corpus directory for --calib-task",
                    "models/zoo/data"),
        CLI_STR_OPT("lossless", &lossless, "L",
                    "none, zstd or deflate on every stored array; with a codec,\n"
                    "both zstd and DEFLATE are measured", "deltazip: zstd, others: none"),
        CLI_STR_OPT("report", &report, "F.h5",
                    "write the per-tensor table and a summary to an HDF5 result", "none"),
        CLI_FLAG_OPT("quiet", 'q', &quiet, "no per-tensor table (summary lines only)"),
    };
    for (size_t i = 0; i < CLI_NOPTS(rest); i++)
        opts[n++] = rest[i];
    int rc = cli_parse(CMD, argc, argv, opts, n, NULL);
    if (rc == CLI_HELP)
        return usage(opts, n), DB_EXIT_OK;
    if (rc)
        return rc;
    if (old_calib)
        return cli_usage(CMD, "--calib is now --hessians FILE (`simulate --calib` is an "
                              "efficiency overlay)");
    bool ctokens = calib_tokens != -1;
    if (!ctokens)
        calib_tokens = 8192;
    if (!base || !target || !method || !out)
        return cli_usage(CMD, "--base, --target, --method and --out are required");
    const dc_method *m = dc_method_find(method);
    if (!m)
        return unknown_method(method);
    dc_params p;
    dc_params_default(m, &p);
    for (size_t i = 0; i < NPARAMS; i++)
        if (val[i] && !(m->uses & param_rows[i].use))
            return cli_usage(CMD, "--%s does not apply to method %s", param_rows[i].flag, m->name);
    if ((calib || ctask) && !(m->uses & DC_P_CALIB))
        return cli_usage(CMD, "%s does not apply to method %s", calib ? "--hessians" : "--calib-task",
                         m->name);
    if (calib && ctask)
        return cli_usage(CMD, "--hessians and --calib-task exclude each other");
    if ((ctokens || cdata) && !ctask)
        return cli_usage(CMD, "%s needs --calib-task", ctokens ? "--calib-tokens" : "--calib-data");
    for (size_t i = 0; i < NPARAMS; i++)
        if (val[i] && !param_apply(&param_rows[i], val[i], &p))
            return DB_EXIT_USAGE;
    /* --drop without --nm makes magprune unstructured */
    if (val[PR_DROP] && !val[PR_NM] && m == dc_method_find("magprune"))
        p.nm_n = p.nm_m = 0;
    if (lossless && dc_lossless_parse(lossless, &p.lossless) != DB_OK)
        return cli_usage(CMD, "--lossless: '%s' is not none, zstd or deflate", lossless);
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
        static char dbuf[4200]; /* the provider may keep the path */
        s = calib_model_open(base, target, ctask,
                             cdata ? cdata : cli_root_path("models/zoo/data", dbuf, sizeof dbuf),
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
    print_summary(m, &p, &sum, &ctx, calib_desc);
    return DB_EXIT_OK;
}
