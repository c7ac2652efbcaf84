/* pq_matrix_gen.c: writes the reader-compatibility matrix of issue 3: Parquet files over
 * every type x nullability x encoding x codec x layout, each beside an expected-values
 * JSON that tests/readers/ compare with what DuckDB, parquet-wasm and hyparquet read.
 * Usage: pq_matrix_gen OUTDIR */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "parquet/writer.h"

/* One logical column type of the matrix ("kind"). */
typedef enum {
    K_BOOL,
    K_I32,
    K_I64,
    K_FLOAT,
    K_DOUBLE,
    K_STRING,
    K_ENUM,
    K_JSON,
    K_BINARY,
    K_FLBA,
    K_UUID,
    K_DEC_FLBA,
    K_DATE,
    K_TS_UTC,
    K_TS_LOCAL,
    K_DEC32,
    K_DEC64,
    K_INT8,
    K_INT16,
    K_INT32,
    K_INT64,
    K_COUNT
} kind;

typedef struct kind_def {
    const char *name;
    pq_physical physical;
    pq_logical logical;
    int type_length, precision, scale, bit_width;
    bool ts_utc;
} kind_def;

static const kind_def kinds[K_COUNT] = {
    [K_BOOL] = {"bool", PQ_BOOLEAN, PQ_LT_NONE, 0, 0, 0, 0, false},
    [K_I32] = {"i32", PQ_INT32, PQ_LT_NONE, 0, 0, 0, 0, false},
    [K_I64] = {"i64", PQ_INT64, PQ_LT_NONE, 0, 0, 0, 0, false},
    [K_FLOAT] = {"float", PQ_FLOAT, PQ_LT_NONE, 0, 0, 0, 0, false},
    [K_DOUBLE] = {"double", PQ_DOUBLE, PQ_LT_NONE, 0, 0, 0, 0, false},
    [K_STRING] = {"string", PQ_BYTE_ARRAY, PQ_LT_STRING, 0, 0, 0, 0, false},
    [K_ENUM] = {"enum", PQ_BYTE_ARRAY, PQ_LT_ENUM, 0, 0, 0, 0, false},
    [K_JSON] = {"json", PQ_BYTE_ARRAY, PQ_LT_JSON, 0, 0, 0, 0, false},
    [K_BINARY] = {"binary", PQ_BYTE_ARRAY, PQ_LT_NONE, 0, 0, 0, 0, false},
    [K_FLBA] = {"flba", PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_NONE, 5, 0, 0, 0, false},
    [K_UUID] = {"uuid", PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_UUID, 16, 0, 0, 0, false},
    [K_DEC_FLBA] = {"dec_flba", PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_DECIMAL, 16, 38, 10, 0, false},
    [K_DATE] = {"date", PQ_INT32, PQ_LT_DATE, 0, 0, 0, 0, false},
    [K_TS_UTC] = {"ts_utc", PQ_INT64, PQ_LT_TIMESTAMP, 0, 0, 0, 0, true},
    [K_TS_LOCAL] = {"ts_local", PQ_INT64, PQ_LT_TIMESTAMP, 0, 0, 0, 0, false},
    [K_DEC32] = {"dec32", PQ_INT32, PQ_LT_DECIMAL, 0, 9, 2, 0, false},
    [K_DEC64] = {"dec64", PQ_INT64, PQ_LT_DECIMAL, 0, 18, 4, 0, false},
    [K_INT8] = {"int8", PQ_INT32, PQ_LT_INT, 0, 0, 0, 8, false},
    [K_INT16] = {"int16", PQ_INT32, PQ_LT_INT, 0, 0, 0, 16, false},
    [K_INT32] = {"int32", PQ_INT32, PQ_LT_INT, 0, 0, 0, 32, false},
    [K_INT64] = {"int64", PQ_INT64, PQ_LT_INT, 0, 0, 0, 64, false},
};

/* The encoding dimension. OVERFLOW is the default encoding with a dictionary limit so
 * small that every column chunk falls back to PLAIN; NODICT turns the dictionary off. */
typedef enum { V_DEFAULT, V_PLAIN, V_NODICT, V_OVERFLOW, V_DBP, V_DLBA, V_BSS, V_COUNT } variant;

