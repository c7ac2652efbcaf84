/* test_pq_writer.c: whole files through a memory sink: every type, nullability and
 * list shape, every codec and optional encoding; magic and footer framing; row group
 * and streaming behaviour; sink failure, allocation failure and API misuse.
 * With PQ_WRITER_TEST_OUT=DIR set, the files are also saved there for outside readers. */
#include "pq_testutil.h"

#include <math.h>

#include "common/alloc.h"
#include "parquet/writer.h"

enum { NCOLS = 17 };

static void sample_schema(pq_column_spec *c, pq_encoding enc)
{
    int n = 0;
    pq_column_spec_init(&c[n++], "b", PQ_BOOLEAN, PQ_LT_NONE);
    c[n - 1].nullable = true;
    pq_column_spec_init(&c[n++], "i32", PQ_INT32, PQ_LT_NONE);
    c[n - 1].nullable = true;
    pq_column_spec_init(&c[n++], "i64", PQ_INT64, PQ_LT_NONE);
    pq_column_spec_init(&c[n++], "f", PQ_FLOAT, PQ_LT_NONE);
    c[n - 1].nullable = true;
    pq_column_spec_init(&c[n++], "d", PQ_DOUBLE, PQ_LT_NONE);
    pq_column_spec_init(&c[n++], "s", PQ_BYTE_ARRAY, PQ_LT_STRING);
    c[n - 1].nullable = true;
    pq_column_spec_init(&c[n++], "u", PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_UUID);
    c[n - 1].nullable = true;
    pq_column_spec_init(&c[n++], "dt", PQ_INT32, PQ_LT_DATE);
    pq_column_spec_init(&c[n++], "ts", PQ_INT64, PQ_LT_TIMESTAMP);
    pq_column_spec_init(&c[n++], "tsl", PQ_INT64, PQ_LT_TIMESTAMP);
    c[n - 1].ts_utc = false;
    pq_column_spec_init(&c[n++], "dec", PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_DECIMAL);
    c[n - 1].type_length = 16, c[n - 1].precision = 38, c[n - 1].scale = 4;
    pq_column_spec_init(&c[n++], "dec64", PQ_INT64, PQ_LT_DECIMAL);
    c[n - 1].precision = 18, c[n - 1].scale = 2;
    pq_column_spec_init(&c[n++], "i16", PQ_INT32, PQ_LT_INT);
    c[n - 1].bit_width = 16;
    pq_column_spec_init(&c[n++], "li", PQ_INT32, PQ_LT_NONE);
    c[n - 1].list = true, c[n - 1].nullable = true;
    pq_column_spec_init(&c[n++], "ls", PQ_BYTE_ARRAY, PQ_LT_STRING);
    c[n - 1].list = true, c[n - 1].nullable = true;
    pq_column_spec_init(&c[n++], "j", PQ_BYTE_ARRAY, PQ_LT_JSON);
    pq_column_spec_init(&c[n++], "e", PQ_BYTE_ARRAY, PQ_LT_ENUM);
    assert_int_equal(n, NCOLS);
    for (int i = 0; i < n && enc != PQ_ENC_DEFAULT; i++) {
        int p = c[i].physical;
        if ((enc == PQ_ENC_DELTA_BINARY_PACKED && (p == PQ_INT32 || p == PQ_INT64)) ||
            (enc == PQ_ENC_DELTA_LENGTH_BYTE_ARRAY && p == PQ_BYTE_ARRAY) ||
            (enc == PQ_ENC_BYTE_STREAM_SPLIT && (p == PQ_FLOAT || p == PQ_DOUBLE)) ||
            (enc == PQ_ENC_RLE && p == PQ_BOOLEAN) || enc == PQ_ENC_PLAIN)
            c[i].encoding = enc;
    }
}

#define TRY(x)                                                                              \
    do {                                                                                    \
        int rc_ = (x);                                                                      \
        if (rc_)                                                                            \
            return rc_;                                                                     \
    } while (0)

