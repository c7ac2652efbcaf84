/* it_tsdb.c: TimescaleDB in depth, on real servers (scripts/services).
 *
 * usage: it_tsdb pg|tsdb
 *
 * pg (PostgreSQL 15, TS_TEST_PG_URL, in a database of its own): native partitions:
 * multi-level trees (RANGE then LIST, RANGE then RANGE, LIST then RANGE), their leaves'
 * ranges (the intersection along the way), DEFAULT partitions (never listed, their
 * expired rows counted), integer keys with and without tables[].time_unit; export of a
 * second-level leaf, drop, restore (re-created under its parent), restoring twice
 * refused, --force-append; every type of tests/pg/sql/alltypes.sql restored through the
 * INSERT path (binary parameters) and compared with the source both ways.
 *
 * tsdb (PGlite+TimescaleDB, TS_TEST_TSDB_URL, in a schema of its own, dropped at the
 * end): timestamptz / timestamp / date hypertables with chunks of 1 hour to 365 days
 * (ranges against timescaledb_information.chunks, an export of each, its proof read
 * back); integer hypertables in seconds, milliseconds, microseconds and nanoseconds
 * with integer_now functions, one by tables[].time_unit, and the skipped ones
 * (nothing, a counter, a unit that contradicts integer_now); continuous aggregates (the
 * watermark after refreshes, a refresh policy and alter_job changes of its config, an
 * integer aggregate, the materialized hypertable listed only when configured, the
 * watermark moved by hand as a policy run would); restore into hypertables through
 * INSERT (PGlite's COPY FROM STDIN breaks): the chunk re-created and compressed, twice
 * refused, --from/--to, --force-append, date and integer hypertables. What PGlite cannot
 * do (run background jobs) is in docs/timescaledb.md. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/config.h"
#include "common/log.h"
#include "common/tstime.h"
#include "pg/cagg.h"
#include "pg/conn.h"
#include "pg/discover.h"
#include "pg/export.h"
#include "pg/inttime.h"
#include "pg/proof.h"
#include "pg/restore.h"

#include "it_common.h"

#define US_DAY INT64_C(86400000000)

static char tmpdir[256];
static char S[64]; /* the test's schema */

static const pg_chunk *find(const pg_chunk_list *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->items[i].chunk_name, name) == 0)
            return &l->items[i];
    return NULL;
}

static int64_t at(const char *t)
{
    int64_t us = 0;
    CHECK(ts_time_scan(t, TS_TIME_LENIENT, &us) == NULL, "bad time %s", t);
    return us;
}

/* A config with per-table overrides: name, time_unit (NONE: not set). */
static ts_config *config_with(int n, const char *const *names, const ts_time_unit *units)
{
    ts_config *cfg = ts_config_new();
    cfg->tables = ts_calloc((size_t)(n ? n : 1), sizeof *cfg->tables);
    for (int i = 0; i < n; i++) {
        char full[200];
        snprintf(full, sizeof full, "%s.%s", S, names[i]);
        cfg->tables[i].name = ts_strdup(full);
        cfg->tables[i].enabled = true;
        cfg->tables[i].time_unit = units ? units[i] : TS_TIME_UNIT_NONE;
    }
    cfg->ntables = n;
    return cfg;
}

static int discover(PGconn *c, const ts_config *cfg, bool expired_only, bool skipped,
                    pg_chunk_list *l)
{
    char glob[100];
    ts_err err;
    snprintf(glob, sizeof glob, "%s.*", S);
    pg_discover_filter f = {
        .table = glob, .expired_only = expired_only, .include_skipped = skipped};
    ts_err_clear(&err);
    int rc = pg_discover(c, cfg, &f, l, &err);
    CHECK(rc == 0, "discover: %s", err.msg);
    return rc;
}

static int export_chunk(PGconn *c, const pg_chunk *ch, const char *path, pg_export_result *res)
{
    ts_err err;
    pg_export_options opt;
    pg_export_source src = {.table_schema = ch->table_schema,
                            .table_name = ch->table_name,
                            .chunk_schema = ch->chunk_schema,
                            .chunk_name = ch->chunk_name,
                            .range_start = ch->has_start ? ch->range_start : NULL,
                            .range_end = ch->has_end ? ch->range_end : NULL,
                            .bound_from = ch->bound_from,
                            .bound_to = ch->bound_to};
    if (ch->partition_level > 1) {
        src.partition_parent_schema = ch->parent_schema;
        src.partition_parent_name = ch->parent_name;
        src.partition_bound = ch->partition_bound;
    }
    if (ch->integer_range && ch->time_known) {
        src.time_unit = ts_time_unit_name(ch->time_unit);
        src.range_start_time = ch->range_start_time;
        src.range_end_time = ch->range_end_time;
    }
    pg_export_options_init(&opt, NULL);
    ts_err_clear(&err);
    int rc = pg_export_file(c, &src, &opt, path, res, &err);
    CHECK(rc == 0, "export of %s.%s: %s", ch->chunk_schema, ch->chunk_name, err.msg);
    return rc;
}

static int restore(PGconn *c, const char *path, const pg_restore_options *ro, pg_restore_result *rr,
                   ts_err *err)
{
    pg_restore_options none = {0};
    ts_err_clear(err);
    return pg_restore_file(c, path, ro ? ro : &none, rr, err);
}

static long long count(PGconn *c, const char *rel)
{
    char q[300];
    snprintf(q, sizeof q, "SELECT count(*) FROM %s.%s", S, rel);
    return sql_int(c, q);
}

/* ---- native partitions (both servers) ---- */

