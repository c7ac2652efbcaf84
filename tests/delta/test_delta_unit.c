/* test_delta_unit.c: the Delta log's pieces with exact vectors: stats values (timestamps,
 * dates, numbers, string bounds), data-file path URIs, each action's JSON byte for byte,
 * the type map, a file's schema and stats for every type (nulls, NaN, infinities, long
 * strings, several row groups), schema growth, and replay of good, hostile and
 * truncated commits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <float.h>
#include <math.h>

#include "delta/delta_int.h"
#include "delta/list.h"
#include "delta_testutil.h"

/* ---- values ---- */

static void ts(int64_t us, bool utc, bool up, const char *want)
{
    char out[64] = "";
    int rc = delta_format_timestamp(us, utc, up, out, sizeof out);
    if (!want) {
        assert_int_equal(rc, -1);
        return;
    }
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
}

static void test_timestamps(void **state)
{
    (void)state;
    ts(0, true, false, "1970-01-01T00:00:00.000Z");
    ts(0, true, true, "1970-01-01T00:00:00.000Z");
    ts(1, true, false, "1970-01-01T00:00:00.000Z");
    ts(1, true, true, "1970-01-01T00:00:00.001Z");
    ts(-1, true, false, "1969-12-31T23:59:59.999Z");
    ts(-1, true, true, "1970-01-01T00:00:00.000Z");
    ts(1706704496789012, true, false, "2024-01-31T12:34:56.789Z");
    ts(1706704496789012, true, true, "2024-01-31T12:34:56.790Z");
    ts(1706704496789000, true, true, "2024-01-31T12:34:56.789Z");
    ts(1706704496789012, false, false, "2024-01-31T12:34:56.789");
    ts(INT64_C(253402300799999999), true, false, "9999-12-31T23:59:59.999Z");
    ts(INT64_C(253402300799999999), true, true, NULL); /* 10000-01-01: no bound */
    ts(INT64_C(-62135596800000000), true, false, "0001-01-01T00:00:00.000Z");
    ts(INT64_C(-62135596800000001), true, false, NULL);
    ts(INT64_MAX, true, true, NULL);   /* infinity as tsarchive stores it */
    ts(-INT64_MAX, true, false, NULL); /* -infinity */
    ts(INT64_MIN, true, false, NULL);
}

static void test_dates_numbers(void **state)
{
    char out[64];
    (void)state;
    assert_int_equal(delta_format_date(0, out, sizeof out), 0);
    assert_string_equal(out, "1970-01-01");
    assert_int_equal(delta_format_date(19753, out, sizeof out), 0);
    assert_string_equal(out, "2024-01-31");
    assert_int_equal(delta_format_date(2932896, out, sizeof out), 0);
    assert_string_equal(out, "9999-12-31");
    assert_int_equal(delta_format_date(-719162, out, sizeof out), 0);
    assert_string_equal(out, "0001-01-01");
    assert_int_equal(delta_format_date(2932897, out, sizeof out), -1);
    assert_int_equal(delta_format_date(INT32_MAX, out, sizeof out), -1);  /* infinity */
    assert_int_equal(delta_format_date(-INT32_MAX, out, sizeof out), -1); /* -infinity */

    static const struct {
        double d;
        const char *want;
    } nums[] = {
        {0.1, "0.1"},
        {1.0, "1.0"},
        {-0.0, "-0.0"},
        {1e300, "1e+300"},
        {(double)0.1f, "0.10000000149011612"}, /* a float's exact value: a bound as double too */
        {123456789.0, "123456789.0"},
        {1.5e-7, "1.5e-07"},
        {DBL_MAX, "1.7976931348623157e+308"},
        {(double)FLT_MAX, "3.4028234663852886e+38"},
        {-2.25, "-2.25"},
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        delta_format_double(nums[i].d, out, sizeof out);
        assert_string_equal(out, nums[i].want);
        assert_true(strtod(out, NULL) == nums[i].d);
    }
}

static char *str_min(const char *s, size_t len)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    int rc = delta_string_min(&b, (const uint8_t *)s, len, 32);
    char *r = rc == 0 ? strdup(ts_buf_cstr(&b)) : NULL;
    ts_buf_free(&b);
    return r;
}

static char *str_max(const char *s, size_t len)
{
    ts_buf b;
    ts_buf_init(&b, 0);
    int rc = delta_string_max(&b, (const uint8_t *)s, len, 32);
    char *r = rc == 0 ? strdup(ts_buf_cstr(&b)) : NULL;
    ts_buf_free(&b);
    return r;
}

#define A32 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define MAXCP "\xf4\x8f\xbf\xbf" /* U+10FFFF */

