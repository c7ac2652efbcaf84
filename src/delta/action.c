/* action.c: the JSON of the log's actions (protocol, metaData, add, remove, commitInfo),
 * one compact line each, fields in the order Spark's Delta writer uses; table ids and
 * transaction ids (UUID v4). */
#include "delta_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "common/alloc.h"

/* json_object_set_new that tolerates a NULL value (it fails, and we see it at the end). */
static int put(json_t *o, const char *key, json_t *v)
{
    if (!o || !v) {
        json_decref(v);
        return -1;
    }
    return json_object_set_new(o, key, v);
}

static json_t *string_array(const char *const *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *delta_action_protocol(const delta_protocol *p)
{
    json_t *o = json_object();
    int bad = 0;
    bad |= put(o, "minReaderVersion", json_integer(p->min_reader));
    bad |= put(o, "minWriterVersion", json_integer(p->min_writer));
    if (p->min_reader >= 3)
        bad |= put(o, "readerFeatures", string_array(p->reader_features, p->nreader_features));
    if (p->min_writer >= 7)
        bad |= put(o, "writerFeatures", string_array(p->writer_features, p->nwriter_features));
    json_t *a = json_object();
    bad |= put(a, "protocol", o);
    if (bad) {
        json_decref(a);
        return NULL;
    }
    return a;
}

json_t *delta_action_metadata(const char *id, const char *schema_string, int64_t created_ms,
                              json_t *configuration)
{
    json_t *o = json_object(), *fmt = json_object(), *a;
    int bad = 0;
    bad |= put(fmt, "provider", json_string("parquet"));
    bad |= put(fmt, "options", json_object());
    bad |= put(o, "id", json_string(id));
    bad |= put(o, "format", fmt);
    bad |= put(o, "schemaString", json_string(schema_string));
    bad |= put(o, "partitionColumns", json_array());
    bad |= put(o, "configuration", configuration ? json_deep_copy(configuration) : json_object());
    if (created_ms >= 0)
        bad |= put(o, "createdTime", json_integer(created_ms));
    a = json_object();
    bad |= put(a, "metaData", o);
    if (bad) {
        json_decref(a);
        return NULL;
    }
    return a;
}

json_t *delta_action_add(const char *raw_path, int64_t size, int64_t mtime_ms, const char *stats,
                         const delta_kv *tags, int ntags)
{
    json_t *o = json_object(), *a;
    int bad = 0;
    bad |= put(o, "path", json_string(raw_path));
    bad |= put(o, "partitionValues", json_object());
    bad |= put(o, "size", json_integer(size));
    bad |= put(o, "modificationTime", json_integer(mtime_ms));
    bad |= put(o, "dataChange", json_true());
    if (stats)
        bad |= put(o, "stats", json_string(stats));
    if (ntags > 0) {
        json_t *t = json_object();
        for (int i = 0; i < ntags; i++)
            bad |= put(t, tags[i].key, json_string(tags[i].value));
        bad |= put(o, "tags", t);
    }
    a = json_object();
    bad |= put(a, "add", o);
    if (bad) {
        json_decref(a);
        return NULL;
    }
    return a;
}

json_t *delta_action_remove(const char *raw_path, int64_t deletion_ms, int64_t size)
{
    json_t *o = json_object(), *a;
    int bad = 0;
    bad |= put(o, "path", json_string(raw_path));
    bad |= put(o, "deletionTimestamp", json_integer(deletion_ms));
    bad |= put(o, "dataChange", json_true());
    bad |= put(o, "extendedFileMetadata", json_true());
    bad |= put(o, "partitionValues", json_object());
    bad |= put(o, "size", json_integer(size));
    a = json_object();
    bad |= put(a, "remove", o);
    if (bad) {
        json_decref(a);
        return NULL;
    }
    return a;
}

json_t *delta_action_commit_info(int64_t ts_ms, const char *operation, json_t *params,
                                 bool blind_append, const char *txn_id)
{
    json_t *o = json_object(), *a;
    int bad = 0;
    bad |= put(o, "timestamp", json_integer(ts_ms));
    bad |= put(o, "operation", json_string(operation));
    if (params) {
        bad |= put(o, "operationParameters", json_deep_copy(params));
    } else {
        json_t *p = json_object();
        bad |= put(p, "mode", json_string("Append"));
        bad |= put(p, "partitionBy", json_string("[]"));
        bad |= put(o, "operationParameters", p);
    }
    bad |= put(o, "isolationLevel", json_string("WriteSerializable"));
    bad |= put(o, "isBlindAppend", json_boolean(blind_append));
    bad |= put(o, "engineInfo", json_string("tsarchive/" TS_VERSION));
    bad |= put(o, "txnId", json_string(txn_id));
    a = json_object();
    bad |= put(a, "commitInfo", o);
    if (bad) {
        json_decref(a);
        return NULL;
    }
    return a;
}

int delta_line_append(ts_buf *b, json_t *action, ts_err *err)
{
    char *s;
    int rc;
    if (!action)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    s = json_dumps(action, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(action);
    if (!s)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    rc = ts_buf_append(b, s, strlen(s));
    if (rc == TS_OK)
        rc = ts_buf_putc(b, '\n');
    free(s);
    if (rc == TS_ERR_TOOBIG)
        return ts_err_set(err, rc, "commit is larger than %zu bytes", b->limit);
    if (rc != TS_OK)
        return ts_err_set(err, rc, "out of memory");
    return TS_OK;
}

int delta_uuid(char out[37], ts_err *err)
{
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return ts_err_set(err, TS_ERR_IO, "could not read random bytes: %s", strerror(errno));
        }
        got += (size_t)n;
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return TS_OK;
}

int64_t delta_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *delta_commit_path(const char *root, int64_t version)
{
    size_t n = strlen(root) + 64;
    char *p = ts_malloc(n);
    if (p)
        snprintf(p, n, "%s%s_delta_log/%020" PRId64 ".json", root, *root ? "/" : "", version);
    return p;
}
