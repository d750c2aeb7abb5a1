/* registry.h: the reproduction registry (`rp_` module): one row per reproducible figure or table.
 *
 * A row names the claims it tests (../shared/design/CLAIMS.md ids), the paper's number, the
 * experiment (a script of deltabench commands under scripts/reproduce/), the gnuplot script that
 * draws it, and the paper.md section it regenerates. `deltabench reproduce ID` runs a row:
 * the experiment writes results/ID/ (HDF5 runs, ID.csv, section.md, verdict), gnuplot draws
 * results/ID/ID.{png,svg}, and the section is spliced into paper.md between
 * "<!-- regenerated:ID:begin -->" and "<!-- regenerated:ID:end -->". Adding an experiment is one
 * row here, one script, one plot and the two markers in paper.md. */
#ifndef DB_REGISTRY_H
#define DB_REGISTRY_H

#include <stddef.h>

#include "harness/verdict.h"

typedef struct {
    const char *id;     /* make reproduce-<id>, results/<id>/ */
    const char *claims; /* CLAIMS.md ids, e.g. "DZ-1, DZ-2" */
    const char *title;
    const char *paper;  /* the paper's claim and number */
    const char *script; /* the experiment */
    const char *plot;   /* gnuplot script (NULL: a table only) */
    const char *needs;  /* what must exist first, in words (make builds it) */
    const char *make_needs; /* the make targets that build it, space-separated (NULL: none);
                             * `deltabench reproduce --needs ID` prints them for the Makefile */
    const char *budget; /* expected run time on the reference 2-core machine */
    /* The rules that decide the entry's claims from <id>.csv (harness/verdict.h), in the order
     * they are tried; `reproduce` writes their verdict lines where section.md has the line
     * "<!-- verdicts -->". NULL: the experiment script still writes its own verdict lines. */
    const vd_rule *rules;
    size_t nrules;
} rp_entry;

extern const rp_entry rp_entries[];
extern const size_t rp_count;

/* The row with this id, or NULL. */
const rp_entry *rp_find(const char *id);

#endif
