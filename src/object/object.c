/* object.c: names, proofs and the cheap verification of archived objects. */
#include "object.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/tstime.h"
#include "delta/schema.h"
#include "delta/stats.h"
#include "parquet/reader.h"
#include "pg/conn.h"
#include "pg/export.h"
#include "pg/inttime.h"
#include "pg/proof.h"

/* ---- names ---- */

/* Appends s with every byte outside [A-Za-z0-9_-] as %XX: the dot that separates
 * schema and table, and "." or ".." as a whole name, can then never be ambiguous. */
static int put_escaped(ts_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '_' || c == '-';
        int rc = plain ? ts_buf_putc(b, (char)c)
                       : ts_buf_printf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
        if (rc)
            return rc;
    }
    return TS_OK;
}

char *obj_database_root(const char *cluster, const char *database)
{
    ts_buf b;
    char *out = NULL;
    ts_buf_init(&b, 0);
    if (put_escaped(&b, cluster) == TS_OK && ts_buf_putc(&b, '/') == TS_OK &&
        put_escaped(&b, database) == TS_OK && ts_buf_putc(&b, '/') == TS_OK)
        out = ts_strdup(ts_buf_cstr(&b));
    ts_buf_free(&b);
    return out;
}

char *obj_table_root(const char *cluster, const char *database, const char *schema,
                     const char *table)
{
    ts_buf b;
    char *out = NULL;
    ts_buf_init(&b, 0);
    if (put_escaped(&b, cluster) == TS_OK && ts_buf_putc(&b, '/') == TS_OK &&
        put_escaped(&b, database) == TS_OK && ts_buf_putc(&b, '/') == TS_OK &&
        put_escaped(&b, schema) == TS_OK && ts_buf_putc(&b, '.') == TS_OK &&
        put_escaped(&b, table) == TS_OK)
        out = ts_strdup(ts_buf_cstr(&b));
    ts_buf_free(&b);
    return out;
}

/* A range end for a name: 20240131T000000Z (.ffffff when not whole seconds), or the
 * integer for integer ranges. */
static int put_bound(ts_buf *b, bool integer, int64_t v)
{
    char s[TS_TIME_MAX];
    if (integer)
        return ts_buf_printf(b, "%" PRId64, v);
    if (ts_time_format_compact(v, s, sizeof s) != TS_OK)
        return TS_ERR_INVALID;
    return ts_buf_printf(b, "%s", s);
}

char *obj_version_prefix(const obj_chunk *c)
{
    char *root = obj_table_root(c->cluster, c->database, c->table_schema, c->table_name), *out = NULL;
    ts_buf b;
    ts_civil cv = {0};
    char year[24];
    int64_t start_us = c->range_start;
    bool dated = !c->integer_range ||
                 (c->time_unit != TS_TIME_UNIT_NONE &&
                  pg_int_to_us(c->range_start, c->time_unit, false, &start_us));
    if (!root)
        return NULL;
    if (dated)
        ts_civil_from_us(start_us, &cv);
    ts_buf_init(&b, 0);
    if ((!dated ? ts_buf_printf(&b, "%s/", root)
                          : ts_buf_printf(&b, "%s/year=%s/month=%02d/", root,
                                          ts_civil_year(cv.year, year), cv.month)) ==
            TS_OK &&
        put_escaped(&b, c->chunk_name) == TS_OK && ts_buf_putc(&b, '_') == TS_OK &&
        put_bound(&b, c->integer_range, c->range_start) == TS_OK && ts_buf_putc(&b, '_') == TS_OK &&
        put_bound(&b, c->integer_range, c->range_end) == TS_OK && ts_buf_putc(&b, '_') == TS_OK)
        out = ts_strdup(ts_buf_cstr(&b));
    ts_buf_free(&b);
    ts_free(root);
    return out;
}

char *obj_version_path(const obj_chunk *c, const char *vid)
{
    char *pre = obj_version_prefix(c), *out;
    if (!pre)
        return NULL;
    out = ts_malloc(strlen(pre) + strlen(vid) + 9);
    if (out)
        sprintf(out, "%s%s.parquet", pre, vid);
    ts_free(pre);
    return out;
}

