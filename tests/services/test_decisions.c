/* test_decisions.c: the services' decisions, driven directly (no Redis, no threads):
 * the retention side's requests through a capturing publish callback, the archiver's
 * arc_archive over a local lake, and the confirmation fed back to ret_on_confirmation.
 * What a confirmation, a failure, a change, a lost object, a restart, a chunk that
 * cannot be requested, another database's event, a busy chunk and switching archival
 * off each lead to. Needs PostgreSQL 15 (TS_TEST_PG_URL; exit 77 when unset). */
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
#include "common/runctl.h"
#include "lake/lake.h"
#include "object/object.h"
#include "pg/conn.h"
#include "pg/export.h"
#include "retention/retention.h"
#include "retention/state.h"

#define MAXREQ 64

typedef struct fixture {
    char db[64], url[512], lakedir[128];
    ts_config *cfg;
    PGconn *pg;
    lake *lk;
    ret *r;
    bus_request reqs[MAXREQ];
    int nreq;
    int fail_publish; /* next publishes fail with this code */
} fixture;

static fixture F;

static int capture(void *ud, const bus_request *req, ts_err *err)
{
    fixture *f = ud;
    if (f->fail_publish)
        return ts_err_set(err, f->fail_publish, "redis is away (test)");
    assert_true(f->nreq < MAXREQ);
    f->reqs[f->nreq++] = *req;
    return 0;
}

static void sql(const char *q)
{
    ts_err e;
    ts_err_clear(&e);
    if (pg_exec(F.pg, q, &e) != 0)
        fail_msg("%s: %s", q, e.msg);
}

