/* types.c: the PostgreSQL -> Parquet type map and binary value conversion. The
 * decisions (infinity, NaN, wide numerics, arrays) are in docs/types.md. */
#include "types.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "conn.h"
#include "copybin.h"

static const char *kind_names[] = {
    "boolean", "int16",   "int32",  "int64", "float", "double", "timestamp", "timestamptz",
    "date",    "decimal", "string", "enum",  "json",  "jsonb",  "bytea",     "uuid",
};

const char *pg_kind_name(pg_kind k)
{
    return (unsigned)k < sizeof kind_names / sizeof *kind_names ? kind_names[k] : "?";
}

/* The kind of a scalar type, or -1 when it is read as text. */
static int scalar_kind(uint32_t oid, char typtype)
{
    if (typtype == 'e')
        return PG_K_ENUM;
    switch (oid) {
    case PG_OID_BOOL:
        return PG_K_BOOL;
    case PG_OID_INT2:
        return PG_K_INT2;
    case PG_OID_INT4:
        return PG_K_INT4;
    case PG_OID_INT8:
        return PG_K_INT8;
    case PG_OID_FLOAT4:
        return PG_K_FLOAT4;
    case PG_OID_FLOAT8:
        return PG_K_FLOAT8;
    case PG_OID_TIMESTAMP:
        return PG_K_TIMESTAMP;
    case PG_OID_TIMESTAMPTZ:
        return PG_K_TIMESTAMPTZ;
    case PG_OID_DATE:
        return PG_K_DATE;
    case PG_OID_NUMERIC:
        return PG_K_DECIMAL; /* if the typmod fits; checked by the caller */
    case PG_OID_TEXT:
    case PG_OID_VARCHAR:
    case PG_OID_BPCHAR:
    case PG_OID_NAME:
        return PG_K_STRING;
    case PG_OID_JSON:
        return PG_K_JSON;
    case PG_OID_JSONB:
        return PG_K_JSONB;
    case PG_OID_BYTEA:
        return PG_K_BYTEA;
    case PG_OID_UUID:
        return PG_K_UUID;
    default:
        return -1;
    }
}

/* numeric(p,s) -> Parquet DECIMAL(P,S); false when it does not fit 38 digits. */
static bool numeric_decimal(int32_t typmod, pg_column *m)
{
    int p, s, P, S;
    if (typmod < 4)
        return false;
    p = ((typmod - 4) >> 16) & 0xffff;
    s = ((((typmod - 4) & 0x7ff) ^ 1024) - 1024); /* PostgreSQL 15: scale may be negative */
    if (s < 0) {
        P = p - s;
        S = 0;
    } else if (s > p) {
        P = s;
        S = s;
    } else {
        P = p;
        S = s;
    }
    m->pg_precision = p;
    m->pg_scale = s;
    if (P < 1 || P > 38)
        return false;
    m->precision = P;
    m->scale = S;
    m->flba_len = P > 18 ? pg_decimal_flba_len(P) : 0;
    return true;
}

void pg_columns_free(pg_columns *cols)
{
    if (!cols)
        return;
    for (int i = 0; i < cols->ncols; i++) {
        ts_free(cols->cols[i].name);
        ts_free(cols->cols[i].pg_type);
    }
    ts_free(cols->cols);
    ts_free(cols);
}

