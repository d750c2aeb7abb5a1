/* safetensors.c: the safetensors reader, streaming writer and sharded checkpoints (safetensors.h).
 *
 * The reader maps the file read-only, validates the whole header before handing out a single
 * pointer (so a corrupt or hostile file yields one error line, never a wild read), copies the
 * names into one arena and frees the JSON tree; tensor data stays in the mapping (zero copy).
 * Validation follows the reference (Rust) library: the data ranges must tile the data area
 * exactly, with no overlap, gap or unused tail.
 *
 * The writer never holds tensor data: it writes the header once every tensor is declared, then
 * streams bytes through a 1 MiB buffer into a temporary file that is renamed only when complete.
 * The header is printed by hand rather than with cJSON because cJSON prints large integers in
 * exponent form ("1e+15"), which the reference library rejects as an offset.
 *
 * cJSON allocates through db_malloc/db_free (cJSON_InitHooks, installed once) so that allocation
 * failure injection reaches it too; a thread-local flag tells an out-of-memory parse failure from
 * a syntax error. */
#include "core/safetensors.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fsutil.h"

#define ST_MAX_HEADER 100000000u          /* the reference library's header limit (100 MB) */
#define ST_MAX_INT 9007199254740992.0     /* 2^53: beyond it JSON numbers are not exact doubles */
#define ST_WRITE_BUF ((size_t)1 << 20)    /* writer buffer; larger writes bypass it */
#define ST_METADATA "__metadata__"
#define ST_INDEX_NAME "model.safetensors.index.json"
#define ST_SINGLE_NAME "model.safetensors"

/* ---- shared helpers ------------------------------------------------------------------------ */

static _Thread_local bool cj_oom;

static void *cj_malloc(size_t n)
{
    void *p = db_malloc(n);
    if (!p)
        cj_oom = true;
    return p;
}

static void cj_free(void *p) { db_free(p); }

static pthread_once_t cj_once = PTHREAD_ONCE_INIT;

static void cj_install_hooks(void)
{
    cJSON_Hooks h = {.malloc_fn = cj_malloc, .free_fn = cj_free};
    cJSON_InitHooks(&h);
}

/* Parses n bytes of JSON (not NUL-terminated). On NULL, *oom says whether memory ran out (as
 * opposed to a syntax error); *end is where parsing stopped (the error position on failure). */
static cJSON *json_parse(const char *text, size_t n, const char **end, bool *oom)
{
    pthread_once(&cj_once, cj_install_hooks);
    cj_oom = false;
    const char *e = text;
    cJSON *j = n ? cJSON_ParseWithLengthOpts(text, n, &e, 0) : NULL;
    *oom = !j && cj_oom;
    *end = e ? e : text;
    return j;
}

struct cJSON *st_json_parse(const char *text, size_t n, bool *oom)
{
    const char *end;
    return json_parse(text, n, &end, oom);
}

static bool json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* A JSON number that is an exact non-negative integer no larger than 2^53. */
static bool json_uint(const cJSON *j, uint64_t *out)
{
    if (!cJSON_IsNumber(j))
        return false;
    double d = j->valuedouble;
    if (!(d >= 0.0 && d <= ST_MAX_INT) || (double)(uint64_t)d != d)
        return false;
    *out = (uint64_t)d;
    return true;
}

/* Valid UTF-8 without NUL bytes: what the reference library demands of a header, and what keeps
 * names usable as C strings. */
