/* check_interval.c: the confidence intervals of core/interval.h against known values (Wilson
 * from its closed form, t quantiles from tables, type-7 quantiles from numpy's definition),
 * the bootstraps' determinism and their coverage on simulated data of known truth. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "core/alloc.h"
#include "core/interval.h"
#include "core/rng.h"
#include "testlib.h"

#define TOL_CLOSED 1e-9 /* closed forms: Wilson, quantiles of sorted data */
#define TOL_TABLE 2e-6  /* t quantiles: 6-decimal tables */

START_TEST(test_quantile_type7)
{
    const double x[] = {1, 2, 3, 4};
    ck_assert_double_eq_tol(iv_quantile_sorted(x, 4, 0.5), 2.5, TOL_CLOSED);
    ck_assert_double_eq_tol(iv_quantile_sorted(x, 4, 0.25), 1.75, TOL_CLOSED);
    ck_assert_double_eq_tol(iv_quantile_sorted(x, 4, 0.0), 1, TOL_CLOSED);
    ck_assert_double_eq_tol(iv_quantile_sorted(x, 4, 1.0), 4, TOL_CLOSED);
    ck_assert_double_eq_tol(iv_quantile_sorted(x, 1, 0.7), 1, TOL_CLOSED);
    const double y[] = {10, 20, 30, 40, 50};
    ck_assert_double_eq_tol(iv_quantile_sorted(y, 5, 0.975), 49, TOL_CLOSED);
}
END_TEST

START_TEST(test_normal_and_t_quantiles)
{
    ck_assert_double_eq_tol(iv_norm_quantile(0.975), 1.959963984540054, 1e-9);
    ck_assert_double_eq_tol(iv_norm_quantile(0.5), 0, 1e-12);
    ck_assert_double_eq_tol(iv_norm_quantile(0.001), -3.090232306167813, 1e-9);
    ck_assert_double_eq_tol(iv_norm_quantile(0.9999), 3.719016485455709, 1e-9);
    ck_assert(isnan(iv_norm_quantile(1.5)));
    ck_assert_double_eq_tol(iv_t975(1), 12.706205, TOL_TABLE);
    ck_assert_double_eq_tol(iv_t975(10), 2.228139, TOL_TABLE);
    ck_assert_double_eq_tol(iv_t975(30), 2.042272, TOL_TABLE);
    ck_assert_double_eq_tol(iv_t975(31), 2.039513, TOL_TABLE);
    ck_assert_double_eq_tol(iv_t975(60), 2.000298, TOL_TABLE);
    ck_assert_double_eq_tol(iv_t975(120), 1.979930, TOL_TABLE);
    ck_assert(isnan(iv_t975(0)));
}
END_TEST

START_TEST(test_wilson_known_values)
{
    iv_interval v;
    ck_assert_int_eq(iv_wilson(5, 10, 0.05, &v), DB_OK);
    ck_assert_double_eq_tol(v.est, 0.5, TOL_CLOSED);
    ck_assert_double_eq_tol(v.lo, 0.236593090512564, TOL_CLOSED);
    ck_assert_double_eq_tol(v.hi, 0.7634069094874361, TOL_CLOSED);
    ck_assert_int_eq(iv_wilson(0, 10, 0.05, &v), DB_OK);
    ck_assert_double_eq_tol(v.lo, 0, TOL_CLOSED);
    ck_assert_double_eq_tol(v.hi, 0.2775327998628892, TOL_CLOSED);
    ck_assert_int_eq(iv_wilson(81, 100, 0.05, &v), DB_OK);
    ck_assert_double_eq_tol(v.lo, 0.7222115462093562, TOL_CLOSED);
    ck_assert_double_eq_tol(v.hi, 0.8748524849023126, TOL_CLOSED);
    ck_assert_int_eq(iv_wilson(10, 10, 0.05, &v), DB_OK);
    ck_assert_double_eq_tol(v.hi, 1, TOL_CLOSED);
    ck_assert_int_eq(iv_wilson(11, 10, 0.05, &v), DB_ERR_ARG);
    ck_assert_int_eq(iv_wilson(0, 0, 0.05, &v), DB_ERR_ARG);
    ck_assert_int_eq(iv_wilson(1, 2, 0, &v), DB_ERR_ARG);
}
END_TEST

