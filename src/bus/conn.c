/* conn.c: one connection to Redis: getaddrinfo, a non-blocking connect within the
 * connect timeout, the TLS handshake for rediss://, then each command written and its
 * reply read under poll() within the command timeout. Plain TCP and TLS share this
 * path; only the byte moving differs (send/recv or SSL_write/SSL_read). hiredis formats
 * the commands (redisFormatCommandArgv) and parses the replies (redisReader). */
#include "conn.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "common/alloc.h"
#include "common/log.h"

#define READ_CHUNK 16384

struct bus_conn {
    int fd;
    SSL *ssl; /* NULL for plain TCP */
    redisReader *reader;
    int failed; /* set by any failure: the connection is not used again */
    char where[300];
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline: 1 ready (or an error condition the next I/O
 * call will report), 0 timed out, -1 poll failed (errno). */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* ---- connect ---- */

static int tcp_connect(const char *host, int port, int timeout_ms, const char *where, int *out,
                       ts_err *err)
{
    struct addrinfo hints, *res = NULL;
    char ports[16], cause[200] = "no address";
    int fd = -1, rc = TS_OK, gai, one = 1;
    int64_t deadline = mono_ms() + timeout_ms;
    *out = -1;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    snprintf(ports, sizeof ports, "%d", port);
    if ((gai = getaddrinfo(host, ports, &hints, &res)) != 0) {
        rc = ts_err_set(err, TS_ERR_CONN, "could not resolve the host of %s: %s", where,
                        gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
        goto out;
    }
    for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            snprintf(cause, sizeof cause, "socket: %s", strerror(errno));
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            int w = wait_fd(fd, POLLOUT, deadline), soerr = 0;
            socklen_t len = sizeof soerr;
            if (w > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0)
                break;
            if (w == 0) {
                snprintf(cause, sizeof cause, "timed out after %d ms", timeout_ms);
                (void)close(fd);
                fd = -1;
                break; /* the time is used up: no other address gets a try */
            }
            snprintf(cause, sizeof cause, "%s", strerror(w > 0 && soerr ? soerr : errno));
        } else {
            snprintf(cause, sizeof cause, "%s", strerror(errno));
        }
        (void)close(fd);
        fd = -1;
    }
    if (fd < 0) {
        rc = ts_err_set(err, TS_ERR_CONN, "could not connect to %s: %s", where, cause);
        goto out;
    }
    /* small commands, each waited for: no Nagle delay; keepalive finds a dead peer */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    *out = fd;
    fd = -1;
out:
    if (res)
        freeaddrinfo(res);
    if (fd >= 0)
        (void)close(fd);
    return rc;
}

/* ---- bytes in and out ---- */

/* After a failed SSL_read/SSL_write/SSL_connect returning ret: TS_OK with *want set
 * when it must wait for the socket, else the error. */
static int tls_result(bus_conn *c, int ret, const char *doing, short *want, ts_err *err)
{
    char txt[300];
    int saved = errno; /* before anything else can change it */
    int code, e = SSL_get_error(c->ssl, ret);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        *want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
        return TS_OK;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        ERR_clear_error();
        return ts_err_set(err, TS_ERR_CONN, "%s: %s: the server closed the TLS session", c->where,
                          doing);
    }
    if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
        return ts_err_set(err, TS_ERR_CONN, "%s: %s: %s", c->where, doing,
                          saved ? strerror(saved) : "connection closed by the server");
    code = bus_tls_failure(c->ssl, txt, sizeof txt); /* OpenSSL queued the reason */
    return ts_err_set(err, code, "%s: %s: %s", c->where, doing, txt);
}

/* Writes what the socket takes now: *put bytes (0: wait for *want). */
static int io_write(bus_conn *c, const char *buf, size_t n, size_t *put, short *want, ts_err *err)
{
    *put = 0;
    if (c->ssl) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_write(c->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
        if (r > 0) {
            *put = (size_t)r;
            return TS_OK;
        }
        ts_err we;
        ts_err_clear(&we);
        int rc = tls_result(c, r, "send", want, &we);
        if (rc == TS_OK)
            return TS_OK;
        if (rc == TS_ERR_CONN) {
            /* a TLS 1.3 server refuses our certificate after the handshake, with an
             * alert and a close; our write then meets the reset: the alert, if it
             * arrived, tells why */
            char one;
            short w = 0;
            ERR_clear_error();
            errno = 0;
            int rr = SSL_read(c->ssl, &one, 1);
            if (rr <= 0 && SSL_get_error(c->ssl, rr) == SSL_ERROR_SSL)
                return tls_result(c, rr, "send", &w, err);
            ERR_clear_error();
        }
        return ts_err_set(err, rc, "%s", we.msg);
    }
    ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL);
    if (r >= 0) {
        *put = (size_t)r;
        return TS_OK;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        *want = POLLOUT;
        return TS_OK;
    }
    return ts_err_set(err, TS_ERR_CONN, "%s: send: %s", c->where, strerror(errno));
}

/* Reads what has arrived: *got bytes (0: wait for *want). The end of the stream is an
 * error: a reply is always awaited when reading. */
