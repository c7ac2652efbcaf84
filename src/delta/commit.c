/* commit.c: transactions: collect adds, removes and a schema, then commit them as the
 * next version with a write-once put; a writer that loses the race reads the versions
 * that won, checks for logical conflicts, and tries the next version. */
#include "delta_int.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "delta/stats.h"

typedef struct txn_add {
    char *path, *raw, *stats;
    int64_t size, mtime;
    delta_kv *tags;
    int ntags;
} txn_add;

typedef struct txn_remove {
    char *path;
    int64_t ts;
} txn_remove;

struct delta_txn {
    delta_table *t;
    char *operation;
    char id[37];
    unsigned seed; /* backoff jitter */
    delta_schema *schema;
    txn_add *adds;
    size_t nadds, capadds;
    txn_remove *rems;
    size_t nrems, caprems;
};

int delta_txn_new(delta_table *t, const char *operation, delta_txn **out, ts_err *err)
{
    delta_txn *tx = ts_calloc(1, sizeof *tx);
    int rc;
    *out = NULL;
    if (!tx || !(tx->operation = ts_strdup(operation ? operation : "WRITE"))) {
        delta_txn_free(tx);
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    }
    if ((rc = delta_uuid(tx->id, err)) != TS_OK) {
        delta_txn_free(tx);
        return rc;
    }
    tx->t = t;
    tx->seed = (unsigned)strtoul(tx->id, NULL, 16) ^ (unsigned)delta_now_ms();
    *out = tx;
    return TS_OK;
}

void delta_txn_free(delta_txn *tx)
{
    if (!tx)
        return;
    for (size_t i = 0; i < tx->nadds; i++) {
        txn_add *a = &tx->adds[i];
        ts_free(a->path);
        ts_free(a->raw);
        ts_free(a->stats);
        for (int k = 0; k < a->ntags; k++) {
            ts_free((char *)a->tags[k].key);
            ts_free((char *)a->tags[k].value);
        }
        ts_free(a->tags);
    }
    ts_free(tx->adds);
    for (size_t i = 0; i < tx->nrems; i++)
        ts_free(tx->rems[i].path);
    ts_free(tx->rems);
    delta_schema_free(tx->schema);
    ts_free(tx->operation);
    ts_free(tx);
}

const char *delta_txn_id(const delta_txn *tx)
{
    return tx->id;
}

int delta_txn_set_schema(delta_txn *tx, const delta_schema *schema, ts_err *err)
{
    delta_schema *c = delta_schema_copy(schema);
    if (!c)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    delta_schema_free(tx->schema);
    tx->schema = c;
    return TS_OK;
}

/* A path this transaction already names. */
static bool txn_has(const delta_txn *tx, const char *path)
{
    for (size_t i = 0; i < tx->nadds; i++)
        if (strcmp(tx->adds[i].path, path) == 0)
            return true;
    for (size_t i = 0; i < tx->nrems; i++)
        if (strcmp(tx->rems[i].path, path) == 0)
            return true;
    return false;
}

/* The path, checked, with the root in front (it must make a lake path). */
static int check_path(const delta_txn *tx, const char *path, ts_err *err)
{
    int rc = delta_path_check(path, err);
    if (rc != TS_OK)
        return rc;
    if (txn_has(tx, path))
        return ts_err_set(err, TS_ERR_INVALID, "\"%s\" is already in this transaction", path);
    size_t n = strlen(tx->t->root) + strlen(path) + 2;
    char *full = ts_malloc(n);
    if (!full)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    snprintf(full, n, "%s%s%s", tx->t->root, *tx->t->root ? "/" : "", path);
    rc = lake_path_check(full, err);
    ts_free(full);
    return rc;
}

