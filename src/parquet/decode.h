/* decode.h: streaming decoders for Parquet's encodings (PLAIN, dictionary indices,
 * RLE / bit-packed hybrid, legacy BIT_PACKED levels, DELTA_BINARY_PACKED,
 * DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY, BYTE_STREAM_SPLIT). They read from a
 * buffer they do not own, one value at a time, and never read outside it. */
#ifndef TS_PQ_DECODE_H
#define TS_PQ_DECODE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../common/buf.h"
#include "reader.h"

/* Bits needed for values 0..max. */
int pq_bit_width(uint64_t max);

/* The RLE / bit-packed hybrid (Encodings.md), values of width bits (0..64). */
typedef struct pq_rle {
    const uint8_t *p, *end;
    int width;
    uint64_t rle_left, rle_value;
    uint64_t bp_left;  /* values left in the bit-packed run */
    const uint8_t *bp; /* its data */
    size_t bp_bytes;   /* bytes of it present */
    uint64_t bp_bit;   /* next value's bit offset */
} pq_rle;

void pq_rle_init(pq_rle *d, const uint8_t *p, size_t n, int width);
/* Next value: 0, or TS_ERR_FORMAT when the data ends or is corrupt. Inside an RLE run
 * inline (the common case of every level and many indices), else out of line. */
int pq_rle_next_slow(pq_rle *d, uint64_t *out, ts_err *err) TS_MUSTCHECK;
static inline TS_MUSTCHECK int pq_rle_next(pq_rle *d, uint64_t *out, ts_err *err)
{
    if (d->rle_left) {
        d->rle_left--;
        *out = d->rle_value;
        return 0;
    }
    return pq_rle_next_slow(d, out, err);
}

/* DELTA_BINARY_PACKED. */
typedef struct pq_delta {
    const uint8_t *p, *end;
    uint64_t per_mini, nmini, total, done;
    uint64_t last;
    uint64_t min_delta;
    const uint8_t *widths;
    uint64_t mini;        /* index of the current miniblock in its block */
    uint64_t in_mini;     /* values taken from it */
    const uint8_t *mdata; /* its data */
    size_t mbytes;        /* bytes of it present */
    int width;
    bool in_block;
} pq_delta;

/* Reads the header; the stream may hold at most max_values values. */
int pq_delta_init(pq_delta *d, const uint8_t *p, size_t n, uint64_t max_values,
                  ts_err *err) TS_MUSTCHECK;
int pq_delta_next(pq_delta *d, uint64_t *out, ts_err *err) TS_MUSTCHECK;
/* Skips the remaining values; *end = the first byte after the stream. */
int pq_delta_skip_all(pq_delta *d, const uint8_t **end, ts_err *err) TS_MUSTCHECK;

/* Definition / repetition levels of one page. */
typedef struct pq_levels {
    int kind; /* 0 absent (all 0), 1 RLE hybrid, 2 legacy BIT_PACKED */
    int max;
    pq_rle rle;
    const uint8_t *bp;
    size_t bp_bytes;
    uint64_t bp_bit;
    int width;
} pq_levels;

/* Levels with max level max: kind chosen by encoding (RLE / BIT_PACKED); max 0 means
 * absent. For data page v1 with RLE, the 4-byte length prefix is read here (v1 = true)
 * and *used = bytes taken; BIT_PACKED takes ceil(count * width / 8) bytes. */
int pq_levels_init(pq_levels *l, int encoding, int max, bool v1, const uint8_t *p, size_t n,
                   uint64_t count, size_t *used, ts_err *err) TS_MUSTCHECK;
int pq_levels_next_slow(pq_levels *l, int *out, ts_err *err) TS_MUSTCHECK;
/* The next level: absent levels and RLE runs inline. */
static inline TS_MUSTCHECK int pq_levels_next(pq_levels *l, int *out, ts_err *err)
{
    if (l->kind == 0) {
        *out = 0;
        return 0;
    }
    if (l->kind == 1 && l->rle.rle_left && l->rle.rle_value <= (uint64_t)l->max) {
        l->rle.rle_left--;
        *out = (int)l->rle.rle_value;
        return 0;
    }
    return pq_levels_next_slow(l, out, err);
}

/* A decoder of values of one page section. */
typedef struct pq_vdec {
    int encoding, physical, type_length;
    const uint8_t *p, *end;
    uint64_t bit; /* PLAIN BOOLEAN */
    pq_rle rle;   /* dictionary indices, RLE BOOLEAN */
    const pq_value *dict;
    uint32_t ndict;
    pq_delta delta;      /* values; lengths; suffix lengths */
    pq_delta prefix;     /* DELTA_BYTE_ARRAY prefix lengths */
    ts_buf prev;         /* DELTA_BYTE_ARRAY: the last value */
    const uint8_t *bss;  /* BYTE_STREAM_SPLIT: the streams */
    size_t bss_n, bss_i; /* values in each stream, next index */
    ts_buf bss_buf;      /* BYTE_STREAM_SPLIT FLBA: the gathered value */
} pq_vdec;

/* Sets up d for n bytes at p holding at most max_values values of the given physical
 * type in the given encoding. dict (ndict entries) serves the dictionary encodings.
 * TS_ERR_UNSUPPORTED for an encoding that does not apply to the type. */
int pq_vdec_init(pq_vdec *d, int encoding, int physical, int type_length, const uint8_t *p,
                 size_t n, uint64_t max_values, const pq_value *dict, uint32_t ndict,
                 size_t max_value_bytes, ts_err *err) TS_MUSTCHECK;
/* Next value into *out (out->is_null = false). Byte values point into the input, the
 * dictionary, or (DELTA_BYTE_ARRAY, BYTE_STREAM_SPLIT of FLBA) into d itself, valid
 * until the next call. */
int pq_vdec_next_slow(pq_vdec *d, pq_value *out, ts_err *err) TS_MUSTCHECK;
/* PLAIN 4- and 8-byte values and byte arrays inline on little-endian hosts. */
static inline TS_MUSTCHECK int pq_vdec_next(pq_vdec *d, pq_value *out, ts_err *err)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (d->encoding == PQ_ENC_PLAIN) {
        size_t left = (size_t)(d->end - d->p);
        uint32_t len;
        out->is_null = false;
        switch (d->physical) {
        case PQ_INT32:
        case PQ_FLOAT:
            if (left < 4)
                break;
            memcpy(&out->v.i32, d->p, 4);
            d->p += 4;
            return 0;
        case PQ_INT64:
        case PQ_DOUBLE:
            if (left < 8)
                break;
            memcpy(&out->v.i64, d->p, 8);
            d->p += 8;
            return 0;
        case PQ_BYTE_ARRAY:
            if (left < 4)
                break;
            memcpy(&len, d->p, 4);
            if (len > left - 4)
                break;
            out->v.bin.ptr = d->p + 4;
            out->v.bin.len = len;
            d->p += 4 + (size_t)len;
            return 0;
        default:
            break;
        }
    }
#endif
    return pq_vdec_next_slow(d, out, err);
}
void pq_vdec_free(pq_vdec *d);

/* Width in bytes of a fixed-size physical type (INT96 12, FLBA type_length), 0 for
 * BYTE_ARRAY, and for BOOLEAN. */
int pq_fixed_width(int physical, int type_length);

#endif
