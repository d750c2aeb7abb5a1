/* container.c: the compressed-delta container (a safetensors file), its writer and its reader.
 *
 * Layout: every stored array is a safetensors tensor. A compressed linear tensor X is stored as
 * its parts "X.<suffix>" (kernels/formats.h); every other tensor X is stored under its own name
 * as the fine-tuned values. __metadata__ holds:
 *   format = "deltabench-delta", format_version = "2" (1 still read for every
 *   method whose layout did not change since: dc_method.format_since), method, params
 *   (dc_params_format),
 *   base_hash, target_hash (16 hex digits, hash_st_model), calib (what H was),
 *   "tensor.X" = "delta N K" or "full" for every tensor of the checkpoint, and, for each stored
 *   array P that went through the lossless stage, "lossless.P" = "<codec> <DTYPE> <ndim> <d0>
 *   [<d1>] <raw bytes>" while P itself is then a U8 [compressed bytes] tensor. A part whose
 *   compressed form is not smaller is stored raw (no lossless entry).
 *
 * Writing streams: parts are appended to an unlinked scratch file as tensors are compressed
 * (the header, which must come first, needs every size and both model hashes, known only at
 * the end); dc_out_finish then declares everything and copies the scratch into the final file
 * through the safetensors writer (temporary name + rename, so failures leave nothing). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "compressors/container.h"
#include "compressors/internal.h"
#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/hash.h"
#include "core/safetensors.h"

/* ---- lossless codecs ------------------------------------------------------------------------- */

db_status dc_lossless_compress(dc_lossless codec, const void *src, size_t n, void **out,
                               size_t *outn)
{
    *out = NULL;
    *outn = 0;
    if (codec == DC_LOSSLESS_ZSTD) {
        size_t cap = ZSTD_compressBound(n);
        void *buf = db_malloc(cap ? cap : 1);
        if (!buf)
            return db_error(DB_ERR_NOMEM, "zstd: out of memory");
        size_t r = ZSTD_compress(buf, cap, src, n, DC_ZSTD_LEVEL);
        if (ZSTD_isError(r)) {
            db_free(buf);
            return db_error(DB_ERR_INTERNAL, "zstd: %s", ZSTD_getErrorName(r));
        }
        *out = buf;
        *outn = r;
        return DB_OK;
    }
    if (codec == DC_LOSSLESS_DEFLATE) {
        uLongf cap = compressBound((uLong)n);
        void *buf = db_malloc(cap ? cap : 1);
        if (!buf)
            return db_error(DB_ERR_NOMEM, "deflate: out of memory");
        if (compress2(buf, &cap, src, (uLong)n, Z_DEFAULT_COMPRESSION) != Z_OK) {
            db_free(buf);
            return db_error(DB_ERR_INTERNAL, "deflate: compress2 failed");
        }
        *out = buf;
        *outn = cap;
        return DB_OK;
    }
    return db_error(DB_ERR_ARG, "lossless: no codec");
}

db_status dc_lossless_decompress(dc_lossless codec, const void *src, size_t n, void *dst,
                                 size_t rawn)
{
    if (codec == DC_LOSSLESS_ZSTD) {
        size_t r = ZSTD_decompress(dst, rawn, src, n);
        if (ZSTD_isError(r) || r != rawn)
            return DB_ERR_FORMAT;
        return DB_OK;
    }
    if (codec == DC_LOSSLESS_DEFLATE) {
        uLongf got = (uLongf)rawn;
        if (uncompress(dst, &got, src, (uLong)n) != Z_OK || got != rawn)
            return DB_ERR_FORMAT;
        return DB_OK;
    }
    return DB_ERR_FORMAT;
}

/* ---- writer ---------------------------------------------------------------------------------- */

typedef struct {
    char *name;
    db_dtype dtype; /* as stored */
    int ndim;
    int64_t shape[2];
    uint64_t off; /* in the scratch file */
    size_t nbytes;
} out_entry;

typedef struct {
    char *key, *value;
} out_meta;

struct dc_out {
    char *path;
    int fd; /* the scratch file, already unlinked */
    uint64_t size;
    out_entry *e;
    size_t n, cap;
    out_meta *meta;
    size_t nmeta, capmeta;
};

