/* cmd_run.c: the services. `tsarchive retention` (the Database Service),
 * `tsarchive archiver` (the Archival Service), and `tsarchive run [--once]`, both in
 * one process. Each worker owns its PostgreSQL connection, lake handle and Redis
 * connection; nothing is shared but the stop flag and the counters. */
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
#include "common/log.h"
#include "lake/lake.h"
#include "lake/lake_config.h"
#include "pg/conn.h"
#include "pg/discover.h"
#include "retention/retention.h"

#define GROUP_ARCHIVERS "archivers"
#define GROUP_RETENTION "retention"
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
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
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
    o.max_deliveries = 5;
    o.client_name = name;
    return bus_new(&o, out, err);
}

static int open_lake(const ts_config *cfg, lake **out, ts_err *err)
{
    lake_options o;
    int rc = lake_options_from_config(&o, cfg, err);
    return rc ? rc : lake_open(out, &o, err);
}

/* ---------------- archival service ---------------- */

typedef struct archiver_stats {
    atomic_llong archived, failed, rows, bytes, deadlettered;
} archiver_stats;

typedef struct worker {
    const ts_config *cfg;
    int index;
    archiver_stats *stats;
    pthread_t thread;
    int rc;
} worker;

/* Handles one request entry; returns 0 when it may be acked. */
static int handle_request(const ts_config *cfg, PGconn **pg, lake *lk, bus *b, const bus_msg *m,
                          archiver_stats *st)
{
    bus_request req;
    bus_confirmation conf;
    char *json = NULL;
    size_t len;
    ts_err e;
    int rc;

    ts_err_clear(&e);
    if (bus_request_parse(m->payload, m->len, &req, &e) != 0) {
        ts_error("malformed archival request %s dead-lettered: %s", m->id, e.msg);
        ts_err reason = e;
        ts_err_clear(&e);
        if (bus_deadletter(b, cfg->redis.request_stream, GROUP_ARCHIVERS, m, reason.msg, &e) != 0)
            ts_error("could not dead-letter %s: %s", m->id, e.msg);
        atomic_fetch_add(&st->deadlettered, 1);
        return 1; /* already acked by the dead letter */
    }
    ts_log_context("event_id", req.event_id);
    if (!*pg || PQstatus(*pg) != CONNECTION_OK) {
        pg_disconnect(*pg);
        *pg = NULL;
        if ((rc = pg_connect(cfg->database.url, pg, &e)) != 0) {
            ts_error("cannot reach PostgreSQL: %s (request left for a retry)", e.msg);
            goto out;
        }
    }
    rc = arc_archive(cfg, *pg, lk, &req, &conf, &e);
    if (rc) { /* not judged: leave it un-acked, it is reclaimed after the visibility timeout */
        ts_error("archival of \"%s.%s\" interrupted: %s (request left for a retry)",
                 req.chunk.chunk_schema, req.chunk.chunk_name, e.msg);
        bus_confirmation_clear(&conf);
        goto out;
    }
    if (conf.status == BUS_STATUS_SUCCESS) {
        atomic_fetch_add(&st->archived, 1);
        atomic_fetch_add(&st->rows, conf.rows);
        atomic_fetch_add(&st->bytes, conf.bytes);
    } else {
        atomic_fetch_add(&st->failed, 1);
        ts_warn("archival of \"%s.%s\" failed: %s", req.chunk.chunk_schema, req.chunk.chunk_name, conf.error);
    }
    rc = bus_confirmation_encode(&conf, &json, &len, &e);
    bus_confirmation_clear(&conf);
    if (rc == 0)
        rc = bus_publish(b, cfg->redis.confirmation_stream, json, len, NULL, &e);
    if (rc == 0)
        rc = bus_ack(b, cfg->redis.request_stream, GROUP_ARCHIVERS, m->id, &e);
    if (rc)
        ts_error("could not confirm \"%s.%s\": %s", req.chunk.chunk_schema, req.chunk.chunk_name, e.msg);
out:
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
    ts_err e;

    ts_err_clear(&e);
    gethostname(host, sizeof host - 1);
    snprintf(name, sizeof name, "archiver-%s-%d-%d", host, (int)getpid(), w->index);
    if ((w->rc = open_lake(cfg, &lk, &e)) != 0 || (w->rc = open_bus(cfg, name, &b, &e)) != 0 ||
        (w->rc = bus_group_create(b, cfg->redis.request_stream, GROUP_ARCHIVERS, &e)) != 0) {
        ts_error("archiver worker %d cannot start: %s", w->index, e.msg);
        goto out;
    }
    while (!atomic_load(&stopping)) {
        int rc;
        ts_err_clear(&e);
        if (now_s() - last_reclaim > 5) { /* a dead worker's requests, past the visibility timeout */
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
        for (size_t i = 0; i < msgs.n && !atomic_load(&stopping); i++)
            (void)handle_request(cfg, &pg, lk, b, &msgs.v[i], w->stats);
    }
out:
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
            if (bus_deadletter(b, cfg->redis.confirmation_stream, GROUP_RETENTION, m, reason.msg, &e) != 0)
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

static int retention_loop(const ts_config *cfg, const run_opts *ro, int *exit_code)
{
    PGconn *pg = NULL;
    lake *lk = NULL;
    bus *b = NULL;
    ret *r = NULL;
    bus_msgs msgs = {0};
    publisher pub;
    char name[96], host[64] = "host";
    double next_check = 0, last_reclaim = 0, last_drops = 0, started = now_s();
    bool republish = true, leader = false;
    int64_t pending = 0;
    ts_err e;
    int rc;

    ts_err_clear(&e);
    gethostname(host, sizeof host - 1);
    snprintf(name, sizeof name, "retention-%s-%d", host, (int)getpid());
    if ((rc = pg_connect(cfg->database.url, &pg, &e)) != 0 || (rc = open_lake(cfg, &lk, &e)) != 0 ||
        (rc = open_bus(cfg, name, &b, &e)) != 0 ||
        (rc = bus_group_create(b, cfg->redis.confirmation_stream, GROUP_RETENTION, &e)) != 0)
        goto fail;
    pub.b = b;
    pub.cfg = cfg;
    /* one active retention service per database; others wait as standbys */
    while (!leader && !atomic_load(&stopping)) {
        PGresult *res = pg_query(pg, RETENTION_LOCK_SQL, 0, NULL, &e);
        if (!res)
            goto fail;
        leader = PQgetvalue(res, 0, 0)[0] == 't';
        PQclear(res);
        if (!leader) {
            if (ro->once) {
                rc = ts_err_set(&e, TS_ERR_CONFLICT, "another retention service is active on this database");
                goto fail;
            }
            ts_info("another retention service is active on this database; standing by");
            nap(5000);
        }
    }
    if ((rc = ret_new(&r, cfg, pg, lk, publish_request, &pub, &e)) != 0)
        goto fail;
    ts_info("retention service active: retention %d days, check every %d h, batch %d%s",
            cfg->retention_period_days, cfg->retention_check_interval_hours, cfg->archival_batch_size,
            cfg->lakehouse_enabled ? "" : " (lakehouse_enabled is false: report only)");
    while (!atomic_load(&stopping)) {
        ts_err_clear(&e);
        if (now_s() >= next_check) {
            int n = 0;
            if ((rc = ret_check_once(r, republish, ro->table, &n, &e)) != 0) {
                ts_error("retention check failed: %s", e.msg);
                if (PQstatus(pg) != CONNECTION_OK)
                    PQreset(pg);
                next_check = now_s() + 10;
                continue;
            }
            republish = false;
            /* --once keeps checking often, until every expired chunk is settled */
            next_check = now_s() + (ro->once ? 2 : cfg->retention_check_interval_hours * 3600.0);
        }
        if (now_s() - last_drops > 10) {
            last_drops = now_s();
            if (ret_retry_drops(r, &e) != 0)
                ts_error("deferred drops: %s", e.msg);
        }
        if (now_s() - last_reclaim > 30) {
            last_reclaim = now_s();
            rc = bus_reclaim(b, cfg->redis.confirmation_stream, GROUP_RETENTION, name, 30000, 10, &msgs, &e);
        } else {
            rc = bus_read(b, cfg->redis.confirmation_stream, GROUP_RETENTION, name, 10, 1000, &msgs, &e);
        }
        if (rc) {
            ts_warn("retention: redis: %s", e.msg);
            nap(1000);
            continue;
        }
        handle_confirmations(cfg, r, b, &msgs);
        if (ro->once) {
            if ((rc = ret_pending(r, &pending, &e)) != 0)
                goto fail;
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
        PGresult *res = pg_query(pg, "SELECT count(*) FROM tsarchive.archival_events WHERE state = 'dead'",
                                 0, NULL, &e);
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
                (long long)c->bytes_archived, (long long)c->confirmed_failed, (long long)c->rearchived,
                dead, left.n, now_s() - started);
        if (left.n && !cfg->lakehouse_enabled)
            fprintf(stderr, "lakehouse_enabled is false: expired chunks are reported, never archived\n");
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
    bus_msgs_clear(&msgs);
    ret_free(r);
    bus_free(b);
    lake_free(lk);
    pg_disconnect(pg);
    return rc;
}

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
    archiver_stats st = {0};
    worker *ws = NULL;
    int rc = parse_run_args(argc, argv, &ro, false);
    if (rc)
        return rc;
    install_signals();
    ts_info("archival service starting with %d workers", cfg->archiver.workers);
    if (start_archivers(cfg, &ws, &st) != 0) {
        cli_errorf("could not start the archiver workers");
        return TS_EXIT_FAIL;
    }
    rc = join_archivers(cfg, ws);
    ts_info("archival service stopped: %lld archived, %lld failed, %lld dead-lettered",
            (long long)st.archived, (long long)st.failed, (long long)st.deadlettered);
    return rc ? TS_EXIT_FAIL : TS_EXIT_OK;
}

int cmd_retention(const ts_config *cfg, int argc, char **argv)
{
    run_opts ro;
    int code = TS_EXIT_OK, rc = parse_run_args(argc, argv, &ro, true);
    if (rc)
        return rc;
    install_signals();
    rc = retention_loop(cfg, &ro, &code);
    return rc ? TS_EXIT_FAIL : code;
}

int cmd_run(const ts_config *cfg, int argc, char **argv)
{
    run_opts ro;
    archiver_stats st = {0};
    worker *ws = NULL;
    int code = TS_EXIT_OK, rc = parse_run_args(argc, argv, &ro, true);
    if (rc)
        return rc;
    install_signals();
    if (cfg->lakehouse_enabled && start_archivers(cfg, &ws, &st) != 0) {
        cli_errorf("could not start the archiver workers");
        return TS_EXIT_FAIL;
    }
    rc = retention_loop(cfg, &ro, &code);
    atomic_store(&stopping, 1);
    (void)join_archivers(cfg, ws);
    return rc ? TS_EXIT_FAIL : code;
}
