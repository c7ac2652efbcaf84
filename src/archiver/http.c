/* http.c: the archival service's endpoints (docs/monitoring.md): /archival/status,
 * /archival/events, /archival/metrics, /metrics (Prometheus), /healthz, /readyz.
 * Handlers read counters and the dependency probe's findings; none waits on a server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archiver_int.h"
#include "common/alloc.h"
#include "common/log.h"
#include "common/runctl.h"
#include "http/prom.h"

#define HTTP_THREADS 8

static json_t *dep_json(bool ok, const char *err)
{
    return ok ? json_pack("{s:b}", "ok", 1) : json_pack("{s:b,s:s}", "ok", 0, "error", err);
}

static int h_status(void *ud, const http_request *req, http_response *resp)
{
    arc_service *s = ud;
    arc_stats *st = &s->st;
    arc_findings h;
    char group[sizeof s->group];
    int busy = atomic_load(&st->busy), alive = atomic_load(&st->alive);
    json_t *j;
    (void)req;
    arc_health_get(s, &h);
    pthread_mutex_lock(&s->health.mu);
    snprintf(group, sizeof group, "%s", s->group);
    pthread_mutex_unlock(&s->health.mu);
    j = json_pack(
        "{s:s,s:s,s:s,s:o,s:f,s:{s:o,s:o,s:o,s:s,s:o},s:{s:i,s:i,s:i,s:i},"
        "s:{s:s,s:s,s:I,s:I,s:b}}",
        "service", "archiver", "version", TS_VERSION, "build", TS_BUILD_ID, "started_at",
        http_json_time(s->started_us), "uptime_s", ts_mono_s() - s->started_mono, "connections",
        "postgresql", dep_json(h.pg_ok, h.pg_err), "redis", dep_json(h.redis_ok, h.redis_err),
        "lake", dep_json(h.lake_ok, h.lake_err), "lake_location", h.lake_location, "checked_at",
        http_json_time(h.at_us), "workers", "configured", st->workers, "running", alive, "busy",
        busy, "idle", alive - busy > 0 ? alive - busy : 0, "request_stream", "name",
        s->cfg->redis.request_stream, "group", group, "length", (json_int_t)h.stream_len,
        "pending", (json_int_t)h.pending, "ok", h.stream_ok);
    if (j)
        json_object_set_new(
            j, "counters",
            json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "archived",
                      (json_int_t)atomic_load(&st->archived), "failed",
                      (json_int_t)atomic_load(&st->failed), "rows", (json_int_t)atomic_load(&st->rows),
                      "bytes", (json_int_t)atomic_load(&st->bytes), "deadlettered",
                      (json_int_t)atomic_load(&st->deadlettered), "interrupted",
                      (json_int_t)atomic_load(&st->interrupted), "other_databases",
                      (json_int_t)atomic_load(&st->foreign)));
    return http_reply_json(resp, 200, j);
}

static int h_events(void *ud, const http_request *req, http_response *resp)
{
    arc_service *s = ud;
    arc_stats *st = &s->st;
    long limit = 50;
    const char *want = http_query(req, "status");
    int want_o = -1;
    json_t *list, *j;
    int rc;

    if ((rc = http_query_int(req, resp, "limit", 1000, &limit)) != 0)
        return rc;
    if (limit < 1)
        return http_reply_error(resp, 400,
                                "query parameter \"limit\" must be an integer from 1 to 1000");
    if (want) {
        for (int o = ARC_OUT_SUCCESS; o <= ARC_OUT_DEADLETTERED; o++)
            if (strcmp(want, arc_outcome_name((arc_outcome)o)) == 0)
                want_o = o;
        if (want_o < 0)
            return http_reply_error(resp, 400,
                                    "query parameter \"status\" must be one of success, failure, "
                                    "interrupted, deadlettered");
    }
    if (!(list = json_array()))
        return TS_ERR_NOMEM;
    pthread_mutex_lock(&st->mu);
    for (long long i = st->nevents - 1;
         i >= 0 && i >= st->nevents - ARC_EVENT_RING && (long)json_array_size(list) < limit; i--) {
        const arc_event_rec *ev = &st->ring[i % ARC_EVENT_RING];
        if (want_o >= 0 && (int)ev->outcome != want_o)
            continue;
        json_t *o = json_pack(
            "{s:o,s:s,s:s,s:s,s:i,s:I,s:I,s:f,s:o,s:o,s:i}", "event_id",
            *ev->event_id ? json_string(ev->event_id) : json_null(), "chunk", ev->chunk, "table",
            ev->table, "status", arc_outcome_name(ev->outcome), "attempt", ev->attempt, "rows",
            (json_int_t)ev->rows, "bytes", (json_int_t)ev->bytes, "duration_s", ev->duration_s,
            "error", *ev->error ? json_string(ev->error) : json_null(), "time",
            http_json_time(ev->at_us), "worker", ev->worker);
        if (json_array_append_new(list, o) != 0)
            break;
    }
    j = json_pack("{s:o,s:I,s:i}", "events", list, "recorded", (json_int_t)st->nevents, "kept",
                  ARC_EVENT_RING);
    pthread_mutex_unlock(&st->mu);
    return http_reply_json(resp, 200, j);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double percentile(const double *v, size_t n, double p)
{
    size_t k;
    if (!n)
        return 0;
    k = (size_t)(p / 100.0 * (double)n);
    if ((double)k < p / 100.0 * (double)n)
        k++;
    return v[k ? k - 1 : 0];
}

static int h_metrics(void *ud, const http_request *req, http_response *resp)
{
    arc_service *s = ud;
    arc_stats *st = &s->st;
    double *v = ts_malloc(sizeof(double) * ARC_DURATION_SAMPLES), sum = 0, busy_s, up;
    size_t n;
    long long archived, rows, bytes;
    json_t *j;
    (void)req;
    if (!v)
        return TS_ERR_NOMEM;
    pthread_mutex_lock(&st->mu);
    n = (size_t)(st->nsamples < ARC_DURATION_SAMPLES ? st->nsamples : ARC_DURATION_SAMPLES);
    memcpy(v, st->samples, n * sizeof *v);
    busy_s = st->dur_sum;
    pthread_mutex_unlock(&st->mu);
    archived = atomic_load(&st->archived);
    rows = atomic_load(&st->rows);
    bytes = atomic_load(&st->bytes);
    qsort(v, n, sizeof *v, cmp_double);
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    up = ts_mono_s() - s->started_mono;
    j = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:{s:i,s:f,s:f,s:f,s:f,s:f,s:f},s:{s:f,s:f,s:f,s:f,s:f},s:f}",
        "chunks_archived", (json_int_t)archived, "chunks_failed",
        (json_int_t)atomic_load(&st->failed), "rows", (json_int_t)rows, "bytes", (json_int_t)bytes,
        "deadlettered", (json_int_t)atomic_load(&st->deadlettered), "interrupted",
        (json_int_t)atomic_load(&st->interrupted), "archive_duration_s", "samples", (int)n, "p50",
        percentile(v, n, 50), "p90", percentile(v, n, 90), "p99", percentile(v, n, 99), "max",
        n ? v[n - 1] : 0.0, "min", n ? v[0] : 0.0, "mean", n ? sum / (double)n : 0.0, "throughput",
        "rows_per_s_busy", busy_s > 0 ? rows / busy_s : 0.0, "bytes_per_s_busy",
        busy_s > 0 ? bytes / busy_s : 0.0, "chunks_per_hour", up > 0 ? archived * 3600.0 / up : 0.0,
        "rows_per_s", up > 0 ? rows / up : 0.0, "busy_s", busy_s, "uptime_s", up);
    ts_free(v);
    return http_reply_json(resp, 200, j);
}

static void counter(prom *p, const char *name, const char *help, long long v)
{
    prom_family(p, name, "counter", help);
    prom_printf(p, "%s %lld\n", name, v);
}

static int h_prom(void *ud, const http_request *req, http_response *resp)
{
    arc_service *s = ud;
    arc_stats *st = &s->st;
    long long buckets[ARC_NBOUNDS + 1], cum = 0;
    double sum;
    int64_t last;
    arc_findings h;
    prom p;
    int busy = atomic_load(&st->busy), alive = atomic_load(&st->alive);
    (void)req;

    pthread_mutex_lock(&st->mu);
    memcpy(buckets, st->buckets, sizeof buckets);
    sum = st->dur_sum;
    last = st->last_archive_us;
    pthread_mutex_unlock(&st->mu);
    arc_health_get(s, &h);
    prom_init(&p);
    prom_common(&p, atomic_load(&s->http), "archiver", s->started_us, s->started_mono);
    counter(&p, "tsarchive_archiver_chunks_archived_total",
            "Chunks archived, verified and confirmed as a success.", atomic_load(&st->archived));
    counter(&p, "tsarchive_archiver_chunks_failed_total",
            "Archival requests confirmed as a failure (the retention service retries them).",
            atomic_load(&st->failed));
    counter(&p, "tsarchive_archiver_requests_interrupted_total",
            "Requests left un-acked for a retry (PostgreSQL, Redis or the lake went away).",
            atomic_load(&st->interrupted));
    counter(&p, "tsarchive_archiver_requests_deadlettered_total",
            "Malformed requests moved to the dead-letter stream.", atomic_load(&st->deadlettered));
    counter(&p, "tsarchive_archiver_requests_other_database_total",
            "Requests for another database on a shared stream, left to its own archivers.",
            atomic_load(&st->foreign));
    counter(&p, "tsarchive_archiver_rows_archived_total", "Rows in the chunks archived.",
            atomic_load(&st->rows));
    counter(&p, "tsarchive_archiver_bytes_archived_total", "Bytes of Parquet written to the lake.",
            atomic_load(&st->bytes));
    prom_family(&p, "tsarchive_archiver_archive_duration_seconds", "histogram",
                "Time to archive one chunk: extract, write, upload, verify, confirm (successes).");
    for (int i = 0; i <= ARC_NBOUNDS; i++) {
        cum += buckets[i];
        if (i < ARC_NBOUNDS)
            prom_printf(&p, "tsarchive_archiver_archive_duration_seconds_bucket{le=\"%g\"} %lld\n",
                        arc_duration_bounds[i], cum);
        else
            prom_printf(&p,
                        "tsarchive_archiver_archive_duration_seconds_bucket{le=\"+Inf\"} %lld\n",
                        cum);
    }
    prom_printf(&p, "tsarchive_archiver_archive_duration_seconds_sum %.6f\n", sum);
    prom_printf(&p, "tsarchive_archiver_archive_duration_seconds_count %lld\n", cum);
    prom_family(&p, "tsarchive_archiver_last_archive_timestamp_seconds", "gauge",
                "Unix time of the last successful archive (0: none since the start).");
    prom_printf(&p, "tsarchive_archiver_last_archive_timestamp_seconds %.3f\n", last / 1e6);
    prom_family(&p, "tsarchive_archiver_workers", "gauge", "Archiver worker threads by state.");
    prom_printf(&p, "tsarchive_archiver_workers{state=\"configured\"} %d\n", st->workers);
    prom_printf(&p, "tsarchive_archiver_workers{state=\"running\"} %d\n", alive);
    prom_printf(&p, "tsarchive_archiver_workers{state=\"busy\"} %d\n", busy);
    prom_printf(&p, "tsarchive_archiver_workers{state=\"idle\"} %d\n",
                alive - busy > 0 ? alive - busy : 0);
    prom_family(&p, "tsarchive_archiver_dependency_up", "gauge",
                "1 when the archival service reaches the dependency (probed every few seconds "
                "with short timeouts).");
    prom_printf(&p, "tsarchive_archiver_dependency_up{dependency=\"postgresql\"} %d\n", h.pg_ok);
    prom_printf(&p, "tsarchive_archiver_dependency_up{dependency=\"redis\"} %d\n", h.redis_ok);
    prom_printf(&p, "tsarchive_archiver_dependency_up{dependency=\"lake\"} %d\n", h.lake_ok);
    prom_family(&p, "tsarchive_archiver_request_stream_length_entries", "gauge",
                "Entries in the request stream (XLEN).");
    prom_printf(&p, "tsarchive_archiver_request_stream_length_entries %lld\n", h.stream_len);
    prom_family(&p, "tsarchive_archiver_request_stream_pending_entries", "gauge",
                "Requests delivered to this database's archivers and not yet acknowledged "
                "(XPENDING).");
    prom_printf(&p, "tsarchive_archiver_request_stream_pending_entries %lld\n", h.pending);
    return prom_reply(&p, resp);
}

static int h_healthz(void *ud, const http_request *req, http_response *resp)
{
    arc_service *s = ud;
    int alive = atomic_load(&s->st.alive);
    (void)req;
    /* live while a worker runs (a grace period at the start, while workers connect) */
    if (alive == 0 && s->st.workers > 0 && ts_mono_s() - s->started_mono > 30)
        return http_reply_json(resp, 503,
                               json_pack("{s:s,s:s}", "status", "unhealthy", "reason",
                                         "no archiver worker is running"));
    return http_reply_json(resp, 200,
                           json_pack("{s:s,s:i}", "status", "ok", "workers_running", alive));
}