static void expect_bound(char *got, const char *want)
{
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_string_bounds(void **state)
{
    (void)state;
    /* short strings are kept whole, JSON-escaped */
    expect_bound(str_min("a\"b\\c\n\x01", 7), "\"a\\\"b\\\\c\\n\\u0001\"");
    expect_bound(str_max("abc", 3), "\"abc\"");
    expect_bound(str_min(A32, 32), "\"" A32 "\"");
    expect_bound(str_max(A32, 32), "\"" A32 "\"");
    /* longer: min is the 32-unit prefix; max the prefix + U+007F (next char < 0x7F) */
    expect_bound(str_min(A32 "bcd", 35), "\"" A32 "\"");
    expect_bound(str_max(A32 "bcd", 35), "\"" A32 "\x7f\"");
    /* ... or + U+10FFFF when the next character is not below U+007F */
    expect_bound(str_max(A32 "\xc3\xa9z", 35), "\"" A32 MAXCP "\"");
    expect_bound(str_max(A32 "\x7f"
                             "z",
                         34),
                 "\"" A32 MAXCP "\"");
    /* a supplementary character across the boundary is kept whole (33 units) */
    {
        const char *s = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xf0\x9f\x98\x80xyz"; /* 31 a + U+1F600 */
        expect_bound(str_min(s, strlen(s)), "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xf0\x9f\x98\x80\"");
        expect_bound(str_max(s, strlen(s)),
                     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xf0\x9f\x98\x80\x7f\"");
    }
    /* U+10FFFF after the prefix is skipped over (it cannot be exceeded) */
    expect_bound(str_max(A32 MAXCP "b", 37), "\"" A32 MAXCP "\x7f\"");
    /* only U+10FFFF past 64 units: no upper bound can be written */
    {
        char s[32 + 4 * 20 + 2];
        memcpy(s, A32, 32);
        for (int i = 0; i < 20; i++)
            memcpy(s + 32 + 4 * i, MAXCP, 4);
        s[32 + 80] = 'x';
        expect_bound(str_max(s, 32 + 81), NULL);
    }
    /* not UTF-8: no bound */
    expect_bound(str_min("ab\xff", 3), NULL);
    expect_bound(str_max("ab\xc3", 3), NULL);
    expect_bound(str_min("\xed\xa0\x80", 3), NULL); /* a surrogate */
    expect_bound(str_min("\xc0\xaf", 2), NULL);     /* overlong */
}

/* ---- paths ---- */

static void test_uri(void **state)
{
    ts_err err;
    char *enc, *dec;
    (void)state;
    ts_err_clear(&err);
    enc = delta_uri_encode("year=2024/month=01/a b%c:d+e/\xc3\xa9~_-.parquet");
    assert_string_equal(enc, "year=2024/month=01/a%20b%25c%3Ad%2Be/%C3%A9~_-.parquet");
    assert_int_equal(delta_uri_decode(enc, &dec, &err), 0);
    assert_string_equal(dec, "year=2024/month=01/a b%c:d+e/\xc3\xa9~_-.parquet");
    ts_free(enc);
    ts_free(dec);
    /* tsarchive's own object names already hold %XX: encoded once more */
    enc = delta_uri_encode("_hyper_1_2_chunk%20x.parquet");
    assert_string_equal(enc, "_hyper_1_2_chunk%2520x.parquet");
    ts_free(enc);
    /* other writers: raw non-ASCII, lower-case escapes, '+' stays '+' */
    assert_int_equal(delta_uri_decode("a+b/%c3%a9\xc3\xa9", &dec, &err), 0);
    assert_string_equal(dec, "a+b/\xc3\xa9\xc3\xa9");
    ts_free(dec);
    CHECK_ERR(delta_uri_decode("a%2", &dec, &err), &err, TS_ERR_FORMAT, "bad %-escape");
    CHECK_ERR(delta_uri_decode("a%zz", &dec, &err), &err, TS_ERR_FORMAT, "bad %-escape");
    CHECK_ERR(delta_uri_decode("a%00b", &dec, &err), &err, TS_ERR_FORMAT, "bad %-escape");
    CHECK_ERR(delta_uri_decode("%", &dec, &err), &err, TS_ERR_FORMAT, "at byte 0");

    assert_int_equal(delta_path_check("year=2024/month=01/_hyper_1_2_chunk.parquet", &err), 0);
    assert_int_equal(delta_path_check("_file_at_root.parquet", &err), 0);
    CHECK_ERR(delta_path_check("_delta_log/x.json", &err), &err, TS_ERR_INVALID, "hidden folder");
    CHECK_ERR(delta_path_check("a/.tmp/x", &err), &err, TS_ERR_INVALID, "hidden folder");
    CHECK_ERR(delta_path_check("abfss://c@a/x.parquet", &err), &err, TS_ERR_INVALID,
              "data file path");
    CHECK_ERR(delta_path_check("s3:x/y.parquet", &err), &err, TS_ERR_UNSUPPORTED, "absolute URI");
    CHECK_ERR(delta_path_check("../x", &err), &err, TS_ERR_INVALID, "data file path");
    CHECK_ERR(delta_path_check("/x", &err), &err, TS_ERR_INVALID, "data file path");
}

/* ---- actions ---- */

static char *line(json_t *action)
{
    ts_buf b;
    ts_err err;
    ts_err_clear(&err);
    ts_buf_init(&b, 0);
    CHECK_OK(delta_line_append(&b, action, &err), &err);
    char *r = strdup(ts_buf_cstr(&b));
    ts_buf_free(&b);
    return r;
}

static void expect_line(json_t *action, const char *want)
{
    char *got = line(action);
    assert_string_equal(got, want);
    free(got);
}

static void test_actions(void **state)
{
    static const char *const ntz[] = {"timestampNtz"};
    static const char *const wf[] = {"appendOnly", "invariants", "timestampNtz"};
    const char *id = "0f8fad5b-d9cb-469f-a165-70867728950e";
    delta_protocol p = {1, 2, 0, 0, NULL, NULL};
    (void)state;

    expect_line(delta_action_protocol(&p),
                "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n");
    p = (delta_protocol){3, 7, 1, 1, ntz, ntz};
    expect_line(delta_action_protocol(&p),
                "{\"protocol\":{\"minReaderVersion\":3,\"minWriterVersion\":7,\"readerFeatures\":"
                "[\"timestampNtz\"],\"writerFeatures\":[\"timestampNtz\"]}}\n");
    p = (delta_protocol){3, 7, 1, 3, ntz, wf};
    expect_line(delta_action_protocol(&p),
                "{\"protocol\":{\"minReaderVersion\":3,\"minWriterVersion\":7,\"readerFeatures\":"
                "[\"timestampNtz\"],\"writerFeatures\":[\"appendOnly\",\"invariants\","
                "\"timestampNtz\"]}}\n");

    json_t *conf = json_pack("{s:s}", "tsarchive.source", "metrics.public.m");
    expect_line(
        delta_action_metadata(id, "{\"type\":\"struct\",\"fields\":[]}", 1700000000000, conf),
        "{\"metaData\":{\"id\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"format\":{"
        "\"provider\":\"parquet\",\"options\":{}},\"schemaString\":\"{\\\"type\\\":"
        "\\\"struct\\\",\\\"fields\\\":[]}\",\"partitionColumns\":[],\"configuration\":{"
        "\"tsarchive.source\":\"metrics.public.m\"},\"createdTime\":1700000000000}}\n");
    json_decref(conf);

    delta_kv tags[] = {{"tsarchive.chunk", "[\"_timescaledb_internal\",\"_hyper_1_2_chunk\"]"},
                       {"tsarchive.proof", "sha256:ab"}};
    char *raw = delta_uri_encode("year=2024/month=01/a b.parquet");
    expect_line(delta_action_add(raw, 1234, 1700000000001, "{\"numRecords\":3}", tags, 2),
                "{\"add\":{\"path\":\"year=2024/month=01/a%20b.parquet\",\"partitionValues\":{},"
                "\"size\":1234,\"modificationTime\":1700000000001,\"dataChange\":true,\"stats\":"
                "\"{\\\"numRecords\\\":3}\",\"tags\":{\"tsarchive.chunk\":\"[\\\"_timescaledb_"
                "internal\\\",\\\"_hyper_1_2_chunk\\\"]\",\"tsarchive.proof\":\"sha256:ab\"}}}\n");
    expect_line(delta_action_add(raw, 0, 1, NULL, NULL, 0),
                "{\"add\":{\"path\":\"year=2024/month=01/a%20b.parquet\",\"partitionValues\":{},"
                "\"size\":0,\"modificationTime\":1,\"dataChange\":true}}\n");
    expect_line(delta_action_remove(raw, 1700000000002, 1234),
                "{\"remove\":{\"path\":\"year=2024/month=01/a%20b.parquet\",\"deletionTimestamp\":"
                "1700000000002,\"dataChange\":true,\"extendedFileMetadata\":true,"
                "\"partitionValues\":{},\"size\":1234}}\n");
    ts_free(raw);
    expect_line(delta_action_commit_info(1700000000003, "WRITE", NULL, true, id),
                "{\"commitInfo\":{\"timestamp\":1700000000003,\"operation\":\"WRITE\","
                "\"operationParameters\":{\"mode\":\"Append\",\"partitionBy\":\"[]\"},"
                "\"isolationLevel\":\"WriteSerializable\",\"isBlindAppend\":true,\"engineInfo\":"
                "\"tsarchive/" TS_VERSION
                "\",\"txnId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\"}}\n");
    json_t *params = json_pack("{s:s}", "predicate", "[\"chunk superseded\"]");
    expect_line(
        delta_action_commit_info(5, "DELETE", params, false, id),
        "{\"commitInfo\":{\"timestamp\":5,\"operation\":\"DELETE\",\"operationParameters\":"
        "{\"predicate\":\"[\\\"chunk superseded\\\"]\"},\"isolationLevel\":"
        "\"WriteSerializable\",\"isBlindAppend\":false,\"engineInfo\":\"tsarchive/" TS_VERSION
        "\",\"txnId\":\"0f8fad5b-d9cb-469f-a165-70867728950e\"}}\n");
    json_decref(params);

    char a[37], b[37];
    ts_err err;
    ts_err_clear(&err);
    assert_int_equal(delta_uuid(a, &err), 0);
    assert_int_equal(delta_uuid(b, &err), 0);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '4');
    assert_true(strchr("89ab", a[19]) != NULL);
    assert_string_not_equal(a, b);
    char *cp = delta_commit_path("c1/metrics/public.m", 42);
    assert_string_equal(cp, "c1/metrics/public.m/_delta_log/00000000000000000042.json");
    ts_free(cp);
    cp = delta_commit_path("", 0);
    assert_string_equal(cp, "_delta_log/00000000000000000000.json");
    ts_free(cp);
}

