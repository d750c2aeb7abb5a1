/* check_results.c: the HDF5 results file: attributes, tables (types, append, empty), the
 * temp-and-rename discipline, error messages, CSV text, and files written without H5TB (as h5py
 * writes them). Each case works in its own mkdtemp directory. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "core/alloc.h"
#include "core/status.h"
#include "core/version.h"
#include "core/results.h"
#include "core/log.h"
#include "testlib.h"

/* ---- small readers ------------------------------------------------------------------------ */

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Whole output of a FILE*-writing call, through a memory stream. */
typedef struct {
    char *text;
    size_t len;
    FILE *fp;
} capture;

static void cap_open(capture *c)
{
    c->text = NULL;
    c->len = 0;
    c->fp = open_memstream(&c->text, &c->len);
    ck_assert_ptr_nonnull(c->fp);
}

static const char *cap_close(capture *c)
{
    fclose(c->fp);
    return c->text;
}

static char *export_text(const char *path, const char *table)
{
    capture c;
    cap_open(&c);
    db_status s = res_export_csv(path, table, c.fp);
    cap_close(&c);
    ck_assert_msg(s == DB_OK, "export %s: %s", table, db_errmsg());
    return c.text;
}

static hsize_t table_rows(const char *path, const char *table)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    hsize_t nfields = 0, nrows = 0;
    ck_assert_int_ge(H5TBget_table_info(f, table, &nfields, &nrows), 0);
    H5Fclose(f);
    return nrows;
}

/* ---- the schemas of the tests -------------------------------------------------------------- */

typedef struct {
    int64_t id;
    double x;
    char name[8];
} mix_row;
static const res_field mix_fields[] = {
    RES_I64(mix_row, id),
    RES_F64(mix_row, x),
    RES_STR(mix_row, name),
};
static const res_schema mix_schema = RES_SCHEMA("mix", "all three column types", mix_row, mix_fields);

typedef struct {
    double t;
    int64_t n;
} pair_row;
static const res_field pair_fields[] = {RES_F64(pair_row, t), RES_I64(pair_row, n)};
static const res_schema pair_schema = RES_SCHEMA("pairs", "second table", pair_row, pair_fields);

static void read_mix(const char *path, const char *table, mix_row *out, size_t n)
{
    size_t offs[3], sizes[3];
    for (int i = 0; i < 3; i++) {
        offs[i] = mix_fields[i].offset;
        sizes[i] = mix_fields[i].size;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    ck_assert_int_ge(f, 0);
    ck_assert_uint_eq(table_rows(path, table), n);
    memset(out, 0, n * sizeof *out);
    ck_assert_int_ge(H5TBread_table(f, table, sizeof(mix_row), offs, sizes, out), 0);
    H5Fclose(f);
}

static void assert_same_mix(const mix_row *got, const mix_row *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(got[i].id, want[i].id);
        if (isnan(want[i].x))
            ck_assert_msg(isnan(got[i].x), "row %zu: x not NaN", i);
        else
            ck_assert_msg(memcmp(&got[i].x, &want[i].x, sizeof(double)) == 0,
                          "row %zu: x %.17g != %.17g", i, got[i].x, want[i].x);
        ck_assert_str_eq(got[i].name, want[i].name);
    }
}

static res_file *create_or_fail(const char *path, int argc, char **argv, uint64_t seed)
{
    res_run_info info = {argc, argv, seed};
    res_file *f = NULL;
    db_status s = res_create(path, &info, &f);
    ck_assert_msg(s == DB_OK, "res_create: %s", db_errmsg());
    ck_assert_ptr_nonnull(f);
    return f;
}

static void attr_eq(const char *path, const char *key, const char *want)
{
    char buf[512];
    db_status s = res_read_attr(path, key, buf, sizeof buf);
    ck_assert_msg(s == DB_OK, "%s: %s", key, db_errmsg());
    ck_assert_str_eq(buf, want);
}

/* ---- cases --------------------------------------------------------------------------------- */

