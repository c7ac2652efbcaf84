/* restore.c: Parquet -> PostgreSQL. Checks the file's columns against the table's,
 * plans every column (rowimage.h: which binary encoding, or text plus a cast) before a
 * single row is sent, checks that the file's time range is free in the table, then
 * streams the rows, as binary COPY or as batched INSERTs with binary parameters, in one
 * transaction; into a hypertable, notes the chunks created and compresses them when
 * asked. Stored generated columns are left to the server. */
#include "restore.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/tstime.h"
#include "common/buf.h"
#include "common/log.h"
#include "conn.h"
#include "copybin.h"
#include "discover.h"
#include "export.h"
#include "parquet/reader.h"
#include "rowimage.h"
#include "types.h"

#define SEND_CHUNK (1 << 20)
#define INSERT_ROWS 1000       /* rows per INSERT, at most */
#define INSERT_PARAMS 65535    /* the protocol's limit on parameters */
#define INSERT_BYTES (4 << 20) /* bytes of values per INSERT, about */

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

/* One literal of a partition bound as pg_get_expr prints it: MINVALUE, MAXVALUE, a
 * number, or a single-quoted string ('' for a quote). Returns the end, NULL otherwise;
 * *out is the value (ts_free), *kw true for MINVALUE / MAXVALUE. */
static const char *bound_literal(const char *p, char **out, bool *kw)
{
    *out = NULL;
    *kw = false;
    if (strncmp(p, "MINVALUE", 8) == 0 || strncmp(p, "MAXVALUE", 8) == 0) {
        *kw = true;
        *out = ts_strndup(p, 8);
        return *out ? p + 8 : NULL;
    }
    if (*p == '\'') {
        ts_buf b;
        ts_buf_init(&b, 0);
        for (p++; *p; p++) {
            if (*p == '\'' && p[1] == '\'') {
                p++;
            } else if (*p == '\'') {
                *out = ts_strdup(ts_buf_cstr(&b));
                ts_buf_free(&b);
                return *out ? p + 1 : NULL;
            }
            if (ts_buf_append(&b, p, 1))
                break;
        }
        ts_buf_free(&b);
        return NULL;
    }
    const char *q = p;
    while (*q == '-' || *q == '+' || *q == '.' || (*q >= '0' && *q <= '9') || *q == 'e' ||
           *q == 'E')
        q++;
    if (q == p)
        return NULL;
    *out = ts_strndup(p, (size_t)(q - p));
    return *out ? q : NULL;
}

/* "FOR VALUES FROM (<lit>) TO (<lit>)" into its two literals; false for anything else
 * (the file is outside input: nothing of it reaches SQL but quoted literals). */
static bool parse_range_bound(const char *s, char **lo, char **hi, bool *lo_kw, bool *hi_kw)
{
    const char *p = s;
    *lo = *hi = NULL;
    if (strncmp(p, "FOR VALUES FROM (", 17) != 0)
        return false;
    if (!(p = bound_literal(p + 17, lo, lo_kw)) || strncmp(p, ") TO (", 6) != 0 ||
        !(p = bound_literal(p + 6, hi, hi_kw)) || strcmp(p, ")") != 0) {
        ts_free(*lo);
        ts_free(*hi);
        *lo = *hi = NULL;
        return false;
    }
    return true;
}

/* Re-creates a dropped native partition from its recorded bounds: under the recorded
 * table (a partition directly under it: partition_from / partition_to), or under its
 * recorded parent (a deeper partition of a multi-level tree, whose RANGE bound is
 * recorded as partition_bound). Only when restoring into the recorded table. */
