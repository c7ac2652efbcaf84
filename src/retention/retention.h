/* retention.h: the retention service's logic: find expired chunks and request their
 * archival (at most archival_batch_size in flight), judge confirmations, and drop a
 * chunk only after its archive is verified and the chunk is proven unchanged, in one
 * transaction under the chunk's lock. Transport-free: requests leave through a
 * callback and confirmations come in through ret_on_confirmation, so the loop that
 * talks to Redis (cmd_run.c) stays thin and this stays testable. */
#ifndef TS_RETENTION_H
#define TS_RETENTION_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/event.h"
#include "common/config.h"
#include "common/err.h"
#include "lake/lake.h"

typedef struct ret ret;

/* Sends one request; 0 when it is durably queued. */
typedef int (*ret_publish_fn)(void *ud, const bus_request *req, ts_err *err);

typedef struct ret_counts {
    int64_t requested, confirmed_ok, confirmed_failed, dropped, rearchived, dead, skipped;
    int64_t rows_dropped, bytes_archived;
    /* after the last check: expired chunks the batch limit kept back; the service
     * checks again as soon as a request settles while there are any */
    int64_t backlog;
} ret_counts;

/* Connects nothing: pg and lk are the caller's and must outlive r. Migrates the
 * tsarchive schema. */
int ret_new(ret **out, const ts_config *cfg, PGconn *pg, lake *lk, ret_publish_fn publish,
            void *publish_ud, ts_err *err) TS_MUSTCHECK;
void ret_free(ret *r);

/* One retention check: requests archival of expired chunks that have no active
 * request, up to the batch limit; also re-requests chunks whose retry time came, and
 * republishes requests still out: all of them when republish is true (after a
 * restart), else those out longer than a check interval (the archiver is idempotent). *requested (may be NULL) gets how many requests were sent. With
 * lakehouse_enabled false it only reports. */
int ret_check_once(ret *r, bool republish, const char *table_glob, int *requested,
                   ts_err *err) TS_MUSTCHECK;

/* Re-requests the chunks whose retry time has come (after a failed attempt's
 * backoff), within the batch limit: cheap enough to call every second. */
int ret_retry_due(ret *r, ts_err *err) TS_MUSTCHECK;

/* Judges one confirmation: on success verifies the object and drops the chunk (or
 * keeps it and re-archives on any mismatch); on failure schedules a retry with
 * backoff or, past max_attempts, marks it dead. Returns 0 when the confirmation is
 * fully handled (it may be acked), negative when it should be seen again (database
 * or lake unreachable). */
int ret_on_confirmation(ret *r, const bus_confirmation *conf, ts_err *err) TS_MUSTCHECK;

/* Retries drops that could not take the chunk's lock in time. */
int ret_retry_drops(ret *r, ts_err *err) TS_MUSTCHECK;

/* Chunks this service still waits on: requested, archived or retrying. */
int ret_pending(ret *r, int64_t *n, ts_err *err) TS_MUSTCHECK;
const ret_counts *ret_get_counts(const ret *r);

#endif