/* ---- the type map ---- */

static void map(pq_physical ph, pq_logical lt, void (*tweak)(pq_column_spec *), const char *want,
                delta_stat_kind want_kind)
{
    pq_column_spec s;
    char name[64];
    delta_stat_kind kind;
    ts_err err;
    ts_err_clear(&err);
    pq_column_spec_init(&s, "c", ph, lt);
    if (tweak)
        tweak(&s);
    int rc = delta_map_type(&s, name, sizeof name, &kind, &err);
    if (!want) {
        assert_int_equal(rc, TS_ERR_UNSUPPORTED);
        assert_non_null(strstr(err.msg, "column \"c\""));
        return;
    }
    if (rc != 0)
        fail_msg("%s", err.msg);
    assert_string_equal(name, want);
    assert_int_equal(kind, want_kind);
}

static void w8(pq_column_spec *s)
{
    s->bit_width = 8;
}
static void w16(pq_column_spec *s)
{
    s->bit_width = 16;
}
static void unsig(pq_column_spec *s)
{
    s->is_signed = false;
}
static void local(pq_column_spec *s)
{
    s->ts_utc = false;
}
static void millis(pq_column_spec *s)
{
    s->time_unit = PQ_UNIT_MILLIS;
}
static void nanos(pq_column_spec *s)
{
    s->time_unit = PQ_UNIT_NANOS;
}
static void dec12_2(pq_column_spec *s)
{
    s->precision = 12;
    s->scale = 2;
}
static void dec40(pq_column_spec *s)
{
    s->precision = 40;
    s->scale = 2;
}

static void test_type_map(void **state)
{
    (void)state;
    map(PQ_BOOLEAN, PQ_LT_NONE, NULL, "boolean", DELTA_STAT_NONE);
    map(PQ_INT32, PQ_LT_INT, w8, "byte", DELTA_STAT_INT);
    map(PQ_INT32, PQ_LT_INT, w16, "short", DELTA_STAT_INT);
    map(PQ_INT32, PQ_LT_INT, NULL, "integer", DELTA_STAT_INT);
    map(PQ_INT32, PQ_LT_NONE, NULL, "integer", DELTA_STAT_INT);
    map(PQ_INT64, PQ_LT_INT, NULL, "long", DELTA_STAT_INT);
    map(PQ_INT64, PQ_LT_NONE, NULL, "long", DELTA_STAT_INT);
    map(PQ_FLOAT, PQ_LT_NONE, NULL, "float", DELTA_STAT_FLOAT);
    map(PQ_DOUBLE, PQ_LT_NONE, NULL, "double", DELTA_STAT_DOUBLE);
    map(PQ_INT32, PQ_LT_DATE, NULL, "date", DELTA_STAT_DATE);
    map(PQ_INT64, PQ_LT_TIMESTAMP, NULL, "timestamp", DELTA_STAT_TIMESTAMP);
    map(PQ_INT64, PQ_LT_TIMESTAMP, local, "timestamp_ntz", DELTA_STAT_TIMESTAMP_NTZ);
    map(PQ_INT64, PQ_LT_TIMESTAMP, millis, "timestamp", DELTA_STAT_TIMESTAMP);
    map(PQ_INT32, PQ_LT_DECIMAL, dec12_2, "decimal(12,2)", DELTA_STAT_DECIMAL);
    map(PQ_INT64, PQ_LT_DECIMAL, dec12_2, "decimal(12,2)", DELTA_STAT_DECIMAL);
    map(PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_DECIMAL, dec12_2, "decimal(12,2)", DELTA_STAT_DECIMAL);
    map(PQ_BYTE_ARRAY, PQ_LT_DECIMAL, dec12_2, "decimal(12,2)", DELTA_STAT_DECIMAL);
    map(PQ_BYTE_ARRAY, PQ_LT_STRING, NULL, "string", DELTA_STAT_STRING);
    map(PQ_BYTE_ARRAY, PQ_LT_ENUM, NULL, "string", DELTA_STAT_STRING);
    map(PQ_BYTE_ARRAY, PQ_LT_JSON, NULL, "string", DELTA_STAT_STRING);
    map(PQ_BYTE_ARRAY, PQ_LT_NONE, NULL, "binary", DELTA_STAT_NONE);
    map(PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_NONE, NULL, "binary", DELTA_STAT_NONE);
    map(PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_UUID, NULL, "binary", DELTA_STAT_NONE);
    /* no Delta type */
    map(PQ_INT32, PQ_LT_INT, unsig, NULL, 0);
    map(PQ_INT64, PQ_LT_TIMESTAMP, nanos, NULL, 0);
    map(PQ_INT64, PQ_LT_TIME, NULL, NULL, 0);
    map(PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_DECIMAL, dec40, NULL, 0);
    map(PQ_INT32, PQ_LT_STRING, NULL, NULL, 0);
}

/* ---- a file of every type ---- */

enum {
    C_I16,
    C_I64,
    C_F,
    C_D,
    C_DINF,
    C_D3,
    C_DEC,
    C_DECF,
    C_DT,
    C_DT2,
    C_TS,
    C_TS2,
    C_NTZ,
    C_S,
    C_E,
    C_J,
    C_BIN,
    C_B,
    C_U,
    C_LI,
    C_NUL,
    NCOLS
};

static void be16(int64_t v, uint8_t out[16])
{
    uint64_t u = (uint64_t)v;
    memset(out, v < 0 ? 0xff : 0, 8);
    for (int i = 15; i >= 8; i--, u >>= 8)
        out[i] = (uint8_t)u;
}

