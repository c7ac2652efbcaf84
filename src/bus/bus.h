/* bus.h: events over Redis streams (DESIGN.md "Data flow"): publish (XADD + PUBLISH),
 * consumer groups, blocking group reads, ack, reclaim of entries idle past a
 * visibility timeout (XAUTOCLAIM), dead letter, trimming of settled entries, and counts
 * for status pages. Delivery is at-least-once: consumers must be idempotent
 * (docs/bus.md). A bus holds one connection (plain TCP or TLS): use one bus per thread.
 * When Redis goes away the failed connection is freed and a new one made, with
 * exponential backoff, inside each call for up to bus_options.retry_ms. */
#ifndef TS_BUS_H
#define TS_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define BUS_ID_MAX 48       /* a stream entry id, "1700000000000-0", with its NUL */
#define BUS_FIELD "event"   /* the entry field that holds the event JSON */
#define BUS_DEADLETTER_PAYLOAD_MAX (1024 * 1024) /* raw payload kept in a dead letter */
#define BUS_CRED_USER_MAX 256   /* the user buffer handed to bus_options.credentials */
#define BUS_CRED_PASS_MAX 16384 /* its password buffer: room for an Entra ID token */
#define BUS_REAUTH_MARGIN_US (300LL * 1000000) /* re-AUTH this long before a token expires */

typedef struct bus bus;

typedef struct bus_options {
    const char *url;               /* redis[s]://[[user]:password@]host[:port][/db];
                                    * rediss:// is TLS (never falls back to plain text) */
    const char *deadletter_stream; /* for bus_deadletter and max_deliveries; NULL: none */
    int max_deliveries;     /* bus_reclaim dead-letters an entry claimed for the
                             * (max_deliveries+1)th time instead of returning it; 0: never */
    int connect_timeout_ms; /* default 5000 */
    int command_timeout_ms; /* default 10000; a blocking read adds its block time */
    int retry_ms;           /* how long one call keeps reconnecting and retrying before
                             * it fails with TS_ERR_CONN; default 30000; 0: one attempt */
    int backoff_initial_ms; /* default 100, doubled per failed attempt ... */
    int backoff_max_ms;     /* ... up to this; default 5000 */
    long stream_maxlen;     /* XADD MAXLEN ~ n; 0 (default): streams are not trimmed */
    int publish_channel;    /* default 1: also PUBLISH each event on a channel named as
                             * the stream, for watching with redis-cli SUBSCRIBE */
    const char *client_name; /* CLIENT SETNAME; NULL: none */

    /* TLS (rediss:// only; set with redis:// they are TS_ERR_INVALID). TLS 1.2 at least,
     * SNI, and the server's certificate checked against the system CA store or
     * tls_ca_file, and against the URL's host (name or IP address). */
    const char *tls_ca_file;   /* PEM CA bundle; NULL: the system store */
    const char *tls_cert_file; /* client certificate chain (PEM), for mutual TLS, ... */
    const char *tls_key_file;  /* ... with its private key (PEM, not encrypted) */
    int tls_insecure;          /* 1: no certificate or host name check at all (a loud
                                * warning per connection); for tests only */

    long deadletter_maxlen; /* dead-letter XADD MAXLEN ~ n; 0: no cap of its own
                             * (stream_maxlen applies when set) */

    /* Credentials that expire (Microsoft Entra ID: the password is an access token).
     * When set, it replaces the URL's user and password: called at each connect for
     * AUTH, and again before a command once the token is within BUS_REAUTH_MARGIN_US
     * (or half its lifetime, if shorter) of expiring, to AUTH on the live connection.
     * It writes NUL-terminated user (may be empty: AUTH password) and pass into the
     * buffers, and *expires_at_us (microseconds since the Unix epoch; 0: never expires),
     * and returns 0, or an error code with err set (TS_ERR_CONN is retried like a lost
     * connection). The token is registered with the log redaction, never logged. Called
     * from the thread using the bus; buses in other threads call it too. */
    int (*credentials)(void *ud, char *user, size_t ulen, char *pass, size_t plen,
                       int64_t *expires_at_us, ts_err *err);
    void *credentials_ud;
} bus_options;

/* One stream entry handed to a consumer. */
typedef struct bus_msg {
    char id[BUS_ID_MAX];
    char *payload;        /* the "event" field, NUL-terminated (may hold NULs: use len) */
    size_t len;
    long long deliveries; /* times delivered, this one included (1 for a fresh entry) */
} bus_msg;

/* A batch of entries; zero-initialize once, bus_read/bus_reclaim free the previous
 * contents before filling it, bus_msgs_clear() frees it at the end. */
typedef struct bus_msgs {
    bus_msg *v;
    size_t n;
} bus_msgs;

/* Fills o with the defaults (url and streams NULL). */
void bus_options_init(bus_options *o);

