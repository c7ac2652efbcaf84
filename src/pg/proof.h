/* proof.h: the "chunk unchanged since export" proof (docs/change-proof.md). During
 * export every row's binary image (as record_send() of the exported columns would
 * produce it) is hashed to 64 bits; the proof is the row count and the exact sum of
 * those hashes. At drop time the same figures are recomputed in SQL under the chunk's
 * lock and compared: v2 = hashtextextended(encode(image, 'hex'), 0). */
#ifndef TS_PG_PROOF_H
#define TS_PG_PROOF_H

#include <stdint.h>

#include <libpq-fe.h>

#include "common/err.h"
#include "copybin.h"
#include "parquet/reader.h"

/* The proof as a string: "v2:<rows>:<sum>:<columns>", e.g.
 * "v2:1000:-12345678901234567890:3f2a..."; <columns> is the MD5 of the exported
 * column list, so a changed table definition is reported as such. */
#define PG_PROOF_MAX 128

typedef struct pg_proof {
    int64_t rows;
    __int128 sum;
    char columns[33]; /* hex MD5 of the SELECT list */
} pg_proof;

/* Adds one row (fields as decoded from binary COPY; oids[i] = the type of each
 * selected expression). */
void pg_proof_add_row(pg_proof *pr, const pg_copy_field *fields, int nfields, const uint32_t *oids);
/* The same, for many rows: rows are hashed in batches, several side by side, about
 * three times faster than one by one. pr counts each row at once and gets its hash
 * by pg_proof_batch_flush() at the latest: flush before reading pr->sum. Adding
 * cannot fail (a row too large for the batch is hashed alone). new: NULL on no
 * memory; free(NULL) is a no-op and drops what was not flushed. */
typedef struct pg_proof_batch pg_proof_batch;
pg_proof_batch *pg_proof_batch_new(pg_proof *pr);
void pg_proof_batch_add(pg_proof_batch *b, const pg_copy_field *fields, int nfields,
                        const uint32_t *oids);
void pg_proof_batch_flush(pg_proof_batch *b);
void pg_proof_batch_free(pg_proof_batch *b);
/* Test aid: 4 = hash four lanes side by side even where eight would run (AVX2); 0 =
 * the widest the CPU has (the default). Set it before any batch is flushed. */
void pg_proof_set_lanes(int lanes);
/* A thread that hashes a binary COPY stream into pr, as consumer k of ring g (its
 * rows have nfields fields of types oids, which must outlive the thread): how the
 * export and the read-back keep the proof off their main thread. NULL with err filled
 * when it cannot start. */
typedef struct pg_proof_thread pg_proof_thread;
pg_proof_thread *pg_proof_thread_start(pg_copy_ring *g, int k, int nfields, const uint32_t *oids,
                                       pg_proof *pr, ts_err *err);
/* Waits for the thread (it ends with the stream, or when the ring stops) and frees it.
 * Returns 0 when pr holds every row of a well-formed stream, else the failure's code
 * (recorded in the ring). NULL is a no-op returning 0. */
int pg_proof_thread_join(pg_proof_thread *t);
/* Formats into out (PG_PROOF_MAX bytes). */
void pg_proof_format(const pg_proof *pr, char *out);
/* Parses a proof string; TS_ERR_INVALID when malformed. */
int pg_proof_parse(const char *s, pg_proof *pr, ts_err *err) TS_MUSTCHECK;
/* Sets pr->columns from a SELECT list. */
void pg_proof_set_columns(pg_proof *pr, const char *select_list);

/* Checks that chunk_schema.chunk_name still holds exactly the rows the proof was made
 * from: same exported column list, same row count, same sum of row hashes. Call it in
 * the transaction that drops the chunk, AFTER locking it (e.g. LOCK TABLE ... IN
 * ACCESS EXCLUSIVE MODE), so nothing can change between check and drop. Reads every
 * row once. Returns 0 when unchanged, TS_ERR_CONFLICT (err says what differs) when
 * changed, TS_ERR_INVALID for a malformed proof, other codes for database errors.
 * Uses SET LOCAL for the session settings the text forms depend on. */
int pg_chunk_unchanged(PGconn *c, const char *chunk_schema, const char *chunk_name,
                       const char *proof, ts_err *err) TS_MUSTCHECK;

/* The proof of the rows an archived file holds (docs/change-proof.md, "Reading the
 * archive back"): reads every row of r (a fresh reader on any byte source, e.g. a lake
 * object through pq_reader_open) and hashes each one's record_send() image, rebuilt
 * from the Parquet values: types and OIDs from the live chunk's catalog, the way each
 * column was exported (native, LIST, ::text) from the file's tsarchive.columns. Equal
 * to the export's proof exactly when the file holds the exported rows. Writes the
 * proof string into proof and returns 0; TS_ERR_CONFLICT when the chunk's columns no
 * longer match the file's, TS_ERR_FORMAT / TS_ERR_TOOBIG for a damaged file,
 * TS_ERR_INVALID for a file without tsarchive metadata. Reads the catalog only. */
int pg_proof_of_file(PGconn *c, pq_reader *r, const char *chunk_schema, const char *chunk_name,
                     char proof[PG_PROOF_MAX], ts_err *err) TS_MUSTCHECK;

/* lookup3 exactly as PostgreSQL's hash_bytes_extended(seed 0) on a little-endian
 * machine; len is the total length fed. Exposed for the unit tests. */
typedef struct pg_l3 {
    uint32_t a, b, c;
    uint8_t blk[12];
    unsigned n;
} pg_l3;
void pg_l3_init(pg_l3 *s, size_t len);
void pg_l3_update(pg_l3 *s, const void *data, size_t n);
int64_t pg_l3_final(pg_l3 *s);

/* Signed 128-bit integers as decimal text (out: 48 bytes); parse returns 0 or -1. */
void pg_i128_format(__int128 v, char *out);
int pg_i128_parse(const char *s, const char *end, __int128 *out);

#endif
