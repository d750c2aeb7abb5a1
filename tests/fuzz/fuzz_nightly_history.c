/* fuzz_nightly_history.c: the nightly history file (HDF5, table "history") through
 * nt_history_load; a history that loads must pass nt_row_check on every row. Under libFuzzer a
 * persistent worker runs the check (tests/fuzz/h5worker.h) in place of the library's fork per
 * file; check_fuzz.c runs it in-process, through the library's guard. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/h5check.h"
#include "tests/fuzz/h5worker.h"

#include <hdf5.h>

#include "harness/nightly.h"

/* Loads path; a failure must be one line, every row of a history that loads must pass
 * nt_row_check; every HDF5 handle must be closed after. */
static void nightly_history_check(const char *path)
{
    nt_history h;
    memset(&h, 0, sizeof h);
    db_status s = nt_history_load(path, 0, &h);
    fz_check_error(s);
    if (!s) {
        for (size_t i = 0; i < h.n; i++)
            if (nt_row_check(&h.rows[i], "fuzz") != DB_OK)
                abort();
        (void)nt_history_last_run(&h);
    }
    nt_history_free(&h);
    FZ_CHECK_HDF5_CLOSED();
}

FZW_WORKER_FOR(nightly_history_check)

FUZZ_TARGET(nightly_history)
{
    char path[512];
    fzw_check(fz_file(path, sizeof path, "history.h5", data, size), nightly_history_check);
    return 0;
}