static int recreate_partition(PGconn *c, const pq_reader *rd, const char *tschema,
                              const char *tname, const char *qtable, ts_err *err)
{
    char *cs = NULL, *cn = NULL, *qchunk = NULL, *lo = NULL, *hi = NULL, *ps = NULL, *pn = NULL,
         *qparent = NULL, *vlo = NULL, *vhi = NULL;
    const char *rs = pq_reader_kv(rd, PG_KV_RANGE);
    json_t *range = rs ? json_loads(rs, 0, NULL) : NULL;
    const char *from = json_string_value(json_object_get(range, "partition_from"));
    const char *to = json_string_value(json_object_get(range, "partition_to"));
    const char *bound = json_string_value(json_object_get(range, "partition_bound"));
    json_t *parent = json_object_get(range, "partition_parent");
    bool lo_kw = false, hi_kw = false;
    PGresult *r = NULL;
    ts_buf sql;
    int rc = TS_OK;
    ts_buf_init(&sql, 0);
    kv_pair(rd, PG_KV_CHUNK, &cs, &cn);
    if (!cs || !cn)
        goto out;
    if (from && to) {
        ps = ts_strdup(tschema);
        pn = ts_strdup(tname);
        vlo = ts_strdup(from);
        vhi = ts_strdup(to);
        lo_kw = strcmp(from, "MINVALUE") == 0;
        hi_kw = strcmp(to, "MAXVALUE") == 0;
    } else if (bound && json_is_array(parent) && json_array_size(parent) == 2 &&
               json_is_string(json_array_get(parent, 0)) &&
               json_is_string(json_array_get(parent, 1)) &&
               parse_range_bound(bound, &vlo, &vhi, &lo_kw, &hi_kw)) {
        ps = ts_strdup(json_string_value(json_array_get(parent, 0)));
        pn = ts_strdup(json_string_value(json_array_get(parent, 1)));
    } else {
        goto out;
    }
    if (!ps || !pn || !vlo || !vhi) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    const char *params[6] = {cs, cn, tschema, tname, ps, pn};
    /* the partition is gone, the table is partitioned, and the parent is in its tree */
    r = pg_query(c,
                 "SELECT to_regclass(format('%I.%I', $1::text, $2::text)) IS NULL AND EXISTS ("
                 " SELECT 1 FROM pg_catalog.pg_partitioned_table pt"
                 " JOIN pg_catalog.pg_class pc ON pc.oid = pt.partrelid"
                 " JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace"
                 " WHERE pn.nspname = $5 AND pc.relname = $6 AND pt.partstrat = 'r'"
                 "  AND (pc.oid = to_regclass(format('%I.%I', $3::text, $4::text))"
                 "   OR to_regclass(format('%I.%I', $3::text, $4::text)) IN"
                 "    (SELECT relid FROM pg_catalog.pg_partition_ancestors(pc.oid))))",
                 6, params, err);
    if (!r) {
        rc = err->code;
        goto out;
    }
    if (PQgetvalue(r, 0, 0)[0] != 't')
        goto out;
    qchunk = pg_qualified_name(c, cs, cn, err);
    qparent = qchunk ? pg_qualified_name(c, ps, pn, err) : NULL;
    lo = lo_kw ? ts_strdup(vlo) : pg_quote_literal(c, vlo, err);
    hi = hi_kw ? ts_strdup(vhi) : pg_quote_literal(c, vhi, err);
    if (!qchunk || !qparent || !lo || !hi) {
        rc = err->code ? err->code : ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (ts_buf_printf(&sql, "CREATE TABLE %s PARTITION OF %s FOR VALUES FROM (%s) TO (%s)", qchunk,
                      qparent, lo, hi)) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = pg_exec(c, ts_buf_cstr(&sql), err);
    if (!rc)
        ts_info("re-created partition %s of %s (table %s)", qchunk, qparent, qtable);
out:
    PQclear(r);
    json_decref(range);
    ts_buf_free(&sql);
    ts_free(cs);
    ts_free(cn);
    ts_free(ps);
    ts_free(pn);
    ts_free(vlo);
    ts_free(vhi);
    ts_free(qchunk);
    ts_free(qparent);
    ts_free(lo);
    ts_free(hi);
    return rc;
}

/* Appends the quoted names of cols, comma-separated. */
static int name_list(PGconn *c, const pg_columns *cols, ts_buf *out, ts_err *err)
{
    for (int j = 0; j < cols->ncols; j++) {
        char *q = pg_quote_ident(c, cols->cols[j].name, err);
        if (!q)
            return err->code ? err->code : ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        int rc = ts_buf_printf(out, "%s%s", j ? ", " : "", q);
        ts_free(q);
        if (rc)
            return ts_err_set(err, rc, "out of memory");
    }
    return TS_OK;
}

/* ---- the table's time column: range check and row filter ---- */

typedef struct timecol {
    int idx;       /* in the columns sent; -1: the table has none we can use */
    uint32_t type; /* 1184, 1114, 1082, 20, 21, 23 */
    const char *name;
    bool has_from, has_to;
    int64_t from, to; /* Unix microseconds (time types) or the integers */
} timecol;

static bool is_time_type(uint32_t t)
{
    return t == PG_OID_TIMESTAMPTZ || t == PG_OID_TIMESTAMP || t == PG_OID_DATE;
}

static bool is_int_type(uint32_t t)
{
    return t == PG_OID_INT2 || t == PG_OID_INT4 || t == PG_OID_INT8;
}

/* The value of the time column in a row image (PostgreSQL's binary form) as Unix
 * microseconds or the integer; false for NULL. Infinities saturate. */
static bool row_time(const timecol *tc, const pg_copy_field *f, int64_t *v)
{
    const pg_copy_field *x = &f[tc->idx];
    if (x->len < 0)
        return false;
    switch (tc->type) {
    case PG_OID_TIMESTAMPTZ:
    case PG_OID_TIMESTAMP: {
        int64_t t = x->len == 8 ? (int64_t)pg_be64(x->data) : 0;
        *v = t == INT64_MAX || t == INT64_MIN ? t
             : t > INT64_MAX - PG_EPOCH_US    ? INT64_MAX
                                              : t + PG_EPOCH_US;
        return true;
    }
    case PG_OID_DATE: {
        int32_t d = x->len == 4 ? (int32_t)pg_be32(x->data) : 0;
        *v = d == INT32_MAX   ? INT64_MAX
             : d == INT32_MIN ? INT64_MIN
                              : ((int64_t)d + PG_EPOCH_DAYS) * INT64_C(86400000000);
        return true;
    }
    case PG_OID_INT2:
        *v = x->len == 2 ? (int16_t)pg_be16(x->data) : 0;
        return true;
    case PG_OID_INT4:
        *v = x->len == 4 ? (int32_t)pg_be32(x->data) : 0;
        return true;
    default:
        *v = x->len == 8 ? (int64_t)pg_be64(x->data) : 0;
        return true;
    }
}

/* Whether the current row is inside --from / --to (a row without a time is not). */
static bool in_window(const timecol *tc, pg_rowimage *ri)
{
    int64_t v;
    if (!tc->has_from && !tc->has_to)
        return true;
    return row_time(tc, pg_rowimage_fields(ri), &v) && !(tc->has_from && v < tc->from) &&
           !(tc->has_to && v >= tc->to);
}

/* A bound given on the command line, for the column's type. */
static int parse_bound(const timecol *tc, const char *s, int64_t *v, ts_err *err)
{
    if (is_time_type(tc->type))
        return ts_time_parse(s, TS_TIME_LENIENT, v, err);
    char *e;
    errno = 0;
    long long x = strtoll(s, &e, 10);
    if (!*s || *e || errno)
        return ts_err_set(err, TS_ERR_INVALID,
                          "\"%s\" is not an integer (the time column \"%s\" is an integer)", s,
                          tc->name);
    *v = x;
    return TS_OK;
}

/* A value of the time column as a SQL literal of its type. */
static void time_literal(const timecol *tc, int64_t v, char *out, size_t n)
{
    char t[TS_TIME_MAX];
    if (is_int_type(tc->type)) {
        snprintf(out, n, "%" PRId64, v);
        return;
    }
    if (v == INT64_MAX || v == INT64_MIN) {
        snprintf(out, n, "'%sinfinity'::%s", v == INT64_MIN ? "-" : "",
                 tc->type == PG_OID_DATE        ? "date"
                 : tc->type == PG_OID_TIMESTAMP ? "timestamp"
                                                : "timestamptz");
        return;
    }
    if (ts_time_format(v, TS_TIME_ANY_YEAR, t, sizeof t) != 0)
        snprintf(t, sizeof t, "infinity");
    /* timestamp: the 'Z' is ignored, the wall clock is what the file holds */
    snprintf(out, n, "'%s'::%s", t,
             tc->type == PG_OID_DATE        ? "timestamp::date"
             : tc->type == PG_OID_TIMESTAMP ? "timestamp"
                                            : "timestamptz");
}

/* The file's time range on the column from its Parquet statistics (min and max over the
 * row groups, inclusive). false when a row group has none. */
static bool stats_range(const pq_reader *rd, const pq_reader_column *fc, int64_t *lo, int64_t *hi)
{
    const pq_file_meta *m = pq_reader_meta(rd);
    const pq_schema_node *nd = &m->schema[fc->node];
    bool any = false;
    if (fc->spec.list)
        return false;
    for (int g = 0; g < m->nrow_groups; g++) {
        const pq_row_group_meta *rg = &m->row_groups[g];
        if (rg->num_rows == 0)
            continue;
        if (fc->leaf >= rg->ncolumns)
            return false;
        const pq_chunk_meta *cm = &rg->columns[fc->leaf];
        if (!cm->has_stats || !cm->stats.has_min || !cm->stats.has_max)
            return false;
        const pq_stats *st = &cm->stats;
        int64_t a, b;
        if (nd->physical == PQ_INT64 && st->min_len == 8 && st->max_len == 8) {
            uint64_t ua = 0, ub = 0;
            for (int i = 7; i >= 0; i--) { /* PLAIN: little-endian */
                ua = ua << 8 | st->min[i];
                ub = ub << 8 | st->max[i];
            }
            a = (int64_t)ua;
            b = (int64_t)ub;
            if (nd->logical == PQ_LT_TIMESTAMP && nd->time_unit != PQ_UNIT_MICROS) {
                if (a == INT64_MAX || a == -INT64_MAX || b == INT64_MAX || b == -INT64_MAX)
                    return false;
                a = nd->time_unit == PQ_UNIT_MILLIS ? a * 1000 : a / 1000 - (a % 1000 < 0);
                b = nd->time_unit == PQ_UNIT_MILLIS ? b * 1000 : b / 1000;
            } else if (nd->logical == PQ_LT_TIMESTAMP) {
                a = a == -INT64_MAX ? INT64_MIN : a;
                b = b == -INT64_MAX ? INT64_MIN : b;
            }
        } else if (nd->physical == PQ_INT32 && st->min_len == 4 && st->max_len == 4) {
            int32_t ia = (int32_t)((uint32_t)st->min[0] | (uint32_t)st->min[1] << 8 |
                                   (uint32_t)st->min[2] << 16 | (uint32_t)st->min[3] << 24);
            int32_t ib = (int32_t)((uint32_t)st->max[0] | (uint32_t)st->max[1] << 8 |
                                   (uint32_t)st->max[2] << 16 | (uint32_t)st->max[3] << 24);
            if (nd->logical == PQ_LT_DATE) {
                a = ia == PQ_DATE_INF    ? INT64_MAX
                    : ia == PQ_DATE_NINF ? INT64_MIN
                                         : ia * INT64_C(86400000000);
                b = ib == PQ_DATE_INF    ? INT64_MAX
                    : ib == PQ_DATE_NINF ? INT64_MIN
                                         : ib * INT64_C(86400000000);
            } else {
                a = ia;
                b = ib;
            }
        } else {
            return false;
        }
        if (!any || a < *lo)
            *lo = a;
        if (!any || b > *hi)
            *hi = b;
        any = true;
    }
    if (!any) { /* no rows: an empty range */
        *lo = 1;
        *hi = 0;
    }
    return true;
}

/* The file's range from tsarchive.range (start inclusive, end exclusive). */
static bool recorded_range(const pq_reader *rd, const timecol *tc, int64_t *lo, int64_t *hi)
{
    const char *rs = pq_reader_kv(rd, PG_KV_RANGE);
    json_t *j = rs ? json_loads(rs, 0, NULL) : NULL;
    const char *s = json_string_value(json_object_get(j, "start"));
    const char *e = json_string_value(json_object_get(j, "end"));
    bool ok = false;
    ts_err ignore;
    if (s && e) {
        if (is_time_type(tc->type)) {
            ok = ts_time_scan(s, TS_TIME_LENIENT, lo) == NULL &&
                 ts_time_scan(e, TS_TIME_LENIENT, hi) == NULL;
        } else {
            timecol t = *tc;
            ok = parse_bound(&t, s, lo, &ignore) == 0 && parse_bound(&t, e, hi, &ignore) == 0;
        }
        if (ok && *hi != INT64_MIN)
            (*hi)--; /* inclusive */
    }
    json_decref(j);
    return ok;
}

/* Refuses a restore whose time range already holds rows in the table. */
static int check_free(PGconn *c, const pq_reader *rd, const pq_reader_column *fcols, int nf,
                      const timecol *tc, const char *qtable, bool *empty, ts_err *err)
{
    int64_t lo = 0, hi = 0;
    bool known = false;
    char llo[96], lhi[96], *col = NULL, sql[1200];
    PGresult *r;
    *empty = false;
    for (int i = 0; i < nf && !known; i++)
        if (strcmp(fcols[i].spec.name, tc->name) == 0)
            known = stats_range(rd, &fcols[i], &lo, &hi);
    if (!known)
        known = recorded_range(rd, tc, &lo, &hi);
    if (!known)
        return ts_err_set(err, TS_ERR_INVALID,
                          "cannot tell which range of \"%s\" the file covers (no statistics, no "
                          "tsarchive.range), so cannot make sure %s holds no rows there: use "
                          "--force-append to restore it anyway",
                          tc->name, qtable);
    if (tc->has_from && tc->from > lo)
        lo = tc->from;
    if (tc->has_to && (tc->to == INT64_MIN || tc->to - 1 < hi))
        hi = tc->to == INT64_MIN ? INT64_MIN : tc->to - 1;
    if (lo > hi) {
        *empty = true; /* nothing of the file is in the range asked for */
        return TS_OK;
    }
    if (!(col = pg_quote_ident(c, tc->name, err)))
        return err->code;
    time_literal(tc, lo, llo, sizeof llo);
    time_literal(tc, hi, lhi, sizeof lhi);
    /* dates: hi is the last microsecond of a day; compare as the day */
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM (SELECT 1 FROM %s WHERE %s >= %s AND %s <= %s LIMIT 1000) x",
             qtable, col, llo, col, lhi);
    ts_free(col);
    r = pg_query(c, sql, 0, NULL, err);
    if (!r)
        return err->code;
    long long n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    if (n > 0) {
        char a[TS_TIME_MAX], b[TS_TIME_MAX];
        if (is_int_type(tc->type)) {
            snprintf(a, sizeof a, "%" PRId64, lo);
            snprintf(b, sizeof b, "%" PRId64, hi);
        } else {
            if (ts_time_format(lo, TS_TIME_ANY_YEAR, a, sizeof a))
                snprintf(a, sizeof a, "-infinity");
            if (ts_time_format(hi, TS_TIME_ANY_YEAR, b, sizeof b))
                snprintf(b, sizeof b, "infinity");
        }
        return ts_err_set(err, TS_ERR_CONFLICT,
                          "%s already holds %s%lld row%s where \"%s\" is from %s to %s, the range "
                          "of the rows to restore: restoring them again would double them "
                          "(--force-append restores anyway)",
                          qtable, n >= 1000 ? "at least " : "", n, n == 1 ? "" : "s", tc->name, a,
                          b);
    }
    return TS_OK;
}

