/* log.c: reading a table's log: the first load (a listing of _delta_log/), incremental
 * refresh (probing the next versions), and replay of each commit's actions into the
 * table's state (protocol, metaData, live files, tombstones), every commit validated
 * whole before any of it is applied. */
#include "delta_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "delta/stats.h"

void delta_options_init(delta_options *o)
{
    o->max_attempts = 200;
    o->backoff_ms = 5;
    o->max_commit_bytes = (size_t)16 << 20;
    o->io_retries = 2;
}

/* ---- the table ---- */

static int table_new(lake *lk, const char *root, const delta_options *opt, delta_table **out,
                     ts_err *err)
{
    delta_table *t;
    *out = NULL;
    if (*root) {
        int rc = lake_path_check(root, err);
        if (rc != TS_OK) {
            ts_err_prefix(err, "delta table root");
            return rc;
        }
    }
    if (!(t = ts_calloc(1, sizeof *t)) || !(t->root = ts_strdup(root))) {
        ts_free(t);
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    }
    t->lk = lk;
    if (opt)
        t->opt = *opt;
    else
        delta_options_init(&t->opt);
    if (t->opt.max_attempts < 1)
        t->opt.max_attempts = 1;
    if (t->opt.max_commit_bytes == 0)
        t->opt.max_commit_bytes = (size_t)16 << 20;
    if (t->opt.io_retries < 0)
        t->opt.io_retries = 0;
    t->version = -1;
    *out = t;
    return TS_OK;
}

int delta_table_open(lake *lk, const char *root, const delta_options *opt, delta_table **out,
                     ts_err *err)
{
    if (!lk)
        return ts_err_set(err, TS_ERR_INTERNAL, "delta_table_open without a lake");
    return table_new(lk, root, opt, out, err);
}

int delta_table_new_detached(const char *root, delta_table **out, ts_err *err)
{
    return table_new(NULL, root, NULL, out, err);
}

int delta_table_load(lake *lk, const char *root, const delta_options *opt, delta_table **out,
                     ts_err *err)
{
    int rc = delta_table_open(lk, root, opt, out, err);
    if (rc == TS_OK && (rc = delta_table_refresh(*out, err)) != TS_OK) {
        delta_table_free(*out);
        *out = NULL;
    }
    return rc;
}

static void entry_free(delta_entry *e)
{
    if (!e)
        return;
    ts_free((char *)e->f.path);
    ts_free((char *)e->f.stats);
    for (int i = 0; i < e->f.ntags; i++) {
        ts_free((char *)e->f.tags[i].key);
        ts_free((char *)e->f.tags[i].value);
    }
    ts_free((delta_kv *)e->f.tags);
    ts_free(e->raw);
    ts_free(e);
}

static void free_features(char **v, int n)
{
    for (int i = 0; i < n; i++)
        ts_free(v[i]);
    ts_free(v);
}

void delta_table_free(delta_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nent; i++)
        entry_free(t->ent[i]);
    ts_free(t->ent);
    ts_free(t->slots);
    ts_free(t->live);
    ts_free(t->dead);
    free_features(t->rfeat, t->proto.nreader_features);
    free_features(t->wfeat, t->proto.nwriter_features);
    json_decref(t->metadata);
    delta_schema_free(t->schema);
    for (size_t i = 0; i < t->captxn; i++)
        ts_free(t->txn_ids[i]);
    ts_free(t->txn_ids);
    ts_free(t->root);
    ts_free(t);
}

const char *delta_table_root(const delta_table *t)
{
    return t->root;
}

int64_t delta_table_version(const delta_table *t)
{
    return t->version;
}

const char *delta_table_id(const delta_table *t)
{
    return t->id;
}

const delta_schema *delta_table_schema(const delta_table *t)
{
    return t->schema;
}

const delta_protocol *delta_table_protocol(const delta_table *t)
{
    return &t->proto;
}

