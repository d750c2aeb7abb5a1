/* trace.h: the request trace that drives every serving experiment.
 *
 * A trace is R requests sorted by arrival. Its file forms, read and written here:
 *   CSV   header `request_id,arrival_s,model,prompt_tokens,output_tokens`, one request a line,
 *         arrival_s written with 6 decimals (microseconds), the others as integers;
 *   HDF5  the same five columns as the compound table `requests` of a results file
 *         (request_id, model and the token counts as int64, arrival_s as float64).
 * trace_read() also takes an Azure LLM inference CSV (TIMESTAMP,ContextTokens,GeneratedTokens):
 * it has no model column, so every request gets TRACE_NO_MODEL until a popularity law assigns
 * one (wl_pop_assign in workloads/popularity.h).
 *
 * Writing is all-or-nothing: the file appears under its name only at trace_writer_commit().
 * Legend: R requests, M models. docs/workloads.md is the full format reference. */
#ifndef DB_TRACE_H
#define DB_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/results.h"

typedef struct {
    double arrival_s;      /* seconds from the trace start; >= 0; non-decreasing along a trace */
    int64_t request_id;    /* >= 0 */
    int32_t model;         /* 0-based model index, or TRACE_NO_MODEL */
    int32_t prompt_tokens; /* >= 0 */
    int32_t output_tokens; /* >= 0 */
} trace_req;

#define TRACE_NO_MODEL (-1)
#define TRACE_CSV_HEADER "request_id,arrival_s,model,prompt_tokens,output_tokens"
#define TRACE_AZURE_LLM_HEADER "TIMESTAMP,ContextTokens,GeneratedTokens"
/* Longest line trace_csv_format() writes, newline included. */
#define TRACE_CSV_LINE_MAX 96
/* Largest arrival_s a trace may hold (about 31,700 years; keeps microseconds in an int64). */
#define TRACE_ARRIVAL_MAX 1e12

typedef enum {
    TRACE_FMT_CSV,        /* this project's CSV */
    TRACE_FMT_HDF5,       /* this project's HDF5 table "requests" */
    TRACE_FMT_AZURE_LLM,  /* Azure LLM inference CSV */
    TRACE_FMT_AZURE_FUNC, /* Azure Functions invocation counts (minutes, not requests) */
} trace_format;

typedef struct {
    trace_req *req;      /* [R] sorted by arrival_s */
    size_t n;            /* R; >= 1 for a trace read from a file */
    trace_format format; /* what it was read from (TRACE_FMT_CSV for generated ones) */
    bool has_models;     /* false: every model is TRACE_NO_MODEL */
} trace_table;

/* Short name of a format ("csv", "hdf5", "azure-llm", "azure-functions"). */
const char *trace_format_name(trace_format f);
/* Which kind of file path is, from the HDF5 signature or the header line; unknown headers,
 * empty and unreadable files are errors naming the file. */
db_status trace_detect(const char *path, trace_format *fmt);
/* Reads a project CSV or HDF5 trace or an Azure LLM inference CSV into out (zeroed first;
 * free with trace_table_free). Malformed lines, unsorted or negative times, empty files and
 * files without requests are DB_ERR_FORMAT with "FILE:LINE: problem"; so are duplicate
 * request ids. */
db_status trace_read(const char *path, trace_table *out);
/* DB_ERR_FORMAT naming the file and the id when two requests of t share a request_id
 * (trace_read checks every project CSV and HDF5 trace with it). */
db_status trace_check_ids(const char *path, const trace_table *t);
/* Parses the text of a project CSV trace (path is used in messages only). */
db_status trace_csv_parse(const char *path, const char *text, size_t len, trace_table *out);
/* Reads the `requests` table of an HDF5 trace (any 1-D compound dataset with the five
 * columns by name, so h5py-written tables work too). */
db_status trace_h5_read(const char *path, trace_table *out);
/* Frees the requests and zeroes t; NULL and zeroed tables are fine. */
void trace_table_free(trace_table *t);

/* Formats one CSV line (newline included) into buf (>= TRACE_CSV_LINE_MAX bytes); returns its
 * length. arrival_s is rounded to whole microseconds. The request must be valid. */
size_t trace_csv_format(const trace_req *r, char *buf);
/* True when path names an HDF5 output (ends in .h5 or .hdf5); anything else is written as CSV. */
bool trace_path_is_hdf5(const char *path);

/* A streaming writer, so that 10M generated requests never sit in memory at once. */
typedef struct trace_writer trace_writer;

/* Creates path under a temporary name: CSV, or HDF5 when trace_path_is_hdf5(path) (then info
 * feeds res_create's run attributes; NULL records an empty command line). "-" is stdout (CSV). */
db_status trace_writer_open(const char *path, const res_run_info *info, trace_writer **out);
/* Records a string attribute on the HDF5 root (how the trace was made); a no-op for CSV. */
db_status trace_writer_attr(trace_writer *w, const char *key, const char *value);
/* Appends n requests; they must continue the sort order, with models >= 0, times finite in
 * [0, TRACE_ARRIVAL_MAX] and counts >= 0 (DB_ERR_ARG otherwise). */
db_status trace_writer_put(trace_writer *w, const trace_req *reqs, size_t n);
/* Requests written so far. */
size_t trace_writer_count(const trace_writer *w);
/* Finishes the file and renames it to its final name; frees w in all cases. */
db_status trace_writer_commit(trace_writer *w);
/* Removes the temporary file and frees w; NULL is a no-op. */
void trace_writer_abort(trace_writer *w);
/* Writes a whole table (open + put + commit). */
db_status trace_write(const char *path, const trace_table *t, const res_run_info *info);

#endif
