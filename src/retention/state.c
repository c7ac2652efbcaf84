/* state.c: tsarchive.archival_events: migrations, every query on it, and the state
 * transitions. */
#include "state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/log.h"
#include "pg/conn.h"

static const char *const state_names[RET_NSTATES] = {"",        "requested", "archived",
                                                     "dropped", "retrying",  "dead"};

const char *ret_state_name(ret_state s)
{
    return (int)s >= 0 && (int)s < RET_NSTATES ? state_names[s] : "";
}

ret_state ret_state_parse(const char *s)
{
    for (int i = 1; s && i < RET_NSTATES; i++)
        if (strcmp(s, state_names[i]) == 0)
            return (ret_state)i;
    return RET_NONE;
}

void ret_ids_free(ret_ids *ids)
{
    if (!ids)
        return;
    ts_free(ids->v);
    ids->v = NULL;
    ids->n = 0;
}

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
    /* 3: drops retried with a backoff of their own, per chunk */
    "ALTER TABLE tsarchive.archival_events"
    "  ADD COLUMN drop_attempts integer NOT NULL DEFAULT 0,"
    "  ADD COLUMN next_drop_at timestamptz",
    /* 4: the entity tag of the object as it was read back: the drop checks it is still
     * the same object */
    "ALTER TABLE tsarchive.archival_events ADD COLUMN object_etag text",
    /* 5: integer ranges (range_start and range_end hold the column's integers): the
     * column's unit (seconds, milliseconds, ...), so the lake names the range as time
     * too; NULL for time ranges */
    "ALTER TABLE tsarchive.archival_events ADD COLUMN time_unit text",
};
#define NMIGRATIONS (int)(sizeof migrations / sizeof *migrations)

/* Advisory lock keys: "tsar" "migr" for migrations, "tsar" "reta" for the lead. */
#define MIGRATE_LOCK "SELECT pg_advisory_xact_lock(1953723762, 1835624306)"
#define LEAD_LOCK "SELECT pg_try_advisory_lock(1953723762, 1919251572)"

static void rollback(PGconn *c, const char *why)
{
    ts_err cleanup;
    ts_err_clear(&cleanup);
    if (pg_exec(c, "ROLLBACK", &cleanup) != 0) /* the server rolls back a broken session */
        ts_debug("rollback after %s: %s", why, cleanup.msg);
}

/* CREATE SCHEMA only when it is missing: once it exists (made by an administrator,
 * deploy/postgresql/tsarchive-grants.sql) the service needs no CREATE on the database. */
static int ensure_schema(PGconn *c, ts_err *err)
{
    PGresult *r = pg_query(c, "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'tsarchive'", 0,
                           NULL, err);
    int have;
    if (!r)
        return err->code;
    have = PQntuples(r) > 0;
    PQclear(r);
    return have ? TS_OK : pg_exec(c, "CREATE SCHEMA IF NOT EXISTS tsarchive", err);
}

int ret_state_migrate(PGconn *c, ts_err *err)
{
    PGresult *r = NULL;
    int rc, have;
    char vbuf[16];
    const char *p[1] = {vbuf};

    if ((rc = pg_exec(c, "BEGIN", err)) != 0)
        return rc;
    if ((rc = pg_exec(c, MIGRATE_LOCK, err)) != 0 ||
        (rc = ensure_schema(c, err)) != 0 ||
        (rc = pg_exec(c, "CREATE TABLE IF NOT EXISTS tsarchive.schema_version (version integer NOT NULL)",
                      err)) != 0)
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
        if ((rc = pg_exec(c, migrations[v], err)) != 0)
            goto fail;
    if (have < NMIGRATIONS) {
        snprintf(vbuf, sizeof vbuf, "%d", NMIGRATIONS);
        if (!(r = pg_query(c, have ? "UPDATE tsarchive.schema_version SET version = $1"
                                   : "INSERT INTO tsarchive.schema_version VALUES ($1)",
                           1, p, err))) {
            rc = err->code;
            goto fail;
        }
        PQclear(r);
    }
    return pg_exec(c, "COMMIT", err);
fail:
    PQclear(r);
    rollback(c, "a failed migration");
    ts_err_prefix(err, "could not set up the tsarchive schema");
    return rc;
}

int ret_state_exists(PGconn *c, bool *exists, ts_err *err)
{
    PGresult *r = pg_query(c, "SELECT to_regclass('tsarchive.archival_events') IS NOT NULL", 0,
                           NULL, err);
    if (!r)
        return err->code;
    *exists = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return TS_OK;
}

