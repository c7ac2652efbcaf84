/* delta.h: one archived source table as a Delta Lake table in the lake: its transaction
 * log (<root>/_delta_log/NNNNNNNNNNNNNNNNNNNN.json, delta-io/delta PROTOCOL.md) read by
 * incremental replay and written by write-once commits, so any number of writers, on
 * any number of machines, commit to one table and no add is lost or doubled. tsarchive
 * never writes checkpoints and refuses logs that have them. See docs/delta.md. */
#ifndef TS_DELTA_H
#define TS_DELTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "delta/schema.h"
#include "lake/lake.h"

typedef struct delta_table delta_table;
typedef struct delta_txn delta_txn;

/* A string pair (tags, configuration). */
typedef struct delta_kv {
    const char *key;
    const char *value;
} delta_kv;

typedef struct delta_options {
    int max_attempts; /* commit attempts (each lost race is one) before TS_ERR_TIMEOUT (200) */
    int backoff_ms;   /* after a lost race wait a random time up to backoff_ms x the
                         attempt number, at most 20 x backoff_ms (5) */
    size_t max_commit_bytes; /* a larger commit file is refused, read or written (16 MiB) */
    int io_retries;          /* a commit put failing with TS_ERR_IO is tried again this many
                                times (2): safe, as the put is write-once and the same bytes
                                again are success */
} delta_options;

/* Fills o with the defaults above. */
void delta_options_init(delta_options *o);

/* The table's protocol action. */
typedef struct delta_protocol {
    int min_reader, min_writer;
    int nreader_features, nwriter_features;
    const char *const *reader_features; /* only with min_reader 3 */
    const char *const *writer_features; /* only with min_writer 7 */
} delta_protocol;

/* A data file of the table, as the log describes it. All strings belong to the table and
 * stay valid until the next delta_table_refresh, delta_txn_commit or delta_table_free. */
typedef struct delta_file {
    const char *path;          /* relative to the table root, URI-decoded (a lake path
                                  below the root) */
    int64_t size;              /* bytes */
    int64_t modification_time; /* ms since 1970 */
    int64_t version;           /* the commit that added it */
    const char *stats;         /* the add's stats JSON text, or NULL */
    int64_t num_records;       /* stats.numRecords, -1 when unknown */
    int ntags;
    const delta_kv *tags; /* the add's tags */
    /* removed files only (delta_table_removed); -1 otherwise or when not recorded */
    int64_t removed_version;
    int64_t deletion_timestamp; /* ms since 1970 */
} delta_file;

/* A handle on the table at folder root of lk (a lake path, "" for the store's root;
 * lk is borrowed and must outlive the table). No I/O: call delta_table_refresh. opt may
 * be NULL (defaults). A table is used by one thread at a time; *out is the caller's. */
int delta_table_open(lake *lk, const char *root, const delta_options *opt, delta_table **out,
                     ts_err *err) TS_MUSTCHECK;
/* delta_table_open, then delta_table_refresh. */
int delta_table_load(lake *lk, const char *root, const delta_options *opt, delta_table **out,
                     ts_err *err) TS_MUSTCHECK;
/* Brings the table up to the newest version. The first call lists _delta_log/ and reads
 * every commit; later calls only probe the versions after the one known. A table with
 * no commit yet is version -1 (not an error). Refused, with the table left as it was:
 * a checkpoint or _last_checkpoint written by another writer (TS_ERR_UNSUPPORTED, named),
 * a missing version, a protocol or feature tsarchive cannot read (TS_ERR_UNSUPPORTED,
 * named), and any malformed commit (TS_ERR_FORMAT naming the version and the line).
 * Versions read before the failing one stay applied. */
int delta_table_refresh(delta_table *t, ts_err *err) TS_MUSTCHECK;
/* NULL is a no-op. */
void delta_table_free(delta_table *t);