static bool text_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) {
            len = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

/* Names go into one-line messages: control characters become '?' and long names are cut. The
 * struct is returned by value so q(a).s and q(b).s can appear in one printf. */
typedef struct {
    char s[100];
} qname;

static qname q(const char *name)
{
    qname r;
    size_t i = 0, n = strlen(name);
    size_t keep = n < sizeof r.s - 1 ? n : sizeof r.s - 4;
    for (; i < keep; i++)
        r.s[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7F ? '?' : name[i];
    if (keep < n)
        memcpy(r.s + i, "...", 3), i += 3;
    r.s[i] = '\0';
    return r;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static uint64_t le64_load(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ---- reading ------------------------------------------------------------------------------- */

typedef struct {
    const char *key, *value;
} st_kv_ref;

struct st_file {
    char *path;
    const unsigned char *map; /* the whole file, read-only */
    size_t file_bytes;
    size_t header_bytes;                /* N */
    size_t n;                           /* tensors */
    st_tensor_info *tensors;            /* [n], ascending offset */
    const st_tensor_info **by_name;     /* [n], sorted by name for bsearch */
    size_t nmeta;
    st_kv_ref *meta;                    /* [nmeta], header order */
    const st_kv_ref **meta_by_key;      /* [nmeta], sorted by key */
    char *strings;                      /* arena holding every name, key and value */
};

void st_close(st_file *f)
{
    if (!f)
        return;
    if (f->map)
        munmap((void *)f->map, f->file_bytes);
    db_free(f->path);
    db_free(f->tensors);
    db_free(f->by_name);
    db_free(f->meta);
    db_free(f->meta_by_key);
    db_free(f->strings);
    db_free(f);
}

static db_status file_map(st_file *f, const char *path)
{
    f->path = db_strdup(path);
    if (!f->path)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return db_error(DB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return db_error(DB_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return db_error(DB_ERR_IO, "%s: cannot open: %s", path,
                        S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
    }
    if (st.st_size < 8) {
        close(fd);
        return db_error(DB_ERR_FORMAT,
                        "%s: truncated: %lld bytes, shorter than the 8-byte header length", path,
                        (long long)st.st_size);
    }
    if ((uint64_t)st.st_size > SIZE_MAX) {
        close(fd);
        return db_error(DB_ERR_IO, "%s: file too large to map", path);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED)
        return db_error(DB_ERR_IO, "%s: cannot map: %s", path, strerror(e));
    f->map = m;
    f->file_bytes = (size_t)st.st_size;
    return DB_OK;
}

/* Validates one header entry and fills ti (name already set) except the data pointer. */
static db_status entry_parse(const st_file *f, const cJSON *e, size_t data_bytes,
                             st_tensor_info *ti)
{
    const char *path = f->path;
    qname nm = q(ti->name);
    if (!cJSON_IsObject(e))
        return db_error(DB_ERR_FORMAT, "%s: tensor '%s': entry is not an object", path, nm.s);
    const cJSON *dt = NULL, *sh = NULL, *off = NULL;
    for (const cJSON *k = e->child; k; k = k->next) {
        const cJSON **slot = !k->string                         ? NULL
                             : strcmp(k->string, "dtype") == 0 ? &dt
                             : strcmp(k->string, "shape") == 0 ? &sh
                             : strcmp(k->string, "data_offsets") == 0 ? &off
                                                                      : NULL;
        if (!slot)
            continue; /* unknown fields are ignored, as by the reference library */
        if (*slot)
            return db_error(DB_ERR_FORMAT, "%s: tensor '%s': duplicate key \"%s\"", path, nm.s,
                            k->string);
        *slot = k;
    }
    if (!dt)
        return db_error(DB_ERR_FORMAT, "%s: tensor '%s': missing \"dtype\"", path, nm.s);
    if (!cJSON_IsString(dt) || !dt->valuestring)
        return db_error(DB_ERR_FORMAT, "%s: tensor '%s': \"dtype\" is not a string", path, nm.s);
    if (dtype_parse(dt->valuestring, &ti->dtype) != DB_OK)
        return db_error(DB_ERR_FORMAT, "%s: tensor '%s': unknown dtype \"%s\"", path, nm.s,
                        q(dt->valuestring).s);
    if (!sh)
        return db_error(DB_ERR_FORMAT, "%s: tensor '%s': missing \"shape\"", path, nm.s);
    if (!cJSON_IsArray(sh))
        return db_error(DB_ERR_FORMAT, "%s: tensor '%s': \"shape\" is not an array", path, nm.s);
    int nd = 0;
    for (const cJSON *k = sh->child; k; k = k->next, nd++) {
        if (nd == TENSOR_MAX_DIMS)
            return db_error(DB_ERR_FORMAT, "%s: tensor '%s': more than %d dimensions", path,
                            nm.s, TENSOR_MAX_DIMS);
        uint64_t v;
        if (!json_uint(k, &v))
            return db_error(DB_ERR_FORMAT,
                            "%s: tensor '%s': shape[%d] is not an integer in [0, 2^53]", path,
                            nm.s, nd);
        ti->shape[nd] = (int64_t)v;
    }
    ti->ndim = nd;
    if (!off)
        return db_error(DB_ERR_FORMAT, "%s: tensor '%s': missing \"data_offsets\"", path, nm.s);
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return db_error(DB_ERR_FORMAT,
                        "%s: tensor '%s': \"data_offsets\" is not an array of two offsets", path,
                        nm.s);
    uint64_t begin, end;
    if (!json_uint(off->child, &begin) || !json_uint(off->child->next, &end))
        return db_error(DB_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets are not integers in [0, 2^53]", path,
                        nm.s);
    if (begin > end)
        return db_error(DB_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets begin %" PRIu64 " > end %" PRIu64, path,
                        nm.s, begin, end);
    if (end > data_bytes)
        return db_error(DB_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                        "] outside the data area (%zu bytes)",
                        path, nm.s, begin, end, data_bytes);
    char shp[160];
    int64_t numel = shape_numel(ti->ndim, ti->shape);
    size_t esize = dtype_size(ti->dtype);
    if (numel < 0 || (uint64_t)numel > UINT64_MAX / esize) {
        shape_format(shp, sizeof shp, ti->ndim, ti->shape);
        return db_error(DB_ERR_FORMAT, "%s: tensor '%s': shape %s overflows", path, nm.s, shp);
    }
    if ((uint64_t)numel * esize != end - begin) {
        shape_format(shp, sizeof shp, ti->ndim, ti->shape);
        return db_error(DB_ERR_FORMAT,
                        "%s: tensor '%s': byte size mismatch: shape %s of %s is %" PRIu64
                        " bytes but data_offsets span %" PRIu64,
                        path, nm.s, shp, dtype_name(ti->dtype), (uint64_t)numel * esize,
                        end - begin);
    }
    ti->offset = (size_t)begin;
    ti->nbytes = (size_t)(end - begin);
    return DB_OK;
}

/* File order: ascending range; zero-size tensors sharing an offset are ordered by name. */
static int cmp_tensor_offset(const void *a, const void *b)
{
    const st_tensor_info *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes)
        return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp((*(const st_tensor_info *const *)a)->name,
                  (*(const st_tensor_info *const *)b)->name);
}

static int cmp_kv_key(const void *a, const void *b)
{
    return strcmp((*(const st_kv_ref *const *)a)->key, (*(const st_kv_ref *const *)b)->key);
}

static char *arena_put(char **cursor, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = memcpy(*cursor, s, n);
    *cursor += n;
    return d;
}

/* Loads the validated content of a parsed header (an object) into f. */
static db_status header_load(st_file *f, const cJSON *root)
{
    const char *path = f->path;
    size_t nt = 0, nm = 0, strbytes = 1;
    const cJSON *meta = NULL;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (!c->string)
            return db_error(DB_ERR_FORMAT, "%s: header entry without a name", path);
        if (strcmp(c->string, ST_METADATA) != 0) {
            nt++;
            strbytes += strlen(c->string) + 1;
            continue;
        }
        if (meta)
            return db_error(DB_ERR_FORMAT, "%s: duplicate key %s", path, ST_METADATA);
        meta = c;
        if (!cJSON_IsObject(c))
            return db_error(DB_ERR_FORMAT, "%s: %s is not an object", path, ST_METADATA);
        for (const cJSON *m = c->child; m; m = m->next) {
            if (!m->string)
                return db_error(DB_ERR_FORMAT, "%s: %s entry without a key", path, ST_METADATA);
            if (!cJSON_IsString(m) || !m->valuestring)
                return db_error(DB_ERR_FORMAT, "%s: %s value of '%s' is not a string", path,
                                ST_METADATA, q(m->string).s);
            nm++;
            strbytes += strlen(m->string) + strlen(m->valuestring) + 2;
        }
    }

    f->strings = db_malloc(strbytes);
    f->tensors = db_calloc(nt, sizeof *f->tensors);
    f->by_name = db_malloc_array(nt, sizeof *f->by_name);
    f->meta = db_malloc_array(nm, sizeof *f->meta);
    f->meta_by_key = db_malloc_array(nm, sizeof *f->meta_by_key);
    if (!f->strings || !f->tensors || !f->by_name || !f->meta || !f->meta_by_key)
        return db_error(DB_ERR_NOMEM, "%s: out of memory for the header", path);

    char *cursor = f->strings;
    size_t data_bytes = f->file_bytes - 8 - f->header_bytes;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c == meta)
            continue;
        st_tensor_info *ti = &f->tensors[f->n++];
        ti->name = arena_put(&cursor, c->string);
        db_status s = entry_parse(f, c, data_bytes, ti);
        if (s != DB_OK)
            return s;
    }
    for (const cJSON *m = meta ? meta->child : NULL; m; m = m->next) {
        st_kv_ref *kv = &f->meta[f->nmeta++];
        kv->key = arena_put(&cursor, m->string);
        kv->value = arena_put(&cursor, m->valuestring);
    }

    qsort(f->tensors, f->n, sizeof *f->tensors, cmp_tensor_offset);
    for (size_t i = 0; i < f->n; i++)
        f->by_name[i] = &f->tensors[i];
    qsort(f->by_name, f->n, sizeof *f->by_name, cmp_tensor_name);
    for (size_t i = 1; i < f->n; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0)
            return db_error(DB_ERR_FORMAT, "%s: duplicate tensor name '%s'", path,
                            q(f->by_name[i]->name).s);
    for (size_t i = 0; i < f->nmeta; i++)
        f->meta_by_key[i] = &f->meta[i];
    qsort(f->meta_by_key, f->nmeta, sizeof *f->meta_by_key, cmp_kv_key);
    for (size_t i = 1; i < f->nmeta; i++)
        if (strcmp(f->meta_by_key[i - 1]->key, f->meta_by_key[i]->key) == 0)
            return db_error(DB_ERR_FORMAT, "%s: duplicate %s key '%s'", path, ST_METADATA,
                            q(f->meta_by_key[i]->key).s);

    /* The ranges, in offset order, must tile [0, data_bytes) exactly. */
    size_t pos = 0;
    for (size_t i = 0; i < f->n; i++) {
        const st_tensor_info *t = &f->tensors[i];
        if (t->offset < pos) {
            const st_tensor_info *p = &f->tensors[i - 1];
            return db_error(DB_ERR_FORMAT,
                            "%s: tensors '%s' [%zu, %zu] and '%s' [%zu, %zu] overlap", path,
                            q(p->name).s, p->offset, p->offset + p->nbytes, q(t->name).s,
                            t->offset, t->offset + t->nbytes);
        }
        if (t->offset > pos)
            return db_error(DB_ERR_FORMAT,
                            "%s: gap of %zu unused bytes before tensor '%s' (data_offsets begin "
                            "%zu)",
                            path, t->offset - pos, q(t->name).s, t->offset);
        pos = t->offset + t->nbytes;
    }
    if (pos != data_bytes)
        return db_error(DB_ERR_FORMAT,
                        "%s: %zu unused trailing bytes at the end of the data area (%zu bytes)",
                        path, data_bytes - pos, data_bytes);

    const unsigned char *base = f->map + 8 + f->header_bytes;
    for (size_t i = 0; i < f->n; i++)
        f->tensors[i].data = base + f->tensors[i].offset;
    return DB_OK;
}

static db_status header_parse(st_file *f)
{
    const char *path = f->path;
    uint64_t n = le64_load(f->map);
    if (n > f->file_bytes - 8)
        return db_error(DB_ERR_FORMAT,
                        "%s: header length %" PRIu64 " beyond end of file (%zu bytes follow it)",
                        path, n, f->file_bytes - 8);
    if (n > ST_MAX_HEADER)
        return db_error(DB_ERR_FORMAT, "%s: header length %" PRIu64 " above the limit of %u",
                        path, n, ST_MAX_HEADER);
    f->header_bytes = (size_t)n;
    const char *h = (const char *)f->map + 8;
    if (!text_valid((const unsigned char *)h, f->header_bytes))
        return db_error(DB_ERR_FORMAT, "%s: header is not valid UTF-8 text", path);
    const char *end;
    bool oom;
    cJSON *root = json_parse(h, f->header_bytes, &end, &oom);
    if (!root) {
        if (oom)
            return db_error(DB_ERR_NOMEM, "%s: out of memory parsing the header", path);
        return db_error(DB_ERR_FORMAT, "%s: invalid JSON header (error near byte %zu)", path,
                        (size_t)(end - h));
    }
    for (const char *p = end; p < h + f->header_bytes; p++)
        if (!json_ws(*p)) {
            cJSON_Delete(root);
            return db_error(DB_ERR_FORMAT, "%s: invalid JSON header: trailing data at byte %zu",
                            path, (size_t)(p - h));
        }
    db_status s;
    if (!cJSON_IsObject(root))
        s = db_error(DB_ERR_FORMAT, "%s: header is not a JSON object", path);
    else
        s = header_load(f, root);
    cJSON_Delete(root);
    return s;
}

db_status st_open(const char *path, st_file **out)
{
    *out = NULL;
    if (!path)
        return db_error(DB_ERR_ARG, "st_open: NULL path");
    st_file *f = db_calloc(1, sizeof *f);
    if (!f)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    db_status s = file_map(f, path);
    if (s == DB_OK)
        s = header_parse(f);
    if (s != DB_OK) {
        st_close(f);
        return s;
    }
    *out = f;
    return DB_OK;
}

const char *st_path(const st_file *f) { return f->path; }
size_t st_count(const st_file *f) { return f->n; }
const st_tensor_info *st_get(const st_file *f, size_t i) { return i < f->n ? &f->tensors[i] : NULL; }

const st_tensor_info *st_find(const st_file *f, const char *name)
{
    st_tensor_info key = {.name = name};
    const st_tensor_info *kp = &key;
    const st_tensor_info **hit = bsearch(&kp, f->by_name, f->n, sizeof *f->by_name,
                                         cmp_tensor_name);
    return hit ? *hit : NULL;
}

db_status st_view(const st_tensor_info *ti, db_tensor *out)
{
    /* The mapping is read-only: the view's data must not be written through. */
    return tensor_view(out, ti->dtype, ti->ndim, ti->shape, (void *)ti->data);
}

size_t st_meta_count(const st_file *f) { return f->nmeta; }
const char *st_meta_key(const st_file *f, size_t i) { return i < f->nmeta ? f->meta[i].key : NULL; }

const char *st_meta_value(const st_file *f, size_t i)
{
    return i < f->nmeta ? f->meta[i].value : NULL;
}

const char *st_meta_get(const st_file *f, const char *key)
{
    st_kv_ref k = {.key = key};
    const st_kv_ref *kp = &k;
    const st_kv_ref **hit = bsearch(&kp, f->meta_by_key, f->nmeta, sizeof *f->meta_by_key,
                                    cmp_kv_key);
    return hit ? (*hit)->value : NULL;
}

size_t st_header_bytes(const st_file *f) { return f->header_bytes; }
size_t st_file_bytes(const st_file *f) { return f->file_bytes; }

/* ---- writing ------------------------------------------------------------------------------- */

typedef struct {
    char *name;
    db_dtype dt;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    uint64_t nbytes, offset;
} st_decl;

typedef struct {
    char *key, *value;
} st_kv;

struct st_writer {
    char *path, *tmp;
    int fd;              /* -1 once closed */
    bool created;        /* tmp exists and must be removed unless committed */
    db_status failed;    /* sticky: DB_OK while the writer is usable */
    char err[256];       /* the message of the failure, repeated by later calls */
    bool begun;
    st_decl *decl;       /* [n], declaration order */
    size_t n, cap;
    st_kv *meta;
    size_t nmeta, metacap;
    size_t *order;       /* [n] storage order: indices into decl, descending dtype size */
    size_t cur;          /* position in order of the tensor due next; n when all are written */
    uint64_t done;       /* bytes of the due tensor already written */
    unsigned char *buf;
    size_t buflen;
};

/* Every error makes the writer unusable and removes the temporary file at once, so a caller that
 * forgets st_writer_abort still leaves nothing behind but memory. */
static db_status writer_fail(st_writer *w, db_status s)
{
    if (w->failed == DB_OK) {
        w->failed = s;
        snprintf(w->err, sizeof w->err, "%s", db_errmsg());
    }
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    if (w->created) {
        fs_abort(w->tmp);
        w->created = false;
    }
    return s;
}

static db_status writer_usable(const st_writer *w)
{
    if (!w)
        return db_error(DB_ERR_ARG, "safetensors writer: NULL writer");
    if (w->failed != DB_OK)
        return db_error(w->failed, "%s", w->err);
    return DB_OK;
}

static void writer_free(st_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->created)
        fs_abort(w->tmp);
    for (size_t i = 0; i < w->n; i++)
        db_free(w->decl[i].name);
    for (size_t i = 0; i < w->nmeta; i++) {
        db_free(w->meta[i].key);
        db_free(w->meta[i].value);
    }
    db_free(w->decl);
    db_free(w->meta);
    db_free(w->order);
    db_free(w->buf);
    db_free(w->path);
    db_free(w->tmp);
    db_free(w);
}

db_status st_writer_open(const char *path, st_writer **out)
{
    *out = NULL;
    if (!path)
        return db_error(DB_ERR_ARG, "st_writer_open: NULL path");
    st_writer *w = db_calloc(1, sizeof *w);
    if (!w)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    w->fd = -1;
    size_t tn = strlen(path) + 32;
    w->path = db_strdup(path);
    w->tmp = db_malloc(tn);
    if (!w->path || !w->tmp) {
        writer_free(w);
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    }
    fs_tmp_name(path, w->tmp, tn);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (w->fd < 0) {
        db_status s = db_error(DB_ERR_IO, "%s: cannot create %s: %s", path, w->tmp,
                               strerror(errno));
        writer_free(w);
        return s;
    }
    w->created = true;
    *out = w;
    return DB_OK;
}

static db_status writer_string_arg(st_writer *w, const char *what, const char *s)
{
    if (!s)
        return writer_fail(w, db_error(DB_ERR_ARG, "%s: NULL %s", w->path, what));
    if (!text_valid((const unsigned char *)s, strlen(s)))
        return writer_fail(w, db_error(DB_ERR_ARG, "%s: %s '%s' is not valid UTF-8", w->path,
                                       what, q(s).s));
    return DB_OK;
}

db_status st_writer_meta(st_writer *w, const char *key, const char *value)
{
    db_status s = writer_usable(w);
    if (s != DB_OK)
        return s;
    if (w->begun)
        return writer_fail(w, db_error(DB_ERR_ARG, "%s: metadata '%s' given after the header "
                                                   "was written", w->path, key ? q(key).s : ""));
    if ((s = writer_string_arg(w, "metadata key", key)) != DB_OK ||
        (s = writer_string_arg(w, "metadata value", value)) != DB_OK)
        return s;
    if (w->nmeta == w->metacap) {
        size_t cap = w->metacap ? 2 * w->metacap : 8;
        st_kv *m = db_realloc(w->meta, cap * sizeof *m);
        if (!m)
            return writer_fail(w, db_error(DB_ERR_NOMEM, "%s: out of memory", w->path));
        w->meta = m;
        w->metacap = cap;
    }
    char *k = db_strdup(key), *v = db_strdup(value);
    if (!k || !v) {
        db_free(k);
        db_free(v);
        return writer_fail(w, db_error(DB_ERR_NOMEM, "%s: out of memory", w->path));
    }
    w->meta[w->nmeta++] = (st_kv){k, v};
    return DB_OK;
}

db_status st_writer_declare(st_writer *w, const char *name, db_dtype dt, int ndim,
                            const int64_t *shape)
{
    db_status s = writer_usable(w);
    if (s != DB_OK)
        return s;
    if ((s = writer_string_arg(w, "tensor name", name)) != DB_OK)
        return s;
    qname nm = q(name);
    if (w->begun)
        return writer_fail(w, db_error(DB_ERR_ARG, "%s: tensor '%s' declared after the header "
                                                   "was written", w->path, nm.s));
    if (strcmp(name, ST_METADATA) == 0)
        return writer_fail(w, db_error(DB_ERR_ARG, "%s: '%s' is reserved, not a tensor name",
                                       w->path, ST_METADATA));
    if ((unsigned)dt >= DT_COUNT)
        return writer_fail(w, db_error(DB_ERR_ARG, "%s: tensor '%s': invalid dtype %d", w->path,
                                       nm.s, (int)dt));
    if (ndim < 0 || ndim > TENSOR_MAX_DIMS || (ndim > 0 && !shape))
        return writer_fail(w, db_error(DB_ERR_ARG, "%s: tensor '%s': invalid shape (%d "
                                                   "dimensions, at most %d)",
                                       w->path, nm.s, ndim, TENSOR_MAX_DIMS));
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0 || (double)shape[i] > ST_MAX_INT)
            return writer_fail(w, db_error(DB_ERR_ARG, "%s: tensor '%s': shape[%d] = %" PRId64
                                                       " outside [0, 2^53]",
                                           w->path, nm.s, i, shape[i]));
    int64_t numel = shape_numel(ndim, shape);
    if (numel < 0 || (uint64_t)numel > (uint64_t)ST_MAX_INT / dtype_size(dt))
        return writer_fail(w, db_error(DB_ERR_ARG, "%s: tensor '%s': shape too large", w->path,
                                       nm.s));
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        st_decl *d = db_realloc(w->decl, cap * sizeof *d);
        if (!d)
            return writer_fail(w, db_error(DB_ERR_NOMEM, "%s: out of memory", w->path));
        w->decl = d;
        w->cap = cap;
    }
    st_decl *d = &w->decl[w->n];
    memset(d, 0, sizeof *d);
    d->name = db_strdup(name);
    if (!d->name)
        return writer_fail(w, db_error(DB_ERR_NOMEM, "%s: out of memory", w->path));
    d->dt = dt;
    d->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        d->shape[i] = shape[i];
    d->nbytes = (uint64_t)numel * dtype_size(dt);
    w->n++;
    return DB_OK;
}

