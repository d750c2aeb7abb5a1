/* azure.c: readers of the Azure LLM inference CSVs and the Azure Functions invocation counts.
 *
 * The Functions files are large (tens of thousands of functions x 1440 minutes); the reader
 * keeps only the top F rows in a bounded min-heap while it scans, so memory is F x K counts
 * whatever the file size. */
#include "workloads/azure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "workloads/csv.h"

/* ---- timestamps -------------------------------------------------------------------------- */

int64_t azure_days_from_civil(int64_t y, int m, int d)
{
    /* Count from 0000-03-01 so the leap day ends each year; eras are 400-year cycles
     * (146,097 days); 719,468 is the day number of 1970-01-01 in that count. */
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                   /* [0, 399] */
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

static bool digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

bool azure_parse_timestamp(const char *b, const char *e, int64_t *sec, int32_t *nsec)
{
    /* YYYY-MM-DD HH:MM:SS = 19 characters */
    if (e - b < 19)
        return false;
    int y, mo, d, h, mi, s;
    if (!digits(b, 4, &y) || b[4] != '-' || !digits(b + 5, 2, &mo) || b[7] != '-' ||
        !digits(b + 8, 2, &d) || b[10] != ' ' || !digits(b + 11, 2, &h) || b[13] != ':' ||
        !digits(b + 14, 2, &mi) || b[16] != ':' || !digits(b + 17, 2, &s))
        return false;
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) || h > 23 ||
        mi > 59 || s > 59)
        return false;
    int32_t ns = 0;
    const char *p = b + 19;
    if (p < e) {
        if (*p++ != '.')
            return false;
        int nd = (int)(e - p);
        if (nd < 1 || nd > 9)
            return false;
        int frac;
        if (!digits(p, nd, &frac))
            return false;
        for (int i = nd; i < 9; i++)
            frac *= 10;
        ns = frac;
    }
    *sec = azure_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    *nsec = ns;
    return true;
}

/* ---- LLM inference CSV ------------------------------------------------------------------- */

db_status azure_llm_read(const char *path, trace_table *out)
{
    memset(out, 0, sizeof *out);
    char *text;
    size_t len;
    db_status s = fs_read_all(path, &text, &len);
    if (s != DB_OK)
        return s;
    wl_csv c;
    wl_csv_init(&c, path, text, len);
    const char *b, *e;
    char shown[64];
    trace_req *req = NULL;
    size_t n = 0;
    if (!wl_csv_line(&c, &b, &e)) {
        s = db_error(DB_ERR_FORMAT, "%s: empty file", path);
        goto done;
    }
    if (!wl_field_is((wl_field){b, e}, TRACE_AZURE_LLM_HEADER)) {
        s = wl_csv_error(&c, "expected the header '%s', found '%s'", TRACE_AZURE_LLM_HEADER,
                         wl_field_show((wl_field){b, e}, shown, sizeof shown));
        goto done;
    }
    size_t cap = wl_csv_lines_left(&c);
    if (cap == 0) {
        s = db_error(DB_ERR_FORMAT, "%s:2: no requests after the header", path);
        goto done;
    }
    if (!(req = db_malloc_array(cap, sizeof *req))) {
        s = db_error(DB_ERR_NOMEM, "%s: out of memory for %zu requests", path, cap);
        goto done;
    }
    int64_t sec0 = 0, prev_sec = 0;
    int32_t ns0 = 0, prev_ns = 0;
    while (wl_csv_line(&c, &b, &e)) {
        wl_field f[3];
        if (b == e) {
            s = wl_csv_error(&c, "empty line");
            goto done;
        }
        size_t nf = wl_csv_split(b, e, f, 3);
        if (nf != 3) {
            s = wl_csv_error(&c, "expected 3 fields (%s), found %zu", TRACE_AZURE_LLM_HEADER, nf);
            goto done;
        }
        int64_t sec, pt, ot;
        int32_t ns;
        if (!azure_parse_timestamp(f[0].b, f[0].e, &sec, &ns)) {
            s = wl_csv_error(&c, "TIMESTAMP '%s' is not a date and time 'YYYY-MM-DD "
                                 "HH:MM:SS.fffffff'",
                             wl_field_show(f[0], shown, sizeof shown));
            goto done;
        }
        if (!wl_field_i64(f[1], 0, INT32_MAX, &pt)) {
            s = wl_csv_error(&c, "ContextTokens '%s' is not an integer in [0, %d]",
                             wl_field_show(f[1], shown, sizeof shown), INT32_MAX);
            goto done;
        }
        if (!wl_field_i64(f[2], 0, INT32_MAX, &ot)) {
            s = wl_csv_error(&c, "GeneratedTokens '%s' is not an integer in [0, %d]",
                             wl_field_show(f[2], shown, sizeof shown), INT32_MAX);
            goto done;
        }
        if (n == 0) {
            sec0 = sec;
            ns0 = ns;
        } else if (sec < prev_sec || (sec == prev_sec && ns < prev_ns)) {
            s = wl_csv_error(&c,
                             "TIMESTAMP %s is earlier than the previous request's (a trace "
                             "must be sorted by arrival)",
                             wl_field_show(f[0], shown, sizeof shown));
            goto done;
        }
        /* One rounding from exact integer nanoseconds keeps the times non-decreasing. */
        int64_t dsec = sec - sec0;
        if (dsec > (int64_t)TRACE_ARRIVAL_MAX) {
            s = wl_csv_error(&c, "TIMESTAMP more than %.0e s after the first", TRACE_ARRIVAL_MAX);
            goto done;
        }
        double t = dsec <= 9000000000LL ? (double)(dsec * 1000000000LL + (ns - ns0)) / 1e9
                                        : (double)dsec + (double)(ns - ns0) * 1e-9;
        req[n] = (trace_req){t, (int64_t)n, TRACE_NO_MODEL, (int32_t)pt, (int32_t)ot};
        prev_sec = sec;
        prev_ns = ns;
        n++;
    }
    if (n == 0) {
        s = db_error(DB_ERR_FORMAT, "%s:2: no requests after the header", path);
        goto done;
    }
    out->req = req;
    out->n = n;
    out->format = TRACE_FMT_AZURE_LLM;
    out->has_models = false;
    req = NULL;
done:
    db_free(req);
    db_free(text);
    return s;
}

