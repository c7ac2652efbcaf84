/* archiver_int.h: what the archival service's files share (service.c runs the
 * workers, request.c handles one request entry, archive.c archives one chunk,
 * stats.c keeps the counters, http.c serves the endpoints). Not for use outside
 * src/archiver/. */
#ifndef TS_ARCHIVER_INT_H
#define TS_ARCHIVER_INT_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "archiver.h"
#include "bus/bus.h"
#include "bus/event.h"
#include "common/config.h"
#include "common/err.h"
#include "http/http.h"
#include "lake/lake.h"
#include "object/object.h"

#define ARC_EVENT_RING 512        /* recent outcomes kept for /archival/events */
#define ARC_DURATION_SAMPLES 1024 /* recent archive durations kept for percentiles */
#define ARC_NBOUNDS 13            /* buckets of the duration histogram */
#define ARC_PROBE_PERIOD_S 2      /* the dependency probe runs this often */

typedef enum {
    ARC_OUT_SUCCESS = 0,
    ARC_OUT_FAILURE,
    ARC_OUT_INTERRUPTED,
    ARC_OUT_DEADLETTERED,
} arc_outcome;

typedef struct arc_event_rec {
    char event_id[BUS_EVENT_ID_LEN + 1]; /* "" when the request could not be parsed */
    char chunk[2 * BUS_NAME_MAX + 2];
    char table[2 * BUS_NAME_MAX + 2];
    arc_outcome outcome;
    int attempt, worker;
    int64_t rows, bytes;
    double duration_s;
    char error[300];
    int64_t at_us;
} arc_event_rec;

/* Counters the endpoints read: atomics, or under mu. */
typedef struct arc_stats {
    atomic_llong archived, failed, rows, bytes, deadlettered, interrupted, foreign;
    atomic_int busy, alive;
    int workers;
    pthread_mutex_t mu; /* guards everything below */
    arc_event_rec ring[ARC_EVENT_RING];
    long long nevents; /* ever recorded; the newest is ring[(nevents - 1) % ARC_EVENT_RING] */
    double samples[ARC_DURATION_SAMPLES];
    long long nsamples;
    long long buckets[ARC_NBOUNDS + 1]; /* the last is +Inf */
    double dur_sum;                     /* successful archives: seconds */
    int64_t last_archive_us;
} arc_stats;

extern const double arc_duration_bounds[ARC_NBOUNDS];
const char *arc_outcome_name(arc_outcome o);

void arc_stats_init(arc_stats *st, int workers);
void arc_stats_destroy(arc_stats *st);
/* Records one outcome in the ring, and a success's duration in the histogram. req is
 * NULL when the request could not be parsed. */
void arc_stats_record(arc_stats *st, const bus_request *req, arc_outcome o, int worker, int64_t rows,
                      int64_t bytes, double dur, const char *error);

/* The dependency probe's findings (health.c). */
typedef struct arc_findings {
    int64_t at_us; /* when the last probe finished; 0: none yet */
    bool pg_ok, redis_ok, lake_ok, stream_ok;
    char pg_err[256], redis_err[256], lake_err[256];
    long long stream_len, pending;
    char lake_location[300];
} arc_findings;

typedef struct arc_health {
    pthread_mutex_t mu;
    arc_findings f; /* under mu */
} arc_health;

/* A copy of the last findings; findings older than a few probe periods (the probe is
 * stuck on a frozen server) are reported as unreachable. */
void arc_health_get(arc_service *s, arc_findings *out);

struct arc_service {
    const ts_config *cfg;
    int64_t started_us;
    double started_mono;
    arc_stats st;
    arc_health health;
    struct arc_worker *workers;
    int nworkers;
    pthread_t probe;
    bool probe_started;
    atomic_int probe_stop;
    /* worker 0 has adopted the earlier layout's objects (or could not look): the others
     * take requests only then, so none exports afresh a chunk being adopted */
    atomic_int adopt_done;
    char group[BUS_CLUSTER_MAX + BUS_NAME_MAX + 16]; /* as the probe last saw it */
    http_server *_Atomic http;
    http_route routes[8];
};

/* One worker's connections and identity. */
typedef struct arc_worker {
    arc_service *svc;
    int index;
    char consumer[128];
    PGconn *pg;
    lake *lk;
    obj_tables *tables; /* the Delta tables this worker has loaded */
    bus *b;
    char cluster[BUS_CLUSTER_MAX + 1];
    char database[BUS_NAME_MAX + 1];
    char group[BUS_CLUSTER_MAX + BUS_NAME_MAX + 16];
    pthread_t thread;
    int rc;
} arc_worker;

/* The consumer group of the archivers of one database: "archivers:<cluster>/<db>".
 * Every database on a shared Redis has its own group on the shared stream, so each
 * sees every request and handles only its own. */
void arc_group_name(const char *cluster, const char *database, char *out, size_t len);

/* Takes or releases the session advisory lock that makes one worker at a time work on
 * a chunk (archive.c). */
int arc_chunk_lock(PGconn *pg, const char *schema, const char *name, bool take,
                   ts_err *err) TS_MUSTCHECK;

/* Whether chunk schema.name still holds exactly the rows proof was made from, in a
 * read-only snapshot (the retention service checks again under the chunk's lock): 0
 * when it does; TS_ERR_CONFLICT when it does not, or the chunk is gone (or proof is
 * NULL); another code when the database could not say (archive.c). */
int arc_chunk_unchanged(PGconn *pg, const char *schema, const char *name, const char *proof);

/* Adopts the objects the earlier layout wrote for this worker's database into their
 * tables (adopt.c). */
void arc_adopt_legacy(arc_worker *w);

/* Handles one request entry: parse (dead-letter garbage), skip another database's,
 * archive, confirm, ack. Returns 0 when the entry is settled (acked). */
int arc_handle_entry(arc_worker *w, const bus_msg *m);

/* Opens the lake the config names (lake_options_from_config + lake_open). */
int arc_open_lake(const ts_config *cfg, bool create, lake **out, ts_err *err) TS_MUSTCHECK;
/* A bus for the config's Redis; retry_ms 0 for a quick probe. */
int arc_open_bus(const ts_config *cfg, const char *client, bool quick, bus **out,
                 ts_err *err) TS_MUSTCHECK;

/* The endpoints (http.c). */
void arc_http_start(arc_service *s);
void arc_http_stop(arc_service *s);
/* The dependency probe thread (health.c). */
int arc_probe_start(arc_service *s, ts_err *err) TS_MUSTCHECK;
void arc_probe_stop(arc_service *s);

#endif
