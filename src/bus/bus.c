/* bus.c: the Redis streams transport: one connection per bus (conn.c: plain TCP or TLS),
 * rebuilt with exponential backoff when Redis goes away (a failed connection is freed,
 * never reused), authenticated from the URL or a credentials callback (re-AUTH before
 * a token expires), and the stream commands on top of it. */
#include "bus.h"
#include "common/tstime.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/log.h"
#include "conn.h"
#include "event.h"
#include "tls.h"
#include "url.h"

struct bus {
    bus_options o;     /* string members point at the copies below */
    char *deadletter;
    char *client_name;
    char *tls_ca_file, *tls_cert_file, *tls_key_file;
    bus_url url;
    bus_tls *tls;      /* NULL for redis:// */
    char where[300];   /* "redis at host:port", for messages: never the password */
    bus_conn *c;       /* NULL while disconnected */
    int backoff_ms;    /* the next wait after a failure */
    int64_t next_connect_ms; /* no connection attempt before this (monotonic) */
    int64_t reauth_at_us;    /* AUTH again on the live connection from this time on
                              * (CLOCK_REALTIME); 0: never */
    ts_err conn_err;   /* why the last connection attempt failed */
    long long connects;
};

/* ---- time ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wall-clock microseconds: token expiry times are wall-clock times. */
static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- options and lifetime ---- */

void bus_options_init(bus_options *o)
{
    memset(o, 0, sizeof *o);
    o->connect_timeout_ms = 5000;
    o->command_timeout_ms = 10000;
    o->retry_ms = 30000;
    o->backoff_initial_ms = 100;
    o->backoff_max_ms = 5000;
    o->publish_channel = 1;
}

static int set(const char *s)
{
    return s && *s;
}

/* *dst = a copy of src, or NULL when src is unset. */
static int copy_opt(const char *src, char **dst)
{
    *dst = NULL;
    return !set(src) || (*dst = ts_strdup(src)) != NULL;
}

int bus_new(const bus_options *o, bus **out, ts_err *err)
{
    bus *b = NULL;
    int rc;
    *out = NULL;
    if (!o || !o->url)
        return ts_err_set(err, TS_ERR_INVALID, "redis: no url");
    if (o->max_deliveries < 0 || o->connect_timeout_ms < 0 || o->command_timeout_ms < 0 ||
        o->retry_ms < 0 || o->backoff_initial_ms < 0 || o->backoff_max_ms < 0 || o->stream_maxlen < 0 ||
        o->deadletter_maxlen < 0)
        return ts_err_set(err, TS_ERR_INVALID, "redis: negative option");
    if (!(b = ts_calloc(1, sizeof *b)))
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    b->o = *o;
    if ((rc = bus_url_parse(o->url, &b->url, err)))
        goto out;
    b->o.url = NULL; /* the parsed form is kept, not the text with its password */
    if (b->url.password)
        ts_log_add_secret(b->url.password);
    if (!copy_opt(o->deadletter_stream, &b->deadletter) || !copy_opt(o->client_name, &b->client_name) ||
        !copy_opt(o->tls_ca_file, &b->tls_ca_file) || !copy_opt(o->tls_cert_file, &b->tls_cert_file) ||
        !copy_opt(o->tls_key_file, &b->tls_key_file)) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    b->o.deadletter_stream = b->deadletter;
    b->o.client_name = b->client_name;
    b->o.tls_ca_file = b->tls_ca_file;
    b->o.tls_cert_file = b->tls_cert_file;
    b->o.tls_key_file = b->tls_key_file;
    if (b->url.tls) {
        bus_tls_options to = {b->tls_ca_file, b->tls_cert_file, b->tls_key_file, o->tls_insecure};
        if ((rc = bus_tls_new(&to, &b->tls, err)))
            goto out;
    } else if (b->tls_ca_file || b->tls_cert_file || b->tls_key_file || o->tls_insecure) {
        /* someone expects TLS: say so rather than talk plain text */
        rc = ts_err_set(err, TS_ERR_INVALID,
                        "redis: TLS options are set but the url is redis://; use rediss:// for TLS");
        goto out;
    }
    if (b->o.connect_timeout_ms == 0)
        b->o.connect_timeout_ms = 5000;
    if (b->o.command_timeout_ms == 0)
        b->o.command_timeout_ms = 10000;
    if (b->o.backoff_initial_ms == 0)
        b->o.backoff_initial_ms = 1;
    if (b->o.backoff_max_ms < b->o.backoff_initial_ms)
        b->o.backoff_max_ms = b->o.backoff_initial_ms;
    b->backoff_ms = b->o.backoff_initial_ms;
    snprintf(b->where, sizeof b->where, strchr(b->url.host, ':') ? "redis at [%s]:%d" : "redis at %s:%d",
             b->url.host, b->url.port);
    *out = b;
    b = NULL;
out:
    bus_free(b);
    return rc;
}

static void conn_drop(bus *b)
{
    bus_conn_free(b->c);
    b->c = NULL;
    b->reauth_at_us = 0;
}

