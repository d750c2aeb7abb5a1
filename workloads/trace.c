/* trace.c: the project's trace files: format detection, the CSV reader, the fast CSV formatter
 * and the streaming writer (CSV, or an HDF5 `requests` table through core/results.h).
 *
 * The CSV writer formats numbers itself (integer arithmetic, no printf): printf would cost more
 * than generating the requests. The reader is strict: every field must be exactly a number of
 * the column's kind, times sorted and non-negative; the first problem stops it with FILE:LINE. */
#include "workloads/trace.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "workloads/azure.h"
#include "workloads/csv.h"

/* ---- formats ----------------------------------------------------------------------------- */

const char *trace_format_name(trace_format f)
{
    switch (f) {
    case TRACE_FMT_CSV:
        return "csv";
    case TRACE_FMT_HDF5:
        return "hdf5";
    case TRACE_FMT_AZURE_LLM:
        return "azure-llm";
    case TRACE_FMT_AZURE_FUNC:
        return "azure-functions";
    }
    return "unknown";
}

static const unsigned char hdf5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
#define AZURE_FUNC_PREFIX "HashOwner,HashApp,HashFunction,Trigger"

db_status trace_detect(const char *path, trace_format *fmt)
{
    char head[4096];
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return db_error(DB_ERR_IO, "%s: %s", path, strerror(errno));
    size_t n = fread(head, 1, sizeof head - 1, fp);
    int bad = ferror(fp);
    fclose(fp);
    if (bad)
        return db_error(DB_ERR_IO, "%s: read error", path);
    if (n == 0)
        return db_error(DB_ERR_FORMAT, "%s: empty file", path);
    if (n >= 8 && memcmp(head, hdf5_signature, 8) == 0) {
        *fmt = TRACE_FMT_HDF5;
        return DB_OK;
    }
    head[n] = '\0';
    wl_csv c;
    wl_csv_init(&c, path, head, n);
    const char *b, *e;
    if (!wl_csv_line(&c, &b, &e))
        return db_error(DB_ERR_FORMAT, "%s: empty file", path);
    wl_field line = {b, e};
    size_t plen = strlen(AZURE_FUNC_PREFIX);
    if (wl_field_is(line, TRACE_CSV_HEADER)) {
        *fmt = TRACE_FMT_CSV;
    } else if (wl_field_is(line, TRACE_AZURE_LLM_HEADER)) {
        *fmt = TRACE_FMT_AZURE_LLM;
    } else if ((size_t)(e - b) >= plen && memcmp(b, AZURE_FUNC_PREFIX, plen) == 0) {
        *fmt = TRACE_FMT_AZURE_FUNC;
    } else {
        char shown[64];
        return wl_csv_error(&c,
                            "not a trace: header '%s' is none of '%s' (deltabench), '%s' (Azure "
                            "LLM inference) or '%s,1,2,...' (Azure Functions)",
                            wl_field_show(line, shown, sizeof shown), TRACE_CSV_HEADER,
                            TRACE_AZURE_LLM_HEADER, AZURE_FUNC_PREFIX);
    }
    return DB_OK;
}

