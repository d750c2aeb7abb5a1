/* sweep.h: grids of deltabench runs (`sw_` module): a sweep file names one subcommand, its fixed
 * options and its axes; every combination of axis values (less the excluded ones) is a cell,
 * one run of the subcommand that writes one HDF5 run file, DIR/cells/HASH.h5, HASH being a hash
 * of the cell's command line. A cell is done when its run file exists, so a rerun skips the done
 * cells and reruns the failed ones. Cells run here (a pool of processes, sw_run_local) or as one
 * Slurm job array (sw_run_slurm: sbatch, followed with squeue and scontrol); either way each cell
 * is the same binary (/proc/self/exe) executed with the same arguments, never through a shell.
 * sw_gather joins the cells' rows of one table into one HDF5 table (and CSV) with the axes as
 * columns and each cell's provenance. The format and the commands: docs/sweeps.md.
 *
 * Directory DIR: cells/HASH.h5 (run files), logs/HASH.log (each cell's stdout and stderr),
 * slurm/ (the batch script, Slurm's own task output). */
#ifndef DB_SWEEP_H
#define DB_SWEEP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

#define SW_MAX_CELLS 100000
#define SW_HASH_LEN 16 /* hex digits of a cell hash */

typedef struct sw_sweep sw_sweep;

typedef enum { SW_PENDING, SW_DONE, SW_FAILED } sw_state;

/* Reads and validates a sweep file (DB_ERR_FORMAT naming the file and the problem) and builds
 * its cells. dir: the cells' directory (NULL: FILE less ".json", plus ".d"). */
db_status sw_load(const char *path, const char *dir, sw_sweep **out);
void sw_free(sw_sweep *sw);

int64_t sw_ncells(const sw_sweep *sw);
int sw_naxes(const sw_sweep *sw);
const char *sw_axis_name(const sw_sweep *sw, int axis);
const char *sw_dir(const sw_sweep *sw);
const char *sw_table(const sw_sweep *sw); /* the table gather joins by default */
/* Cell i's value label on one axis, its hash (SW_HASH_LEN hex digits), its run file and log. */
const char *sw_cell_label(const sw_sweep *sw, int64_t i, int axis);
const char *sw_cell_hash(const sw_sweep *sw, int64_t i);
/* The cell's path with suffix (".h5" under cells/, ".log" under logs/) into buf. */
void sw_cell_path(const sw_sweep *sw, int64_t i, const char *kind, char *buf, size_t n);
/* The cell's arguments after the binary (subcommand first), NULL-terminated. */
char *const *sw_cell_argv(const sw_sweep *sw, int64_t i);
/* Done: its run file exists; failed: its log exists without a run file; else pending. */
sw_state sw_cell_state(const sw_sweep *sw, int64_t i);
/* A hash of every cell's hash, in order: a Slurm task checks it against its submitter's. */
const char *sw_plan_hash(const sw_sweep *sw);
/* "axis=value axis=value" of cell i into buf. */
void sw_cell_desc(const sw_sweep *sw, int64_t i, char *buf, size_t n);

/* Runs cell i with binary exe (its log in logs/HASH.log); *exit_code is its exit status (or
 * 128 + signal). DB_OK whenever it could be started; a cell that exits 0 without writing its run
 * file counts as exit 1. */
db_status sw_cell_run(const sw_sweep *sw, int64_t i, const char *exe, int *exit_code);

typedef struct {
    int64_t ran, failed, skipped; /* cells run now, of them failed, done before */
    int64_t first_failed;         /* index of the first failed cell, -1 when none */
} sw_report;

/* Runs every pending or failed cell, `jobs` processes at once. progress: one line per finished
 * cell; failures: one line per failed cell with its log (either NULL for none). */
db_status sw_run_local(const sw_sweep *sw, const char *exe, int jobs, FILE *progress,
                       FILE *failures, sw_report *rep);

typedef struct {
    const char *partition, *time, *gres; /* NULL: not passed */
    const char *setup;                   /* a shell file each task sources first (NULL: none) */
    char *const *extra;                  /* further sbatch arguments, NULL-terminated (or NULL) */
    int max_running;                     /* the array's %K, 0: no limit */
    double poll_s;                       /* seconds between squeue polls */
} sw_slurm_opts;

/* Submits the pending and failed cells as one job array (sbatch --array=LIST%K), each task running
 * `exe sweep cell FILE --dir DIR --plan HASH --index I`, follows it with squeue until no task is
 * left, and reads each task's state from scontrol. Cells needing a GPU (--device cuda,
 * --executor cuda) get --gres gpu:1 unless opts->gres says otherwise. */
db_status sw_run_slurm(const sw_sweep *sw, const char *exe, const sw_slurm_opts *opts,
                       FILE *progress, FILE *failures, sw_report *rep);

/* Joins table `table` (NULL: the sweep's) of the done cells into the table "sweep" of out_h5
 * (columns: cell, the axes, the table's columns, cell_hash, git_commit, host, gpu_name; one row
 * per row of each cell's table) and writes it as CSV to out_csv (NULL: none). Missing cells are
 * an error unless `partial`; *missing counts them. argc/argv: the gather command line. */
db_status sw_gather(const sw_sweep *sw, const char *table, const char *out_h5,
                    const char *out_csv, bool partial, int argc, char **argv,
                    const char *gpu_name, int64_t *rows, int64_t *missing);

#endif
