/* event.c: the event JSON codec: requests and confirmations (strict, hostile-input
 * safe parsing with a reason naming the field), UUID v4 event ids, RFC 3339 times. */
#include "event.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "common/alloc.h"
#include "common/tstime.h"

/* ---- event ids ---- */

int bus_event_id_new(char out[BUS_EVENT_ID_LEN + 1], ts_err *err)
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
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[b[i] >> 4];
        *o++ = hex[b[i] & 15];
    }
    *o = '\0';
    return TS_OK;
}

static int is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int bus_event_id_valid(const char *s)
{
    if (!s)
        return 0;
    for (int i = 0; i < BUS_EVENT_ID_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!is_hex(s[i])) {
            return 0;
        }
    }
    return s[BUS_EVENT_ID_LEN] == '\0';
}

/* ---- names ---- */

const char *bus_range_kind_name(bus_range_kind k)
{
    return k == BUS_RANGE_INTEGER ? "integer" : k == BUS_RANGE_TIMESTAMP ? "timestamp" : "?";
}

const char *bus_chunk_source_name(bus_chunk_source s)
{
    return s == BUS_SOURCE_PARTITION ? "partition" : s == BUS_SOURCE_TIMESCALEDB ? "timescaledb" : "?";
}

const char *bus_status_name(bus_status s)
{
    return s == BUS_STATUS_FAILURE ? "failure" : s == BUS_STATUS_SUCCESS ? "success" : "?";
}

/* ---- text checks ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* 1 when s[0..n) is valid UTF-8 without control characters (or NUL). */
static int text_ok(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x20 || u[i] == 0x7f)
            return 0;
        size_t l = utf8_seq(u + i, n - i);
        if (!l)
            return 0;
        i += l;
    }
    return 1;
}

/* Copies at most max bytes of s, cut at a character boundary, with invalid UTF-8 and
 * control bytes (but tab and newline) replaced by '?'. */
static char *sanitize_text(const char *s, size_t max)
{
    size_t n = strlen(s);
    char *o = ts_malloc((n < max ? n : max) + 1);
    if (!o)
        return NULL;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, j = 0;
    while (i < n) {
        size_t l = utf8_seq(u + i, n - i);
        if (l == 0 || (l == 1 && ((u[i] < 0x20 && u[i] != '\t' && u[i] != '\n') || u[i] == 0x7f))) {
            if (j + 1 > max)
                break;
            o[j++] = '?';
            i++;
            continue;
        }
        if (j + l > max)
            break;
        memcpy(o + j, s + i, l);
        i += l;
        j += l;
    }
    o[j] = '\0';
    return o;
}