START_TEST(test_mean_t95)
{
    const double x[] = {1, 2, 3, 4, 5};
    iv_interval v;
    ck_assert_int_eq(iv_mean_t95(x, 5, &v), DB_OK);
    /* mean 3, s = sqrt(2.5), t_4 = 2.776445: half-width 2.776445 * sqrt(2.5 / 5) */
    ck_assert_double_eq_tol(v.est, 3, TOL_CLOSED);
    ck_assert_double_eq_tol(v.hi - v.est, 2.776445 * sqrt(0.5), TOL_TABLE);
    ck_assert_double_eq_tol(v.est - v.lo, 2.776445 * sqrt(0.5), TOL_TABLE);
    ck_assert_int_eq(iv_mean_t95(x, 1, &v), DB_OK);
    ck_assert(v.lo == v.hi && v.lo == 1);
    const double bad[] = {1, NAN};
    ck_assert_int_eq(iv_mean_t95(bad, 2, &v), DB_ERR_ARG);
}
END_TEST

START_TEST(test_bootstrap_determinism_and_degenerate)
{
    double a[12], b[12];
    for (int i = 0; i < 12; i++)
        a[i] = 2.0 * (1 + i), b[i] = 1 + i;
    iv_interval v, w;
    /* a = 2b on every round: every resample gives exactly 2 */
    ck_assert_int_eq(iv_boot_ratio_of_medians(a, b, 12, 500, 7, 0.05, &v), DB_OK);
    ck_assert_double_eq_tol(v.est, 2, TOL_CLOSED);
    ck_assert_double_eq_tol(v.lo, 2, TOL_CLOSED);
    ck_assert_double_eq_tol(v.hi, 2, TOL_CLOSED);
    /* the same seed, the same interval; another seed, another one on noisy data */
    db_rng r;
    rng_seed(&r, 3);
    for (int i = 0; i < 12; i++)
        a[i] = 1 + 0.3 * rng_normal(&r);
    ck_assert_int_eq(iv_boot_mean(a, 12, 500, 11, 0.05, &v), DB_OK);
    ck_assert_int_eq(iv_boot_mean(a, 12, 500, 11, 0.05, &w), DB_OK);
    ck_assert(v.lo == w.lo && v.hi == w.hi && v.est == w.est);
    ck_assert_int_eq(iv_boot_mean(a, 12, 500, 12, 0.05, &w), DB_OK);
    ck_assert(v.lo != w.lo || v.hi != w.hi);
    ck_assert(v.lo < v.est && v.est < v.hi);
    /* errors: a zero denominator, a non-finite value, too few resamples */
    b[3] = 0;
    ck_assert_int_eq(iv_boot_ratio_of_medians(a, b, 12, 500, 1, 0.05, &v), DB_ERR_ARG);
    ck_assert_int_eq(iv_boot_mean(a, 12, 5, 1, 0.05, &v), DB_ERR_ARG);
    a[0] = INFINITY;
    ck_assert_int_eq(iv_boot_mean(a, 12, 500, 1, 0.05, &v), DB_ERR_ARG);
}
END_TEST

/* Coverage on data of known truth: the 95 % intervals must hold the true value in about 95 %
 * of simulated experiments (binomial spread of 300 trials: [0.88, 0.995] is > 3 sigma wide). */