int pg_columns_load(PGconn *c, const char *schema, const char *rel, pg_columns **out, ts_err *err)
{
    static const char *sql =
        "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.atttypid,"
        " a.atttypmod, a.attnotnull,"
        /* the dimensions as declared: a partition or a chunk has attndims 0 (PostgreSQL
         * copies the type but not its [][]), so the most any ancestor declares */
        " (WITH RECURSIVE up(oid) AS (SELECT r.oid UNION SELECT i.inhparent"
        "   FROM pg_catalog.pg_inherits i JOIN up ON i.inhrelid = up.oid)"
        "  SELECT coalesce(max(pa.attndims), 0) FROM up JOIN pg_catalog.pg_attribute pa"
        "   ON pa.attrelid = up.oid AND pa.attname = a.attname AND NOT pa.attisdropped),"
        " t.typtype, t.typelem,"
        " coalesce(et.typtype, ''), (t.typlen = -1 AND t.typelem <> 0 AND t.typcategory = 'A'),"
        " a.attgenerated, a.attidentity"
        " FROM pg_catalog.pg_class r"
        " JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace"
        " JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid"
        " JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
        " LEFT JOIN pg_catalog.pg_type et ON et.oid = t.typelem"
        " WHERE n.nspname = $1 AND r.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped"
        " ORDER BY a.attnum";
    const char *params[2] = {schema, rel};
    PGresult *r = NULL;
    pg_columns *cols = NULL;
    int rc = TS_OK, n;
    *out = NULL;
    r = pg_query(c, sql, 2, params, err);
    if (!r)
        return err->code ? err->code : TS_ERR_REMOTE;
    n = PQntuples(r);
    if (n == 0) {
        rc = ts_err_set(err, TS_ERR_NOTFOUND,
                        "relation \"%s\".\"%s\" does not exist (or has no columns)", schema, rel);
        goto out;
    }
    cols = ts_calloc(1, sizeof *cols);
    if (!cols || !(cols->cols = ts_calloc((size_t)n, sizeof *cols->cols))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < n; i++) {
        pg_column *m = &cols->cols[i];
        cols->ncols = i + 1;
        m->name = ts_strdup(PQgetvalue(r, i, 0));
        m->pg_type = ts_strdup(PQgetvalue(r, i, 1));
        if (!m->name || !m->pg_type) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        m->type_oid = (uint32_t)strtoul(PQgetvalue(r, i, 2), NULL, 10);
        m->typmod = (int32_t)strtol(PQgetvalue(r, i, 3), NULL, 10);
        m->not_null = PQgetvalue(r, i, 4)[0] == 't';
        int ndims = atoi(PQgetvalue(r, i, 5));
        char typtype = PQgetvalue(r, i, 6)[0];
        uint32_t elem = (uint32_t)strtoul(PQgetvalue(r, i, 7), NULL, 10);
        char etyptype = PQgetvalue(r, i, 8)[0];
        bool is_array = PQgetvalue(r, i, 9)[0] == 't';
        m->generated = PQgetvalue(r, i, 10)[0];
        m->identity = PQgetvalue(r, i, 11)[0];
        int k;
        m->send_oid = m->type_oid;
        if (is_array) {
            m->elem_oid = elem;
            /* PostgreSQL does not enforce dimensions: pg_columns_probe_arrays() decides
             * per chunk; a column declared with more than one ([][]) is text in every
             * chunk, so all of a table's files agree */
            k = ndims > 1 ? -1 : scalar_kind(elem, etyptype);
            m->list = k >= 0;
        } else {
            k = scalar_kind(m->type_oid, typtype);
        }
        if (k == PG_K_DECIMAL && !numeric_decimal(m->typmod, m))
            k = -1;
        if (k < 0) {
            m->as_text = true;
            m->list = false;
            m->send_oid = PG_OID_TEXT;
            m->kind = PG_K_STRING;
        } else {
            m->kind = (pg_kind)k;
        }
    }
out:
    PQclear(r);
    if (rc) {
        pg_columns_free(cols);
        return rc;
    }
    *out = cols;
    return TS_OK;
}

int pg_columns_probe_arrays(PGconn *c, pg_columns *cols, const char *rel, const char *where,
                            ts_err *err)
{
    ts_buf sql;
    PGresult *r = NULL;
    int rc = TS_OK, n = 0;
    ts_buf_init(&sql, 0);
    for (int i = 0; i < cols->ncols; i++) {
        if (!cols->cols[i].list)
            continue;
        char *q = pg_quote_ident(c, cols->cols[i].name, err);
        if (!q) {
            rc = err->code;
            goto out;
        }
        rc = ts_buf_printf(
            &sql, "%scoalesce(bool_or(array_ndims(%s) > 1 OR array_lower(%s, 1) <> 1), false)",
            n++ ? ", " : "SELECT ", q, q);
        ts_free(q);
        if (rc) {
            rc = ts_err_set(err, rc, "out of memory");
            goto out;
        }
    }
    if (n == 0)
        goto out;
    if (ts_buf_printf(&sql, " FROM %s%s", rel, where ? where : "")) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    r = pg_query(c, ts_buf_cstr(&sql), 0, NULL, err);
    if (!r) {
        rc = err->code;
        goto out;
    }
    for (int i = 0, k = 0; i < cols->ncols; i++) {
        pg_column *m = &cols->cols[i];
        if (!m->list)
            continue;
        if (PQgetvalue(r, 0, k++)[0] == 't')
            pg_column_to_text(m);
    }
out:
    PQclear(r);
    ts_buf_free(&sql);
    return rc;
}

