/* it_readback.c: integration tests of reading an archive back (src/pg/rowimage.c,
 * proof_file.c, restore.c) and of the Parquet types Spark accepts.
 *
 * usage: it_readback pg     PostgreSQL 15 at TS_TEST_PG_URL, in a database of its own
 *        it_readback tsdb   PGlite+TimescaleDB at TS_TEST_TSDB_URL, in a schema of its own
 *        it_readback bench [ROWS]   the read-back cost against the export (not a test)
 *
 * pg: every mapped type (sql/alltypes.sql, and a table of more edge values: numerics
 * with and without typmod and trailing zeros, negative scale, NaN, +-infinity, far
 * timestamps, arrays with NULL elements and lower bounds, multi-dimensional arrays,
 * domains, uuid forms, char(n), generated columns) exported, the file's proof equal to
 * the export's, and restored exactly; each column's Parquet type among the pairs Spark's
 * schema converter accepts, with the Delta type it must get; every value byte of an
 * uncompressed PLAIN file flipped in turn gives another proof or an error, never the
 * same proof; columns added or dropped after the export; restore into tables with
 * stored generated columns and identity columns (COPY and the staged INSERT path).
 * tsdb: the same tables as a hypertable, a chunk compressed, proofs of the files
 * (COPY FROM STDIN breaks PGlite: no restore there). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/log.h"
#include "parquet/reader.h"
#include "parquet/spark.h"
#include "parquet/thrift_dec.h"
#include "pg/conn.h"
#include "pg/export.h"
#include "pg/proof.h"
#include "pg/restore.h"

#include "it_common.h"

static char tmpdir[256];

/* More edge values than alltypes.sql, in schema %1$s. */
#define MORE_SQL                                                                                   \
    "CREATE DOMAIN %1$s.posint AS integer CHECK (VALUE > 0);"                                      \
    "CREATE TABLE %1$s.more ("                                                                     \
    " id bigint NOT NULL, tz timestamptz, t timestamp, d date,"                                    \
    " nf numeric, n12_4 numeric(12,4), n10_2 numeric(10,2), n4_m3 numeric(4,-3),"                  \
    " n30_8 numeric(30,8), u uuid, a_u uuid[], a_i int[], a_t text[], a_n numeric[],"              \
    " a_d date[], a_f8 float8[], a_by bytea[], a_ch char(3)[], ch char(4), vc varchar(3),"         \
    " pi %1$s.posint, a_pi %1$s.posint[], jb jsonb, js json, by bytea, b bool,"                    \
    " twice int GENERATED ALWAYS AS (id * 2) STORED);"                                             \
    "INSERT INTO %1$s.more VALUES"                                                                 \
    " (1, 'infinity', '-infinity', 'infinity', 1.500, 1.5, 100.00, 12000, 0.00000001,"             \
    "  'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', '{A0EEBC999C0B4EF8BB6D6BB9BD380A11,NULL}',"         \
    "  '{1,NULL,3}', '{NULL,\"\",\"x y\"}', '{1.10,NULL,-0.000,NaN}', "                            \
    "'{infinity,-infinity,NULL}',"                                                                 \
    "  '{NaN,-0,Infinity,NULL}', '{\"\\\\x00ff\",NULL}', '{a,NULL,abc}', 'ab', 'xyz', 7, "         \
    "'{1,NULL}',"                                                                                  \
    "  '{\"a\": 1.10, \"b\": [true, null]}', '  {\"keep\" : \"spaces\"} ', '\\x00', true),"        \
    " (2, '-infinity', 'infinity', '-infinity', 'NaN', 'NaN', -99999999.99, -9999000,"             \
    "  -1234567890123456789012.12345678, '{00000000-0000-0000-0000-000000000000}', '{}',"          \
    "  '[0:1]={5,6}', '{}', '{}', '{}', '{}', '{}', '{}', '', '', NULL, '{}', 'null', '[]',"       \
    "  '\\x', false),"                                                                             \
    " (3, '294276-12-31 23:59:59.999999+00', '294276-12-31 23:59:59.999999', '5874897-12-31',"     \
    "  'Infinity', 0, 0.00, 0, 0, 'ffffffff-ffff-ffff-ffff-ffffffffffff', "                        \
    "'{ffffffff-ffff-ffff-ffff-ffffffffffff}',"                                                    \
    "  '{{1,2},{3,4}}', '{{a}}', '{{1.0}}', '{2024-01-01}', '{1e308}', '{\"\\\\x\"}', '{\"\"}',"   \
    "  NULL, NULL, 1, '{{1}}', '{}', '{}', NULL, NULL),"                                           \
    " (4, '4713-01-01 00:00:00+00 BC', '4713-01-01 BC', '4713-01-01 BC', '-Infinity',"             \
    "  99999999.9999, 12345678.90, 9999000, 0.1, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"        \
    "  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),"                               \
    " (5, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"     \
    "  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);"                         \
    "INSERT INTO %1$s.more (id, a_d) SELECT i, '{2024-01-01,NULL}' FROM generate_series(6, 9) i;"  \
    "UPDATE %1$s.more SET a_f8[4] = 1, a_by[2] = '\\x01' WHERE id = 1;"                            \
    "UPDATE %1$s.more SET a_d[2] = '2024-01-02' WHERE id BETWEEN 6 AND 9;"                         \
    "CREATE TABLE %1$s.more_snapshot AS SELECT * FROM %1$s.more;"