START_TEST(test_run_attributes)
{
    tl_scratch_make("check_results");
    char path[512], buf[512];
    tl_path_buf(path, sizeof path, "run.h5");
    char *argv[] = {"deltabench", "simulate", "--seed", "18446744073709551615"};
    res_file *f = create_or_fail(path, 4, argv, UINT64_MAX);
    ck_assert_int_eq(res_attr_str(f, "policy", "fcfs, then \"lru\""), DB_OK);
    ck_assert_int_eq(res_attr_i64(f, "requests", INT64_MIN), DB_OK);
    ck_assert_int_eq(res_attr_f64(f, "rate", 0.1), DB_OK);
    ck_assert_int_eq(res_attr_f64(f, "rate", 0.30000000000000004), DB_OK); /* replaces */
    ck_assert_int_eq(res_commit(f), DB_OK);

    attr_eq(path, "tool_version", DB_VERSION);
    attr_eq(path, "git_commit", db_git_commit());
    attr_eq(path, "command_line", "deltabench simulate --seed 18446744073709551615");
    attr_eq(path, "seed", "18446744073709551615");
    attr_eq(path, "policy", "fcfs, then \"lru\"");
    attr_eq(path, "requests", "-9223372036854775808");
    attr_eq(path, "rate", "0.30000000000000004");

    char host[256];
    ck_assert_int_eq(gethostname(host, sizeof host), 0);
    host[sizeof host - 1] = '\0';
    attr_eq(path, "host", host);

    ck_assert_int_eq(res_read_attr(path, "cpu_model", buf, sizeof buf), DB_OK);
    ck_assert_uint_gt(strlen(buf), 0);
    ck_assert_int_eq(res_read_attr(path, "gpu_name", buf, sizeof buf), DB_OK);
    ck_assert_uint_gt(strlen(buf), 0);

    ck_assert_int_eq(res_read_attr(path, "start_time", buf, sizeof buf), DB_OK);
    int y, mo, d, h, mi, se;
    char z = 0, tail = 0;
    ck_assert_int_eq(strlen(buf), 20);
    ck_assert_int_eq(sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d%c%c", &y, &mo, &d, &h, &mi, &se, &z, &tail), 7);
    ck_assert_int_eq(z, 'Z');
    ck_assert_int_ge(y, 2024);

    ck_assert_int_eq(res_read_attr(path, "duration_s", buf, sizeof buf), DB_OK);
    char *end;
    double dur = strtod(buf, &end);
    /* from the process's start (test_long_strings checks that it covers the run) */
    ck_assert_msg(*end == '\0' && dur >= 0 && dur < 3600, "duration_s = '%s'", buf);

    /* Truncation keeps the terminator. */
    char small[4];
    ck_assert_int_eq(res_read_attr(path, "command_line", small, sizeof small), DB_OK);
    ck_assert_str_eq(small, "del");
    tl_scratch_drop();
}
END_TEST

/* Strings round-trip whole, of any length: a 4 KB attribute and a 4 KB table field. */
typedef struct {
    int64_t id;
    char text[4097];
} long_row;
static const res_field long_fields[] = {RES_I64(long_row, id), RES_STR(long_row, text)};
static const res_schema long_schema = RES_SCHEMA("long", "long strings", long_row, long_fields);

START_TEST(test_long_strings)
{
    tl_scratch_make("check_results");
    char path[512];
    tl_path_buf(path, sizeof path, "long.h5");
    static long_row row;
    row.id = 7;
    for (int i = 0; i < 4096; i++)
        row.text[i] = (char)('a' + i % 26);
    row.text[4096] = '\0';
    row.text[4000] = '/';
    double t0 = db_now();
    usleep(200000);
    res_file *f = create_or_fail(path, 0, NULL, 0);
    ck_assert_int_eq(res_attr_str(f, "model", row.text), DB_OK);
    ck_assert_int_eq(res_table_write(f, &long_schema, 1, &row), DB_OK);
    ck_assert_int_eq(res_commit(f), DB_OK);
    double t1 = db_now();
    static char buf[8192];
    ck_assert_int_eq(res_read_attr(path, "model", buf, sizeof buf), DB_OK);
    ck_assert_uint_eq(strlen(buf), 4096);
    ck_assert_str_eq(buf, row.text);
    /* duration_s covers the process, so the sleep before res_create counts */
    ck_assert_int_eq(res_read_attr(path, "duration_s", buf, sizeof buf), DB_OK);
    double dur = strtod(buf, NULL);
    ck_assert_msg(dur >= 0.2 && dur >= t1 - t0 - 1e-3, "duration_s %g, run %g", dur, t1 - t0);
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    ck_assert_int_eq(res_export_csv(path, "long", m), DB_OK);
    fclose(m);
    ck_assert_ptr_nonnull(strstr(text, row.text));
    free(text);
    tl_scratch_drop();
}
END_TEST

START_TEST(test_table_all_types)
{
    tl_scratch_make("check_results");
    char path[512];
    tl_path_buf(path, sizeof path, "mix.h5");
    const mix_row rows[] = {
        {INT64_MIN, NAN, "1234567"}, /* string at full length: 7 chars + NUL */
        {INT64_MAX, INFINITY, ""},
        {-1, -INFINITY, "a,b\"c"},
        {0, -0.0, "x"},
        {42, DBL_MIN / 4, "subnorm"}, /* subnormal */
        {-7, DBL_MAX, "max"},
    };
    const size_t n = sizeof rows / sizeof rows[0];
    res_file *f = create_or_fail(path, 0, NULL, 0);
    ck_assert_int_eq(res_table_write(f, &mix_schema, n, rows), DB_OK);
    ck_assert_int_eq(res_commit(f), DB_OK);

    mix_row got[sizeof rows / sizeof rows[0]];
    read_mix(path, "mix", got, n);
    assert_same_mix(got, rows, n);

    /* The stored types are the ones the schema names. */
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(fid, "mix", H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    ck_assert_int_eq(H5Tget_nmembers(t), 3);
    hid_t m0 = H5Tget_member_type(t, 0), m1 = H5Tget_member_type(t, 1), m2 = H5Tget_member_type(t, 2);
    ck_assert_int_eq(H5Tget_class(m0), H5T_INTEGER);
    ck_assert_int_eq(H5Tget_size(m0), 8);
    ck_assert_int_eq(H5Tget_sign(m0), H5T_SGN_2);
    ck_assert_int_eq(H5Tget_class(m1), H5T_FLOAT);
    ck_assert_int_eq(H5Tget_size(m1), 8);
    ck_assert_int_eq(H5Tget_class(m2), H5T_STRING);
    ck_assert_int_eq(H5Tget_size(m2), 8);
    ck_assert_int_eq(H5Tget_strpad(m2), H5T_STR_NULLTERM);
    ck_assert_int_eq(H5Tis_variable_str(m2), 0);
    char title[64] = "";
    ck_assert_int_ge(H5LTget_attribute_string(fid, "mix", "TITLE", title), 0);
    ck_assert_str_eq(title, "all three column types");
    H5Tclose(m0);
    H5Tclose(m1);
    H5Tclose(m2);
    H5Tclose(t);
    H5Dclose(d);
    H5Fclose(fid);
    tl_scratch_drop();
}
END_TEST

START_TEST(test_append)
{
    tl_scratch_make("check_results");
    char path[512];
    tl_path_buf(path, sizeof path, "append.h5");
    mix_row rows[7];
    for (int i = 0; i < 7; i++) {
        rows[i].id = -i;
        rows[i].x = i * 0.5;
        memcpy(rows[i].name, (char[]){'r', (char)('0' + i), 0}, 3);
    }
    res_file *f = create_or_fail(path, 0, NULL, 0);
    ck_assert_int_eq(res_table_write(f, &mix_schema, 3, rows), DB_OK);
    ck_assert_int_eq(res_table_write(f, &mix_schema, 0, NULL), DB_OK);
    ck_assert_int_eq(res_table_write(f, &mix_schema, 4, rows + 3), DB_OK);

    /* Same name, other layout: refused rather than appended column by position. */
    static const res_schema clash = RES_SCHEMA("mix", "clash", pair_row, pair_fields);
    pair_row p = {1.0, 2};
    ck_assert_int_eq(res_table_write(f, &clash, 1, &p), DB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "different schema"));
    ck_assert_int_eq(res_commit(f), DB_OK);

    mix_row got[7];
    read_mix(path, "mix", got, 7);
    assert_same_mix(got, rows, 7);
    tl_scratch_drop();
}
END_TEST

START_TEST(test_zero_rows)
{
    tl_scratch_make("check_results");
    char path[512];
    tl_path_buf(path, sizeof path, "empty.h5");
    res_file *f = create_or_fail(path, 0, NULL, 0);
    ck_assert_int_eq(res_table_write(f, &mix_schema, 0, NULL), DB_OK);
    ck_assert_int_eq(res_table_write(f, &pair_schema, 0, NULL), DB_OK);
    pair_row p = {0.25, -3};
    ck_assert_int_eq(res_table_write(f, &pair_schema, 1, &p), DB_OK);
    ck_assert_int_eq(res_commit(f), DB_OK);

    ck_assert_uint_eq(table_rows(path, "mix"), 0);
    char *csv = export_text(path, "mix");
    ck_assert_str_eq(csv, "id,x,name\n");
    free(csv);
    csv = export_text(path, "pairs");
    ck_assert_str_eq(csv, "t,n\n0.25,-3\n");
    free(csv);
    tl_scratch_drop();
}
END_TEST

START_TEST(test_two_tables_describe)
{
    tl_scratch_make("check_results");
    char path[512];
    tl_path_buf(path, sizeof path, "two.h5");
    mix_row m[2] = {{1, 1.5, "a"}, {2, 2.5, "b"}};
    pair_row p[3] = {{0.1, 1}, {0.2, 2}, {0.3, 3}};
    char *argv[] = {"deltabench", "bench"};
    res_file *f = create_or_fail(path, 2, argv, 7);
    ck_assert_int_eq(res_table_write(f, &mix_schema, 2, m), DB_OK);
    ck_assert_int_eq(res_table_write(f, &pair_schema, 3, p), DB_OK);
    ck_assert_int_eq(res_commit(f), DB_OK);

    ck_assert_uint_eq(table_rows(path, "mix"), 2);
    ck_assert_uint_eq(table_rows(path, "pairs"), 3);

    capture c;
    cap_open(&c);
    ck_assert_int_eq(res_describe(path, c.fp), DB_OK);
    const char *text = cap_close(&c);
    ck_assert_ptr_nonnull(strstr(text, "  tool_version = " DB_VERSION "\n"));
    ck_assert_ptr_nonnull(strstr(text, "  command_line = deltabench bench\n"));
    ck_assert_ptr_nonnull(strstr(text, "  seed = 7\n"));
    ck_assert_ptr_nonnull(strstr(text, "  duration_s = "));
    ck_assert_ptr_nonnull(strstr(text, "\ntable mix: 2 rows; columns: id, x, name\n"
                                       "table pairs: 3 rows; columns: t, n\n"));
    /* Table lines come after every attribute line. */
    const char *first_table = strstr(text, "table ");
    ck_assert_ptr_null(strstr(first_table, "  "));
    free(c.text);
    tl_scratch_drop();
}
END_TEST

START_TEST(test_tmp_name_discipline)
{
    tl_scratch_make("check_results");
    char path[512], tmp[600];
    tl_path_buf(path, sizeof path, "out.h5");
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    int ntmp = 0;

    res_file *f = create_or_fail(path, 0, NULL, 0);
    mix_row r = {1, 2.0, "x"};
    ck_assert_int_eq(res_table_write(f, &mix_schema, 1, &r), DB_OK);
    ck_assert_msg(!exists(path), "final name exists before commit");
    ck_assert_msg(exists(tmp), "temporary file missing while writing");
    ck_assert_int_eq(res_commit(f), DB_OK);
    ck_assert(exists(path));
    ck_assert(res_is_hdf5(path));
    ck_assert_int_eq(tl_dir_entries(tl_dir, &ntmp), 1);
    ck_assert_int_eq(ntmp, 0);

    char path2[512];
    tl_path_buf(path2, sizeof path2, "aborted.h5");
    f = create_or_fail(path2, 0, NULL, 0);
    ck_assert_int_eq(res_table_write(f, &mix_schema, 1, &r), DB_OK);
    ck_assert_int_eq(tl_dir_entries(tl_dir, &ntmp), 2);
    ck_assert_int_eq(ntmp, 1);
    res_abort(f);
    res_abort(NULL);
    ck_assert(!exists(path2));
    ck_assert_int_eq(tl_dir_entries(tl_dir, &ntmp), 1); /* only the committed out.h5 */
    ck_assert_int_eq(ntmp, 0);
    tl_scratch_drop();
}
END_TEST

START_TEST(test_errors)
{
    tl_scratch_make("check_results");
    char path[512], want[1024];
    res_file *f = NULL;

    /* Directories that cannot take the file: missing, a regular file, read-only (non-root). */
    tl_path_buf(path, sizeof path, "missing/out.h5");
    ck_assert_int_eq(res_create(path, NULL, &f), DB_ERR_HDF5);
    ck_assert_ptr_null(f);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), path));
    ck_assert_ptr_null(strchr(db_errmsg(), '\n'));
    char notdir[512];
    tl_path_buf(notdir, sizeof notdir, "plain");
    FILE *fp = fopen(notdir, "w");
    ck_assert_ptr_nonnull(fp);
    fputs("this is not an HDF5 file\n", fp);
    fclose(fp);
    tl_path_buf(path, sizeof path, "plain/out.h5");
    ck_assert_int_eq(res_create(path, NULL, &f), DB_ERR_HDF5);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), path));
    if (geteuid() != 0) {
        char ro[512];
        tl_path_buf(ro, sizeof ro, "ro");
        ck_assert_int_eq(mkdir(ro, 0500), 0);
        tl_path_buf(path, sizeof path, "ro/out.h5");
        ck_assert_int_eq(res_create(path, NULL, &f), DB_ERR_HDF5);
        ck_assert_msg(strstr(db_errmsg(), "ermission denied"), "%s", db_errmsg());
    }

    /* Not HDF5. */
    ck_assert(!res_is_hdf5(notdir));
    ck_assert_int_eq(res_export_csv(notdir, "mix", stdout), DB_ERR_FORMAT);
    snprintf(want, sizeof want, "%s: not an HDF5 file", notdir);
    ck_assert_str_eq(db_errmsg(), want);
    ck_assert_int_eq(res_describe(notdir, stdout), DB_ERR_FORMAT);
    char buf[64];
    ck_assert_int_eq(res_read_attr(notdir, "seed", buf, sizeof buf), DB_ERR_FORMAT);

    /* A directory. */
    ck_assert_int_eq(res_describe(tl_dir, stdout), DB_ERR_IO);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "directory"));

    /* Missing file. */
    tl_path_buf(path, sizeof path, "nothere.h5");
    ck_assert(!res_is_hdf5(path));
    ck_assert_int_eq(res_export_csv(path, "mix", stdout), DB_ERR_IO);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), path));

    /* Missing table and attribute. */
    tl_path_buf(path, sizeof path, "t.h5");
    f = create_or_fail(path, 0, NULL, 0);
    mix_row r = {1, 1.0, "a"};
    pair_row p = {1.0, 1};
    ck_assert_int_eq(res_table_write(f, &mix_schema, 1, &r), DB_OK);
    ck_assert_int_eq(res_table_write(f, &pair_schema, 1, &p), DB_OK);
    ck_assert_int_eq(res_commit(f), DB_OK);
    ck_assert_int_eq(res_export_csv(path, "requests", stdout), DB_ERR_NOT_FOUND);
    snprintf(want, sizeof want, "%s: no table 'requests' (tables: mix, pairs)", path);
    ck_assert_str_eq(db_errmsg(), want);
    ck_assert_int_eq(res_export_csv(path, "a/b/c", stdout), DB_ERR_NOT_FOUND);
    ck_assert_int_eq(res_export_csv(path, "", stdout), DB_ERR_NOT_FOUND);
    ck_assert_int_eq(res_read_attr(path, "nope", buf, sizeof buf), DB_ERR_NOT_FOUND);
    snprintf(want, sizeof want, "%s: no attribute 'nope'", path);
    ck_assert_str_eq(db_errmsg(), want);

    /* Bad rows and schemas are refused before anything is written. */
    tl_path_buf(path, sizeof path, "bad.h5");
    f = create_or_fail(path, 0, NULL, 0);
    mix_row unterminated = {1, 1.0, {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'}};
    ck_assert_int_eq(res_table_write(f, &mix_schema, 1, &unterminated), DB_ERR_ARG);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "NUL"));
    ck_assert_int_eq(res_table_write(f, &mix_schema, 1, NULL), DB_ERR_ARG);
    static const res_field bad_fields[] = {{"a", RES_T_I64, 0, 4}};
    static const res_schema bad_size = {"bad", "", 8, 1, bad_fields};
    ck_assert_int_eq(res_table_write(f, &bad_size, 0, NULL), DB_ERR_ARG);
    static const res_field dup_fields[] = {{"a", RES_T_I64, 0, 8}, {"a", RES_T_F64, 8, 8}};
    static const res_schema dup = {"dup", "", 16, 2, dup_fields};
    ck_assert_int_eq(res_table_write(f, &dup, 0, NULL), DB_ERR_ARG);
    static const res_schema slash = RES_SCHEMA("a/b", "", mix_row, mix_fields);
    ck_assert_int_eq(res_table_write(f, &slash, 0, NULL), DB_ERR_ARG);
    res_abort(f);
    ck_assert(!exists(path));
    tl_scratch_drop();
}
END_TEST

