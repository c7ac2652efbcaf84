/* test_bus_redis.c: the Redis streams transport against real Redis 7: publish /
 * consume / ack, two consumers sharing a group, reclaim after the visibility timeout,
 * dead letter after N deliveries and for malformed entries, trimming of settled
 * entries, the dead-letter cap, and (on a private
 * redis-server with AOF and a password) reconnect across a restart without loss.
 * Needs TS_TEST_REDIS_URL (scripts/services); skips with exit code 77 without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "common/tstime.h"
#include "bus/event.h"
#include "common/alloc.h"

static const char *redis_url;
static char prefix[64]; /* "tsbus.test.<pid>" */
static pid_t private_pid = -1;
static char private_dir[64];

#define CHECK(call)                                                                          \
    do {                                                                                     \
        ts_err e_;                                                                           \
        ts_err_clear(&e_);                                                                   \
        int rc_ = (call);                                                                    \
        if (rc_ != TS_OK) {                                                                  \
            print_error("%s:%d: %s: rc %d: %s\n", __FILE__, __LINE__, #call, rc_, e_.msg);   \
            fail();                                                                          \
        }                                                                                    \
    } while (0)
#define E (&e_)

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static bus *open_bus(const char *url, int max_deliveries, const char *dl)
{
    bus_options o;
    bus_options_init(&o);
    o.url = url;
    o.deadletter_stream = dl;
    o.max_deliveries = max_deliveries;
    o.retry_ms = 10000;
    o.backoff_initial_ms = 50;
    o.backoff_max_ms = 500;
    o.client_name = "tsarchive-test";
    bus *b = NULL;
    CHECK(bus_new(&o, &b, E));
    return b;
}

static void name(char *out, size_t n, const char *what)
{
    snprintf(out, n, "%s.%s", prefix, what);
}

/* A valid request event with a fresh id; the caller ts_free()s it. */
static char *make_event(int i)
{
    bus_request r;
    memset(&r, 0, sizeof r);
    ts_err e;
    ts_err_clear(&e);
    assert_int_equal(bus_event_id_new(r.event_id, &e), TS_OK);
    r.attempt = 1;
    r.requested_at = ts_time_now();
    strcpy(r.database, "metrics");
    strcpy(r.chunk.hypertable_schema, "public");
    strcpy(r.chunk.hypertable, "conditions");
    strcpy(r.chunk.chunk_schema, "_timescaledb_internal");
    snprintf(r.chunk.chunk_name, sizeof r.chunk.chunk_name, "_hyper_1_%d_chunk", i);
    r.chunk.range_kind = BUS_RANGE_INTEGER;
    r.chunk.range_start = i * 100;
    r.chunk.range_end = i * 100 + 100;
    r.chunk.source = BUS_SOURCE_TIMESCALEDB;
    char *s = NULL;
    assert_int_equal(bus_request_encode(&r, &s, NULL, &e), TS_OK);
    return s;
}

static void publish_n(bus *b, const char *stream, int n, char ids[][BUS_ID_MAX])
{
    for (int i = 0; i < n; i++) {
        char *ev = make_event(i);
        CHECK(bus_publish(b, stream, ev, strlen(ev), ids ? ids[i] : NULL, E));
        ts_free(ev);
    }
}

static long long xlen(bus *b, const char *stream)
{
    long long n = -1;
    CHECK(bus_stream_len(b, stream, &n, E));
    return n;
}

static long long pending(bus *b, const char *stream, const char *group)
{
    long long n = -1;
    CHECK(bus_pending_count(b, stream, group, &n, E));
    return n;
}

/* XRANGE of the dead-letter stream through plain hiredis: field value of entry i. */
static char *dl_field(const char *dl, size_t i, const char *field)
{
    redisReply *r = NULL;
    redisContext *c = NULL;
    char host[64] = "127.0.0.1";
    int port = 6379, db = 0;
    /* the shared test Redis has no password: redis://host:port/db */
    assert_true(sscanf(redis_url, "redis://%63[^:]:%d/%d", host, &port, &db) >= 2);
    c = redisConnect(host, port);
    assert_true(c && !c->err);
    if (db)
        freeReplyObject(redisCommand(c, "SELECT %d", db));
    r = redisCommand(c, "XRANGE %s - +", dl);
    assert_true(r && r->type == REDIS_REPLY_ARRAY && r->elements > i);
    redisReply *fv = r->element[i]->element[1];
    char *out = NULL;
    for (size_t k = 0; k + 1 < fv->elements; k += 2)
        if (strcmp(fv->element[k]->str, field) == 0)
            out = strndup(fv->element[k + 1]->str, fv->element[k + 1]->len);
    freeReplyObject(r);
    redisFree(c);
    return out;
}

static void raw_xadd(const char *stream, const char *field, const char *value)
{
    char host[64] = "127.0.0.1";
    int port = 6379, db = 0;
    assert_true(sscanf(redis_url, "redis://%63[^:]:%d/%d", host, &port, &db) >= 2);
    redisContext *c = redisConnect(host, port);
    assert_true(c && !c->err);
    if (db)
        freeReplyObject(redisCommand(c, "SELECT %d", db));
    redisReply *r = redisCommand(c, "XADD %s * %s %s", stream, field, value);
    assert_true(r && r->type == REDIS_REPLY_STRING);
    freeReplyObject(r);
    redisFree(c);
}

static void cleanup(bus *b, const char *s1, const char *s2)
{
    if (s1)
        CHECK(bus_stream_delete(b, s1, E));
    if (s2)
        CHECK(bus_stream_delete(b, s2, E));
}

/* ---- the shared Redis ---- */

static void test_publish_consume_ack(void **state)
{
    (void)state;
    char stream[128];
    name(stream, sizeof stream, "basic");
    bus *b = open_bus(redis_url, 0, NULL);
    CHECK(bus_ping(b, E));
    assert_true(bus_connected(b));
    CHECK(bus_group_create(b, stream, "archivers", E));
    CHECK(bus_group_create(b, stream, "archivers", E)); /* BUSYGROUP is fine */
    assert_int_equal(xlen(b, stream), 0);
    char ids[3][BUS_ID_MAX];
    publish_n(b, stream, 3, ids);
    assert_int_equal(xlen(b, stream), 3);

    bus_msgs m = {0};
    CHECK(bus_read(b, stream, "archivers", "w1", 10, 200, &m, E));
    assert_int_equal(m.n, 3);
    assert_int_equal(pending(b, stream, "archivers"), 3);
    for (size_t i = 0; i < m.n; i++) {
        assert_string_equal(m.v[i].id, ids[i]);
        assert_int_equal(m.v[i].deliveries, 1);
        bus_request r;
        CHECK(bus_request_parse(m.v[i].payload, m.v[i].len, &r, E));
        assert_int_equal(r.chunk.range_start, (int64_t)i * 100);
        CHECK(bus_ack(b, stream, "archivers", m.v[i].id, E));
    }
    assert_int_equal(pending(b, stream, "archivers"), 0);
    /* nothing new: an empty batch after the block time, not an error */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(bus_read(b, stream, "archivers", "w1", 10, 300, &m, E));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(m.n, 0);
    long waited = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(waited >= 250);
    CHECK(bus_read(b, stream, "archivers", "w1", 10, 0, &m, E)); /* no BLOCK */
    assert_int_equal(m.n, 0);
    /* a second group sees everything from the start */
    CHECK(bus_group_create(b, stream, "retention", E));
    CHECK(bus_read(b, stream, "retention", "r1", 10, 100, &m, E));
    assert_int_equal(m.n, 3);
    bus_msgs_clear(&m);
    /* a deleted stream and group come back on read (Redis lost its data) */
    cleanup(b, stream, NULL);
    publish_n(b, stream, 1, NULL);
    CHECK(bus_read(b, stream, "archivers", "w1", 10, 100, &m, E));
    assert_int_equal(m.n, 1);
    bus_msgs_clear(&m);
    /* errors from Redis name the stream */
    ts_err e;
    ts_err_clear(&e);
    long long n;
    assert_int_equal(bus_pending_count(b, stream, "nosuchgroup", &n, &e), TS_ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, stream));
    cleanup(b, stream, NULL);
    bus_free(b);
}

