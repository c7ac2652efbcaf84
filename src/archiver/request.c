/* request.c: one request entry of the stream: parse it (garbage is dead-lettered),
 * leave another database's to its own archivers, archive, confirm, acknowledge. */
#include <stdio.h>
#include <string.h>

#include "archiver_int.h"
#include "common/alloc.h"
#include "common/fault.h"
#include "common/log.h"
#include "common/runctl.h"
#include "common/tstime.h"
#include "pg/conn.h"

/* Keeps w->pg if its connection is still good, else connects anew. */
static int usable_pg(arc_worker *w, ts_err *e)
{
    if (w->pg && PQstatus(w->pg) == CONNECTION_OK)
        return 0;
    pg_disconnect(w->pg);
    w->pg = NULL;
    return pg_connect(w->svc->cfg->database.url, &w->pg, e);
}

static bool ours(const arc_worker *w, const bus_request *req)
{
    return strcmp(req->database, w->database) == 0 &&
           (!req->cluster[0] || strcmp(req->cluster, w->cluster) == 0);
}

int arc_handle_entry(arc_worker *w, const bus_msg *m)
{
    const ts_config *cfg = w->svc->cfg;
    arc_stats *st = &w->svc->st;
    bus_request req;
    bus_confirmation conf;
    arc_outcome outcome = ARC_OUT_INTERRUPTED;
    int64_t rows = 0, bytes = 0;
    double t0 = ts_mono_s();
    char *json = NULL, why[600] = "";
    size_t len;
    ts_err e;
    int rc;

    ts_err_clear(&e);
    memset(&conf, 0, sizeof conf);
    if (bus_request_parse(m->payload, m->len, &req, &e) != 0) {
        ts_err reason = e;
        ts_error("malformed archival request %s dead-lettered: %s", m->id, e.msg);
        ts_err_clear(&e);
        if (bus_deadletter(w->b, cfg->redis.request_stream, w->group, m, reason.msg, &e) != 0)
            ts_error("could not dead-letter %s: %s", m->id, e.msg);
        atomic_fetch_add(&st->deadlettered, 1);
        arc_stats_record(st, NULL, ARC_OUT_DEADLETTERED, w->index, 0, 0, ts_mono_s() - t0,
                         reason.msg);
        return 0; /* the dead letter acked it */
    }
    if (!ours(w, &req)) {
        /* another database's request on a shared stream: its own archivers (their own
         * consumer group) handle it; in ours it is settled, not failed, not counted */
        ts_debug("request %s is for database \"%s\" of another service: left to it", m->id,
                 req.database);
        atomic_fetch_add(&st->foreign, 1);
        if (bus_ack(w->b, cfg->redis.request_stream, w->group, m->id, &e) != 0) {
            ts_warn("could not ack request %s: %s", m->id, e.msg);
            return -1;
        }
        return 0;
    }
    ts_log_context("event_id", req.event_id);
    if (cfg->redis.max_deliveries > 0 && m->deliveries > cfg->redis.max_deliveries) {
        /* every archiver that took it died or stalled on it (a poison chunk, or a server
         * that never answers): the retention side is told, counts the attempt, backs
         * off and in the end gives up on the chunk, which stays in the database */
        memcpy(conf.event_id, req.event_id, sizeof conf.event_id);
        memcpy(conf.database, req.database, sizeof conf.database);
        snprintf(conf.cluster, sizeof conf.cluster, "%s", w->cluster);
        conf.chunk = req.chunk;
        conf.archived_at = ts_time_now();
        conf.status = BUS_STATUS_FAILURE;
        snprintf(why, sizeof why,
                 "delivered %lld times without an answer (max_deliveries %d): every archiver "
                 "that took it stopped or stalled on it",
                 m->deliveries, cfg->redis.max_deliveries);
        if (!(conf.error = ts_strdup(why))) {
            rc = ts_err_set(&e, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        ts_error("archival of \"%s.%s\" given up: %s", req.chunk.chunk_schema,
                 req.chunk.chunk_name, why);
        outcome = ARC_OUT_FAILURE;
        goto confirm;
    }
    if ((rc = usable_pg(w, &e)) != 0) {
        ts_error("cannot reach PostgreSQL: %s (request left for a retry)", e.msg);
        snprintf(why, sizeof why, "cannot reach PostgreSQL: %s", e.msg);
        goto out;
    }
    rc = arc_archive(cfg, w->pg, w->lk, w->tables, w->cluster, &req, &conf, &e);
    if (rc == TS_ERR_CONN && PQstatus(w->pg) != CONNECTION_OK && !ts_run_stopping()) {
        /* the server restarted or the connection broke: one more try at once on a new
         * connection, rather than leaving the request idle for the visibility timeout */
        ts_warn("archival of \"%s.%s\" interrupted: %s; trying again on a new connection",
                req.chunk.chunk_schema, req.chunk.chunk_name, e.msg);
        bus_confirmation_clear(&conf);
        ts_err_clear(&e);
        if ((rc = usable_pg(w, &e)) == 0)
            rc = arc_archive(cfg, w->pg, w->lk, w->tables, w->cluster, &req, &conf, &e);
    }
    if (rc) { /* not judged: leave it un-acked for this or another worker */
        if (ts_run_stopping())
            ts_warn("archival of \"%s.%s\" stopped by the shutdown (request left for another "
                    "archiver)", req.chunk.chunk_schema, req.chunk.chunk_name);
        else
            ts_error("archival of \"%s.%s\" interrupted: %s (request left for a retry)",
                     req.chunk.chunk_schema, req.chunk.chunk_name, e.msg);
        snprintf(why, sizeof why, "%s", e.msg);
        goto out;
    }
    rows = conf.rows;
    bytes = conf.bytes;
    if (conf.status == BUS_STATUS_SUCCESS) {
        outcome = ARC_OUT_SUCCESS;
    } else {
        outcome = ARC_OUT_FAILURE;
        snprintf(why, sizeof why, "%s", conf.error ? conf.error : "");
        ts_warn("archival of \"%s.%s\" failed: %s", req.chunk.chunk_schema, req.chunk.chunk_name,
                why);
    }
confirm:
    rc = bus_confirmation_encode(&conf, &json, &len, &e);
    ts_fault("archiver.before_confirm"); /* archived (or failed), nobody told */
    if (rc == 0)
        rc = bus_publish(w->b, cfg->redis.confirmation_stream, json, len, NULL, &e);
    if (rc == 0)
        ts_fault("archiver.before_ack"); /* confirmed, the request still pending */
    if (rc == 0)
        rc = bus_ack(w->b, cfg->redis.request_stream, w->group, m->id, &e);
    if (rc) {
        ts_error("could not confirm \"%s.%s\": %s", req.chunk.chunk_schema, req.chunk.chunk_name,
                 e.msg);
        outcome = ARC_OUT_INTERRUPTED;
        snprintf(why, sizeof why, "could not confirm: %s", e.msg);
        goto out;
    }
    /* counted once confirmed, so the counters tell the work the retention side sees */
    if (conf.status == BUS_STATUS_SUCCESS) {
        atomic_fetch_add(&st->archived, 1);
        atomic_fetch_add(&st->rows, conf.rows);
        atomic_fetch_add(&st->bytes, conf.bytes);
    } else {
        atomic_fetch_add(&st->failed, 1);
    }
out:
    if (outcome == ARC_OUT_INTERRUPTED)
        atomic_fetch_add(&st->interrupted, 1);
    arc_stats_record(st, &req, outcome, w->index, rows, bytes, ts_mono_s() - t0, why);
    bus_confirmation_clear(&conf);
    ts_free(json);
    ts_log_context("event_id", NULL);
    return rc;
}
