/* archiver.h: the archival service (the original specification's Archival Service).
 * Workers read archival requests from Redis, export each chunk with binary COPY into
 * a new write-once Parquet object in the lake, verify it, and publish a confirmation;
 * the service serves /archival/status, /archival/events, /archival/metrics, /metrics,
 * /healthz and /readyz. Any number of processes on any number of machines share the
 * work. arc_archive is the decision for one request, callable without Redis (tests). */
#ifndef TS_ARCHIVER_H
#define TS_ARCHIVER_H

#include <libpq-fe.h>

#include "bus/event.h"
#include "common/config.h"
#include "common/err.h"
#include "lake/lake.h"
#include "object/object.h"

typedef struct arc_service arc_service;

/* Starts cfg->archiver.workers workers and the endpoints. Workers stop when
 * ts_run_stopping() (common/runctl.h) turns true. */
int arc_service_start(const ts_config *cfg, arc_service **out, ts_err *err) TS_MUSTCHECK;
/* Waits for the workers to stop, then stops the endpoints and frees s. Returns 0, or
 * the error of a worker that could not start. NULL is a no-op. */
int arc_service_join(arc_service *s);

/* Archives req's chunk, over pg (the chunk's database) into lk, and commits it to its
 * table's Delta log (tables: the caller's cache of loaded tables; NULL: none kept).
 * cluster is this database cluster's identity (object.h). Always fills conf (the caller clears it):
 * status success with rows, bytes, object URL, MD5 and proof; or failure with the
 * reason. Returns 0 when a confirmation (success or failure) is ready to send, or a
 * negative code when the work could not be judged (PostgreSQL went away, a stop was
 * asked for) and the request should be retried by this or another worker. A request
 * for a chunk whose archived version still holds exactly its rows confirms that
 * version without writing another. */
int arc_archive(const ts_config *cfg, PGconn *pg, lake *lk, obj_tables *tables, const char *cluster,
                const bus_request *req, bus_confirmation *conf, ts_err *err) TS_MUSTCHECK;

#endif
