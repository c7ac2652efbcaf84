/* writer.c: the streaming Parquet writer. Values are buffered per column for the
 * current page (levels, PLAIN values or dictionary indices); finished pages are
 * compressed into the column chunk's buffer, and a row group's chunks go to the sink
 * when it closes, dictionary page first. Memory: one row group's pages. */
#include "writer.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "../common/alloc.h"
#include "../common/buf.h"
#include "codec.h"
#include "encode.h"
#include "thrift_enc.h"

#ifndef TS_VERSION
#define TS_VERSION "0.0.0"
#endif
#ifndef TS_BUILD_ID
#define TS_BUILD_ID "unknown"
#endif

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Values per page besides page_bytes, so index and level buffers stay small (just
 * under 1 MiB of indices, so a doubling buffer stops at 1 MiB) whatever the
 * dictionary's width. */
#define PAGE_MAX_VALUES (((size_t)1 << 18) - 1024)
/* Values of a chunk after which a dictionary that does not deduplicate is dropped. */
#define DICT_PROBE_VALUES 10000
/* Byte-array statistics longer than this are truncated (and marked inexact). */
#define STATS_MAX_BYTES 256

enum { PAGE_DATA = 0, PAGE_DICTIONARY = 2 };
enum { REP_REQUIRED = 0, REP_OPTIONAL = 1, REP_REPEATED = 2 };

/* How min/max compare for a column. */
enum {
    ORD_NONE = 0,
    ORD_BOOL,
    ORD_I32,
    ORD_I64,
    ORD_U32,       /* INT(n, unsigned) */
    ORD_U64,
    ORD_FLOAT,
    ORD_DOUBLE,
    ORD_BYTES,     /* unsigned byte-wise */
    ORD_SIGNED_BE, /* DECIMAL as big-endian two's complement */
};

typedef struct wstats {
    bool has;       /* min/max present */
    int64_t nulls;
    ts_buf min, max; /* PLAIN bytes (byte arrays without length prefix) */
} wstats;

/* A finished page (header + body: len bytes at data + off), sized exactly: a chunk is
 * a list of these, so no buffer doubling inflates a row group's memory. */
typedef struct pq_pageblk {
    struct pq_pageblk *next;
    size_t off, len;
    uint8_t data[];
} pq_pageblk;

/* Room for the page header in front of a body compressed into its block: the header
 * (which holds the compressed size) is written after, just in front of the body. */
#define HDR_ROOM 1024

typedef struct pq_col {
    pq_column_spec spec;
    char *name;
    int ord;
    int width;             /* bytes of one buffered value (0: BYTE_ARRAY) */
    int max_def, max_rep;
    int def_bw, rep_bw;
    pq_encoding data_enc;  /* encoding of non-dictionary pages */
    bool dict_ok;          /* column may use a dictionary */
    bool dict_on;          /* the current page holds dictionary indices */
    bool dict_probed;      /* deduplication checked for this chunk */
    bool dict_overflow;    /* switch to data_enc at the next row */

    /* current page */
    ts_buf def, rep;       /* one byte per level */
    bool def_implicit;     /* a flat column's page without a NULL so far: its definition
                              levels (all max_def) are not stored, and encode as one run */
    ts_buf vals;           /* PLAIN values (booleans: one byte each) */
    ts_buf idx;            /* uint32 dictionary indices */
    size_t page_values;    /* levels (num_values) */
    size_t page_nonnull;   /* values stored */
    size_t next_check;     /* page_values at which the slow path runs */

    int64_t rows;          /* rows begun in the current row group */
    bool in_list;
    size_t list_len;

    /* dictionary of the current chunk: PLAIN values plus an open-addressing table */
    ts_buf dict;
    size_t ndict;
    bool kfixed;           /* 4- or 8-byte numbers: keys live in the table (kslots) */
    uint32_t *slots;       /* others: entry + 1, 0 = empty */
    uint64_t *kslots;      /* 4-byte: key << 32 | entry + 1; 8-byte: tag << 32 | entry + 1 */
    size_t mask;           /* slots - 1 */
    uint32_t *ent_off, *ent_len, *ent_hash; /* byte arrays: value at dict + off */
    size_t ent_cap;
    uint32_t *seen;        /* page epoch per entry, for byte-array page statistics */
    uint32_t epoch;
    int64_t dict_values;   /* values that went through the dictionary this chunk */

    /* current chunk */
    pq_pageblk *pages, **pages_tail; /* finished data pages */
    int64_t ch_values, ch_uncomp, ch_comp;
    int pages_dict, pages_data;
    unsigned enc_mask;     /* data page encodings used (bit = encoding) */
    wstats page_st, chunk_st;
} pq_col;

struct pq_writer {
    pq_col *cols;
    int ncols;
    pq_writer_options opt;
    char *created_by;
    pq_sink_fn sink;
    void *sink_ctx;
    ts_err err;
    int failed;
    bool closed;
    int64_t offset;        /* bytes given to the sink */
    int64_t rows_total;    /* rows in closed row groups */
    int64_t rg_rows;       /* rows ended in the current row group */
    int nrg;
    ts_buf rg_meta;        /* RowGroup structs, serialized as they close */
    ts_buf page, hdr;      /* scratch: uncompressed page, header */
    pq_compressor *cz;
    char **kv;             /* key, value pairs; value may be NULL */
    size_t nkv, kv_cap;
};

/* ------------------------------------------------------------------ errors */

static int fail(pq_writer *w, int code, const char *fmt, ...) TS_PRINTF(3, 4);
static int fail(pq_writer *w, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ts_err_setv(&w->err, code, fmt, ap);
    va_end(ap);
    if (!w->failed)
        w->failed = code;
    return w->failed;
}

static int fail_buf(pq_writer *w, int rc, const char *what)
{
    if (rc == TS_ERR_NOMEM)
        return fail(w, rc, "out of memory buffering %s", what);
    if (rc == TS_ERR_TOOBIG)
        return fail(w, rc, "%s passed its size limit", what);
    return fail(w, rc, "could not encode %s", what);
}

static int fail_col(pq_writer *w, pq_col *c, int rc, const char *what)
{
    if (rc == TS_ERR_NOMEM)
        return fail(w, rc, "out of memory buffering %s of column \"%s\"", what, c->name);
    if (rc == TS_ERR_TOOBIG)
        return fail(w, rc, "%s of column \"%s\" passed its size limit", what, c->name);
    return fail(w, rc, "could not encode %s of column \"%s\"", what, c->name);
}

/* Makes room for n more bytes in b: the common case inline. ts_buf keeps one byte for
 * a terminating NUL, hence the strict comparison. */
static int grow_slow(pq_writer *w, pq_col *c, ts_buf *b, size_t n)
{
    int rc = ts_buf_reserve(b, n);
    return rc ? fail_col(w, c, rc, "values") : 0;
}

static inline int grow(pq_writer *w, pq_col *c, ts_buf *b, size_t n)
{
    if (LIKELY(b->cap - b->len > n))
        return 0;
    return grow_slow(w, c, b, n);
}

/* ------------------------------------------------------------------ options */

void pq_writer_options_default(pq_writer_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->codec = PQ_CODEC_ZSTD;
    opt->codec_level = 0;
    opt->row_group_rows = 1000000;
    opt->row_group_bytes = (int64_t)128 << 20;
    opt->page_bytes = (int64_t)1 << 20;
    /* 2 MiB: 200k eight-byte values, what DuckDB allows a 1M-row group (rows / 5);
     * at 1 MiB a random-walk double column falls back to PLAIN and files grow 8-17% */
    opt->dictionary_bytes_limit = (int64_t)2 << 20;
    opt->dictionary = true;
    opt->page_crc = false;
    opt->page_statistics = true;
    opt->created_by = NULL;
}

/* ------------------------------------------------------------------ schema checks */

static int max_decimal_precision(int nbytes)
{
    /* digits of 2^(8n-1) - 1 = floor((8n - 1) * log10(2)) */
    return (int)floor((8.0 * nbytes - 1) * 0.30102999566398120);
}

static int check_spec(const pq_column_spec *s, ts_err *err)
{
    const char *n = s->name;
    if (!n || !*n)
        return ts_err_set(err, TS_ERR_INVALID, "a column has no name");
    switch (s->physical) {
    case PQ_BOOLEAN: case PQ_INT32: case PQ_INT64: case PQ_FLOAT: case PQ_DOUBLE:
    case PQ_BYTE_ARRAY:
        break;
    case PQ_FIXED_LEN_BYTE_ARRAY:
        if (s->type_length <= 0)
            return ts_err_set(err, TS_ERR_INVALID,
                              "column \"%s\": FIXED_LEN_BYTE_ARRAY needs a positive type_length (%d)",
                              n, s->type_length);
        break;
    default:
        return ts_err_set(err, TS_ERR_UNSUPPORTED, "column \"%s\": physical type %s cannot be written",
                          n, pq_physical_name(s->physical));
    }
    switch (s->logical) {
    case PQ_LT_NONE:
        break;
    case PQ_LT_STRING: case PQ_LT_ENUM: case PQ_LT_JSON:
        if (s->physical != PQ_BYTE_ARRAY)
            goto mismatch;
        break;
    case PQ_LT_UUID:
        if (s->physical != PQ_FIXED_LEN_BYTE_ARRAY || s->type_length != 16)
            goto mismatch;
        break;
    case PQ_LT_DATE:
        if (s->physical != PQ_INT32)
            goto mismatch;
        break;
    case PQ_LT_TIMESTAMP:
        if (s->physical != PQ_INT64)
            goto mismatch;
        if (s->time_unit < PQ_UNIT_MILLIS || s->time_unit > PQ_UNIT_NANOS)
            return ts_err_set(err, TS_ERR_INVALID, "column \"%s\": bad time unit %d", n,
                              (int)s->time_unit);
        break;
    case PQ_LT_DECIMAL: {
        int maxp;
        if (s->physical == PQ_INT32)
            maxp = 9;
        else if (s->physical == PQ_INT64)
            maxp = 18;
        else if (s->physical == PQ_FIXED_LEN_BYTE_ARRAY)
            maxp = max_decimal_precision(s->type_length);
        else if (s->physical == PQ_BYTE_ARRAY)
            maxp = 1 << 30;
        else
            goto mismatch;
        if (s->precision < 1 || s->precision > maxp || s->scale < 0 || s->scale > s->precision)
            return ts_err_set(err, TS_ERR_INVALID,
                              "column \"%s\": DECIMAL(%d,%d) does not fit %s", n, s->precision,
                              s->scale, pq_physical_name(s->physical));
        break;
    }
    case PQ_LT_INT:
        if (!((s->physical == PQ_INT32 && (s->bit_width == 8 || s->bit_width == 16 ||
                                           s->bit_width == 32)) ||
              (s->physical == PQ_INT64 && s->bit_width == 64)))
            return ts_err_set(err, TS_ERR_INVALID, "column \"%s\": INT(%d) on %s", n,
                              s->bit_width, pq_physical_name(s->physical));
        break;
    default:
        return ts_err_set(err, TS_ERR_UNSUPPORTED,
                          "column \"%s\": logical type %d cannot be written", n, (int)s->logical);
    }
    switch ((int)s->encoding) {
    case PQ_ENC_DEFAULT: case PQ_ENC_PLAIN: case PQ_ENC_RLE_DICTIONARY: case PQ_ENC_PLAIN_DICTIONARY:
        break;
    case PQ_ENC_RLE:
        if (s->physical != PQ_BOOLEAN)
            goto badenc;
        break;
    case PQ_ENC_DELTA_BINARY_PACKED:
        if (s->physical != PQ_INT32 && s->physical != PQ_INT64)
            goto badenc;
        break;
    case PQ_ENC_DELTA_LENGTH_BYTE_ARRAY:
        if (s->physical != PQ_BYTE_ARRAY)
            goto badenc;
        break;
    case PQ_ENC_BYTE_STREAM_SPLIT:
        if (s->physical == PQ_BOOLEAN || s->physical == PQ_BYTE_ARRAY)
            goto badenc;
        break;
    default:
        goto badenc;
    }
    return TS_OK;
mismatch:
    return ts_err_set(err, TS_ERR_INVALID, "column \"%s\": logical type %d does not fit %s", n,
                      (int)s->logical, pq_physical_name(s->physical));
badenc:
    return ts_err_set(err, TS_ERR_INVALID, "column \"%s\": encoding %s does not fit %s", n,
                      pq_encoding_name(s->encoding), pq_physical_name(s->physical));
}

