/* hash.c: the 64-bit content hash (see hash.h for the construction and why). */
#include "core/hash.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/safetensors.h"

/* Odd 64-bit primes with well-spread bits (the classic xxHash64 constants). */
#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8); /* little-endian hosts only (x86-64, aarch64): checked in tests */
    return v;
}

static inline uint64_t round1(uint64_t acc, uint64_t w)
{
    acc += w * P2;
    acc = rotl(acc, 31);
    return acc * P1;
}

static inline uint64_t merge(uint64_t h, uint64_t v)
{
    h ^= round1(0, v);
    return h * P1 + P4;
}

void hash_init(hash_state *h, uint64_t seed)
{
    memset(h, 0, sizeof *h);
    h->seed = seed;
    h->v[0] = seed + P1 + P2;
    h->v[1] = seed + P2;
    h->v[2] = seed;
    h->v[3] = seed - P1;
}

/* The hot loop: four independent lanes so the multiplies pipeline. */
static void stripes(uint64_t v[4], const uint8_t *p, size_t nstripes)
{
    uint64_t a = v[0], b = v[1], c = v[2], d = v[3];
    for (size_t i = 0; i < nstripes; i++, p += 32) {
        a = round1(a, load64(p));
        b = round1(b, load64(p + 8));
        c = round1(c, load64(p + 16));
        d = round1(d, load64(p + 24));
    }
    v[0] = a, v[1] = b, v[2] = c, v[3] = d;
}

void hash_update(hash_state *h, const void *data, size_t n)
{
    const uint8_t *p = data;
    h->total += n;
    if (h->nbuf) {
        size_t take = 32 - h->nbuf;
        if (take > n)
            take = n;
        memcpy(h->buf + h->nbuf, p, take);
        h->nbuf += (unsigned)take;
        p += take;
        n -= take;
        if (h->nbuf < 32)
            return;
        stripes(h->v, h->buf, 1);
        h->nbuf = 0;
    }
    size_t ns = n / 32;
    stripes(h->v, p, ns);
    p += ns * 32;
    n -= ns * 32;
    memcpy(h->buf, p, n);
    h->nbuf = (unsigned)n;
}

uint64_t hash_final(const hash_state *h)
{
    uint64_t r;
    if (h->total >= 32) {
        r = rotl(h->v[0], 1) + rotl(h->v[1], 7) + rotl(h->v[2], 12) + rotl(h->v[3], 18);
        for (int i = 0; i < 4; i++)
            r = merge(r, h->v[i]);
    } else {
        r = h->seed + P5;
    }
    r += h->total;
    const uint8_t *p = h->buf;
    size_t n = h->nbuf;
    for (; n >= 8; n -= 8, p += 8)
        r = rotl(r ^ round1(0, load64(p)), 27) * P1 + P4;
    if (n >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        r = rotl(r ^ ((uint64_t)w * P1), 23) * P2 + P3;
        p += 4;
        n -= 4;
    }
    for (; n; n--, p++)
        r = rotl(r ^ (*p * P5), 11) * P1;
    /* avalanche: every input bit affects every output bit */
    r ^= r >> 33;
    r *= P2;
    r ^= r >> 29;
    r *= P3;
    r ^= r >> 32;
    return r;
}

uint64_t hash_bytes(const void *data, size_t n, uint64_t seed)
{
    hash_state h;
    hash_init(&h, seed);
    hash_update(&h, data, n);
    return hash_final(&h);
}

uint64_t hash_str(const char *s) { return hash_bytes(s, strlen(s), 0x5eed); }

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const hash_tensor_entry *)a)->name, ((const hash_tensor_entry *)b)->name);
}

uint64_t hash_model_entries(hash_tensor_entry *e, size_t n)
{
    qsort(e, n, sizeof *e, entry_cmp);
    hash_state h;
    hash_init(&h, 0xde17a);
    for (size_t i = 0; i < n; i++) {
        uint64_t hdr[3] = {(uint64_t)strlen(e[i].name), (uint64_t)e[i].dtype, (uint64_t)e[i].ndim};
        hash_update(&h, hdr, sizeof hdr);
        hash_update(&h, e[i].name, strlen(e[i].name));
        hash_update(&h, e[i].shape, sizeof(int64_t) * (size_t)e[i].ndim);
        hash_update(&h, &e[i].content, sizeof e[i].content);
    }
    return hash_final(&h);
}

db_status hash_st_model(const st_model *m, uint64_t *out)
{
    size_t n = st_model_count(m);
    hash_tensor_entry *e = db_calloc(n ? n : 1, sizeof *e);
    if (!e)
        return db_error(DB_ERR_NOMEM, "hash: out of memory");
    for (size_t i = 0; i < n; i++) {
        const st_tensor_info *ti = st_model_get(m, i);
        e[i].name = ti->name;
        e[i].dtype = (int)ti->dtype;
        e[i].ndim = ti->ndim;
        for (int d = 0; d < ti->ndim && d < 8; d++)
            e[i].shape[d] = ti->shape[d];
        e[i].content = hash_bytes(ti->data, ti->nbytes, 0);
        /* drop the pages from this process (they stay in the page cache) so hashing a 13 GB
         * checkpoint does not grow the resident set by 13 GB */
        uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)ti->data & ~(ps - 1);
        uintptr_t b = ((uintptr_t)ti->data + ti->nbytes) & ~(ps - 1);
        if (b > a)
            madvise((void *)a, b - a, MADV_DONTNEED);
    }
    *out = hash_model_entries(e, n);
    db_free(e);
    return DB_OK;
}

void hash_hex(uint64_t h, char buf[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--, h >>= 4)
        buf[i] = hex[h & 15];
    buf[16] = '\0';
}

db_status hash_parse_hex(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return DB_ERR_FORMAT;
        v = v << 4 | (uint64_t)d;
    }
    if (s[16])
        return DB_ERR_FORMAT;
    *out = v;
    return DB_OK;
}
