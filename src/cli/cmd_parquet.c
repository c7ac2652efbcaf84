/* cmd_parquet.c: `tsarchive parquet inspect` (footer, schema, row groups, column chunks
 * and statistics as JSON or a table) and `tsarchive parquet cat` (rows as JSON lines or
 * CSV), on top of the Parquet reader. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "commands.h"
#include "common/buf.h"
#include "common/tstime.h"
#include "parquet/reader.h"

/* ---- value formatting ---- */

typedef enum { V_NULL, V_BOOL, V_NUMBER, V_STRING } vkind;

typedef struct fmt_opts {
    bool hex; /* bytes as hex instead of base64 */
} fmt_opts;

/* A column's type as the formatter needs it. */
typedef struct vtype {
    int physical, type_length;
    pq_logical logical;
    int precision, scale, bit_width;
    bool is_signed, ts_utc;
    pq_time_unit unit;
    int logical_kind, converted_type;
} vtype;

static void vtype_from_node(vtype *t, const pq_schema_node *n)
{
    t->physical = n->physical;
    t->type_length = n->type_length;
    t->logical = n->logical;
    t->precision = n->lt_precision >= 0 ? n->lt_precision : n->precision;
    t->scale = n->lt_scale >= 0 ? n->lt_scale : (n->scale >= 0 ? n->scale : 0);
    t->bit_width = n->bit_width;
    t->is_signed = n->is_signed;
    t->ts_utc = n->ts_utc;
    t->unit = n->time_unit;
    t->logical_kind = n->logical_kind;
    t->converted_type = n->converted_type;
}

/* Appends; errors surface as the buffer's cap or NOMEM in the caller's final check. */
static int put(ts_buf *b, const char *s, size_t n)
{
    return ts_buf_append(b, s, n);
}

static int puts_(ts_buf *b, const char *s)
{
    return ts_buf_append(b, s, strlen(s));
}

static int put_base64(ts_buf *b, const uint8_t *p, size_t n)
{
    /* OpenSSL's encoder, in slices so a huge value needs no huge buffer */
    unsigned char q[4 * 1024 + 1];
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i += 3 * 1024) {
        size_t k = n - i < 3 * 1024 ? n - i : 3 * 1024;
        int len = EVP_EncodeBlock(q, p + i, (int)k);
        rc = put(b, (const char *)q, (size_t)len);
    }
    return rc;
}

static int put_hex(ts_buf *b, const uint8_t *p, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    int rc = ts_buf_reserve(b, n * 2);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char q[2] = {hx[p[i] >> 4], hx[p[i] & 15]};
        rc = put(b, q, 2);
    }
    return rc;
}

