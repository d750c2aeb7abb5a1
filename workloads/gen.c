/* gen.c: the workload generator and the spec parsers of gen.h.
 *
 * The hot loop is wl_gen_next: per request one arrival, one popularity draw and one length
 * draw, each from its own stream, written straight into the caller's buffer. */
#include "workloads/gen.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

struct wl_gen {
    wl_gen_spec spec;
    wl_arrival *arr;
    wl_pop *pop;                     /* NULL with popularity replay */
    wl_len *len;                     /* NULL with lengths replay */
    const trace_table *src;          /* replayed trace, or NULL */
    db_rng r_arr, r_pop, r_len;
    int64_t count;
    bool done;
};

void wl_gen_defaults(wl_gen_spec *s)
{
    memset(s, 0, sizeof *s);
    wl_arrival_defaults(&s->arrival);
    s->popularity.kind = WL_POP_UNIFORM;
    wl_len_defaults(&s->lengths);
    s->nmodels = 1;
    s->seed = 1;
}

db_status wl_gen_check(const wl_gen_spec *s)
{
    db_status st;
    if (s->nmodels < 1)
        return db_error(DB_ERR_ARG, "number of models must be >= 1 (got %d)", s->nmodels);
    if (!(s->duration_s >= 0) || !isfinite(s->duration_s))
        return db_error(DB_ERR_ARG, "duration must be >= 0 s (got %g)", s->duration_s);
    if (s->max_requests < 0)
        return db_error(DB_ERR_ARG, "request limit must be >= 0 (got %lld)",
                        (long long)s->max_requests);
    if ((st = wl_arrival_check(&s->arrival)) != DB_OK)
        return st;
    wl_arrival_kind ak = s->arrival.kind;
    bool finite = ak == WL_ARR_REPLAY || ak == WL_ARR_AZURE_FUNC;
    if (!finite && s->duration_s == 0 && s->max_requests == 0)
        return db_error(DB_ERR_ARG, "a synthetic arrival process never ends: give a duration or "
                                    "a request limit");
    if (s->popularity.kind == WL_POP_REPLAY) {
        if (!finite)
            return db_error(DB_ERR_ARG, "popularity 'replay' needs replay or azure-functions "
                                        "arrivals to take models from");
    } else if ((st = wl_pop_check(&s->popularity)) != DB_OK) {
        return st;
    }
    if (s->lengths.kind == WL_LEN_REPLAY) {
        if (ak != WL_ARR_REPLAY)
            return db_error(DB_ERR_ARG, "lengths 'replay' need replay arrivals to take lengths "
                                        "from");
    } else if ((st = wl_len_check(&s->lengths)) != DB_OK) {
        return st;
    }
    return DB_OK;
}

void wl_gen_free(wl_gen *g)
{
    if (!g)
        return;
    wl_arrival_free(g->arr);
    wl_pop_free(g->pop);
    wl_len_free(g->len);
    db_free(g);
}

db_status wl_gen_init(const wl_gen_spec *s, wl_gen **out)
{
    *out = NULL;
    db_status st = wl_gen_check(s);
    if (st != DB_OK)
        return st;
    wl_gen *g = db_calloc(1, sizeof *g);
    if (!g)
        return db_error(DB_ERR_NOMEM, "out of memory");
    g->spec = *s;
    rng_stream(&g->r_arr, s->seed, WL_STREAM_ARRIVAL);
    rng_stream(&g->r_pop, s->seed, WL_STREAM_POPULARITY);
    rng_stream(&g->r_len, s->seed, WL_STREAM_LENGTHS);
    if ((st = wl_arrival_init(&s->arrival, s->nmodels, &g->arr)) != DB_OK)
        goto fail;
    g->src = wl_arrival_source(g->arr);
    if (g->src && g->src->has_models && s->pop_from_source)
        g->spec.popularity.kind = WL_POP_REPLAY;
    if (g->src && g->src->has_models && s->models_from_source &&
        g->spec.popularity.kind == WL_POP_REPLAY) {
        int32_t mx = 0;
        for (size_t i = 0; i < g->src->n; i++)
            if (g->src->req[i].model > mx)
                mx = g->src->req[i].model;
        g->spec.nmodels = mx + 1;
    }
    s = &g->spec;
    if (s->popularity.kind == WL_POP_REPLAY && g->src) {
        const trace_table *t = g->src;
        if (!t->has_models) {
            st = db_error(DB_ERR_ARG, "%s has no model column: choose a popularity law to "
                                      "assign models",
                          s->arrival.path);
            goto fail;
        }
        for (size_t i = 0; i < t->n; i++)
            if (t->req[i].model >= s->nmodels) {
                st = db_error(DB_ERR_ARG, "%s: request %lld has model %d, outside the %d models",
                              s->arrival.path, (long long)t->req[i].request_id, t->req[i].model,
                              s->nmodels);
                goto fail;
            }
    }
    if (s->popularity.kind != WL_POP_REPLAY &&
        (st = wl_pop_init(&s->popularity, s->nmodels, &g->pop)) != DB_OK)
        goto fail;
    if (s->lengths.kind != WL_LEN_REPLAY && (st = wl_len_init(&s->lengths, &g->len)) != DB_OK)
        goto fail;
    *out = g;
    return DB_OK;
fail:
    wl_gen_free(g);
    return st;
}

