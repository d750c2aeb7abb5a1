/* fuzz_st_index.c: a sharded checkpoint's model.safetensors.index.json through st_model_open.
 * The directory also holds two small valid shards (a.safetensors: x, y; b.safetensors: z), so
 * an index may name real files, missing ones, a tensor in the wrong shard, or paths outside. */
#include "tests/fuzz/fuzz.h"

#include <sys/stat.h>

#include "core/safetensors.h"

static char fz_index_dir[512];

static void write_shard(const char *dir, const char *file, size_t n, const char *const *names)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    float v[4] = {1, 2, 3, 4};
    db_tensor t[2];
    int64_t shape[1] = {4};
    for (size_t i = 0; i < n; i++)
        if (tensor_view(&t[i], DT_F32, 1, shape, v) != DB_OK)
            abort();
    if (st_save(path, n, names, t, 0, NULL, NULL) != DB_OK) {
        fprintf(stderr, "fuzz: %s\n", db_errmsg());
        abort();
    }
}

FUZZ_TARGET(st_index)
{
    if (!fz_index_dir[0]) {
        snprintf(fz_index_dir, sizeof fz_index_dir, "%s/model", fz_dir());
        if (mkdir(fz_index_dir, 0700) != 0)
            abort();
        const char *a[] = {"x", "y"}, *b[] = {"z"};
        write_shard(fz_index_dir, "a.safetensors", 2, a);
        write_shard(fz_index_dir, "b.safetensors", 1, b);
    }
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", fz_index_dir);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
    st_model *m = NULL;
    db_status s = st_model_open(fz_index_dir, &m);
    fz_check_error(s);
    if (!s) {
        for (size_t i = 0; i < st_model_count(m); i++) {
            const st_tensor_info *ti = st_model_get(m, i);
            if (st_model_find(m, ti->name) != ti)
                abort();
        }
        for (size_t i = 0; i < st_model_shards(m); i++)
            if (!st_model_shard(m, i))
                abort();
    }
    st_model_close(m);
    return 0;
}
