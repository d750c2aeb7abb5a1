/* nightly.c: the nightly history (one HDF5 table, read and rewritten whole) and the regression
 * rule (rolling median, relative threshold AND k robust sigmas, confirmation). The rule is
 * documented in nightly.h and docs/nightly.md; tests/check_nightly.c exercises it.
 *
 * The history is small (a row is under 500 bytes: 50 metrics a night for a year is ~9 MB), so
 * an append reads it whole and writes a new file under a temporary name: a crash or an error
 * never damages the previous history. */
#include "harness/nightly.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>

#include "core/alloc.h"
#include "core/fsutil.h"

static const res_field nt_fields[] = {
    RES_I64(nt_row, run),      RES_STR(nt_row, date),       RES_STR(nt_row, commit),
    RES_STR(nt_row, machine),  RES_STR(nt_row, metric),     RES_F64(nt_row, value),
    RES_STR(nt_row, unit),     RES_STR(nt_row, direction),  RES_STR(nt_row, kind),
    RES_I64(nt_row, repeats),  RES_F64(nt_row, spread),     RES_STR(nt_row, source),
};
const res_schema nt_history_schema =
    RES_SCHEMA("history", "deltabench nightly history: one row per metric per run", nt_row,
               nt_fields);

/* Robust sigma from the median absolute deviation (normal consistency constant). */
#define NT_MAD_SIGMA 1.4826

/* ---- rows ---------------------------------------------------------------------------------- */

static bool terminated(const char *s, size_t n) { return memchr(s, '\0', n) != NULL; }

static bool one_of(const char *s, const char *a, const char *b, const char *c)
{
    return !strcmp(s, a) || !strcmp(s, b) || !strcmp(s, c);
}

