/* status.h: the project-wide status enum and the last-error message.
 *
 * Library code never exits: it returns a db_status. Where the caller needs to know *what* went
 * wrong (which file, which tensor, which line), the failing function also records a one-line
 * message with db_error(); main() prints that line and exits. The message is thread-local. */
#ifndef DB_STATUS_H
#define DB_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    DB_OK = 0,
    DB_ERR_NOMEM,       /* an allocation failed */
    DB_ERR_IO,          /* open/read/write/mmap/rename failed */
    DB_ERR_FORMAT,      /* a file's content is malformed or corrupt */
    DB_ERR_ARG,         /* an impossible or nonsensical parameter */
    DB_ERR_SHAPE,       /* shapes disagree */
    DB_ERR_DTYPE,       /* unsupported or mismatched dtype */
    DB_ERR_NUMERIC,     /* NaN or Inf where finite values are required */
    DB_ERR_NOT_FOUND,   /* a named tensor, table or key does not exist */
    DB_ERR_UNSUPPORTED, /* a valid request this build or machine cannot serve */
    DB_ERR_NO_DEVICE,   /* no CUDA device (or a build without CUDA) */
    DB_ERR_HDF5,        /* an HDF5 call failed */
    DB_ERR_CUDA,        /* a CUDA runtime/library call failed */
    DB_ERR_INTERNAL,    /* a broken invariant: a bug */
    DB_STATUS_COUNT
} db_status;

/* Short stable name of a status ("ok", "out of memory", ...); never NULL. */
const char *db_status_str(db_status s);

/* Records a printf-style one-line message for status s and returns s, so a failing path reads
 * `return db_error(DB_ERR_FORMAT, "%s: header length beyond end of file", path);`. */
db_status db_error(db_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* (db_errmsg() may be one of the arguments: `db_error(s, "%s: %s", path, db_errmsg())` prefixes
 * the current message.) */

/* The last message recorded on this thread, or db_status_str() of the last status when none. */
const char *db_errmsg(void);

/* Forgets the last message (tests use it between cases). */
void db_error_clear(void);

#ifdef __cplusplus
}
#endif

#endif