static void test_two_consumers_share(void **state)
{
    (void)state;
    char stream[128];
    name(stream, sizeof stream, "share");
    bus *b1 = open_bus(redis_url, 0, NULL), *b2 = open_bus(redis_url, 0, NULL);
    CHECK(bus_group_create(b1, stream, "archivers", E));
    CHECK(bus_group_create(b2, stream, "archivers", E));
    enum { N = 40 };
    char ids[N][BUS_ID_MAX];
    publish_n(b1, stream, N, ids);
    int seen[N] = {0}, by1 = 0, by2 = 0;
    bus_msgs m = {0};
    for (int round = 0; round < 200 && by1 + by2 < N; round++) {
        bus *b = round % 2 ? b2 : b1;
        CHECK(bus_read(b, stream, "archivers", round % 2 ? "w2" : "w1", 3, 50, &m, E));
        for (size_t i = 0; i < m.n; i++) {
            int k = -1;
            for (int j = 0; j < N; j++)
                if (strcmp(ids[j], m.v[i].id) == 0)
                    k = j;
            assert_true(k >= 0);
            assert_int_equal(seen[k], 0); /* each entry to exactly one consumer */
            seen[k] = 1;
            *(round % 2 ? &by2 : &by1) += 1;
            CHECK(bus_ack(b, stream, "archivers", m.v[i].id, E));
        }
    }
    bus_msgs_clear(&m);
    assert_int_equal(by1 + by2, N);
    assert_true(by1 > 0 && by2 > 0);
    assert_int_equal(pending(b1, stream, "archivers"), 0);
    cleanup(b1, stream, NULL);
    bus_free(b1);
    bus_free(b2);
}