void bus_free(bus *b)
{
    if (!b)
        return;
    conn_drop(b);
    bus_tls_free(b->tls);
    bus_url_clear(&b->url);
    ts_free(b->deadletter);
    ts_free(b->client_name);
    ts_free(b->tls_ca_file);
    ts_free(b->tls_cert_file);
    ts_free(b->tls_key_file);
    ts_free(b);
}

int bus_connected(const bus *b) { return b && b->c != NULL; }
long long bus_reconnects(const bus *b) { return b && b->connects > 0 ? b->connects - 1 : 0; }

/* ---- replies ---- */

/* A reply's error text made safe for messages: printable and redacted. */
static void reply_text(const redisReply *r, char *out, size_t outlen)
{
    char tmp[256];
    size_t j = 0;
    for (size_t i = 0; r && r->str && i < r->len && j + 1 < sizeof tmp; i++) {
        unsigned char ch = (unsigned char)r->str[i];
        tmp[j++] = (ch < 0x20 || ch >= 0x7f) ? '?' : (char)ch;
    }
    tmp[j] = '\0';
    ts_redact(tmp, out, outlen);
}

static int is_error(const redisReply *r, const char *prefix)
{
    size_t n = strlen(prefix);
    return r && r->type == REDIS_REPLY_ERROR && r->str && r->len >= n && memcmp(r->str, prefix, n) == 0;
}

static int reply_error(bus *b, const char *cmd, const char *key, const redisReply *r, ts_err *err)
{
    char txt[256];
    reply_text(r, txt, sizeof txt);
    int code = TS_ERR_REMOTE;
    if (is_error(r, "NOAUTH") || is_error(r, "WRONGPASS") || is_error(r, "NOPERM"))
        code = TS_ERR_AUTH;
    else if (is_error(r, "NOGROUP"))
        code = TS_ERR_NOTFOUND;
    else if (is_error(r, "LOADING"))
        code = TS_ERR_CONN; /* restarting: conn_open's caller retries with backoff */
    return ts_err_set(err, code, "%s: %s \"%s\": %s", b->where, cmd, key ? key : "", txt);
}

static int bad_reply(bus *b, const char *cmd, const char *key, ts_err *err)
{
    return ts_err_set(err, TS_ERR_REMOTE, "%s: unexpected reply to %s \"%s\"", b->where, cmd, key ? key : "");
}

/* ---- connection ---- */

/* One command on c during set-up; an error reply is an error (what names it). */
static int setup_cmd(bus *b, bus_conn *c, int argc, const char **argv, const char *what,
                     const char *key, ts_err *err)
{
    redisReply *r = NULL;
    int rc = bus_conn_command(c, argc, argv, NULL, b->o.command_timeout_ms, &r, err);
    if (rc == TS_OK && r->type == REDIS_REPLY_ERROR)
        rc = reply_error(b, what, key, r, err);
    if (r)
        freeReplyObject(r);
    return rc;
}

/* AUTH on c with the URL's credentials or the callback's; nothing without either
 * (*sent tells, may be NULL). Sets when to AUTH again (an expiring token). */
static int authenticate(bus *b, bus_conn *c, int *sent, ts_err *err)
{
    char user[BUS_CRED_USER_MAX], txt[256];
    char *pass = NULL;
    const char *u = b->url.user, *p = b->url.password;
    int64_t expires = 0, t0 = wall_us();
    redisReply *r = NULL;
    int rc = TS_OK;
    if (sent)
        *sent = 0;
    b->reauth_at_us = 0;
    if (b->o.credentials) {
        ts_err ce;
        ts_err_clear(&ce);
        if (!(pass = ts_malloc(BUS_CRED_PASS_MAX))) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
            goto out;
        }
        user[0] = pass[0] = '\0';
        int crc = b->o.credentials(b->o.credentials_ud, user, sizeof user, pass, BUS_CRED_PASS_MAX,
                                   &expires, &ce);
        if (crc != 0) {
            ts_redact(ce.msg[0] ? ce.msg : "no reason given", txt, sizeof txt);
            rc = ts_err_set(err, crc < 0 ? crc : TS_ERR_AUTH,
                            "%s: the credentials callback failed: %s", b->where, txt);
            goto out;
        }
        if (!memchr(user, '\0', sizeof user) || !memchr(pass, '\0', BUS_CRED_PASS_MAX) || !pass[0]) {
            rc = ts_err_set(err, TS_ERR_AUTH,
                            "%s: the credentials callback gave no password, or one too long", b->where);
            goto out;
        }
        ts_log_add_secret(pass);
        if (expires > 0 && expires <= t0) {
            rc = ts_err_set(err, TS_ERR_AUTH,
                            "%s: the credentials callback gave a token that has already expired",
                            b->where);
            goto out;
        }
        u = user[0] ? user : NULL;
        p = pass;
    }
    if (!p)
        goto out;
    const char *argv[3] = {"AUTH", u, p};
    if (!u)
        argv[1] = p;
    if ((rc = bus_conn_command(c, u ? 3 : 2, argv, NULL, b->o.command_timeout_ms, &r, err)))
        goto out;
    if (sent)
        *sent = 1;
    if (r->type == REDIS_REPLY_ERROR) {
        reply_text(r, txt, sizeof txt);
        if (u)
            rc = ts_err_set(err, TS_ERR_AUTH, "%s refused the credentials of user \"%s\": %s",
                            b->where, u, txt);
        else
            rc = ts_err_set(err, TS_ERR_AUTH, "%s refused the credentials: %s", b->where, txt);
        goto out;
    }
    if (expires > 0) {
        int64_t margin = (expires - t0) / 2;
        if (margin > BUS_REAUTH_MARGIN_US)
            margin = BUS_REAUTH_MARGIN_US;
        b->reauth_at_us = expires - margin;
    }
