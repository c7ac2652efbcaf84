/* thrift_dec.h: the Thrift compact protocol DECODER, and the decoding of Parquet's
 * FileMetaData and PageHeader with it. Input is hostile: every read is bounds-checked,
 * nesting is limited, and counts are checked against the bytes that remain. */
#ifndef TS_PQ_THRIFT_DEC_H
#define TS_PQ_THRIFT_DEC_H

#include <stddef.h>
#include <stdint.h>

#include "reader.h"

/* Compact protocol type ids. */
enum {
    PQ_CT_STOP = 0,
    PQ_CT_TRUE = 1,
    PQ_CT_FALSE = 2,
    PQ_CT_BYTE = 3,
    PQ_CT_I16 = 4,
    PQ_CT_I32 = 5,
    PQ_CT_I64 = 6,
    PQ_CT_DOUBLE = 7,
    PQ_CT_BINARY = 8,
    PQ_CT_LIST = 9,
    PQ_CT_SET = 10,
    PQ_CT_MAP = 11,
    PQ_CT_STRUCT = 12,
};

#define PQ_TDEC_MAX_DEPTH 32

typedef struct pq_tdec {
    const uint8_t *start, *p, *end;
    uint64_t base;   /* file offset of start, for messages */
    const char *ctx; /* "footer", "page header" */
    int depth;
    ts_err *err;
} pq_tdec;

void pq_tdec_init(pq_tdec *d, const void *buf, size_t len, uint64_t base, const char *ctx,
                  ts_err *err);
/* Records a TS_ERR_FORMAT "<ctx> at offset N: <msg>" and returns it. */
int pq_tdec_fail(pq_tdec *d, const char *fmt, ...) TS_PRINTF(2, 3);

/* Reads a field header inside a struct: *type = PQ_CT_STOP at the end. last_id is the
 * struct's previous field id (start at 0). */
int pq_tdec_field(pq_tdec *d, int16_t *last_id, int *type, int16_t *id) TS_MUSTCHECK;
int pq_tdec_varint(pq_tdec *d, uint64_t *out) TS_MUSTCHECK;
/* Integer of any integral compact type (BYTE, I16, I32, I64), range-checked into out. */
int pq_tdec_i32(pq_tdec *d, int type, int32_t *out) TS_MUSTCHECK;
int pq_tdec_i64(pq_tdec *d, int type, int64_t *out) TS_MUSTCHECK;
/* A bool field (type TRUE / FALSE) or a list element (type read as a byte). */
int pq_tdec_bool(pq_tdec *d, int type, bool in_list, bool *out) TS_MUSTCHECK;
/* Binary: *p points into the input, valid while it is. */
int pq_tdec_binary(pq_tdec *d, int type, const uint8_t **p, size_t *len) TS_MUSTCHECK;
/* List or set header: element type and count; the count is checked against the bytes
 * left (every element takes at least one byte, except bools in a list... which take
 * one too). */
int pq_tdec_list(pq_tdec *d, int type, int *elem_type, uint32_t *count) TS_MUSTCHECK;
/* Skips a value of the given type, nested up to PQ_TDEC_MAX_DEPTH. */
int pq_tdec_skip(pq_tdec *d, int type) TS_MUSTCHECK;
/* Offset of the cursor from start. */
static inline size_t pq_tdec_pos(const pq_tdec *d)
{
    return (size_t)(d->p - d->start);
}

/* An arena with a cap on its total size: footer views live here, freed at once. */
typedef struct pq_arena pq_arena;
pq_arena *pq_arena_new(size_t cap);
/* Zeroed, 8-byte aligned; NULL when out of memory or past the cap. */
void *pq_arena_alloc(pq_arena *a, size_t n);
void pq_arena_free(pq_arena *a);
/* Bytes the arena holds (its blocks, headers left out). */
size_t pq_arena_total(const pq_arena *a);

/* Decodes FileMetaData from buf (the footer, base = its file offset) into *meta, whose
 * views are allocated from a. Fills schema depth/parent after checking the tree. */
int pq_tdec_file_metadata(const void *buf, size_t len, uint64_t base, pq_arena *a,
                          pq_file_meta *meta, ts_err *err) TS_MUSTCHECK;

enum { PQ_PAGE_DATA = 0, PQ_PAGE_INDEX = 1, PQ_PAGE_DICTIONARY = 2, PQ_PAGE_DATA_V2 = 3 };

typedef struct pq_page_header {
    int type;
    int32_t uncompressed_size, compressed_size;
    bool has_crc;
    uint32_t crc;
    bool has_v1, has_v2, has_dict;
    /* DATA_PAGE / DATA_PAGE_V2 / DICTIONARY_PAGE */
    int32_t num_values;
    int encoding;
    int def_encoding, rep_encoding; /* v1 */
    int32_t num_nulls, num_rows;    /* v2 */
    int32_t def_len, rep_len;       /* v2 */
    bool is_compressed;             /* v2, default true */
    size_t header_len;              /* bytes taken by the header */
} pq_page_header;

/* Decodes a PageHeader at the start of buf (len bytes available; base = its file
 * offset). Statistics in page headers are skipped. */
int pq_tdec_page_header(const void *buf, size_t len, uint64_t base, pq_page_header *h,
                        ts_err *err) TS_MUSTCHECK;

#endif
