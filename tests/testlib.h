/* testlib.h: the helpers every Check suite needs: a scratch directory per test, whole-file
 * writes and reads, directory counts, and the allocation-failure sweep (core/alloc.h's N-th
 * call injection). Header-only (static functions), included by tests/check_*.c; each suite
 * uses what it needs, so the unused ones are marked so for -Wunused-function.
 *
 * The sweep is SQLite's discipline: make the 1st, 2nd, ... allocation of a call fail until a
 * run makes fewer allocations than the one set to fail; every failing run must return
 * DB_ERR_NOMEM with a message, leave its outputs clean (the suite's `done` checks that) and
 * leak nothing (the sanitizer build's leak checker watches every run). TL_SWEEP_VERBOSE=1 in
 * the environment prints each sweep's allocation count. */
#ifndef DB_TESTLIB_H
#define DB_TESTLIB_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/status.h"

#define TL_UNUSED __attribute__((unused))

/* Runs every test of su; the exit status of a suite's main (0 when all passed). */
static TL_UNUSED int tl_run(Suite *su)
{
    SRunner *sr = srunner_create(su);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- scratch directory --------------------------------------------------------------------- */

/* The current test's scratch directory (tl_scratch_make). */
static char tl_dir[PATH_MAX];

/* Makes a fresh directory $TMPDIR/<tag>.XXXXXX (/tmp without TMPDIR) into tl_dir and clears
 * the error message. */
static TL_UNUSED void tl_scratch_make(const char *tag)
{
    const char *base = getenv("TMPDIR");
    int n = snprintf(tl_dir, sizeof tl_dir, "%s/%s.XXXXXX", base && *base ? base : "/tmp", tag);
    ck_assert_msg(n > 0 && n < (int)sizeof tl_dir, "scratch path too long");
    ck_assert_msg(mkdtemp(tl_dir) != NULL, "mkdtemp %s: %s", tl_dir, strerror(errno));
    db_error_clear();
}

/* Removes dir and everything below it (directories made read-only by a test included). */
static TL_UNUSED void tl_rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        unlink(dir);
        return;
    }
    struct dirent *e;
    char p[PATH_MAX];
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            chmod(p, 0700);
            tl_rm_tree(p);
        } else {
            unlink(p);
        }
    }
    closedir(d);
    rmdir(dir);
}

/* Turns fault injection off (a failed test may leave it on) and removes the scratch directory. */
static TL_UNUSED void tl_scratch_drop(void)
{
    db_alloc_fail_at(0, 0);
    tl_rm_tree(tl_dir);
}

/* tl_dir/name in one of 8 rotating buffers, so several paths can be alive at once. */
static TL_UNUSED const char *tl_path(const char *name)
{
    static char bufs[8][PATH_MAX];
    static int k;
    char *b = bufs[k++ % 8];
    int n = snprintf(b, PATH_MAX, "%s/%s", tl_dir, name);
    ck_assert_msg(n > 0 && n < PATH_MAX, "path %s/%s too long", tl_dir, name);
    return b;
}

/* tl_dir/name into buf[n], for paths a test keeps beyond 8 tl_path calls. */
static TL_UNUSED void tl_path_buf(char *buf, size_t n, const char *name)
{
    int k = snprintf(buf, n, "%s/%s", tl_dir, name);
    ck_assert_msg(k > 0 && (size_t)k < n, "path %s/%s too long", tl_dir, name);
}

/* ---- whole files --------------------------------------------------------------------------- */

/* Writes n bytes to path (created or truncated). */
static TL_UNUSED void tl_write(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
    ck_assert_uint_eq(fwrite(p, 1, n, fp), n);
    ck_assert_int_eq(fclose(fp), 0);
}

static TL_UNUSED void tl_write_text(const char *path, const char *text)
{
    tl_write(path, text, strlen(text));
}

/* Writes text to tl_dir/name; returns the path (a tl_path buffer). */
static TL_UNUSED const char *tl_put(const char *name, const char *text)
{
    const char *p = tl_path(name);
    tl_write_text(p, text);
    return p;
}

/* The whole file, NUL-terminated (free with free()); *n gets its length when n is not NULL. */
static TL_UNUSED unsigned char *tl_read(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    ck_assert_msg(fp != NULL, "%s: %s", path, strerror(errno));
    ck_assert_int_eq(fseek(fp, 0, SEEK_END), 0);
    long len = ftell(fp);
    ck_assert_int_ge(len, 0);
    ck_assert_int_eq(fseek(fp, 0, SEEK_SET), 0);
    unsigned char *p = malloc((size_t)len + 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(fread(p, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    p[len] = 0;
    if (n)
        *n = (size_t)len;
    return p;
}

/* Entries of dir other than . and ..; *tmp_count (when not NULL) gets those whose name holds
 * ".tmp." (an atomic write's temporary name). */
static TL_UNUSED int tl_dir_entries(const char *dir, int *tmp_count)
{
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "%s: %s", dir, strerror(errno));
    int n = 0, t = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        n++;
        t += strstr(e->d_name, ".tmp.") != NULL;
    }
    closedir(d);
    if (tmp_count)
        *tmp_count = t;
    return n;
}

/* ---- allocation-failure sweep -------------------------------------------------------------- */

/* One call of the function under test, on the suite's context. */
typedef db_status (*tl_fault_op)(void *ctx);
/* Runs after each call with its status, injection off: frees what a success made, checks that
 * a failure left its outputs clean. */
typedef void (*tl_fault_done)(void *ctx, db_status s);

/* Fails allocation 1, 2, ... of op in turn until a run makes fewer allocations than the one
 * set to fail; every failing run must return DB_ERR_NOMEM with a message. At most `max`
 * allocations. Returns how many allocations a full run makes (tests assert a minimum, so a
 * sweep that tried nothing cannot pass). */
static TL_UNUSED long tl_alloc_sweep(const char *what, tl_fault_op op, tl_fault_done done,
                                     void *ctx, long max)
{
    for (long n = 1;; n++) {
        ck_assert_msg(n <= max, "%s: more than %ld allocations", what, max);
        db_error_clear();
        db_alloc_fail_at(n, 0);
        db_status s = op(ctx);
        long calls = db_alloc_calls();
        db_alloc_fail_at(0, 0);
        if (calls < n) { /* allocation n never happened: every one has been failed */
            ck_assert_msg(s == DB_OK, "%s: %s with no allocation failing (%s)", what,
                          db_status_str(s), db_errmsg());
            if (getenv("TL_SWEEP_VERBOSE"))
                fprintf(stderr, "sweep %s: %ld allocations\n", what, calls);
            if (done)
                done(ctx, s);
            return calls;
        }
        ck_assert_msg(s == DB_ERR_NOMEM, "%s: allocation %ld of %ld failed: got %s (%s)", what, n,
                      calls, db_status_str(s), db_errmsg());
        ck_assert_msg(strcmp(db_errmsg(), "unknown error") != 0,
                      "%s: allocation %ld failed without a message", what, n);
        if (done)
            done(ctx, s);
    }
}

#endif
