/* state.c: tsarchive.archival_events: schema migrations and state transitions. */
#include "state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "pg/conn.h"

/* Each migration runs once, in order; schema_version holds how many ran. */
static const char *const migrations[] = {
    /* 1 */
    "CREATE TABLE tsarchive.archival_events ("
    "  chunk_schema text NOT NULL,"
    "  chunk_name text NOT NULL,"
    "  event_id uuid NOT NULL UNIQUE,"
    "  database text NOT NULL,"
    "  table_schema text NOT NULL,"
    "  table_name text NOT NULL,"
    "  range_start text NOT NULL,"
    "  range_end text NOT NULL,"
    "  source text NOT NULL CHECK (source IN ('timescaledb', 'partition')),"
    "  state text NOT NULL CHECK (state IN ('requested', 'archived', 'dropped', 'retrying', 'dead')),"
    "  attempts integer NOT NULL DEFAULT 1 CHECK (attempts >= 1),"
    "  rows bigint, bytes bigint, object text, checksum text, proof text, error text,"
    "  requested_at timestamptz NOT NULL DEFAULT now(),"
    "  confirmed_at timestamptz,"
    "  dropped_at timestamptz,"
    "  next_attempt_at timestamptz,"
    "  updated_at timestamptz NOT NULL DEFAULT now(),"
    "  PRIMARY KEY (chunk_schema, chunk_name))",
    /* 2 */
    "CREATE INDEX archival_events_state ON tsarchive.archival_events (state, next_attempt_at)",
};
#define NMIGRATIONS (int)(sizeof migrations / sizeof *migrations)

/* Advisory lock key for migrations: "tsar" "migr" as two int4. */
#define MIGRATE_LOCK "SELECT pg_advisory_xact_lock(1953723762, 1835624306)"

static int exec(PGconn *c, const char *sql, ts_err *err)
{
    return pg_exec(c, sql, err);
}

int ret_state_migrate(PGconn *c, ts_err *err)
{
    PGresult *r = NULL;
    int rc, have;
    char sql[64];

    if ((rc = exec(c, "BEGIN", err)) != 0)
        return rc;
    if ((rc = exec(c, MIGRATE_LOCK, err)) != 0 ||
        (rc = exec(c, "CREATE SCHEMA IF NOT EXISTS tsarchive", err)) != 0 ||
        (rc = exec(c, "CREATE TABLE IF NOT EXISTS tsarchive.schema_version (version integer NOT NULL)", err)) != 0)
        goto fail;
    if (!(r = pg_query(c, "SELECT coalesce(max(version), 0) FROM tsarchive.schema_version", 0, NULL, err))) {
        rc = err->code;
        goto fail;
    }
    have = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    r = NULL;
    if (have > NMIGRATIONS) {
        rc = ts_err_set(err, TS_ERR_UNSUPPORTED,
                        "the tsarchive schema is at version %d, newer than this tsarchive knows (%d); upgrade tsarchive",
                        have, NMIGRATIONS);
        goto fail;
    }
    for (int v = have; v < NMIGRATIONS; v++)
        if ((rc = exec(c, migrations[v], err)) != 0)
            goto fail;
    if (have < NMIGRATIONS) {
        snprintf(sql, sizeof sql, "%s", have ? "UPDATE tsarchive.schema_version SET version = $1"
                                             : "INSERT INTO tsarchive.schema_version VALUES ($1)");
        char vbuf[16];
        const char *p[1] = {vbuf};
        snprintf(vbuf, sizeof vbuf, "%d", NMIGRATIONS);
        if (!(r = pg_query(c, sql, 1, p, err))) {
            rc = err->code;
            goto fail;
        }
        PQclear(r);
    }
    return exec(c, "COMMIT", err);
fail:
    PQclear(r);
    ts_err cleanup;
    ts_err_clear(&cleanup);
    if (exec(c, "ROLLBACK", &cleanup) != 0) /* the server rolls back a broken session */
        ts_debug("rollback after a failed migration: %s", cleanup.msg);
    ts_err_prefix(err, "could not set up the tsarchive schema");
    return rc;
}

#define EVENT_COLS                                                                                   \
    "event_id::text, chunk_schema, chunk_name, table_schema, table_name, range_start, range_end, "   \
    "source, state, attempts, coalesce(rows, -1), coalesce(bytes, -1), coalesce(object, ''), "      \
    "coalesce(checksum, ''), coalesce(proof, ''), coalesce(error, '')"

static void copy_field(char *dst, size_t len, const PGresult *r, int col)
{
    snprintf(dst, len, "%s", PQgetvalue(r, 0, col));
}

static void fill(ret_event *ev, const PGresult *r)
{
    copy_field(ev->event_id, sizeof ev->event_id, r, 0);
    copy_field(ev->chunk_schema, sizeof ev->chunk_schema, r, 1);
    copy_field(ev->chunk_name, sizeof ev->chunk_name, r, 2);
    copy_field(ev->table_schema, sizeof ev->table_schema, r, 3);
    copy_field(ev->table_name, sizeof ev->table_name, r, 4);
    copy_field(ev->range_start, sizeof ev->range_start, r, 5);
    copy_field(ev->range_end, sizeof ev->range_end, r, 6);
    copy_field(ev->source, sizeof ev->source, r, 7);
    copy_field(ev->state, sizeof ev->state, r, 8);
    ev->attempts = atoi(PQgetvalue(r, 0, 9));
    ev->rows = strtoll(PQgetvalue(r, 0, 10), NULL, 10);
    ev->bytes = strtoll(PQgetvalue(r, 0, 11), NULL, 10);
    copy_field(ev->object, sizeof ev->object, r, 12);
    copy_field(ev->checksum, sizeof ev->checksum, r, 13);
    copy_field(ev->proof, sizeof ev->proof, r, 14);
    copy_field(ev->error, sizeof ev->error, r, 15);
}