static bool valid_utf8(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* A copy of s with every byte that is not part of valid UTF-8 replaced by U+FFFD, so
 * names and metadata from a hostile file still make valid JSON. Caller frees. */
static char *utf8_clean(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t len = 1;
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x80)
            len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        if (len && len <= n - i && valid_utf8((const uint8_t *)s + i, len)) {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    return out;
}

/* json_string that never fails on bad UTF-8 (NULL only when out of memory). */
static json_t *jstr(const char *s)
{
    char *c = utf8_clean(s ? s : "");
    json_t *j = c ? json_string(c) : NULL;
    free(c);
    return j;
}

/* json_object_set_new with a key from the file. */
static void jset(json_t *o, const char *key, json_t *v)
{
    char *c = utf8_clean(key);
    if (c)
        json_object_set_new(o, c, v);
    else
        json_decref(v);
    free(c);
}

static int put_date(ts_buf *b, int64_t days)
{
    int64_t y;
    int m, d;
    ts_civil_from_days(days, &y, &m, &d);
    if (y >= 0 && y <= 9999)
        return ts_buf_printf(b, "%04" PRId64 "-%02d-%02d", y, m, d);
    return ts_buf_printf(b, "%+05" PRId64 "-%02d-%02d", y, m, d);
}

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* v units since the epoch (per = units per second, digits of fraction). */
static int put_timestamp(ts_buf *b, int64_t v, int64_t per, int digits, bool utc)
{
    int64_t secs = floordiv(v, per);
    int64_t frac = v - secs * per;
    int64_t days = floordiv(secs, 86400);
    int64_t sod = secs - days * 86400;
    int rc = put_date(b, days);
    if (rc == 0)
        rc = ts_buf_printf(b, "T%02d:%02d:%02d", (int)(sod / 3600), (int)(sod / 60 % 60),
                           (int)(sod % 60));
    if (rc == 0 && digits > 0)
        rc = ts_buf_printf(b, ".%0*" PRId64, digits, frac);
    if (rc == 0 && utc)
        rc = puts_(b, "Z");
    return rc;
}

static int put_time_of_day(ts_buf *b, int64_t v, int64_t per, int digits)
{
    if (v < 0 || v > 86400 * per)
        return ts_buf_printf(b, "%" PRId64, v);
    int64_t secs = v / per, frac = v % per;
    int rc = ts_buf_printf(b, "%02d:%02d:%02d", (int)(secs / 3600), (int)(secs / 60 % 60),
                           (int)(secs % 60));
    if (rc == 0 && digits > 0)
        rc = ts_buf_printf(b, ".%0*" PRId64, digits, frac);
    return rc;
}

static int put_double(ts_buf *b, double d, bool is_float)
{
    char tmp[64];
    for (int prec = is_float ? 6 : 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (is_float ? (float)strtod(tmp, NULL) == (float)d : strtod(tmp, NULL) == d)
            break;
    }
    return puts_(b, tmp);
}

static double half_to_double(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
    return (h & 0x8000) ? -v : v;
}

static int64_t unit_per(pq_time_unit u)
{
    return u == PQ_UNIT_MILLIS ? 1000 : u == PQ_UNIT_MICROS ? 1000000 : 1000000000;
}

static int unit_digits(pq_time_unit u)
{
    return u == PQ_UNIT_MILLIS ? 3 : u == PQ_UNIT_MICROS ? 6 : 9;
}

/* Formats v as text into b; *kind says how to quote it. */
static int format_value(const vtype *t, const pq_value *v, const fmt_opts *o, ts_buf *b,
                        vkind *kind)
{
    char tmp[256];
    if (v->is_null) {
        *kind = V_NULL;
        return 0;
    }
    *kind = V_STRING;
    switch (t->physical) {
    case PQ_BOOLEAN:
        *kind = V_BOOL;
        return puts_(b, v->v.b ? "true" : "false");
    case PQ_INT32:
        switch (t->logical) {
        case PQ_LT_DATE:
            return put_date(b, v->v.i32);
        case PQ_LT_DECIMAL:
            if (pq_decimal_format_i64(v->v.i32, t->scale, tmp, sizeof tmp) == 0)
                return puts_(b, tmp);
            break;
        case PQ_LT_TIME:
            return put_time_of_day(b, v->v.i32, unit_per(t->unit), unit_digits(t->unit));
        case PQ_LT_INT:
            if (!t->is_signed) {
                *kind = V_NUMBER;
                return ts_buf_printf(b, "%" PRIu32, (uint32_t)v->v.i32);
            }
            break;
        default:
            break;
        }
        *kind = V_NUMBER;
        return ts_buf_printf(b, "%" PRId32, v->v.i32);
    case PQ_INT64:
        switch (t->logical) {
        case PQ_LT_TIMESTAMP:
            return put_timestamp(b, v->v.i64, unit_per(t->unit), unit_digits(t->unit), t->ts_utc);
        case PQ_LT_TIME:
            return put_time_of_day(b, v->v.i64, unit_per(t->unit), unit_digits(t->unit));
        case PQ_LT_DECIMAL:
            if (pq_decimal_format_i64(v->v.i64, t->scale, tmp, sizeof tmp) == 0)
                return puts_(b, tmp);
            break;
        case PQ_LT_INT:
            if (!t->is_signed) {
                *kind = V_NUMBER;
                return ts_buf_printf(b, "%" PRIu64, (uint64_t)v->v.i64);
            }
            break;
        default:
            break;
        }
        *kind = V_NUMBER;
        return ts_buf_printf(b, "%" PRId64, v->v.i64);
    case PQ_INT96: {
        /* Impala's legacy timestamp: nanoseconds of the day, then the Julian day. */
        uint64_t nanos = 0;
        uint32_t jd = 0;
        for (int i = 7; i >= 0; i--)
            nanos = nanos << 8 | v->v.i96[i];
        for (int i = 11; i >= 8; i--)
            jd = jd << 8 | v->v.i96[i];
        int64_t days = (int64_t)jd - 2440588;
        if (nanos >= 86400ull * 1000000000ull)
            return put_hex(b, v->v.i96, 12);
        int rc = put_date(b, days);
        uint64_t s = nanos / 1000000000ull;
        if (rc == 0)
            rc = ts_buf_printf(b, "T%02u:%02u:%02u.%09" PRIu64 "Z", (unsigned)(s / 3600),
                               (unsigned)(s / 60 % 60), (unsigned)(s % 60),
                               (uint64_t)(nanos % 1000000000ull));
        return rc;
    }
    case PQ_FLOAT:
    case PQ_DOUBLE: {
        double d = t->physical == PQ_FLOAT ? (double)v->v.f : v->v.d;
        if (isnan(d))
            return puts_(b, "NaN");
        if (isinf(d))
            return puts_(b, d > 0 ? "Infinity" : "-Infinity");
        *kind = V_NUMBER;
        return put_double(b, d, t->physical == PQ_FLOAT);
    }
    default: {
        const uint8_t *p = v->v.bin.ptr;
        size_t n = v->v.bin.len;
        if (t->logical == PQ_LT_DECIMAL && pq_decimal_format(p, n, t->scale, tmp, sizeof tmp) == 0)
            return puts_(b, tmp);
        if (t->logical == PQ_LT_UUID && n == 16) {
            int rc = 0;
            for (int i = 0; i < 16 && rc == 0; i++) {
                if (i == 4 || i == 6 || i == 8 || i == 10)
                    rc = puts_(b, "-");
                if (rc == 0)
                    rc = put_hex(b, p + i, 1);
            }
            return rc;
        }
        if (t->logical_kind == 15 && n == 2) { /* FLOAT16 */
            double d = half_to_double((uint16_t)(p[0] | p[1] << 8));
            if (isnan(d) || isinf(d))
                return puts_(b, isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
            *kind = V_NUMBER;
            return put_double(b, d, true);
        }
        bool text =
            t->logical == PQ_LT_STRING || t->logical == PQ_LT_ENUM || t->logical == PQ_LT_JSON;
        if (text && valid_utf8(p, n))
            return put(b, (const char *)p, n);
        return o->hex ? put_hex(b, p, n) : put_base64(b, p, n);
    }
    }
}

static int put_json_string(ts_buf *b, const char *s, size_t n)
{
    int rc = puts_(b, "\"");
    size_t run = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        rc = put(b, s + i - run, run);
        run = 0;
        if (rc)
            break;
        switch (c) {
        case '"':
            rc = puts_(b, "\\\"");
            break;
        case '\\':
            rc = puts_(b, "\\\\");
            break;
        case '\n':
            rc = puts_(b, "\\n");
            break;
        case '\r':
            rc = puts_(b, "\\r");
            break;
        case '\t':
            rc = puts_(b, "\\t");
            break;
        default:
            rc = ts_buf_printf(b, "\\u%04x", c);
            break;
        }
    }
    if (rc == 0)
        rc = put(b, s + n - run, run);
    if (rc == 0)
        rc = puts_(b, "\"");
    return rc;
}

/* Appends v as a JSON value. */
static int put_json_value(const vtype *t, const pq_value *v, const fmt_opts *o, ts_buf *b,
                          ts_buf *tmp)
{
    vkind k;
    tmp->len = 0;
    int rc = format_value(t, v, o, tmp, &k);
    if (rc)
        return rc;
    switch (k) {
    case V_NULL:
        return puts_(b, "null");
    case V_BOOL:
    case V_NUMBER:
        return put(b, (const char *)tmp->data, tmp->len);
    default:
        return put_json_string(b, tmp->len ? (const char *)tmp->data : "", tmp->len);
    }
}

static int put_json_cell(const vtype *t, const pq_cell *c, const fmt_opts *o, ts_buf *b,
                         ts_buf *tmp)
{
    if (!c->is_list)
        return put_json_value(t, &c->items[0], o, b, tmp);
    if (c->is_null)
        return puts_(b, "null");
    int rc = puts_(b, "[");
    for (size_t i = 0; i < c->n && rc == 0; i++) {
        if (i)
            rc = puts_(b, ",");
        if (rc == 0)
            rc = put_json_value(t, &c->items[i], o, b, tmp);
    }
    return rc ? rc : puts_(b, "]");
}

static int put_csv_field(ts_buf *b, const char *s, size_t n, bool force_quote)
{
    bool q = force_quote || n == 0;
    for (size_t i = 0; i < n && !q; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\n' || s[i] == '\r')
            q = true;
    if (!q)
        return put(b, s, n);
    int rc = puts_(b, "\"");
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = s[i] == '"' ? puts_(b, "\"\"") : put(b, s + i, 1);
    return rc ? rc : puts_(b, "\"");
}

/* ---- parquet cat ---- */

static void cat_usage(FILE *f)
{
    fprintf(
        f,
        "usage: tsarchive parquet cat FILE [--limit N] [--format jsonl|csv] [--bytes base64|hex]\n"
        "Prints the rows of a Parquet file.\n"
        "  --limit N        at most N rows\n"
        "  --format jsonl   one JSON object per row (default); csv: a header, then rows\n"
        "  --bytes base64   binary values (BYTE_ARRAY without a text type, BSON, fixed-size\n"
        "                   bytes) as base64 (default); hex: as lowercase hex\n"
        "Timestamps print as RFC 3339 (UTC-adjusted ones with \"Z\", local ones without an\n"
        "offset), dates as YYYY-MM-DD, decimals as exact strings (\"-12.340\"), UUIDs in\n"
        "canonical form, NaN and infinities as strings, lists as JSON arrays. In CSV, NULL\n"
        "is an empty field and the empty string is \"\".\n");
}

static int flush_out(ts_buf *b)
{
    if (b->len && fwrite(b->data, 1, b->len, stdout) != b->len)
        return -1;
    b->len = 0;
    return 0;
}

int cmd_parquet_cat(const ts_config *cfg, int argc, char **argv)
{
    const char *path = NULL, *format = "jsonl";
    long long limit = -1;
    fmt_opts o = {false};
    pq_reader *r = NULL;
    const pq_reader_column *cols;
    vtype *vt = NULL;
    char **names = NULL;
    int ncols = 0, rc = TS_EXIT_FAIL, st;
    ts_buf out, tmp;
    ts_err err;

    (void)cfg;
    ts_err_clear(&err);
    ts_buf_init(&out, 0);
    ts_buf_init(&tmp, 0);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            cat_usage(stdout);
            rc = TS_EXIT_OK;
            goto out;
        } else if (strcmp(a, "--limit") == 0 || strcmp(a, "-n") == 0) {
            char *end;
            if (i + 1 >= argc) {
                cli_errorf("option \"%s\" needs a number", a);
                rc = TS_EXIT_USAGE;
                goto out;
            }
            errno = 0;
            limit = strtoll(argv[++i], &end, 10);
            if (errno || *end || end == argv[i] || limit < 0) {
                cli_errorf("invalid --limit \"%s\": expected a number >= 0", argv[i]);
                rc = TS_EXIT_USAGE;
                goto out;
            }
        } else if (strcmp(a, "--format") == 0) {
            if (i + 1 >= argc || (strcmp(argv[i + 1], "jsonl") && strcmp(argv[i + 1], "csv"))) {
                cli_errorf("option \"--format\" takes jsonl or csv");
                rc = TS_EXIT_USAGE;
                goto out;
            }
            format = argv[++i];
        } else if (strcmp(a, "--bytes") == 0) {
            if (i + 1 >= argc || (strcmp(argv[i + 1], "hex") && strcmp(argv[i + 1], "base64"))) {
                cli_errorf("option \"--bytes\" takes base64 or hex");
                rc = TS_EXIT_USAGE;
                goto out;
            }
            o.hex = strcmp(argv[++i], "hex") == 0;
        } else if (a[0] == '-' && a[1]) {
            cli_errorf("unknown option \"%s\" (see tsarchive parquet cat --help)", a);
            rc = TS_EXIT_USAGE;
            goto out;
        } else if (!path) {
            path = a;
        } else {
            cli_errorf("unexpected argument \"%s\"", a);
            rc = TS_EXIT_USAGE;
            goto out;
        }
    }
    if (!path) {
        cat_usage(stderr);
        rc = TS_EXIT_USAGE;
        goto out;
    }
    if (pq_reader_open_file(&r, path, NULL, &err) != 0 ||
        pq_reader_columns(r, &cols, &ncols, &err) != 0) {
        cli_errorf("%s", err.msg);
        goto out;
    }
    vt = calloc((size_t)(ncols ? ncols : 1), sizeof *vt);
    if (!vt) {
        cli_errorf("out of memory");
        goto out;
    }
    const pq_file_meta *m = pq_reader_meta(r);
    names = calloc((size_t)(ncols ? ncols : 1), sizeof *names);
    if (!names) {
        cli_errorf("out of memory");
        goto out;
    }
    for (int c = 0; c < ncols; c++) {
        vtype_from_node(&vt[c], &m->schema[cols[c].node]);
        if (!(names[c] = utf8_clean(cols[c].spec.name))) {
            cli_errorf("out of memory");
            goto out;
        }
    }
    bool csv = strcmp(format, "csv") == 0;
    if (csv) {
        for (int c = 0; c < ncols && rc != -2; c++) {
            if ((c && puts_(&out, ",")) || put_csv_field(&out, names[c], strlen(names[c]), false))
                rc = -2;
        }
        if (rc == -2 || puts_(&out, "\n")) {
            cli_errorf("out of memory");
            rc = TS_EXIT_FAIL;
            goto out;
        }
    }
    for (long long n = 0; limit < 0 || n < limit; n++) {
        st = pq_reader_next_row(r, &err);
        if (st < 0) {
            flush_out(&out);
            cli_errorf("%s: %s", path, err.msg);
            rc = TS_EXIT_FAIL;
            goto out;
        }
        if (st == 0)
            break;
        int brc = 0;
        if (!csv)
            brc = puts_(&out, "{");
        for (int c = 0; c < ncols && brc == 0; c++) {
            const pq_cell *cell = pq_reader_cell(r, c);
            if (!csv) {
                if (c)
                    brc = puts_(&out, ",");
                if (brc == 0)
                    brc = put_json_string(&out, names[c], strlen(names[c]));
                if (brc == 0)
                    brc = puts_(&out, ":");
                if (brc == 0)
                    brc = put_json_cell(&vt[c], cell, &o, &out, &tmp);
                continue;
            }
            if (c)
                brc = puts_(&out, ",");
            if (brc)
                break;
            if (cell->is_list) {
                ts_buf lb;
                ts_buf_init(&lb, 0);
                brc = cell->is_null ? 0 : put_json_cell(&vt[c], cell, &o, &lb, &tmp);
                if (brc == 0 && !cell->is_null)
                    brc = put_csv_field(&out, (const char *)lb.data, lb.len, true);
                ts_buf_free(&lb);
            } else {
                vkind k;
                tmp.len = 0;
                brc = format_value(&vt[c], &cell->items[0], &o, &tmp, &k);
                if (brc == 0 && k != V_NULL)
                    brc = put_csv_field(&out, tmp.len ? (const char *)tmp.data : "", tmp.len,
                                        k == V_STRING && tmp.len == 0);
            }
        }
        if (brc == 0)
            brc = puts_(&out, csv ? "\n" : "}\n");
        if (brc) {
            cli_errorf("out of memory");
            rc = TS_EXIT_FAIL;
            goto out;
        }
        if (out.len >= 1 << 16 && flush_out(&out)) {
            cli_errorf("could not write the output: %s", strerror(errno));
            rc = TS_EXIT_FAIL;
            goto out;
        }
    }
    if (flush_out(&out) || fflush(stdout) != 0) {
        cli_errorf("could not write the output: %s", strerror(errno));
        rc = TS_EXIT_FAIL;
        goto out;
    }
    rc = TS_EXIT_OK;
out:
    if (names)
        for (int c = 0; c < ncols; c++)
            free(names[c]);
    free(names);
    free(vt);
    ts_buf_free(&out);
    ts_buf_free(&tmp);
    pq_reader_free(r);
    return rc;
}