db_status dc_out_open(const char *path, dc_out **out)
{
    *out = NULL;
    dc_out *o = db_calloc(1, sizeof *o);
    size_t ln = strlen(path) + 48;
    char *scratch = db_malloc(ln);
    if (!o || !scratch) {
        db_free(o), db_free(scratch);
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    }
    o->path = db_strdup(path);
    snprintf(scratch, ln, "%s.parts.%ld", path, (long)getpid());
    o->fd = open(scratch, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int e = errno;
    if (o->fd >= 0)
        unlink(scratch); /* nothing can be left behind, whatever happens next */
    db_free(scratch);
    if (o->fd < 0 || !o->path) {
        if (o->fd >= 0)
            close(o->fd);
        db_free(o->path), db_free(o);
        return db_error(DB_ERR_IO, "%s: cannot create a scratch file beside it: %s", path,
                        strerror(e));
    }
    *out = o;
    return DB_OK;
}

void dc_out_abort(dc_out *o)
{
    if (!o)
        return;
    close(o->fd);
    for (size_t i = 0; i < o->n; i++)
        db_free(o->e[i].name);
    for (size_t i = 0; i < o->nmeta; i++)
        db_free(o->meta[i].key), db_free(o->meta[i].value);
    db_free(o->e), db_free(o->meta), db_free(o->path), db_free(o);
}

db_status dc_out_meta(dc_out *o, const char *key, const char *value)
{
    if (o->nmeta == o->capmeta) {
        size_t nc = o->capmeta ? o->capmeta * 2 : 64;
        out_meta *nm = db_realloc(o->meta, nc * sizeof *nm);
        if (!nm)
            return db_error(DB_ERR_NOMEM, "%s: out of memory", o->path);
        o->meta = nm, o->capmeta = nc;
    }
    char *k = db_strdup(key), *v = db_strdup(value);
    if (!k || !v) {
        db_free(k), db_free(v);
        return db_error(DB_ERR_NOMEM, "%s: out of memory", o->path);
    }
    o->meta[o->nmeta++] = (out_meta){k, v};
    return DB_OK;
}

static db_status scratch_write(dc_out *o, const void *data, size_t n)
{
    const char *p = data;
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(o->fd, p + done, n - done, (off_t)(o->size + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return db_error(DB_ERR_IO, "%s: writing the scratch file: %s", o->path,
                            w < 0 ? strerror(errno) : "no space");
        done += (size_t)w;
    }
    o->size += n;
    return DB_OK;
}

db_status dc_out_add(dc_out *o, const char *name, db_dtype dt, int ndim, const int64_t *shape,
                     const void *data, size_t nbytes, dc_lossless codec, size_t *stored)
{
    if (o->n == o->cap) {
        size_t nc = o->cap ? o->cap * 2 : 256;
        out_entry *ne = db_realloc(o->e, nc * sizeof *ne);
        if (!ne)
            return db_error(DB_ERR_NOMEM, "%s: out of memory", o->path);
        o->e = ne, o->cap = nc;
    }
    out_entry *e = &o->e[o->n];
    memset(e, 0, sizeof *e);
    void *cbuf = NULL;
    size_t cn = 0;
    db_status s = DB_OK;
    if (codec != DC_LOSSLESS_NONE && nbytes > 0) {
        s = dc_lossless_compress(codec, data, nbytes, &cbuf, &cn);
        if (s)
            return s;
        if (cn >= nbytes) { /* not worth it: store raw */
            db_free(cbuf);
            cbuf = NULL;
        }
    }
    e->name = db_strdup(name);
    if (!e->name) {
        db_free(cbuf);
        return db_error(DB_ERR_NOMEM, "%s: out of memory", o->path);
    }
    e->off = o->size;
    if (cbuf) {
        char key[512], val[160];
        snprintf(key, sizeof key, "lossless.%s", name);
        if (ndim == 1)
            snprintf(val, sizeof val, "%s %s 1 %" PRId64 " %zu", dc_lossless_name(codec),
                     dtype_name(dt), shape[0], nbytes);
        else
            snprintf(val, sizeof val, "%s %s 2 %" PRId64 " %" PRId64 " %zu",
                     dc_lossless_name(codec), dtype_name(dt), shape[0], shape[1], nbytes);
        e->dtype = DT_U8;
        e->ndim = 1;
        e->shape[0] = (int64_t)cn;
        e->nbytes = cn;
        s = dc_out_meta(o, key, val);
        if (!s)
            s = scratch_write(o, cbuf, cn);
        db_free(cbuf);
    } else {
        e->dtype = dt;
        e->ndim = ndim;
        e->shape[0] = shape[0];
        e->shape[1] = ndim > 1 ? shape[1] : 0;
        e->nbytes = nbytes;
        s = scratch_write(o, data, nbytes);
    }
    if (s) {
        db_free(e->name);
        return s;
    }
    o->n++;
    if (stored)
        *stored = e->nbytes;
    return DB_OK;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const out_entry *)a)->name, ((const out_entry *)b)->name);
}

