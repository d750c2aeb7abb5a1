/* cmd_decompress.c: `deltabench decompress`: base + compressed delta -> a full fine-tuned
 * checkpoint (safetensors, the base's tensor names and dtypes). Refuses a delta made for
 * another base (model hash). */
#include <stdio.h>

#include "compressors/compressor.h"
#include "harness/cli.h"

#define CMD "decompress"

static void usage(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench decompress --base B --delta D --out T.safetensors [options]\n\n"
           "Rebuilds the fine-tuned model: every linear projection as base + decoded delta\n"
           "(rounded once to the base's dtype), every other tensor from the values stored in D.\n"
           "D must have been made for B (its base hash is checked).\n\n");
    cli_help(stdout, opts, n);
}

int cmd_decompress(int argc, char **argv)
{
    const char *base = NULL, *delta = NULL, *out = NULL;
    bool quiet = false;
    const cli_opt opts[] = {
        CLI_STR_OPT("base", &base, "B", "base checkpoint (.safetensors, index.json or directory)",
                    "required"),
        CLI_STR_OPT("delta", &delta, "D", "compressed delta written by 'deltabench compress'",
                    "required"),
        CLI_STR_OPT("out", &out, "T", "output .safetensors (written atomically)", "required"),
        CLI_FLAG_OPT("quiet", 'q', &quiet, "no 'wrote T' line"),
    };
    int rc = cli_parse(CMD, argc, argv, opts, CLI_NOPTS(opts), NULL);
    if (rc == CLI_HELP)
        return usage(opts, CLI_NOPTS(opts)), DB_EXIT_OK;
    if (rc)
        return rc;
    if (!base || !delta || !out)
        return cli_usage(CMD, "--base, --delta and --out are required");
    db_status s = dc_decompress_model(base, delta, out, !quiet);
    if (s)
        return cli_fail(CMD, s);
    if (!quiet)
        printf("wrote %s\n", out);
    return DB_EXIT_OK;
}
