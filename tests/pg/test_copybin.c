/* test_copybin.c: the binary COPY decoder, numeric conversion, lookup3 and the change
 * proof against byte-exact vectors captured from PostgreSQL 15. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pg/copybin.h"
#include "pg/proof.h"
#include "pg/types.h"

#define ASSERT_EQ_I(a, b)                                                                          \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_)                                                                              \
            fail_msg("%s:%d: %s == %lld, expected %s == %lld", __FILE__, __LINE__, #a, a_, #b,     \
                     b_);                                                                          \
    } while (0)

/* COPY (SELECT 1::int4, NULL::text, 'ab'::text UNION ALL SELECT -2, 'x', '')
 *   TO STDOUT (FORMAT binary) */
static const uint8_t vec_a[] = {
    0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0xff,
    0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x02, 0x61, 0x62, 0x00, 0x03, 0x00, 0x00, 0x00, 0x04,
    0xff, 0xff, 0xff, 0xfe, 0x00, 0x00, 0x00, 0x01, 0x78, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff};

/* COPY (SELECT 12345.678::numeric(10,3), (-0.5)::numeric(5,2), 'NaN'::numeric(5,2),
 *   123000::numeric(3,-3), 'infinity'::timestamptz, '2000-01-01 00:00:01+00'::timestamptz,
 *   'infinity'::date, '1970-01-01'::date, ARRAY[1,NULL,3]::int4[], '{"a":1}'::jsonb) */
static const uint8_t vec_b[] = {
    0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x0e, 0x00, 0x03, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x03, 0x00, 0x01, 0x09, 0x29, 0x1a, 0x7c, 0x00, 0x00, 0x00, 0x0a, 0x00, 0x01,
    0xff, 0xff, 0x40, 0x00, 0x00, 0x02, 0x13, 0x88, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00,
    0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x02, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x0c, 0x0b, 0xb8, 0x00, 0x00, 0x00, 0x08, 0x7f, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x42, 0x40,
    0x00, 0x00, 0x00, 0x04, 0x7f, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x04, 0xff, 0xff, 0xd5,
    0x33, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x17, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, 0x00,
    0x00, 0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x03,
    0x00, 0x00, 0x00, 0x09, 0x01, 0x7b, 0x22, 0x61, 0x22, 0x3a, 0x20, 0x31, 0x7d, 0xff, 0xff};

typedef struct seen {
    int rows;
    char text[512]; /* a transcript: fields as "len:hex" */
    size_t n;
    pg_proof proof;
    const uint32_t *oids;
    pg_copy_field b_fields[10];
    uint8_t b_copy[256];
} seen;

static int on_row(void *ctx, const pg_copy_field *f, int nf, ts_err *err)
{
    seen *s = ctx;
    (void)err;
    s->rows++;
    for (int i = 0; i < nf; i++) {
        s->n += (size_t)snprintf(s->text + s->n, sizeof s->text - s->n, "%d:", f[i].len);
        for (int j = 0; j < f[i].len; j++)
            s->n += (size_t)snprintf(s->text + s->n, sizeof s->text - s->n, "%02x", f[i].data[j]);
        s->n += (size_t)snprintf(s->text + s->n, sizeof s->text - s->n, "|");
    }
    if (s->oids)
        pg_proof_add_row(&s->proof, f, nf, s->oids);
    if (nf == 10) { /* keep vec_b's fields for the value tests */
        size_t off = 0;
        for (int i = 0; i < nf; i++) {
            s->b_fields[i].len = f[i].len;
            s->b_fields[i].data = s->b_copy + off;
            if (f[i].len > 0) {
                memcpy(s->b_copy + off, f[i].data, (size_t)f[i].len);
                off += (size_t)f[i].len;
            }
        }
    }
    return 0;
}

static const char *expect_a = "4:00000001|-1:|2:6162|4:fffffffe|1:78|0:|";