/* ---- hypertables: chunks before and after ---- */

/* The target's TimescaleDB facts: is it a hypertable, is compression enabled, and its
 * chunks now (a text[] literal, for telling the new ones later). */
static int hypertable_state(PGconn *c, const char *tschema, const char *tname, bool *is_ht,
                            bool *compress_on, int *ndims, char **chunks, ts_err *err)
{
    const char *params[2] = {tschema, tname};
    PGresult *r;
    *is_ht = *compress_on = false;
    *ndims = 0;
    *chunks = NULL;
    r = pg_query(c, "SELECT to_regclass('_timescaledb_catalog.hypertable') IS NOT NULL", 0, NULL,
                 err);
    if (!r)
        return err->code;
    bool tsdb = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!tsdb)
        return TS_OK;
    r = pg_query(c,
                 "SELECT h.compressed_hypertable_id IS NOT NULL, h.num_dimensions,"
                 " (SELECT coalesce(array_agg(x::text), '{}') FROM"
                 "   show_chunks(format('%I.%I', $1::text, $2::text)::regclass) x)"
                 " FROM _timescaledb_catalog.hypertable h WHERE h.schema_name = $1"
                 " AND h.table_name = $2",
                 2, params, err);
    if (!r)
        return err->code;
    if (PQntuples(r) == 1) {
        *is_ht = true;
        *compress_on = PQgetvalue(r, 0, 0)[0] == 't';
        *ndims = atoi(PQgetvalue(r, 0, 1));
        *chunks = ts_strdup(PQgetvalue(r, 0, 2));
        if (!*chunks) {
            PQclear(r);
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        }
    }
    PQclear(r);
    return TS_OK;
}

