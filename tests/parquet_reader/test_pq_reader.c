/* test_pq_reader.c: unit tests of the Parquet reader: byte-exact decoder vectors
 * (RLE / bit-packed hybrid, DELTA_BINARY_PACKED, DELTA_BYTE_ARRAY, BIT_PACKED levels),
 * the Thrift decoder's limits, hand-built files (2-level lists, data page v2, nested
 * schemas), and corrupt files: every truncation and many byte flips must give a clear
 * error, never a crash (run under ASan with -DTS_SANITIZE=ON). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "parquet/codec.h"
#include "parquet/decode.h"
#include "parquet/reader.h"
#include "parquet/thrift_dec.h"
#include "parquet/writer.h"

#define CHECK(x) assert_int_equal((x), 0)

/* ---- a small Thrift compact writer for building test files ---- */

typedef struct tw {
    ts_buf b;
    int16_t last[32];
    int sp;
} tw;

static void tw_byte(tw *w, uint8_t c)
{
    CHECK(ts_buf_putc(&w->b, c));
}

static void tw_varint(tw *w, uint64_t v)
{
    while (v >= 0x80) {
        tw_byte(w, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    tw_byte(w, (uint8_t)v);
}

static uint64_t zz(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static void tw_field(tw *w, int type, int id)
{
    int d = id - w->last[w->sp];
    if (d > 0 && d <= 15) {
        tw_byte(w, (uint8_t)(d << 4 | type));
    } else {
        tw_byte(w, (uint8_t)type);
        tw_varint(w, zz(id));
    }
    w->last[w->sp] = (int16_t)id;
}

static void tw_begin(tw *w)
{
    w->last[++w->sp] = 0;
}

static void tw_end(tw *w)
{
    tw_byte(w, 0);
    w->sp--;
}

static void tw_i32(tw *w, int id, int64_t v)
{
    tw_field(w, PQ_CT_I32, id);
    tw_varint(w, zz(v));
}

static void tw_i64(tw *w, int id, int64_t v)
{
    tw_field(w, PQ_CT_I64, id);
    tw_varint(w, zz(v));
}

static void tw_str(tw *w, int id, const char *s)
{
    tw_field(w, PQ_CT_BINARY, id);
    tw_varint(w, strlen(s));
    CHECK(ts_buf_append(&w->b, s, strlen(s)));
}

static void tw_bool(tw *w, int id, bool v)
{
    tw_field(w, v ? PQ_CT_TRUE : PQ_CT_FALSE, id);
}

static void tw_list(tw *w, int id, int etype, int n)
{
    tw_field(w, PQ_CT_LIST, id);
    if (n < 15) {
        tw_byte(w, (uint8_t)(n << 4 | etype));
    } else {
        tw_byte(w, (uint8_t)(0xf0 | etype));
        tw_varint(w, (uint64_t)n);
    }
}

static void tw_struct(tw *w, int id)
{
    tw_field(w, PQ_CT_STRUCT, id);
    tw_begin(w);
}

/* A schema element (inside the schema list). */
static void tw_elem(tw *w, const char *name, int type, int rep, int nchildren, int conv)
{
    tw_begin(w);
    if (type >= 0)
        tw_i32(w, 1, type);
    if (rep >= 0)
        tw_i32(w, 3, rep);
    tw_str(w, 4, name);
    if (nchildren > 0)
        tw_i32(w, 5, nchildren);
    if (conv >= 0)
        tw_i32(w, 6, conv);
    tw_end(w);
}

typedef struct tpage {
    int type; /* 0 v1, 3 v2, 2 dictionary */
    int num_values, encoding, def_enc, rep_enc;
    int num_nulls, num_rows, def_len, rep_len;
    const uint8_t *data;
    size_t len;
    int64_t usize; /* uncompressed size the header claims; 0: len */
} tpage;

/* The codec build_file writes into the column chunk (UNCOMPRESSED unless a test sets it). */
static int build_codec;

typedef void (*schema_fn)(tw *w);

/* Builds a file of one column chunk (leaf physical type, dotted path) holding pages. */
static void build_file(ts_buf *out, schema_fn schema, int physical, const char *path,
                       const tpage *pages, int npages, int64_t rows, int64_t values)
{
    tw w;
    memset(&w, 0, sizeof w);
    ts_buf_init(out, 0);
    CHECK(ts_buf_append(out, "PAR1", 4));
    for (int i = 0; i < npages; i++) {
        const tpage *p = &pages[i];
        ts_buf_init(&w.b, 0);
        w.sp = 0;
        w.last[0] = 0;
        tw_i32(&w, 1, p->type);
        tw_i32(&w, 2, p->usize ? p->usize : (int64_t)p->len);
        tw_i32(&w, 3, (int64_t)p->len);
        if (p->type == 0) {
            tw_struct(&w, 5);
            tw_i32(&w, 1, p->num_values);
            tw_i32(&w, 2, p->encoding);
            tw_i32(&w, 3, p->def_enc);
            tw_i32(&w, 4, p->rep_enc);
            tw_end(&w);
        } else if (p->type == 2) {
            tw_struct(&w, 7);
            tw_i32(&w, 1, p->num_values);
            tw_i32(&w, 2, p->encoding);
            tw_end(&w);
        } else {
            tw_struct(&w, 8);
            tw_i32(&w, 1, p->num_values);
            tw_i32(&w, 2, p->num_nulls);
            tw_i32(&w, 3, p->num_rows);
            tw_i32(&w, 4, p->encoding);
            tw_i32(&w, 5, p->def_len);
            tw_i32(&w, 6, p->rep_len);
            tw_bool(&w, 7, false);
            tw_end(&w);
        }
        tw_byte(&w, 0);
        CHECK(ts_buf_append(out, w.b.data, w.b.len));
        CHECK(ts_buf_append(out, p->data, p->len));
        ts_buf_free(&w.b);
    }
    size_t chunk_len = out->len - 4;
    ts_buf_init(&w.b, 0);
    w.sp = 0;
    w.last[0] = 0;
    tw_i32(&w, 1, 1);
    schema(&w);
    tw_i64(&w, 3, rows);
    tw_list(&w, 4, PQ_CT_STRUCT, 1);
    tw_begin(&w); /* RowGroup */
    tw_list(&w, 1, PQ_CT_STRUCT, 1);
    tw_begin(&w); /* ColumnChunk */
    tw_i64(&w, 2, 0);
    tw_struct(&w, 3);
    tw_i32(&w, 1, physical);
    tw_list(&w, 2, PQ_CT_I32, 1);
    tw_varint(&w, zz(0));
    int parts = 1;
    for (const char *c = path; *c; c++)
        parts += *c == '.';
    tw_list(&w, 3, PQ_CT_BINARY, parts);
    for (const char *s = path;;) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        tw_varint(&w, n);
        CHECK(ts_buf_append(&w.b, s, n));
        if (!dot)
            break;
        s = dot + 1;
    }
    tw_i32(&w, 4, build_codec);
    tw_i64(&w, 5, values);
    tw_i64(&w, 6, (int64_t)chunk_len);
    tw_i64(&w, 7, (int64_t)chunk_len);
    tw_i64(&w, 9, 4);
    tw_end(&w); /* ColumnMetaData */
    tw_end(&w); /* ColumnChunk */
    tw_i64(&w, 2, (int64_t)chunk_len);
    tw_i64(&w, 3, rows);
    tw_end(&w); /* RowGroup */
    tw_str(&w, 6, "tsarchive test");
    tw_byte(&w, 0);
    CHECK(ts_buf_append(out, w.b.data, w.b.len));
    uint8_t len4[4] = {(uint8_t)w.b.len, (uint8_t)(w.b.len >> 8), (uint8_t)(w.b.len >> 16),
                       (uint8_t)(w.b.len >> 24)};
    CHECK(ts_buf_append(out, len4, 4));
    CHECK(ts_buf_append(out, "PAR1", 4));
    ts_buf_free(&w.b);
}

/* ---- decoder vectors ---- */

static void test_bit_width(void **state)
{
    (void)state;
    assert_int_equal(pq_bit_width(0), 0);
    assert_int_equal(pq_bit_width(1), 1);
    assert_int_equal(pq_bit_width(3), 2);
    assert_int_equal(pq_bit_width(4), 3);
    assert_int_equal(pq_bit_width(UINT64_MAX), 64);
}

static void test_rle_hybrid(void **state)
{
    /* Encodings.md: 0..7 bit-packed with width 3, then an RLE run of five 4s. */
    static const uint8_t data[] = {0x03, 0x88, 0xc6, 0xfa, 0x0a, 0x04};
    pq_rle d;
    uint64_t v;
    ts_err err;
    (void)state;
    ts_err_clear(&err);
    pq_rle_init(&d, data, sizeof data, 3);
    for (uint64_t i = 0; i < 8; i++) {
        CHECK(pq_rle_next(&d, &v, &err));
        assert_int_equal(v, i);
    }
    for (int i = 0; i < 5; i++) {
        CHECK(pq_rle_next(&d, &v, &err));
        assert_int_equal(v, 4);
    }
    assert_int_equal(pq_rle_next(&d, &v, &err), TS_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "RLE"));
    /* A run value wider than the bit width is corrupt. */
    static const uint8_t bad[] = {0x02, 0x09};
    ts_err_clear(&err);
    pq_rle_init(&d, bad, sizeof bad, 3);
    assert_int_equal(pq_rle_next(&d, &v, &err), TS_ERR_FORMAT);
}

static void test_delta_binary_packed(void **state)
{
    /* [0, 5, 0, 0]: block 128, 4 miniblocks, 4 values, first 0; min delta -5, width 4,
     * deltas - min = 10, 0, 5. */
    uint8_t data[5 + 1 + 4 + 16] = {0x80, 0x01, 0x04, 0x04, 0x00, 0x09, 4, 0, 0, 0, 0x0a, 0x05};
    pq_delta d;
    uint64_t v;
    const uint8_t *end;
    ts_err err;
    (void)state;
    ts_err_clear(&err);
    CHECK(pq_delta_init(&d, data, sizeof data, 4, &err));
    int64_t want[] = {0, 5, 0, 0};
    for (int i = 0; i < 4; i++) {
        CHECK(pq_delta_next(&d, &v, &err));
        assert_int_equal((int64_t)v, want[i]);
    }
    assert_int_equal(pq_delta_next(&d, &v, &err), TS_ERR_FORMAT);
    CHECK(pq_delta_init(&d, data, sizeof data, 4, &err));
    CHECK(pq_delta_skip_all(&d, &end, &err));
    assert_ptr_equal(end, data + sizeof data);
    /* More values than the page holds is refused before any work. */
    ts_err_clear(&err);
    assert_int_equal(pq_delta_init(&d, data, sizeof data, 3, &err), TS_ERR_FORMAT);
    /* A block size that is not a multiple of 128. */
    static const uint8_t bad[] = {0x40, 0x01, 0x01, 0x00};
    ts_err_clear(&err);
    assert_int_equal(pq_delta_init(&d, bad, sizeof bad, 10, &err), TS_ERR_FORMAT);
}

static void test_delta_extremes(void **state)
{
    /* INT64_MIN then INT64_MAX: the delta wraps; width 64 miniblock. */
    ts_buf b;
    pq_delta d;
    uint64_t v;
    ts_err err;
    (void)state;
    ts_err_clear(&err);
    ts_buf_init(&b, 0);
    uint8_t hdr[] = {0x80, 0x01, 0x01, 0x02};
    CHECK(ts_buf_append(&b, hdr, sizeof hdr));
    /* first value zigzag(INT64_MIN) = UINT64_MAX */
    uint8_t first[10];
    for (int i = 0; i < 9; i++)
        first[i] = 0xff;
    first[9] = 0x01;
    CHECK(ts_buf_append(&b, first, 10));
    /* min delta: zigzag(-1) = 1: delta = (UINT64_MAX) = -1 + value; use min delta -1 and
     * a packed value 0 (width 0): INT64_MIN - 1 wraps to INT64_MAX. */
    uint8_t blk[] = {0x01, 0x00};
    CHECK(ts_buf_append(&b, blk, sizeof blk));
    CHECK(pq_delta_init(&d, b.data, b.len, 2, &err));
    CHECK(pq_delta_next(&d, &v, &err));
    assert_true((int64_t)v == INT64_MIN);
    CHECK(pq_delta_next(&d, &v, &err));
    assert_true((int64_t)v == INT64_MAX);
    ts_buf_free(&b);
}

static void test_rle_boolean_and_bss(void **state)
{
    /* RLE booleans: length 2, bit-packed run of 8: 1,0,1,1,0,0,0,1 */
    static const uint8_t rle[] = {2, 0, 0, 0, 0x03, 0x8d};
    static const bool want[] = {1, 0, 1, 1, 0, 0, 0, 1};
    pq_vdec d;
    pq_value v;
    ts_err err;
    (void)state;
    ts_err_clear(&err);
    CHECK(pq_vdec_init(&d, PQ_ENC_RLE, PQ_BOOLEAN, 0, rle, sizeof rle, 8, NULL, 0, 0, &err));
    for (int i = 0; i < 8; i++) {
        CHECK(pq_vdec_next(&d, &v, &err));
        assert_int_equal(v.v.b, want[i]);
    }
    pq_vdec_free(&d);
    /* BYTE_STREAM_SPLIT of two INT32: 0x04030201, 0x08070605 */
    static const uint8_t bss[] = {0x01, 0x05, 0x02, 0x06, 0x03, 0x07, 0x04, 0x08};
    CHECK(pq_vdec_init(&d, PQ_ENC_BYTE_STREAM_SPLIT, PQ_INT32, 0, bss, sizeof bss, 2, NULL, 0, 0,
                       &err));
    CHECK(pq_vdec_next(&d, &v, &err));
    assert_int_equal(v.v.i32, 0x04030201);
    CHECK(pq_vdec_next(&d, &v, &err));
    assert_int_equal(v.v.i32, 0x08070605);
    assert_int_equal(pq_vdec_next(&d, &v, &err), TS_ERR_FORMAT);
    pq_vdec_free(&d);
    /* Unsupported pairs are named. */
    ts_err_clear(&err);
    assert_int_equal(pq_vdec_init(&d, PQ_ENC_DELTA_BINARY_PACKED, PQ_DOUBLE, 0, bss, sizeof bss, 2,
                                  NULL, 0, 0, &err),
                     TS_ERR_UNSUPPORTED);
    pq_vdec_free(&d);
}

static void test_bit_packed_levels(void **state)
{
    /* Legacy BIT_PACKED, MSB first, width 2: 2,2,0,1,2 -> 10 10 00 01 10 */
    static const uint8_t data[] = {0xa1, 0x80};
    pq_levels l;
    size_t used;
    int v;
    ts_err err;
    (void)state;
    ts_err_clear(&err);
    CHECK(pq_levels_init(&l, PQ_ENC_BIT_PACKED, 2, true, data, sizeof data, 5, &used, &err));
    assert_int_equal(used, 2);
    int want[] = {2, 2, 0, 1, 2};
    for (int i = 0; i < 5; i++) {
        CHECK(pq_levels_next(&l, &v, &err));
        assert_int_equal(v, want[i]);
    }
}

static void test_decimal_format(void **state)
{
    char out[128];
    (void)state;
    CHECK(pq_decimal_format_i64(12345, 2, out, sizeof out));
    assert_string_equal(out, "123.45");
    CHECK(pq_decimal_format_i64(-5, 2, out, sizeof out));
    assert_string_equal(out, "-0.05");
    CHECK(pq_decimal_format_i64(0, 3, out, sizeof out));
    assert_string_equal(out, "0.000");
    CHECK(pq_decimal_format_i64(INT64_MIN, 0, out, sizeof out));
    assert_string_equal(out, "-9223372036854775808");
    uint8_t m1[16];
    memset(m1, 0xff, sizeof m1);
    CHECK(pq_decimal_format(m1, 16, 10, out, sizeof out));
    assert_string_equal(out, "-0.0000000001");
    /* 10^38 - 1 with scale 10 */
    static const uint8_t max38[16] = {0x4b, 0x3b, 0x4c, 0xa8, 0x5a, 0x86, 0xc4, 0x7a,
                                      0x09, 0x8a, 0x22, 0x3f, 0xff, 0xff, 0xff, 0xff};
    CHECK(pq_decimal_format(max38, 16, 10, out, sizeof out));
    assert_string_equal(out, "9999999999999999999999999999.9999999999");
    assert_int_equal(pq_decimal_format(max38, 16, 10, out, 8), TS_ERR_INVALID);
    CHECK(pq_decimal_format(NULL, 0, 0, out, sizeof out));
    assert_string_equal(out, "0");
}

/* ---- the Thrift decoder's limits ---- */

static void test_thrift_limits(void **state)
{
    uint8_t buf[200];
    pq_tdec d;
    ts_err err;
    (void)state;
    /* 60 nested structs: refused at PQ_TDEC_MAX_DEPTH, no deep recursion. */
    for (int i = 0; i < 60; i++)
        buf[i] = 0x1c; /* field 1, struct */
    memset(buf + 60, 0, 60);
    ts_err_clear(&err);
    pq_tdec_init(&d, buf, 120, 0, "test", &err);
    assert_int_equal(pq_tdec_skip(&d, PQ_CT_STRUCT), TS_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "nesting"));
    /* A list claiming more elements than bytes. */
    static const uint8_t list[] = {0xf5, 0xff, 0xff, 0xff, 0x0f, 0x00};
    ts_err_clear(&err);
    pq_tdec_init(&d, list, sizeof list, 100, "test", &err);
    assert_int_equal(pq_tdec_skip(&d, PQ_CT_LIST), TS_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "cannot fit"));
    /* An overlong varint. */
    static const uint8_t vi[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    uint64_t v;
    ts_err_clear(&err);
    pq_tdec_init(&d, vi, sizeof vi, 0, "test", &err);
    assert_int_equal(pq_tdec_varint(&d, &v), TS_ERR_FORMAT);
    /* A binary passing the end. */
    static const uint8_t bin[] = {0x10, 'a'};
    const uint8_t *p;
    size_t n;
    ts_err_clear(&err);
    pq_tdec_init(&d, bin, sizeof bin, 0, "test", &err);
    assert_int_equal(pq_tdec_binary(&d, PQ_CT_BINARY, &p, &n), TS_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "test at offset"));
}

