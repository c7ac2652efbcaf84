/* codec.c: page compression and decompression over snappy, zlib (gzip framing), zstd
 * and lz4. zlib and zstd allocate through alloc.h so tests can make them fail. */
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_createCCtx_advanced: custom allocator */
#include "codec.h"

#include <lz4.h>
#include <snappy-c.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "../common/alloc.h"

struct pq_compressor {
    pq_codec codec;
    int level;
    ZSTD_CCtx *zctx;
    z_stream *zs; /* deflate state, reset per page */
};

static voidpf zlib_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    if (size && items > SIZE_MAX / size)
        return NULL;
    return ts_malloc((size_t)items * size);
}

static void zlib_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    ts_free(p);
}

static void *zstd_alloc(void *opaque, size_t n)
{
    (void)opaque;
    return ts_malloc(n);
}

static void zstd_free(void *opaque, void *p)
{
    (void)opaque;
    ts_free(p);
}

static int buf_err(int rc, size_t n, ts_err *err)
{
    if (rc == TS_ERR_NOMEM)
        return ts_err_set(err, rc, "out of memory growing a page buffer by %zu bytes", n);
    return ts_err_set(err, rc, "page buffer would pass its size limit (%zu more bytes)", n);
}

static int deflate_into(z_stream *zs, int level, const void *src, size_t n, ts_buf *out,
                        ts_err *err)
{
    uLong bound;
    int rc, zrc;
    if (n > UINT32_MAX)
        return ts_err_set(err, TS_ERR_TOOBIG, "gzip: a page of %zu bytes is too large", n);
    bound = deflateBound(zs, (uLong)n) + 32;
    rc = ts_buf_reserve(out, bound);
    if (rc)
        return buf_err(rc, bound, err);
    (void)level;
    zs->next_in = (Bytef *)(uintptr_t)src;
    zs->avail_in = (uInt)n;
    zs->next_out = out->data + out->len;
    zs->avail_out = (uInt)bound;
    zrc = deflate(zs, Z_FINISH);
    if (zrc != Z_STREAM_END)
        return ts_err_set(err, TS_ERR_INTERNAL, "gzip: deflate failed (%d)", zrc);
    out->len += bound - zs->avail_out;
    return TS_OK;
}

static int gzip_init(z_stream *zs, int level, ts_err *err)
{
    int zrc;
    memset(zs, 0, sizeof *zs);
    zs->zalloc = zlib_alloc;
    zs->zfree = zlib_free;
    /* windowBits 15 + 16: a real gzip member (header and CRC), as Compression.md asks. */
    zrc = deflateInit2(zs, level ? level : Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8,
                       Z_DEFAULT_STRATEGY);
    if (zrc == Z_MEM_ERROR)
        return ts_err_set(err, TS_ERR_NOMEM, "gzip: out of memory");
    if (zrc != Z_OK)
        return ts_err_set(err, TS_ERR_INVALID, "gzip: bad level %d", level);
    return TS_OK;
}

