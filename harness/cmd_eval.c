/* cmd_eval.c: `deltabench eval`: quality of a model, or of base + compressed delta, on a task:
 * bits per byte / perplexity on the validation split, exact-match accuracy by greedy decoding,
 * and the share of the fine-tuning gain a compressed delta keeps, each with its 95 % interval
 * (core/interval.h): bits per byte a bootstrap over evaluation windows, exact match Wilson over
 * prompts, the gain kept a paired bootstrap over the windows or prompts all three models were
 * scored on. Writes the `quality` table and the per-item `items` table (what a later
 * `deltabench interval` pairs across runs). */
#include <stdbool.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/interval.h"
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
    double lo, hi;           /* 95 % interval of value (ppl: exp of the loss's) */
    double gain_lo, gain_hi; /* 95 % interval of gain_kept (NaN when unknown) */
} quality_row;

static const res_field quality_fields[] = {
    RES_STR(quality_row, task),  RES_STR(quality_row, metric),    RES_STR(quality_row, model),
    RES_STR(quality_row, delta), RES_F64(quality_row, value),     RES_F64(quality_row, base),
    RES_F64(quality_row, finetuned), RES_F64(quality_row, gain_kept), RES_I64(quality_row, n),
    RES_F64(quality_row, lo), RES_F64(quality_row, hi), RES_F64(quality_row, gain_lo),
    RES_F64(quality_row, gain_hi),
};
static const res_schema quality_schema =
    RES_SCHEMA("quality", "model quality per task and metric", quality_row, quality_fields);

/* One evaluation item: a window's summed loss in bits (metric bpb) or a prompt's 1 / 0 (metric
 * accuracy), of the evaluated model (role "value") or of --base / --finetuned. */
typedef struct {
    char metric[16];
    char role[16];
    int64_t index;
    double x;
    int64_t n; /* scored tokens (bpb) or 1 (accuracy) */
} item_row;

static const res_field item_fields[] = {
    RES_STR(item_row, metric), RES_STR(item_row, role), RES_I64(item_row, index),
    RES_F64(item_row, x),      RES_I64(item_row, n),
};
static const res_schema item_schema =
    RES_SCHEMA("items", "per-window loss (bits) and per-prompt exact match", item_row, item_fields);

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
    eval_items win, ex; /* per window (loss in nats, tokens), per prompt (1 / 0) */
} scores;

static void scores_free(scores *s)
{
    eval_items_free(&s->win);
    eval_items_free(&s->ex);
}

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
    if ((s = eval_ppl_items(&m, t, (int)o->batch, T, o->tokens, &r, &out->win)))
        goto out;
    out->bpb = r.bpb;
    out->ppl = r.ppl;
    out->ntok = r.ntokens;
    out->acc = NAN;
    out->nex = 0;
    if (t->kind == TASK_EXACT) {
        if ((s = eval_exact_items(&m, t, (int)o->batch, o->examples, &r, &out->ex)))
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
    printf("   (n=%" PRId64 ")   95 %%: [%.4f, %.4f]", r->n, r->lo, r->hi);
    if (!isnan(r->gain_lo))
        printf(", gain kept [%.4f, %.4f]", r->gain_lo, r->gain_hi);
    printf("\n");
}

static double gain(double v, double b, double f)
{
    if (isnan(b) || isnan(f) || f == b)
        return NAN;
    return (v - b) / (f - b);
}

/* The 95 % intervals of row r (metric i: 0 bpb, 1 ppl, 2 accuracy) from the items of the
 * evaluated model v and, for the gain kept, of the base b and the fine-tune f. A statistic the
 * data cannot give (no gain, too few items) stays NaN; only running out of memory fails. */
static db_status row_intervals(quality_row *r, int i, const scores *v, const scores *b,
                               const scores *f)
{
    r->lo = r->hi = r->gain_lo = r->gain_hi = NAN;
    const eval_items *iv = i == 2 ? &v->ex : &v->win, *ib = i == 2 ? &b->ex : &b->win,
                     *jf = i == 2 ? &f->ex : &f->win;
    if (!iv->count)
        return DB_OK;
    iv_interval c;
    db_status s = DB_OK;
    if (i == 2) {
        int64_t k = 0;
        for (size_t j = 0; j < iv->count; j++)
            k += iv->x[j] > 0;
        if ((s = iv_wilson(k, (int64_t)iv->count, 0.05, &c)) == DB_OK)
            r->lo = c.lo, r->hi = c.hi;
    } else {
        double *num = db_malloc_array(iv->count, sizeof *num);
        double *den = db_malloc_array(iv->count, sizeof *den);
        if (!num || !den)
            s = db_error(DB_ERR_NOMEM, "eval: out of memory");
        for (size_t j = 0; s == DB_OK && j < iv->count; j++)
            num[j] = iv->x[j] / log(2.0), den[j] = (double)iv->n[j];
        if (s == DB_OK &&
            (s = iv_boot_ratio_of_sums(num, den, iv->count, IV_BOOT_REPS, 1, 0.05, &c)) == DB_OK)
            r->lo = i == 0 ? c.lo : exp(c.lo * log(2.0)), r->hi = i == 0 ? c.hi : exp(c.hi * log(2.0));
        db_free(num), db_free(den);
    }
    if (s == DB_OK && i != 1 && !isnan(r->gain_kept) && ib->count == iv->count &&
        jf->count == iv->count &&
        (s = iv_boot_gain_kept(iv->x, ib->x, jf->x, iv->count, IV_BOOT_REPS, 1, 0.05, &c)) == DB_OK)
        r->gain_lo = c.lo, r->gain_hi = c.hi;
    if (s == DB_ERR_ARG) { /* no interval from these data: left NaN */
        db_error_clear();
        s = DB_OK;
    }
    return s;
}

