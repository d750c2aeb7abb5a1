/* cmd_trace.c: `deltabench trace gen` (make a request trace from an arrival process, a
 * popularity law and a length law, or from a replayed trace) and `deltabench trace stats`
 * (summarise any trace file).
 *
 * Parse, check, build, run, free. Option mistakes and impossible parameters are usage errors
 * (exit 2); problems with files or the work are failures (exit 1, one line naming the file),
 * and a failed `gen` leaves no output file behind (the writer renames only on success). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "core/alloc.h"
#include "harness/cli.h"
#include "workloads/gen.h"
#include "workloads/stats.h"
#include "workloads/trace.h"

enum { GEN_CHUNK = 1 << 16 };

static void usage_top(void)
{
    printf("usage: deltabench trace gen [OPTIONS] --out FILE\n"
           "       deltabench trace stats [OPTIONS] FILE\n\n"
           "Request traces for the serving experiments (columns request_id, arrival_s, model,\n"
           "prompt_tokens, output_tokens; CSV or an HDF5 table 'requests').\n\n"
           "  gen     generate a trace, or replay and re-shape one\n"
           "  stats   print rate, burstiness, per-model counts and length percentiles\n\n"
           "'deltabench trace gen --help' and 'deltabench trace stats --help' list the options;\n"
           "docs/workloads.md has every formula.\n");
}

static void usage_gen(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench trace gen [OPTIONS] --out FILE\n\n"
           "Generates a request trace: arrival times, a model per request and token counts, each\n"
           "part from its own random stream of --seed (same seed, byte-identical file).\n\n");
    cli_help(stdout, opts, n);
    printf("\nexample: deltabench trace gen --arrival gamma --rate 2 --cv 3 --models 32 \\\n"
           "           --popularity zipf:1.5 --lengths lognormal:1000,1,200,0.8 --duration 600 \\\n"
           "           --seed 7 --out trace.csv\n");
}

static void usage_stats(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench trace stats [OPTIONS] FILE\n\n"
           "Summarises a trace: a deltabench CSV or HDF5 trace, or an Azure LLM inference CSV.\n"
           "  span            last - first arrival\n"
           "  mean_rate       (requests - 1) / span\n"
           "  interarrival    mean, std and CV = std / mean of successive differences\n"
           "  peak_to_mean    busiest one-second bin / mean requests per second\n"
           "  models          per-model counts, busiest first, and the maximum-likelihood Zipf\n"
           "                  exponent a (p_r ~ r^-a over ranks 1..M of the counts)\n"
           "  *_tokens        nearest-rank percentiles p50, p90, p99, mean, min, max\n\n");
    cli_help(stdout, opts, n);
}

/* ---- gen --------------------------------------------------------------------------------- */

#define GEN_LIMIT_DEFAULT 100000000LL /* requests; about 5 GB of CSV */
#define GEN_ROW_BYTES 48.0            /* output bytes per request, an upper estimate */

/* Refuses work beyond the limit or the free space, before anything is written. */
static db_status check_size(const wl_gen *g, const char *out, int64_t limit)
{
    double est = wl_gen_estimate(g);
    if (est < 0)
        return DB_OK; /* azure-functions: bounded by its file */
    if (!(est <= (double)limit))
        return db_error(DB_ERR_ARG, "%s: about %.3g requests (%.3g GB) estimated, above --limit "
                                    "%lld: lower --rate, --duration or --requests, or raise "
                                    "--limit",
                        out, est, est * GEN_ROW_BYTES / 1e9, (long long)limit);
    if (!strcmp(out, "-"))
        return DB_OK;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    struct statvfs vs;
    if (statvfs(dir, &vs) != 0)
        return DB_OK; /* the writer reports a missing directory by name */
    double avail = (double)vs.f_bavail * (double)vs.f_frsize, need = est * GEN_ROW_BYTES;
    if (need > avail)
        return db_error(DB_ERR_IO, "%s: about %.3g requests need about %.3g GB; %s has %.3g GB free",
                        out, est, need / 1e9, dir, avail / 1e9);
    return DB_OK;
}

