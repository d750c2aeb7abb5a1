/* cmd_synth.c: `deltabench synth`: a synthetic base / fine-tuned pair with real Llama tensor
 * names and shapes, for size accounting and benchmarks (streamed: a 13B pair needs little RAM). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compressors/compressor.h"
#include "core/alloc.h"
#include "core/fsutil.h"
#include "harness/cli.h"

#define CMD "synth"

static void usage(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench synth --shape S --out-base B --out-target T [options]\n"
           "       deltabench synth --zero-like DIR --out-dir Z\n\n"
           "Writes a base and a fine-tuned checkpoint (F16, HF Llama names and shapes). Base\n"
           "weights ~ N(0, 0.02^2), norms ~ 1 + N(0, 0.1^2); the delta is a heavy-tailed scale\n"
           "mixture with per-row and per-column factors: delta-std * a_r * b_c * lambda * g,\n"
           "g ~ N(0, 1), lambda = exp(tail-sigma z) with E[lambda^2] = 1, a_r = exp(row-sigma z_r),\n"
           "b_c = exp(col-sigma z_c) (docs/compressors.md; `deltabench stats` measures a pair).\n\n"
           "The second form writes model directory Z (config.json copied, model.safetensors)\n"
           "with the tensors of model directory DIR, every value zero: compressing a model\n"
           "against it compresses the whole model instead of its delta.\n\n"
           "shapes: ");
    char names[256];
    printf("%s (core/llama_names.c)\n\n", llama_model_names(names, sizeof names, " "));
    cli_help(stdout, opts, n);
}

/* The all-zero twin of model directory `like` in `dir` (config.json copied). */
static int zero_like(const char *like, const char *dir, bool quiet)
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
    if (!quiet)
        printf("wrote %s: the tensors of %s, every value zero\n", dir, like);
    return DB_EXIT_OK;
}

int cmd_synth(int argc, char **argv)
{
    const char *cmd = CMD, *shape = NULL, *base = NULL, *target = NULL, *calib = NULL,
               *like = NULL, *dir = NULL;
    int64_t seed = 0, tokens = 256, layers = 0, vocab = 0, hidden = 0, ffn = 0;
    dc_synth_params sp = DC_SYNTH_DEFAULTS;
    bool quiet = false;
    const cli_opt opts[] = {
        CLI_STR_OPT("shape", &shape, "S", "one of the shapes above", "required"),
        CLI_INT_OPT("seed", &seed, 0, INT64_MAX, "S", "generator seed, 0..2^63-1", "0"),
        CLI_STR_OPT("out-base", &base, "B", "base output .safetensors", "required"),
        CLI_STR_OPT("out-target", &target, "T", "fine-tuned output .safetensors", "required"),
        CLI_REAL_OPT("delta-std", &sp.delta_std, 1e-30, 1.0, "X",
                     "delta standard deviation, (0, 1]", "0.001"),
        CLI_REAL_OPT("tail-sigma", &sp.tail_sigma, 0, 3, "X",
                     "sigma of the delta's lognormal scale mixture (its\n"
                     "heavy tails; 0: none), [0, 3]", "0.6"),
        CLI_REAL_OPT("row-sigma", &sp.row_sigma, 0, 3, "X",
                     "sigma of the per-row lognormal scale, [0, 3]", "0.3"),
        CLI_REAL_OPT("col-sigma", &sp.col_sigma, 0, 3, "X",
                     "sigma of the per-column lognormal scale, [0, 3]", "0.3"),
        CLI_STR_OPT("out-calib", &calib, "F",
                    "also write synthetic calibration Hessians for every linear\n"
                    "tensor (for small shapes; see --hessians of compress)", "none"),
        CLI_INT_OPT("calib-tokens", &tokens, 1, 1000000, "N",
                    "tokens behind those Hessians, 1..1000000", "256"),
        CLI_INT_OPT("layers", &layers, 1, 1000, "N",
                    "only the first N decoder layers; every layer is drawn\n"
                    "from the same distribution and layer l's values do not\n"
                    "depend on N, so size measurements scale by layers", "all"),
        CLI_INT_OPT("vocab", &vocab, 1, 1 << 20, "V",
                    "vocabulary size instead of the shape's (embeddings and\n"
                    "lm_head are stored fp16 by every method: a size-only run\n"
                    "can make them small and count their bytes exactly)", "the shape's"),
        CLI_INT_OPT("hidden", &hidden, 1, 1 << 20, "C",
                    "hidden size instead of the shape's (a multiple of its\n"
                    "head count): a pair the size of a small model", "the shape's"),
        CLI_INT_OPT("ffn", &ffn, 1, 1 << 22, "F", "intermediate size instead of the shape's",
                    "the shape's"),
        CLI_SECTION("the second form"),
        CLI_STR_OPT("zero-like", &like, "DIR",
                    "model directory to copy names, dtypes and shapes from", "required"),
        CLI_STR_OPT("out-dir", &dir, "Z",
                    "output directory (created; must not hold model.safetensors)", "required"),
        CLI_FLAG_OPT("quiet", 'q', &quiet, "no 'wrote' line"),
    };
    int rc = cli_parse(cmd, argc, argv, opts, CLI_NOPTS(opts), NULL);
    if (rc == CLI_HELP)
        return usage(opts, CLI_NOPTS(opts)), DB_EXIT_OK;
    if (rc)
        return rc;
    if (like || dir) {
        if (!like || !dir)
            return cli_usage(cmd, "--zero-like and --out-dir go together");
        if (shape || base || target || calib || layers || vocab || hidden || ffn)
            return cli_usage(cmd, "--zero-like takes no --shape, --out-base, --out-target, "
                             "--out-calib, --layers, --vocab, --hidden or --ffn");
        return zero_like(like, dir, quiet);
    }
    if (!shape || !base || !target)
        return cli_usage(cmd, "--shape, --out-base and --out-target are required");
    const llama_model *found = llama_model_find(shape);
    char names[256];
    if (!found)
        return cli_usage(cmd, "--shape: unknown model '%s' (one of: %s)", shape,
                         llama_model_names(names, sizeof names, ", "));
    llama_model trunc = *found;
    if (layers > found->L)
        return cli_usage(cmd, "--layers %lld: %s has %lld layers", (long long)layers, shape,
                         (long long)found->L);
    if (layers)
        trunc.L = layers;
    if (vocab)
        trunc.V = vocab;
    if (hidden && hidden % found->NH)
        return cli_usage(cmd, "--hidden %lld: not a multiple of %s's %lld heads", (long long)hidden,
                         shape, (long long)found->NH);
    if (hidden)
        trunc.C = hidden;
    if (ffn)
        trunc.F = ffn;
    const llama_model *s = &trunc;
    if (!strcmp(base, target))
        return cli_usage(cmd, "--out-base and --out-target are the same file");
    db_status st = dc_synth_write(s, (uint64_t)seed, &sp, base, target, calib, tokens, !quiet);
    if (st)
        return cli_fail(CMD, st);
    if (!quiet)
        printf("wrote %s and %s (%s, %lld of %lld layers, vocab %lld of %lld, seed %lld)%s%s\n",
               base, target, s->name, (long long)s->L, (long long)found->L, (long long)s->V,
               (long long)found->V, (long long)seed, calib ? ", calibration " : "",
               calib ? calib : "");
    return DB_EXIT_OK;
}