static void decode_whole(void **state)
{
    (void)state;
    seen s = {0};
    ts_err err = {0};
    pg_copy_decoder *d = pg_copy_decoder_new(3, 0, on_row, &s);
    assert_non_null(d);
    assert_int_equal(pg_copy_decoder_feed(d, vec_a, sizeof vec_a, &err), 0);
    assert_int_equal(pg_copy_decoder_finish(d, &err), 0);
    ASSERT_EQ_I(s.rows, 2);
    ASSERT_EQ_I(pg_copy_decoder_rows(d), 2);
    ASSERT_EQ_I(pg_copy_decoder_bytes(d), sizeof vec_a);
    assert_string_equal(s.text, expect_a);
    pg_copy_decoder_free(d);
}

static void decode_every_split(void **state)
{
    (void)state;
    /* two pieces at every offset, and byte by byte */
    for (size_t cut = 0; cut <= sizeof vec_a; cut++) {
        seen s = {0};
        ts_err err = {0};
        pg_copy_decoder *d = pg_copy_decoder_new(3, 0, on_row, &s);
        assert_int_equal(pg_copy_decoder_feed(d, vec_a, cut, &err), 0);
        assert_int_equal(pg_copy_decoder_feed(d, vec_a + cut, sizeof vec_a - cut, &err), 0);
        assert_int_equal(pg_copy_decoder_finish(d, &err), 0);
        if (strcmp(s.text, expect_a) != 0)
            fail_msg("%s:%d: split at %zu gave %s", __FILE__, __LINE__, cut, s.text);
        pg_copy_decoder_free(d);
    }
    seen s = {0};
    ts_err err = {0};
    pg_copy_decoder *d = pg_copy_decoder_new(3, 0, on_row, &s);
    for (size_t i = 0; i < sizeof vec_a; i++)
        assert_int_equal(pg_copy_decoder_feed(d, vec_a + i, 1, &err), 0);
    assert_int_equal(pg_copy_decoder_finish(d, &err), 0);
    assert_string_equal(s.text, expect_a);
    pg_copy_decoder_free(d);
}

static int decode_bytes(const uint8_t *p, size_t n, int nfields, ts_err *err)
{
    seen s = {0};
    pg_copy_decoder *d = pg_copy_decoder_new(nfields, 64, on_row, &s);
    int rc = pg_copy_decoder_feed(d, p, n, err);
    if (!rc)
        rc = pg_copy_decoder_finish(d, err);
    pg_copy_decoder_free(d);
    return rc;
}

static void malformed(void **state)
{
    (void)state;
    uint8_t b[sizeof vec_a + 4];
    ts_err err = {0};
    /* wrong field count */
    assert_int_equal(decode_bytes(vec_a, sizeof vec_a, 2, &err), TS_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "has 3 fields, expected 2"));
    /* bad signature */
    memcpy(b, vec_a, sizeof vec_a);
    b[0] = 'X';
    ts_err_clear(&err);
    assert_int_equal(decode_bytes(b, sizeof vec_a, 3, &err), TS_ERR_FORMAT);
    /* truncated: no trailer */
    ts_err_clear(&err);
    assert_int_equal(decode_bytes(vec_a, sizeof vec_a - 2, 3, &err), TS_ERR_FORMAT);
    assert_non_null(strstr(err.msg, "no trailer"));
    /* truncated in the middle of a row */
    ts_err_clear(&err);
    assert_int_equal(decode_bytes(vec_a, 30, 3, &err), TS_ERR_FORMAT);
    /* garbage after the trailer */
    memcpy(b, vec_a, sizeof vec_a);
    b[sizeof vec_a] = 0;
    ts_err_clear(&err);
    assert_int_equal(decode_bytes(b, sizeof vec_a + 1, 3, &err), TS_ERR_FORMAT);
    /* a field length below -1 */
    memcpy(b, vec_a, sizeof vec_a);
    b[21] = 0xff;
    b[22] = 0xff;
    b[23] = 0xff;
    b[24] = 0xfe;
    ts_err_clear(&err);
    assert_int_equal(decode_bytes(b, sizeof vec_a, 3, &err), TS_ERR_FORMAT);
    /* the OIDs flag */
    memcpy(b, vec_a, sizeof vec_a);
    b[12] = 0x01; /* flags bit 16 */
    ts_err_clear(&err);
    assert_int_equal(decode_bytes(b, sizeof vec_a, 3, &err), TS_ERR_UNSUPPORTED);
    /* a row split across feeds larger than the cap (64 bytes) */
    {
        uint8_t big[19 + 2 + 4 + 100 + 2] = {0};
        memcpy(big, vec_a, 19);
        big[19] = 0;
        big[20] = 1;
        big[21] = 0;
        big[22] = 0;
        big[23] = 0;
        big[24] = 100;
        seen s = {0};
        pg_copy_decoder *d = pg_copy_decoder_new(1, 64, on_row, &s);
        ts_err_clear(&err);
        assert_int_equal(pg_copy_decoder_feed(d, big, 30, &err), 0);
        assert_int_equal(pg_copy_decoder_feed(d, big + 30, 60, &err), TS_ERR_TOOBIG);
        pg_copy_decoder_free(d);
    }
}