static const char *const variant_names[V_COUNT] = {
    "default",
    "plain",
    "nodict",
    "overflow",
    "delta_binary_packed",
    "delta_length_byte_array",
    "byte_stream_split",
};

#define OVERFLOW_DICT_LIMIT 256

/* S_LIST is `optional group (LIST)` (NULL lists allowed), S_LIST_REQ `required group
 * (LIST)`; both with optional elements. */
typedef enum { S_REQUIRED, S_OPTIONAL, S_LIST, S_LIST_REQ, S_COUNT } shape;
static const char *const shape_names[S_COUNT] = {"req", "opt", "list", "list_req"};
static const char *const shape_reps[S_COUNT] = {"REQUIRED", "OPTIONAL", "LIST", "LIST_REQUIRED"};

/* The layout dimension: row counts, row groups, pages, CRC, all-null columns. */
typedef struct layout {
    const char *name;
    int64_t rows;
    int64_t row_group_rows; /* 0: the default */
    int64_t page_bytes;     /* 0: the default */
    bool page_crc;
    bool all_null; /* every OPTIONAL value and every list NULL */
    bool batch;    /* non-list INT32 / INT64 / DOUBLE columns through the batch API */
} layout;

static const layout layouts[] = {
    {"std", 200, 0, 0, false, false, false},    {"zero_rows", 0, 0, 0, false, false, false},
    {"one_row", 1, 0, 0, false, false, false},  {"row_groups", 300, 64, 0, false, false, false},
    {"pages", 300, 0, 64, false, false, false}, {"crc", 200, 0, 512, true, false, false},
    {"all_null", 40, 0, 0, false, true, false}, {"large", 2200, 1100, 1024, true, false, true},
};
#define N_LAYOUTS (sizeof(layouts) / sizeof(layouts[0]))

static const pq_codec codecs[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_SNAPPY, PQ_CODEC_GZIP,
                                  PQ_CODEC_ZSTD, PQ_CODEC_LZ4_RAW};
#define N_CODECS (sizeof(codecs) / sizeof(codecs[0]))

static bool variant_applies(variant v, kind k) {
    pq_physical p = kinds[k].physical;
    switch (v) {
    case V_DBP:
        return p == PQ_INT32 || p == PQ_INT64;
    case V_DLBA:
        return p == PQ_BYTE_ARRAY;
    case V_BSS:
        return p == PQ_FLOAT || p == PQ_DOUBLE || p == PQ_INT32 || p == PQ_INT64 ||
               p == PQ_FIXED_LEN_BYTE_ARRAY;
    default:
        return true;
    }
}

static pq_encoding variant_encoding(variant v) {
    switch (v) {
    case V_PLAIN:
    case V_NODICT:
        return v == V_PLAIN ? PQ_ENC_PLAIN : PQ_ENC_DEFAULT;
    case V_DBP:
        return PQ_ENC_DELTA_BINARY_PACKED;
    case V_DLBA:
        return PQ_ENC_DELTA_LENGTH_BYTE_ARRAY;
    case V_BSS:
        return PQ_ENC_BYTE_STREAM_SPLIT;
    default:
        return PQ_ENC_DEFAULT;
    }
}

/* ---- values: the first ones of a column walk the edge list, later ones are distinct */

static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Values 0..EDGE_SPAN-1 cycle through the edge list twice (so dictionaries repeat);
 * later ones are distinct, derived from a hash of the index. */
#define EDGE_SPAN(n) (2 * (int64_t)(n))
#define NELEM(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

static const int32_t edge_i32[] = {INT32_MIN, INT32_MAX, 0, -1, 1, INT32_MIN + 1, 42};
static const int64_t edge_i64[] = {INT64_MIN, INT64_MAX, 0, -1, 1, INT64_MIN + 1, 4294967296LL};
static const int32_t edge_int8[] = {-128, 127, 0, -1, 1};
static const int32_t edge_int16[] = {-32768, 32767, 0, -1, 1, 255};
/* 1970-01-01, 1969-12-31, 0001-01-01, 9999-12-31, 2000-02-29, 1900-03-01 */
static const int32_t edge_date[] = {0, -1, -719162, 2932896, 11016, -25508};
/* epoch, 1 us before it, 0001-01-01, 9999-12-31 23:59:59.999999, a recent instant,
 * 1900-01-01, a day and 1 us before the epoch */