/* Makes a bus from o (copied; the password is registered with the log redaction).
 * Validates the URL and options and, for rediss://, loads the CA and client
 * certificate files (TS_ERR_INVALID names the file); the connection is made by the
 * first call (bus_ping checks it). *out is freed with bus_free(). */
int bus_new(const bus_options *o, bus **out, ts_err *err) TS_MUSTCHECK;
void bus_free(bus *b);

/* PING, connecting first if needed. */
int bus_ping(bus *b, ts_err *err) TS_MUSTCHECK;
/* 1 while a connection is up; the number of connections made after the first. */
int bus_connected(const bus *b);
long long bus_reconnects(const bus *b);

/* XGROUP CREATE stream group 0 MKSTREAM: the group starts at the stream's beginning,
 * so events published before any consumer existed are delivered. An existing group
 * (BUSYGROUP) is fine. */
int bus_group_create(bus *b, const char *stream, const char *group, ts_err *err) TS_MUSTCHECK;

/* XADD stream * event payload (the entry's id into id_out when not NULL), then
 * PUBLISH stream payload (best effort: a failure is logged, not returned, because
 * the event is stored). A retry after a lost reply may store the event twice. */
int bus_publish(bus *b, const char *stream, const char *payload, size_t len,
                char id_out[BUS_ID_MAX], ts_err *err) TS_MUSTCHECK;

/* XREADGROUP GROUP group consumer COUNT count BLOCK block_ms STREAMS stream >: up to
 * count new entries, waiting up to block_ms (block_ms <= 0: no wait). None is not an
 * error (out->n == 0). An entry without an "event" field is dead-lettered, not
 * returned. A missing group (Redis lost its data) is created again. */
int bus_read(bus *b, const char *stream, const char *group, const char *consumer, int count,
             int block_ms, bus_msgs *out, ts_err *err) TS_MUSTCHECK;

/* XAUTOCLAIM stream group consumer min_idle_ms: takes over up to count entries that
 * were delivered (to anyone) and not acked for min_idle_ms (the visibility timeout),
 * with their delivery counts (XPENDING). With max_deliveries set, entries delivered
 * too often are dead-lettered instead of returned. */
int bus_reclaim(bus *b, const char *stream, const char *group, const char *consumer,
                long long min_idle_ms, int count, bus_msgs *out, ts_err *err) TS_MUSTCHECK;

/* Heartbeat for long work: resets the idle time of entry id, still held by consumer,
 * so bus_reclaim elsewhere does not take it (XCLAIM ... 0 id JUSTID: the delivery count
 * is not raised). Call well within the visibility timeout. TS_ERR_NOTFOUND when the
 * entry is no longer pending (acked, dead-lettered), TS_ERR_CONFLICT when another
 * consumer has claimed it (stop: the work will be done there). */
int bus_extend(bus *b, const char *stream, const char *group, const char *consumer,
               const char *id, ts_err *err) TS_MUSTCHECK;

/* XACK stream group id: call only once the work is durable. */
int bus_ack(bus *b, const char *stream, const char *group, const char *id, ts_err *err) TS_MUSTCHECK;

/* Moves m to the dead-letter stream: XADD deadletter * stream S group G id ID
 * reason R deliveries N dead_at T event PAYLOAD [truncated 1], PUBLISH a short notice,
 * then XACK the original. reason is kept verbatim (say which field was wrong). */
int bus_deadletter(bus *b, const char *stream, const char *group, const bus_msg *m,
                   const char *reason, ts_err *err) TS_MUSTCHECK;

/* Removes the entries of stream that every consumer group has received and
 * acknowledged: the bound is the smallest, over the groups, of the group's smallest
 * pending id, or (nothing pending) its last-delivered id + 1; then XTRIM stream MINID
 * bound (Redis >= 6.2). All of it runs as one script, so a group created or an entry
 * delivered meanwhile cannot be missed. A stream without groups (or missing) trims
 * nothing: a group created later at 0 still gets every entry. *trimmed (may be NULL)
 * gets how many entries were removed. */
int bus_trim_settled(bus *b, const char *stream, long long *trimmed, ts_err *err) TS_MUSTCHECK;

/* XLEN stream (0 when it does not exist). */
int bus_stream_len(bus *b, const char *stream, long long *out, ts_err *err) TS_MUSTCHECK;
/* Entries of group delivered and not yet acked (XPENDING summary). */
int bus_pending_count(bus *b, const char *stream, const char *group, long long *out,
                      ts_err *err) TS_MUSTCHECK;
/* DEL stream: for tests and tools. */
int bus_stream_delete(bus *b, const char *stream, ts_err *err) TS_MUSTCHECK;

/* A consumer name unique to this process and worker: "host:pid:worker" (cut to fit
 * outlen). Stable names are not needed: a dead process's entries are reclaimed. */
void bus_consumer_name(char *out, size_t outlen, int worker);

/* Frees the entries of m; m is empty and reusable. NULL is a no-op. */
void bus_msgs_clear(bus_msgs *m);

#endif
