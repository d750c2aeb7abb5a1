/* cmd_eval.c: `deltabench eval`: quality of a model, or of base + compressed delta, on a task:
 * bits per byte / perplexity on the validation split, exact-match accuracy by greedy decoding,
 * and the share of the fine-tuning gain a compressed delta keeps. Writes the `quality` table. */
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

static void usage(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench eval --model DIR --task T [options]\n\n"
           "Scores a model on task T: bits per byte and perplexity on the validation split, and\n"
           "for exact-match tasks (arith, reverse, sort) the share of validation prompts whose\n"
           "greedy answer is exactly right. With --delta, DIR is the base and the compressed\n"
           "delta is applied in every linear layer (y = W_base x + delta(x)), as when serving.\n\n");
    cli_help(stdout, opts, n);
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

static void print_row(const char *metric, const quality_row *r)
{
    printf("  %-9s %10.4f", metric, r->value);
    if (!isnan(r->base))
        printf("   base %10.4f", r->base);
    if (!isnan(r->finetuned))
        printf("   finetuned %10.4f", r->finetuned);
    if (!isnan(r->gain_kept))
        printf("   gain kept %7.4f", r->gain_kept);
    printf("   (n=%" PRId64 ")\n", r->n);
}

static double gain(double v, double b, double f)
{
    if (isnan(b) || isnan(f) || f == b)
        return NAN;
    return (v - b) / (f - b);
}

int cmd_eval(int argc, char **argv)
{
    const char *cmd = "eval", *model = NULL, *delta = NULL, *base = NULL, *ft = NULL;
    const char *taskname = NULL, *out = NULL;
    char dbuf[4200];
    eval_opts o = {cli_root_path("models/zoo/data", dbuf, sizeof dbuf), 65536, 200, 0, 16, false};
    int64_t threads = 2;
    bool quiet = false;
    const cli_opt opts[] = {
        CLI_STR_OPT("model", &model, "DIR", "model directory (config.json + safetensors)",
                    "required"),
        CLI_STR_OPT("delta", &delta, "FILE", "compressed delta made for --model (base hash checked)",
                    "none"),
        CLI_STR_OPT("base", &base, "DIR",
                    "base model: also report its scores and the gain kept\n"
                    "('none': not scored)", "with --delta: --model"),
        CLI_FLAG_OPT("fold", 0, &o.fold,
                     "with --delta: add the decoded delta into the weights once\n"
                     "(W = W_base + delta, dense; fast, equal up to float rounding)"),
        CLI_STR_OPT("finetuned", &ft, "DIR",
                    "the uncompressed fine-tune: reference of the gain kept,\n"
                    "(value - base) / (finetuned - base)", "none"),
        CLI_STR_OPT("task", &taskname, "T",
                    "english, scripture, code, arith, reverse, sort, text:FILE", "required"),
        CLI_STR_OPT("data", &o.data, "DIR", "corpus directory", "models/zoo/data"),
        CLI_INT_OPT("tokens", &o.tokens, 0, INT64_MAX, "N",
                    "scored validation tokens for bpb, 0 = all", "65536"),
        CLI_INT_OPT("examples", &o.examples, 1, 500, "N", "exact-match prompts, 1..500", "200"),
        CLI_INT_OPT("seq", &o.seq, 2, 65536, "T", "perplexity window, 2..context",
                    "min(128, context)"),
        CLI_INT_OPT("batch", &o.batch, 1, 1024, "B", "sequences per forward, 1..1024", "16"),
        CLI_INT_OPT("threads", &threads, 1, 256, "N", "threads, 1..256", "2"),
        CLI_STR_OPT("out", &out, "FILE.h5", "write the `quality` table (one row per metric)",
                    "none"),
        CLI_FLAG_OPT("quiet", 'q', &quiet, "no score lines on stdout"),
    };
    int rc = cli_parse(cmd, argc, argv, opts, CLI_NOPTS(opts), NULL);
    if (rc == CLI_HELP)
        return usage(opts, CLI_NOPTS(opts)), DB_EXIT_OK;
    if (rc)
        return rc;
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
    if (!quiet)
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
        if (!quiet)
            print_row(mets[i].name, r);
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
