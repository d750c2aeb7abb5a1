/* cmd_distill.c: `deltabench distill`: BitDelta's scale distillation of a bitdelta container
 * (scales only, logit MSE against the fine-tuned model, Adam), writing a new container. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/cli.h"
#include "models/distill.h"
#include "models/tf.h"

static void usage(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench distill --base DIR --target DIR --delta D --task T --out D2 [options]\n\n"
           "Trains the per-matrix scales of the bitdelta container D (made from --base and\n"
           "--target by `deltabench compress --method bitdelta`) so that base + delta matches the\n"
           "fine-tuned model's logits (mean squared error, or --loss kl), sign bits frozen; writes\n"
           "D2, the same container with the distilled scales.\n\n");
    cli_help(stdout, opts, n);
}

static bool parse_loss(const char *cmd, const char *opt, const char *val, void *dst)
{
    distill_loss *l = dst;
    if (!strcmp(val, "mse"))
        *l = DISTILL_MSE;
    else if (!strcmp(val, "kl"))
        *l = DISTILL_KL;
    else
        return cli_usage(cmd, "%s must be mse or kl, not '%s'", opt, val), false;
    return true;
}

int cmd_distill(int argc, char **argv)
{
    const char *cmd = "distill", *base = NULL, *target = NULL, *delta = NULL, *taskname = NULL;
    char dbuf[4200];
    const char *data = cli_root_path("models/zoo/data", dbuf, sizeof dbuf), *out = NULL;
    distill_opts o = {200, 1e-4f, 8, 128, 1, DISTILL_MSE, 0, NULL, NULL};
    const char *save_at = NULL;
    int64_t threads = 2;
    bool quiet = false;
    const cli_opt opts[] = {
        CLI_STR_OPT("base", &base, "DIR", "base model (the delta's base hash is checked)",
                    "required"),
        CLI_STR_OPT("target", &target, "DIR", "the fine-tuned model (the teacher)", "required"),
        CLI_STR_OPT("delta", &delta, "D", "bitdelta container", "required"),
        CLI_STR_OPT("task", &taskname, "T", "text the logits are matched on (training split)",
                    "required"),
        CLI_STR_OPT("data", &data, "DIR", "corpus directory", "models/zoo/data"),
        CLI_STR_OPT("out", &out, "D2", "output container", "required"),
        CLI_INT_OPT("steps", &o.steps, 1, 10000, "N", "Adam steps, 1..10000", "200"),
        CLI_REAL_OPT("lr", &o.lr, 1e-12, 1, "X", "Adam learning rate on the scales, (0, 1]",
                     "1e-4, BitDelta's"),
        CLI_INT_OPT("batch", &o.B, 1, 1024, "B", "sequences per step, 1..1024", "8"),
        CLI_INT_OPT("seq", &o.T, 2, 65536, "T", "tokens per sequence, 2..context", "128"),
        CLI_INT_OPT("seed", &o.seed, 0, INT64_MAX, "S", "batch sampling seed", "1"),
        CLI_FN_OPT("loss", parse_loss, &o.loss, "L",
                   "mse: mean squared error of the logits (BitDelta's); kl:\n"
                   "KL divergence of the student's next-token distribution from the\n"
                   "teacher's (the MSE also weighs logits of tokens nobody predicts)", "mse"),
        CLI_STR_OPT("save-at", &save_at, "N,N...",
                    "also write the container after each of these steps\n"
                    "(ascending, below --steps) to D2.stepN: the same as a run\n"
                    "of N steps with this seed", "none"),
        CLI_INT_OPT("threads", &threads, 1, 256, "N", "threads, 1..256", "2"),
        CLI_FLAG_OPT("quiet", 'q', &quiet, "no result line"),
    };
    int rc = cli_parse(cmd, argc, argv, opts, CLI_NOPTS(opts), NULL);
    if (rc == CLI_HELP)
        return usage(opts, CLI_NOPTS(opts)), DB_EXIT_OK;
    if (rc)
        return rc;
    if (!base || !target || !delta || !taskname || !out)
        return cli_usage(cmd, "--base, --target, --delta, --task and --out are required");
    enum { MAXSNAP = 16 };
    int snap_steps[MAXSNAP];
    char snap_buf[MAXSNAP][4200];
    const char *snap_paths[MAXSNAP];
    for (const char *p = save_at; p && *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || (*end && *end != ',') || v < 1 || v >= o.steps || o.nsnap == MAXSNAP ||
            (o.nsnap && v <= snap_steps[o.nsnap - 1]))
            return cli_usage(cmd, "--save-at '%s': at most %d ascending steps in 1..%d, comma-separated",
                             save_at, MAXSNAP, o.steps - 1);
        snap_steps[o.nsnap] = (int)v;
        snprintf(snap_buf[o.nsnap], sizeof snap_buf[0], "%s.step%ld", out, v);
        snap_paths[o.nsnap] = snap_buf[o.nsnap];
        o.nsnap++;
        p = *end ? end + 1 : end;
    }
    o.snap_steps = snap_steps, o.snap_paths = snap_paths;
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
    if (!quiet)
        printf("distilled %d scales in %d steps (%.1f s): %s %.6g -> %.6g; wrote %s\n", r.nscales,
               o.steps, r.seconds, o.loss == DISTILL_KL ? "KL divergence" : "logit MSE",
               r.loss_first, r.loss_last, out);
    return DB_EXIT_OK;
}
