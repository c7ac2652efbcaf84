/* thrift_enc.h: a Thrift compact protocol ENCODER, just enough for Parquet's footer
 * and page headers. Errors are sticky: write everything, check pq_tenc_status once. */
#ifndef TS_PQ_THRIFT_ENC_H
#define TS_PQ_THRIFT_ENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"

/* Compact protocol type ids (in field and list headers). */
enum {
    PQ_TT_BOOL_TRUE = 1,
    PQ_TT_BOOL_FALSE = 2,
    PQ_TT_BYTE = 3,
    PQ_TT_I16 = 4,
    PQ_TT_I32 = 5,
    PQ_TT_I64 = 6,
    PQ_TT_DOUBLE = 7,
    PQ_TT_BINARY = 8,
    PQ_TT_LIST = 9,
    PQ_TT_SET = 10,
    PQ_TT_MAP = 11,
    PQ_TT_STRUCT = 12,
};

#define PQ_TENC_MAX_DEPTH 16

typedef struct pq_tenc {
    ts_buf *out;
    int rc;                            /* first error (TS_ERR_NOMEM / TOOBIG), else 0 */
    int depth;
    int16_t last[PQ_TENC_MAX_DEPTH];   /* last field id per open struct */
} pq_tenc;

/* Starts encoding onto out (appending). The outermost struct is opened already. */
void pq_tenc_init(pq_tenc *e, ts_buf *out);
/* 0, or the first error met while encoding. */
static inline int pq_tenc_status(const pq_tenc *e) { return e->rc; }

/* ULEB128 and zigzag, also used by the data encodings. p needs 10 bytes. */
static inline size_t pq_uvarint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}
static inline uint64_t pq_zigzag64(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline uint32_t pq_zigzag32(int32_t v) { return ((uint32_t)v << 1) ^ (uint32_t)(v >> 31); }

/* Fields of the current struct; ids must increase within a struct. */
void pq_tenc_bool(pq_tenc *e, int16_t fid, bool v);
void pq_tenc_i8(pq_tenc *e, int16_t fid, int8_t v);
void pq_tenc_i16(pq_tenc *e, int16_t fid, int16_t v);
void pq_tenc_i32(pq_tenc *e, int16_t fid, int32_t v);
void pq_tenc_i64(pq_tenc *e, int16_t fid, int64_t v);
void pq_tenc_binary(pq_tenc *e, int16_t fid, const void *p, size_t n);
void pq_tenc_string(pq_tenc *e, int16_t fid, const char *s);
/* A struct field: pq_tenc_struct_begin, its fields, pq_tenc_struct_end. */
void pq_tenc_struct_begin(pq_tenc *e, int16_t fid);
void pq_tenc_struct_end(pq_tenc *e);
/* A list field of n elements of elem_type, followed by n elements below. */
void pq_tenc_list_begin(pq_tenc *e, int16_t fid, int elem_type, size_t n);

/* List elements. */
void pq_tenc_elem_i32(pq_tenc *e, int32_t v);
void pq_tenc_elem_binary(pq_tenc *e, const void *p, size_t n);
void pq_tenc_elem_string(pq_tenc *e, const char *s);
/* A struct element: its fields, then pq_tenc_struct_end. */
void pq_tenc_elem_struct_begin(pq_tenc *e);
/* Raw bytes, e.g. a struct element serialized earlier by another encoder. */
void pq_tenc_raw(pq_tenc *e, const void *p, size_t n);

/* Closes the outermost struct (writes its stop byte); returns pq_tenc_status. */
int pq_tenc_finish(pq_tenc *e) TS_MUSTCHECK;

#endif
