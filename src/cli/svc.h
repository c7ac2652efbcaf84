/* svc.h: what the services' HTTP endpoints see of them (cmd_run.c runs the services,
 * svc_http.c serves the endpoints): archiver counters and a ring of recent events,
 * the retention loop's published state and the trigger handshake, and the HTTP side's
 * own connections. Handlers run on libmicrohttpd threads: every field is an atomic or
 * guarded by the mutex named next to it. */
#ifndef TS_CLI_SVC_H
#define TS_CLI_SVC_H

#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "bus/event.h"
#include "common/config.h"
#include "common/err.h"
#include "http/http.h"
#include "lake/lake.h"
#include "retention/retention.h"

#define GROUP_ARCHIVERS "archivers"
#define GROUP_RETENTION "retention"

#define EVENT_RING 512        /* recent archival events kept for /archival/events */
#define DURATION_SAMPLES 1024 /* recent archive durations kept for the percentiles */
#define HEALTH_TTL_S 1.0      /* dependency checks and table snapshots are reused this long */
#define TRIGGER_TIMEOUT_S 120 /* a trigger waits this long for the retention loop */
#define HTTP_THREADS 8

#define SVC_NBOUNDS 13 /* buckets of the archive duration histogram (svc_http.c) */

typedef struct arc_event_rec {
    char event_id[BUS_EVENT_ID_LEN + 1]; /* "" when the request could not be parsed */
    char chunk[2 * BUS_NAME_MAX + 2];
    char table[2 * BUS_NAME_MAX + 2];
    const char *status; /* success | failure | interrupted | deadlettered */
    int attempt, worker;
    int64_t rows, bytes;
    double duration_s;
    char error[300];
    int64_t at_us;
} arc_event_rec;

typedef struct archiver_stats {
    atomic_llong archived, failed, rows, bytes, deadlettered, interrupted;
    atomic_int busy, alive;
    int workers;
    int64_t started_us;
    double started;
    pthread_mutex_t mu; /* guards everything below */
    arc_event_rec ring[EVENT_RING];
    long long nevents; /* ever recorded; the newest is ring[(nevents - 1) % EVENT_RING] */
    double samples[DURATION_SAMPLES];
    long long nsamples;
    long long buckets[SVC_NBOUNDS + 1]; /* the last is +Inf */
    double dur_sum;                     /* successful archives: seconds, count in archived */
    int64_t last_archive_us;
} archiver_stats;

/* The archival side's own view of its dependencies, refreshed at most every
 * HEALTH_TTL_S, for /archival/status, /readyz and /metrics. */
typedef struct arc_health {
    pthread_mutex_t mu;
    PGconn *pg;
    bus *b;
    lake *lk;
    double at;
    bool pg_ok, redis_ok, lake_ok, stream_ok;
    char pg_err[256], redis_err[256], lake_err[256];
    long long stream_len, pending;
} arc_health;

/* One table in the retention status. */
typedef struct table_snap {
    char table[2 * BUS_NAME_MAX + 2];
    int retention_days;
    long long chunks, expired, requested, archived, dropped, retrying, dead;
    double oldest_expired_age_s; /* since the oldest chunk still here expired; -1: none */
    char oldest_expired_chunk[2 * BUS_NAME_MAX + 2];
} table_snap;

enum { RET_PHASE_STARTING = 0, RET_PHASE_STANDBY, RET_PHASE_ACTIVE, RET_PHASE_STOPPED };

typedef struct ret_shared {
    pthread_mutex_t mu; /* guards the loop's published state and the trigger handshake */
    pthread_cond_t cv;
    int phase;
    ret_counts counts;
    long long checks, check_failures, triggers;
    int64_t last_check_us, next_check_us;
    char last_check_error[300];
    double heartbeat; /* monotonic time the loop last went round */
    /* trigger: a handler sets pending (one at a time), the loop runs the check and
     * answers with done = seq */
    bool trig_pending, trig_has_table;
    char trig_table[256];
    unsigned long long trig_seq, trig_done;
    int trig_status;
    char trig_msg[512];
    json_t *trig_events;
    int trig_requested;

    /* the HTTP side's own connection and its snapshot of the tables */
    pthread_mutex_t db_mu;
    PGconn *pg;
    double snap_at;
    bool snap_ok;
    char snap_err[300];
    table_snap *snap;
    int nsnap, capsnap;
} ret_shared;

typedef struct svc {
    const ts_config *cfg;
    int64_t started_us;
    double started;
    archiver_stats *arc; /* NULL: no archival service in this process */
    ret_shared *ret;     /* NULL: no retention service in this process */
    arc_health health;
    _Atomic(http_server *) ret_http, arc_http; /* read by the handlers */
    http_route ret_routes[8], arc_routes[8];   /* borrowed by the servers */
} svc;

/* Sets up s for the services this process runs; svc_free() also after a failure. */
int svc_init(svc *s, const ts_config *cfg, bool with_archiver, bool with_retention) TS_MUSTCHECK;
/* After svc_stop_endpoints: frees the state and the HTTP side's connections. */
void svc_free(svc *s);

/* Records one archival outcome (status: success, failure, interrupted, deadlettered)
 * in the ring, and a success's duration in the histogram and percentile samples. req
 * is NULL when the request could not be parsed. */
void svc_record(archiver_stats *st, const bus_request *req, const char *status, int worker,
                int64_t rows, int64_t bytes, double dur, const char *error);

/* Starts the endpoints of the services in s (retention, archiver, or both). An address
 * that cannot be bound is logged and skipped: the service runs on without it. */
void svc_start_endpoints(svc *s);
/* Stops them; handlers have returned when this does. */
void svc_stop_endpoints(svc *s);

/* Shared helpers: monotonic seconds; a time as RFC 3339 (JSON null for 0); a message
 * for a response, redacted and cut to len; the lake the config names. */
double svc_now(void);
json_t *svc_json_time(int64_t us);
void svc_copy_msg(char *dst, size_t len, const char *src);
int svc_open_lake(const ts_config *cfg, lake **out, ts_err *err) TS_MUSTCHECK;

#endif
