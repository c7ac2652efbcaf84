/* discover.c: finds chunks: TimescaleDB's view, and native RANGE partitions whose
 * bounds are evaluated by the server (cast to the key's type there), not parsed here. */
#include "discover.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/tstime.h"
#include "conn.h"

/* Unix microseconds from a timestamptz expression t, NULL when not finite. */
#define US(t) "CASE WHEN isfinite(" t ") THEN (extract(epoch FROM " t ") * 1000000)::bigint END"

static const char *tsdb_sql =
    "WITH c AS (SELECT * FROM timescaledb_information.chunks),"
    " h AS (SELECT DISTINCT hypertable_schema, hypertable_name FROM c),"
    " cs AS (SELECT s.chunk_schema, s.chunk_name, s.after_compression_total_bytes AS bytes"
    "        FROM h, LATERAL chunk_compression_stats("
    "          format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass) s)"
    " SELECT 't', c.hypertable_schema, c.hypertable_name, c.chunk_schema, c.chunk_name,"
    "  c.primary_dimension, format_type(c.primary_dimension_type, NULL),"
    "  c.primary_dimension_type::oid IN (20, 21, 23),"
    "  " US("c.range_start") ", " US(
        "c.range_end") ","
                       "  c.range_start_integer, c.range_end_integer, c.is_compressed,"
                       "  pg_total_relation_size(format('%I.%I', c.chunk_schema, "
                       "c.chunk_name)::regclass)"
                       "   + coalesce(cs.bytes, 0), NULL, NULL"
                       " FROM c LEFT JOIN cs ON cs.chunk_schema = c.chunk_schema AND cs.chunk_name "
                       "= c.chunk_name";

/* The bounds come from pg_get_expr(relpartbound): "FOR VALUES FROM (x) TO (y)"; the
 * server splits them and casts each literal to the key's type itself. */
static const char *part_sql =
    "SELECT 'p', pn.nspname, pc.relname, cn.nspname, cc.relname, a.attname,"
    "  format_type(a.atttypid, a.atttypmod), a.atttypid IN (20, 21, 23),"
    "  " US("lo.t") ", " US(
        "hi.t") ","
                "  CASE WHEN a.atttypid IN (20, 21, 23) AND b.lo NOT IN ('MINVALUE', 'MAXVALUE')"
                "   THEN b.lo::bigint END,"
                "  CASE WHEN a.atttypid IN (20, 21, 23) AND b.hi NOT IN ('MINVALUE', 'MAXVALUE')"
                "   THEN b.hi::bigint END,"
                "  false, pg_total_relation_size(cc.oid), b.lo, b.hi"
                " FROM pg_catalog.pg_partitioned_table pt"
                " JOIN pg_catalog.pg_class pc ON pc.oid = pt.partrelid"
                " JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace"
                " JOIN pg_catalog.pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = "
                "pt.partattrs[0]"
                " JOIN pg_catalog.pg_inherits i ON i.inhparent = pt.partrelid"
                " JOIN pg_catalog.pg_class cc ON cc.oid = i.inhrelid"
                " JOIN pg_catalog.pg_namespace cn ON cn.oid = cc.relnamespace"
                " CROSS JOIN LATERAL (SELECT regexp_match(pg_get_expr(cc.relpartbound, cc.oid),"
                "   '^FOR VALUES FROM \\((.*)\\) TO \\((.*)\\)$') AS m) r"
                " CROSS JOIN LATERAL (SELECT"
                "   CASE WHEN r.m[1] ~ '^''.*''$' THEN replace(substr(r.m[1], 2, length(r.m[1]) - "
                "2), '''''', '''')"
                "   ELSE r.m[1] END AS lo,"
                "   CASE WHEN r.m[2] ~ '^''.*''$' THEN replace(substr(r.m[2], 2, length(r.m[2]) - "
                "2), '''''', '''')"
                "   ELSE r.m[2] END AS hi) b"
                " CROSS JOIN LATERAL (SELECT CASE WHEN b.lo IN ('MINVALUE', 'MAXVALUE') THEN NULL"
                "   WHEN a.atttypid = 1184 THEN b.lo::timestamptz"
                "   WHEN a.atttypid = 1114 THEN b.lo::timestamp AT TIME ZONE 'UTC'"
                "   WHEN a.atttypid = 1082 THEN b.lo::date::timestamp AT TIME ZONE 'UTC' END AS t) "
                "lo"
                " CROSS JOIN LATERAL (SELECT CASE WHEN b.hi IN ('MINVALUE', 'MAXVALUE') THEN NULL"
                "   WHEN a.atttypid = 1184 THEN b.hi::timestamptz"
                "   WHEN a.atttypid = 1114 THEN b.hi::timestamp AT TIME ZONE 'UTC'"
                "   WHEN a.atttypid = 1082 THEN b.hi::date::timestamp AT TIME ZONE 'UTC' END AS t) "
                "hi"
                " WHERE pt.partstrat = 'r' AND pt.partnatts = 1 AND pt.partattrs[0] <> 0"
                "  AND NOT pc.relispartition AND cc.relkind = 'r' AND r.m IS NOT NULL"
                "  AND a.atttypid IN (1184, 1114, 1082, 20, 21, 23)";