/* A short printable copy of a jansson error text (which may quote the input). */
static void printable(const char *in, char *out, size_t outlen)
{
    size_t j = 0;
    for (size_t i = 0; in[i] && j + 1 < outlen; i++) {
        unsigned char c = (unsigned char)in[i];
        out[j++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    out[j] = '\0';
}

/* ---- parsing helpers: each names its field as prefix + key ---- */

#define BAD(err, f, ...) bad_field(err, f, __VA_ARGS__)

static int bad_field(ts_err *err, const char *field, const char *fmt, ...) TS_PRINTF(3, 4);
static int bad_field(ts_err *err, const char *field, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return ts_err_set(err, TS_ERR_INVALID, "invalid event: field \"%s\": %s", field, why);
}

static json_t *get_field(json_t *obj, const char *prefix, const char *key, char *path,
                         size_t pathlen, ts_err *err)
{
    snprintf(path, pathlen, "%s%s", prefix, key);
    json_t *v = json_object_get(obj, key);
    if (!v)
        BAD(err, path, "missing");
    return v;
}

/* A string of 1..max bytes, valid UTF-8 without control characters. */
static int get_text(json_t *obj, const char *prefix, const char *key, size_t max, int nullable,
                    const char **out, size_t *outlen, ts_err *err)
{
    char path[64];
    json_t *v = get_field(obj, prefix, key, path, sizeof path, err);
    if (!v)
        return TS_ERR_INVALID;
    if (nullable && json_is_null(v)) {
        *out = NULL;
        *outlen = 0;
        return TS_OK;
    }
    if (!json_is_string(v))
        return BAD(err, path, nullable ? "must be a string or null" : "must be a string");
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n == 0)
        return BAD(err, path, "must not be empty");
    if (n > max)
        return BAD(err, path, "longer than %zu bytes", max);
    if (memchr(s, '\0', n) || !text_ok(s, n))
        return BAD(err, path, "contains control characters or invalid UTF-8");
    *out = s;
    *outlen = n;
    return TS_OK;
}

static int get_name(json_t *obj, const char *prefix, const char *key, char out[BUS_NAME_MAX + 1],
                    ts_err *err)
{
    const char *s;
    size_t n;
    int rc = get_text(obj, prefix, key, BUS_NAME_MAX, 0, &s, &n, err);
    if (rc)
        return rc;
    memcpy(out, s, n);
    out[n] = '\0';
    return TS_OK;
}

static int get_dup(json_t *obj, const char *key, size_t max, int nullable, char **out, ts_err *err)
{
    const char *s;
    size_t n;
    int rc = get_text(obj, "", key, max, nullable, &s, &n, err);
    if (rc)
        return rc;
    if (!s) {
        *out = NULL;
        return TS_OK;
    }
    *out = ts_strndup(s, n);
    return *out ? TS_OK : ts_err_set(err, TS_ERR_NOMEM, "out of memory parsing an event");
}

static int get_int(json_t *obj, const char *prefix, const char *key, int64_t min, int64_t max,
                   int64_t *out, ts_err *err)
{
    char path[64];
    json_t *v = get_field(obj, prefix, key, path, sizeof path, err);
    if (!v)
        return TS_ERR_INVALID;
    if (!json_is_integer(v))
        return BAD(err, path, "must be an integer");
    json_int_t x = json_integer_value(v);
    if (x < min || x > max)
        return BAD(err, path, "%lld is out of range %" PRId64 "..%" PRId64, (long long)x, min, max);
    *out = x;
    return TS_OK;
}

static int get_time(json_t *obj, const char *prefix, const char *key, int64_t *out, ts_err *err)
{
    const char *why;
    char path[64];
    json_t *v = get_field(obj, prefix, key, path, sizeof path, err);
    if (!v)
        return TS_ERR_INVALID;
    if (!json_is_string(v))
        return BAD(err, path, "must be a string (RFC 3339 UTC)");
    if (json_string_length(v) >= BUS_TIME_MAX)
        return BAD(err, path,
                   "not an RFC 3339 timestamp in years 0001..9999 with at most "
                   "microseconds: longer than %d bytes",
                   BUS_TIME_MAX - 1);
    if ((why = ts_time_scan(json_string_value(v), 0, out)) != NULL)
        return BAD(err, path,
                   "not an RFC 3339 timestamp in years 0001..9999 with at most "
                   "microseconds: %s",
                   why);
    return TS_OK;
}

/* Strict decimal int64: optional '-', 1..19 digits, no overflow. */
static int parse_int64(const char *s, int64_t *out)
{
    int neg = 0;
    uint64_t v = 0, lim;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    if (!*s)
        return -1;
    lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (lim - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static int get_range_value(json_t *obj, const char *key, bus_range_kind kind, int64_t *out,
                           ts_err *err)
{
    if (kind == BUS_RANGE_TIMESTAMP)
        return get_time(obj, "chunk.", key, out, err);
    char path[64];
    json_t *v = get_field(obj, "chunk.", key, path, sizeof path, err);
    if (!v)
        return TS_ERR_INVALID;
    if (!json_is_string(v))
        return BAD(err, path, "must be a string (a decimal integer for range_kind \"integer\")");
    if (json_string_length(v) >= BUS_TIME_MAX || parse_int64(json_string_value(v), out) != 0)
        return BAD(err, path, "not a decimal 64-bit integer");
    return TS_OK;
}

static int get_enum(json_t *obj, const char *prefix, const char *key, const char *const *names,
                    int count, int *out, ts_err *err)
{
    char path[64];
    json_t *v = get_field(obj, prefix, key, path, sizeof path, err);
    if (!v)
        return TS_ERR_INVALID;
    if (json_is_string(v)) {
        for (int i = 0; i < count; i++) {
            if (json_string_length(v) == strlen(names[i]) && strcmp(json_string_value(v), names[i]) == 0) {
                *out = i;
                return TS_OK;
            }
        }
    }
    char want[128] = "";
    for (int i = 0; i < count; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s\"%s\"", i ? " or " : "", names[i]);
    return BAD(err, path, "must be %s", want);
}

static int parse_chunk(json_t *root, bus_chunk *c, ts_err *err)
{
    static const char *const kinds[] = {"timestamp", "integer"};
    static const char *const sources[] = {"timescaledb", "partition"};
    char path[64];
    int rc, k;
    json_t *o = get_field(root, "", "chunk", path, sizeof path, err);
    if (!o)
        return TS_ERR_INVALID;
    if (!json_is_object(o))
        return BAD(err, "chunk", "must be an object");
    if ((rc = get_name(o, "chunk.", "hypertable_schema", c->hypertable_schema, err)) ||
        (rc = get_name(o, "chunk.", "hypertable", c->hypertable, err)) ||
        (rc = get_name(o, "chunk.", "chunk_schema", c->chunk_schema, err)) ||
        (rc = get_name(o, "chunk.", "chunk_name", c->chunk_name, err)))
        return rc;
    if ((rc = get_enum(o, "chunk.", "range_kind", kinds, 2, &k, err)))
        return rc;
    c->range_kind = (bus_range_kind)k;
    if ((rc = get_range_value(o, "range_start", c->range_kind, &c->range_start, err)) ||
        (rc = get_range_value(o, "range_end", c->range_kind, &c->range_end, err)))
        return rc;
    if (c->range_start >= c->range_end)
        return BAD(err, "chunk.range_end", "must be after \"chunk.range_start\"");
    if ((rc = get_enum(o, "chunk.", "source", sources, 2, &k, err)))
        return rc;
    c->source = (bus_chunk_source)k;
    return TS_OK;
}

/* json_dumpb into ts_malloc memory (jansson's own allocator may be set elsewhere). */
static char *dump_text(json_t *v, size_t flags, size_t *outlen)
{
    size_t n = json_dumpb(v, NULL, 0, flags);
    if (n == 0)
        return NULL;
    char *s = ts_malloc(n + 1);
    if (!s)
        return NULL;
    if (json_dumpb(v, s, n, flags) != n) {
        ts_free(s);
        return NULL;
    }
    s[n] = '\0';
    if (outlen)
        *outlen = n;
    return s;
}

/* Size cap, JSON syntax, a top-level object, and the version. */
static int parse_root(const char *data, size_t len, json_t **out, ts_err *err)
{
    json_error_t jerr;
    char why[160];
    *out = NULL;
    if (!data)
        return ts_err_set(err, TS_ERR_INVALID, "invalid event: no payload");
    if (len > BUS_EVENT_MAX_BYTES)
        return ts_err_set(err, TS_ERR_TOOBIG, "invalid event: %zu bytes, more than the cap of %d",
                          len, BUS_EVENT_MAX_BYTES);
    json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        printable(jerr.text, why, sizeof why);
        return ts_err_set(err, TS_ERR_INVALID, "invalid event: not valid JSON: %s (line %d, column %d)",
                          why, jerr.line, jerr.column);
    }
    if (!json_is_object(root)) {
        json_decref(root);
        return ts_err_set(err, TS_ERR_INVALID, "invalid event: not a JSON object");
    }
    json_t *v = json_object_get(root, "version");
    int rc = TS_OK;
    if (!v)
        rc = BAD(err, "version", "missing");
    else if (!json_is_integer(v))
        rc = BAD(err, "version", "must be an integer");
    else if (json_integer_value(v) != BUS_EVENT_VERSION)
        rc = ts_err_set(err, TS_ERR_INVALID, "invalid event: unsupported \"version\" %lld (this build reads %d)",
                        (long long)json_integer_value(v), BUS_EVENT_VERSION);
    if (rc) {
        json_decref(root);
        return rc;
    }
    *out = root;
    return TS_OK;
}

/* The optional "cluster": absent means "" (events of earlier versions). */
static int get_cluster(json_t *root, char out[BUS_CLUSTER_MAX + 1], ts_err *err)
{
    const char *s;
    size_t n;
    int rc;
    json_t *v = json_object_get(root, "cluster");
    out[0] = '\0';
    if (!v || json_is_null(v))
        return TS_OK;
    if ((rc = get_text(root, "", "cluster", BUS_CLUSTER_MAX, 0, &s, &n, err)) != TS_OK)
        return rc;
    memcpy(out, s, n);
    out[n] = '\0';
    return TS_OK;
}

static int get_event_id(json_t *root, char out[BUS_EVENT_ID_LEN + 1], ts_err *err)
{
    char path[64];
    json_t *v = get_field(root, "", "event_id", path, sizeof path, err);
    if (!v)
        return TS_ERR_INVALID;
    if (!json_is_string(v))
        return BAD(err, "event_id", "must be a string");
    if (json_string_length(v) != BUS_EVENT_ID_LEN || !bus_event_id_valid(json_string_value(v)))
        return BAD(err, "event_id", "not a UUID (8-4-4-4-12 hex digits)");
    const char *s = json_string_value(v);
    for (int i = 0; i <= BUS_EVENT_ID_LEN; i++)
        out[i] = (s[i] >= 'A' && s[i] <= 'F') ? (char)(s[i] - 'A' + 'a') : s[i];
    return TS_OK;
}

int bus_request_parse(const char *data, size_t len, bus_request *r, ts_err *err)
{
    json_t *root = NULL;
    bus_request tmp;
    int64_t attempt;
    int rc;
    memset(&tmp, 0, sizeof tmp);
    if ((rc = parse_root(data, len, &root, err)))
        goto out;
    if ((rc = get_event_id(root, tmp.event_id, err)) ||
        (rc = get_int(root, "", "attempt", 1, 1000000, &attempt, err)) ||
        (rc = get_time(root, "", "requested_at", &tmp.requested_at, err)) ||
        (rc = get_cluster(root, tmp.cluster, err)) ||
        (rc = get_name(root, "", "database", tmp.database, err)) ||
        (rc = parse_chunk(root, &tmp.chunk, err)))
        goto out;
    tmp.attempt = (int)attempt;
    *r = tmp;
out:
    json_decref(root);
    return rc;
}

int bus_confirmation_parse(const char *data, size_t len, bus_confirmation *c, ts_err *err)
{
    static const char *const statuses[] = {"success", "failure"};
    json_t *root = NULL;
    bus_confirmation tmp;
    char path[64];
    char *proof = NULL;
    int rc, st;
    memset(&tmp, 0, sizeof tmp);
    if ((rc = parse_root(data, len, &root, err)))
        goto out;
    if ((rc = get_event_id(root, tmp.event_id, err)) ||
        (rc = get_enum(root, "", "status", statuses, 2, &st, err)))
        goto out;
    tmp.status = (bus_status)st;
    int ok = tmp.status == BUS_STATUS_SUCCESS;
    if ((rc = get_cluster(root, tmp.cluster, err)) ||
        (rc = get_name(root, "", "database", tmp.database, err)) ||
        (rc = parse_chunk(root, &tmp.chunk, err)) ||
        (rc = get_int(root, "", "rows", 0, INT64_MAX, &tmp.rows, err)) ||
        (rc = get_int(root, "", "bytes", 0, INT64_MAX, &tmp.bytes, err)) ||
        (rc = get_dup(root, "object", BUS_OBJECT_MAX, !ok, &tmp.object, err)) ||
        (rc = get_dup(root, "checksum", BUS_CHECKSUM_MAX, !ok, &tmp.checksum, err)) ||
        (rc = get_time(root, "", "archived_at", &tmp.archived_at, err)))
        goto out;
    /* error: null on success, a non-empty string on failure (tabs, newlines allowed) */
    json_t *e = get_field(root, "", "error", path, sizeof path, err);
    if (!e) {
        rc = TS_ERR_INVALID;
        goto out;
    }
    if (ok && !json_is_null(e)) {
        rc = BAD(err, "error", "must be null when \"status\" is \"success\"");
        goto out;
    }
    if (!ok) {
        if (!json_is_string(e) || json_string_length(e) == 0) {
            rc = BAD(err, "error", "must be a non-empty string when \"status\" is \"failure\"");
            goto out;
        }
        if (json_string_length(e) > BUS_ERROR_MAX) {
            rc = BAD(err, "error", "longer than %d bytes", BUS_ERROR_MAX);
            goto out;
        }
        if (memchr(json_string_value(e), '\0', json_string_length(e))) {
            rc = BAD(err, "error", "contains a NUL character");
            goto out;
        }
        if (!(tmp.error = ts_strndup(json_string_value(e), json_string_length(e)))) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory parsing an event");
            goto out;
        }
    }
    json_t *p = get_field(root, "", "proof", path, sizeof path, err);
    if (!p) {
        rc = TS_ERR_INVALID;
        goto out;
    }
    if (json_is_object(p)) {
        if (!(proof = dump_text(p, JSON_COMPACT | JSON_SORT_KEYS, NULL))) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory parsing an event");
            goto out;
        }
        tmp.proof = proof;
        proof = NULL;
    } else if (!(json_is_null(p) && !ok)) {
        rc = BAD(err, "proof", ok ? "must be an object" : "must be an object or null");
        goto out;
    }
    *c = tmp;
    memset(&tmp, 0, sizeof tmp);
out:
    bus_confirmation_clear(&tmp);
    ts_free(proof);
    json_decref(root);
    return rc;
}