/* Counts the chunks the restore created and compresses them when asked. */
static int new_chunks(PGconn *c, const char *qtable_text, const char *before, bool compress,
                      pg_restore_result *res, ts_err *err)
{
    const char *params[2] = {qtable_text, before};
    PGresult *r = pg_query(c,
                           "SELECT x::text FROM show_chunks($1::regclass) x"
                           " WHERE x::text <> ALL ($2::text[]) ORDER BY 1",
                           2, params, err);
    if (!r)
        return err->code;
    res->chunks_created = PQntuples(r);
    for (int i = 0; compress && i < PQntuples(r); i++) {
        const char *p1[1] = {PQgetvalue(r, i, 0)};
        PGresult *cr = pg_query(c, "SELECT compress_chunk($1::regclass)", 1, p1, err);
        if (!cr) {
            ts_err_prefix(err, "compressing %s", PQgetvalue(r, i, 0));
            PQclear(r);
            return err->code;
        }
        PQclear(cr);
        res->chunks_compressed++;
    }
    PQclear(r);
    return TS_OK;
}

/* ---- writing rows: binary COPY, or batched INSERTs ---- */

typedef struct sink {
    PGconn *c;
    bool insert;
    /* COPY */
    ts_buf row;
    bool in_copy;
    /* INSERT */
    const char *qtable, *list;
    bool override;
    const pg_columns *cols;
    const pg_rowimage *ri;
    int ncols, batch_rows, rows;
    ts_buf vals;  /* the batch's values, back to back */
    int64_t *off; /* per parameter: offset in vals, -1 for NULL */
    int *len;
    Oid *types;
    int *formats;
    ts_buf sql;
} sink;

