/* pipeline.c: whole-checkpoint compression and decompression, streaming tensor by tensor.
 *
 * Compression validates both checkpoints from their headers first (same names, dtypes and
 * shapes), then walks the tensors in model order (embeddings, layer 0 q,k,v,o,gate,up,down,
 * layer 1, ..., final norm, lm_head) so a calibration provider that runs the model sees every
 * earlier layer already compressed. Per tensor: NaN/Inf check of both inputs, content hashes
 * (for the model hashes in the header), encode (linear projections) or store (the rest), the
 * relative error of the decoded delta, then the input pages are dropped from the process
 * (madvise) so the resident set stays at a few tensors even for a 70B pair. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "compressors/container.h"
#include "compressors/internal.h"
#include "core/alloc.h"
#include "core/hash.h"
#include "core/llama_names.h"
#include "core/log.h"
#include "core/safetensors.h"

#ifndef DB_VERSION
#define DB_VERSION "dev"
#endif

/* Drops the pages of a mapped range from this process (they stay in the page cache). The
 * reader maps files MAP_PRIVATE read-only, so this never loses data. */
static void release_pages(const void *p, size_t n)
{
    uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + ps - 1) & ~(ps - 1), b = ((uintptr_t)p + n) & ~(ps - 1);
    if (b > a)
        madvise((void *)a, b - a, MADV_DONTNEED);
}

/* Index of the first NaN/Inf of n elements of a float dtype, or -1 (integers are never). */
static int64_t first_nonfinite(db_dtype dt, const void *data, int64_t n)
{
    if (dt == DT_F16 || dt == DT_BF16) {
        const uint16_t *h = data, m = dt == DT_F16 ? 0x7c00 : 0x7f80;
        for (int64_t i = 0; i < n; i++)
            if ((h[i] & m) == m)
                return i;
    } else if (dt == DT_F32) {
        const uint32_t *u = data;
        for (int64_t i = 0; i < n; i++)
            if ((u[i] & 0x7f800000u) == 0x7f800000u)
                return i;
    } else if (dt == DT_F64) {
        const double *d = data;
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(d[i]))
                return i;
    }
    return -1;
}

typedef struct {
    const st_tensor_info *b, *t;
    int64_t key1, key2;
    bool delta;
} work_item;

static int item_cmp(const void *pa, const void *pb)
{
    const work_item *a = pa, *b = pb;
    if (a->key1 != b->key1)
        return a->key1 < b->key1 ? -1 : 1;
    if (a->key2 != b->key2)
        return a->key2 < b->key2 ? -1 : 1;
    return strcmp(a->b->name, b->b->name);
}

static void order_key(work_item *w)
{
    llama_tensor kind;
    int layer;
    const st_tensor_info *ti = w->b;
    if (!llama_parse(ti->name, &kind, &layer)) {
        w->key1 = INT64_MAX, w->key2 = 0;
        return;
    }
    w->key1 = kind == LT_EMBED ? -1 : layer >= 0 ? layer : INT64_MAX - 1;
    w->key2 = (int64_t)kind;
    w->delta = llama_is_linear(kind) && ti->ndim == 2 &&
               (ti->dtype == DT_F16 || ti->dtype == DT_BF16 || ti->dtype == DT_F32);
}

static db_status check_pair(const char *bp, const st_model *b, const char *tp, const st_model *t)
{
    size_t nb = st_model_count(b), nt = st_model_count(t);
    for (size_t i = 0; i < nb; i++) {
        const st_tensor_info *x = st_model_get(b, i), *y = st_model_find(t, x->name);
        if (!y)
            return db_error(DB_ERR_SHAPE, "%s: tensor %s of the base is missing", tp, x->name);
        bool same = x->dtype == y->dtype && x->ndim == y->ndim;
        for (int d = 0; same && d < x->ndim; d++)
            same = x->shape[d] == y->shape[d];
        if (!same) {
            char sx[64], sy[64];
            shape_format(sx, sizeof sx, x->ndim, x->shape);
            shape_format(sy, sizeof sy, y->ndim, y->shape);
            return db_error(x->dtype != y->dtype ? DB_ERR_DTYPE : DB_ERR_SHAPE,
                            "%s: tensor %s is %s %s but the base %s has %s %s", tp, x->name,
                            dtype_name(y->dtype), sy, bp, dtype_name(x->dtype), sx);
        }
    }
    if (nt != nb)
        for (size_t i = 0; i < nt; i++) {
            const st_tensor_info *y = st_model_get(t, i);
            if (!st_model_find(b, y->name))
                return db_error(DB_ERR_SHAPE, "%s: tensor %s is not in the base %s", tp, y->name,
                                bp);
        }
    return DB_OK;
}

