/* cmd_run.c: the services. `tsarchive retention` (the Database Service),
 * `tsarchive archiver` (the Archival Service), and `tsarchive run [--once]`, both in
 * one process, each with its HTTP endpoints (svc_http.c). Each worker owns its
 * PostgreSQL connection, lake handle and Redis connection; nothing is shared but the
 * stop flag and what the endpoints read (svc.h: atomics, or state under a mutex). */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archiver/archive.h"
#include "bus/bus.h"
#include "bus/event.h"
#include "commands.h"
#include "common/alloc.h"
#include "common/fault.h"
#include "common/log.h"
#include "lake/lake.h"
#include "pg/conn.h"
#include "pg/discover.h"
#include "retention/retention.h"
#include "svc.h"

/* Advisory lock that makes one retention service active per database. */
#define RETENTION_LOCK_SQL "SELECT pg_try_advisory_lock(1953723762, 1919251572)"

static atomic_int stopping;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stopping, 1);
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static double now_s(void)
{
    return svc_now();
}

/* Sleeps up to ms, waking early when stopping. */
static void nap(int ms)
{
    for (; ms > 0 && !atomic_load(&stopping); ms -= 100)
        usleep(100 * 1000);
}

static int open_bus(const ts_config *cfg, const char *name, bus **out, ts_err *err)
{
    bus_options o;
    bus_options_init(&o);
    o.url = cfg->redis.url;
    o.deadletter_stream = cfg->redis.deadletter_stream;
    o.max_deliveries = cfg->redis.max_deliveries;
    o.client_name = name;
    return bus_new(&o, out, err);
}

/* ---------------- archival service ---------------- */

typedef struct worker {
    const ts_config *cfg;
    int index;
    archiver_stats *stats;
    pthread_t thread;
    int rc;
} worker;

/* Keeps the request a worker is on from being reclaimed by another worker, for as
 * long as the worker holds it: every third of the visibility timeout it resets the
 * entry's idle time (XCLAIM to the same consumer). A thread of its own with its own
 * Redis connection, so the hold lasts through every slow step (lake retries with
 * backoff, a lock wait, a long export), not only while rows flow. */
typedef struct holder {
    const ts_config *cfg;
    const char *consumer;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char id[BUS_ID_MAX]; /* the entry being worked on; "" when idle */
    bool stop;
    pthread_t thread;
} holder;

static void *holder_main(void *arg)
{
    holder *h = arg;
    int interval = h->cfg->redis.visibility_timeout_s / 3 > 0 ? h->cfg->redis.visibility_timeout_s / 3 : 1;
    char name[128], id[BUS_ID_MAX];
    bus *b = NULL;
    ts_err e;

    snprintf(name, sizeof name, "%s-hold", h->consumer);
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += interval;
        while (!h->stop && pthread_cond_timedwait(&h->cv, &h->mu, &until) == 0)
            ; /* woken early (a new entry): keep to the period; stop at once */
        if (h->stop || !h->id[0])
            continue;
        memcpy(id, h->id, sizeof id);
        pthread_mutex_unlock(&h->mu);
        ts_err_clear(&e);
        int rc = b ? 0 : open_bus(h->cfg, name, &b, &e);
        if (rc == 0)
            rc = bus_extend(b, h->cfg->redis.request_stream, GROUP_ARCHIVERS, h->consumer, id, &e);
        pthread_mutex_lock(&h->mu);
        if (rc && strcmp(id, h->id) == 0) /* not merely finished meanwhile */
            ts_warn("could not extend request %s: %s", id, e.msg);
    }
    pthread_mutex_unlock(&h->mu);
    bus_free(b);
    return NULL;
}

static void holder_set(holder *h, const char *id)
{
    pthread_mutex_lock(&h->mu);
    snprintf(h->id, sizeof h->id, "%s", id ? id : "");
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

static int holder_start(holder *h, const ts_config *cfg, const char *consumer, ts_err *err)
{
    pthread_condattr_t ca;
    memset(h, 0, sizeof *h);
    h->cfg = cfg;
    h->consumer = consumer;
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&h->thread, NULL, holder_main, h) != 0) {
        pthread_cond_destroy(&h->cv);
        pthread_mutex_destroy(&h->mu);
        return ts_err_set(err, TS_ERR_NOMEM, "could not start the request holder thread");
    }
    return 0;
}

