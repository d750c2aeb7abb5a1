/* sweep.c: grids of deltabench runs (see sweep.h and docs/sweeps.md): the sweep file, its cells
 * and their hashes, running them here or on Slurm, and gathering their rows.
 *
 * Every string and table of a loaded sweep lives in one pool (a list of chunks) freed at once
 * by sw_free. Cells run as the same binary forked and exec'd with an argument vector: no shell
 * ever parses a cell's arguments. */
#define _GNU_SOURCE /* qsort_r, pipe2 */
#include "harness/sweep.h"

#include <cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/hash.h"
#include "core/log.h"
#include "core/results.h"

/* ---- the pool ---------------------------------------------------------------------------- */

typedef struct pool_chunk {
    struct pool_chunk *next;
    size_t used, cap;
    _Alignas(8) unsigned char data[];
} pool_chunk;

typedef struct {
    pool_chunk *head;
} pool;

static void *pool_alloc(pool *p, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    if (!p->head || p->head->cap - p->head->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        pool_chunk *c = db_malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->next = p->head;
        c->used = 0;
        c->cap = cap;
        p->head = c;
    }
    void *r = p->head->data + p->head->used;
    p->head->used += n;
    memset(r, 0, n);
    return r;
}

static char *pool_strdup(pool *p, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = pool_alloc(p, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void pool_free(pool *p)
{
    while (p->head) {
        pool_chunk *n = p->head->next;
        db_free(p->head);
        p->head = n;
    }
}

/* ---- the sweep ----------------------------------------------------------------------------- */

typedef struct {
    char *label; /* the value as a column entry and in {axis} placeholders */
    int nargs;
    char **args; /* the options it adds (placeholders not yet substituted) */
} sw_value;

typedef struct {
    char *name;
    int nvalues;
    sw_value *values;
} sw_axis;

struct sw_sweep {
    pool p;
    char *path, *dir, *table, *output;
    int ncmd, nargs, naxes, nrules;
    char **cmd, **args;
    sw_axis *axes;
    bool ***rules;  /* rules[r][axis]: the excluded values (NULL: any value) */
    int64_t ncells;
    int *vals;      /* ncells x naxes value indices */
    char (*hash)[SW_HASH_LEN + 1];
    char ***argv;   /* per cell, NULL-terminated */
    char plan_hash[SW_HASH_LEN + 1];
    bool needs_gpu;
};

static const char *const reserved_columns[] = {"cell", "cell_hash", "git_commit", "host",
                                               "gpu_name"};

static db_status bad(const sw_sweep *sw, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static db_status bad(const sw_sweep *sw, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return db_error(DB_ERR_FORMAT, "%s: %s", sw->path, msg);
}

static db_status oom(const sw_sweep *sw)
{
    return db_error(DB_ERR_NOMEM, "%s: out of memory", sw->path);
}

/* An argument: a JSON string, or a number in its shortest form. */
static char *json_arg(sw_sweep *sw, const cJSON *j)
{
    if (cJSON_IsString(j))
        return pool_strdup(&sw->p, j->valuestring);
    if (!cJSON_IsNumber(j))
        return NULL;
    char *t = cJSON_PrintUnformatted(j);
    char *r = t ? pool_strdup(&sw->p, t) : NULL;
    cJSON_free(t);
    return r;
}

static bool name_ok(const char *s)
{
    if (!*s || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

static int axis_find(const sw_sweep *sw, const char *name, size_t n)
{
    for (int a = 0; a < sw->naxes; a++)
        if (strlen(sw->axes[a].name) == n && !strncmp(sw->axes[a].name, name, n))
            return a;
    return -1;
}

/* Calls fn for each placeholder {NAME} of s (NAME of letters, digits, '_'); other braces are
 * literal. */
static const char *next_placeholder(const char *s, size_t *len)
{
    for (const char *b = strchr(s, '{'); b; b = strchr(b + 1, '{')) {
        const char *e = b + 1;
        while (isalnum((unsigned char)*e) || *e == '_')
            e++;
        if (*e == '}' && e > b + 1) {
            *len = (size_t)(e - b + 1);
            return b;
        }
    }
    return NULL;
}

static db_status check_placeholders(sw_sweep *sw, const char *where, const char *s)
{
    size_t len;
    for (const char *b = next_placeholder(s, &len); b; b = next_placeholder(b + len, &len)) {
        if (len == 6 && !strncmp(b, "{cell}", 6))
            continue;
        if (axis_find(sw, b + 1, len - 2) < 0)
            return bad(sw, "%s: '%.*s' names no axis (placeholders: {cell} and the axes)", where,
                       (int)len, b);
    }
    if (!strcmp(s, sw->output))
        return bad(sw, "%s: '%s' is the output option, which sweep adds to every cell", where, s);
    return DB_OK;
}

/* Reads an array of arguments (strings or numbers) into *args. */
static db_status read_args(sw_sweep *sw, const cJSON *j, const char *where, char ***args, int *n)
{
    if (!cJSON_IsArray(j))
        return bad(sw, "%s must be an array of strings", where);
    int k = cJSON_GetArraySize(j);
    *args = pool_alloc(&sw->p, sizeof(char *) * (size_t)(k + 1));
    if (!*args)
        return oom(sw);
    *n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, j) {
        char *a = json_arg(sw, e);
        if (!a)
            return cJSON_IsString(e) || cJSON_IsNumber(e) ? oom(sw)
                                                           : bad(sw, "%s: element %d is not a string",
                                                                 where, *n);
        (*args)[(*n)++] = a;
    }
    return DB_OK;
}

static db_status read_axis(sw_sweep *sw, const cJSON *j, int idx, sw_axis *ax)
{
    char where[128];
    snprintf(where, sizeof where, "axes[%d]", idx);
    if (!cJSON_IsObject(j))
        return bad(sw, "%s must be an object with name and values", where);
    const cJSON *name = NULL, *option = NULL, *values = NULL, *k;
    cJSON_ArrayForEach(k, j) {
        if (!strcmp(k->string, "name"))
            name = k;
        else if (!strcmp(k->string, "option"))
            option = k;
        else if (!strcmp(k->string, "values"))
            values = k;
        else
            return bad(sw, "%s: unknown key '%s' (name, option, values)", where, k->string);
    }
    if (!cJSON_IsString(name) || !name_ok(name->valuestring))
        return bad(sw, "%s: name must be a string of letters, digits and '_'", where);
    ax->name = pool_strdup(&sw->p, name->valuestring);
    if (!ax->name)
        return oom(sw);
    for (size_t r = 0; r < sizeof reserved_columns / sizeof *reserved_columns; r++)
        if (!strcmp(ax->name, reserved_columns[r]))
            return bad(sw, "%s: '%s' is a column gather adds; name the axis otherwise", where,
                       ax->name);
    if (option && !cJSON_IsString(option))
        return bad(sw, "axis %s: option must be a string", ax->name);
    int nv = cJSON_GetArraySize(values);
    bool labels = cJSON_IsArray(values); /* labels; with option, each adds "OPTION label" */
    if (!labels && (option || !cJSON_IsObject(values)))
        return bad(sw, option ? "axis %s: values must be an array (with option)"
                              : "axis %s: values must be an array of labels or an object of "
                                "label: [arguments]",
                   ax->name);
    if (nv < 1)
        return bad(sw, "axis %s: no values", ax->name);
    ax->values = pool_alloc(&sw->p, sizeof(sw_value) * (size_t)nv);
    if (!ax->values)
        return oom(sw);
    const cJSON *v;
    cJSON_ArrayForEach(v, values) {
        sw_value *x = &ax->values[ax->nvalues];
        char vw[200];
        if (labels) {
            x->label = json_arg(sw, v);
            if (!x->label)
                return cJSON_IsString(v) || cJSON_IsNumber(v)
                           ? oom(sw)
                           : bad(sw, "axis %s: value %d is not a string or a number", ax->name,
                                 ax->nvalues);
            if (option) {
                x->args = pool_alloc(&sw->p, 2 * sizeof(char *));
                if (!x->args || !(x->args[0] = pool_strdup(&sw->p, option->valuestring)))
                    return oom(sw);
                x->args[1] = x->label;
                x->nargs = 2;
            }
        } else {
            x->label = pool_strdup(&sw->p, v->string);
            if (!x->label)
                return oom(sw);
            snprintf(vw, sizeof vw, "axis %s: value '%.100s'", ax->name, v->string);
            db_status s = read_args(sw, v, vw, &x->args, &x->nargs);
            if (s)
                return s;
        }
        if (!*x->label)
            return bad(sw, "axis %s: an empty value label", ax->name);
        for (int i = 0; i < ax->nvalues; i++)
            if (!strcmp(ax->values[i].label, x->label))
                return bad(sw, "axis %s: value '%s' twice", ax->name, x->label);
        ax->nvalues++;
    }
    return DB_OK;
}

static db_status read_rule(sw_sweep *sw, const cJSON *j, int r)
{
    if (!cJSON_IsObject(j) || !cJSON_GetArraySize(j))
        return bad(sw, "exclude[%d] must be an object of axis: value or [values]", r);
    bool **rule = pool_alloc(&sw->p, sizeof(bool *) * (size_t)sw->naxes);
    if (!rule)
        return oom(sw);
    sw->rules[r] = rule;
    const cJSON *k;
    cJSON_ArrayForEach(k, j) {
        int a = axis_find(sw, k->string, strlen(k->string));
        if (a < 0)
            return bad(sw, "exclude[%d]: '%s' is not an axis", r, k->string);
        const sw_axis *ax = &sw->axes[a];
        rule[a] = pool_alloc(&sw->p, sizeof(bool) * (size_t)ax->nvalues);
        if (!rule[a])
            return oom(sw);
        int n = cJSON_IsArray(k) ? cJSON_GetArraySize(k) : 1;
        if (!n)
            return bad(sw, "exclude[%d]: %s: no values", r, ax->name);
        for (int i = 0; i < n; i++) {
            const cJSON *e = cJSON_IsArray(k) ? cJSON_GetArrayItem(k, i) : k;
            char *lab = json_arg(sw, e);
            if (!lab)
                return bad(sw, "exclude[%d]: %s: values must be strings or numbers", r, ax->name);
            int v = 0;
            while (v < ax->nvalues && strcmp(ax->values[v].label, lab))
                v++;
            if (v == ax->nvalues)
                return bad(sw, "exclude[%d]: '%s' is not a value of axis %s", r, lab, ax->name);
            rule[a][v] = true;
        }
    }
    return DB_OK;
}

static db_status read_sweep(sw_sweep *sw, const cJSON *root)
{
    if (!cJSON_IsObject(root))
        return bad(sw, "not a JSON object");
    const cJSON *ver = NULL, *cmd = NULL, *args = NULL, *output = NULL, *table = NULL,
                *axes = NULL, *excl = NULL, *k;
    static const char keys[] = "deltabench_sweep, command, args, output, table, axes, exclude";
    cJSON_ArrayForEach(k, root) {
        const cJSON **slot = !strcmp(k->string, "deltabench_sweep") ? &ver
                             : !strcmp(k->string, "command")        ? &cmd
                             : !strcmp(k->string, "args")           ? &args
                             : !strcmp(k->string, "output")         ? &output
                             : !strcmp(k->string, "table")          ? &table
                             : !strcmp(k->string, "axes")           ? &axes
                             : !strcmp(k->string, "exclude")        ? &excl
                                                                    : NULL;
        if (!slot)
            return bad(sw, "unknown key '%s' (%s)", k->string, keys);
        *slot = k;
    }
    if (!cJSON_IsNumber(ver) || ver->valuedouble != 1)
        return bad(sw, "\"deltabench_sweep\": 1 (the format version) is required");
    if (output && (!cJSON_IsString(output) || strncmp(output->valuestring, "--", 2)))
        return bad(sw, "output must be an option such as \"--out\"");
    if (table && (!cJSON_IsString(table) || !*table->valuestring))
        return bad(sw, "table must be a table name such as \"summary\"");
    sw->output = pool_strdup(&sw->p, output ? output->valuestring : "--out");
    sw->table = pool_strdup(&sw->p, table ? table->valuestring : "summary");
    if (!sw->output || !sw->table)
        return oom(sw);
    db_status s;
    if (cJSON_IsString(cmd)) {
        sw->cmd = pool_alloc(&sw->p, sizeof(char *));
        if (!sw->cmd || !(sw->cmd[0] = pool_strdup(&sw->p, cmd->valuestring)))
            return oom(sw);
        sw->ncmd = 1;
    } else if (!cmd) {
        return bad(sw, "command (the subcommand, e.g. \"simulate\" or [\"trace\", \"gen\"]) is "
                       "required");
    } else if ((s = read_args(sw, cmd, "command", &sw->cmd, &sw->ncmd))) {
        return s;
    }
    if (!sw->ncmd || !name_ok(sw->cmd[0]) || !strcmp(sw->cmd[0], "sweep"))
        return bad(sw, "command: '%s' is not a subcommand a sweep can run",
                   sw->ncmd ? sw->cmd[0] : "");
    if (args && (s = read_args(sw, args, "args", &sw->args, &sw->nargs)))
        return s;
    if (!cJSON_IsArray(axes) || cJSON_GetArraySize(axes) < 1)
        return bad(sw, "axes must be a non-empty array");
    int na = cJSON_GetArraySize(axes);
    sw->axes = pool_alloc(&sw->p, sizeof(sw_axis) * (size_t)na);
    if (!sw->axes)
        return oom(sw);
    for (int a = 0; a < na; a++) {
        if ((s = read_axis(sw, cJSON_GetArrayItem(axes, a), a, &sw->axes[a])))
            return s;
        if (axis_find(sw, sw->axes[a].name, strlen(sw->axes[a].name)) >= 0)
            return bad(sw, "axis %s twice", sw->axes[a].name);
        sw->naxes++;
    }
    /* placeholders can name any axis, so they are checked once every axis is known */
    for (int i = 0; i < sw->nargs; i++)
        if ((s = check_placeholders(sw, "args", sw->args[i])))
            return s;
    for (int a = 0; a < sw->naxes; a++)
        for (int v = 0; v < sw->axes[a].nvalues; v++)
            for (int i = 0; i < sw->axes[a].values[v].nargs; i++) {
                char w[200];
                snprintf(w, sizeof w, "axis %s value '%.100s'", sw->axes[a].name,
                         sw->axes[a].values[v].label);
                if ((s = check_placeholders(sw, w, sw->axes[a].values[v].args[i])))
                    return s;
            }
    if (excl) {
        if (!cJSON_IsArray(excl))
            return bad(sw, "exclude must be an array of objects");
        sw->nrules = cJSON_GetArraySize(excl);
        sw->rules = pool_alloc(&sw->p, sizeof(bool **) * (size_t)(sw->nrules + 1));
        if (!sw->rules)
            return oom(sw);
        for (int r = 0; r < sw->nrules; r++)
            if ((s = read_rule(sw, cJSON_GetArrayItem(excl, r), r)))
                return s;
    }
    return DB_OK;
}

/* ---- cells --------------------------------------------------------------------------------- */

static bool excluded(const sw_sweep *sw, const int *v)
{
    for (int r = 0; r < sw->nrules; r++) {
        bool all = true;
        for (int a = 0; a < sw->naxes && all; a++)
            if (sw->rules[r][a] && !sw->rules[r][a][v[a]])
                all = false;
        if (all)
            return true;
    }
    return false;
}

/* s with every {axis} of cell c (and {cell} when stem is not NULL) replaced. */
static char *subst(sw_sweep *sw, const char *s, const int *v, const char *stem)
{
    size_t n = 0, len;
    const char *p = s;
    for (const char *b = next_placeholder(p, &len); b; b = next_placeholder(p, &len)) {
        int a = axis_find(sw, b + 1, len - 2);
        const char *rep = a >= 0 ? sw->axes[a].values[v[a]].label : stem;
        n += (size_t)(b - p) + (rep ? strlen(rep) : len);
        p = b + len;
    }
    n += strlen(p);
    char *out = pool_alloc(&sw->p, n + 1), *o = out;
    if (!out)
        return NULL;
    p = s;
    for (const char *b = next_placeholder(p, &len); b; b = next_placeholder(p, &len)) {
        int a = axis_find(sw, b + 1, len - 2);
        const char *rep = a >= 0 ? sw->axes[a].values[v[a]].label : stem;
        memcpy(o, p, (size_t)(b - p));
        o += b - p;
        size_t rl = rep ? strlen(rep) : len;
        memcpy(o, rep ? rep : b, rl);
        o += rl;
        p = b + len;
    }
    strcpy(o, p);
    return out;
}

static int cmp_hash_idx(const void *a, const void *b, void *ctx)
{
    const sw_sweep *sw = ctx;
    return strcmp(sw->hash[*(const int64_t *)a], sw->hash[*(const int64_t *)b]);
}

/* Builds cell c's argument vector (the hash over it first, with {cell} unresolved). */
static db_status build_cell(sw_sweep *sw, int64_t c)
{
    const int *v = sw->vals + c * sw->naxes;
    int n = sw->ncmd + sw->nargs + 2;
    for (int a = 0; a < sw->naxes; a++)
        n += sw->axes[a].values[v[a]].nargs;
    char **argv = pool_alloc(&sw->p, sizeof(char *) * (size_t)(n + 1));
    if (!argv)
        return oom(sw);
    const char **src = pool_alloc(&sw->p, sizeof(char *) * (size_t)n);
    if (!src)
        return oom(sw);
    int k = 0;
    for (int i = 0; i < sw->ncmd; i++)
        src[k++] = sw->cmd[i];
    for (int i = 0; i < sw->nargs; i++)
        src[k++] = sw->args[i];
    for (int a = 0; a < sw->naxes; a++)
        for (int i = 0; i < sw->axes[a].values[v[a]].nargs; i++)
            src[k++] = sw->axes[a].values[v[a]].args[i];
    hash_state h;
    hash_init(&h, 0x5357454550ull); /* "SWEEP" */
    for (int i = 0; i < k; i++) {
        char *x = subst(sw, src[i], v, NULL);
        if (!x)
            return oom(sw);
        hash_update(&h, x, strlen(x) + 1); /* the NUL keeps argument boundaries */
    }
    snprintf(sw->hash[c], SW_HASH_LEN + 1, "%016" PRIx64, hash_final(&h));
    char stem[PATH_MAX];
    snprintf(stem, sizeof stem, "%s/cells/%s", sw->dir, sw->hash[c]);
    for (int i = 0; i < k; i++)
        if (!(argv[i] = subst(sw, src[i], v, stem)))
            return oom(sw);
    for (int i = 0; i + 1 < k; i++)
        if ((!strcmp(argv[i], "--device") || !strcmp(argv[i], "--executor")) &&
            !strcmp(argv[i + 1], "cuda"))
            sw->needs_gpu = true;
    argv[k++] = sw->output;
    char run[PATH_MAX + 8];
    snprintf(run, sizeof run, "%s.h5", stem);
    if (!(argv[k++] = pool_strdup(&sw->p, run)))
        return oom(sw);
    argv[k] = NULL;
    sw->argv[c] = argv;
    return DB_OK;
}

static db_status build_cells(sw_sweep *sw)
{
    int64_t total = 1;
    for (int a = 0; a < sw->naxes; a++) {
        total *= sw->axes[a].nvalues;
        if (total > SW_MAX_CELLS)
            return bad(sw, "more than %d cells", SW_MAX_CELLS);
    }
    sw->vals = pool_alloc(&sw->p, sizeof(int) * (size_t)(total * sw->naxes));
    if (!sw->vals)
        return oom(sw);
    int *v = pool_alloc(&sw->p, sizeof(int) * (size_t)sw->naxes);
    if (!v)
        return oom(sw);
    for (int64_t t = 0; t < total; t++) { /* the first axis slowest, the last fastest */
        int64_t r = t;
        for (int a = sw->naxes - 1; a >= 0; a--) {
            v[a] = (int)(r % sw->axes[a].nvalues);
            r /= sw->axes[a].nvalues;
        }
        if (!excluded(sw, v))
            memcpy(sw->vals + sw->ncells++ * sw->naxes, v, sizeof(int) * (size_t)sw->naxes);
    }
    if (!sw->ncells)
        return bad(sw, "every cell is excluded");
    sw->hash = pool_alloc(&sw->p, sizeof *sw->hash * (size_t)sw->ncells);
    sw->argv = pool_alloc(&sw->p, sizeof(char **) * (size_t)sw->ncells);
    int64_t *order = pool_alloc(&sw->p, sizeof(int64_t) * (size_t)sw->ncells);
    if (!sw->hash || !sw->argv || !order)
        return oom(sw);
    hash_state ph;
    hash_init(&ph, 0x504c414eull); /* "PLAN" */
    for (int64_t c = 0; c < sw->ncells; c++) {
        db_status s = build_cell(sw, c);
        if (s)
            return s;
        hash_update(&ph, sw->hash[c], SW_HASH_LEN);
        order[c] = c;
    }
    snprintf(sw->plan_hash, sizeof sw->plan_hash, "%016" PRIx64, hash_final(&ph));
    qsort_r(order, (size_t)sw->ncells, sizeof *order, cmp_hash_idx, sw);
    for (int64_t i = 1; i < sw->ncells; i++)
        if (!strcmp(sw->hash[order[i - 1]], sw->hash[order[i]])) {
            int64_t a = order[i - 1] < order[i] ? order[i - 1] : order[i];
            int64_t b = order[i - 1] < order[i] ? order[i] : order[i - 1];
            return bad(sw, "cells %" PRId64 " and %" PRId64 " run the same command line (an "
                           "axis whose values add no different arguments?)", a, b);
        }
    return DB_OK;
}

db_status sw_load(const char *path, const char *dir, sw_sweep **out)
{
    *out = NULL;
    sw_sweep *sw = db_calloc(1, sizeof *sw);
    if (!sw)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    char *text = NULL;
    size_t n = 0;
    cJSON *root = NULL;
    db_status s = DB_OK;
    char defdir[PATH_MAX];
    if (!dir) {
        size_t l = strlen(path);
        int cut = l > 5 && !strcmp(path + l - 5, ".json") ? 5 : 0;
        snprintf(defdir, sizeof defdir, "%.*s.d", (int)(l - (size_t)cut), path);
        dir = defdir;
    }
    sw->path = pool_strdup(&sw->p, path);
    sw->dir = pool_strdup(&sw->p, dir);
    if (!sw->path || !sw->dir) {
        s = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if ((s = fs_read_all(path, &text, &n)))
        goto done;
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
    if (!root) {
        size_t at = end && end >= text ? (size_t)(end - text) : 0, line = 1;
        for (size_t i = 0; i < at && i < n; i++)
            line += text[i] == '\n';
        s = bad(sw, "not valid JSON (line %zu)", line);
        goto done;
    }
    if ((s = read_sweep(sw, root)) || (s = build_cells(sw)))
        goto done;
done:
    cJSON_Delete(root);
    db_free(text);
    if (s) {
        sw_free(sw);
        return s;
    }
    *out = sw;
    return DB_OK;
}

void sw_free(sw_sweep *sw)
{
    if (!sw)
        return;
    pool_free(&sw->p);
    db_free(sw);
}

int64_t sw_ncells(const sw_sweep *sw) { return sw->ncells; }
int sw_naxes(const sw_sweep *sw) { return sw->naxes; }
const char *sw_axis_name(const sw_sweep *sw, int axis) { return sw->axes[axis].name; }
const char *sw_dir(const sw_sweep *sw) { return sw->dir; }
const char *sw_table(const sw_sweep *sw) { return sw->table; }
const char *sw_cell_hash(const sw_sweep *sw, int64_t i) { return sw->hash[i]; }
char *const *sw_cell_argv(const sw_sweep *sw, int64_t i) { return sw->argv[i]; }
const char *sw_plan_hash(const sw_sweep *sw) { return sw->plan_hash; }

const char *sw_cell_label(const sw_sweep *sw, int64_t i, int axis)
{
    return sw->axes[axis].values[sw->vals[i * sw->naxes + axis]].label;
}

void sw_cell_path(const sw_sweep *sw, int64_t i, const char *kind, char *buf, size_t n)
{
    bool log = !strcmp(kind, ".log");
    snprintf(buf, n, "%s/%s/%s%s", sw->dir, log ? "logs" : "cells", sw->hash[i], kind);
}

void sw_cell_desc(const sw_sweep *sw, int64_t i, char *buf, size_t n)
{
    size_t k = 0;
    buf[0] = 0;
    for (int a = 0; a < sw->naxes && k < n; a++) {
        int w = snprintf(buf + k, n - k, "%s%s=%s", a ? " " : "", sw->axes[a].name,
                         sw_cell_label(sw, i, a));
        if (w < 0)
            break;
        k += (size_t)w;
    }
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

sw_state sw_cell_state(const sw_sweep *sw, int64_t i)
{
    char p[PATH_MAX];
    sw_cell_path(sw, i, ".h5", p, sizeof p);
    if (exists(p))
        return SW_DONE;
    sw_cell_path(sw, i, ".log", p, sizeof p);
    return exists(p) ? SW_FAILED : SW_PENDING;
}

/* ---- running one cell ---------------------------------------------------------------------- */

static db_status mkdir_p(const char *dir)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", dir);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) && errno != EEXIST)
                return db_error(DB_ERR_IO, "%s: cannot create: %s", buf, strerror(errno));
            *p = '/';
        }
    if (mkdir(buf, 0777) && errno != EEXIST)
        return db_error(DB_ERR_IO, "%s: cannot create: %s", buf, strerror(errno));
    return DB_OK;
}

static db_status make_dirs(const sw_sweep *sw)
{
    char p[PATH_MAX];
    db_status s;
    snprintf(p, sizeof p, "%s/cells", sw->dir);
    if ((s = mkdir_p(p)))
        return s;
    snprintf(p, sizeof p, "%s/logs", sw->dir);
    return mkdir_p(p);
}

/* Starts cell i: its stdout and stderr into its log, stdin from /dev/null. */
static db_status cell_spawn(const sw_sweep *sw, int64_t i, const char *exe, pid_t *pid)
{
    char log[PATH_MAX];
    sw_cell_path(sw, i, ".log", log, sizeof log);
    int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return db_error(DB_ERR_IO, "%s: cannot create: %s", log, strerror(errno));
    char *const *args = sw->argv[i];
    int n = 0;
    while (args[n])
        n++;
    char **argv = db_malloc(sizeof(char *) * (size_t)(n + 2));
    if (!argv) {
        close(fd);
        return db_error(DB_ERR_NOMEM, "%s: out of memory", sw->path);
    }
    argv[0] = (char *)exe;
    memcpy(argv + 1, args, sizeof(char *) * (size_t)(n + 1));
    fflush(NULL);
    *pid = fork();
    if (*pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(exe, argv);
        dprintf(2, "deltabench sweep: %s: cannot run: %s\n", exe, strerror(errno));
        _exit(127);
    }
    int e = errno;
    close(fd);
    db_free(argv);
    if (*pid < 0)
        return db_error(DB_ERR_IO, "%s: cannot fork: %s", exe, strerror(e));
    return DB_OK;
}

/* The exit code of a finished cell from its wait status; 0 only with its run file written. */
static int cell_finish(const sw_sweep *sw, int64_t i, int st)
{
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    char p[PATH_MAX];
    sw_cell_path(sw, i, ".h5", p, sizeof p);
    if (code == 0 && !res_is_hdf5(p)) {
        char log[PATH_MAX];
        sw_cell_path(sw, i, ".log", log, sizeof log);
        FILE *f = fopen(log, "a");
        if (f) {
            fprintf(f, "deltabench sweep: the command exited 0 but wrote no run file %s\n", p);
            fclose(f);
        }
        code = 1;
    }
    return code;
}

db_status sw_cell_run(const sw_sweep *sw, int64_t i, const char *exe, int *exit_code)
{
    pid_t pid;
    db_status s = make_dirs(sw);
    if (s || (s = cell_spawn(sw, i, exe, &pid)))
        return s;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return db_error(DB_ERR_IO, "cell %" PRId64 ": wait failed: %s", i, strerror(errno));
    *exit_code = cell_finish(sw, i, st);
    return DB_OK;
}

static void report_failure(const sw_sweep *sw, int64_t i, const char *why, FILE *failures)
{
    if (!failures)
        return;
    char desc[1024], log[PATH_MAX];
    sw_cell_desc(sw, i, desc, sizeof desc);
    sw_cell_path(sw, i, ".log", log, sizeof log);
    fprintf(failures, "sweep: cell %" PRId64 " (%s) failed (%s): log %s\n", i, desc, why, log);
}

/* ---- the local backend --------------------------------------------------------------------- */

db_status sw_run_local(const sw_sweep *sw, const char *exe, int jobs, FILE *progress,
                       FILE *failures, sw_report *rep)
{
    *rep = (sw_report){.first_failed = -1};
    db_status s = make_dirs(sw);
    if (s)
        return s;
    int64_t *todo = db_malloc_array((size_t)sw->ncells, sizeof *todo), ntodo = 0;
    if (!todo)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", sw->path);
    for (int64_t i = 0; i < sw->ncells; i++) {
        if (sw_cell_state(sw, i) == SW_DONE)
            rep->skipped++;
        else
            todo[ntodo++] = i;
    }
    if (jobs < 1)
        jobs = 1;
    if (jobs > ntodo)
        jobs = ntodo ? (int)ntodo : 1;
    pid_t *pids = db_calloc((size_t)jobs, sizeof *pids);
    int64_t *cell = db_calloc((size_t)jobs, sizeof *cell);
    double *t0 = db_calloc((size_t)jobs, sizeof *t0);
    if (!pids || !cell || !t0) {
        s = db_error(DB_ERR_NOMEM, "%s: out of memory", sw->path);
        goto done;
    }
    if (progress && rep->skipped)
        fprintf(progress, "sweep: %" PRId64 " of %" PRId64 " cells done before\n", rep->skipped,
                sw->ncells);
    int64_t next = 0, finished = 0;
    int running = 0;
    while (next < ntodo || running) {
        for (int j = 0; j < jobs && next < ntodo && !s; j++) {
            if (pids[j])
                continue;
            if ((s = cell_spawn(sw, todo[next], exe, &pids[j])))
                break;
            cell[j] = todo[next++];
            t0[j] = db_now();
            running++;
        }
        if (!running)
            break;
        int st = 0;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            s = db_error(DB_ERR_IO, "sweep: wait failed: %s", strerror(errno));
            break;
        }
        int j = 0;
        while (j < jobs && pids[j] != pid)
            j++;
        if (j == jobs)
            continue; /* not one of ours */
        pids[j] = 0;
        running--;
        finished++;
        rep->ran++;
        int code = cell_finish(sw, cell[j], st);
        char desc[1024];
        sw_cell_desc(sw, cell[j], desc, sizeof desc);
        if (code) {
            rep->failed++;
            if (rep->first_failed < 0 || cell[j] < rep->first_failed)
                rep->first_failed = cell[j];
            char why[32];
            snprintf(why, sizeof why, "exit %d", code);
            report_failure(sw, cell[j], why, failures);
        } else if (progress) {
            fprintf(progress, "sweep: [%" PRId64 "/%" PRId64 "] cell %" PRId64 " (%s) done in %.1f s\n",
                    finished, ntodo, cell[j], desc, db_now() - t0[j]);
        }
        if (s) /* a spawn failed: wait for the others, start nothing more */
            next = ntodo;
    }
done:
    db_free(todo);
    db_free(pids);
    db_free(cell);
    db_free(t0);
    return s;
}

/* ---- the Slurm backend --------------------------------------------------------------------- */

/* Runs argv (searched in PATH) and captures stdout and stderr together into *out (NUL-terminated,
 * db_free). *code: its exit status, 127 when it could not be run. */
static db_status capture(char *const argv[], char **out, int *code)
{
    *out = NULL;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC))
        return db_error(DB_ERR_IO, "%s: pipe: %s", argv[0], strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return db_error(DB_ERR_IO, "%s: cannot fork: %s", argv[0], strerror(errno));
    }
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        if (nul >= 0)
            dup2(nul, 0);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        execvp(argv[0], argv);
        dprintf(2, "%s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    size_t n = 0, cap = 4096;
    char *buf = db_malloc(cap);
    db_status s = buf ? DB_OK : db_error(DB_ERR_NOMEM, "%s: out of memory", argv[0]);
    for (;;) {
        if (buf && n + 1024 > cap) {
            char *nb = db_realloc(buf, cap * 2);
            if (!nb) {
                s = db_error(DB_ERR_NOMEM, "%s: out of memory", argv[0]);
                db_free(buf);
                buf = NULL;
            } else {
                buf = nb;
                cap *= 2;
            }
        }
        char sink[1024];
        ssize_t r = read(fds[0], buf ? buf + n : sink, buf ? cap - n - 1 : sizeof sink);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (buf)
            n += (size_t)r;
    }
    close(fds[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            db_free(buf);
            return db_error(DB_ERR_IO, "%s: wait failed: %s", argv[0], strerror(errno));
        }
    if (s)
        return s;
    buf[n] = 0;
    *out = buf;
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return DB_OK;
}

/* The first line of s, for messages. */
static const char *first_line(const char *s, char *buf, size_t n)
{
    size_t k = strcspn(s, "\n");
    snprintf(buf, n, "%.*s", (int)(k < n - 1 ? k : n - 1), s);
    return buf;
}

static const char batch_script[] =
    "#!/bin/sh\n"
    "# One cell of a deltabench sweep per task of the job array (written by `deltabench sweep run\n"
    "# --backend slurm`): $1 is a shell file to source first (module loads; empty: none), the rest\n"
    "# the command, to which the task's index is added.\n"
    "setup=$1\n"
    "shift\n"
    "if [ -n \"$setup\" ]; then . \"$setup\" || exit 1; fi\n"
    "exec \"$@\" --index \"$SLURM_ARRAY_TASK_ID\"\n";

/* Appends "a-b" or "a" (with a comma before all but the first) for the runs of todo. */
static db_status array_spec(const int64_t *todo, int64_t n, int max_running, char **out)
{
    size_t cap = (size_t)n * 24 + 32;
    char *s = db_malloc(cap);
    if (!s)
        return db_error(DB_ERR_NOMEM, "sweep: out of memory");
    size_t k = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j + 1 < n && todo[j + 1] == todo[j] + 1)
            j++;
        k += (size_t)snprintf(s + k, cap - k, i ? ",%" PRId64 : "%" PRId64, todo[i]);
        if (j > i)
            k += (size_t)snprintf(s + k, cap - k, "-%" PRId64, todo[j]);
        i = j + 1;
    }
    if (max_running > 0)
        snprintf(s + k, cap - k, "%%%d", max_running);
    *out = s;
    return DB_OK;
}

typedef struct {
    char state[24];
    int exit_code; /* -1: unknown */
} task_info;

/* Reads each task's JobState and ExitCode from `scontrol -o show job ID` (one line per task). */
static void read_task_states(const char *jobid, int64_t ncells, task_info *t)
{
    char *argv[] = {"scontrol", "-o", "show", "job", (char *)jobid, NULL}, *out = NULL;
    int code = 0;
    if (capture(argv, &out, &code) || code) {
        db_free(out);
        db_error_clear();
        return;
    }
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char *a = strstr(line, "ArrayTaskId="), *st = strstr(line, "JobState="),
             *ex = strstr(line, "ExitCode=");
        if (!a || !st)
            continue;
        char *end;
        long long idx = strtoll(a + 12, &end, 10);
        if (end == a + 12 || (*end && *end != ' ') || idx < 0 || idx >= ncells)
            continue; /* a range of tasks not yet split */
        size_t k = strcspn(st + 9, " ");
        snprintf(t[idx].state, sizeof t[idx].state, "%.*s", (int)k, st + 9);
        t[idx].exit_code = ex ? atoi(ex + 9) : -1;
    }
    db_free(out);
}

