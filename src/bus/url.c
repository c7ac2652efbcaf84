/* url.c: parsing of redis:// and rediss:// URLs for bus/; the password never reaches an
 * error. */
#include "url.h"

#include <string.h>
#include <strings.h>

#include "common/alloc.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into a new string; NULL on a bad escape, a decoded NUL or no
 * memory (*nomem tells which). */
static char *pct_decode(const char *s, size_t n, int *nomem)
{
    char *o = ts_malloc(n + 1);
    size_t j = 0;
    *nomem = o == NULL;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (n - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0 ||
                (hexval(s[i + 1]) == 0 && hexval(s[i + 2]) == 0)) {
                explicit_bzero(o, n + 1);
                ts_free(o);
                return NULL;
            }
            o[j++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else {
            o[j++] = s[i];
        }
    }
    o[j] = '\0';
    return o;
}

static int parse_uint(const char *s, size_t n, long max, long *out)
{
    long v = 0;
    if (n == 0 || n > 10)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

void bus_url_clear(bus_url *u)
{
    if (!u)
        return;
    if (u->password) {
        explicit_bzero(u->password, strlen(u->password));
        ts_free(u->password);
    }
    ts_free(u->user);
    memset(u, 0, sizeof *u);
}

int bus_url_parse(const char *s, bus_url *u, ts_err *err)
{
    int rc = TS_OK, nomem = 0;
    long v;
    memset(u, 0, sizeof *u);
    u->port = 6379;
    if (!s || !*s)
        return ts_err_set(err, TS_ERR_INVALID, "redis url: empty");
    const char *p;
    if (strncasecmp(s, "rediss://", 9) == 0) {
        u->tls = 1;
        p = s + 9;
    } else if (strncasecmp(s, "redis://", 8) == 0) {
        p = s + 8;
    } else {
        return ts_err_set(err, TS_ERR_INVALID,
                          "redis url: must start with \"redis://\" or \"rediss://\"");
    }
    const char *end = p + strlen(p);
    /* userinfo: up to the last '@' (a password may hold '@' or '/' unescaped) */
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon) {
            rc = ts_err_set(err, TS_ERR_INVALID,
                            "redis url: credentials must be written as \"[user]:password@\"");
            goto out;
        }
        if (colon > p && !(u->user = pct_decode(p, (size_t)(colon - p), &nomem))) {
            rc = nomem ? ts_err_set(err, TS_ERR_NOMEM, "out of memory")
                       : ts_err_set(err, TS_ERR_INVALID, "redis url: bad %%-escape in the user name");
            goto out;
        }
        if (!(u->password = pct_decode(colon + 1, (size_t)(at - colon - 1), &nomem))) {
            rc = nomem ? ts_err_set(err, TS_ERR_NOMEM, "out of memory")
                       : ts_err_set(err, TS_ERR_INVALID, "redis url: bad %%-escape in the password");
            goto out;
        }
        if (!u->password[0]) {
            ts_free(u->password);
            u->password = NULL;
        }
        p = at + 1;
    }
    /* host[:port] up to '/' */
    const char *slash = memchr(p, '/', (size_t)(end - p));
    const char *hend = slash ? slash : end;
    if (memchr(p, '?', (size_t)(hend - p)) || memchr(p, '#', (size_t)(hend - p)) ||
        (slash && (memchr(slash, '?', (size_t)(end - slash)) || memchr(slash, '#', (size_t)(end - slash))))) {
        rc = ts_err_set(err, TS_ERR_INVALID, "redis url: query parameters are not supported");
        goto out;
    }
    const char *hs = p, *he, *portp = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', (size_t)(hend - p));
        if (!rb) {
            rc = ts_err_set(err, TS_ERR_INVALID, "redis url: unterminated \"[\" in the host");
            goto out;
        }
        hs = p + 1;
        he = rb;
        if (rb + 1 < hend) {
            if (rb[1] != ':') {
                rc = ts_err_set(err, TS_ERR_INVALID, "redis url: junk after \"]\" in the host");
                goto out;
            }
            portp = rb + 2;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(hend - p));
        he = colon ? colon : hend;
        if (colon)
            portp = colon + 1;
    }
    if (he == hs || (size_t)(he - hs) >= sizeof u->host) {
        rc = ts_err_set(err, TS_ERR_INVALID, "redis url: missing or too long host");
        goto out;
    }
    for (const char *q = hs; q < he; q++) {
        if ((unsigned char)*q <= ' ' || *q == 0x7f || *q == '@' || *q == '[' || *q == ']') {
            rc = ts_err_set(err, TS_ERR_INVALID, "redis url: bad character in the host");
            goto out;
        }
    }
    memcpy(u->host, hs, (size_t)(he - hs));
    u->host[he - hs] = '\0';
    if (portp) {
        if (parse_uint(portp, (size_t)(hend - portp), 65535, &v) || v == 0) {
            rc = ts_err_set(err, TS_ERR_INVALID, "redis url: port must be 1..65535");
            goto out;
        }
        u->port = (int)v;
    }
    if (slash && slash + 1 < end) {
        if (parse_uint(slash + 1, (size_t)(end - slash - 1), 1000000, &v)) {
            rc = ts_err_set(err, TS_ERR_INVALID, "redis url: database must be a number, as in \"/0\"");
            goto out;
        }
        u->db = (int)v;
    }
out:
    if (rc)
        bus_url_clear(u);
    return rc;
}