static long long sql_int(const char *q)
{
    ts_err e;
    PGresult *r;
    long long v;
    ts_err_clear(&e);
    if (!(r = pg_query(F.pg, q, 0, NULL, &e)))
        fail_msg("%s: %s", q, e.msg);
    v = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static const char *state_of(const char *chunk)
{
    static char buf[32];
    ret_state s = RET_NONE;
    ts_err e;
    ts_err_clear(&e);
    assert_int_equal(ret_state_of_chunk(F.pg, "public", chunk, &s, &e), 0);
    snprintf(buf, sizeof buf, "%s", ret_state_name(s));
    return buf;
}

static const bus_request *request_for(const char *chunk)
{
    for (int i = F.nreq - 1; i >= 0; i--)
        if (strcmp(F.reqs[i].chunk.chunk_name, chunk) == 0)
            return &F.reqs[i];
    fail_msg("no request for %s", chunk);
    return NULL;
}

/* The archiver's answer to the latest request for chunk, as the retention side gets it. */
static void archive(const char *chunk, bus_confirmation *conf)
{
    ts_err e;
    char cluster[64];
    ts_err_clear(&e);
    assert_int_equal(obj_cluster_id(F.pg, "", cluster, &e), 0);
    int rc = arc_archive(F.cfg, F.pg, F.lk, NULL, cluster, request_for(chunk), conf, &e);
    if (rc)
        fail_msg("arc_archive: %s", e.msg);
}

static void confirm(const bus_confirmation *conf)
{
    ts_err e;
    ts_err_clear(&e);
    if (ret_on_confirmation(F.r, conf, &e) != 0)
        fail_msg("ret_on_confirmation: %s", e.msg);
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

static int exists(const char *rel)
{
    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) FROM pg_class WHERE relname = '%s'", rel);
    return (int)sql_int(q);
}

static int count_objects(void *ud, const lake_info *info)
{
    size_t n = strlen(info->name);
    if (n > 8 && strcmp(info->name + n - 8, ".parquet") == 0) /* not the tables' logs */
        (*(int *)ud)++;
    return 0;
}

static int objects(void)
{
    int n = 0;
    ts_err e;
    ts_err_clear(&e);
    assert_int_equal(lake_list(F.lk, "", count_objects, &n, &e), 0);
    return n;
}

static void new_ret(void)
{
    ts_err e;
    ts_err_clear(&e);
    ret_free(F.r);
    F.r = NULL;
    if (ret_new(&F.r, F.cfg, F.pg, F.lk, capture, &F, &e) != 0)
        fail_msg("ret_new: %s", e.msg);
}

static int setup(void **state)
{
    const char *base = getenv("TS_TEST_PG_URL");
    char q[256], yaml[1024], cfgfile[256];
    PGconn *admin = NULL;
    lake_options lo;
    ts_err e;
    FILE *fp;
    (void)state;
    ts_err_clear(&e);
    memset(&F, 0, sizeof F);
    snprintf(F.db, sizeof F.db, "tsarchive_decide_%d", (int)getpid());
    if (pg_connect(base, &admin, &e) != 0)
        fail_msg("connect: %s", e.msg);
    snprintf(q, sizeof q, "DROP DATABASE IF EXISTS %s", F.db);
    assert_int_equal(pg_exec(admin, q, &e), 0);
    snprintf(q, sizeof q, "CREATE DATABASE %s", F.db);
    assert_int_equal(pg_exec(admin, q, &e), 0);
    pg_disconnect(admin);
    snprintf(F.url, sizeof F.url, "%.*s/%s", (int)(strrchr(base, '/') - base), base, F.db);
    snprintf(F.lakedir, sizeof F.lakedir, "/tmp/tsarchive-decide-%d", (int)getpid());
    snprintf(cfgfile, sizeof cfgfile, "%s.yaml", F.lakedir);
    snprintf(yaml, sizeof yaml,
             "archival_batch_size: 3\n"
             "database:\n  url: \"%s\"\n  lock_timeout_ms: 200\n"
             "retention:\n  max_attempts: 2\n  retry_backoff_s: 1\n"
             "lake:\n  kind: local\n  path: \"%s\"\n"
             "tables:\n  - name: \"public.off\"\n    enabled: false\n",
             F.url, F.lakedir);
    assert_non_null(fp = fopen(cfgfile, "w"));
    fputs(yaml, fp);
    fclose(fp);
    assert_non_null(F.cfg = ts_config_new());
    if (ts_config_load(F.cfg, cfgfile, &e) != 0)
        fail_msg("config: %s", e.msg);
    unlink(cfgfile);
    if (pg_connect(F.url, &F.pg, &e) != 0)
        fail_msg("connect: %s", e.msg);
    lake_options_init(&lo);
    lo.path = F.lakedir;
    assert_int_equal(lake_open(&F.lk, &lo, &e), 0);
    /* five expired monthly partitions and a current one */
    sql("CREATE TABLE m (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)");
    for (int i = 1; i <= 5; i++) {
        snprintf(q, sizeof q,
                 "CREATE TABLE m_%d PARTITION OF m FOR VALUES FROM ('2020-0%d-01') TO ('2020-0%d-01')",
                 i, i, i + 1);
        sql(q);
    }
    sql("CREATE TABLE m_now PARTITION OF m FOR VALUES FROM (now() - interval '1 day') TO (now() + interval '1 day')");
    sql("INSERT INTO m SELECT '2020-01-01'::timestamptz + i * interval '1 hour', i FROM generate_series(0, 3000) i");
    sql("INSERT INTO m VALUES (now(), -1)");
    new_ret();
    return 0;
}

static int teardown(void **state)
{
    char q[256];
    PGconn *admin = NULL;
    ts_err e;
    (void)state;
    ts_err_clear(&e);
    ret_free(F.r);
    lake_free(F.lk);
    pg_disconnect(F.pg);
    if (pg_connect(getenv("TS_TEST_PG_URL"), &admin, &e) == 0) {
        snprintf(q, sizeof q, "DROP DATABASE IF EXISTS %s WITH (FORCE)", F.db);
        if (pg_exec(admin, q, &e) != 0)
            fprintf(stderr, "could not drop %s: %s\n", F.db, e.msg);
        pg_disconnect(admin);
    }
    snprintf(q, sizeof q, "rm -rf '%s'", F.lakedir);
    if (system(q) != 0)
        fprintf(stderr, "could not remove %s\n", F.lakedir);
    ts_config_free(F.cfg);
    return 0;
}

/* The batch limit holds; a success confirmation is verified and the chunk dropped. */
static void test_request_confirm_drop(void **state)
{
    bus_confirmation conf;
    (void)state;
    assert_int_equal(check(), 3); /* archival_batch_size: 3 of the 5 expired */
    assert_int_equal(ret_get_counts(F.r)->backlog, 2);
    assert_string_equal(state_of("m_1"), "requested");
    assert_string_equal(state_of("m_4"), "");
    archive("m_1", &conf);
    assert_int_equal(conf.status, BUS_STATUS_SUCCESS);
    assert_int_equal(conf.rows, 24 * 31);
    confirm(&conf);
    bus_confirmation_clear(&conf);
    assert_string_equal(state_of("m_1"), "dropped");
    assert_int_equal(exists("m_1"), 0);
    assert_int_equal(objects(), 1);
    /* a duplicate confirmation changes nothing */
    archive("m_1", &conf); /* the chunk is gone now: a failure confirmation */
    assert_int_equal(conf.status, BUS_STATUS_FAILURE);
    confirm(&conf);
    bus_confirmation_clear(&conf);
    assert_string_equal(state_of("m_1"), "dropped");
}

/* A failure is retried with backoff, then given up on; the chunk stays. */
static void test_failure_retry_dead(void **state)
{
    bus_confirmation conf;
    const bus_request *req = request_for("m_2");
    ts_err e;
    (void)state;
    ts_err_clear(&e);
    memset(&conf, 0, sizeof conf);
    memcpy(conf.event_id, req->event_id, sizeof conf.event_id);
    snprintf(conf.database, sizeof conf.database, "%s", req->database);
    conf.chunk = req->chunk;
    conf.status = BUS_STATUS_FAILURE;
    conf.error = "lake: disk full (test)";
    confirm(&conf);
    assert_string_equal(state_of("m_2"), "retrying");
    assert_int_equal(sql_int("SELECT count(*) FROM tsarchive.archival_events WHERE chunk_name = 'm_2'"
                             " AND next_attempt_at > now() AND error LIKE 'lake: disk full%'"),
                     1);
    sleep(2); /* retry_backoff_s: 1 */
    assert_int_equal(ret_retry_due(F.r, &e), 0);
    req = request_for("m_2");
    assert_int_equal(req->attempt, 2);
    memcpy(conf.event_id, req->event_id, sizeof conf.event_id);
    confirm(&conf); /* max_attempts: 2 */
    assert_string_equal(state_of("m_2"), "dead");
    assert_int_equal(exists("m_2"), 1);
}

/* Rows changed after the export: the drop is refused and the chunk archived again;
 * the first version stays in the lake, a second one is written beside it. */
static void test_changed_after_export(void **state)
{
    bus_confirmation conf, conf2;
    int before;
    (void)state;
    archive("m_3", &conf);
    assert_int_equal(conf.status, BUS_STATUS_SUCCESS);
    before = objects();
    sql("UPDATE m SET v = v + 1 WHERE ts = '2020-03-02 00:00:00+00'");
    confirm(&conf);
    assert_string_equal(state_of("m_3"), "requested"); /* re-requested */
    assert_int_equal(exists("m_3"), 1);
    assert_int_equal(ret_get_counts(F.r)->rearchived, 1);
    archive("m_3", &conf2);
    assert_int_equal(conf2.status, BUS_STATUS_SUCCESS);
    assert_string_not_equal(conf.object, conf2.object); /* a new version, the first kept */
    assert_int_equal(objects(), before + 1);
    confirm(&conf2);
    assert_string_equal(state_of("m_3"), "dropped");
    bus_confirmation_clear(&conf);
    bus_confirmation_clear(&conf2);
}

/* The object is gone before the confirmation is judged: no drop, a retry. A forged
 * confirmation naming an object outside the chunk's place is refused. */
static void test_lost_and_forged_objects(void **state)
{
    bus_confirmation conf;
    ts_err e;
    char *url;
    (void)state;
    ts_err_clear(&e);
    assert_int_equal(check(), 2); /* room again: m_4, m_5 */
    archive("m_4", &conf);
    {
        char cluster[64], *path;
        obj_chunk oc = {.database = F.db, .table_schema = "public", .table_name = "m"};
        assert_int_equal(obj_cluster_id(F.pg, "", cluster, &e), 0);
        oc.cluster = cluster;
        oc.chunk_schema = "public";
        oc.chunk_name = "m_4";
        oc.range_start = conf.chunk.range_start;
        oc.range_end = conf.chunk.range_end;
        assert_non_null(path = obj_path_of_url(F.lk, &oc, conf.object));
        assert_int_equal(lake_delete(F.lk, path, &e), 0);
        ts_free(path);
    }
    confirm(&conf);
    assert_string_equal(state_of("m_4"), "retrying");
    assert_int_equal(exists("m_4"), 1);
    bus_confirmation_clear(&conf);

    archive("m_5", &conf);
    url = conf.object;
    conf.object = ts_strdup("file:///etc/passwd");
    confirm(&conf);
    assert_string_equal(state_of("m_5"), "retrying");
    assert_int_equal(exists("m_5"), 1);
    ts_free(url);
    bus_confirmation_clear(&conf);
}

/* A restart: a new instance republishes every request still out, and a repeated
 * request for an archived, unchanged chunk confirms its version without writing. */
static void test_restart_republish(void **state)
{
    bus_confirmation conf, again;
    ts_err e;
    int n = 0, before;
    (void)state;
    ts_err_clear(&e);
    sleep(2);
    assert_int_equal(ret_retry_due(F.r, &e), 0); /* m_4 and m_5 requested again */
    assert_string_equal(state_of("m_4"), "requested");
    archive("m_4", &conf);
    before = objects();
    new_ret(); /* the service restarted */
    F.nreq = 0;
    assert_int_equal(ret_check_once(F.r, true, NULL, &n, &e), 0);
    assert_true(n >= 2); /* m_4 and m_5 again */
    archive("m_4", &again);
    assert_string_equal(again.object, conf.object); /* confirmed, not rewritten */
    assert_int_equal(objects(), before);
    confirm(&again);
    assert_string_equal(state_of("m_4"), "dropped");
    confirm(&conf); /* the first one, late: a duplicate */
    assert_string_equal(state_of("m_4"), "dropped");
    bus_confirmation_clear(&conf);
    bus_confirmation_clear(&again);
}

/* A writer bug: an object whose size, MD5, footer, row count and proof all check out
 * but whose data pages do not hold the rows. The read-back catches it: no drop. */
static void test_corrupt_data_page(void **state)
{
    bus_confirmation conf;
    lake_info info;
    ts_err e;
    char *path, cluster[64], full[1024], hex[33];
    FILE *fp;
    long size;
    (void)state;
    ts_err_clear(&e);
    sql("CREATE TABLE m_7 PARTITION OF m FOR VALUES FROM ('2020-07-01') TO ('2020-08-01')");
    sql("INSERT INTO m SELECT '2020-07-01'::timestamptz + i * interval '1 minute', i FROM generate_series(0, 20000) i");
    F.nreq = 0;
    (void)check();
    archive("m_7", &conf);
    assert_int_equal(conf.status, BUS_STATUS_SUCCESS);
    {
        obj_chunk oc = {.database = F.db, .table_schema = "public", .table_name = "m",
                        .chunk_schema = "public", .chunk_name = "m_7"};
        assert_int_equal(obj_cluster_id(F.pg, "", cluster, &e), 0);
        oc.cluster = cluster;
        oc.range_start = conf.chunk.range_start;
        oc.range_end = conf.chunk.range_end;
        assert_non_null(path = obj_path_of_url(F.lk, &oc, conf.object));
    }
    snprintf(full, sizeof full, "%s/%s", F.lakedir, path);
    assert_non_null(fp = fopen(full, "r+b"));
    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    fseek(fp, size / 3, SEEK_SET); /* inside the first column's data, far from the footer */
    {
        int c = fgetc(fp);
        fseek(fp, size / 3, SEEK_SET);
        fputc(c ^ 0x5a, fp);
    }
    fclose(fp);
    /* the confirmation of a writer that produced exactly these bytes */
    assert_int_equal(lake_stat(F.lk, path, &info, &e), 0);
    lake_md5_hex(info.md5, hex);
    ts_free(conf.checksum);
    conf.checksum = ts_strdup(hex);
    confirm(&conf);
    assert_string_equal(state_of("m_7"), "retrying");
    assert_int_equal(exists("m_7"), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM tsarchive.archival_events WHERE chunk_name = 'm_7'"
                             " AND error LIKE 'verification failed: %read%back%'"),
                     1);
    ts_free(path);
    bus_confirmation_clear(&conf);
}

