/* restore.h: loads an archived Parquet file back into PostgreSQL, one transaction per
 * file: with COPY ... FROM STDIN (FORMAT binary), or batched multi-row INSERTs with
 * binary parameters where COPY FROM STDIN cannot be used (PGlite). Into TimescaleDB
 * hypertables too (the rows land in their chunks; the chunks created can be
 * compressed). A time range already holding rows is refused, so a file restored twice
 * never doubles its rows. Files written by other tools (DuckDB) load too where their
 * types fit the table's. */
#ifndef TS_PG_RESTORE_H
#define TS_PG_RESTORE_H

#include <stdint.h>

#include <libpq-fe.h>

#include "common/err.h"
#include "parquet/reader.h"

typedef enum {
    PG_RESTORE_AUTO = 0, /* COPY, except on PGlite (whose COPY FROM STDIN breaks) */
    PG_RESTORE_COPY,     /* COPY ... FROM STDIN (FORMAT binary) */
    PG_RESTORE_INSERT,   /* INSERT ... VALUES (...), ... with binary parameters */
} pg_restore_method;

typedef struct pg_restore_options {
    /* target table; NULL = the table recorded in the file (tsarchive.table) */
    const char *into_schema, *into_table;
    /* only rows with from <= time < to, on the table's time column (hypertable or range
     * partition key): RFC 3339 for time columns, integers for integer ones; NULL =
     * unbounded. Rows outside are read and skipped. */
    const char *from, *to;
    bool compress;     /* hypertables: compress the chunks the restore created */
    bool force_append; /* restore even when the table already holds rows in the file's
                          time range (rows may then be doubled) */
    bool check_only;   /* run every check (columns, the range, the first row) and write
                          nothing: several files restored as one (restore --table) are
                          all checked against the table as it was before any of them */
    pg_restore_method method;
} pg_restore_options;

typedef struct pg_restore_result {
    int64_t rows;         /* rows written */
    int64_t rows_skipped; /* outside from / to */
    int chunks_created;   /* hypertables: chunks that did not exist before */
    int chunks_compressed;
    bool used_insert; /* written with INSERTs (else COPY) */
    char table[200];  /* "schema"."table" as restored into */
} pg_restore_result;

/* Restores one file. Columns are matched by name; a missing, extra or incompatible
 * column is TS_ERR_INVALID before any row is sent. Stored generated columns are left
 * out (the server computes them; the file's values are not used); identity columns,
 * GENERATED ALWAYS ones included, get the file's values. For a file exported from a native
 * partition whose partition no longer exists, the partition is re-created with its
 * recorded bounds (only when restoring into the recorded table). Values the file
 * stores as text (interval, inet, multi-dimensional arrays, numeric without typmod...)
 * go through a temporary table and a cast to the column's type (COPY), or as text
 * parameters of the column's type (INSERT). All in one transaction: on any error nothing
 * is written.
 * Tables with a time column (hypertables, range-partitioned tables): before any row is
 * written, the file's time range (its Parquet statistics, else its tsarchive.range),
 * narrowed by from / to, is checked against the table: rows there already make it
 * TS_ERR_CONFLICT ("restoring it again would double them"), unless force_append. A file
 * whose range is unknown is TS_ERR_INVALID unless force_append. */
int pg_restore_file(PGconn *c, const char *path, const pg_restore_options *opt,
                    pg_restore_result *res, ts_err *err) TS_MUSTCHECK;

/* pg_restore_file on a reader the caller opened on any byte source (a lake object:
 * pq_reader_open with a read callback) and frees afterwards; label names the source in
 * errors (may be NULL). Reads r's rows from the start: pass a fresh reader. */
int pg_restore_reader(PGconn *c, pq_reader *r, const char *label, const pg_restore_options *opt,
                      pg_restore_result *res, ts_err *err) TS_MUSTCHECK;

#endif