db_status dc_out_finish(dc_out *o, size_t *file_bytes, size_t *header_bytes)
{
    st_writer *w = NULL;
    char *buf = NULL;
    db_status s = st_writer_open(o->path, &w);
    for (size_t i = 0; i < o->nmeta && !s; i++)
        s = st_writer_meta(w, o->meta[i].key, o->meta[i].value);
    for (size_t i = 0; i < o->n && !s; i++)
        s = st_writer_declare(w, o->e[i].name, o->e[i].dtype, o->e[i].ndim, o->e[i].shape);
    if (!s)
        s = st_writer_begin(w);
    qsort(o->e, o->n, sizeof *o->e, entry_cmp);
    const size_t CH = (size_t)4 << 20;
    if (!s && !(buf = db_malloc(CH)))
        s = db_error(DB_ERR_NOMEM, "%s: out of memory", o->path);
    const char *name;
    while (!s && (name = st_writer_next(w))) {
        out_entry key = {.name = (char *)name};
        out_entry *e = bsearch(&key, o->e, o->n, sizeof *o->e, entry_cmp);
        if (!e) {
            s = db_error(DB_ERR_INTERNAL, "%s: tensor %s was declared but never written", o->path,
                         name);
            break;
        }
        for (size_t done = 0; done < e->nbytes && !s;) {
            size_t take = e->nbytes - done < CH ? e->nbytes - done : CH;
            ssize_t r = pread(o->fd, buf, take, (off_t)(e->off + done));
            if (r <= 0) {
                s = db_error(DB_ERR_IO, "%s: reading the scratch file back failed", o->path);
                break;
            }
            s = st_writer_write(w, buf, (size_t)r);
            done += (size_t)r;
        }
    }
    db_free(buf);
    if (s) {
        st_writer_abort(w);
        dc_out_abort(o);
        return s;
    }
    s = st_writer_finish(w);
    if (!s && (file_bytes || header_bytes)) {
        st_file *f = NULL;
        s = st_open(o->path, &f);
        if (!s) {
            if (file_bytes)
                *file_bytes = st_file_bytes(f);
            if (header_bytes)
                *header_bytes = st_header_bytes(f) + 8;
            st_close(f);
        }
        if (s)
            unlink(o->path);
    }
    dc_out_abort(o);
    return s;
}

/* ---- reader ---------------------------------------------------------------------------------- */

struct dc_delta {
    st_file *f;
    const dc_method *method;
    dc_params params;
    uint64_t base_hash, target_hash;
    size_t n;
    dc_tensor *t; /* sorted by name */
    char *names;  /* arena of tensor names */
    void **bufs;  /* decompressed full tensors */
    size_t nbufs;
};

static int tensor_cmp(const void *a, const void *b)
{
    return strcmp(((const dc_tensor *)a)->name, ((const dc_tensor *)b)->name);
}

void dc_delta_close(dc_delta *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        dc_packed_free(&d->t[i].packed);
    for (size_t i = 0; i < d->nbufs; i++)
        db_free(d->bufs[i]);
    db_free(d->bufs), db_free(d->t), db_free(d->names);
    st_close(d->f);
    db_free(d);
}

