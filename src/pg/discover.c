/* discover.c: finds chunks: TimescaleDB's catalog (chunks, their slices on the first
 * dimension, integer_now functions, continuous aggregates' materialized hypertables) and
 * the leaves of native partition trees, whose bounds are evaluated by the server (cast
 * to the key's type there), not parsed here. Expiry, integer time and sizes are decided
 * client-side; the two catalog queries are the only per-chunk work on the server. */
#include "discover.h"

#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/tstime.h"
#include "conn.h"
#include "inttime.h"

#define US_PER_DAY INT64_C(86400000000)
#define YEAR_US (366 * US_PER_DAY)

/* TimescaleDB, straight from its catalog (timescaledb_information.chunks reads the same
 * tables): first the hypertables, each with its primary dimension (the lowest id, as in
 * the view), its integer_now function and, for an aggregate's materialized hypertable,
 * the aggregate; then the chunks of the hypertables the filters keep, only the expired
 * ones when only those are asked for (the cutoff per hypertable, in its internal units).
 * Ranges are TimescaleDB's internal values: Unix microseconds for time types, the
 * integers for integer types; INT64_MIN / INT64_MAX mean unbounded. Every join is on an
 * indexed key and there is no correlated subquery, so any plan the server picks is
 * linear in the chunks; the chunk rows carry only what differs per chunk (PGlite spends
 * more on sending rows than on finding them). */
static const char *ht_sql =
    "SELECT h.id, h.schema_name, h.table_name, d.id, d.column_name,"
    "  format_type(d.column_type, NULL), d.column_type::oid, d.integer_now_func_schema,"
    "  d.integer_now_func, ca.user_view_schema, ca.user_view_name"
    " FROM _timescaledb_catalog.hypertable h"
    " JOIN _timescaledb_catalog.dimension d ON d.hypertable_id = h.id"
    "  AND NOT EXISTS (SELECT 1 FROM _timescaledb_catalog.dimension d0"
    "   WHERE d0.hypertable_id = d.hypertable_id AND d0.id < d.id)"
    " LEFT JOIN _timescaledb_catalog.continuous_agg ca ON ca.mat_hypertable_id = h.id"
    " WHERE h.schema_name NOT LIKE '\\_timescaledb%' OR ca.mat_hypertable_id IS NOT NULL";

/* One row per hypertable, its chunks packed in one text, a line each:
 *   <start> <end> <compressed 0|1> <oid> <pages> <compressed bytes> <n>:<schema><n>:<name>
 * (names prefixed by their length in bytes: they may hold any character). PGlite spends
 * more on each row it sends than on finding it (20,000 chunk rows: 0.4 to 0.9 s; packed:
 * 0.35 s under the same load); PostgreSQL does not mind either way. pages: the catalog's
 * pages of the chunk, its TOAST table and its indexes (summed by a GROUP BY on the tables'
 * keys, not a subquery per chunk), -1 when the chunk was never vacuumed or analyzed.
 * %s: is_compressed; %s: the filter on OSM (tiered) chunks, when the catalog has it. */
/* (pg_class has a primary key, for functional dependency, from PostgreSQL 14 on,
 * compression_chunk_size on chunk_id alone from TimescaleDB 2.9 on: the GROUP BY names
 * their columns.) A macro, so that the compiler checks the format's arguments. */
#define CHUNK_SQL_FMT \
    "SELECT i, string_agg(l, E'\\n') FROM (SELECT sel.i, concat(ds.range_start, ' '," \
    "  ds.range_end, ' ', CASE WHEN %s THEN 1 ELSE 0 END, ' ', rel.oid, ' '," \
    "  CASE WHEN rel.reltuples >= 0 THEN rel.relpages::bigint + coalesce(t.relpages, 0)" \
    "   + coalesce(sum(ic.relpages), 0) ELSE -1 END, ' '," \
    "  coalesce(s.compressed_heap_size + s.compressed_toast_size + s.compressed_index_size, 0)," \
    "  ' ', octet_length(ch.schema_name), ':', ch.schema_name, octet_length(ch.table_name), ':'," \
    "  ch.table_name) AS l" \
    " FROM unnest($1::int[], $2::int[], $3::bigint[], $4::int[]) sel(id, dim, cutoff, i)" \
    " JOIN _timescaledb_catalog.chunk ch ON ch.hypertable_id = sel.id" \
    " JOIN _timescaledb_catalog.chunk_constraint cc ON cc.chunk_id = ch.id" \
    " JOIN _timescaledb_catalog.dimension_slice ds ON ds.id = cc.dimension_slice_id" \
    "  AND ds.dimension_id = sel.dim" \
    " JOIN pg_catalog.pg_namespace rn ON rn.nspname = ch.schema_name" \
    " JOIN pg_catalog.pg_class rel ON rel.relnamespace = rn.oid AND rel.relname = ch.table_name" \
    " LEFT JOIN pg_catalog.pg_class t ON t.oid = rel.reltoastrelid" \
    " LEFT JOIN pg_catalog.pg_index x ON x.indrelid = rel.oid" \
    " LEFT JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid" \
    " LEFT JOIN _timescaledb_catalog.compression_chunk_size s ON s.chunk_id = ch.id" \
    " WHERE NOT ch.dropped%s AND (sel.cutoff IS NULL OR ds.range_end <= sel.cutoff)" \
    "  AND ($5::text IS NULL OR (ch.schema_name = $5 AND ch.table_name = $6))" \
    " GROUP BY sel.i, ch.id, ds.id, rel.oid, rel.reltuples, rel.relpages, t.relpages," \
    "  s.compressed_heap_size, s.compressed_toast_size, s.compressed_index_size) y GROUP BY i"

/* (Each LATERAL step ends in OFFSET 0: without the fence the planner pulls the steps
 * up into one expression and evaluates every step again at each use of its result,
 * regexp and pg_get_expr dozens of times a row: 4,000 partitions took 2.5 s.)
 * Native partitions: one row per leaf and per partition on its way up (the leaf itself
 * first, pg_partition_ancestors order), each with its parent's partitioning and its own
 * bound. Bounds come from pg_get_expr(relpartbound): "FOR VALUES FROM (x) TO (y)" is
 * split and each literal cast to the key's type by the server itself. */