/* Runs alltypes.sql with its names qualified by schema s. */
static void load_alltypes(PGconn *c, const char *s)
{
    char *fx = read_whole(TS_SOURCE_DIR "/tests/pg/sql/alltypes.sql", NULL);
    ts_buf b;
    CHECK(fx != NULL, "cannot read alltypes.sql");
    if (!fx)
        return;
    ts_buf_init(&b, 0);
    for (const char *p = fx; *p;) {
        if (strncmp(p, "alltypes", 8) == 0 || strncmp(p, "mood", 4) == 0) {
            CHECK(ts_buf_printf(&b, "%s.", s) == 0, "oom");
        }
        CHECK(ts_buf_putc(&b, (uint8_t)*p++) == 0, "oom");
    }
    sql(c, "%s", ts_buf_cstr(&b));
    ts_buf_free(&b);
    free(fx);
}

static int export_rel(PGconn *c, const char *schema, const char *name, const char *path,
                      const pg_export_options *o, pg_export_result *res, ts_err *err)
{
    pg_export_source src = {.chunk_schema = schema, .chunk_name = name};
    pg_export_options def;
    if (!o) {
        pg_export_options_init(&def, NULL);
        o = &def;
    }
    ts_err_clear(err);
    return pg_export_file(c, &src, o, path, res, err);
}

/* Exports schema.name to a file, proves the file, returns 0 when equal. */
static int export_and_prove(PGconn *c, const char *schema, const char *name, char *path,
                            size_t pathsz, pg_export_result *res)
{
    ts_err err;
    char fp[PG_PROOF_MAX];
    snprintf(path, pathsz, "%s/%s.%s.parquet", tmpdir, schema, name);
    int rc = export_rel(c, schema, name, path, NULL, res, &err);
    CHECK(rc == 0, "export %s.%s: %s", schema, name, err.msg);
    if (rc)
        return rc;
    rc = file_proof(c, path, schema, name, fp, &err);
    CHECK(rc == 0, "proof of %s.%s's file: %s", schema, name, err.msg);
    CHECK_EQ_S(fp, res->proof);
    printf("  %s.%s: %" PRId64 " rows, file proof = export proof %s\n", schema, name, res->rows,
           rc == 0 && strcmp(fp, res->proof) == 0 ? "yes" : "NO");
    return rc == 0 && strcmp(fp, res->proof) == 0 ? 0 : -1;
}

/* ---- Spark ---- */

/* The (physical, annotation) pairs Spark's ParquetToSparkSchemaConverter accepts
 * (apache/spark sql/core/src/main/scala/org/apache/spark/sql/execution/datasources/
 * parquet/ParquetSchemaConverter.scala, convertPrimitiveField), each with the Delta type
 * it becomes. Any other pair reaches illegalType() or typeNotImplemented(): notably
 * FIXED_LEN_BYTE_ARRAY annotated UUID (apache/spark#55684), which tsarchive therefore
 * never writes. The legacy ConvertedType must be the one given (-1: absent), so readers
 * that know only ConvertedType agree: a TIMESTAMP that is not UTC-adjusted has none. */
typedef struct spark_pair {
    int physical;
    int logical_kind;  /* LogicalType union member: 0 none, 1 STRING, 4 ENUM, 5 DECIMAL, 6
                          DATE, 8 TIMESTAMP, 10 INTEGER, 12 JSON */
    int converted;     /* ConvertedType, -1 absent */
    int bits;          /* INTEGER bit width (signed), 0 n/a */
    int utc;           /* TIMESTAMP isAdjustedToUTC, -1 n/a */
    int max_precision; /* DECIMAL: the most digits Spark takes on this physical type */
    const char *delta; /* NULL: "decimal(p,s)" */
} spark_pair;

static const spark_pair spark_pairs[] = {
    /* case BOOLEAN => BooleanType; FLOAT => FloatType; DOUBLE => DoubleType */
    {PQ_BOOLEAN, 0, -1, 0, -1, 0, "boolean"},
    {PQ_FLOAT, 0, -1, 0, -1, 0, "float"},
    {PQ_DOUBLE, 0, -1, 0, -1, 0, "double"},
    /* INT32: IntLogicalTypeAnnotation signed 16 => ShortType, 32 => IntegerType;
     * DateLogicalTypeAnnotation => DateType */
    {PQ_INT32, 10, 16, 16, -1, 0, "short"},
    {PQ_INT32, 10, 17, 32, -1, 0, "integer"},
    {PQ_INT32, 6, 6, 0, -1, 0, "date"},
    /* INT32 DecimalLogicalTypeAnnotation => makeDecimalType(Decimal.MAX_INT_DIGITS) */
    {PQ_INT32, 5, 5, 0, -1, 9, NULL},
    /* INT64: signed 64 => LongType; Decimal => makeDecimalType(MAX_LONG_DIGITS);
     * TimestampLogicalTypeAnnotation MICROS: isAdjustedToUTC => TimestampType, else
     * (inferTimestampNTZ, the default since Spark 3.4) TimestampNTZType */
    {PQ_INT64, 10, 18, 64, -1, 0, "long"},
    {PQ_INT64, 5, 5, 0, -1, 18, NULL},
    {PQ_INT64, 8, 10, 0, 1, 0, "timestamp"},
    {PQ_INT64, 8, -1, 0, 0, 0, "timestamp_ntz"},
    /* BINARY: String / Enum / Json annotation => StringType; none => BinaryType
     * (spark.sql.parquet.binaryAsString off) */
    {PQ_BYTE_ARRAY, 1, 0, 0, -1, 0, "string"},
    {PQ_BYTE_ARRAY, 4, 4, 0, -1, 0, "string"},
    {PQ_BYTE_ARRAY, 12, 19, 0, -1, 0, "string"},
    {PQ_BYTE_ARRAY, 0, -1, 0, -1, 0, "binary"},
    /* FIXED_LEN_BYTE_ARRAY Decimal => makeDecimalType(Decimal.maxPrecisionForBytes(n)) */
    {PQ_FIXED_LEN_BYTE_ARRAY, 5, 5, 0, -1, -1, NULL},
};

