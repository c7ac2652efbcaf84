/* rowimage.c: Parquet values into PostgreSQL's binary send() form: a plan per column
 * (which encoding the file's Parquet type becomes for the column's type) made before
 * any row is read, then one binary COPY tuple per row. Shared by restore and the
 * read-back proof. */
#include "rowimage.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "export.h"

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
    E_UUID,      /* FIXED_LEN_BYTE_ARRAY(16) */
    E_UUID_TEXT, /* a STRING holding the uuid's text */
    E_TEXT,      /* the value's text, cast by the server */
} enc;

typedef struct plan {
    const pg_column *t;        /* target column */
    const pq_reader_column *f; /* file column */
    int fcol;
    enc e;
    uint32_t elem_oid;
    json_t *exc; /* [[row, "exact"], ...] for this column (borrowed), see export.h */
    size_t exc_pos;
    json_t *bitmaps; /* [[first_row, rows], ...]: arrays with a NULL bitmap (borrowed) */
    size_t bm_pos;
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
        if (oid == PG_OID_UUID && s->logical == PQ_LT_STRING)
            return p->e = E_UUID_TEXT, TS_OK;
        if (!s->list) /* the text form of anything else, cast by the server */
            return p->e = E_TEXT, TS_OK;
        break;
    default:
        break;
    }
    return incompatible(err, t, p->f, NULL);
}

static int put_slow(ts_buf *b, const void *p, size_t n, ts_err *err)
{
    int rc = ts_buf_append(b, p, n);
    if (rc == TS_ERR_TOOBIG)
        return ts_err_set(err, rc, "a row's binary image passes %zu bytes", b->limit);
    return rc ? ts_err_set(err, rc, "out of memory building a COPY row") : TS_OK;
}

/* Appends n bytes: inline while they fit (ts_buf keeps a byte for a NUL, and the
 * tuple's limit is far above any capacity reached without passing it). */
static inline int put(ts_buf *b, const void *p, size_t n, ts_err *err)
{
    if (__builtin_expect(b->cap - b->len > n && b->len + n <= b->limit, 1)) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        return TS_OK;
    }
    return put_slow(b, p, n, err);
}

static inline int put32(ts_buf *b, uint32_t v, ts_err *err)
{
    uint8_t x[4];
    pg_put_be32(x, v);
    return put(b, x, 4, err);
}

static inline int put64(ts_buf *b, uint64_t v, ts_err *err)
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
        else if (x < INT32_MIN + PG_EPOCH_DAYS)
            return value_error(err, p, row, "date out of range");
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
    case E_UUID_TEXT: {
        uint8_t u[16];
        if (pg_uuid_parse((const char *)v->v.bin.ptr, v->v.bin.len, u) != 0)
            return value_error(err, p, row, "not a uuid");
        int rc = put32(b, 16, err);
        return rc ? rc : put(b, u, 16, err);
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
        /* a value the export stored as NULL plus an exception entry (entries ascend
         * with the rows; those of rows not read, in skipped row groups, are passed) */
        json_t *e = p->exc ? json_array_get(p->exc, p->exc_pos) : NULL;
        while (e && json_integer_value(json_array_get(e, 0)) < row)
            e = json_array_get(p->exc, ++p->exc_pos);
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
    if (!hasnull && p->bitmaps) {
        /* the array kept a NULL bitmap without NULLs (runs ascend with the rows: one
         * pass); a malformed run is skipped, never trusted with arithmetic */
        json_t *run;
        while ((run = json_array_get(p->bitmaps, p->bm_pos)) != NULL) {
            json_int_t first = json_integer_value(json_array_get(run, 0));
            json_int_t n = json_integer_value(json_array_get(run, 1));
            if (first > row)
                break;
            if (first >= 0 && n > 0 && row - first < n) {
                hasnull = true;
                break;
            }
            p->bm_pos++;
        }
    }
    if (b->len - start - 4 > 0x3fffffff)
        return value_error(err, p, row, "array larger than 1 GiB");
    pg_put_be32(b->data + start, (uint32_t)(b->len - start - 4));
    pg_put_be32(b->data + start + 8, hasnull ? 1 : 0);
    return TS_OK;
}

