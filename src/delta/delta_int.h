/* delta_int.h: what the files of src/delta/ share, and what the unit tests and the
 * fuzzer call directly: the table's state, the action encoders, path encoding, the
 * type map, value formatting. Not for other modules. */
#ifndef TS_DELTA_INT_H
#define TS_DELTA_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "delta/delta.h"
#include "delta/schema.h"
#include "parquet/reader.h"

/* ---- schema ---- */

typedef struct delta_field {
    char *name;
    json_t *type;    /* a string (primitive) or an object (struct, array, map) */
    char *type_text; /* the primitive's name, or the compact JSON of the object */
    bool nullable;
    json_t *metadata; /* an object */
    char *pg_type;    /* metadata[DELTA_META_PG_TYPE] when a string, else NULL */
} delta_field;

struct delta_schema {
    int n;
    delta_field *f;
};

/* How a column's statistics are written (stats.c). */
typedef enum {
    DELTA_STAT_NONE = 0, /* nullCount only (boolean, binary) */
    DELTA_STAT_INT,
    DELTA_STAT_FLOAT,
    DELTA_STAT_DOUBLE,
    DELTA_STAT_DECIMAL,
    DELTA_STAT_DATE,
    DELTA_STAT_TIMESTAMP, /* UTC: "...Z" */
    DELTA_STAT_TIMESTAMP_NTZ,
    DELTA_STAT_STRING,
} delta_stat_kind;

/* The type map (schema.c: one table, one function). For the primitive of spec (its
 * element for a list), fills name (e.g. "long", "decimal(12,2)") and *kind. Returns 0,
 * or TS_ERR_UNSUPPORTED with err naming column and type. */
int delta_map_type(const pq_column_spec *spec, char *name, size_t namesz, delta_stat_kind *kind,
                   ts_err *err) TS_MUSTCHECK;

/* ---- values ---- */

/* "2024-01-31T12:34:56.789Z" (utc) or "2024-01-31T12:34:56.789" from microseconds since
 * 1970, rounded down to the millisecond (round_up: up). -1 outside years 1..9999. */
int delta_format_timestamp(int64_t us, bool utc, bool round_up, char *out, size_t outsz);
/* "2024-01-31" from days since 1970; -1 outside years 1..9999. */
int delta_format_date(int64_t days, char *out, size_t outsz);
/* The shortest "%.*g" text of d that reads back as d, always with a '.' or an
 * exponent ("1.0"). d must be finite. */
void delta_format_double(double d, char *out, size_t outsz);
/* Appends s (len bytes) as a JSON string (quotes included). s must be valid UTF-8. */
int delta_json_string(ts_buf *b, const char *s, size_t len) TS_MUSTCHECK;
/* Length of the valid UTF-8 prefix of s that holds at most `units` UTF-16 code units,
 * extended to the end of a surrogate pair as Spark does; -1 when the bytes examined
 * are not valid UTF-8. *more: the string goes on after it. */
long delta_utf8_prefix(const uint8_t *s, size_t len, int units, bool *more);
/* The string bounds of stats.c: min: a prefix (a lower bound); max: Spark's
 * truncateMaxStringAgg on UTF-8 (prefix + U+007F or U+10FFFF, an upper bound). Each
 * appends the JSON string to b, or returns 1 (nothing appended) when no bound can be
 * written (invalid UTF-8, too long to bound). */
int delta_string_min(ts_buf *b, const uint8_t *s, size_t len, int prefix) TS_MUSTCHECK;
int delta_string_max(ts_buf *b, const uint8_t *s, size_t len, int prefix) TS_MUSTCHECK;

/* ---- paths ---- */

/* The add/remove path of a file: RFC 2396 escaping of every byte outside
 * [A-Za-z0-9-_.~/=] as %XX (so spaces, '%', ':', '+' and non-ASCII bytes are
 * escaped). ts_free it; NULL on no memory. */
