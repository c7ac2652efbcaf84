/* decode.c: streaming decoders of Parquet's encodings over untrusted buffers. */
#include "decode.h"

#include <string.h>

#include "../common/alloc.h"

int pq_bit_width(uint64_t max)
{
    int w = 0;
    while (max) {
        w++;
        max >>= 1;
    }
    return w;
}

int pq_fixed_width(int physical, int type_length)
{
    switch (physical) {
    case PQ_INT32:
    case PQ_FLOAT:
        return 4;
    case PQ_INT64:
    case PQ_DOUBLE:
        return 8;
    case PQ_INT96:
        return 12;
    case PQ_FIXED_LEN_BYTE_ARRAY:
        return type_length;
    default:
        return 0;
    }
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* LSB-first bits [bit, bit + w) of p (nbytes long); the caller checked the range. */
static uint64_t bits_le(const uint8_t *p, uint64_t bit, int w)
{
    uint64_t v = 0;
    int got = 0, sh = (int)(bit & 7);
    size_t i = (size_t)(bit >> 3);
    while (got < w) {
        v |= ((uint64_t)(p[i++] >> sh)) << got;
        got += 8 - sh;
        sh = 0;
    }
    return w == 64 ? v : v & (((uint64_t)1 << w) - 1);
}

/* MSB-first bits, for the legacy BIT_PACKED levels. */
static uint64_t bits_be(const uint8_t *p, uint64_t bit, int w)
{
    uint64_t v = 0;
    for (int k = 0; k < w; k++, bit++)
        v = v << 1 | ((p[bit >> 3] >> (7 - (bit & 7))) & 1);
    return v;
}

static bool bits_fit(size_t nbytes, uint64_t bit, int w)
{
    return bit <= (uint64_t)nbytes * 8 && (uint64_t)w <= (uint64_t)nbytes * 8 - bit;
}

static int uleb(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (p >= end)
            return -1;
        uint8_t b = *p++;
        if (i == 9 && b > 1)
            return -1;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            *pp = p;
            return 0;
        }
    }
    return -1;
}

/* ---- RLE / bit-packed hybrid ---- */

void pq_rle_init(pq_rle *d, const uint8_t *p, size_t n, int width)
{
    memset(d, 0, sizeof *d);
    d->p = p;
    d->end = p + n;
    d->width = width;
}

int pq_rle_next_slow(pq_rle *d, uint64_t *out, ts_err *err)
{
    for (;;) {
        if (d->rle_left) {
            d->rle_left--;
            *out = d->rle_value;
            return 0;
        }
        if (d->bp_left) {
            if (!bits_fit(d->bp_bytes, d->bp_bit, d->width))
                return ts_err_set(err, TS_ERR_FORMAT, "bit-packed run truncated");
            *out = bits_le(d->bp, d->bp_bit, d->width);
            d->bp_bit += (uint64_t)d->width;
            d->bp_left--;
            return 0;
        }
        uint64_t h;
        if (d->p >= d->end)
            return ts_err_set(err, TS_ERR_FORMAT, "RLE data ends before its values");
        if (uleb(&d->p, d->end, &h))
            return ts_err_set(err, TS_ERR_FORMAT, "bad RLE run header");
        if (h & 1) {
            uint64_t groups = h >> 1;
            if (groups == 0 || groups > ((uint64_t)1 << 40))
                return ts_err_set(err, TS_ERR_FORMAT, "bit-packed run of %llu groups",
                                  (unsigned long long)groups);
            uint64_t bytes = groups * (uint64_t)d->width;
            size_t avail = (size_t)(d->end - d->p);
            d->bp = d->p;
            /* The last run may be cut short; values past the data are an error only
             * when asked for. */
            d->bp_bytes = bytes < avail ? (size_t)bytes : avail;
            d->p += d->bp_bytes;
            d->bp_bit = 0;
            d->bp_left = groups * 8;
        } else {
            uint64_t count = h >> 1;
            size_t nb = ((size_t)d->width + 7) / 8;
            if (count == 0)
                return ts_err_set(err, TS_ERR_FORMAT, "RLE run of zero values");
            if ((size_t)(d->end - d->p) < nb)
                return ts_err_set(err, TS_ERR_FORMAT, "RLE run value truncated");
            uint64_t v = 0;
            for (size_t i = 0; i < nb; i++)
                v |= (uint64_t)d->p[i] << (8 * i);
            d->p += nb;
            if (d->width < 64 && v >> d->width)
                return ts_err_set(err, TS_ERR_FORMAT, "RLE run value %llu wider than %d bits",
                                  (unsigned long long)v, d->width);
            d->rle_value = v;
            d->rle_left = count;
        }
    }
}