static int sink_open(sink *s, const char *copy_sql, ts_err *err)
{
    if (s->insert) {
        int max_rows = INSERT_PARAMS / (s->ncols ? s->ncols : 1);
        s->batch_rows = max_rows < INSERT_ROWS ? (max_rows ? max_rows : 1) : INSERT_ROWS;
        size_t np = (size_t)s->batch_rows * (size_t)s->ncols;
        s->off = ts_calloc(np ? np : 1, sizeof *s->off);
        s->len = ts_calloc(np ? np : 1, sizeof *s->len);
        s->types = ts_calloc(np ? np : 1, sizeof *s->types);
        s->formats = ts_calloc(np ? np : 1, sizeof *s->formats);
        if (!s->off || !s->len || !s->types || !s->formats)
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        /* binary values with the column's type; values the file keeps as text go in as
         * text of the column's type: the server's input function reads them (the cast) */
        for (size_t k = 0; k < np; k++) {
            int j = (int)(k % (size_t)s->ncols);
            s->types[k] = s->cols->cols[j].type_oid;
            s->formats[k] = pg_rowimage_is_text(s->ri, j) ? 0 : 1;
        }
        return TS_OK;
    }
    PGresult *r = PQexec(s->c, copy_sql);
    if (!r || PQresultStatus(r) != PGRES_COPY_IN) {
        int rc = pg_set_error(err, s->c, r, "could not start COPY");
        PQclear(r);
        return rc;
    }
    PQclear(r);
    s->in_copy = true;
    uint8_t hdr[19];
    memcpy(hdr, pg_copy_signature, 11);
    memset(hdr + 11, 0, 8);
    return ts_buf_append(&s->row, hdr, sizeof hdr) ? ts_err_set(err, TS_ERR_NOMEM, "out of memory")
                                                   : TS_OK;
}

static int flush_insert(sink *s, ts_err *err)
{
    int np = s->rows * s->ncols, rc = TS_OK;
    const char **values = NULL;
    PGresult *r = NULL;
    if (!s->rows)
        return TS_OK;
    ts_buf_reset(&s->sql);
    rc = ts_buf_printf(&s->sql, "INSERT INTO %s (%s)%s VALUES ", s->qtable, s->list,
                       s->override ? " OVERRIDING SYSTEM VALUE" : "");
    for (int i = 0; !rc && i < s->rows; i++) {
        rc = ts_buf_printf(&s->sql, "%s(", i ? ", " : "");
        for (int j = 0; !rc && j < s->ncols; j++)
            rc = ts_buf_printf(&s->sql, "%s$%d", j ? ", " : "", i * s->ncols + j + 1);
        if (!rc)
            rc = ts_buf_printf(&s->sql, ")");
    }
    if (rc || !(values = ts_calloc((size_t)np, sizeof *values))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int k = 0; k < np; k++)
        values[k] = s->off[k] < 0 ? NULL : (const char *)s->vals.data + s->off[k];
    r = PQexecParams(s->c, ts_buf_cstr(&s->sql), np, s->types, values, s->len, s->formats, 0);
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK) {
        rc = pg_set_error(err, s->c, r, "INSERT failed");
        goto out;
    }
    s->rows = 0;
    ts_buf_reset(&s->vals);
out:
    PQclear(r);
    ts_free(values);
    return rc;
}

static int sink_row(sink *s, ts_err *err)
{
    if (s->insert) {
        const pg_copy_field *f = pg_rowimage_fields(s->ri);
        for (int j = 0; j < s->ncols; j++) {
            int k = s->rows * s->ncols + j;
            if (f[j].len < 0) {
                s->off[k] = -1;
                s->len[k] = 0;
                continue;
            }
            s->off[k] = (int64_t)s->vals.len;
            s->len[k] = f[j].len;
            /* text values go as C strings: a NUL after each value */
            if (ts_buf_append(&s->vals, f[j].data, (size_t)f[j].len) ||
                ts_buf_append(&s->vals, "", 1))
                return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        }
        s->rows++;
        if (s->rows == s->batch_rows || s->vals.len >= INSERT_BYTES)
            return flush_insert(s, err);
        return TS_OK;
    }
    size_t tl;
    const uint8_t *tuple = pg_rowimage_tuple(s->ri, &tl);
    if (ts_buf_append(&s->row, tuple, tl))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    if (s->row.len >= SEND_CHUNK) {
        if (PQputCopyData(s->c, (const char *)s->row.data, (int)s->row.len) != 1)
            return pg_set_error(err, s->c, NULL, "sending rows failed");
        ts_buf_reset(&s->row);
    }
    return TS_OK;
}

