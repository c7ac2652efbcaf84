/* adopt.c: objects the earlier layout wrote (before the archive became Delta tables:
 * "<database>/<schema>.<table>/year=YYYY/month=MM/<chunk>_<start>_<end>.parquet") are
 * adopted into their tables at the archiver's start, so nothing archived before is
 * orphaned. Delta readers resolve a table's files under its folder, so each is copied,
 * byte for byte and write-once, to a version name in the table's folder (the id is its
 * MD5: adopting twice finds the same name) and committed with an add. The original is
 * never moved, rewritten or deleted. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archiver_int.h"
#include "common/alloc.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/runctl.h"
#include "common/tstime.h"
#include "parquet/reader.h"
#include "pg/conn.h"
#include "pg/export.h"
#include "pg/proof.h"

/* The earlier layout's escaping: bytes outside [A-Za-z0-9_.-] as %XX, and dots too
 * when the name is nothing but dots. */
static int old_escape(ts_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    bool all_dots = strspn(s, ".") == strlen(s);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '_' || c == '-' || (c == '.' && !all_dots);
        int rc = plain ? ts_buf_putc(b, (char)c) : ts_buf_printf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
        if (rc)
            return rc;
    }
    return TS_OK;
}

typedef struct legacy {
    char **paths;
    int n, cap;
} legacy;

static int collect(void *ud, const lake_info *info)
{
    legacy *l = ud;
    size_t n = strlen(info->name);
    /* the earlier layout: .../year=YYYY/month=MM/<name>.parquet, never a table's log */
    if (n < 9 || strcmp(info->name + n - 8, ".parquet") != 0 || strstr(info->name, "/_delta_log/") ||
        !strstr(info->name, "/year=") || !strstr(info->name, "/month="))
        return 0;
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 16;
        char **p = ts_realloc(l->paths, (size_t)cap * sizeof *p);
        if (!p)
            return TS_ERR_NOMEM;
        l->paths = p;
        l->cap = cap;
    }
    if (!(l->paths[l->n] = ts_strdup(info->name)))
        return TS_ERR_NOMEM;
    l->n++;
    return 0;
}


/* The [a, b] strings of a JSON array of two strings in the file's metadata. */
static bool kv_pair(const pq_reader *r, const char *key, char *a, char *b, size_t len)
{
    const char *s = pq_reader_kv(r, key);
    json_t *j = s ? json_loads(s, 0, NULL) : NULL;
    bool ok = j && json_is_array(j) && json_array_size(j) == 2 &&
              json_is_string(json_array_get(j, 0)) && json_is_string(json_array_get(j, 1));
    if (ok) {
        snprintf(a, len, "%s", json_string_value(json_array_get(j, 0)));
        snprintf(b, len, "%s", json_string_value(json_array_get(j, 1)));
    }
    json_decref(j);
    return ok;
}

/* Copies the object at from to to, byte for byte (write-once: the same bytes already
 * there are success). */
static int copy_object(lake *lk, const char *from, const char *to, uint64_t size, ts_err *err)
{
    size_t cap = 4u << 20;
    uint8_t *buf = ts_malloc(cap);
    lake_writer *w = NULL;
    uint64_t off = 0;
    int rc;
    if (!buf)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    if ((rc = lake_writer_open(lk, to, &w, err)) != 0)
        goto out;
    while (off < size && rc == 0) {
        size_t got = 0, want = size - off < cap ? (size_t)(size - off) : cap;
        if ((rc = lake_read(lk, from, off, want, buf, &got, err)) == 0 && got == 0)
            rc = ts_err_set(err, TS_ERR_CONFLICT, "object \"%s\" shrank while copied", from);
        if (rc == 0)
            rc = lake_writer_write(w, buf, got, err);
        off += got;
    }
    if (rc == 0) {
        rc = lake_writer_commit(w, NULL, err);
        w = NULL;
    }
out:
    lake_writer_abort(w);
    ts_free(buf);
    return rc;
}