void bus_confirmation_clear(bus_confirmation *c)
{
    if (!c)
        return;
    ts_free(c->object);
    ts_free(c->checksum);
    ts_free(c->error);
    ts_free(c->proof);
    memset(c, 0, sizeof *c);
}

/* ---- encoding: validate with the parser's rules, then build ---- */

static int check_name(const char *v, size_t size, const char *field, ts_err *err)
{
    size_t n = strnlen(v, size);
    if (n == size)
        return BAD(err, field, "not NUL-terminated");
    if (n == 0)
        return BAD(err, field, "must not be empty");
    if (!text_ok(v, n))
        return BAD(err, field, "contains control characters or invalid UTF-8");
    return TS_OK;
}

static int check_text(const char *v, size_t max, int nullable, const char *field, ts_err *err)
{
    if (!v)
        return nullable ? TS_OK : BAD(err, field, "missing");
    size_t n = strlen(v);
    if (n == 0)
        return BAD(err, field, "must not be empty");
    if (n > max)
        return BAD(err, field, "longer than %zu bytes", max);
    if (!text_ok(v, n))
        return BAD(err, field, "contains control characters or invalid UTF-8");
    return TS_OK;
}

static int range_text(const bus_chunk *c, int64_t v, char *out, const char *field, ts_err *err)
{
    if (c->range_kind == BUS_RANGE_INTEGER) {
        snprintf(out, BUS_TIME_MAX, "%" PRId64, v);
        return TS_OK;
    }
    if (c->range_kind != BUS_RANGE_TIMESTAMP)
        return BAD(err, "chunk.range_kind", "unknown value %d", (int)c->range_kind);
    if (ts_time_format(v, 0, out, BUS_TIME_MAX))
        return BAD(err, field, "out of the years 0001..9999");
    return TS_OK;
}

