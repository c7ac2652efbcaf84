/* it_pg.c: integration tests of src/pg/ against a real PostgreSQL 15
 * (TS_TEST_PG_URL) and PGlite+TimescaleDB (TS_TEST_TSDB_URL), as scripts/services
 * starts them. A server whose variable is unset is skipped, saying so; with neither,
 * the program exits 77 (CTest SKIP_RETURN_CODE).
 *
 * usage: it_pg pg|tsdb   (TS_SOURCE_DIR and TS_TOOLS_DIR are compiled in)
 *
 * PostgreSQL 15 (in a database of its own, dropped at the end): the every-type
 * range-partitioned table (sql/alltypes.sql): discovery, export of each partition,
 * value-by-value comparison with DuckDB and parquet-wasm (compare.mjs), the proof of
 * each file read back (equal to the export's), the change proof (unchanged / update /
 * revert / insert / delete),
 * drop and restore with (a EXCEPT ALL b) empty both ways, a table named
 * `"; DROP TABLE x; --"`, and failures (missing chunk, column mismatch, server gone
 * mid-COPY, disk full) leaving no file behind.
 *
 * PGlite+TimescaleDB: discovery of time, integer, space-partitioned and compressed
 * chunks; export of a compressed chunk compared with DuckDB and parquet-wasm; the
 * proof; drop under the lock. Limits of PGlite, stated: one shared session for all
 * connections, and it serves one connection at a time (the test closes its own
 * while psql, driven by compare.mjs, reads), and
 * COPY ... FROM STDIN breaks it: restore through COPY is tested on PostgreSQL 15 here;
 * on PGlite restore goes through INSERTs, tested in tests/tsdb/it_tsdb.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "pg/conn.h"
#include "pg/discover.h"
#include "pg/export.h"
#include "pg/proof.h"
#include "pg/restore.h"

#include "it_common.h"

static char tmpdir[256];

static char *read_file(const char *path)
{
    return read_whole(path, NULL);
}

static int have_node(void)
{
    return system("node --version >/dev/null 2>&1") == 0;
}

/* Runs compare.mjs on file against relation (a SQL relation name, quoted). */
static void compare(const char *url, const char *file, const char *relation, const char *key)
{
    char cmd[4096];
    if (!have_node()) {
        printf("  (node missing: DuckDB / parquet-wasm comparison skipped)\n");
        return;
    }
    /* arguments through the environment: no shell quoting of names */
    setenv("CMP_PG", url, 1);
    setenv("CMP_FILE", file, 1);
    setenv("CMP_REL", relation, 1);
    setenv("CMP_KEY", key, 1);
    snprintf(
        cmd, sizeof cmd,
        "TS_TOOLS_DIR='%s' node '%s/tests/pg/compare.mjs' --pg \"$CMP_PG\" --file \"$CMP_FILE\" "
        "--relation \"$CMP_REL\" --key \"$CMP_KEY\"",
        TS_TOOLS_DIR, TS_SOURCE_DIR);
    int rc = system(cmd);
    CHECK(rc == 0, "compare.mjs failed for %s (%s)", file, relation);
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static const pg_chunk *find_chunk(const pg_chunk_list *l, const char *name)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->items[i].chunk_name, name) == 0)
            return &l->items[i];
    return NULL;
}

static int export_chunk(PGconn *c, const pg_chunk *ch, const char *path, pg_export_result *res,
                        ts_err *err)
{
    pg_export_source src = {.table_schema = ch->table_schema,
                            .table_name = ch->table_name,
                            .chunk_schema = ch->chunk_schema,
                            .chunk_name = ch->chunk_name,
                            .range_start = ch->has_start ? ch->range_start : NULL,
                            .range_end = ch->has_end ? ch->range_end : NULL,
                            .bound_from = ch->bound_from,
                            .bound_to = ch->bound_to};
    pg_export_options opt;
    pg_export_options_init(&opt, NULL);
    ts_err_clear(err);
    return pg_export_file(c, &src, &opt, path, res, err);
}

