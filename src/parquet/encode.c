/* encode.c: the RLE / bit-packed hybrid, bit packing, DELTA_BINARY_PACKED,
 * DELTA_LENGTH_BYTE_ARRAY and BYTE_STREAM_SPLIT encoders (Encodings.md). Each
 * reserves its worst case once and then writes through a plain pointer. */
#include "encode.h"

#include <string.h>

#include "../common/alloc.h"
#include "thrift_enc.h"

/* Bit writer over a reserved region: values of up to 32 bits at a time. */
typedef struct bitw {
    uint8_t *p;
    uint64_t acc;
    int bits;
} bitw;

static inline void bitw_put(bitw *b, uint64_t v, int width)
{
    b->acc |= v << b->bits;
    b->bits += width;
    while (b->bits >= 8) {
        *b->p++ = (uint8_t)b->acc;
        b->acc >>= 8;
        b->bits -= 8;
    }
}

static inline void bitw_put64(bitw *b, uint64_t v, int width)
{
    if (width > 32) {
        bitw_put(b, v & 0xffffffffu, 32);
        bitw_put(b, v >> 32, width - 32);
    } else {
        bitw_put(b, v, width);
    }
}

static inline void bitw_flush(bitw *b)
{
    if (b->bits > 0) {
        *b->p++ = (uint8_t)b->acc;
        b->acc = 0;
        b->bits = 0;
    }
}

int pq_enc_bitpack32(const uint32_t *v, size_t n, int bit_width, ts_buf *out)
{
    size_t need = n / 8 * (size_t)bit_width + 8;
    bitw b = {0};
    int rc = ts_buf_reserve(out, need);
    if (rc)
        return rc;
    b.p = out->data + out->len;
    for (size_t i = 0; i < n; i++)
        bitw_put(&b, v[i], bit_width);
    bitw_flush(&b);
    out->len = (size_t)(b.p - out->data);
    return TS_OK;
}

/* Worst case of the hybrid: every 8 values cost bit_width bytes of literal or one RLE
 * header (<= 5 bytes) plus a value (<= 4 bytes); plus the run headers and padding. */
static size_t hybrid_bound(size_t n, int bit_width)
{
    return (n / 8 + 2) * ((size_t)bit_width + 10) + 16;
}

#define HYBRID_ENCODER(NAME, T)                                                              \
    static uint8_t *NAME##_literal(uint8_t *p, const T *v, size_t cnt, int bw)               \
    {                                                                                        \
        size_t groups = (cnt + 7) / 8, full = cnt & ~(size_t)7;                              \
        bitw b = {0};                                                                        \
        p += pq_uvarint_put(p, (uint64_t)groups << 1 | 1);                                   \
        b.p = p;                                                                             \
        for (size_t i = 0; i < full; i++)                                                    \
            bitw_put(&b, v[i], bw);                                                          \
        if (full < cnt) {                                                                    \
            for (size_t i = full; i < full + 8; i++)                                         \
                bitw_put(&b, i < cnt ? v[i] : 0, bw);                                        \
        }                                                                                    \
        bitw_flush(&b);                                                                      \
        return b.p;                                                                          \
    }                                                                                        \
    int NAME(const T *v, size_t n, int bw, ts_buf *out)                                      \
    {                                                                                        \
        size_t i = 0, lit = 0, vbytes = ((size_t)bw + 7) / 8;                                \
        uint8_t *p;                                                                          \
        int rc = ts_buf_reserve(out, hybrid_bound(n, bw));                                   \
        if (rc)                                                                              \
            return rc;                                                                       \
        p = out->data + out->len;                                                            \
        while (i < n) {                                                                      \
            T x = v[i];                                                                      \
            size_t j = i + 1;                                                                \
            while (j < n && v[j] == x)                                                       \
                j++;                                                                         \
            if (j - i >= 8) {                                                                \
                /* Literal groups hold 8 values: borrow the run's head to fill the last. */  \
                size_t pending = i - lit, pad = (8 - (pending & 7)) & 7;                     \
                if (j - i - pad >= 8) {                                                      \
                    uint32_t xv = (uint32_t)x;                                               \
                    if (pending + pad)                                                       \
                        p = NAME##_literal(p, v + lit, pending + pad, bw);                   \
                    p += pq_uvarint_put(p, (uint64_t)(j - i - pad) << 1);                    \
                    for (size_t k = 0; k < vbytes; k++)                                      \
                        *p++ = (uint8_t)(xv >> (8 * k));                                     \
                    lit = j;                                                                 \
                }                                                                            \
            }                                                                                \
            i = j;                                                                           \
        }                                                                                    \
        if (lit < n)                                                                         \
            p = NAME##_literal(p, v + lit, n - lit, bw);                                     \
        out->len = (size_t)(p - out->data);                                                  \
        return TS_OK;                                                                        \
    }

