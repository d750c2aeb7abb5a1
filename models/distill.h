/* distill.h: BitDelta's scale distillation (Liu et al. 2024, §3.2): with the sign bits frozen,
 * only the per-matrix scales α of Δ̂ = α·sign(Δ) are trained so that the compressed model's logits
 * match the fine-tuned model's (mean squared error on the logits), with Adam. The KL divergence
 * of the student's next-token distribution from the teacher's is the alternative loss: the logit
 * MSE also counts logits of tokens neither model predicts (most of a byte vocabulary).
 *
 * Why in models/: it needs the forward and backward; the gradient of the loss with respect to α
 * of a matrix is Σ (∂L/∂W ⊙ sign), read off the full weight gradient of the backward. */
#ifndef DB_DISTILL_H
#define DB_DISTILL_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "models/task.h"

typedef enum {
    DISTILL_MSE, /* mean((z - z*)^2) over every logit: BitDelta's */
    DISTILL_KL,  /* mean over positions of KL(softmax(z*) || softmax(z)) */
} distill_loss;

typedef struct {
    int steps;      /* Adam steps (a few hundred at most), >= 1 */
    float lr;       /* Adam learning rate on the scales (BitDelta: 1e-4) */
    int B, T;       /* sequences x tokens per step */
    uint64_t seed;  /* batch sampling */
    distill_loss loss;
    /* Snapshots: after step snap_steps[i] (ascending, each in 1..steps - 1) the container with
     * the scales of that moment is also written to snap_paths[i]; the same as a run of
     * snap_steps[i] steps with the same seed (one 800-step run gives the 50- and 200-step
     * ablation points). nsnap 0: none. */
    int nsnap;
    const int *snap_steps;
    const char *const *snap_paths;
} distill_opts;

typedef struct {
    double loss_first, loss_last; /* the loss at the first and the last step */
    int nscales;                /* scales trained */
    double seconds;
} distill_result;

/* The loss of student logits z against teacher logits zt ([rows, V] each) and dL/dz into g. */
double distill_loss_grad(distill_loss kind, const float *z, const float *zt, size_t rows, size_t V,
                         float *g);

/* Distils the scales of the bitdelta container delta_path (made for base_dir from target_dir) on
 * task t's training text, then writes the same container with the new scales to out_path (temp
 * name + rename). A container of another method is refused. */
db_status distill_bitdelta(const char *base_dir, const char *target_dir, const char *delta_path,
                           const db_task *t, const distill_opts *o, const char *out_path,
                           distill_result *r);

#endif
