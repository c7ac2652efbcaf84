/* encode.h: Parquet value and level encodings for the writer: the RLE / bit-packed
 * hybrid, bit-packed booleans, DELTA_BINARY_PACKED, DELTA_LENGTH_BYTE_ARRAY and
 * BYTE_STREAM_SPLIT. Every function appends to out and returns 0, TS_ERR_NOMEM or
 * TS_ERR_TOOBIG (the caller words the message). */
#ifndef TS_PQ_ENCODE_H
#define TS_PQ_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/err.h"

/* Bits needed for values 0..max (0 for max == 0). */
static inline int pq_bit_width(uint64_t max)
{
    return max ? 64 - __builtin_clzll(max) : 0;
}

/* Packs n values of bit_width bits (0..32), LSB first, as Parquet's bit-packed runs;
 * n must be a multiple of 8. */
int pq_enc_bitpack32(const uint32_t *v, size_t n, int bit_width, ts_buf *out) TS_MUSTCHECK;

/* The RLE / bit-packed hybrid (Encodings.md), without a length prefix: runs of 8 or
 * more equal values become RLE runs, the rest bit-packed groups of 8 (the last group
 * padded with zeros). bit_width 0..32; for bit_width 0 every value must be 0. */
int pq_enc_hybrid_u8(const uint8_t *v, size_t n, int bit_width, ts_buf *out) TS_MUSTCHECK;
int pq_enc_hybrid_u32(const uint32_t *v, size_t n, int bit_width, ts_buf *out) TS_MUSTCHECK;

/* The same bytes as the hybrid encoders give n copies of v (one RLE run from 8 on). */
int pq_enc_hybrid_repeat(uint32_t v, size_t n, int bit_width, ts_buf *out) TS_MUSTCHECK;

/* PLAIN booleans: n flags (0/1 bytes) as bits, LSB first, last byte zero padded. */
int pq_enc_bool_plain(const uint8_t *v, size_t n, ts_buf *out) TS_MUSTCHECK;

/* DELTA_BINARY_PACKED: blocks of 128 values in 4 miniblocks of 32. */
int pq_enc_delta_i32(const int32_t *v, size_t n, ts_buf *out) TS_MUSTCHECK;
int pq_enc_delta_i64(const int64_t *v, size_t n, ts_buf *out) TS_MUSTCHECK;

/* DELTA_LENGTH_BYTE_ARRAY from n PLAIN byte arrays (4-byte length, bytes) in plain. */
int pq_enc_delta_length(const uint8_t *plain, size_t plain_len, size_t n, ts_buf *out) TS_MUSTCHECK;

/* BYTE_STREAM_SPLIT of n values of width bytes each. */
int pq_enc_byte_stream_split(const uint8_t *v, size_t n, size_t width, ts_buf *out) TS_MUSTCHECK;

#endif
