/* trace_h5.c: reads the `requests` table of an HDF5 trace (written by trace_writer through
 * core/results.h, or by anyone else: h5py, pandas/PyTables).
 *
 * The memory type names the five columns and HDF5 converts member by member by name, so the
 * file's column order, integer widths and extra columns do not matter. Rows are read in blocks
 * to keep the peak memory near the size of the result. The checks are those of the CSV reader;
 * messages name the file and the 1-based row. */
#include <stddef.h>
#include <string.h>

#include <hdf5.h>

#include "core/alloc.h"
#include "core/results.h"
#include "workloads/trace.h"

enum { H5_BLOCK_ROWS = 1 << 16 };

typedef struct {
    int64_t request_id;
    double arrival_s;
    int64_t model;
    int64_t prompt_tokens;
    int64_t output_tokens;
} h5_row;

static const char *const h5_cols[5] = {"request_id", "arrival_s", "model", "prompt_tokens",
                                       "output_tokens"};

static db_status check_row(const char *path, size_t i, const h5_row *r, double last)
{
    const char *what = NULL;
    if (r->request_id < 0)
        what = "negative request_id";
    else if (!(r->arrival_s >= 0))
        what = "negative or non-finite arrival_s";
    else if (r->arrival_s > TRACE_ARRIVAL_MAX)
        what = "arrival_s beyond 1e12 s";
    else if (i > 0 && r->arrival_s < last)
        what = "arrival_s earlier than the previous row's (a trace must be sorted by arrival)";
    else if (r->model < 0 || r->model > INT32_MAX)
        what = "model outside [0, 2^31-1]";
    else if (r->prompt_tokens < 0 || r->prompt_tokens > INT32_MAX)
        what = "prompt_tokens outside [0, 2^31-1]";
    else if (r->output_tokens < 0 || r->output_tokens > INT32_MAX)
        what = "output_tokens outside [0, 2^31-1]";
    if (what)
        return db_error(DB_ERR_FORMAT, "%s: table requests, row %zu: %s", path, i + 1, what);
    return DB_OK;
}

