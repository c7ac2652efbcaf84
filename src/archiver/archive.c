/* archive.c: one request, start to finish: check it against the database, find a
 * version already archived that still holds the chunk's rows, or export the chunk
 * straight into a new write-once object (no temp file), read the object back, and
 * fill the confirmation. */
#include "archiver.h"
#include "common/tstime.h"

#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/fault.h"
#include "common/log.h"
#include "common/runctl.h"
#include "object/object.h"
#include "pg/conn.h"
#include "pg/discover.h"
#include "pg/export.h"
#include "pg/proof.h"

/* Advisory lock key space for "an archiver is working on this chunk": "objt", apart
 * from the retention service's and the migrations' ("tsar" ...). */
#define CHUNK_LOCK_KEY "1868721780"

static int fail_conf(bus_confirmation *conf, const char *msg)
{
    conf->status = BUS_STATUS_FAILURE;
    conf->error = ts_strdup(msg);
    return conf->error ? 0 : TS_ERR_NOMEM;
}

static void chunk_of(const bus_request *req, const char *cluster, obj_chunk *c)
{
    memset(c, 0, sizeof *c);
    c->cluster = cluster;
    c->database = req->database;
    c->table_schema = req->chunk.hypertable_schema;
    c->table_name = req->chunk.hypertable;
    c->chunk_schema = req->chunk.chunk_schema;
    c->chunk_name = req->chunk.chunk_name;
    c->integer_range = req->chunk.range_kind == BUS_RANGE_INTEGER;
    c->range_start = req->chunk.range_start;
    c->range_end = req->chunk.range_end;
}

/* ---- a version already archived ---- */

typedef struct found {
    const obj_chunk *c;
    char **paths;
    int n, cap;
} found;

static int collect_version(void *ud, const lake_info *info)
{
    found *f = ud;
    if (!obj_path_is_version(f->c, info->name, NULL))
        return 0;
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 4;
        char **p = ts_realloc(f->paths, (size_t)cap * sizeof *p);
        if (!p)
            return TS_ERR_NOMEM;
        f->paths = p;
        f->cap = cap;
    }
    if (!(f->paths[f->n] = ts_strdup(info->name)))
        return TS_ERR_NOMEM;
    f->n++;
    return 0;
}

/* Whether the chunk still holds exactly the rows the proof was made from (in a
 * read-only snapshot; the retention service checks again under the chunk's lock). */