/* Writes rows [from, to) of the sample data; returns the first error. */
static int sample_rows(pq_writer *w, long from, long to)
{
    char s[64];
    for (long r = from; r < to; r++) {
        int k = 0;
        uint8_t u[16], dv[16];
        if (r % 7 == 3)
            TRY(pq_write_null(w, k++));
        else
            TRY(pq_write_bool(w, k++, r % 3 == 0));
        if (r % 5 == 1)
            TRY(pq_write_null(w, k++));
        else
            TRY(pq_write_i32(w, k++, (int32_t)(r % 17) - 8));
        TRY(pq_write_i64(w, k++, r == 1 ? INT64_MIN : r == 2 ? INT64_MAX : r * 1000003LL - 5));
        if (r % 4 == 2)
            TRY(pq_write_null(w, k++));
        else
            TRY(pq_write_float(w, k++, r % 9 == 0 ? NAN : r % 9 == 1 ? -INFINITY : (float)r / 3));
        TRY(pq_write_double(w, k++, r == 0 ? -0.0 : sin((double)r)));
        if (r % 50 == 7)
            s[0] = '\0';
        else
            snprintf(s, sizeof s, "str\xc3\xa9%ld", r % 40 == 0 ? r : r % 13);
        if (r % 11 == 5)
            TRY(pq_write_null(w, k++));
        else
            TRY(pq_write_bytes(w, k++, s, strlen(s)));
        for (int i = 0; i < 16; i++)
            u[i] = (uint8_t)(r * 31 + i);
        if (r % 6 == 5)
            TRY(pq_write_null(w, k++));
        else
            TRY(pq_write_bytes(w, k++, u, 16));
        TRY(pq_write_i32(w, k++, (int32_t)(r - 500)));
        TRY(pq_write_i64(w, k++, 1700000000000000LL + r * 1000000));
        TRY(pq_write_i64(w, k++, -1700000000000000LL + r));
        memset(dv, r % 2 ? 0xff : 0, 16);
        dv[15] = (uint8_t)r;
        dv[14] = (uint8_t)(r >> 8);
        TRY(pq_write_bytes(w, k++, dv, 16));
        TRY(pq_write_i64(w, k++, r * 7 - 100));
        TRY(pq_write_i32(w, k++, (int32_t)(r % 30000) - 15000));
        if (r % 5 == 0) {
            TRY(pq_write_null(w, k++)); /* NULL list */
        } else {                        /* empty, [x], [x, NULL], [x, y, z] */
            TRY(pq_write_list_begin(w, k));
            for (int i = 0; i < r % 4; i++) {
                if (i == 1 && r % 3 == 0)
                    TRY(pq_write_null(w, k));
                else
                    TRY(pq_write_i32(w, k, i * (int)r));
            }
            TRY(pq_write_list_end(w, k++));
        }
        if (r % 5 == 1) {
            TRY(pq_write_null(w, k++));
        } else {
            TRY(pq_write_list_begin(w, k));
            for (int i = 0; i < r % 3; i++) {
                snprintf(s, sizeof s, "e%d", i);
                if (i == 1 && r % 2)
                    TRY(pq_write_null(w, k));
                else
                    TRY(pq_write_bytes(w, k, s, strlen(s)));
            }
            TRY(pq_write_list_end(w, k++));
        }
        snprintf(s, sizeof s, "{\"r\":%ld}", r);
        TRY(pq_write_bytes(w, k++, s, strlen(s)));
        TRY(pq_write_bytes(w, k++, r % 2 ? "on" : "off", r % 2 ? 2 : 3));
        TRY(pq_writer_end_rows(w));
    }
    return 0;
}

static void save(const char *name, const memsink *m)
{
    const char *dir = getenv("PQ_WRITER_TEST_OUT");
    char path[512];
    FILE *f;
    if (!dir)
        return;
    snprintf(path, sizeof path, "%s/%s.parquet", dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(m->data, 1, m->len, f), m->len);
    assert_int_equal(fclose(f), 0);
}

static int find(const memsink *m, const char *needle)
{
    return memmem(m->data, m->len, needle, strlen(needle)) != NULL;
}

