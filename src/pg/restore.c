/* restore.c: Parquet -> PostgreSQL. Plans every column (which binary encoding, or
 * text plus a cast through a temporary table) before a single row is sent, then
 * streams the rows as binary COPY in one transaction. */
#include "restore.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"
#include "conn.h"
#include "copybin.h"
#include "export.h"
#include "parquet/reader.h"
#include "types.h"

#define SEND_CHUNK (1 << 20)

typedef enum {
    E_BOOL,
    E_INT2,
    E_INT4,
    E_INT8,
    E_F4,
    E_F8,
    E_TS,
    E_DATE,
    E_NUMERIC,
    E_BYTES,
    E_JSONB,
    E_UUID,
    E_TEXT,
} enc;

typedef struct plan {
    const pg_column *t;        /* target column */
    const pq_reader_column *f; /* file column */
    int fcol;
    enc e;
    uint32_t elem_oid;
    json_t *exc; /* [[row, "exact"], ...] for this column (borrowed), see export.h */
    size_t exc_pos;
} plan;

static int incompatible(ts_err *err, const pg_column *t, const pq_reader_column *f, const char *why)
{
    return ts_err_set(err, TS_ERR_INVALID,
                      "column \"%s\": the file's %s%s%s cannot be restored into %s%s%s", t->name,
                      f->spec.list ? "list of " : "", pq_physical_name(f->spec.physical),
                      f->spec.logical == PQ_LT_DECIMAL ? " DECIMAL" : "", t->pg_type,
                      why ? ": " : "", why ? why : "");
}

/* Picks the encoding for one column. */
static int plan_column(plan *p, ts_err *err)
{
    const pg_column *t = p->t;
    const pq_column_spec *s = &p->f->spec;
    uint32_t oid;
    bool str = s->physical == PQ_BYTE_ARRAY &&
               (s->logical == PQ_LT_STRING || s->logical == PQ_LT_ENUM || s->logical == PQ_LT_JSON);
    if (s->list) {
        if (!t->list)
            return incompatible(err, t, p->f, "the column is not a one-dimensional array");
        oid = t->elem_oid;
    } else if (t->list) {
        if (!str)
            return incompatible(err, t, p->f, NULL);
        p->e = E_TEXT;
        return TS_OK;
    } else {
        oid = t->type_oid;
    }
    p->elem_oid = oid;
    bool is_enum = t->kind == PG_K_ENUM && !t->as_text;
    switch (s->physical) {
    case PQ_BOOLEAN:
        if (oid == PG_OID_BOOL)
            return p->e = E_BOOL, TS_OK;
        break;
    case PQ_INT32:
        if (s->logical == PQ_LT_DATE) {
            if (oid == PG_OID_DATE)
                return p->e = E_DATE, TS_OK;
        } else if (s->logical == PQ_LT_DECIMAL) {
            if (oid == PG_OID_NUMERIC)
                return p->e = E_NUMERIC, TS_OK;
        } else if (s->logical == PQ_LT_INT || s->logical == PQ_LT_NONE) {
            if (oid == PG_OID_INT2)
                return p->e = E_INT2, TS_OK;
            if (oid == PG_OID_INT4)
                return p->e = E_INT4, TS_OK;
            if (oid == PG_OID_INT8)
                return p->e = E_INT8, TS_OK;
        }
        break;
    case PQ_INT64:
        if (s->logical == PQ_LT_TIMESTAMP) {
            if (oid == PG_OID_TIMESTAMPTZ || oid == PG_OID_TIMESTAMP)
                return p->e = E_TS, TS_OK;
        } else if (s->logical == PQ_LT_DECIMAL) {
            if (oid == PG_OID_NUMERIC)
                return p->e = E_NUMERIC, TS_OK;
        } else if (s->logical == PQ_LT_INT || s->logical == PQ_LT_NONE) {
            if (oid == PG_OID_INT8)
                return p->e = E_INT8, TS_OK;
        }
        break;
    case PQ_FLOAT:
        if (oid == PG_OID_FLOAT4)
            return p->e = E_F4, TS_OK;
        if (oid == PG_OID_FLOAT8)
            return p->e = E_F8, TS_OK;
        break;
    case PQ_DOUBLE:
        if (oid == PG_OID_FLOAT8)
            return p->e = E_F8, TS_OK;
        break;
    case PQ_FIXED_LEN_BYTE_ARRAY:
        if (s->logical == PQ_LT_UUID && s->type_length == 16 && oid == PG_OID_UUID)
            return p->e = E_UUID, TS_OK;
        if (s->logical == PQ_LT_DECIMAL && oid == PG_OID_NUMERIC && s->type_length <= 16)
            return p->e = E_NUMERIC, TS_OK;
        break;
    case PQ_BYTE_ARRAY:
        if (s->logical == PQ_LT_DECIMAL) {
            if (oid == PG_OID_NUMERIC)
                return p->e = E_NUMERIC, TS_OK;
            break;
        }
        if (s->logical == PQ_LT_NONE && oid == PG_OID_BYTEA)
            return p->e = E_BYTES, TS_OK;
        if (!str)
            break;
        if (oid == PG_OID_TEXT || oid == PG_OID_VARCHAR || oid == PG_OID_BPCHAR ||
            oid == PG_OID_NAME || oid == PG_OID_JSON || is_enum)
            return p->e = E_BYTES, TS_OK;
        if (oid == PG_OID_JSONB)
            return p->e = E_JSONB, TS_OK;
        if (!s->list) /* the text form of anything else, cast by the server */
            return p->e = E_TEXT, TS_OK;
        break;
    default:
        break;
    }
    return incompatible(err, t, p->f, NULL);
}