START_TEST(test_csv_exact)
{
    tl_scratch_make("check_results");
    char path[512];
    tl_path_buf(path, sizeof path, "csv.h5");
    const mix_row rows[] = {
        {1, 0.1, "plain"},
        {-2, 1e300, "x,y"},
        {3, NAN, "q\"t"},
        {INT64_MIN, -INFINITY, ""},
        {5, 1.0 / 3.0, "1234567"},
        {6, 0.30000000000000004, "a\nb"},
        {7, -0.0, " sp "},
        {8, 5e-324, "inf"},
    };
    res_file *f = create_or_fail(path, 0, NULL, 0);
    ck_assert_int_eq(res_table_write(f, &mix_schema, sizeof rows / sizeof rows[0], rows), DB_OK);
    ck_assert_int_eq(res_commit(f), DB_OK);
    char *csv = export_text(path, "mix");
    ck_assert_str_eq(csv, "id,x,name\n"
                          "1,0.1,plain\n"
                          "-2,1e+300,\"x,y\"\n"
                          "3,nan,\"q\"\"t\"\n"
                          "-9223372036854775808,-inf,\n"
                          "5,0.3333333333333333,1234567\n"
                          "6,0.30000000000000004,\"a\nb\"\n"
                          "7,-0, sp \n"
                          "8,5e-324,inf\n");
    free(csv);
    tl_scratch_drop();
}
END_TEST

