/* err.h: status codes and the caller-supplied error struct in which the FIRST error
 * wins, so the root cause survives (curl Curl_failf). */
#ifndef TS_ERR_H
#define TS_ERR_H

#include <stdarg.h>

#define TS_MUSTCHECK __attribute__((warn_unused_result))
#define TS_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum {
    TS_OK = 0,
    TS_ERR_NOMEM = -1,       /* allocation failed */
    TS_ERR_IO = -2,          /* read, write, fsync, rename... failed */
    TS_ERR_INVALID = -3,     /* bad input: config, argument, event, request */
    TS_ERR_FORMAT = -4,      /* corrupt or unsupported data (Parquet, COPY stream) */
    TS_ERR_NOTFOUND = -5,    /* object, chunk, table, file does not exist */
    TS_ERR_CONN = -6,        /* a server could not be reached or went away */
    TS_ERR_AUTH = -7,        /* refused credentials or permission */
    TS_ERR_CONFLICT = -8,    /* state changed under us (chunk modified, lock held) */
    TS_ERR_TIMEOUT = -9,     /* gave up waiting */
    TS_ERR_UNSUPPORTED = -10, /* valid but not implemented */
    TS_ERR_INTERNAL = -11,   /* a bug: API misuse, broken invariant */
    TS_ERR_TOOBIG = -12,     /* a size cap was reached */
    TS_ERR_REMOTE = -13,     /* a server answered with an error */
    TS_ERR_EXISTS = -14,     /* a write-once name is taken (object, log version) */
};

typedef struct ts_err {
    int code;      /* TS_OK while no error was recorded */
    char msg[768]; /* lowercase start, identifiers quoted, cause included; never a secret */
} ts_err;

/* Clears e (may be NULL). */
void ts_err_clear(ts_err *e);
/* Records an error unless one is recorded already; returns code, so callers can
 * write `return ts_err_set(err, TS_ERR_IO, "could not open \"%s\": %s", p, strerror(errno));`.
 * e may be NULL. */
int ts_err_set(ts_err *e, int code, const char *fmt, ...) TS_PRINTF(3, 4);
int ts_err_setv(ts_err *e, int code, const char *fmt, va_list ap) TS_PRINTF(3, 0);
/* Adds "context: " in front of the recorded message (e.g. the file name), if any. */
void ts_err_prefix(ts_err *e, const char *fmt, ...) TS_PRINTF(2, 3);
/* A short name for a code: "io", "invalid", ... */
const char *ts_err_name(int code);

#endif