static int h_readyz(void *ud, const http_request *req, http_response *resp)
{
    arc_service *s = ud;
    char why[900] = "";
    int alive = atomic_load(&s->st.alive);
    arc_findings h;
    (void)req;
    arc_health_get(s, &h);
    if (!h.pg_ok)
        snprintf(why, sizeof why, "postgresql: %s", h.pg_err);
    else if (!h.redis_ok || !h.stream_ok)
        snprintf(why, sizeof why, "redis: %s", h.redis_err);
    else if (!h.lake_ok)
        snprintf(why, sizeof why, "lake: %s", h.lake_err);
    else if (s->st.workers == 0 || alive < s->st.workers)
        snprintf(why, sizeof why, "%d of %d archiver workers running", alive, s->st.workers);
    if (*why)
        return http_reply_json(resp, 503,
                               json_pack("{s:s,s:s}", "status", "not ready", "reason", why));
    return http_reply_json(resp, 200, json_pack("{s:s}", "status", "ready"));
}

void arc_http_start(arc_service *s)
{
    const ts_config *cfg = s->cfg;
    http_route *r = s->routes;
    http_options o = {.listen = cfg->http.archiver_listen,
                      .token = cfg->http.token,
                      .threads = HTTP_THREADS,
                      .routes = r};
    http_server *hs = NULL;
    ts_err e;
    int n = 0;
    r[n++] = (http_route){"GET", "/archival/status", h_status, s, false};
    r[n++] = (http_route){"GET", "/archival/events", h_events, s, false};
    r[n++] = (http_route){"GET", "/archival/metrics", h_metrics, s, false};
    r[n++] = (http_route){"GET", "/metrics", h_prom, s, false};
    r[n++] = (http_route){"GET", "/healthz", h_healthz, s, true};
    r[n++] = (http_route){"GET", "/readyz", h_readyz, s, true};
    o.nroutes = n;
    ts_err_clear(&e);
    /* a failure is logged and the service runs on: the archive matters more than its
     * dashboard, and a Prometheus "up" alert notices the missing endpoint */
    if (http_server_start(&hs, &o, &e) != 0) {
        ts_error("archival service endpoints not served: %s", e.msg);
        return;
    }
    ts_info("archival service endpoints on http://%s", cfg->http.archiver_listen);
    atomic_store(&s->http, hs);
}

void arc_http_stop(arc_service *s)
{
    http_server_stop(atomic_exchange(&s->http, NULL));
}
