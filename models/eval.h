/* eval.h: quality of a model on a task: perplexity / bits per byte on the validation stream and
 * exact-match accuracy by greedy decoding with the KV cache; plus sampling for `generate`.
 *
 * Why here and not in the harness: compressed fine-tunes are scored through exactly these
 * functions with a delta hook on the model (y = W_base·x + Δ(x)), the way they are served, and
 * the tests compare the numbers bit for bit. */
#ifndef DB_EVAL_H
#define DB_EVAL_H

#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"
#include "models/task.h"
#include "models/tf.h"

typedef struct {
    double loss;      /* mean cross-entropy (nats) over scored validation tokens */
    double bpb;       /* loss / ln 2: bits per byte (tokens are bytes) */
    double ppl;       /* exp(loss) */
    int64_t ntokens;  /* scored tokens */
    double accuracy;  /* exact-match share (TASK_EXACT; -1 otherwise) */
    int64_t nexact;   /* examples decoded */
    int64_t ncorrect;
} eval_result;

/* Per-item scores of one evaluation, for intervals over items (core/interval.h): item i is
 * window i of eval_ppl (x: its summed cross-entropy in nats, n: its scored tokens) or prompt i
 * of eval_exact (x: 1 when exactly right else 0, n: 1). Owned; eval_items_free releases. */
typedef struct {
    double *x;
    int64_t *n;
    size_t count;
} eval_items;
void eval_items_free(eval_items *it); /* NULL or an empty one: a no-op */

/* Perplexity over up to max_tokens scored tokens of t's validation stream, in non-overlapping
 * windows of T tokens (each window starts without earlier context), B windows per forward.
 * Exact-match tasks are scored one validation example per window instead (T unused): each
 * example from its <bos>, as it is trained and decoded. */
db_status eval_ppl(tf_model *m, const db_task *t, int B, int T, int64_t max_tokens, eval_result *r);
/* eval_ppl that also fills *items (NULL: none) with each window's loss and tokens. */
db_status eval_ppl_items(tf_model *m, const db_task *t, int B, int T, int64_t max_tokens,
                         eval_result *r, eval_items *items);
/* Exact-match accuracy over the first n (<= t->nex) validation examples, B at a time: greedy
 * decoding must produce the answer followed by TOK_EOS. */
db_status eval_exact(tf_model *m, const db_task *t, int B, int64_t n, eval_result *r);
/* eval_exact that also fills *items (NULL: none) with each prompt's 1 / 0. */
db_status eval_exact_items(tf_model *m, const db_task *t, int B, int64_t n, eval_result *r,
                           eval_items *items);
/* Generates up to max_new tokens after prompt[plen] (greedy when temperature <= 0, else sampled
 * with r); stops after TOK_EOS. out receives the new tokens, *nout their count. */
db_status eval_generate(tf_model *m, const int *prompt, int plen, int max_new, float temperature,
                        db_rng *r, int *out, int *nout);

#endif