static int sink_close(sink *s, ts_err *err)
{
    if (s->insert)
        return flush_insert(s, err);
    uint8_t trailer[2] = {0xff, 0xff};
    if (ts_buf_append(&s->row, trailer, 2))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    if (PQputCopyData(s->c, (const char *)s->row.data, (int)s->row.len) != 1 ||
        PQputCopyEnd(s->c, NULL) != 1)
        return pg_set_error(err, s->c, NULL, "sending rows failed");
    s->in_copy = false;
    PGresult *r = PQgetResult(s->c);
    int rc = TS_OK;
    if (!r || PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = pg_set_error(err, s->c, r, "COPY failed");
    PQclear(r);
    while ((r = PQgetResult(s->c)) != NULL)
        PQclear(r);
    return rc;
}

static void sink_free(sink *s)
{
    PGresult *r;
    if (s->in_copy && PQputCopyEnd(s->c, "restore aborted by tsarchive") == 1)
        while ((r = PQgetResult(s->c)) != NULL)
            PQclear(r);
    ts_buf_free(&s->row);
    ts_buf_free(&s->vals);
    ts_buf_free(&s->sql);
    ts_free(s->off);
    ts_free(s->len);
    ts_free(s->types);
    ts_free(s->formats);
}

/* The table's time column: of a partition tree, the key of its topmost level that is
 * RANGE on one column of a time or integer type (the root of a tree partitioned by LIST
 * first has another key), as discovery picks it; of a hypertable, its first dimension. */
static int time_column(PGconn *c, const char *schema, const char *table, char **column, ts_err *err)
{
    const char *params[2] = {schema, table};
    PGresult *r = pg_query(c,
                           "SELECT a.attname FROM pg_catalog.pg_partition_tree("
                           "  to_regclass(format('%I.%I', $1::text, $2::text))) t"
                           " JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = t.relid"
                           " JOIN pg_catalog.pg_attribute a ON a.attrelid = pt.partrelid"
                           "  AND a.attnum = pt.partattrs[0]"
                           " WHERE pt.partstrat = 'r' AND pt.partnatts = 1"
                           "  AND a.atttypid IN (1184, 1114, 1082, 20, 21, 23)"
                           " ORDER BY t.level LIMIT 1",
                           2, params, err);
    *column = NULL;
    if (!r)
        return err->code;
    if (PQntuples(r) == 1) {
        *column = ts_strdup(PQgetvalue(r, 0, 0));
        PQclear(r);
        return *column ? TS_OK : ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    }
    PQclear(r);
    return pg_time_column(c, schema, table, column, err);
}

/* Whether the time column alone decides where a row goes: every partitioned table of the
 * tree is RANGE on it (a LIST or HASH level, or another key, puts rows of the same time
 * in other partitions, which hold rows of the file's range legitimately). */
static int time_decides(PGconn *c, const char *schema, const char *table, const char *col,
                        bool *yes, ts_err *err)
{
    const char *params[3] = {schema, table, col};
    PGresult *r = pg_query(c,
                           "SELECT count(*) = 0 FROM pg_catalog.pg_partition_tree("
                           "  to_regclass(format('%I.%I', $1::text, $2::text))) t"
                           " JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = t.relid"
                           " LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = pt.partrelid"
                           "  AND a.attnum = pt.partattrs[0]"
                           " WHERE NOT (pt.partstrat = 'r' AND pt.partnatts = 1"
                           "  AND a.attname IS NOT DISTINCT FROM $3::name)",
                           3, params, err);
    if (!r)
        return err->code;
    *yes = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return TS_OK;
}

/* Refuses when the table already holds the first row to be restored, before anything is
 * written: the file (or this window of it) was restored already. Every column is
 * compared on its text form (json and point have no equality), the time column also by
 * value (its index). */
static int check_first_row(PGconn *c, const char *qtable, const pg_columns *cols,
                           const pg_rowimage *ri, const timecol *tc, ts_err *err)
{
    const pg_copy_field *f = pg_rowimage_fields(ri);
    int n = cols->ncols, rc = TS_OK, k = 0;
    const char **values = ts_calloc((size_t)n + 1, sizeof *values);
    int *lens = ts_calloc((size_t)n + 1, sizeof *lens),
        *fmts = ts_calloc((size_t)n + 1, sizeof *fmts);
    Oid *types = ts_calloc((size_t)n + 1, sizeof *types);
    char **texts = ts_calloc((size_t)n + 1, sizeof *texts);
    ts_buf sql;
    PGresult *r = NULL;
    ts_buf_init(&sql, 0);
    if (!values || !lens || !fmts || !types || !texts) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = ts_buf_printf(&sql, "SELECT count(*) FROM (SELECT 1 FROM %s WHERE true", qtable);
    for (int j = 0; !rc && j < n; j++) {
        char *q = pg_quote_ident(c, cols->cols[j].name, err);
        if (!q) {
            rc = err->code;
            goto out;
        }
        bool text = pg_rowimage_is_text(ri, j);
        types[k] = cols->cols[j].type_oid;
        fmts[k] = text ? 0 : 1;
        lens[k] = f[j].len < 0 ? 0 : f[j].len;
        if (f[j].len >= 0 && text) {
            texts[k] = ts_strndup((const char *)f[j].data, (size_t)f[j].len);
            if (!texts[k]) {
                ts_free(q);
                rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
                goto out;
            }
            values[k] = texts[k];
        } else {
            values[k] = f[j].len < 0 ? NULL : (const char *)f[j].data;
        }
        k++;
        if (f[j].len >= 0 && tc->idx == j)
            rc = ts_buf_printf(&sql, " AND %s = $%d", q, k);
        if (!rc)
            rc = ts_buf_printf(&sql, " AND %s::text IS NOT DISTINCT FROM $%d::text", q, k);
        ts_free(q);
    }
    if (!rc)
        rc = ts_buf_printf(&sql, " LIMIT 1) x");
    if (rc) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    r = PQexecParams(c, ts_buf_cstr(&sql), k, types, values, lens, fmts, 0);
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = pg_set_error(err, c, r, "checking for rows restored already");
        goto out;
    }
    if (PQgetvalue(r, 0, 0)[0] != '0')
        rc = ts_err_set(err, TS_ERR_CONFLICT,
                        "%s already holds the first row to restore: the file (or this range of "
                        "it) was restored already, and restoring it again would double its rows "
                        "(--force-append restores anyway)",
                        qtable);
out:
    PQclear(r);
    for (int j = 0; texts && j < n; j++)
        ts_free(texts[j]);
    ts_free(texts);
    ts_free(values);
    ts_free(lens);
    ts_free(fmts);
    ts_free(types);
    ts_buf_free(&sql);
    return rc;
}

/* PGlite (PostgreSQL compiled to WebAssembly) breaks on COPY ... FROM STDIN. */
static int server_is_pglite(PGconn *c, bool *yes, ts_err *err)
{
    PGresult *r = pg_query(c, "SELECT version() ILIKE '%emscripten%'", 0, NULL, err);
    if (!r)
        return err->code;
    *yes = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return TS_OK;
}

