/* container.h: the container's writer and the lossless codecs (internal to compressors/).
 *
 * dc_out collects stored arrays in an unlinked scratch file and writes the final safetensors
 * file in one go at dc_out_finish (see container.c for why). */
#ifndef DB_COMPRESSORS_CONTAINER_H
#define DB_COMPRESSORS_CONTAINER_H

#include "compressors/compressor.h"

/* zstd level of the lossless stage: 9 trades a few % of size for ~5x the speed of 19. */
#define DC_ZSTD_LEVEL 9

/* Compresses n bytes with codec (zstd or zlib-wrapped DEFLATE); *out is owned by the caller. */
db_status dc_lossless_compress(dc_lossless codec, const void *src, size_t n, void **out,
                               size_t *outn);
/* Decompresses into exactly rawn bytes; DB_ERR_FORMAT (no message) on any mismatch. */
db_status dc_lossless_decompress(dc_lossless codec, const void *src, size_t n, void *dst,
                                 size_t rawn);

typedef struct dc_out dc_out;

db_status dc_out_open(const char *path, dc_out **out);
db_status dc_out_meta(dc_out *o, const char *key, const char *value);
/* Stores an array (through codec unless the result is not smaller); *stored = bytes stored. */
db_status dc_out_add(dc_out *o, const char *name, db_dtype dt, int ndim, const int64_t *shape,
                     const void *data, size_t nbytes, dc_lossless codec, size_t *stored);
/* Writes the final file (temporary name + rename) and frees o in all cases. */
db_status dc_out_finish(dc_out *o, size_t *file_bytes, size_t *header_bytes);
void dc_out_abort(dc_out *o); /* NULL is a no-op */

#endif
