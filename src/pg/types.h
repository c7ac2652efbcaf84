/* types.h: the PostgreSQL -> Parquet type map (DESIGN.md, docs/types.md): which
 * columns are read natively in binary and which as ::text, their Parquet specs, and
 * the conversion of one binary value into the writer. Internal to src/pg/. */
#ifndef TS_PG_TYPES_H
#define TS_PG_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "common/buf.h"
#include "common/err.h"
#include "copybin.h"
#include "parquet/writer.h"

/* Built-in type OIDs (stable across versions, pg_type.dat). */
enum {
    PG_OID_BOOL = 16,
    PG_OID_BYTEA = 17,
    PG_OID_CHAR = 18,
    PG_OID_NAME = 19,
    PG_OID_INT8 = 20,
    PG_OID_INT2 = 21,
    PG_OID_INT4 = 23,
    PG_OID_TEXT = 25,
    PG_OID_JSON = 114,
    PG_OID_FLOAT4 = 700,
    PG_OID_FLOAT8 = 701,
    PG_OID_BPCHAR = 1042,
    PG_OID_VARCHAR = 1043,
    PG_OID_DATE = 1082,
    PG_OID_TIMESTAMP = 1114,
    PG_OID_TIMESTAMPTZ = 1184,
    PG_OID_NUMERIC = 1700,
    PG_OID_UUID = 2950,
    PG_OID_JSONB = 3802,
    PG_OID_TEXTARRAY = 1009,
};

/* Microseconds / days between 1970-01-01 and PostgreSQL's epoch 2000-01-01. */
#define PG_EPOCH_US INT64_C(946684800000000)
#define PG_EPOCH_DAYS 10957
/* How +-infinity is stored in Parquet: DuckDB's own infinity values, far outside
 * PostgreSQL's range, so they cannot collide with a real value. */
#define PQ_TS_INF INT64_MAX
#define PQ_TS_NINF (-INT64_MAX)
#define PQ_DATE_INF INT32_MAX
#define PQ_DATE_NINF (-INT32_MAX)

typedef enum {
    PG_K_BOOL,
    PG_K_INT2,
    PG_K_INT4,
    PG_K_INT8,
    PG_K_FLOAT4,
    PG_K_FLOAT8,
    PG_K_TIMESTAMP,
    PG_K_TIMESTAMPTZ,
    PG_K_DATE,
    PG_K_DECIMAL, /* numeric(p,s) that fits DECIMAL(38) */
    PG_K_STRING,  /* text, varchar, char(n), name, and ::text columns */
    PG_K_ENUM,
    PG_K_JSON,
    PG_K_JSONB, /* binary: version byte 1, then the text */
    PG_K_BYTEA,
    PG_K_UUID, /* written as its canonical text (STRING): Spark refuses FLBA(16) UUID */
} pg_kind;

typedef struct pg_column {
    char *name;
    char *pg_type;     /* format_type(): "numeric(12,2)", "integer[]", "public.mood" */
    uint32_t type_oid; /* the column's type */
    uint32_t elem_oid; /* for arrays: the element type */
    uint32_t send_oid; /* type of the selected expression (type_oid, or text) */
    int32_t typmod;
    bool not_null;
    bool list;                  /* one-dimensional array -> Parquet LIST */
    bool as_text;               /* selected as ::text */
    pg_kind kind;               /* of the value, or of the elements of a list */
    int precision, scale;       /* Parquet DECIMAL */
    int pg_precision, pg_scale; /* numeric typmod as declared (scale may be < 0) */
    int flba_len;               /* DECIMAL stored as FIXED_LEN_BYTE_ARRAY: width */
    char generated;             /* pg_attribute.attgenerated: 's' STORED, 0 none */
    char identity;              /* pg_attribute.attidentity: 'a' ALWAYS, 'd' BY DEFAULT, 0 */
} pg_column;

typedef struct pg_columns {
    pg_column *cols;
    int ncols;
} pg_columns;

/* Reads the columns of relation schema.rel from the catalog and maps them.
 * TS_ERR_NOTFOUND when the relation does not exist. */
int pg_columns_load(PGconn *c, const char *schema, const char *rel, pg_columns **out,
                    ts_err *err) TS_MUSTCHECK;
void pg_columns_free(pg_columns *cols);

/* Arrays: PostgreSQL does not enforce an array column's dimensions, so the catalog
 * cannot say whether a LIST can hold every value. When cols has list columns, this
 * reads rel (a quoted relation; where: "" or " WHERE ...") once and turns every list
 * column holding a multi-dimensional array, or one whose lower bound is not 1, into a
 * ::text column. Run it in the export's snapshot (and again for the proof). */
