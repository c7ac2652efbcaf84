/* value.c: values as the Delta log writes them: timestamps and dates in stats, numbers,
 * JSON strings, UTF-8 prefixes and Spark's string bounds; data-file paths as URIs. */
#include "delta_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/tstime.h"
#include "lake/lake.h"

/* ---- times ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Years 1..9999: what Spark's timestamps, dates and their JSON forms hold. */
#define DAY_MIN INT64_C(-719162) /* 0001-01-01 */
#define DAY_MAX INT64_C(2932896) /* 9999-12-31 */

int delta_format_date(int64_t days, char *out, size_t outsz)
{
    int64_t y;
    int m, d;
    if (days < DAY_MIN || days > DAY_MAX)
        return -1;
    ts_civil_from_days(days, &y, &m, &d);
    snprintf(out, outsz, "%04d-%02d-%02d", (int)y, m, d);
    return 0;
}

int delta_format_timestamp(int64_t us, bool utc, bool round_up, char *out, size_t outsz)
{
    int64_t ms = floor_div(us, 1000);
    if (round_up && ms * 1000 != us)
        ms++;
    int64_t days = floor_div(ms, 86400000), rem = ms - days * 86400000, y;
    int m, d;
    if (days < DAY_MIN || days > DAY_MAX)
        return -1;
    ts_civil_from_days(days, &y, &m, &d);
    snprintf(out, outsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03d%s", (int)y, m, d, (int)(rem / 3600000),
             (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), (int)(rem % 1000), utc ? "Z" : "");
    return 0;
}

void delta_format_double(double d, char *out, size_t outsz)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(out, outsz, "%.*g", p, d);
        if (strtod(out, NULL) == d)
            break;
    }
    for (char *c = out; *c; c++)
        if (*c == ',') /* a locale's decimal comma */
            *c = '.';
    if (!strpbrk(out, ".eE") && strlen(out) + 3 <= outsz)
        strcat(out, ".0");
}

/* ---- UTF-8 ---- */

/* Decodes one code point: its length (1-4), or -1 when the bytes are not valid UTF-8
 * (truncated, overlong, surrogate, beyond U+10FFFF). */
static int utf8_next(const uint8_t *s, size_t len, uint32_t *cp)
{
    uint8_t c = s[0];
    int n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        v = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        v = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        v = c & 0x07;
        min = 0x10000;
    } else {
        return -1;
    }
    if (len < (size_t)n)
        return -1;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        v = v << 6 | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return -1;
    *cp = v;
    return n;
}

long delta_utf8_prefix(const uint8_t *s, size_t len, int units, bool *more)
{
    size_t pos = 0;
    int u = 0;
    while (pos < len && u < units) {
        uint32_t cp;
        int n = utf8_next(s + pos, len - pos, &cp);
        if (n < 0)
            return -1;
        u += cp >= 0x10000 ? 2 : 1;
        pos += (size_t)n;
    }
    if (more)
        *more = pos < len;
    return (long)pos;
}

int delta_json_string(ts_buf *b, const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s;
    int rc = ts_buf_putc(b, '"');
    size_t i = 0;
    while (rc == TS_OK && i < len) {
        uint32_t cp;
        int n = utf8_next(p + i, len - i, &cp);
        if (n < 0)
            return TS_ERR_FORMAT;
        if (cp == '"' || cp == '\\') {
            char e[2] = {'\\', (char)cp};
            rc = ts_buf_append(b, e, 2);
        } else if (cp < 0x20) {
            static const char short_esc[] = "btn\0fr"; /* 0x08..0x0d */
            if (cp >= 0x08 && cp <= 0x0d && short_esc[cp - 8])
                rc = ts_buf_printf(b, "\\%c", short_esc[cp - 8]);
            else
                rc = ts_buf_printf(b, "\\u%04x", (unsigned)cp);
        } else {
            rc = ts_buf_append(b, p + i, (size_t)n);
        }
        i += (size_t)n;
    }
    if (rc == TS_OK)
        rc = ts_buf_putc(b, '"');
    return rc;
}