static int compress_with(pq_codec codec, int level, ZSTD_CCtx *zctx, z_stream *zs,
                         const void *src, size_t n, ts_buf *out, ts_err *err)
{
    int rc;
    switch (codec) {
    case PQ_CODEC_UNCOMPRESSED:
        rc = ts_buf_append(out, src, n);
        return rc ? buf_err(rc, n, err) : TS_OK;
    case PQ_CODEC_SNAPPY: {
        size_t bound = snappy_max_compressed_length(n), len = bound;
        rc = ts_buf_reserve(out, bound);
        if (rc)
            return buf_err(rc, bound, err);
        if (snappy_compress(src, n, (char *)out->data + out->len, &len) != SNAPPY_OK)
            return ts_err_set(err, TS_ERR_INTERNAL, "snappy: compression failed");
        out->len += len;
        return TS_OK;
    }
    case PQ_CODEC_GZIP: {
        z_stream local;
        if (zs) {
            if (deflateReset(zs) != Z_OK)
                return ts_err_set(err, TS_ERR_INTERNAL, "gzip: deflateReset failed");
            return deflate_into(zs, level, src, n, out, err);
        }
        rc = gzip_init(&local, level, err);
        if (rc)
            return rc;
        rc = deflate_into(&local, level, src, n, out, err);
        deflateEnd(&local);
        return rc;
    }
    case PQ_CODEC_ZSTD: {
        size_t bound = ZSTD_compressBound(n), r;
        rc = ts_buf_reserve(out, bound);
        if (rc)
            return buf_err(rc, bound, err);
        if (zctx) {
            r = ZSTD_compressCCtx(zctx, out->data + out->len, bound, src, n,
                                  level ? level : ZSTD_CLEVEL_DEFAULT);
        } else {
            ZSTD_customMem mem = {zstd_alloc, zstd_free, NULL};
            ZSTD_CCtx *c = ZSTD_createCCtx_advanced(mem);
            if (!c)
                return ts_err_set(err, TS_ERR_NOMEM, "zstd: out of memory");
            r = ZSTD_compressCCtx(c, out->data + out->len, bound, src, n,
                                  level ? level : ZSTD_CLEVEL_DEFAULT);
            ZSTD_freeCCtx(c);
        }
        if (ZSTD_isError(r)) {
            int code = ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? TS_ERR_NOMEM
                                                                            : TS_ERR_INTERNAL;
            return ts_err_set(err, code, "zstd: %s", ZSTD_getErrorName(r));
        }
        out->len += r;
        return TS_OK;
    }
    case PQ_CODEC_LZ4_RAW: {
        int bound, len;
        if (n > (size_t)LZ4_MAX_INPUT_SIZE)
            return ts_err_set(err, TS_ERR_TOOBIG, "lz4: a page of %zu bytes is too large", n);
        bound = LZ4_compressBound((int)n);
        rc = ts_buf_reserve(out, (size_t)bound);
        if (rc)
            return buf_err(rc, (size_t)bound, err);
        len = LZ4_compress_default(src, (char *)out->data + out->len, (int)n, bound);
        if (len <= 0 && n > 0)
            return ts_err_set(err, TS_ERR_INTERNAL, "lz4: compression failed");
        out->len += (size_t)len;
        return TS_OK;
    }
    default:
        return ts_err_set(err, TS_ERR_UNSUPPORTED, "codec \"%s\" is not supported for writing",
                          pq_codec_name(codec));
    }
}

size_t pq_compress_bound(pq_codec codec, size_t n)
{
    switch (codec) {
    case PQ_CODEC_UNCOMPRESSED: return n;
    case PQ_CODEC_SNAPPY: return snappy_max_compressed_length(n);
    case PQ_CODEC_GZIP: return compressBound((uLong)n) + 64; /* + gzip header and trailer */
    case PQ_CODEC_ZSTD: return ZSTD_compressBound(n);
    case PQ_CODEC_LZ4_RAW:
        return n > (size_t)LZ4_MAX_INPUT_SIZE ? 0 : (size_t)LZ4_compressBound((int)n);
    default: return 0;
    }
}

int pq_compress(pq_codec codec, int level, const void *src, size_t n, ts_buf *out, ts_err *err)
{
    return compress_with(codec, level, NULL, NULL, src, n, out, err);
}

pq_compressor *pq_compressor_new(pq_codec codec, int level, ts_err *err)
{
    pq_compressor *c = NULL;
    switch (codec) {
    case PQ_CODEC_UNCOMPRESSED:
    case PQ_CODEC_SNAPPY:
    case PQ_CODEC_GZIP:
    case PQ_CODEC_ZSTD:
    case PQ_CODEC_LZ4_RAW:
        break;
    default:
        ts_err_set(err, TS_ERR_UNSUPPORTED, "codec \"%s\" is not supported for writing",
                   pq_codec_name(codec));
        return NULL;
    }
    c = ts_calloc(1, sizeof *c);
    if (!c)
        goto nomem;
    c->codec = codec;
    c->level = level;
    if (codec == PQ_CODEC_ZSTD) {
        ZSTD_customMem mem = {zstd_alloc, zstd_free, NULL};
        if (level < ZSTD_minCLevel() || level > ZSTD_maxCLevel()) {
            ts_err_set(err, TS_ERR_INVALID, "zstd: level %d is out of range %d..%d", level,
                       ZSTD_minCLevel(), ZSTD_maxCLevel());
            goto fail;
        }
        c->zctx = ZSTD_createCCtx_advanced(mem);
        if (!c->zctx)
            goto nomem;
    } else if (codec == PQ_CODEC_GZIP) {
        if (level < 0 || level > 9) {
            ts_err_set(err, TS_ERR_INVALID, "gzip: level %d is out of range 0..9", level);
            goto fail;
        }
        c->zs = ts_malloc(sizeof *c->zs);
        if (!c->zs)
            goto nomem;
        if (gzip_init(c->zs, level, err)) {
            ts_free(c->zs);
            c->zs = NULL;
            goto fail;
        }
    }
    return c;
nomem:
    ts_err_set(err, TS_ERR_NOMEM, "out of memory creating a %s compressor", pq_codec_name(codec));
fail:
    pq_compressor_free(c);
    return NULL;
}

