/* h5worker.h: the guard of the byte-level HDF5 targets (fuzz_trace_h5.c, fuzz_nightly_history.c)
 * under libFuzzer: one persistent worker process instead of a fork per input.
 *
 * libhdf5 crashes on some malformed files, so the library reads a file from outside first in a
 * forked child (res_read_guarded, core/results.h). Under ASan that fork costs milliseconds of
 * system time (the page tables and copy-on-write faults of a process with ASan's shadow and
 * libFuzzer's corpus), which held these targets to 17-45 executions a second. Here a worker,
 * this same binary started again by posix_spawn (no fork of the fuzzing process) and kept inside
 * LLVMFuzzerInitialize (before libFuzzer installs its crash handlers and malloc hooks, which
 * would write a stale input as a crash artifact), runs the target's whole check (read, oracles,
 * every HDF5 handle closed) on input after input, with the library's guard off.
 *
 * Coverage: the worker zeroes its coverage counters (libFuzzer's inline 8-bit counters, section
 * __sancov_cntrs: the same binary, so the same layout) before each input and hands them back
 * through a shared file; the target adds them to its own before it returns, so libFuzzer sees the
 * worker's execution as the input's. Lost: libFuzzer's table of recent comparisons (the
 * worker's comparisons do not guide mutations). An input on which the worker dies adds nothing.
 *
 * When the worker dies, its sanitizer report (one frame a line as #n|module|offset; this
 * process symbolises the binary's own frames with one long-lived llvm-symbolizer) says whose
 * crash it was. The first frame in libhdf5 or in the
 * binary's own C code (other libraries and the sanitizer runtime are skipped: a crash in memcpy
 * belongs to its caller) decides: libhdf5 -> the library's bug on a malformed file, which is what
 * res_read_guarded makes a one-line error, so the input is refused and a new worker starts;
 * unless the memory overrun is a live buffer deltabench allocated (sized for libhdf5: not a
 * block already freed, which is libhdf5's wild access).
 * Anything else (a deltabench frame, a UBSan report: libhdf5 is not instrumented; no report) may
 * be deltabench's own bug: the target runs the check again in a fresh worker (no libhdf5
 * history), and if that one dies of it too, in-process, where a real bug crashes again under
 * libFuzzer (report, artifact); a death that does not repeat is counted as unattributed.
 * libhdf5 keeps state between files, so the worker's history can matter: a crash it causes in
 * libhdf5 reads as malformed input (as a fork of a process with that history would).
 *
 * DBFUZZ_H5_STATS=FILE (tests/fuzz/run.sh sets it) gets one line of counts after each worker
 * death and at exit. Only in the libFuzzer build; check_fuzz.c replays the same inputs through
 * the library's own guard. */
#ifndef DB_TESTS_FUZZ_H5WORKER_H
#define DB_TESTS_FUZZ_H5WORKER_H

#include "core/results.h"

typedef void (*fzw_check_fn)(const char *path); /* reads the file, checks it, aborts if wrong */

#ifdef FUZZ_LIBFUZZER

#include <errno.h>
#include <hdf5.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

extern char **environ;

/* The bounds of the counters. Not declared in C: SanitizerCoverage makes its own globals of
 * these names in every instrumented file, and a declaration here would make it rename its own
 * (the counters would not reach libFuzzer at all); an assembly reference is outside its view. */
#if defined(__x86_64__)
#define FZW_ADDR(sym, p) __asm__("lea " sym "(%%rip), %0" : "=r"(p))
#elif defined(__aarch64__)
#define FZW_ADDR(sym, p) __asm__("adrp %0, " sym "\n\tadd %0, %0, :lo12:" sym : "=r"(p))
#else
#error "tests/fuzz/h5worker.h: no way to find the coverage counters on this architecture"
#endif
static uint8_t *fzw_cntrs(size_t *n)
{
    uint8_t *a, *b;
    FZW_ADDR("__start___sancov_cntrs", a);
    FZW_ADDR("__stop___sancov_cntrs", b);
    *n = (size_t)(b - a);
    return a;
}

/* A worker retires after this many inputs or this much memory (libhdf5 leaks on bad files). */
enum { FZW_RETIRE_INPUTS = 20000, FZW_RETIRE_RSS_MB = 1024 };

static struct {
    pid_t pid;
    int fd;
    uint8_t *cov; /* the worker's counters of the last input (shared mapping) */
    unsigned long inputs, deaths, hdf5, other, spawns, fresh;
} fzw = {.pid = -1, .fd = -1};