/* Checks magic, footer length and the footer's first field (version). */
static void check_framing(const memsink *m)
{
    uint32_t flen;
    assert_true(m->len >= 12);
    assert_memory_equal(m->data, "PAR1", 4);
    assert_memory_equal(m->data + m->len - 4, "PAR1", 4);
    flen = (uint32_t)m->data[m->len - 8] | (uint32_t)m->data[m->len - 7] << 8 |
           (uint32_t)m->data[m->len - 6] << 16 | (uint32_t)m->data[m->len - 5] << 24;
    assert_in_range(flen, 2, m->len - 12);
    /* FileMetaData field 1 (version, i32) = 2 */
    assert_bytes(m->data + m->len - 8 - flen, 2, 0x15, 0x04);
}

static void write_file(const char *name, pq_codec codec, pq_encoding enc, long nrows,
                       int expect_groups)
{
    pq_column_spec cols[NCOLS];
    pq_writer_options o;
    memsink m = {0};
    ts_err err = {0};
    pq_write_result res;
    pq_writer *w;
    int rc;
    sample_schema(cols, enc);
    pq_writer_options_default(&o);
    o.codec = codec;
    o.row_group_rows = 300;
    o.page_bytes = 2000;
    o.page_crc = true;
    o.dictionary_bytes_limit = 500;
    w = pq_writer_new(cols, NCOLS, &o, memsink_fn, &m, &err);
    if (!w)
        fail_msg("pq_writer_new: %s", err.msg);
    assert_int_equal(pq_writer_add_kv(w, "tsarchive.table", "public.metrics"), 0);
    assert_int_equal(pq_writer_add_kv(w, "novalue", NULL), 0);
    rc = sample_rows(w, 0, nrows);
    if (rc)
        fail_msg("%s: writing rows: %s", name, pq_writer_error(w)->msg);
    rc = pq_writer_close(w, &res);
    if (rc)
        fail_msg("%s: close: %s", name, pq_writer_error(w)->msg);
    assert_int_equal(res.rows, nrows);
    assert_int_equal(res.bytes, (int64_t)m.len);
    assert_int_equal(res.row_groups, expect_groups);
    check_framing(&m);
    assert_true(find(&m, "tsarchive version " TS_VERSION " (build "));
    assert_true(find(&m, "public.metrics"));
    save(name, &m);
    pq_writer_free(w);
    memsink_free(&m);
}

static void test_all_codecs(void **state)
{
    static const pq_codec codecs[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_SNAPPY, PQ_CODEC_GZIP,
                                      PQ_CODEC_ZSTD, PQ_CODEC_LZ4_RAW};
    (void)state;
    for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "all_types_%s", pq_codec_name(codecs[i]));
        write_file(name, codecs[i], PQ_ENC_DEFAULT, 1000, 4);
    }
}

static void test_all_encodings(void **state)
{
    static const pq_encoding encs[] = {PQ_ENC_PLAIN, PQ_ENC_RLE, PQ_ENC_DELTA_BINARY_PACKED,
                                       PQ_ENC_DELTA_LENGTH_BYTE_ARRAY, PQ_ENC_BYTE_STREAM_SPLIT};
    (void)state;
    for (size_t i = 0; i < sizeof encs / sizeof encs[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "all_types_%s", pq_encoding_name(encs[i]));
        write_file(name, PQ_CODEC_SNAPPY, encs[i], 650, 3);
    }
}

static void test_one_row(void **state)
{
    (void)state;
    write_file("one_row", PQ_CODEC_ZSTD, PQ_ENC_DEFAULT, 1, 1);
}

