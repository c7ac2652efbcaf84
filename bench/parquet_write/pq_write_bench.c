/* pq_write_bench.c: generates N rows of (ts timestamptz, device_id int, value double,
 * status text) in memory with the same integer formulas as duck_write.mjs, then times
 * tsarchive's writer on them. With --input FILE the rows are instead those of a
 * Parquet file (e.g. an export of bench/export's wide table), loaded into memory first
 * and written back with the same schema, a column at a time in batches (lists and
 * booleans value by value), as the export writes them. Prints one JSON line: rows,
 * seconds, bytes, row groups and the writer's peak heap (counted through alloc.h
 * hooks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "parquet/reader.h"
#include "parquet/writer.h"

#define M31 2147483647LL

/* MINSTD twice over the row number: a hash both C and DuckDB's BIGINT SQL compute. */
static int64_t h(int64_t i, int k)
{
    int64_t x = ((i * 4 + k + 1) * 48271) % M31;
    return (x * 48271) % M31;
}

static const char *const statuses[5] = {"ok", "warn", "error", "offline", "maintenance"};

static int status_of(int64_t i)
{
    int64_t p = h(i, 3) % 100;
    return p < 80 ? 0 : p < 90 ? 1 : p < 95 ? 2 : p < 98 ? 3 : 4;
}

/* Heap accounting: a size header in front of each block. */
static size_t cur_bytes, peak_bytes;
typedef union { size_t n; max_align_t a; } hdr;

static void *count_malloc(size_t n)
{
    hdr *p = malloc(sizeof(hdr) + n);
    if (!p)
        return NULL;
    p->n = n;
    cur_bytes += n;
    if (cur_bytes > peak_bytes)
        peak_bytes = cur_bytes;
    return p + 1;
}

static void *count_calloc(size_t k, size_t n)
{
    void *p = count_malloc(k * n);
    if (p)
        memset(p, 0, k * n);
    return p;
}

static void *count_realloc(void *q, size_t n)
{
    hdr *p = q ? (hdr *)q - 1 : NULL;
    size_t old = p ? p->n : 0;
    hdr *r = realloc(p, sizeof(hdr) + n);
    if (!r)
        return NULL;
    r->n = n;
    cur_bytes = cur_bytes - old + n;
    if (cur_bytes > peak_bytes)
        peak_bytes = cur_bytes;
    return r + 1;
}

static void count_free(void *q)
{
    hdr *p;
    if (!q)
        return;
    p = (hdr *)q - 1;
    cur_bytes -= p->n;
    free(p);
}

static int file_sink(void *ctx, const void *p, size_t n, ts_err *err)
{
    if (fwrite(p, 1, n, ctx) != n)
        return ts_err_set(err, TS_ERR_IO, "could not write the output file");
    return 0;
}