/* ---- hand-built files ---- */

/* optional binary s (UTF8), one DELTA_BYTE_ARRAY page v2: "apple", NULL, "applesauce",
 * "banana", "" */
static void schema_dba(tw *w)
{
    tw_list(w, 2, PQ_CT_STRUCT, 2);
    tw_elem(w, "root", -1, -1, 1, -1);
    tw_elem(w, "s", PQ_BYTE_ARRAY, 1, 0, 0);
}

static void dba_file(ts_buf *f)
{
    static const uint8_t page[] = {
        /* def levels: bit-packed run, 1 group, width 1: 1,0,1,1,1 */
        0x03, 0x1d,
        /* prefix lengths 0,5,0,0 */
        0x80, 0x01, 0x04, 0x04, 0x00, 0x09, 4, 0, 0, 0, 0x0a, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0,
        /* suffix lengths 5,5,6,0: first 5, min delta -6, width 3: 6,7,0 */
        0x80, 0x01, 0x04, 0x04, 0x0a, 0x0b, 3, 0, 0, 0, 0x3e, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        /* suffixes */
        'a', 'p', 'p', 'l', 'e', 's', 'a', 'u', 'c', 'e', 'b', 'a', 'n', 'a', 'n', 'a'};
    tpage p = {3, 5, PQ_ENC_DELTA_BYTE_ARRAY, 0, 0, 1, 5, 2, 0, page, sizeof page, 0};
    build_file(f, schema_dba, PQ_BYTE_ARRAY, "s", &p, 1, 5, 5);
}

