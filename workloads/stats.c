/* stats.c: trace statistics (estimators in stats.h and docs/workloads.md).
 *
 * Token percentiles need sorted lengths: an LSD radix sort (two 16-bit passes) sorts 10M
 * lengths in well under a second, where qsort would take several. The per-second peak needs no
 * histogram array: arrivals are sorted, so each bin is a run. */
#include "workloads/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

void trace_stats_free(trace_stats *st)
{
    if (!st)
        return;
    db_free(st->model_counts);
    db_free(st->model_rank);
    memset(st, 0, sizeof *st);
}

int32_t trace_percentile(const int32_t *sorted, size_t n, int p)
{
    size_t k = ((size_t)p * n + 99) / 100; /* ceil(p n / 100) */
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return sorted[k - 1];
}

/* Sorts non-negative int32 values ascending; tmp holds n values, cnt 65536 counters. */
static void radix_sort(int32_t *a, int32_t *tmp, size_t n, size_t *cnt)
{
    for (int pass = 0; pass < 2; pass++) {
        int shift = 16 * pass;
        memset(cnt, 0, 65536 * sizeof *cnt);
        for (size_t i = 0; i < n; i++)
            cnt[((uint32_t)a[i] >> shift) & 0xffff]++;
        size_t sum = 0;
        for (size_t b = 0; b < 65536; b++) {
            size_t c = cnt[b];
            cnt[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[cnt[((uint32_t)a[i] >> shift) & 0xffff]++] = a[i];
        memcpy(a, tmp, n * sizeof *a);
    }
}

static int desc_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a < b) - (a > b);
}

/* E[ln r] under p_r proportional to r^-a, r = 1..m (lnr[r-1] = ln r). */
static double mean_log_rank(const double *lnr, size_t m, double a)
{
    double z = 0.0, s = 0.0;
    for (size_t r = 0; r < m; r++) {
        double w = exp(-a * lnr[r]);
        z += w;
        s += w * lnr[r];
    }
    return s / z;
}

double trace_zipf_fit(const int64_t *counts, size_t m)
{
    if (m < 2)
        return NAN;
    int64_t *c = db_malloc_array(m, sizeof *c);
    double *lnr = db_malloc_array(m, sizeof *lnr);
    double a = NAN;
    if (!c || !lnr)
        goto done;
    memcpy(c, counts, m * sizeof *c);
    qsort(c, m, sizeof *c, desc_i64);
    /* The log-likelihood sum_r c_r (-a ln r) - N ln Z(a) is concave in a; its derivative is
     * N (E_a[ln r] - S) with S the observed mean log rank, and E_a[ln r] falls from the uniform
     * value (a = 0) to 0 (a -> infinity). Sorting makes S <= the uniform value, so the root is
     * at a >= 0; bisection finds it to machine precision. */
    double n = 0.0, sl = 0.0;
    for (size_t r = 0; r < m; r++) {
        lnr[r] = log((double)(r + 1));
        n += (double)c[r];
        sl += (double)c[r] * lnr[r];
    }
    if (n <= 0)
        goto done;
    double S = sl / n;
    if (S <= 0) {
        a = INFINITY;
        goto done;
    }
    double lo = 0.0, hi = 1.0;
    if (mean_log_rank(lnr, m, 0.0) <= S) {
        a = 0.0;
        goto done;
    }
    while (mean_log_rank(lnr, m, hi) > S) {
        lo = hi;
        hi *= 2;
        if (hi > 1e4) {
            a = INFINITY;
            goto done;
        }
    }
    for (int it = 0; it < 200 && hi - lo > 1e-13 * hi; it++) {
        double mid = 0.5 * (lo + hi);
        if (mean_log_rank(lnr, m, mid) > S)
            lo = mid;
        else
            hi = mid;
    }
    a = 0.5 * (lo + hi);
done:
    db_free(c);
    db_free(lnr);
    return a;
}

typedef struct {
    int64_t count;
    int32_t id;
} model_count;