/* Spark's Decimal.maxPrecisionForBytes: floor(log10(2^(8n-1) - 1)). */
static int max_precision_for_bytes(int n)
{
    long double v = 1;
    int d = 0;
    for (int i = 0; i < 8 * n - 1; i++)
        v *= 2;
    v -= 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

/* The Delta type of leaf node n per the table, into out; 0, or -1 with why. */
static int spark_leaf(const pq_schema_node *n, char *out, size_t outsz, char *why, size_t whysz)
{
    for (size_t i = 0; i < sizeof spark_pairs / sizeof *spark_pairs; i++) {
        const spark_pair *p = &spark_pairs[i];
        if (p->physical != n->physical || p->logical_kind != n->logical_kind)
            continue;
        if (p->bits && (n->bit_width != p->bits || !n->is_signed))
            continue;
        if (p->utc >= 0 && (n->ts_utc != (p->utc == 1) || n->time_unit != PQ_UNIT_MICROS))
            continue;
        if (n->converted_type != p->converted) {
            snprintf(why, whysz, "ConvertedType %d, expected %d", n->converted_type, p->converted);
            return -1;
        }
        if (p->delta) {
            snprintf(out, outsz, "%s", p->delta);
            return 0;
        }
        int maxp =
            p->max_precision > 0 ? p->max_precision : max_precision_for_bytes(n->type_length);
        if (n->lt_precision < 1 || n->lt_precision > maxp || n->lt_scale < 0 ||
            n->lt_scale > n->lt_precision || n->precision != n->lt_precision ||
            n->scale != n->lt_scale) {
            snprintf(why, whysz, "DECIMAL(%d,%d) on %s (Spark takes at most %d digits)",
                     n->lt_precision, n->lt_scale, pq_physical_name(n->physical), maxp);
            return -1;
        }
        snprintf(out, outsz, "decimal(%d,%d)", n->lt_precision, n->lt_scale);
        return 0;
    }
    snprintf(why, whysz, "%s with logical type %s is not a pair Spark accepts",
             pq_physical_name(n->physical), pq_logical_kind_name(n->logical_kind));
    return -1;
}

/* The expected Delta type of each column of the files checked (JSON as in a Delta
 * schemaString). */
static const struct {
    const char *column, *delta;
} delta_expected[] = {
    {"ts", "\"timestamp\""},
    {"id", "\"long\""},
    {"t", "\"timestamp_ntz\""},
    {"d", "\"date\""},
    {"i2", "\"short\""},
    {"i4", "\"integer\""},
    {"i8", "\"long\""},
    {"f4", "\"float\""},
    {"f8", "\"double\""},
    {"b", "\"boolean\""},
    {"tx", "\"string\""},
    {"vc", "\"string\""},
    {"ch", "\"string\""},
    {"nm", "\"string\""},
    {"en", "\"string\""},
    {"n5_2", "\"decimal(5,2)\""},
    {"n18_4", "\"decimal(18,4)\""},
    {"n38_10", "\"decimal(38,10)\""},
    {"n38_0", "\"decimal(38,0)\""},
    {"n3_m2", "\"decimal(5,0)\""},
    {"n2_5", "\"decimal(5,5)\""},
    {"n50", "\"string\""},
    {"nfree", "\"string\""},
    {"u", "\"string\""},
    {"js", "\"string\""},
    {"jb", "\"string\""},
    {"by", "\"binary\""},
    {"a_i4", "{\"type\":\"array\",\"elementType\":\"integer\",\"containsNull\":true}"},
    {"a_tx", "{\"type\":\"array\",\"elementType\":\"string\",\"containsNull\":true}"},
    {"a_ts", "{\"type\":\"array\",\"elementType\":\"timestamp\",\"containsNull\":true}"},
    {"a_n", "{\"type\":\"array\",\"elementType\":\"decimal(10,2)\",\"containsNull\":true}"},
    {"a_b", "{\"type\":\"array\",\"elementType\":\"boolean\",\"containsNull\":true}"},
    {"a_u", "{\"type\":\"array\",\"elementType\":\"string\",\"containsNull\":true}"},
    {"a_jb", "{\"type\":\"array\",\"elementType\":\"string\",\"containsNull\":true}"},
    {"a_en", "{\"type\":\"array\",\"elementType\":\"string\",\"containsNull\":true}"},
    {"iv", "\"string\""},
    {"ip", "\"string\""},
    {"tm", "\"string\""},
    {"ttz", "\"string\""},
    {"md", "\"string\""},
    {"pt", "\"string\""},
    {"mny", "\"string\""},
    {"bits", "\"string\""},
    {"rng", "\"string\""},
    /* more */
    {"tz", "\"timestamp\""},
    {"nf", "\"string\""},
    {"n12_4", "\"decimal(12,4)\""},
    {"n10_2", "\"decimal(10,2)\""},
    {"n4_m3", "\"decimal(7,0)\""},
    {"n30_8", "\"decimal(30,8)\""},
    {"a_i", "\"string\""}, /* holds a multi-dimensional value: ::text */
    {"a_t", "\"string\""},
    {"a_n", "\"string\""},
    {"a_d", "{\"type\":\"array\",\"elementType\":\"date\",\"containsNull\":true}"},
    {"a_f8", "{\"type\":\"array\",\"elementType\":\"double\",\"containsNull\":true}"},
    {"a_by", "{\"type\":\"array\",\"elementType\":\"binary\",\"containsNull\":true}"},
    {"a_ch", "{\"type\":\"array\",\"elementType\":\"string\",\"containsNull\":true}"},
    {"pi", "\"string\""},
    {"a_pi", "\"string\""},
    {"twice", "\"integer\""},
};

/* Checks every column of the file at path against Spark's rules and the Delta types
 * above (a column missing from the table is an error too). */
static void check_spark(const char *path, int more)
{
    pq_reader *r = NULL;
    ts_err err;
    const pq_reader_column *cols;
    int ncols, checked = 0;
    ts_err_clear(&err);
    CHECK(pq_reader_open_file(&r, path, NULL, &err) == 0, "open %s: %s", path, err.msg);
    if (!r)
        return;
    CHECK(pq_reader_columns(r, &cols, &ncols, &err) == 0, "columns: %s", err.msg);
    const pq_file_meta *m = pq_reader_meta(r);
    for (int i = 1; i < m->nschema; i++) {
        const pq_schema_node *f = &m->schema[i], *leaf = f;
        char delta[256], leaf_type[64], why[200];
        bool list = false;
        if (f->parent != 0)
            continue;
        /* Spark: an OPTIONAL or REQUIRED top-level field (convertInternal) */
        CHECK(f->repetition == 0 || f->repetition == 1, "column \"%s\": repetition %s", f->name,
              pq_repetition_name(f->repetition));
        if (f->num_children) {
            /* convertGroupField, ListLogicalTypeAnnotation: one repeated child; it is not
             * the element (isElementType false: a group of one field not named "array"
             * or "<name>_tuple"), so its one child is, and OPTIONAL => containsNull */
            const pq_schema_node *g = &m->schema[i + 1], *el = &m->schema[i + 2];
            char tuple[300];
            snprintf(tuple, sizeof tuple, "%s_tuple", f->name);
            CHECK(f->logical_kind == 3 && f->converted_type == 3 && f->num_children == 1,
                  "column \"%s\": a group that is not a LIST", f->name);
            CHECK(g->repetition == 2 && g->num_children == 1 && strcmp(g->name, "list") == 0 &&
                      strcmp(g->name, "array") != 0 && strcmp(g->name, tuple) != 0,
                  "column \"%s\": LIST's repeated group", f->name);
            CHECK(el->num_children == 0 && el->repetition == 1 && strcmp(el->name, "element") == 0,
                  "column \"%s\": LIST element", f->name);
            leaf = el;
            list = true;
        }
        if (spark_leaf(leaf, leaf_type, sizeof leaf_type, why, sizeof why) != 0) {
            CHECK(0, "column \"%s\": %s", f->name, why);
            continue;
        }
        if (list)
            snprintf(delta, sizeof delta,
                     "{\"type\":\"array\",\"elementType\":\"%s\",\"containsNull\":true}",
                     leaf_type);
        else
            snprintf(delta, sizeof delta, "\"%s\"", leaf_type);
        const char *want = NULL;
        for (size_t k = 0; k < sizeof delta_expected / sizeof *delta_expected; k++) {
            if (strcmp(delta_expected[k].column, f->name) != 0)
                continue;
            /* a_n is numeric(10,2)[] in alltypes, numeric[] (text) in more */
            if (strcmp(f->name, "a_n") == 0 &&
                (more != (strcmp(delta_expected[k].delta, "\"string\"") == 0)))
                continue;
            want = delta_expected[k].delta;
        }
        CHECK(want != NULL, "column \"%s\": no expected Delta type", f->name);
        if (want)
            CHECK(strcmp(delta, want) == 0, "column \"%s\": Delta type %s, expected %s", f->name,
                  delta, want);
        /* the library's answer (for the Delta log) is the same */
        for (int k = 0; k < ncols; k++) {
            if (strcmp(cols[k].spec.name, f->name) != 0)
                continue;
            ts_buf b;
            ts_buf_init(&b, 0);
            ts_err_clear(&err);
            CHECK(pq_spark_type_json(&cols[k].spec, &b, &err) == 0, "pq_spark_type_json: %s",
                  err.msg);
            CHECK(strcmp(ts_buf_cstr(&b), delta) == 0, "column \"%s\": pq_spark_type_json %s, %s",
                  f->name, ts_buf_cstr(&b), delta);
            ts_buf_free(&b);
        }
        checked++;
    }
    printf("  %s: %d columns, each a pair Spark accepts with the expected Delta type\n",
           strrchr(path, '/') + 1, checked);
    pq_reader_free(r);
}

/* The library refuses what Spark refuses. */
static void check_spark_refusals(void)
{
    pq_column_spec s;
    ts_buf b;
    ts_err err;
    ts_buf_init(&b, 0);
    pq_column_spec_init(&s, "u", PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_UUID);
    s.type_length = 16;
    ts_err_clear(&err);
    CHECK(pq_spark_type_json(&s, &b, &err) == TS_ERR_UNSUPPORTED, "FLBA UUID accepted");
    pq_column_spec_init(&s, "d", PQ_INT32, PQ_LT_DECIMAL);
    s.precision = 10;
    ts_err_clear(&err);
    CHECK(pq_spark_type_json(&s, &b, &err) == TS_ERR_UNSUPPORTED, "DECIMAL(10) on INT32");
    pq_column_spec_init(&s, "d", PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_DECIMAL);
    s.type_length = 9;
    s.precision = 22;
    ts_err_clear(&err);
    CHECK(pq_spark_type_json(&s, &b, &err) == TS_ERR_UNSUPPORTED, "DECIMAL(22) on FLBA(9)");
    s.precision = 21;
    ts_err_clear(&err);
    CHECK(pq_spark_type_json(&s, &b, &err) == 0 &&
              strcmp(ts_buf_cstr(&b), "\"decimal(21,0)\"") == 0,
          "DECIMAL(21) on FLBA(9): %s", ts_buf_cstr(&b));
    ts_buf_free(&b);
    for (int n = 1; n <= 16; n++) {
        pq_column_spec_init(&s, "d", PQ_FIXED_LEN_BYTE_ARRAY, PQ_LT_DECIMAL);
        s.type_length = n;
        s.precision = max_precision_for_bytes(n);
        ts_buf_init(&b, 0);
        CHECK(pq_spark_type_json(&s, &b, &err) == 0, "FLBA(%d) at its precision", n);
        s.precision++;
        CHECK(s.precision > 38 || pq_spark_type_json(&s, &b, &err) != 0, "FLBA(%d) past it", n);
        ts_buf_free(&b);
    }
}

/* ---- corruption ---- */

/* Flips every value byte of every data page of an uncompressed PLAIN file in turn
 * (all columns NOT NULL: a page is only values): each copy must prove differently or
 * fail to decode, never prove the same rows. */
static void check_flips(PGconn *c, const char *schema)
{
    char path[512], fp[PG_PROOF_MAX];
    pg_export_result res;
    pg_export_options o;
    ts_err err;
    size_t len = 0;
    int errors = 0, different = 0, same = 0;
    /* no boolean: PLAIN booleans are bits, and the last byte's spare bits hold nothing */
    sql(c,
        "CREATE TABLE %s.flips (ts timestamptz NOT NULL, i8 bigint NOT NULL, f8 float8 NOT"
        " NULL, tx text NOT NULL, u uuid NOT NULL, n numeric(12,2) NOT NULL, d date NOT NULL)",
        schema);
    sql(c,
        "INSERT INTO %s.flips SELECT '2024-01-01'::timestamptz + i * interval '1 min', i *"
        " 1000003, i / 7.0, 'row ' || i, md5(i::text)::uuid, i * 1.25, '2024-01-01'::date + i"
        " FROM generate_series(1, 10) i",
        schema);
    pg_export_options_init(&o, NULL);
    o.writer.codec = PQ_CODEC_UNCOMPRESSED;
    o.writer.dictionary = false;
    snprintf(path, sizeof path, "%s/flips.parquet", tmpdir);
    CHECK(export_rel(c, schema, "flips", path, &o, &res, &err) == 0, "export: %s", err.msg);
    uint8_t *file = (uint8_t *)read_whole(path, &len);
    uint8_t *copy = malloc(len ? len : 1);
    pq_reader *r = NULL;
    CHECK(file && copy, "read %s", path);
    if (!file || !copy)
        goto out;
    ts_err_clear(&err);
    CHECK(pq_reader_open_memory(&r, file, len, NULL, &err) == 0, "open: %s", err.msg);
    if (!r)
        goto out;
    const pq_file_meta *m = pq_reader_meta(r);
    for (int g = 0; g < m->nrow_groups; g++) {
        for (int k = 0; k < m->row_groups[g].ncolumns; k++) {
            const pq_chunk_meta *cm = &m->row_groups[g].columns[k];
            uint64_t pos = (uint64_t)cm->data_page_offset;
            uint64_t end = pos + (uint64_t)cm->total_compressed_size;
            while (pos < end) {
                pq_page_header h;
                ts_err_clear(&err);
                if (pq_tdec_page_header(file + pos, (size_t)(end - pos), pos, &h, &err) != 0) {
                    CHECK(0, "page header: %s", err.msg);
                    break;
                }
                uint64_t data = pos + h.header_len;
                CHECK(h.type == PQ_PAGE_DATA && h.encoding == PQ_ENC_PLAIN, "page type %d enc %d",
                      h.type, h.encoding);
                for (uint64_t b = data; b < data + (uint64_t)h.compressed_size; b++) {
                    for (int f = 0; f < 2; f++) {
                        pq_reader *cr = NULL;
                        memcpy(copy, file, len);
                        copy[b] ^= f ? 0x80 : 0x01;
                        ts_err_clear(&err);
                        int rc = pq_reader_open_memory(&cr, copy, len, NULL, &err);
                        if (!rc)
                            rc = pg_proof_of_file(c, cr, schema, "flips", fp, &err);
                        pq_reader_free(cr);
                        if (rc)
                            errors++;
                        else if (strcmp(fp, res.proof) != 0)
                            different++;
                        else {
                            same++;
                            CHECK(0, "flipping byte %" PRIu64 " (column %s) kept the proof", b,
                                  cm->path);
                        }
                    }
                }
                pos = data + (uint64_t)h.compressed_size;
            }
        }
    }
    CHECK(different > 0 && same == 0, "flips: %d different, %d errors, %d same", different, errors,
          same);
    printf("  flips.parquet: %d single-bit flips of value bytes: %d other proofs, %d decode "
           "errors, %d same proofs\n",
           different + errors + same, different, errors, same);
    /* unflipped, it proves the rows */
    ts_err_clear(&err);
    CHECK(file_proof(c, path, schema, "flips", fp, &err) == 0 && strcmp(fp, res.proof) == 0,
          "unflipped: %s", err.msg);
out:
    pq_reader_free(r);
    free(file);
    free(copy);
}

/* ---- columns changed after the export ---- */

static void check_columns_changed(PGconn *c, const char *schema)
{
    char path[512], fp[PG_PROOF_MAX];
    pg_export_result res;
    ts_err err;
    sql(c, "CREATE TABLE %s.chg (ts timestamptz NOT NULL, v int, w text)", schema);
    sql(c,
        "INSERT INTO %s.chg SELECT '2024-01-01'::timestamptz + i * interval '1 h', i, 'w' || i"
        " FROM generate_series(1, 50) i",
        schema);
    if (export_and_prove(c, schema, "chg", path, sizeof path, &res) != 0)
        return;
    /* a column added: the file still proves what was exported; the chunk has changed */
    sql(c, "ALTER TABLE %s.chg ADD COLUMN x int", schema);
    CHECK(file_proof(c, path, schema, "chg", fp, &err) == 0 && strcmp(fp, res.proof) == 0,
          "after ADD COLUMN: %s", err.msg);
    ts_err_clear(&err);
    sql(c, "BEGIN");
    CHECK(pg_chunk_unchanged(c, schema, "chg", res.proof, &err) == TS_ERR_CONFLICT,
          "added column not reported: %s", err.msg);
    sql(c, "ROLLBACK");
    /* a column dropped: the file's column is not in the chunk */
    sql(c, "ALTER TABLE %s.chg DROP COLUMN w", schema);
    CHECK(file_proof(c, path, schema, "chg", fp, &err) == TS_ERR_CONFLICT, "dropped column: %s",
          fp);
    printf("  dropped column: %s\n", err.msg);
    /* its type changed */
    sql(c, "ALTER TABLE %s.chg DROP COLUMN x, ADD COLUMN w varchar", schema);
    CHECK(file_proof(c, path, schema, "chg", fp, &err) == TS_ERR_CONFLICT, "changed type: %s", fp);
    printf("  changed type: %s\n", err.msg);
}

/* ---- restore: generated and identity columns ---- */

static void check_generated_identity(PGconn *c, const char *s)
{
    char path[512], path2[512];
    pg_export_result res;
    pg_restore_result rr;
    ts_err err;
    /* gen: COPY path; gen_staged: an interval column sends the rows through the temporary
     * table and INSERT ... SELECT */
    const char *variants[2] = {"gen", "gen_staged"};
    for (int v = 0; v < 2; v++) {
        const char *t = variants[v];
        sql(c,
            "CREATE TABLE %s.%s (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz NOT NULL,"
            " a int, twice int GENERATED ALWAYS AS (a * 2) STORED, note text,"
            " byd int GENERATED BY DEFAULT AS IDENTITY (START WITH 500)%s)",
            s, t, v ? ", iv interval" : "");
        sql(c,
            "INSERT INTO %s.%s (ts, a, note) SELECT '2024-01-01'::timestamptz + i * interval"
            " '1 h', i, 'n' || i FROM generate_series(1, 20) i",
            s, t);
        /* identity values the sequence would not give again */
        sql(c,
            "INSERT INTO %s.%s (id, ts, a, byd) OVERRIDING SYSTEM VALUE VALUES (1000000,"
            " '2024-01-02', NULL, -7), (-5, '2024-01-03', 3, 2147483647)",
            s, t);
        if (v)
            sql(c, "UPDATE %s.%s SET iv = a * interval '1 day 2 h'", s, t);
        sql(c, "CREATE TABLE %s.%s_snapshot AS SELECT * FROM %s.%s", s, t, s, t);
        if (export_and_prove(c, s, t, path, sizeof path, &res) != 0)
            continue;
        sql(c, "TRUNCATE %s.%s", s, t);
        pg_restore_options ro = {.into_schema = s, .into_table = t};
        ts_err_clear(&err);
        int rc = pg_restore_file(c, path, &ro, &rr, &err);
        CHECK(rc == 0 && rr.rows == 22, "restore into %s (generated, identity): %s", t, err.msg);
        char q[1024];
        snprintf(q, sizeof q,
                 "SELECT count(*) FROM ((TABLE %s.%s EXCEPT ALL TABLE %s.%s_snapshot) UNION ALL"
                 " (TABLE %s.%s_snapshot EXCEPT ALL TABLE %s.%s)) x",
                 s, t, s, t, s, t, s, t);
        CHECK_EQ_I(sql_int(c, q), 0);
        snprintf(q, sizeof q, "SELECT count(*) FROM %s.%s WHERE id IN (1000000, -5)", s, t);
        CHECK_EQ_I(sql_int(c, q), 2);
        printf("  restore into %s: %" PRId64 " rows, identity values kept, generated recomputed\n",
               t, rr.rows);
    }
    /* the server's expression wins over the file's values: restore into a table whose
     * generated column computes something else */
    sql(c,
        "CREATE TABLE %s.gen_other (id bigint GENERATED ALWAYS AS IDENTITY, ts timestamptz"
        " NOT NULL, a int, twice int GENERATED ALWAYS AS (a * 3) STORED, note text,"
        " byd int GENERATED BY DEFAULT AS IDENTITY)",
        s);
    snprintf(path2, sizeof path2, "%s/%s.gen.parquet", tmpdir, s);
    pg_restore_options ro = {.into_schema = s, .into_table = "gen_other"};
    ts_err_clear(&err);
    CHECK(pg_restore_file(c, path2, &ro, &rr, &err) == 0, "restore into gen_other: %s", err.msg);
    char q[512];
    snprintf(q, sizeof q, "SELECT count(*) FROM %s.gen_other WHERE twice IS DISTINCT FROM a * 3",
             s);
    CHECK_EQ_I(sql_int(c, q), 0);
    snprintf(q, sizeof q, "SELECT count(*) FROM %s.gen_other WHERE a = 4 AND twice = 12", s);
    CHECK_EQ_I(sql_int(c, q), 1);
    /* a table without the generated column cannot take the file: a column mismatch */
    sql(c, "CREATE TABLE %s.gen_plain (id bigint, ts timestamptz, a int, note text, byd int)", s);
    pg_restore_options rp = {.into_schema = s, .into_table = "gen_plain"};
    ts_err_clear(&err);
    CHECK(pg_restore_file(c, path2, &rp, &rr, &err) == TS_ERR_INVALID, "gen_plain: %s", err.msg);
}

/* ---- the modes ---- */

static void test_pg(const char *url)
{
    PGconn *c = NULL;
    ts_err err;
    char path[512];
    pg_export_result res;
    const char *s = "rb";
    printf("PostgreSQL 15 at TS_TEST_PG_URL\n");
    ts_err_clear(&err);
    if (pg_connect(url, &c, &err) != 0) {
        CHECK(0, "connect: %s", err.msg);
        return;
    }
    sql(c, "CREATE SCHEMA %s", s);
    load_alltypes(c, s);
    sql(c, MORE_SQL, s);
    sql(c, "CREATE TABLE %1$s.alltypes_snapshot AS SELECT * FROM %1$s.alltypes", s);

    /* every mapped type: the proofs of the files equal the exports' */
    pg_export_result jan;
    if (export_and_prove(c, s, "alltypes_2024_01", path, sizeof path, &jan) == 0)
        check_spark(path, 0);
    char p2[512];
    export_and_prove(c, s, "alltypes_2024_02", p2, sizeof p2, &res);
    char p3[512];
    if (export_and_prove(c, s, "more", p3, sizeof p3, &res) == 0)
        check_spark(p3, 1);
    check_spark_refusals();

    /* and restore brings back exact values (text forms tell -0 from 0, jsonb spacing...) */
    sql(c, "TRUNCATE %s.alltypes", s);
    sql(c, "TRUNCATE %s.more", s);
    pg_restore_result rr;
    pg_restore_options ro = {.into_schema = s, .into_table = "alltypes"};
    CHECK(pg_restore_file(c, path, &ro, &rr, &err) == 0, "restore jan: %s", err.msg);
    CHECK(pg_restore_file(c, p2, &ro, &rr, &err) == 0, "restore feb: %s", err.msg);
    ro.into_table = "more";
    CHECK(pg_restore_file(c, p3, &ro, &rr, &err) == 0, "restore more: %s", err.msg);
    char q[1024];
    const char *pairs[2][2] = {{"alltypes", "alltypes_snapshot"}, {"more", "more_snapshot"}};
    for (int i = 0; i < 2; i++) {
        snprintf(q, sizeof q,
                 "SELECT count(*) FROM (((SELECT t::text FROM %1$s.%2$s t) EXCEPT ALL (SELECT"
                 " t::text FROM %1$s.%3$s t)) UNION ALL ((SELECT t::text FROM %1$s.%3$s t) EXCEPT"
                 " ALL (SELECT t::text FROM %1$s.%2$s t))) x",
                 s, pairs[i][0], pairs[i][1]);
        CHECK_EQ_I(sql_int(c, q), 0);
    }
    /* the restored chunk proves the same as the archive: exact bytes, not just equal
     * values (not so for "more": PostgreSQL rebuilds arrays without a NULL bitmap) */
    sql(c, "BEGIN");
    CHECK(pg_chunk_unchanged(c, s, "alltypes_2024_01", jan.proof, &err) == 0, "restored jan: %s",
          err.msg);
    sql(c, "ROLLBACK");
    /* the file says which arrays kept a NULL bitmap, in runs of rows */
    {
        pq_reader *r = NULL;
        CHECK(pq_reader_open_file(&r, p3, NULL, &err) == 0, "%s", err.msg);
        const char *bm = r ? pq_reader_kv(r, PG_KV_NULL_BITMAPS) : NULL;
        CHECK(bm && strstr(bm, "\"a_f8\":[[") && strstr(bm, "\"a_by\":[[") && strstr(bm, ",4]]"),
              "%s = %s", PG_KV_NULL_BITMAPS, bm ? bm : "(none)");
        printf("  %s: %s\n", PG_KV_NULL_BITMAPS, bm ? bm : "(none)");
        pq_reader_free(r);
    }

    check_columns_changed(c, s);
    check_flips(c, s);
    check_generated_identity(c, s);
    pg_disconnect(c);
    /* PQ_WRITE_SEEDS=DIR: the exported files seed tests/fuzz/corpus/rowimage */
    const char *seeds = getenv("PQ_WRITE_SEEDS");
    if (seeds) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd,
                 "cp '%s/rb.alltypes_2024_01.parquet' '%s/rb.alltypes_2024_02.parquet'"
                 " '%s/rb.more.parquet' '%s/flips.parquet' '%s/rb.gen_staged.parquet' '%s/'",
                 tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, seeds);
        CHECK(system(cmd) == 0, "%s", cmd);
    }
}