static char fzw_err_path[600], fzw_cov_path[600];

static size_t fzw_ncov(void)
{
    size_t n;
    (void)fzw_cntrs(&n);
    return n;
}

static void fzw_stats(void)
{
    const char *p = getenv("DBFUZZ_H5_STATS");
    FILE *f = p && *p ? fopen(p, "w") : NULL;
    if (!f)
        return;
    fprintf(f, "inputs %lu worker_deaths %lu in_hdf5 %lu not_hdf5 %lu spawns %lu fresh_reruns %lu\n",
            fzw.inputs, fzw.deaths, fzw.hdf5, fzw.other, fzw.spawns, fzw.fresh);
    fclose(f);
}

/* The worker: run from LLVMFuzzerInitialize when DBFUZZ_H5_WORKER names the input file. For
 * each byte read from fd 0 (a socket) it checks the file and answers whether it retires. */
static void fzw_serve(fzw_check_fn check)
{
    const char *path = getenv("DBFUZZ_H5_WORKER"), *covp = getenv("DBFUZZ_H5_COV");
    if (!path || !covp)
        return;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    size_t n;
    uint8_t *cntrs = fzw_cntrs(&n);
    int fd = open(covp, O_RDWR | O_CLOEXEC);
    uint8_t *cov = fd >= 0 ? mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : NULL;
    if (!cov || cov == MAP_FAILED)
        _exit(2);
    close(fd);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    res_read_guard(0);
    char c;
    for (unsigned long k = 1; read(0, &c, 1) == 1; k++) {
        memset(cntrs, 0, n);
        check(path);
        memcpy(cov, cntrs, n);
        struct rusage ru;
        int32_t retire = k >= FZW_RETIRE_INPUTS ||
                         (getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss / 1024 > FZW_RETIRE_RSS_MB);
        if (write(0, &retire, sizeof retire) != (ssize_t)sizeof retire || retire)
            break;
    }
    _exit(0);
}

#define FZW_WORKER(check)                                                                        \
    int LLVMFuzzerInitialize(int *argc, char ***argv);                                          \
    int LLVMFuzzerInitialize(int *argc, char ***argv)                                           \
    {                                                                                            \
        (void)argc, (void)argv;                                                                  \
        fzw_serve(check);                                                                        \
        return 0;                                                                                \
    }

