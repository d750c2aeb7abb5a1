/* fsutil.h: whole-file reads and all-or-nothing output files.
 *
 * Every result file is written under a temporary name beside its final name and renamed only
 * when complete (fs_commit), so a crash or an error never leaves a half-written file under the
 * final name. */
#ifndef DB_FSUTIL_H
#define DB_FSUTIL_H

#include <stddef.h>
#include <stdio.h>

#include "core/status.h"

/* Temporary name for `final`: "<final>.tmp.<pid>"; buf must hold strlen(final) + 32 bytes. */
void fs_tmp_name(const char *final, char *buf, size_t n);
/* Flushes tmp to disk and renames it to final. */
db_status fs_commit(const char *tmp, const char *final);
/* Removes tmp (errors ignored). */
void fs_abort(const char *tmp);

/* Reads a whole file into a NUL-terminated buffer (free with db_free). */
db_status fs_read_all(const char *path, char **out, size_t *len);

/* An output FILE* with the temp-and-rename discipline ("-" means stdout, written directly). */
typedef struct {
    FILE *fp;
    char *final, *tmp;
} fs_out;
db_status fs_out_open(fs_out *o, const char *path);
db_status fs_out_commit(fs_out *o); /* closes; renames on success, removes tmp on error */
void fs_out_abort(fs_out *o);       /* closes and removes tmp */

#endif