#define BOUND_CAST(x)                                                                              \
    "CASE WHEN " x " IN ('MINVALUE', 'MAXVALUE') THEN NULL"                                        \
    "   WHEN ka.atttypid = 1184 THEN " x "::timestamptz"                                           \
    "   WHEN ka.atttypid = 1114 THEN " x "::timestamp AT TIME ZONE 'UTC'"                          \
    "   WHEN ka.atttypid = 1082 THEN " x "::date::timestamp AT TIME ZONE 'UTC' END"
#define US(t) "CASE WHEN isfinite(" t ") THEN (extract(epoch FROM " t ") * 1000000)::bigint END"
#define UNQUOTE(x)                                                                                 \
    "CASE WHEN " x " ~ '^''.*''$' THEN replace(substr(" x ", 2, length(" x ") - 2), '''''', '''')" \
    " ELSE " x " END"

static const char *part_sql =
    "SELECT l.oid, ln.nspname, l.relname, a.ord, mn.nspname, m.relname, pn.nspname, p.relname,"
    "  p.relispartition, pt.partstrat, ka.attname, format_type(ka.atttypid, ka.atttypmod),"
    "  ka.atttypid, pg_get_expr(m.relpartbound, m.oid), m.relpartbound IS NOT NULL"
    "   AND pg_get_expr(m.relpartbound, m.oid) = 'DEFAULT',"
    "  " US("lo.t") ", " US(
        "hi.t") ","
                "  CASE WHEN ka.atttypid IN (20, 21, 23) AND b.lo NOT IN ('MINVALUE', 'MAXVALUE')"
                "   THEN b.lo::bigint END,"
                "  CASE WHEN ka.atttypid IN (20, 21, 23) AND b.hi NOT IN ('MINVALUE', 'MAXVALUE')"
                "   THEN b.hi::bigint END,"
                "  b.lo, b.hi, l.reltuples >= 0, l.relpages::bigint + coalesce(t.relpages, 0)"
                " FROM pg_catalog.pg_class l"
                " JOIN pg_catalog.pg_namespace ln ON ln.oid = l.relnamespace"
                " LEFT JOIN pg_catalog.pg_class t ON t.oid = l.reltoastrelid"
                " CROSS JOIN LATERAL pg_catalog.pg_partition_ancestors(l.oid) WITH ORDINALITY "
                "a(relid, ord)"
                " JOIN pg_catalog.pg_class m ON m.oid = a.relid AND m.relispartition"
                " JOIN pg_catalog.pg_namespace mn ON mn.oid = m.relnamespace"
                " JOIN pg_catalog.pg_inherits i ON i.inhrelid = m.oid"
                " JOIN pg_catalog.pg_class p ON p.oid = i.inhparent"
                " JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace"
                " JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid = p.oid"
                " LEFT JOIN pg_catalog.pg_attribute ka ON ka.attrelid = p.oid AND pt.partnatts = 1"
                "  AND ka.attnum = pt.partattrs[0] AND pt.partattrs[0] <> 0"
                "  AND ka.atttypid IN (1184, 1114, 1082, 20, 21, 23)"
                " CROSS JOIN LATERAL (SELECT CASE WHEN pt.partstrat = 'r' AND ka.attname IS NOT "
                "NULL THEN"
                "   regexp_match(pg_get_expr(m.relpartbound, m.oid),"
                "   '^FOR VALUES FROM \\((.*)\\) TO \\((.*)\\)$') END AS rm OFFSET 0) r"
                " CROSS JOIN LATERAL (SELECT " UNQUOTE("r.rm[1]") " AS lo, " UNQUOTE(
                    "r.rm[2]") " AS hi OFFSET 0) b"
                               " CROSS JOIN LATERAL (SELECT " BOUND_CAST(
                                   "b.lo") " AS t OFFSET 0) lo"
                                           " CROSS JOIN LATERAL (SELECT " BOUND_CAST(
                                               "b.hi") " AS t OFFSET 0) hi"
                                                       " WHERE l.relispartition AND l.relkind = 'r'"
                                                       "  AND ($1::text IS NULL OR (ln.nspname = "
                                                       "$1 AND l.relname = $2))"
                                                       " ORDER BY l.oid, a.ord";

/* What discovery decides once per table (a hypertable, or a partition tree's root). */
typedef struct tinfo {
    int id, dim_id; /* TimescaleDB's ids; 0 for partitions */
    const char *schema, *name, *dim, *dim_type, *now_schema, *now_func, *view_schema, *view_name;
    bool integer, is_cagg, keep;
    char cfg_name[2 * 64 + 2]; /* "schema.table" for the config (an aggregate's view name
                                  for its materialized hypertable, when listed so) */
    int retention_days;
    ts_time_unit unit;
    bool inferred;
    pg_now_source now_source;
    int64_t now_int;
    char skip[PG_SKIP_MAX];
    bool has_cutoff; /* expired: end <= cutoff (internal units) */
    int64_t cutoff;
} tinfo;

/* What a chunk needs after its row is read and before the list is handed out. */
typedef struct aux {
    char oid[16];        /* the relation, for its size */
    int64_t pages;       /* the catalog's pages of the relation and its TOAST table */
    bool with_indexes;   /* pages counts its indexes too */
    int64_t extra_bytes; /* compressed data (TimescaleDB's catalog) */
    bool measure;        /* size unknown to the catalog: measure it */
} aux;

typedef struct ctx {
    const ts_config *cfg;
    const pg_discover_filter *f;
    const char *only_schema, *only_name;
    pg_chunk_list *out;
    aux *aux;
    int cap;
    bool pg14; /* reltuples < 0 tells a never-vacuumed relation (PostgreSQL 14+) */
    int64_t block_size;
} ctx;

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
    ts_free(ch->cagg_schema);
    ts_free(ch->cagg_name);
    ts_free(ch->parent_schema);
    ts_free(ch->parent_name);
    ts_free(ch->partition_bound);
    memset(ch, 0, sizeof *ch);
}

static void default_clear(pg_default_partition *d)
{
    ts_free(d->table_schema);
    ts_free(d->table_name);
    ts_free(d->schema);
    ts_free(d->name);
    ts_free(d->dimension);
    ts_free(d->dimension_type);
    memset(d, 0, sizeof *d);
}

