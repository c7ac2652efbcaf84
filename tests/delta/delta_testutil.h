/* delta_testutil.h: what the Delta tests share: assertions that print both sides and
 * file:line, a lake in a temporary folder or on the Azurite of TS_TEST_AZURE_*, and
 * small Parquet files written by the project's writer (so stats come from real
 * footers). Header-only: each test is one program. */
#ifndef TS_DELTA_TESTUTIL_H
#define TS_DELTA_TESTUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "delta/delta.h"
#include "delta/stats.h"
#include "lake/lake.h"
#include "parquet/reader.h"
#include "parquet/writer.h"

#include "../check.h"

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *_a = (a), *_b = (b);                                                           \
        if (!_a || !_b || strcmp(_a, _b) != 0) {                                                   \
            fprintf(stderr, "%s:%d: %s == %s failed:\n  got:  %s\n  want: %s\n", __FILE__,         \
                    __LINE__, #a, #b, _a ? _a : "(null)", _b ? _b : "(null)");                     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)
/* call fails with code and a message holding sub */
#define CHECK_ERR(call, errp, code, sub)                                                           \
    do {                                                                                           \
        ts_err_clear(errp);                                                                        \
        int _rc = (call);                                                                          \
        if (_rc != (code) || !strstr((errp)->msg, (sub))) {                                        \
            fprintf(stderr, "%s:%d: %s: rc %d msg \"%s\"; want rc %d and \"%s\" in it\n",          \
                    __FILE__, __LINE__, #call, _rc, (errp)->msg, (code), (sub));                   \
            exit(1);                                                                               \
        }                                                                                          \
        ts_err_clear(errp);                                                                        \
    } while (0)

/* ---- lakes ---- */

typedef struct test_lake {
    lake *lk;
    char root[256];   /* local: the temporary folder */
    char prefix[128]; /* a unique prefix inside the store, per run */
    bool azure;
} test_lake;

/* Opens "local" (a new temporary folder) or "azure" (the container tsarchive-delta on
 * the Azurite of TS_TEST_AZURE_CONNECTION_STRING). Returns -1 (and says why) when azure
 * is asked for and not configured: the caller exits SKIP_CODE. */
static inline int test_lake_open(test_lake *tl, const char *kind, const char *tag)
{
    lake_options o;
    ts_err err;
    memset(tl, 0, sizeof *tl);
    ts_err_clear(&err);
    lake_options_init(&o);
    snprintf(tl->prefix, sizeof tl->prefix, "%s-%ld-%d", tag, (long)time(NULL), (int)getpid());
    if (strcmp(kind, "azure") == 0) {
        const char *cs = getenv("TS_TEST_AZURE_CONNECTION_STRING");
        if (!cs || !*cs) {
            printf("SKIP %s on azure: TS_TEST_AZURE_CONNECTION_STRING is not set (source "
                   "build/services/env after scripts/services start)\n",
                   tag);
            return -1;
        }
        tl->azure = true;
        o.kind = LAKE_AZURE;
        o.connection_string = cs;
        o.container = "tsarchive-delta";
        o.max_retries = 3;
    } else {
        snprintf(tl->root, sizeof tl->root, "/tmp/delta-%s-XXXXXX", tag);
        CHECK(mkdtemp(tl->root));
        o.kind = LAKE_LOCAL;
        o.path = tl->root;
    }
    CHECK_OK(lake_open(&tl->lk, &o, &err), &err);
    CHECK_OK(lake_test(tl->lk, &err), &err);
    return 0;
}

/* Another handle on the same store (one per thread or process). */
static inline lake *test_lake_again(const test_lake *tl)
{
    lake_options o;
    lake *lk = NULL;
    ts_err err;
    ts_err_clear(&err);
    lake_options_init(&o);
    if (tl->azure) {
        o.kind = LAKE_AZURE;
        o.connection_string = getenv("TS_TEST_AZURE_CONNECTION_STRING");
        o.container = "tsarchive-delta";
        o.max_retries = 3;
    } else {
        o.kind = LAKE_LOCAL;
        o.path = tl->root;
    }
    CHECK_OK(lake_open(&lk, &o, &err), &err);
    return lk;
}

typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

static inline int collect_name(void *ud, const lake_info *info)
{
    name_list *l = ud;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        CHECK(l->v);
    }
    CHECK((l->v[l->n++] = strdup(info->name)) != NULL);
    return 0;
}

/* Closes the store; a local folder is removed, this run's objects on Azure deleted
 * (unless TS_TEST_KEEP is set). */
static inline void test_lake_close(test_lake *tl)
{
    if (tl->azure && !getenv("TS_TEST_KEEP")) {
        name_list l = {NULL, 0, 0};
        char prefix[160];
        ts_err err;
        ts_err_clear(&err);
        snprintf(prefix, sizeof prefix, "%s/", tl->prefix);
        if (lake_list(tl->lk, prefix, collect_name, &l, &err) != TS_OK)
            fprintf(stderr, "could not list %s: %s\n", prefix, err.msg);
        for (size_t i = 0; i < l.n; i++) {
            ts_err_clear(&err);
            if (lake_delete(tl->lk, l.v[i], &err) != TS_OK)
                fprintf(stderr, "could not delete %s: %s\n", l.v[i], err.msg);
            free(l.v[i]);
        }
        free(l.v);
    }
    lake_free(tl->lk);
    if (!tl->azure && tl->root[0] && !getenv("TS_TEST_KEEP")) {
        char cmd[400];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tl->root);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tl->root);
    }
}

