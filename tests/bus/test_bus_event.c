/* test_bus_event.c: the event JSON codec (round trips, every missing field, wrong
 * types, unknown version, truncation, huge and hostile input), RFC 3339 times, event
 * ids, and redis:// URL parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "bus/event.h"
#include "common/tstime.h"
#include "bus/url.h"
#include "common/alloc.h"

/* libuv-style: show both values and the place */
#define ASSERT_ERR(rc, e, want_code, want_sub)                                                   \
    do {                                                                                         \
        if ((rc) != (want_code) || !strstr((e).msg, (want_sub))) {                              \
            print_error("%s:%d: rc %d (want %d), msg \"%s\" (want \"%s\" in it)\n", __FILE__,   \
                        __LINE__, (rc), (want_code), (e).msg, (want_sub));                       \
            fail();                                                                              \
        }                                                                                        \
    } while (0)

static bus_request sample_request(void)
{
    bus_request r;
    memset(&r, 0, sizeof r);
    strcpy(r.event_id, "0f8fad5b-d9cb-469f-a165-70867728950e");
    r.attempt = 2;
    assert_null(ts_time_scan("2026-11-25T02:19:34.123456Z", 0, &r.requested_at));
    strcpy(r.database, "metrics");
    strcpy(r.chunk.hypertable_schema, "public");
    strcpy(r.chunk.hypertable, "conditions");
    strcpy(r.chunk.chunk_schema, "_timescaledb_internal");
    strcpy(r.chunk.chunk_name, "_hyper_1_42_chunk");
    r.chunk.range_kind = BUS_RANGE_TIMESTAMP;
    assert_null(ts_time_scan("2024-01-04T00:00:00Z", 0, &r.chunk.range_start));
    assert_null(ts_time_scan("2024-01-11T00:00:00Z", 0, &r.chunk.range_end));
    r.chunk.source = BUS_SOURCE_TIMESCALEDB;
    return r;
}

static bus_confirmation sample_confirmation(void)
{
    bus_request r = sample_request();
    bus_confirmation c;
    memset(&c, 0, sizeof c);
    strcpy(c.event_id, r.event_id);
    c.status = BUS_STATUS_SUCCESS;
    strcpy(c.database, r.database);
    c.chunk = r.chunk;
    c.rows = 604800;
    c.bytes = 12345678;
    c.object = "file:///lake/metrics/public.conditions/year=2024/month=01/_hyper_1_42_chunk.parquet";
    c.checksum = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    c.error = NULL;
    c.archived_at = r.requested_at + 5000000;
    c.proof = "{\"rows\":604800,\"sum\":\"-123456789\"}";
    return c;
}

static char *encode_req(const bus_request *r)
{
    char *s = NULL;
    size_t n = 0;
    ts_err e;
    ts_err_clear(&e);
    int rc = bus_request_encode(r, &s, &n, &e);
    if (rc)
        print_error("encode: %s\n", e.msg);
    assert_int_equal(rc, TS_OK);
    assert_int_equal(strlen(s), n);
    return s;
}

static char *encode_conf(const bus_confirmation *c)
{
    char *s = NULL;
    ts_err e;
    ts_err_clear(&e);
    int rc = bus_confirmation_encode(c, &s, NULL, &e);
    if (rc)
        print_error("encode: %s\n", e.msg);
    assert_int_equal(rc, TS_OK);
    return s;
}

static int parse_req(const char *s, ts_err *e)
{
    bus_request r;
    ts_err_clear(e);
    return bus_request_parse(s, strlen(s), &r, e);
}

static int parse_conf(const char *s, ts_err *e)
{
    bus_confirmation c;
    ts_err_clear(e);
    int rc = bus_confirmation_parse(s, strlen(s), &c, e);
    if (rc == TS_OK)
        bus_confirmation_clear(&c);
    return rc;
}

/* Applies edit to the JSON of s at path ("chunk.x" or "x") and returns the new text. */
typedef enum { DEL, SET } edit_op;
static char *edit_json(const char *s, const char *path, edit_op op, json_t *val)
{
    json_error_t je;
    json_t *root = json_loads(s, 0, &je);
    assert_non_null(root);
    json_t *obj = root;
    const char *key = path;
    if (strncmp(path, "chunk.", 6) == 0) {
        obj = json_object_get(root, "chunk");
        key = path + 6;
    }
    if (op == DEL)
        assert_int_equal(json_object_del(obj, key), 0);
    else
        assert_int_equal(json_object_set_new(obj, key, val), 0);
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out;
}

/* ---- round trips ---- */