static void test_empty_file(void **state)
{
    pq_column_spec c;
    memsink m = {0};
    ts_err err = {0};
    pq_write_result res;
    pq_writer *w;
    (void)state;
    pq_column_spec_init(&c, "x", PQ_INT64, PQ_LT_NONE);
    w = pq_writer_new(&c, 1, NULL, memsink_fn, &m, &err);
    assert_non_null(w);
    assert_int_equal(m.len, 0); /* nothing before the first row group */
    assert_int_equal(pq_writer_close(w, &res), 0);
    assert_int_equal(res.rows, 0);
    assert_int_equal(res.row_groups, 0);
    assert_int_equal(res.bytes, (int64_t)m.len);
    check_framing(&m);
    save("empty", &m);
    /* a second close is misuse, and does not write more */
    assert_int_equal(pq_writer_close(w, &res), TS_ERR_INTERNAL);
    assert_int_equal(res.bytes, 0);
    pq_writer_free(w);
    memsink_free(&m);
}

/* Output reaches the sink as row groups close, not at the end. */
static void test_streaming_and_row_groups(void **state)
{
    pq_column_spec c[2];
    pq_writer_options o;
    memsink m = {0};
    ts_err err = {0};
    pq_write_result res;
    pq_writer *w;
    int64_t v[1000];
    double d[1000];
    bool valid[1000];
    (void)state;
    for (int i = 0; i < 1000; i++) {
        v[i] = i * 3;
        d[i] = i * 0.5;
        valid[i] = i % 10 != 0;
    }
    pq_column_spec_init(&c[0], "v", PQ_INT64, PQ_LT_NONE);
    pq_column_spec_init(&c[1], "d", PQ_DOUBLE, PQ_LT_NONE);
    c[1].nullable = true;
    pq_writer_options_default(&o);
    o.row_group_rows = 2500;
    w = pq_writer_new(c, 2, &o, memsink_fn, &m, &err);
    assert_non_null(w);
    assert_int_equal(pq_write_i64_batch(w, 0, v, NULL, 1000), 0);
    assert_int_equal(pq_write_double_batch(w, 1, d, valid, 1000), 0);
    assert_int_equal(pq_writer_end_rows(w), 0);
    assert_int_equal(m.len, 0);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(pq_write_i64_batch(w, 0, v, NULL, 1000), 0);
        assert_int_equal(pq_write_double_batch(w, 1, d, valid, 1000), 0);
        assert_int_equal(pq_writer_end_rows(w), 0);
    }
    assert_true(m.len > 4); /* 3000 rows >= 2500: the row group went out at end_rows */
    assert_int_equal(pq_write_i64_batch(w, 0, v, NULL, 10), 0);
    assert_int_equal(pq_write_double_batch(w, 1, d, NULL, 10), 0);
    assert_int_equal(pq_writer_end_rows(w), 0);
    assert_int_equal(pq_writer_close(w, &res), 0);
    assert_int_equal(res.rows, 3010);
    assert_int_equal(res.row_groups, 2);
    check_framing(&m);
    save("batches", &m);
    pq_writer_free(w);
    memsink_free(&m);

    /* row_group_bytes closes groups too: 8-byte values, 40000-byte groups */
    memset(&m, 0, sizeof m);
    pq_column_spec_init(&c[0], "v", PQ_INT64, PQ_LT_NONE);
    c[0].encoding = PQ_ENC_PLAIN;
    pq_writer_options_default(&o);
    o.row_group_bytes = 40000;
    o.page_bytes = 4096;
    w = pq_writer_new(c, 1, &o, memsink_fn, &m, &err);
    assert_non_null(w);
    for (int k = 0; k < 20; k++) {
        assert_int_equal(pq_write_i64_batch(w, 0, v, NULL, 1000), 0);
        assert_int_equal(pq_writer_end_rows(w), 0);
    }
    assert_int_equal(pq_writer_close(w, &res), 0);
    assert_int_equal(res.rows, 20000);
    assert_in_range(res.row_groups, 4, 6);
    pq_writer_free(w);
    memsink_free(&m);
}

