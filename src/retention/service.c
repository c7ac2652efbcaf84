/* service.c: the retention service's loop: leadership (one active instance per
 * database, by a session advisory lock), scheduled and triggered checks, retries,
 * drops, confirmations from Redis, reconnects, and the summary of `run --once`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus/bus.h"
#include "common/tstime.h"
#include "bus/bus_config.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/runctl.h"
#include "lake/lake_config.h"
#include "pg/cagg.h"
#include "pg/conn.h"
#include "pg/discover.h"
#include "ret_int.h"
#include "state.h"

#define EXIT_PARTIAL 4 /* cli/commands.h TS_EXIT_PARTIAL */

const char *const ret_phase_names[] = {"starting", "standby", "active", "stopped"};

/* The consumer group of one database's retention service on the confirmation stream. */
static void group_name(const ret *r, char *out, size_t len)
{
    snprintf(out, len, "retention:%s/%s", ret_cluster(r), ret_database(r));
}

typedef struct loop {
    const ts_config *cfg;
    const ret_run_options *ro;
    ret_shared *sh;
    PGconn *pg;
    lake *lk;
    bus *b;
    ret *r;
    char name[96];
    char group[BUS_CLUSTER_MAX + BUS_NAME_MAX + 16];
    json_t *capture; /* while a triggered check runs: the requests it sends */
} loop;

static int publish_request(void *ud, const bus_request *req, ts_err *err)
{
    loop *l = ud;
    char *json = NULL;
    size_t len;
    int rc = bus_request_encode(req, &json, &len, err);
    if (rc == 0)
        rc = bus_publish(l->b, l->cfg->redis.request_stream, json, len, NULL, err);
    ts_free(json);
    if (rc == 0 && l->capture) {
        char chunk[2 * BUS_NAME_MAX + 2], table[2 * BUS_NAME_MAX + 2];
        snprintf(chunk, sizeof chunk, "%s.%s", req->chunk.chunk_schema, req->chunk.chunk_name);
        snprintf(table, sizeof table, "%s.%s", req->chunk.hypertable_schema, req->chunk.hypertable);
        (void)json_array_append_new(
            l->capture, json_pack("{s:s,s:s,s:s,s:i,s:o,s:o}", "event_id", req->event_id, "chunk",
                                  chunk, "table", table, "attempt", req->attempt, "range_start",
                                  http_json_time(req->chunk.range_start), "range_end",
                                  http_json_time(req->chunk.range_end)));
    }
    return rc;
}

/* Handles a batch of confirmations; acks those fully handled. */
static void handle_confirmations(loop *l, bus_msgs *msgs)
{
    for (size_t i = 0; i < msgs->n; i++) {
        bus_msg *m = &msgs->v[i];
        bus_confirmation conf;
        ts_err e;
        ts_err_clear(&e);
        if (bus_confirmation_parse(m->payload, m->len, &conf, &e) != 0) {
            ts_err reason = e;
            ts_error("malformed confirmation %s dead-lettered: %s", m->id, e.msg);
            ts_err_clear(&e);
            if (bus_deadletter(l->b, l->cfg->redis.confirmation_stream, l->group, m, reason.msg, &e) != 0)
                ts_error("could not dead-letter %s: %s", m->id, e.msg);
            continue;
        }
        if (ret_on_confirmation(l->r, &conf, &e) == 0) {
            ts_err_clear(&e);
            if (bus_ack(l->b, l->cfg->redis.confirmation_stream, l->group, m->id, &e) != 0)
                ts_warn("could not ack confirmation %s: %s", m->id, e.msg);
        } else {
            ts_error("confirmation %s not handled yet: %s (it will be seen again)", m->id, e.msg);
        }
        bus_confirmation_clear(&conf);
    }
}

static void publish_phase(ret_shared *sh, int phase)
{
    pthread_mutex_lock(&sh->mu);
    sh->phase = phase;
    sh->heartbeat = ts_mono_s();
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
}

static void publish_state(ret_shared *sh, const ret *r, double next_check)
{
    pthread_mutex_lock(&sh->mu);
    if (r)
        sh->counts = *ret_get_counts(r);
    sh->heartbeat = ts_mono_s();
    sh->next_check_us = ts_time_now() +
                        (next_check > ts_mono_s() ? (int64_t)((next_check - ts_mono_s()) * 1e6) : 0);
    pthread_mutex_unlock(&sh->mu);
}