static void values_of_vec_b(void **state)
{
    (void)state;
    seen s = {0};
    ts_err err = {0};
    __int128 v = 0;
    uint8_t out[64];
    size_t n = 0;
    pg_copy_decoder *d = pg_copy_decoder_new(10, 0, on_row, &s);
    assert_int_equal(pg_copy_decoder_feed(d, vec_b, sizeof vec_b, &err), 0);
    assert_int_equal(pg_copy_decoder_finish(d, &err), 0);
    pg_copy_decoder_free(d);
    const pg_copy_field *f = s.b_fields;
    /* numeric(10,3) 12345.678 */
    assert_int_equal(pg_numeric_to_i128(f[0].data, f[0].len, 3, &v, &err), 0);
    ASSERT_EQ_I((long long)v, 12345678);
    assert_int_equal(pg_i128_to_numeric(v, 3, out, sizeof out, &n), 0);
    ASSERT_EQ_I(n, (size_t)f[0].len);
    assert_memory_equal(out, f[0].data, n);
    /* numeric(5,2) -0.5 */
    assert_int_equal(pg_numeric_to_i128(f[1].data, f[1].len, 2, &v, &err), 0);
    ASSERT_EQ_I((long long)v, -50);
    assert_int_equal(pg_i128_to_numeric(v, 2, out, sizeof out, &n), 0);
    ASSERT_EQ_I(n, (size_t)f[1].len);
    assert_memory_equal(out, f[1].data, n);
    /* NaN */
    assert_int_equal(pg_numeric_to_i128(f[2].data, f[2].len, 2, &v, &err), 1);
    /* numeric(3,-3) 123000 -> DECIMAL(6,0) */
    assert_int_equal(pg_numeric_to_i128(f[3].data, f[3].len, 0, &v, &err), 0);
    ASSERT_EQ_I((long long)v, 123000);
    assert_int_equal(pg_i128_to_numeric(v, 0, out, sizeof out, &n), 0);
    assert_memory_equal(out, f[3].data, n);
    /* 12345.678 does not fit scale 2 */
    ts_err_clear(&err);
    assert_int_equal(pg_numeric_to_i128(f[0].data, f[0].len, 2, &v, &err), TS_ERR_UNSUPPORTED);
    /* timestamptz infinity and epoch + 1 s, dates */
    ASSERT_EQ_I((int64_t)pg_be64(f[4].data), INT64_MAX);
    ASSERT_EQ_I((int64_t)pg_be64(f[5].data), 1000000);
    ASSERT_EQ_I((int32_t)pg_be32(f[6].data), INT32_MAX);
    ASSERT_EQ_I((int32_t)pg_be32(f[7].data), -PG_EPOCH_DAYS);
    /* jsonb: version 1 then text */
    ASSERT_EQ_I(f[9].data[0], 1);
    /* 38-digit extremes round trip */
    __int128 big = 0;
    for (int i = 0; i < 38; i++)
        big = big * 10 + 9;
    for (int sc = 0; sc <= 38; sc += 19) {
        __int128 back = 0;
        assert_int_equal(pg_i128_to_numeric(-big, sc, out, sizeof out, &n), 0);
        assert_int_equal(pg_numeric_to_i128(out, (int32_t)n, sc, &back, &err), 0);
        assert_true(back == -big);
    }
    assert_int_equal(pg_decimal_flba_len(38), 16);
    assert_int_equal(pg_decimal_flba_len(19), 9);
}


