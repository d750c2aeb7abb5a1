/* interval.h: confidence intervals behind the report's verdicts (`iv_` module).
 *
 * A verdict that reads a number reads it with its interval: timing ratios from interleaved
 * repetitions (a paired bootstrap of the ratio of medians), exact-match rates (Wilson),
 * means over evaluation windows or seeds (bootstrap, Student t), and the "share of the gain
 * kept" (a paired bootstrap over windows). Intervals are two-sided; a claimed effect whose
 * interval includes the null value is not reproduced here. Bootstraps are percentile
 * bootstraps driven by the project's seeded RNG, so the same seed gives the same interval. */
#ifndef DB_INTERVAL_H
#define DB_INTERVAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define IV_BOOT_REPS 2000 /* resamples of the bootstraps unless told otherwise */

typedef struct {
    double est;    /* the point estimate on the whole sample */
    double lo, hi; /* the interval, lo <= hi */
} iv_interval;

/* Quantile q in [0, 1] of ascending x[0..n) (n >= 1), linear between order statistics
 * (Hyndman-Fan type 7, R's and numpy's default). */
double iv_quantile_sorted(const double *x, size_t n, double q);
/* The standard normal quantile: Phi^-1(p) for p in (0, 1) (|error| < 1e-9). */
double iv_norm_quantile(double p);
/* Student t quantile t_{df}(0.975), df >= 1 (exact to 1e-6 for df <= 30, the normal-corrected
 * expansion beyond). */
double iv_t975(int64_t df);

/* Wilson score interval of k successes in n trials at level 1 - alpha (est = k / n).
 * DB_ERR_ARG unless 0 <= k <= n, n >= 1 and alpha in (0, 1). */
db_status iv_wilson(int64_t k, int64_t n, double alpha, iv_interval *out);
/* Mean of x[0..n) with the 95 % Student t interval (n >= 2; n = 1 gives lo = hi = est). */
db_status iv_mean_t95(const double *x, size_t n, iv_interval *out);
/* Mean of x[0..n) with a percentile-bootstrap interval at level 1 - alpha (reps resamples). */
db_status iv_boot_mean(const double *x, size_t n, int reps, uint64_t seed, double alpha,
                       iv_interval *out);
/* median(a) / median(b) over n paired repetitions (a[i], b[i] timed in the same round of an
 * interleaved run) with a paired percentile bootstrap: rounds are resampled, both medians
 * recomputed. Every value must be finite and b's positive. */
db_status iv_boot_ratio_of_medians(const double *a, const double *b, size_t n, int reps,
                                   uint64_t seed, double alpha, iv_interval *out);
/* The share of a gain kept, (mean(c) - mean(base)) / (mean(ft) - mean(base)), over n paired
 * evaluation windows (c, base and ft scored on window i), with a paired percentile bootstrap
 * over windows. DB_ERR_ARG when the whole-sample gain is 0. */
db_status iv_boot_gain_kept(const double *c, const double *base, const double *ft, size_t n,
                            int reps, uint64_t seed, double alpha, iv_interval *out);
/* sum(num) / sum(den) over n paired items (bits per byte: window i's summed loss in bits and
 * its scored tokens) with a paired percentile bootstrap over items. Every den[i] >= 0 and the
 * whole-sample sum(den) > 0. */
db_status iv_boot_ratio_of_sums(const double *num, const double *den, size_t n, int reps,
                                uint64_t seed, double alpha, iv_interval *out);
/* The gain kept by a stochastic method run with nseeds seeds (c[s][i]: seed s, window i; base
 * and ft as in iv_boot_gain_kept). est: the mean of the seeds' gains kept (the gain is linear
 * in c, so it equals the gain of the window-wise seed mean); the interval is the hull of the
 * paired window bootstrap of that seed mean and, with nseeds >= 2, the Student t interval over
 * the seeds' gains: window noise and seed noise, whichever is wider. nseeds == 1 is
 * iv_boot_gain_kept. */
db_status iv_boot_gain_kept_seeds(const double *const *c, size_t nseeds, const double *base,
                                  const double *ft, size_t n, int reps, uint64_t seed,
                                  double alpha, iv_interval *out);

/* One point of a curve of quality against ratio: x > 0, y its value with interval. */
typedef struct {
    double x;
    iv_interval y;
} iv_point;

/* The curve p[0..n) (x strictly ascending) at x = target, linear in log x between the two
 * points bracketing it: est, lo and hi each interpolated (the interval of a point between two
 * measured settings is taken as the interpolation of theirs). A target beyond an end by at
 * most the relative tolerance tol (0: none) reads that end's point (a method whose format
 * fixes its ratio: one point). DB_ERR_ARG when target lies further outside [p[0].x,
 * p[n-1].x] (the curve does not reach it) or x is not ascending. */
db_status iv_interp_log(const iv_point *p, size_t n, double target, double tol,
                        iv_interval *out);

/* Where a curve of quality against ratio reaches quality q: the largest ratio, read in log x
 * between points, at which it is still at q: between the last point at or above q and the next
 * (a curve that rises again after a dip is read at its last rise, the baseline's best). */
typedef enum {
    IV_CROSS_INSIDE = 0, /* the curve crosses q between two points */
    IV_CROSS_BELOW = -1, /* below q at every point: the ratio is at most p[0].x */
    IV_CROSS_ABOVE = 1,  /* at or above q at p[n-1]: the ratio is at least p[n-1].x */
} iv_cross;
typedef struct {
    double est, lo, hi;             /* ratios, clamped to [p[0].x, p[n-1].x] */
    iv_cross est_c, lo_c, hi_c;     /* how each was found */
} iv_crossing;
/* est: y.est reaching q.est; lo (pessimistic): y.lo reaching q.hi; hi (optimistic): y.hi
 * reaching q.lo. DB_ERR_ARG when n < 1 or x is not strictly ascending and positive. */
db_status iv_ratio_at(const iv_point *p, size_t n, iv_interval q, iv_crossing *out);

#endif