static void fill_entry(hash_tensor_entry *e, const st_tensor_info *ti)
{
    e->name = ti->name;
    e->dtype = (int)ti->dtype;
    e->ndim = ti->ndim;
    for (int d = 0; d < ti->ndim && d < 8; d++)
        e->shape[d] = ti->shape[d];
    e->content = hash_bytes(ti->data, ti->nbytes, 0);
}

/* Sizes of one stored array under both lossless codecs (raw when not smaller). */
static db_status measure(const void *data, size_t n, dc_lossless stored_codec, size_t stored,
                         int64_t *zb, int64_t *db)
{
    for (int c = DC_LOSSLESS_ZSTD; c <= DC_LOSSLESS_DEFLATE; c++) {
        size_t got = stored;
        if ((dc_lossless)c != stored_codec) {
            void *buf;
            db_status s = dc_lossless_compress((dc_lossless)c, data, n, &buf, &got);
            if (s)
                return s;
            db_free(buf);
            if (got > n)
                got = n;
        }
        *(c == DC_LOSSLESS_ZSTD ? zb : db) += (int64_t)got;
    }
    return DB_OK;
}

db_status dc_compress_model(const dc_compress_opts *o, dc_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    const dc_method *m = o->method;
    st_model *b = NULL, *t = NULL;
    dc_out *out = NULL;
    work_item *items = NULL;
    hash_tensor_entry *hb = NULL, *ht = NULL;
    float *delta = NULL, *dec = NULL, *H = NULL;
    dc_packed pk = {0};
    db_status s = dc_params_check(m, &o->params, 0, 0);
    if (!s)
        s = st_model_open(o->base_path, &b);
    if (!s)
        s = st_model_open(o->target_path, &t);
    if (!s)
        s = check_pair(o->base_path, b, o->target_path, t);
    if (s)
        goto done;
    size_t n = st_model_count(b);
    items = db_calloc(n ? n : 1, sizeof *items);
    hb = db_calloc(n ? n : 1, sizeof *hb);
    ht = db_calloc(n ? n : 1, sizeof *ht);
    if (!items || !hb || !ht) {
        s = db_error(DB_ERR_NOMEM, "compress: out of memory");
        goto done;
    }
    size_t maxel = 0, maxK = 0;
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        items[i].b = st_model_get(b, i);
        items[i].t = st_model_find(t, items[i].b->name);
        order_key(&items[i]);
        total += (int64_t)items[i].b->nbytes;
        if (items[i].delta) {
            /* shape-dependent parameter checks up front: fail before any work */
            s = dc_params_check(m, &o->params, items[i].b->shape[0], items[i].b->shape[1]);
            if (s) {
                s = db_error(DB_ERR_ARG, "%s: %s: %s", o->target_path, items[i].b->name,
                             db_errmsg());
                goto done;
            }
            size_t el = (size_t)items[i].b->shape[0] * (size_t)items[i].b->shape[1];
            maxel = el > maxel ? el : maxel;
            maxK = (size_t)items[i].b->shape[1] > maxK ? (size_t)items[i].b->shape[1] : maxK;
        }
    }
    qsort(items, n, sizeof *items, item_cmp);
    if (maxel) {
        delta = db_malloc_array(maxel, sizeof *delta);
        dec = db_malloc_array(maxel, sizeof *dec);
        if (o->calib && (m->uses & DC_P_CALIB))
            H = db_malloc_array(maxK * maxK, sizeof *H);
        if (!delta || !dec || (o->calib && (m->uses & DC_P_CALIB) && !H)) {
            s = db_error(DB_ERR_NOMEM, "compress: out of memory for tensors of %zu elements",
                         maxel);
            goto done;
        }
    }
    s = dc_out_open(o->out_path, &out);
    if (s)
        goto done;
    db_progress pg;
    if (o->progress)
        progress_start(&pg, "compress", total > 0 ? total : 1);
    for (size_t i = 0; i < n && !s; i++) {
        const st_tensor_info *bi = items[i].b, *ti = items[i].t;
        double t0 = db_now();
        int64_t numel = shape_numel(bi->ndim, bi->shape);
        int64_t bad = first_nonfinite(bi->dtype, bi->data, numel);
        if (bad >= 0) {
            s = db_error(DB_ERR_NUMERIC, "%s: tensor %s has NaN/Inf at element %lld",
                         o->base_path, bi->name, (long long)bad);
            break;
        }
        if ((bad = first_nonfinite(ti->dtype, ti->data, numel)) >= 0) {
            s = db_error(DB_ERR_NUMERIC, "%s: tensor %s has NaN/Inf at element %lld",
                         o->target_path, ti->name, (long long)bad);
            break;
        }
        fill_entry(&hb[i], bi);
        fill_entry(&ht[i], ti);
        dc_report_row row;
        memset(&row, 0, sizeof row);
        snprintf(row.name, sizeof row.name, "%s", bi->name);
        row.numel = numel;
        row.orig_bytes = 2 * numel;
        char key[512], val[64];
        snprintf(key, sizeof key, "tensor.%s", bi->name);
        if (items[i].delta) {
            const int64_t N = bi->shape[0], K = bi->shape[1];
            dc_src src = {bi->name, N, K, bi->dtype, bi->data, ti->data};
            const float *h = NULL;
            if (H) {
                int64_t ntok = 0;
                s = o->calib->hessian(o->calib->ctx, bi->name, K, H, &ntok);
                if (s == DB_OK)
                    h = H, sum->n_hessian++;
                else if (s == DB_ERR_NOT_FOUND)
                    s = DB_OK, db_error_clear(), sum->n_identity++;
                else
                    break;
            } else if (m->uses & DC_P_CALIB) {
                sum->n_identity++;
            }
            s = dc_encode(m, &src, &o->params, h, &pk);
            if (!s)
                s = dc_src_delta(&src, delta);
            if (!s)
                s = m->decode_dense(&pk, dec);
            if (s)
                break;
            double e2 = 0.0, d2 = 0.0;
            for (int64_t j = 0; j < N * K; j++) {
                double df = (double)dec[j] - delta[j];
                e2 += df * df;
                d2 += (double)delta[j] * delta[j];
            }
            row.rel_fro_err = d2 > 0 ? sqrt(e2 / d2) : sqrt(e2);
            if (o->calib && o->calib->update) {
                s = o->calib->update(o->calib->ctx, bi->name, N, K, dec);
                if (s)
                    break;
            }
            snprintf(row.role, sizeof row.role, "delta");
            snprintf(val, sizeof val, "delta %lld %lld", (long long)N, (long long)K);
            for (int p = 0; p < pk.nparts && !s; p++) {
                const dc_part *pt = &pk.parts[p];
                char pname[512];
                size_t stored = 0;
                snprintf(pname, sizeof pname, "%s.%s", bi->name, pt->suffix);
                s = dc_out_add(out, pname, pt->dtype, pt->ndim, pt->shape, pt->data, pt->nbytes,
                               o->params.lossless, &stored);
                row.raw_bytes += (int64_t)pt->nbytes;
                row.stored_bytes += (int64_t)stored;
                if (!s && o->measure_lossless)
                    s = measure(pt->data, pt->nbytes, o->params.lossless, stored, &row.zstd_bytes,
                                &row.deflate_bytes);
            }
            dc_packed_free(&pk);
            sum->orig_linear += row.orig_bytes;
            sum->stored_linear += row.stored_bytes;
        } else {
            size_t stored = 0;
            snprintf(row.role, sizeof row.role, "full");
            snprintf(val, sizeof val, "full");
            s = dc_out_add(out, bi->name, ti->dtype, bi->ndim, ti->shape, ti->data, ti->nbytes,
                           o->params.lossless, &stored);
            row.raw_bytes = (int64_t)ti->nbytes;
            row.stored_bytes = (int64_t)stored;
            if (!s && o->measure_lossless)
                s = measure(ti->data, ti->nbytes, o->params.lossless, stored, &row.zstd_bytes,
                            &row.deflate_bytes);
        }
        if (!s)
            s = dc_out_meta(out, key, val);
        if (s)
            break;
        sum->orig_all += row.orig_bytes;
        row.bits_per_param = numel ? 8.0 * (double)row.stored_bytes / (double)numel : 0.0;
        row.ratio = row.stored_bytes ? (double)row.orig_bytes / (double)row.stored_bytes : 0.0;
        row.seconds = db_now() - t0;
        release_pages(bi->data, bi->nbytes);
        release_pages(ti->data, ti->nbytes);
        if (o->on_row)
            o->on_row(o->ctx, &row);
        if (o->progress)
            progress_add(&pg, (int64_t)bi->nbytes);
    }
    if (o->progress)
        progress_end(&pg);
    if (s)
        goto done;
    /* header metadata: everything known only now */
    char params[256];
    dc_params_format(m, &o->params, params, sizeof params);
    struct {
        const char *k, *v;
    } meta[] = {{"format", DC_FORMAT_MAGIC}, {"format_version", NULL}, {"method", m->name},
                {"params", params},          {"base_hash", NULL},      {"target_hash", NULL},
                {"calib", o->calib_desc ? o->calib_desc : "identity"},
                {"tool", "deltabench " DB_VERSION}};
    char ver[16], bh[17], th[17];
    snprintf(ver, sizeof ver, "%d", DC_FORMAT_VERSION);
    hash_hex(hash_model_entries(hb, n), bh);
    hash_hex(hash_model_entries(ht, n), th);
    meta[1].v = ver, meta[4].v = bh, meta[5].v = th;
    for (size_t i = 0; i < sizeof meta / sizeof meta[0] && !s; i++)
        s = dc_out_meta(out, meta[i].k, meta[i].v);
    if (s)
        goto done;
    size_t fb = 0, hbytes = 0;
    s = dc_out_finish(out, &fb, &hbytes);
    out = NULL;
    if (s)
        goto done;
    sum->stored_all = (int64_t)fb;
    sum->header_bytes = (int64_t)hbytes;
    sum->ratio_all = fb ? (double)sum->orig_all / (double)fb : 0.0;
    sum->ratio_linear = sum->stored_linear ? (double)sum->orig_linear / (double)sum->stored_linear : 0.0;
