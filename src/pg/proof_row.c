/* proof_row.c: the export side of the change proof: a 64-bit hash of each row's
 * record_send() image as PostgreSQL's hashtextextended() computes it, summed; and the
 * proof string. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "proof.h"


/* ---- the proof ---- */
/* ---- Bob Jenkins' lookup3 as PostgreSQL's hashtextextended(text, 0) computes it on
 * a little-endian server, fed with the lowercase hex of the row image ---- */
#define L3_ROT(x, k) (((x) << (k)) | ((x) >> (32 - (k))))
#define L3_MIX(a, b, c)                                                                            \
    do {                                                                                           \
        a -= c;                                                                                    \
        a ^= L3_ROT(c, 4);                                                                         \
        c += b;                                                                                    \
        b -= a;                                                                                    \
        b ^= L3_ROT(a, 6);                                                                         \
        a += c;                                                                                    \
        c -= b;                                                                                    \
        c ^= L3_ROT(b, 8);                                                                         \
        b += a;                                                                                    \
        a -= c;                                                                                    \
        a ^= L3_ROT(c, 16);                                                                        \
        c += b;                                                                                    \
        b -= a;                                                                                    \
        b ^= L3_ROT(a, 19);                                                                        \
        a += c;                                                                                    \
        c -= b;                                                                                    \
        c ^= L3_ROT(b, 4);                                                                         \
        b += a;                                                                                    \
    } while (0)
#define L3_FINAL(a, b, c)                                                                          \
    do {                                                                                           \
        c ^= b;                                                                                    \
        c -= L3_ROT(b, 14);                                                                        \
        a ^= c;                                                                                    \
        a -= L3_ROT(c, 11);                                                                        \
        b ^= a;                                                                                    \
        b -= L3_ROT(a, 25);                                                                        \
        c ^= b;                                                                                    \
        c -= L3_ROT(b, 16);                                                                        \
        a ^= c;                                                                                    \
        a -= L3_ROT(c, 4);                                                                         \
        b ^= a;                                                                                    \
        b -= L3_ROT(a, 14);                                                                        \
        c ^= b;                                                                                    \
        c -= L3_ROT(b, 24);                                                                        \
    } while (0)

static inline uint32_t le32(const uint8_t *k)
{
    return (uint32_t)k[0] | (uint32_t)k[1] << 8 | (uint32_t)k[2] << 16 | (uint32_t)k[3] << 24;
}

void pg_l3_init(pg_l3 *s, size_t len)
{
    s->a = s->b = s->c = 0x9e3779b9u + (uint32_t)len + 3923095u;
    s->n = 0;
}

void pg_l3_update(pg_l3 *s, const void *data, size_t n)
{
    const uint8_t *p = data;
    if (s->n) {
        size_t take = 12 - s->n < n ? 12 - s->n : n;
        memcpy(s->blk + s->n, p, take);
        s->n += (unsigned)take;
        p += take;
        n -= take;
        if (s->n < 12)
            return;
        s->a += le32(s->blk);
        s->b += le32(s->blk + 4);
        s->c += le32(s->blk + 8);
        L3_MIX(s->a, s->b, s->c);
        s->n = 0;
    }
    while (n >= 12) {
        s->a += le32(p);
        s->b += le32(p + 4);
        s->c += le32(p + 8);
        L3_MIX(s->a, s->b, s->c);
        p += 12;
        n -= 12;
    }
    memcpy(s->blk, p, n);
    s->n = (unsigned)n;
}

int64_t pg_l3_final(pg_l3 *s)
{
    uint32_t a = s->a, b = s->b, c = s->c;
    const uint8_t *k = s->blk;
    switch (s->n) { /* the lowest byte of c is left out, as PostgreSQL does */
    case 11:
        c += (uint32_t)k[10] << 24; /* fall through */
    case 10:
        c += (uint32_t)k[9] << 16; /* fall through */
    case 9:
        c += (uint32_t)k[8] << 8; /* fall through */
    case 8:
        b += (uint32_t)k[7] << 24; /* fall through */
    case 7:
        b += (uint32_t)k[6] << 16; /* fall through */
    case 6:
        b += (uint32_t)k[5] << 8; /* fall through */
    case 5:
        b += k[4]; /* fall through */
    case 4:
        a += (uint32_t)k[3] << 24; /* fall through */
    case 3:
        a += (uint32_t)k[2] << 16; /* fall through */
    case 2:
        a += (uint32_t)k[1] << 8; /* fall through */
    case 1:
        a += k[0];
    }
    L3_FINAL(a, b, c);
    return (int64_t)(((uint64_t)b << 32) | c);
}