/* Significant digits of a number as printed by %g (sign, point, exponent, leading and trailing
 * zeros left out). */
static int sig_digits(const char *s, size_t n)
{
    int first = -1, last = -1, k = 0;
    for (size_t i = 0; i < n && s[i] != 'e'; i++) {
        if (s[i] < '0' || s[i] > '9')
            continue;
        if (s[i] != '0') {
            if (first < 0)
                first = k;
            last = k;
        }
        k++;
    }
    return first < 0 ? 0 : last - first + 1;
}

/* Every double (random bit patterns, subnormals and extremes included) exports as text that
 * reads back to the same bits with the fewest significant digits that can. */
START_TEST(test_csv_doubles_roundtrip)
{
    tl_scratch_make("check_results");
    char path[512];
    tl_path_buf(path, sizeof path, "doubles.h5");
    enum { N = 20000 };
    pair_row *rows = db_malloc_array(N, sizeof *rows);
    ck_assert_ptr_nonnull(rows);
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < N; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        uint64_t bits = i % 3 ? s : s >> (i % 64); /* small exponents: subnormals and zeros */
        double v;
        memcpy(&v, &bits, sizeof v);
        rows[i].t = isnan(v) ? 0.5 * i : v;
        rows[i].n = i;
    }
    res_file *f = create_or_fail(path, 0, NULL, 0);
    ck_assert_int_eq(res_table_write(f, &pair_schema, N, rows), DB_OK);
    ck_assert_int_eq(res_commit(f), DB_OK);
    char *csv = export_text(path, "pairs");
    char *line = strchr(csv, '\n') + 1;
    for (int i = 0; i < N; i++) {
        char *comma = strchr(line, ',');
        ck_assert_ptr_nonnull(comma);
        char ref[40];
        int pmin = 1;
        for (; pmin < 17; pmin++) {
            snprintf(ref, sizeof ref, "%.*g", pmin, rows[i].t);
            if (strtod(ref, NULL) == rows[i].t)
                break;
        }
        if (rows[i].t == 0)
            pmin = 0;
        ck_assert_msg(sig_digits(line, (size_t)(comma - line)) == pmin, "row %d: %.*s, shortest has %d digits", i,
                      (int)(comma - line), line, pmin);
        char *end;
        double back = strtod(line, &end);
        ck_assert_ptr_eq(end, comma);
        ck_assert_msg(memcmp(&back, &rows[i].t, sizeof back) == 0, "row %d: %.*s != %s", i,
                      (int)(comma - line), line, ref);
        ck_assert_int_eq(strtol(comma + 1, &end, 10), i);
        ck_assert_int_eq(*end, '\n');
        line = end + 1;
    }
    ck_assert_int_eq(*line, '\0');
    free(csv);
    db_free(rows);
    tl_scratch_drop();
}
END_TEST

