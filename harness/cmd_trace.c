/* cmd_trace.c: `deltabench trace gen` (make a request trace from an arrival process, a
 * popularity law and a length law, or from a replayed trace) and `deltabench trace stats`
 * (summarise any trace file).
 *
 * Parse, check, build, run, free. Option mistakes and impossible parameters are usage errors
 * (exit 2); problems with files or the work are failures (exit 1, one line naming the file),
 * and a failed `gen` leaves no output file behind (the writer renames only on success). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

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

static void usage_gen(void)
{
    printf(
        "usage: deltabench trace gen [OPTIONS] --out FILE\n\n"
        "Generates a request trace: arrival times, a model per request and token counts, each\n"
        "part from its own random stream of --seed (same seed, byte-identical file).\n\n"
        "options (default in brackets):\n"
        "  --arrival P       arrival process [poisson]:\n"
        "                      poisson               exponential gaps, mean 1/rate\n"
        "                      gamma                 Gamma gaps: mean 1/rate, CV --cv\n"
        "                      onoff                 2-state MMPP: on/off periods, mean rate\n"
        "                      replay:FILE           the times of a trace (deltabench CSV/HDF5\n"
        "                                            or Azure LLM inference CSV)\n"
        "                      azure-functions:FILE  per-minute invocation counts of the top\n"
        "                                            --models functions of an Azure Functions\n"
        "                                            file, spread uniformly in each minute\n"
        "  --rate R          mean requests/s, in (0, 1e9] [1]; with replay and\n"
        "                    azure-functions: rescale time to this rate [the file's own]\n"
        "  --cv C            gamma: inter-arrival coefficient of variation, in [0, 1000] [1]\n"
        "                    (1 = Poisson, 0 = evenly spaced, larger = burstier)\n"
        "  --on S            onoff: mean on-period, s, in (0, 1e9] [10]\n"
        "  --off S           onoff: mean off-period, s, in (0, 1e9] [30]\n"
        "  --off-ratio F     onoff: rate while off / rate while on, in [0, 1) [0]\n"
        "  --time-scale F    replay, azure-functions: multiply times by F, in (0, 1e9] [1]\n"
        "                    (F < 1 compresses, F > 1 stretches; or use --rate)\n"
        "  --models N        number of models M, in [1, 10000000] [1]\n"
        "  --popularity L    model of each request [uniform; replay with azure-functions]:\n"
        "                      uniform               p_i = 1/M\n"
        "                      zipf:A                p_i ~ (i+1)^-A, A in [0, 100]\n"
        "                      deltazip-zipf:A       p_i ~ (i+1)^+A (DeltaZip's sign), A in "
        "[0, 100]\n"
        "                      slora:A               S-LoRA power draw floor(M u^(1/A)), A in "
        "(0, 100]\n"
        "                      azure:FILE            p_i ~ invocations of the i-th busiest\n"
        "                                            function of an Azure Functions file\n"
        "                      replay                the model of the replayed request / function\n"
        "  --lengths L       prompt and output tokens [fixed:512,128]:\n"
        "                      fixed:P,O             P, O >= 1\n"
        "                      uniform:PLO,PHI,OLO,OHI   integers in [lo, hi], 1 <= lo <= hi\n"
        "                      lognormal:PMED,PSIG,OMED,OSIG   median in [1, 1e9], sigma in "
        "[0, 10]\n"
        "                      trace:FILE            (prompt, output) pairs drawn from a trace\n"
        "                      replay                the replayed request's lengths\n"
        "  --duration S      keep arrivals before S seconds, in [0, 1e12] [0 = no limit]\n"
        "  --requests N      stop after N requests, in [0, 1e12] [0 = no limit]\n"
        "                    (poisson, gamma and onoff need --duration or --requests)\n"
        "  --seed S          random seed, in [0, 2^63-1] [1]\n"
        "  --out FILE        output: FILE.h5 or FILE.hdf5 writes an HDF5 table 'requests',\n"
        "                    any other name CSV, '-' CSV on stdout (required)\n"
        "  -h, --help        this text\n\n"
        "example: deltabench trace gen --arrival gamma --rate 2 --cv 3 --models 32 \\\n"
        "           --popularity zipf:1.5 --lengths lognormal:1000,1,200,0.8 --duration 600 \\\n"
        "           --seed 7 --out trace.csv\n");
}

static void usage_stats(void)
{
    printf("usage: deltabench trace stats [OPTIONS] FILE\n\n"
           "Summarises a trace: a deltabench CSV or HDF5 trace, or an Azure LLM inference CSV.\n"
           "  span            last - first arrival\n"
           "  mean_rate       (requests - 1) / span\n"
           "  interarrival    mean, std and CV = std / mean of successive differences\n"
           "  peak_to_mean    busiest one-second bin / mean requests per second\n"
           "  models          per-model counts, busiest first, and the maximum-likelihood Zipf\n"
           "                  exponent a (p_r ~ r^-a over ranks 1..M of the counts)\n"
           "  *_tokens        nearest-rank percentiles p50, p90, p99, mean, min, max\n\n"
           "options (default in brackets):\n"
           "  --models N      number of models M, in [1, 10000000] [largest model id + 1]\n"
           "  --top K         rows of the per-model table, in [0, 10000000] [10; 0 = all]\n"
           "  -h, --help      this text\n");
}

/* ---- gen --------------------------------------------------------------------------------- */