int ret_state_request(PGconn *c, const char *database, const char *table_schema,
                      const char *table_name, const char *chunk_schema, const char *chunk_name,
                      const char *range_start, const char *range_end, const char *source,
                      bool reset_attempts, ret_event *ev, ts_err *err)
{
    /* Insert, or re-arm a row that is not active. The WHERE on the update keeps an
     * active request (requested, archived) untouched: then no row comes back. */
    static const char sql[] =
        "INSERT INTO tsarchive.archival_events AS e (chunk_schema, chunk_name, event_id, database,"
        "  table_schema, table_name, range_start, range_end, source, state)"
        " VALUES ($1, $2, gen_random_uuid(), $3, $4, $5, $6, $7, $8, 'requested')"
        " ON CONFLICT (chunk_schema, chunk_name) DO UPDATE SET"
        "  event_id = gen_random_uuid(), database = excluded.database,"
        "  table_schema = excluded.table_schema, table_name = excluded.table_name,"
        "  range_start = excluded.range_start, range_end = excluded.range_end,"
        "  source = excluded.source, state = 'requested',"
        "  attempts = CASE WHEN $9 OR e.state = 'dropped' THEN 1 ELSE e.attempts + 1 END,"
        "  rows = NULL, bytes = NULL, object = NULL, checksum = NULL, proof = NULL,"
        "  error = CASE WHEN $9 THEN NULL ELSE e.error END,"
        "  requested_at = now(), confirmed_at = NULL, dropped_at = NULL,"
        "  next_attempt_at = NULL, updated_at = now()"
        " WHERE e.state NOT IN ('requested', 'archived')"
        " RETURNING " EVENT_COLS;
    const char *p[9] = {chunk_schema, chunk_name, database, table_schema, table_name,
                        range_start, range_end, source, reset_attempts ? "true" : "false"};
    PGresult *r = pg_query(c, sql, 9, p, err);
    if (!r)
        return err->code;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return ts_err_set(err, TS_ERR_CONFLICT, "chunk \"%s.%s\" already has a request out",
                          chunk_schema, chunk_name);
    }
    fill(ev, r);
    PQclear(r);
    return 0;
}

int ret_state_get(PGconn *c, const char *event_id, ret_event *ev, ts_err *err)
{
    const char *p[1] = {event_id};
    PGresult *r = pg_query(c, "SELECT " EVENT_COLS " FROM tsarchive.archival_events"
                              " WHERE event_id::text = $1", 1, p, err);
    if (!r)
        return err->code;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return ts_err_set(err, TS_ERR_NOTFOUND, "no archival event \"%s\"", event_id);
    }
    fill(ev, r);
    PQclear(r);
    return 0;
}

int ret_state_move(PGconn *c, const char *event_id, const char *from, const char *to,
                   int64_t rows, int64_t bytes, const char *object, const char *checksum,
                   const char *proof, const char *error, int retry_after_s, ts_err *err)
{
    static const char sql[] =
        "UPDATE tsarchive.archival_events SET state = $3,"
        "  rows = coalesce($4::bigint, rows), bytes = coalesce($5::bigint, bytes),"
        "  object = coalesce($6, object), checksum = coalesce($7, checksum),"
        "  proof = coalesce($8, proof), error = $9,"
        "  confirmed_at = CASE WHEN $3 = 'archived' THEN now() ELSE confirmed_at END,"
        "  dropped_at = CASE WHEN $3 = 'dropped' THEN now() ELSE dropped_at END,"
        "  next_attempt_at = CASE WHEN $10::int IS NULL THEN NULL"
        "                    ELSE now() + make_interval(secs => $10::int) END,"
        "  updated_at = now()"
        " WHERE event_id::text = $1 AND state = $2";
    char rb[24], bb[24], sb[16];
    const char *p[10];
    PGresult *r;
    int n;
    snprintf(rb, sizeof rb, "%lld", (long long)rows);
    snprintf(bb, sizeof bb, "%lld", (long long)bytes);
    snprintf(sb, sizeof sb, "%d", retry_after_s);
    p[0] = event_id, p[1] = from, p[2] = to;
    p[3] = rows >= 0 ? rb : NULL;
    p[4] = bytes >= 0 ? bb : NULL;
    p[5] = object, p[6] = checksum, p[7] = proof, p[8] = error;
    p[9] = retry_after_s >= 0 ? sb : NULL;
    if (!(r = pg_query(c, sql, 10, p, err)))
        return err->code;
    n = atoi(PQcmdTuples(r));
    PQclear(r);
    if (n != 1)
        return ts_err_set(err, TS_ERR_CONFLICT, "archival event \"%s\" is no longer in state \"%s\"",
                          event_id, from);
    return 0;
}

int ret_state_in_flight(PGconn *c, int64_t *n, ts_err *err)
{
    PGresult *r = pg_query(c, "SELECT count(*) FROM tsarchive.archival_events"
                              " WHERE state IN ('requested', 'archived')", 0, NULL, err);
    if (!r)
        return err->code;
    *n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int ret_state_of_chunk(PGconn *c, const char *chunk_schema, const char *chunk_name, char *state,
                       size_t len, ts_err *err)
{
    const char *p[2] = {chunk_schema, chunk_name};
    PGresult *r = pg_query(c, "SELECT state FROM tsarchive.archival_events"
                              " WHERE chunk_schema = $1 AND chunk_name = $2", 2, p, err);
    if (!r)
        return err->code;
    snprintf(state, len, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return 0;
}
