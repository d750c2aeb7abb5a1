/* cmd_generate.c: `deltabench generate`: prints a model's continuation of a prompt (greedy or
 * sampled), optionally with a compressed delta applied; a quick look at what a model learned. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "harness/cli.h"
#include "models/eval.h"
#include "models/tf_delta.h"

static void usage(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench generate --model DIR --prompt TEXT [options]\n\n"
           "Prints TEXT followed by the model's continuation (bytes; generation stops at the\n"
           "end-of-example token or after --max-new tokens).\n\n");
    cli_help(stdout, opts, n);
}

int cmd_generate(int argc, char **argv)
{
    const char *cmd = "generate", *model = NULL, *delta = NULL, *prompt = NULL;
    int64_t maxnew = 200, seed = 1, threads = 2;
    double temp = 0;
    bool bos = false;
    const cli_opt opts[] = {
        CLI_STR_OPT("model", &model, "DIR", "model directory", "required"),
        CLI_STR_OPT("delta", &delta, "FILE",
                    "compressed delta made for --model, applied in every linear layer", "none"),
        CLI_STR_OPT("prompt", &prompt, "TEXT", "the prompt (non-empty)", "required"),
        CLI_FLAG_OPT("bos", 0, &bos,
                     "start the prompt with the begin-of-example token, as the\n"
                     "exact-match tasks do (e.g. --bos --prompt '12+34=')"),
        CLI_INT_OPT("max-new", &maxnew, 1, 65536, "N",
                    "tokens to generate, 1..65536 (capped by the context)", "200"),
        CLI_REAL_OPT("temperature", &temp, 0, 10, "X",
                     "0 = greedy, else sample from softmax(logits / X), (0, 10]", "0"),
        CLI_INT_OPT("seed", &seed, 0, INT64_MAX, "S", "sampling seed", "1"),
        CLI_INT_OPT("threads", &threads, 1, 256, "N", "threads, 1..256", "2"),
    };
    int rc = cli_parse(cmd, argc, argv, opts, CLI_NOPTS(opts), NULL);
    if (rc == CLI_HELP)
        return usage(opts, CLI_NOPTS(opts)), DB_EXIT_OK;
    if (rc)
        return rc;
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
    const int nbos = bos ? 1 : 0;
    size_t plen = strlen(prompt) + (size_t)nbos;
    int *ptok = db_malloc_array(plen, sizeof(int));
    int *gen = db_malloc_array((size_t)maxnew, sizeof(int));
    int ngen = 0;
    if (!ptok || !gen) {
        s = db_error(DB_ERR_NOMEM, "generate: out of memory");
    } else {
        if (bos)
            ptok[0] = TOK_BOS;
        task_encode(prompt, strlen(prompt), ptok + nbos, (int)(plen - (size_t)nbos));
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
