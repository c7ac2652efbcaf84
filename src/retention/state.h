/* state.h: the retention service's durable memory, tsarchive.archival_events: one row
 * per chunk, created and migrated by the service. Every query on the table lives in
 * state.c. A chunk is in at most one active state at a time, so it is never requested
 * twice at once, and a restart resumes from the table. */
#ifndef TS_RET_STATE_H
#define TS_RET_STATE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

/* requested: a request is out; archived: a success confirmation was verified and the
 * drop is pending; dropped: done; retrying: waiting for next_attempt_at; dead: given
 * up on (after max attempts, or a chunk that cannot be requested at all); the chunk is
 * kept. Chunks of disabled tables never get a row. */
typedef enum {
    RET_NONE = 0, /* no row */
    RET_REQUESTED,
    RET_ARCHIVED,
    RET_DROPPED,
    RET_RETRYING,
    RET_DEAD,
} ret_state;
#define RET_NSTATES 6

/* "requested", ...; "" for RET_NONE. */
const char *ret_state_name(ret_state s);
/* The state named s; RET_NONE when unknown. */
ret_state ret_state_parse(const char *s);

typedef struct ret_event {
    char event_id[37];
    char chunk_schema[128], chunk_name[128];
    char table_schema[128], table_name[128];
    char range_start[40], range_end[40];
    char source[16];
    ret_state state;
    int attempts;
    int64_t rows, bytes; /* -1 when unknown */
    char object[1024];
    char checksum[64];
    char proof[160];
    char error[512];
    int drop_attempts; /* failed drop transactions since the archive was verified */
    char etag[80];     /* the object's entity tag when it was read back; "" unknown */
    char time_unit[16]; /* integer ranges: the column's unit ("seconds", ...); "" for time
                           ranges (range_start and range_end are RFC 3339 then) */
} ret_event;

/* A state change: from -> to, and the fields to set. */
typedef struct ret_change {
    ret_state from, to;
    int64_t rows, bytes;                      /* -1: unchanged */
    const char *object, *checksum, *proof;    /* NULL: unchanged */
    const char *etag;                         /* the object's, as read back; NULL: unchanged */
    const char *error;                        /* the row's error (NULL clears it) */
    int retry_after_s;                        /* next_attempt_at = now + this; -1: none */
} ret_change;

/* A change with every field unchanged and no retry time. */
#define RET_CHANGE(f, t) \
    ((ret_change){.from = (f), .to = (t), .rows = -1, .bytes = -1, .retry_after_s = -1})

/* A list of event ids. */
typedef struct ret_ids {
    char (*v)[37];
    int n;
} ret_ids;
void ret_ids_free(ret_ids *ids);

/* Creates the tsarchive schema and its tables, or migrates them to the current
 * version, under an advisory lock so two services do not race. */
int ret_state_migrate(PGconn *c, ts_err *err) TS_MUSTCHECK;

/* Whether the state table exists yet (it appears with the first active service). */
int ret_state_exists(PGconn *c, bool *exists, ts_err *err) TS_MUSTCHECK;

/* Takes the session advisory lock that makes one retention service active per
 * database, without waiting; *leader tells whether it was granted. */
int ret_state_try_lead(PGconn *c, bool *leader, ts_err *err) TS_MUSTCHECK;

/* The chunk to request: its identity and range. */
typedef struct ret_chunk_ref {
    const char *database, *table_schema, *table_name, *chunk_schema, *chunk_name;
    const char *range_start, *range_end, *source;
    const char *time_unit; /* integer ranges: the column's unit; NULL or "" for time ranges */
} ret_chunk_ref;

/* Records a new request for a chunk, or re-arms an existing row (retrying, dropped
 * and re-created) with a fresh event id and attempts + 1 (attempts = 1 when reset).
 * TS_ERR_CONFLICT when the chunk already has an active request (requested or
 * archived), or is dead and reset is false. Fills ev with the stored row. */
int ret_state_request(PGconn *c, const ret_chunk_ref *ch, bool reset_attempts, ret_event *ev,
                      ts_err *err) TS_MUSTCHECK;