/* Polls squeue until none of the job's tasks is left; progress when the counts change. */
static db_status follow(const sw_sweep *sw, const char *jobid, const int64_t *todo, int64_t ntodo,
                        double poll_s, FILE *progress)
{
    char *argv[] = {"squeue", "-h", "-r", "-j", (char *)jobid, "-o", "%T", NULL};
    char last[128] = "";
    int errors = 0;
    for (;;) {
        struct timespec ts = {(time_t)poll_s, (long)((poll_s - floor(poll_s)) * 1e9)};
        while (nanosleep(&ts, &ts) && errno == EINTR)
            ;
        char *out = NULL;
        int code = 0;
        db_status s = capture(argv, &out, &code);
        if (s)
            return s;
        if (code) {
            bool gone = strstr(out, "Invalid job id") != NULL;
            char l[256];
            first_line(out, l, sizeof l);
            db_free(out);
            if (gone)
                return DB_OK;
            if (code == 127)
                return db_error(DB_ERR_UNSUPPORTED, "squeue: not found on PATH");
            if (++errors >= 10)
                return db_error(DB_ERR_IO, "squeue -j %s failed 10 times: %s", jobid, l);
            continue;
        }
        errors = 0;
        int64_t running = 0, pending = 0, other = 0;
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
            if (!strcmp(line, "RUNNING") || !strcmp(line, "COMPLETING"))
                running++;
            else if (!strcmp(line, "PENDING") || !strcmp(line, "CONFIGURING"))
                pending++;
            else if (*line)
                other++;
        }
        db_free(out);
        int64_t done = 0;
        for (int64_t i = 0; i < ntodo; i++)
            done += sw_cell_state(sw, todo[i]) == SW_DONE;
        char now[128];
        snprintf(now, sizeof now, "%" PRId64 " of %" PRId64 " cells done, %" PRId64 " running, %" PRId64
                 " pending", done, ntodo, running, pending + other);
        if (progress && strcmp(now, last))
            fprintf(progress, "sweep: slurm job %s: %s\n", jobid, now);
        snprintf(last, sizeof last, "%s", now);
        if (!running && !pending && !other)
            return DB_OK;
    }
}