START_TEST(test_bootstrap_coverage)
{
    enum { TRIALS = 300, N = 15 };
    double a[N], b[N], c[N], base[N], ft[N];
    db_rng r;
    rng_seed(&r, 2026);
    int hit_ratio = 0, hit_mean = 0, hit_gain = 0, hit_t = 0;
    for (int t = 0; t < TRIALS; t++) {
        for (int i = 0; i < N; i++) {
            double round = 0.05 * rng_normal(&r); /* a shared slowdown of round i */
            a[i] = 1.2 * exp(round + 0.08 * rng_normal(&r));
            b[i] = exp(round + 0.08 * rng_normal(&r));
            base[i] = 2.0 + 0.3 * rng_normal(&r);
            ft[i] = base[i] - 0.5 + 0.1 * rng_normal(&r);
            c[i] = base[i] - 0.4 + 0.1 * rng_normal(&r); /* keeps 80 % of the gain */
        }
        iv_interval v;
        ck_assert_int_eq(iv_boot_ratio_of_medians(a, b, N, 1000, (uint64_t)t, 0.05, &v), DB_OK);
        hit_ratio += v.lo <= 1.2 && 1.2 <= v.hi;
        ck_assert_int_eq(iv_boot_mean(base, N, 1000, (uint64_t)t, 0.05, &v), DB_OK);
        hit_mean += v.lo <= 2.0 && 2.0 <= v.hi;
        ck_assert_int_eq(iv_mean_t95(base, N, &v), DB_OK);
        hit_t += v.lo <= 2.0 && 2.0 <= v.hi;
        ck_assert_int_eq(iv_boot_gain_kept(c, base, ft, N, 1000, (uint64_t)t, 0.05, &v), DB_OK);
        hit_gain += v.lo <= 0.8 && 0.8 <= v.hi;
    }
    const int hits[] = {hit_ratio, hit_mean, hit_t, hit_gain};
    const char *names[] = {"ratio of medians", "bootstrap mean", "t mean", "gain kept"};
    for (int k = 0; k < 4; k++) {
        double cov = (double)hits[k] / TRIALS;
        ck_assert_msg(cov >= 0.88 && cov <= 0.995, "%s: coverage %.3f outside [0.88, 0.995]",
                      names[k], cov);
    }
}
END_TEST

START_TEST(test_gain_kept_exact)
{
    const double base[] = {2, 2, 2, 2}, ft[] = {1, 1, 1, 1}, c[] = {1.5, 1.5, 1.5, 1.5};
    iv_interval v;
    ck_assert_int_eq(iv_boot_gain_kept(c, base, ft, 4, 200, 1, 0.05, &v), DB_OK);
    ck_assert_double_eq_tol(v.est, 0.5, TOL_CLOSED);
    ck_assert_double_eq_tol(v.lo, 0.5, TOL_CLOSED);
    ck_assert_double_eq_tol(v.hi, 0.5, TOL_CLOSED);
    ck_assert_int_eq(iv_boot_gain_kept(c, base, base, 4, 200, 1, 0.05, &v), DB_ERR_ARG);
}
END_TEST

START_TEST(test_ratio_of_sums_known)
{
    /* every resample of a constant ratio gives it; the point estimate is sum / sum, not the
     * mean of the ratios (1 + 3) / 2 */
    const double num[] = {2, 4, 6}, den[] = {1, 2, 3}, num2[] = {1, 9}, den2[] = {1, 3};
    iv_interval v;
    ck_assert_int_eq(iv_boot_ratio_of_sums(num, den, 3, 200, 1, 0.05, &v), DB_OK);
    ck_assert_double_eq_tol(v.est, 2, TOL_CLOSED);
    ck_assert_double_eq_tol(v.lo, 2, TOL_CLOSED);
    ck_assert_double_eq_tol(v.hi, 2, TOL_CLOSED);
    ck_assert_int_eq(iv_boot_ratio_of_sums(num2, den2, 2, 2000, 1, 0.05, &v), DB_OK);
    ck_assert_double_eq_tol(v.est, 2.5, TOL_CLOSED);
    /* two items: a resample is {1/1, 9/3, 10/4}: the 2.5 % and 97.5 % quantiles are the ends */
    ck_assert_double_eq_tol(v.lo, 1, TOL_CLOSED);
    ck_assert_double_eq_tol(v.hi, 3, TOL_CLOSED);
    const double zero[] = {0, 0}, neg[] = {1, -1};
    ck_assert_int_eq(iv_boot_ratio_of_sums(num2, zero, 2, 200, 1, 0.05, &v), DB_ERR_ARG);
    ck_assert_int_eq(iv_boot_ratio_of_sums(num2, neg, 2, 200, 1, 0.05, &v), DB_ERR_ARG);
}
END_TEST

