/* calib_file.c: the static calibration provider of `--calib FILE`.
 *
 * File format (documented in docs/compressors.md): a safetensors file with one F32 [K, K]
 * tensor "<linear tensor name>.hessian" = 2/n XᵀX of that tensor's input over n calibration
 * tokens, and a __metadata__ entry "tokens" = n. Being static, it cannot show later layers the
 * compressed earlier ones (DeltaZip's sequential pass needs the model: models/ provides that);
 * its update callback is NULL. Tensors without a Hessian answer DB_ERR_NOT_FOUND (H = I). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compressors/compressor.h"
#include "core/alloc.h"
#include "core/safetensors.h"

typedef struct {
    dc_calib c;
    st_file *f;
    int64_t tokens;
} calib_file;

static db_status file_hessian(void *ctx, const char *name, int64_t K, float *H, int64_t *ntokens)
{
    calib_file *cf = ctx;
    char key[512];
    snprintf(key, sizeof key, "%s.hessian", name);
    const st_tensor_info *ti = st_find(cf->f, key);
    if (!ti)
        return DB_ERR_NOT_FOUND;
    if (ti->dtype != DT_F32 || ti->ndim != 2 || ti->shape[0] != K || ti->shape[1] != K)
        return db_error(DB_ERR_FORMAT, "%s: %s must be F32 [%lld, %lld]", st_path(cf->f), key,
                        (long long)K, (long long)K);
    memcpy(H, ti->data, ti->nbytes);
    for (int64_t i = 0; i < K * K; i++)
        if (!isfinite(H[i]))
            return db_error(DB_ERR_NUMERIC, "%s: %s has NaN/Inf", st_path(cf->f), key);
    *ntokens = cf->tokens;
    return DB_OK;
}

db_status dc_calib_file_open(const char *path, dc_calib **out)
{
    *out = NULL;
    calib_file *cf = db_calloc(1, sizeof *cf);
    if (!cf)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    db_status s = st_open(path, &cf->f);
    if (s) {
        db_free(cf);
        return s;
    }
    const char *tok = st_meta_get(cf->f, "tokens");
    char *end = NULL;
    long long n = tok ? strtoll(tok, &end, 10) : 0;
    if (!tok || end == tok || *end || n < 1) {
        st_close(cf->f);
        db_free(cf);
        return db_error(DB_ERR_FORMAT, "%s: not a calibration file (needs a 'tokens' metadata entry "
                                       "and <tensor>.hessian F32 [K, K] tensors)", path);
    }
    cf->tokens = n;
    cf->c.ctx = cf;
    cf->c.hessian = file_hessian;
    cf->c.update = NULL;
    *out = &cf->c;
    return DB_OK;
}

void dc_calib_file_close(dc_calib *c)
{
    if (!c)
        return;
    calib_file *cf = c->ctx;
    st_close(cf->f);
    db_free(cf);
}

int64_t dc_calib_file_tokens(const dc_calib *c) { return ((const calib_file *)c->ctx)->tokens; }