void pg_chunk_clear(pg_chunk *ch)
{
    if (!ch)
        return;
    ts_free(ch->table_schema);
    ts_free(ch->table_name);
    ts_free(ch->chunk_schema);
    ts_free(ch->chunk_name);
    ts_free(ch->dimension);
    ts_free(ch->dimension_type);
    ts_free(ch->bound_from);
    ts_free(ch->bound_to);
    memset(ch, 0, sizeof *ch);
}

void pg_chunk_list_free(pg_chunk_list *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->n; i++)
        pg_chunk_clear(&l->items[i]);
    ts_free(l->items);
    l->items = NULL;
    l->n = 0;
}

bool pg_table_selected(const char *schema_table, char *const *include, char *const *exclude)
{
    bool in = !include || !include[0];
    for (int i = 0; include && include[i]; i++)
        if (fnmatch(include[i], schema_table, 0) == 0)
            in = true;
    for (int i = 0; in && exclude && exclude[i]; i++)
        if (fnmatch(exclude[i], schema_table, 0) == 0)
            in = false;
    return in;
}

static bool system_schema(const char *s)
{
    return strcmp(s, "tsarchive") == 0 || strcmp(s, "pg_catalog") == 0 ||
           strcmp(s, "information_schema") == 0 || strncmp(s, "_timescaledb", 12) == 0 ||
           strncmp(s, "timescaledb_", 12) == 0 || strncmp(s, "pg_toast", 8) == 0;
}

/* RFC 3339 UTC with microseconds only when non-zero; years outside 0001..9999 (which
 * PostgreSQL allows) as ISO 8601 expanded years, so nothing is cut. */
static void format_us(int64_t us, char *out, size_t n)
{
    _Static_assert(sizeof((pg_chunk *)0)->range_start >= TS_TIME_MAX, "room for any time");
    if (ts_time_format(us, TS_TIME_ANY_YEAR, out, n) != TS_OK)
        out[0] = '\0'; /* cannot happen: any time fits in TS_TIME_MAX */
}