/* ---- Parquet files ---- */

typedef struct membuf {
    uint8_t *p;
    size_t n, cap;
} membuf;

static inline int membuf_sink(void *ctx, const void *data, size_t len, ts_err *err)
{
    membuf *m = ctx;
    (void)err;
    if (m->n + len > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->n + len)
            cap *= 2;
        m->p = realloc(m->p, cap);
        CHECK(m->p);
        m->cap = cap;
    }
    memcpy(m->p + m->n, data, len);
    m->n += len;
    return 0;
}

/* A file of rows rows of (ts timestamptz, v bigint, s text): ts = base + i seconds,
 * v = base_v + i, s = "row-<i>". */
static inline void make_simple_parquet(membuf *out, int rows, int64_t base_ts, int64_t base_v)
{
    pq_column_spec c[3];
    pq_writer_options wo;
    ts_err err;
    char s[32];
    ts_err_clear(&err);
    memset(out, 0, sizeof *out);
    pq_column_spec_init(&c[0], "ts", PQ_INT64, PQ_LT_TIMESTAMP);
    pq_column_spec_init(&c[1], "v", PQ_INT64, PQ_LT_INT);
    pq_column_spec_init(&c[2], "s", PQ_BYTE_ARRAY, PQ_LT_STRING);
    c[2].nullable = true;
    pq_writer_options_default(&wo);
    pq_writer *w = pq_writer_new(c, 3, &wo, membuf_sink, out, &err);
    CHECK(w);
    for (int i = 0; i < rows; i++) {
        CHECK_OK(pq_write_i64(w, 0, base_ts + (int64_t)i * 1000000), &err);
        CHECK_OK(pq_write_i64(w, 1, base_v + i), &err);
        snprintf(s, sizeof s, "row-%d", i);
        CHECK_OK(pq_write_bytes(w, 2, s, strlen(s)), &err);
        CHECK_OK(pq_writer_end_rows(w), &err);
    }
    CHECK_OK(pq_writer_close(w, NULL), pq_writer_error(w));
    pq_writer_free(w);
}

/* Puts the bytes at <root>/<rel> and returns their size. */
static inline int64_t put_file(lake *lk, const char *root, const char *rel, const membuf *m)
{
    char path[1100];
    ts_err err;
    ts_err_clear(&err);
    snprintf(path, sizeof path, "%s/%s", root, rel);
    CHECK_OK(lake_put_bytes(lk, path, m->p, m->n, NULL, &err), &err);
    return (int64_t)m->n;
}

/* Schema and stats of an in-memory Parquet file. */
static inline void parquet_schema_stats(const membuf *m, delta_schema **schema, char **stats)
{
    pq_reader *r = NULL;
    ts_err err;
    ts_err_clear(&err);
    CHECK_OK(pq_reader_open_memory(&r, m->p, m->n, NULL, &err), &err);
    if (schema)
        CHECK_OK(delta_schema_from_parquet(r, schema, &err), &err);
    if (stats)
        CHECK_OK(delta_stats_from_parquet(r, 0, stats, &err), &err);
    pq_reader_free(r);
}

/* Reads a whole object into a NUL-terminated malloc'd string (ts_free). */
static inline char *get_text(lake *lk, const char *path)
{
    char *data = NULL;
    size_t len = 0;
    ts_err err;
    ts_err_clear(&err);
    CHECK_OK(lake_get_bytes(lk, path, 64 << 20, &data, &len, NULL, &err), &err);
    return data;
}

#endif