int delta_txn_add(delta_txn *tx, const delta_add *add, ts_err *err)
{
    txn_add a;
    int rc;
    memset(&a, 0, sizeof a);
    if (!add->path || (rc = check_path(tx, add->path, err)) != TS_OK)
        return add->path ? rc : ts_err_set(err, TS_ERR_INVALID, "an add needs a path");
    if (add->size < 0)
        return ts_err_set(err, TS_ERR_INVALID, "add of \"%s\": negative size", add->path);
    if (add->stats) {
        json_t *j = delta_stats_parse(add->stats);
        bool ok = j != NULL;
        json_decref(j);
        if (!ok)
            return ts_err_set(err, TS_ERR_INVALID, "add of \"%s\": stats are not a JSON object",
                              add->path);
    }
    for (int i = 0; i < add->ntags; i++)
        if ((add->tags[i].key && delta_utf8_prefix((const uint8_t *)add->tags[i].key,
                                                   strlen(add->tags[i].key), INT_MAX, NULL) < 0) ||
            (add->tags[i].value &&
             delta_utf8_prefix((const uint8_t *)add->tags[i].value, strlen(add->tags[i].value),
                               INT_MAX, NULL) < 0))
            return ts_err_set(err, TS_ERR_INVALID, "add of \"%s\": tag %d is not UTF-8", add->path,
                              i + 1);
    if (tx->nadds == tx->capadds) {
        size_t cap = tx->capadds ? tx->capadds * 2 : 8;
        txn_add *n = ts_realloc(tx->adds, cap * sizeof *n);
        if (!n)
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        tx->adds = n;
        tx->capadds = cap;
    }
    a.size = add->size;
    a.mtime = add->modification_time > 0 ? add->modification_time : delta_now_ms();
    a.path = ts_strdup(add->path);
    a.raw = delta_uri_encode(add->path);
    a.stats = add->stats ? ts_strdup(add->stats) : NULL;
    a.tags = add->ntags > 0 ? ts_calloc((size_t)add->ntags, sizeof *a.tags) : NULL;
    bool bad = !a.path || !a.raw || (add->stats && !a.stats) || (add->ntags > 0 && !a.tags);
    bool missing = false;
    for (int i = 0; !bad && i < add->ntags; i++) {
        if (!add->tags[i].key || !add->tags[i].value) {
            missing = true;
            break;
        }
        a.tags[i].key = ts_strdup(add->tags[i].key);
        a.tags[i].value = ts_strdup(add->tags[i].value);
        a.ntags++;
        bad = !a.tags[i].key || !a.tags[i].value;
    }
    if (!bad && !missing) {
        tx->adds[tx->nadds++] = a;
        return TS_OK;
    }
    ts_free(a.path);
    ts_free(a.raw);
    ts_free(a.stats);
    for (int i = 0; i < a.ntags; i++) {
        ts_free((char *)a.tags[i].key);
        ts_free((char *)a.tags[i].value);
    }
    ts_free(a.tags);
    if (missing)
        return ts_err_set(err, TS_ERR_INVALID, "add of \"%s\": a tag without key or value",
                          add->path);
    return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
}