static void test_request_round_trip(void **state)
{
    (void)state;
    bus_request r = sample_request(), back;
    char *s = encode_req(&r);
    assert_non_null(strstr(s, "\"version\":1"));
    assert_non_null(strstr(s, "\"requested_at\":\"2026-11-25T02:19:34.123456Z\""));
    assert_non_null(strstr(s, "\"range_start\":\"2024-01-04T00:00:00Z\""));
    assert_non_null(strstr(s, "\"range_kind\":\"timestamp\""));
    assert_non_null(strstr(s, "\"source\":\"timescaledb\""));
    ts_err e;
    ts_err_clear(&e);
    memset(&back, 0x5a, sizeof back);
    assert_int_equal(bus_request_parse(s, strlen(s), &back, &e), TS_OK);
    assert_string_equal(back.event_id, r.event_id);
    assert_int_equal(back.attempt, r.attempt);
    assert_int_equal(back.requested_at, r.requested_at);
    assert_string_equal(back.database, r.database);
    assert_string_equal(back.chunk.hypertable_schema, r.chunk.hypertable_schema);
    assert_string_equal(back.chunk.hypertable, r.chunk.hypertable);
    assert_string_equal(back.chunk.chunk_schema, r.chunk.chunk_schema);
    assert_string_equal(back.chunk.chunk_name, r.chunk.chunk_name);
    assert_int_equal(back.chunk.range_kind, r.chunk.range_kind);
    assert_int_equal(back.chunk.range_start, r.chunk.range_start);
    assert_int_equal(back.chunk.range_end, r.chunk.range_end);
    assert_int_equal(back.chunk.source, r.chunk.source);
    /* encoding the parsed request gives the same bytes */
    char *s2 = encode_req(&back);
    assert_string_equal(s, s2);
    ts_free(s);
    ts_free(s2);
}

static void test_request_integer_range(void **state)
{
    (void)state;
    bus_request r = sample_request(), back;
    r.chunk.range_kind = BUS_RANGE_INTEGER;
    r.chunk.range_start = INT64_MIN;
    r.chunk.range_end = INT64_MAX;
    r.chunk.source = BUS_SOURCE_PARTITION;
    char *s = encode_req(&r);
    assert_non_null(strstr(s, "\"range_start\":\"-9223372036854775808\""));
    assert_non_null(strstr(s, "\"range_end\":\"9223372036854775807\""));
    assert_non_null(strstr(s, "\"source\":\"partition\""));
    ts_err e;
    ts_err_clear(&e);
    assert_int_equal(bus_request_parse(s, strlen(s), &back, &e), TS_OK);
    assert_int_equal(back.chunk.range_kind, BUS_RANGE_INTEGER);
    assert_true(back.chunk.range_start == INT64_MIN);
    assert_true(back.chunk.range_end == INT64_MAX);
    /* overflow, junk, a timestamp where an integer belongs */
    const char *bad[] = {"9223372036854775808", "-9223372036854775809", "12a", "", "-", "1.5", " 1",
                         "+1", "2024-01-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *t = edit_json(s, "chunk.range_start", SET, json_string(bad[i]));
        int rc = parse_req(t, &e);
        ASSERT_ERR(rc, e, TS_ERR_INVALID, "\"chunk.range_start\"");
        free(t);
    }
    char *t = edit_json(s, "chunk.range_end", SET, json_integer(5)); /* a JSON number: no */
    ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, "\"chunk.range_end\": must be a string");
    free(t);
    ts_free(s);
}

static void test_confirmation_round_trip(void **state)
{
    (void)state;
    bus_confirmation c = sample_confirmation(), back;
    c.proof = "{ \"sum\": \"-123456789\", \"rows\": 604800 }"; /* becomes sorted and compact */
    char *s = encode_conf(&c);
    assert_non_null(strstr(s, "\"status\":\"success\""));
    assert_non_null(strstr(s, "\"error\":null"));
    ts_err e;
    ts_err_clear(&e);
    assert_int_equal(bus_confirmation_parse(s, strlen(s), &back, &e), TS_OK);
    assert_string_equal(back.event_id, c.event_id);
    assert_int_equal(back.status, BUS_STATUS_SUCCESS);
    assert_string_equal(back.database, "metrics");
    assert_string_equal(back.chunk.chunk_name, c.chunk.chunk_name);
    assert_int_equal(back.rows, c.rows);
    assert_int_equal(back.bytes, c.bytes);
    assert_string_equal(back.object, c.object);
    assert_string_equal(back.checksum, c.checksum);
    assert_null(back.error);
    assert_int_equal(back.archived_at, c.archived_at);
    assert_string_equal(back.proof, "{\"rows\":604800,\"sum\":\"-123456789\"}");
    char *s2 = encode_conf(&back);
    bus_confirmation back2;
    assert_int_equal(bus_confirmation_parse(s2, strlen(s2), &back2, &e), TS_OK);
    assert_string_equal(back2.proof, back.proof);
    bus_confirmation_clear(&back);
    bus_confirmation_clear(&back2);
    assert_null(back2.proof);
    bus_confirmation_clear(NULL);
    ts_free(s);
    ts_free(s2);
}

