/* test_pq_codec.c: page compression round trips for every codec, exact-size checks,
 * gzip framing and concatenated members, legacy LZ4 (Hadoop framing), and hostile
 * input that must fail cleanly without overrunning the destination. */
#include "pq_testutil.h"

#include <lz4.h>
#include <zlib.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "parquet/codec.h"

static const pq_codec codecs[] = {PQ_CODEC_UNCOMPRESSED, PQ_CODEC_SNAPPY, PQ_CODEC_GZIP,
                                  PQ_CODEC_ZSTD, PQ_CODEC_LZ4_RAW};

static void fill(uint8_t *p, size_t n)
{
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (uint8_t)(i % 7 == 0 ? (x >> 16) : 'a' + i % 13);
    }
}

static void test_round_trip(void **state)
{
    size_t sizes[] = {0, 1, 100, 70000};
    (void)state;
    for (size_t c = 0; c < sizeof codecs / sizeof codecs[0]; c++) {
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            size_t n = sizes[s];
            uint8_t *src = malloc(n + 1), *dst = malloc(n + 1);
            ts_buf out;
            ts_err err = {0};
            pq_compressor *cz;
            fill(src, n);
            ts_buf_init(&out, 0);
            assert_int_equal(pq_compress(codecs[c], 0, src, n, &out, &err), 0);
            memset(dst, 0xee, n + 1);
            assert_int_equal(pq_decompress(codecs[c], out.data, out.len, dst, n, &err), 0);
            assert_memory_equal(dst, src, n);
            assert_int_equal(dst[n], 0xee); /* nothing written past dst_len */
            /* the reusable compressor gives a decodable result too, twice */
            cz = pq_compressor_new(codecs[c], 0, &err);
            assert_non_null(cz);
            for (int k = 0; k < 2; k++) {
                ts_buf_reset(&out);
                assert_int_equal(pq_compressor_run(cz, src, n, &out, &err), 0);
                assert_int_equal(pq_decompress(codecs[c], out.data, out.len, dst, n, &err), 0);
                assert_memory_equal(dst, src, n);
            }
            pq_compressor_free(cz);
            ts_buf_free(&out);
            free(src);
            free(dst);
        }
    }
}

static void test_size_mismatch(void **state)
{
    uint8_t src[1000], dst[2000];
    (void)state;
    fill(src, sizeof src);
    for (size_t c = 0; c < sizeof codecs / sizeof codecs[0]; c++) {
        ts_buf out;
        ts_err err = {0};
        ts_buf_init(&out, 0);
        assert_int_equal(pq_compress(codecs[c], 0, src, sizeof src, &out, &err), 0);
        /* header says fewer bytes than the page holds: must not write past dst_len */
        memset(dst, 0xee, sizeof dst);
        assert_int_equal(pq_decompress(codecs[c], out.data, out.len, dst, 500, &err),
                         TS_ERR_FORMAT);
        for (size_t i = 500; i < sizeof dst; i++)
            assert_int_equal(dst[i], 0xee);
        /* header says more */
        ts_err_clear(&err);
        assert_int_equal(pq_decompress(codecs[c], out.data, out.len, dst, 1001, &err),
                         TS_ERR_FORMAT);
        assert_true(err.msg[0] != '\0');
        ts_buf_free(&out);
    }
}

static void test_garbage(void **state)
{
    uint8_t junk[256], dst[4096];
    (void)state;
    fill(junk, sizeof junk);
    for (size_t c = 1; c < sizeof codecs / sizeof codecs[0]; c++) {
        ts_err err = {0};
        for (size_t cut = 0; cut < sizeof junk; cut += 17) {
            int rc = pq_decompress(codecs[c], junk, cut, dst, sizeof dst, &err);
            assert_int_not_equal(rc, 0);
        }
    }
}

static void test_truncated(void **state)
{
    uint8_t src[5000], dst[5000];
    (void)state;
    fill(src, sizeof src);
    for (size_t c = 1; c < sizeof codecs / sizeof codecs[0]; c++) {
        ts_buf out;
        ts_err err = {0};
        ts_buf_init(&out, 0);
        assert_int_equal(pq_compress(codecs[c], 0, src, sizeof src, &out, &err), 0);
        for (size_t cut = 0; cut < out.len; cut += out.len / 7 + 1)
            assert_int_not_equal(pq_decompress(codecs[c], out.data, cut, dst, sizeof dst, &err), 0);
        ts_buf_free(&out);
    }
}

