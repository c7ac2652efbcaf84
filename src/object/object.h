/* object.h: what an archived object is, for both services: its identity (the table
 * folder unique to cluster, database, schema and table; a name per archived version
 * that no other version can have), the proof it carries, and its verification
 * (the cheap gates: size, MD5, footer, rows, proof). The archiver writes objects by
 * these rules and the retention service checks them by the same rules; neither
 * service includes the other. Knows PostgreSQL only through pg/ and the lake only
 * through lake/. */
#ifndef TS_OBJECT_H
#define TS_OBJECT_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "common/config.h"
#include "common/err.h"
#include "delta/delta.h"
#include "lake/lake.h"

#define OBJ_VID_LEN 16 /* hex characters of a version id */

/* One chunk (or native partition) as the lake names it. Strings are borrowed. */
typedef struct obj_chunk {
    const char *cluster;  /* the cluster's identity (obj_cluster_id) */
    const char *database; /* current_database() */
    const char *table_schema, *table_name;
    const char *chunk_schema, *chunk_name;
    bool integer_range;  /* range in the time column's integers, else microseconds UTC */
    int64_t range_start; /* inclusive */
    int64_t range_end;   /* exclusive */
    ts_time_unit time_unit; /* integer ranges: the column's unit, so the range is named as
                               time too (year=/month= folders, a time-range tag);
                               TS_TIME_UNIT_NONE: unknown */
} obj_chunk;

/* A lake object as a pq_reader's source: pq_reader_open(&r, obj_read_exact, &src, size,
 * ...) with an obj_src that outlives the reader. Reading past the end is TS_ERR_FORMAT. */
typedef struct obj_src {
    lake *lk;
    const char *path;
} obj_src;
int obj_read_exact(void *ctx, uint64_t off, void *dst, size_t len, ts_err *err);

/* The folder of a table's archive: "<cluster>/<database>/<schema>.<table>", each part
 * escaped (every byte outside [A-Za-z0-9_-] as %XX, the dot included), so no two
 * tables of any clusters share a folder. ts_free() it; NULL on no memory. */
char *obj_table_root(const char *cluster, const char *database, const char *schema,
                     const char *table);

/* The folder of one database's tables: "<cluster>/<database>/", escaped as above.
 * ts_free() it. */
char *obj_database_root(const char *cluster, const char *database);

/* The start of every version's name of a chunk:
 * "<root>/year=YYYY/month=MM/<chunk>_<start>_<end>_". A version's path is that plus
 * obj_vid and ".parquet". Integer ranges name their integers; their year and month are
 * those of the start as time when the unit is known, else there is no year=/month=
 * level. ts_free() it; NULL on no memory or an unprintable range. */
char *obj_version_prefix(const obj_chunk *c);

/* The path of one version. ts_free() it. */
char *obj_version_path(const obj_chunk *c, const char *vid);

/* A new version id: OBJ_VID_LEN lowercase hex characters from the export's proof, the
 * time and random bytes, so no two exports share one. out has OBJ_VID_LEN + 1 bytes. */
int obj_vid_new(const char *proof, char *out, ts_err *err) TS_MUSTCHECK;

/* Whether path is a version of c's object (its prefix, a well-formed id, ".parquet");
 * the id is copied into vid (OBJ_VID_LEN + 1 bytes) when not NULL. */
bool obj_path_is_version(const obj_chunk *c, const char *path, char *vid);

/* The path of lake URL url when it names a version of c's object, else NULL (the URL
 * points elsewhere: another chunk, another store, outside the lake). ts_free() it. */
char *obj_path_of_url(lake *lk, const obj_chunk *c, const char *url);

/* The proof as a confirmation carries it, {"chunk":"<pg proof>"}, and back. */
char *obj_proof_json(const char *chunk_proof);
int obj_proof_from_json(const char *json, char *out, size_t len, ts_err *err) TS_MUSTCHECK;

/* The cheap gates: the object's size, MD5 (when md5_hex is given), that its footer
 * parses, its row count (rows >= 0) and the proof in its metadata. *proof_out (may be
 * NULL) receives that proof (ts_free it); *info (may be NULL) the object's size, MD5
 * and ETag. TS_ERR_CONFLICT names the first difference; TS_ERR_NOTFOUND when the
 * object is gone; other codes when the lake cannot be read. */
