/* verdict.c: verdict rules evaluated on an experiment's CSV table (verdict.h). */
#include "harness/verdict.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/fsutil.h"

struct vd_table {
    char *path;
    size_t ncols, nrows;
    char **cell; /* [(nrows + 1) * ncols]: the header first, each a NUL-terminated copy */
    char *text;  /* the storage the cells point into */
};

void vd_table_free(vd_table *t)
{
    if (!t)
        return;
    db_free(t->path);
    db_free(t->cell);
    db_free(t->text);
    db_free(t);
}

/* Splits one record starting at *p (RFC 4180: "..." fields, "" inside them) in place, storing
 * each field's start into f[] (up to max) and NUL-terminating it; returns the field count or -1
 * on a quote error. *p moves past the record's line end. */
static long split_record(char **p, char *end, char **f, size_t max)
{
    char *s = *p, *w = s;
    long n = 0;
    for (;;) {
        char *field = w;
        if (s < end && *s == '"') {
            for (s++;; s++) {
                if (s >= end)
                    return -1;
                if (*s == '"') {
                    if (s + 1 < end && s[1] == '"')
                        *w++ = '"', s++;
                    else {
                        s++;
                        break;
                    }
                } else
                    *w++ = *s;
            }
            if (s < end && *s != ',' && *s != '\n' && *s != '\r')
                return -1;
        } else
            while (s < end && *s != ',' && *s != '\n' && *s != '\r')
                *w++ = *s++;
        if ((size_t)n < max)
            f[n] = field;
        n++;
        bool more = s < end && *s == ',';
        if (more)
            s++;
        else { /* step over the line end before the terminator may overwrite it */
            if (s < end && *s == '\r')
                s++;
            if (s < end && *s == '\n')
                s++;
        }
        *w++ = '\0'; /* w stays at or before the byte s last read: fields only shrink */
        if (!more)
            break;
    }
    *p = s;
    return n;
}

db_status vd_table_parse(const char *path, const char *text, size_t len, vd_table **out)
{
    *out = NULL;
    vd_table *t = db_calloc(1, sizeof *t);
    char *buf = t ? db_malloc(len + 2) : NULL;
    if (!t || !buf || !(t->path = db_strdup(path))) {
        db_free(buf);
        vd_table_free(t);
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(buf, text, len);
    buf[len] = '\n', buf[len + 1] = '\0';
    t->text = buf;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    char *p = buf, *end = buf + len;
    db_status s = DB_OK;
    long nh = split_record(&p, end, NULL, 0);
    if (nh < 1 || len == 0) {
        s = db_error(DB_ERR_FORMAT, "%s:1: no header line", path);
        goto fail;
    }
    t->ncols = (size_t)nh;
    t->cell = db_malloc_array(lines * t->ncols, sizeof *t->cell);
    if (!t->cell) {
        s = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    /* the header was split in place already: collect its fields */
    for (size_t c = 0, k = 0; c < t->ncols; c++) {
        t->cell[c] = buf + k;
        k += strlen(buf + k) + 1;
    }
    size_t line = 1;
    while (p < end) {
        line++;
        if (*p == '\n' || *p == '\r') { /* blank line */
            p += *p == '\r' && p + 1 < end && p[1] == '\n' ? 2 : 1;
            continue;
        }
        char **row = t->cell + (t->nrows + 1) * t->ncols;
        long n = split_record(&p, end, row, t->ncols);
        if (n < 0) {
            s = db_error(DB_ERR_FORMAT, "%s:%zu: unterminated or misplaced quote", path, line);
            goto fail;
        }
        if ((size_t)n != t->ncols) {
            s = db_error(DB_ERR_FORMAT, "%s:%zu: %ld fields, the header has %zu", path, line, n,
                         t->ncols);
            goto fail;
        }
        t->nrows++;
    }
    *out = t;
    return DB_OK;
fail:
    vd_table_free(t);
    return s;
}

db_status vd_table_read(const char *path, vd_table **out)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    db_status s = fs_read_all(path, &text, &len);
    if (s != DB_OK)
        return s;
    s = vd_table_parse(path, text, len, out);
    db_free(text);
    return s;
}

static long column(const vd_table *t, const char *name)
{
    for (size_t c = 0; c < t->ncols; c++)
        if (!strcmp(t->cell[c], name))
            return (long)c;
    return -1;
}

static db_status need_column(const vd_table *t, const char *name, long *c)
{
    if ((*c = column(t, name)) < 0)
        return db_error(DB_ERR_FORMAT, "%s: no column '%s'", t->path, name);
    return DB_OK;
}

static db_status number(const vd_table *t, size_t row, long c, double *v)
{
    const char *s = t->cell[(row + 1) * t->ncols + (size_t)c];
    char *e;
    *v = strtod(s, &e);
    if (!s[0] || *e || !isfinite(*v))
        return db_error(DB_ERR_FORMAT, "%s: row %zu, column '%s': '%s' is not a finite number",
                        t->path, row + 1, t->cell[c], s);
    return DB_OK;
}

/* Does row `row` match every "col=value" of where? */
static db_status matches(const vd_table *t, size_t row, const char *where, bool *ok)
{
    *ok = true;
    for (const char *p = where; p && *p;) {
        const char *semi = strchr(p, ';'), *end = semi ? semi : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq)
            return db_error(DB_ERR_ARG, "rule selector '%s': '%.*s' is not col=value", where,
                            (int)(end - p), p);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(eq - p), p);
        long c;
        db_status s = need_column(t, name, &c);
        if (s != DB_OK)
            return s;
        const char *cell = t->cell[(row + 1) * t->ncols + (size_t)c];
        if (strlen(cell) != (size_t)(end - eq - 1) || strncmp(cell, eq + 1, (size_t)(end - eq - 1)))
            *ok = false;
        p = semi ? semi + 1 : end;
    }
    return DB_OK;
}