static int time_text(int64_t v, char *out, const char *field, ts_err *err)
{
    if (ts_time_format(v, 0, out, BUS_TIME_MAX))
        return BAD(err, field, "out of the years 0001..9999");
    return TS_OK;
}

static int build_chunk(const bus_chunk *c, json_t **out, ts_err *err)
{
    char rs[BUS_TIME_MAX], re[BUS_TIME_MAX];
    int rc;
    *out = NULL;
    if ((rc = check_name(c->hypertable_schema, sizeof c->hypertable_schema, "chunk.hypertable_schema", err)) ||
        (rc = check_name(c->hypertable, sizeof c->hypertable, "chunk.hypertable", err)) ||
        (rc = check_name(c->chunk_schema, sizeof c->chunk_schema, "chunk.chunk_schema", err)) ||
        (rc = check_name(c->chunk_name, sizeof c->chunk_name, "chunk.chunk_name", err)) ||
        (rc = range_text(c, c->range_start, rs, "chunk.range_start", err)) ||
        (rc = range_text(c, c->range_end, re, "chunk.range_end", err)))
        return rc;
    if (c->range_start >= c->range_end)
        return BAD(err, "chunk.range_end", "must be after \"chunk.range_start\"");
    if (c->source != BUS_SOURCE_TIMESCALEDB && c->source != BUS_SOURCE_PARTITION)
        return BAD(err, "chunk.source", "unknown value %d", (int)c->source);
    *out = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                     "hypertable_schema", c->hypertable_schema, "hypertable", c->hypertable,
                     "chunk_schema", c->chunk_schema, "chunk_name", c->chunk_name,
                     "range_kind", bus_range_kind_name(c->range_kind), "range_start", rs,
                     "range_end", re, "source", bus_chunk_source_name(c->source));
    return *out ? TS_OK : ts_err_set(err, TS_ERR_NOMEM, "out of memory encoding an event");
}

