/* core/results.c: the HDF5 results file of a run (writer) and the readers behind inspect/export.
 *
 * Writing goes through the high-level table API (H5TB) so that every table carries the standard
 * TABLE attributes that h5py, PyTables and HDFView understand. Reading does not rely on them: the
 * readers accept any 1-D compound dataset, converting the file type to the native one and
 * walking its members, so files written by h5py export as well as ours.
 *
 * HDF5's own error stack printing is switched off; a failure becomes one db_error() line naming
 * the file, what failed and, when HDF5 still has it, the innermost HDF5 reason. */
#include "core/results.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/version.h"

/* Chunking. An uncompressed chunk is stored whole, so a fixed 4096-row chunk turns a one-row
 * summary table into a 330 KB file; the first write sizes the chunk instead: its row count
 * rounded up to a power of two, at least 16 KiB and at most 4096 rows or 1 MiB (HDF5's default
 * chunk cache per dataset, so small appends stay cached). A table that starts small and grows
 * large ends up with 16 KiB chunks, which HDF5 handles well.
 *
 * Compression: H5TB offers deflate level 6 or none. Measured on 1e6 rows of an 80-byte request
 * row (8 numeric columns and a 16-byte policy string): none writes 80 MB in 0.14 s; deflate 6
 * writes 39 MB in 2.8 s; deflate 1 (through h5repack, reading included) 41 MB in ~1.5 s, with
 * shuffle 31 MB in ~1.2 s. Result files are small next to the models they describe and are written at the end
 * of timed runs, so none; h5repack compresses an archived file when wanted. */
enum { RES_CHUNK_MAX_ROWS = 4096, RES_CHUNK_MAX_BYTES = 1 << 20, RES_CHUNK_MIN_BYTES = 16 << 10 };
enum { RES_COMPRESS = 0 };
/* Rows read per H5Dread by the exporter. */
enum { RES_READ_BLOCK_BYTES = 1 << 20 };
/* Group nesting followed by the readers (hard links can form cycles). */
enum { RES_MAX_DEPTH = 32 };

static const unsigned char hdf5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

struct res_file {
    hid_t fid;
    char *final; /* the name the file gets at commit; every message names it */
    char *tmp;   /* where it is written until then */
    struct timespec t0; /* CLOCK_MONOTONIC at the process start, for duration_s */
};

/* ---- small helpers ------------------------------------------------------------------------- */

/* Called at every entry point: HDF5 would otherwise print its whole stack on stderr. */
static void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* A failed H5Fclose (its flush found the disk full) leaves the file half closed inside HDF5; the
 * library's exit handler then closes it again and crashes (HDF5 1.10). Every file is closed
 * explicitly (the temporary one of a failed write is removed), so that handler has nothing left
 * to do: it is not installed. This runs before main, ahead of any other HDF5 call. */
__attribute__((constructor)) static void h5_no_atexit(void) { H5dont_atexit(); }