void trace_table_free(trace_table *t)
{
    if (!t)
        return;
    db_free(t->req);
    memset(t, 0, sizeof *t);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

db_status trace_check_ids(const char *path, const trace_table *t)
{
    if (t->n < 2)
        return DB_OK;
    int64_t *ids = db_malloc_array(t->n, sizeof *ids);
    if (!ids)
        return db_error(DB_ERR_NOMEM, "%s: %zu request ids", path, t->n);
    for (size_t i = 0; i < t->n; i++)
        ids[i] = t->req[i].request_id;
    qsort(ids, t->n, sizeof *ids, cmp_i64);
    db_status s = DB_OK;
    for (size_t i = 1; i < t->n; i++)
        if (ids[i] == ids[i - 1]) {
            s = db_error(DB_ERR_FORMAT, "%s: request_id %lld appears more than once (ids must be "
                                        "unique)",
                         path, (long long)ids[i]);
            break;
        }
    db_free(ids);
    return s;
}

db_status trace_read(const char *path, trace_table *out)
{
    memset(out, 0, sizeof *out);
    trace_format fmt;
    db_status s = trace_detect(path, &fmt);
    if (s != DB_OK)
        return s;
    switch (fmt) {
    case TRACE_FMT_HDF5:
        if ((s = trace_h5_read(path, out)) == DB_OK && (s = trace_check_ids(path, out)) != DB_OK)
            trace_table_free(out);
        return s;
    case TRACE_FMT_AZURE_LLM:
        return azure_llm_read(path, out);
    case TRACE_FMT_AZURE_FUNC:
        return db_error(DB_ERR_FORMAT,
                        "%s: an Azure Functions file holds invocation counts per minute, not "
                        "requests: use it as --arrival azure-functions:FILE or --popularity "
                        "azure:FILE",
                        path);
    case TRACE_FMT_CSV:
        break;
    }
    char *text;
    size_t len;
    if ((s = fs_read_all(path, &text, &len)) != DB_OK)
        return s;
    s = trace_csv_parse(path, text, len, out);
    db_free(text);
    if (s == DB_OK && (s = trace_check_ids(path, out)) != DB_OK)
        trace_table_free(out);
    return s;
}

/* ---- CSV reader -------------------------------------------------------------------------- */

db_status trace_csv_parse(const char *path, const char *text, size_t len, trace_table *out)
{
    memset(out, 0, sizeof *out);
    wl_csv c;
    wl_csv_init(&c, path, text, len);
    const char *b, *e;
    if (!wl_csv_line(&c, &b, &e))
        return db_error(DB_ERR_FORMAT, "%s: empty file", path);
    char shown[64];
    if (!wl_field_is((wl_field){b, e}, TRACE_CSV_HEADER))
        return wl_csv_error(&c, "expected the header '%s', found '%s'", TRACE_CSV_HEADER,
                            wl_field_show((wl_field){b, e}, shown, sizeof shown));
    size_t cap = wl_csv_lines_left(&c);
    if (cap == 0)
        return db_error(DB_ERR_FORMAT, "%s:2: no requests after the header", path);
    trace_req *req = db_malloc_array(cap, sizeof *req);
    if (!req)
        return db_error(DB_ERR_NOMEM, "%s: out of memory for %zu requests", path, cap);
    size_t n = 0;
    double last = 0.0;
    db_status s = DB_OK;
    while (wl_csv_line(&c, &b, &e)) {
        wl_field f[5];
        size_t nf = wl_csv_split(b, e, f, 5);
        if (b == e) {
            s = wl_csv_error(&c, "empty line");
            break;
        }
        if (nf != 5) {
            s = wl_csv_error(&c, "expected 5 fields (%s), found %zu", TRACE_CSV_HEADER, nf);
            break;
        }
        int64_t id, model, pt, ot;
        double t;
        if (!wl_field_i64(f[0], 0, INT64_MAX, &id)) {
            s = wl_csv_error(&c, "request_id '%s' is not a non-negative integer",
                             wl_field_show(f[0], shown, sizeof shown));
            break;
        }
        if (!wl_field_f64(f[1], &t)) {
            s = wl_csv_error(&c, "arrival_s '%s' is not a finite number",
                             wl_field_show(f[1], shown, sizeof shown));
            break;
        }
        if (t < 0) {
            s = wl_csv_error(&c, "negative arrival_s %.9g", t);
            break;
        }
        if (t > TRACE_ARRIVAL_MAX) {
            s = wl_csv_error(&c, "arrival_s %.9g is beyond %.0e s", t, TRACE_ARRIVAL_MAX);
            break;
        }
        if (n > 0 && t < last) {
            s = wl_csv_error(&c,
                             "arrival_s %.9g is earlier than the previous request's %.9g (a "
                             "trace must be sorted by arrival)",
                             t, last);
            break;
        }
        if (!wl_field_i64(f[2], 0, INT32_MAX, &model)) {
            s = wl_csv_error(&c, "model '%s' is not an integer in [0, %d]",
                             wl_field_show(f[2], shown, sizeof shown), INT32_MAX);
            break;
        }
        if (!wl_field_i64(f[3], 0, INT32_MAX, &pt)) {
            s = wl_csv_error(&c, "prompt_tokens '%s' is not an integer in [0, %d]",
                             wl_field_show(f[3], shown, sizeof shown), INT32_MAX);
            break;
        }
        if (!wl_field_i64(f[4], 0, INT32_MAX, &ot)) {
            s = wl_csv_error(&c, "output_tokens '%s' is not an integer in [0, %d]",
                             wl_field_show(f[4], shown, sizeof shown), INT32_MAX);
            break;
        }
        req[n] = (trace_req){t, id, (int32_t)model, (int32_t)pt, (int32_t)ot};
        last = t;
        n++;
    }
    if (s == DB_OK && n == 0)
        s = db_error(DB_ERR_FORMAT, "%s:2: no requests after the header", path);
    if (s != DB_OK) {
        db_free(req);
        return s;
    }
    out->req = req;
    out->n = n;
    out->format = TRACE_FMT_CSV;
    out->has_models = true;
    return DB_OK;
}

/* ---- CSV formatter ----------------------------------------------------------------------- */

/* "00" .. "99": two digits per division halves the divisions of a naive loop. */
static const char digit_pairs[201] = "00010203040506070809101112131415161718192021222324"
                                     "25262728293031323334353637383940414243444546474849"
                                     "50515253545556575859606162636465666768697071727374"
                                     "75767778798081828384858687888990919293949596979899";

/* Writes v in decimal at p, returns the end. The length comes first (comparisons), so the
 * digits go straight to their place with fixed 2-byte copies. */
static char *put_u64(char *p, uint64_t v)
{
    static const uint64_t pow10[20] = {1ULL,
                                       10ULL,
                                       100ULL,
                                       1000ULL,
                                       10000ULL,
                                       100000ULL,
                                       1000000ULL,
                                       10000000ULL,
                                       100000000ULL,
                                       1000000000ULL,
                                       10000000000ULL,
                                       100000000000ULL,
                                       1000000000000ULL,
                                       10000000000000ULL,
                                       100000000000000ULL,
                                       1000000000000000ULL,
                                       10000000000000000ULL,
                                       100000000000000000ULL,
                                       1000000000000000000ULL,
                                       10000000000000000000ULL};
    int n = 1;
    while (n < 20 && v >= pow10[n])
        n++;
    char *e = p + n;
    while (v >= 100) {
        e -= 2;
        memcpy(e, digit_pairs + 2 * (v % 100), 2);
        v /= 100;
    }
    if (v >= 10) {
        e -= 2;
        memcpy(e, digit_pairs + 2 * v, 2);
    } else {
        *--e = (char)('0' + v);
    }
    return p + n;
}

size_t trace_csv_format(const trace_req *r, char *buf)
{
    char *p = put_u64(buf, (uint64_t)r->request_id);
    *p++ = ',';
    uint64_t us = (uint64_t)llround(r->arrival_s * 1e6);
    p = put_u64(p, us / 1000000);
    *p++ = '.';
    unsigned frac = (unsigned)(us % 1000000);
    memcpy(p, digit_pairs + 2 * (frac / 10000), 2);
    memcpy(p + 2, digit_pairs + 2 * (frac / 100 % 100), 2);
    memcpy(p + 4, digit_pairs + 2 * (frac % 100), 2);
    p += 6;
    *p++ = ',';
    p = put_u64(p, (uint64_t)r->model);
    *p++ = ',';
    p = put_u64(p, (uint64_t)r->prompt_tokens);
    *p++ = ',';
    p = put_u64(p, (uint64_t)r->output_tokens);
    *p++ = '\n';
    return (size_t)(p - buf);
}

/* ---- writer ------------------------------------------------------------------------------ */

/* One row of the HDF5 table; the schema is declared once, here, next to the struct. */
typedef struct {
    int64_t request_id;
    double arrival_s;
    int64_t model;
    int64_t prompt_tokens;
    int64_t output_tokens;
} trace_row;
static const res_field trace_row_fields[] = {
    RES_I64(trace_row, request_id),    RES_F64(trace_row, arrival_s),
    RES_I64(trace_row, model),         RES_I64(trace_row, prompt_tokens),
    RES_I64(trace_row, output_tokens),
};
static const res_schema trace_row_schema =
    RES_SCHEMA("requests", "request trace: arrival_s (s from trace start), model, token counts",
               trace_row, trace_row_fields);

enum { WRITER_BUF = 1 << 20, WRITER_ROWS = 1 << 14 };

struct trace_writer {
    bool h5;
    char *path;
    fs_out out;      /* CSV */
    char *buf;       /* CSV: [WRITER_BUF] formatted lines not yet written */
    size_t len;
    res_file *rf;    /* HDF5 */
    trace_row *rows; /* HDF5: [WRITER_ROWS] rows not yet written */
    size_t nrows;
    bool table_made;
    double last_s;
    size_t n;
};

bool trace_path_is_hdf5(const char *path)
{
    size_t n = strlen(path);
    return (n > 3 && strcmp(path + n - 3, ".h5") == 0) ||
           (n > 5 && strcmp(path + n - 5, ".hdf5") == 0);
}

static void writer_free(trace_writer *w)
{
    db_free(w->path);
    db_free(w->buf);
    db_free(w->rows);
    db_free(w);
}

db_status trace_writer_open(const char *path, const res_run_info *info, trace_writer **out)
{
    *out = NULL;
    trace_writer *w = db_calloc(1, sizeof *w);
    if (!w)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    w->h5 = trace_path_is_hdf5(path);
    w->path = db_strdup(path);
    if (w->h5)
        w->rows = db_malloc_array(WRITER_ROWS, sizeof *w->rows);
    else
        w->buf = db_malloc(WRITER_BUF);
    if (!w->path || (w->h5 ? !w->rows : !w->buf)) {
        writer_free(w);
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    }
    db_status s;
    if (w->h5) {
        res_run_info none = {0, NULL, 0};
        s = res_create(path, info ? info : &none, &w->rf);
    } else {
        s = fs_out_open(&w->out, path);
        if (s == DB_OK) {
            size_t h = strlen(TRACE_CSV_HEADER);
            memcpy(w->buf, TRACE_CSV_HEADER "\n", h + 1);
            w->len = h + 1;
        }
    }
    if (s != DB_OK) {
        writer_free(w);
        return s;
    }
    *out = w;
    return DB_OK;
}

db_status trace_writer_attr(trace_writer *w, const char *key, const char *value)
{
    return w->h5 ? res_attr_str(w->rf, key, value) : DB_OK;
}

size_t trace_writer_count(const trace_writer *w) { return w->n; }

static db_status csv_flush(trace_writer *w)
{
    if (w->len && fwrite(w->buf, 1, w->len, w->out.fp) != w->len)
        return db_error(DB_ERR_IO, "%s: write error: %s", w->path, strerror(errno));
    w->len = 0;
    return DB_OK;
}

static db_status h5_flush(trace_writer *w)
{
    if (w->nrows == 0 && w->table_made)
        return DB_OK;
    db_status s = res_table_write(w->rf, &trace_row_schema, w->nrows, w->nrows ? w->rows : NULL);
    w->nrows = 0;
    w->table_made = true;
    return s;
}

static db_status check_req(const trace_writer *w, const trace_req *r)
{
    if (!(r->arrival_s >= 0 && r->arrival_s <= TRACE_ARRIVAL_MAX))
        return db_error(DB_ERR_ARG, "%s: request %lld: arrival_s %.9g is not in [0, %.0e]",
                        w->path, (long long)r->request_id, r->arrival_s, TRACE_ARRIVAL_MAX);
    if (w->n > 0 && r->arrival_s < w->last_s)
        return db_error(DB_ERR_ARG,
                        "%s: request %lld: arrival_s %.9g is earlier than the previous %.9g "
                        "(requests must be written in arrival order)",
                        w->path, (long long)r->request_id, r->arrival_s, w->last_s);
    if (r->request_id < 0 || r->model < 0 || r->prompt_tokens < 0 || r->output_tokens < 0)
        return db_error(DB_ERR_ARG,
                        "%s: request %lld: negative id, model or token count (model %d, "
                        "prompt %d, output %d); requests without a model need one assigned",
                        w->path, (long long)r->request_id, r->model, r->prompt_tokens,
                        r->output_tokens);
    return DB_OK;
}

db_status trace_writer_put(trace_writer *w, const trace_req *reqs, size_t n)
{
    db_status s;
    for (size_t i = 0; i < n; i++) {
        const trace_req *r = &reqs[i];
        if ((s = check_req(w, r)) != DB_OK)
            return s;
        if (w->h5) {
            w->rows[w->nrows++] = (trace_row){r->request_id, r->arrival_s, r->model,
                                              r->prompt_tokens, r->output_tokens};
            if (w->nrows == WRITER_ROWS && (s = h5_flush(w)) != DB_OK)
                return s;
        } else {
            if (w->len + TRACE_CSV_LINE_MAX > WRITER_BUF && (s = csv_flush(w)) != DB_OK)
                return s;
            w->len += trace_csv_format(r, w->buf + w->len);
        }
        w->last_s = r->arrival_s;
        w->n++;
    }
    return DB_OK;
}

db_status trace_writer_commit(trace_writer *w)
{
    db_status s;
    if (w->h5) {
        s = h5_flush(w);
        if (s == DB_OK) {
            s = res_commit(w->rf);
        } else {
            res_abort(w->rf);
        }
    } else {
        s = csv_flush(w);
        if (s == DB_OK)
            s = fs_out_commit(&w->out);
        else
            fs_out_abort(&w->out);
    }
    writer_free(w);
    return s;
}

void trace_writer_abort(trace_writer *w)
{
    if (!w)
        return;
    if (w->h5)
        res_abort(w->rf);
    else
        fs_out_abort(&w->out);
    writer_free(w);
}

db_status trace_write(const char *path, const trace_table *t, const res_run_info *info)
{
    trace_writer *w;
    db_status s = trace_writer_open(path, info, &w);
    if (s != DB_OK)
        return s;
    if ((s = trace_writer_put(w, t->req, t->n)) != DB_OK) {
        trace_writer_abort(w);
        return s;
    }
    return trace_writer_commit(w);
}
