/* copybin.h: a streaming decoder of PostgreSQL's binary COPY format (the
 * "PGCOPY\n\377\r\n\0" stream): bytes in, any split, one callback per row; and the
 * ring that hands such a stream from one thread to others. */
#ifndef TS_PG_COPYBIN_H
#define TS_PG_COPYBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
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

/* ---- the stream between threads ----
 * A bounded hand-off of a binary COPY stream: one producer fills blocks of about
 * PG_RING_BLOCK_BYTES, and each of up to PG_RING_CONSUMERS consumers is handed every
 * block in order (each parses the stream itself, so a block need not end at a row). A
 * block is filled again once every consumer is done with it, so the producer waits
 * while PG_RING_BLOCKS are in use: memory is flat whatever the stream's length. The
 * first failure anybody records stops everybody. */
#define PG_RING_BLOCKS 16
#define PG_RING_BLOCK_BYTES ((size_t)256 << 10)
#define PG_RING_CONSUMERS 2

typedef struct pg_copy_ring pg_copy_ring;

/* NULL on no memory. */
pg_copy_ring *pg_copy_ring_new(int consumers);
/* Call once every thread using the ring is joined. NULL is a no-op. */
void pg_copy_ring_free(pg_copy_ring *g);
/* Producer: the next block to fill (emptied; its storage kept), once every consumer is
 * done with it; NULL when the ring stopped. Fill it without a lock: nobody else looks
 * at it until it is published. */
ts_buf *pg_copy_ring_claim(pg_copy_ring *g);
/* Producer: hands the claimed block over (an empty one is not); last: the stream ends
 * with it. */
void pg_copy_ring_publish(pg_copy_ring *g, bool last);
/* Consumer k (0 .. consumers - 1): fn(ctx, block, len, err) on every block in turn.
 * Returns 0 after the last block, or the first failure's code (fn's own, recorded, or
 * another thread's) once the ring stopped. */
int pg_copy_ring_consume(pg_copy_ring *g, int k,
                         int (*fn)(void *ctx, const uint8_t *p, size_t n, ts_err *err), void *ctx);
/* Records e unless a failure is recorded already, and stops the ring: waiting producer
 * and consumers return. Returns the first failure's code. */
int pg_copy_ring_fail(pg_copy_ring *g, const ts_err *e);
/* Whether the ring stopped (a failure was recorded). */
bool pg_copy_ring_stopped(pg_copy_ring *g);
/* Copies the first failure into err (when there is one) and returns its code, or 0. */
int pg_copy_ring_error(pg_copy_ring *g, ts_err *err);

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
