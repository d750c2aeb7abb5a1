/* serve/metrics.c: table schemas, the run summary and the SLO curve of a serving run. */
#include "serve/metrics.h"

#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

static const res_field request_fields[] = {
    RES_I64(met_request_row, request_id), RES_I64(met_request_row, model),
    RES_I64(met_request_row, prompt_tokens), RES_I64(met_request_row, output_tokens),
    RES_I64(met_request_row, preemptions), RES_F64(met_request_row, arrival_s),
    RES_F64(met_request_row, queue_s), RES_F64(met_request_row, load_s),
    RES_F64(met_request_row, ttft_s), RES_F64(met_request_row, tpot_s),
    RES_F64(met_request_row, e2e_s), RES_F64(met_request_row, finish_s),
};
const res_schema met_request_schema =
    RES_SCHEMA("requests", "per-request serving metrics (seconds)", met_request_row, request_fields);

static const res_field memory_fields[] = {
    RES_F64(met_memory_row, t_s),
    RES_F64(met_memory_row, gpu_weights_bytes),
    RES_F64(met_memory_row, gpu_kv_bytes),
    RES_F64(met_memory_row, gpu_kv_reserved_bytes),
    RES_F64(met_memory_row, gpu_capacity_bytes),
    RES_F64(met_memory_row, host_bytes),
    RES_I64(met_memory_row, running),
    RES_I64(met_memory_row, waiting),
};
const res_schema met_memory_schema =
    RES_SCHEMA("memory", "GPU and host memory timeline", met_memory_row, memory_fields);

static const res_field load_fields[] = {
    RES_I64(met_load_row, model),         RES_I64(met_load_row, requests),
    RES_I64(met_load_row, gpu_loads),     RES_I64(met_load_row, disk_loads),
    RES_I64(met_load_row, gpu_evictions), RES_I64(met_load_row, host_evictions),
    RES_F64(met_load_row, load_bytes),
};
const res_schema met_load_schema =
    RES_SCHEMA("loads", "loads and evictions per model", met_load_row, load_fields);

static const res_field slo_fields[] = {
    RES_F64(met_slo_row, slo_s),
    RES_F64(met_slo_row, e2e_attainment),
    RES_F64(met_slo_row, ttft_attainment),
};
const res_schema met_slo_schema =
    RES_SCHEMA("slo", "share of requests within each latency SLO", met_slo_row, slo_fields);

static const res_field summary_fields[] = {
    RES_STR(met_summary_row, system),
    RES_STR(met_summary_row, executor),
    RES_STR(met_summary_row, hw),
    RES_STR(met_summary_row, model),
    RES_STR(met_summary_row, delta_format),
    RES_I64(met_summary_row, tp),
    RES_I64(met_summary_row, n_models),
    RES_I64(met_summary_row, n_requests),
    RES_I64(met_summary_row, gpus),
    RES_I64(met_summary_row, gpu_slots),
    RES_I64(met_summary_row, max_batch),
    RES_I64(met_summary_row, token_budget),
    RES_I64(met_summary_row, prefetch),
    RES_I64(met_summary_row, preempt),
    RES_I64(met_summary_row, iterations),
    RES_I64(met_summary_row, gpu_loads),
    RES_I64(met_summary_row, disk_loads),
    RES_I64(met_summary_row, gpu_evictions),
    RES_I64(met_summary_row, preemptions),
    RES_F64(met_summary_row, makespan_s),
    RES_F64(met_summary_row, throughput_rps),
    RES_F64(met_summary_row, output_tokens_per_s),
    RES_F64(met_summary_row, total_tokens_per_s),
    RES_F64(met_summary_row, mean_queue_s),
    RES_F64(met_summary_row, mean_load_s),
    RES_F64(met_summary_row, mean_ttft_s),
    RES_F64(met_summary_row, p50_ttft_s),
    RES_F64(met_summary_row, p99_ttft_s),
    RES_F64(met_summary_row, mean_tpot_s),
    RES_F64(met_summary_row, mean_e2e_s),
    RES_F64(met_summary_row, p50_e2e_s),
    RES_F64(met_summary_row, p90_e2e_s),
    RES_F64(met_summary_row, p99_e2e_s),
    RES_F64(met_summary_row, e2e_slo_5s),
    RES_F64(met_summary_row, full_model_bytes),
    RES_F64(met_summary_row, delta_bytes),
    RES_F64(met_summary_row, peak_gpu_bytes),
    RES_F64(met_summary_row, gpu_capacity_bytes),
    RES_F64(met_summary_row, kv_capacity_bytes),
};
const res_schema met_summary_schema =
    RES_SCHEMA("summary", "per-run serving summary", met_summary_row, summary_fields);

