/* test_pq_encode.c: byte-exact vectors for varints, zigzag, the Thrift compact
 * encoding, the RLE / bit-packed hybrid, bit packing, DELTA_BINARY_PACKED,
 * DELTA_LENGTH_BYTE_ARRAY, BYTE_STREAM_SPLIT and PLAIN booleans. */
#include "pq_testutil.h"

#include <limits.h>

#include "common/buf.h"
#include "parquet/encode.h"
#include "parquet/thrift_enc.h"

static void test_uvarint(void **state)
{
    uint8_t b[10];
    (void)state;
    assert_bytes(b, pq_uvarint_put(b, 0), 0x00);
    assert_bytes(b, pq_uvarint_put(b, 1), 0x01);
    assert_bytes(b, pq_uvarint_put(b, 127), 0x7f);
    assert_bytes(b, pq_uvarint_put(b, 128), 0x80, 0x01);
    assert_bytes(b, pq_uvarint_put(b, 300), 0xac, 0x02);
    assert_bytes(b, pq_uvarint_put(b, 16384), 0x80, 0x80, 0x01);
    assert_bytes(b, pq_uvarint_put(b, UINT64_MAX), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                 0xff, 0xff, 0x01);
}

static void test_zigzag(void **state)
{
    (void)state;
    assert_int_equal(pq_zigzag32(0), 0);
    assert_int_equal(pq_zigzag32(-1), 1);
    assert_int_equal(pq_zigzag32(1), 2);
    assert_int_equal(pq_zigzag32(-2), 3);
    assert_int_equal(pq_zigzag32(INT32_MAX), 0xfffffffeu);
    assert_int_equal(pq_zigzag32(INT32_MIN), 0xffffffffu);
    assert_int_equal(pq_zigzag64(-1), 1);
    assert_int_equal(pq_zigzag64(INT64_MAX), UINT64_MAX - 1);
    assert_int_equal(pq_zigzag64(INT64_MIN), UINT64_MAX);
}

static void test_thrift_struct(void **state)
{
    ts_buf b;
    pq_tenc e;
    (void)state;
    ts_buf_init(&b, 0);
    pq_tenc_init(&e, &b);
    pq_tenc_i32(&e, 1, 5);
    pq_tenc_string(&e, 2, "ab");
    pq_tenc_bool(&e, 3, true);
    pq_tenc_i64(&e, 20, -1); /* id delta 17: long form */
    pq_tenc_list_begin(&e, 21, PQ_TT_I32, 3);
    pq_tenc_elem_i32(&e, 1);
    pq_tenc_elem_i32(&e, 2);
    pq_tenc_elem_i32(&e, 3);
    pq_tenc_struct_begin(&e, 22);
    pq_tenc_i32(&e, 1, 1);
    pq_tenc_bool(&e, 2, false);
    pq_tenc_struct_end(&e);
    pq_tenc_i8(&e, 23, -2);
    pq_tenc_i16(&e, 24, 300);
    assert_int_equal(pq_tenc_finish(&e), 0);
    assert_bytes(b.data, b.len, 0x15, 0x0a, 0x18, 0x02, 'a', 'b', 0x11, 0x06, 0x28, 0x01, 0x19,
                 0x35, 0x02, 0x04, 0x06, 0x1c, 0x15, 0x02, 0x12, 0x00, 0x13, 0xfe, 0x14, 0xd8,
                 0x04, 0x00);
    ts_buf_free(&b);
}

static void test_thrift_long_list(void **state)
{
    ts_buf b;
    pq_tenc e;
    (void)state;
    ts_buf_init(&b, 0);
    pq_tenc_init(&e, &b);
    pq_tenc_list_begin(&e, 1, PQ_TT_I32, 15);
    for (int i = 0; i < 15; i++)
        pq_tenc_elem_i32(&e, -1);
    /* an empty struct element list and a nested empty struct (TypeDefinedOrder) */
    pq_tenc_list_begin(&e, 7, PQ_TT_STRUCT, 1);
    pq_tenc_elem_struct_begin(&e);
    pq_tenc_struct_begin(&e, 1);
    pq_tenc_struct_end(&e);
    pq_tenc_struct_end(&e);
    assert_int_equal(pq_tenc_finish(&e), 0);
    assert_bytes(b.data, b.len, 0x19, 0xf5, 0x0f, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                 0x69, 0x1c, 0x1c, 0x00, 0x00, 0x00);
    ts_buf_free(&b);
}

static void test_thrift_unbalanced(void **state)
{
    ts_buf b;
    pq_tenc e;
    (void)state;
    ts_buf_init(&b, 0);
    pq_tenc_init(&e, &b);
    pq_tenc_struct_begin(&e, 1);
    assert_int_equal(pq_tenc_finish(&e), TS_ERR_INTERNAL);
    ts_buf_free(&b);
}