static int order_of(const pq_column_spec *s)
{
    switch (s->physical) {
    case PQ_BOOLEAN: return ORD_BOOL;
    case PQ_INT32: return s->logical == PQ_LT_INT && !s->is_signed ? ORD_U32 : ORD_I32;
    case PQ_INT64: return s->logical == PQ_LT_INT && !s->is_signed ? ORD_U64 : ORD_I64;
    case PQ_FLOAT: return ORD_FLOAT;
    case PQ_DOUBLE: return ORD_DOUBLE;
    case PQ_BYTE_ARRAY:
    case PQ_FIXED_LEN_BYTE_ARRAY:
        return s->logical == PQ_LT_DECIMAL ? ORD_SIGNED_BE : ORD_BYTES;
    default: return ORD_NONE;
    }
}

/* ------------------------------------------------------------------ sink */

static int emit(pq_writer *w, const void *p, size_t n)
{
    int rc;
    if (w->failed)
        return w->failed;
    if (n == 0)
        return 0;
    rc = w->sink(w->sink_ctx, p, n, &w->err);
    if (rc) {
        if (rc > 0)
            rc = TS_ERR_IO;
        return fail(w, rc, "the output sink failed after %lld bytes", (long long)w->offset);
    }
    w->offset += (int64_t)n;
    return 0;
}

/* The leading magic, sent with the first row group (or the footer of an empty file). */
static int begin_file(pq_writer *w)
{
    return w->offset == 0 ? emit(w, "PAR1", 4) : 0;
}

/* ------------------------------------------------------------------ lifecycle */

static void stats_init(wstats *s)
{
    s->has = false;
    s->nulls = 0;
    ts_buf_init(&s->min, 0);
    ts_buf_init(&s->max, 0);
}

static void stats_free(wstats *s)
{
    ts_buf_free(&s->min);
    ts_buf_free(&s->max);
}

static void free_pages(pq_col *c)
{
    while (c->pages) {
        pq_pageblk *next = c->pages->next;
        ts_free(c->pages);
        c->pages = next;
    }
    c->pages_tail = &c->pages;
}

static void col_free(pq_col *c)
{
    ts_free(c->name);
    ts_buf_free(&c->def);
    ts_buf_free(&c->rep);
    ts_buf_free(&c->vals);
    ts_buf_free(&c->idx);
    ts_buf_free(&c->dict);
    free_pages(c);
    ts_free(c->slots);
    ts_free(c->kslots);
    ts_free(c->ent_off);
    ts_free(c->ent_len);
    ts_free(c->ent_hash);
    ts_free(c->seen);
    stats_free(&c->page_st);
    stats_free(&c->chunk_st);
}

static int col_width(const pq_column_spec *s)
{
    switch (s->physical) {
    case PQ_BOOLEAN: return 1;
    case PQ_INT32: case PQ_FLOAT: return 4;
    case PQ_INT64: case PQ_DOUBLE: return 8;
    case PQ_FIXED_LEN_BYTE_ARRAY: return s->type_length;
    default: return 0;
    }
}

/* Values before the first look at a fresh page's size: a guess from the value width,
 * so small page_bytes still split pages. */
static size_t first_check(const pq_writer *w, const pq_col *c)
{
    size_t per = c->width ? (size_t)c->width : 8;
    size_t n = (size_t)w->opt.page_bytes / per / 2;
    return n < 1 ? 1 : n > 1024 ? 1024 : n;
}

pq_writer *pq_writer_new(const pq_column_spec *cols, int ncols, const pq_writer_options *opt,
                         pq_sink_fn sink, void *sink_ctx, ts_err *err)
{
    pq_writer *w = NULL;
    pq_writer_options def;
    if (!opt) {
        pq_writer_options_default(&def);
        opt = &def;
    }
    if (!cols || ncols < 1 || !sink) {
        ts_err_set(err, TS_ERR_INVALID, "a Parquet writer needs a sink and at least one column");
        return NULL;
    }
    if (opt->row_group_rows < 1 || opt->row_group_bytes < 1 || opt->page_bytes < 1 ||
        opt->dictionary_bytes_limit < 0) {
        ts_err_set(err, TS_ERR_INVALID, "row group, page and dictionary sizes must be positive");
        return NULL;
    }
    for (int i = 0; i < ncols; i++) {
        if (check_spec(&cols[i], err))
            return NULL;
        for (int j = 0; j < i; j++)
            if (!strcmp(cols[i].name, cols[j].name)) {
                ts_err_set(err, TS_ERR_INVALID, "column \"%s\" appears twice", cols[i].name);
                return NULL;
            }
    }
    w = ts_calloc(1, sizeof *w);
    if (!w)
        goto nomem;
    w->opt = *opt;
    w->sink = sink;
    w->sink_ctx = sink_ctx;
    ts_buf_init(&w->rg_meta, 0);
    ts_buf_init(&w->page, 0);
    ts_buf_init(&w->hdr, 0);
    w->created_by = ts_strdup(opt->created_by ? opt->created_by
                                              : "tsarchive version " TS_VERSION " (build " TS_BUILD_ID ")");
    if (!w->created_by)
        goto nomem;
    w->cols = ts_calloc((size_t)ncols, sizeof *w->cols);
    if (!w->cols)
        goto nomem;
    w->ncols = ncols;
    for (int i = 0; i < ncols; i++) {
        pq_col *c = &w->cols[i];
        const pq_column_spec *s = &cols[i];
        c->spec = *s;
        ts_buf_init(&c->def, 0);
        ts_buf_init(&c->rep, 0);
        ts_buf_init(&c->vals, 0);
        ts_buf_init(&c->idx, 0);
        ts_buf_init(&c->dict, 0);
        c->pages_tail = &c->pages;
        stats_init(&c->page_st);
        stats_init(&c->chunk_st);
        c->name = ts_strdup(s->name);
        if (!c->name)
            goto nomem;
        c->spec.name = c->name;
        c->ord = order_of(s);
        c->width = col_width(s);
        c->kfixed = (c->width == 4 || c->width == 8) && s->physical != PQ_FIXED_LEN_BYTE_ARRAY;
        if (s->list) {
            c->max_def = (s->nullable ? 1 : 0) + 2;
            c->max_rep = 1;
        } else {
            c->max_def = s->nullable ? 1 : 0;
            c->max_rep = 0;
        }
        c->def_bw = pq_bit_width((uint64_t)c->max_def);
        c->def_implicit = c->max_def > 0 && c->max_rep == 0;
        c->rep_bw = pq_bit_width((uint64_t)c->max_rep);
        switch ((int)s->encoding) {
        case PQ_ENC_DEFAULT:
            c->dict_ok = opt->dictionary && s->physical != PQ_BOOLEAN;
            c->data_enc = PQ_ENC_PLAIN;
            break;
        case PQ_ENC_RLE_DICTIONARY:
        case PQ_ENC_PLAIN_DICTIONARY:
            c->dict_ok = s->physical != PQ_BOOLEAN;
            c->data_enc = PQ_ENC_PLAIN;
            break;
        default:
            c->dict_ok = false;
            c->data_enc = s->encoding;
            break;
        }
        c->dict_on = c->dict_ok;
        c->next_check = first_check(w, c);
    }
    if (opt->codec != PQ_CODEC_UNCOMPRESSED) {
        w->cz = pq_compressor_new(opt->codec, opt->codec_level, err);
        if (!w->cz)
            goto fail;
    }
    return w;
nomem:
    ts_err_set(err, TS_ERR_NOMEM, "out of memory creating a Parquet writer");
fail:
    pq_writer_free(w);
    return NULL;
}

void pq_writer_free(pq_writer *w)
{
    if (!w)
        return;
    if (w->cols)
        for (int i = 0; i < w->ncols; i++)
            col_free(&w->cols[i]);
    ts_free(w->cols);
    ts_free(w->created_by);
    ts_buf_free(&w->rg_meta);
    ts_buf_free(&w->page);
    ts_buf_free(&w->hdr);
    pq_compressor_free(w->cz);
    for (size_t i = 0; i < w->nkv * 2; i++)
        ts_free(w->kv[i]);
    ts_free(w->kv);
    ts_free(w);
}

const ts_err *pq_writer_error(const pq_writer *w)
{
    return &w->err;
}

int pq_writer_add_kv(pq_writer *w, const char *key, const char *value)
{
    char *k = NULL, *v = NULL;
    if (w->failed)
        return w->failed;
    if (w->closed)
        return fail(w, TS_ERR_INTERNAL, "pq_writer_add_kv after close");
    if (!key)
        return fail(w, TS_ERR_INTERNAL, "pq_writer_add_kv without a key");
    if (w->nkv == w->kv_cap) {
        size_t ncap = w->kv_cap ? w->kv_cap * 2 : 8;
        char **p = ts_realloc(w->kv, ncap * 2 * sizeof *p);
        if (!p)
            return fail(w, TS_ERR_NOMEM, "out of memory adding key \"%s\"", key);
        w->kv = p;
        w->kv_cap = ncap;
    }
    k = ts_strdup(key);
    if (value)
        v = ts_strdup(value);
    if (!k || (value && !v)) {
        ts_free(k);
        ts_free(v);
        return fail(w, TS_ERR_NOMEM, "out of memory adding key \"%s\"", key);
    }
    w->kv[w->nkv * 2] = k;
    w->kv[w->nkv * 2 + 1] = v;
    w->nkv++;
    return 0;
}

/* ------------------------------------------------------------------ statistics */

