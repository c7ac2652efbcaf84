/* test_pq_roundtrip.c: files written by tsarchive's writer, read back by its reader,
 * value by value: every type, NULLs, lists (NULL, empty, NULL elements), each codec,
 * each encoding option, several row groups and pages, dictionary overflow, page CRCs,
 * zero rows. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/buf.h"
#include "parquet/reader.h"
#include "parquet/writer.h"

#define CHECK(x) assert_int_equal((x), 0)

enum {
    C_BOOL,
    C_I16,
    C_I64,
    C_I64_DELTA,
    C_DBL_BSS,
    C_FLOAT,
    C_STR_DICT,
    C_STR_DLBA,
    C_BYTES,
    C_UUID,
    C_DEC38,
    C_DEC18,
    C_DATE,
    C_TS,
    C_LIST_I32,
    C_LIST_STR,
    NCOLS
};

static int sink(void *ctx, const void *data, size_t len, ts_err *err)
{
    ts_buf *b = ctx;
    int rc = ts_buf_append(b, data, len);
    return rc ? ts_err_set(err, rc, "sink full") : 0;
}

static void specs(pq_column_spec *s)
{
    pq_column_spec_init(&s[C_BOOL], "b", PQ_BOOLEAN, PQ_LT_NONE);
    pq_column_spec_init(&s[C_I16], "i16", PQ_INT32, PQ_LT_INT);
    s[C_I16].bit_width = 16, s[C_I16].is_signed = true;
    pq_column_spec_init(&s[C_I64], "i64", PQ_INT64, PQ_LT_NONE);
    s[C_I64].encoding = PQ_ENC_PLAIN;
    pq_column_spec_init(&s[C_I64_DELTA], "i64_delta", PQ_INT64, PQ_LT_NONE);
    s[C_I64_DELTA].encoding = PQ_ENC_DELTA_BINARY_PACKED;
    pq_column_spec_init(&s[C_DBL_BSS], "dbl", PQ_DOUBLE, PQ_LT_NONE);
    s[C_DBL_BSS].encoding = PQ_ENC_BYTE_STREAM_SPLIT;
    pq_column_spec_init(&s[C_FLOAT], "f", PQ_FLOAT, PQ_LT_NONE);
    pq_column_spec_init(&s[C_STR_DICT], "s_dict", PQ_BYTE_ARRAY, PQ_LT_STRING);
    pq_column_spec_init(&s[C_STR_DLBA], "s_dlba", PQ_BYTE_ARRAY, PQ_LT_STRING);
    s[C_STR_DLBA].encoding = PQ_ENC_DELTA_LENGTH_BYTE_ARRAY;
    pq_column_spec_init(&s[C_BYTES], "bytes", PQ_BYTE_ARRAY, PQ_LT_NONE);
    pq_column_spec_init(&s[C_UUID], "u", PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_UUID);
    s[C_UUID].type_length = 16;
    pq_column_spec_init(&s[C_DEC38], "dec38", PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_DECIMAL);
    s[C_DEC38].type_length = 16, s[C_DEC38].precision = 38, s[C_DEC38].scale = 10;
    pq_column_spec_init(&s[C_DEC18], "dec18", PQ_INT64, PQ_LT_DECIMAL);
    s[C_DEC18].precision = 18, s[C_DEC18].scale = 3;
    pq_column_spec_init(&s[C_DATE], "d", PQ_INT32, PQ_LT_DATE);
    pq_column_spec_init(&s[C_TS], "ts", PQ_INT64, PQ_LT_TIMESTAMP);
    s[C_TS].ts_utc = true, s[C_TS].time_unit = PQ_UNIT_MICROS;
    pq_column_spec_init(&s[C_LIST_I32], "li", PQ_INT32, PQ_LT_NONE);
    s[C_LIST_I32].list = true;
    pq_column_spec_init(&s[C_LIST_STR], "ls", PQ_BYTE_ARRAY, PQ_LT_STRING);
    s[C_LIST_STR].list = true;
    for (int c = 0; c < NCOLS; c++)
        s[c].nullable = c != C_I64 && c != C_UUID;
}

static bool is_null(int64_t i, int c)
{
    return c != C_I64 && c != C_UUID && (i + c) % 7 == 0;
}

static int64_t i64_of(int64_t i)
{
    if (i == 1)
        return INT64_MIN;
    if (i == 2)
        return INT64_MAX;
    return i * 1000003 * (i % 2 ? -1 : 1);
}

static double dbl_of(int64_t i)
{
    if (i % 50 == 3)
        return NAN;
    if (i % 50 == 4)
        return i % 100 == 4 ? INFINITY : -INFINITY;
    return (double)i / 3.0;
}

static size_t str_of(int64_t i, int c, char *buf)
{
    if (c == C_STR_DICT)
        return (size_t)sprintf(buf, "v%d", (int)(i % 10));
    if (c == C_STR_DLBA)
        return i % 11 == 0 ? 0 : (size_t)sprintf(buf, "row-%lld-\xc3\xa9", (long long)i);
    if (c == C_BYTES) {
        size_t n = (size_t)(i % 20);
        for (size_t k = 0; k < n; k++)
            buf[k] = (char)(i * 7 + (int64_t)k);
        return n;
    }
    if (c == C_UUID) {
        for (int k = 0; k < 16; k++)
            buf[k] = (char)(i >> (k % 8) ^ k * 13);
        return 16;
    }
    /* C_DEC38: big-endian two's complement of (i - 2500) * 12345678901 */
    int64_t v = (i - 2500) * 12345678901LL;
    for (int k = 15; k >= 0; k--) {
        buf[k] = (char)(v & 0xff);
        v >>= 8; /* arithmetic shift keeps the sign */
    }
    return 16;
}