static void note_check(ret_shared *sh, int rc, const ts_err *e, bool triggered)
{
    pthread_mutex_lock(&sh->mu);
    sh->checks++;
    if (triggered)
        sh->triggers++;
    sh->last_check_us = ts_time_now();
    if (rc) {
        sh->check_failures++;
        ts_redact(e->msg, sh->last_check_error, sizeof sh->last_check_error);
    } else {
        sh->last_check_error[0] = '\0';
    }
    pthread_mutex_unlock(&sh->mu);
}

/* Runs a check a POST /database/retention/trigger-archival asked for, if any, and
 * hands the requests it sent back to the waiting handler. */
static void serve_trigger(loop *l)
{
    ret_shared *sh = l->sh;
    char table[256];
    bool has_table;
    unsigned long long seq;
    json_t *events = NULL;
    pg_chunk_list list = {0};
    int status = 200, n = 0, rc = 0;
    ts_err e;

    pthread_mutex_lock(&sh->mu);
    if (!sh->trig_pending || sh->trig_done == sh->trig_seq) {
        pthread_mutex_unlock(&sh->mu);
        return;
    }
    seq = sh->trig_seq;
    has_table = sh->trig_has_table;
    snprintf(table, sizeof table, "%s", sh->trig_table);
    pthread_mutex_unlock(&sh->mu);

    ts_err_clear(&e);
    if (!(events = json_array())) {
        status = 500;
        ts_err_set(&e, TS_ERR_NOMEM, "out of memory");
        goto answer;
    }
    if (has_table) { /* a name that matches no table is the caller's mistake: say so */
        pg_discover_filter f = {.table = table, .expired_only = false};
        if ((rc = pg_discover(l->pg, l->cfg, &f, &list, &e)) != 0) {
            status = 500;
            goto answer;
        }
        if (list.n == 0) {
            status = 404;
            ts_err_set(&e, TS_ERR_NOTFOUND,
                       "no hypertable or partitioned table matching \"%s\" has chunks", table);
            goto answer;
        }
    }
    ts_info("retention check triggered over HTTP%s%s", has_table ? " for " : "",
            has_table ? table : "");
    l->capture = events;
    rc = ret_check_once(l->r, false, has_table ? table : NULL, &n, &e);
    l->capture = NULL;
    note_check(sh, rc, &e, true);
    if (rc) {
        ts_error("triggered retention check failed: %s", e.msg);
        status = 500;
    }
answer:
    pg_chunk_list_free(&list);
    pthread_mutex_lock(&sh->mu);
    json_decref(sh->trig_events); /* a result nobody waited for */
    sh->trig_events = events;
    sh->trig_status = status;
    sh->trig_requested = n;
    ts_redact(status == 200 ? "" : e.msg, sh->trig_msg, sizeof sh->trig_msg);
    sh->trig_done = seq;
    sh->trig_pending = false;
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
}

/* One active retention service per database: waits as a standby until the lock is
 * free (or fails at once with --once). Returns 0 once leading, 1 when asked to stop
 * first, or an error. */
static int take_lead(loop *l, ts_err *e)
{
    while (!ts_run_stopping()) {
        bool leader = false;
        int rc = ret_state_try_lead(l->pg, &leader, e);
        if (rc)
            return rc;
        if (leader)
            return 0;
        if (l->ro->once)
            return ts_err_set(e, TS_ERR_CONFLICT, "another retention service is active on this database");
        publish_phase(l->sh, RET_PHASE_STANDBY);
        ts_info("another retention service is active on this database; standing by");
        ts_run_nap(5000);
    }
    return 1;
}

/* The database went away (restart, failover, network): connect again, with backoff,
 * and take the lead again, since the advisory lock went with the old session. Returns
 * 0 when leading again, 1 when asked to stop, or an error (--once only). */
static int regain_database(loop *l, ts_err *e)
{
    int wait_ms = 500, rc;
    ts_warn("lost the database connection; reconnecting (nothing is dropped meanwhile)");
    while (!ts_run_stopping()) {
        ts_err_clear(e);
        if (pg_reconnect(l->pg, e) == 0)
            break;
        ts_warn("%s; again in %d ms", e->msg, wait_ms);
        ts_run_nap(wait_ms);
        wait_ms = wait_ms < 8000 ? wait_ms * 2 : 8000;
    }
    if (ts_run_stopping())
        return 1;
    if (l->cfg->database.statement_timeout_ms > 0) {
        char sql[64];
        snprintf(sql, sizeof sql, "SET statement_timeout = %d", l->cfg->database.statement_timeout_ms);
        if ((rc = pg_exec(l->pg, sql, e)) != 0)
            return rc;
    }
    ts_info("reconnected to the database");
    if ((rc = take_lead(l, e)) == 0)
        publish_phase(l->sh, RET_PHASE_ACTIVE);
    return rc;
}