static int cmp_stat(int ord, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    switch (ord) {
    case ORD_BOOL: return (a[0] > b[0]) - (a[0] < b[0]);
    case ORD_I32: {
        int32_t x, y;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        return (x > y) - (x < y);
    }
    case ORD_I64: {
        int64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        return (x > y) - (x < y);
    }
    case ORD_U32: {
        uint32_t x, y;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        return (x > y) - (x < y);
    }
    case ORD_U64: {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        return (x > y) - (x < y);
    }
    case ORD_FLOAT: {
        float x, y;
        memcpy(&x, a, 4);
        memcpy(&y, b, 4);
        return (x > y) - (x < y);
    }
    case ORD_DOUBLE: {
        double x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        return (x > y) - (x < y);
    }
    case ORD_SIGNED_BE: return pq_cmp_signed_be(a, alen, b, blen);
    default: return pq_cmp_bytes(a, alen, b, blen);
    }
}

static int stats_set(wstats *s, const void *min, size_t minlen, const void *max, size_t maxlen)
{
    int rc;
    ts_buf_reset(&s->min);
    ts_buf_reset(&s->max);
    rc = ts_buf_append(&s->min, min, minlen);
    if (!rc)
        rc = ts_buf_append(&s->max, max, maxlen);
    if (!rc)
        s->has = true;
    return rc;
}

/* Page statistics from the page's buffered values; the typed loops keep this cheap. */
static int page_stats(pq_col *c)
{
    wstats *s = &c->page_st;
    size_t n = c->page_nonnull;
    const uint32_t *ix = (const uint32_t *)c->idx.data;
    const uint8_t *base = c->dict_on ? c->dict.data : c->vals.data;
    s->has = false;
    s->nulls = (int64_t)(c->page_values - c->page_nonnull);
    if (n == 0 || c->ord == ORD_NONE)
        return 0;
#define AT(T, i) (c->dict_on ? ((const T *)base)[ix[i]] : ((const T *)base)[i])
    switch (c->ord) {
    case ORD_BOOL: {
        uint8_t lo = 1, hi = 0;
        for (size_t i = 0; i < n; i++) {
            uint8_t v = c->vals.data[i];
            lo &= v;
            hi |= v;
        }
        return stats_set(s, &lo, 1, &hi, 1);
    }
    /* min and max in the type's own order: one loop, four integer types */
#define MINMAX(T)                                                                                  \
    {                                                                                              \
        T lo = AT(T, 0), hi = lo;                                                                  \
        for (size_t i = 1; i < n; i++) {                                                           \
            T v = AT(T, i);                                                                        \
            lo = v < lo ? v : lo;                                                                  \
            hi = v > hi ? v : hi;                                                                  \
        }                                                                                          \
        return stats_set(s, &lo, sizeof lo, &hi, sizeof hi);                                       \
    }
    case ORD_I32:
        MINMAX(int32_t)
    case ORD_I64:
        MINMAX(int64_t)
    case ORD_U32:
        MINMAX(uint32_t)
    case ORD_U64:
        MINMAX(uint64_t)
#undef MINMAX
    case ORD_FLOAT: {
        float lo = INFINITY, hi = -INFINITY;
        bool any = false;
        for (size_t i = 0; i < n; i++) {
            float v = AT(float, i);
            if (isnan(v))
                continue;
            any = true;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        if (!any)
            return 0;
        /* -0.0 and +0.0 compare equal: a zero min is written -0, a zero max +0. */
        if (lo == 0)
            lo = -0.0f;
        if (hi == 0)
            hi = 0.0f;
        return stats_set(s, &lo, 4, &hi, 4);
    }
    case ORD_DOUBLE: {
        double lo = INFINITY, hi = -INFINITY;
        bool any = false;
        for (size_t i = 0; i < n; i++) {
            double v = AT(double, i);
            if (isnan(v))
                continue;
            any = true;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        if (!any)
            return 0;
        if (lo == 0)
            lo = -0.0;
        if (hi == 0)
            hi = 0.0;
        return stats_set(s, &lo, 8, &hi, 8);
    }
    default:
        break;
    }
#undef AT
    /* Byte arrays and FIXED_LEN_BYTE_ARRAY. */
    {
        const uint8_t *lo = NULL, *hi = NULL;
        size_t lolen = 0, hilen = 0, off = 0;
        size_t fw = c->spec.physical == PQ_FIXED_LEN_BYTE_ARRAY ? (size_t)c->width : 0;
        if (c->dict_on)
            c->epoch++;
        for (size_t i = 0; i < n; i++) {
            const uint8_t *p;
            size_t len;
            if (c->dict_on) {
                uint32_t e = ix[i];
                if (c->seen[e] == c->epoch)
                    continue;
                c->seen[e] = c->epoch;
                p = c->dict.data + (fw ? (size_t)e * fw : c->ent_off[e]);
                len = fw ? fw : c->ent_len[e];
            } else if (fw) {
                p = base + i * fw;
                len = fw;
            } else {
                uint32_t l;
                memcpy(&l, base + off, 4);
                p = base + off + 4;
                len = l;
                off += 4 + l;
            }
            if (!lo) {
                lo = hi = p;
                lolen = hilen = len;
                continue;
            }
            if (cmp_stat(c->ord, p, len, lo, lolen) < 0) {
                lo = p;
                lolen = len;
            } else if (cmp_stat(c->ord, p, len, hi, hilen) > 0) {
                hi = p;
                hilen = len;
            }
        }
        return stats_set(s, lo, lolen, hi, hilen);
    }
}

static int stats_merge(int ord, wstats *into, const wstats *from)
{
    int rc = 0;
    into->nulls += from->nulls;
    if (!from->has)
        return 0;
    if (!into->has)
        return stats_set(into, from->min.data, from->min.len, from->max.data, from->max.len);
    if (cmp_stat(ord, from->min.data, from->min.len, into->min.data, into->min.len) < 0) {
        ts_buf_reset(&into->min);
        rc = ts_buf_append(&into->min, from->min.data, from->min.len);
    }
    if (!rc && cmp_stat(ord, from->max.data, from->max.len, into->max.data, into->max.len) > 0) {
        ts_buf_reset(&into->max);
        rc = ts_buf_append(&into->max, from->max.data, from->max.len);
    }
    return rc;
}

/* Statistics struct as a field of the current struct. Long byte-array bounds are cut:
 * the min to a prefix, the max to a prefix whose last byte is incremented. */
static void put_stats(pq_tenc *e, int16_t fid, const pq_col *c, const wstats *s)
{
    bool legacy = c->ord == ORD_BOOL || c->ord == ORD_I32 || c->ord == ORD_I64 ||
                  c->ord == ORD_FLOAT || c->ord == ORD_DOUBLE;
    pq_tenc_struct_begin(e, fid);
    if (s->has && legacy) {
        pq_tenc_binary(e, 1, s->max.data, s->max.len);
        pq_tenc_binary(e, 2, s->min.data, s->min.len);
    }
    pq_tenc_i64(e, 3, s->nulls);
    if (s->has) {
        size_t maxlen = s->max.len, minlen = s->min.len;
        bool max_exact = true, min_exact = true, have_max = true;
        uint8_t maxbuf[STATS_MAX_BYTES];
        const uint8_t *maxp = s->max.data;
        if (c->ord == ORD_BYTES && maxlen > STATS_MAX_BYTES) {
            size_t k = STATS_MAX_BYTES;
            memcpy(maxbuf, s->max.data, k);
            while (k > 0 && maxbuf[k - 1] == 0xff)
                k--;
            if (k == 0) {
                have_max = false;
            } else {
                maxbuf[k - 1]++;
                maxlen = k;
                maxp = maxbuf;
                max_exact = false;
            }
        }
        if (c->ord == ORD_BYTES && minlen > STATS_MAX_BYTES) {
            minlen = STATS_MAX_BYTES;
            min_exact = false;
        }
        if (c->ord == ORD_SIGNED_BE && (maxlen > STATS_MAX_BYTES || minlen > STATS_MAX_BYTES)) {
            have_max = false;
            minlen = 0;
        }
        if (have_max)
            pq_tenc_binary(e, 5, maxp, maxlen);
        if (minlen || c->ord == ORD_BYTES)
            pq_tenc_binary(e, 6, s->min.data, minlen);
        if (have_max)
            pq_tenc_bool(e, 7, max_exact);
        if (minlen || c->ord == ORD_BYTES)
            pq_tenc_bool(e, 8, min_exact);
    }
    pq_tenc_struct_end(e);
}

/* ------------------------------------------------------------------ pages */

/* Levels lv[0..page_values), or (lv NULL) page_values times max_def. */
static int put_levels(pq_writer *w, pq_col *c, const uint8_t *lv, int bw)
{
    size_t at = w->page.len;
    uint32_t len;
    int rc = ts_buf_reserve(&w->page, 4);
    if (rc)
        return fail_col(w, c, rc, "levels");
    w->page.len += 4;
    rc = lv ? pq_enc_hybrid_u8(lv, c->page_values, bw, &w->page)
            : pq_enc_hybrid_repeat((uint32_t)c->max_def, c->page_values, bw, &w->page);
    if (rc)
        return fail_col(w, c, rc, "levels");
    len = (uint32_t)(w->page.len - at - 4);
    memcpy(w->page.data + at, &len, 4);
    return 0;
}

/* Compresses n bytes at src into a page block (header + body) at *out; counts its
 * sizes into c. */
static int write_page(pq_writer *w, pq_col *c, const uint8_t *src, size_t n, int type,
                      int encoding, int64_t num_values, bool stats, pq_pageblk **out)
{
    const uint8_t *body = src;
    size_t body_len = n;
    pq_pageblk *blk = NULL, *nb;
    pq_tenc e;
    int rc;
    if (n > INT32_MAX)
        return fail(w, TS_ERR_TOOBIG, "a page of column \"%s\" is %zu bytes, past 2 GiB",
                    c->name, n);
    if (w->cz) { /* into the page's own block: no long-lived buffer of the bound's size */
        size_t bound = pq_compress_bound(w->opt.codec, n) + 128;
        blk = ts_malloc(sizeof *blk + HDR_ROOM + bound);
        if (!blk)
            return fail_col(w, c, TS_ERR_NOMEM, "a compressed page");
        rc = pq_compressor_run_into(w->cz, src, n, blk->data + HDR_ROOM, bound, &body_len,
                                    &w->err);
        if (rc) {
            ts_free(blk);
            return fail(w, rc, "could not compress a page of column \"%s\"", c->name);
        }
        body = blk->data + HDR_ROOM;
        if (body_len > INT32_MAX) {
            ts_free(blk);
            return fail(w, TS_ERR_TOOBIG, "a compressed page of column \"%s\" passed 2 GiB",
                        c->name);
        }
    }
    ts_buf_reset(&w->hdr);
    pq_tenc_init(&e, &w->hdr);
    pq_tenc_i32(&e, 1, type);
    pq_tenc_i32(&e, 2, (int32_t)n);
    pq_tenc_i32(&e, 3, (int32_t)body_len);
    if (w->opt.page_crc)
        pq_tenc_i32(&e, 4, (int32_t)crc32(crc32(0L, Z_NULL, 0), body, (uInt)body_len));
    if (type == PAGE_DATA) {
        pq_tenc_struct_begin(&e, 5);
        pq_tenc_i32(&e, 1, (int32_t)num_values);
        pq_tenc_i32(&e, 2, encoding);
        pq_tenc_i32(&e, 3, PQ_ENC_RLE);
        pq_tenc_i32(&e, 4, PQ_ENC_RLE);
        if (stats)
            put_stats(&e, 5, c, &c->page_st);
        pq_tenc_struct_end(&e);
    } else {
        pq_tenc_struct_begin(&e, 7);
        pq_tenc_i32(&e, 1, (int32_t)num_values);
        pq_tenc_i32(&e, 2, encoding);
        pq_tenc_struct_end(&e);
    }
    if ((rc = pq_tenc_finish(&e))) {
        ts_free(blk);
        return fail_col(w, c, rc, "a page header");
    }
    if (blk && w->hdr.len <= HDR_ROOM) {
        blk->off = HDR_ROOM - w->hdr.len;
        memcpy(blk->data + blk->off, w->hdr.data, w->hdr.len);
        if ((nb = ts_realloc(blk, sizeof *blk + HDR_ROOM + body_len)) != NULL) /* shrinks */
            blk = nb;
    } else { /* uncompressed, or a header past the room: a block of its own */
        nb = ts_malloc(sizeof *nb + w->hdr.len + body_len);
        if (!nb) {
            ts_free(blk);
            return fail_col(w, c, TS_ERR_NOMEM, "a page");
        }
        nb->off = 0;
        memcpy(nb->data, w->hdr.data, w->hdr.len);
        if (body_len)
            memcpy(nb->data + w->hdr.len, body, body_len);
        ts_free(blk);
        blk = nb;
    }
    blk->next = NULL;
    blk->len = w->hdr.len + body_len;
    c->ch_uncomp += (int64_t)(w->hdr.len + n);
    c->ch_comp += (int64_t)blk->len;
    *out = blk;
    return 0;
}

static int flush_page(pq_writer *w, pq_col *c)
{
    int rc, enc;
    size_t n = c->page_nonnull;
    bool use_dict;
    if (c->page_values == 0)
        return 0;
    /* A page of NULLs only is never dictionary encoded: no empty dictionary pages. */
    use_dict = c->dict_on && c->ndict > 0;
    ts_buf_reset(&w->page);
    if (c->max_rep > 0 && (rc = put_levels(w, c, c->rep.data, c->rep_bw)))
        return rc;
    if (c->max_def > 0 &&
        (rc = put_levels(w, c, c->def_implicit ? NULL : c->def.data, c->def_bw)))
        return rc;
    if (use_dict) {
        int bw = pq_bit_width(c->ndict > 1 ? c->ndict - 1 : 1);
        enc = PQ_ENC_RLE_DICTIONARY;
        rc = ts_buf_putc(&w->page, (uint8_t)bw);
        if (!rc)
            rc = pq_enc_hybrid_u32((const uint32_t *)c->idx.data, n, bw, &w->page);
    } else {
        enc = c->data_enc;
        switch ((int)c->data_enc) {
        case PQ_ENC_RLE: {
            size_t at = w->page.len;
            uint32_t len;
            rc = ts_buf_reserve(&w->page, 4);
            if (rc)
                break;
            w->page.len += 4;
            rc = pq_enc_hybrid_u8(c->vals.data, n, 1, &w->page);
            len = (uint32_t)(w->page.len - at - 4);
            memcpy(w->page.data + at, &len, 4);
            break;
        }
        case PQ_ENC_DELTA_BINARY_PACKED:
            rc = c->width == 4 ? pq_enc_delta_i32((const int32_t *)c->vals.data, n, &w->page)
                               : pq_enc_delta_i64((const int64_t *)c->vals.data, n, &w->page);
            break;
        case PQ_ENC_DELTA_LENGTH_BYTE_ARRAY:
            rc = pq_enc_delta_length(c->vals.data, c->vals.len, n, &w->page);
            break;
        case PQ_ENC_BYTE_STREAM_SPLIT:
            rc = pq_enc_byte_stream_split(c->vals.data, n, (size_t)c->width, &w->page);
            break;
        default:
            if (c->spec.physical == PQ_BOOLEAN)
                rc = pq_enc_bool_plain(c->vals.data, n, &w->page);
            else
                rc = ts_buf_append(&w->page, c->vals.data, c->vals.len);
            break;
        }
    }
    if (rc)
        return fail_col(w, c, rc, "a page");
    rc = page_stats(c);
    if (!rc)
        rc = stats_merge(c->ord, &c->chunk_st, &c->page_st);
    if (rc)
        return fail_col(w, c, rc, "statistics");
    {
        pq_pageblk *blk;
        rc = write_page(w, c, w->page.data, w->page.len, PAGE_DATA, enc,
                        (int64_t)c->page_values, w->opt.page_statistics, &blk);
        if (rc)
            return rc;
        *c->pages_tail = blk;
        c->pages_tail = &blk->next;
    }
    c->ch_values += (int64_t)c->page_values;
    if (use_dict)
        c->pages_dict++;
    else
        c->pages_data++;
    c->enc_mask |= 1u << enc;
    ts_buf_reset(&c->def);
    c->def_implicit = c->max_def > 0 && c->max_rep == 0;
    ts_buf_reset(&c->rep);
    ts_buf_reset(&c->vals);
    ts_buf_reset(&c->idx);
    c->page_values = c->page_nonnull = 0;
    c->next_check = first_check(w, c);
    return 0;
}

/* Bytes the current page would take, uncompressed (levels estimated). */
static size_t page_estimate(const pq_col *c)
{
    size_t lv = (c->page_values * (size_t)(c->def_bw + c->rep_bw) + 7) / 8;
    if (c->dict_on)
        return lv + 1 + (c->page_nonnull * (size_t)pq_bit_width(c->ndict | 1) + 7) / 8;
    if (c->spec.physical == PQ_BOOLEAN)
        return lv + (c->page_nonnull + 7) / 8;
    return lv + c->vals.len;
}

/* ------------------------------------------------------------------ dictionary */

/* MurmurHash3's 64-bit finalizer: every input bit reaches the low bits the table
 * takes. (One multiply folded in half left doubles such as x / 977.0 or a random walk
 * of thousandths in long clusters: 15 probes per insert instead of 1.) */
static inline uint32_t hash64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return (uint32_t)k;
}

/* Bits of an 8-byte key's mix that its slot keeps (the table index takes others). */
static inline uint32_t tag8(uint64_t k)
{
    return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 32);
}