db_status wl_gen_next(wl_gen *g, trace_req *buf, size_t cap, size_t *n)
{
    const wl_gen_spec *s = &g->spec;
    size_t k = 0;
    while (k < cap && !g->done) {
        if (s->max_requests > 0 && g->count >= s->max_requests) {
            g->done = true;
            break;
        }
        wl_arrival_event ev;
        if (!wl_arrival_next(g->arr, &g->r_arr, &ev) ||
            (s->duration_s > 0 && ev.t >= s->duration_s)) {
            g->done = true;
            break;
        }
        trace_req *q = &buf[k++];
        q->arrival_s = ev.t;
        q->request_id = g->count++;
        q->model = g->pop ? wl_pop_sample(g->pop, &g->r_pop) : ev.model;
        if (g->len) {
            wl_len_sample(g->len, &g->r_len, &q->prompt_tokens, &q->output_tokens);
        } else {
            const trace_req *o = &g->src->req[ev.src];
            q->prompt_tokens = o->prompt_tokens;
            q->output_tokens = o->output_tokens;
        }
    }
    *n = k;
    return DB_OK;
}

int64_t wl_gen_count(const wl_gen *g) { return g->count; }

const wl_gen_spec *wl_gen_effective(const wl_gen *g) { return &g->spec; }

double wl_gen_estimate(const wl_gen *g)
{
    const wl_gen_spec *s = &g->spec;
    double n;
    if (g->src)
        n = (double)g->src->n;
    else if (s->arrival.kind == WL_ARR_AZURE_FUNC)
        n = s->max_requests > 0 ? (double)s->max_requests : -1;
    else
        n = s->duration_s > 0 ? s->arrival.rate * s->duration_s : INFINITY;
    if (s->max_requests > 0 && (n < 0 || n > (double)s->max_requests))
        n = (double)s->max_requests;
    return n;
}

const wl_arrival *wl_gen_arrival(const wl_gen *g) { return g->arr; }

db_status wl_gen_trace(const wl_gen_spec *s, trace_table *out)
{
    memset(out, 0, sizeof *out);
    wl_gen *g;
    db_status st = wl_gen_init(s, &g);
    if (st != DB_OK)
        return st;
    size_t cap = s->max_requests > 0 && s->max_requests <= (1 << 24) ? (size_t)s->max_requests
                                                                       : (size_t)1 << 16;
    trace_req *req = db_malloc_array(cap, sizeof *req);
    size_t n = 0;
    for (;;) {
        if (!req) {
            st = db_error(DB_ERR_NOMEM, "out of memory for %zu requests", cap);
            break;
        }
        size_t got;
        wl_gen_next(g, req + n, cap - n, &got);
        n += got;
        if (got == 0 || (s->max_requests > 0 && (int64_t)n == s->max_requests))
            break;
        if (n == cap) {
            trace_req *more = db_realloc(req, 2 * cap * sizeof *req);
            if (!more)
                db_free(req);
            req = more;
            cap *= 2;
        }
    }
    wl_gen_free(g);
    if (st != DB_OK)
        return st;
    out->req = req;
    out->n = n;
    out->format = TRACE_FMT_CSV;
    out->has_models = true;
    return DB_OK;
}

/* ---- spec texts -------------------------------------------------------------------------- */

