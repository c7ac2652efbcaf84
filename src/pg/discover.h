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

/* Where the "now" of an integer range's expiry came from. */
typedef enum {
    PG_NOW_NONE = 0,    /* not an integer range, or no way to tell */
    PG_NOW_INTEGER_NOW, /* the hypertable's integer_now function */
    PG_NOW_CLOCK,       /* the server's now() in the configured time_unit */
} pg_now_source;

#define PG_SKIP_MAX 400

typedef struct pg_chunk {
    char *table_schema, *table_name; /* the hypertable or partitioned parent (the root of a
                                        multi-level tree) */
    char *chunk_schema, *chunk_name; /* the relation holding the rows */
    char *dimension;                 /* the time (or integer) column */
    char *dimension_type;            /* "timestamp with time zone", "bigint", ... */
    pg_chunk_source source;
    bool integer_range;       /* the range is integers (start_int/end_int) */
    bool has_start, has_end;  /* false: unbounded (MINVALUE / MAXVALUE) */
    int64_t start_us, end_us; /* time ranges: Unix microseconds, UTC; integer ranges with a
                                 known unit (time_known): the same range as time */
    int64_t start_int, end_int;
    char range_start[40], range_end[40]; /* RFC 3339 UTC ("...Z") or the integer; "" unbounded */
    bool compressed;
    int64_t size_bytes;          /* on disk, including the compressed data */
    bool size_estimated;         /* size_bytes from the catalog (pg_class.relpages of the
                                    relation, its TOAST table and indexes as of the last
                                    VACUUM / ANALYZE), not measured */
    int retention_days;          /* for its table; 0 = never expires */
    bool expired;                /* the whole range ends at or before now() - retention */
    char *bound_from, *bound_to; /* partitions directly under their table: the bounds as the
                                    catalog prints them (a literal of the key's type, or
                                    MINVALUE/MAXVALUE); NULL for deeper partitions */

    /* ---- integer time (integer_range) ---- */
    ts_time_unit time_unit;  /* the column's unit, NONE = unknown */
    bool time_unit_inferred; /* the unit was inferred from integer_now()'s value (no
                                tables[].time_unit): see docs/timescaledb.md */
    pg_now_source now_source;
    int64_t now_int; /* the column's "now" that expired was computed with */
    bool time_known; /* start_us/end_us and range_*_time hold the range as time */
    char range_start_time[40], range_end_time[40]; /* RFC 3339, when time_known; "" unbounded */

    /* Why the chunk is never archived as things stand (its expiry cannot be decided: an
     * integer column of unknown unit, a failing integer_now; or its range is unbounded);
     * "" when nothing stands in the way. A chunk with a reason is not expired, except an
     * unbounded one whose end has passed (expired stays as computed). */
    char skip_reason[PG_SKIP_MAX];

    /* ---- continuous aggregates ---- */
    char *cagg_schema, *cagg_name; /* the chunk belongs to the materialized hypertable of
                                      this continuous aggregate (listed only when the
                                      config names it); NULL otherwise */

    /* ---- native partitions ---- */
    char *parent_schema, *parent_name; /* the immediate parent (the table itself, or an
                                          intermediate partition of a multi-level tree) */
    char *partition_bound;             /* pg_get_expr(relpartbound): "FOR VALUES ..." */
    int partition_level;               /* 1: directly under the table; 2, 3...: deeper */
} pg_chunk;

/* A DEFAULT partition on the time key of a partitioned table: never dropped (it has no
 * range); pg_default_rows_count() counts its expired rows. */
typedef struct pg_default_partition {
    char *table_schema, *table_name; /* the table (root of its tree) */
    char *schema, *name;             /* the DEFAULT partition */
    char *dimension, *dimension_type;
    uint32_t dimension_oid; /* the key's type */
    int retention_days;
    ts_time_unit time_unit; /* integer keys: tables[].time_unit */
    bool has_cutoff;        /* retention on and the unit known: rows before cutoff expired */
    int64_t cutoff_us;      /* time keys: Unix microseconds */
    int64_t cutoff_int;     /* integer keys */
    char cutoff[40];        /* RFC 3339 or the integer */
    int64_t expired_rows;   /* -1 until counted */
} pg_default_partition;

typedef struct pg_chunk_list {
    pg_chunk *items;
    int n;
    int64_t now_us;                 /* the server's now() used for `expired` */
    pg_default_partition *defaults; /* DEFAULT partitions of the tables that pass the filters */
    int ndefaults;
} pg_chunk_list;

typedef struct pg_discover_filter {
    const char *table; /* glob on "schema.table" of the parent, or on the table name
                          alone when it has no dot; NULL = all. For the materialized
                          hypertable of a continuous aggregate, the aggregate's
                          "schema.view" matches too */
    bool expired_only;
    bool include_skipped; /* with expired_only: keep the chunks with a skip_reason too */
} pg_discover_filter;

/* Lists chunks of every hypertable and range-partitioned table, except the tsarchive
 * schema, system schemas, and tables cfg->database.include/exclude rule out (glob on
 * "schema.table"). Retention per table: ts_config_retention_days(). Ordered by table,
 * range start, chunk name.
 * Integer ranges expire by the hypertable's integer_now() (the unit: tables[].time_unit,
 * else inferred from integer_now()'s value when that is unambiguous) or by the server's
 * clock in tables[].time_unit; with neither they get a skip_reason.
 * Continuous aggregates' materialized hypertables are listed only when cfg names the
 * aggregate ("schema.view") or the materialized hypertable in tables[].name or, verbatim,
 * in database.include.
 * Native partitions: the leaves of every tree whose root, or a level below it, is
 * RANGE-partitioned on one column of a time or integer type; a leaf's range is the
 * intersection of its ancestors' ranges on that column (levels partitioned on other
 * keys do not narrow it). A leaf inside a DEFAULT partition of such a level has no
 * range: it is not listed, its DEFAULT partition goes to out->defaults.
 * size_bytes: see size_estimated. Free with pg_chunk_list_free. */
int pg_discover(PGconn *c, const ts_config *cfg, const pg_discover_filter *f, pg_chunk_list *out,
                ts_err *err) TS_MUSTCHECK;
void pg_chunk_list_free(pg_chunk_list *l);

/* Counts the expired rows (time key before the cutoff) of each DEFAULT partition in l
 * that has a cutoff, one count(*) each. */
int pg_default_rows_count(PGconn *c, pg_chunk_list *l, ts_err *err) TS_MUSTCHECK;

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