static int put(ts_buf *b, const void *p, size_t n, ts_err *err)
{
    int rc = ts_buf_append(b, p, n);
    return rc ? ts_err_set(err, rc, "out of memory building a COPY row") : TS_OK;
}

static int put32(ts_buf *b, uint32_t v, ts_err *err)
{
    uint8_t x[4];
    pg_put_be32(x, v);
    return put(b, x, 4, err);
}

static int put64(ts_buf *b, uint64_t v, ts_err *err)
{
    uint8_t x[8];
    pg_put_be64(x, v);
    return put(b, x, 8, err);
}

static int value_error(ts_err *err, const plan *p, int64_t row, const char *what)
{
    return ts_err_set(err, TS_ERR_INVALID, "row %" PRId64 ", column \"%s\": %s", row + 1,
                      p->t->name, what);
}

/* Appends one non-NULL value with its int32 length. */
static int put_value(ts_buf *b, const plan *p, const pq_value *v, int64_t row, ts_err *err)
{
    const pq_column_spec *s = &p->f->spec;
    switch (p->e) {
    case E_BOOL: {
        uint8_t x = v->v.b ? 1 : 0;
        int rc = put32(b, 1, err);
        return rc ? rc : put(b, &x, 1, err);
    }
    case E_INT2: {
        uint8_t x[2];
        if (v->v.i32 < INT16_MIN || v->v.i32 > INT16_MAX)
            return value_error(err, p, row, "value out of range for smallint");
        pg_put_be16(x, (uint16_t)(int16_t)v->v.i32);
        int rc = put32(b, 2, err);
        return rc ? rc : put(b, x, 2, err);
    }
    case E_INT4: {
        int rc = put32(b, 4, err);
        return rc ? rc : put32(b, (uint32_t)v->v.i32, err);
    }
    case E_INT8: {
        int64_t x = s->physical == PQ_INT32 ? v->v.i32 : v->v.i64;
        int rc = put32(b, 8, err);
        return rc ? rc : put64(b, (uint64_t)x, err);
    }
    case E_F4: {
        uint32_t u;
        memcpy(&u, &v->v.f, 4);
        int rc = put32(b, 4, err);
        return rc ? rc : put32(b, u, err);
    }
    case E_F8: {
        double d = s->physical == PQ_FLOAT ? (double)v->v.f : v->v.d;
        uint64_t u;
        memcpy(&u, &d, 8);
        int rc = put32(b, 8, err);
        return rc ? rc : put64(b, u, err);
    }
    case E_TS: {
        int64_t x = v->v.i64;
        if (s->time_unit == PQ_UNIT_MICROS && x == PQ_TS_INF)
            x = INT64_MAX;
        else if (s->time_unit == PQ_UNIT_MICROS && (x == PQ_TS_NINF || x == INT64_MIN))
            x = INT64_MIN;
        else {
            if (s->time_unit == PQ_UNIT_MILLIS) {
                if (x > INT64_MAX / 1000 || x < INT64_MIN / 1000)
                    return value_error(err, p, row, "timestamp out of range");
                x *= 1000;
            } else if (s->time_unit == PQ_UNIT_NANOS) {
                if (x % 1000)
                    return value_error(err, p, row,
                                       "timestamp has nanoseconds, which PostgreSQL cannot hold");
                x /= 1000;
            }
            if (x < INT64_MIN + PG_EPOCH_US)
                return value_error(err, p, row, "timestamp out of range");
            x -= PG_EPOCH_US;
        }
        int rc = put32(b, 8, err);
        return rc ? rc : put64(b, (uint64_t)x, err);
    }
    case E_DATE: {
        int32_t x = v->v.i32;
        if (x == PQ_DATE_INF)
            x = INT32_MAX;
        else if (x == PQ_DATE_NINF || x == INT32_MIN)
            x = INT32_MIN;
        else
            x -= PG_EPOCH_DAYS;
        int rc = put32(b, 4, err);
        return rc ? rc : put32(b, (uint32_t)x, err);
    }
    case E_NUMERIC: {
        __int128 x = 0;
        uint8_t out[8 + 2 * 24];
        size_t n = 0;
        if (s->physical == PQ_INT32)
            x = v->v.i32;
        else if (s->physical == PQ_INT64)
            x = v->v.i64;
        else {
            const uint8_t *q = v->v.bin.ptr;
            size_t len = v->v.bin.len;
            if (len == 0 || len > 16)
                return value_error(err, p, row, "decimal wider than 16 bytes");
            x = (q[0] & 0x80) ? -1 : 0;
            for (size_t i = 0; i < len; i++)
                x = (__int128)(((unsigned __int128)x << 8) | q[i]);
        }
        if (pg_i128_to_numeric(x, s->scale < 0 ? 0 : s->scale, out, sizeof out, &n) != TS_OK)
            return value_error(err, p, row, "decimal out of range");
        int rc = put32(b, (uint32_t)n, err);
        return rc ? rc : put(b, out, n, err);
    }
    case E_UUID:
        if (v->v.bin.len != 16)
            return value_error(err, p, row, "uuid is not 16 bytes");
        /* fall through */
    case E_BYTES:
    case E_TEXT: {
        if (v->v.bin.len > 0x3fffffff)
            return value_error(err, p, row, "value larger than 1 GiB");
        int rc = put32(b, (uint32_t)v->v.bin.len, err);
        return rc ? rc : put(b, v->v.bin.ptr, v->v.bin.len, err);
    }
    case E_JSONB: {
        uint8_t ver = 1;
        int rc = put32(b, (uint32_t)v->v.bin.len + 1, err);
        if (!rc)
            rc = put(b, &ver, 1, err);
        return rc ? rc : put(b, v->v.bin.ptr, v->v.bin.len, err);
    }
    }
    return ts_err_set(err, TS_ERR_INTERNAL, "unknown encoding %d", p->e);
}