static void test_confirmation_failure(void **state)
{
    (void)state;
    bus_confirmation c = sample_confirmation(), back;
    ts_err e;
    c.status = BUS_STATUS_FAILURE;
    c.object = NULL;
    c.checksum = NULL;
    c.proof = NULL;
    c.rows = c.bytes = 0;
    /* an error text with a control byte and invalid UTF-8 is cleaned; a long one cut */
    char big[BUS_ERROR_MAX + 100];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "COPY failed:\x01\xff\xfe ", 16);
    c.error = big;
    char *s = encode_conf(&c);
    ts_err_clear(&e);
    assert_int_equal(bus_confirmation_parse(s, strlen(s), &back, &e), TS_OK);
    assert_int_equal(back.status, BUS_STATUS_FAILURE);
    assert_null(back.object);
    assert_null(back.checksum);
    assert_null(back.proof);
    assert_int_equal(strlen(back.error), BUS_ERROR_MAX);
    assert_memory_equal(back.error, "COPY failed:??? ", 16);
    bus_confirmation_clear(&back);
    /* failure without an error text */
    char *t = edit_json(s, "error", SET, json_null());
    ASSERT_ERR(parse_conf(t, &e), e, TS_ERR_INVALID, "\"error\": must be a non-empty string");
    free(t);
    t = edit_json(s, "error", SET, json_string(""));
    ASSERT_ERR(parse_conf(t, &e), e, TS_ERR_INVALID, "\"error\"");
    free(t);
    ts_free(s);
    c.error = NULL;
    ts_err_clear(&e);
    ASSERT_ERR(bus_confirmation_encode(&c, &s, NULL, &e), e, TS_ERR_INVALID, "\"error\"");
}

static void test_confirmation_rules(void **state)
{
    (void)state;
    bus_confirmation c = sample_confirmation();
    ts_err e;
    char *s = encode_conf(&c), *t;
    t = edit_json(s, "error", SET, json_string("boom"));
    ASSERT_ERR(parse_conf(t, &e), e, TS_ERR_INVALID, "\"error\": must be null");
    free(t);
    t = edit_json(s, "proof", SET, json_null());
    ASSERT_ERR(parse_conf(t, &e), e, TS_ERR_INVALID, "\"proof\": must be an object");
    free(t);
    t = edit_json(s, "proof", SET, json_string("{}"));
    ASSERT_ERR(parse_conf(t, &e), e, TS_ERR_INVALID, "\"proof\"");
    free(t);
    t = edit_json(s, "object", SET, json_null());
    ASSERT_ERR(parse_conf(t, &e), e, TS_ERR_INVALID, "\"object\": must be a string");
    free(t);
    t = edit_json(s, "rows", SET, json_integer(-1));
    ASSERT_ERR(parse_conf(t, &e), e, TS_ERR_INVALID, "\"rows\": -1 is out of range");
    free(t);
    t = edit_json(s, "status", SET, json_string("SUCCESS"));
    ASSERT_ERR(parse_conf(t, &e), e, TS_ERR_INVALID, "\"status\": must be \"success\" or \"failure\"");
    free(t);
    ts_free(s);
    /* the encoder refuses what the parser would refuse */
    c.proof = "[1,2]";
    ts_err_clear(&e);
    ASSERT_ERR(bus_confirmation_encode(&c, &s, NULL, &e), e, TS_ERR_INVALID, "\"proof\"");
    c = sample_confirmation();
    c.proof = NULL;
    ts_err_clear(&e);
    ASSERT_ERR(bus_confirmation_encode(&c, &s, NULL, &e), e, TS_ERR_INVALID, "\"proof\"");
    c = sample_confirmation();
    c.checksum = "";
    ts_err_clear(&e);
    ASSERT_ERR(bus_confirmation_encode(&c, &s, NULL, &e), e, TS_ERR_INVALID, "\"checksum\"");
    c = sample_confirmation();
    c.rows = -5;
    ts_err_clear(&e);
    ASSERT_ERR(bus_confirmation_encode(&c, &s, NULL, &e), e, TS_ERR_INVALID, "\"rows\"");
}

/* ---- every missing field, every wrong type ---- */

