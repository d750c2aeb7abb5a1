/* version.h: tool version (from the Makefile) and the git commit the binary was built from. */
#ifndef DB_VERSION_H
#define DB_VERSION_H

#ifndef DB_VERSION
#define DB_VERSION "0.0.0"
#endif

/* Short commit hash, "-dirty" appended for uncommitted changes; "unknown" outside git. */
const char *db_git_commit(void);

#endif