static const int64_t edge_ts[] = {0,
                                  -1,
                                  -62135596800000000LL,
                                  253402300799999999LL,
                                  1700000000123456LL,
                                  -2208988800000000LL,
                                  -86400000001LL};
static const int32_t edge_dec32[] = {999999999, -999999999, 0, -1, 1, -12345678};
static const int64_t edge_dec64[] = {999999999999999999LL, -999999999999999999LL, 0, -1, 1,
                                     -123456789012345678LL};
static const char *const edge_string[] = {
    "",
    "a",
    "h\xc3\xa9llo w\xc3\xb6rld",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88",
    "\xf0\x9f\x98\x80 emoji \xf0\x9f\x8e\x89",
    "quote \" backslash \\ tab \t newline \n",
    "zzz",
    "\xc3\xbf",
    "\xef\xbf\xbf",
    "long: Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
    "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
    "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. \xc3\xa9\xc3\xa9",
};
static const char *const edge_enum[] = {"RED", "GREEN", "BLUE", "",
                                        ("\xc3\x9c"
                                         "BERGR\xc3\x96SSE")};
static const char *const edge_json[] = {
    "{}",
    "[]",
    "{\"a\":1,\"b\":[true,false,null]}",
    "\"\xc3\xbc\xf0\x9f\x98\x80\"",
    "123456789012345678901234567890",
    "-0.5e-10",
    "{\"k\":\"line\\nbreak\",\"n\":{\"deep\":[1,[2,[3]]]}}",
};
/* binary edges as hex: empty, NUL, 0xff, invalid UTF-8, a long run */
static const char *const edge_binary_hex[] = {
    "",
    "00",
    "ff",
    "0000",
    "80",
    "ff00ff",
    "7f",
    "c328",
    ("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
     "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"),
};
static const char *const edge_flba_hex[] = {"0000000000", "ffffffffff", "8000000000", "7fffffffff",
                                            "0000000001"};
static const char *const edge_uuid_hex[] = {
    "00000000000000000000000000000000", "ffffffffffffffffffffffffffffffff",
    "123e4567e89b12d3a456426614174000", "80000000000000000000000000000000",
    "7fffffffffffffffffffffffffffffff"};

static const float edge_float[] = {NAN,      INFINITY, -INFINITY, -0.0f, 0.0f,  FLT_MAX,
                                   -FLT_MAX, FLT_MIN,  1e-45f,    1.5f,  -2.25f};
static const double edge_double[] = {NAN,      INFINITY, -INFINITY, -0.0, 0.0,   DBL_MAX,
                                     -DBL_MAX, DBL_MIN,  5e-324,    0.1,  -1e300};

typedef __int128 i128;

static i128 dec38_max(void) {
    i128 v = 1;
    for (int i = 0; i < 38; i++)
        v *= 10;
    return v - 1;
}

static i128 edge_dec_flba(int i) {
    i128 m = dec38_max();
    switch (i) {
    case 0:
        return m;
    case 1:
        return -m;
    case 2:
        return 0;
    case 3:
        return -1;
    case 4:
        return 1;
    default: /* -1234567890123456789.0123456789012345678, 38 digits */
        return -((i128)1234567890123456789LL * 10000000000LL * 1000000000LL +
                 (i128)1234567890123456789LL);
    }
}
#define N_EDGE_DEC_FLBA 6

/* A column value in the writer's and the JSON's terms. */
typedef struct value {
    bool b;
    int32_t i32;
    int64_t i64;
    float f;
    double d;
    i128 big;
    unsigned char bytes[320];
    size_t len;
} value;

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    return (c | 0x20) - 'a' + 10;
}

static void from_hex(value *v, const char *hex) {
    v->len = strlen(hex) / 2;
    for (size_t i = 0; i < v->len; i++)
        v->bytes[i] = (unsigned char)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
}

static void from_str(value *v, const char *s) {
    v->len = strlen(s);
    memcpy(v->bytes, s, v->len);
}

static void put_be128(unsigned char *out, i128 x) {
    unsigned __int128 u = (unsigned __int128)x;
    for (int i = 15; i >= 0; i--) {
        out[i] = (unsigned char)(u & 0xff);
        u >>= 8;
    }
}

