/* serve/gpucal.c: reading Vidur's GPU timings and fitting the cost model's GPU terms to them
 * (serve/gpucal.h). The fit keeps the measured efficiency of every profiled GEMM at every
 * measured token count (cuBLAS switches kernels at shape-dependent token counts: on H100,
 * Llama-2-70B's down projection takes 0.27 ms at 512 tokens and 0.69 ms at 520, which no smooth
 * curve in tokens follows), and prices a GEMM of any shape by a Gaussian-kernel mean of those
 * rows in (ln N, ln K), pooled over projections and TP degrees (a GEMM is its shape), with the
 * bandwidths chosen by leave-one-model-out cross-validation; docs/serving.md has the numbers. */
#include "serve/gpucal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/fsutil.h"

static const struct {
    const char *sku, *compute, *node;
} skus[] = {
    {"a100-80gb", "a100", "a100_dgx"},
    {"h100-sxm", "h100", "h100_dgx"},
};

bool gcal_sku_dirs(const char *sku, const char **compute, const char **node)
{
    for (size_t i = 0; i < sizeof skus / sizeof skus[0]; i++)
        if (!strcmp(skus[i].sku, sku)) {
            *compute = skus[i].compute;
            *node = skus[i].node;
            return true;
        }
    return false;
}

const gcal_builtin_text *gcal_builtin_find(const char *sku)
{
    for (size_t i = 0; i < gcal_nbuiltin; i++)
        if (!strcmp(gcal_builtin[i].sku, sku))
            return &gcal_builtin[i];
    return NULL;
}

void gcal_data_free(gcal_data *d)
{
    if (!d)
        return;
    db_free(d->pt);
    db_free(d->ar);
    memset(d, 0, sizeof *d);
}

/* ---- CSV ----------------------------------------------------------------------------------- */

#define MAX_COLS 128

/* Splits line (modified) at commas into at most MAX_COLS fields; returns the count. */
static int split(char *line, char **f)
{
    int n = 0;
    char *s = line;
    for (;;) {
        if (n == MAX_COLS)
            return -1;
        f[n++] = s;
        char *c = strchr(s, ',');
        if (!c)
            break;
        *c = 0;
        s = c + 1;
    }
    size_t l = strlen(f[n - 1]);
    while (l && (f[n - 1][l - 1] == '\r' || f[n - 1][l - 1] == '\n'))
        f[n - 1][--l] = 0;
    return n;
}

static int col(char **hdr, int nh, const char *name)
{
    for (int i = 0; i < nh; i++)
        if (!strcmp(hdr[i], name))
            return i;
    return -1;
}

static bool num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* A CSV file read whole: the header's fields and the text after it. */
typedef struct {
    char *text, *rest;
    char *hdr[MAX_COLS];
    int nh, lineno;
} csv_file;

static db_status csv_open(csv_file *c, const char *path)
{
    size_t len;
    memset(c, 0, sizeof *c);
    db_status s = fs_read_all(path, &c->text, &len);
    if (s != DB_OK)
        return s;
    if (strlen(c->text) != len) {
        db_free(c->text);
        return db_error(DB_ERR_FORMAT, "%s: not a text file", path);
    }
    char *nl = strchr(c->text, '\n');
    c->rest = nl ? nl + 1 : c->text + len;
    if (nl)
        *nl = 0;
    c->lineno = 1;
    c->nh = split(c->text, c->hdr);
    if (c->nh < 2) {
        db_free(c->text);
        return db_error(DB_ERR_FORMAT, "%s:1: not a CSV header", path);
    }
    return DB_OK;
}

/* The next non-empty line split into f (count returned; 0 at the end). */
static int csv_next(csv_file *c, char **f)
{
    while (*c->rest) {
        char *line = c->rest, *nl = strchr(line, '\n');
        c->rest = nl ? nl + 1 : line + strlen(line);
        if (nl)
            *nl = 0;
        c->lineno++;
        if (line[0] && strcmp(line, "\r"))
            return split(line, f);
    }
    return 0;
}

/* Vidur's operator names of the four projections (hw_op order). */
static const char *const vidur_ops[HW_NOPS] = {"attn_pre_proj", "attn_post_proj", "mlp_up_proj",
                                                "mlp_down_proj"};

