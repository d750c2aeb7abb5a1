/* cmd_calib.c: `deltabench calib`: measures the Hessian proxies H = 2/n·XᵀX of every linear layer
 * of a model on a task's text and writes the static calibration file that
 * `deltabench compress --hessians FILE` reads (compressors/compressor.h, dc_calib_file_open). */
#include <inttypes.h>
#include <stdio.h>

#include "harness/cli.h"
#include "models/calib_model.h"
#include "models/tf.h"

static void usage(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench calib --model DIR --task T --out FILE [options]\n\n"
           "Runs model DIR (normally the fine-tune) on --tokens tokens of task T and writes, for\n"
           "every linear tensor W [N, K], the F32 [K, K] tensor \"<name>.hessian\" = 2/n X^T X of\n"
           "its inputs, plus a `tokens` metadata entry (n). Static: measured on the uncompressed\n"
           "model in one pass (the sequential variant runs inside compress with a model provider).\n\n");
    cli_help(stdout, opts, n);
}

int cmd_calib(int argc, char **argv)
{
    char dbuf[4200];
    const char *cmd = "calib", *model = NULL, *taskname = NULL,
               *data = cli_root_path("models/zoo/data", dbuf, sizeof dbuf);
    const char *out = NULL;
    int64_t tokens = 8192, seq = 0, threads = 2; /* seq 0: min(128, context) */
    bool quiet = false;
    const cli_opt opts[] = {
        CLI_STR_OPT("model", &model, "DIR", "model directory", "required"),
        CLI_STR_OPT("task", &taskname, "T", "calibration text (training split)", "required"),
        CLI_STR_OPT("data", &data, "DIR", "corpus directory", "models/zoo/data"),
        CLI_INT_OPT("tokens", &tokens, 2, 10000000, "N", "calibration tokens, 2..10000000",
                    "8192"),
        CLI_INT_OPT("seq", &seq, 2, 65536, "T", "window length, 2..context",
                    "min(128, context)"),
        CLI_STR_OPT("out", &out, "FILE", "output safetensors file", "required"),
        CLI_INT_OPT("threads", &threads, 1, 256, "N", "threads, 1..256", "2"),
        CLI_FLAG_OPT("quiet", 'q', &quiet, "no 'wrote FILE' line"),
    };
    int rc = cli_parse(cmd, argc, argv, opts, CLI_NOPTS(opts), NULL);
    if (rc == CLI_HELP)
        return usage(opts, CLI_NOPTS(opts)), DB_EXIT_OK;
    if (rc)
        return rc;
    if (!model || !taskname || !out)
        return cli_usage(cmd, "--model, --task and --out are required");
    if (seq && tokens < seq)
        return cli_usage(cmd, "--tokens %" PRId64 " is shorter than one window (--seq %" PRId64 ")",
                         tokens, seq);
    tf_set_threads((int)threads);
    db_status s = calib_model_write(model, taskname, data, tokens, (int)seq, out);
    if (s)
        return cli_fail(cmd, s);
    if (!quiet)
        printf("wrote %s: Hessians of every linear tensor of %s over %" PRId64 " tokens of %s "
               "(whole windows)\n", out, model, tokens, taskname);
    return DB_EXIT_OK;
}