char *delta_uri_encode(const char *path);
/* Decodes %XX escapes; TS_ERR_FORMAT for a bad escape or a NUL byte. *out: ts_free. */
int delta_uri_decode(const char *s, char **out, ts_err *err) TS_MUSTCHECK;
/* Checks a decoded data-file path: a relative lake path (lake_path_check), no scheme
 * ("abfss:..."), no directory component starting with '_' or '.'. */
int delta_path_check(const char *path, ts_err *err) TS_MUSTCHECK;

/* ---- actions (action.c): new JSON objects in the order Spark writes the fields ---- */

json_t *delta_action_protocol(const delta_protocol *p);
/* configuration: borrowed (NULL = {}); created_ms < 0: no createdTime. */
json_t *delta_action_metadata(const char *id, const char *schema_string, int64_t created_ms,
                              json_t *configuration);
json_t *delta_action_add(const char *raw_path, int64_t size, int64_t mtime_ms, const char *stats,
                         const delta_kv *tags, int ntags);
json_t *delta_action_remove(const char *raw_path, int64_t deletion_ms, int64_t size);
/* params: borrowed (NULL = {"mode":"Append","partitionBy":"[]"}). */
json_t *delta_action_commit_info(int64_t ts_ms, const char *operation, json_t *params,
                                 bool blind_append, const char *txn_id);
/* Appends the action as one compact JSON line and frees it (NULL: TS_ERR_NOMEM). */
int delta_line_append(ts_buf *b, json_t *action, ts_err *err) TS_MUSTCHECK;

/* A random UUID v4 ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"). */
int delta_uuid(char out[37], ts_err *err) TS_MUSTCHECK;
int64_t delta_now_ms(void);
/* "<root>/_delta_log/%020lld.json" (no leading '/' when root is ""). ts_free it. */
char *delta_commit_path(const char *root, int64_t version);

/* ---- the table (log.c) ---- */

typedef struct delta_entry {
    delta_file f; /* strings owned (path, stats, tags) */
    char *raw;    /* the path as the add wrote it (removes repeat it verbatim) */
    bool live;
} delta_entry;

struct delta_table {
    lake *lk;
    char *root;
    delta_options opt;
    bool broken; /* a failure left the state unknown (no memory mid-apply) */
    bool listed; /* the first load (a listing) happened */
    int64_t version;

    /* protocol */
    delta_protocol proto;
    char **rfeat, **wfeat;
    /* metadata */
    json_t *metadata; /* the newest metaData action's object */
    const char *id;   /* in metadata */
    delta_schema *schema;

    /* every path ever added: hash of entries by decoded path */
    delta_entry **ent;
    size_t nent, capent;
    size_t *slots; /* open addressing: index + 1, 0 = empty */
    size_t nslots;
    /* sorted views, rebuilt after each change */
    delta_entry **live, **dead;
    size_t nlive, ndead;

    /* commitInfo.txnId of each version (NULL when none) */
    char **txn_ids;
    size_t captxn;
};

/* A table with no lake (unit tests, the fuzzer): only delta_log_apply feeds it. */
int delta_table_new_detached(const char *root, delta_table **out, ts_err *err) TS_MUSTCHECK;
/* Validates the commit text as version t->version + 1, then applies it. On failure
 * nothing is applied (TS_ERR_FORMAT / TS_ERR_UNSUPPORTED name the version and line). */
int delta_log_apply(delta_table *t, const char *data, size_t len, ts_err *err) TS_MUSTCHECK;
/* The live entry at a decoded path, or NULL. */
delta_entry *delta_table_lookup(const delta_table *t, const char *path);
/* Whether tsarchive may write t (its protocol, writer features and settings) with a
 * commit that removes files or not: 0, or TS_ERR_UNSUPPORTED saying why. */
int delta_write_check(const delta_table *t, bool removes, ts_err *err) TS_MUSTCHECK;
/* The version whose commitInfo.txnId is id, or -1. */
int64_t delta_table_find_txn(const delta_table *t, const char *id);
/* Applies a commit without rebuilding the sorted views (delta_table_sort does). */
int delta_log_apply_one(delta_table *t, const char *data, size_t len, ts_err *err) TS_MUSTCHECK;
int delta_table_sort(delta_table *t, ts_err *err) TS_MUSTCHECK;

#endif
