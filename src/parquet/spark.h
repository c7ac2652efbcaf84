/* spark.h: the Spark SQL type Spark's Parquet schema converter gives a column
 * (apache/spark ParquetSchemaConverter.scala, ParquetToSparkSchemaConverter), in the
 * JSON form a Delta Lake schema (metaData.schemaString) uses, so a Delta table over
 * tsarchive's files declares exactly what Spark reads from them. */
#ifndef TS_PQ_SPARK_H
#define TS_PQ_SPARK_H

#include "../common/buf.h"
#include "parquet.h"

/* Appends to out the Delta / Spark type of a column written with spec s: a JSON string
 * for a primitive ("long", "timestamp", "timestamp_ntz", "decimal(12,2)", "string",
 * "binary", ...) or, for a list, {"type":"array","elementType":...,"containsNull":true}.
 * Spark 3.4+ defaults: TIMESTAMP(isAdjustedToUTC=false) is timestamp_ntz
 * (spark.sql.parquet.inferTimestampNTZ.enabled), un-annotated BYTE_ARRAY is binary
 * (spark.sql.parquet.binaryAsString off). Returns 0, or TS_ERR_UNSUPPORTED naming the
 * column when Spark refuses its type (FIXED_LEN_BYTE_ARRAY UUID, INT96, TIME, NANOS
 * timestamps, a DECIMAL wider than its physical type holds). */
int pq_spark_type_json(const pq_column_spec *s, ts_buf *out, ts_err *err) TS_MUSTCHECK;

#endif