/* ---- Functions invocation counts --------------------------------------------------------- */

void azure_func_free(azure_func *f)
{
    if (!f)
        return;
    db_free(f->counts);
    db_free(f->totals);
    memset(f, 0, sizeof *f);
}

/* Heap slot: a kept function. The heap's root is the worst kept one: the smallest total, and
 * among equal totals the latest line. */
typedef struct {
    uint64_t total;
    size_t row;
    size_t slot; /* where its counts live in the [F][K] block */
} func_slot;

static bool worse(const func_slot *a, const func_slot *b)
{
    return a->total < b->total || (a->total == b->total && a->row > b->row);
}

static void sift_down(func_slot *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && worse(&h[l], &h[m]))
            m = l;
        if (r < n && worse(&h[r], &h[m]))
            m = r;
        if (m == i)
            return;
        func_slot t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

static void sift_up(func_slot *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!worse(&h[i], &h[p]))
            return;
        func_slot t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

static int by_rank(const void *a, const void *b)
{
    const func_slot *x = a, *y = b;
    if (x->total != y->total)
        return x->total > y->total ? -1 : 1;
    return x->row < y->row ? -1 : x->row > y->row;
}

db_status azure_func_read(const char *path, size_t top, azure_func *out)
{
    memset(out, 0, sizeof *out);
    if (top == 0)
        return db_error(DB_ERR_ARG, "%s: asked for the top 0 functions", path);
    char *text;
    size_t len;
    db_status s = fs_read_all(path, &text, &len);
    if (s != DB_OK)
        return s;
    wl_csv c;
    wl_csv_init(&c, path, text, len);
    const char *b, *e;
    char shown[64];
    wl_field *f = NULL;
    uint32_t *row = NULL, *block = NULL;
    func_slot *heap = NULL;
    uint64_t *totals = NULL;
    size_t nheap = 0, nrows = 0, K = 0;
    uint64_t total_all = 0;
    static const char *const head[4] = {"HashOwner", "HashApp", "HashFunction", "Trigger"};

    if (!wl_csv_line(&c, &b, &e)) {
        s = db_error(DB_ERR_FORMAT, "%s: empty file", path);
        goto done;
    }
    size_t nf = wl_csv_split(b, e, NULL, 0);
    if (nf < 5) {
        s = wl_csv_error(&c, "expected the header 'HashOwner,HashApp,HashFunction,Trigger,1,"
                             "2,...' (Azure Functions invocation counts)");
        goto done;
    }
    K = nf - 4;
    if (!(f = db_malloc_array(nf + 1, sizeof *f)) || !(row = db_malloc_array(K, sizeof *row))) {
        s = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    wl_csv_split(b, e, f, nf + 1);
    for (size_t i = 0; i < nf; i++) {
        char want[32];
        if (i < 4)
            snprintf(want, sizeof want, "%s", head[i]);
        else
            snprintf(want, sizeof want, "%zu", i - 3);
        if (!wl_field_is(f[i], want)) {
            s = wl_csv_error(&c, "header column %zu is '%s', expected '%s' (Azure Functions "
                                 "invocation counts: HashOwner,HashApp,HashFunction,Trigger,1,"
                                 "2,...)",
                             i + 1, wl_field_show(f[i], shown, sizeof shown), want);
            goto done;
        }
    }
    size_t F = top, left = wl_csv_lines_left(&c);
    if (F > left)
        F = left ? left : 1;
    if (!(heap = db_malloc_array(F, sizeof *heap)) ||
        !(block = db_malloc_array(F, K * sizeof *block))) {
        s = db_error(DB_ERR_NOMEM, "%s: out of memory for %zu functions x %zu minutes", path, F,
                     K);
        goto done;
    }
    while (wl_csv_line(&c, &b, &e)) {
        if (b == e) {
            s = wl_csv_error(&c, "empty line");
            goto done;
        }
        size_t n = wl_csv_split(b, e, f, nf + 1);
        if (n != nf) {
            s = wl_csv_error(&c, "expected %zu fields (4 ids and %zu minutes), found %zu", nf, K,
                             n);
            goto done;
        }
        for (int i = 0; i < 4; i++)
            if (f[i].b == f[i].e) {
                s = wl_csv_error(&c, "empty %s", head[i]);
                goto done;
            }
        uint64_t total = 0;
        for (size_t k = 0; k < K; k++) {
            int64_t v;
            if (!wl_field_i64(f[4 + k], 0, UINT32_MAX, &v)) {
                s = wl_csv_error(&c, "minute %zu: count '%s' is not an integer in [0, %u]",
                                 k + 1, wl_field_show(f[4 + k], shown, sizeof shown),
                                 UINT32_MAX);
                goto done;
            }
            row[k] = (uint32_t)v;
            total += (uint64_t)v;
        }
        func_slot cand = {total, nrows, 0};
        if (nheap < F) {
            cand.slot = nheap;
            memcpy(block + cand.slot * K, row, K * sizeof *row);
            heap[nheap] = cand;
            sift_up(heap, nheap++);
        } else if (worse(&heap[0], &cand)) {
            cand.slot = heap[0].slot;
            memcpy(block + cand.slot * K, row, K * sizeof *row);
            heap[0] = cand;
            sift_down(heap, nheap, 0);
        }
        total_all += total;
        nrows++;
    }
    if (nrows == 0) {
        s = db_error(DB_ERR_FORMAT, "%s:2: no functions after the header", path);
        goto done;
    }
    /* Rank order, then gather the counts in that order. */
    qsort(heap, nheap, sizeof *heap, by_rank);
    uint32_t *counts = db_malloc_array(nheap, K * sizeof *counts);
    if (!counts || !(totals = db_malloc_array(nheap, sizeof *totals))) {
        db_free(counts);
        s = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < nheap; i++) {
        memcpy(counts + i * K, block + heap[i].slot * K, K * sizeof *counts);
        totals[i] = heap[i].total;
    }
    out->nfunc = nheap;
    out->nmin = K;
    out->counts = counts;
    out->totals = totals;
    out->nrows = nrows;
    out->total_all = total_all;
    totals = NULL;
done:
    db_free(totals);
    db_free(heap);
    db_free(block);
    db_free(row);
    db_free(f);
    db_free(text);
    return s;
}
