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

/* Perplexity over up to max_tokens scored tokens of t's validation stream, in non-overlapping
 * windows of T tokens (each window starts without earlier context), B windows per forward.
 * Exact-match tasks are scored one validation example per window instead (T unused): each
 * example from its <bos>, as it is trained and decoded. */
db_status eval_ppl(tf_model *m, const db_task *t, int B, int T, int64_t max_tokens, eval_result *r);
/* Exact-match accuracy over the first n (<= t->nex) validation examples, B at a time: greedy
 * decoding must produce the answer followed by TOK_EOS. */
db_status eval_exact(tf_model *m, const db_task *t, int B, int64_t n, eval_result *r);
/* Generates up to max_new tokens after prompt[plen] (greedy when temperature <= 0, else sampled
 * with r); stops after TOK_EOS. out receives the new tokens, *nout their count. */
db_status eval_generate(tf_model *m, const int *prompt, int plen, int max_new, float temperature,
                        db_rng *r, int *out, int *nout);

#endif