static int gen_main(int argc, char **argv, int full_argc, char **full_argv)
{
    static const char *cmd = "trace gen";
    wl_gen_spec spec;
    wl_gen_defaults(&spec);
    const char *arrival = "poisson", *popularity = NULL, *lengths = NULL, *out = NULL;
    /* NaN: not given (the spec's default stays; some options apply to one process only) */
    double rate = NAN, cv = NAN, on = NAN, off = NAN, off_ratio = NAN, scale = NAN;
    int nmodels = 0; /* 0: not given */
    int64_t limit = GEN_LIMIT_DEFAULT;
    bool quiet = false;
    const cli_opt opts[] = {
        CLI_STR_OPT("arrival", &arrival, "P",
                    "arrival process:\n"
                    "  poisson               exponential gaps, mean 1/rate\n"
                    "  gamma                 Gamma gaps: mean 1/rate, CV --cv\n"
                    "  onoff                 2-state MMPP: on/off periods, mean rate\n"
                    "  replay:FILE           the times of a trace (deltabench CSV/HDF5\n"
                    "                        or Azure LLM inference CSV)\n"
                    "  azure-functions:FILE  per-minute invocation counts of the top\n"
                    "                        --models functions of an Azure Functions\n"
                    "                        file, spread uniformly in each minute",
                    "poisson"),
        CLI_POS_OPT("rate", &rate, 1e9, "R",
                    "mean requests/s, in (0, 1e9]; with replay and azure-functions:\n"
                    "rescale time to this rate (else the file's own)", "1"),
        CLI_REAL_OPT("cv", &cv, 0, 1000, "C",
                     "gamma: inter-arrival coefficient of variation, in [0, 1000]\n"
                     "(1 = Poisson, 0 = evenly spaced, larger = burstier)", "1"),
        CLI_POS_OPT("on", &on, 1e9, "S", "onoff: mean on-period, s, in (0, 1e9]", "10"),
        CLI_POS_OPT("off", &off, 1e9, "S", "onoff: mean off-period, s, in (0, 1e9]", "30"),
        CLI_REAL_OPT("off-ratio", &off_ratio, 0, 1, "F",
                     "onoff: rate while off / rate while on, in [0, 1)", "0"),
        CLI_POS_OPT("time-scale", &scale, 1e9, "F",
                    "replay, azure-functions: multiply times by F, in (0, 1e9]\n"
                    "(F < 1 compresses, F > 1 stretches; or use --rate)", "1"),
        CLI_INT_OPT("models", &nmodels, 1, 10000000, "N", "number of models M, in [1, 10000000]",
                    "1; replay of a trace with models: its largest id + 1"),
        CLI_STR_OPT("popularity", &popularity, "L",
                    "model of each request:\n"
                    "  uniform               p_i = 1/M\n"
                    "  zipf:A                p_i ~ (i+1)^-A, A in [0, 100]\n"
                    "  deltazip-zipf:A       p_i ~ (i+1)^+A (DeltaZip's sign), A in [0, 100]\n"
                    "  slora:A               S-LoRA power draw floor(M u^(1/A)), A in (0, 100]\n"
                    "  azure:FILE            p_i ~ invocations of the i-th busiest\n"
                    "                        function of an Azure Functions file\n"
                    "  replay                the model of the replayed request / function\n"
                    "a law other than replay needs --models N; replay of a\n"
                    "trace with a model column keeps its models",
                    "uniform; replay with azure-functions, or of a trace with models"),
        CLI_STR_OPT("lengths", &lengths, "L",
                    "prompt and output tokens:\n"
                    "  fixed:P,O             P, O >= 1\n"
                    "  uniform:PLO,PHI,OLO,OHI   integers in [lo, hi], 1 <= lo <= hi\n"
                    "  lognormal:PMED,PSIG,OMED,OSIG   median in [1, 1e9], sigma in [0, 10]\n"
                    "  trace:FILE            (prompt, output) pairs drawn from a trace\n"
                    "  replay                the replayed request's lengths",
                    "fixed:512,128; replay with replay arrivals"),
        CLI_REAL_OPT("duration", &spec.duration_s, 0, 1e12, "S",
                     "keep arrivals before S seconds, in [0, 1e12]", "0 = no limit"),
        CLI_INT_OPT("requests", &spec.max_requests, 0, 1000000000000LL, "N",
                    "stop after N requests, in [0, 1e12]\n"
                    "(poisson, gamma and onoff need --duration or --requests)", "0 = no limit"),
        CLI_INT_OPT("limit", &limit, 1, 1000000000000LL, "N",
                    "refuse a trace estimated (rate x duration, --requests, or\n"
                    "the replayed file) at more than N requests, in [1, 1e12];\n"
                    "the output's estimated size must also fit the free space", "100000000"),
        CLI_INT_OPT("seed", &spec.seed, 0, INT64_MAX, "S", "random seed, in [0, 2^63-1]", "1"),
        CLI_STR_OPT("out", &out, "FILE",
                    "output: FILE.h5 or FILE.hdf5 writes an HDF5 table 'requests',\n"
                    "any other name CSV, '-' CSV on stdout", "required"),
        CLI_FLAG_OPT("quiet", 'q', &quiet, "no 'wrote' line and no progress line"),
    };
    int rc = cli_parse(cmd, argc, argv, opts, CLI_NOPTS(opts), NULL);
    if (rc == CLI_HELP)
        return usage_gen(opts, CLI_NOPTS(opts)), DB_EXIT_OK;
    if (rc)
        return rc;
    bool has_rate = !isnan(rate), has_cv = !isnan(cv), has_scale = !isnan(scale);
    bool has_onoff = !isnan(on) || !isnan(off) || !isnan(off_ratio);
    if (!isnan(off_ratio) && off_ratio >= 1)
        return cli_usage(cmd, "--off-ratio: '%g' is not a number in [0, 1)", off_ratio);
    if (has_cv)
        spec.arrival.cv = cv;
    if (!isnan(on))
        spec.arrival.on_s = on;
    if (!isnan(off))
        spec.arrival.off_s = off;
    if (!isnan(off_ratio))
        spec.arrival.off_ratio = off_ratio;
    if (has_scale)
        spec.arrival.time_scale = scale;
    if (!has_rate)
        rate = 1.0;
    spec.nmodels = nmodels ? (int32_t)nmodels : 1;
    if (!out)
        return cli_usage(cmd, "--out FILE is required");

    /* Specs: a text mistake or an impossible parameter is a usage error. */
    if (wl_arrival_parse(arrival, &spec.arrival) != DB_OK)
        return cli_usage(cmd, "--arrival: %s", db_errmsg());
    wl_arrival_kind ak = spec.arrival.kind;
    bool replayed = ak == WL_ARR_REPLAY || ak == WL_ARR_AZURE_FUNC;
    if (has_cv && ak != WL_ARR_GAMMA)
        return cli_usage(cmd, "--cv applies to gamma arrivals only");
    if (has_onoff && ak != WL_ARR_ONOFF)
        return cli_usage(cmd, "--on, --off and --off-ratio apply to onoff arrivals only");
    if (has_scale && !replayed)
        return cli_usage(cmd, "--time-scale applies to replay and azure-functions arrivals only");
    if (has_scale && has_rate)
        return cli_usage(cmd, "give --rate or --time-scale, not both");
    spec.arrival.rate = replayed && !has_rate ? 0.0 : rate;
    /* Replay keeps what the source has unless told otherwise: its lengths, and its models. */
    spec.pop_from_source = !popularity && ak == WL_ARR_REPLAY;
    spec.models_from_source = !nmodels;
    if (!lengths)
        lengths = ak == WL_ARR_REPLAY ? "replay" : "fixed:512,128";
    bool pop_given = popularity != NULL;
    if (!popularity)
        popularity = ak == WL_ARR_AZURE_FUNC ? "replay" : "uniform";
    if (wl_pop_parse(popularity, &spec.popularity) != DB_OK)
        return cli_usage(cmd, "--popularity: %s", db_errmsg());
    /* A law over the default single model would silently draw nothing: --models must say. */
    if (pop_given && spec.popularity.kind != WL_POP_REPLAY && !nmodels)
        return cli_usage(cmd, "--popularity %s over 1 model (the default) draws nothing: give "
                              "--models N",
                         popularity);
    if (wl_len_parse(lengths, &spec.lengths) != DB_OK)
        return cli_usage(cmd, "--lengths: %s", db_errmsg());
    if (wl_gen_check(&spec) != DB_OK)
        return cli_usage(cmd, "%s", db_errmsg());

    /* Build, run, free. */
    wl_gen *g = NULL;
    trace_writer *w = NULL;
    trace_req *buf = NULL;
    db_status s = wl_gen_init(&spec, &g);
    if (s != DB_OK)
        return cli_fail("trace", s);
    spec = *wl_gen_effective(g);
    if ((s = check_size(g, out, limit)) != DB_OK)
        goto fail;
    if (!(buf = db_malloc_array(GEN_CHUNK, sizeof *buf))) {
        s = db_error(DB_ERR_NOMEM, "out of memory");
        goto fail;
    }
    res_run_info info = {full_argc, full_argv, spec.seed, cli_gpu_name()};
    if ((s = trace_writer_open(out, &info, &w)) != DB_OK)
        goto fail;
    char desc[3][1200], models[32];
    wl_arrival_describe(&spec.arrival, desc[0], sizeof desc[0]);
    wl_pop_describe(&spec.popularity, desc[1], sizeof desc[1]);
    wl_len_describe(&spec.lengths, desc[2], sizeof desc[2]);
    snprintf(models, sizeof models, "%d", spec.nmodels);
    if ((s = trace_writer_attr(w, "trace_arrival", desc[0])) != DB_OK ||
        (s = trace_writer_attr(w, "trace_popularity", desc[1])) != DB_OK ||
        (s = trace_writer_attr(w, "trace_lengths", desc[2])) != DB_OK ||
        (s = trace_writer_attr(w, "trace_models", models)) != DB_OK)
        goto fail;
    double last = 0.0, est = wl_gen_estimate(g);
    cli_ticker tk;
    cli_ticker_start(&tk, cmd, 1.0, quiet);
    for (;;) {
        if (cli_ticker_due(&tk)) {
            int64_t done = wl_gen_count(g);
            if (est > 0 && isfinite(est))
                cli_ticker_line(&tk, "%lld of about %.0f requests (%.0f%%), %.0f s", (long long)done,
                                est, 100.0 * (double)done / est, cli_ticker_elapsed(&tk));
            else
                cli_ticker_line(&tk, "%lld requests, %.0f s", (long long)done,
                                cli_ticker_elapsed(&tk));
        }
        size_t n;
        if ((s = wl_gen_next(g, buf, GEN_CHUNK, &n)) != DB_OK)
            goto fail;
        if (n == 0)
            break;
        last = buf[n - 1].arrival_s;
        if ((s = trace_writer_put(w, buf, n)) != DB_OK)
            goto fail;
    }
    cli_ticker_end(&tk);
    size_t total = trace_writer_count(w);
    if (total == 0) {
        s = db_error(DB_ERR_ARG, "%s: no requests: the arrival process produced none within "
                                 "the duration",
                     out);
        goto fail;
    }
    s = trace_writer_commit(w);
    w = NULL;
    if (s != DB_OK)
        goto fail;
    if (!quiet && strcmp(out, "-") != 0)
        printf("wrote %zu requests over %.3f s (%s; %s over %d models; %s) to %s\n", total, last,
               desc[0], desc[1], spec.nmodels, desc[2], out);
    db_free(buf);
    wl_gen_free(g);
    return DB_EXIT_OK;
fail:
    trace_writer_abort(w);
    db_free(buf);
    wl_gen_free(g);
    return cli_fail("trace", s);
}