out:
    if (pass) {
        explicit_bzero(pass, BUS_CRED_PASS_MAX);
        ts_free(pass);
    }
    explicit_bzero(user, sizeof user);
    if (r)
        freeReplyObject(r);
    return rc;
}

/* Connects, authenticates, selects the database, names the client; the server has
 * answered at least once (a PING when nothing else was needed), so a TLS server that
 * refuses our certificate after the handshake (TLS 1.3) is found here. On failure
 * nothing is kept. */
static int conn_open(bus *b, ts_err *err)
{
    bus_conn *c = NULL;
    char dbs[16];
    int rc, sent = 0;
    if ((rc = bus_conn_open(b->url.host, b->url.port, b->tls, b->o.connect_timeout_ms, b->where, &c,
                            err)))
        goto out;
    if ((rc = authenticate(b, c, &sent, err)))
        goto out;
    if (b->url.db) {
        snprintf(dbs, sizeof dbs, "%d", b->url.db);
        const char *argv[2] = {"SELECT", dbs};
        if ((rc = setup_cmd(b, c, 2, argv, "SELECT", dbs, err)))
            goto out;
        sent = 1;
    }
    if (b->o.client_name) {
        const char *argv[3] = {"CLIENT", "SETNAME", b->o.client_name};
        if ((rc = setup_cmd(b, c, 3, argv, "CLIENT SETNAME", b->o.client_name, err)))
            goto out;
        sent = 1;
    }
    if (!sent) {
        const char *argv[1] = {"PING"};
        if ((rc = setup_cmd(b, c, 1, argv, "PING", NULL, err)))
            goto out;
    }
    b->c = c;
    c = NULL;
    if (b->connects++ > 0)
        ts_info("reconnected to %s", b->where);
out:
    if (c)
        b->reauth_at_us = 0;
    bus_conn_free(c);
    return rc;
}

static void note_failure(bus *b, int immediate)
{
    b->next_connect_ms = now_ms() + (immediate ? 0 : b->backoff_ms);
    b->backoff_ms = b->backoff_ms > b->o.backoff_max_ms / 2 ? b->o.backoff_max_ms : b->backoff_ms * 2;
}

/* Sends one command, connecting first when needed, and AUTHs again first when the
 * token is about to expire. On connection loss (and while Redis is LOADING after a
 * restart) it reconnects with exponential backoff and sends again, for up to retry_ms
 * when retry is set. On TS_OK *reply is a reply (possibly an error reply) that the
 * caller frees. extra_ms widens the read timeout (BLOCK). */
static int run(bus *b, int argc, const char **argv, const size_t *lens, int64_t extra_ms,
               int retry, redisReply **reply, ts_err *err)
{
    int64_t deadline = now_ms() + (retry ? b->o.retry_ms : 0);
    ts_err last;
    int warned = 0, rc;
    ts_err_clear(&last);
    *reply = NULL;
    for (;;) {
        if (!b->c) {
            int64_t t = now_ms();
            if (t < b->next_connect_ms) {
                if (b->next_connect_ms > deadline) {
                    if (!last.code)
                        last = b->conn_err;
                    if (!last.code)
                        ts_err_set(&last, TS_ERR_CONN, "%s: not connected", b->where);
                    break;
                }
                sleep_ms(b->next_connect_ms - t);
            }
            ts_err_clear(&b->conn_err);
            rc = conn_open(b, &b->conn_err);
            if (rc) {
                last = b->conn_err;
                note_failure(b, 0);
                if (rc != TS_ERR_CONN)
                    break;
                if (!warned++ && retry && b->o.retry_ms > 0)
                    ts_warn("%s; retrying for up to %d ms", last.msg, b->o.retry_ms);
                continue;
            }
        }
        redisReply *r = NULL;
        ts_err_clear(&last);
        if (b->reauth_at_us && wall_us() >= b->reauth_at_us) {
            /* the token expires soon: the server would drop us (Azure does) */
            if ((rc = authenticate(b, b->c, NULL, &last)) == TS_OK)
                ts_debug("%s: authenticated again with fresh credentials", b->where);
        } else {
            rc = TS_OK;
        }
        if (rc == TS_OK)
            rc = bus_conn_command(b->c, argc, argv, lens,
                                  (int)(b->o.command_timeout_ms + (extra_ms > 0 ? extra_ms : 0)),
                                  &r, &last);
        if (rc == TS_OK && is_error(r, "LOADING")) {
            freeReplyObject(r);
            ts_err_set(&last, TS_ERR_CONN, "%s is loading its data set", b->where);
            if (now_ms() + b->backoff_ms > deadline)
                break;
            sleep_ms(b->backoff_ms);
            note_failure(b, 1);
            continue;
        }
        if (rc == TS_OK) {
            b->backoff_ms = b->o.backoff_initial_ms;
            *reply = r;
            return TS_OK;
        }
        /* a failed connection is never reused; the first failure after a success
         * reconnects at once (an idle connection may just have been closed) */
        int immediate = b->backoff_ms == b->o.backoff_initial_ms;
        conn_drop(b);
        note_failure(b, immediate);
        b->conn_err = last;
        if (rc != TS_ERR_CONN)
            break;
        if (!warned++ && retry && b->o.retry_ms > 0)
            ts_warn("%s; retrying for up to %d ms", last.msg, b->o.retry_ms);
    }
    return ts_err_set(err, last.code ? last.code : TS_ERR_CONN, "%s", last.msg);
}