static db_status add_point(gcal_data *d, const gcal_point *p)
{
    for (size_t i = 0; i < d->n; i++) { /* duplicates of a (model, tp, tokens): averaged */
        gcal_point *q = &d->pt[i];
        if (q->model == p->model && q->tp == p->tp && q->tokens == p->tokens) {
            for (int o = 0; o < HW_NOPS; o++)
                q->sec[o] = (q->sec[o] * q->count + p->sec[o]) / (q->count + 1);
            q->count++;
            return DB_OK;
        }
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 1024;
        gcal_point *np = db_realloc(d->pt, cap * sizeof *np);
        if (!np)
            return db_error(DB_ERR_NOMEM, "gpu profiles: out of memory");
        d->pt = np, d->cap = cap;
    }
    d->pt[d->n++] = *p;
    return DB_OK;
}

db_status gcal_read_compute(gcal_data *d, const char *path, const char *model)
{
    if (d->nmodels == GCAL_MAX_MODELS)
        return db_error(DB_ERR_ARG, "%s: more than %d models", path, GCAL_MAX_MODELS);
    csv_file c;
    db_status s = csv_open(&c, path);
    if (s != DB_OK)
        return s;
    static const char *const shape_cols[] = {"n_head",          "n_kv_head",     "n_embd",
                                             "n_expanded_embd", "use_gated_mlp", "num_tokens",
                                             "num_tensor_parallel_workers"};
    enum { C_NH, C_NKV, C_EMBD, C_FF, C_GATED, C_TOK, C_TP, C_N };
    int ci[C_N], oi[HW_NOPS];
    for (int i = 0; i < C_N; i++)
        if ((ci[i] = col(c.hdr, c.nh, shape_cols[i])) < 0) {
            s = db_error(DB_ERR_FORMAT, "%s:1: no column '%s'", path, shape_cols[i]);
            goto out;
        }
    for (int o = 0; o < HW_NOPS; o++) {
        char name[64];
        snprintf(name, sizeof name, "time_stats.%s.median", vidur_ops[o]);
        if ((oi[o] = col(c.hdr, c.nh, name)) < 0) {
            s = db_error(DB_ERR_FORMAT, "%s:1: no column '%s'", path, name);
            goto out;
        }
    }
    snprintf(d->models[d->nmodels], sizeof d->models[0], "%s", model);
    int m = d->nmodels, rows = 0, nf;
    char *f[MAX_COLS];
    while ((nf = csv_next(&c, f)) != 0) {
        if (nf != c.nh) {
            s = db_error(DB_ERR_FORMAT, "%s:%d: %d fields, the header has %d", path, c.lineno, nf,
                         c.nh);
            goto out;
        }
        double v[C_N];
        for (int i = 0; i < C_N; i++) {
            if (i == C_GATED) {
                if (strcmp(f[ci[i]], "True") && strcmp(f[ci[i]], "False")) {
                    s = db_error(DB_ERR_FORMAT, "%s:%d: use_gated_mlp '%s' is not True or False",
                                 path, c.lineno, f[ci[i]]);
                    goto out;
                }
                v[i] = !strcmp(f[ci[i]], "True");
            } else if (!num(f[ci[i]], 1, 1e9, &v[i]) || v[i] != floor(v[i])) {
                s = db_error(DB_ERR_FORMAT, "%s:%d: %s '%s' is not a positive integer", path,
                             c.lineno, shape_cols[i], f[ci[i]]);
                goto out;
            }
        }
        int64_t nh = (int64_t)v[C_NH], nkv = (int64_t)v[C_NKV], C = (int64_t)v[C_EMBD],
                F = (int64_t)v[C_FF], tp = (int64_t)v[C_TP];
        if (C % nh || nh % nkv || nh % tp || F % tp) {
            s = db_error(DB_ERR_FORMAT, "%s:%d: shape %lld heads / %lld kv heads / hidden %lld / "
                         "mlp %lld does not split over TP %lld", path, c.lineno, (long long)nh,
                         (long long)nkv, (long long)C, (long long)F, (long long)tp);
            goto out;
        }
        if (v[C_TOK] > GCAL_MAX_TOKENS)
            continue;
        double hs = (double)(C / nh);
        gcal_point p = {.model = m, .tp = (int)tp, .tokens = (int64_t)v[C_TOK], .count = 1};
        /* The projections' weights on one GPU (Megatron sharding: q/k/v and gate/up split their
         * outputs, o and down their inputs); K/V heads fewer than TP are replicated. */
        double kvh = nkv >= tp ? (double)(nkv / tp) : 1;
        p.n[HW_OP_QKV] = (double)(nh / tp) * hs + 2 * kvh * hs, p.k[HW_OP_QKV] = (double)C;
        p.n[HW_OP_O] = (double)C, p.k[HW_OP_O] = (double)(nh / tp) * hs;
        p.n[HW_OP_GATE_UP] = (v[C_GATED] ? 2.0 : 1.0) * (double)(F / tp);
        p.k[HW_OP_GATE_UP] = (double)C;
        p.n[HW_OP_DOWN] = (double)C, p.k[HW_OP_DOWN] = (double)(F / tp);
        for (int o = 0; o < HW_NOPS; o++) {
            if (!num(f[oi[o]], 1e-6, 1e6, &p.sec[o])) {
                s = db_error(DB_ERR_FORMAT, "%s:%d: time_stats.%s.median '%s' is not a positive "
                             "number of milliseconds", path, c.lineno, vidur_ops[o], f[oi[o]]);
                goto out;
            }
            p.sec[o] *= 1e-3;
        }
        if ((s = add_point(d, &p)) != DB_OK)
            goto out;
        rows++;
    }
    if (rows == 0) {
        s = db_error(DB_ERR_FORMAT, "%s: no rows of 1..%d tokens", path, GCAL_MAX_TOKENS);
        goto out;
    }
    d->nmodels++;
out:
    db_free(c.text);
    return s;
}