/* The live versions of a chunk of table m in its Delta table; *rows their rows. */
static int live_versions(const char *chunk, int64_t range_start, int64_t range_end, int64_t *rows,
                         char paths[][512])
{
    obj_tables *cache = NULL;
    delta_table *t = NULL;
    const delta_file *f[8];
    char cluster[64];
    ts_err e;
    int n;
    obj_chunk oc = {.database = F.db, .table_schema = "public", .table_name = "m",
                    .chunk_schema = "public", .chunk_name = chunk, .range_start = range_start,
                    .range_end = range_end};
    ts_err_clear(&e);
    assert_int_equal(obj_cluster_id(F.pg, "", cluster, &e), 0);
    oc.cluster = cluster;
    assert_int_equal(obj_tables_new(F.lk, &cache, &e), 0);
    if (obj_table_of(cache, &oc, &t, &e) != 0)
        fail_msg("table: %s", e.msg);
    n = obj_live_versions(t, &oc, f, 8);
    *rows = 0;
    for (int i = 0; i < n && i < 8; i++) {
        char *p = obj_file_path(t, f[i]);
        *rows += f[i]->num_records;
        if (paths)
            snprintf(paths[i], 512, "%s", p);
        ts_free(p);
    }
    obj_tables_free(cache);
    return n;
}

