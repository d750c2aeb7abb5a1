/* gen.h: the workload generator: an arrival process, a popularity law and a length law
 * (arrival.h, popularity.h, lengths.h) combined into a request trace, and the textual specs
 * ("zipf:1.5", "lognormal:1000,1,200,0.8", ...) the CLI and experiment configs use.
 *
 * Determinism: each part draws from its own stream, rng_stream(seed, WL_STREAM_*), so the same
 * spec and seed give a bit-identical trace, and changing one part (say the popularity law)
 * leaves the other columns of the trace unchanged. The generator streams: wl_gen_next() fills
 * a caller's buffer, so traces of any size are produced in constant memory, and nothing is
 * allocated per request.
 *
 * Models come from the popularity law, except with popularity WL_POP_REPLAY ("replay"), which
 * takes each request's model from the arrival source: the model column of a replayed trace, or
 * the function rank of azure-functions arrivals. Likewise lengths WL_LEN_REPLAY takes the
 * lengths of the replayed requests (replay arrivals only). */
#ifndef DB_GEN_H
#define DB_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "workloads/arrival.h"
#include "workloads/lengths.h"
#include "workloads/popularity.h"
#include "workloads/trace.h"

enum { WL_STREAM_ARRIVAL = 1, WL_STREAM_POPULARITY = 2, WL_STREAM_LENGTHS = 3 };

typedef struct {
    wl_arrival_spec arrival;
    wl_pop_spec popularity;
    wl_len_spec lengths;
    int32_t nmodels;      /* M >= 1 */
    double duration_s;    /* keep arrivals with arrival_s < duration_s; 0 = no limit */
    int64_t max_requests; /* stop after this many requests; 0 = no limit */
    uint64_t seed;
    /* Replay defaults (the CLI sets them when the option is not given), resolved by
     * wl_gen_init once the source is read (wl_gen_effective shows the result):
     * pop_from_source: a replayed trace with a model column keeps its models (popularity
     * becomes replay), else the popularity law stays; models_from_source: with replayed models,
     * nmodels becomes the source's largest model id + 1. */
    bool pop_from_source, models_from_source;
} wl_gen_spec;

typedef struct wl_gen wl_gen;

/* Poisson 1 req/s, uniform over 1 model, fixed:512,128, no limits, seed 1. */
void wl_gen_defaults(wl_gen_spec *s);
/* DB_ERR_ARG with a message for impossible or contradictory parameters (rate <= 0, CV < 0,
 * a < 0, M = 0, an endless process with neither duration nor request limit, replay choices
 * without a replay source, ...). Files are not opened. */
db_status wl_gen_check(const wl_gen_spec *s);
/* Builds the generator (reads the files the spec names). */
db_status wl_gen_init(const wl_gen_spec *s, wl_gen **out);
/* Fills buf[0..*n) with the next requests, *n <= cap; *n == 0 means the trace is complete. */
db_status wl_gen_next(wl_gen *g, trace_req *buf, size_t cap, size_t *n);
/* The spec the generator runs: the one given, with its replay defaults resolved. */
const wl_gen_spec *wl_gen_effective(const wl_gen *g);
/* Requests the generator will produce, from the spec: the replayed source's count, else rate x
 * duration (each capped by max_requests); -1 when unknown (azure-functions counts). */
double wl_gen_estimate(const wl_gen *g);
/* Requests produced so far. */
int64_t wl_gen_count(const wl_gen *g);
/* The arrival process (for its mean rate). */
const wl_arrival *wl_gen_arrival(const wl_gen *g);
/* NULL is a no-op. */
void wl_gen_free(wl_gen *g);
/* The whole trace in memory (out zeroed first; free with trace_table_free). */
db_status wl_gen_trace(const wl_gen_spec *s, trace_table *out);

/* Spec texts. Each parser sets the kind and the parameters the text carries, leaves the other
 * fields as they were, and checks the result (DB_ERR_ARG with a message). FILE parts are
 * borrowed: they point into text, which must outlive the spec.
 *   arrival:    poisson | gamma | onoff | replay:FILE | azure-functions:FILE
 *               (rate, cv, on/off and time scale are set by the caller)
 *   popularity: uniform | zipf:A | deltazip-zipf:A | slora:A | azure:FILE | replay
 *   lengths:    fixed:P,O | uniform:PLO,PHI,OLO,OHI | lognormal:PMED,PSIG,OMED,OSIG |
 *               trace:FILE | replay */
db_status wl_arrival_parse(const char *text, wl_arrival_spec *s);
db_status wl_pop_parse(const char *text, wl_pop_spec *s);
db_status wl_len_parse(const char *text, wl_len_spec *s);
/* One-line descriptions with every parameter ("gamma rate=2 cv=3"); buf always terminated. */
void wl_arrival_describe(const wl_arrival_spec *s, char *buf, size_t n);
void wl_pop_describe(const wl_pop_spec *s, char *buf, size_t n);
void wl_len_describe(const wl_len_spec *s, char *buf, size_t n);

#endif
