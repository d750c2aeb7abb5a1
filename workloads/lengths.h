/* lengths.h: prompt and output token counts, the third independent part of a workload.
 * Formulas and ranges: docs/workloads.md. Index 0 of each pair is the prompt, 1 the output.
 *
 *   fixed:P,O                       every request has P prompt and O output tokens
 *   uniform:PLO,PHI,OLO,OHI         integers uniform in [lo, hi] (inclusive), independently
 *   lognormal:PMED,PSIG,OMED,OSIG   round(exp(ln(median) + sigma Z)), Z standard normal,
 *                                   clamped to [1, 2^31-1]; the median of the integer
 *                                   lengths is round(median), sigma the std of ln(length);
 *                                   prompt and output independent
 *   trace:FILE                      a (prompt, output) pair drawn uniformly from the requests
 *                                   of a trace file (Azure LLM ContextTokens/GeneratedTokens,
 *                                   or a deltabench trace): the empirical joint distribution
 *   replay                          not a law: the lengths of the replayed request (gen.h)
 *
 * Drawn lengths are >= 1 (trace: copies the file's, which may hold 0). Nothing is allocated
 * after wl_len_init. */
#ifndef DB_LENGTHS_H
#define DB_LENGTHS_H

#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"

typedef enum {
    WL_LEN_FIXED,
    WL_LEN_UNIFORM,
    WL_LEN_LOGNORMAL,
    WL_LEN_TRACE,
    WL_LEN_REPLAY,
} wl_len_kind;

typedef struct {
    wl_len_kind kind;
    int32_t fixed[2];  /* fixed: >= 1 */
    int32_t lo[2];     /* uniform: 1 <= lo <= hi */
    int32_t hi[2];
    double median[2];  /* lognormal: >= 1 */
    double sigma[2];   /* lognormal: in [0, 10] */
    const char *path;  /* trace: the file (borrowed) */
} wl_len_spec;

typedef struct wl_len wl_len;

/* fixed:512,128 */
void wl_len_defaults(wl_len_spec *s);
/* DB_ERR_ARG for impossible parameters. */
db_status wl_len_check(const wl_len_spec *s);
/* Builds the law (reads the file of trace:FILE; a file without requests is an error). */
db_status wl_len_init(const wl_len_spec *s, wl_len **out);
/* One (prompt, output) pair. */
void wl_len_sample(const wl_len *l, db_rng *r, int32_t *prompt, int32_t *output);
/* NULL is a no-op. */
void wl_len_free(wl_len *l);

#endif