static void test_reclaim_after_visibility_timeout(void **state)
{
    (void)state;
    char stream[128];
    name(stream, sizeof stream, "reclaim");
    bus *a = open_bus(redis_url, 0, NULL), *b = open_bus(redis_url, 0, NULL);
    CHECK(bus_group_create(a, stream, "archivers", E));
    char ids[2][BUS_ID_MAX];
    publish_n(a, stream, 2, ids);
    bus_msgs m = {0};
    CHECK(bus_read(a, stream, "archivers", "dead-worker", 1, 100, &m, E));
    assert_int_equal(m.n, 1);
    /* b gets the other entry; the first stays with the dead worker ... */
    CHECK(bus_read(b, stream, "archivers", "live-worker", 10, 100, &m, E));
    assert_int_equal(m.n, 1);
    assert_string_equal(m.v[0].id, ids[1]);
    CHECK(bus_ack(b, stream, "archivers", m.v[0].id, E));
    /* ... until it has been idle for the visibility timeout */
    CHECK(bus_reclaim(b, stream, "archivers", "live-worker", 400, 10, &m, E));
    assert_int_equal(m.n, 0);
    sleep_ms(500);
    CHECK(bus_reclaim(b, stream, "archivers", "live-worker", 400, 10, &m, E));
    assert_int_equal(m.n, 1);
    assert_string_equal(m.v[0].id, ids[0]);
    assert_int_equal(m.v[0].deliveries, 2);
    bus_request r;
    CHECK(bus_request_parse(m.v[0].payload, m.v[0].len, &r, E));
    CHECK(bus_ack(b, stream, "archivers", m.v[0].id, E));
    assert_int_equal(pending(b, stream, "archivers"), 0);
    bus_msgs_clear(&m);
    cleanup(a, stream, NULL);
    bus_free(a);
    bus_free(b);
}

static void test_extend_keeps_entry(void **state)
{
    (void)state;
    char stream[128];
    name(stream, sizeof stream, "extend");
    bus *a = open_bus(redis_url, 0, NULL), *b = open_bus(redis_url, 0, NULL);
    CHECK(bus_group_create(a, stream, "archivers", E));
    publish_n(a, stream, 1, NULL);
    bus_msgs m = {0}, mb = {0};
    CHECK(bus_read(a, stream, "archivers", "slow-worker", 1, 100, &m, E));
    assert_int_equal(m.n, 1);
    /* a long job: heartbeats keep the entry from being reclaimed */
    for (int i = 0; i < 3; i++) {
        sleep_ms(250);
        CHECK(bus_extend(a, stream, "archivers", "slow-worker", m.v[0].id, E));
        CHECK(bus_reclaim(b, stream, "archivers", "other", 400, 10, &mb, E));
        assert_int_equal(mb.n, 0);
    }
    /* without them, another worker takes it; the delivery count was not raised */
    sleep_ms(500);
    CHECK(bus_reclaim(b, stream, "archivers", "other", 400, 10, &mb, E));
    assert_int_equal(mb.n, 1);
    assert_int_equal(mb.v[0].deliveries, 2);
    ts_err e;
    ts_err_clear(&e);
    assert_int_equal(bus_extend(a, stream, "archivers", "slow-worker", m.v[0].id, &e), TS_ERR_CONFLICT);
    assert_non_null(strstr(e.msg, "\"other\""));
    CHECK(bus_ack(b, stream, "archivers", mb.v[0].id, E));
    ts_err_clear(&e);
    assert_int_equal(bus_extend(b, stream, "archivers", "other", mb.v[0].id, &e), TS_ERR_NOTFOUND);
    bus_msgs_clear(&m);
    bus_msgs_clear(&mb);
    cleanup(a, stream, NULL);
    bus_free(a);
    bus_free(b);
}