/* A growable byte string for the header; oom is sticky so appends need no checks. */
typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} strbuf;

static void sb_putn(strbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *p = db_realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void sb_puts(strbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_u64(strbuf *b, uint64_t v)
{
    char t[24];
    int k = snprintf(t, sizeof t, "%" PRIu64, v);
    sb_putn(b, t, (size_t)k);
}

/* A JSON string literal: quotes, backslashes and control characters escaped; UTF-8 as is. */
static void sb_json_str(strbuf *b, const char *s)
{
    sb_putn(b, "\"", 1);
    const char *run = s;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        sb_putn(b, run, (size_t)(s - run));
        char e[8];
        if (c == '"' || c == '\\')
            snprintf(e, sizeof e, "\\%c", c);
        else
            snprintf(e, sizeof e, "\\u%04x", c);
        sb_puts(b, e);
        run = s + 1;
    }
    sb_putn(b, run, (size_t)(s - run));
    sb_putn(b, "\"", 1);
}

static db_status write_all(st_writer *w, const void *p, size_t n)
{
    const unsigned char *c = p;
    while (n) {
        ssize_t k = write(w->fd, c, n < ((size_t)1 << 30) ? n : ((size_t)1 << 30));
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return writer_fail(w, db_error(DB_ERR_IO, "%s: cannot write %s: %s", w->path,
                                           w->tmp, strerror(errno)));
        }
        c += k;
        n -= (size_t)k;
    }
    return DB_OK;
}

