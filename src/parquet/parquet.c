/* parquet.c: the small shared helpers of parquet.h: column spec defaults and the names
 * of codecs, encodings and physical types. */
#include "parquet.h"

#include <string.h>
#include <strings.h>

void pq_column_spec_init(pq_column_spec *spec, const char *name, pq_physical physical,
                         pq_logical logical)
{
    memset(spec, 0, sizeof *spec);
    spec->name = name;
    spec->physical = physical;
    spec->logical = logical;
    spec->time_unit = PQ_UNIT_MICROS;
    spec->encoding = PQ_ENC_DEFAULT;
    spec->is_signed = true;
    spec->ts_utc = true;
    switch (logical) {
    case PQ_LT_UUID:
        spec->type_length = 16;
        break;
    case PQ_LT_INT:
        spec->bit_width = physical == PQ_INT64 ? 64 : 32;
        break;
    default:
        break;
    }
}

static const char *const codec_names[] = {"uncompressed", "snappy", "gzip", "lzo",
                                          "brotli",       "lz4",    "zstd", "lz4_raw"};

int pq_codec_parse(const char *name)
{
    if (!name)
        return -1;
    if (!strcasecmp(name, "uncompressed") || !strcasecmp(name, "none"))
        return PQ_CODEC_UNCOMPRESSED;
    if (!strcasecmp(name, "snappy"))
        return PQ_CODEC_SNAPPY;
    if (!strcasecmp(name, "gzip"))
        return PQ_CODEC_GZIP;
    if (!strcasecmp(name, "zstd"))
        return PQ_CODEC_ZSTD;
    if (!strcasecmp(name, "lz4_raw"))
        return PQ_CODEC_LZ4_RAW;
    return -1;
}

const char *pq_codec_name(int codec)
{
    if (codec < 0 || codec >= (int)(sizeof codec_names / sizeof codec_names[0]))
        return "unknown";
    return codec_names[codec];
}

const char *pq_encoding_name(int encoding)
{
    switch (encoding) {
    case PQ_ENC_PLAIN: return "PLAIN";
    case 1: return "GROUP_VAR_INT";
    case PQ_ENC_PLAIN_DICTIONARY: return "PLAIN_DICTIONARY";
    case PQ_ENC_RLE: return "RLE";
    case PQ_ENC_BIT_PACKED: return "BIT_PACKED";
    case PQ_ENC_DELTA_BINARY_PACKED: return "DELTA_BINARY_PACKED";
    case PQ_ENC_DELTA_LENGTH_BYTE_ARRAY: return "DELTA_LENGTH_BYTE_ARRAY";
    case PQ_ENC_DELTA_BYTE_ARRAY: return "DELTA_BYTE_ARRAY";
    case PQ_ENC_RLE_DICTIONARY: return "RLE_DICTIONARY";
    case PQ_ENC_BYTE_STREAM_SPLIT: return "BYTE_STREAM_SPLIT";
    case PQ_ENC_DEFAULT: return "DEFAULT";
    default: return "unknown";
    }
}

const char *pq_physical_name(int physical)
{
    switch (physical) {
    case PQ_BOOLEAN: return "BOOLEAN";
    case PQ_INT32: return "INT32";
    case PQ_INT64: return "INT64";
    case PQ_INT96: return "INT96";
    case PQ_FLOAT: return "FLOAT";
    case PQ_DOUBLE: return "DOUBLE";
    case PQ_BYTE_ARRAY: return "BYTE_ARRAY";
    case PQ_FIXED_LEN_BYTE_ARRAY: return "FIXED_LEN_BYTE_ARRAY";
    default: return "unknown";
    }
}

int pq_cmp_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int r = n ? memcmp(a, b, n) : 0;
    if (r)
        return r;
    return alen < blen ? -1 : alen > blen;
}

int pq_cmp_signed_be(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    bool an = alen && (a[0] & 0x80), bn = blen && (b[0] & 0x80);
    size_t len = alen > blen ? alen : blen;
    if (an != bn)
        return an ? -1 : 1;
    /* the same sign: sign-extended to a common length, then compared unsigned */
    for (size_t i = 0; i < len; i++) {
        uint8_t x = i < len - alen ? (an ? 0xff : 0) : a[i - (len - alen)];
        uint8_t y = i < len - blen ? (bn ? 0xff : 0) : b[i - (len - blen)];
        if (x != y)
            return x < y ? -1 : 1;
    }
    return 0;
}