/* Loads stored array `name`: raw (a view) or through its lossless entry (an owned buffer). */
static db_status load_array(dc_delta *d, const char *path, const char *name, db_dtype *dt,
                            int *ndim, int64_t shape[TENSOR_MAX_DIMS], const void **data,
                            size_t *nbytes, bool *owned, size_t *stored)
{
    const st_tensor_info *ti = st_find(d->f, name);
    if (!ti)
        return db_error(DB_ERR_FORMAT, "%s: tensor %s is missing", path, name);
    *stored = ti->nbytes;
    char key[512];
    snprintf(key, sizeof key, "lossless.%s", name);
    const char *ll = st_meta_get(d->f, key);
    if (!ll) {
        *dt = ti->dtype;
        *ndim = ti->ndim;
        for (int i = 0; i < ti->ndim; i++)
            shape[i] = ti->shape[i];
        *data = ti->data;
        *nbytes = ti->nbytes;
        *owned = false;
        return DB_OK;
    }
    char codec[16], dts[16];
    int nd = 0;
    long long d0 = 0, d1 = 1;
    unsigned long long raw = 0;
    int got = sscanf(ll, "%15s %15s %d %lld", codec, dts, &nd, &d0);
    if (got == 4 && nd == 2)
        got += sscanf(ll, "%*s %*s %*d %*d %lld %llu", &d1, &raw);
    else if (got == 4 && nd == 1)
        got += sscanf(ll, "%*s %*s %*d %*d %llu", &raw) + 1;
    dc_lossless c;
    if (got != 6 || (nd != 1 && nd != 2) || d0 < 0 || d1 < 0 ||
        dc_lossless_parse(codec, &c) != DB_OK || c == DC_LOSSLESS_NONE ||
        dtype_parse(dts, dt) != DB_OK || ti->dtype != DT_U8 || ti->ndim != 1) {
        db_error_clear();
        return db_error(DB_ERR_FORMAT, "%s: bad lossless entry for %s: '%s'", path, name, ll);
    }
    int64_t sh[2] = {d0, nd == 2 ? d1 : 1};
    int64_t numel = shape_numel(nd, sh);
    if (numel < 0 || (uint64_t)numel * dtype_size(*dt) != raw || raw > ((uint64_t)1 << 40))
        return db_error(DB_ERR_FORMAT, "%s: lossless entry for %s: size %llu does not match its shape",
                        path, name, raw);
    void *buf = db_malloc(raw ? raw : 1);
    if (!buf)
        return db_error(DB_ERR_NOMEM, "%s: out of memory for %s", path, name);
    if (dc_lossless_decompress(c, ti->data, ti->nbytes, buf, raw) != DB_OK) {
        db_free(buf);
        return db_error(DB_ERR_FORMAT, "%s: %s does not decompress to %llu bytes (%s)", path,
                        name, raw, codec);
    }
    *ndim = nd;
    shape[0] = d0;
    shape[1] = nd == 2 ? d1 : 0;
    *data = buf;
    *nbytes = raw;
    *owned = true;
    return DB_OK;
}

/* Content checks that the safetensors layer cannot do: the method's own (check_parts), CSR row
 * pointers and column indices. */
static db_status check_content(const char *path, const dc_tensor *t)
{
    const dc_packed *pk = &t->packed;
    if (pk->method->check_parts && pk->method->check_parts(pk) != DB_OK)
        return db_error(DB_ERR_FORMAT, "%s: %s: %s", path, t->name, db_errmsg());
    const dc_part *rp = dc_packed_part(pk, "rowptr");
    if (!rp)
        return DB_OK;
    const uint32_t *r = rp->data;
    const dc_part *vals = dc_packed_part(pk, "values");
    int64_t nnz = vals ? vals->shape[0] : 0;
    if (r[0] != 0 || (int64_t)r[pk->N] != nnz)
        return db_error(DB_ERR_FORMAT, "%s: %s: row pointers do not span the %lld values", path,
                        t->name, (long long)nnz);
    for (int64_t i = 0; i < pk->N; i++)
        if (r[i + 1] < r[i] || (int64_t)(r[i + 1] - r[i]) > pk->K)
            return db_error(DB_ERR_FORMAT, "%s: %s: row pointer %lld is not monotone", path,
                            t->name, (long long)i);
    const dc_part *cp = dc_packed_part(pk, "cols");
    if (cp) {
        if (cp->shape[0] != nnz)
            return db_error(DB_ERR_FORMAT, "%s: %s: %lld columns for %lld values", path, t->name,
                            (long long)cp->shape[0], (long long)nnz);
        for (int64_t i = 0; i < nnz; i++) {
            int64_t c = cp->dtype == DT_U16 ? ((const uint16_t *)cp->data)[i]
                                            : ((const uint32_t *)cp->data)[i];
            if (c >= pk->K)
                return db_error(DB_ERR_FORMAT, "%s: %s: column index %lld >= K", path, t->name,
                                (long long)c);
        }
    }
    return DB_OK;
}