static uint32_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t k;
        memcpy(&k, p, 8);
        h = (h ^ k) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t k = 0;
        memcpy(&k, p, n);
        h = (h ^ k) * 0xc4ceb9fe1a85ec53ull;
    }
    h ^= h >> 29;
    h *= 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32);
}

/* Hash of entry e of a byte-array or FIXED_LEN_BYTE_ARRAY dictionary. */
static uint32_t entry_hash(const pq_col *c, size_t e)
{
    if (c->width == 0)
        return c->ent_hash[e];
    return hash_bytes(c->dict.data + e * (size_t)c->width, (size_t)c->width);
}

/* Whether one more entry would pass the table's load limit: 3/4 for in-slot keys
 * (short probes over 16-byte slots), 1/2 for byte arrays (each probe may compare). */
static inline bool table_full(const pq_col *c)
{
    if (c->kfixed)
        return (c->ndict + 1) * 4 > (c->mask + 1) * 3;
    return (c->ndict + 1) * 2 > c->mask + 1;
}

/* Grows the table (and the entry arrays) so one more entry fits under the load limit. */
static int dict_room(pq_writer *w, pq_col *c)
{
    bool have = c->slots || c->kslots;
    if (!c->kfixed && c->ndict + 1 > c->ent_cap) {
        size_t ncap = c->ent_cap ? c->ent_cap * 2 : 1024;
        uint32_t *seen = ts_realloc(c->seen, ncap * sizeof *seen);
        if (!seen)
            return fail_col(w, c, TS_ERR_NOMEM, "the dictionary");
        c->seen = seen;
        memset(seen + c->ent_cap, 0, (ncap - c->ent_cap) * sizeof *seen);
        if (c->width == 0) {
            uint32_t *a = ts_realloc(c->ent_off, ncap * sizeof *a);
            if (!a)
                return fail_col(w, c, TS_ERR_NOMEM, "the dictionary");
            c->ent_off = a;
            a = ts_realloc(c->ent_len, ncap * sizeof *a);
            if (!a)
                return fail_col(w, c, TS_ERR_NOMEM, "the dictionary");
            c->ent_len = a;
            a = ts_realloc(c->ent_hash, ncap * sizeof *a);
            if (!a)
                return fail_col(w, c, TS_ERR_NOMEM, "the dictionary");
            c->ent_hash = a;
        }
        c->ent_cap = ncap;
    }
    if (!have || table_full(c)) {
        size_t nslots = have ? (c->mask + 1) * 2 : 2048, m = nslots - 1;
        if (c->kfixed) {
            uint64_t *ks = ts_calloc(nslots, sizeof *ks);
            if (!ks)
                return fail_col(w, c, TS_ERR_NOMEM, "the dictionary");
            for (size_t e = 0; e < c->ndict; e++) {
                uint64_t k = 0, tagged;
                size_t h;
                memcpy(&k, c->dict.data + e * (size_t)c->width, (size_t)c->width);
                tagged = c->width == 4 ? k << 32 : (uint64_t)tag8(k) << 32;
                h = hash64(k) & m;
                while (ks[h])
                    h = (h + 1) & m;
                ks[h] = tagged | (e + 1);
            }
            ts_free(c->kslots);
            c->kslots = ks;
        } else {
            uint32_t *sl = ts_calloc(nslots, sizeof *sl);
            if (!sl)
                return fail_col(w, c, TS_ERR_NOMEM, "the dictionary");
            for (size_t e = 0; e < c->ndict; e++) {
                size_t h = entry_hash(c, e) & m;
                while (sl[h])
                    h = (h + 1) & m;
                sl[h] = (uint32_t)e + 1;
            }
            ts_free(c->slots);
            c->slots = sl;
        }
        c->mask = m;
    }
    return 0;
}

static inline void dict_added(pq_writer *w, pq_col *c)
{
    if (UNLIKELY((int64_t)c->dict.len > w->opt.dictionary_bytes_limit)) {
        c->dict_overflow = true;
        c->next_check = 0; /* switch at the next row start */
    }
}

/* Room for n more dictionary bytes. Doubling stops at the dictionary's limit (plus
 * the value that passes it): a buffer twice the limit would hold half of it unused. */
static int grow_dict(pq_writer *w, pq_col *c, size_t n)
{
    ts_buf *b = &c->dict;
    size_t limit = (size_t)w->opt.dictionary_bytes_limit + 16, need = b->len + n + 1, ncap;
    uint8_t *p;
    if (LIKELY(b->cap >= need))
        return 0;
    ncap = b->cap ? b->cap * 2 : 1024;
    if (ncap > limit)
        ncap = limit;
    if (ncap < need)
        ncap = need;
    p = ts_realloc(b->data, ncap);
    if (!p)
        return fail_col(w, c, TS_ERR_NOMEM, "the dictionary");
    b->data = p;
    b->cap = ncap;
    return 0;
}

