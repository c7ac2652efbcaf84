/* thrift_enc.c: Thrift compact protocol encoding (field headers with id deltas,
 * zigzag varints, list headers, stop bytes). */
#include "thrift_enc.h"

#include <string.h>

#include "../common/err.h"

void pq_tenc_init(pq_tenc *e, ts_buf *out)
{
    e->out = out;
    e->rc = 0;
    e->depth = 0;
    e->last[0] = 0;
}

static void put(pq_tenc *e, const void *p, size_t n)
{
    int rc;
    if (e->rc)
        return;
    rc = ts_buf_append(e->out, p, n);
    if (rc)
        e->rc = rc;
}

static void put_uvarint(pq_tenc *e, uint64_t v)
{
    uint8_t tmp[10];
    put(e, tmp, pq_uvarint_put(tmp, v));
}

static void field(pq_tenc *e, int16_t fid, int type)
{
    int16_t last = e->last[e->depth];
    uint8_t b;
    if (fid > last && fid - last <= 15) {
        b = (uint8_t)((fid - last) << 4 | type);
        put(e, &b, 1);
    } else {
        b = (uint8_t)type;
        put(e, &b, 1);
        put_uvarint(e, pq_zigzag32(fid));
    }
    e->last[e->depth] = fid;
}

void pq_tenc_bool(pq_tenc *e, int16_t fid, bool v)
{
    field(e, fid, v ? PQ_TT_BOOL_TRUE : PQ_TT_BOOL_FALSE);
}

void pq_tenc_i8(pq_tenc *e, int16_t fid, int8_t v)
{
    uint8_t b = (uint8_t)v;
    field(e, fid, PQ_TT_BYTE);
    put(e, &b, 1);
}

void pq_tenc_i16(pq_tenc *e, int16_t fid, int16_t v)
{
    field(e, fid, PQ_TT_I16);
    put_uvarint(e, pq_zigzag32(v));
}

void pq_tenc_i32(pq_tenc *e, int16_t fid, int32_t v)
{
    field(e, fid, PQ_TT_I32);
    put_uvarint(e, pq_zigzag32(v));
}

void pq_tenc_i64(pq_tenc *e, int16_t fid, int64_t v)
{
    field(e, fid, PQ_TT_I64);
    put_uvarint(e, pq_zigzag64(v));
}

void pq_tenc_binary(pq_tenc *e, int16_t fid, const void *p, size_t n)
{
    field(e, fid, PQ_TT_BINARY);
    pq_tenc_elem_binary(e, p, n);
}

void pq_tenc_string(pq_tenc *e, int16_t fid, const char *s)
{
    pq_tenc_binary(e, fid, s, strlen(s));
}

static void push(pq_tenc *e)
{
    if (e->depth + 1 >= PQ_TENC_MAX_DEPTH) {
        if (!e->rc)
            e->rc = TS_ERR_INTERNAL;
        return;
    }
    e->last[++e->depth] = 0;
}

void pq_tenc_struct_begin(pq_tenc *e, int16_t fid)
{
    field(e, fid, PQ_TT_STRUCT);
    push(e);
}

void pq_tenc_elem_struct_begin(pq_tenc *e)
{
    push(e);
}

void pq_tenc_struct_end(pq_tenc *e)
{
    uint8_t stop = 0;
    put(e, &stop, 1);
    if (e->depth > 0)
        e->depth--;
    else if (!e->rc)
        e->rc = TS_ERR_INTERNAL;
}

void pq_tenc_list_begin(pq_tenc *e, int16_t fid, int elem_type, size_t n)
{
    uint8_t b;
    field(e, fid, PQ_TT_LIST);
    if (n < 15) {
        b = (uint8_t)(n << 4 | (size_t)elem_type);
        put(e, &b, 1);
    } else {
        b = (uint8_t)(0xF0 | elem_type);
        put(e, &b, 1);
        put_uvarint(e, n);
    }
}

void pq_tenc_elem_i32(pq_tenc *e, int32_t v)
{
    put_uvarint(e, pq_zigzag32(v));
}

void pq_tenc_elem_binary(pq_tenc *e, const void *p, size_t n)
{
    put_uvarint(e, n);
    put(e, p, n);
}

void pq_tenc_elem_string(pq_tenc *e, const char *s)
{
    pq_tenc_elem_binary(e, s, strlen(s));
}

void pq_tenc_raw(pq_tenc *e, const void *p, size_t n)
{
    put(e, p, n);
}

int pq_tenc_finish(pq_tenc *e)
{
    uint8_t stop = 0;
    put(e, &stop, 1);
    if (e->depth != 0 && !e->rc)
        e->rc = TS_ERR_INTERNAL;
    return e->rc;
}
