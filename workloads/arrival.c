/* arrival.c: the arrival processes of arrival.h.
 *
 * On/off is simulated exactly, not by time steps: within a state the next arrival is
 * exponential at that state's rate; if it would fall after the state ends, time jumps to the end
 * of the state and the state flips (memorylessness makes this exact). The process starts in its
 * stationary state (on with probability on_s / (on_s + off_s)), so it has no warm-up transient.
 *
 * The azure-functions process works a minute at a time: it draws every invocation of the minute
 * (all M functions) into one buffer sized once for the busiest minute, sorts it by (time,
 * model) and hands it out. */
#include "workloads/arrival.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "workloads/azure.h"

typedef struct {
    double t;
    int32_t model;
} minute_event;

struct wl_arrival {
    wl_arrival_spec spec;
    double t;          /* time of the last arrival (or of the last state change) */
    double mean_rate;  /* long-run rate */
    /* gamma */
    double shape, scale;
    /* onoff: state 0 = on, 1 = off */
    double lambda[2], mean_dur[2], left;
    int state;
    /* replay */
    trace_table src;
    size_t next;
    double tscale;
    /* azure-functions */
    azure_func af;
    minute_event *ev; /* [busiest minute's invocations] */
    size_t nev, iev, minute;
};

void wl_arrival_defaults(wl_arrival_spec *s)
{
    *s = (wl_arrival_spec){.kind = WL_ARR_POISSON,
                           .rate = 1.0,
                           .cv = 1.0,
                           .on_s = 10.0,
                           .off_s = 30.0,
                           .off_ratio = 0.0,
                           .time_scale = 1.0,
                           .path = NULL};
}

db_status wl_arrival_check(const wl_arrival_spec *s)
{
    switch (s->kind) {
    case WL_ARR_GAMMA:
        if (!(s->cv >= 0) || !isfinite(s->cv))
            return db_error(DB_ERR_ARG, "gamma arrivals: CV must be >= 0 (got %g)", s->cv);
        /* fall through */
    case WL_ARR_POISSON:
        if (!(s->rate > 0) || !isfinite(s->rate))
            return db_error(DB_ERR_ARG, "arrival rate must be > 0 (got %g)", s->rate);
        return DB_OK;
    case WL_ARR_ONOFF:
        if (!(s->rate > 0) || !isfinite(s->rate))
            return db_error(DB_ERR_ARG, "arrival rate must be > 0 (got %g)", s->rate);
        if (!(s->on_s > 0) || !isfinite(s->on_s) || !(s->off_s > 0) || !isfinite(s->off_s))
            return db_error(DB_ERR_ARG, "on/off arrivals: mean on and off durations must be > 0 "
                                        "(got %g and %g)",
                            s->on_s, s->off_s);
        if (!(s->off_ratio >= 0 && s->off_ratio < 1))
            return db_error(DB_ERR_ARG, "on/off arrivals: off rate ratio must be in [0, 1) "
                                        "(got %g)",
                            s->off_ratio);
        return DB_OK;
    case WL_ARR_REPLAY:
    case WL_ARR_AZURE_FUNC:
        if (!s->path || !*s->path)
            return db_error(DB_ERR_ARG, "%s arrivals need a file",
                            s->kind == WL_ARR_REPLAY ? "replay" : "azure-functions");
        if (!(s->rate >= 0) || !isfinite(s->rate))
            return db_error(DB_ERR_ARG, "arrival rate must be > 0 (got %g)", s->rate);
        if (!(s->time_scale > 0) || !isfinite(s->time_scale))
            return db_error(DB_ERR_ARG, "time scale must be > 0 (got %g)", s->time_scale);
        if (s->rate > 0 && s->time_scale != 1.0)
            return db_error(DB_ERR_ARG, "give a target rate or a time scale, not both");
        return DB_OK;
    }
    return db_error(DB_ERR_ARG, "unknown arrival process %d", (int)s->kind);
}

/* Rates of the two on/off states from the mean rate: R (on + off) = l_on on + l_off off. */
static void onoff_rates(const wl_arrival_spec *s, double *l_on, double *l_off)
{
    *l_on = s->rate * (s->on_s + s->off_s) / (s->on_s + s->off_ratio * s->off_s);
    *l_off = s->off_ratio * *l_on;
}

