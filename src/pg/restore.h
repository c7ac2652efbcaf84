/* restore.h: loads an archived Parquet file back into PostgreSQL with
 * COPY ... FROM STDIN (FORMAT binary), one transaction per file. Files written by
 * other tools (DuckDB) load too where their types fit the table's. */
#ifndef TS_PG_RESTORE_H
#define TS_PG_RESTORE_H

#include <stdint.h>

#include <libpq-fe.h>

#include "common/err.h"
#include "parquet/reader.h"

typedef struct pg_restore_options {
    /* target table; NULL = the table recorded in the file (tsarchive.table) */
    const char *into_schema, *into_table;
} pg_restore_options;

typedef struct pg_restore_result {
    int64_t rows;
    char table[200]; /* "schema"."table" as restored into */
} pg_restore_result;

/* Restores one file. Columns are matched by name; a missing, extra or incompatible
 * column is TS_ERR_INVALID before any row is sent. Stored generated columns are left
 * out (the server computes them; the file's values are not used); identity columns,
 * GENERATED ALWAYS ones included, get the file's values. For a file exported from a native
 * partition whose partition no longer exists, the partition is re-created with its
 * recorded bounds (only when restoring into the recorded table). Values the file
 * stores as text (interval, inet, multi-dimensional arrays, numeric without typmod...)
 * go through a temporary table and a cast to the column's type. All in one
 * transaction: on any error nothing is written. */
int pg_restore_file(PGconn *c, const char *path, const pg_restore_options *opt,
                    pg_restore_result *res, ts_err *err) TS_MUSTCHECK;

/* pg_restore_file on a reader the caller opened on any byte source (a lake object:
 * pq_reader_open with a read callback) and frees afterwards; label names the source in
 * errors (may be NULL). Reads r's rows from the start: pass a fresh reader. */
int pg_restore_reader(PGconn *c, pq_reader *r, const char *label, const pg_restore_options *opt,
                      pg_restore_result *res, ts_err *err) TS_MUSTCHECK;

#endif