static bool holds(const vd_rule *r, double v)
{
    switch (r->cmp) {
    case VD_AT_LEAST: return v >= r->a;
    case VD_AT_MOST: return v <= r->a;
    case VD_WITHIN: return v >= r->a && v <= r->b;
    }
    return false;
}

/* With an interval [lo, hi]: pass when all of it holds, fail when none of it can. */
static vd_outcome judge(const vd_rule *r, double v, double lo, double hi, bool interval)
{
    if (!interval)
        return holds(r, v) ? VD_PASS : VD_FAIL;
    switch (r->cmp) {
    case VD_AT_LEAST: return lo >= r->a ? VD_PASS : hi < r->a ? VD_FAIL : VD_TIE;
    case VD_AT_MOST: return hi <= r->a ? VD_PASS : lo > r->a ? VD_FAIL : VD_TIE;
    case VD_WITHIN:
        return lo >= r->a && hi <= r->b ? VD_PASS : hi < r->a || lo > r->b ? VD_FAIL : VD_TIE;
    }
    return VD_FAIL;
}

db_status vd_eval(const vd_table *t, const vd_rule *r, vd_result *out)
{
    memset(out, 0, sizeof *out);
    long c, cp = -1, clo = -1, chi = -1, cl = -1, cr = -1;
    db_status s = need_column(t, r->column, &c);
    if (s == DB_OK && r->requires)
        s = need_column(t, r->requires, &cr);
    if (s == DB_OK && r->label)
        s = need_column(t, r->label, &cl);
    if (s == DB_OK && r->per)
        s = need_column(t, r->per, &cp);
    if (s == DB_OK && r->lo)
        s = need_column(t, r->lo, &clo);
    if (s == DB_OK && r->hi)
        s = need_column(t, r->hi, &chi);
    if (s == DB_OK && (!r->lo) != (!r->hi))
        s = db_error(DB_ERR_ARG, "rule for %s: an interval needs both lo and hi columns", r->claim);
    if (s != DB_OK)
        return s;
    bool any_fail = false, all_pass = true;
    size_t len = 0;
    for (size_t row = 0; row < t->nrows; row++) {
        bool ok;
        if ((s = matches(t, row, r->where, &ok)) != DB_OK)
            return s;
        if (!ok)
            continue;
        double v, div = 1, lo = 0, hi = 0;
        const char *name = cl >= 0 ? t->cell[(row + 1) * t->ncols + (size_t)cl] : "";
        const char *sep = len ? ", " : "", *colon = name[0] ? " " : "";
        const char *empty = cr >= 0 && !t->cell[(row + 1) * t->ncols + (size_t)cr][0] ? r->requires
                            : cp >= 0 && !t->cell[(row + 1) * t->ncols + (size_t)cp][0] ? r->per
                                                                                       : NULL;
        if (empty) {
            /* no reference value in this row (e.g. no paper number for this shape), or a
             * required column left empty: the rule cannot hold here, which fails it (a tier
             * below may still pass) */
            any_fail = true, all_pass = false, out->rows++;
            int k = snprintf(out->values + len, sizeof out->values - len, "%s%s%s(no %s)", sep,
                             name, colon, empty);
            if (k > 0 && (size_t)k < sizeof out->values - len)
                len += (size_t)k;
            continue;
        }
        if ((s = number(t, row, c, &v)) != DB_OK || (cp >= 0 && (s = number(t, row, cp, &div))) ||
            (clo >= 0 && (s = number(t, row, clo, &lo))) || (chi >= 0 && (s = number(t, row, chi, &hi))))
            return s;
        if (div == 0)
            return db_error(DB_ERR_FORMAT, "%s: row %zu: '%s' is 0", t->path, row + 1, r->per);
        v /= div, lo /= div, hi /= div;
        vd_outcome o = judge(r, v, lo, hi, clo >= 0);
        any_fail |= o == VD_FAIL;
        all_pass &= o == VD_PASS;
        out->rows++;
        char ref[64] = "";
        if (cp >= 0) /* show both sides of the division: ours / reference = value */
            snprintf(ref, sizeof ref, "%.4g / %.4g = ", v * div, div);
        int k = clo >= 0 ? snprintf(out->values + len, sizeof out->values - len,
                                    "%s%s%s%s%.4g [%.4g, %.4g]", sep, name, colon, ref, v, lo, hi)
                         : snprintf(out->values + len, sizeof out->values - len, "%s%s%s%s%.4g",
                                    sep, name, colon, ref, v);
        if (k > 0 && (size_t)k < sizeof out->values - len)
            len += (size_t)k;
    }
    if (out->rows == 0)
        return db_error(DB_ERR_FORMAT, "%s: no row matches '%s' (rule for %s)", t->path,
                        r->where ? r->where : "(every row)", r->claim);
    out->outcome = any_fail ? VD_FAIL : all_pass ? VD_PASS : VD_TIE;
    return DB_OK;
}