/* Ends the worker (if any) and reaps it, so its CPU time counts as this process's children's. */
static void fzw_stop(void)
{
    if (fzw.fd >= 0)
        close(fzw.fd);
    if (fzw.pid > 0) {
        kill(fzw.pid, SIGKILL);
        while (waitpid(fzw.pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    fzw.fd = -1, fzw.pid = -1;
}

static void fzw_spawn(const char *path)
{
    size_t ncov = fzw_ncov();
    if (!fzw.cov) { /* first time: the shared counters, the exit hooks */
        snprintf(fzw_cov_path, sizeof fzw_cov_path, "%s/worker.cov", fz_dir());
        int fd = open(fzw_cov_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)ncov) != 0 ||
            (fzw.cov = mmap(NULL, ncov, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
            perror("fuzz: worker counters");
            abort();
        }
        close(fd);
        atexit(fzw_stats);
        atexit(fzw_stop); /* runs first */
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        perror("fuzz: socketpair");
        abort();
    }
    snprintf(fzw_err_path, sizeof fzw_err_path, "%s/worker.err", fz_dir());
    /* the environment, with the worker's files and sanitizer options last (they win) */
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = malloc((n + 4) * sizeof *env);
    if (!env)
        abort();
    static char work[700], cov[700], asan[1200];
    const char *pa = getenv("ASAN_OPTIONS");
    /* reports a frame a line as module and offset, unsymbolised (fzw_symbolize does this
     * binary's frames); abort() reports too; an allocation over 256 MiB returns NULL: libhdf5
     * asks for up to 4 GiB on some damaged files of 25 KB (a corrupt size in the superblock or
     * a chunk) and then zeroes it, 2.5 s and 2 GB of RSS an input, which retired the worker
     * after each one (trace_h5 fell to 25 inputs a second); libhdf5 then fails cleanly, and no
     * reader of deltabench needs 256 MiB for a file of the fuzzer's size (res_rows_stored) */
    snprintf(asan, sizeof asan,
             "ASAN_OPTIONS=%s%ssymbolize=0:detect_leaks=0:handle_abort=1:"
             "max_allocation_size_mb=256:allocator_may_return_null=1:malloc_context_size=16:"
             "stack_trace_format=#%%n|%%m|%%o",
             pa ? pa : "", pa && *pa ? ":" : "");
    snprintf(work, sizeof work, "DBFUZZ_H5_WORKER=%s", path);
    snprintf(cov, sizeof cov, "DBFUZZ_H5_COV=%s", fzw_cov_path);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "ASAN_OPTIONS=", 13) && strncmp(environ[i], "DBFUZZ_H5_", 10))
            env[k++] = environ[i];
    env[k++] = asan, env[k++] = work, env[k++] = cov, env[k] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, fzw_err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char *argv[] = {(char *)"fuzz-h5worker", NULL};
    int e = posix_spawn(&fzw.pid, "/proc/self/exe", &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(sv[1]);
    if (e) {
        fprintf(stderr, "fuzz: posix_spawn: %s\n", strerror(e));
        abort();
    }
    fzw.fd = sv[0], fzw.spawns++;
}

/* One llvm-symbolizer for the whole campaign, in this process. A worker that symbolised its own
 * report started one per death, which loaded the binary's debug information each time (~150 ms;
 * with a death every ~22 inputs, fuzz_nightly_history ran at 87 inputs a second). It answers a
 * "module offset" line with "function\nfile:line:col\n" pairs, innermost inlined frame first, up
 * to a blank line. */
static struct {
    pid_t pid;
    FILE *to, *from;
} fzw_sym = {-1, NULL, NULL};

static void fzw_symbolize(const char *module, const char *offset, char *out, size_t cap)
{
    if (fzw_sym.pid < 0) {
        int in[2], outp[2];
        if (pipe(in) || pipe(outp) || fcntl(in[1], F_SETFD, FD_CLOEXEC) ||
            fcntl(outp[0], F_SETFD, FD_CLOEXEC)) {
            perror("fuzz: pipe for llvm-symbolizer");
            abort();
        }
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_adddup2(&fa, in[0], 0);
        posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        const char *sp = getenv("ASAN_SYMBOLIZER_PATH");
        char *argv[] = {(char *)"llvm-symbolizer", NULL};
        int e = posix_spawnp(&fzw_sym.pid, sp && *sp ? sp : "llvm-symbolizer", &fa, NULL, argv,
                             environ);
        posix_spawn_file_actions_destroy(&fa);
        close(in[0]), close(outp[1]);
        if (e || !(fzw_sym.to = fdopen(in[1], "w")) || !(fzw_sym.from = fdopen(outp[0], "r"))) {
            fprintf(stderr, "fuzz: cannot start llvm-symbolizer: %s\n", strerror(e ? e : errno));
            abort(); /* without it no worker death can be attributed */
        }
    }
    /* a line it cannot parse comes back as it was, with no blank line to end it: so the module
     * is quoted (a path with spaces, or " (deleted)" once the binary is rebuilt under a running
     * campaign) and only a hex offset is asked */
    out[0] = 0;
    if (strncmp(offset, "0x", 2) || !offset[2] || offset[2 + strspn(offset + 2, "0123456789abcdef")])
        return;
    fprintf(fzw_sym.to, "\"%s\" %s\n", module, offset);
    fflush(fzw_sym.to);
    size_t n = 0;
    char line[1024];
    while (fgets(line, sizeof line, fzw_sym.from) && line[0] != '\n') {
        size_t l = strlen(line);
        if (n + l < cap)
            memcpy(out + n, line, l + 1), n += l;
    }
    out[n] = 0;
}

/* Who owns the first deciding frame of the stack that starts at p (lines "#n|module|offset", up
 * to a blank line): 1 libhdf5, 0 this binary's own C code (deltabench, the target: a *.c source;
 * the sanitizer and libFuzzer runtimes in the binary have none), -1 none. Frames of other
 * modules (libc, ...) are skipped: a crash in memcpy belongs to its caller. */
static int fzw_owner(const char *p, const char *self)
{
    while (p && *p == '#') {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), p);
        char *mod = strchr(line, '|'), *off = mod ? strchr(mod + 1, '|') : NULL;
        if (off) {
            *off++ = 0;
            if (strstr(mod + 1, "libhdf5"))
                return 1;
            static char sym[8192];
            if (!strcmp(mod + 1, self)) {
                fzw_symbolize(mod + 1, off, sym, sizeof sym);
                for (char *q = sym; *q;) { /* a function line, then its file:line:col line */
                    char *src = strchr(q, '\n'), *se = src ? strchr(src + 1, '\n') : NULL;
                    if (!se)
                        break;
                    *se = 0;
                    if (strstr(src + 1, ".c:") && !strstr(src + 1, "compiler-rt"))
                        return 0;
                    q = se + 1;
                }
            }
        }
        p = e ? e + 1 : NULL;
    }
    return -1;
}

