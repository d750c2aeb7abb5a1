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

/* One compression run: the two checkpoints, the tensors in model order, the output and the
 * scratch of the largest linear tensor, shared by the steps below. */
typedef struct {
    const dc_compress_opts *o;
    dc_summary *sum;
    st_model *b, *t;
    size_t n;                     /* tensors */
    work_item *items;             /* [n] in model order */
    hash_tensor_entry *hb, *ht;   /* [n] content hashes of base and target */
    float *delta, *dec, *H;       /* [maxel], [maxel], [maxK, maxK] (H only with calibration) */
    dc_packed pk;
    dc_out *out;
} run_t;

static bool uses_hessian(const dc_compress_opts *o)
{
    return o->calib && (o->method->uses & DC_P_CALIB);
}

/* Pairs base and target tensors, sorts them into model order, checks every linear tensor's
 * shape against the parameters (fail before any work) and allocates the scratch. */
static db_status plan_run(run_t *r)
{
    const dc_compress_opts *o = r->o;
    size_t n = r->n = st_model_count(r->b);
    r->items = db_calloc(n ? n : 1, sizeof *r->items);
    r->hb = db_calloc(n ? n : 1, sizeof *r->hb);
    r->ht = db_calloc(n ? n : 1, sizeof *r->ht);
    if (!r->items || !r->hb || !r->ht)
        return db_error(DB_ERR_NOMEM, "compress: out of memory");
    size_t maxel = 0, maxK = 0;
    for (size_t i = 0; i < n; i++) {
        work_item *w = &r->items[i];
        w->b = st_model_get(r->b, i);
        w->t = st_model_find(r->t, w->b->name);
        order_key(w);
        if (!w->delta)
            continue;
        if (dc_params_check(o->method, &o->params, w->b->shape[0], w->b->shape[1]))
            return db_error(DB_ERR_ARG, "%s: %s: %s", o->target_path, w->b->name, db_errmsg());
        size_t el = (size_t)w->b->shape[0] * (size_t)w->b->shape[1];
        maxel = el > maxel ? el : maxel;
        maxK = (size_t)w->b->shape[1] > maxK ? (size_t)w->b->shape[1] : maxK;
    }
    qsort(r->items, n, sizeof *r->items, item_cmp);
    if (!maxel)
        return DB_OK;
    r->delta = db_malloc_array(maxel, sizeof *r->delta);
    r->dec = db_malloc_array(maxel, sizeof *r->dec);
    if (uses_hessian(o))
        r->H = db_malloc_array(maxK * maxK, sizeof *r->H);
    if (!r->delta || !r->dec || (uses_hessian(o) && !r->H))
        return db_error(DB_ERR_NOMEM, "compress: out of memory for tensors of %zu elements",
                        maxel);
    return DB_OK;
}

/* Refuses a tensor pair holding a NaN or Inf, naming the file and the first bad element. */
static db_status check_finite(const dc_compress_opts *o, const work_item *w, int64_t numel)
{
    int64_t bad = first_nonfinite(w->b->dtype, w->b->data, numel);
    if (bad >= 0)
        return db_error(DB_ERR_NUMERIC, "%s: tensor %s has NaN/Inf at element %lld",
                        o->base_path, w->b->name, (long long)bad);
    if ((bad = first_nonfinite(w->t->dtype, w->t->data, numel)) >= 0)
        return db_error(DB_ERR_NUMERIC, "%s: tensor %s has NaN/Inf at element %lld",
                        o->target_path, w->t->name, (long long)bad);
    return DB_OK;
}

/* Stores one array in the container and adds its raw and stored bytes (and, when asked, its
 * size under both lossless codecs) to the tensor's row. */
static db_status store_array(run_t *r, const char *name, db_dtype dt, int ndim,
                             const int64_t *shape, const void *data, size_t nbytes,
                             dc_report_row *row)
{
    const dc_compress_opts *o = r->o;
    size_t stored = 0;
    db_status s = dc_out_add(r->out, name, dt, ndim, shape, data, nbytes, o->params.lossless,
                             &stored);
    row->raw_bytes += (int64_t)nbytes;
    row->stored_bytes += (int64_t)stored;
    if (!s && o->measure_lossless)
        s = measure(data, nbytes, o->params.lossless, stored, &row->zstd_bytes,
                    &row->deflate_bytes);
    return s;
}