static const char *const request_fields[] = {
    "version", "event_id", "attempt", "requested_at", "database", "chunk",
    "chunk.hypertable_schema", "chunk.hypertable", "chunk.chunk_schema", "chunk.chunk_name",
    "chunk.range_kind", "chunk.range_start", "chunk.range_end", "chunk.source"};

static const char *const confirmation_fields[] = {
    "version", "event_id", "status", "database", "chunk", "rows", "bytes", "object",
    "checksum", "error", "archived_at", "proof", "chunk.chunk_name", "chunk.range_end"};

static void test_missing_fields(void **state)
{
    (void)state;
    bus_request r = sample_request();
    char *s = encode_req(&r);
    ts_err e;
    char want[96];
    for (size_t i = 0; i < sizeof request_fields / sizeof *request_fields; i++) {
        char *t = edit_json(s, request_fields[i], DEL, NULL);
        snprintf(want, sizeof want, "field \"%s\": missing", request_fields[i]);
        ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, want);
        free(t);
    }
    ts_free(s);
    bus_confirmation c = sample_confirmation();
    s = encode_conf(&c);
    for (size_t i = 0; i < sizeof confirmation_fields / sizeof *confirmation_fields; i++) {
        char *t = edit_json(s, confirmation_fields[i], DEL, NULL);
        snprintf(want, sizeof want, "field \"%s\": missing", confirmation_fields[i]);
        ASSERT_ERR(parse_conf(t, &e), e, TS_ERR_INVALID, want);
        free(t);
    }
    ts_free(s);
}

static void test_wrong_types(void **state)
{
    (void)state;
    bus_request r = sample_request();
    char *s = encode_req(&r);
    ts_err e;
    char want[96];
    /* every field set to values of each wrong kind */
    for (size_t i = 1; i < sizeof request_fields / sizeof *request_fields; i++) {
        const char *f = request_fields[i];
        json_t *vals[] = {json_integer(7), json_real(1.5), json_true(), json_null(), json_array(),
                          json_object(), json_string("x")};
        for (size_t k = 0; k < sizeof vals / sizeof *vals; k++) {
            /* skip the combinations that are right */
            if (strcmp(f, "attempt") == 0 && json_is_integer(vals[k])) {
                json_decref(vals[k]);
                continue;
            }
            if (strcmp(f, "chunk") == 0 && json_is_object(vals[k])) {
                json_decref(vals[k]);
                continue;
            }
            if ((strcmp(f, "database") == 0 || strncmp(f, "chunk.h", 7) == 0 ||
                 strncmp(f, "chunk.chunk_", 12) == 0) && json_is_string(vals[k])) {
                json_decref(vals[k]);
                continue;
            }
            char *t = edit_json(s, f, SET, vals[k]);
            snprintf(want, sizeof want, "field \"%s\"", f);
            ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, want);
            free(t);
        }
    }
    /* ranges of value */
    char *t = edit_json(s, "attempt", SET, json_integer(0));
    ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, "\"attempt\": 0 is out of range");
    free(t);
    t = edit_json(s, "database", SET, json_string(""));
    ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, "\"database\": must not be empty");
    free(t);
    t = edit_json(s, "chunk.range_end", SET, json_string("2024-01-04T00:00:00Z"));
    ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, "\"chunk.range_end\": must be after");
    free(t);
    t = edit_json(s, "chunk.range_kind", SET, json_string("date"));
    ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, "\"chunk.range_kind\": must be \"timestamp\" or \"integer\"");
    free(t);
    ts_free(s);
}

static void test_versions(void **state)
{
    (void)state;
    bus_request r = sample_request();
    char *s = encode_req(&r), *t;
    ts_err e;
    t = edit_json(s, "version", SET, json_integer(2));
    ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, "unsupported \"version\" 2");
    free(t);
    t = edit_json(s, "version", SET, json_integer(0));
    ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, "unsupported \"version\" 0");
    free(t);
    t = edit_json(s, "version", SET, json_string("1"));
    ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, "\"version\": must be an integer");
    free(t);
    t = edit_json(s, "version", SET, json_real(1.0));
    ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, "\"version\": must be an integer");
    free(t);
    /* a version 2 event with a different layout still names the version */
    ASSERT_ERR(parse_req("{\"version\":2,\"whatever\":[]}", &e), e, TS_ERR_INVALID, "\"version\" 2");
    /* unknown extra fields are ignored (additive changes within a version) */
    t = edit_json(s, "note", SET, json_string("extra"));
    assert_int_equal(parse_req(t, &e), TS_OK);
    free(t);
    ts_free(s);
}