void vd_rule_str(const vd_rule *r, char *buf, size_t n)
{
    char metric[160], cmp[96];
    snprintf(metric, sizeof metric, "%s%s%s", r->column, r->per ? " / " : "", r->per ? r->per : "");
    switch (r->cmp) {
    case VD_AT_LEAST: snprintf(cmp, sizeof cmp, "at least %g", r->a); break;
    case VD_AT_MOST: snprintf(cmp, sizeof cmp, "at most %g", r->a); break;
    case VD_WITHIN: snprintf(cmp, sizeof cmp, "within [%g, %g]", r->a, r->b); break;
    }
    snprintf(buf, n, "%s: %s %s%s%s%s%s%s%s", r->verdict, metric, cmp,
             r->lo ? ", its whole interval" : "", r->where ? " (rows " : "",
             r->where ? r->where : "", r->where ? ")" : "", r->requires ? ", each row with " : "",
             r->requires ? r->requires : "");
}

db_status vd_decide(const vd_table *t, const vd_rule *rules, size_t n, const char *claim,
                    FILE *out, char *verdict, size_t nverdict)
{
    const char *word = NULL;
    vd_result shown = {0}, res;
    size_t nclaim = 0, decided = 0, first_tie = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rules[i].claim, claim))
            continue;
        nclaim++;
        db_status s = vd_eval(t, &rules[i], &res);
        if (s != DB_OK)
            return s;
        if (!word) /* the values shown: the deciding rule's, else the last (most lenient) one's */
            shown = res;
        if (!word && res.outcome == VD_PASS)
            word = rules[i].verdict, decided = nclaim;
        else if (!word && res.outcome == VD_TIE && !first_tie)
            first_tie = nclaim;
    }
    if (nclaim == 0)
        return db_error(DB_ERR_ARG, "no rule decides claim %s", claim);
    if (!word) /* a tie: the interval includes the threshold, so the claim is not shown here */
        word = first_tie ? VD_TIE_WORD : "not reproduced";
    snprintf(verdict, nverdict, "%s", word);
    fprintf(out, "**Verdict %s**: %s: %s", claim, word, shown.values);
    if (decided)
        fprintf(out, " (rule %zu", decided);
    if (decided && first_tie)
        fprintf(out, "; rule %zu not decided: its interval straddles the threshold", first_tie);
    if (decided)
        fprintf(out, ")");
    else if (first_tie)
        fprintf(out, " (rule %zu: its interval straddles the threshold)", first_tie);
    fprintf(out, ". Rules, tried in order:");
    for (size_t i = 0, k = 0; i < n; i++) {
        if (strcmp(rules[i].claim, claim))
            continue;
        char r[400];
        vd_rule_str(&rules[i], r, sizeof r);
        fprintf(out, " (%zu) %s, because %s;", ++k, r, rules[i].why);
    }
    /* a blank line after: each claim's verdict its own paragraph in the report */
    fprintf(out, " otherwise not reproduced, or " VD_TIE_WORD " when an interval straddles its "
                 "threshold.\n\n");
    return ferror(out) ? db_error(DB_ERR_IO, "verdict %s: write error", claim) : DB_OK;
}