static herr_t h5_err_innermost(unsigned n, const H5E_error2_t *e, void *data)
{
    char *buf = data;
    if (n == 0 && e->desc) {
        snprintf(buf, 256, "%s", e->desc);
        for (char *p = buf; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
    }
    return 0;
}

/* Records "PATH: WHAT failed[: innermost HDF5 reason]" and returns DB_ERR_HDF5. Must run before
 * any further HDF5 call, since each API call clears the error stack. */
static db_status h5_fail(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static db_status h5_fail(const char *path, const char *fmt, ...)
{
    char what[256], detail[256] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, h5_err_innermost, detail);
    return db_error(DB_ERR_HDF5, "%s: %s failed%s%s", path, what, detail[0] ? ": " : "", detail);
}

/* A growing string; an allocation failure sticks and is reported once at the end. */
typedef struct {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_add(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *np = db_realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n < sizeof tmp) {
        sb_add(b, tmp, (size_t)n);
        return;
    }
    char *big = db_malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_add(b, big, (size_t)n);
    db_free(big);
}

static void sb_free(sbuf *b)
{
    db_free(b->p);
    memset(b, 0, sizeof *b);
}

/* A string, quoted per RFC 4180 when it holds a comma, quote or line break (csv), raw otherwise. */
static void sb_field(sbuf *b, const char *s, size_t n, bool csv)
{
    bool quote = false;
    if (csv)
        for (size_t i = 0; i < n && !quote; i++)
            quote = s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r';
    if (!quote) {
        sb_add(b, s, n);
        return;
    }
    sb_add(b, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '"') {
            sb_add(b, s + start, i + 1 - start); /* through the quote, then double it */
            sb_add(b, "\"", 1);
            start = i + 1;
        }
    sb_add(b, s + start, n - start);
    sb_add(b, "\"", 1);
}

/* The shortest text that reads back as the same value, as printf's %g prints it at the fewest
 * significant digits that round-trip. For a normal double it suffices to try 15, 16, 17 (6..9 for
 * floats): when a string of at most 15 digits rounds to v, v lies so close to it that %.15g
 * yields it (trailing zeros dropped), and %.16g is the 16-digit string nearest to v. Subnormals
 * carry fewer bits, so for them every precision from 1 up is tried. (Converting once at 17
 * digits and rounding the text was measured only 1.3x faster and sometimes picks a 16-digit
 * string that is not the nearest.) NaN is "nan" whatever its sign bit, so exports compare as
 * text. */
static void sb_real(sbuf *b, double v, bool is_float)
{
    char tmp[40];
    if (isnan(v)) {
        sb_puts(b, "nan");
        return;
    }
    if (isinf(v)) {
        sb_puts(b, v < 0 ? "-inf" : "inf");
        return;
    }
    bool subnormal = v != 0 && fabs(v) < (is_float ? FLT_MIN : DBL_MIN);
    int lo = subnormal ? 1 : is_float ? 6 : 15, hi = is_float ? 9 : 17;
    for (int p = lo; p <= hi; p++) {
        snprintf(tmp, sizeof tmp, "%.*g", p, v);
        if (p == hi || (is_float ? (double)strtof(tmp, NULL) : strtod(tmp, NULL)) == v)
            break;
    }
    sb_puts(b, tmp);
}

/* ---- value formatting shared by attributes and table columns ------------------------------- */

/* One member (or an attribute element) in its native memory form. */
typedef struct {
    H5T_class_t cls;
    size_t off, size;
    bool is_signed; /* integers */
    bool vlen;      /* variable-length string: the element is a char * */
    hid_t type;     /* the native type (enum names, string padding) */
    char *name;     /* member name (H5free_memory), NULL for attributes */
} res_col;

static bool col_supported(const res_col *c)
{
    switch (c->cls) {
    case H5T_INTEGER:
    case H5T_BITFIELD:
        return c->size == 1 || c->size == 2 || c->size == 4 || c->size == 8;
    case H5T_FLOAT:
        return c->size == sizeof(float) || c->size == sizeof(double) ||
               c->size == sizeof(long double);
    case H5T_STRING:
    case H5T_ENUM:
        return true;
    default:
        return false;
    }
}

/* Fills c from a native type (takes ownership of `type` on success and failure). */
static db_status col_init(res_col *c, hid_t type, const char *path, const char *what)
{
    memset(c, 0, sizeof *c);
    c->type = type;
    c->cls = H5Tget_class(type);
    c->size = H5Tget_size(type);
    if (c->cls == H5T_NO_CLASS || c->size == 0)
        return h5_fail(path, "reading the type of %s", what);
    if (c->cls == H5T_INTEGER) {
        H5T_sign_t sg = H5Tget_sign(type);
        if (sg == H5T_SGN_ERROR)
            return h5_fail(path, "reading the sign of %s", what);
        c->is_signed = sg != H5T_SGN_NONE;
    } else if (c->cls == H5T_STRING) {
        htri_t v = H5Tis_variable_str(type);
        if (v < 0)
            return h5_fail(path, "reading the string type of %s", what);
        c->vlen = v > 0;
    }
    return DB_OK;
}

static void col_free(res_col *c)
{
    if (c->type >= 0)
        H5Tclose(c->type);
    if (c->name)
        H5free_memory(c->name);
    c->type = H5I_INVALID_HID;
    c->name = NULL;
}

/* Integers of the native sizes (col_supported admits only 1, 2, 4 and 8 bytes). */
static int64_t load_int(const unsigned char *p, size_t size)
{
    int8_t i8;
    int16_t i16;
    int32_t i32;
    int64_t i64;
    switch (size) {
    case 1: memcpy(&i8, p, 1); return i8;
    case 2: memcpy(&i16, p, 2); return i16;
    case 4: memcpy(&i32, p, 4); return i32;
    default: memcpy(&i64, p, 8); return i64;
    }
}

static uint64_t load_uint(const unsigned char *p, size_t size)
{
    uint8_t u8;
    uint16_t u16;
    uint32_t u32;
    uint64_t u64;
    switch (size) {
    case 1: memcpy(&u8, p, 1); return u8;
    case 2: memcpy(&u16, p, 2); return u16;
    case 4: memcpy(&u32, p, 4); return u32;
    default: memcpy(&u64, p, 8); return u64;
    }
}

static void sb_value(sbuf *b, const res_col *c, const unsigned char *p, bool csv)
{
    switch (c->cls) {
    case H5T_INTEGER:
    case H5T_BITFIELD:
        if (c->is_signed && c->cls == H5T_INTEGER)
            sb_printf(b, "%" PRId64, load_int(p, c->size));
        else
            sb_printf(b, "%" PRIu64, load_uint(p, c->size));
        break;
    case H5T_FLOAT:
        if (c->size == sizeof(float)) {
            float x;
            memcpy(&x, p, sizeof x);
            sb_real(b, x, true);
        } else if (c->size == sizeof(double)) {
            double x;
            memcpy(&x, p, sizeof x);
            sb_real(b, x, false);
        } else {
            long double x;
            memcpy(&x, p, sizeof x);
            sb_real(b, (double)x, false);
        }
        break;
    case H5T_STRING:
        if (c->vlen) {
            const char *s;
            memcpy(&s, p, sizeof s);
            if (s)
                sb_field(b, s, strlen(s), csv);
        } else {
            /* NULLPAD strings (numpy 'S') may fill the field without a terminator. */
            sb_field(b, (const char *)p, strnlen((const char *)p, c->size), csv);
        }
        break;
    case H5T_ENUM: {
        char name[256];
        if (H5Tenum_nameof(c->type, p, name, sizeof name) >= 0)
            sb_field(b, name, strlen(name), csv);
        else
            sb_puts(b, "?"); /* a value outside the enum's members */
        break;
    }
    default:
        sb_puts(b, "?");
        break;
    }
}

/* ---- writing ------------------------------------------------------------------------------- */

static db_status attr_write(res_file *f, const char *key, hid_t type, const void *val)
{
    hid_t sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
    db_status st = DB_OK;
    htri_t ex = H5Aexists(f->fid, key);
    if (ex < 0)
        return h5_fail(f->final, "looking up attribute '%s'", key);
    if (ex > 0 && H5Adelete(f->fid, key) < 0) /* a second write replaces the value */
        return h5_fail(f->final, "replacing attribute '%s'", key);
    if ((sp = H5Screate(H5S_SCALAR)) < 0) {
        st = h5_fail(f->final, "creating the dataspace of attribute '%s'", key);
    } else if ((a = H5Acreate2(f->fid, key, type, sp, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
        st = h5_fail(f->final, "creating attribute '%s'", key);
    } else if (H5Awrite(a, type, val) < 0) {
        st = h5_fail(f->final, "writing attribute '%s'", key);
    }
    if (a >= 0 && H5Aclose(a) < 0 && st == DB_OK)
        st = h5_fail(f->final, "closing attribute '%s'", key);
    if (sp >= 0)
        H5Sclose(sp);
    return st;
}

static db_status attr_str(res_file *f, const char *key, const char *value)
{
    /* Variable-length UTF-8: h5py reads it back as str, not bytes. */
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
        return h5_fail(f->final, "creating the string type of attribute '%s'", key);
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        db_status st = h5_fail(f->final, "creating the string type of attribute '%s'", key);
        H5Tclose(t);
        return st;
    }
    db_status st = attr_write(f, key, t, &value);
    H5Tclose(t);
    return st;
}

static db_status check_attr_args(res_file *f, const char *key, const char *fn)
{
    if (!f || !key || !key[0])
        return db_error(DB_ERR_ARG, "%s: NULL file or empty attribute name", fn);
    return DB_OK;
}

db_status res_attr_str(res_file *f, const char *key, const char *value)
{
    db_status st = check_attr_args(f, key, "res_attr_str");
    if (st != DB_OK)
        return st;
    h5_quiet();
    return attr_str(f, key, value ? value : "");
}

db_status res_attr_i64(res_file *f, const char *key, int64_t value)
{
    db_status st = check_attr_args(f, key, "res_attr_i64");
    if (st != DB_OK)
        return st;
    h5_quiet();
    return attr_write(f, key, H5T_NATIVE_INT64, &value);
}

db_status res_attr_f64(res_file *f, const char *key, double value)
{
    db_status st = check_attr_args(f, key, "res_attr_f64");
    if (st != DB_OK)
        return st;
    h5_quiet();
    return attr_write(f, key, H5T_NATIVE_DOUBLE, &value);
}

/* "model name" of /proc/cpuinfo, or "unknown" (other architectures, no procfs). */
static void cpu_model(char *buf, size_t n)
{
    snprintf(buf, n, "unknown");
    FILE *fp = fopen("/proc/cpuinfo", "r");
    if (!fp)
        return;
    char line[512];
    bool at_line_start = true; /* fgets splits long lines ("flags"); match only real starts */
    while (fgets(line, sizeof line, fp)) {
        size_t len = strlen(line);
        bool starts = at_line_start;
        at_line_start = len > 0 && line[len - 1] == '\n';
        if (!starts || strncmp(line, "model name", 10) != 0)
            continue;
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        char *s = colon + 1;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t m = strlen(s);
        while (m > 0 && (s[m - 1] == '\n' || s[m - 1] == ' ' || s[m - 1] == '\t'))
            s[--m] = '\0';
        if (m > 0)
            snprintf(buf, n, "%s", s);
        break;
    }
    fclose(fp);
}

char *res_join_argv(int argc, char *const *argv)
{
    size_t n = 1;
    if (!argv)
        argc = 0;
    for (int i = 0; i < argc; i++)
        n += strlen(argv[i] ? argv[i] : "") + 1;
    char *s = db_malloc(n);
    if (!s)
        return NULL;
    s[0] = '\0';
    size_t len = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i] ? argv[i] : "";
        size_t m = strlen(a);
        if (i > 0)
            s[len++] = ' ';
        memcpy(s + len, a, m + 1);
        len += m;
    }
    return s;
}