/* ---- parquet inspect ---- */

static void inspect_usage(FILE *f)
{
    fprintf(f, "usage: tsarchive parquet inspect FILE [--text]\n"
               "Shows a Parquet file's footer as JSON: schema with logical types, flattened\n"
               "columns, row groups, column chunks (encodings, codec, compressed and\n"
               "uncompressed sizes, statistics decoded per type) and key-value metadata.\n"
               "  --text   a table for humans instead\n"
               "Binary statistics print as base64.\n");
}

static const char *codec_name(int c)
{
    const char *n = pq_codec_name(c);
    return n ? n : "unknown";
}

/* Decodes a PLAIN statistics value (byte arrays without length) of type t. */
static bool stat_value(const vtype *t, const uint8_t *p, size_t n, pq_value *v)
{
    memset(v, 0, sizeof *v);
    switch (t->physical) {
    case PQ_BOOLEAN:
        if (n != 1)
            return false;
        v->v.b = p[0] != 0;
        return true;
    case PQ_INT32:
    case PQ_FLOAT:
        if (n != 4)
            return false;
        memcpy(&v->v.i32, p, 4);
        return true;
    case PQ_INT64:
    case PQ_DOUBLE:
        if (n != 8)
            return false;
        memcpy(&v->v.i64, p, 8);
        return true;
    case PQ_INT96:
        if (n != 12)
            return false;
        memcpy(v->v.i96, p, 12);
        return true;
    default:
        v->v.bin.ptr = p;
        v->v.bin.len = n;
        return true;
    }
}