/* When to look for expired chunks again: every check interval, but soon while the
 * batch limit kept some back (and every 2 s with --once). */
static double next_check_at(const loop *l)
{
    double wait = l->ro->once ? 2 : l->cfg->retention_check_interval_hours * 3600.0;
    if (ret_get_counts(l->r)->backlog > 0 && wait > 2)
        wait = 2;
    return ts_mono_s() + wait;
}

/* What `run --once` promises: every expired chunk archived, verified and dropped. */
static void summary(loop *l, int64_t pending, double started, int *exit_code)
{
    const ret_counts *c = ret_get_counts(l->r);
    pg_chunk_list list = {0};
    pg_discover_filter f = {.table = l->ro->table, .expired_only = true, .include_skipped = true};
    pg_caggs *caggs = NULL;
    int64_t dead = 0;
    int nleft = 0, nskipped = 0, shown = 0;
    ts_err e;
    ts_err_clear(&e);
    if (ret_state_count(l->pg, RET_DEAD, &dead, &e) != 0)
        ts_error("could not count the dead chunks: %s", e.msg);
    ts_err_clear(&e);
    if (pg_discover(l->pg, l->cfg, &f, &list, &e) != 0)
        ts_error("could not count the expired chunks left: %s", e.msg);
    for (int i = 0; i < list.n; i++) {
        if (list.items[i].expired)
            nleft++;
        else
            nskipped++; /* its expiry cannot be decided */
    }
    fprintf(stderr,
            "\nsummary: %lld requests, %lld chunks dropped, %lld rows archived and dropped, "
            "%lld bytes archived, %lld failed confirmations, %lld re-archived after a change, "
            "%lld dead (kept in the database), %d expired chunks left, %.1f s\n",
            (long long)c->requested, (long long)c->dropped, (long long)c->rows_dropped,
            (long long)c->bytes_archived, (long long)c->confirmed_failed, (long long)c->rearchived,
            (long long)dead, nleft, ts_mono_s() - started);
    if (nleft && !l->cfg->lakehouse_enabled)
        fprintf(stderr, "lakehouse_enabled is false: expired chunks are reported, never archived\n");
    ts_err_clear(&e);
    if (nleft && pg_caggs_load(l->pg, &caggs, &e) != 0)
        ts_error("could not read the continuous aggregates: %s", e.msg);
    for (int i = 0; i < list.n && shown < 20; i++) {
        /* each with why, when it is known: held back by an aggregate, unbounded */
        const pg_chunk *ch = &list.items[i];
        pg_cagg_hold_info hold = {0};
        if (!ch->expired)
            continue;
        if (caggs && !ch->skip_reason[0])
            pg_cagg_decide(caggs, ch, list.now_us, &hold);
        fprintf(stderr, "  left: %s.%s (%s .. %s)%s%s\n", ch->chunk_schema, ch->chunk_name,
                ch->range_start, ch->range_end,
                ch->skip_reason[0] || hold.kind != PG_HOLD_NONE ? ": " : "",
                ch->skip_reason[0] ? ch->skip_reason : hold.kind != PG_HOLD_NONE ? hold.reason : "");
        shown++;
    }
    if (nleft > shown)
        fprintf(stderr, "  (and %d more)\n", nleft - shown);
    pg_caggs_free(caggs);
    shown = 0;
    for (int i = 0; i < list.n && shown < 20; i++) {
        const pg_chunk *ch = &list.items[i];
        if (ch->expired)
            continue;
        fprintf(stderr, "  not archived: %s.%s (%s .. %s): %s\n", ch->chunk_schema, ch->chunk_name,
                ch->range_start, ch->range_end, ch->skip_reason);
        shown++;
    }
    if (nskipped > shown)
        fprintf(stderr, "  (and %d more not archived)\n", nskipped - shown);
    {
        /* archived but not dropped: why, so the operator need not dig in the log */
        char **stuck = NULL;
        int nstuck = 0;
        ts_err_clear(&e);
        if (ret_state_stuck_drops(l->pg, l->cfg->retention.max_attempts, 20, &stuck, &nstuck,
                                  &e) != 0)
            ts_error("could not list the chunks whose drop fails: %s", e.msg);
        for (int i = 0; i < nstuck; i++) {
            fprintf(stderr, "  archived, drop failing: %s\n", stuck[i]);
            ts_free(stuck[i]);
        }
        ts_free(stuck);
    }
    if (nleft > 0 || pending > 0 || ts_run_stopping())
        *exit_code = EXIT_PARTIAL;
    pg_chunk_list_free(&list);
}

