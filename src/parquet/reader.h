/* reader.h: the Parquet reader. Opens a file (path, memory, or a random-access read
 * callback), parses and validates the footer, exposes the schema and metadata, and
 * iterates rows column chunk by column chunk. Every byte read is treated as hostile. */
#ifndef TS_PQ_READER_H
#define TS_PQ_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parquet.h"

typedef struct pq_reader pq_reader;

/* Reads exactly len bytes at offset into dst. Returns 0, or a negative TS_ERR_* with
 * err filled (a short read is an error). */
typedef int (*pq_read_fn)(void *ctx, uint64_t offset, void *dst, size_t len, ts_err *err);

typedef struct pq_reader_options {
    size_t max_footer_bytes;   /* footer (FileMetaData) size cap (64 MiB) */
    size_t max_page_bytes;     /* uncompressed page size cap (1 GiB + 16 MiB) */
    size_t max_row_bytes;      /* bytes of one row's list values, per column (1 GiB) */
    int64_t max_list_elements; /* elements in one list value (128 M) */
    bool verify_crc;           /* check page CRC32 when present (true) */
    int64_t max_rows;          /* refuse files claiming more rows (0 = no cap). Decoding
                                  work grows with the rows a file claims, and NULL runs
                                  cost almost no bytes: cap this for untrusted files. */
    size_t max_alloc_bytes;    /* the most the reader holds at once in buffers whose size
                                  comes from the file: footer and metadata, column chunks,
                                  decompressed pages, dictionaries, list values (4 GiB;
                                  0 = the default). Passing it is TS_ERR_TOOBIG naming the
                                  buffer. docs/parquet-reader.md says how it is sized. */
} pq_reader_options;

void pq_reader_options_default(pq_reader_options *opt);

/* ---- Metadata: read-only views owned by the reader, valid until pq_reader_free. ---- */

typedef struct pq_kv {
    const char *key;
    const char *value; /* NULL when the pair has no value */
} pq_kv;

/* Statistics as stored: min/max are PLAIN-encoded values (byte arrays without length
 * prefix). legacy = they came from the deprecated min/max fields (signed order). */
typedef struct pq_stats {
    bool has_min, has_max, legacy;
    bool has_null_count, has_distinct_count, has_nan_count;
    const uint8_t *min, *max;
    size_t min_len, max_len;
    int64_t null_count, distinct_count, nan_count;
} pq_stats;

/* One element of the schema tree, in the file's depth-first order; element 0 is the
 * root. */
typedef struct pq_schema_node {
    const char *name;
    int depth;            /* root: 0 */
    int parent;           /* index of the parent, -1 for the root */
    int num_children;     /* 0 for a leaf */
    int physical;         /* pq_physical, -1 for a group */
    int type_length;      /* -1 when absent */
    int repetition;       /* 0 REQUIRED, 1 OPTIONAL, 2 REPEATED, -1 absent */
    int converted_type;   /* ConvertedType, -1 when absent */
    int scale, precision; /* -1 when absent */
    int field_id;         /* -1 when absent */
    int logical_kind;     /* LogicalType union member (1 STRING ... 19), 0 when absent */
    /* Logical type mapped from LogicalType, else ConvertedType (name is unset here). */
    pq_logical logical;
    int lt_precision, lt_scale, bit_width;
    bool is_signed, ts_utc;
    pq_time_unit time_unit;
} pq_schema_node;

typedef struct pq_chunk_meta {
    const char *path;      /* path_in_schema joined with '.' */
    const char *file_path; /* external data file (unsupported for reading), or NULL */
    bool has_meta;         /* ColumnMetaData present */
    int physical, codec;
    int nencodings;
    const int *encodings;
    int64_t num_values, total_uncompressed_size, total_compressed_size;
    int64_t data_page_offset, dictionary_page_offset, index_page_offset; /* -1: absent */
    bool has_stats;
    pq_stats stats;
} pq_chunk_meta;

typedef struct pq_row_group_meta {
    int64_t num_rows, total_byte_size;
    int64_t total_compressed_size, file_offset; /* -1: absent */
    int ordinal;                                /* -1: absent */
    int ncolumns;
    const pq_chunk_meta *columns;
} pq_row_group_meta;

typedef struct pq_file_meta {
    int32_t version;
    int64_t num_rows;
    const char *created_by; /* NULL when absent */
    int nschema;
    const pq_schema_node *schema;
    int nrow_groups;
    const pq_row_group_meta *row_groups;
    int nkv;
    const pq_kv *kv;
    int ncolumn_orders;
    const int *column_orders; /* 1 TYPE_ORDER, 2 IEEE_754_TOTAL_ORDER, 3 INT96, 0 other */
    bool encrypted;           /* encryption_algorithm set: data cannot be read */
} pq_file_meta;

/* A flattened column: a primitive leaf, or a LIST of one (3-level standard form, the
 * legacy 2-level forms, or a bare repeated primitive). */
typedef struct pq_reader_column {
    pq_column_spec spec;   /* name = top-level field; nullable = the value (or list) can be
                              NULL; list = LIST of spec's type; encoding unset */
    bool element_nullable; /* list: elements can be NULL */
    int leaf;              /* index of the column chunk in each row group */
    int node;              /* index of the leaf in pq_file_meta.schema */
    int max_def, max_rep;
    const char *path; /* dotted path of the leaf */
} pq_reader_column;