/* The scenario: a partition archived and dropped, created again for late data
 * and archived again: both versions stay live in the table, nothing is replaced. */
static void test_recreated_partition(void **state)
{
    bus_confirmation c1, c2;
    int64_t rows;
    char p[4][512];
    (void)state;
    sql("CREATE TABLE m_8 PARTITION OF m FOR VALUES FROM ('2020-08-01') TO ('2020-09-01')");
    sql("INSERT INTO m SELECT '2020-08-01'::timestamptz + i * interval '1 minute', i FROM generate_series(0, 999) i");
    F.nreq = 0;
    (void)check();
    archive("m_8", &c1);
    confirm(&c1);
    assert_string_equal(state_of("m_8"), "dropped");
    sql("CREATE TABLE m_8 PARTITION OF m FOR VALUES FROM ('2020-08-01') TO ('2020-09-01')");
    sql("INSERT INTO m VALUES ('2020-08-15', 424242)");
    F.nreq = 0;
    (void)check();
    archive("m_8", &c2);
    assert_int_equal(c2.status, BUS_STATUS_SUCCESS);
    assert_string_not_equal(c1.object, c2.object);
    assert_int_equal(live_versions("m_8", c2.chunk.range_start, c2.chunk.range_end, &rows, p), 2);
    assert_int_equal(rows, 1001); /* the 1,000 archived first and the late row */
    confirm(&c2);
    assert_string_equal(state_of("m_8"), "dropped");
    assert_int_equal(live_versions("m_8", c2.chunk.range_start, c2.chunk.range_end, &rows, NULL), 2);
    bus_confirmation_clear(&c1);
    bus_confirmation_clear(&c2);
}

