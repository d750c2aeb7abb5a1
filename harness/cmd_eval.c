/* cmd_eval.c: `deltabench eval`: quality of a model, or of base + compressed delta, on a task:
 * bits per byte / perplexity on the validation split, exact-match accuracy by greedy decoding,
 * and the share of the fine-tuning gain a compressed delta keeps. Writes the `quality` table. */
#include <getopt.h>
#include <stdbool.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "harness/cli.h"
#include "core/results.h"
#include "models/eval.h"
#include "models/tf_delta.h"

typedef struct {
    char task[32];
    char metric[16];   /* "bpb", "ppl" or "accuracy" */
    char model[192];   /* evaluated model directory (the base when a delta is applied) */
    char delta[192];   /* compressed delta applied on top ("" for none) */
    double value;
    double base;       /* the base model's value (NaN without --base) */
    double finetuned;  /* the uncompressed fine-tune's value (NaN without --finetuned) */
    double gain_kept;  /* (value - base) / (finetuned - base), NaN when unknown */
    int64_t n;         /* scored tokens or decoded examples */
} quality_row;

static const res_field quality_fields[] = {
    RES_STR(quality_row, task),  RES_STR(quality_row, metric),    RES_STR(quality_row, model),
    RES_STR(quality_row, delta), RES_F64(quality_row, value),     RES_F64(quality_row, base),
    RES_F64(quality_row, finetuned), RES_F64(quality_row, gain_kept), RES_I64(quality_row, n),
};
static const res_schema quality_schema =
    RES_SCHEMA("quality", "model quality per task and metric", quality_row, quality_fields);

static void usage(void)
{
    printf("usage: deltabench eval --model DIR --task T [options]\n\n"
           "Scores a model on task T: bits per byte and perplexity on the validation split, and\n"
           "for exact-match tasks (arith, reverse, sort) the share of validation prompts whose\n"
           "greedy answer is exactly right. With --delta, DIR is the base and the compressed\n"
           "delta is applied in every linear layer (y = W_base x + delta(x)), as when serving.\n\n"
           "options:\n"
           "  --model DIR      model directory (config.json + safetensors), required\n"
           "  --delta FILE     compressed delta made for --model (base hash checked)\n"
           "  --base DIR       base model: also report its scores and the gain kept\n"
           "                   (default with --delta: --model; 'none': not scored)\n"
           "  --fold           with --delta: add the decoded delta into the weights once\n"
           "                   (W = W_base + delta, dense; fast, equal up to float rounding)\n"
           "  --finetuned DIR  the uncompressed fine-tune: reference of the gain kept,\n"
           "                   (value - base) / (finetuned - base)\n"
           "  --task T         english, scripture, code, arith, reverse, sort, text:FILE\n"
           "  --data DIR       corpus directory (default models/zoo/data)\n"
           "  --tokens N       scored validation tokens for bpb, 0 = all (default 65536)\n"
           "  --examples N     exact-match prompts, 1..500 (default 200)\n"
           "  --seq T          perplexity window (default min(128, context))\n"
           "  --batch B        sequences per forward (default 16, 1..1024)\n"
           "  --threads N      threads (default 2, 1..256)\n"
           "  --out FILE.h5    write the `quality` table (one row per metric)\n"
           "  -h, --help       this text\n");
}

typedef struct {
    double bpb, ppl, acc;
    int64_t ntok, nex;
} scores;

typedef struct {
    const char *data;
    int64_t tokens, examples, seq, batch;
    bool fold; /* add the decoded delta into the weights once instead of applying it per call */
} eval_opts;

static db_status score(const char *dir, const char *delta, const db_task *t, const eval_opts *o,
                       scores *out)
{
    tf_model m;
    tf_delta *d = NULL;
    db_status s = tf_model_load(&m, dir);
    if (s)
        return s;
    if (delta && (s = tf_delta_attach(&m, dir, delta, &d)))
        goto out;
    if (d && o->fold) {
        if ((s = tf_delta_fold(&m, d)))
            goto out;
        d = NULL; /* folded and detached */
    }
    int T = (int)(o->seq ? o->seq : (m.cfg.maxT < 128 ? m.cfg.maxT : 128));
    if (T > m.cfg.maxT) {
        s = db_error(DB_ERR_ARG, "%s: --seq %d exceeds the model's context %d", dir, T, m.cfg.maxT);
        goto out;
    }
    if (m.cfg.V < TASK_VOCAB) {
        s = db_error(DB_ERR_ARG, "%s: vocabulary of %d is smaller than the byte tokenizer's %d",
                     dir, m.cfg.V, TASK_VOCAB);
        goto out;
    }
    eval_result r;
    if ((s = eval_ppl(&m, t, (int)o->batch, T, o->tokens, &r)))
        goto out;
    out->bpb = r.bpb;
    out->ppl = r.ppl;
    out->ntok = r.ntokens;
    out->acc = NAN;
    out->nex = 0;
    if (t->kind == TASK_EXACT) {
        if ((s = eval_exact(&m, t, (int)o->batch, o->examples, &r)))
            goto out;
        out->acc = r.accuracy;
        out->nex = r.nexact;
    }
out:
    tf_delta_detach(&m, d);
    tf_model_free(&m);
    return s;
}

static double gain(double v, double b, double f)
{
    if (isnan(b) || isnan(f) || f == b)
        return NAN;
    return (v - b) / (f - b);
}