int ret_state_try_lead(PGconn *c, bool *leader, ts_err *err)
{
    PGresult *r = pg_query(c, LEAD_LOCK, 0, NULL, err);
    if (!r)
        return err->code;
    *leader = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return TS_OK;
}

#define EVENT_COLS                                                                                 \
    "event_id::text, chunk_schema, chunk_name, table_schema, table_name, range_start, range_end, " \
    "source, state, attempts, coalesce(rows, -1), coalesce(bytes, -1), coalesce(object, ''), "    \
    "coalesce(checksum, ''), coalesce(proof, ''), coalesce(error, ''), drop_attempts, "             \
    "coalesce(object_etag, ''), coalesce(time_unit, '')"

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
    ev->state = ret_state_parse(PQgetvalue(r, 0, 8));
    ev->attempts = atoi(PQgetvalue(r, 0, 9));
    ev->rows = strtoll(PQgetvalue(r, 0, 10), NULL, 10);
    ev->bytes = strtoll(PQgetvalue(r, 0, 11), NULL, 10);
    copy_field(ev->object, sizeof ev->object, r, 12);
    copy_field(ev->checksum, sizeof ev->checksum, r, 13);
    copy_field(ev->proof, sizeof ev->proof, r, 14);
    copy_field(ev->error, sizeof ev->error, r, 15);
    ev->drop_attempts = atoi(PQgetvalue(r, 0, 16));
    copy_field(ev->etag, sizeof ev->etag, r, 17);
    copy_field(ev->time_unit, sizeof ev->time_unit, r, 18);
}