static void test_sink_failure(void **state)
{
    (void)state;
    for (int at = 1; at <= 40; at++) {
        pq_column_spec cols[NCOLS];
        pq_writer_options o;
        memsink m = {0};
        ts_err err = {0};
        pq_write_result res;
        pq_writer *w;
        int rc;
        m.fail_at = at;
        sample_schema(cols, PQ_ENC_DEFAULT);
        pq_writer_options_default(&o);
        o.row_group_rows = 100;
        w = pq_writer_new(cols, NCOLS, &o, memsink_fn, &m, &err);
        assert_non_null(w);
        rc = sample_rows(w, 0, 500);
        if (!rc)
            rc = pq_writer_close(w, &res);
        if (m.calls < at) { /* the file needed fewer sink calls */
            assert_int_equal(rc, 0);
            pq_writer_free(w);
            memsink_free(&m);
            break;
        }
        assert_int_equal(rc, TS_ERR_IO);
        /* the sink's own message wins, and the writer stays failed */
        assert_non_null(strstr(pq_writer_error(w)->msg, "test sink refuses"));
        assert_int_equal(pq_writer_error(w)->code, TS_ERR_IO);
        assert_int_equal(pq_write_i64(w, 2, 1), TS_ERR_IO);
        assert_int_equal(pq_writer_end_rows(w), TS_ERR_IO);
        assert_int_equal(pq_writer_close(w, &res), TS_ERR_IO);
        assert_int_equal(m.calls, at); /* no call after the failure */
        pq_writer_free(w);
        memsink_free(&m);
    }
}

static int alloc_scenario(memsink *m)
{
    pq_column_spec cols[NCOLS];
    pq_writer_options o;
    ts_err err = {0};
    pq_write_result res;
    pq_writer *w;
    int rc;
    sample_schema(cols, PQ_ENC_DEFAULT);
    cols[2].encoding = PQ_ENC_DELTA_BINARY_PACKED;
    cols[4].encoding = PQ_ENC_BYTE_STREAM_SPLIT;
    cols[15].encoding = PQ_ENC_DELTA_LENGTH_BYTE_ARRAY;
    pq_writer_options_default(&o);
    o.codec = PQ_CODEC_GZIP;
    o.row_group_rows = 150;
    o.page_bytes = 1000;
    o.dictionary_bytes_limit = 100;
    o.page_crc = true;
    w = pq_writer_new(cols, NCOLS, &o, memsink_fn, m, &err);
    if (!w) {
        assert_int_equal(err.code, TS_ERR_NOMEM);
        return err.code;
    }
    rc = pq_writer_add_kv(w, "k", "v");
    if (!rc)
        rc = sample_rows(w, 0, 400);
    if (!rc)
        rc = pq_writer_close(w, &res);
    if (rc) {
        assert_int_equal(rc, TS_ERR_NOMEM);
        assert_int_equal(pq_writer_error(w)->code, TS_ERR_NOMEM);
        assert_true(pq_writer_error(w)->msg[0] != '\0');
        /* stays failed */
        assert_int_equal(pq_writer_end_rows(w), TS_ERR_NOMEM);
    }
    pq_writer_free(w);
    return rc;
}

static void test_alloc_failure(void **state)
{
    long nth;
    (void)state;
    for (nth = 1; nth < 100000; nth++) {
        memsink m = {0};
        int rc;
        ts_alloc_fail_after(nth);
        rc = alloc_scenario(&m);
        ts_alloc_fail_after(0);
        if (rc == 0) {
            check_framing(&m);
            memsink_free(&m);
            break;
        }
        memsink_free(&m);
    }
    assert_in_range(nth, 2, 99999);
}