static void lookup3_vectors(void **state)
{
    (void)state;
    /* SELECT hashtextextended(x, 0) on PostgreSQL 15 (x86-64) and PGlite (wasm32) */
    static const struct {
        const char *in;
        long long want;
    } v[] = {{"", -6939563903564495251LL},
             {"abc", -6747756470228489321LL},
             {"0123456789abcdef0123", -8449784196480001108LL},
             {"0000000300000017000000040000000100000019ffffffff00000019000000026162",
              3434777466547715520LL}};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        pg_l3 s;
        size_t n = strlen(v[i].in);
        pg_l3_init(&s, n);
        /* in uneven pieces, to cross the 12-byte blocks */
        for (size_t off = 0; off < n;) {
            size_t k = n - off < 5 ? n - off : 5;
            pg_l3_update(&s, v[i].in + off, k);
            off += k;
        }
        ASSERT_EQ_I(pg_l3_final(&s), v[i].want);
    }
}

static void proof_matches_sql(void **state)
{
    (void)state;
    /* WITH t(a,b,c) AS (<vec_a's rows>) SELECT count(*),
     *   sum(hashtextextended(encode(record_send(ROW(a,b,c)), 'hex'), 0)) FROM t
     * -> 2 | -5259210300045960246 */
    static const uint32_t oids[3] = {PG_OID_INT4, PG_OID_TEXT, PG_OID_TEXT};
    seen s = {0};
    ts_err err = {0};
    char str[PG_PROOF_MAX];
    pg_proof back;
    s.oids = oids;
    pg_copy_decoder *d = pg_copy_decoder_new(3, 0, on_row, &s);
    assert_int_equal(pg_copy_decoder_feed(d, vec_a, sizeof vec_a, &err), 0);
    pg_copy_decoder_free(d);
    ASSERT_EQ_I(s.proof.rows, 2);
    assert_true(s.proof.sum == (__int128)-5259210300045960246LL);
    pg_proof_set_columns(&s.proof, "\"a\", \"b\", \"c\"");
    pg_proof_format(&s.proof, str);
    assert_int_equal(strncmp(str, "v2:2:-5259210300045960246:", 26), 0);
    /* the column list's MD5, as SELECT md5('"a", "b", "c"') gives it */
    assert_string_equal(s.proof.columns, "57f4fcfabefe24c974c6ca873418ae12");
    pg_proof_set_columns(&s.proof, "\"a\", \"b\", \"c\"");
    pg_proof_format(&s.proof, str);
    assert_int_equal(pg_proof_parse(str, &back, &err), 0);
    assert_true(back.sum == s.proof.sum);
    ASSERT_EQ_I(back.rows, 2);
    assert_string_equal(back.columns, s.proof.columns);
    assert_int_equal(pg_proof_parse("v1:2:abc:00", &back, &err), TS_ERR_INVALID);
    assert_int_equal(pg_proof_parse(NULL, &back, &err), TS_ERR_INVALID);
}

/* uuid text: the canonical form out; back in, every form PostgreSQL's uuid_in takes
 * and none it refuses. */