/* The statistic as text into b (for --text) or as JSON. */
static json_t *stat_json(const vtype *t, const uint8_t *p, size_t n)
{
    pq_value v;
    vkind k;
    fmt_opts o = {false};
    ts_buf b;
    json_t *j = NULL;
    ts_buf_init(&b, 0);
    if (!stat_value(t, p, n, &v) || format_value(t, &v, &o, &b, &k) != 0) {
        ts_buf_reset(&b);
        if (put_base64(&b, p, n) == 0)
            j = json_pack("{s:s}", "base64", ts_buf_cstr(&b));
        ts_buf_free(&b);
        return j;
    }
    const char *s = ts_buf_cstr(&b);
    if (k == V_BOOL)
        j = json_boolean(v.v.b);
    else if (k == V_NUMBER) {
        char *end;
        errno = 0;
        long long ll = strtoll(s, &end, 10);
        if (*end == '\0' && errno == 0)
            j = json_integer(ll);
        else if (t->physical == PQ_FLOAT || t->physical == PQ_DOUBLE)
            j = json_real(strtod(s, NULL));
        else
            j = json_string(s);
    } else
        j = json_stringn(s, b.len);
    ts_buf_free(&b);
    return j;
}

static json_t *logical_json(const pq_schema_node *n)
{
    if (n->logical_kind == 0 && n->converted_type < 0)
        return json_null();
    static const char *mapped[] = {NULL,        "STRING",  "ENUM",    "JSON", "UUID", "DATE",
                                   "TIMESTAMP", "DECIMAL", "INTEGER", "BSON", "TIME"};
    json_t *j = json_object();
    const char *name =
        n->logical != PQ_LT_NONE && (size_t)n->logical < sizeof mapped / sizeof *mapped
            ? mapped[n->logical]
        : n->logical_kind ? pq_logical_kind_name(n->logical_kind)
                          : pq_converted_type_name(n->converted_type);
    json_object_set_new(j, "type", json_string(name));
    switch (n->logical) {
    case PQ_LT_DECIMAL:
        json_object_set_new(j, "precision",
                            json_integer(n->lt_precision >= 0 ? n->lt_precision : n->precision));
        json_object_set_new(j, "scale",
                            json_integer(n->lt_scale >= 0 ? n->lt_scale
                                         : n->scale >= 0  ? n->scale
                                                          : 0));
        break;
    case PQ_LT_TIMESTAMP:
    case PQ_LT_TIME:
        json_object_set_new(j, "unit",
                            json_string(n->time_unit == PQ_UNIT_MILLIS   ? "MILLIS"
                                        : n->time_unit == PQ_UNIT_MICROS ? "MICROS"
                                                                         : "NANOS"));
        json_object_set_new(j, "is_adjusted_to_utc", json_boolean(n->ts_utc));
        break;
    case PQ_LT_INT:
        json_object_set_new(j, "bit_width", json_integer(n->bit_width));
        json_object_set_new(j, "is_signed", json_boolean(n->is_signed));
        break;
    default:
        break;
    }
    return j;
}