static inline int put_index(pq_writer *w, pq_col *c, uint32_t e)
{
    int rc = grow(w, c, &c->idx, 4);
    if (rc)
        return rc;
    memcpy(c->idx.data + c->idx.len, &e, 4);
    c->idx.len += 4;
    c->page_nonnull++;
    c->dict_values++;
    return 0;
}

/* 4- and 8-byte values: the key is in the slot, so a probe touches one cache line. */
static int dict_put4(pq_writer *w, pq_col *c, uint32_t key)
{
    size_t h;
    uint64_t s;
    int rc;
    if (UNLIKELY(!c->kslots) && (rc = dict_room(w, c)))
        return rc;
    h = hash64(key) & c->mask;
    while ((s = c->kslots[h]) != 0) {
        if ((uint32_t)(s >> 32) == key)
            return put_index(w, c, (uint32_t)s - 1);
        h = (h + 1) & c->mask;
    }
    if (table_full(c)) {
        if ((rc = dict_room(w, c)))
            return rc;
        h = hash64(key) & c->mask;
        while (c->kslots[h])
            h = (h + 1) & c->mask;
    }
    if ((rc = grow_dict(w, c, 4)))
        return rc;
    memcpy(c->dict.data + c->dict.len, &key, 4);
    c->dict.len += 4;
    c->kslots[h] = (uint64_t)key << 32 | (uint32_t)++c->ndict;
    dict_added(w, c);
    return put_index(w, c, (uint32_t)c->ndict - 1);
}

/* An 8-byte key does not fit a slot with its entry: the slot keeps 32 other bits of
 * the key's mix as a tag, and a matching tag reads the key from the dictionary. Half
 * the table key and entry would take (the batch calls prefetch both), which kept a
 * large dictionary's writer heap over 1.5 x the encoded row group. */
static int dict_put8(pq_writer *w, pq_col *c, uint64_t key)
{
    size_t h;
    uint64_t s, tag = (uint64_t)tag8(key) << 32;
    int rc;
    if (UNLIKELY(!c->kslots) && (rc = dict_room(w, c)))
        return rc;
    h = hash64(key) & c->mask;
    while ((s = c->kslots[h]) != 0) {
        if ((s & 0xffffffff00000000ull) == tag) {
            uint64_t k;
            memcpy(&k, c->dict.data + ((s & 0xffffffffu) - 1) * 8, 8);
            if (k == key)
                return put_index(w, c, (uint32_t)s - 1);
        }
        h = (h + 1) & c->mask;
    }
    if (table_full(c)) {
        if ((rc = dict_room(w, c)))
            return rc;
        h = hash64(key) & c->mask;
        while (c->kslots[h])
            h = (h + 1) & c->mask;
    }
    if ((rc = grow_dict(w, c, 8)))
        return rc;
    memcpy(c->dict.data + c->dict.len, &key, 8);
    c->dict.len += 8;
    c->kslots[h] = tag | (uint32_t)++c->ndict;
    dict_added(w, c);
    return put_index(w, c, (uint32_t)c->ndict - 1);
}

/* Equality of n bytes, inline up to 16 (two overlapping words): most dictionary hits
 * are short strings, where a call to memcmp costs more than the comparison. */
static inline bool bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint64_t x, y, u, v;
    if (n >= 8 && n <= 16) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        memcpy(&u, a + n - 8, 8);
        memcpy(&v, b + n - 8, 8);
        return x == y && u == v;
    }
    if (n >= 4 && n < 8) {
        uint32_t x4, y4, u4, v4;
        memcpy(&x4, a, 4);
        memcpy(&y4, b, 4);
        memcpy(&u4, a + n - 4, 4);
        memcpy(&v4, b + n - 4, 4);
        return x4 == y4 && u4 == v4;
    }
    if (n < 4) {
        for (size_t i = 0; i < n; i++)
            if (a[i] != b[i])
                return false;
        return true;
    }
    return memcmp(a, b, n) == 0;
}

static int dict_put_bytes(pq_writer *w, pq_col *c, const uint8_t *p, size_t len)
{
    size_t fw = c->spec.physical == PQ_FIXED_LEN_BYTE_ARRAY ? (size_t)c->width : 0;
    uint32_t hv = hash_bytes(p, len), s, len32 = (uint32_t)len;
    size_t h;
    int rc;
    if (UNLIKELY(!c->slots) && (rc = dict_room(w, c)))
        return rc;
    h = hv & c->mask;
    while ((s = c->slots[h]) != 0) {
        size_t e = s - 1;
        if (fw) {
            if (bytes_equal(c->dict.data + e * fw, p, fw))
                return put_index(w, c, (uint32_t)e);
        } else if (c->ent_hash[e] == hv && c->ent_len[e] == len32 &&
                   bytes_equal(c->dict.data + c->ent_off[e], p, len)) {
            return put_index(w, c, (uint32_t)e);
        }
        h = (h + 1) & c->mask;
    }
    if (table_full(c) || c->ndict + 1 > c->ent_cap) {
        if ((rc = dict_room(w, c)))
            return rc;
        h = hv & c->mask;
        while (c->slots[h])
            h = (h + 1) & c->mask;
    }
    if (!fw && c->dict.len + 4 + len > UINT32_MAX)
        return fail(w, TS_ERR_TOOBIG, "dictionary of column \"%s\" passed 4 GiB", c->name);
    if ((rc = grow_dict(w, c, len + 4)))
        return rc;
    if (!fw) {
        memcpy(c->dict.data + c->dict.len, &len32, 4);
        c->dict.len += 4;
        c->ent_off[c->ndict] = (uint32_t)c->dict.len;
        c->ent_len[c->ndict] = len32;
        c->ent_hash[c->ndict] = hv;
    }
    if (len)
        memcpy(c->dict.data + c->dict.len, p, len);
    c->dict.len += len;
    c->slots[h] = (uint32_t)++c->ndict;
    dict_added(w, c);
    return put_index(w, c, (uint32_t)c->ndict - 1);
}

/* Leaves dictionary encoding for the rest of the chunk. When the dictionary did not
 * pay and no page used it yet, the current page is turned back into PLAIN values and
 * the dictionary dropped; otherwise the page is flushed with its indices and the
 * dictionary kept for the chunk's dictionary page. Runs at a row boundary. */
static bool dict_pays(const pq_col *c)
{
    /* PLAIN bytes of the values so far against dictionary + indices */
    double plain = (double)c->dict_values * (c->width ? c->width : 4) +
                   (c->width ? 0 : (double)c->dict.len * c->dict_values / (c->ndict | 1));
    double dict = (double)c->dict.len +
                  (double)c->dict_values * pq_bit_width(c->ndict | 1) / 8.0;
    return dict < 0.6 * plain; /* a clear win: zstd and friends narrow the gap */
}

static int dict_fallback(pq_writer *w, pq_col *c)
{
    int rc;
    if (c->pages_dict == 0 && !dict_pays(c)) {
        size_t n = c->page_nonnull, fw = (size_t)c->width;
        const uint32_t *ix = (const uint32_t *)c->idx.data;
        ts_buf_reset(&c->vals);
        for (size_t i = 0; i < n; i++) {
            const uint8_t *p;
            size_t len;
            if (fw) {
                p = c->dict.data + ix[i] * fw;
                len = fw;
            } else {
                p = c->dict.data + c->ent_off[ix[i]] - 4;
                len = 4 + c->ent_len[ix[i]];
            }
            if ((rc = grow(w, c, &c->vals, len)))
                return rc;
            memcpy(c->vals.data + c->vals.len, p, len);
            c->vals.len += len;
        }
        ts_buf_reset(&c->idx);
        ts_buf_reset(&c->dict);
        c->ndict = 0;
        c->dict_on = false;
    } else {
        if ((rc = flush_page(w, c)))
            return rc;
        c->dict_on = false;
    }
    ts_free(c->slots);
    c->slots = NULL;
    ts_free(c->kslots);
    c->kslots = NULL;
    c->mask = 0;
    c->dict_overflow = false;
    return 0;
}

static inline size_t page_limit(const pq_writer *w)
{
    size_t b = (size_t)w->opt.page_bytes;
    return b - b / 32;
}

/* The slow path at a row start: dictionary decisions and page boundaries. */
static int row_slow(pq_writer *w, pq_col *c)
{
    size_t est, step, per;
    int rc;
    if (c->dict_on) {
        if (c->dict_overflow)
            return dict_fallback(w, c) ? w->failed : row_slow(w, c);
        if (!c->dict_probed && c->dict_values >= DICT_PROBE_VALUES) {
            c->dict_probed = true;
            /* Nearly all distinct so far (keys, timestamps, measurements): a dictionary
             * will not pay. A lower share may still pay at scale (a random walk). */
            if ((int64_t)c->ndict * 50 > c->dict_values * 49 && (rc = dict_fallback(w, c)))
                return rc;
        }
    }
    est = page_estimate(c);
    /* bytes per value of this page (or of the one about to be cut), rounded up */
    per = c->page_values ? (est + c->page_values - 1) / c->page_values
                         : (c->width ? (size_t)c->width : 8);
    /* Cut a little under page_bytes, so page buffers stay within the next power of two. */
    if (est >= page_limit(w) || c->page_values >= PAGE_MAX_VALUES) {
        if ((rc = flush_page(w, c)))
            return rc;
        est = 0;
    }
    /* Next look when the page may be full, judged by its bytes per value so far (after
     * a cut, by the last page's: a guess of one byte made pages of long strings several
     * times page_bytes). */
    {
        size_t room = page_limit(w) - est;
        step = room / (per ? per : 1) / 2;
        if (step < 1)
            step = 1;
        if (step > 65536)
            step = 65536;
        if (c->dict_on && !c->dict_probed && step > 2048)
            step = 2048;
        /* a page of small indices meets the value cap before page_bytes: stop there, so
         * the index buffer stays within its power of two */
        if (step > PAGE_MAX_VALUES - c->page_values)
            step = PAGE_MAX_VALUES - c->page_values;
    }
    c->next_check = c->page_values + step;
    return 0;
}

static inline int row_start(pq_writer *w, pq_col *c)
{
    c->rows++;
    if (UNLIKELY(c->page_values >= c->next_check))
        return row_slow(w, c);
    return 0;
}

/* ------------------------------------------------------------------ value API */

static int misuse_col(pq_writer *w, int col, const char *what)
{
    if (col < 0 || col >= w->ncols)
        return fail(w, TS_ERR_INTERNAL, "%s: column %d does not exist (%d columns)", what, col,
                    w->ncols);
    return fail(w, TS_ERR_INTERNAL, "%s on column \"%s\" of type %s%s", what,
                w->cols[col].name, pq_physical_name(w->cols[col].spec.physical),
                w->cols[col].spec.list ? " (list)" : "");
}