/* A chunk changed after its export: the new version is committed with a remove of the
 * old one (the same incarnation), never the other way round. */
static void test_superseded_version(void **state)
{
    bus_confirmation c1, c2;
    int64_t rows;
    char p[4][512];
    (void)state;
    sql("CREATE TABLE m_9 PARTITION OF m FOR VALUES FROM ('2020-09-01') TO ('2020-10-01')");
    sql("INSERT INTO m SELECT '2020-09-01'::timestamptz + i * interval '1 minute', i FROM generate_series(0, 499) i");
    F.nreq = 0;
    (void)check();
    archive("m_9", &c1);
    assert_int_equal(live_versions("m_9", c1.chunk.range_start, c1.chunk.range_end, &rows, p), 1);
    sql("DELETE FROM m WHERE ts = '2020-09-01 00:00:00+00'");
    confirm(&c1); /* changed since its export: kept, requested again */
    assert_string_equal(state_of("m_9"), "requested");
    archive("m_9", &c2);
    assert_int_equal(live_versions("m_9", c2.chunk.range_start, c2.chunk.range_end, &rows, p), 1);
    assert_int_equal(rows, 499);
    assert_non_null(strstr(c2.object, p[0])); /* the live one is the new one */
    confirm(&c2);
    assert_string_equal(state_of("m_9"), "dropped");
    bus_confirmation_clear(&c1);
    bus_confirmation_clear(&c2);
}