int delta_txn_remove(delta_txn *tx, const char *path, int64_t deletion_timestamp, ts_err *err)
{
    int rc;
    if (!path || (rc = check_path(tx, path, err)) != TS_OK)
        return path ? rc : ts_err_set(err, TS_ERR_INVALID, "a remove needs a path");
    if (tx->nrems == tx->caprems) {
        size_t cap = tx->caprems ? tx->caprems * 2 : 8;
        txn_remove *n = ts_realloc(tx->rems, cap * sizeof *n);
        if (!n)
            return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        tx->rems = n;
        tx->caprems = cap;
    }
    if (!(tx->rems[tx->nrems].path = ts_strdup(path)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    tx->rems[tx->nrems++].ts = deletion_timestamp > 0 ? deletion_timestamp : delta_now_ms();
    return TS_OK;
}

/* ---- building the commit ---- */

/* The protocol a new table with schema s gets: the lowest every reader accepts. */
static void protocol_for(const delta_schema *s, delta_protocol *p)
{
    static const char *const ntz[] = {"timestampNtz"};
    memset(p, 0, sizeof *p);
    if (delta_schema_needs_timestamp_ntz(s)) {
        p->min_reader = 3;
        p->min_writer = 7;
        p->nreader_features = p->nwriter_features = 1;
        p->reader_features = p->writer_features = ntz;
    } else {
        p->min_reader = 1;
        p->min_writer = 2;
    }
}

static bool has(const char *const *v, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* The protocol of t with timestampNtz added (an upgrade to reader 3 / writer 7 lists
 * the features the old versions implied, as the protocol asks). rf and wf hold up to
 * 16 names each; returns false when there is no room. */
static bool protocol_with_ntz(const delta_table *t, delta_protocol *p, const char **rf,
                              const char **wf)
{
    const delta_protocol *o = &t->proto;
    int nr = 0, nw = 0;
    if (o->min_reader >= 3)
        for (int i = 0; i < o->nreader_features && nr < 15; i++)
            rf[nr++] = o->reader_features[i];
    else if (o->min_reader == 2)
        rf[nr++] = "columnMapping";
    if (o->min_writer >= 7) {
        for (int i = 0; i < o->nwriter_features && nw < 15; i++)
            wf[nw++] = o->writer_features[i];
    } else if (o->min_writer >= 2) {
        wf[nw++] = "appendOnly";
        wf[nw++] = "invariants";
    }
    if (nr >= 15 || nw >= 15)
        return false;
    if (!has(rf, nr, "timestampNtz"))
        rf[nr++] = "timestampNtz";
    if (!has(wf, nw, "timestampNtz"))
        wf[nw++] = "timestampNtz";
    memset(p, 0, sizeof *p);
    p->min_reader = 3;
    p->min_writer = 7;
    p->nreader_features = nr;
    p->nwriter_features = nw;
    p->reader_features = rf;
    p->writer_features = wf;
    return true;
}

static bool table_has_ntz(const delta_table *t)
{
    return t->proto.min_reader >= 3 && t->proto.min_writer >= 7 &&
           has(t->proto.reader_features, t->proto.nreader_features, "timestampNtz") &&
           has(t->proto.writer_features, t->proto.nwriter_features, "timestampNtz");
}

/* The bytes of version t->version + 1 for tx, against the table as it is now. */
static int build(delta_txn *tx, ts_buf *b, ts_err *err)
{
    delta_table *t = tx->t;
    int64_t now = delta_now_ms();
    delta_schema *merged = NULL;
    char *schema_json = NULL;
    int rc;

    /* logical conflicts with what other writers committed */
    for (size_t i = 0; i < tx->nrems; i++)
        if (!delta_table_lookup(t, tx->rems[i].path)) {
            rc = ts_err_set(err, TS_ERR_CONFLICT,
                            "table \"%s\" version %" PRId64 ": cannot remove \"%s\": it is not a "
                            "live file (removed by another writer, or never added)",
                            t->root, t->version, tx->rems[i].path);
            goto out;
        }
    for (size_t i = 0; i < tx->nadds; i++) {
        const delta_entry *e = delta_table_lookup(t, tx->adds[i].path);
        if (e) {
            rc = ts_err_set(err, TS_ERR_CONFLICT,
                            "table \"%s\": cannot add \"%s\": it is already live (added in "
                            "version %" PRId64 ")",
                            t->root, tx->adds[i].path, e->f.version);
            goto out;
        }
    }
    if ((rc = delta_write_check(t, tx->nrems > 0, err)) != TS_OK)
        goto out;

    rc = delta_line_append(
        b, delta_action_commit_info(now, tx->operation, NULL, tx->nrems == 0, tx->id), err);
    if (rc != TS_OK)
        goto out;
    if (t->version < 0) {
        delta_protocol p;
        char id[37];
        if (!tx->schema) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "table \"%s\" does not exist yet: its first commit needs a schema",
                            t->root);
            goto out;
        }
        if ((rc = delta_uuid(id, err)) != TS_OK)
            goto out;
        if (!(schema_json = delta_schema_json(tx->schema))) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        protocol_for(tx->schema, &p);
        if ((rc = delta_line_append(b, delta_action_protocol(&p), err)) != TS_OK ||
            (rc = delta_line_append(b, delta_action_metadata(id, schema_json, now, NULL),
                                    err)) != TS_OK)
            goto out;
    } else if (tx->schema) {
        if ((rc = delta_schema_merge(t->schema, tx->schema, &merged, err)) != TS_OK) {
            ts_err_prefix(err, "table \"%s\"", t->root);
            goto out;
        }
        if (merged) {
            json_t *md = json_deep_copy(t->metadata), *a = json_object();
            if (delta_schema_needs_timestamp_ntz(merged) && !table_has_ntz(t)) {
                delta_protocol p;
                const char *rf[16], *wf[16];
                if (!protocol_with_ntz(t, &p, rf, wf)) {
                    json_decref(md);
                    json_decref(a);
                    rc = ts_err_set(err, TS_ERR_UNSUPPORTED, "table \"%s\": too many features",
                                    t->root);
                    goto out;
                }
                if ((rc = delta_line_append(b, delta_action_protocol(&p), err)) != TS_OK) {
                    json_decref(md);
                    json_decref(a);
                    goto out;
                }
            }
            schema_json = delta_schema_json(merged);
            if (!schema_json || !md || !a ||
                json_object_set_new(md, "schemaString", json_string(schema_json)) != 0 ||
                json_object_set_new(a, "metaData", md) != 0) {
                if (!a || json_object_get(a, "metaData") != md)
                    json_decref(md);
                json_decref(a);
                rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
                goto out;
            }
            if ((rc = delta_line_append(b, a, err)) != TS_OK)
                goto out;
        }
    }
    for (size_t i = 0; i < tx->nrems; i++) {
        const delta_entry *e = delta_table_lookup(t, tx->rems[i].path);
        rc = delta_line_append(b, delta_action_remove(e->raw, tx->rems[i].ts, e->f.size), err);
        if (rc != TS_OK)
            goto out;
    }
    for (size_t i = 0; i < tx->nadds; i++) {
        const txn_add *a = &tx->adds[i];
        rc = delta_line_append(
            b, delta_action_add(a->raw, a->size, a->mtime, a->stats, a->tags, a->ntags), err);
        if (rc != TS_OK)
            goto out;
    }
out:
    delta_schema_free(merged);
    ts_free(schema_json);
    return rc;
}

static void backoff(delta_txn *tx, int attempt)
{
    int cap = tx->t->opt.backoff_ms * (attempt < 20 ? attempt : 20);
    if (cap <= 0)
        return;
    int ms = (int)(rand_r(&tx->seed) % (unsigned)cap) + 1;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int delta_txn_commit(delta_txn *tx, int64_t *version, ts_err *err)
{
    delta_table *t = tx->t;
    ts_buf b;
    char *path = NULL;
    int rc;

    ts_buf_init(&b, t->opt.max_commit_bytes);
    if ((rc = delta_table_refresh(t, err)) != TS_OK)
        goto out;
    for (int attempt = 1;; attempt++) {
        int64_t v = delta_table_find_txn(t, tx->id);
        ts_err e;
        if (v >= 0) { /* an earlier call's put went through after all */
            if (version)
                *version = v;
            rc = TS_OK;
            goto out;
        }
        if (attempt > t->opt.max_attempts) {
            rc = ts_err_set(err, TS_ERR_TIMEOUT,
                            "table \"%s\": gave up committing after %d attempts (other writers "
                            "kept taking the next version; last seen %" PRId64 ")",
                            t->root, t->opt.max_attempts, t->version);
            goto out;
        }
        ts_buf_reset(&b);
        if ((rc = build(tx, &b, err)) != TS_OK)
            goto out;
        v = t->version + 1;
        ts_free(path);
        if (!(path = delta_commit_path(t->root, v))) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        for (int io = 0;; io++) {
            ts_err_clear(&e);
            rc = lake_put_bytes(t->lk, path, b.data, b.len, NULL, &e);
            if (rc != TS_ERR_IO || io >= t->opt.io_retries)
                break;
            backoff(tx, 1);
        }
        if (rc == TS_OK) {
            /* ours: apply the very bytes written. The commit stands even if that runs out
             * of memory; the table is then marked broken and says so when next used. */
            ts_err_clear(&e);
            int arc = delta_log_apply_one(t, (const char *)b.data, b.len, &e);
            if (arc == TS_OK)
                arc = delta_table_sort(t, &e);
            (void)arc; /* a failure is kept on t (broken) */
            if (version)
                *version = v;
            goto out;
        }
        if (rc != TS_ERR_EXISTS) {
            rc = ts_err_set(err, rc, "table \"%s\": could not write \"%s\": %s", t->root, path,
                            e.msg);
            goto out;
        }
        /* another writer took v: read what it did, then try again */
        backoff(tx, attempt);
        if ((rc = delta_table_refresh(t, err)) != TS_OK)
            goto out;
    }
out:
    ts_free(path);
    ts_buf_free(&b);
    return rc;
}