/* run() for a command whose reply must be an integer (or status "OK"). */
static int run_int(bus *b, int argc, const char **argv, const char *key, long long *out, ts_err *err)
{
    redisReply *r = NULL;
    int rc = run(b, argc, argv, NULL, 0, 1, &r, err);
    if (rc)
        return rc;
    if (r->type == REDIS_REPLY_ERROR)
        rc = reply_error(b, argv[0], key, r, err);
    else if (r->type == REDIS_REPLY_INTEGER && out)
        *out = r->integer;
    else if (r->type != REDIS_REPLY_INTEGER && r->type != REDIS_REPLY_STATUS)
        rc = bad_reply(b, argv[0], key, err);
    freeReplyObject(r);
    return rc;
}

int bus_ping(bus *b, ts_err *err)
{
    const char *argv[1] = {"PING"};
    return run_int(b, 1, argv, NULL, NULL, err);
}

/* ---- streams ---- */

static int check_key(const char *what, const char *s, ts_err *err)
{
    if (!s || !*s)
        return ts_err_set(err, TS_ERR_INVALID, "redis: empty %s name", what);
    return TS_OK;
}

int bus_group_create(bus *b, const char *stream, const char *group, ts_err *err)
{
    redisReply *r = NULL;
    int rc;
    if ((rc = check_key("stream", stream, err)) || (rc = check_key("group", group, err)))
        return rc;
    const char *argv[6] = {"XGROUP", "CREATE", stream, group, "0", "MKSTREAM"};
    if ((rc = run(b, 6, argv, NULL, 0, 1, &r, err)))
        return rc;
    if (r->type == REDIS_REPLY_ERROR && !is_error(r, "BUSYGROUP"))
        rc = reply_error(b, "XGROUP CREATE", stream, r, err);
    freeReplyObject(r);
    return rc;
}

/* XADD stream [MAXLEN ~ maxlen] * f1 v1 ...; the new id into id_out (may be NULL). */
static int xadd(bus *b, const char *stream, long maxlen, int nfields, const char **fields,
                const size_t *flens, char id_out[BUS_ID_MAX], ts_err *err)
{
    const char *argv[32];
    size_t lens[32];
    char maxlens[24];
    int argc = 0, rc;
    redisReply *r = NULL;
    if (nfields * 2 + 6 > 32)
        return ts_err_set(err, TS_ERR_INTERNAL, "xadd: too many fields");
    argv[argc] = "XADD", lens[argc++] = 4;
    argv[argc] = stream, lens[argc++] = strlen(stream);
    if (maxlen > 0) {
        snprintf(maxlens, sizeof maxlens, "%ld", maxlen);
        argv[argc] = "MAXLEN", lens[argc++] = 6;
        argv[argc] = "~", lens[argc++] = 1;
        argv[argc] = maxlens, lens[argc++] = strlen(maxlens);
    }
    argv[argc] = "*", lens[argc++] = 1;
    for (int i = 0; i < nfields * 2; i++) {
        argv[argc] = fields[i];
        lens[argc++] = flens ? flens[i] : strlen(fields[i]);
    }
    if ((rc = run(b, argc, argv, lens, 0, 1, &r, err)))
        return rc;
    if (r->type == REDIS_REPLY_ERROR)
        rc = reply_error(b, "XADD", stream, r, err);
    else if (r->type != REDIS_REPLY_STRING || r->len >= BUS_ID_MAX)
        rc = bad_reply(b, "XADD", stream, err);
    else if (id_out) {
        memcpy(id_out, r->str, r->len);
        id_out[r->len] = '\0';
    }
    freeReplyObject(r);
    return rc;
}

