/* cmd_synth.c: `deltabench synth`: a synthetic base / fine-tuned pair with real Llama tensor
 * names and shapes, for size accounting and benchmarks (streamed: a 13B pair needs little RAM). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "compressors/compressor.h"
#include "harness/cli.h"

#define CMD "synth"

static void usage(void)
{
    printf("usage: deltabench synth --shape S --out-base B --out-target T [options]\n\n"
           "Writes a base and a fine-tuned checkpoint (F16, HF Llama names and shapes). Base\n"
           "weights ~ N(0, 0.02^2), norms ~ 1 + N(0, 0.1^2); the delta is a heavy-tailed scale\n"
           "mixture with per-row and per-column factors (docs/compressors.md).\n\n"
           "shapes:");
    for (size_t i = 0; i < dc_synth_nshapes; i++)
        printf(" %s", dc_synth_shapes[i].name);
    printf("\n\noptions:\n"
           "  --shape S          one of the shapes above (required)\n"
           "  --seed S           generator seed, 0..2^63-1 (default 0)\n"
           "  --out-base B       base output .safetensors (required)\n"
           "  --out-target T     fine-tuned output .safetensors (required)\n"
           "  --delta-std X      delta standard deviation, (0, 1] (default 0.001)\n"
           "  --out-calib F      also write synthetic calibration Hessians for every linear\n"
           "                     tensor (for small shapes; see --calib of compress)\n"
           "  --calib-tokens N   tokens behind those Hessians, 1..1000000 (default 256)\n"
           "  -h, --help         this text\n");
}

int cmd_synth(int argc, char **argv)
{
    enum { O_SHAPE = 1000, O_SEED, O_BASE, O_TARGET, O_STD, O_CALIB, O_TOK };
    static const struct option opts[] = {
        {"shape", required_argument, 0, O_SHAPE},      {"seed", required_argument, 0, O_SEED},
        {"out-base", required_argument, 0, O_BASE},    {"out-target", required_argument, 0, O_TARGET},
        {"delta-std", required_argument, 0, O_STD},    {"out-calib", required_argument, 0, O_CALIB},
        {"calib-tokens", required_argument, 0, O_TOK}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *shape = NULL, *base = NULL, *target = NULL, *calib = NULL;
    int64_t seed = 0, tokens = 256;
    double std = 0.001;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(); return DB_EXIT_OK;
        case O_SHAPE: shape = optarg; break;
        case O_BASE: base = optarg; break;
        case O_TARGET: target = optarg; break;
        case O_CALIB: calib = optarg; break;
        case O_SEED:
            if (!cli_i64(CMD, "--seed", optarg, 0, INT64_MAX, &seed))
                return DB_EXIT_USAGE;
            break;
        case O_TOK:
            if (!cli_i64(CMD, "--calib-tokens", optarg, 1, 1000000, &tokens))
                return DB_EXIT_USAGE;
            break;
        case O_STD:
            if (!cli_f64(CMD, "--delta-std", optarg, 1e-30, 1.0, &std))
                return DB_EXIT_USAGE;
            break;
        default: return cli_usage(CMD, "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!shape || !base || !target)
        return cli_usage(CMD, "--shape, --out-base and --out-target are required");
    const dc_synth_shape *s = dc_synth_shape_find(shape);
    if (!s)
        return cli_usage(CMD, "unknown shape '%s'", shape);
    if (!strcmp(base, target))
        return cli_usage(CMD, "--out-base and --out-target are the same file");
    db_status st = dc_synth_write(s, (uint64_t)seed, std, base, target, calib, tokens, true);
    if (st)
        return cli_fail(CMD, st);
    printf("wrote %s and %s (%s, seed %lld)%s%s\n", base, target, s->name, (long long)seed,
           calib ? ", calibration " : "", calib ? calib : "");
    return DB_EXIT_OK;
}
