/* serve/exec_cpu.c: the `cpu` executor: the model zoo served for real, with measured times.
 *
 * Setup (not timed): the zoo's base is loaded and kept resident; each fine-tune the run uses is
 * compressed to the policy's delta format (compressors/, identity Hessian) or, for full-model
 * policies, its checkpoint is taken as is; model i of the trace serves fine-tune i mod F and
 * gets its own copy of that file in the work directory, so every load reads a distinct file.
 *
 * Timed, per the engine's decisions:
 *   - disk stage: the model's file is dropped from the page cache (posix_fadvise DONTNEED after
 *     an fsync at setup) and read whole with read(2): a cold read from this machine's disk;
 *   - "PCIe" stage (host -> device; here host -> the served form): the container is opened and
 *     validated (lossless stage decoded), its packed parts copied into aligned buffers in the
 *     layout of the kernels (DeltaDQ expanded to CSR), or the full checkpoint converted to fp16;
 *   - an iteration: models/tf_batch.h over the batch's requests (prefill of the new tokens or one
 *     decode token through the KV cache; base GEMM for the whole batch + one batched delta call
 *     per projection), greedy next tokens kept per request.
 * The engine advances its clock by the measured seconds, so arrivals stay in trace time while
 * every service time is real. The engine does not report evictions or finishes to executors:
 * a request absent from an iteration has finished (or was preempted) and its KV slot is freed;
 * served forms of evicted models stay allocated until the model is loaded again (a new load
 * rebuilds it, timed). Models the policy holds on the GPU at start (every model of bitdelta /
 * deltadq / dedicated) are built untimed the first time an iteration needs them. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compressors/compressor.h"
#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/rng.h"
#include "serve/exec.h"
#include "kernels/kernels.h"
#include "models/tf_batch.h"

#define MAX_FT 64
#define READ_CHUNK ((size_t)1 << 20)

typedef struct {
    exe_cpu_opts o;
    char work[4096];
    bool own_work;
    int F;                   /* fine-tunes in the zoo */
    char *ft[MAX_FT];        /* their directory names, sorted */
    char **file;             /* [n_models] the file model i is loaded from */
    char **ft_file;          /* [F] the compressed (or full) file of fine-tune f */
    tf_model base;
    kn_ctx *kn;
    tfb_ctx *tfb;
    tfb_weights **w;         /* [n_models] served forms (NULL: not built) */
    int32_t *slot_of;        /* [n_requests] KV slot, -1 none */
    int32_t *last_tok;       /* [n_requests] */
    int64_t *seen;           /* [n_requests] last iteration that ran the request */
    int32_t *owner;          /* [max_batch] request holding each slot, -1 free */
    int32_t *free_slot;      /* stack of free slots */
    int32_t n_free;
    tfb_req *rq;             /* [max_batch] */
    int *next;               /* [max_batch] */
    int *tok;                /* [max_rows] prompt tokens of this iteration */
    char *rbuf;              /* READ_CHUNK */
    uint64_t *tok_hash;      /* [n_requests] FNV-1a of each request's generated tokens */
    int64_t step;
    /* calibration samples: per iteration the measured seconds and the cost model's terms */
    double (*cal)[EXE_CAL_COLS]; /* [n_cal] t, then the EXE_CAL_COLS - 1 features of cost_features */
    int64_t n_cal, cap_cal;
    double disk_s, disk_bytes, pcie_s, pcie_bytes;
    int64_t n_disk, n_pcie;
    /* every load's (seconds, bytes), disk reads [0] and builds [1]: their latency strata */
    double (*ld[2])[2];
    int64_t n_ld[2], cap_ld[2];
} cpu_exec;

static void cpu_free(void *ctx)
{
    cpu_exec *x = ctx;
    if (!x)
        return;
    if (x->w)
        for (int i = 0; i < x->o.n_models; i++)
            tfb_weights_free(x->w[i]);
    tfb_free(x->tfb);
    kn_ctx_free(x->kn);
    tf_model_free(&x->base);
    for (int i = 0; x->file && i < x->o.n_models; i++) {
        if (x->own_work && x->file[i])
            unlink(x->file[i]);
        db_free(x->file[i]);
    }
    for (int f = 0; x->ft_file && f < x->F; f++) {
        if (x->own_work && x->ft_file[f])
            unlink(x->ft_file[f]);
        db_free(x->ft_file[f]);
    }
    if (x->own_work && x->work[0])
        rmdir(x->work);
    for (int f = 0; f < x->F; f++)
        db_free(x->ft[f]);
    void *p[] = {x->file, x->ft_file, x->w, x->slot_of, x->last_tok, x->seen, x->owner,
                 x->free_slot, x->rq, x->next, x->tok, x->rbuf, x->tok_hash, x->cal,
                 x->ld[0], x->ld[1]};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        db_free(p[i]);
    db_free(x);
}