void pg_chunk_list_free(pg_chunk_list *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->n; i++)
        pg_chunk_clear(&l->items[i]);
    for (int i = 0; i < l->ndefaults; i++)
        default_clear(&l->defaults[i]);
    ts_free(l->items);
    ts_free(l->defaults);
    l->items = NULL;
    l->defaults = NULL;
    l->n = l->ndefaults = 0;
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

static bool is_int_type(const char *oid)
{
    return strcmp(oid, "20") == 0 || strcmp(oid, "21") == 0 || strcmp(oid, "23") == 0;
}

/* Whether the config names a name verbatim: tables[].name or database.include. */
static bool config_names(const ts_config *cfg, const char *name)
{
    for (int i = 0; cfg && i < cfg->ntables; i++)
        if (strcmp(cfg->tables[i].name, name) == 0)
            return true;
    for (int i = 0; cfg && cfg->database.include && cfg->database.include[i]; i++)
        if (strcmp(cfg->database.include[i], name) == 0)
            return true;
    return false;
}

static bool config_lists(const ts_config *cfg, const char *name)
{
    for (int i = 0; cfg && i < cfg->ntables; i++)
        if (strcmp(cfg->tables[i].name, name) == 0)
            return true;
    return false;
}

/* The --table glob: "T" without a dot matches the table name in any schema. */
static bool filter_matches(const pg_discover_filter *f, const char *schema_table, const char *name)
{
    return !f || !f->table ||
           fnmatch(f->table, strchr(f->table, '.') ? schema_table : name, 0) == 0;
}

/* A new zeroed chunk (and its aux) at the end of the list. */
static pg_chunk *new_chunk(ctx *x, aux **a, ts_err *err)
{
    pg_chunk_list *l = x->out;
    if (l->n == x->cap) {
        int cap = x->cap ? x->cap * 2 : 256;
        pg_chunk *items = ts_realloc(l->items, (size_t)cap * sizeof *items);
        if (!items) {
            ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            return NULL;
        }
        l->items = items;
        aux *na = ts_realloc(x->aux, (size_t)cap * sizeof *na);
        if (!na) {
            ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            return NULL;
        }
        x->aux = na;
        x->cap = cap;
    }
    memset(&l->items[l->n], 0, sizeof l->items[l->n]);
    memset(&x->aux[l->n], 0, sizeof x->aux[l->n]);
    *a = &x->aux[l->n];
    return &l->items[l->n++];
}

static int dup_all(ts_err *err, int n, char **dst[], const char *src[])
{
    for (int i = 0; i < n; i++)
        if (src[i] && !(*dst[i] = ts_strdup(src[i])))
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    return TS_OK;
}

/* ---- per table: retention, integer time, the cutoff ---- */

/* The time a column value reads as in unit u, for messages. */
static void int_as_time(int64_t v, ts_time_unit u, char *out, size_t n)
{
    int64_t us;
    char t[TS_TIME_MAX];
    if (pg_int_to_us(v, u, false, &us) && ts_time_format(us, TS_TIME_ANY_YEAR, t, sizeof t) == 0)
        snprintf(out, n, "%s", t);
    else
        snprintf(out, n, "a time out of range");
}

/* The unit and "now" of an integer table, or why there are none (t->skip). has_fn: it has
 * an integer_now function, which answered now_int when now_ok (else now_err). */
static void integer_table(tinfo *t, const ts_config *cfg, int64_t server_now_us, bool now_ok,
                          int64_t now_int, const char *now_err)
{
    bool has_fn = t->now_func && t->now_func[0];
    ts_time_unit unit = cfg ? ts_config_time_unit(cfg, t->cfg_name) : TS_TIME_UNIT_NONE;
    char fn[300], tm[TS_TIME_MAX + 32];
    snprintf(fn, sizeof fn, "\"%s\".\"%s\"()", t->now_schema ? t->now_schema : "",
             t->now_func ? t->now_func : "");
    if (has_fn && !now_ok) {
        snprintf(t->skip, sizeof t->skip, "its integer_now function %s failed: %s", fn, now_err);
        return;
    }
    if (has_fn) {
        if (unit != TS_TIME_UNIT_NONE &&
            !pg_int_now_plausible(now_int, unit, server_now_us, 20 * YEAR_US, US_PER_DAY)) {
            int_as_time(now_int, unit, tm, sizeof tm);
            snprintf(t->skip, sizeof t->skip,
                     "time_unit %s does not fit its integer_now function: %s returns %" PRId64
                     ", which reads as %s (more than 20 years back, or ahead of the server's "
                     "clock)",
                     ts_time_unit_name(unit), fn, now_int, tm);
            return;
        }
        if (unit == TS_TIME_UNIT_NONE) {
            unit = pg_int_infer_unit(now_int, server_now_us);
            if (unit == TS_TIME_UNIT_NONE) {
                snprintf(t->skip, sizeof t->skip,
                         "unit of the integer column \"%s\" unknown: its integer_now function %s "
                         "returns %" PRId64 ", which is no time within a year of now in seconds, "
                         "milliseconds, microseconds or nanoseconds; set time_unit for \"%s\" "
                         "under tables",
                         t->dim, fn, now_int, t->cfg_name);
                return;
            }
            t->inferred = true;
        }
        t->now_source = PG_NOW_INTEGER_NOW;
        t->now_int = now_int;
    } else if (unit != TS_TIME_UNIT_NONE) {
        t->now_source = PG_NOW_CLOCK;
        (void)pg_us_to_int(server_now_us, unit, &t->now_int);
    } else {
        snprintf(t->skip, sizeof t->skip,
                 "unit of the integer column \"%s\" (%s) unknown: set time_unit for \"%s\" under "
                 "tables (seconds, milliseconds, microseconds or nanoseconds)%s",
                 t->dim, t->dim_type, t->cfg_name,
                 t->id ? ", or give the hypertable an integer_now function (set_integer_now_func)"
                       : "");
        return;
    }
    t->unit = unit;
}