static json_t *schema_node_json(const pq_schema_node *n)
{
    json_t *j = json_object();
    json_object_set_new(j, "name", jstr(n->name));
    if (n->repetition >= 0)
        json_object_set_new(j, "repetition", json_string(pq_repetition_name(n->repetition)));
    if (n->physical >= 0) {
        json_object_set_new(j, "physical_type", json_string(pq_physical_name(n->physical)));
        if (n->physical == PQ_FIXED_LEN_BYTE_ARRAY)
            json_object_set_new(j, "type_length", json_integer(n->type_length));
    }
    json_object_set_new(j, "logical_type", logical_json(n));
    if (n->converted_type >= 0)
        json_object_set_new(j, "converted_type",
                            json_string(pq_converted_type_name(n->converted_type)));
    if (n->field_id >= 0)
        json_object_set_new(j, "field_id", json_integer(n->field_id));
    return j;
}

static json_t *inspect_json(pq_reader *r, const char *path, uint64_t size, const vtype *leaf_types)
{
    const pq_file_meta *m = pq_reader_meta(r);
    json_t *root = json_object();
    json_object_set_new(root, "file", jstr(path));
    json_object_set_new(root, "size", json_integer((json_int_t)size));
    json_object_set_new(root, "version", json_integer(m->version));
    json_object_set_new(root, "created_by", m->created_by ? jstr(m->created_by) : json_null());
    json_object_set_new(root, "num_rows", json_integer(m->num_rows));
    json_object_set_new(root, "encrypted", json_boolean(m->encrypted));

    /* The schema tree, built without recursion: each node joins its parent's fields. */
    json_t **nodes = calloc((size_t)m->nschema, sizeof *nodes);
    if (nodes) {
        for (int i = 0; i < m->nschema; i++) {
            nodes[i] = schema_node_json(&m->schema[i]);
            if (m->schema[i].num_children > 0)
                json_object_set_new(nodes[i], "fields", json_array());
            if (i > 0)
                json_array_append_new(json_object_get(nodes[m->schema[i].parent], "fields"),
                                      nodes[i]);
        }
        json_object_set_new(root, "schema", nodes[0]);
        free(nodes);
    }

    const pq_reader_column *cols;
    int ncols;
    ts_err err;
    ts_err_clear(&err);
    if (pq_reader_columns(r, &cols, &ncols, &err) == 0) {
        json_t *jc = json_array();
        for (int c = 0; c < ncols; c++) {
            const pq_schema_node *n = &m->schema[cols[c].node];
            json_t *o =
                json_pack("{s:o, s:o, s:s, s:o, s:b, s:b}", "name", jstr(cols[c].spec.name), "path",
                          jstr(cols[c].path), "physical_type",
                          pq_physical_name(cols[c].spec.physical), "logical_type", logical_json(n),
                          "nullable", cols[c].spec.nullable, "list", cols[c].spec.list);
            if (cols[c].spec.list)
                json_object_set_new(o, "element_nullable", json_boolean(cols[c].element_nullable));
            json_array_append_new(jc, o);
        }
        json_object_set_new(root, "columns", jc);
    } else {
        json_object_set_new(root, "columns", json_null());
        json_object_set_new(root, "columns_error", jstr(err.msg));
    }

    json_t *kv = json_object();
    for (int i = 0; i < m->nkv; i++)
        jset(kv, m->kv[i].key, m->kv[i].value ? jstr(m->kv[i].value) : json_null());
    json_object_set_new(root, "key_value_metadata", kv);

    json_t *rgs = json_array();
    for (int g = 0; g < m->nrow_groups; g++) {
        const pq_row_group_meta *rg = &m->row_groups[g];
        json_t *jg = json_pack("{s:i, s:I, s:I}", "index", g, "num_rows", (json_int_t)rg->num_rows,
                               "total_byte_size", (json_int_t)rg->total_byte_size);
        if (rg->total_compressed_size >= 0)
            json_object_set_new(jg, "total_compressed_size",
                                json_integer(rg->total_compressed_size));
        if (rg->file_offset >= 0)
            json_object_set_new(jg, "file_offset", json_integer(rg->file_offset));
        json_t *jcs = json_array();
        for (int c = 0; c < rg->ncolumns; c++) {
            const pq_chunk_meta *cm = &rg->columns[c];
            json_t *jc = json_object();
            json_object_set_new(jc, "path", jstr(cm->path));
            json_object_set_new(jc, "physical_type", json_string(pq_physical_name(cm->physical)));
            json_object_set_new(jc, "codec", json_string(codec_name(cm->codec)));
            json_t *enc = json_array();
            for (int e = 0; e < cm->nencodings; e++) {
                const char *en = pq_encoding_name(cm->encodings[e]);
                json_array_append_new(enc, en ? json_string(en) : json_integer(cm->encodings[e]));
            }
            json_object_set_new(jc, "encodings", enc);
            json_object_set_new(jc, "num_values", json_integer(cm->num_values));
            json_object_set_new(jc, "compressed_size", json_integer(cm->total_compressed_size));
            json_object_set_new(jc, "uncompressed_size", json_integer(cm->total_uncompressed_size));
            json_object_set_new(jc, "data_page_offset", json_integer(cm->data_page_offset));
            if (cm->dictionary_page_offset >= 0)
                json_object_set_new(jc, "dictionary_page_offset",
                                    json_integer(cm->dictionary_page_offset));
            if (cm->file_path)
                json_object_set_new(jc, "file_path", jstr(cm->file_path));
            if (cm->has_stats) {
                const pq_stats *s = &cm->stats;
                json_t *js = json_object();
                if (s->has_null_count)
                    json_object_set_new(js, "null_count", json_integer(s->null_count));
                if (s->has_distinct_count)
                    json_object_set_new(js, "distinct_count", json_integer(s->distinct_count));
                if (s->has_nan_count)
                    json_object_set_new(js, "nan_count", json_integer(s->nan_count));
                if (s->has_min)
                    json_object_set_new(js, "min", stat_json(&leaf_types[c], s->min, s->min_len));
                if (s->has_max)
                    json_object_set_new(js, "max", stat_json(&leaf_types[c], s->max, s->max_len));
                if (s->has_min || s->has_max)
                    json_object_set_new(js, "legacy_min_max", json_boolean(s->legacy));
                json_object_set_new(jc, "statistics", js);
            }
            json_array_append_new(jcs, jc);
        }
        json_object_set_new(jg, "columns", jcs);
        json_array_append_new(rgs, jg);
    }
    json_object_set_new(root, "row_groups", rgs);
    if (m->ncolumn_orders > 0) {
        json_t *co = json_array();
        for (int i = 0; i < m->ncolumn_orders; i++) {
            int o = m->column_orders[i];
            json_array_append_new(co, json_string(o == 1   ? "TYPE_DEFINED_ORDER"
                                                  : o == 2 ? "IEEE_754_TOTAL_ORDER"
                                                  : o == 3 ? "INT96_TIMESTAMP_ORDER"
                                                           : "UNKNOWN"));
        }
        json_object_set_new(root, "column_orders", co);
    }
    return root;
}

