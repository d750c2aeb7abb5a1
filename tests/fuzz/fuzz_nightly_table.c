/* fuzz_nightly_table.c: a nightly history that libhdf5 itself wrote from the input's recipe
 * (tests/fuzz/h5table.h): a `history` table of any name, class, rank, columns, column types
 * (fixed and variable-length strings, integers and floats of each width and byte order) and
 * values. nt_history_load runs in-process (no forked guard: the file is well-formed), so every
 * input reaches the loader's own checks. A history that loads must be the table the recipe built
 * (every row), each row passing nt_row_check, runs in order. fuzz_nightly_history.c keeps the
 * byte-level corruption of the file itself. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/h5check.h"
#include "tests/fuzz/h5table.h"

#include "harness/nightly.h"

FUZZ_TARGET(nightly_table)
{
    static const char *const cols[] = {"run",    "date",      "commit", "machine",
                                       "metric", "value",     "unit",   "direction",
                                       "kind",   "repeats",   "spread", "source"};
    char path[512];
    snprintf(path, sizeof path, "%s/history.h5", fz_dir());
    fzt_init();
    fzt_built b;
    if (!fzt_build(path, "history", cols, 12, data, size, &b))
        return 0;
    res_read_guard(0);
    nt_history h;
    memset(&h, 0, sizeof h);
    db_status s = nt_history_load(path, 0, &h);
    res_read_guard(1);
    fz_check_error(s);
    if (!s) {
        if (!b.readable || h.n != b.nrows) {
            fprintf(stderr, "fuzz: loaded %zu rows from a table of %zu (readable %d)\n", h.n,
                    b.nrows, (int)b.readable);
            abort();
        }
        for (size_t i = 0; i < h.n; i++)
            if (nt_row_check(&h.rows[i], "fuzz") != DB_OK || (i && h.rows[i].run < h.rows[i - 1].run))
                abort();
    }
    nt_history_free(&h);
    FZ_CHECK_HDF5_CLOSED();
    return 0;
}