const char *delta_table_root(const delta_table *t);
/* The newest version applied, -1 when the table has no commit. */
int64_t delta_table_version(const delta_table *t);
/* metaData.id, NULL before version 0. */
const char *delta_table_id(const delta_table *t);
/* The current schema, NULL before version 0. Valid until the next refresh or commit. */
const delta_schema *delta_table_schema(const delta_table *t);
/* The current protocol (zeros before version 0). */
const delta_protocol *delta_table_protocol(const delta_table *t);
/* metaData.configuration[key], or NULL. */
const char *delta_table_config(const delta_table *t, const char *key);

/* The live files (added and not removed since), sorted by path. */
size_t delta_table_nfiles(const delta_table *t);
const delta_file *delta_table_file(const delta_table *t, size_t i);
/* The live file at path (decoded, relative to the root), or NULL. */
const delta_file *delta_table_find(const delta_table *t, const char *path);
/* The file at path whether live or removed since (a tombstone the log still holds),
 * or NULL: a path the table has ever named, which a writer never adds again. */
const delta_file *delta_table_find_any(const delta_table *t, const char *path);
/* The removed files (tombstones: removed and not added again), sorted by path. */
size_t delta_table_nremoved(const delta_table *t);
const delta_file *delta_table_removed(const delta_table *t, size_t i);

/* ---- Commits. ---- */

/* One add action: the data file must already be in the lake at <root>/<path>. */
typedef struct delta_add {
    const char *path;          /* relative to the table root, not encoded; no directory
                                  component may start with '_' or '.' */
    int64_t size;              /* bytes */
    int64_t modification_time; /* ms since 1970; 0 = now */
    const char *stats;         /* a JSON object (delta_stats_from_parquet), or NULL */
    const delta_kv *tags;      /* ntags pairs (e.g. tsarchive.chunk, tsarchive.proof) */
    int ntags;
} delta_add;

/* Starts a transaction on t: operation names it in commitInfo (NULL: "WRITE"). Nothing
 * is read or written until delta_txn_commit. t must outlive the transaction. */
int delta_txn_new(delta_table *t, const char *operation, delta_txn **out, ts_err *err) TS_MUSTCHECK;
/* The schema of the data this commit adds (copied). A table's first commit needs one;
 * later ones may grow the table's schema as delta_schema_merge allows, which commits a
 * new metaData (and, for a first timestamp_ntz column, a protocol upgrade). */
int delta_txn_set_schema(delta_txn *tx, const delta_schema *schema, ts_err *err) TS_MUSTCHECK;
/* Adds a file (copied). TS_ERR_INVALID for a bad path, stats that are not a JSON object,
 * or a path this transaction already adds or removes. */
int delta_txn_add(delta_txn *tx, const delta_add *add, ts_err *err) TS_MUSTCHECK;
/* Removes the live file at path (decoded, relative to the root); deletion_timestamp in
 * ms since 1970, 0 = now. The remove carries the file's size (extendedFileMetadata). */
int delta_txn_remove(delta_txn *tx, const char *path, int64_t deletion_timestamp,
                     ts_err *err) TS_MUSTCHECK;
/* Commits as the next version: refreshes the table, checks, writes version N with a
 * write-once put; when another writer took N, reads the new versions and tries N+1.
 * TS_ERR_CONFLICT (the caller decides) when a removed file is not live or an added path
 * already is, in the table as it then is; TS_ERR_INVALID for a schema change other than
 * new nullable columns; TS_ERR_UNSUPPORTED for a table whose protocol, features or
 * settings tsarchive cannot write (e.g. a remove on a delta.appendOnly table);
 * TS_ERR_TIMEOUT after max_attempts lost races. On success *version (may be NULL) is
 * the committed version and t includes it. The transaction carries an id
 * (commitInfo.txnId): calling delta_txn_commit again after an error whose outcome is
 * unknown (a lost response) finds an earlier success and returns its version. */
int delta_txn_commit(delta_txn *tx, int64_t *version, ts_err *err) TS_MUSTCHECK;
/* The commitInfo.txnId of this transaction (a UUID). */
const char *delta_txn_id(const delta_txn *tx);
/* NULL is a no-op. */
void delta_txn_free(delta_txn *tx);

#endif
