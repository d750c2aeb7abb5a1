/* fuzz_container.c: a compressed-delta container through dc_delta_open (magic, format version,
 * method, params, tensor entries, parts, lossless payloads, CSR content), then every tensor of
 * at most 64K elements decoded dense and applied to a vector (the method's decoders on parts
 * they did not write). */
#include "tests/fuzz/fuzz.h"

#include "compressors/compressor.h"
#include "core/alloc.h"

FUZZ_TARGET(container)
{
    char path[512];
    fz_file(path, sizeof path, "d.safetensors", data, size);
    dc_delta *d = NULL;
    db_status s = dc_delta_open(path, NULL, &d);
    fz_check_error(s);
    if (s)
        return 0;
    for (size_t i = 0; i < dc_delta_count(d); i++) {
        const dc_tensor *t = dc_delta_get(d, i);
        if (dc_delta_find(d, t->name) != t)
            abort();
        int64_t n = 1, N = 0, K = 0;
        if (t->role == DC_ROLE_DELTA) {
            N = t->packed.N, K = t->packed.K;
            n = N * K;
        } else {
            for (int k = 0; k < t->ndim; k++)
                n *= t->shape[k];
        }
        if (n < 0 || n > (1 << 16) || N > (1 << 16) || K > (1 << 16))
            continue;
        float *out = db_calloc((size_t)(n ? n : 1), sizeof *out);
        if (out)
            fz_check_error(dc_decode_dense(t, out));
        if (out && t->role == DC_ROLE_DELTA) {
            float *x = db_calloc((size_t)K, sizeof *x), *y = db_calloc((size_t)N, sizeof *y);
            if (x && y) {
                for (int64_t k = 0; k < K; k++)
                    x[k] = (float)(k % 7) - 3.0f;
                fz_check_error(dc_apply_ref(t, 1, x, y));
            }
            db_free(x), db_free(y);
        }
        db_free(out);
    }
    dc_delta_close(d);
    return 0;
}
