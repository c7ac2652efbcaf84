/* proof_row.c: the export side of the change proof: a 64-bit hash of each row's
 * record_send() image as PostgreSQL's hashtextextended() computes it, summed; and the
 * proof string. */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/alloc.h"
#include "proof.h"

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

static inline uint32_t l3_seed(size_t len)
{
    return 0x9e3779b9u + (uint32_t)len + 3923095u;
}

void pg_l3_init(pg_l3 *s, size_t len)
{
    s->a = s->b = s->c = l3_seed(len);
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

/* The last 0..11 bytes k[0..n) and the final mix. */
static int64_t l3_tail(uint32_t a, uint32_t b, uint32_t c, const uint8_t *k, size_t n)
{
    switch (n) { /* the lowest byte of c is left out, as PostgreSQL does */
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

int64_t pg_l3_final(pg_l3 *s)
{
    return l3_tail(s->a, s->b, s->c, s->blk, s->n);
}

/* Lowercase hex of p[0..n) into out[0..2n), as encode(..., 'hex') writes it: sixteen
 * bytes at a time in vector registers (GCC / clang vector extensions; plain SSE2 on
 * x86-64), the rest byte by byte. Never reads or writes past either end. */
typedef uint8_t u8x16 __attribute__((vector_size(16)));

/* hexify's vector step: sixteen bytes at p into 32 characters at out */
static inline void hex16(const uint8_t *p, uint8_t *out)
{
    u8x16 x, hi, lo, a, b;
    memcpy(&x, p, 16);
    hi = x >> 4;
    lo = x & 15;
    hi += 48 + ((u8x16)(hi > 9) & 39); /* '0' + n, or 'a' + n - 10 */
    lo += 48 + ((u8x16)(lo > 9) & 39);
#ifdef __clang__
    a = __builtin_shufflevector(hi, lo, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    b = __builtin_shufflevector(hi, lo, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15,
                                31);
#else
    a = __builtin_shuffle(hi, lo, (u8x16){0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23});
    b = __builtin_shuffle(hi, lo,
                          (u8x16){8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31});
#endif
    memcpy(out, &a, 16);
    memcpy(out + 16, &b, 16);
}

static void hexify(const uint8_t *p, size_t n, uint8_t *out)
{
    static const char hexd[] = "0123456789abcdef";
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        hex16(p + i, out + 2 * i);
    for (; i < n; i++) {
        out[2 * i] = (uint8_t)hexd[p[i] >> 4];
        out[2 * i + 1] = (uint8_t)hexd[p[i] & 15];
    }
}

/* Feeds the lowercase hex of p[0..n). */
static void l3_update_hex(pg_l3 *s, const uint8_t *p, size_t n)
{
    uint8_t tmp[512];
    while (n) {
        size_t k = n < 256 ? n : 256;
        hexify(p, k, tmp);
        pg_l3_update(s, tmp, 2 * k);
        p += k;
        n -= k;
    }
}

/* record_send(): int32 natts, then per column int32 type oid, int32 length (-1 for
 * NULL), the value's send() bytes; COPY binary uses the same send(). */
static size_t image_len(const pg_copy_field *fields, int nfields)
{
    size_t len = 4;
    for (int i = 0; i < nfields; i++)
        len += 8 + (fields[i].len > 0 ? (size_t)fields[i].len : 0);
    return len;
}

void pg_proof_add_row(pg_proof *pr, const pg_copy_field *fields, int nfields, const uint32_t *oids)
{
    /* the image's hex text is hashed with lookup3, as hashtextextended() does */
    uint8_t hdr[8];
    pg_l3 s;
    pg_l3_init(&s, 2 * image_len(fields, nfields));
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
    pr->rows++;
}

/* ---- many rows at once ----
 * One lookup3 is a chain of dependent steps that keeps a core mostly waiting, so the
 * batch hashes rows side by side, one per lane of a vector of 32-bit words (the same
 * mix, on vectors: four lanes in SSE2, eight where the CPU has AVX2): when a row's full
 * 12-byte blocks are done its lane finishes it alone and takes the next row. Rows are
 * first laid out as hex, together. */
#define BATCH_HEX 65536   /* hex bytes hashed together */
#define BATCH_IMAGE 8192  /* a larger row image is hashed alone, as it comes */
#define BATCH_ROWS 1024

typedef uint32_t u32x4 __attribute__((vector_size(16)));

struct pg_proof_batch {
    pg_proof *pr;
    size_t nrows, used; /* rows and hex bytes waiting */
    uint32_t off[BATCH_ROWS], len[BATCH_ROWS];
    uint8_t image[BATCH_IMAGE + 16]; /* + room for reading a whole last group */
    uint8_t hex[BATCH_HEX + 32];     /* + room for writing one */
};

pg_proof_batch *pg_proof_batch_new(pg_proof *pr)
{
    pg_proof_batch *b = ts_calloc(1, sizeof *b); /* zeroed: a last group reads past a row */
    if (!b)
        return NULL;
    b->pr = pr;
    b->nrows = b->used = 0;
    return b;
}

void pg_proof_batch_free(pg_proof_batch *b)
{
    ts_free(b);
}

/* Gives a lane the next row of b (returns its lookup3 seed), or makes it stand still on
 * a block of zeros (returns 0 with *step 0). */
static inline uint32_t lane_take(const pg_proof_batch *b, size_t *next, const uint8_t **p,
                                 size_t *blocks, size_t *step, size_t *row)
{
    static const uint8_t idle[12];
    if (*next >= b->nrows) {
        *p = idle;
        *blocks = SIZE_MAX;
        *step = 0;
        return 0;
    }
    *row = (*next)++;
    *p = b->hex + b->off[*row];
    *blocks = b->len[*row] / 12;
    *step = 12;
    return l3_seed(b->len[*row]);
}

/* NAME hashes every row of b with N lanes of vector type VEC and returns the sum: run
 * every lane until the first row's full blocks are done, finish that row alone, give
 * its lane the next row, again. */
#define HASH_LANES(NAME, VEC, N, LOAD)                                                             \
    static __int128 NAME(const pg_proof_batch *b)                                                  \
    {                                                                                              \
        const uint8_t *p[N];                                                                       \
        size_t blocks[N], step[N], row[N], next = 0, live = 0;                                     \
        VEC a = {0}, bb = {0}, c = {0};                                                            \
        __int128 sum = 0;                                                                          \
        for (int l = 0; l < N; l++) {                                                              \
            a[l] = bb[l] = c[l] = lane_take(b, &next, &p[l], &blocks[l], &step[l], &row[l]);       \
            live += step[l] != 0;                                                                  \
        }                                                                                          \
        while (live) {                                                                             \
            size_t m = SIZE_MAX;                                                                   \
            for (int l = 0; l < N; l++)                                                            \
                m = blocks[l] < m ? blocks[l] : m;                                                 \
            for (size_t k = 0; k < m; k++) {                                                       \
                /* an initializer, not lane by lane: stores then a vector load of them       \
                 * would stall on store forwarding */                                            \
                VEC x = LOAD(0), y = LOAD(4), z = LOAD(8);                                         \
                for (int l = 0; l < N; l++)                                                        \
                    p[l] += step[l];                                                               \
                a += x;                                                                            \
                bb += y;                                                                           \
                c += z;                                                                            \
                L3_MIX(a, bb, c);                                                                  \
            }                                                                                      \
            for (int l = 0; l < N; l++) {                                                          \
                if (step[l] == 0 || (blocks[l] -= m) > 0)                                          \
                    continue;                                                                      \
                sum += l3_tail(a[l], bb[l], c[l], p[l], b->len[row[l]] % 12);                      \
                live--;                                                                            \
                a[l] = bb[l] = c[l] = lane_take(b, &next, &p[l], &blocks[l], &step[l], &row[l]);   \
                live += step[l] != 0;                                                              \
            }                                                                                      \
        }                                                                                          \
        return sum;                                                                                \
    }

/* word o of each lane's next 12-byte block */
#define LOAD4(o) {le32(p[0] + o), le32(p[1] + o), le32(p[2] + o), le32(p[3] + o)}
#define LOAD8(o)                                                                                   \
    {le32(p[0] + o), le32(p[1] + o), le32(p[2] + o), le32(p[3] + o),                               \
     le32(p[4] + o), le32(p[5] + o), le32(p[6] + o), le32(p[7] + o)}

HASH_LANES(hash_lanes4, u32x4, 4, LOAD4)

#if defined(__x86_64__) && defined(__GNUC__)
/* Eight lanes where the CPU has AVX2 (about 40 % less time per row than four SSE2
 * lanes); a separate function, so the rest of the build stays baseline x86-64. */
typedef uint32_t u32x8 __attribute__((vector_size(32)));
__attribute__((target("avx2"))) HASH_LANES(hash_lanes8, u32x8, 8, LOAD8)
#define HAVE_LANES8 1
#endif

static int lanes_wanted; /* pg_proof_set_lanes: 0 = the widest the CPU has */

void pg_proof_set_lanes(int lanes)
{
    lanes_wanted = lanes;
}

void pg_proof_batch_flush(pg_proof_batch *b)
{
#ifdef HAVE_LANES8
    if (lanes_wanted != 4 && __builtin_cpu_supports("avx2"))
        b->pr->sum += hash_lanes8(b);
    else
#endif
        b->pr->sum += hash_lanes4(b);
    b->nrows = b->used = 0;
}

void pg_proof_batch_add(pg_proof_batch *b, const pg_copy_field *fields, int nfields,
                        const uint32_t *oids)
{
    size_t len = image_len(fields, nfields), at = 4;
    if (len > BATCH_IMAGE) {
        pg_proof_add_row(b->pr, fields, nfields, oids);
        return;
    }
    if (b->nrows == BATCH_ROWS || b->used + 2 * len > BATCH_HEX)
        pg_proof_batch_flush(b);
    pg_put_be32(b->image, (uint32_t)nfields);
    for (int i = 0; i < nfields; i++) {
        pg_put_be32(b->image + at, oids[i]);
        pg_put_be32(b->image + at + 4, (uint32_t)fields[i].len);
        at += 8;
        if (fields[i].len > 0) {
            memcpy(b->image + at, fields[i].data, (size_t)fields[i].len);
            at += (size_t)fields[i].len;
        }
    }
    /* whole groups of sixteen, the last one past the image into the slack: what lands
     * after this row's hex is overwritten by the next row's, or never read */
    for (size_t i = 0; i < len; i += 16)
        hex16(b->image + i, b->hex + b->used + 2 * i);
    b->off[b->nrows] = (uint32_t)b->used;
    b->len[b->nrows] = (uint32_t)(2 * len);
    b->nrows++;
    b->used += 2 * len;
    b->pr->rows++;
}

/* ---- the hashing thread ---- */

struct pg_proof_thread {
    pthread_t th;
    pg_copy_ring *g;
    int k, nfields, rc;
    const uint32_t *oids;
    pg_copy_decoder *dec;
    pg_proof_batch *batch;
};

static int thread_row(void *ctx, const pg_copy_field *f, int nfields, ts_err *err)
{
    pg_proof_thread *t = ctx;
    (void)err;
    pg_proof_batch_add(t->batch, f, nfields, t->oids);
    return 0;
}

static int thread_block(void *ctx, const uint8_t *p, size_t n, ts_err *err)
{
    pg_proof_thread *t = ctx;
    return pg_copy_decoder_feed(t->dec, p, n, err);
}

static void *thread_main(void *arg)
{
    pg_proof_thread *t = arg;
    ts_err err;
    ts_err_clear(&err);
    pthread_setname_np(pthread_self(), "change proof");
    t->rc = pg_copy_ring_consume(t->g, t->k, thread_block, t);
    if (t->rc == TS_OK && (t->rc = pg_copy_decoder_finish(t->dec, &err)) != TS_OK)
        pg_copy_ring_fail(t->g, &err);
    pg_proof_batch_flush(t->batch);
    return NULL;
}

pg_proof_thread *pg_proof_thread_start(pg_copy_ring *g, int k, int nfields, const uint32_t *oids,
                                       pg_proof *pr, ts_err *err)
{
    pg_proof_thread *t = ts_calloc(1, sizeof *t);
    if (!t) {
        ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    t->g = g;
    t->k = k;
    t->nfields = nfields;
    t->oids = oids;
    t->dec = pg_copy_decoder_new(nfields, 0, thread_row, t);
    t->batch = pg_proof_batch_new(pr);
    if (!t->dec || !t->batch) {
        ts_err_set(err, TS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (pthread_create(&t->th, NULL, thread_main, t) != 0) {
        ts_err_set(err, TS_ERR_NOMEM, "could not start the change proof's thread");
        goto fail;
    }
    return t;
fail:
    pg_copy_decoder_free(t->dec);
    pg_proof_batch_free(t->batch);
    ts_free(t);
    return NULL;
}

int pg_proof_thread_join(pg_proof_thread *t)
{
    int rc;
    if (!t)
        return 0;
    pthread_join(t->th, NULL);
    rc = t->rc;
    pg_copy_decoder_free(t->dec);
    pg_proof_batch_free(t->batch);
    ts_free(t);
    return rc;
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