static int io_read(bus_conn *c, char *buf, size_t n, size_t *got, short *want, ts_err *err)
{
    *got = 0;
    if (c->ssl) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_read(c->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
        if (r > 0) {
            *got = (size_t)r;
            return TS_OK;
        }
        return tls_result(c, r, "receive", want, err);
    }
    ssize_t r = recv(c->fd, buf, n, 0);
    if (r > 0) {
        *got = (size_t)r;
        return TS_OK;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        *want = POLLIN;
        return TS_OK;
    }
    return ts_err_set(err, TS_ERR_CONN, "%s: receive: %s", c->where,
                      r == 0 ? "connection closed by the server" : strerror(errno));
}

static int io_wait(bus_conn *c, short want, int64_t deadline, const char *what, int timeout_ms,
                   ts_err *err)
{
    int w = wait_fd(c->fd, want, deadline);
    if (w > 0)
        return TS_OK;
    if (w == 0)
        return ts_err_set(err, TS_ERR_CONN, "%s: %s: no answer within %d ms", c->where, what,
                          timeout_ms);
    return ts_err_set(err, TS_ERR_CONN, "%s: %s: poll: %s", c->where, what, strerror(errno));
}

/* ---- the connection ---- */

int bus_conn_open(const char *host, int port, bus_tls *tls, int timeout_ms, const char *where,
                  bus_conn **out, ts_err *err)
{
    bus_conn *c = NULL;
    int rc = TS_OK;
    int64_t deadline = mono_ms() + timeout_ms;
    *out = NULL;
    if (!(c = ts_calloc(1, sizeof *c))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    c->fd = -1;
    snprintf(c->where, sizeof c->where, "%s", where);
    if (!(c->reader = redisReaderCreate())) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((rc = tcp_connect(host, port, timeout_ms, where, &c->fd, err)))
        goto out;
    if (tls) {
        if ((rc = bus_tls_session(tls, c->fd, host, &c->ssl, err)))
            goto out;
        for (;;) {
            short want = 0;
            ERR_clear_error();
            errno = 0;
            int r = SSL_connect(c->ssl);
            if (r == 1)
                break;
            if ((rc = tls_result(c, r, "tls handshake failed", &want, err)))
                goto out;
            if ((rc = io_wait(c, want, deadline, "tls handshake", timeout_ms, err)))
                goto out;
        }
        if (bus_tls_insecure(tls))
            ts_warn("TLS CERTIFICATE CHECKS ARE OFF for %s (tls_insecure): whoever sits on the "
                    "path can read and change this traffic, credentials included",
                    where);
    }
    *out = c;
    c = NULL;
out:
    if (c)
        c->failed = 1;
    bus_conn_free(c);
    return rc;
}

int bus_conn_command(bus_conn *c, int argc, const char **argv, const size_t *lens, int timeout_ms,
                     redisReply **reply, ts_err *err)
{
    char *cmd = NULL, buf[READ_CHUNK];
    void *r = NULL;
    int rc = TS_OK, len;
    size_t off = 0, n;
    short want;
    int64_t deadline = mono_ms() + timeout_ms;
    *reply = NULL;
    if (c->failed) {
        rc = ts_err_set(err, TS_ERR_INTERNAL, "%s: a failed connection was used again", c->where);
        goto out;
    }
    if ((len = redisFormatCommandArgv(&cmd, argc, argv, lens)) < 0) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    while (off < (size_t)len) {
        want = 0;
        if ((rc = io_write(c, cmd + off, (size_t)len - off, &n, &want, err)))
            goto out;
        off += n;
        if (!n && (rc = io_wait(c, want, deadline, argv[0], timeout_ms, err)))
            goto out;
    }
    for (;;) {
        if (redisReaderGetReply(c->reader, &r) != REDIS_OK) {
            rc = ts_err_set(err, TS_ERR_CONN, "%s: %s: bad reply: %s", c->where, argv[0],
                            c->reader->errstr);
            goto out;
        }
        if (r)
            break;
        want = 0;
        if ((rc = io_read(c, buf, sizeof buf, &n, &want, err)))
            goto out;
        if (n && redisReaderFeed(c->reader, buf, n) != REDIS_OK) {
            rc = ts_err_set(err, TS_ERR_NOMEM, "%s: %s: out of memory", c->where, argv[0]);
            goto out;
        }
        if (!n && (rc = io_wait(c, want, deadline, argv[0], timeout_ms, err)))
            goto out;
    }
    *reply = r;
out:
    if (cmd)
        redisFreeCommand(cmd);
    if (rc)
        c->failed = 1;
    return rc;
}

void bus_conn_free(bus_conn *c)
{
    if (!c)
        return;
    if (c->ssl) {
        if (!c->failed) /* close_notify, one non-blocking try: nothing is waited for */
            (void)SSL_shutdown(c->ssl);
        ERR_clear_error();
        SSL_free(c->ssl);
    }
    if (c->fd >= 0)
        (void)close(c->fd);
    if (c->reader)
        redisReaderFree(c->reader);
    ts_free(c);
}
