/* fuzz_trace_h5.c: an HDF5 trace given as input (table "requests") through trace_read, which
 * detects HDF5 by its signature and reads it with trace_h5_read. */
#include "tests/fuzz/fuzz.h"

#include <hdf5.h>

#include "workloads/trace.h"

FUZZ_TARGET(trace_h5)
{
    char path[512];
    fz_file(path, sizeof path, "trace.h5", data, size);
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
    return 0;
}
