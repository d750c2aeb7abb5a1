/* log.c: logging and progress bar on stderr. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static log_level level = LOG_INFO;
static bool progress_off;

void log_set_level(log_level lv) { level = lv; }
log_level log_get_level(void) { return level; }

void log_msg(log_level lv, const char *fmt, ...)
{
    static const char *const tag[] = {"error: ", "warning: ", "", "debug: "};
    if (lv > level)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "deltabench: %s", tag[lv]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

double db_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_disable(bool off) { progress_off = off; }

static void draw(db_progress *p, bool final)
{
    double frac = p->total > 0 ? (double)p->done / (double)p->total : 1.0;
    if (frac > 1.0)
        frac = 1.0;
    int width = 30, fill = (int)(frac * width + 0.5);
    double el = db_now() - p->t_start;
    double eta = frac > 0 ? el / frac - el : 0;
    fprintf(stderr, "\r%-16.16s [", p->label);
    for (int i = 0; i < width; i++)
        fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %5.1f%% %6.1fs", 100.0 * frac, el);
    if (!final)
        fprintf(stderr, " eta %6.1fs", eta);
    else
        fprintf(stderr, "            \n");
    fflush(stderr);
}

void progress_start(db_progress *p, const char *label, int64_t total)
{
    p->label = label;
    p->total = total;
    p->done = 0;
    p->t_start = p->t_last = db_now();
    p->active = !progress_off && isatty(STDERR_FILENO);
    if (p->active)
        draw(p, false);
}

void progress_add(db_progress *p, int64_t n)
{
    p->done += n;
    if (!p->active)
        return;
    double t = db_now();
    if (t - p->t_last >= 0.1) {
        p->t_last = t;
        draw(p, false);
    }
}

void progress_end(db_progress *p)
{
    if (p->active)
        draw(p, true);
    p->active = false;
}