/* An upload whose commit never happened (the archiver died in between): the retry
 * commits it when it still holds the chunk's rows, and deletes it when it does not. */
static void test_uncommitted_upload(void **state)
{
    bus_confirmation conf;
    pg_export_source src = {0};
    pg_export_options opt;
    pg_export_result res;
    char cluster[64], vid[OBJ_VID_LEN + 1], file[256], *path;
    lake_info info;
    int64_t rows;
    ts_err e;
    (void)state;
    ts_err_clear(&e);
    sql("CREATE TABLE m_10 PARTITION OF m FOR VALUES FROM ('2020-10-01') TO ('2020-11-01')");
    sql("INSERT INTO m SELECT '2020-10-01'::timestamptz + i * interval '1 minute', i FROM generate_series(0, 299) i");
    F.nreq = 0;
    (void)check();
    const bus_request *req = request_for("m_10");
    obj_chunk oc = {.database = F.db, .table_schema = "public", .table_name = "m",
                    .chunk_schema = "public", .chunk_name = "m_10",
                    .range_start = req->chunk.range_start, .range_end = req->chunk.range_end};
    assert_int_equal(obj_cluster_id(F.pg, "", cluster, &e), 0);
    oc.cluster = cluster;
    /* the export of a dead archiver: whole in the lake, not in the log */
    src.database = F.db, src.table_schema = "public", src.table_name = "m";
    src.chunk_schema = "public", src.chunk_name = "m_10";
    src.range_start = "2020-10-01T00:00:00Z", src.range_end = "2020-11-01T00:00:00Z";
    pg_export_options_init(&opt, F.cfg);
    snprintf(file, sizeof file, "%s.m10.parquet", F.lakedir);
    assert_int_equal(pg_export_file(F.pg, &src, &opt, file, &res, &e), 0);
    assert_int_equal(obj_vid_new("x", vid, &e), 0);
    assert_non_null(path = obj_version_path(&oc, vid));
    assert_int_equal(lake_put_file(F.lk, file, path, &info, &e), 0);
    unlink(file);
    archive("m_10", &conf);
    assert_int_equal(conf.status, BUS_STATUS_SUCCESS);
    assert_non_null(strstr(conf.object, vid)); /* that upload, committed: no new export */
    assert_int_equal(live_versions("m_10", oc.range_start, oc.range_end, &rows, NULL), 1);
    confirm(&conf);
    assert_string_equal(state_of("m_10"), "dropped");
    bus_confirmation_clear(&conf);
    ts_free(path);

    /* the same with a chunk that changed since: the stale upload goes */
    sql("CREATE TABLE m_11 PARTITION OF m FOR VALUES FROM ('2020-11-01') TO ('2020-12-01')");
    sql("INSERT INTO m SELECT '2020-11-01'::timestamptz + i * interval '1 minute', i FROM generate_series(0, 299) i");
    F.nreq = 0;
    (void)check();
    req = request_for("m_11");
    oc.chunk_name = "m_11", oc.range_start = req->chunk.range_start, oc.range_end = req->chunk.range_end;
    src.chunk_name = "m_11", src.range_start = "2020-11-01T00:00:00Z", src.range_end = "2020-12-01T00:00:00Z";
    assert_int_equal(pg_export_file(F.pg, &src, &opt, file, &res, &e), 0);
    assert_int_equal(obj_vid_new("y", vid, &e), 0);
    assert_non_null(path = obj_version_path(&oc, vid));
    assert_int_equal(lake_put_file(F.lk, file, path, &info, &e), 0);
    unlink(file);
    sql("INSERT INTO m VALUES ('2020-11-20', 5)");
    archive("m_11", &conf);
    assert_int_equal(conf.status, BUS_STATUS_SUCCESS);
    assert_null(strstr(conf.object, vid)); /* a fresh export */
    assert_int_equal(lake_stat(F.lk, path, &info, &e), TS_ERR_NOTFOUND); /* the stale one went */
    ts_err_clear(&e);
    assert_int_equal(live_versions("m_11", oc.range_start, oc.range_end, &rows, NULL), 1);
    assert_int_equal(rows, 301);
    bus_confirmation_clear(&conf);
    ts_free(path);
}

