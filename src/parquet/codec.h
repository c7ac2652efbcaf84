/* codec.h: page compression for Parquet (UNCOMPRESSED, SNAPPY, GZIP, ZSTD, LZ4_RAW;
 * legacy LZ4 read only). Decompression treats its input as hostile. */
#ifndef TS_PQ_CODEC_H
#define TS_PQ_CODEC_H

#include <stddef.h>

#include "../common/buf.h"
#include "../common/err.h"
#include "parquet.h"

/* Compresses n bytes of src with codec and appends the result to out. level is the
 * ZSTD / GZIP level (0 = the codec's default; ignored by the others). Returns 0 or a
 * negative TS_ERR_* with err filled. */
int pq_compress(pq_codec codec, int level, const void *src, size_t n, ts_buf *out,
                ts_err *err) TS_MUSTCHECK;

/* Decompresses n bytes of src into dst, which must come out exactly dst_len bytes long
 * (the page header's uncompressed size); anything else, or corrupt input, is
 * TS_ERR_FORMAT. Never writes past dst + dst_len. GZIP accepts concatenated members. */
int pq_decompress(pq_codec codec, const void *src, size_t n, void *dst, size_t dst_len,
                  ts_err *err) TS_MUSTCHECK;

/* The most bytes pq_compress may append for n input bytes (0 for an unknown codec). */
size_t pq_compress_bound(pq_codec codec, size_t n);

/* A reusable compressor (keeps the ZSTD / zlib state between pages, which pq_compress
 * re-creates every call). */
typedef struct pq_compressor pq_compressor;

/* NULL with err filled on no memory or an unsupported codec. */
pq_compressor *pq_compressor_new(pq_codec codec, int level, ts_err *err);
/* Like pq_compress with the compressor's codec and level. */
int pq_compressor_run(pq_compressor *c, const void *src, size_t n, ts_buf *out,
                      ts_err *err) TS_MUSTCHECK;
/* The same into dst (cap bytes, at least pq_compress_bound(n)): *len = bytes written.
 * TS_ERR_TOOBIG when cap does not suffice. */
int pq_compressor_run_into(pq_compressor *c, const void *src, size_t n, uint8_t *dst, size_t cap,
                           size_t *len, ts_err *err) TS_MUSTCHECK;
/* NULL is a no-op. */
void pq_compressor_free(pq_compressor *c);

#endif