static void test_gzip_framing_and_members(void **state)
{
    uint8_t a[300], dst[600];
    ts_buf out;
    ts_err err = {0};
    size_t first;
    (void)state;
    fill(a, sizeof a);
    ts_buf_init(&out, 0);
    assert_int_equal(pq_compress(PQ_CODEC_GZIP, 9, a, sizeof a, &out, &err), 0);
    /* a real gzip member: magic 1f 8b, method deflate */
    assert_bytes(out.data, 3, 0x1f, 0x8b, 0x08);
    first = out.len;
    assert_int_equal(pq_compress(PQ_CODEC_GZIP, 1, a, sizeof a, &out, &err), 0);
    assert_int_equal(pq_decompress(PQ_CODEC_GZIP, out.data, out.len, dst, 600, &err), 0);
    assert_memory_equal(dst, a, 300);
    assert_memory_equal(dst + 300, a, 300);
    /* one member alone is not 600 bytes */
    assert_int_equal(pq_decompress(PQ_CODEC_GZIP, out.data, first, dst, 600, &err), TS_ERR_FORMAT);
    ts_buf_free(&out);
}

static void test_lz4_hadoop(void **state)
{
    uint8_t src[400], comp[1024], framed[1100], dst[400];
    int clen;
    ts_err err = {0};
    (void)state;
    fill(src, sizeof src);
    clen = LZ4_compress_default((const char *)src, (char *)comp, 400, (int)sizeof comp);
    assert_true(clen > 0);
    framed[0] = 0, framed[1] = 0, framed[2] = 400 >> 8, framed[3] = 400 & 0xff;
    framed[4] = 0, framed[5] = 0, framed[6] = (uint8_t)(clen >> 8), framed[7] = (uint8_t)clen;
    memcpy(framed + 8, comp, (size_t)clen);
    assert_int_equal(pq_decompress(PQ_CODEC_LZ4, framed, (size_t)clen + 8, dst, 400, &err), 0);
    assert_memory_equal(dst, src, 400);
    /* a raw block under the legacy codec id is accepted as well */
    memset(dst, 0, sizeof dst);
    assert_int_equal(pq_decompress(PQ_CODEC_LZ4, comp, (size_t)clen, dst, 400, &err), 0);
    assert_memory_equal(dst, src, 400);
}

static void test_unsupported(void **state)
{
    ts_buf out;
    ts_err err = {0};
    uint8_t x = 0;
    (void)state;
    ts_buf_init(&out, 0);
    assert_int_equal(pq_compress(PQ_CODEC_BROTLI, 0, "a", 1, &out, &err), TS_ERR_UNSUPPORTED);
    assert_int_equal(pq_decompress(PQ_CODEC_LZO, "a", 1, &x, 1, &err), TS_ERR_UNSUPPORTED);
    assert_null(pq_compressor_new(PQ_CODEC_ZSTD, 99, &err));
    ts_buf_free(&out);
}

static void test_alloc_failure(void **state)
{
    static uint8_t src[100000];
    (void)state;
    fill(src, sizeof src);
    for (size_t c = 0; c < sizeof codecs / sizeof codecs[0]; c++) {
        for (long nth = 1;; nth++) {
            ts_buf out;
            ts_err err = {0};
            pq_compressor *cz;
            int rc = TS_ERR_NOMEM;
            ts_buf_init(&out, 0);
            ts_alloc_fail_after(nth);
            cz = pq_compressor_new(codecs[c], 0, &err);
            if (cz)
                rc = pq_compressor_run(cz, src, sizeof src, &out, &err);
            ts_alloc_fail_after(0);
            pq_compressor_free(cz);
            ts_buf_free(&out);
            if (rc == 0)
                break;
            assert_int_equal(rc, TS_ERR_NOMEM);
            assert_true(nth < 100);
        }
    }
    /* decompression allocates too (zstd context, zlib state) */
    for (size_t c = 0; c < sizeof codecs / sizeof codecs[0]; c++) {
        static uint8_t back[100000];
        ts_buf out;
        ts_err err = {0};
        ts_buf_init(&out, 0);
        assert_int_equal(pq_compress(codecs[c], 0, src, sizeof src, &out, &err), 0);
        for (long nth = 1;; nth++) {
            int rc;
            ts_alloc_fail_after(nth);
            rc = pq_decompress(codecs[c], out.data, out.len, back, sizeof back, &err);
            ts_alloc_fail_after(0);
            if (rc == 0)
                break;
            assert_int_equal(rc, TS_ERR_NOMEM);
            assert_true(nth < 100);
        }
        assert_memory_equal(back, src, sizeof src);
        ts_buf_free(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_size_mismatch),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_gzip_framing_and_members),
        cmocka_unit_test(test_lz4_hadoop),
        cmocka_unit_test(test_unsupported),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
