/* spark.c: Parquet column spec -> Spark / Delta type, following the cases of Spark's
 * ParquetToSparkSchemaConverter.convertPrimitiveField and convertGroupField (LIST). */
#include "spark.h"

#include <stdio.h>

/* Most decimal digits n bytes of two's complement hold (Spark's
 * Decimal.maxPrecisionForBytes): floor(log10(2^(8n-1) - 1)). */
static int max_precision_for_bytes(int n)
{
    /* 2^(8n-1) has floor((8n-1) log10 2) + 1 digits; one fewer fit for sure */
    static const int digits[17] = {0, 2, 4, 6, 9, 11, 14, 16, 18, 21, 23, 26, 28, 31, 33, 35, 38};
    return n >= 0 && n <= 16 ? digits[n] : 38;
}

static int refuse(const pq_column_spec *s, ts_err *err, const char *why)
{
    return ts_err_set(err, TS_ERR_UNSUPPORTED, "column \"%s\": Spark cannot read %s%s",
                      s->name ? s->name : "?", pq_physical_name(s->physical), why);
}

/* The primitive type's name into name (64 bytes). */
static int primitive(const pq_column_spec *s, char *name, ts_err *err)
{
    const char *t = NULL;
    int maxp = -1;
    switch (s->physical) {
    case PQ_BOOLEAN:
        if (s->logical == PQ_LT_NONE)
            t = "boolean";
        break;
    case PQ_FLOAT:
        if (s->logical == PQ_LT_NONE)
            t = "float";
        break;
    case PQ_DOUBLE:
        if (s->logical == PQ_LT_NONE)
            t = "double";
        break;
    case PQ_INT32:
        if (s->logical == PQ_LT_NONE)
            t = "integer";
        else if (s->logical == PQ_LT_DATE)
            t = "date";
        else if (s->logical == PQ_LT_INT && s->is_signed)
            t = s->bit_width == 8    ? "byte"
                : s->bit_width == 16 ? "short"
                : s->bit_width == 32 ? "integer"
                                     : NULL;
        else if (s->logical == PQ_LT_INT)
            t = s->bit_width == 8    ? "short"
                : s->bit_width == 16 ? "integer"
                : s->bit_width == 32 ? "long"
                                     : NULL;
        else if (s->logical == PQ_LT_DECIMAL)
            maxp = 9; /* Decimal.MAX_INT_DIGITS */
        break;
    case PQ_INT64:
        if (s->logical == PQ_LT_NONE ||
            (s->logical == PQ_LT_INT && s->is_signed && s->bit_width == 64))
            t = "long";
        else if (s->logical == PQ_LT_INT && !s->is_signed && s->bit_width == 64)
            t = "decimal(20,0)";
        else if (s->logical == PQ_LT_DECIMAL)
            maxp = 18; /* Decimal.MAX_LONG_DIGITS */
        else if (s->logical == PQ_LT_TIMESTAMP && s->time_unit != PQ_UNIT_NANOS)
            t = s->ts_utc ? "timestamp" : "timestamp_ntz";
        break;
    case PQ_BYTE_ARRAY:
        if (s->logical == PQ_LT_STRING || s->logical == PQ_LT_ENUM || s->logical == PQ_LT_JSON)
            t = "string";
        else if (s->logical == PQ_LT_NONE || s->logical == PQ_LT_BSON)
            t = "binary";
        else if (s->logical == PQ_LT_DECIMAL)
            maxp = 38; /* any precision Spark's DecimalType holds */
        break;
    case PQ_FIXED_LEN_BYTE_ARRAY:
        if (s->logical == PQ_LT_NONE)
            t = "binary";
        else if (s->logical == PQ_LT_DECIMAL)
            maxp = max_precision_for_bytes(s->type_length);
        /* UUID: illegalType() (apache/spark#55684) */
        break;
    default: /* INT96 needs spark.sql.parquet.int96AsTimestamp; tsarchive never writes it */
        break;
    }
    if (maxp > 0) {
        if (s->precision < 1 || s->precision > maxp || s->scale < 0 || s->scale > s->precision)
            return refuse(s, err, " with this DECIMAL precision");
        snprintf(name, 64, "decimal(%d,%d)", s->precision, s->scale);
        return 0;
    }
    if (!t)
        return refuse(s, err, " with this logical type");
    snprintf(name, 64, "%s", t);
    return 0;
}

int pq_spark_type_json(const pq_column_spec *s, ts_buf *out, ts_err *err)
{
    char name[64];
    int rc = primitive(s, name, err);
    if (rc)
        return rc;
    /* a LIST in the 3-level form with an optional element: ArrayType(containsNull) */
    rc = s->list ? ts_buf_printf(out,
                                 "{\"type\":\"array\",\"elementType\":\"%s\","
                                 "\"containsNull\":true}",
                                 name)
                 : ts_buf_printf(out, "\"%s\"", name);
    return rc ? ts_err_set(err, rc, "out of memory") : 0;
}
