/* event.h: the event JSON codec (DESIGN.md "Events"): archival requests and
 * confirmations, event ids (UUID v4), RFC 3339 UTC times. Parsing is strict and safe
 * on hostile input: every rejection is TS_ERR_INVALID (TS_ERR_TOOBIG for an oversize
 * payload) with a reason naming the field, fit for a dead-letter entry. */
#ifndef TS_BUS_EVENT_H
#define TS_BUS_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define BUS_EVENT_VERSION 1
#define BUS_EVENT_MAX_BYTES (64 * 1024) /* cap on one encoded event */
#define BUS_NAME_MAX 63                 /* PostgreSQL identifiers: NAMEDATALEN - 1 */
#define BUS_CLUSTER_MAX 63              /* the cluster's identity (object.h) */
#define BUS_EVENT_ID_LEN 36             /* canonical UUID text */
#define BUS_TIME_MAX 40                 /* room for any value of a range or time field */
#define BUS_OBJECT_MAX 4096             /* lake URL */
#define BUS_CHECKSUM_MAX 256
#define BUS_ERROR_MAX 4096              /* longer error texts are cut on encode */

typedef enum { BUS_RANGE_TIMESTAMP = 0, BUS_RANGE_INTEGER = 1 } bus_range_kind;
typedef enum { BUS_SOURCE_TIMESCALEDB = 0, BUS_SOURCE_PARTITION = 1 } bus_chunk_source;
typedef enum { BUS_STATUS_SUCCESS = 0, BUS_STATUS_FAILURE = 1 } bus_status;

/* One chunk (or native partition). JSON:
 *   {"hypertable_schema", "hypertable", "chunk_schema", "chunk_name",
 *    "range_kind": "timestamp"|"integer", "range_start", "range_end",
 *    "source": "timescaledb"|"partition"}
 * range_start/range_end are strings: RFC 3339 UTC for "timestamp" (microsecond
 * precision), a decimal int64 for "integer" (integer-time hypertables). Start is
 * inclusive, end exclusive, start < end. */
typedef struct bus_chunk {
    char hypertable_schema[BUS_NAME_MAX + 1];
    char hypertable[BUS_NAME_MAX + 1];
    char chunk_schema[BUS_NAME_MAX + 1];
    char chunk_name[BUS_NAME_MAX + 1];
    bus_range_kind range_kind;
    int64_t range_start; /* TIMESTAMP: microseconds since 1970-01-01 UTC; INTEGER: the value */
    int64_t range_end;
    bus_chunk_source source;
} bus_chunk;

/* database.archival.request. JSON: {"version": 1, "event_id", "attempt",
 * "requested_at", ["cluster",] "database", "chunk"}. */
typedef struct bus_request {
    char event_id[BUS_EVENT_ID_LEN + 1]; /* lowercase canonical UUID */
    int attempt;                         /* >= 1 */
    int64_t requested_at;                /* microseconds since the epoch, UTC */
    char cluster[BUS_CLUSTER_MAX + 1];   /* optional ("" when absent): which cluster's
                                          * database, for several clusters on one Redis */
    char database[BUS_NAME_MAX + 1];
    bus_chunk chunk;
} bus_request;

/* database.archival.confirmation. JSON: {"version": 1, "event_id", "status",
 * "database", "chunk", "rows", "bytes", "object", "checksum", "error",
 * "archived_at", "proof"}.
 * success: error is null; object and checksum are non-empty; proof is an object.
 * failure: error is a non-empty string; object, checksum and proof may be null.
 * The strings are owned by the struct: release them with bus_confirmation_clear(). */
typedef struct bus_confirmation {
    char event_id[BUS_EVENT_ID_LEN + 1]; /* the request's */
    bus_status status;
    char cluster[BUS_CLUSTER_MAX + 1]; /* optional, as in the request */
    char database[BUS_NAME_MAX + 1];
    bus_chunk chunk;
    int64_t rows;        /* >= 0 */
    int64_t bytes;       /* >= 0 */
    char *object;        /* lake URL, or NULL */
    char *checksum;      /* or NULL */
    char *error;         /* NULL on success */
    int64_t archived_at; /* microseconds since the epoch, UTC */
    char *proof;         /* a JSON object as compact text with sorted keys, or NULL;
                          * opaque to bus/: the PostgreSQL side fills and checks it */
} bus_confirmation;

/* Encodes r as compact JSON. *out (NUL-terminated, *outlen bytes without the NUL)
 * is the caller's, freed with ts_free(). TS_ERR_INVALID when r breaks a rule the
 * parser enforces, so whatever is encoded also parses. */
int bus_request_encode(const bus_request *r, char **out, size_t *outlen, ts_err *err) TS_MUSTCHECK;
/* Parses len bytes (need not be NUL-terminated) into *r. TS_ERR_TOOBIG above
 * BUS_EVENT_MAX_BYTES; TS_ERR_INVALID with the offending field otherwise. */
int bus_request_parse(const char *data, size_t len, bus_request *r, ts_err *err) TS_MUSTCHECK;

/* As bus_request_encode; error texts longer than BUS_ERROR_MAX are cut and invalid
 * UTF-8 or control bytes in them are replaced by '?'. */
int bus_confirmation_encode(const bus_confirmation *c, char **out, size_t *outlen,
                            ts_err *err) TS_MUSTCHECK;
/* As bus_request_parse; on success *c owns its strings (bus_confirmation_clear), on
 * failure *c holds nothing that needs freeing. */
int bus_confirmation_parse(const char *data, size_t len, bus_confirmation *c,
                           ts_err *err) TS_MUSTCHECK;
/* Frees the strings of c and zeroes it; NULL is a no-op. */
void bus_confirmation_clear(bus_confirmation *c);

/* Writes a fresh random UUID v4 (from /dev/urandom) as 36 lowercase chars + NUL. */
int bus_event_id_new(char out[BUS_EVENT_ID_LEN + 1], ts_err *err) TS_MUSTCHECK;
/* 1 when s is a canonical UUID (8-4-4-4-12 hex digits, any case), else 0. */
int bus_event_id_valid(const char *s);


const char *bus_range_kind_name(bus_range_kind k);
const char *bus_chunk_source_name(bus_chunk_source s);
const char *bus_status_name(bus_status s);

#endif