/* PUBLISH, best effort: one attempt, failures logged. */
static void publish_channel(bus *b, const char *channel, const char *payload, size_t len)
{
    const char *argv[3] = {"PUBLISH", channel, payload};
    size_t lens[3] = {7, strlen(channel), len};
    redisReply *r = NULL;
    ts_err e;
    ts_err_clear(&e);
    if (run(b, 3, argv, lens, 0, 0, &r, &e)) {
        ts_warn("could not PUBLISH on \"%s\" (the event is stored in the stream): %s", channel, e.msg);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        reply_error(b, "PUBLISH", channel, r, &e);
        ts_warn("%s", e.msg);
    }
    freeReplyObject(r);
}

int bus_publish(bus *b, const char *stream, const char *payload, size_t len,
                char id_out[BUS_ID_MAX], ts_err *err)
{
    int rc;
    if ((rc = check_key("stream", stream, err)))
        return rc;
    if (!payload)
        return ts_err_set(err, TS_ERR_INVALID, "redis: no payload to publish on \"%s\"", stream);
    const char *fields[2] = {BUS_FIELD, payload};
    size_t flens[2] = {strlen(BUS_FIELD), len};
    if ((rc = xadd(b, stream, b->o.stream_maxlen, 1, fields, flens, id_out, err)))
        return rc;
    if (b->o.publish_channel)
        publish_channel(b, stream, payload, len);
    return TS_OK;
}

void bus_consumer_name(char *out, size_t outlen, int worker)
{
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        strcpy(host, "localhost");
    host[sizeof host - 1] = '\0';
    snprintf(out, outlen, "%s:%ld:%d", host, (long)getpid(), worker);
}

void bus_msgs_clear(bus_msgs *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        ts_free(m->v[i].payload);
    ts_free(m->v);
    m->v = NULL;
    m->n = 0;
}

/* Removes entry i from m, keeping the order. */
static void msgs_remove(bus_msgs *m, size_t i)
{
    ts_free(m->v[i].payload);
    memmove(m->v + i, m->v + i + 1, (m->n - i - 1) * sizeof *m->v);
    m->n--;
}

/* Appends the entries of an XREADGROUP/XAUTOCLAIM entry array ([id, [f, v, ...]] each)
 * to out. Entries whose fields are nil (deleted from the stream) are skipped; entries
 * without an "event" field get payload NULL (the caller dead-letters them). */
static int take_entries(bus *b, const char *cmd, const char *stream, const redisReply *arr,
                        bus_msgs *out, ts_err *err)
{
    if (arr->type != REDIS_REPLY_ARRAY)
        return bad_reply(b, cmd, stream, err);
    if (arr->elements == 0)
        return TS_OK;
    bus_msg *v = ts_realloc(out->v, (out->n + arr->elements) * sizeof *v);
    if (!v)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    out->v = v;
    for (size_t i = 0; i < arr->elements; i++) {
        const redisReply *e = arr->element[i];
        if (e->type == REDIS_REPLY_NIL)
            continue;
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
            e->element[0]->len == 0 || e->element[0]->len >= BUS_ID_MAX)
            return bad_reply(b, cmd, stream, err);
        const redisReply *f = e->element[1];
        if (f->type == REDIS_REPLY_NIL)
            continue;
        if (f->type != REDIS_REPLY_ARRAY || f->elements % 2)
            return bad_reply(b, cmd, stream, err);
        bus_msg *m = &out->v[out->n];
        memset(m, 0, sizeof *m);
        memcpy(m->id, e->element[0]->str, e->element[0]->len);
        m->id[e->element[0]->len] = '\0';
        m->deliveries = 1;
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            const redisReply *name = f->element[k], *val = f->element[k + 1];
            if (name->type == REDIS_REPLY_STRING && name->len == strlen(BUS_FIELD) &&
                memcmp(name->str, BUS_FIELD, name->len) == 0 && val->type == REDIS_REPLY_STRING) {
                if (!(m->payload = ts_malloc(val->len + 1)))
                    return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
                memcpy(m->payload, val->str, val->len);
                m->payload[val->len] = '\0';
                m->len = val->len;
                break;
            }
        }
        out->n++;
    }
    return TS_OK;
}

/* Dead-letters (and removes from out) the entries that have no "event" field. */
static int drop_fieldless(bus *b, const char *stream, const char *group, bus_msgs *out, ts_err *err)
{
    for (size_t i = 0; i < out->n;) {
        if (out->v[i].payload) {
            i++;
            continue;
        }
        int rc = bus_deadletter(b, stream, group, &out->v[i], "entry has no \"" BUS_FIELD "\" field", err);
        if (rc)
            return rc;
        msgs_remove(out, i);
    }
    return TS_OK;
}