/* Checks state and type; returns the column or NULL (writer failed). */
static inline pq_col *col_get(pq_writer *w, int col, int physical, const char *what)
{
    pq_col *c;
    if (UNLIKELY(w->failed))
        return NULL;
    if (UNLIKELY(w->closed)) {
        fail(w, TS_ERR_INTERNAL, "%s after close", what);
        return NULL;
    }
    if (UNLIKELY(col < 0 || col >= w->ncols)) {
        misuse_col(w, col, what);
        return NULL;
    }
    c = &w->cols[col];
    if (UNLIKELY(physical >= 0 && (int)c->spec.physical != physical)) {
        misuse_col(w, col, what);
        return NULL;
    }
    if (UNLIKELY(c->spec.list && !c->in_list)) {
        fail(w, TS_ERR_INTERNAL, "%s on list column \"%s\" outside pq_write_list_begin/end",
             what, c->name);
        return NULL;
    }
    return c;
}

/* The page's first NULL: the levels so far (all present) are written out. */
static int def_materialize(pq_writer *w, pq_col *c)
{
    int rc = grow(w, c, &c->def, c->page_values);
    if (rc)
        return rc;
    memset(c->def.data + c->def.len, c->max_def, c->page_values);
    c->def.len += c->page_values;
    c->def_implicit = false;
    return 0;
}

/* Levels of one present value (the row was started by the caller). */
static inline int level_present(pq_writer *w, pq_col *c)
{
    int rc;
    if (c->max_def && !c->def_implicit) {
        if ((rc = grow(w, c, &c->def, 1)))
            return rc;
        c->def.data[c->def.len++] = (uint8_t)c->max_def;
        if (c->max_rep) {
            if ((rc = grow(w, c, &c->rep, 1)))
                return rc;
            c->rep.data[c->rep.len++] = c->list_len ? 1 : 0;
            c->list_len++;
        }
    }
    c->page_values++;
    return 0;
}

static inline int level_only(pq_writer *w, pq_col *c, int def, int rep)
{
    int rc;
    if (c->def_implicit && (rc = def_materialize(w, c)))
        return rc;
    if ((rc = grow(w, c, &c->def, 1)))
        return rc;
    c->def.data[c->def.len++] = (uint8_t)def;
    if (c->max_rep) {
        if ((rc = grow(w, c, &c->rep, 1)))
            return rc;
        c->rep.data[c->rep.len++] = (uint8_t)rep;
    }
    c->page_values++;
    return 0;
}

static inline int begin_value(pq_writer *w, pq_col *c)
{
    int rc;
    if (!c->in_list && (rc = row_start(w, c)))
        return rc;
    return level_present(w, c);
}

static inline int store4(pq_writer *w, pq_col *c, uint32_t bits)
{
    int rc;
    if (c->dict_on)
        return dict_put4(w, c, bits);
    if ((rc = grow(w, c, &c->vals, 4)))
        return rc;
    memcpy(c->vals.data + c->vals.len, &bits, 4);
    c->vals.len += 4;
    c->page_nonnull++;
    return 0;
}

static inline int store8(pq_writer *w, pq_col *c, uint64_t bits)
{
    int rc;
    if (c->dict_on)
        return dict_put8(w, c, bits);
    if ((rc = grow(w, c, &c->vals, 8)))
        return rc;
    memcpy(c->vals.data + c->vals.len, &bits, 8);
    c->vals.len += 8;
    c->page_nonnull++;
    return 0;
}

int pq_write_null(pq_writer *w, int col)
{
    pq_col *c;
    int rc;
    if (w->failed)
        return w->failed;
    if (w->closed)
        return fail(w, TS_ERR_INTERNAL, "pq_write_null after close");
    if (col < 0 || col >= w->ncols)
        return misuse_col(w, col, "pq_write_null");
    c = &w->cols[col];
    if (c->in_list) /* a NULL element */
        rc = level_only(w, c, c->max_def - 1, c->list_len++ ? 1 : 0);
    else if (!c->spec.nullable)
        return fail(w, TS_ERR_INTERNAL, "pq_write_null on REQUIRED column \"%s\"", c->name);
    else if ((rc = row_start(w, c)) == 0)
        rc = level_only(w, c, 0, 0);
    return rc;
}

int pq_write_list_begin(pq_writer *w, int col)
{
    pq_col *c;
    if (w->failed)
        return w->failed;
    if (w->closed)
        return fail(w, TS_ERR_INTERNAL, "pq_write_list_begin after close");
    if (col < 0 || col >= w->ncols || !w->cols[col].spec.list)
        return misuse_col(w, col, "pq_write_list_begin");
    c = &w->cols[col];
    if (c->in_list)
        return fail(w, TS_ERR_INTERNAL, "pq_write_list_begin on column \"%s\": a list is open",
                    c->name);
    c->in_list = true;
    c->list_len = 0;
    return row_start(w, c);
}

int pq_write_list_end(pq_writer *w, int col)
{
    pq_col *c;
    if (w->failed)
        return w->failed;
    if (col < 0 || col >= w->ncols || !w->cols[col].spec.list)
        return misuse_col(w, col, "pq_write_list_end");
    c = &w->cols[col];
    if (!c->in_list)
        return fail(w, TS_ERR_INTERNAL, "pq_write_list_end on column \"%s\": no list is open",
                    c->name);
    c->in_list = false;
    if (c->list_len == 0) /* an empty list: the list is defined, no element */
        return level_only(w, c, c->max_def - 2, 0);
    return 0;
}

int pq_write_bool(pq_writer *w, int col, bool v)
{
    pq_col *c = col_get(w, col, PQ_BOOLEAN, "pq_write_bool");
    int rc;
    if (!c)
        return w->failed;
    if ((rc = begin_value(w, c)) || (rc = grow(w, c, &c->vals, 1)))
        return rc;
    c->vals.data[c->vals.len++] = v ? 1 : 0;
    c->page_nonnull++;
    return 0;
}

int pq_write_i32(pq_writer *w, int col, int32_t v)
{
    pq_col *c = col_get(w, col, PQ_INT32, "pq_write_i32");
    int rc;
    if (!c)
        return w->failed;
    if (c->spec.logical == PQ_LT_INT && c->spec.bit_width < 32) {
        int32_t lim = c->spec.bit_width == 8 ? 128 : 32768;
        if (c->spec.is_signed ? v < -lim || v >= lim : v < 0 || v >= 2 * lim)
            return fail(w, TS_ERR_INTERNAL, "value %d does not fit INT(%d) column \"%s\"", v,
                        c->spec.bit_width, c->name);
    }
    if ((rc = begin_value(w, c)))
        return rc;
    return store4(w, c, (uint32_t)v);
}

int pq_write_i64(pq_writer *w, int col, int64_t v)
{
    pq_col *c = col_get(w, col, PQ_INT64, "pq_write_i64");
    int rc;
    if (!c)
        return w->failed;
    if ((rc = begin_value(w, c)))
        return rc;
    return store8(w, c, (uint64_t)v);
}

int pq_write_float(pq_writer *w, int col, float v)
{
    pq_col *c = col_get(w, col, PQ_FLOAT, "pq_write_float");
    uint32_t bits;
    int rc;
    if (!c)
        return w->failed;
    if ((rc = begin_value(w, c)))
        return rc;
    memcpy(&bits, &v, 4);
    return store4(w, c, bits);
}

int pq_write_double(pq_writer *w, int col, double v)
{
    pq_col *c = col_get(w, col, PQ_DOUBLE, "pq_write_double");
    uint64_t bits;
    int rc;
    if (!c)
        return w->failed;
    if ((rc = begin_value(w, c)))
        return rc;
    memcpy(&bits, &v, 8);
    return store8(w, c, bits);
}

int pq_write_bytes(pq_writer *w, int col, const void *p, size_t len)
{
    pq_col *c = col_get(w, col, -1, "pq_write_bytes");
    int rc;
    if (!c)
        return w->failed;
    if (c->spec.physical == PQ_FIXED_LEN_BYTE_ARRAY) {
        if (len != (size_t)c->width)
            return fail(w, TS_ERR_INTERNAL,
                        "pq_write_bytes: %zu bytes for FIXED_LEN_BYTE_ARRAY(%d) column \"%s\"",
                        len, c->width, c->name);
    } else if (c->spec.physical != PQ_BYTE_ARRAY) {
        return misuse_col(w, col, "pq_write_bytes");
    } else if (len > INT32_MAX) {
        return fail(w, TS_ERR_TOOBIG, "a value of %zu bytes for column \"%s\" passes 2 GiB",
                    len, c->name);
    }
    if (len && !p)
        return fail(w, TS_ERR_INTERNAL, "pq_write_bytes: NULL data for column \"%s\"", c->name);
    if ((rc = begin_value(w, c)))
        return rc;
    if (c->dict_on)
        return dict_put_bytes(w, c, p, len);
    if (c->width == 0) {
        uint32_t len32 = (uint32_t)len;
        if ((rc = grow(w, c, &c->vals, len + 4)))
            return rc;
        memcpy(c->vals.data + c->vals.len, &len32, 4);
        c->vals.len += 4;
    } else if ((rc = grow(w, c, &c->vals, len))) {
        return rc;
    }
    if (len)
        memcpy(c->vals.data + c->vals.len, p, len);
    c->vals.len += len;
    c->page_nonnull++;
    return 0;
}

/* INT(8) / INT(16) values must fit their width, as pq_write_i32 checks one by one. */
static int check_small_ints(pq_writer *w, pq_col *c, const int32_t *v, const bool *valid,
                            size_t n)
{
    int32_t lim = c->spec.bit_width == 8 ? 128 : 32768;
    int32_t lo = c->spec.is_signed ? -lim : 0, hi = c->spec.is_signed ? lim : 2 * lim;
    for (size_t i = 0; i < n; i++)
        if ((!valid || valid[i]) && (v[i] < lo || v[i] >= hi))
            return fail(w, TS_ERR_INTERNAL, "value %d does not fit INT(%d) column \"%s\"", v[i],
                        c->spec.bit_width, c->name);
    return 0;
}

/* Batches: the same steps as the single-value calls, with the row-start check hoisted
 * out of runs that cannot reach it. */