static void test_bitpack_spec_example(void **state)
{
    /* Encodings.md: 0..7 with bit width 3 packs to 10001000 11000110 11111010. */
    uint32_t v[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    ts_buf b;
    (void)state;
    ts_buf_init(&b, 0);
    assert_int_equal(pq_enc_bitpack32(v, 8, 3, &b), 0);
    assert_bytes(b.data, b.len, 0x88, 0xc6, 0xfa);
    ts_buf_reset(&b);
    assert_int_equal(pq_enc_bitpack32(v, 8, 32, &b), 0);
    assert_int_equal(b.len, 32);
    assert_int_equal(b.data[4], 1);
    assert_int_equal(b.data[28], 7);
    ts_buf_free(&b);
}

static void test_hybrid_runs(void **state)
{
    ts_buf b;
    uint8_t zeros[10] = {0};
    uint8_t bits[8] = {1, 0, 1, 1, 0, 0, 0, 1};
    uint8_t three[3] = {5, 5, 5};
    uint32_t borrow[16] = {1, 2, 3, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7};
    uint32_t big[9] = {1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000};
    (void)state;
    ts_buf_init(&b, 0);
    /* ten zeros: one RLE run, header 10 << 1, value in one byte */
    assert_int_equal(pq_enc_hybrid_u8(zeros, 10, 1, &b), 0);
    assert_bytes(b.data, b.len, 0x14, 0x00);
    ts_buf_reset(&b);
    /* eight mixed bits: one bit-packed group, header 1 << 1 | 1 */
    assert_int_equal(pq_enc_hybrid_u8(bits, 8, 1, &b), 0);
    assert_bytes(b.data, b.len, 0x03, 0x8d);
    ts_buf_reset(&b);
    /* a short run stays literal, padded to a group of 8 */
    assert_int_equal(pq_enc_hybrid_u8(three, 3, 3, &b), 0);
    assert_bytes(b.data, b.len, 0x03, 0x6d, 0x01, 0x00);
    ts_buf_reset(&b);
    /* literal 1,2,3 borrows five 7s to fill its group; eight 7s remain as a run */
    assert_int_equal(pq_enc_hybrid_u32(borrow, 16, 3, &b), 0);
    assert_bytes(b.data, b.len, 0x03, 0xd1, 0xfe, 0xff, 0x10, 0x07);
    ts_buf_reset(&b);
    /* RLE value takes ceil(bit_width / 8) bytes, little endian */
    assert_int_equal(pq_enc_hybrid_u32(big, 9, 10, &b), 0);
    assert_bytes(b.data, b.len, 0x12, 0xe8, 0x03);
    ts_buf_reset(&b);
    /* bit width 0: a run with no value bytes */
    assert_int_equal(pq_enc_hybrid_u8(zeros, 9, 0, &b), 0);
    assert_bytes(b.data, b.len, 0x12);
    ts_buf_free(&b);
}

/* n copies of a value: the same bytes as the hybrid encoder over an array, whatever n
 * (a literal group below 8) and width; 300 ones at width 1 are one RLE run. */
static void test_hybrid_repeat(void **state)
{
    uint8_t v8[300];
    (void)state;
    for (int bw = 1; bw <= 9; bw += 4)
        for (size_t n = 0; n <= 300; n += n < 20 ? 1 : 37) {
            ts_buf a, b;
            uint32_t v = (uint32_t)((1u << bw) - 1) & 0xffu;
            ts_buf_init(&a, 0);
            ts_buf_init(&b, 0);
            memset(v8, (int)v, n);
            if (bw <= 8)
                assert_int_equal(pq_enc_hybrid_u8(v8, n, bw, &a), 0);
            else {
                uint32_t v32[300];
                for (size_t i = 0; i < n; i++)
                    v32[i] = 300;
                v = 300;
                assert_int_equal(pq_enc_hybrid_u32(v32, n, bw, &a), 0);
            }
            assert_int_equal(pq_enc_hybrid_repeat(v, n, bw, &b), 0);
            assert_int_equal(a.len, b.len);
            assert_memory_equal(a.data, b.data, a.len);
            ts_buf_free(&a);
            ts_buf_free(&b);
        }
    ts_buf out;
    ts_buf_init(&out, 0);
    assert_int_equal(pq_enc_hybrid_repeat(1, 300, 1, &out), 0);
    assert_bytes(out.data, out.len, 0xd8, 0x04, 0x01);
    ts_buf_free(&out);
}

static void test_bool_plain(void **state)
{
    uint8_t v[10] = {1, 0, 1, 1, 0, 0, 0, 1, 1, 1};
    ts_buf b;
    (void)state;
    ts_buf_init(&b, 0);
    assert_int_equal(pq_enc_bool_plain(v, 10, &b), 0);
    assert_bytes(b.data, b.len, 0x8d, 0x03);
    ts_buf_free(&b);
}

static void test_delta_binary_packed(void **state)
{
    int32_t a[5] = {1, 2, 3, 4, 5};
    int32_t c[8] = {7, 5, 3, 1, 2, 3, 4, 5};
    int32_t wrap[2] = {INT32_MAX, INT32_MIN};
    int64_t one[1] = {-3};
    ts_buf b;
    (void)state;
    ts_buf_init(&b, 0);
    /* Encodings.md example 1: constant delta 1, bit width 0 */
    assert_int_equal(pq_enc_delta_i32(a, 5, &b), 0);
    assert_bytes(b.data, b.len, 0x80, 0x01, 0x04, 0x05, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00);
    ts_buf_reset(&b);
    /* example 2: min delta -2, adjusted deltas 0 0 0 3 3 3 3 in 2 bits */
    assert_int_equal(pq_enc_delta_i32(c, 8, &b), 0);
    assert_bytes(b.data, b.len, 0x80, 0x01, 0x04, 0x08, 0x0e, 0x03, 0x02, 0x00, 0x00, 0x00,
                 0xc0, 0x3f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00);
    ts_buf_reset(&b);
    /* INT32 deltas wrap at 32 bits: MAX -> MIN is +1 */
    assert_int_equal(pq_enc_delta_i32(wrap, 2, &b), 0);
    assert_bytes(b.data, b.len, 0x80, 0x01, 0x04, 0x02, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0x02,
                 0x00, 0x00, 0x00, 0x00);
    ts_buf_reset(&b);
    /* a single value: header only */
    assert_int_equal(pq_enc_delta_i64(one, 1, &b), 0);
    assert_bytes(b.data, b.len, 0x80, 0x01, 0x04, 0x01, 0x05);
    ts_buf_free(&b);
}

static void test_delta_i64_extremes(void **state)
{
    /* INT64_MIN, INT64_MAX: delta -1 wraps; widths up to 64 bits must pack. */
    int64_t v[3] = {INT64_MIN, INT64_MAX, INT64_MIN};
    ts_buf b;
    (void)state;
    ts_buf_init(&b, 0);
    assert_int_equal(pq_enc_delta_i64(v, 3, &b), 0);
    /* header: 128, 4, 3, zigzag(INT64_MIN) = 2^64 - 1 */
    assert_bytes(b.data, 14, 0x80, 0x01, 0x04, 0x03, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                 0xff, 0xff, 0x01);
    /* deltas -1 and +1: min -1 (zigzag 1), adjusted 0 and 2 in 2 bits */
    assert_bytes(b.data + 14, b.len - 14, 0x01, 0x02, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00,
                 0x00, 0x00, 0x00, 0x00);
    ts_buf_free(&b);
}

static void test_delta_length_byte_array(void **state)
{
    /* PLAIN "Hello", "World", "Foobar", "ABCDEF" (Encodings.md's example) */
    static const uint8_t plain[] = {5, 0, 0, 0, 'H', 'e', 'l', 'l', 'o', 5, 0, 0, 0, 'W', 'o',
                                    'r', 'l', 'd', 6, 0, 0, 0, 'F', 'o', 'o', 'b', 'a', 'r',
                                    6, 0, 0, 0, 'A', 'B', 'C', 'D', 'E', 'F'};
    ts_buf b;
    (void)state;
    ts_buf_init(&b, 0);
    assert_int_equal(pq_enc_delta_length(plain, sizeof plain, 4, &b), 0);
    /* lengths 5 5 6 6: first 5, deltas 0 1 0, min 0, width 1, bits 010 */
    assert_bytes(b.data, b.len, 0x80, 0x01, 0x04, 0x04, 0x0a, 0x00, 0x01, 0x00, 0x00, 0x00,
                 0x02, 0x00, 0x00, 0x00, 'H', 'e', 'l', 'l', 'o', 'W', 'o', 'r', 'l', 'd', 'F',
                 'o', 'o', 'b', 'a', 'r', 'A', 'B', 'C', 'D', 'E', 'F');
    ts_buf_free(&b);
}

static void test_byte_stream_split(void **state)
{
    float f[3] = {1.0f, 2.0f, -0.0f};
    ts_buf b;
    (void)state;
    ts_buf_init(&b, 0);
    assert_int_equal(pq_enc_byte_stream_split((const uint8_t *)f, 3, 4, &b), 0);
    assert_bytes(b.data, b.len, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x3f,
                 0x40, 0x80);
    ts_buf_free(&b);
}

static void test_bit_width(void **state)
{
    (void)state;
    assert_int_equal(pq_bit_width(0), 0);
    assert_int_equal(pq_bit_width(1), 1);
    assert_int_equal(pq_bit_width(2), 2);
    assert_int_equal(pq_bit_width(3), 2);
    assert_int_equal(pq_bit_width(255), 8);
    assert_int_equal(pq_bit_width(256), 9);
    assert_int_equal(pq_bit_width(UINT64_MAX), 64);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uvarint),
        cmocka_unit_test(test_zigzag),
        cmocka_unit_test(test_thrift_struct),
        cmocka_unit_test(test_thrift_long_list),
        cmocka_unit_test(test_thrift_unbalanced),
        cmocka_unit_test(test_bitpack_spec_example),
        cmocka_unit_test(test_hybrid_runs),
        cmocka_unit_test(test_hybrid_repeat),
        cmocka_unit_test(test_bool_plain),
        cmocka_unit_test(test_delta_binary_packed),
        cmocka_unit_test(test_delta_i64_extremes),
        cmocka_unit_test(test_delta_length_byte_array),
        cmocka_unit_test(test_byte_stream_split),
        cmocka_unit_test(test_bit_width),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
