/* copybin.c: the binary COPY stream decoder. Complete rows are decoded straight from
 * the caller's buffer; only a row split across inputs is copied (bounded by a cap). */
#include "copybin.h"

#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"

const uint8_t pg_copy_signature[11] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', 0xff, '\r', '\n', 0};

enum { ST_HEADER, ST_ROWS, ST_DONE };

struct pg_copy_decoder {
    int state;
    int nfields;
    pg_copy_row_fn fn;
    void *ctx;
    pg_copy_field *fields;
    ts_buf pending; /* an incomplete header or row */
    ts_buf held;    /* the last unit completed in pending, kept until the next feed */
    int64_t rows;
    int64_t bytes;
};

pg_copy_decoder *pg_copy_decoder_new(int nfields, size_t max_row_bytes, pg_copy_row_fn fn,
                                     void *ctx)
{
    pg_copy_decoder *d;
    if (nfields < 0 || nfields > 0x7fff || !fn)
        return NULL;
    d = ts_calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->fields = ts_calloc((size_t)nfields + 1, sizeof *d->fields);
    if (!d->fields) {
        ts_free(d);
        return NULL;
    }
    d->nfields = nfields;
    d->fn = fn;
    d->ctx = ctx;
    d->state = ST_HEADER;
    ts_buf_init(&d->pending, max_row_bytes ? max_row_bytes : ((size_t)1 << 30) + 65536);
    ts_buf_init(&d->held, d->pending.limit);
    return d;
}

void pg_copy_decoder_free(pg_copy_decoder *d)
{
    if (!d)
        return;
    ts_buf_free(&d->pending);
    ts_buf_free(&d->held);
    ts_free(d->fields);
    ts_free(d);
}

int64_t pg_copy_decoder_rows(const pg_copy_decoder *d)
{
    return d->rows;
}

int64_t pg_copy_decoder_bytes(const pg_copy_decoder *d)
{
    return d->bytes;
}

/* Parses the header at p[0..n). Returns bytes used, 0 when incomplete, <0 on error. */
static long parse_header(const uint8_t *p, size_t n, ts_err *err)
{
    uint32_t flags, extlen;
    if (n < 19)
        return memcmp(p, pg_copy_signature, n < 11 ? n : 11) == 0
                   ? 0
                   : ts_err_set(err, TS_ERR_FORMAT, "binary copy stream has no PGCOPY signature");
    if (memcmp(p, pg_copy_signature, 11) != 0)
        return ts_err_set(err, TS_ERR_FORMAT, "binary copy stream has no PGCOPY signature");
    flags = pg_be32(p + 11);
    extlen = pg_be32(p + 15);
    if (flags & (1u << 16))
        return ts_err_set(err, TS_ERR_UNSUPPORTED, "binary copy stream with OIDs is not supported");
    if (flags & 0xffff0000u & ~(1u << 16))
        return ts_err_set(err, TS_ERR_FORMAT,
                          "binary copy stream has unknown critical flags 0x%08x", flags);
    if (extlen > (1u << 20))
        return ts_err_set(err, TS_ERR_FORMAT, "binary copy header extension too long (%u bytes)",
                          extlen);
    if (n < 19 + (size_t)extlen)
        return 0;
    return (long)(19 + extlen);
}

/* Parses one row (or the trailer) at p[0..n). Returns bytes used, 0 when incomplete,
 * <0 on error; calls the row callback for a complete row. */
