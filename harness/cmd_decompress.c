/* cmd_decompress.c: `deltabench decompress`: base + compressed delta -> a full fine-tuned
 * checkpoint (safetensors, the base's tensor names and dtypes). Refuses a delta made for
 * another base (model hash). */
#include <getopt.h>
#include <stdio.h>

#include "compressors/compressor.h"
#include "harness/cli.h"

#define CMD "decompress"

static void usage(void)
{
    printf("usage: deltabench decompress --base B --delta D --out T.safetensors\n\n"
           "Rebuilds the fine-tuned model: every linear projection as base + decoded delta\n"
           "(rounded once to the base's dtype), every other tensor from the values stored in D.\n"
           "D must have been made for B (its base hash is checked).\n\n"
           "options:\n"
           "  --base B     base checkpoint (.safetensors, index.json or directory)\n"
           "  --delta D    compressed delta written by 'deltabench compress'\n"
           "  --out T      output .safetensors (written atomically)\n"
           "  -h, --help   this text\n");
}

int cmd_decompress(int argc, char **argv)
{
    static const struct option opts[] = {{"base", required_argument, 0, 'b'},
                                         {"delta", required_argument, 0, 'd'},
                                         {"out", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *base = NULL, *delta = NULL, *out = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': usage(); return DB_EXIT_OK;
        case 'b': base = optarg; break;
        case 'd': delta = optarg; break;
        case 'o': out = optarg; break;
        default: return cli_usage(CMD, "unknown option or missing value: '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage(CMD, "unexpected argument '%s'", argv[optind]);
    if (!base || !delta || !out)
        return cli_usage(CMD, "--base, --delta and --out are required");
    db_status s = dc_decompress_model(base, delta, out, true);
    if (s)
        return cli_fail(CMD, s);
    printf("wrote %s\n", out);
    return DB_EXIT_OK;
}