db_status gcal_read_allreduce(gcal_data *d, const char *path)
{
    csv_file c;
    db_status s = csv_open(&c, path);
    if (s != DB_OK)
        return s;
    static const char *const cols[] = {"time_stats.all_reduce.median", "num_workers", "size",
                                       "devices_per_node"};
    int ci[4], nf, rows = 0;
    for (int i = 0; i < 4; i++)
        if ((ci[i] = col(c.hdr, c.nh, cols[i])) < 0) {
            s = db_error(DB_ERR_FORMAT, "%s:1: no column '%s'", path, cols[i]);
            goto out;
        }
    char *f[MAX_COLS];
    while ((nf = csv_next(&c, f)) != 0) {
        double v[4];
        if (nf != c.nh) {
            s = db_error(DB_ERR_FORMAT, "%s:%d: %d fields, the header has %d", path, c.lineno, nf,
                         c.nh);
            goto out;
        }
        for (int i = 0; i < 4; i++)
            if (!num(f[ci[i]], i == 0 ? 1e-6 : 1, 1e12, &v[i])) {
                s = db_error(DB_ERR_FORMAT, "%s:%d: %s '%s' is not a positive number", path,
                             c.lineno, cols[i], f[ci[i]]);
                goto out;
            }
        if (v[1] != v[3] || v[1] < 2) /* across nodes, or one GPU: not a TP all-reduce */
            continue;
        if (d->nar == d->arcap) {
            size_t cap = d->arcap ? 2 * d->arcap : 1024;
            gcal_ar_point *np = db_realloc(d->ar, cap * sizeof *np);
            if (!np) {
                s = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
                goto out;
            }
            d->ar = np, d->arcap = cap;
        }
        d->ar[d->nar++] = (gcal_ar_point){(int)v[1], v[2], v[0] * 1e-3};
        rows++;
    }
    if (rows == 0)
        s = db_error(DB_ERR_FORMAT, "%s: no single-node all-reduce rows", path);
out:
    db_free(c.text);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool contains_ci(const char *s, const char *sub)
{
    size_t n = strlen(sub);
    for (; *s; s++)
        if (!strncasecmp(s, sub, n))
            return true;
    return !n;
}

/* The sorted "org/model" names under compute/<c> that have an mlp.csv. */
static db_status list_models(const char *base, char names[][128], int *count)
{
    DIR *orgs = opendir(base);
    if (!orgs)
        return db_error(DB_ERR_NOT_FOUND, "%s: %s", base, strerror(errno));
    int n = 0;
    db_status s = DB_OK;
    struct dirent *o;
    while (s == DB_OK && (o = readdir(orgs)) != NULL) {
        if (o->d_name[0] == '.')
            continue;
        char od[4096 + 300];
        snprintf(od, sizeof od, "%.4000s/%.256s", base, o->d_name);
        DIR *ms = opendir(od);
        if (!ms)
            continue;
        struct dirent *m;
        while ((m = readdir(ms)) != NULL) {
            char csv[4096 + 600];
            struct stat sb;
            if (m->d_name[0] == '.')
                continue;
            snprintf(csv, sizeof csv, "%.4300s/%.256s/mlp.csv", od, m->d_name);
            if (stat(csv, &sb) != 0)
                continue;
            if (n == GCAL_MAX_MODELS) {
                s = db_error(DB_ERR_ARG, "%s: more than %d models", base, GCAL_MAX_MODELS);
                break;
            }
            snprintf(names[n++], 128, "%.60s/%.60s", o->d_name, m->d_name);
        }
        closedir(ms);
    }
    closedir(orgs);
    char *ptr[GCAL_MAX_MODELS];
    char tmp[GCAL_MAX_MODELS][128];
    for (int i = 0; i < n; i++)
        ptr[i] = names[i];
    qsort(ptr, (size_t)n, sizeof *ptr, cmp_str);
    for (int i = 0; i < n; i++)
        memcpy(tmp[i], ptr[i], 128);
    memcpy(names, tmp, (size_t)n * 128);
    *count = n;
    return s;
}

db_status gcal_load(gcal_data *d, const char *dir, const char *sku, const char *holdout,
                    bool want_holdout)
{
    const char *cdir, *node;
    memset(d, 0, sizeof *d);
    if (!gcal_sku_dirs(sku, &cdir, &node))
        return db_error(DB_ERR_ARG, "profile %s: no GPU measurements (a100-80gb, h100-sxm)", sku);
    char base[4096], path[4096 + 300];
    snprintf(base, sizeof base, "%.3900s/compute/%s", dir, cdir);
    char names[GCAL_MAX_MODELS][128];
    int n = 0;
    db_status s = list_models(base, names, &n);
    for (int i = 0; s == DB_OK && i < n; i++) {
        bool held = holdout && contains_ci(names[i], holdout);
        if (held != want_holdout)
            continue;
        snprintf(path, sizeof path, "%.4000s/%.128s/mlp.csv", base, names[i]);
        s = gcal_read_compute(d, path, names[i]);
    }
    if (s == DB_OK && d->nmodels == 0)
        s = db_error(DB_ERR_NOT_FOUND, "%s: no model%s%s", base,
                     holdout ? (want_holdout ? " matching " : " other than ") : "",
                     holdout ? holdout : "");
    if (s == DB_OK) {
        snprintf(path, sizeof path, "%.3900s/network/%s/all_reduce.csv", dir, node);
        s = gcal_read_allreduce(d, path);
    }
    if (s != DB_OK)
        gcal_data_free(d);
    return s;
}

/* ---- fit ----------------------------------------------------------------------------------- */

/* Datasheet roofline seconds of a weight n x k at T tokens (efficiency 1). */
static double roof(const hw_profile *p, double n, double k, double T)
{
    double by = 2 * n * k / p->hbm_bw, fl = 2 * n * k * T / p->peak_flops;
    return by > fl ? by : fl;
}

static const gcal_point *find_point(const gcal_data *d, int model, int tp, int64_t tokens)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->pt[i].model == model && d->pt[i].tp == tp && d->pt[i].tokens == tokens)
            return &d->pt[i];
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Relative-error least squares of t = lat + x / bw over the all-reduces of one TP degree; a
 * negative latency is set to 0 and the bandwidth refitted alone. */