int pg_restore_reader(PGconn *c, pq_reader *rd, const char *label, const pg_restore_options *opt,
                      pg_restore_result *res, ts_err *err)
{
    const pq_reader_column *fcols = NULL;
    int nf = 0, rc;
    char *tschema = NULL, *tname = NULL, *qtable = NULL, *tcolname = NULL, *before = NULL;
    pg_columns *tcols = NULL;
    pg_columns sent = {NULL, 0}; /* the columns written: all but stored generated */
    pg_rowimage *ri = NULL;
    json_t *meta_cols = NULL;
    ts_buf sql, list;
    bool staged = false, in_tx = false, override = false, is_ht = false, compress_on = false;
    bool by_time = false, opened = false;
    int ndims = 0;
    timecol tc = {.idx = -1};
    sink sk;
    int64_t rows = 0, skipped = 0;

    memset(res, 0, sizeof *res);
    memset(&sk, 0, sizeof sk);
    ts_buf_init(&sql, 0);
    ts_buf_init(&list, 0);
    ts_buf_init(&sk.row, 0);
    ts_buf_init(&sk.vals, 0);
    ts_buf_init(&sk.sql, 0);
    sk.c = c;

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

    /* ---- check and plan every column before anything is written ---- */
    const char *mc = pq_reader_kv(rd, PG_KV_COLUMNS);
    meta_cols = mc ? json_loads(mc, 0, NULL) : NULL;
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
    sent.cols = ts_calloc((size_t)tcols->ncols, sizeof *sent.cols);
    if (!sent.cols) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int j = 0; j < tcols->ncols; j++) {
        const pg_column *t = &tcols->cols[j];
        int fcol = -1;
        for (int i = 0; i < nf; i++)
            if (strcmp(fcols[i].spec.name, t->name) == 0)
                fcol = i;
        if (fcol < 0 && !t->generated) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "column mismatch: %s has column \"%s\", the file does not", qtable,
                            t->name);
            goto out;
        }
        /* a tsarchive file records each column's PostgreSQL type: it must be the same */
        json_t *m = fcol >= 0 ? json_array_get(meta_cols, (size_t)fcol) : NULL;
        const char *ft = json_string_value(json_object_get(m, "pg_type"));
        if (ft && strcmp(ft, t->pg_type) != 0) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "column mismatch: \"%s\" is %s in the file but %s in %s", t->name, ft,
                            t->pg_type, qtable);
            goto out;
        }
        if (t->generated) /* GENERATED ALWAYS AS (...) STORED: the server computes it */
            continue;
        override = override || t->identity == 'a';
        sent.cols[sent.ncols++] = *t; /* borrows t's strings */
    }
    rc = pg_rowimage_new(&ri, rd, &sent, err);
    if (rc)
        goto out;
    for (int j = 0; j < sent.ncols; j++)
        staged = staged || pg_rowimage_is_text(ri, j);
    rc = name_list(c, &sent, &list, err);
    if (rc)
        goto out;

    /* ---- the time column: the range check and the --from / --to filter ---- */
    rc = time_column(c, tschema, tname, &tcolname, err);
    if (rc == TS_ERR_NOTFOUND && opt && (opt->from || opt->to)) {
        /* a plain table restored into (--into): the time column of the table the file
         * was archived from, when that is still there */
        char *sschema = NULL, *sname = NULL;
        kv_pair(rd, PG_KV_TABLE, &sschema, &sname);
        ts_err_clear(err);
        rc = sschema && sname ? time_column(c, sschema, sname, &tcolname, err) : TS_ERR_NOTFOUND;
        ts_free(sschema);
        ts_free(sname);
    }
    if (rc == TS_ERR_NOTFOUND) {
        ts_err_clear(err);
        rc = TS_OK;
    } else if (rc) {
        goto out;
    }
    for (int j = 0; tcolname && j < sent.ncols; j++)
        if (strcmp(sent.cols[j].name, tcolname) == 0 &&
            (is_time_type(sent.cols[j].type_oid) || is_int_type(sent.cols[j].type_oid)) &&
            !pg_rowimage_is_text(ri, j)) {
            tc.idx = j;
            tc.type = sent.cols[j].type_oid;
            tc.name = sent.cols[j].name;
        }
    if (opt && (opt->from || opt->to)) {
        if (tc.idx < 0) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "--from / --to need a time or integer column: %s is partitioned on "
                            "none, and neither is the table the file was archived from",
                            qtable);
            goto out;
        }
        if ((opt->from && (rc = parse_bound(&tc, opt->from, &tc.from, err)) != 0) ||
            (opt->to && (rc = parse_bound(&tc, opt->to, &tc.to, err)) != 0))
            goto out;
        tc.has_from = opt->from != NULL;
        tc.has_to = opt->to != NULL;
    }
    rc = hypertable_state(c, tschema, tname, &is_ht, &compress_on, &ndims, &before, err);
    if (rc)
        goto out;
    /* the range check is sound where time alone places rows: a hypertable of one
     * dimension, a tree partitioned on time at every level */
    if (tc.idx >= 0 && is_ht)
        by_time = ndims == 1;
    else if (tc.idx >= 0 && (rc = time_decides(c, tschema, tname, tc.name, &by_time, err)) != 0)
        goto out;
    if (opt && opt->compress && !is_ht) {
        rc = ts_err_set(err, TS_ERR_INVALID, "--compress: %s is not a TimescaleDB hypertable",
                        qtable);
        goto out;
    }
    if (opt && opt->compress && !compress_on) {
        rc = ts_err_set(err, TS_ERR_INVALID,
                        "--compress: compression is not enabled on %s (ALTER TABLE ... SET "
                        "(timescaledb.compress))",
                        qtable);
        goto out;
    }
    sk.insert = opt && opt->method == PG_RESTORE_INSERT;
    if ((!opt || opt->method == PG_RESTORE_AUTO) &&
        (rc = server_is_pglite(c, &sk.insert, err)) != 0)
        goto out;
    res->used_insert = sk.insert;

    /* ---- one transaction ---- */
    rc = pg_exec(c, "BEGIN", err);
    if (rc)
        goto out;
    in_tx = true;
    if (by_time && !(opt && opt->force_append)) {
        bool empty = false;
        if ((rc = check_free(c, rd, fcols, nf, &tc, qtable, &empty, err)) != 0)
            goto out;
        if (empty) { /* nothing in the range asked for: a no-op */
            skipped = pq_reader_num_rows(rd);
            rc = pg_exec(c, "COMMIT", err);
            in_tx = false;
            goto done;
        }
    }
    if (opt && opt->check_only) {
        /* the range was free; the first row to restore must be absent too */
        for (;;) {
            int more = pg_rowimage_next(ri, err);
            if (more < 0) {
                rc = more;
                goto out;
            }
            if (more == 0)
                break;
            if (!in_window(&tc, ri))
                continue;
            if (!opt->force_append && (rc = check_first_row(c, qtable, &sent, ri, &tc, err)) != 0)
                goto out;
            break;
        }
        goto done; /* nothing written: the transaction is rolled back */
    }
    if (!opt || !opt->into_table) {
        rc = recreate_partition(c, rd, tschema, tname, qtable, err);
        if (rc)
            goto out;
    }
    if (staged && !sk.insert) {
        rc = ts_buf_printf(&sql, "CREATE TEMP TABLE tsarchive_restore (");
        for (int j = 0; !rc && j < sent.ncols; j++) {
            char *q = pg_quote_ident(c, sent.cols[j].name, err);
            if (!q) {
                rc = err->code;
                goto out;
            }
            rc = ts_buf_printf(&sql, "%s%s %s", j ? ", " : "", q,
                               pg_rowimage_is_text(ri, j) ? "text" : sent.cols[j].pg_type);
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
        /* COPY writes identity columns, ALWAYS ones included, with the values given */
        rc = ts_buf_printf(&sql, "COPY %s (%s) FROM STDIN (FORMAT binary)", qtable,
                           ts_buf_cstr(&list));
    }
    if (rc) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    sk.qtable = qtable;
    sk.list = ts_buf_cstr(&list);
    sk.override = override;
    sk.cols = &sent;
    sk.ri = ri;
    sk.ncols = sent.ncols;
    for (;;) {
        int more = pg_rowimage_next(ri, err);
        if (more < 0) {
            rc = more;
            goto out;
        }
        if (more == 0)
            break;
        if (!in_window(&tc, ri)) {
            skipped++;
            continue;
        }
        if (!opened) {
            /* before anything is written (and before COPY: no query runs inside one) */
            if (!(opt && opt->force_append) &&
                (rc = check_first_row(c, qtable, &sent, ri, &tc, err)) != 0)
                goto out;
            if ((rc = sink_open(&sk, ts_buf_cstr(&sql), err)) != 0)
                goto out;
            opened = true;
        }
        if ((rc = sink_row(&sk, err)) != 0)
            goto out;
        rows++;
    }
    if (opened && (rc = sink_close(&sk, err)) != 0)
        goto out;
    if (staged && !sk.insert) {
        /* INSERT, unlike COPY, refuses values for GENERATED ALWAYS identity columns
         * unless told to keep them */
        ts_buf_reset(&sql);
        rc = ts_buf_printf(&sql, "INSERT INTO %s (%s)%s SELECT ", qtable, ts_buf_cstr(&list),
                           override ? " OVERRIDING SYSTEM VALUE" : "");
        for (int j = 0; !rc && j < sent.ncols; j++) {
            char *q = pg_quote_ident(c, sent.cols[j].name, err);
            if (!q) {
                rc = err->code;
                goto out;
            }
            bool text = pg_rowimage_is_text(ri, j);
            rc = ts_buf_printf(&sql, "%s%s%s%s", j ? ", " : "", q, text ? "::" : "",
                               text ? sent.cols[j].pg_type : "");
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
    if (is_ht && before) {
        /* show_chunks takes the table's text form as regclass input */
        char *qt = pg_qualified_name(c, tschema, tname, err);
        if (!qt) {
            rc = err->code;
            goto out;
        }
        rc = new_chunks(c, qt, before, opt && opt->compress, res, err);
        ts_free(qt);
        if (rc)
            goto out;
    }
    rc = pg_exec(c, "COMMIT", err);
    in_tx = false;
    if (rc)
        goto out;
done:
    res->rows = rows;
    res->rows_skipped = skipped;
out:
    sink_free(&sk);
    if (in_tx && PQstatus(c) == CONNECTION_OK) {
        ts_err ignore;
        ts_err_clear(&ignore);
        if (pg_exec(c, "ROLLBACK", &ignore) != TS_OK)
            ts_debug("rollback failed: %s", ignore.msg);
    }
    if (rc) {
        res->chunks_created = res->chunks_compressed = 0;
        if (label)
            ts_err_prefix(err, "restoring \"%s\"", label);
    }
    json_decref(meta_cols);
    pg_rowimage_free(ri);
    ts_free(sent.cols);
    pg_columns_free(tcols);
    ts_free(tschema);
    ts_free(tname);
    ts_free(qtable);
    ts_free(tcolname);
    ts_free(before);
    ts_buf_free(&sql);
    ts_buf_free(&list);
    return rc;
}

int pg_restore_file(PGconn *c, const char *path, const pg_restore_options *opt,
                    pg_restore_result *res, ts_err *err)
{
    pq_reader *rd = NULL;
    int rc = pq_reader_open_file(&rd, path, NULL, err);
    if (rc) {
        memset(res, 0, sizeof *res);
        ts_err_prefix(err, "restoring \"%s\"", path);
        return rc;
    }
    rc = pg_restore_reader(c, rd, path, opt, res, err);
    pq_reader_free(rd);
    return rc;
}