/* Adopts one object; 1 when it joined its table now, 0 when it was there already. */
static int adopt_one(arc_worker *w, const char *path, ts_err *err)
{
    lake_info info;
    obj_src src = {w->lk, path};
    pq_reader *r = NULL;
    delta_table *t = NULL;
    obj_chunk oc;
    char ts[128], tn[128], cs[128], cn[128], vid[OBJ_VID_LEN + 1], hex[33], relid[24] = "",
        *dest = NULL, event[600];
    const char *proof, *range;
    json_t *rj = NULL;
    int64_t start, end;
    bool locked = false;
    int rc;

    if ((rc = lake_stat(w->lk, path, &info, err)) != 0 ||
        (rc = pq_reader_open(&r, obj_read_exact, &src, info.size, NULL, err)) != 0)
        goto out;
    proof = pq_reader_kv(r, PG_KV_PROOF);
    range = pq_reader_kv(r, PG_KV_RANGE);
    rj = range ? json_loads(range, 0, NULL) : NULL;
    if (!proof || !kv_pair(r, PG_KV_TABLE, ts, tn, sizeof ts) ||
        !kv_pair(r, PG_KV_CHUNK, cs, cn, sizeof cs) || !rj ||
        ts_time_scan(json_string_value(json_object_get(rj, "start")), TS_TIME_LENIENT, &start) ||
        ts_time_scan(json_string_value(json_object_get(rj, "end")), TS_TIME_LENIENT, &end)) {
        rc = ts_err_set(err, TS_ERR_FORMAT, "object \"%s\" carries no tsarchive metadata to adopt it by",
                        path);
        goto out;
    }
    memset(&oc, 0, sizeof oc);
    oc.cluster = w->cluster, oc.database = w->database;
    oc.table_schema = ts, oc.table_name = tn, oc.chunk_schema = cs, oc.chunk_name = cn;
    oc.range_start = start, oc.range_end = end;
    if (!info.has_md5) {
        rc = ts_err_set(err, TS_ERR_CONFLICT, "object \"%s\" has no stored MD5", path);
        goto out;
    }
    lake_md5_hex(info.md5, hex);
    snprintf(vid, sizeof vid, "%.*s", OBJ_VID_LEN, hex); /* the same name each time */
    if (!(dest = obj_version_path(&oc, vid))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* one worker at a time per chunk, as for a request: a request for this chunk
     * served meanwhile waits, then finds the adopted version */
    if ((rc = arc_chunk_lock(w->pg, cs, cn, true, err)) != 0)
        goto out;
    locked = true;
    if ((rc = obj_table_of(w->tables, &oc, &t, err)) != 0)
        goto out;
    {
        const char *root = delta_table_root(t);
        const delta_file *live[16];
        int n = obj_live_versions(t, &oc, live, 16);
        if (delta_table_find_any(t, dest + strlen(root) + 1)) {
            rc = 0; /* adopted already (and maybe superseded since: never added again) */
            goto out;
        }
        for (int i = 0; i < n && i < 16; i++) {
            const char *lp = obj_file_tag(live[i], OBJ_TAG_PROOF);
            if (lp && strcmp(lp, proof) == 0) {
                rc = 0; /* these very rows are in the table already */
                goto out;
            }
        }
    }
    if ((rc = copy_object(w->lk, path, dest, info.size, err)) != 0)
        goto out;
    /* the chunk still in the database and still holding exactly these rows: this is a
     * version of its incarnation (a later export supersedes it); else its rows left the
     * database with an earlier incarnation, and no later version may supersede it */
    if ((rc = arc_chunk_unchanged(w->pg, cs, cn, proof)) != 0 && rc != TS_ERR_CONFLICT) {
        /* not known: committed without the chunk's OID, no later version could supersede
         * it; tried again at the next start instead */
        rc = ts_err_set(err, rc, "could not compare chunk \"%s.%s\" with it", cs, cn);
        goto out;
    }
    if (rc == 0) {
        char *q = pg_qualified_name(w->pg, cs, cn, err);
        const char *p[1] = {q};
        PGresult *res = q ? pg_query(w->pg, "SELECT to_regclass($1)::oid::text", 1, p, err) : NULL;
        ts_free(q);
        if (!res) {
            rc = err->code ? err->code : TS_ERR_NOMEM;
            goto out;
        }
        snprintf(relid, sizeof relid, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
    }
    snprintf(event, sizeof event, "adopted from %s", path);
    if ((rc = obj_commit_version(t, w->lk, &oc, dest, relid, proof, event, err)) == 0) {
        ts_info("adopted \"%s\", written by the earlier layout, into its table as \"%s\"", path, dest);
        rc = 1;
    }
out:
    if (locked) {
        ts_err ue;
        ts_err_clear(&ue);
        if (arc_chunk_lock(w->pg, cs, cn, false, &ue) != 0)
            ts_debug("unlock: %s", ue.msg); /* the session, and the lock, is gone */
    }
    json_decref(rj);
    pq_reader_free(r);
    ts_free(dest);
    return rc;
}

void arc_adopt_legacy(arc_worker *w)
{
    legacy l = {0};
    ts_buf pre;
    ts_err e;
    int adopted = 0, failed = 0;

    ts_err_clear(&e);
    ts_buf_init(&pre, 0);
    if (old_escape(&pre, w->database) != 0 || ts_buf_putc(&pre, '/') != 0) {
        ts_buf_free(&pre);
        return;
    }
    if (lake_list(w->lk, ts_buf_cstr(&pre), collect, &l, &e) != 0)
        ts_warn("could not look for objects of the earlier layout: %s", e.msg);
    for (int i = 0; i < l.n && !ts_run_stopping(); i++) {
        int rc;
        ts_err_clear(&e);
        rc = adopt_one(w, l.paths[i], &e);
        if (rc == 1)
            adopted++;
        else if (rc < 0) {
            failed++;
            ts_warn("could not adopt \"%s\": %s (tried again at the next start)", l.paths[i], e.msg);
        }
    }
    if (adopted || failed)
        ts_info("earlier layout: %d object%s adopted into their tables, %d not", adopted,
                adopted == 1 ? "" : "s", failed);
    for (int i = 0; i < l.n; i++)
        ts_free(l.paths[i]);
    ts_free(l.paths);
    ts_buf_free(&pre);
}