/* ---- the decoder ---- */

/* A row's binary image stays under PostgreSQL's own limit for one COPY row. */
#define MAX_TUPLE_BYTES (((size_t)1 << 30) + 65536)

struct pg_rowimage {
    pq_reader *r;
    const pg_columns *cols;
    plan *plans;
    json_t *exc;     /* tsarchive.exceptions, owned */
    json_t *bitmaps; /* tsarchive.array_null_bitmaps, owned */
    ts_buf tuple;
    size_t *starts; /* each field's offset in tuple */
    pg_copy_field *fields;
    int64_t row;
};

int pg_rowimage_new(pg_rowimage **out, pq_reader *r, const pg_columns *cols, ts_err *err)
{
    const pq_reader_column *fcols = NULL;
    int nf = 0, rc;
    pg_rowimage *ri = ts_calloc(1, sizeof *ri);
    *out = NULL;
    if (!ri)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    ri->r = r;
    ri->cols = cols;
    ri->row = -1;
    ts_buf_init(&ri->tuple, MAX_TUPLE_BYTES);
    size_t n = (size_t)(cols->ncols > 0 ? cols->ncols : 1);
    ri->plans = ts_calloc(n, sizeof *ri->plans);
    ri->starts = ts_calloc(n, sizeof *ri->starts);
    ri->fields = ts_calloc(n, sizeof *ri->fields);
    if (!ri->plans || !ri->starts || !ri->fields) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = pq_reader_columns(r, &fcols, &nf, err)) != 0)
        goto out;
    const char *es = pq_reader_kv(r, PG_KV_EXCEPTIONS);
    if (es) {
        ri->exc = json_loads(es, 0, NULL);
        if (!json_is_object(ri->exc)) {
            rc = ts_err_set(err, TS_ERR_FORMAT, "malformed \"%s\" metadata", PG_KV_EXCEPTIONS);
            goto out;
        }
    }
    const char *bs = pq_reader_kv(r, PG_KV_NULL_BITMAPS);
    if (bs) {
        ri->bitmaps = json_loads(bs, 0, NULL);
        if (!json_is_object(ri->bitmaps)) {
            rc = ts_err_set(err, TS_ERR_FORMAT, "malformed \"%s\" metadata", PG_KV_NULL_BITMAPS);
            goto out;
        }
    }
    for (int j = 0; j < cols->ncols; j++) {
        plan *p = &ri->plans[j];
        p->t = &cols->cols[j];
        p->fcol = -1;
        for (int i = 0; i < nf; i++)
            if (strcmp(fcols[i].spec.name, p->t->name) == 0)
                p->fcol = i;
        if (p->fcol < 0) {
            rc = ts_err_set(err, TS_ERR_INVALID, "column mismatch: the file has no column \"%s\"",
                            p->t->name);
            goto out;
        }
        p->f = &fcols[p->fcol];
        if ((rc = plan_column(p, err)) != 0)
            goto out;
        p->exc = json_object_get(ri->exc, p->t->name);
        if (p->exc && (!json_is_array(p->exc) || (p->e != E_NUMERIC && p->e != E_TS)))
            p->exc = NULL;
        p->bitmaps = json_object_get(ri->bitmaps, p->t->name);
        if (p->bitmaps && (!json_is_array(p->bitmaps) || !p->f->spec.list))
            p->bitmaps = NULL;
    }
    *out = ri;
    return 0;
out:
    pg_rowimage_free(ri);
    return rc;
}

void pg_rowimage_free(pg_rowimage *ri)
{
    if (!ri)
        return;
    json_decref(ri->exc);
    json_decref(ri->bitmaps);
    ts_buf_free(&ri->tuple);
    ts_free(ri->plans);
    ts_free(ri->starts);
    ts_free(ri->fields);
    ts_free(ri);
}

bool pg_rowimage_is_text(const pg_rowimage *ri, int j)
{
    return j >= 0 && j < ri->cols->ncols && ri->plans[j].e == E_TEXT;
}

