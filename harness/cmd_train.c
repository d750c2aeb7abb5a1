/* cmd_train.c: `deltabench train`: pre-trains a new Llama-architecture model or fine-tunes an
 * existing one (all parameters) on a task; scripts/build-models.sh builds the zoo with it.
 *
 * Writes DIR/config.json, DIR/model.safetensors and DIR/train.json (the run's statistics, read
 * back by the zoo table). Deterministic for a given seed and --threads. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "harness/cli.h"
#include "models/task.h"
#include "models/train.h"

static void usage(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench train --out DIR --task T [options]\n\n"
           "Trains a LLaMA-architecture byte-level model on task T: from scratch with the size\n"
           "options, or a full-parameter fine-tune of --init DIR. Writes DIR/config.json,\n"
           "DIR/model.safetensors (HF names) and DIR/train.json.\n\n");
    cli_help(stdout, opts, n);
}

static bool parse_dtype(const char *cmd, const char *opt, const char *val, void *dst)
{
    db_dtype *dt = dst;
    if (!strcmp(val, "f32"))
        *dt = DT_F32;
    else if (!strcmp(val, "f16"))
        *dt = DT_F16;
    else if (!strcmp(val, "bf16"))
        *dt = DT_BF16;
    else
        return cli_usage(cmd, "%s: '%s' is not f32, f16 or bf16", opt, val), false;
    return true;
}

static db_status write_stats(const char *dir, const tf_model *m, const char *taskname, const char *init,
                             const train_opts *o, const train_result *r, int threads)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/train.json", dir);
    fs_out f;
    db_status s = fs_out_open(&f, path);
    if (s)
        return s;
    fprintf(f.fp,
            "{\n  \"task\": \"%s\",\n  \"init\": \"%s\",\n  \"params\": %zu,\n  \"steps\": %d,\n"
            "  \"batch\": %d,\n  \"seq\": %d,\n  \"lr\": %g,\n  \"seed\": %" PRIu64 ",\n"
            "  \"threads\": %d,\n  \"first_loss\": %.6f,\n  \"last_loss\": %.6f,\n"
            "  \"tokens\": %" PRId64 ",\n  \"seconds\": %.3f,\n  \"gflops\": %.3f,\n"
            "  \"weights_hash\": \"%016" PRIx64 "\"\n}\n",
            taskname, init ? init : "", m->nparams, o->steps, o->B, o->T, (double)o->lr, o->seed,
            threads, (double)r->first_loss, (double)r->last_loss, r->tokens, r->seconds,
            r->seconds > 0 ? r->flops / r->seconds / 1e9 : 0.0, tf_model_hash(m));
    return fs_out_commit(&f);
}

int cmd_train(int argc, char **argv)
{
    char dbuf[4200];
    const char *cmd = "train", *out = NULL, *taskname = NULL,
               *data = cli_root_path("models/zoo/data", dbuf, sizeof dbuf);
    const char *init = NULL, *resume = NULL;
    int64_t hidden = 128, layers = 4, heads = 4, kvh = 0, ffn = 0, ctx = 256, threads = 2;
    int64_t iseed = 1, warm = -1;
    bool quiet = false;
    db_dtype dt = DT_F32;
    train_opts o;
    train_opts_default(&o);
    const cli_opt opts[] = {
        CLI_SECTION("model (ignored with --init or --resume)"),
        CLI_INT_OPT("hidden", &hidden, 8, 4096, "C", "hidden size, 8..4096, multiple of --heads",
                    "128"),
        CLI_INT_OPT("layers", &layers, 1, 64, "L", "layers, 1..64", "4"),
        CLI_INT_OPT("heads", &heads, 1, 64, "NH", "attention heads, 1..64", "4"),
        CLI_INT_OPT("kv-heads", &kvh, 1, 64, "NKV", "key/value heads, divides NH",
                    "NH: no grouped-query"),
        CLI_INT_OPT("ffn", &ffn, 1, 65536, "F", "MLP intermediate size, 1..65536",
                    "8/3 C rounded up to 16"),
        CLI_INT_OPT("ctx", &ctx, 2, 65536, "N", "max_position_embeddings, >= --seq", "256"),
        CLI_INT_OPT("init-seed", &iseed, 0, INT64_MAX, "S", "weight initialisation seed", "1"),
        CLI_SECTION("training"),
        CLI_STR_OPT("task", &taskname, "T",
                    "english, scripture, code, arith, reverse, sort, or text:FILE", "required"),
        CLI_STR_OPT("data", &data, "DIR", "corpus directory of the text tasks", "models/zoo/data"),
        CLI_STR_OPT("init", &init, "DIR", "start from this model (fine-tuning)", "none"),
        CLI_STR_OPT("resume", &resume, "DIR",
                    "continue a checkpoint written by --ckpt-every (model + optimizer)", "none"),
        CLI_STR_OPT("out", &out, "DIR", "output model directory", "required"),
        CLI_INT_OPT("steps", &o.steps, 1, 10000000, "N", "optimizer steps, 1..10000000", "1000"),
        CLI_INT_OPT("batch", &o.B, 1, 4096, "B", "sequences per step, 1..4096", "16"),
        CLI_INT_OPT("seq", &o.T, 2, 65536, "T", "tokens per sequence, 2..ctx", "128"),
        CLI_REAL_OPT("lr", &o.lr, 1e-12, 1, "X", "peak learning rate, (0, 1]", "3e-3"),
        CLI_REAL_OPT("lr-min", &o.lr_min, 0, 1, "X", "cosine floor as a share of --lr, [0, 1]",
                     "0.1"),
        CLI_INT_OPT("warmup", &warm, 0, 10000000, "N", "linear warm-up steps, 0..steps",
                    "steps/10 below 500 steps, else 50"),
        CLI_REAL_OPT("wd", &o.wd, 0, 1, "X", "AdamW weight decay on matrices, [0, 1]", "0.1"),
        CLI_REAL_OPT("clip", &o.clip, 0, 1e6, "X", "max global gradient norm, 0 = off, [0, 1e6]",
                     "1.0"),
        CLI_INT_OPT("seed", &o.seed, 0, INT64_MAX, "S", "batch sampling seed", "1"),
        CLI_INT_OPT("threads", &threads, 1, 256, "N",
                    "OpenBLAS + OpenMP threads, 1..256; results are\n"
                    "bit-identical for the same seed and thread count", "2"),
        CLI_INT_OPT("ckpt-every", &o.ckpt_every, 0, 10000000, "N",
                    "write model + optimizer state to --out every N steps", "0"),
        CLI_FN_OPT("dtype", parse_dtype, &dt, "D", "f32, f16 or bf16 weights in the output",
                   "f32"),
        CLI_INT_OPT("log-every", &o.log_every, 0, 10000000, "N",
                    "print the mean loss of every N steps to stderr", "0"),
        CLI_FLAG_OPT("quiet", 'q', &quiet, "no progress bar"),
    };
    int rc = cli_parse(cmd, argc, argv, opts, CLI_NOPTS(opts), NULL);
    if (rc == CLI_HELP)
        return usage(opts, CLI_NOPTS(opts)), DB_EXIT_OK;
    if (rc)
        return rc;
    if (!out)
        return cli_usage(cmd, "--out DIR is required");
    if (!taskname)
        return cli_usage(cmd, "--task is required");
    if (init && resume)
        return cli_usage(cmd, "--init and --resume exclude each other");
    if (warm > o.steps)
        return cli_usage(cmd, "--warmup %" PRId64 " exceeds --steps %d", warm, o.steps);
    o.warmup = warm >= 0 ? (int)warm : (o.steps < 500 ? o.steps / 10 : 50);
    if (!kvh)
        kvh = heads;
    if (hidden % heads || heads % kvh || (hidden / heads) % 2)
        return cli_usage(cmd, "--hidden must be a multiple of --heads with an even head size, "
                         "and --kv-heads must divide --heads");
    if (!ffn)
        ffn = (hidden * 8 / 3 + 15) / 16 * 16;
    o.ckpt_dir = out;
    o.progress = !quiet;

    tf_set_threads((int)threads);
    tf_model m;
    db_status s;
    const char *from = init ? init : resume;
    if (from) {
        if ((s = tf_model_load(&m, from)))
            return cli_fail(cmd, s);
    } else {
        tf_config cfg = {.V = TASK_VOCAB, .C = (int)hidden, .F = (int)ffn, .L = (int)layers,
                         .NH = (int)heads, .NKV = (int)kvh, .HS = (int)(hidden / heads),
                         .maxT = (int)ctx, .eps = 1e-5f, .rope_theta = 10000.0f};
        if ((s = tf_model_init(&m, &cfg)))
            return cli_fail(cmd, s);
        tf_model_init_random(&m, (uint64_t)iseed);
    }
    if (m.cfg.V < TASK_VOCAB) {
        int vocab = m.cfg.V;
        tf_model_free(&m);
        return cli_usage(cmd, "the model's vocabulary (%d) is smaller than the byte tokenizer's "
                         "%d", vocab, TASK_VOCAB);
    }
    if (o.T > m.cfg.maxT) {
        int ctxlen = m.cfg.maxT;
        tf_model_free(&m);
        return cli_usage(cmd, "--seq %d exceeds the model's context %d", o.T, ctxlen);
    }
    db_task *t = NULL;
    size_t need = (size_t)o.steps * o.B * o.T;
    if ((s = task_open(taskname, data, need < 200000 ? 200000 : need > 4000000 ? 4000000 : need,
                       &t))) {
        tf_model_free(&m);
        return cli_fail(cmd, s);
    }
    train_result r;
    s = train_run(&m, t, &o, resume, &r);
    if (s == DB_OK) {
        char st[32];
        snprintf(st, sizeof st, "%d", o.steps);
        const char *k[] = {"train_step", "task"}, *vv[] = {st, taskname};
        s = tf_model_save(&m, out, dt, 2, k, vv);
    }
    if (s == DB_OK)
        s = write_stats(out, &m, taskname, init, &o, &r, (int)threads);
    if (s == DB_OK)
        printf("trained %s: %d steps in %.1f s, loss %.4f -> %.4f, %.0f tokens/s, %.2f GFLOP/s, "
               "weights %016" PRIx64 " (%zu parameters: C=%d L=%d NH=%d NKV=%d F=%d; %s)\n",
               out, o.steps - r.start_step, r.seconds, (double)r.first_loss, (double)r.last_loss,
               r.seconds > 0 ? (double)r.tokens / r.seconds : 0.0,
               r.seconds > 0 ? r.flops / r.seconds / 1e9 : 0.0, tf_model_hash(&m), m.nparams,
               m.cfg.C, m.cfg.L, m.cfg.NH, m.cfg.NKV, m.cfg.F, taskname);
    task_free(t);
    tf_model_free(&m);
    return s ? cli_fail(cmd, s) : DB_EXIT_OK;
}