/* Retention, integer time and the cutoff of a table whose cfg_name is set. */
static void decide_table(tinfo *t, const ts_config *cfg, int64_t now_us, bool now_ok,
                         int64_t now_int, const char *now_err)
{
    t->retention_days = cfg ? ts_config_retention_days(cfg, t->cfg_name) : 0;
    if (t->integer)
        integer_table(t, cfg, now_us, now_ok, now_int, now_err);
    if (t->retention_days <= 0)
        t->skip[0] = '\0'; /* never archived anyway: nothing stands in the way */
    if (t->skip[0] || t->retention_days <= 0)
        return;
    t->has_cutoff = true;
    t->cutoff = t->integer ? pg_sat_sub(t->now_int, pg_days_in_unit(t->retention_days, t->unit))
                           : pg_sat_sub(now_us, (int64_t)t->retention_days * US_PER_DAY);
}

/* A chunk's expiry and texts, from its table's decisions. */
static void decide_chunk(pg_chunk *ch, const tinfo *t)
{
    ch->retention_days = t->retention_days;
    if (t->skip[0])
        snprintf(ch->skip_reason, sizeof ch->skip_reason, "%s", t->skip);
    if (ch->integer_range && !t->skip[0]) {
        ch->time_unit = t->unit;
        ch->time_unit_inferred = t->inferred;
        ch->now_source = t->now_source;
        ch->now_int = t->now_int;
        ch->time_known =
            (!ch->has_start || pg_int_to_us(ch->start_int, t->unit, false, &ch->start_us)) &&
            (!ch->has_end || pg_int_to_us(ch->end_int, t->unit, true, &ch->end_us));
        if (!ch->time_known)
            ch->start_us = ch->end_us = 0;
    }
    ch->expired =
        t->has_cutoff && ch->has_end && (ch->integer_range ? ch->end_int : ch->end_us) <= t->cutoff;
    if (!ch->skip_reason[0] && ch->expired && !ch->has_start)
        snprintf(ch->skip_reason, sizeof ch->skip_reason,
                 "its range has no start (MINVALUE): it cannot be archived as one range");
    ch->range_start[0] = ch->range_end[0] = '\0';
    if (ch->integer_range) {
        if (ch->has_start)
            snprintf(ch->range_start, sizeof ch->range_start, "%" PRId64, ch->start_int);
        if (ch->has_end)
            snprintf(ch->range_end, sizeof ch->range_end, "%" PRId64, ch->end_int);
        if (ch->time_known && ch->has_start)
            format_us(ch->start_us, ch->range_start_time, sizeof ch->range_start_time);
        if (ch->time_known && ch->has_end)
            format_us(ch->end_us, ch->range_end_time, sizeof ch->range_end_time);
    } else {
        if (ch->has_start)
            format_us(ch->start_us, ch->range_start, sizeof ch->range_start);
        if (ch->has_end)
            format_us(ch->end_us, ch->range_end, sizeof ch->range_end);
    }
}

/* Whether the filter keeps a decided chunk. */
static bool wanted(const ctx *x, const pg_chunk *ch)
{
    return !x->f || !x->f->expired_only || ch->expired ||
           (x->f->include_skipped && ch->skip_reason[0]);
}

/* Calls a table's integer_now function (in a savepoint when the caller is in a
 * transaction, so a failing function aborts nothing of theirs). A failure of the
 * function is an answer (ok false, why); only a lost connection is an error. */
static int call_integer_now(PGconn *c, const tinfo *t, bool *ok, int64_t *v, char *why,
                            size_t whysz, ts_err *err)
{
    bool in_tx = PQtransactionStatus(c) == PQTRANS_INTRANS;
    char *fn = pg_qualified_name(c, t->now_schema, t->now_func, err), sql[700];
    ts_err e;
    int rc;
    *ok = false;
    if (!fn)
        return err->code;
    snprintf(sql, sizeof sql, "SELECT (%s())::bigint", fn);
    ts_free(fn);
    ts_err_clear(&e);
    if (in_tx && (rc = pg_exec(c, "SAVEPOINT tsarchive_integer_now", err)) != 0)
        return rc;
    PGresult *r = pg_query(c, sql, 0, NULL, &e);
    *ok = r && !PQgetisnull(r, 0, 0);
    *v = *ok ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    snprintf(why, whysz, "%s", r ? "it returned NULL" : e.msg);
    PQclear(r);
    if (!r && PQstatus(c) != CONNECTION_OK)
        return ts_err_set(err, e.code, "%s", e.msg);
    if (in_tx && (rc = pg_exec(c,
                               *ok ? "RELEASE SAVEPOINT tsarchive_integer_now"
                                   : "ROLLBACK TO SAVEPOINT tsarchive_integer_now",
                               err)) != 0)
        return rc;
    return TS_OK;
}

/* ---- TimescaleDB ---- */

/* One line of chunk_sql's packed text. */
typedef struct chunk_line {
    int64_t lo, hi, pages, extra;
    bool compressed;
    char oid[16];
    char schema[256], name[256];
} chunk_line;

/* "<n>:<n bytes>" into out; NULL when malformed. */
static const char *parse_name(const char *p, const char *end, char *out, size_t outsz)
{
    char *e;
    long n = strtol(p, &e, 10);
    if (e >= end || *e != ':' || n < 0 || (size_t)n >= outsz || e + 1 + n > end)
        return NULL;
    memcpy(out, e + 1, (size_t)n);
    out[n] = '\0';
    return e + 1 + n;
}

static const char *parse_chunk_line(const char *p, const char *end, chunk_line *cl)
{
    char *e;
    long long v[6];
    memset(cl, 0, sizeof *cl);
    for (int k = 0; k < 6; k++) {
        v[k] = strtoll(p, &e, 10);
        if (e == p || e >= end || *e != ' ')
            return NULL;
        if (k == 3)
            snprintf(cl->oid, sizeof cl->oid, "%lld", v[k]);
        p = e + 1;
    }
    cl->lo = v[0];
    cl->hi = v[1];
    cl->compressed = v[2] != 0;
    cl->pages = v[4];
    cl->extra = v[5];
    if (!(p = parse_name(p, end, cl->schema, sizeof cl->schema)) ||
        !(p = parse_name(p, end, cl->name, sizeof cl->name)))
        return NULL;
    if (p < end && *p++ != '\n')
        return NULL;
    return p;
}