bool pg_rowimage_has_exceptions(const pg_rowimage *ri, int j)
{
    return j >= 0 && j < ri->cols->ncols && ri->plans[j].exc && json_array_size(ri->plans[j].exc);
}

int pg_rowimage_plain_value(const pg_rowimage *ri, int j, const uint8_t *plain, size_t len,
                            ts_buf *out, ts_err *err)
{
    if (j < 0 || j >= ri->cols->ncols)
        return ts_err_set(err, TS_ERR_INTERNAL, "no target column %d", j);
    const plan *p = &ri->plans[j];
    const pq_column_spec *s = &p->f->spec;
    pq_value v;
    memset(&v, 0, sizeof v);
    if (s->list || p->e == E_TEXT)
        return ts_err_set(err, TS_ERR_UNSUPPORTED, "column \"%s\": no single value to convert",
                          p->t->name);
    switch (s->physical) {
    case PQ_BOOLEAN:
        if (len != 1)
            goto bad;
        v.v.b = plain[0] != 0;
        break;
    case PQ_INT32:
    case PQ_FLOAT: {
        uint32_t u;
        if (len != 4)
            goto bad;
        u = (uint32_t)plain[0] | (uint32_t)plain[1] << 8 | (uint32_t)plain[2] << 16 |
            (uint32_t)plain[3] << 24;
        memcpy(s->physical == PQ_INT32 ? (void *)&v.v.i32 : (void *)&v.v.f, &u, 4);
        break;
    }
    case PQ_INT64:
    case PQ_DOUBLE: {
        uint64_t u = 0;
        if (len != 8)
            goto bad;
        for (int i = 7; i >= 0; i--)
            u = u << 8 | plain[i];
        memcpy(s->physical == PQ_INT64 ? (void *)&v.v.i64 : (void *)&v.v.d, &u, 8);
        break;
    }
    case PQ_BYTE_ARRAY:
    case PQ_FIXED_LEN_BYTE_ARRAY:
        if (s->physical == PQ_FIXED_LEN_BYTE_ARRAY && len != (size_t)s->type_length)
            goto bad;
        v.v.bin.ptr = plain;
        v.v.bin.len = len;
        break;
    default:
        return ts_err_set(err, TS_ERR_UNSUPPORTED, "column \"%s\": %s statistics", p->t->name,
                          pq_physical_name(s->physical));
    }
    ts_buf_reset(out);
    return put_value(out, p, &v, -1, err);
bad:
    return ts_err_set(err, TS_ERR_FORMAT, "column \"%s\": a statistics value of %zu bytes",
                      p->t->name, len);
}

int pg_rowimage_next(pg_rowimage *ri, ts_err *err)
{
    int ncols = ri->cols->ncols, rc;
    int more = pq_reader_next_row(ri->r, err);
    if (more <= 0)
        return more;
    ri->row = pq_reader_row_index(ri->r); /* the file's row: row groups may be skipped */
    ts_buf_reset(&ri->tuple);
    uint8_t cnt[2];
    pg_put_be16(cnt, (uint16_t)ncols);
    if ((rc = put(&ri->tuple, cnt, 2, err)) != 0)
        return rc;
    for (int j = 0; j < ncols; j++) {
        ri->starts[j] = ri->tuple.len;
        rc = put_cell(&ri->tuple, &ri->plans[j], pq_reader_cell(ri->r, ri->plans[j].fcol), ri->row,
                      err);
        if (rc)
            return rc;
    }
    for (int j = 0; j < ncols; j++) {
        const uint8_t *f = ri->tuple.data + ri->starts[j];
        ri->fields[j].len = (int32_t)pg_be32(f);
        ri->fields[j].data = ri->fields[j].len >= 0 ? f + 4 : NULL;
    }
    return 1;
}

const pg_copy_field *pg_rowimage_fields(const pg_rowimage *ri)
{
    return ri->fields;
}

const uint8_t *pg_rowimage_tuple(const pg_rowimage *ri, size_t *len)
{
    *len = ri->tuple.len;
    return ri->tuple.data;
}

int64_t pg_rowimage_row(const pg_rowimage *ri)
{
    return ri->row;
}