static void write_file(ts_buf *out, int codec, int64_t nrows, bool dictionary)
{
    pq_column_spec s[NCOLS];
    pq_writer_options o;
    ts_err err;
    char buf[64];
    pq_write_result res;

    ts_err_clear(&err);
    specs(s);
    pq_writer_options_default(&o);
    o.codec = (pq_codec)codec;
    o.row_group_rows = 1500;
    o.page_bytes = 4096;
    o.dictionary_bytes_limit = 2048; /* s_dlba, bytes and the lists overflow to PLAIN */
    o.dictionary = dictionary;
    o.page_crc = true;
    ts_buf_init(out, 0);
    pq_writer *w = pq_writer_new(s, NCOLS, &o, sink, out, &err);
    assert_non_null(w);
    CHECK(pq_writer_add_kv(w, "tsarchive.test", "round trip"));
    for (int64_t i = 0; i < nrows; i++) {
        for (int c = 0; c < NCOLS; c++) {
            if (is_null(i, c)) {
                CHECK(pq_write_null(w, c));
                continue;
            }
            switch (c) {
            case C_BOOL:
                CHECK(pq_write_bool(w, c, i % 3 == 0));
                break;
            case C_I16:
                CHECK(pq_write_i32(w, c, (int16_t)(i * 31 - 5000)));
                break;
            case C_I64:
            case C_I64_DELTA:
                CHECK(pq_write_i64(w, c, i64_of(i)));
                break;
            case C_DBL_BSS:
                CHECK(pq_write_double(w, c, dbl_of(i)));
                break;
            case C_FLOAT:
                CHECK(pq_write_float(w, c, (float)i / 7.0f));
                break;
            case C_DEC18:
                CHECK(pq_write_i64(w, c, (i - 2500) * 7));
                break;
            case C_DATE:
                CHECK(pq_write_i32(w, c, (int32_t)(i - 3000)));
                break;
            case C_TS:
                CHECK(pq_write_i64(w, c, (i - 2500) * 1000000007LL));
                break;
            case C_LIST_I32:
                CHECK(pq_write_list_begin(w, c));
                if (i % 5 != 1) {
                    CHECK(pq_write_i32(w, c, (int32_t)i));
                    CHECK(pq_write_null(w, c));
                    CHECK(pq_write_i32(w, c, (int32_t)-i));
                }
                CHECK(pq_write_list_end(w, c));
                break;
            case C_LIST_STR:
                CHECK(pq_write_list_begin(w, c));
                for (int k = 0; k < (int)(i % 4); k++) {
                    if (k == 1) {
                        CHECK(pq_write_null(w, c));
                    } else {
                        size_t n = (size_t)sprintf(buf, "e%d", k);
                        CHECK(pq_write_bytes(w, c, buf, k == 2 ? 0 : n));
                    }
                }
                CHECK(pq_write_list_end(w, c));
                break;
            default: {
                size_t n = str_of(i, c, buf);
                CHECK(pq_write_bytes(w, c, buf, n));
                break;
            }
            }
        }
        CHECK(pq_writer_end_rows(w));
    }
    CHECK(pq_writer_close(w, &res));
    assert_int_equal(res.rows, nrows);
    assert_int_equal(res.bytes, (int64_t)out->len);
    pq_writer_free(w);
}