static void test_misuse(void **state)
{
    pq_column_spec c[3];
    memsink m = {0};
    ts_err err = {0};
    pq_writer *w;
    uint8_t five[5] = {0};
    (void)state;
    pq_column_spec_init(&c[0], "a", PQ_INT32, PQ_LT_NONE);
    pq_column_spec_init(&c[1], "l", PQ_INT32, PQ_LT_NONE);
    c[1].list = true;
    pq_column_spec_init(&c[2], "u", PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_UUID);

#define FRESH()                                                                             \
    do {                                                                                    \
        pq_writer_free(w);                                                                  \
        w = pq_writer_new(c, 3, NULL, memsink_fn, &m, &err);                                \
        assert_non_null(w);                                                                 \
    } while (0)
    w = NULL;
    FRESH();
    assert_int_equal(pq_write_i64(w, 0, 1), TS_ERR_INTERNAL); /* wrong type */
    assert_non_null(strstr(pq_writer_error(w)->msg, "\"a\""));
    assert_int_equal(pq_write_i32(w, 0, 1), TS_ERR_INTERNAL); /* stays failed */
    FRESH();
    assert_int_equal(pq_write_null(w, 0), TS_ERR_INTERNAL); /* NULL in REQUIRED */
    FRESH();
    assert_int_equal(pq_write_i32(w, 7, 1), TS_ERR_INTERNAL); /* no such column */
    FRESH();
    assert_int_equal(pq_write_i32(w, 1, 1), TS_ERR_INTERNAL); /* list value outside a list */
    FRESH();
    assert_int_equal(pq_write_list_end(w, 1), TS_ERR_INTERNAL);
    FRESH();
    assert_int_equal(pq_write_list_begin(w, 0), TS_ERR_INTERNAL); /* not a list */
    FRESH();
    assert_int_equal(pq_write_bytes(w, 2, five, 5), TS_ERR_INTERNAL); /* FLBA length */
    FRESH();
    assert_int_equal(pq_write_i32(w, 0, 1), 0);
    assert_int_equal(pq_writer_end_rows(w), TS_ERR_INTERNAL); /* columns disagree */
    assert_non_null(strstr(pq_writer_error(w)->msg, "rows"));
    FRESH();
    assert_int_equal(pq_write_i32(w, 0, 1), 0);
    assert_int_equal(pq_write_list_begin(w, 1), 0);
    assert_int_equal(pq_write_bytes(w, 2, five, 5), TS_ERR_INTERNAL);
    FRESH();
    assert_int_equal(pq_write_i32(w, 0, 1), 0);
    assert_int_equal(pq_write_list_begin(w, 1), 0);
    assert_int_equal(pq_write_null(w, 2), TS_ERR_INTERNAL); /* u is REQUIRED */
    FRESH();
    assert_int_equal(pq_write_list_begin(w, 1), 0);
    assert_int_equal(pq_writer_end_rows(w), TS_ERR_INTERNAL); /* list still open */
    FRESH();
    assert_int_equal(pq_write_null(w, 1), TS_ERR_INTERNAL); /* list column is REQUIRED */
    FRESH();
    assert_int_equal(pq_write_i32_batch(w, 1, (int32_t[]){1}, NULL, 1), TS_ERR_INTERNAL);
    pq_writer_free(w);
    assert_int_equal(m.len, 0);

    /* schemas that cannot be written */
    pq_column_spec_init(&c[0], "a", PQ_INT32, PQ_LT_STRING);
    assert_null(pq_writer_new(c, 1, NULL, memsink_fn, &m, &err));
    assert_int_equal(err.code, TS_ERR_INVALID);
    ts_err_clear(&err);
    pq_column_spec_init(&c[0], "a", PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_DECIMAL);
    c[0].type_length = 4, c[0].precision = 10;
    assert_null(pq_writer_new(c, 1, NULL, memsink_fn, &m, &err));
    ts_err_clear(&err);
    pq_column_spec_init(&c[0], "a", PQ_DOUBLE, PQ_LT_NONE);
    c[0].encoding = PQ_ENC_DELTA_BINARY_PACKED;
    assert_null(pq_writer_new(c, 1, NULL, memsink_fn, &m, &err));
    ts_err_clear(&err);
    pq_column_spec_init(&c[0], "a", PQ_INT32, PQ_LT_NONE);
    pq_column_spec_init(&c[1], "a", PQ_INT32, PQ_LT_NONE);
    assert_null(pq_writer_new(c, 2, NULL, memsink_fn, &m, &err));
    assert_non_null(strstr(err.msg, "twice"));
    ts_err_clear(&err);
    pq_column_spec_init(&c[0], "a", PQ_INT96, PQ_LT_NONE);
    assert_null(pq_writer_new(c, 1, NULL, memsink_fn, &m, &err));
    assert_int_equal(err.code, TS_ERR_UNSUPPORTED);
#undef FRESH
}