HYBRID_ENCODER(pq_enc_hybrid_u8, uint8_t)
HYBRID_ENCODER(pq_enc_hybrid_u32, uint32_t)

int pq_enc_hybrid_repeat(uint32_t v, size_t n, int bw, ts_buf *out)
{
    uint32_t few[8];
    size_t vbytes = ((size_t)bw + 7) / 8;
    uint8_t *p;
    int rc;
    if (n < 8) { /* a literal group, as the hybrid encoder writes a short run */
        for (size_t i = 0; i < n; i++)
            few[i] = v;
        return pq_enc_hybrid_u32(few, n, bw, out);
    }
    if ((rc = ts_buf_reserve(out, 10 + vbytes)) != 0)
        return rc;
    p = out->data + out->len;
    p += pq_uvarint_put(p, (uint64_t)n << 1);
    for (size_t k = 0; k < vbytes; k++)
        *p++ = (uint8_t)(v >> (8 * k));
    out->len = (size_t)(p - out->data);
    return TS_OK;
}

int pq_enc_bool_plain(const uint8_t *v, size_t n, ts_buf *out)
{
    size_t nbytes = (n + 7) / 8, i = 0;
    uint8_t *p;
    int rc = ts_buf_reserve(out, nbytes);
    if (rc)
        return rc;
    p = out->data + out->len;
    for (; i + 8 <= n; i += 8)
        *p++ = (uint8_t)((v[i] & 1) | (v[i + 1] & 1) << 1 | (v[i + 2] & 1) << 2 |
                         (v[i + 3] & 1) << 3 | (v[i + 4] & 1) << 4 | (v[i + 5] & 1) << 5 |
                         (v[i + 6] & 1) << 6 | (v[i + 7] & 1) << 7);
    if (i < n) {
        uint8_t b = 0;
        for (int k = 0; i < n; i++, k++)
            b |= (uint8_t)((v[i] & 1) << k);
        *p++ = b;
    }
    out->len += nbytes;
    return TS_OK;
}

#define DBP_BLOCK 128
#define DBP_MINIBLOCKS 4
#define DBP_MINI (DBP_BLOCK / DBP_MINIBLOCKS)

/* Values are read as int64; for INT32 the deltas wrap at 32 bits, as the reader's
 * int32 arithmetic does, so every adjusted delta fits 32 bits. */
