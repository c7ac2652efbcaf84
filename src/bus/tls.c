/* tls.c: OpenSSL for bus/: the client context (TLS 1.2 minimum, the system CA store or
 * a CA file, an optional client certificate), one session per connection with SNI and
 * the server's name or address checked, and TLS failures in words. The sessions write
 * through a small socket BIO that sends with MSG_NOSIGNAL, so a server that went away
 * is an error, not a SIGPIPE. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/alloc.h"

struct bus_tls {
    SSL_CTX *ctx;
    BIO_METHOD *bio;
    int insecure;
};

/* ---- a socket BIO that never raises SIGPIPE ---- */

static int bio_write(BIO *bio, const char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    ssize_t n = send(fd, buf, (size_t)len, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_write(bio);
    return (int)n;
}

static int bio_read(BIO *bio, char *buf, int len)
{
    int fd = (int)(intptr_t)BIO_get_data(bio);
    BIO_clear_retry_flags(bio);
    ssize_t n = recv(fd, buf, (size_t)len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        BIO_set_retry_read(bio);
    return (int)n;
}

static long bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    (void)bio;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH || cmd == BIO_CTRL_DUP; /* nothing buffered here */
}

static int bio_create(BIO *bio)
{
    BIO_set_init(bio, 1);
    return 1;
}

/* ---- errors ---- */

/* The first error of the thread's OpenSSL queue in words (the queue is emptied);
 * *reason gets its reason code. */
static void queue_text(char *out, size_t outlen, int *reason)
{
    unsigned long first = 0, e;
    while ((e = ERR_get_error()) != 0)
        if (!first)
            first = e;
    *reason = first ? ERR_GET_REASON(first) : 0;
    const char *r = first ? ERR_reason_error_string(first) : NULL;
    if (r)
        snprintf(out, outlen, "%s", r);
    else if (first)
        ERR_error_string_n(first, out, outlen);
    else
        snprintf(out, outlen, "unknown error");
}

int bus_tls_failure(SSL *ssl, char *out, size_t outlen)
{
    int reason = 0;
    char q[256];
    queue_text(q, sizeof q, &reason);
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED && v != X509_V_OK) {
        if (v == X509_V_ERR_HOSTNAME_MISMATCH || v == X509_V_ERR_IP_ADDRESS_MISMATCH)
            snprintf(out, outlen,
                     "certificate verify failed: host name mismatch (the server's "
                     "certificate is not for the host of the url)");
        else
            snprintf(out, outlen, "certificate verify failed: %s",
                     X509_verify_cert_error_string(v));
        return TS_ERR_AUTH;
    }
    switch (reason) {
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
        snprintf(out, outlen, "%s", q);
        return TS_ERR_AUTH;
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_TLSV1_ALERT_ACCESS_DENIED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
        /* the server refused us: usually a missing or untrusted client certificate */
        snprintf(out, outlen, "the server refused the TLS session: %s", q);
        return TS_ERR_AUTH;
    default:
        snprintf(out, outlen, "%s", q);
        return TS_ERR_CONN;
    }
}

/* ---- context ---- */