static db_status read_direct(const char *path, trace_table *out)
{
    memset(out, 0, sizeof *out);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = -1, d = -1, ft = -1, mt = -1, fsp = -1, msp = -1;
    h5_row *rows = NULL;
    trace_req *req = NULL;
    db_status s = DB_OK;

    if ((f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
        s = db_error(DB_ERR_HDF5, "%s: cannot open as an HDF5 file", path);
        goto done;
    }
    if (H5Lexists(f, "requests", H5P_DEFAULT) <= 0) {
        s = db_error(DB_ERR_FORMAT, "%s: no table 'requests' (not a trace)", path);
        goto done;
    }
    if ((d = H5Dopen2(f, "requests", H5P_DEFAULT)) < 0 || (ft = H5Dget_type(d)) < 0 ||
        (fsp = H5Dget_space(d)) < 0) {
        s = db_error(DB_ERR_HDF5, "%s: cannot open the table 'requests'", path);
        goto done;
    }
    if (H5Tget_class(ft) != H5T_COMPOUND || H5Sget_simple_extent_ndims(fsp) != 1) {
        s = db_error(DB_ERR_FORMAT, "%s: 'requests' is not a 1-D table", path);
        goto done;
    }
    for (int c = 0; c < 5; c++)
        if (H5Tget_member_index(ft, h5_cols[c]) < 0) {
            s = db_error(DB_ERR_FORMAT, "%s: table 'requests' has no column '%s'", path,
                         h5_cols[c]);
            goto done;
        }
    hsize_t dims[1];
    if (H5Sget_simple_extent_dims(fsp, dims, NULL) != 1) {
        s = db_error(DB_ERR_HDF5, "%s: cannot read the size of 'requests'", path);
        goto done;
    }
    size_t n = (size_t)dims[0];
    if (n == 0) {
        s = db_error(DB_ERR_FORMAT, "%s: table 'requests' has no rows", path);
        goto done;
    }
    if ((mt = H5Tcreate(H5T_COMPOUND, sizeof(h5_row))) < 0 ||
        H5Tinsert(mt, "request_id", offsetof(h5_row, request_id), H5T_NATIVE_INT64) < 0 ||
        H5Tinsert(mt, "arrival_s", offsetof(h5_row, arrival_s), H5T_NATIVE_DOUBLE) < 0 ||
        H5Tinsert(mt, "model", offsetof(h5_row, model), H5T_NATIVE_INT64) < 0 ||
        H5Tinsert(mt, "prompt_tokens", offsetof(h5_row, prompt_tokens), H5T_NATIVE_INT64) < 0 ||
        H5Tinsert(mt, "output_tokens", offsetof(h5_row, output_tokens), H5T_NATIVE_INT64) < 0) {
        s = db_error(DB_ERR_HDF5, "%s: cannot build the row type", path);
        goto done;
    }
    /* a tiny file can declare any number of rows (fill values): refused unless it stores them;
     * a damaged one can still hold fewer than it declares, so memory grows with the rows read */
    hsize_t fsize = 0;
    if (H5Fget_filesize(f, &fsize) < 0) {
        s = db_error(DB_ERR_HDF5, "%s: cannot read the file's size", path);
        goto done;
    }
    if ((s = res_rows_stored(path, "requests", n, H5Tget_size(ft), H5Dget_storage_size(d),
                             fsize)) != DB_OK)
        goto done;
    size_t block = n < H5_BLOCK_ROWS ? n : H5_BLOCK_ROWS, cap = 0;
    rows = db_malloc_array(block, sizeof *rows);
    if (!rows) {
        s = db_error(DB_ERR_NOMEM, "%s: out of memory for %zu requests", path, block);
        goto done;
    }
    hsize_t mdims[1] = {block};
    if ((msp = H5Screate_simple(1, mdims, NULL)) < 0) {
        s = db_error(DB_ERR_HDF5, "%s: cannot create a dataspace", path);
        goto done;
    }
    double last = 0.0;
    for (size_t at = 0; at < n; at += block) {
        hsize_t start[1] = {at}, count[1] = {n - at < block ? n - at : block};
        hsize_t mstart[1] = {0};
        if (H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Sselect_hyperslab(msp, H5S_SELECT_SET, mstart, NULL, count, NULL) < 0 ||
            H5Dread(d, mt, msp, fsp, H5P_DEFAULT, rows) < 0) {
            s = db_error(DB_ERR_HDF5, "%s: cannot read rows %zu.. of 'requests'", path, at + 1);
            goto done;
        }
        if (at + count[0] > cap) {
            size_t want = cap > n / 2 ? n : cap * 2;
            if (want < at + count[0])
                want = at + count[0];
            trace_req *grown =
                want <= SIZE_MAX / sizeof *req ? db_realloc(req, want * sizeof *req) : NULL;
            if (!grown) {
                s = db_error(DB_ERR_NOMEM, "%s: out of memory at %zu requests", path, at);
                goto done;
            }
            req = grown, cap = want;
        }
        for (size_t k = 0; k < (size_t)count[0]; k++) {
            const h5_row *r = &rows[k];
            if ((s = check_row(path, at + k, r, last)) != DB_OK)
                goto done;
            req[at + k] = (trace_req){r->arrival_s, r->request_id, (int32_t)r->model,
                                      (int32_t)r->prompt_tokens, (int32_t)r->output_tokens};
            last = r->arrival_s;
        }
    }
    out->req = req;
    out->n = n;
    out->format = TRACE_FMT_HDF5;
    out->has_models = true;
    req = NULL;

done:
    db_free(rows);
    db_free(req);
    if (msp >= 0)
        H5Sclose(msp);
    if (fsp >= 0)
        H5Sclose(fsp);
    if (mt >= 0)
        H5Tclose(mt);
    if (ft >= 0)
        H5Tclose(ft);
    if (d >= 0)
        H5Dclose(d);
    if (f >= 0)
        H5Fclose(f);
    return s;
}

/* The file comes from outside: read first in a child process (res_read_guarded). */
static db_status read_probe(const char *path, void *arg)
{
    (void)arg;
    trace_table t;
    db_status s = read_direct(path, &t);
    trace_table_free(&t);
    return s;
}

db_status trace_h5_read(const char *path, trace_table *out)
{
    memset(out, 0, sizeof *out);
    db_status s = res_read_guarded(path, read_probe, NULL);
    return s ? s : read_direct(path, out);
}