static void res_file_free(res_file *f)
{
    db_free(f->final);
    db_free(f->tmp);
    db_free(f);
}

/* The process's start: duration_s covers the run (the process) up to the commit, not only the
 * file's writing. Taken by a constructor, before main. */
static struct timespec res_t_start;

__attribute__((constructor)) static void res_mark_start(void)
{
    clock_gettime(CLOCK_MONOTONIC, &res_t_start);
}

/* The root attributes every run carries. */
static db_status write_run_attrs(res_file *f, const res_run_info *info, const struct timespec *now)
{
    char host[256], cpu[256], when[32];
    db_status st;

    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "unknown");
    host[sizeof host - 1] = '\0';
    cpu_model(cpu, sizeof cpu);
    struct tm tm;
    if (!gmtime_r(&now->tv_sec, &tm) || strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(when, sizeof when, "unknown");
    const char *gpu = info && info->gpu_name && info->gpu_name[0] ? info->gpu_name : "none";

    char *cmd = info ? res_join_argv(info->argc, info->argv) : res_join_argv(0, NULL);
    if (!cmd)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", f->final);
    uint64_t seed = info ? info->seed : 0;
    if ((st = attr_str(f, "tool_version", DB_VERSION)) == DB_OK &&
        (st = attr_str(f, "git_commit", db_git_commit())) == DB_OK &&
        (st = attr_str(f, "command_line", cmd)) == DB_OK &&
        (st = attr_write(f, "seed", H5T_NATIVE_UINT64, &seed)) == DB_OK &&
        (st = attr_str(f, "host", host)) == DB_OK && (st = attr_str(f, "cpu_model", cpu)) == DB_OK &&
        (st = attr_str(f, "gpu_name", gpu)) == DB_OK)
        st = attr_str(f, "start_time", when);
    db_free(cmd);
    return st;
}

db_status res_create(const char *path, const res_run_info *info, res_file **out)
{
    if (!out)
        return db_error(DB_ERR_ARG, "res_create: NULL output handle");
    *out = NULL;
    if (!path || !path[0])
        return db_error(DB_ERR_ARG, "res_create: empty path");
    h5_quiet();

    res_file *f = db_calloc(1, sizeof *f);
    if (!f)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    f->fid = H5I_INVALID_HID;
    size_t n = strlen(path) + 32;
    f->final = db_strdup(path);
    f->tmp = db_malloc(n);
    if (!f->final || !f->tmp) {
        res_file_free(f);
        return db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    }
    fs_tmp_name(path, f->tmp, n);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &f->t0);
    if (res_t_start.tv_sec || res_t_start.tv_nsec)
        f->t0 = res_t_start;
    clock_gettime(CLOCK_REALTIME, &now);

    /* STRONG: closing the file closes whatever an error path left open. */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) < 0) {
        db_status st = h5_fail(path, "creating file access properties");
        if (fapl >= 0)
            H5Pclose(fapl);
        res_file_free(f);
        return st;
    }
    errno = 0;
    f->fid = H5Fcreate(f->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    int e = errno;
    H5Pclose(fapl);
    if (f->fid < 0) {
        db_status st = e ? db_error(DB_ERR_HDF5, "%s: cannot create %s: %s", path, f->tmp, strerror(e))
                         : h5_fail(path, "creating %s", f->tmp);
        res_file_free(f);
        return st;
    }
    db_status st = write_run_attrs(f, info, &now);
    if (st != DB_OK) {
        res_abort(f);
        return st;
    }
    *out = f;
    return DB_OK;
}

