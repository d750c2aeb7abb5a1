/* core/results.h: one HDF5 file per run, with run attributes and compound tables (H5TB).
 *
 * A run creates its file under a temporary name; res_commit() stamps the duration and renames
 * it, res_abort() removes it, so a failed run never leaves a file under the final name.
 *
 * Root attributes written by res_create: tool_version, git_commit, command_line, seed, host,
 * cpu_model, gpu_name ("none" without a device), start_time (ISO 8601 UTC); res_commit adds
 * duration_s: wall seconds from the process's start to the commit, so it covers the run and
 * not only the file's writing. Strings (attributes and table fields) are stored whole: a
 * table's string field that lacks its NUL is refused, never cut.
 *
 * Table schemas are declared once, next to the struct each row is, with the RES_* field macros:
 *
 *   typedef struct { int64_t id; double ttft_s; char policy[16]; } request_row;
 *   static const res_field request_fields[] = {
 *       RES_I64(request_row, id), RES_F64(request_row, ttft_s), RES_STR(request_row, policy),
 *   };
 *   static const res_schema request_schema = RES_SCHEMA("requests", "per-request metrics",
 *                                                        request_row, request_fields);
 */
#ifndef DB_RESULTS_H
#define DB_RESULTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

typedef enum { RES_T_I64, RES_T_F64, RES_T_STR } res_type;

typedef struct {
    const char *name;
    res_type type;
    size_t offset;
    size_t size; /* bytes; for RES_T_STR the fixed char array size (NUL-terminated) */
} res_field;

typedef struct {
    const char *name;  /* dataset name under the root, e.g. "requests" */
    const char *title; /* human description stored as the table title */
    size_t row_size;   /* sizeof the row struct */
    size_t nfields;
    const res_field *fields;
} res_schema;

#define RES_I64(S, m) {#m, RES_T_I64, offsetof(S, m), sizeof(((S *)0)->m)}
#define RES_F64(S, m) {#m, RES_T_F64, offsetof(S, m), sizeof(((S *)0)->m)}
#define RES_STR(S, m) {#m, RES_T_STR, offsetof(S, m), sizeof(((S *)0)->m)}
#define RES_SCHEMA(name, title, S, fields) \
    {(name), (title), sizeof(S), sizeof(fields) / sizeof((fields)[0]), (fields)}

/* What res_create records about the run. */
typedef struct {
    int argc;
    char **argv;   /* the command line, joined with spaces into command_line */
    uint64_t seed; /* the run's seed (0 when the command has none) */
    const char *gpu_name; /* the run's accelerator, recorded as gpu_name; NULL: "none" (core
                           * knows no devices: the CLI asks kernels/device.h, cli_gpu_name) */
} res_run_info;

typedef struct res_file res_file;

db_status res_create(const char *path, const res_run_info *info, res_file **out);
/* The command line as res_create records it (arguments joined by spaces); NULL when out of
 * memory. Free with db_free. */
char *res_join_argv(int argc, char *const *argv);
/* Extra root attributes. */
db_status res_attr_str(res_file *f, const char *key, const char *value);
db_status res_attr_i64(res_file *f, const char *key, int64_t value);
db_status res_attr_f64(res_file *f, const char *key, double value);
/* Writes a whole table (nrows may be 0). A second call with the same schema appends rows;
 * DB_ERR_ARG for a malformed schema, a table of that name with another layout, or a string field
 * without its NUL. */
db_status res_table_write(res_file *f, const res_schema *s, size_t nrows, const void *rows);
/* Stamps duration_s, closes and renames to the final name; frees f in all cases. */
db_status res_commit(res_file *f);
/* Closes and removes the temporary file; frees f. NULL is a no-op. */
void res_abort(res_file *f);

/* ---- reading (inspect, export, tests) ------------------------------------------------------ */

/* Prints root attributes ("  name = value", by name) and each table, in groups too, as
 * "table PATH: N rows; columns: a, b". */
db_status res_describe(const char *path, FILE *out);
/* Writes table `table` as CSV (header row of column names, then one line per row) to out.
 * Works for any 1-D compound dataset (also those written by h5py). LF line ends, RFC 4180
 * quoting where needed, floats in the shortest round-trip form, nan/inf/-inf. DB_ERR_NOT_FOUND
 * (listing the tables there are) for an unknown table, DB_ERR_FORMAT for a non-HDF5 file. */
db_status res_export_csv(const char *path, const char *table, FILE *out);
/* Reads a root attribute as a string (numbers are formatted, arrays as "[a, b]"); the value is
 * cut to n - 1 bytes and buf is always NUL-terminated. */
db_status res_read_attr(const char *path, const char *key, char *buf, size_t n);
/* True when path starts with the HDF5 signature. */
int res_is_hdf5(const char *path);
/* The HDF5 library (1.10) has memory-safety bugs on some malformed files (found by
 * tests/fuzz/fuzz_trace_h5.c and fuzz_nightly_history.c: reads past a buffer in H5MM_xstrdup,
 * multi-TiB allocations from corrupt lengths). A reader of a file from outside runs read(path,
 * arg) first in a child process: when the child dies (a signal, a sanitizer's exit), the file is
 * refused with a one-line DB_ERR_FORMAT naming it, and the caller never reads it itself. DB_OK
 * when the child's read succeeded or failed cleanly (the caller then reads, and gets the same
 * result); a failed fork falls back to DB_OK (no isolation). The child's stderr is /dev/null. */
db_status res_read_guarded(const char *path, db_status (*read)(const char *path, void *arg),
                           void *arg);
/* Whether a table read from outside can hold the rows it declares. libhdf5 reads rows that were
 * never written as fill values, so a file of a few KB can declare 10^13 rows, and a corrupt
 * chunk index can claim more storage than the file has. A table is refused (one-line
 * DB_ERR_FORMAT naming path and table) when it stores nothing, when its storage claims more
 * than the file's size, or when its declared rows take more than RES_MAX_EXPANSION times the
 * bytes it stores (deflate, the filter our writers use, expands at most 1,032 times). Readers
 * call it with H5Dget_storage_size and H5Fget_filesize before reading a row. */
enum { RES_MAX_EXPANSION = 1100 };
db_status res_rows_stored(const char *path, const char *table, uint64_t nrows, size_t row_bytes,
                          uint64_t stored_bytes, uint64_t file_bytes);
/* res_read_guard(0) turns the child process off (every res_read_guarded returns DB_OK at once)
 * for files this process has just written itself through libhdf5, which the library reads
 * safely: the structure-aware fuzz targets (tests/fuzz/h5table.h) use it, so each input reaches
 * the readers' own checks without a fork. On by default; res_read_guard(1) turns it back on. */
void res_read_guard(int on);

#endif