static long parse_row(pg_copy_decoder *d, const uint8_t *p, size_t n, ts_err *err)
{
    size_t off = 2;
    int16_t count;
    int rc;
    if (n < 2)
        return 0;
    count = (int16_t)pg_be16(p);
    if (count == -1) {
        d->state = ST_DONE;
        return 2;
    }
    if (count != d->nfields)
        return ts_err_set(err, TS_ERR_FORMAT, "binary copy row %lld has %d fields, expected %d",
                          (long long)d->rows + 1, count, d->nfields);
    for (int i = 0; i < count; i++) {
        int32_t len;
        if (n - off < 4)
            return 0;
        len = (int32_t)pg_be32(p + off);
        off += 4;
        if (len < -1)
            return ts_err_set(err, TS_ERR_FORMAT, "binary copy row %lld field %d has length %d",
                              (long long)d->rows + 1, i + 1, len);
        d->fields[i].len = len;
        if (len == -1) {
            d->fields[i].data = NULL;
            continue;
        }
        if (n - off < (size_t)len)
            return 0;
        d->fields[i].data = p + off;
        off += (size_t)len;
    }
    rc = d->fn(d->ctx, d->fields, count, err);
    if (rc)
        return rc < 0 ? rc : ts_err_set(err, TS_ERR_INTERNAL, "row callback failed");
    d->rows++;
    return (long)off;
}

/* Consumes as much of p[0..n) as forms complete units; returns bytes used or <0. */
static long parse_some(pg_copy_decoder *d, const uint8_t *p, size_t n, ts_err *err)
{
    size_t off = 0;
    while (off < n) {
        long used;
        if (d->state == ST_DONE)
            return ts_err_set(err, TS_ERR_FORMAT,
                              "binary copy stream has %zu bytes after its trailer", n - off);
        used = d->state == ST_HEADER ? parse_header(p + off, n - off, err)
                                     : parse_row(d, p + off, n - off, err);
        if (used < 0)
            return used;
        if (used == 0)
            break;
        if (d->state == ST_HEADER)
            d->state = ST_ROWS;
        off += (size_t)used;
    }
    return (long)off;
}

int pg_copy_decoder_feed(pg_copy_decoder *d, const void *data, size_t len, ts_err *err)
{
    const uint8_t *p = data;
    long used;
    int rc;
    if (len == 0)
        return TS_OK;
    d->bytes += (int64_t)len;
    while (d->pending.len > 0 && len > 0) {
        /* Finish the pending unit first. A row does not announce its length, so append
         * a slice (at least as long as what is pending: the copying stays linear in the
         * unit's size) and retry; once the unit parses, the rest of data is parsed in
         * place, not copied. */
        size_t old = d->pending.len, take = old < 64 ? 64 : old;
        if (take > len)
            take = len;
        rc = ts_buf_append(&d->pending, p, take);
        if (rc)
            return ts_err_set(err, rc,
                              rc == TS_ERR_TOOBIG
                                  ? "binary copy row larger than %zu bytes"
                                  : "out of memory buffering a binary copy row (%zu bytes)",
                              d->pending.limit);
        used = parse_some(d, d->pending.data, d->pending.len, err);
        if (used < 0)
            return (int)used;
        if (used == 0) { /* still incomplete: all of the slice waits with it */
            p += take;
            len -= take;
            continue;
        }
        /* the pending unit is done (and perhaps more of the slice): go on from there;
         * its bytes stay where the callback saw them until the next feed */
        p += (size_t)used - old;
        len -= (size_t)used - old;
        ts_buf t = d->held;
        d->held = d->pending;
        d->pending = t;
        ts_buf_reset(&d->pending);
    }
    if (len == 0)
        return TS_OK;
    used = parse_some(d, p, len, err);
    if (used < 0)
        return (int)used;
    if ((size_t)used < len) {
        rc = ts_buf_append(&d->pending, p + used, len - (size_t)used);
        if (rc)
            return ts_err_set(err, rc,
                              rc == TS_ERR_TOOBIG
                                  ? "binary copy row larger than %zu bytes"
                                  : "out of memory buffering a binary copy row (%zu bytes)",
                              d->pending.limit);
    }
    return TS_OK;
}

int pg_copy_decoder_finish(pg_copy_decoder *d, ts_err *err)
{
    if (d->state != ST_DONE)
        return ts_err_set(err, TS_ERR_FORMAT,
                          "binary copy stream ended early (%s, %zu bytes pending)",
                          d->state == ST_HEADER ? "no header" : "no trailer", d->pending.len);
    if (d->pending.len)
        return ts_err_set(err, TS_ERR_FORMAT, "binary copy stream has %zu bytes after its trailer",
                          d->pending.len);
    return TS_OK;
}