/* Another database's confirmation on a shared stream changes nothing here. */
static void test_other_database(void **state)
{
    bus_confirmation conf;
    const bus_request *req = request_for("m_5");
    (void)state;
    archive("m_5", &conf);
    snprintf(conf.database, sizeof conf.database, "someone_else");
    confirm(&conf);
    assert_string_equal(state_of("m_5"), "requested");
    assert_int_equal(ret_get_counts(F.r)->foreign, 1);
    snprintf(conf.database, sizeof conf.database, "%s", req->database);
    confirm(&conf);
    assert_string_equal(state_of("m_5"), "dropped");
    bus_confirmation_clear(&conf);
}

/* One chunk that cannot be requested (its range starts in year 0) is marked dead
 * with the reason; the others are still requested. */
static void test_bad_chunk(void **state)
{
    (void)state;
    sql("CREATE TABLE b (ts timestamptz NOT NULL, v int) PARTITION BY RANGE (ts)");
    sql("CREATE TABLE b_0 PARTITION OF b FOR VALUES FROM ('0001-12-25 00:00:00+00 BC') TO ('0001-02-01 00:00:00+00')");
    sql("CREATE TABLE b_1 PARTITION OF b FOR VALUES FROM ('2020-01-01') TO ('2020-02-01')");
    sql("INSERT INTO b VALUES ('0001-01-01 00:00:00+00', 1), ('2020-01-05', 2)");
    F.nreq = 0;
    (void)check();
    assert_string_equal(state_of("b_0"), "dead");
    assert_int_equal(sql_int("SELECT count(*) FROM tsarchive.archival_events WHERE chunk_name = 'b_0'"
                             " AND error LIKE 'cannot be requested:%'"),
                     1);
    assert_string_equal(state_of("b_1"), "requested");
    (void)request_for("b_1");
    /* and the next check does not stop at it either */
    (void)check();
    assert_string_equal(state_of("b_0"), "dead");
}

/* A chunk whose lock is held is deferred with a backoff of its own; switching
 * archival off holds drops of chunks already archived. */