void pg_column_to_text(pg_column *m)
{
    m->list = false;
    m->as_text = true;
    m->send_oid = PG_OID_TEXT;
    m->kind = PG_K_STRING;
}

int pg_columns_select_list(PGconn *c, const pg_columns *cols, ts_buf *out, ts_err *err)
{
    for (int i = 0; i < cols->ncols; i++) {
        char *q = pg_quote_ident(c, cols->cols[i].name, err);
        int rc;
        if (!q)
            return err->code;
        rc = ts_buf_printf(out, "%s%s%s", i ? ", " : "", q, cols->cols[i].as_text ? "::text" : "");
        ts_free(q);
        if (rc)
            return ts_err_set(err, rc, "out of memory building the column list");
    }
    return TS_OK;
}

void pg_columns_specs(const pg_columns *cols, pq_column_spec *specs)
{
    for (int i = 0; i < cols->ncols; i++) {
        const pg_column *m = &cols->cols[i];
        pq_column_spec *s = &specs[i];
        switch (m->kind) {
        case PG_K_BOOL:
            pq_column_spec_init(s, m->name, PQ_BOOLEAN, PQ_LT_NONE);
            break;
        case PG_K_INT2:
            pq_column_spec_init(s, m->name, PQ_INT32, PQ_LT_INT);
            s->bit_width = 16;
            s->is_signed = true;
            break;
        case PG_K_INT4:
            pq_column_spec_init(s, m->name, PQ_INT32, PQ_LT_INT);
            s->bit_width = 32;
            s->is_signed = true;
            break;
        case PG_K_INT8:
            pq_column_spec_init(s, m->name, PQ_INT64, PQ_LT_INT);
            s->bit_width = 64;
            s->is_signed = true;
            break;
        case PG_K_FLOAT4:
            pq_column_spec_init(s, m->name, PQ_FLOAT, PQ_LT_NONE);
            break;
        case PG_K_FLOAT8:
            pq_column_spec_init(s, m->name, PQ_DOUBLE, PQ_LT_NONE);
            break;
        case PG_K_TIMESTAMP:
        case PG_K_TIMESTAMPTZ:
            pq_column_spec_init(s, m->name, PQ_INT64, PQ_LT_TIMESTAMP);
            s->time_unit = PQ_UNIT_MICROS;
            s->ts_utc = m->kind == PG_K_TIMESTAMPTZ;
            break;
        case PG_K_DATE:
            pq_column_spec_init(s, m->name, PQ_INT32, PQ_LT_DATE);
            break;
        case PG_K_DECIMAL:
            pq_column_spec_init(s, m->name,
                                m->precision <= 9    ? PQ_INT32
                                : m->precision <= 18 ? PQ_INT64
                                                     : PQ_FIXED_LEN_BYTE_ARRAY,
                                PQ_LT_DECIMAL);
            s->precision = m->precision;
            s->scale = m->scale;
            s->type_length = m->flba_len;
            break;
        case PG_K_STRING:
            pq_column_spec_init(s, m->name, PQ_BYTE_ARRAY, PQ_LT_STRING);
            break;
        case PG_K_ENUM:
            pq_column_spec_init(s, m->name, PQ_BYTE_ARRAY, PQ_LT_ENUM);
            break;
        case PG_K_JSON:
        case PG_K_JSONB:
            pq_column_spec_init(s, m->name, PQ_BYTE_ARRAY, PQ_LT_JSON);
            break;
        case PG_K_BYTEA:
            pq_column_spec_init(s, m->name, PQ_BYTE_ARRAY, PQ_LT_NONE);
            break;
        case PG_K_UUID:
            /* Spark's Parquet schema converter refuses FIXED_LEN_BYTE_ARRAY (UUID)
             * (apache/spark#55684); the canonical text reads everywhere, and restore
             * and the read-back proof parse it back to the same 16 bytes. */
            pq_column_spec_init(s, m->name, PQ_BYTE_ARRAY, PQ_LT_STRING);
            break;
        }
        s->nullable = !m->not_null;
        s->list = m->list;
    }
}

