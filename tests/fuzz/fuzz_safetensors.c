/* fuzz_safetensors.c: a safetensors file (header length, JSON header, dtypes, shapes, data
 * offsets, __metadata__) through st_open, then every tensor viewed and converted to f32. */
#include "tests/fuzz/fuzz.h"

#include "core/alloc.h"
#include "core/safetensors.h"
#include "core/tensor.h"

FUZZ_TARGET(safetensors)
{
    char path[512];
    fz_file(path, sizeof path, "f.safetensors", data, size);
    st_file *f = NULL;
    db_status s = st_open(path, &f);
    fz_check_error(s);
    if (s)
        return 0;
    for (size_t i = 0; i < st_meta_count(f); i++)
        if (st_meta_get(f, st_meta_key(f, i)) == NULL || st_meta_value(f, i) == NULL)
            abort();
    for (size_t i = 0; i < st_count(f); i++) {
        const st_tensor_info *ti = st_get(f, i);
        if (st_find(f, ti->name) != ti)
            abort(); /* names are unique */
        db_tensor v;
        if (st_view(ti, &v) != DB_OK)
            continue;
        int64_t n = tensor_numel(&v);
        if (n < 0 || n > (1 << 16))
            continue;
        float *out = db_malloc((size_t)(n ? n : 1) * sizeof *out);
        if (out)
            fz_check_error(tensor_to_f32(&v, out));
        db_free(out);
    }
    st_close(f);
    return 0;
}