static void test_busy_and_switched_off(void **state)
{
    bus_confirmation conf;
    PGconn *other = NULL;
    ts_err e;
    (void)state;
    ts_err_clear(&e);
    archive("b_1", &conf);
    assert_int_equal(pg_connect(F.url, &other, &e), 0);
    assert_int_equal(pg_exec(other, "BEGIN", &e), 0);
    assert_int_equal(pg_exec(other, "LOCK TABLE b_1 IN ACCESS SHARE MODE", &e), 0);
    confirm(&conf);
    assert_string_equal(state_of("b_1"), "archived");
    assert_int_equal(sql_int("SELECT drop_attempts FROM tsarchive.archival_events WHERE chunk_name = 'b_1'"),
                     1);
    assert_int_equal(sql_int("SELECT count(*) FROM tsarchive.archival_events WHERE chunk_name = 'b_1'"
                             " AND next_drop_at > now()"),
                     1);
    assert_int_equal(ret_retry_drops(F.r, &e), 0); /* not due yet: nothing tried */
    assert_int_equal(sql_int("SELECT drop_attempts FROM tsarchive.archival_events WHERE chunk_name = 'b_1'"),
                     1);
    assert_int_equal(pg_exec(other, "COMMIT", &e), 0);
    pg_disconnect(other);
    /* switched off meanwhile: the due drop is held, not done */
    F.cfg->lakehouse_enabled = false;
    sleep(2);
    assert_int_equal(ret_retry_drops(F.r, &e), 0);
    assert_string_equal(state_of("b_1"), "archived");
    assert_int_equal(exists("b_1"), 1);
    assert_true(ret_get_counts(F.r)->drops_held >= 1);
    F.cfg->lakehouse_enabled = true;
    sql("UPDATE tsarchive.archival_events SET next_drop_at = now() WHERE chunk_name = 'b_1'");
    assert_int_equal(ret_retry_drops(F.r, &e), 0);
    assert_string_equal(state_of("b_1"), "dropped");
    bus_confirmation_clear(&conf);
}

/* The archiver refuses what is not its own, and a stop aborts an export. */
static void test_archiver_refusals(void **state)
{
    bus_request req = *request_for("b_1");
    bus_confirmation conf;
    ts_err e;
    char cluster[64];
    int before = objects();
    (void)state;
    ts_err_clear(&e);
    assert_int_equal(obj_cluster_id(F.pg, "", cluster, &e), 0);
    snprintf(req.database, sizeof req.database, "another");
    assert_int_equal(arc_archive(F.cfg, F.pg, F.lk, NULL, cluster, &req, &conf, &e), 0);
    assert_int_equal(conf.status, BUS_STATUS_FAILURE);
    assert_non_null(strstr(conf.error, "another"));
    bus_confirmation_clear(&conf);
    req = *request_for("b_1");
    snprintf(req.chunk.chunk_name, sizeof req.chunk.chunk_name, "m_now"); /* range differs */
    assert_int_equal(arc_archive(F.cfg, F.pg, F.lk, NULL, cluster, &req, &conf, &e), 0);
    assert_int_equal(conf.status, BUS_STATUS_FAILURE);
    assert_non_null(strstr(conf.error, "range"));
    bus_confirmation_clear(&conf);
    /* a stop asked for during the export: not judged, nothing left in the lake */
    sql("CREATE TABLE m_6 PARTITION OF m FOR VALUES FROM ('2020-06-01') TO ('2020-07-01')");
    sql("INSERT INTO m SELECT '2020-06-01'::timestamptz + i * interval '1 second', i FROM generate_series(0, 200000) i");
    F.nreq = 0;
    (void)check();
    ts_run_stop();
    ts_err_clear(&e);
    assert_int_not_equal(arc_archive(F.cfg, F.pg, F.lk, NULL, cluster, request_for("m_6"), &conf, &e), 0);
    ts_run_reset();
    bus_confirmation_clear(&conf);
    assert_int_equal(objects(), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_confirm_drop),
        cmocka_unit_test(test_failure_retry_dead),
        cmocka_unit_test(test_changed_after_export),
        cmocka_unit_test(test_lost_and_forged_objects),
        cmocka_unit_test(test_restart_republish),
        cmocka_unit_test(test_other_database),
        cmocka_unit_test(test_bad_chunk),
        cmocka_unit_test(test_busy_and_switched_off),
        cmocka_unit_test(test_archiver_refusals),
        cmocka_unit_test(test_corrupt_data_page),
        cmocka_unit_test(test_recreated_partition),
        cmocka_unit_test(test_superseded_version),
        cmocka_unit_test(test_uncommitted_upload),
    };
    if (!getenv("TS_TEST_PG_URL")) {
        printf("SKIP: TS_TEST_PG_URL is not set (start the servers with scripts/services start)\n");
        return 77;
    }
    ts_log_setup(getenv("TS_TEST_VERBOSE") ? TS_LOG_DEBUG : TS_LOG_ERROR, 0, NULL);
    return cmocka_run_group_tests(tests, setup, teardown);
}