static void test_truncated(void **state)
{
    (void)state;
    bus_request r = sample_request();
    char *s = encode_req(&r);
    size_t n = strlen(s);
    ts_err e;
    bus_request out;
    for (size_t k = 0; k < n; k++) {
        char *t = malloc(k + 1); /* exact size: ASan sees any overread */
        memcpy(t, s, k);
        ts_err_clear(&e);
        int rc = bus_request_parse(t, k, &out, &e);
        if (rc != TS_ERR_INVALID)
            print_error("prefix of %zu bytes: rc %d\n", k, rc);
        assert_int_equal(rc, TS_ERR_INVALID);
        free(t);
    }
    ts_free(s);
    bus_confirmation c = sample_confirmation(), cout;
    s = encode_conf(&c);
    n = strlen(s);
    for (size_t k = 0; k < n; k++) {
        ts_err_clear(&e);
        assert_int_equal(bus_confirmation_parse(s, k, &cout, &e), TS_ERR_INVALID);
    }
    ts_free(s);
    ts_err_clear(&e);
    ASSERT_ERR(bus_request_parse(NULL, 0, &out, &e), e, TS_ERR_INVALID, "no payload");
}

static void test_huge(void **state)
{
    (void)state;
    bus_request r = sample_request(), out;
    ts_err e;
    char *s = encode_req(&r);
    size_t n = strlen(s);
    /* at the cap (padded with whitespace): fine; one more byte: TOOBIG */
    char *big = malloc(BUS_EVENT_MAX_BYTES + 1);
    memcpy(big, s, n);
    memset(big + n, ' ', BUS_EVENT_MAX_BYTES + 1 - n);
    ts_err_clear(&e);
    assert_int_equal(bus_request_parse(big, BUS_EVENT_MAX_BYTES, &out, &e), TS_OK);
    ts_err_clear(&e);
    ASSERT_ERR(bus_request_parse(big, BUS_EVENT_MAX_BYTES + 1, &out, &e), e, TS_ERR_TOOBIG, "cap");
    free(big);
    /* a 16 MiB string value */
    size_t hn = 16u << 20;
    char *h = malloc(hn + 64);
    strcpy(h, "{\"version\":1,\"x\":\"");
    memset(h + strlen(h), 'a', hn);
    strcpy(h + 18 + hn, "\"}");
    ts_err_clear(&e);
    ASSERT_ERR(bus_request_parse(h, strlen(h), &out, &e), e, TS_ERR_TOOBIG, "cap");
    free(h);
    /* the encoder refuses an event over the cap (a big proof) */
    bus_confirmation c = sample_confirmation();
    size_t pn = BUS_EVENT_MAX_BYTES;
    char *proof = malloc(pn + 32);
    strcpy(proof, "{\"k\":\"");
    memset(proof + 6, 'p', pn);
    strcpy(proof + 6 + pn, "\"}");
    c.proof = proof;
    char *o = NULL;
    ts_err_clear(&e);
    ASSERT_ERR(bus_confirmation_encode(&c, &o, NULL, &e), e, TS_ERR_TOOBIG, "cap");
    assert_null(o);
    free(proof);
    ts_free(s);
}