static db_status fit_ar(const gcal_data *d, int tp, double *lat, double *bw)
{
    double s11 = 0, s12 = 0, s22 = 0, b1 = 0, b2 = 0;
    size_t m = 0;
    for (size_t i = 0; i < d->nar; i++) {
        if (d->ar[i].tp != tp)
            continue;
        double w = 1 / d->ar[i].sec, x = 2.0 * (tp - 1) / tp * d->ar[i].bytes * w;
        s11 += w * w, s12 += w * x, s22 += x * x, b1 += w, b2 += x;
        m++;
    }
    double det = s11 * s22 - s12 * s12;
    if (m < 2 || !(det > 0))
        return db_error(DB_ERR_ARG, "all-reduce over %d GPUs: fewer than 2 distinct sizes", tp);
    double a = (b1 * s22 - b2 * s12) / det, u = (s11 * b2 - s12 * b1) / det;
    if (a < 0)
        a = 0, u = b2 / s22;
    if (!(u > 0))
        return db_error(DB_ERR_ARG, "all-reduce over %d GPUs: time does not grow with size", tp);
    *lat = a, *bw = 1 / u;
    return DB_OK;
}

/* Efficiency rows of the surface from the models of d other than `skip` (-1: none): one per
 * (projection, TP, weight shape), e = roofline / measured at each of the `kept` knots `tok`;
 * models with the same shape (Llama-2-70B's and CodeLlama-34B's attention) are two runs of one
 * GEMM: their efficiencies are averaged. */
