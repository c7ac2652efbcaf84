/* tls.h: the TLS side of bus/ (internal): an OpenSSL client context built from
 * bus_options (TLS 1.2 minimum, CA, client certificate), a session per connection
 * (SNI, host name or IP check), and failures told in words. */
#ifndef TS_BUS_TLS_H
#define TS_BUS_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "common/err.h"

typedef struct bus_tls bus_tls;

typedef struct bus_tls_options {
    const char *ca_file;   /* PEM bundle; NULL: the system store */
    const char *cert_file; /* client certificate chain (PEM); with key_file */
    const char *key_file;  /* its private key (PEM, not encrypted) */
    int insecure;          /* no certificate or host name check */
} bus_tls_options;

/* Builds the context, loading the files now: TS_ERR_INVALID names the file and the
 * cause. *out is freed with bus_tls_free(). */
int bus_tls_new(const bus_tls_options *o, bus_tls **out, ts_err *err) TS_MUSTCHECK;
void bus_tls_free(bus_tls *t);
int bus_tls_insecure(const bus_tls *t);

/* A client session over the connected socket fd for host (a name: SNI and a name
 * check; an IP address: an address check). The caller drives SSL_connect and frees
 * *out with SSL_free (the socket stays the caller's). */
int bus_tls_session(bus_tls *t, int fd, const char *host, SSL **out, ts_err *err) TS_MUSTCHECK;

/* After an SSL call on ssl failed with SSL_ERROR_SSL (or SYSCALL): what went wrong,
 * into out (from the verify result or the thread's OpenSSL error queue, which is
 * emptied). Returns TS_ERR_AUTH when a certificate was refused by either side (a
 * setting to fix, not worth retrying), TS_ERR_CONN otherwise. */
int bus_tls_failure(SSL *ssl, char *out, size_t outlen);

#endif