/* ---- stats ------------------------------------------------------------------------------- */

static void print_stats(const char *path, const trace_table *t, const trace_stats *st, int64_t top)
{
    printf("file            %s\n", path);
    printf("format          %s\n", trace_format_name(t->format));
    printf("requests        %zu\n", st->n);
    printf("span_s          %.3f (first %.6f, last %.6f)\n", st->span_s, st->first_s,
           st->last_s);
    if (isnan(st->mean_rate))
        printf("mean_rate       n/a (span 0)\n");
    else
        printf("mean_rate       %.3f req/s\n", st->mean_rate);
    if (isnan(st->ia_cv))
        printf("interarrival    n/a\n");
    else
        printf("interarrival    mean %.6f s, std %.6f s, cv %.3f\n", st->ia_mean, st->ia_std,
               st->ia_cv);
    printf("peak_to_mean    %.3f (busiest second: %lld requests at +%lld s; %lld one-second "
           "bins)\n",
           st->peak_to_mean, (long long)st->peak_count, (long long)st->peak_second,
           (long long)st->nseconds);
    printf("prompt_tokens   p50 %d, p90 %d, p99 %d, mean %.1f, min %d, max %d\n", st->prompt_p[0],
           st->prompt_p[1], st->prompt_p[2], st->prompt_mean, st->prompt_min, st->prompt_max);
    printf("output_tokens   p50 %d, p90 %d, p99 %d, mean %.1f, min %d, max %d\n", st->output_p[0],
           st->output_p[1], st->output_p[2], st->output_mean, st->output_min, st->output_max);
    if (st->nmodels == 0) {
        printf("models          none (the file has no model column)\n");
        return;
    }
    printf("models          %d (%d with requests)\n", st->nmodels, st->models_used);
    if (isnan(st->zipf_a))
        printf("zipf_a          n/a (one model)\n");
    else
        printf("zipf_a          %.4f (maximum likelihood over ranks 1..%d)\n", st->zipf_a,
               st->nmodels);
    int64_t show = top == 0 || top > st->nmodels ? st->nmodels : top;
    printf("  rank     model        count    share\n");
    for (int64_t r = 0; r < show; r++) {
        int32_t id = st->model_rank[r];
        int64_t k = st->model_counts[id];
        printf("  %4lld  %8d  %11lld  %6.2f%%\n", (long long)(r + 1), id, (long long)k,
               100.0 * (double)k / (double)st->n);
    }
    if (show < st->nmodels)
        printf("  ... %lld more (--top 0 lists all)\n", (long long)(st->nmodels - show));
}