static void test_partitions(PGconn *c)
{
    pg_chunk_list l = {0};
    const char *names[] = {"ip"};
    ts_time_unit units[] = {TS_TIME_UNIT_SECONDS};
    ts_config *cfg = config_with(1, names, units);
    char q[600], p1[512];
    ts_err err;
    printf("  native partitions\n");
    sql(c,
        "CREATE TABLE %1$s.np (ts timestamptz NOT NULL, region text NOT NULL, v int)"
        " PARTITION BY RANGE (ts);"
        "CREATE TABLE %1$s.np_2020 PARTITION OF %1$s.np FOR VALUES FROM ('2020-01-01')"
        " TO ('2021-01-01') PARTITION BY LIST (region);"
        "CREATE TABLE %1$s.np_2020_eu PARTITION OF %1$s.np_2020 FOR VALUES IN ('eu');"
        "CREATE TABLE %1$s.np_2020_other PARTITION OF %1$s.np_2020 DEFAULT;"
        "CREATE TABLE %1$s.np_2021 PARTITION OF %1$s.np FOR VALUES FROM ('2021-01-01')"
        " TO ('2022-01-01') PARTITION BY RANGE (ts);"
        "CREATE TABLE %1$s.np_2021_h1 PARTITION OF %1$s.np_2021 FOR VALUES FROM ('2021-01-01')"
        " TO ('2021-07-01');"
        "CREATE TABLE %1$s.np_2021_h2 PARTITION OF %1$s.np_2021 FOR VALUES FROM ('2021-07-01')"
        " TO ('2022-01-01');"
        "CREATE TABLE %1$s.np_2100 PARTITION OF %1$s.np FOR VALUES FROM ('2100-01-01')"
        " TO ('2101-01-01');"
        "CREATE TABLE %1$s.np_default PARTITION OF %1$s.np DEFAULT;"
        "INSERT INTO %1$s.np SELECT '2020-03-01'::timestamptz + i * interval '1 day', 'eu', i"
        " FROM generate_series(1, 10) i;"
        "INSERT INTO %1$s.np SELECT '2020-05-01'::timestamptz + i * interval '1 day', 'us', i"
        " FROM generate_series(1, 5) i;"
        "INSERT INTO %1$s.np SELECT '2021-02-01'::timestamptz + i * interval '1 day', 'eu', i"
        " FROM generate_series(1, 6) i;"
        "INSERT INTO %1$s.np SELECT '2021-08-01'::timestamptz + i * interval '1 day', 'us', i"
        " FROM generate_series(1, 7) i;"
        "INSERT INTO %1$s.np VALUES ('2100-06-01', 'eu', 1), ('2019-01-01', 'eu', 1),"
        " ('2019-02-01', 'eu', 2), ('2019-03-01', 'us', 3), ('2050-01-01', 'eu', 4),"
        " ('2051-01-01', 'eu', 5);"
        "CREATE TABLE %1$s.lp (region text NOT NULL, ts timestamptz NOT NULL)"
        " PARTITION BY LIST (region);"
        "CREATE TABLE %1$s.lp_eu PARTITION OF %1$s.lp FOR VALUES IN ('eu') PARTITION BY RANGE (ts);"
        "CREATE TABLE %1$s.lp_eu_2020 PARTITION OF %1$s.lp_eu FOR VALUES FROM ('2020-01-01')"
        " TO ('2021-01-01');"
        "CREATE TABLE %1$s.lp_us PARTITION OF %1$s.lp FOR VALUES IN ('us');"
        "INSERT INTO %1$s.lp VALUES ('eu', '2020-02-01'), ('eu', '2020-03-01'), ('us', "
        "'2020-02-01');"
        "CREATE TABLE %1$s.ip (t bigint NOT NULL, v int) PARTITION BY RANGE (t);"
        "CREATE TABLE %1$s.ip_2020 PARTITION OF %1$s.ip FOR VALUES FROM (1577836800)"
        " TO (1609459200);"
        "CREATE TABLE %1$s.ip2 (t bigint NOT NULL) PARTITION BY RANGE (t);"
        "CREATE TABLE %1$s.ip2_a PARTITION OF %1$s.ip2 FOR VALUES FROM (0) TO (100);",
        S);
    if (discover(c, cfg, false, false, &l) != 0)
        goto out;
    const pg_chunk *eu = find(&l, "np_2020_eu"), *other = find(&l, "np_2020_other"),
                   *h1 = find(&l, "np_2021_h1"), *h2 = find(&l, "np_2021_h2"),
                   *y2100 = find(&l, "np_2100"), *lpeu = find(&l, "lp_eu_2020"),
                   *ip = find(&l, "ip_2020"), *ip2 = find(&l, "ip2_a");
    CHECK(eu && other && h1 && h2 && y2100 && lpeu && ip && ip2, "leaves missing");
    CHECK(!find(&l, "np_default") && !find(&l, "lp_us") && !find(&l, "np_2020") &&
              !find(&l, "np_2021"),
          "a DEFAULT partition, a leaf without a time key or a partitioned table is listed");
    CHECK_EQ_I(l.n, 8);
    if (!eu || !other || !h1 || !h2 || !y2100 || !lpeu || !ip || !ip2)
        goto out;
    /* RANGE (ts) then LIST (region): the leaf takes its parent's range */
    CHECK_EQ_S(eu->table_name, "np");
    CHECK_EQ_S(eu->range_start, "2020-01-01T00:00:00Z");
    CHECK_EQ_S(eu->range_end, "2021-01-01T00:00:00Z");
    CHECK_EQ_I(eu->partition_level, 2);
    CHECK_EQ_S(eu->parent_name, "np_2020");
    CHECK(eu->bound_from == NULL, "a second-level leaf has no top-level bounds");
    CHECK(eu->expired && other->expired, "2020 leaves are expired");
    /* the DEFAULT of the LIST level is no DEFAULT on time: archivable like its siblings */
    CHECK_EQ_S(other->range_end, "2021-01-01T00:00:00Z");
    /* RANGE then RANGE: the intersection */
    CHECK_EQ_S(h2->range_start, "2021-07-01T00:00:00Z");
    CHECK_EQ_S(h2->range_end, "2022-01-01T00:00:00Z");
    CHECK_EQ_S(h2->partition_bound,
               "FOR VALUES FROM ('2021-07-01 00:00:00+00') TO ('2022-01-01 00:00:00+00')");
    CHECK_EQ_I(h1->end_us, at("2021-07-01T00:00:00Z"));
    /* directly under the table, as before */
    CHECK_EQ_I(y2100->partition_level, 1);
    CHECK(y2100->bound_from && strncmp(y2100->bound_from, "2100-01-01", 10) == 0, "bound_from %s",
          y2100->bound_from ? y2100->bound_from : "(null)");
    CHECK(!y2100->expired, "2100 is not expired");
    /* LIST (region) then RANGE (ts) */
    CHECK_EQ_S(lpeu->table_name, "lp");
    CHECK_EQ_S(lpeu->dimension, "ts");
    CHECK_EQ_I(lpeu->partition_level, 2);
    CHECK(lpeu->expired, "lp_eu_2020 expired");
    /* integer keys: by tables[].time_unit, or skipped with the reason */
    CHECK(ip->integer_range && ip->time_known && ip->time_unit == TS_TIME_UNIT_SECONDS &&
              ip->now_source == PG_NOW_CLOCK && ip->expired && !ip->skip_reason[0],
          "ip_2020: unit %d, now %d, expired %d, %s", ip->time_unit, ip->now_source, ip->expired,
          ip->skip_reason);
    CHECK_EQ_S(ip->range_start_time, "2020-01-01T00:00:00Z");
    CHECK_EQ_S(ip->range_end_time, "2021-01-01T00:00:00Z");
    CHECK_EQ_S(ip->range_start, "1577836800");
    CHECK(!ip2->expired && strstr(ip2->skip_reason, "time_unit"), "ip2_a: %s", ip2->skip_reason);
    /* the DEFAULT partition of the time level: counted, never listed */
    CHECK_EQ_I(l.ndefaults, 1);
    if (l.ndefaults == 1) {
        CHECK_EQ_S(l.defaults[0].name, "np_default");
        CHECK(l.defaults[0].has_cutoff, "default cutoff");
        ts_err_clear(&err);
        CHECK(pg_default_rows_count(c, &l, &err) == 0, "count: %s", err.msg);
        CHECK_EQ_I(l.defaults[0].expired_rows, 3); /* the 2019 rows, not 2050 / 2051 */
    }
    pg_chunk_list_free(&l);
    /* --expired: the expired leaves only; with skipped ones, ip2_a too */
    if (discover(c, cfg, true, false, &l) == 0) {
        CHECK(!find(&l, "np_2100") && !find(&l, "ip2_a") && find(&l, "np_2021_h1"), "expired only");
        CHECK_EQ_I(l.n, 6);
    }
    pg_chunk_list_free(&l);
    if (discover(c, cfg, true, true, &l) == 0)
        CHECK(find(&l, "ip2_a") != NULL, "include_skipped");
    pg_chunk_list_free(&l);

    /* a second-level leaf: export, drop, restore re-creates it under its parent */
    pg_chunk one;
    ts_err_clear(&err);
    if (pg_discover_chunk(c, cfg, S, "np_2021_h2", &one, &err) != 0) {
        CHECK(0, "discover one: %s", err.msg);
        goto out;
    }
    pg_export_result er;
    pg_restore_result rr;
    snprintf(p1, sizeof p1, "%s/np_2021_h2.parquet", tmpdir);
    int rc = export_chunk(c, &one, p1, &er);
    pg_chunk_clear(&one);
    if (rc)
        goto out;
    CHECK_EQ_I(er.rows, 7);
    sql(c, "DROP TABLE %s.np_2021_h2", S);
    rc = restore(c, p1, NULL, &rr, &err);
    CHECK(rc == 0 && rr.rows == 7, "restore of a dropped second-level leaf: %s", err.msg);
    snprintf(q, sizeof q,
             "SELECT count(*) FROM pg_inherits WHERE inhrelid = '%s.np_2021_h2'::regclass"
             " AND inhparent = '%s.np_2021'::regclass",
             S, S);
    CHECK_EQ_I(sql_int(c, q), 1);
    CHECK_EQ_I(count(c, "np_2021_h2"), 7);
    /* twice: refused, nothing doubled */
    rc = restore(c, p1, NULL, &rr, &err);
    CHECK(rc == TS_ERR_CONFLICT && strstr(err.msg, "double"), "second restore: %d %s", rc, err.msg);
    CHECK_EQ_I(count(c, "np_2021_h2"), 7);
    printf("    twice: %s\n", err.msg);
    /* asked for: doubled */
    pg_restore_options force = {.force_append = true};
    rc = restore(c, p1, &force, &rr, &err);
    CHECK(rc == 0 && rr.rows == 7, "force-append: %s", err.msg);
    CHECK_EQ_I(count(c, "np_2021_h2"), 14);
    /* a window of the file: only its rows; outside the file: a no-op */
    sql(c, "DELETE FROM %s.np_2021_h2", S);
    pg_restore_options win = {.from = "2021-08-03T00:00:00Z", .to = "2021-08-05T00:00:00Z"};
    rc = restore(c, p1, &win, &rr, &err);
    CHECK(rc == 0 && rr.rows == 2 && rr.rows_skipped == 5, "window: %d rows, %d skipped, %s",
          (int)rr.rows, (int)rr.rows_skipped, err.msg);
    pg_restore_options rest = {.from = "2021-08-05T00:00:00Z"};
    rc = restore(c, p1, &rest, &rr, &err);
    CHECK(rc == 0 && rr.rows == 4, "the rest: %d rows, %s", (int)rr.rows, err.msg);
    pg_restore_options later = {.from = "2030-01-01T00:00:00Z"};
    rc = restore(c, p1, &later, &rr, &err);
    CHECK(rc == 0 && rr.rows == 0 && rr.rows_skipped == 7, "outside: %s", err.msg);
    CHECK_EQ_I(count(c, "np_2021_h2"), 6);
    /* a tree partitioned by LIST first: the time key is its second level's */
    ts_err_clear(&err);
    if (pg_discover_chunk(c, cfg, S, "lp_eu_2020", &one, &err) == 0) {
        snprintf(p1, sizeof p1, "%s/lp_eu_2020.parquet", tmpdir);
        rc = export_chunk(c, &one, p1, &er);
        pg_chunk_clear(&one);
        if (rc == 0) {
            sql(c, "DROP TABLE %s.lp_eu_2020", S);
            rc = restore(c, p1, NULL, &rr, &err);
            CHECK(rc == 0 && rr.rows == 2, "LIST-first restore: %s", err.msg);
            rc = restore(c, p1, NULL, &rr, &err);
            CHECK(rc == TS_ERR_CONFLICT && strstr(err.msg, "first row"), "LIST-first twice: %d %s",
                  rc, err.msg);
            CHECK_EQ_I(count(c, "lp"), 3);
        }
    } else {
        CHECK(0, "discover lp_eu_2020: %s", err.msg);
    }
out:
    pg_chunk_list_free(&l);
    ts_config_free(cfg);
}