/* The n-th value of a column of kind k (n counts every value the column holds,
 * list elements included). */
static void make_value(kind k, int64_t n, value *v) {
    uint64_t h = mix((uint64_t)n * 31 + (uint64_t)k);
    memset(v, 0, offsetof(value, bytes));
    v->len = 0;
#define EDGE(arr) (n < EDGE_SPAN(NELEM(arr)))
#define PICK(arr) (arr[n % NELEM(arr)])
    switch (k) {
    case K_BOOL:
        v->b = (n % 3) != 1;
        break;
    case K_I32:
    case K_INT32:
        v->i32 = EDGE(edge_i32) ? PICK(edge_i32) : (int32_t)(uint32_t)h;
        break;
    case K_I64:
    case K_INT64:
        v->i64 = EDGE(edge_i64) ? PICK(edge_i64) : (int64_t)h;
        break;
    case K_INT8:
        v->i32 = EDGE(edge_int8) ? PICK(edge_int8) : (int32_t)(h % 256) - 128;
        break;
    case K_INT16:
        v->i32 = EDGE(edge_int16) ? PICK(edge_int16) : (int32_t)(h % 65536) - 32768;
        break;
    case K_DATE:
        v->i32 = EDGE(edge_date) ? PICK(edge_date) : (int32_t)(h % 3652059) - 719162;
        break;
    case K_TS_UTC:
    case K_TS_LOCAL:
        v->i64 = EDGE(edge_ts) ? PICK(edge_ts)
                               : (int64_t)(h % 315538070400000000ULL) - 62135596800000000LL;
        break;
    case K_DEC32:
        v->i32 = EDGE(edge_dec32) ? PICK(edge_dec32) : (int32_t)(h % 1999999999) - 999999999;
        break;
    case K_DEC64:
        v->i64 = EDGE(edge_dec64) ? PICK(edge_dec64)
                                  : (int64_t)(h % 1999999999999999999ULL) - 999999999999999999LL;
        break;
    case K_DEC_FLBA:
        if (n < 2 * N_EDGE_DEC_FLBA) {
            v->big = edge_dec_flba((int)(n % N_EDGE_DEC_FLBA));
        } else {
            unsigned __int128 u = ((unsigned __int128)h << 64) | mix(h);
            unsigned __int128 span = (unsigned __int128)dec38_max() * 2 + 1;
            /* in unsigned arithmetic: u % span can exceed INT128_MAX */
            unsigned __int128 r = u % span, max = (unsigned __int128)dec38_max();
            v->big = r >= max ? (i128)(r - max) : -(i128)(max - r);
        }
        put_be128(v->bytes, v->big);
        v->len = 16;
        break;
    case K_FLOAT:
        v->f = EDGE(edge_float) ? PICK(edge_float)
                                : (float)((int64_t)(h % 2000001) - 1000000) / 1024.0f;
        break;
    case K_DOUBLE:
        v->d = EDGE(edge_double) ? PICK(edge_double)
                                 : (double)((int64_t)(h >> 11) - (1LL << 52)) / 4096.0;
        break;
    case K_STRING:
        if (EDGE(edge_string))
            from_str(v, PICK(edge_string));
        else
            v->len = (size_t)snprintf((char *)v->bytes, sizeof(v->bytes),
                                      "s-%016" PRIx64 "-\xc3\xbc", h);
        break;
    case K_ENUM:
        if (EDGE(edge_enum))
            from_str(v, PICK(edge_enum));
        else
            v->len = (size_t)snprintf((char *)v->bytes, sizeof(v->bytes), "V%" PRIu64, h % 1000);
        break;
    case K_JSON:
        if (EDGE(edge_json))
            from_str(v, PICK(edge_json));
        else
            v->len = (size_t)snprintf((char *)v->bytes, sizeof(v->bytes),
                                      "{\"i\":%" PRId64 ",\"s\":\"\xc3\xbc\"}", n);
        break;
    case K_BINARY:
        if (EDGE(edge_binary_hex)) {
            from_hex(v, PICK(edge_binary_hex));
        } else {
            v->len = 1 + h % 12;
            for (size_t i = 0; i < v->len; i++)
                v->bytes[i] = (unsigned char)(mix(h + i) & 0xff);
        }
        break;
    case K_FLBA:
    case K_UUID:
        if (k == K_FLBA && EDGE(edge_flba_hex)) {
            from_hex(v, PICK(edge_flba_hex));
        } else if (k == K_UUID && EDGE(edge_uuid_hex)) {
            from_hex(v, PICK(edge_uuid_hex));
        } else {
            v->len = (size_t)kinds[k].type_length;
            for (size_t i = 0; i < v->len; i++)
                v->bytes[i] = (unsigned char)(mix(h + i) & 0xff);
        }
        break;
    case K_COUNT:
        break;
    }
#undef EDGE
#undef PICK
}