int obj_vid_new(const char *proof, char *out, ts_err *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[16], d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    struct timespec ts;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok;
    clock_gettime(CLOCK_REALTIME, &ts);
    ok = md && RAND_bytes(rnd, sizeof rnd) == 1 && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
         EVP_DigestUpdate(md, proof ? proof : "", proof ? strlen(proof) : 0) == 1 &&
         EVP_DigestUpdate(md, &ts, sizeof ts) == 1 && EVP_DigestUpdate(md, rnd, sizeof rnd) == 1 &&
         EVP_DigestFinal_ex(md, d, &dl) == 1 && dl >= OBJ_VID_LEN / 2;
    EVP_MD_CTX_free(md);
    if (!ok)
        return ts_err_set(err, TS_ERR_INTERNAL, "could not make a version id (OpenSSL)");
    for (int i = 0; i < OBJ_VID_LEN / 2; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[OBJ_VID_LEN] = '\0';
    return TS_OK;
}

static bool vid_ok(const char *s)
{
    for (int i = 0; i < OBJ_VID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

bool obj_path_is_version(const obj_chunk *c, const char *path, char *vid)
{
    char *pre = obj_version_prefix(c);
    size_t pl;
    bool ok;
    if (!pre)
        return false;
    pl = strlen(pre);
    ok = strncmp(path, pre, pl) == 0 && strlen(path + pl) == OBJ_VID_LEN + 8 &&
         vid_ok(path + pl) && strcmp(path + pl + OBJ_VID_LEN, ".parquet") == 0;
    if (ok && vid)
        snprintf(vid, OBJ_VID_LEN + 1, "%s", path + pl);
    ts_free(pre);
    return ok;
}

char *obj_path_of_url(lake *lk, const obj_chunk *c, const char *url)
{
    char *pre = obj_version_prefix(c), *upre = NULL, *out = NULL;
    size_t ul;
    if (!pre || !url || !(upre = lake_url(lk, pre)))
        goto out;
    ul = strlen(upre);
    if (strncmp(url, upre, ul) != 0 || strlen(url + ul) != OBJ_VID_LEN + 8 || !vid_ok(url + ul) ||
        strcmp(url + ul + OBJ_VID_LEN, ".parquet") != 0)
        goto out;
    if ((out = ts_malloc(strlen(pre) + OBJ_VID_LEN + 9)))
        sprintf(out, "%s%s", pre, url + ul);
out:
    ts_free(pre);
    ts_free(upre);
    return out;
}

/* ---- proofs ---- */

char *obj_proof_json(const char *chunk_proof)
{
    json_t *o = json_pack("{s:s}", "chunk", chunk_proof);
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char *out = s ? ts_strdup(s) : NULL;
    free(s);
    json_decref(o);
    return out;
}

int obj_proof_from_json(const char *text, char *out, size_t len, ts_err *err)
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

/* ---- verification ---- */

int obj_read_exact(void *ctx, uint64_t off, void *dst, size_t len, ts_err *err)
{
    obj_src *s = ctx;
    size_t got = 0;
    int rc = lake_read(s->lk, s->path, off, len, dst, &got, err);
    if (rc == 0 && got != len)
        rc = ts_err_set(err, TS_ERR_FORMAT, "object \"%s\" ended early", s->path);
    return rc;
}

int obj_verify(lake *lk, const char *path, int64_t rows, int64_t bytes, const char *md5_hex,
               char **proof_out, lake_info *info_out, ts_err *err)
{
    lake_info info = {0};
    obj_src src = {lk, path};
    pq_reader *r = NULL;
    char hex[33];
    const char *proof;
    int rc;

    if (proof_out)
        *proof_out = NULL;
    if ((rc = lake_stat(lk, path, &info, err)) != 0)
        return rc;
    if (info_out)
        *info_out = info;
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
    if ((rc = pq_reader_open(&r, obj_read_exact, &src, info.size, NULL, err)) != 0) {
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

int obj_read_back(lake *lk, const char *path, PGconn *pg, const char *chunk_schema,
                  const char *chunk_name, char *proof, lake_info *info_out, ts_err *err)
{
    lake_info info = {0};
    obj_src src = {lk, path};
    pq_reader *r = NULL;
    int rc;

    proof[0] = '\0';
    if ((rc = lake_stat(lk, path, &info, err)) != 0)
        return rc;
    if (info_out)
        *info_out = info;
    if ((rc = pq_reader_open(&r, obj_read_exact, &src, info.size, NULL, err)) == 0)
        rc = pg_proof_of_file(pg, r, chunk_schema, chunk_name, proof, err);
    pq_reader_free(r);
    if (rc) {
        ts_err_prefix(err, "reading object \"%s\" back", path);
        if (rc == TS_ERR_FORMAT || rc == TS_ERR_TOOBIG || rc == TS_ERR_INVALID)
            rc = TS_ERR_CONFLICT; /* a damaged object: never a licence */
    }
    return rc;
}

/* ---- the cluster ---- */

int obj_cluster_id(PGconn *pg, const char *cluster_name, char out[64], ts_err *err)
{
    PGresult *r;
    if (cluster_name && *cluster_name) {
        snprintf(out, 64, "%s", cluster_name);
        return TS_OK;
    }
    if (!(r = pg_query(pg, "SELECT system_identifier::text FROM pg_catalog.pg_control_system()", 0,
                       NULL, err)))
        return err->code;
    snprintf(out, 64, "pg%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    if (strlen(out) < 3)
        return ts_err_set(err, TS_ERR_REMOTE, "the server gave no system identifier");
    return TS_OK;
}

/* ---- the archive as a table ---- */

#define OBJ_TABLES_MAX 64 /* tables kept loaded by one cache; the oldest is dropped */

typedef struct cached_table {
    char *root;
    delta_table *t;
    uint64_t used;
} cached_table;

struct obj_tables {
    lake *lk;
    cached_table v[OBJ_TABLES_MAX];
    int n;
    uint64_t tick;
};

int obj_tables_new(lake *lk, obj_tables **out, ts_err *err)
{
    obj_tables *c = ts_calloc(1, sizeof *c);
    *out = NULL;
    if (!c)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    c->lk = lk;
    *out = c;
    return TS_OK;
}

void obj_tables_free(obj_tables *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++) {
        delta_table_free(c->v[i].t);
        ts_free(c->v[i].root);
    }
    ts_free(c);
}

int obj_table_of(obj_tables *c, const obj_chunk *ch, delta_table **out, ts_err *err)
{
    char *root = obj_table_root(ch->cluster, ch->database, ch->table_schema, ch->table_name);
    cached_table *e = NULL;
    int rc;
    *out = NULL;
    if (!root)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < c->n && !e; i++)
        if (strcmp(c->v[i].root, root) == 0)
            e = &c->v[i];
    if (!e) {
        if (c->n == OBJ_TABLES_MAX) { /* drop the least recently used */
            int old = 0;
            for (int i = 1; i < c->n; i++)
                if (c->v[i].used < c->v[old].used)
                    old = i;
            delta_table_free(c->v[old].t);
            ts_free(c->v[old].root);
            c->v[old] = c->v[--c->n];
        }
        e = &c->v[c->n];
        memset(e, 0, sizeof *e);
        if ((rc = delta_table_open(c->lk, root, NULL, &e->t, err)) != TS_OK) {
            ts_free(root);
            return rc;
        }
        e->root = root;
        root = NULL;
        c->n++;
    }
    ts_free(root);
    e->used = ++c->tick;
    if ((rc = delta_table_refresh(e->t, err)) != TS_OK)
        return rc;
    *out = e->t;
    return TS_OK;
}

/* The chunk tag's value: ["schema","name"] as compact JSON. ts_free() it. */
static char *chunk_tag(const obj_chunk *c)
{
    json_t *a = json_pack("[s,s]", c->chunk_schema, c->chunk_name);
    char *s = a ? json_dumps(a, JSON_COMPACT) : NULL, *out = s ? ts_strdup(s) : NULL;
    free(s);
    json_decref(a);
    return out;
}

const char *obj_file_tag(const delta_file *f, const char *key)
{
    for (int i = 0; i < f->ntags; i++)
        if (strcmp(f->tags[i].key, key) == 0)
            return f->tags[i].value;
    return NULL;
}

int obj_live_versions(const delta_table *t, const obj_chunk *c, const delta_file **files, int max)
{
    char *tag = chunk_tag(c);
    int n = 0;
    for (size_t i = 0; tag && i < delta_table_nfiles(t); i++) {
        const delta_file *f = delta_table_file(t, i);
        const char *v = obj_file_tag(f, OBJ_TAG_CHUNK);
        if (v && strcmp(v, tag) == 0) {
            if (n < max)
                files[n] = f;
            n++;
        }
    }
    ts_free(tag);
    return n;
}

char *obj_file_path(const delta_table *t, const delta_file *f)
{
    const char *root = delta_table_root(t);
    char *p = ts_malloc(strlen(root) + strlen(f->path) + 2);
    if (p)
        sprintf(p, "%s%s%s", root, *root ? "/" : "", f->path);
    return p;
}

int obj_commit_version(delta_table *t, lake *lk, const obj_chunk *c, const char *path,
                       const char *relid, const char *proof, const char *event_id, ts_err *err)
{
    const char *root = delta_table_root(t);
    size_t rl = strlen(root);
    lake_info info = {0};
    obj_src src = {lk, path};
    pq_reader *r = NULL;
    delta_schema *schema = NULL;
    delta_txn *tx = NULL;
    const delta_file *old[16];
    char *stats = NULL, *tag = NULL, range[2 * TS_TIME_MAX + 2], a[TS_TIME_MAX], b[TS_TIME_MAX],
         trange[2 * TS_TIME_MAX + 2] = "";
    int nold, rc, ntags = 5;

    if (strncmp(path, root, rl) != 0 || path[rl] != '/')
        return ts_err_set(err, TS_ERR_INTERNAL, "object \"%s\" is outside its table \"%s\"", path, root);
    if (delta_table_find_any(t, path + rl + 1))
        return TS_OK; /* committed already (a retried commit; superseded since, maybe:
                         a path the log has named is never added again) */
    if (!(tag = chunk_tag(c))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (c->integer_range) {
        int64_t su, eu;
        snprintf(range, sizeof range, "%" PRId64 "/%" PRId64, c->range_start, c->range_end);
        if (c->time_unit != TS_TIME_UNIT_NONE && pg_int_to_us(c->range_start, c->time_unit, false, &su) &&
            pg_int_to_us(c->range_end, c->time_unit, true, &eu) &&
            ts_time_format(su, TS_TIME_ANY_YEAR, a, sizeof a) == TS_OK &&
            ts_time_format(eu, TS_TIME_ANY_YEAR, b, sizeof b) == TS_OK)
            snprintf(trange, sizeof trange, "%s/%s", a, b);
    } else if (ts_time_format(c->range_start, TS_TIME_ANY_YEAR, a, sizeof a) != TS_OK ||
               ts_time_format(c->range_end, TS_TIME_ANY_YEAR, b, sizeof b) != TS_OK) {
        rc = ts_err_set(err, TS_ERR_INVALID, "the range of chunk \"%s.%s\" cannot be written",
                        c->chunk_schema, c->chunk_name);
        goto out;
    } else {
        snprintf(range, sizeof range, "%s/%s", a, b);
    }
    if ((rc = lake_stat(lk, path, &info, err)) != TS_OK ||
        (rc = pq_reader_open(&r, obj_read_exact, &src, info.size, NULL, err)) != TS_OK ||
        (rc = delta_schema_from_parquet(r, &schema, err)) != TS_OK ||
        (rc = delta_stats_from_parquet(r, DELTA_STATS_SCAN_NAN, &stats, err)) != TS_OK ||
        (rc = delta_txn_new(t, "WRITE", &tx, err)) != TS_OK ||
        (rc = delta_txn_set_schema(tx, schema, err)) != TS_OK)
        goto out;
    {
        delta_kv tags[7] = {{OBJ_TAG_CHUNK, tag},
                            {OBJ_TAG_RANGE, range},
                            {OBJ_TAG_RELID, relid},
                            {OBJ_TAG_PROOF, proof},
                            {OBJ_TAG_EVENT, event_id ? event_id : ""},
                            {OBJ_TAG_TIME_RANGE, trange},
                            {OBJ_TAG_TIME_UNIT, ts_time_unit_name(c->time_unit)}};
        if (trange[0])
            ntags = 7;
        delta_add add = {.path = path + rl + 1,
                         .size = (int64_t)info.size,
                         .stats = stats,
                         .tags = tags,
                         .ntags = ntags};
        if ((rc = delta_txn_add(tx, &add, err)) != TS_OK)
            goto out;
    }
    /* the versions this one supersedes: removed in the same commit, never before */
    nold = obj_live_versions(t, c, old, (int)(sizeof old / sizeof *old));
    if (nold > (int)(sizeof old / sizeof *old)) {
        rc = ts_err_set(err, TS_ERR_INTERNAL,
                        "chunk \"%s.%s\" has %d live versions in its table, more than a commit "
                        "supersedes at once (%d)",
                        c->chunk_schema, c->chunk_name, nold, (int)(sizeof old / sizeof *old));
        goto out;
    }
    for (int i = 0; i < nold; i++) {
        const char *v = obj_file_tag(old[i], OBJ_TAG_RELID);
        if (!v || strcmp(v, relid) != 0)
            continue; /* an earlier incarnation's rows: not in the database any more */
        if ((rc = delta_txn_remove(tx, old[i]->path, 0, err)) != TS_OK)
            goto out;
    }
    rc = delta_txn_commit(tx, NULL, err);
out:
    if (rc)
        ts_err_prefix(err, "committing \"%s\" to the table's log", path);
    delta_txn_free(tx);
    delta_schema_free(schema);
    pq_reader_free(r);
    ts_free(stats);
    ts_free(tag);
    return rc;
}

bool obj_path_in_archive(lake *lk, const char *path)
{
    char *dir = ts_strdup(path), *slash;
    bool part = !dir || strstr(path, "/_delta_log/") != NULL ||
                strncmp(path, "_delta_log/", 11) == 0;
    /* up from the file's folder (year=/month= folders have no log) to the nearest
     * folder that has one */
    while (!part && (slash = strrchr(dir, '/'))) {
        delta_table *t = NULL;
        ts_err e;
        *slash = '\0';
        ts_err_clear(&e);
        if (delta_table_load(lk, dir, NULL, &t, &e) != 0) {
            part = true; /* cannot be checked: kept */
        } else if (delta_table_version(t) >= 0) {
            part = delta_table_find_any(t, path + strlen(dir) + 1) != NULL;
            delta_table_free(t);
            break; /* the nearest table */
        }
        delta_table_free(t);
    }
    ts_free(dir);
    return part;
}