static void test_deadletter_after_n_deliveries(void **state)
{
    (void)state;
    char stream[128], dl[128];
    name(stream, sizeof stream, "poison");
    name(dl, sizeof dl, "deadletter1");
    bus *b = open_bus(redis_url, 2, dl); /* at most 2 deliveries */
    CHECK(bus_group_create(b, stream, "archivers", E));
    char ids[1][BUS_ID_MAX];
    publish_n(b, stream, 1, ids);
    bus_msgs m = {0};
    CHECK(bus_read(b, stream, "archivers", "w1", 1, 100, &m, E)); /* delivery 1, crash */
    assert_int_equal(m.n, 1);
    char *payload = strdup(m.v[0].payload);
    sleep_ms(150);
    CHECK(bus_reclaim(b, stream, "archivers", "w2", 100, 10, &m, E)); /* delivery 2, crash */
    assert_int_equal(m.n, 1);
    assert_int_equal(m.v[0].deliveries, 2);
    sleep_ms(150);
    CHECK(bus_reclaim(b, stream, "archivers", "w3", 100, 10, &m, E)); /* 3 > 2: dead letter */
    assert_int_equal(m.n, 0);
    assert_int_equal(pending(b, stream, "archivers"), 0);
    assert_int_equal(xlen(b, dl), 1);
    char *reason = dl_field(dl, 0, "reason"), *id = dl_field(dl, 0, "id"),
         *ev = dl_field(dl, 0, "event"), *src = dl_field(dl, 0, "stream"),
         *deliveries = dl_field(dl, 0, "deliveries"), *group = dl_field(dl, 0, "group");
    assert_non_null(strstr(reason, "delivered 3 times"));
    assert_string_equal(id, ids[0]);
    assert_string_equal(ev, payload);
    assert_string_equal(src, stream);
    assert_string_equal(deliveries, "3");
    assert_string_equal(group, "archivers");
    free(reason);
    free(id);
    free(ev);
    free(src);
    free(deliveries);
    free(group);
    free(payload);
    bus_msgs_clear(&m);
    cleanup(b, stream, dl);
    bus_free(b);
}

static void test_malformed_to_deadletter(void **state)
{
    (void)state;
    char stream[128], dl[128];
    name(stream, sizeof stream, "malformed");
    name(dl, sizeof dl, "deadletter2");
    bus *b = open_bus(redis_url, 0, dl);
    CHECK(bus_group_create(b, stream, "archivers", E));
    const char *bad[] = {"{not json", "{\"version\":7}", "[]"};
    for (size_t i = 0; i < 3; i++)
        CHECK(bus_publish(b, stream, bad[i], strlen(bad[i]), NULL, E));
    char *good = make_event(1);
    CHECK(bus_publish(b, stream, good, strlen(good), NULL, E));
    raw_xadd(stream, "not-event", "x"); /* no "event" field: dead-lettered by bus_read */
    bus_msgs m = {0};
    CHECK(bus_read(b, stream, "archivers", "w1", 10, 100, &m, E));
    assert_int_equal(m.n, 4);
    int ok = 0;
    for (size_t i = 0; i < m.n; i++) {
        bus_request r;
        ts_err e;
        ts_err_clear(&e);
        if (bus_request_parse(m.v[i].payload, m.v[i].len, &r, &e) == TS_OK) {
            ok++;
            CHECK(bus_ack(b, stream, "archivers", m.v[i].id, E));
        } else {
            CHECK(bus_deadletter(b, stream, "archivers", &m.v[i], e.msg, E));
        }
    }
    assert_int_equal(ok, 1);
    assert_int_equal(pending(b, stream, "archivers"), 0);
    assert_int_equal(xlen(b, dl), 4);
    char *r0 = dl_field(dl, 0, "reason"), *r1 = dl_field(dl, 1, "reason"),
         *r2 = dl_field(dl, 2, "reason"), *r3 = dl_field(dl, 3, "reason"), *e1 = dl_field(dl, 1, "event");
    assert_non_null(strstr(r0, "no \"event\" field"));
    assert_non_null(strstr(r1, "not valid JSON"));
    assert_string_equal(e1, "{not json");
    assert_non_null(strstr(r2, "unsupported \"version\" 7"));
    assert_non_null(strstr(r3, "not a JSON object"));
    free(r0);
    free(r1);
    free(r2);
    free(r3);
    free(e1);
    bus_msgs_clear(&m);
    ts_free(good);
    /* without a dead-letter stream configured: a clear error */
    bus *nodl = open_bus(redis_url, 0, NULL);
    bus_msg fake = {.id = "1-0", .payload = NULL, .len = 0, .deliveries = 1};
    ts_err e;
    ts_err_clear(&e);
    assert_int_equal(bus_deadletter(nodl, stream, "archivers", &fake, "x", &e), TS_ERR_INVALID);
    bus_free(nodl);
    cleanup(b, stream, dl);
    bus_free(b);
}