/* A table as h5py writes one: no TABLE attributes, contiguous, numpy-sized members (uint8,
 * int16, uint32, float32), a variable-length UTF-8 string, a NULLPAD 'S4' filled to the brim and
 * an h5py bool (an int8 enum), inside a group. */
typedef struct {
    uint8_t u8;
    int16_t i16;
    uint32_t u32;
    float f32;
    const char *vs;
    char s4[4];
    int8_t flag;
} foreign_row;

static void write_foreign(const char *path)
{
    hid_t fid = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(fid, 0);
    hid_t g = H5Gcreate2(fid, "grp", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(g, 0);

    hid_t vs = H5Tcopy(H5T_C_S1);
    H5Tset_size(vs, H5T_VARIABLE);
    H5Tset_cset(vs, H5T_CSET_UTF8);
    hid_t s4 = H5Tcopy(H5T_C_S1);
    H5Tset_size(s4, 4);
    H5Tset_strpad(s4, H5T_STR_NULLPAD);
    hid_t b = H5Tenum_create(H5T_NATIVE_INT8);
    int8_t v0 = 0, v1 = 1;
    H5Tenum_insert(b, "FALSE", &v0);
    H5Tenum_insert(b, "TRUE", &v1);

    hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(foreign_row));
    H5Tinsert(mt, "u8", HOFFSET(foreign_row, u8), H5T_NATIVE_UINT8);
    H5Tinsert(mt, "i16", HOFFSET(foreign_row, i16), H5T_NATIVE_INT16);
    H5Tinsert(mt, "u32", HOFFSET(foreign_row, u32), H5T_NATIVE_UINT32);
    H5Tinsert(mt, "f32", HOFFSET(foreign_row, f32), H5T_NATIVE_FLOAT);
    H5Tinsert(mt, "vs", HOFFSET(foreign_row, vs), vs);
    H5Tinsert(mt, "s4", HOFFSET(foreign_row, s4), s4);
    H5Tinsert(mt, "flag", HOFFSET(foreign_row, flag), b);
    /* The file type is packed big-endian, so the reader must convert. */
    hid_t ft = H5Tcreate(H5T_COMPOUND, 64);
    hid_t bbe = H5Tenum_create(H5T_STD_I8BE);
    H5Tenum_insert(bbe, "FALSE", &v0);
    H5Tenum_insert(bbe, "TRUE", &v1);
    const char *names[] = {"u8", "i16", "u32", "f32", "vs", "s4", "flag"};
    hid_t ftypes[] = {H5T_STD_U8BE, H5T_STD_I16BE, H5T_STD_U32BE, H5T_IEEE_F32BE, vs, s4, bbe};
    size_t o = 0;
    for (int i = 0; i < 7; i++) {
        ck_assert_int_ge(H5Tinsert(ft, names[i], o, ftypes[i]), 0);
        o += H5Tget_size(ftypes[i]);
    }
    H5Tset_size(ft, o);

    foreign_row rows[3] = {
        {255, -32768, 4294967295u, 0.1f, "hé, \"there\"", {'a', 'b', 'c', 'd'}, 1},
        {0, 7, 0, -1.5f, "", {'x', 0, 0, 0}, 0},
        {1, -1, 1, INFINITY, NULL, {0, 0, 0, 0}, 1},
    };
    hsize_t dims[1] = {3};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    hid_t d = H5Dcreate2(g, "t", ft, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    ck_assert_int_ge(H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows), 0);
    H5Dclose(d);

    /* A dataset that is not a table, a 2-D compound and a scalar attribute array. */
    hsize_t dims2[2] = {2, 2};
    hid_t sp2 = H5Screate_simple(2, dims2, NULL);
    double z[4] = {1, 2, 3, 4};
    d = H5Dcreate2(fid, "matrix", H5T_IEEE_F64LE, sp2, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    ck_assert_int_ge(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, z), 0);
    H5Dclose(d);
    int32_t arr[3] = {1, -2, 3};
    ck_assert_int_ge(H5LTset_attribute_int(fid, "/", "shape", arr, 3), 0);
    float fl = 0.1f;
    ck_assert_int_ge(H5LTset_attribute_float(fid, "/", "lr", &fl, 1), 0);

    H5Sclose(sp2);
    H5Sclose(sp);
    H5Tclose(ft);
    H5Tclose(bbe);
    H5Tclose(mt);
    H5Tclose(b);
    H5Tclose(s4);
    H5Tclose(vs);
    H5Gclose(g);
    H5Fclose(fid);
}