#define BATCH(NAME, T, PHYS, STORE, BITS_T)                                                 \
    int NAME(pq_writer *w, int col, const T *v, const bool *valid, size_t n)                \
    {                                                                                       \
        pq_col *c = col_get(w, col, PHYS, #NAME);                                           \
        size_t i = 0;                                                                       \
        int rc;                                                                             \
        if (!c)                                                                             \
            return w->failed;                                                               \
        if (c->spec.list)                                                                   \
            return fail(w, TS_ERR_INTERNAL, #NAME " on list column \"%s\"", c->name);       \
        if (PHYS == PQ_INT32 && c->spec.logical == PQ_LT_INT && c->spec.bit_width < 32 &&    \
            (rc = check_small_ints(w, c, (const int32_t *)(const void *)v, valid, n)))      \
            return rc;                                                                      \
        if (valid && !c->spec.nullable)                                                     \
            for (size_t k = 0; k < n; k++)                                                  \
                if (!valid[k])                                                              \
                    return fail(w, TS_ERR_INTERNAL, #NAME ": NULL in REQUIRED column \"%s\"", \
                                c->name);                                                   \
        while (i < n) {                                                                     \
            size_t run;                                                                     \
            if ((rc = row_start(w, c)))                                                     \
                return rc;                                                                  \
            c->rows--; /* counted below with the run */                                     \
            run = c->next_check > c->page_values ? c->next_check - c->page_values : 1;      \
            if (run > n - i)                                                                \
                run = n - i;                                                                \
            c->rows += (int64_t)run;                                                        \
            if (valid && c->def_implicit && (rc = def_materialize(w, c)))                   \
                return rc;                                                                  \
            if (c->max_def && !c->def_implicit && (rc = grow(w, c, &c->def, run)))          \
                return rc;                                                                  \
            if (!c->dict_on && (rc = grow(w, c, &c->vals, run * sizeof(T))))               \
                return rc;                                                                  \
            for (size_t k = i; k < i + run; k++) {                                          \
                bool ok = !valid || valid[k];                                               \
                if (c->max_def && !c->def_implicit)                                         \
                    c->def.data[c->def.len++] = ok ? 1 : 0;                                 \
                c->page_values++;                                                           \
                if (!ok)                                                                    \
                    continue;                                                               \
                if (c->dict_on) {                                                           \
                    BITS_T bits;                                                            \
                    if (c->kslots && k + 16 < n) { /* the table outgrows the cache */      \
                        BITS_T nb;                                                          \
                        memcpy(&nb, &v[k + 16], sizeof nb);                                 \
                        __builtin_prefetch(c->kslots + (hash64(nb) & c->mask));             \
                        if (sizeof(BITS_T) == 8) { /* and the entry a tag points to */      \
                            uint64_t ps;                                                    \
                            memcpy(&nb, &v[k + 8], sizeof nb);                              \
                            ps = c->kslots[hash64(nb) & c->mask];                           \
                            if (ps)                                                         \
                                __builtin_prefetch(c->dict.data +                           \
                                                   ((ps & 0xffffffffu) - 1) * 8);           \
                        }                                                                   \
                    }                                                                       \
                    memcpy(&bits, &v[k], sizeof bits);                                      \
                    if ((rc = STORE(w, c, bits)))                                           \
                        return rc;                                                          \
                    if (UNLIKELY(c->dict_overflow)) {                                       \
                        c->rows -= (int64_t)(i + run - k - 1);                              \
                        run = k + 1 - i;                                                    \
                        break;                                                              \
                    }                                                                       \
                } else {                                                                    \
                    memcpy(c->vals.data + c->vals.len, &v[k], sizeof(T));                   \
                    c->vals.len += sizeof(T);                                               \
                    c->page_nonnull++;                                                      \
                }                                                                           \
            }                                                                               \
            i += run;                                                                       \
        }                                                                                   \
        return 0;                                                                           \
    }

BATCH(pq_write_i32_batch, int32_t, PQ_INT32, dict_put4, uint32_t)
BATCH(pq_write_i64_batch, int64_t, PQ_INT64, dict_put8, uint64_t)
BATCH(pq_write_float_batch, float, PQ_FLOAT, dict_put4, uint32_t)
BATCH(pq_write_double_batch, double, PQ_DOUBLE, dict_put8, uint64_t)

/* The same steps as pq_write_bytes, with the row-start check hoisted as above. */
int pq_write_bytes_batch(pq_writer *w, int col, const pq_bytes *v, const bool *valid, size_t n)
{
    pq_col *c = col_get(w, col, -1, "pq_write_bytes_batch");
    size_t i = 0;
    int rc;
    if (!c)
        return w->failed;
    if (c->spec.list)
        return fail(w, TS_ERR_INTERNAL, "pq_write_bytes_batch on list column \"%s\"", c->name);
    if (c->spec.physical != PQ_BYTE_ARRAY && c->spec.physical != PQ_FIXED_LEN_BYTE_ARRAY)
        return misuse_col(w, col, "pq_write_bytes_batch");
    for (size_t k = 0; k < n; k++) {
        if (valid && !valid[k]) {
            if (!c->spec.nullable)
                return fail(w, TS_ERR_INTERNAL,
                            "pq_write_bytes_batch: NULL in REQUIRED column \"%s\"", c->name);
            continue;
        }
        if (c->width && v[k].len != (size_t)c->width)
            return fail(w, TS_ERR_INTERNAL,
                        "pq_write_bytes_batch: %zu bytes for FIXED_LEN_BYTE_ARRAY(%d) column \"%s\"",
                        v[k].len, c->width, c->name);
        if (v[k].len > INT32_MAX)
            return fail(w, TS_ERR_TOOBIG, "a value of %zu bytes for column \"%s\" passes 2 GiB",
                        v[k].len, c->name);
        if (v[k].len && !v[k].ptr)
            return fail(w, TS_ERR_INTERNAL, "pq_write_bytes_batch: NULL data for column \"%s\"",
                        c->name);
    }
    while (i < n) {
        size_t run;
        if ((rc = row_start(w, c)))
            return rc;
        c->rows--; /* counted below with the run */
        run = c->next_check > c->page_values ? c->next_check - c->page_values : 1;
        if (run > n - i)
            run = n - i;
        c->rows += (int64_t)run;
        if (valid && c->def_implicit && (rc = def_materialize(w, c)))
            return rc;
        if (c->max_def && !c->def_implicit && (rc = grow(w, c, &c->def, run)))
            return rc;
        for (size_t k = i; k < i + run; k++) {
            bool ok = !valid || valid[k];
            size_t len = v[k].len;
            if (c->max_def && !c->def_implicit)
                c->def.data[c->def.len++] = ok ? 1 : 0;
            c->page_values++;
            if (!ok)
                continue;
            if (c->dict_on) {
                if ((rc = dict_put_bytes(w, c, v[k].ptr, len)))
                    return rc;
                if (UNLIKELY(c->dict_overflow)) {
                    c->rows -= (int64_t)(i + run - k - 1);
                    run = k + 1 - i;
                    break;
                }
                continue;
            }
            if ((rc = grow(w, c, &c->vals, len + 4)))
                return rc;
            if (c->width == 0) {
                uint32_t len32 = (uint32_t)len;
                memcpy(c->vals.data + c->vals.len, &len32, 4);
                c->vals.len += 4;
            }
            if (len)
                memcpy(c->vals.data + c->vals.len, v[k].ptr, len);
            c->vals.len += len;
            c->page_nonnull++;
        }
        i += run;
    }
    return 0;
}

int64_t pq_writer_group_rows(const pq_writer *w)
{
    return w->rg_rows;
}

/* ------------------------------------------------------------------ row groups */

static int check_rows(pq_writer *w, const char *what)
{
    int64_t r = w->cols[0].rows;
    for (int i = 0; i < w->ncols; i++) {
        pq_col *c = &w->cols[i];
        if (c->in_list)
            return fail(w, TS_ERR_INTERNAL, "%s: a list is still open in column \"%s\"", what,
                        c->name);
        if (c->rows != r)
            return fail(w, TS_ERR_INTERNAL,
                        "%s: column \"%s\" has %lld rows, column \"%s\" has %lld", what,
                        w->cols[0].name, (long long)r, c->name, (long long)c->rows);
    }
    w->rg_rows = r;
    return 0;
}

static int64_t rg_estimate(const pq_writer *w)
{
    int64_t total = 0;
    for (int i = 0; i < w->ncols; i++) {
        const pq_col *c = &w->cols[i];
        total += c->ch_uncomp + (int64_t)page_estimate(c);
        if (c->dict_on || c->pages_dict)
            total += (int64_t)c->dict.len;
    }
    return total;
}

static void put_encodings(pq_tenc *e, const pq_col *c)
{
    unsigned mask = c->enc_mask;
    size_t n = 0;
    if (c->pages_dict)
        mask |= 1u << PQ_ENC_PLAIN; /* the dictionary page */
    if (c->max_def || c->max_rep)
        mask |= 1u << PQ_ENC_RLE;
    for (int b = 0; b < 32; b++)
        n += (mask >> b) & 1;
    pq_tenc_list_begin(e, 2, PQ_TT_I32, n);
    for (int b = 0; b < 32; b++)
        if ((mask >> b) & 1)
            pq_tenc_elem_i32(e, b);
}

static void put_path(pq_tenc *e, const pq_col *c)
{
    if (c->spec.list) {
        pq_tenc_list_begin(e, 3, PQ_TT_BINARY, 3);
        pq_tenc_elem_string(e, c->name);
        pq_tenc_elem_string(e, "list");
        pq_tenc_elem_string(e, "element");
    } else {
        pq_tenc_list_begin(e, 3, PQ_TT_BINARY, 1);
        pq_tenc_elem_string(e, c->name);
    }
}

static void put_encoding_stats(pq_tenc *e, const pq_col *c)
{
    size_t n = (c->pages_dict ? 2 : 0) + (c->pages_data ? 1 : 0);
    if (!n)
        return;
    pq_tenc_list_begin(e, 13, PQ_TT_STRUCT, n);
    if (c->pages_dict) {
        pq_tenc_elem_struct_begin(e);
        pq_tenc_i32(e, 1, PAGE_DICTIONARY);
        pq_tenc_i32(e, 2, PQ_ENC_PLAIN);
        pq_tenc_i32(e, 3, 1);
        pq_tenc_struct_end(e);
        pq_tenc_elem_struct_begin(e);
        pq_tenc_i32(e, 1, PAGE_DATA);
        pq_tenc_i32(e, 2, PQ_ENC_RLE_DICTIONARY);
        pq_tenc_i32(e, 3, c->pages_dict);
        pq_tenc_struct_end(e);
    }
    if (c->pages_data) {
        pq_tenc_elem_struct_begin(e);
        pq_tenc_i32(e, 1, PAGE_DATA);
        pq_tenc_i32(e, 2, c->data_enc);
        pq_tenc_i32(e, 3, c->pages_data);
        pq_tenc_struct_end(e);
    }
}

static void chunk_reset(const pq_writer *w, pq_col *c)
{
    free_pages(c);
    ts_buf_reset(&c->dict);
    c->ndict = 0;
    if (c->slots)
        memset(c->slots, 0, (c->mask + 1) * sizeof *c->slots);
    if (c->kslots)
        memset(c->kslots, 0, (c->mask + 1) * sizeof *c->kslots);
    if (c->seen)
        memset(c->seen, 0, c->ent_cap * sizeof *c->seen);
    c->epoch = 0;
    c->dict_values = 0;
    c->dict_on = c->dict_ok;
    c->dict_probed = false;
    c->dict_overflow = false;
    c->ch_values = c->ch_uncomp = c->ch_comp = 0;
    c->pages_dict = c->pages_data = 0;
    c->enc_mask = 0;
    c->chunk_st.has = false;
    c->chunk_st.nulls = 0;
    c->rows = 0;
    c->next_check = first_check(w, c);
}

static int flush_row_group(pq_writer *w)
{
    pq_tenc e;
    int64_t rg_start, total_uncomp = 0, total_comp = 0;
    int rc;
    for (int i = 0; i < w->ncols; i++)
        if ((rc = flush_page(w, &w->cols[i])))
            return rc;
    if ((rc = begin_file(w)))
        return rc;
    rg_start = w->offset;
    pq_tenc_init(&e, &w->rg_meta);
    pq_tenc_list_begin(&e, 1, PQ_TT_STRUCT, (size_t)w->ncols);
    for (int i = 0; i < w->ncols; i++) {
        pq_col *c = &w->cols[i];
        int64_t chunk_start = w->offset, dict_off = -1, data_off;
        if (c->pages_dict) {
            /* Built after the data pages (only complete now), but sent before them. */
            pq_pageblk *blk;
            rc = write_page(w, c, c->dict.data, c->dict.len, PAGE_DICTIONARY, PQ_ENC_PLAIN,
                            (int64_t)c->ndict, false, &blk);
            if (rc)
                return rc;
            dict_off = w->offset;
            rc = emit(w, blk->data + blk->off, blk->len);
            ts_free(blk);
            if (rc)
                return rc;
        }
        data_off = w->offset;
        for (pq_pageblk *b = c->pages; b; b = b->next)
            if ((rc = emit(w, b->data + b->off, b->len)))
                return rc;
        free_pages(c);
        total_uncomp += c->ch_uncomp;
        total_comp += c->ch_comp;
        pq_tenc_elem_struct_begin(&e);
        pq_tenc_i64(&e, 2, chunk_start);
        pq_tenc_struct_begin(&e, 3);
        pq_tenc_i32(&e, 1, c->spec.physical);
        put_encodings(&e, c);
        put_path(&e, c);
        pq_tenc_i32(&e, 4, w->opt.codec);
        pq_tenc_i64(&e, 5, c->ch_values);
        pq_tenc_i64(&e, 6, c->ch_uncomp);
        pq_tenc_i64(&e, 7, c->ch_comp);
        pq_tenc_i64(&e, 9, data_off);
        if (dict_off >= 0)
            pq_tenc_i64(&e, 11, dict_off);
        put_stats(&e, 12, c, &c->chunk_st);
        put_encoding_stats(&e, c);
        pq_tenc_struct_end(&e); /* ColumnMetaData */
        pq_tenc_struct_end(&e); /* ColumnChunk */
    }
    pq_tenc_i64(&e, 2, total_uncomp);
    pq_tenc_i64(&e, 3, w->rg_rows);
    pq_tenc_i64(&e, 5, rg_start);
    pq_tenc_i64(&e, 6, total_comp);
    if (w->nrg <= INT16_MAX)
        pq_tenc_i16(&e, 7, (int16_t)w->nrg);
    if ((rc = pq_tenc_finish(&e)))
        return fail_buf(w, rc, "row group metadata");
    w->nrg++;
    w->rows_total += w->rg_rows;
    w->rg_rows = 0;
    for (int i = 0; i < w->ncols; i++)
        chunk_reset(w, &w->cols[i]);
    return 0;
}

int pq_writer_end_rows(pq_writer *w)
{
    int rc;
    if (w->failed)
        return w->failed;
    if (w->closed)
        return fail(w, TS_ERR_INTERNAL, "pq_writer_end_rows after close");
    if ((rc = check_rows(w, "pq_writer_end_rows")))
        return rc;
    if (w->rg_rows >= w->opt.row_group_rows ||
        (w->rg_rows > 0 && rg_estimate(w) >= w->opt.row_group_bytes))
        return flush_row_group(w);
    return 0;
}

/* ------------------------------------------------------------------ footer */

static int converted_type(const pq_column_spec *s)
{
    switch (s->logical) {
    case PQ_LT_STRING: return 0;  /* UTF8 */
    case PQ_LT_ENUM: return 4;
    case PQ_LT_JSON: return 19;
    case PQ_LT_DATE: return 6;
    case PQ_LT_DECIMAL: return 5;
    case PQ_LT_TIMESTAMP:
        if (!s->ts_utc)
            return -1; /* TIMESTAMP_* converted types mean UTC-adjusted */
        return s->time_unit == PQ_UNIT_MILLIS ? 9 : s->time_unit == PQ_UNIT_MICROS ? 10 : -1;
    case PQ_LT_INT: {
        int k = s->bit_width == 8 ? 0 : s->bit_width == 16 ? 1 : s->bit_width == 32 ? 2 : 3;
        return (s->is_signed ? 15 : 11) + k;
    }
    default: return -1;
    }
}

static void put_logical(pq_tenc *e, const pq_column_spec *s)
{
    int16_t member;
    switch (s->logical) {
    case PQ_LT_STRING: member = 1; break;
    case PQ_LT_ENUM: member = 4; break;
    case PQ_LT_DECIMAL: member = 5; break;
    case PQ_LT_DATE: member = 6; break;
    case PQ_LT_TIMESTAMP: member = 8; break;
    case PQ_LT_INT: member = 10; break;
    case PQ_LT_JSON: member = 12; break;
    case PQ_LT_UUID: member = 14; break;
    default: return;
    }
    pq_tenc_struct_begin(e, 10);
    pq_tenc_struct_begin(e, member);
    if (s->logical == PQ_LT_DECIMAL) {
        pq_tenc_i32(e, 1, s->scale);
        pq_tenc_i32(e, 2, s->precision);
    } else if (s->logical == PQ_LT_TIMESTAMP) {
        pq_tenc_bool(e, 1, s->ts_utc);
        pq_tenc_struct_begin(e, 2);
        pq_tenc_struct_begin(e, (int16_t)(s->time_unit + 1));
        pq_tenc_struct_end(e);
        pq_tenc_struct_end(e);
    } else if (s->logical == PQ_LT_INT) {
        pq_tenc_i8(e, 1, (int8_t)s->bit_width);
        pq_tenc_bool(e, 2, s->is_signed);
    }
    pq_tenc_struct_end(e);
    pq_tenc_struct_end(e);
}

static void put_leaf(pq_tenc *e, const pq_column_spec *s, const char *name, int repetition)
{
    int ct = converted_type(s);
    pq_tenc_elem_struct_begin(e);
    pq_tenc_i32(e, 1, s->physical);
    if (s->physical == PQ_FIXED_LEN_BYTE_ARRAY)
        pq_tenc_i32(e, 2, s->type_length);
    pq_tenc_i32(e, 3, repetition);
    pq_tenc_string(e, 4, name);
    if (ct >= 0)
        pq_tenc_i32(e, 6, ct);
    if (s->logical == PQ_LT_DECIMAL) {
        pq_tenc_i32(e, 7, s->scale);
        pq_tenc_i32(e, 8, s->precision);
    }
    put_logical(e, s);
    pq_tenc_struct_end(e);
}

static void put_schema(pq_tenc *e, const pq_writer *w)
{
    size_t n = 1;
    for (int i = 0; i < w->ncols; i++)
        n += w->cols[i].spec.list ? 3 : 1;
    pq_tenc_list_begin(e, 2, PQ_TT_STRUCT, n);
    pq_tenc_elem_struct_begin(e);
    pq_tenc_string(e, 4, "schema");
    pq_tenc_i32(e, 5, w->ncols);
    pq_tenc_struct_end(e);
    for (int i = 0; i < w->ncols; i++) {
        const pq_column_spec *s = &w->cols[i].spec;
        if (!s->list) {
            put_leaf(e, s, s->name, s->nullable ? REP_OPTIONAL : REP_REQUIRED);
            continue;
        }
        pq_tenc_elem_struct_begin(e);
        pq_tenc_i32(e, 3, s->nullable ? REP_OPTIONAL : REP_REQUIRED);
        pq_tenc_string(e, 4, s->name);
        pq_tenc_i32(e, 5, 1);
        pq_tenc_i32(e, 6, 3); /* LIST */
        pq_tenc_struct_begin(e, 10);
        pq_tenc_struct_begin(e, 3);
        pq_tenc_struct_end(e);
        pq_tenc_struct_end(e);
        pq_tenc_struct_end(e);
        pq_tenc_elem_struct_begin(e);
        pq_tenc_i32(e, 3, REP_REPEATED);
        pq_tenc_string(e, 4, "list");
        pq_tenc_i32(e, 5, 1);
        pq_tenc_struct_end(e);
        put_leaf(e, s, "element", REP_OPTIONAL);
    }
}

int pq_writer_close(pq_writer *w, pq_write_result *res)
{
    ts_buf foot;
    pq_tenc e;
    uint8_t tail[8];
    uint32_t flen;
    int rc;
    if (res)
        memset(res, 0, sizeof *res);
    if (w->failed)
        return w->failed;
    if (w->closed)
        return fail(w, TS_ERR_INTERNAL, "pq_writer_close called twice");
    if ((rc = check_rows(w, "pq_writer_close")))
        return rc;
    if (w->rg_rows > 0 && (rc = flush_row_group(w)))
        return rc;
    if ((rc = begin_file(w)))
        return rc;
    ts_buf_init(&foot, 0);
    pq_tenc_init(&e, &foot);
    pq_tenc_i32(&e, 1, 2);
    put_schema(&e, w);
    pq_tenc_i64(&e, 3, w->rows_total);
    pq_tenc_list_begin(&e, 4, PQ_TT_STRUCT, (size_t)w->nrg);
    pq_tenc_raw(&e, w->rg_meta.data, w->rg_meta.len);
    if (w->nkv) {
        pq_tenc_list_begin(&e, 5, PQ_TT_STRUCT, w->nkv);
        for (size_t i = 0; i < w->nkv; i++) {
            pq_tenc_elem_struct_begin(&e);
            pq_tenc_string(&e, 1, w->kv[2 * i]);
            if (w->kv[2 * i + 1])
                pq_tenc_string(&e, 2, w->kv[2 * i + 1]);
            pq_tenc_struct_end(&e);
        }
    }
    pq_tenc_string(&e, 6, w->created_by);
    pq_tenc_list_begin(&e, 7, PQ_TT_STRUCT, (size_t)w->ncols);
    for (int i = 0; i < w->ncols; i++) {
        pq_tenc_elem_struct_begin(&e);
        pq_tenc_struct_begin(&e, 1); /* TYPE_ORDER: TypeDefinedOrder {} */
        pq_tenc_struct_end(&e);
        pq_tenc_struct_end(&e);
    }
    rc = pq_tenc_finish(&e);
    if (rc) {
        ts_buf_free(&foot);
        return fail_buf(w, rc, "the footer");
    }
    if (foot.len > UINT32_MAX) {
        ts_buf_free(&foot);
        return fail(w, TS_ERR_TOOBIG, "the footer is %zu bytes", foot.len);
    }
    flen = (uint32_t)foot.len;
    tail[0] = (uint8_t)flen;
    tail[1] = (uint8_t)(flen >> 8);
    tail[2] = (uint8_t)(flen >> 16);
    tail[3] = (uint8_t)(flen >> 24);
    memcpy(tail + 4, "PAR1", 4);
    rc = emit(w, foot.data, foot.len);
    ts_buf_free(&foot);
    if (!rc)
        rc = emit(w, tail, 8);
    if (rc)
        return rc;
    w->closed = true;
    if (res) {
        res->rows = w->rows_total;
        res->bytes = w->offset;
        res->row_groups = w->nrg;
    }
    return 0;
}