done:
    dc_packed_free(&pk);
    dc_out_abort(out);
    db_free(items), db_free(hb), db_free(ht), db_free(delta), db_free(dec), db_free(H);
    st_model_close(b);
    st_model_close(t);
    return s;
}

/* ---- decompression --------------------------------------------------------------------------- */

static db_status to_dtype(const float *src, db_dtype dt, void *dst, size_t n)
{
    if (dt == DT_F32)
        memcpy(dst, src, n * sizeof *src);
    else if (dt == DT_F16)
        f32_to_f16_array(src, dst, n);
    else if (dt == DT_BF16)
        f32_to_bf16_array(src, dst, n);
    else
        return db_error(DB_ERR_DTYPE, "decompress: cannot write dtype %s", dtype_name(dt));
    return DB_OK;
}

db_status dc_decompress_model(const char *base_path, const char *delta_path, const char *out_path,
                              bool progress)
{
    dc_delta *d = NULL;
    st_model *b = NULL;
    st_writer *w = NULL;
    float *f = NULL, *g = NULL;
    void *obuf = NULL;
    db_status s = dc_delta_open(delta_path, base_path, &d);
    if (!s)
        s = st_model_open(base_path, &b);
    if (s)
        goto done;
    size_t n = st_model_count(b), maxel = 0;
    int64_t total = 0;
    if (dc_delta_count(d) != n) {
        s = db_error(DB_ERR_FORMAT, "%s: holds %zu tensors, the base %s has %zu", delta_path,
                     dc_delta_count(d), base_path, n);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const st_tensor_info *ti = st_model_get(b, i);
        const dc_tensor *dt = dc_delta_find(d, ti->name);
        if (!dt) {
            s = db_error(DB_ERR_FORMAT, "%s: no entry for the base's tensor %s", delta_path,
                         ti->name);
            goto done;
        }
        int64_t numel = shape_numel(ti->ndim, ti->shape);
        bool ok = dt->role == DC_ROLE_DELTA
                      ? ti->ndim == 2 && dt->packed.N == ti->shape[0] && dt->packed.K == ti->shape[1]
                      : shape_numel(dt->ndim, dt->shape) == numel;
        if (!ok) {
            s = db_error(DB_ERR_SHAPE, "%s: tensor %s does not match the base's shape",
                         delta_path, ti->name);
            goto done;
        }
        maxel = (size_t)numel > maxel ? (size_t)numel : maxel;
        total += (int64_t)ti->nbytes;
    }
    f = db_malloc_array(maxel ? maxel : 1, sizeof *f);
    g = db_malloc_array(maxel ? maxel : 1, sizeof *g);
    obuf = db_malloc_array(maxel ? maxel : 1, 8);
    if (!f || !g || !obuf) {
        s = db_error(DB_ERR_NOMEM, "decompress: out of memory");
        goto done;
    }
    s = st_writer_open(out_path, &w);
    if (!s)
        s = st_writer_meta(w, "format", "pt");
    char th[17];
    hash_hex(dc_delta_target_hash(d), th);
    if (!s)
        s = st_writer_meta(w, "deltabench_target_hash", th);
    for (size_t i = 0; i < n && !s; i++) {
        const st_tensor_info *ti = st_model_get(b, i);
        s = st_writer_declare(w, ti->name, ti->dtype, ti->ndim, ti->shape);
    }
    if (!s)
        s = st_writer_begin(w);
    db_progress pg;
    if (progress)
        progress_start(&pg, "decompress", total > 0 ? total : 1);
    const char *name;
    while (!s && (name = st_writer_next(w))) {
        const st_tensor_info *ti = st_model_find(b, name);
        const dc_tensor *dt = dc_delta_find(d, name);
        size_t numel = (size_t)shape_numel(ti->ndim, ti->shape);
        db_tensor v;
        if (dt->role == DC_ROLE_DELTA) {
            /* fine-tuned ≈ base + Δ̂, rounded once to the base's dtype */
            s = tensor_view(&v, ti->dtype, ti->ndim, ti->shape, (void *)ti->data);
            if (!s)
                s = tensor_to_f32(&v, f);
            if (!s)
                s = dc_decode_dense(dt, g);
            for (size_t j = 0; !s && j < numel; j++)
                f[j] += g[j];
        } else {
            s = dc_decode_dense(dt, f);
        }
        /* a delta whose stored values hold NaN/Inf would write them into the checkpoint */
        int64_t bad = s ? -1 : first_nonfinite(DT_F32, f, (int64_t)numel);
        if (bad >= 0)
            s = db_error(DB_ERR_NUMERIC, "%s: tensor %s decodes to NaN/Inf at element %lld",
                         delta_path, name, (long long)bad);
        if (!s)
            s = to_dtype(f, ti->dtype, obuf, numel);
        if (!s)
            s = st_writer_write(w, obuf, numel * dtype_size(ti->dtype));
        release_pages(ti->data, ti->nbytes);
        if (progress)
            progress_add(&pg, (int64_t)ti->nbytes);
    }
    if (progress)
        progress_end(&pg);
    if (!s) {
        s = st_writer_finish(w);
        w = NULL;
    }
done:
    st_writer_abort(w);
    db_free(f), db_free(g), db_free(obuf);
    st_model_close(b);
    dc_delta_close(d);
    return s;
}