START_TEST(test_export_foreign)
{
    tl_scratch_make("check_results");
    char path[512], want[1024];
    tl_path_buf(path, sizeof path, "foreign.h5");
    write_foreign(path);
    char *csv = export_text(path, "grp/t");
    ck_assert_str_eq(csv, "u8,i16,u32,f32,vs,s4,flag\n"
                          "255,-32768,4294967295,0.1,\"hé, \"\"there\"\"\",abcd,TRUE\n"
                          "0,7,0,-1.5,,x,FALSE\n"
                          "1,-1,1,inf,,,TRUE\n");
    free(csv);
    ck_assert_int_eq(res_export_csv(path, "matrix", stdout), DB_ERR_NOT_FOUND);
    snprintf(want, sizeof want, "%s: 'matrix' is not a table (tables: grp/t)", path);
    ck_assert_str_eq(db_errmsg(), want);

    char buf[64];
    ck_assert_int_eq(res_read_attr(path, "shape", buf, sizeof buf), DB_OK);
    ck_assert_str_eq(buf, "[1, -2, 3]");
    ck_assert_int_eq(res_read_attr(path, "lr", buf, sizeof buf), DB_OK);
    ck_assert_str_eq(buf, "[0.1]");

    capture c;
    cap_open(&c);
    ck_assert_int_eq(res_describe(path, c.fp), DB_OK);
    const char *text = cap_close(&c);
    ck_assert_str_eq(text, "  lr = [0.1]\n"
                           "  shape = [1, -2, 3]\n"
                           "table grp/t: 3 rows; columns: u8, i16, u32, f32, vs, s4, flag\n");
    free(c.text);
    tl_scratch_drop();
}
END_TEST