static int dump(json_t *root, char **out, size_t *outlen, ts_err *err)
{
    size_t n = 0;
    char *s = dump_text(root, JSON_COMPACT, &n);
    if (!s)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory encoding an event");
    if (n > BUS_EVENT_MAX_BYTES) {
        ts_free(s);
        return ts_err_set(err, TS_ERR_TOOBIG, "event is %zu bytes, more than the cap of %d",
                          n, BUS_EVENT_MAX_BYTES);
    }
    *out = s;
    if (outlen)
        *outlen = n;
    return TS_OK;
}

int bus_request_encode(const bus_request *r, char **out, size_t *outlen, ts_err *err)
{
    json_t *root = NULL, *chunk = NULL;
    char at[BUS_TIME_MAX];
    int rc;
    if (!r || !out)
        return ts_err_set(err, TS_ERR_INTERNAL, "bus_request_encode: NULL argument");
    *out = NULL;
    if (!bus_event_id_valid(r->event_id)) {
        rc = BAD(err, "event_id", "not a UUID (8-4-4-4-12 hex digits)");
        goto out;
    }
    if (r->attempt < 1 || r->attempt > 1000000) {
        rc = BAD(err, "attempt", "%d is out of range 1..1000000", r->attempt);
        goto out;
    }
    if ((rc = time_text(r->requested_at, at, "requested_at", err)) ||
        (rc = check_name(r->database, sizeof r->database, "database", err)) ||
        (rc = build_chunk(&r->chunk, &chunk, err)))
        goto out;
    if (strnlen(r->cluster, sizeof r->cluster) == sizeof r->cluster) {
        rc = BAD(err, "cluster", "not NUL-terminated");
        goto out;
    }
    root = json_pack("{s:i, s:s, s:i, s:s, s:s*, s:s, s:o}", "version", BUS_EVENT_VERSION,
                     "event_id", r->event_id, "attempt", r->attempt, "requested_at", at,
                     "cluster", r->cluster[0] ? r->cluster : NULL, "database", r->database,
                     "chunk", chunk);
    chunk = NULL; /* json_pack's "o" took it, even on failure */
    if (!root) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory encoding an event");
        goto out;
    }
    rc = dump(root, out, outlen, err);