/* Schemas are static data written by programmers; a bad one is a bug worth a clear message. */
static db_status schema_check(const char *path, const res_schema *s)
{
    if (!s->name || !s->name[0] || strchr(s->name, '/') || strcmp(s->name, ".") == 0)
        return db_error(DB_ERR_ARG, "%s: table name '%s' is not a plain dataset name", path,
                        s->name ? s->name : "(null)");
    if (s->nfields == 0 || !s->fields || s->row_size == 0)
        return db_error(DB_ERR_ARG, "%s: table '%s' has no fields", path, s->name);
    for (size_t i = 0; i < s->nfields; i++) {
        const res_field *fl = &s->fields[i];
        if (!fl->name || !fl->name[0])
            return db_error(DB_ERR_ARG, "%s: table '%s': field %zu has no name", path, s->name, i);
        bool size_ok = fl->type == RES_T_STR ? fl->size >= 1
                       : fl->type == RES_T_I64 || fl->type == RES_T_F64 ? fl->size == 8
                                                                          : false;
        if (!size_ok || fl->offset > s->row_size || fl->size > s->row_size - fl->offset)
            return db_error(DB_ERR_ARG, "%s: table '%s': field '%s' has a bad type, size or offset",
                            path, s->name, fl->name);
        for (size_t j = 0; j < i; j++) {
            const res_field *o = &s->fields[j];
            if (strcmp(o->name, fl->name) == 0)
                return db_error(DB_ERR_ARG, "%s: table '%s': field '%s' appears twice", path,
                                s->name, fl->name);
            if (fl->offset < o->offset + o->size && o->offset < fl->offset + fl->size)
                return db_error(DB_ERR_ARG, "%s: table '%s': fields '%s' and '%s' overlap", path,
                                s->name, o->name, fl->name);
        }
    }
    return DB_OK;
}

/* A string field without its NUL would be cut by readers or read past; refuse the rows. */
static db_status rows_check_strings(const char *path, const res_schema *s, size_t nrows,
                                    const void *rows)
{
    const unsigned char *base = rows;
    for (size_t i = 0; i < s->nfields; i++) {
        const res_field *fl = &s->fields[i];
        if (fl->type != RES_T_STR)
            continue;
        for (size_t r = 0; r < nrows; r++)
            if (!memchr(base + r * s->row_size + fl->offset, 0, fl->size))
                return db_error(DB_ERR_ARG,
                                "%s: table '%s' row %zu: string '%s' is not NUL-terminated within "
                                "its %zu bytes",
                                path, s->name, r, fl->name, fl->size);
    }
    return DB_OK;
}

static hsize_t chunk_rows(size_t row_size, size_t first_rows)
{
    size_t hi = RES_CHUNK_MAX_BYTES / row_size, lo = RES_CHUNK_MIN_BYTES / row_size;
    if (hi > RES_CHUNK_MAX_ROWS)
        hi = RES_CHUNK_MAX_ROWS;
    if (hi == 0)
        hi = 1;
    if (lo == 0)
        lo = 1;
    if (lo > hi)
        lo = hi;
    size_t n = 1;
    while (n < first_rows && n < hi)
        n *= 2;
    return n < lo ? lo : n > hi ? hi : n;
}

static db_status table_create(res_file *f, const res_schema *s, size_t nrows, const void *rows)
{
    size_t n = s->nfields;
    const char **names = db_malloc_array(n, sizeof *names);
    size_t *offs = db_malloc_array(n, sizeof *offs);
    hid_t *types = db_malloc_array(n, sizeof *types);
    db_status st = DB_OK;
    size_t ntypes = 0;
    if (!names || !offs || !types) {
        st = db_error(DB_ERR_NOMEM, "%s: out of memory", f->final);
        goto done;
    }
    for (; ntypes < n; ntypes++) {
        const res_field *fl = &s->fields[ntypes];
        names[ntypes] = fl->name;
        offs[ntypes] = fl->offset;
        if (fl->type == RES_T_STR) {
            hid_t t = H5Tcopy(H5T_C_S1);
            if (t < 0 || H5Tset_size(t, fl->size) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0) {
                st = h5_fail(f->final, "creating the type of column '%s' of table '%s'", fl->name,
                             s->name);
                if (t >= 0)
                    H5Tclose(t);
                goto done;
            }
            types[ntypes] = t;
        } else {
            /* Predefined types are copied so that cleanup can close every entry alike. */
            types[ntypes] = H5Tcopy(fl->type == RES_T_I64 ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE);
            if (types[ntypes] < 0) {
                st = h5_fail(f->final, "creating the type of column '%s' of table '%s'", fl->name,
                             s->name);
                goto done;
            }
        }
    }
    if (H5TBmake_table(s->title ? s->title : "", f->fid, s->name, n, nrows, s->row_size, names,
                       offs, types, chunk_rows(s->row_size, nrows), NULL, RES_COMPRESS,
                       nrows ? rows : NULL) < 0)
        st = h5_fail(f->final, "creating table '%s' (%zu rows)", s->name, nrows);
done:
    for (size_t i = 0; i < ntypes; i++)
        H5Tclose(types[i]);
    db_free(names);
    db_free(offs);
    db_free(types);
    return st;
}