static void test_hostile(void **state)
{
    (void)state;
    bus_request r = sample_request();
    char *s = encode_req(&r), *t;
    ts_err e;
    /* NUL, control characters, newlines (log injection) in names */
    t = edit_json(s, "chunk.chunk_name", SET, json_stringn("a\0b", 3));
    ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, "");
    free(t);
    assert_true(strstr(e.msg, "\\u0000") != NULL || strstr(e.msg, "chunk.chunk_name") != NULL);
    t = edit_json(s, "chunk.chunk_name", SET, json_string("x\nERROR fake log line"));
    ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, "\"chunk.chunk_name\": contains control");
    free(t);
    t = edit_json(s, "database", SET, json_string("db\x1b[31m"));
    ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, "\"database\": contains control");
    free(t);
    /* 63 bytes is a name, 64 is not */
    char name[80];
    memset(name, 'n', 63);
    name[63] = '\0';
    t = edit_json(s, "chunk.hypertable", SET, json_string(name));
    assert_int_equal(parse_req(t, &e), TS_OK);
    free(t);
    name[63] = 'n';
    name[64] = '\0';
    t = edit_json(s, "chunk.hypertable", SET, json_string(name));
    ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, "\"chunk.hypertable\": longer than 63 bytes");
    free(t);
    /* multi-byte UTF-8 names are fine */
    t = edit_json(s, "chunk.hypertable", SET, json_string("m\xc3\xa9tricas_\xe6\xb8\xa9\xe5\xba\xa6"));
    assert_int_equal(parse_req(t, &e), TS_OK);
    free(t);
    /* raw invalid UTF-8 and an escaped lone surrogate: rejected by the JSON layer */
    ASSERT_ERR(parse_req("{\"version\":1,\"event_id\":\"\xff\xfe\"}", &e), e, TS_ERR_INVALID, "not valid JSON");
    assert_null(strchr(e.msg, '\xff')); /* the reason stays printable */
    ASSERT_ERR(parse_req("{\"version\":1,\"database\":\"\\ud800\"}", &e), e, TS_ERR_INVALID, "not valid JSON");
    /* duplicate keys */
    ASSERT_ERR(parse_req("{\"version\":1,\"version\":1}", &e), e, TS_ERR_INVALID, "not valid JSON");
    /* roots that are not objects */
    const char *roots[] = {"[]", "null", "1", "\"x\"", "", " ", "{", "}", "{}{}", "{\"version\":1} x"};
    for (size_t i = 0; i < sizeof roots / sizeof *roots; i++)
        ASSERT_ERR(parse_req(roots[i], &e), e, TS_ERR_INVALID, "invalid event");
    /* deep nesting (in an ignored field and in the proof) */
    size_t depth = 20000;
    char *deep = malloc(2 * depth + 64);
    strcpy(deep, "{\"version\":1,\"x\":");
    size_t at = strlen(deep);
    memset(deep + at, '[', depth);
    memset(deep + at + depth, ']', depth);
    strcpy(deep + at + 2 * depth, "}");
    ASSERT_ERR(parse_req(deep, &e), e, TS_ERR_INVALID, "");
    free(deep);
    /* huge integers */
    ASSERT_ERR(parse_req("{\"version\":99999999999999999999999}", &e), e, TS_ERR_INVALID, "not valid JSON");
    ASSERT_ERR(parse_req("{\"version\":-9223372036854775808}", &e), e, TS_ERR_INVALID, "unsupported");
    /* bad UUIDs */
    const char *ids[] = {"", "0f8fad5b-d9cb-469f-a165-70867728950", "0f8fad5b-d9cb-469f-a165-70867728950e0",
                         "0f8fad5bd9cb-469f-a165-70867728950e-", "0f8fad5b-d9cb-469f-a165-70867728950g",
                         "{0f8fad5b-d9cb-469f-a165-70867728950e}", "0f8fad5b d9cb 469f a165 70867728950e"};
    for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
        t = edit_json(s, "event_id", SET, json_string(ids[i]));
        ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, "\"event_id\": not a UUID");
        free(t);
    }
    /* upper case is accepted and normalized */
    t = edit_json(s, "event_id", SET, json_string("0F8FAD5B-D9CB-469F-A165-70867728950E"));
    bus_request out;
    ts_err_clear(&e);
    assert_int_equal(bus_request_parse(t, strlen(t), &out, &e), TS_OK);
    assert_string_equal(out.event_id, "0f8fad5b-d9cb-469f-a165-70867728950e");
    free(t);
    /* bad timestamps */
    const char *times[] = {"2024-01-01", "2024-01-01T00:00:00", "2024-13-01T00:00:00Z",
                           "2023-02-29T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:60Z",
                           "2024-01-01T00:00:00.1234567Z", "2024-01-01T00:00:00.Z", "0000-01-01T00:00:00Z",
                           "2024-01-01 00:00:00Z", "2024-01-01T00:00:00+0100", "2024-01-01T00:00:00Zjunk",
                           "99999-01-01T00:00:00Z", "yesterday"};
    for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
        t = edit_json(s, "requested_at", SET, json_string(times[i]));
        ASSERT_ERR(parse_req(t, &e), e, TS_ERR_INVALID, "\"requested_at\": not an RFC 3339 timestamp");
        free(t);
    }
    ts_free(s);
}