/* ---- DELTA_BINARY_PACKED ---- */

int pq_delta_init(pq_delta *d, const uint8_t *p, size_t n, uint64_t max_values, ts_err *err)
{
    uint64_t block, first;
    memset(d, 0, sizeof *d);
    d->p = p;
    d->end = p + n;
    if (uleb(&d->p, d->end, &block) || uleb(&d->p, d->end, &d->nmini) ||
        uleb(&d->p, d->end, &d->total) || uleb(&d->p, d->end, &first))
        return ts_err_set(err, TS_ERR_FORMAT, "DELTA_BINARY_PACKED header truncated");
    if (block == 0 || block % 128 || block > (1u << 20) || d->nmini == 0 || block % d->nmini ||
        (block / d->nmini) % 32)
        return ts_err_set(err, TS_ERR_FORMAT,
                          "DELTA_BINARY_PACKED block of %llu values in %llu miniblocks",
                          (unsigned long long)block, (unsigned long long)d->nmini);
    if (d->total > max_values)
        return ts_err_set(err, TS_ERR_FORMAT,
                          "DELTA_BINARY_PACKED holds %llu values, more than the page's %llu",
                          (unsigned long long)d->total, (unsigned long long)max_values);
    d->per_mini = block / d->nmini;
    d->last = (uint64_t)((int64_t)(first >> 1) ^ -(int64_t)(first & 1));
    return 0;
}

static int delta_block(pq_delta *d, ts_err *err)
{
    uint64_t md;
    if (uleb(&d->p, d->end, &md))
        return ts_err_set(err, TS_ERR_FORMAT, "DELTA_BINARY_PACKED block header truncated");
    d->min_delta = (uint64_t)((int64_t)(md >> 1) ^ -(int64_t)(md & 1));
    if ((uint64_t)(d->end - d->p) < d->nmini)
        return ts_err_set(err, TS_ERR_FORMAT, "DELTA_BINARY_PACKED bit widths truncated");
    d->widths = d->p;
    d->p += d->nmini;
    d->mini = 0;
    d->in_block = true;
    return 0;
}

static int delta_mini(pq_delta *d, ts_err *err)
{
    d->width = d->widths[d->mini];
    if (d->width > 64)
        return ts_err_set(err, TS_ERR_FORMAT, "DELTA_BINARY_PACKED bit width %d", d->width);
    uint64_t bytes = d->per_mini * (uint64_t)d->width / 8;
    size_t avail = (size_t)(d->end - d->p);
    d->mdata = d->p;
    d->mbytes = bytes < avail ? (size_t)bytes : avail;
    d->p += d->mbytes;
    d->in_mini = 0;
    return 0;
}