static void uuid_text(void **state)
{
    static const uint8_t u[16] = {0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8,
                                  0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11};
    static const char *good[] = {
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",   "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
        "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "a0eebc999c0b4ef8bb6d6bb9bd380a11",
        "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11", "{a0eebc999c0b4ef8bb6d6bb9bd380a11}"};
    static const char *bad[] = {"",
                                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
                                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
                                "-a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11-",
                                "a0e-ebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                                "a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11",
                                "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                                "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
                                " a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                                "g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"};
    char text[PG_UUID_TEXT_LEN + 1];
    uint8_t back[16];
    (void)state;
    pg_uuid_format(u, text);
    text[PG_UUID_TEXT_LEN] = 0;
    assert_string_equal(text, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        memset(back, 0, sizeof back);
        assert_int_equal(pg_uuid_parse(good[i], strlen(good[i]), back), 0);
        assert_memory_equal(back, u, 16);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(pg_uuid_parse(bad[i], strlen(bad[i]), back), -1);
    /* every byte value survives the round trip */
    for (int v = 0; v < 256; v++) {
        uint8_t x[16];
        memset(x, v, sizeof x);
        x[15] = (uint8_t)(255 - v);
        pg_uuid_format(x, text);
        assert_int_equal(pg_uuid_parse(text, PG_UUID_TEXT_LEN, back), 0);
        assert_memory_equal(back, x, 16);
    }
}

/* The batch hasher gives each row the hash pg_proof_add_row gives it: rows of every
 * length around the 12-byte blocks and the 16-byte hex groups, NULLs, rows too large
 * to batch, and more rows than one batch holds. */
static void proof_batch_lanes(int lanes)
{
    static uint8_t data[20000];
    static const uint32_t oids[4] = {PG_OID_INT4, PG_OID_TEXT, PG_OID_BYTEA, PG_OID_TEXT};
    static uint8_t hex[2 * (4 + 4 * 8 + 10000)];
    pg_proof one = {0}, many = {0};
    __int128 naive = 0;
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof data; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (uint8_t)(x >> 16);
    }
    pg_proof_set_lanes(lanes);
    pg_proof_batch *b = pg_proof_batch_new(&many);
    assert_non_null(b);
    for (int row = 0; row < 5000; row++) {
        pg_copy_field f[4];
        int nf = 1 + row % 4;
        for (int i = 0; i < nf; i++) {
            x = x * 1103515245u + 12345u;
            int32_t len = (int32_t)((x >> 8) % 97) - 1; /* -1 (NULL) .. 95 */
            if (row % 701 == 0 && i == 1)
                len = 9000 + row % 500; /* past the batch's image limit */
            f[i].len = len;
            f[i].data = len >= 0 ? data + (x >> 20) % 10000 : NULL;
        }
        pg_proof_add_row(&one, f, nf, oids);
        pg_proof_batch_add(b, f, nf, oids);
        /* the definition, spelled out: record_send's image as hex, lookup3 over it */
        size_t n = 0;
        uint8_t be[4];
#define HEX(p, len)                                                                                \
    for (size_t k = 0; k < (size_t)(len); k++)                                                     \
        n += (size_t)sprintf((char *)hex + n, "%02x", (p)[k]);
        pg_put_be32(be, (uint32_t)nf);
        HEX(be, 4);
        for (int i = 0; i < nf; i++) {
            pg_put_be32(be, oids[i]);
            HEX(be, 4);
            pg_put_be32(be, (uint32_t)f[i].len);
            HEX(be, 4);
            if (f[i].len > 0)
                HEX(f[i].data, f[i].len);
        }
#undef HEX
        pg_l3 l3;
        pg_l3_init(&l3, n);
        pg_l3_update(&l3, hex, n);
        naive += pg_l3_final(&l3);
    }
    pg_proof_batch_flush(b);
    pg_proof_batch_free(b);
    ASSERT_EQ_I(many.rows, one.rows);
    assert_true(one.sum == naive);
    assert_true(many.sum == naive);
    pg_proof_set_lanes(0);
}

/* ... with the widest lanes the CPU has (eight with AVX2), and with four */
static void proof_batch_matches(void **state)
{
    (void)state;
    proof_batch_lanes(0);
    proof_batch_lanes(4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_whole), cmocka_unit_test(decode_every_split),
        cmocka_unit_test(malformed),    cmocka_unit_test(values_of_vec_b),  cmocka_unit_test(lookup3_vectors),
        cmocka_unit_test(proof_matches_sql), cmocka_unit_test(proof_batch_matches), cmocka_unit_test(uuid_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