static void logical_text(const pq_schema_node *n, char *out, size_t sz)
{
    const char *name = n->logical_kind          ? pq_logical_kind_name(n->logical_kind)
                       : n->converted_type >= 0 ? pq_converted_type_name(n->converted_type)
                                                : "";
    switch (n->logical) {
    case PQ_LT_DECIMAL:
        snprintf(out, sz, "DECIMAL(%d,%d)", n->lt_precision >= 0 ? n->lt_precision : n->precision,
                 n->lt_scale >= 0 ? n->lt_scale
                 : n->scale >= 0  ? n->scale
                                  : 0);
        break;
    case PQ_LT_TIMESTAMP:
    case PQ_LT_TIME:
        snprintf(out, sz, "%s(%s%s)", n->logical == PQ_LT_TIME ? "TIME" : "TIMESTAMP",
                 n->time_unit == PQ_UNIT_MILLIS   ? "MILLIS"
                 : n->time_unit == PQ_UNIT_MICROS ? "MICROS"
                                                  : "NANOS",
                 n->ts_utc ? ",UTC" : "");
        break;
    case PQ_LT_INT:
        snprintf(out, sz, "INT(%d,%s)", n->bit_width, n->is_signed ? "signed" : "unsigned");
        break;
    default:
        snprintf(out, sz, "%s", name);
        break;
    }
}