typedef struct {
    int64_t id;
    double v;
    char tag[8];
} big_row;
static const res_field big_fields[] = {RES_I64(big_row, id), RES_F64(big_row, v), RES_STR(big_row, tag)};
static const res_schema big_schema = RES_SCHEMA("big", "a million rows", big_row, big_fields);

START_TEST(test_million_rows)
{
    tl_scratch_make("check_results");
    char path[512];
    tl_path_buf(path, sizeof path, "big.h5");
    const size_t n = 1000000;
    big_row *rows = db_malloc_array(n, sizeof *rows);
    ck_assert_ptr_nonnull(rows);
    for (size_t i = 0; i < n; i++) {
        rows[i].id = (int64_t)i;
        rows[i].v = (double)i * 0.25;
        snprintf(rows[i].tag, sizeof rows[i].tag, "t%zu", i % 1000);
    }
    res_file *f = create_or_fail(path, 0, NULL, 0);
    ck_assert_int_eq(res_table_write(f, &big_schema, n / 2, rows), DB_OK);
    ck_assert_int_eq(res_table_write(f, &big_schema, n - n / 2, rows + n / 2), DB_OK);
    ck_assert_int_eq(res_commit(f), DB_OK);
    ck_assert_uint_eq(table_rows(path, "big"), n);

    /* Spot check the last row, which lives in the appended half. */
    hid_t fid = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    size_t offs[3] = {big_fields[0].offset, big_fields[1].offset, big_fields[2].offset};
    size_t sizes[3] = {8, 8, 8};
    big_row last;
    ck_assert_int_ge(H5TBread_records(fid, "big", n - 1, 1, sizeof last, offs, sizes, &last), 0);
    H5Fclose(fid);
    ck_assert_int_eq(last.id, (int64_t)(n - 1));
    ck_assert(last.v == (double)(n - 1) * 0.25);
    ck_assert_str_eq(last.tag, "t999");
    db_free(rows);
    tl_scratch_drop();
}
END_TEST