int cmd_eval(int argc, char **argv)
{
    enum { O_MODEL = 256, O_DELTA, O_BASE, O_FT, O_TASK, O_DATA, O_TOK, O_EX, O_SEQ, O_BATCH,
           O_THREADS, O_OUT, O_FOLD };
    static const struct option opts[] = {
        {"model", 1, 0, O_MODEL}, {"delta", 1, 0, O_DELTA}, {"base", 1, 0, O_BASE},
        {"finetuned", 1, 0, O_FT}, {"task", 1, 0, O_TASK},  {"data", 1, 0, O_DATA},
        {"tokens", 1, 0, O_TOK},  {"examples", 1, 0, O_EX}, {"seq", 1, 0, O_SEQ},
        {"batch", 1, 0, O_BATCH}, {"threads", 1, 0, O_THREADS}, {"out", 1, 0, O_OUT},
        {"fold", 0, 0, O_FOLD},   {"help", 0, 0, 'h'},      {0, 0, 0, 0}};
    const char *cmd = "eval", *model = NULL, *delta = NULL, *base = NULL, *ft = NULL;
    const char *taskname = NULL, *out = NULL;
    eval_opts o = {"models/zoo/data", 65536, 200, 0, 16, false};
    int64_t threads = 2;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *on = optind > 0 && optind <= argc ? argv[optind - 1] : "option";
        switch (c) {
        case 'h': usage(); return DB_EXIT_OK;
        case O_MODEL: model = optarg; break;
        case O_DELTA: delta = optarg; break;
        case O_FOLD: o.fold = true; break;
        case O_BASE: base = optarg; break;
        case O_FT: ft = optarg; break;
        case O_TASK: taskname = optarg; break;
        case O_DATA: o.data = optarg; break;
        case O_TOK: if (!cli_i64(cmd, "--tokens", optarg, 0, INT64_MAX, &o.tokens)) return DB_EXIT_USAGE; break;
        case O_EX: if (!cli_i64(cmd, "--examples", optarg, 1, 500, &o.examples)) return DB_EXIT_USAGE; break;
        case O_SEQ: if (!cli_i64(cmd, "--seq", optarg, 2, 65536, &o.seq)) return DB_EXIT_USAGE; break;
        case O_BATCH: if (!cli_i64(cmd, "--batch", optarg, 1, 1024, &o.batch)) return DB_EXIT_USAGE; break;
        case O_THREADS: if (!cli_i64(cmd, "--threads", optarg, 1, 256, &threads)) return DB_EXIT_USAGE; break;
        case O_OUT: out = optarg; break;
        default: return cli_usage(cmd, "unknown or incomplete option '%s'", on);
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!model)
        return cli_usage(cmd, "--model DIR is required");
    if (!taskname)
        return cli_usage(cmd, "--task is required");
    if (o.fold && !delta)
        return cli_usage(cmd, "--fold needs --delta");
    if (delta && !base)
        base = model;
    if (base && !strcmp(base, "none"))
        base = NULL;
    tf_set_threads((int)threads);

    db_task *t = NULL;
    db_status s = task_open(taskname, o.data, 1, &t);
    if (s)
        return cli_fail(cmd, s);
    /* the result file is opened (under its temporary name) before the work, so its duration_s
     * covers the evaluation */
    res_file *f = NULL;
    res_run_info info = {argc, argv, 0, cli_gpu_name()};
    if (out && (s = res_create(out, &info, &f))) {
        task_free(t);
        return cli_fail(cmd, s);
    }
    scores sv, sb = {NAN, NAN, NAN, 0, 0}, sf = {NAN, NAN, NAN, 0, 0};
    if ((s = score(model, delta, t, &o, &sv)) || (base && (s = score(base, NULL, t, &o, &sb))) ||
        (ft && (s = score(ft, NULL, t, &o, &sf)))) {
        task_free(t);
        res_abort(f);
        return cli_fail(cmd, s);
    }
    quality_row rows[3];
    size_t nrows = 0;
    struct {
        const char *name;
        double v, b, f;
        int64_t n;
    } mets[3] = {{"bpb", sv.bpb, sb.bpb, sf.bpb, sv.ntok},
                 {"ppl", sv.ppl, sb.ppl, sf.ppl, sv.ntok},
                 {"accuracy", sv.acc, sb.acc, sf.acc, sv.nex}};
    printf("eval %s on %s%s%s (%s)\n", model, taskname, delta ? " + delta " : "",
           delta ? delta : "", t->kind == TASK_EXACT ? "exact match" : "perplexity");
    for (int i = 0; i < 3; i++) {
        if (isnan(mets[i].v))
            continue;
        quality_row *r = &rows[nrows++];
        memset(r, 0, sizeof *r);
        snprintf(r->task, sizeof r->task, "%s", taskname);
        snprintf(r->metric, sizeof r->metric, "%s", mets[i].name);
        snprintf(r->model, sizeof r->model, "%s", model);
        snprintf(r->delta, sizeof r->delta, "%s", delta ? delta : "");
        r->value = mets[i].v;
        r->base = mets[i].b;
        r->finetuned = mets[i].f;
        r->gain_kept = gain(mets[i].v, mets[i].b, mets[i].f);
        r->n = mets[i].n;
        printf("  %-9s %10.4f", mets[i].name, r->value);
        if (!isnan(r->base))
            printf("   base %10.4f", r->base);
        if (!isnan(r->finetuned))
            printf("   finetuned %10.4f", r->finetuned);
        if (!isnan(r->gain_kept))
            printf("   gain kept %7.4f", r->gain_kept);
        printf("   (n=%" PRId64 ")\n", r->n);
    }
    task_free(t);
    if (f) {
        if ((s = res_attr_str(f, "task", taskname)) ||
            (s = res_table_write(f, &quality_schema, nrows, rows))) {
            res_abort(f);
            return cli_fail(cmd, s);
        }
        if ((s = res_commit(f)))
            return cli_fail(cmd, s);
    }
    return DB_EXIT_OK;
}
