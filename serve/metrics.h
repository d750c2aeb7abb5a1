/* serve/metrics.h: what a serving run reports (`met_` module): the row structs of the HDF5
 * tables `requests`, `summary`, `slo`, `memory`, `loads` and `breakdown` with their schemas, the per-run
 * summary computed from the per-request rows, and the stdout summary table.
 *
 * Definitions (docs/serving.md repeats them; `breakdown` splits e2e_s into its parts below):
 *   queue_s  = first admission - arrival (includes waiting for a load)
 *   load_s   = the part of queue_s spent waiting for the request's model to arrive on the GPU
 *   ttft_s   = first output token - arrival;  e2e_s = finish - arrival
 *   tpot_s   = (finish - first token) / (output_tokens - 1)  (0 for one-token outputs)
 *   makespan = last finish - first arrival
 *   throughput_rps = requests / makespan;  output_tokens_per_s = generated tokens / makespan
 *   SLO attainment at s = share of requests with e2e_s <= s (and ttft_s <= s), s = 1, 1.5, ... */
#ifndef DB_SERVE_METRICS_H
#define DB_SERVE_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "core/status.h"
#include "core/results.h"

typedef struct {
    int64_t request_id, model, prompt_tokens, output_tokens, preemptions;
    double arrival_s, queue_s, load_s, ttft_s, tpot_s, e2e_s, finish_s;
} met_request_row;
extern const res_schema met_request_schema;

typedef struct {
    double t_s;
    double gpu_weights_bytes;     /* base + models/deltas occupying GPU slots (all replicas) */
    double gpu_kv_bytes;          /* KV blocks in use */
    double gpu_kv_reserved_bytes; /* KV blocks reserved by admitted requests */
    double gpu_capacity_bytes;    /* HBM of every GPU of the run */
    double host_bytes;            /* host cache contents */
    int64_t running, waiting;
} met_memory_row;
extern const res_schema met_memory_schema;

typedef struct {
    int64_t model, requests, gpu_loads, disk_loads, gpu_evictions, host_evictions;
    double load_bytes; /* bytes moved host -> GPU for this model */
} met_load_row;
extern const res_schema met_load_schema;

typedef struct {
    double slo_s, e2e_attainment, ttft_attainment;
} met_slo_row;
extern const res_schema met_slo_schema;

#define MET_SLO_MIN 1.0
#define MET_SLO_STEP 0.5
#define MET_SLO_COUNT 59 /* 1.0 .. 30.0 s */

typedef struct {
    char system[16], executor[16], hw[32], model[24], delta_format[16];
    int64_t tp, n_models, n_requests, gpus, gpu_slots, max_batch, token_budget;
    int64_t prefetch, preempt, iterations, gpu_loads, disk_loads, gpu_evictions, preemptions;
    double makespan_s, throughput_rps, output_tokens_per_s, total_tokens_per_s;
    double mean_queue_s, mean_load_s, mean_ttft_s, p50_ttft_s, p99_ttft_s;
    double mean_tpot_s, mean_e2e_s, p50_e2e_s, p90_e2e_s, p99_e2e_s, e2e_slo_5s;
    double full_model_bytes, delta_bytes, peak_gpu_bytes, gpu_capacity_bytes, kv_capacity_bytes;
} met_summary_row;
extern const res_schema met_summary_schema;

/* Where the requests' time went: one row per component of e2e_s, which they sum to:
 *   queue    = queue_s - load_s          (waiting for a batch slot, KV room or a GPU slot)
 *   load     = load_s                    (waiting for the request's model or delta to load)
 *   prefill  = ttft_s - queue_s          (the admitting iteration(s) up to the first token)
 *   decode   = e2e_s - ttft_s            (the remaining output tokens)
 * mean_s is the mean over requests, share_e2e = mean_s / mean e2e_s. */
#define MET_PARTS 4
typedef struct {
    char part[16];
    double mean_s, share_e2e, p50_s, p99_s;
} met_breakdown_row;
extern const res_schema met_breakdown_schema;

/* The MET_PARTS breakdown rows from n request rows; allocates a scratch copy for the
 * percentiles. */
db_status met_breakdown(const met_request_row *rows, int64_t n, met_breakdown_row *out);
/* "where time went (mean per request): queue 1.20 s (13%), load ..." on one line. */
void met_print_breakdown(FILE *out, const met_breakdown_row *b);

/* Fills the request-derived fields of *s (makespan, throughput, latency means and percentiles)
 * from n rows. Allocates a scratch copy for the percentiles. */
db_status met_summarize(const met_request_row *rows, int64_t n, met_summary_row *s);
/* SLO attainment at MET_SLO_COUNT thresholds into slo[MET_SLO_COUNT]. */
void met_slo(const met_request_row *rows, int64_t n, met_slo_row *slo);
/* Prints one line per summary (a header first) as an aligned table. */
void met_print_table(FILE *out, const met_summary_row *rows, int n);

#endif