static double clock_s(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- --input: a Parquet file's rows, in memory ---- */

/* One column's values: fixed-width ones packed (booleans one byte each), byte arrays
 * as offsets into data; a list column's elements flat, with each row's count (-1 =
 * NULL list). */
typedef struct mcol {
    pq_column_spec spec;
    int width;        /* 0: byte arrays */
    uint8_t *vals;    /* fixed-width values */
    uint64_t *off;    /* byte arrays: n + 1 offsets into data */
    uint8_t *data;
    size_t n, cap, dlen, dcap;
    uint8_t *valid;   /* per value */
    int64_t *count;   /* list columns: per row */
    bool any_null;
} mcol;

static void *grow_to(void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return p;
    size_t ncap = *cap ? *cap * 2 : 4096;
    while (ncap < need)
        ncap *= 2;
    p = realloc(p, ncap * size);
    if (!p) {
        perror("realloc");
        exit(1);
    }
    *cap = ncap;
    return p;
}

static void push(mcol *m, const pq_value *v, bool present)
{
    if (m->n + 2 > m->cap) { /* every per-value array holds cap values */
        size_t ncap = m->cap ? m->cap * 2 : 4096;
        m->valid = realloc(m->valid, ncap);
        if (m->width)
            m->vals = realloc(m->vals, ncap * (size_t)m->width);
        else
            m->off = realloc(m->off, (ncap + 1) * sizeof *m->off);
        if (!m->valid || (m->width ? !m->vals : !m->off)) {
            perror("realloc");
            exit(1);
        }
        m->cap = ncap;
    }
    m->valid[m->n] = present;
    m->any_null |= !present;
    if (m->width) {
        if (!present)
            memset(m->vals + m->n * (size_t)m->width, 0, (size_t)m->width);
        else if (m->spec.physical == PQ_BOOLEAN)
            m->vals[m->n] = v->v.b;
        else if (m->spec.physical == PQ_FIXED_LEN_BYTE_ARRAY)
            memcpy(m->vals + m->n * (size_t)m->width, v->v.bin.ptr, (size_t)m->width);
        else
            memcpy(m->vals + m->n * (size_t)m->width, &v->v, (size_t)m->width);
    } else {
        size_t len = present ? v->v.bin.len : 0;
        m->data = grow_to(m->data, &m->dcap, m->dlen + len + 1, 1);
        if (len)
            memcpy(m->data + m->dlen, v->v.bin.ptr, len);
        m->off[m->n] = m->dlen;
        m->dlen += len;
        m->off[m->n + 1] = m->dlen;
    }
    m->n++;
}

static int width_of(const pq_column_spec *s)
{
    switch (s->physical) {
    case PQ_BOOLEAN: return 1;
    case PQ_INT32: case PQ_FLOAT: return 4;
    case PQ_INT64: case PQ_DOUBLE: return 8;
    case PQ_FIXED_LEN_BYTE_ARRAY: return s->type_length;
    default: return 0;
    }
}

static mcol *load_input(const char *path, int *ncols, int64_t *nrows)
{
    pq_reader *r = NULL;
    const pq_reader_column *rc;
    ts_err err = {0};
    int64_t rows = 0;
    int n, more;
    if (pq_reader_open_file(&r, path, NULL, &err) || pq_reader_columns(r, &rc, &n, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    mcol *m = calloc((size_t)n, sizeof *m);
    for (int j = 0; j < n; j++) {
        m[j].spec = rc[j].spec;
        m[j].spec.name = strdup(rc[j].spec.name);
        m[j].width = width_of(&rc[j].spec);
    }
    while ((more = pq_reader_next_row(r, &err)) == 1) {
        for (int j = 0; j < n; j++) {
            const pq_cell *c = pq_reader_cell(r, j);
            if (m[j].spec.list) {
                size_t cap = (size_t)rows;
                m[j].count = grow_to(m[j].count, &cap, (size_t)rows + 1, sizeof *m[j].count);
                m[j].count[rows] = c->is_null ? -1 : (int64_t)c->n;
                for (size_t k = 0; !c->is_null && k < c->n; k++)
                    push(&m[j], &c->items[k], !c->items[k].is_null);
            } else {
                push(&m[j], &c->items[0], !c->is_null);
            }
        }
        rows++;
    }
    if (more < 0) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    pq_reader_free(r);
    *ncols = n;
    *nrows = rows;
    return m;
}

static int write_value(pq_writer *w, int j, const mcol *m, size_t i)
{
    const uint8_t *p = m->vals ? m->vals + i * (size_t)m->width : NULL;
    if (!m->valid[i])
        return pq_write_null(w, j);
    switch (m->spec.physical) {
    case PQ_BOOLEAN: return pq_write_bool(w, j, p[0] != 0);
    case PQ_INT32: { int32_t v; memcpy(&v, p, 4); return pq_write_i32(w, j, v); }
    case PQ_INT64: { int64_t v; memcpy(&v, p, 8); return pq_write_i64(w, j, v); }
    case PQ_FLOAT: { float v; memcpy(&v, p, 4); return pq_write_float(w, j, v); }
    case PQ_DOUBLE: { double v; memcpy(&v, p, 8); return pq_write_double(w, j, v); }
    case PQ_FIXED_LEN_BYTE_ARRAY: return pq_write_bytes(w, j, p, (size_t)m->width);
    default: return pq_write_bytes(w, j, m->data + m->off[i], m->off[i + 1] - m->off[i]);
    }
}

/* Rows [from, from + k) of every column, a column at a time. pos[j] = the column's next
 * value (lists have several per row). */
static int write_rows(pq_writer *w, const mcol *m, int ncols, int64_t from, size_t k,
                      size_t *pos, pq_bytes *bv)
{
    int rc = 0;
    for (int j = 0; j < ncols && !rc; j++) {
        const mcol *c = &m[j];
        size_t at = pos[j];
        const bool *valid = c->any_null ? (const bool *)(const void *)(c->valid + at) : NULL;
        if (c->spec.list) {
            for (size_t r = 0; r < k && !rc; r++) {
                int64_t cnt = c->count[from + (int64_t)r];
                if (cnt < 0) {
                    rc = pq_write_null(w, j);
                    continue;
                }
                rc = pq_write_list_begin(w, j);
                for (int64_t e = 0; e < cnt && !rc; e++)
                    rc = write_value(w, j, c, at++);
                if (!rc)
                    rc = pq_write_list_end(w, j);
            }
            pos[j] = at;
            continue;
        }
        switch (c->spec.physical) {
        case PQ_INT32:
            rc = pq_write_i32_batch(w, j, (const int32_t *)(const void *)c->vals + at, valid, k);
            break;
        case PQ_INT64:
            rc = pq_write_i64_batch(w, j, (const int64_t *)(const void *)c->vals + at, valid, k);
            break;
        case PQ_FLOAT:
            rc = pq_write_float_batch(w, j, (const float *)(const void *)c->vals + at, valid, k);
            break;
        case PQ_DOUBLE:
            rc = pq_write_double_batch(w, j, (const double *)(const void *)c->vals + at, valid, k);
            break;
        case PQ_BYTE_ARRAY:
        case PQ_FIXED_LEN_BYTE_ARRAY:
            for (size_t r = 0; r < k; r++) {
                size_t i = at + r;
                bv[r].ptr = c->width ? c->vals + i * (size_t)c->width : c->data + c->off[i];
                bv[r].len = c->width ? (size_t)c->width : c->off[i + 1] - c->off[i];
            }
            rc = pq_write_bytes_batch(w, j, bv, valid, k);
            break;
        default:
            for (size_t r = 0; r < k && !rc; r++)
                rc = write_value(w, j, c, at + r);
            break;
        }
        pos[j] = at + k;
    }
    return rc ? rc : pq_writer_end_rows(w);
}

int main(int argc, char **argv)
{
    const char *codec = "zstd", *out = "/tmp/pq_write_bench.parquet", *input = NULL;
    int64_t n = 10000000, rg = 1000000, batch = 8192, dict_limit = -1, page_bytes = -1, rg_bytes = -1;
    int64_t *ts, cum = 0;
    int32_t *dev;
    double *val;
    unsigned char *st;
    pq_bytes *sv;
    pq_column_spec cols[4];
    pq_writer_options o;
    ts_alloc_hooks hooks = {count_malloc, count_calloc, count_realloc, count_free};
    pq_write_result res;
    ts_err err = {0};
    pq_writer *w;
    FILE *f;
    double t0, t1, c0, c1;
    int rc = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--codec"))
            codec = argv[i + 1];
        else if (!strcmp(argv[i], "--rows"))
            n = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--row-group"))
            rg = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--out"))
            out = argv[i + 1];
        else if (!strcmp(argv[i], "--batch"))
            batch = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--dict-limit"))
            dict_limit = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--row-group-bytes"))
            rg_bytes = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--page-bytes"))
            page_bytes = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--input"))
            input = argv[i + 1];
        else {
            fprintf(stderr, "usage: %s [--codec C] [--rows N] [--row-group N] [--batch N] [--dict-limit BYTES] [--page-bytes BYTES] [--row-group-bytes BYTES] [--input PARQUET] [--out F]\n",
                    argv[0]);
            return 2;
        }
    }
    mcol *in = NULL;
    int ncols = 4;
    size_t *pos = NULL;
    pq_column_spec *specs = cols;
    sv = malloc((size_t)batch * sizeof *sv);
    if (input) {
        in = load_input(input, &ncols, &n);
        specs = calloc((size_t)ncols, sizeof *specs);
        pos = calloc((size_t)ncols, sizeof *pos);
        if (!specs || !pos || !sv)
            return 1;
        for (int j = 0; j < ncols; j++)
            specs[j] = in[j].spec;
        ts = NULL, dev = NULL, val = NULL, st = NULL;
    } else {
        ts = malloc((size_t)n * sizeof *ts);
        dev = malloc((size_t)n * sizeof *dev);
        val = malloc((size_t)n * sizeof *val);
        st = malloc((size_t)n);
        if (!ts || !dev || !val || !st || !sv)
            return 1;
        for (int64_t i = 0; i < n; i++) {
            ts[i] = 1700000000000000LL + i * 1000000 + h(i, 0) % 200000 - 100000;
            dev[i] = (int32_t)(h(i, 1) % 1000 + 1);
            cum += h(i, 2) % 2001 - 1000;
            val[i] = (double)cum / 1000.0;
            st[i] = (unsigned char)status_of(i);
        }
        pq_column_spec_init(&cols[0], "ts", PQ_INT64, PQ_LT_TIMESTAMP);
        cols[0].ts_utc = true;
        pq_column_spec_init(&cols[1], "device_id", PQ_INT32, PQ_LT_NONE);
        pq_column_spec_init(&cols[2], "value", PQ_DOUBLE, PQ_LT_NONE);
        pq_column_spec_init(&cols[3], "status", PQ_BYTE_ARRAY, PQ_LT_STRING);
    }
    pq_writer_options_default(&o);
    if (pq_codec_parse(codec) < 0) {
        fprintf(stderr, "unknown codec \"%s\"\n", codec);
        return 2;
    }
    o.codec = (pq_codec)pq_codec_parse(codec);
    o.row_group_rows = rg;
    if (dict_limit >= 0)
        o.dictionary_bytes_limit = dict_limit;
    if (page_bytes > 0)
        o.page_bytes = page_bytes;
    if (rg_bytes > 0)
        o.row_group_bytes = rg_bytes;
    f = fopen(out, "wb");
    if (!f) {
        perror(out);
        return 1;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    ts_alloc_set_hooks(&hooks);
    t0 = clock_s(CLOCK_MONOTONIC);
    c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    w = pq_writer_new(specs, ncols, &o, file_sink, f, &err);
    if (!w) {
        fprintf(stderr, "pq_writer_new: %s\n", err.msg);
        return 1;
    }
    for (int64_t i = 0; in && i < n && !rc; i += batch)
        rc = write_rows(w, in, ncols, i, (size_t)(n - i < batch ? n - i : batch), pos, sv);
    for (int64_t i = 0; !in && i < n && !rc; i += batch) {
        size_t k = (size_t)(n - i < batch ? n - i : batch);
        rc = pq_write_i64_batch(w, 0, ts + i, NULL, k);
        if (!rc)
            rc = pq_write_i32_batch(w, 1, dev + i, NULL, k);
        if (!rc)
            rc = pq_write_double_batch(w, 2, val + i, NULL, k);
        for (size_t j = 0; j < k; j++) {
            const char *s = statuses[st[i + (int64_t)j]];
            sv[j].ptr = s;
            sv[j].len = strlen(s);
        }
        if (!rc)
            rc = pq_write_bytes_batch(w, 3, sv, NULL, k);
        if (!rc)
            rc = pq_writer_end_rows(w);
    }
    if (!rc)
        rc = pq_writer_close(w, &res);
    if (!rc && fclose(f) != 0)
        rc = TS_ERR_IO;
    t1 = clock_s(CLOCK_MONOTONIC);
    c1 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    if (rc) {
        fprintf(stderr, "write failed: %s\n", pq_writer_error(w)->msg);
        return 1;
    }
    pq_writer_free(w);
    printf("{\"writer\":\"tsarchive\",\"codec\":\"%s\",\"rows\":%lld,\"seconds\":%.4f,\"cpu_seconds\":%.4f,"
           "\"bytes\":%lld,\"row_groups\":%d,\"dictionary_bytes_limit\":%lld,"
           "\"writer_peak_heap\":%zu}\n",
           codec, (long long)res.rows, t1 - t0, c1 - c0, (long long)res.bytes, res.row_groups,
           (long long)o.dictionary_bytes_limit, peak_bytes);
    free(ts);
    free(dev);
    free(val);
    free(st);
    free(sv);
    return 0;
}
