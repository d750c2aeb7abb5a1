/* alloc.c: the allocator wrapper with fault injection (see alloc.h). */
#include "core/alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static atomic_long calls;
static atomic_long fail_at; /* 0: never */
static atomic_int fail_sticky;

static int should_fail(void)
{
    long n = atomic_fetch_add(&calls, 1) + 1;
    long f = atomic_load(&fail_at);
    if (f <= 0)
        return 0;
    return n == f || (atomic_load(&fail_sticky) && n > f);
}

void db_alloc_fail_at(long n, int sticky)
{
    atomic_store(&calls, 0);
    atomic_store(&fail_sticky, sticky);
    atomic_store(&fail_at, n);
}

long db_alloc_calls(void) { return atomic_load(&calls); }

void *db_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *db_calloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *db_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void *db_malloc_array(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        return NULL;
    return db_malloc(count * size);
}

char *db_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = db_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void *db_malloc_aligned(size_t align, size_t n)
{
    if (should_fail())
        return NULL;
    void *p = NULL;
    n = (n + align - 1) / align * align;
    if (posix_memalign(&p, align, n ? n : align) != 0)
        return NULL;
    return p;
}

void db_free(void *p) { free(p); }