int pq_delta_next(pq_delta *d, uint64_t *out, ts_err *err)
{
    if (d->done >= d->total)
        return ts_err_set(err, TS_ERR_FORMAT, "DELTA_BINARY_PACKED ends after %llu values",
                          (unsigned long long)d->total);
    if (d->done++ == 0) {
        *out = d->last;
        return 0;
    }
    if (!d->in_block || d->in_mini == d->per_mini) {
        if (d->in_block && d->in_mini == d->per_mini)
            d->mini++;
        if (!d->in_block || d->mini == d->nmini) {
            if (delta_block(d, err))
                return TS_ERR_FORMAT;
        }
        if (delta_mini(d, err))
            return TS_ERR_FORMAT;
    }
    uint64_t bit = d->in_mini * (uint64_t)d->width;
    if (!bits_fit(d->mbytes, bit, d->width))
        return ts_err_set(err, TS_ERR_FORMAT, "DELTA_BINARY_PACKED miniblock truncated");
    uint64_t delta = d->width ? bits_le(d->mdata, bit, d->width) : 0;
    d->in_mini++;
    d->last = d->last + d->min_delta + delta; /* wraps, as the spec intends */
    *out = d->last;
    return 0;
}

int pq_delta_skip_all(pq_delta *d, const uint8_t **end, ts_err *err)
{
    if (d->done < d->total && d->done == 0)
        d->done = 1; /* the first value lives in the header */
    while (d->done < d->total) {
        if (!d->in_block || d->in_mini == d->per_mini) {
            if (d->in_block && d->in_mini == d->per_mini)
                d->mini++;
            if (!d->in_block || d->mini == d->nmini) {
                if (delta_block(d, err))
                    return TS_ERR_FORMAT;
            }
            if (delta_mini(d, err))
                return TS_ERR_FORMAT;
        }
        uint64_t take = d->per_mini - d->in_mini;
        if (take > d->total - d->done)
            take = d->total - d->done;
        uint64_t lastbit = (d->in_mini + take) * (uint64_t)d->width;
        if (lastbit > (uint64_t)d->mbytes * 8)
            return ts_err_set(err, TS_ERR_FORMAT, "DELTA_BINARY_PACKED miniblock truncated");
        d->in_mini += take;
        d->done += take;
    }
    *end = d->p;
    return 0;
}

/* ---- levels ---- */

int pq_levels_init(pq_levels *l, int encoding, int max, bool v1, const uint8_t *p, size_t n,
                   uint64_t count, size_t *used, ts_err *err)
{
    memset(l, 0, sizeof *l);
    l->max = max;
    *used = 0;
    if (max == 0)
        return 0;
    l->width = pq_bit_width((uint64_t)max);
    if (encoding == PQ_ENC_RLE) {
        size_t len = n;
        if (v1) {
            if (n < 4)
                return ts_err_set(err, TS_ERR_FORMAT, "level length truncated");
            len = le32(p);
            if (len > n - 4)
                return ts_err_set(err, TS_ERR_FORMAT,
                                  "levels of %zu bytes pass the page's end (%zu left)", len, n - 4);
            p += 4;
            *used = 4 + len;
        } else {
            *used = n;
        }
        l->kind = 1;
        pq_rle_init(&l->rle, p, len, l->width);
        return 0;
    }
    if (encoding == PQ_ENC_BIT_PACKED) {
        uint64_t bytes = (count * (uint64_t)l->width + 7) / 8;
        if (bytes > n)
            return ts_err_set(err, TS_ERR_FORMAT, "BIT_PACKED levels pass the page's end");
        l->kind = 2;
        l->bp = p;
        l->bp_bytes = (size_t)bytes;
        *used = (size_t)bytes;
        return 0;
    }
    return ts_err_set(err, TS_ERR_UNSUPPORTED, "level encoding %d is not supported", encoding);
}

int pq_levels_next_slow(pq_levels *l, int *out, ts_err *err)
{
    uint64_t v;
    switch (l->kind) {
    case 0:
        *out = 0;
        return 0;
    case 1:
        if (pq_rle_next(&l->rle, &v, err))
            return TS_ERR_FORMAT;
        break;
    default:
        if (!bits_fit(l->bp_bytes, l->bp_bit, l->width))
            return ts_err_set(err, TS_ERR_FORMAT, "BIT_PACKED levels truncated");
        v = bits_be(l->bp, l->bp_bit, l->width);
        l->bp_bit += (uint64_t)l->width;
        break;
    }
    if (v > (uint64_t)l->max)
        return ts_err_set(err, TS_ERR_FORMAT, "level %llu exceeds the maximum %d",
                          (unsigned long long)v, l->max);
    *out = (int)v;
    return 0;
}