static int stats_main(int argc, char **argv)
{
    static const char *cmd = "trace stats";
    int64_t models = 0, top = 10;
    const cli_opt opts[] = {
        CLI_INT_OPT("models", &models, 1, 10000000, "N", "number of models M, in [1, 10000000]",
                    "largest model id + 1"),
        CLI_INT_OPT("top", &top, 0, 10000000, "K", "rows of the per-model table, in [0, 10000000]",
                    "10; 0 = all"),
    };
    int argi = 0;
    int rc = cli_parse(cmd, argc, argv, opts, CLI_NOPTS(opts), &argi);
    if (rc == CLI_HELP)
        return usage_stats(opts, CLI_NOPTS(opts)), DB_EXIT_OK;
    if (rc)
        return rc;
    if (argc - argi != 1)
        return cli_usage(cmd, "expected exactly one trace FILE, got %d", argc - argi);
    const char *path = argv[argi];
    trace_table t;
    trace_stats st;
    db_status s = trace_read(path, &t);
    if (s != DB_OK)
        return cli_fail("trace", s);
    if ((s = trace_stats_compute(&t, (int32_t)models, &st)) != DB_OK) {
        trace_table_free(&t);
        return cli_fail("trace", db_error(s, "%s: %s", path, db_errmsg()));
    }
    print_stats(path, &t, &st, top);
    trace_stats_free(&st);
    trace_table_free(&t);
    if (fflush(stdout) != 0)
        return cli_fail("trace", db_error(DB_ERR_IO, "stdout: write error"));
    return DB_EXIT_OK;
}

int cmd_trace(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage("trace", "expected a subcommand: gen or stats");
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        usage_top();
        return DB_EXIT_OK;
    }
    if (!strcmp(sub, "gen"))
        return gen_main(argc - 1, argv + 1, argc, argv);
    if (!strcmp(sub, "stats"))
        return stats_main(argc - 1, argv + 1);
    return cli_usage("trace", "unknown subcommand '%s' (expected gen or stats)", sub);
}
