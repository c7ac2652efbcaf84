/* parquet.h: the types shared by tsarchive's Parquet writer and reader. Values are the
 * ones parquet.thrift gives them, so they go on the wire unchanged. src/parquet/ knows
 * nothing of PostgreSQL, Redis or Azure; it uses libc, zstd, snappy, zlib, lz4 and the
 * libc-only part of common/ (alloc.h, err.h, buf.h). */
#ifndef TS_PARQUET_H
#define TS_PARQUET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

typedef enum {
    PQ_BOOLEAN = 0,
    PQ_INT32 = 1,
    PQ_INT64 = 2,
    PQ_INT96 = 3, /* read only (legacy timestamps) */
    PQ_FLOAT = 4,
    PQ_DOUBLE = 5,
    PQ_BYTE_ARRAY = 6,
    PQ_FIXED_LEN_BYTE_ARRAY = 7,
} pq_physical;

typedef enum {
    PQ_LT_NONE = 0,
    PQ_LT_STRING,
    PQ_LT_ENUM,
    PQ_LT_JSON,
    PQ_LT_UUID,
    PQ_LT_DATE,
    PQ_LT_TIMESTAMP, /* unit: pq_column_spec.time_unit; UTC: ts_utc */
    PQ_LT_DECIMAL,   /* precision, scale */
    PQ_LT_INT,       /* bit_width, is_signed */
    PQ_LT_BSON,      /* read only */
    PQ_LT_TIME,      /* read only */
} pq_logical;

typedef enum { PQ_UNIT_MILLIS = 0, PQ_UNIT_MICROS = 1, PQ_UNIT_NANOS = 2 } pq_time_unit;

typedef enum {
    PQ_CODEC_UNCOMPRESSED = 0,
    PQ_CODEC_SNAPPY = 1,
    PQ_CODEC_GZIP = 2,
    PQ_CODEC_LZO = 3,    /* not supported */
    PQ_CODEC_BROTLI = 4, /* not supported */
    PQ_CODEC_LZ4 = 5,    /* legacy Hadoop framing; read only, best effort */
    PQ_CODEC_ZSTD = 6,
    PQ_CODEC_LZ4_RAW = 7,
} pq_codec;

typedef enum {
    PQ_ENC_PLAIN = 0,
    PQ_ENC_PLAIN_DICTIONARY = 2,
    PQ_ENC_RLE = 3,
    PQ_ENC_BIT_PACKED = 4,
    PQ_ENC_DELTA_BINARY_PACKED = 5,
    PQ_ENC_DELTA_LENGTH_BYTE_ARRAY = 6,
    PQ_ENC_DELTA_BYTE_ARRAY = 7,
    PQ_ENC_RLE_DICTIONARY = 8,
    PQ_ENC_BYTE_STREAM_SPLIT = 9,
    PQ_ENC_DEFAULT = -1, /* writer: dictionary, falling back to PLAIN past the limit */
} pq_encoding;

/* One column of a flat schema. A column is a primitive leaf, or (list = true) a LIST
 * of that primitive, written with the standard 3-level structure
 * `optional group name (LIST) { repeated group list { optional <type> element; } }`;
 * list elements are always nullable. */
typedef struct pq_column_spec {
    const char *name;
    pq_physical physical;
    pq_logical logical;
    int type_length;        /* FIXED_LEN_BYTE_ARRAY width */
    int precision, scale;   /* DECIMAL */
    int bit_width;          /* INT: 8, 16, 32, 64 */
    bool is_signed;         /* INT */
    bool ts_utc;            /* TIMESTAMP: isAdjustedToUTC */
    pq_time_unit time_unit; /* TIMESTAMP / TIME; the writer uses MICROS */
    bool nullable;          /* OPTIONAL (definition levels) instead of REQUIRED */
    bool list;              /* LIST of this primitive */
    pq_encoding encoding;   /* PQ_ENC_DEFAULT, PLAIN, DELTA_BINARY_PACKED (INT32/INT64),
                               DELTA_LENGTH_BYTE_ARRAY (BYTE_ARRAY), BYTE_STREAM_SPLIT
                               (FLOAT/DOUBLE, also INT32/INT64/FLBA) */
} pq_column_spec;

/* Fills spec with a REQUIRED, PLAIN-or-dictionary column of the given name and type. */
void pq_column_spec_init(pq_column_spec *spec, const char *name, pq_physical physical,
                         pq_logical logical);

/* Orders two statistics values: bytes unsigned and lexicographically (strings, binary),
 * or big-endian two's complement integers of any lengths by value (DECIMAL as
 * BYTE_ARRAY / FIXED_LEN_BYTE_ARRAY). Negative, zero or positive, as memcmp. */
int pq_cmp_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
int pq_cmp_signed_be(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* Parses "uncompressed", "snappy", "gzip", "zstd", "lz4_raw" (case-insensitive);
 * -1 when unknown. */
int pq_codec_parse(const char *name);
const char *pq_codec_name(int codec);
const char *pq_encoding_name(int encoding);
const char *pq_physical_name(int physical);

#endif