static void test_bad_urls(void **state)
{
    (void)state;
    bus_options o;
    bus_options_init(&o);
    bus *b = NULL;
    ts_err e;
    ts_err_clear(&e);
    /* TLS options with a plain url: refused rather than talking plain text */
    o.url = "redis://:hunter2@127.0.0.1:6380/0";
    o.tls_ca_file = "/etc/ssl/certs/ca-certificates.crt";
    assert_int_equal(bus_new(&o, &b, &e), TS_ERR_INVALID);
    assert_null(b);
    assert_non_null(strstr(e.msg, "rediss://"));
    assert_null(strstr(e.msg, "hunter2"));
    /* a CA file that is not there: named at bus_new */
    o.url = "rediss://:hunter2@127.0.0.1:6380/0";
    o.tls_ca_file = "/nonexistent/ca.pem";
    ts_err_clear(&e);
    assert_int_equal(bus_new(&o, &b, &e), TS_ERR_INVALID);
    assert_null(b);
    assert_non_null(strstr(e.msg, "\"/nonexistent/ca.pem\""));
    assert_null(strstr(e.msg, "hunter2"));
    /* a client certificate without its key */
    o.tls_ca_file = NULL;
    o.tls_cert_file = "/nonexistent/client.pem";
    ts_err_clear(&e);
    assert_int_equal(bus_new(&o, &b, &e), TS_ERR_INVALID);
    assert_non_null(strstr(e.msg, "tls_key_file"));
    /* rediss:// where nothing listens: TS_ERR_CONN, never a plain-text attempt elsewhere */
    bus_options_init(&o);
    o.url = "rediss://:hunter2@127.0.0.1:1/0";
    o.retry_ms = 0;
    ts_err_clear(&e);
    assert_int_equal(bus_new(&o, &b, &e), TS_OK);
    assert_int_equal(bus_ping(b, &e), TS_ERR_CONN);
    assert_non_null(strstr(e.msg, "127.0.0.1:1"));
    assert_null(strstr(e.msg, "hunter2"));
    bus_free(b);
    b = NULL;
    /* nothing listens: TS_ERR_CONN after the retry budget, without the password */
    bus_options_init(&o);
    o.url = "redis://:hunter2@127.0.0.1:1/0";
    o.retry_ms = 300;
    o.backoff_initial_ms = 50;
    ts_err_clear(&e);
    assert_int_equal(bus_new(&o, &b, &e), TS_OK);
    ts_err_clear(&e);
    assert_int_equal(bus_ping(b, &e), TS_ERR_CONN);
    assert_non_null(strstr(e.msg, "127.0.0.1:1"));
    assert_null(strstr(e.msg, "hunter2"));
    assert_false(bus_connected(b));
    bus_free(b);
    bus_free(NULL);
    char c1[64], c2[64];
    bus_consumer_name(c1, sizeof c1, 1);
    bus_consumer_name(c2, sizeof c2, 2);
    assert_string_not_equal(c1, c2);
    assert_non_null(strchr(c1, ':'));
}

/* A plain hiredis connection to the shared Redis, on the test's database. */
static redisContext *raw_connect(void)
{
    char host[64] = "127.0.0.1";
    int port = 6379, db = 0;
    assert_true(sscanf(redis_url, "redis://%63[^:]:%d/%d", host, &port, &db) >= 2);
    redisContext *c = redisConnect(host, port);
    assert_true(c && !c->err);
    if (db)
        freeReplyObject(redisCommand(c, "SELECT %d", db));
    return c;
}

/* The id of the oldest entry of stream ("" when empty), into out. */
static void first_id(const char *stream, char out[BUS_ID_MAX])
{
    redisContext *c = raw_connect();
    redisReply *r = redisCommand(c, "XRANGE %s - + COUNT 1", stream);
    assert_true(r && r->type == REDIS_REPLY_ARRAY);
    out[0] = '\0';
    if (r->elements)
        snprintf(out, BUS_ID_MAX, "%s", r->element[0]->element[0]->str);
    freeReplyObject(r);
    redisFree(c);
}

static long long trim(bus *b, const char *stream)
{
    long long n = -1;
    CHECK(bus_trim_settled(b, stream, &n, E));
    return n;
}

/* Reads up to count new entries for group (as consumer c1), checking they are ids[from..]. */
static void read_expect(bus *b, const char *stream, const char *group, int count, char ids[][BUS_ID_MAX],
                        int from, bus_msgs *m)
{
    CHECK(bus_read(b, stream, group, "c1", count, 100, m, E));
    assert_int_equal(m->n, count);
    for (int i = 0; i < count; i++)
        assert_string_equal(m->v[i].id, ids[from + i]);
}