/* Feeds the lowercase hex of p[0..n), as encode(..., 'hex') writes it. */
static void l3_update_hex(pg_l3 *s, const uint8_t *p, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    uint8_t tmp[192];
    while (n) {
        size_t k = n < 96 ? n : 96;
        for (size_t i = 0; i < k; i++) {
            tmp[2 * i] = (uint8_t)hexd[p[i] >> 4];
            tmp[2 * i + 1] = (uint8_t)hexd[p[i] & 15];
        }
        pg_l3_update(s, tmp, 2 * k);
        p += k;
        n -= k;
    }
}

void pg_proof_add_row(pg_proof *pr, const pg_copy_field *fields, int nfields, const uint32_t *oids)
{
    /* record_send(): int32 natts, then per column int32 type oid, int32 length
     * (-1 for NULL), the value's send() bytes; COPY binary uses the same send().
     * Its hex text is hashed with lookup3, as hashtextextended() does. */
    uint8_t hdr[8];
    {
        pg_l3 s;
        size_t len = 4;
        for (int i = 0; i < nfields; i++)
            len += 8 + (fields[i].len > 0 ? (size_t)fields[i].len : 0);
        pg_l3_init(&s, 2 * len);
        pg_put_be32(hdr, (uint32_t)nfields);
        l3_update_hex(&s, hdr, 4);
        for (int i = 0; i < nfields; i++) {
            pg_put_be32(hdr, oids[i]);
            pg_put_be32(hdr + 4, (uint32_t)fields[i].len);
            l3_update_hex(&s, hdr, 8);
            if (fields[i].len > 0)
                l3_update_hex(&s, fields[i].data, (size_t)fields[i].len);
        }
        pr->sum += pg_l3_final(&s);
    }
    pr->rows++;
}

void pg_i128_format(__int128 v, char *out)
{
    char tmp[48];
    int n = 0;
    unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    if (v < 0)
        *out++ = '-';
    while (n)
        *out++ = tmp[--n];
    *out = 0;
}

void pg_proof_format(const pg_proof *pr, char *out)
{
    char sum[48];
    pg_i128_format(pr->sum, sum);
    snprintf(out, PG_PROOF_MAX, "v2:%" PRId64 ":%s:%s", pr->rows, sum, pr->columns);
}

void pg_proof_set_columns(pg_proof *pr, const char *select_list)
{
    uint8_t d[EVP_MAX_MD_SIZE];
    unsigned dl = 0;
    if (!EVP_Digest(select_list, strlen(select_list), d, &dl, EVP_md5(), NULL) || dl != 16)
        memset(d, 0, sizeof d); /* cannot happen with a working libcrypto: never matches */
    for (int i = 0; i < 16; i++)
        snprintf(pr->columns + 2 * i, 3, "%02x", d[i]);
}

int pg_i128_parse(const char *s, const char *end, __int128 *out)
{
    bool neg = false;
    unsigned __int128 u = 0;
    if (s < end && *s == '-') {
        neg = true;
        s++;
    }
    if (s == end || end - s > 39)
        return -1;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        u = u * 10 + (unsigned)(*s - '0');
    }
    *out = neg ? -(__int128)u : (__int128)u;
    return 0;
}

int pg_proof_parse(const char *s, pg_proof *pr, ts_err *err)
{
    const char *a, *b, *c;
    char *endp;
    memset(pr, 0, sizeof *pr);
    if (!s || strncmp(s, "v2:", 3) != 0)
        goto bad;
    a = s + 3;
    b = strchr(a, ':');
    if (!b)
        goto bad;
    pr->rows = strtoll(a, &endp, 10);
    if (endp != b || pr->rows < 0)
        goto bad;
    c = strchr(b + 1, ':');
    if (!c || pg_i128_parse(b + 1, c, &pr->sum))
        goto bad;
    if (strlen(c + 1) != 32 || strspn(c + 1, "0123456789abcdef") != 32)
        goto bad;
    memcpy(pr->columns, c + 1, 33);
    return TS_OK;
bad:
    return ts_err_set(err, TS_ERR_INVALID, "malformed change proof \"%.60s\"", s ? s : "(null)");
}
