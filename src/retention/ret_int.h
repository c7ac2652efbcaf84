/* ret_int.h: what the retention service's loop (service.c) and its endpoints
 * (http.c) share: the loop's published state, the trigger handshake, and the table
 * snapshot a thread of the endpoints keeps fresh. Handlers run on libmicrohttpd
 * threads: every field is guarded by the mutex named next to it. Not for use outside
 * src/retention/. */
#ifndef TS_RET_INT_H
#define TS_RET_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/event.h"
#include "common/config.h"
#include "http/http.h"
#include "retention.h"

#define RET_TRIGGER_TIMEOUT_S 120 /* a trigger waits this long for the loop */
#define RET_SNAPSHOT_PERIOD_S 2   /* the table snapshot is refreshed this often */
#define RET_TRIM_PERIOD_S 30      /* settled stream entries are trimmed this often */

enum { RET_PHASE_STARTING = 0, RET_PHASE_STANDBY, RET_PHASE_ACTIVE, RET_PHASE_STOPPED };
extern const char *const ret_phase_names[];

/* One table in the status. */
typedef struct ret_table_snap {
    char table[2 * BUS_NAME_MAX + 2];
    int retention_days;
    long long chunks, expired, by_state[6]; /* by_state indexed by ret_state */
    double oldest_expired_age_s;            /* since the oldest chunk still here expired; -1: none */
    char oldest_expired_chunk[2 * BUS_NAME_MAX + 2];
    /* chunks never archived as things stand (expiry undecidable, range unbounded) */
    long long skipped;
    char skip_reason[300]; /* the first one's */
    /* expired chunks a continuous aggregate holds back, and the one held longest */
    long long held;
    char held_by[2 * BUS_NAME_MAX + 2]; /* the aggregate */
    char hold_reason[512];
    int64_t held_until_us; /* 0: no end known */
    /* DEFAULT partitions: never dropped; their expired rows (counted every
     * RET_DEFAULT_COUNT_S); -1: none, or not counted yet */
    int defaults;
    long long default_expired_rows;
} ret_table_snap;

#define RET_DEFAULT_COUNT_S 300 /* DEFAULT partitions are scanned this often */

typedef struct ret_shared {
    const ts_config *cfg;
    int64_t started_us;
    double started_mono;

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

    /* the snapshot of the tables, refreshed by its own thread and connection */
    pthread_mutex_t snap_mu;
    int64_t snap_at_us; /* 0: none yet */
    bool snap_ok;
    char snap_err[300];
    ret_table_snap *snap;
    int nsnap;
    pthread_t snap_thread;
    bool snap_started;
    atomic_int snap_stop;

    _Atomic(http_server *) http;
    http_route routes[8];
} ret_shared;

/* Endpoints and the snapshot thread (http.c). */
int ret_http_start(ret_shared *sh, ts_err *err) TS_MUSTCHECK;
void ret_http_stop(ret_shared *sh);

#endif