/* An encrypted key would make OpenSSL prompt on the terminal: refuse instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *ud)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)ud;
    return 0;
}

static int set(const char *s)
{
    return s && *s;
}

int bus_tls_new(const bus_tls_options *o, bus_tls **out, ts_err *err)
{
    bus_tls *t = NULL;
    char txt[256];
    int rc = TS_OK, reason;
    *out = NULL;
    if (set(o->cert_file) != set(o->key_file))
        return ts_err_set(err, TS_ERR_INVALID,
                          "redis: tls_cert_file and tls_key_file must be set together");
    ERR_clear_error();
    if (!(t = ts_calloc(1, sizeof *t))) {
        rc = ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto out;
    }
    t->insecure = o->insecure != 0;
    int idx = BIO_get_new_index();
    if (idx < 0 || !(t->bio = BIO_meth_new(idx | BIO_TYPE_SOURCE_SINK, "tsarchive redis socket")) ||
        !BIO_meth_set_write(t->bio, bio_write) || !BIO_meth_set_read(t->bio, bio_read) ||
        !BIO_meth_set_ctrl(t->bio, bio_ctrl) || !BIO_meth_set_create(t->bio, bio_create) ||
        !(t->ctx = SSL_CTX_new(TLS_client_method())) ||
        !SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION)) {
        queue_text(txt, sizeof txt, &reason);
        rc = ts_err_set(err, TS_ERR_NOMEM, "redis: could not set up TLS: %s", txt);
        goto out;
    }
    SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_default_passwd_cb(t->ctx, no_passphrase);
    SSL_CTX_set_verify(t->ctx, t->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (set(o->ca_file)) {
        if (SSL_CTX_load_verify_locations(t->ctx, o->ca_file, NULL) != 1) {
            queue_text(txt, sizeof txt, &reason);
            rc = ts_err_set(err, TS_ERR_INVALID, "redis: could not load the TLS CA file \"%s\": %s",
                            o->ca_file, txt);
            goto out;
        }
    } else if (SSL_CTX_set_default_verify_paths(t->ctx) != 1) {
        queue_text(txt, sizeof txt, &reason);
        rc = ts_err_set(err, TS_ERR_INVALID, "redis: could not load the system CA store: %s", txt);
        goto out;
    }
    if (set(o->cert_file)) {
        if (SSL_CTX_use_certificate_chain_file(t->ctx, o->cert_file) != 1) {
            queue_text(txt, sizeof txt, &reason);
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "redis: could not load the TLS client certificate \"%s\": %s",
                            o->cert_file, txt);
            goto out;
        }
        if (SSL_CTX_use_PrivateKey_file(t->ctx, o->key_file, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(t->ctx) != 1) {
            queue_text(txt, sizeof txt, &reason);
            rc =
                ts_err_set(err, TS_ERR_INVALID,
                           "redis: could not load the TLS client key \"%s\": %s", o->key_file, txt);
            goto out;
        }
    }
    *out = t;
    t = NULL;
out:
    bus_tls_free(t);
    return rc;
}

void bus_tls_free(bus_tls *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->ctx);
    BIO_meth_free(t->bio);
    ts_free(t);
}

int bus_tls_insecure(const bus_tls *t)
{
    return t && t->insecure;
}

/* ---- sessions ---- */

int bus_tls_session(bus_tls *t, int fd, const char *host, SSL **out, ts_err *err)
{
    SSL *ssl = NULL;
    BIO *bio = NULL;
    unsigned char addr[16];
    char txt[256];
    int rc = TS_OK, reason;
    *out = NULL;
    int is_ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
    ERR_clear_error();
    if (!(ssl = SSL_new(t->ctx)) || !(bio = BIO_new(t->bio))) {
        queue_text(txt, sizeof txt, &reason);
        rc = ts_err_set(err, TS_ERR_NOMEM, "redis: could not start a TLS session: %s", txt);
        goto out;
    }
    BIO_set_data(bio, (void *)(intptr_t)fd);
    SSL_set_bio(ssl, bio, bio); /* ssl owns bio now */
    bio = NULL;
    SSL_set_connect_state(ssl);
    /* SNI carries names only (RFC 6066); an address is checked against the IP SANs */
    if (!is_ip && SSL_set_tlsext_host_name(ssl, host) != 1) {
        queue_text(txt, sizeof txt, &reason);
        rc = ts_err_set(err, TS_ERR_INVALID, "redis: could not set the TLS server name \"%s\": %s",
                        host, txt);
        goto out;
    }
    if (!t->insecure) {
        X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
        X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if ((is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host)
                   : X509_VERIFY_PARAM_set1_host(vp, host, 0)) != 1) {
            queue_text(txt, sizeof txt, &reason);
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "redis: could not set the host \"%s\" to check: %s", host, txt);
            goto out;
        }
    }
    *out = ssl;
    ssl = NULL;
out:
    BIO_free(bio);
    SSL_free(ssl);
    return rc;
}
