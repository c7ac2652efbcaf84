/* state.h: the retention service's durable memory: tsarchive.archival_events, one row
 * per chunk, created and migrated by the service. A chunk is in at most one active
 * state at a time, so it is never requested twice at once, and a restart resumes
 * from the table. */
#ifndef TS_RET_STATE_H
#define TS_RET_STATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

/* requested: a request is out; archived: a success confirmation was verified and the
 * drop is pending; dropped: done; retrying: waiting for next_attempt_at; dead: gave up
 * after max attempts (the chunk is kept); disabled-by-config chunks never get a row. */
#define RET_REQUESTED "requested"
#define RET_ARCHIVED "archived"
#define RET_DROPPED "dropped"
#define RET_RETRYING "retrying"
#define RET_DEAD "dead"

typedef struct ret_event {
    char event_id[37];
    char chunk_schema[128], chunk_name[128];
    char table_schema[128], table_name[128];
    char range_start[40], range_end[40];
    char source[16];
    char state[16];
    int attempts;
    int64_t rows, bytes;
    char object[1024];
    char checksum[64];
    char proof[160];
    char error[512];
} ret_event;

/* Creates the tsarchive schema and its tables, or migrates them to the current
 * version, under an advisory lock so two services do not race. */
int ret_state_migrate(PGconn *c, ts_err *err) TS_MUSTCHECK;

/* Records a new request for a chunk, or re-arms an existing row (retrying, dropped
 * and re-created) with a fresh event id and attempts + 1 (attempts = 1 when reset).
 * TS_ERR_CONFLICT when the chunk already has an active request (requested or
 * archived). Fills ev with the stored row. */
int ret_state_request(PGconn *c, const char *database, const char *table_schema,
                      const char *table_name, const char *chunk_schema, const char *chunk_name,
                      const char *range_start, const char *range_end, const char *source,
                      bool reset_attempts, ret_event *ev, ts_err *err) TS_MUSTCHECK;

/* Loads the row of an event id; TS_ERR_NOTFOUND when none (a stale confirmation). */
int ret_state_get(PGconn *c, const char *event_id, ret_event *ev, ts_err *err) TS_MUSTCHECK;

/* Moves event_id from state `from` to `to`, setting the confirmation fields that are
 * non-NULL / >= 0. TS_ERR_CONFLICT when the row is not in state `from` any more. */
int ret_state_move(PGconn *c, const char *event_id, const char *from, const char *to,
                   int64_t rows, int64_t bytes, const char *object, const char *checksum,
                   const char *proof, const char *error, int retry_after_s, ts_err *err) TS_MUSTCHECK;

/* Number of chunks with a request out (requested or archived). */
int ret_state_in_flight(PGconn *c, int64_t *n, ts_err *err) TS_MUSTCHECK;

/* Current state of a chunk ("" when it has no row). */
int ret_state_of_chunk(PGconn *c, const char *chunk_schema, const char *chunk_name, char *state,
                       size_t len, ts_err *err) TS_MUSTCHECK;

#endif