int pg_columns_probe_arrays(PGconn *c, pg_columns *cols, const char *rel, const char *where,
                            ts_err *err) TS_MUSTCHECK;

/* Turns list column m into a ::text one (as pg_columns_probe_arrays() does). */
void pg_column_to_text(pg_column *m);

/* Appends the SELECT list: "a", "b"::text, ... (identifiers quoted). */
int pg_columns_select_list(PGconn *c, const pg_columns *cols, ts_buf *out,
                           ts_err *err) TS_MUSTCHECK;

/* Fills specs[ncols] (names point into cols). */
void pg_columns_specs(const pg_columns *cols, pq_column_spec *specs);

/* The mapping's name for metadata: "timestamptz", "decimal(12,2)", "text", ... */
const char *pg_kind_name(pg_kind k);

/* Writes one binary COPY value (len -1 = NULL) of column col into w. A value the
 * Parquet type cannot hold but restore must bring back (numeric NaN in a DECIMAL
 * column; a timestamp past 294247 AD, beyond INT64 Unix microseconds) is written as
 * NULL and its exact form put into exc ("NaN", or PostgreSQL's int64 microseconds as
 * decimal text), for the caller to record in the metadata; otherwise exc[0] = 0.
 * Inside a list such values are TS_ERR_UNSUPPORTED, with the column named. A list
 * value whose array keeps a NULL bitmap without NULL elements (array_send()'s flag;
 * left by replacing an array's last NULL) is written whole and exc set to
 * PG_EXC_NULL_BITMAP, for the caller to record (the read-back proof needs the flag). */
#define PG_EXC_MAX 32
#define PG_EXC_NULL_BITMAP "null bitmap"
int pg_value_write(pq_writer *w, int col, const pg_column *m, const uint8_t *p, int32_t len,
                   char *exc, ts_err *err) TS_MUSTCHECK;

/* The same for a column of n <= PG_BATCH_ROWS rows at once, through the writer's batch
 * calls (booleans and lists still value by value): f[i * stride] is row i's field.
 * Values that need an exception entry are reported by exc_fn(ctx, i, text) in row
 * order (text as pg_value_write puts it into exc); a non-zero return stops. On
 * failure, err is filled unless the writer failed (its error is then the writer's). b
 * is scratch space, reused by every call. */
#define PG_BATCH_ROWS 1024
#define PG_BATCH_TEXT 36 /* a uuid's text, a DECIMAL's FIXED_LEN_BYTE_ARRAY */
typedef struct pg_batch {
    union {
        int32_t i32[PG_BATCH_ROWS];
        int64_t i64[PG_BATCH_ROWS];
        float f32[PG_BATCH_ROWS];
        double f64[PG_BATCH_ROWS];
    } v;
    bool valid[PG_BATCH_ROWS];
    pq_bytes bytes[PG_BATCH_ROWS];
    uint8_t text[PG_BATCH_ROWS * PG_BATCH_TEXT];
} pg_batch;
typedef int (*pg_exc_fn)(void *ctx, size_t row, const char *exc, ts_err *err);
int pg_column_write(pq_writer *w, int col, const pg_column *m, const pg_copy_field *f,
                    size_t stride, size_t n, pg_batch *b, pg_exc_fn exc_fn, void *ctx,
                    ts_err *err) TS_MUSTCHECK;

/* numeric binary -> unscaled integer at scale `scale`. Returns 0, 1 for NaN, or
 * TS_ERR_UNSUPPORTED / TS_ERR_FORMAT when it does not fit 38 digits or is malformed. */
int pg_numeric_to_i128(const uint8_t *p, int32_t len, int scale, __int128 *out,
                       ts_err *err) TS_MUSTCHECK;

/* Unscaled integer v at scale (0..38) -> numeric binary (dscale = scale) into out
 * (cap >= 8 + 2 * 12 suffices). Returns 0, or TS_ERR_TOOBIG / TS_ERR_INVALID. */
int pg_i128_to_numeric(__int128 v, int scale, uint8_t *out, size_t cap,
                       size_t *outlen) TS_MUSTCHECK;

/* Width in bytes of a FIXED_LEN_BYTE_ARRAY DECIMAL of this precision. */
int pg_decimal_flba_len(int precision);

/* uuid: the 16 bytes as PostgreSQL's canonical text (36 characters, lowercase hex with
 * hyphens, no NUL) into out, and back. Parsing accepts what uuid_in() accepts: 32 hex
 * digits in either case, a hyphen after any group of four, optional braces around;
 * returns 0, or -1 when the text is not a uuid. */
#define PG_UUID_TEXT_LEN 36
void pg_uuid_format(const uint8_t in[16], char out[PG_UUID_TEXT_LEN]);
int pg_uuid_parse(const char *s, size_t len, uint8_t out[16]);

#endif