static int cmp_rank(const void *x, const void *y)
{
    const model_count *a = x, *b = y;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

db_status trace_stats_compute(const trace_table *t, int32_t nmodels, trace_stats *st)
{
    memset(st, 0, sizeof *st);
    if (t->n == 0)
        return db_error(DB_ERR_ARG, "trace has no requests");
    size_t n = t->n;
    const trace_req *q = t->req;
    st->n = n;
    st->first_s = q[0].arrival_s;
    st->last_s = q[n - 1].arrival_s;
    st->span_s = st->last_s - st->first_s;
    st->mean_rate = st->span_s > 0 ? (double)(n - 1) / st->span_s : NAN;

    /* Inter-arrival times: two passes (mean, then squared deviations) for accuracy. */
    st->ia_mean = st->ia_std = st->ia_cv = NAN;
    if (n >= 2) {
        double mean = st->span_s / (double)(n - 1), ss = 0.0;
        for (size_t i = 1; i < n; i++) {
            double d = q[i].arrival_s - q[i - 1].arrival_s - mean;
            ss += d * d;
        }
        st->ia_mean = mean;
        st->ia_std = sqrt(ss / (double)(n - 1));
        st->ia_cv = mean > 0 ? st->ia_std / mean : NAN;
    }

    /* One-second bins as runs of the sorted arrivals. */
    st->nseconds = (int64_t)floor(st->span_s) + 1;
    int64_t cur = -1, run = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t sec = (int64_t)floor(q[i].arrival_s - st->first_s);
        if (sec != cur) {
            cur = sec;
            run = 0;
        }
        if (++run > st->peak_count) {
            st->peak_count = run;
            st->peak_second = sec;
        }
    }
    st->peak_to_mean = (double)st->peak_count / ((double)n / (double)st->nseconds);

    /* Models. */
    db_status s = DB_OK;
    int32_t *lens = NULL, *tmp = NULL;
    size_t *cnt = NULL;
    if (t->has_models) {
        int32_t maxid = -1;
        for (size_t i = 0; i < n; i++) {
            if (q[i].model < 0) {
                s = db_error(DB_ERR_ARG, "request %lld has no model",
                             (long long)q[i].request_id);
                goto done;
            }
            if (q[i].model > maxid)
                maxid = q[i].model;
        }
        if (nmodels > 0 && maxid >= nmodels) {
            s = db_error(DB_ERR_ARG, "the trace has model %d, outside the %d models declared",
                         maxid, nmodels);
            goto done;
        }
        int32_t m = nmodels > 0 ? nmodels : maxid + 1;
        st->nmodels = m;
        st->model_counts = db_calloc((size_t)m, sizeof *st->model_counts);
        st->model_rank = db_malloc_array((size_t)m, sizeof *st->model_rank);
        if (!st->model_counts || !st->model_rank) {
            s = db_error(DB_ERR_NOMEM, "out of memory for %d models", m);
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            st->model_counts[q[i].model]++;
        model_count *mc = db_malloc_array((size_t)m, sizeof *mc);
        if (!mc) {
            s = db_error(DB_ERR_NOMEM, "out of memory for %d models", m);
            goto done;
        }
        for (int32_t i = 0; i < m; i++) {
            mc[i] = (model_count){st->model_counts[i], i};
            st->models_used += st->model_counts[i] > 0;
        }
        qsort(mc, (size_t)m, sizeof *mc, cmp_rank);
        for (int32_t i = 0; i < m; i++)
            st->model_rank[i] = mc[i].id;
        db_free(mc);
        st->zipf_a = trace_zipf_fit(st->model_counts, (size_t)m);
    } else {
        st->zipf_a = NAN;
    }

    /* Lengths. */
    lens = db_malloc_array(n, sizeof *lens);
    tmp = db_malloc_array(n, sizeof *tmp);
    cnt = db_malloc_array(65536, sizeof *cnt);
    if (!lens || !tmp || !cnt) {
        s = db_error(DB_ERR_NOMEM, "out of memory for %zu requests", n);
        goto done;
    }
    static const int pct[3] = {50, 90, 99};
    for (int side = 0; side < 2; side++) {
        double sum = 0.0;
        for (size_t i = 0; i < n; i++) {
            lens[i] = side == 0 ? q[i].prompt_tokens : q[i].output_tokens;
            sum += lens[i];
        }
        radix_sort(lens, tmp, n, cnt);
        int32_t *pp = side == 0 ? st->prompt_p : st->output_p;
        for (int k = 0; k < 3; k++)
            pp[k] = trace_percentile(lens, n, pct[k]);
        if (side == 0) {
            st->prompt_min = lens[0];
            st->prompt_max = lens[n - 1];
            st->prompt_mean = sum / (double)n;
        } else {
            st->output_min = lens[0];
            st->output_max = lens[n - 1];
            st->output_mean = sum / (double)n;
        }
    }
done:
    db_free(lens);
    db_free(tmp);
    db_free(cnt);
    if (s != DB_OK)
        trace_stats_free(st);
    return s;
}
