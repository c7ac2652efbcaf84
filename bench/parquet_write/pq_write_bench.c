/* pq_write_bench.c: generates N rows of (ts timestamptz, device_id int, value double,
 * status text) in memory with the same integer formulas as duck_write.mjs, then times
 * tsarchive's writer on them. Prints one JSON line: rows, seconds, bytes, row groups
 * and the writer's peak heap (counted through alloc.h hooks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
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

int main(int argc, char **argv)
{
    const char *codec = "zstd", *out = "/tmp/pq_write_bench.parquet";
    int64_t n = 10000000, rg = 1000000, batch = 8192, dict_limit = -1;
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
        else {
            fprintf(stderr, "usage: %s [--codec C] [--rows N] [--row-group N] [--batch N] [--dict-limit BYTES] [--out F]\n",
                    argv[0]);
            return 2;
        }
    }
    ts = malloc((size_t)n * sizeof *ts);
    dev = malloc((size_t)n * sizeof *dev);
    val = malloc((size_t)n * sizeof *val);
    st = malloc((size_t)n);
    sv = malloc((size_t)batch * sizeof *sv);
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
    pq_writer_options_default(&o);
    if (pq_codec_parse(codec) < 0) {
        fprintf(stderr, "unknown codec \"%s\"\n", codec);
        return 2;
    }
    o.codec = (pq_codec)pq_codec_parse(codec);
    o.row_group_rows = rg;
    if (dict_limit >= 0)
        o.dictionary_bytes_limit = dict_limit;
    f = fopen(out, "wb");
    if (!f) {
        perror(out);
        return 1;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    ts_alloc_set_hooks(&hooks);
    t0 = clock_s(CLOCK_MONOTONIC);
    c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    w = pq_writer_new(cols, 4, &o, file_sink, f, &err);
    if (!w) {
        fprintf(stderr, "pq_writer_new: %s\n", err.msg);
        return 1;
    }
    for (int64_t i = 0; i < n && !rc; i += batch) {
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