/* ---- values ---- */

int pq_vdec_init(pq_vdec *d, int encoding, int physical, int type_length, const uint8_t *p,
                 size_t n, uint64_t max_values, const pq_value *dict, uint32_t ndict,
                 size_t max_value_bytes, ts_err *err)
{
    memset(d, 0, sizeof *d);
    d->encoding = encoding;
    d->physical = physical;
    d->type_length = type_length;
    d->p = p;
    d->end = p + n;
    d->dict = dict;
    d->ndict = ndict;
    ts_buf_init(&d->prev, max_value_bytes);
    ts_buf_init(&d->bss_buf, 0);
    switch (encoding) {
    case PQ_ENC_PLAIN:
        return 0;
    case PQ_ENC_PLAIN_DICTIONARY:
    case PQ_ENC_RLE_DICTIONARY:
        if (!dict)
            return ts_err_set(err, TS_ERR_FORMAT, "dictionary-encoded page without a dictionary");
        if (n < 1) {
            /* A page of only NULLs may have no index data at all. */
            pq_rle_init(&d->rle, p, 0, 0);
            return 0;
        }
        if (p[0] > 32)
            return ts_err_set(err, TS_ERR_FORMAT, "dictionary index width %d", p[0]);
        pq_rle_init(&d->rle, p + 1, n - 1, p[0]);
        return 0;
    case PQ_ENC_RLE:
        if (physical != PQ_BOOLEAN)
            break;
        if (n < 4 || le32(p) > n - 4)
            return ts_err_set(err, TS_ERR_FORMAT, "RLE boolean length prefix is wrong");
        pq_rle_init(&d->rle, p + 4, le32(p), 1);
        return 0;
    case PQ_ENC_BIT_PACKED:
        break;
    case PQ_ENC_DELTA_BINARY_PACKED:
        if (physical != PQ_INT32 && physical != PQ_INT64)
            break;
        return pq_delta_init(&d->delta, p, n, max_values, err);
    case PQ_ENC_DELTA_LENGTH_BYTE_ARRAY: {
        const uint8_t *data;
        pq_delta scan;
        if (physical != PQ_BYTE_ARRAY)
            break;
        if (pq_delta_init(&d->delta, p, n, max_values, err))
            return TS_ERR_FORMAT;
        scan = d->delta;
        if (pq_delta_skip_all(&scan, &data, err))
            return TS_ERR_FORMAT;
        d->p = data;
        return 0;
    }
    case PQ_ENC_DELTA_BYTE_ARRAY: {
        const uint8_t *sfx, *data;
        pq_delta scan;
        if (physical != PQ_BYTE_ARRAY && physical != PQ_FIXED_LEN_BYTE_ARRAY)
            break;
        if (pq_delta_init(&d->prefix, p, n, max_values, err))
            return TS_ERR_FORMAT;
        scan = d->prefix;
        if (pq_delta_skip_all(&scan, &sfx, err))
            return TS_ERR_FORMAT;
        if (pq_delta_init(&d->delta, sfx, (size_t)(d->end - sfx), max_values, err))
            return TS_ERR_FORMAT;
        if (d->delta.total != d->prefix.total)
            return ts_err_set(
                err, TS_ERR_FORMAT, "DELTA_BYTE_ARRAY has %llu prefixes but %llu suffixes",
                (unsigned long long)d->prefix.total, (unsigned long long)d->delta.total);
        scan = d->delta;
        if (pq_delta_skip_all(&scan, &data, err))
            return TS_ERR_FORMAT;
        d->p = data;
        return 0;
    }
    case PQ_ENC_BYTE_STREAM_SPLIT: {
        int k = pq_fixed_width(physical, type_length);
        if (physical == PQ_INT96 || k <= 0)
            break;
        if (n % (size_t)k)
            return ts_err_set(err, TS_ERR_FORMAT,
                              "BYTE_STREAM_SPLIT data of %zu bytes is not a multiple of %d", n, k);
        d->bss = p;
        d->bss_n = n / (size_t)k;
        return 0;
    }
    default:
        return ts_err_set(err, TS_ERR_UNSUPPORTED, "encoding %d is not supported", encoding);
    }
    return ts_err_set(err, TS_ERR_UNSUPPORTED, "encoding %s is not supported for %s",
                      pq_encoding_name(encoding), pq_physical_name(physical));
}