/* 1 when the worker's report puts its crash inside libhdf5 (and not in a deltabench buffer). */
static int fzw_in_hdf5(void)
{
    static char rep[65536];
    FILE *f = fopen(fzw_err_path, "r");
    size_t n = f ? fread(rep, 1, sizeof rep - 1, f) : 0;
    if (f)
        fclose(f);
    rep[n] = 0;
    char self[600];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    self[sl > 0 ? sl : 0] = 0;
    if (strstr(rep, "runtime error:")) /* UBSan: only this binary is instrumented */
        return 0;
    const char *err = strstr(rep, "ERROR: AddressSanitizer");
    const char *stack = err ? strstr(err, "\n#") : NULL;
    if (!stack || fzw_owner(stack + 1, self) != 1)
        return 0;
    /* libhdf5 overran a live buffer deltabench allocated: deltabench may have sized it short.
     * Not so for a freed block: libhdf5 reading or writing memory deltabench had freed is a wild
     * access of libhdf5's (fuzz_nightly_history: H5T__conv_struct_opt converting the fill value
     * of a damaged table reads 3 MB into a freed block; the reader never hands libhdf5 a freed
     * pointer, and the structure-aware targets check that in-process on well-formed files). */
    const char *alloc = strstr(err, "allocated by thread");
    if (!strstr(err, "heap-use-after-free") && alloc && (alloc = strchr(alloc, '\n')) &&
        fzw_owner(alloc + 1, self) == 0)
        return 0;
    return 1;
}

/* Runs check(path) in the worker and adds its coverage to this process's counters. 1: done;
 * 0: libhdf5 crashed on the file (refuse it, as res_read_guarded would); -1: the worker died
 * and its report does not blame libhdf5 (the caller runs the check in-process to find out). */
static int fzw_run(const char *path)
{
    fzw.inputs++;
    char go = 1;
    if (fzw.pid < 0)
        fzw_spawn(path);
    if (send(fzw.fd, &go, 1, MSG_NOSIGNAL) == 1) {
        int32_t retire;
        ssize_t r;
        while ((r = recv(fzw.fd, &retire, sizeof retire, MSG_WAITALL)) < 0 && errno == EINTR)
            ;
        if (r == (ssize_t)sizeof retire) {
            size_t ncov;
            uint8_t *cntrs = fzw_cntrs(&ncov);
            for (size_t i = 0; i < ncov; i++) {
                unsigned v = (unsigned)cntrs[i] + fzw.cov[i];
                cntrs[i] = (uint8_t)(v > 255 ? 255 : v);
            }
            if (retire)
                fzw_stop();
            return 1;
        }
    }
    /* the worker died on this input */
    close(fzw.fd);
    while (waitpid(fzw.pid, NULL, 0) < 0 && errno == EINTR)
        ;
    fzw.fd = -1, fzw.pid = -1;
    fzw.deaths++;
    int hdf5 = fzw_in_hdf5();
    if (hdf5)
        fzw.hdf5++;
    else
        fzw.other++; /* a real bug stops the campaign in the caller's own check */
    fzw_stats();
    return hdf5 ? 0 : -1;
}

#define FZW_WORKER_FOR(check) FZW_WORKER(check)
#else
#define FZW_WORKER_FOR(check)
#endif

/* A target's body: check(path) in the worker under libFuzzer (when the worker died of something
 * libhdf5 is not blamed for: again in a fresh worker, then in-process), in-process through the
 * library's guard otherwise. */
static inline void fzw_check(const char *path, fzw_check_fn check)
{
#ifdef FUZZ_LIBFUZZER
    if (fzw_run(path) >= 0)
        return; /* checked in the worker, or refused: libhdf5 crashed on it */
    /* Once more in a fresh worker, which has no libhdf5 history: a death that was the history's
     * (libhdf5 reading a block it had freed, which deltabench's buffers had since reused, so the
     * report blames a deltabench allocation) passes there or dies in libhdf5's own memory. */
    fzw.fresh++, fzw.inputs--;
    if (fzw_run(path) >= 0)
        return;
    res_read_guard(0);
    check(path);
    res_read_guard(1);
#else
    check(path);
#endif
}

#endif