int delta_string_min(ts_buf *b, const uint8_t *s, size_t len, int prefix)
{
    long n = delta_utf8_prefix(s, len, prefix, NULL);
    if (n < 0)
        return 1;
    return delta_json_string(b, (const char *)s, (size_t)n);
}

/* Spark's StatisticsCollection.truncateMaxStringAgg, on UTF-8: keep the first `prefix`
 * UTF-16 units, then append U+007F when the next character is below it, else
 * U+10FFFF (skipping U+10FFFF characters of the string itself, up to 2 x prefix
 * units). Either way the result sorts (bytewise, as UTF-8 strings compare) after every
 * string that is <= the original and starts with the kept prefix. */
int delta_string_max(ts_buf *b, const uint8_t *s, size_t len, int prefix)
{
    static const char max_cp[] = "\xf4\x8f\xbf\xbf"; /* U+10FFFF */
    bool more;
    long pos = delta_utf8_prefix(s, len, prefix, &more);
    int rc, u;
    if (pos < 0)
        return 1;
    if (!more)
        return delta_json_string(b, (const char *)s, len);
    /* units counted exactly: a pair at the boundary makes it prefix + 1 */
    u = 0;
    for (long i = 0; i < pos;) {
        uint32_t cp;
        int n = utf8_next(s + i, len - (size_t)i, &cp);
        u += cp >= 0x10000 ? 2 : 1;
        i += n;
    }
    while (u <= 2 * prefix) {
        uint32_t cp;
        int n;
        if ((size_t)pos >= len)
            return delta_json_string(b, (const char *)s, len);
        n = utf8_next(s + pos, len - (size_t)pos, &cp);
        if (n < 0)
            return 1;
        if (cp == 0x10ffff) {
            pos += n;
            u += 2;
            continue;
        }
        ts_buf tmp;
        ts_buf_init(&tmp, 0);
        rc = ts_buf_append(&tmp, s, (size_t)pos);
        if (rc == TS_OK)
            rc = cp < 0x7f ? ts_buf_putc(&tmp, 0x7f) : ts_buf_append(&tmp, max_cp, 4);
        if (rc == TS_OK)
            rc = delta_json_string(b, (const char *)tmp.data, tmp.len);
        ts_buf_free(&tmp);
        return rc;
    }
    return 1;
}

/* ---- paths ---- */

static bool uri_keep(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~' || c == '/' || c == '=';
}

char *delta_uri_encode(const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const uint8_t *p = (const uint8_t *)path; *p; p++)
        n += uri_keep(*p) ? 1 : 3;
    char *out = ts_malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (const uint8_t *p = (const uint8_t *)path; *p; p++) {
        if (uri_keep(*p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

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

int delta_uri_decode(const char *s, char **out, ts_err *err)
{
    size_t n = strlen(s);
    char *r = ts_malloc(n + 1), *o = r;
    *out = NULL;
    if (!r)
        return ts_err_set(err, TS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int hi = hexval(s[i + 1]); /* s is NUL-terminated: no read past it */
        int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            ts_free(r);
            return ts_err_set(err, TS_ERR_FORMAT, "bad %%-escape at byte %zu of path", i);
        }
        *o++ = (char)(hi << 4 | lo);
        i += 2;
    }
    *o = '\0';
    *out = r;
    return TS_OK;
}

int delta_path_check(const char *path, ts_err *err)
{
    ts_err e;
    ts_err_clear(&e);
    if (lake_path_check(path, &e) != TS_OK)
        return ts_err_set(err, TS_ERR_INVALID, "data file path: %s", e.msg);
    const char *slash = strchr(path, '/'), *colon = strchr(path, ':');
    if (colon && (!slash || colon < slash))
        return ts_err_set(err, TS_ERR_UNSUPPORTED,
                          "data file path \"%s\" is an absolute URI; tsarchive reads only "
                          "paths relative to the table",
                          path);
    for (const char *c = path; (slash = strchr(c, '/')) != NULL; c = slash + 1)
        if (*c == '_' || *c == '.')
            return ts_err_set(err, TS_ERR_INVALID,
                              "data file path \"%s\" is in a hidden folder (a name starting "
                              "with '_' or '.')",
                              path);
    return TS_OK;
}
