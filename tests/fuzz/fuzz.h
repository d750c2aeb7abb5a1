/* fuzz.h: what every tests/fuzz/fuzz_<target>.c shares.
 *
 * A target is written once as FUZZ_TARGET(name) { ... } over (data, size). Built by `make fuzz`
 * (clang, -DFUZZ_LIBFUZZER) it is libFuzzer's LLVMFuzzerTestOneInput; built into
 * tests/check_fuzz.c (the normal build, gcc) it is fuzz_<name>(), which replays the committed
 * corpus and every regression input under tests/fuzz/regress/<name>/. File-based parsers get
 * the bytes through fz_file(): one file per name in a private directory of this process (under
 * /dev/shm when it exists, so an execution costs no disk I/O). */
#ifndef DB_TESTS_FUZZ_H
#define DB_TESTS_FUZZ_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/status.h"

#ifdef FUZZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
#define FUZZ_TARGET(name) int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#else
#define FUZZ_TARGET(name)                                                                        \
    int fuzz_##name(const uint8_t *data, size_t size);                                          \
    int fuzz_##name(const uint8_t *data, size_t size)
#endif

static char fz_dir_buf[256];

static void fz_cleanup(void)
{
    if (!fz_dir_buf[0])
        return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz_dir_buf);
    if (system(cmd) != 0)
        fz_dir_buf[0] = 0;
}

/* The process's scratch directory (created on first use, removed at exit). */
static inline const char *fz_dir(void)
{
    if (fz_dir_buf[0])
        return fz_dir_buf;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(fz_dir_buf, sizeof fz_dir_buf, "%s/dbfuzz.XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(fz_dir_buf)) {
        perror("fuzz: mkdtemp");
        abort();
    }
    atexit(fz_cleanup);
    return fz_dir_buf;
}

/* Writes data to <dir>/<name> (replacing it) and returns that path (static storage per call
 * site is not needed: the buffer is the caller's). */
static inline const char *fz_file(char *path, size_t cap, const char *name, const void *data,
                                  size_t size)
{
    snprintf(path, cap, "%s/%s", fz_dir(), name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(path);
        abort();
    }
    const uint8_t *p = data;
    while (size) {
        ssize_t w = write(fd, p, size);
        if (w <= 0) {
            perror(path);
            abort();
        }
        p += w, size -= (size_t)w;
    }
    close(fd);
    return path;
}

/* A NUL-terminated copy of data (db_error_clear'd status first). Free with free(). */
static inline char *fz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = 0;
    return s;
}

/* A failing parse must leave one line: non-empty, no newline. */
static inline void fz_check_error(db_status s)
{
    if (s == DB_OK)
        return;
    const char *m = db_errmsg();
    if (!m || !m[0] || strchr(m, '\n')) {
        fprintf(stderr, "fuzz: status %d with a bad message '%s'\n", (int)s, m ? m : "(null)");
        abort();
    }
}

#endif
