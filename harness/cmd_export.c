/* cmd_export.c: `deltabench export FILE.h5 TABLE [--csv]`: one table of a result file as CSV on
 * stdout, for gnuplot and spreadsheets. */
#include <getopt.h>
#include <stdio.h>

#include "harness/cli.h"
#include "core/results.h"

static void usage(void)
{
    printf("usage: deltabench export [--help] [--csv] FILE.h5 TABLE\n\n"
           "Prints table TABLE of the HDF5 result FILE.h5 on stdout: a header line with the\n"
           "column names, then one line per row (RFC 4180 CSV; strings quoted when needed).\n"
           "`deltabench inspect FILE.h5` lists the tables.\n\n"
           "options:\n"
           "  --csv        CSV output (the default and only format)\n"
           "  -h, --help   this text\n");
}

int cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, 0, 'h'}, {"csv", no_argument, 0, 'c'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage();
            return DB_EXIT_OK;
        case 'c':
            break;
        default:
            return cli_usage("export", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return cli_usage("export", "expected FILE.h5 and TABLE, got %d argument%s", argc - optind,
                         argc - optind == 1 ? "" : "s");
    const char *path = argv[optind], *table = argv[optind + 1];
    db_status s = res_export_csv(path, table, stdout);
    if (s != DB_OK)
        return cli_fail("export", s);
    if (fflush(stdout) != 0)
        return cli_fail("export", db_error(DB_ERR_IO, "stdout: write error"));
    return DB_EXIT_OK;
}