static void test_file_delta_byte_array_v2(void **state)
{
    ts_buf f;
    pq_reader *r = NULL;
    const pq_reader_column *cols;
    int ncols;
    ts_err err;
    static const char *want[] = {"apple", NULL, "applesauce", "banana", ""};
    (void)state;
    ts_err_clear(&err);
    dba_file(&f);
    CHECK(pq_reader_open_memory(&r, f.data, f.len, NULL, &err));
    CHECK(pq_reader_columns(r, &cols, &ncols, &err));
    assert_int_equal(ncols, 1);
    assert_int_equal(cols[0].spec.logical, PQ_LT_STRING);
    assert_true(cols[0].spec.nullable);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(pq_reader_next_row(r, &err), 1);
        const pq_cell *c = pq_reader_cell(r, 0);
        if (!want[i]) {
            assert_true(c->items[0].is_null);
            continue;
        }
        assert_false(c->items[0].is_null);
        assert_int_equal(c->items[0].v.bin.len, strlen(want[i]));
        assert_memory_equal(c->items[0].v.bin.ptr, want[i], strlen(want[i]));
    }
    assert_int_equal(pq_reader_next_row(r, &err), 0);
    pq_reader_free(r);
    ts_buf_free(&f);
}

/* optional group l (LIST) { repeated int32 element; } with BIT_PACKED levels:
 * rows [1,2], NULL, [], [3] */