static int add_tsdb_chunk(ctx *x, const tinfo *h, const chunk_line *cl, ts_err *err)
{
    aux *a;
    int rc;
    pg_chunk *ch = new_chunk(x, &a, err);
    if (!ch)
        return err->code;
    ch->source = PG_SRC_TIMESCALEDB;
    char **dst[] = {&ch->table_schema, &ch->table_name,     &ch->chunk_schema, &ch->chunk_name,
                    &ch->dimension,    &ch->dimension_type, &ch->cagg_schema,  &ch->cagg_name};
    const char *src[] = {h->schema, h->name,     cl->schema,     cl->name,
                         h->dim,    h->dim_type, h->view_schema, h->view_name};
    if ((rc = dup_all(err, 8, dst, src)) != 0)
        return rc;
    ch->integer_range = h->integer;
    ch->has_start = cl->lo != INT64_MIN;
    ch->has_end = cl->hi != INT64_MAX;
    if (ch->integer_range) {
        ch->start_int = ch->has_start ? cl->lo : 0;
        ch->end_int = ch->has_end ? cl->hi : 0;
    } else {
        ch->start_us = ch->has_start ? cl->lo : 0;
        ch->end_us = ch->has_end ? cl->hi : 0;
    }
    ch->compressed = cl->compressed;
    snprintf(a->oid, sizeof a->oid, "%s", cl->oid);
    a->pages = cl->pages;
    a->measure = !x->pg14 || a->pages < 0;
    a->with_indexes = true;
    a->extra_bytes = cl->extra;
    if (!a->measure) {
        ch->size_bytes = a->pages * x->block_size + a->extra_bytes;
        ch->size_estimated = true;
    }
    decide_chunk(ch, h);
    if (!wanted(x, ch)) {
        x->out->n--;
        pg_chunk_clear(ch);
    }
    return TS_OK;
}