db_status wl_arrival_theory(const wl_arrival_spec *s, double *rate, double *cv)
{
    db_status st = wl_arrival_check(s);
    if (st != DB_OK)
        return st;
    switch (s->kind) {
    case WL_ARR_POISSON:
        *rate = s->rate;
        *cv = 1.0;
        return DB_OK;
    case WL_ARR_GAMMA:
        *rate = s->rate;
        *cv = s->cv;
        return DB_OK;
    case WL_ARR_ONOFF: {
        /* Interval from just after an arrival. In state i (0 on, 1 off) the next event comes
         * after H ~ Exp(l_i + x_i), x_i the rate of leaving i; with probability q_i = x_i h_i
         * (h_i = 1/(l_i + x_i)) it is a switch and the interval goes on from the other state:
         *   m_i = h_i + q_i m_j,   s_i = 2 h_i^2 + q_i (2 h_i m_j + s_j)   (first, second moment)
         * An arrival finds state i with probability p_i = pi_i l_i / sum pi l (pi: time shares).
         * E[T] = sum p_i m_i, E[T^2] = sum p_i s_i, CV^2 = E[T^2] / E[T]^2 - 1. */
        double l[2], x[2] = {1.0 / s->on_s, 1.0 / s->off_s}, h[2], q[2], m[2], sm[2];
        onoff_rates(s, &l[0], &l[1]);
        for (int i = 0; i < 2; i++) {
            h[i] = 1.0 / (l[i] + x[i]);
            q[i] = x[i] * h[i];
        }
        /* m0 = h0 + q0 (h1 + q1 m0)  ->  m0 (1 - q0 q1) = h0 + q0 h1 */
        double det = 1.0 - q[0] * q[1];
        m[0] = (h[0] + q[0] * h[1]) / det;
        m[1] = h[1] + q[1] * m[0];
        double c0 = 2 * h[0] * h[0] + q[0] * 2 * h[0] * m[1];
        double c1 = 2 * h[1] * h[1] + q[1] * 2 * h[1] * m[0];
        sm[0] = (c0 + q[0] * c1) / det;
        sm[1] = c1 + q[1] * sm[0];
        double pi0 = s->on_s / (s->on_s + s->off_s), pi1 = 1.0 - pi0;
        double w0 = pi0 * l[0], w1 = pi1 * l[1];
        double p0 = w0 / (w0 + w1), p1 = w1 / (w0 + w1);
        double et = p0 * m[0] + p1 * m[1], et2 = p0 * sm[0] + p1 * sm[1];
        *rate = s->rate;
        *cv = sqrt(fmax(et2 / (et * et) - 1.0, 0.0));
        return DB_OK;
    }
    case WL_ARR_REPLAY:
    case WL_ARR_AZURE_FUNC:
        break;
    }
    return db_error(DB_ERR_ARG, "replayed arrivals have no parametric rate or CV");
}

void wl_arrival_free(wl_arrival *a)
{
    if (!a)
        return;
    trace_table_free(&a->src);
    azure_func_free(&a->af);
    db_free(a->ev);
    db_free(a);
}

static db_status init_replay(wl_arrival *a)
{
    const wl_arrival_spec *s = &a->spec;
    db_status st = trace_read(s->path, &a->src);
    if (st != DB_OK)
        return st;
    double span = a->src.req[a->src.n - 1].arrival_s - a->src.req[0].arrival_s;
    double natural = a->src.n > 1 && span > 0 ? (double)(a->src.n - 1) / span : 0.0;
    a->tscale = s->time_scale;
    if (s->rate > 0) {
        if (natural <= 0)
            return db_error(DB_ERR_ARG, "%s: cannot rescale to %g req/s: the trace spans 0 s",
                            s->path, s->rate);
        a->tscale = natural / s->rate;
    }
    a->mean_rate = natural / a->tscale;
    return DB_OK;
}

static db_status init_azure(wl_arrival *a, int32_t nmodels)
{
    const wl_arrival_spec *s = &a->spec;
    db_status st = azure_func_read(s->path, (size_t)nmodels, &a->af);
    if (st != DB_OK)
        return st;
    const azure_func *f = &a->af;
    if (f->nfunc < (size_t)nmodels)
        return db_error(DB_ERR_ARG, "%s: the file has %zu functions, fewer than the %d models "
                                    "asked for",
                        s->path, f->nfunc, nmodels);
    uint64_t total = 0, busiest = 0;
    for (size_t k = 0; k < f->nmin; k++) {
        uint64_t c = 0;
        for (size_t i = 0; i < f->nfunc; i++)
            c += f->counts[i * f->nmin + k];
        total += c;
        if (c > busiest)
            busiest = c;
    }
    if (total == 0)
        return db_error(DB_ERR_FORMAT, "%s: the top %d functions have no invocations", s->path,
                        nmodels);
    double natural = (double)total / (60.0 * (double)f->nmin);
    a->tscale = s->rate > 0 ? natural / s->rate : s->time_scale;
    a->mean_rate = natural / a->tscale;
    if (!(a->ev = db_malloc_array((size_t)busiest, sizeof *a->ev)))
        return db_error(DB_ERR_NOMEM, "%s: out of memory for a minute of %llu invocations",
                        s->path, (unsigned long long)busiest);
    return DB_OK;
}

