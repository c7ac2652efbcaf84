/* rowimage.h: Parquet rows back into PostgreSQL's binary values (docs/types.md). For
 * each row of a file and each target column: the bytes the type's send() function
 * produces, or NULL. Restore streams them as binary COPY rows; the read-back proof
 * hashes them as record_send() would (docs/change-proof.md). */
#ifndef TS_PG_ROWIMAGE_H
#define TS_PG_ROWIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "copybin.h"
#include "parquet/reader.h"
#include "types.h"

typedef struct pg_rowimage pg_rowimage;

/* Plans every column of cols (the target: a table's columns from pg_columns_load, or a
 * chunk's columns as they were exported) against the file's columns, matched by name,
 * before any row is read: the binary encoding each Parquet type becomes for the
 * column's type, or the value's text where only the server can convert it
 * (pg_rowimage_is_text). Values the export stored as NULL plus an entry in the file's
 * tsarchive.exceptions (numeric NaN, timestamps after 294247 AD) come back exact. File
 * columns that no target column names are not read. Returns 0, or TS_ERR_INVALID
 * naming the column when the file lacks it or its type cannot become the column's.
 * r and cols must outlive the decoder; the decoder reads r's rows. */
int pg_rowimage_new(pg_rowimage **out, pq_reader *r, const pg_columns *cols,
                    ts_err *err) TS_MUSTCHECK;
/* NULL is a no-op. */
void pg_rowimage_free(pg_rowimage *ri);

/* Whether target column j goes out as its value's text (the server casts it). */
bool pg_rowimage_is_text(const pg_rowimage *ri, int j);
/* Whether the file keeps values of target column j as NULL plus an exception entry
 * (numeric NaN, timestamps after 294247 AD): its statistics then miss those values,
 * which sort above every other, so its max bound is no bound. */
bool pg_rowimage_has_exceptions(const pg_rowimage *ri, int j);
/* One PLAIN-encoded statistics value (pq_stats min or max) of target column j's file
 * column, as a row's value of that column is converted: into out (reset first) as an
 * int32 length and the bytes the type's send() produces. TS_ERR_UNSUPPORTED for LIST
 * and text-cast columns (no single value the server would not cast), TS_ERR_FORMAT
 * for a value of the wrong size. The caller judges whether the type's order is the
 * statistics' order. */
int pg_rowimage_plain_value(const pg_rowimage *ri, int j, const uint8_t *plain, size_t len,
                            ts_buf *out, ts_err *err) TS_MUSTCHECK;

/* Decodes the next row: 1 when there is one, 0 after the last, or a negative TS_ERR_*
 * naming the row and column (the decoder cannot continue). */
int pg_rowimage_next(pg_rowimage *ri, ts_err *err) TS_MUSTCHECK;
/* The current row: one field per target column (len -1 = NULL), pointing into the
 * decoder; valid until the next call. */
const pg_copy_field *pg_rowimage_fields(const pg_rowimage *ri);
/* The current row as one binary COPY tuple: int16 field count, then per field an int32
 * length (-1 for NULL) and the bytes. Valid until the next call. */
const uint8_t *pg_rowimage_tuple(const pg_rowimage *ri, size_t *len);
/* 0-based index of the current row in the file; -1 before the first. */
int64_t pg_rowimage_row(const pg_rowimage *ri);

#endif