/* Every allocation of ours that fails yields DB_ERR_NOMEM and leaves no file behind. */
/* res_rows_stored: the bound every reader of an outside table applies before reading a row */
START_TEST(test_rows_stored)
{
    /* nothing declared, or rows that fit their storage */
    ck_assert_int_eq(res_rows_stored("f.h5", "t", 0, 40, 0, 100), DB_OK);
    ck_assert_int_eq(res_rows_stored("f.h5", "t", 10, 40, 400, 1000), DB_OK);
    /* compressed: exactly RES_MAX_EXPANSION times the stored bytes is accepted, one row more not */
    ck_assert_int_eq(res_rows_stored("f.h5", "t", RES_MAX_EXPANSION, 40, 40, 1000), DB_OK);
    ck_assert_int_eq(res_rows_stored("f.h5", "t", RES_MAX_EXPANSION + 1, 40, 40, 1000),
                     DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "f.h5: table 't' declares 1101 rows of 40 bytes"));
    /* rows declared, nothing stored (fill values only) */
    ck_assert_int_eq(res_rows_stored("f.h5", "t", 5, 40, 0, 1000), DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "none is stored"));
    /* storage beyond the file (a corrupt chunk index) */
    ck_assert_int_eq(res_rows_stored("f.h5", "t", 5, 40, 2000, 1000), DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "corrupt file"));
    /* counts whose byte size overflows 64 bits, and rows of no size */
    ck_assert_int_eq(res_rows_stored("f.h5", "t", UINT64_MAX / 8, 464, 1000, 1000), DB_ERR_FORMAT);
    ck_assert_int_eq(res_rows_stored("f.h5", "t", 5, 0, 1000, 1000), DB_ERR_FORMAT);
    ck_assert_ptr_null(strchr(db_errmsg(), '\n'));
}
END_TEST

START_TEST(test_alloc_failures)
{
    tl_scratch_make("check_results");
    char path[512];
    tl_path_buf(path, sizeof path, "oom.h5");
    mix_row r = {1, 1.0, "a"};
    int done = 0;
    for (long k = 1; k < 200 && !done; k++) {
        db_alloc_fail_at(k, 0);
        res_file *f = NULL;
        db_status s = res_create(path, NULL, &f);
        if (s == DB_OK)
            s = res_table_write(f, &mix_schema, 1, &r);
        if (s == DB_OK)
            s = res_table_write(f, &mix_schema, 1, &r); /* the append path */
        if (s == DB_OK) {
            s = res_commit(f);
            f = NULL;
        }
        int failed = db_alloc_calls() >= k;
        db_alloc_fail_at(0, 0);
        if (s == DB_OK) {
            ck_assert_msg(!failed, "allocation %ld failed but the write succeeded", k);
            done = 1;
            unlink(path);
        } else {
            ck_assert_msg(s == DB_ERR_NOMEM, "allocation %ld: %s", k, db_errmsg());
            res_abort(f);
        }
        ck_assert_int_eq(tl_dir_entries(tl_dir, NULL), 0);
    }
    ck_assert(done);
    tl_scratch_drop();
}
END_TEST

static Suite *results_suite(void)
{
    Suite *s = suite_create("results");
    TCase *tc = tcase_create("write");
    tcase_add_test(tc, test_run_attributes);
    tcase_add_test(tc, test_table_all_types);
    tcase_add_test(tc, test_long_strings);
    tcase_add_test(tc, test_append);
    tcase_add_test(tc, test_zero_rows);
    tcase_add_test(tc, test_rows_stored);
    tcase_add_test(tc, test_two_tables_describe);
    tcase_add_test(tc, test_tmp_name_discipline);
    tcase_add_test(tc, test_alloc_failures);
    suite_add_tcase(s, tc);

    tc = tcase_create("read");
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_csv_exact);
    tcase_add_test(tc, test_csv_doubles_roundtrip);
    tcase_add_test(tc, test_export_foreign);
    suite_add_tcase(s, tc);

    tc = tcase_create("large");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_million_rows);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return tl_run(results_suite());
}
