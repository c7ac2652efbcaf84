/* service.c: the archival service: its workers (each with its own PostgreSQL
 * connection, lake handle and Redis connection), the holder thread that keeps a
 * worker's request from being reclaimed while it works, and start/join. Nothing is
 * shared between workers but the stop flag and the counters the endpoints read. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "archiver_int.h"
#include "common/tstime.h"
#include "bus/bus_config.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/runctl.h"
#include "lake/lake_config.h"
#include "object/object.h"
#include "pg/conn.h"

void arc_group_name(const char *cluster, const char *database, char *out, size_t len)
{
    snprintf(out, len, "archivers:%s/%s", cluster, database);
}

int arc_open_lake(const ts_config *cfg, bool create, lake **out, ts_err *err)
{
    lake_options o;
    int rc = lake_options_from_config(&o, cfg, err);
    if (rc)
        return rc;
    o.create_container = o.create_container && create;
    return lake_open(out, &o, err);
}

int arc_open_bus(const ts_config *cfg, const char *client, bool quick, bus **out, ts_err *err)
{
    bus_options o;
    bus_options_from_config(&o, cfg, client);
    /* a request delivered too often is answered with a failure confirmation by
     * arc_handle_entry (the retention side must hear of it), not dead-lettered by the
     * bus behind its back */
    o.max_deliveries = 0;
    if (quick) {
        o.retry_ms = 0;
        o.connect_timeout_ms = 1000;
        o.command_timeout_ms = 2000;
    }
    return bus_new(&o, out, err);
}

/* ---- the holder ---- */

/* Keeps the request a worker is on from being reclaimed by another worker, for as
 * long as the worker holds it: every third of the visibility timeout it resets the
 * entry's idle time (XCLAIM to the same consumer). A thread of its own with its own
 * Redis connection, so the hold lasts through every slow step (lake retries with
 * backoff, a lock wait, a long export), not only while rows flow. */