/* Every type through the INSERT path (binary parameters; text ones in their type). */
static void test_insert_alltypes(PGconn *c)
{
    char *fixture = read_whole(TS_SOURCE_DIR "/tests/pg/sql/alltypes.sql", NULL), p[512], q[1200];
    pg_export_result er;
    pg_restore_result rr;
    ts_err err;
    printf("  every type through INSERT\n");
    CHECK(fixture != NULL, "cannot read alltypes.sql");
    if (!fixture)
        return;
    sql(c, "SET search_path = %s", S);
    sql(c, "%s", fixture);
    free(fixture);
    sql(c, "RESET search_path");
    sql(c, "CREATE TABLE %1$s.copy (LIKE %1$s.alltypes)", S);
    pg_chunk ch;
    memset(&ch, 0, sizeof ch);
    ch.table_schema = S;
    ch.table_name = "alltypes";
    ch.chunk_schema = S;
    ch.chunk_name = "alltypes_2024_01";
    snprintf(p, sizeof p, "%s/alltypes_2024_01.parquet", tmpdir);
    if (export_chunk(c, &ch, p, &er) != 0)
        return;
    pg_restore_options ro = {.into_schema = S, .into_table = "copy", .method = PG_RESTORE_INSERT};
    int rc = restore(c, p, &ro, &rr, &err);
    CHECK(rc == 0 && rr.rows == er.rows && rr.used_insert, "INSERT restore: %s", err.msg);
    snprintf(q, sizeof q,
             /* on each row's text form: json and point have no equality */
             "SELECT (SELECT count(*) FROM (SELECT t::text FROM %1$s.alltypes_2024_01 t EXCEPT ALL"
             " SELECT t::text FROM %1$s.copy t) a) + (SELECT count(*) FROM (SELECT t::text FROM"
             " %1$s.copy t EXCEPT ALL SELECT t::text FROM %1$s.alltypes_2024_01 t) b)",
             S);
    CHECK_EQ_I(sql_int(c, q), 0);
    /* a plain table has no time column: no range check, but its first row is there */
    rc = restore(c, p, &ro, &rr, &err);
    CHECK(rc == TS_ERR_CONFLICT && strstr(err.msg, "first row"), "plain table twice: %s", err.msg);
    CHECK_EQ_I(count(c, "copy"), er.rows);
    ro.force_append = true; /* and COPY appends when asked */
    ro.method = PG_RESTORE_COPY;
    rc = restore(c, p, &ro, &rr, &err);
    CHECK(rc == 0 && !rr.used_insert, "plain table, force-append: %s", err.msg);
    CHECK_EQ_I(count(c, "copy"), 2 * er.rows);
}