/* ---- setup ----------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fine-tunes of the zoo: sub-directories holding config.json other than base/, sorted. */
static db_status list_finetunes(cpu_exec *x)
{
    DIR *d = opendir(x->o.zoo);
    if (!d)
        return db_error(DB_ERR_NOT_FOUND, "%s: cannot open the zoo directory: %s (build it with "
                        "`MODELS=micro ZOO=DIR scripts/build-models.sh`)", x->o.zoo, strerror(errno));
    struct dirent *e;
    char path[4096];
    struct stat sb;
    db_status s = DB_OK;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "base"))
            continue;
        snprintf(path, sizeof path, "%s/%s/config.json", x->o.zoo, e->d_name);
        if (stat(path, &sb) != 0)
            continue;
        if (x->F == MAX_FT) {
            s = db_error(DB_ERR_ARG, "%s: more than %d fine-tunes", x->o.zoo, MAX_FT);
            break;
        }
        if (!(x->ft[x->F] = db_strdup(e->d_name))) {
            s = db_error(DB_ERR_NOMEM, "%s: out of memory", x->o.zoo);
            break;
        }
        x->F++;
    }
    closedir(d);
    if (s)
        return s;
    if (x->F == 0)
        return db_error(DB_ERR_NOT_FOUND, "%s: no fine-tuned model (a directory with config.json "
                        "besides base/)", x->o.zoo);
    qsort(x->ft, (size_t)x->F, sizeof *x->ft, cmp_str);
    return DB_OK;
}

static char *path_of(const char *dir, const char *stem, int i, const char *ext)
{
    char buf[4200];
    snprintf(buf, sizeof buf, "%s/%s%d.%s", dir, stem, i, ext);
    return db_strdup(buf);
}

/* Copies src to dst and flushes it to disk, so a later DONTNEED really empties the cache. */
static db_status copy_synced(const char *src, const char *dst)
{
    char *data;
    size_t n;
    db_status s = fs_read_all(src, &data, &n);
    if (s)
        return s;
    int fd = open(dst, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    if (fd < 0) {
        db_free(data);
        return db_error(DB_ERR_IO, "%s: cannot create: %s", dst, strerror(errno));
    }
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, data + done, n - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int ok = done == n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    db_free(data);
    if (!ok) {
        unlink(dst);
        return db_error(DB_ERR_IO, "%s: write failed", dst);
    }
    return DB_OK;
}

static db_status sync_file(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        if (fd >= 0)
            close(fd);
        return db_error(DB_ERR_IO, "%s: cannot flush to disk", path);
    }
    close(fd);
    return DB_OK;
}

/* The file fine-tune f is served from: a compressed delta in the run's format, or the full
 * checkpoint. */
static db_status prepare_finetune(cpu_exec *x, int f, const char *base_dir)
{
    char src[4200];
    if (!x->o.format) {
        snprintf(src, sizeof src, "%s/%s/model.safetensors", x->o.zoo, x->ft[f]);
        x->ft_file[f] = path_of(x->work, "ft", f, "safetensors");
        if (!x->ft_file[f])
            return db_error(DB_ERR_NOMEM, "out of memory");
        return copy_synced(src, x->ft_file[f]);
    }
    snprintf(src, sizeof src, "%s/%s", x->o.zoo, x->ft[f]);
    x->ft_file[f] = path_of(x->work, "ft", f, "dz.safetensors");
    if (!x->ft_file[f])
        return db_error(DB_ERR_NOMEM, "out of memory");
    dc_compress_opts co = {.base_path = base_dir, .target_path = src, .out_path = x->ft_file[f],
                           .calib_desc = "identity"};
    db_status s = cost_format_params(x->o.format, &co.method, &co.params);
    if (s)
        return s;
    dc_summary sum;
    if ((s = dc_compress_model(&co, &sum)))
        return s;
    /* Checked once here against the base (a load skips the base hash: it is not serving work). */
    dc_delta *dc;
    if ((s = dc_delta_open(x->ft_file[f], base_dir, &dc)))
        return s;
    dc_delta_close(dc);
    return sync_file(x->ft_file[f]);
}

