/* copybin.c: the binary COPY stream decoder. Complete rows are decoded straight from
 * the caller's buffer; only a row split across inputs is copied (bounded by a cap).
 * And the ring that hands the stream between threads. */
#include "copybin.h"

#include <pthread.h>
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

/* ---- the ring ---- */

struct pg_copy_ring {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* broadcast on every change below */
    ts_buf blk[PG_RING_BLOCKS];
    int64_t filled;                  /* blocks published */
    int64_t done[PG_RING_CONSUMERS]; /* blocks each consumer is done with */
    int consumers;
    bool end;  /* the last block is published */
    bool stop; /* a failure: everybody stops */
    ts_err err; /* the first failure */
};

pg_copy_ring *pg_copy_ring_new(int consumers)
{
    pg_copy_ring *g;
    if (consumers < 1 || consumers > PG_RING_CONSUMERS)
        return NULL;
    g = ts_calloc(1, sizeof *g);
    if (!g)
        return NULL;
    if (pthread_mutex_init(&g->mu, NULL) != 0) {
        ts_free(g);
        return NULL;
    }
    if (pthread_cond_init(&g->cv, NULL) != 0) {
        pthread_mutex_destroy(&g->mu);
        ts_free(g);
        return NULL;
    }
    for (int i = 0; i < PG_RING_BLOCKS; i++)
        ts_buf_init(&g->blk[i], 0);
    g->consumers = consumers;
    return g;
}

void pg_copy_ring_free(pg_copy_ring *g)
{
    if (!g)
        return;
    for (int i = 0; i < PG_RING_BLOCKS; i++)
        ts_buf_free(&g->blk[i]);
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    ts_free(g);
}

static int64_t min_done(const pg_copy_ring *g)
{
    int64_t m = g->done[0];
    for (int k = 1; k < g->consumers; k++)
        m = g->done[k] < m ? g->done[k] : m;
    return m;
}

ts_buf *pg_copy_ring_claim(pg_copy_ring *g)
{
    ts_buf *b = NULL;
    pthread_mutex_lock(&g->mu);
    while (!g->stop && g->filled - min_done(g) >= PG_RING_BLOCKS)
        pthread_cond_wait(&g->cv, &g->mu);
    if (!g->stop)
        b = &g->blk[g->filled % PG_RING_BLOCKS];
    pthread_mutex_unlock(&g->mu);
    if (b)
        ts_buf_reset(b);
    return b;
}

void pg_copy_ring_publish(pg_copy_ring *g, bool last)
{
    pthread_mutex_lock(&g->mu);
    if (g->blk[g->filled % PG_RING_BLOCKS].len > 0)
        g->filled++;
    g->end = last;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

int pg_copy_ring_consume(pg_copy_ring *g, int k,
                         int (*fn)(void *ctx, const uint8_t *p, size_t n, ts_err *err), void *ctx)
{
    ts_err err;
    ts_err_clear(&err);
    for (int64_t i = 0;; i++) {
        pthread_mutex_lock(&g->mu);
        while (!g->stop && i == g->filled && !g->end)
            pthread_cond_wait(&g->cv, &g->mu);
        bool stop = g->stop, over = i == g->filled;
        int rc = g->err.code;
        const ts_buf *b = &g->blk[i % PG_RING_BLOCKS];
        pthread_mutex_unlock(&g->mu);
        if (stop)
            return rc;
        if (over)
            return TS_OK;
        /* the block stays as published until done[k] passes it */
        if ((rc = fn(ctx, b->data, b->len, &err)) != TS_OK) {
            if (!err.code)
                ts_err_set(&err, rc, "a binary copy consumer failed (%s)", ts_err_name(rc));
            return pg_copy_ring_fail(g, &err);
        }
        pthread_mutex_lock(&g->mu);
        g->done[k] = i + 1;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
    }
}

int pg_copy_ring_fail(pg_copy_ring *g, const ts_err *e)
{
    int rc;
    pthread_mutex_lock(&g->mu);
    if (!g->err.code) {
        g->err = *e;
        if (!g->err.code)
            g->err.code = TS_ERR_INTERNAL;
    }
    g->stop = true;
    rc = g->err.code;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    return rc;
}

bool pg_copy_ring_stopped(pg_copy_ring *g)
{
    bool stop;
    pthread_mutex_lock(&g->mu);
    stop = g->stop;
    pthread_mutex_unlock(&g->mu);
    return stop;
}

int pg_copy_ring_error(pg_copy_ring *g, ts_err *err)
{
    int rc;
    pthread_mutex_lock(&g->mu);
    rc = g->err.code;
    if (rc)
        ts_err_set(err, rc, "%s", g->err.msg);
    pthread_mutex_unlock(&g->mu);
    return rc;
}
