/* fuzz_trace_h5_table.c: an HDF5 trace that libhdf5 itself wrote from the input's recipe
 * (tests/fuzz/h5table.h): a table of any name, class, rank, columns, column types and values.
 * trace_read runs in-process (no forked guard: the file is well-formed), so every input reaches
 * the reader's own checks. A trace that reads must be the table the recipe built (the readable
 * kind, every row), sorted, with values in range. fuzz_trace_h5.c keeps the byte-level
 * corruption of the file itself. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/h5check.h"
#include "tests/fuzz/h5table.h"

#include "workloads/trace.h"

FUZZ_TARGET(trace_h5_table)
{
    static const char *const cols[] = {"request_id", "arrival_s", "model", "prompt_tokens",
                                       "output_tokens"};
    char path[512];
    snprintf(path, sizeof path, "%s/table.h5", fz_dir());
    fzt_init();
    fzt_built b;
    if (!fzt_build(path, "requests", cols, 5, data, size, &b))
        return 0;
    res_read_guard(0);
    trace_table t;
    memset(&t, 0, sizeof t);
    db_status s = trace_read(path, &t);
    res_read_guard(1);
    fz_check_error(s);
    if (!s) {
        if (!b.readable || t.n != b.nrows) {
            fprintf(stderr, "fuzz: read %zu rows from a table of %zu (readable %d)\n", t.n,
                    b.nrows, (int)b.readable);
            abort();
        }
        for (size_t i = 0; i < t.n; i++) {
            const trace_req *r = &t.req[i];
            if (!(r->arrival_s >= 0 && r->arrival_s <= TRACE_ARRIVAL_MAX) || r->request_id < 0 ||
                r->model < 0 || r->prompt_tokens < 0 || r->output_tokens < 0 ||
                (i && r->arrival_s < t.req[i - 1].arrival_s))
                abort();
        }
        trace_table_free(&t);
    }
    FZ_CHECK_HDF5_CLOSED();
    return 0;
}
