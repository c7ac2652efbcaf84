/* export.h: streams one chunk (or a time range of a table) out of PostgreSQL with
 * COPY (SELECT ...) TO STDOUT (FORMAT binary), straight into the Parquet writer, in
 * one REPEATABLE READ READ ONLY transaction; memory is one row group whatever the
 * chunk's size. Also computes the change proof (proof.h). */
#ifndef TS_PG_EXPORT_H
#define TS_PG_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "common/config.h"
#include "common/err.h"
#include "parquet/writer.h"
#include "discover.h"
#include "proof.h"

/* What to read. chunk_* names the relation read; table_* the hypertable / parent
 * (metadata only; NULL = the chunk itself). With time_column set, only rows with
 * from <= time_column < to are read (from / to: literals of the column's type). */
typedef struct pg_export_source {
    const char *database; /* for metadata; NULL = current_database() */
    const char *table_schema, *table_name;
    const char *chunk_schema, *chunk_name;
    const char *range_start, *range_end; /* metadata, may be NULL */
    const char *bound_from, *bound_to;   /* partitions: bounds (discover.h), may be NULL */
    /* partitions of multi-level trees (pg_chunk.parent_*, partition_bound): restore
     * re-creates a dropped one under its parent from these; may be NULL */
    const char *partition_parent_schema, *partition_parent_name, *partition_bound;
    /* integer ranges with a known unit (pg_chunk.time_unit, range_*_time): the range as
     * time too; may be NULL */
    const char *time_unit, *range_start_time, *range_end_time;
    const char *time_column;
    const char *from, *to;
} pg_export_source;

/* Fills src's chunk, table, range and partition fields from a discovered chunk (the
 * strings are borrowed from ch); database, time_column, from and to are left as
 * they are. */
void pg_export_source_of_chunk(const pg_chunk *ch, pg_export_source *src);

typedef struct pg_export_options {
    pq_writer_options writer;
    bool no_proof; /* skip the change proof (about a fifth of the client's CPU); the
                      result's proof is then "" */
    /* timestamp, timestamptz and date columns (not lists) as DELTA_BINARY_PACKED, not
     * PLAIN / dictionary: regular time columns shrink to almost nothing and cost the
     * compressor nothing (it is then a quarter less of the export's CPU on the narrow
     * benchmark table), but readers older than the encoding (Spark before 3.3) fail on
     * them. Off by default (docs/performance.md). */
    bool delta_timestamps;
    /* Array columns exported as ::text whatever their values hold: the columns the
     * table's log already stores as strings (another chunk held multi-dimensional
     * arrays), so every file of the table agrees. NULL-terminated; may be NULL. */
    const char *const *text_columns;
    /* Called about every 65536 rows and at the end: rows so far, COPY bytes read. */
    void (*progress)(void *ctx, int64_t rows, int64_t copy_bytes);
    void *progress_ctx;
} pg_export_options;

/* Defaults, then the parquet section of cfg when cfg is not NULL. */
void pg_export_options_init(pg_export_options *opt, const ts_config *cfg);

typedef struct pg_export_result {
    int64_t rows;
    int64_t bytes;      /* Parquet bytes given to the sink */
    int64_t copy_bytes; /* binary COPY bytes read */
    int row_groups;
    char proof[PG_PROOF_MAX]; /* for pg_chunk_unchanged() */
} pg_export_result;

/* Streams the source to sink as one Parquet file. On failure the sink's output must
 * be discarded (the writer never finishes the file), the transaction is rolled back
 * and the connection is usable again unless the server went away. */
int pg_export(PGconn *c, const pg_export_source *src, const pg_export_options *opt, pq_sink_fn sink,
              void *sink_ctx, pg_export_result *res, ts_err *err) TS_MUSTCHECK;

/* pg_export into a file, durably: path.tmp, fsync, rename, fsync of the directory.
 * On any failure no file (and no path.tmp) is left behind. */
int pg_export_file(PGconn *c, const pg_export_source *src, const pg_export_options *opt,
                   const char *path, pg_export_result *res, ts_err *err) TS_MUSTCHECK;

/* Metadata keys written into every export (values are strings). */
#define PG_KV_VERSION "tsarchive.version"
#define PG_KV_DATABASE "tsarchive.database"
#define PG_KV_TABLE "tsarchive.table" /* "schema.table" as JSON ["schema","table"] */
#define PG_KV_CHUNK "tsarchive.chunk" /* JSON ["schema","name"] */
#define PG_KV_RANGE                                                                                \
    "tsarchive.range"                     /* JSON {"start":..,"end":..,"column":..}, and for       \
                                             partitions and integer time see                       \
                                             pg_export_source */
#define PG_KV_COLUMNS "tsarchive.columns" /* JSON array, see docs/types.md */
#define PG_KV_ROWS "tsarchive.rows"
#define PG_KV_PROOF "tsarchive.proof"
/* values stored as NULL that restore must bring back: {"col": [[row, "exact"], ...]},
 * row 0-based; exact: "NaN" (numeric) or PostgreSQL int64 microseconds (timestamps) */
#define PG_KV_EXCEPTIONS "tsarchive.exceptions"
/* list values whose array carries a NULL bitmap but no NULL element (array_send()'s
 * has-nulls flag 1): {"col": [[first_row, rows], ...]}, runs of 0-based rows */
#define PG_KV_NULL_BITMAPS "tsarchive.array_null_bitmaps"

#endif