int ret_state_request(PGconn *c, const ret_chunk_ref *ch, bool reset_attempts, ret_event *ev,
                      ts_err *err)
{
    /* Insert, or re-arm a row that is not active. The WHERE on the update keeps an
     * active request (requested, archived) untouched: then no row comes back. */
    static const char sql[] =
        "INSERT INTO tsarchive.archival_events AS e (chunk_schema, chunk_name, event_id, database,"
        "  table_schema, table_name, range_start, range_end, source, time_unit, state)"
        " VALUES ($1, $2, gen_random_uuid(), $3, $4, $5, $6, $7, $8, $10, 'requested')"
        " ON CONFLICT (chunk_schema, chunk_name) DO UPDATE SET"
        "  event_id = gen_random_uuid(), database = excluded.database,"
        "  table_schema = excluded.table_schema, table_name = excluded.table_name,"
        "  range_start = excluded.range_start, range_end = excluded.range_end,"
        "  source = excluded.source, time_unit = excluded.time_unit, state = 'requested',"
        "  attempts = CASE WHEN $9 OR e.state = 'dropped' THEN 1 ELSE e.attempts + 1 END,"
        "  rows = NULL, bytes = NULL, object = NULL, checksum = NULL, proof = NULL, object_etag = NULL,"
        "  error = CASE WHEN $9 THEN NULL ELSE e.error END,"
        "  requested_at = now(), confirmed_at = NULL, dropped_at = NULL,"
        "  next_attempt_at = NULL, drop_attempts = 0, next_drop_at = NULL, updated_at = now()"
        " WHERE e.state NOT IN ('requested', 'archived')"
        " RETURNING " EVENT_COLS;
    const char *p[10] = {ch->chunk_schema, ch->chunk_name,  ch->database,
                         ch->table_schema, ch->table_name,  ch->range_start,
                         ch->range_end,    ch->source,      reset_attempts ? "true" : "false",
                         ch->time_unit && *ch->time_unit ? ch->time_unit : NULL};
    PGresult *r = pg_query(c, sql, 10, p, err);
    if (!r)
        return err->code;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return ts_err_set(err, TS_ERR_CONFLICT, "chunk \"%s.%s\" already has a request out",
                          ch->chunk_schema, ch->chunk_name);
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

int ret_state_move(PGconn *c, const char *event_id, const ret_change *ch, ts_err *err)
{
    static const char sql[] =
        "UPDATE tsarchive.archival_events SET state = $3,"
        "  rows = coalesce($4::bigint, rows), bytes = coalesce($5::bigint, bytes),"
        "  object = coalesce($6, object), checksum = coalesce($7, checksum),"
        "  proof = coalesce($8, proof), error = $9, object_etag = coalesce($11, object_etag),"
        "  confirmed_at = CASE WHEN $3 = 'archived' THEN now() ELSE confirmed_at END,"
        "  dropped_at = CASE WHEN $3 = 'dropped' THEN now() ELSE dropped_at END,"
        "  next_attempt_at = CASE WHEN $10::int IS NULL THEN NULL"
        "                    ELSE now() + make_interval(secs => $10::int) END,"
        "  drop_attempts = CASE WHEN $3 = 'archived' AND $2 <> 'archived' THEN 0"
        "                  ELSE drop_attempts END,"
        "  next_drop_at = CASE WHEN $3 = 'archived' THEN next_drop_at END,"
        "  updated_at = now()"
        " WHERE event_id::text = $1 AND state = $2";
    char rb[24], bb[24], sb[16];
    const char *p[11];
    PGresult *r;
    int n;
    snprintf(rb, sizeof rb, "%lld", (long long)ch->rows);
    snprintf(bb, sizeof bb, "%lld", (long long)ch->bytes);
    snprintf(sb, sizeof sb, "%d", ch->retry_after_s);
    p[0] = event_id, p[1] = ret_state_name(ch->from), p[2] = ret_state_name(ch->to);
    p[3] = ch->rows >= 0 ? rb : NULL;
    p[4] = ch->bytes >= 0 ? bb : NULL;
    p[5] = ch->object, p[6] = ch->checksum, p[7] = ch->proof, p[8] = ch->error;
    p[9] = ch->retry_after_s >= 0 ? sb : NULL;
    p[10] = ch->etag;
    if (!(r = pg_query(c, sql, 11, p, err)))
        return err->code;
    n = atoi(PQcmdTuples(r));
    PQclear(r);
    if (n != 1)
        return ts_err_set(err, TS_ERR_CONFLICT, "archival event \"%s\" is no longer in state \"%s\"",
                          event_id, ret_state_name(ch->from));
    return 0;
}

int ret_state_drop_failed(PGconn *c, const char *event_id, const char *why, int backoff_s,
                          ret_drop_count how, int max_attempts, ts_err *err)
{
    char sb[16], hb[16], mb[16];
    const char *p[5] = {event_id, why, sb, hb, mb};
    PGresult *r;
    snprintf(sb, sizeof sb, "%d", backoff_s);
    snprintf(hb, sizeof hb, "%d", (int)how);
    snprintf(mb, sizeof mb, "%d", max_attempts);
    r = pg_query(c,
                 "UPDATE tsarchive.archival_events SET"
                 "  drop_attempts = CASE $4::int WHEN 0 THEN drop_attempts"
                 "                  WHEN 1 THEN drop_attempts + 1"
                 "                  ELSE greatest(drop_attempts + 1, $5::int) END,"
                 "  error = $2, next_drop_at = now() + make_interval(secs => $3::int),"
                 "  updated_at = now()"
                 " WHERE event_id::text = $1 AND state = 'archived'",
                 5, p, err);
    if (!r)
        return err->code;
    PQclear(r);
    return TS_OK;
}

int ret_state_drops_due_now(PGconn *c, ts_err *err)
{
    return pg_exec(c, "UPDATE tsarchive.archival_events SET next_drop_at = now()"
                      " WHERE state = 'archived' AND next_drop_at > now()", err);
}

int ret_state_stuck_drops(PGconn *c, int max_attempts, int cap, char ***out, int *n, ts_err *err)
{
    char mb[16], cb[16];
    const char *p[2] = {mb, cb};
    PGresult *r;
    *out = NULL;
    *n = 0;
    snprintf(mb, sizeof mb, "%d", max_attempts);
    snprintf(cb, sizeof cb, "%d", cap);
    r = pg_query(c,
                 "SELECT format('%I.%I: %s', chunk_schema, chunk_name, coalesce(error, ''))"
                 " FROM tsarchive.archival_events"
                 " WHERE state = 'archived' AND drop_attempts >= $1::int"
                 " ORDER BY chunk_schema, chunk_name LIMIT $2::int",
                 2, p, err);
    if (!r)
        return err->code;
    int k = PQntuples(r);
    if (k > 0 && !(*out = ts_calloc((size_t)k, sizeof **out))) {
        PQclear(r);
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < k; i++) {
        if (!((*out)[i] = ts_strdup(PQgetvalue(r, i, 0)))) {
            PQclear(r);
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        }
        (*n)++;
    }
    PQclear(r);
    return TS_OK;
}

static int count_where(PGconn *c, const char *sql, int64_t *n, ts_err *err)
{
    PGresult *r = pg_query(c, sql, 0, NULL, err);
    if (!r)
        return err->code;
    *n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int ret_state_in_flight(PGconn *c, int64_t *n, ts_err *err)
{
    return count_where(c, "SELECT count(*) FROM tsarchive.archival_events"
                          " WHERE state IN ('requested', 'archived')", n, err);
}

int ret_state_pending(PGconn *c, int max_attempts, int64_t *n, ts_err *err)
{
    char mb[16];
    const char *p[1] = {mb};
    PGresult *r;
    snprintf(mb, sizeof mb, "%d", max_attempts);
    r = pg_query(c,
                 "SELECT count(*) FROM tsarchive.archival_events"
                 " WHERE state IN ('requested', 'retrying')"
                 "  OR (state = 'archived' AND drop_attempts < $1::int)",
                 1, p, err);
    if (!r)
        return err->code;
    *n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return TS_OK;
}

int ret_state_count(PGconn *c, ret_state s, int64_t *n, ts_err *err)
{
    const char *p[1] = {ret_state_name(s)};
    PGresult *r = pg_query(c, "SELECT count(*) FROM tsarchive.archival_events WHERE state = $1", 1,
                           p, err);
    if (!r)
        return err->code;
    *n = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return 0;
}

int ret_state_of_chunk(PGconn *c, const char *chunk_schema, const char *chunk_name,
                       ret_state *state, ts_err *err)
{
    const char *p[2] = {chunk_schema, chunk_name};
    PGresult *r = pg_query(c, "SELECT state FROM tsarchive.archival_events"
                              " WHERE chunk_schema = $1 AND chunk_name = $2", 2, p, err);
    if (!r)
        return err->code;
    *state = PQntuples(r) ? ret_state_parse(PQgetvalue(r, 0, 0)) : RET_NONE;
    PQclear(r);
    return 0;
}

static int ids_of(PGconn *c, const char *sql, int nparams, const char *const *params, ret_ids *ids,
                  ts_err *err)
{
    PGresult *r = pg_query(c, sql, nparams, params, err);
    int n;
    ids->v = NULL;
    ids->n = 0;
    if (!r)
        return err->code;
    n = PQntuples(r);
    if (n && !(ids->v = ts_calloc((size_t)n, sizeof *ids->v))) {
        PQclear(r);
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++)
        snprintf(ids->v[i], sizeof ids->v[i], "%s", PQgetvalue(r, i, 0));
    ids->n = n;
    PQclear(r);
    return TS_OK;
}

int ret_state_touch_outstanding(PGconn *c, int age_s, ret_ids *ids, ts_err *err)
{
    char age[16];
    const char *p[1] = {age};
    snprintf(age, sizeof age, "%d", age_s);
    return ids_of(c, "UPDATE tsarchive.archival_events SET requested_at = now()"
                     " WHERE state = 'requested' AND requested_at <= now() - make_interval(secs => $1::int)"
                     " RETURNING event_id::text", 1, p, ids, err);
}

int ret_state_due_retries(PGconn *c, ret_ids *ids, ts_err *err)
{
    return ids_of(c, "SELECT event_id::text FROM tsarchive.archival_events"
                     " WHERE state = 'retrying' AND next_attempt_at <= now()"
                     " ORDER BY next_attempt_at", 0, NULL, ids, err);
}

int ret_state_due_drops(PGconn *c, ret_ids *ids, ts_err *err)
{
    return ids_of(c, "SELECT event_id::text FROM tsarchive.archival_events"
                     " WHERE state = 'archived' AND (next_drop_at IS NULL OR next_drop_at <= now())"
                     " ORDER BY drop_attempts, confirmed_at", 0, NULL, ids, err);
}

int ret_state_summary(PGconn *c, ret_state_count_fn fn, void *ud, ts_err *err)
{
    bool exists = false;
    PGresult *r;
    int rc = ret_state_exists(c, &exists, err);
    if (rc || !exists)
        return rc;
    if (!(r = pg_query(c, "SELECT table_schema || '.' || table_name, state, count(*)"
                          " FROM tsarchive.archival_events GROUP BY 1, 2 ORDER BY 1, 2",
                       0, NULL, err)))
        return err->code;
    for (int i = 0; i < PQntuples(r); i++)
        fn(ud, PQgetvalue(r, i, 0), ret_state_parse(PQgetvalue(r, i, 1)),
           strtoll(PQgetvalue(r, i, 2), NULL, 10));
    PQclear(r);
    return TS_OK;
}

int ret_state_chunks(PGconn *c, ret_state_chunk_fn fn, void *ud, ts_err *err)
{
    bool exists = false;
    PGresult *r;
    int rc = ret_state_exists(c, &exists, err);
    if (rc || !exists)
        return rc;
    if (!(r = pg_query(c, "SELECT chunk_schema, chunk_name, state, attempts, coalesce(error, '')"
                          " FROM tsarchive.archival_events", 0, NULL, err)))
        return err->code;
    for (int i = 0; i < PQntuples(r); i++)
        fn(ud, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), ret_state_parse(PQgetvalue(r, i, 2)),
           atoi(PQgetvalue(r, i, 3)), PQgetvalue(r, i, 4));
    PQclear(r);
    return TS_OK;
}