static db_status open_delta_tensor(dc_delta *d, const char *path, dc_tensor *t, int64_t N,
                                   int64_t K)
{
    const dc_method *m = d->method;
    dc_packed *pk = &t->packed;
    pk->method = m;
    pk->params = d->params;
    pk->N = N;
    pk->K = K;
    pk->tid = hash_str(t->name);
    if (dc_params_check(m, &d->params, N, K) != DB_OK)
        return db_error(DB_ERR_FORMAT, "%s: %s: %s", path, t->name, db_errmsg());
    dc_part want[DC_MAX_PARTS];
    int np = m->layout(&d->params, N, K, want);
    t->stored_bytes = 0;
    for (int i = 0; i < np; i++) {
        char name[512];
        snprintf(name, sizeof name, "%s.%s", t->name, want[i].suffix);
        dc_part *p = &pk->parts[pk->nparts];
        int64_t shape[TENSOR_MAX_DIMS] = {0};
        const void *data;
        size_t stored;
        db_status s = load_array(d, path, name, &p->dtype, &p->ndim, shape, &data, &p->nbytes,
                                 &p->owned, &stored);
        if (s)
            return s;
        p->suffix = want[i].suffix;
        p->data = (void *)data;
        p->shape[0] = shape[0];
        p->shape[1] = p->ndim > 1 ? shape[1] : 0;
        pk->nparts++;
        t->stored_bytes += stored;
        bool ok = p->dtype == want[i].dtype && p->ndim == want[i].ndim &&
                  (want[i].shape[0] < 0 || p->shape[0] == want[i].shape[0]) &&
                  (p->ndim < 2 || p->shape[1] == want[i].shape[1]);
        if (!ok) {
            char got[64], exp[64];
            shape_format(got, sizeof got, p->ndim, p->shape);
            shape_format(exp, sizeof exp, want[i].ndim, want[i].shape);
            return db_error(DB_ERR_FORMAT, "%s: %s is %s %s, the %s format needs %s %s", path,
                            name, dtype_name(p->dtype), got, m->name, dtype_name(want[i].dtype),
                            exp);
        }
    }
    return check_content(path, t);
}