/* A number in (0, hi]: cli_f64 checks [0, hi], zero is refused here with the open interval. */
static bool pos_f64(const char *cmd, const char *opt, const char *s, double hi, double *out)
{
    if (!cli_f64(cmd, opt, s, 0, hi, out))
        return false;
    if (*out <= 0) {
        cli_usage(cmd, "%s: '%s' is not a number in (0, %g]", opt, s, hi);
        return false;
    }
    return true;
}

enum {
    O_ARRIVAL = 256, O_RATE, O_CV, O_ON, O_OFF, O_OFF_RATIO, O_TIME_SCALE, O_MODELS,
    O_POPULARITY, O_LENGTHS, O_DURATION, O_REQUESTS, O_SEED, O_OUT, O_TOP
};

static int gen_main(int argc, char **argv, int full_argc, char **full_argv)
{
    static const char *cmd = "trace gen";
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'},
        {"arrival", required_argument, 0, O_ARRIVAL},
        {"rate", required_argument, 0, O_RATE},
        {"cv", required_argument, 0, O_CV},
        {"on", required_argument, 0, O_ON},
        {"off", required_argument, 0, O_OFF},
        {"off-ratio", required_argument, 0, O_OFF_RATIO},
        {"time-scale", required_argument, 0, O_TIME_SCALE},
        {"models", required_argument, 0, O_MODELS},
        {"popularity", required_argument, 0, O_POPULARITY},
        {"lengths", required_argument, 0, O_LENGTHS},
        {"duration", required_argument, 0, O_DURATION},
        {"requests", required_argument, 0, O_REQUESTS},
        {"seed", required_argument, 0, O_SEED},
        {"out", required_argument, 0, O_OUT},
        {0, 0, 0, 0},
    };
    wl_gen_spec spec;
    wl_gen_defaults(&spec);
    const char *arrival = "poisson", *popularity = NULL, *lengths = "fixed:512,128", *out = NULL;
    bool has_rate = false, has_cv = false, has_onoff = false, has_scale = false;
    double rate = 1.0;
    int64_t i64;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        const char *opt = argv[optind - 1];
        switch (c) {
        case 'h':
            usage_gen();
            return DB_EXIT_OK;
        case O_ARRIVAL:
            arrival = optarg;
            break;
        case O_RATE:
            if (!pos_f64(cmd, "--rate", optarg, 1e9, &rate))
                return DB_EXIT_USAGE;
            has_rate = true;
            break;
        case O_CV:
            if (!cli_f64(cmd, "--cv", optarg, 0, 1000, &spec.arrival.cv))
                return DB_EXIT_USAGE;
            has_cv = true;
            break;
        case O_ON:
            if (!pos_f64(cmd, "--on", optarg, 1e9, &spec.arrival.on_s))
                return DB_EXIT_USAGE;
            has_onoff = true;
            break;
        case O_OFF:
            if (!pos_f64(cmd, "--off", optarg, 1e9, &spec.arrival.off_s))
                return DB_EXIT_USAGE;
            has_onoff = true;
            break;
        case O_OFF_RATIO:
            if (!cli_f64(cmd, "--off-ratio", optarg, 0, 1, &spec.arrival.off_ratio))
                return DB_EXIT_USAGE;
            if (spec.arrival.off_ratio >= 1)
                return cli_usage(cmd, "--off-ratio: '%s' is not a number in [0, 1)", optarg);
            has_onoff = true;
            break;
        case O_TIME_SCALE:
            if (!pos_f64(cmd, "--time-scale", optarg, 1e9, &spec.arrival.time_scale))
                return DB_EXIT_USAGE;
            has_scale = true;
            break;
        case O_MODELS:
            if (!cli_i64(cmd, "--models", optarg, 1, 10000000, &i64))
                return DB_EXIT_USAGE;
            spec.nmodels = (int32_t)i64;
            break;
        case O_POPULARITY:
            popularity = optarg;
            break;
        case O_LENGTHS:
            lengths = optarg;
            break;
        case O_DURATION:
            if (!cli_f64(cmd, "--duration", optarg, 0, 1e12, &spec.duration_s))
                return DB_EXIT_USAGE;
            break;
        case O_REQUESTS:
            if (!cli_i64(cmd, "--requests", optarg, 0, 1000000000000LL, &spec.max_requests))
                return DB_EXIT_USAGE;
            break;
        case O_SEED:
            if (!cli_i64(cmd, "--seed", optarg, 0, INT64_MAX, &i64))
                return DB_EXIT_USAGE;
            spec.seed = (uint64_t)i64;
            break;
        case O_OUT:
            out = optarg;
            break;
        case ':':
            return cli_usage(cmd, "option '%s' needs a value", opt);
        default:
            return cli_usage(cmd, "unknown option '%s'", opt);
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
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
    if (!popularity)
        popularity = ak == WL_ARR_AZURE_FUNC ? "replay" : "uniform";
    if (wl_pop_parse(popularity, &spec.popularity) != DB_OK)
        return cli_usage(cmd, "--popularity: %s", db_errmsg());
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
    double last = 0.0;
    for (;;) {
        size_t n;
        if ((s = wl_gen_next(g, buf, GEN_CHUNK, &n)) != DB_OK)
            goto fail;
        if (n == 0)
            break;
        last = buf[n - 1].arrival_s;
        if ((s = trace_writer_put(w, buf, n)) != DB_OK)
            goto fail;
    }
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
    if (strcmp(out, "-") != 0)
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
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'},
        {"models", required_argument, 0, O_MODELS},
        {"top", required_argument, 0, O_TOP},
        {0, 0, 0, 0},
    };
    int64_t models = 0, top = 10;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        const char *opt = argv[optind - 1];
        switch (c) {
        case 'h':
            usage_stats();
            return DB_EXIT_OK;
        case O_MODELS:
            if (!cli_i64(cmd, "--models", optarg, 1, 10000000, &models))
                return DB_EXIT_USAGE;
            break;
        case O_TOP:
            if (!cli_i64(cmd, "--top", optarg, 0, 10000000, &top))
                return DB_EXIT_USAGE;
            break;
        case ':':
            return cli_usage(cmd, "option '%s' needs a value", opt);
        default:
            return cli_usage(cmd, "unknown option '%s'", opt);
        }
    }
    if (argc - optind != 1)
        return cli_usage(cmd, "expected exactly one trace FILE, got %d", argc - optind);
    const char *path = argv[optind];
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