db_status sw_run_slurm(const sw_sweep *sw, const char *exe, const sw_slurm_opts *o,
                       FILE *progress, FILE *failures, sw_report *rep)
{
    *rep = (sw_report){.first_failed = -1};
    char dir[PATH_MAX], file[PATH_MAX], cwd[PATH_MAX], sdir[PATH_MAX + 8], script[PATH_MAX + 16],
        output[PATH_MAX + 32];
    db_status s = make_dirs(sw);
    if (s)
        return s;
    if (!realpath(sw->dir, dir) || !realpath(sw->path, file) || !getcwd(cwd, sizeof cwd))
        return db_error(DB_ERR_IO, "%s: cannot resolve: %s", sw->dir, strerror(errno));
    snprintf(sdir, sizeof sdir, "%s/slurm", dir);
    if ((s = mkdir_p(sdir)))
        return s;
    snprintf(script, sizeof script, "%s/cell.sh", sdir);
    fs_out fo;
    if ((s = fs_out_open(&fo, script)))
        return s;
    fputs(batch_script, fo.fp);
    if ((s = fs_out_commit(&fo)))
        return s;
    snprintf(output, sizeof output, "--output=%s/%%A_%%a.out", sdir);

    int64_t *todo = db_malloc_array((size_t)sw->ncells, sizeof *todo), ntodo = 0;
    task_info *tasks = db_calloc((size_t)sw->ncells, sizeof *tasks);
    char *spec = NULL, *out = NULL, **argv = NULL;
    if (!todo || !tasks) {
        s = db_error(DB_ERR_NOMEM, "sweep: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < sw->ncells; i++) {
        if (sw_cell_state(sw, i) == SW_DONE)
            rep->skipped++;
        else
            todo[ntodo++] = i;
    }
    if (!ntodo)
        goto done;
    if ((s = array_spec(todo, ntodo, o->max_running, &spec)))
        goto done;
    size_t nextra = 0;
    while (o->extra && o->extra[nextra])
        nextra++;
    argv = db_calloc(32 + nextra, sizeof *argv);
    char chdir_[PATH_MAX + 16], part[256], tim[256], gres[256];
    char *arrs = db_malloc(strlen(spec) + 16);
    if (!argv || !arrs) {
        db_free(arrs);
        s = db_error(DB_ERR_NOMEM, "sweep: out of memory");
        goto done;
    }
    sprintf(arrs, "--array=%s", spec);
    snprintf(chdir_, sizeof chdir_, "--chdir=%s", cwd);
    int k = 0;
    argv[k++] = "sbatch";
    argv[k++] = "--parsable";
    argv[k++] = "--job-name=deltabench-sweep";
    argv[k++] = arrs;
    argv[k++] = output;
    argv[k++] = chdir_;
    if (o->partition) {
        snprintf(part, sizeof part, "--partition=%s", o->partition);
        argv[k++] = part;
    }
    if (o->time) {
        snprintf(tim, sizeof tim, "--time=%s", o->time);
        argv[k++] = tim;
    }
    const char *g = o->gres ? o->gres : sw->needs_gpu ? "gpu:1" : NULL;
    if (g && *g) {
        snprintf(gres, sizeof gres, "--gres=%s", g);
        argv[k++] = gres;
    }
    for (size_t e = 0; e < nextra; e++)
        argv[k++] = o->extra[e];
    argv[k++] = script;
    argv[k++] = (char *)(o->setup ? o->setup : "");
    argv[k++] = (char *)exe;
    argv[k++] = "sweep";
    argv[k++] = "cell";
    argv[k++] = file;
    argv[k++] = "--dir";
    argv[k++] = dir;
    argv[k++] = "--plan";
    argv[k++] = (char *)sw->plan_hash;
    argv[k] = NULL;
    int code = 0;
    s = capture(argv, &out, &code);
    db_free(arrs);
    if (s)
        goto done;
    char line[512];
    if (code == 127) {
        s = db_error(DB_ERR_UNSUPPORTED, "sbatch: not found on PATH (is this a Slurm login node?)");
        goto done;
    }
    if (code) {
        s = db_error(DB_ERR_IO, "sbatch failed (exit %d): %s", code, first_line(out, line, sizeof line));
        goto done;
    }
    char jobid[64];
    size_t jl = strspn(out, "0123456789");
    if (!jl || jl >= sizeof jobid) {
        s = db_error(DB_ERR_IO, "sbatch: no job id in its output: %s", first_line(out, line, sizeof line));
        goto done;
    }
    snprintf(jobid, sizeof jobid, "%.*s", (int)jl, out);
    if (progress)
        fprintf(progress, "sweep: submitted %" PRId64 " cells as slurm job array %s (--array=%s); "
                          "task output in %s\n", ntodo, jobid, spec, sdir);
    if ((s = follow(sw, jobid, todo, ntodo, o->poll_s, progress)))
        goto done;
    for (int64_t i = 0; i < sw->ncells; i++)
        tasks[i].exit_code = -1;
    read_task_states(jobid, sw->ncells, tasks);
    for (int64_t t = 0; t < ntodo; t++) {
        int64_t i = todo[t];
        rep->ran++;
        if (sw_cell_state(sw, i) == SW_DONE)
            continue;
        rep->failed++;
        if (rep->first_failed < 0)
            rep->first_failed = i;
        char why[PATH_MAX + 160];
        if (tasks[i].state[0])
            snprintf(why, sizeof why, "slurm %s, exit %d", tasks[i].state, tasks[i].exit_code);
        else
            snprintf(why, sizeof why, "slurm state unknown; task output %s/%s_%" PRId64 ".out",
                     sdir, jobid, i);
        report_failure(sw, i, why, failures);
    }
done:
    db_free(todo);
    db_free(tasks);
    db_free(spec);
    db_free(out);
    db_free(argv);
    return s;
}

/* ---- gather -------------------------------------------------------------------------------- */

typedef struct {
    char **v;
    size_t n, cap;
} strvec;

static bool sv_push(strvec *s, char *x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char **nv = db_realloc(s->v, cap * sizeof *nv);
        if (!nv)
            return false;
        s->v = nv;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return true;
}

/* Splits RFC 4180 CSV text in place: fields into f, *ncols from the first line. Returns false
 * when a line has another number of fields. */
static bool csv_split(char *text, strvec *f, size_t *ncols, bool *oom_)
{
    char *p = text;
    size_t row_start = 0;
    *ncols = 0;
    while (*p) {
        char *w = p, *start = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p)
                    break;
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *w++ = *p++;
                }
            }
        } else {
            while (*p && *p != ',' && *p != '\n')
                *w++ = *p++;
        }
        char sep = *p;
        *w = 0;
        if (sep)
            p++;
        if (!sv_push(f, start)) {
            *oom_ = true;
            return false;
        }
        if (sep != ',') { /* end of a line */
            size_t n = f->n - row_start;
            if (!*ncols)
                *ncols = n;
            else if (n != *ncols)
                return false;
            row_start = f->n;
        }
    }
    return true;
}

