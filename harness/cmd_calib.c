/* cmd_calib.c: `deltabench calib`: measures the Hessian proxies H = 2/n·XᵀX of every linear layer
 * of a model on a task's text and writes the static calibration file that
 * `deltabench compress --calib FILE` reads (compressors/compressor.h, dc_calib_file_open). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "harness/cli.h"
#include "models/calib_model.h"
#include "models/tf.h"

static void usage(void)
{
    printf("usage: deltabench calib --model DIR --task T --out FILE [options]\n\n"
           "Runs model DIR (normally the fine-tune) on --tokens tokens of task T and writes, for\n"
           "every linear tensor W [N, K], the F32 [K, K] tensor \"<name>.hessian\" = 2/n X^T X of\n"
           "its inputs, plus a `tokens` metadata entry (n). Static: measured on the uncompressed\n"
           "model in one pass (the sequential variant runs inside compress with a model provider).\n\n"
           "options:\n"
           "  --model DIR     model directory, required\n"
           "  --task T        calibration text (training split), required\n"
           "  --data DIR      corpus directory (default models/zoo/data)\n"
           "  --tokens N      calibration tokens, 2..10000000 (default 8192)\n"
           "  --seq T         window length (default min(128, context), 2..context)\n"
           "  --out FILE      output safetensors file, required\n"
           "  --threads N     threads (default 2, 1..256)\n"
           "  -h, --help      this text\n");
}

int cmd_calib(int argc, char **argv)
{
    enum { O_MODEL = 256, O_TASK, O_DATA, O_TOKENS, O_SEQ, O_OUT, O_THREADS };
    static const struct option opts[] = {
        {"model", 1, 0, O_MODEL}, {"task", 1, 0, O_TASK}, {"data", 1, 0, O_DATA},
        {"tokens", 1, 0, O_TOKENS}, {"seq", 1, 0, O_SEQ}, {"out", 1, 0, O_OUT},
        {"threads", 1, 0, O_THREADS}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "calib", *model = NULL, *taskname = NULL, *data = "models/zoo/data";
    const char *out = NULL;
    int64_t tokens = 8192, seq = 0, threads = 2; /* seq 0: min(128, context) */
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        const char *on = optind > 0 && optind <= argc ? argv[optind - 1] : "option";
        switch (c) {
        case 'h': usage(); return DB_EXIT_OK;
        case O_MODEL: model = optarg; break;
        case O_TASK: taskname = optarg; break;
        case O_DATA: data = optarg; break;
        case O_TOKENS: if (!cli_i64(cmd, "--tokens", optarg, 2, 10000000, &tokens)) return DB_EXIT_USAGE; break;
        case O_SEQ: if (!cli_i64(cmd, "--seq", optarg, 2, 65536, &seq)) return DB_EXIT_USAGE; break;
        case O_OUT: out = optarg; break;
        case O_THREADS: if (!cli_i64(cmd, "--threads", optarg, 1, 256, &threads)) return DB_EXIT_USAGE; break;
        default: return cli_usage(cmd, "unknown or incomplete option '%s'", on);
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!model || !taskname || !out)
        return cli_usage(cmd, "--model, --task and --out are required");
    if (seq && tokens < seq)
        return cli_usage(cmd, "--tokens %" PRId64 " is shorter than one window (--seq %" PRId64 ")",
                         tokens, seq);
    tf_set_threads((int)threads);
    db_status s = calib_model_write(model, taskname, data, tokens, (int)seq, out);
    if (s)
        return cli_fail(cmd, s);
    printf("wrote %s: Hessians of every linear tensor of %s over %" PRId64 " tokens of %s "
           "(whole windows)\n", out, model, tokens, taskname);
    return DB_EXIT_OK;
}
