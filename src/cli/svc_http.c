/* svc_http.c: the services' HTTP endpoints (docs/monitoring.md): retention status and
 * trigger, archiver status, events and metrics, Prometheus /metrics, /healthz and
 * /readyz; and the state they read (svc.h). The HTTP side talks to PostgreSQL, Redis
 * and the lake over its own connections, checked at most once per HEALTH_TTL_S. */
#include "svc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"
#include "lake/lake_config.h"
#include "pg/conn.h"
#include "pg/discover.h"

/* Upper bounds of the archive duration histogram, seconds. */
static const double dur_bounds[SVC_NBOUNDS] = {0.05, 0.1, 0.25, 0.5, 1,   2.5, 5,
                                               10,   30,  60,   120, 300, 600};
#define NBOUNDS SVC_NBOUNDS

static const char *const phase_names[] = {"starting", "standby", "active", "stopped"};

double svc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int svc_open_lake(const ts_config *cfg, lake **out, ts_err *err)
{
    lake_options o;
    int rc = lake_options_from_config(&o, cfg, err);
    return rc ? rc : lake_open(out, &o, err);
}

/* RFC 3339 of a Unix time in microseconds, or JSON null when 0. */
json_t *svc_json_time(int64_t us)
{
    char t[BUS_TIME_MAX];
    if (us <= 0 || bus_time_format(us, t, sizeof t) != 0)
        return json_null();
    return json_string(t);
}

/* A message for a response or the metrics: redacted, and cut to fit. */
void svc_copy_msg(char *dst, size_t len, const char *src)
{
    ts_redact(src ? src : "", dst, len);
}

int svc_init(svc *s, const ts_config *cfg, bool with_archiver, bool with_retention)
{
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    s->started_us = bus_time_now();
    s->started = svc_now();
    pthread_mutex_init(&s->health.mu, NULL);
    if (with_archiver) {
        if (!(s->arc = ts_calloc(1, sizeof *s->arc)))
            return TS_ERR_NOMEM;
        pthread_mutex_init(&s->arc->mu, NULL);
        s->arc->started_us = s->started_us;
        s->arc->started = s->started;
    }
    if (with_retention) {
        if (!(s->ret = ts_calloc(1, sizeof *s->ret)))
            return TS_ERR_NOMEM;
        pthread_mutex_init(&s->ret->mu, NULL);
        pthread_mutex_init(&s->ret->db_mu, NULL);
        pthread_cond_init(&s->ret->cv, NULL);
        s->ret->heartbeat = svc_now();
    }
    return 0;
}

/* After the HTTP servers are stopped: nothing reads the state any more. */
void svc_free(svc *s)
{
    pg_disconnect(s->health.pg);
    bus_free(s->health.b);
    lake_free(s->health.lk);
    pthread_mutex_destroy(&s->health.mu);
    if (s->arc) {
        pthread_mutex_destroy(&s->arc->mu);
        ts_free(s->arc);
    }
    if (s->ret) {
        json_decref(s->ret->trig_events);
        pg_disconnect(s->ret->pg);
        ts_free(s->ret->snap);
        pthread_mutex_destroy(&s->ret->mu);
        pthread_mutex_destroy(&s->ret->db_mu);
        pthread_cond_destroy(&s->ret->cv);
        ts_free(s->ret);
    }
}

void svc_record(archiver_stats *st, const bus_request *req, const char *status, int worker,
                int64_t rows, int64_t bytes, double dur, const char *error)
{
    arc_event_rec *ev;
    pthread_mutex_lock(&st->mu);
    ev = &st->ring[st->nevents++ % EVENT_RING];
    memset(ev, 0, sizeof *ev);
    if (req) {
        snprintf(ev->event_id, sizeof ev->event_id, "%s", req->event_id);
        snprintf(ev->chunk, sizeof ev->chunk, "%s.%s", req->chunk.chunk_schema,
                 req->chunk.chunk_name);
        snprintf(ev->table, sizeof ev->table, "%s.%s", req->chunk.hypertable_schema,
                 req->chunk.hypertable);
        ev->attempt = req->attempt;
    }
    ev->status = status;
    ev->worker = worker;
    ev->rows = rows;
    ev->bytes = bytes;
    ev->duration_s = dur;
    svc_copy_msg(ev->error, sizeof ev->error, error);
    ev->at_us = bus_time_now();
    if (!strcmp(status, "success")) {
        int i = 0;
        while (i < NBOUNDS && dur > dur_bounds[i])
            i++;
        st->buckets[i]++;
        st->dur_sum += dur;
        st->samples[st->nsamples++ % DURATION_SAMPLES] = dur;
        st->last_archive_us = ev->at_us;
    }
    pthread_mutex_unlock(&st->mu);
}

/* ---------------- HTTP: shared helpers ---------------- */

/* printf into a Prometheus page; the first failure is kept in *rc. */
static void pf(ts_buf *b, int *rc, const char *fmt, ...) TS_PRINTF(3, 4);
static void pf(ts_buf *b, int *rc, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;
    if (*rc)
        return;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line) {
        *rc = TS_ERR_INTERNAL;
        return;
    }
    *rc = ts_buf_append(b, line, (size_t)n);
}