static db_status quality_rows(const char *task, const char *model, const char *delta,
                              const scores *v, const scores *b, const scores *f,
                              quality_row rows[3], size_t *nrows)
{
    struct {
        const char *name;
        double v, b, f;
        int64_t n;
    } mets[3] = {{"bpb", v->bpb, b->bpb, f->bpb, v->ntok},
                 {"ppl", v->ppl, b->ppl, f->ppl, v->ntok},
                 {"accuracy", v->acc, b->acc, f->acc, v->nex}};
    *nrows = 0;
    for (int i = 0; i < 3; i++) {
        if (isnan(mets[i].v))
            continue;
        quality_row *r = &rows[(*nrows)++];
        memset(r, 0, sizeof *r);
        snprintf(r->task, sizeof r->task, "%s", task);
        snprintf(r->metric, sizeof r->metric, "%s", mets[i].name);
        snprintf(r->model, sizeof r->model, "%s", model);
        snprintf(r->delta, sizeof r->delta, "%s", delta ? delta : "");
        r->value = mets[i].v;
        r->base = mets[i].b;
        r->finetuned = mets[i].f;
        r->gain_kept = gain(mets[i].v, mets[i].b, mets[i].f);
        r->n = mets[i].n;
        db_status s = row_intervals(r, i, v, b, f);
        if (s)
            return s;
    }
    return DB_OK;
}

/* The `items` table: every window and prompt of the evaluated model, the base and the
 * fine-tune (those scored), windows' losses in bits. */
static db_status item_rows(const scores *v, const scores *b, const scores *f, item_row **out,
                           size_t *n)
{
    const scores *who[3] = {v, b, f};
    const char *role[3] = {"value", "base", "finetuned"};
    size_t total = 0;
    for (int k = 0; k < 3; k++)
        total += who[k]->win.count + who[k]->ex.count;
    *n = 0;
    *out = db_calloc(total ? total : 1, sizeof **out);
    if (!*out)
        return db_error(DB_ERR_NOMEM, "eval: out of memory (%zu items)", total);
    for (int k = 0; k < 3; k++)
        for (int e = 0; e < 2; e++) {
            const eval_items *it = e ? &who[k]->ex : &who[k]->win;
            for (size_t j = 0; j < it->count; j++) {
                item_row *r = &(*out)[(*n)++];
                snprintf(r->metric, sizeof r->metric, "%s", e ? "accuracy" : "bpb");
                snprintf(r->role, sizeof r->role, "%s", role[k]);
                r->index = (int64_t)j;
                r->x = e ? it->x[j] : it->x[j] / log(2.0);
                r->n = it->n[j];
            }
        }
    return DB_OK;
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
    scores sv = {0}, sb = {NAN, NAN, NAN, 0, 0, {0}, {0}}, sf = {NAN, NAN, NAN, 0, 0, {0}, {0}};
    if ((s = score(model, delta, t, &o, &sv)) || (base && (s = score(base, NULL, t, &o, &sb))) ||
        (ft && (s = score(ft, NULL, t, &o, &sf)))) {
        task_free(t);
        res_abort(f);
        scores_free(&sv), scores_free(&sb), scores_free(&sf);
        return cli_fail(cmd, s);
    }
    if (!quiet)
        printf("eval %s on %s%s%s (%s)\n", model, taskname, delta ? " + delta " : "",
               delta ? delta : "", t->kind == TASK_EXACT ? "exact match" : "perplexity");
    quality_row rows[3];
    size_t nrows = 0;
    item_row *items = NULL;
    size_t nitems = 0;
    s = quality_rows(taskname, model, delta, &sv, &sb, &sf, rows, &nrows);
    if (s == DB_OK && f)
        s = item_rows(&sv, &sb, &sf, &items, &nitems);
    for (size_t i = 0; s == DB_OK && !quiet && i < nrows; i++)
        print_row(rows[i].metric, &rows[i]);
    task_free(t);
    scores_free(&sv), scores_free(&sb), scores_free(&sf);
    if (s == DB_OK && f &&
        !(s = res_attr_str(f, "task", taskname)) &&
        !(s = res_table_write(f, &quality_schema, nrows, rows)) &&
        !(s = res_table_write(f, &item_schema, nitems, items))) {
        s = res_commit(f); /* frees f whatever it returns */
        f = NULL;
    }
    db_free(items);
    if (s) {
        res_abort(f);
        return cli_fail(cmd, s);
    }
    return DB_EXIT_OK;
}