int obj_verify(lake *lk, const char *path, int64_t rows, int64_t bytes, const char *md5_hex,
               char **proof_out, lake_info *info, ts_err *err) TS_MUSTCHECK;

/* The licence to drop: reads the whole object back from the lake, decodes every row
 * and hashes it with the change proof (pg_proof_of_file), using the live chunk's
 * catalog. proof (PG_PROOF_MAX bytes) gets the proof of what the object holds; info
 * (may be NULL) the object's size, MD5 and ETag as read, so that a later check can
 * tell whether it is still the same object. TS_ERR_CONFLICT / TS_ERR_FORMAT when the
 * object is damaged or does not fit the chunk; TS_ERR_NOTFOUND when it is gone. */
int obj_read_back(lake *lk, const char *path, PGconn *pg, const char *chunk_schema,
                  const char *chunk_name, char *proof, lake_info *info, ts_err *err) TS_MUSTCHECK;

/* The cluster's identity for object names: cluster_name when set, else "pg" and the
 * system identifier PostgreSQL gives every cluster at initdb (kept by physical
 * replicas, so a failover keeps the folder). out has 64 bytes. */
int obj_cluster_id(PGconn *pg, const char *cluster_name, char out[64], ts_err *err) TS_MUSTCHECK;

/* ---- the archive as a table: one Delta Lake table per source table ---- */

/* Tags each add carries (docs/delta.md): the chunk (["schema","name"] as JSON), its
 * range ("start/end", RFC 3339 or integers), the proof of its rows, the request. */
#define OBJ_TAG_CHUNK "tsarchive.chunk"
#define OBJ_TAG_RANGE "tsarchive.range"
#define OBJ_TAG_PROOF "tsarchive.proof"
#define OBJ_TAG_EVENT "tsarchive.event_id"
#define OBJ_TAG_RELID "tsarchive.relid" /* the chunk's pg_class OID: its incarnation */
/* integer ranges of known unit: the range as time ("start/end", RFC 3339), beside
 * OBJ_TAG_RANGE's integers ("start/end"), and the unit */
#define OBJ_TAG_TIME_RANGE "tsarchive.time_range"
#define OBJ_TAG_TIME_UNIT "tsarchive.time_unit"

/* Delta tables by root, loaded once and refreshed incrementally (a service keeps one
 * per thread: a delta_table is used by one thread at a time). */
typedef struct obj_tables obj_tables;
int obj_tables_new(lake *lk, obj_tables **out, ts_err *err) TS_MUSTCHECK;
void obj_tables_free(obj_tables *c);
/* The table of c's source table, brought up to its newest version. Borrowed from the
 * cache. */
int obj_table_of(obj_tables *cache, const obj_chunk *c, delta_table **out, ts_err *err) TS_MUSTCHECK;

/* The live files of c's chunk in t (normally one; two only if a writer outside tsarchive
 * added one): up to max into files, the count returned. */
int obj_live_versions(const delta_table *t, const obj_chunk *c, const delta_file **files, int max);
/* The lake path of a file of t (root + "/" + its path). ts_free() it. */
char *obj_file_path(const delta_table *t, const delta_file *f);
/* A tag of a file, or NULL. */
const char *obj_file_tag(const delta_file *f, const char *key);

/* Commits the object at path (a version of c, whole in the lake) to the table: an add
 * with its size, stats and schema from its footer, tags naming the chunk, its OID
 * (relid: which incarnation of a name), its proof and event, and a remove of every
 * other live version of the same incarnation (it supersedes them: the caller holds a
 * lock that keeps the chunk in the database while this runs). Versions of an earlier
 * incarnation (a partition dropped and created again under its name) stay: their rows
 * left the database with it. Idempotent: an object already live is success.
 * TS_ERR_CONFLICT when a concurrent commit removed what this one would remove (the
 * caller looks again). */
int obj_commit_version(delta_table *t, lake *lk, const obj_chunk *c, const char *path,
                       const char *relid, const char *proof, const char *event_id,
                       ts_err *err) TS_MUSTCHECK;

/* Whether path is part of an archived table: in a table's log, or a file the nearest
 * table's log names (live, or removed since: time travel still reads it). True also
 * when a log on the way cannot be read (what cannot be checked is kept). `lake rm`
 * refuses such a path without --force. */
bool obj_path_in_archive(lake *lk, const char *path);

#endif