static db_status setup(cpu_exec *x)
{
    const exe_cpu_opts *o = &x->o;
    db_status s = list_finetunes(x);
    if (s)
        return s;
    if (o->exact_map && o->n_models > x->F)
        return db_error(DB_ERR_ARG, "the run has %d models; zoo %s has %d fine-tunes (%s, ...) "
                        "and --zoo-map exact serves model i with fine-tune i only",
                        o->n_models, o->zoo, x->F, x->ft[0]);
    char base_dir[4200];
    snprintf(base_dir, sizeof base_dir, "%s/base", o->zoo);
    if ((s = tf_model_load(&x->base, base_dir)))
        return s;
    const tf_config *c = &x->base.cfg;
    if (o->max_len - 1 > c->maxT)
        return db_error(DB_ERR_ARG, "a request of %d tokens (prompt + output) needs %d KV "
                        "positions; the zoo model has %d (max_position_embeddings)",
                        o->max_len, o->max_len - 1, c->maxT);
    tf_set_threads(o->threads);
    if ((s = kn_ctx_init(&x->kn, KN_CPU, KN_IMPL_FAST)))
        return s;
    int64_t rows = o->max_rows;
    if (rows > (int64_t)o->max_batch * c->maxT)
        rows = (int64_t)o->max_batch * c->maxT;
    if ((s = tfb_init(&x->tfb, &x->base, x->kn, o->max_batch, (int)rows, o->max_batch)))
        return s;
    /* The work directory and one file per model. */
    if (o->work_dir) {
        snprintf(x->work, sizeof x->work, "%s", o->work_dir);
        if (mkdir(x->work, 0755) != 0 && errno != EEXIST)
            return db_error(DB_ERR_IO, "%s: cannot create: %s", x->work, strerror(errno));
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(x->work, sizeof x->work, "%s/deltabench-serve.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(x->work)) {
            x->work[0] = 0;
            return db_error(DB_ERR_IO, "cannot create a work directory under %s",
                            tmp && *tmp ? tmp : "/tmp");
        }
        x->own_work = true;
    }
    int used = o->n_models < x->F ? o->n_models : x->F;
    for (int f = 0; f < used; f++)
        if ((s = prepare_finetune(x, f, base_dir)))
            return s;
    for (int i = 0; i < o->n_models; i++) {
        x->file[i] = path_of(x->work, "model", i, o->format ? "dz.safetensors" : "safetensors");
        if (!x->file[i])
            return db_error(DB_ERR_NOMEM, "out of memory");
        if ((s = copy_synced(x->ft_file[i % x->F], x->file[i])))
            return s;
    }
    return DB_OK;
}

/* ---- loads ----------------------------------------------------------------------------------- */

static db_status read_cold(cpu_exec *x, int32_t m, double *seconds)
{
    int fd = open(x->file[m], O_RDONLY);
    if (fd < 0)
        return db_error(DB_ERR_IO, "%s: cannot open: %s", x->file[m], strerror(errno));
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); /* best effort: drop it from the page cache */
    double t0 = db_now();
    ssize_t r;
    while ((r = read(fd, x->rbuf, READ_CHUNK)) > 0)
        ;
    *seconds = db_now() - t0;
    close(fd);
    if (r < 0)
        return db_error(DB_ERR_IO, "%s: read failed", x->file[m]);
    return DB_OK;
}

static db_status build(cpu_exec *x, int32_t m)
{
    tfb_weights_free(x->w[m]);
    x->w[m] = NULL;
    if (!x->o.format)
        return tfb_weights_from_checkpoint(&x->base.cfg, x->file[m], &x->w[m]);
    dc_delta *dc;
    db_status s = dc_delta_open(x->file[m], NULL, &dc);
    if (s)
        return s;
    s = tfb_weights_from_delta(&x->base.cfg, dc, x->file[m], &x->w[m]);
    if (s || !tfb_weights_keeps_container(x->w[m]))
        dc_delta_close(dc);
    return s;
}