static int tsdb(PGconn *c, ctx *x, bool osm, bool status, ts_err *err)
{
    PGresult *hr = NULL, *r = NULL;
    tinfo *t = NULL;
    ts_buf ids, dims, cuts, idx;
    char *sql = NULL;
    int rc = TS_OK, nt, nsel = 0, only_id = -1;
    ts_buf_init(&ids, 0);
    ts_buf_init(&dims, 0);
    ts_buf_init(&cuts, 0);
    ts_buf_init(&idx, 0);

    if (x->only_schema) {
        /* one chunk by name: only its hypertable (no other's integer_now is called) */
        const char *p2[2] = {x->only_schema, x->only_name};
        r = pg_query(c,
                     "SELECT hypertable_id FROM _timescaledb_catalog.chunk"
                     " WHERE schema_name = $1 AND table_name = $2 AND NOT dropped",
                     2, p2, err);
        if (!r) {
            rc = err->code;
            goto out;
        }
        only_id = PQntuples(r) ? atoi(PQgetvalue(r, 0, 0)) : -1;
        PQclear(r);
        r = NULL;
        if (only_id < 0)
            goto out; /* not a TimescaleDB chunk */
    }
    hr = pg_query(c, ht_sql, 0, NULL, err);
    if (!hr) {
        rc = err->code;
        goto out;
    }
    nt = PQntuples(hr);
    if (!nt)
        goto out;
    if (!(t = ts_calloc((size_t)nt, sizeof *t))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = ts_buf_printf(&ids, "{") || ts_buf_printf(&dims, "{") || ts_buf_printf(&cuts, "{") ||
         ts_buf_printf(&idx, "{");
    for (int i = 0; !rc && i < nt; i++) {
        tinfo *h = &t[i];
        char st[2 * 64 + 2], view[2 * 64 + 2];
        h->id = atoi(PQgetvalue(hr, i, 0));
        h->schema = PQgetvalue(hr, i, 1);
        h->name = PQgetvalue(hr, i, 2);
        h->dim_id = atoi(PQgetvalue(hr, i, 3));
        h->dim = PQgetvalue(hr, i, 4);
        h->dim_type = PQgetvalue(hr, i, 5);
        h->integer = is_int_type(PQgetvalue(hr, i, 6));
        h->now_schema = PQgetisnull(hr, i, 7) ? NULL : PQgetvalue(hr, i, 7);
        h->now_func = PQgetisnull(hr, i, 8) ? NULL : PQgetvalue(hr, i, 8);
        h->is_cagg = !PQgetisnull(hr, i, 9);
        h->view_schema = h->is_cagg ? PQgetvalue(hr, i, 9) : NULL;
        h->view_name = h->is_cagg ? PQgetvalue(hr, i, 10) : NULL;
        snprintf(st, sizeof st, "%s.%s", h->schema, h->name);
        snprintf(view, sizeof view, "%s.%s", h->view_schema ? h->view_schema : "",
                 h->view_name ? h->view_name : "");
        snprintf(h->cfg_name, sizeof h->cfg_name, "%s",
                 h->is_cagg && (config_lists(x->cfg, view) || !config_lists(x->cfg, st)) ? view
                                                                                         : st);
        h->keep = true;
        if (x->only_schema) {
            h->keep = h->id == only_id; /* one chunk asked for by name: whatever its table */
        } else if (h->is_cagg) {
            /* an aggregate's own hypertable: only when the config names it */
            h->keep =
                (config_names(x->cfg, view) || config_names(x->cfg, st)) &&
                (!x->cfg || (pg_table_selected(view, NULL, x->cfg->database.exclude) &&
                             pg_table_selected(st, NULL, x->cfg->database.exclude))) &&
                (filter_matches(x->f, st, h->name) || filter_matches(x->f, view, h->view_name));
        } else {
            h->keep = !system_schema(h->schema) &&
                      (!x->cfg ||
                       pg_table_selected(st, x->cfg->database.include, x->cfg->database.exclude)) &&
                      filter_matches(x->f, st, h->name);
        }
        if (!h->keep)
            continue;
        bool ok = false;
        int64_t now_int = 0;
        char why[300] = "";
        if (h->integer && h->now_func &&
            (rc = call_integer_now(c, h, &ok, &now_int, why, sizeof why, err)) != 0)
            goto out;
        decide_table(h, x->cfg, x->out->now_us, ok, now_int, why);
        bool expired_only = x->f && x->f->expired_only;
        if (expired_only && !h->has_cutoff && !(x->f->include_skipped && h->skip[0])) {
            h->keep = false; /* nothing of it can be listed */
            continue;
        }
        char cut[32] = "NULL";
        if (expired_only && h->has_cutoff)
            snprintf(cut, sizeof cut, "%" PRId64, h->cutoff);
        rc = ts_buf_printf(&ids, "%s%d", nsel ? "," : "", h->id) ||
             ts_buf_printf(&dims, "%s%d", nsel ? "," : "", h->dim_id) ||
             ts_buf_printf(&cuts, "%s%s", nsel ? "," : "", cut) ||
             ts_buf_printf(&idx, "%s%d", nsel ? "," : "", i);
        nsel++;
    }
    if (!rc)
        rc = ts_buf_printf(&ids, "}") || ts_buf_printf(&dims, "}") || ts_buf_printf(&cuts, "}") ||
             ts_buf_printf(&idx, "}");
    if (rc) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (!nsel)
        goto out;
    size_t len = strlen(CHUNK_SQL_FMT) + 100;
    if (!(sql = ts_malloc(len))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(sql, len, CHUNK_SQL_FMT,
             status ? "(ch.status & 1) = 1" : "ch.compressed_chunk_id IS NOT NULL",
             osm ? " AND NOT ch.osm_chunk" : "");
    const char *params[6] = {ts_buf_cstr(&ids), ts_buf_cstr(&dims), ts_buf_cstr(&cuts),
                             ts_buf_cstr(&idx), x->only_schema,     x->only_name};
    r = pg_query(c, sql, 6, params, err);
    if (!r) {
        rc = err->code;
        goto out;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const tinfo *h = &t[atoi(PQgetvalue(r, i, 0))];
        const char *p = PQgetvalue(r, i, 1), *end = p + PQgetlength(r, i, 1);
        while (p < end) {
            chunk_line cl;
            if (!(p = parse_chunk_line(p, end, &cl))) {
                rc = ts_err_set(err, TS_ERR_FORMAT, "unexpected chunk list from the server");
                goto out;
            }
            if ((rc = add_tsdb_chunk(x, h, &cl, err)) != 0)
                goto out;
        }
    }
out:
    if (rc)
        ts_err_prefix(err, "listing TimescaleDB chunks");
    PQclear(r);
    PQclear(hr);
    ts_free(t);
    ts_free(sql);
    ts_buf_free(&ids);
    ts_buf_free(&dims);
    ts_buf_free(&cuts);
    ts_buf_free(&idx);
    return rc;
}

/* ---- native partitions ---- */

/* One row of part_sql: a partition on a leaf's way up. */
enum {
    P_LEAF_OID,
    P_LEAF_SCHEMA,
    P_LEAF_NAME,
    P_ORD,
    P_SCHEMA,
    P_NAME,
    P_PARENT_SCHEMA,
    P_PARENT_NAME,
    P_PARENT_IS_PARTITION,
    P_STRATEGY,
    P_KEY,
    P_KEY_TYPE,
    P_KEY_OID,
    P_BOUND,
    P_DEFAULT,
    P_LO_US,
    P_HI_US,
    P_LO_INT,
    P_HI_INT,
    P_LO_TXT,
    P_HI_TXT,
    P_PAGES_KNOWN,
    P_PAGES,
};

/* Whether row i's parent level is RANGE on key (a supported single column). */
static bool range_on(PGresult *r, int i, const char *key)
{
    return PQgetvalue(r, i, P_STRATEGY)[0] == 'r' && !PQgetisnull(r, i, P_KEY) &&
           strcmp(PQgetvalue(r, i, P_KEY), key) == 0;
}

static int add_default(ctx *x, PGresult *r, int i, int root_row, const tinfo *t, ts_err *err)
{
    pg_chunk_list *l = x->out;
    for (int k = 0; k < l->ndefaults; k++)
        if (strcmp(l->defaults[k].schema, PQgetvalue(r, i, P_SCHEMA)) == 0 &&
            strcmp(l->defaults[k].name, PQgetvalue(r, i, P_NAME)) == 0)
            return TS_OK;
    pg_default_partition *d = ts_realloc(l->defaults, (size_t)(l->ndefaults + 1) * sizeof *d);
    if (!d)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    l->defaults = d;
    d = &l->defaults[l->ndefaults++];
    memset(d, 0, sizeof *d);
    d->expired_rows = -1;
    char **dst[] = {&d->table_schema, &d->table_name, &d->schema,
                    &d->name,         &d->dimension,  &d->dimension_type};
    const char *src[] = {PQgetvalue(r, root_row, P_PARENT_SCHEMA),
                         PQgetvalue(r, root_row, P_PARENT_NAME),
                         PQgetvalue(r, i, P_SCHEMA),
                         PQgetvalue(r, i, P_NAME),
                         PQgetvalue(r, i, P_KEY),
                         PQgetvalue(r, i, P_KEY_TYPE)};
    int rc = dup_all(err, 6, dst, src);
    if (rc)
        return rc;
    d->dimension_oid = (uint32_t)strtoul(PQgetvalue(r, i, P_KEY_OID), NULL, 10);
    d->retention_days = t->retention_days;
    d->time_unit = t->unit;
    d->has_cutoff = t->has_cutoff;
    if (t->integer) {
        d->cutoff_int = t->cutoff;
        snprintf(d->cutoff, sizeof d->cutoff, "%" PRId64, d->cutoff_int);
    } else if (t->has_cutoff) {
        d->cutoff_us = t->cutoff;
        format_us(d->cutoff_us, d->cutoff, sizeof d->cutoff);
    }
    return TS_OK;
}

/* Rows first..last (ord ascending: the leaf, then up) make one leaf. */
static int collect_leaf(ctx *x, PGresult *r, int first, int last, ts_err *err)
{
    int root_row = last; /* its parent is the root */
    const char *key = NULL;
    int key_row = -1, rc;
    tinfo t;
    memset(&t, 0, sizeof t);
    t.schema = PQgetvalue(r, root_row, P_PARENT_SCHEMA);
    t.name = PQgetvalue(r, root_row, P_PARENT_NAME);
    if (PQgetvalue(r, root_row, P_PARENT_IS_PARTITION)[0] == 't')
        return TS_OK; /* cannot happen: pg_partition_ancestors goes up to the root */
    /* the time key: the topmost level that is RANGE on a supported single column */
    for (int i = last; i >= first && !key; i--)
        if (PQgetvalue(r, i, P_STRATEGY)[0] == 'r' && !PQgetisnull(r, i, P_KEY)) {
            key = PQgetvalue(r, i, P_KEY);
            key_row = i;
        }
    if (!key)
        return TS_OK; /* not partitioned by time anywhere on its way */
    snprintf(t.cfg_name, sizeof t.cfg_name, "%s.%s", t.schema, t.name);
    if (!x->only_schema) {
        if (system_schema(t.schema))
            return TS_OK;
        if (x->cfg &&
            !pg_table_selected(t.cfg_name, x->cfg->database.include, x->cfg->database.exclude))
            return TS_OK;
        if (!filter_matches(x->f, t.cfg_name, t.name))
            return TS_OK;
    }
    t.dim = key;
    t.dim_type = PQgetvalue(r, key_row, P_KEY_TYPE);
    t.integer = is_int_type(PQgetvalue(r, key_row, P_KEY_OID));
    decide_table(&t, x->cfg, x->out->now_us, false, 0, "");
    /* a DEFAULT partition of a time level on the way: the leaf has no range of its own */
    for (int i = first; i <= last; i++)
        if (range_on(r, i, key) && PQgetvalue(r, i, P_DEFAULT)[0] == 't')
            return x->only_schema ? TS_OK : add_default(x, r, i, root_row, &t, err);
    aux *a;
    pg_chunk *ch = new_chunk(x, &a, err);
    if (!ch)
        return err->code;
    ch->source = PG_SRC_PARTITION;
    ch->partition_level = last - first + 1;
    {
        char **dst[] = {&ch->table_schema,  &ch->table_name,  &ch->chunk_schema,
                        &ch->chunk_name,    &ch->dimension,   &ch->dimension_type,
                        &ch->parent_schema, &ch->parent_name, &ch->partition_bound};
        const char *src[] = {t.schema,
                             t.name,
                             PQgetvalue(r, first, P_LEAF_SCHEMA),
                             PQgetvalue(r, first, P_LEAF_NAME),
                             key,
                             t.dim_type,
                             PQgetvalue(r, first, P_PARENT_SCHEMA),
                             PQgetvalue(r, first, P_PARENT_NAME),
                             PQgetvalue(r, first, P_BOUND)};
        if ((rc = dup_all(err, 9, dst, src)) != 0)
            return rc;
    }
    ch->integer_range = t.integer;
    int lo_col = ch->integer_range ? P_LO_INT : P_LO_US,
        hi_col = ch->integer_range ? P_HI_INT : P_HI_US;
    int64_t lo = 0, hi = 0;
    bool has_lo = false, has_hi = false;
    /* the intersection of the ranges on the key along the way */
    for (int i = first; i <= last; i++) {
        if (!range_on(r, i, key))
            continue;
        if (!PQgetisnull(r, i, lo_col)) {
            int64_t v = strtoll(PQgetvalue(r, i, lo_col), NULL, 10);
            lo = has_lo && lo > v ? lo : v;
            has_lo = true;
        }
        if (!PQgetisnull(r, i, hi_col)) {
            int64_t v = strtoll(PQgetvalue(r, i, hi_col), NULL, 10);
            hi = has_hi && hi < v ? hi : v;
            has_hi = true;
        }
    }
    ch->has_start = has_lo;
    ch->has_end = has_hi;
    if (ch->integer_range) {
        ch->start_int = lo;
        ch->end_int = hi;
    } else {
        ch->start_us = lo;
        ch->end_us = hi;
    }
    /* directly under the table: the bounds as restore re-creates them */
    if (first == last && range_on(r, first, key)) {
        char **dst[] = {&ch->bound_from, &ch->bound_to};
        const char *src[] = {PQgetvalue(r, first, P_LO_TXT), PQgetvalue(r, first, P_HI_TXT)};
        if ((rc = dup_all(err, 2, dst, src)) != 0)
            return rc;
    }
    snprintf(a->oid, sizeof a->oid, "%s", PQgetvalue(r, first, P_LEAF_OID));
    a->measure = !x->pg14 || PQgetvalue(r, first, P_PAGES_KNOWN)[0] != 't';
    a->pages = strtoll(PQgetvalue(r, first, P_PAGES), NULL, 10);
    decide_chunk(ch, &t);
    if (!wanted(x, ch)) {
        x->out->n--;
        pg_chunk_clear(ch);
    }
    return TS_OK;
}

static int partitions(PGconn *c, ctx *x, ts_err *err)
{
    const char *params[2] = {x->only_schema, x->only_name};
    PGresult *r = pg_query(c, part_sql, 2, params, err);
    int n, first = 0, rc = TS_OK;
    if (!r) {
        ts_err_prefix(err, "listing partitions");
        return err->code;
    }
    n = PQntuples(r);
    for (int i = 1; i <= n && !rc; i++) {
        if (i < n && strcmp(PQgetvalue(r, i, P_LEAF_OID), PQgetvalue(r, first, P_LEAF_OID)) == 0)
            continue;
        rc = collect_leaf(x, r, first, i - 1, err);
        first = i;
    }
    PQclear(r);
    return rc;
}

/* ---- sizes ---- */

/* Sizes, in one statement for the chunks kept whose size is not known yet: from the
 * catalog (the pages of the relation, its TOAST table and its indexes) where it knows
 * them, else measured. */
static int sizes(PGconn *c, ctx *x, ts_err *err)
{
    pg_chunk_list *l = x->out;
    ts_buf oids, measure;
    PGresult *r = NULL;
    int rc = TS_OK;
    ts_buf_init(&oids, 0);
    ts_buf_init(&measure, 0);
    if (!l->n)
        goto out;
    int n = 0;
    rc = ts_buf_printf(&oids, "{") || ts_buf_printf(&measure, "{");
    for (int i = 0; !rc && i < l->n; i++) {
        if (!x->aux[i].measure && x->aux[i].with_indexes)
            continue; /* known already */
        rc = ts_buf_printf(&oids, "%s%s", n ? "," : "", x->aux[i].oid) ||
             ts_buf_printf(&measure, "%s%s", n ? "," : "", x->aux[i].measure ? "t" : "f");
        n++;
    }
    if (!rc && !n)
        goto out;
    if (!rc)
        rc = ts_buf_printf(&oids, "}") || ts_buf_printf(&measure, "}");
    if (rc) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    const char *params[2] = {ts_buf_cstr(&oids), ts_buf_cstr(&measure)};
    /* joins on indexed keys only, no correlated subquery: linear whatever the plan; a
     * relation dropped meanwhile measures as NULL */
    r = pg_query(c,
                 "SELECT u.o, CASE WHEN u.m THEN pg_catalog.pg_total_relation_size(u.o) END,"
                 "  coalesce(sum(ic.relpages), 0)::bigint"
                 " FROM unnest($1::oid[], $2::bool[]) u(o, m)"
                 " LEFT JOIN pg_catalog.pg_index x ON x.indrelid = u.o AND NOT u.m"
                 " LEFT JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid"
                 " GROUP BY u.o, u.m ORDER BY u.o",
                 2, params, err);
    if (!r) {
        rc = err->code;
        ts_err_prefix(err, "reading chunk sizes");
        goto out;
    }
    int m = PQntuples(r);
    for (int i = 0; i < l->n; i++) {
        aux *a = &x->aux[i];
        pg_chunk *ch = &l->items[i];
        int lo = 0, hi = m - 1;
        if (!a->measure && a->with_indexes)
            continue;
        long long want = atoll(a->oid);
        while (lo <= hi) {
            int mid = (lo + hi) / 2;
            long long got = atoll(PQgetvalue(r, mid, 0));
            if (got < want) {
                lo = mid + 1;
                continue;
            }
            if (got > want) {
                hi = mid - 1;
                continue;
            }
            if (a->measure) {
                ch->size_bytes =
                    PQgetisnull(r, mid, 1) ? 0 : strtoll(PQgetvalue(r, mid, 1), NULL, 10);
            } else {
                ch->size_bytes =
                    (a->pages + strtoll(PQgetvalue(r, mid, 2), NULL, 10)) * x->block_size;
                ch->size_estimated = true;
            }
            ch->size_bytes += a->extra_bytes;
            break;
        }
    }
out:
    PQclear(r);
    ts_buf_free(&oids);
    ts_buf_free(&measure);
    return rc;
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

static int discover(PGconn *c, const ts_config *cfg, const pg_discover_filter *f,
                    const char *only_schema, const char *only_name, pg_chunk_list *out, ts_err *err)
{
    PGresult *r = NULL;
    ctx x = {.cfg = cfg, .f = f, .only_schema = only_schema, .only_name = only_name, .out = out};
    int rc = TS_OK;
    memset(out, 0, sizeof *out);
    r = pg_query(c,
                 "SELECT (extract(epoch FROM now()) * 1000000)::bigint,"
                 " EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'timescaledb'),"
                 " current_setting('server_version_num')::int >= 140000,"
                 " EXISTS (SELECT 1 FROM pg_catalog.pg_attribute"
                 "  WHERE attrelid = to_regclass('_timescaledb_catalog.chunk')"
                 "  AND attname = 'osm_chunk' AND NOT attisdropped),"
                 " EXISTS (SELECT 1 FROM pg_catalog.pg_attribute"
                 "  WHERE attrelid = to_regclass('_timescaledb_catalog.chunk')"
                 "  AND attname = 'status' AND NOT attisdropped),"
                 " current_setting('block_size')::bigint",
                 0, NULL, err);
    if (!r)
        return err->code;
    out->now_us = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    bool has_tsdb = PQgetvalue(r, 0, 1)[0] == 't';
    x.pg14 = PQgetvalue(r, 0, 2)[0] == 't';
    bool osm = PQgetvalue(r, 0, 3)[0] == 't', status = PQgetvalue(r, 0, 4)[0] == 't';
    x.block_size = strtoll(PQgetvalue(r, 0, 5), NULL, 10);
    PQclear(r);
    if (has_tsdb && (rc = tsdb(c, &x, osm, status, err)) != 0)
        goto out;
    if ((rc = partitions(c, &x, err)) != 0)
        goto out;
    if ((rc = sizes(c, &x, err)) != 0)
        goto out;
    if (out->n > 1)
        qsort(out->items, (size_t)out->n, sizeof *out->items, cmp_chunk);
out:
    ts_free(x.aux);
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

int pg_default_rows_count(PGconn *c, pg_chunk_list *l, ts_err *err)
{
    for (int i = 0; i < l->ndefaults; i++) {
        pg_default_partition *d = &l->defaults[i];
        char *rel = NULL, *col = NULL, *lit = NULL, sql[1200];
        /* the cutoff as a value of the key's type (timestamps: the UTC wall clock, as
         * discovery reads their bounds) */
        const char *cast = d->dimension_oid == 1082   ? "::timestamptz AT TIME ZONE 'UTC')::date"
                           : d->dimension_oid == 1184 ? "::timestamptz)"
                           : d->dimension_oid == 1114 ? "::timestamptz AT TIME ZONE 'UTC')"
                                                      : "::bigint)";
        PGresult *r;
        if (!d->has_cutoff)
            continue;
        rel = pg_qualified_name(c, d->schema, d->name, err);
        col = rel ? pg_quote_ident(c, d->dimension, err) : NULL;
        lit = col ? pg_quote_literal(c, d->cutoff, err) : NULL;
        if (!lit) {
            ts_free(rel);
            ts_free(col);
            return err->code ? err->code : ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        }
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE %s < (%s%s", rel, col, lit, cast);
        ts_free(rel);
        ts_free(col);
        ts_free(lit);
        r = pg_query(c, sql, 0, NULL, err);
        if (!r) {
            ts_err_prefix(err, "counting expired rows of the DEFAULT partition \"%s\".\"%s\"",
                          d->schema, d->name);
            return err->code;
        }
        d->expired_rows = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
        PQclear(r);
    }
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