/* A statistic as short text for the table. */
static void stat_text(const vtype *t, bool has, const uint8_t *p, size_t n, char *out, size_t sz)
{
    pq_value v;
    vkind k;
    fmt_opts o = {false};
    ts_buf b;
    if (!has) {
        snprintf(out, sz, "-");
        return;
    }
    ts_buf_init(&b, 0);
    if (!stat_value(t, p, n, &v) || format_value(t, &v, &o, &b, &k) != 0) {
        ts_buf_reset(&b);
        if (put_base64(&b, p, n) != 0)
            ts_buf_reset(&b);
    }
    const char *s = ts_buf_cstr(&b);
    size_t len = strlen(s);
    if (len > 40)
        snprintf(out, sz, "%.37s...", s);
    else
        snprintf(out, sz, "%s", s);
    for (char *q = out; *q; q++)
        if (*q == '\n' || *q == '\r' || *q == '\t')
            *q = ' ';
    ts_buf_free(&b);
}

static void inspect_text(pq_reader *r, const char *path, uint64_t size, const vtype *leaf_types)
{
    const pq_file_meta *m = pq_reader_meta(r);
    const pq_reader_column *cols;
    int ncols;
    ts_err err;
    char lt[96], mn[64], mx[64], nulls[32];

    ts_err_clear(&err);
    printf("file:        %s (%llu bytes)\n", path, (unsigned long long)size);
    printf("created by:  %s\n", m->created_by ? m->created_by : "(unknown)");
    printf("rows:        %lld in %d row group%s (format version %d)\n", (long long)m->num_rows,
           m->nrow_groups, m->nrow_groups == 1 ? "" : "s", (int)m->version);
    printf("\ncolumns:\n");
    if (pq_reader_columns(r, &cols, &ncols, &err) == 0) {
        printf("  %-24s %-22s %-26s %s\n", "NAME", "PHYSICAL", "LOGICAL", "SHAPE");
        for (int c = 0; c < ncols; c++) {
            const pq_schema_node *n = &m->schema[cols[c].node];
            logical_text(n, lt, sizeof lt);
            char phys[48];
            if (n->physical == PQ_FIXED_LEN_BYTE_ARRAY)
                snprintf(phys, sizeof phys, "FIXED_LEN_BYTE_ARRAY(%d)", n->type_length);
            else
                snprintf(phys, sizeof phys, "%s", pq_physical_name(n->physical));
            printf("  %-24s %-22s %-26s %s%s%s\n", cols[c].spec.name, phys, lt,
                   cols[c].spec.nullable ? "nullable" : "required",
                   cols[c].spec.list ? " list" : "",
                   cols[c].spec.list ? (cols[c].element_nullable ? " of nullable" : " of required")
                                     : "");
        }
    } else {
        printf("  (cannot flatten: %s)\n", err.msg);
        for (int i = 1; i < m->nschema; i++) {
            const pq_schema_node *n = &m->schema[i];
            logical_text(n, lt, sizeof lt);
            printf("  %*s%s %s %s %s\n", 2 * (n->depth - 1), "", pq_repetition_name(n->repetition),
                   n->physical >= 0 ? pq_physical_name(n->physical) : "group", n->name, lt);
        }
    }
    for (int g = 0; g < m->nrow_groups; g++) {
        const pq_row_group_meta *rg = &m->row_groups[g];
        printf("\nrow group %d: %lld rows, %lld bytes uncompressed\n", g, (long long)rg->num_rows,
               (long long)rg->total_byte_size);
        printf("  %-24s %-12s %-36s %12s %12s %9s %7s %-24s %-24s\n", "COLUMN", "CODEC",
               "ENCODINGS", "COMPRESSED", "UNCOMPRESSED", "VALUES", "NULLS", "MIN", "MAX");
        for (int c = 0; c < rg->ncolumns; c++) {
            const pq_chunk_meta *cm = &rg->columns[c];
            char enc[160] = "";
            size_t o = 0;
            for (int e = 0; e < cm->nencodings && o < sizeof enc - 1; e++) {
                const char *en = pq_encoding_name(cm->encodings[e]);
                int w = snprintf(enc + o, sizeof enc - o, "%s%s", e ? "," : "", en ? en : "?");
                if (w < 0)
                    break;
                o += (size_t)w;
            }
            const pq_stats *s = &cm->stats;
            stat_text(&leaf_types[c], cm->has_stats && s->has_min, s->min, s->min_len, mn,
                      sizeof mn);
            stat_text(&leaf_types[c], cm->has_stats && s->has_max, s->max, s->max_len, mx,
                      sizeof mx);
            if (cm->has_stats && s->has_null_count)
                snprintf(nulls, sizeof nulls, "%lld", (long long)s->null_count);
            else
                snprintf(nulls, sizeof nulls, "-");
            printf("  %-24s %-12s %-36s %12lld %12lld %9lld %7s %-24s %-24s\n",
                   cm->path ? cm->path : "?", codec_name(cm->codec), enc,
                   (long long)cm->total_compressed_size, (long long)cm->total_uncompressed_size,
                   (long long)cm->num_values, nulls, mn, mx);
        }
    }
    if (m->nkv > 0) {
        printf("\nkey-value metadata:\n");
        for (int i = 0; i < m->nkv; i++) {
            const char *v = m->kv[i].value ? m->kv[i].value : "(null)";
            size_t len = strlen(v);
            printf("  %s = %.*s%s\n", m->kv[i].key, len > 200 ? 197 : (int)len, v,
                   len > 200 ? "..." : "");
        }
    }
}

