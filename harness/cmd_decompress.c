/* cmd_decompress.c: `deltabench decompress`: base + compressed delta -> the fine-tuned model.
 * With a base that has a config.json (a model directory, or a file beside one) it writes a
 * model directory OUT/ (model.safetensors + that config.json) that `eval --model` and Hugging
 * Face loaders read directly; otherwise, or when OUT ends in .safetensors, the checkpoint file
 * alone (safetensors, the base's tensor names and dtypes). Refuses a delta made for another
 * base (model hash). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compressors/compressor.h"
#include "core/alloc.h"
#include "core/fsutil.h"
#include "harness/cli.h"

#define CMD "decompress"

static void usage(const cli_opt *opts, size_t n)
{
    printf("usage: deltabench decompress --base B --delta D --out OUT [options]\n\n"
           "Rebuilds the fine-tuned model: every linear projection as base + decoded delta\n"
           "(rounded once to the base's dtype), every other tensor from the values stored in D.\n"
           "D must have been made for B (its base hash is checked).\n\n"
           "When B has a config.json (B is a model directory, or a file beside one), OUT is a\n"
           "model directory: OUT/model.safetensors and OUT/config.json, which `deltabench eval\n"
           "--model OUT` and Hugging Face loaders read as they are. Otherwise, or when OUT ends\n"
           "in .safetensors, OUT is the checkpoint file alone.\n\n");
    cli_help(stdout, opts, n);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* The config.json of base B (its directory's, or the one beside the file) into buf; false when
 * there is none. */
static bool base_config(const char *base, char *buf, size_t n)
{
    struct stat st;
    if (stat(base, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(buf, n, "%s/config.json", base);
    } else {
        const char *slash = strrchr(base, '/');
        if (slash)
            snprintf(buf, n, "%.*s/config.json", (int)(slash - base), base);
        else
            snprintf(buf, n, "config.json");
    }
    return access(buf, R_OK) == 0;
}

static db_status copy_file(const char *from, const char *to)
{
    char *text;
    size_t len;
    db_status s = fs_read_all(from, &text, &len);
    if (s != DB_OK)
        return s;
    fs_out o;
    if ((s = fs_out_open(&o, to)) == DB_OK) {
        if (fwrite(text, 1, len, o.fp) != len) {
            fs_out_abort(&o);
            s = db_error(DB_ERR_IO, "%s: write error", to);
        } else {
            s = fs_out_commit(&o);
        }
    }
    db_free(text);
    return s;
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
        CLI_STR_OPT("out", &out, "OUT",
                    "output model directory, or checkpoint file (see above; written\n"
                    "atomically)", "required"),
        CLI_FLAG_OPT("quiet", 'q', &quiet, "no 'wrote OUT' line"),
    };
    int rc = cli_parse(CMD, argc, argv, opts, CLI_NOPTS(opts), NULL);
    if (rc == CLI_HELP)
        return usage(opts, CLI_NOPTS(opts)), DB_EXIT_OK;
    if (rc)
        return rc;
    if (!base || !delta || !out)
        return cli_usage(CMD, "--base, --delta and --out are required");
    char config[4200], model[4200], out_config[4200];
    bool as_dir = !ends_with(out, ".safetensors") && base_config(base, config, sizeof config);
    const char *file = out;
    if (as_dir) {
        if (mkdir(out, 0777) != 0 && errno != EEXIST)
            return cli_fail(CMD, db_error(DB_ERR_IO, "%s: cannot create the directory: %s", out,
                                          strerror(errno)));
        snprintf(model, sizeof model, "%s/model.safetensors", out);
        snprintf(out_config, sizeof out_config, "%s/config.json", out);
        file = model;
    }
    db_status s = dc_decompress_model(base, delta, file, !quiet);
    if (s == DB_OK && as_dir)
        s = copy_file(config, out_config);
    if (s)
        return cli_fail(CMD, s);
    if (!quiet)
        printf("wrote %s%s\n", out, as_dir ? " (model.safetensors, config.json)" : "");
    return DB_EXIT_OK;
}
