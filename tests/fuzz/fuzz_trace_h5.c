/* fuzz_trace_h5.c: an HDF5 trace given as input (table "requests") through trace_read, which
 * detects HDF5 by its signature and reads it with trace_h5_read. Under libFuzzer a persistent
 * worker runs the check (tests/fuzz/h5worker.h) in place of the library's fork per file;
 * check_fuzz.c runs it in-process, through the library's guard. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/h5check.h"
#include "tests/fuzz/h5worker.h"

#include <hdf5.h>

#include "workloads/trace.h"

/* Reads path; a failure must be one line, a trace that reads must be sorted; every HDF5 handle
 * must be closed after. */
static void trace_h5_check(const char *path)
{
    trace_table t;
    memset(&t, 0, sizeof t);
    db_status s = trace_read(path, &t);
    fz_check_error(s);
    if (!s) {
        for (size_t i = 1; i < t.n; i++)
            if (t.req[i].arrival_s < t.req[i - 1].arrival_s)
                abort();
        trace_table_free(&t);
    }
    FZ_CHECK_HDF5_CLOSED();
}

FZW_WORKER_FOR(trace_h5_check)

FUZZ_TARGET(trace_h5)
{
    char path[512];
    fzw_check(fz_file(path, sizeof path, "trace.h5", data, size), trace_h5_check);
    return 0;
}