START_TEST(test_gain_kept_seeds_known)
{
    /* windows agree within each seed, so the window bootstrap is the point 0.5; the seeds keep
     * 0.5, 0.3 and 0.7: t interval 0.5 +- t_2 * 0.2 / sqrt(3) */
    const double base[] = {2, 2, 2, 2}, ft[] = {1, 1, 1, 1};
    const double c0[] = {1.5, 1.5, 1.5, 1.5}, c1[] = {1.7, 1.7, 1.7, 1.7}, c2[] = {1.3, 1.3, 1.3, 1.3};
    const double *c[] = {c0, c1, c2};
    iv_interval v, one;
    ck_assert_int_eq(iv_boot_gain_kept_seeds(c, 3, base, ft, 4, 200, 1, 0.05, &v), DB_OK);
    double half = 4.302653 * 0.2 / sqrt(3);
    ck_assert_double_eq_tol(v.est, 0.5, TOL_CLOSED);
    ck_assert_double_eq_tol(v.lo, 0.5 - half, TOL_TABLE);
    ck_assert_double_eq_tol(v.hi, 0.5 + half, TOL_TABLE);
    /* one seed is the plain paired bootstrap */
    ck_assert_int_eq(iv_boot_gain_kept_seeds(c, 1, base, ft, 4, 200, 1, 0.05, &v), DB_OK);
    ck_assert_int_eq(iv_boot_gain_kept(c0, base, ft, 4, 200, 1, 0.05, &one), DB_OK);
    ck_assert_double_eq_tol(v.lo, one.lo, TOL_CLOSED);
    ck_assert_int_eq(iv_boot_gain_kept_seeds(c, 0, base, ft, 4, 200, 1, 0.05, &v), DB_ERR_ARG);
    ck_assert_int_eq(iv_boot_gain_kept_seeds(c, 3, base, base, 4, 200, 1, 0.05, &v), DB_ERR_ARG);
}
END_TEST

START_TEST(test_interp_and_ratio_at_known)
{
    const iv_point p[] = {{8, {0.9, 0.8, 1.0}}, {16, {0.7, 0.6, 0.8}}};
    iv_interval v;
    ck_assert_int_eq(iv_interp_log(p, 2, sqrt(128), 0, &v), DB_OK); /* halfway in log x */
    ck_assert_double_eq_tol(v.est, 0.8, TOL_CLOSED);
    ck_assert_double_eq_tol(v.lo, 0.7, TOL_CLOSED);
    ck_assert_double_eq_tol(v.hi, 0.9, TOL_CLOSED);
    ck_assert_int_eq(iv_interp_log(p, 2, 16, 0, &v), DB_OK);
    ck_assert_double_eq_tol(v.est, 0.7, TOL_CLOSED);
    ck_assert_int_eq(iv_interp_log(p, 2, 8, 0, &v), DB_OK);
    ck_assert_double_eq_tol(v.hi, 1.0, TOL_CLOSED);
    ck_assert_int_eq(iv_interp_log(p, 2, 17, 0, &v), DB_ERR_ARG);
    ck_assert_int_eq(iv_interp_log(p, 2, 7.9, 0, &v), DB_ERR_ARG);
    ck_assert_int_eq(iv_interp_log(p, 2, 16.3, 0.02, &v), DB_OK); /* within 2 % of the end */
    ck_assert_double_eq_tol(v.est, 0.7, TOL_CLOSED);
    ck_assert_int_eq(iv_interp_log(p, 2, 7.9, 0.02, &v), DB_OK);
    ck_assert_double_eq_tol(v.est, 0.9, TOL_CLOSED);
    ck_assert_int_eq(iv_interp_log(p, 1, 8.1, 0.02, &v), DB_OK); /* one point */
    ck_assert_int_eq(iv_interp_log(p, 2, 16.5, 0.02, &v), DB_ERR_ARG);
    const iv_point back[] = {{16, {0.7, 0.6, 0.8}}, {8, {0.9, 0.8, 1.0}}};
    ck_assert_int_eq(iv_interp_log(back, 2, 10, 0, &v), DB_ERR_ARG);

    const iv_point c[] = {{1, {1, 1, 1}}, {4, {0.9, 0.85, 0.95}}, {16, {0.5, 0.4, 0.6}}};
    iv_crossing x;
    ck_assert_int_eq(iv_ratio_at(c, 3, (iv_interval){0.7, 0.65, 0.75}, &x), DB_OK);
    ck_assert_int_eq(x.est_c, IV_CROSS_INSIDE);
    ck_assert_double_eq_tol(x.est, 8, 1e-9); /* halfway from 0.9 to 0.5 */
    ck_assert_double_eq_tol(x.lo, 4 * pow(4, 0.10 / 0.45), 1e-9);
    ck_assert_double_eq_tol(x.hi, 4 * pow(4, 0.30 / 0.35), 1e-9);
    ck_assert_int_eq(iv_ratio_at(c, 3, (iv_interval){0.3, 0.3, 0.3}, &x), DB_OK);
    ck_assert_int_eq(x.est_c, IV_CROSS_ABOVE);
    ck_assert_double_eq_tol(x.est, 16, TOL_CLOSED);
    ck_assert_int_eq(iv_ratio_at(c, 3, (iv_interval){1.1, 1.05, 1.15}, &x), DB_OK);
    ck_assert_int_eq(x.est_c, IV_CROSS_BELOW);
    ck_assert_double_eq_tol(x.est, 1, TOL_CLOSED);
    ck_assert_int_eq(iv_ratio_at(c, 3, (iv_interval){NAN, 0, 1}, &x), DB_ERR_ARG);
    /* a dip and a rise: read at the last rise (the baseline's best format) */
    const iv_point d[] = {{1, {1, 1, 1}}, {2, {0.5, 0.5, 0.5}}, {4, {0.9, 0.9, 0.9}}, {8, {0.5, 0.5, 0.5}}};
    ck_assert_int_eq(iv_ratio_at(d, 4, (iv_interval){0.7, 0.7, 0.7}, &x), DB_OK);
    ck_assert_double_eq_tol(x.est, 4 * sqrt(2), 1e-9);
}
END_TEST