/* A high-cardinality column leaves the dictionary; a low one keeps it; a dictionary
 * passing its byte limit mid-chunk falls back to PLAIN for the rest. */
static void test_dictionary_paths(void **state)
{
    pq_column_spec c[3];
    pq_writer_options o;
    memsink m = {0};
    ts_err err = {0};
    pq_write_result res;
    pq_writer *w;
    (void)state;
    pq_column_spec_init(&c[0], "uniq", PQ_INT64, PQ_LT_NONE);
    pq_column_spec_init(&c[1], "few", PQ_BYTE_ARRAY, PQ_LT_STRING);
    pq_column_spec_init(&c[2], "grow", PQ_BYTE_ARRAY, PQ_LT_STRING);
    pq_writer_options_default(&o);
    o.dictionary_bytes_limit = 20000;
    o.page_bytes = 8192;
    w = pq_writer_new(c, 3, &o, memsink_fn, &m, &err);
    assert_non_null(w);
    for (int r = 0; r < 50000; r++) {
        char s[32];
        int n;
        assert_int_equal(pq_write_i64(w, 0, (int64_t)r * 7919), 0);
        n = snprintf(s, sizeof s, "status-%d", r % 5);
        assert_int_equal(pq_write_bytes(w, 1, s, (size_t)n), 0);
        n = snprintf(s, sizeof s, "v%d", r < 20000 ? r % 100 : r);
        assert_int_equal(pq_write_bytes(w, 2, s, (size_t)n), 0);
        assert_int_equal(pq_writer_end_rows(w), 0);
    }
    assert_int_equal(pq_writer_close(w, &res), 0);
    check_framing(&m);
    save("dictionary_paths", &m);
    pq_writer_free(w);
    memsink_free(&m);
}

/* Writes one column of n doubles / one string; returns the whole file in m. */
static void one_column(memsink *m, pq_physical phys, const double *d, size_t n, const char *str)
{
    pq_column_spec c;
    ts_err err = {0};
    pq_writer_options o;
    pq_writer *w;
    pq_column_spec_init(&c, "x", phys, phys == PQ_BYTE_ARRAY ? PQ_LT_STRING : PQ_LT_NONE);
    c.encoding = PQ_ENC_PLAIN;
    pq_writer_options_default(&o);
    o.codec = PQ_CODEC_UNCOMPRESSED;
    w = pq_writer_new(&c, 1, &o, memsink_fn, m, &err);
    assert_non_null(w);
    if (phys == PQ_DOUBLE)
        assert_int_equal(pq_write_double_batch(w, 0, d, NULL, n), 0);
    else
        assert_int_equal(pq_write_bytes(w, 0, str, strlen(str)), 0);
    assert_int_equal(pq_writer_end_rows(w), 0);
    assert_int_equal(pq_writer_close(w, NULL), 0);
    pq_writer_free(w);
}

static int has_bytes(const memsink *m, const uint8_t *p, size_t n)
{
    return memmem(m->data, m->len, p, n) != NULL;
}

/* Statistics structs, byte for byte: -0.0 / +0.0, NaN ignored, all-NaN without
 * min/max, long strings truncated and marked inexact. */