/* An append must match the table's layout exactly: H5TB maps columns by position. */
static db_status table_check_same(res_file *f, const res_schema *s)
{
    db_status st = DB_OK;
    hid_t d = H5Dopen2(f->fid, s->name, H5P_DEFAULT);
    if (d < 0)
        return h5_fail(f->final, "opening table '%s'", s->name);
    hid_t t = H5Dget_type(d);
    if (t < 0) {
        st = h5_fail(f->final, "reading the type of table '%s'", s->name);
        goto done;
    }
    const char *why = NULL;
    if (H5Tget_class(t) != H5T_COMPOUND || H5Tget_size(t) != s->row_size ||
        H5Tget_nmembers(t) != (int)s->nfields)
        why = "row layout";
    for (size_t i = 0; !why && i < s->nfields; i++) {
        const res_field *fl = &s->fields[i];
        char *name = H5Tget_member_name(t, (unsigned)i);
        H5T_class_t want = fl->type == RES_T_I64   ? H5T_INTEGER
                           : fl->type == RES_T_F64 ? H5T_FLOAT
                                                   : H5T_STRING;
        hid_t mt = H5Tget_member_type(t, (unsigned)i);
        if (!name || strcmp(name, fl->name) != 0 || H5Tget_member_offset(t, (unsigned)i) != fl->offset ||
            mt < 0 || H5Tget_class(mt) != want || H5Tget_size(mt) != fl->size)
            why = fl->name;
        if (mt >= 0)
            H5Tclose(mt);
        if (name)
            H5free_memory(name);
    }
    if (why)
        st = db_error(DB_ERR_ARG, "%s: table '%s' exists with a different schema (%s differs)",
                      f->final, s->name, why);
done:
    if (t >= 0)
        H5Tclose(t);
    H5Dclose(d);
    return st;
}

db_status res_table_write(res_file *f, const res_schema *s, size_t nrows, const void *rows)
{
    if (!f || !s)
        return db_error(DB_ERR_ARG, "res_table_write: NULL file or schema");
    db_status st = schema_check(f->final, s);
    if (st != DB_OK)
        return st;
    if (nrows > 0 && !rows)
        return db_error(DB_ERR_ARG, "%s: table '%s': %zu rows but no data", f->final, s->name, nrows);
    if ((st = rows_check_strings(f->final, s, nrows, rows)) != DB_OK)
        return st;
    h5_quiet();
    htri_t ex = H5Lexists(f->fid, s->name, H5P_DEFAULT);
    if (ex < 0)
        return h5_fail(f->final, "looking up table '%s'", s->name);
    if (ex == 0)
        return table_create(f, s, nrows, rows);
    if ((st = table_check_same(f, s)) != DB_OK || nrows == 0)
        return st;

    size_t *offs = db_malloc_array(s->nfields, 2 * sizeof *offs);
    if (!offs)
        return db_error(DB_ERR_NOMEM, "%s: out of memory", f->final);
    size_t *sizes = offs + s->nfields;
    for (size_t i = 0; i < s->nfields; i++) {
        offs[i] = s->fields[i].offset;
        sizes[i] = s->fields[i].size;
    }
    if (H5TBappend_records(f->fid, s->name, nrows, s->row_size, offs, sizes, rows) < 0)
        st = h5_fail(f->final, "appending %zu rows to table '%s'", nrows, s->name);
    db_free(offs);
    return st;
}

db_status res_commit(res_file *f)
{
    if (!f)
        return db_error(DB_ERR_ARG, "res_commit: NULL file");
    h5_quiet();
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dur = (double)(t1.tv_sec - f->t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - f->t0.tv_nsec);
    db_status st = attr_write(f, "duration_s", H5T_NATIVE_DOUBLE, &dur);
    if (st != DB_OK) {
        res_abort(f);
        return st;
    }
    herr_t e = H5Fclose(f->fid);
    if (e < 0) {
        st = h5_fail(f->final, "closing %s", f->tmp);
        fs_abort(f->tmp);
    } else {
        st = fs_commit(f->tmp, f->final);
    }
    f->fid = H5I_INVALID_HID;
    res_file_free(f);
    return st;
}

void res_abort(res_file *f)
{
    if (!f)
        return;
    h5_quiet();
    if (f->fid >= 0)
        H5Fclose(f->fid);
    fs_abort(f->tmp);
    res_file_free(f);
}

/* ---- reading ------------------------------------------------------------------------------- */

static int read_guard_on = 1;

db_status res_rows_stored(const char *path, const char *table, uint64_t nrows, size_t row_bytes,
                          uint64_t stored_bytes, uint64_t file_bytes)
{
    if (nrows == 0)
        return DB_OK;
    if (stored_bytes == 0)
        return db_error(DB_ERR_FORMAT, "%s: table '%s' declares %" PRIu64 " rows but none is stored",
                        path, table, nrows);
    if (stored_bytes > file_bytes)
        return db_error(DB_ERR_FORMAT,
                        "%s: table '%s' claims %" PRIu64 " bytes of storage in a file of %" PRIu64
                        " (corrupt file)",
                        path, table, stored_bytes, file_bytes);
    if (row_bytes == 0 || nrows > UINT64_MAX / row_bytes ||
        (stored_bytes <= UINT64_MAX / RES_MAX_EXPANSION &&
         nrows * row_bytes > stored_bytes * RES_MAX_EXPANSION))
        return db_error(DB_ERR_FORMAT,
                        "%s: table '%s' declares %" PRIu64 " rows of %zu bytes but stores only %" PRIu64
                        " bytes (more than %dx expansion: rows never written?)",
                        path, table, nrows, row_bytes, stored_bytes, (int)RES_MAX_EXPANSION);
    return DB_OK;
}

void res_read_guard(int on)
{
    read_guard_on = on != 0;
}