out:
    json_decref(chunk);
    json_decref(root);
    return rc;
}

int bus_confirmation_encode(const bus_confirmation *c, char **out, size_t *outlen, ts_err *err)
{
    json_t *root = NULL, *chunk = NULL, *proof = NULL;
    char at[BUS_TIME_MAX];
    char *error = NULL;
    int rc;
    if (!c || !out)
        return ts_err_set(err, TS_ERR_INTERNAL, "bus_confirmation_encode: NULL argument");
    *out = NULL;
    int ok = c->status == BUS_STATUS_SUCCESS;
    if (!bus_event_id_valid(c->event_id)) {
        rc = BAD(err, "event_id", "not a UUID (8-4-4-4-12 hex digits)");
        goto out;
    }
    if (c->status != BUS_STATUS_SUCCESS && c->status != BUS_STATUS_FAILURE) {
        rc = BAD(err, "status", "unknown value %d", (int)c->status);
        goto out;
    }
    if (c->rows < 0 || c->bytes < 0) {
        rc = BAD(err, c->rows < 0 ? "rows" : "bytes", "must not be negative");
        goto out;
    }
    if ((rc = check_name(c->database, sizeof c->database, "database", err)) ||
        (rc = check_text(c->object, BUS_OBJECT_MAX, !ok, "object", err)) ||
        (rc = check_text(c->checksum, BUS_CHECKSUM_MAX, !ok, "checksum", err)) ||
        (rc = time_text(c->archived_at, at, "archived_at", err)))
        goto out;
    if (ok && c->error) {
        rc = BAD(err, "error", "must be NULL when \"status\" is \"success\"");
        goto out;
    }
    if (!ok) {
        if (!c->error || !c->error[0]) {
            rc = BAD(err, "error", "must be a non-empty text when \"status\" is \"failure\"");
            goto out;
        }
        if (!(error = sanitize_text(c->error, BUS_ERROR_MAX))) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory encoding an event");
            goto out;
        }
        if (!error[0]) { /* cannot happen: a first byte becomes at least '?' */
            rc = BAD(err, "error", "must not be empty");
            goto out;
        }
    }
    if (c->proof) {
        json_error_t jerr;
        proof = json_loads(c->proof, JSON_REJECT_DUPLICATES, &jerr);
        if (!proof || !json_is_object(proof)) {
            rc = BAD(err, "proof", "must be the text of a JSON object");
            goto out;
        }
    } else if (ok) {
        rc = BAD(err, "proof", "missing (required when \"status\" is \"success\")");
        goto out;
    }
    if ((rc = build_chunk(&c->chunk, &chunk, err)))
        goto out;
    if (strnlen(c->cluster, sizeof c->cluster) == sizeof c->cluster) {
        rc = BAD(err, "cluster", "not NUL-terminated");
        goto out;
    }
    root = json_pack("{s:i, s:s, s:s, s:s*, s:s, s:o, s:I, s:I, s:s?, s:s?, s:s?, s:s, s:o?}",
                     "version", BUS_EVENT_VERSION, "event_id", c->event_id,
                     "status", bus_status_name(c->status),
                     "cluster", c->cluster[0] ? c->cluster : NULL, "database", c->database,
                     "chunk", chunk, "rows", (json_int_t)c->rows, "bytes", (json_int_t)c->bytes,
                     "object", c->object, "checksum", c->checksum, "error", error,
                     "archived_at", at, "proof", proof);
    chunk = NULL;
    proof = NULL;
    if (!root) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory encoding an event");
        goto out;
    }
    rc = dump(root, out, outlen, err);
out:
    ts_free(error);
    json_decref(proof);
    json_decref(chunk);
    json_decref(root);
    return rc;
}
