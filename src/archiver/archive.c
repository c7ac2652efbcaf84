/* archive.c: request -> export -> lake -> verify -> confirmation. */
#include "archive.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/fault.h"
#include "common/log.h"
#include "lake/lake.h"
#include "parquet/reader.h"
#include "pg/conn.h"
#include "pg/discover.h"
#include "pg/export.h"
#include "pg/proof.h"

char *arc_object_path(const char *database, const bus_chunk *ch)
{
    return lake_object_path(database, ch->hypertable_schema, ch->hypertable, ch->chunk_name,
                            ch->range_start, ch->range_end);
}

char *arc_proof_json(const char *chunk_proof)
{
    json_t *o = json_pack("{s:s}", "chunk", chunk_proof);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *out = s ? ts_strdup(s) : NULL;
    free(s);
    json_decref(o);
    return out;
}

int arc_proof_from_json(const char *text, char *out, size_t len, ts_err *err)
{
    json_error_t je;
    json_t *o = text ? json_loads(text, 0, &je) : NULL;
    const char *v = o ? json_string_value(json_object_get(o, "chunk")) : NULL;
    int rc = 0;
    if (!v || strlen(v) >= len)
        rc = ts_err_set(err, TS_ERR_INVALID, "the confirmation's proof is not {\"chunk\": \"...\"}");
    else
        snprintf(out, len, "%s", v);
    json_decref(o);
    return rc;
}

/* ---- the lake as the Parquet reader's byte source ---- */
typedef struct lake_src {
    lake *lk;
    const char *path;
} lake_src;

static int lake_read_exact(void *ctx, uint64_t off, void *dst, size_t len, ts_err *err)
{
    lake_src *s = ctx;
    size_t got = 0;
    int rc = lake_read(s->lk, s->path, off, len, dst, &got, err);
    if (rc)
        return rc;
    if (got != len)
        return ts_err_set(err, TS_ERR_FORMAT, "object \"%s\" ended at %llu bytes, expected more",
                          s->path, (unsigned long long)(off + got));
    return 0;
}

int arc_verify_object(lake *lk, const char *path, int64_t rows, int64_t bytes, const char *md5_hex,
                      char **proof_out, ts_err *err)
{
    lake_info info = {0};
    lake_src src = {lk, path};
    pq_reader *r = NULL;
    char hex[33];
    const char *proof;
    int rc;

    if (proof_out)
        *proof_out = NULL;
    if ((rc = lake_stat(lk, path, &info, err)) != 0)
        return rc;
    if (bytes >= 0 && info.size != (uint64_t)bytes)
        return ts_err_set(err, TS_ERR_CONFLICT, "object \"%s\" holds %llu bytes, expected %lld", path,
                          (unsigned long long)info.size, (long long)bytes);
    if (md5_hex && *md5_hex) {
        if (!info.has_md5)
            return ts_err_set(err, TS_ERR_CONFLICT, "object \"%s\" has no stored MD5 to compare", path);
        lake_md5_hex(info.md5, hex);
        if (strcmp(hex, md5_hex) != 0)
            return ts_err_set(err, TS_ERR_CONFLICT, "object \"%s\" has MD5 %s, expected %s", path, hex,
                              md5_hex);
    }
    if ((rc = pq_reader_open(&r, lake_read_exact, &src, info.size, NULL, err)) != 0) {
        ts_err_prefix(err, "object \"%s\"", path);
        return rc == TS_ERR_FORMAT ? TS_ERR_CONFLICT : rc;
    }
    if (rows >= 0 && pq_reader_num_rows(r) != rows) {
        rc = ts_err_set(err, TS_ERR_CONFLICT, "object \"%s\" holds %lld rows, expected %lld", path,
                        (long long)pq_reader_num_rows(r), (long long)rows);
        goto out;
    }
    proof = pq_reader_kv(r, PG_KV_PROOF);
    if (!proof) {
        rc = ts_err_set(err, TS_ERR_CONFLICT, "object \"%s\" carries no tsarchive proof", path);
        goto out;
    }
    if (proof_out && !(*proof_out = ts_strdup(proof)))
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
out:
    pq_reader_free(r);
    return rc;
}

/* ---- export straight into a lake writer ---- */
typedef struct sink_ctx {
    lake_writer *w;
} sink_ctx;

/* Advisory lock key space for "an archiver is writing this object": "objt", apart
 * from the retention service's and the migrations' ("tsar" ...). */
#define OBJECT_LOCK_KEY "1868721780"