int cmd_parquet_inspect(const ts_config *cfg, int argc, char **argv)
{
    const char *path = NULL;
    bool text = false;
    pq_reader *r = NULL;
    vtype *lt = NULL;
    int rc = TS_EXIT_FAIL;
    ts_err err;

    (void)cfg;
    ts_err_clear(&err);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            inspect_usage(stdout);
            return TS_EXIT_OK;
        } else if (strcmp(a, "--text") == 0) {
            text = true;
        } else if (strcmp(a, "--json") == 0) {
            text = false;
        } else if (a[0] == '-' && a[1]) {
            cli_errorf("unknown option \"%s\" (see tsarchive parquet inspect --help)", a);
            return TS_EXIT_USAGE;
        } else if (!path) {
            path = a;
        } else {
            cli_errorf("unexpected argument \"%s\"", a);
            return TS_EXIT_USAGE;
        }
    }
    if (!path) {
        inspect_usage(stderr);
        return TS_EXIT_USAGE;
    }
    if (pq_reader_open_file(&r, path, NULL, &err) != 0) {
        cli_errorf("%s", err.msg);
        goto out;
    }
    const pq_file_meta *m = pq_reader_meta(r);
    int nleaves = 0;
    for (int i = 1; i < m->nschema; i++)
        nleaves += m->schema[i].num_children == 0;
    lt = calloc((size_t)(nleaves ? nleaves : 1), sizeof *lt);
    if (!lt) {
        cli_errorf("out of memory");
        goto out;
    }
    for (int i = 1, k = 0; i < m->nschema; i++)
        if (m->schema[i].num_children == 0)
            vtype_from_node(&lt[k++], &m->schema[i]);
    uint64_t size = pq_reader_file_size(r);
    if (text) {
        inspect_text(r, path, size, lt);
    } else {
        json_t *j = inspect_json(r, path, size, lt);
        if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) {
            json_decref(j);
            cli_errorf("could not write the output");
            goto out;
        }
        json_decref(j);
        putchar('\n');
    }
    if (fflush(stdout) != 0) {
        cli_errorf("could not write the output: %s", strerror(errno));
        goto out;
    }
    rc = TS_EXIT_OK;
out:
    free(lt);
    pq_reader_free(r);
    return rc;
}