/* Records one load of stage w (0 disk, 1 build) for the calibration's latency strata. */
static db_status ld_add(cpu_exec *x, int w, double seconds, double bytes)
{
    if (x->n_ld[w] == x->cap_ld[w]) {
        int64_t cap = x->cap_ld[w] ? 2 * x->cap_ld[w] : 256;
        double(*p)[2] = db_realloc(x->ld[w], (size_t)cap * sizeof *p);
        if (!p)
            return db_error(DB_ERR_NOMEM, "executor cpu: load samples");
        x->ld[w] = p, x->cap_ld[w] = cap;
    }
    x->ld[w][x->n_ld[w]][0] = seconds;
    x->ld[w][x->n_ld[w]++][1] = bytes;
    return DB_OK;
}

static db_status cpu_load(void *ctx, int32_t m, exe_stage stage, double bytes, double *seconds)
{
    /* The real file is read, whatever the cost model counts; `bytes` only feeds the fit. */
    cpu_exec *x = ctx;
    if (m < 0 || m >= x->o.n_models)
        return db_error(DB_ERR_INTERNAL, "executor cpu: load of model %d", m);
    db_status s;
    if (stage == EXE_LOAD_DISK) {
        if ((s = read_cold(x, m, seconds)))
            return s;
        x->disk_s += *seconds, x->disk_bytes += bytes, x->n_disk++;
        return ld_add(x, 0, *seconds, bytes);
    }
    double t0 = db_now();
    s = build(x, m);
    *seconds = db_now() - t0;
    x->pcie_s += *seconds, x->pcie_bytes += bytes, x->n_pcie++;
    return s ? s : ld_add(x, 1, *seconds, bytes);
}

/* ---- iterations ------------------------------------------------------------------------------ */

/* The features of iteration b (row[1..]): its tokens and distinct models, and the cost model's
 * roofline terms each alone (cost_term, so no formula is written twice). */
static void cost_features(const cost_ctx *c, const cost_batch *b, double *row)
{
    row[EXE_CAL_TOKENS] = (double)(b->prefill_tokens + b->n_decode);
    row[EXE_CAL_MODELS] = (double)b->n_models;
    row[EXE_CAL_GEMM] = cost_term(c, b, COST_TERM_GEMM);
    row[EXE_CAL_DELTA] = cost_term(c, b, COST_TERM_DELTA);
    row[EXE_CAL_ATTN] = cost_term(c, b, COST_TERM_ATTN);
}

static db_status cal_add(cpu_exec *x, const cost_batch *b, double seconds)
{
    if (!x->o.cost)
        return DB_OK;
    if (x->n_cal == x->cap_cal) { /* doubling: amortised, not an allocation per iteration */
        int64_t cap = x->cap_cal ? 2 * x->cap_cal : 1024;
        double(*p)[EXE_CAL_COLS] = db_realloc(x->cal, (size_t)cap * sizeof *p);
        if (!p)
            return db_error(DB_ERR_NOMEM, "executor cpu: calibration samples");
        x->cal = p, x->cap_cal = cap;
    }
    double *row = x->cal[x->n_cal++];
    row[0] = seconds;
    cost_features(x->o.cost, b, row);
    return DB_OK;
}

