/* fuzz_nightly_history.c: the nightly history file (HDF5, table "history") through
 * nt_history_load; a history that loads must pass nt_row_check on every row. */
#include "tests/fuzz/fuzz.h"

#include <hdf5.h>

#include "harness/nightly.h"

FUZZ_TARGET(nightly_history)
{
    char path[512];
    fz_file(path, sizeof path, "history.h5", data, size);
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
    return 0;
}