/* 5 rows in row groups of 3 and 2. */
static void make_all_types(membuf *m)
{
    pq_column_spec c[NCOLS];
    pq_writer_options wo;
    ts_err err;
    ts_err_clear(&err);
    memset(m, 0, sizeof *m);
    pq_column_spec_init(&c[C_I16], "i16", PQ_INT32, PQ_LT_INT);
    c[C_I16].bit_width = 16;
    c[C_I16].nullable = true;
    pq_column_spec_init(&c[C_I64], "i64", PQ_INT64, PQ_LT_INT);
    pq_column_spec_init(&c[C_F], "f", PQ_FLOAT, PQ_LT_NONE);
    c[C_F].nullable = true;
    pq_column_spec_init(&c[C_D], "d", PQ_DOUBLE, PQ_LT_NONE);
    pq_column_spec_init(&c[C_DINF], "dinf", PQ_DOUBLE, PQ_LT_NONE);
    pq_column_spec_init(&c[C_D3], "d3", PQ_DOUBLE, PQ_LT_NONE);
    pq_column_spec_init(&c[C_DEC], "dec", PQ_INT64, PQ_LT_DECIMAL);
    c[C_DEC].precision = 18;
    c[C_DEC].scale = 4;
    pq_column_spec_init(&c[C_DECF], "decf", PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_DECIMAL);
    c[C_DECF].precision = 38;
    c[C_DECF].scale = 10;
    c[C_DECF].type_length = 16;
    pq_column_spec_init(&c[C_DT], "dt", PQ_INT32, PQ_LT_DATE);
    pq_column_spec_init(&c[C_DT2], "dt2", PQ_INT32, PQ_LT_DATE);
    pq_column_spec_init(&c[C_TS], "ts", PQ_INT64, PQ_LT_TIMESTAMP);
    pq_column_spec_init(&c[C_TS2], "ts2", PQ_INT64, PQ_LT_TIMESTAMP);
    pq_column_spec_init(&c[C_NTZ], "ntz", PQ_INT64, PQ_LT_TIMESTAMP);
    c[C_NTZ].ts_utc = false;
    pq_column_spec_init(&c[C_S], "s", PQ_BYTE_ARRAY, PQ_LT_STRING);
    c[C_S].nullable = true;
    pq_column_spec_init(&c[C_E], "e", PQ_BYTE_ARRAY, PQ_LT_ENUM);
    pq_column_spec_init(&c[C_J], "j", PQ_BYTE_ARRAY, PQ_LT_JSON);
    pq_column_spec_init(&c[C_BIN], "bin", PQ_BYTE_ARRAY, PQ_LT_NONE);
    pq_column_spec_init(&c[C_B], "b", PQ_BOOLEAN, PQ_LT_NONE);
    pq_column_spec_init(&c[C_U], "u", PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_UUID);
    pq_column_spec_init(&c[C_LI], "li", PQ_INT32, PQ_LT_INT);
    c[C_LI].list = true;
    c[C_LI].nullable = true;
    pq_column_spec_init(&c[C_NUL], "nul", PQ_INT32, PQ_LT_INT);
    c[C_NUL].nullable = true;
    pq_writer_options_default(&wo);
    wo.row_group_rows = 3;
    pq_writer *w = pq_writer_new(c, NCOLS, &wo, membuf_sink, m, &err);
    CHECK(w);
    CHECK_OK(pq_writer_add_kv(w, DELTA_KV_PG_COLUMNS,
                              "[{\"name\":\"i64\",\"pg_type\":\"bigint\"},{\"name\":\"dec\","
                              "\"pg_type\":\"numeric(18,4)\"}]"),
             &err);

    static const int32_t i16[] = {5, 0, -3, 7, 0};
    static const bool i16_null[] = {false, true, false, false, true};
    static const int64_t i64[] = {10, 20, 30, 40, -50};
    const float f[] = {1.5f, NAN, 0.0f, 2.25f, 0};
    static const bool f_null[] = {false, false, false, false, true};
    const double d[] = {1.0, -INFINITY, 3.0, INFINITY, 2.0};
    const double dinf[] = {INFINITY, INFINITY, INFINITY, INFINITY, INFINITY};
    static const double d3[] = {0.1, 0.2, 0.3, 0.4, 0.5};
    static const int64_t dec[] = {12345, -67890, 0, 1, 2};
    static const int64_t decf[] = {-1, INT64_C(100000000000000000), 5, 0, INT64_MIN};
    static const int32_t dt[] = {19000, -INT32_MAX, INT32_MAX, 0, 1};
    static const int32_t dt2[] = {19000, 19753, 0, -1, 19001};
    static const int64_t tsv[] = {1706704496789012, INT64_MAX, -INT64_MAX, 0, 1};
    static const int64_t ts2[] = {1706704496789012, 1706704496789999, 1706704496000001,
                                  1706704497000000, 1706704496500000};
    static const int64_t ntz[] = {0, 1500, 2, 3, 1};
    static const char *const s[] = {"apple", NULL, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
                                    "Zed", NULL};
    static const char *const e[] = {"happy", "sad", "ok", "happy", "sad"};
    static const char *const j[] = {"{\"a\":1}", "[]", "{\"b\":\"x\"}", "1", "null"};
    for (int r = 0; r < 5; r++) {
        uint8_t b16[16];
        if (i16_null[r])
            CHECK_OK(pq_write_null(w, C_I16), &err);
        else
            CHECK_OK(pq_write_i32(w, C_I16, i16[r]), &err);
        CHECK_OK(pq_write_i64(w, C_I64, i64[r]), &err);
        if (f_null[r])
            CHECK_OK(pq_write_null(w, C_F), &err);
        else
            CHECK_OK(pq_write_float(w, C_F, f[r]), &err);
        CHECK_OK(pq_write_double(w, C_D, d[r]), &err);
        CHECK_OK(pq_write_double(w, C_DINF, dinf[r]), &err);
        CHECK_OK(pq_write_double(w, C_D3, d3[r]), &err);
        CHECK_OK(pq_write_i64(w, C_DEC, dec[r]), &err);
        be16(decf[r], b16);
        CHECK_OK(pq_write_bytes(w, C_DECF, b16, 16), &err);
        CHECK_OK(pq_write_i32(w, C_DT, dt[r]), &err);
        CHECK_OK(pq_write_i32(w, C_DT2, dt2[r]), &err);
        CHECK_OK(pq_write_i64(w, C_TS, tsv[r]), &err);
        CHECK_OK(pq_write_i64(w, C_TS2, ts2[r]), &err);
        CHECK_OK(pq_write_i64(w, C_NTZ, ntz[r]), &err);
        if (s[r])
            CHECK_OK(pq_write_bytes(w, C_S, s[r], strlen(s[r])), &err);
        else
            CHECK_OK(pq_write_null(w, C_S), &err);
        CHECK_OK(pq_write_bytes(w, C_E, e[r], strlen(e[r])), &err);
        CHECK_OK(pq_write_bytes(w, C_J, j[r], strlen(j[r])), &err);
        CHECK_OK(pq_write_bytes(w, C_BIN, "\x00\xff", 2), &err);
        CHECK_OK(pq_write_bool(w, C_B, r % 2), &err);
        memset(b16, r, 16);
        CHECK_OK(pq_write_bytes(w, C_U, b16, 16), &err);
        if (r == 1) {
            CHECK_OK(pq_write_null(w, C_LI), &err);
        } else {
            CHECK_OK(pq_write_list_begin(w, C_LI), &err);
            CHECK_OK(pq_write_i32(w, C_LI, r), &err);
            CHECK_OK(pq_write_null(w, C_LI), &err);
            CHECK_OK(pq_write_list_end(w, C_LI), &err);
        }
        CHECK_OK(pq_write_null(w, C_NUL), &err);
        CHECK_OK(pq_writer_end_rows(w), &err);
    }
    CHECK_OK(pq_writer_close(w, NULL), pq_writer_error(w));
    pq_writer_free(w);
}