/* The calibration Hessian of a linear tensor into *h (NULL: H = I, also counted). */
static db_status lookup_hessian(run_t *r, const char *name, int64_t K, const float **h)
{
    const dc_compress_opts *o = r->o;
    *h = NULL;
    if (!r->H) {
        if (o->method->uses & DC_P_CALIB)
            r->sum->n_identity++;
        return DB_OK;
    }
    int64_t ntok = 0;
    db_status s = o->calib->hessian(o->calib->ctx, name, K, r->H, &ntok);
    if (s == DB_OK)
        *h = r->H, r->sum->n_hessian++;
    else if (s == DB_ERR_NOT_FOUND)
        s = DB_OK, db_error_clear(), r->sum->n_identity++;
    return s;
}

/* Relative Frobenius error of the decoded delta dec against the exact delta, both [n]. */
static double rel_fro_err(const float *dec, const float *delta, int64_t n)
{
    double e2 = 0.0, d2 = 0.0;
    for (int64_t j = 0; j < n; j++) {
        double df = (double)dec[j] - delta[j];
        e2 += df * df;
        d2 += (double)delta[j] * delta[j];
    }
    return d2 > 0 ? sqrt(e2 / d2) : sqrt(e2);
}

/* A linear projection: encode its delta, measure the decoded error, let a sequential
 * calibration see the compressed layer, store the method's parts. */
static db_status compress_delta(run_t *r, const work_item *w, dc_report_row *row)
{
    const dc_compress_opts *o = r->o;
    const st_tensor_info *bi = w->b;
    const int64_t N = bi->shape[0], K = bi->shape[1];
    dc_src src = {bi->name, N, K, bi->dtype, bi->data, w->t->data};
    const float *h;
    db_status s = lookup_hessian(r, bi->name, K, &h);
    if (!s)
        s = dc_encode(o->method, &src, &o->params, h, &r->pk);
    if (!s)
        s = dc_src_delta(&src, r->delta);
    if (!s)
        s = o->method->decode_dense(&r->pk, r->dec);
    if (s)
        return s;
    row->rel_fro_err = rel_fro_err(r->dec, r->delta, N * K);
    if (o->calib && o->calib->update) {
        s = o->calib->update(o->calib->ctx, bi->name, N, K, r->dec);
        if (s)
            return s;
    }
    snprintf(row->role, sizeof row->role, "delta");
    for (int p = 0; p < r->pk.nparts && !s; p++) {
        const dc_part *pt = &r->pk.parts[p];
        char pname[512];
        snprintf(pname, sizeof pname, "%s.%s", bi->name, pt->suffix);
        s = store_array(r, pname, pt->dtype, pt->ndim, pt->shape, pt->data, pt->nbytes, row);
    }
    dc_packed_free(&r->pk);
    r->sum->orig_linear += row->orig_bytes;
    r->sum->stored_linear += row->stored_bytes;
    return s;
}

/* One tensor, start to end: check, hash, compress (linear) or store whole (the rest), record
 * its entry in the header and its report row, and drop its input pages. */
static db_status compress_tensor(run_t *r, size_t i)
{
    const dc_compress_opts *o = r->o;
    const work_item *w = &r->items[i];
    const st_tensor_info *bi = w->b, *ti = w->t;
    double t0 = db_now();
    int64_t numel = shape_numel(bi->ndim, bi->shape);
    db_status s = check_finite(o, w, numel);
    if (s)
        return s;
    fill_entry(&r->hb[i], bi);
    fill_entry(&r->ht[i], ti);
    dc_report_row row;
    memset(&row, 0, sizeof row);
    snprintf(row.name, sizeof row.name, "%s", bi->name);
    row.numel = numel;
    row.orig_bytes = 2 * numel;
    char key[512], val[64];
    snprintf(key, sizeof key, "tensor.%s", bi->name);
    if (w->delta) {
        s = compress_delta(r, w, &row);
        snprintf(val, sizeof val, "delta %lld %lld", (long long)bi->shape[0],
                 (long long)bi->shape[1]);
    } else {
        snprintf(row.role, sizeof row.role, "full");
        snprintf(val, sizeof val, "full");
        s = store_array(r, bi->name, ti->dtype, bi->ndim, ti->shape, ti->data, ti->nbytes, &row);
    }
    if (!s)
        s = dc_out_meta(r->out, key, val);
    if (s)
        return s;
    r->sum->orig_all += row.orig_bytes;
    row.bits_per_param = numel ? 8.0 * (double)row.stored_bytes / (double)numel : 0.0;
    row.ratio = row.stored_bytes ? (double)row.orig_bytes / (double)row.stored_bytes : 0.0;
    row.seconds = db_now() - t0;
    release_pages(bi->data, bi->nbytes);
    release_pages(ti->data, ti->nbytes);
    if (o->on_row)
        o->on_row(o->ctx, &row);
    return DB_OK;
}