/* ---- JSON forms of values (see tests/readers/common.mjs for the reading side) */

static json_t *json_float(double d) {
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d > 0 ? "Infinity" : "-Infinity");
    if (d == 0 && signbit(d))
        return json_string("-0");
    return json_real(d);
}

static json_t *json_i64(int64_t x) {
    char s[32];
    snprintf(s, sizeof(s), "%" PRId64, x);
    return json_string(s);
}

static json_t *json_i128(i128 x) {
    char tmp[64], out[64];
    unsigned __int128 u = x < 0 ? (unsigned __int128)(-(x + 1)) + 1 : (unsigned __int128)x;
    int n = 0;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    int o = 0;
    if (x < 0)
        out[o++] = '-';
    while (n)
        out[o++] = tmp[--n];
    out[o] = 0;
    return json_string(out);
}

static json_t *json_hex(const unsigned char *p, size_t len) {
    char s[2 * sizeof(((value *)0)->bytes) + 1];
    for (size_t i = 0; i < len; i++)
        snprintf(s + 2 * i, 3, "%02x", p[i]);
    s[2 * len] = 0;
    return json_string(s);
}

static json_t *value_json(kind k, const value *v) {
    switch (k) {
    case K_BOOL:
        return json_boolean(v->b);
    case K_I32:
    case K_INT32:
    case K_INT8:
    case K_INT16:
    case K_DATE:
    case K_DEC32:
        return json_integer(v->i32);
    case K_I64:
    case K_INT64:
    case K_TS_UTC:
    case K_TS_LOCAL:
    case K_DEC64:
        return json_i64(v->i64);
    case K_DEC_FLBA:
        return json_i128(v->big);
    case K_FLOAT:
        return json_float((double)v->f);
    case K_DOUBLE:
        return json_float(v->d);
    case K_STRING:
    case K_ENUM:
    case K_JSON:
        return json_stringn((const char *)v->bytes, v->len);
    case K_BINARY:
    case K_FLBA:
    case K_UUID:
        return json_hex(v->bytes, v->len);
    case K_COUNT:
        break;
    }
    return json_null();
}

/* ---- writing */

typedef struct column {
    kind k;
    shape s;
    char name[48];
    int64_t next; /* index of the next value */
    json_t *values;
} column;

static int write_value(pq_writer *w, int col, kind k, const value *v) {
    switch (kinds[k].physical) {
    case PQ_BOOLEAN:
        return pq_write_bool(w, col, v->b);
    case PQ_INT32:
        return pq_write_i32(w, col, v->i32);
    case PQ_INT64:
        return pq_write_i64(w, col, v->i64);
    case PQ_FLOAT:
        return pq_write_float(w, col, v->f);
    case PQ_DOUBLE:
        return pq_write_double(w, col, v->d);
    default:
        return pq_write_bytes(w, col, v->bytes, v->len);
    }
}

/* List shape of row r: NULL (an empty list when the list is REQUIRED), [], [a],
 * [a, NULL, b], [NULL], [a, b, c, d]; starts at [a] so a one-row file holds a value. */
static int list_pattern(int64_t r) {
    return (int)((r + 2) % 6);
}