/* ---- Opening. ---- */

/* Opens a file of file_size bytes read through read_fn, reads and validates the footer
 * (magic, FileMetaData, schema tree, row group and column chunk ranges, row counts).
 * On success *out owns nothing of ctx; read_fn is called again while rows are read.
 * Returns 0, or TS_ERR_FORMAT (what is wrong, and where), TS_ERR_IO, TS_ERR_NOMEM,
 * TS_ERR_TOOBIG. This is the cheap verification: footer plus row counts. */
int pq_reader_open(pq_reader **out, pq_read_fn read_fn, void *ctx, uint64_t file_size,
                   const pq_reader_options *opt, ts_err *err) TS_MUSTCHECK;
/* Opens a local file (kept open until pq_reader_free). */
int pq_reader_open_file(pq_reader **out, const char *path, const pq_reader_options *opt,
                        ts_err *err) TS_MUSTCHECK;
/* Reads from len bytes at data, which must outlive the reader. */
int pq_reader_open_memory(pq_reader **out, const void *data, size_t len,
                          const pq_reader_options *opt, ts_err *err) TS_MUSTCHECK;
/* NULL is a no-op. */
void pq_reader_free(pq_reader *r);

const pq_file_meta *pq_reader_meta(const pq_reader *r);
/* The file's row count as the footer states it (checked against its row groups). */
int64_t pq_reader_num_rows(const pq_reader *r);
/* The file's size in bytes. */
uint64_t pq_reader_file_size(const pq_reader *r);
int pq_reader_num_row_groups(const pq_reader *r);
/* Value of key in the key-value metadata, or NULL. */
const char *pq_reader_kv(const pq_reader *r, const char *key);

/* The flat columns. Returns 0 with *cols / *ncols set, or TS_ERR_UNSUPPORTED when the
 * schema holds a nested type the reader cannot flatten (struct, map, nested list), with
 * err naming the field. Metadata stays readable either way. */
int pq_reader_columns(const pq_reader *r, const pq_reader_column **cols, int *ncols,
                      ts_err *err) TS_MUSTCHECK;

/* ---- Rows. ---- */

typedef struct pq_value {
    bool is_null;
    union {
        bool b;
        int32_t i32;
        int64_t i64;
        float f;
        double d;
        uint8_t i96[12];
        struct {
            const uint8_t *ptr;
            size_t len;
        } bin; /* BYTE_ARRAY, FIXED_LEN_BYTE_ARRAY */
    } v;
} pq_value;

/* One column of the current row. A scalar: is_list false, n = 1, items[0] is the value
 * (items[0].is_null = NULL). A list: is_null = NULL list; else n elements (0 = empty
 * list), each possibly is_null. */
typedef struct pq_cell {
    bool is_list, is_null;
    size_t n;
    const pq_value *items;
} pq_cell;

/* Advances to the next row: 1 when there is one, 0 at the end, negative TS_ERR_* on
 * error (the reader cannot continue). Column chunks are read one row group at a time. */
int pq_reader_next_row(pq_reader *r, ts_err *err) TS_MUSTCHECK;
/* Column col of the current row; the cell and the bytes it points to stay valid until
 * the next call to pq_reader_next_row. */
const pq_cell *pq_reader_cell(const pq_reader *r, int col);
/* Index of the current row in the file (0-based); -1 before the first. Rows of skipped
 * row groups count, so this stays the row's index in the file. */
int64_t pq_reader_row_index(const pq_reader *r);

/* Projection and skipping, for readers that need part of a file. Both take a copy of
 * the flags and must come before the first pq_reader_next_row (TS_ERR_INTERNAL after).
 * Columns: want has one flag per flat column (pq_reader_columns); the others are
 * neither fetched nor decoded, and their cells are NULL. Row groups: want has one flag
 * per row group; the others are neither fetched nor decoded, and their rows are not
 * returned. Memory stays one row group's selected column chunks. */
int pq_reader_select_columns(pq_reader *r, const bool *want, ts_err *err) TS_MUSTCHECK;
int pq_reader_select_row_groups(pq_reader *r, const bool *want, ts_err *err) TS_MUSTCHECK;

/* Full verification: reads and decodes every page of every column, checks every row
 * group's row count, and returns the number of rows in *rows. */
int pq_reader_verify(pq_reader *r, int64_t *rows, ts_err *err) TS_MUSTCHECK;

/* Writes the exact decimal text ("-12.340") of an unscaled two's complement integer,
 * big-endian in be (len bytes, as FIXED_LEN_BYTE_ARRAY / BYTE_ARRAY decimals store it),
 * with scale digits after the point. Returns 0, or TS_ERR_INVALID when out (outsz bytes)
 * is too small or len > 64. */
int pq_decimal_format(const uint8_t *be, size_t len, int scale, char *out, size_t outsz);
/* The same for INT32 / INT64 decimals. */
int pq_decimal_format_i64(int64_t unscaled, int scale, char *out, size_t outsz);

/* Names for inspect: LogicalType members, ConvertedType values, page types. */
const char *pq_logical_kind_name(int kind);
const char *pq_converted_type_name(int ct);
const char *pq_repetition_name(int rep);

#endif
