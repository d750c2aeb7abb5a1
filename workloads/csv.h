/* csv.h: the line and field scanner shared by the trace readers (internal to workloads/).
 *
 * Every reader loads its whole file and walks it line by line so that each complaint can name
 * the file and the line ("FILE:LINE: problem"). Lines end in \n or \r\n (the public Azure files
 * use \r\n) and the last one may lack its newline; a UTF-8 byte-order mark before the header is
 * skipped. Fields are split at commas without quoting: none of the formats read here quotes. */
#ifndef DB_WL_CSV_H
#define DB_WL_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct {
    const char *path;    /* named in every message */
    const char *p, *end; /* the text not yet scanned */
    size_t line;         /* 1-based number of the line last returned; 0 before the first */
} wl_csv;

typedef struct {
    const char *b, *e; /* [b, e): the field's bytes, no NUL terminator */
} wl_field;

/* Starts scanning text[0, len) (skips a UTF-8 byte-order mark). */
void wl_csv_init(wl_csv *c, const char *path, const char *text, size_t len);
/* The next line as [*b, *e) without its line ending; false when the text is exhausted. */
bool wl_csv_line(wl_csv *c, const char **b, const char **e);
/* Number of lines left to scan (an upper bound on the rows, for allocating once). */
size_t wl_csv_lines_left(const wl_csv *c);
/* Splits [b, e) at commas into f[0..max); returns the number of fields, which may exceed max
 * (only the first max are stored). An empty line has one empty field. */
size_t wl_csv_split(const char *b, const char *e, wl_field *f, size_t max);
/* True when the field equals the NUL-terminated string s. */
bool wl_field_is(wl_field f, const char *s);
/* Strict decimal integer (digits only; a leading '-' only when lo < 0) within [lo, hi]. */
bool wl_field_i64(wl_field f, int64_t lo, int64_t hi, int64_t *out);
/* Strict finite decimal number (strtod syntax, nothing left over, no inf/nan). */
bool wl_field_f64(wl_field f, double *out);
/* Copies the field into buf for a message, cut to fit with "..." (buf NUL-terminated). */
const char *wl_field_show(wl_field f, char *buf, size_t n);
/* Records "PATH:LINE: message" (the current line) as DB_ERR_FORMAT and returns it. */
db_status wl_csv_error(const wl_csv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
