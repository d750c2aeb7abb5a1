/* h5table.h: the structure-aware HDF5 fuzz targets' file builder. The input bytes are not a file
 * but a recipe: libhdf5 itself writes a well-formed HDF5 file from it (so the library never meets
 * a malformed file and the reader runs in-process, res_read_guard(0)), and what gets fuzzed is
 * deltabench's own validation of what a well-formed file may hold: the table's name and place,
 * its class and rank, its columns (names, types, byte orders, string kinds and sizes), its
 * layout (contiguous, chunked, deflate), root attributes and every value.
 *
 * Recipe (a byte past the end reads as 0):
 *   flags   bit 0 the table under another name, bit 1 inside group "g", bit 2 newest file format,
 *           bit 3 chunked (bit 4 with deflate), bit 5 a plain array of column 0's type instead of
 *           a compound, bit 6 rank 2 (rows x 2), bit 7 root attributes and a second dataset
 *   ncols   % 16;  nrows  two bytes, little-endian, % 257 (more rows reach nothing new)
 *   per column 5 bytes: name (< 0xE0: the target's names and some others; else (b & 31) raw
 *           bytes follow), type (fzt_pick), generator (g % 4: 0 raw bytes, 1 ramp a + i b / 4,
 *           2 the constant interesting[a], 3 interesting[next byte] per row), a, b
 *   bit 7:  nattr % 4, then 3 bytes each (name, kind, value)
 *   then the bytes the raw generators and per-row picks consume. */
#ifndef DB_TESTS_FUZZ_H5TABLE_H
#define DB_TESTS_FUZZ_H5TABLE_H

#include <math.h>
#include <stdbool.h>

#include <hdf5.h>

#include "core/results.h"
#include "tests/fuzz/fuzz.h"

typedef struct {
    const uint8_t *p;
    size_t n;
} fzt_in;