static int fill_chunk(PGresult *r, int i, pg_chunk *ch, ts_err *err)
{
    ch->source = PQgetvalue(r, i, 0)[0] == 't' ? PG_SRC_TIMESCALEDB : PG_SRC_PARTITION;
    ch->table_schema = ts_strdup(PQgetvalue(r, i, 1));
    ch->table_name = ts_strdup(PQgetvalue(r, i, 2));
    ch->chunk_schema = ts_strdup(PQgetvalue(r, i, 3));
    ch->chunk_name = ts_strdup(PQgetvalue(r, i, 4));
    ch->dimension = ts_strdup(PQgetvalue(r, i, 5));
    ch->dimension_type = ts_strdup(PQgetvalue(r, i, 6));
    if (!ch->table_schema || !ch->table_name || !ch->chunk_schema || !ch->chunk_name ||
        !ch->dimension || !ch->dimension_type)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    ch->integer_range = PQgetvalue(r, i, 7)[0] == 't';
    if (ch->integer_range) {
        ch->has_start = !PQgetisnull(r, i, 10);
        ch->has_end = !PQgetisnull(r, i, 11);
        ch->start_int = ch->has_start ? strtoll(PQgetvalue(r, i, 10), NULL, 10) : 0;
        ch->end_int = ch->has_end ? strtoll(PQgetvalue(r, i, 11), NULL, 10) : 0;
        if (ch->has_start)
            snprintf(ch->range_start, sizeof ch->range_start, "%" PRId64, ch->start_int);
        if (ch->has_end)
            snprintf(ch->range_end, sizeof ch->range_end, "%" PRId64, ch->end_int);
    } else {
        ch->has_start = !PQgetisnull(r, i, 8);
        ch->has_end = !PQgetisnull(r, i, 9);
        ch->start_us = ch->has_start ? strtoll(PQgetvalue(r, i, 8), NULL, 10) : 0;
        ch->end_us = ch->has_end ? strtoll(PQgetvalue(r, i, 9), NULL, 10) : 0;
        if (ch->has_start)
            format_us(ch->start_us, ch->range_start, sizeof ch->range_start);
        if (ch->has_end)
            format_us(ch->end_us, ch->range_end, sizeof ch->range_end);
    }
    ch->compressed = PQgetvalue(r, i, 12)[0] == 't';
    ch->size_bytes = strtoll(PQgetvalue(r, i, 13), NULL, 10);
    if (!PQgetisnull(r, i, 14)) {
        ch->bound_from = ts_strdup(PQgetvalue(r, i, 14));
        ch->bound_to = ts_strdup(PQgetvalue(r, i, 15));
        if (!ch->bound_from || !ch->bound_to)
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    }
    return TS_OK;
}

static int cmp_chunk(const void *a, const void *b)
{
    const pg_chunk *x = a, *y = b;
    int c = strcmp(x->table_schema, y->table_schema);
    if (!c)
        c = strcmp(x->table_name, y->table_name);
    if (!c) {
        int64_t sx = x->integer_range ? x->start_int : x->start_us;
        int64_t sy = y->integer_range ? y->start_int : y->start_us;
        if (x->has_start != y->has_start)
            c = x->has_start ? 1 : -1;
        else
            c = sx < sy ? -1 : sx > sy;
    }
    if (!c)
        c = strcmp(x->chunk_name, y->chunk_name);
    return c;
}