const char *delta_table_config(const delta_table *t, const char *key)
{
    json_t *v = json_object_get(json_object_get(t->metadata, "configuration"), key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

size_t delta_table_nfiles(const delta_table *t)
{
    return t->nlive;
}

const delta_file *delta_table_file(const delta_table *t, size_t i)
{
    return i < t->nlive ? &t->live[i]->f : NULL;
}

size_t delta_table_nremoved(const delta_table *t)
{
    return t->ndead;
}

const delta_file *delta_table_removed(const delta_table *t, size_t i)
{
    return i < t->ndead ? &t->dead[i]->f : NULL;
}

int64_t delta_table_find_txn(const delta_table *t, const char *id)
{
    for (int64_t v = t->version; v >= 0; v--)
        if ((size_t)v < t->captxn && t->txn_ids[v] && strcmp(t->txn_ids[v], id) == 0)
            return v;
    return -1;
}

/* ---- entries by path ---- */

static size_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return (size_t)h;
}

/* The slot of path: the entry's, or the empty one where it would go. */
static size_t slot_of(const delta_table *t, const char *path)
{
    size_t mask = t->nslots - 1, i = hash_str(path) & mask;
    while (t->slots[i] && strcmp(t->ent[t->slots[i] - 1]->f.path, path) != 0)
        i = (i + 1) & mask;
    return i;
}

static delta_entry *entry_get(const delta_table *t, const char *path)
{
    if (!t->nslots)
        return NULL;
    size_t s = t->slots[slot_of(t, path)];
    return s ? t->ent[s - 1] : NULL;
}

delta_entry *delta_table_lookup(const delta_table *t, const char *path)
{
    delta_entry *e = entry_get(t, path);
    return e && e->live ? e : NULL;
}

const delta_file *delta_table_find(const delta_table *t, const char *path)
{
    delta_entry *e = delta_table_lookup(t, path);
    return e ? &e->f : NULL;
}

const delta_file *delta_table_find_any(const delta_table *t, const char *path)
{
    delta_entry *e = entry_get(t, path);
    return e ? &e->f : NULL;
}

/* Inserts e (its path not in the table yet). */
static int entry_insert(delta_table *t, delta_entry *e)
{
    if (t->nent == t->capent) {
        size_t cap = t->capent ? t->capent * 2 : 64;
        delta_entry **n = ts_realloc(t->ent, cap * sizeof *n);
        if (!n)
            return TS_ERR_NOMEM;
        t->ent = n;
        t->capent = cap;
    }
    if ((t->nent + 1) * 2 > t->nslots) {
        size_t ns = t->nslots ? t->nslots * 2 : 128;
        size_t *slots = ts_calloc(ns, sizeof *slots), *old = t->slots;
        if (!slots)
            return TS_ERR_NOMEM;
        t->slots = slots;
        t->nslots = ns;
        for (size_t i = 0; i < t->nent; i++)
            t->slots[slot_of(t, t->ent[i]->f.path)] = i + 1;
        ts_free(old);
    }
    t->ent[t->nent++] = e;
    t->slots[slot_of(t, e->f.path)] = t->nent;
    return TS_OK;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp((*(delta_entry *const *)a)->f.path, (*(delta_entry *const *)b)->f.path);
}

int delta_table_sort(delta_table *t, ts_err *err)
{
    delta_entry **live = NULL, **dead = NULL;
    size_t nl = 0, nd = 0;
    if (t->nent && (!(live = ts_malloc(t->nent * sizeof *live)) ||
                    !(dead = ts_malloc(t->nent * sizeof *dead)))) {
        ts_free(live);
        t->broken = true;
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < t->nent; i++) {
        if (t->ent[i]->live)
            live[nl++] = t->ent[i];
        else
            dead[nd++] = t->ent[i];
    }
    if (nl)
        qsort(live, nl, sizeof *live, cmp_entry);
    if (nd)
        qsort(dead, nd, sizeof *dead, cmp_entry);
    ts_free(t->live);
    ts_free(t->dead);
    t->live = live;
    t->dead = dead;
    t->nlive = nl;
    t->ndead = nd;
    return TS_OK;
}

/* ---- protocol support ---- */

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return true;
    return false;
}

static bool column_mapping_off(json_t *configuration)
{
    json_t *m = json_object_get(configuration, "delta.columnMapping.mode");
    return !m || (json_is_string(m) && strcmp(json_string_value(m), "none") == 0);
}

/* Can tsarchive read a table with this protocol and configuration? */
static int check_readable(int reader, json_t *rfeat, json_t *configuration, const char *where,
                          ts_err *err)
{
    /* what reading needs: timestamp_ntz values are plain Parquet; column mapping only
     * while it is off; deletion vectors only while no file has one (adds with one are
     * refused); vacuumProtocolCheck asks nothing of readers */
    static const char *const readable[] = {"timestampNtz", "columnMapping", "deletionVectors",
                                           "vacuumProtocolCheck", NULL};
    size_t i;
    json_t *f;
    if (reader < 1 || reader > 3)
        return ts_err_set(err, TS_ERR_UNSUPPORTED,
                          "%s: minReaderVersion %d; tsarchive reads Delta reader versions 1 to 3",
                          where, reader);
    if (reader >= 2 && !column_mapping_off(configuration))
        return ts_err_set(err, TS_ERR_UNSUPPORTED,
                          "%s: the table uses column mapping (delta.columnMapping.mode), which "
                          "tsarchive does not read",
                          where);
    json_array_foreach(rfeat, i, f)
    {
        if (!in_list(json_string_value(f), readable))
            return ts_err_set(err, TS_ERR_UNSUPPORTED,
                              "%s: the table needs reader feature \"%s\", which tsarchive does "
                              "not support",
                              where, json_string_value(f));
    }
    return TS_OK;
}