db_status wl_arrival_init(const wl_arrival_spec *s, int32_t nmodels, wl_arrival **out)
{
    *out = NULL;
    db_status st = wl_arrival_check(s);
    if (st != DB_OK)
        return st;
    if (nmodels < 1)
        return db_error(DB_ERR_ARG, "number of models must be >= 1 (got %d)", nmodels);
    wl_arrival *a = db_calloc(1, sizeof *a);
    if (!a)
        return db_error(DB_ERR_NOMEM, "out of memory");
    a->spec = *s;
    a->mean_rate = s->rate;
    switch (s->kind) {
    case WL_ARR_POISSON:
        break;
    case WL_ARR_GAMMA:
        a->shape = s->cv > 0 ? 1.0 / (s->cv * s->cv) : INFINITY;
        a->scale = s->cv * s->cv / s->rate;
        break;
    case WL_ARR_ONOFF:
        onoff_rates(s, &a->lambda[0], &a->lambda[1]);
        a->mean_dur[0] = s->on_s;
        a->mean_dur[1] = s->off_s;
        a->state = -1; /* drawn at the first call, from the caller's stream */
        break;
    case WL_ARR_REPLAY:
        st = init_replay(a);
        break;
    case WL_ARR_AZURE_FUNC:
        st = init_azure(a, nmodels);
        break;
    }
    if (st != DB_OK) {
        wl_arrival_free(a);
        return st;
    }
    *out = a;
    return DB_OK;
}

static int by_time(const void *x, const void *y)
{
    const minute_event *a = x, *b = y;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return (a->model > b->model) - (a->model < b->model);
}

/* Fills the buffer with the next minute that has invocations; false past the last minute. */
static bool azure_fill(wl_arrival *a, db_rng *r)
{
    const azure_func *f = &a->af;
    while (a->minute < f->nmin) {
        size_t k = a->minute++, n = 0;
        for (size_t i = 0; i < f->nfunc; i++) {
            uint32_t c = f->counts[i * f->nmin + k];
            for (uint32_t j = 0; j < c; j++)
                a->ev[n++] = (minute_event){60.0 * ((double)k + rng_f64(r)), (int32_t)i};
        }
        if (n == 0)
            continue;
        qsort(a->ev, n, sizeof *a->ev, by_time);
        a->nev = n;
        a->iev = 0;
        return true;
    }
    return false;
}

bool wl_arrival_next(wl_arrival *a, db_rng *r, wl_arrival_event *ev)
{
    ev->model = TRACE_NO_MODEL;
    ev->src = 0;
    switch (a->spec.kind) {
    case WL_ARR_POISSON:
        a->t += rng_exponential(r, a->spec.rate);
        break;
    case WL_ARR_GAMMA:
        if (a->spec.cv == 1.0)
            a->t += rng_exponential(r, a->spec.rate); /* Gamma(1) is exponential: same stream */
        else if (a->spec.cv == 0.0)
            a->t += 1.0 / a->spec.rate;
        else
            a->t += rng_gamma(r, a->shape, a->scale);
        break;
    case WL_ARR_ONOFF:
        if (a->state < 0) {
            const wl_arrival_spec *s = &a->spec;
            a->state = rng_f64(r) < s->on_s / (s->on_s + s->off_s) ? 0 : 1;
            a->left = rng_exponential(r, 1.0 / a->mean_dur[a->state]);
        }
        for (;;) {
            double l = a->lambda[a->state];
            if (l > 0) {
                double x = rng_exponential(r, l);
                if (x < a->left) {
                    a->left -= x;
                    a->t += x;
                    break;
                }
            }
            a->t += a->left;
            a->state ^= 1;
            a->left = rng_exponential(r, 1.0 / a->mean_dur[a->state]);
        }
        break;
    case WL_ARR_REPLAY: {
        if (a->next >= a->src.n)
            return false;
        const trace_req *q = &a->src.req[a->next];
        a->t = q->arrival_s * a->tscale;
        ev->model = q->model;
        ev->src = a->next++;
        break;
    }
    case WL_ARR_AZURE_FUNC:
        if (a->iev >= a->nev && !azure_fill(a, r))
            return false;
        a->t = a->ev[a->iev].t * a->tscale;
        ev->model = a->ev[a->iev++].model;
        break;
    }
    ev->t = a->t;
    return true;
}

const trace_table *wl_arrival_source(const wl_arrival *a)
{
    return a->spec.kind == WL_ARR_REPLAY ? &a->src : NULL;
}

double wl_arrival_mean_rate(const wl_arrival *a) { return a->mean_rate; }
