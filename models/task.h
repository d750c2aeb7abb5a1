/* task.h: byte-level tokenisation, corpora with fixed train/validation splits, and the tasks the
 * model zoo is trained and scored on.
 *
 * Why: the zoo needs one base domain (mixed English) and several fine-tuning domains, some scored
 * by perplexity (text: scripture, C code) and some by exact-match accuracy (synthetic: addition,
 * string reversal, sorting), all reproducible bit for bit. A task is one row of a table; every
 * task exposes the same two token streams (train, validation), each with a mask saying which
 * positions are scored, so training and perplexity code never look at the task kind.
 *
 * Tokens: bytes 0..255 are themselves; TOK_BOS / TOK_EOS frame synthetic examples; TOK_PAD is
 * reserved; TASK_VOCAB = 260 (one spare, so V is a multiple of 4).
 *
 * Splits: text is cut into 2048-byte blocks and block i is validation when
 * rng_mix64(i ^ 0x5eed) % 20 == 0 (5 %; a corpus where no block qualifies gives its last block);
 * synthetic examples are validation when the hash of their
 * prompt % 10 == 0, so no validation prompt ever appears in training. Neither depends on the
 * training seed. Text files are read from a data directory (scripts/build-models.sh extracts them
 * from Debian packages; docs/models.md lists sources and licences). */
#ifndef DB_TASK_H
#define DB_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"

enum { TOK_BOS = 256, TOK_EOS = 257, TOK_PAD = 258, TASK_VOCAB = 260 };

typedef enum { TASK_PPL, TASK_EXACT } task_kind;

/* A token stream: tokens[n] and score[n] (1 where predicting tokens[i] counts). */
typedef struct {
    int *tok;
    uint8_t *score;
    size_t n;
} task_stream;

/* One exact-match example: prompt (starting with TOK_BOS) and expected answer (bytes only, the
 * model must then emit TOK_EOS). */
typedef struct {
    int *prompt;
    int plen;
    int *answer;
    int alen;
} task_example;

typedef struct {
    const char *name;
    task_kind kind;
    const char *summary; /* one line for --help and docs */
    task_stream train, val;
    task_example *ex; /* validation examples (TASK_EXACT only) */
    size_t nex;
    int max_answer;   /* longest answer of the task (decoding budget) */
} db_task;

/* Names of the built-in tasks, NULL-terminated (the CLI lists them). "text:PATH" is also accepted:
 * a perplexity task over any file. */
extern const char *const task_names[];
/* One-line description of a built-in task name, or NULL. */
const char *task_summary(const char *name);

/* Builds task `name`: text tasks read their files from data_dir (missing file: one-line error);
 * synthetic tasks generate train_tokens training tokens (0: default 2,000,000) and their fixed
 * validation set. */
db_status task_open(const char *name, const char *data_dir, size_t train_tokens, db_task **out);
void task_free(db_task *t); /* NULL is a no-op */

/* Fills tokens/targets [B, T] with B windows drawn uniformly from the training stream; targets are
 * the next tokens, -1 where not scored. Exact-match tasks: each row is one example from its
 * <bos> (the one the drawn position falls in), then TOK_PAD with target -1; an example longer
 * than T is cut (T = longest example - 1 scores every answer token and <eos>). */
void task_batch(const db_task *t, db_rng *r, int B, int T, int *tokens, int *targets);

/* Byte string -> tokens (n <= cap; returns the count written). */
int task_encode(const char *s, size_t len, int *tok, int cap);
/* Appends the printable form of token tok to buf ("<bos>", "<eos>", bytes as is). */
void task_token_str(int tok, char *buf, size_t n);

#endif