int delta_write_check(const delta_table *t, bool removes, ts_err *err)
{
    static const char *const writable[] = {"appendOnly", "invariants", "timestampNtz", NULL};
    int w = t->proto.min_writer;
    if (t->version < 0)
        return TS_OK;
    if (w > 2 && w < 7)
        return ts_err_set(err, TS_ERR_UNSUPPORTED,
                          "table \"%s\": minWriterVersion %d (CHECK constraints, change data "
                          "feed, generated or identity columns, column mapping); tsarchive "
                          "writes only writer versions 1, 2 and 7",
                          t->root, w);
    if (w > 7)
        return ts_err_set(err, TS_ERR_UNSUPPORTED,
                          "table \"%s\": minWriterVersion %d is newer than tsarchive knows",
                          t->root, w);
    for (int i = 0; w == 7 && i < t->proto.nwriter_features; i++)
        if (!in_list(t->wfeat[i], writable))
            return ts_err_set(err, TS_ERR_UNSUPPORTED,
                              "table \"%s\" needs writer feature \"%s\", which tsarchive does "
                              "not support",
                              t->root, t->wfeat[i]);
    for (int i = 0; t->schema && i < t->schema->n; i++)
        if (json_object_get(t->schema->f[i].metadata, "delta.invariants"))
            return ts_err_set(err, TS_ERR_UNSUPPORTED,
                              "table \"%s\": column \"%s\" has an invariant "
                              "(delta.invariants), which tsarchive does not enforce",
                              t->root, t->schema->f[i].name);
    const char *ao = delta_table_config(t, "delta.appendOnly");
    if (removes && ao && strcmp(ao, "true") == 0)
        return ts_err_set(err, TS_ERR_UNSUPPORTED,
                          "table \"%s\" is append-only (delta.appendOnly): files cannot be "
                          "removed",
                          t->root);
    return TS_OK;
}

/* ---- one commit ---- */

typedef struct file_act {
    bool add;
    json_t *obj; /* the action's object (held by the line) */
    char *path;  /* decoded */
} file_act;

typedef struct commit {
    json_t **lines;
    size_t nlines;
    json_t *protocol, *metadata, *commit_info;
    delta_schema *schema;
    file_act *acts;
    size_t nacts, capacts;
} commit;

static void commit_clear(commit *c)
{
    for (size_t i = 0; i < c->nlines; i++)
        json_decref(c->lines[i]);
    ts_free(c->lines);
    for (size_t i = 0; i < c->nacts; i++)
        ts_free(c->acts[i].path);
    ts_free(c->acts);
    delta_schema_free(c->schema);
}

/* Integer field: required (missing is an error) or optional (*v untouched). */
static bool get_int(json_t *o, const char *k, bool required, int64_t *v)
{
    json_t *x = json_object_get(o, k);
    if (!x || json_is_null(x))
        return !required;
    if (!json_is_integer(x))
        return false;
    *v = json_integer_value(x);
    return true;
}

#define FAIL(code, ...)                                                                            \
    do {                                                                                           \
        ts_err_set(err, code, __VA_ARGS__);                                                        \
        ts_err_prefix(err, "%s line %zu", name, lineno);                                           \
        rc = code;                                                                                 \
        goto out;                                                                                  \
    } while (0)

static bool string_array(json_t *a)
{
    size_t i;
    json_t *x;
    if (!json_is_array(a))
        return false;
    json_array_foreach(a, i, x)
    {
        if (!json_is_string(x))
            return false;
    }
    return true;
}

