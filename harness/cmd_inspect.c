/* cmd_inspect.c: `deltabench inspect FILE`: what a safetensors checkpoint (a file, a directory,
 * or a sharded index) or an HDF5 result file holds. A compressed delta starts with its summary
 * (method, parameters, hashes, ratio); a text file (a trace, a CSV table) is named as such with
 * the commands that read it. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "compressors/compressor.h"
#include "core/safetensors.h"
#include "harness/cli.h"
#include "core/results.h"
#include "workloads/trace.h"

static void usage(void)
{
    printf("usage: deltabench inspect [--help] FILE\n\n"
           "Describes FILE:\n"
           "  safetensors (a .safetensors file, a model.safetensors.index.json, or a directory\n"
           "  holding either): metadata, then every tensor with dtype, shape and bytes;\n"
           "  a compressed delta starts with its summary: method, parameters, base and target\n"
           "  hashes, compression ratio;\n"
           "  HDF5 result: root attributes, then every table with its row count and columns;\n"
           "  a text file (a request trace, a CSV table): what it looks like and which command\n"
           "  reads it.\n\n");
    cli_help(stdout, NULL, 0);
}

static void human_bytes(char *buf, size_t n, double b)
{
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4) {
        b /= 1024;
        u++;
    }
    snprintf(buf, n, u ? "%.2f %s" : "%.0f %s", b, unit[u]);
}

/* The summary of a compressed delta, first: what a reader wants before the tensor list. */
static void delta_summary(const char *path, const char *params)
{
    dc_delta *d;
    if (dc_delta_open(path, NULL, &d) != DB_OK) {
        db_error_clear();
        return;
    }
    int64_t orig = 0, stored = 0, n_delta = 0;
    for (size_t i = 0; i < dc_delta_count(d); i++) {
        const dc_tensor *t = dc_delta_get(d, i);
        stored += (int64_t)t->stored_bytes;
        if (t->role == DC_ROLE_DELTA) {
            orig += 2 * t->packed.N * t->packed.K;
            n_delta++;
        } else {
            orig += 2 * (int64_t)(t->nbytes / (dtype_size(t->dtype) ? dtype_size(t->dtype) : 1));
        }
    }
    printf("compressed delta: %s\n", path);
    printf("  method      %s\n", dc_delta_method(d)->name);
    printf("  params      %s\n", params ? params : "-");
    printf("  base_hash   %016" PRIx64 "\n", dc_delta_base_hash(d));
    printf("  target_hash %016" PRIx64 "\n", dc_delta_target_hash(d));
    printf("  tensors     %zu (%lld compressed projections, the rest stored whole)\n",
           dc_delta_count(d), (long long)n_delta);
    printf("  ratio       %.2fx (fp16 model %lld bytes / stored %lld bytes)\n",
           stored ? (double)orig / (double)stored : 0.0, (long long)orig, (long long)stored);
    dc_delta_close(d);
}

static int inspect_safetensors(const char *path)
{
    st_model *m;
    db_status s = st_model_open(path, &m);
    if (s != DB_OK)
        return cli_fail("inspect", s);
    if (st_model_shards(m) == 1 && st_meta_get(st_model_shard(m, 0), "method") &&
        st_meta_get(st_model_shard(m, 0), "base_hash"))
        delta_summary(path, st_meta_get(st_model_shard(m, 0), "params"));
    size_t nshards = st_model_shards(m), n = st_model_count(m);
    printf("safetensors: %s (%zu file%s)\n", path, nshards, nshards == 1 ? "" : "s");
    for (size_t i = 0; i < nshards; i++) {
        const st_file *f = st_model_shard(m, i);
        char hb[32];
        human_bytes(hb, sizeof hb, (double)st_file_bytes(f));
        printf("file %s: %zu tensors, header %zu bytes, %s\n", st_path(f), st_count(f),
               st_header_bytes(f), hb);
        for (size_t k = 0; k < st_meta_count(f); k++)
            printf("  metadata %s = %s\n", st_meta_key(f, k), st_meta_value(f, k));
    }
    size_t wname = 6;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(st_model_get(m, i)->name);
        if (l > wname)
            wname = l;
    }
    printf("%-*s  %-5s  %-22s  %14s\n", (int)wname, "tensor", "dtype", "shape", "bytes");
    uint64_t total = 0, params = 0;
    for (size_t i = 0; i < n; i++) {
        const st_tensor_info *t = st_model_get(m, i);
        char shape[128];
        shape_format(shape, sizeof shape, t->ndim, t->shape);
        printf("%-*s  %-5s  %-22s  %14zu\n", (int)wname, t->name, dtype_name(t->dtype), shape,
               t->nbytes);
        total += t->nbytes;
        params += (uint64_t)shape_numel(t->ndim, t->shape);
    }
    char hb[32];
    human_bytes(hb, sizeof hb, (double)total);
    printf("total: %zu tensors, %" PRIu64 " elements, %" PRIu64 " bytes (%s)\n", n, params, total,
           hb);
    st_model_close(m);
    return DB_EXIT_OK;
}

/* A safetensors file starts with a little-endian u64 header length and then '{'; an HDF5 file
 * with its signature. A file whose first bytes are printable text is neither. */
static bool looks_like_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    unsigned char b[64];
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n < 8)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(isprint(b[i]) || b[i] == '\n' || b[i] == '\r' || b[i] == '\t'))
            return false;
    return true;
}

static int inspect_text(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[512] = "";
    if (!f || !fgets(line, sizeof line, f)) {
        if (f)
            fclose(f);
        return cli_fail("inspect", db_error(DB_ERR_IO, "%s: cannot read", path));
    }
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    trace_format fmt;
    if (trace_detect(path, &fmt) == DB_OK && fmt != TRACE_FMT_HDF5) {
        trace_table t;
        if (fmt != TRACE_FMT_AZURE_FUNC && trace_read(path, &t) == DB_OK) {
            printf("request trace (%s): %s\n  header   %s\n  requests %zu over %.3f s; %s\n",
                   trace_format_name(fmt), path, line, t.n, t.n ? t.req[t.n - 1].arrival_s : 0.0,
                   t.has_models ? "with a model column" : "no model column");
            trace_table_free(&t);
        } else {
            db_error_clear();
            printf("%s trace: %s\n  header   %s\n", trace_format_name(fmt), path, line);
        }
        printf("read it with: deltabench trace stats %s\n"
               "              deltabench simulate --trace %s --system S   (or serve)\n"
               "              deltabench trace gen --arrival replay:%s ...\n",
               path, path, path);
        return DB_EXIT_OK;
    }
    db_error_clear();
    printf("text file: %s\n  first line  %s\n"
           "deltabench inspect reads safetensors checkpoints and HDF5 results; a CSV table is\n"
           "read by gnuplot or a spreadsheet (`deltabench export` writes them from HDF5)\n",
           path, line);
    return DB_EXIT_OK;
}

int cmd_inspect(int argc, char **argv)
{
    int argi = 0;
    int rc = cli_parse("inspect", argc, argv, NULL, 0, &argi);
    if (rc == CLI_HELP)
        return usage(), DB_EXIT_OK;
    if (rc)
        return rc;
    if (argc - argi != 1)
        return cli_usage("inspect", "expected exactly one FILE, got %d", argc - argi);
    const char *path = argv[argi];
    if (looks_like_text(path))
        return inspect_text(path);
    if (res_is_hdf5(path)) {
        printf("hdf5: %s\n", path);
        db_status s = res_describe(path, stdout);
        return s == DB_OK ? DB_EXIT_OK : cli_fail("inspect", s);
    }
    return inspect_safetensors(path);
}