int pq_compressor_run(pq_compressor *c, const void *src, size_t n, ts_buf *out, ts_err *err)
{
    return compress_with(c->codec, c->level, c->zctx, c->zs, src, n, out, err);
}

int pq_compressor_run_into(pq_compressor *c, const void *src, size_t n, uint8_t *dst, size_t cap,
                           size_t *len, ts_err *err)
{
    /* A buffer that cannot move: a reserve past cap meets the limit (TS_ERR_TOOBIG)
     * before any realloc; the extra byte of cap is ts_buf's NUL, never written here. */
    ts_buf b = {.data = dst, .len = 0, .cap = cap + 1, .limit = cap};
    int rc = compress_with(c->codec, c->level, c->zctx, c->zs, src, n, &b, err);
    *len = b.len;
    return rc;
}

void pq_compressor_free(pq_compressor *c)
{
    if (!c)
        return;
    ZSTD_freeCCtx(c->zctx);
    if (c->zs) {
        deflateEnd(c->zs);
        ts_free(c->zs);
    }
    ts_free(c);
}

static int size_mismatch(ts_err *err, const char *codec, size_t got, size_t want)
{
    return ts_err_set(err, TS_ERR_FORMAT,
                      "%s: page decompressed to %zu bytes, header says %zu", codec, got, want);
}

static int gunzip(const void *src, size_t n, void *dst, size_t dst_len, ts_err *err)
{
    z_stream zs;
    int zrc, rc = TS_OK;
    const uint8_t *in = src;
    size_t in_left = n, out_done = 0;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = zlib_alloc;
    zs.zfree = zlib_free;
    /* 15 + 32: gzip or zlib header, detected. */
    zrc = inflateInit2(&zs, 15 + 32);
    if (zrc != Z_OK)
        return ts_err_set(err, zrc == Z_MEM_ERROR ? TS_ERR_NOMEM : TS_ERR_INTERNAL,
                          "gzip: inflateInit failed (%d)", zrc);
    for (;;) {
        uInt in_chunk = in_left > UINT32_MAX ? UINT32_MAX : (uInt)in_left;
        size_t out_left = dst_len - out_done;
        uInt out_chunk = out_left > UINT32_MAX ? UINT32_MAX : (uInt)out_left;
        uint8_t spare;
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = in_chunk;
        /* With dst full, one spare byte catches a stream longer than the header says. */
        zs.next_out = out_chunk ? (Bytef *)dst + out_done : &spare;
        zs.avail_out = out_chunk ? out_chunk : 1;
        zrc = inflate(&zs, Z_NO_FLUSH);
        in += in_chunk - zs.avail_in;
        in_left -= in_chunk - zs.avail_in;
        if (out_chunk)
            out_done += out_chunk - zs.avail_out;
        else if (zs.avail_out == 0) {
            rc = ts_err_set(err, TS_ERR_FORMAT,
                            "gzip: page decompresses to more than the %zu bytes its header says",
                            dst_len);
            goto out;
        }
        if (zrc == Z_STREAM_END) {
            /* Another member may follow; trailing zero padding is tolerated. */
            size_t i = 0;
            while (i < in_left && in[i] == 0)
                i++;
            if (i == in_left)
                break;
            if (inflateReset(&zs) != Z_OK) {
                rc = ts_err_set(err, TS_ERR_INTERNAL, "gzip: inflateReset failed");
                goto out;
            }
            continue;
        }
        if (zrc == Z_MEM_ERROR) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "gzip: out of memory");
            goto out;
        }
        if (zrc == Z_BUF_ERROR && (in_left == 0 || zs.avail_in == in_chunk)) {
            /* no input left, or none consumed: the stream cannot go on */
            rc = ts_err_set(err, TS_ERR_FORMAT, "gzip: truncated stream");
            goto out;
        }
        if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            rc = ts_err_set(err, TS_ERR_FORMAT, "gzip: corrupt stream (%s)",
                            zs.msg ? zs.msg : "inflate error");
            goto out;
        }
    }
    if (out_done != dst_len)
        rc = size_mismatch(err, "gzip", out_done, dst_len);