static int bad_len(ts_err *err, const pg_column *m, int32_t len)
{
    return ts_err_set(err, TS_ERR_FORMAT, "column \"%s\" (%s): unexpected binary value of %d bytes",
                      m->name, m->pg_type, len);
}

/* One non-NULL scalar value (a column value or a list element). */
static int write_scalar(pq_writer *w, int col, const pg_column *m, const uint8_t *p, int32_t len,
                        char *exc, ts_err *err)
{
    int rc;
    switch (m->kind) {
    case PG_K_BOOL:
        if (len != 1)
            return bad_len(err, m, len);
        return pq_write_bool(w, col, p[0] != 0);
    case PG_K_INT2:
        if (len != 2)
            return bad_len(err, m, len);
        return pq_write_i32(w, col, (int16_t)pg_be16(p));
    case PG_K_INT4:
        if (len != 4)
            return bad_len(err, m, len);
        return pq_write_i32(w, col, (int32_t)pg_be32(p));
    case PG_K_INT8:
        if (len != 8)
            return bad_len(err, m, len);
        return pq_write_i64(w, col, (int64_t)pg_be64(p));
    case PG_K_FLOAT4: {
        uint32_t u;
        float f;
        if (len != 4)
            return bad_len(err, m, len);
        u = pg_be32(p);
        memcpy(&f, &u, 4);
        return pq_write_float(w, col, f);
    }
    case PG_K_FLOAT8: {
        uint64_t u;
        double f;
        if (len != 8)
            return bad_len(err, m, len);
        u = pg_be64(p);
        memcpy(&f, &u, 8);
        return pq_write_double(w, col, f);
    }
    case PG_K_TIMESTAMP:
    case PG_K_TIMESTAMPTZ: {
        int64_t v;
        if (len != 8)
            return bad_len(err, m, len);
        v = (int64_t)pg_be64(p);
        if (v != INT64_MAX && v > INT64_MAX - PG_EPOCH_US - 1) {
            if (!exc)
                return ts_err_set(err, TS_ERR_UNSUPPORTED,
                                  "column \"%s\" (%s): a timestamp after 294247 AD inside an array "
                                  "cannot be archived",
                                  m->name, m->pg_type);
            snprintf(exc, PG_EXC_MAX, "%" PRId64, v);
            return pq_write_null(w, col);
        }
        v = v == INT64_MAX ? PQ_TS_INF : v == INT64_MIN ? PQ_TS_NINF : v + PG_EPOCH_US;
        return pq_write_i64(w, col, v);
    }
    case PG_K_DATE: {
        int32_t v;
        if (len != 4)
            return bad_len(err, m, len);
        v = (int32_t)pg_be32(p);
        v = v == INT32_MAX ? PQ_DATE_INF : v == INT32_MIN ? PQ_DATE_NINF : v + PG_EPOCH_DAYS;
        return pq_write_i32(w, col, v);
    }
    case PG_K_DECIMAL: {
        __int128 v;
        rc = pg_numeric_to_i128(p, len, m->scale, &v, err);
        if (rc < 0) {
            ts_err_prefix(err, "column \"%s\" (%s)", m->name, m->pg_type);
            return rc;
        }
        if (rc == 1) {
            if (!exc)
                return ts_err_set(err, TS_ERR_UNSUPPORTED,
                                  "column \"%s\" (%s): NaN inside an array cannot be archived",
                                  m->name, m->pg_type);
            snprintf(exc, PG_EXC_MAX, "NaN");
            return pq_write_null(w, col);
        }
        if (m->precision <= 9)
            return pq_write_i32(w, col, (int32_t)v);
        if (m->precision <= 18)
            return pq_write_i64(w, col, (int64_t)v);
        uint8_t be[16];
        unsigned __int128 u = (unsigned __int128)v;
        for (int i = m->flba_len - 1; i >= 0; i--) {
            be[i] = (uint8_t)u;
            u >>= 8;
        }
        return pq_write_bytes(w, col, be, (size_t)m->flba_len);
    }
    case PG_K_JSONB:
        if (len < 1 || p[0] != 1)
            return ts_err_set(err, TS_ERR_FORMAT, "column \"%s\": unknown jsonb version %d",
                              m->name, len < 1 ? -1 : p[0]);
        return pq_write_bytes(w, col, p + 1, (size_t)len - 1);
    case PG_K_UUID: {
        char text[PG_UUID_TEXT_LEN];
        if (len != 16)
            return bad_len(err, m, len);
        pg_uuid_format(p, text);
        return pq_write_bytes(w, col, text, sizeof text);
    }
    case PG_K_STRING:
    case PG_K_ENUM:
    case PG_K_JSON:
    case PG_K_BYTEA:
        return pq_write_bytes(w, col, p, (size_t)len);
    }
    return ts_err_set(err, TS_ERR_INTERNAL, "column \"%s\": unknown kind %d", m->name, m->kind);
}