/* HELP and TYPE of one metric family. */
static void family(ts_buf *b, int *rc, const char *name, const char *type, const char *help)
{
    pf(b, rc, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the text format wants (\\, \", \n). */
static void label_escape(const char *in, char *out, size_t len)
{
    size_t o = 0;
    for (; *in && o + 3 < len; in++) {
        if (*in == '\\' || *in == '"') {
            out[o++] = '\\';
            out[o++] = *in;
        } else if (*in == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

/* The metrics both services export: build, start, HTTP requests. */
static void metrics_common(ts_buf *b, int *rc, const svc *s, const http_server *hs,
                           const char *service)
{
    http_stats hst;
    static const char *const classes[] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};
    http_server_stats(hs, &hst);
    family(b, rc, "tsarchive_build_info", "gauge",
           "Version and build of the running tsarchive (always 1).");
    pf(b, rc, "tsarchive_build_info{service=\"%s\",version=\"%s\",build=\"%s\"} 1\n", service,
       TS_VERSION, TS_BUILD_ID);
    family(b, rc, "tsarchive_start_time_seconds", "gauge", "Unix time the service started.");
    pf(b, rc, "tsarchive_start_time_seconds{service=\"%s\"} %.3f\n", service, s->started_us / 1e6);
    family(b, rc, "tsarchive_uptime_seconds", "gauge", "Seconds since the service started.");
    pf(b, rc, "tsarchive_uptime_seconds{service=\"%s\"} %.3f\n", service, svc_now() - s->started);
    family(b, rc, "tsarchive_http_requests_total", "counter",
           "HTTP requests answered by this service's endpoint, by status class.");
    for (int i = 1; i <= 5; i++)
        pf(b, rc, "tsarchive_http_requests_total{service=\"%s\",code=\"%s\"} %lld\n", service,
           classes[i], hst.by_class[i]);
}

static int reply_metrics(http_response *resp, ts_buf *b, int rc)
{
    if (rc == 0)
        rc = http_reply_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8", ts_buf_cstr(b),
                             b->len);
    ts_buf_free(b);
    return rc;
}

/* ---------------- HTTP: archival service ---------------- */

static void health_refresh(svc *s)
{
    arc_health *h = &s->health;
    const ts_config *cfg = s->cfg;
    ts_err e;

    if (h->at && svc_now() - h->at < HEALTH_TTL_S)
        return;
    h->at = svc_now();
    /* PostgreSQL */
    ts_err_clear(&e);
    if (h->pg && PQstatus(h->pg) != CONNECTION_OK) {
        pg_disconnect(h->pg);
        h->pg = NULL;
    }
    h->pg_ok = (h->pg || pg_connect(cfg->database.url, &h->pg, &e) == 0) &&
               pg_exec(h->pg, "SELECT 1", &e) == 0;
    svc_copy_msg(h->pg_err, sizeof h->pg_err, h->pg_ok ? "" : e.msg);
    /* Redis: one quick attempt, no long reconnect loop inside a request */
    ts_err_clear(&e);
    if (!h->b) {
        bus_options o;
        bus_options_init(&o);
        o.url = cfg->redis.url;
        o.client_name = "tsarchive-http";
        o.retry_ms = 0;
        o.connect_timeout_ms = 1000;
        o.command_timeout_ms = 2000;
        if (bus_new(&o, &h->b, &e) != 0)
            h->b = NULL;
    }
    h->redis_ok = h->b && bus_ping(h->b, &e) == 0;
    h->stream_ok =
        h->redis_ok && bus_stream_len(h->b, cfg->redis.request_stream, &h->stream_len, &e) == 0 &&
        bus_pending_count(h->b, cfg->redis.request_stream, GROUP_ARCHIVERS, &h->pending, &e) == 0;
    if (!h->stream_ok)
        h->stream_len = h->pending = 0;
    svc_copy_msg(h->redis_err, sizeof h->redis_err, h->redis_ok && h->stream_ok ? "" : e.msg);
    /* the lake */
    ts_err_clear(&e);
    if (!h->lk && svc_open_lake(cfg, &h->lk, &e) != 0)
        h->lk = NULL;
    h->lake_ok = h->lk && lake_test(h->lk, &e) == 0;
    svc_copy_msg(h->lake_err, sizeof h->lake_err, h->lake_ok ? "" : e.msg);
}

static json_t *health_json(bool ok, const char *err)
{
    return ok ? json_pack("{s:b}", "ok", 1) : json_pack("{s:b,s:s}", "ok", 0, "error", err);
}

static int h_arc_status(void *ud, const http_request *req, http_response *resp)
{
    svc *s = ud;
    archiver_stats *st = s->arc;
    int busy = atomic_load(&st->busy), alive = atomic_load(&st->alive);
    json_t *j;
    (void)req;
    pthread_mutex_lock(&s->health.mu);
    health_refresh(s);
    j = json_pack(
        "{s:s,s:s,s:s,s:o,s:f,s:{s:o,s:o,s:o},s:{s:i,s:i,s:i,s:i},s:{s:s,s:s,s:I,s:I,s:b}}",
        "service", "archiver", "version", TS_VERSION, "build", TS_BUILD_ID, "started_at",
        svc_json_time(s->started_us), "uptime_s", svc_now() - s->started, "connections",
        "postgresql", health_json(s->health.pg_ok, s->health.pg_err), "redis",
        health_json(s->health.redis_ok, s->health.redis_err), "lake",
        health_json(s->health.lake_ok, s->health.lake_err), "workers", "configured", st->workers,
        "running", alive, "busy", busy, "idle", alive - busy > 0 ? alive - busy : 0,
        "request_stream", "name", s->cfg->redis.request_stream, "group", GROUP_ARCHIVERS, "length",
        (json_int_t)s->health.stream_len, "pending", (json_int_t)s->health.pending, "ok",
        s->health.stream_ok);
    if (j && s->health.lk)
        json_object_set_new(json_object_get(j, "connections"), "lake_location",
                            json_string(lake_describe(s->health.lk)));
    pthread_mutex_unlock(&s->health.mu);
    if (j)
        json_object_set_new(j, "counters",
                            json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "archived",
                                      (json_int_t)atomic_load(&st->archived), "failed",
                                      (json_int_t)atomic_load(&st->failed), "rows",
                                      (json_int_t)atomic_load(&st->rows), "bytes",
                                      (json_int_t)atomic_load(&st->bytes), "deadlettered",
                                      (json_int_t)atomic_load(&st->deadlettered), "interrupted",
                                      (json_int_t)atomic_load(&st->interrupted)));
    return http_reply_json(resp, 200, j);
}

static const char *const event_statuses[] = {"success", "failure", "interrupted", "deadlettered"};

static int h_arc_events(void *ud, const http_request *req, http_response *resp)
{
    svc *s = ud;
    archiver_stats *st = s->arc;
    long limit = 50;
    const char *want = http_query(req, "status");
    json_t *list, *j;
    int rc;

    if ((rc = http_query_int(req, resp, "limit", 1000, &limit)) != 0)
        return rc;
    if (limit < 1)
        return http_reply_error(resp, 400,
                                "query parameter \"limit\" must be an integer from 1 to 1000");
    if (want) {
        bool known = false;
        for (size_t i = 0; i < sizeof event_statuses / sizeof *event_statuses; i++)
            known |= strcmp(want, event_statuses[i]) == 0;
        if (!known)
            return http_reply_error(resp, 400,
                                    "query parameter \"status\" must be one of success, failure, "
                                    "interrupted, deadlettered");
    }
    if (!(list = json_array()))
        return TS_ERR_NOMEM;
    pthread_mutex_lock(&st->mu);
    for (long long i = st->nevents - 1;
         i >= 0 && i >= st->nevents - EVENT_RING && (long)json_array_size(list) < limit; i--) {
        const arc_event_rec *ev = &st->ring[i % EVENT_RING];
        if (want && strcmp(want, ev->status) != 0)
            continue;
        json_t *o =
            json_pack("{s:o,s:s,s:s,s:s,s:i,s:I,s:I,s:f,s:o,s:o,s:i}", "event_id",
                      *ev->event_id ? json_string(ev->event_id) : json_null(), "chunk", ev->chunk,
                      "table", ev->table, "status", ev->status, "attempt", ev->attempt, "rows",
                      (json_int_t)ev->rows, "bytes", (json_int_t)ev->bytes, "duration_s",
                      ev->duration_s, "error", *ev->error ? json_string(ev->error) : json_null(),
                      "time", svc_json_time(ev->at_us), "worker", ev->worker);
        if (json_array_append_new(list, o) != 0)
            break;
    }
    j = json_pack("{s:o,s:I,s:i}", "events", list, "recorded", (json_int_t)st->nevents, "kept",
                  EVENT_RING);
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

static int h_arc_metrics(void *ud, const http_request *req, http_response *resp)
{
    svc *s = ud;
    archiver_stats *st = s->arc;
    double *v = ts_malloc(sizeof(double) * DURATION_SAMPLES), sum, busy_s;
    size_t n;
    long long archived, failed, rows, bytes;
    json_t *j;
    (void)req;
    if (!v)
        return TS_ERR_NOMEM;
    pthread_mutex_lock(&st->mu);
    n = (size_t)(st->nsamples < DURATION_SAMPLES ? st->nsamples : DURATION_SAMPLES);
    memcpy(v, st->samples, n * sizeof *v);
    busy_s = st->dur_sum;
    archived = atomic_load(&st->archived);
    failed = atomic_load(&st->failed);
    rows = atomic_load(&st->rows);
    bytes = atomic_load(&st->bytes);
    pthread_mutex_unlock(&st->mu);
    qsort(v, n, sizeof *v, cmp_double);
    sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    double up = svc_now() - s->started;
    j = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:{s:i,s:f,s:f,s:f,s:f,s:f,s:f},s:{s:f,s:f,s:f,s:f,s:f},s:f}",
        "chunks_archived", (json_int_t)archived, "chunks_failed", (json_int_t)failed, "rows",
        (json_int_t)rows, "bytes", (json_int_t)bytes, "deadlettered",
        (json_int_t)atomic_load(&st->deadlettered), "interrupted",
        (json_int_t)atomic_load(&st->interrupted), "archive_duration_s", "samples", (int)n, "p50",
        percentile(v, n, 50), "p90", percentile(v, n, 90), "p99", percentile(v, n, 99), "max",
        n ? v[n - 1] : 0.0, "min", n ? v[0] : 0.0, "mean", n ? sum / (double)n : 0.0, "throughput",
        "rows_per_s_busy", busy_s > 0 ? rows / busy_s : 0.0, "bytes_per_s_busy",
        busy_s > 0 ? bytes / busy_s : 0.0, "chunks_per_hour", up > 0 ? archived * 3600.0 / up : 0.0,
        "rows_per_s", up > 0 ? rows / up : 0.0, "busy_s", busy_s, "uptime_s", up);
    ts_free(v);
    return http_reply_json(resp, 200, j);
}

static int h_arc_prom(void *ud, const http_request *req, http_response *resp)
{
    svc *s = ud;
    archiver_stats *st = s->arc;
    long long buckets[NBOUNDS + 1], cum = 0, count;
    double sum;
    int64_t last;
    ts_buf b;
    int rc = 0, busy = atomic_load(&st->busy), alive = atomic_load(&st->alive);
    (void)req;

    ts_buf_init(&b, 1 << 20);
    pthread_mutex_lock(&st->mu);
    memcpy(buckets, st->buckets, sizeof buckets);
    sum = st->dur_sum;
    last = st->last_archive_us;
    pthread_mutex_unlock(&st->mu);
    metrics_common(&b, &rc, s, atomic_load(&s->arc_http), "archiver");
    family(&b, &rc, "tsarchive_archiver_chunks_archived_total", "counter",
           "Chunks archived, verified and confirmed as a success.");
    pf(&b, &rc, "tsarchive_archiver_chunks_archived_total %lld\n",
       (long long)atomic_load(&st->archived));
    family(&b, &rc, "tsarchive_archiver_chunks_failed_total", "counter",
           "Archival requests confirmed as a failure (the retention service retries them).");
    pf(&b, &rc, "tsarchive_archiver_chunks_failed_total %lld\n",
       (long long)atomic_load(&st->failed));
    family(&b, &rc, "tsarchive_archiver_requests_interrupted_total", "counter",
           "Requests left un-acked for a retry (PostgreSQL, Redis or the lake went away).");
    pf(&b, &rc, "tsarchive_archiver_requests_interrupted_total %lld\n",
       (long long)atomic_load(&st->interrupted));
    family(&b, &rc, "tsarchive_archiver_requests_deadlettered_total", "counter",
           "Malformed requests moved to the dead-letter stream.");
    pf(&b, &rc, "tsarchive_archiver_requests_deadlettered_total %lld\n",
       (long long)atomic_load(&st->deadlettered));
    family(&b, &rc, "tsarchive_archiver_rows_archived_total", "counter",
           "Rows in the chunks archived.");
    pf(&b, &rc, "tsarchive_archiver_rows_archived_total %lld\n", (long long)atomic_load(&st->rows));
    family(&b, &rc, "tsarchive_archiver_bytes_archived_total", "counter",
           "Bytes of Parquet written to the lake.");
    pf(&b, &rc, "tsarchive_archiver_bytes_archived_total %lld\n",
       (long long)atomic_load(&st->bytes));
    family(&b, &rc, "tsarchive_archiver_archive_duration_seconds", "histogram",
           "Time to archive one chunk: extract, write, upload, verify, confirm (successes).");
    for (int i = 0; i <= NBOUNDS; i++) {
        cum += buckets[i];
        if (i < NBOUNDS)
            pf(&b, &rc, "tsarchive_archiver_archive_duration_seconds_bucket{le=\"%g\"} %lld\n",
               dur_bounds[i], cum);
        else
            pf(&b, &rc, "tsarchive_archiver_archive_duration_seconds_bucket{le=\"+Inf\"} %lld\n",
               cum);
    }
    count = cum;
    pf(&b, &rc, "tsarchive_archiver_archive_duration_seconds_sum %.6f\n", sum);
    pf(&b, &rc, "tsarchive_archiver_archive_duration_seconds_count %lld\n", count);
    family(&b, &rc, "tsarchive_archiver_last_archive_timestamp_seconds", "gauge",
           "Unix time of the last successful archive (0: none since the start).");
    pf(&b, &rc, "tsarchive_archiver_last_archive_timestamp_seconds %.3f\n", last / 1e6);
    family(&b, &rc, "tsarchive_archiver_workers", "gauge", "Archiver worker threads by state.");
    pf(&b, &rc, "tsarchive_archiver_workers{state=\"configured\"} %d\n", st->workers);
    pf(&b, &rc, "tsarchive_archiver_workers{state=\"running\"} %d\n", alive);
    pf(&b, &rc, "tsarchive_archiver_workers{state=\"busy\"} %d\n", busy);
    pf(&b, &rc, "tsarchive_archiver_workers{state=\"idle\"} %d\n",
       alive - busy > 0 ? alive - busy : 0);
    pthread_mutex_lock(&s->health.mu);
    health_refresh(s);
    family(&b, &rc, "tsarchive_archiver_dependency_up", "gauge",
           "1 when the archival service reaches the dependency (checked at most once a second).");
    pf(&b, &rc, "tsarchive_archiver_dependency_up{dependency=\"postgresql\"} %d\n",
       s->health.pg_ok);
    pf(&b, &rc, "tsarchive_archiver_dependency_up{dependency=\"redis\"} %d\n", s->health.redis_ok);
    pf(&b, &rc, "tsarchive_archiver_dependency_up{dependency=\"lake\"} %d\n", s->health.lake_ok);
    family(&b, &rc, "tsarchive_archiver_request_stream_length_entries", "gauge",
           "Entries in the request stream (XLEN).");
    pf(&b, &rc, "tsarchive_archiver_request_stream_length_entries %lld\n", s->health.stream_len);
    family(&b, &rc, "tsarchive_archiver_request_stream_pending_entries", "gauge",
           "Requests delivered to an archiver and not yet acknowledged (XPENDING).");
    pf(&b, &rc, "tsarchive_archiver_request_stream_pending_entries %lld\n", s->health.pending);
    pthread_mutex_unlock(&s->health.mu);
    return reply_metrics(resp, &b, rc);
}

static int h_arc_healthz(void *ud, const http_request *req, http_response *resp)
{
    svc *s = ud;
    int alive = atomic_load(&s->arc->alive);
    (void)req;
    /* live while a worker runs (a few seconds of grace at the start) */
    if (alive == 0 && s->arc->workers > 0 && svc_now() - s->started > 10)
        return http_reply_json(resp, 503,
                               json_pack("{s:s,s:s}", "status", "unhealthy", "reason",
                                         "no archiver worker is running"));
    return http_reply_json(resp, 200,
                           json_pack("{s:s,s:i}", "status", "ok", "workers_running", alive));
}

static int h_arc_readyz(void *ud, const http_request *req, http_response *resp)
{
    svc *s = ud;
    char why[900] = "";
    int alive = atomic_load(&s->arc->alive);
    (void)req;
    pthread_mutex_lock(&s->health.mu);
    health_refresh(s);
    if (!s->health.pg_ok)
        snprintf(why, sizeof why, "postgresql: %s", s->health.pg_err);
    else if (!s->health.redis_ok || !s->health.stream_ok)
        snprintf(why, sizeof why, "redis: %s", s->health.redis_err);
    else if (!s->health.lake_ok)
        snprintf(why, sizeof why, "lake: %s", s->health.lake_err);
    pthread_mutex_unlock(&s->health.mu);
    if (!*why && (s->arc->workers == 0 || alive < s->arc->workers))
        snprintf(why, sizeof why, "%d of %d archiver workers running", alive, s->arc->workers);
    if (*why)
        return http_reply_json(resp, 503,
                               json_pack("{s:s,s:s}", "status", "not ready", "reason", why));
    return http_reply_json(resp, 200, json_pack("{s:s}", "status", "ready"));
}

/* ---------------- HTTP: retention service ---------------- */

static table_snap *snap_table(ret_shared *sh, const char *name, const ts_config *cfg)
{
    for (int i = 0; i < sh->nsnap; i++)
        if (!strcmp(sh->snap[i].table, name))
            return &sh->snap[i];
    if (sh->nsnap == sh->capsnap) {
        int cap = sh->capsnap ? sh->capsnap * 2 : 16;
        table_snap *n = ts_realloc(sh->snap, (size_t)cap * sizeof *n);
        if (!n)
            return NULL;
        sh->snap = n;
        sh->capsnap = cap;
    }
    table_snap *t = &sh->snap[sh->nsnap++];
    memset(t, 0, sizeof *t);
    snprintf(t->table, sizeof t->table, "%s", name);
    t->retention_days = ts_config_retention_days(cfg, name);
    t->oldest_expired_age_s = -1;
    return t;
}

/* Refreshes the per-table picture over the HTTP side's own connection (db_mu held). */
static void snap_refresh(ret_shared *sh, const ts_config *cfg)
{
    pg_chunk_list list = {0};
    pg_discover_filter f = {.table = NULL, .expired_only = false};
    PGresult *res = NULL;
    ts_err e;
    int rc;

    if (sh->snap_at && svc_now() - sh->snap_at < HEALTH_TTL_S)
        return;
    sh->snap_at = svc_now();
    sh->nsnap = 0;
    ts_err_clear(&e);
    if (sh->pg && PQstatus(sh->pg) != CONNECTION_OK) {
        pg_disconnect(sh->pg);
        sh->pg = NULL;
    }
    if (!sh->pg && (rc = pg_connect(cfg->database.url, &sh->pg, &e)) != 0)
        goto fail;
    if ((rc = pg_discover(sh->pg, cfg, &f, &list, &e)) != 0)
        goto fail;
    for (int i = 0; i < list.n; i++) {
        const pg_chunk *ch = &list.items[i];
        char name[2 * BUS_NAME_MAX + 2];
        table_snap *t;
        snprintf(name, sizeof name, "%s.%s", ch->table_schema, ch->table_name);
        if (!(t = snap_table(sh, name, cfg))) {
            rc = ts_err_set(&e, TS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        t->retention_days = ch->retention_days;
        t->chunks++;
        if (ch->expired) {
            double age = (double)(list.now_us -
                                  (ch->end_us + (int64_t)ch->retention_days * 86400 * 1000000)) /
                         1e6;
            t->expired++;
            if (age > t->oldest_expired_age_s) {
                t->oldest_expired_age_s = age;
                snprintf(t->oldest_expired_chunk, sizeof t->oldest_expired_chunk, "%s.%s",
                         ch->chunk_schema, ch->chunk_name);
            }
        }
    }
    /* the state table appears with the first active retention service */
    if (!(res = pg_query(sh->pg, "SELECT to_regclass('tsarchive.archival_events') IS NOT NULL", 0,
                         NULL, &e))) {
        rc = e.code;
        goto fail;
    }
    bool have_table = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    res = NULL;
    if (have_table &&
        !(res = pg_query(sh->pg,
                         "SELECT table_schema || '.' || table_name, state, count(*)"
                         " FROM tsarchive.archival_events GROUP BY 1, 2 ORDER BY 1, 2",
                         0, NULL, &e))) {
        rc = e.code;
        goto fail;
    }
    for (int i = 0; res && i < PQntuples(res); i++) {
        table_snap *t = snap_table(sh, PQgetvalue(res, i, 0), cfg);
        const char *state = PQgetvalue(res, i, 1);
        long long n = atoll(PQgetvalue(res, i, 2));
        if (!t) {
            rc = ts_err_set(&e, TS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        if (!strcmp(state, "requested"))
            t->requested = n;
        else if (!strcmp(state, "archived"))
            t->archived = n;
        else if (!strcmp(state, "dropped"))
            t->dropped = n;
        else if (!strcmp(state, "retrying"))
            t->retrying = n;
        else if (!strcmp(state, "dead"))
            t->dead = n;
    }
    sh->snap_ok = true;
    sh->snap_err[0] = '\0';
    goto out;
fail:
    sh->snap_ok = false;
    sh->nsnap = 0;
    svc_copy_msg(sh->snap_err, sizeof sh->snap_err, e.msg);
out:
    PQclear(res);
    pg_chunk_list_free(&list);
}

static int h_ret_status(void *ud, const http_request *req, http_response *resp)
{
    svc *s = ud;
    ret_shared *sh = s->ret;
    const ts_config *cfg = s->cfg;
    json_t *j = NULL, *tables = NULL, *o;
    long long tot[7] = {0};
    (void)req;

    pthread_mutex_lock(&sh->mu);
    j = json_pack(
        "{s:s,s:s,s:s,s:o,s:f,s:s,s:b,s:i,s:i,s:I,s:o,s:o,s:o,s:{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:"
        "I,s:I,s:I}}",
        "service", "retention", "version", TS_VERSION, "build", TS_BUILD_ID, "started_at",
        svc_json_time(s->started_us), "uptime_s", svc_now() - s->started, "state",
        phase_names[sh->phase], "lakehouse_enabled", cfg->lakehouse_enabled,
        "retention_period_days", cfg->retention_period_days, "archival_batch_size",
        cfg->archival_batch_size, "check_interval_s",
        (json_int_t)cfg->retention_check_interval_hours * 3600, "last_check",
        svc_json_time(sh->last_check_us), "next_check",
        sh->phase == RET_PHASE_ACTIVE ? svc_json_time(sh->next_check_us) : json_null(),
        "last_check_error", *sh->last_check_error ? json_string(sh->last_check_error) : json_null(),
        "counters", "checks", (json_int_t)sh->checks, "check_failures",
        (json_int_t)sh->check_failures, "triggers", (json_int_t)sh->triggers, "requested",
        (json_int_t)sh->counts.requested, "confirmed_ok", (json_int_t)sh->counts.confirmed_ok,
        "confirmed_failed", (json_int_t)sh->counts.confirmed_failed, "dropped",
        (json_int_t)sh->counts.dropped, "rearchived", (json_int_t)sh->counts.rearchived, "dead",
        (json_int_t)sh->counts.dead, "rows_dropped", (json_int_t)sh->counts.rows_dropped,
        "bytes_archived", (json_int_t)sh->counts.bytes_archived);
    pthread_mutex_unlock(&sh->mu);
    if (!j || !(tables = json_array())) {
        json_decref(j);
        return TS_ERR_NOMEM;
    }
    pthread_mutex_lock(&sh->db_mu);
    snap_refresh(sh, cfg);
    for (int i = 0; i < sh->nsnap; i++) {
        const table_snap *t = &sh->snap[i];
        o = json_pack(
            "{s:s,s:i,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:o}", "table", t->table,
            "retention_period_days", t->retention_days, "chunks_total", (json_int_t)t->chunks,
            "expired", (json_int_t)t->expired, "pending_archival", (json_int_t)t->requested,
            "archived", (json_int_t)t->archived, "dropped", (json_int_t)t->dropped, "failed",
            (json_int_t)t->retrying, "dead", (json_int_t)t->dead, "oldest_expired_age_s",
            t->oldest_expired_age_s >= 0 ? json_real(t->oldest_expired_age_s) : json_null(),
            "oldest_expired_chunk",
            *t->oldest_expired_chunk ? json_string(t->oldest_expired_chunk) : json_null());
        tot[0] += t->chunks, tot[1] += t->expired, tot[2] += t->requested, tot[3] += t->archived;
        tot[4] += t->dropped, tot[5] += t->retrying, tot[6] += t->dead;
        (void)json_array_append_new(tables, o);
    }
    json_object_set_new(j, "database",
                        sh->snap_ok ? json_pack("{s:b}", "ok", 1)
                                    : json_pack("{s:b,s:s}", "ok", 0, "error", sh->snap_err));
    pthread_mutex_unlock(&sh->db_mu);
    json_object_set_new(j, "tables", tables);
    json_object_set_new(j, "totals",
                        json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "chunks_total",
                                  (json_int_t)tot[0], "expired", (json_int_t)tot[1],
                                  "pending_archival", (json_int_t)tot[2], "archived",
                                  (json_int_t)tot[3], "dropped", (json_int_t)tot[4], "failed",
                                  (json_int_t)tot[5], "dead", (json_int_t)tot[6]));
    return http_reply_json(resp, 200, j);
}

/* The table to check: from ?table= or a JSON body {"table": "schema.name"}; none
 * means all. Returns 0, or 1 when it answered 400 in resp. */
static int trigger_table(const http_request *req, http_response *resp, char *out, size_t len,
                         bool *has)
{
    const char *q = http_query(req, "table"), *t = NULL, *k;
    size_t blen, n;
    const char *body = http_body(req, &blen);
    json_t *j = NULL, *v;
    json_error_t je;
    int bad = 1;

    *has = false;
    if (blen > 0) {
        if (!(j = json_loadb(body, blen, 0, &je)) || !json_is_object(j)) {
            (void)http_reply_error(
                resp, 400,
                "the body must be a JSON object such as {\"table\": \"public.metrics\"}");
            goto out;
        }
        json_object_foreach(j, k, v)
        {
            if (strcmp(k, "table") != 0) {
                (void)http_reply_error(
                    resp, 400, "unknown field \"%.64s\" in the body (only \"table\" is known)", k);
                goto out;
            }
            if (!json_is_string(v)) {
                (void)http_reply_error(
                    resp, 400, "field \"table\" must be a string such as \"public.metrics\"");
                goto out;
            }
            t = json_string_value(v);
        }
    }
    if (q && t && strcmp(q, t) != 0) {
        (void)http_reply_error(resp, 400, "the table in the query and in the body differ");
        goto out;
    }
    if (!t)
        t = q;
    if (t) {
        n = strlen(t);
        if (n == 0 || n >= len || n > 2 * BUS_NAME_MAX + 3) {
            (void)http_reply_error(resp, 400, "parameter \"table\" must be 1 to %d characters",
                                   2 * BUS_NAME_MAX + 3);
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f) {
                (void)http_reply_error(resp, 400, "parameter \"table\" holds a control character");
                goto out;
            }
        snprintf(out, len, "%s", t);
        *has = true;
    }
    bad = 0;
out:
    json_decref(j);
    return bad;
}

static int h_ret_trigger(void *ud, const http_request *req, http_response *resp)
{
    svc *s = ud;
    ret_shared *sh = s->ret;
    char table[256] = "", msg[512] = "";
    bool has = false, timed_out = false;
    unsigned long long seq;
    json_t *events = NULL;
    int status, n = 0, rc;
    struct timespec deadline;

    if (trigger_table(req, resp, table, sizeof table, &has) != 0)
        return TS_ERR_INVALID; /* answered 400 */
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += TRIGGER_TIMEOUT_S;
    pthread_mutex_lock(&sh->mu);
    /* one trigger at a time: wait for the one before */
    while (sh->trig_pending && sh->phase == RET_PHASE_ACTIVE && !timed_out)
        timed_out = pthread_cond_timedwait(&sh->cv, &sh->mu, &deadline) == ETIMEDOUT;
    if (sh->phase != RET_PHASE_ACTIVE) {
        int phase = sh->phase;
        pthread_mutex_unlock(&sh->mu);
        return http_reply_error(
            resp, 503, "the retention service is %s%s", phase_names[phase],
            phase == RET_PHASE_STANDBY ? " (another instance is active on this database)" : "");
    }
    if (timed_out) {
        pthread_mutex_unlock(&sh->mu);
        return http_reply_error(resp, 503, "another triggered check is still running");
    }
    sh->trig_pending = true;
    sh->trig_has_table = has;
    snprintf(sh->trig_table, sizeof sh->trig_table, "%s", table);
    seq = ++sh->trig_seq;
    while (sh->trig_done < seq && sh->phase == RET_PHASE_ACTIVE && !timed_out)
        timed_out = pthread_cond_timedwait(&sh->cv, &sh->mu, &deadline) == ETIMEDOUT;
    if (sh->trig_done >= seq) {
        events = sh->trig_events;
        sh->trig_events = NULL;
        status = sh->trig_status;
        n = sh->trig_requested;
        snprintf(msg, sizeof msg, "%s", sh->trig_msg);
    } else {
        status = timed_out ? 504 : 503;
        snprintf(msg, sizeof msg, "%s",
                 timed_out ? "the retention check did not finish in time; it may still run"
                           : "the retention service stopped before the check ran");
        if (sh->trig_pending && sh->trig_seq == seq && sh->phase != RET_PHASE_ACTIVE)
            sh->trig_pending = false;
    }
    pthread_mutex_unlock(&sh->mu);
    if (status != 200) {
        /* requests already sent before a failure are reported too */
        rc = http_reply_error(resp, status, "%s", msg);
        if (rc == 0 && events && json_array_size(events) > 0) {
            json_t *j =
                json_pack("{s:s,s:i,s:O}", "error", msg, "status", status, "events", events);
            ts_free(resp->body);
            resp->body = NULL;
            rc = http_reply_json(resp, status, j);
        }
        json_decref(events);
        return rc;
    }
    return http_reply_json(resp, 200,
                           json_pack("{s:o,s:i,s:o}", "table",
                                     has ? json_string(table) : json_null(), "requested", n,
                                     "events", events ? events : json_array()));
}

static int h_ret_prom(void *ud, const http_request *req, http_response *resp)
{
    svc *s = ud;
    ret_shared *sh = s->ret;
    ret_counts c;
    long long checks, failures, triggers;
    int64_t last, next;
    int phase;
    ts_buf b;
    int rc = 0;
    char lt[300];
    (void)req;

    pthread_mutex_lock(&sh->mu);
    c = sh->counts;
    checks = sh->checks, failures = sh->check_failures, triggers = sh->triggers;
    last = sh->last_check_us, next = sh->next_check_us, phase = sh->phase;
    pthread_mutex_unlock(&sh->mu);
    ts_buf_init(&b, 16 << 20);
    metrics_common(&b, &rc, s, atomic_load(&s->ret_http), "retention");
    family(&b, &rc, "tsarchive_retention_active", "gauge",
           "1 when this retention service holds the database's lock and works; 0 standing by or "
           "stopped.");
    pf(&b, &rc, "tsarchive_retention_active %d\n", phase == RET_PHASE_ACTIVE);
    family(&b, &rc, "tsarchive_retention_checks_total", "counter",
           "Retention checks run (scheduled and triggered).");
    pf(&b, &rc, "tsarchive_retention_checks_total %lld\n", checks);
    family(&b, &rc, "tsarchive_retention_check_failures_total", "counter",
           "Retention checks that failed.");
    pf(&b, &rc, "tsarchive_retention_check_failures_total %lld\n", failures);
    family(&b, &rc, "tsarchive_retention_triggers_total", "counter", "Checks triggered over HTTP.");
    pf(&b, &rc, "tsarchive_retention_triggers_total %lld\n", triggers);
    family(&b, &rc, "tsarchive_retention_last_check_timestamp_seconds", "gauge",
           "Unix time of the last retention check (0: none yet).");
    pf(&b, &rc, "tsarchive_retention_last_check_timestamp_seconds %.3f\n", last / 1e6);
    family(&b, &rc, "tsarchive_retention_next_check_timestamp_seconds", "gauge",
           "Unix time of the next scheduled check (0: not active).");
    pf(&b, &rc, "tsarchive_retention_next_check_timestamp_seconds %.3f\n",
       phase == RET_PHASE_ACTIVE ? next / 1e6 : 0.0);
    family(&b, &rc, "tsarchive_retention_check_interval_seconds", "gauge",
           "retention_check_interval_hours, in seconds.");
    pf(&b, &rc, "tsarchive_retention_check_interval_seconds %d\n",
       s->cfg->retention_check_interval_hours * 3600);
    family(&b, &rc, "tsarchive_retention_requests_total", "counter",
           "Archival requests sent (new, retries, re-archives).");
    pf(&b, &rc, "tsarchive_retention_requests_total %lld\n", (long long)c.requested);
    family(&b, &rc, "tsarchive_retention_confirmations_total", "counter",
           "Confirmations judged, by outcome (failure: failed archival or failed verification).");
    pf(&b, &rc, "tsarchive_retention_confirmations_total{outcome=\"success\"} %lld\n",
       (long long)c.confirmed_ok);
    pf(&b, &rc, "tsarchive_retention_confirmations_total{outcome=\"failure\"} %lld\n",
       (long long)c.confirmed_failed);
    family(&b, &rc, "tsarchive_retention_chunks_dropped_total", "counter",
           "Chunks dropped after a verified archive.");
    pf(&b, &rc, "tsarchive_retention_chunks_dropped_total %lld\n", (long long)c.dropped);
    family(&b, &rc, "tsarchive_retention_rows_dropped_total", "counter",
           "Rows in the chunks dropped.");
    pf(&b, &rc, "tsarchive_retention_rows_dropped_total %lld\n", (long long)c.rows_dropped);
    family(&b, &rc, "tsarchive_retention_bytes_archived_total", "counter",
           "Bytes of verified archives.");
    pf(&b, &rc, "tsarchive_retention_bytes_archived_total %lld\n", (long long)c.bytes_archived);
    family(&b, &rc, "tsarchive_retention_rearchived_total", "counter",
           "Chunks archived again (changed since export, or the archive went missing).");
    pf(&b, &rc, "tsarchive_retention_rearchived_total %lld\n", (long long)c.rearchived);
    family(&b, &rc, "tsarchive_retention_dead_total", "counter",
           "Chunks given up on after max_attempts (kept).");
    pf(&b, &rc, "tsarchive_retention_dead_total %lld\n", (long long)c.dead);

    pthread_mutex_lock(&sh->db_mu);
    snap_refresh(sh, s->cfg);
    family(&b, &rc, "tsarchive_retention_database_up", "gauge",
           "1 when the retention service's status queries reach PostgreSQL.");
    pf(&b, &rc, "tsarchive_retention_database_up %d\n", sh->snap_ok);
    family(&b, &rc, "tsarchive_retention_period_seconds", "gauge",
           "Retention period per table (0: never expires).");
    for (int i = 0; i < sh->nsnap; i++) {
        label_escape(sh->snap[i].table, lt, sizeof lt);
        pf(&b, &rc, "tsarchive_retention_period_seconds{table=\"%s\"} %lld\n", lt,
           sh->snap[i].retention_days * 86400LL);
    }
    family(&b, &rc, "tsarchive_retention_chunks", "gauge",
           "Chunks in the database per table: all, and expired.");
    for (int i = 0; i < sh->nsnap; i++) {
        label_escape(sh->snap[i].table, lt, sizeof lt);
        pf(&b, &rc, "tsarchive_retention_chunks{table=\"%s\",kind=\"total\"} %lld\n", lt,
           sh->snap[i].chunks);
        pf(&b, &rc, "tsarchive_retention_chunks{table=\"%s\",kind=\"expired\"} %lld\n", lt,
           sh->snap[i].expired);
    }
    family(&b, &rc, "tsarchive_retention_events", "gauge",
           "Rows of tsarchive.archival_events per table and state.");
    for (int i = 0; i < sh->nsnap; i++) {
        const table_snap *t = &sh->snap[i];
        const char *names[] = {"requested", "archived", "dropped", "retrying", "dead"};
        long long v[] = {t->requested, t->archived, t->dropped, t->retrying, t->dead};
        label_escape(t->table, lt, sizeof lt);
        for (int k = 0; k < 5; k++)
            pf(&b, &rc, "tsarchive_retention_events{table=\"%s\",state=\"%s\"} %lld\n", lt,
               names[k], v[k]);
    }
    family(&b, &rc, "tsarchive_retention_oldest_expired_age_seconds", "gauge",
           "Seconds since the oldest expired chunk still in the database passed its retention (0: "
           "none).");
    for (int i = 0; i < sh->nsnap; i++) {
        label_escape(sh->snap[i].table, lt, sizeof lt);
        pf(&b, &rc, "tsarchive_retention_oldest_expired_age_seconds{table=\"%s\"} %.3f\n", lt,
           sh->snap[i].oldest_expired_age_s > 0 ? sh->snap[i].oldest_expired_age_s : 0.0);
    }
    pthread_mutex_unlock(&sh->db_mu);
    return reply_metrics(resp, &b, rc);
}

static int h_ret_healthz(void *ud, const http_request *req, http_response *resp)
{
    svc *s = ud;
    double quiet;
    int phase;
    (void)req;
    pthread_mutex_lock(&s->ret->mu);
    quiet = svc_now() - s->ret->heartbeat;
    phase = s->ret->phase;
    pthread_mutex_unlock(&s->ret->mu);
    /* the loop goes round every second or so; a long check may hold it a while */
    if (phase == RET_PHASE_STOPPED || (phase == RET_PHASE_ACTIVE && quiet > 600))
        return http_reply_json(resp, 503,
                               json_pack("{s:s,s:s,s:f}", "status", "unhealthy", "state",
                                         phase_names[phase], "loop_quiet_s", quiet));
    return http_reply_json(resp, 200,
                           json_pack("{s:s,s:s}", "status", "ok", "state", phase_names[phase]));
}

static int h_ret_readyz(void *ud, const http_request *req, http_response *resp)
{
    svc *s = ud;
    int phase;
    bool db_ok;
    char err[300];
    (void)req;
    pthread_mutex_lock(&s->ret->mu);
    phase = s->ret->phase;
    pthread_mutex_unlock(&s->ret->mu);
    pthread_mutex_lock(&s->ret->db_mu);
    snap_refresh(s->ret, s->cfg);
    db_ok = s->ret->snap_ok;
    snprintf(err, sizeof err, "%s", s->ret->snap_err);
    pthread_mutex_unlock(&s->ret->db_mu);
    if (phase != RET_PHASE_ACTIVE)
        return http_reply_json(resp, 503,
                               json_pack("{s:s,s:s}", "status", "not ready", "reason",
                                         phase == RET_PHASE_STANDBY
                                             ? "standing by: another retention service is active"
                                             : phase_names[phase]));
    if (!db_ok)
        return http_reply_json(resp, 503,
                               json_pack("{s:s,s:s}", "status", "not ready", "reason", err));
    return http_reply_json(resp, 200, json_pack("{s:s}", "status", "ready"));
}

/* Starts one endpoint. A failure is logged and the service runs on without it: the
 * archive matters more than its dashboard (several services on one host may share
 * the default ports; a Prometheus "up" alert notices the missing endpoint). */
static http_server *start_http(const ts_config *cfg, const char *listen, const http_route *routes,
                               int n, const char *what)
{
    http_options o = {.listen = listen,
                      .token = cfg->http.token,
                      .token_for_get = cfg->http.token_for_get,
                      .threads = HTTP_THREADS,
                      .routes = routes,
                      .nroutes = n};
    http_server *hs = NULL;
    ts_err e;
    ts_err_clear(&e);
    if (http_server_start(&hs, &o, &e) != 0) {
        ts_error("%s endpoints not served: %s", what, e.msg);
        return NULL;
    }
    ts_info("%s endpoints on http://%s", what, listen);
    return hs;
}

void svc_start_endpoints(svc *s)
{
    http_route *ret_routes = s->ret_routes, *arc_routes = s->arc_routes;
    int n = 0;
    if (s->ret) {
        ret_routes[n++] = (http_route){"GET", "/database/retention/status", h_ret_status, s};
        ret_routes[n++] =
            (http_route){"POST", "/database/retention/trigger-archival", h_ret_trigger, s};
        ret_routes[n++] = (http_route){"GET", "/metrics", h_ret_prom, s};
        ret_routes[n++] = (http_route){"GET", "/healthz", h_ret_healthz, s};
        ret_routes[n++] = (http_route){"GET", "/readyz", h_ret_readyz, s};
        atomic_store(&s->ret_http, start_http(s->cfg, s->cfg->http.retention_listen, ret_routes, n,
                                              "retention service"));
    }
    n = 0;
    if (s->arc) {
        arc_routes[n++] = (http_route){"GET", "/archival/status", h_arc_status, s};
        arc_routes[n++] = (http_route){"GET", "/archival/events", h_arc_events, s};
        arc_routes[n++] = (http_route){"GET", "/archival/metrics", h_arc_metrics, s};
        arc_routes[n++] = (http_route){"GET", "/metrics", h_arc_prom, s};
        arc_routes[n++] = (http_route){"GET", "/healthz", h_arc_healthz, s};
        arc_routes[n++] = (http_route){"GET", "/readyz", h_arc_readyz, s};
        atomic_store(&s->arc_http, start_http(s->cfg, s->cfg->http.archiver_listen, arc_routes, n,
                                              "archival service"));
    }
}

void svc_stop_endpoints(svc *s)
{
    http_server_stop(atomic_exchange(&s->ret_http, NULL));
    http_server_stop(atomic_exchange(&s->arc_http, NULL));
}