int bus_read(bus *b, const char *stream, const char *group, const char *consumer, int count,
             int block_ms, bus_msgs *out, ts_err *err)
{
    redisReply *r = NULL;
    char counts[16], blocks[16];
    int rc, recreated = 0;
    bus_msgs_clear(out);
    if ((rc = check_key("stream", stream, err)) || (rc = check_key("group", group, err)) ||
        (rc = check_key("consumer", consumer, err)))
        return rc;
    snprintf(counts, sizeof counts, "%d", count > 0 ? count : 1);
    snprintf(blocks, sizeof blocks, "%d", block_ms);
    const char *argv[11] = {"XREADGROUP", "GROUP", group, consumer, "COUNT", counts,
                            "BLOCK", blocks, "STREAMS", stream, ">"};
    const char *argv_nb[9] = {"XREADGROUP", "GROUP", group, consumer, "COUNT", counts,
                              "STREAMS", stream, ">"};
again:
    if (block_ms > 0)
        rc = run(b, 11, argv, NULL, block_ms, 1, &r, err);
    else
        rc = run(b, 9, argv_nb, NULL, 0, 1, &r, err);
    if (rc)
        goto out;
    if (is_error(r, "NOGROUP") && !recreated++) {
        ts_warn("%s: consumer group \"%s\" of \"%s\" is missing (did Redis lose its data?); creating it",
                b->where, group, stream);
        freeReplyObject(r);
        r = NULL;
        if ((rc = bus_group_create(b, stream, group, err)))
            goto out;
        goto again;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        rc = reply_error(b, "XREADGROUP", stream, r, err);
        goto out;
    }
    if (r->type == REDIS_REPLY_NIL)
        goto out; /* nothing within block_ms */
    if (r->type != REDIS_REPLY_ARRAY) {
        rc = bad_reply(b, "XREADGROUP", stream, err);
        goto out;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *s = r->element[i];
        if (s->type != REDIS_REPLY_ARRAY || s->elements != 2) {
            rc = bad_reply(b, "XREADGROUP", stream, err);
            goto out;
        }
        if ((rc = take_entries(b, "XREADGROUP", stream, s->element[1], out, err)))
            goto out;
    }
    freeReplyObject(r);
    r = NULL;
    rc = drop_fieldless(b, stream, group, out, err);
out:
    if (r)
        freeReplyObject(r);
    if (rc || out->n == 0)
        bus_msgs_clear(out); /* an empty batch holds no memory */
    return rc;
}

/* The delivery count (0: not pending) and owner of one pending entry
 * (XPENDING stream group id id 1). owner may be NULL. */
static int pending_entry(bus *b, const char *stream, const char *group, const char *id,
                         long long *out, char *owner, size_t ownerlen, ts_err *err)
{
    const char *argv[7] = {"XPENDING", stream, group, id, id, "1"};
    redisReply *r = NULL;
    int rc = run(b, 6, argv, NULL, 0, 1, &r, err);
    if (rc)
        return rc;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = reply_error(b, "XPENDING", stream, r, err);
    } else if (r->type != REDIS_REPLY_ARRAY) {
        rc = bad_reply(b, "XPENDING", stream, err);
    } else if (r->elements == 0) {
        *out = 0; /* acked meanwhile */
    } else {
        const redisReply *e = r->element[0];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 4 || e->element[1]->type != REDIS_REPLY_STRING ||
            e->element[3]->type != REDIS_REPLY_INTEGER) {
            rc = bad_reply(b, "XPENDING", stream, err);
        } else {
            *out = e->element[3]->integer;
            if (owner) {
                size_t n = e->element[1]->len < ownerlen - 1 ? e->element[1]->len : ownerlen - 1;
                memcpy(owner, e->element[1]->str, n);
                owner[n] = '\0';
            }
        }
    }
    freeReplyObject(r);
    return rc;
}

int bus_reclaim(bus *b, const char *stream, const char *group, const char *consumer,
                long long min_idle_ms, int count, bus_msgs *out, ts_err *err)
{
    redisReply *r = NULL;
    char idles[24], counts[16], cursor[BUS_ID_MAX] = "0-0";
    int rc;
    bus_msgs_clear(out);
    if ((rc = check_key("stream", stream, err)) || (rc = check_key("group", group, err)) ||
        (rc = check_key("consumer", consumer, err)))
        return rc;
    if (count <= 0)
        count = 1;
    snprintf(idles, sizeof idles, "%lld", min_idle_ms > 0 ? min_idle_ms : 0);
    /* a few rounds of the cursor: XAUTOCLAIM may return fewer than COUNT per round */
    for (int round = 0; round < 16 && out->n < (size_t)count; round++) {
        snprintf(counts, sizeof counts, "%zu", (size_t)count - out->n);
        const char *argv[8] = {"XAUTOCLAIM", stream, group, consumer, idles, cursor, "COUNT", counts};
        if ((rc = run(b, 8, argv, NULL, 0, 1, &r, err)))
            goto out;
        if (r->type == REDIS_REPLY_ERROR) {
            rc = reply_error(b, "XAUTOCLAIM", stream, r, err);
            goto out;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[0]->len >= BUS_ID_MAX) {
            rc = bad_reply(b, "XAUTOCLAIM", stream, err);
            goto out;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len);
        cursor[r->element[0]->len] = '\0';
        if ((rc = take_entries(b, "XAUTOCLAIM", stream, r->element[1], out, err)))
            goto out;
        freeReplyObject(r);
        r = NULL;
        if (strcmp(cursor, "0-0") == 0)
            break;
    }
    for (size_t i = 0; i < out->n;) {
        bus_msg *m = &out->v[i];
        long long d = 0;
        if ((rc = pending_entry(b, stream, group, m->id, &d, NULL, 0, err)))
            goto out;
        if (d == 0) { /* acked between the claim and now: nothing to do */
            msgs_remove(out, i);
            continue;
        }
        m->deliveries = d;
        if (b->o.max_deliveries > 0 && d > b->o.max_deliveries && m->payload) {
            char reason[160];
            snprintf(reason, sizeof reason, "delivered %lld times without an ack (max_deliveries %d)",
                     d, b->o.max_deliveries);
            if ((rc = bus_deadletter(b, stream, group, m, reason, err)))
                goto out;
            msgs_remove(out, i);
            continue;
        }
        i++;
    }
    rc = drop_fieldless(b, stream, group, out, err);
out:
    if (r)
        freeReplyObject(r);
    if (rc || out->n == 0)
        bus_msgs_clear(out); /* an empty batch holds no memory */
    return rc;
}