/* Printable, no tab or line break: the names go to TSV, HTML and gnuplot. */
static bool clean_text(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

db_status nt_row_check(const nt_row *r, const char *where)
{
#define NT_STR_OK(f, empty_ok)                                                                  \
    do {                                                                                        \
        if (!terminated(r->f, sizeof r->f))                                                     \
            return db_error(DB_ERR_FORMAT, "%s: %s longer than %zu bytes", where, #f,          \
                            sizeof r->f - 1);                                                   \
        if (!(empty_ok) && !r->f[0])                                                            \
            return db_error(DB_ERR_FORMAT, "%s: empty %s", where, #f);                         \
        if (!clean_text(r->f))                                                                  \
            return db_error(DB_ERR_FORMAT, "%s: control character in %s", where, #f);          \
    } while (0)
    NT_STR_OK(date, false);
    NT_STR_OK(commit, false);
    NT_STR_OK(machine, false);
    NT_STR_OK(metric, false);
    NT_STR_OK(unit, true);
    NT_STR_OK(direction, false);
    NT_STR_OK(kind, false);
    NT_STR_OK(source, true);
#undef NT_STR_OK
    if (!isfinite(r->value))
        return db_error(DB_ERR_FORMAT, "%s: %s: value is not finite", where, r->metric);
    if (!one_of(r->direction, "lower", "higher", "none"))
        return db_error(DB_ERR_FORMAT, "%s: %s: direction '%s' (lower, higher or none)", where,
                        r->metric, r->direction);
    if (!one_of(r->kind, "perf", "tight", "exact"))
        return db_error(DB_ERR_FORMAT, "%s: %s: kind '%s' (perf, tight or exact)", where,
                        r->metric, r->kind);
    if (r->repeats < 1)
        return db_error(DB_ERR_FORMAT, "%s: %s: repeats %lld < 1", where, r->metric,
                        (long long)r->repeats);
    if (!isfinite(r->spread) || r->spread < 0)
        return db_error(DB_ERR_FORMAT, "%s: %s: spread must be finite and >= 0", where,
                        r->metric);
    if (r->run < 1)
        return db_error(DB_ERR_FORMAT, "%s: %s: run %lld < 1", where, r->metric,
                        (long long)r->run);
    return DB_OK;
}

db_status nt_history_push(nt_history *h, const nt_row *r)
{
    db_status st = nt_row_check(r, "history row");
    if (st != DB_OK)
        return st;
    if (h->n && r->run < h->rows[h->n - 1].run)
        return db_error(DB_ERR_ARG, "history row: run %lld after run %lld", (long long)r->run,
                        (long long)h->rows[h->n - 1].run);
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        nt_row *p = cap <= SIZE_MAX / sizeof *p ? db_realloc(h->rows, cap * sizeof *p) : NULL;
        if (!p)
            return db_error(DB_ERR_NOMEM, "history: out of memory at %zu rows", h->n);
        h->rows = p;
        h->cap = cap;
    }
    h->rows[h->n++] = *r;
    return DB_OK;
}

void nt_history_free(nt_history *h)
{
    if (!h)
        return;
    db_free(h->rows);
    memset(h, 0, sizeof *h);
}

int64_t nt_history_last_run(const nt_history *h)
{
    return h->n ? h->rows[h->n - 1].run : 0;
}

/* ---- reading the HDF5 table ---------------------------------------------------------------- */

/* The native memory type of nt_row; conversion from the file type goes by member name, so the
 * file's column order and string sizes do not matter. */
static hid_t row_mem_type(void)
{
    hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(nt_row));
    if (t < 0)
        return t;
    for (size_t i = 0; i < sizeof nt_fields / sizeof nt_fields[0]; i++) {
        const res_field *f = &nt_fields[i];
        hid_t ft = f->type == RES_T_I64   ? H5Tcopy(H5T_NATIVE_INT64)
                   : f->type == RES_T_F64 ? H5Tcopy(H5T_NATIVE_DOUBLE)
                                          : H5Tcopy(H5T_C_S1);
        herr_t e = ft < 0 ? -1 : 0;
        if (e >= 0 && f->type == RES_T_STR)
            e = (H5Tset_size(ft, f->size) < 0 || H5Tset_strpad(ft, H5T_STR_NULLTERM) < 0) ? -1 : 0;
        if (e >= 0)
            e = H5Tinsert(t, f->name, f->offset, ft);
        if (ft >= 0)
            H5Tclose(ft);
        if (e < 0) {
            H5Tclose(t);
            return -1;
        }
    }
    return t;
}

enum { NT_READ_ROWS = 4096 }; /* rows a history is read in at a time */

static db_status read_table(const char *path, nt_history *h)
{
    db_status st = DB_OK;
    hid_t f = -1, d = -1, ftype = -1, mtype = -1, sp = -1;
    nt_row *rows = NULL;
    if ((f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
        st = db_error(DB_ERR_FORMAT, "%s: cannot be opened as HDF5", path);
        goto out;
    }
    htri_t ex = H5Lexists(f, nt_history_schema.name, H5P_DEFAULT);
    if (ex <= 0 || (d = H5Dopen2(f, nt_history_schema.name, H5P_DEFAULT)) < 0) {
        st = db_error(DB_ERR_FORMAT, "%s: no '%s' table (not a nightly history)", path,
                      nt_history_schema.name);
        goto out;
    }
    if ((ftype = H5Dget_type(d)) < 0 || H5Tget_class(ftype) != H5T_COMPOUND) {
        st = db_error(DB_ERR_FORMAT, "%s: '%s' is not a compound table", path,
                      nt_history_schema.name);
        goto out;
    }
    for (size_t i = 0; i < sizeof nt_fields / sizeof nt_fields[0]; i++) {
        int idx = H5Tget_member_index(ftype, nt_fields[i].name);
        H5T_class_t want = nt_fields[i].type == RES_T_STR   ? H5T_STRING
                           : nt_fields[i].type == RES_T_I64 ? H5T_INTEGER
                                                            : H5T_FLOAT;
        if (idx < 0 || H5Tget_member_class(ftype, (unsigned)idx) != want) {
            st = db_error(DB_ERR_FORMAT, "%s: table '%s' lacks column '%s' (or has another type)",
                          path, nt_history_schema.name, nt_fields[i].name);
            goto out;
        }
    }
    if ((sp = H5Dget_space(d)) < 0 || H5Sget_simple_extent_ndims(sp) != 1) {
        st = db_error(DB_ERR_FORMAT, "%s: table '%s' is not one-dimensional", path,
                      nt_history_schema.name);
        goto out;
    }
    hsize_t nrows = 0;
    H5Sget_simple_extent_dims(sp, &nrows, NULL);
    if ((mtype = row_mem_type()) < 0) {
        st = db_error(DB_ERR_HDF5, "%s: building the row type failed", path);
        goto out;
    }
    /* a tiny file can declare any number of rows (fill values): refused unless it stores them;
     * a damaged one can still hold fewer than it declares, so memory grows with the rows read */
    hsize_t fsize = 0;
    if (H5Fget_filesize(f, &fsize) < 0) {
        st = db_error(DB_ERR_HDF5, "%s: cannot read the file's size", path);
        goto out;
    }
    if ((st = res_rows_stored(path, nt_history_schema.name, nrows, H5Tget_size(ftype),
                              H5Dget_storage_size(d), fsize)) != DB_OK)
        goto out;
    size_t cap = 0;
    for (hsize_t at = 0; at < nrows; at += NT_READ_ROWS) {
        hsize_t cnt = nrows - at < NT_READ_ROWS ? nrows - at : NT_READ_ROWS;
        if (at + cnt > cap) {
            size_t want = cap > nrows / 2 ? (size_t)nrows : cap * 2;
            if (want < at + cnt)
                want = (size_t)(at + cnt);
            nt_row *p = want <= SIZE_MAX / sizeof *p ? db_realloc(rows, want * sizeof *p) : NULL;
            if (!p) {
                st = db_error(DB_ERR_NOMEM, "%s: out of memory at %llu rows", path,
                              (unsigned long long)at);
                goto out;
            }
            rows = p, cap = want;
        }
        memset(rows + at, 0, (size_t)cnt * sizeof *rows);
        hid_t msp = H5Screate_simple(1, &cnt, NULL);
        bool ok = msp >= 0 && H5Sselect_hyperslab(sp, H5S_SELECT_SET, &at, NULL, &cnt, NULL) >= 0 &&
                  H5Dread(d, mtype, msp, sp, H5P_DEFAULT, rows + at) >= 0;
        if (msp >= 0)
            H5Sclose(msp);
        if (!ok) {
            st = db_error(DB_ERR_FORMAT, "%s: reading table '%s' failed (corrupt file?)", path,
                          nt_history_schema.name);
            goto out;
        }
    }
    for (hsize_t i = 0; i < nrows; i++) {
        char where[512];
        snprintf(where, sizeof where, "%s: row %llu", path, (unsigned long long)i + 1);
        /* Strings read as NULLTERM always end in NUL; a row that fills its field is cut, which
         * nt_row_check cannot see, so that is accepted as written. */
        if ((st = nt_row_check(&rows[i], where)) != DB_OK)
            goto out;
        if (i && rows[i].run < rows[i - 1].run) {
            st = db_error(DB_ERR_FORMAT, "%s: run %lld after run %lld (rows out of order)", where,
                          (long long)rows[i].run, (long long)rows[i - 1].run);
            goto out;
        }
    }
    h->rows = rows;
    h->n = (size_t)nrows;
    h->cap = cap;
    rows = NULL;
out:
    db_free(rows);
    if (sp >= 0)
        H5Sclose(sp);
    if (mtype >= 0)
        H5Tclose(mtype);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (d >= 0)
        H5Dclose(d);
    if (f >= 0)
        H5Fclose(f);
    return st;
}

/* The history may be damaged or foreign: read first in a child process (res_read_guarded). */
static db_status read_probe(const char *path, void *arg)
{
    (void)arg;
    nt_history t;
    memset(&t, 0, sizeof t);
    db_status s = read_table(path, &t);
    nt_history_free(&t);
    return s;
}

db_status nt_history_load(const char *path, int allow_missing, nt_history *h)
{
    memset(h, 0, sizeof *h);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT && allow_missing)
            return DB_OK;
        return db_error(DB_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (!res_is_hdf5(path))
        return db_error(DB_ERR_FORMAT, "%s: not an HDF5 file", path);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    db_status s = res_read_guarded(path, read_probe, NULL);
    return s ? s : read_table(path, h);
}

db_status nt_history_save(const char *path, const nt_history *h, const res_run_info *info)
{
    res_file *f = NULL;
    db_status st = res_create(path, info, &f);
    if (st != DB_OK)
        return st;
    if ((st = res_attr_i64(f, "nightly_format", 1)) != DB_OK ||
        (st = res_attr_i64(f, "runs", nt_history_last_run(h))) != DB_OK ||
        (st = res_table_write(f, &nt_history_schema, h->n, h->rows)) != DB_OK) {
        res_abort(f);
        return st;
    }
    return res_commit(f);
}

/* ---- the metrics file of one run ------------------------------------------------------------ */

/* Copies s into dst[n]; false when it does not fit. */
static bool put(char *dst, size_t n, const char *s)
{
    size_t len = strlen(s);
    if (len >= n)
        return false;
    memcpy(dst, s, len + 1);
    return true;
}

static db_status parse_line(char *line, const char *path, size_t lineno, nt_row *r)
{
    char *fld[9];
    int nf = 0;
    char *p = line;
    while (nf < 9) {
        fld[nf++] = p;
        char *tab = strchr(p, '\t');
        if (!tab)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    if (nf != 8)
        return db_error(DB_ERR_FORMAT,
                        "%s:%zu: expected 8 tab-separated fields (metric value unit direction kind "
                        "repeats spread source), got %d",
                        path, lineno, nf);
    memset(r, 0, sizeof *r);
    static const char *names[] = {"metric", "value", "unit", "direction", "kind",
                                  "repeats", "spread", "source"};
    char *dsts[] = {r->metric, NULL, r->unit, r->direction, r->kind, NULL, NULL, r->source};
    size_t sizes[] = {sizeof r->metric, 0, sizeof r->unit, sizeof r->direction, sizeof r->kind,
                      0, 0, sizeof r->source};
    for (int i = 0; i < 8; i++)
        if (dsts[i] && !put(dsts[i], sizes[i], fld[i]))
            return db_error(DB_ERR_FORMAT, "%s:%zu: %s longer than %zu bytes", path, lineno,
                            names[i], sizes[i] - 1);
    char *end;
    errno = 0;
    r->value = strtod(fld[1], &end);
    if (end == fld[1] || *end || errno == ERANGE || !isfinite(r->value))
        return db_error(DB_ERR_FORMAT, "%s:%zu: %s: value '%s' is not a finite number", path,
                        lineno, r->metric, fld[1]);
    errno = 0;
    long long rep = strtoll(fld[5], &end, 10);
    if (end == fld[5] || *end || errno)
        return db_error(DB_ERR_FORMAT, "%s:%zu: %s: repeats '%s' is not an integer", path, lineno,
                        r->metric, fld[5]);
    r->repeats = rep;
    r->spread = strtod(fld[6], &end);
    if (end == fld[6] || *end)
        return db_error(DB_ERR_FORMAT, "%s:%zu: %s: spread '%s' is not a number", path, lineno,
                        r->metric, fld[6]);
    /* Placeholders so nt_row_check sees a whole row; record fills the real ones. */
    strcpy(r->date, "-");
    strcpy(r->commit, "-");
    strcpy(r->machine, "-");
    r->run = 1;
    char where[512];
    snprintf(where, sizeof where, "%s:%zu", path, lineno);
    db_status st = nt_row_check(r, where);
    if (st == DB_OK && !strchr(r->metric, '/'))
        st = db_error(DB_ERR_FORMAT, "%s:%zu: metric '%s' is not GROUP/NAME", path, lineno,
                      r->metric);
    return st;
}

db_status nt_metrics_parse(const char *path, nt_row **rows, size_t *n)
{
    *rows = NULL;
    *n = 0;
    char *text = NULL;
    size_t len = 0;
    db_status st = fs_read_all(path, &text, &len);
    if (st != DB_OK)
        return st;
    if (strlen(text) != len) {
        db_free(text);
        return db_error(DB_ERR_FORMAT, "%s: NUL byte in a text file", path);
    }
    nt_row *out = NULL;
    size_t cnt = 0, cap = 0, lineno = 0;
    char *save = NULL;
    for (char *line = text; line && st == DB_OK; line = save) {
        char *nl = strchr(line, '\n');
        save = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[--l] = '\0';
        if (!l || line[0] == '#')
            continue;
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 32;
            nt_row *np = db_realloc(out, nc * sizeof *np);
            if (!np) {
                st = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            out = np;
            cap = nc;
        }
        if ((st = parse_line(line, path, lineno, &out[cnt])) != DB_OK)
            break;
        for (size_t i = 0; i < cnt; i++)
            if (!strcmp(out[i].metric, out[cnt].metric)) {
                st = db_error(DB_ERR_FORMAT, "%s:%zu: metric '%s' listed twice", path, lineno,
                              out[cnt].metric);
                break;
            }
        cnt++;
    }
    db_free(text);
    if (st == DB_OK && cnt == 0)
        st = db_error(DB_ERR_FORMAT, "%s: no metrics", path);
    if (st != DB_OK) {
        db_free(out);
        return st;
    }
    *rows = out;
    *n = cnt;
    return DB_OK;
}

/* ---- the rule ------------------------------------------------------------------------------ */

void nt_rule_defaults(nt_rule *r)
{
    r->window = 10;
    r->min_history = 5;
    r->rel = 0.10;
    r->k = 3.0;
    r->tight = 0.001;
    r->confirm = 2;
}

db_status nt_rule_check(const nt_rule *r)
{
    if (r->window < 1 || r->window > 1000)
        return db_error(DB_ERR_ARG, "window %d outside [1, 1000]", r->window);
    if (r->min_history < 1 || r->min_history > r->window)
        return db_error(DB_ERR_ARG, "min-history %d outside [1, window %d]", r->min_history,
                        r->window);
    if (!(r->rel >= 0 && r->rel <= 100))
        return db_error(DB_ERR_ARG, "relative threshold outside [0, 100]");
    if (!(r->k >= 0 && r->k <= 1000))
        return db_error(DB_ERR_ARG, "k outside [0, 1000]");
    if (!(r->tight >= 0 && r->tight <= 1))
        return db_error(DB_ERR_ARG, "tight tolerance outside [0, 1]");
    if (r->confirm < 1 || r->confirm > 100)
        return db_error(DB_ERR_ARG, "confirm %d outside [1, 100]", r->confirm);
    return DB_OK;
}

const char *nt_state_str(nt_state s)
{
    static const char *names[NT_STATE_COUNT] = {"regression", "suspect", "improved", "ok",
                                                "short history", "new", "stale"};
    return (unsigned)s < NT_STATE_COUNT ? names[s] : "?";
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (n >= 1); sorts v. */
static double median_sorted(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef enum { J_NONE, J_OK, J_WORSE, J_BETTER } judgement;

typedef struct {
    double median, sigma;
    size_t nbase;
} baseline;

/* Baseline of series point p: the `window` points before it. scratch holds window doubles. */
static void baseline_of(const nt_history *h, const size_t *idx, size_t p, int window,
                        double *scratch, baseline *b)
{
    size_t lo = p > (size_t)window ? p - (size_t)window : 0;
    size_t m = p - lo;
    b->nbase = m;
    b->median = b->sigma = NAN;
    if (!m)
        return;
    for (size_t i = 0; i < m; i++)
        scratch[i] = h->rows[idx[lo + i]].value;
    b->median = median_sorted(scratch, m);
    for (size_t i = 0; i < m; i++)
        scratch[i] = fabs(scratch[i] - b->median);
    b->sigma = NT_MAD_SIGMA * median_sorted(scratch, m);
}

/* The series' kind decides its thresholds: judged with its latest row's direction and kind. */
static judgement judge(const nt_row *r, const baseline *b, const nt_rule *rule, int min_hist)
{
    if (b->nbase < (size_t)min_hist)
        return J_NONE;
    double d = r->value - b->median, mag = fabs(b->median);
    double worse, better;
    if (!strcmp(r->direction, "lower")) {
        worse = d;
        better = -d;
    } else if (!strcmp(r->direction, "higher")) {
        worse = -d;
        better = d;
    } else {
        worse = fabs(d);
        better = 0;
    }
    bool w, bt;
    if (!strcmp(r->kind, "perf")) {
        double sig = rule->k * b->sigma;
        w = worse > rule->rel * mag && worse > sig;
        bt = better > rule->rel * mag && better > sig;
    } else if (!strcmp(r->kind, "tight")) {
        w = worse > rule->tight * mag;
        bt = better > rule->tight * mag;
    } else {
        w = worse > 0;
        bt = better > 0;
    }
    return w ? J_WORSE : bt ? J_BETTER : J_OK;
}

db_status nt_series(const nt_history *h, const char *machine, const char *metric, size_t **idx,
                    size_t *n)
{
    size_t cnt = 0;
    for (size_t i = 0; i < h->n; i++)
        cnt += !strcmp(h->rows[i].machine, machine) && !strcmp(h->rows[i].metric, metric);
    *idx = NULL;
    *n = 0;
    if (!cnt)
        return DB_OK;
    size_t *v = db_malloc_array(cnt, sizeof *v);
    if (!v)
        return db_error(DB_ERR_NOMEM, "nightly: out of memory for a series of %zu points", cnt);
    cnt = 0;
    for (size_t i = 0; i < h->n; i++)
        if (!strcmp(h->rows[i].machine, machine) && !strcmp(h->rows[i].metric, metric))
            v[cnt++] = i;
    *idx = v;
    *n = cnt;
    return DB_OK;
}

/* The verdict on the series idx[0..n) (n >= 1). */
static void judge_series(const nt_history *h, const size_t *idx, size_t n, const nt_rule *rule,
                         double *scratch, nt_verdict *v)
{
    const nt_row *last = &h->rows[idx[n - 1]];
    bool perf = !strcmp(last->kind, "perf");
    int min_hist = perf ? rule->min_history : 1;
    size_t confirm = perf ? (size_t)rule->confirm : 1;
    memset(v, 0, sizeof *v);
    v->last = idx[n - 1];
    v->since = v->good = SIZE_MAX;
    v->npoints = n;
    v->threshold = perf ? rule->rel : !strcmp(last->kind, "tight") ? rule->tight : 0;
    baseline b;
    baseline_of(h, idx, n - 1, rule->window, scratch, &b);
    v->nbase = b.nbase;
    v->baseline = b.median;
    v->sigma = b.sigma;
    v->change = b.nbase && b.median != 0 ? (last->value - b.median) / fabs(b.median) : NAN;
    if (n == 1) {
        v->state = NT_NEW;
        return;
    }
    judgement j = judge(last, &b, rule, min_hist);
    if (j == J_NONE) {
        v->state = n == 1 ? NT_NEW : NT_SHORT;
        return;
    }
    if (j == J_OK || j == J_BETTER) {
        v->state = j == J_OK ? NT_OK : NT_IMPROVED;
        return;
    }
    /* The trailing run of points each worse than its own rolling baseline (judged with the
     * latest row's direction and kind, so a series is judged one way throughout). */
    size_t first = n - 1;
    while (first > 0) {
        nt_row probe = h->rows[idx[first - 1]];
        memcpy(probe.direction, last->direction, sizeof probe.direction);
        memcpy(probe.kind, last->kind, sizeof probe.kind);
        baseline pb;
        baseline_of(h, idx, first - 1, rule->window, scratch, &pb);
        if (judge(&probe, &pb, rule, min_hist) != J_WORSE)
            break;
        first--;
    }
    v->since = idx[first];
    v->good = first > 0 ? idx[first - 1] : SIZE_MAX;
    v->state = n - first >= confirm ? NT_REGRESSION : NT_SUSPECT;
}

static int cmp_verdict_ctx(const nt_history *h, const nt_verdict *a, const nt_verdict *b)
{
    if (a->state != b->state)
        return (int)a->state - (int)b->state;
    return strcmp(h->rows[a->last].metric, h->rows[b->last].metric);
}

/* qsort has no context argument; the history being sorted against is set around the call. */
static _Thread_local const nt_history *sort_hist;
static int cmp_verdict(const void *a, const void *b) { return cmp_verdict_ctx(sort_hist, a, b); }

db_status nt_check(const nt_history *h, const char *machine, const nt_rule *rule,
                   nt_verdict **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    db_status st = nt_rule_check(rule);
    if (st != DB_OK)
        return st;
    if (!h->n)
        return db_error(DB_ERR_NOT_FOUND, "nightly: the history is empty");
    if (!machine) {
        machine = h->rows[h->n - 1].machine;
    }
    int64_t last_run = 0;
    for (size_t i = 0; i < h->n; i++)
        if (!strcmp(h->rows[i].machine, machine) && h->rows[i].run > last_run)
            last_run = h->rows[i].run;
    if (!last_run)
        return db_error(DB_ERR_NOT_FOUND, "nightly: no runs of machine '%s' in the history",
                        machine);
    /* Distinct metrics of the machine, each once: the row that is its latest point. */
    nt_verdict *v = NULL;
    size_t nv = 0, cap = 0;
    size_t *idx = NULL;
    double *scratch = db_malloc_array((size_t)rule->window + 1, sizeof *scratch);
    if (!scratch)
        return db_error(DB_ERR_NOMEM, "nightly: out of memory");
    for (size_t i = 0; i < h->n && st == DB_OK; i++) {
        const nt_row *r = &h->rows[i];
        if (strcmp(r->machine, machine))
            continue;
        bool seen = false;
        for (size_t j = 0; j < nv && !seen; j++)
            seen = !strcmp(h->rows[v[j].last].metric, r->metric);
        if (seen)
            continue;
        size_t ns;
        if ((st = nt_series(h, machine, r->metric, &idx, &ns)) != DB_OK)
            break;
        if (nv == cap) {
            size_t nc = cap ? cap * 2 : 32;
            nt_verdict *p = db_realloc(v, nc * sizeof *p);
            if (!p) {
                st = db_error(DB_ERR_NOMEM, "nightly: out of memory");
                break;
            }
            v = p;
            cap = nc;
        }
        judge_series(h, idx, ns, rule, scratch, &v[nv]);
        if (h->rows[v[nv].last].run != last_run)
            v[nv].state = NT_STALE;
        nv++;
        db_free(idx);
        idx = NULL;
    }
    db_free(idx);
    db_free(scratch);
    if (st != DB_OK) {
        db_free(v);
        return st;
    }
    sort_hist = h;
    qsort(v, nv, sizeof *v, cmp_verdict);
    sort_hist = NULL;
    *out = v;
    *n = nv;
    return DB_OK;
}