static uint8_t fzt_u8(fzt_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static const double fzt_num[] = {0,    1,    -1,          0.5,        2,          3,
                                 100,  1e12, 1.000001e12, NAN,        INFINITY,   -INFINITY,
                                 -0.0, 5e-324, 1e300,     2147483647, 2147483648.0, 9.3e18};
static const char fzt_long[] = /* longer than every string column of the formats */
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
static const char *const fzt_str[] = {
    "", "lower", "higher", "none", "perf", "tight", "exact", "kernel/gemv_s", "s", "GB/s",
    "2026-01-01T02:00:00Z", "c1", "ci", "src.h5", "a\nb", "\xff\xfe", fzt_long};
#define FZT_NNUM (sizeof fzt_num / sizeof fzt_num[0])
#define FZT_NSTR (sizeof fzt_str / sizeof fzt_str[0])

enum { FZT_MAXCOL = 16, FZT_MAXROWS = 256 };

typedef struct {
    hid_t type;
    size_t off, size;
    H5T_class_t cls;
    uint8_t gen, a, b;
} fzt_col;

/* The column type of byte t: integers and floats of each width, sign and byte order, fixed
 * strings (size 1 + b % 200, pad a % 3), variable-length strings and the rarer classes. */
static hid_t fzt_pick(uint8_t t, uint8_t a, uint8_t b)
{
    const hid_t atoms[] = {
        H5T_STD_I8LE,  H5T_STD_U8LE,  H5T_STD_I16LE, H5T_STD_I16BE, H5T_STD_I32LE,
        H5T_STD_U32LE, H5T_STD_I32BE, H5T_STD_I64LE, H5T_STD_U64LE, H5T_STD_I64BE,
        H5T_IEEE_F32LE, H5T_IEEE_F32BE, H5T_IEEE_F64LE, H5T_IEEE_F64BE, H5T_IEEE_F64LE,
        H5T_STD_I64LE,
    };
    enum { NATOM = 16 };
    unsigned k = t % (NATOM + 7);
    if (k < NATOM)
        return H5Tcopy(atoms[k]);
    hid_t s;
    switch (k - NATOM) {
    case 0:
    case 1: /* fixed-size string */
        s = H5Tcopy(H5T_C_S1);
        H5Tset_size(s, 1 + b % 200);
        H5Tset_strpad(s, a % 3 == 0 ? H5T_STR_NULLTERM : a % 3 == 1 ? H5T_STR_NULLPAD
                                                                     : H5T_STR_SPACEPAD);
        return s;
    case 2: /* variable-length string */
        s = H5Tcopy(H5T_C_S1);
        H5Tset_size(s, H5T_VARIABLE);
        return s;
    case 3: { /* array of two doubles */
        hsize_t d[1] = {2};
        return H5Tarray_create2(H5T_NATIVE_DOUBLE, 1, d);
    }
    case 4: { /* enum over int32 */
        s = H5Tenum_create(H5T_NATIVE_INT32);
        int v0 = 0, v1 = 1;
        H5Tenum_insert(s, "lower", &v0);
        H5Tenum_insert(s, "higher", &v1);
        return s;
    }
    case 5:
        return H5Tcopy(H5T_NATIVE_B8);
    default:
        s = H5Tcreate(H5T_OPAQUE, 4);
        H5Tset_tag(s, "fuzz");
        return s;
    }
}

/* A string made here, kept in *arena (freed after the write) for variable-length columns. */
static char *fzt_keep(const char *s, char ***arena, size_t *narena)
{
    char *d = strdup(s);
    char **na = realloc(*arena, (*narena + 1) * sizeof *na);
    if (!d || !na)
        abort();
    *arena = na;
    na[(*narena)++] = d;
    return d;
}

/* Fills column c of the nel elements of buf (rows of rowsize bytes; element e is row e / per)
 * as its generator says. Numbers are made as doubles and converted to the column's type by
 * libhdf5, the whole column in one call. */
static void fzt_fill(const fzt_col *c, size_t nel, size_t per, size_t rowsize, uint8_t *buf,
                     fzt_in *in, char ***arena, size_t *narena)
{
    unsigned g = c->gen % 4;
    bool is_str = c->cls == H5T_STRING, is_num = c->cls == H5T_INTEGER || c->cls == H5T_FLOAT;
    bool vlen = is_str && H5Tis_variable_str(c->type) > 0;
    if (g == 0 || !(is_str || is_num)) {
        for (size_t e = 0; e < nel; e++) {
            uint8_t *dst = buf + e * rowsize + c->off;
            if (vlen) { /* up to 8 raw bytes */
                char tmp[9];
                size_t n = fzt_u8(in) % 9;
                for (size_t k = 0; k < n; k++)
                    tmp[k] = (char)fzt_u8(in);
                tmp[n] = 0;
                char *d = fzt_keep(tmp, arena, narena);
                memcpy(dst, &d, sizeof d);
            } else {
                for (size_t k = 0; k < c->size; k++)
                    dst[k] = fzt_u8(in);
            }
        }
        return;
    }
    double *v = malloc((nel ? nel : 1) * sizeof *v);
    if (!v)
        abort();
    for (size_t e = 0; e < nel; e++)
        v[e] = g == 1   ? (double)(int8_t)c->a + (double)(e / per) * c->b / 4.0
               : g == 2 ? fzt_num[c->a % FZT_NNUM]
                        : fzt_num[fzt_u8(in) % FZT_NNUM];
    if (is_num) { /* every numeric type here is at most 8 bytes: converted in place */
        if (nel && H5Tconvert(H5T_NATIVE_DOUBLE, c->type, nel, v, NULL, H5P_DEFAULT) < 0)
            memset(v, 0, nel * sizeof *v);
        for (size_t e = 0; e < nel; e++)
            memcpy(buf + e * rowsize + c->off, (uint8_t *)v + e * c->size, c->size);
        free(v);
        return;
    }
    for (size_t e = 0; e < nel; e++) {
        uint8_t *dst = buf + e * rowsize + c->off;
        char tmp[32];
        const char *s = tmp;
        if (g == 1)
            snprintf(tmp, sizeof tmp, "%g", v[e]);
        else
            s = fzt_str[(g == 2 ? c->a : fzt_u8(in)) % FZT_NSTR];
        if (vlen) {
            char *d = fzt_keep(s, arena, narena);
            memcpy(dst, &d, sizeof d);
        } else {
            size_t n = strlen(s);
            memcpy(dst, s, n < c->size ? n : c->size);
        }
    }
    free(v);
}

/* Once per process: libhdf5 quiet, and its free lists unbounded, so the large blocks each file
 * open allocates (the metadata cache) are reused rather than mapped and zeroed afresh. */
static void fzt_settings(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    H5set_free_list_limits(-1, -1, -1, -1, -1, -1);
}

/* Once per process, and again every FZT_RESTART_EVERY inputs: libhdf5 keeps state across files
 * that an execution pays for (over 100,000 inputs the rate halved, H5I_iterate grew from 10 to
 * 40 % of the time, walking dataset identifiers at every file close), so the library is closed
 * (H5close frees everything it holds) and starts afresh with the next call. */
enum { FZT_RESTART_EVERY = 2000 };
static void fzt_init(void)
{
    static unsigned n;
    if (n++ % FZT_RESTART_EVERY)
        return;
    if (n > 1)
        H5close();
    fzt_settings();
}

/* What the recipe built: whether a reader may accept it, and how many rows it holds. */
typedef struct {
    bool readable; /* the table under its name, at the root, a 1-D compound */
    size_t nrows;
} fzt_built;

/* Writes the file the recipe (data, size) describes to path: a table named `table` whose
 * columns are named from names[0..nnames-1] (and others). False when libhdf5 refused to build
 * it (the input is then skipped). */
static bool fzt_build(const char *path, const char *table, const char *const *names,
                      size_t nnames, const uint8_t *data, size_t size, fzt_built *out)
{
    static const char *const others[] = {"", "id", "x", "Request_ID", "arrival", "value "};
    enum { NOTHER = sizeof others / sizeof others[0] };
    fzt_in in = {data, size};
    uint8_t flags = fzt_u8(&in);
    size_t ncols = fzt_u8(&in) % FZT_MAXCOL;
    size_t nrows = fzt_u8(&in);
    nrows = (nrows | (size_t)fzt_u8(&in) << 8) % (FZT_MAXROWS + 1);
    bool compound = !(flags & 32), rank2 = flags & 64, chunked = flags & 8;
    if (!compound && ncols == 0)
        ncols = 1;
    fzt_col cols[FZT_MAXCOL];
    char cname[FZT_MAXCOL][32];
    size_t ncol = 0, rowsize = 0;
    bool ok = false;
    hid_t fapl = -1, f = -1, g = -1, ct = -1, sp = -1, dcpl = -1, d = -1;
    uint8_t *buf = NULL;
    char **arena = NULL;
    size_t narena = 0;

    for (size_t k = 0; k < ncols; k++) {
        uint8_t nb = fzt_u8(&in);
        if (nb < 0xE0) {
            size_t j = nb % (nnames + NOTHER);
            snprintf(cname[ncol], sizeof cname[ncol], "%s", j < nnames ? names[j] : others[j - nnames]);
        } else {
            size_t n = nb & 31;
            for (size_t q = 0; q < n; q++)
                cname[ncol][q] = (char)fzt_u8(&in);
            cname[ncol][n] = 0;
        }
        uint8_t t = fzt_u8(&in), gen = fzt_u8(&in), a = fzt_u8(&in), b = fzt_u8(&in);
        hid_t ty = fzt_pick(t, a, b);
        if (ty < 0)
            continue;
        cols[ncol] = (fzt_col){ty, rowsize, H5Tget_size(ty), H5Tget_class(ty), gen, a, b};
        rowsize += cols[ncol].size;
        ncol++;
    }
    if (!compound)
        rowsize = ncol ? cols[0].size : 0;
    if (ncol == 0 || rowsize == 0)
        goto done;
    if (compound) {
        if ((ct = H5Tcreate(H5T_COMPOUND, rowsize)) < 0)
            goto done;
        for (size_t k = 0; k < ncol; k++) /* a repeated or empty name: the field stays padding */
            if (H5Tinsert(ct, cname[k], cols[k].off, cols[k].type) < 0)
                cols[k].gen = 0;
    } else if ((ct = H5Tcopy(cols[0].type)) < 0) {
        goto done;
    }
    size_t nel = nrows * (rank2 ? 2 : 1);
    if (!(buf = calloc(nel ? nel : 1, rowsize)))
        abort();
    for (size_t k = 0; k < (compound ? ncol : 1); k++)
        fzt_fill(&cols[k], nel, rank2 ? 2 : 1, rowsize, buf, &in, &arena, &narena);

    if ((fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0 ||
        H5Pset_libver_bounds(fapl, flags & 4 ? H5F_LIBVER_LATEST : H5F_LIBVER_EARLIEST,
                             H5F_LIBVER_LATEST) < 0 ||
        (f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0)
        goto done;
    hid_t loc = f;
    if (flags & 2) {
        if ((g = H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
            goto done;
        loc = g;
    }
    hsize_t dims[2] = {nrows, 2}, maxd[2] = {H5S_UNLIMITED, 2};
    if ((sp = H5Screate_simple(rank2 ? 2 : 1, dims, chunked ? maxd : NULL)) < 0 ||
        (dcpl = H5Pcreate(H5P_DATASET_CREATE)) < 0)
        goto done;
    if (chunked) {
        hsize_t cd[2] = {8 + cols[0].a % 64, 2}; /* few chunks: each deflate costs */
        if (H5Pset_chunk(dcpl, rank2 ? 2 : 1, cd) < 0 ||
            ((flags & 16) && H5Pset_deflate(dcpl, 1 + cols[0].b % 9) < 0))
            goto done;
    }
    if ((d = H5Dcreate2(loc, flags & 1 ? "table" : table, ct, sp, H5P_DEFAULT, dcpl,
                        H5P_DEFAULT)) < 0 ||
        (nel && H5Dwrite(d, ct, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0))
        goto done;
    if (flags & 128) { /* root attributes (as the writers put them) and a second dataset */
        static const char *const an[] = {"nightly_format", "runs", "format", "seed",
                                         "command_line", "deltabench_version"};
        size_t na = fzt_u8(&in) % 4;
        for (size_t k = 0; k < na; k++) {
            uint8_t nb = fzt_u8(&in), kind = fzt_u8(&in), v = fzt_u8(&in);
            hid_t at = kind % 3 == 0 ? H5Tcopy(H5T_NATIVE_INT64)
                       : kind % 3 == 1 ? H5Tcopy(H5T_NATIVE_DOUBLE) : H5Tcopy(H5T_C_S1);
            if (kind % 3 == 2)
                H5Tset_size(at, 16);
            hid_t as = H5Screate(H5S_SCALAR);
            hid_t a = H5Acreate2(f, an[nb % 6], at, as, H5P_DEFAULT, H5P_DEFAULT);
            int64_t iv = (int64_t)(int8_t)v;
            double dv = fzt_num[v % FZT_NNUM];
            char sv[16] = {0};
            snprintf(sv, sizeof sv, "%s", fzt_str[v % FZT_NSTR]);
            if (a >= 0)
                H5Awrite(a, kind % 3 == 0 ? H5T_NATIVE_INT64 : kind % 3 == 1 ? H5T_NATIVE_DOUBLE : at,
                         kind % 3 == 0 ? (void *)&iv : kind % 3 == 1 ? (void *)&dv : (void *)sv);
            if (a >= 0)
                H5Aclose(a);
            H5Sclose(as);
            H5Tclose(at);
        }
        hid_t os = H5Screate(H5S_SCALAR);
        hid_t od = H5Dcreate2(f, "other", H5T_NATIVE_INT64, os, H5P_DEFAULT, H5P_DEFAULT,
                              H5P_DEFAULT);
        if (od >= 0)
            H5Dclose(od);
        H5Sclose(os);
    }
    out->readable = !(flags & 3) && compound && !rank2;
    out->nrows = nrows;
    ok = true;
done:
    if (d >= 0)
        H5Dclose(d);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (sp >= 0)
        H5Sclose(sp);
    if (g >= 0)
        H5Gclose(g);
    if (f >= 0 && H5Fclose(f) < 0)
        ok = false;
    if (fapl >= 0)
        H5Pclose(fapl);
    if (ct >= 0)
        H5Tclose(ct);
    for (size_t k = 0; k < ncol; k++)
        H5Tclose(cols[k].type);
    for (size_t k = 0; k < narena; k++)
        free(arena[k]);
    free(arena);
    free(buf);
    return ok;
}

#endif
