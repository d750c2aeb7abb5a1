/* cmd_synth.c: `deltabench synth`: a synthetic base / fine-tuned pair with real Llama tensor
 * names and shapes, for size accounting and benchmarks (streamed: a 13B pair needs little RAM). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compressors/compressor.h"
#include "core/alloc.h"
#include "core/fsutil.h"
#include "harness/cli.h"

#define CMD "synth"

static void usage(void)
{
    printf("usage: deltabench synth --shape S --out-base B --out-target T [options]\n"
           "       deltabench synth --zero-like DIR --out-dir Z\n\n"
           "Writes a base and a fine-tuned checkpoint (F16, HF Llama names and shapes). Base\n"
           "weights ~ N(0, 0.02^2), norms ~ 1 + N(0, 0.1^2); the delta is a heavy-tailed scale\n"
           "mixture with per-row and per-column factors (docs/compressors.md).\n\n"
           "shapes:");
    char names[256]; /* one line, space-separated: bd2.sh and dz5.sh read it */
    printf(" %s", llama_model_names(names, sizeof names, " "));
    printf("\n\noptions:\n"
           "  --shape S          one of the shapes above (required)\n"
           "  --seed S           generator seed, 0..2^63-1 (default 0)\n"
           "  --out-base B       base output .safetensors (required)\n"
           "  --out-target T     fine-tuned output .safetensors (required)\n"
           "  --delta-std X      delta standard deviation, (0, 1] (default 0.001)\n"
           "  --out-calib F      also write synthetic calibration Hessians for every linear\n"
           "                     tensor (for small shapes; see --calib of compress)\n"
           "  --calib-tokens N   tokens behind those Hessians, 1..1000000 (default 256)\n"
           "  --layers N         only the first N decoder layers (default: all); every layer\n"
           "                     is drawn from the same distribution and layer l's values do\n"
           "                     not depend on N, so size measurements scale by layers\n"
           "  --vocab V          vocabulary size instead of the shape's (embeddings and\n"
           "                     lm_head are stored fp16 by every method: a size-only run\n"
           "                     can make them small and count their bytes exactly)\n\n"
           "The second form writes model directory Z (config.json copied, model.safetensors)\n"
           "with the tensors of model directory DIR, every value zero: compressing a model\n"
           "against it compresses the whole model instead of its delta.\n\n"
           "  --zero-like DIR    model directory to copy names, dtypes and shapes from\n"
           "  --out-dir Z        output directory (created; must not hold model.safetensors)\n"
           "  -h, --help         this text\n");
}

/* The all-zero twin of model directory `like` in `dir` (config.json copied). */
static int zero_like(const char *like, const char *dir)
{
    char src[4096], dst[4096];
    if (mkdir(dir, 0777) && errno != EEXIST)
        return cli_fail(CMD, db_error(DB_ERR_IO, "%s: cannot create directory: %s", dir,
                                      strerror(errno)));
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    if (!access(dst, F_OK))
        return cli_fail(CMD, db_error(DB_ERR_ARG, "%s exists: refusing to overwrite", dst));
    snprintf(src, sizeof src, "%s/config.json", like);
    char *cfg = NULL;
    size_t len = 0;
    db_status st = fs_read_all(src, &cfg, &len);
    if (!st) {
        snprintf(dst, sizeof dst, "%s/config.json", dir);
        fs_out o;
        st = fs_out_open(&o, dst);
        if (!st) {
            fwrite(cfg, 1, len, o.fp); /* a short write sets the error flag the commit checks */
            st = fs_out_commit(&o);
        }
    }
    db_free(cfg);
    if (!st) {
        snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
        st = dc_synth_zero_like(like, dst);
    }
    if (st)
        return cli_fail(CMD, st);
    printf("wrote %s: the tensors of %s, every value zero\n", dir, like);
    return DB_EXIT_OK;
}

int cmd_synth(int argc, char **argv)
{
    enum { O_SHAPE = 1000, O_SEED, O_BASE, O_TARGET, O_STD, O_CALIB, O_TOK, O_LAYERS, O_ZERO, O_DIR, O_VOCAB };
    static const struct option opts[] = {
        {"shape", required_argument, 0, O_SHAPE},      {"seed", required_argument, 0, O_SEED},
        {"out-base", required_argument, 0, O_BASE},    {"out-target", required_argument, 0, O_TARGET},
        {"delta-std", required_argument, 0, O_STD},    {"out-calib", required_argument, 0, O_CALIB},
        {"calib-tokens", required_argument, 0, O_TOK}, {"layers", required_argument, 0, O_LAYERS},
        {"vocab", required_argument, 0, O_VOCAB},
        {"zero-like", required_argument, 0, O_ZERO},   {"out-dir", required_argument, 0, O_DIR},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *shape = NULL, *base = NULL, *target = NULL, *calib = NULL, *like = NULL,
               *dir = NULL;
    int64_t seed = 0, tokens = 256, layers = 0, vocab = 0;
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
        case O_ZERO: like = optarg; break;
        case O_DIR: dir = optarg; break;
        case O_VOCAB:
            if (!cli_i64(CMD, "--vocab", optarg, 1, 1 << 20, &vocab))
                return DB_EXIT_USAGE;
            break;
        case O_LAYERS:
            if (!cli_i64(CMD, "--layers", optarg, 1, 1000, &layers))
                return DB_EXIT_USAGE;
            break;
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
    if (like || dir) {
        if (!like || !dir)
            return cli_usage(CMD, "--zero-like and --out-dir go together");
        if (shape || base || target || calib || layers || vocab)
            return cli_usage(CMD, "--zero-like takes no --shape, --out-base, --out-target, "
                             "--out-calib, --layers or --vocab");
        return zero_like(like, dir);
    }
    if (!shape || !base || !target)
        return cli_usage(CMD, "--shape, --out-base and --out-target are required");
    const llama_model *found = llama_model_find(shape);
    char names[256];
    if (!found)
        return cli_usage(CMD, "--shape: unknown model '%s' (one of: %s)", shape,
                         llama_model_names(names, sizeof names, ", "));
    llama_model trunc = *found;
    if (layers > found->L)
        return cli_usage(CMD, "--layers %lld: %s has %lld layers", (long long)layers, shape,
                         (long long)found->L);
    if (layers)
        trunc.L = layers;
    if (vocab)
        trunc.V = vocab;
    const llama_model *s = &trunc;
    if (!strcmp(base, target))
        return cli_usage(CMD, "--out-base and --out-target are the same file");
    db_status st = dc_synth_write(s, (uint64_t)seed, std, base, target, calib, tokens, true);
    if (st)
        return cli_fail(CMD, st);
    printf("wrote %s and %s (%s, %lld of %lld layers, vocab %lld of %lld, seed %lld)%s%s\n", base,
           target, s->name, (long long)s->L, (long long)found->L, (long long)s->V,
           (long long)found->V, (long long)seed,
           calib ? ", calibration " : "", calib ? calib : "");
    return DB_EXIT_OK;
}
