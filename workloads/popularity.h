/* popularity.h: which of M models each request goes to, the second independent part of a
 * workload. Models are numbered 0..M-1; for the ranked laws model i has rank i+1. Formulas and
 * ranges: docs/workloads.md.
 *
 *   uniform        p_i = 1/M
 *   zipf:a         p_i proportional to (i+1)^-a, a >= 0 (a = 0 is uniform; model 0 the busiest)
 *   deltazip-zipf:a  p_i proportional to (i+1)^+a, a >= 0: DeltaZip's convention as adopted by
 *                  this project (the exponent's sign is flipped, so model M-1 is the busiest)
 *   slora:a        S-LoRA's power draw: model = floor(M u^(1/a)), u uniform in [0, 1), i.e.
 *                  p_i = ((i+1)/M)^a - (i/M)^a, a > 0 (a < 1 favours low ids, a = 1 uniform)
 *   azure:FILE     p_i proportional to the total invocations of the i-th busiest function of an
 *                  Azure Functions invocation-count file (top M functions)
 *
 * Sampling is O(1) per request: Walker's alias method over the exact p_i (one bounded integer
 * and one uniform draw). Nothing is allocated after wl_pop_init. */
#ifndef DB_POPULARITY_H
#define DB_POPULARITY_H

#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"
#include "workloads/trace.h"

typedef enum {
    WL_POP_UNIFORM,
    WL_POP_ZIPF,
    WL_POP_DELTAZIP,
    WL_POP_SLORA,
    WL_POP_AZURE,
    WL_POP_REPLAY, /* not a law: the arrival source's own model (see gen.h); wl_pop_init refuses */
} wl_pop_kind;

typedef struct {
    wl_pop_kind kind;
    double a;         /* exponent of zipf, deltazip-zipf, slora */
    const char *path; /* azure: the invocation-count file (borrowed) */
} wl_pop_spec;

typedef struct wl_pop wl_pop;

/* DB_ERR_ARG for impossible parameters (a < 0, slora a = 0, non-finite a, no azure file). */
db_status wl_pop_check(const wl_pop_spec *s);
/* Builds the law over M = nmodels >= 1 models (reads the azure file). */
db_status wl_pop_init(const wl_pop_spec *s, int32_t nmodels, wl_pop **out);
/* A model id in [0, M). */
int32_t wl_pop_sample(const wl_pop *p, db_rng *r);
/* The law's probabilities [M] (sum 1). */
const double *wl_pop_probs(const wl_pop *p);
int32_t wl_pop_nmodels(const wl_pop *p);
/* Gives every request of t a model drawn from p (for traces read without a model column);
 * sets has_models. */
void wl_pop_assign(const wl_pop *p, db_rng *r, trace_table *t);
/* NULL is a no-op. */
void wl_pop_free(wl_pop *p);

#endif