db_status dc_delta_open(const char *path, const char *base_path, dc_delta **out)
{
    *out = NULL;
    dc_delta *d = db_calloc(1, sizeof *d);
    if (!d)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    db_status s = st_open(path, &d->f);
    if (s)
        goto fail;
    const char *fmt = st_meta_get(d->f, "format"), *ver = st_meta_get(d->f, "format_version");
    const char *meth = st_meta_get(d->f, "method"), *par = st_meta_get(d->f, "params");
    const char *bh = st_meta_get(d->f, "base_hash"), *th = st_meta_get(d->f, "target_hash");
    if (!fmt || strcmp(fmt, DC_FORMAT_MAGIC) != 0) {
        s = db_error(DB_ERR_FORMAT, "%s: not a deltabench delta (format is '%s')", path,
                     fmt ? fmt : "missing");
        goto fail;
    }
    char *vend = NULL;
    long vnum = ver ? strtol(ver, &vend, 10) : 0;
    if (!ver || vend == ver || *vend || vnum < 1 || vnum > DC_FORMAT_VERSION) {
        s = db_error(DB_ERR_FORMAT, "%s: format version '%s' (this build reads 1 to %d)", path,
                     ver ? ver : "missing", DC_FORMAT_VERSION);
        goto fail;
    }
    if (!meth || !(d->method = dc_method_find(meth))) {
        s = db_error(DB_ERR_FORMAT, "%s: unknown method '%s'", path, meth ? meth : "missing");
        goto fail;
    }
    if (vnum < d->method->format_since) {
        s = db_error(DB_ERR_FORMAT, "%s: %s delta of format version %ld, whose layout this build "
                     "no longer reads (it reads %s from version %d): compress it again", path,
                     meth, vnum, meth, d->method->format_since);
        goto fail;
    }
    if (!par || dc_params_parse(d->method, par, &d->params) != DB_OK) {
        s = db_error(DB_ERR_FORMAT, "%s: bad params '%s'", path, par ? par : "missing");
        goto fail;
    }
    if (!bh || !th || hash_parse_hex(bh, &d->base_hash) || hash_parse_hex(th, &d->target_hash)) {
        s = db_error(DB_ERR_FORMAT, "%s: missing or malformed base_hash/target_hash", path);
        goto fail;
    }
    /* tensors: one "tensor.X" entry each */
    size_t nm = st_meta_count(d->f), namebytes = 0;
    for (size_t i = 0; i < nm; i++)
        if (!strncmp(st_meta_key(d->f, i), "tensor.", 7)) {
            d->n++;
            namebytes += strlen(st_meta_key(d->f, i)) - 7 + 1;
        }
    d->t = db_calloc(d->n ? d->n : 1, sizeof *d->t);
    d->names = db_malloc(namebytes ? namebytes : 1);
    d->bufs = db_calloc(d->n ? d->n : 1, sizeof *d->bufs);
    if (!d->t || !d->names || !d->bufs) {
        s = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    size_t k = 0, o = 0, used = 0;
    for (size_t i = 0; i < nm; i++) {
        const char *key = st_meta_key(d->f, i);
        if (strncmp(key, "tensor.", 7))
            continue;
        dc_tensor *t = &d->t[k++];
        strcpy(d->names + o, key + 7);
        t->name = d->names + o;
        o += strlen(key + 7) + 1;
    }
    qsort(d->t, d->n, sizeof *d->t, tensor_cmp);
    for (size_t i = 0; i < d->n; i++) {
        dc_tensor *t = &d->t[i];
        char key[512];
        snprintf(key, sizeof key, "tensor.%s", t->name);
        const char *v = st_meta_get(d->f, key);
        long long N = 0, K = 0;
        char extra;
        if (!strcmp(v, "full")) {
            t->role = DC_ROLE_FULL;
            bool owned = false;
            size_t stored = 0;
            s = load_array(d, path, t->name, &t->dtype, &t->ndim, t->shape, &t->data, &t->nbytes,
                           &owned, &stored);
            if (s)
                goto fail;
            if (owned)
                d->bufs[d->nbufs++] = (void *)t->data;
            t->stored_bytes = stored;
            used += 1;
        } else if (sscanf(v, "delta %lld %lld%c", &N, &K, &extra) == 2 && N > 0 && K > 0) {
            t->role = DC_ROLE_DELTA;
            s = open_delta_tensor(d, path, t, N, K);
            if (s)
                goto fail;
            used += (size_t)t->packed.nparts;
        } else {
            s = db_error(DB_ERR_FORMAT, "%s: %s: bad tensor entry '%s'", path, key, v);
            goto fail;
        }
    }
    if (used != st_count(d->f)) {
        s = db_error(DB_ERR_FORMAT, "%s: %zu stored tensors belong to no entry", path,
                     st_count(d->f) - used);
        goto fail;
    }
    if (base_path) {
        st_model *b = NULL;
        uint64_t h = 0;
        s = st_model_open(base_path, &b);
        if (!s)
            s = hash_st_model(b, &h);
        st_model_close(b);
        if (s)
            goto fail;
        if (h != d->base_hash) {
            char a[17], e[17];
            hash_hex(h, a);
            hash_hex(d->base_hash, e);
            s = db_error(DB_ERR_FORMAT, "%s: made for another base (base hash %s, %s has %s)",
                         path, e, base_path, a);
            goto fail;
        }
    }
    *out = d;
    return DB_OK;
fail:
    dc_delta_close(d);
    return s;
}

const dc_method *dc_delta_method(const dc_delta *d) { return d->method; }
const dc_params *dc_delta_params(const dc_delta *d) { return &d->params; }
uint64_t dc_delta_base_hash(const dc_delta *d) { return d->base_hash; }
uint64_t dc_delta_target_hash(const dc_delta *d) { return d->target_hash; }
size_t dc_delta_count(const dc_delta *d) { return d->n; }
const dc_tensor *dc_delta_get(const dc_delta *d, size_t i) { return i < d->n ? &d->t[i] : NULL; }

const dc_tensor *dc_delta_find(const dc_delta *d, const char *name)
{
    dc_tensor key = {.name = name};
    return bsearch(&key, d->t, d->n, sizeof *d->t, tensor_cmp);
}

db_status dc_apply_ref(const dc_tensor *t, int64_t B, const float *x, float *y)
{
    if (t->role != DC_ROLE_DELTA)
        return db_error(DB_ERR_ARG, "%s is stored in full, not as a delta", t->name);
    if (B < 0)
        return db_error(DB_ERR_ARG, "apply: batch %lld < 0", (long long)B);
    return t->packed.method->apply_ref(&t->packed, B, x, y);
}

db_status dc_decode_dense(const dc_tensor *t, float *out)
{
    if (t->role == DC_ROLE_DELTA)
        return t->packed.method->decode_dense(&t->packed, out);
    db_tensor v;
    db_status s = tensor_view(&v, t->dtype, t->ndim, t->shape, (void *)t->data);
    return s ? s : tensor_to_f32(&v, out);
}
