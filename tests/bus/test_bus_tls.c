/* test_bus_tls.c: bus/ over TLS against throwaway redis-server processes, each with a
 * plain port (the test's own admin connection) and a TLS port, certificates made by
 * make_certs.sh (openssl): streams over TLS, reconnect across a restart, refused
 * certificates (wrong CA, expired, host name mismatch), wrong password, an ACL user in
 * the URL, mutual TLS, tls_insecure and its warning, and the credentials callback with
 * re-AUTH before a token expires on the same connection. Exits 77 when redis-server or
 * openssl is missing, or redis-server was built without TLS. */
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
#include "common/log.h"

#define PW "tls-pw-Q7#secret"
#define PW_URL "tls-pw-Q7%23secret"

static char dir[64];   /* certificates and the servers' data */
static char certs[96]; /* dir/certs */
static FILE *log_file; /* everything bus/ logs */

typedef struct server {
    pid_t pid;
    int port;     /* plain, for the test's admin connection */
    int tls_port; /* what the bus talks to */
    char data[128];
} server;

static server srv = {.pid = -1};

#define CHECK(call)                                                                                \
    do {                                                                                           \
        ts_err e_;                                                                                 \
        ts_err_clear(&e_);                                                                         \
        int rc_ = (call);                                                                          \
        if (rc_ != TS_OK) {                                                                        \
            print_error("%s:%d: %s: rc %d: %s\n", __FILE__, __LINE__, #call, rc_, e_.msg);         \
            fail();                                                                                \
        }                                                                                          \
    } while (0)
#define E (&e_)

/* sub must be in the message s (printed when it is not). */
#define ASSERT_HAS(s, sub)                                                                         \
    do {                                                                                           \
        if (!strstr((s), (sub))) {                                                                 \
            print_error("%s:%d: \"%s\" not in: %s\n", __FILE__, __LINE__, (sub), (s));             \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

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

static void cert(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", certs, name);
}

/* ---- the throwaway server ---- */

/* Starts redis-server for s after delay_ms (the child waits): AOF with fsync always (a
 * restart keeps every acknowledged entry), a password, server.crt, clients' certificates
 * optional. */
static pid_t server_start(server *s, long delay_ms)
{
    char ports[16], tports[16], crt[128], key[128], ca[128];
    snprintf(ports, sizeof ports, "%d", s->port);
    snprintf(tports, sizeof tports, "%d", s->tls_port);
    cert(crt, sizeof crt, "server.crt");
    cert(key, sizeof key, "server.key");
    cert(ca, sizeof ca, "ca.crt");
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
        execlp("redis-server", "redis-server", "--port", ports, "--tls-port", tports, "--bind",
               "127.0.0.1", "--dir", s->data, "--appendonly", "yes", "--appendfsync", "always",
               "--save", "", "--requirepass", PW, "--tls-cert-file", crt, "--tls-key-file", key,
               "--tls-ca-cert-file", ca, "--tls-auth-clients", "optional", "--logfile", "redis.log",
               "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void server_kill(server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = -1;
    }
}

/* The admin connection: plain port, authenticated. NULL when the server is not up. */
static redisContext *admin_try(const server *s)
{
    redisContext *c = redisConnect("127.0.0.1", s->port);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisReply *r = redisCommand(c, "AUTH %s", PW);
    int ok = r && r->type == REDIS_REPLY_STATUS;
    if (r)
        freeReplyObject(r);
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static int server_ready(const server *s)
{
    for (int i = 0; i < 200; i++) {
        redisContext *c = admin_try(s);
        if (c) {
            redisFree(c);
            return 1;
        }
        int st;
        if (s->pid > 0 && waitpid(s->pid, &st, WNOHANG) == s->pid)
            return 0; /* exited */
        sleep_ms(50);
    }
    return 0;
}

static redisContext *admin(void)
{
    redisContext *c = admin_try(&srv);
    assert_non_null(c);
    return c;
}

/* CONFIG SET on the running server (Redis reloads its TLS settings for new connections). */
static void config_set(const char *param, const char *value)
{
    redisContext *c = admin();
    redisReply *r = redisCommand(c, "CONFIG SET %s %s", param, value);
    assert_true(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
}

static void server_cert(const char *name)
{
    char crt[128], key[128];
    cert(crt, sizeof crt, name);
    cert(key, sizeof key, "server.key");
    redisContext *c = admin();
    redisReply *r = redisCommand(c, "CONFIG SET tls-cert-file %s tls-key-file %s", crt, key);
    assert_true(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
}

/* ---- buses ---- */

static void url_for(char *out, size_t n, const char *host, const char *userinfo, int port)
{
    snprintf(out, n, "rediss://%s%s%s:%d/2", userinfo ? userinfo : "", userinfo ? "@" : "", host,
             port);
}

static void tls_options(bus_options *o, const char *url, const char *ca_name)
{
    static char ca[128];
    bus_options_init(o);
    o->url = url;
    if (ca_name) {
        cert(ca, sizeof ca, ca_name);
        o->tls_ca_file = ca;
    }
    o->retry_ms = 0;
    o->connect_timeout_ms = 3000;
    o->command_timeout_ms = 5000;
}

/* bus_ping on a new bus from o: its status, the message into msg. */
static int ping_once(const bus_options *o, char *msg, size_t n)
{
    bus *b = NULL;
    ts_err e;
    ts_err_clear(&e);
    int rc = bus_new(o, &b, &e);
    if (rc == TS_OK)
        rc = bus_ping(b, &e);
    snprintf(msg, n, "%s", e.msg);
    bus_free(b);
    return rc;
}

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

static void publish_n(bus *b, const char *stream, int from, int n, char ids[][BUS_ID_MAX])
{
    for (int i = from; i < from + n; i++) {
        char *ev = make_event(i);
        CHECK(bus_publish(b, stream, ev, strlen(ev), ids[i], E));
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

/* What bus/ logged since *mark (moved to the end); the caller frees. */
static char *log_since(long *mark)
{
    fflush(log_file);
    fseek(log_file, 0, SEEK_END);
    long end = ftell(log_file);
    char *s = calloc(1, (size_t)(end - *mark) + 1);
    assert_non_null(s);
    fseek(log_file, *mark, SEEK_SET);
    assert_int_equal(fread(s, 1, (size_t)(end - *mark), log_file), (size_t)(end - *mark));
    *mark = end;
    return s;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static long long client(const char *name, char *user, size_t ulen);

/* ---- tests ---- */

static void test_streams_over_tls(void **state)
{
    (void)state;
    char url[160];
    url_for(url, sizeof url, "127.0.0.1", ":" PW_URL, srv.tls_port);
    bus_options o;
    tls_options(&o, url, "ca.crt");
    o.deadletter_stream = "tsbus.tls.dead";
    o.max_deliveries = 2;
    o.client_name = "tsbus-tls";
    o.retry_ms = 10000;
    o.backoff_initial_ms = 50;
    o.backoff_max_ms = 500;
    bus *b = NULL;
    CHECK(bus_new(&o, &b, E));
    const char *s = "tsbus.tls.stream";
    char ids[4][BUS_ID_MAX];
    CHECK(bus_group_create(b, s, "archivers", E));
    publish_n(b, s, 0, 3, ids);
    assert_int_equal(xlen(b, s), 3);
    bus_msgs m = {0};
    CHECK(bus_read(b, s, "archivers", "w1", 10, 200, &m, E));
    assert_int_equal(m.n, 3);
    for (size_t i = 0; i < m.n; i++) {
        assert_string_equal(m.v[i].id, ids[i]);
        bus_request r;
        CHECK(bus_request_parse(m.v[i].payload, m.v[i].len, &r, E));
        assert_int_equal(r.chunk.range_start, (int64_t)i * 100);
    }
    CHECK(bus_ack(b, s, "archivers", ids[0], E));
    /* w1 "died" holding two: reclaimed (second delivery) ... */
    CHECK(bus_reclaim(b, s, "archivers", "w2", 0, 10, &m, E));
    assert_int_equal(m.n, 2);
    assert_int_equal(m.v[0].deliveries, 2);
    CHECK(bus_ack(b, s, "archivers", ids[1], E));
    /* ... and the one claimed a third time goes to the dead letter */
    CHECK(bus_reclaim(b, s, "archivers", "w3", 0, 10, &m, E));
    assert_int_equal(m.n, 0);
    assert_int_equal(xlen(b, "tsbus.tls.dead"), 1);
    assert_int_equal(pending(b, s, "archivers"), 0);
    long long trimmed = -1;
    CHECK(bus_trim_settled(b, s, &trimmed, E));
    assert_int_equal(trimmed, 3);
    bus_msgs_clear(&m);

    /* the bus spoke TLS: the server counts the connection on its TLS port only */
    redisContext *c = admin();
    redisReply *r = redisCommand(c, "CLIENT LIST");
    assert_true(r && r->type == REDIS_REPLY_STRING);
    char laddr[48];
    snprintf(laddr, sizeof laddr, "laddr=127.0.0.1:%d", srv.tls_port);
    const char *line = strstr(r->str, "name=tsbus-tls");
    assert_non_null(line);
    const char *start = line;
    while (start > r->str && start[-1] != '\n')
        start--;
    assert_true(strstr(start, laddr) && strstr(start, laddr) < line);
    freeReplyObject(r);
    redisFree(c);

    /* a restart: the bus reconnects (TLS handshake again) and nothing is lost */
    publish_n(b, s, 3, 1, ids);
    server_kill(&srv);
    srv.pid = server_start(&srv, 700);
    long long before = bus_reconnects(b);
    CHECK(bus_read(b, s, "archivers", "w1", 10, 200, &m, E));
    assert_true(bus_reconnects(b) > before);
    assert_int_equal(m.n, 1);
    assert_string_equal(m.v[0].id, ids[3]);
    CHECK(bus_ack(b, s, "archivers", ids[3], E));
    assert_true(server_ready(&srv));
    bus_msgs_clear(&m);
    CHECK(bus_stream_delete(b, s, E));
    CHECK(bus_stream_delete(b, "tsbus.tls.dead", E));
    bus_free(b);
}

static void test_refused_certificates(void **state)
{
    (void)state;
    char url[160], local[160], plain[160], msg[768];
    bus_options o;
    url_for(url, sizeof url, "127.0.0.1", ":" PW_URL, srv.tls_port);
    url_for(local, sizeof local, "localhost", ":" PW_URL, srv.tls_port);

    /* the right CA, by address and by name (SNI, DNS name check) */
    tls_options(&o, url, "ca.crt");
    assert_int_equal(ping_once(&o, msg, sizeof msg), TS_OK);
    tls_options(&o, local, "ca.crt");
    assert_int_equal(ping_once(&o, msg, sizeof msg), TS_OK);

    /* another CA, or the system store: not trusted */
    tls_options(&o, url, "other-ca.crt");
    assert_int_equal(ping_once(&o, msg, sizeof msg), TS_ERR_AUTH);
    ASSERT_HAS(msg, "tls handshake failed: certificate verify failed: ");
    assert_true(strstr(msg, "self-signed certificate in certificate chain") ||
                strstr(msg, "unable to get local issuer certificate"));
    assert_null(strstr(msg, PW));
    tls_options(&o, url, NULL);
    assert_int_equal(ping_once(&o, msg, sizeof msg), TS_ERR_AUTH);
    ASSERT_HAS(msg, "certificate verify failed");

    /* an expired certificate */
    server_cert("expired.crt");
    tls_options(&o, url, "ca.crt");
    assert_int_equal(ping_once(&o, msg, sizeof msg), TS_ERR_AUTH);
    ASSERT_HAS(msg, "certificate verify failed: certificate has expired");

    /* a certificate for another host, reached by address and by name */
    server_cert("wrongname.crt");
    assert_int_equal(ping_once(&o, msg, sizeof msg), TS_ERR_AUTH);
    ASSERT_HAS(msg, "host name mismatch");
    tls_options(&o, local, "ca.crt");
    assert_int_equal(ping_once(&o, msg, sizeof msg), TS_ERR_AUTH);
    ASSERT_HAS(msg, "host name mismatch");
    ASSERT_HAS(msg, "redis at localhost:");
    server_cert("server.crt");
    assert_int_equal(ping_once(&o, msg, sizeof msg), TS_OK);

    /* TLS to a plain-text port fails: no fallback */
    url_for(plain, sizeof plain, "127.0.0.1", ":" PW_URL, srv.port);
    tls_options(&o, plain, "ca.crt");
    o.connect_timeout_ms = 500; /* Redis waits for the end of an inline command */
    assert_int_equal(ping_once(&o, msg, sizeof msg), TS_ERR_CONN);
    ASSERT_HAS(msg, "tls handshake");

    /* a wrong password over TLS: refused, neither password in the message */
    url_for(url, sizeof url, "127.0.0.1", ":wrong-pw-XYZ", srv.tls_port);
    tls_options(&o, url, "ca.crt");
    assert_int_equal(ping_once(&o, msg, sizeof msg), TS_ERR_AUTH);
    ASSERT_HAS(msg, "refused the credentials");
    assert_null(strstr(msg, "wrong-pw-XYZ"));
    assert_null(strstr(msg, PW));
    /* no password at all: NOAUTH on the first answer */
    url_for(url, sizeof url, "127.0.0.1", NULL, srv.tls_port);
    tls_options(&o, url, "ca.crt");
    assert_int_equal(ping_once(&o, msg, sizeof msg), TS_ERR_AUTH);
    ASSERT_HAS(msg, "NOAUTH");
}

/* ACL credentials in the URL: AUTH user password. */
static void test_acl_user(void **state)
{
    (void)state;
    char url[160], msg[768], user[64];
    redisContext *c = admin();
    redisReply *r = redisCommand(c, "ACL SETUSER alice reset on >al1ce-pw ~* &* +@all");
    assert_true(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
    bus_options o;
    url_for(url, sizeof url, "127.0.0.1", "alice:al1ce-pw", srv.tls_port);
    tls_options(&o, url, "ca.crt");
    o.client_name = "tsbus-alice";
    bus *b = NULL;
    CHECK(bus_new(&o, &b, E));
    CHECK(bus_ping(b, E));
    assert_true(client("tsbus-alice", user, sizeof user) > 0);
    assert_string_equal(user, "alice");
    bus_free(b);
    url_for(url, sizeof url, "127.0.0.1", "alice:not-al1ce-pw", srv.tls_port);
    tls_options(&o, url, "ca.crt");
    assert_int_equal(ping_once(&o, msg, sizeof msg), TS_ERR_AUTH);
    ASSERT_HAS(msg, "refused the credentials of user \"alice\"");
    assert_null(strstr(msg, "al1ce-pw"));
}

static void test_mutual_tls(void **state)
{
    (void)state;
    char url[160], msg[768], crt[128], key[128];
    bus_options o;
    url_for(url, sizeof url, "127.0.0.1", ":" PW_URL, srv.tls_port);
    config_set("tls-auth-clients", "yes");
    tls_options(&o, url, "ca.crt");
    int rc = ping_once(&o, msg, sizeof msg);
    if (rc != TS_ERR_AUTH)
        print_error("%s\n", msg);
    assert_int_equal(rc, TS_ERR_AUTH);
    ASSERT_HAS(msg, "the server refused the TLS session");
    ASSERT_HAS(msg, "certificate");
    cert(crt, sizeof crt, "client.crt");
    cert(key, sizeof key, "client.key");
    o.tls_cert_file = crt;
    o.tls_key_file = key;
    assert_int_equal(ping_once(&o, msg, sizeof msg), TS_OK);
    /* a client certificate the server does not trust */
    cert(crt, sizeof crt, "untrusted.crt");
    cert(key, sizeof key, "server.key");
    assert_int_equal(ping_once(&o, msg, sizeof msg), TS_ERR_AUTH);
    config_set("tls-auth-clients", "optional");
}

static void test_insecure(void **state)
{
    (void)state;
    char url[160], msg[768];
    bus_options o;
    long mark = 0;
    free(log_since(&mark));
    url_for(url, sizeof url, "127.0.0.1", ":" PW_URL, srv.tls_port);
    server_cert("untrusted.crt");
    tls_options(&o, url, "ca.crt");
    assert_int_equal(ping_once(&o, msg, sizeof msg), TS_ERR_AUTH);
    tls_options(&o, url, NULL);
    o.tls_insecure = 1;
    bus *b = NULL;
    CHECK(bus_new(&o, &b, E));
    CHECK(bus_ping(b, E));
    CHECK(bus_ping(b, E));
    char *log = log_since(&mark);
    assert_int_equal(count(log, "(tls_insecure)"), 1); /* once per connection */
    assert_non_null(strstr(log, "TLS CERTIFICATE CHECKS ARE OFF"));
    free(log);
    bus_free(b);
    server_cert("server.crt");
}

/* ---- the credentials callback (Microsoft Entra ID style) ---- */

typedef struct tokens {
    int calls;
    int fail;
    int64_t life_us;
    char issued[8][64]; /* every token handed out, to look for in the logs */
} tokens;

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Issues a fresh token: a new ACL user whose password it is (as Entra ID would issue a
 * new token for the same principal; the user changes so that the server shows which
 * AUTH a connection last made). */
static int issue(void *ud, char *user, size_t ulen, char *pass, size_t plen, int64_t *expires_at_us,
                 ts_err *err)
{
    tokens *t = ud;
    if (t->fail)
        return ts_err_set(err, TS_ERR_AUTH, "token endpoint said no");
    int n = ++t->calls;
    assert_true(n < 8);
    snprintf(t->issued[n], sizeof t->issued[n], "tok-%d-%ld-%08lx", n, (long)getpid(),
             (unsigned long)random());
    redisContext *c = admin();
    redisReply *r =
        redisCommand(c, "ACL SETUSER entra-%d reset on >%s ~* &* +@all", n, t->issued[n]);
    assert_true(r && r->type == REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
    snprintf(user, ulen, "entra-%d", n);
    snprintf(pass, plen, "%s", t->issued[n]);
    *expires_at_us = wall_us() + t->life_us;
    return 0;
}

/* id and user of the connection named name, from CLIENT LIST; 0 if none. */
static long long client(const char *name, char *user, size_t ulen)
{
    redisContext *c = admin();
    redisReply *r = redisCommand(c, "CLIENT LIST");
    assert_true(r && r->type == REDIS_REPLY_STRING);
    long long id = 0;
    char pat[64];
    snprintf(pat, sizeof pat, " name=%s ", name);
    for (char *line = strtok(r->str, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strstr(line, pat))
            continue;
        id = atoll(line + 3); /* "id=N ..." */
        const char *u = strstr(line, " user=");
        assert_non_null(u);
        snprintf(user, ulen, "%.*s", (int)strcspn(u + 6, " "), u + 6);
    }
    freeReplyObject(r);
    redisFree(c);
    return id;
}

static void test_credentials_reauth(void **state)
{
    (void)state;
    char url[160], user[64];
    tokens t = {.life_us = 4000000}; /* AUTH again after half of it: 2 s */
    bus_options o;
    long mark = 0;
    free(log_since(&mark));
    ts_log_setup(TS_LOG_DEBUG, 0, log_file);
    url_for(url, sizeof url, "127.0.0.1", NULL, srv.tls_port);
    tls_options(&o, url, "ca.crt");
    o.client_name = "tsbus-entra";
    o.credentials = issue;
    o.credentials_ud = &t;
    o.retry_ms = 3000;
    o.backoff_initial_ms = 50;
    bus *b = NULL;
    CHECK(bus_new(&o, &b, E));
    CHECK(bus_ping(b, E));
    assert_int_equal(t.calls, 1);
    long long id = client("tsbus-entra", user, sizeof user);
    assert_true(id > 0);
    assert_string_equal(user, "entra-1");
    CHECK(bus_ping(b, E)); /* far from expiry: no new token */
    assert_int_equal(t.calls, 1);

    sleep_ms(2300);
    CHECK(bus_ping(b, E));
    assert_int_equal(t.calls, 2);
    assert_int_equal(client("tsbus-entra", user, sizeof user), id); /* the same connection ... */
    assert_string_equal(user, "entra-2");                           /* ... authenticated again */
    assert_int_equal(bus_reconnects(b), 0);
    /* the old token's user goes (Redis drops its connections, as Azure drops those of an
     * expired token): the bus, re-authenticated in time, is not touched */
    redisContext *c = admin();
    freeReplyObject(redisCommand(c, "ACL DELUSER entra-1"));
    redisFree(c);
    CHECK(bus_ping(b, E));
    assert_int_equal(bus_reconnects(b), 0);
    assert_int_equal(client("tsbus-entra", user, sizeof user), id);

    /* the token source fails at re-AUTH time: the call fails with its reason, the
     * connection goes; once it works again, a new connection with a new token */
    t.fail = 1;
    sleep_ms(2300);
    ts_err e;
    ts_err_clear(&e);
    assert_int_equal(bus_ping(b, &e), TS_ERR_AUTH);
    ASSERT_HAS(e.msg, "credentials callback failed: token endpoint said no");
    assert_false(bus_connected(b));
    t.fail = 0;
    sleep_ms(100);
    CHECK(bus_ping(b, E));
    assert_int_equal(t.calls, 3);
    assert_true(client("tsbus-entra", user, sizeof user) != id);
    assert_string_equal(user, "entra-3");
    bus_free(b);

    /* an already expired token is refused before it is sent */
    t.life_us = -1000000;
    o.retry_ms = 0;
    b = NULL;
    CHECK(bus_new(&o, &b, E));
    ts_err_clear(&e);
    assert_int_equal(bus_ping(b, &e), TS_ERR_AUTH);
    ASSERT_HAS(e.msg, "already expired");
    bus_free(b);

    /* no token ever reached the log */
    char *log = log_since(&mark);
    assert_non_null(strstr(log, "authenticated again")); /* the debug line, to be sure we look */
    for (int i = 1; i <= t.calls; i++)
        assert_null(strstr(log, t.issued[i]));
    free(log);
    ts_log_setup(TS_LOG_INFO, 0, log_file);
}

/* The TLS port of scripts/services (TS_TEST_REDISS_URL), with and without the client
 * certificate it makes; skipped, saying so, when the settings are not in the
 * environment. */
static void test_services_endpoint(void **state)
{
    (void)state;
    const char *url = getenv("TS_TEST_REDISS_URL"), *ca = getenv("TS_TEST_REDIS_TLS_CA");
    const char *crt = getenv("TS_TEST_REDIS_TLS_CERT"), *key = getenv("TS_TEST_REDIS_TLS_KEY");
    if (!url || !*url || !ca || !*ca) {
        print_message("TS_TEST_REDISS_URL or TS_TEST_REDIS_TLS_CA is not set (source "
                      "build/services/env after scripts/services start): not tried\n");
        skip();
    }
    bus_options o;
    bus_options_init(&o);
    o.url = url;
    o.tls_ca_file = ca;
    o.retry_ms = 0;
    const char *s = "tsbus.tls.services";
    char id[BUS_ID_MAX];
    for (int with_cert = 0; with_cert < 2; with_cert++) {
        if (with_cert && (!crt || !key))
            break;
        o.tls_cert_file = with_cert ? crt : NULL;
        o.tls_key_file = with_cert ? key : NULL;
        bus *b = NULL;
        CHECK(bus_new(&o, &b, E));
        CHECK(bus_ping(b, E));
        CHECK(bus_publish(b, s, "{}", 2, id, E));
        assert_true(xlen(b, s) >= 1);
        CHECK(bus_stream_delete(b, s, E));
        bus_free(b);
    }
}

/* ---- set-up ---- */

/* After each test, whatever it changed on the server goes back (a failed test included). */
static int restore(void **state)
{
    (void)state;
    ts_log_setup(TS_LOG_INFO, 0, log_file);
    if (srv.pid < 0 || !server_ready(&srv)) {
        server_kill(&srv);
        srv.pid = server_start(&srv, 0);
        return server_ready(&srv) ? 0 : -1;
    }
    server_cert("server.crt");
    config_set("tls-auth-clients", "optional");
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    server_kill(&srv);
    if (dir[0]) {
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        dir[0] = '\0';
    }
}

static int have(const char *prog)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

int main(int argc, char **argv)
{
    char cmd[512];
    if (argc < 2) {
        fprintf(stderr, "usage: test_bus_tls path/to/make_certs.sh\n");
        return 2;
    }
    if (!have("redis-server") || !have("openssl")) {
        printf("skipped: redis-server or openssl is not installed (scripts/deps)\n");
        return 77;
    }
    strcpy(dir, "/tmp/tsbus-tls-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    atexit(cleanup);
    snprintf(certs, sizeof certs, "%s/certs", dir);
    snprintf(cmd, sizeof cmd, "sh '%s' '%s'", argv[1], certs);
    if (system(cmd) != 0) {
        fprintf(stderr, "make_certs.sh failed\n");
        return 1;
    }
    snprintf(srv.data, sizeof srv.data, "%s/data", dir);
    if (mkdir(srv.data, 0700) != 0) {
        perror("mkdir");
        return 1;
    }
    srand((unsigned)getpid());
    srv.port = free_port();
    srv.tls_port = free_port();
    srv.pid = server_start(&srv, 0);
    if (!server_ready(&srv)) {
        char log[160];
        snprintf(log, sizeof log, "%s/redis.log", srv.data);
        snprintf(cmd, sizeof cmd, "grep -qi 'tls' '%s' 2>/dev/null", log);
        if (system(cmd) == 0) {
            printf("skipped: this redis-server does not take the TLS options (built without "
                   "TLS?); see %s\n",
                   log);
            return 77;
        }
        fprintf(stderr, "redis-server did not start (see %s)\n", log);
        return 1;
    }
    if (!(log_file = tmpfile())) {
        perror("tmpfile");
        return 1;
    }
    ts_log_setup(TS_LOG_INFO, 0, log_file);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_streams_over_tls, restore),
        cmocka_unit_test_teardown(test_refused_certificates, restore),
        cmocka_unit_test_teardown(test_acl_user, restore),
        cmocka_unit_test_teardown(test_mutual_tls, restore),
        cmocka_unit_test_teardown(test_insecure, restore),
        cmocka_unit_test_teardown(test_credentials_reauth, restore),
        cmocka_unit_test(test_services_endpoint),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    /* what bus/ logged, for the reader of a failed run */
    long mark = 0;
    char *log = log_since(&mark);
    fputs(log, stderr);
    free(log);
    return rc;
}