static int write_list(pq_writer *w, int col, const pg_column *m, const uint8_t *p, int32_t len,
                      char *exc, ts_err *err)
{
    int32_t ndim, nitems = 0, lbound = 1, nnull = 0;
    size_t off;
    int rc;
    if (len < 12)
        return bad_len(err, m, len);
    ndim = (int32_t)pg_be32(p);
    if (pg_be32(p + 8) != m->elem_oid)
        return ts_err_set(err, TS_ERR_FORMAT, "column \"%s\": array element type %u, expected %u",
                          m->name, pg_be32(p + 8), m->elem_oid);
    if (ndim > 1)
        return ts_err_set(err, TS_ERR_UNSUPPORTED,
                          "column \"%s\" (%s) holds a %d-dimensional array, which a LIST cannot "
                          "hold; declare the column with [][] to archive it as text",
                          m->name, m->pg_type, ndim);
    if (ndim < 0 || len < 12 + 8 * ndim)
        return bad_len(err, m, len);
    if (ndim == 1) {
        nitems = (int32_t)pg_be32(p + 12);
        lbound = (int32_t)pg_be32(p + 16);
        if (lbound != 1)
            return ts_err_set(err, TS_ERR_UNSUPPORTED,
                              "column \"%s\" (%s) holds an array with lower bound %d, which a LIST "
                              "cannot hold",
                              m->name, m->pg_type, lbound);
    }
    off = 12 + 8 * (size_t)ndim;
    rc = pq_write_list_begin(w, col);
    if (rc)
        return rc;
    for (int32_t i = 0; i < nitems; i++) {
        int32_t el;
        if ((size_t)len - off < 4)
            return bad_len(err, m, len);
        el = (int32_t)pg_be32(p + off);
        off += 4;
        if (el == -1) {
            nnull++;
            rc = pq_write_null(w, col);
        } else {
            if (el < 0 || (size_t)len - off < (size_t)el)
                return bad_len(err, m, len);
            rc = write_scalar(w, col, m, p + off, el, NULL, err);
            off += (size_t)el;
        }
        if (rc)
            return rc;
    }
    if (off != (size_t)len)
        return bad_len(err, m, len);
    /* array_send() says whether the array keeps a NULL bitmap, and an array can keep
     * one after its last NULL element is replaced: a LIST cannot say so */
    if (pg_be32(p + 4) == 1 && nnull == 0)
        snprintf(exc, PG_EXC_MAX, "%s", PG_EXC_NULL_BITMAP);
    return pq_write_list_end(w, col);
}