/* Every tensor in model order, with a progress bar over the base's bytes. */
static db_status compress_all(run_t *r)
{
    int64_t total = 0;
    for (size_t i = 0; i < r->n; i++)
        total += (int64_t)r->items[i].b->nbytes;
    db_progress pg;
    if (r->o->progress)
        progress_start(&pg, "compress", total > 0 ? total : 1);
    db_status s = DB_OK;
    for (size_t i = 0; i < r->n && !s; i++) {
        s = compress_tensor(r, i);
        if (!s && r->o->progress)
            progress_add(&pg, (int64_t)r->items[i].b->nbytes);
    }
    if (r->o->progress)
        progress_end(&pg);
    return s;
}

/* The header metadata known only at the end (method, parameters, model hashes), then the
 * container is finished and the summary's totals filled. */
static db_status finish_run(run_t *r)
{
    const dc_compress_opts *o = r->o;
    char params[256];
    dc_params_format(o->method, &o->params, params, sizeof params);
    struct {
        const char *k, *v;
    } meta[] = {{"format", DC_FORMAT_MAGIC}, {"format_version", NULL}, {"method", o->method->name},
                {"params", params},          {"base_hash", NULL},      {"target_hash", NULL},
                {"calib", o->calib_desc ? o->calib_desc : "identity"},
                {"tool", "deltabench " DB_VERSION}};
    char ver[16], bh[17], th[17];
    snprintf(ver, sizeof ver, "%d", DC_FORMAT_VERSION);
    hash_hex(hash_model_entries(r->hb, r->n), bh);
    hash_hex(hash_model_entries(r->ht, r->n), th);
    meta[1].v = ver, meta[4].v = bh, meta[5].v = th;
    db_status s = DB_OK;
    for (size_t i = 0; i < sizeof meta / sizeof meta[0] && !s; i++)
        s = dc_out_meta(r->out, meta[i].k, meta[i].v);
    if (s)
        return s;
    size_t fb = 0, hbytes = 0;
    s = dc_out_finish(r->out, &fb, &hbytes);
    r->out = NULL;
    if (s)
        return s;
    dc_summary *sum = r->sum;
    sum->stored_all = (int64_t)fb;
    sum->header_bytes = (int64_t)hbytes;
    sum->ratio_all = fb ? (double)sum->orig_all / (double)fb : 0.0;
    sum->ratio_linear =
        sum->stored_linear ? (double)sum->orig_linear / (double)sum->stored_linear : 0.0;
    return DB_OK;
}

db_status dc_compress_model(const dc_compress_opts *o, dc_summary *sum)
{
    memset(sum, 0, sizeof *sum);
    run_t r = {.o = o, .sum = sum};
    db_status s = dc_params_check(o->method, &o->params, 0, 0);
    if (!s)
        s = st_model_open(o->base_path, &r.b);
    if (!s)
        s = st_model_open(o->target_path, &r.t);
    if (!s)
        s = check_pair(o->base_path, r.b, o->target_path, r.t);
    if (!s)
        s = plan_run(&r);
    if (!s)
        s = dc_out_open(o->out_path, &r.out);
    if (!s)
        s = compress_all(&r);
    if (!s)
        s = finish_run(&r);
    dc_packed_free(&r.pk);
    dc_out_abort(r.out);
    db_free(r.items), db_free(r.hb), db_free(r.ht);
    db_free(r.delta), db_free(r.dec), db_free(r.H);
    st_model_close(r.b);
    st_model_close(r.t);
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
