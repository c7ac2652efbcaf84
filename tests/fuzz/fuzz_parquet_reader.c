/* fuzz_parquet_reader.c: libFuzzer target over the whole Parquet reader: footer,
 * schema flattening, pages, codecs, decoders and row assembly, plus the metadata views
 * that `parquet inspect` walks. Any input must end in rows or a clear error. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parquet/reader.h"

static volatile uint64_t sink;

static void touch(const uint8_t *p, size_t n)
{
    if (n) /* ASan checks that the whole range is readable */
        sink += p[0] + p[n - 1] + n;
}

static void walk_meta(const pq_file_meta *m)
{
    for (int i = 0; i < m->nschema; i++)
        sink += strlen(m->schema[i].name) + (uint64_t)m->schema[i].depth;
    for (int i = 0; i < m->nkv; i++)
        sink += strlen(m->kv[i].key) + (m->kv[i].value ? strlen(m->kv[i].value) : 0);
    for (int g = 0; g < m->nrow_groups; g++) {
        const pq_row_group_meta *rg = &m->row_groups[g];
        for (int c = 0; c < rg->ncolumns; c++) {
            const pq_chunk_meta *cm = &rg->columns[c];
            for (int e = 0; e < cm->nencodings; e++)
                sink += (uint64_t)cm->encodings[e];
            if (cm->has_stats) {
                if (cm->stats.has_min)
                    touch(cm->stats.min, cm->stats.min_len);
                if (cm->stats.has_max)
                    touch(cm->stats.max, cm->stats.max_len);
            }
            if (cm->path)
                sink += strlen(cm->path);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pq_reader *r = NULL;
    pq_reader_options o;
    const pq_reader_column *cols;
    int ncols;
    ts_err err;
    char dec[256];

    pq_reader_options_default(&o);
    o.max_footer_bytes = 1 << 20;
    o.max_page_bytes = 8 << 20;
    o.max_row_bytes = 8 << 20;
    o.max_list_elements = 1 << 16;
    o.max_rows = 1 << 20;
    /* the whole reader in 64 MiB: well under -rss_limit_mb, so a buffer sized from a
     * claim instead of the budget shows up as a crash */
    o.max_alloc_bytes = (size_t)64 << 20;
    ts_err_clear(&err);
    if (pq_reader_open_memory(&r, data, size, &o, &err) != 0)
        return 0;
    walk_meta(pq_reader_meta(r));
    ts_err_clear(&err);
    if (pq_reader_columns(r, &cols, &ncols, &err) != 0)
        goto out;
    /* Bounded work per input: the fuzzer must not mistake a large claimed row count
     * for a hang. */
    for (int row = 0; row < 20000; row++) {
        if (pq_reader_next_row(r, &err) != 1)
            break;
        for (int c = 0; c < ncols; c++) {
            const pq_cell *cell = pq_reader_cell(r, c);
            for (size_t k = 0; k < cell->n; k++) {
                const pq_value *v = &cell->items[k];
                if (v->is_null)
                    continue;
                int ph = cols[c].spec.physical;
                if (ph == PQ_BYTE_ARRAY || ph == PQ_FIXED_LEN_BYTE_ARRAY) {
                    touch(v->v.bin.ptr, v->v.bin.len);
                    if (cols[c].spec.logical == PQ_LT_DECIMAL &&
                        pq_decimal_format(v->v.bin.ptr, v->v.bin.len, cols[c].spec.scale, dec,
                                          sizeof dec) == 0)
                        sink += strlen(dec);
                } else {
                    sink += (uint64_t)v->v.i64;
                }
            }
        }
    }
out:
    pq_reader_free(r);
    return 0;
}