static void schema_list2(tw *w)
{
    tw_list(w, 2, PQ_CT_STRUCT, 3);
    tw_elem(w, "root", -1, -1, 1, -1);
    tw_elem(w, "l", -1, 1, 1, 3);
    tw_elem(w, "element", PQ_INT32, 2, 0, -1);
}

static void list2_file(ts_buf *f)
{
    static const uint8_t page[] = {0x40, 0xa1, 0x80, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0};
    tpage p = {0, 5, PQ_ENC_PLAIN, PQ_ENC_BIT_PACKED, PQ_ENC_BIT_PACKED, 0, 0,
               0, 0, page,         sizeof page, 0};
    build_file(f, schema_list2, PQ_INT32, "l.element", &p, 1, 4, 5);
}

static void test_file_two_level_list(void **state)
{
    ts_buf f;
    pq_reader *r = NULL;
    const pq_reader_column *cols;
    int ncols;
    ts_err err;
    (void)state;
    ts_err_clear(&err);
    list2_file(&f);
    CHECK(pq_reader_open_memory(&r, f.data, f.len, NULL, &err));
    CHECK(pq_reader_columns(r, &cols, &ncols, &err));
    assert_true(cols[0].spec.list);
    assert_false(cols[0].element_nullable);
    assert_int_equal(cols[0].max_def, 2);
    assert_int_equal(pq_reader_next_row(r, &err), 1);
    const pq_cell *c = pq_reader_cell(r, 0);
    assert_true(c->is_list && !c->is_null);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->items[0].v.i32, 1);
    assert_int_equal(c->items[1].v.i32, 2);
    assert_int_equal(pq_reader_next_row(r, &err), 1);
    assert_true(pq_reader_cell(r, 0)->is_null);
    assert_int_equal(pq_reader_next_row(r, &err), 1);
    c = pq_reader_cell(r, 0);
    assert_false(c->is_null);
    assert_int_equal(c->n, 0);
    assert_int_equal(pq_reader_next_row(r, &err), 1);
    c = pq_reader_cell(r, 0);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->items[0].v.i32, 3);
    assert_int_equal(pq_reader_next_row(r, &err), 0);
    int64_t rows = -1;
    pq_reader_free(r);
    CHECK(pq_reader_open_memory(&r, f.data, f.len, NULL, &err));
    CHECK(pq_reader_verify(r, &rows, &err));
    assert_int_equal(rows, 4);
    pq_reader_free(r);
    ts_buf_free(&f);
}

/* required group s { required int32 a; } : a struct, which the reader does not flatten. */
static void schema_struct(tw *w)
{
    tw_list(w, 2, PQ_CT_STRUCT, 3);
    tw_elem(w, "root", -1, -1, 1, -1);
    tw_elem(w, "s", -1, 0, 1, -1);
    tw_elem(w, "a", PQ_INT32, 0, 0, -1);
}

static void test_file_nested_unsupported(void **state)
{
    static const uint8_t page[] = {7, 0, 0, 0};
    tpage p = {0, 1, PQ_ENC_PLAIN, PQ_ENC_RLE, PQ_ENC_RLE, 0, 0, 0, 0, page, sizeof page, 0};
    ts_buf f;
    pq_reader *r = NULL;
    const pq_reader_column *cols;
    int ncols;
    ts_err err;
    (void)state;
    ts_err_clear(&err);
    build_file(&f, schema_struct, PQ_INT32, "s.a", &p, 1, 1, 1);
    CHECK(pq_reader_open_memory(&r, f.data, f.len, NULL, &err));
    assert_int_equal(pq_reader_num_rows(r), 1);
    assert_int_equal(pq_reader_meta(r)->nschema, 3);
    assert_int_equal(pq_reader_columns(r, &cols, &ncols, &err), TS_ERR_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "\"s\" is a nested struct"));
    ts_err_clear(&err);
    assert_int_equal(pq_reader_next_row(r, &err), TS_ERR_UNSUPPORTED);
    pq_reader_free(r);
    ts_buf_free(&f);
}

/* required int32 x, PLAIN, two pages of 3 and 2 values: 1..5 */
static void schema_int(tw *w)
{
    tw_list(w, 2, PQ_CT_STRUCT, 2);
    tw_elem(w, "root", -1, -1, 1, -1);
    tw_elem(w, "x", PQ_INT32, 0, 0, -1);
}

static void int_file(ts_buf *f)
{
    static const uint8_t p1[] = {1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0};
    static const uint8_t p2[] = {4, 0, 0, 0, 5, 0, 0, 0};
    tpage p[2] = {{0, 3, PQ_ENC_PLAIN, PQ_ENC_RLE, PQ_ENC_RLE, 0, 0, 0, 0, p1, sizeof p1, 0},
                  {0, 2, PQ_ENC_PLAIN, PQ_ENC_RLE, PQ_ENC_RLE, 0, 0, 0, 0, p2, sizeof p2, 0}};
    build_file(f, schema_int, PQ_INT32, "x", p, 2, 5, 5);
}

