/* cmd_inspect.c: `deltabench inspect FILE`: what a safetensors checkpoint (a file, a directory,
 * or a sharded index) or an HDF5 result file holds. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/safetensors.h"
#include "harness/cli.h"
#include "core/results.h"

static void usage(void)
{
    printf("usage: deltabench inspect [--help] FILE\n\n"
           "Describes FILE:\n"
           "  safetensors (a .safetensors file, a model.safetensors.index.json, or a directory\n"
           "  holding either): metadata, then every tensor with dtype, shape and bytes;\n"
           "  HDF5 result: root attributes, then every table with its row count and columns.\n\n");
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

static int inspect_safetensors(const char *path)
{
    st_model *m;
    db_status s = st_model_open(path, &m);
    if (s != DB_OK)
        return cli_fail("inspect", s);
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
    if (res_is_hdf5(path)) {
        printf("hdf5: %s\n", path);
        db_status s = res_describe(path, stdout);
        return s == DB_OK ? DB_EXIT_OK : cli_fail("inspect", s);
    }
    return inspect_safetensors(path);
}