static void test_trim_settled(void **state)
{
    (void)state;
    char stream[128], got[BUS_ID_MAX];
    name(stream, sizeof stream, "trim");
    bus *b = open_bus(redis_url, 0, NULL);
    bus_msgs m = {0};
    enum { N = 10 };
    char ids[N][BUS_ID_MAX];
    assert_int_equal(trim(b, stream), 0); /* no stream: nothing, no error */
    /* no group yet: nothing is trimmed, and a group made later at 0 gets everything */
    publish_n(b, stream, N, ids);
    assert_int_equal(trim(b, stream), 0);
    assert_int_equal(xlen(b, stream), N);

    /* two groups with different progress */
    CHECK(bus_group_create(b, stream, "fast", E));
    CHECK(bus_group_create(b, stream, "slow", E));
    assert_int_equal(trim(b, stream), 0); /* received by nobody yet */
    read_expect(b, stream, "fast", 6, ids, 0, &m);
    for (size_t i = 0; i < m.n; i++)
        CHECK(bus_ack(b, stream, "fast", m.v[i].id, E));
    read_expect(b, stream, "slow", 3, ids, 0, &m);
    CHECK(bus_ack(b, stream, "slow", ids[0], E));
    CHECK(bus_ack(b, stream, "slow", ids[2], E)); /* ids[1] stays pending */
    assert_int_equal(trim(b, stream), 1);       /* only ids[0]: acked by both */
    first_id(stream, got);
    assert_string_equal(got, ids[1]);
    assert_int_equal(trim(b, stream), 0); /* a pending entry is kept, and all after it */
    assert_int_equal(xlen(b, stream), N - 1);

    CHECK(bus_ack(b, stream, "slow", ids[1], E));
    assert_int_equal(trim(b, stream), 2); /* ids[1], ids[2]; ids[3..] not received by "slow" */
    first_id(stream, got);
    assert_string_equal(got, ids[3]);

    read_expect(b, stream, "slow", 7, ids, 3, &m);
    for (size_t i = 0; i < m.n; i++)
        CHECK(bus_ack(b, stream, "slow", m.v[i].id, E));
    assert_int_equal(trim(b, stream), 3); /* up to ids[5]: "fast" has not received ids[6..] */
    first_id(stream, got);
    assert_string_equal(got, ids[6]);

    read_expect(b, stream, "fast", 4, ids, 6, &m); /* received, not acked */
    assert_int_equal(trim(b, stream), 0);
    assert_int_equal(xlen(b, stream), 4);
    CHECK(bus_ack(b, stream, "fast", ids[6], E));
    CHECK(bus_ack(b, stream, "fast", ids[8], E));
    assert_int_equal(trim(b, stream), 1); /* ids[6]; ids[7] is pending */
    CHECK(bus_ack(b, stream, "fast", ids[7], E));
    CHECK(bus_ack(b, stream, "fast", ids[9], E));
    assert_int_equal(trim(b, stream), 3); /* everything settled */
    assert_int_equal(xlen(b, stream), 0);
    assert_int_equal(pending(b, stream, "fast") + pending(b, stream, "slow"), 0);

    /* after a full trim the groups go on: new entries are delivered, then trimmed */
    publish_n(b, stream, 2, ids);
    assert_int_equal(trim(b, stream), 0);
    read_expect(b, stream, "fast", 2, ids, 0, &m);
    read_expect(b, stream, "slow", 2, ids, 0, &m);
    for (int i = 0; i < 2; i++) {
        CHECK(bus_ack(b, stream, "fast", ids[i], E));
        CHECK(bus_ack(b, stream, "slow", ids[i], E));
    }
    /* a group created at 0 now starts after the trimmed entries: none is lost to it */
    CHECK(bus_group_create(b, stream, "late", E));
    assert_int_equal(trim(b, stream), 0);
    read_expect(b, stream, "late", 2, ids, 0, &m);
    CHECK(bus_ack(b, stream, "late", ids[0], E));
    assert_int_equal(trim(b, stream), 1);
    bus_msgs_clear(&m);

    /* a stream without groups keeps its entries for the group made later */
    char lone[128];
    name(lone, sizeof lone, "trim-nogroup");
    publish_n(b, lone, 3, ids);
    assert_int_equal(trim(b, lone), 0);
    CHECK(bus_group_create(b, lone, "archivers", E));
    read_expect(b, lone, "archivers", 3, ids, 0, &m);
    bus_msgs_clear(&m);

    /* not a stream: Redis's error, naming the key */
    redisContext *c = raw_connect();
    char plain[128];
    name(plain, sizeof plain, "trim-string");
    freeReplyObject(redisCommand(c, "SET %s x", plain));
    redisFree(c);
    ts_err e;
    ts_err_clear(&e);
    long long n = 0;
    assert_int_equal(bus_trim_settled(b, plain, &n, &e), TS_ERR_REMOTE);
    assert_non_null(strstr(e.msg, plain));
    cleanup(b, stream, lone);
    cleanup(b, plain, NULL);
    bus_free(b);
}