static int delta_encode(const void *vals, size_t n, int is32, ts_buf *out)
{
    const int32_t *v32 = vals;
    const int64_t *v64 = vals;
    /* header <= 4 varints; per block: varint + 4 widths + 128 values of <= 64 bits */
    size_t need = 40 + (n / DBP_BLOCK + 1) * (10 + DBP_MINIBLOCKS + DBP_BLOCK * 8);
    uint8_t *p;
    int64_t prev;
    int rc = ts_buf_reserve(out, need);
    if (rc)
        return rc;
    p = out->data + out->len;
    p += pq_uvarint_put(p, DBP_BLOCK);
    p += pq_uvarint_put(p, DBP_MINIBLOCKS);
    p += pq_uvarint_put(p, n);
    prev = n ? (is32 ? v32[0] : v64[0]) : 0;
    p += pq_uvarint_put(p, pq_zigzag64(prev));
    for (size_t start = 1; start < n; start += DBP_BLOCK) {
        int64_t d[DBP_BLOCK];
        size_t cnt = n - start < DBP_BLOCK ? n - start : DBP_BLOCK;
        int64_t mind;
        uint8_t *widths;
        for (size_t k = 0; k < cnt; k++) {
            int64_t cur = is32 ? v32[start + k] : v64[start + k];
            if (is32)
                d[k] = (int32_t)((uint32_t)cur - (uint32_t)prev);
            else
                d[k] = (int64_t)((uint64_t)cur - (uint64_t)prev);
            prev = cur;
        }
        mind = d[0];
        for (size_t k = 1; k < cnt; k++)
            if (d[k] < mind)
                mind = d[k];
        p += pq_uvarint_put(p, pq_zigzag64(mind));
        widths = p;
        p += DBP_MINIBLOCKS;
        for (int m = 0; m < DBP_MINIBLOCKS; m++) {
            size_t lo = (size_t)m * DBP_MINI, hi = lo + DBP_MINI;
            uint64_t adj[DBP_MINI], maxa = 0;
            int width;
            bitw b = {0};
            if (lo >= cnt) {
                widths[m] = 0;
                continue;
            }
            for (size_t k = lo; k < hi; k++) {
                adj[k - lo] = k < cnt ? (uint64_t)d[k] - (uint64_t)mind : 0;
                maxa |= adj[k - lo];
            }
            width = pq_bit_width(maxa);
            widths[m] = (uint8_t)width;
            b.p = p;
            for (int k = 0; k < DBP_MINI; k++)
                bitw_put64(&b, adj[k], width);
            bitw_flush(&b);
            p = b.p;
        }
    }
    out->len = (size_t)(p - out->data);
    return TS_OK;
}

int pq_enc_delta_i32(const int32_t *v, size_t n, ts_buf *out)
{
    return delta_encode(v, n, 1, out);
}

int pq_enc_delta_i64(const int64_t *v, size_t n, ts_buf *out)
{
    return delta_encode(v, n, 0, out);
}

int pq_enc_delta_length(const uint8_t *plain, size_t plain_len, size_t n, ts_buf *out)
{
    int32_t *lens = NULL;
    size_t off = 0, total = 0;
    int rc;
    lens = ts_malloc((n ? n : 1) * sizeof *lens);
    if (!lens)
        return TS_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        uint32_t len;
        if (off + 4 > plain_len) {
            rc = TS_ERR_INTERNAL;
            goto out;
        }
        memcpy(&len, plain + off, 4);
        lens[i] = (int32_t)len;
        off += 4 + len;
        total += len;
    }
    rc = pq_enc_delta_i32(lens, n, out);
    if (rc)
        goto out;
    rc = ts_buf_reserve(out, total);
    if (rc)
        goto out;
    off = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(out->data + out->len, plain + off + 4, (size_t)lens[i]);
        out->len += (size_t)lens[i];
        off += 4 + (size_t)lens[i];
    }
out:
    ts_free(lens);
    return rc;
}

int pq_enc_byte_stream_split(const uint8_t *v, size_t n, size_t width, ts_buf *out)
{
    uint8_t *p;
    int rc = ts_buf_reserve(out, n * width);
    if (rc)
        return rc;
    p = out->data + out->len;
    for (size_t k = 0; k < width; k++) {
        uint8_t *s = p + k * n;
        const uint8_t *src = v + k;
        for (size_t i = 0; i < n; i++)
            s[i] = src[i * width];
    }
    out->len += n * width;
    return TS_OK;
}