typedef struct holder {
    const ts_config *cfg;
    const char *consumer, *group;
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
    char name[160], id[BUS_ID_MAX];
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
        int rc = b ? 0 : arc_open_bus(h->cfg, name, false, &b, &e);
        if (rc == 0)
            rc = bus_extend(b, h->cfg->redis.request_stream, h->group, h->consumer, id, &e);
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

static int holder_start(holder *h, const ts_config *cfg, const char *consumer, const char *group,
                        ts_err *err)
{
    pthread_condattr_t ca;
    memset(h, 0, sizeof *h);
    h->cfg = cfg;
    h->consumer = consumer;
    h->group = group;
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

/* ---- a worker ---- */

/* Connects to the database until it answers (or a stop is asked for) and learns
 * which database of which cluster this worker serves: that names its consumer group. */
static int identify(arc_worker *w, ts_err *e)
{
    int wait_ms = 500;
    while (!ts_run_stopping()) {
        ts_err_clear(e);
        if (pg_connect(w->svc->cfg->database.url, &w->pg, e) == 0 &&
            obj_cluster_id(w->pg, w->svc->cfg->database.cluster_name, w->cluster, e) == 0) {
            snprintf(w->database, sizeof w->database, "%s", PQdb(w->pg));
            arc_group_name(w->cluster, w->database, w->group, sizeof w->group);
            return 0;
        }
        pg_disconnect(w->pg);
        w->pg = NULL;
        ts_warn("archiver worker %d: cannot reach PostgreSQL yet: %s; again in %d ms", w->index,
                e->msg, wait_ms);
        ts_run_nap(wait_ms);
        wait_ms = wait_ms < 8000 ? wait_ms * 2 : 8000;
    }
    return 1;
}

#define SWEEP_AFTER_S 3
#define SWEEP_EVERY_S 60
#define SWEEP_MIN_AGE_S 2 /* a writer locks its temp file microseconds after making it */

static void sweep(arc_worker *w)
{
    long long swept = 0;
    char *root = obj_database_root(w->cluster, w->database);
    ts_err e;
    ts_err_clear(&e);
    if (root && lake_sweep(w->lk, root, SWEEP_MIN_AGE_S, &swept, &e) != 0)
        ts_warn("could not sweep partial writes: %s", e.msg);
    else if (swept)
        ts_info("swept %lld partial writes left by an archiver that stopped", swept);
    ts_free(root);
}

static void *worker_main(void *arg)
{
    arc_worker *w = arg;
    const ts_config *cfg = w->svc->cfg;
    arc_stats *st = &w->svc->st;
    char host[64] = "host";
    bus_msgs msgs = {0};
    double last_reclaim = 0, last_sweep = -SWEEP_EVERY_S;
    bool alive = false, holding = false;
    holder hold;
    ts_err e;

    ts_err_clear(&e);
    gethostname(host, sizeof host - 1);
    snprintf(w->consumer, sizeof w->consumer, "archiver-%s-%d-%d", host, (int)getpid(), w->index);
    if (identify(w, &e) != 0)
        goto out; /* stopped before the database answered */
    if ((w->rc = arc_open_lake(cfg, true, &w->lk, &e)) != 0 ||
        (w->rc = obj_tables_new(w->lk, &w->tables, &e)) != 0 ||
        (w->rc = arc_open_bus(cfg, w->consumer, false, &w->b, &e)) != 0 ||
        (w->rc = bus_group_create(w->b, cfg->redis.request_stream, w->group, &e)) != 0 ||
        (w->rc = holder_start(&hold, cfg, w->consumer, w->group, &e)) != 0) {
        ts_error("archiver worker %d cannot start: %s", w->index, e.msg);
        goto out;
    }
    holding = true;
    /* the container (or folder) is made here, at the start, when allowed: never by a
     * GET of the endpoints, whose probe only looks */
    if (w->index == 0 && lake_test(w->lk, &e) != 0)
        ts_warn("the lake is not usable yet: %s (requests wait for it)", e.msg);
    else if (w->index == 0)
        arc_adopt_legacy(w); /* objects of the earlier layout join their tables */
    if (w->index == 0)
        atomic_store(&w->svc->adopt_done, 1);
    alive = true;
    atomic_fetch_add(&st->alive, 1);
    if (w->index == 0)
        ts_info("archival service serving database \"%s\" of cluster \"%s\" (consumer group "
                "\"%s\")", w->database, w->cluster, w->group);
    while (!atomic_load(&w->svc->adopt_done) && ts_run_nap(100))
        ; /* the others wait for worker 0's adoption */
    while (!ts_run_stopping()) {
        int rc;
        ts_err_clear(&e);
        /* partial writes of archivers killed mid-export, in this database's folder: a
         * few seconds after the start (their temp files are not fresh any more), then
         * every minute */
        if (w->index == 0 && ts_mono_s() - w->svc->started_mono >= SWEEP_AFTER_S &&
            ts_mono_s() - last_sweep >= SWEEP_EVERY_S) {
            last_sweep = ts_mono_s();
            sweep(w);
        }
        if (ts_mono_s() - last_reclaim > 5) { /* a dead worker's requests, past the timeout */
            last_reclaim = ts_mono_s();
            rc = bus_reclaim(w->b, cfg->redis.request_stream, w->group, w->consumer,
                             (long long)cfg->redis.visibility_timeout_s * 1000, 1, &msgs, &e);
        } else {
            rc = bus_read(w->b, cfg->redis.request_stream, w->group, w->consumer, 1, 1000, &msgs,
                          &e);
        }
        if (rc) {
            ts_warn("archiver worker %d: redis: %s", w->index, e.msg);
            ts_run_nap(1000);
            continue;
        }
        for (size_t i = 0; i < msgs.n && !ts_run_stopping(); i++) {
            atomic_fetch_add(&st->busy, 1);
            holder_set(&hold, msgs.v[i].id);
            (void)arc_handle_entry(w, &msgs.v[i]);
            holder_set(&hold, NULL);
            atomic_fetch_sub(&st->busy, 1);
        }
    }
out:
    if (w->index == 0)
        atomic_store(&w->svc->adopt_done, 1); /* also when it could not start */
    if (holding)
        holder_stop(&hold);
    if (alive)
        atomic_fetch_sub(&st->alive, 1);
    bus_msgs_clear(&msgs);
    bus_free(w->b);
    obj_tables_free(w->tables);
    lake_free(w->lk);
    pg_disconnect(w->pg);
    w->b = NULL, w->lk = NULL, w->pg = NULL, w->tables = NULL;
    return NULL;
}

/* ---- the service ---- */

int arc_service_start(const ts_config *cfg, arc_service **out, ts_err *err)
{
    arc_service *s = ts_calloc(1, sizeof *s);
    int rc;
    *out = NULL;
    if (!s || !(s->workers = ts_calloc((size_t)cfg->archiver.workers, sizeof *s->workers))) {
        ts_free(s);
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    }
    s->cfg = cfg;
    s->started_us = ts_time_now();
    s->started_mono = ts_mono_s();
    arc_stats_init(&s->st, cfg->archiver.workers);
    pthread_mutex_init(&s->health.mu, NULL);
    ts_info("archival service starting with %d workers", cfg->archiver.workers);
    for (int i = 0; i < cfg->archiver.workers; i++) {
        arc_worker *w = &s->workers[i];
        w->svc = s;
        w->index = i;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "could not start archiver worker %d", i);
            ts_run_stop();
            s->nworkers = i;
            (void)arc_service_join(s);
            return rc;
        }
        s->nworkers = i + 1;
    }
    if ((rc = arc_probe_start(s, err)) != 0) {
        ts_run_stop();
        (void)arc_service_join(s);
        return rc;
    }
    arc_http_start(s);
    *out = s;
    return 0;
}

int arc_service_join(arc_service *s)
{
    int rc = 0;
    if (!s)
        return 0;
    for (int i = 0; i < s->nworkers; i++) {
        pthread_join(s->workers[i].thread, NULL);
        if (s->workers[i].rc)
            rc = s->workers[i].rc;
    }
    arc_http_stop(s);
    arc_probe_stop(s);
    ts_info("archival service stopped: %lld archived, %lld failed, %lld dead-lettered",
            (long long)atomic_load(&s->st.archived), (long long)atomic_load(&s->st.failed),
            (long long)atomic_load(&s->st.deadlettered));
    arc_stats_destroy(&s->st);
    pthread_mutex_destroy(&s->health.mu);
    ts_free(s->workers);
    ts_free(s);
    return rc;
}
