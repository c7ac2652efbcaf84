/* fuzz_rowimage.c: libFuzzer target over reading an archive back: the reader, then
 * the row decoder (src/pg/rowimage.c) with its hostile metadata (tsarchive.exceptions,
 * tsarchive.array_null_bitmaps) and every value turned into PostgreSQL's binary form,
 * then the row's hash as the read-back proof computes it. The target columns are made
 * up from the file's own columns (no server): the PostgreSQL type each Parquet type is
 * restored into; a column named "u..." holding strings is a uuid. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "parquet/reader.h"
#include "pg/proof.h"
#include "pg/rowimage.h"
#include "pg/types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t oid_for(const pq_column_spec *s)
{
    switch (s->physical) {
    case PQ_BOOLEAN:
        return PG_OID_BOOL;
    case PQ_INT32:
        return s->logical == PQ_LT_DATE      ? PG_OID_DATE
               : s->logical == PQ_LT_DECIMAL ? PG_OID_NUMERIC
               : s->bit_width == 16          ? PG_OID_INT2
                                             : PG_OID_INT4;
    case PQ_INT64:
        return s->logical == PQ_LT_TIMESTAMP ? PG_OID_TIMESTAMPTZ
               : s->logical == PQ_LT_DECIMAL ? PG_OID_NUMERIC
                                             : PG_OID_INT8;
    case PQ_FLOAT:
        return PG_OID_FLOAT4;
    case PQ_DOUBLE:
        return PG_OID_FLOAT8;
    case PQ_FIXED_LEN_BYTE_ARRAY:
        return s->logical == PQ_LT_UUID ? PG_OID_UUID : PG_OID_NUMERIC;
    case PQ_BYTE_ARRAY:
        if (s->logical == PQ_LT_DECIMAL)
            return PG_OID_NUMERIC;
        if (s->logical == PQ_LT_JSON)
            return PG_OID_JSONB;
        if (s->logical == PQ_LT_NONE)
            return PG_OID_BYTEA;
        return s->name && s->name[0] == 'u' ? PG_OID_UUID : PG_OID_TEXT;
    default:
        return PG_OID_TEXT;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pq_reader *r = NULL;
    pq_reader_options o;
    const pq_reader_column *fc;
    pg_rowimage *ri = NULL;
    pg_columns cols = {NULL, 0};
    uint32_t *oids = NULL;
    pg_proof pr;
    int nf;
    ts_err err;

    pq_reader_options_default(&o);
    o.max_footer_bytes = 1 << 20;
    o.max_page_bytes = 8 << 20;
    o.max_row_bytes = 8 << 20;
    o.max_list_elements = 1 << 16;
    o.max_rows = 1 << 20;
    o.max_alloc_bytes = (size_t)64 << 20;
    ts_err_clear(&err);
    memset(&pr, 0, sizeof pr);
    if (pq_reader_open_memory(&r, data, size, &o, &err) != 0)
        return 0;
    if (pq_reader_columns(r, &fc, &nf, &err) != 0 || nf == 0)
        goto out;
    cols.cols = ts_calloc((size_t)nf, sizeof *cols.cols);
    oids = ts_calloc((size_t)nf, sizeof *oids);
    if (!cols.cols || !oids)
        goto out;
    for (int i = 0; i < nf; i++) {
        pg_column *m = &cols.cols[cols.ncols++];
        m->name = (char *)fc[i].spec.name;
        m->pg_type = "fuzz";
        m->list = fc[i].spec.list;
        m->elem_oid = oid_for(&fc[i].spec);
        m->type_oid = m->list ? PG_OID_TEXTARRAY : m->elem_oid;
        m->send_oid = m->type_oid;
        oids[i] = m->send_oid;
    }
    if (pg_rowimage_new(&ri, r, &cols, &err) != 0)
        goto out;
    /* bounded work per input, as in fuzz_parquet_reader */
    for (int row = 0; row < 20000 && pg_rowimage_next(ri, &err) == 1; row++) {
        size_t len;
        const uint8_t *t = pg_rowimage_tuple(ri, &len);
        if (len < 2 || t[0] != (uint8_t)(nf >> 8) || t[1] != (uint8_t)nf)
            __builtin_trap();
        pg_proof_add_row(&pr, pg_rowimage_fields(ri), nf, oids);
    }
out:
    pg_rowimage_free(ri);
    ts_free(cols.cols);
    ts_free(oids);
    pq_reader_free(r);
    return 0;
}
