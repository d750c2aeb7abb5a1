/* safetensors.h: the safetensors format (Hugging Face), read by mmap with zero copy and written
 * streaming, plus sharded checkpoints (model.safetensors.index.json).
 *
 * File layout: u64 little-endian N, N bytes of UTF-8 JSON header (padded with spaces so the data
 * area starts 8-byte aligned), then the data area. The header maps each tensor name to
 * {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the data area) and may
 * hold "__metadata__": {string: string}.
 *
 * The reader validates everything before handing out a pointer and rejects, with a one-line
 * message naming the file and the problem: a file shorter than 8 bytes, a header length beyond
 * the file, invalid JSON, unknown dtype, a shape whose byte size differs from its range, ranges
 * outside the data area, overlapping or leaving gaps (or unused bytes at the end), and duplicate
 * names; like the reference library also a header that is not UTF-8 or is above 100 MB. */
#ifndef DB_SAFETENSORS_H
#define DB_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "core/tensor.h"

/* ---- reading ------------------------------------------------------------------------------- */

/* Parses n bytes of JSON with cJSON's allocations routed through core/alloc.h (so fault
 * injection reaches them), for every JSON file of the project; free with cJSON_Delete. NULL on
 * failure, *oom then telling memory exhaustion from a syntax error. */
struct cJSON *st_json_parse(const char *text, size_t n, bool *oom);

typedef struct {
    const char *name;
    db_dtype dtype;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    const void *data; /* points into the mapping; valid until st_close */
    size_t nbytes;
    size_t offset;    /* begin offset within the data area */
} st_tensor_info;

typedef struct st_file st_file; /* opaque: an open, validated, memory-mapped file */

/* Maps and validates path; *out is NULL on failure. The file must not be truncated while open
 * (reads of the mapping would fault). */
db_status st_open(const char *path, st_file **out);
void st_close(st_file *f); /* NULL is a no-op */

const char *st_path(const st_file *f);
size_t st_count(const st_file *f);
/* Tensors in file order (ascending offset). NULL when i >= st_count(f). */
const st_tensor_info *st_get(const st_file *f, size_t i);
/* NULL when absent. */
const st_tensor_info *st_find(const st_file *f, const char *name);
/* A zero-copy tensor view (owner = false) of a tensor of the file; read-only memory. */
db_status st_view(const st_tensor_info *ti, db_tensor *out);

size_t st_meta_count(const st_file *f);
const char *st_meta_key(const st_file *f, size_t i);
const char *st_meta_value(const st_file *f, size_t i);
const char *st_meta_get(const st_file *f, const char *key); /* NULL when absent */
size_t st_header_bytes(const st_file *f); /* N, the JSON header length */
size_t st_file_bytes(const st_file *f);

/* ---- writing (streaming) ------------------------------------------------------------------- */
/* Usage: st_writer_open; st_writer_meta* and st_writer_declare* in any order; st_writer_begin
 * (writes the header); then, while (name = st_writer_next(w)) st_writer_write(w, bytes, n) one or
 * more times until that tensor's bytes are complete; st_writer_finish (fsync + rename from the
 * temporary name). Any error, or st_writer_abort, removes the temporary file. The writer stores
 * tensors in descending dtype size (stable), so every tensor is aligned to its element size, as
 * the reference implementation does; st_writer_next says which tensor is due (zero-size tensors
 * are never due). Every error (DB_ERR_ARG for misuse: declaring after begin, a duplicate name or
 * metadata key, a bad dtype or shape, writing past a tensor's end, finishing with bytes missing)
 * removes the temporary file at once and makes later calls fail with the same status; the caller
 * still frees w with st_writer_abort or st_writer_finish. Duplicates are found by begin. */

typedef struct st_writer st_writer;

db_status st_writer_open(const char *path, st_writer **out);
db_status st_writer_meta(st_writer *w, const char *key, const char *value);
db_status st_writer_declare(st_writer *w, const char *name, db_dtype dt, int ndim,
                            const int64_t *shape);
db_status st_writer_begin(st_writer *w);
/* Name of the tensor whose bytes are due next, or NULL when all are written. */
const char *st_writer_next(const st_writer *w);
/* Appends n bytes to the due tensor; n must not exceed what that tensor still needs. */
db_status st_writer_write(st_writer *w, const void *data, size_t n);
db_status st_writer_finish(st_writer *w); /* begins if not yet begun; frees w in all cases */
void st_writer_abort(st_writer *w);       /* frees w; NULL is a no-op */

/* Convenience: writes n contiguous tensors and nmeta metadata pairs in one call. */
db_status st_save(const char *path, size_t n, const char *const *names, const db_tensor *tensors,
                  size_t nmeta, const char *const *keys, const char *const *values);

/* ---- checkpoints: one file, a directory, or a sharded index -------------------------------- */

typedef struct st_model st_model; /* opaque: one or more open st_files seen as one name space */

/* path may be a .safetensors file, a model.safetensors.index.json, or a directory holding either
 * (the index wins). Every tensor named in an index must exist in the shard it names; a name in
 * two shards is an error. */
db_status st_model_open(const char *path, st_model **out);
void st_model_close(st_model *m);
size_t st_model_count(const st_model *m);
const st_tensor_info *st_model_get(const st_model *m, size_t i); /* shard order, then file order */
const st_tensor_info *st_model_find(const st_model *m, const char *name);
size_t st_model_shards(const st_model *m);
const st_file *st_model_shard(const st_model *m, size_t i);

#endif