static db_status wr_flush(st_writer *w)
{
    db_status s = write_all(w, w->buf, w->buflen);
    w->buflen = 0;
    return s;
}

static db_status wr_put(st_writer *w, const void *p, size_t n)
{
    if (n <= ST_WRITE_BUF - w->buflen) {
        memcpy(w->buf + w->buflen, p, n);
        w->buflen += n;
        return DB_OK;
    }
    db_status s = wr_flush(w);
    if (s != DB_OK)
        return s;
    if (n >= ST_WRITE_BUF)
        return write_all(w, p, n);
    memcpy(w->buf, p, n);
    w->buflen = n;
    return DB_OK;
}

/* Makes the first tensor with bytes still to write due; zero-size tensors are never due. */
static void writer_skip_empty(st_writer *w)
{
    while (w->cur < w->n && w->decl[w->order[w->cur]].nbytes == 0)
        w->cur++;
}

/* Finds a duplicate among n strings (by sorting copies of the pointers); NULL when none. */
static const char *find_duplicate(const char **v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_str_ptr);
    for (size_t i = 1; i < n; i++)
        if (strcmp(v[i - 1], v[i]) == 0)
            return v[i];
    return NULL;
}

static db_status writer_check_unique(st_writer *w)
{
    size_t most = w->n > w->nmeta ? w->n : w->nmeta;
    const char **v = db_malloc_array(most, sizeof *v);
    if (!v)
        return writer_fail(w, db_error(DB_ERR_NOMEM, "%s: out of memory", w->path));
    for (size_t i = 0; i < w->n; i++)
        v[i] = w->decl[i].name;
    const char *dup = find_duplicate(v, w->n);
    if (dup) {
        db_status s = db_error(DB_ERR_ARG, "%s: duplicate tensor name '%s'", w->path, q(dup).s);
        db_free(v);
        return writer_fail(w, s);
    }
    for (size_t i = 0; i < w->nmeta; i++)
        v[i] = w->meta[i].key;
    dup = find_duplicate(v, w->nmeta);
    if (dup) {
        db_status s = db_error(DB_ERR_ARG, "%s: duplicate metadata key '%s'", w->path, q(dup).s);
        db_free(v);
        return writer_fail(w, s);
    }
    db_free(v);
    return DB_OK;
}

