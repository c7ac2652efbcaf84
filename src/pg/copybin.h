/* copybin.h: a streaming decoder of PostgreSQL's binary COPY format (the
 * "PGCOPY\n\377\r\n\0" stream): bytes in, any split, one callback per row. */
#ifndef TS_PG_COPYBIN_H
#define TS_PG_COPYBIN_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct pg_copy_field {
    const uint8_t *data; /* valid until the next pg_copy_decoder_feed() (rows complete in
                            its input point into that input) */
    int32_t len;         /* -1 = NULL */
} pg_copy_field;

/* Called once per row with nfields fields. A non-zero return stops decoding and is
 * returned by pg_copy_decoder_feed. */
typedef int (*pg_copy_row_fn)(void *ctx, const pg_copy_field *fields, int nfields, ts_err *err);

typedef struct pg_copy_decoder pg_copy_decoder;

/* nfields: the number of fields every row must have (a row with another count is
 * TS_ERR_FORMAT). max_row_bytes caps the bytes buffered for one row split across
 * inputs (0 = 1 GiB + 64 KiB, PostgreSQL's own limit). NULL on no memory. */
pg_copy_decoder *pg_copy_decoder_new(int nfields, size_t max_row_bytes, pg_copy_row_fn fn,
                                     void *ctx);
void pg_copy_decoder_free(pg_copy_decoder *d);

/* Decodes len more bytes of the stream. Rows complete in data are decoded in place;
 * a partial row is kept until the rest arrives. Returns 0 or a negative TS_ERR_*
 * (TS_ERR_FORMAT for a malformed stream, or the callback's code). */
int pg_copy_decoder_feed(pg_copy_decoder *d, const void *data, size_t len,
                         ts_err *err) TS_MUSTCHECK;

/* Checks that the stream ended with its trailer and nothing is left over. */
int pg_copy_decoder_finish(pg_copy_decoder *d, ts_err *err) TS_MUSTCHECK;

/* Rows decoded so far, and bytes consumed. */
int64_t pg_copy_decoder_rows(const pg_copy_decoder *d);
int64_t pg_copy_decoder_bytes(const pg_copy_decoder *d);

/* Big-endian readers shared by the value decoders. */
static inline uint16_t pg_be16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}
static inline uint32_t pg_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t pg_be64(const uint8_t *p)
{
    return (uint64_t)pg_be32(p) << 32 | pg_be32(p + 4);
}
static inline void pg_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void pg_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void pg_put_be64(uint8_t *p, uint64_t v)
{
    pg_put_be32(p, (uint32_t)(v >> 32));
    pg_put_be32(p + 4, (uint32_t)v);
}

/* The 11-byte signature that starts every binary COPY stream. */
extern const uint8_t pg_copy_signature[11];

#endif