static int write_cell(pq_writer *w, int ci, column *c, int64_t r, const layout *lay) {
    value v;
    int rc = 0;
    if (c->s == S_REQUIRED || (c->s == S_OPTIONAL && !lay->all_null && r % 4 != 2)) {
        make_value(c->k, c->next++, &v);
        json_array_append_new(c->values, value_json(c->k, &v));
        return write_value(w, ci, c->k, &v);
    }
    if (c->s == S_OPTIONAL || (c->s == S_LIST && (lay->all_null || list_pattern(r) == 0))) {
        json_array_append_new(c->values, json_null());
        return pq_write_null(w, ci);
    }
    static const int elems[6][4] = {{0}, {0}, {1}, {1, 0, 1}, {0}, {1, 1, 1, 1}};
    static const int nelems[6] = {0, 0, 1, 3, 1, 4};
    int p = lay->all_null ? 1 : list_pattern(r); /* a required list is never NULL: [] */
    json_t *list = json_array();
    if ((rc = pq_write_list_begin(w, ci)) < 0)
        goto out;
    for (int e = 0; e < nelems[p]; e++) {
        if (elems[p][e]) {
            make_value(c->k, c->next++, &v);
            json_array_append_new(list, value_json(c->k, &v));
            rc = write_value(w, ci, c->k, &v);
        } else {
            json_array_append_new(list, json_null());
            rc = pq_write_null(w, ci);
        }
        if (rc < 0)
            goto out;
    }
    rc = pq_write_list_end(w, ci);
out:
    json_array_append_new(c->values, list);
    return rc;
}

/* Rows [r0, r0 + n) of a column through the batch API (non-list INT32 / INT64 / DOUBLE). */
static int write_batch(pq_writer *w, int ci, column *c, int64_t r0, int64_t n, const layout *lay) {
    int32_t i32[256];
    int64_t i64[256];
    double d[256];
    bool valid[256];
    value v;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = r0 + i;
        valid[i] = c->s == S_REQUIRED || (!lay->all_null && r % 4 != 2);
        if (!valid[i]) {
            json_array_append_new(c->values, json_null());
            continue;
        }
        make_value(c->k, c->next++, &v);
        i32[i] = v.i32;
        i64[i] = v.i64;
        d[i] = v.d;
        json_array_append_new(c->values, value_json(c->k, &v));
    }
    const bool *vp = c->s == S_REQUIRED ? NULL : valid;
    switch (kinds[c->k].physical) {
    case PQ_INT32:
        return pq_write_i32_batch(w, ci, i32, vp, (size_t)n);
    case PQ_INT64:
        return pq_write_i64_batch(w, ci, i64, vp, (size_t)n);
    default:
        return pq_write_double_batch(w, ci, d, vp, (size_t)n);
    }
}

static bool batchable(const column *c) {
    pq_physical p = kinds[c->k].physical;
    return (c->s == S_REQUIRED || c->s == S_OPTIONAL) &&
           (p == PQ_INT32 || p == PQ_INT64 || p == PQ_DOUBLE);
}

typedef struct file_sink {
    FILE *f;
    const char *path;
} file_sink;

static int sink_write(void *ctx, const void *data, size_t len, ts_err *err) {
    file_sink *s = ctx;
    if (len && fwrite(data, 1, len, s->f) != len)
        return ts_err_set(err, TS_ERR_IO, "could not write \"%s\": %s", s->path, strerror(errno));
    return 0;
}

static json_t *column_json(const column *c, variant var) {
    const kind_def *kd = &kinds[c->k];
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "kind", json_string(kd->name));
    json_object_set_new(o, "physical", json_string(pq_physical_name(kd->physical)));
    json_object_set_new(o, "repetition", json_string(shape_reps[c->s]));
    json_object_set_new(o, "encoding", json_string(variant_names[var]));
    if (kd->type_length)
        json_object_set_new(o, "type_length", json_integer(kd->type_length));
    if (kd->precision) {
        json_object_set_new(o, "precision", json_integer(kd->precision));
        json_object_set_new(o, "scale", json_integer(kd->scale));
    }
    if (kd->bit_width)
        json_object_set_new(o, "bit_width", json_integer(kd->bit_width));
    if (kd->logical == PQ_LT_TIMESTAMP)
        json_object_set_new(o, "utc", json_boolean(kd->ts_utc));
    json_object_set_new(o, "values", json_incref(c->values));
    return o;
}

/* Writes one file of the matrix and its JSON; adds an entry to index. A writer failure
 * is recorded in the entry (the readers' driver reports it) and is not fatal here. */