static void test_schema_from_parquet(void **state)
{
    membuf m;
    delta_schema *s = NULL;
    (void)state;
    make_all_types(&m);
    parquet_schema_stats(&m, &s, NULL);
    char *js = delta_schema_json(s);
    assert_string_equal(
        js,
        "{\"type\":\"struct\",\"fields\":["
        "{\"name\":\"i16\",\"type\":\"short\",\"nullable\":true,\"metadata\":{}},"
        "{\"name\":\"i64\",\"type\":\"long\",\"nullable\":false,\"metadata\":{\"comment\":"
        "\"PostgreSQL type: bigint\",\"tsarchive.pg_type\":\"bigint\"}},"
        "{\"name\":\"f\",\"type\":\"float\",\"nullable\":true,\"metadata\":{}},"
        "{\"name\":\"d\",\"type\":\"double\",\"nullable\":false,\"metadata\":{}},"
        "{\"name\":\"dinf\",\"type\":\"double\",\"nullable\":false,\"metadata\":{}},"
        "{\"name\":\"d3\",\"type\":\"double\",\"nullable\":false,\"metadata\":{}},"
        "{\"name\":\"dec\",\"type\":\"decimal(18,4)\",\"nullable\":false,\"metadata\":{"
        "\"comment\":\"PostgreSQL type: numeric(18,4)\",\"tsarchive.pg_type\":\"numeric(18,4)\"}},"
        "{\"name\":\"decf\",\"type\":\"decimal(38,10)\",\"nullable\":false,\"metadata\":{}},"
        "{\"name\":\"dt\",\"type\":\"date\",\"nullable\":false,\"metadata\":{}},"
        "{\"name\":\"dt2\",\"type\":\"date\",\"nullable\":false,\"metadata\":{}},"
        "{\"name\":\"ts\",\"type\":\"timestamp\",\"nullable\":false,\"metadata\":{}},"
        "{\"name\":\"ts2\",\"type\":\"timestamp\",\"nullable\":false,\"metadata\":{}},"
        "{\"name\":\"ntz\",\"type\":\"timestamp_ntz\",\"nullable\":false,\"metadata\":{}},"
        "{\"name\":\"s\",\"type\":\"string\",\"nullable\":true,\"metadata\":{}},"
        "{\"name\":\"e\",\"type\":\"string\",\"nullable\":false,\"metadata\":{}},"
        "{\"name\":\"j\",\"type\":\"string\",\"nullable\":false,\"metadata\":{}},"
        "{\"name\":\"bin\",\"type\":\"binary\",\"nullable\":false,\"metadata\":{}},"
        "{\"name\":\"b\",\"type\":\"boolean\",\"nullable\":false,\"metadata\":{}},"
        "{\"name\":\"u\",\"type\":\"binary\",\"nullable\":false,\"metadata\":{}},"
        "{\"name\":\"li\",\"type\":{\"type\":\"array\",\"elementType\":\"integer\","
        "\"containsNull\":true},\"nullable\":true,\"metadata\":{}},"
        "{\"name\":\"nul\",\"type\":\"integer\",\"nullable\":true,\"metadata\":{}}]}");
    assert_true(delta_schema_needs_timestamp_ntz(s));
    assert_int_equal(delta_schema_ncolumns(s), NCOLS);
    assert_string_equal(delta_schema_column_type(s, C_LI),
                        "{\"type\":\"array\",\"elementType\":\"integer\",\"containsNull\":true}");
    assert_string_equal(delta_schema_column_pg_type(s, C_DEC), "numeric(18,4)");
    assert_null(delta_schema_column_pg_type(s, C_F));
    assert_int_equal(delta_schema_find(s, "ntz"), C_NTZ);
    assert_int_equal(delta_schema_find(s, "NTZ"), -1);

    /* the text parses back to the same schema */
    delta_schema *back = NULL;
    ts_err err;
    ts_err_clear(&err);
    CHECK_OK(delta_schema_parse(js, strlen(js), &back, &err), &err);
    assert_true(delta_schema_equal(s, back));
    char *js2 = delta_schema_json(back);
    assert_string_equal(js, js2);
    ts_free(js2);
    delta_schema_free(back);
    ts_free(js);
    delta_schema_free(s);
    free(m.p);
}

static void test_stats_all_types(void **state)
{
    membuf m;
    char *stats = NULL;
    (void)state;
    make_all_types(&m);
    parquet_schema_stats(&m, NULL, &stats);
    /* Per column: i16 nulls; f: NaN hidden (no nan_count) so no max, zero min as -0.0;
     * d: -inf min and +inf max say nothing; dinf: +inf min clamps to DBL_MAX; d3: no max
     * (NaN unknown); dec on INT64 and FLBA; dt: +-infinity dates: no bounds; ts: +-infinity:
     * no bounds; ts2: ms, min down and max up; ntz: no 'Z'; s: 32-char prefix bounds,
     * byte order ('Z' < 'a'); e, j strings; bin, b, u: nullCount only; li: nothing;
     * nul: all NULL: nullCount only. */
    assert_string_equal(
        stats,
        "{\"numRecords\":5,"
        "\"minValues\":{\"i16\":-3,\"i64\":-50,\"f\":-0.0,\"dinf\":1.7976931348623157e+308,"
        "\"d3\":0.1,\"dec\":-6.7890,\"decf\":-922337203.6854775808,\"dt2\":\"1969-12-31\","
        "\"ts2\":\"2024-01-31T12:34:56.000Z\",\"ntz\":\"1970-01-01T00:00:00.000\",\"s\":\"Zed\","
        "\"e\":\"happy\",\"j\":\"1\"},"
        "\"maxValues\":{\"i16\":7,\"i64\":40,\"dec\":1.2345,\"decf\":10000000.0000000000,"
        "\"dt2\":\"2024-01-31\",\"ts2\":\"2024-01-31T12:34:57.000Z\","
        "\"ntz\":\"1970-01-01T00:00:00.002\",\"s\":\"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\x7f\","
        "\"e\":\"sad\",\"j\":\"{\\\"b\\\":\\\"x\\\"}\"},"
        "\"nullCount\":{\"i16\":2,\"i64\":0,\"f\":1,\"d\":0,\"dinf\":0,\"d3\":0,\"dec\":0,"
        "\"decf\":0,\"dt\":0,\"dt2\":0,\"ts\":0,\"ts2\":0,\"ntz\":0,\"s\":2,\"e\":0,\"j\":0,"
        "\"bin\":0,\"b\":0,\"u\":0,\"nul\":5}}");
    /* valid JSON, as a reader parses it */
    json_t *j = json_loads(stats, JSON_DECODE_INT_AS_REAL, NULL);
    assert_non_null(j);
    json_decref(j);
    ts_free(stats);

    /* reading the rows finds the NaN of f, and that d3 has none: d3 gets its max */
    pq_reader *r = NULL;
    ts_err err;
    ts_err_clear(&err);
    CHECK_OK(pq_reader_open_memory(&r, m.p, m.n, NULL, &err), &err);
    CHECK_OK(delta_stats_from_parquet(r, DELTA_STATS_SCAN_NAN, &stats, &err), &err);
    pq_reader_free(r);
    assert_non_null(strstr(stats, "\"maxValues\":{\"i16\":7,\"i64\":40,\"d3\":0.5,\"dec\""));
    assert_null(strstr(stats, "\"maxValues\":{\"i16\":7,\"i64\":40,\"f\""));
    ts_free(stats);
    free(m.p);
}

