/* err.c: the first-error-wins error struct. */
#include "err.h"

#include <stdio.h>
#include <string.h>

void ts_err_clear(ts_err *e)
{
    if (e) {
        e->code = TS_OK;
        e->msg[0] = '\0';
    }
}

int ts_err_setv(ts_err *e, int code, const char *fmt, va_list ap)
{
    if (e && e->code == TS_OK) {
        e->code = code;
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    }
    return code;
}

int ts_err_set(ts_err *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ts_err_setv(e, code, fmt, ap);
    va_end(ap);
    return code;
}

void ts_err_prefix(ts_err *e, const char *fmt, ...)
{
    char pre[256], tmp[sizeof e->msg];
    va_list ap;
    if (!e || e->code == TS_OK)
        return;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    snprintf(tmp, sizeof tmp, "%s: %s", pre, e->msg);
    memcpy(e->msg, tmp, sizeof tmp);
}

const char *ts_err_name(int code)
{
    switch (code) {
    case TS_OK: return "ok";
    case TS_ERR_NOMEM: return "out of memory";
    case TS_ERR_IO: return "i/o";
    case TS_ERR_INVALID: return "invalid";
    case TS_ERR_FORMAT: return "format";
    case TS_ERR_NOTFOUND: return "not found";
    case TS_ERR_CONN: return "connection";
    case TS_ERR_AUTH: return "auth";
    case TS_ERR_CONFLICT: return "conflict";
    case TS_ERR_TIMEOUT: return "timeout";
    case TS_ERR_UNSUPPORTED: return "unsupported";
    case TS_ERR_INTERNAL: return "internal";
    case TS_ERR_TOOBIG: return "too big";
    case TS_ERR_REMOTE: return "remote";
    case TS_ERR_EXISTS: return "exists";
    default: return "unknown";
    }
}