static void holder_stop(holder *h)
{
    pthread_mutex_lock(&h->mu);
    h->stop = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
}

/* Keeps *pg if its connection is still good, else connects anew. */
static int usable_pg(const ts_config *cfg, PGconn **pg, ts_err *e)
{
    if (*pg && PQstatus(*pg) == CONNECTION_OK)
        return 0;
    pg_disconnect(*pg);
    *pg = NULL;
    return pg_connect(cfg->database.url, pg, e);
}

/* Handles one request entry; returns 0 when it may be acked. */
static int handle_request(const ts_config *cfg, PGconn **pg, lake *lk, bus *b, const bus_msg *m,
                          archiver_stats *st, int index)
{
    bus_request req;
    bus_confirmation conf;
    const char *status = "interrupted";
    int64_t rows = 0, bytes = 0;
    double t0 = now_s();
    char *json = NULL, why[600] = "";
    size_t len;
    ts_err e;
    int rc;

    ts_err_clear(&e);
    memset(&conf, 0, sizeof conf);
    if (bus_request_parse(m->payload, m->len, &req, &e) != 0) {
        ts_error("malformed archival request %s dead-lettered: %s", m->id, e.msg);
        ts_err reason = e;
        ts_err_clear(&e);
        if (bus_deadletter(b, cfg->redis.request_stream, GROUP_ARCHIVERS, m, reason.msg, &e) != 0)
            ts_error("could not dead-letter %s: %s", m->id, e.msg);
        atomic_fetch_add(&st->deadlettered, 1);
        svc_record(st, NULL, "deadlettered", index, 0, 0, now_s() - t0, reason.msg);
        return 1; /* already acked by the dead letter */
    }
    ts_log_context("event_id", req.event_id);
    if ((rc = usable_pg(cfg, pg, &e)) != 0) {
        ts_error("cannot reach PostgreSQL: %s (request left for a retry)", e.msg);
        snprintf(why, sizeof why, "cannot reach PostgreSQL: %s", e.msg);
        goto out;
    }
    rc = arc_archive(cfg, *pg, lk, &req, &conf, &e);
    if (rc == TS_ERR_CONN && PQstatus(*pg) != CONNECTION_OK) {
        /* the server restarted or the connection broke: one more try at once on a new
         * connection, rather than leaving the request idle for the visibility timeout */
        ts_warn("archival of \"%s.%s\" interrupted: %s; trying again on a new connection",
                req.chunk.chunk_schema, req.chunk.chunk_name, e.msg);
        bus_confirmation_clear(&conf);
        ts_err_clear(&e);
        if ((rc = usable_pg(cfg, pg, &e)) == 0)
            rc = arc_archive(cfg, *pg, lk, &req, &conf, &e);
    }
    if (rc) { /* not judged: leave it un-acked, it is reclaimed after the visibility timeout */
        ts_error("archival of \"%s.%s\" interrupted: %s (request left for a retry)",
                 req.chunk.chunk_schema, req.chunk.chunk_name, e.msg);
        snprintf(why, sizeof why, "%s", e.msg);
        goto out;
    }
    rows = conf.rows;
    bytes = conf.bytes;
    if (conf.status == BUS_STATUS_SUCCESS) {
        status = "success";
    } else {
        status = "failure";
        snprintf(why, sizeof why, "%s", conf.error ? conf.error : "");
        ts_warn("archival of \"%s.%s\" failed: %s", req.chunk.chunk_schema, req.chunk.chunk_name,
                conf.error);
    }
    rc = bus_confirmation_encode(&conf, &json, &len, &e);
    ts_fault("archiver.before_confirm"); /* archived (or failed), nobody told */
    if (rc == 0)
        rc = bus_publish(b, cfg->redis.confirmation_stream, json, len, NULL, &e);
    if (rc == 0)
        ts_fault("archiver.before_ack"); /* confirmed, the request still pending */
    if (rc == 0)
        rc = bus_ack(b, cfg->redis.request_stream, GROUP_ARCHIVERS, m->id, &e);
    if (rc) {
        ts_error("could not confirm \"%s.%s\": %s", req.chunk.chunk_schema, req.chunk.chunk_name,
                 e.msg);
        status = "interrupted";
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
    if (!strcmp(status, "interrupted"))
        atomic_fetch_add(&st->interrupted, 1);
    svc_record(st, &req, status, index, rows, bytes, now_s() - t0, why);
    bus_confirmation_clear(&conf);
    ts_free(json);
    ts_log_context("event_id", NULL);
    return rc;
}

static void *archiver_worker(void *arg)
{
    worker *w = arg;
    const ts_config *cfg = w->cfg;
    char name[96], host[64] = "host";
    PGconn *pg = NULL;
    lake *lk = NULL;
    bus *b = NULL;
    bus_msgs msgs = {0};
    double last_reclaim = 0;
    bool alive = false, holding = false;
    holder hold;
    ts_err e;

    ts_err_clear(&e);
    gethostname(host, sizeof host - 1);
    snprintf(name, sizeof name, "archiver-%s-%d-%d", host, (int)getpid(), w->index);
    if ((w->rc = svc_open_lake(cfg, &lk, &e)) != 0 || (w->rc = open_bus(cfg, name, &b, &e)) != 0 ||
        (w->rc = bus_group_create(b, cfg->redis.request_stream, GROUP_ARCHIVERS, &e)) != 0 ||
        (w->rc = holder_start(&hold, cfg, name, &e)) != 0) {
        ts_error("archiver worker %d cannot start: %s", w->index, e.msg);
        goto out;
    }
    holding = true;
    alive = true;
    atomic_fetch_add(&w->stats->alive, 1);
    while (!atomic_load(&stopping)) {
        int rc;
        ts_err_clear(&e);
        if (now_s() - last_reclaim >
            5) { /* a dead worker's requests, past the visibility timeout */
            last_reclaim = now_s();
            rc = bus_reclaim(b, cfg->redis.request_stream, GROUP_ARCHIVERS, name,
                             (long long)cfg->redis.visibility_timeout_s * 1000, 1, &msgs, &e);
        } else {
            rc = bus_read(b, cfg->redis.request_stream, GROUP_ARCHIVERS, name, 1, 1000, &msgs, &e);
        }
        if (rc) {
            ts_warn("archiver worker %d: redis: %s", w->index, e.msg);
            nap(1000);
            continue;
        }
        for (size_t i = 0; i < msgs.n && !atomic_load(&stopping); i++) {
            atomic_fetch_add(&w->stats->busy, 1);
            holder_set(&hold, msgs.v[i].id);
            (void)handle_request(cfg, &pg, lk, b, &msgs.v[i], w->stats, w->index);
            holder_set(&hold, NULL);
            atomic_fetch_sub(&w->stats->busy, 1);
        }
    }
out:
    if (holding)
        holder_stop(&hold);
    if (alive)
        atomic_fetch_sub(&w->stats->alive, 1);
    bus_msgs_clear(&msgs);
    bus_free(b);
    lake_free(lk);
    pg_disconnect(pg);
    return NULL;
}

static int start_archivers(const ts_config *cfg, worker **out, archiver_stats *st)
{
    worker *ws = ts_calloc((size_t)cfg->archiver.workers, sizeof *ws);
    if (!ws)
        return TS_ERR_NOMEM;
    st->workers = cfg->archiver.workers;
    for (int i = 0; i < cfg->archiver.workers; i++) {
        ws[i].cfg = cfg;
        ws[i].index = i;
        ws[i].stats = st;
        if (pthread_create(&ws[i].thread, NULL, archiver_worker, &ws[i]) != 0) {
            atomic_store(&stopping, 1);
            for (int j = 0; j < i; j++)
                pthread_join(ws[j].thread, NULL);
            ts_free(ws);
            return TS_ERR_NOMEM;
        }
    }
    *out = ws;
    return 0;
}

static int join_archivers(const ts_config *cfg, worker *ws)
{
    int rc = 0;
    for (int i = 0; ws && i < cfg->archiver.workers; i++) {
        pthread_join(ws[i].thread, NULL);
        if (ws[i].rc)
            rc = ws[i].rc;
    }
    ts_free(ws);
    return rc;
}

/* ---------------- retention service ---------------- */

typedef struct publisher {
    bus *b;
    const ts_config *cfg;
    json_t *capture; /* while a triggered check runs: the requests it sends */
} publisher;

static int publish_request(void *ud, const bus_request *req, ts_err *err)
{
    publisher *p = ud;
    char *json = NULL;
    size_t len;
    int rc = bus_request_encode(req, &json, &len, err);
    if (rc == 0)
        rc = bus_publish(p->b, p->cfg->redis.request_stream, json, len, NULL, err);
    ts_free(json);
    if (rc == 0 && p->capture) {
        char chunk[2 * BUS_NAME_MAX + 2], table[2 * BUS_NAME_MAX + 2];
        snprintf(chunk, sizeof chunk, "%s.%s", req->chunk.chunk_schema, req->chunk.chunk_name);
        snprintf(table, sizeof table, "%s.%s", req->chunk.hypertable_schema, req->chunk.hypertable);
        (void)json_array_append_new(
            p->capture, json_pack("{s:s,s:s,s:s,s:i,s:o,s:o}", "event_id", req->event_id, "chunk",
                                  chunk, "table", table, "attempt", req->attempt, "range_start",
                                  svc_json_time(req->chunk.range_start), "range_end",
                                  svc_json_time(req->chunk.range_end)));
    }
    return rc;
}

typedef struct run_opts {
    bool once;
    const char *table;
} run_opts;

/* Handles a batch of confirmations; acks those fully handled. */
static void handle_confirmations(const ts_config *cfg, ret *r, bus *b, bus_msgs *msgs)
{
    for (size_t i = 0; i < msgs->n; i++) {
        bus_msg *m = &msgs->v[i];
        bus_confirmation conf;
        ts_err e;
        ts_err_clear(&e);
        if (bus_confirmation_parse(m->payload, m->len, &conf, &e) != 0) {
            ts_error("malformed confirmation %s dead-lettered: %s", m->id, e.msg);
            ts_err reason = e;
            ts_err_clear(&e);
            if (bus_deadletter(b, cfg->redis.confirmation_stream, GROUP_RETENTION, m, reason.msg,
                               &e) != 0)
                ts_error("could not dead-letter %s: %s", m->id, e.msg);
            continue;
        }
        if (ret_on_confirmation(r, &conf, &e) == 0) {
            ts_err_clear(&e);
            if (bus_ack(b, cfg->redis.confirmation_stream, GROUP_RETENTION, m->id, &e) != 0)
                ts_warn("could not ack confirmation %s: %s", m->id, e.msg);
        } else {
            ts_error("confirmation %s not handled yet: %s (it will be seen again)", m->id, e.msg);
        }
        bus_confirmation_clear(&conf);
    }
}

static void ret_publish_phase(ret_shared *sh, int phase)
{
    pthread_mutex_lock(&sh->mu);
    sh->phase = phase;
    sh->heartbeat = now_s();
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
}

/* Publishes what the loop knows for the HTTP threads. */
static void ret_publish_state(ret_shared *sh, const ret *r, double next_check)
{
    pthread_mutex_lock(&sh->mu);
    if (r)
        sh->counts = *ret_get_counts(r);
    sh->heartbeat = now_s();
    sh->next_check_us =
        bus_time_now() + (next_check > now_s() ? (int64_t)((next_check - now_s()) * 1e6) : 0);
    pthread_mutex_unlock(&sh->mu);
}

static void ret_note_check(ret_shared *sh, int rc, const ts_err *e, bool triggered)
{
    pthread_mutex_lock(&sh->mu);
    sh->checks++;
    if (triggered)
        sh->triggers++;
    sh->last_check_us = bus_time_now();
    if (rc) {
        sh->check_failures++;
        svc_copy_msg(sh->last_check_error, sizeof sh->last_check_error, e->msg);
    } else {
        sh->last_check_error[0] = '\0';
    }
    pthread_mutex_unlock(&sh->mu);
}

/* Runs a check a POST /database/retention/trigger-archival asked for, if any, and
 * hands the requests it sent back to the waiting handler. */
static void serve_trigger(ret_shared *sh, const ts_config *cfg, PGconn *pg, ret *r, publisher *pub)
{
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
        if ((rc = pg_discover(pg, cfg, &f, &list, &e)) != 0) {
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
    pub->capture = events;
    rc = ret_check_once(r, false, has_table ? table : NULL, &n, &e);
    pub->capture = NULL;
    ret_note_check(sh, rc, &e, true);
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
    svc_copy_msg(sh->trig_msg, sizeof sh->trig_msg, status == 200 ? "" : e.msg);
    sh->trig_done = seq;
    sh->trig_pending = false;
    pthread_cond_broadcast(&sh->cv);
    pthread_mutex_unlock(&sh->mu);
}

/* One active retention service per database, held by a session advisory lock: waits
 * as a standby until it is free (or fails at once with --once). Returns 0 once
 * leading, 1 when asked to stop first, or an error. */
static int take_lead(PGconn *pg, const run_opts *ro, ret_shared *sh, ts_err *e)
{
    while (!atomic_load(&stopping)) {
        PGresult *res = pg_query(pg, RETENTION_LOCK_SQL, 0, NULL, e);
        bool leader;
        if (!res)
            return e->code;
        leader = PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
        if (leader)
            return 0;
        if (ro->once)
            return ts_err_set(e, TS_ERR_CONFLICT, "another retention service is active on this database");
        ret_publish_phase(sh, RET_PHASE_STANDBY);
        ts_info("another retention service is active on this database; standing by");
        nap(5000);
    }
    return 1;
}

/* The database went away (restart, failover, network): connect again, with backoff,
 * and take the lead again, since the advisory lock went with the old session. Returns
 * 0 when leading again, 1 when asked to stop, or an error (--once only). */
static int regain_database(PGconn *pg, const run_opts *ro, ret_shared *sh, ts_err *e)
{
    int wait_ms = 500, rc;
    ts_warn("lost the database connection; reconnecting (nothing is dropped meanwhile)");
    while (!atomic_load(&stopping)) {
        ts_err_clear(e);
        if (pg_reconnect(pg, e) == 0)
            break;
        ts_warn("%s; again in %d ms", e->msg, wait_ms);
        nap(wait_ms);
        wait_ms = wait_ms < 8000 ? wait_ms * 2 : 8000;
    }
    if (atomic_load(&stopping))
        return 1;
    ts_info("reconnected to the database");
    if ((rc = take_lead(pg, ro, sh, e)) == 0)
        ret_publish_phase(sh, RET_PHASE_ACTIVE);
    return rc;
}

/* When to look for expired chunks again: every check interval, but soon while the
 * batch limit kept some back (and every 2 s with --once). */
static double next_check_at(const ts_config *cfg, const run_opts *ro, const ret *r)
{
    double wait = ro->once ? 2 : cfg->retention_check_interval_hours * 3600.0;
    if (ret_get_counts(r)->backlog > 0 && wait > 2)
        wait = 2;
    return now_s() + wait;
}

static int retention_loop(const ts_config *cfg, const run_opts *ro, ret_shared *sh, int *exit_code)
{
    PGconn *pg = NULL;
    lake *lk = NULL;
    bus *b = NULL;
    ret *r = NULL;
    bus_msgs msgs = {0};
    publisher pub = {0};
    char name[96], host[64] = "host";
    double next_check = 0, last_reclaim = 0, last_drops = 0, last_retries = 0, started = now_s();
    bool republish = true;
    int64_t pending = 0;
    int reclaim_s = cfg->redis.visibility_timeout_s < 30 ? cfg->redis.visibility_timeout_s : 30;
    ts_err e;
    int rc;

    ts_err_clear(&e);
    gethostname(host, sizeof host - 1);
    snprintf(name, sizeof name, "retention-%s-%d", host, (int)getpid());
    if ((rc = pg_connect(cfg->database.url, &pg, &e)) != 0 ||
        (rc = svc_open_lake(cfg, &lk, &e)) != 0 || (rc = open_bus(cfg, name, &b, &e)) != 0 ||
        (rc = bus_group_create(b, cfg->redis.confirmation_stream, GROUP_RETENTION, &e)) != 0)
        goto fail;
    pub.b = b;
    pub.cfg = cfg;
    /* one active retention service per database; others wait as standbys */
    if ((rc = take_lead(pg, ro, sh, &e)) != 0) {
        if (rc == 1) { /* stopped while standing by */
            rc = 0;
            goto out;
        }
        goto fail;
    }
    if ((rc = ret_new(&r, cfg, pg, lk, publish_request, &pub, &e)) != 0)
        goto fail;
    ret_publish_phase(sh, RET_PHASE_ACTIVE);
    ts_info("retention service active: retention %d days, check every %d h, batch %d%s",
            cfg->retention_period_days, cfg->retention_check_interval_hours,
            cfg->archival_batch_size,
            cfg->lakehouse_enabled ? "" : " (lakehouse_enabled is false: report only)");
    while (!atomic_load(&stopping)) {
        ts_err_clear(&e);
        if (PQstatus(pg) != CONNECTION_OK) {
            if ((rc = regain_database(pg, ro, sh, &e)) == 1)
                break;
            if (rc)
                goto fail;
            republish = true; /* requests sent before may have gone with a Redis failure too */
            next_check = 0;
        }
        serve_trigger(sh, cfg, pg, r, &pub);
        ret_publish_state(sh, r, next_check);
        if (now_s() >= next_check) {
            int n = 0;
            rc = ret_check_once(r, republish, ro->table, &n, &e);
            ret_note_check(sh, rc, &e, false);
            if (rc != 0) {
                ts_error("retention check failed: %s", e.msg);
                next_check = now_s() + (PQstatus(pg) != CONNECTION_OK ? 0 : 10);
                continue;
            }
            republish = false;
            /* --once keeps checking often, until every expired chunk is settled */
            next_check = next_check_at(cfg, ro, r);
            ret_publish_state(sh, r, next_check);
        }
        if (now_s() - last_retries >= 1) { /* failed attempts whose backoff is over */
            last_retries = now_s();
            if (ret_retry_due(r, &e) != 0)
                ts_error("retries: %s", e.msg);
        }
        if (now_s() - last_drops > 10) {
            last_drops = now_s();
            if (ret_retry_drops(r, &e) != 0)
                ts_error("deferred drops: %s", e.msg);
        }
        /* confirmations read but never acked (a crashed predecessor's, or ours whose
         * handling failed): idle for the visibility timeout, at most 30 s; only the
         * active service reads confirmations, so nobody else holds them */
        if (now_s() - last_reclaim > (reclaim_s > 5 ? reclaim_s : 5)) {
            last_reclaim = now_s();
            rc = bus_reclaim(b, cfg->redis.confirmation_stream, GROUP_RETENTION, name,
                             (long long)reclaim_s * 1000, 10,
                             &msgs, &e);
        } else {
            rc = bus_read(b, cfg->redis.confirmation_stream, GROUP_RETENTION, name, 10, 1000, &msgs,
                          &e);
        }
        if (rc) {
            ts_warn("retention: redis: %s", e.msg);
            nap(1000);
            continue;
        }
        handle_confirmations(cfg, r, b, &msgs);
        /* a settled request makes room under the batch limit: fill it now */
        if (msgs.n > 0 && ret_get_counts(r)->backlog > 0)
            next_check = 0;
        ret_publish_state(sh, r, next_check);
        if (ro->once) {
            if ((rc = ret_pending(r, &pending, &e)) != 0) {
                if (PQstatus(pg) != CONNECTION_OK)
                    continue; /* reconnects at the top */
                goto fail;
            }
            if (pending == 0 && msgs.n == 0) {
                /* nothing out: one more look, in case expired chunks are left */
                int n = 0;
                if ((rc = ret_check_once(r, false, ro->table, &n, &e)) != 0)
                    goto fail;
                if (n == 0)
                    break;
            }
        }
    }
    {
        const ret_counts *c = ret_get_counts(r);
        pg_chunk_list left = {0};
        pg_discover_filter f = {.table = ro->table, .expired_only = true};
        long long dead = 0;
        PGresult *res = pg_query(
            pg, "SELECT count(*) FROM tsarchive.archival_events WHERE state = 'dead'", 0, NULL, &e);
        if (res) {
            dead = atoll(PQgetvalue(res, 0, 0));
            PQclear(res);
        }
        /* the contract of --once: every expired chunk archived, verified and dropped */
        if (pg_discover(pg, cfg, &f, &left, &e) != 0)
            ts_error("could not count the expired chunks left: %s", e.msg);
        fprintf(stderr,
                "\nsummary: %lld requests, %lld chunks dropped, %lld rows archived and dropped, "
                "%lld bytes archived, %lld failed confirmations, %lld re-archived after a change, "
                "%lld dead (kept in the database), %d expired chunks left, %.1f s\n",
                (long long)c->requested, (long long)c->dropped, (long long)c->rows_dropped,
                (long long)c->bytes_archived, (long long)c->confirmed_failed,
                (long long)c->rearchived, dead, left.n, now_s() - started);
        if (left.n && !cfg->lakehouse_enabled)
            fprintf(stderr,
                    "lakehouse_enabled is false: expired chunks are reported, never archived\n");
        for (int i = 0; i < left.n && i < 20; i++)
            fprintf(stderr, "  left: %s.%s (%s .. %s)\n", left.items[i].chunk_schema,
                    left.items[i].chunk_name, left.items[i].range_start, left.items[i].range_end);
        if (ro->once && (left.n > 0 || pending > 0 || atomic_load(&stopping)))
            *exit_code = TS_EXIT_PARTIAL;
        pg_chunk_list_free(&left);
    }
    rc = 0;
    goto out;
fail:
    ts_error("retention service: %s", e.msg);
out:
    if (r)
        ret_publish_state(sh, r, next_check);
    ret_publish_phase(sh, RET_PHASE_STOPPED); /* wakes a waiting trigger */
    bus_msgs_clear(&msgs);
    ret_free(r);
    bus_free(b);
    lake_free(lk);
    pg_disconnect(pg);
    return rc;
}

/* ---------------- commands ---------------- */

static int parse_run_args(int argc, char **argv, run_opts *ro, bool allow_once)
{
    memset(ro, 0, sizeof *ro);
    for (int i = 1; i < argc; i++) {
        if (allow_once && strcmp(argv[i], "--once") == 0) {
            ro->once = true;
        } else if (allow_once && strcmp(argv[i], "--table") == 0 && i + 1 < argc) {
            ro->table = argv[++i];
        } else {
            cli_errorf("%s: unexpected argument \"%s\" (see tsarchive --help)", argv[0], argv[i]);
            return TS_EXIT_USAGE;
        }
    }
    return 0;
}

int cmd_archiver(const ts_config *cfg, int argc, char **argv)
{
    run_opts ro;
    svc s;
    worker *ws = NULL;
    int rc = parse_run_args(argc, argv, &ro, false);
    if (rc)
        return rc;
    install_signals();
    if (svc_init(&s, cfg, true, false) != 0) {
        cli_errorf("out of memory");
        svc_free(&s);
        return TS_EXIT_FAIL;
    }
    ts_info("archival service starting with %d workers", cfg->archiver.workers);
    if (start_archivers(cfg, &ws, s.arc) != 0) {
        cli_errorf("could not start the archiver workers");
        svc_free(&s);
        return TS_EXIT_FAIL;
    }
    svc_start_endpoints(&s);
    rc = join_archivers(cfg, ws);
    svc_stop_endpoints(&s);
    ts_info("archival service stopped: %lld archived, %lld failed, %lld dead-lettered",
            (long long)s.arc->archived, (long long)s.arc->failed, (long long)s.arc->deadlettered);
    svc_free(&s);
    return rc ? TS_EXIT_FAIL : TS_EXIT_OK;
}

int cmd_retention(const ts_config *cfg, int argc, char **argv)
{
    run_opts ro;
    svc s;
    int code = TS_EXIT_OK, rc = parse_run_args(argc, argv, &ro, true);
    if (rc)
        return rc;
    install_signals();
    if (svc_init(&s, cfg, false, true) != 0) {
        cli_errorf("out of memory");
        svc_free(&s);
        return TS_EXIT_FAIL;
    }
    svc_start_endpoints(&s);
    rc = retention_loop(cfg, &ro, s.ret, &code);
    svc_stop_endpoints(&s);
    svc_free(&s);
    return rc ? TS_EXIT_FAIL : code;
}

int cmd_run(const ts_config *cfg, int argc, char **argv)
{
    run_opts ro;
    svc s;
    worker *ws = NULL;
    int code = TS_EXIT_OK, rc = parse_run_args(argc, argv, &ro, true);
    if (rc)
        return rc;
    install_signals();
    if (svc_init(&s, cfg, true, true) != 0) {
        cli_errorf("out of memory");
        svc_free(&s);
        return TS_EXIT_FAIL;
    }
    if (cfg->lakehouse_enabled && start_archivers(cfg, &ws, s.arc) != 0) {
        cli_errorf("could not start the archiver workers");
        svc_free(&s);
        return TS_EXIT_FAIL;
    }
    svc_start_endpoints(&s);
    rc = retention_loop(cfg, &ro, s.ret, &code);
    atomic_store(&stopping, 1);
    (void)join_archivers(cfg, ws);
    svc_stop_endpoints(&s);
    svc_free(&s);
    return rc ? TS_EXIT_FAIL : code;
}