static const uint8_t numeric_nan[12] = {0, 0, 0, 8, 0, 0, 0, 0, 0xc0, 0, 0, 0};

static int put_cell(ts_buf *b, plan *p, const pq_cell *cell, int64_t row, ts_err *err)
{
    int rc;
    if (cell->is_null) {
        /* a value the export stored as NULL plus an exception entry */
        json_t *e = p->exc ? json_array_get(p->exc, p->exc_pos) : NULL;
        if (e && json_integer_value(json_array_get(e, 0)) == row) {
            const char *v = json_string_value(json_array_get(e, 1));
            p->exc_pos++;
            if (v && p->e == E_NUMERIC && strcmp(v, "NaN") == 0)
                return put(b, numeric_nan, sizeof numeric_nan, err);
            if (v && p->e == E_TS) {
                char *end;
                long long x = strtoll(v, &end, 10);
                if (*end == 0 && end != v) {
                    int rc2 = put32(b, 8, err);
                    return rc2 ? rc2 : put64(b, (uint64_t)x, err);
                }
            }
            return value_error(err, p, row, "malformed exception entry in the metadata");
        }
        return put32(b, 0xffffffffu, err);
    }
    if (!cell->is_list)
        return put_value(b, p, &cell->items[0], row, err);
    /* one-dimensional array: ndim, hasnull, element type, size, lower bound 1 */
    size_t start = b->len;
    bool hasnull = false;
    rc = put32(b, 0, err); /* length, patched below */
    if (!rc)
        rc = put32(b, cell->n ? 1 : 0, err);
    if (!rc)
        rc = put32(b, 0, err); /* hasnull, patched below */
    if (!rc)
        rc = put32(b, p->elem_oid, err);
    if (!rc && cell->n) {
        if (cell->n > INT32_MAX)
            return value_error(err, p, row, "list too long");
        rc = put32(b, (uint32_t)cell->n, err);
        if (!rc)
            rc = put32(b, 1, err);
    }
    for (size_t i = 0; !rc && i < cell->n; i++) {
        if (cell->items[i].is_null) {
            hasnull = true;
            rc = put32(b, 0xffffffffu, err);
        } else {
            rc = put_value(b, p, &cell->items[i], row, err);
        }
    }
    if (rc)
        return rc;
    if (b->len - start - 4 > 0x3fffffff)
        return value_error(err, p, row, "array larger than 1 GiB");
    pg_put_be32(b->data + start, (uint32_t)(b->len - start - 4));
    pg_put_be32(b->data + start + 8, hasnull ? 1 : 0);
    return TS_OK;
}