static int cmp_f64(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double pct(const double *v, int64_t n, double q)
{
    if (n == 0)
        return 0;
    int64_t k = (int64_t)(q * (double)n + 0.999999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

db_status met_summarize(const met_request_row *r, int64_t n, met_summary_row *s)
{
    s->n_requests = n;
    if (n == 0)
        return DB_OK;
    double *v = db_malloc_array((size_t)n, sizeof *v);
    if (!v)
        return db_error(DB_ERR_NOMEM, "summary of %lld requests", (long long)n);
    double first = r[0].arrival_s, last = 0, q = 0, ld = 0, ttft = 0, tpot = 0, e2e = 0;
    double out_tok = 0, all_tok = 0;
    for (int64_t i = 0; i < n; i++) {
        if (r[i].arrival_s < first)
            first = r[i].arrival_s;
        if (r[i].finish_s > last)
            last = r[i].finish_s;
        q += r[i].queue_s;
        ld += r[i].load_s;
        ttft += r[i].ttft_s;
        tpot += r[i].tpot_s;
        e2e += r[i].e2e_s;
        out_tok += (double)r[i].output_tokens;
        all_tok += (double)(r[i].output_tokens + r[i].prompt_tokens);
    }
    s->makespan_s = last - first;
    double span = s->makespan_s > 0 ? s->makespan_s : 1e-300;
    s->throughput_rps = (double)n / span;
    s->output_tokens_per_s = out_tok / span;
    s->total_tokens_per_s = all_tok / span;
    s->mean_queue_s = q / (double)n;
    s->mean_load_s = ld / (double)n;
    s->mean_ttft_s = ttft / (double)n;
    s->mean_tpot_s = tpot / (double)n;
    s->mean_e2e_s = e2e / (double)n;
    int64_t in5 = 0;
    for (int64_t i = 0; i < n; i++)
        in5 += r[i].e2e_s <= 5.0;
    s->e2e_slo_5s = (double)in5 / (double)n;
    for (int64_t i = 0; i < n; i++)
        v[i] = r[i].ttft_s;
    qsort(v, (size_t)n, sizeof *v, cmp_f64);
    s->p50_ttft_s = pct(v, n, 0.50);
    s->p99_ttft_s = pct(v, n, 0.99);
    for (int64_t i = 0; i < n; i++)
        v[i] = r[i].e2e_s;
    qsort(v, (size_t)n, sizeof *v, cmp_f64);
    s->p50_e2e_s = pct(v, n, 0.50);
    s->p90_e2e_s = pct(v, n, 0.90);
    s->p99_e2e_s = pct(v, n, 0.99);
    db_free(v);
    return DB_OK;
}

void met_slo(const met_request_row *r, int64_t n, met_slo_row *slo)
{
    for (int k = 0; k < MET_SLO_COUNT; k++) {
        double t = MET_SLO_MIN + MET_SLO_STEP * k;
        int64_t e = 0, f = 0;
        for (int64_t i = 0; i < n; i++) {
            e += r[i].e2e_s <= t;
            f += r[i].ttft_s <= t;
        }
        slo[k].slo_s = t;
        slo[k].e2e_attainment = n ? (double)e / (double)n : 0;
        slo[k].ttft_attainment = n ? (double)f / (double)n : 0;
    }
}

void met_print_table(FILE *out, const met_summary_row *rows, int n)
{
    fprintf(out, "%-10s %-11s %4s %7s %9s %8s %9s %8s %8s %8s %8s %7s %6s %8s\n", "system",
            "format", "gpus", "reqs", "makespan", "req/s", "out_tok/s", "TTFT", "E2E", "p99E2E",
            "TPOT", "SLO@5s", "loads", "peakGB");
    for (int i = 0; i < n; i++) {
        const met_summary_row *s = &rows[i];
        fprintf(out,
                "%-10s %-11s %4lld %7lld %8.1fs %8.3f %9.1f %7.3fs %7.3fs %7.2fs %6.1fms %6.1f%% %6lld "
                "%8.1f\n",
                s->system, s->delta_format[0] ? s->delta_format : "-", (long long)s->gpus,
                (long long)s->n_requests, s->makespan_s, s->throughput_rps, s->output_tokens_per_s,
                s->mean_ttft_s, s->mean_e2e_s, s->p99_e2e_s, s->mean_tpot_s * 1e3, 100 * s->e2e_slo_5s,
                (long long)s->gpu_loads, s->peak_gpu_bytes / 1e9);
    }
}

static const res_field breakdown_fields[] = {
    RES_STR(met_breakdown_row, part),     RES_F64(met_breakdown_row, mean_s),
    RES_F64(met_breakdown_row, share_e2e), RES_F64(met_breakdown_row, p50_s),
    RES_F64(met_breakdown_row, p99_s),
};
const res_schema met_breakdown_schema =
    RES_SCHEMA("breakdown", "where the requests' time went: parts of e2e_s", met_breakdown_row,
               breakdown_fields);

static double part_of(const met_request_row *r, int k)
{
    switch (k) {
    case 0:
        return r->queue_s - r->load_s;
    case 1:
        return r->load_s;
    case 2:
        return r->ttft_s - r->queue_s;
    default:
        return r->e2e_s - r->ttft_s;
    }
}

db_status met_breakdown(const met_request_row *r, int64_t n, met_breakdown_row *out)
{
    static const char *names[MET_PARTS] = {"queue", "load", "prefill", "decode"};
    memset(out, 0, MET_PARTS * sizeof *out);
    double *v = n > 0 ? db_malloc_array((size_t)n, sizeof *v) : NULL;
    if (n > 0 && !v)
        return db_error(DB_ERR_NOMEM, "breakdown of %lld requests", (long long)n);
    double e2e = 0;
    for (int64_t i = 0; i < n; i++)
        e2e += r[i].e2e_s;
    for (int k = 0; k < MET_PARTS; k++) {
        met_breakdown_row *b = &out[k];
        snprintf(b->part, sizeof b->part, "%s", names[k]);
        double sum = 0;
        for (int64_t i = 0; i < n; i++)
            sum += v[i] = part_of(&r[i], k);
        b->mean_s = n ? sum / (double)n : 0;
        b->share_e2e = e2e > 0 ? sum / e2e : 0;
        if (n) {
            qsort(v, (size_t)n, sizeof *v, cmp_f64);
            b->p50_s = pct(v, n, 0.50);
            b->p99_s = pct(v, n, 0.99);
        }
    }
    db_free(v);
    return DB_OK;
}

void met_print_breakdown(FILE *out, const met_breakdown_row *b)
{
    fprintf(out, "where time went (mean per request):");
    for (int k = 0; k < MET_PARTS; k++)
        fprintf(out, "%s %s %.3f s (%.0f%%)", k ? "," : "", b[k].part, b[k].mean_s,
                100 * b[k].share_e2e);
    fputc('\n', out);
}