db_status st_writer_begin(st_writer *w)
{
    db_status s = writer_usable(w);
    if (s != DB_OK)
        return s;
    if (w->begun)
        return writer_fail(w, db_error(DB_ERR_ARG, "%s: st_writer_begin called twice", w->path));
    if ((s = writer_check_unique(w)) != DB_OK)
        return s;
    w->order = db_malloc_array(w->n, sizeof *w->order);
    w->buf = db_malloc(ST_WRITE_BUF);
    if (!w->order || !w->buf)
        return writer_fail(w, db_error(DB_ERR_NOMEM, "%s: out of memory", w->path));

    /* Descending element size, stable: every offset is then a multiple of its element size. */
    size_t k = 0;
    uint64_t off = 0;
    for (size_t esize = 8; esize >= 1; esize /= 2)
        for (size_t i = 0; i < w->n; i++)
            if (dtype_size(w->decl[i].dt) == esize) {
                w->order[k++] = i;
                w->decl[i].offset = off;
                off += w->decl[i].nbytes;
                if ((double)off > ST_MAX_INT)
                    return writer_fail(w, db_error(DB_ERR_ARG, "%s: data larger than 2^53 bytes",
                                                   w->path));
            }
    if (k != w->n)
        return writer_fail(w, db_error(DB_ERR_INTERNAL, "%s: dtype size not in {1,2,4,8}",
                                       w->path));

    strbuf b = {0};
    sb_puts(&b, "{");
    if (w->nmeta) {
        sb_puts(&b, "\"" ST_METADATA "\":{");
        for (size_t i = 0; i < w->nmeta; i++) {
            if (i)
                sb_puts(&b, ",");
            sb_json_str(&b, w->meta[i].key);
            sb_puts(&b, ":");
            sb_json_str(&b, w->meta[i].value);
        }
        sb_puts(&b, "}");
    }
    for (size_t j = 0; j < w->n; j++) {
        const st_decl *d = &w->decl[w->order[j]];
        if (j || w->nmeta)
            sb_puts(&b, ",");
        sb_json_str(&b, d->name);
        sb_puts(&b, ":{\"dtype\":\"");
        sb_puts(&b, dtype_name(d->dt));
        sb_puts(&b, "\",\"shape\":[");
        for (int i = 0; i < d->ndim; i++) {
            if (i)
                sb_puts(&b, ",");
            sb_u64(&b, (uint64_t)d->shape[i]);
        }
        sb_puts(&b, "],\"data_offsets\":[");
        sb_u64(&b, d->offset);
        sb_puts(&b, ",");
        sb_u64(&b, d->offset + d->nbytes);
        sb_puts(&b, "]}");
    }
    sb_puts(&b, "}");
    while ((8 + b.len) % 8)
        sb_puts(&b, " ");
    if (b.oom) {
        db_free(b.p);
        return writer_fail(w, db_error(DB_ERR_NOMEM, "%s: out of memory for the header",
                                       w->path));
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)b.len >> (8 * i));
    s = wr_put(w, len8, sizeof len8);
    if (s == DB_OK)
        s = wr_put(w, b.p, b.len);
    db_free(b.p);
    if (s != DB_OK)
        return s;
    w->begun = true;
    w->cur = 0;
    w->done = 0;
    writer_skip_empty(w);
    return DB_OK;
}