static int open_bus(const ts_config *cfg, const char *name, bus **out, ts_err *err)
{
    bus_options o;
    bus_options_from_config(&o, cfg, name);
    return bus_new(&o, out, err);
}

/* Settled entries leave the streams: every group of every database has received and
 * acknowledged them (bus_trim_settled), so the streams stay bounded. */
static void trim_streams(loop *l)
{
    const char *streams[2] = {l->cfg->redis.request_stream, l->cfg->redis.confirmation_stream};
    for (int i = 0; i < 2; i++) {
        long long n = 0;
        ts_err e;
        ts_err_clear(&e);
        if (bus_trim_settled(l->b, streams[i], &n, &e) != 0)
            ts_warn("could not trim stream \"%s\": %s", streams[i], e.msg);
        else if (n > 0)
            ts_debug("trimmed %lld settled entries from \"%s\"", n, streams[i]);
    }
}

static int open_lake(const ts_config *cfg, lake **out, ts_err *err)
{
    lake_options o;
    int rc = lake_options_from_config(&o, cfg, err);
    return rc ? rc : lake_open(out, &o, err);
}

static int run_loop(loop *l, int *exit_code, ts_err *e)
{
    const ts_config *cfg = l->cfg;
    ret_shared *sh = l->sh;
    bus_msgs msgs = {0};
    double next_check = 0, last_reclaim = 0, last_drops = 0, last_retries = 0, last_trim = 0,
           started = ts_mono_s();
    bool republish = true;
    int64_t pending = 0;
    int reclaim_s = cfg->redis.visibility_timeout_s < 30 ? cfg->redis.visibility_timeout_s : 30;
    int rc = 0;

    while (!ts_run_stopping()) {
        ts_err_clear(e);
        if (PQstatus(l->pg) != CONNECTION_OK) {
            if ((rc = regain_database(l, e)) == 1)
                break;
            if (rc)
                goto out;
            republish = true; /* requests sent before may have gone with a Redis failure too */
            next_check = 0;
        }
        serve_trigger(l);
        publish_state(sh, l->r, next_check);
        if (ts_mono_s() >= next_check) {
            int n = 0;
            rc = ret_check_once(l->r, republish, l->ro->table, &n, e);
            note_check(sh, rc, e, false);
            if (rc != 0) {
                ts_error("retention check failed: %s", e->msg);
                next_check = ts_mono_s() + (PQstatus(l->pg) != CONNECTION_OK ? 0 : 10);
                continue;
            }
            republish = false;
            /* --once keeps checking often, until every expired chunk is settled */
            next_check = next_check_at(l);
            publish_state(sh, l->r, next_check);
        }
        if (ts_mono_s() - last_retries >= 1) { /* failed attempts whose backoff is over */
            last_retries = ts_mono_s();
            if (ret_retry_due(l->r, e) != 0)
                ts_error("retries: %s", e->msg);
        }
        if (ts_mono_s() - last_drops >= 1) { /* drops whose own backoff is over */
            last_drops = ts_mono_s();
            ts_err_clear(e);
            if (ret_retry_drops(l->r, e) != 0)
                ts_error("deferred drops: %s", e->msg);
        }
        if (ts_mono_s() - last_trim >= RET_TRIM_PERIOD_S) {
            last_trim = ts_mono_s();
            trim_streams(l);
        }
        /* confirmations read but never acked (a crashed predecessor's, or ours whose
         * handling failed): idle for the visibility timeout, at most 30 s; only the
         * active service reads confirmations, so nobody else holds them */
        ts_err_clear(e);
        if (ts_mono_s() - last_reclaim > (reclaim_s > 5 ? reclaim_s : 5)) {
            last_reclaim = ts_mono_s();
            rc = bus_reclaim(l->b, cfg->redis.confirmation_stream, l->group, l->name,
                             (long long)reclaim_s * 1000, 10, &msgs, e);
        } else {
            rc = bus_read(l->b, cfg->redis.confirmation_stream, l->group, l->name, 10, 1000, &msgs,
                          e);
        }
        if (rc) {
            ts_warn("retention: redis: %s", e->msg);
            ts_run_nap(1000);
            continue;
        }
        handle_confirmations(l, &msgs);
        /* a settled request makes room under the batch limit: fill it now */
        if (msgs.n > 0 && ret_get_counts(l->r)->backlog > 0)
            next_check = 0;
        publish_state(sh, l->r, next_check);
        if (l->ro->once) {
            ts_err_clear(e);
            if ((rc = ret_pending(l->r, &pending, e)) != 0) {
                if (PQstatus(l->pg) != CONNECTION_OK)
                    continue; /* reconnects at the top */
                goto out;
            }
            if (pending == 0 && msgs.n == 0) {
                /* nothing out: one more look, in case expired chunks are left */
                int n = 0;
                if ((rc = ret_check_once(l->r, false, l->ro->table, &n, e)) != 0)
                    goto out;
                if (n == 0)
                    break;
            }
        }
    }
    rc = 0;
    trim_streams(l); /* what settled since the last trim leaves the streams now */
    if (l->ro->once)
        summary(l, pending, started, exit_code);
out:
    publish_state(sh, l->r, next_check);
    bus_msgs_clear(&msgs);
    return rc;
}