static bool chunk_matches(PGconn *pg, const bus_request *req, const char *proof)
{
    ts_err e, c2;
    bool ok = false;
    ts_err_clear(&e);
    ts_err_clear(&c2);
    if (pg_exec(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", &e) != 0)
        return false;
    ok = pg_chunk_unchanged(pg, req->chunk.chunk_schema, req->chunk.chunk_name, proof, &e) == 0;
    if (pg_exec(pg, "COMMIT", &c2) != 0)
        ok = false;
    return ok;
}

/* A repeated request (a republish after a restart, a takeover, a reclaim race): is a
 * version of the chunk in the lake, whole, holding exactly the chunk's rows? Then it
 * is confirmed and nothing is written. */
static bool already_archived(PGconn *pg, lake *lk, const obj_chunk *c, const bus_request *req,
                             bus_confirmation *conf)
{
    found f = {.c = c};
    char *pre = obj_version_prefix(c);
    bool ok = false;
    ts_err e;

    ts_err_clear(&e);
    if (!pre || lake_list(lk, pre, collect_version, &f, &e) != 0)
        goto out;
    for (int i = f.n - 1; i >= 0 && !ok; i--) {
        lake_info info;
        char *proof = NULL, hex[33];
        ts_err_clear(&e);
        if (obj_verify(lk, f.paths[i], -1, -1, NULL, &proof, &info, &e) == 0 && info.has_md5 &&
            chunk_matches(pg, req, proof)) {
            lake_md5_hex(info.md5, hex);
            conf->status = BUS_STATUS_SUCCESS;
            conf->bytes = (int64_t)info.size;
            conf->object = lake_url(lk, f.paths[i]);
            conf->checksum = ts_strdup(hex);
            conf->proof = obj_proof_json(proof);
            {
                pg_proof pp;
                ts_err pe;
                ts_err_clear(&pe);
                conf->rows = pg_proof_parse(proof, &pp, &pe) == 0 ? pp.rows : 0;
            }
            ok = conf->object && conf->checksum && conf->proof;
            if (ok)
                ts_info("chunk \"%s.%s\" is already archived in \"%s\" and unchanged: confirming "
                        "without writing again",
                        req->chunk.chunk_schema, req->chunk.chunk_name, f.paths[i]);
        }
        ts_free(proof);
    }
out:
    for (int i = 0; i < f.n; i++)
        ts_free(f.paths[i]);
    ts_free(f.paths);
    ts_free(pre);
    return ok;
}

/* ---- export straight into a lake writer ---- */

static int lake_sink(void *ctx, const void *data, size_t len, ts_err *err)
{
    ts_fault("archiver.write"); /* Parquet bytes on their way: the object is half written */
    if (ts_run_stopping()) /* SIGTERM: abort the upload now; the request goes to another */
        return ts_err_set(err, TS_ERR_TIMEOUT, "the archiver is stopping");
    return lake_writer_write(ctx, data, len, err);
}

static void on_progress(void *ctx, int64_t rows, int64_t copy_bytes)
{
    (void)ctx, (void)rows, (void)copy_bytes;
    ts_fault("archiver.export"); /* mid-COPY: rows read, the chunk's export under way */
}

/* Takes or releases the session lock that makes one worker at a time work on a
 * chunk, whatever brought its request twice. A session lock, so a worker that dies
 * lets go with its connection. */
static int chunk_lock(PGconn *pg, const bus_request *req, bool take, ts_err *err)
{
    char key[2 * BUS_NAME_MAX + 4];
    const char *p[1] = {key};
    PGresult *r;
    snprintf(key, sizeof key, "%s.%s", req->chunk.chunk_schema, req->chunk.chunk_name);
    r = pg_query(pg,
                 take ? "SELECT pg_advisory_lock(" CHUNK_LOCK_KEY ", hashtext($1))"
                      : "SELECT pg_advisory_unlock(" CHUNK_LOCK_KEY ", hashtext($1))",
                 1, p, err);
    if (!r)
        return err->code;
    PQclear(r);
    return TS_OK;
}

int arc_archive(const ts_config *cfg, PGconn *pg, lake *lk, const char *cluster,
                const bus_request *req, bus_confirmation *conf, ts_err *err)
{
    pg_chunk ch;
    pg_export_source src = {0};
    pg_export_options opt;
    pg_export_result res;
    lake_writer *w = NULL;
    lake_info info = {0};
    obj_chunk oc;
    char *path = NULL, *proof = NULL, hex[33], start[BUS_TIME_MAX], end[BUS_TIME_MAX],
         vid[OBJ_VID_LEN + 1], msg[1024];
    bool locked = false;
    ts_err e;
    int rc = 0;

    memset(&ch, 0, sizeof ch);
    memset(&res, 0, sizeof res);
    memset(conf, 0, sizeof *conf);
    memcpy(conf->event_id, req->event_id, sizeof conf->event_id);
    memcpy(conf->database, req->database, sizeof conf->database);
    snprintf(conf->cluster, sizeof conf->cluster, "%s", cluster);
    conf->chunk = req->chunk;
    conf->archived_at = ts_time_now();
    ts_err_clear(&e);
    chunk_of(req, cluster, &oc);

    if (req->chunk.range_kind != BUS_RANGE_TIMESTAMP) {
        rc = fail_conf(conf, "integer-range chunks are not archived (their time unit is unknown)");
        goto out;
    }
    if (strcmp(req->database, PQdb(pg)) != 0 || (req->cluster[0] && strcmp(req->cluster, cluster))) {
        snprintf(msg, sizeof msg, "the request is for database \"%s\" of cluster \"%s\", this archiver "
                 "serves \"%s\" of \"%s\"", req->database, req->cluster, PQdb(pg), cluster);
        rc = fail_conf(conf, msg);
        goto out;
    }
    rc = pg_discover_chunk(pg, cfg, req->chunk.chunk_schema, req->chunk.chunk_name, &ch, &e);
    if (rc == TS_ERR_NOTFOUND) {
        rc = fail_conf(conf, e.msg);
        goto out;
    }
    if (rc) {
        rc = ts_err_set(err, rc, "%s", e.msg);
        goto out;
    }
    if (ch.start_us != req->chunk.range_start || ch.end_us != req->chunk.range_end) {
        snprintf(msg, sizeof msg, "the chunk's range in the database (%s .. %s) differs from the "
                 "request's", ch.range_start, ch.range_end);
        rc = fail_conf(conf, msg);
        goto out;
    }
    /* the object's place is named after the request's table: it must be the chunk's own */
    if (strcmp(ch.table_schema, req->chunk.hypertable_schema) != 0 ||
        strcmp(ch.table_name, req->chunk.hypertable) != 0) {
        snprintf(msg, sizeof msg, "the chunk's table in the database (\"%s\".\"%s\") differs from "
                 "the request's", ch.table_schema, ch.table_name);
        rc = fail_conf(conf, msg);
        goto out;
    }
    if (ts_time_format(req->chunk.range_start, 0, start, sizeof start) != 0 ||
        ts_time_format(req->chunk.range_end, 0, end, sizeof end) != 0) {
        rc = fail_conf(conf, "the chunk's range is outside years 1-9999");
        goto out;
    }
    if ((rc = chunk_lock(pg, req, true, &e)) != 0) {
        rc = ts_err_set(err, rc, "%s", e.msg);
        goto out;
    }
    locked = true;
    if (already_archived(pg, lk, &oc, req, conf))
        goto out;
    /* already_archived may have half-filled conf before finding a difference */
    ts_free(conf->object), ts_free(conf->checksum), ts_free(conf->proof);
    conf->object = conf->checksum = conf->proof = NULL;
    conf->rows = conf->bytes = 0;

    src.database = req->database;
    src.table_schema = req->chunk.hypertable_schema;
    src.table_name = req->chunk.hypertable;
    src.chunk_schema = req->chunk.chunk_schema;
    src.chunk_name = req->chunk.chunk_name;
    src.range_start = start;
    src.range_end = end;
    pg_export_options_init(&opt, cfg);
    opt.progress = on_progress;

    /* a name no other version can have: a second export of the chunk (it changed, or
     * its earlier export was lost) never replaces the first */
    if ((rc = obj_vid_new(req->event_id, vid, &e)) != 0 ||
        !(path = obj_version_path(&oc, vid))) {
        rc = ts_err_set(err, rc ? rc : TS_ERR_NOMEM, "%s", rc ? e.msg : "out of memory");
        goto out;
    }
    if ((rc = lake_writer_open(lk, path, &w, &e)) != 0)
        goto lake_failed;
    rc = pg_export(pg, &src, &opt, lake_sink, w, &res, &e);
    if (rc) {
        lake_writer_abort(w);
        w = NULL;
        if (rc == TS_ERR_CONN || ts_run_stopping()) { /* let another attempt judge */
            rc = ts_err_set(err, rc == TS_ERR_CONN ? rc : TS_ERR_TIMEOUT, "%s", e.msg);
            goto out;
        }
        snprintf(msg, sizeof msg, "export failed: %s", e.msg);
        rc = fail_conf(conf, msg);
        goto out;
    }
    rc = lake_writer_commit(w, &info, &e);
    w = NULL; /* commit frees it, also on failure */
    if (rc)
        goto lake_failed;
    lake_md5_hex(info.md5, hex);
    /* read it back: the footer parses, and size, MD5, rows and proof are what we wrote */
    if ((rc = obj_verify(lk, path, res.rows, res.bytes, hex, &proof, NULL, &e)) != 0)
        goto lake_failed;
    ts_fault("archiver.committed"); /* the object is whole; nobody knows yet */
    if (strcmp(proof, res.proof) != 0) {
        rc = fail_conf(conf, "the object read back carries another proof than the export's");
        goto out;
    }
    conf->status = BUS_STATUS_SUCCESS;
    conf->rows = res.rows;
    conf->bytes = res.bytes;
    conf->object = lake_url(lk, path);
    conf->checksum = ts_strdup(hex);
    conf->proof = obj_proof_json(res.proof);
    if (!conf->object || !conf->checksum || !conf->proof)
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    else
        ts_info("archived chunk \"%s.%s\": %lld rows, %lld bytes in \"%s\"", req->chunk.chunk_schema,
                req->chunk.chunk_name, (long long)res.rows, (long long)res.bytes, path);
    goto out;

lake_failed:
    /* The lake refused or broke: a failure confirmation lets the retention side
     * count the attempt and back off, and nothing is dropped. */
    snprintf(msg, sizeof msg, "lake: %s", e.msg);
    rc = fail_conf(conf, msg);
out:
    lake_writer_abort(w);
    if (locked && PQstatus(pg) == CONNECTION_OK) {
        ts_err ue;
        ts_err_clear(&ue);
        (void)chunk_lock(pg, req, false, &ue); /* on failure the session, and the lock, is gone */
    }
    ts_free(path);
    ts_free(proof);
    pg_chunk_clear(&ch);
    return rc;
}
