/* retention.h: the retention service (the original specification's Database Service).
 *
 * The service (service.c) finds expired chunks every retention_check_interval_hours,
 * requests their archival on Redis (at most archival_batch_size out at once), judges
 * the confirmations, and drops a chunk only after its archive is verified and the
 * chunk is proven unchanged, in one transaction under the chunk's lock; it serves
 * /database/retention/status, /database/retention/trigger-archival, /metrics,
 * /healthz and /readyz (http.c). One instance per database is active, others stand by.
 *
 * The decisions (decide.c) are transport-free: requests leave through a callback and
 * confirmations come in as structs, so tests drive them without Redis. */
#ifndef TS_RETENTION_H
#define TS_RETENTION_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/event.h"
#include "common/config.h"
#include "common/err.h"
#include "lake/lake.h"

/* ---- the service ---- */

typedef struct ret_run_options {
    bool once;         /* one check, then wait until every request settles */
    const char *table; /* only tables matching this glob (with once) */
} ret_run_options;

/* Runs the retention service until a stop is asked for (common/runctl.h) or, with
 * once, until nothing is left to wait for. *exit_code gets 0, or 4 (TS_EXIT_PARTIAL
 * in cli/commands.h) when once ends with expired chunks left. Returns 0, or an error
 * that ended the service. */
int ret_service_run(const ts_config *cfg, const ret_run_options *o, int *exit_code,
                    ts_err *err) TS_MUSTCHECK;

/* ---- the decisions ---- */

typedef struct ret ret;

/* Sends one request; 0 when it is durably queued. */
typedef int (*ret_publish_fn)(void *ud, const bus_request *req, ts_err *err);

typedef struct ret_counts {
    int64_t requested, confirmed_ok, confirmed_failed, dropped, rearchived, dead, skipped;
    int64_t rows_dropped, bytes_archived, foreign, drops_held, drop_failures;
    /* expired chunks held back by a continuous aggregate (each time a check or a drop
     * found one held); skipped counts chunks whose expiry cannot be decided */
    int64_t held;
    /* after the last check: expired chunks the batch limit kept back; the service
     * checks again as soon as a request settles while there are any */
    int64_t backlog;
} ret_counts;

/* Connects nothing: pg and lk are the caller's and must outlive r. Migrates the
 * tsarchive schema and learns the cluster's identity (object.h). */
int ret_new(ret **out, const ts_config *cfg, PGconn *pg, lake *lk, ret_publish_fn publish,
            void *publish_ud, ts_err *err) TS_MUSTCHECK;
void ret_free(ret *r);
/* The database and cluster this instance serves. */
const char *ret_database(const ret *r);
const char *ret_cluster(const ret *r);

/* Whether an event names this instance's database (and cluster, when it names one):
 * another database's events on a shared stream are left to its own service. */
bool ret_is_ours(const ret *r, const char *cluster, const char *database);

/* One retention check: requests archival of expired chunks that have no active
 * request, up to the batch limit; also re-requests chunks whose retry time came, and
 * republishes requests still out: all of them when republish is true (after a
 * restart), else those out longer than a check interval (the archiver is idempotent).
 * A chunk whose request cannot be built or sent for a reason of its own (a range
 * outside years 1-9999, a name that is not valid UTF-8) is marked dead with the
 * reason, and the others are still requested. *requested (may be NULL) gets how many
 * requests were sent. With lakehouse_enabled false it only reports. */
int ret_check_once(ret *r, bool republish, const char *table_glob, int *requested,
                   ts_err *err) TS_MUSTCHECK;

/* Re-requests the chunks whose retry time has come (after a failed attempt's
 * backoff), within the batch limit: cheap enough to call every second. */
int ret_retry_due(ret *r, ts_err *err) TS_MUSTCHECK;

/* Judges one confirmation: on success verifies the object and drops the chunk (or
 * keeps it and re-archives on any mismatch); on failure schedules a retry with
 * backoff or, past max_attempts, marks it dead. Drops are held (the chunk stays
 * archived) while lakehouse_enabled is false or the table is disabled. Returns 0 when
 * the confirmation is fully handled (it may be acked), negative when it should be seen
 * again (database or lake unreachable). Another database's confirmation is 0 and
 * changes nothing. */
int ret_on_confirmation(ret *r, const bus_confirmation *conf, ts_err *err) TS_MUSTCHECK;

/* Tries the drops that are due: archived chunks not dropped yet (a lock timeout, a
 * failed transaction), each with a backoff of its own. */
int ret_retry_drops(ret *r, ts_err *err) TS_MUSTCHECK;

/* Chunks this service still waits on: requested, archived or retrying. */
int ret_pending(ret *r, int64_t *n, ts_err *err) TS_MUSTCHECK;
const ret_counts *ret_get_counts(const ret *r);

#endif