const char *st_writer_next(const st_writer *w)
{
    if (!w || !w->begun || w->failed != DB_OK || w->cur >= w->n)
        return NULL;
    return w->decl[w->order[w->cur]].name;
}

db_status st_writer_write(st_writer *w, const void *data, size_t n)
{
    db_status s = writer_usable(w);
    if (s != DB_OK)
        return s;
    if (!w->begun)
        return writer_fail(w, db_error(DB_ERR_ARG, "%s: tensor data written before "
                                                   "st_writer_begin", w->path));
    if (n == 0)
        return DB_OK;
    if (w->cur >= w->n)
        return writer_fail(w, db_error(DB_ERR_ARG, "%s: %zu bytes written after the last tensor",
                                       w->path, n));
    const st_decl *d = &w->decl[w->order[w->cur]];
    if (n > d->nbytes - w->done)
        return writer_fail(w, db_error(DB_ERR_ARG, "%s: %zu bytes written past the end of tensor "
                                                   "'%s', which needs only %" PRIu64 " more",
                                       w->path, n, q(d->name).s, d->nbytes - w->done));
    if (!data)
        return writer_fail(w, db_error(DB_ERR_ARG, "%s: NULL data", w->path));
    if ((s = wr_put(w, data, n)) != DB_OK)
        return s;
    w->done += n;
    if (w->done == d->nbytes) {
        w->cur++;
        w->done = 0;
        writer_skip_empty(w);
    }
    return DB_OK;
}

db_status st_writer_finish(st_writer *w)
{
    db_status s = writer_usable(w);
    if (!w)
        return s;
    if (s == DB_OK && !w->begun)
        s = st_writer_begin(w);
    if (s == DB_OK && w->cur < w->n) {
        const st_decl *d = &w->decl[w->order[w->cur]];
        s = writer_fail(w, db_error(DB_ERR_ARG, "%s: finished with bytes missing: tensor '%s' "
                                                "has %" PRIu64 " of %" PRIu64 " bytes, %zu tensors "
                                                "incomplete",
                                    w->path, q(d->name).s, w->done, d->nbytes, w->n - w->cur));
    }
    if (s == DB_OK)
        s = wr_flush(w);
    if (s == DB_OK && fsync(w->fd) != 0)
        s = writer_fail(w, db_error(DB_ERR_IO, "%s: cannot sync %s: %s", w->path, w->tmp,
                                    strerror(errno)));
    if (s == DB_OK) {
        int rc = close(w->fd);
        w->fd = -1;
        if (rc != 0)
            s = writer_fail(w, db_error(DB_ERR_IO, "%s: cannot close %s: %s", w->path, w->tmp,
                                        strerror(errno)));
    }
    if (s == DB_OK) {
        s = fs_commit(w->tmp, w->path); /* removes tmp itself when the rename fails */
        w->created = false;
    }
    writer_free(w);
    return s;
}