static int plain_next(pq_vdec *d, pq_value *out, ts_err *err)
{
    size_t left = (size_t)(d->end - d->p);
    switch (d->physical) {
    case PQ_BOOLEAN:
        if (!bits_fit(left, d->bit, 1))
            return ts_err_set(err, TS_ERR_FORMAT, "PLAIN booleans end early");
        out->v.b = (d->p[d->bit >> 3] >> (d->bit & 7)) & 1;
        d->bit++;
        return 0;
    case PQ_INT32:
    case PQ_FLOAT:
        if (left < 4)
            return ts_err_set(err, TS_ERR_FORMAT, "PLAIN values end early");
        {
            uint32_t u = le32(d->p);
            memcpy(&out->v.i32, &u, 4); /* float shares the bits */
        }
        d->p += 4;
        return 0;
    case PQ_INT64:
    case PQ_DOUBLE:
        if (left < 8)
            return ts_err_set(err, TS_ERR_FORMAT, "PLAIN values end early");
        {
            uint64_t u = le64(d->p);
            memcpy(&out->v.i64, &u, 8);
        }
        d->p += 8;
        return 0;
    case PQ_INT96:
        if (left < 12)
            return ts_err_set(err, TS_ERR_FORMAT, "PLAIN values end early");
        memcpy(out->v.i96, d->p, 12);
        d->p += 12;
        return 0;
    case PQ_BYTE_ARRAY: {
        if (left < 4)
            return ts_err_set(err, TS_ERR_FORMAT, "PLAIN byte array length truncated");
        uint32_t len = le32(d->p);
        if (len > left - 4)
            return ts_err_set(err, TS_ERR_FORMAT,
                              "PLAIN byte array of %u bytes passes the end (%zu left)", len,
                              left - 4);
        out->v.bin.ptr = d->p + 4;
        out->v.bin.len = len;
        d->p += 4 + (size_t)len;
        return 0;
    }
    case PQ_FIXED_LEN_BYTE_ARRAY:
        if (left < (size_t)d->type_length)
            return ts_err_set(err, TS_ERR_FORMAT, "PLAIN fixed-length values end early");
        out->v.bin.ptr = d->p;
        out->v.bin.len = (size_t)d->type_length;
        d->p += d->type_length;
        return 0;
    default:
        return ts_err_set(err, TS_ERR_FORMAT, "unknown physical type %d", d->physical);
    }
}