/* Loads the row of an event id; TS_ERR_NOTFOUND when none (a stale confirmation). */
int ret_state_get(PGconn *c, const char *event_id, ret_event *ev, ts_err *err) TS_MUSTCHECK;

/* Applies ch to event_id. TS_ERR_CONFLICT when the row is not in state ch->from. */
int ret_state_move(PGconn *c, const char *event_id, const ret_change *ch, ts_err *err) TS_MUSTCHECK;

/* How a failed or held drop counts against the chunk (drop_attempts). */
typedef enum {
    RET_DROP_HOLD,   /* held (archiving switched off): not counted */
    RET_DROP_COUNT,  /* one more failed try */
    RET_DROP_GIVE_UP /* cannot succeed without an operator (no privilege): counted as
                      * max_attempts at once, so `--once` stops waiting for it */
} ret_drop_count;

/* A drop transaction failed (lock timeout, a database error), or the drop is held:
 * keeps the reason, counts it as how says (max_attempts for RET_DROP_GIVE_UP), and
 * schedules the next try after backoff_s. The service keeps trying in every case. */
int ret_state_drop_failed(PGconn *c, const char *event_id, const char *why, int backoff_s,
                          ret_drop_count how, int max_attempts, ts_err *err) TS_MUSTCHECK;

/* Every deferred drop due now (at start). */
int ret_state_drops_due_now(PGconn *c, ts_err *err) TS_MUSTCHECK;

/* Archived chunks whose drop failed max_attempts times or more (or cannot succeed
 * without an operator): up to cap of them, "schema.name: error" each, into out. */
int ret_state_stuck_drops(PGconn *c, int max_attempts, int cap, char ***out, int *n,
                          ts_err *err) TS_MUSTCHECK;

/* Number of chunks with a request out (requested or archived). */
int ret_state_in_flight(PGconn *c, int64_t *n, ts_err *err) TS_MUSTCHECK;
/* Chunks the service still waits on: requested, retrying, or archived with fewer than
 * max_attempts failed drops. */
int ret_state_pending(PGconn *c, int max_attempts, int64_t *n, ts_err *err) TS_MUSTCHECK;
/* Rows in one state. */
int ret_state_count(PGconn *c, ret_state s, int64_t *n, ts_err *err) TS_MUSTCHECK;

/* Current state of a chunk (RET_NONE when it has no row). */
int ret_state_of_chunk(PGconn *c, const char *chunk_schema, const char *chunk_name,
                       ret_state *state, ts_err *err) TS_MUSTCHECK;

/* Requests out longer than age_s: their requested_at is set to now and their ids
 * returned (the service publishes them again). */
int ret_state_touch_outstanding(PGconn *c, int age_s, ret_ids *ids, ts_err *err) TS_MUSTCHECK;
/* Retrying chunks whose next attempt is due, oldest first. */
int ret_state_due_retries(PGconn *c, ret_ids *ids, ts_err *err) TS_MUSTCHECK;
/* Archived chunks whose drop is due (never tried, or its backoff is over), the ones
 * that failed least often first, so one chunk that keeps failing never starves the
 * others. */
int ret_state_due_drops(PGconn *c, ret_ids *ids, ts_err *err) TS_MUSTCHECK;

/* Per table and state: how many rows. fn is called for each (table "schema.name"). */
typedef void (*ret_state_count_fn)(void *ud, const char *table, ret_state s, int64_t n);
int ret_state_summary(PGconn *c, ret_state_count_fn fn, void *ud, ts_err *err) TS_MUSTCHECK;

/* Every chunk's state with its attempts, for `tsarchive chunks`. fn is called for each
 * row; an absent state table calls nothing. */
typedef void (*ret_state_chunk_fn)(void *ud, const char *chunk_schema, const char *chunk_name,
                                   ret_state s, int attempts, const char *error);
int ret_state_chunks(PGconn *c, ret_state_chunk_fn fn, void *ud, ts_err *err) TS_MUSTCHECK;

#endif