int bus_extend(bus *b, const char *stream, const char *group, const char *consumer,
               const char *id, ts_err *err)
{
    char owner[256];
    long long d = 0;
    redisReply *r = NULL;
    int rc;
    if ((rc = check_key("stream", stream, err)) || (rc = check_key("group", group, err)) ||
        (rc = check_key("consumer", consumer, err)) || (rc = check_key("entry id", id, err)))
        return rc;
    if ((rc = pending_entry(b, stream, group, id, &d, owner, sizeof owner, err)))
        return rc;
    if (d == 0)
        return ts_err_set(err, TS_ERR_NOTFOUND, "%s: entry %s of \"%s\" is no longer pending in group \"%s\"",
                          b->where, id, stream, group);
    if (strcmp(owner, consumer) != 0)
        return ts_err_set(err, TS_ERR_CONFLICT, "%s: entry %s of \"%s\" was claimed by consumer \"%s\"",
                          b->where, id, stream, owner);
    const char *argv[7] = {"XCLAIM", stream, group, consumer, "0", id, "JUSTID"};
    if ((rc = run(b, 7, argv, NULL, 0, 1, &r, err)))
        return rc;
    if (r->type == REDIS_REPLY_ERROR)
        rc = reply_error(b, "XCLAIM", stream, r, err);
    else if (r->type != REDIS_REPLY_ARRAY)
        rc = bad_reply(b, "XCLAIM", stream, err);
    else if (r->elements == 0)
        rc = ts_err_set(err, TS_ERR_NOTFOUND, "%s: entry %s of \"%s\" is no longer pending in group \"%s\"",
                        b->where, id, stream, group);
    freeReplyObject(r);
    return rc;
}

int bus_ack(bus *b, const char *stream, const char *group, const char *id, ts_err *err)
{
    int rc;
    if ((rc = check_key("stream", stream, err)) || (rc = check_key("group", group, err)) ||
        (rc = check_key("entry id", id, err)))
        return rc;
    const char *argv[4] = {"XACK", stream, group, id};
    return run_int(b, 4, argv, stream, NULL, err);
}

int bus_deadletter(bus *b, const char *stream, const char *group, const bus_msg *m,
                   const char *reason, ts_err *err)
{
    char deliveries[24], dead_at[BUS_TIME_MAX], id[BUS_ID_MAX];
    int rc;
    if ((rc = check_key("stream", stream, err)) || (rc = check_key("group", group, err)))
        return rc;
    if (!b->o.deadletter_stream || !*b->o.deadletter_stream)
        return ts_err_set(err, TS_ERR_INVALID, "redis: no dead-letter stream configured");
    if (!m)
        return ts_err_set(err, TS_ERR_INTERNAL, "bus_deadletter: no entry");
    if (!reason || !*reason)
        reason = "(no reason given)";
    snprintf(deliveries, sizeof deliveries, "%lld", m->deliveries);
    if (ts_time_format(ts_time_now(), 0, dead_at, sizeof dead_at))
        dead_at[0] = '\0';
    size_t plen = m->payload ? m->len : 0;
    int truncated = plen > BUS_DEADLETTER_PAYLOAD_MAX;
    if (truncated)
        plen = BUS_DEADLETTER_PAYLOAD_MAX;
    const char *fields[16] = {"stream", stream, "group", group, "id", m->id, "reason", reason,
                              "deliveries", deliveries, "dead_at", dead_at,
                              BUS_FIELD, m->payload ? m->payload : "", "truncated", "1"};
    size_t flens[16];
    for (int i = 0; i < 16; i++)
        flens[i] = strlen(fields[i]);
    flens[13] = plen;
    long maxlen = b->o.deadletter_maxlen > 0 ? b->o.deadletter_maxlen : b->o.stream_maxlen;
    if ((rc = xadd(b, b->o.deadletter_stream, maxlen, truncated ? 8 : 7, fields, flens, id, err)))
        return rc;
    ts_warn("dead-lettered entry %s of \"%s\" (group \"%s\") as %s in \"%s\": %s", m->id, stream,
            group, id, b->o.deadletter_stream, reason);
    if (b->o.publish_channel) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "stream", stream, "id", m->id,
                              "deadletter_id", id, "reason", reason);
        char notice[2048];
        size_t n = j ? json_dumpb(j, notice, sizeof notice, JSON_COMPACT) : 0;
        if (n > 0 && n <= sizeof notice) /* else too long for a notice: skipped */
            publish_channel(b, b->o.deadletter_stream, notice, n);
        json_decref(j);
    }
    return bus_ack(b, stream, group, m->id, err);
}

