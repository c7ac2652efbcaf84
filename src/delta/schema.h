/* schema.h: a Delta table's schema (a struct of fields: name, type, nullable, metadata,
 * serialized as the metaData action's schemaString), built from a Parquet file's footer
 * with one type map, and the one schema change tsarchive allows: new nullable columns.
 * See docs/delta.md for the type map. */
#ifndef TS_DELTA_SCHEMA_H
#define TS_DELTA_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "parquet/reader.h"

typedef struct delta_schema delta_schema;

/* The Parquet key-value metadata that carries each column's PostgreSQL type (the same
 * key as PG_KV_COLUMNS in pg/export.h: a JSON array of {"name", "pg_type", ...}). */
#define DELTA_KV_PG_COLUMNS "tsarchive.columns"
/* Column metadata keys written from it: the PostgreSQL type, and Spark's column
 * comment (shown by DESCRIBE TABLE). */
#define DELTA_META_PG_TYPE "tsarchive.pg_type"
#define DELTA_META_COMMENT "comment"

/* Builds the schema of the file r reads: one top-level field per column (flat columns
 * and LISTs of them, pq_reader_columns), types by the map in docs/delta.md, nullable
 * as the file says, metadata from DELTA_KV_PG_COLUMNS when present (a malformed value
 * is ignored). TS_ERR_UNSUPPORTED names the column whose type has no Delta mapping
 * (unsigned integers, TIMESTAMP(NANOS), TIME, nested types) or two columns whose names
 * differ only in case. On success *out is the caller's (delta_schema_free). */
int delta_schema_from_parquet(const pq_reader *r, delta_schema **out, ts_err *err) TS_MUSTCHECK;

/* Parses a schemaString (a Spark struct type in JSON). Any field type is kept as it
 * is (struct, map and array types included); TS_ERR_FORMAT says what is wrong. */
int delta_schema_parse(const char *json, size_t len, delta_schema **out, ts_err *err) TS_MUSTCHECK;

/* The schemaString: compact JSON, fields in order. Caller frees with ts_free; NULL on
 * no memory. */
char *delta_schema_json(const delta_schema *s);

/* Columns (top-level fields), in order. The strings belong to s. The type is the Delta
 * type as text: a primitive name ("long", "decimal(12,2)", "timestamp_ntz") or the
 * compact JSON of a complex type ({"type":"array",...}). pg_type is the column's
 * DELTA_META_PG_TYPE metadata, or NULL. */
int delta_schema_ncolumns(const delta_schema *s);
const char *delta_schema_column_name(const delta_schema *s, int i);
const char *delta_schema_column_type(const delta_schema *s, int i);
bool delta_schema_column_nullable(const delta_schema *s, int i);
const char *delta_schema_column_pg_type(const delta_schema *s, int i);
/* Index of the column named name (exact match), or -1. */
int delta_schema_find(const delta_schema *s, const char *name);

/* True when a column (or an array element) is timestamp_ntz: the table then needs the
 * timestampNtz feature (reader 3 / writer 7). */
bool delta_schema_needs_timestamp_ntz(const delta_schema *s);

/* The schema a table gets when a file of schema next joins a table of schema cur.
 * Allowed: the same columns in the same order with the same types, then new columns
 * at the end (always nullable in the table: older files do not have them); a column
 * may also relax from NOT NULL to nullable. Column metadata stays the table's. Returns
 * 0 with *merged NULL when the table's schema already fits, 0 with a new *merged (the
 * caller's) when it grows, or TS_ERR_INVALID naming the first column that differs
 * (dropped, renamed, reordered, retyped, or made NOT NULL). */
int delta_schema_merge(const delta_schema *cur, const delta_schema *next, delta_schema **merged,
                       ts_err *err) TS_MUSTCHECK;

/* True when both have the same fields (names, types, nullability; metadata ignored). */
bool delta_schema_equal(const delta_schema *a, const delta_schema *b);

/* A copy, or NULL on no memory. */
delta_schema *delta_schema_copy(const delta_schema *s);

/* NULL is a no-op. */
void delta_schema_free(delta_schema *s);

#endif
