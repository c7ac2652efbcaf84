/* archive.h: one archival request, start to finish: find the chunk, stream it out of
 * PostgreSQL into the lake as Parquet (no temp file), read the object back and verify
 * it, and fill the confirmation. Shared by the archival service and by the retention
 * service's verification of a confirmation. */
#ifndef TS_ARC_ARCHIVE_H
#define TS_ARC_ARCHIVE_H

#include <libpq-fe.h>

#include "bus/event.h"
#include "common/config.h"
#include "common/err.h"
#include "lake/lake.h"

/* Archives req's chunk. Always fills conf (the caller clears it): status success with
 * rows, bytes, object URL, MD5 and proof; or failure with the reason. Returns 0 when a
 * confirmation (success or failure) is ready to send, or a negative code when the
 * work could not be judged (the connection to PostgreSQL or the lake broke) and the
 * request should be retried by this or another worker. A repeated request for an
 * archived, unchanged chunk confirms without rewriting the object. */
int arc_archive(const ts_config *cfg, PGconn *pg, lake *lk, const bus_request *req,
                bus_confirmation *conf, ts_err *err) TS_MUSTCHECK;

/* The lake path of a chunk (DESIGN.md's layout); ts_free() it. */
char *arc_object_path(const char *database, const bus_chunk *ch);

/* Reads the object's footer from the lake and checks it against what a confirmation
 * claims: size, MD5, row count, and the proof stored in its metadata. *proof_out
 * (may be NULL) receives the proof found in the file (ts_free it). TS_ERR_CONFLICT
 * names the first difference; TS_ERR_NOTFOUND when the object is gone. */
int arc_verify_object(lake *lk, const char *path, int64_t rows, int64_t bytes, const char *md5_hex,
                      char **proof_out, ts_err *err) TS_MUSTCHECK;

/* The proof as the confirmation carries it: {"chunk":"<pg proof>"} and back. */
char *arc_proof_json(const char *chunk_proof);
int arc_proof_from_json(const char *json, char *out, size_t len, ts_err *err) TS_MUSTCHECK;

#endif