/* Computes the trim bound and trims, atomically: no group can be created, and no entry
 * delivered, between reading the groups and XTRIM. Per group the bound is the smaller
 * of its smallest pending id and its last-delivered id + 1 (the smaller is the safe one
 * should XGROUP SETID have moved the group back). Ids are compared and incremented as
 * decimal strings: Lua numbers are doubles, ids are two 64-bit integers. Returns
 * {trimmed, bound} ({0, ""} without groups). */
static const char trim_script[] =
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {0, ''} end\n"
    "local function inc(d)\n"
    "  local i = #d\n"
    "  while i > 0 and string.sub(d, i, i) == '9' do i = i - 1 end\n"
    "  if i == 0 then return '1' .. string.rep('0', #d) end\n"
    "  return string.sub(d, 1, i - 1) .. string.char(string.byte(d, i) + 1) .. string.rep('0', #d - i)\n"
    "end\n"
    "local function less(a, b)\n"
    "  local am, as = string.match(a, '^(%d+)-(%d+)$')\n"
    "  local bm, bs = string.match(b, '^(%d+)-(%d+)$')\n"
    "  if #am ~= #bm then return #am < #bm end\n"
    "  if am ~= bm then return am < bm end\n"
    "  if #as ~= #bs then return #as < #bs end\n"
    "  return as < bs\n"
    "end\n"
    "local bound = nil\n"
    "for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do\n"
    "  local f = {}\n"
    "  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end\n"
    "  local ms, seq = string.match(f['last-delivered-id'], '^(%d+)-(%d+)$')\n"
    "  local b\n"
    "  if seq == '18446744073709551615' then b = inc(ms) .. '-0' else b = ms .. '-' .. inc(seq) end\n"
    "  if f['pending'] > 0 then\n"
    "    local p = redis.call('XPENDING', KEYS[1], f['name'])\n"
    "    if p[2] and less(p[2], b) then b = p[2] end\n"
    "  end\n"
    "  if bound == nil or less(b, bound) then bound = b end\n"
    "end\n"
    "if bound == nil then return {0, ''} end\n"
    "return {redis.call('XTRIM', KEYS[1], 'MINID', bound), bound}\n";

int bus_trim_settled(bus *b, const char *stream, long long *trimmed, ts_err *err)
{
    redisReply *r = NULL;
    int rc;
    if (trimmed)
        *trimmed = 0;
    if ((rc = check_key("stream", stream, err)))
        return rc;
    const char *argv[4] = {"EVAL", trim_script, "1", stream};
    if ((rc = run(b, 4, argv, NULL, 0, 1, &r, err)))
        return rc;
    if (r->type == REDIS_REPLY_ERROR) {
        rc = reply_error(b, "XTRIM", stream, r, err);
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
               r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_STRING) {
        rc = bad_reply(b, "XTRIM", stream, err);
    } else {
        if (trimmed)
            *trimmed = r->element[0]->integer;
        if (r->element[1]->len)
            ts_debug("trimmed %lld settled entries of \"%s\" (below %.*s)", r->element[0]->integer,
                     stream, (int)r->element[1]->len, r->element[1]->str);
    }
    freeReplyObject(r);
    return rc;
}

int bus_stream_len(bus *b, const char *stream, long long *out, ts_err *err)
{
    int rc;
    if ((rc = check_key("stream", stream, err)))
        return rc;
    const char *argv[2] = {"XLEN", stream};
    return run_int(b, 2, argv, stream, out, err);
}

int bus_pending_count(bus *b, const char *stream, const char *group, long long *out, ts_err *err)
{
    redisReply *r = NULL;
    int rc;
    if ((rc = check_key("stream", stream, err)) || (rc = check_key("group", group, err)))
        return rc;
    const char *argv[3] = {"XPENDING", stream, group};
    if ((rc = run(b, 3, argv, NULL, 0, 1, &r, err)))
        return rc;
    if (r->type == REDIS_REPLY_ERROR)
        rc = reply_error(b, "XPENDING", stream, r, err);
    else if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_INTEGER)
        rc = bad_reply(b, "XPENDING", stream, err);
    else
        *out = r->element[0]->integer;
    freeReplyObject(r);
    return rc;
}

int bus_stream_delete(bus *b, const char *stream, ts_err *err)
{
    int rc;
    if ((rc = check_key("stream", stream, err)))
        return rc;
    const char *argv[2] = {"DEL", stream};
    return run_int(b, 2, argv, stream, NULL, err);
}
