/* cmd_train.c: `deltabench train`: pre-trains a new Llama-architecture model or fine-tunes an
 * existing one (all parameters) on a task; scripts/build-models.sh builds the zoo with it.
 *
 * Writes DIR/config.json, DIR/model.safetensors and DIR/train.json (the run's statistics, read
 * back by the zoo table). Deterministic for a given seed and --threads. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fsutil.h"
#include "harness/cli.h"
#include "models/task.h"
#include "models/train.h"

static void usage(void)
{
    printf("usage: deltabench train --out DIR --task T [options]\n\n"
           "Trains a LLaMA-architecture byte-level model on task T: from scratch with the size\n"
           "options, or a full-parameter fine-tune of --init DIR. Writes DIR/config.json,\n"
           "DIR/model.safetensors (HF names) and DIR/train.json.\n\n"
           "model (ignored with --init or --resume):\n"
           "  --hidden C       hidden size (default 128, 8..4096, multiple of --heads)\n"
           "  --layers L       layers (default 4, 1..64)\n"
           "  --heads NH       attention heads (default 4, 1..64)\n"
           "  --kv-heads NKV   key/value heads, divides NH (default NH: no grouped-query)\n"
           "  --ffn F          MLP intermediate size (default 8/3 C rounded up to 16)\n"
           "  --ctx N          max_position_embeddings (default 256, >= --seq)\n"
           "  --init-seed S    weight initialisation seed (default 1)\n"
           "training:\n"
           "  --task T         english, scripture, code, arith, reverse, sort, or text:FILE\n"
           "  --data DIR       corpus directory of the text tasks (default models/zoo/data)\n"
           "  --init DIR       start from this model (fine-tuning)\n"
           "  --resume DIR     continue a checkpoint written by --ckpt-every (model + optimizer)\n"
           "  --steps N        optimizer steps (default 1000, 1..10000000)\n"
           "  --batch B        sequences per step (default 16, 1..4096)\n"
           "  --seq T          tokens per sequence (default 128, 2..ctx)\n"
           "  --lr X           peak learning rate (default 3e-3, (0, 1])\n"
           "  --lr-min X       cosine floor as a share of --lr (default 0.1, [0, 1])\n"
           "  --warmup N       linear warm-up steps (default 50, 0..steps)\n"
           "  --wd X           AdamW weight decay on matrices (default 0.1, [0, 1])\n"
           "  --clip X         max global gradient norm, 0 = off (default 1.0, [0, 1e6])\n"
           "  --seed S         batch sampling seed (default 1)\n"
           "  --threads N      OpenBLAS + OpenMP threads (default 2, 1..256); results are\n"
           "                   bit-identical for the same seed and thread count\n"
           "  --ckpt-every N   write model + optimizer state to --out every N steps (default 0)\n"
           "  --dtype D        f32, f16 or bf16 weights in the output (default f32)\n"
           "  --log-every N    print the mean loss of every N steps to stderr (default 0)\n"
           "  --quiet          no progress bar\n"
           "  -h, --help       this text\n");
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
    enum { O_HIDDEN = 256, O_LAYERS, O_HEADS, O_KV, O_FFN, O_CTX, O_ISEED, O_TASK, O_DATA, O_INIT,
           O_RESUME, O_STEPS, O_BATCH, O_SEQ, O_LR, O_LRMIN, O_WARM, O_WD, O_CLIP, O_SEED,
           O_THREADS, O_CKPT, O_DTYPE, O_QUIET, O_OUT, O_LOG };
    static const struct option opts[] = {
        {"hidden", 1, 0, O_HIDDEN}, {"layers", 1, 0, O_LAYERS}, {"heads", 1, 0, O_HEADS},
        {"kv-heads", 1, 0, O_KV},   {"ffn", 1, 0, O_FFN},       {"ctx", 1, 0, O_CTX},
        {"init-seed", 1, 0, O_ISEED}, {"task", 1, 0, O_TASK},   {"data", 1, 0, O_DATA},
        {"init", 1, 0, O_INIT},     {"resume", 1, 0, O_RESUME}, {"steps", 1, 0, O_STEPS},
        {"batch", 1, 0, O_BATCH},   {"seq", 1, 0, O_SEQ},       {"lr", 1, 0, O_LR},
        {"lr-min", 1, 0, O_LRMIN},  {"warmup", 1, 0, O_WARM},   {"wd", 1, 0, O_WD},
        {"clip", 1, 0, O_CLIP},     {"seed", 1, 0, O_SEED},     {"threads", 1, 0, O_THREADS},
        {"ckpt-every", 1, 0, O_CKPT}, {"dtype", 1, 0, O_DTYPE}, {"quiet", 0, 0, O_QUIET},
        {"out", 1, 0, O_OUT},       {"log-every", 1, 0, O_LOG}, {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    const char *cmd = "train", *out = NULL, *taskname = NULL, *data = "models/zoo/data";
    const char *init = NULL, *resume = NULL;
    int64_t hidden = 128, layers = 4, heads = 4, kvh = 0, ffn = 0, ctx = 256, threads = 2;
    int64_t iseed = 1, v, warm = -1;
    double d;
    bool quiet = false;
    db_dtype dt = DT_F32;
    train_opts o;
    train_opts_default(&o);
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *on = optind > 0 && optind <= argc ? argv[optind - 1] : "option";
        switch (c) {
        case 'h': usage(); return DB_EXIT_OK;
        case O_HIDDEN: if (!cli_i64(cmd, "--hidden", optarg, 8, 4096, &hidden)) return DB_EXIT_USAGE; break;
        case O_LAYERS: if (!cli_i64(cmd, "--layers", optarg, 1, 64, &layers)) return DB_EXIT_USAGE; break;
        case O_HEADS: if (!cli_i64(cmd, "--heads", optarg, 1, 64, &heads)) return DB_EXIT_USAGE; break;
        case O_KV: if (!cli_i64(cmd, "--kv-heads", optarg, 1, 64, &kvh)) return DB_EXIT_USAGE; break;
        case O_FFN: if (!cli_i64(cmd, "--ffn", optarg, 1, 65536, &ffn)) return DB_EXIT_USAGE; break;
        case O_CTX: if (!cli_i64(cmd, "--ctx", optarg, 2, 65536, &ctx)) return DB_EXIT_USAGE; break;
        case O_ISEED: if (!cli_i64(cmd, "--init-seed", optarg, 0, INT64_MAX, &iseed)) return DB_EXIT_USAGE; break;
        case O_TASK: taskname = optarg; break;
        case O_DATA: data = optarg; break;
        case O_INIT: init = optarg; break;
        case O_RESUME: resume = optarg; break;
        case O_STEPS: if (!cli_i64(cmd, "--steps", optarg, 1, 10000000, &v)) return DB_EXIT_USAGE; o.steps = (int)v; break;
        case O_BATCH: if (!cli_i64(cmd, "--batch", optarg, 1, 4096, &v)) return DB_EXIT_USAGE; o.B = (int)v; break;
        case O_SEQ: if (!cli_i64(cmd, "--seq", optarg, 2, 65536, &v)) return DB_EXIT_USAGE; o.T = (int)v; break;
        case O_LR: if (!cli_f64(cmd, "--lr", optarg, 1e-12, 1, &d)) return DB_EXIT_USAGE; o.lr = (float)d; break;
        case O_LRMIN: if (!cli_f64(cmd, "--lr-min", optarg, 0, 1, &d)) return DB_EXIT_USAGE; o.lr_min = (float)d; break;
        case O_WARM: if (!cli_i64(cmd, "--warmup", optarg, 0, 10000000, &warm)) return DB_EXIT_USAGE; break;
        case O_WD: if (!cli_f64(cmd, "--wd", optarg, 0, 1, &d)) return DB_EXIT_USAGE; o.wd = (float)d; break;
        case O_CLIP: if (!cli_f64(cmd, "--clip", optarg, 0, 1e6, &d)) return DB_EXIT_USAGE; o.clip = (float)d; break;
        case O_SEED: if (!cli_i64(cmd, "--seed", optarg, 0, INT64_MAX, &v)) return DB_EXIT_USAGE; o.seed = (uint64_t)v; break;
        case O_THREADS: if (!cli_i64(cmd, "--threads", optarg, 1, 256, &threads)) return DB_EXIT_USAGE; break;
        case O_CKPT: if (!cli_i64(cmd, "--ckpt-every", optarg, 0, 10000000, &v)) return DB_EXIT_USAGE; o.ckpt_every = (int)v; break;
        case O_DTYPE:
            if (!strcmp(optarg, "f32")) dt = DT_F32;
            else if (!strcmp(optarg, "f16")) dt = DT_F16;
            else if (!strcmp(optarg, "bf16")) dt = DT_BF16;
            else return cli_usage(cmd, "--dtype: '%s' is not f32, f16 or bf16", optarg);
            break;
        case O_QUIET: quiet = true; break;
        case O_LOG: if (!cli_i64(cmd, "--log-every", optarg, 0, 10000000, &v)) return DB_EXIT_USAGE; o.log_every = (int)v; break;
        case O_OUT: out = optarg; break;
        default: return cli_usage(cmd, "unknown or incomplete option '%s'", on);
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
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
