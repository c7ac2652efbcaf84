/* stats.h: an add action's statistics ({"numRecords", "minValues", "maxValues",
 * "nullCount"}, a JSON string in the log) from a Parquet file's footer: per-row-group
 * column statistics merged into per-file bounds, written the way Delta's Spark writer
 * writes them, and always true bounds (docs/delta.md, "Statistics"). */
#ifndef TS_DELTA_STATS_H
#define TS_DELTA_STATS_H

#include <jansson.h>

#include "common/err.h"
#include "parquet/reader.h"

/* String bounds keep this many UTF-16 code units, as Spark's
 * delta.dataSkippingStringPrefixLength default. */
#define DELTA_STATS_STRING_PREFIX 32

enum {
    /* A FLOAT / DOUBLE column whose footer has no nan_count gets no maxValues (a NaN,
     * which sorts above every number in Spark and DuckDB, may hide there). With this
     * flag the file's rows are read (pq_reader_next_row: the reader is left at the end)
     * to count NaNs instead, so such columns keep their max when there is none. */
    DELTA_STATS_SCAN_NAN = 1,
};

/* Builds the stats of the file r reads, for the columns delta_schema_from_parquet maps.
 * min/max come only from statistics whose order is known to be right (type-defined
 * order; never the legacy signed order of byte arrays) and only for the types Delta
 * skips on (numbers, decimals, dates, timestamps, strings); a column gets no bound
 * when a row group has values but no statistics. nullCount is omitted for LIST
 * columns (Parquet counts NULL elements there). On success *json is a NUL-terminated
 * JSON object (ts_free it). */
int delta_stats_from_parquet(pq_reader *r, unsigned flags, char **json, ts_err *err) TS_MUSTCHECK;

/* Parses an add's stats text (a JSON object), numbers beyond 64-bit integers (a
 * decimal(38) bound) as reals; NULL when it is not a JSON object. json_decref() it. */
json_t *delta_stats_parse(const char *stats);

#endif