static void test_file_pages_and_callback(void **state)
{
    ts_buf f;
    pq_reader *r = NULL;
    ts_err err;
    (void)state;
    ts_err_clear(&err);
    int_file(&f);
    CHECK(pq_reader_open_memory(&r, f.data, f.len, NULL, &err));
    for (int i = 1; i <= 5; i++) {
        assert_int_equal(pq_reader_next_row(r, &err), 1);
        assert_int_equal(pq_reader_cell(r, 0)->items[0].v.i32, i);
        assert_int_equal(pq_reader_row_index(r), i - 1);
    }
    assert_int_equal(pq_reader_next_row(r, &err), 0);
    pq_reader_free(r);
    ts_buf_free(&f);
}

/* required int96 t: the legacy timestamp type is read as its 12 bytes. */
static void schema_int96(tw *w)
{
    tw_list(w, 2, PQ_CT_STRUCT, 2);
    tw_elem(w, "root", -1, -1, 1, -1);
    tw_elem(w, "t", PQ_INT96, 0, 0, -1);
}

static void test_file_int96(void **state)
{
    uint8_t page[24];
    for (int i = 0; i < 24; i++)
        page[i] = (uint8_t)(i * 11);
    tpage p = {0, 2, PQ_ENC_PLAIN, PQ_ENC_RLE, PQ_ENC_RLE, 0, 0, 0, 0, page, sizeof page, 0};
    ts_buf f;
    pq_reader *r = NULL;
    ts_err err;
    (void)state;
    ts_err_clear(&err);
    build_file(&f, schema_int96, PQ_INT96, "t", &p, 1, 2, 2);
    CHECK(pq_reader_open_memory(&r, f.data, f.len, NULL, &err));
    for (int k = 0; k < 2; k++) {
        assert_int_equal(pq_reader_next_row(r, &err), 1);
        assert_memory_equal(pq_reader_cell(r, 0)->items[0].v.i96, page + 12 * k, 12);
    }
    assert_int_equal(pq_reader_next_row(r, &err), 0);
    pq_reader_free(r);
    ts_buf_free(&f);
}

static int failing_read(void *ctx, uint64_t off, void *dst, size_t len, ts_err *err)
{
    (void)ctx, (void)off, (void)dst, (void)len;
    return ts_err_set(err, TS_ERR_IO, "network down");
}

static void test_open_errors(void **state)
{
    ts_buf f;
    pq_reader *r = NULL;
    ts_err err;
    (void)state;
    int_file(&f);
    /* every truncation is a clear format error */
    for (size_t n = 0; n < f.len; n++) {
        ts_err_clear(&err);
        int rc = pq_reader_open_memory(&r, f.data, n, NULL, &err);
        assert_int_not_equal(rc, 0);
        assert_null(r);
        assert_true(err.msg[0] != '\0');
    }
    pq_reader_options o;
    pq_reader_options_default(&o);
    o.max_rows = 4;
    ts_err_clear(&err);
    assert_int_equal(pq_reader_open_memory(&r, f.data, f.len, &o, &err), TS_ERR_TOOBIG);
    assert_non_null(strstr(err.msg, "5 rows exceed the cap of 4"));
    ts_err_clear(&err);
    assert_int_equal(pq_reader_open(&r, failing_read, NULL, 1000, NULL, &err), TS_ERR_IO);
    assert_non_null(strstr(err.msg, "network down"));
    ts_err_clear(&err);
    assert_int_equal(pq_reader_open_file(&r, "/nonexistent/x.parquet", NULL, &err),
                     TS_ERR_NOTFOUND);
    /* the row count in the footer must match the row groups' */
    ts_buf g;
    static const uint8_t p1[] = {1, 0, 0, 0};
    tpage p = {0, 1, PQ_ENC_PLAIN, PQ_ENC_RLE, PQ_ENC_RLE, 0, 0, 0, 0, p1, sizeof p1, 0};
    build_file(&g, schema_int, PQ_INT32, "x", &p, 1, 1, 1);
    /* num_rows is written twice (file, row group); build with consistent values, then
     * check a page with fewer values than rows. */
    ts_buf_free(&g);
    build_file(&g, schema_int, PQ_INT32, "x", &p, 1, 2, 1);
    ts_err_clear(&err);
    CHECK(pq_reader_open_memory(&r, g.data, g.len, NULL, &err));
    assert_int_equal(pq_reader_next_row(r, &err), 1);
    assert_int_equal(pq_reader_next_row(r, &err), TS_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "column \"x\" (row group 0)"));
    /* the error sticks */
    ts_err_clear(&err);
    assert_int_equal(pq_reader_next_row(r, &err), TS_ERR_FORMAT);
    pq_reader_free(r);
    ts_buf_free(&g);
    ts_buf_free(&f);
}

/* Flips bytes everywhere in several files: any result but a crash is fine, and an
 * error always says something. */
static void mutate_all(const ts_buf *f)
{
    static const uint8_t vals[] = {0x00, 0xff, 0x7f, 0x80, 0x01, 0x15, 0x0f};
    uint8_t *copy = ts_malloc(f->len);
    assert_non_null(copy);
    for (size_t i = 0; i < f->len; i++) {
        for (size_t k = 0; k < sizeof vals; k++) {
            pq_reader *r = NULL;
            ts_err err;
            memcpy(copy, f->data, f->len);
            copy[i] = vals[k];
            ts_err_clear(&err);
            pq_reader_options o;
            pq_reader_options_default(&o);
            o.max_page_bytes = 1 << 20;
            o.max_list_elements = 1 << 16;
            int rc = pq_reader_open_memory(&r, copy, f->len, &o, &err);
            if (rc == 0) {
                int64_t rows;
                rc = pq_reader_verify(r, &rows, &err);
                pq_reader_free(r);
            }
            if (rc)
                assert_true(err.msg[0] != '\0');
        }
    }
    ts_free(copy);
}

static void test_corrupt_files(void **state)
{
    ts_buf f;
    (void)state;
    int_file(&f);
    mutate_all(&f);
    ts_buf_free(&f);
    dba_file(&f);
    mutate_all(&f);
    ts_buf_free(&f);
    list2_file(&f);
    mutate_all(&f);
    ts_buf_free(&f);
}

