/* arrival.h: arrival processes, the first of the three independent parts of a workload (the
 * others: popularity.h, lengths.h). Formulas and parameter ranges: docs/workloads.md.
 *
 *   poisson          exponential inter-arrival times with mean 1/rate
 *   gamma            Gamma inter-arrival times: shape k = 1/CV^2, scale = CV^2/rate, so the mean
 *                    is 1/rate and the coefficient of variation CV (1 = Poisson, 0 = evenly
 *                    spaced, larger = burstier)
 *   onoff            a two-state Markov-modulated Poisson process: exponential on and off periods
 *                    (means on_s, off_s), Poisson arrivals at lambda_on while on and
 *                    lambda_off = off_ratio * lambda_on while off, lambda_on chosen so the
 *                    long-run mean rate is `rate`
 *   replay           the timestamps of a trace file (any trace_read() format) times time_scale
 *   azure-functions  the per-minute invocation counts of the top M functions of an Azure
 *                    Functions file, function i driving model i; each minute's c invocations
 *                    fall uniformly at random inside the minute, then times are scaled
 *
 * All times are seconds from 0, non-decreasing. The process draws only from the generator it is
 * handed, so a dedicated stream keeps it independent of the other parts. */
#ifndef DB_ARRIVAL_H
#define DB_ARRIVAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"
#include "workloads/trace.h"

typedef enum {
    WL_ARR_POISSON,
    WL_ARR_GAMMA,
    WL_ARR_ONOFF,
    WL_ARR_REPLAY,
    WL_ARR_AZURE_FUNC,
} wl_arrival_kind;

typedef struct {
    wl_arrival_kind kind;
    double rate;       /* mean requests/s: > 0 for poisson, gamma, onoff; for replay and
                          azure-functions 0 keeps the file's rate, > 0 rescales time to it */
    double cv;         /* gamma: CV of the inter-arrival times, >= 0 */
    double on_s;       /* onoff: mean duration of an on period (s), > 0 */
    double off_s;      /* onoff: mean duration of an off period (s), > 0 */
    double off_ratio;  /* onoff: lambda_off / lambda_on, in [0, 1) */
    double time_scale; /* replay, azure-functions: times are multiplied by it, > 0 */
    const char *path;  /* replay, azure-functions: the file (borrowed, not copied) */
} wl_arrival_spec;

/* One arrival: its time, the model the source assigns (azure-functions: the function's rank;
 * replay: the trace's model column, TRACE_NO_MODEL if none; else TRACE_NO_MODEL), and for replay
 * the index of the replayed request in wl_arrival_source(). */
typedef struct {
    double t;
    int32_t model;
    size_t src;
} wl_arrival_event;

typedef struct wl_arrival wl_arrival;

/* Poisson at 1 req/s; cv 1, on 10 s, off 30 s, off_ratio 0, time_scale 1, no path. */
void wl_arrival_defaults(wl_arrival_spec *s);
/* DB_ERR_ARG (with a message) for impossible parameters of s->kind. */
db_status wl_arrival_check(const wl_arrival_spec *s);
/* Mean rate and inter-arrival CV implied by a synthetic process's parameters (docs for the
 * formulas); DB_ERR_ARG for replay and azure-functions, whose statistics come from data. */
db_status wl_arrival_theory(const wl_arrival_spec *s, double *rate, double *cv);
/* Builds the process (reads the file of replay / azure-functions; M = nmodels functions). */
db_status wl_arrival_init(const wl_arrival_spec *s, int32_t nmodels, wl_arrival **out);
/* The next arrival; false when a finite process (replay, azure-functions) is exhausted. */
bool wl_arrival_next(wl_arrival *a, db_rng *r, wl_arrival_event *ev);
/* The replayed trace (replay only; NULL otherwise). */
const trace_table *wl_arrival_source(const wl_arrival *a);
/* The long-run mean rate the process runs at (for replay and azure-functions: the file's rate
 * after time scaling). */
double wl_arrival_mean_rate(const wl_arrival *a);
/* NULL is a no-op. */
void wl_arrival_free(wl_arrival *a);

#endif
