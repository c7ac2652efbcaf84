/* archive.c: one request, start to finish: check it against the database, find a
 * version already archived that still holds the chunk's rows, or export the chunk
 * straight into a new write-once object (no temp file), read the object back, and
 * fill the confirmation. */
#include "archiver.h"
#include "archiver_int.h"
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

/* ---- versions already in the lake ---- */

int arc_chunk_unchanged(PGconn *pg, const char *schema, const char *name, const char *proof)
{
    ts_err e, c2;
    int rc;
    ts_err_clear(&e);
    ts_err_clear(&c2);
    if (!proof)
        return TS_ERR_CONFLICT;
    if ((rc = pg_exec(pg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", &e)) != 0)
        return rc;
    rc = pg_chunk_unchanged(pg, schema, name, proof, &e);
    if (rc == TS_ERR_NOTFOUND || rc == TS_ERR_INVALID)
        rc = TS_ERR_CONFLICT; /* gone, or a proof of no rows of it */
    if (pg_exec(pg, "COMMIT", &c2) != 0 && rc == 0)
        rc = c2.code ? c2.code : TS_ERR_REMOTE;
    return rc;
}

/* Fills a success confirmation for the object at path, whose footer must carry proof
 * (and which must be size bytes, when size >= 0: the size its add recorded). */
static int confirm_object(lake *lk, const char *path, int64_t size, const char *proof,
                          bus_confirmation *conf, ts_err *err)
{
    lake_info info;
    char hex[33], *file_proof = NULL;
    pg_proof pp;
    int rc = obj_verify(lk, path, -1, size, NULL, &file_proof, &info, err);
    if (rc == 0 && strcmp(file_proof, proof) != 0)
        rc = ts_err_set(err, TS_ERR_CONFLICT, "object \"%s\" carries another proof than recorded",
                        path);
    ts_free(file_proof);
    if (rc)
        return rc;
    if (!info.has_md5)
        return ts_err_set(err, TS_ERR_CONFLICT, "object \"%s\" has no stored MD5", path);
    lake_md5_hex(info.md5, hex);
    conf->status = BUS_STATUS_SUCCESS;
    conf->bytes = (int64_t)info.size;
    conf->rows = pg_proof_parse(proof, &pp, err) == 0 ? pp.rows : 0;
    conf->object = lake_url(lk, path);
    conf->checksum = ts_strdup(hex);
    conf->proof = obj_proof_json(proof);
    if (!conf->object || !conf->checksum || !conf->proof)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    return TS_OK;
}

static void clear_conf(bus_confirmation *conf)
{
    ts_free(conf->object), ts_free(conf->checksum), ts_free(conf->proof);
    conf->object = conf->checksum = conf->proof = NULL;
    conf->rows = conf->bytes = 0;
}

/* A repeated request (a republish after a restart, a takeover, a reclaim race): is a
 * version of the chunk live in the table, holding exactly the chunk's rows? Then it is
 * confirmed and nothing is written. */
static bool live_and_unchanged(PGconn *pg, lake *lk, delta_table *t, const obj_chunk *c,
                               const bus_request *req, bus_confirmation *conf)
{
    const delta_file *live[16];
    int n = obj_live_versions(t, c, live, 16);
    for (int i = 0; i < n && i < 16; i++) {
        const char *proof = obj_file_tag(live[i], OBJ_TAG_PROOF);
        char *path = obj_file_path(t, live[i]);
        ts_err e;
        bool ok;
        ts_err_clear(&e);
        ok = path &&
             arc_chunk_unchanged(pg, req->chunk.chunk_schema, req->chunk.chunk_name, proof) == 0 &&
             confirm_object(lk, path, live[i]->size, proof, conf, &e) == 0;
        if (!ok && e.code)
            ts_warn("live version \"%s\" of chunk \"%s.%s\" cannot be confirmed: %s", path ? path : "?",
                    req->chunk.chunk_schema, req->chunk.chunk_name, e.msg);
        if (ok)
            ts_info("chunk \"%s.%s\" is archived in \"%s\" and unchanged: confirming without "
                    "writing again", req->chunk.chunk_schema, req->chunk.chunk_name, path);
        else
            clear_conf(conf);
        ts_free(path);
        if (ok)
            return true;
    }
    return false;
}

typedef struct found {
    const obj_chunk *c;
    const delta_table *t;
    char **paths;
    int n, cap;
} found;

/* Versions of the chunk in the lake that the table neither holds nor removed: uploads
 * whose commit never happened (the archiver died in between). */
static int collect_uncommitted(void *ud, const lake_info *info)
{
    found *f = ud;
    const char *root = delta_table_root(f->t);
    size_t rl = strlen(root);
    const char *rel = info->name + rl + 1;
    if (!obj_path_is_version(f->c, info->name, NULL) || strncmp(info->name, root, rl) != 0 ||
        delta_table_find_any(f->t, rel))
        return 0; /* committed (live, or superseded: kept as it is) */
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
int arc_chunk_lock(PGconn *pg, const char *schema, const char *name, bool take, ts_err *err)
{
    char key[2 * BUS_NAME_MAX + 4];
    const char *p[1] = {key};
    PGresult *r;
    snprintf(key, sizeof key, "%s.%s", schema, name);
    r = pg_query(pg,
                 take ? "SELECT pg_advisory_lock(" CHUNK_LOCK_KEY ", hashtext($1))"
                      : "SELECT pg_advisory_unlock(" CHUNK_LOCK_KEY ", hashtext($1))",
                 1, p, err);
    if (!r)
        return err->code;
    PQclear(r);
    return TS_OK;
}

static void rollback(PGconn *pg)
{
    ts_err e;
    ts_err_clear(&e);
    if (pg_exec(pg, "ROLLBACK", &e) != 0) /* the session is gone: the server rolled back */
        ts_debug("rollback: %s", e.msg);
}

/* The names of the columns table t's log stores as strings (NULL-terminated, copies;
 * empty for a new table); NULL when out of memory. An array column another chunk sent
 * as text goes out as text again, so the table keeps one type (docs/types.md). */
static char **string_columns(const delta_table *t)
{
    const delta_schema *s = t ? delta_table_schema(t) : NULL;
    int n = s ? delta_schema_ncolumns(s) : 0, k = 0;
    char **names = ts_calloc((size_t)n + 1, sizeof *names);
    for (int i = 0; names && i < n; i++) {
        if (strcmp(delta_schema_column_type(s, i), "string") != 0)
            continue;
        if (!(names[k++] = ts_strdup(delta_schema_column_name(s, i)))) {
            while (k > 0)
                ts_free(names[--k]);
            ts_free(names);
            names = NULL;
        }
    }
    return names;
}

/* Commits the object at path to the table while the chunk cannot be dropped (its
 * ACCESS SHARE lock is held): a version only supersedes others while the chunk is still
 * in the database. Returns 0 when committed; 1 when the chunk is gone (dropped on the
 * strength of another version: this one must not join the table, and is deleted); an
 * error code otherwise (not judged: left for a retry). */
static int commit_locked(const ts_config *cfg, PGconn *pg, lake *lk, delta_table *t,
                         const obj_chunk *c, const char *path, const char *proof,
                         const char *event_id, ts_err *err)
{
    char *qname = NULL, sql[600], relid[24];
    ts_err e;
    int rc;
    ts_err_clear(&e);
    if (!(qname = pg_qualified_name(pg, c->chunk_schema, c->chunk_name, err)))
        return err->code;
    if ((rc = pg_exec(pg, "BEGIN", err)) != 0)
        goto out;
    snprintf(sql, sizeof sql, "SET LOCAL lock_timeout = %d", cfg->database.lock_timeout_ms);
    if ((rc = pg_exec(pg, sql, err)) != 0)
        goto abort;
    snprintf(sql, sizeof sql, "LOCK TABLE %s IN ACCESS SHARE MODE", qname);
    rc = pg_exec(pg, sql, &e);
    if (rc == TS_ERR_NOTFOUND) {
        ts_err de;
        ts_err_clear(&de);
        rollback(pg);
        ts_warn("chunk \"%s.%s\" was dropped while it was archived; \"%s\" does not join the "
                "table and is deleted", c->chunk_schema, c->chunk_name, path);
        if (lake_delete(lk, path, &de) != 0)
            ts_warn("could not delete \"%s\": %s", path, de.msg);
        rc = 1;
        goto out;
    }
    if (rc) {
        ts_err_set(err, rc, "%s", e.msg);
        goto abort;
    }
    /* the chunk's OID, under the lock: which incarnation of its name this version is */
    {
        const char *p[1] = {qname};
        PGresult *r = pg_query(pg, "SELECT $1::regclass::oid::text", 1, p, err);
        if (!r) {
            rc = err->code;
            goto abort;
        }
        snprintf(relid, sizeof relid, "%s", PQgetvalue(r, 0, 0));
        PQclear(r);
    }
    rc = obj_commit_version(t, lk, c, path, relid, proof, event_id, err);
    if (rc == TS_ERR_CONFLICT) { /* a concurrent commit changed the chunk's versions */
        ts_err_clear(err);
        if ((rc = delta_table_refresh(t, err)) == 0)
            rc = obj_commit_version(t, lk, c, path, relid, proof, event_id, err);
    }
    if (rc)
        goto abort;
    rc = pg_exec(pg, "COMMIT", err);
    goto out;
abort:
    rollback(pg);
out:
    ts_free(qname);
    return rc;
}

int arc_archive(const ts_config *cfg, PGconn *pg, lake *lk, obj_tables *tables, const char *cluster,
                const bus_request *req, bus_confirmation *conf, ts_err *err)
{
    pg_chunk ch;
    pg_export_source src = {0};
    pg_export_options opt;
    pg_export_result res;
    lake_writer *w = NULL;
    lake_info info = {0};
    obj_chunk oc;
    obj_tables *own = NULL;
    delta_table *t = NULL;
    char **text_cols = NULL;
    found unc = {0};
    char *path = NULL, *proof = NULL, *pre = NULL, hex[33], start[BUS_TIME_MAX],
         end[BUS_TIME_MAX], vid[OBJ_VID_LEN + 1], msg[1024];
    bool locked = false;
    double t_export = 0;
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
    if (ch.integer_range != (req->chunk.range_kind == BUS_RANGE_INTEGER) ||
        (ch.integer_range ? ch.start_int != req->chunk.range_start || ch.end_int != req->chunk.range_end
                          : ch.start_us != req->chunk.range_start || ch.end_us != req->chunk.range_end)) {
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
    if (ch.integer_range) {
        /* integers: named as such, and as time when the column's unit is known */
        oc.time_unit = ch.time_known ? ch.time_unit : TS_TIME_UNIT_NONE;
        snprintf(start, sizeof start, "%s", ch.range_start);
        snprintf(end, sizeof end, "%s", ch.range_end);
    } else if (ts_time_format(req->chunk.range_start, 0, start, sizeof start) != 0 ||
               ts_time_format(req->chunk.range_end, 0, end, sizeof end) != 0) {
        rc = fail_conf(conf, "the chunk's range is outside years 1-9999");
        goto out;
    }
    if ((rc = arc_chunk_lock(pg, req->chunk.chunk_schema, req->chunk.chunk_name, true, &e)) != 0) {
        rc = ts_err_set(err, rc, "%s", e.msg);
        goto out;
    }
    locked = true;
    if (!tables && (rc = obj_tables_new(lk, &own, &e)) != 0) {
        rc = ts_err_set(err, rc, "%s", e.msg);
        goto out;
    }
    if ((rc = obj_table_of(tables ? tables : own, &oc, &t, &e)) != 0)
        goto lake_failed;
    /* a version live in the table that still holds the chunk's rows: confirm it */
    if (live_and_unchanged(pg, lk, t, &oc, req, conf))
        goto out;
    /* an upload whose commit never happened (its archiver died in between): committed
     * now if it holds the chunk's rows, else it was never part of the archive: deleted */
    unc.c = &oc;
    unc.t = t;
    if (!(pre = obj_version_prefix(&oc))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = lake_list(lk, pre, collect_uncommitted, &unc, &e)) != 0)
        goto lake_failed;
    for (int i = 0; i < unc.n; i++) {
        char *uproof = NULL;
        ts_err ue;
        int vr, mr = TS_ERR_CONFLICT;
        ts_err_clear(&ue);
        vr = obj_verify(lk, unc.paths[i], -1, -1, NULL, &uproof, NULL, &ue);
        if (vr == 0 && !proof)
            mr = arc_chunk_unchanged(pg, req->chunk.chunk_schema, req->chunk.chunk_name, uproof);
        if (vr == 0 && !proof && mr == 0) {
            rc = commit_locked(cfg, pg, lk, t, &oc, unc.paths[i], uproof, req->event_id, &e);
            if (rc == 0 && confirm_object(lk, unc.paths[i], -1, uproof, conf, &e) == 0) {
                ts_info("chunk \"%s.%s\": committed \"%s\", an upload whose commit was "
                        "interrupted", req->chunk.chunk_schema, req->chunk.chunk_name, unc.paths[i]);
                proof = uproof;
                continue;
            }
            clear_conf(conf);
            ts_free(uproof);
            if (rc == 1) {
                rc = fail_conf(conf, "the chunk was dropped while it was archived");
                goto out;
            }
            if (rc == TS_ERR_CONN || rc == TS_ERR_CONFLICT || rc == TS_ERR_TIMEOUT) {
                rc = ts_err_set(err, rc, "%s", e.msg); /* not judged, as below */
                goto out;
            }
            if (rc) /* the log refused it (a column's type, say): judged, as below */
                goto lake_failed;
            continue;
        }
        ts_free(uproof);
        /* deleted only when known not to be needed: not a readable version of the chunk
         * (its footer or proof do not check out), or rows the chunk no longer holds, or
         * rows a version committed just now holds; kept when the lake or the database
         * could not say (a retry looks again) */
        if (vr == TS_ERR_NOTFOUND)
            continue;
        bool unneeded = vr == TS_ERR_CONFLICT || vr == TS_ERR_FORMAT ||
                        (vr == 0 && (proof || mr == TS_ERR_CONFLICT));
        if (!unneeded) {
            ts_warn("keeping \"%s\", an upload never committed, for now: %s", unc.paths[i],
                    vr ? ue.msg : "the database could not say whether the chunk matches it");
            continue;
        }
        ts_info("deleting \"%s\": an upload never committed that the chunk no longer matches",
                unc.paths[i]);
        if (lake_delete(lk, unc.paths[i], &ue) != 0 && ue.code != TS_ERR_NOTFOUND)
            ts_warn("could not delete \"%s\": %s", unc.paths[i], ue.msg);
    }
    if (proof)
        goto out; /* confirmed an interrupted upload */

    /* the chunk's table, range, partition bounds and (integer ranges) unit go into the
     * file's metadata, so restore can re-create a dropped partition */
    pg_export_source_of_chunk(&ch, &src);
    src.database = req->database;
    src.range_start = start;
    src.range_end = end;
    pg_export_options_init(&opt, cfg);
    opt.progress = on_progress;
    if (!(text_cols = string_columns(t))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    opt.text_columns = (const char *const *)text_cols;

    /* a name no other version can have: a second export of the chunk (it changed, or
     * its earlier export was lost) never replaces the first */
    if ((rc = obj_vid_new(req->event_id, vid, &e)) != 0 ||
        !(path = obj_version_path(&oc, vid))) {
        rc = ts_err_set(err, rc ? rc : TS_ERR_NOMEM, "%s", rc ? e.msg : "out of memory");
        goto out;
    }
    if ((rc = lake_writer_open(lk, path, &w, &e)) != 0)
        goto lake_failed;
    t_export = ts_mono_s();
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
    t_export = ts_mono_s() - t_export;
    lake_md5_hex(info.md5, hex);
    /* read it back: the footer parses, and size, MD5, rows and proof are what we wrote */
    if ((rc = obj_verify(lk, path, res.rows, res.bytes, hex, &proof, NULL, &e)) != 0)
        goto lake_failed;
    if (strcmp(proof, res.proof) != 0) {
        rc = fail_conf(conf, "the object read back carries another proof than the export's");
        goto out;
    }
    ts_fault("archiver.uploaded"); /* the object is whole; the table does not name it yet */
    rc = commit_locked(cfg, pg, lk, t, &oc, path, res.proof, req->event_id, &e);
    if (rc == 1) {
        rc = fail_conf(conf, "the chunk was dropped while it was archived");
        goto out;
    }
    if (rc == TS_ERR_CONN || rc == TS_ERR_CONFLICT || rc == TS_ERR_TIMEOUT) {
        rc = ts_err_set(err, rc, "%s", e.msg); /* not judged: the upload is committed or swept by the retry */
        goto out;
    }
    if (rc)
        goto lake_failed;
    ts_fault("archiver.committed"); /* in the table's log; nobody told yet */
    conf->status = BUS_STATUS_SUCCESS;
    conf->rows = res.rows;
    conf->bytes = res.bytes;
    conf->object = lake_url(lk, path);
    conf->checksum = ts_strdup(hex);
    conf->proof = obj_proof_json(res.proof);
    if (!conf->object || !conf->checksum || !conf->proof)
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    else
        ts_info("archived chunk \"%s.%s\": %lld rows, %lld bytes in \"%s\" (table version %lld; "
                "export and upload %.3f s)",
                req->chunk.chunk_schema, req->chunk.chunk_name, (long long)res.rows,
                (long long)res.bytes, path, (long long)delta_table_version(t), t_export);
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
        if (arc_chunk_lock(pg, req->chunk.chunk_schema, req->chunk.chunk_name, false, &ue) != 0)
            ts_debug("unlock: %s", ue.msg); /* the session, and the lock with it, is gone */
    }
    for (int i = 0; i < unc.n; i++)
        ts_free(unc.paths[i]);
    ts_free(unc.paths);
    for (char **n = text_cols; n && *n; n++)
        ts_free(*n);
    ts_free(text_cols);
    obj_tables_free(own);
    ts_free(pre);
    ts_free(path);
    ts_free(proof);
    pg_chunk_clear(&ch);
    return rc;
}