static void test_alloc_failures(void **state)
{
    ts_buf f;
    (void)state;
    list2_file(&f);
    for (long n = 1; n < 40; n++) {
        pq_reader *r = NULL;
        ts_err err;
        int64_t rows;
        ts_err_clear(&err);
        ts_alloc_fail_after(n);
        int rc = pq_reader_open_memory(&r, f.data, f.len, NULL, &err);
        if (rc == 0)
            rc = pq_reader_verify(r, &rows, &err);
        ts_alloc_fail_after(0);
        pq_reader_free(r);
        if (rc)
            assert_true(rc == TS_ERR_NOMEM || rc == TS_ERR_TOOBIG);
    }
    ts_buf_free(&f);
}

/* ---- hostile sizes: the allocation budget (pq_reader_options.max_alloc_bytes) ---- */

/* Allocation hooks that remember the largest single request and refuse any request
 * above a ceiling, so a reader that ignored its caps fails the test instead of the
 * machine. */
static size_t biggest_alloc;
#define ALLOC_CEILING ((size_t)64 << 20)

static void *track_malloc(size_t n)
{
    biggest_alloc = n > biggest_alloc ? n : biggest_alloc;
    return n > ALLOC_CEILING ? NULL : malloc(n);
}

static void *track_calloc(size_t k, size_t n)
{
    size_t t = n && k > SIZE_MAX / n ? SIZE_MAX : k * n;
    biggest_alloc = t > biggest_alloc ? t : biggest_alloc;
    return t > ALLOC_CEILING ? NULL : calloc(k, n);
}

static void *track_realloc(void *p, size_t n)
{
    biggest_alloc = n > biggest_alloc ? n : biggest_alloc;
    return n > ALLOC_CEILING ? NULL : realloc(p, n);
}

static void track_start(void)
{
    static const ts_alloc_hooks h = {track_malloc, track_calloc, track_realloc, free};
    biggest_alloc = 0;
    ts_alloc_set_hooks(&h);
}

static int buf_sink(void *ctx, const void *data, size_t len, ts_err *err)
{
    (void)err;
    return ts_buf_append(ctx, data, len);
}

/* Opens (and on success reads through) f with opt; returns the first error code. */
static int open_and_verify(const void *data, size_t len, const pq_reader_options *opt, ts_err *err)
{
    pq_reader *r = NULL;
    int64_t rows;
    ts_err_clear(err);
    int rc = pq_reader_open_memory(&r, data, len, opt, err);
    if (rc == 0)
        rc = pq_reader_verify(r, &rows, err);
    pq_reader_free(r);
    return rc;
}

/* A file that exists only as a size: "PAR1", zeros, a footer length, "PAR1". */
typedef struct vfile {
    uint64_t size;
    uint32_t flen;
} vfile;

static int vfile_read(void *ctx, uint64_t off, void *dst, size_t len, ts_err *err)
{
    const vfile *v = ctx;
    uint8_t *d = dst;
    if (len > ((size_t)1 << 20))
        return ts_err_set(err, TS_ERR_IO, "test: a read of %zu bytes", len);
    for (size_t i = 0; i < len; i++) {
        uint64_t o = off + i;
        uint8_t b = 0;
        if (o < 4)
            b = (uint8_t)"PAR1"[o];
        else if (o >= v->size - 4)
            b = (uint8_t)"PAR1"[o - (v->size - 4)];
        else if (o >= v->size - 8)
            b = (uint8_t)(v->flen >> (8 * (o - (v->size - 8))));
        d[i] = b;
    }
    return 0;
}

static void test_hostile_footer(void **state)
{
    pq_reader *r = NULL;
    pq_reader_options o;
    ts_err err;
    (void)state;
    track_start();
    /* a 3 GiB file claiming a 2 GiB footer: the footer cap */
    vfile v = {(uint64_t)3 << 30, (uint32_t)2 << 30};
    ts_err_clear(&err);
    assert_int_equal(pq_reader_open(&r, vfile_read, &v, v.size, NULL, &err), TS_ERR_TOOBIG);
    assert_non_null(strstr(err.msg, "footer of 2147483648 bytes exceeds the cap"));
    /* the footer cap raised, the allocation cap low: the budget names the footer */
    pq_reader_options_default(&o);
    o.max_footer_bytes = (size_t)4 << 30;
    o.max_alloc_bytes = (size_t)1 << 20;
    v.flen = 8u << 20;
    ts_err_clear(&err);
    assert_int_equal(pq_reader_open(&r, vfile_read, &v, v.size, &o, &err), TS_ERR_TOOBIG);
    assert_non_null(strstr(err.msg, "footer of 8388608 bytes would pass the reader's allocation "
                                    "cap of 1048576 bytes"));
    assert_null(r);
    /* a small footer whose metadata would take 25 x its size (20 000 schema elements of
     * 4 bytes each): the arena stops at the budget */
    tw w;
    ts_buf f;
    memset(&w, 0, sizeof w);
    ts_buf_init(&w.b, 0);
    ts_buf_init(&f, 0);
    tw_i32(&w, 1, 1);
    tw_list(&w, 2, PQ_CT_STRUCT, 20000);
    for (int i = 0; i < 20000; i++) {
        tw_begin(&w);
        tw_str(&w, 4, "x");
        tw_end(&w);
    }
    tw_i64(&w, 3, 0);
    tw_list(&w, 4, PQ_CT_STRUCT, 0);
    tw_byte(&w, 0);
    CHECK(ts_buf_append(&f, "PAR1", 4));
    CHECK(ts_buf_append(&f, w.b.data, w.b.len));
    uint8_t len4[4] = {(uint8_t)w.b.len, (uint8_t)(w.b.len >> 8), (uint8_t)(w.b.len >> 16), 0};
    CHECK(ts_buf_append(&f, len4, 4));
    CHECK(ts_buf_append(&f, "PAR1", 4));
    pq_reader_options_default(&o);
    o.max_alloc_bytes = (size_t)1 << 20;
    assert_int_equal(open_and_verify(f.data, f.len, &o, &err), TS_ERR_TOOBIG);
    assert_non_null(strstr(err.msg, "metadata needs more memory than the cap allows"));
    ts_alloc_reset_hooks();
    assert_true(biggest_alloc <= ((size_t)1 << 20));
    ts_buf_free(&w.b);
    ts_buf_free(&f);
}