void st_writer_abort(st_writer *w) { writer_free(w); }

db_status st_save(const char *path, size_t n, const char *const *names, const db_tensor *tensors,
                  size_t nmeta, const char *const *keys, const char *const *values)
{
    if (!path || (n && (!names || !tensors)) || (nmeta && (!keys || !values)))
        return db_error(DB_ERR_ARG, "%s: st_save: NULL argument", path ? path : "st_save");
    st_writer *w;
    db_status s = st_writer_open(path, &w);
    if (s != DB_OK)
        return s;
    for (size_t i = 0; i < nmeta && s == DB_OK; i++)
        s = st_writer_meta(w, keys[i], values[i]);
    for (size_t i = 0; i < n && s == DB_OK; i++) {
        const db_tensor *t = &tensors[i];
        if (!tensor_is_contiguous(t))
            s = writer_fail(w, db_error(DB_ERR_ARG, "%s: tensor '%s' is not contiguous", path,
                                        names[i] ? q(names[i]).s : ""));
        else
            s = st_writer_declare(w, names[i], t->dtype, t->ndim, t->shape);
    }
    if (s == DB_OK)
        s = st_writer_begin(w);
    while (s == DB_OK && st_writer_next(w)) {
        size_t i = w->order[w->cur];
        s = st_writer_write(w, tensors[i].data, (size_t)w->decl[i].nbytes);
    }
    if (s != DB_OK) {
        st_writer_abort(w);
        return s;
    }
    return st_writer_finish(w);
}

/* ---- checkpoints --------------------------------------------------------------------------- */

typedef struct {
    const st_tensor_info *ti;
    size_t shard;
} st_entry;

struct st_model {
    char *path;                 /* the file or index the model came from (for messages) */
    st_file **shards;
    size_t nshards;
    const st_tensor_info **all; /* [n] shard order, then file order */
    st_entry *by_name;          /* [n] sorted by name */
    size_t n;
};

void st_model_close(st_model *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nshards; i++)
        st_close(m->shards[i]);
    db_free(m->shards);
    db_free(m->all);
    db_free(m->by_name);
    db_free(m->path);
    db_free(m);
}

static int cmp_entry(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    int c = strcmp(x->ti->name, y->ti->name);
    if (c)
        return c;
    return (x->shard > y->shard) - (x->shard < y->shard);
}

/* Builds the one name space over the open shards; a name in two shards is an error. */
static db_status model_index_names(st_model *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nshards; i++)
        n += st_count(m->shards[i]);
    m->all = db_malloc_array(n, sizeof *m->all);
    m->by_name = db_malloc_array(n, sizeof *m->by_name);
    if (!m->all || !m->by_name)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", m->path);
    for (size_t i = 0; i < m->nshards; i++)
        for (size_t j = 0; j < st_count(m->shards[i]); j++) {
            m->all[m->n] = st_get(m->shards[i], j);
            m->by_name[m->n] = (st_entry){m->all[m->n], i};
            m->n++;
        }
    qsort(m->by_name, m->n, sizeof *m->by_name, cmp_entry);
    for (size_t i = 1; i < m->n; i++)
        if (strcmp(m->by_name[i - 1].ti->name, m->by_name[i].ti->name) == 0)
            return db_error(DB_ERR_FORMAT, "%s: tensor '%s' is in two shards: %s and %s", m->path,
                            q(m->by_name[i].ti->name).s, st_path(m->shards[m->by_name[i - 1].shard]),
                            st_path(m->shards[m->by_name[i].shard]));
    return DB_OK;
}

static db_status model_open_single(st_model *m)
{
    m->shards = db_malloc(sizeof *m->shards);
    if (!m->shards)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", m->path);
    db_status s = st_open(m->path, &m->shards[0]);
    if (s != DB_OK)
        return s;
    m->nshards = 1;
    return model_index_names(m);
}

