/* interval.c: confidence intervals (interval.h). Small and exact where a closed form exists
 * (Wilson, t), percentile bootstraps over the project's RNG elsewhere. */
#include "core/interval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/rng.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double iv_quantile_sorted(const double *x, size_t n, double q)
{
    if (n == 1 || q <= 0)
        return x[0];
    if (q >= 1)
        return x[n - 1];
    double h = q * (double)(n - 1);
    size_t i = (size_t)h;
    return i + 1 < n ? x[i] + (h - (double)i) * (x[i + 1] - x[i]) : x[n - 1];
}

double iv_norm_quantile(double p)
{
    /* Acklam's rational approximation (relative error 1.15e-9), then one Halley step on erfc. */
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                               -2.759285104469687e+02, 1.383577518672690e+02,
                               -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                               -1.556989798598866e+02, 6.680131188771972e+01,
                               -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                               -2.400758277161838e+00, -2.549732539343734e+00,
                               4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                               2.445134137142996e+00, 3.754408661907416e+00};
    if (!(p > 0 && p < 1))
        return p == 0 ? -INFINITY : p == 1 ? INFINITY : NAN;
    double x;
    if (p < 0.02425) {
        double q = sqrt(-2 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else if (p > 1 - 0.02425) {
        double q = sqrt(-2 * log(1 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    } else {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }
    double e = 0.5 * erfc(-x / sqrt(2)) - p;
    double u = e * sqrt(2 * M_PI) * exp(x * x / 2);
    return x - u / (1 + x * u / 2);
}

double iv_t975(int64_t df)
{
    static const double t[] = {
        0,        12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624,
        2.306004, 2.262157,  2.228139, 2.200985, 2.178813, 2.160369, 2.144787, 2.131450,
        2.119905, 2.109816,  2.100922, 2.093024, 2.085963, 2.079614, 2.073873, 2.068658,
        2.063899, 2.059539,  2.055529, 2.051831, 2.048407, 2.045230, 2.042272};
    if (df < 1)
        return NAN;
    if (df <= 30)
        return t[df];
    /* Cornish-Fisher expansion of t in z (error < 1e-6 for df > 30). */
    double z = 1.959963984540054, v = (double)df, z2 = z * z;
    return z + (z2 + 1) * z / (4 * v) + ((5 * z2 + 16) * z2 + 3) * z / (96 * v * v) +
           (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / (384 * v * v * v);
}

db_status iv_wilson(int64_t k, int64_t n, double alpha, iv_interval *out)
{
    if (n < 1 || k < 0 || k > n || !(alpha > 0 && alpha < 1))
        return db_error(DB_ERR_ARG, "wilson interval: k = %lld of n = %lld at alpha %g",
                        (long long)k, (long long)n, alpha);
    double z = iv_norm_quantile(1 - alpha / 2), nn = (double)n, p = (double)k / nn;
    double den = 1 + z * z / nn;
    double mid = (p + z * z / (2 * nn)) / den;
    double half = z * sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / den;
    out->est = p;
    out->lo = k == 0 ? 0 : mid - half;
    out->hi = k == n ? 1 : mid + half;
    return DB_OK;
}

static db_status check_finite(const double *x, size_t n, const char *what)
{
    if (!x || n == 0)
        return db_error(DB_ERR_ARG, "%s: no values", what);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return db_error(DB_ERR_ARG, "%s: value %zu is not finite", what, i);
    return DB_OK;
}

static double mean(const double *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return s / (double)n;
}

db_status iv_mean_t95(const double *x, size_t n, iv_interval *out)
{
    db_status s = check_finite(x, n, "mean interval");
    if (s != DB_OK)
        return s;
    double m = mean(x, n), ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    double half = n > 1 ? iv_t975((int64_t)n - 1) * sqrt(ss / (double)(n - 1) / (double)n) : 0;
    *out = (iv_interval){m, m - half, m + half};
    return DB_OK;
}

/* The percentile bootstrap's driver: stat() of reps resamples of n indices into boot[]. */
typedef double (*boot_stat)(const size_t *idx, size_t n, const void *ctx, double *scratch);

static db_status bootstrap(size_t n, int reps, uint64_t seed, double alpha, boot_stat stat,
                           const void *ctx, iv_interval *out)
{
    if (reps < 10 || !(alpha > 0 && alpha < 1))
        return db_error(DB_ERR_ARG, "bootstrap: %d resamples at alpha %g", reps, alpha);
    size_t *idx = db_malloc_array(n, sizeof *idx);
    double *scratch = db_malloc_array(2 * n, sizeof *scratch);
    double *boot = db_malloc_array((size_t)reps, sizeof *boot);
    if (!idx || !scratch || !boot) {
        db_free(idx), db_free(scratch), db_free(boot);
        return db_error(DB_ERR_NOMEM, "bootstrap: out of memory (%zu values)", n);
    }
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    double est = stat(idx, n, ctx, scratch);
    db_rng r;
    rng_seed(&r, seed);
    int m = 0;
    for (int b = 0; b < reps; b++) {
        for (size_t i = 0; i < n; i++)
            idx[i] = (size_t)(rng_f64(&r) * (double)n);
        double v = stat(idx, n, ctx, scratch);
        if (isfinite(v))
            boot[m++] = v; /* a resample with no gain (gain kept) has no ratio: left out */
    }
    db_status s = DB_OK;
    if (m < reps / 2)
        s = db_error(DB_ERR_ARG, "bootstrap: only %d of %d resamples had a finite statistic",
                     m, reps);
    else {
        qsort(boot, (size_t)m, sizeof *boot, cmp_double);
        *out = (iv_interval){est, iv_quantile_sorted(boot, (size_t)m, alpha / 2),
                             iv_quantile_sorted(boot, (size_t)m, 1 - alpha / 2)};
    }
    db_free(idx), db_free(scratch), db_free(boot);
    return s;
}

static double stat_mean(const size_t *idx, size_t n, const void *ctx, double *scratch)
{
    (void)scratch;
    const double *x = ctx;
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[idx[i]];
    return s / (double)n;
}

db_status iv_boot_mean(const double *x, size_t n, int reps, uint64_t seed, double alpha,
                       iv_interval *out)
{
    db_status s = check_finite(x, n, "bootstrap mean");
    return s != DB_OK ? s : bootstrap(n, reps, seed, alpha, stat_mean, x, out);
}

typedef struct {
    const double *a, *b, *c;
} triple;

static double median_of(const double *x, const size_t *idx, size_t n, double *tmp)
{
    for (size_t i = 0; i < n; i++)
        tmp[i] = x[idx[i]];
    qsort(tmp, n, sizeof *tmp, cmp_double);
    return iv_quantile_sorted(tmp, n, 0.5);
}

static double stat_ratio_of_medians(const size_t *idx, size_t n, const void *ctx, double *scratch)
{
    const triple *t = ctx;
    return median_of(t->a, idx, n, scratch) / median_of(t->b, idx, n, scratch + n);
}

db_status iv_boot_ratio_of_medians(const double *a, const double *b, size_t n, int reps,
                                   uint64_t seed, double alpha, iv_interval *out)
{
    db_status s;
    if ((s = check_finite(a, n, "ratio of medians")) != DB_OK ||
        (s = check_finite(b, n, "ratio of medians")) != DB_OK)
        return s;
    for (size_t i = 0; i < n; i++)
        if (!(b[i] > 0))
            return db_error(DB_ERR_ARG, "ratio of medians: denominator %zu is not positive", i);
    triple t = {a, b, NULL};
    return bootstrap(n, reps, seed, alpha, stat_ratio_of_medians, &t, out);
}

static double stat_gain_kept(const size_t *idx, size_t n, const void *ctx, double *scratch)
{
    (void)scratch;
    const triple *t = ctx;
    double c = 0, base = 0, ft = 0;
    for (size_t i = 0; i < n; i++)
        c += t->a[idx[i]], base += t->b[idx[i]], ft += t->c[idx[i]];
    return ft == base ? NAN : (c - base) / (ft - base);
}

db_status iv_boot_gain_kept(const double *c, const double *base, const double *ft, size_t n,
                            int reps, uint64_t seed, double alpha, iv_interval *out)
{
    db_status s;
    if ((s = check_finite(c, n, "gain kept")) != DB_OK ||
        (s = check_finite(base, n, "gain kept")) != DB_OK ||
        (s = check_finite(ft, n, "gain kept")) != DB_OK)
        return s;
    if (mean(ft, n) == mean(base, n))
        return db_error(DB_ERR_ARG, "gain kept: the fine-tune gains nothing over the base");
    triple t = {c, base, ft};
    return bootstrap(n, reps, seed, alpha, stat_gain_kept, &t, out);
}

static double stat_ratio_of_sums(const size_t *idx, size_t n, const void *ctx, double *scratch)
{
    (void)scratch;
    const triple *t = ctx;
    double a = 0, b = 0;
    for (size_t i = 0; i < n; i++)
        a += t->a[idx[i]], b += t->b[idx[i]];
    return b > 0 ? a / b : NAN;
}

db_status iv_boot_ratio_of_sums(const double *num, const double *den, size_t n, int reps,
                                uint64_t seed, double alpha, iv_interval *out)
{
    db_status s;
    if ((s = check_finite(num, n, "ratio of sums")) != DB_OK ||
        (s = check_finite(den, n, "ratio of sums")) != DB_OK)
        return s;
    for (size_t i = 0; i < n; i++)
        if (den[i] < 0)
            return db_error(DB_ERR_ARG, "ratio of sums: denominator %zu is negative", i);
    if (!(mean(den, n) > 0))
        return db_error(DB_ERR_ARG, "ratio of sums: the denominators sum to 0");
    triple t = {num, den, NULL};
    return bootstrap(n, reps, seed, alpha, stat_ratio_of_sums, &t, out);
}

db_status iv_boot_gain_kept_seeds(const double *const *c, size_t nseeds, const double *base,
                                  const double *ft, size_t n, int reps, uint64_t seed,
                                  double alpha, iv_interval *out)
{
    if (!c || nseeds == 0)
        return db_error(DB_ERR_ARG, "gain kept over seeds: no seeds");
    if (nseeds == 1)
        return iv_boot_gain_kept(c[0], base, ft, n, reps, seed, alpha, out);
    db_status s;
    for (size_t k = 0; k < nseeds; k++)
        if ((s = check_finite(c[k], n, "gain kept over seeds")) != DB_OK)
            return s;
    if ((s = check_finite(base, n, "gain kept over seeds")) != DB_OK ||
        (s = check_finite(ft, n, "gain kept over seeds")) != DB_OK)
        return s;
    double gap = mean(ft, n) - mean(base, n);
    if (gap == 0)
        return db_error(DB_ERR_ARG, "gain kept: the fine-tune gains nothing over the base");
    double *avg = db_malloc_array(n, sizeof *avg), *per = db_malloc_array(nseeds, sizeof *per);
    if (!avg || !per) {
        db_free(avg), db_free(per);
        return db_error(DB_ERR_NOMEM, "gain kept over seeds: out of memory (%zu values)", n);
    }
    for (size_t i = 0; i < n; i++) {
        double a = 0;
        for (size_t k = 0; k < nseeds; k++)
            a += c[k][i];
        avg[i] = a / (double)nseeds;
    }
    for (size_t k = 0; k < nseeds; k++)
        per[k] = (mean(c[k], n) - mean(base, n)) / gap;
    iv_interval w, t;
    if ((s = iv_boot_gain_kept(avg, base, ft, n, reps, seed, alpha, &w)) == DB_OK &&
        (s = iv_mean_t95(per, nseeds, &t)) == DB_OK) {
        if (alpha != 0.05) /* the t interval is 95 % only: scale its half-width by z ratio */
            t.lo = t.est - (t.est - t.lo) * iv_norm_quantile(1 - alpha / 2) / 1.959963984540054,
            t.hi = t.est + (t.hi - t.est) * iv_norm_quantile(1 - alpha / 2) / 1.959963984540054;
        *out = (iv_interval){t.est, fmin(w.lo, t.lo), fmax(w.hi, t.hi)};
    }
    db_free(avg), db_free(per);
    return s;
}

static db_status check_curve(const iv_point *p, size_t n, const char *what)
{
    if (!p || n == 0)
        return db_error(DB_ERR_ARG, "%s: no points", what);
    for (size_t i = 0; i < n; i++) {
        if (!(p[i].x > 0) || !isfinite(p[i].x) || !isfinite(p[i].y.est) ||
            !isfinite(p[i].y.lo) || !isfinite(p[i].y.hi))
            return db_error(DB_ERR_ARG, "%s: point %zu is not finite with x > 0", what, i);
        if (i && !(p[i].x > p[i - 1].x))
            return db_error(DB_ERR_ARG, "%s: x is not strictly ascending at point %zu", what, i);
    }
    return DB_OK;
}

db_status iv_interp_log(const iv_point *p, size_t n, double target, double tol,
                        iv_interval *out)
{
    db_status s = check_curve(p, n, "interpolation");
    if (s != DB_OK)
        return s;
    if (!(tol >= 0 && tol < 1))
        return db_error(DB_ERR_ARG, "interpolation: tolerance %g outside [0, 1)", tol);
    if (target < p[0].x && target >= p[0].x * (1 - tol))
        target = p[0].x;
    if (target > p[n - 1].x && target <= p[n - 1].x * (1 + tol))
        target = p[n - 1].x;
    if (!(target >= p[0].x && target <= p[n - 1].x))
        return db_error(DB_ERR_ARG, "interpolation: %g lies outside the measured %g..%g", target,
                        p[0].x, p[n - 1].x);
    size_t i = 0;
    while (i + 1 < n && p[i + 1].x < target)
        i++;
    if (i + 1 == n || p[i].x == target) {
        *out = p[i].y;
        return DB_OK;
    }
    double w = (log(target) - log(p[i].x)) / (log(p[i + 1].x) - log(p[i].x));
    const iv_interval *a = &p[i].y, *b = &p[i + 1].y;
    *out = (iv_interval){a->est + w * (b->est - a->est), a->lo + w * (b->lo - a->lo),
                         a->hi + w * (b->hi - a->hi)};
    return DB_OK;
}

/* The largest ratio at which the curve x -> y(p[i]) (sel: 0 est, 1 lo, 2 hi) is at q. */
static double cross(const iv_point *p, size_t n, int sel, double q, iv_cross *how)
{
#define SEL(i) (sel == 0 ? p[i].y.est : sel == 1 ? p[i].y.lo : p[i].y.hi)
    if (SEL(n - 1) >= q) {
        *how = IV_CROSS_ABOVE;
        return p[n - 1].x;
    }
    for (size_t i = n - 1; i-- > 0;)
        if (SEL(i) >= q) {
            double w = (SEL(i) - q) / (SEL(i) - SEL(i + 1)); /* SEL(i) >= q > SEL(i + 1) */
            *how = IV_CROSS_INSIDE;
            return exp(log(p[i].x) + w * (log(p[i + 1].x) - log(p[i].x)));
        }
    *how = IV_CROSS_BELOW;
    return p[0].x;
#undef SEL
}

db_status iv_ratio_at(const iv_point *p, size_t n, iv_interval q, iv_crossing *out)
{
    db_status s = check_curve(p, n, "ratio at quality");
    if (s != DB_OK)
        return s;
    if (!isfinite(q.est) || !isfinite(q.lo) || !isfinite(q.hi) || q.lo > q.hi)
        return db_error(DB_ERR_ARG, "ratio at quality: the quality interval is not finite");
    out->est = cross(p, n, 0, q.est, &out->est_c);
    out->lo = cross(p, n, 1, q.hi, &out->lo_c);
    out->hi = cross(p, n, 2, q.lo, &out->hi_c);
    if (out->lo > out->est) /* a curve whose intervals cross each other: keep lo <= est <= hi */
        out->lo = out->est, out->lo_c = out->est_c;
    if (out->hi < out->est)
        out->hi = out->est, out->hi_c = out->est_c;
    return DB_OK;
}