/* ---- schema growth ---- */

static delta_schema *schema_of(const char *json)
{
    delta_schema *s = NULL;
    ts_err err;
    ts_err_clear(&err);
    CHECK_OK(delta_schema_parse(json, strlen(json), &s, &err), &err);
    return s;
}

#define F(n, t, nl) "{\"name\":\"" n "\",\"type\":\"" t "\",\"nullable\":" nl ",\"metadata\":{}}"
#define S(...) "{\"type\":\"struct\",\"fields\":[" __VA_ARGS__ "]}"

static void test_schema_merge(void **state)
{
    delta_schema *cur = schema_of(S(F("ts", "timestamp", "false") "," F("v", "long", "true")));
    delta_schema *m = NULL, *next;
    ts_err err;
    (void)state;
    ts_err_clear(&err);

    /* the same (and tighter nullability): nothing to commit */
    next = schema_of(S(F("ts", "timestamp", "false") "," F("v", "long", "false")));
    CHECK_OK(delta_schema_merge(cur, next, &m, &err), &err);
    assert_null(m);
    delta_schema_free(next);
    /* a new column: appended, nullable even when the file has it NOT NULL */
    next = schema_of(S(F("ts", "timestamp",
                         "false") "," F("v", "long", "true") "," F("w", "timestamp_ntz", "false")));
    CHECK_OK(delta_schema_merge(cur, next, &m, &err), &err);
    assert_non_null(m);
    char *js = delta_schema_json(m);
    assert_string_equal(js, S(F("ts", "timestamp", "false") "," F("v", "long", "true") "," F(
                                "w", "timestamp_ntz", "true")));
    assert_true(delta_schema_needs_timestamp_ntz(m));
    ts_free(js);
    delta_schema_free(m);
    delta_schema_free(next);
    /* NOT NULL dropped at the source: relaxed */
    next = schema_of(S(F("ts", "timestamp", "true") "," F("v", "long", "true")));
    CHECK_OK(delta_schema_merge(cur, next, &m, &err), &err);
    assert_non_null(m);
    assert_true(delta_schema_column_nullable(m, 0));
    delta_schema_free(m);
    delta_schema_free(next);
    /* everything else is refused, naming the column */
    next = schema_of(S(F("ts", "timestamp", "false")));
    CHECK_ERR(delta_schema_merge(cur, next, &m, &err), &err, TS_ERR_INVALID,
              "column \"v\" of the table is not in the new data");
    delta_schema_free(next);
    next = schema_of(S(F("ts", "timestamp", "false") "," F("v2", "long", "true")));
    CHECK_ERR(delta_schema_merge(cur, next, &m, &err), &err, TS_ERR_INVALID,
              "column 2 is \"v\" in the table but \"v2\"");
    delta_schema_free(next);
    next = schema_of(S(F("v", "long", "true") "," F("ts", "timestamp", "false")));
    CHECK_ERR(delta_schema_merge(cur, next, &m, &err), &err, TS_ERR_INVALID, "reordered");
    delta_schema_free(next);
    next = schema_of(S(F("ts", "timestamp", "false") "," F("v", "integer", "true")));
    CHECK_ERR(delta_schema_merge(cur, next, &m, &err), &err, TS_ERR_INVALID,
              "column \"v\" is long in the table but integer in the new data");
    delta_schema_free(next);
    /* an array (a PostgreSQL array column whose chunks hold 1-D arrays) against a string
     * (another chunk's 2-D arrays, as text): named in words */
    next = schema_of(S(F("ts", "timestamp", "false") ","
                       "{\"name\":\"v\",\"type\":{\"type\":\"array\",\"elementType\":"
                       "\"long\",\"containsNull\":true},\"nullable\":true,\"metadata\":{}}"));
    CHECK_ERR(delta_schema_merge(cur, next, &m, &err), &err, TS_ERR_INVALID,
              "column \"v\" is long in the table but array of long in the new data");
    delta_schema_free(next);
    delta_schema_free(cur);

    /* schemaString parsing refuses what is not a struct of fields */
    CHECK_ERR(delta_schema_parse("[]", 2, &m, &err), &err, TS_ERR_FORMAT, "not a struct");
    const char *bad = "{\"type\":\"struct\",\"fields\":[{\"name\":1}]}";
    CHECK_ERR(delta_schema_parse(bad, strlen(bad), &m, &err), &err, TS_ERR_FORMAT, "field 1");
    bad = S(F("v", "long", "true") "," F("V", "long", "true"));
    CHECK_ERR(delta_schema_parse(bad, strlen(bad), &m, &err), &err, TS_ERR_FORMAT,
              "differ only in case");
    CHECK_ERR(delta_schema_parse("{\"type\":", 8, &m, &err), &err, TS_ERR_FORMAT, "not JSON");
}

/* ---- replay ---- */

#define SCHEMA_V                                                                                   \
    "{\\\"type\\\":\\\"struct\\\",\\\"fields\\\":[{\\\"name\\\":\\\"v\\\",\\\"type\\\":"           \
    "\\\"long\\\",\\\"nullable\\\":true,\\\"metadata\\\":{}}]}"
#define PROTO12 "{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":2}}\n"
#define META(conf)                                                                                 \
    "{\"metaData\":{\"id\":\"id0\",\"format\":{\"provider\":\"parquet\",\"options\":{}},"          \
    "\"schemaString\":\"" SCHEMA_V "\",\"partitionColumns\":[],\"configuration\":{" conf           \
    "},\"createdTime\":1}}\n"
#define ADD(path, size)                                                                            \
    "{\"add\":{\"path\":\"" path "\",\"partitionValues\":{},\"size\":" #size                       \
    ",\"modificationTime\":5,\"dataChange\":true}}\n"

static const char V0[] = "{\"commitInfo\":{\"timestamp\":1,\"txnId\":\"t0\"}}\n" PROTO12 META(
    "") "{\"add\":{\"path\":\"a.parquet\",\"partitionValues\":{},\"size\":10,\"modificationTime\":"
        "5,"
        "\"dataChange\":true,\"stats\":\"{\\\"numRecords\\\":3}\",\"tags\":{\"k\":\"v\",\"n\":null}"
        "}}\n"
        "\r\n  \n" ADD("b%20c.parquet", 20);

