/* dstats.c: statistics of a delta's distribution (see dstats.h). Two passes over the tensor in
 * double precision: the mean, then the central moments, the per-row RMS and maximum and the
 * per-column sums of squares. */
#include "compressors/dstats.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/llama_names.h"
#include "core/safetensors.h"
#include "core/tensor.h"

/* Standard deviation of ln v[i] over the entries with v[i] > 0 (0 with fewer than two). */
static double log_spread(const double *v, int64_t n)
{
    double s = 0, s2 = 0;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (v[i] > 0) {
            double l = log(v[i]);
            s += l, s2 += l * l, k++;
        }
    if (k < 2)
        return 0;
    double m = s / (double)k, var = s2 / (double)k - m * m;
    return var > 0 ? sqrt(var) : 0;
}

db_status dstat_compute(const float *x, int64_t R, int64_t C, double near, dstat_row *out)
{
    memset(out, 0, sizeof *out);
    if (R < 1 || C < 1 || !(near >= 0))
        return db_error(DB_ERR_ARG, "dstats: need a non-empty shape and near >= 0");
    double *colss = db_calloc((size_t)C, sizeof *colss);
    double *rowrms = db_malloc_array((size_t)R, sizeof *rowrms);
    if (!colss || !rowrms) {
        db_free(colss), db_free(rowrms);
        return db_error(DB_ERR_NOMEM, "dstats: out of memory for a [%lld, %lld] tensor",
                        (long long)R, (long long)C);
    }
    out->rows = R, out->cols = C;
    const double n = (double)R * (double)C;
    double sum = 0;
    for (int64_t i = 0; i < R * C; i++)
        sum += x[i];
    const double mean = sum / n;
    double m2 = 0, m4 = 0, ss = 0, maxrat = 0;
    int64_t rows_nz = 0;
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * C;
        double rss = 0, rmax = 0;
        for (int64_t c = 0; c < C; c++) {
            const double v = xr[c], d = v - mean, d2 = d * d;
            m2 += d2, m4 += d2 * d2;
            rss += v * v;
            colss[c] += v * v;
            rmax = fabs(v) > rmax ? fabs(v) : rmax;
        }
        ss += rss;
        rowrms[r] = sqrt(rss / (double)C);
        if (rowrms[r] > 0)
            maxrat += rmax / rowrms[r], rows_nz++;
    }
    m2 /= n, m4 /= n;
    out->rms = sqrt(ss / n);
    out->kurtosis = m2 > 0 ? m4 / (m2 * m2) : 0;
    out->row_max_rms = rows_nz ? maxrat / (double)rows_nz : 0;
    const double thr = near * out->rms;
    int64_t below = 0;
    for (int64_t i = 0; i < R * C; i++)
        below += fabs((double)x[i]) < thr;
    out->near_zero = (double)below / n;
    out->row_spread = log_spread(rowrms, R);
    for (int64_t c = 0; c < C; c++)
        colss[c] = sqrt(colss[c] / (double)R);
    out->col_spread = log_spread(colss, C);
    db_free(colss), db_free(rowrms);
    return DB_OK;
}

/* Δ of one tensor pair into d (numel floats); bw a numel scratch. */
static db_status pair_delta(const char *base, const char *target, const st_tensor_info *tb,
                            const st_tensor_info *tt, float *d, float *bw)
{
    db_tensor vb, vt;
    db_status s = st_view(tb, &vb);
    if (!s)
        s = st_view(tt, &vt);
    if (!s && (s = tensor_to_f32(&vb, bw)))
        db_error(s, "%s: %s: %s", base, tb->name, db_errmsg());
    if (!s && (s = tensor_to_f32(&vt, d)))
        db_error(s, "%s: %s: %s", target, tt->name, db_errmsg());
    if (s)
        return s;
    const int64_t n = shape_numel(tb->ndim, tb->shape);
    for (int64_t i = 0; i < n; i++)
        d[i] -= bw[i];
    return DB_OK;
}

db_status dstat_pair(const char *base, const char *target, double near, dstat_row **rows,
                     size_t *n)
{
    *rows = NULL, *n = 0;
    st_model *mb = NULL, *mt = NULL;
    float *d = NULL, *bw = NULL;
    dstat_row *out = NULL;
    db_status s = st_model_open(base, &mb);
    if (!s)
        s = st_model_open(target, &mt);
    if (s)
        goto done;
    size_t nt = st_model_count(mb), nr = 0, maxn = 1;
    for (size_t i = 0; i < nt; i++) {
        const st_tensor_info *tb = st_model_get(mb, i);
        llama_tensor kind;
        int layer;
        if (!llama_parse(tb->name, &kind, &layer) || !llama_is_linear(kind))
            continue;
        const st_tensor_info *tt = st_model_find(mt, tb->name);
        if (!tt) {
            s = db_error(DB_ERR_FORMAT, "%s: no tensor %s (the base has it)", target, tb->name);
            goto done;
        }
        if (tb->ndim != 2 || tt->ndim != 2 || tb->shape[0] != tt->shape[0] ||
            tb->shape[1] != tt->shape[1]) {
            s = db_error(DB_ERR_SHAPE, "%s: %s is not 2-D of the base's shape", target, tb->name);
            goto done;
        }
        size_t k = (size_t)(tb->shape[0] * tb->shape[1]);
        maxn = k > maxn ? k : maxn;
        nr++;
    }
    if (!nr) {
        s = db_error(DB_ERR_FORMAT, "%s: no linear projection tensors (HF Llama names)", base);
        goto done;
    }
    out = db_calloc(nr, sizeof *out);
    d = db_malloc_array(maxn, sizeof *d);
    bw = db_malloc_array(maxn, sizeof *bw);
    if (!out || !d || !bw) {
        s = db_error(DB_ERR_NOMEM, "dstats: out of memory");
        goto done;
    }
    for (size_t i = 0, j = 0; i < nt && !s; i++) {
        const st_tensor_info *tb = st_model_get(mb, i);
        llama_tensor kind;
        int layer;
        if (!llama_parse(tb->name, &kind, &layer) || !llama_is_linear(kind))
            continue;
        dstat_row *r = &out[j++];
        s = pair_delta(base, target, tb, st_model_find(mt, tb->name), d, bw);
        if (!s)
            s = dstat_compute(d, tb->shape[0], tb->shape[1], near, r);
        snprintf(r->name, sizeof r->name, "%s", tb->name);
    }
    if (!s)
        *rows = out, *n = nr, out = NULL;
done:
    db_free(out), db_free(d), db_free(bw);
    st_model_close(mb);
    st_model_close(mt);
    return s;
}
