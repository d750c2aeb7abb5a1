/* fuzz_nightly_metrics.c: a nightly run's metrics file (tab-separated lines) through
 * nt_metrics_parse, the input `nightly record` turns into history rows. */
#include "tests/fuzz/fuzz.h"

#include "core/alloc.h"
#include "harness/nightly.h"

FUZZ_TARGET(nightly_metrics)
{
    char path[512];
    fz_file(path, sizeof path, "metrics.tsv", data, size);
    nt_row *rows = NULL;
    size_t n = 0;
    db_status s = nt_metrics_parse(path, &rows, &n);
    fz_check_error(s);
    db_free(rows);
    return 0;
}
