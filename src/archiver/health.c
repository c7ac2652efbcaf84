/* health.c: the archival service's view of its dependencies, probed in a thread of
 * its own every ARC_PROBE_PERIOD_S with short timeouts (PostgreSQL, Redis, the lake),
 * so that no endpoint ever waits on a slow or frozen server: handlers only read the
 * last findings. The probe never creates a container. */
#include <stdio.h>
#include <string.h>

#include "archiver_int.h"
#include "common/tstime.h"
#include "common/log.h"
#include "common/runctl.h"
#include "lake/lake_config.h"
#include "object/object.h"
#include "pg/conn.h"

#define PROBE_TIMEOUT_MS 2000

typedef struct probe_conns {
    lake *lk;
    bus *b;
} probe_conns;

static void probe_once(arc_service *s, probe_conns *pc)
{
    const ts_config *cfg = s->cfg;
    arc_findings h;
    PGconn *pg = NULL;
    char cluster[64] = "", database[BUS_NAME_MAX + 1] = "", group[sizeof s->group] = "";
    ts_err e;

    memset(&h, 0, sizeof h);
    /* PostgreSQL: a new connection each time, everything within the probe's limit */
    ts_err_clear(&e);
    pg_thread_limits(PROBE_TIMEOUT_MS, true);
    h.pg_ok = pg_connect_opts(cfg->database.url, PROBE_TIMEOUT_MS / 1000, PROBE_TIMEOUT_MS, &pg,
                              &e) == 0 &&
              obj_cluster_id(pg, cfg->database.cluster_name, cluster, &e) == 0;
    if (h.pg_ok) {
        snprintf(database, sizeof database, "%s", PQdb(pg));
        arc_group_name(cluster, database, group, sizeof group);
    }
    pg_disconnect(pg);
    ts_redact(h.pg_ok ? "" : e.msg, h.pg_err, sizeof h.pg_err);
    /* Redis: one quick attempt, no reconnect loop */
    ts_err_clear(&e);
    if (!pc->b && arc_open_bus(cfg, "tsarchive-probe", true, &pc->b, &e) != 0)
        pc->b = NULL;
    h.redis_ok = pc->b && bus_ping(pc->b, &e) == 0;
    h.stream_ok = h.redis_ok &&
                  bus_stream_len(pc->b, cfg->redis.request_stream, &h.stream_len, &e) == 0 &&
                  (!group[0] ||
                   bus_pending_count(pc->b, cfg->redis.request_stream, group, &h.pending, &e) == 0);
    if (!h.stream_ok)
        h.stream_len = h.pending = 0;
    ts_redact(h.redis_ok && h.stream_ok ? "" : e.msg, h.redis_err, sizeof h.redis_err);
    /* the lake: never creates the container (a GET must change nothing) */
    ts_err_clear(&e);
    if (!pc->lk) {
        lake_options o;
        if (lake_options_from_config(&o, cfg, &e) == 0) {
            o.create_container = false;
            o.max_retries = 0;
            o.connect_timeout_s = PROBE_TIMEOUT_MS / 1000;
            o.stall_timeout_s = PROBE_TIMEOUT_MS / 1000;
            if (lake_open(&pc->lk, &o, &e) != 0)
                pc->lk = NULL;
        }
    }
    h.lake_ok = pc->lk && lake_test(pc->lk, &e) == 0;
    ts_redact(h.lake_ok ? "" : e.msg, h.lake_err, sizeof h.lake_err);
    if (pc->lk)
        snprintf(h.lake_location, sizeof h.lake_location, "%s", lake_describe(pc->lk));
    h.at_us = ts_time_now();

    pthread_mutex_lock(&s->health.mu);
    s->health.f = h;
    if (group[0])
        snprintf(s->group, sizeof s->group, "%s", group);
    pthread_mutex_unlock(&s->health.mu);
}

void arc_health_get(arc_service *s, arc_findings *out)
{
    double stale_s;
    pthread_mutex_lock(&s->health.mu);
    *out = s->health.f;
    pthread_mutex_unlock(&s->health.mu);
    stale_s = out->at_us ? (double)(ts_time_now() - out->at_us) / 1e6 : 0;
    if (!out->at_us) { /* the first probe is still running */
        snprintf(out->pg_err, sizeof out->pg_err, "not probed yet");
        snprintf(out->redis_err, sizeof out->redis_err, "not probed yet");
        snprintf(out->lake_err, sizeof out->lake_err, "not probed yet");
    } else if (stale_s > 4 * ARC_PROBE_PERIOD_S + 2 * PROBE_TIMEOUT_MS / 1000) {
        char why[128];
        snprintf(why, sizeof why, "the dependency probe has not finished for %.0f s", stale_s);
        out->pg_ok = out->redis_ok = out->lake_ok = out->stream_ok = false;
        snprintf(out->pg_err, sizeof out->pg_err, "%s", why);
        snprintf(out->redis_err, sizeof out->redis_err, "%s", why);
        snprintf(out->lake_err, sizeof out->lake_err, "%s", why);
    }
}

static void *probe_main(void *arg)
{
    arc_service *s = arg;
    probe_conns pc = {0};
    while (!atomic_load(&s->probe_stop)) {
        probe_once(s, &pc);
        for (int i = 0; i < ARC_PROBE_PERIOD_S * 10 && !atomic_load(&s->probe_stop); i++) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    bus_free(pc.b);
    lake_free(pc.lk);
    return NULL;
}

int arc_probe_start(arc_service *s, ts_err *err)
{
    atomic_store(&s->probe_stop, 0);
    if (pthread_create(&s->probe, NULL, probe_main, s) != 0)
        return ts_err_set(err, TS_ERR_NOMEM, "could not start the dependency probe thread");
    s->probe_started = true;
    return 0;
}

void arc_probe_stop(arc_service *s)
{
    if (!s->probe_started)
        return;
    atomic_store(&s->probe_stop, 1);
    pthread_join(s->probe, NULL);
    s->probe_started = false;
}