static void check_value(int64_t i, int c, const pq_cell *cell)
{
    char buf[64];
    if (is_null(i, c)) {
        assert_true(cell->is_null || (!cell->is_list && cell->items[0].is_null));
        return;
    }
    const pq_value *v = &cell->items[0];
    if (!cell->is_list)
        assert_false(v->is_null);
    switch (c) {
    case C_BOOL:
        assert_int_equal(v->v.b, i % 3 == 0);
        break;
    case C_I16:
        assert_int_equal(v->v.i32, (int16_t)(i * 31 - 5000));
        break;
    case C_I64:
    case C_I64_DELTA:
        assert_true(v->v.i64 == i64_of(i));
        break;
    case C_DBL_BSS: {
        double want = dbl_of(i);
        if (isnan(want))
            assert_true(isnan(v->v.d));
        else
            assert_true(v->v.d == want);
        break;
    }
    case C_FLOAT:
        assert_true(v->v.f == (float)i / 7.0f);
        break;
    case C_DEC18:
        assert_true(v->v.i64 == (i - 2500) * 7);
        break;
    case C_DATE:
        assert_int_equal(v->v.i32, i - 3000);
        break;
    case C_TS:
        assert_true(v->v.i64 == (i - 2500) * 1000000007LL);
        break;
    case C_LIST_I32:
        assert_true(cell->is_list && !cell->is_null);
        if (i % 5 == 1) {
            assert_int_equal(cell->n, 0);
        } else {
            assert_int_equal(cell->n, 3);
            assert_int_equal(cell->items[0].v.i32, (int32_t)i);
            assert_true(cell->items[1].is_null);
            assert_int_equal(cell->items[2].v.i32, (int32_t)-i);
        }
        break;
    case C_LIST_STR:
        assert_true(cell->is_list && !cell->is_null);
        assert_int_equal(cell->n, (size_t)(i % 4));
        for (size_t k = 0; k < cell->n; k++) {
            if (k == 1) {
                assert_true(cell->items[k].is_null);
                continue;
            }
            size_t n = k == 2 ? 0 : (size_t)sprintf(buf, "e%d", (int)k);
            assert_int_equal(cell->items[k].v.bin.len, n);
            assert_memory_equal(cell->items[k].v.bin.ptr, buf, n);
        }
        break;
    default: {
        size_t n = str_of(i, c, buf);
        assert_int_equal(v->v.bin.len, n);
        if (n)
            assert_memory_equal(v->v.bin.ptr, buf, n);
        break;
    }
    }
}

static void roundtrip(int codec, int64_t nrows, bool dictionary)
{
    ts_buf f;
    pq_reader *r = NULL;
    const pq_reader_column *cols;
    int ncols;
    ts_err err;
    pq_column_spec s[NCOLS];

    specs(s);
    ts_err_clear(&err);
    write_file(&f, codec, nrows, dictionary);
    if (pq_reader_open_memory(&r, f.data, f.len, NULL, &err))
        fail_msg("open (codec %d): %s", codec, err.msg);
    assert_int_equal(pq_reader_num_rows(r), nrows);
    assert_string_equal(pq_reader_kv(r, "tsarchive.test"), "round trip");
    CHECK(pq_reader_columns(r, &cols, &ncols, &err));
    assert_int_equal(ncols, NCOLS);
    for (int c = 0; c < NCOLS; c++) {
        assert_string_equal(cols[c].spec.name, s[c].name);
        assert_int_equal(cols[c].spec.physical, s[c].physical);
        assert_int_equal(cols[c].spec.logical, s[c].logical);
        assert_int_equal(cols[c].spec.list, s[c].list);
        assert_int_equal(cols[c].spec.nullable, s[c].nullable);
        if (s[c].logical == PQ_LT_DECIMAL) {
            assert_int_equal(cols[c].spec.precision, s[c].precision);
            assert_int_equal(cols[c].spec.scale, s[c].scale);
        }
        if (s[c].logical == PQ_LT_TIMESTAMP) {
            assert_true(cols[c].spec.ts_utc);
            assert_int_equal(cols[c].spec.time_unit, PQ_UNIT_MICROS);
        }
        if (s[c].list)
            assert_true(cols[c].element_nullable);
    }
    int64_t i = 0;
    int rc;
    while ((rc = pq_reader_next_row(r, &err)) == 1) {
        for (int c = 0; c < NCOLS; c++)
            check_value(i, c, pq_reader_cell(r, c));
        i++;
    }
    if (rc < 0)
        fail_msg("read (codec %d) row %lld: %s", codec, (long long)i, err.msg);
    assert_int_equal(i, nrows);
    if (nrows > 1500)
        assert_true(pq_reader_num_row_groups(r) > 1);
    pq_reader_free(r);
    ts_buf_free(&f);
}

static void test_codecs(void **state)
{
    static const int codecs[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_SNAPPY, PQ_CODEC_GZIP,
                                 PQ_CODEC_ZSTD, PQ_CODEC_LZ4_RAW};
    (void)state;
    for (size_t k = 0; k < sizeof codecs / sizeof *codecs; k++)
        roundtrip(codecs[k], 4000, true);
}

static void test_no_dictionary(void **state)
{
    (void)state;
    roundtrip(PQ_CODEC_ZSTD, 2000, false);
}

static void test_zero_and_one_row(void **state)
{
    (void)state;
    roundtrip(PQ_CODEC_SNAPPY, 0, true);
    roundtrip(PQ_CODEC_SNAPPY, 1, true);
}

/* PQ_WRITE_SEEDS=DIR: also writes small files of this writer there (fuzz seeds). */
static void write_seeds(const char *dir)
{
    static const int codecs[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_ZSTD, PQ_CODEC_SNAPPY};
    for (int k = 0; k < 3; k++) {
        char path[1024];
        ts_buf f;
        write_file(&f, codecs[k], 12, k != 2);
        snprintf(path, sizeof path, "%s/tsarchive_writer_%d.parquet", dir, codecs[k]);
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
        cmocka_unit_test(test_codecs),
        cmocka_unit_test(test_no_dictionary),
        cmocka_unit_test(test_zero_and_one_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
