/* buf.c: growable byte buffer with a cap. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"

void ts_buf_init(ts_buf *b, size_t limit)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->limit = limit ? limit : SIZE_MAX;
}

void ts_buf_free(ts_buf *b)
{
    ts_free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

int ts_buf_reserve(ts_buf *b, size_t n)
{
    size_t need, ncap;
    uint8_t *p;
    if (n > b->limit - b->len)
        return TS_ERR_TOOBIG;
    need = b->len + n + 1; /* room for a terminating NUL */
    if (need <= b->cap)
        return TS_OK;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    p = ts_realloc(b->data, ncap);
    if (!p)
        return TS_ERR_NOMEM;
    b->data = p;
    b->cap = ncap;
    return TS_OK;
}

int ts_buf_append(ts_buf *b, const void *p, size_t n)
{
    int rc = ts_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return TS_OK;
}

int ts_buf_putc(ts_buf *b, uint8_t c)
{
    return ts_buf_append(b, &c, 1);
}

int ts_buf_printf(ts_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return TS_ERR_INVALID;
    rc = ts_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return TS_OK;
}

const char *ts_buf_cstr(ts_buf *b)
{
    if (!b->data || ts_buf_reserve(b, 0) != TS_OK)
        return "";
    b->data[b->len] = '\0';
    return (const char *)b->data;
}
