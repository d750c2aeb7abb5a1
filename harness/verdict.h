/* verdict.h: verdict rules as data (`vd_` module).
 *
 * A registry entry's experiment writes its figure's table, results/<id>/<id>.csv; the entry
 * declares, as rows of vd_rule, how a claim is decided from that table: which rows and column
 * (optionally divided by another column, e.g. the paper's number), the comparison (at least,
 * at most, within a window), its threshold, the interval columns when the number has one, the
 * verdict word a pass earns, and one sentence saying why. `deltabench reproduce` evaluates the
 * rules and writes the verdict lines with each rule printed beside them, so a reader sees the
 * rule and the numbers together, and tests can feed crafted tables through every rule.
 *
 * Outcome of one rule over its rows (each row's value, or its interval [lo, hi] when given):
 *   pass  every row satisfies the comparison (with an interval: the whole interval does);
 *   fail  some row misses it (with an interval: the whole interval lies on the wrong side);
 *   tie   otherwise: an interval straddles the threshold, so the data cannot decide.
 * A claim's rules are tiers tried in order (e.g. "reproduced" within ±2 % of the paper, then
 * "reproduced in trend" above 10x): the verdict is the pass word of the first rule that passes
 * (a higher tier that tied is named beside it); when none passes but one tied, the claim is
 * "not reproduced here" (VD_TIE_WORD: e.g. a claimed speed-up whose interval includes 1; the
 * line names the rule whose interval straddles its threshold); when every rule fails it is "not
 * reproduced". A column or row selector the table lacks is an error, never a silent pass. */
#ifndef DB_VERDICT_H
#define DB_VERDICT_H

#include <stddef.h>
#include <stdio.h>

#include "core/status.h"

typedef enum { VD_AT_LEAST, VD_AT_MOST, VD_WITHIN } vd_cmp;
typedef enum { VD_PASS, VD_FAIL, VD_TIE } vd_outcome;

/* The verdict when no rule passes and one tied: the data cannot show the claim here. */
#define VD_TIE_WORD "not reproduced here"

typedef struct {
    const char *claim;   /* CLAIMS.md id the rule decides, e.g. "BD-2" */
    const char *verdict; /* the verdict a pass earns: "reproduced", "reproduced in trend" */
    const char *where;   /* rows: "col=value[;col=value]" (NULL: every row of the table) */
    const char *column;  /* the metric */
    const char *per;     /* NULL, or a column the metric is divided by (e.g. the paper's value);
                          * a row whose `per` cell is empty fails the rule */
    const char *lo, *hi; /* the metric's interval columns (NULL: a point value) */
    const char *label;   /* a column naming each row in the verdict line (NULL: none) */
    vd_cmp cmp;
    double a, b;         /* at least a; at most a; within [a, b] (a claim of a value) */
    const char *why;     /* one sentence: why this rule decides the claim */
    const char *requires; /* NULL, or a column every row must fill (e.g. "the setting was
                           * reached"): a row where it is empty fails the rule */
} vd_rule;

typedef struct {
    vd_outcome outcome;
    int rows;            /* rows read */
    char values[1024];   /* each row's value (and interval), for the verdict line */
} vd_result;

typedef struct vd_table vd_table;

/* Reads a CSV table with a header line (RFC 4180 quoting); every data row has the header's
 * field count. Errors name PATH:LINE. */
db_status vd_table_read(const char *path, vd_table **out);
db_status vd_table_parse(const char *path, const char *text, size_t len, vd_table **out);
void vd_table_free(vd_table *t); /* NULL is a no-op */

/* Evaluates rule r on table t. DB_ERR_FORMAT (naming the table) when a column is missing, no
 * row matches `where`, or a value is not a finite number. */
db_status vd_eval(const vd_table *t, const vd_rule *r, vd_result *out);
/* The rule in words: "ratio_whole / paper_one_unit within [0.98, 1.02] (rows method=bitdelta)". */
void vd_rule_str(const vd_rule *r, char *buf, size_t n);
/* Decides claim `claim` from rules[0..n) (those of that claim, in order) and writes its verdict
 * line to `out`: "**Verdict CLAIM**: verdict: values. Rules, tried in order: (1) ..., because
 * why; ...", then a blank line (one paragraph per claim). The verdict word goes to *verdict (at
 * least 64 bytes). */
db_status vd_decide(const vd_table *t, const vd_rule *rules, size_t n, const char *claim,
                    FILE *out, char *verdict, size_t nverdict);

#endif