static db_status cpu_step(void *ctx, const cost_batch *b, const exe_detail *d, double *seconds)
{
    cpu_exec *x = ctx;
    int n = (int)d->n;
    if (n < 1 || n > x->o.max_batch)
        return db_error(DB_ERR_INTERNAL, "executor cpu: iteration of %d requests", n);
    for (int i = 0; i < n; i++) { /* models on the GPU from the start: built untimed */
        int32_t m = d->model[i];
        if (m < 0 || m >= x->o.n_models)
            return db_error(DB_ERR_INTERNAL, "executor cpu: request of model %d", m);
        db_status s = x->w[m] ? DB_OK : build(x, m);
        if (s)
            return s;
    }
    double t0 = db_now();
    int64_t it = ++x->step;
    for (int i = 0; i < n; i++)
        x->seen[d->req[i]] = it;
    for (int sl = 0; sl < x->o.max_batch; sl++) { /* finished or preempted: free the slot */
        int32_t r = x->owner[sl];
        if (r >= 0 && x->seen[r] != it) {
            x->owner[sl] = -1;
            x->slot_of[r] = -1;
            x->free_slot[x->n_free++] = sl;
        }
    }
    int ntok = 0;
    for (int i = 0; i < n; i++) {
        int32_t r = d->req[i];
        tfb_req *q = &x->rq[i];
        q->w = x->w[d->model[i]];
        q->ntok = d->new_tok[i];
        q->pos = d->ctx[i];
        if (d->phase[i] != EXE_DECODE) { /* a prefill chunk (the first: a fresh slot) */
            if (q->pos == 0 && x->slot_of[r] < 0) {
                if (x->n_free == 0)
                    return db_error(DB_ERR_INTERNAL, "executor cpu: no free KV slot");
                x->slot_of[r] = x->free_slot[--x->n_free];
                x->owner[x->slot_of[r]] = r;
            }
            if (ntok + q->ntok > x->o.max_rows)
                return db_error(DB_ERR_INTERNAL, "executor cpu: more than %lld tokens in an "
                                "iteration", (long long)x->o.max_rows);
            if (x->slot_of[r] < 0)
                return db_error(DB_ERR_INTERNAL, "executor cpu: chunk of request %d without "
                                "its first", r);
            db_rng g;
            rng_stream(&g, x->o.seed, (uint64_t)r);
            for (int t = 0; t < q->pos; t++) /* the tokens of the chunks before */
                (void)rng_below(&g, 256);
            for (int t = 0; t < q->ntok; t++)
                x->tok[ntok + t] = (int)rng_below(&g, 256);
            q->tokens = x->tok + ntok;
            ntok += q->ntok;
        } else {
            if (x->slot_of[r] < 0 || q->ntok != 1)
                return db_error(DB_ERR_INTERNAL, "executor cpu: decode of request %d without "
                                "its prefill", r);
            q->tokens = &x->last_tok[r];
        }
        q->slot = x->slot_of[r];
    }
    db_status s = tfb_run(x->tfb, n, x->rq, x->next);
    if (s)
        return s;
    for (int i = 0; i < n; i++) {
        int32_t r = d->req[i];
        if (d->phase[i] == EXE_CHUNK) /* mid-prompt: its next token is the prompt's */
            continue;
        x->last_tok[r] = x->next[i];
        x->tok_hash[r] = (x->tok_hash[r] ^ (uint64_t)(uint32_t)x->next[i]) * 0x100000001b3ULL;
    }
    *seconds = db_now() - t0;
    return cal_add(x, b, *seconds);
}

static const exe_ops cpu_ops = {"cpu", true, cpu_step, cpu_load, cpu_free};

uint64_t exe_cpu_token_hash(const exe_executor *e)
{
    if (!e || e->ops != &cpu_ops)
        return 0;
    const cpu_exec *x = e->ctx;
    uint64_t h = 0;
    for (int64_t r = 0; r < x->o.n_requests; r++) /* a sum: independent of the interleaving */
        h += rng_mix64(x->tok_hash[r] ^ (uint64_t)r);
    return h ? h : 1;
}

