/* test_holds.c: the retention service's TimescaleDB decisions on PGlite+TimescaleDB
 * (TS_TEST_TSDB_URL; exit 77 when unset), driven as test_decisions.c drives them: the
 * requests through a capturing callback, the archiver's arc_archive over a local lake,
 * the confirmations fed back.
 *   - integer time: a hypertable on epoch seconds with an integer_now function is
 *     requested with an integer range, archived under year=/month= folders with its
 *     integers in the name and its time range tagged in the log, verified and dropped;
 *     one without integer_now or unit is never requested, and said why.
 *   - continuous aggregates: chunks an aggregate has not materialized are held back
 *     (not requested; counted), materialized ones go; a refresh policy that can still
 *     refresh an archived chunk holds its drop (the chunk stays, archived, and
 *     `--once` does not wait for it), and once the policy is gone the drop happens.
 * Everything lives in one schema of this run; the state rows go at the end. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "archiver/archiver.h"
#include "common/alloc.h"
#include "common/config.h"
#include "common/log.h"
#include "delta/delta.h"
#include "lake/lake.h"
#include "object/object.h"
#include "pg/conn.h"
#include "retention/retention.h"
#include "retention/state.h"

#define MAXREQ 64

typedef struct fixture {
    char schema[64], lakedir[128];
    ts_config *cfg;
    PGconn *pg;
    lake *lk;
    ret *r;
    bus_request reqs[MAXREQ];
    int nreq;
} fixture;

static fixture F;

static int capture(void *ud, const bus_request *req, ts_err *err)
{
    fixture *f = ud;
    (void)err;
    assert_true(f->nreq < MAXREQ);
    f->reqs[f->nreq++] = *req;
    return 0;
}

static void sqlf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sqlf(const char *fmt, ...)
{
    char q[2048];
    va_list ap;
    ts_err e;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    ts_err_clear(&e);
    if (pg_exec(F.pg, q, &e) != 0)
        fail_msg("%s: %s", q, e.msg);
}

static long long sql_int(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static long long sql_int(const char *fmt, ...)
{
    char q[2048];
    va_list ap;
    ts_err e;
    PGresult *r;
    long long v;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    ts_err_clear(&e);
    if (!(r = pg_query(F.pg, q, 0, NULL, &e)))
        fail_msg("%s: %s", q, e.msg);
    v = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return v;
}

/* The name of the chunk of table holding time (or integer) value v. */
static void chunk_at(const char *table, const char *v, char *out, size_t n)
{
    char q[1024];
    ts_err e;
    PGresult *r;
    snprintf(q, sizeof q,
             "SELECT chunk_name FROM timescaledb_information.chunks WHERE hypertable_schema = '%s'"
             " AND hypertable_name = '%s' AND (range_start <= '%s' AND range_end > '%s'"
             " OR range_start_integer <= %s AND range_end_integer > %s)",
             F.schema, table, strchr(v, '-') ? v : "-infinity", strchr(v, '-') ? v : "-infinity",
             strchr(v, '-') ? "NULL" : v, strchr(v, '-') ? "NULL" : v);
    ts_err_clear(&e);
    if (!(r = pg_query(F.pg, q, 0, NULL, &e)) || PQntuples(r) != 1)
        fail_msg("the chunk of %s at %s: %s", table, v, e.msg);
    snprintf(out, n, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static const bus_request *request_for(const char *chunk)
{
    for (int i = F.nreq - 1; i >= 0; i--)
        if (strcmp(F.reqs[i].chunk.chunk_name, chunk) == 0)
            return &F.reqs[i];
    return NULL;
}

static const char *state_of(const char *chunk)
{
    static char buf[32];
    ret_state s = RET_NONE;
    ts_err e;
    ts_err_clear(&e);
    assert_int_equal(ret_state_of_chunk(F.pg, "_timescaledb_internal", chunk, &s, &e), 0);
    snprintf(buf, sizeof buf, "%s", ret_state_name(s));
    return buf;
}

static int check(void)
{
    ts_err e;
    int n = 0;
    ts_err_clear(&e);
    if (ret_check_once(F.r, false, NULL, &n, &e) != 0)
        fail_msg("ret_check_once: %s", e.msg);
    return n;
}

static void archive_and_confirm(const char *chunk, bus_confirmation *conf)
{
    const bus_request *req = request_for(chunk);
    char cluster[64];
    ts_err e;
    ts_err_clear(&e);
    if (!req)
        fail_msg("no request for %s", chunk);
    assert_int_equal(obj_cluster_id(F.pg, "", cluster, &e), 0);
    if (arc_archive(F.cfg, F.pg, F.lk, NULL, cluster, req, conf, &e) != 0)
        fail_msg("arc_archive: %s", e.msg);
    if (conf->status != BUS_STATUS_SUCCESS)
        fail_msg("archiving %s failed: %s", chunk, conf->error);
    ts_err_clear(&e);
    if (ret_on_confirmation(F.r, conf, &e) != 0)
        fail_msg("ret_on_confirmation: %s", e.msg);
}

static bool chunk_exists(const char *chunk)
{
    return sql_int("SELECT count(*) FROM pg_class WHERE relname = '%s'", chunk) == 1;
}

static int setup(void **state)
{
    const char *url = getenv("TS_TEST_TSDB_URL");
    char yaml[2048], cfgfile[256];
    lake_options lo;
    ts_err e;
    FILE *fp;
    (void)state;
    ts_err_clear(&e);
    memset(&F, 0, sizeof F);
    snprintf(F.schema, sizeof F.schema, "holds_%d", (int)getpid());
    snprintf(F.lakedir, sizeof F.lakedir, "/tmp/tsarchive-holds-%d", (int)getpid());
    snprintf(cfgfile, sizeof cfgfile, "%s.yaml", F.lakedir);
    snprintf(yaml, sizeof yaml,
             "archival_batch_size: 50\n"
             "database:\n  url: \"%s\"\n  include: [\"%s.*\"]\n"
             "retention:\n  max_attempts: 2\n  retry_backoff_s: 1\n"
             "lake:\n  kind: local\n  path: \"%s\"\n",
             url, F.schema, F.lakedir);
    assert_non_null(fp = fopen(cfgfile, "w"));
    fputs(yaml, fp);
    fclose(fp);
    assert_non_null(F.cfg = ts_config_new());
    if (ts_config_load(F.cfg, cfgfile, &e) != 0)
        fail_msg("config: %s", e.msg);
    unlink(cfgfile);
    if (pg_connect(url, &F.pg, &e) != 0)
        fail_msg("connect: %s", e.msg);
    lake_options_init(&lo);
    lo.path = F.lakedir;
    assert_int_equal(lake_open(&F.lk, &lo, &e), 0);
    sqlf("SET client_min_messages = warning");
    sqlf("CREATE SCHEMA %s", F.schema);
    if (ret_new(&F.r, F.cfg, F.pg, F.lk, capture, &F, &e) != 0)
        fail_msg("ret_new: %s", e.msg);
    return 0;
}

static int teardown(void **state)
{
    char q[256];
    ts_err e;
    (void)state;
    ts_err_clear(&e);
    ret_free(F.r);
    /* PGlite runs out of locks dropping many chunks at once: they are few here */
    snprintf(q, sizeof q,
             "DELETE FROM tsarchive.archival_events WHERE table_schema = '%s'", F.schema);
    if (pg_exec(F.pg, q, &e) != 0)
        fprintf(stderr, "could not delete the state rows: %s\n", e.msg);
    snprintf(q, sizeof q, "DROP SCHEMA IF EXISTS %s CASCADE", F.schema);
    if (pg_exec(F.pg, q, &e) != 0)
        fprintf(stderr, "could not drop schema %s: %s\n", F.schema, e.msg);
    lake_free(F.lk);
    pg_disconnect(F.pg);
    snprintf(q, sizeof q, "rm -rf '%s'", F.lakedir);
    if (system(q) != 0)
        fprintf(stderr, "could not remove %s\n", F.lakedir);
    ts_config_free(F.cfg);
    return 0;
}

/* Integer time: requested as integers, named as time too, dropped after the read-back. */
static void test_integer_time(void **state)
{
    const char *S = F.schema;
    char old[64], none[64], *tag = NULL;
    bus_confirmation conf;
    const bus_request *req;
    delta_table *t = NULL;
    ts_err e;
    (void)state;
    ts_err_clear(&e);
    sqlf("CREATE FUNCTION %s.now_s() RETURNS bigint LANGUAGE sql STABLE AS"
         " $$ SELECT extract(epoch FROM now())::bigint $$",
         S);
    sqlf("CREATE TABLE %s.isec (t bigint NOT NULL, v int)", S);
    sqlf("SELECT create_hypertable('%s.isec', 't', chunk_time_interval => 86400)", S);
    sqlf("SELECT set_integer_now_func('%s.isec', '%s.now_s')", S, S);
    /* 2020-03-01 (one day's chunk, 100 rows) and now */
    sqlf("INSERT INTO %s.isec SELECT 1583020800 + i * 600, i FROM generate_series(0, 99) i", S);
    sqlf("INSERT INTO %s.isec VALUES (%s.now_s(), -1)", S, S);
    /* no integer_now and no unit: its expiry cannot be decided */
    sqlf("CREATE TABLE %s.inone (t bigint NOT NULL, v int)", S);
    sqlf("SELECT create_hypertable('%s.inone', 't', chunk_time_interval => 86400)", S);
    sqlf("INSERT INTO %s.inone VALUES (1583020800, 1)", S);
    chunk_at("isec", "1583020800", old, sizeof old);
    chunk_at("inone", "1583020800", none, sizeof none);
    int64_t skipped = ret_get_counts(F.r)->skipped;
    F.nreq = 0;
    assert_int_equal(check(), 1);
    assert_non_null(req = request_for(old));
    assert_null(request_for(none));
    assert_true(ret_get_counts(F.r)->skipped > skipped);
    assert_int_equal(req->chunk.range_kind, BUS_RANGE_INTEGER);
    assert_int_equal(req->chunk.range_start, 1583020800);
    assert_int_equal(req->chunk.range_end, 1583020800 + 86400);
    archive_and_confirm(old, &conf);
    /* the object: under the month of its time, its integers in the name */
    assert_non_null(strstr(conf.object, "/year=2020/month=03/"));
    assert_non_null(strstr(conf.object, "_1583020800_1583107200_"));
    assert_string_equal(state_of(old), "dropped");
    assert_false(chunk_exists(old));
    assert_int_equal(sql_int("SELECT count(*) FROM %s.isec", S), 1); /* the current row */
    /* the log's add carries both ranges and the unit */
    {
        char cluster[64], *root;
        assert_int_equal(obj_cluster_id(F.pg, "", cluster, &e), 0);
        assert_non_null(root = obj_table_root(cluster, PQdb(F.pg), S, "isec"));
        if (delta_table_load(F.lk, root, NULL, &t, &e) != 0)
            fail_msg("log: %s", e.msg);
        ts_free(root);
        assert_int_equal(delta_table_nfiles(t), 1);
        const delta_file *f = delta_table_file(t, 0);
        assert_string_equal(obj_file_tag(f, OBJ_TAG_RANGE), "1583020800/1583107200");
        assert_non_null(tag = ts_strdup(obj_file_tag(f, OBJ_TAG_TIME_RANGE)));
        assert_string_equal(tag, "2020-03-01T00:00:00Z/2020-03-02T00:00:00Z");
        assert_string_equal(obj_file_tag(f, OBJ_TAG_TIME_UNIT), "seconds");
        delta_table_free(t);
        ts_free(tag);
    }
    bus_confirmation_clear(&conf);
    assert_true(chunk_exists(none));
    assert_string_equal(state_of(none), "");
}

/* Continuous aggregates hold chunks back until they are materialized, and a refresh
 * policy that can still refresh an archived chunk holds its drop. */
static void test_cagg_holds(void **state)
{
    const char *S = F.schema;
    char d1[64], d2[64], d3[64];
    bus_confirmation conf;
    int64_t held;
    ts_err e;
    (void)state;
    ts_err_clear(&e);
    sqlf("CREATE TABLE %s.raw (ts timestamptz NOT NULL, v double precision)", S);
    sqlf("SELECT create_hypertable('%s.raw', 'ts', chunk_time_interval => interval '1 day')", S);
    sqlf("INSERT INTO %s.raw SELECT '2020-01-01'::timestamptz + i * interval '1 hour', i"
         " FROM generate_series(0, 3 * 24 - 1) i",
         S);
    sqlf("CREATE MATERIALIZED VIEW %s.hourly WITH (timescaledb.continuous) AS"
         " SELECT time_bucket('1 hour', ts) AS b, avg(v) FROM %s.raw GROUP BY 1 WITH NO DATA",
         S, S);
    chunk_at("raw", "2020-01-01T12:00:00Z", d1, sizeof d1);
    chunk_at("raw", "2020-01-02T12:00:00Z", d2, sizeof d2);
    chunk_at("raw", "2020-01-03T12:00:00Z", d3, sizeof d3);

    /* nothing materialized: all three held, none requested */
    held = ret_get_counts(F.r)->held;
    F.nreq = 0;
    assert_int_equal(check(), 0);
    assert_int_equal(ret_get_counts(F.r)->held - held, 3);
    assert_string_equal(state_of(d1), "");

    /* the first two days materialized: those two requested, the third still held */
    sqlf("CALL refresh_continuous_aggregate('%s.hourly', '2020-01-01', '2020-01-03')", S);
    F.nreq = 0;
    assert_int_equal(check(), 2);
    assert_non_null(request_for(d1));
    assert_non_null(request_for(d2));
    assert_null(request_for(d3));
    archive_and_confirm(d1, &conf);
    bus_confirmation_clear(&conf);
    assert_string_equal(state_of(d1), "dropped");
    assert_false(chunk_exists(d1));

    /* a refresh policy from the beginning of time comes before d2's drop: the drop
     * is held under the chunk's lock; d2 stays, archived, not waited for by --once */
    sqlf("SELECT add_continuous_aggregate_policy('%s.hourly', start_offset => NULL,"
         " end_offset => interval '1 hour', schedule_interval => interval '1 hour')",
         S);
    held = ret_get_counts(F.r)->held;
    archive_and_confirm(d2, &conf);
    bus_confirmation_clear(&conf);
    assert_string_equal(state_of(d2), "archived");
    assert_true(chunk_exists(d2));
    assert_int_equal(ret_get_counts(F.r)->held - held, 1);
    assert_int_equal(sql_int("SELECT count(*) FROM tsarchive.archival_events WHERE chunk_name = '%s'"
                             " AND error LIKE 'drop held back: %%hourly%%'",
                             d2),
                     1);
    {
        int64_t pending = -1;
        assert_int_equal(ret_pending(F.r, &pending, &e), 0);
        assert_int_equal(pending, 0);
    }
    /* the policy removed: the next try drops it */
    sqlf("SELECT remove_continuous_aggregate_policy('%s.hourly')", S);
    assert_int_equal(ret_state_drops_due_now(F.pg, &e), 0);
    if (ret_retry_drops(F.r, &e) != 0)
        fail_msg("ret_retry_drops: %s", e.msg);
    assert_string_equal(state_of(d2), "dropped");
    assert_false(chunk_exists(d2));
    /* the aggregate kept its rows of the first two days */
    assert_int_equal(sql_int("SELECT count(*) FROM %s.hourly WHERE b < '2020-01-03'", S), 48);
    assert_true(chunk_exists(d3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_integer_time),
        cmocka_unit_test(test_cagg_holds),
    };
    if (!getenv("TS_TEST_TSDB_URL")) {
        printf("SKIP: TS_TEST_TSDB_URL is not set (start PGlite+TimescaleDB with scripts/services "
               "start)\n");
        return 77;
    }
    ts_log_setup(getenv("TS_TEST_VERBOSE") ? TS_LOG_DEBUG : TS_LOG_ERROR, 0, NULL);
    return cmocka_run_group_tests(tests, setup, teardown);
}
