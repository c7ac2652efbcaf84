/* discover.h: chunk discovery: TimescaleDB chunks (timescaledb_information.chunks)
 * and the leaf partitions of native RANGE-partitioned tables, with their ranges, size,
 * compression and whether the retention period has passed. */
#ifndef TS_PG_DISCOVER_H
#define TS_PG_DISCOVER_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "common/config.h"
#include "common/err.h"

typedef enum { PG_SRC_TIMESCALEDB = 0, PG_SRC_PARTITION = 1 } pg_chunk_source;

typedef struct pg_chunk {
    char *table_schema, *table_name; /* the hypertable or partitioned parent */
    char *chunk_schema, *chunk_name; /* the relation holding the rows */
    char *dimension;                 /* the time (or integer) column */
    char *dimension_type;            /* "timestamp with time zone", "bigint", ... */
    pg_chunk_source source;
    bool integer_range;       /* the range is integers (start_int/end_int) */
    bool has_start, has_end;  /* false: unbounded (MINVALUE / MAXVALUE) */
    int64_t start_us, end_us; /* time ranges: Unix microseconds, UTC */
    int64_t start_int, end_int;
    char range_start[40], range_end[40]; /* RFC 3339 UTC ("...Z") or the integer; "" unbounded */
    bool compressed;
    int64_t size_bytes;          /* on disk, including the compressed data */
    int retention_days;          /* for its table; 0 = never expires */
    bool expired;                /* the whole range ends at or before now() - retention */
    char *bound_from, *bound_to; /* partitions: the bounds as the catalog prints them
                                    (a literal of the key's type, or MINVALUE/MAXVALUE) */
} pg_chunk;

typedef struct pg_chunk_list {
    pg_chunk *items;
    int n;
    int64_t now_us; /* the server's now() used for `expired` */
} pg_chunk_list;

typedef struct pg_discover_filter {
    const char *table; /* glob on "schema.table" of the parent, or on the table name
                          alone when it has no dot; NULL = all */
    bool expired_only;
} pg_discover_filter;

/* Lists chunks of every hypertable and range-partitioned table, except the tsarchive
 * schema, system schemas, and tables cfg->database.include/exclude rule out (glob on
 * "schema.table"). Retention per table: ts_config_retention_days(). Ordered by table,
 * range start, chunk name. Integer ranges never expire (their unit is unknown). A
 * partition that is itself partitioned, and a DEFAULT partition, are skipped.
 * Free with pg_chunk_list_free. */
int pg_discover(PGconn *c, const ts_config *cfg, const pg_discover_filter *f, pg_chunk_list *out,
                ts_err *err) TS_MUSTCHECK;
void pg_chunk_list_free(pg_chunk_list *l);

/* Finds one chunk (or partition) by its relation name; TS_ERR_NOTFOUND when the
 * relation is neither. expired is computed with cfg (NULL: never expired). */
int pg_discover_chunk(PGconn *c, const ts_config *cfg, const char *chunk_schema,
                      const char *chunk_name, pg_chunk *out, ts_err *err) TS_MUSTCHECK;
void pg_chunk_clear(pg_chunk *ch);

/* The time column of a hypertable (its first dimension) or the key of a range-
 * partitioned table; TS_ERR_NOTFOUND when the table is neither. ts_free(*column). */
int pg_time_column(PGconn *c, const char *schema, const char *table, char **column,
                   ts_err *err) TS_MUSTCHECK;

/* Whether "schema.table" passes include/exclude (NULL-terminated glob lists). */
bool pg_table_selected(const char *schema_table, char *const *include, char *const *exclude);

#endif