static void test_hostile_pages(void **state)
{
    static const uint8_t four[] = {1, 0, 0, 0};
    pq_reader_options o;
    ts_buf f;
    ts_err err;
    (void)state;
    track_start();
    build_codec = PQ_CODEC_SNAPPY;
    /* a 4-byte page claiming 1.5 GiB decompressed: the page cap */
    tpage p = {0, 1, PQ_ENC_PLAIN, PQ_ENC_RLE, PQ_ENC_RLE, 0, 0, 0, 0, four, sizeof four,
               (int64_t)3 << 29};
    build_file(&f, schema_int, PQ_INT32, "x", &p, 1, 1, 1);
    assert_int_equal(open_and_verify(f.data, f.len, NULL, &err), TS_ERR_TOOBIG);
    assert_non_null(strstr(err.msg, "page of 1610612736 bytes exceeds the cap"));
    ts_buf_free(&f);
    /* 100 MiB claimed under a 1 MiB budget: refused before any allocation */
    p.usize = (int64_t)100 << 20;
    build_file(&f, schema_int, PQ_INT32, "x", &p, 1, 1, 1);
    pq_reader_options_default(&o);
    o.max_alloc_bytes = (size_t)1 << 20;
    assert_int_equal(open_and_verify(f.data, f.len, &o, &err), TS_ERR_TOOBIG);
    assert_non_null(strstr(err.msg, "decompressed page of 104857600 bytes would pass the "
                                    "reader's allocation cap of 1048576 bytes"));
    assert_non_null(strstr(err.msg, "column \"x\""));
    ts_buf_free(&f);
    build_codec = PQ_CODEC_UNCOMPRESSED;
    /* a column chunk (real bytes, 400 KB) larger than what the budget has left */
    uint8_t *big = ts_calloc(100000, 4);
    assert_non_null(big);
    tpage pb = {0, 100000, PQ_ENC_PLAIN, PQ_ENC_RLE, PQ_ENC_RLE, 0, 0, 0, 0, big, 400000, 0};
    build_file(&f, schema_int, PQ_INT32, "x", &pb, 1, 100000, 100000);
    o.max_alloc_bytes = 300000;
    assert_int_equal(open_and_verify(f.data, f.len, &o, &err), TS_ERR_TOOBIG);
    assert_non_null(strstr(err.msg, "column \"x\": column chunk of"));
    /* ... and read whole with room for it */
    o.max_alloc_bytes = (size_t)1 << 20;
    assert_int_equal(open_and_verify(f.data, f.len, &o, &err), 0);
    ts_free(big);
    ts_buf_free(&f);
    /* four row groups of 400 KB chunks under a 1 MiB budget: each row group's chunks go
     * back to the budget when the next one loads */
    pq_column_spec spec;
    pq_writer_options wo;
    pq_column_spec_init(&spec, "x", PQ_INT32, PQ_LT_NONE);
    spec.encoding = PQ_ENC_PLAIN;
    pq_writer_options_default(&wo);
    wo.codec = PQ_CODEC_UNCOMPRESSED;
    wo.dictionary = false;
    wo.row_group_rows = 100000;
    wo.page_statistics = false;
    ts_buf_init(&f, 0);
    ts_err_clear(&err);
    pq_writer *w = pq_writer_new(&spec, 1, &wo, buf_sink, &f, &err);
    assert_non_null(w);
    for (int32_t i = 0; i < 400000; i++) {
        CHECK(pq_write_i32(w, 0, i));
        CHECK(pq_writer_end_rows(w));
    }
    pq_write_result wr;
    CHECK(pq_writer_close(w, &wr));
    pq_writer_free(w);
    assert_int_equal(wr.row_groups, 4);
    biggest_alloc = 0; /* the writer's buffers are not the reader's */
    assert_int_equal(open_and_verify(f.data, f.len, &o, &err), 0);
    ts_buf_free(&f);
    ts_alloc_reset_hooks();
    assert_true(biggest_alloc <= ((size_t)1 << 20));
}

static void test_hostile_dictionary(void **state)
{
    static const uint8_t four[] = {1, 0, 0, 0};
    static const uint8_t idx[] = {0x11, 0x02, 0x00, 0x00, 0x00}; /* width 17, one 0 */
    pq_reader_options o;
    ts_buf f, z, zi;
    ts_err err;
    (void)state;
    track_start();
    /* more entries than a dictionary may have */
    tpage p[2] = {{2, 5000000, PQ_ENC_PLAIN, 0, 0, 0, 0, 0, 0, four, sizeof four, 0},
                  {0, 1, PQ_ENC_RLE_DICTIONARY, PQ_ENC_RLE, PQ_ENC_RLE, 0, 0, 0, 0, idx,
                   sizeof idx, 0}};
    build_file(&f, schema_int, PQ_INT32, "x", p, 2, 1, 1);
    assert_int_equal(open_and_verify(f.data, f.len, NULL, &err), TS_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "dictionary of 5000000 entries"));
    ts_buf_free(&f);
    /* a real dictionary: 131 072 zeros, 512 KiB decompressed from a few bytes of snappy,
     * and 3 MiB of entries: past a 2 MiB budget */
    uint8_t *zeros = ts_calloc(131072, 4);
    assert_non_null(zeros);
    ts_buf_init(&z, 0);
    ts_buf_init(&zi, 0);
    CHECK(pq_compress(PQ_CODEC_SNAPPY, 0, zeros, (size_t)131072 * 4, &z, &err));
    CHECK(pq_compress(PQ_CODEC_SNAPPY, 0, idx, sizeof idx, &zi, &err));
    build_codec = PQ_CODEC_SNAPPY;
    p[0].num_values = 131072;
    p[0].data = z.data;
    p[0].len = z.len;
    p[0].usize = (int64_t)131072 * 4;
    p[1].data = zi.data;
    p[1].len = zi.len;
    p[1].usize = sizeof idx;
    build_file(&f, schema_int, PQ_INT32, "x", p, 2, 1, 1);
    build_codec = PQ_CODEC_UNCOMPRESSED;
    pq_reader_options_default(&o);
    o.max_alloc_bytes = (size_t)2 << 20;
    assert_int_equal(open_and_verify(f.data, f.len, &o, &err), TS_ERR_TOOBIG);
    assert_non_null(strstr(err.msg, "dictionary of 3670041 bytes would pass the reader's "
                                    "allocation cap of 2097152 bytes"));
    /* with room for it the same file reads */
    o.max_alloc_bytes = (size_t)8 << 20;
    assert_int_equal(open_and_verify(f.data, f.len, &o, &err), 0);
    ts_alloc_reset_hooks();
    assert_true(biggest_alloc <= ((size_t)8 << 20));
    ts_free(zeros);
    ts_buf_free(&z);
    ts_buf_free(&zi);
    ts_buf_free(&f);
}

/* optional group l (LIST) { repeated int32 element; }: one row, one list of n elements
 * (dictionary-encoded runs: a few bytes whatever n is) */
