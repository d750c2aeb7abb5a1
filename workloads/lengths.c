/* lengths.c: the length laws of lengths.h.
 *
 * Lognormal draws both normals of a request from one Box-Muller pair (cos and sin of the same
 * angle): half the logarithms and square roots of two separate rng_normal() calls, and lengths
 * are the hottest part of generation after the arrival times. */
#include "workloads/lengths.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "workloads/trace.h"

struct wl_len {
    wl_len_spec spec;
    double mu[2];    /* lognormal: ln(median) */
    int32_t *pairs;  /* trace: [R][2] prompt, output */
    size_t npairs;
};

void wl_len_defaults(wl_len_spec *s)
{
    memset(s, 0, sizeof *s);
    s->kind = WL_LEN_FIXED;
    s->fixed[0] = 512;
    s->fixed[1] = 128;
}

db_status wl_len_check(const wl_len_spec *s)
{
    static const char *const side[2] = {"prompt", "output"};
    for (int k = 0; k < 2; k++) {
        switch (s->kind) {
        case WL_LEN_FIXED:
            if (s->fixed[k] < 1)
                return db_error(DB_ERR_ARG, "fixed %s length must be >= 1 (got %d)", side[k],
                                s->fixed[k]);
            break;
        case WL_LEN_UNIFORM:
            if (s->lo[k] < 1 || s->hi[k] < s->lo[k])
                return db_error(DB_ERR_ARG, "uniform %s lengths need 1 <= lo <= hi (got %d, %d)",
                                side[k], s->lo[k], s->hi[k]);
            break;
        case WL_LEN_LOGNORMAL:
            if (!(s->median[k] >= 1 && s->median[k] <= 1e9))
                return db_error(DB_ERR_ARG, "lognormal %s median must be in [1, 1e9] (got %g)",
                                side[k], s->median[k]);
            if (!(s->sigma[k] >= 0 && s->sigma[k] <= 10))
                return db_error(DB_ERR_ARG, "lognormal %s sigma must be in [0, 10] (got %g)",
                                side[k], s->sigma[k]);
            break;
        case WL_LEN_TRACE:
            if (!s->path || !*s->path)
                return db_error(DB_ERR_ARG, "trace lengths need a trace file");
            break;
        case WL_LEN_REPLAY:
            return db_error(DB_ERR_ARG, "lengths 'replay' take the replayed requests' lengths; "
                                        "it is not a law to sample");
        default:
            return db_error(DB_ERR_ARG, "unknown length law %d", (int)s->kind);
        }
    }
    return DB_OK;
}

void wl_len_free(wl_len *l)
{
    if (!l)
        return;
    db_free(l->pairs);
    db_free(l);
}

db_status wl_len_init(const wl_len_spec *s, wl_len **out)
{
    *out = NULL;
    db_status st = wl_len_check(s);
    if (st != DB_OK)
        return st;
    wl_len *l = db_calloc(1, sizeof *l);
    if (!l)
        return db_error(DB_ERR_NOMEM, "out of memory");
    l->spec = *s;
    if (s->kind == WL_LEN_LOGNORMAL) {
        l->mu[0] = log(s->median[0]);
        l->mu[1] = log(s->median[1]);
    }
    if (s->kind == WL_LEN_TRACE) {
        trace_table t;
        if ((st = trace_read(s->path, &t)) != DB_OK) {
            wl_len_free(l);
            return st;
        }
        l->pairs = db_malloc_array(t.n, 2 * sizeof *l->pairs);
        if (!l->pairs) {
            trace_table_free(&t);
            wl_len_free(l);
            return db_error(DB_ERR_NOMEM, "%s: out of memory", s->path);
        }
        for (size_t i = 0; i < t.n; i++) {
            l->pairs[2 * i] = t.req[i].prompt_tokens;
            l->pairs[2 * i + 1] = t.req[i].output_tokens;
        }
        l->npairs = t.n;
        trace_table_free(&t);
    }
    *out = l;
    return DB_OK;
}

static int32_t clamp_len(double x)
{
    if (!(x >= 1.0))
        return 1;
    if (x >= 2147483647.0)
        return INT32_MAX;
    return (int32_t)llround(x);
}

void wl_len_sample(const wl_len *l, db_rng *r, int32_t *prompt, int32_t *output)
{
    const wl_len_spec *s = &l->spec;
    switch (s->kind) {
    case WL_LEN_FIXED:
        *prompt = s->fixed[0];
        *output = s->fixed[1];
        return;
    case WL_LEN_UNIFORM:
        *prompt = s->lo[0] + (int32_t)rng_below(r, (uint64_t)(s->hi[0] - s->lo[0]) + 1);
        *output = s->lo[1] + (int32_t)rng_below(r, (uint64_t)(s->hi[1] - s->lo[1]) + 1);
        return;
    case WL_LEN_LOGNORMAL: {
        double u1 = 1.0 - rng_f64(r); /* (0, 1] */
        double u2 = rng_f64(r);
        double rad = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
        *prompt = clamp_len(exp(l->mu[0] + s->sigma[0] * rad * cos(th)));
        *output = clamp_len(exp(l->mu[1] + s->sigma[1] * rad * sin(th)));
        return;
    }
    case WL_LEN_TRACE: {
        size_t i = (size_t)rng_below(r, l->npairs);
        *prompt = l->pairs[2 * i];
        *output = l->pairs[2 * i + 1];
        return;
    }
    case WL_LEN_REPLAY:
        break; /* refused by wl_len_check */
    }
    *prompt = *output = 1;
}