/* Parses and validates every line of version v's commit into c. */
static int parse_commit(const delta_table *t, int64_t v, const char *data, size_t len, commit *c,
                        ts_err *err)
{
    char name[64];
    size_t lineno = 0, pos = 0;
    int rc = TS_OK;
    snprintf(name, sizeof name, "commit %020" PRId64 ".json", v);

    while (pos < len) {
        const char *line = data + pos, *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        json_error_t je;
        json_t *j, *act;
        const char *key;
        pos += n + (nl ? 1 : 0);
        lineno++;
        while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ' || line[n - 1] == '\t'))
            n--;
        size_t lead = 0;
        while (lead < n && (line[lead] == ' ' || line[lead] == '\t'))
            lead++;
        if (lead == n)
            continue;
        if (!(j = json_loadb(line, n, 0, &je))) {
            for (char *ch = je.text; *ch; ch++) /* it may quote the input */
                if ((unsigned char)*ch < 0x20 || (unsigned char)*ch >= 0x7f)
                    *ch = '?';
            FAIL(TS_ERR_FORMAT, "not JSON: %s (column %d)", je.text, je.column);
        }
        if (c->nlines % 64 == 0) {
            json_t **nlines = ts_realloc(c->lines, (c->nlines + 64) * sizeof *nlines);
            if (!nlines) {
                json_decref(j);
                FAIL(TS_ERR_NOMEM, "out of memory");
            }
            c->lines = nlines;
        }
        c->lines[c->nlines++] = j;
        if (!json_is_object(j))
            FAIL(TS_ERR_FORMAT, "an action must be a JSON object");
        json_object_foreach(j, key, act)
        {
            bool is_add = strcmp(key, "add") == 0;
            if (is_add || strcmp(key, "remove") == 0) {
                json_t *path = json_object_get(act, "path"), *dv;
                int64_t size = 0, ts = 0;
                if (!json_is_object(act) || !json_is_string(path) || !*json_string_value(path))
                    FAIL(TS_ERR_FORMAT, "%s: \"path\" must be a non-empty string", key);
                if (is_add) {
                    json_t *stats = json_object_get(act, "stats"),
                           *tags = json_object_get(act, "tags");
                    json_t *pv = json_object_get(act, "partitionValues"), *tv;
                    const char *tk;
                    if (!get_int(act, "size", true, &size) || size < 0 ||
                        !get_int(act, "modificationTime", true, &ts))
                        FAIL(TS_ERR_FORMAT, "add: \"size\" and \"modificationTime\" must be "
                                            "integers (size >= 0)");
                    if (stats && !json_is_string(stats) && !json_is_null(stats))
                        FAIL(TS_ERR_FORMAT, "add: \"stats\" must be a string");
                    if (tags && !json_is_object(tags) && !json_is_null(tags))
                        FAIL(TS_ERR_FORMAT, "add: \"tags\" must be an object");
                    json_object_foreach(tags, tk, tv)
                    {
                        if (!json_is_string(tv) && !json_is_null(tv))
                            FAIL(TS_ERR_FORMAT, "add: tag \"%s\" must be a string", tk);
                    }
                    if (pv && !json_is_object(pv) && !json_is_null(pv))
                        FAIL(TS_ERR_FORMAT, "add: \"partitionValues\" must be an object");
                    if (json_object_size(pv) > 0)
                        FAIL(TS_ERR_UNSUPPORTED, "add: partition values on a table tsarchive "
                                                 "reads as unpartitioned");
                } else {
                    if (!get_int(act, "deletionTimestamp", false, &ts) ||
                        !get_int(act, "size", false, &size))
                        FAIL(TS_ERR_FORMAT, "remove: \"deletionTimestamp\" and \"size\" must be "
                                            "integers");
                }
                dv = json_object_get(act, "deletionVector");
                if (dv && !json_is_null(dv))
                    FAIL(TS_ERR_UNSUPPORTED,
                         "%s of \"%s\" has a deletion vector, which "
                         "tsarchive does not read",
                         key, json_string_value(path));
                if (c->nacts == c->capacts) {
                    size_t cap = c->capacts ? c->capacts * 2 : 16;
                    file_act *a = ts_realloc(c->acts, cap * sizeof *a);
                    if (!a)
                        FAIL(TS_ERR_NOMEM, "out of memory");
                    c->acts = a;
                    c->capacts = cap;
                }
                file_act *fa = &c->acts[c->nacts];
                fa->add = is_add;
                fa->obj = act;
                if ((rc = delta_uri_decode(json_string_value(path), &fa->path, err)) != TS_OK) {
                    ts_err_prefix(err, "%s line %zu: %s", name, lineno, key);
                    goto out;
                }
                c->nacts++;
                ts_err pe;
                ts_err_clear(&pe);
                if ((rc = delta_path_check(fa->path, &pe)) != TS_OK)
                    FAIL(rc == TS_ERR_INVALID ? TS_ERR_FORMAT : rc, "%s: %s", key, pe.msg);
            } else if (strcmp(key, "metaData") == 0) {
                json_t *id = json_object_get(act, "id"), *fmt = json_object_get(act, "format");
                json_t *ss = json_object_get(act, "schemaString");
                json_t *pc = json_object_get(act, "partitionColumns");
                json_t *conf = json_object_get(act, "configuration"), *cv;
                json_t *prov = json_object_get(fmt, "provider");
                const char *ck;
                if (c->metadata)
                    FAIL(TS_ERR_FORMAT, "a second metaData action in one commit");
                if (!json_is_object(act) || !json_is_string(id) || !json_is_string(ss) ||
                    !json_is_array(pc) || (conf && !json_is_object(conf) && !json_is_null(conf)))
                    FAIL(TS_ERR_FORMAT, "metaData: needs id and schemaString (strings), "
                                        "partitionColumns (array), configuration (object)");
                json_object_foreach(conf, ck, cv)
                {
                    if (!json_is_string(cv))
                        FAIL(TS_ERR_FORMAT, "metaData: configuration \"%s\" must be a string", ck);
                }
                if (!json_is_string(prov) || strcasecmp(json_string_value(prov), "parquet") != 0)
                    FAIL(TS_ERR_UNSUPPORTED, "metaData: format.provider is not \"parquet\"");
                if (json_array_size(pc) > 0)
                    FAIL(TS_ERR_UNSUPPORTED, "metaData: partitioned tables (partitionColumns) are "
                                             "not supported");
                if ((rc = delta_schema_parse(json_string_value(ss), json_string_length(ss),
                                             &c->schema, err)) != TS_OK) {
                    ts_err_prefix(err, "%s line %zu: metaData", name, lineno);
                    goto out;
                }
                c->metadata = act;
            } else if (strcmp(key, "protocol") == 0) {
                int64_t r = 0, w = 0;
                json_t *rf = json_object_get(act, "readerFeatures");
                json_t *wf = json_object_get(act, "writerFeatures");
                if (c->protocol)
                    FAIL(TS_ERR_FORMAT, "a second protocol action in one commit");
                if (!json_is_object(act) || !get_int(act, "minReaderVersion", true, &r) ||
                    !get_int(act, "minWriterVersion", true, &w) || r < 1 || w < 1 || r > 1000 ||
                    w > 1000 || (rf && !json_is_null(rf) && !string_array(rf)) ||
                    (wf && !json_is_null(wf) && !string_array(wf)))
                    FAIL(TS_ERR_FORMAT, "protocol: needs minReaderVersion and minWriterVersion "
                                        "(positive integers), features as arrays of strings");
                if (json_array_size(rf) > 1000 || json_array_size(wf) > 1000)
                    FAIL(TS_ERR_FORMAT, "protocol: too many features");
                c->protocol = act;
            } else if (strcmp(key, "commitInfo") == 0) {
                if (!json_is_object(act))
                    FAIL(TS_ERR_FORMAT, "commitInfo must be an object");
                c->commit_info = act;
            } else if (strcmp(key, "checkpointMetadata") == 0 || strcmp(key, "sidecar") == 0) {
                FAIL(TS_ERR_FORMAT, "\"%s\" belongs in a checkpoint, not in a commit", key);
            }
            /* txn, cdc, domainMetadata and actions of later protocols: not part of the
             * files or the schema; ignored as the protocol says */
        }
        if (!json_object_get(j, "add") && !json_object_get(j, "remove") &&
            !json_object_get(j, "metaData") && !json_object_get(j, "protocol") &&
            !json_object_get(j, "commitInfo"))
            json_decref(c->lines[--c->nlines]); /* nothing refers to it: keep memory low */
    }
    /* what the table is after this commit: can we read it? */
    {
        json_t *proto = c->protocol, *meta = c->metadata ? c->metadata : t->metadata;
        int64_t r = t->proto.min_reader;
        json_t *rf = NULL;
        if (v == 0 && (!c->protocol || !c->metadata)) {
            rc = ts_err_set(err, TS_ERR_FORMAT,
                            "%s: version 0 needs a protocol and a metaData "
                            "action",
                            name);
            goto out;
        }
        if (proto) {
            get_int(proto, "minReaderVersion", true, &r);
            rf = json_object_get(proto, "readerFeatures");
            if (r < 3)
                rf = NULL;
        } else {
            rf = json_array();
            for (int i = 0; rf && i < t->proto.nreader_features; i++)
                json_array_append_new(rf, json_string(t->rfeat[i]));
        }
        rc = check_readable((int)r, rf, json_object_get(meta, "configuration"), name, err);
        if (!proto)
            json_decref(rf);
        if (rc != TS_OK)
            goto out;
    }
out:
    /* names from the input (tags, configuration keys) may hold control characters */
    for (char *ch = err && rc != TS_OK ? err->msg : NULL; ch && *ch; ch++)
        if ((unsigned char)*ch < 0x20 || (unsigned char)*ch == 0x7f)
            *ch = '?';
    return rc;
}