db_status res_read_guarded(const char *path, db_status (*read)(const char *path, void *arg),
                           void *arg)
{
    if (!read_guard_on)
        return DB_OK;
    enum { CHILD_OK = 0, CHILD_FAILED = 3 }; /* any other end is a crash (ASan exits 1) */
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return DB_OK;
    if (pid == 0) { /* the probe: its messages (a sanitizer's report) are not the command's */
        int nul = open("/dev/null", O_WRONLY);
        if (nul >= 0)
            dup2(nul, 2);
        _exit(read(path, arg) == DB_OK ? CHILD_OK : CHILD_FAILED);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return DB_OK;
    if (WIFEXITED(st) && (WEXITSTATUS(st) == CHILD_OK || WEXITSTATUS(st) == CHILD_FAILED))
        return DB_OK;
    if (WIFSIGNALED(st))
        return db_error(DB_ERR_FORMAT, "%s: malformed HDF5 file (the HDF5 library crashed "
                        "reading it: signal %d)", path, WTERMSIG(st));
    return db_error(DB_ERR_FORMAT, "%s: malformed HDF5 file (the HDF5 library failed reading "
                    "it: exit %d)", path, WEXITSTATUS(st));
}

int res_is_hdf5(const char *path)
{
    unsigned char sig[sizeof hdf5_sig];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, sig, sizeof sig);
    close(fd);
    return n == (ssize_t)sizeof sig && memcmp(sig, hdf5_sig, sizeof sig) == 0;
}