int ret_service_run(const ts_config *cfg, const ret_run_options *ro, int *exit_code, ts_err *err)
{
    ret_shared sh;
    loop l;
    char host[64] = "host";
    ts_err e;
    int rc;

    *exit_code = 0;
    memset(&sh, 0, sizeof sh);
    memset(&l, 0, sizeof l);
    sh.cfg = cfg;
    sh.started_us = ts_time_now();
    sh.started_mono = ts_mono_s();
    sh.heartbeat = ts_mono_s();
    pthread_mutex_init(&sh.mu, NULL);
    pthread_mutex_init(&sh.snap_mu, NULL);
    pthread_cond_init(&sh.cv, NULL);
    l.cfg = cfg;
    l.ro = ro;
    l.sh = &sh;
    ts_err_clear(&e);
    if ((rc = ret_http_start(&sh, &e)) != 0)
        goto fail;
    /* a statement unanswered long after statement_timeout (a frozen server), or
     * still running at SIGTERM, is abandoned and the connection made anew */
    pg_thread_limits(cfg->database.statement_timeout_ms > 0 ? cfg->database.statement_timeout_ms + 10000 : 0,
                     true);
    gethostname(host, sizeof host - 1);
    snprintf(l.name, sizeof l.name, "retention-%s-%d", host, (int)getpid());
    if ((rc = pg_connect_opts(cfg->database.url, 0, cfg->database.statement_timeout_ms, &l.pg, &e)) != 0 ||
        (rc = open_lake(cfg, &l.lk, &e)) != 0 || (rc = open_bus(cfg, l.name, &l.b, &e)) != 0)
        goto fail;
    /* one active retention service per database; others wait as standbys */
    if ((rc = take_lead(&l, &e)) != 0) {
        if (rc == 1) { /* stopped while standing by */
            rc = 0;
            goto out;
        }
        goto fail;
    }
    if ((rc = ret_new(&l.r, cfg, l.pg, l.lk, publish_request, &l, &e)) != 0)
        goto fail;
    group_name(l.r, l.group, sizeof l.group);
    if ((rc = bus_group_create(l.b, cfg->redis.confirmation_stream, l.group, &e)) != 0)
        goto fail;
    publish_phase(&sh, RET_PHASE_ACTIVE);
    ts_info("retention service active on database \"%s\" of cluster \"%s\": retention %d days, "
            "check every %d h, batch %d%s",
            ret_database(l.r), ret_cluster(l.r), cfg->retention_period_days,
            cfg->retention_check_interval_hours, cfg->archival_batch_size,
            cfg->lakehouse_enabled ? "" : " (lakehouse_enabled is false: report only)");
    if ((rc = run_loop(&l, exit_code, &e)) != 0)
        goto fail;
    goto out;
fail:
    ts_error("retention service: %s", e.msg);
    ts_err_set(err, rc, "%s", e.msg);
out:
    publish_phase(&sh, RET_PHASE_STOPPED); /* wakes a waiting trigger */
    ret_http_stop(&sh);
    pg_thread_limits(0, false);
    ret_free(l.r);
    bus_free(l.b);
    lake_free(l.lk);
    pg_disconnect(l.pg);
    json_decref(sh.trig_events);
    ts_free(sh.snap);
    pthread_mutex_destroy(&sh.mu);
    pthread_mutex_destroy(&sh.snap_mu);
    pthread_cond_destroy(&sh.cv);
    return rc;
}
