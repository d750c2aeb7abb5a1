/* nightly.h: the nightly benchmark history and its noise-aware regression rule.
 *
 * The history is one HDF5 file with one compound table `history`: one row per metric per run
 * (run number, date, commit, machine, metric, value, unit, direction, kind, repeats, spread and
 * the HDF5 result the value came from). `deltabench nightly record` appends a run to it (the
 * whole file is rewritten under a temporary name and renamed, so a failed append leaves the old
 * history intact), `nightly check` applies the rule below, `nightly dashboard` renders it.
 *
 * The rule (docs/nightly.md), per (machine, metric) series in run order, for point p:
 *   baseline  median m of the `window` points before p (at least `min_history` of them),
 *             MAD = median |x - m|, sigma = 1.4826 MAD;
 *   worse     x - m when lower is better, m - x when higher is better, |x - m| for "none";
 *   flagged   perf:  worse > rel |m|  AND  worse > k sigma
 *             tight: worse > tight |m|         exact: worse > 0
 *   confirmed the last `confirm` points (perf; 1 for tight and exact, which are deterministic)
 *             are all flagged; "since" is the first point of that trailing flagged run.
 * Metric names are GROUP/NAME; the group (text before the first '/') selects the trend plot. */
#ifndef DB_NIGHTLY_H
#define DB_NIGHTLY_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/results.h"

/* One history row. Strings are NUL-terminated within their arrays. */
typedef struct {
    int64_t run;       /* run number in the history: 1, 2, ... (record assigns it) */
    char date[32];     /* ISO 8601 UTC, e.g. 2026-01-31T02:00:00Z */
    char commit[48];   /* git commit of the binary measured */
    char machine[64];  /* series are kept per machine */
    char metric[96];   /* GROUP/NAME */
    double value;      /* finite */
    char unit[16];     /* e.g. s, GB/s, x, bpb */
    char direction[8]; /* "lower" or "higher" is better, or "none": any change counts */
    char kind[8];      /* "perf" (noise rule), "tight" (relative tolerance) or "exact" */
    int64_t repeats;   /* measurements behind value (its median), >= 1 */
    double spread;     /* relative spread of those measurements ((max - min) / median), >= 0 */
    char source[160];  /* the HDF5 result the value came from (path as recorded) */
} nt_row;

extern const res_schema nt_history_schema;

typedef struct {
    nt_row *rows; /* in file order: runs appended in order, so run numbers never decrease */
    size_t n, cap;
} nt_history;

/* Reads `path`; a file that does not exist gives an empty history when allow_missing. Any
 * malformed content (not HDF5, no `history` table, a missing column, a row with an empty or
 * unterminated name, a non-finite value, an unknown direction or kind, decreasing run numbers)
 * is DB_ERR_FORMAT naming the file (and row). */
db_status nt_history_load(const char *path, int allow_missing, nt_history *h);
/* Appends a copy of r (validated as by load). */
db_status nt_history_push(nt_history *h, const nt_row *r);
/* Writes h to path (temporary name, then rename), with the run's attributes from info. */
db_status nt_history_save(const char *path, const nt_history *h, const res_run_info *info);
void nt_history_free(nt_history *h);
/* The largest run number in h (0 when empty). */
int64_t nt_history_last_run(const nt_history *h);

/* Checks one row: non-empty names, finite value, known direction and kind, repeats >= 1, finite
 * spread >= 0. `where` names the row in the message ("FILE: row 3"). */
db_status nt_row_check(const nt_row *r, const char *where);

/* Parses a metrics file of one run: lines of tab-separated
 *   metric  value  unit  direction  kind  repeats  spread  source
 * ('#' starts a comment line, blank lines are skipped). Fills the fields other than run, date,
 * commit and machine into *rows (db_free it). Errors name FILE:LINE; a metric listed twice is an
 * error. */
db_status nt_metrics_parse(const char *path, nt_row **rows, size_t *n);

/* ---- the rule --------------------------------------------------------------------------------- */

typedef struct {
    int window;         /* N: previous points in the rolling median (default 10) */
    int min_history;    /* perf: fewer previous points gives "short history" (default 5) */
    double rel;         /* perf: relative threshold (default 0.10) */
    double k;           /* perf: multiple of the robust sigma 1.4826 MAD (default 3) */
    double tight;       /* tight: relative tolerance (default 0.001) */
    int confirm;        /* perf: consecutive flagged points that confirm (default 2) */
} nt_rule;

void nt_rule_defaults(nt_rule *r);
/* DB_ERR_ARG naming the field when a value is out of range. */
db_status nt_rule_check(const nt_rule *r);

typedef enum {
    NT_REGRESSION, /* confirmed */
    NT_SUSPECT,    /* the latest point is flagged, not yet confirmed */
    NT_IMPROVED,   /* the latest point is better than the baseline beyond the thresholds */
    NT_OK,
    NT_SHORT,      /* too few earlier points to judge */
    NT_NEW,        /* first point */
    NT_STALE,      /* not measured in the machine's latest run; its last verdict is shown */
    NT_STATE_COUNT
} nt_state;

const char *nt_state_str(nt_state s); /* "regression", "suspect", ... */

/* The verdict on one (machine, metric) series, about its latest point. */
typedef struct {
    size_t last;      /* row index (in the history) of the latest point */
    size_t since;     /* regression/suspect: row index of the first flagged point; else SIZE_MAX */
    size_t good;      /* regression/suspect: row index of the last point before it, or SIZE_MAX */
    size_t npoints;   /* points in the series */
    size_t nbase;     /* points behind the baseline (0: none) */
    double baseline;  /* median of the window before the latest point (NaN when none) */
    double sigma;     /* 1.4826 MAD of that window */
    double change;    /* (latest - baseline) / |baseline|, signed (NaN when undefined) */
    double threshold; /* the relative change that flags, for display: rel, tight or 0 */
    nt_state state;
} nt_verdict;

/* Judges every metric of `machine` (NULL: the machine of the history's latest row). Verdicts
 * come out sorted by state (regressions first), then metric name; *out is db_free'd by the
 * caller (NULL when *n is 0). DB_ERR_NOT_FOUND when the machine has no rows. */
db_status nt_check(const nt_history *h, const char *machine, const nt_rule *rule,
                   nt_verdict **out, size_t *n);

/* The rows of one series in run order, as indices into h (db_free *idx). */
db_status nt_series(const nt_history *h, const char *machine, const char *metric, size_t **idx,
                    size_t *n);

/* ---- the dashboard (nightly_dash.c) ------------------------------------------------------------ */

typedef struct {
    const char *history_path; /* shown on the page */
    const char *gnuplot;      /* gnuplot executable (default "gnuplot") */
    int plot_runs;            /* last runs drawn in the trend plots and sparklines (default 60) */
} nt_dash_opts;

/* Writes DIR/index.html and DIR/plots/GROUP.svg (one gnuplot trend plot per metric group) for
 * the verdicts of nt_check. Each file is written under a temporary name and renamed; plots
 * first, the page last. Source links are made relative to DIR. */
db_status nt_dashboard_write(const nt_history *h, const nt_verdict *v, size_t nv,
                             const nt_rule *rule, const char *dir, const nt_dash_opts *opts);

#endif