static delta_table *replayed(const char *v0)
{
    delta_table *t = NULL;
    ts_err err;
    ts_err_clear(&err);
    CHECK_OK(delta_table_new_detached("t", &t, &err), &err);
    CHECK_OK(delta_log_apply(t, v0, strlen(v0), &err), &err);
    return t;
}

static void expect_bad(delta_table *t, const char *commit, int code, const char *sub)
{
    ts_err err;
    int64_t v = delta_table_version(t);
    size_t n = delta_table_nfiles(t);
    ts_err_clear(&err);
    int rc = delta_log_apply(t, commit, strlen(commit), &err);
    if (rc != code || !strstr(err.msg, sub))
        fail_msg("commit %s: rc %d \"%s\", want %d and \"%s\"", commit, rc, err.msg, code, sub);
    /* nothing of a refused commit is applied */
    assert_int_equal(delta_table_version(t), v);
    assert_int_equal(delta_table_nfiles(t), n);
}

static void test_replay(void **state)
{
    ts_err err;
    (void)state;
    ts_err_clear(&err);
    delta_table *t = replayed(V0);
    assert_int_equal(delta_table_version(t), 0);
    assert_string_equal(delta_table_id(t), "id0");
    assert_int_equal(delta_table_protocol(t)->min_reader, 1);
    assert_int_equal(delta_table_protocol(t)->min_writer, 2);
    assert_int_equal(delta_schema_ncolumns(delta_table_schema(t)), 1);
    assert_int_equal(delta_table_nfiles(t), 2);
    const delta_file *a = delta_table_file(t, 0), *b = delta_table_file(t, 1);
    assert_string_equal(a->path, "a.parquet");
    assert_string_equal(b->path, "b c.parquet"); /* decoded */
    assert_int_equal(a->size, 10);
    assert_int_equal(a->num_records, 3);
    assert_int_equal(b->num_records, -1);
    assert_int_equal(a->ntags, 1); /* a null tag value is dropped */
    assert_string_equal(a->tags[0].key, "k");
    assert_int_equal(a->version, 0);
    assert_int_equal(delta_table_find_txn(t, "t0"), 0);

    const char v1[] =
        "{\"remove\":{\"path\":\"a.parquet\",\"deletionTimestamp\":99,"
        "\"dataChange\":true}}\n" ADD(
            "d.parquet",
            30) "{\"txn\":{\"appId\":\"x\",\"version\":1}}\n{\"futureAction\":{\"x\":1}}\n"
                "{\"domainMetadata\":{\"domain\":\"d\",\"configuration\":\"{}\"}}";
    CHECK_OK(delta_log_apply(t, v1, strlen(v1), &err), &err);
    assert_int_equal(delta_table_nfiles(t), 2);
    assert_string_equal(delta_table_file(t, 0)->path, "b c.parquet");
    assert_string_equal(delta_table_file(t, 1)->path, "d.parquet");
    assert_null(delta_table_find(t, "a.parquet"));
    assert_int_equal(delta_table_nremoved(t), 1);
    const delta_file *r = delta_table_removed(t, 0);
    assert_string_equal(r->path, "a.parquet");
    assert_int_equal(r->removed_version, 1);
    assert_int_equal(r->deletion_timestamp, 99);
    assert_int_equal(r->size, 10); /* the remove had none: the add's */
    assert_int_equal(r->version, 0);

    /* a path may come back (another writer's log) */
    const char v2[] = ADD("a.parquet", 11);
    CHECK_OK(delta_log_apply(t, v2, strlen(v2), &err), &err);
    assert_int_equal(delta_table_nfiles(t), 3);
    assert_int_equal(delta_table_find(t, "a.parquet")->size, 11);
    assert_int_equal(delta_table_find(t, "a.parquet")->version, 2);
    assert_int_equal(delta_table_nremoved(t), 0);

    /* hostile and truncated commits: refused whole, naming version and line */
    expect_bad(t, "{\"add\":{\"path\":\"x\",\"si", TS_ERR_FORMAT,
               "commit 00000000000000000003.json line 1: not JSON");
    expect_bad(t, ADD("x", 1) ADD("y", 1) "{\"add\":{\"path\":\"z\",\"size\":\"1\"}}",
               TS_ERR_FORMAT, "line 3: add: \"size\" and \"modificationTime\" must be integers");
    expect_bad(t, "[1]", TS_ERR_FORMAT, "line 1: an action must be a JSON object");
    expect_bad(t, "{\"add\":{\"path\":\"\",\"size\":1,\"modificationTime\":1}}", TS_ERR_FORMAT,
               "non-empty string");
    expect_bad(t, "{\"add\":[]}", TS_ERR_FORMAT, "\"path\" must be");
    expect_bad(t, "{\"remove\":{\"path\":\"a.parquet\",\"deletionTimestamp\":\"x\"}}",
               TS_ERR_FORMAT, "remove: \"deletionTimestamp\"");
    expect_bad(t,
               "{\"add\":{\"path\":\"x\",\"size\":1,\"modificationTime\":1,\"deletionVector\":"
               "{\"storageType\":\"i\"}}}",
               TS_ERR_UNSUPPORTED, "deletion vector");
    expect_bad(t, ADD("_delta_log/x.parquet", 1), TS_ERR_FORMAT, "hidden folder");
    expect_bad(t, ADD("x%zz", 1), TS_ERR_FORMAT, "bad %-escape");
    expect_bad(t, ADD("x", -1), TS_ERR_FORMAT, "size >= 0");
    expect_bad(t,
               "{\"add\":{\"path\":\"x\",\"size\":1,\"modificationTime\":1,\"partitionValues\":"
               "{\"p\":\"1\"}}}",
               TS_ERR_UNSUPPORTED, "partition values");
    expect_bad(t, "{\"add\":{\"path\":\"x\",\"size\":1,\"modificationTime\":1,\"tags\":{\"a\":1}}}",
               TS_ERR_FORMAT, "tag \"a\" must be a string");
    expect_bad(t, META("") META(""), TS_ERR_FORMAT, "line 2: a second metaData");
    expect_bad(t, PROTO12 PROTO12, TS_ERR_FORMAT, "a second protocol");
    expect_bad(t, "{\"protocol\":{\"minReaderVersion\":4,\"minWriterVersion\":7}}",
               TS_ERR_UNSUPPORTED, "minReaderVersion 4");
    expect_bad(t,
               "{\"protocol\":{\"minReaderVersion\":3,\"minWriterVersion\":7,\"readerFeatures\":"
               "[\"timestampNtz\",\"v2Checkpoint\"],\"writerFeatures\":[]}}",
               TS_ERR_UNSUPPORTED, "reader feature \"v2Checkpoint\"");
    expect_bad(t,
               "{\"protocol\":{\"minReaderVersion\":3,\"minWriterVersion\":7,\"readerFeatures\":"
               "[1]}}",
               TS_ERR_FORMAT, "features as arrays of strings");
    expect_bad(t,
               "{\"protocol\":{\"minReaderVersion\":2,\"minWriterVersion\":5}}\n" META(
                   "\"delta.columnMapping.mode\":\"name\""),
               TS_ERR_UNSUPPORTED, "column mapping");
    expect_bad(t,
               "{\"metaData\":{\"id\":\"i\",\"format\":{\"provider\":\"orc\"},\"schemaString\":"
               "\"" SCHEMA_V "\",\"partitionColumns\":[]}}",
               TS_ERR_UNSUPPORTED, "provider");
    expect_bad(t,
               "{\"metaData\":{\"id\":\"i\",\"format\":{\"provider\":\"parquet\"},"
               "\"schemaString\":\"" SCHEMA_V "\",\"partitionColumns\":[\"v\"]}}",
               TS_ERR_UNSUPPORTED, "partitioned");
    expect_bad(t,
               "{\"metaData\":{\"id\":\"i\",\"format\":{\"provider\":\"parquet\"},"
               "\"schemaString\":\"{\",\"partitionColumns\":[]}}",
               TS_ERR_FORMAT, "metaData: schemaString is not JSON");
    expect_bad(t,
               "{\"metaData\":{\"id\":\"i\",\"format\":{\"provider\":\"parquet\"},"
               "\"schemaString\":\"" SCHEMA_V
               "\",\"partitionColumns\":[],\"configuration\":{\"a\":1}}}",
               TS_ERR_FORMAT, "configuration \"a\" must be a string");
    expect_bad(t, "{\"checkpointMetadata\":{\"version\":1}}", TS_ERR_FORMAT, "checkpoint");
    expect_bad(t, "{\"add\":{\"path\":\"x\xff\",\"size\":1}}", TS_ERR_FORMAT, "not JSON");
    {
        char deep[5000];
        memset(deep, '[', sizeof deep - 1);
        deep[sizeof deep - 1] = '\0';
        expect_bad(t, deep, TS_ERR_FORMAT, "not JSON");
    }
    assert_int_equal(delta_table_version(t), 2);
    delta_table_free(t);

    /* version 0 must say what the table is */
    t = replayed("{\"commitInfo\":{}}\n" PROTO12 META(""));
    delta_table_free(t);
    CHECK_OK(delta_table_new_detached("t", &t, &err), &err);
    expect_bad(t, META("") ADD("x", 1), TS_ERR_FORMAT, "version 0 needs a protocol and a metaData");
    expect_bad(t, "", TS_ERR_FORMAT, "version 0 needs");
    /* reader 2 with column mapping off, reader 3 with the features tsarchive reads: fine */
    t = (delta_table_free(t), NULL);
    t = replayed("{\"protocol\":{\"minReaderVersion\":3,\"minWriterVersion\":7,\"readerFeatures\":"
                 "[\"timestampNtz\",\"deletionVectors\",\"columnMapping\"],\"writerFeatures\":"
                 "[\"timestampNtz\",\"deletionVectors\",\"columnMapping\"]}}\n" META(
                     "\"delta.columnMapping.mode\":\"none\""));
    assert_int_equal(delta_table_protocol(t)->nreader_features, 3);
    assert_string_equal(delta_table_protocol(t)->reader_features[1], "deletionVectors");
    assert_string_equal(delta_table_config(t, "delta.columnMapping.mode"), "none");
    /* ... but tsarchive does not write a table with writer features it does not know */
    CHECK_ERR(delta_write_check(t, false, &err), &err, TS_ERR_UNSUPPORTED,
              "writer feature \"deletionVectors\"");
    delta_table_free(t);
    t = replayed("{\"protocol\":{\"minReaderVersion\":1,\"minWriterVersion\":4}}\n" META(""));
    CHECK_ERR(delta_write_check(t, false, &err), &err, TS_ERR_UNSUPPORTED, "minWriterVersion 4");
    delta_table_free(t);
    t = replayed(PROTO12 META("\"delta.appendOnly\":\"true\""));
    CHECK_OK(delta_write_check(t, false, &err), &err);
    CHECK_ERR(delta_write_check(t, true, &err), &err, TS_ERR_UNSUPPORTED, "append-only");
    delta_table_free(t);
}