static void test_deadletter_cap(void **state)
{
    (void)state;
    char stream[128], dl[128];
    name(stream, sizeof stream, "dlcap");
    name(dl, sizeof dl, "deadletter-cap");
    /* MAXLEN ~ trims whole stream nodes only: the length stays within a node of the cap */
    redisContext *c = raw_connect();
    redisReply *r = redisCommand(c, "CONFIG GET stream-node-max-entries");
    assert_true(r && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
    long long node = atoll(r->element[1]->str);
    freeReplyObject(r);
    redisFree(c);
    enum { CAP = 20, N = 300 };
    bus_options o;
    bus_options_init(&o);
    o.url = redis_url;
    o.deadletter_stream = dl;
    o.deadletter_maxlen = CAP;
    o.publish_channel = 0;
    bus *b = NULL;
    CHECK(bus_new(&o, &b, E));
    CHECK(bus_group_create(b, stream, "archivers", E));
    publish_n(b, stream, N, NULL);
    bus_msgs m = {0};
    int dead = 0;
    while (dead < N) {
        CHECK(bus_read(b, stream, "archivers", "w1", 100, 100, &m, E));
        assert_true(m.n > 0);
        for (size_t i = 0; i < m.n; i++, dead++)
            CHECK(bus_deadletter(b, stream, "archivers", &m.v[i], "poison", E));
    }
    bus_msgs_clear(&m);
    long long len = xlen(b, dl);
    assert_true(len >= CAP);
    assert_true(len <= CAP + (node > 0 ? node : 100));
    assert_true(len < N);
    assert_int_equal(pending(b, stream, "archivers"), 0);
    /* the newest dead letters are the ones kept */
    char *reason = dl_field(dl, (size_t)len - 1, "reason");
    assert_string_equal(reason, "poison");
    free(reason);
    cleanup(b, stream, dl);
    bus_free(b);
}

/* ---- a private redis-server: restart without loss ---- */

#define PRIVATE_PW "pw-Zq8#s3cret"

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Starts redis-server on port in private_dir, after delay_ms (the child waits).
 * appendfsync always: with everysec, Redis postpones the AOF write while a background
 * fsync is running and still answers, so a kill -9 can lose acknowledged entries (seen
 * here under disk load); "no event lost across a restart" needs always. */
static pid_t redis_start(int port, long delay_ms)
{
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (delay_ms)
            sleep_ms(delay_ms);
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("redis-server", "redis-server", "--port", ports, "--bind", "127.0.0.1", "--dir",
               private_dir, "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--requirepass", PRIVATE_PW,
               "--logfile", "redis.log", "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void redis_kill(void)
{
    if (private_pid > 0) {
        kill(private_pid, SIGKILL);
        waitpid(private_pid, NULL, 0);
        private_pid = -1;
    }
}

static int wait_ready(int port)
{
    for (int i = 0; i < 200; i++) {
        redisContext *c = redisConnect("127.0.0.1", port);
        if (c && !c->err) {
            redisReply *r = redisCommand(c, "PING");
            int up = r != NULL;
            if (r)
                freeReplyObject(r);
            redisFree(c);
            if (up)
                return 1;
        } else if (c) {
            redisFree(c);
        }
        sleep_ms(50);
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void private_cleanup(void)
{
    redis_kill();
    if (private_dir[0]) {
        nftw(private_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        private_dir[0] = '\0';
    }
}

static int id_index(char ids[][BUS_ID_MAX], int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return i;
    return -1;
}

static void test_reconnect_after_restart(void **state)
{
    (void)state;
    strcpy(private_dir, "/tmp/tsbus-redis-XXXXXX");
    assert_non_null(mkdtemp(private_dir));
    int port = free_port();
    private_pid = redis_start(port, 0);
    assert_true(wait_ready(port));

    char url[128], badurl[128];
    snprintf(url, sizeof url, "redis://:%s@127.0.0.1:%d/3", "pw-Zq8%23s3cret", port);
    snprintf(badurl, sizeof badurl, "redis://:wrong-pw-XYZ@127.0.0.1:%d/3", port);
    const char *stream = "tsbus.restart";

    /* a wrong password: TS_ERR_AUTH, and neither password in the message */
    bus_options o;
    bus_options_init(&o);
    o.url = badurl;
    o.retry_ms = 0;
    bus *bad = NULL;
    ts_err e;
    ts_err_clear(&e);
    assert_int_equal(bus_new(&o, &bad, &e), TS_OK);
    assert_int_equal(bus_ping(bad, &e), TS_ERR_AUTH);
    assert_null(strstr(e.msg, "wrong-pw-XYZ"));
    assert_null(strstr(e.msg, PRIVATE_PW));
    bus_free(bad);

    bus *b = open_bus(url, 0, NULL);
    o.url = url; /* a second bus that does not wait */
    bus *quick = NULL;
    ts_err_clear(&e);
    assert_int_equal(bus_new(&o, &quick, &e), TS_OK);
    CHECK(bus_group_create(b, stream, "archivers", E));
    enum { N1 = 30, N2 = 10, N = N1 + N2 };
    char ids[N][BUS_ID_MAX];
    publish_n(b, stream, N1, ids);
    int seen[N] = {0};
    bus_msgs m = {0};
    CHECK(bus_read(b, stream, "archivers", "c1", 10, 100, &m, E));
    assert_int_equal(m.n, 10);
    for (size_t i = 0; i < m.n; i++) {
        int k = id_index(ids, N1, m.v[i].id);
        assert_true(k >= 0);
        seen[k]++;
        if (i % 2 == 0)
            CHECK(bus_ack(b, stream, "archivers", m.v[i].id, E)); /* 5 acked, 5 pending */
    }
    CHECK(bus_ping(quick, E));

    /* Redis dies hard */
    redis_kill();
    ts_err_clear(&e);
    assert_int_equal(bus_ping(quick, &e), TS_ERR_CONN);
    assert_null(strstr(e.msg, PRIVATE_PW));
    assert_false(bus_connected(quick));

    /* it comes back 700 ms later; publish waits for it (backoff) and goes through */
    private_pid = redis_start(port, 700);
    long long before = bus_reconnects(b);
    for (int i = 0; i < N2; i++) {
        char *ev = make_event(N1 + i);
        CHECK(bus_publish(b, stream, ev, strlen(ev), ids[N1 + i], E));
        ts_free(ev);
    }
    assert_true(bus_reconnects(b) > before);
    CHECK(bus_ping(quick, E)); /* a failed bus recovers on its next call */

    /* nothing was lost: 40 entries, 5 still pending */
    assert_int_equal(xlen(b, stream), N);
    assert_int_equal(pending(b, stream, "archivers"), 5);
    int got = 0;
    for (int round = 0; round < 10; round++) {
        CHECK(bus_read(b, stream, "archivers", "c1", 100, 100, &m, E));
        if (m.n == 0)
            break;
        for (size_t i = 0; i < m.n; i++) {
            int k = id_index(ids, N, m.v[i].id);
            assert_true(k >= 0);
            seen[k]++;
            got++;
            CHECK(bus_ack(b, stream, "archivers", m.v[i].id, E));
        }
    }
    assert_int_equal(got, N - 10);
    /* the 5 un-acked entries of before the crash are reclaimed */
    CHECK(bus_reclaim(b, stream, "archivers", "c2", 0, 100, &m, E));
    assert_int_equal(m.n, 5);
    for (size_t i = 0; i < m.n; i++) {
        int k = id_index(ids, N, m.v[i].id);
        assert_true(k >= 0);
        assert_int_equal(m.v[i].deliveries, 2);
        CHECK(bus_ack(b, stream, "archivers", m.v[i].id, E));
    }
    for (int i = 0; i < N; i++)
        assert_true(seen[i] >= 1);
    assert_int_equal(pending(b, stream, "archivers"), 0);
    bus_msgs_clear(&m);
    bus_free(quick);
    bus_free(b);
    private_cleanup();
}

/* Deletes whatever a failed test left under the run's prefix in the shared Redis. */
static int teardown_prefix(void **state)
{
    (void)state;
    char host[64] = "127.0.0.1", pattern[96];
    int port = 6379, db = 0;
    if (sscanf(redis_url, "redis://%63[^:]:%d/%d", host, &port, &db) < 2)
        return 0;
    redisContext *c = redisConnect(host, port);
    if (c && !c->err) {
        if (db)
            freeReplyObject(redisCommand(c, "SELECT %d", db));
        snprintf(pattern, sizeof pattern, "%s.*", prefix);
        redisReply *r = redisCommand(c, "KEYS %s", pattern);
        for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
            freeReplyObject(redisCommand(c, "DEL %b", r->element[i]->str, r->element[i]->len));
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return 0;
}

static int teardown_private(void **state)
{
    (void)state;
    private_cleanup();
    return 0;
}

int main(void)
{
    redis_url = getenv("TS_TEST_REDIS_URL");
    if (!redis_url || !*redis_url) {
        printf("skipped: TS_TEST_REDIS_URL is not set (source build/services/env after "
               "scripts/services start)\n");
        return 77;
    }
    snprintf(prefix, sizeof prefix, "tsbus.test.%ld", (long)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_consume_ack),
        cmocka_unit_test(test_two_consumers_share),
        cmocka_unit_test(test_reclaim_after_visibility_timeout),
        cmocka_unit_test(test_extend_keeps_entry),
        cmocka_unit_test(test_deadletter_after_n_deliveries),
        cmocka_unit_test(test_malformed_to_deadletter),
        cmocka_unit_test(test_bad_urls),
        cmocka_unit_test(test_trim_settled),
        cmocka_unit_test(test_deadletter_cap),
        cmocka_unit_test_teardown(test_reconnect_after_restart, teardown_private),
    };
    atexit(private_cleanup);
    return cmocka_run_group_tests(tests, NULL, teardown_prefix);
}
