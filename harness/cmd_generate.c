/* cmd_generate.c: `deltabench generate`: prints a model's continuation of a prompt (greedy or
 * sampled), optionally with a compressed delta applied; a quick look at what a model learned. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "harness/cli.h"
#include "models/eval.h"
#include "models/tf_delta.h"

static void usage(void)
{
    printf("usage: deltabench generate --model DIR --prompt TEXT [options]\n\n"
           "Prints TEXT followed by the model's continuation (bytes; generation stops at the\n"
           "end-of-example token or after --max-new tokens).\n\n"
           "options:\n"
           "  --model DIR        model directory, required\n"
           "  --delta FILE       compressed delta made for --model, applied in every linear layer\n"
           "  --prompt TEXT      the prompt, required (non-empty)\n"
           "  --bos              start the prompt with the begin-of-example token, as the\n"
           "                     exact-match tasks do (e.g. --bos --prompt '12+34=')\n"
           "  --max-new N        tokens to generate, 1..65536 (default 200; capped by the context)\n"
           "  --temperature X    0 = greedy (default), else sample from softmax(logits / X), (0, 10]\n"
           "  --seed S           sampling seed (default 1)\n"
           "  --threads N        threads (default 2, 1..256)\n"
           "  -h, --help         this text\n");
}

int cmd_generate(int argc, char **argv)
{
    enum { O_MODEL = 256, O_DELTA, O_PROMPT, O_BOS, O_MAX, O_TEMP, O_SEED, O_THREADS };
    static const struct option opts[] = {
        {"model", 1, 0, O_MODEL}, {"delta", 1, 0, O_DELTA},   {"prompt", 1, 0, O_PROMPT},
        {"bos", 0, 0, O_BOS},     {"max-new", 1, 0, O_MAX},   {"temperature", 1, 0, O_TEMP},
        {"seed", 1, 0, O_SEED},   {"threads", 1, 0, O_THREADS}, {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    const char *cmd = "generate", *model = NULL, *delta = NULL, *prompt = NULL;
    int64_t maxnew = 200, seed = 1, threads = 2;
    double temp = 0;
    int bos = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *on = optind > 0 && optind <= argc ? argv[optind - 1] : "option";
        switch (c) {
        case 'h': usage(); return DB_EXIT_OK;
        case O_MODEL: model = optarg; break;
        case O_DELTA: delta = optarg; break;
        case O_PROMPT: prompt = optarg; break;
        case O_BOS: bos = 1; break;
        case O_MAX: if (!cli_i64(cmd, "--max-new", optarg, 1, 65536, &maxnew)) return DB_EXIT_USAGE; break;
        case O_TEMP: if (!cli_f64(cmd, "--temperature", optarg, 0, 10, &temp)) return DB_EXIT_USAGE; break;
        case O_SEED: if (!cli_i64(cmd, "--seed", optarg, 0, INT64_MAX, &seed)) return DB_EXIT_USAGE; break;
        case O_THREADS: if (!cli_i64(cmd, "--threads", optarg, 1, 256, &threads)) return DB_EXIT_USAGE; break;
        default: return cli_usage(cmd, "unknown or incomplete option '%s'", on);
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!model)
        return cli_usage(cmd, "--model DIR is required");
    if (!prompt || !*prompt)
        return cli_usage(cmd, "--prompt TEXT is required and must not be empty");
    tf_set_threads((int)threads);
    tf_model m;
    tf_delta *d = NULL;
    db_status s = tf_model_load(&m, model);
    if (s)
        return cli_fail(cmd, s);
    if (delta && (s = tf_delta_attach(&m, model, delta, &d))) {
        tf_model_free(&m);
        return cli_fail(cmd, s);
    }
    size_t plen = strlen(prompt) + (size_t)bos;
    int *ptok = db_malloc_array(plen, sizeof(int));
    int *gen = db_malloc_array((size_t)maxnew, sizeof(int));
    int ngen = 0;
    if (!ptok || !gen) {
        s = db_error(DB_ERR_NOMEM, "generate: out of memory");
    } else {
        if (bos)
            ptok[0] = TOK_BOS;
        task_encode(prompt, strlen(prompt), ptok + bos, (int)(plen - (size_t)bos));
        db_rng r;
        rng_seed(&r, (uint64_t)seed);
        s = eval_generate(&m, ptok, (int)plen, (int)maxnew, (float)temp, &r, gen, &ngen);
    }
    if (s == DB_OK) {
        fputs(prompt, stdout);
        for (int i = 0; i < ngen; i++)
            if (gen[i] < 256)
                putchar(gen[i]);
        putchar('\n');
    }
    db_free(ptok);
    db_free(gen);
    tf_delta_detach(&m, d);
    tf_model_free(&m);
    return s ? cli_fail(cmd, s) : DB_EXIT_OK;
}