static db_status fit_rows(const gcal_data *d, int skip, const hw_profile *sheet, const int64_t *tok,
                          int kept, const int *tps, int ntp, hw_surface *sf)
{
    sf->nrows = 0;
    double *sum = db_calloc((size_t)HW_MAX_ROWS * HW_MAX_KNOTS, sizeof *sum);
    int cnt[HW_MAX_ROWS] = {0};
    if (!sum)
        return db_error(DB_ERR_NOMEM, "gpu profiles: out of memory");
    db_status st = DB_OK;
    for (int op = 0; op < HW_NOPS && st == DB_OK; op++)
        for (int t = 0; t < ntp && st == DB_OK; t++)
            for (int m = 0; m < d->nmodels && st == DB_OK; m++) {
                if (m == skip)
                    continue;
                const gcal_point *p0 = find_point(d, m, tps[t], tok[0]);
                int r;
                for (r = 0; r < sf->nrows; r++)
                    if (sf->row[r].op == op && sf->row[r].tp == tps[t] &&
                        sf->row[r].n == p0->n[op] && sf->row[r].k == p0->k[op])
                        break;
                if (r == HW_MAX_ROWS) {
                    st = db_error(DB_ERR_ARG, "gpu profiles: more than %d surface rows",
                                  HW_MAX_ROWS);
                    break;
                }
                if (r == sf->nrows) {
                    sf->nrows++;
                    sf->row[r].op = op, sf->row[r].tp = tps[t];
                    sf->row[r].n = p0->n[op], sf->row[r].k = p0->k[op];
                }
                cnt[r]++;
                for (int i = 0; i < kept; i++) {
                    const gcal_point *p = find_point(d, m, tps[t], tok[i]);
                    double e = roof(sheet, p->n[op], p->k[op], (double)tok[i]) / p->sec[op];
                    if (!(e > 0 && e <= 1)) {
                        st = db_error(DB_ERR_ARG, "%s TP %d %s at %lld tokens: efficiency %.3f "
                                      "outside (0, 1] of the %s datasheet roofline",
                                      d->models[m], tps[t], hw_op_names[op], (long long)tok[i], e,
                                      sheet->name);
                        break;
                    }
                    sum[(size_t)r * HW_MAX_KNOTS + (size_t)i] += e;
                    /* Rounded as the overlay text stores it, so a fit and its file agree. */
                    char buf[32];
                    snprintf(buf, sizeof buf, "%.4g", sum[(size_t)r * HW_MAX_KNOTS + (size_t)i] / cnt[r]);
                    sf->row[r].eff[i] = strtof(buf, NULL);
                }
            }
    db_free(sum);
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The kernel bandwidths gcal_fit chooses from (ln units; each of ln N and ln K). */
static const double kern_grid[] = {0.2, 0.3, 0.5, 0.7, 1.0};
#define NKERN (int)(sizeof kern_grid / sizeof kern_grid[0])

/* Leave-one-model-out score of every pair of bandwidths (score[a * NKERN + b]: ln N bandwidth
 * kern_grid[a], ln K kern_grid[b]): the mean over (left-out model, projection) of the 99th
 * percentile of the relative error of the surface fitted without that model, at every point
 * of it. */
static db_status cv_scores(const gcal_data *d, const hw_profile *sheet, const int64_t *tok,
                           int kept, const int *tps, int ntp, double *score)
{
    hw_profile *q = db_malloc(sizeof *q);
    size_t nerr = (size_t)ntp * (size_t)kept;
    double *err = db_malloc_array((size_t)NKERN * NKERN * nerr, sizeof *err);
    db_status st = q && err ? DB_OK : db_error(DB_ERR_NOMEM, "gpu profiles: out of memory");
    for (int i = 0; i < NKERN * NKERN; i++)
        score[i] = 0;
    int folds = 0;
    for (int m = 0; st == DB_OK && m < d->nmodels; m++) {
        *q = *sheet;
        q->surf.nknots = kept;
        if ((st = fit_rows(d, m, sheet, tok, kept, tps, ntp, &q->surf)) != DB_OK)
            break;
        for (int op = 0; op < HW_NOPS; op++) {
            for (int g = 0; g < NKERN * NKERN; g++) {
                q->surf.kern_n = kern_grid[g / NKERN], q->surf.kern_k = kern_grid[g % NKERN];
                double *e = err + (size_t)g * nerr;
                for (int t = 0; t < ntp; t++) {
                    const gcal_point *p0 = find_point(d, m, tps[t], tok[0]);
                    double w[HW_MAX_ROWS];
                    hw_surface_weights(q, p0->n[op], p0->k[op], w);
                    for (int i = 0; i < kept; i++) {
                        const gcal_point *p = find_point(d, m, tps[t], tok[i]);
                        double sec = roof(sheet, p->n[op], p->k[op], (double)tok[i]) /
                                     hw_surface_eff_w(q, w, i);
                        e[(size_t)t * (size_t)kept + (size_t)i] = fabs(sec - p->sec[op]) / p->sec[op];
                    }
                }
                qsort(e, nerr, sizeof *e, cmp_double);
                score[g] += e[(size_t)(0.99 * (double)(nerr - 1) + 0.5)];
            }
            folds++;
        }
    }
    for (int g = 0; folds && g < NKERN * NKERN; g++)
        score[g] /= folds;
    db_free(err);
    db_free(q);
    return st;
}

db_status gcal_fit(const gcal_data *d, const hw_profile *sheet, hw_profile *out)
{
    hw_surface *sf = &out->surf;
    memset(sf, 0, sizeof *sf);
    if (d->n == 0)
        return db_error(DB_ERR_ARG, "gpu profiles: no measurements to fit");
    /* Knots: the token counts of the first (model, TP); kept when every other has them. */
    int64_t tok[HW_MAX_KNOTS + 1];
    int nk = 0;
    int m0 = d->pt[0].model, tp0 = d->pt[0].tp;
    for (size_t i = 0; i < d->n; i++)
        if (d->pt[i].model == m0 && d->pt[i].tp == tp0) {
            if (nk == HW_MAX_KNOTS)
                return db_error(DB_ERR_ARG, "gpu profiles: more than %d token counts",
                                HW_MAX_KNOTS);
            tok[nk++] = d->pt[i].tokens;
        }
    qsort(tok, (size_t)nk, sizeof *tok, cmp_i64);
    int tps[8], ntp = 0;
    for (size_t i = 0; i < d->n; i++) {
        int j;
        for (j = 0; j < ntp && tps[j] != d->pt[i].tp; j++)
            ;
        if (j == ntp) {
            if (ntp == 8)
                return db_error(DB_ERR_ARG, "gpu profiles: more than 8 TP degrees");
            tps[ntp++] = d->pt[i].tp;
        }
    }
    qsort(tps, (size_t)ntp, sizeof *tps, cmp_int);
    int kept = 0;
    for (int i = 0; i < nk; i++) {
        bool all = true;
        for (int m = 0; all && m < d->nmodels; m++)
            for (int t = 0; all && t < ntp; t++)
                all = find_point(d, m, tps[t], tok[i]) != NULL;
        if (all)
            tok[kept++] = tok[i];
    }
    if (kept < 2)
        return db_error(DB_ERR_ARG, "gpu profiles: fewer than 2 token counts common to every "
                        "model and TP degree");
    sf->nknots = kept;
    for (int i = 0; i < kept; i++)
        sf->tokens[i] = (float)tok[i];
    /* The kernel's bandwidths: the best leave-one-model-out pair (first in grid order among
     * equals); with one model there is nothing to leave out: HW_KERNEL_DEFAULT. */
    sf->kern_n = sf->kern_k = HW_KERNEL_DEFAULT;
    char cv[96] = "one model: default kernel";
    if (d->nmodels >= 2) {
        double score[NKERN * NKERN];
        db_status st = cv_scores(d, sheet, tok, kept, tps, ntp, score);
        if (st != DB_OK)
            return st;
        int best = 0;
        for (int g = 1; g < NKERN * NKERN; g++)
            if (score[g] < score[best] - 1e-9) /* equal within rounding: the earlier pair */
                best = g;
        sf->kern_n = kern_grid[best / NKERN], sf->kern_k = kern_grid[best % NKERN];
        snprintf(cv, sizeof cv, "kernel chosen by leave-one-model-out p99 error %.1f %%",
                 100 * score[best]);
    }
    db_status st = fit_rows(d, -1, sheet, tok, kept, tps, ntp, sf);
    if (st != DB_OK)
        return st;
    for (int t = 2; t <= 8; t *= 2) {
        bool any = false;
        for (size_t i = 0; i < d->nar && !any; i++)
            any = d->ar[i].tp == t;
        if (!any)
            continue;
        double lat, bw;
        db_status s = fit_ar(d, t, &lat, &bw);
        if (s != DB_OK)
            return s;
        char buf[64];
        snprintf(buf, sizeof buf, "%.4g %.4g", lat * 1e6, bw / 1e9);
        sscanf(buf, "%lf %lf", &lat, &bw);
        sf->ar[sf->nar].tp = t, sf->ar[sf->nar].lat_s = lat * 1e-6, sf->ar[sf->nar].busbw = bw * 1e9;
        sf->nar++;
    }
    char line[640];
    int len = snprintf(line, sizeof line, "gpucal: Vidur's GPU timings (MIT) against the %s "
                       "roofline (%d knots 1..%d tokens, TP", sheet->name, kept, (int)tok[kept - 1]);
    for (int t = 0; t < ntp && len < (int)sizeof line; t++)
        len += snprintf(line + len, sizeof line - (size_t)len, "%s%d", t ? "/" : " ", tps[t]);
    for (int m = 0; m < d->nmodels && len < (int)sizeof line; m++)
        len += snprintf(line + len, sizeof line - (size_t)len, "%s%s", m ? ", " : "; models ",
                        strchr(d->models[m], '/') ? strchr(d->models[m], '/') + 1 : d->models[m]);
    if (len < (int)sizeof line)
        snprintf(line + len, sizeof line - (size_t)len, "; Gaussian kernel in ln N, ln K of %g, %g: "
                 "%s)", sf->kern_n, sf->kern_k, cv);
    snprintf(out->calib, sizeof out->calib, "%s", line);
    return DB_OK;
}

/* ---- prediction and errors ----------------------------------------------------------------- */

double gcal_predict(const hw_profile *p, double n, double k, double tokens)
{
    const hw_surface *sf = &p->surf;
    if (!sf->nknots || !sf->nrows)
        return fmax(2 * n * k * tokens / (p->peak_flops * hw_eff(p, "gemm.compute", 1)),
                    2 * n * k / (p->hbm_bw * hw_eff(p, "gemm.mem", 1)));
    /* As the cost model: seconds at the knots, linear in tokens between them, the first knot's
     * below it and proportional to tokens past the last. */
    int last = sf->nknots - 1;
#define KNOT_SEC(i) (roof(p, n, k, sf->tokens[i]) / hw_surface_eff(p, n, k, i))
    if (tokens <= sf->tokens[0])
        return KNOT_SEC(0);
    if (tokens >= sf->tokens[last])
        return KNOT_SEC(last) * tokens / sf->tokens[last];
    int i = 0;
    while (sf->tokens[i + 1] <= tokens)
        i++;
    double l = (tokens - sf->tokens[i]) / (sf->tokens[i + 1] - sf->tokens[i]);
    return (1 - l) * KNOT_SEC(i) + l * KNOT_SEC(i + 1);
#undef KNOT_SEC
}

double gcal_predict_ar(const hw_profile *p, int tp, double bytes)
{
    int i = hw_surface_ar(p, tp);
    double x = 2.0 * (tp - 1) / tp * bytes;
    if (i >= 0)
        return p->surf.ar[i].lat_s + x / p->surf.ar[i].busbw;
    return p->link_lat_s + x / p->link_bw;
}

static void stats(double *e, size_t n, gcal_err *out)
{
    out->n = n;
    out->median = out->p99 = out->max = 0;
    out->over = 0;
    if (!n)
        return;
    qsort(e, n, sizeof *e, cmp_double);
    out->median = n % 2 ? e[n / 2] : 0.5 * (e[n / 2 - 1] + e[n / 2]);
    out->p99 = e[(size_t)(0.99 * (double)(n - 1) + 0.5)];
    out->max = e[n - 1];
    while (out->over < n && e[n - 1 - out->over] > GCAL_TARGET_MAX)
        out->over++;
}

db_status gcal_errors(const gcal_data *d, const hw_profile *p, gcal_err err[HW_NOPS],
                      gcal_err *ar)
{
    size_t cap = d->n > d->nar ? d->n : d->nar;
    double *e = db_malloc_array(cap ? cap : 1, sizeof *e);
    if (!e)
        return db_error(DB_ERR_NOMEM, "gpu profiles: out of memory");
    for (int op = 0; op < HW_NOPS; op++) {
        for (size_t i = 0; i < d->n; i++) {
            const gcal_point *q = &d->pt[i];
            double t = gcal_predict(p, q->n[op], q->k[op], (double)q->tokens);
            e[i] = fabs(t - q->sec[op]) / q->sec[op];
        }
        stats(e, d->n, &err[op]);
    }
    for (size_t i = 0; i < d->nar; i++)
        e[i] = fabs(gcal_predict_ar(p, d->ar[i].tp, d->ar[i].bytes) - d->ar[i].sec) / d->ar[i].sec;
    stats(e, d->nar, ar);
    db_free(e);
    return DB_OK;
}

db_status gcal_repeats(const gcal_data *d, gcal_err *out)
{
    /* Series: one per (model, TP, projection), each held as its point of fewest tokens (the
     * shape is the same at every token count). */
    size_t ns = 0, ne = 0, cap = 1024;
    const gcal_point **s0 = db_malloc_array(d->n ? d->n * HW_NOPS : 1, sizeof *s0);
    int *sop = db_malloc_array(d->n ? d->n * HW_NOPS : 1, sizeof *sop);
    double *e = db_malloc_array(cap, sizeof *e);
    db_status st = s0 && sop && e ? DB_OK : db_error(DB_ERR_NOMEM, "gpu profiles: out of memory");
    for (size_t i = 0; st == DB_OK && i < d->n; i++) {
        bool first = true;
        for (size_t j = 0; first && j < d->n; j++)
            first = !(d->pt[j].model == d->pt[i].model && d->pt[j].tp == d->pt[i].tp &&
                      d->pt[j].tokens < d->pt[i].tokens);
        for (int op = 0; first && op < HW_NOPS; op++)
            s0[ns] = &d->pt[i], sop[ns++] = op;
    }
    for (size_t a = 0; st == DB_OK && a < ns; a++)
        for (size_t b = a + 1; st == DB_OK && b < ns; b++) {
            const gcal_point *pa = s0[a], *pb = s0[b];
            int oa = sop[a], ob = sop[b];
            if (pa->model == pb->model || pa->n[oa] != pb->n[ob] || pa->k[oa] != pb->k[ob])
                continue;
            for (size_t i = 0; st == DB_OK && i < d->n; i++) {
                const gcal_point *p = &d->pt[i];
                if (p->model != pa->model || p->tp != pa->tp)
                    continue;
                const gcal_point *q = find_point(d, pb->model, pb->tp, p->tokens);
                if (!q)
                    continue;
                if (ne == cap) {
                    double *ge = db_realloc(e, 2 * cap * sizeof *e);
                    if (!ge) {
                        st = db_error(DB_ERR_NOMEM, "gpu profiles: out of memory");
                        break;
                    }
                    e = ge, cap *= 2;
                }
                double x = p->sec[oa], y = q->sec[ob];
                e[ne++] = fabs(x - y) / fmin(x, y);
            }
        }
    if (st == DB_OK)
        stats(e, ne, out);
    db_free(e);
    db_free(sop);
    db_free(s0);
    return st;
}

/* ---- the compiled-in overlays -------------------------------------------------------------- */

/* Writes one part of p's calibration (gemm: calibration + surface; else the all-reduces) as C
 * string literals, one per line of the overlay text. */
static bool c_part(FILE *out, const hw_profile *p, bool gemm, hw_profile *q)
{
    memset(q, 0, sizeof *q);
    if (gemm) {
        snprintf(q->calib, sizeof q->calib, "%s", p->calib);
        q->surf = p->surf;
        q->surf.nar = 0;
    } else {
        q->surf.nar = p->surf.nar;
        memcpy(q->surf.ar, p->surf.ar, sizeof q->surf.ar);
    }
    FILE *tmp = tmpfile();
    if (!tmp)
        return false;
    bool ok = hw_surface_print(tmp, q) && fflush(tmp) == 0;
    rewind(tmp);
    int c, bol = 1;
    while (ok && (c = fgetc(tmp)) != EOF) {
        if (bol)
            fputs("     \"", out);
        bol = c == '\n';
        if (bol)
            fputs("\\n\"\n", out);
        else {
            if (c == '"' || c == '\\')
                fputc('\\', out);
            fputc(c, out);
        }
    }
    fclose(tmp);
    if (bol) /* nothing written (or ended at a newline): an empty literal keeps it a string */
        fputs("     \"\"\n", out);
    return ok && !ferror(out);
}

db_status gcal_emit_c(const char *path, const hw_profile *const *cal, const char *const *sku,
                      int n, const char *command)
{
    fs_out o;
    db_status s = fs_out_open(&o, path);
    if (s != DB_OK)
        return s;
    fprintf(o.fp,
            "/* serve/gpucal_data.c: the compiled-in GPU calibrations of the cost model (serve/gpucal.h),\n"
            " * GENERATED from Vidur's measured GPU timings (../shared/gpu-profiles, MIT licence); do not\n"
            " * edit. Regenerate with:\n"
            " *   %s\n"
            " * tests/check_gpucal.c refits and compares with this file. */\n"
            "#include \"serve/gpucal.h\"\n\n"
            "const gcal_builtin_text gcal_builtin[] = {\n",
            command);
    hw_profile *q = db_malloc(sizeof *q);
    for (int i = 0; q && i < n; i++) {
        fprintf(o.fp, "    {\"%s\",\n", sku[i]);
        bool ok = c_part(o.fp, cal[i], true, q);
        fputs("     ,\n", o.fp);
        ok = ok && c_part(o.fp, cal[i], false, q);
        fputs("    },\n", o.fp);
        if (!ok) {
            db_free(q);
            fs_out_abort(&o);
            return db_error(DB_ERR_IO, "%s: write error", path);
        }
    }
    if (!q) {
        fs_out_abort(&o);
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    }
    db_free(q);
    fprintf(o.fp, "};\nconst size_t gcal_nbuiltin = %d;\n", n);
    return fs_out_commit(&o);
}
