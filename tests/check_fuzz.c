/* check_fuzz.c: the fuzz targets of tests/fuzz/ replayed in the normal build (gcc, and under
 * ASan + UBSan with SANITIZE=address,undefined). Each target's committed seed corpus
 * (tests/fuzz/corpus/<target>/) and every input that once crashed it
 * (tests/fuzz/regress/<target>/, named after the bug) go through the same function libFuzzer
 * calls; one Check test per target, so a crash names the target, and the file is printed
 * before it runs. `make fuzz` builds the same sources with clang and libFuzzer. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/fuzz_azure_func.c"
#include "tests/fuzz/fuzz_azure_llm.c"
#include "tests/fuzz/fuzz_cli.c"
#include "tests/fuzz/fuzz_container.c"
#include "tests/fuzz/fuzz_hw_profile.c"
#include "tests/fuzz/fuzz_nightly_history.c"
#include "tests/fuzz/fuzz_nightly_metrics.c"
#include "tests/fuzz/fuzz_nightly_table.c"
#include "tests/fuzz/fuzz_params.c"
#include "tests/fuzz/fuzz_safetensors.c"
#include "tests/fuzz/fuzz_st_index.c"
#include "tests/fuzz/fuzz_tf_config.c"
#include "tests/fuzz/fuzz_trace_csv.c"
#include "tests/fuzz/fuzz_trace_h5.c"
#include "tests/fuzz/fuzz_trace_h5_table.c"

typedef struct {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
    bool quiet; /* the target prints (usage errors): its output goes to /dev/null */
} target;

#define T(n, q) {#n, fuzz_##n, q}
static const target targets[] = {
    T(safetensors, false), T(st_index, false),     T(container, false),
    T(params, false),      T(trace_csv, false),    T(azure_llm, false),
    T(azure_func, false),  T(trace_h5, false),     T(hw_profile, false),
    T(tf_config, false),   T(nightly_history, false), T(nightly_metrics, false),
    T(cli, true),          T(trace_h5_table, false), T(nightly_table, false),
};
#define NTARGETS (sizeof targets / sizeof targets[0])

static char root[4096]; /* the repository root (the cli target changes directory) */

#ifdef __SANITIZE_ADDRESS__
/* libhdf5 leaks inside itself on some malformed files (regress/trace_h5/
 * declared-rows-huge-alloc.h5: 56 bytes that libhdf5 allocated while failing). Those leaks, made
 * inside libhdf5, are not deltabench's; LeakSanitizer stays on for every other allocation. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libhdf5\n";
}
#endif

/* Runs every regular file of dir through t; returns how many. */
static size_t replay_dir(const target *t, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (e->d_name[0] == '.' || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        FILE *f = fopen(path, "rb");
        ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
        uint8_t *buf = malloc((size_t)st.st_size + 1);
        ck_assert(buf != NULL);
        size_t got = fread(buf, 1, (size_t)st.st_size, f);
        fclose(f);
        ck_assert_uint_eq(got, (size_t)st.st_size);
        fprintf(stderr, "fuzz %s: %s\n", t->name, path);
        int o1 = -1, o2 = -1;
        if (t->quiet) {
            fflush(stdout), fflush(stderr);
            o1 = dup(1), o2 = dup(2);
            int nul = open("/dev/null", O_WRONLY);
            dup2(nul, 1), dup2(nul, 2), close(nul);
        }
        t->fn(buf, got);
        if (t->quiet) {
            fflush(stdout), fflush(stderr);
            dup2(o1, 1), dup2(o2, 2), close(o1), close(o2);
        }
        free(buf);
        n++;
    }
    closedir(d);
    return n;
}

START_TEST(test_replay)
{
    const target *t = &targets[_i];
    char dir[8192];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", root, t->name);
    size_t seeds = replay_dir(t, dir);
    ck_assert_msg(seeds > 0, "%s: no seed corpus", dir);
    snprintf(dir, sizeof dir, "%s/tests/fuzz/regress/%s", root, t->name);
    size_t reg = replay_dir(t, dir);
    fprintf(stderr, "fuzz %s: %zu seeds, %zu regression inputs replayed\n", t->name, seeds, reg);
}
END_TEST

/* Tables that declare far more rows than they store, found by the fuzzers through the worker:
 * read_direct allocated the declared 4.4e13 rows first (a 1.4 PB malloc that ASan kills); then,
 * reading block by block, rows never written (fill values) took 24 GB and a minute
 * (fill-rows-*). Read in-process (guard off, so the sanitizer build sees the reader itself):
 * each is a one-line error from res_rows_stored before a row is read. So is a table that
 * declares rows but stores none. */
START_TEST(test_h5_declared_rows)
{
    char path[8192];
    snprintf(path, sizeof path, "%s/tests/fuzz/regress/trace_h5/declared-rows-huge-alloc.h5",
             root);
    trace_table t;
    res_read_guard(0);
    db_status s = trace_read(path, &t);
    ck_assert_int_eq(s, DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "rows never written?"));
    snprintf(path, sizeof path, "%s/tests/fuzz/regress/trace_h5/fill-rows-timeout.h5", root);
    ck_assert_int_eq(trace_read(path, &t), DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "declares 58274116272133 rows of 40 bytes"));
    snprintf(path, sizeof path, "%s/tests/fuzz/regress/nightly_history/fill-rows-oom.h5", root);
    nt_history h;
    memset(&h, 0, sizeof h);
    ck_assert_int_eq(nt_history_load(path, 0, &h), DB_ERR_FORMAT);
    nt_history_free(&h);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "table 'history' declares 72057594037927938 rows"));

    /* 10^12 rows of the trace's columns, chunked, never written */
    snprintf(path, sizeof path, "%s/unwritten.h5", fz_dir());
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t ct = H5Tcreate(H5T_COMPOUND, 5 * 8);
    const char *const cols[] = {"request_id", "arrival_s", "model", "prompt_tokens",
                                "output_tokens"};
    for (int c = 0; c < 5; c++)
        H5Tinsert(ct, cols[c], (size_t)c * 8, c == 1 ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64);
    hsize_t dims[1] = {1000000000000ULL}, chunk[1] = {1024};
    hid_t sp = H5Screate_simple(1, dims, NULL), pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, 1, chunk);
    hid_t d = H5Dcreate2(f, "requests", ct, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    ck_assert_int_ge(d, 0);
    H5Dclose(d), H5Pclose(pl), H5Sclose(sp), H5Tclose(ct), H5Fclose(f);
    s = trace_read(path, &t);
    res_read_guard(1);
    ck_assert_int_eq(s, DB_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(db_errmsg(), "none is stored"));
    unlink(path);
}
END_TEST

int main(void)
{
    if (!getcwd(root, sizeof root))
        return 1;
    Suite *s = suite_create("fuzz");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_replay, 0, (int)NTARGETS);
    suite_add_tcase(s, tc);
    tc = tcase_create("hdf5");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_h5_declared_rows);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