db_status exe_cpu_init(exe_executor *e, const exe_cpu_opts *opts)
{
    e->ops = NULL;
    e->ctx = NULL;
    if (opts->n_models < 1 || opts->n_requests < 1 || opts->max_batch < 1 || opts->max_rows < 1 ||
        opts->max_len < 2 || opts->threads < 1)
        return db_error(DB_ERR_ARG, "executor cpu: impossible options");
    cpu_exec *x = db_calloc(1, sizeof *x);
    if (!x)
        return db_error(DB_ERR_NOMEM, "executor cpu: out of memory");
    x->o = *opts;
    size_t M = (size_t)opts->n_models, R = (size_t)opts->n_requests, B = (size_t)opts->max_batch;
    x->file = db_calloc(M, sizeof *x->file);
    x->ft_file = db_calloc(MAX_FT, sizeof *x->ft_file);
    x->w = db_calloc(M, sizeof *x->w);
    x->slot_of = db_malloc_array(R, sizeof *x->slot_of);
    x->last_tok = db_calloc(R, sizeof *x->last_tok);
    x->seen = db_calloc(R, sizeof *x->seen);
    x->owner = db_malloc_array(B, sizeof *x->owner);
    x->free_slot = db_malloc_array(B, sizeof *x->free_slot);
    x->rq = db_calloc(B, sizeof *x->rq);
    x->next = db_calloc(B, sizeof *x->next);
    x->tok = db_calloc((size_t)opts->max_rows, sizeof *x->tok);
    x->rbuf = db_malloc(READ_CHUNK);
    x->tok_hash = db_malloc_array(R, sizeof *x->tok_hash);
    db_status s = DB_OK;
    if (!x->file || !x->ft_file || !x->w || !x->slot_of || !x->last_tok || !x->seen || !x->owner ||
        !x->free_slot || !x->rq || !x->next || !x->tok || !x->rbuf || !x->tok_hash)
        s = db_error(DB_ERR_NOMEM, "out of memory for %zu requests", R);
    if (!s) {
        for (size_t r = 0; r < R; r++)
            x->slot_of[r] = -1, x->tok_hash[r] = 0xcbf29ce484222325ULL;
        for (size_t i = 0; i < B; i++)
            x->owner[i] = -1, x->free_slot[i] = (int32_t)(B - 1 - i);
        x->n_free = (int32_t)B;
        s = setup(x);
    }
    if (s) {
        s = db_error(s, "executor cpu: %s", db_errmsg()); /* before freeing, which may report */
        cpu_free(x);
        return s;
    }
    e->ops = &cpu_ops;
    e->ctx = x;
    return DB_OK;
}

/* ---- calibration ----------------------------------------------------------------------------- */

/* What the fit explains of a sample: its seconds less the roofline terms at the profile's rates.
 * The probe measured those rates on this machine, so a kernel is taken to be at best that fast:
 * a roofline column's coefficient is c - 1 >= 0 (eff = 1 / c), and a column the fit drops costs
 * exactly what the simulator charges for it (c = 1), so the fit and `simulate` are one model. */
static double cal_target(const double *row)
{
    return row[0] - row[EXE_CAL_GEMM] - row[EXE_CAL_DELTA] - row[EXE_CAL_ATTN];
}

/* Least squares of cal_target on the columns in `use` (0: intercept, then the features),
 * unweighted: a latency is a sum of iteration times, so absolute errors are what must be small
 * (relative weights fit the many short decodes and underpredicted every sum by 3x). Normal equations of
 * the columns scaled to unit RMS (tokens and seconds differ by 1e6); coef[j] = 0 for unused
 * columns. Eliminates the roofline terms first, so when a column is a combination of earlier
 * ones (a compute-bound GEMM term is proportional to the tokens) the returned column is the ad
 * hoc one; -1 when solved. */
static int lsq(const double (*cal)[EXE_CAL_COLS], int64_t n, const bool use[EXE_CAL_COLS],
                double coef[EXE_CAL_COLS])
{
    double A[EXE_CAL_COLS][EXE_CAL_COLS + 1] = {{0}}, scale[EXE_CAL_COLS] = {0};
    static const int order[EXE_CAL_COLS] = {EXE_CAL_GEMM, EXE_CAL_DELTA, EXE_CAL_ATTN, 0, EXE_CAL_TOKENS, EXE_CAL_MODELS};
    int idx[EXE_CAL_COLS], k = 0;
    for (int j = 0; j < EXE_CAL_COLS; j++)
        if (use[order[j]])
            idx[k++] = order[j];
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < EXE_CAL_COLS; j++)
            scale[j] += j ? cal[i][j] * cal[i][j] : 1;
    for (int j = 0; j < EXE_CAL_COLS; j++)
        scale[j] = scale[j] > 0 ? sqrt(scale[j] / (double)n) : 1;
    for (int64_t i = 0; i < n; i++) {
        double f[EXE_CAL_COLS];
        for (int j = 0; j < EXE_CAL_COLS; j++)
            f[j] = (j ? cal[i][j] : 1) / scale[j];
        for (int a = 0; a < k; a++) {
            for (int b = 0; b < k; b++)
                A[a][b] += f[idx[a]] * f[idx[b]];
            A[a][k] += f[idx[a]] * cal_target(cal[i]);
        }
    }
    for (int c = 0; c < k; c++) { /* Gauss-Jordan with partial pivoting */
        int p = c;
        for (int r = c + 1; r < k; r++)
            if (fabs(A[r][c]) > fabs(A[p][c]))
                p = r;
        if (fabs(A[p][c]) < 1e-9 * (double)n)
            return idx[c];
        for (int j = 0; j <= k; j++) {
            double t = A[c][j];
            A[c][j] = A[p][j], A[p][j] = t;
        }
        for (int r = 0; r < k; r++) {
            if (r == c)
                continue;
            double f = A[r][c] / A[c][c];
            for (int j = c; j <= k; j++)
                A[r][j] -= f * A[c][j];
        }
    }
    for (int j = 0; j < EXE_CAL_COLS; j++)
        coef[j] = 0;
    for (int a = 0; a < k; a++)
        coef[idx[a]] = A[a][k] / A[a][a] / scale[idx[a]];
    return -1;
}