void pg_uuid_format(const uint8_t in[16], char out[PG_UUID_TEXT_LEN])
{
    static const char hexd[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hexd[in[i] >> 4];
        out[o++] = hexd[in[i] & 15];
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int pg_uuid_parse(const char *s, size_t len, uint8_t out[16])
{
    const char *end = s + len;
    bool braces = s < end && *s == '{';
    if (braces)
        s++;
    for (int i = 0; i < 16; i++) {
        if (end - s < 2)
            return -1;
        int hi = hexval(s[0]), lo = hexval(s[1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
        s += 2;
        /* a hyphen may follow any complete group of four digits but the last */
        if (s < end && *s == '-' && i % 2 == 1 && i < 15)
            s++;
    }
    if (braces) {
        if (s == end || *s != '}')
            return -1;
        s++;
    }
    return s == end ? 0 : -1;
}

int pg_value_write(pq_writer *w, int col, const pg_column *m, const uint8_t *p, int32_t len,
                   char *exc, ts_err *err)
{
    exc[0] = 0;
    if (len < 0)
        return pq_write_null(w, col);
    if (m->list)
        return write_list(w, col, m, p, len, exc, err);
    return write_scalar(w, col, m, p, len, exc, err);
}

/* ---- a column of many rows at once ---- */

/* Whether row i holds a value; a NULL clears valid[i] and sets *nulls. */
static inline bool present(pg_batch *b, const pg_copy_field *v, size_t i, bool *nulls)
{
    b->valid[i] = v->len >= 0;
    *nulls |= v->len < 0;
    return v->len >= 0;
}

/* Row i holds a value stored as NULL plus an exception entry (see pg_value_write). */
static int as_exception(pg_batch *b, size_t i, bool *nulls, const char *exc, pg_exc_fn exc_fn,
                        void *ctx, ts_err *err)
{
    b->valid[i] = false;
    *nulls = true;
    return exc_fn(ctx, i, exc, err);
}

int pg_column_write(pq_writer *w, int col, const pg_column *m, const pg_copy_field *f,
                    size_t stride, size_t n, pg_batch *b, pg_exc_fn exc_fn, void *ctx, ts_err *err)
{
    bool nulls = false;
    char exc[PG_EXC_MAX];
    int rc;
    if (n > PG_BATCH_ROWS)
        return ts_err_set(err, TS_ERR_INTERNAL, "pg_column_write: %zu rows", n);
    if (m->list || m->kind == PG_K_BOOL) { /* value by value */
        for (size_t i = 0; i < n; i++) {
            rc = pg_value_write(w, col, m, f[i * stride].data, f[i * stride].len, exc, err);
            if (!rc && exc[0])
                rc = exc_fn(ctx, i, exc, err);
            if (rc)
                return rc;
        }
        return TS_OK;
    }
    /* each kind: convert every value into b, then one batch call */
    for (size_t i = 0; i < n; i++) {
        const pg_copy_field *v = &f[i * stride];
        const uint8_t *p = v->data;
        if (!present(b, v, i, &nulls))
            continue;
        switch (m->kind) {
        case PG_K_INT2:
            if (v->len != 2)
                return bad_len(err, m, v->len);
            b->v.i32[i] = (int16_t)pg_be16(p);
            break;
        case PG_K_INT4:
            if (v->len != 4)
                return bad_len(err, m, v->len);
            b->v.i32[i] = (int32_t)pg_be32(p);
            break;
        case PG_K_DATE: {
            int32_t x;
            if (v->len != 4)
                return bad_len(err, m, v->len);
            x = (int32_t)pg_be32(p);
            b->v.i32[i] = x == INT32_MAX   ? PQ_DATE_INF
                          : x == INT32_MIN ? PQ_DATE_NINF
                                           : x + PG_EPOCH_DAYS;
            break;
        }
        case PG_K_INT8:
            if (v->len != 8)
                return bad_len(err, m, v->len);
            b->v.i64[i] = (int64_t)pg_be64(p);
            break;
        case PG_K_FLOAT4: {
            uint32_t u;
            if (v->len != 4)
                return bad_len(err, m, v->len);
            u = pg_be32(p);
            memcpy(&b->v.f32[i], &u, 4);
            break;
        }
        case PG_K_FLOAT8: {
            uint64_t u;
            if (v->len != 8)
                return bad_len(err, m, v->len);
            u = pg_be64(p);
            memcpy(&b->v.f64[i], &u, 8);
            break;
        }
        case PG_K_TIMESTAMP:
        case PG_K_TIMESTAMPTZ: {
            int64_t x;
            if (v->len != 8)
                return bad_len(err, m, v->len);
            x = (int64_t)pg_be64(p);
            if (x != INT64_MAX && x > INT64_MAX - PG_EPOCH_US - 1) { /* past 294247 AD */
                snprintf(exc, sizeof exc, "%" PRId64, x);
                if ((rc = as_exception(b, i, &nulls, exc, exc_fn, ctx, err)) != 0)
                    return rc;
                break;
            }
            b->v.i64[i] = x == INT64_MAX   ? PQ_TS_INF
                          : x == INT64_MIN ? PQ_TS_NINF
                                           : x + PG_EPOCH_US;
            break;
        }
        case PG_K_DECIMAL: {
            __int128 x;
            rc = pg_numeric_to_i128(p, v->len, m->scale, &x, err);
            if (rc < 0) {
                ts_err_prefix(err, "column \"%s\" (%s)", m->name, m->pg_type);
                return rc;
            }
            if (rc == 1) { /* NaN */
                if ((rc = as_exception(b, i, &nulls, "NaN", exc_fn, ctx, err)) != 0)
                    return rc;
                break;
            }
            if (m->precision <= 9) {
                b->v.i32[i] = (int32_t)x;
            } else if (m->precision <= 18) {
                b->v.i64[i] = (int64_t)x;
            } else { /* big-endian two's complement, flba_len bytes */
                uint8_t *be = b->text + i * PG_BATCH_TEXT;
                unsigned __int128 u = (unsigned __int128)x;
                for (int k = m->flba_len - 1; k >= 0; k--) {
                    be[k] = (uint8_t)u;
                    u >>= 8;
                }
                b->bytes[i].ptr = be;
                b->bytes[i].len = (size_t)m->flba_len;
            }
            break;
        }
        case PG_K_JSONB:
            if (v->len < 1 || p[0] != 1)
                return ts_err_set(err, TS_ERR_FORMAT, "column \"%s\": unknown jsonb version %d",
                                  m->name, v->len < 1 ? -1 : p[0]);
            b->bytes[i].ptr = p + 1;
            b->bytes[i].len = (size_t)v->len - 1;
            break;
        case PG_K_UUID: {
            uint8_t *t = b->text + i * PG_BATCH_TEXT;
            if (v->len != 16)
                return bad_len(err, m, v->len);
            pg_uuid_format(p, (char *)t);
            b->bytes[i].ptr = t;
            b->bytes[i].len = PG_UUID_TEXT_LEN;
            break;
        }
        case PG_K_STRING:
        case PG_K_ENUM:
        case PG_K_JSON:
        case PG_K_BYTEA:
            b->bytes[i].ptr = p;
            b->bytes[i].len = (size_t)v->len;
            break;
        case PG_K_BOOL:
            break;
        }
    }
    const bool *valid = nulls ? b->valid : NULL;
    switch (m->kind) {
    case PG_K_INT2:
    case PG_K_INT4:
    case PG_K_DATE:
        return pq_write_i32_batch(w, col, b->v.i32, valid, n);
    case PG_K_INT8:
    case PG_K_TIMESTAMP:
    case PG_K_TIMESTAMPTZ:
        return pq_write_i64_batch(w, col, b->v.i64, valid, n);
    case PG_K_FLOAT4:
        return pq_write_float_batch(w, col, b->v.f32, valid, n);
    case PG_K_FLOAT8:
        return pq_write_double_batch(w, col, b->v.f64, valid, n);
    case PG_K_DECIMAL:
        if (m->precision <= 9)
            return pq_write_i32_batch(w, col, b->v.i32, valid, n);
        if (m->precision <= 18)
            return pq_write_i64_batch(w, col, b->v.i64, valid, n);
        return pq_write_bytes_batch(w, col, b->bytes, valid, n);
    case PG_K_JSONB:
    case PG_K_UUID:
    case PG_K_STRING:
    case PG_K_ENUM:
    case PG_K_JSON:
    case PG_K_BYTEA:
        return pq_write_bytes_batch(w, col, b->bytes, valid, n);
    case PG_K_BOOL:
        break;
    }
    return ts_err_set(err, TS_ERR_INTERNAL, "column \"%s\": unknown kind %d", m->name, m->kind);
}
