/* retention.c: request, judge, verify, drop. */
#include "retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archiver/archive.h"
#include "common/alloc.h"
#include "common/fault.h"
#include "common/log.h"
#include "pg/conn.h"
#include "pg/discover.h"
#include "pg/proof.h"
#include "state.h"

struct ret {
    const ts_config *cfg;
    PGconn *pg;
    lake *lk;
    ret_publish_fn publish;
    void *publish_ud;
    char database[BUS_NAME_MAX + 1];
    ret_counts counts;
};

int ret_new(ret **out, const ts_config *cfg, PGconn *pg, lake *lk, ret_publish_fn publish,
            void *publish_ud, ts_err *err)
{
    ret *r;
    int rc;
    *out = NULL;
    if ((rc = ret_state_migrate(pg, err)) != 0)
        return rc;
    if (!(r = ts_calloc(1, sizeof *r)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    r->cfg = cfg;
    r->pg = pg;
    r->lk = lk;
    r->publish = publish;
    r->publish_ud = publish_ud;
    snprintf(r->database, sizeof r->database, "%s", PQdb(pg));
    *out = r;
    return 0;
}

void ret_free(ret *r)
{
    ts_free(r);
}

const ret_counts *ret_get_counts(const ret *r)
{
    return &r->counts;
}

/* A request event from a state row. */
static int request_of(const ret *r, const ret_event *ev, bus_request *req, ts_err *err)
{
    memset(req, 0, sizeof *req);
    snprintf(req->event_id, sizeof req->event_id, "%s", ev->event_id);
    req->attempt = ev->attempts;
    req->requested_at = bus_time_now();
    snprintf(req->database, sizeof req->database, "%s", r->database);
    snprintf(req->chunk.hypertable_schema, sizeof req->chunk.hypertable_schema, "%s", ev->table_schema);
    snprintf(req->chunk.hypertable, sizeof req->chunk.hypertable, "%s", ev->table_name);
    snprintf(req->chunk.chunk_schema, sizeof req->chunk.chunk_schema, "%s", ev->chunk_schema);
    snprintf(req->chunk.chunk_name, sizeof req->chunk.chunk_name, "%s", ev->chunk_name);
    req->chunk.range_kind = BUS_RANGE_TIMESTAMP;
    req->chunk.source = strcmp(ev->source, "partition") == 0 ? BUS_SOURCE_PARTITION : BUS_SOURCE_TIMESCALEDB;
    if (bus_time_parse(ev->range_start, &req->chunk.range_start) != 0 ||
        bus_time_parse(ev->range_end, &req->chunk.range_end) != 0)
        return ts_err_set(err, TS_ERR_INVALID, "chunk \"%s.%s\": range \"%s\" .. \"%s\" is not RFC 3339",
                          ev->chunk_schema, ev->chunk_name, ev->range_start, ev->range_end);
    return 0;
}

/* Runs sql (its first column: event ids) and calls fn on each event's row, stopping
 * at the first error. */
static int for_each_event(ret *r, const char *sql, int nparams, const char *const *params,
                          int (*fn)(ret *, const ret_event *, ts_err *), ts_err *err)
{
    PGresult *res = pg_query(r->pg, sql, nparams, params, err);
    int rc = 0;
    if (!res)
        return err->code;
    for (int i = 0; i < PQntuples(res) && !rc; i++) {
        ret_event ev;
        if ((rc = ret_state_get(r->pg, PQgetvalue(res, i, 0), &ev, err)) == 0)
            rc = fn(r, &ev, err);
    }
    PQclear(res);
    return rc;
}

static int send_request(ret *r, const ret_event *ev, ts_err *err)
{
    bus_request req;
    int rc = request_of(r, ev, &req, err);
    if (rc)
        return rc;
    if ((rc = r->publish(r->publish_ud, &req, err)) != 0)
        return rc;
    r->counts.requested++;
    ts_log_context("event_id", ev->event_id);
    ts_info("requested archival of chunk \"%s.%s\" (%s .. %s, attempt %d)", ev->chunk_schema,
            ev->chunk_name, ev->range_start, ev->range_end, ev->attempts);
    ts_log_context("event_id", NULL);
    return 0;
}

/* Re-arms a chunk (retry, or archive again after a change) and publishes. */
static int rerequest(ret *r, const ret_event *ev, bool reset, ts_err *err)
{
    ret_event fresh;
    int rc;
    /* an archived row is active: release it first (it is archived again right away) */
    if (!strcmp(ev->state, RET_ARCHIVED) &&
        (rc = ret_state_move(r->pg, ev->event_id, RET_ARCHIVED, RET_RETRYING, -1, -1, NULL, NULL,
                             NULL, "archiving again", 0, err)) != 0)
        return rc;
    rc = ret_state_request(r->pg, r->database, ev->table_schema, ev->table_name,
                               ev->chunk_schema, ev->chunk_name, ev->range_start, ev->range_end,
                               ev->source, reset, &fresh, err);
    return rc ? rc : send_request(r, &fresh, err);
}

/* Requests still out: all of them (after a restart), or those out longer than a check
 * interval (a stream entry lost to a Redis failure must not strand a chunk). The
 * archiver is idempotent, so a request served twice confirms twice, and the second
 * confirmation is ignored as a duplicate. */
static int republish_outstanding(ret *r, bool all, ts_err *err)
{
    char age[16];
    const char *p[1] = {age};
    snprintf(age, sizeof age, "%d", all ? 0 : r->cfg->retention_check_interval_hours * 3600);
    return for_each_event(r, "UPDATE tsarchive.archival_events SET requested_at = now()"
                             " WHERE state = 'requested' AND requested_at <= now() - make_interval(secs => $1::int)"
                             " RETURNING event_id::text", 1, p, send_request, err);
}

/* Re-requests chunks whose retry time has come, while the batch limit allows. */
static int due_retries(ret *r, int64_t *in_flight, ts_err *err)
{
    int rc = 0;
    PGresult *res = pg_query(r->pg, "SELECT event_id::text FROM tsarchive.archival_events"
                                    " WHERE state = 'retrying' AND next_attempt_at <= now()"
                                    " ORDER BY next_attempt_at", 0, NULL, err);
    if (!res)
        return err->code;
    for (int i = 0; i < PQntuples(res) && *in_flight < r->cfg->archival_batch_size && !rc; i++) {
        ret_event ev;
        if ((rc = ret_state_get(r->pg, PQgetvalue(res, i, 0), &ev, err)) == 0 &&
            (rc = rerequest(r, &ev, false, err)) == 0)
            (*in_flight)++;
    }
    PQclear(res);
    return rc;
}

int ret_retry_due(ret *r, ts_err *err)
{
    int64_t in_flight = 0;
    int rc;
    if (!r->cfg->lakehouse_enabled)
        return 0;
    if ((rc = ret_state_in_flight(r->pg, &in_flight, err)) != 0)
        return rc;
    return due_retries(r, &in_flight, err);
}

int ret_check_once(ret *r, bool republish, const char *table_glob, int *requested, ts_err *err)
{
    pg_chunk_list list = {0};
    pg_discover_filter f = {.table = table_glob, .expired_only = true};
    int64_t in_flight = 0, backlog = 0;
    int64_t before = r->counts.requested;
    int rc;

    if (requested)
        *requested = 0;
    if (r->cfg->lakehouse_enabled && (rc = republish_outstanding(r, republish, err)) != 0)
        return rc;
    if ((rc = pg_discover(r->pg, r->cfg, &f, &list, err)) != 0)
        return rc;
    if ((rc = ret_state_in_flight(r->pg, &in_flight, err)) != 0)
        goto out;
    for (int i = 0; i < list.n; i++) {
        pg_chunk *ch = &list.items[i];
        char state[16];
        ret_event ev;
        if (!ch->expired)
            continue;
        if (ch->integer_range || !ch->has_start || !ch->has_end) {
            r->counts.skipped++;
            ts_warn("chunk \"%s.%s\" has an integer or unbounded range: not archived", ch->chunk_schema,
                    ch->chunk_name);
            continue;
        }
        if (!r->cfg->lakehouse_enabled) {
            ts_info("expired chunk \"%s.%s\" (%s .. %s): lakehouse_enabled is false, nothing requested",
                    ch->chunk_schema, ch->chunk_name, ch->range_start, ch->range_end);
            continue;
        }
        if ((rc = ret_state_of_chunk(r->pg, ch->chunk_schema, ch->chunk_name, state, sizeof state, err)) != 0)
            goto out;
        /* active, waiting for its retry time, or given up on: leave it */
        if (!strcmp(state, RET_REQUESTED) || !strcmp(state, RET_ARCHIVED) ||
            !strcmp(state, RET_RETRYING) || !strcmp(state, RET_DEAD))
            continue;
        if (in_flight >= r->cfg->archival_batch_size) {
            backlog++; /* requested once others settle */
            continue;
        }
        rc = ret_state_request(r->pg, r->database, ch->table_schema, ch->table_name, ch->chunk_schema,
                               ch->chunk_name, ch->range_start, ch->range_end,
                               ch->source == PG_SRC_PARTITION ? "partition" : "timescaledb", true, &ev, err);
        if (rc == TS_ERR_CONFLICT) { /* another instance got there first */
            ts_err_clear(err);
            rc = 0;
            continue;
        }
        if (rc || (rc = send_request(r, &ev, err)) != 0)
            goto out;
        in_flight++;
    }
    if ((rc = due_retries(r, &in_flight, err)) == 0)
        r->counts.backlog = backlog;
out:
    if (requested)
        *requested = (int)(r->counts.requested - before);
    pg_chunk_list_free(&list);
    return rc;
}

static int backoff_s(const ts_config *cfg, int attempts)
{
    long s = cfg->retention.retry_backoff_s;
    for (int i = 1; i < attempts && s < 86400; i++)
        s *= 2;
    return (int)(s > 86400 ? 86400 : s);
}

static int on_failure(ret *r, const ret_event *ev, const char *why, ts_err *err)
{
    int rc;
    r->counts.confirmed_failed++;
    if (ev->attempts >= r->cfg->retention.max_attempts) {
        rc = ret_state_move(r->pg, ev->event_id, RET_REQUESTED, RET_DEAD, -1, -1, NULL, NULL, NULL, why, -1, err);
        if (!rc) {
            r->counts.dead++;
            ts_error("GIVING UP on chunk \"%s.%s\" after %d attempts; it stays in the database: %s",
                     ev->chunk_schema, ev->chunk_name, ev->attempts, why);
        }
        return rc;
    }
    int wait = backoff_s(r->cfg, ev->attempts);
    rc = ret_state_move(r->pg, ev->event_id, RET_REQUESTED, RET_RETRYING, -1, -1, NULL, NULL, NULL, why, wait, err);
    if (!rc)
        ts_warn("archival of chunk \"%s.%s\" failed (attempt %d of %d), chunk kept, retry in %d s: %s",
                ev->chunk_schema, ev->chunk_name, ev->attempts, r->cfg->retention.max_attempts, wait, why);
    return rc;
}

static void rollback(PGconn *pg)
{
    ts_err e;
    ts_err_clear(&e);
    if (pg_exec(pg, "ROLLBACK", &e) != 0) /* the connection is gone: the server rolls back */
        ts_debug("rollback: %s", e.msg);
}

/* Inside the drop transaction, a reason not to drop: roll back, say why (what is a
 * format with the chunk's schema and name), and archive the chunk again. */
static int keep_and_rearchive(ret *r, const ret_event *ev, const char *what, const char *why,
                              ts_err *err)
{
    char head[400];
    rollback(r->pg);
    snprintf(head, sizeof head, what, ev->chunk_schema, ev->chunk_name);
    ts_warn("%s (%s): kept, archiving it again", head, why);
    r->counts.rearchived++;
    return rerequest(r, ev, true, err);
}

/* The chunk's archive was verified: drop it in one transaction under its lock, after
 * proving it unchanged and seeing the object in the lake once more. */
static int drop_chunk(ret *r, const ret_event *ev, ts_err *err)
{
    char *qname = NULL, sql[1200], *path = NULL;
    bus_request req;
    ts_err e;
    int rc;

    ts_err_clear(&e);
    if ((rc = request_of(r, ev, &req, err)) != 0)
        return rc;
    if (!(path = arc_object_path(r->database, &req.chunk)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    if (!(qname = pg_qualified_name(r->pg, ev->chunk_schema, ev->chunk_name, err))) {
        ts_free(path);
        return err->code;
    }
    if ((rc = pg_exec(r->pg, "BEGIN", err)) != 0)
        goto out;
    snprintf(sql, sizeof sql, "SET LOCAL lock_timeout = %d", r->cfg->database.lock_timeout_ms);
    if ((rc = pg_exec(r->pg, sql, err)) != 0)
        goto abort;
    snprintf(sql, sizeof sql, "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE", qname);
    rc = pg_exec(r->pg, sql, &e);
    if (rc == TS_ERR_NOTFOUND) { /* someone else dropped it: nothing of ours to do */
        rollback(r->pg);
        ts_warn("chunk \"%s.%s\" is already gone from the database; its archive is %s",
                ev->chunk_schema, ev->chunk_name, ev->object);
        rc = ret_state_move(r->pg, ev->event_id, RET_ARCHIVED, RET_DROPPED, -1, -1, NULL, NULL, NULL,
                            "the chunk was dropped by someone else", -1, err);
        goto out;
    }
    if (rc == TS_ERR_CONFLICT) { /* lock timeout: try again later */
        rollback(r->pg);
        ts_warn("chunk \"%s.%s\" is busy (lock not granted in %d ms); drop deferred", ev->chunk_schema,
                ev->chunk_name, r->cfg->database.lock_timeout_ms);
        rc = 0;
        goto out;
    }
    if (rc) {
        ts_err_set(err, rc, "%s", e.msg);
        goto abort;
    }
    rc = pg_chunk_unchanged(r->pg, ev->chunk_schema, ev->chunk_name, ev->proof, &e);
    if (rc == TS_ERR_CONFLICT) {
        rc = keep_and_rearchive(r, ev, "chunk \"%s.%s\" changed since its export", e.msg, err);
        goto out;
    }
    if (rc) {
        ts_err_set(err, rc, "%s", e.msg);
        goto abort;
    }
    /* the object once more, under the lock: deleted or replaced since? */
    rc = arc_verify_object(r->lk, path, ev->rows, ev->bytes, ev->checksum, NULL, &e);
    if (rc == TS_ERR_CONFLICT || rc == TS_ERR_NOTFOUND) {
        rc = keep_and_rearchive(r, ev, "archive of chunk \"%s.%s\" no longer checks out", e.msg, err);
        goto out;
    }
    if (rc) {
        ts_err_set(err, rc, "%s", e.msg);
        goto abort;
    }
    snprintf(sql, sizeof sql, "DROP TABLE %s", qname);
    if ((rc = pg_exec(r->pg, sql, err)) != 0)
        goto abort;
    ts_fault("retention.after_drop"); /* dropped in the transaction, state not written */
    if ((rc = ret_state_move(r->pg, ev->event_id, RET_ARCHIVED, RET_DROPPED, -1, -1, NULL, NULL, NULL,
                             NULL, -1, err)) != 0 ||
        (rc = pg_exec(r->pg, "COMMIT", err)) != 0)
        goto abort;
    ts_fault("retention.after_commit"); /* dropped and recorded; confirmation not acked */
    r->counts.dropped++;
    r->counts.rows_dropped += ev->rows;
    ts_info("dropped chunk \"%s.%s\" (%lld rows, archived at %s)", ev->chunk_schema, ev->chunk_name,
            (long long)ev->rows, ev->object);
    goto out;
abort:
    rollback(r->pg);
    ts_err_prefix(err, "dropping chunk \"%s.%s\"", ev->chunk_schema, ev->chunk_name);
out:
    ts_free(qname);
    ts_free(path);
    return rc;
}

int ret_on_confirmation(ret *r, const bus_confirmation *conf, ts_err *err)
{
    ret_event ev;
    char proof[PG_PROOF_MAX], *file_proof = NULL, *path = NULL, *url = NULL;
    ts_err e;
    int rc;

    ts_err_clear(&e);
    rc = ret_state_get(r->pg, conf->event_id, &ev, &e);
    if (rc == TS_ERR_NOTFOUND) {
        ts_warn("confirmation for unknown event \"%s\" ignored (a stale or foreign event)", conf->event_id);
        return 0;
    }
    if (rc)
        return ts_err_set(err, rc, "%s", e.msg);
    ts_log_context("event_id", ev.event_id);
    if (strcmp(ev.state, RET_REQUESTED) != 0) {
        ts_info("confirmation for chunk \"%s.%s\" in state \"%s\" ignored (a duplicate)", ev.chunk_schema,
                ev.chunk_name, ev.state);
        rc = 0;
        goto out;
    }
    if (conf->status == BUS_STATUS_FAILURE) {
        rc = on_failure(r, &ev, conf->error ? conf->error : "no reason given", err);
        goto out;
    }
    r->counts.confirmed_ok++;
    /* the confirmation says where and what; check it all before believing it */
    if (!(path = arc_object_path(r->database, &conf->chunk)) || !(url = lake_url(r->lk, path))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (strcmp(conf->chunk.chunk_schema, ev.chunk_schema) || strcmp(conf->chunk.chunk_name, ev.chunk_name)) {
        rc = on_failure(r, &ev, "the confirmation names another chunk than its request", err);
        goto out;
    }
    if (!conf->object || strcmp(conf->object, url) != 0) {
        rc = on_failure(r, &ev, "the confirmation names an object outside the chunk's place in the lake", err);
        goto out;
    }
    if (arc_proof_from_json(conf->proof, proof, sizeof proof, &e) != 0) {
        rc = on_failure(r, &ev, e.msg, err);
        goto out;
    }
    rc = arc_verify_object(r->lk, path, conf->rows, conf->bytes, conf->checksum, &file_proof, &e);
    if (rc == 0 && strcmp(file_proof, proof) != 0) {
        rc = TS_ERR_CONFLICT;
        ts_err_set(&e, rc, "the object's proof differs from the confirmation's");
    }
    if (rc == TS_ERR_CONFLICT || rc == TS_ERR_NOTFOUND || rc == TS_ERR_FORMAT) {
        char why[900];
        snprintf(why, sizeof why, "verification failed: %s", e.msg);
        rc = on_failure(r, &ev, why, err);
        goto out;
    }
    if (rc) { /* lake unreachable: see the confirmation again later */
        ts_err_set(err, rc, "%s", e.msg);
        goto out;
    }
    r->counts.bytes_archived += conf->bytes;
    if ((rc = ret_state_move(r->pg, ev.event_id, RET_REQUESTED, RET_ARCHIVED, conf->rows, conf->bytes,
                             conf->object, conf->checksum, proof, NULL, -1, err)) != 0)
        goto out;
    if ((rc = ret_state_get(r->pg, ev.event_id, &ev, err)) != 0)
        goto out;
    ts_fault("retention.before_drop"); /* confirmed and verified, not dropped */
    rc = drop_chunk(r, &ev, err);
out:
    ts_log_context("event_id", NULL);
    ts_free(file_proof);
    ts_free(path);
    ts_free(url);
    return rc;
}

int ret_retry_drops(ret *r, ts_err *err)
{
    return for_each_event(r, "SELECT event_id::text FROM tsarchive.archival_events"
                             " WHERE state = 'archived' ORDER BY confirmed_at", 0, NULL, drop_chunk, err);
}

int ret_pending(ret *r, int64_t *n, ts_err *err)
{
    PGresult *res = pg_query(r->pg, "SELECT count(*) FROM tsarchive.archival_events"
                                    " WHERE state IN ('requested', 'archived', 'retrying')", 0, NULL, err);
    if (!res)
        return err->code;
    *n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}