/* ---- hypertables of every time type and chunk interval (PGlite) ---- */

static void test_time_types(PGconn *c)
{
    static const struct {
        const char *name, *type, *interval, *start, *step;
        int n;
    } t[] = {
        {"tz_1h", "timestamptz", "1 hour", "2020-01-01 00:00+00", "20 minutes", 15},
        {"tz_1d", "timestamptz", "1 day", "2020-01-01 00:00+00", "5 hours", 20},
        {"tz_7d", "timestamptz", "7 days", "2020-01-01 00:00+00", "1 day", 20},
        {"tz_1y", "timestamptz", "365 days", "2019-06-01 00:00+00", "30 days", 20},
        {"ts_1d", "timestamp", "1 day", "2020-01-01 00:00", "5 hours", 20},
        {"ts_30d", "timestamp", "30 days", "2020-01-01 00:00", "7 days", 12},
        {"d_1d", "date", "1 day", "2020-01-01", "1 day", 5},
        {"d_7d", "date", "7 days", "2020-01-01", "1 day", 20},
        {"d_1y", "date", "365 days", "2019-06-01", "30 days", 20},
    };
    pg_chunk_list l = {0};
    ts_config *cfg = ts_config_new();
    printf("  time types and chunk intervals\n");
    for (size_t k = 0; k < sizeof t / sizeof *t; k++) {
        sql(c, "CREATE TABLE %s.%s (ts %s NOT NULL, v int, note text)", S, t[k].name, t[k].type);
        sql(c, "SELECT create_hypertable('%s.%s', 'ts', chunk_time_interval => interval '%s')", S,
            t[k].name, t[k].interval);
        sql(c,
            "INSERT INTO %s.%s SELECT ('%s'::%s + i * interval '%s')::%s, i, 'row ' || i"
            " FROM generate_series(0, %d) i",
            S, t[k].name, t[k].start, t[k].type, t[k].step, t[k].type, t[k].n - 1);
    }
    if (discover(c, cfg, false, false, &l) != 0)
        goto out;
    /* every chunk's range is the catalog view's, every one is listed */
    char q[900];
    snprintf(q, sizeof q,
             "SELECT chunk_name, (extract(epoch FROM range_start) * 1000000)::bigint,"
             " (extract(epoch FROM range_end) * 1000000)::bigint, hypertable_name,"
             " format('%%I.%%I', chunk_schema, chunk_name)"
             " FROM timescaledb_information.chunks WHERE hypertable_schema = '%s'"
             " AND hypertable_name ~ '^(tz|ts|d)_' ORDER BY hypertable_name, range_start",
             S);
    PGresult *r = PQexec(c, q);
    int n = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : -1, exported = 0;
    CHECK(n >= 30, "chunks of the time tables: %d", n);
    const char *last_table = "";
    for (int i = 0; i < n; i++) {
        const pg_chunk *ch = find(&l, PQgetvalue(r, i, 0));
        CHECK(ch != NULL, "chunk %s not discovered", PQgetvalue(r, i, 0));
        if (!ch)
            continue;
        CHECK(ch->start_us == strtoll(PQgetvalue(r, i, 1), NULL, 10) &&
                  ch->end_us == strtoll(PQgetvalue(r, i, 2), NULL, 10),
              "%s: %s .. %s, the view says %s .. %s", ch->chunk_name, ch->range_start,
              ch->range_end, PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
        CHECK(ch->expired && !ch->integer_range, "%s: expired %d", ch->chunk_name, ch->expired);
        /* the first chunk of each table: exported, counted, its proof read back */
        if (strcmp(last_table, PQgetvalue(r, i, 3)) != 0) {
            char p[512], fp[PG_PROOF_MAX], cq[300];
            pg_export_result er;
            ts_err err;
            last_table = PQgetvalue(r, i, 3);
            snprintf(p, sizeof p, "%s/%s.parquet", tmpdir, ch->chunk_name);
            if (export_chunk(c, ch, p, &er) != 0)
                continue;
            snprintf(cq, sizeof cq, "SELECT count(*) FROM %s", PQgetvalue(r, i, 4));
            CHECK_EQ_I(er.rows, sql_int(c, cq));
            CHECK(file_proof(c, p, ch->chunk_schema, ch->chunk_name, fp, &err) == 0 &&
                      strcmp(fp, er.proof) == 0,
                  "%s: proof read back %s, export %s (%s)", ch->chunk_name, fp, er.proof, err.msg);
            exported++;
        }
    }
    CHECK_EQ_I(exported, (int)(sizeof t / sizeof *t));
    printf("    %d chunks of %d tables match the catalog view; %d exported and proven\n", n,
           (int)(sizeof t / sizeof *t), exported);
    PQclear(r);
out:
    pg_chunk_list_free(&l);
    ts_config_free(cfg);
}

/* ---- integer time (PGlite) ---- */

static void test_integer(PGconn *c)
{
    static const struct {
        const char *name, *fn;
        int64_t per_s;
    } t[] = {{"i_s", "now_s", 1},
             {"i_ms", "now_ms", 1000},
             {"i_us", "now_us", 1000000},
             {"i_ns", "now_ns", 1000000000}};
    const char *names[] = {"i_cfg", "i_bad"};
    ts_time_unit units[] = {TS_TIME_UNIT_MILLISECONDS, TS_TIME_UNIT_MILLISECONDS};
    ts_config *cfg = config_with(2, names, units);
    pg_chunk_list l = {0};
    printf("  integer time\n");
    for (size_t k = 0; k < sizeof t / sizeof *t; k++) {
        sql(c,
            "CREATE FUNCTION %s.%s() RETURNS bigint LANGUAGE sql STABLE AS"
            " $$ SELECT (extract(epoch FROM now()) * %" PRId64 ")::bigint $$",
            S, t[k].fn, t[k].per_s);
        sql(c, "CREATE TABLE %s.%s (t bigint NOT NULL, v int)", S, t[k].name);
        sql(c, "SELECT create_hypertable('%s.%s', 't', chunk_time_interval => %" PRId64 ")", S,
            t[k].name, 86400 * t[k].per_s);
        sql(c, "SELECT set_integer_now_func('%s.%s', '%s.%s')", S, t[k].name, S, t[k].fn);
        /* 2020-01-01 and now */
        sql(c, "INSERT INTO %s.%s VALUES (%" PRId64 ", 1), (%s.%s(), 2)", S, t[k].name,
            INT64_C(1577836800) * t[k].per_s, S, t[k].fn);
    }
    sql(c,
        "CREATE FUNCTION %s.counter() RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT 42::bigint "
        "$$",
        S);
    const char *more[] = {"i_cfg", "i_none", "i_counter", "i_bad"};
    for (int k = 0; k < 4; k++) {
        sql(c, "CREATE TABLE %s.%s (t bigint NOT NULL, v int)", S, more[k]);
        sql(c, "SELECT create_hypertable('%s.%s', 't', chunk_time_interval => 86400000)", S,
            more[k]);
        sql(c, "INSERT INTO %s.%s VALUES (1577836800000, 1)", S, more[k]);
    }
    sql(c, "SELECT set_integer_now_func('%s.i_counter', '%s.counter')", S, S);
    sql(c, "SELECT set_integer_now_func('%s.i_bad', '%s.now_s')", S, S);
    if (discover(c, cfg, false, true, &l) != 0)
        goto out;
    int old = 0, recent = 0;
    for (int i = 0; i < l.n; i++) {
        const pg_chunk *ch = &l.items[i];
        if (strncmp(ch->table_name, "i_", 2) != 0)
            continue;
        CHECK(ch->integer_range, "%s integer", ch->chunk_name);
        bool is2020 = ch->has_start && ch->start_int <= 1577836800LL * 1000000000 &&
                      ch->range_start_time[0] &&
                      strncmp(ch->range_start_time, "2019-12-3", 9) >= 0 &&
                      strncmp(ch->range_start_time, "2020-01-01", 10) <= 0;
        for (size_t k = 0; k < sizeof t / sizeof *t; k++) {
            if (strcmp(ch->table_name, t[k].name) != 0)
                continue;
            CHECK(!ch->skip_reason[0], "%s: %s", ch->table_name, ch->skip_reason);
            CHECK(ch->time_known && ch->time_unit_inferred &&
                      ch->now_source == PG_NOW_INTEGER_NOW &&
                      pg_unit_per_second(ch->time_unit) == t[k].per_s,
                  "%s: unit %s inferred %d", ch->table_name, ts_time_unit_name(ch->time_unit),
                  ch->time_unit_inferred);
            if (is2020) {
                old++;
                CHECK(ch->expired, "%s 2020 chunk expired", ch->table_name);
                CHECK_EQ_S(ch->range_start_time, "2020-01-01T00:00:00Z");
                CHECK_EQ_S(ch->range_end_time, "2020-01-02T00:00:00Z");
            } else {
                recent++;
                CHECK(!ch->expired, "%s recent chunk not expired", ch->table_name);
            }
        }
        if (strcmp(ch->table_name, "i_cfg") == 0)
            CHECK(!ch->skip_reason[0] && ch->now_source == PG_NOW_CLOCK && ch->expired &&
                      !ch->time_unit_inferred && ch->time_unit == TS_TIME_UNIT_MILLISECONDS,
                  "i_cfg: %s", ch->skip_reason);
        if (strcmp(ch->table_name, "i_none") == 0)
            CHECK(!ch->expired && strstr(ch->skip_reason, "set_integer_now_func"), "i_none: %s",
                  ch->skip_reason);
        if (strcmp(ch->table_name, "i_counter") == 0)
            CHECK(!ch->expired && strstr(ch->skip_reason, "returns 42"), "i_counter: %s",
                  ch->skip_reason);
        if (strcmp(ch->table_name, "i_bad") == 0)
            CHECK(!ch->expired && strstr(ch->skip_reason, "does not fit"), "i_bad: %s",
                  ch->skip_reason);
    }
    CHECK_EQ_I(old, 4);
    CHECK_EQ_I(recent, 4);
    /* an integer chunk: exported, dropped, restored (INSERT), twice refused */
    const pg_chunk *ch = NULL;
    for (int i = 0; i < l.n && !ch; i++)
        if (strcmp(l.items[i].table_name, "i_s") == 0 && l.items[i].expired)
            ch = &l.items[i];
    if (ch) {
        char p[512];
        pg_export_result er;
        pg_restore_result rr;
        ts_err err;
        snprintf(p, sizeof p, "%s/i_s.parquet", tmpdir);
        if (export_chunk(c, ch, p, &er) == 0) {
            sql(c, "DROP TABLE %s.%s", ch->chunk_schema, ch->chunk_name);
            CHECK_EQ_I(count(c, "i_s"), 1);
            CHECK(restore(c, p, NULL, &rr, &err) == 0 && rr.rows == 1, "integer restore: %s",
                  err.msg);
            CHECK_EQ_I(count(c, "i_s"), 2);
            CHECK(restore(c, p, NULL, &rr, &err) == TS_ERR_CONFLICT, "integer twice: %s", err.msg);
            pq_reader *rd = NULL;
            if (pq_reader_open_file(&rd, p, NULL, &err) == 0) {
                const char *range = pq_reader_kv(rd, PG_KV_RANGE);
                CHECK(range && strstr(range, "\"time_unit\":\"seconds\"") &&
                          strstr(range, "\"start_time\":\"2020-01-01T00:00:00Z\""),
                      "range metadata: %s", range ? range : "(none)");
                pq_reader_free(rd);
            }
        }
    }
out:
    pg_chunk_list_free(&l);
    ts_config_free(cfg);
}

/* ---- continuous aggregates (PGlite) ---- */

static const pg_cagg *cagg_named(const pg_caggs *cs, const char *name)
{
    for (int i = 0; i < pg_caggs_count(cs); i++)
        if (strcmp(pg_caggs_get(cs, i)->view_schema, S) == 0 &&
            strcmp(pg_caggs_get(cs, i)->view_name, name) == 0)
            return pg_caggs_get(cs, i);
    return NULL;
}

static void test_caggs(PGconn *c)
{
    pg_chunk_list l = {0};
    ts_config *cfg = ts_config_new();
    pg_caggs *cs = NULL;
    pg_cagg_hold_info h;
    ts_err err;
    char q[600];
    printf("  continuous aggregates\n");
    sql(c, "CREATE TABLE %s.raw (ts timestamptz NOT NULL, v double precision)", S);
    sql(c, "SELECT create_hypertable('%s.raw', 'ts', chunk_time_interval => interval '1 day')", S);
    sql(c,
        "INSERT INTO %s.raw SELECT '2024-01-01'::timestamptz + i * interval '1 hour', i"
        " FROM generate_series(0, 5 * 24 - 1) i",
        S);
    sql(c,
        "CREATE MATERIALIZED VIEW %1$s.hourly WITH (timescaledb.continuous) AS"
        " SELECT time_bucket('1 hour', ts) AS b, avg(v) FROM %1$s.raw GROUP BY 1 WITH NO DATA",
        S);
    if (discover(c, cfg, false, false, &l) != 0)
        goto out;
    const pg_chunk *d1 = NULL, *d3 = NULL;
    for (int i = 0; i < l.n; i++)
        if (strcmp(l.items[i].table_name, "raw") == 0) {
            if (l.items[i].start_us == at("2024-01-01T00:00:00Z"))
                d1 = &l.items[i];
            if (l.items[i].start_us == at("2024-01-03T00:00:00Z"))
                d3 = &l.items[i];
        }
    CHECK(d1 && d3, "raw chunks");
    for (int i = 0; i < l.n; i++)
        CHECK(!l.items[i].cagg_name, "materialized hypertable listed without being configured");
    if (!d1 || !d3)
        goto out;

    /* created WITH NO DATA: nothing materialized, no policy: held */
    ts_err_clear(&err);
    CHECK(pg_caggs_load(c, &cs, &err) == 0, "load: %s", err.msg);
    const pg_cagg *a = cagg_named(cs, "hourly");
    CHECK(a && a->has_watermark && a->watermark == INT64_C(-210866803200000000) &&
              a->npolicies == 0 && a->time_type == 1184,
          "fresh aggregate: watermark %" PRId64, a ? a->watermark : 0);
    pg_cagg_decide(cs, d1, l.now_us, &h);
    CHECK(h.kind == PG_HOLD_INDEFINITE && strcmp(h.cagg_name, "hourly") == 0, "unmaterialized: %s",
          h.reason);
    printf("    %s\n", h.reason);
    pg_caggs_free(cs);
    cs = NULL;

    /* refreshed over the first two days: their chunks go, the third is held */
    sql(c, "CALL refresh_continuous_aggregate('%s.hourly', '2024-01-01', '2024-01-03')", S);
    CHECK(pg_caggs_load(c, &cs, &err) == 0, "load: %s", err.msg);
    a = cagg_named(cs, "hourly");
    CHECK(a && a->watermark == at("2024-01-03T00:00:00Z"), "watermark after the refresh: %" PRId64,
          a ? a->watermark : 0);
    pg_cagg_decide(cs, d1, l.now_us, &h);
    CHECK(h.kind == PG_HOLD_NONE, "materialized: %s", h.reason);
    pg_cagg_decide(cs, d3, l.now_us, &h);
    CHECK(h.kind == PG_HOLD_INDEFINITE, "past the watermark: %s", h.reason);
    pg_caggs_free(cs);
    cs = NULL;

    /* a refresh policy: its config as TimescaleDB writes it */
    sql(c,
        "SELECT add_continuous_aggregate_policy('%s.hourly', start_offset => interval '1 month',"
        " end_offset => interval '1 hour', schedule_interval => interval '1 hour')",
        S);
    snprintf(
        q, sizeof q,
        "SELECT j.id FROM _timescaledb_config.bgw_job j JOIN _timescaledb_catalog.continuous_agg"
        " ca ON ca.mat_hypertable_id = j.hypertable_id WHERE ca.user_view_schema = '%s'"
        " AND ca.user_view_name = 'hourly'",
        S);
    long long job = sql_int(c, q);
    CHECK(pg_caggs_load(c, &cs, &err) == 0, "load: %s", err.msg);
    a = cagg_named(cs, "hourly");
    CHECK(a && a->npolicies == 1 && a->policies[0].job_id == job && !a->policies[0].start_null &&
              a->policies[0].start.months == 1 && a->policies[0].start.days == 0 &&
              a->policies[0].end.us == INT64_C(3600000000),
          "policy as read: %d", a ? a->npolicies : -1);
    /* 2024 is long out of a one-month window: the first days go, the third stays held
     * (past the watermark, and no policy window will reach it) */
    pg_cagg_decide(cs, d1, l.now_us, &h);
    CHECK(h.kind == PG_HOLD_NONE, "old, materialized: %s", h.reason);
    pg_cagg_decide(cs, d3, l.now_us, &h);
    CHECK(h.kind == PG_HOLD_INDEFINITE && strstr(h.reason, "no refresh policy will"), "%s",
          h.reason);
    pg_caggs_free(cs);
    cs = NULL;

    /* the policy's start_offset widened (alter_job, as an operator would): 20 years */
    sql(c,
        "SELECT alter_job(%1$lld, config => (SELECT jsonb_set(config, '{start_offset}',"
        " '\"7300 days\"') FROM _timescaledb_config.bgw_job WHERE id = %1$lld))",
        job);
    CHECK(pg_caggs_load(c, &cs, &err) == 0, "load: %s", err.msg);
    pg_cagg_decide(cs, d1, l.now_us, &h);
    CHECK(h.kind == PG_HOLD_UNTIL && h.job_id == job &&
              h.until_us == d1->end_us + 7300 * US_DAY + INT64_C(3600000000),
          "20-year window: %s", h.reason);
    printf("    %s\n", h.reason);
    pg_caggs_free(cs);
    cs = NULL;
    /* and dropped (NULL: from the beginning of time) */
    sql(c,
        "SELECT alter_job(%1$lld, config => (SELECT jsonb_set(config, '{start_offset}', 'null')"
        " FROM _timescaledb_config.bgw_job WHERE id = %1$lld))",
        job);
    CHECK(pg_caggs_load(c, &cs, &err) == 0, "load: %s", err.msg);
    pg_cagg_decide(cs, d1, l.now_us, &h);
    CHECK(h.kind == PG_HOLD_INDEFINITE && h.job_id == job && strstr(h.reason, "no start_offset"),
          "NULL start_offset: %s", h.reason);
    pg_caggs_free(cs);
    cs = NULL;
    /* back to one month; the background job's run, which PGlite cannot do, mimicked by
     * moving the watermark past the third day */
    sql(c,
        "SELECT alter_job(%1$lld, config => (SELECT jsonb_set(config, '{start_offset}',"
        " '\"1 mon\"') FROM _timescaledb_config.bgw_job WHERE id = %1$lld))",
        job);
    sql(c,
        "UPDATE _timescaledb_catalog.continuous_aggs_watermark SET watermark = %" PRId64
        " WHERE mat_hypertable_id = (SELECT mat_hypertable_id FROM"
        " _timescaledb_catalog.continuous_agg WHERE user_view_schema = '%s'"
        " AND user_view_name = 'hourly')",
        at("2024-01-06T00:00:00Z"), S);
    ts_err_clear(&err);
    CHECK(pg_cagg_hold(c, d3, &h, &err) == 0 && h.kind == PG_HOLD_NONE, "after a run: %s %s",
          err.msg, h.reason);

    /* an integer aggregate with an integer policy */
    sql(c,
        "CREATE FUNCTION %s.inow() RETURNS bigint LANGUAGE sql STABLE AS"
        " $$ SELECT extract(epoch FROM now())::bigint $$",
        S);
    sql(c, "CREATE TABLE %s.iraw (t bigint NOT NULL, v int)", S);
    sql(c, "SELECT create_hypertable('%s.iraw', 't', chunk_time_interval => 86400)", S);
    sql(c, "SELECT set_integer_now_func('%s.iraw', '%s.inow')", S, S);
    sql(c, "INSERT INTO %1$s.iraw VALUES (1577836800, 1), (%1$s.inow() - 3600, 2)", S);
    sql(c,
        "CREATE MATERIALIZED VIEW %1$s.ihourly WITH (timescaledb.continuous) AS"
        " SELECT time_bucket(3600::bigint, t) AS b, sum(v) FROM %1$s.iraw GROUP BY 1 WITH NO DATA",
        S);
    sql(c, "CALL refresh_continuous_aggregate('%s.ihourly', NULL, NULL)", S);
    sql(c,
        "SELECT add_continuous_aggregate_policy('%s.ihourly', start_offset => 864000::bigint,"
        " end_offset => 3600::bigint, schedule_interval => interval '1 hour')",
        S);
    pg_chunk_list il = {0};
    if (discover(c, cfg, false, false, &il) == 0) {
        CHECK(pg_caggs_load(c, &cs, &err) == 0, "load: %s", err.msg);
        const pg_cagg *ia = cagg_named(cs, "ihourly");
        CHECK(ia && ia->time_type == 20 && ia->has_now_int && ia->npolicies == 1 &&
                  ia->policies[0].start_int == 864000,
              "integer aggregate as read");
        int held = 0, free_ = 0;
        for (int i = 0; i < il.n; i++) {
            if (strcmp(il.items[i].table_name, "iraw") != 0)
                continue;
            pg_cagg_decide(cs, &il.items[i], il.now_us, &h);
            if (il.items[i].start_int < 1600000000) {
                free_ += h.kind == PG_HOLD_NONE;
            } else {
                held += h.kind == PG_HOLD_UNTIL && !h.until_int_only &&
                        h.until_int == il.items[i].end_int + 864000;
                printf("    %s\n", h.reason);
            }
        }
        CHECK(held == 1 && free_ == 1, "integer aggregate: %d held, %d free", held, free_);
    }
    pg_chunk_list_free(&il);

    /* the aggregate's own hypertable: listed once the config names the aggregate */
    const char *names[] = {"hourly"};
    ts_config *named = config_with(1, names, NULL);
    pg_chunk_list ml = {0};
    if (discover(c, named, false, false, &ml) == 0) {
        int mat = 0;
        for (int i = 0; i < ml.n; i++)
            if (ml.items[i].cagg_name) {
                mat++;
                CHECK_EQ_S(ml.items[i].cagg_name, "hourly");
                CHECK_EQ_S(ml.items[i].table_schema, "_timescaledb_internal");
            }
        CHECK(mat >= 1, "materialized chunks listed: %d", mat);
        printf("    %d chunk(s) of the materialized hypertable listed when configured\n", mat);
    }
    pg_chunk_list_free(&ml);
    ts_config_free(named);
out:
    pg_caggs_free(cs);
    pg_chunk_list_free(&l);
    ts_config_free(cfg);
}

/* ---- restore into hypertables (PGlite) ---- */

static void test_restore_hypertable(PGconn *c)
{
    pg_chunk_list l = {0};
    ts_config *cfg = ts_config_new();
    pg_restore_result rr;
    pg_export_result er;
    ts_err err;
    char p1[512], p2[512], q[600];
    printf("  restore into hypertables\n");
    sql(c,
        "CREATE TABLE %s.rh (ts timestamptz NOT NULL, device int NOT NULL, v double precision,"
        " note text, iv interval, tags text[], n numeric(12,3))",
        S);
    sql(c, "SELECT create_hypertable('%s.rh', 'ts', chunk_time_interval => interval '1 day')", S);
    sql(c,
        "INSERT INTO %s.rh SELECT '2024-01-01'::timestamptz + i * interval '1 hour', i %% 4,"
        " i * 0.5, CASE WHEN i %% 7 = 0 THEN NULL ELSE 'n' || i END, i * interval '1 minute',"
        " ARRAY['a' || i, NULL], i * 1.001 FROM generate_series(0, 71) i",
        S);
    sql(c,
        "ALTER TABLE %s.rh SET (timescaledb.compress, timescaledb.compress_segmentby = 'device')",
        S);
    sql(c, "CREATE TABLE %1$s.rh2 (LIKE %1$s.rh)", S);
    sql(c, "SELECT create_hypertable('%s.rh2', 'ts', chunk_time_interval => interval '1 day')", S);
    if (discover(c, cfg, false, false, &l) != 0)
        goto out;
    const pg_chunk *first = NULL, *second = NULL;
    for (int i = 0; i < l.n; i++)
        if (strcmp(l.items[i].table_name, "rh") == 0) {
            if (!first)
                first = &l.items[i];
            else if (!second)
                second = &l.items[i];
        }
    CHECK(first && second, "rh chunks");
    if (!first || !second)
        goto out;
    snprintf(p1, sizeof p1, "%s/rh_1.parquet", tmpdir);
    snprintf(p2, sizeof p2, "%s/rh_2.parquet", tmpdir);
    if (export_chunk(c, first, p1, &er) != 0 || export_chunk(c, second, p2, &er) != 0)
        goto out;
    sql(c, "DROP TABLE %s.%s", first->chunk_schema, first->chunk_name);
    CHECK_EQ_I(count(c, "rh"), 48);

    /* into the hypertable: the chunk comes back, compressed */
    pg_restore_options comp = {.compress = true};
    int rc = restore(c, p1, &comp, &rr, &err);
    CHECK(rc == 0 && rr.rows == 24 && rr.chunks_created == 1 && rr.chunks_compressed == 1 &&
              rr.used_insert,
          "restore --compress: %d rows, %d created, %d compressed, insert %d: %s", (int)rr.rows,
          rr.chunks_created, rr.chunks_compressed, rr.used_insert, err.msg);
    CHECK_EQ_I(count(c, "rh"), 72);
    snprintf(q, sizeof q,
             "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_schema = '%s'"
             " AND hypertable_name = 'rh' AND is_compressed",
             S);
    CHECK_EQ_I(sql_int(c, q), 1);
    snprintf(q, sizeof q,
             "SELECT count(*) FROM %s.rh WHERE ts < '2024-01-02' AND n = (extract(epoch FROM ts"
             " - '2024-01-01') / 3600)::int * 1.001 AND iv = (extract(epoch FROM ts - '2024-01-01')"
             " / 3600)::int * interval '1 minute'",
             S);
    CHECK_EQ_I(sql_int(c, q), 24); /* the values, text-planned interval included */
    /* twice: refused (the chunk is compressed now: the check reads through it) */
    rc = restore(c, p1, NULL, &rr, &err);
    CHECK(rc == TS_ERR_CONFLICT, "twice: %d %s", rc, err.msg);
    CHECK_EQ_I(count(c, "rh"), 72);
    /* --compress on a hypertable without compression: refused before any row */
    pg_restore_options comp2 = {.compress = true, .into_schema = S, .into_table = "rh2"};
    rc = restore(c, p2, &comp2, &rr, &err);
    CHECK(rc == TS_ERR_INVALID && strstr(err.msg, "compression is not enabled"), "%s", err.msg);
    /* a window of a file into another hypertable, then the rest: all of it, once */
    pg_restore_options w1 = {.into_schema = S,
                             .into_table = "rh2",
                             .from = "2024-01-02T06:00:00Z",
                             .to = "2024-01-02T12:00:00Z"};
    rc = restore(c, p2, &w1, &rr, &err);
    CHECK(rc == 0 && rr.rows == 6 && rr.rows_skipped == 18 && rr.chunks_created == 1,
          "window: %d rows %d skipped: %s", (int)rr.rows, (int)rr.rows_skipped, err.msg);
    pg_restore_options w2 = {.into_schema = S, .into_table = "rh2", .to = "2024-01-02T06:00:00Z"};
    pg_restore_options w3 = {.into_schema = S, .into_table = "rh2", .from = "2024-01-02T12:00:00Z"};
    CHECK(restore(c, p2, &w2, &rr, &err) == 0 && rr.rows == 6 && rr.chunks_created == 0, "w2: %s",
          err.msg);
    CHECK(restore(c, p2, &w3, &rr, &err) == 0 && rr.rows == 12, "w3: %s", err.msg);
    CHECK_EQ_I(count(c, "rh2"), 24);
    pg_restore_options all2 = {.into_schema = S, .into_table = "rh2"};
    CHECK(restore(c, p2, &all2, &rr, &err) == TS_ERR_CONFLICT, "rh2 twice: %s", err.msg);
    all2.force_append = true;
    CHECK(restore(c, p2, &all2, &rr, &err) == 0 && rr.rows == 24, "force: %s", err.msg);
    CHECK_EQ_I(count(c, "rh2"), 48);

    /* space partitions: three chunks share each day; one dropped and restored while its
     * siblings hold rows of the same hours (the time range alone cannot tell) */
    sql(c, "CREATE TABLE %s.sp (ts timestamptz NOT NULL, device int NOT NULL, v int)", S);
    sql(c,
        "SELECT create_hypertable('%s.sp', 'ts', 'device', 3, chunk_time_interval => interval '1 "
        "day')",
        S);
    sql(c,
        "INSERT INTO %s.sp SELECT '2024-01-01'::timestamptz + i * interval '10 min', i %% 6, i"
        " FROM generate_series(0, 143) i",
        S);
    pg_chunk_list sl = {0};
    if (discover(c, cfg, false, false, &sl) == 0) {
        const pg_chunk *sc = NULL;
        for (int i = 0; i < sl.n && !sc; i++)
            if (strcmp(sl.items[i].table_name, "sp") == 0)
                sc = &sl.items[i];
        char p4[512], cq[300];
        snprintf(p4, sizeof p4, "%s/sp.parquet", tmpdir);
        if (sc && export_chunk(c, sc, p4, &er) == 0) {
            snprintf(cq, sizeof cq, "SELECT count(*) FROM %s.%s", sc->chunk_schema, sc->chunk_name);
            CHECK(er.rows > 0 && er.rows < 144, "one space chunk: %d rows", (int)er.rows);
            sql(c, "DROP TABLE %s.%s", sc->chunk_schema, sc->chunk_name);
            CHECK(restore(c, p4, NULL, &rr, &err) == 0 && rr.rows == er.rows &&
                      rr.chunks_created == 1,
                  "space chunk restore: %s", err.msg);
            CHECK_EQ_I(count(c, "sp"), 144);
            CHECK(restore(c, p4, NULL, &rr, &err) == TS_ERR_CONFLICT, "space chunk twice: %s",
                  err.msg);
            CHECK_EQ_I(count(c, "sp"), 144);
        }
    }
    pg_chunk_list_free(&sl);

    /* a date hypertable */
    sql(c, "CREATE TABLE %s.dh (d date NOT NULL, v int)", S);
    sql(c, "SELECT create_hypertable('%s.dh', 'd', chunk_time_interval => interval '7 days')", S);
    sql(c, "INSERT INTO %s.dh SELECT '2020-01-01'::date + i, i FROM generate_series(0, 20) i", S);
    pg_chunk_list dl = {0};
    if (discover(c, cfg, false, false, &dl) == 0) {
        const pg_chunk *dc = NULL;
        for (int i = 0; i < dl.n && !dc; i++)
            if (strcmp(dl.items[i].table_name, "dh") == 0)
                dc = &dl.items[i];
        char p3[512];
        snprintf(p3, sizeof p3, "%s/dh.parquet", tmpdir);
        if (dc && export_chunk(c, dc, p3, &er) == 0) {
            int64_t rows = er.rows;
            sql(c, "DROP TABLE %s.%s", dc->chunk_schema, dc->chunk_name);
            CHECK(restore(c, p3, NULL, &rr, &err) == 0 && rr.rows == rows, "date restore: %s",
                  err.msg);
            CHECK(restore(c, p3, NULL, &rr, &err) == TS_ERR_CONFLICT, "date twice: %s", err.msg);
            CHECK_EQ_I(count(c, "dh"), 21);
        }
    }
    pg_chunk_list_free(&dl);
out:
    pg_chunk_list_free(&l);
    ts_config_free(cfg);
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "pg";
    bool tsdb = strcmp(which, "tsdb") == 0;
    const char *var = tsdb ? "TS_TEST_TSDB_URL" : "TS_TEST_PG_URL";
    const char *url = getenv(var);
    char db[64], own[2048];
    PGconn *c = NULL;
    ts_err err;
    if (!url || !*url) {
        printf("skipped: %s is not set (source build/services/env after scripts/services start)\n",
               var);
        return 77;
    }
    ts_log_setup(TS_LOG_WARN, 0, NULL);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tsarchive-it-tsdb-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(S, sizeof S, "it_tsdb_%d", (int)getpid());
    if (!tsdb) {
        if (own_database(url, "tsarchive_it_tsdb", db, sizeof db, own, sizeof own) != 0)
            return 1;
        url = own;
    }
    ts_err_clear(&err);
    if (pg_connect(url, &c, &err) != 0) {
        fprintf(stderr, "connect: %s\n", err.msg);
        return 1;
    }
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    printf("%s, schema %s\n",
           tsdb ? "PGlite+TimescaleDB at TS_TEST_TSDB_URL" : "PostgreSQL at TS_TEST_PG_URL", S);
    sql(c, "SET client_min_messages = warning");
    sql(c, "CREATE SCHEMA %s", S);
    test_partitions(c);
    if (tsdb) {
        test_time_types(c);
        test_integer(c);
        test_caggs(c);
        test_restore_hypertable(c);
    } else {
        test_insert_alltypes(c);
    }
    sql(c, "DROP SCHEMA %s CASCADE", S);
    pg_disconnect(c);
    if (!tsdb)
        drop_own_database(getenv(var), db);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (failures == 0 && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    printf("%s: %d failure(s)%s%s\n", which, failures, failures ? ", files kept in " : "",
           failures ? tmpdir : "");
    return failures ? 1 : 0;
}
