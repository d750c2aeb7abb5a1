/* hash.h: a fast 64-bit content hash (not cryptographic) for tensors and whole checkpoints.
 *
 * A compressed delta records the hashes of the base and fine-tuned checkpoints it was made
 * from, so a server can refuse to add a delta to the wrong base. Hashing 13 GB must not cost
 * more than reading it, so the core is a 4-lane multiply-rotate mixer in the style of xxHash64
 * (written here from its published structure, not copied): 32 bytes per step, each lane
 * acc = rotl(acc + w * P2, 31) * P1, lanes merged and avalanched at the end. Little-endian
 * loads; the result is the same on every machine.
 *
 * A model hash covers every tensor's name, dtype, shape and bytes, in name order so sharding
 * and file order do not change it: H = hash over sorted names of (name, dtype, ndim, shape,
 * hash(bytes)). */
#ifndef DB_HASH_H
#define DB_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Streaming state; fill with hash_init, feed with hash_update, read with hash_final. */
typedef struct {
    uint64_t v[4];
    uint64_t total;
    uint8_t buf[32];
    unsigned nbuf;
    uint64_t seed;
} hash_state;

void hash_init(hash_state *h, uint64_t seed);
void hash_update(hash_state *h, const void *data, size_t n);
/* The hash of everything fed so far (the state stays usable). */
uint64_t hash_final(const hash_state *h);
/* One-shot hash of n bytes. */
uint64_t hash_bytes(const void *data, size_t n, uint64_t seed);
/* Hash of a NUL-terminated string (tensor ids for DARE/DeltaDQ positions). */
uint64_t hash_str(const char *s);

/* One tensor's entry of a model hash. */
typedef struct {
    const char *name; /* not owned */
    int dtype;        /* db_dtype */
    int ndim;
    int64_t shape[8];
    uint64_t content; /* hash_bytes(data, nbytes, 0) */
} hash_tensor_entry;

/* Model hash of n entries (sorted here by name, in place). */
uint64_t hash_model_entries(hash_tensor_entry *e, size_t n);

struct st_model;
/* Model hash of an open checkpoint (reads every byte once). */
db_status hash_st_model(const struct st_model *m, uint64_t *out);

/* Writes the 16 lowercase hex digits of h and a NUL into buf[17]. */
void hash_hex(uint64_t h, char buf[17]);
/* Parses 16 hex digits; DB_ERR_FORMAT (no message) otherwise. */
db_status hash_parse_hex(const char *s, uint64_t *out);

#endif