static int write_one(const char *dir, variant var, pq_codec codec, const layout *lay,
                     json_t *index) {
    char base[160], ppath[512], jpath[512];
    snprintf(base, sizeof(base), "%s__%s__%s", variant_names[var], pq_codec_name(codec), lay->name);
    for (char *p = base; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p | 0x20);
    snprintf(ppath, sizeof(ppath), "%s/%s.parquet", dir, base);
    snprintf(jpath, sizeof(jpath), "%s/%s.json", dir, base);

    column cols[K_COUNT * S_COUNT];
    pq_column_spec specs[K_COUNT * S_COUNT];
    int ncols = 0;
    for (int k = 0; k < K_COUNT; k++) {
        if (!variant_applies(var, (kind)k))
            continue;
        for (int s = 0; s < S_COUNT; s++) {
            column *c = &cols[ncols];
            pq_column_spec *sp = &specs[ncols];
            const kind_def *kd = &kinds[k];
            c->k = (kind)k;
            c->s = (shape)s;
            c->next = 0;
            c->values = json_array();
            snprintf(c->name, sizeof(c->name), "%s_%s", kd->name, shape_names[s]);
            pq_column_spec_init(sp, c->name, kd->physical, kd->logical);
            sp->type_length = kd->type_length;
            sp->precision = kd->precision;
            sp->scale = kd->scale;
            sp->bit_width = kd->bit_width;
            sp->is_signed = true;
            sp->ts_utc = kd->ts_utc;
            sp->time_unit = PQ_UNIT_MICROS;
            sp->nullable = s == S_OPTIONAL || s == S_LIST;
            sp->list = s == S_LIST || s == S_LIST_REQ;
            sp->encoding = variant_encoding(var);
            ncols++;
        }
    }

    pq_writer_options opt;
    pq_writer_options_default(&opt);
    opt.codec = codec;
    if (lay->row_group_rows)
        opt.row_group_rows = lay->row_group_rows;
    if (lay->page_bytes)
        opt.page_bytes = lay->page_bytes;
    opt.page_crc = lay->page_crc;
    if (var == V_NODICT)
        opt.dictionary = false;
    if (var == V_OVERFLOW)
        opt.dictionary_bytes_limit = OVERFLOW_DICT_LIMIT;

    ts_err err;
    ts_err_clear(&err);
    file_sink sink = {NULL, ppath};
    pq_writer *w = NULL;
    pq_write_result res = {0, 0, 0};
    int rc = 0;
    const char *step = "open";
    bool fatal = false; /* a harness failure, not the writer's */
    if (!(sink.f = fopen(ppath, "wb"))) {
        fprintf(stderr, "pq_matrix_gen: could not open \"%s\": %s\n", ppath, strerror(errno));
        rc = TS_ERR_IO;
        fatal = true;
        goto out;
    }
    step = "pq_writer_new";
    if (!(w = pq_writer_new(specs, ncols, &opt, sink_write, &sink, &err))) {
        rc = err.code ? err.code : TS_ERR_INTERNAL;
        goto out;
    }
    step = "pq_writer_add_kv";
    if ((rc = pq_writer_add_kv(w, "tsarchive.matrix", base)) < 0)
        goto out;
    const int64_t step_rows = lay->batch ? 100 : 1; /* divides row_group_rows */
    for (int64_t r0 = 0; r0 < lay->rows; r0 += step_rows) {
        int64_t n = lay->rows - r0 < step_rows ? lay->rows - r0 : step_rows;
        step = "write";
        for (int ci = 0; ci < ncols && rc == 0; ci++) {
            if (lay->batch && batchable(&cols[ci])) {
                rc = write_batch(w, ci, &cols[ci], r0, n, lay);
                continue;
            }
            for (int64_t r = r0; r < r0 + n && rc == 0; r++)
                rc = write_cell(w, ci, &cols[ci], r, lay);
        }
        if (rc < 0)
            goto out;
        step = "pq_writer_end_rows";
        if ((rc = pq_writer_end_rows(w)) < 0)
            goto out;
    }
    step = "pq_writer_close";
    rc = pq_writer_close(w, &res);
out:
    if (rc < 0 && w && pq_writer_error(w)->code)
        err = *pq_writer_error(w);
    pq_writer_free(w);
    if (sink.f && fclose(sink.f) != 0 && rc == 0) {
        fprintf(stderr, "pq_matrix_gen: could not close \"%s\": %s\n", ppath, strerror(errno));
        rc = TS_ERR_IO;
        fatal = true;
    }

    json_t *entry = json_object();
    json_object_set_new(entry, "name", json_string(base));
    json_object_set_new(entry, "file", json_sprintf("%s.parquet", base));
    json_object_set_new(entry, "expected", json_sprintf("%s.json", base));
    if (rc < 0) {
        json_object_set_new(entry, "write_error",
                            json_sprintf("%s failed: %s (%s)", step,
                                         err.msg[0] ? err.msg : "no message",
                                         ts_err_name(err.code ? err.code : rc)));
        fprintf(stderr, "pq_matrix_gen: %s: %s failed: %s\n", base, step, err.msg);
    }
    json_array_append_new(index, entry);

    json_t *doc = json_object();
    json_object_set_new(doc, "name", json_string(base));
    json_object_set_new(doc, "file", json_sprintf("%s.parquet", base));
    json_object_set_new(doc, "encoding", json_string(variant_names[var]));
    json_object_set_new(doc, "codec", json_string(pq_codec_name(codec)));
    json_object_set_new(doc, "layout", json_string(lay->name));
    json_object_set_new(doc, "rows", json_integer(lay->rows));
    json_object_set_new(doc, "row_group_rows",
                        lay->row_group_rows ? json_integer(lay->row_group_rows) : json_null());
    json_object_set_new(doc, "page_bytes",
                        lay->page_bytes ? json_integer(lay->page_bytes) : json_null());
    json_object_set_new(doc, "page_crc", json_boolean(lay->page_crc));
    json_object_set_new(doc, "dictionary_bytes_limit",
                        var == V_OVERFLOW ? json_integer(OVERFLOW_DICT_LIMIT) : json_null());
    json_object_set_new(doc, "batch_api", json_boolean(lay->batch));
    json_t *kv = json_object();
    json_object_set_new(kv, "tsarchive.matrix", json_string(base));
    json_object_set_new(doc, "kv", kv);
    if (rc == 0) {
        json_object_set_new(doc, "written_rows", json_integer(res.rows));
        json_object_set_new(doc, "written_row_groups", json_integer(res.row_groups));
        json_object_set_new(doc, "written_bytes", json_integer(res.bytes));
    }
    json_t *jcols = json_array();
    for (int ci = 0; ci < ncols; ci++) {
        json_array_append_new(jcols, column_json(&cols[ci], var));
        json_decref(cols[ci].values);
    }
    json_object_set_new(doc, "columns", jcols);
    int jrc = json_dump_file(doc, jpath, JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(doc);
    if (jrc != 0) {
        fprintf(stderr, "pq_matrix_gen: could not write \"%s\"\n", jpath);
        fatal = true;
    }
    return fatal ? -1 : 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: pq_matrix_gen OUTDIR\n");
        return 2;
    }
    const char *dir = argv[1];
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "pq_matrix_gen: could not create \"%s\": %s\n", dir, strerror(errno));
        return 1;
    }
    json_t *index = json_array();
    int rc = 0;
    /* Every encoding meets every codec in the standard layout, and every other layout
     * once per encoding with the codec rotating, so each pair of dimensions meets. */
    for (int v = 0; v < V_COUNT && rc == 0; v++)
        for (size_t c = 0; c < N_CODECS && rc == 0; c++)
            rc = write_one(dir, (variant)v, codecs[c], &layouts[0], index);
    for (size_t l = 1; l < N_LAYOUTS && rc == 0; l++)
        for (int v = 0; v < V_COUNT && rc == 0; v++)
            rc = write_one(dir, (variant)v, codecs[(l + (size_t)v) % N_CODECS], &layouts[l], index);

    char ipath[512];
    snprintf(ipath, sizeof(ipath), "%s/index.json", dir);
    size_t nfiles = json_array_size(index);
    json_t *doc = json_object();
    json_object_set_new(doc, "files", index);
    if (json_dump_file(doc, ipath, JSON_INDENT(1)) != 0) {
        fprintf(stderr, "pq_matrix_gen: could not write \"%s\"\n", ipath);
        rc = -1;
    }
    json_decref(doc);
    if (rc == 0)
        printf("pq_matrix_gen: wrote %zu files into %s\n", nfiles, dir);
    return rc == 0 ? 0 : 1;
}