static int lake_sink(void *ctx, const void *data, size_t len, ts_err *err)
{
    ts_fault("archiver.write"); /* Parquet bytes on their way: the object is half written */
    return lake_writer_write(((sink_ctx *)ctx)->w, data, len, err);
}

static int fail_conf(bus_confirmation *conf, const char *fmt, const char *detail)
{
    char msg[1024];
    snprintf(msg, sizeof msg, fmt, detail);
    conf->status = BUS_STATUS_FAILURE;
    conf->error = ts_strdup(msg);
    return conf->error ? 0 : TS_ERR_NOMEM;
}

/* A repeated request: is the object there, whole, and the chunk unchanged since? */
static int already_archived(PGconn *pg, lake *lk, const char *path, const bus_request *req,
                            bus_confirmation *conf)
{
    lake_info info = {0};
    lake_src src = {lk, path};
    pq_reader *r = NULL;
    char hex[33];
    const char *proof;
    ts_err e;
    int ok = 0;

    ts_err_clear(&e);
    if (lake_stat(lk, path, &info, &e) != 0 || !info.has_md5)
        return 0;
    if (pq_reader_open(&r, lake_read_exact, &src, info.size, NULL, &e) != 0)
        return 0;
    proof = pq_reader_kv(r, PG_KV_PROOF);
    if (proof && pg_exec(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", &e) == 0) {
        ok = pg_chunk_unchanged(pg, req->chunk.chunk_schema, req->chunk.chunk_name, proof, &e) == 0;
        ts_err c2;
        ts_err_clear(&c2);
        if (pg_exec(pg, "COMMIT", &c2) != 0)
            ok = 0;
    }
    if (ok) {
        lake_md5_hex(info.md5, hex);
        conf->status = BUS_STATUS_SUCCESS;
        conf->rows = pq_reader_num_rows(r);
        conf->bytes = (int64_t)info.size;
        conf->object = lake_url(lk, path);
        conf->checksum = ts_strdup(hex);
        conf->proof = arc_proof_json(proof);
        ok = conf->object && conf->checksum && conf->proof;
        if (ok)
            ts_info("chunk \"%s.%s\" is already archived and unchanged: confirming without rewriting",
                    req->chunk.chunk_schema, req->chunk.chunk_name);
    }
    pq_reader_free(r);
    return ok;
}

static void on_progress(void *ctx, int64_t rows, int64_t copy_bytes)
{
    (void)ctx, (void)rows, (void)copy_bytes;
    ts_fault("archiver.export"); /* mid-COPY: rows read, the chunk's export under way */
}

int arc_archive(const ts_config *cfg, PGconn *pg, lake *lk, const bus_request *req,
                bus_confirmation *conf, ts_err *err)
{
    pg_chunk ch;
    pg_export_source src = {0};
    pg_export_options opt;
    pg_export_result res;
    lake_writer *w = NULL;
    lake_info info = {0};
    sink_ctx sink;
    char *path = NULL, *proof = NULL, hex[33], start[BUS_TIME_MAX], end[BUS_TIME_MAX];
    bool locked = false;
    ts_err e;
    int rc = 0;

    memset(&ch, 0, sizeof ch);
    memset(&res, 0, sizeof res);
    memset(conf, 0, sizeof *conf);
    memcpy(conf->event_id, req->event_id, sizeof conf->event_id);
    memcpy(conf->database, req->database, sizeof conf->database);
    conf->chunk = req->chunk;
    conf->archived_at = bus_time_now();
    ts_err_clear(&e);

    if (req->chunk.range_kind != BUS_RANGE_TIMESTAMP) {
        rc = fail_conf(conf, "integer-range chunks are not archived (their time unit is unknown)%s", "");
        goto out;
    }
    if (strcmp(req->database, PQdb(pg)) != 0) { /* another database's request (a shared stream) */
        char msg[300];
        snprintf(msg, sizeof msg, "the request is for database \"%s\", this archiver serves \"%s\"",
                 req->database, PQdb(pg));
        rc = fail_conf(conf, "%s", msg);
        goto out;
    }
    rc = pg_discover_chunk(pg, cfg, req->chunk.chunk_schema, req->chunk.chunk_name, &ch, &e);
    if (rc == TS_ERR_NOTFOUND) {
        rc = fail_conf(conf, "%s", e.msg);
        goto out;
    }
    if (rc) {
        rc = ts_err_set(err, rc, "%s", e.msg);
        goto out;
    }
    if (ch.start_us != req->chunk.range_start || ch.end_us != req->chunk.range_end) {
        rc = fail_conf(conf, "the chunk's range in the database (%s) differs from the request's", ch.range_start);
        goto out;
    }
    /* the object's place is named after the request's table: it must be the chunk's own */
    if (strcmp(ch.table_schema, req->chunk.hypertable_schema) != 0 ||
        strcmp(ch.table_name, req->chunk.hypertable) != 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "the chunk's table in the database (\"%s\".\"%s\") differs from the request's",
                 ch.table_schema, ch.table_name);
        rc = fail_conf(conf, "%s", msg);
        goto out;
    }
    if (!(path = arc_object_path(req->database, &req->chunk))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* One worker at a time per object, whatever brought the request twice (a
     * republish after a restart or takeover, a reclaim race): the second waits here,
     * then finds the first one's object and confirms without exporting again. A
     * session lock, so a worker that dies lets go with its connection. */
    {
        const char *p[1] = {path};
        PGresult *lr = pg_query(pg, "SELECT pg_advisory_lock(" OBJECT_LOCK_KEY ", hashtext($1))", 1, p, &e);
        if (!lr) {
            rc = ts_err_set(err, e.code, "%s", e.msg);
            goto out;
        }
        PQclear(lr);
        locked = true;
    }
    if (already_archived(pg, lk, path, req, conf))
        goto out;
    /* already_archived may have half-filled conf before finding a difference */
    ts_free(conf->object), ts_free(conf->checksum), ts_free(conf->proof);
    conf->object = conf->checksum = conf->proof = NULL;

    if ((rc = bus_time_format(req->chunk.range_start, start, sizeof start)) != 0 ||
        (rc = bus_time_format(req->chunk.range_end, end, sizeof end)) != 0) {
        rc = fail_conf(conf, "the chunk's range is outside years 1-9999%s", "");
        goto out;
    }
    src.database = req->database;
    src.table_schema = req->chunk.hypertable_schema;
    src.table_name = req->chunk.hypertable;
    src.chunk_schema = req->chunk.chunk_schema;
    src.chunk_name = req->chunk.chunk_name;
    src.range_start = start;
    src.range_end = end;
    pg_export_options_init(&opt, cfg);
    opt.progress = on_progress;

    if ((rc = lake_writer_open(lk, path, &w, &e)) != 0)
        goto lake_failed;
    sink.w = w;
    rc = pg_export(pg, &src, &opt, lake_sink, &sink, &res, &e);
    if (rc) {
        lake_writer_abort(w);
        w = NULL;
        if (rc == TS_ERR_CONN) { /* PostgreSQL went away: let another attempt judge */
            rc = ts_err_set(err, rc, "%s", e.msg);
            goto out;
        }
        rc = fail_conf(conf, "export failed: %s", e.msg);
        goto out;
    }
    rc = lake_writer_commit(w, &info, &e);
    w = NULL; /* commit frees it, also on failure */
    if (rc)
        goto lake_failed;
    lake_md5_hex(info.md5, hex);
    /* read it back: the footer parses, and size, MD5, rows and proof are what we wrote */
    if ((rc = arc_verify_object(lk, path, res.rows, res.bytes, hex, &proof, &e)) != 0)
        goto lake_failed;
    ts_fault("archiver.committed"); /* the object is whole; nobody knows yet */
    if (strcmp(proof, res.proof) != 0) {
        rc = fail_conf(conf, "object read back carries proof \"%s\", not the export's", proof);
        goto out;
    }
    conf->status = BUS_STATUS_SUCCESS;
    conf->rows = res.rows;
    conf->bytes = res.bytes;
    conf->object = lake_url(lk, path);
    conf->checksum = ts_strdup(hex);
    conf->proof = arc_proof_json(res.proof);
    if (!conf->object || !conf->checksum || !conf->proof)
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    else
        ts_info("archived chunk \"%s.%s\": %lld rows, %lld bytes", req->chunk.chunk_schema,
                req->chunk.chunk_name, (long long)res.rows, (long long)res.bytes);
    goto out;

lake_failed:
    /* The lake refused or broke: a failure confirmation lets the retention side
     * count the attempt and back off, and nothing is dropped. */
    rc = fail_conf(conf, "lake: %s", e.msg);
out:
    lake_writer_abort(w);
    if (locked && PQstatus(pg) == CONNECTION_OK) {
        const char *p[1] = {path};
        PGresult *lr = pg_query(pg, "SELECT pg_advisory_unlock(" OBJECT_LOCK_KEY ", hashtext($1))", 1, p, &e);
        PQclear(lr); /* on failure the session, and the lock with it, is gone */
    }
    ts_free(path);
    ts_free(proof);
    pg_chunk_clear(&ch);
    return rc;
}