/* Appends the rows of r that pass the filters. */
static int collect(PGresult *r, const ts_config *cfg, const pg_discover_filter *f,
                   const char *only_schema, const char *only_name, pg_chunk_list *out, ts_err *err)
{
    int n = PQntuples(r), rc;
    pg_chunk *items = ts_realloc(out->items, (size_t)(out->n + n + 1) * sizeof *items);
    if (!items)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    out->items = items;
    for (int i = 0; i < n; i++) {
        char st[2 * 64 + 2];
        if (only_schema && (strcmp(PQgetvalue(r, i, 3), only_schema) != 0 ||
                            strcmp(PQgetvalue(r, i, 4), only_name) != 0))
            continue;
        if (!only_schema && system_schema(PQgetvalue(r, i, 1)))
            continue;
        snprintf(st, sizeof st, "%s.%s", PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
        if (!only_schema && cfg &&
            !pg_table_selected(st, cfg->database.include, cfg->database.exclude))
            continue;
        /* "T" without a dot matches the table name in any schema */
        if (f && f->table &&
            fnmatch(f->table, strchr(f->table, '.') ? st : PQgetvalue(r, i, 2), 0) != 0)
            continue;
        pg_chunk *ch = &out->items[out->n];
        memset(ch, 0, sizeof *ch);
        out->n++;
        rc = fill_chunk(r, i, ch, err);
        if (rc)
            return rc;
        ch->retention_days = cfg ? ts_config_retention_days(cfg, st) : 0;
        ch->expired = !ch->integer_range && ch->has_end && ch->retention_days > 0 &&
                      ch->end_us <= out->now_us - (int64_t)ch->retention_days * 86400 * 1000000;
        if (f && f->expired_only && !ch->expired) {
            pg_chunk_clear(ch);
            out->n--;
        }
    }
    return TS_OK;
}

static int discover(PGconn *c, const ts_config *cfg, const pg_discover_filter *f,
                    const char *only_schema, const char *only_name, pg_chunk_list *out, ts_err *err)
{
    PGresult *r = NULL;
    int rc = TS_OK;
    memset(out, 0, sizeof *out);
    r = pg_query(c,
                 "SELECT (extract(epoch FROM now()) * 1000000)::bigint,"
                 " EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'timescaledb')",
                 0, NULL, err);
    if (!r)
        return err->code;
    out->now_us = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    bool tsdb = PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    if (tsdb) {
        r = pg_query(c, tsdb_sql, 0, NULL, err);
        if (!r) {
            rc = err->code;
            ts_err_prefix(err, "listing TimescaleDB chunks");
            goto out;
        }
        rc = collect(r, cfg, f, only_schema, only_name, out, err);
        PQclear(r);
        if (rc)
            goto out;
    }
    r = pg_query(c, part_sql, 0, NULL, err);
    if (!r) {
        rc = err->code;
        ts_err_prefix(err, "listing partitions");
        goto out;
    }
    rc = collect(r, cfg, f, only_schema, only_name, out, err);
    PQclear(r);
    if (rc)
        goto out;
    if (out->n > 1)
        qsort(out->items, (size_t)out->n, sizeof *out->items, cmp_chunk);
out:
    if (rc)
        pg_chunk_list_free(out);
    return rc;
}

int pg_discover(PGconn *c, const ts_config *cfg, const pg_discover_filter *f, pg_chunk_list *out,
                ts_err *err)
{
    return discover(c, cfg, f, NULL, NULL, out, err);
}

int pg_discover_chunk(PGconn *c, const ts_config *cfg, const char *chunk_schema,
                      const char *chunk_name, pg_chunk *out, ts_err *err)
{
    pg_chunk_list l;
    int rc;
    memset(out, 0, sizeof *out);
    rc = discover(c, cfg, NULL, chunk_schema, chunk_name, &l, err);
    if (rc)
        return rc;
    if (l.n == 0) {
        pg_chunk_list_free(&l);
        return ts_err_set(err, TS_ERR_NOTFOUND,
                          "\"%s\".\"%s\" is neither a TimescaleDB chunk nor a range partition",
                          chunk_schema, chunk_name);
    }
    *out = l.items[0];
    memset(&l.items[0], 0, sizeof l.items[0]);
    pg_chunk_list_free(&l);
    return TS_OK;
}

int pg_time_column(PGconn *c, const char *schema, const char *table, char **column, ts_err *err)
{
    const char *params[2] = {schema, table};
    PGresult *r;
    *column = NULL;
    r = pg_query(c,
                 "SELECT a.attname FROM pg_catalog.pg_partitioned_table pt"
                 " JOIN pg_catalog.pg_class pc ON pc.oid = pt.partrelid"
                 " JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace"
                 " JOIN pg_catalog.pg_attribute a ON a.attrelid = pt.partrelid"
                 "  AND a.attnum = pt.partattrs[0]"
                 " WHERE pn.nspname = $1 AND pc.relname = $2 AND pt.partnatts = 1",
                 2, params, err);
    if (!r)
        return err->code;
    if (PQntuples(r) == 0) {
        PQclear(r);
        r = pg_query(c,
                     "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension"
                     " WHERE extname = 'timescaledb')",
                     0, NULL, err);
        if (!r)
            return err->code;
        bool tsdb = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        r = NULL;
        if (tsdb) {
            r = pg_query(c,
                         "SELECT column_name FROM timescaledb_information.dimensions"
                         " WHERE hypertable_schema = $1 AND hypertable_name = $2"
                         " ORDER BY dimension_number LIMIT 1",
                         2, params, err);
            if (!r)
                return err->code;
        }
    }
    if (!r || PQntuples(r) == 0) {
        PQclear(r);
        return ts_err_set(err, TS_ERR_NOTFOUND,
                          "\"%s\".\"%s\" is neither a hypertable nor a range-partitioned table",
                          schema, table);
    }
    *column = ts_strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return *column ? TS_OK : ts_err_set(err, TS_ERR_NOMEM, "out of memory");
}
