/* log.h: leveled logging and a progress bar, both on stderr.
 *
 * Messages are prefixed "deltabench: ". The progress bar draws only when stderr is a terminal
 * (so logs, CI output and pipes stay clean) and redraws at most ~10 times a second. */
#ifndef DB_LOG_H
#define DB_LOG_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level;

void log_set_level(log_level lv);
log_level log_get_level(void);
void log_msg(log_level lv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

typedef struct {
    const char *label;
    int64_t total, done;
    double t_start, t_last;
    bool active; /* stderr is a terminal and progress is not disabled */
} db_progress;

/* Starts a bar for `total` units of work (total > 0). */
void progress_start(db_progress *p, const char *label, int64_t total);
/* Adds n finished units and redraws when due. */
void progress_add(db_progress *p, int64_t n);
/* Draws the final state and ends the line. */
void progress_end(db_progress *p);
/* Forces progress bars off (tests) or back to "when a terminal". */
void progress_disable(bool off);

/* Monotonic wall-clock seconds. */
double db_now(void);

#endif
