/* popularity.c: the popularity laws of popularity.h and Walker's alias sampler (Vose's
 * construction, which is numerically stable: it never subtracts from the large side more
 * than it holds).
 *
 * Weights are computed as exp(-a ln(i+1)) in a fixed order so that the same parameters give
 * bit-identical tables, hence identical traces, on every run. */
#include "workloads/popularity.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "workloads/azure.h"

struct wl_pop {
    int32_t m;      /* M */
    double *p;      /* [M] probabilities */
    double *keep;   /* [M] alias: chance of keeping column i */
    int32_t *alias; /* [M] alias: the other model of column i */
    int32_t *work;  /* [M] scratch for the construction */
};

db_status wl_pop_check(const wl_pop_spec *s)
{
    switch (s->kind) {
    case WL_POP_UNIFORM:
        return DB_OK;
    case WL_POP_ZIPF:
    case WL_POP_DELTAZIP:
        if (!(s->a >= 0) || !isfinite(s->a))
            return db_error(DB_ERR_ARG, "popularity exponent a must be >= 0 (got %g)", s->a);
        if (s->a > 100)
            return db_error(DB_ERR_ARG, "popularity exponent a must be <= 100 (got %g)", s->a);
        return DB_OK;
    case WL_POP_SLORA:
        if (!(s->a > 0) || !isfinite(s->a) || s->a > 100)
            return db_error(DB_ERR_ARG, "slora power a must be in (0, 100] (got %g)", s->a);
        return DB_OK;
    case WL_POP_AZURE:
        if (!s->path || !*s->path)
            return db_error(DB_ERR_ARG, "azure popularity needs an Azure Functions file");
        return DB_OK;
    case WL_POP_REPLAY:
        return db_error(DB_ERR_ARG, "popularity 'replay' takes models from the arrival source; "
                                    "it is not a law to sample");
    }
    return db_error(DB_ERR_ARG, "unknown popularity law %d", (int)s->kind);
}

void wl_pop_free(wl_pop *p)
{
    if (!p)
        return;
    db_free(p->p);
    db_free(p->keep);
    db_free(p->alias);
    db_free(p->work);
    db_free(p);
}

/* Vose: columns of height M p_i; each short column is topped up from one tall column. */
static void alias_build(wl_pop *p)
{
    int32_t m = p->m;
    int32_t *small = p->work, nsmall = 0, nlarge = 0;
    /* Two stacks in one array: small ones grow from the front, large ones from the back. */
    for (int32_t i = 0; i < m; i++) {
        p->keep[i] = p->p[i] * m;
        p->alias[i] = i;
        if (p->keep[i] < 1.0)
            small[nsmall++] = i;
        else
            small[m - 1 - nlarge++] = i;
    }
    while (nsmall > 0 && nlarge > 0) {
        int32_t s = small[--nsmall];
        int32_t l = small[m - nlarge];
        p->alias[s] = l;
        p->keep[l] -= 1.0 - p->keep[s];
        if (p->keep[l] < 1.0) {
            nlarge--;
            small[nsmall++] = l;
        }
    }
    /* Leftovers are 1 up to rounding. */
    while (nlarge > 0)
        p->keep[small[m - nlarge--]] = 1.0;
    while (nsmall > 0)
        p->keep[small[--nsmall]] = 1.0;
}

db_status wl_pop_init(const wl_pop_spec *s, int32_t nmodels, wl_pop **out)
{
    *out = NULL;
    db_status st = wl_pop_check(s);
    if (st != DB_OK)
        return st;
    if (nmodels < 1)
        return db_error(DB_ERR_ARG, "number of models must be >= 1 (got %d)", nmodels);
    wl_pop *p = db_calloc(1, sizeof *p);
    if (!p)
        return db_error(DB_ERR_NOMEM, "out of memory");
    p->m = nmodels;
    size_t m = (size_t)nmodels;
    p->p = db_malloc_array(m, sizeof *p->p);
    p->keep = db_malloc_array(m, sizeof *p->keep);
    p->alias = db_malloc_array(m, sizeof *p->alias);
    p->work = db_malloc_array(m, sizeof *p->work);
    if (!p->p || !p->keep || !p->alias || !p->work) {
        wl_pop_free(p);
        return db_error(DB_ERR_NOMEM, "out of memory for %d models", nmodels);
    }
    double sum = 0.0;
    switch (s->kind) {
    case WL_POP_UNIFORM:
        for (size_t i = 0; i < m; i++)
            p->p[i] = 1.0;
        break;
    case WL_POP_ZIPF:
    case WL_POP_DELTAZIP: {
        /* Relative to the largest weight (rank 1 for zipf, rank M for deltazip-zipf), so that
         * nothing overflows for large a and M. */
        double e = s->kind == WL_POP_ZIPF ? -s->a : s->a;
        double ref = s->kind == WL_POP_ZIPF ? 0.0 : log((double)m);
        for (size_t i = 0; i < m; i++)
            p->p[i] = exp(e * (log((double)(i + 1)) - ref));
        break;
    }
    case WL_POP_SLORA:
        for (size_t i = 0; i < m; i++)
            p->p[i] = pow((double)(i + 1) / (double)m, s->a) - pow((double)i / (double)m, s->a);
        break;
    case WL_POP_AZURE: {
        azure_func f;
        if ((st = azure_func_read(s->path, m, &f)) != DB_OK) {
            wl_pop_free(p);
            return st;
        }
        if (f.nfunc < m) {
            st = db_error(DB_ERR_ARG, "%s: the file has %zu functions, fewer than the %d models "
                                      "asked for",
                          s->path, f.nfunc, nmodels);
        } else if (f.totals[0] == 0) {
            st = db_error(DB_ERR_FORMAT, "%s: the top %d functions have no invocations",
                          s->path, nmodels);
        } else {
            for (size_t i = 0; i < m; i++)
                p->p[i] = (double)f.totals[i];
        }
        azure_func_free(&f);
        if (st != DB_OK) {
            wl_pop_free(p);
            return st;
        }
        break;
    }
    case WL_POP_REPLAY:
        break; /* refused by wl_pop_check */
    }
    for (size_t i = 0; i < m; i++)
        sum += p->p[i];
    for (size_t i = 0; i < m; i++)
        p->p[i] /= sum;
    alias_build(p);
    *out = p;
    return DB_OK;
}

int32_t wl_pop_sample(const wl_pop *p, db_rng *r)
{
    int32_t i = (int32_t)rng_below(r, (uint64_t)p->m);
    return rng_f64(r) < p->keep[i] ? i : p->alias[i];
}

const double *wl_pop_probs(const wl_pop *p) { return p->p; }

int32_t wl_pop_nmodels(const wl_pop *p) { return p->m; }

void wl_pop_assign(const wl_pop *p, db_rng *r, trace_table *t)
{
    for (size_t i = 0; i < t->n; i++)
        t->req[i].model = wl_pop_sample(p, r);
    t->has_models = true;
}