/* Parses exactly n comma-separated finite numbers. */
static bool parse_nums(const char *text, double *v, int n)
{
    const char *p = text;
    for (int i = 0; i < n; i++) {
        char *end;
        if (*p == '\0' || *p == ',' || *p == ' ')
            return false;
        v[i] = strtod(p, &end);
        if (end == p || !isfinite(v[i]))
            return false;
        p = end;
        if (i < n - 1) {
            if (*p != ',')
                return false;
            p++;
        }
    }
    return *p == '\0';
}

static bool parse_ints(const char *text, int32_t *v, int n)
{
    double d[4];
    if (n > 4 || !parse_nums(text, d, n))
        return false;
    for (int i = 0; i < n; i++) {
        if (d[i] != floor(d[i]) || d[i] < INT32_MIN || d[i] > INT32_MAX)
            return false;
        v[i] = (int32_t)d[i];
    }
    return true;
}

/* If text is "name" (want_arg false) or "name:ARG" (want_arg true), sets *arg and returns true. */
static bool prefix(const char *text, const char *name, const char **arg)
{
    size_t n = strlen(name);
    if (strncmp(text, name, n) != 0)
        return false;
    if (text[n] == '\0') {
        *arg = NULL;
        return true;
    }
    if (text[n] == ':') {
        *arg = text + n + 1;
        return true;
    }
    return false;
}

db_status wl_arrival_parse(const char *text, wl_arrival_spec *s)
{
    const char *arg;
    wl_arrival_spec t = *s;
    if (prefix(text, "poisson", &arg) && !arg) {
        t.kind = WL_ARR_POISSON;
    } else if (prefix(text, "gamma", &arg) && !arg) {
        t.kind = WL_ARR_GAMMA;
    } else if (prefix(text, "onoff", &arg) && !arg) {
        t.kind = WL_ARR_ONOFF;
    } else if (prefix(text, "replay", &arg) && arg && *arg) {
        t.kind = WL_ARR_REPLAY;
        t.path = arg;
    } else if (prefix(text, "azure-functions", &arg) && arg && *arg) {
        t.kind = WL_ARR_AZURE_FUNC;
        t.path = arg;
    } else {
        return db_error(DB_ERR_ARG, "unknown arrival process '%s' (expected poisson, gamma, "
                                    "onoff, replay:FILE or azure-functions:FILE)",
                        text);
    }
    *s = t;
    return DB_OK;
}

db_status wl_pop_parse(const char *text, wl_pop_spec *s)
{
    const char *arg;
    wl_pop_spec t = *s;
    double a;
    if (prefix(text, "uniform", &arg) && !arg) {
        t.kind = WL_POP_UNIFORM;
    } else if (prefix(text, "replay", &arg) && !arg) {
        t.kind = WL_POP_REPLAY;
    } else if (prefix(text, "azure", &arg) && arg && *arg) {
        t.kind = WL_POP_AZURE;
        t.path = arg;
    } else if (prefix(text, "zipf", &arg) || prefix(text, "deltazip-zipf", &arg) ||
               prefix(text, "slora", &arg)) {
        t.kind = text[0] == 'z' ? WL_POP_ZIPF : text[0] == 'd' ? WL_POP_DELTAZIP : WL_POP_SLORA;
        if (!arg || !parse_nums(arg, &a, 1))
            return db_error(DB_ERR_ARG, "popularity '%s': expected one exponent, as in "
                                        "zipf:1.5",
                            text);
        t.a = a;
    } else {
        return db_error(DB_ERR_ARG, "unknown popularity '%s' (expected uniform, zipf:A, "
                                    "deltazip-zipf:A, slora:A, azure:FILE or replay)",
                        text);
    }
    db_status st = t.kind == WL_POP_REPLAY ? DB_OK : wl_pop_check(&t);
    if (st != DB_OK)
        return st;
    *s = t;
    return DB_OK;
}