static void test_encode_rejects(void **state)
{
    (void)state;
    char *s = NULL;
    ts_err e;
    bus_request r = sample_request();
    strcpy(r.event_id, "nope");
    ts_err_clear(&e);
    ASSERT_ERR(bus_request_encode(&r, &s, NULL, &e), e, TS_ERR_INVALID, "\"event_id\"");
    r = sample_request();
    r.attempt = 0;
    ts_err_clear(&e);
    ASSERT_ERR(bus_request_encode(&r, &s, NULL, &e), e, TS_ERR_INVALID, "\"attempt\"");
    r = sample_request();
    r.chunk.chunk_name[0] = '\0';
    ts_err_clear(&e);
    ASSERT_ERR(bus_request_encode(&r, &s, NULL, &e), e, TS_ERR_INVALID, "\"chunk.chunk_name\"");
    r = sample_request();
    memset(r.database, 'd', sizeof r.database); /* not terminated */
    ts_err_clear(&e);
    ASSERT_ERR(bus_request_encode(&r, &s, NULL, &e), e, TS_ERR_INVALID, "\"database\"");
    r = sample_request();
    strcpy(r.chunk.hypertable, "bad\xff");
    ts_err_clear(&e);
    ASSERT_ERR(bus_request_encode(&r, &s, NULL, &e), e, TS_ERR_INVALID, "\"chunk.hypertable\"");
    r = sample_request();
    r.chunk.range_end = r.chunk.range_start;
    ts_err_clear(&e);
    ASSERT_ERR(bus_request_encode(&r, &s, NULL, &e), e, TS_ERR_INVALID, "\"chunk.range_end\"");
    r = sample_request();
    r.chunk.range_end = INT64_MAX; /* beyond year 9999 */
    ts_err_clear(&e);
    ASSERT_ERR(bus_request_encode(&r, &s, NULL, &e), e, TS_ERR_INVALID, "\"chunk.range_end\"");
    r = sample_request();
    r.chunk.source = (bus_chunk_source)7;
    ts_err_clear(&e);
    ASSERT_ERR(bus_request_encode(&r, &s, NULL, &e), e, TS_ERR_INVALID, "\"chunk.source\"");
    assert_null(s);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    bus_confirmation c = sample_confirmation(), out;
    char *s = encode_conf(&c);
    ts_err e;
    /* every allocation in turn fails: a clean NOMEM, never a crash or a leak */
    int saw_ok = 0;
    for (long nth = 1; nth < 40 && !saw_ok; nth++) {
        ts_err_clear(&e);
        ts_alloc_fail_after(nth);
        int rc = bus_confirmation_parse(s, strlen(s), &out, &e);
        ts_alloc_fail_after(0);
        if (rc == TS_OK) {
            saw_ok = 1;
            bus_confirmation_clear(&out);
        } else {
            assert_int_equal(rc, TS_ERR_NOMEM);
        }
    }
    assert_true(saw_ok);
    saw_ok = 0;
    for (long nth = 1; nth < 40 && !saw_ok; nth++) {
        char *o = NULL;
        ts_err_clear(&e);
        ts_alloc_fail_after(nth);
        int rc = bus_confirmation_encode(&c, &o, NULL, &e);
        ts_alloc_fail_after(0);
        if (rc == TS_OK) {
            saw_ok = 1;
            ts_free(o);
        } else {
            assert_int_equal(rc, TS_ERR_NOMEM);
            assert_null(o);
        }
    }
    assert_true(saw_ok);
    ts_free(s);
}

/* ---- times and ids ---- */

static void test_times(void **state)
{
    (void)state;
    struct {
        const char *in;
        int64_t us;
        const char *out;
    } v[] = {
        {"1970-01-01T00:00:00Z", 0, "1970-01-01T00:00:00Z"},
        {"1970-01-01T00:00:00.000001Z", 1, "1970-01-01T00:00:00.000001Z"},
        {"1969-12-31T23:59:59.999999Z", -1, "1969-12-31T23:59:59.999999Z"},
        {"2000-02-29T12:00:00Z", INT64_C(951825600000000), "2000-02-29T12:00:00Z"},
        {"2024-01-01t01:00:00.5+01:00", INT64_C(1704067200500000), "2024-01-01T00:00:00.500000Z"},
        {"2023-12-31T19:00:00-05:00z", 0, NULL}, /* junk after the offset */
        {"0001-01-01T00:00:00Z", INT64_C(-62135596800000000), "0001-01-01T00:00:00Z"},
        {"9999-12-31T23:59:59.999999Z", INT64_C(253402300799999999), "9999-12-31T23:59:59.999999Z"},
        {"0001-01-01T00:00:00+00:01", 0, NULL}, /* before year 1 in UTC */
    };
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        int64_t us = 0;
        int rc = ts_time_scan(v[i].in, 0, &us) ? -1 : 0;
        if (!v[i].out) {
            assert_int_equal(rc, -1);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_true(us == v[i].us);
        char buf[BUS_TIME_MAX];
        assert_int_equal(ts_time_format(us, 0, buf, sizeof buf), TS_OK);
        assert_string_equal(buf, v[i].out);
    }
    char buf[BUS_TIME_MAX];
    assert_int_equal(ts_time_format(INT64_MIN, 0, buf, sizeof buf), TS_ERR_INVALID);
    assert_int_equal(ts_time_format(INT64_C(253402300800000000), 0, buf, sizeof buf), TS_ERR_INVALID);
    assert_int_equal(ts_time_format(0, 0, buf, 10), TS_ERR_TOOBIG);
    assert_true(ts_time_now() > INT64_C(1700000000000000));
    /* every day 1600..2400 round-trips through format and parse */
    for (int64_t d = -135140; d < 157000; d += 7) {
        int64_t us = d * INT64_C(86400000000) + 3723000001, back;
        assert_int_equal(ts_time_format(us, 0, buf, sizeof buf), TS_OK);
        assert_null(ts_time_scan(buf, 0, &back));
        assert_true(back == us);
    }
}