static db_status open_read(const char *path, hid_t *fid)
{
    *fid = H5I_INVALID_HID;
    if (!path)
        return db_error(DB_ERR_ARG, "NULL path");
    h5_quiet();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return db_error(DB_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    bool is_dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
    close(fd);
    if (is_dir)
        return db_error(DB_ERR_IO, "%s: %s", path, strerror(EISDIR));
    /* H5Fis_hdf5 also finds the signature after a user block (h5py's userblock_size). */
    if (!res_is_hdf5(path) && H5Fis_hdf5(path) <= 0)
        return db_error(DB_ERR_FORMAT, "%s: not an HDF5 file", path);
    if ((*fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0)
        return h5_fail(path, "opening");
    return DB_OK;
}

/* Formats attribute `name` of loc: scalars bare, arrays as [a, b, c]. */
static db_status attr_format(const char *path, hid_t loc, const char *name, sbuf *b)
{
    db_status st = DB_OK;
    hid_t a = H5I_INVALID_HID, ft = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    res_col c = {.type = H5I_INVALID_HID};
    unsigned char *buf = NULL;
    hssize_t np = 0;

    if ((a = H5Aopen(loc, name, H5P_DEFAULT)) < 0 || (ft = H5Aget_type(a)) < 0 ||
        (sp = H5Aget_space(a)) < 0 || (np = H5Sget_simple_extent_npoints(sp)) < 0) {
        st = h5_fail(path, "opening attribute '%s'", name);
        goto done;
    }
    hid_t nt = H5Tget_native_type(ft, H5T_DIR_ASCEND);
    if (nt < 0) {
        st = h5_fail(path, "reading the type of attribute '%s'", name);
        goto done;
    }
    if ((st = col_init(&c, nt, path, name)) != DB_OK)
        goto done;
    if (!col_supported(&c)) {
        st = db_error(DB_ERR_UNSUPPORTED, "%s: attribute '%s' has an HDF5 type class (%d) that "
                      "cannot be shown as text", path, name, (int)c.cls);
        goto done;
    }
    size_t esz = c.vlen ? sizeof(char *) : c.size;
    if (!(buf = db_calloc(np ? (size_t)np : 1, esz))) {
        st = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (np > 0 && H5Aread(a, c.type, buf) < 0) {
        st = h5_fail(path, "reading attribute '%s'", name);
        goto done;
    }
    bool scalar = H5Sget_simple_extent_type(sp) == H5S_SCALAR;
    if (!scalar)
        sb_puts(b, "[");
    for (hssize_t i = 0; i < np; i++) {
        if (i > 0)
            sb_puts(b, ", ");
        sb_value(b, &c, buf + (size_t)i * esz, false);
    }
    if (!scalar)
        sb_puts(b, "]");
    if (c.vlen && np > 0)
        H5Dvlen_reclaim(c.type, sp, H5P_DEFAULT, buf);
    if (b->oom)
        st = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
done:
    db_free(buf);
    col_free(&c);
    if (sp >= 0)
        H5Sclose(sp);
    if (ft >= 0)
        H5Tclose(ft);
    if (a >= 0)
        H5Aclose(a);
    return st;
}

db_status res_read_attr(const char *path, const char *key, char *buf, size_t n)
{
    if (!buf || n == 0 || !key)
        return db_error(DB_ERR_ARG, "res_read_attr: NULL key or empty buffer");
    buf[0] = '\0';
    hid_t fid;
    db_status st = open_read(path, &fid);
    if (st != DB_OK)
        return st;
    sbuf b = {0};
    htri_t ex = key[0] ? H5Aexists(fid, key) : 0;
    if (ex < 0)
        st = h5_fail(path, "looking up attribute '%s'", key);
    else if (ex == 0)
        st = db_error(DB_ERR_NOT_FOUND, "%s: no attribute '%s'", path, key);
    else if ((st = attr_format(path, fid, key, &b)) == DB_OK)
        snprintf(buf, n, "%s", b.p ? b.p : "");
    sb_free(&b);
    H5Fclose(fid);
    return st;
}

/* ---- walking the tables of a file ---------------------------------------------------------- */

typedef db_status (*table_fn)(const char *tpath, hid_t d, void *data);

typedef struct {
    const char *path; /* the file, for messages */
    char prefix[1024]; /* group path of the current level, "" at the root */
    int depth;
    table_fn fn;
    void *data;
    db_status st;
} walk_ctx;

/* 1: a 1-D compound dataset (a table); 0: another dataset; -1: HDF5 error. */
static int is_table(hid_t d, hsize_t *nrows)
{
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    int r = -1;
    if (t >= 0 && sp >= 0) {
        H5T_class_t cls = H5Tget_class(t);
        int nd = H5Sget_simple_extent_ndims(sp);
        hsize_t dims[1] = {0};
        if (cls != H5T_NO_CLASS && nd >= 0) {
            r = cls == H5T_COMPOUND && nd == 1;
            if (r && H5Sget_simple_extent_dims(sp, dims, NULL) < 0)
                r = -1;
            if (nrows)
                *nrows = dims[0];
        }
    }
    if (t >= 0)
        H5Tclose(t);
    if (sp >= 0)
        H5Sclose(sp);
    return r;
}

static herr_t walk_link(hid_t g, const char *name, const H5L_info_t *info, void *data);

static db_status walk_group(walk_ctx *w, hid_t g)
{
    hsize_t idx = 0;
    if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, walk_link, w) < 0 && w->st == DB_OK)
        w->st = h5_fail(w->path, "listing group '/%s'", w->prefix);
    return w->st;
}

static herr_t walk_link(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    walk_ctx *w = data;
    if (info->type != H5L_TYPE_HARD) /* soft and external links may dangle or loop */
        return 0;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    if (o < 0) {
        w->st = h5_fail(w->path, "opening '/%s%s'", w->prefix, name);
        return -1;
    }
    size_t plen = strlen(w->prefix);
    char tpath[1024];
    snprintf(tpath, sizeof tpath, "%s%s", w->prefix, name);
    H5I_type_t kind = H5Iget_type(o);
    if (kind == H5I_DATASET) {
        int t = is_table(o, NULL);
        if (t < 0)
            w->st = h5_fail(w->path, "reading dataset '/%s'", tpath);
        else if (t)
            w->st = w->fn(tpath, o, w->data);
    } else if (kind == H5I_GROUP && w->depth < RES_MAX_DEPTH &&
               plen + strlen(name) + 2 < sizeof w->prefix) {
        snprintf(w->prefix + plen, sizeof w->prefix - plen, "%s/", name);
        w->depth++;
        walk_group(w, o);
        w->depth--;
        w->prefix[plen] = '\0';
    }
    H5Oclose(o);
    return w->st == DB_OK ? 0 : -1;
}

static db_status walk_tables(const char *path, hid_t fid, table_fn fn, void *data)
{
    walk_ctx w = {.path = path, .fn = fn, .data = data, .st = DB_OK};
    return walk_group(&w, fid);
}

/* ---- describe ------------------------------------------------------------------------------ */

typedef struct {
    const char *path;
    FILE *out;
    db_status st;
} describe_ctx;

static herr_t describe_attr(hid_t loc, const char *name, const H5A_info_t *ainfo, void *data)
{
    (void)ainfo;
    describe_ctx *c = data;
    sbuf b = {0};
    db_status st = attr_format(c->path, loc, name, &b);
    if (st == DB_OK)
        fprintf(c->out, "  %s = %s\n", name, b.p ? b.p : "");
    else if (st == DB_ERR_UNSUPPORTED)
        fprintf(c->out, "  %s = (not shown: unsupported type)\n", name);
    else
        c->st = st;
    sb_free(&b);
    return c->st == DB_OK ? 0 : -1;
}

static db_status describe_table(const char *tpath, hid_t d, void *data)
{
    describe_ctx *c = data;
    hsize_t nrows = 0;
    if (is_table(d, &nrows) < 0)
        return h5_fail(c->path, "reading table '%s'", tpath);
    hid_t t = H5Dget_type(d);
    int nm = t >= 0 ? H5Tget_nmembers(t) : -1;
    if (nm < 0) {
        db_status st = h5_fail(c->path, "reading the columns of table '%s'", tpath);
        if (t >= 0)
            H5Tclose(t);
        return st;
    }
    fprintf(c->out, "table %s: %llu rows; columns: ", tpath, (unsigned long long)nrows);
    for (int i = 0; i < nm; i++) {
        char *name = H5Tget_member_name(t, (unsigned)i);
        fprintf(c->out, "%s%s", i ? ", " : "", name ? name : "?");
        if (name)
            H5free_memory(name);
    }
    fputc('\n', c->out);
    H5Tclose(t);
    return DB_OK;
}

db_status res_describe(const char *path, FILE *out)
{
    if (!out)
        return db_error(DB_ERR_ARG, "res_describe: NULL output");
    hid_t fid;
    db_status st = open_read(path, &fid);
    if (st != DB_OK)
        return st;
    describe_ctx c = {.path = path, .out = out, .st = DB_OK};
    hsize_t idx = 0;
    if (H5Aiterate2(fid, H5_INDEX_NAME, H5_ITER_INC, &idx, describe_attr, &c) < 0 && c.st == DB_OK)
        c.st = h5_fail(path, "listing the root attributes");
    if (c.st == DB_OK)
        c.st = walk_tables(path, fid, describe_table, &c);
    H5Fclose(fid);
    if (c.st == DB_OK && ferror(out))
        c.st = db_error(DB_ERR_IO, "%s: write error on the output", path);
    return c.st;
}

/* ---- CSV export ---------------------------------------------------------------------------- */

static db_status list_table(const char *tpath, hid_t d, void *data)
{
    (void)d;
    sbuf *b = data;
    sb_printf(b, "%s%s", b->len ? ", " : "", tpath);
    return DB_OK;
}

/* NOT_FOUND with the list of tables the file does have. */
static db_status not_a_table(const char *path, hid_t fid, const char *table, bool exists)
{
    sbuf names = {0};
    db_status st = walk_tables(path, fid, list_table, &names);
    if (st == DB_OK && names.oom)
        st = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
    if (st == DB_OK)
        st = db_error(DB_ERR_NOT_FOUND, exists ? "%s: '%s' is not a table (tables: %s)"
                                               : "%s: no table '%s' (tables: %s)",
                      path, table, names.len ? names.p : "none");
    sb_free(&names);
    return st;
}

static db_status csv_rows(const char *path, const char *table, hid_t d, hid_t nt, res_col *cols,
                          int ncols, hsize_t nrows, FILE *out)
{
    db_status st = DB_OK;
    size_t rsz = H5Tget_size(nt);
    bool vlen = false;
    for (int i = 0; i < ncols; i++)
        vlen |= cols[i].vlen;
    hsize_t block = RES_READ_BLOCK_BYTES / rsz ? RES_READ_BLOCK_BYTES / rsz : 1;
    if (block > nrows)
        block = nrows;
    if (block == 0)
        return DB_OK;
    hid_t fsp = H5Dget_space(d), msp = H5I_INVALID_HID;
    unsigned char *buf = db_malloc_array((size_t)block, rsz);
    sbuf line = {0};
    if (fsp < 0) {
        st = h5_fail(path, "reading the dataspace of table '%s'", table);
        goto done;
    }
    if (!buf) {
        st = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (hsize_t r0 = 0; r0 < nrows && st == DB_OK; r0 += block) {
        hsize_t count = nrows - r0 < block ? nrows - r0 : block;
        if (msp < 0 || count != block) {
            if (msp >= 0)
                H5Sclose(msp);
            msp = H5Screate_simple(1, &count, NULL);
        }
        if (msp < 0 || H5Sselect_hyperslab(fsp, H5S_SELECT_SET, &r0, NULL, &count, NULL) < 0 ||
            H5Dread(d, nt, msp, fsp, H5P_DEFAULT, buf) < 0) {
            st = h5_fail(path, "reading rows %llu..%llu of table '%s'", (unsigned long long)r0,
                         (unsigned long long)(r0 + count - 1), table);
            break;
        }
        for (hsize_t r = 0; r < count; r++) {
            line.len = 0;
            for (int i = 0; i < ncols; i++) {
                if (i)
                    sb_add(&line, ",", 1);
                sb_value(&line, &cols[i], buf + r * rsz + cols[i].off, true);
            }
            sb_add(&line, "\n", 1);
            if (line.oom) {
                st = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            fwrite(line.p, 1, line.len, out);
        }
        if (vlen)
            H5Dvlen_reclaim(nt, msp, H5P_DEFAULT, buf);
    }
done:
    sb_free(&line);
    db_free(buf);
    if (msp >= 0)
        H5Sclose(msp);
    if (fsp >= 0)
        H5Sclose(fsp);
    return st;
}

static db_status export_table(const char *path, const char *table, hid_t d, FILE *out)
{
    db_status st = DB_OK;
    hid_t ft = H5I_INVALID_HID, nt = H5I_INVALID_HID;
    res_col *cols = NULL;
    int ncols = 0;
    hsize_t nrows = 0;
    sbuf head = {0};

    if (is_table(d, &nrows) < 0 || (ft = H5Dget_type(d)) < 0 ||
        (nt = H5Tget_native_type(ft, H5T_DIR_ASCEND)) < 0 || (ncols = H5Tget_nmembers(nt)) < 0) {
        st = h5_fail(path, "reading the type of table '%s'", table);
        goto done;
    }
    if (!(cols = db_calloc(ncols ? (size_t)ncols : 1, sizeof *cols))) {
        st = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < ncols; i++)
        cols[i].type = H5I_INVALID_HID;
    for (int i = 0; i < ncols; i++) {
        hid_t mt = H5Tget_member_type(nt, (unsigned)i);
        char *name = H5Tget_member_name(nt, (unsigned)i);
        if (mt < 0 || !name) {
            st = h5_fail(path, "reading column %d of table '%s'", i, table);
            if (mt >= 0)
                H5Tclose(mt);
            if (name)
                H5free_memory(name);
            goto done;
        }
        st = col_init(&cols[i], mt, path, name);
        cols[i].name = name;
        cols[i].off = H5Tget_member_offset(nt, (unsigned)i);
        if (st != DB_OK)
            goto done;
        if (!col_supported(&cols[i])) {
            st = db_error(DB_ERR_UNSUPPORTED,
                          "%s: table '%s' column '%s': HDF5 type class %d cannot be exported as "
                          "CSV", path, table, name, (int)cols[i].cls);
            goto done;
        }
        sb_printf(&head, "%s", i ? "," : "");
        sb_field(&head, name, strlen(name), true);
    }
    sb_add(&head, "\n", 1);
    if (head.oom) {
        st = db_error(DB_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    fwrite(head.p, 1, head.len, out);
    st = csv_rows(path, table, d, nt, cols, ncols, nrows, out);
done:
    sb_free(&head);
    for (int i = 0; cols && i < ncols; i++)
        col_free(&cols[i]);
    db_free(cols);
    if (nt >= 0)
        H5Tclose(nt);
    if (ft >= 0)
        H5Tclose(ft);
    return st;
}

db_status res_export_csv(const char *path, const char *table, FILE *out)
{
    if (!table || !out)
        return db_error(DB_ERR_ARG, "res_export_csv: NULL table or output");
    hid_t fid;
    db_status st = open_read(path, &fid);
    if (st != DB_OK)
        return st;
    htri_t ok = table[0] ? H5LTpath_valid(fid, table, 1) : 0;
    if (ok <= 0) {
        st = not_a_table(path, fid, table, false);
        H5Fclose(fid);
        return st;
    }
    hid_t d = H5Oopen(fid, table, H5P_DEFAULT);
    if (d < 0) {
        st = h5_fail(path, "opening '%s'", table);
    } else {
        int t = H5Iget_type(d) == H5I_DATASET ? is_table(d, NULL) : 0;
        if (t < 0)
            st = h5_fail(path, "reading '%s'", table);
        else if (t == 0)
            st = not_a_table(path, fid, table, true);
        else
            st = export_table(path, table, d, out);
        H5Oclose(d);
    }
    H5Fclose(fid);
    if (st == DB_OK && ferror(out))
        st = db_error(DB_ERR_IO, "%s: write error while exporting table '%s'", path, table);
    return st;
}
