/* bench_workloads.c: trace generation speed against the target of 10M requests in <= 3 s.
 *
 * Two workloads, each timed twice in the same run: generation alone (requests streamed through
 * one reused buffer, as `trace gen` does) and generation plus CSV writing through the real
 * writer (to /dev/shm when it exists, so the time is formatting and writing rather than this
 * machine's disk; the file is removed afterwards). Reported: requests/s and the ratio of the
 * time to the 3 s target (<= 1 meets it), for the wall time and for the process's CPU time,
 * which is what the wall time would be on an idle machine (the build machine is shared). The
 * cheap workload is Poisson + uniform + fixed lengths; the expensive one Gamma (CV 2, a Gamma
 * draw per gap) + Zipf over 1,000 models + lognormal lengths. BENCH_REQUESTS changes the count
 * (default 10,000,000), BENCH_DIR the directory written to. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/status.h"
#include "workloads/gen.h"
#include "workloads/trace.h"

enum { CHUNK = 1 << 16 };
static const double TARGET_S = 3.0;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Generates the whole trace; writes it to path when path is non-NULL. Returns wall seconds (and
 * CPU seconds in *cpu), or -1. */
static double run(const wl_gen_spec *s, const char *path, int64_t *count, double *cpu)
{
    double c0 = cpu_now();
    static trace_req buf[CHUNK];
    wl_gen *g;
    trace_writer *w = NULL;
    double t0 = db_now();
    if (wl_gen_init(s, &g) != DB_OK)
        return -1;
    if (path && trace_writer_open(path, NULL, &w) != DB_OK) {
        wl_gen_free(g);
        return -1;
    }
    db_status st = DB_OK;
    for (;;) {
        size_t n;
        if ((st = wl_gen_next(g, buf, CHUNK, &n)) != DB_OK || n == 0)
            break;
        if (w && (st = trace_writer_put(w, buf, n)) != DB_OK)
            break;
    }
    *count = wl_gen_count(g);
    wl_gen_free(g);
    if (w) {
        if (st == DB_OK)
            st = trace_writer_commit(w);
        else
            trace_writer_abort(w);
    }
    *cpu = cpu_now() - c0;
    return st == DB_OK ? db_now() - t0 : -1;
}

int main(void)
{
    const char *env = getenv("BENCH_REQUESTS");
    int64_t nreq = env ? atoll(env) : 10000000;
    if (nreq <= 0)
        nreq = 10000000;
    /* The written file goes to BENCH_DIR, else /dev/shm (memory: the time is formatting and
     * writing, not this machine's disk or the commit's fsync), else TMPDIR or /tmp. */
    const char *dir = getenv("BENCH_DIR");
    if (!dir || !*dir)
        dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    char path[512];
    snprintf(path, sizeof path, "%s/bench_workloads.%ld.csv", dir, (long)getpid());

    struct {
        const char *name, *pop, *len;
        wl_arrival_kind arrival;
        int32_t models;
    } cases[] = {
        {"poisson + uniform(100) + fixed", "uniform", "fixed:512,128", WL_ARR_POISSON, 100},
        {"gamma cv 2 + zipf:1.5(1000) + lognormal", "zipf:1.5", "lognormal:1000,1,200,0.8",
         WL_ARR_GAMMA, 1000},
    };
    printf("bench_workloads: %lld requests per run, target %.0f s (ratio = time / target, <= 1 "
           "meets it; cpu = this process's CPU time, the wall time on an idle machine), CSV "
           "written to %s\n",
           (long long)nreq, TARGET_S, dir);
    int bad = 0;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        wl_gen_spec s;
        wl_gen_defaults(&s);
        s.arrival.kind = cases[k].arrival;
        s.arrival.rate = 1000.0;
        s.arrival.cv = 2.0;
        s.nmodels = cases[k].models;
        s.max_requests = nreq;
        s.seed = 42;
        if (wl_pop_parse(cases[k].pop, &s.popularity) != DB_OK ||
            wl_len_parse(cases[k].len, &s.lengths) != DB_OK) {
            fprintf(stderr, "bench_workloads: %s\n", db_errmsg());
            return 1;
        }
        for (int write = 0; write < 2; write++) {
            int64_t n = 0;
            double cpu = 0;
            double sec = run(&s, write ? path : NULL, &n, &cpu);
            if (sec < 0) {
                fprintf(stderr, "bench_workloads: %s\n", db_errmsg());
                unlink(path);
                return 1;
            }
            long long bytes = 0;
            if (write) {
                FILE *fp = fopen(path, "rb");
                if (fp && fseek(fp, 0, SEEK_END) == 0)
                    bytes = ftell(fp);
                if (fp)
                    fclose(fp);
                unlink(path);
            }
            printf("  %-40s %-13s wall %6.3f s  %5.2f M req/s  ratio %.2f | cpu %6.3f s  "
                   "ratio %.2f",
                   cases[k].name, write ? "+ CSV write" : "generate only", sec,
                   (double)n / sec / 1e6, sec / TARGET_S, cpu, cpu / TARGET_S);
            if (write)
                printf("  (%.0f MB)", (double)bytes / 1e6);
            printf("\n");
            bad |= n != nreq;
        }
    }
    return bad;
}