static void test_tsdb(const char *url)
{
    PGconn *c = NULL;
    ts_err err;
    char s[64], path[512], q[1024];
    pg_export_result res;
    printf("PGlite+TimescaleDB at TS_TEST_TSDB_URL\n");
    snprintf(s, sizeof s, "rb_tsdb_%d", (int)getpid());
    ts_err_clear(&err);
    if (pg_connect(url, &c, &err) != 0) {
        CHECK(0, "connect: %s", err.msg);
        return;
    }
    sql(c, "SET client_min_messages = warning");
    sql(c, "CREATE SCHEMA %s", s);
    load_alltypes(c, s);
    sql(c, MORE_SQL, s);
    /* the partitions, exported on PGlite */
    export_and_prove(c, s, "alltypes_2024_01", path, sizeof path, &res);
    export_and_prove(c, s, "alltypes_2024_02", path, sizeof path, &res);
    export_and_prove(c, s, "more", path, sizeof path, &res);
    /* every type in a hypertable, one chunk compressed */
    sql(c, "CREATE TABLE %1$s.ht (LIKE %1$s.alltypes)", s);
    sql(c, "SELECT create_hypertable('%s.ht', 'ts', chunk_time_interval => interval '7 days')", s);
    sql(c, "INSERT INTO %1$s.ht SELECT * FROM %1$s.alltypes", s);
    sql(c, "ALTER TABLE %s.ht SET (timescaledb.compress)", s);
    snprintf(q, sizeof q,
             "SELECT count(compress_chunk(ch)) FROM (SELECT ch FROM show_chunks('%s.ht') ch"
             " ORDER BY 1 LIMIT 1) x",
             s);
    CHECK_EQ_I(sql_int(c, q), 1);
    snprintf(q, sizeof q,
             "SELECT chunk_schema || '.' || chunk_name || ' ' || is_compressed FROM"
             " timescaledb_information.chunks WHERE hypertable_schema = '%s' AND hypertable_name"
             " = 'ht' ORDER BY range_start",
             s);
    PGresult *r = PQexec(c, q);
    int n = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : 0, compressed = 0;
    CHECK(n >= 3, "hypertable chunks: %d", n);
    for (int i = 0; i < n; i++) {
        char sch[128], name[128], comp[8];
        if (sscanf(PQgetvalue(r, i, 0), "%127[^.].%127s %7s", sch, name, comp) != 3)
            continue;
        compressed += comp[0] == 't';
        export_and_prove(c, sch, name, path, sizeof path, &res);
    }
    CHECK_EQ_I(compressed, 1);
    PQclear(r);
    sql(c, "DROP SCHEMA %s CASCADE", s);
    printf("  restore not tested here: see tests/tsdb (INSERTs; COPY FROM STDIN breaks PGlite)\n");
    pg_disconnect(c);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The read-back proof against the export of the same table (narrow: timestamptz, int,
 * double, text), interleaved, RUNS times (default 5): medians of the wall times, of
 * their ratio, and of this process's CPU (the export's server side not counted). */
