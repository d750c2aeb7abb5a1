/* stats.h: summary statistics of a request trace (`deltabench trace stats`, and the tests that
 * check generated traces against their parameters). Estimators, as documented in
 * docs/workloads.md:
 *
 *   span            last arrival - first arrival
 *   mean rate       (R - 1) / span, the reciprocal of the mean inter-arrival time
 *   inter-arrival   the R - 1 differences of successive arrivals: mean, population standard
 *                   deviation, CV = std / mean
 *   peak-to-mean    requests per one-second bin, bins floor(arrival - first), from the first
 *                   arrival's second to the last's (empty bins count): max / mean
 *   per-model       counts by model id; M = the declared model count, or max id + 1
 *   Zipf exponent   maximum-likelihood a of p_r proportional to r^-a over ranks r = 1..M of the
 *                   per-model counts sorted in decreasing order (zero counts included)
 *   percentiles     nearest rank: the p-th percentile of n sorted values is the value of rank
 *                   ceil(p n / 100) (1-based)
 */
#ifndef DB_STATS_H
#define DB_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "workloads/trace.h"

typedef struct {
    size_t n;                /* R */
    double first_s, last_s;  /* first and last arrival */
    double span_s;           /* last - first */
    double mean_rate;        /* (R - 1) / span; NAN when span is 0 */
    double ia_mean, ia_std;  /* inter-arrival mean and population std (s); NAN when R < 2 */
    double ia_cv;            /* ia_std / ia_mean; NAN when R < 2 or the mean is 0 */
    int64_t nseconds;        /* one-second bins: floor(span) + 1 */
    int64_t peak_count;      /* requests in the busiest bin */
    int64_t peak_second;     /* its index (the earliest when tied) */
    double peak_to_mean;     /* peak_count / (R / nseconds) */
    int32_t nmodels;         /* M; 0 when the trace has no models */
    int32_t models_used;     /* models with at least one request */
    int64_t *model_counts;   /* [M] requests per model id */
    int32_t *model_rank;     /* [M] model ids, busiest first (ties: lower id first) */
    double zipf_a;           /* fitted exponent; NAN when M < 2; INFINITY if one model has all */
    int32_t prompt_p[3];     /* prompt tokens p50, p90, p99 */
    int32_t output_p[3];     /* output tokens p50, p90, p99 */
    int32_t prompt_min, prompt_max, output_min, output_max;
    double prompt_mean, output_mean;
} trace_stats;

/* Computes the statistics of t (R >= 1). nmodels > 0 declares M (every model must be below
 * it); 0 takes M = max id + 1. Zeroes st first; free with trace_stats_free. */
db_status trace_stats_compute(const trace_table *t, int32_t nmodels, trace_stats *st);
/* NULL and zeroed are fine. */
void trace_stats_free(trace_stats *st);
/* Maximum-likelihood Zipf exponent of m >= 2 counts (any order; sorted internally into ranks);
 * NAN when m < 2 or all are zero, INFINITY when one count holds everything. Needs m doubles of
 * scratch: allocates them (NAN on allocation failure). */
double trace_zipf_fit(const int64_t *counts, size_t m);
/* Nearest-rank percentile p in (0, 100] of sorted[0..n), n >= 1. */
int32_t trace_percentile(const int32_t *sorted, size_t n, int p);

#endif
