/* cmd_export.c: `deltabench export FILE.h5 TABLE`: one table of a result file as CSV on
 * stdout, for gnuplot and spreadsheets. */
#include <stdio.h>

#include "harness/cli.h"
#include "core/results.h"

static void usage(void)
{
    printf("usage: deltabench export [options] FILE.h5 TABLE\n\n"
           "Prints table TABLE of the HDF5 result FILE.h5 on stdout: a header line with the\n"
           "column names, then one line per row (RFC 4180 CSV; strings quoted when needed).\n"
           "`deltabench inspect FILE.h5` lists the tables.\n\n");
    cli_help(stdout, NULL, 0);
}

int cmd_export(int argc, char **argv)
{
    int argi = 0;
    int rc = cli_parse("export", argc, argv, NULL, 0, &argi);
    if (rc == CLI_HELP)
        return usage(), DB_EXIT_OK;
    if (rc)
        return rc;
    if (argc - argi != 2)
        return cli_usage("export", "expected FILE.h5 and TABLE, got %d argument%s", argc - argi,
                         argc - argi == 1 ? "" : "s");
    const char *path = argv[argi], *table = argv[argi + 1];
    db_status s = res_export_csv(path, table, stdout);
    if (s != DB_OK)
        return cli_fail("export", s);
    if (fflush(stdout) != 0)
        return cli_fail("export", db_error(DB_ERR_IO, "stdout: write error"));
    return DB_EXIT_OK;
}