static void bench(const char *url, long rows)
{
    PGconn *c = NULL;
    ts_err err;
    char path[512], fp[PG_PROOF_MAX];
    pg_export_result res;
    enum { MAXRUNS = 31 };
    double we[MAXRUNS], wp[MAXRUNS], wv[MAXRUNS], ce[MAXRUNS], cp[MAXRUNS], ratio[MAXRUNS];
    int runs = getenv("RUNS") ? atoi(getenv("RUNS")) : 5, k;
    if (runs < 1 || runs > MAXRUNS)
        runs = 5;
    ts_err_clear(&err);
    if (pg_connect(url, &c, &err) != 0) {
        fprintf(stderr, "connect: %s\n", err.msg);
        failures++;
        return;
    }
    sql(c, "CREATE TABLE bench (ts timestamptz NOT NULL, i int, v double precision, t text)");
    sql(c,
        "INSERT INTO bench SELECT '2024-01-01'::timestamptz + g * interval '1 s', g %% 1000,"
        " random() * 100, 'device-' || (g %% 5000) FROM generate_series(1, %ld) g",
        rows);
    sql(c, "VACUUM ANALYZE bench");
    snprintf(path, sizeof path, "%s/bench.parquet", tmpdir);
    for (k = 0; k < runs; k++) {
        double t0 = now_s(), c0 = cpu_s();
        if (export_rel(c, "public", "bench", path, NULL, &res, &err) != 0) {
            fprintf(stderr, "export: %s\n", err.msg);
            failures++;
            break;
        }
        double t1 = now_s(), c1 = cpu_s();
        if (file_proof(c, path, "public", "bench", fp, &err) != 0 || strcmp(fp, res.proof) != 0) {
            fprintf(stderr, "proof: %s\n", err.msg);
            failures++;
            break;
        }
        double t2 = now_s(), c2 = cpu_s();
        pq_reader *r = NULL;
        int64_t n = 0;
        if (pq_reader_open_file(&r, path, NULL, &err) != 0 || pq_reader_verify(r, &n, &err) != 0)
            fprintf(stderr, "verify: %s\n", err.msg);
        pq_reader_free(r);
        double t3 = now_s();
        we[k] = t1 - t0, wp[k] = t2 - t1, wv[k] = t3 - t2;
        ce[k] = c1 - c0, cp[k] = c2 - c1;
        ratio[k] = wp[k] / we[k];
        printf("  run %d: export %.3f s (cpu %.3f), read-back %.3f s (cpu %.3f), %.2f x\n", k + 1,
               we[k], ce[k], wp[k], cp[k], ratio[k]);
    }
    if (k == runs) {
        double lo = 0;
        FILE *f = fopen("/proc/loadavg", "r");
        if (!f || fscanf(f, "%lf", &lo) != 1)
            lo = -1;
        if (f)
            fclose(f);
        printf("bench: %ld rows (timestamptz, int, double, text), %" PRId64
               " bytes of Parquet, medians of %d runs, load average %.2f\n"
               "  export (COPY binary -> Parquet + proof):   %.3f s (client cpu %.3f s)\n"
               "  read-back proof (decode + row images):    %.3f s (cpu %.3f s)\n"
               "  read-back / export (median of ratios):    %.2f x\n"
               "  the reader alone (verify):                %.3f s\n",
               rows, res.bytes, runs, lo, median(we, runs), median(ce, runs), median(wp, runs),
               median(cp, runs), median(ratio, runs), median(wv, runs));
    }
    pg_disconnect(c);
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "pg";
    int tsdb = strcmp(which, "tsdb") == 0;
    const char *var = tsdb ? "TS_TEST_TSDB_URL" : "TS_TEST_PG_URL";
    const char *url = getenv(var);
    if (!url || !*url) {
        printf("skipped: %s is not set (run scripts/services start)\n", var);
        return 77;
    }
    ts_log_setup(TS_LOG_WARN, 0, NULL);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tsarchive-it-readback-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    if (tsdb) {
        test_tsdb(url);
    } else {
        char db[64], own[2048];
        if (own_database(url, "tsarchive_it_readback", db, sizeof db, own, sizeof own) != 0)
            return 1;
        if (strcmp(which, "bench") == 0)
            bench(own, argc > 2 ? atol(argv[2]) : 1000000);
        else
            test_pg(own);
        drop_own_database(url, db);
    }
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (failures == 0 && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    printf("%s: %d failure(s)%s%s\n", which, failures, failures ? ", files kept in " : "",
           failures ? tmpdir : "");
    return failures ? 1 : 0;
}