static void test_statistics_bytes(void **state)
{
    static const double zeros[3] = {0.0, -0.0, NAN};
    static const double nans[2] = {NAN, NAN};
    /* {1: max +0, 2: min -0, 3: null_count 0, 5: max_value +0, 6: min_value -0,
     *  7: true, 8: true} */
    static const uint8_t zero_stats[] = {0x18, 8, 0, 0, 0, 0, 0, 0, 0, 0,    0x18, 8, 0, 0, 0,
                                         0,    0, 0, 0, 0x80, 0x16, 0, 0x28, 8, 0, 0, 0, 0,
                                         0,    0, 0, 0, 0x18, 8, 0, 0, 0, 0, 0, 0, 0, 0x80,
                                         0x11, 0x11, 0};
    /* DataPageHeader field 5 = {3: null_count 0} and nothing else */
    static const uint8_t nan_page_stats[] = {0x1c, 0x36, 0x00, 0x00};
    static const uint8_t min_prefix[] = {0x18, 0x80, 0x02, 'a', 'a', 'a'};
    uint8_t max_tail[] = {'a', 'a', 'b', 0x18, 0x80, 0x02};
    char big[301];
    memsink m = {0};
    (void)state;
    one_column(&m, PQ_DOUBLE, zeros, 3, NULL);
    assert_true(has_bytes(&m, zero_stats, sizeof zero_stats));
    memsink_free(&m);
    one_column(&m, PQ_DOUBLE, nans, 2, NULL);
    assert_true(has_bytes(&m, nan_page_stats, sizeof nan_page_stats));
    memsink_free(&m);
    memset(big, 'a', 300);
    big[300] = 0;
    one_column(&m, PQ_BYTE_ARRAY, NULL, 0, big);
    /* max_value: 256 bytes, the last one 'a' + 1; then min_value: 256 x 'a' */
    assert_true(has_bytes(&m, max_tail, sizeof max_tail));
    assert_true(has_bytes(&m, min_prefix, sizeof min_prefix));
    memsink_free(&m);
}

static void test_int_ranges(void **state)
{
    pq_column_spec c[2];
    memsink m = {0};
    ts_err err = {0};
    pq_writer *w;
    int32_t ok[3] = {-128, 0, 127}, bad[2] = {1, 128};
    (void)state;
    pq_column_spec_init(&c[0], "i8", PQ_INT32, PQ_LT_INT);
    c[0].bit_width = 8;
    pq_column_spec_init(&c[1], "u16", PQ_INT32, PQ_LT_INT);
    c[1].bit_width = 16, c[1].is_signed = false;
    w = pq_writer_new(c, 2, NULL, memsink_fn, &m, &err);
    assert_non_null(w);
    assert_int_equal(pq_write_i32_batch(w, 0, ok, NULL, 3), 0);
    assert_int_equal(pq_write_i32(w, 1, 65535), 0);
    assert_int_equal(pq_write_i32(w, 1, 0), 0);
    assert_int_equal(pq_write_i32(w, 1, 7), 0);
    assert_int_equal(pq_writer_end_rows(w), 0);
    assert_int_equal(pq_write_i32_batch(w, 0, bad, NULL, 2), TS_ERR_INTERNAL);
    assert_non_null(strstr(pq_writer_error(w)->msg, "INT(8)"));
    pq_writer_free(w);
    w = pq_writer_new(c, 2, NULL, memsink_fn, &m, &err);
    assert_int_equal(pq_write_i32(w, 1, -1), TS_ERR_INTERNAL);
    pq_writer_free(w);
    memsink_free(&m);
}

static void test_names(void **state)
{
    pq_column_spec s;
    (void)state;
    assert_int_equal(pq_codec_parse("ZSTD"), PQ_CODEC_ZSTD);
    assert_int_equal(pq_codec_parse("lz4_raw"), PQ_CODEC_LZ4_RAW);
    assert_int_equal(pq_codec_parse("Snappy"), PQ_CODEC_SNAPPY);
    assert_int_equal(pq_codec_parse("brotli"), -1);
    assert_string_equal(pq_codec_name(PQ_CODEC_GZIP), "gzip");
    assert_string_equal(pq_encoding_name(PQ_ENC_RLE_DICTIONARY), "RLE_DICTIONARY");
    assert_string_equal(pq_physical_name(PQ_FIXED_LEN_BYTE_ARRAY), "FIXED_LEN_BYTE_ARRAY");
    pq_column_spec_init(&s, "u", PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_UUID);
    assert_int_equal(s.type_length, 16);
    assert_int_equal(s.encoding, PQ_ENC_DEFAULT);
    assert_false(s.nullable);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_all_codecs),
        cmocka_unit_test(test_all_encodings),
        cmocka_unit_test(test_one_row),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_streaming_and_row_groups),
        cmocka_unit_test(test_dictionary_paths),
        cmocka_unit_test(test_sink_failure),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_statistics_bytes),
        cmocka_unit_test(test_int_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
