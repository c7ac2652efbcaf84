/* pq_testutil.h: helpers for the Parquet writer tests: byte-vector assertions that
 * print both sides, and a memory sink that can be told to fail. */
#ifndef TS_PQ_TESTUTIL_H
#define TS_PQ_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"

static inline void hexdump(char *dst, size_t cap, const uint8_t *p, size_t n)
{
    size_t o = 0;
    dst[0] = 0;
    for (size_t i = 0; i < n && o + 4 < cap; i++)
        o += (size_t)snprintf(dst + o, cap - o, "%02x ", p[i]);
    if (n && o + 4 >= cap)
        snprintf(dst + cap - 5, 5, "...");
}

/* Fails with both byte strings (hex) and file:line when they differ. */
#define assert_bytes(got, got_len, ...)                                                     \
    do {                                                                                    \
        static const uint8_t want_[] = {__VA_ARGS__};                                       \
        check_bytes_((const uint8_t *)(got), (got_len), want_, sizeof want_, __FILE__,      \
                     __LINE__);                                                             \
    } while (0)

static inline void check_bytes_(const uint8_t *got, size_t got_len, const uint8_t *want,
                                size_t want_len, const char *file, int line)
{
    if (got_len != want_len || memcmp(got, want, want_len) != 0) {
        char g[1024], w[1024];
        hexdump(g, sizeof g, got, got_len);
        hexdump(w, sizeof w, want, want_len);
        print_error("%s:%d: bytes differ\n  got  (%zu): %s\n  want (%zu): %s\n", file, line,
                    got_len, g, want_len, w);
        _fail(file, line);
    }
}

/* A sink into malloc'd memory (not through alloc.h, so allocation-failure tests only
 * hit the writer). fail_at: the call number (1-based) that fails, 0 = never. */
typedef struct memsink {
    uint8_t *data;
    size_t len, cap;
    int calls, fail_at;
} memsink;

static inline int memsink_fn(void *ctx, const void *p, size_t n, ts_err *err)
{
    memsink *m = ctx;
    m->calls++;
    if (m->fail_at && m->calls >= m->fail_at)
        return ts_err_set(err, TS_ERR_IO, "test sink refuses call %d", m->calls);
    if (m->len + n > m->cap) {
        size_t ncap = m->cap ? m->cap : 4096;
        while (ncap < m->len + n)
            ncap *= 2;
        m->data = realloc(m->data, ncap);
        if (!m->data)
            abort();
        m->cap = ncap;
    }
    memcpy(m->data + m->len, p, n);
    m->len += n;
    return 0;
}

static inline void memsink_free(memsink *m)
{
    free(m->data);
    memset(m, 0, sizeof *m);
}

#endif
