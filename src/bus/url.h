/* url.h: the Redis URL of bus/ (internal): redis[s]://[[user]:password@]host[:port][/db],
 * rediss:// being TLS. Errors never quote the URL, which may hold a password. */
#ifndef TS_BUS_URL_H
#define TS_BUS_URL_H

#include "common/err.h"

typedef struct bus_url {
    char host[256]; /* name or IPv6 literal without brackets */
    int port;       /* 6379 by default */
    int db;         /* 0 by default */
    char *user;     /* NULL: none (AUTH password only) */
    char *password; /* NULL: no AUTH */
    int tls;        /* 1 for rediss:// */
} bus_url;

/* Parses s into *u (zeroed first). TS_ERR_INVALID for a malformed URL. On success the
 * strings of *u are the caller's: bus_url_clear(). */
int bus_url_parse(const char *s, bus_url *u, ts_err *err) TS_MUSTCHECK;
/* Wipes and frees the strings of u. */
void bus_url_clear(bus_url *u);

#endif