/* The recorded [schema, name] pair of key, or NULLs. */
static void kv_pair(const pq_reader *r, const char *key, char **a, char **b)
{
    const char *s = pq_reader_kv(r, key);
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    *a = *b = NULL;
    if (j && json_is_array(j) && json_array_size(j) == 2 && json_is_string(json_array_get(j, 0)) &&
        json_is_string(json_array_get(j, 1))) {
        *a = ts_strdup(json_string_value(json_array_get(j, 0)));
        *b = ts_strdup(json_string_value(json_array_get(j, 1)));
    }
    json_decref(j);
}

/* Re-creates a dropped native partition from its recorded bounds. */
static int recreate_partition(PGconn *c, const pq_reader *rd, const char *tschema,
                              const char *tname, const char *qtable, ts_err *err)
{
    char *cs = NULL, *cn = NULL, *qchunk = NULL, *lo = NULL, *hi = NULL;
    const char *rs = pq_reader_kv(rd, PG_KV_RANGE);
    json_t *range = rs ? json_loads(rs, 0, NULL) : NULL;
    const char *from = json_string_value(json_object_get(range, "partition_from"));
    const char *to = json_string_value(json_object_get(range, "partition_to"));
    PGresult *r = NULL;
    ts_buf sql;
    int rc = TS_OK;
    ts_buf_init(&sql, 0);
    kv_pair(rd, PG_KV_CHUNK, &cs, &cn);
    if (!from || !to || !cs || !cn)
        goto out;
    const char *params[4] = {cs, cn, tschema, tname};
    r = pg_query(c,
                 "SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NULL AND EXISTS ("
                 " SELECT 1 FROM pg_catalog.pg_partitioned_table pt"
                 " JOIN pg_catalog.pg_class pc ON pc.oid = pt.partrelid"
                 " JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace"
                 " WHERE pn.nspname = $3 AND pc.relname = $4 AND pt.partstrat = 'r')",
                 4, params, err);
    if (!r) {
        rc = err->code;
        goto out;
    }
    if (PQgetvalue(r, 0, 0)[0] != 't')
        goto out;
    qchunk = pg_qualified_name(c, cs, cn, err);
    lo = strcmp(from, "MINVALUE") == 0 ? ts_strdup("MINVALUE") : pg_quote_literal(c, from, err);
    hi = strcmp(to, "MAXVALUE") == 0 ? ts_strdup("MAXVALUE") : pg_quote_literal(c, to, err);
    if (!qchunk || !lo || !hi) {
        rc = err->code ? err->code : ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (ts_buf_printf(&sql, "CREATE TABLE %s PARTITION OF %s FOR VALUES FROM (%s) TO (%s)", qchunk,
                      qtable, lo, hi)) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = pg_exec(c, ts_buf_cstr(&sql), err);
    if (!rc)
        ts_info("re-created partition %s of %s", qchunk, qtable);
out:
    PQclear(r);
    json_decref(range);
    ts_buf_free(&sql);
    ts_free(cs);
    ts_free(cn);
    ts_free(qchunk);
    ts_free(lo);
    ts_free(hi);
    return rc;
}

int pg_restore_file(PGconn *c, const char *path, const pg_restore_options *opt,
                    pg_restore_result *res, ts_err *err)
{
    pq_reader *rd = NULL;
    const pq_reader_column *fcols = NULL;
    int nf = 0, rc;
    char *tschema = NULL, *tname = NULL, *qtable = NULL;
    pg_columns *tcols = NULL;
    plan *plans = NULL;
    json_t *meta_cols = NULL, *exc = NULL;
    ts_buf sql, row, list;
    bool staged = false, in_tx = false, in_copy = false;
    PGresult *r = NULL;
    int64_t rows = 0;

    memset(res, 0, sizeof *res);
    ts_buf_init(&sql, 0);
    ts_buf_init(&row, 0);
    ts_buf_init(&list, 0);

    rc = pq_reader_open_file(&rd, path, NULL, err);
    if (!rc)
        rc = pq_reader_columns(rd, &fcols, &nf, err);
    if (rc)
        goto out;
    if (opt && opt->into_table) {
        tschema = ts_strdup(opt->into_schema ? opt->into_schema : "public");
        tname = ts_strdup(opt->into_table);
    } else {
        kv_pair(rd, PG_KV_TABLE, &tschema, &tname);
        if (!tschema) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "the file names no table (no tsarchive metadata); use --into");
            goto out;
        }
    }
    if (!tschema || !tname) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    qtable = pg_qualified_name(c, tschema, tname, err);
    if (!qtable) {
        rc = err->code;
        goto out;
    }
    snprintf(res->table, sizeof res->table, "%s", qtable);
    rc = pg_columns_load(c, tschema, tname, &tcols, err);
    if (rc)
        goto out;

    /* ---- plan every column before anything is written ---- */
    const char *mc = pq_reader_kv(rd, PG_KV_COLUMNS);
    meta_cols = mc ? json_loads(mc, 0, NULL) : NULL;
    const char *es = pq_reader_kv(rd, PG_KV_EXCEPTIONS);
    exc = es ? json_loads(es, 0, NULL) : NULL;
    plans = ts_calloc((size_t)tcols->ncols, sizeof *plans);
    if (!plans) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < nf; i++) {
        bool found = false;
        for (int j = 0; j < tcols->ncols; j++)
            found = found || strcmp(fcols[i].spec.name, tcols->cols[j].name) == 0;
        if (!found) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "column mismatch: the file's column \"%s\" is not in %s",
                            fcols[i].spec.name, qtable);
            goto out;
        }
    }
    for (int j = 0; j < tcols->ncols; j++) {
        plan *p = &plans[j];
        p->t = &tcols->cols[j];
        p->fcol = -1;
        for (int i = 0; i < nf; i++)
            if (strcmp(fcols[i].spec.name, p->t->name) == 0)
                p->fcol = i;
        if (p->fcol < 0) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "column mismatch: %s has column \"%s\", the file does not", qtable,
                            p->t->name);
            goto out;
        }
        p->f = &fcols[p->fcol];
        /* a tsarchive file records each column's PostgreSQL type: it must be the same */
        json_t *m = json_array_get(meta_cols, (size_t)p->fcol);
        const char *ft = json_string_value(json_object_get(m, "pg_type"));
        if (ft && strcmp(ft, p->t->pg_type) != 0) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "column mismatch: \"%s\" is %s in the file but %s in %s", p->t->name,
                            ft, p->t->pg_type, qtable);
            goto out;
        }
        rc = plan_column(p, err);
        if (rc)
            goto out;
        if (p->e == E_TEXT)
            staged = true;
        p->exc = json_object_get(exc, p->t->name);
        if (p->exc && p->e != E_NUMERIC && p->e != E_TS)
            p->exc = NULL;
        if (j) {
            if (ts_buf_printf(&list, ", ")) {
                rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
                goto out;
            }
        }
        char *q = pg_quote_ident(c, p->t->name, err);
        if (!q || ts_buf_printf(&list, "%s", q)) {
            ts_free(q);
            rc = err->code ? err->code : ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        ts_free(q);
    }

    /* ---- one transaction ---- */
    rc = pg_exec(c, "BEGIN", err);
    if (rc)
        goto out;
    in_tx = true;
    if (!opt || !opt->into_table) {
        rc = recreate_partition(c, rd, tschema, tname, qtable, err);
        if (rc)
            goto out;
    }
    if (staged) {
        rc = ts_buf_printf(&sql, "CREATE TEMP TABLE tsarchive_restore (");
        for (int j = 0; !rc && j < tcols->ncols; j++) {
            char *q = pg_quote_ident(c, plans[j].t->name, err);
            if (!q) {
                rc = err->code;
                goto out;
            }
            rc = ts_buf_printf(&sql, "%s%s %s", j ? ", " : "", q,
                               plans[j].e == E_TEXT ? "text" : plans[j].t->pg_type);
            ts_free(q);
        }
        if (!rc)
            rc = ts_buf_printf(&sql, ") ON COMMIT DROP");
        if (rc) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        rc = pg_exec(c, ts_buf_cstr(&sql), err);
        if (rc)
            goto out;
        ts_buf_reset(&sql);
        rc = ts_buf_printf(&sql, "COPY pg_temp.tsarchive_restore FROM STDIN (FORMAT binary)");
    } else {
        rc = ts_buf_printf(&sql, "COPY %s (%s) FROM STDIN (FORMAT binary)", qtable,
                           ts_buf_cstr(&list));
    }
    if (rc) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    r = PQexec(c, ts_buf_cstr(&sql));
    if (!r || PQresultStatus(r) != PGRES_COPY_IN) {
        rc = pg_set_error(err, c, r, "could not start COPY");
        goto out;
    }
    PQclear(r);
    r = NULL;
    in_copy = true;
    uint8_t hdr[19];
    memcpy(hdr, pg_copy_signature, 11);
    memset(hdr + 11, 0, 8);
    rc = put(&row, hdr, sizeof hdr, err);
    if (rc)
        goto out;
    for (;;) {
        int more = pq_reader_next_row(rd, err);
        if (more < 0) {
            rc = more;
            goto out;
        }
        if (more == 0)
            break;
        uint8_t cnt[2];
        pg_put_be16(cnt, (uint16_t)tcols->ncols);
        rc = put(&row, cnt, 2, err);
        for (int j = 0; !rc && j < tcols->ncols; j++)
            rc = put_cell(&row, &plans[j], pq_reader_cell(rd, plans[j].fcol), rows, err);
        if (rc)
            goto out;
        rows++;
        if (row.len >= SEND_CHUNK) {
            if (PQputCopyData(c, (const char *)row.data, (int)row.len) != 1) {
                rc = pg_set_error(err, c, NULL, "sending rows failed");
                goto out;
            }
            ts_buf_reset(&row);
        }
    }
    uint8_t trailer[2] = {0xff, 0xff};
    rc = put(&row, trailer, 2, err);
    if (rc)
        goto out;
    if (PQputCopyData(c, (const char *)row.data, (int)row.len) != 1 || PQputCopyEnd(c, NULL) != 1) {
        rc = pg_set_error(err, c, NULL, "sending rows failed");
        goto out;
    }
    in_copy = false;
    r = PQgetResult(c);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = pg_set_error(err, c, r, "COPY failed");
        goto out;
    }
    PQclear(r);
    while ((r = PQgetResult(c)) != NULL)
        PQclear(r);
    if (staged) {
        ts_buf_reset(&sql);
        rc = ts_buf_printf(&sql, "INSERT INTO %s (%s) SELECT ", qtable, ts_buf_cstr(&list));
        for (int j = 0; !rc && j < tcols->ncols; j++) {
            char *q = pg_quote_ident(c, plans[j].t->name, err);
            if (!q) {
                rc = err->code;
                goto out;
            }
            rc = ts_buf_printf(&sql, "%s%s%s%s", j ? ", " : "", q, plans[j].e == E_TEXT ? "::" : "",
                               plans[j].e == E_TEXT ? plans[j].t->pg_type : "");
            ts_free(q);
        }
        if (!rc)
            rc = ts_buf_printf(&sql, " FROM pg_temp.tsarchive_restore");
        if (rc) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        rc = pg_exec(c, ts_buf_cstr(&sql), err);
        if (rc)
            goto out;
    }
    rc = pg_exec(c, "COMMIT", err);
    in_tx = false;
    if (rc)
        goto out;
    res->rows = rows;
out:
    if (in_copy) {
        if (PQputCopyEnd(c, "restore aborted by tsarchive") == 1)
            while ((r = PQgetResult(c)) != NULL)
                PQclear(r);
    }
    if (in_tx && PQstatus(c) == CONNECTION_OK) {
        ts_err ignore;
        ts_err_clear(&ignore);
        if (pg_exec(c, "ROLLBACK", &ignore) != TS_OK)
            ts_debug("rollback failed: %s", ignore.msg);
    }
    if (rc)
        ts_err_prefix(err, "restoring \"%s\"", path);
    PQclear(r);
    json_decref(meta_cols);
    json_decref(exc);
    ts_free(plans);
    pg_columns_free(tcols);
    ts_free(tschema);
    ts_free(tname);
    ts_free(qtable);
    ts_buf_free(&sql);
    ts_buf_free(&row);
    ts_buf_free(&list);
    pq_reader_free(rd);
    return rc;
}
