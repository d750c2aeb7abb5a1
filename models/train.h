/* train.h: the training loop of the model zoo: AdamW, linear warm-up + cosine decay, global
 * gradient-norm clipping, periodic checkpoints that can be resumed.
 *
 * Why a loop of its own: the zoo must train deterministically (same seed and thread count, same
 * weights bit for bit), so batches come from one seeded generator, the schedule is a pure
 * function of the step, and a resumed run restores the generator, the step and Adam's moments. */
#ifndef DB_TRAIN_H
#define DB_TRAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/status.h"
#include "models/task.h"
#include "models/tf.h"

typedef struct {
    int steps;          /* optimizer steps (>= 1) */
    int B, T;           /* sequences per step, tokens per sequence */
    int warmup;         /* linear warm-up steps */
    float lr;           /* peak learning rate */
    float lr_min;       /* floor of the cosine decay, as a share of lr (0.1) */
    float wd;           /* AdamW weight decay (matrices only) */
    float clip;         /* max global gradient norm (0: none) */
    float beta1, beta2, eps;
    uint64_t seed;      /* batch sampling */
    int ckpt_every;     /* write a checkpoint every N steps (0: none) */
    const char *ckpt_dir; /* where checkpoints go (model files + optimizer.safetensors) */
    int stop_after;     /* stop after this step, schedule unchanged (0: run to steps); with a
                         * checkpoint there, this emulates an interrupted run */
    bool progress;      /* progress bar on stderr */
    int log_every;      /* print "step N loss L lr X" (mean loss of the last N steps) to stderr
                         * every N steps (0: never) */
} train_opts;

/* The defaults used by `deltabench train`. */
void train_opts_default(train_opts *o);
/* Learning rate at step (1-based) under o's schedule. */
float train_lr(const train_opts *o, int step);

typedef struct {
    int start_step;       /* 0, or the step a resumed run continued from */
    float first_loss;     /* mean of the first min(10, steps) losses */
    float last_loss;      /* mean of the last min(10, steps) losses */
    double seconds;       /* wall time of the steps */
    int64_t tokens;       /* tokens processed */
    double flops;         /* 6 * params * tokens + attention, the estimate the benchmark uses */
} train_result;

/* Trains m (activations and gradients are allocated here for o->B x o->T) on t's training
 * stream. With resume_dir, continues from the optimizer state saved there. */
db_status train_run(tf_model *m, const db_task *t, const train_opts *o, const char *resume_dir,
                    train_result *res);

/* FLOPs of one training step of B x T tokens (forward + backward, matmuls and attention). */
double train_step_flops(const tf_config *c, int B, int T);

#endif
