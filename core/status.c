/* status.c: status names and the thread-local last-error message. */
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_msg[1024];

const char *db_status_str(db_status s)
{
    static const char *const names[DB_STATUS_COUNT] = {
        [DB_OK] = "ok",
        [DB_ERR_NOMEM] = "out of memory",
        [DB_ERR_IO] = "input/output error",
        [DB_ERR_FORMAT] = "malformed file",
        [DB_ERR_ARG] = "invalid argument",
        [DB_ERR_SHAPE] = "shape mismatch",
        [DB_ERR_DTYPE] = "unsupported or mismatched dtype",
        [DB_ERR_NUMERIC] = "non-finite value",
        [DB_ERR_NOT_FOUND] = "not found",
        [DB_ERR_UNSUPPORTED] = "unsupported",
        [DB_ERR_NO_DEVICE] = "no CUDA device",
        [DB_ERR_HDF5] = "HDF5 error",
        [DB_ERR_CUDA] = "CUDA error",
        [DB_ERR_INTERNAL] = "internal error",
    };
    if ((unsigned)s >= DB_STATUS_COUNT)
        return "unknown status";
    return names[s];
}

db_status db_error(db_status s, const char *fmt, ...)
{
    /* formatted aside first: an argument may be db_errmsg() itself (prefixing a message) */
    char buf[sizeof last_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    /* one line whatever the arguments quote (a file's bytes): control characters become '?' */
    for (char *c = buf; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    memcpy(last_msg, buf, sizeof buf);
    return s;
}

const char *db_errmsg(void) { return last_msg[0] ? last_msg : "unknown error"; }

void db_error_clear(void) { last_msg[0] = '\0'; }