db_status exe_calib_fit(const double (*cal)[EXE_CAL_COLS], int64_t n, double coef[EXE_CAL_COLS],
                        double *mean_err)
{
    /* Non-negative fit: drop a column whose coefficient comes out <= 0 (or that is all zero,
     * e.g. the delta term of a full-model policy, or that the others explain) and fit again. */
    bool use[EXE_CAL_COLS] = {true};
    for (int64_t i = 0; i < n; i++)
        for (int j = 1; j < EXE_CAL_COLS; j++)
            use[j] = use[j] || cal[i][j] > 0;
    for (int j = 0; j < EXE_CAL_COLS; j++)
        coef[j] = 0;
    for (int round = 0; round < 2 * EXE_CAL_COLS; round++) {
        int dep = lsq((const double(*)[EXE_CAL_COLS])cal, n, use, coef);
        if (dep >= 0) { /* a column the others already explain */
            use[dep] = false;
            continue;
        }
        bool again = false;
        for (int j = 0; j < EXE_CAL_COLS; j++)
            if (use[j] && coef[j] <= 0)
                use[j] = false, again = true;
        if (!again)
            break;
    }
    bool any = false;
    for (int j = 0; j < EXE_CAL_COLS; j++)
        any = any || use[j];
    if (!any)
        return db_error(DB_ERR_ARG, "calibration: nothing to fit (the iterations took no longer "
                        "than the roofline at the profile's rates)");
    double err = 0;
    for (int64_t i = 0; i < n; i++) {
        const double *r = cal[i];
        double p = r[0] - cal_target(r) + coef[0];
        for (int j = 1; j < EXE_CAL_COLS; j++)
            p += coef[j] * r[j];
        err += fabs(p - r[0]) / r[0];
    }
    *mean_err = err / (double)n;
    return DB_OK;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double exe_lat_strata(const double (*ld)[2], int64_t n, double bw, hw_lat *out)
{
    memset(out, 0, sizeof *out);
    double *lat = db_malloc_array((size_t)(n > 0 ? n : 1), sizeof *lat), mean = 0;
    if (!lat || n <= 0) {
        db_free(lat);
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        lat[i] = ld[i][0] - ld[i][1] / bw;
        if (lat[i] < 0)
            lat[i] = 0;
        mean += lat[i];
    }
    qsort(lat, (size_t)n, sizeof *lat, cmp_dbl);
    out->n = n < HW_MAX_LAT ? (int)n : HW_MAX_LAT;
    for (int k = 0; k < out->n; k++) { /* stratum k: sorted [k·n/S, (k+1)·n/S) */
        int64_t a = k * n / out->n, b = (k + 1) * n / out->n;
        double sum = 0;
        for (int64_t i = a; i < b; i++)
            sum += lat[i];
        out->s[k] = sum / (double)(b - a);
    }
    db_free(lat);
    return mean / (double)n;
}

db_status exe_cpu_calibration_write(const exe_executor *e, const hw_profile *hw, const char *path)
{
    if (!e || e->ops != &cpu_ops || !((const cpu_exec *)e->ctx)->o.cost)
        return db_error(DB_ERR_ARG, "calibration: only the cpu executor measures");
    const cpu_exec *x = e->ctx;
    if (x->n_cal < 8)
        return db_error(DB_ERR_ARG, "calibration: %lld iterations measured; need at least 8 (a "
                        "longer trace)", (long long)x->n_cal);
    double coef[EXE_CAL_COLS], err;
    db_status s = exe_calib_fit((const double(*)[EXE_CAL_COLS])x->cal, x->n_cal, coef, &err);
    /* Loads measured but no iteration fit (tiny cache-resident weights can run faster than the
     * probe's roofline): the overlay keeps the load keys and says why it has no others. */
    const bool fitted = s == DB_OK;
    char why[256];
    snprintf(why, sizeof why, "%s", fitted ? "" : db_errmsg());
    if (!fitted && (s != DB_ERR_ARG || (x->n_disk == 0 && x->n_pcie == 0)))
        return s;
    const cost_ctx *c = x->o.cost;
    double base_eff[EXE_CAL_COLS] = {0};
    base_eff[EXE_CAL_GEMM] = c->fl_gemm / hw->peak_flops;
    base_eff[EXE_CAL_DELTA] = c->format ? c->fl_delta / hw->peak_flops : 1;
    base_eff[EXE_CAL_ATTN] = c->fl_attn / hw->peak_flops;
    fs_out o;
    if ((s = fs_out_open(&o, path)))
        return s;
    if (!fitted)
        fprintf(o.fp, "# calibration of the cost model against the cpu executor (deltabench serve "
                      "--calib-out): %lld iterations NOT fitted (%s): the profile's iteration "
                      "keys stay; %lld disk reads, %lld PCIe-stage builds\n",
                (long long)x->n_cal, why, (long long)x->n_disk, (long long)x->n_pcie);
    else
        fprintf(o.fp, "# calibration of the cost model against the cpu executor (deltabench serve "
                      "--calib-out): %lld iterations, fit mean |error| %.1f %%; %lld disk reads, "
                      "%lld PCIe-stage builds\n# fitted: overhead %g s, per token %g s, per model "
                      "%g s, c_gemm %g, c_delta %g, c_attn %g (time over the probe's roofline)\n",
                (long long)x->n_cal, 100 * err, (long long)x->n_disk, (long long)x->n_pcie,
                coef[0], coef[EXE_CAL_TOKENS], coef[EXE_CAL_MODELS], 1 + coef[EXE_CAL_GEMM],
                1 + coef[EXE_CAL_DELTA], 1 + coef[EXE_CAL_ATTN]);
    if (fitted)
        fprintf(o.fp, "step_overhead_us = %.6g\nstep_token_us = %.6g\nstep_model_us = %.6g\n",
                coef[0] * 1e6, coef[EXE_CAL_TOKENS] * 1e6, coef[EXE_CAL_MODELS] * 1e6);
    for (int j = EXE_CAL_GEMM; fitted && j <= EXE_CAL_ATTN; j++) {
        const char *kk = j == EXE_CAL_GEMM    ? "gemm"
                         : j == EXE_CAL_ATTN  ? "attn"
                         : c->format      ? c->format->eff_key
                                          : NULL;
        if (!kk)
            continue;
        const double eff = base_eff[j] / (1 + coef[j]);
        fprintf(o.fp, "eff.%s.mem = %.6g\neff.%s.compute = %.6g\n", kk, eff, kk, eff);
    }
    /* Loads: each stage's time = a latency + bytes / the profile's bandwidth (the probe's
     * sequential cold read for the disk, its memcpy for the build), the latencies measured:
     * strata of every load of the run, so the simulator draws reads as slow and as fast as
     * they came (docs/serving.md, "Where loads dominate"). */
    for (int w = 0; w < 2; w++) {
        if (!x->n_ld[w])
            continue;
        hw_lat l;
        double mean = exe_lat_strata(x->ld[w], x->n_ld[w], w ? hw->pcie_bw : hw->disk_bw, &l);
        fprintf(o.fp, "%s =", w ? "load_lat_us" : "disk_lat_us");
        for (int i = 0; i < l.n; i++)
            fprintf(o.fp, " %.6g", l.s[i] * 1e6);
        fprintf(o.fp, "   # %lld %s: latency = seconds - bytes / %s_gbps (%.6g), strata means\n",
                (long long)x->n_ld[w], w ? "builds" : "cold reads", w ? "pcie" : "disk",
                (w ? hw->pcie_bw : hw->disk_bw) / 1e9);
        if (w)
            fprintf(o.fp, "load_overhead_ms = %.6g   # their mean\n", mean * 1e3);
    }
    return fs_out_commit(&o);
}
