/* alloc.c: the allocation hook table and the fail-the-Nth-allocation test aid. */
#include "alloc.h"

#include <stdlib.h>
#include <string.h>

static ts_alloc_hooks hooks = {malloc, calloc, realloc, free};
static long fail_countdown; /* 0 = off */
static int failing;

ts_alloc_hooks ts_alloc_set_hooks(const ts_alloc_hooks *h)
{
    ts_alloc_hooks old = hooks;
    hooks = *h;
    return old;
}

void ts_alloc_reset_hooks(void)
{
    hooks.malloc_fn = malloc;
    hooks.calloc_fn = calloc;
    hooks.realloc_fn = realloc;
    hooks.free_fn = free;
}

void ts_alloc_fail_after(long nth)
{
    fail_countdown = nth;
    failing = 0;
}

static int should_fail(void)
{
    if (failing)
        return 1;
    if (fail_countdown > 0 && --fail_countdown == 0) {
        failing = 1;
        return 1;
    }
    return 0;
}

void *ts_malloc(size_t n)
{
    return should_fail() ? NULL : hooks.malloc_fn(n ? n : 1);
}

void *ts_calloc(size_t count, size_t n)
{
    return should_fail() ? NULL : hooks.calloc_fn(count ? count : 1, n ? n : 1);
}

void *ts_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : hooks.realloc_fn(p, n ? n : 1);
}

void ts_free(void *p)
{
    if (p)
        hooks.free_fn(p);
}

char *ts_strndup(const char *s, size_t n)
{
    char *d = ts_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *ts_strdup(const char *s)
{
    return s ? ts_strndup(s, strlen(s)) : NULL;
}