int pq_vdec_next_slow(pq_vdec *d, pq_value *out, ts_err *err)
{
    uint64_t u;
    out->is_null = false;
    switch (d->encoding) {
    case PQ_ENC_PLAIN:
        return plain_next(d, out, err);
    case PQ_ENC_PLAIN_DICTIONARY:
    case PQ_ENC_RLE_DICTIONARY:
        if (pq_rle_next(&d->rle, &u, err))
            return TS_ERR_FORMAT;
        if (u >= d->ndict)
            return ts_err_set(err, TS_ERR_FORMAT, "dictionary index %llu out of %u entries",
                              (unsigned long long)u, d->ndict);
        *out = d->dict[u];
        return 0;
    case PQ_ENC_RLE:
        if (pq_rle_next(&d->rle, &u, err))
            return TS_ERR_FORMAT;
        out->v.b = u != 0;
        return 0;
    case PQ_ENC_DELTA_BINARY_PACKED:
        if (pq_delta_next(&d->delta, &u, err))
            return TS_ERR_FORMAT;
        if (d->physical == PQ_INT32)
            out->v.i32 = (int32_t)(uint32_t)u;
        else
            out->v.i64 = (int64_t)u;
        return 0;
    case PQ_ENC_DELTA_LENGTH_BYTE_ARRAY:
        if (pq_delta_next(&d->delta, &u, err))
            return TS_ERR_FORMAT;
        if (u > (uint64_t)(d->end - d->p))
            return ts_err_set(err, TS_ERR_FORMAT,
                              "DELTA_LENGTH_BYTE_ARRAY value of %lld bytes passes the end",
                              (long long)u);
        out->v.bin.ptr = d->p;
        out->v.bin.len = (size_t)u;
        d->p += u;
        return 0;
    case PQ_ENC_DELTA_BYTE_ARRAY: {
        uint64_t pre, sfx;
        if (pq_delta_next(&d->prefix, &pre, err) || pq_delta_next(&d->delta, &sfx, err))
            return TS_ERR_FORMAT;
        if (pre > d->prev.len)
            return ts_err_set(err, TS_ERR_FORMAT,
                              "DELTA_BYTE_ARRAY prefix of %lld bytes, longer than the previous "
                              "value (%zu)",
                              (long long)pre, d->prev.len);
        if (sfx > (uint64_t)(d->end - d->p))
            return ts_err_set(err, TS_ERR_FORMAT,
                              "DELTA_BYTE_ARRAY suffix of %lld bytes passes the end",
                              (long long)sfx);
        d->prev.len = (size_t)pre;
        int rc = ts_buf_append(&d->prev, d->p, (size_t)sfx);
        if (rc)
            return ts_err_set(err, rc, "DELTA_BYTE_ARRAY value too large");
        d->p += sfx;
        if (d->physical == PQ_FIXED_LEN_BYTE_ARRAY && d->prev.len != (size_t)d->type_length)
            return ts_err_set(err, TS_ERR_FORMAT,
                              "DELTA_BYTE_ARRAY value of %zu bytes in a column of width %d",
                              d->prev.len, d->type_length);
        out->v.bin.ptr = d->prev.data ? d->prev.data : (const uint8_t *)"";
        out->v.bin.len = d->prev.len;
        return 0;
    }
    case PQ_ENC_BYTE_STREAM_SPLIT: {
        int k = pq_fixed_width(d->physical, d->type_length);
        uint8_t tmp[8];
        uint8_t *dst = tmp;
        if (d->bss_i >= d->bss_n)
            return ts_err_set(err, TS_ERR_FORMAT, "BYTE_STREAM_SPLIT data ends after %zu values",
                              d->bss_n);
        if (d->physical == PQ_FIXED_LEN_BYTE_ARRAY) {
            d->bss_buf.len = 0;
            int rc = ts_buf_reserve(&d->bss_buf, (size_t)k);
            if (rc)
                return ts_err_set(err, rc, "out of memory");
            dst = d->bss_buf.data;
        }
        for (int j = 0; j < k; j++)
            dst[j] = d->bss[(size_t)j * d->bss_n + d->bss_i];
        d->bss_i++;
        if (d->physical == PQ_FIXED_LEN_BYTE_ARRAY) {
            out->v.bin.ptr = dst;
            out->v.bin.len = (size_t)k;
        } else if (k == 4) {
            uint32_t v32 = le32(tmp);
            memcpy(&out->v.i32, &v32, 4);
        } else {
            uint64_t v64 = le64(tmp);
            memcpy(&out->v.i64, &v64, 8);
        }
        return 0;
    }
    default:
        return ts_err_set(err, TS_ERR_UNSUPPORTED, "encoding %d is not supported", d->encoding);
    }
}

void pq_vdec_free(pq_vdec *d)
{
    ts_buf_free(&d->prev);
    ts_buf_free(&d->bss_buf);
}
