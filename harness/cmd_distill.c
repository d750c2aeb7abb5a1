/* cmd_distill.c: `deltabench distill`: BitDelta's scale distillation of a bitdelta container
 * (scales only, logit MSE against the fine-tuned model, Adam), writing a new container. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "harness/cli.h"
#include "models/distill.h"
#include "models/tf.h"

static void usage(void)
{
    printf("usage: deltabench distill --base DIR --target DIR --delta D --task T --out D2 [options]\n\n"
           "Trains the per-matrix scales of the bitdelta container D (made from --base and\n"
           "--target by `deltabench compress --method bitdelta`) so that base + delta matches the\n"
           "fine-tuned model's logits (mean squared error, or --loss kl), sign bits frozen; writes\n"
           "D2, the same container with the distilled scales.\n\n"
           "options:\n"
           "  --base DIR      base model (the delta's base hash is checked), required\n"
           "  --target DIR    the fine-tuned model (the teacher), required\n"
           "  --delta D       bitdelta container, required\n"
           "  --task T        text the logits are matched on (training split), required\n"
           "  --data DIR      corpus directory (default models/zoo/data)\n"
           "  --out D2        output container, required\n"
           "  --steps N       Adam steps, 1..10000 (default 200)\n"
           "  --lr X          Adam learning rate on the scales, (0, 1] (default 1e-4, BitDelta's)\n"
           "  --batch B       sequences per step, 1..1024 (default 8)\n"
           "  --seq T         tokens per sequence (default 128, 2..context)\n"
           "  --seed S        batch sampling seed (default 1)\n"
           "  --loss L        mse: mean squared error of the logits (default, BitDelta's); kl:\n"
           "                  KL divergence of the student's next-token distribution from the\n"
           "                  teacher's (the MSE also weighs logits of tokens nobody predicts)\n"
           "  --threads N     threads (default 2, 1..256)\n"
           "  -h, --help      this text\n");
}

int cmd_distill(int argc, char **argv)
{
    enum { O_BASE = 256, O_TARGET, O_DELTA, O_TASK, O_DATA, O_OUT, O_STEPS, O_LR, O_BATCH, O_SEQ,
           O_SEED, O_THREADS, O_LOSS };
    static const struct option opts[] = {
        {"base", 1, 0, O_BASE},   {"target", 1, 0, O_TARGET}, {"delta", 1, 0, O_DELTA},
        {"task", 1, 0, O_TASK},   {"data", 1, 0, O_DATA},     {"out", 1, 0, O_OUT},
        {"steps", 1, 0, O_STEPS}, {"lr", 1, 0, O_LR},         {"batch", 1, 0, O_BATCH},
        {"seq", 1, 0, O_SEQ},     {"seed", 1, 0, O_SEED},     {"threads", 1, 0, O_THREADS},
        {"loss", 1, 0, O_LOSS},
        {"help", 0, 0, 'h'},      {0, 0, 0, 0}};
    const char *cmd = "distill", *base = NULL, *target = NULL, *delta = NULL, *taskname = NULL;
    const char *data = "models/zoo/data", *out = NULL;
    distill_opts o = {200, 1e-4f, 8, 128, 1, DISTILL_MSE};
    int64_t v, threads = 2;
    double d;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *on = optind > 0 && optind <= argc ? argv[optind - 1] : "option";
        switch (c) {
        case 'h': usage(); return DB_EXIT_OK;
        case O_BASE: base = optarg; break;
        case O_TARGET: target = optarg; break;
        case O_DELTA: delta = optarg; break;
        case O_TASK: taskname = optarg; break;
        case O_DATA: data = optarg; break;
        case O_OUT: out = optarg; break;
        case O_STEPS: if (!cli_i64(cmd, "--steps", optarg, 1, 10000, &v)) return DB_EXIT_USAGE; o.steps = (int)v; break;
        case O_LR: if (!cli_f64(cmd, "--lr", optarg, 1e-12, 1, &d)) return DB_EXIT_USAGE; o.lr = (float)d; break;
        case O_BATCH: if (!cli_i64(cmd, "--batch", optarg, 1, 1024, &v)) return DB_EXIT_USAGE; o.B = (int)v; break;
        case O_SEQ: if (!cli_i64(cmd, "--seq", optarg, 2, 65536, &v)) return DB_EXIT_USAGE; o.T = (int)v; break;
        case O_SEED: if (!cli_i64(cmd, "--seed", optarg, 0, INT64_MAX, &v)) return DB_EXIT_USAGE; o.seed = (uint64_t)v; break;
        case O_THREADS: if (!cli_i64(cmd, "--threads", optarg, 1, 256, &threads)) return DB_EXIT_USAGE; break;
        case O_LOSS:
            if (!strcmp(optarg, "mse"))
                o.loss = DISTILL_MSE;
            else if (!strcmp(optarg, "kl"))
                o.loss = DISTILL_KL;
            else
                return cli_usage(cmd, "--loss must be mse or kl, not '%s'", optarg);
            break;
        default: return cli_usage(cmd, "unknown or incomplete option '%s'", on);
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!base || !target || !delta || !taskname || !out)
        return cli_usage(cmd, "--base, --target, --delta, --task and --out are required");
    tf_set_threads((int)threads);
    db_task *t = NULL;
    db_status s = task_open(taskname, data, (size_t)o.steps * o.B * o.T + 100000, &t);
    if (s)
        return cli_fail(cmd, s);
    distill_result r;
    s = distill_bitdelta(base, target, delta, t, &o, out, &r);
    task_free(t);
    if (s)
        return cli_fail(cmd, s);
    printf("distilled %d scales in %d steps (%.1f s): %s %.6g -> %.6g; wrote %s\n", r.nscales,
           o.steps, r.seconds, o.loss == DISTILL_KL ? "KL divergence" : "logit MSE",
           r.loss_first, r.loss_last, out);
    return DB_EXIT_OK;
}