typedef enum { K_I64, K_F64, K_STR } kind;

static kind value_kind(const char *s)
{
    if (!*s)
        return K_STR;
    char *end;
    errno = 0;
    const char *d = s + (*s == '-');
    bool digits = *d && strspn(d, "0123456789") == strlen(d);
    if (digits) {
        (void)strtoll(s, &end, 10);
        if (!errno)
            return K_I64;
    }
    errno = 0;
    (void)strtod(s, &end);
    return *end || isspace((unsigned char)*s) ? K_STR : K_F64;
}

typedef struct {
    const char *name;
    kind k;
    size_t width; /* longest string + 1 */
} gcol;

db_status sw_gather(const sw_sweep *sw, const char *table, const char *out_h5,
                    const char *out_csv, bool partial, int argc, char **argv,
                    const char *gpu_name, int64_t *rows_out, int64_t *missing)
{
    if (!table)
        table = sw->table;
    *missing = 0;
    *rows_out = 0;
    static const char *const prov[] = {"git_commit", "host", "gpu_name"};
    const int nprov = 3, na = sw->naxes;
    pool p = {0};
    strvec cells = {0};  /* per gathered row: the cell index, as a pointer-sized integer */
    strvec values = {0}; /* per row: the table's fields, then hash and provenance */
    char **header = NULL, **orig = NULL; /* the columns (renamed), as in the cells */
    size_t nt = 0;
    int64_t first_missing = -1;
    db_status s = DB_OK;
    char *buf = NULL;
    size_t nbuf = 0;
    for (int64_t i = 0; i < sw->ncells && !s; i++) {
        char path[PATH_MAX];
        sw_cell_path(sw, i, ".h5", path, sizeof path);
        if (!exists(path)) {
            if (first_missing < 0)
                first_missing = i;
            ++*missing;
            continue;
        }
        FILE *m = open_memstream(&buf, &nbuf);
        if (!m) {
            s = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        s = res_export_csv(path, table, m);
        fclose(m);
        if (s) {
            s = db_error(s, "cell %" PRId64 ": %s", i, db_errmsg());
            break;
        }
        char *text = pool_strdup(&p, buf);
        free(buf);
        buf = NULL;
        strvec f = {0};
        size_t nc = 0;
        bool nomem = false;
        if (!text || !csv_split(text, &f, &nc, &nomem) || !f.n) {
            db_free(f.v);
            s = !text || nomem ? db_error(DB_ERR_NOMEM, "%s: out of memory", path)
                               : db_error(DB_ERR_FORMAT, "%s: table %s: malformed CSV export", path, table);
            break;
        }
        if (!header) {
            nt = nc;
            header = pool_alloc(&p, sizeof(char *) * nt);
            if (!header) {
                db_free(f.v);
                s = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            memcpy(header, f.v, sizeof(char *) * nt);
            if (!(orig = pool_alloc(&p, sizeof(char *) * nt))) {
                db_free(f.v);
                s = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            memcpy(orig, f.v, sizeof(char *) * nt);
            for (size_t c = 0; c < nt && !s; c++) {
                for (size_t r = 0; r < sizeof reserved_columns / sizeof *reserved_columns; r++)
                    if (!strcmp(header[c], reserved_columns[r]))
                        s = db_error(DB_ERR_FORMAT, "%s: table %s has a column '%s', a name gather "
                                     "adds", path, table, header[c]);
                if (!s && axis_find(sw, header[c], strlen(header[c])) >= 0) {
                    /* an axis named like a column (system, tp): the column becomes TABLE_NAME */
                    char renamed[256];
                    snprintf(renamed, sizeof renamed, "%s_%s", table, header[c]);
                    bool taken = axis_find(sw, renamed, strlen(renamed)) >= 0;
                    for (size_t d = 0; d < nt && !taken; d++)
                        taken = !strcmp(header[d], renamed);
                    if (taken)
                        s = db_error(DB_ERR_FORMAT, "%s: axis '%s' has the name of a column of "
                                     "table %s, and %s is taken too; rename the axis", sw->path,
                                     header[c], table, renamed);
                    else if (!(header[c] = pool_strdup(&p, renamed)))
                        s = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
                }
            }
        } else {
            bool same = nc == nt;
            for (size_t c = 0; c < nt && same; c++)
                same = !strcmp(orig[c], f.v[c]);
            if (!same)
                s = db_error(DB_ERR_FORMAT, "%s: table %s has other columns than in the cells "
                             "before it", path, table);
        }
        char *pv[3];
        for (int q = 0; q < nprov && !s; q++) {
            char a[256];
            if ((s = res_read_attr(path, prov[q], a, sizeof a)))
                break;
            if (!(pv[q] = pool_strdup(&p, a)))
                s = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
        }
        for (size_t r = 1; !s && r < f.n / nt; r++) {
            bool ok = sv_push(&cells, (char *)(intptr_t)i);
            for (size_t c = 0; c < nt && ok; c++)
                ok = sv_push(&values, f.v[r * nt + c]);
            ok = ok && sv_push(&values, sw->hash[i]);
            for (int q = 0; q < nprov && ok; q++)
                ok = sv_push(&values, pv[q]);
            if (!ok)
                s = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
        }
        db_free(f.v);
    }
    free(buf);
    if (!s && *missing && !partial)
        s = db_error(DB_ERR_NOT_FOUND, "%s: %" PRId64 " of %" PRId64 " cells not done (first: cell "
                     "%" PRId64 "); run `deltabench sweep run` first, or gather --partial",
                     sw->dir, *missing, sw->ncells, first_missing);
    if (!s && !header)
        s = db_error(DB_ERR_NOT_FOUND, "%s: no cell is done", sw->dir);
    if (s)
        goto done;

    /* the columns and their types: a column is i64 when every value is an integer, f64 when
     * every value is a number (the export's shortest round-trip form reads back exactly), else
     * a string */
    size_t nrows = cells.n, rw = nt + 1 + (size_t)nprov, ncol = 1 + (size_t)na + rw;
    gcol *cols = pool_alloc(&p, sizeof(gcol) * ncol);
    res_field *fields = pool_alloc(&p, sizeof(res_field) * ncol);
    if (!cols || !fields) {
        s = db_error(DB_ERR_NOMEM, "%s: out of memory", out_h5);
        goto done;
    }
    cols[0] = (gcol){"cell", K_I64, 0};
    for (int a = 0; a < na; a++)
        cols[1 + a] = (gcol){sw->axes[a].name, K_I64, 1};
    for (size_t c = 0; c < nt; c++)
        cols[1 + (size_t)na + c] = (gcol){header[c], K_I64, 1};
    cols[1 + (size_t)na + nt] = (gcol){"cell_hash", K_STR, 1};
    for (int q = 0; q < nprov; q++)
        cols[2 + (size_t)na + nt + (size_t)q] = (gcol){prov[q], K_STR, 1};
    for (size_t r = 0; r < nrows; r++) {
        int64_t i = (int64_t)(intptr_t)cells.v[r];
        for (size_t c = 1; c < ncol; c++) {
            const char *x = c <= (size_t)na ? sw_cell_label(sw, i, (int)c - 1)
                                             : values.v[r * rw + (c - 1 - (size_t)na)];
            kind k = value_kind(x);
            if (k > cols[c].k)
                cols[c].k = k;
            if (strlen(x) + 1 > cols[c].width)
                cols[c].width = strlen(x) + 1;
        }
    }
    size_t off = 0;
    for (size_t c = 0; c < ncol; c++) {
        size_t sz = cols[c].k == K_STR ? cols[c].width : 8;
        fields[c] = (res_field){cols[c].name, cols[c].k == K_I64   ? RES_T_I64
                                              : cols[c].k == K_F64 ? RES_T_F64
                                                                   : RES_T_STR,
                                off, sz};
        off += (sz + 7) & ~(size_t)7;
    }
    res_schema schema = {"sweep", "the rows of a sweep's cells (deltabench sweep gather)", off,
                         ncol, fields};
    unsigned char *rows = db_calloc(nrows ? nrows : 1, off);
    if (!rows) {
        s = db_error(DB_ERR_NOMEM, "%s: out of memory", out_h5);
        goto done;
    }
    for (size_t r = 0; r < nrows; r++) {
        int64_t i = (int64_t)(intptr_t)cells.v[r];
        unsigned char *row = rows + r * off;
        for (size_t c = 0; c < ncol; c++) {
            const char *x = c == 0 ? NULL
                            : c <= (size_t)na ? sw_cell_label(sw, i, (int)c - 1)
                                              : values.v[r * rw + (c - 1 - (size_t)na)];
            if (c == 0) {
                memcpy(row + fields[c].offset, &i, 8);
            } else if (cols[c].k == K_I64) {
                int64_t v = strtoll(x, NULL, 10);
                memcpy(row + fields[c].offset, &v, 8);
            } else if (cols[c].k == K_F64) {
                double v = strtod(x, NULL);
                memcpy(row + fields[c].offset, &v, 8);
            } else {
                memcpy(row + fields[c].offset, x, strlen(x) + 1);
            }
        }
    }
    res_run_info info = {argc, argv, 0, gpu_name};
    res_file *f = NULL;
    if (!(s = res_create(out_h5, &info, &f))) {
        if ((s = res_attr_str(f, "sweep_file", sw->path)) ||
            (s = res_attr_str(f, "sweep_table", table)) ||
            (s = res_attr_i64(f, "sweep_cells", sw->ncells)) ||
            (s = res_attr_i64(f, "sweep_cells_missing", *missing)) ||
            (s = res_table_write(f, &schema, nrows, rows)))
            res_abort(f);
        else
            s = res_commit(f);
    }
    db_free(rows);
    if (!s && out_csv) {
        fs_out o;
        if (!(s = fs_out_open(&o, out_csv))) {
            if ((s = res_export_csv(out_h5, "sweep", o.fp)))
                fs_out_abort(&o);
            else
                s = fs_out_commit(&o);
        }
    }
    if (!s)
        *rows_out = (int64_t)nrows;
done:
    db_free(cells.v);
    db_free(values.v);
    pool_free(&p);
    return s;
}
