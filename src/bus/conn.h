/* conn.h: one connection to Redis (internal to bus/), plain TCP or TLS through one code
 * path, with poll()-driven I/O and deadlines. hiredis only formats the commands and
 * parses the replies. A connection that failed is freed, never used again. */
#ifndef TS_BUS_CONN_H
#define TS_BUS_CONN_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "common/err.h"
#include "tls.h"

typedef struct bus_conn bus_conn;

/* Resolves host, connects to port within timeout_ms (TCP connect and, with tls, the
 * handshake; a tls_insecure session logs a warning). where ("redis at host:port") leads
 * the messages. TS_ERR_CONN, or TS_ERR_AUTH for a refused certificate. *out is freed
 * with bus_conn_free(). */
int bus_conn_open(const char *host, int port, bus_tls *tls, int timeout_ms, const char *where,
                  bus_conn **out, ts_err *err) TS_MUSTCHECK;

/* Sends one command (lens NULL: C strings) and reads its reply within timeout_ms. On
 * TS_OK *reply is the reply (an error reply included), freed with freeReplyObject().
 * Any failure (TS_ERR_CONN, TS_ERR_AUTH, TS_ERR_NOMEM) leaves the connection unusable. */
int bus_conn_command(bus_conn *c, int argc, const char **argv, const size_t *lens, int timeout_ms,
                     redisReply **reply, ts_err *err) TS_MUSTCHECK;

void bus_conn_free(bus_conn *c);

#endif
