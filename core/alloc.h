/* alloc.h: the one allocator wrapper of the project.
 *
 * Every heap allocation of library code goes through db_malloc/db_calloc/db_realloc so tests can
 * make the N-th allocation fail (SQLite-style fault injection) and check that every failure path
 * returns DB_ERR_NOMEM and leaks nothing. Sizes that overflow are treated as failures. */
#ifndef DB_ALLOC_H
#define DB_ALLOC_H

#include <stddef.h>

void *db_malloc(size_t n);
void *db_calloc(size_t count, size_t size); /* count*size overflow -> NULL */
void *db_realloc(void *p, size_t n);
void *db_malloc_array(size_t count, size_t size); /* overflow-checked malloc(count*size) */
char *db_strdup(const char *s);
void db_free(void *p); /* db_free(NULL) is a no-op */

/* Aligned allocation for kernels (align a power of two >= sizeof(void*)); free with db_free. */
void *db_malloc_aligned(size_t align, size_t n);

/* Fault injection: the n-th allocation call from now fails (n >= 1); n = 0 disables.
 * With `sticky`, every call after the n-th fails too. */
void db_alloc_fail_at(long n, int sticky);

/* Number of allocation calls since start (or since db_alloc_fail_at). */
long db_alloc_calls(void);

#endif
