/* writer.h: the streaming Parquet writer. A schema, then values, then close; output
 * goes to a sink callback as it is produced, and memory is bounded by one row group's
 * buffers whatever the file's size. */
#ifndef TS_PQ_WRITER_H
#define TS_PQ_WRITER_H

#include "parquet.h"

typedef struct pq_writer pq_writer;

/* Receives the file's bytes in order. Returns 0, or a negative TS_ERR_* code (and may
 * fill err) to make the writer fail: every later call then returns that error and the
 * output must be discarded, never presented as a file. */
typedef int (*pq_sink_fn)(void *ctx, const void *data, size_t len, ts_err *err);

typedef struct pq_writer_options {
    pq_codec codec;                 /* default ZSTD */
    int codec_level;                /* ZSTD / GZIP level; 0 = the codec's default */
    int64_t row_group_rows;         /* close a row group at this many rows (default 1M) */
    int64_t row_group_bytes;        /* ... or at this many uncompressed bytes (128 MiB) */
    int64_t page_bytes;             /* target uncompressed data page size (1 MiB) */
    int64_t dictionary_bytes_limit; /* per column chunk; past it: PLAIN (2 MiB) */
    bool dictionary;                /* try RLE_DICTIONARY for PQ_ENC_DEFAULT columns (true) */
    bool page_crc;                  /* write CRC32 of each page (false) */
    bool page_statistics;           /* statistics in data page headers too (true) */
    const char *created_by;         /* NULL: "tsarchive version X.Y.Z (build ID)" */
} pq_writer_options;

void pq_writer_options_default(pq_writer_options *opt);

/* Creates a writer for ncols columns (specs are copied). Writes nothing until the
 * first row group closes (a column's dictionary page must precede its data pages).
 * NULL on bad schema or no memory, with err filled. */
pq_writer *pq_writer_new(const pq_column_spec *cols, int ncols, const pq_writer_options *opt,
                         pq_sink_fn sink, void *sink_ctx, ts_err *err);

/* Adds a key-value pair to the footer's metadata (copied). Any time before close. */
int pq_writer_add_kv(pq_writer *w, const char *key, const char *value) TS_MUSTCHECK;

/* Appending values. Each call appends one value to column col of the current row.
 * For a list column: pq_write_list_begin, then one value (or null) per element with
 * the functions below, then pq_write_list_end; a NULL list is pq_write_null alone.
 * BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY take pq_write_bytes (FLBA: len must equal
 * type_length). INT32-based columns (DATE, INT(8/16/32), DECIMAL p<=9) take
 * pq_write_i32; INT64-based take pq_write_i64. All return 0 or a negative TS_ERR_*;
 * a type mismatch or misuse is TS_ERR_INTERNAL. */
int pq_write_null(pq_writer *w, int col) TS_MUSTCHECK;
int pq_write_bool(pq_writer *w, int col, bool v) TS_MUSTCHECK;
int pq_write_i32(pq_writer *w, int col, int32_t v) TS_MUSTCHECK;
int pq_write_i64(pq_writer *w, int col, int64_t v) TS_MUSTCHECK;
int pq_write_float(pq_writer *w, int col, float v) TS_MUSTCHECK;
int pq_write_double(pq_writer *w, int col, double v) TS_MUSTCHECK;
int pq_write_bytes(pq_writer *w, int col, const void *p, size_t len) TS_MUSTCHECK;
int pq_write_list_begin(pq_writer *w, int col) TS_MUSTCHECK;
int pq_write_list_end(pq_writer *w, int col) TS_MUSTCHECK;

/* Batch forms for column-at-a-time producers: n values of one column; valid may be
 * NULL (all present) or hold n flags (false = NULL). Not for list columns. */
int pq_write_i32_batch(pq_writer *w, int col, const int32_t *v, const bool *valid, size_t n) TS_MUSTCHECK;
int pq_write_i64_batch(pq_writer *w, int col, const int64_t *v, const bool *valid, size_t n) TS_MUSTCHECK;
int pq_write_float_batch(pq_writer *w, int col, const float *v, const bool *valid, size_t n) TS_MUSTCHECK;
int pq_write_double_batch(pq_writer *w, int col, const double *v, const bool *valid, size_t n) TS_MUSTCHECK;
/* BYTE_ARRAY and FIXED_LEN_BYTE_ARRAY (each len = type_length): the values' bytes are
 * copied; entries whose valid flag is false are not looked at. */
typedef struct pq_bytes {
    const void *ptr;
    size_t len;
} pq_bytes;
int pq_write_bytes_batch(pq_writer *w, int col, const pq_bytes *v, const bool *valid, size_t n) TS_MUSTCHECK;

/* Ends the rows appended so far: every column must hold the same number of rows
 * (else TS_ERR_INTERNAL). The writer may close a row group here, and only here, so
 * call it after each row or after each batch. */
int pq_writer_end_rows(pq_writer *w) TS_MUSTCHECK;

/* Rows ended in the row group being filled (0 right after one closed). */
int64_t pq_writer_group_rows(const pq_writer *w);

typedef struct pq_write_result {
    int64_t rows;
    int64_t bytes;      /* file size */
    int row_groups;
} pq_write_result;

/* Flushes the last row group and writes the footer. After a failure anywhere the
 * writer returns the first error and the sink's output is not a valid file. */
int pq_writer_close(pq_writer *w, pq_write_result *res) TS_MUSTCHECK;

/* The first error recorded by the writer (code TS_OK when none). */
const ts_err *pq_writer_error(const pq_writer *w);

/* Frees the writer; without a successful close the output is abandoned. NULL is a no-op. */
void pq_writer_free(pq_writer *w);

#endif