/* The retention side's check: lock, prove, roll back (or drop). */
static int proof_check(PGconn *c, const char *schema, const char *name, const char *proof, int drop,
                       ts_err *err)
{
    char *rel = pg_qualified_name(c, schema, name, err);
    char q[1024];
    int rc;
    ts_err_clear(err);
    sql(c, "BEGIN");
    snprintf(q, sizeof q, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", rel);
    sql(c, "%s", q);
    rc = pg_chunk_unchanged(c, schema, name, proof, err);
    if (rc == 0 && drop) {
        snprintf(q, sizeof q, "DROP TABLE %s", rel);
        sql(c, "%s", q);
        sql(c, "COMMIT");
    } else {
        sql(c, "ROLLBACK");
    }
    free(rel);
    return rc;
}

/* ---- sinks for failure tests ---- */
typedef struct kill_sink {
    PGconn *other;
    int pid;
    int fired;
} kill_sink;

static int sink_kill(void *ctx, const void *data, size_t len, ts_err *err)
{
    kill_sink *k = ctx;
    (void)data;
    (void)len;
    (void)err;
    if (!k->fired) {
        char q[128];
        snprintf(q, sizeof q, "SELECT pg_terminate_backend(%d)", k->pid);
        PQclear(PQexec(k->other, q));
        k->fired = 1;
        usleep(200000);
    }
    return 0;
}

static int sink_full(void *ctx, const void *data, size_t len, ts_err *err)
{
    FILE *f = ctx;
    if (fwrite(data, 1, len, f) != len || fflush(f) != 0)
        return ts_err_set(err, TS_ERR_IO, "could not write \"/dev/full\": %s", strerror(errno));
    return 0;
}

static void test_pg(const char *url)
{
    PGconn *c = NULL, *c2 = NULL;
    ts_err err;
    ts_config *cfg = ts_config_new();
    pg_chunk_list l = {0};
    pg_discover_filter f = {.table = "it_pg.*"};
    pg_export_result r1, r2;
    char p1[512], p2[512];
    int rc;

    printf("PostgreSQL 15 at TS_TEST_PG_URL\n");
    ts_err_clear(&err);
    rc = pg_connect(url, &c, &err);
    CHECK(rc == 0, "connect: %s", err.msg);
    if (rc)
        return;
    sql(c, "DROP SCHEMA IF EXISTS it_pg CASCADE");
    sql(c, "CREATE SCHEMA it_pg");
    sql(c, "SET search_path = it_pg");
    char *fixture = read_file(TS_SOURCE_DIR "/tests/pg/sql/alltypes.sql");
    CHECK(fixture != NULL, "cannot read alltypes.sql");
    if (fixture)
        sql(c, "%s", fixture);
    free(fixture);
    sql(c, "CREATE TABLE it_pg.snapshot AS SELECT * FROM it_pg.alltypes");
    sql(c, "RESET search_path");

    /* discovery */
    rc = pg_discover(c, cfg, &f, &l, &err);
    CHECK(rc == 0, "discover: %s", err.msg);
    CHECK_EQ_I(l.n, 3);
    const pg_chunk *jan = find_chunk(&l, "alltypes_2024_01"),
                   *feb = find_chunk(&l, "alltypes_2024_02"),
                   *fut = find_chunk(&l, "alltypes_future");
    CHECK(jan && feb && fut, "partitions not found");
    if (!jan || !feb || !fut)
        goto out;
    CHECK(strcmp(jan->range_start, "2024-01-01T00:00:00Z") == 0, "%s", jan->range_start);
    CHECK(strcmp(jan->range_end, "2024-02-01T00:00:00Z") == 0, "%s", jan->range_end);
    CHECK(jan->expired && feb->expired && !fut->expired, "expiry (retention %d days)",
          jan->retention_days);
    CHECK(!fut->has_end, "MAXVALUE should be unbounded");
    CHECK(jan->source == PG_SRC_PARTITION, "source");
    /* --expired and exclusion */
    {
        pg_chunk_list l2 = {0};
        pg_discover_filter f2 = {.table = "it_pg.*", .expired_only = true};
        rc = pg_discover(c, cfg, &f2, &l2, &err);
        CHECK(rc == 0 && l2.n == 2, "expired only: %d", l2.n);
        pg_chunk_list_free(&l2);
        char *ex[] = {"it_pg.allt*", NULL};
        char **saved = cfg->database.exclude;
        cfg->database.exclude = ex;
        rc = pg_discover(c, cfg, &f, &l2, &err);
        CHECK(rc == 0 && l2.n == 0, "excluded: %d", l2.n);
        cfg->database.exclude = saved;
        pg_chunk_list_free(&l2);
    }

    /* export + compare */
    snprintf(p1, sizeof p1, "%s/jan.parquet", tmpdir);
    snprintf(p2, sizeof p2, "%s/feb.parquet", tmpdir);
    rc = export_chunk(c, jan, p1, &r1, &err);
    CHECK(rc == 0, "export jan: %s", err.msg);
    CHECK_EQ_I(r1.rows, 6);
    rc = export_chunk(c, feb, p2, &r2, &err);
    CHECK(rc == 0, "export feb: %s", err.msg);
    CHECK_EQ_I(r2.rows, 2);
    CHECK(!exists(TS_SOURCE_DIR "/x.tmp"), "stray");
    compare(url, p1, "it_pg.alltypes_2024_01", "id");
    compare(url, p2, "it_pg.alltypes_2024_02", "id");

    /* the files read back prove the exported rows */
    {
        char fp[PG_PROOF_MAX];
        rc = file_proof(c, p1, "it_pg", "alltypes_2024_01", fp, &err);
        CHECK(rc == 0, "proof of jan.parquet: %s", err.msg);
        CHECK_EQ_S(fp, r1.proof);
        rc = file_proof(c, p2, "it_pg", "alltypes_2024_02", fp, &err);
        CHECK(rc == 0, "proof of feb.parquet: %s", err.msg);
        CHECK_EQ_S(fp, r2.proof);
        /* another chunk's file: its rows are not this chunk's */
        rc = file_proof(c, p2, "it_pg", "alltypes_2024_01", fp, &err);
        CHECK(rc == 0 && strcmp(fp, r1.proof) != 0, "feb.parquet proves jan: %s", err.msg);
    }

    /* the change proof */
    rc = proof_check(c, "it_pg", "alltypes_2024_01", r1.proof, 0, &err);
    CHECK(rc == 0, "unchanged chunk reported changed: %s", err.msg);
    sql(c, "UPDATE it_pg.alltypes SET tx = tx || '!' WHERE id = 1");
    rc = proof_check(c, "it_pg", "alltypes_2024_01", r1.proof, 0, &err);
    CHECK(rc == TS_ERR_CONFLICT, "update not detected (%d)", rc);
    printf("  update detected: %s\n", err.msg);
    sql(c, "UPDATE it_pg.alltypes SET tx = left(tx, -1) WHERE id = 1");
    rc = proof_check(c, "it_pg", "alltypes_2024_01", r1.proof, 0, &err);
    CHECK(rc == 0, "reverted update: contents equal again, yet: %s", err.msg);
    sql(c, "INSERT INTO it_pg.alltypes (ts, id) VALUES ('2024-01-15', 99)");
    rc = proof_check(c, "it_pg", "alltypes_2024_01", r1.proof, 0, &err);
    CHECK(rc == TS_ERR_CONFLICT, "insert not detected (%d)", rc);
    sql(c, "DELETE FROM it_pg.alltypes WHERE id = 99");
    rc = proof_check(c, "it_pg", "alltypes_2024_01", r1.proof, 0, &err);
    CHECK(rc == 0, "insert then delete: contents equal again, yet: %s", err.msg);
    sql(c, "DELETE FROM it_pg.alltypes WHERE id IS NULL AND ts = '2024-01-06 00:00:00+00'");
    rc = proof_check(c, "it_pg", "alltypes_2024_01", r1.proof, 0, &err);
    CHECK(rc == TS_ERR_CONFLICT, "delete not detected (%d)", rc);
    /* delete one row and insert another: the same count, different contents */
    sql(c, "INSERT INTO it_pg.alltypes (ts, id) VALUES ('2024-01-06', 2000000)");
    rc = proof_check(c, "it_pg", "alltypes_2024_01", r1.proof, 0, &err);
    CHECK(rc == TS_ERR_CONFLICT, "delete+insert with the same count not detected (%d)", rc);
    printf("  delete+insert detected: %s\n", err.msg);
    sql(c, "DELETE FROM it_pg.alltypes WHERE id = 2000000");
    sql(c, "INSERT INTO it_pg.alltypes (ts) VALUES ('2024-01-06 00:00:00+00')");
    rc = proof_check(c, "it_pg", "alltypes_2024_01", r1.proof, 0, &err);
    CHECK(rc == 0, "the same rows again: %s", err.msg);
    rc = proof_check(c, "it_pg", "alltypes_2024_01", "v1:garbage", 0, &err);
    CHECK(rc == TS_ERR_INVALID, "malformed proof (%d)", rc);

    /* drop (under the lock, after the proof) and restore */
    rc = proof_check(c, "it_pg", "alltypes_2024_01", r1.proof, 1, &err);
    CHECK(rc == 0, "drop jan: %s", err.msg);
    rc = proof_check(c, "it_pg", "alltypes_2024_02", r2.proof, 1, &err);
    CHECK(rc == 0, "drop feb: %s", err.msg);
    CHECK_EQ_I(sql_int(c, "SELECT count(*) FROM it_pg.alltypes"), 0);
    {
        pg_restore_result rr;
        rc = pg_restore_file(c, p1, NULL, &rr, &err);
        CHECK(rc == 0, "restore jan: %s", err.msg);
        CHECK_EQ_I(rr.rows, 6);
        rc = pg_restore_file(c, p2, NULL, &rr, &err);
        CHECK(rc == 0, "restore feb: %s", err.msg);
    }
    /* EXCEPT ALL both ways, on each row's text form (point and json have no equality
     * operator, and the text form also tells -0 from 0) */
    CHECK_EQ_I(sql_int(c, "SELECT count(*) FROM ((SELECT t::text FROM it_pg.alltypes t) EXCEPT ALL"
                          " (SELECT t::text FROM it_pg.snapshot t)) x"),
               0);
    CHECK_EQ_I(sql_int(c, "SELECT count(*) FROM ((SELECT t::text FROM it_pg.snapshot t) EXCEPT ALL"
                          " (SELECT t::text FROM it_pg.alltypes t)) x"),
               0);
    /* and TABLE a EXCEPT ALL TABLE b on the columns whose types have equality */
    CHECK_EQ_I(sql_int(c,
                       "SELECT count(*) FROM (SELECT ts, id, t, d, i2, i4, i8, f4, f8, b, tx, vc,"
                       " ch, nm, en, n5_2, n18_4, n38_10, n38_0, n3_m2, n2_5, n50, nfree, u, jb,"
                       " by, a_i4, a_tx, a_ts, a_n, a_b, a_u, a_jb, a_en, iv, ip, tm, ttz, md,"
                       " mny, bits, rng FROM it_pg.alltypes EXCEPT ALL SELECT ts, id, t, d, i2,"
                       " i4, i8, f4, f8, b, tx, vc, ch, nm, en, n5_2, n18_4, n38_10, n38_0, n3_m2,"
                       " n2_5, n50, nfree, u, jb, by, a_i4, a_tx, a_ts, a_n, a_b, a_u, a_jb, a_en,"
                       " iv, ip, tm, ttz, md, mny, bits, rng FROM it_pg.snapshot) x"),
               0);
    CHECK_EQ_I(sql_int(c, "SELECT count(*) FROM it_pg.alltypes"), 8);

    /* restore --into another table; column mismatch caught before any row */
    sql(c, "CREATE TABLE it_pg.copy (LIKE it_pg.alltypes)");
    {
        pg_restore_options ro = {.into_schema = "it_pg", .into_table = "copy"};
        pg_restore_result rr;
        rc = pg_restore_file(c, p1, &ro, &rr, &err);
        CHECK(rc == 0 && rr.rows == 6, "restore --into: %s", err.msg);
        sql(c, "ALTER TABLE it_pg.copy DROP COLUMN iv");
        ts_err_clear(&err);
        rc = pg_restore_file(c, p1, &ro, &rr, &err);
        CHECK(rc == TS_ERR_INVALID, "mismatch not detected (%d)", rc);
        printf("  mismatch: %s\n", err.msg);
        sql(c, "ALTER TABLE it_pg.copy ADD COLUMN iv text");
        ts_err_clear(&err);
        rc = pg_restore_file(c, p1, &ro, &rr, &err);
        CHECK(rc == TS_ERR_INVALID, "type mismatch not detected (%d)", rc);
        printf("  mismatch: %s\n", err.msg);
        CHECK_EQ_I(sql_int(c, "SELECT count(*) FROM it_pg.copy"), 6);
    }

    /* a file written by DuckDB restores too */
    if (have_node()) {
        char d[512], cmd[2048];
        snprintf(d, sizeof d, "%s/duck.parquet", tmpdir);
        snprintf(
            cmd, sizeof cmd,
            "cd '%s' && node -e \"const {DuckDBInstance}=require('@duckdb/node-api');"
            "(async()=>{const c=await (await DuckDBInstance.create(':memory:')).connect();"
            "await c.run(\\\"COPY (SELECT TIMESTAMPTZ '2024-01-03 04:05:06.7+00' AS ts, 42::BIGINT "
            "AS id,"
            " 1.25::DECIMAL(5,2) AS n5_2, [1,NULL,3]::INTEGER[] AS a_i4, 'x' AS tx, '1 day' AS iv,"
            " uuid '00000000-0000-0000-0000-000000000001' AS u, DATE '2024-01-02' AS d)"
            " TO '%s' (FORMAT parquet)\\\")})()\"",
            TS_TOOLS_DIR, d);
        CHECK(system(cmd) == 0, "duckdb write failed");
        sql(c, "CREATE TABLE it_pg.from_duck (ts timestamptz, id bigint, n5_2 numeric(5,2),"
               " a_i4 int[], tx text, iv interval, u uuid, d date)");
        pg_restore_options ro = {.into_schema = "it_pg", .into_table = "from_duck"};
        pg_restore_result rr;
        ts_err_clear(&err);
        rc = pg_restore_file(c, d, &ro, &rr, &err);
        CHECK(rc == 0 && rr.rows == 1, "restore of a DuckDB file: %s", err.msg);
        CHECK_EQ_I(
            sql_int(c, "SELECT count(*) FROM it_pg.from_duck WHERE ts = '2024-01-03 04:05:06.7+00'"
                       " AND id = 42 AND n5_2 = 1.25 AND a_i4 = '{1,NULL,3}' AND tx = 'x'"
                       " AND iv = '1 day' AND u = '00000000-0000-0000-0000-000000000001'"
                       " AND d = '2024-01-02'"),
            1);
    }

    /* a table named "; DROP TABLE x; --" archives like any other */
    sql(c, "CREATE TABLE it_pg.x (keep int)");
    sql(c, "CREATE TABLE it_pg.\"\"\"; DROP TABLE x; --\"\"\" (\"ts\"\"'\" timestamptz NOT NULL,"
           " id int, \"v; DROP TABLE x\" text) PARTITION BY RANGE (\"ts\"\"'\")");
    sql(c, "CREATE TABLE it_pg.\"'); DROP TABLE x; --\" PARTITION OF it_pg.\"\"\"; DROP TABLE x; "
           "--\"\"\""
           " FOR VALUES FROM ('2020-01-01') TO ('2020-02-01')");
    sql(c, "INSERT INTO it_pg.\"\"\"; DROP TABLE x; --\"\"\" SELECT '2020-01-01'::timestamptz + i "
           "* interval"
           " '1 hour', i, 'v' || i FROM generate_series(1, 100) i");
    {
        pg_chunk_list l3 = {0};
        pg_discover_filter f3 = {.table = "it_pg.\"*"};
        rc = pg_discover(c, cfg, &f3, &l3, &err);
        CHECK(rc == 0 && l3.n == 1, "nasty discover: %d %s", l3.n, err.msg);
        if (l3.n == 1) {
            pg_export_result rn;
            char pn[512];
            snprintf(pn, sizeof pn, "%s/nasty.parquet", tmpdir);
            CHECK(strcmp(l3.items[0].table_name, "\"; DROP TABLE x; --\"") == 0, "%s",
                  l3.items[0].table_name);
            rc = export_chunk(c, &l3.items[0], pn, &rn, &err);
            CHECK(rc == 0 && rn.rows == 100, "nasty export: %s", err.msg);
            compare(url, pn, "it_pg.\"'); DROP TABLE x; --\"", "id");
            rc = proof_check(c, "it_pg", "'); DROP TABLE x; --", rn.proof, 1, &err);
            CHECK(rc == 0, "nasty drop: %s", err.msg);
            pg_restore_result rr;
            rc = pg_restore_file(c, pn, NULL, &rr, &err);
            CHECK(rc == 0 && rr.rows == 100, "nasty restore: %s", err.msg);
            CHECK_EQ_I(sql_int(c, "SELECT count(*) FROM it_pg.\"'); DROP TABLE x; --\""), 100);
        }
        pg_chunk_list_free(&l3);
        CHECK_EQ_I(sql_int(c, "SELECT count(*) FROM it_pg.x"), 0); /* still there */
    }

    /* failures leave no file behind */
    {
        pg_chunk ch;
        char pm[512], pmt[520];
        memset(&ch, 0, sizeof ch);
        snprintf(pm, sizeof pm, "%s/missing.parquet", tmpdir);
        snprintf(pmt, sizeof pmt, "%s.tmp", pm);
        rc = pg_discover_chunk(c, cfg, "it_pg", "no_such_chunk", &ch, &err);
        CHECK(rc == TS_ERR_NOTFOUND, "missing chunk (%d)", rc);
        pg_chunk fake = {.table_schema = "it_pg",
                         .table_name = "t",
                         .chunk_schema = "it_pg",
                         .chunk_name = "no_such_chunk"};
        rc = export_chunk(c, &fake, pm, &r1, &err);
        CHECK(rc == TS_ERR_NOTFOUND, "missing chunk export (%d): %s", rc, err.msg);
        printf("  missing chunk: %s\n", err.msg);
        CHECK(!exists(pm) && !exists(pmt), "file left behind");
        rc = export_chunk(c, jan, "/nonexistent-dir/x.parquet", &r1, &err);
        CHECK(rc == TS_ERR_IO, "unwritable path (%d)", rc);

        /* server gone mid-COPY: a big partition, the backend killed at the first flush */
        sql(c, "CREATE TABLE it_pg.big PARTITION OF it_pg.alltypes FOR VALUES FROM ('2023-01-01')"
               " TO ('2023-02-01')");
        sql(c, "INSERT INTO it_pg.alltypes (ts, id, tx) SELECT '2023-01-01'::timestamptz + i *"
               " interval '1 second', i, repeat('x', 100) FROM generate_series(1, 300000) i");
        CHECK(pg_connect(url, &c2, &err) == 0, "second connection: %s", err.msg);
        kill_sink k = {.other = c2, .pid = PQbackendPID(c)};
        pg_export_source src = {.chunk_schema = "it_pg", .chunk_name = "big"};
        pg_export_options opt;
        pg_export_options_init(&opt, NULL);
        opt.writer.page_bytes = 64 << 10;
        opt.writer.row_group_rows = 20000;
        ts_err_clear(&err);
        rc = pg_export(c, &src, &opt, sink_kill, &k, &r1, &err);
        CHECK(rc == TS_ERR_CONN || rc == TS_ERR_REMOTE, "server gone (%d): %s", rc, err.msg);
        printf("  server gone: %s\n", err.msg);
        pg_disconnect(c);
        c = NULL;
        CHECK(pg_connect(url, &c, &err) == 0, "reconnect: %s", err.msg);

        /* disk full */
        FILE *full = fopen("/dev/full", "wb");
        if (full) {
            setvbuf(full, NULL, _IONBF, 0);
            ts_err_clear(&err);
            rc = pg_export(c, &src, &opt, sink_full, full, &r1, &err);
            CHECK(rc == TS_ERR_IO, "disk full (%d): %s", rc, err.msg);
            printf("  disk full: %s\n", err.msg);
            fclose(full);
        }
        /* the connection is usable after a failed export */
        CHECK_EQ_I(sql_int(c, "SELECT 1"), 1);
        /* a range export of the table */
        pg_export_source rs = {.chunk_schema = "it_pg",
                               .chunk_name = "alltypes",
                               .table_schema = "it_pg",
                               .table_name = "alltypes",
                               .time_column = "ts",
                               .from = "2024-01-01",
                               .to = "2024-01-06"};
        snprintf(pm, sizeof pm, "%s/range.parquet", tmpdir);
        pg_export_options_init(&opt, NULL);
        ts_err_clear(&err);
        rc = pg_export_file(c, &rs, &opt, pm, &r1, &err);
        CHECK(rc == 0 && r1.rows == 3, "range export: %" PRId64 " rows, %s", r1.rows, err.msg);
    }
out:
    pg_chunk_list_free(&l);
    pg_disconnect(c);
    pg_disconnect(c2);
    ts_config_free(cfg);
}

static void test_tsdb(const char *url)
{
    PGconn *c = NULL;
    ts_err err;
    ts_config *cfg = ts_config_new();
    pg_chunk_list l = {0};
    pg_discover_filter f = {.table = "it_tsdb.*"};
    int rc;
    printf("PGlite+TimescaleDB at TS_TEST_TSDB_URL\n");
    ts_err_clear(&err);
    rc = pg_connect(url, &c, &err);
    CHECK(rc == 0, "connect: %s", err.msg);
    if (rc)
        return;
    sql(c, "SET client_min_messages = warning");
    sql(c, "DROP SCHEMA IF EXISTS it_tsdb CASCADE");
    sql(c, "CREATE SCHEMA it_tsdb");
    sql(c, "CREATE TABLE it_tsdb.metrics (ts timestamptz NOT NULL, device int NOT NULL,"
           " v double precision, note text, tags text[], n numeric(12,3))");
    sql(c, "SELECT create_hypertable('it_tsdb.metrics', 'ts', chunk_time_interval => interval '1 "
           "day')");
    sql(c, "INSERT INTO it_tsdb.metrics SELECT timestamptz '2024-01-01' + i * interval '1 hour', i "
           "%% 4,"
           " i * 0.5, CASE WHEN i %% 7 = 0 THEN NULL ELSE 'n' || i END, ARRAY['a' || i, NULL],"
           " i * 1.001 FROM generate_series(0, 71) i");
    sql(c, "CREATE TABLE it_tsdb.spaced (ts timestamptz NOT NULL, device int NOT NULL, v real)");
    sql(c, "SELECT create_hypertable('it_tsdb.spaced', 'ts', 'device', 3,"
           " chunk_time_interval => interval '1 day')");
    sql(c, "INSERT INTO it_tsdb.spaced SELECT timestamptz '2024-01-01' + i * interval '10 min',"
           " i %% 6, i FROM generate_series(1, 100) i");
    sql(c, "CREATE TABLE it_tsdb.ints (t bigint NOT NULL, v int)");
    sql(c, "SELECT create_hypertable('it_tsdb.ints', 't', chunk_time_interval => 1000)");
    sql(c, "INSERT INTO it_tsdb.ints SELECT i, i FROM generate_series(0, 2500, 7) i");
    sql(c, "ALTER TABLE it_tsdb.metrics SET (timescaledb.compress,"
           " timescaledb.compress_segmentby = 'device')");
    sql(c, "SELECT compress_chunk(ch) FROM (SELECT ch FROM show_chunks('it_tsdb.metrics') ch"
           " ORDER BY 1 LIMIT 1) s");

    rc = pg_discover(c, cfg, &f, &l, &err);
    CHECK(rc == 0, "discover: %s", err.msg);
    int n_metrics = 0, n_spaced = 0, n_ints = 0, n_compressed = 0, same_range = 0;
    const pg_chunk *comp = NULL, *plain = NULL;
    for (int i = 0; i < l.n; i++) {
        const pg_chunk *ch = &l.items[i];
        CHECK(ch->source == PG_SRC_TIMESCALEDB, "source");
        if (strcmp(ch->table_name, "metrics") == 0) {
            n_metrics++;
            if (ch->compressed) {
                n_compressed++;
                comp = ch;
            } else if (!plain) {
                plain = ch;
            }
            CHECK(ch->expired, "2024 chunk should be expired");
        } else if (strcmp(ch->table_name, "spaced") == 0) {
            n_spaced++;
            same_range += strcmp(ch->range_start, "2024-01-01T00:00:00Z") == 0;
        } else if (strcmp(ch->table_name, "ints") == 0) {
            n_ints++;
            CHECK(ch->integer_range && !ch->expired, "integer chunk");
        }
    }
    CHECK_EQ_I(n_metrics, 3);
    CHECK_EQ_I(n_compressed, 1);
    CHECK_EQ_I(n_spaced, 3); /* three space partitions share one time range */
    CHECK_EQ_I(same_range, 3);
    CHECK_EQ_I(n_ints, 3);
    if (comp && plain) {
        char p[512], rel[600];
        pg_export_result r;
        pg_export_source src = {.table_schema = comp->table_schema,
                                .table_name = comp->table_name,
                                .chunk_schema = comp->chunk_schema,
                                .chunk_name = comp->chunk_name,
                                .range_start = comp->range_start,
                                .range_end = comp->range_end};
        pg_export_options opt;
        pg_export_options_init(&opt, NULL);
        snprintf(p, sizeof p, "%s/compressed.parquet", tmpdir);
        rc = pg_export_file(c, &src, &opt, p, &r, &err);
        CHECK(rc == 0 && r.rows == 24, "export of a compressed chunk: %" PRId64 " rows, %s", r.rows,
              err.msg);
        snprintf(rel, sizeof rel, "\"%s\".\"%s\"", comp->chunk_schema, comp->chunk_name);
        /* compare.mjs keys rows by a unique column; metrics rows are unique per ts. The
         * PGlite server takes one connection at a time: ours closes meanwhile. */
        pg_disconnect(c);
        compare(url, p, rel, "ts");
        CHECK(pg_connect(url, &c, &err) == 0, "reconnect: %s", err.msg);
        /* the file read back proves the exported rows (decompressed by TimescaleDB) */
        char fp[PG_PROOF_MAX];
        rc = file_proof(c, p, comp->chunk_schema, comp->chunk_name, fp, &err);
        CHECK(rc == 0, "proof of the compressed chunk's file: %s", err.msg);
        CHECK_EQ_S(fp, r.proof);
        /* proof, a change, and drop under the lock */
        rc = proof_check(c, comp->chunk_schema, comp->chunk_name, r.proof, 0, &err);
        CHECK(rc == 0, "compressed chunk proof: %s", err.msg);
        sql(c, "INSERT INTO it_tsdb.metrics (ts, device) VALUES ('2024-01-01 00:30', 9)");
        rc = proof_check(c, comp->chunk_schema, comp->chunk_name, r.proof, 0, &err);
        CHECK(rc == TS_ERR_CONFLICT, "insert into a compressed chunk not detected (%d)", rc);
        sql(c, "DELETE FROM it_tsdb.metrics WHERE device = 9");
        rc = proof_check(c, comp->chunk_schema, comp->chunk_name, r.proof, 1, &err);
        CHECK(rc == 0, "drop compressed chunk: %s", err.msg);
        CHECK_EQ_I(sql_int(c, "SELECT count(*) FROM it_tsdb.metrics"), 48);
        /* an uncompressed chunk too */
        src.chunk_schema = plain->chunk_schema;
        src.chunk_name = plain->chunk_name;
        rc = pg_export_file(c, &src, &opt, p, &r, &err);
        CHECK(rc == 0 && r.rows == 24, "export plain chunk: %s", err.msg);
        snprintf(rel, sizeof rel, "\"%s\".\"%s\"", plain->chunk_schema, plain->chunk_name);
        pg_disconnect(c);
        compare(url, p, rel, "ts");
        CHECK(pg_connect(url, &c, &err) == 0, "reconnect: %s", err.msg);
        rc = file_proof(c, p, plain->chunk_schema, plain->chunk_name, fp, &err);
        CHECK(rc == 0, "proof of the plain chunk's file: %s", err.msg);
        CHECK_EQ_S(fp, r.proof);
        rc = proof_check(c, plain->chunk_schema, plain->chunk_name, r.proof, 1, &err);
        CHECK(rc == 0, "drop plain chunk: %s", err.msg);
        CHECK_EQ_I(sql_int(c,
                           "SELECT count(*) FROM timescaledb_information.chunks"
                           " WHERE hypertable_schema = 'it_tsdb' AND hypertable_name = 'metrics'"),
                   1);
    }
    printf("  restore not tested here: see tests/tsdb (INSERTs; COPY FROM STDIN breaks PGlite)\n");
    sql(c, "DROP SCHEMA it_tsdb CASCADE");
    pg_chunk_list_free(&l);
    pg_disconnect(c);
    ts_config_free(cfg);
}

int main(int argc, char **argv)
{
    const char *which = argc > 1 ? argv[1] : "pg";
    const char *var = strcmp(which, "tsdb") == 0 ? "TS_TEST_TSDB_URL" : "TS_TEST_PG_URL";
    const char *url = getenv(var);
    if (!url || !*url) {
        printf("skipped: %s is not set (run scripts/services start)\n", var);
        return 77;
    }
    ts_log_setup(TS_LOG_WARN, 0, NULL);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tsarchive-it-pg-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    if (strcmp(which, "tsdb") == 0) {
        test_tsdb(url);
    } else {
        char db[64], own[2048];
        if (own_database(url, "tsarchive_it_pg", db, sizeof db, own, sizeof own) != 0)
            return 1;
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