static db_status op_gain_seeds(void *ctx)
{
    (void)ctx;
    const double base[] = {2, 2.1, 2, 2.2}, ft[] = {1, 1.1, 1, 1.2};
    const double c0[] = {1.5, 1.5, 1.6, 1.5}, c1[] = {1.7, 1.6, 1.7, 1.7};
    const double *c[] = {c0, c1};
    iv_interval v;
    return iv_boot_gain_kept_seeds(c, 2, base, ft, 4, 100, 1, 0.05, &v);
}

static db_status op_ratio_of_sums(void *ctx)
{
    (void)ctx;
    const double num[] = {1, 9, 3}, den[] = {1, 3, 2};
    iv_interval v;
    return iv_boot_ratio_of_sums(num, den, 3, 100, 1, 0.05, &v);
}

START_TEST(test_new_intervals_alloc_sweep)
{
    ck_assert_int_ge(tl_alloc_sweep("gain kept over seeds", op_gain_seeds, NULL, NULL, 20), 5);
    ck_assert_int_ge(tl_alloc_sweep("ratio of sums", op_ratio_of_sums, NULL, NULL, 20), 3);
}
END_TEST

START_TEST(test_bootstrap_alloc_failure)
{
    const double x[] = {1, 2, 3, 4, 5, 6};
    iv_interval v;
    for (long n = 1; n <= 3; n++) { /* the bootstrap's three buffers */
        db_alloc_fail_at(n, 0);
        ck_assert_int_eq(iv_boot_mean(x, 6, 100, 1, 0.05, &v), DB_ERR_NOMEM);
    }
    db_alloc_fail_at(0, 0);
    ck_assert_int_eq(iv_boot_mean(x, 6, 100, 1, 0.05, &v), DB_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("interval");
    TCase *tc = tcase_create("interval");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_quantile_type7);
    tcase_add_test(tc, test_normal_and_t_quantiles);
    tcase_add_test(tc, test_wilson_known_values);
    tcase_add_test(tc, test_mean_t95);
    tcase_add_test(tc, test_bootstrap_determinism_and_degenerate);
    tcase_add_test(tc, test_bootstrap_coverage);
    tcase_add_test(tc, test_gain_kept_exact);
    tcase_add_test(tc, test_ratio_of_sums_known);
    tcase_add_test(tc, test_gain_kept_seeds_known);
    tcase_add_test(tc, test_interp_and_ratio_at_known);
    tcase_add_test(tc, test_bootstrap_alloc_failure);
    tcase_add_test(tc, test_new_intervals_alloc_sweep);
    suite_add_tcase(s, tc);
    return tl_run(s);
}