out:
    inflateEnd(&zs);
    return rc;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Hadoop's LZ4 framing: blocks of [u32 BE raw size][u32 BE compressed size][lz4 block].
 * Returns 0 when the whole input parsed that way and filled dst exactly. */
static int lz4_hadoop(const uint8_t *src, size_t n, uint8_t *dst, size_t dst_len)
{
    size_t done = 0;
    while (n > 0) {
        uint32_t raw, comp;
        int got;
        if (n < 8)
            return -1;
        raw = be32(src);
        comp = be32(src + 4);
        src += 8;
        n -= 8;
        if (comp > n || raw > dst_len - done || comp > INT32_MAX || raw > INT32_MAX)
            return -1;
        got = LZ4_decompress_safe((const char *)src, (char *)dst + done, (int)comp, (int)raw);
        if (got < 0 || (uint32_t)got != raw)
            return -1;
        done += raw;
        src += comp;
        n -= comp;
    }
    return done == dst_len ? 0 : -1;
}

int pq_decompress(pq_codec codec, const void *src, size_t n, void *dst, size_t dst_len,
                  ts_err *err)
{
    switch (codec) {
    case PQ_CODEC_UNCOMPRESSED:
        if (n != dst_len)
            return size_mismatch(err, "uncompressed", n, dst_len);
        if (n)
            memcpy(dst, src, n);
        return TS_OK;
    case PQ_CODEC_SNAPPY: {
        size_t len;
        if (snappy_uncompressed_length(src, n, &len) != SNAPPY_OK)
            return ts_err_set(err, TS_ERR_FORMAT, "snappy: corrupt page header");
        if (len != dst_len)
            return size_mismatch(err, "snappy", len, dst_len);
        if (snappy_validate_compressed_buffer(src, n) != SNAPPY_OK)
            return ts_err_set(err, TS_ERR_FORMAT, "snappy: corrupt page");
        if (snappy_uncompress(src, n, dst, &len) != SNAPPY_OK)
            return ts_err_set(err, TS_ERR_FORMAT, "snappy: corrupt page");
        if (len != dst_len)
            return size_mismatch(err, "snappy", len, dst_len);
        return TS_OK;
    }
    case PQ_CODEC_GZIP:
        return gunzip(src, n, dst, dst_len, err);
    case PQ_CODEC_ZSTD: {
        size_t r;
        ZSTD_customMem mem = {zstd_alloc, zstd_free, NULL};
        ZSTD_DCtx *d;
        if (dst_len == 0 && n == 0)
            return TS_OK;
        d = ZSTD_createDCtx_advanced(mem);
        if (!d)
            return ts_err_set(err, TS_ERR_NOMEM, "zstd: out of memory");
        r = ZSTD_decompressDCtx(d, dst, dst_len, src, n);
        ZSTD_freeDCtx(d);
        if (ZSTD_isError(r)) {
            if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
                return ts_err_set(err, TS_ERR_FORMAT,
                                  "zstd: page decompresses to more than the %zu bytes its header says",
                                  dst_len);
            if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
                return ts_err_set(err, TS_ERR_NOMEM, "zstd: out of memory");
            return ts_err_set(err, TS_ERR_FORMAT, "zstd: corrupt page (%s)", ZSTD_getErrorName(r));
        }
        if (r != dst_len)
            return size_mismatch(err, "zstd", r, dst_len);
        return TS_OK;
    }
    case PQ_CODEC_LZ4_RAW:
    case PQ_CODEC_LZ4: {
        int got;
        if (n > INT32_MAX || dst_len > INT32_MAX)
            return ts_err_set(err, TS_ERR_TOOBIG, "lz4: page of %zu bytes is too large", n);
        if (codec == PQ_CODEC_LZ4 && lz4_hadoop(src, n, dst, dst_len) == 0)
            return TS_OK;
        if (dst_len == 0 && n == 0)
            return TS_OK;
        got = LZ4_decompress_safe(src, dst, (int)n, (int)dst_len);
        if (got < 0)
            return ts_err_set(err, TS_ERR_FORMAT, "lz4: corrupt page");
        if ((size_t)got != dst_len)
            return size_mismatch(err, "lz4", (size_t)got, dst_len);
        return TS_OK;
    }
    default:
        return ts_err_set(err, TS_ERR_UNSUPPORTED, "codec \"%s\" is not supported",
                          pq_codec_name(codec));
    }
}