/* ---- allocation failures: every step fails cleanly (ASan sees no leak) ---- */

static bool all_steps(pq_reader *r)
{
    delta_schema *s = NULL;
    delta_table *t = NULL;
    delta_files_report *rep = NULL;
    char *stats = NULL, *js = NULL, *enc = NULL;
    ts_err err;
    bool done = false;
    int rc;
    static const char v1[] =
        "{\"remove\":{\"path\":\"a.parquet\",\"deletionTimestamp\":99}}\n" ADD("d%20e.parquet", 30);
#define STEP(call)                                                                                 \
    do {                                                                                           \
        ts_err_clear(&err);                                                                        \
        rc = (call);                                                                               \
        if (rc != TS_OK) {                                                                         \
            if (rc != TS_ERR_NOMEM)                                                                \
                fail_msg("%s: %d %s", #call, rc, err.msg);                                         \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)
    STEP(delta_schema_from_parquet(r, &s, &err));
    STEP(delta_stats_from_parquet(r, 0, &stats, &err));
    STEP((js = delta_schema_json(s)) ? TS_OK : TS_ERR_NOMEM);
    STEP((enc = delta_uri_encode("a b/c")) ? TS_OK : TS_ERR_NOMEM);
    STEP(delta_table_new_detached("t", &t, &err));
    STEP(delta_log_apply(t, V0, strlen(V0), &err));
    STEP(delta_log_apply(t, v1, strlen(v1), &err));
    STEP(delta_files_report_new(t, "v", &rep, &err));
    assert_int_equal(rep->nfiles, 2);
    done = true;
out:
#undef STEP
    delta_files_report_free(rep);
    delta_table_free(t);
    ts_free(enc);
    ts_free(js);
    ts_free(stats);
    delta_schema_free(s);
    return done;
}

static void test_alloc_failures(void **state)
{
    membuf m;
    long n;
    pq_reader *r = NULL;
    const pq_reader_column *cols;
    int ncols;
    ts_err err;
    (void)state;
    ts_err_clear(&err);
    make_all_types(&m);
    /* the reader is parquet/'s: opened (and its columns built) before failures start */
    CHECK_OK(pq_reader_open_memory(&r, m.p, m.n, NULL, &err), &err);
    CHECK_OK(pq_reader_columns(r, &cols, &ncols, &err), &err);
    for (n = 1; n < 5000; n++) {
        ts_alloc_fail_after(n);
        bool done = all_steps(r);
        ts_alloc_fail_after(0);
        if (done)
            break;
    }
    assert_true(n > 20 && n < 5000); /* failures were met, then it ran through */
    pq_reader_free(r);
    free(m.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamps),
        cmocka_unit_test(test_dates_numbers),
        cmocka_unit_test(test_string_bounds),
        cmocka_unit_test(test_uri),
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_type_map),
        cmocka_unit_test(test_schema_from_parquet),
        cmocka_unit_test(test_stats_all_types),
        cmocka_unit_test(test_schema_merge),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_alloc_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