db_status wl_len_parse(const char *text, wl_len_spec *s)
{
    const char *arg;
    wl_len_spec t = *s;
    if (prefix(text, "replay", &arg) && !arg) {
        t.kind = WL_LEN_REPLAY;
        *s = t;
        return DB_OK;
    }
    if (prefix(text, "fixed", &arg)) {
        int32_t v[2];
        if (!arg || !parse_ints(arg, v, 2))
            return db_error(DB_ERR_ARG, "lengths '%s': expected fixed:P,O with integer token "
                                        "counts",
                            text);
        t.kind = WL_LEN_FIXED;
        t.fixed[0] = v[0];
        t.fixed[1] = v[1];
    } else if (prefix(text, "uniform", &arg)) {
        int32_t v[4];
        if (!arg || !parse_ints(arg, v, 4))
            return db_error(DB_ERR_ARG, "lengths '%s': expected uniform:PLO,PHI,OLO,OHI with "
                                        "integer token counts",
                            text);
        t.kind = WL_LEN_UNIFORM;
        t.lo[0] = v[0];
        t.hi[0] = v[1];
        t.lo[1] = v[2];
        t.hi[1] = v[3];
    } else if (prefix(text, "lognormal", &arg)) {
        double v[4];
        if (!arg || !parse_nums(arg, v, 4))
            return db_error(DB_ERR_ARG, "lengths '%s': expected lognormal:PMEDIAN,PSIGMA,"
                                        "OMEDIAN,OSIGMA",
                            text);
        t.kind = WL_LEN_LOGNORMAL;
        t.median[0] = v[0];
        t.sigma[0] = v[1];
        t.median[1] = v[2];
        t.sigma[1] = v[3];
    } else if (prefix(text, "trace", &arg) && arg && *arg) {
        t.kind = WL_LEN_TRACE;
        t.path = arg;
    } else {
        return db_error(DB_ERR_ARG, "unknown lengths '%s' (expected fixed:P,O, "
                                    "uniform:PLO,PHI,OLO,OHI, lognormal:PMED,PSIG,OMED,OSIG, "
                                    "trace:FILE or replay)",
                        text);
    }
    db_status st = wl_len_check(&t);
    if (st != DB_OK)
        return st;
    *s = t;
    return DB_OK;
}

void wl_arrival_describe(const wl_arrival_spec *s, char *buf, size_t n)
{
    switch (s->kind) {
    case WL_ARR_POISSON:
        snprintf(buf, n, "poisson rate=%.10g", s->rate);
        return;
    case WL_ARR_GAMMA:
        snprintf(buf, n, "gamma rate=%.10g cv=%.10g", s->rate, s->cv);
        return;
    case WL_ARR_ONOFF:
        snprintf(buf, n, "onoff rate=%.10g on_s=%.10g off_s=%.10g off_ratio=%.10g", s->rate,
                 s->on_s, s->off_s, s->off_ratio);
        return;
    case WL_ARR_REPLAY:
    case WL_ARR_AZURE_FUNC:
        if (s->rate > 0)
            snprintf(buf, n, "%s:%s rate=%.10g",
                     s->kind == WL_ARR_REPLAY ? "replay" : "azure-functions", s->path, s->rate);
        else
            snprintf(buf, n, "%s:%s time_scale=%.10g",
                     s->kind == WL_ARR_REPLAY ? "replay" : "azure-functions", s->path,
                     s->time_scale);
        return;
    }
    snprintf(buf, n, "unknown");
}

void wl_pop_describe(const wl_pop_spec *s, char *buf, size_t n)
{
    switch (s->kind) {
    case WL_POP_UNIFORM:
        snprintf(buf, n, "uniform");
        return;
    case WL_POP_ZIPF:
        snprintf(buf, n, "zipf:%.10g", s->a);
        return;
    case WL_POP_DELTAZIP:
        snprintf(buf, n, "deltazip-zipf:%.10g", s->a);
        return;
    case WL_POP_SLORA:
        snprintf(buf, n, "slora:%.10g", s->a);
        return;
    case WL_POP_AZURE:
        snprintf(buf, n, "azure:%s", s->path);
        return;
    case WL_POP_REPLAY:
        snprintf(buf, n, "replay");
        return;
    }
    snprintf(buf, n, "unknown");
}

void wl_len_describe(const wl_len_spec *s, char *buf, size_t n)
{
    switch (s->kind) {
    case WL_LEN_FIXED:
        snprintf(buf, n, "fixed:%d,%d", s->fixed[0], s->fixed[1]);
        return;
    case WL_LEN_UNIFORM:
        snprintf(buf, n, "uniform:%d,%d,%d,%d", s->lo[0], s->hi[0], s->lo[1], s->hi[1]);
        return;
    case WL_LEN_LOGNORMAL:
        snprintf(buf, n, "lognormal:%.10g,%.10g,%.10g,%.10g", s->median[0], s->sigma[0],
                 s->median[1], s->sigma[1]);
        return;
    case WL_LEN_TRACE:
        snprintf(buf, n, "trace:%s", s->path);
        return;
    case WL_LEN_REPLAY:
        snprintf(buf, n, "replay");
        return;
    }
    snprintf(buf, n, "unknown");
}