json_t *delta_stats_parse(const char *stats)
{
    /* integers past 64 bits (a decimal(38) bound) fail jansson's integers: read reals */
    json_t *j = json_loads(stats, 0, NULL);
    if (!j)
        j = json_loads(stats, JSON_DECODE_INT_AS_REAL, NULL);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static char **copy_features(json_t *a, int *n)
{
    size_t cnt = json_array_size(a), i;
    json_t *x;
    char **v = ts_calloc(cnt + 1, sizeof *v);
    *n = 0;
    if (!v)
        return NULL;
    json_array_foreach(a, i, x)
    {
        if (!(v[i] = ts_strdup(json_string_value(x)))) {
            free_features(v, (int)i);
            return NULL;
        }
    }
    *n = (int)cnt;
    return v;
}

static int set_file(delta_entry *e, const file_act *a, int64_t v)
{
    json_t *o = a->obj, *tags = json_object_get(o, "tags"), *stats = json_object_get(o, "stats");
    json_t *tv;
    const char *tk;
    int64_t size = -1, ts = -1;

    get_int(o, "size", false, &size);
    if (!a->add) { /* a tombstone keeps what the add said */
        if (!e->raw && !(e->raw = ts_strdup(json_string_value(json_object_get(o, "path")))))
            return TS_ERR_NOMEM;
        e->live = false;
        if (size >= 0)
            e->f.size = size;
        e->f.removed_version = v;
        get_int(o, "deletionTimestamp", false, &ts);
        e->f.deletion_timestamp = ts;
        return TS_OK;
    }
    ts_free((char *)e->f.stats);
    for (int i = 0; i < e->f.ntags; i++) {
        ts_free((char *)e->f.tags[i].key);
        ts_free((char *)e->f.tags[i].value);
    }
    ts_free((delta_kv *)e->f.tags);
    ts_free(e->raw);
    e->f.stats = NULL;
    e->f.tags = NULL;
    e->f.ntags = 0;
    if (!(e->raw = ts_strdup(json_string_value(json_object_get(o, "path")))))
        return TS_ERR_NOMEM;
    e->live = true;
    e->f.size = size;
    e->f.version = v;
    e->f.removed_version = -1;
    e->f.deletion_timestamp = -1;
    e->f.modification_time = 0;
    get_int(o, "modificationTime", false, &e->f.modification_time);
    e->f.num_records = -1;
    if (json_is_string(stats)) {
        if (!(e->f.stats = ts_strdup(json_string_value(stats))))
            return TS_ERR_NOMEM;
        json_t *sj = delta_stats_parse(e->f.stats);
        json_t *nr = json_object_get(sj, "numRecords");
        double d = json_number_value(nr);
        if (json_is_integer(nr) && json_integer_value(nr) >= 0)
            e->f.num_records = json_integer_value(nr);
        else if (json_is_real(nr) && d >= 0 && d < 9007199254740992.0 && d == (double)(int64_t)d)
            e->f.num_records = (int64_t)d;
        json_decref(sj);
    }
    size_t nt = 0;
    json_object_foreach(tags, tk, tv)
    {
        if (json_is_string(tv))
            nt++;
    }
    if (nt) {
        delta_kv *kv = ts_calloc(nt, sizeof *kv);
        if (!kv)
            return TS_ERR_NOMEM;
        e->f.tags = kv;
        json_object_foreach(tags, tk, tv)
        {
            if (!json_is_string(tv))
                continue;
            kv[e->f.ntags].key = ts_strdup(tk);
            kv[e->f.ntags].value = ts_strdup(json_string_value(tv));
            e->f.ntags++;
            if (!kv[e->f.ntags - 1].key || !kv[e->f.ntags - 1].value)
                return TS_ERR_NOMEM;
        }
    }
    return TS_OK;
}

/* Applies a validated commit as version v. Fails only on no memory (the table is then
 * marked broken: part of the commit may be applied). */
static int apply(delta_table *t, int64_t v, commit *c)
{
    if (c->protocol) {
        json_t *p = c->protocol;
        int64_t r = 1, w = 1;
        int nr = 0, nw = 0;
        char **rf = NULL, **wf = NULL;
        get_int(p, "minReaderVersion", true, &r);
        get_int(p, "minWriterVersion", true, &w);
        if (!(rf = copy_features(r >= 3 ? json_object_get(p, "readerFeatures") : NULL, &nr)) ||
            !(wf = copy_features(w >= 7 ? json_object_get(p, "writerFeatures") : NULL, &nw))) {
            free_features(rf, nr);
            return TS_ERR_NOMEM;
        }
        free_features(t->rfeat, t->proto.nreader_features);
        free_features(t->wfeat, t->proto.nwriter_features);
        t->rfeat = rf;
        t->wfeat = wf;
        t->proto.min_reader = (int)r;
        t->proto.min_writer = (int)w;
        t->proto.nreader_features = nr;
        t->proto.nwriter_features = nw;
        t->proto.reader_features = (const char *const *)rf;
        t->proto.writer_features = (const char *const *)wf;
    }
    if (c->metadata) {
        json_decref(t->metadata);
        t->metadata = json_incref(c->metadata);
        t->id = json_string_value(json_object_get(t->metadata, "id"));
        delta_schema_free(t->schema);
        t->schema = c->schema;
        c->schema = NULL;
    }
    for (size_t i = 0; i < c->nacts; i++) {
        file_act *a = &c->acts[i];
        delta_entry *e = entry_get(t, a->path);
        if (!e) {
            if (!(e = ts_calloc(1, sizeof *e)))
                return TS_ERR_NOMEM;
            e->f.path = a->path;
            e->f.removed_version = -1;
            e->f.deletion_timestamp = -1;
            e->f.version = -1;
            e->f.size = -1;
            e->f.num_records = -1;
            a->path = NULL;
            if (entry_insert(t, e) != TS_OK) {
                entry_free(e);
                return TS_ERR_NOMEM;
            }
        }
        if (set_file(e, a, v) != TS_OK)
            return TS_ERR_NOMEM;
    }
    if ((size_t)v >= t->captxn) {
        size_t cap = t->captxn ? t->captxn * 2 : 64;
        while (cap <= (size_t)v)
            cap *= 2;
        char **ids = ts_realloc(t->txn_ids, cap * sizeof *ids);
        if (!ids)
            return TS_ERR_NOMEM;
        memset(ids + t->captxn, 0, (cap - t->captxn) * sizeof *ids);
        t->txn_ids = ids;
        t->captxn = cap;
    }
    json_t *txn = json_object_get(c->commit_info, "txnId");
    if (json_is_string(txn) && !(t->txn_ids[v] = ts_strdup(json_string_value(txn))))
        return TS_ERR_NOMEM;
    t->version = v;
    return TS_OK;
}

int delta_log_apply_one(delta_table *t, const char *data, size_t len, ts_err *err)
{
    commit c;
    int rc;
    int64_t v = t->version + 1;
    if (t->broken)
        return ts_err_set(err, TS_ERR_INTERNAL,
                          "table \"%s\": its state was lost after an earlier failure; open it "
                          "again",
                          t->root);
    memset(&c, 0, sizeof c);
    rc = parse_commit(t, v, data, len, &c, err);
    if (rc == TS_OK && (rc = apply(t, v, &c)) != TS_OK) {
        t->broken = true;
        rc = ts_err_set(err, rc, "out of memory");
    }
    commit_clear(&c);
    return rc;
}

int delta_log_apply(delta_table *t, const char *data, size_t len, ts_err *err)
{
    int rc = delta_log_apply_one(t, data, len, err);
    int rc2 = delta_table_sort(t, err);
    return rc ? rc : rc2;
}

/* ---- reading from the lake ---- */

typedef struct listing {
    const char *prefix;
    size_t plen;
    int64_t *versions;
    size_t n, cap;
    char checkpoint[256];
} listing;

static bool commit_name(const char *base, int64_t *v)
{
    int64_t x = 0;
    for (int i = 0; i < 20; i++) {
        if (base[i] < '0' || base[i] > '9')
            return false;
        if (x > (INT64_MAX - 9) / 10)
            return false;
        x = x * 10 + (base[i] - '0');
    }
    if (strcmp(base + 20, ".json") != 0)
        return false;
    *v = x;
    return true;
}

static int on_log_object(void *ud, const lake_info *info)
{
    listing *l = ud;
    const char *base = info->name + l->plen;
    int64_t v;
    if (strncmp(info->name, l->prefix, l->plen) != 0)
        return 0;
    if (commit_name(base, &v)) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 256;
            int64_t *nv = ts_realloc(l->versions, cap * sizeof *nv);
            if (!nv)
                return TS_ERR_NOMEM;
            l->versions = nv;
            l->cap = cap;
        }
        l->versions[l->n++] = v;
    } else if (!l->checkpoint[0] &&
               (strcmp(base, "_last_checkpoint") == 0 || strstr(base, ".checkpoint.") ||
                strncmp(base, "_sidecars/", 10) == 0)) {
        snprintf(l->checkpoint, sizeof l->checkpoint, "%s", info->name);
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Reads version v; *found false when it does not exist. */
static int read_version(delta_table *t, int64_t v, bool *found, ts_err *err)
{
    if (v != t->version + 1)
        return ts_err_set(err, TS_ERR_INTERNAL, "reading version %" PRId64 " after %" PRId64, v,
                          t->version);
    char *path = delta_commit_path(t->root, v), *data = NULL;
    size_t len = 0;
    ts_err e;
    int rc;
    *found = false;
    if (!path)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    ts_err_clear(&e);
    rc = lake_get_bytes(t->lk, path, t->opt.max_commit_bytes, &data, &len, NULL, &e);
    if (rc == TS_ERR_NOTFOUND) {
        rc = TS_OK;
        goto out;
    }
    if (rc != TS_OK) {
        ts_err_set(err, rc, "could not read \"%s\": %s", path, e.msg);
        goto out;
    }
    *found = true;
    if ((rc = delta_log_apply_one(t, data, len, err)) != TS_OK)
        ts_err_prefix(err, "table \"%s\"", t->root);
out:
    ts_free(data);
    ts_free(path);
    return rc;
}

int delta_table_refresh(delta_table *t, ts_err *err)
{
    int rc = TS_OK, rc2;
    bool found;
    char *prefix = NULL;
    listing l;

    memset(&l, 0, sizeof l);
    if (!t->lk)
        return ts_err_set(err, TS_ERR_INTERNAL, "table \"%s\" has no lake", t->root);
    if (t->broken)
        return ts_err_set(err, TS_ERR_INTERNAL,
                          "table \"%s\": its state was lost after an earlier failure; open it "
                          "again",
                          t->root);
    if (!t->listed) {
        size_t n = strlen(t->root) + 16;
        ts_err e;
        if (!(prefix = ts_malloc(n))) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        snprintf(prefix, n, "%s%s_delta_log/", t->root, *t->root ? "/" : "");
        l.prefix = prefix;
        l.plen = strlen(prefix);
        ts_err_clear(&e);
        if ((rc = lake_list(t->lk, prefix, on_log_object, &l, &e)) != TS_OK) {
            rc = ts_err_set(err, rc, "could not list \"%s\": %s", prefix,
                            rc == TS_ERR_NOMEM && !e.msg[0] ? "out of memory" : e.msg);
            goto out;
        }
        if (l.checkpoint[0]) {
            rc = ts_err_set(err, TS_ERR_UNSUPPORTED,
                            "table \"%s\" has a checkpoint (\"%s\") written by another writer; "
                            "tsarchive reads only JSON commits from version 0 and never writes "
                            "checkpoints",
                            t->root, l.checkpoint);
            goto out;
        }
        if (l.n)
            qsort(l.versions, l.n, sizeof *l.versions, cmp_i64);
        for (size_t i = 0; i < l.n; i++)
            if (l.versions[i] != (int64_t)i) {
                rc = ts_err_set(err, TS_ERR_FORMAT,
                                "table \"%s\": commit %020" PRId64 ".json is missing from "
                                "_delta_log/ (versions must run from 0 without gaps)",
                                t->root, (int64_t)i);
                goto out;
            }
        /* after a failed first load, what was applied stays: go on from there */
        for (size_t i = (size_t)(t->version + 1); i < l.n; i++) {
            if ((rc = read_version(t, (int64_t)i, &found, err)) != TS_OK)
                goto out;
            if (!found) {
                rc = ts_err_set(err, TS_ERR_FORMAT,
                                "table \"%s\": commit %020" PRId64 ".json was listed but is gone",
                                t->root, (int64_t)i);
                goto out;
            }
        }
        t->listed = true;
    }
    /* whatever came after: probe N+1, N+2, ... until one is not there */
    do {
        if ((rc = read_version(t, t->version + 1, &found, err)) != TS_OK)
            goto out;
    } while (found);
out:
    rc2 = delta_table_sort(t, err);
    ts_free(l.versions);
    ts_free(prefix);
    return rc ? rc : rc2;
}