static void long_list_file(ts_buf *f, uint32_t n)
{
    static const uint8_t dict[] = {7, 0, 0, 0};
    uint8_t page[64];
    size_t k = 0;
    uint8_t tmp[16];
    size_t t;
#define VARINT(v)                                                                                  \
    do {                                                                                           \
        uint64_t v_ = (v);                                                                         \
        t = 0;                                                                                     \
        while (v_ >= 0x80) {                                                                       \
            tmp[t++] = (uint8_t)(v_ | 0x80);                                                       \
            v_ >>= 7;                                                                              \
        }                                                                                          \
        tmp[t++] = (uint8_t)v_;                                                                    \
    } while (0)
    /* repetition levels (width 1): one 0, then n-1 ones; 4-byte length prefix */
    size_t at = k;
    k += 4;
    page[k++] = 0x02;
    page[k++] = 0x00;
    VARINT((uint64_t)(n - 1) << 1);
    memcpy(page + k, tmp, t);
    k += t;
    page[k++] = 0x01;
    page[at] = (uint8_t)(k - at - 4);
    page[at + 1] = page[at + 2] = page[at + 3] = 0;
    /* definition levels (width 2): n twos */
    at = k;
    k += 4;
    VARINT((uint64_t)n << 1);
    memcpy(page + k, tmp, t);
    k += t;
    page[k++] = 0x02;
    page[at] = (uint8_t)(k - at - 4);
    page[at + 1] = page[at + 2] = page[at + 3] = 0;
    /* indices: width 1, one run of n zeros */
    page[k++] = 0x01;
    VARINT((uint64_t)n << 1);
    memcpy(page + k, tmp, t);
    k += t;
    page[k++] = 0x00;
#undef VARINT
    tpage p[2] = {{2, 1, PQ_ENC_PLAIN, 0, 0, 0, 0, 0, 0, dict, sizeof dict, 0},
                  {0, (int)n, PQ_ENC_RLE_DICTIONARY, PQ_ENC_RLE, PQ_ENC_RLE, 0, 0, 0, 0, page, k,
                   0}};
    build_file(f, schema_list2, PQ_INT32, "l.element", p, 2, 1, n);
}

static void test_hostile_num_values(void **state)
{
    static const uint8_t four[] = {1, 0, 0, 0};
    pq_reader_options o;
    ts_buf f;
    ts_err err;
    (void)state;
    track_start();
    /* 2^31 - 1 values claimed by the page, the chunk and the file, 4 bytes present */
    tpage p = {0, INT32_MAX, PQ_ENC_PLAIN, PQ_ENC_RLE, PQ_ENC_RLE, 0, 0, 0, 0, four, sizeof four, 0};
    build_file(&f, schema_int, PQ_INT32, "x", &p, 1, INT32_MAX, INT32_MAX);
    assert_int_equal(open_and_verify(f.data, f.len, NULL, &err), TS_ERR_FORMAT);
    pq_reader_options_default(&o);
    o.max_rows = 1 << 20;
    assert_int_equal(open_and_verify(f.data, f.len, &o, &err), TS_ERR_TOOBIG);
    assert_non_null(strstr(err.msg, "rows exceed the cap"));
    ts_buf_free(&f);
    /* one list of 50 M elements in 30 bytes: the element cap, then the budget */
    long_list_file(&f, 50000000);
    pq_reader_options_default(&o);
    o.max_list_elements = 1 << 20;
    assert_int_equal(open_and_verify(f.data, f.len, &o, &err), TS_ERR_TOOBIG);
    assert_non_null(strstr(err.msg, "a list holds more than 1048576 elements"));
    biggest_alloc = 0; /* that took 24 MiB of elements, under the default budget */
    pq_reader_options_default(&o);
    o.max_alloc_bytes = (size_t)4 << 20;
    assert_int_equal(open_and_verify(f.data, f.len, &o, &err), TS_ERR_TOOBIG);
    assert_non_null(strstr(err.msg, "a list value's elements of"));
    assert_non_null(strstr(err.msg, "allocation cap of 4194304 bytes"));
    ts_buf_free(&f);
    /* the same shape, 1000 elements: reads */
    long_list_file(&f, 1000);
    pq_reader *r = NULL;
    ts_err_clear(&err);
    CHECK(pq_reader_open_memory(&r, f.data, f.len, &o, &err));
    assert_int_equal(pq_reader_next_row(r, &err), 1);
    const pq_cell *c = pq_reader_cell(r, 0);
    assert_int_equal(c->n, 1000);
    assert_int_equal(c->items[999].v.i32, 7);
    assert_int_equal(pq_reader_next_row(r, &err), 0);
    pq_reader_free(r);
    ts_buf_free(&f);
    ts_alloc_reset_hooks();
    assert_true(biggest_alloc <= ((size_t)4 << 20));
}

/* PQ_WRITE_SEEDS=DIR: also writes the hand-built files there (fuzz seed corpus). */
static void write_seeds(const char *dir)
{
    void (*makers[])(ts_buf *) = {int_file, dba_file, list2_file};
    const char *names[] = {"hand_int_pages.parquet", "hand_delta_byte_array_v2.parquet",
                           "hand_two_level_list_bit_packed.parquet"};
    for (int i = 0; i < 3; i++) {
        char path[1024];
        ts_buf f;
        makers[i](&f);
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *out = fopen(path, "wb");
        if (out) {
            if (fwrite(f.data, 1, f.len, out) != f.len)
                fprintf(stderr, "could not write \"%s\"\n", path);
            if (fclose(out) != 0)
                fprintf(stderr, "could not close \"%s\"\n", path);
        }
        ts_buf_free(&f);
    }
}

int main(void)
{
    if (getenv("PQ_WRITE_SEEDS"))
        write_seeds(getenv("PQ_WRITE_SEEDS"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bit_width),
        cmocka_unit_test(test_rle_hybrid),
        cmocka_unit_test(test_delta_binary_packed),
        cmocka_unit_test(test_delta_extremes),
        cmocka_unit_test(test_rle_boolean_and_bss),
        cmocka_unit_test(test_bit_packed_levels),
        cmocka_unit_test(test_decimal_format),
        cmocka_unit_test(test_thrift_limits),
        cmocka_unit_test(test_file_delta_byte_array_v2),
        cmocka_unit_test(test_file_two_level_list),
        cmocka_unit_test(test_file_nested_unsupported),
        cmocka_unit_test(test_file_pages_and_callback),
        cmocka_unit_test(test_file_int96),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_corrupt_files),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_hostile_footer),
        cmocka_unit_test(test_hostile_pages),
        cmocka_unit_test(test_hostile_dictionary),
        cmocka_unit_test(test_hostile_num_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