static void test_event_ids(void **state)
{
    (void)state;
    char a[BUS_EVENT_ID_LEN + 1], b[BUS_EVENT_ID_LEN + 1];
    ts_err e;
    ts_err_clear(&e);
    assert_int_equal(bus_event_id_new(a, &e), TS_OK);
    assert_int_equal(bus_event_id_new(b, &e), TS_OK);
    assert_int_equal(strlen(a), 36);
    assert_true(bus_event_id_valid(a));
    assert_int_equal(a[14], '4');                   /* version 4 */
    assert_non_null(strchr("89ab", a[19]));         /* RFC 4122 variant */
    assert_string_not_equal(a, b);
    assert_false(bus_event_id_valid(NULL));
}

/* ---- redis:// URLs ---- */

static void test_urls(void **state)
{
    (void)state;
    bus_url u;
    ts_err e;
    ts_err_clear(&e);
    assert_int_equal(bus_url_parse("redis://127.0.0.1", &u, &e), TS_OK);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_null(u.user);
    assert_null(u.password);
    bus_url_clear(&u);
    assert_int_equal(bus_url_parse("REDIS://cache.example:6380/5", &u, &e), TS_OK);
    assert_string_equal(u.host, "cache.example");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 5);
    bus_url_clear(&u);
    assert_int_equal(bus_url_parse("redis://:p%40ss@w/rd@h:1/2", &u, &e), TS_OK);
    assert_string_equal(u.password, "p@ss@w/rd");
    assert_null(u.user);
    assert_string_equal(u.host, "h");
    assert_int_equal(u.port, 1);
    assert_int_equal(u.db, 2);
    bus_url_clear(&u);
    assert_int_equal(bus_url_parse("redis://alice:s3cr%3At@[::1]:7000/", &u, &e), TS_OK);
    assert_string_equal(u.user, "alice");
    assert_string_equal(u.password, "s3cr:t");
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 7000);
    bus_url_clear(&u);
    assert_int_equal(bus_url_parse("redis://:@h", &u, &e), TS_OK); /* empty password: none */
    assert_null(u.password);
    bus_url_clear(&u);

    assert_int_equal(bus_url_parse("rediss://:tops%40cret@cache.example:6380/1", &u, &e), TS_OK);
    assert_int_equal(u.tls, 1);
    assert_string_equal(u.password, "tops@cret");
    assert_string_equal(u.host, "cache.example");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 1);
    bus_url_clear(&u);
    assert_int_equal(bus_url_parse("Rediss://h", &u, &e), TS_OK);
    assert_int_equal(u.tls, 1);
    assert_int_equal(u.port, 6379);
    bus_url_clear(&u);
    assert_int_equal(bus_url_parse("redis://h", &u, &e), TS_OK);
    assert_int_equal(u.tls, 0);
    bus_url_clear(&u);

    ts_err_clear(&e);
    struct {
        const char *url, *sub;
    } bad[] = {
        {"", "empty"}, {"http://h", "redis://"}, {"redisss://h", "rediss://"}, {"redis://", "host"}, {"redis://:topsecret@", "host"},
        {"redis://topsecret@h", "[user]:password@"}, {"redis://:top%zzsecret@h", "%-escape"},
        {"redis://:top%00secret@h", "%-escape"}, {"redis://h:0", "port"}, {"redis://h:65536", "port"},
        {"redis://h:x", "port"}, {"redis://h/x", "database"}, {"redis://h/0?ssl=true", "query"},
        {"redis://[::1", "["}, {"redis://[::1]x", "junk"}, {"redis://h h", "host"},
        {"redis://:topsecret@h:99999/0", "port"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ts_err_clear(&e);
        int rc = bus_url_parse(bad[i].url, &u, &e);
        ASSERT_ERR(rc, e, TS_ERR_INVALID, bad[i].sub);
        assert_null(strstr(e.msg, "topsecret"));
        assert_null(u.password);
    }
    ts_err_clear(&e);
    ts_alloc_fail_after(1);
    int rc = bus_url_parse("redis://u:p@h", &u, &e);
    ts_alloc_fail_after(0);
    assert_int_equal(rc, TS_ERR_NOMEM);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_request_integer_range),
        cmocka_unit_test(test_confirmation_round_trip),
        cmocka_unit_test(test_confirmation_failure),
        cmocka_unit_test(test_confirmation_rules),
        cmocka_unit_test(test_missing_fields),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_huge),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_event_ids),
        cmocka_unit_test(test_urls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