/* Opens the shards of a parsed index and checks the weight_map against them. */
static db_status model_load_index(st_model *m, const cJSON *root)
{
    const char *path = m->path;
    if (!cJSON_IsObject(root))
        return db_error(DB_ERR_FORMAT, "%s: index is not a JSON object", path);
    const cJSON *wm = NULL, *md = NULL;
    for (const cJSON *c = root->child; c; c = c->next) {
        const cJSON **slot = !c->string                             ? NULL
                             : strcmp(c->string, "weight_map") == 0 ? &wm
                             : strcmp(c->string, "metadata") == 0   ? &md
                                                                    : NULL;
        if (!slot)
            continue;
        if (*slot)
            return db_error(DB_ERR_FORMAT, "%s: duplicate key \"%s\"", path, c->string);
        *slot = c;
    }
    if (md && !cJSON_IsObject(md))
        return db_error(DB_ERR_FORMAT, "%s: \"metadata\" is not an object", path);
    if (!wm)
        return db_error(DB_ERR_FORMAT, "%s: missing \"weight_map\"", path);
    if (!cJSON_IsObject(wm))
        return db_error(DB_ERR_FORMAT, "%s: \"weight_map\" is not an object", path);
    size_t nw = 0;
    for (const cJSON *c = wm->child; c; c = c->next, nw++) {
        if (!c->string)
            return db_error(DB_ERR_FORMAT, "%s: weight_map entry without a name", path);
        if (!cJSON_IsString(c) || !c->valuestring || !c->valuestring[0])
            return db_error(DB_ERR_FORMAT, "%s: weight_map value of '%s' is not a file name",
                            path, q(c->string).s);
        if (c->valuestring[0] == '/')
            return db_error(DB_ERR_FORMAT, "%s: shard '%s' is an absolute path", path,
                            q(c->valuestring).s);
    }

    /* Shards in file-name order (model-00001-of-00002 sorts first), each opened once. */
    const char **names = db_malloc_array(nw, sizeof *names);
    if (!names)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    db_status s = DB_OK;
    size_t i = 0;
    for (const cJSON *c = wm->child; c; c = c->next)
        names[i++] = c->string;
    const char *dup = find_duplicate(names, nw);
    if (dup) {
        s = db_error(DB_ERR_FORMAT, "%s: tensor '%s' listed twice in weight_map", path, q(dup).s);
        goto done;
    }
    i = 0;
    for (const cJSON *c = wm->child; c; c = c->next)
        names[i++] = c->valuestring;
    qsort(names, nw, sizeof *names, cmp_str_ptr);
    size_t ns = 0;
    for (i = 0; i < nw; i++)
        if (ns == 0 || strcmp(names[ns - 1], names[i]) != 0)
            names[ns++] = names[i];
    m->shards = db_calloc(ns, sizeof *m->shards);
    if (!m->shards) {
        s = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    for (i = 0; i < ns; i++) {
        size_t len = dirlen + strlen(names[i]) + 1;
        char *sp = db_malloc(len);
        if (!sp) {
            s = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
            goto done;
        }
        memcpy(sp, path, dirlen);
        memcpy(sp + dirlen, names[i], len - dirlen);
        s = st_open(sp, &m->shards[i]);
        db_free(sp);
        if (s != DB_OK)
            goto done;
        m->nshards++;
    }
    for (const cJSON *c = wm->child; c; c = c->next) {
        const char **hit = bsearch(&c->valuestring, names, ns, sizeof *names, cmp_str_ptr);
        const st_file *sf = hit ? m->shards[hit - names] : NULL;
        if (!sf || !st_find(sf, c->string)) {
            s = db_error(DB_ERR_FORMAT, "%s: tensor '%s' is not in its shard %s", path,
                         q(c->string).s, sf ? st_path(sf) : q(c->valuestring).s);
            goto done;
        }
    }
    s = model_index_names(m);
done:
    db_free(names);
    return s;
}

static db_status model_open_index(st_model *m)
{
    char *text;
    size_t len;
    db_status s = fs_read_all(m->path, &text, &len);
    if (s != DB_OK)
        return s;
    const char *end;
    bool oom;
    cJSON *root = json_parse(text, len, &end, &oom);
    if (!root) {
        s = oom ? db_error(DB_ERR_NOMEM, "%s: out of memory parsing the index", m->path)
                : db_error(DB_ERR_FORMAT, "%s: invalid JSON (error near byte %zu)", m->path,
                           (size_t)(end - text));
        db_free(text);
        return s;
    }
    for (const char *p = end; p < text + len && s == DB_OK; p++)
        if (!json_ws(*p))
            s = db_error(DB_ERR_FORMAT, "%s: invalid JSON: trailing data at byte %zu", m->path,
                         (size_t)(p - text));
    db_free(text);
    if (s == DB_OK)
        s = model_load_index(m, root);
    cJSON_Delete(root);
    return s;
}

/* dir + "/" + name when it is a regular file, else NULL (also when out of memory: *oom). */
static char *dir_member(const char *dir, const char *name, bool *oom)
{
    size_t dl = strlen(dir), nl = strlen(name);
    char *p = db_malloc(dl + nl + 2);
    if (!p) {
        *oom = true;
        return NULL;
    }
    memcpy(p, dir, dl);
    p[dl] = '/';
    memcpy(p + dl + 1, name, nl + 1);
    struct stat st;
    if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
        return p;
    db_free(p);
    return NULL;
}

db_status st_model_open(const char *path, st_model **out)
{
    *out = NULL;
    if (!path)
        return db_error(DB_ERR_ARG, "st_model_open: NULL path");
    struct stat st;
    if (stat(path, &st) != 0)
        return db_error(DB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    st_model *m = db_calloc(1, sizeof *m);
    if (!m)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    db_status s;
    bool index;
    if (S_ISDIR(st.st_mode)) {
        bool oom = false;
        index = true;
        m->path = dir_member(path, ST_INDEX_NAME, &oom);
        if (!m->path && !oom) {
            index = false;
            m->path = dir_member(path, ST_SINGLE_NAME, &oom);
        }
        if (!m->path) {
            s = oom ? db_error(DB_ERR_NOMEM, "%s: out of memory", path)
                    : db_error(DB_ERR_IO, "%s: directory holds neither %s nor %s", path,
                               ST_INDEX_NAME, ST_SINGLE_NAME);
            goto fail;
        }
    } else {
        size_t len = strlen(path);
        index = len >= 5 && strcmp(path + len - 5, ".json") == 0;
        m->path = db_strdup(path);
        if (!m->path) {
            s = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
    }
    s = index ? model_open_index(m) : model_open_single(m);
    if (s != DB_OK)
        goto fail;
    *out = m;
    return DB_OK;
fail:
    st_model_close(m);
    return s;
}

size_t st_model_count(const st_model *m) { return m->n; }

const st_tensor_info *st_model_get(const st_model *m, size_t i)
{
    return i < m->n ? m->all[i] : NULL;
}

static int cmp_entry_name(const void *key, const void *e)
{
    return strcmp((const char *)key, ((const st_entry *)e)->ti->name);
}

const st_tensor_info *st_model_find(const st_model *m, const char *name)
{
    const st_entry *hit = bsearch(name, m->by_name, m->n, sizeof *m->by_name, cmp_entry_name);
    return hit ? hit->ti : NULL;
}

size_t st_model_shards(const st_model *m) { return m->nshards; }

const st_file *st_model_shard(const st_model *m, size_t i)
{
    return i < m->nshards ? m->shards[i] : NULL;
}
