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

int main(void)
{
    if (!getcwd(root, sizeof root))
        return 1;
    Suite *s = suite_create("fuzz");
    TCase *tc = tcase_create("replay");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_replay, 0, (int)NTARGETS);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
